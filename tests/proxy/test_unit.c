/* Unit tests of the proxy's event-loop-free parts: JPEG streams through the cipher and the index
 * rules, the index key's independence of chunking, the multipart splitter, HTTP heads, config. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sqlite3.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <openssl/evp.h>

#include "jpegtool.h"
#include "proxy.h"
#include "testutil.h"

static int checks;
#define T(c) do { checks++; CHECK(c); } while (0)

/* ---- an in-memory index */
struct row {
    uint8_t key[PX_DIGEST], view[PX_DIGEST];
    uint64_t len;
};
static struct row rows[64];
static size_t nrows;
static int rows_without_view; /* mem_get answers as for a row from before view digests */
/* JPEG streams may run their cipher on a thread of their own (jstream.c); g_poll: run_body takes
 * the output back with px_body_poll between pushes and before the end */
static int g_async, g_poll;

static int mem_get(void *arg, const uint8_t key[PX_DIGEST], uint64_t *len, uint8_t view[PX_DIGEST])
{
    (void)arg;
    for (size_t i = 0; i < nrows; i++)
        if (!memcmp(rows[i].key, key, PX_DIGEST)) {
            *len = rows[i].len;
            if (rows_without_view) return 2;
            memcpy(view, rows[i].view, PX_DIGEST);
            return 1;
        }
    return 0;
}

static int mem_put(void *arg, const uint8_t key[PX_DIGEST], uint64_t plen, uint64_t tlen,
                   const uint8_t view[PX_DIGEST])
{
    (void)arg;
    (void)plen;
    if (nrows == 64) return -1;
    memcpy(rows[nrows].key, key, PX_DIGEST);
    memcpy(rows[nrows].view, view, PX_DIGEST);
    rows[nrows++].len = tlen;
    return 0;
}

/* ---- output sink */
struct sink {
    uint8_t *b;
    size_t n, cap;
};
static void sink_emit(void *arg, const uint8_t *p, size_t n)
{
    struct sink *s = arg;
    if (s->n + n > s->cap) {
        s->cap = (s->n + n) * 2;
        s->b = realloc(s->b, s->cap);
    }
    memcpy(s->b + s->n, p, n);
    s->n += n;
}

static unsigned rnd_state = 12345;
static size_t rnd(size_t max)
{
    rnd_state = rnd_state * 1103515245u + 12345u;
    return max ? (rnd_state >> 8) % max : 0;
}

/* Runs a body through px_body in random pieces. */
static struct sink run_body(int dir, const isec_key *key, const char *ctype, const uint8_t *in,
                            size_t len, px_body *stats)
{
    struct sink s = {0};
    px_body b;
    px_body_cfg cfg = {dir, key, {mem_get, mem_put, NULL}, sink_emit, &s, ctype, (int64_t)len, 0, g_async, NULL, NULL, 0};
    px_body_init(&b, &cfg);
    size_t off = 0;
    while (off < len) {
        size_t n = 1 + rnd(rnd(4) == 0 ? 16 : 70000);
        if (n > len - off) n = len - off;
        T(px_body_push(&b, in + off, n) == 0);
        off += n;
        if (g_poll) T(px_body_poll(&b) == 0);
    }
    if (g_poll) { /* the cipher thread's queue runs dry; what it gave back comes out by polling */
        for (int i = 0; i < 100000 && px_body_backlog(&b); i++) { /* 10 s at most */
            T(px_body_poll(&b) == 0);
            struct timespec ts = {0, 100000};
            nanosleep(&ts, NULL);
        }
        T(px_body_backlog(&b) == 0 && px_body_poll(&b) == 0);
    }
    T(px_body_end(&b) == 0);
    if (stats) *stats = b;
    px_body_free(&b);
    return s;
}

static void test_jpeg_bodies(const isec_key *key)
{
    jt_params p = {.width = 640, .height = 480, .ncomp = 3, .quality = 90, .seed = 3};
    size_t len;
    uint8_t *jpg = jt_make(&p, &len);
    uint8_t *want = malloc(len);
    T(isec_jpeg_crypt(ISEC_JPEG_ENCRYPT, key, jpg, len, want, NULL, 0) == 0);
    nrows = 0;
    px_body st;
    /* upload: encrypted exactly as the CLI would, recorded in the index */
    struct sink up = run_body(PX_DIR_REQUEST, key, "image/jpeg", jpg, len, &st);
    T(up.n == len && !memcmp(up.b, want, len));
    T(st.crypted == 1 && nrows == 1);
    /* upload of our own ciphertext: passed as it is (never decrypted by "encrypting") */
    struct sink again = run_body(PX_DIR_REQUEST, key, "application/octet-stream", up.b, len, &st);
    T(again.n == len && !memcmp(again.b, up.b, len));
    T(st.crypted == 0 && nrows == 1);
    /* download of the ciphertext: decrypted */
    struct sink down = run_body(PX_DIR_RESPONSE, key, NULL, up.b, len, &st);
    T(down.n == len && !memcmp(down.b, jpg, len));
    T(st.crypted == 1);
    /* download of a plain JPEG: unchanged */
    struct sink plain = run_body(PX_DIR_RESPONSE, key, NULL, jpg, len, &st);
    T(plain.n == len && !memcmp(plain.b, jpg, len) && st.crypted == 0);
    /* not a JPEG: unchanged */
    static const uint8_t txt[] = "\xff\xd8 not quite a JPEG";
    struct sink t = run_body(PX_DIR_REQUEST, key, "image/jpeg", txt, sizeof txt, &st);
    T(t.n == sizeof txt && !memcmp(t.b, txt, sizeof txt) && st.jpegs == 0);
    /* a damaged JPEG the cipher refuses: same size, what it refused passes as it came */
    uint8_t *bad = malloc(len);
    memcpy(bad, jpg, len);
    size_t cut = len / 2;
    struct sink tr = run_body(PX_DIR_REQUEST, key, NULL, bad, cut, &st);
    T(tr.n == cut && st.refused == 1);
    /* multipart with two JPEGs and a text field */
    const char *bnd = "----imgsecBoundary7MA4YWxkTrZu0gW";
    size_t cap = 2 * len + 4096, n = 0;
    uint8_t *mp = malloc(cap), *mpw = malloc(cap);
    n += (size_t)sprintf((char *)mp + n, "--%s\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nhello\r\n"
                         "--%s\r\nContent-Disposition: form-data; name=\"f\"; filename=\"x.bin\"\r\n"
                         "Content-Type: application/octet-stream\r\n\r\n", bnd, bnd);
    size_t j1 = n;
    memcpy(mp + n, jpg, len);
    n += len;
    n += (size_t)sprintf((char *)mp + n, "\r\n--%s\r\n\r\n", bnd);
    size_t j2 = n;
    memcpy(mp + n, jpg, len);
    n += len;
    n += (size_t)sprintf((char *)mp + n, "\r\n--%s--\r\nepilogue", bnd);
    memcpy(mpw, mp, n);
    memcpy(mpw + j1, want, len);
    memcpy(mpw + j2, want, len);
    char ct[200];
    snprintf(ct, sizeof ct, "multipart/form-data; boundary=%s", bnd);
    nrows = 0;
    for (int round = 0; round < 20; round++) {
        struct sink m = run_body(PX_DIR_REQUEST, key, ct, mp, n, &st);
        T(m.n == n && !memcmp(m.b, mpw, n));
        T(st.jpegs == 2);
        free(m.b);
        nrows = 0;
    }
    free(mp);
    free(mpw);
    free(bad);
    free(tr.b);
    free(t.b);
    free(plain.b);
    free(down.b);
    free(again.b);
    free(up.b);
    free(want);
    free(jpg);
}

/* The cipher on its own thread gives exactly what it gives on the loop: the same bytes, the same
 * verdicts, for a good photo, one damaged in its middle (refused while pieces are queued: the raw
 * rest goes out), one cut short, ciphertext downloads, multipart; taken back at push and end, or
 * by polling. */
static void test_async_same(const isec_key *key)
{
    jt_params p = {.width = 1600, .height = 1200, .ncomp = 3, .quality = 95, .seed = 11};
    size_t len;
    uint8_t *jpg = jt_make(&p, &len);
    uint8_t *mid = malloc(len);
    memcpy(mid, jpg, len);
    for (size_t i = len / 3; i < len / 3 + 64; i += 2) { /* stuffed 0xFF bytes: no code matches */
        mid[i] = 0xFF;
        mid[i + 1] = 0x00;
    }
    uint8_t *ct = malloc(len);
    T(isec_jpeg_crypt(ISEC_JPEG_ENCRYPT, key, jpg, len, ct, NULL, 0) == 0);
    struct {
        int dir;
        const uint8_t *b;
        size_t n;
        int refused;
    } cases[] = {{PX_DIR_REQUEST, jpg, len, 0},
                 {PX_DIR_REQUEST, mid, len, 1},
                 {PX_DIR_REQUEST, jpg, len / 2, 1},
                 {PX_DIR_RESPONSE, ct, len, 0}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        px_body st0, st1;
        struct sink a = {0};
        unsigned r0 = rnd_state;
        /* run 0: the cipher on the loop, the reference; 1: a thread, output taken back at push
         * and end; 2: a thread, output taken back by polling */
        for (int run = 0; run < 3; run++) {
            nrows = 0;
            g_async = g_poll = 0;
            if (cases[k].dir == PX_DIR_RESPONSE) /* an upload puts the ciphertext in the index */
                free(run_body(PX_DIR_REQUEST, key, NULL, jpg, len, NULL).b);
            g_async = run > 0;
            g_poll = run == 2;
            rnd_state = r0; /* the same pieces each run */
            unsigned long th = px_jstream_threads_started();
            struct sink b = run_body(cases[k].dir, key, NULL, cases[k].b, cases[k].n, run ? &st1 : &st0);
            if (!run) {
                a = b;
                continue;
            }
            T(px_jstream_threads_started() == th + 1); /* it did run on a thread of its own */
            T(b.n == a.n && a.n == cases[k].n && !memcmp(a.b, b.b, a.n));
            T(st0.crypted == st1.crypted && st0.refused == st1.refused && st0.jpegs == st1.jpegs);
            T(st1.refused == (unsigned)cases[k].refused);
            T(cases[k].refused || st1.crypted == 1);
            free(b.b);
        }
        g_async = g_poll = 0;
        free(a.b);
    }
    free(ct);
    free(mid);
    free(jpg);
}

/* px_body_passing: the relay moves the rest of a body itself only once the body says nothing
 * more will change (conn.c body_move); a JPEG to encrypt, or one not yet decided, never passes. */
static void test_passing(const isec_key *key)
{
    jt_params p = {.width = 1600, .height = 1200, .ncomp = 3, .quality = 95, .seed = 5};
    size_t len;
    uint8_t *jpg = jt_make(&p, &len);
    T(len > PX_PREFIX_AFTER_SOS + 4096); /* its index key is known before its end */
    struct sink s = {0};
    px_body b;
    nrows = 0;
    /* not a JPEG: passes once the 16 bytes the log's px_media_kind looks at are in (a PNG
     * here: the log names it); skipped bytes are not emitted by the body */
    px_body_cfg rc = {PX_DIR_REQUEST, key, {mem_get, mem_put, NULL}, sink_emit, &s, NULL, 1000, 0, g_async, NULL, NULL, 0};
    px_body_init(&b, &rc);
    T(!px_body_passing(&b)); /* nothing seen yet */
    T(px_body_push(&b, (const uint8_t *)"\x89PNG", 4) == 0);
    T(!px_body_passing(&b));
    T(px_body_push(&b, (const uint8_t *)"\r\n\x1a\n\0\0\0\rIHDR", 12) == 0);
    T(px_body_passing(&b));
    px_body_skip(&b, 983);
    T(px_body_push(&b, (const uint8_t *)"y", 1) == 0 && px_body_end(&b) == 0);
    T(s.n == 17 && b.jpegs == 0 && b.crypted == 0);
    T(b.plain_media == 1 && !strcmp(b.plain_kind, "PNG"));
    px_body_free(&b);
    /* on-other-media refuse: the push that completes the 16 first bytes fails, and nothing past
     * them has gone out (the rest of the picture never reaches the server) */
    s.n = 0;
    rc.refuse_other = 1;
    px_body_init(&b, &rc);
    static const uint8_t heic[40] = {0, 0, 0, 0x18, 'f', 't', 'y', 'p', 'h', 'e', 'i', 'c'};
    T(px_body_push(&b, heic, 10) == 0 && !px_body_passing(&b));
    T(px_body_push(&b, heic + 10, 30) < 0 && s.n <= 16);
    T(b.refusal == PX_REFUSED_OTHER && strstr(b.detail, "a HEIC, which the proxy cannot encrypt"));
    px_body_free(&b);
    /* ... and a JPEG or a body that is not a picture is not stopped */
    s.n = 0;
    px_body_init(&b, &rc);
    T(px_body_push(&b, (const uint8_t *)"just some text, not a picture", 29) == 0 && px_body_passing(&b));
    px_body_skip(&b, 970);
    T(px_body_push(&b, (const uint8_t *)"y", 1) == 0 && px_body_end(&b) == 0 && b.refusal == 0);
    px_body_free(&b);
    rc.refuse_other = 0;
    /* a JPEG upload: never passes (it is encrypted to its end) */
    s.n = 0;
    rc.content_length = (int64_t)len;
    px_body_init(&b, &rc);
    T(px_body_push(&b, jpg, 3) == 0 && !px_body_passing(&b));
    T(px_body_push(&b, jpg + 3, len / 2) == 0 && !px_body_passing(&b));
    T(px_body_push(&b, jpg + 3 + len / 2, len - 3 - len / 2) == 0 && !px_body_passing(&b));
    T(px_body_end(&b) == 0 && b.crypted == 1 && s.n == len && nrows == 1);
    px_body_free(&b);
    /* a plain JPEG download (not in the index): passes once its index key is known */
    s.n = 0;
    px_body_cfg dc = {PX_DIR_RESPONSE, key, {mem_get, NULL, NULL}, sink_emit, &s, NULL,
                      (int64_t)len, 0, g_async, NULL, NULL, 0};
    px_body_init(&b, &dc);
    T(px_body_push(&b, jpg, 100) == 0 && !px_body_passing(&b));
    T(px_body_push(&b, jpg + 100, len - 101) == 0 && px_body_passing(&b));
    T(px_body_push(&b, jpg + len - 1, 1) == 0 && px_body_end(&b) == 0);
    T(s.n == len && !memcmp(s.b, jpg, len) && b.crypted == 0);
    px_body_free(&b);
    /* multipart: never (each part is looked at) */
    px_body_cfg mc = {PX_DIR_REQUEST, key, {mem_get, mem_put, NULL}, sink_emit, &s,
                      "multipart/form-data; boundary=zz", -1, 0, g_async, NULL, NULL, 0};
    px_body_init(&b, &mc);
    T(px_body_push(&b, (const uint8_t *)"--zz\r\n\r\nabc", 11) == 0 && !px_body_passing(&b));
    px_body_free(&b);
    free(s.b);
    free(jpg);
}

/* The multipart splitter hands every byte back once, in order, whatever the chunking. */
struct mp_out {
    struct sink all, data;
    int parts, open;
};
static int mp_cb(void *arg, int kind, const uint8_t *p, size_t n)
{
    struct mp_out *o = arg;
    if (kind == PX_MP_RAW || kind == PX_MP_DATA) sink_emit(&o->all, p, n);
    if (kind == PX_MP_DATA) {
        T(o->open);
        sink_emit(&o->data, p, n);
    }
    if (kind == PX_MP_PART_BEGIN) {
        T(!o->open);
        o->open = 1;
        o->parts++;
    }
    if (kind == PX_MP_PART_END) {
        T(o->open);
        o->open = 0;
        sink_emit(&o->data, (const uint8_t *)"|", 1);
    }
    return 0;
}

static void test_multipart(void)
{
    static const char *cases[][3] = {
        /* body, boundary, expected part data joined by | */
        {"--b\r\n\r\nX\r\n--b--\r\n", "b", "X|"},
        {"pre\r\n--b\r\nH: v\r\n\r\n\r\n-\r\n--\r\n--c\r\n--b \r\n\r\nY\r\r\n--b--", "b", "\r\n-\r\n--\r\n--c|Y\r|"},
        {"--bb\r\n\r\n\r\n--b\r\n--b-b\r\n--bb--", "bb", "\r\n--b\r\n--b-b|"},
        {"--ab\r\n\r\n\r\r\n\r\n-\r\n--a\r\n--ab", "ab", "\r\r\n\r\n-\r\n--a|"},
        {"no delimiter at all\r\n--", "b", ""},
        {"--b\r\n\r\ncut short\r\n--", "b", "cut short\r\n--|"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const char *body = cases[k][0];
        size_t len = strlen(body);
        for (int round = 0; round < 200; round++) {
            struct mp_out o = {0};
            px_multipart m;
            T(px_multipart_init(&m, cases[k][1], strlen(cases[k][1]), mp_cb, &o) == 0);
            size_t off = 0;
            while (off < len) {
                size_t n = round == 0 ? len : 1 + rnd(4);
                if (n > len - off) n = len - off;
                T(px_multipart_push(&m, (const uint8_t *)body + off, n) == 0);
                off += n;
            }
            T(px_multipart_end(&m) == 0);
            px_multipart_free(&m);
            T(o.all.n == len && (len == 0 || !memcmp(o.all.b, body, len)));
            size_t wl = strlen(cases[k][2]);
            if (!(o.data.n == wl && (wl == 0 || !memcmp(o.data.b, cases[k][2], wl)))) {
                fprintf(stderr, "case %zu round %d: data '%.*s' want '%s'\n", k, round,
                        (int)o.data.n, o.data.b ? (char *)o.data.b : "", cases[k][2]);
                T(0);
                round = 1000;
            }
            free(o.all.b);
            free(o.data.b);
        }
    }
    char b[80];
    T(px_multipart_boundary("multipart/form-data; boundary=\"a b\"", b, sizeof b) == 3 && !strcmp(b, "a b"));
    T(px_multipart_boundary("Multipart/Related;charset=x; boundary=XyZ;", b, sizeof b) == 3 && !strcmp(b, "XyZ"));
    T(px_multipart_boundary("image/jpeg", b, sizeof b) < 0);
    T(px_multipart_boundary("multipart/form-data", b, sizeof b) < 0);
}

static void test_prefix(void)
{
    jt_params p = {.width = 320, .height = 240, .ncomp = 3, .quality = 80, .seed = 1};
    size_t len;
    uint8_t *jpg = jt_make(&p, &len);
    px_prefix a, b;
    px_prefix_init(&a);
    px_prefix_feed(&a, jpg, len);
    px_prefix_end(&a);
    for (int round = 0; round < 20; round++) {
        px_prefix_init(&b);
        size_t off = 0;
        while (off < len) {
            size_t n = 1 + rnd(round < 10 ? 7 : 5000);
            if (n > len - off) n = len - off;
            off += n;
            px_prefix_feed(&b, jpg + off - n, n);
        }
        px_prefix_end(&b);
        T(!memcmp(a.key, b.key, PX_DIGEST) && a.seen == b.seen);
        px_prefix_free(&b);
    }
    T(a.seen == len); /* a small JPEG is keyed whole */
    px_prefix_free(&a);
    free(jpg);
}

/* An address as accept() or getaddrinfo() gives it: 0, or -1 if addr is not one. */
static int sockaddr_of(const char *addr, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, addr, &a4->sin_addr) == 1) a4->sin_family = AF_INET;
    else if (inet_pton(AF_INET6, addr, &a6->sin6_addr) == 1) a6->sin6_family = AF_INET6;
    else return -1;
    return 0;
}

static int allowed(const px_config *c, const char *addr)
{
    struct sockaddr_storage ss;
    if (sockaddr_of(addr, &ss) < 0) return -1;
    return px_config_client_allowed(c, (struct sockaddr *)&ss);
}

static int is_self(const char *addr)
{
    struct sockaddr_storage ss;
    if (sockaddr_of(addr, &ss) < 0) return -1;
    struct addrinfo ai = {.ai_addr = (struct sockaddr *)&ss, .ai_addrlen = sizeof ss};
    return px_addrs_this_machine(&ai);
}

/* upstream-self: which looked-up addresses are this machine */
static void test_self_addr(void)
{
    const char *self[] = {"127.0.0.1", "127.9.8.7", "::1", "::ffff:127.0.0.1", "0.0.0.0",
                          "0.1.2.3", "::", "::ffff:0.0.0.0", NULL};
    for (int i = 0; self[i]; i++) T(is_self(self[i]) == 1);
    /* (documentation ranges: no machine running the tests should have them) */
    const char *other[] = {"8.8.8.8", "198.51.100.77", "::ffff:8.8.8.8", "2001:db8::77",
                           "::2", "128.0.0.1", "1.0.0.127", NULL};
    for (int i = 0; other[i]; i++) T(is_self(other[i]) == 0);
    /* every address of this machine's interfaces, IPv4 ones also as IPv4-mapped IPv6 */
    struct ifaddrs *ifs;
    T(getifaddrs(&ifs) == 0);
    int n = 0;
    for (struct ifaddrs *i = ifs; i; i = i->ifa_next) {
        char a[INET6_ADDRSTRLEN + 8];
        if (!i->ifa_addr) continue;
        if (i->ifa_addr->sa_family == AF_INET) {
            inet_ntop(AF_INET, &((struct sockaddr_in *)(void *)i->ifa_addr)->sin_addr, a, sizeof a);
            T(is_self(a) == 1);
            char m[sizeof a + 8];
            snprintf(m, sizeof m, "::ffff:%s", a);
            T(is_self(m) == 1);
            n++;
        } else if (i->ifa_addr->sa_family == AF_INET6) {
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)(void *)i->ifa_addr)->sin6_addr, a, sizeof a);
            T(is_self(a) == 1);
            n++;
        }
    }
    freeifaddrs(ifs);
    T(n > 0);
    /* not IP: refused (fails closed) */
    struct sockaddr_storage un = {.ss_family = AF_UNIX};
    struct addrinfo uai = {.ai_addr = (struct sockaddr *)&un};
    T(px_addrs_this_machine(&uai) == 1);
    /* a lookup's list: one address of this machine among others is enough */
    struct sockaddr_storage s1, s2, s3;
    T(sockaddr_of("8.8.8.8", &s1) == 0 && sockaddr_of("2001:db8::77", &s2) == 0 &&
      sockaddr_of("127.0.0.1", &s3) == 0);
    struct addrinfo l3 = {.ai_addr = (struct sockaddr *)&s3};
    struct addrinfo l2 = {.ai_addr = (struct sockaddr *)&s2};
    struct addrinfo l1 = {.ai_addr = (struct sockaddr *)&s1, .ai_next = &l2};
    T(px_addrs_this_machine(&l1) == 0);
    l2.ai_next = &l3;
    T(px_addrs_this_machine(&l1) == 1);
    /* after connecting: the peer is loopback, or the socket's own address */
    struct sockaddr_storage p, l;
    T(sockaddr_of("198.51.100.7", &p) == 0 && sockaddr_of("198.51.100.8", &l) == 0);
    T(px_addr_peer_is_self((struct sockaddr *)&p, (struct sockaddr *)&l) == 0);
    T(px_addr_peer_is_self((struct sockaddr *)&p, (struct sockaddr *)&p) == 1);
    T(px_addr_peer_is_self((struct sockaddr *)&s3, (struct sockaddr *)&l) == 1);
    T(sockaddr_of("::ffff:127.0.0.9", &p) == 0 && sockaddr_of("2001:db8::1", &l) == 0);
    T(px_addr_peer_is_self((struct sockaddr *)&p, (struct sockaddr *)&l) == 1);
    T(sockaddr_of("2001:db8::2", &p) == 0);
    T(px_addr_peer_is_self((struct sockaddr *)&p, (struct sockaddr *)&l) == 0);
    T(px_addr_peer_is_self((struct sockaddr *)&s1, (struct sockaddr *)&l) == 1); /* families differ */
}

/* allow: who may use the proxy (default: loopback and private networks) */
static void test_allow(void)
{
    px_config c;
    char err[200];
    px_net n;
    px_config_defaults(&c);
    T(allowed(&c, "127.0.0.1") == 1 && allowed(&c, "127.255.0.9") == 1 && allowed(&c, "::1") == 1);
    T(allowed(&c, "192.168.1.20") == 1 && allowed(&c, "10.9.8.7") == 1 && allowed(&c, "172.16.0.1") == 1);
    T(allowed(&c, "172.31.255.255") == 1 && allowed(&c, "172.32.0.1") == 0 && allowed(&c, "172.15.255.255") == 0);
    T(allowed(&c, "100.64.0.1") == 1 && allowed(&c, "100.128.0.1") == 0);
    T(allowed(&c, "fe80::1") == 1 && allowed(&c, "fd12:3456::1") == 1 && allowed(&c, "fe00::1") == 0);
    T(allowed(&c, "::ffff:192.168.1.20") == 1); /* a dual-stack listener's IPv4 client */
    T(allowed(&c, "::ffff:8.8.8.8") == 0);
    T(allowed(&c, "8.8.8.8") == 0 && allowed(&c, "2001:db8::1") == 0 && allowed(&c, "0.0.0.0") == 0);
    /* an allow list replaces the default */
    T(px_config_set(&c, "allow", "203.0.113.0/24", err, sizeof err) == 0);
    T(px_config_set(&c, "allow", "2001:db8::/32", err, sizeof err) == 0);
    T(allowed(&c, "203.0.113.77") == 1 && allowed(&c, "203.0.114.1") == 0);
    T(allowed(&c, "2001:db8:ffff::1") == 1 && allowed(&c, "2001:db9::1") == 0);
    T(allowed(&c, "127.0.0.1") == 0 && allowed(&c, "192.168.1.20") == 0);
    T(px_config_set(&c, "allow", "198.51.100.7", err, sizeof err) == 0); /* one address */
    T(allowed(&c, "198.51.100.7") == 1 && allowed(&c, "198.51.100.8") == 0);
    T(allowed(&c, "::ffff:198.51.100.7") == 1);
    T(px_config_set(&c, "allow", "all", err, sizeof err) == 0);
    T(allowed(&c, "8.8.8.8") == 1 && allowed(&c, "2001:4860::8888") == 1);
    T(px_config_set(&c, "no-allow", "", err, sizeof err) == 0 && allowed(&c, "8.8.8.8") == 0);
    /* malformed: refused with the setting's name */
    const char *bad[] = {"", "10.0.0.0/33", "::/129", "10.1.2.3/8", "10.0.0.0/", "10.0.0.0/x",
                         "10.0.0/8", "host.example", "10.0.0.0/0008", "1.2.3.4/-1", NULL};
    for (int i = 0; bad[i]; i++) T(px_net_parse(&n, bad[i]) < 0);
    T(px_config_set(&c, "allow", "10.1.2.3/8", err, sizeof err) < 0 && strstr(err, "allow"));
    T(px_net_parse(&n, "0.0.0.0/0") == 0 && n.prefix == 96 && px_net_parse(&n, "::/0") == 0 && n.prefix == 0);
    T(px_net_parse(&n, "192.168.0.0/16") == 0 && n.prefix == 112);
    for (int i = 0; px_default_allow[i]; i++) T(px_net_parse(&n, px_default_allow[i]) == 0);
    /* the list has a cap */
    px_config_defaults(&c);
    int rc = 0;
    for (int i = 0; i <= PX_MAX_ALLOW && rc == 0; i++) {
        char a[32];
        snprintf(a, sizeof a, "10.0.%d.0/24", i);
        rc = px_config_set(&c, "allow", a, err, sizeof err);
    }
    T(rc < 0 && c.nallow == PX_MAX_ALLOW);
    /* upstream-self: deny unless said otherwise */
    T(c.upstream_self == 0);
    T(px_config_set(&c, "upstream-self", "allow", err, sizeof err) == 0 && c.upstream_self == 1);
    T(px_config_set(&c, "upstream-self", "deny", err, sizeof err) == 0 && c.upstream_self == 0);
    T(px_config_set(&c, "upstream-self", "yes", err, sizeof err) < 0 && c.upstream_self == 0);
    px_config_free(&c);
}

/* dns-server: the forms evdns_base_nameserver_ip_add takes, four at most; flags replace the
 * file's list; a reload keeps the list the workers' resolvers were made with */
static void test_dns_server(void)
{
    px_config c, d;
    char err[200];
    px_config_defaults(&c);
    static const char *good[] = {"192.0.2.53", "192.0.2.53:5353", "[2001:db8::53]:53", "::1"};
    static const char *bad[] = {"", "192.0.2.256", "192.0.2.53:0", "192.0.2.53:65536",
                                "192.0.2.53:", "dns.example", "[2001:db8::53", "[::1]x",
                                "[192.0.2.53]:53", "2001:db8::53:53x", "1.2.3.4:53:53"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = 0;
        T(px_config_set(&c, "dns-server", bad[i], err, sizeof err) < 0 && strstr(err, "dns-server"));
    }
    T(c.ndns == 0);
    for (size_t i = 0; i < 4; i++) T(px_config_set(&c, "dns-server", good[i], err, sizeof err) == 0);
    T(c.ndns == 4 && !strcmp(c.dns[2], "[2001:db8::53]:53"));
    T(px_config_set(&c, "dns-server", "192.0.2.54", err, sizeof err) < 0 && c.ndns == 4);
    T(px_config_copy(&d, &c) == 0 && d.ndns == 4 && d.dns[3] != c.dns[3] && !strcmp(d.dns[3], "::1"));
    px_config_free(&d);
    px_config_defaults(&d);
    T(px_config_set(&d, "dns-server", "198.51.100.1", err, sizeof err) == 0);
    T(px_config_keep_static(&d, &c) == 0 && d.ndns == 4 && !strcmp(d.dns[0], "192.0.2.53"));
    px_config_free(&d);
    px_config_free(&c);
    /* a flag replaces the file's list instead of adding to it */
    char path[] = "/tmp/imgsec-unit-dns-XXXXXX";
    int fd = mkstemp(path);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    T(f && fputs("dns-server 192.0.2.1\ndns-server 192.0.2.2\n", f) >= 0 && fclose(f) == 0);
    const char *flags[] = {"dns-server", "[::1]:5353", NULL};
    T(px_build_config(&c, path, flags, err, sizeof err) == 0 && c.ndns == 1 &&
      !strcmp(c.dns[0], "[::1]:5353"));
    px_config_free(&c);
    T(px_build_config(&c, path, NULL, err, sizeof err) == 0 && c.ndns == 2);
    px_config_free(&c);
    unlink(path);
}

/* px_media_kind: the formats the log names when they go up unencrypted */
static void test_media_kind(void)
{
    static const struct {
        const char *bytes;
        size_t n;
        const char *kind;
    } cases[] = {
        {"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 16, "PNG"},
        {"GIF89a\x01\0\x01\0", 10, "GIF"},
        {"RIFF\x10\0\0\0WEBPVP8 ", 16, "WebP"},
        {"\0\0\0\x18" "ftypheic\0\0\0\0", 16, "HEIC"},
        {"\0\0\0\x18" "ftypmif1\0\0\0\0", 16, "HEIF"},
        {"\0\0\0\x1c" "ftypavif\0\0\0\0", 16, "AVIF"},
        {"\0\0\0\x14" "ftypqt  \0\0\0\0", 16, "MOV video"},
        {"\0\0\0\x20" "ftypisom\0\0\x02\0", 16, "MP4 video"},
        {"\0\0\0\x0cJXL \r\n\x87\n", 12, "JPEG XL"},
        {"\xff\x0a" "\xfa\x7f", 4, "JPEG XL"},
        {"II*\0\x08\0\0\0", 8, "TIFF or raw photo"},
        {"MM\0*\0\0\0\x08", 8, "TIFF or raw photo"},
        {"\xff\xd8\xff\xe0\0\x10JFIF", 10, NULL}, /* a JPEG is not "other" */
        {"\x89PNG\r\n\x1a", 7, NULL},              /* too short to tell */
        {"\0\0\0\x18" "ftyp", 8, NULL},
        {"hello, world", 12, NULL},
        {"", 0, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *k = px_media_kind((const uint8_t *)cases[i].bytes, cases[i].n);
        T(cases[i].kind ? k && !strcmp(k, cases[i].kind) : k == NULL);
    }
}

/* setup.c: the proxy's own pages; what the config says goes into JavaScript and HTML escaped */
static void test_setup_pages(void)
{
    px_config c;
    char err[200];
    px_page pg;
    px_config_defaults(&c);
    T(px_setup_page(&c, NULL, "/proxy.pac", "192.0.2.1:8080", &pg) == 0 && pg.status == 200);
    T(strstr(pg.body, "shExpMatch(host, \"*.icloud-content.com\")") &&
      strstr(pg.body, "return \"PROXY 192.0.2.1:8080\";") && !strstr(pg.body, "PROXY 192.0.2.1:8080; DIRECT"));
    free(pg.body);
    T(px_setup_page(&c, NULL, "/ca.cer", "x", &pg) < 0); /* no CA: an error, not an empty file */
    T(px_setup_page(&c, NULL, "/key", "x", &pg) == 0 && pg.status == 404);
    free(pg.body);
    T(px_setup_page(&c, NULL, "/proxy.pac?x=1", "x", &pg) == 0 && pg.status == 200);
    free(pg.body);
    T(px_config_set(&c, "target-host", "a\"b<i>[xy].test", err, sizeof err) == 0);
    T(px_setup_page(&c, NULL, "/proxy.pac", "[2001:db8::1]:8080", &pg) == 0);
    T(strstr(pg.body, "shExpMatch(host, \"a\\x22b\\x3ci\\x3e\\x5bxy\\x5d.test\")") &&
      strstr(pg.body, "\"PROXY \\x5b2001:db8::1\\x5d:8080\""));
    free(pg.body);
    T(px_setup_page(&c, NULL, "/", "[2001:db8::1]:8080", &pg) == 0 && pg.status == 200);
    T(strstr(pg.body, "<code>a&quot;b&lt;i&gt;[xy].test</code>") && !strstr(pg.body, "<i>"));
    free(pg.body);
    T(px_config_set(&c, "no-target-hosts", "", err, sizeof err) == 0);
    T(px_setup_page(&c, NULL, "/proxy.pac", "x", &pg) == 0 && !strstr(pg.body, "PROXY") &&
      strstr(pg.body, "return \"DIRECT\""));
    free(pg.body);
    px_config_free(&c);
}

/* auth.c: users made by px_auth_set_user, Basic credentials checked against them */
static void test_auth(void)
{
    char dir[] = "/tmp/imgsec-unit-auth-XXXXXX", path[128], pw[24], pw2[24], err[300], user[80];
    T(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/users", dir);
    T(px_auth_set_user(path, "alice", 0, pw, err, sizeof err) == 0 && strlen(pw) == 23);
    T(px_auth_set_user(path, "bob@home", 0, pw2, err, sizeof err) == 0 && strcmp(pw, pw2) != 0);
    T(px_auth_set_user(path, "bad name", 0, pw2, err, sizeof err) < 0);
    T(px_auth_set_user(path, "carol", 1, pw2, err, sizeof err) < 0 && strstr(err, "no user carol"));
    px_auth *a = NULL;
    T(px_auth_load(&a, path, err, sizeof err) == 0 && px_auth_count(a) == 2);
    /* "Basic base64(alice:PW)", built here */
    char cred[64], b64[128], hdr[160];
    snprintf(cred, sizeof cred, "alice:%s", pw);
    EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)cred, (int)strlen(cred));
    snprintf(hdr, sizeof hdr, "Basic %s", b64);
    T(px_auth_check(a, hdr, user, sizeof user) == 1 && !strcmp(user, "alice"));
    snprintf(hdr, sizeof hdr, "  basic   %s", b64); /* the scheme in any case, spaces */
    T(px_auth_check(a, hdr, user, sizeof user) == 1);
    T(px_auth_check(a, b64, user, sizeof user) == 0);       /* no scheme */
    T(px_auth_check(NULL, hdr, user, sizeof user) == 0);    /* no users: nobody */
    T(px_auth_check(a, NULL, user, sizeof user) == 0);
    static const char *const bad[] = {"Basic ", "Basic =", "Basic YWxpY2U=", /* no colon */
                                      "Basic YWxpY2U6", "Bearer abc", "Basic !!!!"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) T(px_auth_check(a, bad[i], user, sizeof user) == 0);
    cred[strlen(cred) - 1] ^= 1; /* one character of the password */
    EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)cred, (int)strlen(cred));
    snprintf(hdr, sizeof hdr, "Basic %s", b64);
    T(px_auth_check(a, hdr, user, sizeof user) == 0);
    char longv[400] = "Basic ";
    memset(longv + 6, 'A', 300);
    longv[306] = 0;
    T(px_auth_check(a, longv, user, sizeof user) == 0); /* past the limit: not decoded */
    px_auth_free(a);
    /* a new password replaces the old one; remove */
    T(px_auth_set_user(path, "alice", 0, pw2, err, sizeof err) == 0);
    T(px_auth_set_user(path, "bob@home", 1, pw2, err, sizeof err) == 0);
    T(px_auth_load(&a, path, err, sizeof err) == 0 && px_auth_count(a) == 1);
    snprintf(cred, sizeof cred, "alice:%s", pw);
    EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)cred, (int)strlen(cred));
    snprintf(hdr, sizeof hdr, "Basic %s", b64);
    T(px_auth_check(a, hdr, user, sizeof user) == 0);
    px_auth_free(a);
    /* files refused, each with where and why */
    FILE *f = fopen(path, "w");
    T(f && fputs("alice:sha256:00:11\n", f) >= 0 && fclose(f) == 0);
    T(px_auth_load(&a, path, err, sizeof err) < 0 && strstr(err, "users:1: expected USER:sha256"));
    chmod(path, 0644);
    T(px_auth_load(&a, path, err, sizeof err) < 0 && strstr(err, "readable by others"));
    unlink(path);
    T(px_auth_load(&a, path, err, sizeof err) < 0 && strstr(err, "No such file"));
    rmdir(dir);
}

static void test_config_and_heads(void)
{
    px_config c;
    char err[200];
    px_config_defaults(&c);
    T(px_config_is_target(&c, "photos.googleapis.com"));
    T(px_config_is_target(&c, "LH3.googleusercontent.com."));
    T(px_config_is_target(&c, "cvws.icloud-content.com"));
    T(!px_config_is_target(&c, "example.com"));
    T(px_config_set(&c, "target-host", "*.Test", err, sizeof err) == 0);
    T(px_config_is_target(&c, "photos.test") && !px_config_is_target(&c, "photos.googleapis.com"));
    T(px_config_set(&c, "upstream-connect-to", "photos.test::127.0.0.1:8443", err, sizeof err) == 0);
    const char *h = "photos.test";
    unsigned port = 443;
    px_config_route(&c, &h, &port);
    T(!strcmp(h, "127.0.0.1") && port == 8443);
    T(px_config_set(&c, "client-timeout", "x", err, sizeof err) < 0);
    T(px_config_set(&c, "bogus", "1", err, sizeof err) < 0);
    px_config_free(&c);
    test_allow();
    test_dns_server();
    test_media_kind();
    test_setup_pages();
    test_auth();

    px_head hd;
    px_head_init(&hd, 1024);
    T(px_head_field(&hd, "Conn", 4) == 0 && px_head_field(&hd, "ection", 6) == 0);
    T(px_head_value(&hd, "keep-alive, ", 12) == 0 && px_head_value(&hd, "Close", 5) == 0);
    T(px_head_field(&hd, "Host", 4) == 0 && px_head_value(&hd, "x", 1) == 0);
    T(px_head_has_token(&hd, "connection", "close") && !px_head_has_token(&hd, "connection", "clos"));
    T(!strcmp(px_head_get(&hd, "HOST"), "x"));
    char big[2000];
    memset(big, 'a', sizeof big);
    T(px_head_value(&hd, big, sizeof big) < 0 && hd.overflow);
    px_head_free(&hd);

    char host[64];
    T(px_split_hostport("Example.COM:8443", 16, host, sizeof host, &port, 443) == 0 &&
      !strcmp(host, "example.com") && port == 8443);
    T(px_split_hostport("[::1]:443", 9, host, sizeof host, &port, 1) == 0 && !strcmp(host, "::1"));
    T(px_split_hostport("a:0", 3, host, sizeof host, &port, 1) < 0);
    T(px_split_hostport("a b:1", 5, host, sizeof host, &port, 1) < 0);
}

/* ---- resumable uploads: one JPEG in pieces through one session is one JPEG encrypted */
struct up_sink {
    struct sink s;
    uint64_t piece_bytes;
};
static void up_emit(void *arg, const uint8_t *p, size_t n)
{
    struct up_sink *u = arg;
    sink_emit(&u->s, p, n);
    u->piece_bytes += n;
}

static void run_resumable(const isec_key *key, const uint8_t *in, size_t len, const uint8_t *want,
                          int pieces, uint64_t gran)
{
    px_rstable t;
    px_rs_table_init(&t, 4, 60);
    px_rsess *s = NULL;
    T(px_rs_new(&t, "id:x", 1000, &s) == 0);
    s->gran = gran;
    px_jstream_cfg jc = {PX_DIR_REQUEST, key, {mem_get, mem_put, NULL}, NULL, NULL, 0, -1, g_async, NULL, NULL, 0};
    struct up_sink u = {0};
    size_t off = 0;
    for (int k = 0; k < pieces; k++) {
        size_t n = k == pieces - 1 ? len - off : rnd(len / (size_t)pieces * 2 + 1);
        if (n > len - off) n = len - off;
        int fin = k == pieces - 1;
        px_rs_plan plan;
        T(px_rs_piece_begin(s, &jc, off + 1, n, fin, &plan) < 0 || (s->busy = 0, 0)); /* wrong offset */
        T(px_rs_piece_begin(s, &jc, off, n, fin, &plan) == 0);
        T(plan.up_offset == u.s.n);
        T(fin || plan.up_len % gran == 0);
        T(!plan.local || plan.up_len == 0);
        T(px_rs_piece_begin(s, &jc, off, n, fin, &plan) < 0); /* busy */
        u.piece_bytes = 0;
        px_rs_piece_attach(s, plan.local ? NULL : up_emit, &u);
        size_t o = 0;
        while (o < n) {
            size_t m = 1 + rnd(rnd(3) ? 70000 : 100);
            if (m > n - o) m = n - o;
            T(px_rs_piece_push(s, in + off + o, m) == 0);
            o += m;
            /* the piece's last byte waits for the end of the client's piece */
            T(plan.up_len == 0 || u.piece_bytes < plan.up_len);
        }
        T(px_rs_piece_end(s) == 0);
        T(u.piece_bytes == plan.up_len);
        px_rs_piece_done(s, 1, 1000);
        off += n;
        T(s->in_total == off && s->sent == u.s.n && px_rs_held(s) == off - u.s.n);
    }
    T(u.s.n == len && !memcmp(u.s.b, want, len));
    free(u.s.b);
    px_rs_table_free(&t);
}

static void test_resumable(const isec_key *key)
{
    jt_params p = {.width = 1600, .height = 1200, .ncomp = 3, .quality = 92, .seed = 8};
    size_t len;
    uint8_t *jpg = jt_make(&p, &len);
    uint8_t *want = malloc(len);
    T(isec_jpeg_crypt(ISEC_JPEG_ENCRYPT, key, jpg, len, want, NULL, 0) == 0);
    for (int round = 0; round < 12; round++) {
        nrows = 0;
        run_resumable(key, jpg, len, want, 1 + round % 6, round % 3 == 0 ? 1 : (round % 3 == 1 ? 4096 : 262144));
    }
    uint8_t *rnd_data = malloc(len);
    for (size_t i = 0; i < len; i++) rnd_data[i] = (uint8_t)rnd(256);
    run_resumable(key, rnd_data, len, rnd_data, 4, 65536); /* not a JPEG: byte for byte */
    free(rnd_data);

    /* commands, offsets, session ids */
    T(px_rs_command("upload, finalize") == (PX_RS_UPLOAD | PX_RS_FINALIZE));
    T(px_rs_command(" Start ") == PX_RS_START && px_rs_command("query") == PX_RS_QUERY);
    T(px_rs_command("upload, bogus") < 0 && px_rs_command("start, upload") < 0);
    T(px_rs_command(NULL) == 0 && px_rs_command("") == 0);
    uint64_t v;
    T(px_rs_offset(" 1234 ", &v) == 0 && v == 1234);
    T(px_rs_offset("-1", &v) < 0 && px_rs_offset("12x", &v) < 0 && px_rs_offset("", &v) < 0);
    T(px_rs_offset("99999999999999999999999", &v) < 0);
    char a[600], b[600];
    T(px_rs_session_id("photos.test", "/upload/x?upload_id=AbC&upload_protocol=resumable", a, sizeof a) == 0);
    T(px_rs_session_id("ignored", "https://Photos.Test:8443/upload/y?upload_protocol=resumable&upload_id=AbC", b, sizeof b) == 0);
    T(!strcmp(a, "id:AbC") && !strcmp(b, a));
    T(px_rs_session_id("Photos.Test", "/u/1?x=2", a, sizeof a) == 0 && !strcmp(a, "url:photos.test/u/1?x=2"));
    T(px_rs_session_id("h", "ftp://", a, sizeof a) < 0);
    T(px_rs_session_id("Photos.Test:8443", "/u/2?x", a, sizeof a) == 0 &&
      px_rs_session_id("x", "https://photos.test:8443/u/2?x", b, sizeof b) == 0 && !strcmp(a, b));
    T(px_rs_session_id("[::1]:8443", "/u", a, sizeof a) == 0 && !strcmp(a, "url:::1/u"));

    /* the table: cap, TTL, names */
    px_rstable t;
    px_rs_table_init(&t, 2, 10);
    px_rsess *s1 = NULL, *s2 = NULL, *s3 = NULL;
    T(px_rs_new(&t, NULL, 100, &s1) == 0 && px_rs_new(&t, "id:b", 100, &s2) == 0);
    T(px_rs_new(&t, "id:c", 105, &s3) < 0); /* full */
    px_rs_set_id(&t, s1, "id:a");
    T(px_rs_find(&t, "id:a", 105) == s1 && px_rs_find(&t, "id:b", 105) == s2);
    s2->busy = 1;
    T(px_rs_purge(&t, 111) == 1); /* s1 expired; s2 is busy, kept */
    T(px_rs_find(&t, "id:a", 111) == NULL && t.n == 1);
    T(px_rs_new(&t, "id:c", 111, &s3) == 0);
    s2->busy = 0;
    px_rs_drop(&t, s2);
    T(t.n == 1 && px_rs_find(&t, "id:c", 111) == s3);
    px_rs_table_free(&t);
    free(want);
    free(jpg);
}

/* One body through a JPEG stream in pieces of 1000 bytes; *js keeps its verdicts. */
static struct sink run_js(int dir, const isec_key *key, const uint8_t *in, size_t len,
                          int64_t expect_len, px_jstream *js)
{
    struct sink s = {0};
    px_jstream_cfg jc = {dir, key, {mem_get, mem_put, NULL}, sink_emit, &s, 0, expect_len, g_async, NULL, NULL, 0};
    T(px_jstream_init(js, &jc) == 0);
    for (size_t o = 0; o < len; o += 1000) T(px_jstream_push(js, in + o, len - o < 1000 ? len - o : 1000) == 0);
    T(px_jstream_end(js) == 0);
    return s;
}

/* The end-of-body check of a decrypted download: a body with an indexed ciphertext's first
 * bytes but another end (here a trailer byte after EOI, same length) is decrypted and flagged,
 * by the view digest the index keeps; rows without one are checked by length only. */
static void test_view_check(const isec_key *key)
{
    jt_params p = {.width = 800, .height = 600, .ncomp = 3, .quality = 90, .seed = 5};
    size_t len;
    uint8_t *jpg = jt_make(&p, &len);
    uint8_t *pa = malloc(len + 1);
    memcpy(pa, jpg, len);
    pa[len] = 'A';
    nrows = 0;
    rows_without_view = 0;
    px_jstream js;
    struct sink ct = run_js(PX_DIR_REQUEST, key, pa, len + 1, -1, &js);
    T(js.crypted && nrows == 1 && ct.n == len + 1 && memcmp(ct.b, pa, len) != 0);
    px_jstream_free(&js);
    struct sink back = run_js(PX_DIR_RESPONSE, key, ct.b, ct.n, (int64_t)ct.n, &js);
    T(js.crypted && !js.mismatch && back.n == len + 1 && !memcmp(back.b, pa, len + 1));
    px_jstream_free(&js);
    free(back.b);
    ct.b[len] = 'B'; /* what the server sends back ends otherwise */
    back = run_js(PX_DIR_RESPONSE, key, ct.b, ct.n, (int64_t)ct.n, &js);
    T(js.crypted && js.mismatch && !memcmp(back.b, pa, len) && back.b[len] == 'B');
    T(strstr(js.detail, "view digest") != NULL);
    px_jstream_free(&js);
    free(back.b);
    rows_without_view = 1;
    back = run_js(PX_DIR_RESPONSE, key, ct.b, ct.n, -1, &js);
    T(js.crypted && !js.mismatch && !memcmp(back.b, pa, len));
    px_jstream_free(&js);
    free(back.b);
    ct.b = realloc(ct.b, ct.n + 1);
    ct.b[ct.n] = 'C';
    back = run_js(PX_DIR_RESPONSE, key, ct.b, ct.n + 1, -1, &js);
    T(js.crypted && js.mismatch);
    px_jstream_free(&js);
    free(back.b);
    rows_without_view = 0;
    nrows = 0;
    free(ct.b);
    free(pa);
    free(jpg);
}

/* index.c: a table of version 0 (a SHA-256 of the whole ciphertext in `full`) is rebuilt with
 * its rows' view digests unknown; new rows keep theirs; version 1 stays as it is. */
static void test_index_migration(void)
{
    char dir[] = "/tmp/imgsec-ix-XXXXXX", path[300], err[300];
    T(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/index.sqlite", dir);
    sqlite3 *db = NULL;
    T(sqlite3_open(path, &db) == SQLITE_OK);
    T(sqlite3_exec(db,
                   "CREATE TABLE ciphertexts (key BLOB PRIMARY KEY, prefix_len INTEGER NOT NULL,"
                   " total_len INTEGER NOT NULL, full BLOB NOT NULL, host TEXT,"
                   " created INTEGER NOT NULL);"
                   "INSERT INTO ciphertexts VALUES (zeroblob(32), 100, 5000, randomblob(32),"
                   " 'h', 1)",
                   NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);
    uint8_t k0[PX_DIGEST] = {0}, k1[PX_DIGEST], v1[PX_DIGEST], got[PX_DIGEST];
    memset(k1, 1, sizeof k1);
    for (int i = 0; i < PX_DIGEST; i++) v1[i] = (uint8_t)(i * 3);
    uint64_t tl = 0;
    for (int round = 0; round < 2; round++) {
        px_index *ix = NULL;
        T(px_index_open(&ix, path, err, sizeof err) == 0);
        if (!ix) break;
        T(px_index_get(ix, k0, &tl, got) == 2 && tl == 5000);
        if (round == 0) T(px_index_put(ix, k1, 100, 7000, v1, "h") == 0);
        memset(got, 0, sizeof got);
        T(px_index_get(ix, k1, &tl, got) == 1 && tl == 7000 && !memcmp(got, v1, PX_DIGEST));
        memset(k1, 2, 1);
        T(px_index_get(ix, k1, &tl, got) == 0);
        memset(k1, 1, 1);
        px_index_close(ix);
    }
    T(sqlite3_open(path, &db) == SQLITE_OK);
    sqlite3_stmt *st = NULL;
    T(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
      sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) == 1);
    sqlite3_finalize(st);
    sqlite3_close(db);
    char wal[320];
    unlink(path);
    snprintf(wal, sizeof wal, "%s-wal", path);
    unlink(wal);
    snprintf(wal, sizeof wal, "%s-shm", path);
    unlink(wal);
    T(rmdir(dir) == 0);
}

int main(void)
{
    uint8_t kb[ISEC_KEY_BYTES];
    for (int i = 0; i < ISEC_KEY_BYTES; i++) kb[i] = (uint8_t)(i * 7 + 1);
    isec_key *key = NULL;
    if (isec_key_from_bytes(&key, kb) < 0) return 1;
    test_jpeg_bodies(key);
    test_passing(key);
    test_async_same(key);
    g_async = 1; /* the stream tests again, each JPEG with a cipher thread */
    test_jpeg_bodies(key);
    test_resumable(key);
    test_view_check(key);
    g_async = 0;
    test_multipart();
    test_prefix();
    test_config_and_heads();
    test_self_addr();
    test_resumable(key);
    test_view_check(key);
    test_index_migration();
    isec_key_free(key);
    return tu_finish("proxy.unit", checks);
}

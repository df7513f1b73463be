/* One JPEG stream through the cipher, as it crosses the proxy.
 *
 * Request side: the first bytes decide (FF D8 FF, whatever the Content-Type says). The index key
 * of the input is computed first (at most ~1 MiB held): a JPEG that is already one of our
 * ciphertexts is passed as it is (encrypting it again would decrypt it, the cipher being its own
 * inverse); any other JPEG is encrypted and its ciphertext's key recorded at the end.
 * Response side: a JPEG whose key is in the index is decrypted, anything else passes unchanged.
 * If the cipher refuses a JPEG mid-stream, the raw bytes it still held are emitted as they are
 * (output lags input by at most ISEC_JPEG_MAX_HELD), so sizes never change.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proxy.h"

#define FEED (64u * 1024u)
#define QN 8 /* pieces the cipher's own thread may have queued (PX_JSTREAM_BACKLOG_HIGH: 6) */

/* ---- index key: SHA-256 of the first P bytes (see proxy.h) */

enum { S_SOI0, S_SOI1, S_FF, S_CODE, S_LENHI, S_LENLO, S_SKIP, S_FOUND, S_NOJPEG };

int px_prefix_init(px_prefix *p)
{
    memset(p, 0, sizeof *p);
    p->md = EVP_MD_CTX_new();
    if (!p->md || EVP_DigestInit_ex(p->md, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(p->md);
        p->md = NULL;
        return -1;
    }
    return 0;
}

void px_prefix_free(px_prefix *p)
{
    EVP_MD_CTX_free(p->md);
    p->md = NULL;
}

/* Walks marker segments to find the first SOS; sets limit when it is known. */
static void scan(px_prefix *p, const uint8_t *b, size_t n)
{
    /* only the first PX_PREFIX_MAX bytes are looked at, so chunking never changes the answer */
    if (p->seen < PX_PREFIX_MAX && PX_PREFIX_MAX - p->seen < n) n = (size_t)(PX_PREFIX_MAX - p->seen);
    for (size_t i = 0; i < n && !p->limit; i++) {
        uint8_t c = b[i];
        uint64_t off = p->seen + i;
        switch (p->state) {
        case S_SOI0: p->state = c == 0xFF ? S_SOI1 : S_NOJPEG; break;
        case S_SOI1: p->state = c == 0xD8 ? S_FF : S_NOJPEG; break;
        case S_FF: p->state = c == 0xFF ? S_CODE : S_NOJPEG; break;
        case S_CODE:
            if (c == 0xFF) break; /* fill byte */
            if (c == 0xDA) {
                p->state = S_FOUND;
                p->limit = off + 1 + PX_PREFIX_AFTER_SOS;
            } else if (c == 0x01 || (c >= 0xD0 && c <= 0xD8)) {
                p->state = S_FF;
            } else if (c == 0x00) {
                p->state = S_NOJPEG;
            } else {
                p->state = S_LENHI;
            }
            break;
        case S_LENHI: p->lenhi = c; p->state = S_LENLO; break;
        case S_LENLO: {
            uint32_t len = (uint32_t)p->lenhi << 8 | c;
            if (len < 2) {
                p->state = S_NOJPEG;
            } else {
                p->skip = len - 2;
                p->state = p->skip ? S_SKIP : S_FF;
            }
            break;
        }
        case S_SKIP: {
            size_t take = n - i < p->skip ? n - i : p->skip;
            p->skip -= (uint32_t)take;
            i += take - 1;
            if (!p->skip) p->state = S_FF;
            break;
        }
        default: break;
        }
        if (p->state == S_NOJPEG) p->limit = PX_PREFIX_MAX;
    }
    if (!p->limit && p->seen + n >= PX_PREFIX_MAX) p->limit = PX_PREFIX_MAX;
}

static void finish(px_prefix *p)
{
    unsigned int l = 0;
    EVP_DigestFinal_ex(p->md, p->key, &l);
    p->done = 1;
}

size_t px_prefix_feed(px_prefix *p, const uint8_t *b, size_t n)
{
    if (p->done) return 0;
    if (!p->limit) scan(p, b, n);
    size_t take = n;
    if (p->limit && p->limit - p->seen < take) take = (size_t)(p->limit - p->seen);
    EVP_DigestUpdate(p->md, b, take);
    p->seen += take;
    if (p->limit && p->seen == p->limit) finish(p);
    return take;
}

void px_prefix_end(px_prefix *p)
{
    if (!p->done) finish(p);
}

/* ---- the stream */

int px_jstream_init(px_jstream *j, const px_jstream_cfg *cfg)
{
    memset(j, 0, sizeof *j);
    j->cfg = *cfg;
    j->phase = PX_J_SNIFF;
    return 0;
}

static void emit(px_jstream *j, const uint8_t *p, size_t n)
{
    if (n) j->cfg.emit(j->cfg.emit_arg, p, n);
}

static int fail(px_jstream *j, const char *why)
{
    snprintf(j->detail, sizeof j->detail, "%s", why);
    j->failed = 1;
    return -1;
}

/* The cipher refused the stream: what it held goes out as it came in, and so does the rest. */
static int refuse(px_jstream *j)
{
    const char *d = isec_jpeg_detail(j->c);
    snprintf(j->detail, sizeof j->detail, "cipher refused the JPEG: %s", d[0] ? d : "?");
    j->refused = 1;
    if (j->cfg.dir == PX_DIR_REQUEST && j->cfg.refuse) {
        j->failed = 1;
        return -1;
    }
    emit(j, j->pend + j->pend_off, j->pend_len);
    j->pend_len = j->pend_off = 0;
    j->phase = PX_J_PASS;
    return 0;
}

static void out_bytes(px_jstream *j, const uint8_t *p, size_t n)
{
    if (j->cfg.dir == PX_DIR_REQUEST) px_prefix_feed(&j->out_key, p, n); /* takes what the key needs */
    emit(j, p, n);
}

/* Keeps a raw copy of what the cipher has not given back yet. */
static int pend_add(px_jstream *j, const uint8_t *b, size_t n)
{
    if (j->pend_off + j->pend_len + n > j->pend_cap) {
        memmove(j->pend, j->pend + j->pend_off, j->pend_len);
        j->pend_off = 0;
        if (j->pend_len + n > j->pend_cap) return fail(j, "cipher held more than it may");
    }
    memcpy(j->pend + j->pend_off + j->pend_len, b, n);
    j->pend_len += n;
    return 0;
}

/* The cipher gave back got bytes (in j->obuf) for the oldest raw bytes held. */
static int took_back(px_jstream *j, size_t got)
{
    if (got > j->pend_len) return fail(j, "cipher gave back more than it took");
    j->pend_off += got;
    j->pend_len -= got;
    out_bytes(j, j->obuf, got);
    return 0;
}

/* ---- the cipher on a thread of its own
 *
 * With one connection, the event loop's thread would otherwise decrypt TLS, run the cipher and
 * encrypt TLS in series, and the other core would idle. With this, the loop copies each piece
 * into a queue and goes back to its sockets while the cipher thread works. The thread tells the
 * caller after each piece (cfg.notify, from its own thread) and the loop takes the output back,
 * in order, with px_jstream_poll (push, sync and end take it too). The caller keeps the queue
 * short: it stops reading its side while px_jstream_backlog() is at PX_JSTREAM_BACKLOG_HIGH (a
 * full queue makes the loop wait, which stays correct). Output then lags input by up to
 * ISEC_JPEG_MAX_HELD + QN pieces: `pend` holds that much raw input, so a refusal still sends
 * the raw rest and sizes never change. At most as many streams as the machine has CPUs get a
 * thread at once (more would only share the same cores, each with its buffers); the others run
 * the cipher on the loop, as before.
 */
struct px_jasync {
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t work, done;
    isec_jpeg *c;
    uint8_t *slot[QN];
    size_t slot_len[QN];
    unsigned head, count; /* queued pieces, the one being enciphered included */
    int stop, refused;
    uint8_t *scratch; /* the thread's output for one piece */
    size_t scratch_cap;
    uint8_t *out; /* output ready for the loop (swapped with j->obuf) */
    size_t out_len, out_cap;
    int overflow;
    void (*notify)(void *);
    void *notify_arg;
};

static atomic_uint as_running; /* streams with a cipher thread, process-wide */
static atomic_uint crypt_active; /* streams being enciphered, with a thread or not */
static atomic_ulong as_started; /* cipher threads started so far (px_jstream_threads_started) */

unsigned long px_jstream_threads_started(void)
{
    return atomic_load(&as_started);
}

static unsigned as_limit(void)
{
    static atomic_uint lim;
    unsigned l = atomic_load(&lim);
    if (!l) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        l = n < 1 ? 1 : (unsigned)n;
        atomic_store(&lim, l);
    }
    return l;
}

static void *as_main(void *arg)
{
    struct px_jasync *a = arg;
    pthread_mutex_lock(&a->mu);
    for (;;) {
        while (!a->stop && (!a->count || a->refused)) pthread_cond_wait(&a->work, &a->mu);
        if (a->stop) break;
        const uint8_t *in = a->slot[a->head];
        size_t n = a->slot_len[a->head];
        pthread_mutex_unlock(&a->mu);
        size_t got = 0;
        int rc = isec_jpeg_update(a->c, in, n, a->scratch, a->scratch_cap, &got);
        pthread_mutex_lock(&a->mu);
        if (rc < 0) {
            a->refused = 1;
        } else if (got > a->out_cap - a->out_len) {
            a->overflow = 1; /* cannot happen: output never passes pend's raw input */
            a->refused = 1;
        } else {
            memcpy(a->out + a->out_len, a->scratch, got);
            a->out_len += got;
            a->head = (a->head + 1) % QN;
            a->count--;
        }
        pthread_cond_broadcast(&a->done);
        if (a->notify) {
            pthread_mutex_unlock(&a->mu);
            a->notify(a->notify_arg);
            pthread_mutex_lock(&a->mu);
        }
    }
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

static void as_free(struct px_jasync *a)
{
    if (!a) return;
    for (unsigned i = 0; i < QN; i++) free(a->slot[i]);
    free(a->scratch);
    free(a->out);
    pthread_cond_destroy(&a->work);
    pthread_cond_destroy(&a->done);
    pthread_mutex_destroy(&a->mu);
    free(a);
}

/* Stops and joins the thread (it finishes the piece it is on); the cipher is the loop's again. */
static void as_stop(px_jstream *j)
{
    struct px_jasync *a = j->as;
    if (!a) return;
    pthread_mutex_lock(&a->mu);
    a->stop = 1;
    pthread_cond_signal(&a->work);
    pthread_mutex_unlock(&a->mu);
    pthread_join(a->th, NULL);
    as_free(a);
    j->as = NULL;
    atomic_fetch_sub(&as_running, 1);
}

static int as_start(px_jstream *j)
{
    if (atomic_fetch_add(&as_running, 1) >= as_limit()) goto none;
    struct px_jasync *a = calloc(1, sizeof *a);
    if (!a) goto none;
    pthread_mutex_init(&a->mu, NULL); /* (default attributes: cannot fail on Linux) */
    pthread_cond_init(&a->work, NULL);
    pthread_cond_init(&a->done, NULL);
    a->notify = j->cfg.notify;
    a->notify_arg = j->cfg.notify_arg;
    a->c = j->c;
    a->scratch_cap = isec_jpeg_update_bound(FEED);
    a->scratch = malloc(a->scratch_cap);
    a->out_cap = j->obuf_cap;
    a->out = malloc(a->out_cap);
    int ok = a->scratch && a->out;
    for (unsigned i = 0; i < QN && ok; i++) ok = (a->slot[i] = malloc(FEED)) != NULL;
    if (!ok || pthread_create(&a->th, NULL, as_main, a) != 0) {
        as_free(a);
        goto none;
    }
    atomic_fetch_add(&as_started, 1);
    j->as = a;
    return 0;
none:
    atomic_fetch_sub(&as_running, 1);
    return -1;
}

/* Emits what the thread has given back; with all, first waits until the queue is empty.
 * Returns 1 if the cipher refused the stream (the thread is stopped then), 0, or -1. */
static int as_collect(px_jstream *j, int all)
{
    struct px_jasync *a = j->as;
    pthread_mutex_lock(&a->mu);
    while (all && a->count && !a->refused) pthread_cond_wait(&a->done, &a->mu);
    uint8_t *t = a->out;
    a->out = j->obuf;
    j->obuf = t;
    size_t got = a->out_len;
    a->out_len = 0;
    int refused = a->refused, overflow = a->overflow;
    pthread_mutex_unlock(&a->mu);
    if (took_back(j, got) < 0) return -1;
    if (!refused) return 0;
    as_stop(j);
    if (overflow) return fail(j, "cipher gave back more than it may");
    return 1;
}

/* Queues one piece (n <= FEED), waiting for room. */
static int as_feed(px_jstream *j, const uint8_t *b, size_t n)
{
    struct px_jasync *a = j->as;
    pthread_mutex_lock(&a->mu);
    /* only if the caller did not keep to PX_JSTREAM_BACKLOG_HIGH: wait for room */
    while (a->count == QN && !a->refused) pthread_cond_wait(&a->done, &a->mu);
    pthread_mutex_unlock(&a->mu);
    int rc = as_collect(j, 0);
    if (rc != 0) return rc;
    if (pend_add(j, b, n) < 0) return -1;
    pthread_mutex_lock(&a->mu);
    unsigned i = (a->head + a->count) % QN; /* a free slot: the loop's until count says otherwise */
    pthread_mutex_unlock(&a->mu);
    memcpy(a->slot[i], b, n);
    a->slot_len[i] = n;
    pthread_mutex_lock(&a->mu);
    a->count++;
    pthread_cond_signal(&a->work);
    pthread_mutex_unlock(&a->mu);
    return 0;
}

static int crypt_feed(px_jstream *j, const uint8_t *b, size_t n)
{
    while (n) {
        size_t take = n < FEED ? n : FEED;
        if (j->as) {
            int rc = as_feed(j, b, take);
            if (rc < 0) return -1;
            if (rc > 0) { /* refused: what was held goes out as it came in, and so does the rest */
                if (refuse(j) < 0) return -1;
                emit(j, b, n);
                return 0;
            }
        } else {
            if (pend_add(j, b, take) < 0) return -1;
            size_t got = 0;
            int rc = isec_jpeg_update(j->c, b, take, j->obuf, j->obuf_cap, &got);
            if (rc < 0) {
                if (refuse(j) < 0) return -1;
                emit(j, b + take, n - take);
                return 0;
            }
            if (took_back(j, got) < 0) return -1;
        }
        b += take;
        n -= take;
    }
    return 0;
}

/* px_jstream_poll (all 0) and px_jstream_sync (all 1); a refusal sends the raw rest */
static int as_take(px_jstream *j, int all)
{
    if (j->failed) return -1;
    if (!j->as) return 0;
    int rc = as_collect(j, all);
    if (rc < 0) return -1;
    return rc > 0 ? refuse(j) : 0;
}

int px_jstream_poll(px_jstream *j)
{
    return as_take(j, 0);
}

size_t px_jstream_backlog(px_jstream *j)
{
    struct px_jasync *a = j->as;
    if (!a) return 0;
    pthread_mutex_lock(&a->mu);
    size_t n = a->refused ? 0 : a->count;
    pthread_mutex_unlock(&a->mu);
    return n;
}

int px_jstream_sync(px_jstream *j)
{
    return as_take(j, 1);
}

static int start_crypt(px_jstream *j)
{
    int mode = j->cfg.dir == PX_DIR_REQUEST ? ISEC_JPEG_ENCRYPT : ISEC_JPEG_DECRYPT;
    if (isec_jpeg_new(&j->c, mode, j->cfg.key) < 0) return fail(j, "cipher context failed");
    /* a thread only while the process enciphers no more streams than it has CPUs: beyond that
     * the loops are busy with ciphers of their own and a thread would only add its buffers */
    unsigned active = atomic_fetch_add(&crypt_active, 1) + 1;
    j->counted = 1;
    int thread = j->cfg.async && active <= as_limit();
    /* only a stream with a thread holds the queue's worth more (sizing every stream by the
     * setting instead cost 1.1 MB a stream: 16 uploads peaked at 55-66 MB, not 42-46) */
    j->obuf_cap = isec_jpeg_update_bound(FEED);
    if (j->obuf_cap < isec_jpeg_final_bound()) j->obuf_cap = isec_jpeg_final_bound();
    j->pend_cap = ISEC_JPEG_MAX_HELD + (thread ? QN + 2 : 2) * FEED;
    if (thread && j->obuf_cap < j->pend_cap) j->obuf_cap = j->pend_cap;
    j->obuf = malloc(j->obuf_cap);
    j->pend = malloc(j->pend_cap);
    if (!j->obuf || !j->pend) return fail(j, "out of memory");
    if (thread && as_start(j) < 0) j->as = NULL; /* none to be had: the loop runs the cipher */
    if (j->cfg.dir == PX_DIR_REQUEST) {
        if (px_prefix_init(&j->out_key) < 0) return fail(j, "out of memory");
        j->have_out_key = 1;
    }
    j->phase = PX_J_CRYPT;
    j->crypted = 1;
    return 0;
}

/* The key of the input is known: decide, then release what was held. */
static int decide(px_jstream *j)
{
    uint64_t len = 0;
    uint8_t view[PX_DIGEST];
    int found = 0, have_view = 0;
    if (j->cfg.ix.get) {
        int rc = j->cfg.ix.get(j->cfg.ix.arg, j->in_key.key, &len, view);
        if (rc < 0 && j->cfg.dir == PX_DIR_REQUEST)
            return fail(j, "index lookup failed; not sending a JPEG that might be ours");
        found = rc > 0;
        have_view = rc == 1;
    }
    if (found && j->cfg.dir == PX_DIR_RESPONSE && j->cfg.expect_len >= 0 &&
        (uint64_t)j->cfg.expect_len != len)
        found = 0;
    j->known = found;
    int crypt = j->cfg.dir == PX_DIR_REQUEST ? !found : found;
    if (crypt && j->cfg.key) {
        if (start_crypt(j) < 0) return -1;
        memcpy(j->view_want, view, PX_DIGEST);
        j->have_view = have_view;
        j->want_len = len;
        uint8_t *h = j->head;
        size_t hl = j->head_len;
        j->head = NULL;
        j->head_len = 0;
        int rc = crypt_feed(j, h, hl);
        free(h);
        return rc;
    }
    j->phase = PX_J_PASS;
    emit(j, j->head, j->head_len);
    free(j->head);
    j->head = NULL;
    j->head_len = j->head_cap = 0;
    return 0;
}

static int head_add(px_jstream *j, const uint8_t *b, size_t n)
{
    if (j->head_len + n > j->head_cap) {
        size_t cap = j->head_cap ? j->head_cap : 64 * 1024;
        while (cap < j->head_len + n) cap *= 2;
        uint8_t *nb = realloc(j->head, cap);
        if (!nb) return fail(j, "out of memory");
        j->head = nb;
        j->head_cap = cap;
    }
    memcpy(j->head + j->head_len, b, n);
    j->head_len += n;
    return 0;
}

/* ISO base media (HEIF, AVIF, MP4, QuickTime): "ftyp" at 4, the major brand at 8. */
static const char *iso_brand(const uint8_t *b)
{
    static const struct {
        char brand[5];
        const char *kind;
    } brands[] = {
        {"heic", "HEIC"}, {"heix", "HEIC"}, {"heim", "HEIC"}, {"heis", "HEIC"},
        {"hevc", "HEIC"}, {"hevx", "HEIC"}, {"hevm", "HEIC"}, {"hevs", "HEIC"},
        {"mif1", "HEIF"}, {"msf1", "HEIF"}, {"avif", "AVIF"}, {"avis", "AVIF"},
        {"qt  ", "MOV video"}, {"crx ", "CR3 raw photo"},
    };
    for (size_t i = 0; i < sizeof brands / sizeof brands[0]; i++)
        if (!memcmp(b + 8, brands[i].brand, 4)) return brands[i].kind;
    return "MP4 video"; /* isom, mp41, mp42, M4V, 3gp..., and the rest of the family */
}

const char *px_media_kind(const uint8_t *b, size_t n)
{
    if (n >= 8 && !memcmp(b, "\x89PNG\r\n\x1a\n", 8)) return "PNG";
    if (n >= 6 && (!memcmp(b, "GIF87a", 6) || !memcmp(b, "GIF89a", 6))) return "GIF";
    if (n >= 12 && !memcmp(b, "RIFF", 4) && !memcmp(b + 8, "WEBP", 4)) return "WebP";
    if (n >= 12 && !memcmp(b + 4, "ftyp", 4)) return iso_brand(b);
    if (n >= 12 && !memcmp(b, "\0\0\0\x0cJXL \r\n\x87\n", 12)) return "JPEG XL";
    if (n >= 2 && b[0] == 0xFF && b[1] == 0x0A) return "JPEG XL";
    if (n >= 4 && (!memcmp(b, "II*\0", 4) || !memcmp(b, "MM\0*", 4))) return "TIFF or raw photo";
    return NULL;
}

/* refuse_other: once the first bytes are in (or at the end), a picture or video of another
 * format fails the stream, before anything past those bytes has gone out. */
static int check_other(px_jstream *j)
{
    j->other_checked = 1;
    const char *k = j->is_jpeg ? NULL : px_media_kind(j->first, j->nfirst);
    if (!k) return 0;
    snprintf(j->detail, sizeof j->detail, "a %s, which the proxy cannot encrypt (JPEG only)", k);
    j->refused_other = 1;
    j->failed = 1;
    return -1;
}

int px_jstream_push(px_jstream *j, const uint8_t *b, size_t n)
{
    if (j->failed) return -1;
    j->in_total += n;
    if (j->nfirst < sizeof j->first) {
        size_t t = n < sizeof j->first - j->nfirst ? n : sizeof j->first - j->nfirst;
        memcpy(j->first + j->nfirst, b, t);
        j->nfirst += t;
        if (j->cfg.refuse_other && j->cfg.dir == PX_DIR_REQUEST && j->nfirst == sizeof j->first &&
            check_other(j) < 0)
            return -1;
    }
    while (n) {
        switch (j->phase) {
        case PX_J_SNIFF: {
            static const uint8_t soi[3] = {0xFF, 0xD8, 0xFF};
            while (n && j->nsniff < 3) {
                j->sniff[j->nsniff++] = *b++;
                n--;
                if (j->sniff[j->nsniff - 1] != soi[j->nsniff - 1]) break;
            }
            if (memcmp(j->sniff, soi, j->nsniff) != 0) {
                j->phase = PX_J_PASS;
                emit(j, j->sniff, j->nsniff);
                break;
            }
            if (j->nsniff < 3) return 0;
            j->is_jpeg = 1;
            if (px_prefix_init(&j->in_key) < 0) return fail(j, "out of memory");
            j->phase = PX_J_PREFIX;
            if (head_add(j, j->sniff, 3) < 0) return -1;
            px_prefix_feed(&j->in_key, j->sniff, 3);
            break;
        }
        case PX_J_PREFIX: {
            size_t t = px_prefix_feed(&j->in_key, b, n);
            if (head_add(j, b, t) < 0) return -1;
            b += t;
            n -= t;
            if (j->in_key.done && decide(j) < 0) return -1;
            break;
        }
        case PX_J_CRYPT:
            return crypt_feed(j, b, n);
        default:
            emit(j, b, n);
            return 0;
        }
    }
    return 0;
}

int px_jstream_end(px_jstream *j)
{
    if (j->failed) return -1;
    if (j->cfg.refuse_other && j->cfg.dir == PX_DIR_REQUEST && !j->other_checked &&
        check_other(j) < 0)
        return -1;
    if (j->phase == PX_J_SNIFF) {
        emit(j, j->sniff, j->nsniff);
        j->phase = PX_J_PASS;
        return 0;
    }
    if (j->phase == PX_J_PREFIX) {
        px_prefix_end(&j->in_key);
        if (decide(j) < 0) return -1;
    }
    if (j->phase != PX_J_CRYPT) return 0;
    if (j->as) {
        if (as_take(j, 1) < 0) return -1;
        if (j->phase != PX_J_CRYPT) return 0; /* refused: the raw rest went out */
        as_stop(j);
    }
    if (j->counted) { /* no longer enciphering (px_jstream_free would say so later) */
        atomic_fetch_sub(&crypt_active, 1);
        j->counted = 0;
    }
    size_t got = 0;
    int rc = isec_jpeg_final(j->c, j->obuf, j->obuf_cap, &got);
    if (rc < 0) return refuse(j);
    if (got != j->pend_len) return fail(j, "cipher flushed a different length");
    j->pend_len = 0;
    out_bytes(j, j->obuf, got);
    /* The cipher's view digest fingerprints the whole file but its value bits, the same for
     * the plaintext and the ciphertext: it costs nothing, where a SHA-256 of the whole body
     * cost ~9% of a photo's CPU in the proxy (docs/proxy.md). */
    uint8_t view[PX_DIGEST];
    if (isec_jpeg_view_digest(j->c, view) < 0) return fail(j, "cipher gave no view digest");
    if (j->cfg.dir == PX_DIR_REQUEST) {
        px_prefix_end(&j->out_key);
        if (j->cfg.ix.put &&
            j->cfg.ix.put(j->cfg.ix.arg, j->out_key.key, j->out_key.seen, j->in_total, view) < 0)
            return fail(j, "index write failed");
    } else if (j->in_total != j->want_len ||
               (j->have_view && memcmp(view, j->view_want, PX_DIGEST) != 0)) {
        j->mismatch = 1; /* logged: the prefix matched an indexed ciphertext, the rest did not */
        snprintf(j->detail, sizeof j->detail,
                 "decrypted a body whose first bytes match an indexed ciphertext but whose "
                 "length or view digest does not");
    }
    return 0;
}

void px_jstream_free(px_jstream *j)
{
    as_stop(j);
    if (j->counted) atomic_fetch_sub(&crypt_active, 1);
    isec_jpeg_free(j->c);
    px_prefix_free(&j->in_key);
    if (j->have_out_key) px_prefix_free(&j->out_key);
    free(j->head);
    free(j->pend);
    free(j->obuf);
    memset(j, 0, sizeof *j);
}

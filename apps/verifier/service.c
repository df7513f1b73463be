/* The verifier's request handlers: import a secret, split an image, verify two shares. */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "service.h"

void vf_reply_clear(vf_reply *r)
{
    free(r->body);
    memset(r, 0, sizeof *r);
}

static void reply_text(vf_reply *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void reply_text(vf_reply *r, int status, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
    va_end(ap);
    if (n < 0) n = 0;
    if ((size_t)n > sizeof buf - 2) n = (int)sizeof buf - 2;
    buf[n++] = '\n';
    free(r->body);
    r->status = status;
    r->ctype = "text/plain; charset=utf-8";
    r->body = malloc((size_t)n);
    r->len = r->body ? (size_t)n : 0;
    if (r->body) memcpy(r->body, buf, (size_t)n);
}

void vf_handle_import(vf_service *sv, const uint8_t *body, size_t len, vf_reply *r)
{
    const vf_secret *e = NULL;
    int rc = vf_store_add(&sv->store, body, len, &e);
    if (rc == ISEC_EEXIST) {
        reply_text(r, 409, "error: this table key is already sealed here");
        return;
    }
    if (rc == ISEC_EFORMAT || rc == ISEC_ETRUNC || rc == ISEC_ELIMIT || rc == ISEC_EINVAL) {
        reply_text(r, 400, "error: not a vcs-secret file (%s)", isec_strerror(rc));
        return;
    }
    if (rc) {
        reply_text(r, 500, "error: cannot seal the secret (%s)", isec_strerror(rc));
        return;
    }
    char t[33], w[33];
    isec_hex(e->table_id, 16, t);
    isec_hex(e->wm_id, 16, w);
    reply_text(r, 201, "sealed table-id=%s watermark-id=%s", t, w);
}

int vf_verify_req_parse(const char *ctype, const uint8_t *body, size_t len, vf_verify_req *q,
                        char *err, size_t errlen)
{
    memset(q, 0, sizeof *q);
    char bnd[80];
    vf_part parts[VF_MAX_PARTS];
    size_t np = 0;
    if (!ctype || strncmp(ctype, "multipart/form-data", 19) || vf_mp_boundary(ctype, bnd, sizeof bnd)) {
        snprintf(err, errlen, "expected multipart/form-data with a boundary");
        return ISEC_EFORMAT;
    }
    if (vf_mp_parse(body, len, bnd, parts, &np)) {
        snprintf(err, errlen, "malformed multipart body");
        return ISEC_EFORMAT;
    }
    const vf_part *n = vf_mp_find(parts, np, "nonce"), *a = vf_mp_find(parts, np, "a"),
                  *b = vf_mp_find(parts, np, "b");
    if (!n || !a || !b || np != 3) {
        snprintf(err, errlen, "need exactly the parts nonce, a and b");
        return ISEC_EFORMAT;
    }
    if (isec_unhex((const char *)n->data, n->len, q->nonce, 32)) {
        snprintf(err, errlen, "nonce must be 64 hex digits");
        return ISEC_EFORMAT;
    }
    q->a = a->data, q->alen = a->len, q->b = b->data, q->blen = b->len;
    return 0;
}

/* SHA-256 of a share (25 MB for 24 planes of 512x512) runs at memory-hashing speed; the two
 * shares' digests are independent, so B's is made in a second thread while A's is made here. */
typedef struct {
    const isec_vcs_share *s;
    uint8_t *out;
    int rc;
} digest_job;

static void *digest_run(void *arg)
{
    digest_job *j = arg;
    j->rc = isec_vcs_share_digest(j->s, j->out);
    return NULL;
}

/* A request's two shares are wiped and freed (50 MB for 24 planes; A's and B's in two threads)
 * in a thread of their own that outlives the handler, so the reply goes out without waiting
 * for the wiping; the next request that makes shares waits for it first (the server handles one
 * request at a time), so at most one pair is being wiped and the freed sheet memory is back for
 * reuse (share.c) when the next pair is made. */
static pthread_t wipe_thread;
static int wipe_pending;

static void wipe_wait(void)
{
    if (wipe_pending) pthread_join(wipe_thread, NULL);
    wipe_pending = 0;
}

static void wipe_later(isec_vcs_share *a, isec_vcs_share *b)
{
    wipe_wait();
    /* without a thread they are freed here, before the reply */
    wipe_pending = isec_sheet_free_pair_start(a, b, &wipe_thread);
}

/* vf_verify_shares once the shares' digests (dig[0] A's, dig[1] B's) are known. */
static int verify_digested(vf_service *sv, const isec_vcs_share *a, const isec_vcs_share *b,
                           const uint8_t nonce[32], const uint8_t dig[2][ISEC_VCS_DIGEST_LEN],
                           isec_vreport *r)
{
    int rc;
    memset(r, 0, sizeof *r);
    memcpy(r->nonce, nonce, 32);
    memcpy(r->sheet_a, dig[0], 32);
    memcpy(r->sheet_b, dig[1], 32);
    const isec_vcs_share_info *ia = isec_vcs_share_get_info(a);
    memcpy(r->table_id, ia->table_id, 16);
    r->threshold_ppm = sv->threshold_ppm;
    r->max_invalid_ppm = sv->max_invalid_ppm;
    r->max_wrong_ppm = sv->max_wrong_ppm;
    /* Until the watermark is read: the worst value of each number, so the signed verdict
     * (not genuine) agrees with the rule whatever limits the service was started with. */
    r->nc_ppm = -ISEC_VREPORT_PPM;
    r->ber_ppm = ISEC_VREPORT_PPM;
    r->invalid_ppm = ISEC_VREPORT_PPM;
    r->wrong_ppm = ISEC_VREPORT_PPM;
    const vf_secret *e = vf_store_find(&sv->store, ia->table_id);
    if (!e) return 0; /* no secret for that table: not genuine, watermark id all zeros */
    memcpy(r->watermark_id, e->wm_id, 16);
    isec_vcs_wm_result res;
    rc = isec_vcs_watermark_extract(a, b, e->key, &e->wm, NULL, &res);
    if (rc == ISEC_EINVAL) return 0; /* shares that do not fit together: not genuine */
    if (rc) return rc;
    r->nc_ppm = isec_vreport_ppm(res.nc);
    r->ber_ppm = isec_vreport_ppm(res.ber);
    if (r->nc_ppm < 0) r->nc_ppm = 0;
    if (r->ber_ppm > ISEC_VREPORT_PPM) r->ber_ppm = ISEC_VREPORT_PPM;
    /* Blocks that are no valid arrangement do not vote, so NC alone would pass a forged sheet
     * whose few accidental valid blocks agree: their share is half of the verdict. With no
     * block examined at all there is nothing to vouch for. */
    r->invalid_ppm = res.blocks ? isec_vreport_ppm((double)res.invalid / (double)res.blocks) : ISEC_VREPORT_PPM;
    /* A forged region whose blocks are re-arranged validly is outvoted by the tiled watermark
     * (NC stays 1) but about half its blocks carry the wrong bit: the third number. block_ber
     * is 1 when no block voted. */
    r->wrong_ppm = isec_vreport_ppm(res.block_ber);
    if (r->wrong_ppm < 0) r->wrong_ppm = 0;
    if (r->wrong_ppm > ISEC_VREPORT_PPM) r->wrong_ppm = ISEC_VREPORT_PPM;
    r->genuine = isec_vreport_rule(r);
    return 0;
}

int vf_verify_shares(vf_service *sv, const isec_vcs_share *a, const isec_vcs_share *b,
                     const uint8_t nonce[32], isec_vreport *r)
{
    uint8_t dig[2][ISEC_VCS_DIGEST_LEN];
    digest_job jb = {b, dig[1], 0};
    pthread_t t;
    const int threaded = pthread_create(&t, NULL, digest_run, &jb) == 0;
    int rc = isec_vcs_share_digest(a, dig[0]);
    if (threaded) pthread_join(t, NULL);
    else digest_run(&jb);
    if (!rc) rc = jb.rc;
    if (rc) {
        memset(r, 0, sizeof *r);
        return rc;
    }
    return verify_digested(sv, a, b, nonce, (const uint8_t(*)[ISEC_VCS_DIGEST_LEN])dig, r);
}

int vf_attest(vf_service *sv, isec_vreport *r, uint8_t **env, size_t *envlen)
{
    r->backend = sv->b->id;
    memcpy(r->measurement, sv->b->measurement, 32);
    char rec[ISEC_VREPORT_MAX_RECORD];
    size_t rl = 0;
    isec_venvelope e;
    int rc = isec_vreport_encode(r, rec, sizeof rec, &rl);
    if (!rc) rc = sv->b->attest(sv->b, (const uint8_t *)rec, rl, &e);
    if (!rc) rc = isec_venvelope_encode(&e, env, envlen);
    return rc;
}

void vf_handle_verify(vf_service *sv, const char *ctype, const uint8_t *body, size_t len, vf_reply *r)
{
    vf_verify_req q;
    char err[256];
    if (vf_verify_req_parse(ctype, body, len, &q, err, sizeof err)) {
        reply_text(r, 400, "error: %s", err);
        return;
    }
    /* Both sheets decoded at once, in two threads, once the last request's are wiped; each
     * thread hashes its share's pages as it decodes them. */
    wipe_wait();
    isec_vcs_share *got[2] = {NULL, NULL};
    const uint8_t *const bufs[2] = {q.a, q.b};
    const size_t lens[2] = {q.alen, q.blen};
    uint8_t dig[2][ISEC_VCS_DIGEST_LEN];
    int failed = 0;
    int rc = isec_sheet_read_mem_pair(bufs, lens, &sv->lim, got, dig, &failed, err,
                                      sizeof err);
    if (rc) {
        reply_text(r, rc == ISEC_ELIMIT ? 413 : 400, "error: sheet %c: %s", failed ? 'b' : 'a',
                   err);
        return;
    }
    isec_vcs_share *a = got[0], *b = got[1];
    if (isec_vcs_share_get_info(a)->participant != ISEC_VCS_A ||
        isec_vcs_share_get_info(b)->participant != ISEC_VCS_B) {
        reply_text(r, 400, "error: part a must hold participant A's sheets and b participant B's");
    } else {
        isec_vreport rep;
        uint8_t *env = NULL;
        size_t el = 0;
        rc = verify_digested(sv, a, b, q.nonce, (const uint8_t(*)[ISEC_VCS_DIGEST_LEN])dig, &rep);
        if (!rc) rc = vf_attest(sv, &rep, &env, &el);
        if (rc) {
            reply_text(r, 500, "error: verification failed (%s)", isec_strerror(rc));
        } else {
            free(r->body);
            r->status = 200;
            r->ctype = "application/vnd.imgsec.vcs-report";
            r->body = env;
            r->len = el;
        }
    }
    wipe_later(a, b); /* after the reply is on its way */
}

/* ---- split ---- */

static int opt_eq(const vf_part *p, const char *v)
{
    size_t n = strlen(v);
    return p->len == n && !memcmp(p->data, v, n);
}

/* One option part against its allowed words; *out gets the matching value. */
static int pick(const vf_part *parts, size_t np, const char *name, const char *const *words,
                const unsigned *vals, size_t nw, unsigned *out)
{
    const vf_part *p = vf_mp_find(parts, np, name);
    if (!p) return 0;
    for (size_t i = 0; i < nw; i++)
        if (opt_eq(p, words[i])) {
            *out = vals[i];
            return 0;
        }
    return -1;
}

/* Uploaded PNG bytes -> a private temp file -> the sheetio PNG reader. */
static char *spill(vf_service *sv, const vf_part *p)
{
    char *tmp = vf_path(sv->dir, "tmp/upload-XXXXXX");
    if (!tmp) return NULL;
    int fd = mkstemp(tmp);
    if (fd < 0) {
        free(tmp);
        return NULL;
    }
    const uint8_t *d = p->data;
    size_t left = p->len;
    int ok = 1;
    while (ok && left) {
        ssize_t w = write(fd, d, left);
        if (w <= 0) ok = 0;
        else d += w, left -= (size_t)w;
    }
    close(fd);
    if (!ok) {
        unlink(tmp);
        free(tmp);
        return NULL;
    }
    return tmp;
}

/* The reader names the private temp file; the client does not need to see it. */
static const char *strip_path(const char *err, const char *path)
{
    size_t n = strlen(path);
    return !strncmp(err, path, n) && err[n] == ':' ? err + n + (err[n + 1] == ' ' ? 2 : 1) : err;
}

static int random_wm(uint32_t dim, isec_vcs_watermark *wm)
{
    wm->width = wm->height = dim;
    wm->bits = malloc((size_t)dim * dim);
    if (!wm->bits || RAND_priv_bytes(wm->bits, (int)(dim * dim)) != 1) return ISEC_ECRYPTO;
    for (size_t i = 0; i < (size_t)dim * dim; i++) wm->bits[i] &= 1;
    return 0;
}

void vf_handle_split(vf_service *sv, const char *ctype, const uint8_t *body, size_t len, vf_reply *r)
{
    char bnd[80], err[256];
    vf_part parts[VF_MAX_PARTS];
    size_t np = 0;
    if (!ctype || strncmp(ctype, "multipart/form-data", 19) || vf_mp_boundary(ctype, bnd, sizeof bnd) ||
        vf_mp_parse(body, len, bnd, parts, &np)) {
        reply_text(r, 400, "error: expected a multipart/form-data body");
        return;
    }
    isec_vcs_params p;
    isec_vcs_params_init(&p);
    static const char *const modes[] = {"exact", "secure"}, *const colors[] = {"halftone", "planes", "gray"},
                             *const hts[] = {"fs", "jjn", "stucki", "none"},
                             *const gammas[] = {"srgb", "linear"}, *const fills[] = {"3b1w", "1b3w"},
                             *const bools[] = {"0", "1"};
    static const unsigned mv[] = {ISEC_VCS_EXACT, ISEC_VCS_SECURE},
                          cv[] = {ISEC_VCS_LAYOUT_CMY, ISEC_VCS_LAYOUT_PLANES, ISEC_VCS_LAYOUT_GRAY},
                          hv[] = {ISEC_VCS_HT_FS, ISEC_VCS_HT_JJN, ISEC_VCS_HT_STUCKI, ISEC_VCS_HT_NONE},
                          gv[] = {ISEC_VCS_GAMMA_SRGB, ISEC_VCS_GAMMA_LINEAR},
                          fv[] = {ISEC_VCS_FILL_3B1W, ISEC_VCS_FILL_1B3W}, bv[] = {0, 1};
    unsigned serp = 0;
    if (pick(parts, np, "mode", modes, mv, 2, &p.mode) || pick(parts, np, "color", colors, cv, 3, &p.layout) ||
        pick(parts, np, "halftone", hts, hv, 4, &p.halftone) ||
        pick(parts, np, "gamma", gammas, gv, 2, &p.gamma) || pick(parts, np, "fill", fills, fv, 2, &p.white_fill) ||
        pick(parts, np, "serpentine", bools, bv, 2, &serp)) {
        reply_text(r, 400, "error: bad option value (mode exact|secure, color halftone|planes|gray, halftone "
                           "fs|jjn|stucki|none, gamma srgb|linear, fill 3b1w|1b3w, serpentine 0|1)");
        return;
    }
    p.serpentine = (int)serp;
    for (size_t i = 0; i < np; i++) {
        static const char *const known[] = {"image", "watermark", "mode", "color", "halftone", "gamma", "fill", "serpentine"};
        int ok = 0;
        for (size_t k = 0; k < sizeof known / sizeof known[0]; k++) ok |= !strcmp(parts[i].name, known[k]);
        if (!ok) {
            reply_text(r, 400, "error: unknown part '%s'", parts[i].name);
            return;
        }
    }
    const vf_part *img = vf_mp_find(parts, np, "image"), *wmp = vf_mp_find(parts, np, "watermark");
    if (!img) {
        reply_text(r, 400, "error: the part 'image' (a PNG) is missing");
        return;
    }
    isec_vcs_image secret = {0};
    uint8_t *pixels = NULL, key[ISEC_VCS_KEY_LEN], *sec = NULL, *ta = NULL, *tb = NULL, *out = NULL;
    size_t secl = 0, tal = 0, tbl = 0, outl = 0;
    isec_vcs_watermark wm = {0};
    isec_vcs_share *a = NULL, *b = NULL;
    const vf_secret *stored = NULL;
    char *tmp = spill(sv, img);
    int rc = tmp ? 0 : ISEC_EIO;
    if (rc) reply_text(r, 500, "error: cannot buffer the upload");
    /* color=gray: a color image is converted to gray first, as the local split does. */
    if (!rc && (rc = isec_png_read8(tmp, p.layout == ISEC_VCS_LAYOUT_GRAY ? 1 : 0, &secret.width, &secret.height, &secret.channels, &pixels,
                                    err, sizeof err)))
        reply_text(r, rc == ISEC_ELIMIT ? 413 : 400, "error: image: %s", strip_path(err, tmp));
    if (tmp) unlink(tmp), free(tmp), tmp = NULL;
    secret.pixels = pixels;
    if (!rc && (uint64_t)isec_vcs_planes_count(&secret, &p) * ISEC_VCS_SHEETS * secret.width *
                       secret.height > sv->max_split_bytes) {
        rc = ISEC_ELIMIT;
        reply_text(r, 413, "error: image too large for this service's split limit");
    }
    if (!rc && wmp) {
        tmp = spill(sv, wmp);
        rc = tmp ? isec_png_read_watermark(tmp, &wm, err, sizeof err) : ISEC_EIO;
        if (rc) reply_text(r, 400, "error: watermark: %s", tmp ? strip_path(err, tmp) : "cannot buffer");
        if (tmp) unlink(tmp), free(tmp);
    } else if (!rc && (rc = random_wm(sv->default_wm_dim, &wm)))
        reply_text(r, 500, "error: no randomness");
    /* A.1: a fresh table key and the watermark. */
    if (!rc && RAND_priv_bytes(key, sizeof key) != 1) {
        rc = ISEC_ECRYPTO;
        reply_text(r, 500, "error: no randomness");
    }
    if (!rc && (rc = isec_vcs_secret_encode(key, &wm, &sec, &secl)))
        reply_text(r, 500, "error: cannot encode the secret (%s)", isec_strerror(rc));
    /* A.2: the sheets; they leave only once the key and watermark are sealed. */
    wipe_wait(); /* the last verify's shares: wiped before this split makes its own */
    if (!rc && (rc = isec_vcs_split(&secret, &p, key, &wm, &a, &b)))
        reply_text(r, rc == ISEC_ELIMIT ? 413 : 400, "error: split: %s", isec_strerror(rc));
    if (!rc && (rc = vf_store_add(&sv->store, sec, secl, &stored)))
        reply_text(r, 500, "error: cannot seal the secret (%s)", isec_strerror(rc));
    if (!rc && ((rc = isec_sheet_write_mem(a, &ta, &tal, err, sizeof err)) ||
                (rc = isec_sheet_write_mem(b, &tb, &tbl, err, sizeof err))))
        reply_text(r, 500, "error: TIFF: %s", err);
    if (!rc) {
        char t[33], w[33], ct[128];
        isec_hex(stored->table_id, 16, t);
        isec_hex(stored->wm_id, 16, w);
        vf_part outp[4] = {{"a", ta, tal}, {"b", tb, tbl}, {"table-id", (const uint8_t *)t, 32},
                           {"watermark-id", (const uint8_t *)w, 32}};
        if ((rc = vf_mp_build(outp, 4, "mixed", &out, &outl, ct)))
            reply_text(r, 500, "error: cannot build the response");
        else {
            static char ctype_buf[128];
            memcpy(ctype_buf, ct, sizeof ctype_buf); /* the server is single-threaded */
            free(r->body);
            r->status = 200;
            r->ctype = ctype_buf;
            r->body = out;
            r->len = outl;
        }
    }
    OPENSSL_cleanse(key, sizeof key);
    if (sec) vf_free_secret(sec, secl);
    if (wm.bits) OPENSSL_cleanse(wm.bits, (size_t)wm.width * wm.height);
    isec_vcs_watermark_clear(&wm);
    isec_vcs_share_free(a);
    isec_vcs_share_free(b);
    free(pixels);
    free(ta);
    free(tb);
}

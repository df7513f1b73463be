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
#include <stdlib.h>
#include <string.h>

#include "proxy.h"

#define FEED (64u * 1024u)

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

static int crypt_feed(px_jstream *j, const uint8_t *b, size_t n)
{
    while (n) {
        size_t take = n < FEED ? n : FEED;
        /* keep a raw copy of what the cipher has not given back yet */
        if (j->pend_off + j->pend_len + take > j->pend_cap) {
            memmove(j->pend, j->pend + j->pend_off, j->pend_len);
            j->pend_off = 0;
            if (j->pend_len + take > j->pend_cap) return fail(j, "cipher held more than it may");
        }
        memcpy(j->pend + j->pend_off + j->pend_len, b, take);
        j->pend_len += take;
        size_t got = 0;
        int rc = isec_jpeg_update(j->c, b, take, j->obuf, j->obuf_cap, &got);
        if (rc < 0) {
            if (refuse(j) < 0) return -1;
            emit(j, b + take, n - take);
            return 0;
        }
        if (got > j->pend_len) return fail(j, "cipher gave back more than it took");
        j->pend_off += got;
        j->pend_len -= got;
        out_bytes(j, j->obuf, got);
        b += take;
        n -= take;
    }
    return 0;
}

static int start_crypt(px_jstream *j)
{
    int mode = j->cfg.dir == PX_DIR_REQUEST ? ISEC_JPEG_ENCRYPT : ISEC_JPEG_DECRYPT;
    if (isec_jpeg_new(&j->c, mode, j->cfg.key) < 0) return fail(j, "cipher context failed");
    j->obuf_cap = isec_jpeg_update_bound(FEED);
    if (j->obuf_cap < isec_jpeg_final_bound()) j->obuf_cap = isec_jpeg_final_bound();
    j->pend_cap = ISEC_JPEG_MAX_HELD + 2 * FEED;
    j->obuf = malloc(j->obuf_cap);
    j->pend = malloc(j->pend_cap);
    if (!j->obuf || !j->pend) return fail(j, "out of memory");
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

int px_jstream_push(px_jstream *j, const uint8_t *b, size_t n)
{
    if (j->failed) return -1;
    j->in_total += n;
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
    isec_jpeg_free(j->c);
    px_prefix_free(&j->in_key);
    if (j->have_out_key) px_prefix_free(&j->out_key);
    free(j->head);
    free(j->pend);
    free(j->obuf);
    memset(j, 0, sizeof *j);
}

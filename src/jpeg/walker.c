/* The JPEG walker: a push-style state machine over markers, segments and entropy-coded data,
 * and the FSP cipher applied chunk by chunk (docs/jpeg-cipher.md). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include <openssl/crypto.h>

#include <unistd.h>

#include "internal.h"

enum {
    ST_SOI0, ST_SOI1, ST_MARK, ST_MARKCODE, ST_LEN0, ST_LEN1, ST_SEG, ST_ENTROPY, ST_TRAILER, ST_DONE
};

static const char domain[] = "imgsec/jpeg-fsp/v1";

int isec__jpeg_fail(isec_jpeg *c, int rc, uint64_t off, const char *fmt, ...)
{
    if (c->rc < 0) return c->rc;
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(c->detail, sizeof c->detail, "offset %llu: %s", (unsigned long long)(c->base + off),
             msg);
    c->rc = rc;
    return rc;
}

uint64_t isec__data_offset(const isec_jpeg *c, uint64_t idx)
{
    uint64_t k = 0;
    for (uint32_t i = 0; i < c->rawlen; i++)
        if (c->isdata[i] && k++ == idx) return c->rawoff + i;
    return c->rawoff + c->rawlen;
}

static int absorb(isec_jpeg *c, const uint8_t *p, size_t n)
{
    if (!c->keyed || n == 0) return 0;
    if (c->pipe) return isec__pipe_absorb(c, p, n); /* the worker owns the hash */
    if (EVP_DigestUpdate(c->hash, p, n) != 1)
        return isec__jpeg_fail(c, ISEC_ECRYPTO, c->off, "SHA-256 failed");
    return 0;
}

/* The digest of the invariant view so far, without ending the running hash. */
static int snapshot(isec_jpeg *c, uint8_t out[32])
{
    unsigned int len = 0;
    if (c->pipe && isec__pipe_drain(c) < 0) return c->rc;
    if (EVP_MD_CTX_copy_ex(c->tmphash, c->hash) != 1 || EVP_DigestFinal_ex(c->tmphash, out, &len) != 1)
        return isec__jpeg_fail(c, ISEC_ECRYPTO, c->off, "SHA-256 failed");
    return 0;
}

static int emit(isec_jpeg *c, const uint8_t *p, size_t n)
{
    if (c->outcap - c->outlen < n)
        return isec__jpeg_fail(c, ISEC_EBUFFER, c->off, "output buffer too small");
    memcpy(c->out + c->outlen, p, n);
    c->outlen += n;
    return 0;
}

/* Emits and absorbs bytes that encryption never changes. */
static int pass(isec_jpeg *c, const uint8_t *p, size_t n)
{
    if (emit(c, p, n) < 0) return c->rc;
    return absorb(c, p, n);
}

static int ctx_init(isec_jpeg *c, int mode, const uint8_t *key, int depth, uint64_t base,
                    const uint8_t *seed, const char *label)
{
    c->mode = mode;
    c->depth = depth;
    c->base = base;
    c->max_pixels = (uint64_t)1 << 28;
    c->max_scans = ISEC_JPEG_MAX_SCANS;
    c->max_segments = 4096;
    c->info.process = -1;
    c->info.adobe_transform = -1;
    c->fast_pdep = getenv("IMGSEC_NO_PDEP") ? 0 : isec__jpeg_fast_pdep();
    c->seg = malloc(SEGCAP);
    if (!c->seg) return ISEC_ENOMEM;
    if (mode == ISEC_JPEG_ANALYZE) return 0;
    c->keyed = 1;
    memcpy(c->key, key, 32);
    c->hash = EVP_MD_CTX_new();
    c->tmphash = EVP_MD_CTX_new();
    c->cipher = EVP_CIPHER_CTX_new();
    if (!c->hash || !c->tmphash || !c->cipher) return ISEC_ENOMEM;
    static const uint8_t zero[32];
    uint8_t depthb = (uint8_t)depth;
    if (EVP_DigestInit_ex(c->hash, EVP_sha256(), NULL) != 1 ||
        EVP_DigestUpdate(c->hash, domain, sizeof domain) != 1 ||
        EVP_DigestUpdate(c->hash, &depthb, 1) != 1 ||
        EVP_DigestUpdate(c->hash, seed ? seed : zero, 32) != 1 ||
        EVP_DigestUpdate(c->hash, label, strlen(label) + 1) != 1)
        return ISEC_ECRYPTO;
    return 0; /* c->cipher gets its algorithm with the first chunk's key (isec__chacha_init) */
}

int isec__chacha_init(isec_jpeg *c, const uint8_t iv[16])
{
    if (EVP_EncryptInit_ex(c->cipher, c->cipher_set ? NULL : EVP_chacha20(), NULL, c->key, iv) != 1)
        return -1;
    c->cipher_set = 1;
    return 0;
}

int isec_jpeg_new(isec_jpeg **out, int mode, const isec_key *key)
{
    uint8_t k[32];
    if (!out) return ISEC_EINVAL;
    *out = NULL;
    if (mode != ISEC_JPEG_ENCRYPT && mode != ISEC_JPEG_DECRYPT && mode != ISEC_JPEG_ANALYZE)
        return ISEC_EINVAL;
    if (mode != ISEC_JPEG_ANALYZE) {
        if (!key) return ISEC_EINVAL;
        int rc = isec_key_derive(key, "jpeg-fsp chacha20", k);
        if (rc) return rc;
    }
    isec_jpeg *c = calloc(1, sizeof *c);
    if (!c) return ISEC_ENOMEM;
    int rc = ctx_init(c, mode, k, 0, 0, NULL, "primary");
    OPENSSL_cleanse(k, sizeof k);
    if (rc) {
        isec_jpeg_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

static int child_new(isec_jpeg *c, isec_jpeg **out, const char *label, uint64_t at)
{
    uint8_t seed[32];
    if (c->keyed && snapshot(c, seed) < 0) return c->rc;
    isec_jpeg *ch = calloc(1, sizeof *ch);
    if (!ch) return isec__jpeg_fail(c, ISEC_ENOMEM, at, "out of memory");
    int rc = ctx_init(ch, c->mode, c->key, c->depth + 1, c->base + at, seed, label);
    if (rc) {
        isec_jpeg_free(ch);
        return isec__jpeg_fail(c, rc, at, "cannot start the embedded JPEG's walker");
    }
    ch->max_pixels = c->max_pixels;
    ch->max_scans = c->max_scans;
    ch->max_segments = c->max_segments;
    *out = ch;
    return 0;
}

void isec_jpeg_free(isec_jpeg *c)
{
    if (!c) return;
    isec__pipe_stop(c);
    if (c->child) isec_jpeg_free(c->child);
    for (int i = 0; i < 4; i++) free(c->comp[i].nz);
    free(c->firstmulti);
    free(c->seg);
    free(c->raw);
    free(c->isdata);
    free(c->data);
    free(c->vm);
    free(c->xm);
    if (c->scratch) OPENSSL_cleanse(c->scratch, CHUNK_SCRATCH); /* it held keystream */
    free(c->scratch);
    EVP_MD_CTX_free(c->hash);
    EVP_MD_CTX_free(c->tmphash);
    EVP_CIPHER_CTX_free(c->cipher);
    OPENSSL_cleanse(c->key, sizeof c->key);
    free(c);
}

int isec_jpeg_set_limit(isec_jpeg *c, int which, uint64_t value)
{
    if (!c || value == 0) return ISEC_EINVAL;
    switch (which) {
    case ISEC_JPEG_LIMIT_PIXELS: c->max_pixels = value; return 0;
    case ISEC_JPEG_LIMIT_SCANS:
        c->max_scans = value > ISEC_JPEG_MAX_SCANS ? ISEC_JPEG_MAX_SCANS : (uint32_t)value;
        return 0;
    case ISEC_JPEG_LIMIT_SEGMENTS: c->max_segments = value > UINT32_MAX ? UINT32_MAX : (uint32_t)value; return 0;
    default: return ISEC_EINVAL;
    }
}

size_t isec_jpeg_update_bound(size_t inlen)
{
    return inlen > SIZE_MAX - ISEC_JPEG_MAX_HELD ? SIZE_MAX : inlen + ISEC_JPEG_MAX_HELD;
}

const char *isec_jpeg_detail(const isec_jpeg *c)
{
    return c ? c->detail : "";
}

const isec_jpeg_info *isec_jpeg_get_info(const isec_jpeg *c)
{
    return c ? &c->info : NULL;
}

/* ---------------------------------------------------------------- marker segments */

static int feed_child_buffer(isec_jpeg *c, isec_jpeg *ch, const uint8_t *in, size_t n, uint8_t *out)
{
    size_t got = 0, fin = 0;
    uint8_t *tmp = malloc(isec_jpeg_update_bound(n));
    if (!tmp) return ISEC_ENOMEM;
    int rc = isec_jpeg_update(ch, in, n, tmp, isec_jpeg_update_bound(n), &got);
    if (rc == 0) rc = isec_jpeg_final(ch, tmp + got, isec_jpeg_update_bound(n) - got, &fin);
    if (rc == 0 && got + fin == n) memcpy(out, tmp, n);
    else if (rc == 0) rc = ISEC_ESTATE;
    free(tmp);
    (void)c;
    return rc;
}

static int child_digest(isec_jpeg *ch, uint8_t out[32])
{
    unsigned int len = 0;
    return EVP_DigestFinal_ex(ch->hash, out, &len) == 1 ? 0 : ISEC_ECRYPTO;
}

static void record_embedded(isec_jpeg *c, const isec_jpeg *ch, int kind, uint64_t at, uint64_t len)
{
    if (c->info.nembedded == ISEC_JPEG_MAX_EMBEDDED) return;
    isec_jpeg_embedded *e = &c->info.embedded[c->info.nembedded++];
    e->kind = kind;
    e->offset = c->base + at;
    e->length = len;
    e->width = ch->info.width;
    e->height = ch->info.height;
    e->process = ch->info.process;
    e->eligible_bits = ch->info.eligible_bits;
}

/* APP1 Exif: the thumbnail is walked (and enciphered under its own keystream) in place. */
static int app1(isec_jpeg *c, uint8_t *p, size_t n)
{
    size_t ts, te;
    if (n >= 6 && !memcmp(p, "Exif\0", 5)) c->info.exif = 1;
    if (c->depth >= MAX_DEPTH) return pass(c, p, n);
    int rc = isec__exif_thumbnail(c, p, n, &ts, &te);
    if (rc < 0) return rc;
    if (rc == 0) return pass(c, p, n);
    isec_jpeg *ch;
    uint64_t at = c->segoff + 4 + ts;
    if (absorb(c, p, ts) < 0 || child_new(c, &ch, "exif-thumbnail", at) < 0) return c->rc;
    rc = feed_child_buffer(c, ch, p + ts, te - ts, p + ts);
    uint8_t dg[32];
    if (rc == 0 && c->keyed) rc = child_digest(ch, dg);
    if (rc < 0) {
        isec__jpeg_fail(c, rc, at, "Exif thumbnail: %s",
                        ch->detail[0] ? ch->detail : isec_strerror(rc));
        isec_jpeg_free(ch);
        return c->rc;
    }
    record_embedded(c, ch, ISEC_JPEG_EMBED_EXIF_THUMBNAIL, at, te - ts);
    isec_jpeg_free(ch);
    if (c->keyed && absorb(c, dg, sizeof dg) < 0) return c->rc;
    if (absorb(c, p + te, n - te) < 0) return c->rc;
    return emit(c, p, n);
}

static int process_segment(isec_jpeg *c)
{
    uint8_t *p = c->seg;
    size_t n = c->seglen;
    uint8_t m = c->marker;
    uint64_t at = c->segoff;
    int rc = 0;
    switch (m) {
    case 0xC0: case 0xC1: case 0xC2:
        c->progressive = m == 0xC2;
        c->info.process = m == 0xC0 ? ISEC_JPEG_BASELINE
                          : m == 0xC1 ? ISEC_JPEG_EXTENDED : ISEC_JPEG_PROGRESSIVE;
        rc = isec__parse_sof(c, p, n);
        break;
    case 0xC3: return isec__jpeg_fail(c, ISEC_EUNSUPPORTED, at, "lossless JPEG (SOF3)");
    case 0xC5: case 0xC6: case 0xC7: case 0xDE: case 0xDF:
        return isec__jpeg_fail(c, ISEC_EUNSUPPORTED, at, "hierarchical JPEG (marker 0xFF%02X)", m);
    case 0xC9: case 0xCA: case 0xCB: case 0xCD: case 0xCE: case 0xCF: case 0xCC:
        return isec__jpeg_fail(c, ISEC_EUNSUPPORTED, at, "arithmetic-coded JPEG (marker 0xFF%02X)", m);
    case 0xC8: return isec__jpeg_fail(c, ISEC_EUNSUPPORTED, at, "JPEG extension frame (SOF 0xFFC8)");
    case 0xF7: case 0xF8: return isec__jpeg_fail(c, ISEC_EUNSUPPORTED, at, "JPEG-LS (marker 0xFF%02X)", m);
    case 0xC4: rc = isec__parse_dht(c, p, n); break;
    case 0xDD:
        if (n != 2) return isec__jpeg_fail(c, ISEC_EFORMAT, at, "DRI segment length %zu", n + 2);
        c->restart_interval = isec__be16(p);
        if (!c->info.restart_interval) c->info.restart_interval = c->restart_interval;
        break;
    case 0xDC: return isec__jpeg_fail(c, ISEC_EUNSUPPORTED, at, "DNL marker (height defined after the first scan)");
    case 0xDA: rc = isec__parse_sos(c, p, n); break;
    case 0xE0:
        if (n >= 5 && !memcmp(p, "JFIF\0", 5)) c->info.jfif = 1;
        break;
    case 0xE1: return app1(c, p, n);
    case 0xE2:
        if (n >= 8 && !memcmp(p, "MPF\0", 4) && c->depth == 0 && !c->have_sof)
            rc = isec__mpf_parse(c, p + 4, n - 4, at + 8);
        break;
    case 0xEE:
        if (n >= 12 && !memcmp(p, "Adobe", 5)) {
            c->info.adobe = 1;
            c->info.adobe_transform = p[11];
        }
        break;
    default: break;
    }
    if (rc < 0) return rc;
    if (pass(c, p, n) < 0) return c->rc;
    return 0;
}

/* ---------------------------------------------------------------- entropy-coded data */

/* Enciphers raw[ro, ro + nraw) (holding data[dk, dk + ndata), all classified) and emits it. */
static int flush_chunk(isec_jpeg *c, uint32_t ro, uint32_t nraw, uint32_t dk, uint32_t ndata)
{
    const uint8_t *raw = c->raw + ro, *isdata = c->isdata + ro, *vm = c->vm + dk, *xm = c->xm + dk;
    uint8_t *data = c->data + dk;
    /* straight into the output: data bytes from data[], the others from raw[] */
    if (c->outcap - c->outlen < nraw)
        return isec__jpeg_fail(c, ISEC_EBUFFER, c->off, "output buffer too small");
    uint8_t *dest = c->out + c->outlen;
    if (c->pipe) { /* the worker does the rest; its output goes where ours would */
        c->outlen += nraw;
        return isec__pipe_chunk(c, raw, isdata, nraw, data, vm, xm, ndata, dest);
    }
    uint64_t ebytes = 0, ebits = 0;
    if (isec__chunk_crypt(c, raw, isdata, nraw, data, vm, xm, ndata, dest, c->scratch, &ebytes,
                          &ebits) < 0)
        return isec__jpeg_fail(c, ISEC_ECRYPTO, c->off, "SHA-256 or ChaCha20 failed");
    c->outlen += nraw;
    c->scaninfo->eligible_bytes += ebytes;
    c->scaninfo->eligible_bits += ebits;
    c->info.eligible_bytes += ebytes;
    c->info.eligible_bits += ebits;
    return 0;
}

/* Drops the first nraw raw bytes (ndata data bytes) that have been emitted: moves what is held
 * down to the start of the buffers (with a second thread: to other buffers). */
static int shift_held(isec_jpeg *c, uint32_t nraw, uint32_t ndata)
{
    uint32_t rest = c->rawlen - nraw, drest = c->datalen - ndata;
    if (c->pipe) {
        if (isec__pipe_rotate(c, nraw, ndata) < 0) return c->rc;
    } else {
        memmove(c->raw, c->raw + nraw, rest);
        memmove(c->isdata, c->isdata + nraw, rest);
        memmove(c->data, c->data + ndata, drest + PAD);
        memmove(c->vm, c->vm + ndata, drest + PAD);
        memmove(c->xm, c->xm + ndata, drest + PAD);
        /* keep vm/xm zero past the held data: the vacated tail may hold old marks (data[] past
         * its PAD bytes is never read, and those are zeroed before every decode) */
        memset(c->vm + drest + PAD, 0, ndata);
        memset(c->xm + drest + PAD, 0, ndata);
    }
    c->rawlen = rest;
    c->datalen = drest;
    c->rawoff += nraw;
    uint64_t shift = (uint64_t)ndata * 8; /* past the last MCU, pos may lie before the cut */
    c->d.pos = c->d.pos > shift ? c->d.pos - shift : 0;
    c->committed = c->committed > shift ? c->committed - shift : 0;
    for (uint32_t b = c->bhead; b < c->btail; b++) c->bounds[b].datapos -= ndata;
    return 0;
}

static void compact_bounds(isec_jpeg *c)
{
    if (c->bhead == 0) return;
    memmove(c->bounds, c->bounds + c->bhead, (c->btail - c->bhead) * sizeof *c->bounds);
    c->btail -= c->bhead;
    c->bhead = 0;
}

/* Emits every whole chunk whose bytes are all classified; with final, everything. */
static int flush_ready(isec_jpeg *c, int final)
{
    if (c->scan_done) {
        /* after the last MCU: padding and extraneous bytes, structure up to the marker */
        isec__mark_structure(c, c->d.pos, (uint64_t)c->datalen * 8);
        c->committed = (uint64_t)c->datalen * 8;
    }
    /* every whole chunk (the last one may be short when final), then one shift for all */
    uint32_t ro = 0, dk = 0;
    while (c->rawlen - ro >= CHUNK || (final && c->rawlen > ro)) {
        uint32_t nraw = c->rawlen - ro < CHUNK ? c->rawlen - ro : CHUNK, ndata = 0;
        ndata = isec__count_data(c->isdata + ro, nraw);
        if (!final && c->committed < (uint64_t)(dk + ndata) * 8) break;
        if (flush_chunk(c, ro, nraw, dk, ndata) < 0) return c->rc;
        ro += nraw;
        dk += ndata;
    }
    isec__pipe_flush(c); /* the round's chunks go to the worker together */
    if (ro && shift_held(c, ro, dk) < 0) return c->rc;
    compact_bounds(c);
    return 0;
}

static int run_decoder(isec_jpeg *c)
{
    if (!c->scan_done) {
        int rc = isec__entropy_decode(c);
        if (rc < 0) return rc;
        if (rc == 1) c->scan_done = 1;
    }
    return 0;
}

/* Scan data ended at a marker (or at end of input with final): everything must be decoded. */
static int end_region(isec_jpeg *c)
{
    c->region_ended = 1;
    memset(c->data + c->datalen, 0, PAD);
    if (run_decoder(c) < 0) return c->rc;
    if (!c->scan_done)
        return isec__jpeg_fail(c, ISEC_ETRUNC, c->rawoff + c->rawlen,
                               "scan data ends after MCU %llu of %llu",
                               (unsigned long long)c->d.mcu, (unsigned long long)c->sc.total);
    c->info.extraneous_bytes += c->datalen - (uint32_t)((c->d.pos + 7) / 8);
    if (flush_ready(c, 1) < 0) return c->rc;
    c->scaninfo->entropy_bytes = c->rawoff - c->scan_start;
    c->info.entropy_bytes += c->scaninfo->entropy_bytes;
    return 0;
}

/* Takes entropy-coded bytes; returns how many were consumed. At a marker other than RSTn it
 * stops (the 0xFF consumed, the code not) and switches to ST_MARKCODE. */
static size_t entropy_feed(isec_jpeg *c, const uint8_t *in, size_t n)
{
    size_t i = 0;
    while (i < n) {
        /* decode and flush every FLUSH_AT bytes: what stays held (and is moved down) is small
         * beside what is flushed */
        if (RAWCAP - c->rawlen < 2 || c->rawlen >= FLUSH_AT) {
            memset(c->data + c->datalen, 0, PAD);
            if (run_decoder(c) < 0 || flush_ready(c, 0) < 0) return i;
            if (RAWCAP - c->rawlen < 2) {
                isec__jpeg_fail(c, ISEC_ELIMIT, c->off + i,
                                "more than %u bytes of scan data without an MCU boundary", RAWCAP);
                return i;
            }
        }
        if (!c->pending_ff) {
            size_t limit = c->rawlen < FLUSH_AT ? FLUSH_AT : RAWCAP - 1;
            size_t room = limit - c->rawlen, want = n - i < room ? n - i : room;
            const uint8_t *ff = memchr(in + i, 0xFF, want);
            size_t run = ff ? (size_t)(ff - (in + i)) : want;
            /* data bytes go to data[] only: raw[] is read only where isdata[] is 0 */
            memset(c->isdata + c->rawlen, 1, run);
            memcpy(c->data + c->datalen, in + i, run);
            c->rawlen += (uint32_t)run;
            c->datalen += (uint32_t)run;
            i += run;
            if (!ff) continue;
            c->pending_ff = 1;
            i++;
            continue;
        }
        uint8_t b = in[i];
        if (b == 0x00) { /* stuffed 0xFF data byte */
            c->raw[c->rawlen] = 0xFF;
            c->isdata[c->rawlen++] = 1;
            c->raw[c->rawlen] = 0x00;
            c->isdata[c->rawlen++] = 0;
            c->data[c->datalen++] = 0xFF;
            c->pending_ff = 0;
            i++;
        } else if (b == 0xFF) { /* the pending 0xFF was a fill byte; this one is pending now */
            c->raw[c->rawlen] = 0xFF;
            c->isdata[c->rawlen++] = 0;
            i++;
        } else if (b >= 0xD0 && b <= 0xD7) {
            if (c->btail == MAX_BOUNDS && !c->scan_done) {
                memset(c->data + c->datalen, 0, PAD);
                if (run_decoder(c) < 0) return i;
                compact_bounds(c);
                if (c->btail == MAX_BOUNDS) {
                    isec__jpeg_fail(c, ISEC_ELIMIT, c->off + i, "too many RST markers held");
                    return i;
                }
            }
            if (!c->scan_done) /* after the last MCU an RST is inert (see entropy.c) */
                c->bounds[c->btail++] = (struct bound){c->datalen, (uint8_t)(b & 7)};
            c->raw[c->rawlen] = 0xFF;
            c->isdata[c->rawlen++] = 0;
            c->raw[c->rawlen] = b;
            c->isdata[c->rawlen++] = 0;
            c->pending_ff = 0;
            i++;
        } else {
            /* the end of the scan: the marker is handled in marker mode */
            c->pending_ff = 0;
            c->off += i;
            end_region(c);
            c->off -= i;
            c->state = ST_MARKCODE;
            return i;
        }
    }
    memset(c->data + c->datalen, 0, PAD);
    if (run_decoder(c) < 0 || flush_ready(c, 0) < 0) return i;
    return i;
}

/* ---------------------------------------------------------------- after EOI */

static size_t trailer_feed(isec_jpeg *c, const uint8_t *in, size_t n)
{
    if (c->child) {
        uint64_t want = c->child_end - c->off;
        size_t take = want < n ? (size_t)want : n, got = 0;
        int rc = isec_jpeg_update(c->child, in, take, c->out + c->outlen, c->outcap - c->outlen, &got);
        c->outlen += got;
        if (rc == 0 && c->off + take == c->child_end) {
            size_t fin = 0;
            rc = isec_jpeg_final(c->child, c->out + c->outlen, c->outcap - c->outlen, &fin);
            c->outlen += fin;
            uint8_t dg[32];
            if (rc == 0 && c->keyed) rc = child_digest(c->child, dg);
            if (rc == 0) {
                record_embedded(c, c->child, ISEC_JPEG_EMBED_MPF, c->mpf[c->mpf_next].start,
                                c->mpf[c->mpf_next].len);
                if (c->keyed) absorb(c, dg, sizeof dg);
                isec_jpeg_free(c->child);
                c->child = NULL;
                c->mpf_next++;
            }
        }
        if (rc < 0) {
            isec__jpeg_fail(c, rc, c->mpf[c->mpf_next].start, "MPF image %zu: %s", c->mpf_next + 1,
                            c->child->detail[0] ? c->child->detail : isec_strerror(rc));
            return 0;
        }
        return take;
    }
    if (c->mpf_next < c->nmpf) {
        uint64_t start = c->mpf[c->mpf_next].start;
        if (start < c->off) {
            isec__jpeg_fail(c, ISEC_EFORMAT, start,
                            "MPF image %zu starts inside the primary image (which ends at %llu)",
                            c->mpf_next + 1, (unsigned long long)(c->base + c->off));
            return 0;
        }
        if (start == c->off) {
            if (child_new(c, &c->child, "mpf", c->off) < 0) return 0;
            c->child_end = start + c->mpf[c->mpf_next].len;
            return 0; /* nothing consumed; the child takes the bytes next */
        }
        uint64_t gap = start - c->off;
        size_t take = gap < n ? (size_t)gap : n;
        return pass(c, in, take) < 0 ? 0 : take;
    }
    return pass(c, in, n) < 0 ? 0 : n;
}

/* ---------------------------------------------------------------- the state machine */

static int marker_code(isec_jpeg *c, uint8_t m)
{
    static const uint8_t ff = 0xFF;
    uint8_t two[2] = {0xFF, m};
    if (m == 0xFF) return pass(c, &ff, 1); /* fill byte */
    c->segoff = c->off - 2;
    if (pass(c, two, 2) < 0) return c->rc;
    if (++c->nsegments > c->max_segments)
        return isec__jpeg_fail(c, ISEC_ELIMIT, c->segoff, "more than %u markers", c->max_segments);
    if (m == 0xD8) return isec__jpeg_fail(c, ISEC_EFORMAT, c->segoff, "second SOI marker");
    if (m == 0xD9) {
        c->info.has_eoi = 1;
        c->state = ST_TRAILER;
        return 0;
    }
    if (m == 0x01 || (m >= 0xD0 && m <= 0xD7)) { /* TEM, stray RSTn: no parameters, ignored */
        c->state = ST_MARK;
        return 0;
    }
    if (m == 0x00 || (m >= 0x02 && m <= 0xBF))
        return isec__jpeg_fail(c, ISEC_EFORMAT, c->segoff, "invalid marker 0xFF%02X", m);
    c->marker = m;
    c->state = ST_LEN0;
    return 0;
}

/* Consumes at least one byte of in (or fails). */
static size_t step(isec_jpeg *c, const uint8_t *in, size_t n)
{
    uint8_t b = in[0];
    switch (c->state) {
    case ST_SOI0:
    case ST_SOI1: {
        uint8_t want = c->state == ST_SOI0 ? 0xFF : 0xD8;
        if (b != want) {
            isec__jpeg_fail(c, ISEC_EFORMAT, c->off, "not a JPEG file (no SOI marker)");
            return 0;
        }
        c->off++;
        if (pass(c, &b, 1) < 0) return 0;
        c->state = c->state == ST_SOI0 ? ST_SOI1 : ST_MARK;
        return 1;
    }
    case ST_MARK:
        if (b != 0xFF) {
            isec__jpeg_fail(c, ISEC_EFORMAT, c->off, "expected a marker, found byte 0x%02X", b);
            return 0;
        }
        c->off++;
        c->state = ST_MARKCODE;
        return 1;
    case ST_MARKCODE:
        c->off++;
        marker_code(c, b);
        return 1;
    case ST_LEN0:
        c->lenbuf[0] = b;
        c->off++;
        c->state = ST_LEN1;
        return 1;
    case ST_LEN1: {
        c->lenbuf[1] = b;
        c->off++;
        unsigned len = isec__be16(c->lenbuf);
        if (len < 2) {
            isec__jpeg_fail(c, ISEC_EFORMAT, c->segoff, "segment length %u", len);
            return 1;
        }
        if (pass(c, c->lenbuf, 2) < 0) return 1;
        c->seglen = len - 2;
        c->segpos = 0;
        c->state = ST_SEG;
        if (c->seglen == 0 && process_segment(c) == 0) c->state = c->marker == 0xDA ? ST_ENTROPY : ST_MARK;
        return 1;
    }
    case ST_SEG: {
        size_t take = c->seglen - c->segpos;
        if (take > n) take = n;
        memcpy(c->seg + c->segpos, in, take);
        c->segpos += (uint32_t)take;
        c->off += take;
        if (c->segpos == c->seglen && process_segment(c) == 0)
            c->state = c->marker == 0xDA ? ST_ENTROPY : ST_MARK;
        return take;
    }
    case ST_ENTROPY: {
        size_t used = entropy_feed(c, in, n);
        c->off += used;
        return used;
    }
    case ST_TRAILER: {
        size_t used = trailer_feed(c, in, n);
        c->info.trailer_bytes += used;
        c->off += used;
        return used;
    }
    default:
        isec__jpeg_fail(c, ISEC_ESTATE, c->off, "input after the end");
        return 0;
    }
}

int isec_jpeg_update(isec_jpeg *c, const uint8_t *in, size_t inlen, uint8_t *out, size_t outcap,
                     size_t *outlen)
{
    if (!c || (!in && inlen) || !outlen) return ISEC_EINVAL;
    *outlen = 0;
    if (c->rc < 0 || c->state == ST_DONE) return ISEC_ESTATE;
    c->out = out;
    c->outcap = outcap;
    c->outlen = 0;
    size_t i = 0;
    while (i < inlen && c->rc >= 0) {
        int before = c->state;
        size_t used = step(c, in + i, inlen - i);
        i += used;
        /* consuming nothing is fine only when the state moved on (the end of scan data hands
         * the marker code to marker mode) or a child walker was just started */
        if (used == 0 && c->rc >= 0 && c->state == before && !(c->state == ST_TRAILER && c->child))
            isec__jpeg_fail(c, ISEC_ESTATE, c->off, "walker made no progress");
    }
    if (c->pipe) isec__pipe_drain(c); /* the output is whole when update returns */
    *outlen = c->outlen;
    c->info.file_size = c->off;
    return c->rc < 0 ? c->rc : 0;
}

int isec_jpeg_set_threads(isec_jpeg *c, unsigned n)
{
    if (!c || n == 0) return ISEC_EINVAL;
    if (c->off != 0 || c->rc < 0) return ISEC_ESTATE;
    if (n == 1) {
        isec__pipe_stop(c);
        return 0;
    }
    if (!c->keyed || c->pipe) return 0; /* nothing to hand over without a key */
    return isec__pipe_start(c);
}

int isec_jpeg_final(isec_jpeg *c, uint8_t *out, size_t outcap, size_t *outlen)
{
    if (!c || !outlen) return ISEC_EINVAL;
    *outlen = 0;
    if (c->rc < 0 || c->state == ST_DONE) return ISEC_ESTATE;
    c->out = out;
    c->outcap = outcap;
    c->outlen = 0;
    switch (c->state) {
    case ST_ENTROPY:
        /* missing EOI: acceptable only if the scan is complete */
        if (c->pending_ff) {
            c->raw[c->rawlen] = 0xFF;
            c->isdata[c->rawlen++] = 0;
            c->pending_ff = 0;
        }
        end_region(c);
        break;
    case ST_MARK:
        if (c->info.nscans == 0 || !c->scan_done)
            isec__jpeg_fail(c, ISEC_ETRUNC, c->off, "file ends before any image data");
        break;
    case ST_TRAILER:
        if (c->child)
            isec__jpeg_fail(c, ISEC_ETRUNC, c->off, "file ends inside MPF image %zu",
                            c->mpf_next + 1);
        else if (c->mpf_next < c->nmpf)
            isec__jpeg_fail(c, ISEC_ETRUNC, c->off, "MPF image %zu at offset %llu is missing",
                            c->mpf_next + 1, (unsigned long long)(c->base + c->mpf[c->mpf_next].start));
        break;
    case ST_SOI0:
    case ST_SOI1:
        isec__jpeg_fail(c, ISEC_ETRUNC, c->off, "not a JPEG file (empty or no SOI marker)");
        break;
    default:
        isec__jpeg_fail(c, ISEC_ETRUNC, c->off, "file ends inside a marker segment");
        break;
    }
    if (c->pipe) isec__pipe_drain(c);
    *outlen = c->outlen;
    c->info.file_size = c->off;
    if (c->rc < 0) return c->rc;
    if (c->info.nscans == 0)
        return isec__jpeg_fail(c, ISEC_ETRUNC, c->off, "no image data (no scan)");
    c->state = ST_DONE;
    return 0;
}

int isec_jpeg_view_digest(isec_jpeg *c, uint8_t out[32])
{
    if (!c || !out || !c->keyed) return ISEC_EINVAL;
    if (c->rc < 0 || c->state != ST_DONE) return ISEC_ESTATE;
    return snapshot(c, out); /* the running hash H itself goes on unchanged */
}

int isec_jpeg_crypt(int mode, const isec_key *key, const uint8_t *in, size_t len, uint8_t *out,
                    char *detail, size_t detailcap)
{
    isec_jpeg *c;
    int rc = isec_jpeg_new(&c, mode, key);
    if (rc < 0) return rc;
    /* A second thread pays off from about a megabyte, when there is a core for it. */
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (len >= ((size_t)1 << 20) && cpus > 1 && !getenv("IMGSEC_THREADS_1"))
        rc = isec_jpeg_set_threads(c, 2);
    /* Output goes straight to out: the walker emits only bytes it has consumed, so even in
     * place (out == in) no output byte lands on input not yet read. */
    size_t got = 0, fin = 0;
    if (rc == 0) rc = isec_jpeg_update(c, in, len, out, len, &got);
    if (rc == 0) rc = isec_jpeg_final(c, out + got, len - got, &fin);
    if (rc == 0 && got + fin != len) rc = ISEC_ESTATE;
    if (rc < 0 && detail && detailcap) snprintf(detail, detailcap, "%s", c->detail);
    isec_jpeg_free(c);
    return rc;
}

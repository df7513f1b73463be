/* CCSDS 122.0 decoder context: segment headers in force, block storage, image reconstruction. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bpe_dec.h"
#include "header.h"

struct isec_ccsds_dec {
    isec_ccsds_limits lim;
    isec_ccsds_header hdr; /* values in force */
    int started, ended, failed;
    isec__strips co; /* coefficients, per block row */
    size_t capstrips;
    int32_t **chunk; /* the strips' allocations */
    size_t nchunks;
    int32_t *next; /* the next strip in the last chunk, left of them */
    size_t left;
    size_t nblocks;
    isec_ccsds_segment *segs;
    size_t nsegs, capsegs;
    size_t offset; /* running stream offset */
    isec__dec_scratch scr;
    isec__vlc_dec vt;
    char err[160];
};

int isec_ccsds_dec_new(isec_ccsds_dec **out, const isec_ccsds_limits *lim)
{
    isec_ccsds_dec *d = calloc(1, sizeof *d);
    *out = NULL;
    if (!d) return ISEC_ENOMEM;
    d->lim.max_pixels = 1ull << 26; /* 64M samples: 16384 x 4096 */
    d->lim.max_segments = 1u << 24;
    if (lim) {
        if (lim->max_pixels) d->lim.max_pixels = lim->max_pixels;
        if (lim->max_segments) d->lim.max_segments = lim->max_segments;
    }
    isec__vlc_dec_init(d->vt);
    /* values in force before any Part 2 (4.2.3: no byte limit, no quality limit) */
    d->hdr.stage_stop = 3;
    d->hdr.word_bytes = 1;
    isec__ccsds_default_weights(d->hdr.weight_exp);
    *out = d;
    return 0;
}

void isec_ccsds_dec_free(isec_ccsds_dec *d)
{
    if (!d) return;
    for (size_t i = 0; i < d->nchunks; i++)
        free(d->chunk[i]);
    free(d->chunk);
    free(d->co.strip);
    free(d->segs);
    isec__dec_scratch_free(&d->scr);
    free(d);
}

const char *isec_ccsds_dec_error(const isec_ccsds_dec *d)
{
    return d ? d->err : "";
}

static int fail(isec_ccsds_dec *d, int rc, const char *msg)
{
    snprintf(d->err, sizeof d->err, "segment %zu (byte %zu): %s", d->nsegs, d->offset, msg);
    return rc;
}

/* Strips for blocks [0, blocks), zeroed as they are handed out. The table grows by doubling;
 * the storage comes in chunks that never move (no copying as segments arrive): the first holds
 * at least 2 MiB (one transparent huge page: a single fault instead of 512), each later one as
 * many strips again as there are. */
static int grow(isec_ccsds_dec *d, size_t blocks)
{
    isec__strips *co = &d->co;
    const size_t strip_len = 8 * co->pw;
    size_t need = (blocks + co->per_row - 1) / co->per_row;
    if (need > d->capstrips) {
        size_t nc = d->capstrips ? 2 * d->capstrips : 64;
        while (nc < need)
            nc *= 2;
        int32_t **ns = realloc(co->strip, sizeof *ns * nc);
        int32_t **nk = realloc(d->chunk, sizeof *nk * nc);
        if (ns) co->strip = ns;
        if (nk) d->chunk = nk;
        if (!ns || !nk) return ISEC_ENOMEM;
        d->capstrips = nc;
    }
    while (co->nstrips < need) {
        if (!d->left) {
            size_t add = need - co->nstrips,
                   room = (size_t)(d->lim.max_pixels / 64 / co->per_row + 1);
            size_t first = ((size_t)2 << 20) / (strip_len * sizeof(int32_t));
            if (add < co->nstrips) add = co->nstrips;
            if (!d->nchunks && add < first) add = first;
            if (co->nstrips + add > room && room >= need) add = room - co->nstrips;
            int32_t *c = isec__big_alloc(add * strip_len * sizeof *c);
            if (!c) return ISEC_ENOMEM;
            d->chunk[d->nchunks++] = c;
            d->next = c;
            d->left = add;
        }
        memset(d->next, 0, strip_len * sizeof *d->next);
        co->strip[co->nstrips++] = d->next;
        d->next += strip_len;
        d->left--;
    }
    return 0;
}

int isec_ccsds_dec_segment(isec_ccsds_dec *d, const uint8_t *in, size_t len, size_t *used)
{
    *used = 0;
    if (d->failed || d->ended) return ISEC_ESTATE;
    if (d->nsegs >= d->lim.max_segments) return fail(d, ISEC_ELIMIT, "too many segments");
    isec_ccsds_header h = d->hdr;
    isec__br r;
    isec__br_init(&r, in, len, 0);
    char why[120];
    int rc = isec__hdr_parse(&r, &h, !d->started, why, sizeof why);
    if (rc) return fail(d, rc, why);
    if (d->started && h.part4 &&
        (h.width != d->hdr.width || h.dwt != d->hdr.dwt || h.depth != d->hdr.depth ||
         h.signed_pixels != d->hdr.signed_pixels))
        return fail(d, ISEC_EFORMAT, "part 4 changes within the image");
    if (!d->started && !h.start_img)
        return fail(d, ISEC_EFORMAT, "first segment without StartImgFlag");
    if (d->started && h.start_img) return fail(d, ISEC_EFORMAT, "StartImgFlag in a later segment");
    if (h.segment_count != (uint8_t)(d->nsegs & 255u))
        return fail(d, ISEC_EFORMAT, "segment count out of sequence");
    if (h.part2 && h.seg_byte_limit && h.seg_byte_limit * 8ull < r.pos)
        return fail(d, ISEC_EFORMAT, "SegByteLimit smaller than the header");
    uint32_t S = h.s;
    uint64_t px = ((uint64_t)d->nblocks + S) * 64u;
    if (px > d->lim.max_pixels) return fail(d, ISEC_ELIMIT, "image larger than the pixel limit");
    if (!d->started) isec__strips_layout(&d->co, ((size_t)h.width + 7u) & ~(size_t)7u);
    if (grow(d, d->nblocks + S)) return fail(d, ISEC_ENOMEM, "out of memory");
    if (d->nsegs == d->capsegs) {
        size_t nc = d->capsegs ? 2 * d->capsegs : 16;
        isec_ccsds_segment *n = realloc(d->segs, sizeof *n * nc);
        if (!n) return fail(d, ISEC_ENOMEM, "out of memory");
        d->segs = n;
        d->capsegs = nc;
    }
    if (isec__dec_scratch_reserve(&d->scr, S)) return fail(d, ISEC_ENOMEM, "out of memory");

    isec_ccsds_segment *info = &d->segs[d->nsegs];
    memset(info, 0, sizeof *info);
    info->offset = d->offset;
    info->first_block = (uint32_t)d->nblocks;
    info->hdr = h;
    uint64_t limit_bits = (uint64_t)h.seg_byte_limit * 8u;
    r.end = (uint64_t)len * 8u;
    if (limit_bits && limit_bits < r.end) r.end = limit_bits;
    isec__shifts sh;
    isec__ccsds_shifts(&sh, h.dwt, h.weight_exp);
    rc = isec__bpe_decode(&r, &h, &sh, &d->scr, (const uint16_t(*)[5][4][256])d->vt, &d->co,
                          d->nblocks, info);
    /* where the segment ends */
    size_t n;
    int by_limit = limit_bits && r.over && r.end == limit_bits;
    if (by_limit || (h.seg_byte_limit && h.use_fill)) {
        n = h.seg_byte_limit;
    } else {
        uint64_t unit = 8u * h.word_bytes, bits = r.pos > r.end ? r.end : r.pos;
        n = (size_t)((bits + unit - 1) / unit * h.word_bytes);
    }
    if (r.over && !by_limit) info->truncated = 1;
    if (n > len) {
        n = len;
        info->truncated = 1;
    }
    if (by_limit) info->stopped_by = 1;
    info->length = n;
    if (info->dc_end > n) info->dc_end = n;
    for (unsigned i = 0; i < info->planes; i++)
        if (info->plane_end[i] > n) info->plane_end[i] = n;
    d->nblocks += S;
    d->nsegs++;
    d->hdr = h;
    d->started = 1;
    d->offset += n;
    *used = n;
    if (h.end_img) d->ended = 1;
    if (rc) {
        d->failed = 1;
        return fail(d, rc, "invalid code word in the segment body");
    }
    return 0;
}

int isec_ccsds_dec_stream(isec_ccsds_dec *d, const uint8_t *in, size_t len)
{
    size_t off = 0;
    while (!d->ended) {
        if (off >= len) return d->started ? ISEC_ETRUNC : fail(d, ISEC_ETRUNC, "empty input");
        size_t used;
        int rc = isec_ccsds_dec_segment(d, in + off, len - off, &used);
        if (rc) return rc;
        if (d->segs[d->nsegs - 1].truncated) return ISEC_ETRUNC;
        off += used;
    }
    return 0;
}

int isec_ccsds_dec_geometry(const isec_ccsds_dec *d, uint32_t *width, uint32_t *height,
                            unsigned *depth, int *is_signed)
{
    if (!d->started) return ISEC_ESTATE;
    size_t per_row = ((size_t)d->hdr.width + 7u) / 8u;
    size_t rows = (d->nblocks + per_row - 1) / per_row;
    uint64_t hgt = (uint64_t)rows * 8u;
    if (d->ended && d->nblocks % per_row == 0 && hgt > d->hdr.pad_rows) hgt -= d->hdr.pad_rows;
    uint32_t cw = d->hdr.width, ch = (uint32_t)(hgt > UINT32_MAX ? UINT32_MAX : hgt);
    if (d->hdr.transpose) { /* TransposeImg: the image is the coded one transposed */
        uint32_t t = cw;
        cw = ch;
        ch = t;
    }
    if (width) *width = cw;
    if (height) *height = ch;
    if (depth) *depth = d->hdr.depth;
    if (is_signed) *is_signed = d->hdr.signed_pixels;
    return 0;
}

const isec_ccsds_segment *isec_ccsds_dec_segments(const isec_ccsds_dec *d, size_t *count)
{
    *count = d->nsegs;
    return d->segs;
}

/* Where the reconstructed rows go: int32 pixels or packed samples (1 or 2 bytes, be; add: the
 * offset of signed samples), the coded image transposed back when tr. */
typedef struct {
    int32_t *pixels;
    uint8_t *bytes;
    size_t w, cw, ch; /* output width; the coded image's width and height */
    int32_t lo, hi;
    uint32_t add;
    int bps, be, tr, flt;
    int32_t *row; /* cw values, rounded and clamped */
} sink;

/* Samples as bytes (restrict: the loops vectorize). */
static void pack8(const int32_t *restrict row, uint8_t *restrict o, size_t n, uint32_t add)
{
    for (size_t c = 0; c < n; c++)
        o[c] = (uint8_t)((uint32_t)row[c] + add);
}

static void pack16(const int32_t *restrict row, uint8_t *restrict o, size_t n, uint32_t add, int be)
{
    unsigned hb = be ? 0 : 1; /* index of the high byte */
    for (size_t c = 0; c < n; c++) {
        uint32_t u = (uint32_t)row[c] + add;
        o[2 * c + hb] = (uint8_t)(u >> 8);
        o[2 * c + (hb ^ 1u)] = (uint8_t)u;
    }
}

static void emit(void *ctx, size_t r, const float *frow)
{
    sink *k = ctx;
    if (r >= k->ch) return;
    const int32_t *src = (const int32_t *)(const void *)frow;
    const size_t cw = k->cw, w = k->w;
    const uint32_t add = k->add;
    int32_t *row = k->row;
    if (k->flt)
        isec__row_round_clamp(src, row, cw, k->lo, k->hi);
    else
        isec__row_clamp(src, row, cw, k->lo, k->hi);
    if (k->tr) {
        for (size_t c = 0; c < cw; c++) {
            size_t i = c * w + r;
            uint32_t u = (uint32_t)row[c] + add;
            if (!k->bytes) {
                k->pixels[i] = row[c];
            } else if (k->bps == 1) {
                k->bytes[i] = (uint8_t)u;
            } else {
                k->bytes[2 * i] = (uint8_t)(k->be ? u >> 8 : u);
                k->bytes[2 * i + 1] = (uint8_t)(k->be ? u : u >> 8);
            }
        }
    } else if (!k->bytes) {
        memcpy(k->pixels + r * w, row, sizeof *row * w);
    } else if (k->bps == 1) {
        pack8(row, k->bytes + r * w, cw, add);
    } else {
        pack16(row, k->bytes + 2 * r * w, cw, add, k->be);
    }
}

/* Inverse transform of everything decoded; writes the image as int32 (pixels) or packed samples
 * (bytes: 1 or 2 per sample, be, off: signed samples offset by 2^(depth-1)). Both inverses stream
 * their rows out of the strips: no plane is built. */
static int reconstruct(isec_ccsds_dec *d, int32_t *pixels, uint8_t *bytes, size_t cap, int be,
                       int off)
{
    uint32_t w, h;
    unsigned depth;
    int sgn;
    if (isec_ccsds_dec_geometry(d, &w, &h, &depth, &sgn)) return ISEC_ESTATE;
    size_t bps = bytes ? (depth > 8 ? 2u : 1u) : 1u;
    if ((uint64_t)w * h > cap / bps) return ISEC_EBUFFER;
    size_t ph = (d->nblocks + d->co.per_row - 1) / d->co.per_row * 8; /* block rows received */
    if (ph < 24) ph = 24; /* the DWT needs 3 levels of even lengths >= 6 */
    sink k;
    memset(&k, 0, sizeof k);
    k.pixels = pixels;
    k.bytes = bytes;
    k.w = w;
    k.lo = sgn ? -(1 << (depth - 1)) : 0;
    k.hi = sgn ? (1 << (depth - 1)) - 1 : (int32_t)((1u << depth) - 1u);
    k.add = sgn && off ? 1u << (depth - 1) : 0u;
    k.bps = (int)bps;
    k.be = be;
    k.tr = d->hdr.transpose;
    k.cw = k.tr ? h : w; /* the coded image's width and height */
    k.ch = k.tr ? w : h;
    k.flt = d->hdr.dwt != ISEC_CCSDS_DWT_INTEGER;
    k.row = malloc(sizeof *k.row * (k.cw ? k.cw : 1));
    if (!k.row) return ISEC_ENOMEM;
    int rc = k.flt ? isec__dwt_float_inverse_strips(&d->co, ph, emit, &k)
                   : isec__dwt_int_inverse_strips(&d->co, ph, emit, &k);
    free(k.row);
    return rc;
}

int isec_ccsds_dec_image(isec_ccsds_dec *d, int32_t *pixels, size_t cap)
{
    return reconstruct(d, pixels, NULL, cap, 0, 0);
}

int isec_ccsds_dec_samples(isec_ccsds_dec *d, uint8_t *out, size_t cap, int big_endian,
                           int offset_signed)
{
    return reconstruct(d, NULL, out, cap, big_endian, offset_signed);
}

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
    int32_t *coef; /* 64 per block, block raster order */
    size_t nblocks, capblocks;
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
    free(d->coef);
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
    if (d->nblocks + S > d->capblocks) {
        size_t nc = d->capblocks ? d->capblocks : 1024;
        while (nc < d->nblocks + S)
            nc *= 2;
        if ((uint64_t)nc * 64 > d->lim.max_pixels) nc = (size_t)(d->lim.max_pixels / 64);
        int32_t *n = isec__big_alloc(sizeof *n * 64 * nc);
        if (!n) return fail(d, ISEC_ENOMEM, "out of memory");
        if (d->nblocks) memcpy(n, d->coef, sizeof *n * 64 * d->nblocks);
        free(d->coef);
        d->coef = n;
        d->capblocks = nc;
    }
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
    rc = isec__bpe_decode(&r, &h, &sh, &d->scr, (const uint16_t(*)[5][4][256])d->vt,
                          d->coef + d->nblocks * 64, info);
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

/* Inverse transform of everything decoded; writes the image as int32 (pixels) or packed samples
 * (bytes: 1 or 2 per sample, be, off: signed samples offset by 2^(depth-1)). */
static int reconstruct(isec_ccsds_dec *d, int32_t *pixels, uint8_t *bytes, size_t cap, int be,
                       int off)
{
    uint32_t w, h;
    unsigned depth;
    int sgn;
    if (isec_ccsds_dec_geometry(d, &w, &h, &depth, &sgn)) return ISEC_ESTATE;
    size_t bps = bytes ? (depth > 8 ? 2u : 1u) : 1u;
    if ((uint64_t)w * h > cap / bps) return ISEC_EBUFFER;
    size_t pw = ((size_t)d->hdr.width + 7u) & ~(size_t)7u, per_row = pw / 8;
    size_t brows = (d->nblocks + per_row - 1) / per_row, ph = brows * 8;
    if (ph < 24) ph = 24; /* the DWT needs 3 levels of even lengths >= 6 */
    int32_t *plane = isec__big_alloc(pw * ph * sizeof *plane);
    if (!plane) return ISEC_ENOMEM;
    if (d->nblocks % per_row || ph != brows * 8) /* blocks missing: zero */
        memset(plane, 0, pw * ph * sizeof *plane);
    isec__blocks_scatter(plane, pw, ph, 0, d->nblocks, d->coef);
    int rc;
    if (d->hdr.dwt == ISEC_CCSDS_DWT_INTEGER)
        rc = isec__dwt_int_inverse(plane, pw, ph, d->hdr.weight_exp);
    else
        rc = isec__dwt_float_inverse(plane, pw, ph, ISEC__FLOAT_FRAC, 0); /* rounded below */
    if (rc) {
        free(plane);
        return rc;
    }
    int32_t lo = sgn ? -(1 << (depth - 1)) : 0;
    int32_t hi = sgn ? (1 << (depth - 1)) - 1 : (int32_t)((1u << depth) - 1u);
    uint32_t add = sgn && off ? 1u << (depth - 1) : 0u;
    int tr = d->hdr.transpose;
    size_t cw = tr ? h : w, ch = tr ? w : h; /* the coded image's width and height */
    const int flt = d->hdr.dwt != ISEC_CCSDS_DWT_INTEGER;
    int32_t *row = malloc(sizeof *row * (cw ? cw : 1)); /* one row, rounded and clamped */
    if (!row) {
        free(plane);
        return ISEC_ENOMEM;
    }
    for (size_t r = 0; r < ch; r++) {
        if (flt)
            isec__row_round_clamp(plane + r * pw, row, cw, lo, hi);
        else
            isec__row_clamp(plane + r * pw, row, cw, lo, hi);
        if (tr) {
            for (size_t c = 0; c < cw; c++) {
                size_t i = c * w + r;
                uint32_t u = (uint32_t)row[c] + add;
                if (!bytes) {
                    pixels[i] = row[c];
                } else if (bps == 1) {
                    bytes[i] = (uint8_t)u;
                } else {
                    bytes[2 * i] = (uint8_t)(be ? u >> 8 : u);
                    bytes[2 * i + 1] = (uint8_t)(be ? u : u >> 8);
                }
            }
        } else if (!bytes) {
            memcpy(pixels + r * w, row, sizeof *row * w);
        } else if (bps == 1) {
            uint8_t *o = bytes + r * w;
            for (size_t c = 0; c < cw; c++)
                o[c] = (uint8_t)((uint32_t)row[c] + add);
        } else {
            uint8_t *o = bytes + 2 * r * w;
            unsigned hb = be ? 0 : 1; /* index of the high byte */
            for (size_t c = 0; c < cw; c++) {
                uint32_t u = (uint32_t)row[c] + add;
                o[2 * c + hb] = (uint8_t)(u >> 8);
                o[2 * c + (hb ^ 1u)] = (uint8_t)u;
            }
        }
    }
    free(row);
    free(plane);
    return 0;
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

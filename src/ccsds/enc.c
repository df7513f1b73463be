/* CCSDS 122.0 encoder context: padding (3.2.5), DWT, segmentation, per-segment headers. */
#include <stdlib.h>
#include <string.h>

#include "bpe.h"

struct isec_ccsds_enc {
    isec_ccsds_params p;
    uint32_t width, height, pw, ph;
    unsigned depth;
    int is_signed;
    int32_t *plane;
    size_t nblocks, next_block, nsegs, seg;
    int32_t *blocks;
    size_t gathered; /* blocks gathered for the next segment (0: none yet) */
    isec__enc_scratch scr;
    isec__shifts sh;
    uint8_t wexp[10];
};

void isec_ccsds_params_init(isec_ccsds_params *p)
{
    memset(p, 0, sizeof *p);
    p->dwt = ISEC_CCSDS_DWT_INTEGER;
    p->segment_blocks = 256;
    p->stage_stop = 3;
    p->word_bytes = 1;
    isec__ccsds_default_weights(p->weight_exp);
}

static int check(const isec_ccsds_image *img, const isec_ccsds_params *p)
{
    if (!img || !p || (!img->pixels && !img->samples)) return ISEC_EINVAL;
    if (img->width < ISEC_CCSDS_MIN_DIM || img->height < ISEC_CCSDS_MIN_DIM ||
        img->width > ISEC_CCSDS_MAX_WIDTH)
        return ISEC_EINVAL;
    if (img->depth < 1 || img->depth > ISEC_CCSDS_MAX_DEPTH) return ISEC_EINVAL;
    if (p->dwt != ISEC_CCSDS_DWT_INTEGER && p->dwt != ISEC_CCSDS_DWT_FLOAT) return ISEC_EINVAL;
    if (p->segment_blocks < ISEC_CCSDS_MIN_S || p->segment_blocks > ISEC_CCSDS_MAX_S)
        return ISEC_EINVAL;
    if (p->word_bytes < 1 || p->word_bytes > 8) return ISEC_EINVAL;
    if (p->bitplane_stop > 31 || p->stage_stop > 3) return ISEC_EINVAL;
    if (p->seg_byte_limit >= (1u << 27) || (p->seg_byte_limit % p->word_bytes)) return ISEC_EINVAL;
    if (p->seg_byte_limit && p->seg_byte_limit < 20) return ISEC_EINVAL;
    if (p->bpp < 0 || p->bpp > 64) return ISEC_EINVAL;
    if (p->custom_weights)
        for (int i = 0; i < 10; i++)
            if (p->weight_exp[i] > 3) return ISEC_EINVAL;
    return 0;
}

/* 8-bit unsigned samples widened (restrict: the loop vectorizes); nonzero when one exceeds span. */
static uint32_t widen8(const uint8_t *restrict src, int32_t *restrict dst, size_t n, uint32_t span)
{
    uint32_t bad = 0;
    for (size_t c = 0; c < n; c++) {
        dst[c] = src[c];
        bad |= src[c] > span;
    }
    return bad;
}

/* Row r of img as int32 into dst (img->width samples). Returns 0, or -1 when a sample does not
 * fit the depth. */
static int load_row(const isec_ccsds_image *img, size_t r, int32_t *dst)
{
    const size_t w = img->width;
    const int32_t lo = img->is_signed ? -(1 << (img->depth - 1)) : 0;
    const uint32_t span = (uint32_t)((1u << img->depth) - 1u); /* hi - lo */
    uint32_t bad = 0;
    if (img->pixels) {
        const int32_t *src = img->pixels + r * w;
        for (size_t c = 0; c < w; c++) {
            dst[c] = src[c];
            bad |= (uint32_t)src[c] - (uint32_t)lo > span;
        }
    } else if (img->depth <= 8) {
        const uint8_t *src = img->samples + r * w;
        if (img->is_signed)
            for (size_t c = 0; c < w; c++) {
                dst[c] = (int8_t)src[c];
                bad |= (uint32_t)dst[c] - (uint32_t)lo > span;
            }
        else
            bad = widen8(src, dst, w, span);
    } else {
        const uint8_t *src = img->samples + 2 * r * w;
        const unsigned hs = img->samples_be ? 0 : 1; /* index of the high byte */
        for (size_t c = 0; c < w; c++) {
            uint32_t u = (uint32_t)src[2 * c + hs] << 8 | src[2 * c + (hs ^ 1u)];
            dst[c] = img->is_signed ? (int16_t)u : (int32_t)u;
            bad |= (uint32_t)dst[c] - (uint32_t)lo > span;
        }
    }
    return bad ? -1 : 0;
}

int isec_ccsds_enc_new(isec_ccsds_enc **out, const isec_ccsds_image *img,
                       const isec_ccsds_params *p)
{
    *out = NULL;
    int rc = check(img, p);
    if (rc) return rc;
    isec_ccsds_image tr;
    int32_t *trpx = NULL;
    if (p->transpose) {
        /* TransposeImg (4.2.5.2.7): code the transposed image; the decoder transposes it back */
        if (img->height > ISEC_CCSDS_MAX_WIDTH) return ISEC_EINVAL;
        size_t n = (size_t)img->width * img->height;
        trpx = malloc(sizeof *trpx * (n + img->width));
        if (!trpx) return ISEC_ENOMEM;
        int32_t *row = trpx + n;
        for (size_t r = 0; r < img->height; r++) {
            if (load_row(img, r, row)) {
                free(trpx);
                return ISEC_EINVAL;
            }
            for (size_t c = 0; c < img->width; c++)
                trpx[c * img->height + r] = row[c];
        }
        memset(&tr, 0, sizeof tr);
        tr.width = img->height;
        tr.height = img->width;
        tr.depth = img->depth;
        tr.is_signed = img->is_signed;
        tr.pixels = trpx;
        img = &tr;
    }
    isec_ccsds_enc *e = calloc(1, sizeof *e);
    if (!e) {
        free(trpx);
        return ISEC_ENOMEM;
    }
    e->p = *p;
    e->width = img->width;
    e->height = img->height;
    e->depth = img->depth;
    e->is_signed = img->is_signed;
    e->pw = (img->width + 7u) & ~7u;
    e->ph = (img->height + 7u) & ~7u;
    if (p->custom_weights)
        memcpy(e->wexp, p->weight_exp, 10);
    else
        isec__ccsds_default_weights(e->wexp);
    isec__ccsds_shifts(&e->sh, p->dwt, e->wexp);
    size_t pw = e->pw, ph = e->ph;
    e->plane = isec__big_alloc(sizeof *e->plane * pw * ph);
    if (!e->plane) goto nomem;
    /* 3.2.5: pad by repeating the last column and the last row */
    for (size_t r = 0; r < ph; r++) {
        int32_t *dst = e->plane + r * pw;
        if (r < img->height) {
            if (load_row(img, r, dst)) {
                rc = ISEC_EINVAL;
                goto fail;
            }
        } else {
            memcpy(dst, dst - pw, sizeof *dst * pw);
            continue;
        }
        for (size_t c = img->width; c < pw; c++)
            dst[c] = dst[img->width - 1u];
    }
    if (p->dwt == ISEC_CCSDS_DWT_INTEGER) {
        rc = isec__dwt_int_forward(e->plane, pw, ph, e->wexp);
    } else {
        rc = isec__dwt_float_forward(e->plane, e->plane, pw, ph);
    }
    free(trpx);
    trpx = NULL;
    if (rc) goto fail;
    e->nblocks = (pw / 8) * (ph / 8);
    e->nsegs = (e->nblocks + p->segment_blocks - 1) / p->segment_blocks;
    uint32_t S = p->segment_blocks;
    if (S > e->nblocks) S = (uint32_t)e->nblocks;
    e->blocks = malloc(sizeof *e->blocks * 64 * (size_t)S);
    if (!e->blocks) goto nomem;
    rc = isec__enc_scratch_init(&e->scr, S);
    if (rc) goto fail;
    *out = e;
    return 0;
nomem:
    rc = ISEC_ENOMEM;
fail:
    free(trpx);
    isec_ccsds_enc_free(e);
    return rc;
}

void isec_ccsds_enc_free(isec_ccsds_enc *e)
{
    if (!e) return;
    free(e->plane);
    free(e->blocks);
    isec__enc_scratch_free(&e->scr);
    free(e);
}

size_t isec_ccsds_enc_segment_count(const isec_ccsds_enc *e)
{
    return e->nsegs;
}

size_t isec_ccsds_enc_segments_left(const isec_ccsds_enc *e)
{
    return e->nsegs - e->seg;
}

static uint32_t seg_blocks(const isec_ccsds_enc *e)
{
    size_t left = e->nblocks - e->next_block;
    return (uint32_t)(left < e->p.segment_blocks ? left : e->p.segment_blocks);
}

static void gather(isec_ccsds_enc *e)
{
    if (e->gathered) return;
    uint32_t S = seg_blocks(e);
    isec__blocks_gather(e->plane, e->pw, e->ph, e->next_block, S, e->blocks);
    e->gathered = S;
}

size_t isec_ccsds_enc_segment_bound(const isec_ccsds_enc *e)
{
    if (e->seg >= e->nsegs) return 0;
    isec_ccsds_enc *m = (isec_ccsds_enc *)e; /* gathering is a cache, not a visible change */
    gather(m);
    uint32_t S = seg_blocks(e);
    size_t b =
        isec__seg_bound(S, isec__seg_bdac(e->blocks, S), e->p.heuristic_dc, e->p.heuristic_ac);
    size_t lim = e->p.seg_byte_limit;
    if (e->p.use_fill && lim > b) b = lim;
    return b + 8u * e->p.word_bytes;
}

/* SegByteLimit for a segment of S blocks: the fixed value, or bpp*S*64/8 in float like the UNL
 * tool, rounded down to a whole word. */
static uint32_t byte_limit(const isec_ccsds_params *p, uint32_t S)
{
    if (p->seg_byte_limit) return p->seg_byte_limit;
    if (p->bpp <= 0) return 0;
    float f = p->bpp * (float)S;
    f = f * 64.0f;
    f = f / 8.0f;
    if (f >= (float)(1u << 27)) return (1u << 27) - p->word_bytes;
    uint32_t v = (uint32_t)f;
    return v - v % p->word_bytes;
}

int isec_ccsds_enc_next(isec_ccsds_enc *e, uint8_t *out, size_t cap, size_t *len,
                        isec_ccsds_segment *info)
{
    *len = 0;
    if (e->seg >= e->nsegs) return ISEC_ESTATE;
    gather(e);
    uint32_t S = seg_blocks(e);
    isec__seg_in in;
    memset(&in, 0, sizeof in);
    in.blocks = e->blocks;
    in.S = S;
    in.sh = e->sh;
    in.heuristic_dc = e->p.heuristic_dc;
    in.heuristic_ac = e->p.heuristic_ac;
    isec_ccsds_header *h = &in.hdr;
    int first = e->seg == 0, last = e->seg + 1 == e->nsegs;
    h->start_img = (uint8_t)first;
    h->end_img = (uint8_t)last;
    h->segment_count = (uint8_t)(e->seg & 255u);
    h->pad_rows = (uint8_t)(last ? e->ph - e->height : 0);
    int all = e->p.headers == ISEC_CCSDS_HEADERS_ALL;
    int short_last = last && S != e->p.segment_blocks;
    h->part2 = (uint8_t)(first || all || short_last);
    h->part3 = (uint8_t)(first || all || short_last);
    h->part4 = (uint8_t)(first || all);
    h->seg_byte_limit = byte_limit(&e->p, S); /* S differs from the option only when short_last */
    h->dc_stop = (uint8_t) !!e->p.dc_stop;
    h->bitplane_stop = (uint8_t)e->p.bitplane_stop;
    h->stage_stop = (uint8_t)e->p.stage_stop;
    h->use_fill = (uint8_t)(e->p.use_fill && h->seg_byte_limit);
    h->s = S;
    h->opt_dc = (uint8_t)!e->p.heuristic_dc;
    h->opt_ac = (uint8_t)!e->p.heuristic_ac;
    h->dwt = (uint8_t)e->p.dwt;
    h->signed_pixels = (uint8_t)e->is_signed;
    h->depth = (uint8_t)e->depth;
    h->width = e->width;
    h->transpose = (uint8_t) !!e->p.transpose;
    h->word_bytes = (uint8_t)e->p.word_bytes;
    h->custom_weights = (uint8_t)(e->p.custom_weights && e->p.dwt == ISEC_CCSDS_DWT_INTEGER);
    memcpy(h->weight_exp, e->wexp, 10);
    if (h->seg_byte_limit && !e->p.seg_byte_limit) {
        /* a rate too low for a short last segment's header (the UNL tool fails there): give the
           segment its header and 8 bytes, rounded up to a word */
        size_t need = isec__hdr_size(h) + 8u, wb = e->p.word_bytes;
        need = (need + wb - 1) / wb * wb;
        if (h->seg_byte_limit < need) h->seg_byte_limit = (uint32_t)need;
    }
    isec_ccsds_segment tmp;
    int rc = isec__bpe_encode(&in, &e->scr, out, cap, len, info ? info : &tmp);
    if (rc) return rc;
    if (info) info->first_block = (uint32_t)e->next_block;
    e->next_block += S;
    e->seg++;
    e->gathered = 0;
    return 0;
}

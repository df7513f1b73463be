/* Segment header parts 1-4 (CCSDS 122.0-B-2 4.2): writing and parsing every field. */
#include <string.h>

#include "header.h"

size_t isec__hdr_size(const isec_ccsds_header *h)
{
    return 3u + (h->end_img ? 1u : 0u) + (h->part2 ? 5u : 0u) + (h->part3 ? 3u : 0u) +
           (h->part4 ? 8u : 0u);
}

static unsigned cwl_code(unsigned word_bytes)
{
    unsigned v = word_bytes - 1u; /* 4.2.5.2.8: 000 8-bit, 010 16-bit, ..., 001 40-bit */
    return ((v & 3u) << 1) | (v >> 2);
}

void isec__hdr_write(isec__bw *w, const isec_ccsds_header *h)
{
    isec__bw_put(w, h->start_img & 1u, 1);
    isec__bw_put(w, h->end_img & 1u, 1);
    isec__bw_put(w, h->segment_count, 8);
    isec__bw_put(w, h->bitdepth_dc & 31u, 5);
    isec__bw_put(w, h->bitdepth_ac & 31u, 5);
    isec__bw_put(w, 0, 1);
    isec__bw_put(w, h->part2 & 1u, 1);
    isec__bw_put(w, h->part3 & 1u, 1);
    isec__bw_put(w, h->part4 & 1u, 1);
    if (h->end_img) {
        isec__bw_put(w, h->pad_rows & 7u, 3);
        isec__bw_put(w, 0, 5);
    }
    if (h->part2) {
        isec__bw_put(w, h->seg_byte_limit & ((1u << 27) - 1u), 27);
        isec__bw_put(w, h->dc_stop & 1u, 1);
        isec__bw_put(w, h->bitplane_stop & 31u, 5);
        isec__bw_put(w, h->stage_stop & 3u, 2);
        isec__bw_put(w, h->use_fill & 1u, 1);
        isec__bw_put(w, 0, 4);
    }
    if (h->part3) {
        isec__bw_put(w, h->s & ((1u << 20) - 1u), 20);
        isec__bw_put(w, h->opt_dc & 1u, 1);
        isec__bw_put(w, h->opt_ac & 1u, 1);
        isec__bw_put(w, 0, 2);
    }
    if (h->part4) {
        isec__bw_put(w, h->dwt & 1u, 1);
        isec__bw_put(w, 0, 1);
        isec__bw_put(w, h->depth > 16, 1);
        isec__bw_put(w, h->signed_pixels & 1u, 1);
        isec__bw_put(w, h->depth & 15u, 4);
        isec__bw_put(w, h->width & ((1u << 20) - 1u), 20);
        isec__bw_put(w, h->transpose & 1u, 1);
        isec__bw_put(w, cwl_code(h->word_bytes), 3);
        isec__bw_put(w, h->custom_weights & 1u, 1);
        for (int i = 0; i < 10; i++)
            isec__bw_put(w, h->custom_weights ? h->weight_exp[i] & 3u : 0u, 2);
        isec__bw_put(w, 0, 11);
    }
}

int isec__hdr_parse(isec__br *r, isec_ccsds_header *h, int first, char *why, size_t whylen)
{
    uint64_t start = r->pos;
    h->start_img = (uint8_t)isec__br_get(r, 1);
    h->end_img = (uint8_t)isec__br_get(r, 1);
    h->segment_count = (uint8_t)isec__br_get(r, 8);
    h->bitdepth_dc = (uint8_t)isec__br_get(r, 5);
    h->bitdepth_ac = (uint8_t)isec__br_get(r, 5);
    (void)isec__br_get(r, 1);
    h->part2 = (uint8_t)isec__br_get(r, 1);
    h->part3 = (uint8_t)isec__br_get(r, 1);
    h->part4 = (uint8_t)isec__br_get(r, 1);
    if (h->end_img) {
        h->pad_rows = (uint8_t)isec__br_get(r, 3);
        (void)isec__br_get(r, 5);
    } else {
        h->pad_rows = 0;
    }
    if (h->part2) {
        h->seg_byte_limit = isec__br_get(r, 27);
        h->dc_stop = (uint8_t)isec__br_get(r, 1);
        h->bitplane_stop = (uint8_t)isec__br_get(r, 5);
        h->stage_stop = (uint8_t)isec__br_get(r, 2);
        h->use_fill = (uint8_t)isec__br_get(r, 1);
        (void)isec__br_get(r, 4);
    }
    if (h->part3) {
        h->s = isec__br_get(r, 20);
        if (h->s == 0) h->s = 1u << 20;
        h->opt_dc = (uint8_t)isec__br_get(r, 1);
        h->opt_ac = (uint8_t)isec__br_get(r, 1);
        (void)isec__br_get(r, 2);
    }
    if (h->part4) {
        h->dwt = (uint8_t)isec__br_get(r, 1);
        (void)isec__br_get(r, 1);
        h->ext_depth = (uint8_t)isec__br_get(r, 1);
        h->signed_pixels = (uint8_t)isec__br_get(r, 1);
        unsigned d = isec__br_get(r, 4);
        h->depth = (uint8_t)(h->ext_depth ? 16u + d : (d ? d : 16u));
        h->width = isec__br_get(r, 20);
        if (h->width == 0) h->width = 1u << 20;
        h->transpose = (uint8_t)isec__br_get(r, 1);
        unsigned c = isec__br_get(r, 3);
        h->word_bytes = (uint8_t)(1u + ((c >> 1) | ((c & 1u) << 2)));
        h->custom_weights = (uint8_t)isec__br_get(r, 1);
        for (int i = 0; i < 10; i++)
            h->weight_exp[i] = (uint8_t)isec__br_get(r, 2);
        if (!h->custom_weights) isec__ccsds_default_weights(h->weight_exp);
        (void)isec__br_get(r, 11);
    }
    if (r->over) {
        snprintf(why, whylen, "segment header cut short (%llu bytes)",
                 (unsigned long long)((r->end - start) / 8));
        return ISEC_ETRUNC;
    }
    if (first && (!h->part2 || !h->part3 || !h->part4)) {
        /* parameters in force come only from headers; the first segment must set them all */
        if (!h->part3 || !h->part4) {
            snprintf(why, whylen, "first segment lacks header part %s", !h->part4 ? "4" : "3");
            return ISEC_EFORMAT;
        }
    }
    if (h->part4) {
        if (h->ext_depth || h->depth > ISEC_CCSDS_MAX_DEPTH) {
            snprintf(why, whylen, "pixel depth %u not supported", h->depth);
            return ISEC_EUNSUPPORTED;
        }
        if (h->width < ISEC_CCSDS_MIN_DIM) {
            snprintf(why, whylen, "image width %u below 17", h->width);
            return ISEC_EFORMAT;
        }
    }
    return 0;
}

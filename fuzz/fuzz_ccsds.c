/* libFuzzer target for the CCSDS 122.0 decoder. The first byte picks a mode:
 *   even: the rest is a coded stream, decoded whole and (if anything decoded) reconstructed;
 *   odd:  the rest is cut into segment prefixes at input-chosen points and fed segment by segment;
 *   0xff: the rest seeds a small image, which must survive an encode/decode round trip exactly
 *         (integer DWT) with input-chosen S, header layout and word size, given as int32 pixels
 *         or as packed samples (and then compared as packed samples).
 * Limits keep every allocation small; any crash or sanitizer report is a bug. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imgsec/ccsds.h"

static void reconstruct(isec_ccsds_dec *d)
{
    uint32_t w, h;
    if (isec_ccsds_dec_geometry(d, &w, &h, NULL, NULL)) return;
    if ((uint64_t)w * h > (1u << 20)) return;
    int32_t *px = malloc(sizeof *px * ((size_t)w * h + 1));
    if (px && isec_ccsds_dec_image(d, px, (size_t)w * h) == 0) {
        volatile int32_t sink = px[0];
        (void)sink;
    }
    /* packed output, both byte orders; px has room for 2 bytes per sample */
    if (px && isec_ccsds_dec_samples(d, (uint8_t *)px, 4 * ((size_t)w * h), w & 1, h & 1) == 0) {
        volatile uint8_t sink = ((uint8_t *)px)[0];
        (void)sink;
    }
    free(px);
}

static void roundtrip(const uint8_t *data, size_t size)
{
    if (size < 6) return;
    uint32_t w = 17 + data[0] % 48, h = 17 + data[1] % 48;
    unsigned depth = 1 + data[2] % 16;
    int sgn = data[3] & 1;
    isec_ccsds_params p;
    isec_ccsds_params_init(&p);
    p.segment_blocks = 16 + data[4] % 40;
    p.headers = (data[3] >> 1) & 1;
    p.word_bytes = 1 + (data[5] & 3);
    int32_t *px = malloc(sizeof *px * w * h);
    if (!px) return;
    int32_t lo = sgn ? -(1 << (depth - 1)) : 0;
    for (size_t i = 0; i < (size_t)w * h; i++) {
        size_t n = size - 6;
        uint32_t v = n ? data[6 + i % n] : 0;
        v = (v * 2654435761u + (uint32_t)i * 40503u) >> (32 - depth);
        px[i] = lo + (int32_t)v;
    }
    size_t bps = depth > 8 ? 2 : 1, n = (size_t)w * h;
    int packed = (data[3] >> 2) & 1, be = (data[3] >> 3) & 1;
    uint8_t *pk = malloc(n * bps);
    if (!pk) abort();
    for (size_t i = 0; i < n; i++) {
        uint32_t u = (uint32_t)px[i];
        if (bps == 1) {
            pk[i] = (uint8_t)u;
        } else {
            pk[2 * i + (be ? 0 : 1)] = (uint8_t)(u >> 8);
            pk[2 * i + (be ? 1 : 0)] = (uint8_t)u;
        }
    }
    isec_ccsds_image img = {.width = w,
                            .height = h,
                            .depth = depth,
                            .is_signed = sgn,
                            .pixels = packed ? NULL : px,
                            .samples = pk,
                            .samples_be = be};
    isec_ccsds_enc *e;
    if (isec_ccsds_enc_new(&e, &img, &p)) abort();
    size_t cap = 0, total = 0;
    uint8_t *buf = NULL;
    while (isec_ccsds_enc_segments_left(e)) {
        size_t need = isec_ccsds_enc_segment_bound(e), got;
        uint8_t *nb = realloc(buf, total + need);
        if (!nb) abort();
        buf = nb;
        cap = total + need;
        if (isec_ccsds_enc_next(e, buf + total, cap - total, &got, NULL)) abort();
        total += got;
    }
    isec_ccsds_enc_free(e);
    isec_ccsds_dec *d;
    if (isec_ccsds_dec_new(&d, NULL)) abort();
    if (isec_ccsds_dec_stream(d, buf, total)) abort();
    int32_t *out = malloc(sizeof *out * w * h);
    if (!out || isec_ccsds_dec_image(d, out, (size_t)w * h) || memcmp(out, px, sizeof *px * w * h))
        abort();
    uint8_t *ob = malloc(n * bps);
    if (!ob || isec_ccsds_dec_samples(d, ob, n * bps, be, 0) || memcmp(ob, pk, n * bps)) abort();
    free(ob);
    free(out);
    isec_ccsds_dec_free(d);
    free(buf);
    free(pk);
    free(px);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    uint8_t mode = data[0];
    data++;
    size--;
    if (mode == 0xff) {
        roundtrip(data, size);
        return 0;
    }
    isec_ccsds_limits lim = {1u << 20, 64};
    isec_ccsds_dec *d;
    if (isec_ccsds_dec_new(&d, &lim)) return 0;
    if (!(mode & 1)) {
        (void)isec_ccsds_dec_stream(d, data, size);
    } else {
        /* segment prefixes: each cut length comes from the next input byte */
        size_t off = 0;
        unsigned k = 0;
        while (off < size && k < 64) {
            size_t cut = 1 + (size_t)data[(off + k) % size] * 4u, used;
            if (cut > size - off) cut = size - off;
            if (isec_ccsds_dec_segment(d, data + off, cut, &used)) break;
            off += cut;
            k++;
        }
    }
    reconstruct(d);
    isec_ccsds_dec_free(d);
    return 0;
}

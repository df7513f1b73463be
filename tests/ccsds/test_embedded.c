/* Embedded decoding: every layer prefix of a segment decodes and quality rises layer by layer;
 * quality stops (BitPlaneStop/StageStop, DCStop) give prefixes of the full stream; SegByteLimit,
 * UseFill and rates; truncated whole streams decode to the best reconstruction. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ccsdstool.h"
#include "testutil.h"

static int checks;

/* Decodes the first seg_len bytes of a single-segment stream. */
static double decode_prefix(const uint8_t *s, size_t n, const ct_img *ref, int *trunc)
{
    isec_ccsds_dec *d;
    if (isec_ccsds_dec_new(&d, NULL)) return -1;
    size_t used;
    int rc = isec_ccsds_dec_segment(d, s, n, &used);
    double q = -1;
    size_t cnt;
    const isec_ccsds_segment *sg = isec_ccsds_dec_segments(d, &cnt);
    *trunc = cnt ? sg[0].truncated : -1;
    if (rc == 0) {
        ct_img out = *ref;
        out.px = malloc(sizeof *out.px * ref->w * ref->h);
        if (isec_ccsds_dec_image(d, out.px, (size_t)ref->w * ref->h) == 0) q = ct_psnr(ref, &out);
        free(out.px);
    }
    isec_ccsds_dec_free(d);
    return q;
}

static void layers(int dwt, unsigned depth)
{
    ct_img img;
    ct_random(&img, 96, 80, depth, 0, 1, 7);
    for (size_t i = 0; i < (size_t)img.w * img.h; i++) /* add texture so every plane carries data */
        img.px[i] = (img.px[i] + (int32_t)((i * 2654435761u) >> 27)) & ((1 << depth) - 1);
    isec_ccsds_params p;
    isec_ccsds_params_init(&p);
    p.dwt = dwt;
    p.segment_blocks = 120; /* the whole image: 12 x 10 blocks */
    uint8_t *out;
    size_t len, ns;
    isec_ccsds_segment *sg;
    CHECK_RC(ct_encode(&img, &p, &out, &len, &sg, &ns), 0);
    CHECK(ns == 1);
    int trunc;
    double prev = decode_prefix(out, sg[0].dc_end, &img, &trunc);
    CHECK(prev > 0);
    for (unsigned k = 0; k < sg[0].planes; k++) {
        double q = decode_prefix(out, sg[0].plane_end[k], &img, &trunc);
        /* the 9/7 synthesis is not orthogonal: smaller coefficient errors almost always, not
           always, mean a smaller pixel error, hence the small tolerance */
        if (!(q >= prev - 0.05))
            fprintf(stderr, "layer %u: PSNR %.2f after %.2f\n", k + 1, q, prev);
        CHECK(q >= prev - 0.05);
        prev = q;
    }
    if (dwt == ISEC_CCSDS_DWT_INTEGER) CHECK(prev == 999);
    /* arbitrary cuts: always decodable, and the full length is not truncated */
    for (size_t n = 3; n <= len; n += 1 + n / 9) {
        double q = decode_prefix(out, n, &img, &trunc);
        CHECK(q > 0 || n < 20);
    }
    decode_prefix(out, len, &img, &trunc);
    CHECK(trunc == 0);

    /* BitPlaneStop/StageStop: the stream is the full one up to that stage (the last byte may be
       padding); header part 2 differs, the body does not */
    size_t hsize = 3 + 1 + 5 + 3 + 8;
    double qprev = 0;
    for (int b = (int)sg[0].hdr.bitdepth_ac - 1; b >= 0; b--)
        for (unsigned s = 0; s < 4; s++) {
            isec_ccsds_params p2 = p;
            p2.bitplane_stop = (unsigned)b;
            p2.stage_stop = s;
            uint8_t *o2;
            size_t l2;
            isec_ccsds_segment *s2;
            size_t n2;
            CHECK_RC(ct_encode(&img, &p2, &o2, &l2, &s2, &n2), 0);
            CHECK(l2 <= len && s2[0].stopped_by == (b == 0 && s == 3 ? 0 : 2));
            CHECK(l2 < 2 || !memcmp(o2 + hsize, out + hsize, l2 - 1 - hsize));
            ct_img dec;
            int res;
            CHECK(ct_decode(o2, l2, &dec, &res) == 0 && res == 0);
            double q = ct_psnr(&img, &dec);
            if (!(q >= qprev - 0.25))
                fprintf(stderr, "dwt %d depth %u plane %d stage %u: PSNR %.3f after %.3f\n", dwt,
                        depth, b, s + 1, q, qprev);
            CHECK(q >= qprev - 0.25);
            qprev = q;
            ct_free(&dec);
            free(o2);
            free(s2);
        }
    /* DCStop: header and DC only, decodable */
    {
        isec_ccsds_params p2 = p;
        p2.dc_stop = 1;
        uint8_t *o2;
        size_t l2;
        CHECK_RC(ct_encode(&img, &p2, &o2, &l2, NULL, NULL), 0);
        CHECK(l2 <= sg[0].dc_end + 1);
        ct_img dec;
        int res;
        CHECK(ct_decode(o2, l2, &dec, &res) == 0 && res == 0 && ct_psnr(&img, &dec) > 10);
        ct_free(&dec);
        free(o2);
    }
    free(sg);
    free(out);
    ct_free(&img);
    checks += 10;
}

static void limits(void)
{
    ct_img img;
    ct_random(&img, 150, 90, 8, 0, 1, 3);
    isec_ccsds_params p;
    double prev = 0;
    for (int dwt = 0; dwt < 2; dwt++) {
        prev = 0;
        for (float bpp = 0.25f; bpp <= 6; bpp *= 2) {
            isec_ccsds_params_init(&p);
            p.dwt = dwt;
            p.bpp = bpp;
            p.segment_blocks = 32;
            uint8_t *out;
            size_t len, ns;
            isec_ccsds_segment *sg;
            CHECK_RC(ct_encode(&img, &p, &out, &len, &sg, &ns), 0);
            for (size_t i = 0; i < ns; i++)
                CHECK(sg[i].length <= sg[i].hdr.seg_byte_limit);
            ct_img dec;
            int res;
            CHECK(ct_decode(out, len, &dec, &res) == 0 && res == 0);
            double q = ct_psnr(&img, &dec);
            if (!(q > prev))
                fprintf(stderr, "dwt %d bpp %.2f: PSNR %.2f after %.2f\n", dwt, bpp, q, prev);
            CHECK(q > prev);
            prev = q;
            ct_free(&dec);
            free(out);
            free(sg);
        }
    }
    /* fixed SegByteLimit with UseFill and 4-byte words: every segment exactly the limit */
    isec_ccsds_params_init(&p);
    p.seg_byte_limit = 200;
    p.use_fill = 1;
    p.word_bytes = 4;
    p.segment_blocks = 40;
    uint8_t *out;
    size_t len, ns;
    isec_ccsds_segment *sg;
    CHECK_RC(ct_encode(&img, &p, &out, &len, &sg, &ns), 0);
    for (size_t i = 0; i < ns; i++)
        CHECK(sg[i].length == 200);
    ct_img dec;
    int res;
    CHECK(ct_decode(out, len, &dec, &res) == 0 && res == 0 && ct_psnr(&img, &dec) > 15);
    ct_free(&dec);
    /* a whole stream cut anywhere: decoded as far as it goes, reported as truncated */
    for (size_t n = 1; n < len; n += 37) {
        int rc = ct_decode(out, n, &dec, &res);
        CHECK(res == ISEC_ETRUNC);
        if (!rc) ct_free(&dec);
    }
    free(out);
    free(sg);
    ct_free(&img);
    checks += 4;
}

int main(void)
{
    layers(ISEC_CCSDS_DWT_INTEGER, 8);
    layers(ISEC_CCSDS_DWT_FLOAT, 8);
    layers(ISEC_CCSDS_DWT_INTEGER, 16);
    limits();
    return tu_finish("ccsds.embedded", checks);
}

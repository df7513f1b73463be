/* Lossless round trips of synthetic images over sizes (17 to 16384 wide), depths 1-16, signed and
 * unsigned, segment sizes, header layouts, word sizes, custom weights and the heuristic k. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ccsdstool.h"
#include "testutil.h"

static int checks;

static void one(uint32_t w, uint32_t h, unsigned depth, int sgn, int kind,
                const isec_ccsds_params *p, const char *what)
{
    ct_img img, dec;
    ct_random(&img, w, h, depth, sgn, kind, w * 31 + h + depth + (unsigned)kind);
    uint8_t *out;
    size_t len, nseg;
    isec_ccsds_segment *segs;
    int rc = ct_encode(&img, p, &out, &len, &segs, &nseg);
    CHECK_RC(rc, 0);
    if (rc) {
        ct_free(&img);
        return;
    }
    int res;
    rc = ct_decode(out, len, &dec, &res);
    int ok = rc == 0 && res == 0;
    if (ok && p->dwt == ISEC_CCSDS_DWT_INTEGER) ok = ct_equal(&img, &dec);
    if (ok && p->dwt == ISEC_CCSDS_DWT_FLOAT)
        ok = ct_psnr(&img, &dec) > 6.02 * depth + 4; /* coefficient rounding only */
    if (!ok)
        fprintf(stderr, "%s: %ux%u depth %u %s kind %d S=%u: decode rc %d res %d\n", what, w, h,
                depth, sgn ? "signed" : "unsigned", kind, p->segment_blocks, rc, res);
    CHECK(ok);
    /* segment bookkeeping: consecutive, layer ends increasing, word aligned */
    size_t off = 0;
    for (size_t i = 0; i < nseg; i++) {
        CHECK(segs[i].offset == off && segs[i].length % p->word_bytes == 0);
        size_t prev = segs[i].dc_end;
        for (unsigned k = 0; k < segs[i].planes; k++) {
            CHECK(segs[i].plane_end[k] >= prev);
            prev = segs[i].plane_end[k];
        }
        CHECK(prev <= segs[i].length);
        off += segs[i].length;
    }
    CHECK(off == len);
    free(segs);
    free(out);
    if (!rc) ct_free(&dec);
    ct_free(&img);
    checks++;
}

int main(void)
{
    isec_ccsds_params p;
    static const uint32_t sizes[][2] = {{17, 17},  {24, 24}, {17, 40}, {33, 17},
                                        {100, 37}, {64, 64}, {203, 19}};
    static const unsigned depths[] = {1, 2, 5, 8, 12, 16};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
        for (size_t d = 0; d < sizeof depths / sizeof depths[0]; d++)
            for (int sgn = 0; sgn < 2; sgn++)
                for (int kind = 0; kind < 4; kind++) {
                    isec_ccsds_params_init(&p);
                    p.segment_blocks = 16 + (unsigned)(kind * 5 + (int)s) % 20;
                    one(sizes[s][0], sizes[s][1], depths[d], sgn, kind, &p, "sizes");
                }
    /* segment sizes, including one-block last segments and S = 2^20 */
    static const uint32_t segs[] = {16, 17, 31, 33, 64, 255, 1u << 20};
    for (size_t i = 0; i < sizeof segs / sizeof segs[0]; i++) {
        isec_ccsds_params_init(&p);
        p.segment_blocks = segs[i];
        one(136, 64, 10, 0, 1, &p, "segments"); /* 17 x 8 = 136 blocks */
        one(136, 64, 16, 1, 0, &p, "segments");
    }
    /* header layouts, words, weights, heuristic, transpose flag */
    for (int v = 0; v < 12; v++) {
        isec_ccsds_params_init(&p);
        p.headers = v & 1 ? ISEC_CCSDS_HEADERS_ALL : ISEC_CCSDS_HEADERS_UNL;
        p.word_bytes = (unsigned[]){1, 2, 3, 4, 5, 8}[v % 6];
        p.heuristic_dc = p.heuristic_ac = (v >> 1) & 1;
        p.transpose = v == 5;
        if (v >= 6) {
            p.custom_weights = 1;
            for (int k = 0; k < 10; k++)
                p.weight_exp[k] = (uint8_t)((k * 7 + v) % 4);
        }
        p.segment_blocks = 20 + (uint32_t)v;
        one(77, 51, 12, v & 1, v % 4, &p, "options");
        one(40, 24, 16, 0, 0, &p, "options");
    }
    /* float DWT without a rate limit: close to the input */
    isec_ccsds_params_init(&p);
    p.dwt = ISEC_CCSDS_DWT_FLOAT;
    one(100, 37, 8, 0, 1, &p, "float");
    one(64, 64, 16, 1, 0, &p, "float");
    /* wide: 16384 columns */
    isec_ccsds_params_init(&p);
    p.segment_blocks = 4096;
    one(16384, 17, 8, 0, 1, &p, "wide");
    one(16384, 17, 16, 0, 0, &p, "wide");
    /* bad arguments */
    ct_img img;
    ct_random(&img, 16, 40, 8, 0, 0, 1);
    isec_ccsds_params_init(&p);
    uint8_t *out;
    size_t len;
    CHECK_RC(ct_encode(&img, &p, &out, &len, NULL, NULL), ISEC_EINVAL); /* width below 17 */
    ct_free(&img);
    ct_random(&img, 20, 20, 8, 0, 0, 1);
    img.px[5] = 256;
    CHECK_RC(ct_encode(&img, &p, &out, &len, NULL, NULL), ISEC_EINVAL); /* sample beyond 8 bits */
    img.px[5] = 0;
    p.segment_blocks = 15;
    CHECK_RC(ct_encode(&img, &p, &out, &len, NULL, NULL), ISEC_EINVAL);
    isec_ccsds_params_init(&p);
    p.word_bytes = 4;
    p.seg_byte_limit = 102;
    CHECK_RC(ct_encode(&img, &p, &out, &len, NULL, NULL), ISEC_EINVAL); /* limit not a whole word */
    ct_free(&img);
    checks += 4;
    return tu_finish("ccsds.roundtrip", checks);
}

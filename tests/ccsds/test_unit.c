/* Unit tests of the CCSDS internals: bit I/O, difference mapping, gaggle coding, headers, code
 * tables, the DWT against a direct transcription of the standard's equations, and the decoder's
 * strip layout. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bpe.h"
#include "header.h"
#include "testutil.h"

static uint32_t rng = 12345;
static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng;
}

static int checks;

static void test_bits(void)
{
    uint8_t buf[4096];
    uint32_t vals[500], lens[500];
    isec__bw w;
    isec__bw_init(&w, buf, sizeof buf);
    for (int i = 0; i < 500; i++) {
        lens[i] = rnd() % 33;
        vals[i] = lens[i] == 32 ? rnd() : rnd() & ((1u << lens[i]) - 1u);
        isec__bw_put(&w, vals[i], lens[i]);
    }
    uint64_t bits = isec__bw_bits(&w);
    isec__bw_align(&w, 1);
    CHECK(!w.overflow && w.pos == (bits + 7) / 8);
    isec__br r;
    isec__br_init(&r, buf, w.pos, 0);
    for (int i = 0; i < 500; i++)
        CHECK(isec__br_get(&r, lens[i]) == vals[i]);
    CHECK(!r.over);
    /* reading past the end gives zeros and sets over */
    isec__br_init(&r, buf, 1, 0);
    (void)isec__br_get(&r, 8);
    CHECK(!r.over);
    CHECK(isec__br_get(&r, 5) == 0 && r.over);
    /* append of an unaligned buffer */
    uint8_t b1[64], b2[64];
    isec__bw a, c;
    isec__bw_init(&a, b1, sizeof b1);
    isec__bw_init(&c, b2, sizeof b2);
    isec__bw_put(&a, 5, 3);
    isec__bw_put(&c, 0x1234567u, 27);
    isec__bw_put(&c, 1, 1);
    isec__bw_append(&a, &c);
    isec__bw_align(&a, 1);
    isec__br_init(&r, b1, a.pos, 0);
    CHECK(isec__br_get(&r, 3) == 5 && isec__br_get(&r, 27) == 0x1234567u &&
          isec__br_get(&r, 1) == 1);
    /* overflow is reported, never written past cap */
    isec__bw_init(&w, buf, 3);
    isec__bw_put(&w, 0xffffffffu, 32);
    isec__bw_align(&w, 1);
    CHECK(w.overflow);
    checks += 6;
}

static void test_mapping(void)
{
    for (unsigned N = 2; N <= 7; N++) {
        int32_t xmin = -(1 << (N - 1)), xmax = (1 << (N - 1)) - 1;
        int ok = 1;
        for (int32_t p = xmin; p <= xmax; p++) {
            uint8_t seen[256] = {0};
            for (int32_t c = xmin; c <= xmax; c++) {
                uint32_t m = isec__map_delta(p, c, xmin, xmax);
                if (m >= (1u << N) || seen[m]++) ok = 0; /* a bijection onto 0..2^N-1 */
                if (isec__unmap_delta(p, m, xmin, xmax) != c) ok = 0;
            }
        }
        CHECK(ok);
        /* equation 19 by example: N=4, previous 3: theta = min(3+8, 7-3) = 4 */
        CHECK(isec__map_delta(3, 5, -8, 7) == 4 && isec__map_delta(3, 1, -8, 7) == 3 &&
              isec__map_delta(3, -6, -8, 7) == 13);
        checks += 2;
    }
    /* AC depth range 0..2^N-1 */
    for (int32_t p = 0; p <= 31; p++)
        for (int32_t c = 0; c <= 31; c++)
            CHECK(isec__unmap_delta(p, isec__map_delta(p, c, 0, 31), 0, 31) == c);
    checks++;
}

static void test_gaggles(void)
{
    uint8_t buf[1 << 16];
    uint32_t v[300], back[300];
    for (int t = 0; t < 400; t++) {
        unsigned N = 2 + rnd() % 9, n = 1 + rnd() % 70;
        int heur = rnd() & 1;
        unsigned spread = rnd() % 4;
        for (unsigned i = 0; i < n; i++) {
            uint32_t x = spread == 0 ? rnd() % 2 : spread == 1 ? rnd() % 5 : rnd();
            v[i] = x & ((1u << N) - 1u);
        }
        isec__bw w;
        isec__bw_init(&w, buf, sizeof buf);
        isec__gaggles_encode(&w, v, n, N, heur);
        isec__bw_align(&w, 1);
        isec__br r;
        isec__br_init(&r, buf, w.pos, 0);
        int bad = 0;
        uint32_t got = isec__gaggles_decode(&r, back, n, N, &bad);
        CHECK(got == n && !bad && !memcmp(v, back, n * sizeof *v));
    }
    /* optimum selection: all zeros in a gaggle of 16 at N=4 costs 15 bits with k=0 vs 60
       uncoded, so the option ID is 00; all values 15 make uncoded (ID 11) the best */
    uint32_t z[16] = {0};
    isec__bw w;
    isec__bw_init(&w, buf, sizeof buf);
    isec__gaggles_encode(&w, z, 16, 4, 0);
    isec__bw_align(&w, 1);
    CHECK(buf[0] >> 6 == 0);
    for (int i = 0; i < 16; i++)
        z[i] = 15;
    isec__bw_init(&w, buf, sizeof buf);
    isec__gaggles_encode(&w, z, 16, 4, 0);
    isec__bw_align(&w, 1);
    CHECK(buf[0] >> 6 == 3);
    /* a lone reference sample (one-block segment) is coded uncoded */
    isec__bw_init(&w, buf, sizeof buf);
    isec__gaggles_encode(&w, z, 1, 4, 0);
    CHECK(isec__bw_bits(&w) == 2 + 4);
    checks += 4;
}

static void test_header(void)
{
    for (int t = 0; t < 200; t++) {
        isec_ccsds_header h, g;
        memset(&h, 0, sizeof h);
        h.start_img = 1;
        h.end_img = rnd() & 1;
        h.segment_count = (uint8_t)rnd();
        h.bitdepth_dc = (uint8_t)(1 + rnd() % 31);
        h.bitdepth_ac = (uint8_t)(rnd() % 32);
        h.part2 = rnd() & 1;
        h.part3 = 1;
        h.part4 = 1;
        h.pad_rows = h.end_img ? (uint8_t)(rnd() % 8) : 0;
        h.seg_byte_limit = h.part2 ? rnd() % (1u << 27) : 0;
        h.dc_stop = h.part2 ? rnd() & 1 : 0;
        h.bitplane_stop = h.part2 ? (uint8_t)(rnd() % 32) : 0;
        h.stage_stop = h.part2 ? (uint8_t)(rnd() % 4) : 3;
        h.use_fill = h.part2 ? rnd() & 1 : 0;
        h.s = 1 + rnd() % (1u << 20);
        h.opt_dc = rnd() & 1;
        h.opt_ac = rnd() & 1;
        h.dwt = rnd() & 1;
        h.signed_pixels = rnd() & 1;
        h.depth = (uint8_t)(1 + rnd() % 16);
        h.width = 17 + rnd() % ((1u << 20) - 17);
        h.transpose = rnd() & 1;
        h.word_bytes = (uint8_t)(1 + rnd() % 8);
        h.custom_weights = rnd() & 1;
        for (int i = 0; i < 10; i++)
            h.weight_exp[i] = (uint8_t)(rnd() % 4);
        if (!h.custom_weights) isec__ccsds_default_weights(h.weight_exp);
        uint8_t buf[32];
        isec__bw w;
        isec__bw_init(&w, buf, sizeof buf);
        isec__hdr_write(&w, &h);
        CHECK(isec__bw_bits(&w) == 8 * isec__hdr_size(&h));
        isec__bw_align(&w, 1);
        memset(&g, 0, sizeof g);
        g.stage_stop = 3;
        isec__br r;
        isec__br_init(&r, buf, w.pos, 0);
        char why[100];
        CHECK_RC(isec__hdr_parse(&r, &g, 1, why, sizeof why), 0);
        CHECK(!memcmp(&h, &g, sizeof h));
    }
    /* Part 4 fields at their bit positions (4.2.5.2): 16-bit unsigned, width 512, 32-bit words */
    isec_ccsds_header h;
    memset(&h, 0, sizeof h);
    h.part4 = 1;
    h.dwt = 1;
    h.depth = 16;
    h.width = 512;
    h.word_bytes = 4;
    uint8_t buf[16];
    isec__bw w;
    isec__bw_init(&w, buf, sizeof buf);
    isec__hdr_write(&w, &h);
    isec__bw_align(&w, 1);
    /* part 1A: 00 00000000 00000 00000 0 0 0 1 -> 00 00 01; part 4: 1 0 0 0 0000 | width (20 bits)
       | TransposeImg 0 | CodeWordLength 110 | CustomWtFlag 0 ... */
    CHECK(buf[0] == 0 && buf[1] == 0 && buf[2] == 1 && buf[3] == 0x80 && buf[4] == 0x00 &&
          buf[5] == 0x20 && buf[6] == 0x06 && buf[7] == 0x00);
    checks += 3;
}

static void test_tables(void)
{
    /* Table 4-14 spot checks and the symbol mappings being bijections */
    CHECK(isec__sym_of[WK_TYPECI][4][0] == 10 && isec__sym_of[WK_TYPECI][4][7] == 12 &&
          isec__sym_of[WK_HIJ][4][7] == 11 && isec__sym_of[WK_HIJ][4][15] == 14);
    CHECK(isec__sym_of[WK_TRAND][3][1] == 3 && isec__sym_of[WK_PLAIN][3][2] == 0 &&
          isec__sym_of[WK_PLAIN][2][1] == 2);
    for (int k = 0; k < 4; k++)
        for (int len = 2; len <= 4; len++)
            for (int wd = 0; wd < (1 << len); wd++) {
                unsigned s = isec__sym_of[k][len][wd];
                if (s != 0xff) CHECK(isec__word_of[k][len][s] == wd);
            }
    /* Table 4-17 option 1: symbol 12 is 0001100 */
    CHECK(isec__vlc[4][1][12] == (7 << 8 | 0x0c));
    CHECK(isec__vlc[3][0][6] == (6 << 8 | 0x06));
    checks += 5;
}

/* ---- DWT against the standard's equations, written out independently */
static int32_t fdiv(int64_t a, int64_t b)
{
    return (int32_t)floor((double)a / (double)b);
}

static void std_int_1d(int32_t *x, size_t n)
{
    size_t N = n / 2;
    int32_t *D = malloc(sizeof *D * N), *C = malloc(sizeof *C * N);
#define X(i) ((int64_t)x[i])
    D[0] = x[1] - fdiv(9 * (X(0) + X(2)) - (X(2) + X(4)) + 8, 16);
    for (size_t j = 1; j + 3 <= N; j++)
        D[j] = x[2 * j + 1] -
               fdiv(9 * (X(2 * j) + X(2 * j + 2)) - (X(2 * j - 2) + X(2 * j + 4)) + 8, 16);
    D[N - 2] = x[2 * N - 3] -
               fdiv(9 * (X(2 * N - 4) + X(2 * N - 2)) - (X(2 * N - 6) + X(2 * N - 2)) + 8, 16);
    D[N - 1] = x[2 * N - 1] - fdiv(9 * X(2 * N - 2) - X(2 * N - 4) + 4, 8);
    C[0] = x[0] - fdiv(-D[0] + 1, 2);
    for (size_t j = 1; j < N; j++)
        C[j] = x[2 * j] - fdiv(-((int64_t)D[j - 1] + D[j]) + 2, 4);
#undef X
    memcpy(x, C, sizeof *C * N);
    memcpy(x + N, D, sizeof *D * N);
    free(C);
    free(D);
}

static void std_int_2d(int32_t *img, size_t w, size_t h)
{
    int32_t *col = malloc(sizeof *col * h);
    for (int l = 0; l < 3; l++) {
        size_t lw = w >> l, lh = h >> l;
        for (size_t r = 0; r < lh; r++)
            std_int_1d(img + r * w, lw);
        for (size_t c = 0; c < lw; c++) {
            for (size_t r = 0; r < lh; r++)
                col[r] = img[r * w + c];
            std_int_1d(col, lh);
            for (size_t r = 0; r < lh; r++)
                img[r * w + c] = col[r];
        }
    }
    free(col);
}

static void test_dwt(void)
{
    static const size_t sz[][2] = {{24, 24}, {48, 24}, {24, 64}, {136, 40}, {32, 32}};
    uint8_t wexp[10];
    isec__ccsds_default_weights(wexp);
    for (size_t t = 0; t < sizeof sz / sizeof sz[0]; t++) {
        size_t w = sz[t][0], h = sz[t][1], n = w * h;
        int32_t *a = malloc(sizeof *a * n), *b = malloc(sizeof *b * n), *o = malloc(sizeof *o * n);
        for (size_t i = 0; i < n; i++)
            a[i] = (int32_t)(rnd() % 65536) - (t & 1 ? 32768 : 0);
        memcpy(b, a, sizeof *a * n);
        memcpy(o, a, sizeof *a * n);
        uint8_t zero[10] = {0};
        CHECK_RC(isec__dwt_int_forward(a, w, h, zero), 0);
        std_int_2d(b, w, h);
        CHECK(!memcmp(a, b, sizeof *a * n));
        CHECK_RC(isec__dwt_int_inverse(a, w, h, zero), 0);
        CHECK(!memcmp(a, o, sizeof *a * n));
        /* with the Table 3-4 weights: LL3 is scaled by 8, HH1 by 1 */
        memcpy(a, o, sizeof *a * n);
        CHECK_RC(isec__dwt_int_forward(a, w, h, wexp), 0);
        CHECK(a[0] == 8 * b[0] && a[n - 1] == b[n - 1]);
        CHECK_RC(isec__dwt_int_inverse(a, w, h, wexp), 0);
        CHECK(!memcmp(a, o, sizeof *a * n));
        /* float: forward (3) against a double-precision convolution, inverse close to identity */
        CHECK_RC(isec__dwt_float_forward(o, a, w, h), 0);
        double *f = malloc(sizeof *f * n), *line = malloc(sizeof *line * (w > h ? w : h));
        for (size_t i = 0; i < n; i++)
            f[i] = o[i];
        static const double hh[5] = {0.852698679009, 0.377402855613, -0.110624404418,
                                     -0.023849465020, 0.037828455507};
        static const double gg[4] = {-0.788485616406, 0.418092273222, 0.040689417609,
                                     -0.064538882629};
        for (int l = 0; l < 3; l++) {
            size_t lw = w >> l, lh = h >> l;
            for (int pass = 0; pass < 2; pass++) {
                size_t lines = pass ? lw : lh, len = pass ? lh : lw;
                for (size_t k = 0; k < lines; k++) {
                    double *src = malloc(sizeof *src * len);
                    for (size_t i = 0; i < len; i++)
                        src[i] = pass ? f[i * w + k] : f[k * w + i];
#define XM(i)                                                                                      \
    src[(i) < 0 ? (size_t)(-(i)) : (size_t)(i) >= len ? 2 * (len - 1) - (size_t)(i) : (size_t)(i)]
                    for (size_t j = 0; j < len / 2; j++) {
                        ptrdiff_t c = (ptrdiff_t)(2 * j);
                        double lo = hh[0] * XM(c), hi = gg[0] * XM(c + 1);
                        for (int m = 1; m <= 4; m++)
                            lo += hh[m] * (XM(c - m) + XM(c + m));
                        for (int m = 1; m <= 3; m++)
                            hi += gg[m] * (XM(c + 1 - m) + XM(c + 1 + m));
                        line[j] = lo;
                        line[len / 2 + j] = hi;
                    }
#undef XM
                    for (size_t i = 0; i < len; i++) {
                        if (pass)
                            f[i * w + k] = line[i];
                        else
                            f[k * w + i] = line[i];
                    }
                    free(src);
                }
            }
        }
        long worst = 0;
        for (size_t i = 0; i < n; i++) {
            long d = labs((long)a[i] - lround(f[i]));
            if (d > worst) worst = d;
        }
        CHECK(worst <= 1);
        CHECK_RC(isec__dwt_float_inverse(a, w, h, 0, 1), 0);
        worst = 0;
        for (size_t i = 0; i < n; i++) {
            long d = labs((long)a[i] - o[i]);
            if (d > worst) worst = d;
        }
        CHECK(worst <= 2);
        free(f);
        free(line);
        free(a);
        free(b);
        free(o);
        checks += 9;
    }
}

/* The decoder's strip layout against the encoder's block positions: blocks gathered from a plane
 * and stored into strips come back as the same plane; the float inverse streamed from the strips
 * gives the in-place inverse's samples bit for bit; strips never received read as zero. */
typedef struct {
    float *dst;
    size_t w;
} rows_ctx;

static void take_row(void *ctx, size_t y, const float *row)
{
    rows_ctx *c = ctx;
    memcpy(c->dst + y * c->w, row, c->w * sizeof *row);
}

static void test_strips(void)
{
    static const size_t dims[][3] = {
        {24, 24, 3}, {40, 32, 4}, {64, 48, 6}, {136, 72, 9}, {32, 24, 2}};
    for (size_t t = 0; t < sizeof dims / sizeof dims[0]; t++) {
        size_t w = dims[t][0], h = dims[t][1], have = dims[t][2], n = w * h, per = w / 8;
        int32_t *plane = malloc(sizeof *plane * n), *back = malloc(sizeof *back * n);
        int32_t *blocks = malloc(sizeof *blocks * n), *rec = malloc(sizeof *rec * n);
        float *got = malloc(sizeof *got * n);
        int32_t **strip = calloc(have, sizeof *strip);
        for (size_t i = 0; i < n; i++)
            plane[i] = (int32_t)(rnd() % 2001) - 1000;
        isec__blocks_gather(plane, w, h, 0, n / 64, blocks);
        /* blocks of block rows never received are zero */
        memset(blocks + have * per * 64, 0, sizeof *blocks * (n - have * per * 64));
        isec__strips s;
        memset(&s, 0, sizeof s);
        isec__strips_layout(&s, w);
        s.strip = strip;
        s.nstrips = have;
        for (size_t r = 0; r < have; r++)
            strip[r] = calloc(8 * w, sizeof **strip);
        for (size_t b = 0; b < have * per; b++)
            for (unsigned k = 0; k < 64; k++)
                strip[b / per][s.off[k] + (b % per) * s.step[k]] = blocks[b * 64 + k];
        isec__strips_to_plane(&s, back, h);
        isec__blocks_gather(back, w, h, 0, n / 64, rec);
        CHECK(!memcmp(rec, blocks, sizeof *rec * n));
        if (have * 8 == h) CHECK(!memcmp(back, plane, sizeof *plane * n));
        /* the same coefficients as floats: streamed inverse = in-place inverse */
        for (size_t r = 0; r < have; r++)
            for (size_t i = 0; i < 8 * w; i++) {
                float f = (float)strip[r][i];
                memcpy(&strip[r][i], &f, sizeof f);
            }
        memcpy(rec, back, sizeof *back * n);
        CHECK_RC(isec__dwt_float_inverse(rec, w, h, 0, 0), 0);
        rows_ctx rc = {got, w};
        CHECK_RC(isec__dwt_float_inverse_strips(&s, h, take_row, &rc), 0);
        CHECK(!memcmp(got, rec, sizeof *got * n));
        /* integers, small and then huge (the 64-bit, saturating steps): streamed = in place */
        static const uint8_t none[10] = {0};
        for (int big = 0; big < 2; big++) {
            for (size_t r = 0; r < have; r++)
                for (size_t i = 0; i < 8 * w; i++)
                    strip[r][i] = big ? (int32_t)rnd() / (1 + (int32_t)(rnd() % 4))
                                      : (int32_t)(rnd() % 2001) - 1000;
            isec__strips_to_plane(&s, rec, h);
            CHECK_RC(isec__dwt_int_inverse(rec, w, h, none), 0);
            CHECK_RC(isec__dwt_int_inverse_strips(&s, h, take_row, &rc), 0);
            CHECK(!memcmp(got, rec, sizeof *got * n));
        }
        for (size_t r = 0; r < have; r++)
            free(strip[r]);
        free(strip);
        free(plane);
        free(back);
        free(blocks);
        free(rec);
        free(got);
    }
}

int main(void)
{
    test_bits();
    test_mapping();
    test_gaggles();
    test_header();
    test_tables();
    test_dwt();
    test_strips();
    return tu_finish("ccsds.unit", checks);
}

/* VCS scheme tests: sheet dimensions, exact-mode stacking, secure-mode statistics, halftoning,
 * ids, digests and the secret file. One CTest entry per argv[1]. */
#include <stdio.h>

#include <openssl/evp.h>

#include "vcstest.h"

static int checks;

static isec_vcs_params params(unsigned mode, unsigned layout, const char *seed)
{
    isec_vcs_params p;
    isec_vcs_params_init(&p);
    p.mode = mode;
    p.layout = layout;
    p.seed = (const uint8_t *)seed;
    p.seed_len = strlen(seed);
    return p;
}

static void test_dims(void)
{
    static const uint32_t sizes[][2] = {{1, 1}, {1, 7}, {7, 1}, {3, 5}, {64, 48}, {65, 33}};
    static const unsigned combos[][2] = {{1, ISEC_VCS_LAYOUT_GRAY}, {3, ISEC_VCS_LAYOUT_CMY},
                                         {1, ISEC_VCS_LAYOUT_PLANES}, {3, ISEC_VCS_LAYOUT_PLANES},
                                         {3, ISEC_VCS_LAYOUT_GRAY}};
    isec_vcs_watermark wm = vt_watermark(5, 3, 1);
    for (unsigned si = 0; si < 6; si++)
        for (unsigned ci = 0; ci < 5; ci++)
            for (unsigned mode = 0; mode < 2; mode++) {
                const uint32_t w = sizes[si][0], h = sizes[si][1];
                const unsigned ch = combos[ci][0];
                uint8_t *px = vt_gray(w, h, ch);
                isec_vcs_image img = {w, h, ch, px};
                isec_vcs_params p = params(mode, combos[ci][1], "dims");
                isec_vcs_share *a = NULL, *b = NULL;
                CHECK_RC(isec_vcs_split(&img, &p, vt_key, &wm, &a, &b), 0);
                checks++;
                if (!a || !b) {
                    free(px);
                    continue;
                }
                const isec_vcs_share_info *ia = isec_vcs_share_get_info(a), *ib = isec_vcs_share_get_info(b);
                CHECK(ia->width == w && ia->height == h && ib->width == w && ib->height == h);
                CHECK(ia->participant == ISEC_VCS_A && ib->participant == ISEC_VCS_B);
                CHECK(ia->nplanes == isec_vcs_planes_count(&img, &p));
                CHECK(isec_vcs_stack_bound(a) == (size_t)w * h *
                      (ia->layout == ISEC_VCS_LAYOUT_GRAY ? 1 : ia->layout == ISEC_VCS_LAYOUT_CMY ? 3 : ia->channels));
                for (unsigned pl = 0; pl < ia->nplanes; pl++)
                    for (unsigned s = 0; s < 4; s++) {
                        const uint8_t *sa = isec_vcs_share_sheet_const(a, pl, s), *sb = isec_vcs_share_sheet_const(b, pl, s);
                        int okv = 1;
                        for (size_t i = 0; i < (size_t)w * h; i++) okv &= sa[i] <= 2 && sb[i] <= 2;
                        CHECK(okv);
                    }
                CHECK(isec_vcs_share_sheet_const(a, ia->nplanes, 0) == NULL);
                CHECK(isec_vcs_share_sheet_const(a, 0, 4) == NULL);
                uint8_t *out = malloc(isec_vcs_stack_bound(a));
                CHECK_RC(isec_vcs_stack(a, b, 0, out, isec_vcs_stack_bound(a)), 0);
                CHECK_RC(isec_vcs_stack(b, a, 0, out, isec_vcs_stack_bound(a)), ISEC_EINVAL);
                CHECK_RC(isec_vcs_stack(a, b, 0, out, isec_vcs_stack_bound(a) - 1), ISEC_EBUFFER);
                free(out);
                isec_vcs_share_free(a);
                isec_vcs_share_free(b);
                free(px);
            }
    /* Bad arguments. */
    uint8_t px1[4] = {0};
    isec_vcs_image bad = {0, 2, 1, px1};
    isec_vcs_params p = params(0, ISEC_VCS_LAYOUT_GRAY, "x");
    isec_vcs_share *a = (isec_vcs_share *)1, *b = (isec_vcs_share *)1;
    CHECK_RC(isec_vcs_split(&bad, &p, vt_key, &wm, &a, &b), ISEC_EINVAL);
    CHECK(a == NULL && b == NULL);
    isec_vcs_image big = {ISEC_VCS_MAX_DIM + 1, 1, 1, px1};
    CHECK_RC(isec_vcs_split(&big, &p, vt_key, &wm, &a, &b), ISEC_ELIMIT);
    isec_vcs_image ok = {2, 2, 1, px1};
    wm.bits[0] = 2;
    CHECK_RC(isec_vcs_split(&ok, &p, vt_key, &wm, &a, &b), ISEC_EINVAL);
    CHECK_RC(isec_vcs_split(&ok, &p, vt_key, NULL, &a, &b), ISEC_EINVAL);
    free(wm.bits);
    checks += 4;
}

/* Every block pattern, in every position, at odd and even sizes; both fills. */
static void test_exact(void)
{
    isec_vcs_watermark wm = vt_watermark(7, 5, 2);
    for (unsigned fill = 0; fill < 2; fill++)
        for (unsigned sz = 0; sz < 2; sz++) {
            const uint32_t w = sz ? 129 : 128, h = sz ? 67 : 64;
            uint8_t *pl = malloc((size_t)w * h), *st = malloc((size_t)w * h);
            uint64_t rs = 7 + sz;
            for (uint32_t by = 0; by < (h + 1) / 2; by++)
                for (uint32_t bx = 0; bx < (w + 1) / 2; bx++) {
                    /* Blocks cycle through the 16 patterns, then random ones. */
                    unsigned q = bx < 16 ? bx : vt_rand(&rs) & 15;
                    for (unsigned j = 0; j < 4; j++) {
                        uint32_t x = 2 * bx + (j & 1), y = 2 * by + (j >> 1);
                        if (x < w && y < h) pl[(size_t)y * w + x] = (q >> j) & 1;
                    }
                }
            isec_vcs_params p = params(ISEC_VCS_EXACT, ISEC_VCS_LAYOUT_GRAY, "exact");
            p.white_fill = fill;
            isec_vcs_share *a, *b;
            CHECK_RC(isec_vcs_split_planes(pl, w, h, ISEC_VCS_LAYOUT_GRAY, 1, &p, vt_key, &wm, &a, &b), 0);
            CHECK_RC(isec_vcs_stack_plane(a, b, 0, st), 0);
            unsigned long nonwhite_bad = 0, white_bad = 0, partial_bad = 0, nonwhite = 0, white = 0;
            for (uint32_t by = 0; by < (h + 1) / 2; by++)
                for (uint32_t bx = 0; bx < (w + 1) / 2; bx++) {
                    unsigned sq = 0, tq = 0, full = 2 * bx + 1 < w && 2 * by + 1 < h, diff = 0;
                    for (unsigned j = 0; j < 4; j++) {
                        uint32_t x = 2 * bx + (j & 1), y = 2 * by + (j >> 1);
                        if (x >= w || y >= h) continue;
                        size_t i = (size_t)y * w + x;
                        sq |= (unsigned)pl[i] << j;
                        tq |= (unsigned)st[i] << j;
                        diff |= pl[i] != st[i];
                    }
                    if (!full) {
                        partial_bad += diff;
                    } else if (sq) {
                        nonwhite++;
                        nonwhite_bad += diff;
                    } else {
                        white++;
                        unsigned pc = (unsigned)__builtin_popcount(tq);
                        white_bad += pc != (fill == ISEC_VCS_FILL_3B1W ? 3u : 1u);
                    }
                    /* Each participant's sheets hold exactly one dot per pixel and per sheet
                     * in a full block: a permutation matrix (3.1). */
                    if (full) {
                        for (unsigned s = 0; s < 4; s++) {
                            const uint8_t *sa = isec_vcs_share_sheet_const(a, 0, s), *sb = isec_vcs_share_sheet_const(b, 0, s);
                            unsigned na = 0, nb = 0;
                            for (unsigned j = 0; j < 4; j++) {
                                size_t i = (size_t)(2 * by + (j >> 1)) * w + 2 * bx + (j & 1);
                                na += sa[i] == ISEC_VCS_PX_W;
                                nb += sb[i] == ISEC_VCS_PX_K;
                                CHECK(sa[i] != ISEC_VCS_PX_K && sb[i] != ISEC_VCS_PX_W);
                            }
                            if (na != 1 || nb != 1) partial_bad++;
                        }
                    }
                }
            CHECK(nonwhite > 100 && white > 5);
            CHECK(nonwhite_bad == 0);
            CHECK(white_bad == 0);
            CHECK(partial_bad == 0);
            checks += 4;
            isec_vcs_share_free(a);
            isec_vcs_share_free(b);
            free(pl);
            free(st);
        }
    free(wm.bits);
}

/* Bit-plane layout: every plane stacks like a gray halftone (exact mode: every non-white block
 * exact), and the recovered value is 255 - the ink of the stacked top bits. */
static void test_planes(void)
{
    const uint32_t w = 64, h = 40;
    const size_t n = (size_t)w * h;
    uint8_t *px = vt_gray(w, h, 3), *pl = malloc(24 * n), *st = malloc(n), *out = malloc(3 * n);
    isec_vcs_watermark wm = vt_watermark(4, 4, 6);
    for (unsigned mode = 0; mode < 2; mode++) {
        isec_vcs_params p = params(mode, ISEC_VCS_LAYOUT_PLANES, "planes");
        isec_vcs_image img = {w, h, 3, px};
        CHECK(isec_vcs_planes_count(&img, &p) == 24);
        CHECK_RC(isec_vcs_binarize(&img, &p, pl), 0);
        /* plane c*8+k is bit 7-k of 255 - channel c */
        int okb = 1;
        for (size_t i = 0; i < n; i++)
            for (unsigned c = 0; c < 3; c++)
                for (unsigned k = 0; k < 8; k++)
                    okb &= pl[(c * 8 + k) * n + i] == (((255u - px[i * 3 + c]) >> (7 - k)) & 1u);
        CHECK(okb);
        isec_vcs_share *a, *b;
        CHECK_RC(isec_vcs_split(&img, &p, vt_key, &wm, &a, &b), 0);
        uint8_t *ink = calloc(3 * n, 1);
        unsigned long bad = 0, blackbad = 0, lost = 0, lost_other = 0;
        /* Polarity: plane i is shared inverted iff bit i of A's share xor B's is set, and the
         * split inverts a plane when that makes the pixels stacking can lose the rarer ones. */
        const uint32_t pol = isec_vcs_share_get_info(a)->polarity ^ isec_vcs_share_get_info(b)->polarity;
        CHECK(isec_vcs_share_get_info(a)->polarity >> 24 == 0 && pol >> 24 == 0);
        for (unsigned c = 0; c < 3; c++)
            for (unsigned k = 0; k < 8; k++) {
                const uint8_t *sp = pl + (c * 8 + k) * n;
                const unsigned inv = (pol >> (c * 8 + k)) & 1u;
                unsigned long w0 = 0, w1 = 0, ones = 0;
                CHECK_RC(isec_vcs_stack_plane(a, b, c * 8 + k, st), 0);
                for (uint32_t by = 0; by < h / 2; by++)
                    for (uint32_t bx = 0; bx < w / 2; bx++) {
                        size_t i0 = (size_t)2 * by * w + 2 * bx, idx[4] = {i0, i0 + 1, i0 + w, i0 + w + 1};
                        /* the plane as shared (inverted or not): its black pixels are safe */
                        unsigned e[4], any = 0, cnt = 0;
                        for (unsigned j = 0; j < 4; j++) {
                            e[j] = sp[idx[j]] ^ inv;
                            any |= e[j];
                            cnt += sp[idx[j]];
                        }
                        w0 += cnt == 0;
                        w1 += cnt == 4;
                        ones += cnt;
                        for (unsigned j = 0; j < 4; j++) {
                            if (mode == ISEC_VCS_EXACT && any) bad += sp[idx[j]] != st[idx[j]];
                            if (mode == ISEC_VCS_SECURE) blackbad += e[j] && sp[idx[j]] != st[idx[j]];
                            lost += sp[idx[j]] != st[idx[j]];
                        }
                    }
                /* the rule: the fewer losable pixels (w = h = even here, so blocks cover all) */
                if (mode == ISEC_VCS_EXACT) CHECK(inv == (w1 < w0));
                else CHECK(inv == (ones < n - ones));
                lost_other += mode == ISEC_VCS_EXACT ? (inv ? w0 : w1) : (inv ? ones : n - ones);
                for (size_t i = 0; i < n; i++) ink[i * 3 + c] |= (uint8_t)(st[i] << (7 - k));
            }
        CHECK(bad == 0 && blackbad == 0);
        printf("mode %u: polarity %06x, %lu pixels lost; %lu losable with the other polarities\n",
               mode, (unsigned)pol, lost, lost_other);
        for (unsigned top = 0; top <= 8; top += 4) {
            CHECK_RC(isec_vcs_stack(a, b, top, out, 3 * n), 0);
            uint8_t mask = (uint8_t)(top ? 0xffu << (8 - top) : 0xffu);
            int okv = 1;
            for (size_t i = 0; i < 3 * n; i++) okv &= out[i] == (uint8_t)(255u - (ink[i] & mask));
            CHECK(okv);
        }
        checks += 6;
        free(ink);
        isec_vcs_share_free(a);
        isec_vcs_share_free(b);
    }
    free(px);
    free(pl);
    free(st);
    free(out);
    free(wm.bits);
}

/* Per pixel: code of one participant's 4 sheets (3^4 values) for the chi-square table. */
static unsigned tuple_code(const isec_vcs_share *s, size_t i)
{
    unsigned c = 0;
    for (unsigned k = 0; k < 4; k++) c = c * 3 + isec_vcs_share_sheet_const(s, 0, k)[i];
    return c;
}
static unsigned top_code(const isec_vcs_share *s, size_t i)
{
    for (int k = 3; k >= 0; k--) {
        uint8_t v = isec_vcs_share_sheet_const(s, 0, (unsigned)k)[i];
        if (v) return 1 + 2 * (unsigned)k + (v == ISEC_VCS_PX_K);
    }
    return 0;
}

/* Chi-square of participant tuple vs secret bit; returns chi2/crit (< 1: no dependence found). */
static double dependence(const isec_vcs_share *s, const uint8_t *secret, size_t n, int top,
                         double *chi2, unsigned *dfo)
{
    uint64_t counts[81 * 2];
    memset(counts, 0, sizeof counts);
    for (size_t i = 0; i < n; i++) counts[2 * (top ? top_code(s, i) : tuple_code(s, i)) + secret[i]]++;
    unsigned df;
    *chi2 = vt_chi2(counts, top ? 9 : 81, &df);
    *dfo = df;
    return *chi2 / vt_chi2_crit(df, 5.0);
}

static void secure_run(const uint8_t *pl, uint32_t w, uint32_t h, const char *what)
{
    const size_t n = (size_t)w * h;
    isec_vcs_watermark wm = vt_watermark(32, 32, 3);
    isec_vcs_params p = params(ISEC_VCS_SECURE, ISEC_VCS_LAYOUT_GRAY, what);
    isec_vcs_share *a, *b;
    CHECK_RC(isec_vcs_split_planes(pl, w, h, ISEC_VCS_LAYOUT_GRAY, 1, &p, vt_key, &wm, &a, &b), 0);
    uint8_t *st = malloc(n);
    CHECK_RC(isec_vcs_stack_plane(a, b, 0, st), 0);
    uint64_t black = 0, black_bad = 0, white = 0, white_ok = 0;
    for (size_t i = 0; i < n; i++) {
        if (pl[i]) {
            black++;
            black_bad += !st[i];
        } else {
            white++;
            white_ok += !st[i];
        }
    }
    double rate = (double)white_ok / (double)white, sigma = sqrt(7.0 / 64.0 / (double)white);
    printf("%s: %llu black (%llu not black), %llu white, white rate %.5f (7/8 = 0.875, sigma %.5f)\n",
           what, (unsigned long long)black, (unsigned long long)black_bad, (unsigned long long)white,
           rate, sigma);
    CHECK(black_bad == 0);
    CHECK(fabs(rate - 0.875) < 6 * sigma);
    for (int part = 0; part < 2; part++)
        for (int top = 0; top < 2; top++) {
            double x2;
            unsigned df;
            double ratio = dependence(part ? b : a, pl, n, top, &x2, &df);
            printf("%s: participant %c, %s: chi2 %.1f, df %u, critical (5 sigma) %.1f\n", what,
                   part ? 'B' : 'A', top ? "top state" : "4-sheet tuple", x2, df, vt_chi2_crit(df, 5.0));
            CHECK(ratio < 1.0);
        }
    checks += 6;
    free(st);
    isec_vcs_share_free(a);
    isec_vcs_share_free(b);
    free(wm.bits);
}

static void test_secure(void)
{
    /* Uniform random secret bits, 512x512; then a halftoned image (structured secret). */
    const uint32_t w = 512, h = 512;
    uint8_t *pl = malloc((size_t)w * h);
    uint64_t s = 99;
    for (size_t i = 0; i < (size_t)w * h; i++) pl[i] = (uint8_t)(vt_rand(&s) >> 11 & 1);
    secure_run(pl, w, h, "random bits");
    uint8_t *g = vt_gray(w, h, 1);
    isec_vcs_params p = params(0, 0, "ht");
    CHECK_RC(isec_vcs_halftone(g, w, h, &p, pl), 0);
    secure_run(pl, w, h, "halftoned test image");
    free(g);
    free(pl);
}

/* The same chi-square finds exact mode's leakage: the test has power. */
static void test_exact_leaks(void)
{
    const uint32_t w = 512, h = 512;
    uint8_t *g = vt_gray(w, h, 1), *pl = malloc((size_t)w * h);
    isec_vcs_params p = params(ISEC_VCS_EXACT, ISEC_VCS_LAYOUT_GRAY, "leak");
    CHECK_RC(isec_vcs_halftone(g, w, h, &p, pl), 0);
    isec_vcs_watermark wm = vt_watermark(32, 32, 3);
    isec_vcs_share *a, *b;
    CHECK_RC(isec_vcs_split_planes(pl, w, h, ISEC_VCS_LAYOUT_GRAY, 1, &p, vt_key, &wm, &a, &b), 0);
    for (int part = 0; part < 2; part++) {
        double x2;
        unsigned df;
        double ratio = dependence(part ? b : a, pl, (size_t)w * h, 0, &x2, &df);
        printf("exact mode, participant %c: chi2 %.1f, df %u (critical %.1f)\n", part ? 'B' : 'A', x2,
               df, vt_chi2_crit(df, 5.0));
        CHECK(ratio > 10.0);
    }
    checks += 2;
    isec_vcs_share_free(a);
    isec_vcs_share_free(b);
    free(wm.bits);
    free(g);
    free(pl);
}

static void test_halftone(void)
{
    const uint32_t w = 128, h = 128;
    uint8_t *in = malloc(w * h), *out = malloc(w * h);
    static const unsigned levels[] = {0, 16, 64, 128, 192, 240, 255};
    for (unsigned k = 0; k < 4; k++)
        for (unsigned serp = 0; serp < 2; serp++)
            for (unsigned gam = 0; gam < 2; gam++)
                for (unsigned li = 0; li < 7; li++) {
                    isec_vcs_params p = params(0, 0, "h");
                    p.halftone = k;
                    p.serpentine = (int)serp;
                    p.gamma = gam;
                    memset(in, (int)levels[li], w * h);
                    CHECK_RC(isec_vcs_halftone(in, w, h, &p, out), 0);
                    size_t black = 0;
                    for (size_t i = 0; i < w * h; i++) black += out[i];
                    double c = levels[li] / 255.0;
                    double lin = gam ? (c <= 0.04045 ? c / 12.92 : pow((c + 0.055) / 1.055, 2.4)) : c;
                    double want = 1.0 - lin, got = (double)black / (w * h);
                    if (k == ISEC_VCS_HT_NONE) want = (gam ? 255 * lin : levels[li]) < 128 ? 1.0 : 0.0;
                    if (fabs(got - want) > 0.01)
                        fprintf(stderr, "kernel %u serp %u gamma %u level %u: black %.4f want %.4f\n",
                                k, serp, gam, levels[li], got, want);
                    CHECK(fabs(got - want) <= 0.01);
                    checks++;
                }
    isec_vcs_params p = params(0, 0, "h");
    p.halftone = 9;
    CHECK_RC(isec_vcs_halftone(in, w, h, &p, out), ISEC_EINVAL);
    free(in);
    free(out);
}

static void test_ids_digest(void)
{
    uint8_t k2[ISEC_VCS_KEY_LEN], t1[16], t2[16], w1[16], w2[16];
    memcpy(k2, vt_key, sizeof k2);
    k2[31] ^= 1;
    isec_vcs_table_id(vt_key, t1);
    isec_vcs_table_id(k2, t2);
    CHECK(memcmp(t1, t2, 16) != 0);
    isec_vcs_table_id(vt_key, t2);
    CHECK(memcmp(t1, t2, 16) == 0);
    isec_vcs_watermark wm = vt_watermark(9, 9, 5);
    CHECK_RC(isec_vcs_watermark_id(&wm, w1), 0);
    wm.bits[80] ^= 1;
    CHECK_RC(isec_vcs_watermark_id(&wm, w2), 0);
    CHECK(memcmp(w1, w2, 16) != 0);
    /* Same seed, same shares; another seed, other shares; no seed: fresh each time. */
    uint8_t *g = vt_gray(40, 30, 1);
    isec_vcs_image img = {40, 30, 1, g};
    uint8_t d[4][32];
    const char *seeds[4] = {"s1", "s1", "s2", NULL};
    for (int i = 0; i < 4; i++) {
        isec_vcs_params p = params(ISEC_VCS_EXACT, ISEC_VCS_LAYOUT_GRAY, seeds[i] ? seeds[i] : "");
        if (!seeds[i]) p.seed = NULL;
        isec_vcs_share *a, *b;
        CHECK_RC(isec_vcs_split(&img, &p, vt_key, &wm, &a, &b), 0);
        CHECK_RC(isec_vcs_share_digest(b, d[i]), 0);
        CHECK(memcmp(isec_vcs_share_get_info(a)->table_id, t1, 16) == 0);
        if (i == 0) {
            /* any other sheet value changes the digest; a byte that is no sheet value counts
             * as transparent (as it is written to a file) */
            uint8_t e[32], *px = isec_vcs_share_sheet(b, 0, 2) + 17;
            const uint8_t v = *px;
            for (uint8_t o = 1; o < 3; o++) {
                *px = (uint8_t)((v + o) % 3);
                CHECK_RC(isec_vcs_share_digest(b, e), 0);
                CHECK(memcmp(e, d[0], 32) != 0);
            }
            *px = ISEC_VCS_PX_T;
            uint8_t t[32];
            CHECK_RC(isec_vcs_share_digest(b, t), 0);
            *px = 7;
            CHECK_RC(isec_vcs_share_digest(b, e), 0);
            CHECK(memcmp(e, t, 32) == 0);
            *px = v;
            checks += 3;
        }
        isec_vcs_share_free(a);
        isec_vcs_share_free(b);
    }
    CHECK(memcmp(d[0], d[1], 32) == 0);
    CHECK(memcmp(d[0], d[2], 32) != 0);
    CHECK(memcmp(d[0], d[3], 32) != 0);
    checks += 8;
    free(g);
    free(wm.bits);
}

/* Share digest v2 (vcs.h) from its definition: the bytes hashed, built pixel by pixel here. */
static void digest_ref(const isec_vcs_share *s, uint8_t out[32])
{
    const isec_vcs_share_info *in = isec_vcs_share_get_info(s);
    const size_t row = (in->width + 3) / 4;
    const size_t n = 19 + 12 + (size_t)in->nplanes * 4 * in->height * row + 12;
    uint8_t *m = calloc(n, 1), *o = m;
    memcpy(o, "imgsec-vcs-share-v2", 19);
    o += 19;
    for (int k = 0; k < 4; k++) o[k] = (uint8_t)(in->width >> (24 - 8 * k));
    for (int k = 0; k < 4; k++) o[4 + k] = (uint8_t)(in->height >> (24 - 8 * k));
    o[8] = (uint8_t)in->participant, o[9] = (uint8_t)in->layout, o[10] = (uint8_t)in->nplanes;
    o[11] = 4;
    o += 12;
    for (unsigned p = 0; p < in->nplanes; p++)
        for (unsigned sh = 0; sh < 4; sh++) {
            const uint8_t *px = isec_vcs_share_sheet_const(s, p, sh);
            for (uint32_t y = 0; y < in->height; y++, o += row)
                for (uint32_t x = 0; x < in->width; x++) {
                    const uint8_t v = px[(size_t)y * in->width + x];
                    const unsigned code = v == ISEC_VCS_PX_W ? 3 : v == ISEC_VCS_PX_K ? 1 : 2;
                    o[x / 4] |= (uint8_t)(code << (6 - 2 * (x % 4)));
                }
        }
    if (in->polarity) {
        memcpy(o, "polarity", 8);
        for (int k = 0; k < 4; k++) o[8 + k] = (uint8_t)(in->polarity >> (24 - 8 * k));
        o += 12;
    }
    EVP_Digest(m, (size_t)(o - m), out, NULL, EVP_sha256(), NULL);
    free(m);
}

static void hex32(const uint8_t d[32], char out[65])
{
    for (int i = 0; i < 32; i++) snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* Share digest v2: two tiny hand-made shares against known answers (computed with Python's
 * hashlib from the definition in vcs.h; the first also with `openssl dgst` when recorded), random
 * shares of widths around the packer's steps against digest_ref, and isec_vcs_canon_rows on
 * every byte value. */
static void test_digest_v2(void)
{
    static const struct {
        uint32_t w, h;
        unsigned participant, layout, channels, nplanes;
        uint32_t polarity;
        const char *want;
    } kat[] = {
        {5, 3, ISEC_VCS_B, ISEC_VCS_LAYOUT_GRAY, 1, 1, 0,
         "d20823e96ea94256850d35a46ee8c00de00171807e214f23cdbeaee2ddf21262"},
        {6, 2, ISEC_VCS_A, ISEC_VCS_LAYOUT_PLANES, 1, 8, 0xa5,
         "5baaaca0c229e379edc65a0c3c5f90685d2b58fbeaf7f28e28c280fb89481ede"},
    };
    for (unsigned k = 0; k < 2; k++) {
        isec_vcs_share_info info;
        memset(&info, 0, sizeof info);
        info.width = kat[k].w, info.height = kat[k].h, info.participant = kat[k].participant;
        info.layout = kat[k].layout, info.channels = kat[k].channels, info.nplanes = kat[k].nplanes;
        info.polarity = kat[k].polarity;
        isec_vcs_share *s = NULL;
        CHECK_RC(isec_vcs_share_new(&s, &info), 0);
        if (!s) continue;
        for (unsigned p = 0; p < info.nplanes; p++)
            for (unsigned sh = 0; sh < 4; sh++)
                for (uint32_t y = 0; y < info.height; y++)
                    for (uint32_t x = 0; x < info.width; x++)
                        isec_vcs_share_sheet(s, p, sh)[y * info.width + x] =
                            (uint8_t)(k == 0 ? (x + 2 * y + sh) % 3 : (3 * x + y + p + 2 * sh) % 3);
        uint8_t d[32], r[32];
        char hx[65];
        CHECK_RC(isec_vcs_share_digest(s, d), 0);
        hex32(d, hx);
        CHECK(!strcmp(hx, kat[k].want));
        digest_ref(s, r);
        CHECK(!memcmp(d, r, 32));
        isec_vcs_share_free(s);
        checks += 3;
    }
    uint64_t seed = 77;
    static const uint32_t widths[] = {1, 2, 3, 4, 5, 7, 8, 9, 63, 64, 65, 67, 130, 257};
    for (unsigned wi = 0; wi < sizeof widths / sizeof widths[0]; wi++) {
        isec_vcs_share_info info;
        memset(&info, 0, sizeof info);
        info.width = widths[wi], info.height = 3, info.layout = ISEC_VCS_LAYOUT_PLANES;
        info.channels = 1, info.nplanes = 8, info.polarity = wi & 1 ? 0x81 : 0;
        info.participant = wi & 1;
        isec_vcs_share *s = NULL;
        CHECK_RC(isec_vcs_share_new(&s, &info), 0);
        if (!s) continue;
        for (unsigned p = 0; p < 8; p++)
            for (unsigned sh = 0; sh < 4; sh++) {
                uint8_t *px = isec_vcs_share_sheet(s, p, sh);
                for (uint32_t i = 0; i < info.width * 3; i++) px[i] = (uint8_t)(vt_rand(&seed) % 3);
            }
        uint8_t d[32], r[32];
        CHECK_RC(isec_vcs_share_digest(s, d), 0);
        digest_ref(s, r);
        CHECK(!memcmp(d, r, 32));
        isec_vcs_share_free(s);
        checks += 2;
    }
    /* canonical rows: every byte value in every position of 3 rows of widths 1..9 and 57..72
     * (the vector steps); the result is what isec_vcs_pack_row makes of the pixels the bytes
     * mean (00 = T; pad bits ignored) */
    for (uint32_t w = 1; w <= 72; w = w == 9 ? 57 : w + 1) {
        const size_t row = ISEC_VCS_PACKED_ROW(w);
        int ok = row == (w + 3) / 4;
        for (unsigned v = 0; v < 256; v++) {
            uint8_t rows[54], px[72], want[18];
            for (size_t i = 0; i < 3 * row; i++) rows[i] = (uint8_t)(v + 37 * i);
            for (unsigned r = 0; r < 3; r++) {
                for (uint32_t x = 0; x < w; x++) {
                    const unsigned c = (rows[r * row + x / 4] >> (6 - 2 * (x % 4))) & 3;
                    px[x] = c == 3 ? ISEC_VCS_PX_W : c == 1 ? ISEC_VCS_PX_K : ISEC_VCS_PX_T;
                }
                isec_vcs_pack_row(px, w, want);
                isec_vcs_canon_rows(rows + r * row, 1, w);
                ok &= !memcmp(rows + r * row, want, row);
            }
            for (size_t i = 0; i < 3 * row; i++) rows[i] = (uint8_t)(v + 37 * i);
            uint8_t one[54];
            memcpy(one, rows, 3 * row);
            isec_vcs_canon_rows(one, 3, w); /* several rows at once: the same */
            for (unsigned r = 0; r < 3; r++) isec_vcs_canon_rows(rows + r * row, 1, w);
            ok &= !memcmp(one, rows, 3 * row);
        }
        CHECK(ok);
        checks++;
    }
}

static void test_secret_file(void)
{
    isec_vcs_watermark wm = vt_watermark(13, 7, 9), back;
    uint8_t *buf, key[ISEC_VCS_KEY_LEN];
    size_t len;
    CHECK_RC(isec_vcs_secret_encode(vt_key, &wm, &buf, &len), 0);
    CHECK(len == 8 + 32 + 8 + (13 * 7 + 7) / 8 + 32);
    CHECK_RC(isec_vcs_secret_decode(buf, len, key, &back), 0);
    CHECK(!memcmp(key, vt_key, 32) && back.width == 13 && back.height == 7 &&
          !memcmp(back.bits, wm.bits, 13 * 7));
    isec_vcs_watermark_clear(&back);
    CHECK(back.bits == NULL);
    for (size_t i = 0; i < len; i++) { /* every single-byte change is caught */
        buf[i] ^= 0x10;
        int rc = isec_vcs_secret_decode(buf, len, key, &back);
        CHECK(rc < 0 && back.bits == NULL);
        buf[i] ^= 0x10;
    }
    for (size_t l = 0; l < len; l++) CHECK(isec_vcs_secret_decode(buf, l, key, &back) < 0);
    uint8_t big[48] = {'I', 'S', 'E', 'C', 'V', 'C', 'S', '1'};
    big[41] = 0x10; /* width 1 << 20 */
    big[47] = 1;
    CHECK_RC(isec_vcs_secret_decode(big, sizeof big, key, &back), ISEC_ELIMIT);
    checks += (int)(2 * len) + 4;
    free(buf);
    free(wm.bits);
}

int main(int argc, char **argv)
{
    const char *t = argc > 1 ? argv[1] : "";
    if (!strcmp(t, "dims")) test_dims();
    else if (!strcmp(t, "exact")) test_exact();
    else if (!strcmp(t, "secure")) test_secure();
    else if (!strcmp(t, "exact_leaks")) test_exact_leaks();
    else if (!strcmp(t, "halftone")) test_halftone();
    else if (!strcmp(t, "planes")) test_planes();
    else if (!strcmp(t, "ids")) test_ids_digest();
    else if (!strcmp(t, "secret")) test_secret_file();
    else if (!strcmp(t, "digest")) test_digest_v2();
    else {
        fprintf(stderr, "usage: test_vcs_scheme dims|exact|planes|secure|exact_leaks|halftone|ids|secret|digest\n");
        return 2;
    }
    return tu_finish(t, checks);
}

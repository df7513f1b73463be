/* Zero watermark: NC 1 on genuine sheets in every mode and layout; low NC on swapped sheets, on
 * sheets forged to show another image, and under a wrong key; robustness to salt-and-pepper. */
#include <stdio.h>

#include "vcstest.h"

static int checks;

static void split(const uint8_t *px, uint32_t w, uint32_t h, unsigned ch, unsigned mode,
                  unsigned layout, const char *seed, const isec_vcs_watermark *wm,
                  isec_vcs_share **a, isec_vcs_share **b)
{
    isec_vcs_params p;
    isec_vcs_params_init(&p);
    p.mode = mode;
    p.layout = layout;
    p.seed = (const uint8_t *)seed;
    p.seed_len = strlen(seed);
    isec_vcs_image img = {w, h, ch, px};
    CHECK_RC(isec_vcs_split(&img, &p, vt_key, wm, a, b), 0);
}

static isec_vcs_wm_result extract(const isec_vcs_share *a, const isec_vcs_share *b,
                                  const uint8_t *key, const isec_vcs_watermark *wm)
{
    isec_vcs_wm_result r;
    uint8_t *bits = malloc((size_t)wm->width * wm->height);
    CHECK_RC(isec_vcs_watermark_extract(a, b, key, wm, bits, &r), 0);
    free(bits);
    return r;
}

static void test_genuine(void)
{
    static const unsigned combos[][3] = {{1, ISEC_VCS_LAYOUT_GRAY, 0}, {3, ISEC_VCS_LAYOUT_CMY, 0},
                                         {3, ISEC_VCS_LAYOUT_PLANES, 0}, {1, ISEC_VCS_LAYOUT_PLANES, 0}};
    isec_vcs_watermark wm = vt_watermark(32, 24, 11);
    for (unsigned mode = 0; mode < 2; mode++)
        for (unsigned c = 0; c < 4; c++) {
            const uint32_t w = 257, h = 130;
            uint8_t *px = vt_gray(w, h, combos[c][0]);
            isec_vcs_share *a, *b;
            split(px, w, h, combos[c][0], mode, combos[c][1], "genuine", &wm, &a, &b);
            isec_vcs_wm_result r = extract(a, b, vt_key, &wm);
            printf("mode %u layout %u: NC %.4f BER %.4f blocks %llu invalid %llu erasures %llu\n", mode,
                   combos[c][1], r.nc, r.ber, (unsigned long long)r.blocks,
                   (unsigned long long)r.invalid, (unsigned long long)r.erasures);
            CHECK(r.nc == 1.0 && r.ber == 0.0 && r.block_ber == 0.0 && r.invalid == 0);
            CHECK(r.blocks + r.erasures == (uint64_t)(w / 2) * (h / 2) * isec_vcs_share_get_info(a)->nplanes);
            CHECK(mode == ISEC_VCS_SECURE || r.erasures == 0);
            CHECK_RC(isec_vcs_watermark_extract(b, a, vt_key, &wm, NULL, &r), ISEC_EINVAL);
            checks += 4;
            isec_vcs_share_free(a);
            isec_vcs_share_free(b);
            free(px);
        }
    free(wm.bits);
}

/* A from one split, B from another of a different image with the same key and watermark. */
static void test_swapped(void)
{
    isec_vcs_watermark wm = vt_watermark(32, 32, 12);
    const uint32_t w = 256, h = 256;
    for (unsigned mode = 0; mode < 2; mode++) {
        uint8_t *p1 = vt_gray(w, h, 1), *p2 = vt_gray(w, h, 1);
        for (size_t i = 0; i < (size_t)w * h; i++) p2[i] = (uint8_t)(255 - p2[i]);
        isec_vcs_share *a1, *b1, *a2, *b2;
        split(p1, w, h, 1, mode, ISEC_VCS_LAYOUT_GRAY, "one", &wm, &a1, &b1);
        split(p2, w, h, 1, mode, ISEC_VCS_LAYOUT_GRAY, "two", &wm, &a2, &b2);
        isec_vcs_wm_result r = extract(a1, b2, vt_key, &wm);
        printf("swapped, mode %u: NC %.4f BER %.4f invalid %llu of %llu\n", mode, r.nc, r.ber,
               (unsigned long long)r.invalid, (unsigned long long)r.blocks);
        CHECK(r.nc < 0.75 && r.ber > 0.25);
        CHECK(r.invalid > r.blocks / 2);
        r = extract(a1, b1, vt_key, &wm);
        CHECK(r.nc == 1.0);
        checks += 2;
        isec_vcs_share_free(a1);
        isec_vcs_share_free(b1);
        isec_vcs_share_free(a2);
        isec_vcs_share_free(b2);
        free(p1);
        free(p2);
    }
    free(wm.bits);
}

/* The cheating attack of 2.2: B, knowing A's sheets, remakes its own so the stack shows the
 * inverted image, with sheets that are structurally valid. Only the keyed watermark notices. */
static void test_forged(void)
{
    isec_vcs_watermark wm = vt_watermark(32, 32, 13);
    const uint32_t w = 256, h = 256;
    const size_t n = (size_t)w * h;
    uint8_t *px = vt_gray(w, h, 1), *st0 = malloc(n), *st1 = malloc(n);
    /* exact mode: per block, roll B's dots by another r (another valid table entry) */
    isec_vcs_share *a, *b;
    split(px, w, h, 1, ISEC_VCS_EXACT, ISEC_VCS_LAYOUT_GRAY, "forge", &wm, &a, &b);
    CHECK_RC(isec_vcs_stack_plane(a, b, 0, st0), 0);
    uint8_t *bs[4];
    for (unsigned s = 0; s < 4; s++) bs[s] = isec_vcs_share_sheet(b, 0, s);
    uint64_t rs = 5;
    for (size_t i = 0; i < n; i += 2) {
        size_t y = i / w;
        if (y & 1) {
            i += w - 2;
            continue;
        }
        unsigned dr = 1 + vt_rand(&rs) % 3; /* same roll change for the block's 4 pixels */
        size_t idx[4] = {i, i + 1, i + w, i + w + 1};
        unsigned where[4];
        for (unsigned j = 0; j < 4; j++)
            for (unsigned s = 0; s < 4; s++)
                if (bs[s][idx[j]] == ISEC_VCS_PX_K) where[j] = s;
        for (unsigned j = 0; j < 4; j++) {
            bs[where[j]][idx[j]] = ISEC_VCS_PX_T;
            bs[(where[j] + dr) & 3][idx[j]] = ISEC_VCS_PX_K;
        }
    }
    CHECK_RC(isec_vcs_stack_plane(a, b, 0, st1), 0);
    size_t changed = 0;
    for (size_t i = 0; i < n; i++) changed += st0[i] != st1[i];
    isec_vcs_wm_result r = extract(a, b, vt_key, &wm);
    printf("forged exact: %.1f%% of pixels changed; NC %.4f BER %.4f block-BER %.4f invalid %llu\n",
           100.0 * (double)changed / (double)n, r.nc, r.ber, r.block_ber, (unsigned long long)r.invalid);
    CHECK(changed > n / 3);
    CHECK(r.invalid == 0); /* structurally valid ... */
    CHECK(r.nc < 0.75 && r.ber > 0.3 && r.block_ber > 0.4); /* ... but caught */
    isec_vcs_share_free(a);
    isec_vcs_share_free(b);

    /* secure mode: B swaps each pixel to the other state coupled with A's, flipping black and
     * white (its hidden dots dropped). */
    split(px, w, h, 1, ISEC_VCS_SECURE, ISEC_VCS_LAYOUT_GRAY, "forge", &wm, &a, &b);
    CHECK_RC(isec_vcs_stack_plane(a, b, 0, st0), 0);
    static const int8_t b_level[8] = {0, 1, 2, 3, 2, 1, 0, -1};
    static const uint8_t b_color[8] = {2, 2, 2, 2, 1, 1, 1, 0};
    static const int8_t a_level[8] = {-1, 1, 2, 3, 3, 2, 1, 0};
    static const uint8_t a_color[8] = {0, 1, 1, 1, 2, 2, 2, 2};
    const uint8_t *as[4];
    for (unsigned s = 0; s < 4; s++) as[s] = isec_vcs_share_sheet_const(a, 0, s);
    for (unsigned s = 0; s < 4; s++) bs[s] = isec_vcs_share_sheet(b, 0, s);
    for (size_t i = 0; i < n; i++) {
        int top = -1;
        for (int s = 3; s >= 0; s--)
            if (bs[s][i]) {
                top = s;
                break;
            }
        int u = -1;
        for (int k = 0; k < 8; k++)
            if (b_level[k] == top && (top < 0 || b_color[k] == bs[top][i])) u = k;
        /* A's state r is coupled with u == r (black) or u == r-1 (white): take the other. */
        int atop = -1;
        for (int s = 3; s >= 0; s--)
            if (as[s][i]) {
                atop = s;
                break;
            }
        int ra = -1;
        for (int k = 0; k < 8; k++)
            if (a_level[k] == atop && (atop < 0 || a_color[k] == as[atop][i])) ra = k;
        int nu = u == ra ? (ra + 7) & 7 : ra;
        for (unsigned s = 0; s < 4; s++) bs[s][i] = 0;
        if (b_level[nu] >= 0) bs[b_level[nu]][i] = b_color[nu];
    }
    CHECK_RC(isec_vcs_stack_plane(a, b, 0, st1), 0);
    changed = 0;
    for (size_t i = 0; i < n; i++) changed += st0[i] != st1[i];
    r = extract(a, b, vt_key, &wm);
    printf("forged secure: %.1f%% of pixels changed; NC %.4f BER %.4f block-BER %.4f invalid %llu\n",
           100.0 * (double)changed / (double)n, r.nc, r.ber, r.block_ber, (unsigned long long)r.invalid);
    CHECK(changed > n / 2);
    CHECK(r.invalid == 0);
    CHECK(r.nc < 0.75 && r.ber > 0.3);
    checks += 6;
    isec_vcs_share_free(a);
    isec_vcs_share_free(b);
    free(px);
    free(st0);
    free(st1);
    free(wm.bits);
}

/* A forged region of 1/8 of the image: the tiled vote still gives a high NC, the block-level
 * error rate exposes it. */
static void test_forged_region(void)
{
    isec_vcs_watermark wm = vt_watermark(32, 32, 16);
    const uint32_t w = 256, h = 256;
    uint8_t *px = vt_gray(w, h, 1);
    isec_vcs_share *a, *b;
    split(px, w, h, 1, ISEC_VCS_EXACT, ISEC_VCS_LAYOUT_GRAY, "region", &wm, &a, &b);
    uint8_t *bs[4];
    for (unsigned s = 0; s < 4; s++) bs[s] = isec_vcs_share_sheet(b, 0, s);
    uint64_t rs = 9;
    for (uint32_t by = 0; by < h / 16; by++) /* top eighth of the block rows */
        for (uint32_t bx = 0; bx < w / 2; bx++) {
            size_t i = (size_t)2 * by * w + 2 * bx, idx[4] = {i, i + 1, i + w, i + w + 1};
            unsigned dr = 1 + vt_rand(&rs) % 3, where[4] = {0, 0, 0, 0};
            for (unsigned j = 0; j < 4; j++)
                for (unsigned s = 0; s < 4; s++)
                    if (bs[s][idx[j]] == ISEC_VCS_PX_K) where[j] = s;
            for (unsigned j = 0; j < 4; j++) {
                bs[where[j]][idx[j]] = ISEC_VCS_PX_T;
                bs[(where[j] + dr) & 3][idx[j]] = ISEC_VCS_PX_K;
            }
        }
    isec_vcs_wm_result r = extract(a, b, vt_key, &wm);
    printf("forged region (1/8 of blocks): NC %.4f BER %.4f block-BER %.4f invalid %llu\n", r.nc,
           r.ber, r.block_ber, (unsigned long long)r.invalid);
    CHECK(r.invalid == 0);
    CHECK(r.block_ber > 0.04 && r.block_ber < 0.09); /* about half the forged eighth */
    checks += 2;
    isec_vcs_share_free(a);
    isec_vcs_share_free(b);
    free(px);
    free(wm.bits);
}

static void test_wrong_key(void)
{
    isec_vcs_watermark wm = vt_watermark(16, 16, 14);
    uint8_t *px = vt_gray(200, 200, 1), k2[32];
    memcpy(k2, vt_key, 32);
    k2[0] ^= 0x80;
    for (unsigned mode = 0; mode < 2; mode++) {
        isec_vcs_share *a, *b;
        split(px, 200, 200, 1, mode, ISEC_VCS_LAYOUT_GRAY, "key", &wm, &a, &b);
        isec_vcs_wm_result r = extract(a, b, k2, &wm);
        printf("wrong key, mode %u: NC %.4f BER %.4f\n", mode, r.nc, r.ber);
        CHECK(r.nc < 0.75 && r.ber > 0.3);
        checks++;
        isec_vcs_share_free(a);
        isec_vcs_share_free(b);
    }
    free(px);
    free(wm.bits);
}

/* Salt-and-pepper noise on B's sheets (Table 6): a fraction d of sheet pixels made opaque black
 * or white at random. The tiled watermark's majority vote keeps NC high at small d. */
static void test_noise(void)
{
    isec_vcs_watermark wm = vt_watermark(32, 32, 15);
    const uint32_t w = 512, h = 512;
    uint8_t *px = vt_gray(w, h, 1);
    for (unsigned mode = 0; mode < 2; mode++) {
        isec_vcs_share *a, *b;
        split(px, w, h, 1, mode, ISEC_VCS_LAYOUT_GRAY, "noise", &wm, &a, &b);
        uint64_t rs = 77;
        for (unsigned s = 0; s < 4; s++) {
            uint8_t *sh = isec_vcs_share_sheet(b, 0, s);
            for (size_t i = 0; i < (size_t)w * h; i++)
                if (vt_rand(&rs) % 1000 < 5) sh[i] = (vt_rand(&rs) & 1) ? ISEC_VCS_PX_K : ISEC_VCS_PX_W;
        }
        isec_vcs_wm_result r = extract(a, b, vt_key, &wm);
        printf("salt and pepper 0.5%% of B's sheet pixels, mode %u: NC %.4f BER %.4f block-BER %.4f\n",
               mode, r.nc, r.ber, r.block_ber);
        printf("  invalid %llu of %llu blocks\n", (unsigned long long)r.invalid, (unsigned long long)r.blocks);
        CHECK(r.invalid > 0); /* the noise did hit blocks */
        CHECK(r.nc > 0.95);
        checks += 2;
        isec_vcs_share_free(a);
        isec_vcs_share_free(b);
    }
    free(px);
    free(wm.bits);
}

/* A copy of s with another polarity share (the sheets unchanged). */
static isec_vcs_share *with_polarity(const isec_vcs_share *s, uint32_t polarity)
{
    isec_vcs_share_info info = *isec_vcs_share_get_info(s);
    info.polarity = polarity;
    isec_vcs_share *t = NULL;
    CHECK_RC(isec_vcs_share_new(&t, &info), 0);
    for (unsigned pl = 0; pl < info.nplanes; pl++)
        for (unsigned k = 0; k < 4; k++)
            memcpy(isec_vcs_share_sheet(t, pl, k), isec_vcs_share_sheet_const(s, pl, k),
                   (size_t)info.width * info.height);
    return t;
}

/* Bit planes: the polarities are shared (A's share uniform, A xor B fixed by the image), the
 * watermark covers them (one plane's polarity changed: that plane's blocks all vote wrong), and
 * so does the digest. */
static void test_polarity(void)
{
    isec_vcs_watermark wm = vt_watermark(16, 16, 13);
    const uint32_t w = 130, h = 66;
    uint8_t *px = vt_gray(w, h, 3);
    for (unsigned mode = 0; mode < 2; mode++) {
        uint32_t pol = 0, or_a = 0, and_a = ~0u;
        for (unsigned s = 0; s < 16; s++) {
            char seed[16];
            snprintf(seed, sizeof seed, "pol%u", s);
            isec_vcs_share *a, *b;
            split(px, w, h, 3, mode, ISEC_VCS_LAYOUT_PLANES, seed, &wm, &a, &b);
            const uint32_t pa = isec_vcs_share_get_info(a)->polarity, pb = isec_vcs_share_get_info(b)->polarity;
            if (s == 0) pol = pa ^ pb;
            CHECK((pa ^ pb) == pol && pa >> 24 == 0 && pb >> 24 == 0);
            or_a |= pa;
            and_a &= pa;
            if (s == 0) {
                isec_vcs_share *b2 = with_polarity(b, pb ^ 1u); /* plane 0 (R's MSB) flipped */
                isec_vcs_wm_result r = extract(a, b, vt_key, &wm), r2 = extract(a, b2, vt_key, &wm);
                printf("mode %u: polarity %06x; genuine block-BER %.4f, one polarity flipped %.4f\n",
                       mode, (unsigned)pol, r.block_ber, r2.block_ber);
                CHECK(r.block_ber == 0.0 && r2.block_ber > 0.02 && r2.invalid == 0);
                uint8_t d1[32], d2[32];
                CHECK_RC(isec_vcs_share_digest(b, d1), 0);
                CHECK_RC(isec_vcs_share_digest(b2, d2), 0);
                CHECK(memcmp(d1, d2, 32) != 0);
                isec_vcs_share_free(b2);
                checks += 2;
            }
            isec_vcs_share_free(a);
            isec_vcs_share_free(b);
        }
        /* A's share is random: over 16 splits every one of the 24 bits took both values
         * (a fixed bit would show up with probability 2^-15 per bit) */
        CHECK(or_a == 0xffffffu && and_a == 0);
        checks += 2;
    }
    free(px);
    free(wm.bits);
}

int main(int argc, char **argv)
{
    const char *t = argc > 1 ? argv[1] : "";
    if (!strcmp(t, "genuine")) test_genuine();
    else if (!strcmp(t, "swapped")) test_swapped();
    else if (!strcmp(t, "forged")) test_forged();
    else if (!strcmp(t, "wrong_key")) test_wrong_key();
    else if (!strcmp(t, "forged_region")) test_forged_region();
    else if (!strcmp(t, "noise")) test_noise();
    else if (!strcmp(t, "polarity")) test_polarity();
    else {
        fprintf(stderr, "usage: test_vcs_watermark genuine|swapped|forged|forged_region|wrong_key|noise|polarity\n");
        return 2;
    }
    return tu_finish(t, checks);
}

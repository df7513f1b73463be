/* Secure mode: per pixel, each participant's sheets are independent of the secret; black is
 * always black, white is white with probability 7/8 (optimal with 4 sheets each: docs/vcs.md).
 *
 * Only the topmost opaque pixel of each participant matters when stacking, so a participant's
 * pixel is one of the states below (level = own sheet 0..3, colour), and the sheets under it are
 * hidden. Index r (A) and u (B) walk a 16-cycle of states: pair (A r, B u=r) always shows black,
 * pair (A r, B u=r-1 mod 8) shows white except for r = 4. Picking r uniformly makes A uniform
 * over its 8 states and B uniform over its 8 whatever the secret.
 *
 * Watermark: the hidden sheets (below each participant's top pixel) hold random T/W bits; per
 * full 2x2 block, bit = parity(code bits of both participants' top states & K) ^ parity(hidden
 * W pixels) ^ m, with K (32 bits) and m from the keyed per-block stream. The split fixes the
 * bit by flipping one uniformly chosen hidden pixel; a block with no hidden pixel is an erasure. */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "internal.h"

static const int8_t a_level[8] = {-1, 1, 2, 3, 3, 2, 1, 0};
static const uint8_t a_color[8] = {0, ISEC_VCS_PX_W, ISEC_VCS_PX_W, ISEC_VCS_PX_W,
                                   ISEC_VCS_PX_K, ISEC_VCS_PX_K, ISEC_VCS_PX_K, ISEC_VCS_PX_K};
static const int8_t b_level[8] = {0, 1, 2, 3, 2, 1, 0, -1};
static const uint8_t b_color[8] = {ISEC_VCS_PX_K, ISEC_VCS_PX_K, ISEC_VCS_PX_K, ISEC_VCS_PX_K,
                                   ISEC_VCS_PX_W, ISEC_VCS_PX_W, ISEC_VCS_PX_W, 0};

/* 0 none, 1+2*level white, 2+2*level black. */
static unsigned code_of(int level, uint8_t color)
{
    return level < 0 ? 0 : (unsigned)(1 + 2 * level + (color == ISEC_VCS_PX_K));
}

static unsigned parity32(uint32_t x)
{
    x ^= x >> 16;
    x ^= x >> 8;
    x ^= x >> 4;
    x ^= x >> 2;
    x ^= x >> 1;
    return x & 1;
}

/* Bytes 0..3 of x to bytes 0, 2, 4, 6 of the result. */
static inline uint64_t spread4(uint32_t x)
{
    uint64_t v = x;
    v = (v | v << 16) & 0x0000ffff0000ffffu;
    return (v | v << 8) & 0x00ff00ff00ff00ffu;
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* A participant's 4 sheet bytes at one pixel for each state and each 4-bit random mask (the
 * hidden dots under the top pixel: W where the mask bit is set), with the hidden dots' parity and
 * count: the split writes every pixel from this table without branching on the state. */
typedef struct {
    uint8_t v[4], par, nh, code;
} pix_tab;

static void make_tab(pix_tab t[8][16], const int8_t *lv, const uint8_t *col)
{
    for (unsigned st = 0; st < 8; st++)
        for (unsigned m = 0; m < 16; m++) {
            pix_tab *p = &t[st][m];
            const int level = lv[st];
            p->par = 0;
            p->nh = (uint8_t)(level > 0 ? level : 0);
            p->code = (uint8_t)code_of(level, col[st]);
            for (int k = 0; k < 4; k++) {
                uint8_t v = ISEC_VCS_PX_T;
                if (k == level) v = col[st];
                else if (k < level && ((m >> k) & 1)) v = ISEC_VCS_PX_W;
                p->v[k] = v;
                if (k < level) p->par ^= (uint8_t)((m >> k) & 1);
            }
        }
}

/* Both participants' pixel for one secret pixel, indexed by 12 bits: 11 random bits (r: 3,
 * A's hidden mask: 4, B's hidden mask: 4) and the secret bit (bit 11). B's state is r if the
 * pixel is black and r - 1 mod 8 if it is white. */
typedef struct {
    uint8_t a[4], b[4];
    uint8_t par, nha, nhb, pad;
    uint32_t content; /* A's code | B's code << 16 (shifted by 4 j for pixel j of the block) */
} pair_tab;

static void make_pair_tab(pair_tab *t)
{
    pix_tab ta[8][16], tb[8][16];
    make_tab(ta, a_level, a_color);
    make_tab(tb, b_level, b_color);
    for (unsigned i = 0; i < 4096; i++) {
        const unsigned r = i & 7, u = (i >> 11) ? r : (r + 7) & 7;
        const pix_tab *pa = &ta[r][(i >> 3) & 15], *pb = &tb[u][(i >> 7) & 15];
        pair_tab *e = &t[i];
        memcpy(e->a, pa->v, 4);
        memcpy(e->b, pb->v, 4);
        e->par = (uint8_t)(pa->par ^ pb->par);
        e->nha = pa->nh;
        e->nhb = pb->nh;
        e->pad = 0;
        e->content = (uint32_t)pa->code | (uint32_t)pb->code << 16;
    }
}

/* One row of pixels, 16 at a time with GCC/clang vector extensions (SSE2/NEON), the tail from
 * the table: both participants' 4 sheet bytes, and per pixel for the block pass info[x] =
 * hidden parity (bit 0) | A's hidden count << 1 | B's << 3, codes[x] = A's code | B's << 4.
 * Random input per pixel: lo[x] | hi[x] << 8, of which 11 bits are used as in pair_tab. */
typedef uint8_t v16 __attribute__((vector_size(16)));

static inline v16 splat(uint8_t x)
{
    v16 v;
    memset(&v, x, sizeof v);
    return v;
}

static void row_pixels(const uint8_t *plane, const uint8_t *lo, const uint8_t *hi, uint32_t w,
                       uint8_t *const as[4], uint8_t *const bs[4], const pair_tab *tab,
                       uint8_t *info, uint8_t *codes)
{
    uint32_t x = 0;
    const v16 one = splat(1), seven = splat(7), W = splat(ISEC_VCS_PX_W), K = splat(ISEC_VCS_PX_K);
    for (; x + 16 <= w; x += 16) {
        v16 vl, vh, vp;
        memcpy(&vl, lo + x, 16);
        memcpy(&vh, hi + x, 16);
        memcpy(&vp, plane + x, 16);
        const v16 blk = (v16)(vp != splat(0)) & one;
        const v16 r = vl & seven, ma = (vl >> 3) & splat(15);
        const v16 mb = (vl >> 7) | ((vh & seven) << 1);
        const v16 u = (r + seven + blk) & seven;
        /* A: state r: none (0), W on sheet r (1..3), K on sheet 7-r (4..7) */
        const v16 alt4 = (v16)(r < splat(4)), anone = (v16)(r == splat(0));
        const v16 alv = (alt4 & r) | (~alt4 & (seven - r)), acol = (alt4 & W) | (~alt4 & K);
        /* B: state u: K on sheet u (0..3), W on sheet 6-u (4..6), none (7) */
        const v16 blt4 = (v16)(u < splat(4)), bnone = (v16)(u == seven);
        const v16 blv = ((blt4 & u) | (~blt4 & (splat(6) - u))) & ~bnone, bcol = (blt4 & K) | (~blt4 & W);
        v16 par = splat(0);
        for (unsigned k = 0; k < 4; k++) {
            const v16 kk = splat((uint8_t)k);
            const v16 atop = (v16)(alv == kk) & ~anone, btop = (v16)(blv == kk) & ~bnone;
            const v16 ahid = (v16)(alv > kk) & (v16)(((ma >> k) & one) == one);
            const v16 bhid = (v16)(blv > kk) & (v16)(((mb >> k) & one) == one);
            const v16 va = (atop & acol) | (ahid & W), vb = (btop & bcol) | (bhid & W);
            memcpy(as[k] + x, &va, 16);
            memcpy(bs[k] + x, &vb, 16);
            par ^= (ahid ^ bhid) & one;
        }
        /* codes: 0 none, 1 + 2 level (W), 2 + 2 level (K) */
        const v16 acode = (one + alv + alv + ((v16)(acol == K) & one)) & ~anone;
        const v16 bcode = (one + blv + blv + ((v16)(bcol == K) & one)) & ~bnone;
        const v16 inf = par | (alv << 1) | (blv << 3), cod = acode | (bcode << 4);
        memcpy(info + x, &inf, 16);
        memcpy(codes + x, &cod, 16);
    }
    for (; x < w; x++) {
        const unsigned rnd = ((unsigned)lo[x] | (unsigned)hi[x] << 8) & 0x7ffu;
        const pair_tab *e = &tab[rnd | (plane[x] ? 0x800u : 0u)];
        for (unsigned k = 0; k < 4; k++) {
            as[k][x] = e->a[k];
            bs[k][x] = e->b[k];
        }
        info[x] = (uint8_t)(e->par | e->nha << 1 | e->nhb << 3);
        codes[x] = (uint8_t)((e->content & 15u) | (e->content >> 16) << 4);
    }
}

int isec__vcs_secure_split(const uint8_t *plane, unsigned pi, const uint8_t key[ISEC_VCS_KEY_LEN],
                           const isec_vcs_watermark *wm, isec__vcs_rng *rng, uint8_t *ks,
                           isec_vcs_share *a, isec_vcs_share *b)
{
    const uint32_t w = a->info.width, h = a->info.height;
    const uint32_t bw = (w + 1) / 2;
    uint8_t *as[4], *bs[4];
    int rc = isec__vcs_split_begin(a, b, pi, key, ks, as, bs);
    if (rc < 0) return rc;
    /* A plane shared inverted carries the inverted watermark: a changed polarity fails it. */
    const unsigned pol = ((a->info.polarity ^ b->info.polarity) >> pi) & 1u;
    pair_tab *tab = malloc(4096 * sizeof *tab);
    uint8_t *tmp = malloc((size_t)w * 6); /* lo, hi, and info + codes of two rows */
    if (!tab || !tmp) {
        free(tab);
        free(tmp);
        return ISEC_ENOMEM;
    }
    make_pair_tab(tab);
    uint8_t *lo = tmp, *hi = tmp + w, *info[2] = {tmp + 2 * (size_t)w, tmp + 3 * (size_t)w},
            *codes[2] = {tmp + 4 * (size_t)w, tmp + 5 * (size_t)w};
    for (uint32_t y = 0; y < h; y++) {
        const size_t row = (size_t)y * w;
        uint8_t *ra[4], *rb[4];
        for (unsigned k = 0; k < 4; k++) {
            ra[k] = as[k] + row;
            rb[k] = bs[k] + row;
        }
        memcpy(lo, isec__vcs_rng_take(rng, w), w);
        memcpy(hi, isec__vcs_rng_take(rng, w), w);
        row_pixels(plane + row, lo, hi, w, ra, rb, tab, info[y & 1], codes[y & 1]);
        if (!(y & 1) || w < 2) continue;
        /* Row pair done: the watermark bit of every full block. */
        const uint32_t by = y / 2;
        const uint8_t *wrow = wm->bits + (size_t)(by % wm->height) * wm->width;
        uint32_t wx = 0; /* bx % wm->width, kept without dividing */
        const uint8_t *i0 = info[0], *i1 = info[1], *c0 = codes[0], *c1 = codes[1];
        const uint8_t *kb = ks + 8 * ((size_t)by * bw);
        for (uint32_t bx = 0; bx < w / 2; bx++, wx = wx + 1 == wm->width ? 0 : wx + 1) {
            const uint32_t x = 2 * bx;
            /* pixel j = 0 (x, y-1), 1 (x+1, y-1), 2 (x, y), 3 (x+1, y) */
            const unsigned in = (unsigned)i0[x] | (unsigned)i0[x + 1] << 8 |
                                (unsigned)i1[x] << 16 | (unsigned)i1[x + 1] << 24;
            const unsigned hsum = ((in >> 1) & 0x03030303u) + ((in >> 3) & 0x03030303u);
            const unsigned nh = (hsum * 0x01010101u) >> 24;
            if (!nh) continue;
            const unsigned cd = (unsigned)c0[x] | (unsigned)c0[x + 1] << 8 | (unsigned)c1[x] << 16 |
                                (unsigned)c1[x + 1] << 24;
            /* A's codes (low nibbles) to bits 4j, B's (high nibbles) to bits 16 + 4j */
            const uint32_t ca = cd & 0x0f0f0f0fu, cb = (cd >> 4) & 0x0f0f0f0fu;
            const uint32_t content = (ca & 15u) | ((ca >> 4) & 0xf0u) | ((ca >> 8) & 0xf00u) |
                                     ((ca >> 12) & 0xf000u) | (cb & 15u) << 16 |
                                     ((cb >> 4) & 0xf0u) << 16 | ((cb >> 8) & 0xf00u) << 16 |
                                     ((cb >> 12) & 0xf000u) << 16;
            const unsigned par = parity32(in & 0x01010101u);
            const uint8_t *k = kb + 8 * (size_t)bx;
            unsigned bit = parity32(content & rd32(k)) ^ par ^ (k[4] & 1u);
            if (bit != (wrow[wx] ^ pol)) {
                /* Flip one hidden dot chosen uniformly among the block's nh, in the order pixel
                 * 0 A, pixel 0 B, pixel 1 A, ...: the 8 hidden counts as bytes, their prefix
                 * sums by one multiplication (at most 24, no carries), and the owner c of dot
                 * number pick is the number of prefix sums <= pick (compared bytewise). */
                unsigned pick = isec__vcs_rng_below(rng, nh);
                const uint64_t ones = 0x0101010101010101u;
                const uint64_t pre = (spread4((in >> 1) & 0x03030303u) |
                                      spread4((in >> 3) & 0x03030303u) << 8) * ones;
                const uint64_t le = ((0x80u + (uint64_t)pick) * ones - pre) & (ones << 7);
                const unsigned c = (unsigned)(((le >> 7) * ones) >> 56); /* bytes set */
                pick -= (unsigned)(((pre << 8) >> (8 * c)) & 0xffu);
                const size_t at = (size_t)(y - 1 + ((c >> 1) >> 1)) * w + x + ((c >> 1) & 1);
                uint8_t *cell = &((c & 1) ? bs : as)[pick][at];
                *cell = *cell == ISEC_VCS_PX_W ? ISEC_VCS_PX_T : ISEC_VCS_PX_W;
            }
        }
    }
    OPENSSL_cleanse(tmp, (size_t)w * 6);
    free(tmp);
    free(tab);
    return rng->failed ? ISEC_ECRYPTO : 0;
}

/* What a participant's 4 sheet bytes at one pixel say, for each of the 81 combinations of
 * T/W/K (code v0 + 3 v1 + 9 v2 + 27 v3): state index (-1: a state the construction never makes,
 * or a black hidden dot), top-state code, hidden W parity and hidden dot count. */
typedef struct {
    int8_t state;
    uint8_t code, par, nh;
} view_tab;

static void make_view_tab(view_tab t[81], const int8_t *lv, const uint8_t *col)
{
    for (unsigned c = 0; c < 81; c++) {
        uint8_t v[4];
        for (unsigned k = 0, x = c; k < 4; k++, x /= 3) v[k] = (uint8_t)(x % 3);
        int k = 3;
        while (k >= 0 && v[k] == ISEC_VCS_PX_T) k--;
        view_tab *e = &t[c];
        e->state = -1;
        e->par = 0;
        e->nh = (uint8_t)(k > 0 ? k : 0);
        int bad = 0;
        for (int i = 0; i < k; i++) {
            if (v[i] == ISEC_VCS_PX_W) e->par ^= 1;
            else if (v[i] != ISEC_VCS_PX_T) bad = 1;
        }
        const uint8_t color = k >= 0 ? v[k] : 0;
        e->code = (uint8_t)code_of(k, color);
        if (bad) continue;
        for (int i = 0; i < 8; i++)
            if (lv[i] == k && (k < 0 || col[i] == color)) e->state = (int8_t)i;
    }
}

/* Cell codes of a row (internal.h): v0 + 3 v1 + 9 v2 + 27 v3, 81 where a byte is not a sheet
 * value; vectors of 16 with a scalar tail. */
void isec__vcs_cell_codes(const uint8_t *const s[4], size_t off, uint32_t n, uint8_t *out)
{
    uint32_t x = 0;
    const v16 two = splat(ISEC_VCS_PX_K), bad = splat(81);
    for (; x + 16 <= n; x += 16) {
        v16 v0, v1, v2, v3;
        memcpy(&v0, s[0] + off + x, 16);
        memcpy(&v1, s[1] + off + x, 16);
        memcpy(&v2, s[2] + off + x, 16);
        memcpy(&v3, s[3] + off + x, 16);
        const v16 over = (v16)(v0 > two) | (v16)(v1 > two) | (v16)(v2 > two) | (v16)(v3 > two);
        const v16 c = v0 + v1 * 3 + v2 * 9 + v3 * 27;
        const v16 r = (over & bad) | (~over & c);
        memcpy(out + x, &r, 16);
    }
    const uint8_t *const s0 = s[0] + off, *const s1 = s[1] + off, *const s2 = s[2] + off,
                         *const s3 = s[3] + off;
    for (; x < n; x++) {
        const unsigned v0 = s0[x], v1 = s1[x], v2 = s2[x], v3 = s3[x];
        const int over = v0 > ISEC_VCS_PX_K || v1 > ISEC_VCS_PX_K || v2 > ISEC_VCS_PX_K ||
                         v3 > ISEC_VCS_PX_K;
        out[x] = over ? 81 : (uint8_t)(v0 + 3 * v1 + 9 * v2 + 27 * v3);
    }
}

/* What a pixel's pair of cell codes (A's, B's) says, as 16 bits: bit 15 set when the pair is
 * one the construction never makes (or a byte is not a sheet value); else A's top-state code
 * (bits 0-3), B's (4-7), the hidden W parity (bit 8) and the hidden dot count (bits 9-11). */
#define PAIR_BAD 0x8000u

static void make_pair_view(uint16_t *t)
{
    view_tab vta[81], vtb[81];
    make_view_tab(vta, a_level, a_color);
    make_view_tab(vtb, b_level, b_color);
    for (unsigned ca = 0; ca < 82; ca++)
        for (unsigned cb = 0; cb < 82; cb++) {
            uint16_t e = PAIR_BAD;
            if (ca < 81 && cb < 81) {
                const view_tab *ea = &vta[ca], *eb = &vtb[cb];
                const int r = ea->state, u = eb->state;
                if (r >= 0 && u >= 0 && (u == r || u == ((r + 7) & 7)))
                    e = (uint16_t)(ea->code | eb->code << 4 | (ea->par ^ eb->par) << 8 |
                                   (ea->nh + eb->nh) << 9);
            }
            t[ca * 82 + cb] = e;
        }
}

int isec__vcs_secure_extract(const isec_vcs_share *a, const isec_vcs_share *b, unsigned pi,
                             const uint8_t key[ISEC_VCS_KEY_LEN], const isec_vcs_watermark *wm,
                             uint8_t *ks, isec__vcs_votes *v)
{
    const uint32_t w = a->info.width, h = a->info.height;
    const uint32_t bw = (w + 1) / 2; /* blocks per row of the watermark stream */
    const uint8_t *as[4], *bs[4];
    int rc = isec__vcs_extract_begin(a, b, pi, key, ks, as, bs);
    if (rc < 0) return rc;
    const unsigned pol = ((a->info.polarity ^ b->info.polarity) >> pi) & 1u;
    uint16_t *pv = malloc(82 * 82 * sizeof *pv);
    uint8_t *cc = malloc((size_t)w * 4); /* cell codes: A row 0, A row 1, B row 0, B row 1 */
    if (!pv || !cc) {
        free(pv);
        free(cc);
        return ISEC_ENOMEM;
    }
    make_pair_view(pv);
    const uint8_t *ca[2] = {cc, cc + w}, *cb[2] = {cc + 2 * (size_t)w, cc + 3 * (size_t)w};
    for (uint32_t by = 0; by < h / 2; by++) {
        const size_t row0 = (size_t)(2 * by) * w;
        isec__vcs_cell_codes(as, row0, w, cc);
        isec__vcs_cell_codes(as, row0 + w, w, cc + w);
        isec__vcs_cell_codes(bs, row0, w, cc + 2 * (size_t)w);
        isec__vcs_cell_codes(bs, row0 + w, w, cc + 3 * (size_t)w);
        const size_t wrow = (size_t)(by % wm->height) * wm->width;
        const uint8_t *kb = ks + 8 * ((size_t)by * bw);
        uint32_t wx = 0;
        for (uint32_t bx = 0; bx < w / 2; bx++, wx = wx + 1 == wm->width ? 0 : wx + 1) {
            const uint32_t x = 2 * bx;
            const unsigned e0 = pv[ca[0][x] * 82u + cb[0][x]],
                           e1 = pv[ca[0][x + 1] * 82u + cb[0][x + 1]],
                           e2 = pv[ca[1][x] * 82u + cb[1][x]],
                           e3 = pv[ca[1][x + 1] * 82u + cb[1][x + 1]];
            const unsigned all = e0 | e1 | e2 | e3;
            const unsigned nh = (e0 >> 9) + (e1 >> 9) + (e2 >> 9) + (e3 >> 9); /* if not bad */
            if (!(all & PAIR_BAD) && !nh) {
                v->erasures++;
                continue;
            }
            v->blocks++;
            if (all & PAIR_BAD) {
                v->invalid++; /* counted, not voted */
                continue;
            }
            const uint32_t content = (e0 & 15u) | (e1 & 15u) << 4 | (e2 & 15u) << 8 |
                                     (e3 & 15u) << 12 | ((e0 >> 4) & 15u) << 16 |
                                     ((e1 >> 4) & 15u) << 20 | ((e2 >> 4) & 15u) << 24 |
                                     ((e3 >> 4) & 15u) << 28;
            const unsigned par = ((e0 ^ e1 ^ e2 ^ e3) >> 8) & 1u;
            const uint8_t *k = kb + 8 * (size_t)bx;
            const unsigned bit = parity32(content & rd32(k)) ^ par ^ (k[4] & 1u) ^ pol;
            const size_t wi = wrow + wx;
            if (bit != wm->bits[wi]) v->wrong++;
            if (bit) v->votes1[wi]++;
            else v->votes0[wi]++;
        }
    }
    OPENSSL_cleanse(cc, (size_t)w * 4);
    free(cc);
    free(pv);
    return 0;
}

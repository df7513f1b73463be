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
        for (uint32_t bx = 0; bx < w / 2; bx++, wx = wx + 1 == wm->width ? 0 : wx + 1) {
            const uint32_t x = 2 * bx;
            const uint8_t in[4] = {info[0][x], info[0][x + 1], info[1][x], info[1][x + 1]};
            const uint8_t cd[4] = {codes[0][x], codes[0][x + 1], codes[1][x], codes[1][x + 1]};
            unsigned nh = 0, par = 0, hid[8];
            uint32_t content = 0;
            for (unsigned j = 0; j < 4; j++) {
                par ^= in[j] & 1u;
                hid[2 * j] = (in[j] >> 1) & 3u;
                hid[2 * j + 1] = (in[j] >> 3) & 3u;
                nh += hid[2 * j] + hid[2 * j + 1];
                content |= (uint32_t)(cd[j] & 15u) << (4 * j) | (uint32_t)(cd[j] >> 4) << (16 + 4 * j);
            }
            if (!nh) continue;
            const uint8_t *k = ks + 8 * ((size_t)by * bw + bx);
            unsigned bit = parity32(content & rd32(k)) ^ par ^ (k[4] & 1u);
            if (bit != (wrow[wx] ^ pol)) {
                /* Flip one hidden dot chosen uniformly among the block's nh. */
                unsigned pick = isec__vcs_rng_below(rng, nh), c = 0;
                while (pick >= hid[c]) pick -= hid[c++];
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
    view_tab vta[81], vtb[81];
    make_view_tab(vta, a_level, a_color);
    make_view_tab(vtb, b_level, b_color);
    for (uint32_t by = 0; by < h / 2; by++) {
        const size_t wrow = (size_t)(by % wm->height) * wm->width;
        uint32_t wx = 0;
        for (uint32_t bx = 0; bx < w / 2; bx++, wx = wx + 1 == wm->width ? 0 : wx + 1) {
            const size_t i0 = (size_t)(2 * by) * w + 2 * bx;
            const size_t idx[4] = {i0, i0 + 1, i0 + w, i0 + w + 1};
            const size_t wi = wrow + wx;
            const unsigned expect = wm->bits[wi];
            unsigned par = 0, nh = 0, ok = 1;
            uint32_t content = 0;
            for (unsigned j = 0; j < 4 && ok; j++) {
                const unsigned ca = isec__vcs_cell_code(as, idx[j]), cb = isec__vcs_cell_code(bs, idx[j]);
                if (ca > 80 || cb > 80) {
                    ok = 0;
                    break;
                }
                const view_tab *ea = &vta[ca], *eb = &vtb[cb];
                const int r = ea->state, u = eb->state;
                if (r < 0 || u < 0 || (u != r && u != ((r + 7) & 7))) ok = 0;
                par ^= (unsigned)(ea->par ^ eb->par);
                nh += (unsigned)(ea->nh + eb->nh);
                content |= (uint32_t)ea->code << (4 * j);
                content |= (uint32_t)eb->code << (16 + 4 * j);
            }
            unsigned bit;
            if (ok && !nh) {
                v->erasures++;
                continue;
            }
            v->blocks++;
            if (!ok) {
                v->invalid++; /* counted, not voted */
                continue;
            } else {
                const uint8_t *k = ks + 8 * ((size_t)by * bw + bx);
                bit = parity32(content & rd32(k)) ^ par ^ (k[4] & 1u) ^ pol;
            }
            if (bit != expect) v->wrong++;
            if (bit) v->votes1[wi]++;
            else v->votes0[wi]++;
        }
    }
    return 0;
}

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
#include <string.h>

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

int isec__vcs_secure_split(const uint8_t *plane, unsigned pi, const uint8_t key[ISEC_VCS_KEY_LEN],
                           const isec_vcs_watermark *wm, isec__vcs_rng *rng, uint8_t *ks,
                           isec_vcs_share *a, isec_vcs_share *b)
{
    const uint32_t w = a->info.width, h = a->info.height;
    const uint32_t bw = (w + 1) / 2, bh = (h + 1) / 2;
    uint8_t *as[4], *bs[4];
    int rc = isec__vcs_split_begin(a, b, pi, key, ks, as, bs);
    if (rc < 0) return rc;
    pix_tab ta[8][16], tb[8][16];
    make_tab(ta, a_level, a_color);
    make_tab(tb, b_level, b_color);
    for (uint32_t by = 0; by < bh; by++) {
        const uint8_t *wrow = wm->bits + (size_t)(by % wm->height) * wm->width;
        uint32_t wx = 0; /* bx % wm->width, kept without dividing */
        for (uint32_t bx = 0; bx < bw; bx++, wx = wx + 1 == wm->width ? 0 : wx + 1) {
            const uint32_t x = 2 * bx, y = 2 * by;
            const int full = x + 1 < w && y + 1 < h;
            unsigned nh = 0, par = 0, hid[8] = {0};
            size_t at[4] = {0};
            uint32_t content = 0;
            for (unsigned j = 0; j < 4; j++) {
                const uint32_t px = x + (j & 1), py = y + (j >> 1);
                if (px >= w || py >= h) continue;
                const size_t idx = (size_t)py * w + px;
                /* 11 random bits: r (3), A's hidden mask (4), B's hidden mask (4). */
                const unsigned rnd = (unsigned)isec__vcs_rng_byte(rng) | (unsigned)isec__vcs_rng_byte(rng) << 8;
                const unsigned r = rnd & 7, u = plane[idx] ? r : (r + 7) & 7;
                const pix_tab *pa = &ta[r][(rnd >> 3) & 15], *pb = &tb[u][(rnd >> 7) & 15];
                for (unsigned k = 0; k < 4; k++) {
                    as[k][idx] = pa->v[k];
                    bs[k][idx] = pb->v[k];
                }
                par ^= (unsigned)(pa->par ^ pb->par);
                nh += (unsigned)(pa->nh + pb->nh);
                hid[2 * j] = pa->nh;
                hid[2 * j + 1] = pb->nh;
                at[j] = idx;
                content |= (uint32_t)pa->code << (4 * j);
                content |= (uint32_t)pb->code << (16 + 4 * j);
            }
            if (!full || !nh) continue;
            const uint8_t *k = ks + 8 * ((size_t)by * bw + bx);
            unsigned bit = parity32(content & rd32(k)) ^ par ^ (k[4] & 1u);
            if (bit != wrow[wx]) {
                /* Flip one hidden dot chosen uniformly among the block's nh. */
                unsigned pick = isec__vcs_rng_below(rng, nh), c = 0;
                while (pick >= hid[c]) pick -= hid[c++];
                uint8_t *cell = &((c & 1) ? bs : as)[pick][at[c >> 1]];
                *cell = *cell == ISEC_VCS_PX_W ? ISEC_VCS_PX_T : ISEC_VCS_PX_W;
            }
        }
    }
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
                bit = parity32(content & rd32(k)) ^ par ^ (k[4] & 1u);
            }
            if (bit != expect) v->wrong++;
            if (bit) v->votes1[wi]++;
            else v->votes0[wi]++;
        }
    }
    return 0;
}

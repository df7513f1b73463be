/* Exact mode (paper 3.1-3.2, 3.4): per 2x2 block, an arrangement from the query table whose
 * stacked block equals the secret's block; the arrangement's keyed position carries one
 * watermark bit. */
#include <string.h>

#include "internal.h"

/* Watermark class of an entry: its keyed position rotated by the block's keyed offset t, upper
 * half = 1. The rotation differs from block to block, so equal arrangements in two blocks say
 * nothing about their bits. */
/* The block's offset t in [0, n): 16 stream bits scaled to n (multiply-shift, no division). */
static unsigned block_offset(const uint8_t *ks, unsigned n)
{
    return (((unsigned)ks[0] << 8 | ks[1]) * n) >> 16;
}

static unsigned entry_class(unsigned pos, unsigned n, const uint8_t *ks)
{
    unsigned u = pos + block_offset(ks, n);
    if (u >= n) u -= n;
    return u >= n / 2;
}

static unsigned choose_pos(unsigned n, unsigned bit, const uint8_t *ks, isec__vcs_rng *rng)
{
    unsigned u = isec__vcs_rng_below(rng, n / 2) + bit * (n / 2);
    u += n - block_offset(ks, n);
    return u >= n ? u - n : u;
}

int isec__vcs_exact_split(const uint8_t *plane, unsigned pi, const isec_vcs_params *p,
                          const isec__vcs_table *t, const uint8_t key[ISEC_VCS_KEY_LEN],
                          const isec_vcs_watermark *wm, isec__vcs_rng *rng, uint8_t *ks,
                          isec_vcs_share *a, isec_vcs_share *b)
{
    const uint32_t w = a->info.width, h = a->info.height;
    const uint32_t bw = (w + 1) / 2, bh = (h + 1) / 2;
    uint8_t *as[4], *bs[4];
    int rc = isec__vcs_split_begin(a, b, pi, key, ks, as, bs);
    if (rc < 0) return rc;
    const unsigned fill_pop = p->white_fill == ISEC_VCS_FILL_1B3W ? 1 : 3;
    /* A plane shared inverted carries the inverted watermark: a changed polarity fails it. */
    const unsigned pol = ((a->info.polarity ^ b->info.polarity) >> pi) & 1u;
    for (uint32_t by = 0; by < bh; by++) {
        const uint8_t *wrow = wm->bits + (size_t)(by % wm->height) * wm->width;
        uint32_t wx = 0; /* bx % wm->width, kept without dividing */
        for (uint32_t bx = 0; bx < bw; bx++, wx = wx + 1 == wm->width ? 0 : wx + 1) {
            const uint32_t x = 2 * bx, y = 2 * by;
            const int full = x + 1 < w && y + 1 < h;
            size_t idx[4];
            int in[4];
            idx[0] = (size_t)y * w + x;
            idx[1] = idx[0] + 1;
            idx[2] = idx[0] + w;
            idx[3] = idx[2] + 1;
            in[0] = 1;
            in[1] = x + 1 < w;
            in[2] = y + 1 < h;
            in[3] = in[1] && in[2];
            /* Pixels beyond the edge count as black: they are never shown, and a partial block
             * then never needs the all-white replacement. */
            unsigned q = 0;
            for (unsigned j = 0; j < 4; j++)
                if (!in[j] || plane[idx[j]]) q |= 1u << j;
            if (!q) {
                /* All white: the paper's 3-black-1-white block, or 1 black 3 white. */
                unsigned j = isec__vcs_rng_below(rng, 4);
                q = fill_pop == 3 ? 15u & ~(1u << j) : 1u << j;
            }
            const uint8_t *k = ks + 8 * ((size_t)by * bw + bx);
            const unsigned n = t->n[q];
            unsigned pos = full ? choose_pos(n, wrow[wx] ^ pol, k, rng)
                                : isec__vcs_rng_below(rng, n);
            const uint8_t *perm = isec__vcs_perms[t->perm[q][pos]];
            unsigned pc = 0;
            for (unsigned j = 0; j < 4; j++) pc += (q >> j) & 1;
            const unsigned r = (4 - pc) & 3;
            for (unsigned j = 0; j < 4; j++) {
                if (!in[j]) continue;
                as[perm[j]][idx[j]] = ISEC_VCS_PX_W;
                bs[(perm[j] + r) & 3][idx[j]] = ISEC_VCS_PX_K;
            }
        }
    }
    return rng->failed ? ISEC_ECRYPTO : 0;
}

/* For each of the 81 combinations of a pixel's 4 sheet bytes (v0 + 3 v1 + 9 v2 + 27 v3): the one
 * sheet holding a dot of colour want with all others transparent, or -1. */
static void make_dot_tab(int8_t t[82], uint8_t want)
{
    for (unsigned c = 0; c < 81; c++) {
        int found = -1, bad = 0;
        for (unsigned k = 0, x = c; k < 4; k++, x /= 3) {
            unsigned v = x % 3;
            if (v == ISEC_VCS_PX_T) continue;
            if (v != want || found >= 0) bad = 1;
            found = (int)k;
        }
        t[c] = (int8_t)(bad ? -1 : found);
    }
    t[81] = -1; /* not sheet values */
}

int isec__vcs_exact_extract(const isec_vcs_share *a, const isec_vcs_share *b, unsigned pi,
                            const isec__vcs_table *t, const uint8_t key[ISEC_VCS_KEY_LEN],
                            const isec_vcs_watermark *wm, uint8_t *ks, isec__vcs_votes *v)
{
    const uint32_t w = a->info.width, h = a->info.height;
    const uint32_t bw = (w + 1) / 2; /* blocks per row of the watermark stream */
    const uint8_t *as[4], *bs[4];
    int rc = isec__vcs_extract_begin(a, b, pi, key, ks, as, bs);
    if (rc < 0) return rc;
    const unsigned pol = ((a->info.polarity ^ b->info.polarity) >> pi) & 1u;
    int8_t dot_w[82], dot_k[82];
    make_dot_tab(dot_w, ISEC_VCS_PX_W);
    make_dot_tab(dot_k, ISEC_VCS_PX_K);
    for (uint32_t by = 0; by < h / 2; by++) {
        const size_t wrow = (size_t)(by % wm->height) * wm->width;
        uint32_t wx = 0;
        for (uint32_t bx = 0; bx < w / 2; bx++, wx = wx + 1 == wm->width ? 0 : wx + 1) {
            const size_t i0 = (size_t)(2 * by) * w + 2 * bx;
            const size_t idx[4] = {i0, i0 + 1, i0 + w, i0 + w + 1};
            const size_t wi = wrow + wx;
            const unsigned expect = wm->bits[wi];
            uint8_t pa[4];
            int r = -1, ok = 1;
            for (unsigned j = 0; j < 4 && ok; j++) {
                int sa = dot_w[isec__vcs_cell_code(as, idx[j])], sb = dot_k[isec__vcs_cell_code(bs, idx[j])];
                if (sa < 0 || sb < 0) {
                    ok = 0;
                    break;
                }
                int rr = (sb - sa + 4) & 3;
                if (r >= 0 && rr != r) ok = 0;
                r = rr;
                pa[j] = (uint8_t)sa;
            }
            int pidx = ok ? isec__vcs_perm_index(pa) : -1;
            unsigned bit;
            v->blocks++;
            if (pidx < 0) {
                v->invalid++; /* counted, not voted: see isec_vcs_watermark_extract */
                continue;
            } else {
                unsigned q = isec__vcs_pattern(pa, (unsigned)r);
                unsigned pos = t->pos[q][pidx];
                bit = entry_class(pos, t->n[q], ks + 8 * ((size_t)by * bw + bx)) ^ pol;
            }
            if (bit != expect) v->wrong++;
            if (bit) v->votes1[wi]++;
            else v->votes0[wi]++;
        }
    }
    return 0;
}

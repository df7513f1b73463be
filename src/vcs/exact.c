/* Exact mode (paper 3.1-3.2, 3.4): per 2x2 block, an arrangement from the query table whose
 * stacked block equals the secret's block; the arrangement's keyed position carries one
 * watermark bit. */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

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

/* Writes one row of the 4 sheets of a participant from the sheet index of each pixel's dot:
 * sheet k gets colour c where sel[x] == k, transparent elsewhere. Every byte is written, in
 * sequence (the block loop only fills the small sel rows), 16 at a time. */
typedef uint8_t v16 __attribute__((vector_size(16)));

static inline void write_row(const uint8_t *sel, uint32_t w, uint8_t *const s[4], size_t row,
                             uint8_t c)
{
    for (unsigned k = 0; k < 4; k++) {
        uint8_t *d = s[k] + row;
        uint32_t x = 0;
        v16 kk, cc;
        memset(&kk, (int)k, sizeof kk);
        memset(&cc, c, sizeof cc);
        for (; x + 16 <= w; x += 16) {
            v16 v;
            memcpy(&v, sel + x, 16);
            v = (v16)(v == kk) & cc;
            memcpy(d + x, &v, 16);
        }
        for (; x < w; x++) d[x] = sel[x] == k ? c : ISEC_VCS_PX_T;
    }
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
    /* Per pixel of the current row pair: the sheet holding A's white dot and B's black dot. */
    uint8_t *sel = malloc((size_t)w * 4);
    if (!sel) return ISEC_ENOMEM;
    uint8_t *sa[2] = {sel, sel + w}, *sb[2] = {sel + 2 * (size_t)w, sel + 3 * (size_t)w};
    const unsigned fill_pop = p->white_fill == ISEC_VCS_FILL_1B3W ? 1 : 3;
    /* A plane shared inverted carries the inverted watermark: a changed polarity fails it. */
    const unsigned pol = ((a->info.polarity ^ b->info.polarity) >> pi) & 1u;
    for (uint32_t by = 0; by < bh; by++) {
        const uint8_t *wrow = wm->bits + (size_t)(by % wm->height) * wm->width;
        uint32_t wx = 0; /* bx % wm->width, kept without dividing */
        const uint32_t y = 2 * by;
        const int in2 = y + 1 < h;
        const uint8_t *p0 = plane + (size_t)y * w, *p1 = in2 ? p0 + w : NULL;
        for (uint32_t bx = 0; bx < bw; bx++, wx = wx + 1 == wm->width ? 0 : wx + 1) {
            const uint32_t x = 2 * bx;
            const int in1 = x + 1 < w, full = in1 && in2;
            /* Pixels beyond the edge count as black: they are never shown, and a partial block
             * then never needs the all-white replacement. j = 0 (x,y), 1 (x+1,y), 2 (x,y+1),
             * 3 (x+1,y+1). */
            unsigned q = (p0[x] != 0) | (unsigned)(!in1 || p0[x + 1]) << 1 |
                         (unsigned)(!in2 || p1[x]) << 2 | (unsigned)(!full || p1[x + 1]) << 3;
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
            const unsigned pc = (unsigned)(0x4332322132212110u >> (4 * q)) & 15u; /* popcount */
            const unsigned r = (4 - pc) & 3;
            sa[0][x] = perm[0];
            sb[0][x] = (uint8_t)((perm[0] + r) & 3);
            if (in1) {
                sa[0][x + 1] = perm[1];
                sb[0][x + 1] = (uint8_t)((perm[1] + r) & 3);
            }
            if (in2) {
                sa[1][x] = perm[2];
                sb[1][x] = (uint8_t)((perm[2] + r) & 3);
                if (in1) {
                    sa[1][x + 1] = perm[3];
                    sb[1][x + 1] = (uint8_t)((perm[3] + r) & 3);
                }
            }
        }
        for (uint32_t dy = 0; dy < 2 && y + dy < h; dy++) {
            write_row(sa[dy], w, as, (size_t)(y + dy) * w, ISEC_VCS_PX_W);
            write_row(sb[dy], w, bs, (size_t)(y + dy) * w, ISEC_VCS_PX_K);
        }
    }
    OPENSSL_cleanse(sel, (size_t)w * 4);
    free(sel);
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

/* What a pixel's pair of cell codes (A's, B's) says, as a byte: 0x80 when A's pixel is not a
 * single white dot or B's not a single black dot; else the sheet of A's dot (bits 0-1) and the
 * roll r = B's sheet - A's sheet mod 4 (bits 2-3). */
#define PAIR_BAD 0x80u

static void make_pair_view(uint8_t *t)
{
    int8_t dot_w[82], dot_k[82];
    make_dot_tab(dot_w, ISEC_VCS_PX_W);
    make_dot_tab(dot_k, ISEC_VCS_PX_K);
    for (unsigned ca = 0; ca < 82; ca++)
        for (unsigned cb = 0; cb < 82; cb++) {
            const int sa = dot_w[ca], sb = dot_k[cb];
            t[ca * 82 + cb] = sa < 0 || sb < 0 ? (uint8_t)PAIR_BAD
                                               : (uint8_t)(sa | ((sb - sa + 4) & 3) << 2);
        }
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
    /* pv: pixel pairs; perm: A's 4 dot sheets (2 bits each, pixel 0 low) -> permutation index
     * or -1; pat: (permutation, r) -> stacked pattern. */
    uint8_t *pv = malloc(82 * 82), *cc = malloc((size_t)w * 4), pat[24][4];
    int8_t perm[256];
    if (!pv || !cc) {
        free(pv);
        free(cc);
        return ISEC_ENOMEM;
    }
    make_pair_view(pv);
    for (unsigned i = 0; i < 256; i++) {
        const uint8_t pa[4] = {(uint8_t)(i & 3), (uint8_t)((i >> 2) & 3), (uint8_t)((i >> 4) & 3),
                               (uint8_t)(i >> 6)};
        perm[i] = (int8_t)isec__vcs_perm_index(pa);
    }
    for (unsigned p = 0; p < 24; p++)
        for (unsigned r = 0; r < 4; r++)
            pat[p][r] = (uint8_t)isec__vcs_pattern(isec__vcs_perms[p], r);
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
            v->blocks++;
            /* every pixel one dot each, one roll r for the block, A's dots a permutation */
            const int bad = ((e0 | e1 | e2 | e3) & PAIR_BAD) ||
                            (((e0 ^ e1) | (e0 ^ e2) | (e0 ^ e3)) & 12u);
            const int pidx =
                bad ? -1 : perm[(e0 & 3u) | (e1 & 3u) << 2 | (e2 & 3u) << 4 | (e3 & 3u) << 6];
            if (pidx < 0) {
                v->invalid++; /* counted, not voted: see isec_vcs_watermark_extract */
                continue;
            }
            const unsigned q = pat[pidx][(e0 >> 2) & 3u];
            const unsigned bit = entry_class(t->pos[q][pidx], t->n[q], kb + 8 * (size_t)bx) ^ pol;
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

/* Where the 64 coefficients of a block lie (Table 4-1 and 4-2): gathered from a Mallat-layout
 * plane for the encoder, and the decoder's strip layout (internal.h), which does not depend on
 * the image height. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Offsets (row, col) of the 63 AC coefficients of block (r, c) relative to their subband's
 * origin, scaled per level; built from Table 4-1 and Table 4-2. */
static void block_coords(size_t w, size_t h, size_t r, size_t c, size_t *pos /* 64 */)
{
    size_t W1 = w / 2, H1 = h / 2, W2 = w / 4, H2 = h / 4, W3 = w / 8, H3 = h / 8;
    size_t bro[3] = {0, H3, H3}, bco[3] = {W3, 0, W3}; /* level-3 band origins HL LH HH */
    size_t bro2[3] = {0, H2, H2}, bco2[3] = {W2, 0, W2};
    size_t bro1[3] = {0, H1, H1}, bco1[3] = {W1, 0, W1};
    pos[0] = r * w + c;
    for (int i = 0; i < 3; i++) {
        pos[BLK_P(i)] = (bro[i] + r) * w + bco[i] + c;
        for (int k = 0; k < 4; k++)
            pos[BLK_C(i) + k] =
                (bro2[i] + 2 * r + (size_t)(k >> 1)) * w + bco2[i] + 2 * c + (size_t)(k & 1);
        for (int j = 0; j < 4; j++)
            for (int k = 0; k < 4; k++) {
                size_t rr = 4 * r + (size_t)((j >> 1) * 2 + (k >> 1)),
                       cc = 4 * c + (size_t)((j & 1) * 2 + (k & 1));
                pos[BLK_H(i, j) + k] = (bro1[i] + rr) * w + bco1[i] + cc;
            }
    }
}

void isec__blocks_gather(const int32_t *plane, size_t w, size_t h, size_t first, size_t n,
                         int32_t *blocks)
{
    size_t per_row = w / 8, pos[64] = {0}, row = (size_t)-1;
    for (size_t b = 0; b < n; b++) {
        size_t r = (first + b) / per_row, c = (first + b) % per_row;
        if (r != row) {
            block_coords(w, h, r, 0, pos);
            row = r;
        }
        /* a block further right moves 1 sample in level 3, 2 in level 2, 4 in level 1 */
        int32_t *o = blocks + b * 64;
        const int32_t *p1 = plane + c, *p2 = p1 + c, *p4 = p2 + 2 * c;
        for (int k = 0; k < 4; k++)
            o[k] = p1[pos[k]];
        for (int k = 4; k < 16; k++)
            o[k] = p2[pos[k]];
        for (int k = 16; k < 64; k++)
            o[k] = p4[pos[k]];
    }
}

/* ---------------------------------------------------------------- the decoder's strips */

void isec__strips_layout(isec__strips *s, size_t pw)
{
    s->pw = pw;
    s->per_row = pw / 8;
    /* block 0 of a block row: level-3 bands in strip rows 0 (LL, HL) and 1 (LH, HH), level 2 in
       rows 0-1 (HL) and 2-3 (LH, HH), level 1 in rows 0-3 (HL) and 4-7 (LH, HH); families
       i = 0, 1, 2 are HL, LH, HH (band i + 1) */
    s->off[0] = 0;
    s->step[0] = 1;
    for (unsigned i = 0; i < 3; i++) {
        unsigned band = i + 1;
        size_t hi3 = band >= 2, col3 = band & 1u ? pw / 8 : 0;
        s->off[BLK_P(i)] = (uint32_t)(hi3 * pw + col3);
        s->step[BLK_P(i)] = 1;
        for (unsigned q = 0; q < 4; q++) {
            size_t row = (band >= 2 ? 2u : 0u) + (q >> 1),
                   col = (band & 1u ? pw / 4 : 0) + (q & 1u);
            s->off[BLK_C(i) + q] = (uint32_t)(row * pw + col);
            s->step[BLK_C(i) + q] = 2;
        }
        for (unsigned j = 0; j < 4; j++)
            for (unsigned q = 0; q < 4; q++) {
                size_t rr = (j >> 1) * 2 + (q >> 1), cc = (j & 1u) * 2 + (q & 1u);
                size_t row = (band >= 2 ? 4u : 0u) + rr, col = (band & 1u ? pw / 2 : 0) + cc;
                s->off[BLK_H(i, j) + q] = (uint32_t)(row * pw + col);
                s->step[BLK_H(i, j) + q] = 4;
            }
    }
}

const int32_t *isec__strip_band_row(const isec__strips *s, unsigned l, unsigned band, size_t j)
{
    size_t per = 8u >> l, st = j / per, row = (band >= 2 ? per : 0) + j % per;
    if (st >= s->nstrips || !s->strip[st]) return NULL;
    return s->strip[st] + row * s->pw + (band & 1u ? s->pw >> l : 0);
}

void isec__strips_to_plane(const isec__strips *s, int32_t *plane, size_t h)
{
    const size_t w = s->pw;
    for (unsigned l = 1; l <= 3; l++) {
        size_t bw = w >> l, bh = h >> l;
        for (unsigned band = l == 3 ? 0u : 1u; band < 4; band++)
            for (size_t j = 0; j < bh; j++) {
                const int32_t *src = isec__strip_band_row(s, l, band, j);
                int32_t *dst = plane + ((band >= 2 ? bh : 0) + j) * w + (band & 1u ? bw : 0);
                if (src)
                    memcpy(dst, src, bw * sizeof *dst);
                else
                    memset(dst, 0, bw * sizeof *dst);
            }
    }
}

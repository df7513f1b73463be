/* Reconstruction of one decoded segment's coefficients into the decoder's strips (internal.h).
 *
 * When a segment stops early (the data or a quality limit), the missing planes 0..L-1 of a
 * nonzero AC magnitude v leave an interval of 2^L values (2^(L-shift) for a weighted subband).
 * When few planes are missing the values in it are about equally likely and the middle is best;
 * when more are, wavelet coefficients are densest near zero, and 3/8 of the way in does better
 * (recon_off). Integer DWT: integer offsets (the floor of the middle, as the UNL decoder). Float
 * DWT: fixed point with ISEC__FLOAT_FRAC fractional bits, since the coded integers are the
 * rounded transform values and v stands for [v - 1/2, v + 2^L - 1/2). A DC value goes to the
 * middle of its interval.
 *
 * Only nonzero coefficients are written: the strips start out zero, and at low rates most of a
 * block is. The magnitudes read are cleared on the way, so the scratch is zero again for the next
 * segment without a pass over all of it. Integer values are stored with the subband weights removed
 * (3.9), float values as the floats the inverse transform reads. */
#include <string.h>

#include "bpe_dec.h"

/* Offset added to a magnitude whose lowest L planes are missing, in units of 2^-fr: the middle
 * for L < 3, 3/8 of the interval from L = 3 on. Measured on camera, coins, moon, chelsea at
 * 0.25-6 bpp against the middle everywhere (the UNL decoder's choice): up to +0.1 dB below
 * 2 bpp, equal above. */
#define RECON_MID_BELOW 3u
static uint32_t recon_off(unsigned L, unsigned fr)
{
    if (!fr) return L >= RECON_MID_BELOW ? (uint32_t)((3ull << L) >> 3) : ((1u << L) - 1u) >> 1;
    /* fixed point: interval [v - 1/2, v + 2^L - 1/2) */
    uint64_t o = L >= RECON_MID_BELOW ? (3ull << (L + fr)) >> 3 : 1ull << (L - 1 + fr);
    return (uint32_t)(o - (1u << (fr - 1)));
}

/* Shift of the subband of block position k. */
static unsigned shift_of(const isec__shifts *sh, unsigned k)
{
    if (k == 0) return sh->dc;
    if (k < 4) return sh->p[k - 1];
    if (k < 16) return sh->c[(k - 4) / 4];
    return sh->g[(k - 16) / 16];
}

/* Stores v: an integer with the weight 2^shift removed (a true floor), or a float. */
static inline void put(int32_t *p, int32_t v, unsigned shift, float unit)
{
    if (unit == 0.0f) {
        *p = v >> shift;
    } else {
        float f = (float)v * unit;
        memcpy(p, &f, sizeof f);
    }
}

/* The AC values of one block: nz its nonzero magnitudes, ng the signs, at[k] where position k
 * goes. flt is a constant at each call, so each DWT gets its own loop without tests. */
static inline void block_ac(uint32_t *mag, uint64_t nz, uint64_t ng, int32_t *const at[3],
                            const isec__strips *out, const uint8_t *lvl, const uint8_t *shk,
                            int exact, unsigned fr, unsigned shn, const uint32_t *old_off,
                            const uint32_t *off_new, int flt)
{
    const uint32_t vmax = 0x7fffffffu >> fr;
    const float unit = flt ? 1.0f / (float)(1u << fr) : 0.0f;
    for (; nz; nz &= nz - 1) {
        unsigned k = (unsigned)__builtin_ctzll(nz);
        uint32_t v = mag[k] > vmax ? vmax : mag[k]; /* vmax: corrupt input only */
        mag[k] = 0; /* every nonzero magnitude is in nz: this leaves mag zero for the next */
        int32_t y;
        if (exact) {
            y = (int32_t)(v << fr);
        } else {
            uint32_t add = ((uint64_t)v >> shn) ? old_off[k] : off_new[k];
            uint64_t x = v ? ((uint64_t)v << fr) + add : 0;
            y = x > 0x7fffffffu ? 0x7fffffff : (int32_t)x;
        }
        put(at[lvl[k]] + out->off[k], ((ng >> k) & 1u) ? -y : y, shk[k], unit);
    }
}

void isec__bpe_recon(const isec__recon_state *rs, const isec_ccsds_header *h,
                     const isec__shifts *sh, isec__dec_scratch *s, const isec__strips *out,
                     size_t first)
{
    const uint32_t S = h->s;
    const unsigned fr = h->dwt == ISEC_CCSDS_DWT_FLOAT ? ISEC__FLOAT_FRAC : 0;
    const float unit = fr ? 1.0f / (float)(1u << fr) : 0.0f;
    const int exact = rs->bp < 0 && rs->bdone == 0;
    /* Offsets per block position, by the lowest known plane: a coefficient that became
       significant in the cut plane ub (v < 2^(ub+1)) knows planes down to ub; an older one down
       to ub too if stage 4 of that plane reached its block (lo_old), else to ub+1 (hi_old). With
       no plane cut short, every coefficient knows planes down to bdone. */
    uint32_t off_new[64], off_lo_old[64], off_hi_old[64];
    uint8_t shk[64], lvl[64]; /* lvl: 0, 1, 2 for levels 3, 2, 1 (steps 1, 2, 4) */
    unsigned ub = rs->bp >= 0 ? (unsigned)rs->bp : 0;
    for (unsigned k = 0; k < 64; k++) {
        unsigned sk = shift_of(sh, k);
        unsigned Ln = rs->bp >= 0 ? ub : rs->bdone, Lh = rs->bp >= 0 ? ub + 1 : rs->bdone;
        shk[k] = (uint8_t)sk;
        lvl[k] = (uint8_t)(k < 4 ? 0 : k < 16 ? 1 : 2);
        off_new[k] = Ln > sk && Ln < 31 ? recon_off(Ln - sk, fr) << sk : 0;
        off_lo_old[k] = off_new[k];
        off_hi_old[k] = Lh > sk && Lh < 31 ? recon_off(Lh - sk, fr) << sk : 0;
    }
    const unsigned shn = rs->bp >= 0 ? ub + 1 : 0; /* v >> shn != 0: selected before plane ub */
    const size_t per_row = out->per_row;
    size_t row = first / per_row, col = first % per_row;
    for (uint32_t m = 0; m < S; m++) {
        int32_t *base = out->strip[row];
        uint32_t *mag = s->mag + (size_t)m * 64;
        unsigned L = (m < rs->dc_part) ? rs->dcL - 1 : rs->dcL;
        int64_t dc = (int64_t)s->dc[m] * ((int64_t)1 << fr);
        if (L > sh->dc && L >= 1 && L < 31) {
            if (fr)
                dc += ((int64_t)1 << (L - 1 + fr)) - ((int64_t)1 << (fr - 1));
            else
                dc += (int64_t)1 << (L - 1);
        }
        int32_t dcv = dc > INT32_MAX ? INT32_MAX : dc < INT32_MIN ? INT32_MIN : (int32_t)dc;
        put(base + out->off[0] + col, dcv, shk[0], unit);
        uint64_t ng = s->sgn[m], nz = (s->sel[m] | s->nsel[m]) & ~1ull; /* nonzero AC magnitudes */
        const uint32_t *old_off =
            (rs->st == 4 && m < rs->mk) || rs->st > 4 ? off_lo_old : off_hi_old;
        int32_t *const at[3] = {base + col, base + 2 * col, base + 4 * col};
        if (fr)
            block_ac(mag, nz, ng, at, out, lvl, shk, exact, fr, shn, old_off, off_new, 1);
        else
            block_ac(mag, nz, ng, at, out, lvl, shk, exact, 0, shn, old_off, off_new, 0);
        if (++col == per_row) {
            col = 0;
            row++;
        }
    }
}

/* The float 9/7 DWT of CCSDS 122.0-B-2 (3.3.1, 3.4.1: equations 3, 4, 8, 9), 3 levels.
 *
 * Forward: in place in a row-major plane, rows then columns per level (3.5), columns in strips
 * of whole rows so the inner loops run along memory. Inverse (dwt_float_inv.c): row pairs
 * streamed from the subbands wherever they are stored. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define STRIP 64

/* Mirror index for the symmetric extension x[-m] = x[m], x[n-1+m] = x[n-1-m] (n >= 5 here). */
static inline size_t mir(ptrdiff_t k, size_t n)
{
    if (k < 0) return (size_t)(-k);
    if ((size_t)k >= n) return 2 * (n - 1) - (size_t)k;
    return (size_t)k;
}

/* Table 3-2 taps in single precision, summed in the order the UNL reference sums them, so the
 * rounded coefficients match it bit for bit (the standard leaves the precision open). */
static const float LP[5] = {0.852698679009f, 0.377402855613f, -0.110624404418f, -0.023849465020f,
                            0.037828455507f};
static const float HP[4] = {-0.788485616406f, 0.418092273222f, 0.040689417609f, -0.064538882629f};

static void flt_fwd_line(float *x, size_t n, float *e)
{
    /* e: 2n + 16 scratch: the mirror-extended line at e+4, then its even and odd samples apart
       (Ev[j] = line[2j] for j = -2..N+1, Od[j] = line[2j+1] for j = -2..N), so that the filter
       loop reads contiguously; the sums are the same, in the same order */
    float *t = e + 4;
    size_t N = n / 2;
    memcpy(t, x, n * sizeof *x);
    for (size_t i = 1; i <= 4; i++) {
        t[-(ptrdiff_t)i] = t[i];
        t[n - 1 + i] = t[n - 1 - i];
    }
    float *Ev = e + n + 8 + 2, *Od = Ev + N + 4;
    for (ptrdiff_t j = -2; j < (ptrdiff_t)N + 2; j++)
        Ev[j] = t[2 * j];
    for (ptrdiff_t j = -2; j < (ptrdiff_t)N + 1; j++)
        Od[j] = t[2 * j + 1];
    for (ptrdiff_t j = 0; j < (ptrdiff_t)N; j++) {
        /* c[k] = line[2j + k]: c[0] Ev[j], c[+-1] Od[j], Od[j-1], c[+-2] Ev[j+1], Ev[j-1],
           c[+-3] Od[j+1], Od[j-2], c[+-4] Ev[j+2], Ev[j-2] */
        float lo = LP[0] * Ev[j] + LP[1] * (Od[j - 1] + Od[j]) + LP[2] * (Ev[j - 1] + Ev[j + 1]) +
                   LP[3] * (Od[j - 2] + Od[j + 1]) + LP[4] * (Ev[j - 2] + Ev[j + 2]);
        float hi = HP[0] * Od[j] + HP[1] * (Ev[j] + Ev[j + 1]) + HP[2] * (Od[j - 1] + Od[j + 1]) +
                   HP[3] * (Ev[j - 1] + Ev[j + 2]);
        x[j] = lo;
        x[(ptrdiff_t)N + j] = hi;
    }
}

static void flt_fwd_cols(float *p, size_t s, size_t h, size_t c0, size_t cw, float *T)
{
    size_t N = h / 2;
    for (size_t j = 0; j < N; j++) {
        const float *r[9];
        for (int k = -4; k <= 4; k++)
            r[k + 4] = p + mir((ptrdiff_t)(2 * j) + k, h) * s + c0;
        float *lo = T + j * cw, *hi = T + (N + j) * cw;
        for (size_t c = 0; c < cw; c++) {
            lo[c] = LP[0] * r[4][c] + LP[1] * (r[3][c] + r[5][c]) + LP[2] * (r[2][c] + r[6][c]) +
                    LP[3] * (r[1][c] + r[7][c]) + LP[4] * (r[0][c] + r[8][c]);
            hi[c] = HP[0] * r[5][c] + HP[1] * (r[4][c] + r[6][c]) + HP[2] * (r[3][c] + r[7][c]) +
                    HP[3] * (r[2][c] + r[8][c]);
        }
    }
    for (size_t r = 0; r < h; r++)
        memcpy(p + r * s + c0, T + r * cw, cw * sizeof *T);
}

int isec__dwt_float_forward(const int32_t *img, int32_t *out, size_t w, size_t h)
{
    size_t big = w > h ? w : h;
    float *tmp = malloc(sizeof *tmp * (2 * big + 32 + h * STRIP));
    if (!tmp) return ISEC_ENOMEM;
    /* out (which may be img) holds the single-precision plane while the transform runs: a float
       is as wide as an int32_t; the element-wise conversions go through memcpy */
    float *f = (float *)(void *)out;
    for (size_t i = 0; i < w * h; i++) {
        float x = (float)img[i];
        memcpy(&out[i], &x, sizeof x);
    }
    for (unsigned l = 0; l < 3; l++) {
        size_t lw = w >> l, lh = h >> l;
        for (size_t r = 0; r < lh; r++)
            flt_fwd_line(f + r * w, lw, tmp);
        for (size_t c0 = 0; c0 < lw; c0 += STRIP) {
            size_t cw = lw - c0 < STRIP ? lw - c0 : STRIP;
            flt_fwd_cols(f, w, lh, c0, cw, tmp);
        }
    }
    for (size_t i = 0; i < w * h; i++) {
        /* round half away from zero, in double as the reference does */
        float x;
        memcpy(&x, &out[i], sizeof x);
        double half = x >= 0 ? 0.5 : -0.5; /* a select, not a branch: the signs are random */
        out[i] = (int32_t)((double)x + half);
    }
    free(tmp);
    return 0;
}

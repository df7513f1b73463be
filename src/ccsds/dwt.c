/* The 3-level 2-D DWT of CCSDS 122.0-B-2 section 3: integer 9/7 (equations 5, 6, 10, 11) and
 * float 9/7 (equations 3, 4, 8, 9), plus the block gather/scatter of Table 4-1.
 *
 * Planes are row-major with stride w; level l works on the top-left (w>>l) x (h>>l) region, rows
 * first then columns (3.5), and the inverse columns first then rows (3.6). Columns are processed
 * as whole rows at a time, in strips, so the inner loops run along memory. */
#include <math.h>
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

/* floor(v / 2^s): the standard's floor is a true floor; >> on a negative int is arithmetic on
 * every compiler we build with. */
static inline int32_t fl(int32_t v, unsigned s)
{
    return v >> s;
}

/* ---------------------------------------------------------------- integer, one line */

/* Forward integer 9/7 of n = 2N samples (N >= 3) at x with stride 1; low half then high half.
 * t: 3N + 8 scratch. The even and odd samples are taken apart first, with the mirror images the
 * filters read at the ends (x[-2] = x[2], x[n] = x[n-2], x[n+2] = x[n-4]), so the loops need no
 * index tests. */
static void int_fwd_line(int32_t *x, size_t n, int32_t *t)
{
    ptrdiff_t N = (ptrdiff_t)(n / 2);
    int32_t *Ev = t + 1, *Od = t + N + 4, *D = t + 2 * N + 5;
    for (ptrdiff_t j = 0; j < N; j++) {
        Ev[j] = x[2 * j];
        Od[j] = x[2 * j + 1];
    }
    Ev[-1] = Ev[1];
    Ev[N] = Ev[N - 1];
    Ev[N + 1] = Ev[N - 2];
    /* (5): D first. The boundary forms are the generic formula under mirror extension. */
    for (ptrdiff_t j = 0; j < N; j++)
        D[j] = Od[j] - fl(9 * (Ev[j] + Ev[j + 1]) - (Ev[j - 1] + Ev[j + 2]) + 8, 4);
    /* (6): C_0 uses D_0 twice (D_-1 = D_0). */
    D[-1] = D[0];
    for (ptrdiff_t j = 0; j < N; j++)
        x[j] = Ev[j] - fl(-(D[j - 1] + D[j]) + 2, 2);
    memcpy(x + N, D, (size_t)N * sizeof *D);
}

static inline int32_t sat(int64_t v)
{
    return v > INT32_MAX ? INT32_MAX : v < INT32_MIN ? INT32_MIN : (int32_t)v;
}

/* The inverse works in 64 bits and saturates: decoded coefficients may be anything. */
static void int_inv_line(int32_t *x, size_t n, int32_t *t)
{
    size_t N = n / 2;
    const int32_t *C = x, *D = x + N;
    /* (10): even samples first, into t, then (11) odd ones. */
    for (size_t j = 0; j < N; j++) {
        int64_t d0 = D[j ? j - 1 : 0], d1 = D[j];
        t[2 * j] = sat(C[j] + ((-(d0 + d1) + 2) >> 2));
    }
    for (size_t j = 0; j < N; j++) {
        int64_t a = (int64_t)t[2 * j] + t[mir((ptrdiff_t)(2 * j + 2), n)];
        int64_t b = (int64_t)t[mir((ptrdiff_t)(2 * j) - 2, n)] + t[mir((ptrdiff_t)(2 * j + 4), n)];
        t[2 * j + 1] = sat(D[j] + ((9 * a - b + 8) >> 4));
    }
    memcpy(x, t, n * sizeof *t);
}

/* ---------------------------------------------------------------- integer, columns */

/* Forward on columns [c0, c0+cw) of the region (h rows, stride s). D: (h/2)*cw scratch. */
static void int_fwd_cols(int32_t *p, size_t s, size_t h, size_t c0, size_t cw, int32_t *D)
{
    size_t N = h / 2;
    for (size_t j = 0; j < N; j++) {
        const int32_t *xe = p + 2 * j * s + c0, *xo = p + (2 * j + 1) * s + c0;
        const int32_t *xe2 = p + mir((ptrdiff_t)(2 * j + 2), h) * s + c0;
        const int32_t *xm2 = p + mir((ptrdiff_t)(2 * j) - 2, h) * s + c0;
        const int32_t *xp4 = p + mir((ptrdiff_t)(2 * j + 4), h) * s + c0;
        int32_t *d = D + j * cw;
        for (size_t c = 0; c < cw; c++)
            d[c] = xo[c] - fl(9 * (xe[c] + xe2[c]) - (xm2[c] + xp4[c]) + 8, 4);
    }
    for (size_t j = 0; j < N; j++) {
        const int32_t *d0 = D + (j ? j - 1 : 0) * cw, *d1 = D + j * cw;
        const int32_t *xe = p + 2 * j * s + c0;
        int32_t *out = p + j * s + c0;
        for (size_t c = 0; c < cw; c++)
            out[c] = xe[c] - fl(-(d0[c] + d1[c]) + 2, 2);
    }
    for (size_t j = 0; j < N; j++)
        memcpy(p + (N + j) * s + c0, D + j * cw, cw * sizeof *D);
}

/* Inverse on columns; T: h*cw scratch. */
static void int_inv_cols(int32_t *p, size_t s, size_t h, size_t c0, size_t cw, int32_t *T)
{
    size_t N = h / 2;
    for (size_t j = 0; j < N; j++) {
        const int32_t *C = p + j * s + c0;
        const int32_t *d0 = p + (N + (j ? j - 1 : 0)) * s + c0, *d1 = p + (N + j) * s + c0;
        int32_t *t = T + 2 * j * cw;
        for (size_t c = 0; c < cw; c++)
            t[c] = sat(C[c] + ((-((int64_t)d0[c] + d1[c]) + 2) >> 2));
    }
    for (size_t j = 0; j < N; j++) {
        const int32_t *te = T + 2 * j * cw, *te2 = T + mir((ptrdiff_t)(2 * j + 2), h) * cw;
        const int32_t *tm2 = T + mir((ptrdiff_t)(2 * j) - 2, h) * cw;
        const int32_t *tp4 = T + mir((ptrdiff_t)(2 * j + 4), h) * cw;
        const int32_t *D = p + (N + j) * s + c0;
        int32_t *to = T + (2 * j + 1) * cw;
        for (size_t c = 0; c < cw; c++)
            to[c] =
                sat(D[c] + ((9 * ((int64_t)te[c] + te2[c]) - ((int64_t)tm2[c] + tp4[c]) + 8) >> 4));
    }
    for (size_t r = 0; r < h; r++)
        memcpy(p + r * s + c0, T + r * cw, cw * sizeof *T);
}

/* 32-bit inverse for regions whose values stay below 2^24 (every legitimate image): the sums
 * and 9x products of (10)-(11) then fit easily. */
static void int_inv_line32(int32_t *x, size_t n, int32_t *t)
{
    size_t N = n / 2;
    const int32_t *C = x, *D = x + N;
    /* (10) into E = t + 1, with the mirror images E[-1] = E[1], E[N] = E[N-1], E[N+1] = E[N-2]
       that (11) reads at the ends; then (11) into O, and both interleaved back into x */
    int32_t *E = t + 1, *O = t + N + 4;
    E[0] = C[0] + fl(-(D[0] + D[0]) + 2, 2);
    for (size_t j = 1; j < N; j++)
        E[j] = C[j] + fl(-(D[j - 1] + D[j]) + 2, 2);
    E[-1] = E[1];
    E[N] = E[N - 1];
    E[N + 1] = E[N - 2];
    for (ptrdiff_t j = 0; j < (ptrdiff_t)N; j++)
        O[j] = D[j] + fl(9 * (E[j] + E[j + 1]) - (E[j - 1] + E[j + 2]) + 8, 4);
    for (size_t j = 0; j < N; j++) {
        x[2 * j] = E[j];
        x[2 * j + 1] = O[j];
    }
}

static void int_inv_cols32(int32_t *p, size_t s, size_t h, size_t c0, size_t cw, int32_t *T)
{
    size_t N = h / 2;
    for (size_t j = 0; j < N; j++) {
        const int32_t *C = p + j * s + c0;
        const int32_t *d0 = p + (N + (j ? j - 1 : 0)) * s + c0, *d1 = p + (N + j) * s + c0;
        int32_t *t = T + 2 * j * cw;
        for (size_t c = 0; c < cw; c++)
            t[c] = C[c] + fl(-(d0[c] + d1[c]) + 2, 2);
    }
    for (size_t j = 0; j < N; j++) {
        const int32_t *te = T + 2 * j * cw, *te2 = T + mir((ptrdiff_t)(2 * j + 2), h) * cw;
        const int32_t *tm2 = T + mir((ptrdiff_t)(2 * j) - 2, h) * cw;
        const int32_t *tp4 = T + mir((ptrdiff_t)(2 * j + 4), h) * cw;
        const int32_t *D = p + (N + j) * s + c0;
        int32_t *to = T + (2 * j + 1) * cw;
        for (size_t c = 0; c < cw; c++)
            to[c] = D[c] + fl(9 * (te[c] + te2[c]) - (tm2[c] + tp4[c]) + 8, 4);
    }
    for (size_t r = 0; r < h; r++)
        memcpy(p + r * s + c0, T + r * cw, cw * sizeof *T);
}

static int small_region(const int32_t *p, size_t s, size_t w, size_t h)
{
    uint32_t m = 0;
    for (size_t r = 0; r < h; r++) {
        const int32_t *row = p + r * s;
        for (size_t c = 0; c < w; c++)
            m |= (uint32_t)(row[c] < 0 ? -(int64_t)row[c] : row[c]);
    }
    return m < (1u << 24);
}

/* Subband rectangles of a w x h plane: index as weight_exp (HH1 HL1 LH1 HH2 ... LL3). */
static void band_rect(int band, size_t w, size_t h, size_t *r0, size_t *c0, size_t *bh, size_t *bw)
{
    int lev = band / 3 + 1; /* 0-2: level 1, 3-5: level 2, 6-8: level 3, 9: LL3 */
    if (band == 9) {
        *r0 = 0, *c0 = 0, *bh = h >> 3, *bw = w >> 3;
        return;
    }
    size_t sh = h >> lev, sw = w >> lev;
    int kind = band % 3; /* 0 HH, 1 HL, 2 LH */
    *bh = sh, *bw = sw;
    *r0 = (kind == 1) ? 0 : sh;
    *c0 = (kind == 2) ? 0 : sw;
}

static void apply_weights(int32_t *img, size_t w, size_t h, const uint8_t e[10], int inverse)
{
    for (int b = 0; b < 10; b++) {
        if (!e[b]) continue;
        size_t r0, c0, bh, bw;
        band_rect(b, w, h, &r0, &c0, &bh, &bw);
        for (size_t r = r0; r < r0 + bh; r++) {
            int32_t *row = img + r * w + c0;
            if (inverse)
                for (size_t c = 0; c < bw; c++)
                    row[c] = fl(row[c], e[b]);
            else
                for (size_t c = 0; c < bw; c++)
                    row[c] = (int32_t)((uint32_t)row[c] << e[b]);
        }
    }
}

int isec__dwt_int_forward(int32_t *img, size_t w, size_t h, const uint8_t weight_exp[10])
{
    size_t big = w > h ? w : h;
    int32_t *tmp = malloc(sizeof *tmp * (2 * big + 16 + (h / 2 + 1) * STRIP));
    if (!tmp) return ISEC_ENOMEM;
    for (unsigned l = 0; l < 3; l++) {
        size_t lw = w >> l, lh = h >> l;
        for (size_t r = 0; r < lh; r++)
            int_fwd_line(img + r * w, lw, tmp);
        for (size_t c0 = 0; c0 < lw; c0 += STRIP) {
            size_t cw = lw - c0 < STRIP ? lw - c0 : STRIP;
            int_fwd_cols(img, w, lh, c0, cw, tmp);
        }
    }
    apply_weights(img, w, h, weight_exp, 0);
    free(tmp);
    return 0;
}

int isec__dwt_int_inverse(int32_t *img, size_t w, size_t h, const uint8_t weight_exp[10])
{
    size_t big = w > h ? w : h;
    int32_t *tmp = malloc(sizeof *tmp * (big + h * STRIP));
    if (!tmp) return ISEC_ENOMEM;
    apply_weights(img, w, h, weight_exp, 1);
    for (int l = 2; l >= 0; l--) {
        size_t lw = w >> l, lh = h >> l;
        int small = small_region(img, w, lw, lh);
        for (size_t c0 = 0; c0 < lw; c0 += STRIP) {
            size_t cw = lw - c0 < STRIP ? lw - c0 : STRIP;
            if (small)
                int_inv_cols32(img, w, lh, c0, cw, tmp);
            else
                int_inv_cols(img, w, lh, c0, cw, tmp);
        }
        for (size_t r = 0; r < lh; r++) {
            if (small)
                int_inv_line32(img + r * w, lw, tmp);
            else
                int_inv_line(img + r * w, lw, tmp);
        }
    }
    free(tmp);
    return 0;
}

/* ---------------------------------------------------------------- float */

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

/* Table 3-3: q_0..q_3 (low-pass synthesis) and p_0..p_4 (high-pass synthesis). The inverse
 * runs in single precision: the reconstruction is not normative, coefficients of legitimate
 * images stay below 2^24, and a float plane fits in place of the int32 one. */
static const float Q[4] = {0.788485616406f, 0.418092273222f, -0.040689417609f, -0.064538882629f};
static const float P[5] = {-0.852698679009f, 0.377402855613f, 0.110624404418f, -0.023849465020f,
                           -0.037828455507f};

/* Extension (9): C_m = C_-m, C_{N-1+m} = C_{N-m}; D_m = D_{-m-1}, D_{N-1+m} = D_{N-1-m}. */
static inline size_t cext(ptrdiff_t m, size_t N)
{
    if (m < 0) m = -m;
    if ((size_t)m > N - 1) m = (ptrdiff_t)(2 * N - 1) - m;
    return (size_t)m;
}
static inline size_t dext(ptrdiff_t m, size_t N)
{
    if (m < 0) m = -m - 1;
    if ((size_t)m > N - 1) m = (ptrdiff_t)(2 * (N - 1)) - m;
    return (size_t)m;
}

/* (8) on one line (stride 1, N >= 3); t: 2n + 8 scratch. The halves are copied with their
 * extensions (C_-1, C_N, C_N+1; D_-2, D_-1, D_N, D_N+1) so the loops need no index tests. */
static void flt_inv_line(float *x, size_t n, float *t)
{
    size_t N = n / 2;
    float *C = t + 1, *D = t + N + 5, *E = t + n + 8, *O = E + N;
    memcpy(C, x, N * sizeof *x);
    memcpy(D, x + N, N * sizeof *x);
    C[-1] = C[1];
    C[N] = C[N - 1];
    C[N + 1] = C[N - 2];
    D[-1] = D[0];
    D[-2] = D[1];
    D[N] = D[N - 2];
    D[N + 1] = D[N - 3];
    for (size_t j = 0; j < N; j++) {
        ptrdiff_t J = (ptrdiff_t)j;
        E[j] = Q[2] * (C[J - 1] + C[j + 1]) + Q[0] * C[j] + P[3] * D[J - 2] +
               P[1] * (D[J - 1] + D[j]) + P[3] * D[j + 1];
        O[j] = Q[3] * (C[J - 1] + C[j + 2]) + Q[1] * (C[j] + C[j + 1]) +
               P[4] * (D[J - 2] + D[j + 2]) + P[2] * (D[J - 1] + D[j + 1]) + P[0] * D[j];
    }
    for (size_t j = 0; j < N; j++) {
        x[2 * j] = E[j];
        x[2 * j + 1] = O[j];
    }
}

static void flt_inv_cols(float *p, size_t s, size_t h, size_t c0, size_t cw, float *T)
{
    size_t N = h / 2;
    for (size_t j = 0; j < N; j++) {
        ptrdiff_t J = (ptrdiff_t)j;
        const float *cm1 = p + cext(J - 1, N) * s + c0, *cc = p + j * s + c0,
                    *cp1 = p + cext(J + 1, N) * s + c0, *cp2 = p + cext(J + 2, N) * s + c0;
        const float *dm2 = p + (N + dext(J - 2, N)) * s + c0,
                    *dm1 = p + (N + dext(J - 1, N)) * s + c0, *d0 = p + (N + j) * s + c0,
                    *dp1 = p + (N + dext(J + 1, N)) * s + c0,
                    *dp2 = p + (N + dext(J + 2, N)) * s + c0;
        float *te = T + 2 * j * cw, *to = T + (2 * j + 1) * cw;
        for (size_t c = 0; c < cw; c++) {
            te[c] = Q[2] * (cm1[c] + cp1[c]) + Q[0] * cc[c] + P[3] * dm2[c] +
                    P[1] * (dm1[c] + d0[c]) + P[3] * dp1[c];
            to[c] = Q[3] * (cm1[c] + cp2[c]) + Q[1] * (cc[c] + cp1[c]) + P[4] * (dm2[c] + dp2[c]) +
                    P[2] * (dm1[c] + dp1[c]) + P[0] * d0[c];
        }
    }
    for (size_t r = 0; r < h; r++)
        memcpy(p + r * s + c0, T + r * cw, cw * sizeof *T);
}

int isec__dwt_float_inverse(int32_t *img, size_t w, size_t h, unsigned frac_bits, int round_out)
{
    const float unit = 1.0f / (float)(1u << frac_bits);
    size_t big = w > h ? w : h;
    float *tmp = malloc(sizeof *tmp * (2 * big + 16 + h * STRIP));
    if (!tmp) return ISEC_ENOMEM;
    /* the float plane lives in img's storage (same width); conversions go through memcpy */
    float *f = (float *)(void *)img;
    for (size_t i = 0; i < w * h; i++) {
        float x = (float)img[i] * unit;
        memcpy(&img[i], &x, sizeof x);
    }
    for (int l = 2; l >= 0; l--) {
        size_t lw = w >> l, lh = h >> l;
        for (size_t c0 = 0; c0 < lw; c0 += STRIP) {
            size_t cw = lw - c0 < STRIP ? lw - c0 : STRIP;
            flt_inv_cols(f, w, lh, c0, cw, tmp);
        }
        for (size_t r = 0; r < lh; r++)
            flt_inv_line(f + r * w, lw, tmp);
    }
    for (size_t i = 0; round_out && i < w * h; i++) {
        float x;
        memcpy(&x, &img[i], sizeof x);
        /* floor(x + 1/2), saturated, without a libm call per sample */
        float y = x + 0.5f;
        y = y > -2147483648.0f ? y : -2147483648.0f;
        y = y < 2147483520.0f ? y : 2147483520.0f;
        int32_t v = (int32_t)y;
        img[i] = v - ((float)v > y);
    }
    free(tmp);
    return 0;
}

void isec__row_round_clamp(const int32_t *plane_row, int32_t *out, size_t n, int32_t lo, int32_t hi)
{
    const float *src = (const float *)(const void *)plane_row;
    const float flo = (float)lo, fhi = (float)hi + 0.5f;
    for (size_t c = 0; c < n; c++) { /* floor(x + 1/2), clamped: branch-free, vectorizable */
        float y = src[c] + 0.5f;
        y = y > flo ? y : flo;
        y = y < fhi ? y : fhi;
        int32_t v = (int32_t)y;
        out[c] = v - ((float)v > y);
    }
}

void isec__row_clamp(const int32_t *src, int32_t *out, size_t n, int32_t lo, int32_t hi)
{
    for (size_t c = 0; c < n; c++)
        out[c] = src[c] < lo ? lo : src[c] > hi ? hi : src[c];
}

/* ---------------------------------------------------------------- blocks */

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

/* Position of coefficient k of block c of a block row, from the row's block 0: a block further
 * right moves 1 sample in level 3, 2 in level 2, 4 in level 1. */
static inline size_t step_of(int k)
{
    return k < 4 ? 1u : k < 16 ? 2u : 4u;
}

void isec__blocks_gather(const int32_t *plane, size_t w, size_t h, size_t first, size_t n,
                         int32_t *blocks)
{
    size_t per_row = w / 8, pos[64], row = (size_t)-1;
    for (size_t b = 0; b < n; b++) {
        size_t r = (first + b) / per_row, c = (first + b) % per_row;
        if (r != row) {
            block_coords(w, h, r, 0, pos);
            row = r;
        }
        int32_t *o = blocks + b * 64;
        for (int k = 0; k < 64; k++)
            o[k] = plane[pos[k] + c * step_of(k)];
    }
}

void isec__blocks_scatter(int32_t *plane, size_t w, size_t h, size_t first, size_t n,
                          const int32_t *blocks)
{
    size_t per_row = w / 8, pos[64], row = (size_t)-1;
    for (size_t b = 0; b < n; b++) {
        size_t r = (first + b) / per_row, c = (first + b) % per_row;
        if (r != row) {
            block_coords(w, h, r, 0, pos);
            row = r;
        }
        const int32_t *in = blocks + b * 64;
        for (int k = 0; k < 64; k++)
            plane[pos[k] + c * step_of(k)] = in[k];
    }
}

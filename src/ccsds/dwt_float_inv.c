/* The inverse float 9/7 DWT of CCSDS 122.0-B-2 (3.4.1: equations 8 and 9), 3 levels, in single
 * precision (the reconstruction is not normative; coefficients of legitimate images stay below
 * 2^24).
 *
 * Each level is computed a pair of output rows at a time: the column filter of (8) gives rows 2j
 * and 2j+1 from rows j-1..j+2 of the low bands and j-2..j+2 of the high bands, then the row filter
 * turns each into a finished row. The subbands are read through row tables, so they may lie
 * anywhere (the decoder keeps them per block row, in strips); levels 3 and 2 write the next
 * level's LL band into a dense buffer, level 1 hands its rows, in order, to the caller. Nothing
 * is written back, no plane is copied, and the working set is a few rows per band. The sums are
 * those of the column-strip version this replaced, in the same order, so the samples are the
 * same bits. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Table 3-3: q_0..q_3 (low-pass synthesis) and p_0..p_4 (high-pass synthesis). */
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

/* (8) along columns for one pair of output rows: te (row 2j) and to (row 2j+1) from the low rows
 * c[0..3] = C_{j-1}, C_j, C_{j+1}, C_{j+2} and high rows d[0..4] = D_{j-2} .. D_{j+2}. */
static void cols_pair(const float *const c[4], const float *const d[5], float *restrict te,
                      float *restrict to, size_t n)
{
    const float *cm1 = c[0], *cc = c[1], *cp1 = c[2], *cp2 = c[3];
    const float *dm2 = d[0], *dm1 = d[1], *d0 = d[2], *dp1 = d[3], *dp2 = d[4];
    for (size_t i = 0; i < n; i++) {
        te[i] = Q[2] * (cm1[i] + cp1[i]) + Q[0] * cc[i] + P[3] * dm2[i] + P[1] * (dm1[i] + d0[i]) +
                P[3] * dp1[i];
        to[i] = Q[3] * (cm1[i] + cp2[i]) + Q[1] * (cc[i] + cp1[i]) + P[4] * (dm2[i] + dp2[i]) +
                P[2] * (dm1[i] + dp1[i]) + P[0] * d0[i];
    }
}

/* (8) along one row of n = 2N samples (N >= 3): low half then high half in x, interleaved into
 * y. t: 2n + 8 scratch. The halves are copied with their extensions (C_-1, C_N, C_N+1; D_-2,
 * D_-1, D_N, D_N+1) so the loops need no index tests. */
static void row_inv(const float *x, float *restrict y, size_t n, float *restrict t)
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
        y[2 * j] = E[j];
        y[2 * j + 1] = O[j];
    }
}

/* One level of the inverse, produced a pair of rows at a time. The HL, LH, HH rows (and LL at
 * level 3) come from row tables; LL rows of levels 2 and 1 come from the level below's output,
 * which keeps only its last RING rows: level l's pair j reads LL rows j-1..j+2 (mirrored at the
 * ends), and the level below is asked for them just in time, so it is never more than a pair
 * ahead and no LL band is ever stored whole. */
#define RING 8
typedef struct lev {
    const float *const *b[4]; /* row tables (b[0] at level 3 only) */
    size_t bw, bh, next;      /* next pair to produce */
    float *ring;              /* RING rows of 2*bw: this level's output (levels 3, 2) */
    struct lev *src;          /* the level giving LL rows (NULL at level 3) */
} lev;

static void produce(lev *L, size_t j, float *sc, float *even, float *odd);

/* LL row r of level L, producing it first when needed. */
static const float *ll_row(lev *L, size_t r, float *sc)
{
    if (!L->src) return L->b[0][r];
    lev *S = L->src;
    while (2 * S->next <= r) {
        size_t n = 2 * S->bw, k = S->next++;
        produce(S, k, sc, S->ring + (2 * k % RING) * n, S->ring + ((2 * k + 1) % RING) * n);
    }
    return S->ring + (r % RING) * L->bw;
}

/* Rows 2j and 2j+1 of level L (2*bw samples each) into even and odd. sc: 10*bw + 16 floats for
 * the deepest level (the levels below use it before this level does). */
static void produce(lev *L, size_t j, float *sc, float *even, float *odd)
{
    const size_t bw = L->bw, bh = L->bh, n = 2 * bw;
    ptrdiff_t J = (ptrdiff_t)j;
    size_t ci[4] = {cext(J - 1, bh), j, cext(J + 1, bh), cext(J + 2, bh)};
    size_t di[5] = {dext(J - 2, bh), dext(J - 1, bh), j, dext(J + 1, bh), dext(J + 2, bh)};
    const float *ll[4];
    for (int i = 0; i < 4; i++) /* the level below may write sc: ask it before using sc here */
        ll[i] = ll_row(L, ci[i], sc);
    float *ev = sc, *od = sc + n, *t = sc + 2 * n;
    for (int half = 0; half < 2; half++) { /* columns [0, bw): LL over LH; then HL over HH */
        const float *const *C = L->b[1], *const *D = L->b[2 + half];
        const float *c[4] = {ll[0], ll[1], ll[2], ll[3]};
        if (half) {
            for (int i = 0; i < 4; i++)
                c[i] = C[ci[i]];
        }
        const float *d[5] = {D[di[0]], D[di[1]], D[di[2]], D[di[3]], D[di[4]]};
        cols_pair(c, d, ev + (size_t)half * bw, od + (size_t)half * bw, bw);
    }
    row_inv(ev, even, n, t);
    row_inv(od, odd, n, t);
}

/* The three levels, bands fetched through get (NULL: a zero row). w, h: multiples of 8, >= 24.
 * The image rows go to out in order. */
static int inverse3(const float *(*get)(const void *src, unsigned l, unsigned band, size_t j),
                    const void *src, size_t w, size_t h, isec__row_out out, void *ctx)
{
    size_t nptr = 4 * (h / 8) + 3 * (h / 4) + 3 * (h / 2);
    size_t nf = RING * (w / 4) + RING * (w / 2) + 2 * w + 5 * w + 16 + w / 2;
    const float **tab = malloc(sizeof *tab * nptr);
    float *buf = calloc(nf, sizeof *buf);
    if (!tab || !buf) {
        free(tab);
        free(buf);
        return ISEC_ENOMEM;
    }
    float *ring3 = buf, *ring2 = ring3 + RING * (w / 4), *rows = ring2 + RING * (w / 2);
    float *sc = rows + 2 * w, *zero = sc + 5 * w + 16;
    lev lv[3];
    const float **tp = tab;
    for (unsigned l = 3; l >= 1; l--) {
        lev *L = &lv[3 - l];
        L->bw = w >> l;
        L->bh = h >> l;
        L->next = 0;
        L->ring = l == 3 ? ring3 : l == 2 ? ring2 : NULL;
        L->src = l == 3 ? NULL : &lv[2 - l];
        for (unsigned k = l == 3 ? 0u : 1u; k < 4; k++) {
            for (size_t j = 0; j < L->bh; j++) {
                const float *p = get(src, l, k, j);
                tp[j] = p ? p : zero;
            }
            L->b[k] = tp;
            tp += L->bh;
        }
        if (l != 3) L->b[0] = NULL;
    }
    lev *L1 = &lv[2];
    for (size_t j = 0; j < L1->bh; j++) {
        produce(L1, j, sc, rows, rows + w);
        out(ctx, 2 * j, rows);
        out(ctx, 2 * j + 1, rows + w);
    }
    free(tab);
    free(buf);
    return 0;
}

/* ---- the decoder's strips */

static const float *strip_band(const void *src, unsigned l, unsigned band, size_t j)
{
    return (const float *)(const void *)isec__strip_band_row(src, l, band, j);
}

int isec__dwt_float_inverse_strips(const isec__strips *s, size_t h, isec__row_out out, void *ctx)
{
    return inverse3(strip_band, s, s->pw, h, out, ctx);
}

/* ---- a Mallat-layout plane (in place) */

typedef struct {
    const float *p;
    size_t w, h;
} plane_src;

static const float *plane_band(const void *src, unsigned l, unsigned band, size_t j)
{
    const plane_src *ps = src;
    size_t bw = ps->w >> l, bh = ps->h >> l;
    size_t r = band >= 2 ? bh + j : j, c = band & 1u ? bw : 0;
    return ps->p + r * ps->w + c;
}

typedef struct {
    float *dst;
    size_t w;
} plane_out;

static void plane_row(void *ctx, size_t y, const float *row)
{
    plane_out *po = ctx;
    memcpy(po->dst + y * po->w, row, po->w * sizeof *row);
}

int isec__dwt_float_inverse(int32_t *img, size_t w, size_t h, unsigned frac_bits, int round_out)
{
    const float unit = 1.0f / (float)(1u << frac_bits);
    float *res = malloc(sizeof *res * w * h);
    if (!res) return ISEC_ENOMEM;
    /* the float plane lives in img's storage (same width); conversions go through memcpy */
    for (size_t i = 0; i < w * h; i++) {
        float x = (float)img[i] * unit;
        memcpy(&img[i], &x, sizeof x);
    }
    plane_src ps = {(const float *)(const void *)img, w, h};
    plane_out po = {res, w};
    int rc = inverse3(plane_band, &ps, w, h, plane_row, &po);
    if (!rc && round_out) {
        for (size_t r = 0; r < h; r++)
            isec__row_round_clamp((const int32_t *)(const void *)(res + r * w), img + r * w, w,
                                  INT32_MIN, 2147483520);
    } else if (!rc) {
        memcpy(img, res, sizeof *res * w * h);
    }
    free(res);
    return rc;
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

/* The integer 9/7 DWT of CCSDS 122.0-B-2 (3.3.2, 3.4.2: equations 5, 6, 10, 11), 3 levels, and
 * the subband weights of 3.9.
 *
 * Planes are row-major with stride w; level l works on the top-left (w>>l) x (h>>l) region, rows
 * first then columns (3.5), and the inverse columns first then rows (3.6). Columns are processed
 * as whole rows at a time, in strips, so the inner loops run along memory. The decoder's inverse
 * (at the end) streams rows out of its strips instead; the in-place one is its reference in the
 * tests. */
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

/* ---------------------------------------------------------------- inverse, streamed */

/* The inverse of the decoder's strips, a pair of output rows at a time (as dwt_float_inv.c): the
 * column step (10) gives the even rows, kept in a ring, (11) the odd row between them, then each
 * row gets (10)-(11) along it. LL rows of levels 2 and 1 come from the level below just in time.
 * Each step runs in 32 bits when its inputs are small enough for every sum to fit (the plane
 * version decides the same per level), else in 64 bits with saturation; both give the exact
 * transform whenever it fits in 32 bits, so the samples are the same. */
#define RING 8
typedef struct ilev {
    const int32_t *const *b[4]; /* LL (level 3 only), HL, LH, HH row tables */
    const uint32_t *m[4];       /* the OR of each table row's magnitudes (bit length of its max) */
    size_t bw, bh, next, evn;   /* next pair to produce; even column rows computed */
    int32_t *ring, *ev;         /* RING output rows (levels 3, 2); RING even column rows */
    uint32_t ring_m[RING], ev_m[RING];
    struct ilev *src; /* the level giving LL rows (NULL at level 3) */
} ilev;

/* OR of the magnitudes of x[0..n): its bit length is that of the largest. */
static uint32_t mag_or(const int32_t *x, size_t n)
{
    uint32_t m = 0;
    for (size_t i = 0; i < n; i++)
        m |= x[i] < 0 ? 0u - (uint32_t)x[i] : (uint32_t)x[i];
    return m;
}

static void iproduce(ilev *L, size_t j, int32_t *sc, int32_t *even, int32_t *odd, uint32_t *even_m,
                     uint32_t *odd_m);

/* LL row r of level L and its magnitude OR, producing it first when needed. */
static const int32_t *ill_row(ilev *L, size_t r, int32_t *sc, uint32_t *m)
{
    if (!L->src) {
        *m = L->m[0][r];
        return L->b[0][r];
    }
    ilev *S = L->src;
    while (2 * S->next <= r) {
        size_t n = 2 * S->bw, k = S->next++, e = 2 * k % RING, o = (2 * k + 1) % RING;
        iproduce(S, k, sc, S->ring + e * n, S->ring + o * n, &S->ring_m[e], &S->ring_m[o]);
    }
    *m = S->ring_m[r % RING];
    return S->ring + (r % RING) * L->bw;
}

/* (10) down the columns: even row k of both halves into the ring, in 32 bits when the inputs are
 * below 2^24 (the result then stays below 2^25). */
static void even_row(ilev *L, size_t k, int32_t *sc)
{
    const size_t bw = L->bw, kd = k ? k - 1 : 0;
    int32_t *e = L->ev + (k % RING) * 2 * bw;
    uint32_t mc;
    const int32_t *c[2] = {ill_row(L, k, sc, &mc), L->b[1][k]};
    const uint32_t cm[2] = {mc, L->m[1][k]};
    for (size_t half = 0; half < 2; half++) {
        const int32_t *C = c[half], *d0 = L->b[2 + half][kd], *d1 = L->b[2 + half][k];
        int32_t *o = e + half * bw;
        if ((cm[half] | L->m[2 + half][kd] | L->m[2 + half][k]) < (1u << 24))
            for (size_t i = 0; i < bw; i++)
                o[i] = C[i] + fl(-(d0[i] + d1[i]) + 2, 2);
        else
            for (size_t i = 0; i < bw; i++)
                o[i] = sat(C[i] + ((-((int64_t)d0[i] + d1[i]) + 2) >> 2));
    }
    L->ev_m[k % RING] = mag_or(e, 2 * bw);
}

static inline size_t emir(ptrdiff_t k, size_t N)
{
    if (k < 0) return (size_t)(-k);
    if ((size_t)k >= N) return 2 * N - 1 - (size_t)k;
    return (size_t)k;
}

/* (10)-(11) along a row whose magnitudes are below bound: 32 bits when that is below 2^24
 * (int_inv_line32's limit). Returns the OR of the results' magnitudes. */
static uint32_t row_step(int32_t *x, size_t n, int32_t *sc, uint64_t bound)
{
    if (bound < (1u << 24))
        int_inv_line32(x, n, sc);
    else
        int_inv_line(x, n, sc);
    return mag_or(x, n);
}

/* Rows 2j and 2j+1 of level L (2*bw values each) and their magnitude ORs. sc: 2*bw + 8 values,
 * used after the levels below have run. */
static void iproduce(ilev *L, size_t j, int32_t *sc, int32_t *even, int32_t *odd, uint32_t *even_m,
                     uint32_t *odd_m)
{
    const size_t bw = L->bw, N = L->bh, n = 2 * bw;
    const size_t kmax = j + 2 < N ? j + 2 : N - 1;
    while (L->evn <= kmax)
        even_row(L, L->evn++, sc);
    ptrdiff_t J = (ptrdiff_t)j;
    const int32_t *E[4];
    uint32_t em = 0;
    size_t ei[4] = {emir(J - 1, N), j, emir(J + 1, N), emir(J + 2, N)};
    for (int i = 0; i < 4; i++) {
        E[i] = L->ev + (ei[i] % RING) * n;
        em |= L->ev_m[ei[i] % RING];
    }
    uint64_t om = 0; /* bound on the odd row: |D| + (20 |E| + 8) / 16 + 1 */
    for (size_t half = 0; half < 2; half++) { /* (11) down the columns */
        const size_t o = half * bw;
        const int32_t *D = L->b[2 + half][j], *em1 = E[0] + o, *e0 = E[1] + o, *e1 = E[2] + o,
                      *e2 = E[3] + o;
        int32_t *to = odd + o;
        uint32_t dm = L->m[2 + half][j];
        uint64_t b = (uint64_t)dm + (20 * (uint64_t)em + 8) / 16 + 1;
        if (b > om) om = b;
        if ((dm | em) < (1u << 25)) /* 9 * (2 * 2^25) + 2^26 + 8 < 2^31 */
            for (size_t i = 0; i < bw; i++)
                to[i] = D[i] + fl(9 * (e0[i] + e1[i]) - (em1[i] + e2[i]) + 8, 4);
        else
            for (size_t i = 0; i < bw; i++)
                to[i] = sat(D[i] +
                            ((9 * ((int64_t)e0[i] + e1[i]) - ((int64_t)em1[i] + e2[i]) + 8) >> 4));
    }
    memcpy(even, E[1], n * sizeof *even);
    *even_m = row_step(even, n, sc, L->ev_m[j % RING]);
    *odd_m = row_step(odd, n, sc, om);
}

int isec__dwt_int_inverse_strips(const isec__strips *s, size_t h, isec__row_out out, void *ctx)
{
    const size_t w = s->pw;
    size_t nptr = 4 * (h / 8) + 3 * (h / 4) + 3 * (h / 2);
    size_t nv = RING * (w / 4) * 2 + RING * (w / 2) * 2 + RING * w + 2 * w + w + 16 + w / 2;
    const int32_t **tab = malloc(sizeof *tab * nptr);
    uint32_t *tabm = malloc(sizeof *tabm * nptr);
    int32_t *buf = calloc(nv, sizeof *buf);
    if (!tab || !tabm || !buf) {
        free(tab);
        free(tabm);
        free(buf);
        return ISEC_ENOMEM;
    }
    int32_t *p = buf;
    ilev lv[3];
    for (unsigned l = 3; l >= 1; l--) {
        ilev *L = &lv[3 - l];
        L->bw = w >> l;
        L->bh = h >> l;
        L->next = L->evn = 0;
        L->src = l == 3 ? NULL : &lv[2 - l];
        L->ring = l == 1 ? NULL : p;
        p += l == 1 ? 0 : RING * 2 * L->bw;
        L->ev = p;
        p += RING * 2 * L->bw;
    }
    int32_t *rows = p, *sc = rows + 2 * w, *zero = sc + w + 16;
    size_t t = 0;
    for (unsigned l = 3; l >= 1; l--) {
        ilev *L = &lv[3 - l];
        L->b[0] = NULL;
        L->m[0] = NULL;
        for (unsigned k = l == 3 ? 0u : 1u; k < 4; k++) {
            L->b[k] = tab + t;
            L->m[k] = tabm + t;
            for (size_t j = 0; j < L->bh; j++, t++) {
                const int32_t *q = isec__strip_band_row(s, l, k, j);
                tab[t] = q ? q : zero;
                tabm[t] = q ? mag_or(q, L->bw) : 0;
            }
        }
    }
    ilev *L1 = &lv[2];
    uint32_t m0, m1;
    for (size_t j = 0; j < L1->bh; j++) {
        iproduce(L1, j, sc, rows, rows + w, &m0, &m1);
        out(ctx, 2 * j, (const float *)(const void *)rows);
        out(ctx, 2 * j + 1, (const float *)(const void *)(rows + w));
    }
    free(tab);
    free(tabm);
    free(buf);
    return 0;
}

/* Coding of quantized DC coefficients and AC bit depths (CCSDS 122.0-B-2 4.3.2 and 4.4): mapping
 * of successive differences, gaggles of 16, code option k chosen optimally or by Table 4-10. */
#include "bpe.h"

uint32_t isec__map_delta(int32_t prev, int32_t cur, int32_t xmin, int32_t xmax)
{
    int64_t d = (int64_t)cur - prev;
    int64_t theta =
        (int64_t)prev - xmin < (int64_t)xmax - prev ? (int64_t)prev - xmin : (int64_t)xmax - prev;
    if (d >= 0 && d <= theta) return (uint32_t)(2 * d);
    if (d < 0 && d >= -theta) return (uint32_t)(-2 * d - 1);
    return (uint32_t)(theta + (d < 0 ? -d : d));
}

int32_t isec__unmap_delta(int32_t prev, uint32_t m, int32_t xmin, int32_t xmax)
{
    int64_t lo = (int64_t)prev - xmin, hi = (int64_t)xmax - prev;
    int64_t theta = lo < hi ? lo : hi, d;
    if ((int64_t)m <= 2 * theta)
        d = (m & 1u) ? -(((int64_t)m + 1) / 2) : (int64_t)m / 2;
    else
        d = lo < hi ? (int64_t)m - theta : theta - (int64_t)m; /* only one sign stays in range */
    int64_t v = prev + d;
    if (v < xmin) v = xmin; /* corrupt input only */
    if (v > xmax) v = xmax;
    return (int32_t)v;
}

static void put_zeros(isec__bw *w, uint32_t z)
{
    while (z >= 32) {
        isec__bw_put(w, 0, 32);
        z -= 32;
    }
    isec__bw_put(w, 0, z);
}

/* Table 4-10 (equation 20), with J values summing to delta. Returns k, or -1 for uncoded. */
static int heuristic_k(uint64_t delta, uint64_t J, unsigned N)
{
    if (64 * delta >= 23 * J * (1ull << N)) return -1;
    if (207 * J > 128 * delta) return 0;
    if (J * (1ull << (N + 5)) <= 128 * delta + 49 * J) return (int)N - 2;
    int k = 0;
    while (k + 1 <= (int)N - 2 && J * (1ull << (k + 1 + 7)) <= 128 * delta + 49 * J)
        k++;
    return k;
}

void isec__gaggles_encode(isec__bw *w, const uint32_t *v, uint32_t n, unsigned N, int heuristic)
{
    unsigned id_len, max_k;
    isec__kopt(N, &id_len, &max_k);
    for (uint32_t g0 = 0; g0 < n; g0 += 16) {
        uint32_t g1 = n - g0 < 16 ? n : g0 + 16, s0 = g0 ? g0 : 1; /* s0: first difference */
        uint64_t J = g1 - s0;
        int k = -1;
        if (heuristic) {
            uint64_t delta = 0;
            for (uint32_t i = s0; i < g1; i++)
                delta += v[i];
            k = heuristic_k(delta, J, N);
        } else {
            /* 4.3.2.13: uncoded wins ties; among k the smallest wins */
            uint64_t best = J * N;
            for (unsigned kk = 0; kk <= max_k; kk++) {
                uint64_t c = J * (kk + 1);
                for (uint32_t i = s0; i < g1; i++)
                    c += v[i] >> kk;
                if (c < best) {
                    best = c;
                    k = (int)kk;
                }
            }
        }
        isec__bw_put(w, k < 0 ? (1u << id_len) - 1u : (uint32_t)k, id_len);
        if (g0 == 0) isec__bw_put(w, v[0], N);
        if (k < 0) {
            for (uint32_t i = s0; i < g1; i++)
                isec__bw_put(w, v[i], N);
        } else {
            for (uint32_t i = s0; i < g1; i++) {
                put_zeros(w, v[i] >> k);
                isec__bw_put(w, 1, 1);
            }
            if (k)
                for (uint32_t i = s0; i < g1; i++)
                    isec__bw_put(w, v[i], (unsigned)k);
        }
    }
}

uint32_t isec__gaggles_decode(isec__br *r, uint32_t *v, uint32_t n, unsigned N, int *bad)
{
    unsigned id_len, max_k;
    isec__kopt(N, &id_len, &max_k);
    uint32_t maxv = (1u << N) - 1u;
    for (uint32_t g0 = 0; g0 < n; g0 += 16) {
        uint32_t g1 = n - g0 < 16 ? n : g0 + 16, s0 = g0 ? g0 : 1;
        uint32_t id = isec__br_get(r, id_len);
        if (r->over) return g0;
        if (g0 == 0) {
            v[0] = isec__br_get(r, N);
            if (r->over) return 0;
        }
        if (id == (1u << id_len) - 1u) {
            for (uint32_t i = s0; i < g1; i++) {
                v[i] = isec__br_get(r, N);
                if (r->over) return i;
            }
            continue;
        }
        if (id > max_k) {
            *bad = 1;
            return g0 ? g0 : 1;
        }
        unsigned k = id;
        /* a value is complete only with its second part: a cut among first parts keeps none of
           this gaggle */
        for (uint32_t i = s0; i < g1; i++) {
            uint32_t z = 0;
            while (!isec__br_bit(r)) {
                if (r->over) return s0;
                if (++z > (maxv >> k)) {
                    *bad = 1;
                    return s0;
                }
            }
            if (r->over) return s0;
            v[i] = z << k;
        }
        if (k)
            for (uint32_t i = s0; i < g1; i++) {
                v[i] |= isec__br_get(r, k);
                if (r->over) return i;
            }
    }
    return n;
}

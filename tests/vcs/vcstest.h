/* Helpers shared by the VCS tests: deterministic images, a fixed key and watermark, chi-square. */
#ifndef ISEC_VCSTEST_H
#define ISEC_VCSTEST_H
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imgsec/vcs.h"
#include "testutil.h"

static inline uint32_t vt_rand(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(*s >> 33);
}

static const uint8_t vt_key[ISEC_VCS_KEY_LEN] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                                                17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};

/* A w x h watermark of pseudorandom bits (caller frees bits). */
static inline isec_vcs_watermark vt_watermark(uint32_t w, uint32_t h, uint64_t seed)
{
    isec_vcs_watermark wm = {w, h, malloc((size_t)w * h)};
    for (size_t i = 0; i < (size_t)w * h; i++) wm.bits[i] = (uint8_t)(vt_rand(&seed) >> 7 & 1);
    return wm;
}

/* A smooth gray test image with edges: gradients, a disc and a bar pattern. */
static inline uint8_t *vt_gray(uint32_t w, uint32_t h, unsigned channels)
{
    uint8_t *p = malloc((size_t)w * h * channels);
    for (uint32_t y = 0; y < h; y++)
        for (uint32_t x = 0; x < w; x++)
            for (unsigned c = 0; c < channels; c++) {
                double dx = x - w / 2.0, dy = y - h / 2.0;
                double v = 255.0 * (x + c * 37 % w) / w;
                if (dx * dx + dy * dy < (w * w) / 16.0) v = 255 - v;
                if ((x / 8) % 5 == 0) v = 255.0 * ((y / 16) % 2);
                p[((size_t)y * w + x) * channels + c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
    return p;
}

/* Upper critical value of chi-square with df degrees of freedom at ~z standard deviations
 * (Wilson-Hilferty). */
static inline double vt_chi2_crit(double df, double z)
{
    double a = 2.0 / (9.0 * df);
    double t = 1.0 - a + z * sqrt(a);
    return df * t * t * t;
}

/* Pearson chi-square of a rows x 2 contingency table (counts[r*2+c]); empty rows are dropped.
 * *df gets the degrees of freedom. */
static inline double vt_chi2(const uint64_t *counts, unsigned rows, unsigned *df)
{
    uint64_t col[2] = {0, 0}, total = 0;
    unsigned used = 0;
    for (unsigned r = 0; r < rows; r++) {
        col[0] += counts[2 * r];
        col[1] += counts[2 * r + 1];
        if (counts[2 * r] + counts[2 * r + 1]) used++;
    }
    total = col[0] + col[1];
    double x2 = 0;
    for (unsigned r = 0; r < rows; r++) {
        uint64_t rs = counts[2 * r] + counts[2 * r + 1];
        if (!rs) continue;
        for (unsigned c = 0; c < 2; c++) {
            double e = (double)rs * (double)col[c] / (double)total;
            double d = (double)counts[2 * r + c] - e;
            x2 += d * d / e;
        }
    }
    *df = used > 1 ? used - 1 : 1;
    return x2;
}
#endif

/* bench_vcs [-n RUNS] IMAGE.pnm...: VCS split, stack and watermark extraction in memory (median
 * of RUNS, milliseconds), for each mode and layout, against a peer measured in the same run:
 * the classic Naor-Shamir 2-out-of-2 scheme on the same halftone (one pixel -> 2 subpixels per
 * share, RAND_bytes coins), the textbook baseline every non-expanding scheme is compared with.
 * Input: binary PGM (P5) or PPM (P6), 8-bit (bench/bench-vcs converts PNGs with netpbm). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "imgsec/vcs.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static uint8_t *read_pnm(const char *path, uint32_t *w, uint32_t *h, unsigned *ch)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char magic[3] = {0};
    unsigned maxv = 0;
    if (fscanf(f, "%2s %u %u %u", magic, w, h, &maxv) != 4 || maxv != 255 || fgetc(f) == EOF ||
        *w == 0 || *h == 0 || *w > 16384 || *h > 16384) {
        fclose(f);
        return NULL;
    }
    *ch = !strcmp(magic, "P6") ? 3 : !strcmp(magic, "P5") ? 1 : 0;
    size_t n = (size_t)*w * *h * *ch;
    uint8_t *p = *ch ? malloc(n) : NULL;
    if (!p || fread(p, 1, n, f) != n) {
        free(p);
        p = NULL;
    }
    fclose(f);
    return p;
}

/* Naor-Shamir (2,2): share 1 gets a random pattern [1 0] or [0 1] per pixel; share 2 the same
 * for white, the complement for black; stacking is OR. */
static void ns_split(const uint8_t *bin, size_t n, uint8_t *s1, uint8_t *s2, uint8_t *coins)
{
    RAND_bytes(coins, (int)((n + 7) / 8));
    for (size_t i = 0; i < n; i++) {
        unsigned c = (coins[i / 8] >> (i % 8)) & 1;
        s1[2 * i] = (uint8_t)c;
        s1[2 * i + 1] = (uint8_t)!c;
        unsigned d = bin[i] ? !c : c;
        s2[2 * i] = (uint8_t)d;
        s2[2 * i + 1] = (uint8_t)!d;
    }
}

int main(int argc, char **argv)
{
    int runs = 9, first = 1;
    if (argc > 2 && !strcmp(argv[1], "-n")) {
        runs = atoi(argv[2]);
        first = 3;
    }
    if (runs < 1 || runs > 1000 || first >= argc) {
        fprintf(stderr, "usage: bench_vcs [-n RUNS] IMAGE.pnm...\n");
        return 2;
    }
    uint8_t key[32];
    RAND_bytes(key, sizeof key);
    isec_vcs_watermark wm = {64, 64, malloc(64 * 64)};
    for (int i = 0; i < 64 * 64; i++) wm.bits[i] = (uint8_t)((i * 7 + i / 64) % 3 == 0);
    printf("%-14s %-6s %-8s %6s %9s %9s %9s %9s %9s %8s\n", "image", "mode", "layout", "planes",
           "split", "stack", "extract", "NS-split", "NS-stack", "x-split");
    int status = 0;
    for (int fi = first; fi < argc; fi++) {
        uint32_t w, h;
        unsigned ch;
        uint8_t *px = read_pnm(argv[fi], &w, &h, &ch);
        if (!px) {
            fprintf(stderr, "%s: cannot read (8-bit P5/P6 only)\n", argv[fi]);
            status = 1;
            continue;
        }
        const char *name = strrchr(argv[fi], '/');
        name = name ? name + 1 : argv[fi];
        isec_vcs_image img = {w, h, ch, px};
        const unsigned layouts[2] = {ch == 3 ? ISEC_VCS_LAYOUT_CMY : ISEC_VCS_LAYOUT_GRAY,
                                     ISEC_VCS_LAYOUT_PLANES};
        for (unsigned li = 0; li < 2; li++)
            for (unsigned mode = 0; mode < 2; mode++) {
                isec_vcs_params p;
                isec_vcs_params_init(&p);
                p.mode = mode;
                p.layout = layouts[li];
                const size_t n = (size_t)w * h;
                const unsigned np = isec_vcs_planes_count(&img, &p);
                double *ts = malloc(sizeof(double) * (size_t)runs * 5);
                double *tst = ts + runs, *tx = ts + 2 * runs, *tn = ts + 3 * runs, *tns = ts + 4 * runs;
                uint8_t *out = NULL, *bin = malloc(n * np), *s1 = malloc(2 * n * np),
                        *s2 = malloc(2 * n * np), *coins = malloc(n / 8 + 1), *ns_out = malloc(2 * n);
                isec_vcs_binarize(&img, &p, bin);
                for (int r = 0; r < runs; r++) {
                    isec_vcs_share *a = NULL, *b = NULL;
                    double t0 = now_ms();
                    if (isec_vcs_split(&img, &p, key, &wm, &a, &b) < 0) {
                        fprintf(stderr, "split failed\n");
                        return 1;
                    }
                    double t1 = now_ms();
                    size_t len = isec_vcs_stack_bound(a);
                    if (!out) out = malloc(len);
                    if (isec_vcs_stack(a, b, 0, out, len) < 0) return 1;
                    double t2 = now_ms();
                    isec_vcs_wm_result res;
                    if (isec_vcs_watermark_extract(a, b, key, &wm, NULL, &res) < 0 || res.nc != 1.0 ||
                        res.invalid != 0 || res.block_ber != 0.0) {
                        fprintf(stderr, "watermark check failed\n");
                        return 1;
                    }
                    double t3 = now_ms();
                    ts[r] = t1 - t0;
                    tst[r] = t2 - t1;
                    tx[r] = t3 - t2;
                    isec_vcs_share_free(a);
                    isec_vcs_share_free(b);
                    /* Peer: halftone (part of our split too) + Naor-Shamir per plane. */
                    double u0 = now_ms();
                    isec_vcs_binarize(&img, &p, bin);
                    for (unsigned k = 0; k < np; k++)
                        ns_split(bin + k * n, n, s1 + 2 * k * n, s2 + 2 * k * n, coins);
                    double u1 = now_ms();
                    for (unsigned k = 0; k < np; k++)
                        for (size_t i = 0; i < 2 * n; i++) ns_out[i] = s1[2 * k * n + i] | s2[2 * k * n + i];
                    double u2 = now_ms();
                    tn[r] = u1 - u0;
                    tns[r] = u2 - u1;
                }
                double ms = median(ts, runs), mst = median(tst, runs), mx = median(tx, runs),
                       mn = median(tn, runs), mns = median(tns, runs);
                printf("%-14s %-6s %-8s %6u %8.2fms %8.2fms %8.2fms %8.2fms %8.2fms %7.2fx\n", name,
                       mode ? "secure" : "exact",
                       layouts[li] == ISEC_VCS_LAYOUT_PLANES ? "planes" : ch == 3 ? "cmy" : "gray", np,
                       ms, mst, mx, mn, mns, ms / mn);
                free(ts);
                free(out);
                free(bin);
                free(s1);
                free(s2);
                free(coins);
                free(ns_out);
            }
        free(px);
    }
    free(wm.bits);
    return status;
}

/* Times the CCSDS 122.0 codec in-process on PGM images: encode and decode throughput in
 * Msamples/s (median of N runs) and the rate. Checks a lossless round trip is exact.
 * Usage: bench_ccsds [-n RUNS] [-s S] [--float] [--bpp R] IMAGE.pgm...
 * And for whole-process timings, commands A and B run alternately N times (so both see the same
 * machine load), printing their median wall times and median CPU times (user + system, which
 * other work on a shared machine disturbs less) in microseconds: wallA wallB cpuA cpuB
 *        bench_ccsds --pair N A [ARGS...] -- B [ARGS...]
 * (run by bench/bench-ccsds) */
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>

extern char **environ;

#include "imgsec/ccsds.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int32_t *read_pgm(const char *path, uint32_t *w, uint32_t *h, unsigned *depth)
{
    FILE *f = fopen(path, "rb");
    unsigned maxv;
    if (!f) return NULL;
    int32_t *px = NULL;
    if (fscanf(f, "P5 %u %u %u", w, h, &maxv) == 3 && fgetc(f) != EOF && maxv && maxv < 65536) {
        size_t n = (size_t)*w * *h, bps = maxv > 255 ? 2 : 1;
        uint8_t *b = malloc(n * bps);
        px = malloc(sizeof *px * n);
        if (b && px && fread(b, bps, n, f) == n) {
            for (size_t i = 0; i < n; i++)
                px[i] = bps == 1 ? b[i] : (int32_t)(b[2 * i] << 8 | b[2 * i + 1]);
        } else {
            free(px);
            px = NULL;
        }
        free(b);
        *depth = 0;
        while ((1u << *depth) - 1u < maxv)
            (*depth)++;
    }
    fclose(f);
    return px;
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

/* CPU time (user + system) of all children waited for so far. */
static double children_cpu(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_CHILDREN, &ru)) return 0;
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

/* Wall time of one run of argv (stdout and stderr to /dev/null), its CPU time in *cpu; negative
 * if it failed. */
static double run_once(char **argv, double *cpu)
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    double t0 = now();
    pid_t pid;
    int st = -1;
    double c0 = children_cpu();
    if (posix_spawn(&pid, argv[0], &fa, NULL, argv, environ) != 0 || waitpid(pid, &st, 0) < 0)
        st = -1;
    double t = now() - t0;
    *cpu = children_cpu() - c0;
    posix_spawn_file_actions_destroy(&fa);
    return st == 0 ? t : -1;
}

static int pair(int argc, char **argv)
{
    int n = atoi(argv[2]), split = 3;
    while (split < argc && strcmp(argv[split], "--"))
        split++;
    if (n < 1 || n > 1000 || split >= argc - 1 || split == 3) {
        fprintf(stderr, "usage: bench_ccsds --pair N A [ARGS...] -- B [ARGS...]\n");
        return 2;
    }
    argv[split] = NULL;
    char **a = argv + 3, **b = argv + split + 1;
    double *ta = malloc(sizeof *ta * (size_t)n), *tb = malloc(sizeof *tb * (size_t)n);
    double *ca = malloc(sizeof *ca * (size_t)n), *cb = malloc(sizeof *cb * (size_t)n);
    if (!ta || !tb || !ca || !cb) return 1;
    for (int i = 0; i < n; i++) {
        ta[i] = run_once(a, &ca[i]);
        tb[i] = run_once(b, &cb[i]);
        if (ta[i] < 0 || tb[i] < 0) {
            fprintf(stderr, "bench_ccsds: %s failed\n", ta[i] < 0 ? a[0] : b[0]);
            return 1;
        }
    }
    printf("%.0f %.0f %.0f %.0f\n", median(ta, n) * 1e6, median(tb, n) * 1e6, median(ca, n) * 1e6,
           median(cb, n) * 1e6);
    free(ta);
    free(tb);
    free(ca);
    free(cb);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 2 && !strcmp(argv[1], "--pair")) return pair(argc, argv);
    int runs = 5, i = 1;
    isec_ccsds_params p;
    isec_ccsds_params_init(&p);
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (!strcmp(argv[i], "-n") && i + 1 < argc)
            runs = atoi(argv[++i]) > 0 ? atoi(argv[i]) : 1;
        else if (!strcmp(argv[i], "-s") && i + 1 < argc)
            p.segment_blocks = (uint32_t)atoi(argv[++i]);
        else if (!strcmp(argv[i], "--float"))
            p.dwt = ISEC_CCSDS_DWT_FLOAT;
        else if (!strcmp(argv[i], "--bpp") && i + 1 < argc)
            p.bpp = (float)atof(argv[++i]);
        else
            return fprintf(stderr, "bad option %s\n", argv[i]), 2;
    }
    int status = 0;
    printf("%-24s %11s %9s %9s %8s\n", "image", "size", "enc MS/s", "dec MS/s", "bpp");
    for (; i < argc; i++) {
        uint32_t w, h;
        unsigned depth;
        int32_t *px = read_pgm(argv[i], &w, &h, &depth);
        if (!px) {
            fprintf(stderr, "%s: unreadable\n", argv[i]);
            status = 1;
            continue;
        }
        isec_ccsds_image img = {.width = w, .height = h, .depth = depth, .pixels = px};
        double *te = malloc(sizeof *te * (size_t)runs), *td = malloc(sizeof *td * (size_t)runs);
        if (!te || !td) return 1;
        size_t total = 0;
        uint8_t *buf = NULL;
        int32_t *out = malloc(sizeof *out * w * h);
        for (int r = 0; r < runs; r++) {
            double t0 = now();
            isec_ccsds_enc *e;
            if (isec_ccsds_enc_new(&e, &img, &p)) return 1;
            size_t cap = 0;
            total = 0;
            while (isec_ccsds_enc_segments_left(e)) {
                size_t need = isec_ccsds_enc_segment_bound(e), got;
                if (total + need > cap) {
                    cap = 2 * (total + need);
                    buf = realloc(buf, cap);
                }
                if (isec_ccsds_enc_next(e, buf + total, cap - total, &got, NULL)) return 1;
                total += got;
            }
            isec_ccsds_enc_free(e);
            double t1 = now();
            isec_ccsds_dec *d;
            if (isec_ccsds_dec_new(&d, NULL) || isec_ccsds_dec_stream(d, buf, total) ||
                isec_ccsds_dec_image(d, out, (size_t)w * h))
                return 1;
            isec_ccsds_dec_free(d);
            double t2 = now();
            te[r] = t1 - t0;
            td[r] = t2 - t1;
        }
        if (p.dwt == ISEC_CCSDS_DWT_INTEGER && p.bpp == 0 && memcmp(out, px, sizeof *px * w * h)) {
            fprintf(stderr, "%s: round trip differs\n", argv[i]);
            status = 1;
        }
        const char *name = strrchr(argv[i], '/') ? strrchr(argv[i], '/') + 1 : argv[i];
        double ms = (double)w * h / 1e6;
        double me = median(te, runs), md = median(td, runs);
        free(te);
        free(td);
        printf("%-24s %5ux%-5u %9.2f %9.2f %8.3f\n", name, w, h, ms / me, ms / md,
               8.0 * (double)total / ((double)w * h));
        free(buf);
        buf = NULL;
        free(out);
        free(px);
    }
    return status;
}

/* bench_jpeg: in-process throughput of isec_jpeg_crypt(), for bench/bench-jpeg.
 *
 *   bench_jpeg [-n RUNS] [-d] FILE...
 *   bench_jpeg -x CMD [ARG...]
 *
 * -x runs CMD once (its output to /dev/null) and prints, for scripts,
 *   exec WALL_NS CPU_NS
 * CPU_NS being the user + system time of CMD and its threads (getrusage of the waited child, in
 * microseconds, unlike /usr/bin/time's 10 ms steps); it fails if CMD does.
 *
 * Reads each file once, then times RUNS (default 7) whole-buffer encryptions (-d: decryptions)
 * into a separate output buffer and reports the median. MB are 10^6 bytes of input file.
 * Output, one line per file and a total (sum of medians), space-separated for scripts:
 *   file PATH BYTES MEDIAN_NS MB_PER_S MEDIAN_CPU_NS
 *   total FILES BYTES MEDIAN_NS MB_PER_S MEDIAN_CPU_NS
 * MEDIAN_CPU_NS is the process CPU time (CLOCK_PROCESS_CPUTIME_ID, all threads) of a run: on a
 * shared machine it moves less with the load than wall time does.
 * Nothing is asserted about the numbers.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <fcntl.h>
#include <unistd.h>

#include "imgsec/jpeg.h"

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 20, n = 0;
    uint8_t *b = malloc(cap);
    while (b) {
        n += fread(b + n, 1, cap - n, f);
        if (n < cap) break;
        uint8_t *nb = realloc(b, cap *= 2);
        if (!nb) {
            free(b);
            b = NULL;
        } else {
            b = nb;
        }
    }
    fclose(f);
    *len = n;
    return b;
}

static uint64_t now_ns(clockid_t clk)
{
    struct timespec ts;
    clock_gettime(clk, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int run_command(char **argv)
{
    struct rusage r0, r1;
    getrusage(RUSAGE_CHILDREN, &r0);
    uint64_t t0 = now_ns(CLOCK_MONOTONIC);
    pid_t pid = fork();
    if (pid < 0) {
        perror("bench_jpeg: fork");
        return 1;
    }
    if (pid == 0) {
        int fd = open("/dev/null", O_WRONLY);
        if (fd >= 0) dup2(fd, 1);
        execvp(argv[0], argv);
        perror(argv[0]);
        _exit(127);
    }
    int st = 0;
    if (waitpid(pid, &st, 0) != pid) {
        perror("bench_jpeg: waitpid");
        return 1;
    }
    uint64_t wall = now_ns(CLOCK_MONOTONIC) - t0;
    getrusage(RUSAGE_CHILDREN, &r1);
#define US(tv) ((uint64_t)(tv).tv_sec * 1000000u + (uint64_t)(tv).tv_usec)
    uint64_t cpu = (US(r1.ru_utime) + US(r1.ru_stime)) - (US(r0.ru_utime) + US(r0.ru_stime));
#undef US
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "bench_jpeg: %s failed (status %d)\n", argv[0], st);
        return 1;
    }
    printf("exec %llu %llu\n", (unsigned long long)wall, (unsigned long long)cpu * 1000u);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 2 && !strcmp(argv[1], "-x")) return run_command(argv + 2);
    int runs = 7, mode = ISEC_JPEG_ENCRYPT, first = 1;
    while (first < argc && argv[first][0] == '-') {
        if (!strcmp(argv[first], "-n") && first + 1 < argc) {
            runs = atoi(argv[first + 1]);
            first += 2;
        } else if (!strcmp(argv[first], "-d")) {
            mode = ISEC_JPEG_DECRYPT;
            first++;
        } else {
            break;
        }
    }
    if (first >= argc || runs < 1) {
        fprintf(stderr, "usage: bench_jpeg [-n RUNS] [-d] FILE...\n");
        return 2;
    }
    uint8_t kb[ISEC_KEY_BYTES];
    for (int i = 0; i < ISEC_KEY_BYTES; i++) kb[i] = (uint8_t)(i * 7 + 1);
    isec_key *key;
    if (isec_key_from_bytes(&key, kb) < 0) return 1;
    uint64_t *t = malloc(2 * (size_t)runs * sizeof *t), total_ns = 0, total_cpu = 0, total_bytes = 0;
    int nfiles = 0, status = 0;
    for (int i = first; i < argc && t; i++) {
        size_t len;
        uint8_t *in = slurp(argv[i], &len), *out = in ? malloc(len + 1) : NULL;
        char detail[256] = "";
        if (!in || !out) {
            fprintf(stderr, "bench_jpeg: cannot read %s\n", argv[i]);
            status = 1;
        } else {
            int rc = 0;
            for (int r = 0; r < runs && rc == 0; r++) {
                uint64_t t0 = now_ns(CLOCK_MONOTONIC), c0 = now_ns(CLOCK_PROCESS_CPUTIME_ID);
                rc = isec_jpeg_crypt(mode, key, in, len, out, detail, sizeof detail);
                t[r] = now_ns(CLOCK_MONOTONIC) - t0;
                t[runs + r] = now_ns(CLOCK_PROCESS_CPUTIME_ID) - c0;
            }
            if (rc < 0) {
                fprintf(stderr, "bench_jpeg: %s: %s (%s)\n", argv[i], isec_err_name(rc), detail);
                status = 1;
            } else {
                qsort(t, (size_t)runs, sizeof *t, cmp_u64);
                qsort(t + runs, (size_t)runs, sizeof *t, cmp_u64);
                uint64_t med = t[runs / 2], cpu = t[runs + runs / 2];
                printf("file %s %zu %llu %.1f %llu\n", argv[i], len, (unsigned long long)med,
                       med ? (double)len * 1e3 / (double)med : 0.0, (unsigned long long)cpu);
                total_ns += med;
                total_cpu += cpu;
                total_bytes += len;
                nfiles++;
            }
        }
        free(in);
        free(out);
    }
    printf("total %d %llu %llu %.1f %llu\n", nfiles, (unsigned long long)total_bytes,
           (unsigned long long)total_ns, total_ns ? (double)total_bytes * 1e3 / (double)total_ns : 0.0,
           (unsigned long long)total_cpu);
    free(t);
    isec_key_free(key);
    return status;
}

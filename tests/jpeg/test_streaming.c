/* The push API: any split of the input gives the whole-buffer result; output never trails by
 * more than ISEC_JPEG_MAX_HELD; every prefix of a file fails cleanly or succeeds;
 * with --regress DIR, every file there (crash inputs found by fuzzing) is walked safely. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imgsec/jpeg.h"
#include "jpegtool.h"
#include "testutil.h"

static isec_key *key;
static int cases;
static unsigned rng = 12345;

static unsigned next_rand(void)
{
    rng = rng * 1103515245u + 12345u;
    return rng >> 8;
}

/* How feed() runs a context: pieces drawn by pick(), or of `piece` bytes when pick is NULL;
 * with `threads` threads; and what it found besides rc and the output. */
struct feeding {
    size_t (*pick)(void);
    size_t piece;
    unsigned threads;
    size_t maxlag;     /* the most input not yet answered by output, over the run */
    char detail[256];  /* the context's error detail */
    uint64_t helper_mcus;
};

/* Feeds the input through a new context; returns rc and the output. */
static int feed_with(int mode, const uint8_t *in, size_t len, uint8_t *out, struct feeding *f)
{
    isec_jpeg *c;
    int rc = isec_jpeg_new(&c, mode, key);
    if (rc) return rc;
    if (f->threads) rc = isec_jpeg_set_threads(c, f->threads);
    size_t done = 0, w = 0;
    uint8_t *tmp = malloc(isec_jpeg_update_bound(f->pick ? len : f->piece));
    while (rc == 0 && done < len) {
        size_t take = f->pick ? f->pick() : f->piece;
        if (take > len - done) take = len - done;
        size_t got = 0;
        rc = isec_jpeg_update(c, in + done, take, tmp, isec_jpeg_update_bound(take), &got);
        memcpy(out + w, tmp, got);
        w += got;
        done += take;
        if (done - w > f->maxlag) f->maxlag = done - w;
    }
    if (rc == 0) {
        size_t got = 0;
        rc = isec_jpeg_final(c, tmp, isec_jpeg_final_bound(), &got);
        memcpy(out + w, tmp, got);
        w += got;
        if (rc == 0 && w != len) rc = ISEC_ESTATE;
    }
    snprintf(f->detail, sizeof f->detail, "%s", isec_jpeg_detail(c));
    f->helper_mcus = isec_jpeg_get_info(c)->helper_mcus;
    /* after an error or the end, the context refuses further use */
    size_t got;
    if (isec_jpeg_update(c, in, 1, tmp, isec_jpeg_update_bound(1), &got) != ISEC_ESTATE) rc = -100;
    free(tmp);
    isec_jpeg_free(c);
    return rc;
}

/* Feeds in pieces drawn by pick(), one thread; returns rc and the output. */
static int feed(int mode, const uint8_t *in, size_t len, uint8_t *out, size_t (*pick)(void),
                size_t *maxlag)
{
    struct feeding f = {.pick = pick, .maxlag = *maxlag};
    int rc = feed_with(mode, in, len, out, &f);
    *maxlag = f.maxlag;
    return rc;
}

static size_t one(void) { return 1; }
static size_t small(void) { return 1 + next_rand() % 97; }
static size_t large(void) { return 1 + next_rand() % 70000; }

static void check_splits(const char *name, const uint8_t *in, size_t len)
{
    uint8_t *whole = malloc(len), *piece = malloc(len);
    char detail[256];
    int rc = isec_jpeg_crypt(ISEC_JPEG_ENCRYPT, key, in, len, whole, detail, sizeof detail);
    CHECK_RC(rc, 0);
    size_t (*picks[])(void) = {one, small, large};
    for (size_t i = 0; i < 3; i++) {
        size_t lag = 0;
        memset(piece, 0, len);
        CHECK_RC(feed(ISEC_JPEG_ENCRYPT, in, len, piece, picks[i], &lag), 0);
        CHECK(memcmp(piece, whole, len) == 0);
        CHECK(lag <= ISEC_JPEG_MAX_HELD);
        cases++;
    }
    /* in place */
    uint8_t *inplace = malloc(len);
    memcpy(inplace, in, len);
    CHECK_RC(isec_jpeg_crypt(ISEC_JPEG_ENCRYPT, key, inplace, len, inplace, detail, sizeof detail), 0);
    CHECK(memcmp(inplace, whole, len) == 0);
    printf("%s: %zu bytes, splits agree\n", name, len);
    free(inplace);
    free(whole);
    free(piece);
}

static void check_prefixes(const char *name, const uint8_t *in, size_t len)
{
    /* every prefix: a clean error with a detail, or success only once the scan is complete */
    uint8_t *out = malloc(len);
    size_t ok = 0;
    for (size_t n = 0; n < len; n += 1 + n / 64) {
        char detail[256] = "";
        int rc = isec_jpeg_crypt(ISEC_JPEG_ENCRYPT, key, in, n, out, detail, sizeof detail);
        if (rc == 0) ok++;
        else CHECK(rc < 0 && strstr(detail, "offset ") != NULL);
    }
    CHECK(ok < 8); /* only the last few bytes (EOI) may be missing */
    printf("%s: prefixes fail cleanly (%zu succeeded)\n", name, ok);
    cases++;
    free(out);
}

static int regress(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "%s: cannot open\n", dir);
        return 1;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        size_t len;
        uint8_t *in = tu_read_file(path, &len);
        if (!in) continue;
        uint8_t *a = malloc(len + 1), *b = malloc(len + 1);
        char detail[256];
        int rc = isec_jpeg_crypt(ISEC_JPEG_ENCRYPT, key, in, len, a, detail, sizeof detail);
        if (rc == 0) {
            CHECK_RC(isec_jpeg_crypt(ISEC_JPEG_DECRYPT, key, a, len, b, detail, sizeof detail), 0);
            CHECK(memcmp(b, in, len) == 0);
        }
        /* the same verdict and bytes pushed in pieces of `cut` bytes, with one thread and with
         * two: the cut fuzz_jpeg makes (its first piece) and eight more */
        for (int k = 0; k <= 8; k++) {
            size_t cut = k == 0 ? (len ? (in[len - 1] * 131u) % len : 0) : len * (size_t)k / 9;
            for (unsigned t = 1; t <= 2; t++) {
                struct feeding f = {.piece = cut ? cut : len, .threads = t};
                int rc2 = feed_with(ISEC_JPEG_ENCRYPT, in, len, b, &f);
                if (rc2 != rc || (rc == 0 && memcmp(a, b, len))) {
                    fprintf(stderr,
                            "FAIL %s: whole buffer %d (%s), pieces of %zu, %u thread(s): %d (%s)\n",
                            e->d_name, rc, rc ? detail : "", cut, t, rc2, f.detail);
                    tu_failures++;
                }
            }
        }
        rc = isec_jpeg_crypt(ISEC_JPEG_ANALYZE, NULL, in, len, a, detail, sizeof detail);
        CHECK(rc != 0 || memcmp(a, in, len) == 0);
        printf("%s: %s\n", e->d_name, rc ? detail : "ok");
        cases++;
        free(in);
        free(a);
        free(b);
    }
    closedir(d);
    return tu_finish("jpeg.regress", cases);
}

/* One encryption with `threads` threads, the input in pieces of at most `piece` bytes. */
static int run_threads(const uint8_t *in, size_t len, unsigned threads, size_t piece,
                       uint8_t *out, char detail[256], uint64_t *helper_mcus)
{
    struct feeding f = {.piece = piece, .threads = threads};
    int rc = feed_with(ISEC_JPEG_ENCRYPT, in, len, out, &f);
    memcpy(detail, f.detail, sizeof f.detail);
    *helper_mcus = f.helper_mcus;
    return rc;
}

/* The second thread's speculative decode of sequential scans (entropy.c) must change nothing:
 * the same bytes, or the same error at the same offset, as one thread. `engaged`: the file is
 * one where the helper must have done part of the work (else the test would prove nothing). */
static void check_helper(const char *name, const uint8_t *in, size_t len, int engaged)
{
    uint8_t *o1 = malloc(len + 1), *o2 = malloc(len + 1), *o3 = malloc(len + 1);
    char d1[256], d2[256], d3[256];
    uint64_t h1 = 0, h2 = 0, h3 = 0;
    int r1 = run_threads(in, len, 1, len, o1, d1, &h1);
    /* the walker waits for the helper where it could take its work over, so that the work
     * taken depends on the data, not on how the threads are scheduled (CI runs tests in
     * parallel); without the wait it is a race the walker may win every time */
    setenv("IMGSEC_SPEC_WAIT", "1", 1);
    int r2 = run_threads(in, len, 2, len, o2, d2, &h2);
    int r3 = run_threads(in, len, 2, 300000, o3, d3, &h3);
    unsetenv("IMGSEC_SPEC_WAIT");
    uint8_t *o4 = malloc(len + 1);
    char d4[256];
    uint64_t h4 = 0;
    int r4 = run_threads(in, len, 2, len, o4, d4, &h4); /* and as it runs for users */
    if (r4 != r1 || strcmp(d1, d4) || (r1 == 0 && memcmp(o1, o4, len))) {
        fprintf(stderr, "FAIL %s: two threads, not waiting: %d (%s), one thread %d (%s)\n", name,
                r4, d4, r1, d1);
        tu_failures++;
    }
    free(o4);
    cases++;
    if (r1 != r2 || r1 != r3 || strcmp(d1, d2) || strcmp(d1, d3)) {
        fprintf(stderr, "FAIL %s: one thread: %d (%s); two: %d (%s); two, in pieces: %d (%s)\n",
                name, r1, d1, r2, d2, r3, d3);
        tu_failures++;
    } else if (r1 == 0 && (memcmp(o1, o2, len) || memcmp(o1, o3, len))) {
        fprintf(stderr, "FAIL %s: two threads give other bytes than one\n", name);
        tu_failures++;
    }
    if (h1 != 0) {
        fprintf(stderr, "FAIL %s: one thread, yet %llu MCUs by a helper\n", name,
                (unsigned long long)h1);
        tu_failures++;
    }
    if (engaged && (h2 == 0 || h3 == 0)) {
        fprintf(stderr, "FAIL %s: the helper decoded nothing (%llu, %llu MCUs)\n", name,
                (unsigned long long)h2, (unsigned long long)h3);
        tu_failures++;
    }
    free(o1);
    free(o2);
    free(o3);
}

/* check_helper on a big sequential JPEG, then on copies damaged where the helper works: runs of
 * stuffed 0xFF bytes (64 one bits hold no valid Huffman code, whatever the tables) at points in
 * its second half, and truncations there. */
static void check_helper_file(const char *name, const uint8_t *j, size_t len)
{
    check_helper(name, j, len, 1);
    size_t sos = 0, eoi = len - 2;
    for (size_t i = 2; i + 1 < len; i++)
        if (j[i] == 0xFF && j[i + 1] == 0xDA) {
            sos = i + 2 + ((size_t)j[i + 2] << 8 | j[i + 3]);
            break;
        }
    CHECK(sos > 0 && sos < eoi);
    uint8_t *bad = malloc(len);
    char what[160];
    for (int k = 1; k <= 7; k++) {
        size_t at = sos + (eoi - sos) * (size_t)(8 + k) / 16;
        memcpy(bad, j, len);
        while (at > sos && bad[at - 1] == 0xFF) at--; /* not after a 0xFF: stuffing stays whole */
        for (int b = 0; b < 8; b++) {
            bad[at + 2 * (size_t)b] = 0xFF;
            bad[at + 2 * (size_t)b + 1] = 0x00;
        }
        if (bad[at + 16] == 0x00) bad[at + 16] = 0x01; /* not a stray stuffing byte after them */
        snprintf(what, sizeof what, "%s, 64 one bits at %zu", name, at);
        check_helper(what, bad, len, 0);
        snprintf(what, sizeof what, "%s, cut at %zu", name, at);
        check_helper(what, j, at, 0);
    }
    free(bad);
}

int main(int argc, char **argv)
{
    uint8_t k[32] = {1, 2, 3};
    if (isec_key_from_bytes(&key, k)) return 1;
    if (argc == 3 && !strcmp(argv[1], "--regress")) {
        int rc = regress(argv[2]);
        isec_key_free(key);
        return rc;
    }
    jt_params ps[] = {
        {.width = 1024, .height = 768, .ncomp = 3, .quality = 90, .seed = 1},
        {.width = 800, .height = 600, .ncomp = 3, .quality = 90, .seed = 2, .progressive = 1},
        {.width = 640, .height = 480, .ncomp = 1, .quality = 75, .seed = 3, .restart_mcus = 2},
        {.width = 333, .height = 222, .ncomp = 4, .quality = 95, .seed = 4, .progressive = 1,
         .restart_rows = 1},
    };
    const char *names[] = {"baseline 1024x768", "progressive 800x600", "gray restart 2",
                           "CMYK progressive restart"};
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++) {
        size_t len;
        uint8_t *j = jt_make(&ps[i], &len);
        CHECK(j != NULL);
        if (!j) continue;
        check_splits(names[i], j, len);
        if (len < 100000) check_prefixes(names[i], j, len);
        free(j);
    }
    /* big scans, where a second thread shares the decode (sequential, DC first, AC first) */
    jt_params big[] = {
        {.width = 2000, .height = 1500, .ncomp = 3, .quality = 95, .seed = 5},
        {.width = 1600, .height = 1200, .ncomp = 3, .quality = 90, .seed = 6, .h0 = 1, .v0 = 1},
        {.width = 2048, .height = 1536, .ncomp = 1, .quality = 92, .seed = 7},
        {.width = 1800, .height = 1400, .ncomp = 3, .quality = 97, .seed = 8, .h0 = 2, .v0 = 1,
         .optimize = 1},
        {.width = 2400, .height = 1800, .ncomp = 3, .quality = 95, .seed = 9, .progressive = 1},
        {.width = 2048, .height = 1536, .ncomp = 1, .quality = 97, .seed = 10, .progressive = 1},
    };
    const char *bignames[] = {"baseline 4:2:0 2000x1500", "baseline 4:4:4 1600x1200",
                              "gray 2048x1536", "optimized 4:2:2 1800x1400",
                              "progressive 4:2:0 2400x1800", "progressive gray 2048x1536"};
    for (size_t i = 0; i < sizeof big / sizeof big[0]; i++) {
        size_t len;
        uint8_t *j = jt_make(&big[i], &len);
        CHECK(j != NULL);
        if (!j) continue;
        check_helper_file(bignames[i], j, len);
        free(j);
    }
    isec_key_free(key);
    return tu_finish("jpeg.streaming", cases);
}

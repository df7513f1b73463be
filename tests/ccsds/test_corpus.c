/* Real images (scripts/make-ccsds-corpus, via ISEC_CCSDS_CORPUS): lossless round trips of every
 * 8- and 16-bit photo and odd-sized crop; PSNR rising with rate for the float and integer DWT;
 * lossy reconstruction at least as good as the UNL reference decoder's (recorded PSNR, within
 * 0.1 dB). Usage: test_ccsds_corpus lossless|rate|recon FILE. Skips (77) without a corpus unless
 * CI=true. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ccsdstool.h"
#include "testutil.h"

static int checks;

static void lossless(const char *dir, const char *name)
{
    ct_img img;
    if (ct_read_pgm(dir, name, &img)) {
        fprintf(stderr, "%s: unreadable\n", name);
        tu_failures++;
        return;
    }
    static const uint32_t S[] = {256, 37};
    for (int i = 0; i < 2; i++) {
        isec_ccsds_params p;
        isec_ccsds_params_init(&p);
        p.segment_blocks = S[i];
        uint8_t *out;
        size_t len;
        CHECK_RC(ct_encode(&img, &p, &out, &len, NULL, NULL), 0);
        ct_img dec;
        int res;
        int ok = ct_decode(out, len, &dec, &res) == 0 && res == 0 && ct_equal(&img, &dec);
        if (!ok) fprintf(stderr, "%s S=%u: lossless round trip failed\n", name, S[i]);
        CHECK(ok);
        if (i == 0)
            printf("%-20s %5ux%-5u %2u-bit %7.3f bpp lossless\n", name, img.w, img.h, img.depth,
                   8.0 * (double)len / ((double)img.w * img.h));
        if (dec.px) ct_free(&dec);
        free(out);
        checks++;
    }
    ct_free(&img);
}

static void rate(const char *dir, const char *name)
{
    ct_img img;
    if (ct_read_pgm(dir, name, &img)) {
        fprintf(stderr, "%s: unreadable\n", name);
        tu_failures++;
        return;
    }
    static const float rates[] = {0.125f, 0.25f, 0.5f, 1, 1.5f, 2, 3, 4};
    for (int dwt = 0; dwt < 2; dwt++) {
        double prev = 0;
        printf("%-14s %-7s", name, dwt ? "integer" : "float");
        for (size_t i = 0; i < sizeof rates / sizeof rates[0]; i++) {
            isec_ccsds_params p;
            isec_ccsds_params_init(&p);
            p.dwt = dwt;
            p.bpp = rates[i];
            uint8_t *out;
            size_t len;
            CHECK_RC(ct_encode(&img, &p, &out, &len, NULL, NULL), 0);
            ct_img dec;
            int res;
            double q = -1;
            if (ct_decode(out, len, &dec, &res) == 0 && res == 0) {
                q = ct_psnr(&img, &dec);
                ct_free(&dec);
            }
            printf(" %5.2f", q);
            /* the rate is an upper bound on what is written */
            CHECK(8.0 * (double)len <=
                  (double)rates[i] * img.w * img.h * 1.02 + 64 * 8 * 8 + 8 * 64);
            if (!(q > prev))
                fprintf(stderr, "\n%s dwt %d: PSNR %.2f at %.3f bpp, %.2f before\n", name, dwt, q,
                        rates[i], prev);
            CHECK(q > prev);
            prev = q;
            free(out);
            checks++;
        }
        printf("\n");
    }
    ct_free(&img);
}

/* Each line of file: image dwt S bpp psnr (the reference decoder's). */
static void recon(const char *dir, const char *file)
{
    FILE *f = fopen(file, "r");
    CHECK(f != NULL);
    if (!f) return;
    char line[256], name[64], dwt[8];
    unsigned S;
    double bpp, ref;
    int lines = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#' || sscanf(line, "%63s %7s %u %lf %lf", name, dwt, &S, &bpp, &ref) != 5)
            continue;
        ct_img img;
        if (ct_read_pgm(dir, name, &img)) {
            fprintf(stderr, "%s: unreadable\n", name);
            tu_failures++;
            continue;
        }
        isec_ccsds_params p;
        isec_ccsds_params_init(&p);
        p.dwt = strcmp(dwt, "float") ? ISEC_CCSDS_DWT_INTEGER : ISEC_CCSDS_DWT_FLOAT;
        p.segment_blocks = S;
        p.bpp = (float)bpp;
        uint8_t *out;
        size_t len;
        CHECK_RC(ct_encode(&img, &p, &out, &len, NULL, NULL), 0);
        ct_img dec;
        int res;
        double q = -1;
        if (ct_decode(out, len, &dec, &res) == 0 && res == 0) {
            q = ct_psnr(&img, &dec);
            ct_free(&dec);
        }
        printf("%-10s %-5s %g bpp: %6.2f dB (reference decoder %6.2f)\n", name, dwt, bpp, q, ref);
        if (!(q >= ref - 0.1))
            fprintf(stderr, "%s %s %g bpp: below the reference\n", name, dwt, bpp);
        CHECK(q >= ref - 0.1);
        free(out);
        ct_free(&img);
        lines++;
        checks++;
    }
    fclose(f);
    CHECK(lines >= 40);
}

int main(int argc, char **argv)
{
    int must;
    const char *dir = ct_corpus(&must);
    if (!dir) {
        fprintf(stderr, "ISEC_CCSDS_CORPUS not set or missing (make corpus)%s\n",
                must ? "" : ": skipped");
        return must ? 1 : 77;
    }
    if (argc > 2 && !strcmp(argv[1], "recon")) {
        recon(dir, argv[2]);
        return tu_finish("ccsds.recon", checks);
    }
    int mode_rate = argc > 1 && !strcmp(argv[1], "rate");
    if (mode_rate) {
        static const char *names[] = {"camera", "moon16", "chelsea", "astronaut16", "crop100x37"};
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
            rate(dir, names[i]);
        return tu_finish("ccsds.rate", checks);
    }
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    while (d && (e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l < 5 || strcmp(e->d_name + l - 4, ".pgm")) continue;
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)(l - 4), e->d_name);
        lossless(dir, name);
        n++;
    }
    if (d) closedir(d);
    CHECK(n >= 10);
    return tu_finish("ccsds.lossless_corpus", checks);
}

/* Conformance: our encoder reproduces the UNL reference's streams byte for byte (SHA-256 digests
 * in tests/vectors/ccsds/unl-bpe.txt), and our decoder decodes each of them (exactly when
 * lossless). Usage: test_ccsds_vectors FILE synthetic|corpus */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ccsdstool.h"
#include "testutil.h"

int main(int argc, char **argv)
{
    if (argc != 3) return 2;
    int want_corpus = !strcmp(argv[2], "corpus"), must = 0;
    const char *dir = NULL;
    if (want_corpus) {
        dir = ct_corpus(&must);
        if (!dir) {
            fprintf(stderr, "ISEC_CCSDS_CORPUS not set or missing (make corpus)%s\n",
                    must ? "" : ": skipped");
            return must ? 1 : 77;
        }
    }
    FILE *f = fopen(argv[1], "r");
    CHECK(f != NULL);
    if (!f) return tu_finish("ccsds.vectors", 1);
    char line[1024];
    int checks = 0, lines = 0;
    while (fgets(line, sizeof line, f)) {
        char name[128], dwt[16], sha[80];
        unsigned S;
        double bpp;
        size_t size;
        if (line[0] == '#' ||
            sscanf(line, "%127s %15s %u %lf %zu %79s", name, dwt, &S, &bpp, &size, sha) != 6)
            continue;
        int syn = !strncmp(name, "syn:", 4);
        if (syn == want_corpus) continue;
        ct_img img;
        memset(&img, 0, sizeof img);
        int rc = syn ? ct_synth(name + 4, &img) : ct_read_pgm(dir, name, &img);
        if (rc) {
            fprintf(stderr, "%s: cannot load\n", name);
            CHECK(rc == 0);
            continue;
        }
        isec_ccsds_params p;
        isec_ccsds_params_init(&p);
        p.segment_blocks = S;
        p.dwt = !strcmp(dwt, "float") ? ISEC_CCSDS_DWT_FLOAT : ISEC_CCSDS_DWT_INTEGER;
        p.bpp = (float)bpp;
        uint8_t *out = NULL;
        size_t len = 0;
        rc = ct_encode(&img, &p, &out, &len, NULL, NULL);
        CHECK_RC(rc, 0);
        char hex[65] = "";
        if (!rc) ct_sha256_hex(out, len, hex);
        if (rc || len != size || strcmp(hex, sha)) {
            fprintf(stderr, "MISMATCH %s %s S=%u bpp=%g: %zu bytes %s, reference %zu bytes %s\n",
                    name, dwt, S, bpp, len, hex, size, sha);
            tu_failures++;
        }
        checks++;
        lines++;
        if (!rc) {
            ct_img dec;
            int res;
            int drc = ct_decode(out, len, &dec, &res);
            CHECK(drc == 0 && res == 0);
            if (!drc && bpp == 0 && p.dwt == ISEC_CCSDS_DWT_INTEGER) {
                if (!ct_equal(&img, &dec))
                    fprintf(stderr, "%s S=%u: lossless decode differs\n", name, S);
                CHECK(ct_equal(&img, &dec));
            } else if (!drc) {
                double q = ct_psnr(&img, &dec);
                if (q < 20) fprintf(stderr, "%s %s S=%u bpp=%g: PSNR %.2f\n", name, dwt, S, bpp, q);
                CHECK(q >= 20);
            }
            ct_free(&dec);
            checks += 2;
        }
        free(out);
        ct_free(&img);
    }
    fclose(f);
    fprintf(stderr, "%d vectors checked\n", lines);
    CHECK(lines > 0);
    return tu_finish(want_corpus ? "ccsds.vectors_corpus" : "ccsds.vectors_synthetic", checks);
}

/* Known-answer vectors: fixed keys, fixed JPEGs (the .jpg files in tests/vectors/jpeg), expected SHA-256 of
 * the ciphertext (expected.txt). If the cipher's format ever drifts, this fails.
 * `test_jpeg_kat --generate DIR` writes the JPEGs and prints the expected lines (run once, by
 * hand, when the format is deliberately versioned). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "imgsec/jpeg.h"
#include "jpegtool.h"
#include "testutil.h"

static const char *PASSPHRASE = "imgsec known-answer vector";

static void hexdigest(const uint8_t *p, size_t n, char out[65])
{
    uint8_t d[32];
    SHA256(p, n, d);
    for (int i = 0; i < 32; i++) sprintf(out + 2 * i, "%02x", d[i]);
}

static isec_key *load_key(const char *dir, const char *which)
{
    isec_key *k = NULL;
    if (!strcmp(which, "bytes")) {
        uint8_t b[32];
        for (int i = 0; i < 32; i++) b[i] = (uint8_t)i;
        isec_key_from_bytes(&k, b);
    } else {
        char path[4096], detail[200];
        snprintf(path, sizeof path, "%s/%s", dir, which);
        if (isec_key_load(&k, path, PASSPHRASE, strlen(PASSPHRASE), detail, sizeof detail))
            fprintf(stderr, "%s: %s\n", path, detail);
    }
    return k;
}

static int generate(const char *dir)
{
    jt_params ps[] = {
        {.width = 96, .height = 64, .ncomp = 3, .quality = 80, .seed = 11},
        {.width = 96, .height = 64, .ncomp = 3, .quality = 90, .seed = 12, .progressive = 1},
        {.width = 77, .height = 53, .ncomp = 1, .quality = 70, .seed = 13, .restart_mcus = 3},
        {.width = 64, .height = 48, .ncomp = 4, .quality = 85, .seed = 14},
    };
    const char *names[] = {"baseline.jpg", "progressive.jpg", "gray-restart.jpg", "cmyk.jpg"};
    for (int i = 0; i < 4; i++) {
        size_t len;
        uint8_t *j = jt_make(&ps[i], &len);
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        FILE *f = fopen(path, "wb");
        fwrite(j, 1, len, f);
        fclose(f);
        free(j);
    }
    /* one with an Exif thumbnail and an MPF secondary image */
    jt_params t = {.width = 40, .height = 30, .ncomp = 3, .quality = 70, .seed = 15};
    jt_params m = {.width = 128, .height = 96, .ncomp = 3, .quality = 80, .seed = 16};
    size_t tl, ml, sl, n, n2, seglen, off;
    uint8_t *th = jt_make(&t, &tl), *mn = jt_make(&m, &ml);
    t.width = 64;
    uint8_t *sc = jt_make(&t, &sl);
    uint8_t *app1 = jt_exif_app1(th, tl, &seglen);
    uint8_t *a = jt_insert_after_soi(mn, ml, app1, seglen, &n);
    uint8_t *b = jt_mpf(a, n, sc, sl, &n2, &off);
    char path[4096];
    snprintf(path, sizeof path, "%s/thumb-mpf.jpg", dir);
    FILE *f = fopen(path, "wb");
    fwrite(b, 1, n2, f);
    fclose(f);
    free(th); free(mn); free(sc); free(app1); free(a); free(b);
    snprintf(path, sizeof path, "%s/passphrase.key", dir);
    if (isec_key_create_passphrase(path, PASSPHRASE, strlen(PASSPHRASE)) != 0) return 1;
    const char *all[] = {"baseline.jpg", "progressive.jpg", "gray-restart.jpg", "cmyk.jpg",
                         "thumb-mpf.jpg"};
    for (int i = 0; i < 5; i++)
        for (int kk = 0; kk < 2; kk++) {
            const char *kn = kk ? "passphrase.key" : "bytes";
            isec_key *k = load_key(dir, kn);
            size_t len;
            snprintf(path, sizeof path, "%s/%s", dir, all[i]);
            uint8_t *in = tu_read_file(path, &len), *out = malloc(len);
            char hx[65], detail[256];
            if (!k || isec_jpeg_crypt(ISEC_JPEG_ENCRYPT, k, in, len, out, detail, sizeof detail))
                return 1;
            hexdigest(out, len, hx);
            printf("%s %s %s\n", all[i], kn, hx);
            free(in); free(out);
            isec_key_free(k);
        }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "--generate")) return generate(argv[2]);
    if (argc != 2) {
        fprintf(stderr, "usage: test_jpeg_kat VECTOR_DIR\n");
        return 2;
    }
    char path[4096], line[512];
    snprintf(path, sizeof path, "%s/expected.txt", argv[1]);
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "%s: missing\n", path);
        return 1;
    }
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        char file[256], keyname[256], want[65];
        if (line[0] == '#' || sscanf(line, "%255s %255s %64s", file, keyname, want) != 3) continue;
        isec_key *k = load_key(argv[1], keyname);
        size_t len;
        snprintf(path, sizeof path, "%s/%s", argv[1], file);
        uint8_t *in = tu_read_file(path, &len);
        CHECK(k != NULL && in != NULL);
        if (!k || !in) continue;
        uint8_t *out = malloc(len), *back = malloc(len);
        char got[65], detail[256] = "";
        int rc = isec_jpeg_crypt(ISEC_JPEG_ENCRYPT, k, in, len, out, detail, sizeof detail);
        CHECK_RC(rc, 0);
        hexdigest(out, len, got);
        if (strcmp(got, want)) {
            fprintf(stderr, "%s with key %s: ciphertext SHA-256 %s, expected %s\n", file, keyname,
                    got, want);
            tu_failures++;
        }
        CHECK_RC(isec_jpeg_crypt(ISEC_JPEG_DECRYPT, k, out, len, back, detail, sizeof detail), 0);
        CHECK(memcmp(back, in, len) == 0);
        printf("%s %s: %s\n", file, keyname, strcmp(got, want) ? "MISMATCH" : "ok");
        n++;
        free(in); free(out); free(back);
        isec_key_free(k);
    }
    fclose(f);
    CHECK(n >= 10);
    return tu_finish("jpeg.kat", n);
}

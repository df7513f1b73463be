/* Hostile and damaged streams: random bytes, bit flips, cuts, contradictory headers, limits.
 * Nothing may crash; errors are the documented codes. With a directory argument, replays every
 * file in it (tests/regress/ccsds: inputs that once crashed the decoder or its fuzz target). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ccsdstool.h"
#include "testutil.h"

static int checks;

static int try_decode(const uint8_t *b, size_t n, uint64_t max_pixels)
{
    isec_ccsds_limits lim = {max_pixels, 4096};
    isec_ccsds_dec *d;
    if (isec_ccsds_dec_new(&d, &lim)) return -100;
    int rc = isec_ccsds_dec_stream(d, b, n);
    uint32_t w, h;
    if (isec_ccsds_dec_geometry(d, &w, &h, NULL, NULL) == 0 && (uint64_t)w * h <= max_pixels) {
        int32_t *px = malloc(sizeof *px * ((size_t)w * h + 1));
        if (px) {
            int r2 = isec_ccsds_dec_image(d, px, (size_t)w * h);
            (void)r2;
        }
        free(px);
    }
    isec_ccsds_dec_free(d);
    return rc;
}

static int known(int rc)
{
    return rc == 0 || rc == ISEC_EFORMAT || rc == ISEC_ETRUNC || rc == ISEC_ELIMIT ||
           rc == ISEC_EUNSUPPORTED || rc == ISEC_ESTATE;
}

static int replay(const char *dir)
{
    DIR *dd = opendir(dir);
    int n = 0;
    if (!dd) return tu_finish("ccsds.regress", 0);
    struct dirent *e;
    while ((e = readdir(dd))) {
        if (e->d_name[0] == '.') continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        size_t len;
        uint8_t *b = tu_read_file(path, &len);
        if (!b) continue;
        /* files are fuzz inputs: a mode byte, then (for most modes) a stream */
        if (len > 1 && b[0] != 0xff) CHECK(known(try_decode(b + 1, len - 1, 1u << 22)));
        free(b);
        n++;
    }
    closedir(dd);
    return tu_finish("ccsds.regress", n);
}

int main(int argc, char **argv)
{
    if (argc == 2) return replay(argv[1]);
    uint32_t s = 99;
    /* random bytes */
    for (int t = 0; t < 300; t++) {
        uint8_t b[512];
        size_t n = 1 + (size_t)t % sizeof b;
        for (size_t i = 0; i < n; i++) {
            s = s * 1103515245u + 12345u;
            b[i] = (uint8_t)(s >> 16);
        }
        if (t % 3 == 0) b[0] = 0x80; /* StartImgFlag set, so the header parser goes further */
        if (t % 3 == 1) {
            b[0] = 0xc0;
            b[2] |= 0x07;
        }
        CHECK(known(try_decode(b, n, 1u << 20)));
    }
    /* a valid stream, damaged */
    ct_img img;
    ct_random(&img, 60, 45, 12, 1, 1, 5);
    isec_ccsds_params p;
    isec_ccsds_params_init(&p);
    p.segment_blocks = 16;
    uint8_t *out;
    size_t len;
    CHECK_RC(ct_encode(&img, &p, &out, &len, NULL, NULL), 0);
    uint8_t *cp = malloc(len);
    for (size_t bit = 0; bit < len * 8; bit += 7) {
        memcpy(cp, out, len);
        cp[bit / 8] ^= (uint8_t)(0x80 >> (bit % 8));
        CHECK(known(try_decode(cp, len, 1u << 20)));
    }
    for (size_t n = 0; n < len; n += 5)
        CHECK(known(try_decode(out, n, 1u << 20)));
    /* header checks */
    memcpy(cp, out, len);
    cp[0] &= 0x7f; /* no StartImgFlag */
    CHECK_RC(try_decode(cp, len, 1u << 20), ISEC_EFORMAT);
    memcpy(cp, out, len);
    cp[2] &= 0xfe; /* first segment without part 4 */
    CHECK_RC(try_decode(cp, len, 1u << 20), ISEC_EFORMAT);
    CHECK_RC(try_decode(out, len, 1024), ISEC_ELIMIT); /* image larger than the limit */
    CHECK_RC(try_decode(out, len, 1u << 20), 0);
    free(cp);
    free(out);
    ct_free(&img);
    checks += 6;
    return tu_finish("ccsds.badstream", checks);
}

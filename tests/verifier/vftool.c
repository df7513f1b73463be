/* Test helper for the verifier tests: makes forged sheets with the vcs library.
 *   vftool forge GENUINE_A.tiff OTHER_B.tiff OUT.tiff
 *       OUT = OTHER_B's sheets relabelled with GENUINE_A's table and watermark ids: what a cheat
 *       who made his own sheets would hand over.
 *   vftool patch GENUINE.tiff DONOR.tiff OUT.tiff PERCENT
 *       OUT = GENUINE with the top PERCENT of rows of every sheet taken from DONOR (same size):
 *       a partly faked sheet.
 *   vftool region GENUINE.tiff OUT.tiff EIGHTHS
 *       OUT = GENUINE (exact mode) with the 2x2 blocks of the top EIGHTHS/8 of the block rows, in
 *       every plane, validly re-arranged: each block's permutation rolled by a fixed pseudo-random
 *       1..3 sheets, so every block stays a valid arrangement (invalid 0) but carries the bit of
 *       another table entry (wrong about half the time) - the forged region of tests/vcs/
 *       test_watermark.c on a real sheet file.
 *   vftool digest SHEETS.tiff   prints isec_vcs_share_digest in hex */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imgsec/attest.h"
#include "imgsec/vcs.h"
#include "sheetio.h"

static isec_vcs_share *rd(const char *p)
{
    char err[256];
    isec_vcs_share *s = NULL;
    if (isec_sheet_read_file(p, NULL, &s, err, sizeof err)) {
        fprintf(stderr, "vftool: %s: %s\n", p, err);
        exit(1);
    }
    return s;
}

static void wr(isec_vcs_share *s, const char *p)
{
    char err[256];
    if (isec_sheet_write_file(s, p, 1, err, sizeof err)) {
        fprintf(stderr, "vftool: %s: %s\n", p, err);
        exit(1);
    }
}

int main(int argc, char **argv)
{
    if (argc == 5 && !strcmp(argv[1], "forge")) {
        isec_vcs_share *g = rd(argv[2]), *o = rd(argv[3]);
        const isec_vcs_share_info *gi = isec_vcs_share_get_info(g);
        isec_vcs_share_set_ids(o, gi->table_id, gi->wm_id);
        wr(o, argv[4]);
        isec_vcs_share_free(g);
        isec_vcs_share_free(o);
        return 0;
    }
    if (argc == 6 && !strcmp(argv[1], "patch")) {
        isec_vcs_share *g = rd(argv[2]), *d = rd(argv[3]);
        const isec_vcs_share_info *gi = isec_vcs_share_get_info(g), *di = isec_vcs_share_get_info(d);
        if (gi->width != di->width || gi->height != di->height || gi->nplanes != di->nplanes) {
            fprintf(stderr, "vftool: sizes differ\n");
            return 1;
        }
        size_t rows = (size_t)gi->height * (size_t)atoi(argv[5]) / 100;
        for (unsigned p = 0; p < gi->nplanes; p++)
            for (unsigned s = 0; s < ISEC_VCS_SHEETS; s++)
                memcpy(isec_vcs_share_sheet(g, p, s), isec_vcs_share_sheet_const(d, p, s), rows * gi->width);
        wr(g, argv[4]);
        isec_vcs_share_free(g);
        isec_vcs_share_free(d);
        return 0;
    }
    if (argc == 5 && !strcmp(argv[1], "region")) {
        isec_vcs_share *g = rd(argv[2]);
        const isec_vcs_share_info *gi = isec_vcs_share_get_info(g);
        int eighths = atoi(argv[4]);
        if (gi->mode != ISEC_VCS_EXACT || eighths < 1 || eighths > 8) {
            fprintf(stderr, "vftool: region needs exact-mode sheets and EIGHTHS 1..8\n");
            return 1;
        }
        const size_t w = gi->width, brows = (size_t)(gi->height / 2) * (size_t)eighths / 8;
        uint64_t rs = 0x9e3779b97f4a7c15u; /* fixed: the same forgery every run */
        size_t blocks = 0;
        for (unsigned p = 0; p < gi->nplanes; p++) {
            uint8_t *sh[ISEC_VCS_SHEETS];
            for (unsigned s = 0; s < ISEC_VCS_SHEETS; s++) sh[s] = isec_vcs_share_sheet(g, p, s);
            for (size_t by = 0; by < brows; by++)
                for (size_t bx = 0; bx < w / 2; bx++) {
                    size_t i = 2 * by * w + 2 * bx, idx[4] = {i, i + 1, i + w, i + w + 1};
                    rs ^= rs << 13, rs ^= rs >> 7, rs ^= rs << 17;
                    unsigned dr = 1 + (unsigned)(rs % 3), where[4] = {0}; /* set below, or we return */
                    uint8_t val[4] = {0};
                    /* A permutation matrix: exactly one opaque pixel per pixel position. */
                    for (unsigned j = 0; j < 4; j++) {
                        unsigned n = 0;
                        for (unsigned s = 0; s < ISEC_VCS_SHEETS; s++)
                            if (sh[s][idx[j]] != ISEC_VCS_PX_T) where[j] = s, val[j] = sh[s][idx[j]], n++;
                        if (n != 1) {
                            fprintf(stderr, "vftool: not an exact-mode block at plane %u (%zu,%zu)\n", p, 2 * bx, 2 * by);
                            return 1;
                        }
                    }
                    for (unsigned j = 0; j < 4; j++) {
                        sh[where[j]][idx[j]] = ISEC_VCS_PX_T;
                        sh[(where[j] + dr) & 3][idx[j]] = val[j];
                    }
                    blocks++;
                }
        }
        wr(g, argv[3]);
        fprintf(stderr, "vftool: re-arranged %zu blocks\n", blocks);
        isec_vcs_share_free(g);
        return 0;
    }
    if (argc == 3 && !strcmp(argv[1], "digest")) {
        isec_vcs_share *s = rd(argv[2]);
        uint8_t d[32];
        char h[65];
        if (isec_vcs_share_digest(s, d)) return 1;
        isec_hex(d, 32, h);
        printf("%s\n", h);
        isec_vcs_share_free(s);
        return 0;
    }
    fprintf(stderr, "usage: vftool forge A.tiff OTHER_B.tiff OUT.tiff | patch G.tiff DONOR.tiff OUT.tiff PCT | region G.tiff OUT.tiff EIGHTHS | digest F.tiff\n");
    return 2;
}

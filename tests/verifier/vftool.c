/* Test helper for the verifier tests: makes forged sheets with the vcs library.
 *   vftool forge GENUINE_A.tiff OTHER_B.tiff OUT.tiff
 *       OUT = OTHER_B's sheets relabelled with GENUINE_A's table and watermark ids: what a cheat
 *       who made his own sheets would hand over.
 *   vftool patch GENUINE.tiff DONOR.tiff OUT.tiff PERCENT
 *       OUT = GENUINE with the top PERCENT of rows of every sheet taken from DONOR (same size):
 *       a partly faked sheet.
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
    fprintf(stderr, "usage: vftool forge A.tiff OTHER_B.tiff OUT.tiff | patch G.tiff DONOR.tiff OUT.tiff PCT | digest F.tiff\n");
    return 2;
}

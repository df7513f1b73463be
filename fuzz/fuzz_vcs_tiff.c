/* libFuzzer target: the VCS sheet TIFF reader (apps/imageio/sheetio.c) on arbitrary bytes, from
 * memory. Whatever it accepts must write back and read back to the same pixels and metadata. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sheetio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    isec_sheet_limits lim;
    isec_sheet_limits_init(&lim);
    lim.max_width = lim.max_height = 512;
    lim.max_pixels = 1u << 16;
    lim.max_pixel_bytes = 4u << 20;
    isec_vcs_share *s = NULL;
    char err[300] = "";
    int rc = isec_sheet_read_mem(data, size, &lim, &s, err, sizeof err);
    if ((rc == 0) != (s != NULL)) abort();
    if (rc < 0) {
        if (!err[0]) abort(); /* every rejection says why */
        return 0;
    }
    uint8_t d1[32], d2[32], *buf = NULL;
    size_t len = 0;
    if (isec_vcs_share_digest(s, d1) < 0) abort();
    if (isec_sheet_write_mem(s, &buf, &len, err, sizeof err) < 0) abort();
    isec_vcs_share *t = NULL;
    if (isec_sheet_read_mem(buf, len, NULL, &t, err, sizeof err) < 0) abort();
    if (isec_vcs_share_digest(t, d2) < 0 || memcmp(d1, d2, 32)) abort();
    if (memcmp(isec_vcs_share_get_info(s), isec_vcs_share_get_info(t), sizeof(isec_vcs_share_info)))
        abort();
    free(buf);
    isec_vcs_share_free(s);
    isec_vcs_share_free(t);
    return 0;
}

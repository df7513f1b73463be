/* libFuzzer target: the VCS secret file parser (isec_vcs_secret_decode) on arbitrary bytes. What
 * it accepts must encode back to the same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imgsec/vcs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t key[ISEC_VCS_KEY_LEN], *out = NULL;
    size_t len = 0;
    isec_vcs_watermark wm;
    int rc = isec_vcs_secret_decode(data, size, key, &wm);
    if (rc < 0) {
        if (wm.bits) abort();
        return 0;
    }
    if (isec_vcs_secret_encode(key, &wm, &out, &len) < 0) abort();
    if (len != size || memcmp(out, data, size)) abort();
    free(out);
    isec_vcs_watermark_clear(&wm);
    return 0;
}

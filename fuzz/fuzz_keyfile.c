/* libFuzzer target: the key file parser on arbitrary text (no passphrase, and a fixed one when the
 * text asks for cheap scrypt parameters only, so runs stay fast). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../src/common/keys_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096) return 0;
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = 0;
    isec_key *k = NULL;
    char detail[200];
    int rc = isec__key_parse(&k, text, NULL, 0, detail, sizeof detail);
    if (rc == 0 && !k) abort();
    if (rc != 0 && k) abort();
    if (rc != 0 && !detail[0]) abort();
    isec_key_free(k);
    free(text);
    return 0;
}

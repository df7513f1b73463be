/* libFuzzer target: walk + encrypt + decrypt of arbitrary bytes, whole-buffer and split in two
 * pushes at an input-chosen point (with the second thread, and so its helper decode, when the
 * last byte is odd): the same verdict both ways. Asserts the cipher's promises on whatever it
 * accepts: same size, decrypt(encrypt(x)) == x, no 0xFF created or destroyed, analyze changes
 * nothing. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imgsec/jpeg.h"

static isec_key *key;

static int push_split(const uint8_t *in, size_t len, size_t cut, uint8_t *out, unsigned threads)
{
    isec_jpeg *c;
    int rc = isec_jpeg_new(&c, ISEC_JPEG_ENCRYPT, key);
    if (rc) return rc;
    if (isec_jpeg_set_threads(c, threads) != 0) abort();
    uint8_t *tmp = malloc(isec_jpeg_update_bound(len));
    size_t w = 0, got = 0;
    rc = isec_jpeg_update(c, in, cut, tmp, isec_jpeg_update_bound(cut), &got);
    memcpy(out, tmp, got);
    w += got;
    if (rc == 0) {
        rc = isec_jpeg_update(c, in + cut, len - cut, tmp, isec_jpeg_update_bound(len - cut), &got);
        memcpy(out + w, tmp, got);
        w += got;
    }
    if (rc == 0) {
        rc = isec_jpeg_final(c, tmp, isec_jpeg_final_bound(), &got);
        memcpy(out + w, tmp, got);
        w += got;
        if (rc == 0 && w != len) abort();
    }
    free(tmp);
    isec_jpeg_free(c);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!key) {
        /* the walker waits for its helper's decode where it could take it over: which work is
         * taken then depends on the input alone, so a finding reproduces */
        setenv("IMGSEC_SPEC_WAIT", "1", 0);
        uint8_t k[32] = {9, 8, 7};
        if (isec_key_from_bytes(&key, k)) abort();
    }
    if (size > (1 << 20)) return 0;
    uint8_t *a = malloc(size + 1), *b = malloc(size + 1), *s = malloc(size + 1);
    int rc = isec_jpeg_crypt(ISEC_JPEG_ENCRYPT, key, data, size, a, NULL, 0);
    size_t cut = size ? (data[size - 1] * 131u) % size : 0;
    int rc2 = push_split(data, size, cut, s, size && (data[size - 1] & 1) ? 2 : 1);
    if (rc != rc2) abort(); /* the same verdict, whatever the split and threads */
    if (rc == 0) {
        if (memcmp(a, s, size)) abort();
        for (size_t i = 0; i < size; i++)
            if ((a[i] == 0xFF) != (data[i] == 0xFF)) abort();
        if (isec_jpeg_crypt(ISEC_JPEG_DECRYPT, key, a, size, b, NULL, 0) != 0) abort();
        if (memcmp(b, data, size)) abort();
    }
    rc = isec_jpeg_crypt(ISEC_JPEG_ANALYZE, NULL, data, size, b, NULL, 0);
    if (rc == 0 && memcmp(b, data, size)) abort();
    free(a);
    free(b);
    free(s);
    return 0;
}

/* Sealing: AES-256-GCM under a key bound to the measurement (format in verifier.h). */
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>

#include "verifier.h"

#define MAGIC "ISVSEAL1"
#define HDR (8 + 4 + 32 + 12 + 4)
#define TAG 16

int vf_soft_seal_key(const uint8_t root[32], const uint8_t measurement[32], uint8_t key[32])
{
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    EVP_KDF_CTX *c = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
    EVP_KDF_free(kdf);
    if (!c) return ISEC_ECRYPTO;
    static char info[] = "imgsec verifier soft seal key v1";
    OSSL_PARAM p[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)root, 32),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)measurement, 32),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, sizeof info - 1),
        OSSL_PARAM_construct_end()};
    int ok = EVP_KDF_derive(c, key, 32, p) == 1;
    EVP_KDF_CTX_free(c);
    return ok ? 0 : ISEC_ECRYPTO;
}

static int gcm(int enc, const uint8_t key[32], const uint8_t iv[12], const uint8_t *aad,
               size_t aadlen, const uint8_t *in, size_t n, uint8_t *out, uint8_t tag[TAG])
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int l = 0, ok = c && EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, key, iv, enc) == 1 &&
                    EVP_CipherUpdate(c, NULL, &l, aad, (int)aadlen) == 1;
    if (ok && n) ok = EVP_CipherUpdate(c, out, &l, in, (int)n) == 1;
    if (ok && !enc) ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, TAG, tag) == 1;
    ok = ok && EVP_CipherFinal_ex(c, out + (n ? (size_t)l : 0), &l) == 1;
    if (ok && enc) ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, TAG, tag) == 1;
    EVP_CIPHER_CTX_free(c);
    return ok;
}

int vf_seal(const uint8_t key[32], int backend, const uint8_t measurement[32], const uint8_t *pt,
            size_t n, uint8_t **out, size_t *outlen)
{
    if (n > VF_MAX_SECRET) return ISEC_ELIMIT;
    uint8_t *b = malloc(HDR + n + TAG);
    if (!b) return ISEC_ENOMEM;
    memcpy(b, MAGIC, 8);
    b[8] = (uint8_t)backend;
    b[9] = b[10] = b[11] = 0;
    memcpy(b + 12, measurement, 32);
    if (RAND_bytes(b + 44, 12) != 1) {
        free(b);
        return ISEC_ECRYPTO;
    }
    for (int i = 0; i < 4; i++) b[56 + i] = (uint8_t)(n >> (24 - 8 * i));
    if (!gcm(1, key, b + 44, b, HDR, pt, n, b + HDR, b + HDR + n)) {
        free(b);
        return ISEC_ECRYPTO;
    }
    *out = b;
    *outlen = HDR + n + TAG;
    return 0;
}

int vf_unseal(const uint8_t key[32], const uint8_t *blob, size_t len, uint8_t **pt, size_t *ptlen)
{
    *pt = NULL;
    *ptlen = 0;
    if (len < HDR + TAG || memcmp(blob, MAGIC, 8)) return ISEC_EFORMAT;
    size_t n = 0;
    for (int i = 0; i < 4; i++) n = n << 8 | blob[56 + i];
    if (n > VF_MAX_SECRET || len != HDR + n + TAG) return ISEC_EFORMAT;
    uint8_t *out = malloc(n ? n : 1), tag[TAG];
    if (!out) return ISEC_ENOMEM;
    memcpy(tag, blob + HDR + n, TAG);
    if (!gcm(0, key, blob + 44, blob, HDR, blob + HDR, n, out, tag)) {
        vf_free_secret(out, n ? n : 1);
        return ISEC_EAUTH;
    }
    *pt = out;
    *ptlen = n;
    return 0;
}

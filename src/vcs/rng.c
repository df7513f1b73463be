/* Randomness for the split, and the keyed streams derived from the table key. */
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "internal.h"

int isec__vcs_rng_master(const uint8_t *seed, size_t seed_len, uint8_t key[32])
{
    if (!seed) return RAND_bytes(key, 32) == 1 ? 0 : ISEC_ECRYPTO;
    static const char label[] = "imgsec-vcs-test-drbg-v1";
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    int ok = m && EVP_DigestInit_ex(m, EVP_sha256(), NULL) == 1 &&
             EVP_DigestUpdate(m, label, sizeof label - 1) == 1 &&
             EVP_DigestUpdate(m, seed, seed_len) == 1 && EVP_DigestFinal_ex(m, key, NULL) == 1;
    EVP_MD_CTX_free(m);
    return ok ? 0 : ISEC_ECRYPTO;
}

int isec__vcs_rng_init(isec__vcs_rng *r, const uint8_t key[32], unsigned stream)
{
    memset(r, 0, sizeof *r);
    uint8_t iv[16] = {0};
    iv[0] = (uint8_t)(stream >> 24);
    iv[1] = (uint8_t)(stream >> 16);
    iv[2] = (uint8_t)(stream >> 8);
    iv[3] = (uint8_t)stream;
    r->ctx = EVP_CIPHER_CTX_new();
    if (!r->ctx || EVP_EncryptInit_ex(r->ctx, EVP_aes_256_ctr(), NULL, key, iv) != 1) {
        isec__vcs_rng_free(r);
        return ISEC_ECRYPTO;
    }
    return 0;
}

void isec__vcs_rng_free(isec__vcs_rng *r)
{
    EVP_CIPHER_CTX_free(r->ctx);
    OPENSSL_cleanse(r, sizeof *r);
}

void isec__vcs_rng_refill(isec__vcs_rng *r)
{
    int n = 0;
    memset(r->buf, 0, sizeof r->buf);
    if (!r->ctx || EVP_EncryptUpdate(r->ctx, r->buf, &n, r->buf, (int)sizeof r->buf) != 1 ||
        n != (int)sizeof r->buf)
        r->failed = 1; /* callers check failed before trusting the output */
    r->pos = 0;
    r->len = sizeof r->buf;
}

/* Lemire's multiply-shift with rejection (the fast path is isec__vcs_rng_below in internal.h):
 * the division is needed only here, when the low byte of the product m fell below n. */
unsigned isec__vcs_rng_below_slow(isec__vcs_rng *r, unsigned n, unsigned m)
{
    const unsigned t = (256u - n) % n;
    while ((m & 255u) < t) {
        if (r->failed) return 0;
        m = (unsigned)isec__vcs_rng_byte(r) * n;
    }
    return m >> 8;
}

int isec__vcs_subkey(const uint8_t key[ISEC_VCS_KEY_LEN], const char *label, uint8_t out[32])
{
    unsigned len = 0;
    if (!HMAC(EVP_sha256(), key, ISEC_VCS_KEY_LEN, (const unsigned char *)label, strlen(label), out,
              &len) ||
        len != 32)
        return ISEC_ECRYPTO;
    return 0;
}

int isec__vcs_wm_stream(const uint8_t key[ISEC_VCS_KEY_LEN], const uint8_t split_id[ISEC_VCS_ID_LEN],
                        unsigned plane, uint8_t *out, size_t nblocks)
{
    static const char label[] = "imgsec-vcs-wm-stream-v2";
    uint8_t msg[sizeof label - 1 + ISEC_VCS_ID_LEN], k[32], iv[16] = {0};
    unsigned kl = 0;
    memcpy(msg, label, sizeof label - 1);
    memcpy(msg + sizeof label - 1, split_id, ISEC_VCS_ID_LEN);
    if (!HMAC(EVP_sha256(), key, ISEC_VCS_KEY_LEN, msg, sizeof msg, k, &kl) || kl != 32)
        return ISEC_ECRYPTO;
    iv[0] = (uint8_t)plane;
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int ok = c && EVP_EncryptInit_ex(c, EVP_aes_256_ctr(), NULL, k, iv) == 1;
    OPENSSL_cleanse(k, sizeof k);
    size_t total = nblocks * 8;
    memset(out, 0, total);
    for (size_t off = 0; ok && off < total;) {
        int chunk = total - off > (1u << 30) ? 1 << 30 : (int)(total - off), n = 0;
        ok = EVP_EncryptUpdate(c, out + off, &n, out + off, chunk) == 1 && n == chunk;
        off += (size_t)chunk;
    }
    EVP_CIPHER_CTX_free(c);
    return ok ? 0 : ISEC_ECRYPTO;
}

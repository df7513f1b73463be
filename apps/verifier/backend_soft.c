/* soft backend: reports signed with ECDSA P-256 by DIR/service.key; sealing key derived from
 * DIR/seal-root and the measurement. Both files are mode 0600 and made on first start. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/pem.h>
#include <openssl/rand.h>

#include "verifier.h"

struct soft {
    EVP_PKEY *key;
    uint8_t *sig;
};

static int load_or_make_key(const char *dir, EVP_PKEY **out, char *err, size_t errlen)
{
    char *p = vf_path(dir, "service.key");
    if (!p) return ISEC_ENOMEM;
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = vf_read_file(p, VF_MAX_FILE, &buf, &len);
    if (rc == 0) {
        BIO *b = BIO_new_mem_buf(buf, (int)len);
        *out = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
        BIO_free(b);
        vf_free_secret(buf, len);
        if (!*out || EVP_PKEY_get_base_id(*out) != EVP_PKEY_EC) {
            snprintf(err, errlen, "%s: not an EC private key", p);
            EVP_PKEY_free(*out);
            *out = NULL;
            rc = ISEC_EKEY;
        }
    } else if (rc == ISEC_EIO && errno == ENOENT) {
        EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        BIO *b = BIO_new(BIO_s_secmem());
        BUF_MEM *m = NULL;
        rc = ISEC_ECRYPTO;
        if (k && b && PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL) == 1 &&
            BIO_get_mem_ptr(b, &m) == 1)
            rc = vf_write_file(p, m->data, m->length, 0600);
        BIO_free(b);
        if (rc) {
            snprintf(err, errlen, "%s: cannot create the service key", p);
            EVP_PKEY_free(k);
        } else
            *out = k;
    } else
        snprintf(err, errlen, "%s: cannot read (%s)", p, isec_strerror(rc));
    free(p);
    return rc;
}

static int load_or_make_root(const char *dir, uint8_t root[32], char *err, size_t errlen)
{
    char *p = vf_path(dir, "seal-root");
    if (!p) return ISEC_ENOMEM;
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = vf_read_file(p, 64, &buf, &len);
    if (rc == 0) {
        if (len == 32)
            memcpy(root, buf, 32);
        else {
            snprintf(err, errlen, "%s: must be 32 bytes", p);
            rc = ISEC_EFORMAT;
        }
        vf_free_secret(buf, len);
    } else if (rc == ISEC_EIO && errno == ENOENT) {
        rc = RAND_priv_bytes(root, 32) == 1 ? vf_write_file(p, root, 32, 0600) : ISEC_ECRYPTO;
        if (rc) snprintf(err, errlen, "%s: cannot create", p);
    } else
        snprintf(err, errlen, "%s: cannot read (%s)", p, isec_strerror(rc));
    free(p);
    return rc;
}

static int soft_attest(vf_backend *b, const uint8_t *record, size_t len, isec_venvelope *e)
{
    struct soft *s = b->impl;
    OPENSSL_free(s->sig);
    s->sig = NULL;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    size_t n = 0;
    int ok = c && EVP_DigestSignInit(c, NULL, EVP_sha256(), NULL, s->key) == 1 &&
             EVP_DigestSign(c, NULL, &n, record, len) == 1 && (s->sig = OPENSSL_malloc(n)) &&
             EVP_DigestSign(c, s->sig, &n, record, len) == 1;
    EVP_MD_CTX_free(c);
    if (!ok) return ISEC_ECRYPTO;
    e->backend = ISEC_VBACKEND_SOFT;
    e->record = record;
    e->record_len = len;
    e->sig = s->sig;
    e->sig_len = n;
    e->quote = NULL;
    e->quote_len = 0;
    return 0;
}

static void soft_free(vf_backend *b)
{
    struct soft *s = b->impl;
    if (!s) return;
    EVP_PKEY_free(s->key);
    OPENSSL_free(s->sig);
    free(s);
    b->impl = NULL;
}

int vf_backend_soft_open(vf_backend *b, const char *dir, char *err, size_t errlen)
{
    struct soft *s = calloc(1, sizeof *s);
    if (!s) return ISEC_ENOMEM;
    b->impl = s;
    b->attest = soft_attest;
    b->free = soft_free;
    uint8_t root[32];
    int rc = load_or_make_key(dir, &s->key, err, errlen);
    if (!rc) rc = load_or_make_root(dir, root, err, errlen);
    if (!rc) rc = vf_soft_seal_key(root, b->measurement, b->seal_key);
    OPENSSL_cleanse(root, sizeof root);
    if (rc) return rc;
    /* The public half alone, for the trust file. */
    unsigned char *der = NULL;
    int n = i2d_PUBKEY(s->key, &der);
    const unsigned char *p = der;
    b->pub = n > 0 ? d2i_PUBKEY(NULL, &p, n) : NULL;
    OPENSSL_free(der);
    return b->pub ? 0 : ISEC_ECRYPTO;
}

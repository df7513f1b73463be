/* The trust file a client pins: backend, measurement, PCR (tpm2) and the public key (verifier.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>

#include "verifier.h"

int vf_trust_write(const char *path, const vf_backend *b)
{
    char hex[65], head[256];
    isec_hex(b->measurement, 32, hex);
    int n = snprintf(head, sizeof head, "imgsec-verifier-trust 1\nbackend: %s\nmeasurement: %s\n",
                     b->name, hex);
    if (b->id == ISEC_VBACKEND_TPM2)
        n += snprintf(head + n, sizeof head - (size_t)n, "pcr: %d\n", VF_TPM_PCR);
    BIO *m = BIO_new(BIO_s_mem());
    BUF_MEM *bm = NULL;
    int rc = ISEC_ECRYPTO;
    if (m && BIO_write(m, head, n) == n && PEM_write_bio_PUBKEY(m, b->pub) == 1 &&
        BIO_get_mem_ptr(m, &bm) == 1)
        rc = vf_write_file(path, bm->data, bm->length, 0644);
    BIO_free(m);
    return rc;
}

/* One "name: value\n" line at *pos. */
static int line(const uint8_t *buf, size_t len, size_t *pos, const char *name, const char **v,
                size_t *vl)
{
    size_t nl = strlen(name), p = *pos;
    if (len - p < nl + 3 || memcmp(buf + p, name, nl) || memcmp(buf + p + nl, ": ", 2))
        return ISEC_EFORMAT;
    p += nl + 2;
    const uint8_t *e = memchr(buf + p, '\n', len - p);
    if (!e) return ISEC_EFORMAT;
    *v = (const char *)buf + p;
    *vl = (size_t)(e - (buf + p));
    *pos = (size_t)(e - buf) + 1;
    return 0;
}

int vf_trust_parse(const uint8_t *buf, size_t len, vf_trust *t)
{
    static const char head[] = "imgsec-verifier-trust 1\n";
    memset(t, 0, sizeof *t);
    t->pcr = -1;
    if (len > 16384 || len < sizeof head - 1 || memcmp(buf, head, sizeof head - 1))
        return ISEC_EFORMAT;
    size_t pos = sizeof head - 1, vl;
    const char *v;
    if (line(buf, len, &pos, "backend", &v, &vl)) return ISEC_EFORMAT;
    if (vl == 4 && !memcmp(v, "soft", 4))
        t->backend = ISEC_VBACKEND_SOFT;
    else if (vl == 4 && !memcmp(v, "tpm2", 4))
        t->backend = ISEC_VBACKEND_TPM2;
    else
        return ISEC_EFORMAT;
    if (line(buf, len, &pos, "measurement", &v, &vl) || isec_unhex(v, vl, t->measurement, 32))
        return ISEC_EFORMAT;
    if (t->backend == ISEC_VBACKEND_TPM2) {
        if (line(buf, len, &pos, "pcr", &v, &vl) || vl < 1 || vl > 2) return ISEC_EFORMAT;
        t->pcr = 0;
        for (size_t i = 0; i < vl; i++) {
            if (v[i] < '0' || v[i] > '9') return ISEC_EFORMAT;
            t->pcr = t->pcr * 10 + (v[i] - '0');
        }
        if (t->pcr > 23) return ISEC_EFORMAT;
    }
    BIO *b = BIO_new_mem_buf(buf + pos, (int)(len - pos));
    t->key = b ? PEM_read_bio_PUBKEY(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    if (!t->key || EVP_PKEY_get_base_id(t->key) != EVP_PKEY_EC || EVP_PKEY_get_bits(t->key) != 256) {
        vf_trust_clear(t);
        return ISEC_EFORMAT;
    }
    return 0;
}

void vf_trust_clear(vf_trust *t)
{
    EVP_PKEY_free(t->key);
    t->key = NULL;
}

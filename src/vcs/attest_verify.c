/* Client-side checks of an attested report: ECDSA signature (soft) or TPM 2.0 quote (tpm2).
 * The TPM structures are parsed by hand (big-endian, TPM 2.0 Part 2) so a client needs only
 * libcrypto, not tpm2-tss. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>

#include "imgsec/attest.h"

#define TPM_GENERATED_VALUE 0xff544347u
#define TPM_ST_ATTEST_QUOTE 0x8018u
#define TPM_ALG_SHA256 0x000bu
#define TPM_ALG_ECDSA 0x0018u

typedef struct {
    const uint8_t *p;
    size_t n;
    int bad;
} rd;

static uint64_t get(rd *r, size_t bytes)
{
    uint64_t v = 0;
    if (r->bad || r->n < bytes) {
        r->bad = 1;
        return 0;
    }
    for (size_t i = 0; i < bytes; i++) v = v << 8 | r->p[i];
    r->p += bytes;
    r->n -= bytes;
    return v;
}

/* A TPM2B: u16 size then bytes, size <= max. */
static const uint8_t *get2b(rd *r, size_t max, size_t *len)
{
    size_t n = (size_t)get(r, 2);
    if (r->bad || n > max || r->n < n) {
        r->bad = 1;
        return NULL;
    }
    const uint8_t *p = r->p;
    r->p += n;
    r->n -= n;
    *len = n;
    return p;
}

int isec_tpm_quote_parse(const uint8_t *buf, size_t len, isec_tpm_quote *q)
{
    memset(q, 0, sizeof *q);
    if (!buf) return ISEC_EFORMAT;
    rd r = {buf, len, 0};
    size_t n;
    if (get(&r, 4) != TPM_GENERATED_VALUE || get(&r, 2) != TPM_ST_ATTEST_QUOTE) return ISEC_EFORMAT;
    get2b(&r, 68, &n); /* qualifiedSigner */
    const uint8_t *extra = get2b(&r, sizeof q->extra, &q->extra_len);
    get(&r, 8), get(&r, 4), get(&r, 4), get(&r, 1), get(&r, 8); /* clockInfo, firmwareVersion */
    if (get(&r, 4) != 1) return ISEC_EFORMAT;                   /* exactly one PCR bank */
    if (get(&r, 2) != TPM_ALG_SHA256) return ISEC_EFORMAT;
    size_t sel = (size_t)get(&r, 1);
    if (r.bad || sel < 3 || sel > 4 || r.n < sel) return ISEC_EFORMAT;
    for (size_t i = 0; i < sel; i++) {
        uint8_t b = (uint8_t)get(&r, 1);
        if (i == 3 && b) return ISEC_EFORMAT; /* PCRs above 23 do not exist */
        q->pcr_mask |= (uint32_t)b << (8 * i);
    }
    const uint8_t *dig = get2b(&r, sizeof q->pcr_digest, &q->pcr_digest_len);
    if (r.bad || r.n) return ISEC_EFORMAT;
    if (q->extra_len) memcpy(q->extra, extra, q->extra_len);
    if (q->pcr_digest_len) memcpy(q->pcr_digest, dig, q->pcr_digest_len);
    return 0;
}

int isec_tpm_expected_pcr(const uint8_t measurement[32], uint8_t pcr[32], uint8_t digest[32])
{
    uint8_t in[64] = {0};
    memcpy(in + 32, measurement, 32);
    unsigned int n = 0;
    if (!EVP_Digest(in, sizeof in, pcr, &n, EVP_sha256(), NULL) ||
        !EVP_Digest(pcr, 32, digest, &n, EVP_sha256(), NULL))
        return ISEC_ECRYPTO;
    return 0;
}

/* TPMT_SIGNATURE (ECDSA, SHA-256) into a DER ECDSA-Sig-Value; *der is OPENSSL_malloc'd. */
static int tpm_sig_to_der(const uint8_t *buf, size_t len, uint8_t **der, size_t *derlen)
{
    rd r = {buf, len, 0};
    size_t rl, sl;
    if (get(&r, 2) != TPM_ALG_ECDSA || get(&r, 2) != TPM_ALG_SHA256) return ISEC_EFORMAT;
    const uint8_t *rp = get2b(&r, 66, &rl), *sp = get2b(&r, 66, &sl);
    if (r.bad || r.n || !rl || !sl) return ISEC_EFORMAT;
    ECDSA_SIG *s = ECDSA_SIG_new();
    BIGNUM *br = BN_bin2bn(rp, (int)rl, NULL), *bs = BN_bin2bn(sp, (int)sl, NULL);
    if (!s || !br || !bs || !ECDSA_SIG_set0(s, br, bs)) {
        ECDSA_SIG_free(s);
        BN_free(br);
        BN_free(bs);
        return ISEC_ECRYPTO;
    }
    unsigned char *out = NULL;
    int n = i2d_ECDSA_SIG(s, &out);
    ECDSA_SIG_free(s);
    if (n <= 0) return ISEC_ECRYPTO;
    *der = out;
    *derlen = (size_t)n;
    return 0;
}

static int ecdsa_ok(EVP_PKEY *key, const uint8_t *msg, size_t len, const uint8_t *sig, size_t siglen)
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    int ok = c && EVP_DigestVerifyInit(c, NULL, EVP_sha256(), NULL, key) == 1 &&
             EVP_DigestVerify(c, sig, siglen, msg, len) == 1;
    EVP_MD_CTX_free(c);
    return ok;
}

static int fail(char *detail, size_t cap, const char *fmt, ...)
{
    if (detail && cap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(detail, cap, fmt, ap);
        va_end(ap);
    }
    return ISEC_EAUTH;
}

int isec_venvelope_verify(const isec_venvelope *e, EVP_PKEY *trusted, int pcr, isec_vreport *r,
                          char *detail, size_t cap)
{
    if (detail && cap) detail[0] = 0;
    if (!e || !trusted || !r) return ISEC_EINVAL;
    if (EVP_PKEY_get_base_id(trusted) != EVP_PKEY_EC || EVP_PKEY_get_bits(trusted) != 256)
        return fail(detail, cap, "trusted key is not an ECDSA P-256 key");
    if (isec_vreport_decode(e->record, e->record_len, r)) {
        static const char key[] = "imgsec-vcs-report=";
        const size_t kl = sizeof key - 1;
        /* Another version: say so (a version-2 record hashes the sheets as share digest v1, so
         * its sheet hashes would never match ours; a version-1 record's verdict also ignored
         * the wrong-block rate). A newer verifier's record (4 and up) is named as such. */
        if (e->record && e->record_len > kl + 1 && !memcmp(e->record, key, kl) &&
            e->record[kl] >= '0' && e->record[kl] <= '9' && e->record[kl + 1] == '\n' &&
            e->record[kl] != '0' + ISEC_VREPORT_VERSION)
            return fail(detail, cap, "record is a version-%c report; this client accepts only version %d%s",
                        (char)e->record[kl], ISEC_VREPORT_VERSION,
                        e->record[kl] == '1'   ? " (an older verifier, whose sheet hashes are of another "
                                                 "form and whose verdict ignores the wrong-block rate)"
                        : e->record[kl] == '2' ? " (an older verifier, whose sheet hashes are of another "
                                                 "form: update it)"
                        : e->record[kl] > '0' + ISEC_VREPORT_VERSION ? " (a newer verifier: update this client)"
                                                                     : "");
        return fail(detail, cap, "record is not a canonical version-%d report", ISEC_VREPORT_VERSION);
    }
    if (r->backend != e->backend)
        return fail(detail, cap, "record names a different backend than its attestation");
    if (e->backend == ISEC_VBACKEND_SOFT) {
        if (!ecdsa_ok(trusted, e->record, e->record_len, e->sig, e->sig_len))
            return fail(detail, cap, "bad signature");
        return 0;
    }
    if (e->backend != ISEC_VBACKEND_TPM2 || !e->quote) return fail(detail, cap, "unknown backend");
    uint8_t *der = NULL;
    size_t derlen = 0;
    if (tpm_sig_to_der(e->sig, e->sig_len, &der, &derlen))
        return fail(detail, cap, "quote signature is not a TPM ECDSA/SHA-256 signature");
    int ok = ecdsa_ok(trusted, e->quote, e->quote_len, der, derlen);
    OPENSSL_free(der);
    if (!ok) return fail(detail, cap, "bad quote signature");
    isec_tpm_quote q;
    if (isec_tpm_quote_parse(e->quote, e->quote_len, &q))
        return fail(detail, cap, "quote is not a TPM2 PCR quote over one SHA-256 bank");
    uint8_t h[32], want_pcr[32], want_digest[32];
    unsigned int hn = 0;
    if (!EVP_Digest(e->record, e->record_len, h, &hn, EVP_sha256(), NULL)) return ISEC_ECRYPTO;
    if (q.extra_len != 32 || memcmp(q.extra, h, 32))
        return fail(detail, cap, "quote is not over this record (qualifying data differs)");
    if (pcr < 0 || pcr > 23 || q.pcr_mask != (1u << pcr))
        return fail(detail, cap, "quote covers other PCRs than PCR %d", pcr);
    if (isec_tpm_expected_pcr(r->measurement, want_pcr, want_digest)) return ISEC_ECRYPTO;
    if (q.pcr_digest_len != 32 || memcmp(q.pcr_digest, want_digest, 32))
        return fail(detail, cap, "PCR %d does not hold the reported measurement", pcr);
    return 0;
}

/* tpm2 backend (tpm2-tss ESAPI): at start PCR 23 is reset and extended with the measurement; the
 * sealing key is a TPM sealed data object whose policy is PolicyPCR(sha256:23), so only a process
 * that put the same measurement into PCR 23 can unseal it; reports are quoted (TPM2_Quote over
 * PCR 23, qualifying data = SHA-256(record)) by an attestation key (AK): a restricted ECDSA P-256
 * signing primary key in the endorsement hierarchy, the same key on every start of the same TPM.
 * State: DIR/tpm-seal.pub, DIR/tpm-seal.priv (the TPM's wrapped blobs, mode 0600). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>

#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#include "verifier.h"

struct tpm {
    TSS2_TCTI_CONTEXT *tcti;
    ESYS_CONTEXT *esys;
    ESYS_TR ak;
    uint8_t quote[sizeof(TPMS_ATTEST) + 16];
    uint8_t sig[sizeof(TPMT_SIGNATURE) + 16];
};

static int tpm_fail(char *err, size_t errlen, const char *what, TSS2_RC rc)
{
    snprintf(err, errlen, "TPM: %s failed: %s", what, Tss2_RC_Decode(rc));
    return ISEC_ECRYPTO;
}

static TPML_PCR_SELECTION pcr_sel(void)
{
    TPML_PCR_SELECTION s = {.count = 1};
    s.pcrSelections[0].hash = TPM2_ALG_SHA256;
    s.pcrSelections[0].sizeofSelect = 3;
    s.pcrSelections[0].pcrSelect[VF_TPM_PCR / 8] = (uint8_t)(1u << (VF_TPM_PCR % 8));
    return s;
}

/* PCR 23 := extend(0, measurement). PCR 23 is resettable at locality 0 (PC client profile). */
static int set_pcr(struct tpm *t, const uint8_t m[32], char *err, size_t errlen)
{
    ESYS_TR pcr = ESYS_TR_PCR0 + VF_TPM_PCR;
    TSS2_RC rc = Esys_PCR_Reset(t->esys, pcr, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE);
    if (rc) return tpm_fail(err, errlen, "PCR_Reset(23)", rc);
    TPML_DIGEST_VALUES d = {.count = 1};
    d.digests[0].hashAlg = TPM2_ALG_SHA256;
    memcpy(d.digests[0].digest.sha256, m, 32);
    rc = Esys_PCR_Extend(t->esys, pcr, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &d);
    return rc ? tpm_fail(err, errlen, "PCR_Extend(23)", rc) : 0;
}

static int primary(struct tpm *t, ESYS_TR hierarchy, const TPM2B_PUBLIC *tmpl, ESYS_TR *out,
                   TPM2B_PUBLIC **pub, char *err, size_t errlen)
{
    TPM2B_SENSITIVE_CREATE s = {0};
    TPM2B_DATA outside = {0};
    TPML_PCR_SELECTION none = {0};
    TSS2_RC rc = Esys_CreatePrimary(t->esys, hierarchy, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                                    &s, tmpl, &outside, &none, out, pub, NULL, NULL, NULL);
    return rc ? tpm_fail(err, errlen, "CreatePrimary", rc) : 0;
}

static int storage_primary(struct tpm *t, ESYS_TR *out, char *err, size_t errlen)
{
    TPM2B_PUBLIC tmpl = {0};
    TPMT_PUBLIC *p = &tmpl.publicArea;
    p->type = TPM2_ALG_ECC;
    p->nameAlg = TPM2_ALG_SHA256;
    p->objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                          TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
                          TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT | TPMA_OBJECT_NODA;
    p->parameters.eccDetail.symmetric.algorithm = TPM2_ALG_AES;
    p->parameters.eccDetail.symmetric.keyBits.aes = 128;
    p->parameters.eccDetail.symmetric.mode.aes = TPM2_ALG_CFB;
    p->parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
    p->parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
    p->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
    return primary(t, ESYS_TR_RH_OWNER, &tmpl, out, NULL, err, errlen);
}

static int make_ak(struct tpm *t, EVP_PKEY **pubkey, char *err, size_t errlen)
{
    TPM2B_PUBLIC tmpl = {0}, *pub = NULL;
    TPMT_PUBLIC *p = &tmpl.publicArea;
    p->type = TPM2_ALG_ECC;
    p->nameAlg = TPM2_ALG_SHA256;
    p->objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                          TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
                          TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT;
    p->parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
    p->parameters.eccDetail.scheme.scheme = TPM2_ALG_ECDSA;
    p->parameters.eccDetail.scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256;
    p->parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
    p->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
    int rc = primary(t, ESYS_TR_RH_ENDORSEMENT, &tmpl, &t->ak, &pub, err, errlen);
    if (rc) return rc;
    const TPMS_ECC_POINT *q = &pub->publicArea.unique.ecc;
    uint8_t pt[65] = {4};
    if (q->x.size > 32 || q->y.size > 32) {
        Esys_Free(pub);
        snprintf(err, errlen, "TPM: AK point is not P-256");
        return ISEC_ECRYPTO;
    }
    memcpy(pt + 1 + 32 - q->x.size, q->x.buffer, q->x.size);
    memcpy(pt + 33 + 32 - q->y.size, q->y.buffer, q->y.size);
    Esys_Free(pub);
    OSSL_PARAM_BLD *b = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    int ok = b && c && OSSL_PARAM_BLD_push_utf8_string(b, OSSL_PKEY_PARAM_GROUP_NAME, "P-256", 0) &&
             OSSL_PARAM_BLD_push_octet_string(b, OSSL_PKEY_PARAM_PUB_KEY, pt, sizeof pt) &&
             (params = OSSL_PARAM_BLD_to_param(b)) && EVP_PKEY_fromdata_init(c) == 1 &&
             EVP_PKEY_fromdata(c, pubkey, EVP_PKEY_PUBLIC_KEY, params) == 1;
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(b);
    EVP_PKEY_CTX_free(c);
    if (!ok) snprintf(err, errlen, "TPM: AK public key is not a valid P-256 point");
    return ok ? 0 : ISEC_ECRYPTO;
}

/* A PolicyPCR(sha256:23) session: trial (to compute the policy digest) or real (to unseal). */
static int pcr_policy(struct tpm *t, TPM2_SE type, ESYS_TR *session, TPM2B_DIGEST **digest,
                      char *err, size_t errlen)
{
    TPMT_SYM_DEF sym = {.algorithm = TPM2_ALG_NULL};
    TSS2_RC rc = Esys_StartAuthSession(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                                       ESYS_TR_NONE, ESYS_TR_NONE, NULL, type, &sym,
                                       TPM2_ALG_SHA256, session);
    if (rc) return tpm_fail(err, errlen, "StartAuthSession", rc);
    TPM2B_DIGEST empty = {0};
    TPML_PCR_SELECTION sel = pcr_sel();
    rc = Esys_PolicyPCR(t->esys, *session, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &empty, &sel);
    if (!rc && digest)
        rc = Esys_PolicyGetDigest(t->esys, *session, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, digest);
    if (rc) {
        Esys_FlushContext(t->esys, *session);
        *session = ESYS_TR_NONE;
        return tpm_fail(err, errlen, "PolicyPCR", rc);
    }
    return 0;
}

static int save_blob(const char *dir, const char *name, const uint8_t *b, size_t n)
{
    char *p = vf_path(dir, name);
    int rc = p ? vf_write_file(p, b, n, 0600) : ISEC_ENOMEM;
    free(p);
    return rc;
}

/* First start: a fresh random sealing secret, sealed to PCR 23's current value. */
static int seal_new(struct tpm *t, ESYS_TR srk, const char *dir, uint8_t secret[32], char *err,
                    size_t errlen)
{
    ESYS_TR trial = ESYS_TR_NONE;
    TPM2B_DIGEST *policy = NULL;
    int rc = pcr_policy(t, TPM2_SE_TRIAL, &trial, &policy, err, errlen);
    if (rc) return rc;
    Esys_FlushContext(t->esys, trial);
    TPM2B_SENSITIVE_CREATE s = {0};
    if (RAND_priv_bytes(secret, 32) != 1) {
        Esys_Free(policy);
        return ISEC_ECRYPTO;
    }
    s.sensitive.data.size = 32;
    memcpy(s.sensitive.data.buffer, secret, 32);
    TPM2B_PUBLIC tmpl = {0};
    tmpl.publicArea.type = TPM2_ALG_KEYEDHASH;
    tmpl.publicArea.nameAlg = TPM2_ALG_SHA256;
    /* No USERWITHAUTH: the object opens only through its policy. */
    tmpl.publicArea.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT;
    tmpl.publicArea.authPolicy = *policy;
    tmpl.publicArea.parameters.keyedHashDetail.scheme.scheme = TPM2_ALG_NULL;
    Esys_Free(policy);
    TPM2B_DATA outside = {0};
    TPML_PCR_SELECTION none = {0};
    TPM2B_PRIVATE *priv = NULL;
    TPM2B_PUBLIC *pub = NULL;
    TSS2_RC r = Esys_Create(t->esys, srk, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &s, &tmpl,
                            &outside, &none, &priv, &pub, NULL, NULL, NULL);
    OPENSSL_cleanse(&s, sizeof s);
    if (r) return tpm_fail(err, errlen, "Create(sealed key)", r);
    uint8_t bp[sizeof *pub], bv[sizeof *priv];
    size_t np = 0, nv = 0;
    rc = ISEC_ECRYPTO;
    if (!Tss2_MU_TPM2B_PUBLIC_Marshal(pub, bp, sizeof bp, &np) &&
        !Tss2_MU_TPM2B_PRIVATE_Marshal(priv, bv, sizeof bv, &nv))
        rc = save_blob(dir, "tpm-seal.pub", bp, np) ? ISEC_EIO : save_blob(dir, "tpm-seal.priv", bv, nv);
    Esys_Free(priv);
    Esys_Free(pub);
    if (rc) snprintf(err, errlen, "%s: cannot store the TPM sealed key blobs", dir);
    return rc;
}

static int unseal_existing(struct tpm *t, ESYS_TR srk, const uint8_t *bp, size_t np,
                           const uint8_t *bv, size_t nv, uint8_t secret[32], char *err, size_t errlen)
{
    TPM2B_PUBLIC pub = {0};
    TPM2B_PRIVATE priv = {0};
    size_t off = 0, off2 = 0;
    if (Tss2_MU_TPM2B_PUBLIC_Unmarshal(bp, np, &off, &pub) || off != np ||
        Tss2_MU_TPM2B_PRIVATE_Unmarshal(bv, nv, &off2, &priv) || off2 != nv) {
        snprintf(err, errlen, "tpm-seal.pub/.priv: malformed");
        return ISEC_EFORMAT;
    }
    ESYS_TR obj = ESYS_TR_NONE, sess = ESYS_TR_NONE;
    TSS2_RC r = Esys_Load(t->esys, srk, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &priv, &pub, &obj);
    if (r) return tpm_fail(err, errlen, "Load(sealed key) (another TPM, or its owner seed changed?)", r);
    int rc = pcr_policy(t, TPM2_SE_POLICY, &sess, NULL, err, errlen);
    TPM2B_SENSITIVE_DATA *data = NULL;
    if (!rc) {
        r = Esys_Unseal(t->esys, obj, sess, ESYS_TR_NONE, ESYS_TR_NONE, &data);
        Esys_FlushContext(t->esys, sess);
        if (r) {
            snprintf(err, errlen,
                     "TPM refused to unseal the sealing key (%s): PCR %d does not hold this "
                     "binary's measurement, so this is not the program that sealed the state",
                     Tss2_RC_Decode(r), VF_TPM_PCR);
            rc = ISEC_EAUTH;
        } else if (data->size != 32) {
            snprintf(err, errlen, "TPM: sealed key has the wrong size");
            rc = ISEC_EFORMAT;
        } else
            memcpy(secret, data->buffer, 32);
        if (data) {
            OPENSSL_cleanse(data, sizeof *data);
            Esys_Free(data);
        }
    }
    Esys_FlushContext(t->esys, obj);
    return rc;
}

static int sealing_secret(struct tpm *t, const char *dir, uint8_t secret[32], char *err, size_t errlen)
{
    ESYS_TR srk = ESYS_TR_NONE;
    int rc = storage_primary(t, &srk, err, errlen);
    if (rc) return rc;
    char *pp = vf_path(dir, "tpm-seal.pub"), *pv = vf_path(dir, "tpm-seal.priv");
    uint8_t *bp = NULL, *bv = NULL;
    size_t np = 0, nv = 0;
    if (!pp || !pv)
        rc = ISEC_ENOMEM;
    else if (vf_read_file(pp, VF_MAX_FILE, &bp, &np) == 0 && vf_read_file(pv, VF_MAX_FILE, &bv, &nv) == 0)
        rc = unseal_existing(t, srk, bp, np, bv, nv, secret, err, errlen);
    else if (errno == ENOENT)
        rc = seal_new(t, srk, dir, secret, err, errlen);
    else {
        snprintf(err, errlen, "%s: cannot read", pp);
        rc = ISEC_EIO;
    }
    free(bp);
    free(bv);
    free(pp);
    free(pv);
    Esys_FlushContext(t->esys, srk);
    return rc;
}

static int tpm_attest(vf_backend *b, const uint8_t *record, size_t len, isec_venvelope *e)
{
    struct tpm *t = b->impl;
    TPM2B_DATA q = {.size = 32};
    unsigned int n = 0;
    if (!EVP_Digest(record, len, q.buffer, &n, EVP_sha256(), NULL)) return ISEC_ECRYPTO;
    TPMT_SIG_SCHEME scheme = {.scheme = TPM2_ALG_NULL}; /* the AK's own: ECDSA/SHA-256 */
    TPML_PCR_SELECTION sel = pcr_sel();
    TPM2B_ATTEST *quoted = NULL;
    TPMT_SIGNATURE *sig = NULL;
    TSS2_RC rc = Esys_Quote(t->esys, t->ak, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &q,
                            &scheme, &sel, &quoted, &sig);
    if (rc) {
        fprintf(stderr, "imgsec verifier: TPM: Quote failed: %s\n", Tss2_RC_Decode(rc));
        return ISEC_ECRYPTO;
    }
    size_t sn = 0;
    int ok = quoted->size <= sizeof t->quote &&
             !Tss2_MU_TPMT_SIGNATURE_Marshal(sig, t->sig, sizeof t->sig, &sn);
    if (ok) memcpy(t->quote, quoted->attestationData, quoted->size);
    e->backend = ISEC_VBACKEND_TPM2;
    e->record = record;
    e->record_len = len;
    e->quote = t->quote;
    e->quote_len = quoted->size;
    e->sig = t->sig;
    e->sig_len = sn;
    Esys_Free(quoted);
    Esys_Free(sig);
    return ok ? 0 : ISEC_ECRYPTO;
}

static void tpm_free(vf_backend *b)
{
    struct tpm *t = b->impl;
    if (!t) return;
    if (t->esys) {
        if (t->ak != ESYS_TR_NONE) Esys_FlushContext(t->esys, t->ak);
        Esys_Finalize(&t->esys);
    }
    if (t->tcti) Tss2_TctiLdr_Finalize(&t->tcti);
    free(t);
    b->impl = NULL;
}

int vf_backend_tpm2_open(vf_backend *b, const char *dir, const char *tcti, char *err, size_t errlen)
{
    struct tpm *t = calloc(1, sizeof *t);
    if (!t) return ISEC_ENOMEM;
    t->ak = ESYS_TR_NONE;
    b->impl = t;
    b->attest = tpm_attest;
    b->free = tpm_free;
    setenv("TSS2_LOG", "all+none", 0); /* our messages say what failed; keep tpm2-tss quiet */
    TSS2_RC rc = Tss2_TctiLdr_Initialize(tcti, &t->tcti);
    if (rc) {
        snprintf(err, errlen, "TPM: cannot open TCTI '%s': %s", tcti ? tcti : "(default)",
                 Tss2_RC_Decode(rc));
        return ISEC_EIO;
    }
    rc = Esys_Initialize(&t->esys, t->tcti, NULL);
    if (rc) return tpm_fail(err, errlen, "Esys_Initialize", rc);
    rc = Esys_Startup(t->esys, TPM2_SU_CLEAR);
    if (rc && rc != TPM2_RC_INITIALIZE) return tpm_fail(err, errlen, "Startup", rc);
    uint8_t secret[32];
    int r = set_pcr(t, b->measurement, err, errlen);
    if (!r) r = make_ak(t, &b->pub, err, errlen);
    if (!r) r = sealing_secret(t, dir, secret, err, errlen);
    if (!r) r = vf_soft_seal_key(secret, b->measurement, b->seal_key);
    OPENSSL_cleanse(secret, sizeof secret);
    return r;
}

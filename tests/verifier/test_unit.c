/* Unit tests of the verifier's pure parts: report record canonicalisation, the envelope, soft
 * signatures and hand-built TPM quotes through isec_venvelope_verify, sealing, multipart bodies,
 * HTTP responses and trust files. */
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "imgsec/attest.h"
#include "testutil.h"
#include "verifier.h"

static int checks;
#define T(c)            \
    do {                \
        checks++;       \
        CHECK(c);       \
    } while (0)

static isec_vreport sample(void)
{
    isec_vreport r;
    memset(&r, 0, sizeof r);
    for (int i = 0; i < 32; i++) {
        r.nonce[i] = (uint8_t)i;
        r.sheet_a[i] = (uint8_t)(0xa0 + i);
        r.sheet_b[i] = (uint8_t)(0xb0 + i);
        r.measurement[i] = (uint8_t)(0xf0 ^ i);
    }
    for (int i = 0; i < 16; i++) r.table_id[i] = (uint8_t)(0x10 + i), r.watermark_id[i] = (uint8_t)(0x20 + i);
    r.nc_ppm = 998512;
    r.ber_ppm = 1488;
    r.invalid_ppm = 0;
    r.wrong_ppm = 1500;
    r.threshold_ppm = 750000;
    r.max_invalid_ppm = 50000;
    r.max_wrong_ppm = 20000;
    r.genuine = 1;
    r.backend = ISEC_VBACKEND_SOFT;
    return r;
}

static const char golden[] =
    "imgsec-vcs-report=3\n"
    "nonce=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n"
    "sheet-a=a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf\n"
    "sheet-b=b0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecf\n"
    "table-id=101112131415161718191a1b1c1d1e1f\n"
    "watermark-id=202122232425262728292a2b2c2d2e2f\n"
    "nc=0.998512\n"
    "ber=0.001488\n"
    "invalid=0.000000\n"
    "wrong=0.001500\n"
    "threshold=0.750000\n"
    "max-invalid=0.050000\n"
    "max-wrong=0.020000\n"
    "verdict=genuine\n"
    "measurement=f0f1f2f3f4f5f6f7f8f9fafbfcfdfeffe0e1e2e3e4e5e6e7e8e9eaebecedeeef\n"
    "backend=soft\n";

/* Replace the first occurrence of from by to in the golden record and decode it. */
static int decode_variant(const char *from, const char *to)
{
    char buf[2048];
    const char *p = strstr(golden, from);
    if (!p) return 99;
    size_t pre = (size_t)(p - golden);
    snprintf(buf, sizeof buf, "%.*s%s%s", (int)pre, golden, to, p + strlen(from));
    isec_vreport r;
    return isec_vreport_decode((const uint8_t *)buf, strlen(buf), &r);
}

static void test_record(void)
{
    isec_vreport r = sample(), d;
    char buf[ISEC_VREPORT_MAX_RECORD];
    size_t n = 0;
    T(isec_vreport_encode(&r, buf, sizeof buf, &n) == 0);
    T(n == strlen(golden) && !memcmp(buf, golden, n));
    T(isec_vreport_decode((const uint8_t *)buf, n, &d) == 0);
    T(!memcmp(&d, &r, sizeof r));
    /* One byte form only. */
    T(decode_variant("nonce=00", "nonce=0") == ISEC_EFORMAT); /* short hex */
    T(decode_variant("table-id=10", "table-id=1A") == ISEC_EFORMAT); /* uppercase hex */
    T(decode_variant("nc=0.998512", "nc=0.99851") == ISEC_EFORMAT);
    T(decode_variant("nc=0.998512", "nc=+0.998512") == ISEC_EFORMAT);
    T(decode_variant("nc=0.998512", "nc=0.700000") == ISEC_EFORMAT); /* verdict disagrees */
    T(decode_variant("verdict=genuine", "verdict=Genuine") == ISEC_EFORMAT);
    T(decode_variant("backend=soft\n", "backend=soft\nextra=1\n") == ISEC_EFORMAT);
    T(decode_variant("backend=soft\n", "backend=soft") == ISEC_EFORMAT);
    T(decode_variant("nc=0.998512\nber=0.001488\n", "ber=0.001488\nnc=0.998512\n") == ISEC_EFORMAT);
    T(decode_variant("invalid=0.000000\n", "") == ISEC_EFORMAT); /* a missing field */
    T(decode_variant("imgsec-vcs-report=3", "imgsec-vcs-report=1") == ISEC_EFORMAT);
    T(decode_variant("imgsec-vcs-report=3", "imgsec-vcs-report=2") == ISEC_EFORMAT);
    T(decode_variant("imgsec-vcs-report=3", "imgsec-vcs-report=4") == ISEC_EFORMAT);
    T(decode_variant("backend=soft", "backend=tpm2") == 0);
    T(decode_variant("nc=0.998512\n", "nc=1.000000\n") == 0);
    T(decode_variant("nc=0.998512", "nc=1.000001") == ISEC_EFORMAT); /* out of range */
    T(decode_variant("invalid=0.000000", "invalid=0.060000") == ISEC_EFORMAT); /* verdict disagrees */
    T(decode_variant("invalid=0.000000", "invalid=0.050000") == 0);
    T(decode_variant("invalid=0.000000\nwrong=0.001500\nthreshold=0.750000\nmax-invalid=0.050000\nmax-wrong=0.020000\nverdict=genuine",
                     "invalid=0.060000\nwrong=0.001500\nthreshold=0.750000\nmax-invalid=0.050000\nmax-wrong=0.020000\nverdict=not-genuine") == 0);
    /* The wrong-block rate: a forged region keeps NC at 1 and invalid at 0, yet is not genuine. */
    T(decode_variant("wrong=0.001500", "wrong=0.062500") == ISEC_EFORMAT); /* verdict disagrees */
    T(decode_variant("wrong=0.001500", "wrong=0.020000") == 0);             /* at the limit */
    T(decode_variant("wrong=0.001500", "wrong=0.020001") == ISEC_EFORMAT);
    T(decode_variant("wrong=0.001500\nthreshold=0.750000\nmax-invalid=0.050000\nmax-wrong=0.020000\nverdict=genuine",
                     "wrong=0.062500\nthreshold=0.750000\nmax-invalid=0.050000\nmax-wrong=0.020000\nverdict=not-genuine") == 0);
    T(decode_variant("max-wrong=0.020000\nverdict=genuine", "max-wrong=0.000000\nverdict=not-genuine") == 0);
    T(decode_variant("max-wrong=0.020000", "max-wrong=1.000001") == ISEC_EFORMAT); /* out of range */
    T(decode_variant("wrong=0.001500\n", "") == ISEC_EFORMAT);
    T(decode_variant("max-wrong=0.020000\n", "") == ISEC_EFORMAT);
    T(decode_variant("wrong=0.001500\nthreshold=0.750000\n", "threshold=0.750000\nwrong=0.001500\n") == ISEC_EFORMAT);
    {
        isec_vreport g = sample();
        T(isec_vreport_rule(&g) == 1);
        g.wrong_ppm = 62500;
        T(isec_vreport_rule(&g) == 0 && isec_vreport_encode(&g, buf, sizeof buf, &n) == ISEC_EINVAL);
        g.genuine = 0;
        T(isec_vreport_encode(&g, buf, sizeof buf, &n) == 0 && strstr(buf, "\nwrong=0.062500\n") &&
          strstr(buf, "verdict=not-genuine\n"));
        T(isec_vreport_decode((const uint8_t *)buf, n, &d) == 0 && d.wrong_ppm == 62500 && !d.genuine);
        g.wrong_ppm = -1;
        T(isec_vreport_encode(&g, buf, sizeof buf, &n) == ISEC_EINVAL);
    }
    /* Not genuine, negative NC. */
    r.nc_ppm = -120000;
    r.genuine = 1;
    T(isec_vreport_encode(&r, buf, sizeof buf, &n) == ISEC_EINVAL);
    r.genuine = 0;
    T(isec_vreport_encode(&r, buf, sizeof buf, &n) == 0);
    T(strstr(buf, "nc=-0.120000\n") && strstr(buf, "verdict=not-genuine\n"));
    T(isec_vreport_decode((const uint8_t *)buf, n, &d) == 0 && d.nc_ppm == -120000 && !d.genuine);
    char *z = strstr(buf, "nc=-0.120000");
    memcpy(z, "nc=-0.000000", 12);
    T(isec_vreport_decode((const uint8_t *)buf, n, &d) == ISEC_EFORMAT);
    T(isec_vreport_encode(&r, buf, 100, &n) == ISEC_EBUFFER);
    T(isec_vreport_ppm(0.75) == 750000 && isec_vreport_ppm(-0.0000004) == 0 && isec_vreport_ppm(1.0) == 1000000);
    char f[16];
    isec_vreport_fmt_ppm(5, f);
    T(!strcmp(f, "0.000005"));
}

static EVP_PKEY *newkey(void)
{
    return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
}

static size_t sign(EVP_PKEY *k, const uint8_t *m, size_t n, uint8_t *sig)
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    size_t sl = 80;
    int ok = EVP_DigestSignInit(c, NULL, EVP_sha256(), NULL, k) == 1 && EVP_DigestSign(c, sig, &sl, m, n) == 1;
    EVP_MD_CTX_free(c);
    return ok ? sl : 0;
}

static void test_envelope_soft(void)
{
    isec_vreport r = sample(), out;
    char rec[ISEC_VREPORT_MAX_RECORD];
    size_t n = 0;
    T(isec_vreport_encode(&r, rec, sizeof rec, &n) == 0);
    EVP_PKEY *k = newkey(), *other = newkey();
    uint8_t sig[80];
    size_t sl = sign(k, (const uint8_t *)rec, n, sig);
    T(sl > 0);
    isec_venvelope e = {(const uint8_t *)rec, n, ISEC_VBACKEND_SOFT, sig, sl, NULL, 0}, d;
    uint8_t *env = NULL;
    size_t el = 0;
    T(isec_venvelope_encode(&e, &env, &el) == 0);
    T(isec_venvelope_decode(env, el, &d) == 0 && d.record_len == n && d.sig_len == sl);
    char why[200];
    T(isec_venvelope_verify(&d, k, -1, &out, why, sizeof why) == 0);
    T(!memcmp(&out, &r, sizeof r));
    T(isec_venvelope_verify(&d, other, -1, &out, why, sizeof why) == ISEC_EAUTH && strstr(why, "bad signature"));
    /* A well-signed version-1 record (the old format, whose verdict ignored the wrong-block
     * rate) is refused, and the client is told why. */
    static const char v1[] = "imgsec-vcs-report=1\n"
                             "nonce=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n"
                             "sheet-a=a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf\n"
                             "sheet-b=b0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecf\n"
                             "table-id=101112131415161718191a1b1c1d1e1f\n"
                             "watermark-id=202122232425262728292a2b2c2d2e2f\n"
                             "nc=1.000000\nber=0.000000\ninvalid=0.000000\nthreshold=0.750000\n"
                             "max-invalid=0.050000\nverdict=genuine\n"
                             "measurement=f0f1f2f3f4f5f6f7f8f9fafbfcfdfeffe0e1e2e3e4e5e6e7e8e9eaebecedeeef\n"
                             "backend=soft\n";
    uint8_t sig1[80];
    size_t sl1 = sign(k, (const uint8_t *)v1, sizeof v1 - 1, sig1);
    isec_venvelope e1 = {(const uint8_t *)v1, sizeof v1 - 1, ISEC_VBACKEND_SOFT, sig1, sl1, NULL, 0};
    T(sl1 > 0 && isec_venvelope_verify(&e1, k, -1, &out, why, sizeof why) == ISEC_EAUTH &&
      strstr(why, "version-1 report") && strstr(why, "only version 3") && strstr(why, "wrong-block"));
    /* A well-signed version-2 record (the same lines, but sheet hashes of share digest v1): refused
     * with the reason, as is a record of a newer version. */
    char v2[sizeof golden];
    memcpy(v2, golden, sizeof golden);
    v2[18] = '2';
    uint8_t sig2[80];
    size_t sl2 = sign(k, (const uint8_t *)v2, sizeof v2 - 1, sig2);
    isec_venvelope e2 = {(const uint8_t *)v2, sizeof v2 - 1, ISEC_VBACKEND_SOFT, sig2, sl2, NULL, 0};
    T(sl2 > 0 && isec_venvelope_verify(&e2, k, -1, &out, why, sizeof why) == ISEC_EAUTH &&
      strstr(why, "version-2 report") && strstr(why, "only version 3") && strstr(why, "sheet hashes"));
    v2[18] = '4';
    sl2 = sign(k, (const uint8_t *)v2, sizeof v2 - 1, sig2);
    e2.sig_len = sl2;
    T(sl2 > 0 && isec_venvelope_verify(&e2, k, -1, &out, why, sizeof why) == ISEC_EAUTH &&
      strstr(why, "version-4 report") && strstr(why, "newer verifier"));
    /* Every single-byte flip of the envelope is caught by the parser or the signature. */
    int caught = 0, total = 0;
    for (size_t i = 0; i < el; i++) {
        env[i] ^= 0x01;
        isec_venvelope x;
        isec_vreport y;
        int rc = isec_venvelope_decode(env, el, &x);
        if (rc || isec_venvelope_verify(&x, k, -1, &y, NULL, 0)) caught++;
        total++;
        env[i] ^= 0x01;
    }
    T(caught == total);
    /* Truncations and trailing bytes. */
    T(isec_venvelope_decode(env, el - 1, &d) == ISEC_EFORMAT);
    uint8_t *longer = malloc(el + 1);
    memcpy(longer, env, el);
    longer[el] = '\n';
    T(isec_venvelope_decode(longer, el + 1, &d) == ISEC_EFORMAT);
    free(longer);
    static const char huge[] = "imgsec-vcs-attested-report 1\nrecord 99999999999\n";
    T(isec_venvelope_decode((const uint8_t *)huge, sizeof huge - 1, &d) == ISEC_ELIMIT);
    free(env);
    EVP_PKEY_free(k);
    EVP_PKEY_free(other);
}

/* A TPMS_ATTEST quote as a TPM would marshal it, signed with k; returns its length. */
static size_t put16(uint8_t *p, unsigned v) { p[0] = (uint8_t)(v >> 8), p[1] = (uint8_t)v; return 2; }
static size_t build_quote(uint8_t *q, const uint8_t extra[32], unsigned pcr, const uint8_t digest[32])
{
    size_t o = 0;
    static const uint8_t magic[] = {0xff, 0x54, 0x43, 0x47, 0x80, 0x18};
    memcpy(q, magic, 6), o = 6;
    o += put16(q + o, 34); /* qualifiedSigner: a name */
    memset(q + o, 0x11, 34), o += 34;
    o += put16(q + o, 32);
    memcpy(q + o, extra, 32), o += 32;
    memset(q + o, 0, 17 + 8), o += 17 + 8; /* clockInfo, firmwareVersion */
    q[o++] = 0, q[o++] = 0, q[o++] = 0, q[o++] = 1; /* one bank */
    o += put16(q + o, 0x000b);
    q[o++] = 3;
    q[o] = q[o + 1] = q[o + 2] = 0;
    q[o + pcr / 8] = (uint8_t)(1u << (pcr % 8));
    o += 3;
    o += put16(q + o, 32);
    memcpy(q + o, digest, 32), o += 32;
    return o;
}

static size_t tpm_sig(EVP_PKEY *k, const uint8_t *q, size_t qn, uint8_t *out)
{
    uint8_t der[80];
    size_t dl = sign(k, q, qn, der);
    const unsigned char *p = der;
    ECDSA_SIG *s = d2i_ECDSA_SIG(NULL, &p, (long)dl);
    const BIGNUM *r, *sv;
    ECDSA_SIG_get0(s, &r, &sv);
    size_t o = 0;
    o += put16(out, 0x0018);
    o += put16(out + o, 0x000b);
    o += put16(out + o, 32);
    BN_bn2binpad(r, out + o, 32), o += 32;
    o += put16(out + o, 32);
    BN_bn2binpad(sv, out + o, 32), o += 32;
    ECDSA_SIG_free(s);
    return o;
}

static void test_envelope_tpm(void)
{
    isec_vreport r = sample(), out;
    r.backend = ISEC_VBACKEND_TPM2;
    char rec[ISEC_VREPORT_MAX_RECORD];
    size_t n = 0;
    T(isec_vreport_encode(&r, rec, sizeof rec, &n) == 0);
    uint8_t h[32], pcr[32], dig[32], q[256], sig[128];
    unsigned int hn;
    EVP_Digest(rec, n, h, &hn, EVP_sha256(), NULL);
    T(isec_tpm_expected_pcr(r.measurement, pcr, dig) == 0);
    EVP_PKEY *k = newkey();
    size_t qn = build_quote(q, h, 23, dig), sn = tpm_sig(k, q, qn, sig);
    isec_tpm_quote pq;
    T(isec_tpm_quote_parse(q, qn, &pq) == 0 && pq.pcr_mask == 1u << 23 && pq.extra_len == 32);
    T(isec_tpm_quote_parse(q, qn - 1, &pq) == ISEC_EFORMAT);
    isec_venvelope e = {(const uint8_t *)rec, n, ISEC_VBACKEND_TPM2, sig, sn, q, qn};
    char why[200];
    T(isec_venvelope_verify(&e, k, 23, &out, why, sizeof why) == 0);
    T(isec_venvelope_verify(&e, k, 16, &out, why, sizeof why) == ISEC_EAUTH);
    /* A quote over other qualifying data (another record): rejected even if well signed. */
    uint8_t h2[32];
    memcpy(h2, h, 32);
    h2[0] ^= 1;
    qn = build_quote(q, h2, 23, dig), sn = tpm_sig(k, q, qn, sig);
    e.sig_len = sn;
    T(isec_venvelope_verify(&e, k, 23, &out, why, sizeof why) == ISEC_EAUTH && strstr(why, "qualifying"));
    /* A PCR holding another measurement. */
    uint8_t dig2[32];
    memcpy(dig2, dig, 32);
    dig2[5] ^= 1;
    qn = build_quote(q, h, 23, dig2), sn = tpm_sig(k, q, qn, sig);
    e.sig_len = sn;
    T(isec_venvelope_verify(&e, k, 23, &out, why, sizeof why) == ISEC_EAUTH && strstr(why, "measurement"));
    /* Good quote, tampered after signing. */
    qn = build_quote(q, h, 23, dig), sn = tpm_sig(k, q, qn, sig);
    e.sig_len = sn;
    T(isec_venvelope_verify(&e, k, 23, &out, why, sizeof why) == 0);
    q[qn - 1] ^= 1;
    T(isec_venvelope_verify(&e, k, 23, &out, why, sizeof why) == ISEC_EAUTH && strstr(why, "bad quote"));
    EVP_PKEY_free(k);
}

static void test_seal(void)
{
    uint8_t root[32], m1[32], m2[32], k1[32], k2[32], k1b[32];
    RAND_bytes(root, 32);
    memset(m1, 1, 32);
    memcpy(m2, m1, 32);
    m2[31] ^= 0x80;
    T(vf_soft_seal_key(root, m1, k1) == 0 && vf_soft_seal_key(root, m2, k2) == 0 &&
      vf_soft_seal_key(root, m1, k1b) == 0);
    T(!memcmp(k1, k1b, 32) && memcmp(k1, k2, 32));
    static const uint8_t secret[] = "table key and watermark: 0123456789abcdef0123456789abcdef";
    uint8_t *blob = NULL, *pt = NULL;
    size_t bl = 0, pl = 0;
    T(vf_seal(k1, ISEC_VBACKEND_SOFT, m1, secret, sizeof secret, &blob, &bl) == 0);
    T(bl == 8 + 4 + 32 + 12 + 4 + sizeof secret + 16);
    /* Not plaintext: no 8-byte window of the secret appears in the blob. */
    int found = 0;
    for (size_t i = 0; i + 8 <= sizeof secret; i++)
        for (size_t j = 0; j + 8 <= bl; j++) found |= !memcmp(secret + i, blob + j, 8);
    T(!found);
    T(vf_unseal(k1, blob, bl, &pt, &pl) == 0 && pl == sizeof secret && !memcmp(pt, secret, pl));
    vf_free_secret(pt, pl);
    T(vf_unseal(k2, blob, bl, &pt, &pl) == ISEC_EAUTH && !pt); /* another measurement */
    for (size_t i = 0; i < bl; i += 7) {                       /* any modification */
        blob[i] ^= 4;
        int rc = vf_unseal(k1, blob, bl, &pt, &pl);
        T(rc == ISEC_EAUTH || rc == ISEC_EFORMAT);
        blob[i] ^= 4;
    }
    T(vf_unseal(k1, blob, bl - 1, &pt, &pl) == ISEC_EFORMAT);
    free(blob);
}

static void test_multipart(void)
{
    static const uint8_t a[] = "\r\n--x\r\nnot a boundary", b[] = "";
    vf_part in[3] = {{"nonce", (const uint8_t *)"ab", 2}, {"a", a, sizeof a - 1}, {"b", b, 0}}, out[VF_MAX_PARTS];
    uint8_t *body = NULL;
    size_t bl = 0, n = 0;
    char ct[128], bnd[80];
    T(vf_mp_build(in, 3, "form-data", &body, &bl, ct) == 0);
    T(vf_mp_boundary(ct, bnd, sizeof bnd) == 0);
    T(vf_mp_parse(body, bl, bnd, out, &n) == 0 && n == 3);
    T(out[1].len == sizeof a - 1 && !memcmp(out[1].data, a, out[1].len) && out[2].len == 0);
    T(vf_mp_find(out, n, "b") == &out[2] && !vf_mp_find(out, n, "c"));
    T(vf_mp_parse(body, bl - 10, bnd, out, &n) != 0); /* no close delimiter */
    T(vf_mp_parse(body + 1, bl - 1, bnd, out, &n) != 0);
    free(body);
    static const char dup[] = "--q\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n"
                              "--q\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n2\r\n--q--\r\n";
    T(vf_mp_parse((const uint8_t *)dup, sizeof dup - 1, "q", out, &n) == ISEC_EFORMAT);
    T(vf_mp_boundary("multipart/form-data; boundary=\"abc def\"", bnd, sizeof bnd) == 0 && !strcmp(bnd, "abc def"));
    T(vf_mp_boundary("text/plain", bnd, sizeof bnd) != 0);
    T(vf_mp_boundary("multipart/form-data", bnd, sizeof bnd) != 0);
}

static void test_http(void)
{
    vf_http_resp r = {0};
    static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello+junk";
    T(vf_http_parse_resp((const uint8_t *)ok, sizeof ok - 1, 100, &r) == 0 && r.status == 200 &&
      r.body_len == 5 && !memcmp(r.body, "hello", 5) && !strcmp(r.ctype, "text/plain"));
    vf_http_resp_clear(&r);
    static const char shortb[] = "HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nhello";
    T(vf_http_parse_resp((const uint8_t *)shortb, sizeof shortb - 1, 100, &r) == ISEC_ETRUNC);
    static const char big[] = "HTTP/1.1 200 OK\r\n\r\n0123456789";
    T(vf_http_parse_resp((const uint8_t *)big, sizeof big - 1, 5, &r) == ISEC_ELIMIT);
    static const char bad[] = "HTTP/1.1 2x0 OK\r\n\r\n";
    T(vf_http_parse_resp((const uint8_t *)bad, sizeof bad - 1, 5, &r) == ISEC_EFORMAT);
    T(vf_http_parse_resp((const uint8_t *)"HTTP/1.1 200", 12, 5, &r) == ISEC_EFORMAT);
}

static void test_trust(void)
{
    EVP_PKEY *k = newkey();
    BIO *m = BIO_new(BIO_s_mem());
    BIO_puts(m, "imgsec-verifier-trust 1\nbackend: tpm2\nmeasurement: ");
    for (int i = 0; i < 32; i++) BIO_printf(m, "%02x", i);
    BIO_puts(m, "\npcr: 23\n");
    PEM_write_bio_PUBKEY(m, k);
    char *p = NULL;
    long n = BIO_get_mem_data(m, &p);
    vf_trust t;
    T(vf_trust_parse((const uint8_t *)p, (size_t)n, &t) == 0 && t.backend == ISEC_VBACKEND_TPM2 &&
      t.pcr == 23 && t.measurement[31] == 31 && EVP_PKEY_eq(t.key, k) == 1);
    vf_trust_clear(&t);
    T(vf_trust_parse((const uint8_t *)p, 40, &t) == ISEC_EFORMAT);
    char *q = strstr(p, "pcr: 23");
    q[5] = '9'; /* pcr 93 */
    T(vf_trust_parse((const uint8_t *)p, (size_t)n, &t) == ISEC_EFORMAT);
    BIO_free(m);
    EVP_PKEY_free(k);
}

/* Known answers: reports made by the real service (soft, and tpm2 on swtpm), with the trust
 * files it wrote, verified offline as the client does; then with one byte changed. The reports
 * of the version-2 service (share digest v1, before 2026-11-23: soft-report.env,
 * swtpm-report.env) are well attested but refused, with the reason. */
static void test_vectors(const char *dir)
{
    static const char *const names[][2] = {{"soft-report-v3.env", "soft-trust-v3.pem"},
                                           {"swtpm-report-v3.env", "swtpm-trust-v3.pem"},
                                           {"soft-report.env", "soft-trust.pem"},
                                           {"swtpm-report.env", "swtpm-trust.pem"}};
    for (size_t i = 0; i < 4; i++) {
        char pe[1024], pt[1024];
        snprintf(pe, sizeof pe, "%s/%s", dir, names[i][0]);
        snprintf(pt, sizeof pt, "%s/%s", dir, names[i][1]);
        size_t el = 0, tl = 0;
        uint8_t *env = tu_read_file(pe, &el), *tb = tu_read_file(pt, &tl);
        T(env && tb);
        if (!env || !tb) continue;
        vf_trust t;
        isec_venvelope e;
        isec_vreport r;
        char why[200];
        T(vf_trust_parse(tb, tl, &t) == 0);
        T(isec_venvelope_decode(env, el, &e) == 0 && e.backend == t.backend);
        if (i >= 2) { /* version 2 */
            T(isec_venvelope_verify(&e, t.key, t.pcr, &r, why, sizeof why) == ISEC_EAUTH &&
              strstr(why, "version-2 report; this client accepts only version 3") &&
              strstr(why, "sheet hashes"));
            vf_trust_clear(&t);
            free(env);
            free(tb);
            continue;
        }
        T(isec_venvelope_verify(&e, t.key, t.pcr, &r, why, sizeof why) == 0);
        T(!memcmp(r.measurement, t.measurement, 32) && r.genuine && r.nc_ppm == 1000000);
        T(r.wrong_ppm == 0 && r.invalid_ppm == 0 && r.max_wrong_ppm == 20000 && r.max_invalid_ppm == 50000);
        if (t.backend == ISEC_VBACKEND_TPM2) {
            isec_tpm_quote q;
            T(isec_tpm_quote_parse(e.quote, e.quote_len, &q) == 0 && q.pcr_mask == 1u << 23);
            T(isec_venvelope_verify(&e, t.key, 16, &r, why, sizeof why) == ISEC_EAUTH);
        }
        /* One flipped bit anywhere in the record, quote or signature is caught. */
        int caught = 0, total = 0;
        for (size_t k = 0; k < el; k += 3) {
            env[k] ^= 0x20;
            isec_venvelope x;
            if (isec_venvelope_decode(env, el, &x) || isec_venvelope_verify(&x, t.key, t.pcr, &r, NULL, 0))
                caught++;
            total++;
            env[k] ^= 0x20;
        }
        T(caught == total);
        vf_trust_clear(&t);
        free(env);
        free(tb);
    }
}

int main(int argc, char **argv)
{
    if (argc > 1) test_vectors(argv[1]);
    else fprintf(stderr, "verifier.unit: no vector directory given, known answers skipped\n");
    test_record();
    test_envelope_soft();
    test_envelope_tpm();
    test_seal();
    test_multipart();
    test_http();
    test_trust();
    return tu_finish("verifier.unit", checks);
}

/* imgsec attested verification reports (issue 5): the canonical record the VCS verifier signs or
 * quotes, the envelope that carries it with its attestation, and the checks a client runs.
 * Pure data + OpenSSL libcrypto; no I/O, no TPM library (a TPM quote is parsed here by hand).
 *
 * Record, version 3: exactly these lines, in this order, each "key=value\n", ASCII, nothing else:
 *   imgsec-vcs-report=3
 *   nonce=<64 lowercase hex>          the requester's 32-byte nonce
 *   sheet-a=<64 hex>                  participant A's share digest, version 2
 *                                     (isec_vcs_share_digest: SHA-256 of the packed pixels)
 *   sheet-b=<64 hex>                  same for B
 *   table-id=<32 hex>                 isec_vcs_table_id() of the table key the sheets name
 *   watermark-id=<32 hex>             isec_vcs_watermark_id() of the sealed watermark they were
 *                                     checked against (all zeros: the verifier holds no secret
 *                                     for that table id; verdict not-genuine)
 *   nc=<[-]d.dddddd>                  normalised correlation, 6 decimals, "-0.000000" never appears
 *   ber=<d.dddddd>                    bit error rate (of the voted watermark)
 *   invalid=<d.dddddd>                fraction of examined blocks that are no valid arrangement
 *   wrong=<d.dddddd>                  wrong-block rate: fraction of the voting blocks whose bit
 *                                     is wrong, before voting (isec_vcs_wm_result.block_ber;
 *                                     1.000000 if none voted). A validly re-arranged (forged)
 *                                     region keeps NC at 1 but about half its blocks are wrong.
 *   threshold=<d.dddddd>              NC needed for "genuine"
 *   max-invalid=<d.dddddd>            largest invalid fraction allowed for "genuine"
 *   max-wrong=<d.dddddd>              largest wrong-block rate allowed for "genuine"
 *   verdict=genuine|not-genuine       genuine iff nc >= threshold and invalid <= max-invalid
 *                                     and wrong <= max-wrong
 *   measurement=<64 hex>              the verifier's measurement (docs/verifier.md)
 *   backend=soft|tpm2                 the attestation backend
 * Older versions are refused, with the reason (isec_venvelope_verify): version 2 had the same
 * lines but share digests of version 1 (over one byte per pixel), so its sheet hashes never
 * match a current client's; version 1 also lacked wrong / max-wrong (its verdict ignored the
 * wrong-block rate).
 * The attestation is over SHA-256(record bytes).
 *
 * Envelope, version 1 (what the service returns; what `vcs verify --report-out` saves):
 *   "imgsec-vcs-attested-report 1\n"
 *   "record <n>\n" <n bytes> "\n"
 *   "backend soft\n" "sig <n>\n" <DER ECDSA-P256-SHA256 signature over the record> "\n"
 * or
 *   "backend tpm2\n" "quote <n>\n" <TPM2B_ATTEST contents: marshalled TPMS_ATTEST> "\n"
 *                   "sig <n>\n" <marshalled TPMT_SIGNATURE (ECDSA, SHA-256) over the quote> "\n"
 * Each length is decimal, at most ISEC_VREPORT_MAX_FIELD. Nothing may follow. */
#ifndef IMGSEC_ATTEST_H
#define IMGSEC_ATTEST_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "imgsec/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ISEC_VREPORT_VERSION 3
#define ISEC_VREPORT_MAX_RECORD 1024 /* a version-3 record is < 650 bytes */
#define ISEC_VREPORT_MAX_FIELD 4096
#define ISEC_VREPORT_MAX_ENVELOPE (3 * ISEC_VREPORT_MAX_FIELD + 256)
#define ISEC_VREPORT_PPM 1000000 /* the ratios are fixed point in millionths */

enum isec_vbackend { ISEC_VBACKEND_SOFT = 1, ISEC_VBACKEND_TPM2 = 2 };

typedef struct {
    uint8_t nonce[32];
    uint8_t sheet_a[32], sheet_b[32];
    uint8_t table_id[16], watermark_id[16]; /* ISEC_VCS_ID_LEN */
    int32_t nc_ppm, ber_ppm, invalid_ppm, wrong_ppm; /* nc in [-1e6, 1e6], the others [0, 1e6] */
    int32_t threshold_ppm, max_invalid_ppm, max_wrong_ppm; /* [0, 1e6] */
    int genuine; /* must equal isec_vreport_rule(this) */
    uint8_t measurement[32];
    int backend; /* enum isec_vbackend */
} isec_vreport;

/* The verdict rule: nc_ppm >= threshold_ppm && invalid_ppm <= max_invalid_ppm &&
 * wrong_ppm <= max_wrong_ppm (1 genuine, 0 not). Everyone who computes or re-checks a verdict
 * (the service, isec_vreport_encode/decode, clients) uses this one function. */
ISEC_MUST_CHECK int isec_vreport_rule(const isec_vreport *r);
/* Canonical bytes of r into out (cap bytes); *len gets the length. ISEC_EINVAL if a field is out
 * of range or genuine disagrees with the rule above; ISEC_EBUFFER if cap is too small. */
int isec_vreport_encode(const isec_vreport *r, char *out, size_t cap, size_t *len);
/* Strict parse: accepts only bytes that isec_vreport_encode would produce (it re-encodes and
 * compares), so one record has one byte form. ISEC_EFORMAT otherwise. */
ISEC_MUST_CHECK int isec_vreport_decode(const uint8_t *buf, size_t len, isec_vreport *r);
/* Round a ratio to millionths the way the service does (half away from zero). */
int32_t isec_vreport_ppm(double x);
/* "0.998512" / "-0.120000" into out (at least 16 bytes). */
void isec_vreport_fmt_ppm(int32_t ppm, char out[16]);

/* Envelope views point into the buffer they were parsed from. */
typedef struct {
    const uint8_t *record;
    size_t record_len;
    int backend;
    const uint8_t *sig; /* soft: DER ECDSA; tpm2: TPMT_SIGNATURE */
    size_t sig_len;
    const uint8_t *quote; /* tpm2 only: TPMS_ATTEST */
    size_t quote_len;
} isec_venvelope;

/* Serialise e into a malloc'd buffer (*out, *len). */
int isec_venvelope_encode(const isec_venvelope *e, uint8_t **out, size_t *len);
/* Parse with the limits above; ISEC_EFORMAT / ISEC_ELIMIT on anything else. */
ISEC_MUST_CHECK int isec_venvelope_decode(const uint8_t *buf, size_t len, isec_venvelope *e);

/* What a TPM quote says, parsed by hand from a marshalled TPMS_ATTEST (TPM 2.0 Part 2 10.12). */
typedef struct {
    uint8_t extra[64];
    size_t extra_len;     /* qualifying data the requester supplied */
    uint32_t pcr_mask;    /* selected PCRs 0..23 of the single SHA-256 bank */
    uint8_t pcr_digest[64];
    size_t pcr_digest_len; /* SHA-256 over the selected PCR values, in order */
} isec_tpm_quote;
/* Parses a TPMS_ATTEST of type TPM_ST_ATTEST_QUOTE with magic TPM_GENERATED_VALUE, exactly one
 * PCR bank (SHA-256) and no trailing bytes. */
ISEC_MUST_CHECK int isec_tpm_quote_parse(const uint8_t *buf, size_t len, isec_tpm_quote *q);

/* The expected value of a PCR that was reset to zero and then extended once with measurement:
 * SHA-256(0^32 || measurement), and the quote's pcrDigest over that single PCR:
 * SHA-256(pcr value). */
int isec_tpm_expected_pcr(const uint8_t measurement[32], uint8_t pcr[32], uint8_t digest[32]);

/* Verify the attestation in e against the trusted public key (ECDSA P-256). For soft: the DER
 * signature over the record. For tpm2: the TPMT_SIGNATURE over the quote, the quote's extraData
 * equals SHA-256(record), the quote selects exactly PCR `pcr` of the SHA-256 bank, and its
 * pcrDigest equals the value expected for the record's measurement. Fills *r from the record.
 * Returns 0 only if all of this holds; ISEC_EAUTH (with detail) otherwise. detail may be NULL. */
ISEC_MUST_CHECK int isec_venvelope_verify(const isec_venvelope *e, EVP_PKEY *trusted, int pcr,
                                          isec_vreport *r, char *detail, size_t detailcap);

/* Lowercase hex of n bytes into out (2n+1 bytes). */
void isec_hex(const uint8_t *in, size_t n, char *out);
/* Exactly 2n lowercase-or-uppercase hex digits into n bytes; 0 or ISEC_EFORMAT. */
int isec_unhex(const char *in, size_t inlen, uint8_t *out, size_t n);

#ifdef __cplusplus
}
#endif
#endif

/* libFuzzer target for the verifier's parsers of hostile bytes: the verify request body
 * (multipart/form-data), the report envelope and record, TPM quotes, the client's HTTP response
 * parser and trust files. The first byte picks the parser; the rest is its input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imgsec/attest.h"
#include "service.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    uint8_t sel = data[0];
    data++, size--;
    switch (sel % 6) {
    case 0: { /* request body with a fixed boundary, and one with a boundary from the input */
        vf_verify_req q;
        char err[256];
        if (vf_verify_req_parse("multipart/form-data; boundary=zz", data, size, &q, err, sizeof err) == 0) {
            if (q.alen > size || q.blen > size) abort();
        }
        vf_part parts[VF_MAX_PARTS];
        size_t n = 0;
        char ct[128], bnd[80];
        size_t cl = size < sizeof ct - 1 ? size : sizeof ct - 1;
        memcpy(ct, data, cl);
        ct[cl] = 0;
        if (vf_mp_boundary(ct, bnd, sizeof bnd) == 0 && vf_mp_parse(data, size, bnd, parts, &n) == 0)
            for (size_t i = 0; i < n; i++)
                if (parts[i].data < data || parts[i].data + parts[i].len > data + size) abort();
        break;
    }
    case 1: { /* envelope, then the record it carries, then the attestation checks */
        isec_venvelope e;
        if (isec_venvelope_decode(data, size, &e) == 0) {
            static EVP_PKEY *k;
            if (!k) k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
            isec_vreport r;
            if (isec_venvelope_verify(&e, k, 23, &r, NULL, 0) == 0) abort(); /* unforgeable */
        }
        break;
    }
    case 2: { /* record: anything that decodes re-encodes to the same bytes */
        isec_vreport r;
        if (isec_vreport_decode(data, size, &r) == 0) {
            char buf[ISEC_VREPORT_MAX_RECORD];
            size_t n = 0;
            if (isec_vreport_encode(&r, buf, sizeof buf, &n) || n != size || memcmp(buf, data, n)) abort();
        }
        break;
    }
    case 3: {
        isec_tpm_quote q;
        if (isec_tpm_quote_parse(data, size, &q) == 0 && (q.extra_len > 64 || q.pcr_digest_len > 64)) abort();
        break;
    }
    case 4: {
        vf_http_resp r = {0};
        if (vf_http_parse_resp(data, size, 4096, &r) == 0 && r.body_len > 4096) abort();
        vf_http_resp_clear(&r);
        break;
    }
    default: {
        vf_trust t;
        if (vf_trust_parse(data, size, &t) == 0) vf_trust_clear(&t);
        break;
    }
    }
    return 0;
}

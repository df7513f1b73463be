/* Backend selection: measure, then open the named attestation backend. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "verifier.h"

int vf_backend_open(vf_backend **out, const char *name, const char *dir, const char *tcti,
                    char *err, size_t errlen)
{
    *out = NULL;
    vf_backend *b = calloc(1, sizeof *b);
    if (!b) return ISEC_ENOMEM;
    int rc, test = 0;
    if (!strcmp(name, "soft"))
        b->id = ISEC_VBACKEND_SOFT, b->name = "soft";
    else if (!strcmp(name, "tpm2"))
        b->id = ISEC_VBACKEND_TPM2, b->name = "tpm2";
    else {
        snprintf(err, errlen, "unknown backend '%s' (soft, tpm2)", name);
        free(b);
        return ISEC_EINVAL;
    }
    rc = vf_measure(b->name, b->measurement, &test, err, errlen);
    if (!rc && test)
        fprintf(stderr, "imgsec verifier: WARNING: %s is set: TEST-ONLY measurement\n",
                VF_TEST_MEASURE_ENV);
    if (!rc)
        rc = b->id == ISEC_VBACKEND_SOFT ? vf_backend_soft_open(b, dir, err, errlen)
                                         : vf_backend_tpm2_open(b, dir, tcti, err, errlen);
    if (rc) {
        vf_backend_free(b);
        return rc;
    }
    *out = b;
    return 0;
}

void vf_backend_free(vf_backend *b)
{
    if (!b) return;
    if (b->free) b->free(b);
    EVP_PKEY_free(b->pub);
    OPENSSL_cleanse(b->seal_key, sizeof b->seal_key);
    free(b);
}

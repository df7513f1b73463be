/* The attested VCS verifier's internals (apps/verifier/): measurement, sealing, attestation
 * backends, sealed secret store, multipart bodies, a small HTTP client. docs/verifier.md. */
#ifndef ISEC_VERIFIER_H
#define ISEC_VERIFIER_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "imgsec/attest.h"
#include "imgsec/error.h"

#define VF_TPM_PCR 23 /* resettable application PCR carrying the measurement (docs/verifier.md) */
#define VF_MAX_FILE (1u << 20) /* key, trust, seal-root and TPM blob files */
#define VF_MAX_SECRET (1u << 20)

/* ---- small file helpers (util.c) ---- */
/* Whole file into a malloc'd buffer, at most max bytes (ISEC_ELIMIT beyond). */
int vf_read_file(const char *path, size_t max, uint8_t **out, size_t *len);
/* Write atomically (temp file beside it, fsync, rename) with the given mode. */
int vf_write_file(const char *path, const void *data, size_t len, int mode);
/* "dir/name" into a malloc'd string. */
char *vf_path(const char *dir, const char *name);
/* mkdir -p with mode 0700 for each level made. */
int vf_mkdir_p(const char *dir);
/* Wipe and free. */
void vf_free_secret(void *p, size_t n);

/* ---- measurement (measure.c) ----
 * measurement = SHA-256("imgsec-verifier-measurement-v1\n" || SHA-256(bytes of /proc/self/exe)
 *                       || "backend=" name "\n" [|| "test-only-extra=" X "\n"])
 * where X is $IMGSEC_VERIFIER_TEST_ONLY_MEASUREMENT_EXTRA if set: it can only move the
 * measurement away from the genuine one (tests of "a different measurement cannot unseal"). */
#define VF_TEST_MEASURE_ENV "IMGSEC_VERIFIER_TEST_ONLY_MEASUREMENT_EXTRA"
int vf_measure(const char *backend, uint8_t out[32], int *test_override, char *err, size_t errlen);

/* ---- sealing (seal.c) ----
 * Sealed blob: "ISVSEAL1" | backend (1) | 0 0 0 | measurement (32) | iv (12) | len (4, BE) |
 * AES-256-GCM ciphertext (len) | tag (16); the GCM AAD is everything before the ciphertext. */
int vf_seal(const uint8_t key[32], int backend, const uint8_t measurement[32], const uint8_t *pt,
            size_t n, uint8_t **out, size_t *outlen);
/* ISEC_EAUTH if the key is wrong (another measurement) or the blob was modified; *pt is
 * malloc'd (wipe it with vf_free_secret). */
ISEC_MUST_CHECK int vf_unseal(const uint8_t key[32], const uint8_t *blob, size_t len, uint8_t **pt,
                              size_t *ptlen);
/* soft sealing key: HKDF-SHA256(ikm = seal-root, salt = measurement, info = label v1). */
int vf_soft_seal_key(const uint8_t root[32], const uint8_t measurement[32], uint8_t key[32]);

/* ---- attestation backends (backend_soft.c, backend_tpm2.c) ---- */
typedef struct vf_backend vf_backend;
struct vf_backend {
    int id; /* enum isec_vbackend */
    const char *name;
    uint8_t measurement[32];
    uint8_t seal_key[32]; /* the key sealed state is encrypted under, held only in memory */
    EVP_PKEY *pub;        /* what clients trust: the service key, or the TPM AK */
    /* Attest record: fills e (sig, and quote for tpm2) with buffers the backend owns until the
     * next call or free. */
    int (*attest)(vf_backend *b, const uint8_t *record, size_t len, isec_venvelope *e);
    void (*free)(vf_backend *b);
    void *impl;
};
/* Opens the backend named name ("soft" | "tpm2") with state in dir; tcti is for tpm2
 * ("swtpm:port=N", "device:/dev/tpmrm0"; NULL = tpm2-tss default). Makes keys on first use. */
int vf_backend_open(vf_backend **out, const char *name, const char *dir, const char *tcti,
                    char *err, size_t errlen);
int vf_backend_soft_open(vf_backend *b, const char *dir, char *err, size_t errlen);
int vf_backend_tpm2_open(vf_backend *b, const char *dir, const char *tcti, char *err, size_t errlen);
void vf_backend_free(vf_backend *b);

/* ---- trust file (trust.c) ----
 *   imgsec-verifier-trust 1
 *   backend: soft|tpm2
 *   measurement: <64 hex>
 *   pcr: 23                          (tpm2 only: the PCR the quote must cover)
 *   -----BEGIN PUBLIC KEY----- ...   (ECDSA P-256: service key or TPM AK)  */
typedef struct {
    int backend;
    uint8_t measurement[32];
    int pcr;
    EVP_PKEY *key;
} vf_trust;
int vf_trust_write(const char *path, const vf_backend *b);
ISEC_MUST_CHECK int vf_trust_parse(const uint8_t *buf, size_t len, vf_trust *t);
void vf_trust_clear(vf_trust *t);

/* ---- multipart bodies (multipart.c), whole buffer, RFC 7578 subset ---- */
#define VF_MAX_PARTS 8
typedef struct {
    char name[32];
    const uint8_t *data;
    size_t len;
} vf_part;
/* Boundary from a Content-Type value ("multipart/form-data; boundary=..."); 0 or ISEC_EFORMAT. */
int vf_mp_boundary(const char *ctype, char *out, size_t cap);
/* Split body into at most VF_MAX_PARTS parts (views into body); names must be unique. */
ISEC_MUST_CHECK int vf_mp_parse(const uint8_t *body, size_t len, const char *boundary,
                                vf_part *parts, size_t *nparts);
/* Build a body from parts with a fresh random boundary; *ctype gets the Content-Type value. */
int vf_mp_build(const vf_part *parts, size_t n, const char *subtype, uint8_t **body, size_t *len,
                char ctype[128]);
const vf_part *vf_mp_find(const vf_part *parts, size_t n, const char *name);

/* ---- HTTP client (httpc.c): one request per connection, Connection: close ---- */
typedef struct {
    int status;
    char ctype[128];
    uint8_t *body;
    size_t body_len;
    char err[256];
} vf_http_resp;
/* url: http://host:port[/prefix] or unix:/path. path is appended ("/v1/verify"). */
int vf_http_post(const char *url, const char *path, const char *ctype, const uint8_t *body,
                 size_t len, size_t max_resp, int timeout_s, vf_http_resp *r);
/* Parse a complete HTTP/1.x response held in buf (status line, headers, body by
 * Content-Length or to the end). Views are copied into r. */
ISEC_MUST_CHECK int vf_http_parse_resp(const uint8_t *buf, size_t len, size_t max_body, vf_http_resp *r);
void vf_http_resp_clear(vf_http_resp *r);

#endif

/* The verifier service's request handlers, independent of the HTTP server (server.c) so tests,
 * the fuzz target and the benchmark can call them directly. Endpoints: docs/verifier.md. */
#ifndef ISEC_VERIFIER_SERVICE_H
#define ISEC_VERIFIER_SERVICE_H

#include "imgsec/vcs.h"
#include "sheetio.h"
#include "verifier.h"

typedef struct {
    uint8_t table_id[16];
    uint8_t key[ISEC_VCS_KEY_LEN];
    isec_vcs_watermark wm;
    uint8_t wm_id[16];
} vf_secret;

typedef struct {
    vf_secret *v;
    size_t n, cap;
    char *dir;
    vf_backend *b;
} vf_store;
/* Loads and unseals every DIR/secrets/<id>.sealed; any that does not unseal fails the open. */
int vf_store_open(vf_store *s, const char *dir, vf_backend *b, char *err, size_t errlen);
const vf_secret *vf_store_find(const vf_store *s, const uint8_t table_id[16]);
/* Seal and keep an isec_vcs_secret_encode() blob; ISEC_EEXIST if its table is already held. */
int vf_store_add(vf_store *s, const uint8_t *bytes, size_t len, const vf_secret **out);
void vf_store_close(vf_store *s);

typedef struct {
    vf_backend *b;
    vf_store store;
    char *dir;
    int32_t threshold_ppm;        /* default 750000 (NC 0.75, the paper's "acceptable") */
    int32_t max_invalid_ppm;      /* largest fraction of invalid blocks (default 50000: 5%) */
    int32_t max_wrong_ppm;        /* largest wrong-block rate (default 20000: 2%) */
    uint64_t max_split_bytes;     /* sheet pixel bytes a split may make (default 256 MiB) */
    isec_sheet_limits lim;        /* for uploaded sheets */
    uint32_t default_wm_dim;      /* random watermark side when a split has none (64) */
} vf_service;

typedef struct {
    int status;       /* HTTP status */
    const char *ctype;
    uint8_t *body;    /* malloc'd */
    size_t len;
} vf_reply;
void vf_reply_clear(vf_reply *r);

/* POST /v1/secrets: body = a vcs-secret file. 201 with the ids, 409 if held, 400 if malformed. */
void vf_handle_import(vf_service *sv, const uint8_t *body, size_t len, vf_reply *r);
/* POST /v1/split: multipart/form-data (image=PNG, optional watermark=PNG, mode, color, halftone,
 * serpentine, gamma, fill). 200 multipart/mixed with parts a and b (TIFF). */
void vf_handle_split(vf_service *sv, const char *ctype, const uint8_t *body, size_t len, vf_reply *r);
/* POST /v1/verify: multipart/form-data (nonce = 64 hex, a = TIFF, b = TIFF). 200 with the
 * attested report envelope (application/vnd.imgsec.vcs-report). */
void vf_handle_verify(vf_service *sv, const char *ctype, const uint8_t *body, size_t len, vf_reply *r);

/* The verify request body, parsed without decoding the TIFFs (views into body). */
typedef struct {
    uint8_t nonce[32];
    const uint8_t *a, *b;
    size_t alen, blen;
} vf_verify_req;
ISEC_MUST_CHECK int vf_verify_req_parse(const char *ctype, const uint8_t *body, size_t len,
                                        vf_verify_req *q, char *err, size_t errlen);

/* The verdict on two shares without attestation (the benchmark's "no attestation" peer):
 * fills r except backend/measurement. */
int vf_verify_shares(vf_service *sv, const isec_vcs_share *a, const isec_vcs_share *b,
                     const uint8_t nonce[32], isec_vreport *r);
/* Record + attestation + envelope for r (*env malloc'd). */
int vf_attest(vf_service *sv, isec_vreport *r, uint8_t **env, size_t *envlen);

#endif

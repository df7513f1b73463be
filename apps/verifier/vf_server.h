/* The verifier's HTTP server (libevent evhttp). */
#ifndef ISEC_VERIFIER_SERVER_H
#define ISEC_VERIFIER_SERVER_H

#include "service.h"

typedef struct {
    const char *listen; /* "ADDR:PORT" or "unix:/path" */
    size_t max_body;    /* bytes; larger requests get 413 */
    int timeout_s;      /* per-connection read/write timeout */
    int ready_fd;       /* -1, or a descriptor to write "ready\n" to once listening */
} vf_server_opts;

/* Serve until SIGTERM/SIGINT (returns 0) or a setup failure (-1, err says why). Needs
 * DIR/verifier.pem to exist (served at GET /v1/trust). */
int vf_server_run(vf_service *sv, const vf_server_opts *o, char *err, size_t errlen);

#endif

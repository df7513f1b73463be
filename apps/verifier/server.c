/* The verifier's HTTP server: libevent evhttp on TCP or a Unix socket, single-threaded (requests
 * are CPU-bound and short; one at a time keeps the sealed state simple). evhttp enforces the body
 * size limit (413 before the body is read) and the read/write timeouts. SIGTERM/SIGINT: stop
 * accepting, finish, exit 0. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "vf_server.h"

struct vf_server {
    struct event_base *base;
    struct evhttp *http;
    struct event *sigterm, *sigint;
    vf_service *sv;
    char *unix_path;
    char *trust_pem;
    size_t trust_len;
};

static void send_reply(struct evhttp_request *req, vf_reply *r)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", r->ctype ? r->ctype : "text/plain");
    evhttp_add_header(h, "Cache-Control", "no-store");
    struct evbuffer *b = evbuffer_new();
    if (b && r->len) evbuffer_add(b, r->body, r->len);
    const char *reason = r->status == 200 ? "OK" : r->status == 201 ? "Created" : r->status == 400 ? "Bad Request"
                       : r->status == 404 ? "Not Found" : r->status == 405 ? "Method Not Allowed"
                       : r->status == 409 ? "Conflict" : r->status == 413 ? "Payload Too Large"
                       : r->status == 415 ? "Unsupported Media Type" : "Internal Server Error";
    evhttp_send_reply(req, r->status, reason, b);
    if (b) evbuffer_free(b);
}

static void text(struct evhttp_request *req, int status, const char *msg)
{
    vf_reply r = {status, "text/plain; charset=utf-8", (uint8_t *)msg, strlen(msg)};
    send_reply(req, &r);
}

static void on_request(struct evhttp_request *req, void *arg)
{
    struct vf_server *s = arg;
    const char *uri = evhttp_request_get_uri(req);
    enum evhttp_cmd_type m = evhttp_request_get_command(req);
    struct evhttp_uri *u = uri ? evhttp_uri_parse(uri) : NULL;
    const char *path = u ? evhttp_uri_get_path(u) : NULL;
    if (!path) {
        text(req, 400, "error: bad request URI\n");
        evhttp_uri_free(u);
        return;
    }
    int get = m == EVHTTP_REQ_GET || m == EVHTTP_REQ_HEAD, post = m == EVHTTP_REQ_POST;
    int known = !strcmp(path, "/v1/health") || !strcmp(path, "/v1/trust") || !strcmp(path, "/v1/secrets") ||
                !strcmp(path, "/v1/split") || !strcmp(path, "/v1/verify");
    int wants_post = known && path[4] != 'h' && path[4] != 't';
    if (known && (wants_post ? !post : !get)) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", wants_post ? "POST" : "GET, HEAD");
        text(req, 405, wants_post ? "error: use POST\n" : "error: use GET\n");
    } else if (!strcmp(path, "/v1/health")) {
        text(req, 200, "ok\n");
    } else if (!strcmp(path, "/v1/trust")) {
        vf_reply r = {200, "application/x-pem-file", (uint8_t *)s->trust_pem, s->trust_len};
        send_reply(req, &r);
    } else if (known) {
        struct evbuffer *in = evhttp_request_get_input_buffer(req);
        size_t len = evbuffer_get_length(in);
        const uint8_t *body = len ? evbuffer_pullup(in, -1) : (const uint8_t *)"";
        const char *ct = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
        vf_reply r = {0};
        if (!body)
            r.status = 500;
        else if (!strcmp(path, "/v1/secrets"))
            vf_handle_import(s->sv, body, len, &r);
        else if (!strcmp(path, "/v1/split"))
            vf_handle_split(s->sv, ct, body, len, &r);
        else
            vf_handle_verify(s->sv, ct, body, len, &r);
        if (!r.body && r.status != 200) {
            text(req, 500, "error: out of memory\n");
        } else
            send_reply(req, &r);
        fprintf(stderr, "imgsec verifier: %s %zu bytes -> %d\n", path, len, r.status);
        vf_reply_clear(&r);
    } else {
        text(req, 404, "error: no such endpoint (POST /v1/secrets, /v1/split, /v1/verify; GET "
                       "/v1/trust, /v1/health)\n");
    }
    evhttp_uri_free(u);
}

static void on_signal(evutil_socket_t sig, short ev, void *arg)
{
    (void)ev;
    struct vf_server *s = arg;
    fprintf(stderr, "imgsec verifier: signal %d, stopping\n", (int)sig);
    event_base_loopexit(s->base, NULL);
}

static int listen_unix(struct vf_server *s, const char *path, char *err, size_t errlen)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sa.sun_path) {
        snprintf(err, errlen, "unix socket path too long");
        return -1;
    }
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    struct stat st;
    /* Replace a stale socket, never another kind of file. */
    if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode)) unlink(path);
    mode_t old = umask(0077); /* only the owner may talk to it; widen with chmod if wanted */
    int ok = fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 && listen(fd, 64) == 0;
    umask(old);
    if (!ok || !evhttp_accept_socket_with_handle(s->http, fd)) {
        snprintf(err, errlen, "%s: cannot listen: %s", path, strerror(errno));
        if (fd >= 0) close(fd);
        return -1;
    }
    s->unix_path = strdup(path);
    return 0;
}

static int listen_tcp(struct vf_server *s, const char *addr, char *err, size_t errlen)
{
    char host[256];
    const char *colon = strrchr(addr, ':');
    if (!colon || (size_t)(colon - addr) >= sizeof host || !colon[1]) {
        snprintf(err, errlen, "--listen: use ADDR:PORT or unix:/PATH");
        return -1;
    }
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = 0;
    char *h = host;
    if (h[0] == '[' && h[strlen(h) - 1] == ']') h[strlen(h) - 1] = 0, h++;
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 0 || port > 65535) {
        snprintf(err, errlen, "--listen: bad port '%s'", colon + 1);
        return -1;
    }
    if (!evhttp_bind_socket_with_handle(s->http, h, (uint16_t)port)) {
        snprintf(err, errlen, "%s: cannot listen: %s", addr, strerror(errno));
        return -1;
    }
    return 0;
}

int vf_server_run(vf_service *sv, const vf_server_opts *o, char *err, size_t errlen)
{
    struct vf_server s = {0};
    s.sv = sv;
    int rc = -1;
    char *tp = vf_path(sv->dir, "verifier.pem");
    if (!tp || vf_read_file(tp, VF_MAX_FILE, (uint8_t **)&s.trust_pem, &s.trust_len)) {
        snprintf(err, errlen, "cannot read the trust file");
        goto out;
    }
    signal(SIGPIPE, SIG_IGN);
    s.base = event_base_new();
    s.http = s.base ? evhttp_new(s.base) : NULL;
    if (!s.http) {
        snprintf(err, errlen, "libevent: cannot start");
        goto out;
    }
    evhttp_set_max_body_size(s.http, (ev_ssize_t)o->max_body);
    evhttp_set_max_headers_size(s.http, 16384);
    evhttp_set_timeout(s.http, o->timeout_s);
    /* Every method reaches on_request, which answers 405 with Allow (evhttp would say 501). */
    evhttp_set_allowed_methods(s.http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                           EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS |
                                           EVHTTP_REQ_PATCH);
    evhttp_set_gencb(s.http, on_request, &s);
    if (!strncmp(o->listen, "unix:", 5) ? listen_unix(&s, o->listen + 5, err, errlen)
                                        : listen_tcp(&s, o->listen, err, errlen))
        goto out;
    s.sigterm = evsignal_new(s.base, SIGTERM, on_signal, &s);
    s.sigint = evsignal_new(s.base, SIGINT, on_signal, &s);
    if (!s.sigterm || !s.sigint || event_add(s.sigterm, NULL) || event_add(s.sigint, NULL)) {
        snprintf(err, errlen, "libevent: cannot watch signals");
        goto out;
    }
    fprintf(stderr, "imgsec verifier: listening on %s, backend %s, state %s, %zu sealed secret(s)\n",
            o->listen, sv->b->name, sv->dir, sv->store.n);
    if (o->ready_fd >= 0) { /* tell a supervisor (or a test) we are serving */
        if (write(o->ready_fd, "ready\n", 6) < 0) { /* nothing to do */
        }
        close(o->ready_fd);
    }
    rc = event_base_dispatch(s.base) < 0 ? -1 : 0;
    if (rc) snprintf(err, errlen, "event loop failed");
out:
    if (s.sigterm) event_free(s.sigterm);
    if (s.sigint) event_free(s.sigint);
    if (s.http) evhttp_free(s.http);
    if (s.base) event_base_free(s.base);
    if (s.unix_path) unlink(s.unix_path);
    free(s.unix_path);
    free(s.trust_pem);
    free(tp);
    return rc;
}

/* One client connection: a forward proxy conversation on libevent bufferevents.
 *
 *   plain HTTP request (absolute URL)  -> relayed to the origin (bodies transformed for targets)
 *   CONNECT to a non-target host       -> blind tunnel, byte for byte
 *   CONNECT to a target host           -> upstream TLS first (verified: system store plus
 *                                         --upstream-ca), then 200, then TLS with the client
 *                                         under a leaf of our CA, then HTTP relay as above;
 *                                         an upstream failure answers every request with 502
 *
 * One request at a time: the request parser pauses at the end of each request and resumes when
 * its response has been relayed, so pipelined requests wait in the client's input buffer, whose
 * size is capped by a read watermark. Backpressure: a side is read only while the other side's
 * output buffer holds less than HIGH bytes; each body passes through px_body, which holds at most
 * ~1.4 MiB (index key prefix plus cipher lag) per body.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <http_parser.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "server.h"

#define HIGH (512u * 1024u)
#define LOW (128u * 1024u)
#define PIECE (64u * 1024u)

enum { C_HTTP, C_CONNECTING, C_TUNNEL, C_CLOSING };

struct conn {
    px_server *s;
    struct conn *next, *prev;
    unsigned long id;
    struct bufferevent *cli, *up;
    int state;
    int tls;            /* client side is intercepted TLS */
    int tunnel_target;  /* CONNECT target is to be intercepted */
    char host[256];     /* origin host of the upstream connection */
    unsigned port;
    int up_tls, up_connected;
    char up_err[256]; /* intercepted upstream failed: every request gets a 502 with this */
    int target;
    /* request side */
    http_parser reqp;
    px_head reqh;
    int req_active, req_done, req_paused, req_chunked, req_skip_body;
    px_body reqb;
    int reqb_on;
    uint64_t req_bytes;
    char method[24];
    char path[128];
    char rhost[256];
    int keepalive;
    /* response side */
    http_parser resp;
    px_head resh;
    int resp_started, resp_head_sent, resp_chunked, resp_eof_body;
    px_body resb;
    int resb_on;
    uint64_t resp_bytes;
    unsigned status;
    struct timeval t0;
    struct event *hdr_timer;
    struct event *close_timer;
    int close_polls, lingering;
    time_t last_io; /* tunnels: last byte either way */
    int fatal; /* set inside parser callbacks: close after the parser returns */
    int local_reply;
};

static http_parser_settings req_settings, resp_settings;

/* ------------------------------------------------------------------ helpers */

static void conn_free(struct conn *c)
{
    px_server *s = c->s;
    if (c->reqb_on) px_body_free(&c->reqb);
    if (c->resb_on) px_body_free(&c->resb);
    if (c->cli) bufferevent_free(c->cli);
    if (c->up) bufferevent_free(c->up);
    if (c->hdr_timer) event_free(c->hdr_timer);
    if (c->close_timer) event_free(c->close_timer);
    px_head_free(&c->reqh);
    px_head_free(&c->resh);
    if (c->prev) c->prev->next = c->next;
    else s->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    free(c);
    px_server_conn_gone(s);
}

static size_t outlen(struct bufferevent *b)
{
    return b ? evbuffer_get_length(bufferevent_get_output(b)) : 0;
}

/* Bytes queued for the client, in the TLS filter and in the socket bufferevent under it. */
static size_t cli_pending(struct conn *c)
{
    if (!c->cli) return 0;
    struct bufferevent *u = bufferevent_get_underlying(c->cli);
    return outlen(c->cli) + (u ? outlen(u) : 0);
}

/* Lingering close (as nginx does): after an error reply the client may still be sending; closing
 * at once would reset the connection and could destroy the reply in flight. So: shut down our
 * side, discard what comes for up to 2 s, then close. */
static void linger_read(struct bufferevent *b, void *arg)
{
    (void)arg;
    struct evbuffer *in = bufferevent_get_input(b);
    evbuffer_drain(in, evbuffer_get_length(in));
}

static void linger_event(struct bufferevent *b, short what, void *arg)
{
    (void)b;
    (void)what;
    conn_free(arg);
}

static void linger_done(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    conn_free(arg);
}

static void finish_close(struct conn *c)
{
    if (c->tls || !c->cli || c->lingering) {
        conn_free(c);
        return;
    }
    evutil_socket_t fd = bufferevent_getfd(c->cli);
    struct event *t = evtimer_new(c->s->base, linger_done, c);
    if (fd < 0 || !t || shutdown(fd, SHUT_WR) != 0) {
        if (t) event_free(t);
        conn_free(c);
        return;
    }
    c->lingering = 1;
    if (c->close_timer) event_free(c->close_timer);
    c->close_timer = t;
    bufferevent_setcb(c->cli, linger_read, NULL, linger_event, c);
    bufferevent_setwatermark(c->cli, EV_READ, 0, 0);
    bufferevent_enable(c->cli, EV_READ);
    struct timeval tv = {2, 0};
    evtimer_add(t, &tv);
}

/* The filter's write callback says nothing about the socket under it: poll until it drained. */
static void close_poll(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct conn *c = arg;
    if (cli_pending(c) == 0 || ++c->close_polls > 500) {
        finish_close(c);
        return;
    }
    struct timeval tv = {0, 20000};
    evtimer_add(c->close_timer, &tv);
}

/* Close once everything queued for the client has gone out. */
static void close_when_flushed(struct conn *c)
{
    c->state = C_CLOSING;
    evtimer_del(c->hdr_timer);
    if (c->up) {
        bufferevent_free(c->up);
        c->up = NULL;
    }
    if (cli_pending(c) == 0) {
        finish_close(c);
        return;
    }
    bufferevent_disable(c->cli, EV_READ);
    bufferevent_setwatermark(c->cli, EV_WRITE, 0, 0);
    if (c->tls && !c->close_timer) {
        c->close_timer = evtimer_new(c->s->base, close_poll, c);
        if (!c->close_timer) {
            conn_free(c);
            return;
        }
        struct timeval tv = {0, 20000};
        evtimer_add(c->close_timer, &tv);
    }
}

static void local_reply(struct conn *c, unsigned status, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void local_reply(struct conn *c, unsigned status, const char *reason, const char *fmt, ...)
{
    char body[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(body, sizeof body - 1, fmt, ap);
    va_end(ap);
    if (n < 0) n = 0;
    if ((size_t)n > sizeof body - 2) n = (int)sizeof body - 2;
    body[n++] = '\n';
    body[n] = 0;
    c->status = status;
    c->local_reply = 1;
    if (c->cli)
        evbuffer_add_printf(bufferevent_get_output(c->cli),
                            "HTTP/1.1 %u %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
                            "Content-Length: %d\r\nConnection: close\r\nX-Imgsec-Proxy: error\r\n"
                            "\r\n%s",
                            status, reason, n, body);
    px_log(c->s, "conn=%lu host=%s method=%s path=%s status=%u error=\"%.*s\"", c->id,
           c->rhost[0] ? c->rhost : c->host, c->method[0] ? c->method : "-",
           c->path[0] ? c->path : "-", status, n - 1, body);
}

static void out_cb(void *arg, const char *p, size_t n)
{
    evbuffer_add(arg, p, n);
}

static void chunk_out(struct evbuffer *o, int chunked, const uint8_t *p, size_t n)
{
    if (!n) return;
    if (chunked) evbuffer_add_printf(o, "%zx\r\n", n);
    evbuffer_add(o, p, n);
    if (chunked) evbuffer_add(o, "\r\n", 2);
}

static void req_emit(void *arg, const uint8_t *p, size_t n)
{
    struct conn *c = arg;
    if (c->up) chunk_out(bufferevent_get_output(c->up), c->req_chunked, p, n);
}

static void resp_emit(void *arg, const uint8_t *p, size_t n)
{
    struct conn *c = arg;
    if (c->cli) chunk_out(bufferevent_get_output(c->cli), c->resp_chunked, p, n);
}

static int ix_get(void *arg, const uint8_t key[PX_DIGEST], uint64_t *len, uint8_t full[PX_DIGEST])
{
    struct conn *c = arg;
    return c->s->ix ? px_index_get(c->s->ix, key, len, full) : 0;
}

static int ix_put(void *arg, const uint8_t key[PX_DIGEST], uint64_t plen, uint64_t tlen,
                  const uint8_t full[PX_DIGEST])
{
    struct conn *c = arg;
    return c->s->ix ? px_index_put(c->s->ix, key, plen, tlen, full, c->rhost) : 0;
}

static void set_timeouts(struct bufferevent *b, unsigned rd, unsigned wr)
{
    struct timeval r = {(time_t)rd, 0}, w = {(time_t)wr, 0};
    bufferevent_set_timeouts(b, rd ? &r : NULL, wr ? &w : NULL);
}

/* ------------------------------------------------------------------ upstream */

static void up_read_cb(struct bufferevent *b, void *arg);
static void up_write_cb(struct bufferevent *b, void *arg);
static void up_event_cb(struct bufferevent *b, short what, void *arg);
static void cli_read_cb(struct bufferevent *b, void *arg);
static void setup_cli(struct conn *c);
static void pump_request(struct conn *c);
static void pump_response(struct conn *c);

static int up_connect(struct conn *c, const char *host, unsigned port, int tls)
{
    px_server *s = c->s;
    const char *chost = host;
    unsigned cport = port;
    px_config_route(&s->cfg, &chost, &cport);
    struct bufferevent *b;
    if (tls) {
        SSL *ssl = SSL_new(s->up_ctx);
        if (!ssl) return -1;
        int is_ip = strchr(host, ':') || strspn(host, "0123456789.") == strlen(host);
        if (!is_ip) SSL_set_tlsext_host_name(ssl, host);
        if (is_ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) != 1
                  : SSL_set1_host(ssl, host) != 1) {
            SSL_free(ssl);
            return -1;
        }
        b = bufferevent_openssl_socket_new(s->base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
                                           BEV_OPT_CLOSE_ON_FREE);
        if (!b) {
            SSL_free(ssl);
            return -1;
        }
        bufferevent_openssl_set_allow_dirty_shutdown(b, 1);
    } else {
        b = bufferevent_socket_new(s->base, -1, BEV_OPT_CLOSE_ON_FREE);
        if (!b) return -1;
    }
    c->up = b;
    c->up_tls = tls;
    c->up_connected = 0;
    snprintf(c->host, sizeof c->host, "%s", host);
    c->port = port;
    bufferevent_setcb(b, up_read_cb, up_write_cb, up_event_cb, c);
    bufferevent_setwatermark(b, EV_READ, 0, HIGH);
    bufferevent_setwatermark(b, EV_WRITE, LOW, 0);
    set_timeouts(b, s->cfg.upstream_timeout_s, s->cfg.upstream_timeout_s);
    bufferevent_enable(b, EV_READ | EV_WRITE);
    if (bufferevent_socket_connect_hostname(b, s->dns, AF_UNSPEC, chost, (int)cport) < 0) {
        c->up = NULL;
        bufferevent_free(b);
        return -1;
    }
    return 0;
}

static void up_error_text(struct conn *c, short what, char *out, size_t cap)
{
    struct bufferevent *b = c->up;
    if (what & BEV_EVENT_TIMEOUT) {
        snprintf(out, cap, "upstream %.100s:%u timed out", c->host, c->port);
        return;
    }
    int dnserr = bufferevent_socket_get_dns_error(b);
    if (dnserr) {
        snprintf(out, cap, "cannot resolve %.100s: %.100s", c->host, evutil_gai_strerror(dnserr));
        return;
    }
    if (c->up_tls) {
        SSL *ssl = bufferevent_openssl_get_ssl(b);
        long vr = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
        if (vr != X509_V_OK) {
            snprintf(out, cap, "upstream certificate of %.100s not trusted: %s", c->host,
                     X509_verify_cert_error_string(vr));
            return;
        }
        unsigned long e = bufferevent_get_openssl_error(b);
        if (e) {
            char buf[200];
            ERR_error_string_n(e, buf, sizeof buf);
            snprintf(out, cap, "TLS with %.100s:%u failed: %.120s", c->host, c->port, buf);
            return;
        }
    }
    int err = EVUTIL_SOCKET_ERROR();
    snprintf(out, cap, "cannot reach %.100s:%u: %.100s", c->host, c->port,
             err ? evutil_socket_error_to_string(err) : "connection closed");
}

/* ------------------------------------------------------------------ TLS interception */

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg)
{
    (void)ssl;
    (void)arg;
    for (unsigned i = 0; i < inlen;) {
        unsigned l = in[i];
        if (i + 1 + l > inlen) break;
        if (l == 8 && !memcmp(in + i + 1, "http/1.1", 8)) {
            *out = in + i + 1;
            *outlen = 8;
            return SSL_TLSEXT_ERR_OK;
        }
        i += 1 + l;
    }
    return SSL_TLSEXT_ERR_NOACK;
}

void px_cli_ctx_setup(SSL_CTX *ctx)
{
    SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
}

static void start_intercept(struct conn *c)
{
    X509 *cert;
    EVP_PKEY *key;
    evbuffer_add_printf(bufferevent_get_output(c->cli), "HTTP/1.1 200 Connection established\r\n\r\n");
    if (px_ca_leaf(c->s->ca, c->host, &cert, &key) < 0) {
        px_log(c->s, "conn=%lu host=%s error=\"cannot mint a certificate\"", c->id, c->host);
        close_when_flushed(c);
        return;
    }
    SSL *ssl = SSL_new(c->s->cli_ctx);
    if (!ssl || SSL_use_certificate(ssl, cert) != 1 || SSL_use_PrivateKey(ssl, key) != 1) {
        SSL_free(ssl);
        close_when_flushed(c);
        return;
    }
    struct bufferevent *tb = bufferevent_openssl_filter_new(
        c->s->base, c->cli, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
    if (!tb) {
        SSL_free(ssl);
        close_when_flushed(c);
        return;
    }
    bufferevent_openssl_set_allow_dirty_shutdown(tb, 1);
    c->cli = tb;
    c->tls = 1;
    c->state = C_HTTP;
    setup_cli(c);
    http_parser_init(&c->reqp, HTTP_REQUEST);
    c->reqp.data = c;
    c->req_active = c->req_done = c->req_paused = 0;
    c->method[0] = 0;
}

/* ------------------------------------------------------------------ tunnel */

static void tunnel_copy(struct conn *c, struct bufferevent *from, struct bufferevent *to)
{
    struct evbuffer *in = bufferevent_get_input(from);
    if (!to) {
        evbuffer_drain(in, evbuffer_get_length(in));
        return;
    }
    if (evbuffer_get_length(in)) c->last_io = time(NULL);
    evbuffer_add_buffer(bufferevent_get_output(to), in);
    if (outlen(to) > HIGH) bufferevent_disable(from, EV_READ);
}

/* ------------------------------------------------------------------ request side */

static const char *const plain_skip[] = {"Proxy-Connection", "Proxy-Authorization", "Keep-Alive",
                                         NULL};
static const char *const range_skip[] = {"Proxy-Connection", "Proxy-Authorization", "Keep-Alive",
                                         "Range", "If-Range", NULL};

static void hdr_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct conn *c = arg;
    local_reply(c, 408, "Request Timeout", "the request head did not arrive within %us",
                c->s->cfg.header_timeout_s);
    close_when_flushed(c);
}

static int on_req_begin(http_parser *p)
{
    struct conn *c = p->data;
    px_head_reset(&c->reqh);
    c->req_active = 1;
    c->req_done = 0;
    c->req_bytes = c->resp_bytes = 0;
    c->status = 0;
    c->method[0] = c->path[0] = 0;
    c->local_reply = 0;
    evutil_gettimeofday(&c->t0, NULL);
    struct timeval tv = {(time_t)c->s->cfg.header_timeout_s, 0};
    evtimer_add(c->hdr_timer, &tv);
    return 0;
}

static int on_req_url(http_parser *p, const char *at, size_t n)
{
    struct conn *c = p->data;
    return px_head_url(&c->reqh, at, n);
}

static int on_req_field(http_parser *p, const char *at, size_t n)
{
    struct conn *c = p->data;
    if (c->req_done) return 0; /* trailers: dropped */
    return px_head_field(&c->reqh, at, n);
}

static int on_req_value(http_parser *p, const char *at, size_t n)
{
    struct conn *c = p->data;
    if (c->req_done) return 0;
    return px_head_value(&c->reqh, at, n);
}

static void copy_path(char *dst, size_t cap, const char *url)
{
    size_t n = strcspn(url, "?#");
    if (n >= cap) n = cap - 1;
    for (size_t i = 0; i < n; i++) dst[i] = (url[i] > ' ' && url[i] < 127) ? url[i] : '_';
    dst[n] = 0;
}

static int on_req_headers(http_parser *p)
{
    struct conn *c = p->data;
    px_server *s = c->s;
    evtimer_del(c->hdr_timer);
    const char *method = http_method_str((enum http_method)p->method);
    snprintf(c->method, sizeof c->method, "%s", method);
    const char *url = c->reqh.url ? c->reqh.url : "";
    c->keepalive = http_should_keep_alive(p);
    if (p->method == HTTP_CONNECT) {
        snprintf(c->path, sizeof c->path, "%.127s", url);
        return 0;
    }
    /* where to: the tunnel's host, or the absolute URL of a plain proxy request */
    char host[256];
    unsigned port;
    const char *path = url;
    if (c->tls) {
        snprintf(host, sizeof host, "%s", c->host);
        port = c->port;
        const char *h = px_head_get(&c->reqh, "Host");
        snprintf(c->rhost, sizeof c->rhost, "%s", h ? h : c->host);
    } else {
        struct http_parser_url u;
        http_parser_url_init(&u);
        if (http_parser_parse_url(url, strlen(url), 0, &u) != 0 || !(u.field_set & (1 << UF_HOST)) ||
            !(u.field_set & (1 << UF_SCHEMA)) ||
            strncasecmp(url + u.field_data[UF_SCHEMA].off, "http", u.field_data[UF_SCHEMA].len) ||
            u.field_data[UF_SCHEMA].len != 4) {
            copy_path(c->path, sizeof c->path, url);
            local_reply(c, 400, "Bad Request",
                        "this is a proxy: send absolute http:// URLs, or CONNECT for https");
            c->fatal = 1;
            return -1;
        }
        size_t hl = u.field_data[UF_HOST].len;
        if (hl >= sizeof host) hl = sizeof host - 1;
        for (size_t i = 0; i < hl; i++) host[i] = url[u.field_data[UF_HOST].off + i];
        host[hl] = 0;
        for (char *q = host; *q; q++)
            if (*q >= 'A' && *q <= 'Z') *q = (char)(*q + 32);
        port = (u.field_set & (1 << UF_PORT)) ? u.port : 80;
        path = (u.field_set & (1 << UF_PATH)) ? url + u.field_data[UF_PATH].off : "/";
        snprintf(c->rhost, sizeof c->rhost, "%s", host);
    }
    copy_path(c->path, sizeof c->path, path);
    if (c->up_err[0]) {
        local_reply(c, 502, "Bad Gateway", "imgsec proxy: %s", c->up_err);
        c->fatal = 1;
        return -1;
    }
    c->target = px_config_is_target(&s->cfg, host);
    if (c->up && (!c->tls && (strcmp(c->host, host) != 0 || c->port != port))) {
        bufferevent_free(c->up);
        c->up = NULL;
    }
    if (!c->up && up_connect(c, host, port, c->tls) < 0) {
        local_reply(c, 502, "Bad Gateway", "imgsec proxy: cannot connect to %s:%u", host, port);
        c->fatal = 1;
        return -1;
    }
    int range_strip = c->target && p->method == HTTP_GET;
    const char *const *skip = c->tls ? (range_strip ? range_skip + 3 : NULL)
                                     : (range_strip ? range_skip : plain_skip);
    struct evbuffer *o = bufferevent_get_output(c->up);
    px_head_write_request(&c->reqh, method, path, p->http_major, p->http_minor, skip, out_cb, o);
    c->req_chunked = (p->flags & F_CHUNKED) != 0;
    /* the response parser starts afresh for each request */
    http_parser_init(&c->resp, HTTP_RESPONSE);
    c->resp.data = c;
    c->resp_started = c->resp_head_sent = 0;
    if (c->target && (c->req_chunked || (p->content_length > 0 && p->content_length != ULLONG_MAX))) {
        const char *cl = px_head_get(&c->reqh, "Content-Length");
        px_body_cfg bc = {
            .dir = PX_DIR_REQUEST,
            .key = s->key,
            .ix = {ix_get, ix_put, c},
            .emit = req_emit,
            .emit_arg = c,
            .content_type = px_head_get(&c->reqh, "Content-Type"),
            .content_length = cl ? (int64_t)p->content_length : -1,
            .refuse = s->cfg.refuse_unencryptable,
        };
        px_body_init(&c->reqb, &bc);
        c->reqb_on = 1;
    }
    if (p->upgrade) return 1; /* Upgrade (e.g. WebSocket): the rest is a tunnel */
    return 0;
}

static int on_req_body(http_parser *p, const char *at, size_t n)
{
    struct conn *c = p->data;
    c->req_bytes += n;
    if (c->reqb_on) {
        if (px_body_push(&c->reqb, (const uint8_t *)at, n) < 0) {
            px_log(c->s, "conn=%lu host=%s method=%s path=%s error=\"upload aborted: %s\"", c->id,
                   c->rhost, c->method, c->path, c->reqb.detail);
            c->fatal = 1;
            return -1;
        }
    } else {
        req_emit(c, (const uint8_t *)at, n);
    }
    return 0;
}

static int on_req_complete(http_parser *p)
{
    struct conn *c = p->data;
    if (p->method == HTTP_CONNECT || p->upgrade) return 0;
    if (c->reqb_on && px_body_end(&c->reqb) < 0) {
        px_log(c->s, "conn=%lu host=%s method=%s path=%s error=\"upload aborted: %s\"", c->id,
               c->rhost, c->method, c->path, c->reqb.detail);
        c->fatal = 1;
        return -1;
    }
    if (c->req_chunked && c->up) evbuffer_add(bufferevent_get_output(c->up), "0\r\n\r\n", 5);
    c->req_done = 1;
    http_parser_pause(p, 1);
    return 0;
}

/* ------------------------------------------------------------------ response side */

static int on_resp_begin(http_parser *p)
{
    struct conn *c = p->data;
    px_head_reset(&c->resh);
    c->resp_started = 1;
    c->resp_head_sent = 0;
    return 0;
}

static int on_resp_status(http_parser *p, const char *at, size_t n)
{
    struct conn *c = p->data;
    return px_head_reason(&c->resh, at, n);
}

static int on_resp_field(http_parser *p, const char *at, size_t n)
{
    struct conn *c = p->data;
    if (c->resp_head_sent) return 0;
    return px_head_field(&c->resh, at, n);
}

static int on_resp_value(http_parser *p, const char *at, size_t n)
{
    struct conn *c = p->data;
    if (c->resp_head_sent) return 0;
    return px_head_value(&c->resh, at, n);
}

static int on_resp_headers(http_parser *p)
{
    struct conn *c = p->data;
    c->status = p->status_code;
    c->resp_chunked = (p->flags & F_CHUNKED) != 0;
    struct evbuffer *o = bufferevent_get_output(c->cli);
    px_head_write_response(&c->resh, p->status_code, p->http_major, p->http_minor, NULL, out_cb, o);
    c->resp_head_sent = 1;
    if (p->status_code / 100 == 1) return 0;
    const char *cl = px_head_get(&c->resh, "Content-Length");
    c->resp_eof_body = !c->resp_chunked && !cl && p->status_code != 204 && p->status_code != 304 &&
                       c->reqp.method != HTTP_HEAD;
    if (c->reqp.method == HTTP_HEAD) return 1;
    if (c->target && c->reqp.method == HTTP_GET && p->status_code == 200) {
        px_body_cfg bc = {
            .dir = PX_DIR_RESPONSE,
            .key = c->s->key,
            .ix = {ix_get, NULL, c},
            .emit = resp_emit,
            .emit_arg = c,
            .content_type = NULL, /* a response is one image or nothing of ours */
            .content_length = cl ? (int64_t)p->content_length : -1,
        };
        px_body_init(&c->resb, &bc);
        c->resb_on = 1;
    }
    return 0;
}

static int on_resp_body(http_parser *p, const char *at, size_t n)
{
    struct conn *c = p->data;
    c->resp_bytes += n;
    if (c->resb_on) {
        if (px_body_push(&c->resb, (const uint8_t *)at, n) < 0) {
            c->fatal = 1;
            return -1;
        }
    } else {
        resp_emit(c, (const uint8_t *)at, n);
    }
    return 0;
}

static void log_exchange(struct conn *c)
{
    struct timeval now;
    evutil_gettimeofday(&now, NULL);
    long ms = (long)(now.tv_sec - c->t0.tv_sec) * 1000 + (long)(now.tv_usec - c->t0.tv_usec) / 1000;
    unsigned enc = c->reqb_on ? c->reqb.crypted : 0, dec = c->resb_on ? c->resb.crypted : 0;
    char note[256] = "";
    if (c->reqb_on && c->reqb.refused)
        snprintf(note, sizeof note, " warning=\"JPEG sent as it was: %s\"", c->reqb.detail);
    if (c->resb_on && c->resb.mismatched)
        snprintf(note, sizeof note, " warning=\"%s\"", c->resb.detail);
    px_log(c->s,
           "conn=%lu host=%s method=%s path=%s status=%u up_bytes=%llu down_bytes=%llu "
           "jpeg_enc=%u jpeg_dec=%u ms=%ld%s%s",
           c->id, c->rhost, c->method, c->path, c->status, (unsigned long long)c->req_bytes,
           (unsigned long long)c->resp_bytes, enc, dec, ms, c->target ? " target=1" : "", note);
}

static int on_resp_complete(http_parser *p)
{
    struct conn *c = p->data;
    if (p->status_code / 100 == 1) {
        return 0; /* interim (100 Continue): the final response follows; 101: a tunnel */
    }
    if (c->resb_on && px_body_end(&c->resb) < 0) {
        c->fatal = 1;
        return -1;
    }
    if (c->resp_chunked) evbuffer_add(bufferevent_get_output(c->cli), "0\r\n\r\n", 5);
    log_exchange(c);
    if (!http_should_keep_alive(p) || c->resp_eof_body) c->keepalive = 0;
    if (!http_should_keep_alive(p) && c->up) {
        bufferevent_free(c->up);
        c->up = NULL;
    }
    c->resp_started = 0;
    if (c->reqb_on) px_body_free(&c->reqb);
    if (c->resb_on) px_body_free(&c->resb);
    c->reqb_on = c->resb_on = 0;
    c->req_active = 0;
    http_parser_pause(p, 1);
    return 0;
}

/* ------------------------------------------------------------------ pumps */

/* After one exchange: next request, or close. */
static void exchange_done(struct conn *c)
{
    if (!c->keepalive || !c->req_done || c->s->draining) {
        close_when_flushed(c);
        return;
    }
    c->req_done = 0;
    c->req_paused = 0;
    http_parser_pause(&c->reqp, 0);
    bufferevent_enable(c->cli, EV_READ);
    pump_request(c);
}

static void upstream_failed(struct conn *c, const char *why)
{
    if (c->req_active && !c->resp_head_sent) {
        local_reply(c, 502, "Bad Gateway", "imgsec proxy: %s", why);
    } else if (c->req_active) {
        px_log(c->s, "conn=%lu host=%s method=%s path=%s error=\"%s (response cut short)\"",
               c->id, c->rhost, c->method, c->path, why);
    }
    close_when_flushed(c);
}

static void pump_response(struct conn *c)
{
    if (!c->up || c->state != C_HTTP) return;
    struct evbuffer *in = bufferevent_get_input(c->up);
    while (evbuffer_get_length(in)) {
        if (!c->req_active) {
            /* bytes from upstream with no request outstanding: nothing to relay them to */
            evbuffer_drain(in, evbuffer_get_length(in));
            bufferevent_free(c->up);
            c->up = NULL;
            return;
        }
        if (outlen(c->cli) > HIGH) {
            bufferevent_disable(c->up, EV_READ);
            return;
        }
        struct evbuffer_iovec v;
        if (evbuffer_peek(in, -1, NULL, &v, 1) < 1) break;
        size_t n = v.iov_len < PIECE ? v.iov_len : PIECE;
        size_t used = http_parser_execute(&c->resp, &resp_settings, v.iov_base, n);
        evbuffer_drain(in, used);
        enum http_errno e = HTTP_PARSER_ERRNO(&c->resp);
        if (c->fatal) {
            upstream_failed(c, "the upstream response could not be relayed");
            return;
        }
        if (e == HPE_PAUSED) {
            http_parser_pause(&c->resp, 0);
            exchange_done(c);
            return;
        }
        if (e != HPE_OK) {
            char why[160];
            snprintf(why, sizeof why, "malformed response from upstream: %s", http_errno_description(e));
            upstream_failed(c, why);
            return;
        }
        if (c->status == 101) {
            c->state = C_TUNNEL;
            tunnel_copy(c, c->up, c->cli);
            tunnel_copy(c, c->cli, c->up);
            return;
        }
    }
}

static void pump_request(struct conn *c)
{
    struct evbuffer *in = bufferevent_get_input(c->cli);
    while (c->state == C_HTTP && !c->req_paused && evbuffer_get_length(in)) {
        if (c->up && outlen(c->up) > HIGH) {
            bufferevent_disable(c->cli, EV_READ);
            return;
        }
        struct evbuffer_iovec v;
        if (evbuffer_peek(in, -1, NULL, &v, 1) < 1) break;
        size_t n = v.iov_len < PIECE ? v.iov_len : PIECE;
        size_t used = http_parser_execute(&c->reqp, &req_settings, v.iov_base, n);
        evbuffer_drain(in, used);
        enum http_errno e = HTTP_PARSER_ERRNO(&c->reqp);
        if (c->state != C_HTTP) return; /* a timer or callback closed it */
        if (c->fatal) {
            close_when_flushed(c);
            return;
        }
        if (e == HPE_PAUSED) {
            c->req_paused = 1;
            break;
        }
        if (e != HPE_OK) {
            if (c->reqh.overflow)
                local_reply(c, 431, "Request Header Fields Too Large",
                            "request head over %zu bytes or %d header lines",
                            c->s->cfg.max_header_bytes, PX_MAX_HEADERS);
            else if (!c->req_active || !c->req_bytes)
                local_reply(c, 400, "Bad Request", "malformed request: %s",
                            http_errno_description(e));
            close_when_flushed(c);
            return;
        }
        if (c->reqp.upgrade) {
            if (c->reqp.method != HTTP_CONNECT) { /* Upgrade: head went up, now a tunnel */
                c->state = C_TUNNEL;
                tunnel_copy(c, c->cli, c->up);
                return;
            }
            if (c->tls) {
                local_reply(c, 400, "Bad Request", "CONNECT inside an intercepted tunnel");
                close_when_flushed(c);
                return;
            }
            char host[256];
            unsigned port;
            const char *url = c->reqh.url ? c->reqh.url : "";
            if (px_split_hostport(url, strlen(url), host, sizeof host, &port, 443) < 0) {
                local_reply(c, 400, "Bad Request", "CONNECT needs host:port");
                close_when_flushed(c);
                return;
            }
            snprintf(c->rhost, sizeof c->rhost, "%s", host);
            c->tunnel_target = px_config_is_target(&c->s->cfg, host);
            c->state = C_CONNECTING;
            bufferevent_disable(c->cli, EV_READ);
            if (up_connect(c, host, port, c->tunnel_target) < 0) {
                c->state = C_HTTP;
                local_reply(c, 502, "Bad Gateway", "imgsec proxy: cannot connect to %s:%u", host, port);
                close_when_flushed(c);
            }
            return;
        }
    }
    if (c->state == C_HTTP && c->req_paused && c->up) pump_response(c);
}

/* ------------------------------------------------------------------ libevent callbacks */

static void cli_read_cb(struct bufferevent *b, void *arg)
{
    struct conn *c = arg;
    if (c->state == C_TUNNEL) {
        tunnel_copy(c, b, c->up);
        return;
    }
    if (c->state == C_HTTP) pump_request(c);
}

static void cli_write_cb(struct bufferevent *b, void *arg)
{
    struct conn *c = arg;
    (void)b;
    if (c->state == C_CLOSING) {
        if (cli_pending(c) == 0) finish_close(c);
        return;
    }
    if (outlen(c->cli) <= LOW && c->up) {
        bufferevent_enable(c->up, EV_READ);
        if (c->state == C_TUNNEL) tunnel_copy(c, c->up, c->cli);
        else if (c->state == C_HTTP) pump_response(c);
    }
}

static void cli_event_cb(struct bufferevent *b, short what, void *arg)
{
    struct conn *c = arg;
    if (getenv("IMGSEC_PROXY_DEBUG")) {
        unsigned long e = c->tls ? bufferevent_get_openssl_error(b) : 0;
        px_log(c->s, "debug conn=%lu client event 0x%x state %d ssl %s errno %d", c->id, what,
               c->state, e ? ERR_error_string(e, NULL) : "-", EVUTIL_SOCKET_ERROR());
    }
    if (what & BEV_EVENT_CONNECTED) return; /* TLS handshake with the client done */
    if (what & BEV_EVENT_TIMEOUT) {
        if (c->state == C_HTTP && c->req_done) { /* waiting for upstream, not for the client */
            bufferevent_enable(c->cli, EV_READ);
            return;
        }
        if (c->state == C_TUNNEL && time(NULL) - c->last_io < (time_t)c->s->cfg.client_timeout_s) {
            bufferevent_enable(c->cli, EV_READ | EV_WRITE); /* busy the other way */
            return;
        }
        if (c->state == C_HTTP && c->req_active && !c->req_done)
            local_reply(c, 408, "Request Timeout", "the client stopped sending");
        close_when_flushed(c);
        return;
    }
    if (c->state == C_TUNNEL && (what & BEV_EVENT_EOF) && c->up && outlen(c->up)) {
        /* flush what the client sent to upstream, then close */
        bufferevent_free(c->cli);
        c->cli = NULL;
        c->state = C_CLOSING;
        bufferevent_setwatermark(c->up, EV_WRITE, 0, 0);
        return;
    }
    if (c->state == C_HTTP && c->req_active && !c->req_done)
        px_log(c->s, "conn=%lu host=%s method=%s path=%s error=\"client went away mid-request\"",
               c->id, c->rhost, c->method, c->path);
    else if (c->tls && (what & BEV_EVENT_ERROR) && !c->method[0])
        px_log(c->s, "conn=%lu host=%s error=\"TLS with the client failed (is the imgsec CA "
               "installed on the device?)\"", c->id, c->host);
    conn_free(c);
}

static void up_read_cb(struct bufferevent *b, void *arg)
{
    struct conn *c = arg;
    if (c->state == C_TUNNEL) {
        tunnel_copy(c, b, c->cli);
        return;
    }
    if (c->state == C_HTTP) pump_response(c);
}

static void up_write_cb(struct bufferevent *b, void *arg)
{
    struct conn *c = arg;
    (void)b;
    if (c->state == C_CLOSING && !c->cli) {
        if (outlen(c->up) == 0) conn_free(c);
        return;
    }
    if (outlen(c->up) <= LOW && c->cli) {
        bufferevent_enable(c->cli, EV_READ);
        if (c->state == C_TUNNEL) tunnel_copy(c, c->cli, c->up);
        else if (c->state == C_HTTP) pump_request(c);
    }
}

static void up_event_cb(struct bufferevent *b, short what, void *arg)
{
    struct conn *c = arg;
    (void)b;
    if (what & BEV_EVENT_CONNECTED) {
        c->up_connected = 1;
        if (c->state == C_CONNECTING) {
            if (c->tunnel_target) {
                start_intercept(c);
            } else {
                evbuffer_add_printf(bufferevent_get_output(c->cli),
                                    "HTTP/1.1 200 Connection established\r\n\r\n");
                px_log(c->s, "conn=%lu tunnel=%s:%u", c->id, c->host, c->port);
                c->state = C_TUNNEL;
                bufferevent_enable(c->cli, EV_READ);
                tunnel_copy(c, c->cli, c->up);
            }
        }
        return;
    }
    char why[256];
    if (c->state == C_CONNECTING) {
        up_error_text(c, what, why, sizeof why);
        bufferevent_free(c->up);
        c->up = NULL;
        if (c->tunnel_target) {
            /* tell the client over TLS, where it can read it: every request gets a 502 */
            snprintf(c->up_err, sizeof c->up_err, "%s", why);
            px_log(c->s, "conn=%lu host=%s error=\"%s\"", c->id, c->host, why);
            start_intercept(c);
        } else {
            c->state = C_HTTP;
            local_reply(c, 502, "Bad Gateway", "imgsec proxy: %s", why);
            close_when_flushed(c);
        }
        return;
    }
    if (c->state == C_TUNNEL) {
        if ((what & BEV_EVENT_TIMEOUT) &&
            time(NULL) - c->last_io < (time_t)c->s->cfg.upstream_timeout_s) {
            bufferevent_enable(c->up, EV_READ | EV_WRITE); /* busy the other way */
            return;
        }
        if (c->cli && outlen(c->cli) && !(what & BEV_EVENT_TIMEOUT)) {
            bufferevent_free(c->up);
            c->up = NULL;
            c->state = C_CLOSING;
            bufferevent_setwatermark(c->cli, EV_WRITE, 0, 0);
            bufferevent_disable(c->cli, EV_READ);
            return;
        }
        conn_free(c);
        return;
    }
    if (c->state != C_HTTP) {
        conn_free(c);
        return;
    }
    if ((what & BEV_EVENT_TIMEOUT) && c->req_active && !c->req_done) {
        bufferevent_enable(c->up, EV_READ | EV_WRITE); /* the client is still sending */
        return;
    }
    if ((what & BEV_EVENT_EOF) && c->resp_started && c->resp_eof_body) {
        http_parser_execute(&c->resp, &resp_settings, NULL, 0); /* body ends at EOF */
        bufferevent_free(c->up);
        c->up = NULL;
        if (HTTP_PARSER_ERRNO(&c->resp) == HPE_PAUSED) {
            exchange_done(c);
            return;
        }
        close_when_flushed(c);
        return;
    }
    if (!c->req_active) { /* idle upstream closed: a new one is made for the next request */
        bufferevent_free(c->up);
        c->up = NULL;
        return;
    }
    up_error_text(c, what, why, sizeof why);
    if (what & BEV_EVENT_TIMEOUT) {
        if (!c->resp_head_sent) local_reply(c, 504, "Gateway Timeout", "imgsec proxy: %s", why);
        close_when_flushed(c);
        return;
    }
    upstream_failed(c, why);
}

/* ------------------------------------------------------------------ accept */

static void setup_cli(struct conn *c)
{
    bufferevent_setcb(c->cli, cli_read_cb, cli_write_cb, cli_event_cb, c);
    bufferevent_setwatermark(c->cli, EV_READ, 0, HIGH);
    bufferevent_setwatermark(c->cli, EV_WRITE, LOW, 0);
    set_timeouts(c->cli, c->s->cfg.client_timeout_s, c->s->cfg.client_timeout_s);
    bufferevent_enable(c->cli, EV_READ | EV_WRITE);
}

void px_conn_accept(px_server *s, evutil_socket_t fd, const struct sockaddr *sa, int salen)
{
    (void)sa;
    (void)salen;
    struct conn *c = calloc(1, sizeof *c);
    if (c) c->cli = bufferevent_socket_new(s->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (c) c->hdr_timer = evtimer_new(s->base, hdr_timeout, c);
    if (!c || !c->cli || !c->hdr_timer) {
        if (c && c->cli) bufferevent_free(c->cli);
        else evutil_closesocket(fd);
        if (c && c->hdr_timer) event_free(c->hdr_timer);
        free(c);
        return;
    }
    if (!req_settings.on_url) {
        req_settings.on_message_begin = on_req_begin;
        req_settings.on_url = on_req_url;
        req_settings.on_header_field = on_req_field;
        req_settings.on_header_value = on_req_value;
        req_settings.on_headers_complete = on_req_headers;
        req_settings.on_body = on_req_body;
        req_settings.on_message_complete = on_req_complete;
        resp_settings.on_message_begin = on_resp_begin;
        resp_settings.on_status = on_resp_status;
        resp_settings.on_header_field = on_resp_field;
        resp_settings.on_header_value = on_resp_value;
        resp_settings.on_headers_complete = on_resp_headers;
        resp_settings.on_body = on_resp_body;
        resp_settings.on_message_complete = on_resp_complete;
    }
    c->s = s;
    c->id = ++s->next_id;
    c->state = C_HTTP;
    px_head_init(&c->reqh, s->cfg.max_header_bytes);
    px_head_init(&c->resh, s->cfg.max_header_bytes);
    http_parser_init(&c->reqp, HTTP_REQUEST);
    c->reqp.data = c;
    c->next = s->conns;
    if (s->conns) s->conns->prev = c;
    s->conns = c;
    s->nconns++;
    setup_cli(c);
    struct timeval tv = {(time_t)s->cfg.header_timeout_s, 0};
    evtimer_add(c->hdr_timer, &tv);
}

void px_conn_drain_idle(px_server *s)
{
    struct conn *c = s->conns;
    while (c) {
        struct conn *n = c->next;
        if (c->state == C_HTTP && !c->req_active) close_when_flushed(c);
        c = n;
    }
}

void px_conn_close_all(px_server *s)
{
    while (s->conns) conn_free(s->conns);
}

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
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <http_parser.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "conn.h"

/* reads and writes on sockets (pull_sock, tune) */
#define IO_SLICE (256u * 1024u)
/* space reserved in an input buffer per pull_tls() round: several records */
#define PULL_SPACE (64u * 1024u - 256u)

static http_parser_settings req_settings, resp_settings;
static void log_exchange(struct conn *c);
static void under_out_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg);

/* ------------------------------------------------------------------ helpers */

/* Frees the upstream connection, and its address lookup if that is still under way (its
 * callback then comes with EVUTIL_EAI_CANCEL and touches nothing). */
static void up_free(struct conn *c)
{
    if (c->up_dns) {
        struct evdns_getaddrinfo_request *r = c->up_dns;
        c->up_dns = NULL;
        evdns_getaddrinfo_cancel(r);
    }
    if (c->up_dns_ev) event_del(c->up_dns_ev);
    if (c->up) bufferevent_free(c->up);
    c->up = NULL;
}

/* Frees the upstream connection where the proxy itself ends it (not where the connection
 * failed: those are freed as they are). A TLS one with nothing left to send first says
 * close_notify: OpenSSL marks the session of a TLS connection freed without it as not
 * resumable, and upsess.c keeps it for the next connection to the same name. */
static void up_close(struct conn *c)
{
    if (!c->up) return;
    if (c->up_tls && c->up_connected && !evbuffer_get_length(bufferevent_get_output(c->up))) {
        SSL *ssl = bufferevent_openssl_get_ssl(c->up);
        if (ssl && SSL_is_init_finished(ssl) && SSL_shutdown(ssl) < 0) ERR_clear_error();
    }
    up_free(c);
    c->up_eof = 0;
}

static void conn_free(struct conn *c)
{
    px_server *s = c->s;
    px_conn_rs_release(c);
    if (c->replay) evbuffer_free(c->replay);
    px_head_free(&c->reqt);
    px_head_free(&c->rest);
    if (c->reqb_on) px_body_free(&c->reqb);
    if (c->resb_on) px_body_free(&c->resb);
    if (c->cipher_ev) event_free(c->cipher_ev); /* after the bodies: their threads are joined */
    if (c->cli && c->tls) {
        struct bufferevent *u = bufferevent_get_underlying(c->cli);
        if (u) evbuffer_remove_cb(bufferevent_get_output(u), under_out_cb, c);
    }
    if (c->linger_ev) event_free(c->linger_ev); /* (before the socket it reads is closed) */
    if (c->cli) bufferevent_free(c->cli);
    up_close(c);
    if (c->up_dns_ev) event_free(c->up_dns_ev);
    if (c->resume_ev) event_free(c->resume_ev);
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

static void pump_response(struct conn *c);
static void pump_request(struct conn *c);
static void up_ended(struct conn *c, short what);
static void close_when_flushed(struct conn *c);
static void upstream_failed(struct conn *c, const char *why);
static void tunnel_copy(struct conn *c, struct bufferevent *from, struct bufferevent *to);

/* An upload the proxy stops before the server has all of it (a JPEG the cipher refused under
 * on-unencryptable refuse, the index not written, a resumable session broken): logged; the
 * upstream is dropped unfinished (close_when_flushed, which the caller runs), so the server never
 * gets a whole body; and the client, if nothing of the server's answer has reached it, is told
 * why: 422 for a refusal by a setting (refusal: PX_REFUSED_*; sending it again cannot help),
 * else 503 (it may). */
static void upload_aborted(struct conn *c, const char *why, int refusal)
{
    px_log(c->s, "conn=%lu host=%s method=%s path=%s error=\"upload aborted: %s\"", c->id,
           c->rhost, c->method, c->path, why);
    if (c->resp_started || c->resp_head_sent || c->local_reply) return;
    up_free(c); /* (nothing of it may follow the answer) */
    if (refusal)
        px_conn_reply(c, 422, "Unprocessable Content",
                      "imgsec proxy: upload stopped, nothing stored: %s (%s refuse)", why,
                      refusal == PX_REFUSED_OTHER ? "on-other-media" : "on-unencryptable");
    else
        px_conn_reply_x(c, 503, "Service Unavailable", "Retry-After: 10\r\n",
                        "imgsec proxy: upload stopped, nothing stored: %s", why);
}

/* ---- a JPEG stream's cipher thread (jstream.c) */

/* From the cipher thread: a piece is done. */
static void cipher_notify(void *arg)
{
    struct conn *c = arg;
    event_active(c->cipher_ev, EV_READ, 1);
}

/* On the loop: take back what the cipher threads gave, and read again a side that waited. */
static void cipher_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct conn *c = arg;
    if (c->reqb_on && px_body_poll(&c->reqb) < 0) {
        upload_aborted(c, c->reqb.detail, c->reqb.refusal);
        close_when_flushed(c);
        return;
    }
    if (c->resb_on && px_body_poll(&c->resb) < 0) {
        upstream_failed(c, "the upstream response could not be relayed");
        return;
    }
    if (c->cipher_wait_req && !(c->reqb_on && px_body_backlog(&c->reqb) >= PX_JSTREAM_BACKLOG_HIGH)) {
        c->cipher_wait_req = 0;
        if (c->cli) bufferevent_enable(c->cli, EV_READ);
        pump_request(c);
        return;
    }
    if (c->cipher_wait_resp && !(c->resb_on && px_body_backlog(&c->resb) >= PX_JSTREAM_BACKLOG_HIGH)) {
        c->cipher_wait_resp = 0;
        if (c->up) bufferevent_enable(c->up, EV_READ);
        pump_response(c);
    }
}

/* Whether a body may get a cipher thread; makes the event it wakes the loop with. */
static int cipher_async(struct conn *c)
{
    if (c->s->cfg.cipher_thread_off) return 0;
    if (!c->cipher_ev) c->cipher_ev = event_new(c->s->base, -1, 0, cipher_cb, c);
    return c->cipher_ev != NULL;
}

/* TLS straight on a socket reads ahead (px_tls_ctx_tune): one read() takes up to PX_TLS_READ_BUF
 * bytes, many records, where OpenSSL without read-ahead makes two read() calls per 16 KiB record
 * (header, then body). libevent 2.1's TLS bufferevent takes at most two records per wake-up and
 * then asks SSL_pending(), which counts only the rest of the current record, not the records
 * OpenSSL has buffered: those would wait until the socket is readable again, which it may never
 * be (the stall that kept read-ahead off before). So before every look at such a side's input,
 * the buffered records are taken here (SSL_has_pending), up to the read watermark HIGH. An end
 * or error met here is handed to libevent's event callback, deferred (as libevent would report
 * it); wanting to read or write more is left to libevent, which goes on when the socket is ready. */
static void pull_tls(struct bufferevent *b);

/* Plain sockets: libevent 2.1 reads at most 4 KiB per wake-up (EVBUFFER_MAX_READ), whatever
 * bufferevent_set_max_single_read says, which made a blind tunnel cost the proxy as much CPU per
 * MB as interception (one epoll round and read() per 4 KiB). What the socket holds beyond that
 * is read here, up to IO_SLICE at a time and the read watermark HIGH in all. An end or an error
 * is left for libevent's next read to find (the socket stays readable for it). */
static void pull_sock(struct bufferevent *b)
{
    evutil_socket_t fd = bufferevent_getfd(b);
    struct evbuffer *in = bufferevent_get_input(b);
    size_t len = evbuffer_get_length(in);
    if (fd < 0 || len >= HIGH) return;
    size_t want = HIGH - len < IO_SLICE ? HIGH - len : IO_SLICE;
    struct evbuffer_iovec v[2];
    /* a socket bufferevent keeps the end of its input frozen but while it reads itself */
    evbuffer_unfreeze(in, 0);
    int nv = evbuffer_reserve_space(in, (ev_ssize_t)want, v, 2);
    ssize_t r = -1;
    if (nv >= 1) {
        struct iovec io[2];
        for (int i = 0; i < nv; i++) {
            io[i].iov_base = v[i].iov_base;
            io[i].iov_len = v[i].iov_len;
        }
        r = readv(fd, io, nv);
    }
    if (r > 0) {
        size_t left = (size_t)r;
        int used = 0;
        for (int i = 0; i < nv && left; i++, used++) {
            if (v[i].iov_len > left) v[i].iov_len = left;
            left -= v[i].iov_len;
        }
        evbuffer_commit_space(in, v, used);
    }
    evbuffer_freeze(in, 0);
}

/* Before a look at a side's input: what its socket or its TLS has beyond what libevent took. */
static void pull(struct conn *c, struct bufferevent *b)
{
    if (!b || bufferevent_get_underlying(b) || !(bufferevent_get_enabled(b) & EV_READ)) return;
    if (b == c->up && !c->up_connected) return;
    if (bufferevent_openssl_get_ssl(b)) pull_tls(b);
    else pull_sock(b);
}

static void pull_tls(struct bufferevent *b)
{
    SSL *ssl = bufferevent_openssl_get_ssl(b); /* a socket's (pull: the filter reads its own way) */
    if (!SSL_is_init_finished(ssl)) return; /* the handshake is libevent's to drive */
    struct evbuffer *in = bufferevent_get_input(b);
    while (evbuffer_get_length(in) < HIGH && SSL_has_pending(ssl)) {
        struct evbuffer_iovec v;
        if (evbuffer_reserve_space(in, PULL_SPACE, &v, 1) < 1) return;
        size_t got = 0;
        int r = 1;
        while (got < v.iov_len && SSL_has_pending(ssl)) {
            ERR_clear_error();
            r = SSL_read(ssl, (char *)v.iov_base + got, (int)(v.iov_len - got));
            if (r <= 0) break;
            got += (size_t)r;
        }
        if (got) {
            v.iov_len = got;
            evbuffer_commit_space(in, &v, 1);
        }
        if (r <= 0) {
            int e = SSL_get_error(ssl, r);
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return;
            bufferevent_trigger_event(b, BEV_EVENT_READING | (e == SSL_ERROR_ZERO_RETURN ?
                                                              BEV_EVENT_EOF : BEV_EVENT_ERROR),
                                      BEV_TRIG_DEFER_CALLBACKS);
            return;
        }
    }
}

/* Backpressure towards a TLS client: the filter hands its output to the socket bufferevent under
 * it at once, so the filter's own write callback says nothing about the socket. Watch the socket
 * side's output instead, and go on reading upstream once it has drained below LOW. */
static void resume_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct conn *c = arg;
    if (!c->up || !c->cli) return;
    bufferevent_enable(c->up, EV_READ);
    if (c->state == C_TUNNEL) tunnel_copy(c, c->up, c->cli);
    else if (c->state == C_HTTP) pump_response(c);
}

static void under_out_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    (void)buf;
    struct conn *c = arg;
    if (info->n_deleted && c->flow_paused && cli_pending(c) <= LOW) {
        c->flow_paused = 0;
        event_active(c->resume_ev, EV_TIMEOUT, 1);
    }
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

/* A TLS client lingering: its socket read raw (nothing is decrypted any more) and dropped. */
static void linger_raw(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    int done;
    px_sock_drain(fd, IO_SLICE, &done);
    if (done) conn_free(arg);
}

/* Everything for the client has gone out: shut the socket for writing and read and drop what
 * the client still sends, until it closes or for 2 s, before closing. Closing with unread input
 * sends a reset, which can destroy the answer before the client reads it (one that sends a whole
 * body before reading, say, answered 422 at its first bytes). */
static void finish_close(struct conn *c)
{
    if (!c->cli || c->lingering) {
        conn_free(c);
        return;
    }
    evutil_socket_t fd = bufferevent_getfd(c->cli);
    struct event *t = evtimer_new(c->s->base, linger_done, c);
    struct event *raw = c->tls && fd >= 0 ? event_new(c->s->base, fd, EV_READ | EV_PERSIST, linger_raw, c) : NULL;
    if (fd < 0 || !t || (c->tls && !raw) || shutdown(fd, SHUT_WR) != 0) {
        if (t) event_free(t);
        if (raw) event_free(raw);
        conn_free(c);
        return;
    }
    c->lingering = 1;
    if (c->close_timer) event_free(c->close_timer);
    c->close_timer = t;
    if (raw) { /* below the TLS bufferevent, which reads no more */
        bufferevent_disable(c->cli, EV_READ | EV_WRITE);
        c->linger_ev = raw;
        event_add(raw, NULL);
    } else {
        bufferevent_setcb(c->cli, linger_read, NULL, linger_event, c);
        bufferevent_setwatermark(c->cli, EV_READ, 0, 0);
        bufferevent_enable(c->cli, EV_READ);
    }
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
    up_close(c);
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

static void vreply(struct conn *c, unsigned status, const char *reason, const char *extra,
                   const char *fmt, va_list ap)
{
    char body[512];
    int n = vsnprintf(body, sizeof body - 1, fmt, ap);
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
                            "%s\r\n%s",
                            status, reason, n, extra ? extra : "", body);
    px_log(c->s, "conn=%lu w=%u host=%s method=%s path=%s status=%u error=\"%.*s\"", c->id,
           c->s->idx, c->rhost[0] ? c->rhost : c->host, c->method[0] ? c->method : "-",
           c->path[0] ? c->path : "-", status, n - 1, body);
}

void px_conn_reply(struct conn *c, unsigned status, const char *reason, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreply(c, status, reason, NULL, fmt, ap);
    va_end(ap);
}

void px_conn_reply_x(struct conn *c, unsigned status, const char *reason, const char *extra,
                     const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreply(c, status, reason, extra, fmt, ap);
    va_end(ap);
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

static int ix_get(void *arg, const uint8_t key[PX_DIGEST], uint64_t *len, uint8_t view[PX_DIGEST])
{
    struct conn *c = arg;
    return c->s->ix ? px_index_get(c->s->ix, key, len, view) : 0;
}

static int ix_put(void *arg, const uint8_t key[PX_DIGEST], uint64_t plen, uint64_t tlen,
                  const uint8_t view[PX_DIGEST])
{
    struct conn *c = arg;
    return c->s->ix ? px_index_put(c->s->ix, key, plen, tlen, view, c->rhost) : 0;
}

/* Throughput: no Nagle delay on the small writes that end a message (a 40 ms stall each with the
 * peer's delayed ACK), and big reads and writes (libevent's default is 16 KiB per callback). */
static void tune(struct bufferevent *b)
{
    /* sockets only (plain or TLS): on libevent's TLS filter itself, bigger slices stalled it
     * (the last ~20 KiB of a response stayed in the filter) */
    if (!bufferevent_get_underlying(b)) {
        /* TLS on a socket: libevent reserves this much input space for the one or two records
         * it takes per wake-up (pull_tls takes the rest); reserving 256 KiB made it allocate
         * a fresh 256 KiB chain for every ~32 KiB once body_move had carried the last one off */
        int tls = bufferevent_openssl_get_ssl(b) != NULL;
        bufferevent_set_max_single_read(b, tls ? PULL_SPACE : IO_SLICE);
        bufferevent_set_max_single_write(b, IO_SLICE);
    }
    for (; b; b = bufferevent_get_underlying(b)) {
        evutil_socket_t fd = bufferevent_getfd(b);
        int one = 1;
        if (fd >= 0) (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
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

static void up_dns_cb(int err, struct evutil_addrinfo *ai, void *arg);
static void up_resolved(evutil_socket_t fd, short what, void *arg);

/* A new upstream bufferevent for c->host:c->port, not connected yet (TLS: the name to send and
 * verify set). Returns NULL if out of memory. */
static struct bufferevent *up_new(struct conn *c, int tls)
{
    px_server *s = c->s;
    const char *host = c->host;
    unsigned port = c->port;
    struct bufferevent *b;
    if (tls) {
        SSL *ssl = SSL_new(s->up_ctx);
        if (!ssl) return NULL;
        int is_ip = strchr(host, ':') || strspn(host, "0123456789.") == strlen(host);
        if (!is_ip) SSL_set_tlsext_host_name(ssl, host);
        if ((is_ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) != 1
                   : SSL_set1_host(ssl, host) != 1) ||
            px_upsess_attach(ssl, host, port) < 0) {
            SSL_free(ssl);
            return NULL;
        }
        b = bufferevent_openssl_socket_new(s->base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
                                           BEV_OPT_CLOSE_ON_FREE);
        if (!b) {
            SSL_free(ssl);
            return NULL;
        }
        bufferevent_openssl_set_allow_dirty_shutdown(b, 1);
    } else {
        b = bufferevent_socket_new(s->base, -1, BEV_OPT_CLOSE_ON_FREE);
        if (!b) return NULL;
    }
    bufferevent_setcb(b, up_read_cb, up_write_cb, up_event_cb, c);
    bufferevent_setwatermark(b, EV_READ, 0, HIGH);
    bufferevent_setwatermark(b, EV_WRITE, LOW, 0);
    set_timeouts(b, s->cfg.upstream_timeout_s, s->cfg.upstream_timeout_s);
    bufferevent_enable(b, EV_READ | EV_WRITE); /* (its timeouts cover the lookup too) */
    return b;
}

static int up_connect(struct conn *c, const char *host, unsigned port, int tls)
{
    px_server *s = c->s;
    const char *chost = host;
    unsigned cport = port;
    px_config_route(&s->cfg, &chost, &cport);
    c->up_routed = chost != host || cport != port;
    if (cport < 1 || cport > 65535) return -1;
    snprintf(c->host, sizeof c->host, "%s", host);
    c->port = port;
    c->up = up_new(c, tls);
    if (!c->up) return -1;
    c->up_tls = tls;
    c->up_connected = 0;
    c->up_eof = 0;
    c->up_used = 0;
    if (!c->up_dns_ev) c->up_dns_ev = event_new(s->base, -1, 0, up_resolved, c);
    if (!c->up_dns_ev) {
        up_free(c);
        return -1;
    }
    /* as bufferevent_socket_connect_hostname would look it up */
    struct evutil_addrinfo hints = {0};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    char portstr[16];
    snprintf(portstr, sizeof portstr, "%u", cport);
    c->up_dns_err = 0;
    c->up_dns_self = 0;
    c->up_naddr = c->up_iaddr = 0;
    /* NULL if answered at once (an IP, /etc/hosts): up_dns_cb has then run, and left what
     * follows to up_resolved, after the caller is done */
    c->up_dns = evdns_getaddrinfo(s->dns, chost, portstr, &hints, up_dns_cb, c);
    return 0;
}

/* The lookup of up's address: note where to connect, or why not, and go on from the loop. */
static void up_dns_cb(int err, struct evutil_addrinfo *ai, void *arg)
{
    if (err == EVUTIL_EAI_CANCEL) { /* up_free: the connection may be gone */
        if (ai) evutil_freeaddrinfo(ai);
        return;
    }
    struct conn *c = arg;
    c->up_dns = NULL;
    /* the addresses to try in turn (libevent's order: IPv4 first) */
    for (struct evutil_addrinfo *i = err ? NULL : ai; i && c->up_naddr < PX_UP_ADDRS; i = i->ai_next) {
        if (i->ai_addrlen > sizeof c->up_addr[0]) continue;
        memcpy(&c->up_addr[c->up_naddr], i->ai_addr, i->ai_addrlen);
        c->up_addrlen[c->up_naddr++] = (socklen_t)i->ai_addrlen;
    }
    if (!err && !c->up_naddr) err = EVUTIL_EAI_FAIL;
    /* upstream-self: no address of the name may be this machine's (not only those tried) */
    if (!err && !c->s->cfg.upstream_self && !c->up_routed) c->up_dns_self = px_addrs_this_machine(ai);
    c->up_dns_err = err;
    if (ai) evutil_freeaddrinfo(ai);
    event_active(c->up_dns_ev, EV_TIMEOUT, 1);
}

static int up_refuse_self(struct conn *c);
static void up_refuse(struct conn *c);
static void up_event_cb(struct bufferevent *b, short what, void *arg);

/* The lookup is done: connect, or refuse this machine before any connection to it, or fail
 * as a connection that could not be made. */
static void up_resolved(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;
    (void)fd;
    (void)what;
    if (!c->up) return;
    if (c->up_dns_self) {
        up_refuse(c);
        return;
    }
    if (c->up_dns_err || bufferevent_socket_connect(c->up, (struct sockaddr *)&c->up_addr[0],
                                                    (int)c->up_addrlen[0]) < 0)
        up_event_cb(c->up, BEV_EVENT_ERROR, c);
}

/* The connection to one of the host's addresses failed before TCP was up (refused,
 * unreachable; not a timeout, not TLS): the next address, on a new bufferevent that takes over
 * what was queued for the upstream, as a browser would. Returns 1 if it goes on. */
static int up_try_next(struct conn *c, short what)
{
    if (c->up_connected || (what & BEV_EVENT_TIMEOUT) || c->up_dns_err ||
        c->up_iaddr + 1 >= c->up_naddr)
        return 0;
    int err = EVUTIL_SOCKET_ERROR(); /* (the connect's, for the log and up_error_text) */
    struct sockaddr_storage p;
    socklen_t pl = sizeof p;
    evutil_socket_t fd = bufferevent_getfd(c->up);
    int tcp_up = fd >= 0 && getpeername(fd, (struct sockaddr *)&p, &pl) == 0;
    EVUTIL_SET_SOCKET_ERROR(err);
    if (tcp_up) return 0; /* TLS failed, not the connection */
    struct bufferevent *b = up_new(c, c->up_tls);
    if (!b) return 0;
    char a[INET6_ADDRSTRLEN];
    px_log(c->s, "conn=%lu host=%s:%u note=\"address %s: %s; trying the next one\"", c->id, c->host,
           c->port, px_addr_text((struct sockaddr *)&c->up_addr[c->up_iaddr], a, sizeof a),
           err ? evutil_socket_error_to_string(err) : "failed");
    evbuffer_add_buffer(bufferevent_get_output(b), bufferevent_get_output(c->up));
    bufferevent_free(c->up);
    c->up = b;
    c->up_iaddr++;
    if (bufferevent_socket_connect(b, (struct sockaddr *)&c->up_addr[c->up_iaddr],
                                   (int)c->up_addrlen[c->up_iaddr]) < 0)
        return 0; /* (the caller fails this one as it would have the last) */
    return 1;
}

static void up_error_text(struct conn *c, short what, char *out, size_t cap)
{
    struct bufferevent *b = c->up;
    /* (the bufferevent's timeouts run while the name is looked up: it has no socket yet) */
    if ((what & BEV_EVENT_TIMEOUT) && c->up_dns) {
        snprintf(out, cap, "cannot resolve %.100s: no answer from the name server in %u s", c->host,
                 c->s->cfg.upstream_timeout_s);
        return;
    }
    if (what & BEV_EVENT_TIMEOUT) {
        snprintf(out, cap, "upstream %.100s:%u timed out", c->host, c->port);
        return;
    }
    if (c->up_dns_err) {
        snprintf(out, cap, "cannot resolve %.100s: %.100s", c->host,
                 evutil_gai_strerror(c->up_dns_err));
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
    /* renegotiation asked by a client: refused (TLS 1.2 only; a known CPU drain, and a read
     * that must write under libevent's feet) */
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
    px_tls_ctx_tune(ctx);
}

void px_tls_ctx_tune(SSL_CTX *ctx)
{
    SSL_CTX_set_read_ahead(ctx, 1);
    SSL_CTX_set_default_read_buffer_len(ctx, PX_TLS_READ_BUF);
}

/* TLS with the client straight on its socket (OpenSSL reads and writes whole records), when the
 * "200" can be written at once and nothing came after the CONNECT head: libevent 2.1's socket
 * bufferevents read at most 4 KiB per wake-up (EVBUFFER_MAX_READ), which made a TLS filter on top
 * of one cost ~3 syscalls per 4 KiB. Returns the new bufferevent, or NULL (use the filter). */
static struct bufferevent *intercept_on_socket(struct conn *c, SSL *ssl)
{
    static const char ok[] = "HTTP/1.1 200 Connection established\r\n\r\n";
    evutil_socket_t fd = bufferevent_getfd(c->cli);
    if (fd < 0 || outlen(c->cli) || evbuffer_get_length(bufferevent_get_input(c->cli))) return NULL;
    if (send(fd, ok, sizeof ok - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof ok - 1)) return NULL;
    struct bufferevent *tb = bufferevent_openssl_socket_new(c->s->base, fd, ssl,
                                                            BUFFEREVENT_SSL_ACCEPTING,
                                                            BEV_OPT_CLOSE_ON_FREE);
    if (!tb) return NULL;
    bufferevent_setfd(c->cli, -1); /* the old bufferevent lets go of the socket */
    bufferevent_free(c->cli);
    c->cli = tb;
    return tb;
}

static void start_intercept(struct conn *c)
{
    X509 *cert;
    EVP_PKEY *key;
    if (px_ca_leaf(c->s->ca, c->host, &cert, &key) < 0) { /* cert: our reference */
        evbuffer_add_printf(bufferevent_get_output(c->cli), "HTTP/1.1 200 Connection established\r\n\r\n");
        px_log(c->s, "conn=%lu host=%s error=\"cannot mint a certificate\"", c->id, c->host);
        close_when_flushed(c);
        return;
    }
    SSL *ssl = SSL_new(c->s->cli_ctx);
    int used = ssl && SSL_use_certificate(ssl, cert) == 1 && SSL_use_PrivateKey(ssl, key) == 1;
    X509_free(cert);
    if (!used) {
        SSL_free(ssl);
        evbuffer_add_printf(bufferevent_get_output(c->cli), "HTTP/1.1 200 Connection established\r\n\r\n");
        close_when_flushed(c);
        return;
    }
    struct bufferevent *tb = intercept_on_socket(c, ssl);
    if (tb) {
        bufferevent_openssl_set_allow_dirty_shutdown(tb, 1);
    } else { /* a TLS filter over the socket bufferevent */
        SSL_set_read_ahead(ssl, 0); /* it reads from an evbuffer: nothing to save */
        evbuffer_add_printf(bufferevent_get_output(c->cli), "HTTP/1.1 200 Connection established\r\n\r\n");
        tb = bufferevent_openssl_filter_new(c->s->base, c->cli, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                            BEV_OPT_CLOSE_ON_FREE);
        if (!tb) {
            SSL_free(ssl);
            close_when_flushed(c);
            return;
        }
        bufferevent_openssl_set_allow_dirty_shutdown(tb, 1);
        c->resume_ev = event_new(c->s->base, -1, 0, resume_cb, c);
        if (!c->resume_ev || !evbuffer_add_cb(bufferevent_get_output(c->cli), under_out_cb, c)) {
            bufferevent_free(tb);
            c->cli = NULL;
            close_when_flushed(c);
            return;
        }
    }
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
    for (;;) {
        pull(c, from);
        if (!evbuffer_get_length(in)) return;
        c->last_io = time(NULL);
        evbuffer_add_buffer(bufferevent_get_output(to), in);
        if ((to == c->cli ? cli_pending(c) : outlen(to)) > HIGH) {
            bufferevent_disable(from, EV_READ);
            if (to == c->cli && c->tls) c->flow_paused = 1;
            return;
        }
    }
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
    px_conn_reply(c, 408, "Request Timeout", "the request head did not arrive within %us",
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
    px_head_reset(&c->reqt);
    c->req_in_body = c->req_ident = 0;
    c->retried = c->up_reused = 0;
    c->resp_replaced = 0;
    if (c->replay) {
        evbuffer_free(c->replay);
        c->replay = NULL;
    }
    px_conn_rs_release(c);
    c->rs_cmd = c->rs_local = c->rs_local_done = 0;
    c->rs_enc = 0;
    c->rs_note[0] = 0;
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
    return px_head_field(c->req_in_body ? &c->reqt : &c->reqh, at, n); /* trailers: kept */
}

static int on_req_value(http_parser *p, const char *at, size_t n)
{
    struct conn *c = p->data;
    return px_head_value(c->req_in_body ? &c->reqt : &c->reqh, at, n);
}

static void copy_path(char *dst, size_t cap, const char *url)
{
    size_t n = strcspn(url, "?#");
    if (n >= cap) n = cap - 1;
    for (size_t i = 0; i < n; i++) dst[i] = (url[i] > ' ' && url[i] < 127) ? url[i] : '_';
    dst[n] = 0;
}

/* A GET or HEAD in origin form on the proxy's port: one of its own pages (setup.c), with the
 * address the device reached it at (the socket's own, so a proxy listening on 0.0.0.0 names the
 * LAN address the phone used). The connection closes after it. */
static void setup_reply(struct conn *c, const char *url, int head)
{
    char addr[INET6_ADDRSTRLEN + 8] = "", a[INET6_ADDRSTRLEN];
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    evutil_socket_t fd = c->cli ? bufferevent_getfd(c->cli) : -1;
    if (fd >= 0 && getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
        struct sockaddr_in v4 = {0};
        struct sockaddr *sa = (struct sockaddr *)&ss;
        unsigned port = 0;
        if (ss.ss_family == AF_INET6) {
            const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)(const void *)&ss;
            port = ntohs(s6->sin6_port);
            if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) { /* a dual-stack listener's IPv4 client */
                v4.sin_family = AF_INET;
                memcpy(&v4.sin_addr, s6->sin6_addr.s6_addr + 12, 4);
                sa = (struct sockaddr *)&v4;
            }
        } else if (ss.ss_family == AF_INET) {
            port = ntohs(((const struct sockaddr_in *)(const void *)&ss)->sin_port);
        }
        px_addr_text(sa, a, sizeof a);
        snprintf(addr, sizeof addr, sa->sa_family == AF_INET6 ? "[%s]:%u" : "%s:%u", a, port);
    }
    px_page pg;
    if (px_setup_page(&c->s->cfg, px_ca_cert(c->s->ca), url, addr, &pg) < 0) {
        px_conn_reply(c, 500, "Internal Server Error", "imgsec proxy: the page could not be made");
        return;
    }
    c->status = pg.status;
    c->local_reply = 1;
    if (c->cli) {
        struct evbuffer *o = bufferevent_get_output(c->cli);
        evbuffer_add_printf(o,
                            "HTTP/1.1 %u %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                            "Cache-Control: no-store\r\nConnection: close\r\nX-Imgsec-Proxy: setup\r\n\r\n",
                            pg.status, pg.status == 200 ? "OK" : "Not Found", pg.ctype, pg.len);
        if (!head) evbuffer_add(o, pg.body, pg.len);
    }
    px_log(c->s, "conn=%lu w=%u host=- method=%s path=%s status=%u down_bytes=%zu note=\"setup page\"",
           c->id, c->s->idx, c->method, c->path, pg.status, head ? (size_t)0 : pg.len);
    free(pg.body);
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
    /* auth-file: a client asks with Proxy-Authorization once per connection (CONNECT, or its
     * first plain request); not for the setup pages, which a phone needs first */
    int page = url[0] == '/' && (p->method == HTTP_GET || p->method == HTTP_HEAD);
    if (!c->tls && s->auth && !c->authed && !page) {
        const char *v = px_head_get(&c->reqh, "Proxy-Authorization");
        if (!px_auth_check(s->auth, v, c->user, sizeof c->user)) {
            if (p->method == HTTP_CONNECT) snprintf(c->path, sizeof c->path, "%.127s", url);
            else copy_path(c->path, sizeof c->path, url);
            px_conn_reply_x(c, 407, "Proxy Authentication Required",
                            "Proxy-Authenticate: Basic realm=\"imgsec proxy\"\r\n", "imgsec proxy: %s",
                            v ? "wrong user name or password"
                              : "this proxy asks for a user name and password");
            c->user[0] = 0;
            c->fatal = 1;
            return -1;
        }
        c->authed = 1;
    }
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
            if (url[0] == '/' && (p->method == HTTP_GET || p->method == HTTP_HEAD))
                setup_reply(c, url, p->method == HTTP_HEAD); /* the proxy's own pages */
            else
                px_conn_reply(c, 400, "Bad Request",
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
        px_conn_reply(c, 502, "Bad Gateway", "imgsec proxy: %s", c->up_err);
        c->fatal = 1;
        return -1;
    }
    c->target = px_config_is_target(&s->cfg, host);
    char extra[256] = "";
    int rs = c->target ? px_conn_rs_request(c, p, path, extra, sizeof extra) : RS_NONE;
    if (rs == RS_FAIL) {
        c->fatal = 1;
        return -1;
    }
    c->req_chunked = (p->flags & F_CHUNKED) != 0;
    c->req_in_body = 1;
    if (rs == RS_LOCAL) {
        c->rs_local = 1; /* the body goes into the session only; the proxy answers */
        up_close(c); /* an idle keep-alive upstream closing meanwhile must not fail this */
        if (p->http_major == 1 && p->http_minor >= 1 && px_head_has_token(&c->reqh, "Expect", "100-continue"))
            evbuffer_add_printf(bufferevent_get_output(c->cli), "HTTP/1.1 100 Continue\r\n\r\n");
        return 0;
    }
    if (c->up && (!c->tls && (strcmp(c->host, host) != 0 || c->port != port))) {
        up_free(c);
    }
    c->up_reused = c->up != NULL && c->up_used;
    if (!c->up && up_connect(c, host, port, c->tls) < 0) {
        px_conn_reply(c, 502, "Bad Gateway", "imgsec proxy: cannot connect to %s:%u", host, port);
        c->fatal = 1;
        return -1;
    }
    int range_strip = c->target && p->method == HTTP_GET;
    const char *const *skip = c->tls ? (range_strip ? range_skip + 3 : NULL)
                                     : (range_strip ? range_skip : plain_skip);
    const char *skip2[12];
    if (rs == RS_REWRITE) { /* a re-framed piece: length, offset (and command) are ours */
        size_t k = 0;
        for (const char *const *q = skip; q && *q; q++) skip2[k++] = *q;
        skip2[k++] = "Content-Length";
        skip2[k++] = "X-Goog-Upload-Offset";
        if (c->rs_cmd == PX_RS_FINALIZE) skip2[k++] = "X-Goog-Upload-Command";
        skip2[k] = NULL;
        skip = skip2;
    }
    struct evbuffer *o = bufferevent_get_output(c->up);
    px_head_write_request(&c->reqh, method, path, p->http_major, p->http_minor, skip,
                          extra[0] ? extra : NULL, out_cb, o);
    c->up_used = 1;
    if (rs == RS_REWRITE) px_rs_piece_attach(c->rs, req_emit, c);
    /* on a reused upstream connection that turns out to be closed, a bodiless idempotent
     * request is sent once more on a new one: keep its head */
    int bodiless = !c->req_chunked && (p->content_length == 0 || p->content_length == ULLONG_MAX);
    if (c->up_reused && bodiless &&
        (p->method == HTTP_GET || p->method == HTTP_HEAD || p->method == HTTP_OPTIONS) &&
        (c->replay = evbuffer_new()) != NULL)
        px_head_write_request(&c->reqh, method, path, p->http_major, p->http_minor, skip, NULL,
                              out_cb, c->replay);
    /* the response parser starts afresh for each request */
    http_parser_init(&c->resp, HTTP_RESPONSE);
    c->resp.data = c;
    c->resp_started = c->resp_head_sent = 0;
    if (rs != RS_REWRITE && c->target &&
        (c->req_chunked || (p->content_length > 0 && p->content_length != ULLONG_MAX))) {
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
            .refuse_other = s->cfg.refuse_other_media,
            .async = cipher_async(c),
            .notify = cipher_notify,
            .notify_arg = c,
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
    c->req_ident = !c->req_chunked;
    if (c->rs && (c->rs_cmd & (PX_RS_UPLOAD | PX_RS_FINALIZE))) {
        if (px_rs_piece_push(c->rs, (const uint8_t *)at, n) < 0) {
            upload_aborted(c, px_rs_detail(c->rs), px_rs_refusal(c->rs));
            c->fatal = 1;
            return -1;
        }
    } else if (c->reqb_on) {
        if (px_body_push(&c->reqb, (const uint8_t *)at, n) < 0) {
            upload_aborted(c, c->reqb.detail, c->reqb.refusal);
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
    c->req_ident = 0;
    if (p->method == HTTP_CONNECT || p->upgrade) return 0;
    if (c->reqb_on && px_body_end(&c->reqb) < 0) {
        upload_aborted(c, c->reqb.detail, c->reqb.refusal);
        c->fatal = 1;
        return -1;
    }
    if (c->rs && (c->rs_cmd & (PX_RS_UPLOAD | PX_RS_FINALIZE))) {
        if (px_rs_piece_end(c->rs) < 0) {
            upload_aborted(c, px_rs_detail(c->rs), px_rs_refusal(c->rs));
            c->fatal = 1;
            return -1;
        }
        if (c->rs_local) { /* held: nothing went upstream; the proxy answers for the server */
            px_rs_lock(c->s);
            px_rs_piece_done(c->rs, 1, time(NULL));
            unsigned long long have = (unsigned long long)c->rs->in_total;
            px_rs_unlock(c->s);
            evbuffer_add_printf(bufferevent_get_output(c->cli),
                                "HTTP/1.1 200 OK\r\nX-Goog-Upload-Status: active\r\n"
                                "X-Goog-Upload-Size-Received: %llu\r\nContent-Length: 0\r\n"
                                "X-Imgsec-Proxy: held\r\n%s\r\n",
                                have, c->keepalive ? "" : "Connection: close\r\n");
            c->rs = NULL;
            c->status = 200;
            log_exchange(c);
            c->req_done = 1;
            c->rs_local_done = 1;
            http_parser_pause(p, 1);
            return 0;
        }
    }
    if (c->req_chunked && c->up) {
        struct evbuffer *o = bufferevent_get_output(c->up);
        evbuffer_add(o, "0\r\n", 3);
        px_head_write_fields(&c->reqt, NULL, out_cb, o);
        evbuffer_add(o, "\r\n", 2);
    }
    c->req_done = 1;
    http_parser_pause(p, 1);
    return 0;
}

/* ------------------------------------------------------------------ response side */

static int on_resp_begin(http_parser *p)
{
    struct conn *c = p->data;
    px_head_reset(&c->resh);
    px_head_reset(&c->rest);
    c->resp_started = 1;
    c->resp_head_sent = 0;
    c->resp_in_body = c->resp_ident = 0;
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
    return px_head_field(c->resp_in_body ? &c->rest : &c->resh, at, n); /* trailers: kept */
}

static int on_resp_value(http_parser *p, const char *at, size_t n)
{
    struct conn *c = p->data;
    return px_head_value(c->resp_in_body ? &c->rest : &c->resh, at, n);
}

static int on_resp_headers(http_parser *p)
{
    struct conn *c = p->data;
    c->status = p->status_code;
    c->resp_chunked = (p->flags & F_CHUNKED) != 0;
    struct evbuffer *o = bufferevent_get_output(c->cli);
    char extra[128] = "";
    static const char *const sr_skip[] = {"X-Goog-Upload-Size-Received", NULL};
    int tr = p->status_code >= 200 && px_conn_rs_response(c, p, extra, sizeof extra);
    if (c->resp_replaced) {
        c->fatal = 1;
        return -1;
    }
    px_head_write_response(&c->resh, p->status_code, p->http_major, p->http_minor,
                           tr ? sr_skip : NULL, tr ? extra : NULL, out_cb, o);
    c->resp_head_sent = 1;
    if (p->status_code / 100 == 1) return 0;
    c->resp_in_body = 1;
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
            .async = cipher_async(c),
            .notify = cipher_notify,
            .notify_arg = c,
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
    c->resp_ident = !c->resp_chunked && !c->resp_eof_body;
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
    unsigned enc = (c->reqb_on ? c->reqb.crypted : 0) + c->rs_enc;
    unsigned dec = c->resb_on ? c->resb.crypted : 0;
    char note[384] = "";
    if (c->reqb_on && c->reqb.refused)
        snprintf(note, sizeof note, " warning=\"JPEG sent as it was: %s\"", c->reqb.detail);
    else if (c->reqb_on && c->reqb.plain_media == 1)
        snprintf(note, sizeof note, " warning=\"not encrypted: a %s (the proxy encrypts JPEG only)\"",
                 c->reqb.plain_kind);
    else if (c->reqb_on && c->reqb.plain_media)
        snprintf(note, sizeof note,
                 " warning=\"not encrypted: %u pictures or videos of other formats (the last a %s; "
                 "the proxy encrypts JPEG only)\"",
                 c->reqb.plain_media, c->reqb.plain_kind);
    if (c->resb_on && c->resb.mismatched)
        snprintf(note, sizeof note, " warning=\"%s\"", c->resb.detail);
    px_log(c->s,
           "conn=%lu w=%u host=%s method=%s path=%s status=%u up_bytes=%llu down_bytes=%llu "
           "jpeg_enc=%u jpeg_dec=%u ms=%ld%s%s%s%s%s",
           c->id, c->s->idx, c->rhost, c->method, c->path, c->status, (unsigned long long)c->req_bytes,
           (unsigned long long)c->resp_bytes, enc, dec, ms, c->target ? " target=1" : "",
           c->user[0] ? " user=" : "", c->user, c->rs_note, note);
}

static int on_resp_complete(http_parser *p)
{
    struct conn *c = p->data;
    c->resp_ident = 0;
    if (p->status_code / 100 == 1) {
        /* interim (100 Continue): the final response follows, and until it starts the proxy may
         * still answer in its place (upload_aborted, upstream_failed); 101: a tunnel */
        if (p->status_code != 101) c->resp_started = c->resp_head_sent = 0;
        return 0;
    }
    if (c->resb_on && px_body_end(&c->resb) < 0) {
        c->fatal = 1;
        return -1;
    }
    if (c->resp_chunked) {
        struct evbuffer *o = bufferevent_get_output(c->cli);
        evbuffer_add(o, "0\r\n", 3);
        px_head_write_fields(&c->rest, NULL, out_cb, o);
        evbuffer_add(o, "\r\n", 2);
    }
    log_exchange(c);
    if (!http_should_keep_alive(p) || c->resp_eof_body) c->keepalive = 0;
    if (!http_should_keep_alive(p) && c->up) up_close(c);
    c->resp_started = 0;
    if (c->reqb_on) px_body_free(&c->reqb);
    if (c->resb_on) px_body_free(&c->resb);
    c->reqb_on = c->resb_on = 0;
    c->req_active = 0;
    http_parser_pause(p, 1);
    return 0;
}

/* ------------------------------------------------------------------ pumps */

/* A reused keep-alive upstream connection closed before any byte of the answer: the server
 * dropped it as idle while the request was on its way. A bodiless GET/HEAD/OPTIONS is sent once
 * more on a new connection (RFC 9112 9.3.1); anything else gets the 502. */
static int retry_request(struct conn *c)
{
    char host[256];
    snprintf(host, sizeof host, "%s", c->host);
    int tls = c->up_tls;
    up_free(c);
    c->retried = 1;
    if (up_connect(c, host, c->port, tls) < 0) return -1;
    evbuffer_add_buffer(bufferevent_get_output(c->up), c->replay);
    http_parser_init(&c->resp, HTTP_RESPONSE);
    c->resp.data = c;
    px_log(c->s, "conn=%lu host=%s method=%s path=%s note=\"reused upstream connection was "
           "closed; request sent again on a new one\"", c->id, c->rhost, c->method, c->path);
    return 0;
}

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
        px_conn_reply(c, 502, "Bad Gateway", "imgsec proxy: %s", why);
    } else if (c->req_active) {
        px_log(c->s, "conn=%lu host=%s method=%s path=%s error=\"%s (response cut short)\"",
               c->id, c->rhost, c->method, c->path, why);
    }
    close_when_flushed(c);
}

/* The rest of a Content-Length body that passes unchanged (not a target, not a JPEG, a JPEG not
 * ours to decrypt) is moved from one side's input to the other's output a chain at a time, at
 * most PIECE per call (so backpressure is checked as often as before), instead of being copied
 * through the parser's callbacks. The parser is told what it skipped (its content_length is the
 * count of body bytes still to come) and is left the last byte, so that it ends the message
 * itself. Returns the bytes moved (0: take the parser's way). */
static size_t body_move(http_parser *p, struct evbuffer *in, struct evbuffer *out)
{
    if (p->content_length <= 1 || p->content_length == ULLONG_MAX) return 0;
    size_t k = evbuffer_get_length(in);
    if (k > PIECE) k = PIECE;
    if (k > p->content_length - 1) k = (size_t)(p->content_length - 1);
    int moved = k ? evbuffer_remove_buffer(in, out, k) : 0;
    if (moved <= 0) return 0;
    p->content_length -= (uint64_t)moved;
    return (size_t)moved;
}

static int req_passing(const struct conn *c)
{
    return c->req_ident && c->up && !c->rs && !c->rs_local &&
           (!c->reqb_on || px_body_passing(&c->reqb));
}

static int resp_passing(const struct conn *c)
{
    return c->resp_ident && c->cli && (!c->resb_on || px_body_passing(&c->resb));
}

static void pump_response(struct conn *c)
{
    if (!c->up || c->state != C_HTTP) return;
    struct evbuffer *in = bufferevent_get_input(c->up);
    for (;;) {
        if (!c->up_eof && c->resb_on && px_body_backlog(&c->resb) >= PX_JSTREAM_BACKLOG_HIGH) {
            c->cipher_wait_resp = 1; /* cipher_cb reads on */
            bufferevent_disable(c->up, EV_READ);
            return;
        }
        if (cli_pending(c) <= HIGH && !c->up_eof) pull(c, c->up);
        if (!evbuffer_get_length(in)) {
            if (c->up_eof) { /* all that came before the end is through: now the end */
                c->up_eof = 0;
                up_ended(c, BEV_EVENT_EOF | BEV_EVENT_READING);
                return;
            }
            break;
        }
        if (!c->req_active) {
            /* bytes from upstream with no request outstanding: nothing to relay them to */
            evbuffer_drain(in, evbuffer_get_length(in));
            up_free(c);
            return;
        }
        if (cli_pending(c) > HIGH && !c->up_eof) { /* (after the end: at most HIGH more) */
            bufferevent_disable(c->up, EV_READ);
            if (c->tls) c->flow_paused = 1;
            return;
        }
        if (resp_passing(c)) {
            size_t m = body_move(&c->resp, in, bufferevent_get_output(c->cli));
            if (m) {
                c->resp_bytes += m;
                if (c->resb_on) px_body_skip(&c->resb, m);
                continue;
            }
        }
        struct evbuffer_iovec v;
        if (evbuffer_peek(in, -1, NULL, &v, 1) < 1) break;
        size_t n = v.iov_len < PIECE ? v.iov_len : PIECE;
        size_t used = http_parser_execute(&c->resp, &resp_settings, v.iov_base, n);
        evbuffer_drain(in, used);
        enum http_errno e = HTTP_PARSER_ERRNO(&c->resp);
        if (c->fatal) {
            if (c->resp_replaced) close_when_flushed(c);
            else upstream_failed(c, "the upstream response could not be relayed");
            return;
        }
        if (e == HPE_PAUSED) {
            http_parser_pause(&c->resp, 0);
            if (c->up_eof && c->up) { /* it has ended: not one to keep for the next request */
                up_free(c);
            }
            c->up_eof = 0;
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
    for (;;) {
        if (c->state != C_HTTP || c->req_paused) break;
        if (c->reqb_on && px_body_backlog(&c->reqb) >= PX_JSTREAM_BACKLOG_HIGH) {
            c->cipher_wait_req = 1; /* cipher_cb reads on */
            bufferevent_disable(c->cli, EV_READ);
            return;
        }
        if (!c->up || outlen(c->up) <= HIGH) pull(c, c->cli);
        if (!evbuffer_get_length(in)) break;
        if (c->up && outlen(c->up) > HIGH) {
            bufferevent_disable(c->cli, EV_READ);
            return;
        }
        if (req_passing(c)) {
            size_t m = body_move(&c->reqp, in, bufferevent_get_output(c->up));
            if (m) {
                c->req_bytes += m;
                if (c->reqb_on) px_body_skip(&c->reqb, m);
                continue;
            }
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
            if (c->rs_local_done) { /* answered by the proxy: on to the next request */
                c->rs_local_done = 0;
                c->req_active = 0;
                exchange_done(c);
                return;
            }
            break;
        }
        if (e != HPE_OK) {
            if (c->reqh.overflow)
                px_conn_reply(c, 431, "Request Header Fields Too Large",
                            "request head over %zu bytes or %d header lines",
                            c->s->cfg.max_header_bytes, PX_MAX_HEADERS);
            else if (!c->req_active || !c->req_bytes)
                px_conn_reply(c, 400, "Bad Request", "malformed request: %s",
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
                px_conn_reply(c, 400, "Bad Request", "CONNECT inside an intercepted tunnel");
                close_when_flushed(c);
                return;
            }
            char host[256];
            unsigned port;
            const char *url = c->reqh.url ? c->reqh.url : "";
            if (px_split_hostport(url, strlen(url), host, sizeof host, &port, 443) < 0) {
                px_conn_reply(c, 400, "Bad Request", "CONNECT needs host:port");
                close_when_flushed(c);
                return;
            }
            snprintf(c->rhost, sizeof c->rhost, "%s", host);
            c->tunnel_target = px_config_is_target(&c->s->cfg, host);
            c->state = C_CONNECTING;
            bufferevent_disable(c->cli, EV_READ);
            if (up_connect(c, host, port, c->tunnel_target) < 0) {
                c->state = C_HTTP;
                px_conn_reply(c, 502, "Bad Gateway", "imgsec proxy: cannot connect to %s:%u", host, port);
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
        char eb[200] = "-";
        if (e) ERR_error_string_n(e, eb, sizeof eb);
        px_log(c->s, "debug conn=%lu client event 0x%x state %d ssl %s errno %d", c->id, what,
               c->state, eb, EVUTIL_SOCKET_ERROR());
    }
    if (what & BEV_EVENT_CONNECTED) { /* TLS handshake with the client done */
        /* the request may have come with the handshake's last flight, read ahead by OpenSSL:
         * the socket will not say readable for it */
        if (c->state == C_HTTP) pump_request(c);
        return;
    }
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
            px_conn_reply(c, 408, "Request Timeout", "the client stopped sending");
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

/* Whether the upstream socket's peer is this machine: loopback, or the very address the socket
 * itself is bound to (one of the machine's own, such as its LAN address, where the proxy may
 * itself be listening). Fails closed. */
static int up_is_self(evutil_socket_t fd)
{
    struct sockaddr_storage p, l;
    socklen_t pl = sizeof p, ll = sizeof l;
    if (fd < 0 || getpeername(fd, (struct sockaddr *)&p, &pl) != 0 ||
        getsockname(fd, (struct sockaddr *)&l, &ll) != 0)
        return 1;
    return px_addr_peer_is_self((struct sockaddr *)&p, (struct sockaddr *)&l);
}

/* upstream-self deny, after connecting: the connection reached this machine though no address
 * of the name was one of its own (an interface that came up since the lookup, say). Nothing has
 * been sent on it yet (a TLS upstream has had its handshake, which carries nothing of the
 * client's): drop it unused and answer 403. Returns 1 if it did. */
static int up_refuse_self(struct conn *c)
{
    if (c->s->cfg.upstream_self || c->up_routed || !up_is_self(bufferevent_getfd(c->up))) return 0;
    up_refuse(c);
    return 1;
}

/* upstream-self deny: up (not yet connected, or connected but unused) is dropped, and the
 * client answered 403. */
static void up_refuse(struct conn *c)
{
    /* nothing the client sent may reach it: empty the output before libevent writes it */
    evbuffer_drain(bufferevent_get_output(c->up), evbuffer_get_length(bufferevent_get_output(c->up)));
    bufferevent_disable(c->up, EV_READ | EV_WRITE);
    up_free(c);
    c->up_connected = 0;
    px_log(c->s, "conn=%lu host=%s:%u error=\"destination is this machine: refused (upstream-self)\"",
           c->id, c->host, c->port);
    if (c->state == C_CONNECTING) c->state = C_HTTP;
    c->req_active = 1;
    px_conn_reply(c, 403, "Forbidden",
                  "imgsec proxy: %s:%u is this machine, which clients may not reach through the "
                  "proxy (upstream-self)", c->host, c->port);
    close_when_flushed(c);
}

static void up_event_cb(struct bufferevent *b, short what, void *arg)
{
    struct conn *c = arg;
    (void)b;
    if (what & BEV_EVENT_CONNECTED) {
        if (up_refuse_self(c)) return;
        c->up_connected = 1;
        tune(c->up);
        if (c->state == C_CONNECTING) {
            if (c->tunnel_target) {
                start_intercept(c);
            } else {
                evbuffer_add_printf(bufferevent_get_output(c->cli),
                                    "HTTP/1.1 200 Connection established\r\n\r\n");
                px_log(c->s, "conn=%lu tunnel=%s:%u%s%s", c->id, c->host, c->port,
                       c->user[0] ? " user=" : "", c->user);
                c->state = C_TUNNEL;
                bufferevent_enable(c->cli, EV_READ);
                tunnel_copy(c, c->cli, c->up);
            }
        }
        return;
    }
    if (up_try_next(c, what)) return;
    char why[256];
    if (c->state == C_CONNECTING) {
        up_error_text(c, what, why, sizeof why);
        up_free(c);
        if (c->tunnel_target) {
            /* tell the client over TLS, where it can read it: every request gets a 502 */
            snprintf(c->up_err, sizeof c->up_err, "%s", why);
            px_log(c->s, "conn=%lu host=%s error=\"%s\"", c->id, c->host, why);
            start_intercept(c);
        } else {
            c->state = C_HTTP;
            px_conn_reply(c, 502, "Bad Gateway", "imgsec proxy: %s", why);
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
            up_free(c);
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
    if (!(what & BEV_EVENT_TIMEOUT) && c->req_active && c->req_done && c->replay && !c->retried &&
        !c->resp_started) {
        if (retry_request(c) == 0) return;
        px_conn_reply(c, 502, "Bad Gateway", "imgsec proxy: cannot connect to %s:%u", c->host, c->port);
        close_when_flushed(c);
        return;
    }
    if ((what & BEV_EVENT_EOF) && c->resp_started && evbuffer_get_length(bufferevent_get_input(c->up))) {
        /* the end came (a deferred event) before pump_response took all that preceded it */
        c->up_eof = 1;
        bufferevent_disable(c->up, EV_READ);
        pump_response(c);
        return;
    }
    up_ended(c, what);
}

/* The upstream's end (EOF, error, timeout) while an exchange is on, its input all parsed. */
static void up_ended(struct conn *c, short what)
{
    char why[256];
    if ((what & BEV_EVENT_EOF) && c->resp_started && c->resp_eof_body) {
        http_parser_execute(&c->resp, &resp_settings, NULL, 0); /* body ends at EOF */
        up_free(c);
        if (HTTP_PARSER_ERRNO(&c->resp) == HPE_PAUSED) {
            exchange_done(c);
            return;
        }
        close_when_flushed(c);
        return;
    }
    if (!c->req_active) { /* idle upstream closed: a new one is made for the next request */
        up_free(c);
        return;
    }
    up_error_text(c, what, why, sizeof why);
    if (what & BEV_EVENT_TIMEOUT) {
        if (!c->resp_head_sent) px_conn_reply(c, 504, "Gateway Timeout", "imgsec proxy: %s", why);
        close_when_flushed(c);
        return;
    }
    upstream_failed(c, why);
}

/* ------------------------------------------------------------------ accept */

static void setup_cli(struct conn *c)
{
    tune(c->cli);
    bufferevent_setcb(c->cli, cli_read_cb, cli_write_cb, cli_event_cb, c);
    bufferevent_setwatermark(c->cli, EV_READ, 0, HIGH);
    bufferevent_setwatermark(c->cli, EV_WRITE, LOW, 0);
    set_timeouts(c->cli, c->s->cfg.client_timeout_s, c->s->cfg.client_timeout_s);
    bufferevent_enable(c->cli, EV_READ | EV_WRITE);
}

void px_conn_global_init(void)
{
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

void px_conn_accept(px_server *s, evutil_socket_t fd)
{
    struct conn *c = calloc(1, sizeof *c);
    if (c) c->cli = bufferevent_socket_new(s->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (c) c->hdr_timer = evtimer_new(s->base, hdr_timeout, c);
    if (!c || !c->cli || !c->hdr_timer) {
        if (c && c->cli) bufferevent_free(c->cli);
        else evutil_closesocket(fd);
        if (c && c->hdr_timer) event_free(c->hdr_timer);
        free(c);
        px_server_conn_gone(s);
        return;
    }
    c->s = s;
    c->id = atomic_fetch_add(&s->sh->next_id, 1) + 1;
    c->state = C_HTTP;
    px_head_init(&c->reqh, s->cfg.max_header_bytes);
    px_head_init(&c->resh, s->cfg.max_header_bytes);
    px_head_init(&c->reqt, s->cfg.max_header_bytes);
    px_head_init(&c->rest, s->cfg.max_header_bytes);
    http_parser_init(&c->reqp, HTTP_REQUEST);
    c->reqp.data = c;
    c->next = s->conns;
    if (s->conns) s->conns->prev = c;
    s->conns = c;
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

/* One client connection's state, shared by conn.c (the relay) and conn_rs.c (resumable uploads).
 * Private to the libevent side of the proxy. */
#ifndef IMGSEC_PROXY_CONN_H
#define IMGSEC_PROXY_CONN_H

#include <time.h>

#include <sys/socket.h>

#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <http_parser.h>

#include "server.h"

#define HIGH (512u * 1024u)
#define LOW (128u * 1024u)
#define PIECE (64u * 1024u)
#define PX_UP_ADDRS 8 /* addresses of a name tried in turn */

enum { C_HTTP, C_CONNECTING, C_TUNNEL, C_CLOSING };

struct conn {
    px_server *s;
    struct conn *next, *prev;
    unsigned long id;
    struct bufferevent *cli, *up;
    int state;
    int tls;           /* client side is intercepted TLS */
    int tunnel_target; /* CONNECT target is to be intercepted */
    char host[256];    /* origin host of the upstream connection */
    unsigned port;
    int up_tls, up_connected;
    int up_routed; /* upstream-connect-to chose where up goes (exempt from upstream-self) */
    /* up's address is looked up by the proxy, not by libevent's connect_hostname, so that
     * upstream-self can refuse this machine before any connection to it (up_resolved) */
    struct evdns_getaddrinfo_request *up_dns; /* lookup under way (cancelled by up_free) */
    struct event *up_dns_ev; /* runs up_resolved from the loop, never inside up_connect */
    int up_dns_err;          /* EVUTIL_EAI_* of the lookup, 0 */
    int up_dns_self;         /* it named this machine */
    struct sockaddr_storage up_addr[PX_UP_ADDRS]; /* where to connect, in turn (up_try_next) */
    socklen_t up_addrlen[PX_UP_ADDRS];
    unsigned up_naddr, up_iaddr; /* how many; the one tried now */
    /* a body's JPEG stream with a cipher thread (jstream.c): the thread activates cipher_ev
     * after each piece; a side whose stream has PX_JSTREAM_BACKLOG_HIGH pieces queued stops
     * being read until then (cipher_wait_req: the client; cipher_wait_resp: the upstream) */
    struct event *cipher_ev;
    int cipher_wait_req, cipher_wait_resp;
    /* the upstream ended (EOF) with response bytes still unparsed in its input (pump_response
     * had stopped for the cipher's backlog or the client's): pump_response takes the rest
     * whatever the backlog, then handles the end (up_ended) */
    int up_eof;
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
    char user[PX_AUTH_NAME_MAX + 1]; /* auth-file: who this connection authenticated as */
    int authed;
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
    struct event *resume_ev; /* TLS clients: output drained, go on reading upstream */
    int flow_paused;
    int close_polls, lingering;
    struct event *linger_ev; /* a TLS client lingering: its socket read raw (finish_close) */
    time_t last_io; /* tunnels: last byte either way */
    int fatal;      /* set inside parser callbacks: close after the parser returns */
    int local_reply;
    /* trailers of chunked bodies, forwarded */
    px_head reqt, rest;
    int req_in_body, resp_in_body;
    /* the parser is inside a Content-Length body (it has handed over some of it): the pumps may
     * move the rest of it themselves when it passes unchanged (body_move in conn.c) */
    int req_ident, resp_ident;
    /* a request on a reused upstream connection that may be stale: its head, to retry once */
    struct evbuffer *replay;
    int up_reused, retried;
    int up_used;       /* the upstream connection has carried a request */
    int resp_replaced; /* the upstream response was replaced by a local one */
    /* resumable uploads (resumable.c) */
    int rs_cmd;         /* PX_RS_* of this request */
    px_rsess *rs;       /* piece: the session (busy) */
    char rs_qid[512];   /* query: the session's id (looked up again for the answer) */
    px_rsess *rs_start; /* start: the session reserved until the response names it */
    int rs_local, rs_local_done;
    unsigned rs_enc;
    char rs_note[256];
};

/* Answers the client from the proxy (Connection: close); extra: NULL or header lines. */
void px_conn_reply(struct conn *c, unsigned status, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void px_conn_reply_x(struct conn *c, unsigned status, const char *reason, const char *extra,
                     const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* conn_rs.c: Google resumable uploads (resumable.c) on a connection. */
enum { RS_NONE = 0, RS_PASS, RS_REWRITE, RS_LOCAL, RS_FAIL = -1 };
/* A request carrying X-Goog-Upload-Command. Returns RS_NONE/RS_PASS (forward as it is),
 * RS_REWRITE (a piece: head rewritten with extra), RS_LOCAL (a piece the proxy answers), or
 * RS_FAIL (answered locally with an error; the connection closes). */
int px_conn_rs_request(struct conn *c, http_parser *p, const char *path, char *extra, size_t cap);
/* The answer to a resumable start, piece or query: sessions named, committed, translated.
 * Returns 1 if X-Goog-Upload-Size-Received is replaced by extra; sets c->resp_replaced if the
 * answer was replaced by a local one. */
int px_conn_rs_response(struct conn *c, http_parser *p, char *extra, size_t cap);
/* The exchange or the connection ends: a piece in progress breaks its session. */
void px_conn_rs_release(struct conn *c);

#endif

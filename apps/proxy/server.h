/* Shared between server.c, worker.c and conn.c (the libevent side of the proxy).
 *
 * Threading model (docs/proxy.md, "Threads"): the main thread owns the listening socket, the
 * signals and the timers of the whole process; N worker threads each run their own event_base
 * and own the connections handed to them. A connection never moves between threads. What the
 * threads share is in px_shared, each part with its own lock (or atomic):
 *   log            one mutex; each line is formatted first and written with one call
 *   rs             resumable upload sessions: rs_mu guards the table and every session's
 *                  busy/broken/last/id fields; a busy session's cipher and fifo belong to the
 *                  one connection that made it busy (no lock while it streams)
 *   nconns         connections in the process (atomic; the limit is checked by the acceptor)
 *   next_id        connection ids (atomic)
 * and, each locked inside its own file: the leaf certificate cache (ca.c), the SQLite index
 * (index.c). The SSL_CTXs are shared (OpenSSL locks them); the upstream SSL_CTX and the config
 * are copied into each worker on SIGHUP, so a worker reads its own without locks.
 */
#ifndef IMGSEC_PROXY_SERVER_H
#define IMGSEC_PROXY_SERVER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>

#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "proxy.h"

struct conn;

typedef struct {
    pthread_mutex_t log_mu;
    FILE *log;      /* NULL: stderr */
    pthread_mutex_t rs_mu;
    px_rstable rs;  /* resumable upload sessions (resumable.c) */
    atomic_uint nconns;
    atomic_ulong next_id;
} px_shared;

/* One event loop: a worker thread's, or the main thread's (which has no connections). */
struct px_server {
    px_config cfg;    /* this thread's copy */
    px_shared *sh;
    struct event_base *base;
    struct evdns_base *dns;
    SSL_CTX *cli_ctx; /* we are the server (intercepted clients); shared */
    SSL_CTX *up_ctx;  /* we are the client (upstream); this thread's reference */
    px_ca *ca;        /* shared, locked inside */
    px_index *ix;     /* shared, locked inside */
    const isec_key *key;
    px_auth *auth;      /* this thread's copy of the users (auth-file), or NULL */
    atomic_uint nconns; /* connections of this worker (the acceptor counts them in) */
    int draining;
    struct conn *conns;
    /* worker thread */
    unsigned idx;
    pthread_t th;
    int started;
    int msg[2];          /* pipe: the main thread's messages (worker.c) */
    struct event *ev_msg;
    int done_fd;         /* written once when the worker's loop has ended */
};

/* conn.c */
void px_conn_global_init(void);
/* Takes over fd; on failure closes it and counts it out (px_server_conn_gone). */
void px_conn_accept(px_server *s, evutil_socket_t fd);
/* Draining: closes connections that are between requests; the rest close when done. */
void px_conn_drain_idle(px_server *s);
void px_conn_close_all(px_server *s);
/* ALPN etc. on the SSL_CTX that faces intercepted clients. */
void px_cli_ctx_setup(SSL_CTX *ctx);
/* Both SSL_CTXs: read-ahead with a PX_TLS_READ_BUF buffer (conn.c takes what it buffers). */
#define PX_TLS_READ_BUF (64u * 1024u)
void px_tls_ctx_tune(SSL_CTX *ctx);

/* server.c */
void px_log(px_server *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A connection of s is gone: counts it out (worker and process). */
void px_server_conn_gone(px_server *s);
SSL_CTX *px_make_upstream_ctx(const px_config *cfg, char *err, size_t errcap);

/* upsess.c: upstream TLS sessions kept for resumption, per upstream SSL_CTX (see there) */
#define PX_UPSESS_KEY 300 /* "host:port" */
int px_upsess_setup(SSL_CTX *ctx);
/* Before the handshake of an upstream connection to host:port (the name it is verified
 * against): names the connection's sessions and offers the newest one kept for that name.
 * 1 offered, 0 none, -1 out of memory. */
int px_upsess_attach(SSL *ssl, const char *host, unsigned port);
static inline void px_rs_lock(px_server *s) { pthread_mutex_lock(&s->sh->rs_mu); }
static inline void px_rs_unlock(px_server *s) { pthread_mutex_unlock(&s->sh->rs_mu); }

/* worker.c: messages from the main thread to a worker */
enum { PX_MSG_CONN = 1, PX_MSG_DRAIN, PX_MSG_STOP, PX_MSG_RELOAD };
/* Starts a worker thread on its own event_base (s: cfg, sh, shared pointers filled in; the
 * worker takes over s->cfg and s->up_ctx). Returns 0 or -1. */
int px_worker_start(px_server *s);
/* Sends a message (CONN: fd; RELOAD: cfg and up_ctx are taken over). Returns 0 or -1. */
int px_worker_send(px_server *s, int type, int fd, px_config *cfg, SSL_CTX *up);
void px_worker_join(px_server *s);
/* pipe(2) with close-on-exec on both ends; fd[] is -1 where it failed */
int px_pipe(int fd[2]);
/* A client being closed (refused at the door, or lingering after the proxy's last answer): reads
 * and drops what its non-blocking socket fd has, at most max bytes this call (so that a client
 * sending fast cannot hold the event loop). Returns the bytes dropped; *done = 1 if the client
 * has closed or the socket failed. */
size_t px_sock_drain(int fd, size_t max, int *done);

#endif

/* Shared between server.c and conn.c (the libevent side of the proxy). */
#ifndef IMGSEC_PROXY_SERVER_H
#define IMGSEC_PROXY_SERVER_H

#include <stdio.h>

#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "proxy.h"

struct conn;

struct px_server {
    px_config cfg;
    const char *config_path;
    const char *const *flags; /* name, value, ..., NULL: re-applied over the file on SIGHUP */
    struct event_base *base;
    struct evdns_base *dns;
    struct evconnlistener *lis;
    SSL_CTX *cli_ctx; /* we are the server (intercepted clients) */
    SSL_CTX *up_ctx;  /* we are the client (upstream) */
    px_ca *ca;
    px_index *ix;
    const isec_key *key;
    FILE *log;
    unsigned nconns;
    unsigned long next_id;
    int draining;
    struct conn *conns;
    struct event *ev_term, *ev_int, *ev_hup, *ev_drain, *ev_purge;
    px_rstable rs; /* resumable upload sessions (resumable.c) */
};

/* conn.c */
void px_conn_accept(px_server *s, evutil_socket_t fd, const struct sockaddr *sa, int salen);
/* Draining: closes connections that are between requests; the rest close when done. */
void px_conn_drain_idle(px_server *s);
void px_conn_close_all(px_server *s);
/* ALPN etc. on the SSL_CTX that faces intercepted clients. */
void px_cli_ctx_setup(SSL_CTX *ctx);

/* server.c */
void px_log(px_server *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void px_server_conn_gone(px_server *s);
SSL_CTX *px_make_upstream_ctx(const px_config *cfg, char *err, size_t errcap);

#endif

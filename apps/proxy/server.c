/* The proxy process: state directory, listener, connection limit, signals (SIGTERM/SIGINT drain,
 * SIGHUP reload), one log line per request.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <openssl/err.h>

#include "server.h"

void px_log(px_server *s, const char *fmt, ...)
{
    FILE *f = s->log ? s->log : stderr;
    char ts[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
    fprintf(f, "%s imgsec-proxy: ", ts);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fputc('\n', f);
    fflush(f);
}

static int mkdir_p(const char *dir)
{
    char buf[4096];
    if (strlen(dir) >= sizeof buf) return -1;
    strcpy(buf, dir);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(buf, 0700) != 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    if (mkdir(buf, 0700) != 0 && errno != EEXIST) return -1;
    return 0;
}

int px_state_init(const char *dir, char *err, size_t errcap)
{
    if (mkdir_p(dir) < 0) {
        snprintf(err, errcap, "%s: cannot create the state directory: %s", dir, strerror(errno));
        return -1;
    }
    char kp[4096];
    snprintf(kp, sizeof kp, "%s/key", dir);
    if (access(kp, F_OK) != 0) {
        int rc = isec_key_create_random(kp);
        if (rc < 0 && rc != ISEC_EEXIST) {
            snprintf(err, errcap, "%s: cannot create the key: %s", kp, isec_strerror(rc));
            return -1;
        }
    }
    px_ca *ca = NULL;
    if (px_ca_open(&ca, dir, err, errcap) < 0) return -1;
    px_ca_free(ca);
    return 0;
}

SSL_CTX *px_make_upstream_ctx(const px_config *cfg, char *err, size_t errcap)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) return NULL;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if (SSL_CTX_set_default_verify_paths(ctx) != 1) ERR_clear_error();
    if (cfg->upstream_ca && SSL_CTX_load_verify_locations(ctx, cfg->upstream_ca, NULL) != 1) {
        snprintf(err, errcap, "%s: cannot load upstream CA certificates", cfg->upstream_ca);
        SSL_CTX_free(ctx);
        return NULL;
    }
    static const unsigned char alpn[] = "\x08http/1.1";
    SSL_CTX_set_alpn_protos(ctx, alpn, sizeof alpn - 1);
    /* no read-ahead: libevent's SSL bufferevents would not see records OpenSSL buffered */
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    return ctx;
}

void px_server_conn_gone(px_server *s)
{
    s->nconns--;
    if (s->draining && s->nconns == 0) event_base_loopexit(s->base, NULL);
}

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
                      void *arg)
{
    (void)l;
    px_server *s = arg;
    if (s->draining) {
        evutil_closesocket(fd);
        return;
    }
    if (s->nconns >= s->cfg.max_connections) {
        static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
                                   "Connection: close\r\nRetry-After: 1\r\n\r\n";
        if (send(fd, busy, sizeof busy - 1, MSG_NOSIGNAL) < 0) { /* best effort */
        }
        evutil_closesocket(fd);
        px_log(s, "error=\"connection limit (%u) reached: refused a client\"", s->cfg.max_connections);
        return;
    }
    px_conn_accept(s, fd, sa, salen);
}

/* Config = defaults, then the file, then the flags (flags win). */
static int build_config(px_config *c, const char *path, const char *const *flags, char *err,
                        size_t errcap)
{
    px_config_defaults(c);
    if (path && px_config_load(c, path, err, errcap) < 0) return -1;
    int flag_targets = 0;
    for (size_t i = 0; flags && flags[i]; i += 2)
        if (!strcmp(flags[i], "target-host")) flag_targets = 1;
    if (flag_targets) px_config_set(c, "no-target-hosts", "", err, errcap);
    for (size_t i = 0; flags && flags[i]; i += 2)
        if (px_config_set(c, flags[i], flags[i + 1], err, errcap) < 0) return -1;
    return 0;
}

static void on_drain_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    px_server *s = arg;
    px_log(s, "drain timeout: closing %u connection(s)", s->nconns);
    event_base_loopexit(s->base, NULL);
}

static void on_term(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    px_server *s = arg;
    if (s->draining) {
        event_base_loopexit(s->base, NULL);
        return;
    }
    px_log(s, "signal %d: draining %u connection(s)", (int)sig, s->nconns);
    s->draining = 1;
    if (s->lis) {
        evconnlistener_free(s->lis);
        s->lis = NULL;
    }
    px_conn_drain_idle(s);
    if (s->nconns == 0) {
        event_base_loopexit(s->base, NULL);
        return;
    }
    struct timeval tv = {(time_t)s->cfg.drain_timeout_s, 0};
    evtimer_add(s->ev_drain, &tv);
}

static void on_purge(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    px_server *s = arg;
    unsigned n = px_rs_purge(&s->rs, time(NULL));
    if (n) px_log(s, "forgot %u idle resumable upload session(s) (upload-session-ttl)", n);
}

static void on_hup(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    px_server *s = arg;
    px_config n;
    char err[512];
    if (build_config(&n, s->config_path, s->flags, err, sizeof err) < 0) {
        px_log(s, "reload failed, keeping the old configuration: %s", err);
        px_config_free(&n);
        return;
    }
    SSL_CTX *up = px_make_upstream_ctx(&n, err, sizeof err);
    if (!up) {
        px_log(s, "reload failed, keeping the old configuration: %s", err);
        px_config_free(&n);
        return;
    }
    /* listen address and state dir stay: they need a restart */
    char *listen = s->cfg.listen, *state = s->cfg.state_dir;
    s->cfg.listen = s->cfg.state_dir = NULL;
    FILE *oldlog = s->log;
    px_config_free(&s->cfg);
    free(n.listen);
    free(n.state_dir);
    s->cfg = n;
    s->cfg.listen = listen;
    s->cfg.state_dir = state;
    SSL_CTX_free(s->up_ctx);
    s->up_ctx = up;
    s->rs.cap = s->cfg.upload_sessions;
    s->rs.ttl_s = s->cfg.upload_session_ttl_s;
    if (s->cfg.log_file) {
        FILE *f = fopen(s->cfg.log_file, "a");
        if (f) {
            if (oldlog) fclose(oldlog);
            s->log = f;
        }
    }
    px_log(s, "configuration reloaded (%zu target pattern(s)%s)", s->cfg.ntargets,
           s->cfg.targets_given ? "" : ", defaults");
}

int px_run(px_config *cfg_in, const char *config_path, const char *const *flags,
           const isec_key *key)
{
    px_server sv;
    memset(&sv, 0, sizeof sv);
    px_server *s = &sv;
    char err[512];
    int status = 1;
    s->cfg = *cfg_in;
    memset(cfg_in, 0, sizeof *cfg_in);
    s->config_path = config_path;
    s->flags = flags;
    s->key = key;
    px_rs_table_init(&s->rs, s->cfg.upload_sessions, s->cfg.upload_session_ttl_s);
    signal(SIGPIPE, SIG_IGN);
    if (s->cfg.log_file) {
        s->log = fopen(s->cfg.log_file, "a");
        if (!s->log) {
            fprintf(stderr, "imgsec: %s: %s\n", s->cfg.log_file, strerror(errno));
            goto out;
        }
    }
    if (px_ca_open(&s->ca, s->cfg.state_dir, err, sizeof err) < 0) {
        fprintf(stderr, "imgsec: %s\n", err);
        goto out;
    }
    char ip[4096];
    snprintf(ip, sizeof ip, "%s/index.sqlite", s->cfg.state_dir);
    if (px_index_open(&s->ix, ip, err, sizeof err) < 0) {
        fprintf(stderr, "imgsec: index: %s\n", err);
        goto out;
    }
    s->up_ctx = px_make_upstream_ctx(&s->cfg, err, sizeof err);
    s->cli_ctx = SSL_CTX_new(TLS_server_method());
    if (!s->up_ctx || !s->cli_ctx) {
        fprintf(stderr, "imgsec: TLS setup failed: %s\n", err);
        goto out;
    }
    SSL_CTX_set_min_proto_version(s->cli_ctx, TLS1_2_VERSION);
    SSL_CTX_set_mode(s->cli_ctx, SSL_MODE_RELEASE_BUFFERS);
    px_cli_ctx_setup(s->cli_ctx);
    s->base = event_base_new();
    s->dns = s->base ? evdns_base_new(s->base, EVDNS_BASE_INITIALIZE_NAMESERVERS) : NULL;
    if (!s->dns && s->base) s->dns = evdns_base_new(s->base, 0); /* no resolv.conf: IPs only */
    if (!s->base || !s->dns) {
        fprintf(stderr, "imgsec: event loop setup failed\n");
        goto out;
    }
    struct sockaddr_storage ss;
    int sl = (int)sizeof ss;
    if (!s->cfg.listen || evutil_parse_sockaddr_port(s->cfg.listen, (struct sockaddr *)&ss, &sl) < 0) {
        fprintf(stderr, "imgsec: --listen: expected ADDR:PORT, got '%s'\n",
                s->cfg.listen ? s->cfg.listen : "");
        status = 2;
        goto out;
    }
    s->lis = evconnlistener_new_bind(s->base, accept_cb, s,
                                      LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
                                      128, (struct sockaddr *)&ss, sl);
    if (!s->lis) {
        fprintf(stderr, "imgsec: cannot listen on %s: %s\n", s->cfg.listen, strerror(errno));
        goto out;
    }
    s->ev_term = evsignal_new(s->base, SIGTERM, on_term, s);
    s->ev_int = evsignal_new(s->base, SIGINT, on_term, s);
    s->ev_hup = evsignal_new(s->base, SIGHUP, on_hup, s);
    s->ev_drain = evtimer_new(s->base, on_drain_timeout, s);
    s->ev_purge = event_new(s->base, -1, EV_PERSIST, on_purge, s);
    if (!s->ev_term || !s->ev_int || !s->ev_hup || !s->ev_drain || !s->ev_purge) goto out;
    struct timeval ptv = {10, 0};
    evtimer_add(s->ev_purge, &ptv);
    evsignal_add(s->ev_term, NULL);
    evsignal_add(s->ev_int, NULL);
    evsignal_add(s->ev_hup, NULL);
    px_log(s, "listening on %s, state %s, %zu target pattern(s)%s", s->cfg.listen,
           s->cfg.state_dir, s->cfg.targets_given ? s->cfg.ntargets : (size_t)4,
           s->cfg.targets_given ? "" : " (defaults)");
    event_base_dispatch(s->base);
    px_log(s, "stopped");
    status = 0;
out:
    if (s->base) px_conn_close_all(s);
    if (s->lis) evconnlistener_free(s->lis);
    if (s->ev_term) event_free(s->ev_term);
    if (s->ev_int) event_free(s->ev_int);
    if (s->ev_hup) event_free(s->ev_hup);
    if (s->ev_drain) event_free(s->ev_drain);
    if (s->ev_purge) event_free(s->ev_purge);
    if (s->dns) evdns_base_free(s->dns, 0);
    if (s->base) event_base_free(s->base);
    SSL_CTX_free(s->up_ctx);
    SSL_CTX_free(s->cli_ctx);
    px_rs_table_free(&s->rs);
    px_index_close(s->ix);
    px_ca_free(s->ca);
    if (s->log) fclose(s->log);
    px_config_free(&s->cfg);
    return status;
}

int px_build_config(px_config *c, const char *path, const char *const *flags, char *err,
                    size_t errcap)
{
    return build_config(c, path, flags, err, errcap);
}

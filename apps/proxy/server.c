/* The proxy process: state directory, listener, worker threads, connection limit, signals
 * (SIGTERM/SIGINT drain, SIGHUP reload), one log line per request.
 *
 * The main thread accepts and hands each connection to the worker with the fewest (one
 * listener handing sockets over, rather than SO_REUSEPORT listeners per worker: the kernel's
 * hash spreads few long-lived connections unevenly, a worker closing its SO_REUSEPORT socket on
 * drain resets the connections still in its accept queue, and one acceptor checks the
 * connection limit in one place). Connections are long-lived (keep-alive, CONNECT), so one
 * pipe write per connection costs nothing measurable.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/thread.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "server.h"

#define MAX_WORKERS 64

void px_log(px_server *s, const char *fmt, ...)
{
    char line[2048];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    size_t n = strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%SZ imgsec-proxy: ", &tm);
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(line + n, sizeof line - n - 1, fmt, ap);
    va_end(ap);
    if (k < 0) k = 0;
    n += (size_t)k < sizeof line - n - 1 ? (size_t)k : sizeof line - n - 2;
    line[n++] = '\n';
    pthread_mutex_lock(&s->sh->log_mu);
    FILE *f = s->sh->log ? s->sh->log : stderr;
    fwrite(line, 1, n, f);
    fflush(f);
    pthread_mutex_unlock(&s->sh->log_mu);
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
    /* the photo key decrypts everything the proxy ever uploaded: refused like the CA key */
    if (px_private_file_check(kp, "the photo key", err, errcap) < 0) return -1;
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
    /* The worker threads verify against these certificates at once, and OpenSSL 3.0 fills a
     * certificate's extension cache on first use with a check of its flag outside the lock
     * (ThreadSanitizer reported the race in proxy.workers): fill them here, on one thread. */
    STACK_OF(X509_OBJECT) *objs = X509_STORE_get0_objects(SSL_CTX_get_cert_store(ctx));
    for (int i = 0; i < sk_X509_OBJECT_num(objs); i++) {
        X509 *x = X509_OBJECT_get0_X509(sk_X509_OBJECT_value(objs, i));
        if (x) X509_check_purpose(x, -1, 0);
    }
    static const unsigned char alpn[] = "\x08http/1.1";
    SSL_CTX_set_alpn_protos(ctx, alpn, sizeof alpn - 1);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    px_tls_ctx_tune(ctx); /* read-ahead: conn.c takes the records OpenSSL buffered */
    if (px_upsess_setup(ctx) < 0) {
        snprintf(err, errcap, "cannot set up the upstream TLS session cache");
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

void px_server_conn_gone(px_server *s)
{
    unsigned left = atomic_fetch_sub(&s->nconns, 1) - 1;
    atomic_fetch_sub(&s->sh->nconns, 1);
    if (s->draining && left == 0) event_base_loopexit(s->base, NULL);
}

/* The main thread. */
typedef struct {
    px_server s; /* its event loop and config */
    px_shared sh;
    const char *config_path;
    const char *const *flags; /* name, value, ..., NULL: re-applied over the file on SIGHUP */
    struct evconnlistener *lis;
    px_server *w;
    unsigned nw, rr, running;
    int done[2]; /* workers write one byte here when their loop has ended */
    struct event *ev_term, *ev_int, *ev_hup, *ev_drain, *ev_purge, *ev_done;
    struct refused *refused; /* refused clients still being read (refuse) */
    unsigned nrefused, refused_cap; /* (REFUSED_MAX, or less with few open files) */
    unsigned fd_cap;          /* client connections the open-files limit has room for */
    rlim_t nofile;            /* that limit */
    struct event *ev_accept;  /* accepting again after accept() failed (accept_error_cb) */
} px_main;

/* A refused client whose socket is read and dropped for a while before it is closed. */
struct refused {
    px_main *m;
    struct event *ev;
    evutil_socket_t fd;
    size_t got;
    time_t until;
    struct refused *next, *prev;
};

#define REFUSED_MAX 64                    /* clients read at once; more are closed at once */
#define REFUSED_SECONDS 2                 /* how long one is read at most */
#define REFUSED_BYTES (4u * 1024u * 1024u) /* how much of it is read at most */

static void refused_free(struct refused *r)
{
    px_main *m = r->m;
    if (r->prev) r->prev->next = r->next;
    else m->refused = r->next;
    if (r->next) r->next->prev = r->prev;
    m->nrefused--;
    event_free(r->ev);
    evutil_closesocket(r->fd);
    free(r);
}

static void refused_cb(evutil_socket_t fd, short what, void *arg)
{
    struct refused *r = arg;
    int done = 0;
    if (what & EV_READ) r->got += px_sock_drain(fd, REFUSED_BYTES - r->got, &done);
    time_t now = time(NULL);
    if ((what & EV_TIMEOUT) || done || r->got >= REFUSED_BYTES || now >= r->until) {
        refused_free(r);
        return;
    }
    struct timeval tv = {r->until - now, 0};
    event_add(r->ev, &tv);
}

/* Answers a client the proxy will not serve (the allow list, the connection limit) and closes
 * it. Closing a socket with unread input makes the kernel send a reset, which can destroy the
 * answer before the client reads it: a client that writes its request (a body, say, with curl -T
 * and no Expect) before reading saw "connection reset" instead of the 403. So the socket is shut
 * for writing after the answer, and what the client still sends is read and dropped until it
 * closes, for REFUSED_SECONDS and REFUSED_BYTES at most (the answer says Connection: close). */
static void refuse(px_main *m, evutil_socket_t fd, const char *answer, size_t len)
{
    if (send(fd, answer, len, MSG_NOSIGNAL) < 0 || shutdown(fd, SHUT_WR) < 0 ||
        m->nrefused >= m->refused_cap) {
        evutil_closesocket(fd);
        return;
    }
    struct refused *r = calloc(1, sizeof *r);
    if (!r || !(r->ev = event_new(m->s.base, fd, EV_READ, refused_cb, r))) {
        free(r);
        evutil_closesocket(fd);
        return;
    }
    r->m = m;
    r->fd = fd;
    r->until = time(NULL) + REFUSED_SECONDS;
    r->next = m->refused;
    if (r->next) r->next->prev = r;
    m->refused = r;
    m->nrefused++;
    struct timeval tv = {REFUSED_SECONDS, 0};
    event_add(r->ev, &tv);
}

static void stop_workers(px_main *m, int type)
{
    for (unsigned i = 0; i < m->nw; i++)
        if (m->w[i].started) px_worker_send(&m->w[i], type, -1, NULL, NULL);
}

/* Open files beyond two per client connection (the client's socket and the upstream's): a
 * name lookup's netlink socket (upstream-self), a log file reopened on SIGHUP, the index's
 * journal, certificate files read on SIGHUP */
#define FD_SLACK 32

/* The open-files limit: the soft one raised as far as the hard one allows (2^20 at most), for a
 * client connection takes two. Returns the limit in force. */
static rlim_t raise_nofile(void)
{
    struct rlimit r;
    const rlim_t most = (rlim_t)1 << 20;
    if (getrlimit(RLIMIT_NOFILE, &r) != 0) return 1024;
    rlim_t want = r.rlim_max == RLIM_INFINITY || r.rlim_max > most ? most : r.rlim_max;
    if (r.rlim_cur != RLIM_INFINITY && r.rlim_cur < want) {
        rlim_t was = r.rlim_cur;
        r.rlim_cur = want;
        if (setrlimit(RLIMIT_NOFILE, &r) != 0) r.rlim_cur = was;
    }
    return r.rlim_cur == RLIM_INFINITY ? most : r.rlim_cur;
}

/* Files open now (/proc/self/fd; 64 if it cannot be read). */
static unsigned open_files(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d) return 64;
    unsigned n = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n > 0 ? n - 1 : 0; /* not the directory's own */
}

/* The connection limit in force: max-connections, or less where the open-files limit has no
 * room for that many (said in the log at start and on SIGHUP). */
static unsigned conn_limit(const px_main *m)
{
    return m->s.cfg.max_connections < m->fd_cap ? m->s.cfg.max_connections : m->fd_cap;
}

static void note_fd_cap(px_main *m)
{
    if (m->s.cfg.max_connections > m->fd_cap)
        px_log(&m->s, "open files limit %llu leaves room for %u client connections: max-connections "
               "%u is lowered to that (raise it with ulimit -n, or LimitNOFILE= under systemd)",
               (unsigned long long)m->nofile, m->fd_cap, m->s.cfg.max_connections);
}

/* accept() failed for want of something (EMFILE, ENFILE, ENOBUFS...; libevent retries the
 * transient errors itself): the connection waits in the kernel's queue, so the listener would
 * be woken at once, again and again. Stop accepting for a second instead, and say so once. */
static void accept_error_cb(struct evconnlistener *l, void *arg)
{
    px_main *m = arg;
    int e = EVUTIL_SOCKET_ERROR();
    px_log(&m->s, "error=\"accept: %s: not accepting for 1 s\"", evutil_socket_error_to_string(e));
    evconnlistener_disable(l);
    struct timeval tv = {1, 0};
    evtimer_add(m->ev_accept, &tv);
}

static void on_accept_again(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    px_main *m = arg;
    if (m->lis && !m->s.draining) evconnlistener_enable(m->lis);
}

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
                      void *arg)
{
    (void)l;
    (void)salen;
    px_main *m = arg;
    px_server *s = &m->s;
    if (s->draining) {
        evutil_closesocket(fd);
        return;
    }
    if (!px_config_client_allowed(&s->cfg, sa)) {
        static const char no[] = "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\n"
                                 "Content-Length: 60\r\nConnection: close\r\n\r\n"
                                 "imgsec proxy: this client address is not in the allow list.\n";
        /* logged before the answer is sent: a client that has read it finds the line there */
        char a[INET6_ADDRSTRLEN];
        px_log(s, "error=\"client %s is not in the allow list: refused\"", px_addr_text(sa, a, sizeof a));
        refuse(m, fd, no, sizeof no - 1);
        return;
    }
    unsigned limit = conn_limit(m);
    if (atomic_load(&m->sh.nconns) >= limit) {
        static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
                                   "Connection: close\r\nRetry-After: 1\r\n\r\n";
        px_log(s, "error=\"connection limit (%u) reached: refused a client\"", limit);
        refuse(m, fd, busy, sizeof busy - 1);
        return;
    }
    /* the worker with the fewest connections; ties in turn */
    unsigned best = m->rr++ % m->nw, bn = atomic_load(&m->w[best].nconns);
    for (unsigned k = 1; k < m->nw; k++) {
        unsigned i = (best + k) % m->nw, n = atomic_load(&m->w[i].nconns);
        if (n < bn) {
            best = i;
            bn = n;
        }
    }
    px_server *w = &m->w[best];
    atomic_fetch_add(&w->nconns, 1);
    atomic_fetch_add(&m->sh.nconns, 1);
    if (px_worker_send(w, PX_MSG_CONN, fd, NULL, NULL) < 0) {
        evutil_closesocket(fd);
        px_server_conn_gone(w);
    }
}

/* Config = defaults, then the file, then the flags (flags win). */

static void on_drain_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    px_main *m = arg;
    px_log(&m->s, "drain timeout: closing %u connection(s)", atomic_load(&m->sh.nconns));
    stop_workers(m, PX_MSG_STOP);
}

/* A worker's loop has ended; when all have, so does the main loop. */
static void on_done(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    px_main *m = arg;
    char b[MAX_WORKERS];
    ssize_t n = read(fd, b, sizeof b);
    if (n > 0) m->running -= (unsigned)n < m->running ? (unsigned)n : m->running;
    if (m->running == 0) event_base_loopexit(m->s.base, NULL);
}

static void on_term(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    px_main *m = arg;
    px_server *s = &m->s;
    if (s->draining) { /* a second signal: stop now */
        stop_workers(m, PX_MSG_STOP);
        return;
    }
    px_log(s, "signal %d: draining %u connection(s)", (int)sig, atomic_load(&m->sh.nconns));
    s->draining = 1;
    if (m->lis) {
        evconnlistener_free(m->lis);
        m->lis = NULL;
    }
    stop_workers(m, PX_MSG_DRAIN);
    struct timeval tv = {(time_t)s->cfg.drain_timeout_s, 0};
    evtimer_add(m->ev_drain, &tv);
}

static void on_purge(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    px_main *m = arg;
    px_rs_lock(&m->s);
    unsigned n = px_rs_purge(&m->sh.rs, time(NULL));
    px_rs_unlock(&m->s);
    if (n) px_log(&m->s, "forgot %u idle resumable upload session(s) (upload-session-ttl)", n);
}

static void on_hup(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    px_main *m = arg;
    px_server *s = &m->s;
    px_config n;
    char err[512];
    if (px_build_config(&n, m->config_path, m->flags, err, sizeof err) < 0) {
        px_log(s, "reload failed, keeping the old configuration: %s", err);
        px_config_free(&n);
        return;
    }
    if (n.auth_file) { /* a file the workers could not load: the old configuration stays */
        px_auth *a = NULL;
        if (px_auth_load(&a, n.auth_file, err, sizeof err) < 0) {
            px_log(s, "reload failed, keeping the old configuration: %s", err);
            px_config_free(&n);
            return;
        }
        px_auth_free(a);
    }
    SSL_CTX *up = px_make_upstream_ctx(&n, err, sizeof err);
    if (!up) {
        px_log(s, "reload failed, keeping the old configuration: %s", err);
        px_config_free(&n);
        return;
    }
    /* listen address, state dir and workers stay: they need a restart */
    if (px_config_keep_static(&n, &s->cfg) < 0) {
        px_log(s, "reload failed, keeping the old configuration: out of memory");
        px_config_free(&n);
        SSL_CTX_free(up);
        return;
    }
    FILE *newlog = NULL;
    if (n.log_file && !(newlog = fopen(n.log_file, "a"))) {
        px_log(s, "reload: cannot open %s (%s): logging on where it was", n.log_file, strerror(errno));
    }
    /* every worker gets its own copy; the old ones are freed by their owners */
    int bad = 0;
    for (unsigned i = 0; i < m->nw; i++) {
        px_config c;
        if (px_config_copy(&c, &n) < 0) {
            bad = 1;
            continue;
        }
        SSL_CTX_up_ref(up);
        if (px_worker_send(&m->w[i], PX_MSG_RELOAD, -1, &c, up) < 0) bad = 1;
    }
    px_config_free(&s->cfg);
    s->cfg = n;
    SSL_CTX_free(s->up_ctx);
    s->up_ctx = up;
    note_fd_cap(m);
    px_rs_lock(s);
    m->sh.rs.cap = s->cfg.upload_sessions;
    m->sh.rs.ttl_s = s->cfg.upload_session_ttl_s;
    px_rs_unlock(s);
    if (newlog) {
        pthread_mutex_lock(&m->sh.log_mu);
        FILE *old = m->sh.log;
        m->sh.log = newlog;
        pthread_mutex_unlock(&m->sh.log_mu);
        if (old) fclose(old);
    }
    px_log(s, "configuration reloaded (%zu target pattern(s)%s)%s", s->cfg.ntargets,
           s->cfg.targets_given ? "" : ", defaults",
           bad ? "; out of memory: some workers kept the old one" : "");
}

static unsigned worker_count(const px_config *c)
{
    if (c->workers) return c->workers;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1) n = 1;
    return n > MAX_WORKERS ? MAX_WORKERS : (unsigned)n;
}

/* glibc's malloc, left to itself, served the relay's buffers (evbuffer chains of 64-256 KiB,
 * OpenSSL's 64 KiB read-ahead buffers, all allocated and freed thousands of times a second) from
 * fresh mmap()s or from heap tops it had just trimmed: 130-240 page faults per MB relayed, ~20%
 * of the proxy's CPU. Fixed limits instead (which also stop glibc's dynamic threshold): blocks
 * under 1 MiB come from the heap, and a thread's heap keeps up to 8 MiB free at its top. Peak
 * RSS is what the live buffers need either way; only the return of memory after a burst waits. */
static void tune_malloc(void)
{
#ifdef __GLIBC__
    mallopt(M_MMAP_THRESHOLD, 1024 * 1024);
    mallopt(M_TRIM_THRESHOLD, 8 * 1024 * 1024);
#endif
}

int px_run(px_config *cfg_in, const char *config_path, const char *const *flags,
           const isec_key *key)
{
    tune_malloc();
    px_main *m = calloc(1, sizeof *m);
    if (!m) return 1;
    px_server *s = &m->s;
    char err[512];
    int status = 1;
    m->done[0] = m->done[1] = -1;
    pthread_mutex_init(&m->sh.log_mu, NULL);
    pthread_mutex_init(&m->sh.rs_mu, NULL);
    s->sh = &m->sh;
    s->cfg = *cfg_in;
    memset(cfg_in, 0, sizeof *cfg_in);
    m->config_path = config_path;
    m->flags = flags;
    s->key = key;
    px_rs_table_init(&m->sh.rs, s->cfg.upload_sessions, s->cfg.upload_session_ttl_s);
    signal(SIGPIPE, SIG_IGN);
    m->nofile = raise_nofile();
    /* several event_bases in one process: libevent's global parts need its locks */
    if (evthread_use_pthreads() != 0) {
        fprintf(stderr, "imgsec: libevent without thread support\n");
        goto out;
    }
    px_conn_global_init();
    if (s->cfg.log_file) {
        m->sh.log = fopen(s->cfg.log_file, "a");
        if (!m->sh.log) {
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
    if (!s->base || px_pipe(m->done) < 0) {
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
    if (s->cfg.auth_file) { /* (each worker loads its copy; say here why it cannot) */
        px_auth *a = NULL;
        char aerr[512];
        if (px_auth_load(&a, s->cfg.auth_file, aerr, sizeof aerr) < 0) {
            fprintf(stderr, "imgsec: %s\n", aerr);
            status = 2;
            goto out;
        }
        px_auth_free(a);
    }
    if (s->cfg.hosts_file) { /* (each worker's resolver loads it; say here why it cannot) */
        FILE *hf = fopen(s->cfg.hosts_file, "r");
        if (!hf) {
            fprintf(stderr, "imgsec: hosts-file %s: %s\n", s->cfg.hosts_file, strerror(errno));
            status = 2;
            goto out;
        }
        fclose(hf);
    }
    /* the workers: each its own event loop, config copy and upstream SSL_CTX reference */
    m->nw = worker_count(&s->cfg);
    m->w = calloc(m->nw, sizeof *m->w);
    if (!m->w) goto out;
    for (unsigned i = 0; i < m->nw; i++) m->w[i].msg[0] = m->w[i].msg[1] = -1;
    for (unsigned i = 0; i < m->nw; i++) {
        px_server *w = &m->w[i];
        w->idx = i;
        w->sh = &m->sh;
        w->cli_ctx = s->cli_ctx;
        w->ca = s->ca;
        w->ix = s->ix;
        w->key = key;
        w->done_fd = m->done[1];
        if (px_config_copy(&w->cfg, &s->cfg) < 0 || SSL_CTX_up_ref(s->up_ctx) != 1) {
            fprintf(stderr, "imgsec: out of memory\n");
            goto out;
        }
        w->up_ctx = s->up_ctx;
        if (px_worker_start(w) < 0) {
            fprintf(stderr, "imgsec: cannot start worker thread %u\n", i);
            goto out;
        }
        m->running++;
    }
    m->lis = evconnlistener_new_bind(s->base, accept_cb, m,
                                      LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
                                      128, (struct sockaddr *)&ss, sl);
    if (!m->lis) {
        fprintf(stderr, "imgsec: cannot listen on %s: %s\n", s->cfg.listen, strerror(errno));
        goto out;
    }
    evconnlistener_set_error_cb(m->lis, accept_error_cb);
    /* what is open now stays open; of the rest, refused clients being read may take a quarter
     * (REFUSED_MAX at most), and each client connection two */
    rlim_t used = open_files() + FD_SLACK, room = m->nofile > used ? m->nofile - used : 0;
    m->refused_cap = room / 4 < REFUSED_MAX ? (unsigned)(room / 4) : REFUSED_MAX;
    room -= m->refused_cap;
    m->fd_cap = room / 2 > 1 ? (room / 2 < UINT_MAX ? (unsigned)(room / 2) : UINT_MAX) : 1;
    m->ev_term = evsignal_new(s->base, SIGTERM, on_term, m);
    m->ev_int = evsignal_new(s->base, SIGINT, on_term, m);
    m->ev_hup = evsignal_new(s->base, SIGHUP, on_hup, m);
    m->ev_drain = evtimer_new(s->base, on_drain_timeout, m);
    m->ev_purge = event_new(s->base, -1, EV_PERSIST, on_purge, m);
    m->ev_done = event_new(s->base, m->done[0], EV_READ | EV_PERSIST, on_done, m);
    m->ev_accept = evtimer_new(s->base, on_accept_again, m);
    if (!m->ev_term || !m->ev_int || !m->ev_hup || !m->ev_drain || !m->ev_purge || !m->ev_done ||
        !m->ev_accept)
        goto out;
    struct timeval ptv = {10, 0};
    evtimer_add(m->ev_purge, &ptv);
    event_add(m->ev_done, NULL);
    evsignal_add(m->ev_term, NULL);
    evsignal_add(m->ev_int, NULL);
    evsignal_add(m->ev_hup, NULL);
    px_log(s, "listening on %s, state %s, %zu target pattern(s)%s, %u worker thread(s)",
           s->cfg.listen, s->cfg.state_dir, s->cfg.targets_given ? s->cfg.ntargets : (size_t)4,
           s->cfg.targets_given ? "" : " (defaults)", m->nw);
    if (s->cfg.auth_file) {
        px_auth *a = NULL;
        char aerr[512];
        if (px_auth_load(&a, s->cfg.auth_file, aerr, sizeof aerr) == 0)
            px_log(s, "proxy users: %zu (auth-file %s): clients must give one's name and password",
                   px_auth_count(a), s->cfg.auth_file);
        px_auth_free(a);
    }
    char fp[96];
    px_ca_fingerprint(px_ca_cert(s->ca), fp);
    px_log(s, "CA certificate %s/ca.pem, SHA-256 fingerprint %s (setup page: http://ADDR:PORT/)",
           s->cfg.state_dir, fp);
    if (s->cfg.ndns) {
        char ns[PX_MAX_DNS * 64] = "";
        for (size_t i = 0; i < s->cfg.ndns; i++)
            snprintf(ns + strlen(ns), sizeof ns - strlen(ns), "%s%.60s", i ? ", " : "", s->cfg.dns[i]);
        px_log(s, "name servers: %s (dns-server; /etc/resolv.conf not used)", ns);
    }
    note_fd_cap(m);
    event_base_dispatch(s->base);
    px_log(s, "stopped");
    status = 0;
out:
    if (m->lis) evconnlistener_free(m->lis);
    m->lis = NULL;
    stop_workers(m, PX_MSG_STOP); /* no-op after a drain: their loops have ended */
    for (unsigned i = 0; m->w && i < m->nw; i++) px_worker_join(&m->w[i]);
    free(m->w);
    while (m->refused) refused_free(m->refused);
    if (m->ev_term) event_free(m->ev_term);
    if (m->ev_int) event_free(m->ev_int);
    if (m->ev_hup) event_free(m->ev_hup);
    if (m->ev_drain) event_free(m->ev_drain);
    if (m->ev_purge) event_free(m->ev_purge);
    if (m->ev_done) event_free(m->ev_done);
    if (m->ev_accept) event_free(m->ev_accept);
    if (s->base) event_base_free(s->base);
    for (int i = 0; i < 2; i++)
        if (m->done[i] >= 0) close(m->done[i]);
    SSL_CTX_free(s->up_ctx);
    SSL_CTX_free(s->cli_ctx);
    px_rs_table_free(&m->sh.rs);
    px_index_close(s->ix);
    px_ca_free(s->ca);
    if (m->sh.log) fclose(m->sh.log);
    px_config_free(&s->cfg);
    pthread_mutex_destroy(&m->sh.log_mu);
    pthread_mutex_destroy(&m->sh.rs_mu);
    free(m);
    return status;
}


/* Worker threads: each runs its own event_base with the connections the main thread hands it
 * (server.c accepts, picks the worker with the fewest connections, and sends the socket over
 * this worker's pipe). Messages, in order: a new connection, drain (SIGTERM: close idle
 * connections, end the loop when the last one is gone), stop (end the loop now), reload
 * (SIGHUP: a fresh copy of the config and upstream SSL_CTX).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/dns.h>

#include "server.h"

typedef struct {
    int type;
    int fd;
    void *p;
} px_msg;

typedef struct {
    px_config cfg;
    SSL_CTX *up;
} px_reload;

static void reload_free(px_reload *r)
{
    if (!r) return;
    px_config_free(&r->cfg);
    SSL_CTX_free(r->up);
    free(r);
}

/* A message that will not be handled (the loop has ended): release what it carries. */
static void msg_drop(px_server *s, const px_msg *m)
{
    if (m->type == PX_MSG_CONN) {
        close(m->fd);
        px_server_conn_gone(s);
    } else if (m->type == PX_MSG_RELOAD) {
        reload_free(m->p);
    }
}

static void on_msg(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    px_server *s = arg;
    px_msg m;
    for (;;) {
        ssize_t n = read(fd, &m, sizeof m);
        if (n < 0 && errno == EINTR) continue;
        if (n != (ssize_t)sizeof m) return; /* EAGAIN (writes of one message are atomic) */
        switch (m.type) {
        case PX_MSG_CONN:
            if (s->draining) msg_drop(s, &m);
            else px_conn_accept(s, m.fd);
            break;
        case PX_MSG_DRAIN:
            s->draining = 1;
            px_conn_drain_idle(s);
            if (atomic_load(&s->nconns) == 0) event_base_loopexit(s->base, NULL);
            break;
        case PX_MSG_STOP:
            event_base_loopexit(s->base, NULL);
            break;
        case PX_MSG_RELOAD: {
            px_reload *r = m.p;
            /* the users as the file says now (the main thread has read it once already) */
            px_auth *na = NULL;
            char err[256];
            if (r->cfg.auth_file && px_auth_load(&na, r->cfg.auth_file, err, sizeof err) < 0) {
                px_log(s, "reload: %s: keeping the users this thread had", err);
                na = s->auth;
                s->auth = NULL;
            }
            px_auth_free(s->auth);
            s->auth = na;
            px_config_free(&s->cfg);
            s->cfg = r->cfg;
            memset(&r->cfg, 0, sizeof r->cfg);
            SSL_CTX_free(s->up_ctx);
            s->up_ctx = r->up;
            r->up = NULL;
            reload_free(r);
            break;
        }
        default: break;
        }
    }
}

static void *worker_main(void *arg)
{
    px_server *s = arg;
    event_base_dispatch(s->base);
    px_conn_close_all(s);
    /* what is still in the pipe: sockets handed over after the loop ended */
    px_msg m;
    while (read(s->msg[0], &m, sizeof m) == (ssize_t)sizeof m) msg_drop(s, &m);
    /* Lookups cancelled by the closes above end in callbacks libevent defers to the loop, and
     * each frees its request there: one more round runs them (nothing else is left on it). */
    event_del(s->ev_msg);
    event_base_loop(s->base, EVLOOP_NONBLOCK);
    char one = 1;
    if (write(s->done_fd, &one, 1) != 1) { /* the main thread then waits in join */
    }
    return NULL;
}

size_t px_sock_drain(int fd, size_t max, int *done)
{
    char buf[16384];
    size_t got = 0;
    *done = 0;
    while (got < max) {
        ssize_t n = recv(fd, buf, max - got < sizeof buf ? max - got : sizeof buf, 0);
        if (n > 0) {
            got += (size_t)n;
            continue;
        }
        *done = n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
        break;
    }
    return got;
}

int px_pipe(int fd[2])
{
    fd[0] = fd[1] = -1;
    if (pipe(fd) != 0) return -1;
    for (int i = 0; i < 2; i++)
        if (fcntl(fd[i], F_SETFD, FD_CLOEXEC) != 0) return -1;
    return 0;
}

int px_worker_start(px_server *s)
{
    if (px_pipe(s->msg) < 0) return -1;
    if (fcntl(s->msg[0], F_SETFL, O_NONBLOCK) != 0) return -1;
    s->base = event_base_new();
    if (!s->base) return -1;
    s->dns = s->cfg.ndns ? NULL : evdns_base_new(s->base, EVDNS_BASE_INITIALIZE_NAMESERVERS);
    if (!s->dns) { /* dns-server given, or no resolv.conf (then: /etc/hosts and IPs only) */
        if (!(s->dns = evdns_base_new(s->base, 0))) return -1;
        evdns_base_load_hosts(s->dns, NULL); /* /etc/hosts, as resolv.conf's parse loads it */
        for (size_t i = 0; i < s->cfg.ndns; i++)
            if (evdns_base_nameserver_ip_add(s->dns, s->cfg.dns[i]) != 0) return -1;
    }
    if (s->cfg.hosts_file && evdns_base_load_hosts(s->dns, s->cfg.hosts_file) != 0) return -1;
    char err[256];
    if (s->cfg.auth_file && px_auth_load(&s->auth, s->cfg.auth_file, err, sizeof err) < 0) return -1;
    s->ev_msg = event_new(s->base, s->msg[0], EV_READ | EV_PERSIST, on_msg, s);
    if (!s->ev_msg || event_add(s->ev_msg, NULL) != 0) return -1;
    /* signals go to the main thread only */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int rc = pthread_create(&s->th, NULL, worker_main, s);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) return -1;
    s->started = 1;
    return 0;
}

int px_worker_send(px_server *s, int type, int fd, px_config *cfg, SSL_CTX *up)
{
    px_msg m = {type, fd, NULL};
    if (type == PX_MSG_RELOAD) {
        px_reload *r = calloc(1, sizeof *r);
        if (!r) return -1;
        r->cfg = *cfg;
        memset(cfg, 0, sizeof *cfg);
        r->up = up;
        m.p = r;
    }
    for (;;) {
        ssize_t n = write(s->msg[1], &m, sizeof m);
        if (n == (ssize_t)sizeof m) return 0;
        if (n < 0 && errno == EINTR) continue;
        if (type == PX_MSG_RELOAD) reload_free(m.p);
        return -1;
    }
}

/* After the thread has ended (or if it never started): frees the worker's own parts. */
void px_worker_join(px_server *s)
{
    if (s->started) pthread_join(s->th, NULL);
    s->started = 0;
    if (s->ev_msg) event_free(s->ev_msg);
    if (s->dns) evdns_base_free(s->dns, 0);
    if (s->base) event_base_free(s->base);
    s->ev_msg = NULL;
    s->dns = NULL;
    s->base = NULL;
    for (int i = 0; i < 2; i++)
        if (s->msg[i] >= 0) close(s->msg[i]);
    s->msg[0] = s->msg[1] = -1;
    SSL_CTX_free(s->up_ctx);
    s->up_ctx = NULL;
    px_auth_free(s->auth);
    s->auth = NULL;
    px_config_free(&s->cfg);
}

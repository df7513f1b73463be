/* A small blocking HTTP/1.1 client for `imgsec vcs verify/split --server`: one POST per
 * connection (Connection: close), over TCP (http://host:port) or a Unix socket (unix:/path).
 * No TLS: the report's attestation, not the channel, is what a client trusts (docs/verifier.md). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "verifier.h"

#define MAX_HEAD 16384

static int err(vf_http_resp *r, int rc, const char *fmt, const char *a)
{
    snprintf(r->err, sizeof r->err, fmt, a);
    return rc;
}

/* Wait for fd to become ready for ev until deadline; 0 ok, -1 timeout or error. */
static int wait_fd(int fd, short ev, time_t deadline)
{
    for (;;) {
        time_t now = time(NULL);
        if (now >= deadline) return -1;
        struct pollfd p = {fd, ev, 0};
        int n = poll(&p, 1, (int)(deadline - now) * 1000);
        if (n < 0 && errno == EINTR) continue;
        return n > 0 ? 0 : -1;
    }
}

static int connect_url(const char *url, char *host, size_t hostcap, const char **prefix,
                       time_t deadline, vf_http_resp *r)
{
    int fd = -1;
    *prefix = "";
    if (!strncmp(url, "unix:", 5)) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        if (strlen(url + 5) >= sizeof sa.sun_path || !url[5])
            return err(r, ISEC_EINVAL, "bad unix socket path in '%s'", url);
        strcpy(sa.sun_path, url + 5);
        snprintf(host, hostcap, "localhost");
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
            if (fd >= 0) close(fd);
            return err(r, ISEC_EIO, "cannot connect to %s", url);
        }
        return fd;
    }
    if (strncmp(url, "http://", 7)) return err(r, ISEC_EINVAL, "URL '%s': use http://HOST:PORT or unix:/PATH", url);
    const char *h = url + 7, *slash = strchr(h, '/');
    size_t hl = slash ? (size_t)(slash - h) : strlen(h);
    if (slash) *prefix = slash;
    char hp[300], *port;
    if (!hl || hl >= sizeof hp) return err(r, ISEC_EINVAL, "bad host in '%s'", url);
    memcpy(hp, h, hl);
    hp[hl] = 0;
    snprintf(host, hostcap, "%s", hp);
    char *hn = hp;
    if (hp[0] == '[') { /* [v6]:port */
        char *e = strchr(hp, ']');
        if (!e || e[1] != ':') return err(r, ISEC_EINVAL, "bad host in '%s'", url);
        *e = 0;
        hn = hp + 1;
        port = e + 2;
    } else {
        port = strrchr(hp, ':');
        if (!port) return err(r, ISEC_EINVAL, "URL '%s' needs a port", url);
        *port++ = 0;
    }
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
    if (getaddrinfo(hn, port, &hints, &ai) != 0 || !ai) return err(r, ISEC_EIO, "cannot resolve '%s'", url);
    for (struct addrinfo *a = ai; a; a = a->ai_next) {
        fd = socket(a->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) continue;
        int rc = connect(fd, a->ai_addr, a->ai_addrlen);
        if (rc != 0 && errno == EINPROGRESS && wait_fd(fd, POLLOUT, deadline) == 0) {
            int e = 0;
            socklen_t el = sizeof e;
            rc = getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) == 0 && e == 0 ? 0 : -1;
        }
        if (rc == 0) break;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    if (fd < 0) return err(r, ISEC_EIO, "cannot connect to %s", url);
    return fd;
}

static int send_all(int fd, const uint8_t *p, size_t n, time_t deadline)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (wait_fd(fd, POLLOUT, deadline)) return -1;
            continue;
        }
        if (w <= 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int vf_http_post(const char *url, const char *path, const char *ctype, const uint8_t *body,
                 size_t len, size_t max_resp, int timeout_s, vf_http_resp *r)
{
    memset(r, 0, sizeof *r);
    time_t deadline = time(NULL) + timeout_s;
    char host[300];
    const char *prefix;
    int fd = connect_url(url, host, sizeof host, &prefix, deadline, r);
    if (fd < 0) return fd;
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    char head[1024];
    int hn = snprintf(head, sizeof head,
                      "POST %s%s HTTP/1.1\r\nHost: %s\r\nUser-Agent: imgsec\r\nConnection: close\r\n"
                      "Content-Type: %s\r\nContent-Length: %zu\r\n\r\n",
                      strcmp(prefix, "/") ? prefix : "", path, host, ctype, len);
    int rc = 0;
    if (hn < 0 || (size_t)hn >= sizeof head) rc = err(r, ISEC_EINVAL, "%s", "request head too long");
    else if (send_all(fd, (const uint8_t *)head, (size_t)hn, deadline) || send_all(fd, body, len, deadline))
        rc = err(r, ISEC_EIO, "sending to %s failed (server closed or timed out)", url);
    size_t cap = MAX_HEAD + max_resp, n = 0, alloc = 65536;
    uint8_t *buf = rc ? NULL : malloc(alloc);
    if (!rc && !buf) rc = ISEC_ENOMEM;
    while (!rc) {
        if (n == alloc) {
            if (alloc >= cap) {
                rc = err(r, ISEC_ELIMIT, "%s", "response too large");
                break;
            }
            size_t na = alloc * 2 > cap ? cap : alloc * 2;
            uint8_t *nb = realloc(buf, na);
            if (!nb) {
                rc = ISEC_ENOMEM;
                break;
            }
            buf = nb;
            alloc = na;
        }
        ssize_t g = recv(fd, buf + n, alloc - n, 0);
        if (g < 0 && errno == EINTR) continue;
        if (g < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (wait_fd(fd, POLLIN, deadline)) rc = err(r, ISEC_EIO, "%s", "timed out waiting for the server");
            continue;
        }
        if (g < 0) rc = err(r, ISEC_EIO, "%s", "connection reset while reading the response");
        if (g <= 0) break;
        n += (size_t)g;
    }
    close(fd);
    if (!rc && vf_http_parse_resp(buf, n, max_resp, r)) rc = ISEC_EFORMAT;
    free(buf);
    return rc;
}

int vf_http_parse_resp(const uint8_t *buf, size_t len, size_t max_body, vf_http_resp *r)
{
    r->status = 0;
    r->ctype[0] = 0;
    r->body = NULL;
    r->body_len = 0;
    size_t hmax = len < MAX_HEAD ? len : MAX_HEAD;
    const uint8_t *he = buf ? memmem(buf, hmax, "\r\n\r\n", 4) : NULL;
    if (!he) return err(r, ISEC_EFORMAT, "%s", "malformed HTTP response (no complete head)");
    size_t hl = (size_t)(he - buf);
    char head[MAX_HEAD + 1];
    memcpy(head, buf, hl);
    head[hl] = 0;
    if (strlen(head) != hl || strncmp(head, "HTTP/1.", 7) || hl < 12 || head[8] != ' ')
        return err(r, ISEC_EFORMAT, "%s", "malformed HTTP status line");
    int st = 0;
    for (int i = 9; i < 12; i++) {
        if (head[i] < '0' || head[i] > '9') return err(r, ISEC_EFORMAT, "%s", "malformed HTTP status");
        st = st * 10 + head[i] - '0';
    }
    if (st < 100) return err(r, ISEC_EFORMAT, "%s", "malformed HTTP status");
    long long clen = -1;
    for (char *line = strstr(head, "\r\n"); line; line = strstr(line, "\r\n")) {
        line += 2;
        if (!strncasecmp(line, "content-length:", 15)) {
            char *e;
            errno = 0;
            clen = strtoll(line + 15, &e, 10);
            if (errno || clen < 0 || (*e && *e != '\r'))
                return err(r, ISEC_EFORMAT, "%s", "bad Content-Length");
        } else if (!strncasecmp(line, "content-type:", 13)) {
            const char *v = line + 13;
            while (*v == ' ') v++;
            size_t vl = strcspn(v, "\r");
            if (vl >= sizeof r->ctype) return err(r, ISEC_EFORMAT, "%s", "Content-Type too long");
            memcpy(r->ctype, v, vl);
            r->ctype[vl] = 0;
        } else if (!strncasecmp(line, "transfer-encoding:", 18))
            return err(r, ISEC_EUNSUPPORTED, "%s", "chunked responses are not expected from the verifier");
    }
    size_t blen = len - hl - 4;
    if (clen >= 0) {
        if ((unsigned long long)clen > blen) return err(r, ISEC_ETRUNC, "%s", "response body truncated");
        blen = (size_t)clen;
    }
    if (blen > max_body) return err(r, ISEC_ELIMIT, "%s", "response body too large");
    r->body = malloc(blen + 1); /* NUL-terminated for messages; body_len is the length */
    if (!r->body) return ISEC_ENOMEM;
    memcpy(r->body, he + 4, blen);
    r->body[blen] = 0;
    r->body_len = blen;
    r->status = st;
    return 0;
}

void vf_http_resp_clear(vf_http_resp *r)
{
    free(r->body);
    r->body = NULL;
    r->body_len = 0;
}

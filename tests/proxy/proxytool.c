/* Helpers for the proxy's shell tests:
 *   proxytool mkjpeg W H QUALITY SEED OUT       synthetic photo (libjpeg-turbo)
 *   proxytool psnr A.jpg B.jpg                  prints the PSNR of two decoded pictures
 *   proxytool decodes A.jpg                     exit 0 if it decodes without a fatal error
 *   proxytool contains HAYSTACK NEEDLE          exit 0 if NEEDLE's bytes occur in HAYSTACK
 *   proxytool split FILE N OUTPREFIX            cuts FILE into N pieces OUTPREFIX.0 ...
 *   proxytool freeport                          prints a TCP port free on 127.0.0.1 now
 *   proxytool hold SECONDS                      listens on a free port (printed) and never
 *                                               accepts or answers, for SECONDS
 *   proxytool dnssink SECONDS FILE              a UDP port on 127.0.0.1 (printed) that never
 *                                               answers; writes the number of datagrams it got
 *                                               to FILE; ends after SECONDS without one
 *   proxytool raw PORT INFILE OUTFILE            sends INFILE to 127.0.0.1:PORT in one write,
 *                                               saves all that comes back until EOF (10 s max)
 *   proxytool listen1 OUTFILE                    prints a port, takes one connection, saves the
 *                                               request (up to the end of a chunked body) and
 *                                               answers with a chunked body and a trailer
 */
#include <sys/time.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jpegtool.h"

/* A TCP socket bound to a free port on 127.0.0.1 (its number in *port), or -1. */
static int bind_loopback(unsigned *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) || getsockname(fd, (struct sockaddr *)&a, &al)) {
        if (fd >= 0) close(fd);
        return -1;
    }
    *port = ntohs(a.sin_port);
    return fd;
}

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        exit(2);
    }
    size_t cap = 1 << 20, n = 0;
    uint8_t *b = malloc(cap);
    for (;;) {
        if (n == cap) b = realloc(b, cap *= 2);
        size_t r = fread(b + n, 1, cap - n, f);
        if (!r) break;
        n += r;
    }
    fclose(f);
    *len = n;
    return b;
}

int main(int argc, char **argv)
{
    if (argc == 7 && !strcmp(argv[1], "mkjpeg")) {
        jt_params p = {0};
        p.width = atoi(argv[2]);
        p.height = atoi(argv[3]);
        p.quality = atoi(argv[4]);
        p.seed = atoi(argv[5]);
        p.ncomp = 3;
        size_t len;
        uint8_t *j = jt_make(&p, &len);
        FILE *f = fopen(argv[6], "wb");
        if (!j || !f || fwrite(j, 1, len, f) != len || fclose(f)) return 1;
        free(j);
        return 0;
    }
    if (argc == 4 && !strcmp(argv[1], "psnr")) {
        size_t la, lb;
        uint8_t *a = slurp(argv[2], &la), *b = slurp(argv[3], &lb);
        jt_image ia = jt_decode(a, la), ib = jt_decode(b, lb);
        if (!ia.ok || !ib.ok) return 1;
        printf("%.1f\n", jt_psnr(&ia, &ib));
        jt_free(&ia);
        jt_free(&ib);
        free(a);
        free(b);
        return 0;
    }
    if (argc == 3 && !strcmp(argv[1], "decodes")) {
        size_t l;
        uint8_t *a = slurp(argv[2], &l);
        jt_image i = jt_decode(a, l);
        int ok = i.ok;
        jt_free(&i);
        free(a);
        return ok ? 0 : 1;
    }
    if (argc == 4 && !strcmp(argv[1], "contains")) {
        size_t lh, ln;
        uint8_t *h = slurp(argv[2], &lh), *n = slurp(argv[3], &ln);
        int found = 0;
        for (size_t i = 0; ln && i + ln <= lh && !found; i++)
            if (h[i] == n[0] && !memcmp(h + i, n, ln)) found = 1;
        free(h);
        free(n);
        return found ? 0 : 1;
    }
    if (argc == 5 && !strcmp(argv[1], "split")) {
        size_t l;
        uint8_t *a = slurp(argv[2], &l);
        int k = atoi(argv[3]);
        if (k < 1) return 2;
        size_t off = 0;
        for (int i = 0; i < k; i++) {
            size_t n = i == k - 1 ? l - off : l / (size_t)k;
            char name[4096];
            snprintf(name, sizeof name, "%s.%d", argv[4], i);
            FILE *f = fopen(name, "wb");
            if (!f || fwrite(a + off, 1, n, f) != n || fclose(f)) return 1;
            off += n;
        }
        free(a);
        return 0;
    }
    if (argc == 2 && !strcmp(argv[1], "freeport")) {
        unsigned port;
        int fd = bind_loopback(&port);
        if (fd < 0) return 1;
        printf("%u\n", port);
        close(fd);
        return 0;
    }
    if (argc == 3 && !strcmp(argv[1], "hold")) {
        /* a server that never answers: the kernel completes the connections, nobody accepts */
        unsigned port;
        int fd = bind_loopback(&port);
        if (fd < 0 || listen(fd, 16)) return 1;
        printf("%u\n", port);
        fflush(stdout);
        sleep((unsigned)atoi(argv[2]));
        close(fd);
        return 0;
    }
    if (argc == 4 && !strcmp(argv[1], "dnssink")) {
        /* a name server that never answers: counts the queries it gets into FILE */
        unsigned port;
        int fd = socket(AF_INET, SOCK_DGRAM, 0);
        struct sockaddr_in a = {0};
        socklen_t al = sizeof a;
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) ||
            getsockname(fd, (struct sockaddr *)&a, &al))
            return 1;
        port = ntohs(a.sin_port);
        printf("%u\n", port);
        fflush(stdout);
        struct timeval tv = {(time_t)atoi(argv[2]), 0};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        unsigned long n = 0;
        char buf[1500];
        while (recv(fd, buf, sizeof buf, 0) >= 0) {
            FILE *f = fopen(argv[3], "w");
            if (!f) return 1;
            fprintf(f, "%lu\n", ++n);
            fclose(f);
        }
        close(fd);
        return 0;
    }
    if (argc == 5 && !strcmp(argv[1], "raw")) {
        size_t l;
        uint8_t *req = slurp(argv[3], &l);
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {0};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a.sin_port = htons((uint16_t)atoi(argv[2]));
        struct timeval tv = {10, 0};
        if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) ||
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) ||
            send(fd, req, l, MSG_NOSIGNAL) != (ssize_t)l)
            return 1;
        FILE *f = fopen(argv[4], "wb");
        if (!f) return 1;
        char buf[65536];
        ssize_t r;
        while ((r = recv(fd, buf, sizeof buf, 0)) > 0) fwrite(buf, 1, (size_t)r, f);
        fclose(f);
        close(fd);
        free(req);
        return 0;
    }
    if (argc == 3 && !strcmp(argv[1], "listen1")) {
        unsigned port;
        int fd = bind_loopback(&port);
        if (fd < 0 || listen(fd, 1)) return 1;
        printf("%u\n", port);
        fflush(stdout);
        struct timeval tv = {10, 0};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        int c = accept(fd, NULL, NULL);
        if (c < 0) return 1;
        setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        char buf[65536];
        size_t n = 0;
        ssize_t r;
        while (n < sizeof buf - 1 && (r = recv(c, buf + n, sizeof buf - 1 - n, 0)) > 0) {
            n += (size_t)r;
            buf[n] = 0;
            char *z = strstr(buf, "\r\n0\r\n");
            if (z && strstr(z + 5, "\r\n\r\n")) break; /* end of a chunked body and trailers */
        }
        FILE *f = fopen(argv[2], "wb");
        if (!f || fwrite(buf, 1, n, f) != n || fclose(f)) return 1;
        static const char ans[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                                  "Trailer: X-Reply-Trailer\r\nConnection: close\r\n\r\n"
                                  "2\r\nok\r\n0\r\nX-Reply-Trailer: yes\r\n\r\n";
        if (send(c, ans, sizeof ans - 1, MSG_NOSIGNAL) < 0) return 1;
        close(c);
        close(fd);
        return 0;
    }
    fprintf(stderr, "usage: see the comment at the top of proxytool.c\n");
    return 2;
}

/* File helpers for the verifier's state directory: bounded reads, atomic mode-0600 writes. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "verifier.h"

int vf_read_file(const char *path, size_t max, uint8_t **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ISEC_EIO;
    size_t cap = 4096, n = 0;
    uint8_t *b = malloc(cap);
    int rc = b ? 0 : ISEC_ENOMEM;
    while (!rc) {
        if (n == cap) {
            if (cap > max) {
                rc = ISEC_ELIMIT;
                break;
            }
            uint8_t *nb = malloc(cap * 2); /* not realloc: secrets must not be left behind */
            if (!nb) {
                rc = ISEC_ENOMEM;
                break;
            }
            memcpy(nb, b, n);
            vf_free_secret(b, cap);
            b = nb;
            cap *= 2;
        }
        ssize_t r = read(fd, b + n, cap - n);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) rc = ISEC_EIO;
        if (r <= 0) break;
        n += (size_t)r;
    }
    close(fd);
    if (!rc && n > max) rc = ISEC_ELIMIT;
    if (rc) {
        if (b) vf_free_secret(b, cap);
        return rc;
    }
    *out = b;
    *len = n;
    return 0;
}

int vf_write_file(const char *path, const void *data, size_t len, int mode)
{
    size_t pl = strlen(path) + 16;
    char *tmp = malloc(pl);
    if (!tmp) return ISEC_ENOMEM;
    snprintf(tmp, pl, "%s.tmp-XXXXXX", path);
    int fd = mkstemp(tmp); /* 0600 from the start: a secret never sits in a wider-mode file */
    if (fd < 0) {
        free(tmp);
        return ISEC_EIO;
    }
    const uint8_t *p = data;
    size_t left = len;
    int ok = fchmod(fd, (mode_t)mode) == 0;
    while (ok && left) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) ok = 0;
        else p += w, left -= (size_t)w;
    }
    ok = ok && fsync(fd) == 0;
    ok = (close(fd) == 0) && ok;
    ok = ok && rename(tmp, path) == 0;
    if (!ok) unlink(tmp);
    free(tmp);
    return ok ? 0 : ISEC_EIO;
}

char *vf_path(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, name);
    return p;
}

int vf_mkdir_p(const char *dir)
{
    char buf[4096];
    if (strlen(dir) >= sizeof buf) return ISEC_ELIMIT;
    strcpy(buf, dir);
    for (char *s = buf + 1; *s; s++) {
        if (*s != '/') continue;
        *s = 0;
        if (mkdir(buf, 0700) != 0 && errno != EEXIST) return ISEC_EIO;
        *s = '/';
    }
    if (mkdir(buf, 0700) != 0 && errno != EEXIST) return ISEC_EIO;
    return 0;
}

void vf_free_secret(void *p, size_t n)
{
    if (!p) return;
    OPENSSL_cleanse(p, n);
    free(p);
}

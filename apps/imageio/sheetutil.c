/* Shared pieces of the sheet file code: error messages, atomic file output, bounded reads. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sheetutil.h"

void isec__sheet_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}
int isec__sheet_slurp(const char *path, uint64_t max, uint8_t **out, size_t *len, char *err,
                 size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        isec__sheet_err(err, errlen, "%s: %s", path, strerror(errno));
        return ISEC_EIO;
    }
    struct stat st;
    if (fstat(fileno(f), &st) || !S_ISREG(st.st_mode)) {
        isec__sheet_err(err, errlen, "%s: not a regular file", path);
        fclose(f);
        return ISEC_EIO;
    }
    if ((uint64_t)st.st_size > max) {
        isec__sheet_err(err, errlen, "%s: %lld bytes exceed the limit of %llu", path, (long long)st.st_size,
               (unsigned long long)max);
        fclose(f);
        return ISEC_ELIMIT;
    }
    size_t n = (size_t)st.st_size;
    uint8_t *b = malloc(n ? n : 1);
    if (!b) {
        fclose(f);
        return ISEC_ENOMEM;
    }
    if (fread(b, 1, n, f) != n) {
        isec__sheet_err(err, errlen, "%s: read error", path);
        free(b);
        fclose(f);
        return ISEC_EIO;
    }
    fclose(f);
    *out = b;
    *len = n;
    return 0;
}


int isec__sheet_tmp_beside(const char *path, char *tmp, size_t n, mode_t mode)
{
    if ((size_t)snprintf(tmp, n, "%s.imgsec-XXXXXX", path) >= n) return -1;
    int fd = mkstemp(tmp);
    if (fd >= 0) fchmod(fd, mode);
    return fd;
}

/* Moves the finished temporary file into place: link() refuses an existing file atomically. */
int isec__sheet_publish(const char *tmp, const char *path, int overwrite, char *err, size_t errlen)
{
    if (overwrite) {
        if (rename(tmp, path) == 0) return 0;
        isec__sheet_err(err, errlen, "%s: %s", path, strerror(errno));
        unlink(tmp);
        return ISEC_EIO;
    }
    if (link(tmp, path) == 0) {
        unlink(tmp);
        return 0;
    }
    int e = errno;
    unlink(tmp);
    isec__sheet_err(err, errlen, "%s: %s", path, e == EEXIST ? "exists; not overwriting" : strerror(e));
    return e == EEXIST ? ISEC_EEXIST : ISEC_EIO;
}

int isec__sheet_write_atomic(const char *path, const uint8_t *buf, size_t len, int overwrite,
                        mode_t mode, char *err, size_t errlen)
{
    char tmp[4200];
    if (!overwrite && access(path, F_OK) == 0) {
        isec__sheet_err(err, errlen, "%s: exists; not overwriting", path);
        return ISEC_EEXIST;
    }
    int fd = isec__sheet_tmp_beside(path, tmp, sizeof tmp, mode);
    if (fd < 0) {
        isec__sheet_err(err, errlen, "%s: cannot create a temporary file beside it: %s", path, strerror(errno));
        return ISEC_EIO;
    }
    size_t off = 0;
    while (off < len) {
        ssize_t k = write(fd, buf + off, len - off);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) break;
        off += (size_t)k;
    }
    if (off != len || fsync(fd) != 0) {
        isec__sheet_err(err, errlen, "%s: write failed: %s", path, strerror(errno));
        close(fd);
        unlink(tmp);
        return ISEC_EIO;
    }
    close(fd);
    return isec__sheet_publish(tmp, path, overwrite, err, errlen);
}


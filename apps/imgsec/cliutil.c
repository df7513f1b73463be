/* Shared command-line plumbing: messages, output that appears only when complete, progress.
 * Needs only libc: it is linked into the imgsec front binary, which must not load libcrypto
 * (passphrases, which wipe with OPENSSL_cleanse, are in cli_secret.c). */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

void cli_err(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", cli_prog);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

void cli_warn_key_mode(const char *path)
{
    struct stat st;
    if (strcmp(path, "-") != 0 && stat(path, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 077))
        cli_err("warning: %s is readable by others (mode %03o); chmod 600 it", path,
                (unsigned)(st.st_mode & 0777));
}

static int same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    if (!a || !b || !strcmp(a, "-") || !strcmp(b, "-")) return 0;
    if (stat(a, &sa) || stat(b, &sb)) return 0;
    return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

int cli_out_open(cli_out *o, const char *path, const char *avoid_same, int mode)
{
    memset(o, 0, sizeof *o);
    if (!strcmp(path, "-")) {
        o->f = stdout;
        o->is_stdout = 1;
        return 0;
    }
    if (same_file(path, avoid_same)) {
        cli_err("%s: output would replace the input; choose another output", path);
        return -1;
    }
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        cli_err("%s: is a directory; cannot write a file there", path);
        return -1;
    }
    size_t n = strlen(path) + 32;
    o->path = strdup(path);
    o->tmp = malloc(n);
    if (!o->path || !o->tmp) {
        cli_err("out of memory");
        cli_out_abort(o);
        return -1;
    }
    snprintf(o->tmp, n, "%s.imgsec-XXXXXX", path);
    int fd = mkstemp(o->tmp);
    if (fd < 0) {
        cli_err("%s: cannot create a temporary file beside it: %s", path, strerror(errno));
        free(o->tmp);
        o->tmp = NULL;
        cli_out_abort(o);
        return -1;
    }
    mode_t mask = umask(0);
    umask(mask);
    if (fchmod(fd, (mode_t)mode & ~mask) != 0) { /* mkstemp makes 0600; best effort */
    }
    o->f = fdopen(fd, "wb");
    if (!o->f) {
        close(fd);
        cli_out_abort(o);
        return -1;
    }
    return 0;
}

int cli_out_write(cli_out *o, const void *buf, size_t n)
{
    if (n && fwrite(buf, 1, n, o->f) != n) {
        cli_err("%s: write failed: %s", o->is_stdout ? "stdout" : o->path, strerror(errno));
        return -1;
    }
    return 0;
}

int cli_out_finish(cli_out *o)
{
    if (o->is_stdout || !o->f) return 0;
    int ok = fflush(o->f) == 0 && fsync(fileno(o->f)) == 0;
    ok = (fclose(o->f) == 0) && ok;
    o->f = NULL;
    if (!ok) {
        cli_err("%s: cannot write: %s", o->path, strerror(errno));
        cli_out_abort(o);
        return -1;
    }
    return 0;
}

int cli_out_commit(cli_out *o)
{
    if (o->is_stdout) {
        if (fflush(stdout) != 0) {
            cli_err("stdout: write failed: %s", strerror(errno));
            return -1;
        }
        return 0;
    }
    if (cli_out_finish(o) < 0) return -1;
    if (rename(o->tmp, o->path) != 0) {
        cli_err("%s: cannot write: %s", o->path, strerror(errno));
        cli_out_abort(o);
        return -1;
    }
    free(o->tmp);
    free(o->path);
    o->tmp = o->path = NULL;
    return 0;
}

void cli_out_abort(cli_out *o)
{
    if (o->is_stdout) {
        fflush(stdout);
        return;
    }
    if (o->f) fclose(o->f);
    if (o->tmp) unlink(o->tmp);
    free(o->tmp);
    free(o->path);
    memset(o, 0, sizeof *o);
}

FILE *cli_in_open(const char *path)
{
    if (!strcmp(path, "-")) return stdin;
    FILE *f = fopen(path, "rb");
    if (!f) cli_err("%s: %s", path, strerror(errno));
    return f;
}

void cli_in_close(FILE *f)
{
    if (f && f != stdin) fclose(f);
}

void cli_progress(size_t i, size_t total, const char *name)
{
    if (total < 2 || !isatty(2)) return;
    fprintf(stderr, "\r\033[K[%zu/%zu] %s", i + 1, total, name);
    fflush(stderr);
}

void cli_progress_done(size_t total)
{
    if (total < 2 || !isatty(2)) return;
    fprintf(stderr, "\r\033[K");
    fflush(stderr);
}

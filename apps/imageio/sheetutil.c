/* Shared pieces of the sheet file code: error messages, atomic file output, bounded reads. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
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

/* ---- the ImageDescription of every sheet page (sheetio.h) ---- */

const char *isec__sheet_layout_name(unsigned l)
{
    return l == ISEC_VCS_LAYOUT_GRAY ? "gray" : l == ISEC_VCS_LAYOUT_CMY ? "cmy" : "planes";
}

static void hex(const uint8_t *b, size_t n, char *out)
{
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = d[b[i] >> 4];
        out[2 * i + 1] = d[b[i] & 15];
    }
    out[2 * n] = 0;
}

static int unhex(const char *s, uint8_t *b, size_t n)
{
    if (strlen(s) != 2 * n) return -1;
    for (size_t i = 0; i < 2 * n; i++) {
        int c = s[i], v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (v < 0) return -1;
        if (i % 2 == 0) b[i / 2] = (uint8_t)(v << 4);
        else b[i / 2] |= (uint8_t)v;
    }
    return 0;
}

void isec__sheet_describe(const isec_vcs_share_info *in, unsigned plane, unsigned sheet, char *out,
                     size_t n)
{
    char t[33], w[33], sid[33];
    hex(in->table_id, ISEC_VCS_ID_LEN, t);
    hex(in->wm_id, ISEC_VCS_ID_LEN, w);
    hex(in->split_id, ISEC_VCS_ID_LEN, sid);
    snprintf(out, n,
             "imgsec-vcs=1\nparticipant=%s\nmode=%s\nlayout=%s\nchannels=%u\nplanes=%u\n"
             "fill=%s\nplane=%u\nsheet=%u\nlayer=%u\ntable-id=%s\nwm-id=%s\nsplit-id=%s\n",
             in->participant ? "B" : "A", in->mode ? "secure" : "exact", isec__sheet_layout_name(in->layout),
             in->channels, in->nplanes, in->white_fill ? "1b3w" : "3b1w", plane, sheet,
             2 * sheet + in->participant, t, w, sid);
    size_t used = strlen(out);
    if (in->layout == ISEC_VCS_LAYOUT_PLANES && used < n)
        snprintf(out + used, n - used, "polarity=%08x\n", (unsigned)in->polarity);
}

/* Parses a description into info (share keys) and plane/sheet/layer. 0 or -1 (msg in err). */
int isec__sheet_parse_desc(const char *d, isec_vcs_share_info *info, unsigned *plane, unsigned *sheet,
                      unsigned *layer, char *err, size_t errlen)
{
    enum { K_MAGIC, K_PART, K_MODE, K_LAYOUT, K_CH, K_PLANES, K_FILL, K_PLANE, K_SHEET, K_LAYER,
           K_TID, K_WID, K_SID, K_N, K_POL = K_N, K_ALL };
    /* polarity (PLANES layout) is optional: files of earlier versions have none (0). */
    static const char *const keys[K_ALL] = {"imgsec-vcs", "participant", "mode", "layout",
                                            "channels", "planes", "fill", "plane", "sheet",
                                            "layer", "table-id", "wm-id", "split-id", "polarity"};
    unsigned seen = 0;
    memset(info, 0, sizeof *info);
    if (strlen(d) > 2000) {
        isec__sheet_err(err, errlen, "ImageDescription too long");
        return -1;
    }
    char buf[2048];
    snprintf(buf, sizeof buf, "%s", d);
    char *save = NULL;
    for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *eq = strchr(line, '=');
        if (!eq) {
            isec__sheet_err(err, errlen, "ImageDescription line without '='");
            return -1;
        }
        *eq = 0;
        const char *v = eq + 1;
        int k = -1;
        for (int i = 0; i < K_ALL; i++)
            if (!strcmp(line, keys[i])) k = i;
        if (k < 0) continue; /* unknown keys are allowed, for later versions */
        if (seen & (1u << k)) {
            isec__sheet_err(err, errlen, "ImageDescription repeats '%s'", line);
            return -1;
        }
        seen |= 1u << k;
        unsigned long num = 0;
        char *end = NULL;
        if (k == K_CH || k == K_PLANES || k == K_PLANE || k == K_SHEET || k == K_LAYER) {
            errno = 0;
            num = strtoul(v, &end, 10);
            if (!*v || *end || errno || num > 1000) {
                isec__sheet_err(err, errlen, "ImageDescription: bad number for '%s'", line);
                return -1;
            }
        }
        int bad = 0;
        switch (k) {
        case K_MAGIC: bad = strcmp(v, "1"); break;
        case K_PART: bad = strcmp(v, "A") && strcmp(v, "B"); info->participant = !strcmp(v, "B"); break;
        case K_MODE:
            bad = strcmp(v, "exact") && strcmp(v, "secure");
            info->mode = !strcmp(v, "secure");
            break;
        case K_LAYOUT:
            if (!strcmp(v, "gray")) info->layout = ISEC_VCS_LAYOUT_GRAY;
            else if (!strcmp(v, "cmy")) info->layout = ISEC_VCS_LAYOUT_CMY;
            else if (!strcmp(v, "planes")) info->layout = ISEC_VCS_LAYOUT_PLANES;
            else bad = 1;
            break;
        case K_CH: info->channels = (unsigned)num; break;
        case K_PLANES: info->nplanes = (unsigned)num; break;
        case K_FILL:
            bad = strcmp(v, "3b1w") && strcmp(v, "1b3w");
            info->white_fill = !strcmp(v, "1b3w");
            break;
        case K_PLANE: *plane = (unsigned)num; break;
        case K_SHEET: *sheet = (unsigned)num; break;
        case K_LAYER: *layer = (unsigned)num; break;
        case K_TID: bad = unhex(v, info->table_id, ISEC_VCS_ID_LEN) < 0; break;
        case K_WID: bad = unhex(v, info->wm_id, ISEC_VCS_ID_LEN) < 0; break;
        case K_SID: bad = unhex(v, info->split_id, ISEC_VCS_ID_LEN) < 0; break;
        case K_POL: {
            uint8_t pb[4] = {0}; /* unhex may fail half way (gcc -O2: maybe-uninitialized) */
            bad = unhex(v, pb, 4) < 0;
            info->polarity = (uint32_t)pb[0] << 24 | (uint32_t)pb[1] << 16 | (uint32_t)pb[2] << 8 | pb[3];
            break;
        }
        }
        if (bad) {
            isec__sheet_err(err, errlen, "ImageDescription: bad value for '%s'", line);
            return -1;
        }
    }
    if ((seen & ((1u << K_N) - 1)) != (1u << K_N) - 1) {
        for (int i = 0; i < K_N; i++)
            if (!(seen & (1u << i))) {
                isec__sheet_err(err, errlen, "not a VCS sheet file: ImageDescription lacks '%s'", keys[i]);
                break;
            }
        return -1;
    }
    return 0;
}

/* ---- both participants at once (two threads: the files are independent) ---- */

typedef struct {
    const char *path;
    const uint8_t *in;
    size_t inlen;
    const isec_sheet_limits *lim;
    isec_vcs_share *got;
    uint8_t *digest; /* read_mem_job: the share's digest too, when not NULL */
    isec_vcs_share_info info; /* digest_mem_job */
    char err[300];
    int rc;
} pair_job;

static void *read_job(void *arg)
{
    pair_job *j = arg;
    j->rc = isec_sheet_read_file(j->path, j->lim, &j->got, j->err, sizeof j->err);
    return NULL;
}

static void *read_mem_job(void *arg)
{
    pair_job *j = arg;
    j->rc = isec__sheet_read_mem_digest(j->in, j->inlen, j->lim, &j->got, j->digest, j->err,
                                        sizeof j->err);
    if (j->rc == ISEC_ECRYPTO)
        snprintf(j->err, sizeof j->err, "cannot hash the sheets: %s", isec_strerror(j->rc));
    return NULL;
}

static void *digest_mem_job(void *arg)
{
    pair_job *j = arg;
    j->rc = isec_sheet_digest_mem(j->in, j->inlen, j->lim, &j->info, j->digest, j->err,
                                  sizeof j->err);
    return NULL;
}

/* Runs f on both jobs, the second in a thread of its own when one can be started. */
static void run_pair(pair_job j[2], void *(*f)(void *))
{
    pthread_t t;
    int threaded = pthread_create(&t, NULL, f, &j[1]) == 0;
    f(&j[0]);
    if (threaded) pthread_join(t, NULL);
    else f(&j[1]);
}

/* The first failed job's error copied to err (its index in *failed if not NULL): its rc, or 0
 * when both succeeded. */
static int pair_error(const pair_job j[2], int *failed, char *err, size_t errlen)
{
    for (int k = 0; k < 2; k++)
        if (j[k].rc < 0) {
            isec__sheet_err(err, errlen, "%s", j[k].err);
            if (failed) *failed = k;
            return j[k].rc;
        }
    return 0;
}

/* Jobs over two files in memory (digest: where each one's share digest goes, or NULL). */
static void mem_jobs(pair_job j[2], const uint8_t *const buf[2], const size_t len[2],
                     const isec_sheet_limits *lim, uint8_t (*digest)[ISEC_VCS_DIGEST_LEN])
{
    memset(j, 0, 2 * sizeof *j);
    for (int k = 0; k < 2; k++) {
        j[k].in = buf[k];
        j[k].inlen = len[k];
        j[k].lim = lim;
        j[k].digest = digest ? digest[k] : NULL;
    }
}

/* Hands both jobs' shares to out, or frees both if a job failed; the pair_error result. */
static int pair_shares(const pair_job j[2], isec_vcs_share *out[2], int *failed, char *err,
                       size_t errlen)
{
    out[0] = j[0].got;
    out[1] = j[1].got;
    int rc = pair_error(j, failed, err, errlen);
    if (rc < 0) {
        isec_vcs_share_free(out[0]);
        isec_vcs_share_free(out[1]);
        out[0] = out[1] = NULL;
    }
    return rc;
}

int isec_sheet_read_file_pair(const char *path[2], const isec_sheet_limits *lim,
                              isec_vcs_share *out[2], char *err, size_t errlen)
{
    pair_job j[2];
    memset(j, 0, sizeof j);
    j[0].path = path[0];
    j[1].path = path[1];
    j[0].lim = j[1].lim = lim;
    run_pair(j, read_job);
    return pair_shares(j, out, NULL, err, errlen);
}

int isec_sheet_read_mem_pair(const uint8_t *const buf[2], const size_t len[2],
                             const isec_sheet_limits *lim, isec_vcs_share *out[2],
                             uint8_t (*digest)[ISEC_VCS_DIGEST_LEN], int *failed, char *err,
                             size_t errlen)
{
    pair_job j[2];
    mem_jobs(j, buf, len, lim, digest);
    run_pair(j, read_mem_job);
    return pair_shares(j, out, failed, err, errlen);
}

int isec_sheet_digest_mem_pair(const uint8_t *const buf[2], const size_t len[2],
                               const isec_sheet_limits *lim, isec_vcs_share_info info[2],
                               uint8_t (*digest)[ISEC_VCS_DIGEST_LEN], int *failed, char *err,
                               size_t errlen)
{
    pair_job j[2];
    mem_jobs(j, buf, len, lim, digest);
    run_pair(j, digest_mem_job);
    int rc = pair_error(j, failed, err, errlen);
    if (rc < 0) return rc;
    info[0] = j[0].info;
    info[1] = j[1].info;
    return 0;
}

/* ---- freeing two shares off the caller's path ---- */

static void *free_one(void *arg)
{
    isec_vcs_share_free(arg);
    return NULL;
}

/* Frees both (A's in a second thread when both are there: wiping is the cost). */
static void free_both(isec_vcs_share *a, isec_vcs_share *b)
{
    pthread_t t;
    const int threaded = a && b && pthread_create(&t, NULL, free_one, a) == 0;
    isec_vcs_share_free(b);
    if (threaded) pthread_join(t, NULL);
    else isec_vcs_share_free(a);
}

static void *free_pair_run(void *arg)
{
    isec_vcs_share **s = arg;
    free_both(s[0], s[1]);
    free(s);
    return NULL;
}

int isec_sheet_free_pair_start(isec_vcs_share *a, isec_vcs_share *b, pthread_t *t)
{
    isec_vcs_share **pair = malloc(2 * sizeof *pair);
    if (pair) {
        pair[0] = a;
        pair[1] = b;
        if (pthread_create(t, NULL, free_pair_run, pair) == 0) return 1;
        free(pair);
    }
    free_both(a, b);
    return 0;
}

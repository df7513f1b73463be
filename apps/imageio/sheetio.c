/* VCS sheet files: one multi-page TIFF per participant (libtiff). Layout and limits: sheetio.h.
 * PNG export and PNG images: sheetpng.c. */
#define _GNU_SOURCE 1 /* sync_file_range (Linux) */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <tiffio.h>

#include "sheetpack.h"
#include "sheetutil.h"

void isec_sheet_limits_init(isec_sheet_limits *l)
{
    l->max_width = ISEC_VCS_MAX_DIM;
    l->max_height = ISEC_VCS_MAX_DIM;
    l->max_pixels = ISEC_VCS_MAX_PIXELS;
    l->max_bytes = (uint64_t)1 << 30;
    l->max_pixel_bytes = (uint64_t)512 << 20;
}

/* ---- memory stream for libtiff ---- */

/* A file instead of memory (isec_sheet_write_fd): pread/pwrite at pos, and once a MiB more is
 * written the kernel is asked to start writing it back, so that the fsync after the last page
 * has little left to wait for. */
#define KICK_BYTES ((size_t)1 << 20)

typedef struct {
    uint8_t *buf;
    size_t len, cap, pos;
    int writable;
    int to_fd, fd, ioerr; /* to_fd: the data goes to fd, not buf; ioerr: a write failed */
    size_t kicked;        /* to_fd: writeback started for [0, kicked) */
    char msg[200];        /* first libtiff error */
} memio;

static tmsize_t mem_read(thandle_t h, void *p, tmsize_t n)
{
    memio *m = h;
    if (n < 0) return -1;
    if (m->to_fd) { /* libtiff reads back the directory it links the next one to */
        size_t done = 0;
        while (done < (size_t)n) {
            ssize_t k = pread(m->fd, (uint8_t *)p + done, (size_t)n - done, (off_t)(m->pos + done));
            if (k < 0 && errno == EINTR) continue;
            if (k <= 0) break;
            done += (size_t)k;
        }
        m->pos += done;
        return (tmsize_t)done;
    }
    size_t avail = m->pos < m->len ? m->len - m->pos : 0;
    size_t k = (size_t)n < avail ? (size_t)n : avail;
    memcpy(p, m->buf + m->pos, k);
    m->pos += k;
    return (tmsize_t)k;
}

static tmsize_t mem_write(thandle_t h, void *p, tmsize_t n)
{
    memio *m = h;
    if (!m->writable || n < 0) return -1;
    size_t need = m->pos + (size_t)n;
    if (need < m->pos) return -1;
    if (m->to_fd) {
        size_t done = 0;
        while (done < (size_t)n) {
            ssize_t k = pwrite(m->fd, (const uint8_t *)p + done, (size_t)n - done,
                               (off_t)(m->pos + done));
            if (k < 0 && errno == EINTR) continue;
            if (k <= 0) {
                m->ioerr = 1;
                return -1;
            }
            done += (size_t)k;
        }
        m->pos = need;
        if (need > m->len) m->len = need;
#ifdef SYNC_FILE_RANGE_WRITE
        if (m->len - m->kicked >= KICK_BYTES) { /* a hint: its failure changes nothing */
            (void)sync_file_range(m->fd, (off_t)m->kicked, (off_t)(m->len - m->kicked),
                                  SYNC_FILE_RANGE_WRITE);
            m->kicked = m->len;
        }
#endif
        return n;
    }
    if (need > m->cap) {
        size_t cap = m->cap ? m->cap : 65536;
        while (cap < need) cap *= 2;
        uint8_t *nb = realloc(m->buf, cap);
        if (!nb) return -1;
        m->buf = nb;
        m->cap = cap;
    }
    if (m->pos > m->len) memset(m->buf + m->len, 0, m->pos - m->len);
    memcpy(m->buf + m->pos, p, (size_t)n);
    m->pos = need;
    if (need > m->len) m->len = need;
    return n;
}

static toff_t mem_seek(thandle_t h, toff_t off, int whence)
{
    memio *m = h;
    uint64_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? m->pos : m->len;
    uint64_t np = base + off;
    if (np > ((uint64_t)1 << 40)) return (toff_t)-1;
    m->pos = (size_t)np;
    return np;
}

static int mem_close(thandle_t h)
{
    (void)h;
    return 0;
}

static toff_t mem_size(thandle_t h)
{
    return ((memio *)h)->len;
}

static int mem_map(thandle_t h, void **base, toff_t *size)
{
    (void)h, (void)base, (void)size;
    return 0;
}

static void mem_unmap(thandle_t h, void *base, toff_t size)
{
    (void)h, (void)base, (void)size;
}

static int tiff_err(TIFF *tif, void *user, const char *module, const char *fmt, va_list ap)
{
    (void)tif, (void)module;
    memio *m = user;
    if (m && !m->msg[0]) vsnprintf(m->msg, sizeof m->msg, fmt, ap);
    return 1;
}

static int tiff_warn(TIFF *tif, void *user, const char *module, const char *fmt, va_list ap)
{
    (void)tif, (void)user, (void)module, (void)fmt, (void)ap;
    return 1;
}

static TIFF *open_mem(memio *m, const char *mode, tmsize_t max_alloc)
{
    TIFFOpenOptions *o = TIFFOpenOptionsAlloc();
    if (!o) return NULL;
    TIFFOpenOptionsSetErrorHandlerExtR(o, tiff_err, m);
    TIFFOpenOptionsSetWarningHandlerExtR(o, tiff_warn, m);
    if (max_alloc > 0) TIFFOpenOptionsSetMaxSingleMemAlloc(o, max_alloc);
    TIFF *t = TIFFClientOpenExt("sheets", mode, (thandle_t)m, mem_read, mem_write, mem_seek,
                                mem_close, mem_size, mem_map, mem_unmap, o);
    TIFFOpenOptionsFree(o);
    return t;
}

/* Pixel packing (1-bit gray + 1-bit alpha): sheetpack.h. */

/* One row of the 8-bit layout; 0 or -1 with a message. */
static int read_row8(const uint8_t *line, uint32_t w, uint32_t y, unsigned page, uint8_t *dst,
                     char *err, size_t errlen)
{
    for (uint32_t x = 0; x < w; x++) {
        uint8_t g = line[2 * x], a = line[2 * x + 1];
        if (a == 0) dst[x] = ISEC_VCS_PX_T;
        else if (a != 255) {
            isec__sheet_err(err, errlen, "page %u (%u,%u): alpha %u is neither 0 nor 255", page, x, y, a);
            return -1;
        } else if (g == 255) dst[x] = ISEC_VCS_PX_W;
        else if (g == 0) dst[x] = ISEC_VCS_PX_K;
        else {
            isec__sheet_err(err, errlen, "page %u (%u,%u): opaque gray %u is neither 0 nor 255", page,
                            x, y, g);
            return -1;
        }
    }
    return 0;
}

/* ---- reading ---- */

#define MAX_STRIP ((tmsize_t)64 << 20)

typedef struct {
    uint8_t *buf; /* one decoded strip */
    tmsize_t cap;
    uint8_t *pk;  /* 8-bit pages, digest wanted: the strip's rows packed */
    size_t pkcap;
    uint8_t *row; /* 8-bit pages, no share: one decoded row */
    size_t rowcap;
} reader;

static int grow(uint8_t **p, size_t *cap, size_t need)
{
    if (*cap >= need) return 0;
    if (*p) OPENSSL_cleanse(*p, *cap);
    free(*p);
    *cap = 0;
    if (!(*p = malloc(need))) return ISEC_ENOMEM;
    *cap = need;
    return 0;
}

static void reader_free(reader *rd)
{
    /* sheet pixels, packed or not: wiped like the shares */
    if (rd->buf) OPENSSL_cleanse(rd->buf, (size_t)rd->cap);
    if (rd->pk) OPENSSL_cleanse(rd->pk, rd->pkcap);
    if (rd->row) OPENSSL_cleanse(rd->row, rd->rowcap);
    free(rd->buf);
    free(rd->pk);
    free(rd->row);
}

/* Decodes page `page` into dst (width*height sheet bytes: the share's sheet for that page; NULL
 * when only the digest is wanted) and, with md, hashes its rows in the digest's packed form
 * (isec_vcs_share_digest): the 1-bit pages' own rows made canonical (isec_vcs_canon_rows), not
 * unpacked when there is no share to fill, and the 8-bit pages' rows packed. Checks first that
 * its description matches the first page's (info) and names this page. */
static int read_page(TIFF *t, unsigned page, uint8_t *dst, const isec_vcs_share_info *first,
                     reader *rd, EVP_MD_CTX *md, char *err, size_t errlen)
{
    const isec_vcs_share_info *info = first;
    uint32_t w = 0, h = 0, rps = 0;
    uint16_t spp = 0, bps = 0, planar = 0, photo = 0, comp = 0, nextra = 0, *extra = NULL;
    char *desc = NULL;
    if (!TIFFGetField(t, TIFFTAG_IMAGEWIDTH, &w) || !TIFFGetField(t, TIFFTAG_IMAGELENGTH, &h)) {
        isec__sheet_err(err, errlen, "page %u: no dimensions", page);
        return ISEC_EFORMAT;
    }
    if (w != info->width || h != info->height) {
        isec__sheet_err(err, errlen, "page %u: %ux%u, but page 0 is %ux%u", page, w, h, info->width,
               info->height);
        return ISEC_EFORMAT;
    }
    TIFFGetFieldDefaulted(t, TIFFTAG_SAMPLESPERPIXEL, &spp);
    TIFFGetFieldDefaulted(t, TIFFTAG_BITSPERSAMPLE, &bps);
    TIFFGetFieldDefaulted(t, TIFFTAG_PLANARCONFIG, &planar);
    TIFFGetFieldDefaulted(t, TIFFTAG_COMPRESSION, &comp);
    TIFFGetFieldDefaulted(t, TIFFTAG_ROWSPERSTRIP, &rps);
    if (!TIFFGetField(t, TIFFTAG_PHOTOMETRIC, &photo)) photo = 0xffff;
    TIFFGetFieldDefaulted(t, TIFFTAG_EXTRASAMPLES, &nextra, &extra);
    if (spp != 2 || (bps != 8 && bps != 1) || planar != PLANARCONFIG_CONTIG ||
        photo != PHOTOMETRIC_MINISBLACK || nextra != 1 || !extra ||
        extra[0] != EXTRASAMPLE_UNASSALPHA || TIFFIsTiled(t)) {
        isec__sheet_err(err, errlen, "page %u: not 1- or 8-bit gray + unassociated alpha in strips", page);
        return ISEC_EUNSUPPORTED;
    }
    if (comp != COMPRESSION_NONE && comp != COMPRESSION_ADOBE_DEFLATE &&
        comp != COMPRESSION_DEFLATE && comp != COMPRESSION_LZW && comp != COMPRESSION_PACKBITS &&
        comp != COMPRESSION_ZSTD) {
        isec__sheet_err(err, errlen, "page %u: compression %u not accepted", page, comp);
        return ISEC_EUNSUPPORTED;
    }
    if (!TIFFGetField(t, TIFFTAG_IMAGEDESCRIPTION, &desc) || !desc) {
        isec__sheet_err(err, errlen, "page %u: no ImageDescription", page);
        return ISEC_EFORMAT;
    }
    isec_vcs_share_info pi;
    unsigned plane = 0, sheet = 0, layer = 0;
    if (isec__sheet_parse_desc(desc, &pi, &plane, &sheet, &layer, err, errlen) < 0) return ISEC_EFORMAT;
    pi.width = first->width;
    pi.height = first->height;
    if (memcmp(&pi, first, sizeof pi)) {
        isec__sheet_err(err, errlen, "page %u: description differs from page 0", page);
        return ISEC_EFORMAT;
    }
    if (plane != page / ISEC_VCS_SHEETS || sheet != page % ISEC_VCS_SHEETS ||
        layer != 2 * sheet + info->participant) {
        isec__sheet_err(err, errlen, "page %u: says plane %u sheet %u layer %u", page, plane, sheet, layer);
        return ISEC_EFORMAT;
    }
    const tmsize_t row = bps == 8 ? (tmsize_t)w * 2 : ((tmsize_t)w * 2 + 7) / 8;
    if (TIFFScanlineSize(t) != row) {
        isec__sheet_err(err, errlen, "page %u: unexpected scanline size", page);
        return ISEC_EFORMAT;
    }
    if (rps == 0 || rps > h) rps = h;
    const uint32_t nstrips = (h + rps - 1) / rps;
    if (TIFFNumberOfStrips(t) != nstrips || (tmsize_t)rps > MAX_STRIP / row) {
        isec__sheet_err(err, errlen, "page %u: strips of %u rows not accepted", page, rps);
        return ISEC_EUNSUPPORTED;
    }
    if (rd->cap < row * (tmsize_t)rps) {
        free(rd->buf);
        rd->cap = row * (tmsize_t)rps;
        if (!(rd->buf = malloc((size_t)rd->cap))) {
            rd->cap = 0;
            return ISEC_ENOMEM;
        }
    }
    const size_t prow = ISEC_VCS_PACKED_ROW(w); /* == row for 1-bit pages */
    if (bps == 8 && ((md && grow(&rd->pk, &rd->pkcap, prow * rps) < 0) ||
                     (!dst && grow(&rd->row, &rd->rowcap, w) < 0)))
        return ISEC_ENOMEM;
    for (uint32_t st = 0; st < nstrips; st++) {
        const uint32_t y0 = st * rps, rows = h - y0 < rps ? h - y0 : rps;
        const tmsize_t want = row * (tmsize_t)rows;
        if (TIFFReadEncodedStrip(t, st, rd->buf, want) != want) {
            isec__sheet_err(err, errlen, "page %u: strip %u unreadable", page, st);
            return ISEC_EFORMAT;
        }
        if (bps == 1) {
            if (dst)
                for (uint32_t r = 0; r < rows; r++)
                    unpack_row(rd->buf + (size_t)r * (size_t)row, w, dst + (size_t)(y0 + r) * w);
            if (md) { /* after unpacking, which reads 00 and pad bits as the canonical form does */
                isec_vcs_canon_rows(rd->buf, rows, w);
                if (EVP_DigestUpdate(md, rd->buf, prow * rows) != 1) return ISEC_ECRYPTO;
            }
            continue;
        }
        for (uint32_t r = 0; r < rows; r++) {
            uint8_t *d = dst ? dst + (size_t)(y0 + r) * w : rd->row;
            if (read_row8(rd->buf + (size_t)r * (size_t)row, w, y0 + r, page, d, err, errlen) < 0)
                return ISEC_EFORMAT;
            if (md) isec_vcs_pack_row(d, w, rd->pk + (size_t)r * prow);
        }
        if (md && EVP_DigestUpdate(md, rd->pk, prow * rows) != 1) return ISEC_ECRYPTO;
    }
    return 0;
}

/* The digest of isec_vcs_share_digest (share.c), made page by page: the same bytes in the same
 * order (its head, every sheet's packed rows in page order - read_page -, its tail). */
static EVP_MD_CTX *digest_start(const isec_vcs_share_info *in)
{
    uint8_t head[ISEC_VCS_DIGEST_HEAD_LEN];
    isec_vcs_digest_head(in, head);
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    if (c && (EVP_DigestInit_ex(c, EVP_sha256(), NULL) != 1 ||
              EVP_DigestUpdate(c, head, sizeof head) != 1)) {
        EVP_MD_CTX_free(c);
        c = NULL;
    }
    return c;
}

static int digest_finish(EVP_MD_CTX *c, const isec_vcs_share_info *in,
                         uint8_t digest[ISEC_VCS_DIGEST_LEN])
{
    uint8_t tail[12];
    const size_t tl = isec_vcs_digest_tail(in, tail);
    unsigned dl = 0;
    return (!tl || EVP_DigestUpdate(c, tail, tl) == 1) &&
                   EVP_DigestFinal_ex(c, digest, &dl) == 1 && dl == ISEC_VCS_DIGEST_LEN
               ? 0
               : ISEC_ECRYPTO;
}

/* isec_sheet_read_mem (out not NULL; with digest not NULL, the share's digest too) or
 * isec_sheet_digest_mem (out NULL: info and digest). */
static int read_core(const uint8_t *buf, size_t len, const isec_sheet_limits *lim,
                     isec_vcs_share **out, isec_vcs_share_info *info_out,
                     uint8_t digest[ISEC_VCS_DIGEST_LEN], char *err, size_t errlen)
{
    isec_sheet_limits dl;
    if (!lim) {
        isec_sheet_limits_init(&dl);
        lim = &dl;
    }
    if (len > lim->max_bytes) {
        isec__sheet_err(err, errlen, "file of %zu bytes exceeds the limit of %llu", len,
               (unsigned long long)lim->max_bytes);
        return ISEC_ELIMIT;
    }
    if (len < 8) {
        isec__sheet_err(err, errlen, "too short for a TIFF file");
        return ISEC_ETRUNC;
    }
    memio m;
    memset(&m, 0, sizeof m);
    m.buf = (uint8_t *)buf;
    m.len = len;
    TIFF *t = open_mem(&m, "rm", MAX_STRIP);
    if (!t) {
        isec__sheet_err(err, errlen, "not a TIFF file%s%s", m.msg[0] ? ": " : "", m.msg);
        return ISEC_EFORMAT;
    }
    int rc = 0;
    isec_vcs_share *s = NULL;
    EVP_MD_CTX *md = NULL;
    reader rd;
    memset(&rd, 0, sizeof rd);
    uint32_t w = 0, h = 0;
    char *desc = NULL;
    isec_vcs_share_info first;
    unsigned plane = 0, sheet = 0, layer = 0;
    if (!TIFFGetField(t, TIFFTAG_IMAGEWIDTH, &w) || !TIFFGetField(t, TIFFTAG_IMAGELENGTH, &h) ||
        !w || !h) {
        isec__sheet_err(err, errlen, "page 0: no dimensions");
        rc = ISEC_EFORMAT;
    } else if (w > lim->max_width || h > lim->max_height || (uint64_t)w * h > lim->max_pixels ||
               w > ISEC_VCS_MAX_DIM || h > ISEC_VCS_MAX_DIM ||
               (uint64_t)w * h > ISEC_VCS_MAX_PIXELS) {
        isec__sheet_err(err, errlen, "%ux%u sheets exceed the size limit", w, h);
        rc = ISEC_ELIMIT;
    } else if (!TIFFGetField(t, TIFFTAG_IMAGEDESCRIPTION, &desc) || !desc) {
        isec__sheet_err(err, errlen, "not a VCS sheet file: no ImageDescription");
        rc = ISEC_EFORMAT;
    } else if (isec__sheet_parse_desc(desc, &first, &plane, &sheet, &layer, err, errlen) < 0) {
        rc = ISEC_EFORMAT;
    } else {
        first.width = w;
        first.height = h;
        uint64_t bytes = (uint64_t)first.nplanes * ISEC_VCS_SHEETS * w * h;
        if (first.nplanes * ISEC_VCS_SHEETS > ISEC_SHEET_MAX_PAGES || bytes > lim->max_pixel_bytes) {
            isec__sheet_err(err, errlen, "%u planes of %ux%u exceed the limits", first.nplanes, w, h);
            rc = ISEC_ELIMIT;
        } else {
            /* The description is checked by making its share; for the digest alone, a 1x1
             * share of it (the same checks: the size limits were checked above), and the pages
             * go from their strips into the hash instead of into a share. */
            isec_vcs_share_info one = first;
            if (!out) one.width = one.height = 1;
            if ((rc = isec_vcs_share_new(&s, &one)) < 0) {
                isec__sheet_err(err, errlen,
                                "inconsistent sheet description (layout %s, %u channels, %u planes)",
                                isec__sheet_layout_name(first.layout), first.channels, first.nplanes);
            } else if (!out) {
                isec_vcs_share_free(s);
                s = NULL;
            }
            /* The digest, when wanted, is made page by page as they are decoded, while each
             * is in cache. */
            if (rc == 0 && digest && !(md = digest_start(&first))) rc = ISEC_ECRYPTO;
        }
    }
    const unsigned pages = rc == 0 ? first.nplanes * ISEC_VCS_SHEETS : 0;
    for (unsigned pg = 0; rc == 0 && pg < pages; pg++) {
        if (pg > 0 && !TIFFReadDirectory(t)) {
            isec__sheet_err(err, errlen, "%u pages, expected %u%s%s", pg, pages, m.msg[0] ? ": " : "", m.msg);
            rc = ISEC_ETRUNC;
            break;
        }
        uint8_t *dst = s ? isec_vcs_share_sheet(s, pg / ISEC_VCS_SHEETS, pg % ISEC_VCS_SHEETS) : NULL;
        rc = read_page(t, pg, dst, &first, &rd, md, err, errlen);
        if (rc == 0 && m.msg[0]) {
            isec__sheet_err(err, errlen, "page %u: %s", pg, m.msg);
            rc = ISEC_EFORMAT;
        }
    }
    if (rc == 0 && TIFFReadDirectory(t)) {
        isec__sheet_err(err, errlen, "more than the %u pages the description announces", pages);
        rc = ISEC_EFORMAT;
    }
    TIFFClose(t);
    reader_free(&rd);
    if (md && rc == 0) rc = digest_finish(md, &first, digest);
    EVP_MD_CTX_free(md);
    if (rc < 0) {
        isec_vcs_share_free(s);
        return rc;
    }
    if (out) *out = s;
    else *info_out = first;
    return 0;
}

/* isec_sheet_read_mem and isec_vcs_share_digest at once (for isec_sheet_read_mem_pair). */
int isec__sheet_read_mem_digest(const uint8_t *buf, size_t len, const isec_sheet_limits *lim,
                                isec_vcs_share **out, uint8_t digest[ISEC_VCS_DIGEST_LEN],
                                char *err, size_t errlen)
{
    if (!out) return ISEC_EINVAL;
    *out = NULL;
    if (!buf) return ISEC_EINVAL;
    return read_core(buf, len, lim, out, NULL, digest, err, errlen);
}

int isec_sheet_read_mem(const uint8_t *buf, size_t len, const isec_sheet_limits *lim,
                        isec_vcs_share **out, char *err, size_t errlen)
{
    return isec__sheet_read_mem_digest(buf, len, lim, out, NULL, err, errlen);
}

int isec_sheet_digest_mem(const uint8_t *buf, size_t len, const isec_sheet_limits *lim,
                          isec_vcs_share_info *info, uint8_t digest[ISEC_VCS_DIGEST_LEN],
                          char *err, size_t errlen)
{
    if (!buf || !info || !digest) return ISEC_EINVAL;
    return read_core(buf, len, lim, NULL, info, digest, err, errlen);
}

int isec_sheet_read_file(const char *path, const isec_sheet_limits *lim, isec_vcs_share **out,
                         char *err, size_t errlen)
{
    isec_sheet_limits dl;
    if (!out) return ISEC_EINVAL;
    *out = NULL;
    if (!path) return ISEC_EINVAL;
    if (!lim) {
        isec_sheet_limits_init(&dl);
        lim = &dl;
    }
    uint8_t *b = NULL;
    size_t n = 0;
    int rc = isec__sheet_slurp(path, lim->max_bytes, &b, &n, err, errlen);
    if (rc < 0) return rc;
    char e2[300] = "";
    rc = isec_sheet_read_mem(b, n, lim, out, e2, sizeof e2);
    if (rc < 0) isec__sheet_err(err, errlen, "%s: %s", path, e2);
    free(b);
    return rc;
}

/* ---- writing ---- */

static int compression = -1; /* ISEC_SHEET_* of isec_sheet_set_compression; -1: default */

int isec_sheet_set_compression(int which)
{
    if (which < ISEC_SHEET_ZSTD || which > ISEC_SHEET_NONE) return ISEC_EINVAL;
    if (which == ISEC_SHEET_ZSTD && !TIFFIsCODECConfigured(COMPRESSION_ZSTD)) return ISEC_EUNSUPPORTED;
    compression = which;
    return 0;
}

static unsigned write_compression(void)
{
    switch (compression) {
    case ISEC_SHEET_DEFLATE: return COMPRESSION_ADOBE_DEFLATE;
    case ISEC_SHEET_NONE: return COMPRESSION_NONE;
    case ISEC_SHEET_ZSTD: return COMPRESSION_ZSTD;
    default: /* zstd level 1: 2-4x faster than deflate here and files as small; libtiffs built
                without zstd get deflate */
        return TIFFIsCODECConfigured(COMPRESSION_ZSTD) ? COMPRESSION_ZSTD : COMPRESSION_ADOBE_DEFLATE;
    }
}

/* A share's pixels as the pages store them, before compression. */
static uint64_t packed_bytes(const isec_vcs_share_info *in)
{
    return (uint64_t)in->nplanes * ISEC_VCS_SHEETS * ISEC_VCS_PACKED_ROW(in->width) * in->height;
}

/* The TIFF of a share into m (memory, or its file). */
static int write_core(const isec_vcs_share *s, memio *m, char *err, size_t errlen)
{
    const isec_vcs_share_info *in = isec_vcs_share_get_info(s);
    const uint32_t w = in->width, h = in->height;
    const size_t row = ISEC_VCS_PACKED_ROW(w);
    /* Strips of at most 1 MiB each, written whole (libtiff then deflates with libdeflate). */
    const uint32_t rps = row >= ((size_t)1 << 20) ? 1 : (uint32_t)(((size_t)1 << 20) / row) < h
                                                         ? (uint32_t)(((size_t)1 << 20) / row)
                                                         : h;
    TIFF *t = open_mem(m, packed_bytes(in) > ((uint64_t)3 << 30) ? "w8" : "w", 0);
    if (!t) {
        isec__sheet_err(err, errlen, "cannot start a TIFF: %s", m->msg);
        return m->ioerr ? ISEC_EIO : ISEC_ENOMEM;
    }
    uint8_t *strip = malloc(row * rps);
    int rc = strip ? 0 : ISEC_ENOMEM;
    const uint16_t extra = EXTRASAMPLE_UNASSALPHA;
    const unsigned comp = write_compression();
    for (unsigned pl = 0; rc == 0 && pl < in->nplanes; pl++) {
        for (unsigned sh = 0; rc == 0 && sh < ISEC_VCS_SHEETS; sh++) {
            char desc[600], name[80];
            isec__sheet_describe(in, pl, sh, desc, sizeof desc);
            snprintf(name, sizeof name, "vcs plane %u sheet %u layer %u", pl, sh,
                     2 * sh + in->participant);
            int ok = TIFFSetField(t, TIFFTAG_IMAGEWIDTH, w) && TIFFSetField(t, TIFFTAG_IMAGELENGTH, h) &&
                     TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, 1) &&
                     TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, 2) &&
                     TIFFSetField(t, TIFFTAG_EXTRASAMPLES, 1, &extra) &&
                     TIFFSetField(t, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_MINISBLACK) &&
                     TIFFSetField(t, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG) &&
                     TIFFSetField(t, TIFFTAG_COMPRESSION, comp) &&
                     (comp != COMPRESSION_ADOBE_DEFLATE || TIFFSetField(t, TIFFTAG_ZIPQUALITY, 1)) &&
                     (comp != COMPRESSION_ZSTD || TIFFSetField(t, TIFFTAG_ZSTD_LEVEL, 1)) &&
                     TIFFSetField(t, TIFFTAG_ROWSPERSTRIP, rps) &&
                     TIFFSetField(t, TIFFTAG_SUBFILETYPE, FILETYPE_PAGE) &&
                     TIFFSetField(t, TIFFTAG_PAGENUMBER, (uint16_t)(pl * 4 + sh),
                                  (uint16_t)(in->nplanes * 4)) &&
                     TIFFSetField(t, TIFFTAG_PAGENAME, name) &&
                     TIFFSetField(t, TIFFTAG_IMAGEDESCRIPTION, desc) &&
                     TIFFSetField(t, TIFFTAG_SOFTWARE, "imgsec");
            const uint8_t *px = isec_vcs_share_sheet_const(s, pl, sh);
            for (uint32_t y0 = 0, st = 0; ok && y0 < h; y0 += rps, st++) {
                const uint32_t rows = h - y0 < rps ? h - y0 : rps;
                for (uint32_t r = 0; r < rows; r++)
                    isec_vcs_pack_row(px + (size_t)(y0 + r) * w, w, strip + (size_t)r * row);
                ok = TIFFWriteEncodedStrip(t, st, strip, (tmsize_t)(row * rows)) >= 0;
            }
            if (!ok || !TIFFWriteDirectory(t)) {
                isec__sheet_err(err, errlen, "writing TIFF page %u: %s", pl * 4 + sh, m->msg);
                rc = m->ioerr ? ISEC_EIO : ISEC_ENOMEM;
            }
        }
    }
    TIFFClose(t);
    free(strip);
    if (rc < 0 || m->msg[0]) {
        if (rc == 0) isec__sheet_err(err, errlen, "writing TIFF: %s", m->msg);
        return rc < 0 ? rc : ISEC_EIO;
    }
    return 0;
}

int isec_sheet_write_mem(const isec_vcs_share *s, uint8_t **out, size_t *out_len, char *err,
                         size_t errlen)
{
    if (!s || !out || !out_len) return ISEC_EINVAL;
    *out = NULL;
    *out_len = 0;
    const uint64_t raw = packed_bytes(isec_vcs_share_get_info(s));
    memio m;
    memset(&m, 0, sizeof m);
    m.writable = 1;
    /* Room for the raw pixels up front (the file is rarely larger), not grown by doubling. */
    m.cap = raw < ((uint64_t)256 << 20) ? (size_t)raw + 65536 : 0;
    if (m.cap && !(m.buf = malloc(m.cap))) return ISEC_ENOMEM;
    int rc = write_core(s, &m, err, errlen);
    if (rc < 0) {
        free(m.buf);
        return rc;
    }
    *out = m.buf;
    *out_len = m.len;
    return 0;
}

int isec_sheet_write_fd(const isec_vcs_share *s, int fd, char *err, size_t errlen)
{
    if (!s || fd < 0) return ISEC_EINVAL;
    memio m;
    memset(&m, 0, sizeof m);
    m.writable = 1;
    m.to_fd = 1;
    m.fd = fd;
    int rc = write_core(s, &m, err, errlen);
    if (rc == 0 && lseek(fd, (off_t)m.len, SEEK_SET) < 0) rc = ISEC_EIO;
    return rc;
}

/* Writes the file through a temporary file beside it (sheetutil.c). */
int isec_sheet_write_file(const isec_vcs_share *s, const char *path, int overwrite, char *err,
                          size_t errlen)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = isec_sheet_write_mem(s, &buf, &len, err, errlen);
    if (rc < 0) return rc;
    rc = isec__sheet_write_atomic(path, buf, len, overwrite, 0644, err, errlen);
    free(buf);
    return rc;
}

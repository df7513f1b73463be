/* VCS sheet files: one multi-page TIFF per participant (libtiff). Layout and limits: sheetio.h.
 * PNG export and PNG images: sheetpng.c. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <tiffio.h>

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

typedef struct {
    uint8_t *buf;
    size_t len, cap, pos;
    int writable;
    char msg[200]; /* first libtiff error */
} memio;

static tmsize_t mem_read(thandle_t h, void *p, tmsize_t n)
{
    memio *m = h;
    if (n < 0) return -1;
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

/* ---- description text ---- */

static const char *layout_name(unsigned l)
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

static void describe(const isec_vcs_share_info *in, unsigned plane, unsigned sheet, char *out,
                     size_t n)
{
    char t[33], w[33], sid[33];
    hex(in->table_id, ISEC_VCS_ID_LEN, t);
    hex(in->wm_id, ISEC_VCS_ID_LEN, w);
    hex(in->split_id, ISEC_VCS_ID_LEN, sid);
    snprintf(out, n,
             "imgsec-vcs=1\nparticipant=%s\nmode=%s\nlayout=%s\nchannels=%u\nplanes=%u\n"
             "fill=%s\nplane=%u\nsheet=%u\nlayer=%u\ntable-id=%s\nwm-id=%s\nsplit-id=%s\n",
             in->participant ? "B" : "A", in->mode ? "secure" : "exact", layout_name(in->layout),
             in->channels, in->nplanes, in->white_fill ? "1b3w" : "3b1w", plane, sheet,
             2 * sheet + in->participant, t, w, sid);
}

/* Parses a description into info (share keys) and plane/sheet/layer. 0 or -1 (msg in err). */
static int parse_desc(const char *d, isec_vcs_share_info *info, unsigned *plane, unsigned *sheet,
                      unsigned *layer, char *err, size_t errlen)
{
    enum { K_MAGIC, K_PART, K_MODE, K_LAYOUT, K_CH, K_PLANES, K_FILL, K_PLANE, K_SHEET, K_LAYER,
           K_TID, K_WID, K_SID, K_N };
    static const char *const keys[K_N] = {"imgsec-vcs", "participant", "mode", "layout",
                                          "channels", "planes", "fill", "plane", "sheet",
                                          "layer", "table-id", "wm-id", "split-id"};
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
        for (int i = 0; i < K_N; i++)
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
        }
        if (bad) {
            isec__sheet_err(err, errlen, "ImageDescription: bad value for '%s'", line);
            return -1;
        }
    }
    if (seen != (1u << K_N) - 1) {
        for (int i = 0; i < K_N; i++)
            if (!(seen & (1u << i))) {
                isec__sheet_err(err, errlen, "not a VCS sheet file: ImageDescription lacks '%s'", keys[i]);
                break;
            }
        return -1;
    }
    return 0;
}

/* ---- reading ---- */

static int read_page(TIFF *t, unsigned page, isec_vcs_share *s, const isec_vcs_share_info *first,
                     uint8_t *line, char *err, size_t errlen)
{
    const isec_vcs_share_info *info = isec_vcs_share_get_info(s);
    uint32_t w = 0, h = 0;
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
    if (!TIFFGetField(t, TIFFTAG_PHOTOMETRIC, &photo)) photo = 0xffff;
    TIFFGetFieldDefaulted(t, TIFFTAG_EXTRASAMPLES, &nextra, &extra);
    if (spp != 2 || bps != 8 || planar != PLANARCONFIG_CONTIG || photo != PHOTOMETRIC_MINISBLACK ||
        nextra != 1 || !extra || extra[0] != EXTRASAMPLE_UNASSALPHA || TIFFIsTiled(t)) {
        isec__sheet_err(err, errlen, "page %u: not 8-bit gray + unassociated alpha in strips", page);
        return ISEC_EUNSUPPORTED;
    }
    if (comp != COMPRESSION_NONE && comp != COMPRESSION_ADOBE_DEFLATE &&
        comp != COMPRESSION_DEFLATE && comp != COMPRESSION_LZW && comp != COMPRESSION_PACKBITS) {
        isec__sheet_err(err, errlen, "page %u: compression %u not accepted", page, comp);
        return ISEC_EUNSUPPORTED;
    }
    if (!TIFFGetField(t, TIFFTAG_IMAGEDESCRIPTION, &desc) || !desc) {
        isec__sheet_err(err, errlen, "page %u: no ImageDescription", page);
        return ISEC_EFORMAT;
    }
    isec_vcs_share_info pi;
    unsigned plane = 0, sheet = 0, layer = 0;
    if (parse_desc(desc, &pi, &plane, &sheet, &layer, err, errlen) < 0) return ISEC_EFORMAT;
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
    if (TIFFScanlineSize(t) != (tmsize_t)w * 2) {
        isec__sheet_err(err, errlen, "page %u: unexpected scanline size", page);
        return ISEC_EFORMAT;
    }
    uint8_t *dst = isec_vcs_share_sheet(s, plane, sheet);
    for (uint32_t y = 0; y < h; y++) {
        if (TIFFReadScanline(t, line, y, 0) < 0) {
            isec__sheet_err(err, errlen, "page %u: row %u unreadable", page, y);
            return ISEC_EFORMAT;
        }
        for (uint32_t x = 0; x < w; x++) {
            uint8_t g = line[2 * x], a = line[2 * x + 1];
            if (a == 0) dst[(size_t)y * w + x] = ISEC_VCS_PX_T;
            else if (a != 255) {
                isec__sheet_err(err, errlen, "page %u (%u,%u): alpha %u is neither 0 nor 255", page, x, y, a);
                return ISEC_EFORMAT;
            } else if (g == 255) dst[(size_t)y * w + x] = ISEC_VCS_PX_W;
            else if (g == 0) dst[(size_t)y * w + x] = ISEC_VCS_PX_K;
            else {
                isec__sheet_err(err, errlen, "page %u (%u,%u): opaque gray %u is neither 0 nor 255", page, x,
                       y, g);
                return ISEC_EFORMAT;
            }
        }
    }
    return 0;
}

int isec_sheet_read_mem(const uint8_t *buf, size_t len, const isec_sheet_limits *lim,
                        isec_vcs_share **out, char *err, size_t errlen)
{
    isec_sheet_limits dl;
    if (!out) return ISEC_EINVAL;
    *out = NULL;
    if (!buf) return ISEC_EINVAL;
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
    TIFF *t = open_mem(&m, "rm", (tmsize_t)64 << 20);
    if (!t) {
        isec__sheet_err(err, errlen, "not a TIFF file%s%s", m.msg[0] ? ": " : "", m.msg);
        return ISEC_EFORMAT;
    }
    int rc = 0;
    isec_vcs_share *s = NULL;
    uint8_t *line = NULL;
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
    } else if (parse_desc(desc, &first, &plane, &sheet, &layer, err, errlen) < 0) {
        rc = ISEC_EFORMAT;
    } else {
        first.width = w;
        first.height = h;
        uint64_t bytes = (uint64_t)first.nplanes * ISEC_VCS_SHEETS * w * h;
        if (first.nplanes * ISEC_VCS_SHEETS > ISEC_SHEET_MAX_PAGES || bytes > lim->max_pixel_bytes) {
            isec__sheet_err(err, errlen, "%u planes of %ux%u exceed the limits", first.nplanes, w, h);
            rc = ISEC_ELIMIT;
        } else if ((rc = isec_vcs_share_new(&s, &first)) < 0) {
            isec__sheet_err(err, errlen, "inconsistent sheet description (layout %s, %u channels, %u planes)",
                   layout_name(first.layout), first.channels, first.nplanes);
        } else if (!(line = malloc((size_t)w * 2 + 16))) {
            rc = ISEC_ENOMEM;
        }
    }
    const unsigned pages = rc == 0 ? first.nplanes * ISEC_VCS_SHEETS : 0;
    for (unsigned pg = 0; rc == 0 && pg < pages; pg++) {
        if (pg > 0 && !TIFFReadDirectory(t)) {
            isec__sheet_err(err, errlen, "%u pages, expected %u%s%s", pg, pages, m.msg[0] ? ": " : "", m.msg);
            rc = ISEC_ETRUNC;
            break;
        }
        rc = read_page(t, pg, s, &first, line, err, errlen);
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
    free(line);
    if (rc < 0) {
        isec_vcs_share_free(s);
        return rc;
    }
    *out = s;
    return 0;
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

int isec_sheet_write_mem(const isec_vcs_share *s, uint8_t **out, size_t *out_len, char *err,
                         size_t errlen)
{
    if (!s || !out || !out_len) return ISEC_EINVAL;
    *out = NULL;
    *out_len = 0;
    const isec_vcs_share_info *in = isec_vcs_share_get_info(s);
    const uint32_t w = in->width, h = in->height;
    uint64_t raw = (uint64_t)in->nplanes * ISEC_VCS_SHEETS * w * h * 2;
    memio m;
    memset(&m, 0, sizeof m);
    m.writable = 1;
    TIFF *t = open_mem(&m, raw > ((uint64_t)3 << 30) ? "w8" : "w", 0);
    if (!t) {
        isec__sheet_err(err, errlen, "cannot start a TIFF: %s", m.msg);
        free(m.buf);
        return ISEC_ENOMEM;
    }
    uint8_t *line = malloc((size_t)w * 2);
    int rc = line ? 0 : ISEC_ENOMEM;
    static const uint8_t g[3] = {255, 255, 0}, a[3] = {0, 255, 255};
    const uint16_t extra = EXTRASAMPLE_UNASSALPHA;
    for (unsigned pl = 0; rc == 0 && pl < in->nplanes; pl++) {
        for (unsigned sh = 0; rc == 0 && sh < ISEC_VCS_SHEETS; sh++) {
            char desc[600], name[80];
            describe(in, pl, sh, desc, sizeof desc);
            snprintf(name, sizeof name, "vcs plane %u sheet %u layer %u", pl, sh,
                     2 * sh + in->participant);
            int ok = TIFFSetField(t, TIFFTAG_IMAGEWIDTH, w) && TIFFSetField(t, TIFFTAG_IMAGELENGTH, h) &&
                     TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, 8) &&
                     TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, 2) &&
                     TIFFSetField(t, TIFFTAG_EXTRASAMPLES, 1, &extra) &&
                     TIFFSetField(t, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_MINISBLACK) &&
                     TIFFSetField(t, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG) &&
                     TIFFSetField(t, TIFFTAG_COMPRESSION, COMPRESSION_ADOBE_DEFLATE) &&
                     TIFFSetField(t, TIFFTAG_ZIPQUALITY, 1) &&
                     TIFFSetField(t, TIFFTAG_ROWSPERSTRIP, TIFFDefaultStripSize(t, 0)) &&
                     TIFFSetField(t, TIFFTAG_SUBFILETYPE, FILETYPE_PAGE) &&
                     TIFFSetField(t, TIFFTAG_PAGENUMBER, (uint16_t)(pl * 4 + sh),
                                  (uint16_t)(in->nplanes * 4)) &&
                     TIFFSetField(t, TIFFTAG_PAGENAME, name) &&
                     TIFFSetField(t, TIFFTAG_IMAGEDESCRIPTION, desc) &&
                     TIFFSetField(t, TIFFTAG_SOFTWARE, "imgsec");
            const uint8_t *px = isec_vcs_share_sheet_const(s, pl, sh);
            for (uint32_t y = 0; ok && y < h; y++) {
                for (uint32_t x = 0; x < w; x++) {
                    uint8_t v = px[(size_t)y * w + x];
                    if (v > 2) v = 0;
                    line[2 * x] = g[v];
                    line[2 * x + 1] = a[v];
                }
                ok = TIFFWriteScanline(t, line, y, 0) >= 0;
            }
            if (!ok || !TIFFWriteDirectory(t)) {
                isec__sheet_err(err, errlen, "writing TIFF page %u: %s", pl * 4 + sh, m.msg);
                rc = ISEC_ENOMEM;
            }
        }
    }
    TIFFClose(t);
    free(line);
    if (rc < 0 || m.msg[0]) {
        if (rc == 0) isec__sheet_err(err, errlen, "writing TIFF: %s", m.msg);
        free(m.buf);
        return rc < 0 ? rc : ISEC_EIO;
    }
    *out = m.buf;
    *out_len = m.len;
    return 0;
}

/* Creates a temporary file beside path; returns fd and the name in tmp. */
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


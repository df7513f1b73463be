/* PGM, PNG and raw grayscale images (see imageio.h). */
#define _DEFAULT_SOURCE 1 /* madvise */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif

#ifdef ISEC_HAVE_PNG
#include <png.h>
#endif

#include "imageio.h"

#define MAX_PIXELS (1ull << 30)

void isec_img_free(isec_img *img)
{
    free(img->pixels);
    img->pixels = NULL;
}

static unsigned bits_of(uint32_t v)
{
    unsigned n = 0;
    while (v) {
        n++;
        v >>= 1;
    }
    return n;
}

void *isec_img_big_alloc(size_t n)
{
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (n >= (1u << 20)) { /* transparent huge pages: one fault per 2 MiB */
        void *p;
        size_t al = (size_t)2 << 20, sz = (n + al - 1) / al * al;
        if (posix_memalign(&p, al, sz)) return NULL;
        madvise(p, sz, MADV_HUGEPAGE);
        return p;
    }
#endif
    return malloc(n ? n : 1);
}

uint8_t *isec_img_read_file(const char *path, size_t *len, char *err, size_t errlen)
{
    FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    /* a regular file is read in one go into a buffer of its size (+1 to see the end) */
    struct stat st;
    size_t cap = 1 << 16, n = 0;
    if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) && st.st_size >= 0 &&
        (uint64_t)st.st_size < (1ull << 33))
        cap = (size_t)st.st_size + 1;
    uint8_t *buf = isec_img_big_alloc(cap);
    while (buf) {
        if (n == cap) {
            uint8_t *nb = cap > (1ull << 32) ? NULL : realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
    }
    int bad = ferror(f);
    if (f != stdin) fclose(f);
    if (!buf || bad) {
        free(buf);
        snprintf(err, errlen, "%s: cannot read", path);
        return NULL;
    }
    *len = n;
    return buf;
}

static int pnm_int(const uint8_t *b, size_t len, size_t *pos, uint32_t *v)
{
    for (;;) {
        while (*pos < len &&
               (b[*pos] == ' ' || b[*pos] == '\t' || b[*pos] == '\n' || b[*pos] == '\r'))
            (*pos)++;
        if (*pos < len && b[*pos] == '#') {
            while (*pos < len && b[*pos] != '\n')
                (*pos)++;
            continue;
        }
        break;
    }
    if (*pos >= len || b[*pos] < '0' || b[*pos] > '9') return -1;
    uint64_t x = 0;
    while (*pos < len && b[*pos] >= '0' && b[*pos] <= '9') {
        x = x * 10 + (uint64_t)(b[*pos] - '0');
        if (x > 0xffffffffu) return -1;
        (*pos)++;
    }
    *v = (uint32_t)x;
    return 0;
}

void isec_img_packed_free(isec_img_packed *img)
{
    free(img->buf);
    img->buf = NULL;
    img->samples = NULL;
}

/* b (len bytes, malloc'd) becomes img->buf on success; freed on failure. */
static int read_pgm(uint8_t *b, size_t len, isec_img_packed *img, char *err, size_t errlen)
{
    size_t pos = 2;
    uint32_t w, h, maxv;
    int ascii = b[1] == '2';
    if (pnm_int(b, len, &pos, &w) || pnm_int(b, len, &pos, &h) || pnm_int(b, len, &pos, &maxv) ||
        !w || !h || !maxv || maxv > 65535) {
        snprintf(err, errlen, "bad PGM header");
        free(b);
        return -1;
    }
    if ((uint64_t)w * h > MAX_PIXELS) {
        snprintf(err, errlen, "PGM too large");
        free(b);
        return -1;
    }
    pos++; /* the single whitespace after maxval */
    size_t n = (size_t)w * h, bps = maxv > 255 ? 2 : 1;
    uint8_t *px;
    if (!ascii) {
        if (len < pos || len - pos < n * bps) {
            snprintf(err, errlen, "PGM data cut short");
            free(b);
            return -1;
        }
        px = b + pos;
        img->buf = b;
    } else {
        img->buf = malloc(n * bps);
        if (!img->buf) {
            snprintf(err, errlen, "out of memory");
            free(b);
            return -1;
        }
        px = img->buf;
        pos--;
        for (size_t i = 0; i < n; i++) {
            uint32_t v;
            if (pnm_int(b, len, &pos, &v) || v > maxv) {
                snprintf(err, errlen, "bad PGM sample");
                free(b);
                isec_img_packed_free(img);
                return -1;
            }
            if (bps == 1) {
                px[i] = (uint8_t)v;
            } else {
                px[2 * i] = (uint8_t)(v >> 8);
                px[2 * i + 1] = (uint8_t)v;
            }
        }
        free(b);
    }
    /* samples above maxval (invalid PGM) are clamped (none can be at maxval 255 or 65535) */
    if (bps == 1 && maxv < 255) {
        unsigned hi = 0;
        for (size_t i = 0; i < n; i++)
            hi = px[i] > hi ? px[i] : hi;
        if (hi > maxv)
            for (size_t i = 0; i < n; i++)
                if (px[i] > maxv) px[i] = (uint8_t)maxv;
    } else if (bps == 2 && maxv < 65535) {
        for (size_t i = 0; i < n; i++)
            if ((uint32_t)(px[2 * i] << 8 | px[2 * i + 1]) > maxv) {
                px[2 * i] = (uint8_t)(maxv >> 8);
                px[2 * i + 1] = (uint8_t)maxv;
            }
    }
    img->samples = px;
    img->width = w;
    img->height = h;
    img->depth = bits_of(maxv);
    img->is_signed = 0;
    img->big_endian = 1;
    return 0;
}

#ifdef ISEC_HAVE_PNG
static int read_png(const char *path, isec_img_packed *img, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    png_structp p = png_create_read_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = p ? png_create_info_struct(p) : NULL;
    png_bytep *rows = NULL;
    if (!p || !info) {
        png_destroy_read_struct(&p, &info, NULL);
        fclose(f);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (setjmp(png_jmpbuf(p))) {
        png_destroy_read_struct(&p, &info, NULL);
        free(rows);
        isec_img_packed_free(img);
        fclose(f);
        snprintf(err, errlen, "%s: bad PNG", path);
        return -1;
    }
    png_init_io(p, f);
    png_set_user_limits(p, 1u << 20, 1u << 20);
    png_read_info(p, info);
    png_uint_32 w = png_get_image_width(p, info), h = png_get_image_height(p, info);
    int ct = png_get_color_type(p, info), bd = png_get_bit_depth(p, info);
    if (ct & PNG_COLOR_MASK_COLOR) {
        png_destroy_read_struct(&p, &info, NULL);
        fclose(f);
        snprintf(err, errlen, "%s: color PNG (grayscale only)", path);
        return -1;
    }
    if (ct & PNG_COLOR_MASK_ALPHA) png_set_strip_alpha(p);
    if (bd < 8) png_set_expand_gray_1_2_4_to_8(p);
    png_read_update_info(p, info);
    size_t rb = png_get_rowbytes(p, info), bps = bd == 16 ? 2 : 1;
    if ((uint64_t)w * h > MAX_PIXELS || rb != (size_t)w * bps) png_error(p, "unsupported layout");
    img->buf = malloc(rb * h);
    rows = malloc(sizeof *rows * h);
    if (!img->buf || !rows) png_error(p, "out of memory");
    for (size_t r = 0; r < h; r++)
        rows[r] = img->buf + r * rb;
    png_read_image(p, rows);
    free(rows);
    png_destroy_read_struct(&p, &info, NULL);
    fclose(f);
    img->samples = img->buf;
    img->width = w;
    img->height = h;
    img->depth = bd == 16 ? 16 : 8;
    img->is_signed = 0;
    img->big_endian = 1;
    return 0;
}
#endif

int isec_img_read_packed(const char *path, isec_img_packed *img, char *err, size_t errlen)
{
    memset(img, 0, sizeof *img);
    size_t len;
    uint8_t *b = isec_img_read_file(path, &len, err, errlen);
    if (!b) return -1;
    if (len >= 2 && b[0] == 'P' && (b[1] == '5' || b[1] == '2'))
        return read_pgm(b, len, img, err, errlen);
    int rc = -1;
    if (len >= 8 && !memcmp(b, "\x89PNG\r\n\x1a\n", 8)) {
#ifdef ISEC_HAVE_PNG
        rc = read_png(path, img, err, errlen);
#else
        snprintf(err, errlen, "%s: PNG support not built in", path);
#endif
    } else {
        snprintf(err, errlen, "%s: not a PGM or PNG file (use --width/--height/--depth for raw)",
                 path);
    }
    free(b);
    return rc;
}

int isec_img_read_raw_packed(const char *path, uint32_t width, uint32_t height, unsigned depth,
                             int is_signed, int big_endian, isec_img_packed *img, char *err,
                             size_t errlen)
{
    memset(img, 0, sizeof *img);
    if (!width || !height || depth < 1 || depth > 16 || (uint64_t)width * height > MAX_PIXELS) {
        snprintf(err, errlen, "bad raw geometry");
        return -1;
    }
    size_t len, n = (size_t)width * height, bps = depth > 8 ? 2 : 1;
    uint8_t *b = isec_img_read_file(path, &len, err, errlen);
    if (!b) return -1;
    if (len != n * bps) {
        snprintf(err, errlen, "%s: %zu bytes, expected %zu for %ux%u %u-bit", path, len, n * bps,
                 width, height, depth);
        free(b);
        return -1;
    }
    int32_t lo = is_signed ? -(1 << (depth - 1)) : 0;
    uint32_t span = (1u << depth) - 1u;
    if (depth != 8 && depth != 16) { /* 8- and 16-bit samples always fit */
        for (size_t i = 0; i < n; i++) {
            uint32_t u = bps == 1     ? b[i]
                         : big_endian ? (uint32_t)(b[2 * i] << 8 | b[2 * i + 1])
                                      : (uint32_t)(b[2 * i + 1] << 8 | b[2 * i]);
            int32_t v = (int32_t)u;
            if (is_signed) v = bps == 1 ? (int32_t)(int8_t)u : (int32_t)(int16_t)u;
            if ((uint32_t)v - (uint32_t)lo > span) {
                snprintf(err, errlen, "%s: sample %zu (%d) does not fit %u bits", path, i, v,
                         depth);
                free(b);
                return -1;
            }
        }
    }
    img->buf = b;
    img->samples = b;
    img->width = width;
    img->height = height;
    img->depth = depth;
    img->is_signed = is_signed;
    img->big_endian = big_endian;
    return 0;
}

/* Widens a packed image into img (pixels malloc'd). */
static int widen(const isec_img_packed *pk, isec_img *img, char *err, size_t errlen)
{
    size_t n = (size_t)pk->width * pk->height;
    img->pixels = malloc(sizeof *img->pixels * n);
    if (!img->pixels) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    const uint8_t *b = pk->samples;
    for (size_t i = 0; i < n; i++) {
        if (pk->depth <= 8) {
            img->pixels[i] = pk->is_signed ? (int32_t)(int8_t)b[i] : (int32_t)b[i];
        } else {
            uint32_t u = pk->big_endian ? (uint32_t)(b[2 * i] << 8 | b[2 * i + 1])
                                        : (uint32_t)(b[2 * i + 1] << 8 | b[2 * i]);
            img->pixels[i] = pk->is_signed ? (int32_t)(int16_t)u : (int32_t)u;
        }
    }
    img->width = pk->width;
    img->height = pk->height;
    img->depth = pk->depth;
    img->is_signed = pk->is_signed;
    return 0;
}

int isec_img_read(const char *path, isec_img *img, char *err, size_t errlen)
{
    memset(img, 0, sizeof *img);
    isec_img_packed pk;
    if (isec_img_read_packed(path, &pk, err, errlen)) return -1;
    int rc = widen(&pk, img, err, errlen);
    isec_img_packed_free(&pk);
    return rc;
}

int isec_img_read_raw(const char *path, uint32_t width, uint32_t height, unsigned depth,
                      int is_signed, int big_endian, isec_img *img, char *err, size_t errlen)
{
    memset(img, 0, sizeof *img);
    isec_img_packed pk;
    if (isec_img_read_raw_packed(path, width, height, depth, is_signed, big_endian, &pk, err,
                                 errlen))
        return -1;
    int rc = widen(&pk, img, err, errlen);
    isec_img_packed_free(&pk);
    return rc;
}

size_t isec_img_pgm_header(char hdr[40], uint32_t width, uint32_t height, unsigned depth)
{
    int n = snprintf(hdr, 40, "P5\n%u %u\n%u\n", width, height, (1u << depth) - 1u);
    return n > 0 ? (size_t)n : 0;
}

int isec_img_to_pgm(const isec_img *img, uint8_t **out, size_t *len)
{
    size_t n = (size_t)img->width * img->height, bps = img->depth > 8 ? 2 : 1;
    char hdr[64];
    int hl = snprintf(hdr, sizeof hdr, "P5\n%u %u\n%u\n", img->width, img->height,
                      (1u << img->depth) - 1u);
    uint8_t *b = malloc((size_t)hl + n * bps);
    if (!b) return -1;
    memcpy(b, hdr, (size_t)hl);
    int32_t off = img->is_signed ? 1 << (img->depth - 1) : 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t v = (uint32_t)(img->pixels[i] + off);
        if (bps == 1) {
            b[(size_t)hl + i] = (uint8_t)v;
        } else {
            b[(size_t)hl + 2 * i] = (uint8_t)(v >> 8);
            b[(size_t)hl + 2 * i + 1] = (uint8_t)v;
        }
    }
    *out = b;
    *len = (size_t)hl + n * bps;
    return 0;
}

int isec_img_to_raw(const isec_img *img, int big_endian, uint8_t **out, size_t *len)
{
    size_t n = (size_t)img->width * img->height, bps = img->depth > 8 ? 2 : 1;
    size_t total = n * bps;
    uint8_t *b = malloc(total ? total : 1);
    if (!b) return -1;
    for (size_t i = 0; i < n; i++) {
        uint32_t v = (uint32_t)img->pixels[i];
        if (bps == 1) {
            b[i] = (uint8_t)v;
        } else if (big_endian) {
            b[2 * i] = (uint8_t)(v >> 8);
            b[2 * i + 1] = (uint8_t)v;
        } else {
            b[2 * i] = (uint8_t)v;
            b[2 * i + 1] = (uint8_t)(v >> 8);
        }
    }
    *out = b;
    *len = n * bps;
    return 0;
}

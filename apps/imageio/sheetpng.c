/* PNG for the VCS command: sheet export for transparencies and 8-bit images (libpng's
 * simplified API). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <png.h>

#include "sheetutil.h"

static int png_write_file(const char *path, uint32_t width, uint32_t height, unsigned channels,
                          const uint8_t *pixels, int overwrite, char *err, size_t errlen);

int isec_sheet_export_png(const isec_vcs_share *s, const char *dir, const char *prefix,
                          int overwrite, char *err, size_t errlen)
{
    if (!s || !dir || !prefix) return ISEC_EINVAL;
    const isec_vcs_share_info *in = isec_vcs_share_get_info(s);
    const size_t n = (size_t)in->width * in->height;
    uint8_t *rgba = malloc(n * 4);
    if (!rgba) return ISEC_ENOMEM;
    static const uint8_t ink[3][3] = {{0, 255, 255}, {255, 0, 255}, {255, 255, 0}};
    const unsigned total = in->nplanes * ISEC_VCS_SHEETS;
    char(*made)[4200] = calloc(total, sizeof *made);
    int rc = made ? 0 : ISEC_ENOMEM;
    unsigned nmade = 0;
    for (unsigned pl = 0; rc == 0 && pl < in->nplanes; pl++) {
        for (unsigned sh = 0; rc == 0 && sh < ISEC_VCS_SHEETS; sh++) {
            const uint8_t *px = isec_vcs_share_sheet_const(s, pl, sh);
            const uint8_t *k =
                in->layout == ISEC_VCS_LAYOUT_CMY ? ink[pl] : (const uint8_t[3]){0, 0, 0};
            for (size_t i = 0; i < n; i++) {
                uint8_t *o = rgba + 4 * i;
                if (px[i] == ISEC_VCS_PX_K)
                    o[0] = k[0], o[1] = k[1], o[2] = k[2], o[3] = 255;
                else if (px[i] == ISEC_VCS_PX_W)
                    o[0] = o[1] = o[2] = o[3] = 255;
                else
                    o[0] = o[1] = o[2] = o[3] = 0;
            }
            char *path = made[nmade];
            if ((size_t)snprintf(path, sizeof made[0], "%s/%s-p%u-s%u-layer%u.png", dir, prefix, pl,
                                 sh, 2 * sh + in->participant) >= sizeof made[0]) {
                isec__sheet_err(err, errlen, "output path too long");
                rc = ISEC_EINVAL;
                break;
            }
            rc = png_write_file(path, in->width, in->height, 4, rgba, overwrite, err, errlen);
            if (rc == 0) nmade++;
        }
    }
    if (rc < 0)
        for (unsigned i = 0; i < nmade; i++)
            unlink(made[i]); /* all or nothing */
    free(made);
    free(rgba);
    return rc;
}

int isec_png_read8(const char *path, unsigned channels_wanted, uint32_t *width, uint32_t *height,
                   unsigned *channels, uint8_t **pixels, char *err, size_t errlen)
{
    if (!path || !width || !height || !channels || !pixels || channels_wanted == 2 ||
        channels_wanted > 3)
        return ISEC_EINVAL;
    *pixels = NULL;
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&img, path)) {
        isec__sheet_err(err, errlen, "%s: %s", path,
                        img.message[0] ? img.message : "cannot read PNG");
        png_image_free(&img);
        return access(path, R_OK) ? ISEC_EIO : ISEC_EFORMAT;
    }
    if (!img.width || !img.height || img.width > ISEC_VCS_MAX_DIM ||
        img.height > ISEC_VCS_MAX_DIM || (uint64_t)img.width * img.height > ISEC_VCS_MAX_PIXELS) {
        isec__sheet_err(err, errlen, "%s: %ux%u exceeds the size limit", path, img.width,
                        img.height);
        png_image_free(&img);
        return ISEC_ELIMIT;
    }
    unsigned ch = channels_wanted ? channels_wanted : (img.format & PNG_FORMAT_FLAG_COLOR) ? 3 : 1;
    img.format = ch == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY;
    size_t n = (size_t)img.width * img.height * ch;
    uint8_t *px = malloc(n);
    if (!px) {
        png_image_free(&img);
        return ISEC_ENOMEM;
    }
    /* Transparent pixels are composed over white, as on paper. */
    png_color bg = {255, 255, 255};
    if (!png_image_finish_read(&img, &bg, px, 0, NULL)) {
        isec__sheet_err(err, errlen, "%s: %s", path, img.message);
        free(px);
        png_image_free(&img);
        return ISEC_EFORMAT;
    }
    *width = img.width;
    *height = img.height;
    *channels = ch;
    *pixels = px;
    return 0;
}

static void png_fail(png_structp png, png_const_charp msg)
{
    char *buf = png_get_error_ptr(png);
    snprintf(buf, 200, "%s", msg);
    png_longjmp(png, 1);
}

static void png_quiet(png_structp png, png_const_charp msg)
{
    (void)png, (void)msg;
}

/* Rows of pixels to f with libpng's full API: zlib level 1 and the Sub filter, several times
 * faster than the defaults (level 6, adaptive filters) for a few percent of size on these
 * images; RGBA (export-png) keeps the defaults: half the size on sheets. 0 or -1 with a message in
 * msg. */
static int png_put(FILE *f, uint32_t width, uint32_t height, unsigned channels,
                   const uint8_t *pixels, char msg[200])
{
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, msg, png_fail, png_quiet);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        snprintf(msg, 200, "out of memory");
        png_destroy_write_struct(&png, NULL);
        return -1;
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        return -1;
    }
    png_init_io(png, f);
    if (channels != 4) { /* RGBA: sheets exported for printing, where size matters more */
        png_set_compression_level(png, 1);
        png_set_filter(png, 0, PNG_FILTER_SUB);
    }
    png_set_IHDR(png, info, width, height, 8,
                 channels == 4   ? PNG_COLOR_TYPE_RGB_ALPHA
                 : channels == 3 ? PNG_COLOR_TYPE_RGB
                                 : PNG_COLOR_TYPE_GRAY,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (uint32_t y = 0; y < height; y++)
        png_write_row(png, pixels + (size_t)y * width * channels);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    return 0;
}

int isec_png_write8(const char *path, uint32_t width, uint32_t height, unsigned channels,
                    const uint8_t *pixels, int overwrite, char *err, size_t errlen)
{
    if (!path || !pixels || (channels != 1 && channels != 3) || !width || !height)
        return ISEC_EINVAL;
    return png_write_file(path, width, height, channels, pixels, overwrite, err, errlen);
}

/* An 8-bit PNG (1, 3 or 4 channels) to path through a temporary file beside it: written,
 * fsync'ed, then published (refusing an existing file unless overwrite). */
static int png_write_file(const char *path, uint32_t width, uint32_t height, unsigned channels,
                          const uint8_t *pixels, int overwrite, char *err, size_t errlen)
{
    char tmp[4200], msg[200] = "";
    if (!overwrite && access(path, F_OK) == 0) {
        isec__sheet_err(err, errlen, "%s: exists; not overwriting", path);
        return ISEC_EEXIST;
    }
    int fd = isec__sheet_tmp_beside(path, tmp, sizeof tmp, 0644);
    if (fd < 0) {
        isec__sheet_err(err, errlen, "%s: cannot create a temporary file beside it: %s", path,
                        strerror(errno));
        return ISEC_EIO;
    }
    FILE *f = fdopen(fd, "wb");
    if (!f) {
        close(fd);
        unlink(tmp);
        return ISEC_EIO;
    }
    int ok =
        png_put(f, width, height, channels, pixels, msg) == 0 && fflush(f) == 0 && fsync(fd) == 0;
    if (!ok) isec__sheet_err(err, errlen, "%s: %s", path, msg[0] ? msg : strerror(errno));
    if (fclose(f) != 0) ok = 0;
    if (!ok) {
        unlink(tmp);
        return ISEC_EIO;
    }
    return isec__sheet_publish(tmp, path, overwrite, err, errlen);
}

int isec_png_read_watermark(const char *path, isec_vcs_watermark *wm, char *err, size_t errlen)
{
    if (!wm) return ISEC_EINVAL;
    memset(wm, 0, sizeof *wm);
    uint32_t w, h;
    unsigned ch;
    uint8_t *px = NULL;
    int rc = isec_png_read8(path, 1, &w, &h, &ch, &px, err, errlen);
    if (rc < 0) return rc;
    if (w > ISEC_VCS_MAX_WM_DIM || h > ISEC_VCS_MAX_WM_DIM) {
        isec__sheet_err(err, errlen, "%s: watermark %ux%u exceeds %u each way", path, w, h,
                        ISEC_VCS_MAX_WM_DIM);
        free(px);
        return ISEC_ELIMIT;
    }
    for (size_t i = 0; i < (size_t)w * h; i++)
        px[i] = px[i] < 128;
    wm->width = w;
    wm->height = h;
    wm->bits = px;
    return 0;
}

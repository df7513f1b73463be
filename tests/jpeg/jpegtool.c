#include "jpegtool.h"

#include <math.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>

struct err {
    struct jpeg_error_mgr pub;
    jmp_buf jb;
    int warnings;
};

static void on_error(j_common_ptr c)
{
    longjmp(((struct err *)c->err)->jb, 1);
}

static void on_message(j_common_ptr c, int level)
{
    if (level < 0) ((struct err *)c->err)->warnings++;
}

static uint8_t pattern(const jt_params *p, int x, int y, int ch)
{
    double fx = x / (double)(p->width > 1 ? p->width : 2), fy = y / (double)(p->height > 1 ? p->height : 2);
    double v = 128 + 90 * sin(6.0 * fx + p->seed + ch) * cos(4.0 * fy - ch);
    double cx = fx - 0.5, cy = fy - 0.4;
    if (cx * cx + cy * cy < 0.05) v = 40 + 60 * ch;
    v += ((x * 7 + y * 13 + p->seed * 31 + ch * 5) % 17) * 2; /* texture */
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

uint8_t *jt_make(const jt_params *p, size_t *len)
{
    struct jpeg_compress_struct c;
    struct err e = {0};
    unsigned char *out = NULL;
    unsigned long outlen = 0;
    uint8_t *row = malloc((size_t)p->width * (size_t)p->ncomp);
    if (!row) return NULL;
    c.err = jpeg_std_error(&e.pub);
    e.pub.error_exit = on_error;
    if (setjmp(e.jb)) {
        jpeg_destroy_compress(&c);
        free(row);
        free(out);
        return NULL;
    }
    jpeg_create_compress(&c);
    jpeg_mem_dest(&c, &out, &outlen);
    c.image_width = (JDIMENSION)p->width;
    c.image_height = (JDIMENSION)p->height;
    c.input_components = p->ncomp;
    c.in_color_space = p->ncomp == 1 ? JCS_GRAYSCALE : p->ncomp == 3 ? JCS_RGB : JCS_CMYK;
    jpeg_set_defaults(&c);
    if (p->ncomp == 3 && p->rgb) jpeg_set_colorspace(&c, JCS_RGB);
    if (p->ncomp == 4 && p->ycck) jpeg_set_colorspace(&c, JCS_YCCK);
    jpeg_set_quality(&c, p->quality ? p->quality : 80, TRUE);
    if (p->h0) {
        c.comp_info[0].h_samp_factor = p->h0;
        c.comp_info[0].v_samp_factor = p->v0;
        for (int i = 1; i < c.num_components; i++)
            c.comp_info[i].h_samp_factor = c.comp_info[i].v_samp_factor = 1;
    }
    if (p->progressive) jpeg_simple_progression(&c);
    c.restart_in_rows = p->restart_rows;
    c.restart_interval = (unsigned)p->restart_mcus;
    c.optimize_coding = p->optimize ? TRUE : FALSE;
    c.arith_code = p->arithmetic ? TRUE : FALSE;
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        int y = (int)c.next_scanline;
        for (int x = 0; x < p->width; x++)
            for (int ch = 0; ch < p->ncomp; ch++)
                row[(size_t)x * (size_t)p->ncomp + (size_t)ch] = pattern(p, x, y, ch);
        JSAMPROW r = row;
        jpeg_write_scanlines(&c, &r, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    free(row);
    uint8_t *res = malloc(outlen);
    if (res) memcpy(res, out, outlen);
    free(out);
    *len = outlen;
    return res;
}

jt_image jt_decode(const uint8_t *buf, size_t len)
{
    jt_image im = {0};
    struct jpeg_decompress_struct d;
    struct err e = {0};
    d.err = jpeg_std_error(&e.pub);
    e.pub.error_exit = on_error;
    e.pub.emit_message = on_message;
    if (setjmp(e.jb)) {
        jpeg_destroy_decompress(&d);
        free(im.pixels);
        im.pixels = NULL;
        im.ok = 0;
        im.warnings = e.warnings;
        return im;
    }
    jpeg_create_decompress(&d);
    jpeg_mem_src(&d, buf, (unsigned long)len);
    jpeg_read_header(&d, TRUE);
    jpeg_start_decompress(&d);
    im.width = (int)d.output_width;
    im.height = (int)d.output_height;
    im.ncomp = d.output_components;
    size_t stride = (size_t)im.width * (size_t)im.ncomp;
    im.pixels = malloc(stride * (size_t)im.height);
    if (!im.pixels) longjmp(e.jb, 1);
    while (d.output_scanline < d.output_height) {
        JSAMPROW r = im.pixels + stride * d.output_scanline;
        jpeg_read_scanlines(&d, &r, 1);
    }
    jpeg_finish_decompress(&d);
    jpeg_destroy_decompress(&d);
    im.ok = 1;
    im.warnings = e.warnings;
    return im;
}

void jt_free(jt_image *im)
{
    free(im->pixels);
    im->pixels = NULL;
}

double jt_psnr(const jt_image *a, const jt_image *b)
{
    if (!a->ok || !b->ok || a->width != b->width || a->height != b->height || a->ncomp != b->ncomp)
        return -1;
    size_t n = (size_t)a->width * (size_t)a->height * (size_t)a->ncomp;
    double se = 0;
    for (size_t i = 0; i < n; i++) {
        double dlt = (double)a->pixels[i] - (double)b->pixels[i];
        se += dlt * dlt;
    }
    if (se == 0) return 99;
    return 10 * log10(255.0 * 255.0 / (se / (double)n));
}

static void put16(uint8_t *p, unsigned v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}
static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

uint8_t *jt_exif_app1(const uint8_t *thumb, size_t tlen, size_t *seglen)
{
    /* FFE1 len "Exif\0\0" | MM 002A 00000008 | IFD0: 1 entry (Orientation), next=IFD1 |
     * IFD1: 0x0103=6, 0x0201=off, 0x0202=len, next=0 | thumbnail */
    size_t tiff_len = 8 + (2 + 12 + 4) + (2 + 3 * 12 + 4) + tlen;
    size_t n = 4 + 6 + tiff_len;
    if (n > 65535 + 2) return NULL;
    uint8_t *s = calloc(1, n), *t = s + 10;
    s[0] = 0xFF;
    s[1] = 0xE1;
    put16(s + 2, (unsigned)(n - 2));
    memcpy(s + 4, "Exif\0\0", 6);
    memcpy(t, "MM\0\x2a", 4);
    put32(t + 4, 8);
    uint8_t *ifd0 = t + 8;
    put16(ifd0, 1);
    put16(ifd0 + 2, 0x0112);
    put16(ifd0 + 4, 3);
    put32(ifd0 + 6, 1);
    put16(ifd0 + 10, 1);
    uint32_t ifd1off = 8 + 18;
    put32(ifd0 + 14, ifd1off);
    uint8_t *ifd1 = t + ifd1off;
    uint32_t thumboff = ifd1off + 2 + 36 + 4;
    put16(ifd1, 3);
    put16(ifd1 + 2, 0x0103);
    put16(ifd1 + 4, 3);
    put32(ifd1 + 6, 1);
    put16(ifd1 + 10, 6);
    put16(ifd1 + 14, 0x0201);
    put16(ifd1 + 16, 4);
    put32(ifd1 + 18, 1);
    put32(ifd1 + 22, thumboff);
    put16(ifd1 + 26, 0x0202);
    put16(ifd1 + 28, 4);
    put32(ifd1 + 30, 1);
    put32(ifd1 + 34, (uint32_t)tlen);
    put32(ifd1 + 38, 0);
    memcpy(t + thumboff, thumb, tlen);
    *seglen = n;
    return s;
}

uint8_t *jt_insert_after_soi(const uint8_t *jpg, size_t len, const uint8_t *seg, size_t seglen,
                             size_t *outlen)
{
    uint8_t *o = malloc(len + seglen);
    if (!o) return NULL;
    memcpy(o, jpg, 2);
    memcpy(o + 2, seg, seglen);
    memcpy(o + 2 + seglen, jpg + 2, len - 2);
    *outlen = len + seglen;
    return o;
}

uint8_t *jt_mpf(const uint8_t *primary, size_t plen, const uint8_t *second, size_t slen,
                size_t *outlen, size_t *second_off)
{
    /* APP2: FFE2 len "MPF\0" | MM 002A 00000008 | IFD: 3 entries (B000 version, B001 count,
     * B002 entries), next 0 | 2 entries of 16 bytes */
    size_t seglen = 4 + 4 + 8 + 2 + 3 * 12 + 4 + 32;
    uint8_t seg[4 + 4 + 8 + 2 + 36 + 4 + 32] = {0}, *t = seg + 8;
    seg[0] = 0xFF;
    seg[1] = 0xE2;
    put16(seg + 2, (unsigned)(seglen - 2));
    memcpy(seg + 4, "MPF\0", 4);
    memcpy(t, "MM\0\x2a", 4);
    put32(t + 4, 8);
    uint8_t *ifd = t + 8;
    put16(ifd, 3);
    put16(ifd + 2, 0xB000);
    put16(ifd + 4, 7);
    put32(ifd + 6, 4);
    memcpy(ifd + 10, "0100", 4);
    put16(ifd + 14, 0xB001);
    put16(ifd + 16, 4);
    put32(ifd + 18, 1);
    put32(ifd + 22, 2);
    uint32_t entoff = 8 + 2 + 36 + 4;
    put16(ifd + 26, 0xB002);
    put16(ifd + 28, 7);
    put32(ifd + 30, 32);
    put32(ifd + 34, entoff);
    put32(ifd + 38, 0);
    size_t total = plen + seglen + slen;
    size_t tiff_abs = 2 + 8; /* SOI + marker/len/"MPF\0" */
    uint8_t *e = t + entoff;
    put32(e, 0x20030000);
    put32(e + 4, (uint32_t)(plen + seglen));
    put32(e + 8, 0);
    put32(e + 16, 0);
    put32(e + 20, (uint32_t)slen);
    put32(e + 24, (uint32_t)(plen + seglen - tiff_abs));
    uint8_t *o = malloc(total);
    if (!o) return NULL;
    memcpy(o, primary, 2);
    memcpy(o + 2, seg, seglen);
    memcpy(o + 2 + seglen, primary + 2, plen - 2);
    memcpy(o + plen + seglen, second, slen);
    *outlen = total;
    *second_off = plen + seglen;
    return o;
}

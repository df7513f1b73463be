/* Test helpers around libjpeg-turbo: make JPEGs of every kind in memory, decode with warnings
 * counted, and compare pictures by PSNR. */
#ifndef ISEC_TEST_JPEGTOOL_H
#define ISEC_TEST_JPEGTOOL_H
#include <stddef.h>
#include <stdint.h>

typedef struct {
    int width, height;
    int ncomp;           /* 1 gray, 3 YCbCr (or RGB with rgb=1), 4 CMYK (YCCK with ycck=1) */
    int rgb, ycck;
    int quality;
    int h0, v0;          /* sampling of component 0 (others 1x1); 0 = libjpeg default */
    int progressive;     /* jpeg_simple_progression */
    int restart_rows;    /* restart every N MCU rows */
    int restart_mcus;    /* restart every N MCUs */
    int optimize;
    int arithmetic;
    int seed;            /* picture content */
} jt_params;

/* Compresses a synthetic picture (smooth shapes + texture, varies with seed). */
uint8_t *jt_make(const jt_params *p, size_t *len);

typedef struct {
    int ok;          /* decoded without a fatal error */
    int warnings;    /* libjpeg warnings (corrupt-data class) */
    int width, height, ncomp;
    uint8_t *pixels; /* width*height*ncomp, NULL if !ok */
} jt_image;

/* Decodes fully with libjpeg; never aborts the process. */
jt_image jt_decode(const uint8_t *buf, size_t len);
void jt_free(jt_image *im);
/* PSNR of two decoded pictures of the same shape; -1 if shapes differ; 99 if identical. */
double jt_psnr(const jt_image *a, const jt_image *b);

/* Builds an APP1 Exif segment (marker included) holding thumb as the IFD1 JPEG thumbnail. */
uint8_t *jt_exif_app1(const uint8_t *thumb, size_t tlen, size_t *seglen);
/* Inserts a segment right after SOI. */
uint8_t *jt_insert_after_soi(const uint8_t *jpg, size_t len, const uint8_t *seg, size_t seglen,
                             size_t *outlen);
/* primary + APP2 MPF (after SOI) + secondary appended after EOI, as cameras write it. */
uint8_t *jt_mpf(const uint8_t *primary, size_t plen, const uint8_t *second, size_t slen,
                size_t *outlen, size_t *second_off);
#endif

/* Grayscale image files for the command line: PGM (P2/P5, 1-16 bit), PNG (gray, 1-16 bit, via
 * libpng when built with it) and raw samples. Not part of libimgsec. */
#ifndef ISEC_IMAGEIO_H
#define ISEC_IMAGEIO_H
#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t width, height;
    unsigned depth; /* bits per sample, 1..16 */
    int is_signed;
    int32_t *pixels; /* row-major, malloc'd */
} isec_img;

/* Reads a PGM or PNG file (chosen by content). Returns 0 or -1 with a message in err. */
int isec_img_read(const char *path, isec_img *img, char *err, size_t errlen);
/* A buffer for a whole image or file (free() it): 2 MiB pages when large, where available. */
void *isec_img_big_alloc(size_t n);
/* Whole file ("-" is stdin) into a malloc'd buffer (at most 8 GiB); NULL and err on failure. */
uint8_t *isec_img_read_file(const char *path, size_t *len, char *err, size_t errlen);
/* Reads raw samples: 1 byte each for depth <= 8, else 2 bytes (little-endian unless big_endian);
 * signed samples are two's complement. The file must hold exactly width*height samples. */
int isec_img_read_raw(const char *path, uint32_t width, uint32_t height, unsigned depth,
                      int is_signed, int big_endian, isec_img *img, char *err, size_t errlen);
/* Serializes img as binary PGM (signed samples are offset by 2^(depth-1)) or, with raw set, as
 * raw samples in the layout above. *out is malloc'd. Returns 0 or -1. */
int isec_img_to_pgm(const isec_img *img, uint8_t **out, size_t *len);
int isec_img_to_raw(const isec_img *img, int big_endian, uint8_t **out, size_t *len);
void isec_img_free(isec_img *img);

/* The same images as packed samples, as the files hold them (no widening to int32): 1 byte per
 * sample for depth <= 8, else 2, big-endian (PGM, PNG) or as given (raw); signed samples in
 * two's complement. PGM samples above maxval are clamped to it. */
typedef struct {
    uint32_t width, height;
    unsigned depth; /* 1..16 */
    int is_signed, big_endian;
    const uint8_t *samples; /* width*height samples inside buf */
    uint8_t *buf;           /* malloc'd */
} isec_img_packed;
int isec_img_read_packed(const char *path, isec_img_packed *img, char *err, size_t errlen);
int isec_img_read_raw_packed(const char *path, uint32_t width, uint32_t height, unsigned depth,
                             int is_signed, int big_endian, isec_img_packed *img, char *err,
                             size_t errlen);
void isec_img_packed_free(isec_img_packed *img);
/* PGM header for a width x height image of the given depth ("P5\n<w> <h>\n<maxval>\n");
 * returns its length (< 40). */
size_t isec_img_pgm_header(char hdr[40], uint32_t width, uint32_t height, unsigned depth);
#endif

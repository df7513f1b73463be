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
#endif

/* Helpers for the CCSDS tests: whole-image encode/decode, PGM corpus, synthetic images, PSNR. */
#ifndef ISEC_CCSDSTOOL_H
#define ISEC_CCSDSTOOL_H
#include <stddef.h>
#include <stdint.h>

#include "imgsec/ccsds.h"

typedef struct {
    uint32_t w, h;
    unsigned depth;
    int is_signed;
    int32_t *px;
} ct_img;

/* Encodes img with p into a malloc'd stream. Segment infos (offsets made absolute) go to *segs
 * (malloc'd, may be NULL). Returns 0 or the library's error. */
int ct_encode(const ct_img *img, const isec_ccsds_params *p, uint8_t **out, size_t *len,
              isec_ccsds_segment **segs, size_t *nsegs);
/* Decodes a whole stream; *res gets isec_ccsds_dec_stream's result; the image in *img (malloc'd
 * pixels). Returns 0 if an image came out. */
int ct_decode(const uint8_t *in, size_t len, ct_img *img, int *res);
double ct_psnr(const ct_img *a, const ct_img *b);
int ct_equal(const ct_img *a, const ct_img *b);
/* Reads DIR/NAME.pgm. 0 on success. */
int ct_read_pgm(const char *dir, const char *name, ct_img *img);
/* Synthetic images shared with the recorded vectors: syn16flat syn12 syns8 syns16. */
int ct_synth(const char *name, ct_img *img);
/* Pseudo-random image: kind 0 noise, 1 smooth, 2 edges, 3 constant. */
void ct_random(ct_img *img, uint32_t w, uint32_t h, unsigned depth, int is_signed, int kind,
               uint32_t seed);
/* The corpus directory from ISEC_CCSDS_CORPUS, or NULL. With CI=true a missing corpus is an error
 * (the caller fails); otherwise the caller skips (exit 77). */
const char *ct_corpus(int *must);
void ct_sha256_hex(const uint8_t *d, size_t n, char out[65]);
void ct_free(ct_img *img);
#endif

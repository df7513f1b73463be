/* Segment decoder (bpe_dec.c). */
#ifndef ISEC_CCSDS_BPE_DEC_H
#define ISEC_CCSDS_BPE_DEC_H

#include "bpe.h"

typedef struct {
    uint32_t cap;
    uint32_t *mag; /* 64 per block; zero between segments */
    uint64_t *sgn; /* sign bits per block */
    int32_t *dc;
    uint8_t *bd;
    uint32_t *fl; /* transition flags per block */
    uint32_t *tmp;
    uint8_t *opt;   /* 3 code options per gaggle */
    uint64_t *sel;  /* per block: coefficients selected above the current plane */
    uint64_t *nsel; /* per block: selected at the current plane */
} isec__dec_scratch;

int isec__dec_scratch_reserve(isec__dec_scratch *s, uint32_t S);
void isec__dec_scratch_free(isec__dec_scratch *s);
/* Decoding table: t[kind][len][opt][next 8 bits] = code length << 8 | word (Tables 4-12 to 4-17
 * combined; word 0xff: a symbol the mapping of that kind excludes). */
typedef uint16_t isec__vlc_dec[4][5][4][256];
void isec__vlc_dec_init(isec__vlc_dec t);
/* Decodes the segment body (r just past the header, its end at the data or SegByteLimit) into
 * blocks first .. first + h->s - 1 of out (their strips allocated and zero). Fills info->q,
 * dc_end, planes, plane_end, stopped_by (0 complete, 2 quality limit, 3 data ended). Returns 0 or
 * ISEC_EFORMAT (invalid code: what came before is still stored). */
int isec__bpe_decode(isec__br *r, const isec_ccsds_header *h, const isec__shifts *sh,
                     isec__dec_scratch *s, const isec__vlc_dec vt, const isec__strips *out,
                     size_t first, isec_ccsds_segment *info);

/* Where the decoding of a segment ended, for the reconstruction: bp the plane cut short (or -1),
 * bdone the lowest complete plane, st/mk the stage and block where plane bp stopped, dc_part the
 * blocks that also know DC plane dcL-1. */
typedef struct {
    int32_t bp;
    unsigned bdone, st;
    uint32_t mk, dc_part;
    unsigned dcL;
} isec__recon_state;
/* Writes the segment's coefficients (only the nonzero ones) into out (bpe_recon.c). */
void isec__bpe_recon(const isec__recon_state *rs, const isec_ccsds_header *h,
                     const isec__shifts *sh, isec__dec_scratch *s, const isec__strips *out,
                     size_t first);
#endif

/* Segment-level bit-plane encoder and decoder (bpe_enc.c, bpe_dec.c, bpe_dc.c). */
#ifndef ISEC_CCSDS_BPE_H
#define ISEC_CCSDS_BPE_H

#include "internal.h"

/* Per-segment scratch owned by the encoder context, sized for S blocks. Masks have bit k for
 * block position k. */
typedef struct {
    uint32_t cap_blocks;
    uint32_t *mag; /* 64 per block: |coefficient| */
    uint64_t *neg; /* per block: negative coefficients */
    uint64_t *sel; /* per block: AC coefficients selected above the current plane */
    uint8_t *bd;   /* BitDepthAC_Block */
    uint32_t *tmp; /* S mapped values */
    isec__bw st[5];
    uint8_t *stbuf[5];
    size_t stcap[5];
} isec__enc_scratch;

int isec__enc_scratch_init(isec__enc_scratch *s, uint32_t blocks);
void isec__enc_scratch_free(isec__enc_scratch *s);

typedef struct {
    const int32_t *blocks; /* 64 per block */
    uint32_t S;
    isec_ccsds_header hdr; /* all fields in force; bit depths are filled in by the coder */
    isec__shifts sh;
    int heuristic_dc, heuristic_ac;
} isec__seg_in;

/* Worst-case bytes for a segment of S blocks whose largest AC bit depth is bdac. */
size_t isec__seg_bound(uint32_t S, unsigned bdac, int heuristic_dc, int heuristic_ac);
/* BitDepthAC of S blocks. */
unsigned isec__seg_bdac(const int32_t *blocks, uint32_t S);
/* Codes one segment into out; fills *info (offset 0). */
int isec__bpe_encode(const isec__seg_in *in, isec__enc_scratch *scr, uint8_t *out, size_t cap,
                     size_t *len, isec_ccsds_segment *info);

/* ---- DC and AC-depth gaggle coding shared by both sides (bpe_dc.c) */
/* Codes values v[0..n) (v[0] the reference sample, n >= 1) of N bits as in 4.3.2 / 4.4. The
 * values are the mapped differences except v[0]; heuristic selects Table 4-10. */
void isec__gaggles_encode(isec__bw *w, const uint32_t *v, uint32_t n, unsigned N, int heuristic);
/* Decodes n values; returns how many were fully read before the data ended or a bad code option
 * or run was met (*bad set then). */
uint32_t isec__gaggles_decode(isec__br *r, uint32_t *v, uint32_t n, unsigned N, int *bad);
/* Mapping of 4.3.2.4 equation 19 between successive values (signed, range xmin..xmax). */
uint32_t isec__map_delta(int32_t prev, int32_t cur, int32_t xmin, int32_t xmax);
int32_t isec__unmap_delta(int32_t prev, uint32_t d, int32_t xmin, int32_t xmax);

#endif

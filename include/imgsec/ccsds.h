/* CCSDS 122.0-B-2 image codec: 3-level 2-D DWT (integer or float 9/7) and the Bit-Plane Encoder.
 *
 * Encoding is a context that holds the transformed image and hands out one coded segment at a
 * time (so a packetizer can work segment by segment); each segment comes with its header fields and
 * the byte ranges of its layers (header + DC data, then each AC bit plane, most significant first).
 * Decoding is a context fed coded segments (or a whole stream); it reconstructs from any prefix of
 * a segment and produces the image at the end. See docs/ccsds.md for what is implemented and how
 * the output compares with the UNL reference implementation. */
#ifndef IMGSEC_CCSDS_H
#define IMGSEC_CCSDS_H

#include <stddef.h>
#include <stdint.h>

#include "imgsec/error.h"

#ifdef __cplusplus
extern "C" {
#endif

enum { ISEC_CCSDS_DWT_FLOAT = 0, ISEC_CCSDS_DWT_INTEGER = 1 };

#define ISEC_CCSDS_MIN_DIM 17u          /* 3.2.4: minimum width and height */
#define ISEC_CCSDS_MAX_WIDTH (1u << 20) /* 3.2.4 */
#define ISEC_CCSDS_MAX_DEPTH 16u /* pixel bit depth handled here (the standard allows more) */
#define ISEC_CCSDS_MIN_S 16u
#define ISEC_CCSDS_MAX_S (1u << 20)
#define ISEC_CCSDS_MAX_PLANES 32u

/* An image: row-major samples, width*height of them. Samples must fit depth bits (unsigned:
 * 0..2^depth-1, signed: -2^(depth-1)..2^(depth-1)-1). They are given either as int32_t pixels,
 * or (pixels NULL) packed as in a PGM or raw file: 1 byte per sample for depth <= 8, else 2
 * (big-endian when samples_be is set, else little-endian), two's complement when signed. */
typedef struct {
    uint32_t width, height;
    unsigned depth; /* 1..16 */
    int is_signed;
    const int32_t *pixels;
    const uint8_t *samples; /* used when pixels is NULL */
    int samples_be;
} isec_ccsds_image;

/* Header parts written in each segment. */
enum {
    ISEC_CCSDS_HEADERS_UNL = 0, /* parts 2-4 in the first segment, 2-3 again in a shorter last one
                                   (what the UNL reference writes; the default) */
    ISEC_CCSDS_HEADERS_ALL = 1  /* parts 2, 3 and 4 in every segment */
};

/* Encoder options. isec_ccsds_params_init() sets the defaults: integer DWT, S = 256, no byte
 * limit, no quality stop (BitPlaneStop 0, StageStop 3), optimum k selection, 8-bit words. */
typedef struct {
    int dwt;                 /* ISEC_CCSDS_DWT_INTEGER or ISEC_CCSDS_DWT_FLOAT */
    uint32_t segment_blocks; /* S, 16..2^20 (the last segment holds what is left) */
    uint32_t seg_byte_limit; /* SegByteLimit in bytes, header included; 0: none */
    float bpp;               /* if > 0 and seg_byte_limit == 0: SegByteLimit = bpp*S*8 per segment,
                                computed in float as the UNL tool does */
    int dc_stop;             /* DCStop */
    unsigned bitplane_stop;  /* BitPlaneStop, 0..31 */
    unsigned stage_stop;     /* StageStop, 0..3 (stage 1..4) */
    int use_fill;            /* UseFill: pad every segment to SegByteLimit */
    int heuristic_dc;        /* 1: Table 4-10 heuristic for DC k; 0: optimum */
    int heuristic_ac;        /* same for the AC bit depths */
    unsigned word_bytes;     /* CodeWordLength in bytes, 1..8 */
    int transpose;           /* TransposeImg flag (written only; the decoder reports it) */
    int custom_weights;      /* 0: Table 3-4 weights; 1: weight_exp[] below (integer DWT) */
    uint8_t weight_exp[10];  /* log2 weights, 0..3: HH1 HL1 LH1 HH2 HL2 LH2 HH3 HL3 LH3 LL3 */
    int headers;             /* ISEC_CCSDS_HEADERS_* */
} isec_ccsds_params;

/* Every field of one segment header (4.2); parts not present keep the values in force. */
typedef struct {
    uint8_t start_img, end_img, segment_count, bitdepth_dc, bitdepth_ac;
    uint8_t part2, part3, part4, pad_rows;
    uint32_t seg_byte_limit;
    uint8_t dc_stop, bitplane_stop, stage_stop, use_fill;
    uint32_t s;
    uint8_t opt_dc, opt_ac;
    uint8_t dwt, ext_depth, signed_pixels, depth; /* depth: 1..16 (the field's 0 means 16) */
    uint32_t width;
    uint8_t transpose, word_bytes, custom_weights;
    uint8_t weight_exp[10];
} isec_ccsds_header;

/* One coded segment: where it is, its header, and its layers. Offsets are bytes from the start of
 * the segment. Layer 0 is [0, dc_end): header, quantized DC, additional DC planes, AC bit depths.
 * Layer 1+i is [end of layer i, plane_end[i]): bit plane BitDepthAC-1-i. A prefix ending at
 * plane_end[i] decodes every layer up to i. Boundaries are rounded up to whole bytes, so
 * neighbouring layers may share a byte. */
typedef struct {
    size_t offset, length; /* within the stream (encoder: the segment's own output starts at 0) */
    uint32_t first_block;  /* index of the segment's first block in the image */
    isec_ccsds_header hdr;
    uint8_t q;         /* DC quantization factor */
    uint8_t truncated; /* decoder: data ended before the segment's natural end */
    uint8_t
        stopped_by;  /* 0 complete, 1 SegByteLimit, 2 DCStop/BitPlaneStop/StageStop, 3 data end */
    unsigned planes; /* bit planes present, fully or in part */
    size_t dc_end;
    size_t plane_end[ISEC_CCSDS_MAX_PLANES];
} isec_ccsds_segment;

/* Sets p to the defaults above. */
void isec_ccsds_params_init(isec_ccsds_params *p);

/* ---------------------------------------------------------------- encoder */
typedef struct isec_ccsds_enc isec_ccsds_enc;

/* Checks img and p, copies and transforms the image (the caller's pixels are not kept), and
 * readies the first segment. Costs one DWT; holds 4 bytes per (padded) pixel.
 * Returns 0, ISEC_EINVAL (bad options or image), ISEC_ENOMEM. */
int isec_ccsds_enc_new(isec_ccsds_enc **e, const isec_ccsds_image *img,
                       const isec_ccsds_params *p) ISEC_MUST_CHECK;
void isec_ccsds_enc_free(isec_ccsds_enc *e);
/* Number of segments the image makes, and how many are still to come. */
size_t isec_ccsds_enc_segment_count(const isec_ccsds_enc *e);
size_t isec_ccsds_enc_segments_left(const isec_ccsds_enc *e);
/* Bytes the next segment can need at most (0 when none is left). */
size_t isec_ccsds_enc_segment_bound(const isec_ccsds_enc *e);
/* Codes the next segment into out (cap bytes, at least isec_ccsds_enc_segment_bound()), sets
 * *len, and fills *info (may be NULL) with its header and layer ranges (offset 0).
 * Returns 0, ISEC_ESTATE (no segment left), ISEC_EBUFFER (cap too small), ISEC_ENOMEM. */
int isec_ccsds_enc_next(isec_ccsds_enc *e, uint8_t *out, size_t cap, size_t *len,
                        isec_ccsds_segment *info) ISEC_MUST_CHECK;

/* ---------------------------------------------------------------- decoder */
typedef struct isec_ccsds_dec isec_ccsds_dec;

/* Limits for hostile input. */
typedef struct {
    uint64_t max_pixels; /* padded width*height the decoder may hold (default 2^26) */
    size_t max_segments; /* default 2^24 */
} isec_ccsds_limits;

/* lim may be NULL for the defaults. Returns 0 or ISEC_ENOMEM. */
int isec_ccsds_dec_new(isec_ccsds_dec **d, const isec_ccsds_limits *lim) ISEC_MUST_CHECK;
void isec_ccsds_dec_free(isec_ccsds_dec *d);
/* Decodes one coded segment that starts at in[0]. If in holds only part of the segment (a
 * prefix truncated anywhere), decodes what is there and marks the segment truncated. *used gets
 * the segment's length in the stream (its natural end, padded to a word, or SegByteLimit when
 * UseFill is set or the limit was reached; never more than len).
 * Returns 0; ISEC_ESTATE after the last segment (EndImgFlag) or after an earlier error;
 * ISEC_EFORMAT (a header that contradicts itself or the image: detail in isec_ccsds_dec_error());
 * ISEC_ETRUNC (len too short for the header); ISEC_ELIMIT; ISEC_ENOMEM. A failed segment leaves
 * earlier segments usable by isec_ccsds_dec_image(). */
int isec_ccsds_dec_segment(isec_ccsds_dec *d, const uint8_t *in, size_t len,
                           size_t *used) ISEC_MUST_CHECK;
/* Decodes a whole stream: segments one after another until EndImgFlag or the data ends.
 * Returns 0 when the last segment (EndImgFlag) was complete, ISEC_ETRUNC when the data ended early
 * (what arrived is still decoded: isec_ccsds_dec_image() gives the best reconstruction), or the
 * first error of isec_ccsds_dec_segment(). */
int isec_ccsds_dec_stream(isec_ccsds_dec *d, const uint8_t *in, size_t len) ISEC_MUST_CHECK;
/* Image geometry known so far: width, height (from the blocks received and PadRows when the last
 * segment arrived; else whole block rows received), depth, signedness. ISEC_ESTATE before the first
 * segment. */
int isec_ccsds_dec_geometry(const isec_ccsds_dec *d, uint32_t *width, uint32_t *height,
                            unsigned *depth, int *is_signed);
/* Segments decoded so far (offsets relative to the data given to isec_ccsds_dec_stream(), or the
 * running total of *used for isec_ccsds_dec_segment()). */
const isec_ccsds_segment *isec_ccsds_dec_segments(const isec_ccsds_dec *d, size_t *count);
/* Reconstructs the image from everything decoded (inverse DWT; coefficients whose low bit planes
 * are missing are set inside their interval, see docs/ccsds.md; blocks never received are zero)
 * into pixels (cap samples, at least width*height), clamped to the pixel range.
 * Returns 0, ISEC_ESTATE (nothing decoded), ISEC_EBUFFER, ISEC_ENOMEM. */
int isec_ccsds_dec_image(isec_ccsds_dec *d, int32_t *pixels, size_t cap) ISEC_MUST_CHECK;
/* The same image as packed samples, as PGM and raw files hold them: 1 byte per sample for depth
 * <= 8, else 2 (big-endian when big_endian is set); signed samples in two's complement, or offset
 * by 2^(depth-1) when offset_signed is set (PGM). cap is in bytes. Same returns. */
int isec_ccsds_dec_samples(isec_ccsds_dec *d, uint8_t *out, size_t cap, int big_endian,
                           int offset_signed) ISEC_MUST_CHECK;
/* One line about the last error (byte offset, field), or "". Never NULL. */
const char *isec_ccsds_dec_error(const isec_ccsds_dec *d);

#ifdef __cplusplus
}
#endif
#endif

/* CCSDS 122.0 internals shared by the DWT, the bit-plane encoder and decoder. */
#ifndef ISEC_CCSDS_INTERNAL_H
#define ISEC_CCSDS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "imgsec/ccsds.h"

/* A block is 64 coefficients in this order (families i = 0 HL, 1 LH, 2 HH):
 *   0        DC (LL3)
 *   1+i      parent p_i (HL3, LH3, HH3)
 *   4+4i..   children C_i (HL2/LH2/HH2), Table 4-1 order
 *   16+16i+4j..  grandchildren H_ij (HL1/LH1/HH1), j = 0..3, Table 4-1 order */
#define BLK_P(i) (1 + (i))
#define BLK_C(i) (4 + 4 * (i))
#define BLK_H(i, j) (16 + 16 * (i) + 4 * (j))

/* Per-segment subband bit shifts (BitShift of 4.1): log2 of the integer-DWT weights, all zero for
 * the float DWT. */
typedef struct {
    uint8_t dc, p[3], c[3], g[3];
} isec__shifts;

/* Bit k set when block position k's subband has BitShift <= b (its bit b is coded). */
static inline uint64_t isec__valid_mask(const isec__shifts *s, unsigned b)
{
    uint64_t m = b >= s->dc ? 1u : 0u;
    for (int i = 0; i < 3; i++) {
        if (b >= s->p[i]) m |= 1ull << BLK_P(i);
        if (b >= s->c[i]) m |= 0xfull << BLK_C(i);
        if (b >= s->g[i]) m |= 0xffffull << BLK_H(i, 0);
    }
    return m;
}

/* weight_exp order: HH1 HL1 LH1 HH2 HL2 LH2 HH3 HL3 LH3 LL3. */
void isec__ccsds_shifts(isec__shifts *s, int dwt, const uint8_t weight_exp[10]);
void isec__ccsds_default_weights(uint8_t w[10]);

/* ---- DWT (dwt_int.c, dwt_float.c, dwt_float_inv.c). Planes are row-major, w x h, both
 * multiples of 8, w,h >= 24. */
/* Forward integer DWT (5)-(6), 3 levels, then subband weights; in place. */
int isec__dwt_int_forward(int32_t *img, size_t w, size_t h, const uint8_t weight_exp[10]);
/* Inverse: undoes weights (coefficients must be multiples of them), then (10)-(11). */
int isec__dwt_int_inverse(int32_t *img, size_t w, size_t h, const uint8_t weight_exp[10]);
/* Forward float DWT (3)-(4), 3 levels, in single precision, coefficients rounded half away from
 * zero into out (which may be img: the transform runs in place in out). */
int isec__dwt_float_forward(const int32_t *img, int32_t *out, size_t w, size_t h);
/* Inverse float DWT (8)-(9) in single precision, in place. The input coefficients are fixed point
 * with frac_bits fractional bits (the decoder's reconstruction of truncated coefficients lies
 * between integers). With round_out, the result is rounded to nearest into img; without, img is
 * left holding the float samples (sizeof(float) each; read them with memcpy or a float view). */
#define ISEC__FLOAT_FRAC 2
int isec__dwt_float_inverse(int32_t *img, size_t w, size_t h, unsigned frac_bits, int round_out);

/* The decoder's coefficient storage. Block row r (8 rows of the padded width pw) is strip r:
 * 8 rows of pw values that hold the block row's coefficients in a Mallat layout of its own, with
 * the columns of the whole plane's layout:
 *   row 0  [LL3 r | HL3 r | HL2 2r | HL1 4r]      rows 2-3  [LH2 2r+i | HH2 2r+i | HL1 4r+2+i]
 *   row 1  [LH3 r | HH3 r | HL2 2r+1 | HL1 4r+1]  rows 4-7  [LH1 4r+i | HH1 4r+i]
 * so that coefficients can be stored as segments arrive, before the image height (which places
 * the subbands in a plane) is known. A value is an int32_t (integer DWT, weights removed) or the
 * bits of a float (float DWT). */
typedef struct {
    int32_t **strip; /* nstrips block rows (NULL: not received, zero) */
    size_t nstrips, pw, per_row;
    uint32_t off[64]; /* position k of block 0 of a block row, from the strip's start */
    uint8_t step[64]; /* block c's position k is off[k] + c * step[k] */
} isec__strips;
void isec__strips_layout(isec__strips *s, size_t pw);
/* Row j of subband band (0 LL, 1 HL, 2 LH, 3 HH) of level l (1..3, LL only at 3): pw >> l
 * values; NULL when its strip was never received. */
const int32_t *isec__strip_band_row(const isec__strips *s, unsigned l, unsigned band, size_t j);
/* The coefficients as a Mallat-layout plane of pw x h (h >= the strips' rows; rows not received
 * are zero): for the plane versions of the inverses (tests). */
void isec__strips_to_plane(const isec__strips *s, int32_t *plane, size_t h);
/* Inverse float DWT of the strips (float bits) for a padded height h (a multiple of 8, >= 24;
 * rows beyond the strips are zero): the image rows y = 0..h-1 (pw samples each) are handed to
 * out in order. No plane is built. */
typedef void (*isec__row_out)(void *ctx, size_t y, const float *row);
int isec__dwt_float_inverse_strips(const isec__strips *s, size_t h, isec__row_out out, void *ctx);
/* The same for the integer DWT (values with the weights removed): rows of int32_t (passed as
 * const float * for the shared callback type; read them as int32_t). */
int isec__dwt_int_inverse_strips(const isec__strips *s, size_t h, isec__row_out out, void *ctx);

/* One row of a reconstructed plane into out, clamped to [lo, hi]: from the floats the float
 * inverse left (rounded to nearest), or from integers. */
void isec__row_round_clamp(const int32_t *plane_row, int32_t *out, size_t n, int32_t lo,
                           int32_t hi);
void isec__row_clamp(const int32_t *src, int32_t *out, size_t n, int32_t lo, int32_t hi);
/* Gathers block b (raster order over LL3, w/8 blocks per row) from a Mallat-layout plane
 * (blocks.c). */
void isec__blocks_gather(const int32_t *plane, size_t w, size_t h, size_t first, size_t n,
                         int32_t *blocks);

/* Population count without a libgcc call (no -mpopcnt in portable builds). */
static inline unsigned isec__pop64(uint64_t x)
{
    x = x - ((x >> 1) & 0x5555555555555555ull);
    x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
    x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0full;
    return (unsigned)((x * 0x0101010101010101ull) >> 56);
}

/* Allocation for whole-image buffers (freed with free()); huge pages when large. */
void *isec__big_alloc(size_t n);

/* ---- headers (header.c) */
/* Size in bytes of the header described by h. */
size_t isec__hdr_size(const isec_ccsds_header *h);

/* ---- bit writer: MSB first into a caller buffer; overflow is sticky. */
typedef struct {
    uint8_t *buf;
    size_t cap, pos; /* bytes */
    uint64_t acc;
    unsigned nacc; /* bits held in acc, < 32 between calls */
    int overflow;
} isec__bw;

static inline void isec__bw_init(isec__bw *w, uint8_t *buf, size_t cap)
{
    w->buf = buf;
    w->cap = cap;
    w->pos = 0;
    w->acc = 0;
    w->nacc = 0;
    w->overflow = 0;
}

static inline void isec__bw_flush32(isec__bw *w)
{
    if (w->pos + 4 <= w->cap) {
        uint32_t v = (uint32_t)(w->acc >> (w->nacc - 32));
        w->buf[w->pos] = (uint8_t)(v >> 24);
        w->buf[w->pos + 1] = (uint8_t)(v >> 16);
        w->buf[w->pos + 2] = (uint8_t)(v >> 8);
        w->buf[w->pos + 3] = (uint8_t)v;
        w->pos += 4;
    } else {
        w->overflow = 1;
    }
    w->nacc -= 32;
}

/* Appends the n (0..32) low bits of v, most significant first. */
static inline void isec__bw_put(isec__bw *w, uint32_t v, unsigned n)
{
    if (!n) return;
    w->acc = (w->acc << n) | (n == 32 ? (uint64_t)v : (uint64_t)(v & ((1u << n) - 1u)));
    w->nacc += n;
    if (w->nacc >= 32) isec__bw_flush32(w);
}

static inline uint64_t isec__bw_bits(const isec__bw *w)
{
    return (uint64_t)w->pos * 8u + w->nacc;
}

/* Pads with zero bits to a multiple of 8*word bytes and flushes everything to buf. */
void isec__bw_align(isec__bw *w, unsigned word_bytes);
/* Appends all bits written to src (src is left unusable). */
void isec__bw_append(isec__bw *dst, isec__bw *src);

/* ---- bit reader over a byte buffer; reads past the end give zeros and set over. */
typedef struct {
    const uint8_t *buf;
    uint64_t pos, end; /* bits */
    size_t len;        /* bytes in buf */
    int over;
} isec__br;

static inline void isec__br_init(isec__br *r, const uint8_t *buf, size_t len, uint64_t limit_bits)
{
    r->buf = buf;
    r->len = len;
    r->pos = 0;
    r->end = (uint64_t)len * 8u;
    if (limit_bits && limit_bits < r->end) r->end = limit_bits;
    r->over = 0;
}

/* 64 bits starting at byte i, big-endian (the caller checks i + 8 <= len). */
static inline uint64_t isec__load_be64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

/* Slow path: bit by bit, zeros past the end. */
static inline uint32_t isec__br_slow(isec__br *r, unsigned n)
{
    uint32_t v = 0;
    for (unsigned i = 0; i < n; i++) {
        uint32_t bit = 0;
        if (r->pos < r->end) bit = (r->buf[r->pos >> 3] >> (7 - (r->pos & 7))) & 1u;
        v = (v << 1) | bit;
        r->pos++;
    }
    if (r->pos > r->end) r->over = 1;
    return v;
}

/* Reads n (0..32) bits. */
static inline uint32_t isec__br_get(isec__br *r, unsigned n)
{
    if (!n) return 0;
    if (r->pos + n <= r->end && (r->pos >> 3) + 8 <= r->len) {
        uint64_t v = isec__load_be64(r->buf + (r->pos >> 3)) << (r->pos & 7);
        r->pos += n;
        return (uint32_t)(v >> (64 - n));
    }
    return isec__br_slow(r, n);
}

/* The next 8 bits without consuming them (zeros past the end). */
static inline uint32_t isec__br_peek8(const isec__br *r)
{
    if (r->pos + 8 <= r->end && (r->pos >> 3) + 8 <= r->len)
        return (uint32_t)((isec__load_be64(r->buf + (r->pos >> 3)) << (r->pos & 7)) >> 56);
    isec__br t = *r;
    return isec__br_slow(&t, 8);
}

static inline uint32_t isec__br_bit(isec__br *r)
{
    if (r->pos >= r->end) {
        r->pos++;
        r->over = 1;
        return 0;
    }
    uint32_t b = (r->buf[r->pos >> 3] >> (7 - (r->pos & 7))) & 1u;
    r->pos++;
    return b;
}

/* ---- variable-length codes of 4.5.3 (bpe_tables.c) */
enum { WK_PLAIN = 0, WK_TRAND = 1, WK_TYPECI = 2, WK_HIJ = 3 }; /* word kind for Tables 4-13/4-14 */
/* Symbol of a word of len 2..4 bits and kind (Tables 4-12 to 4-14); word-to-symbol. */
extern const uint8_t isec__sym_of[4][5][16];
/* Inverse: symbol-to-word (0xff: impossible). */
extern const uint8_t isec__word_of[4][5][16];
/* Codeword of symbol s for word length len and option opt (Tables 4-15 to 4-17): low 8 bits
 * value, high 8 bits length. Option numbering: 2-bit {0, uncoded}; 3-bit {0, 1, uncoded};
 * 4-bit {0, 1, 2, uncoded}; 'uncoded' is index len-1. */
extern const uint16_t isec__vlc[5][4][16];
/* ID bits written for option index of words of length len (Table 4-18). */
extern const uint8_t isec__opt_id[5][4];

/* Code option parameters of 4.3.2 for N bits: ID length and largest k. */
static inline void isec__kopt(unsigned N, unsigned *id_len, unsigned *max_k)
{
    if (N <= 2) {
        *id_len = 1;
        *max_k = 0;
    } else if (N <= 4) {
        *id_len = 2;
        *max_k = 2;
    } else if (N <= 8) {
        *id_len = 3;
        *max_k = 6;
    } else {
        *id_len = 4;
        *max_k = 8;
    }
}

/* Table 4-8 and equation 15. */
unsigned isec__dc_q(unsigned bitdepth_dc, unsigned bitdepth_ac, unsigned dc_shift);

#endif

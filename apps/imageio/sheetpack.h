/* Packing of sheet pixels for the TIFF pages (sheetio.c; layout in sheetio.h). Internal. */
#ifndef ISEC_SHEETPACK_H
#define ISEC_SHEETPACK_H

#include <stdint.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "imgsec/vcs.h"

/* ---- pixels ----
 * Written: 1-bit gray + 1-bit alpha, 4 pixels per byte, first pixel in the high bits; a pixel's
 * two bits are gray<<1 | alpha: transparent 10, white 11, black 01 (00, transparent with gray 0,
 * also reads as transparent). Read as well: the 8-bit gray + alpha pages of earlier versions. */

static inline unsigned code_of(uint8_t v)
{
    return v == ISEC_VCS_PX_W ? 3u : v == ISEC_VCS_PX_K ? 1u : 2u; /* anything else: T */
}

/* 4 sheet bytes (each 0..2) to one packed byte, 4 at a time as a 32-bit little-endian word:
 * per byte the code (v != K) << 1 | (v != T) in its low 2 bits, then one multiplication moves
 * byte j's code to bits 30 - 2j (the other partial products land on other bits, no carries).
 * Branch-free, so compilers vectorise the loop. */
static inline uint8_t pack4(uint32_t v)
{
    const uint32_t lo = v & 0x01010101u, hi = (v >> 1) & 0x01010101u;
    const uint32_t c = ((hi ^ 0x01010101u) << 1) | lo | hi;
    return (uint8_t)((c * 0x40100401u) >> 24);
}

#ifdef __SSE2__
/* 16 sheet bytes to their 2-bit codes, one per byte (gray << 1 | alpha), and a mask of bytes
 * that are not sheet values (> 2). */
static inline __m128i codes16(__m128i v, __m128i *bad)
{
    const __m128i zero = _mm_setzero_si128(), k = _mm_set1_epi8(ISEC_VCS_PX_K);
    *bad = _mm_or_si128(*bad, _mm_andnot_si128(_mm_cmpeq_epi8(v, k),
                                               _mm_cmpeq_epi8(_mm_max_epu8(v, k), v)));
    const __m128i g = _mm_andnot_si128(_mm_cmpeq_epi8(v, k), _mm_set1_epi8(2));
    const __m128i a = _mm_andnot_si128(_mm_cmpeq_epi8(v, zero), _mm_set1_epi8(1));
    return _mm_or_si128(g, a);
}

/* 16 codes (one per byte) to 4 packed bytes, in the low byte of each 32-bit lane: byte j of a
 * lane goes to bits 6 - 2j. */
static inline __m128i fold16(__m128i c)
{
    const __m128i m3 = _mm_set1_epi32(3);
    return _mm_or_si128(
        _mm_or_si128(_mm_slli_epi32(_mm_and_si128(c, m3), 6),
                     _mm_slli_epi32(_mm_and_si128(_mm_srli_epi32(c, 8), m3), 4)),
        _mm_or_si128(_mm_slli_epi32(_mm_and_si128(_mm_srli_epi32(c, 16), m3), 2),
                     _mm_srli_epi32(c, 24)));
}
#endif

static inline void pack_row(const uint8_t *px, uint32_t w, uint8_t *out)
{
    uint32_t x = 0;
#ifdef __SSE2__
    {
        /* 64 pixels per step into 16 bytes; bytes that are not sheet values (> 2) are caught on
         * the way and the row is then redone below, writing them as transparent */
        __m128i bad = _mm_setzero_si128();
        const uint32_t n64 = w / 64;
        for (uint32_t i = 0; i < n64; i++) {
            const __m128i *p = (const __m128i *)(const void *)(px + 64 * (size_t)i);
            const __m128i f0 = fold16(codes16(_mm_loadu_si128(p), &bad));
            const __m128i f1 = fold16(codes16(_mm_loadu_si128(p + 1), &bad));
            const __m128i f2 = fold16(codes16(_mm_loadu_si128(p + 2), &bad));
            const __m128i f3 = fold16(codes16(_mm_loadu_si128(p + 3), &bad));
            _mm_storeu_si128((__m128i *)(void *)(out + 16 * (size_t)i),
                             _mm_packus_epi16(_mm_packs_epi32(f0, f1), _mm_packs_epi32(f2, f3)));
        }
        if (_mm_movemask_epi8(bad) == 0) {
            x = 64 * n64;
            out += 16 * (size_t)n64;
        }
    }
#endif
    if (__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ && x == 0) {
        /* 8 pixels per step; bytes that are not sheet values (> 2) are caught on the way and the
         * row is then redone below, writing them as transparent */
        uint64_t bad = 0;
        const uint32_t n8 = w / 8;
        for (uint32_t i = 0; i < n8; i++) {
            uint64_t v;
            memcpy(&v, px + 8 * i, 8);
            bad |= (v & 0xfcfcfcfcfcfcfcfcu) | (v & (v >> 1) & 0x0101010101010101u);
            out[2 * i] = pack4((uint32_t)v);
            out[2 * i + 1] = pack4((uint32_t)(v >> 32));
        }
        if (!bad) {
            x = 8 * n8;
            out += 2 * n8;
        }
    }
    for (; x + 4 <= w; x += 4)
        *out++ = (uint8_t)(code_of(px[x]) << 6 | code_of(px[x + 1]) << 4 |
                           code_of(px[x + 2]) << 2 | code_of(px[x + 3]));
    if (x < w) {
        unsigned b = 0;
        for (unsigned k = 0; x + k < w; k++) b |= code_of(px[x + k]) << (6 - 2 * k);
        *out = (uint8_t)b;
    }
}

/* The reverse: a packed byte to 4 sheet bytes (code gray<<1 | alpha: T if alpha is 0, else W
 * if gray is 1, K if 0, i.e. 2 alpha - (alpha & gray)), as a little-endian word. */
static inline uint32_t unpack4(uint8_t b)
{
    const uint32_t t = b;
    const uint32_t c = (t >> 6) | ((t >> 4) & 3u) << 8 | ((t >> 2) & 3u) << 16 | (t & 3u) << 24;
    const uint32_t a = c & 0x01010101u, g = (c >> 1) & 0x01010101u;
    return (a << 1) - (a & g);
}

static inline void unpack_row(const uint8_t *in, uint32_t w, uint8_t *dst)
{
    uint32_t x = 0;
#ifdef __SSE2__
    {
        /* 16 pixels (4 packed bytes) per step: each byte spread to 4 lanes, then its alpha and
         * gray bits for lane j tested with masks (pixel j at bits 7 - 2j, 6 - 2j) */
        const __m128i ma = _mm_set1_epi32(0x01041040), mg = _mm_set1_epi32((int)0x02082080u),
                      two = _mm_set1_epi8(2), three = _mm_set1_epi8(3);
        const uint32_t n16 = w / 16;
        for (uint32_t i = 0; i < n16; i++) {
            int32_t word;
            memcpy(&word, in + 4 * (size_t)i, 4);
            __m128i b = _mm_cvtsi32_si128(word);
            b = _mm_unpacklo_epi8(b, b);
            b = _mm_unpacklo_epi16(b, b); /* byte k of the input in bytes 4k..4k+3 */
            const __m128i a = _mm_cmpeq_epi8(_mm_and_si128(b, ma), ma);
            const __m128i g = _mm_cmpeq_epi8(_mm_and_si128(b, mg), mg);
            /* T 0 unless alpha; then W 1 if gray, else K 2: (a & 2) ^ (a & g & 3) */
            const __m128i v =
                _mm_xor_si128(_mm_and_si128(a, two), _mm_and_si128(_mm_and_si128(a, g), three));
            _mm_storeu_si128((__m128i *)(void *)(dst + 16 * (size_t)i), v);
        }
        x = 16 * n16;
    }
#endif
    if (__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__) {
        const uint32_t n4 = w / 4;
        for (uint32_t i = x / 4; i < n4; i++) {
            const uint32_t v = unpack4(in[i]);
            memcpy(dst + 4 * i, &v, 4);
        }
        x = 4 * n4;
    }
    static const uint8_t val[4] = {ISEC_VCS_PX_T, ISEC_VCS_PX_K, ISEC_VCS_PX_T, ISEC_VCS_PX_W};
    for (; x < w; x++) dst[x] = val[(in[x / 4] >> (6 - 2 * (x % 4))) & 3];
}

#endif

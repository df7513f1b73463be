/* Unpacking of the TIFF pages' sheet pixels (sheetio.c; layout in sheetio.h). Internal. */
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
 * also reads as transparent). Read as well: the 8-bit gray + alpha pages of earlier versions.
 * Packing is the share digest's (isec_vcs_pack_row, src/vcs/share.c: one packer for both);
 * unpacking, which only the readers need, is here. */

/* A packed byte to 4 sheet bytes (code gray<<1 | alpha: T if alpha is 0, else W
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

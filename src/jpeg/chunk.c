/* Byte-wise passes over a chunk of entropy-coded data, shared by the walker (walker.c) and its
 * second thread (pipeline.c): the FSP masks, and moving data bytes to their raw places. */
#include "internal.h"

/* The FSP rule: a byte is enciphered when it holds value bits and at least one Huffman code
 * bit that is 0. Code bits are the classified bits that are neither value nor structure.
 * Returns the bits to encipher (branch-free, so loops over it vectorise). */
static inline uint8_t fsp_mask(uint8_t byte, uint8_t vm, uint8_t xm)
{
    uint8_t zero_code = (uint8_t)(~byte & ~vm & ~xm);
    return (uint8_t)(vm & -(uint8_t)((vm != 0) & (zero_code != 0)));
}


void isec__to_raw(uint8_t *dst, const uint8_t *src, const uint8_t *other, const uint8_t *isdata,
                  uint32_t nraw)
{
    for (uint32_t i = 0, k = 0; i < nraw;) {
        const uint8_t *nd = memchr(isdata + i, 0, nraw - i);
        uint32_t run = nd ? (uint32_t)(nd - (isdata + i)) : nraw - i;
        memcpy(dst + i, src + k, run);
        i += run;
        k += run;
        if (i < nraw) {
            if (other) dst[i] = other[i];
            i++;
        }
    }
}

void isec__chunk_masks(const uint8_t *data, const uint8_t *vm, const uint8_t *xm, uint32_t ndata,
                       uint8_t *em, uint8_t *inv, uint64_t *ebytes, uint64_t *ebits)
{
    for (uint32_t k = 0; k < ndata; k++) {
        em[k] = fsp_mask(data[k], vm[k], xm[k]);
        inv[k] = (uint8_t)(data[k] & ~vm[k]);
    }
    uint32_t k8 = ndata & ~7u;
    uint64_t nbytes = 0, nbits = 0;
    for (uint32_t k = 0; k < k8; k += 8) {
        uint64_t v;
        memcpy(&v, em + k, 8);
        nbits += isec__popcount64(v);
        v |= v >> 4;
        v |= v >> 2;
        v |= v >> 1;
        nbytes += isec__popcount64(v & 0x0101010101010101u);
    }
    for (uint32_t k = k8; k < ndata; k++) {
        nbytes += em[k] != 0;
        nbits += isec__popcount64(em[k]);
    }
    *ebytes += nbytes;
    *ebits += nbits;
}

void isec__xor_masked(uint8_t *restrict data, const uint8_t *restrict ks,
                      const uint8_t *restrict em, uint32_t n)
{
    for (uint32_t k = 0; k < n; k++)
        data[k] = (uint8_t)(data[k] ^ (ks[k] & em[k]));
}

/* How many of isdata[0, n) are 1 (the others are 0): eight at a time. */
uint32_t isec__count_data(const uint8_t *isdata, uint32_t n)
{
    uint32_t count = 0, i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t v;
        memcpy(&v, isdata + i, 8);
        count += (uint32_t)((v * 0x0101010101010101u) >> 56);
    }
    for (; i < n; i++) count += isdata[i];
    return count;
}

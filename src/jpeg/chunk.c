/* A chunk of entropy-coded data enciphered (isec__chunk_crypt), the same on the walker's thread
 * (walker.c) and on its second thread (pipeline.c): the byte-wise passes (FSP masks, moving data
 * bytes to their raw places, the masked XOR) and the keystream between them. */
#include "internal.h"

/* The FSP rule: a byte is enciphered when it holds value bits and at least one Huffman code
 * bit that is 0. Code bits are the classified bits that are neither value nor structure.
 * Returns the bits to encipher (branch-free, so loops over it vectorise). */
static inline uint8_t fsp_mask(uint8_t byte, uint8_t vm, uint8_t xm)
{
    uint8_t zero_code = (uint8_t)(~byte & ~vm & ~xm);
    return (uint8_t)(vm & -(uint8_t)((vm != 0) & (zero_code != 0)));
}


/* Lays the data bytes src[] out as raw bytes dst[0, nraw) (isdata says which raw bytes are
 * data); the others come from other[]. */
static void to_raw(uint8_t *dst, const uint8_t *src, const uint8_t *other, const uint8_t *isdata,
                   uint32_t nraw)
{
    for (uint32_t i = 0, k = 0; i < nraw;) {
        const uint8_t *nd = memchr(isdata + i, 0, nraw - i);
        uint32_t run = nd ? (uint32_t)(nd - (isdata + i)) : nraw - i;
        memcpy(dst + i, src + k, run);
        i += run;
        k += run;
        if (i < nraw) {
            dst[i] = other[i];
            i++;
        }
    }
}

/* Bits set in a byte (branch-free, on bytes, so that loops over it vectorise). */
static inline uint8_t popcount8(uint8_t b)
{
    b = (uint8_t)(b - ((b >> 1) & 0x55));
    b = (uint8_t)((b & 0x33) + ((b >> 2) & 0x33));
    return (uint8_t)((b + (b >> 4)) & 0x0F);
}

/* FSP masks of a chunk's data bytes: em (bits to encipher), inv (value bits cleared) and the
 * eligible byte and bit counts (added to *ebytes, *ebits). */
static void chunk_masks(const uint8_t *data, const uint8_t *vm, const uint8_t *xm, uint32_t ndata,
                        uint8_t *em, uint8_t *inv, uint64_t *ebytes, uint64_t *ebits)
{
    for (uint32_t k = 0; k < ndata; k++) {
        em[k] = fsp_mask(data[k], vm[k], xm[k]);
        inv[k] = (uint8_t)(data[k] & ~vm[k]);
    }
    /* The counts in 16 byte lanes, 31 rows of 16 bytes at a time (at most 31 * 8 bits a lane,
     * which fits in a byte), so that the loop is vector byte adds: twice as fast as 64-bit
     * popcounts without a popcount instruction. */
    uint64_t nbytes = 0, nbits = 0;
    uint32_t k = 0;
    while (k + 16 <= ndata) {
        uint8_t lbits[16] = {0}, lbytes[16] = {0};
        for (int row = 0; row < 31 && k + 16 <= ndata; row++, k += 16) {
            const uint8_t *e = em + k;
            for (int j = 0; j < 16; j++) {
                lbits[j] = (uint8_t)(lbits[j] + popcount8(e[j]));
                lbytes[j] = (uint8_t)(lbytes[j] + (e[j] != 0));
            }
        }
        for (int j = 0; j < 16; j++) {
            nbits += lbits[j];
            nbytes += lbytes[j];
        }
    }
    for (; k < ndata; k++) {
        nbytes += em[k] != 0;
        nbits += popcount8(em[k]);
    }
    *ebytes += nbytes;
    *ebits += nbits;
}

/* data[k] ^= ks[k] & em[k] for k < n (the three do not overlap) */
static void xor_masked(uint8_t *restrict data, const uint8_t *restrict ks,
                       const uint8_t *restrict em, uint32_t n)
{
    for (uint32_t k = 0; k < n; k++)
        data[k] = (uint8_t)(data[k] ^ (ks[k] & em[k]));
}

/* How many of isdata[0, n) are 1 (the others are 0). Block sums of 64 bytes fit in a byte, so
 * the inner loop vectorises to byte adds (four times as fast as eight bytes per multiply). */
uint32_t isec__count_data(const uint8_t *isdata, uint32_t n)
{
    uint32_t count = 0, i = 0;
    for (; i + 64 <= n; i += 64) {
        const uint8_t *p = isdata + i;
        uint8_t sum = 0;
        for (int k = 0; k < 64; k++) sum = (uint8_t)(sum + p[k]);
        count += sum;
    }
    for (; i < n; i++) count += isdata[i];
    return count;
}

int isec__chunk_crypt(isec_jpeg *c, const uint8_t *raw, const uint8_t *isdata, uint32_t nraw,
                      uint8_t *data, const uint8_t *vm, const uint8_t *xm, uint32_t ndata,
                      uint8_t *dest, uint8_t *scratch, uint64_t *ebytes, uint64_t *ebits)
{
    /* em: the bits to encipher in each data byte; inv: the byte with its value bits cleared,
     * laid out as raw bytes into view, what the running hash and so the keystream's nonce cover */
    uint8_t *view = scratch, *em = view + CHUNK, *ks = em + CHUNK, *inv = ks + CHUNK;
    chunk_masks(data, vm, xm, ndata, em, inv, ebytes, ebits);
    if (c->keyed) {
        to_raw(view, inv, raw, isdata, nraw);
        uint8_t dg[32], iv[16] = {0};
        unsigned int dlen = 0;
        int outl = 0;
        if (EVP_DigestUpdate(c->hash, view, nraw) != 1 ||
            EVP_MD_CTX_copy_ex(c->tmphash, c->hash) != 1 ||
            EVP_DigestFinal_ex(c->tmphash, dg, &dlen) != 1)
            return ISEC_ECRYPTO;
        memcpy(iv + 4, dg, 12); /* 32-bit block counter 0, 96-bit nonce from the digest */
        memset(ks, 0, ndata);
        if (isec__chacha_init(c, iv) < 0 ||
            EVP_EncryptUpdate(c->cipher, ks, &outl, ks, (int)ndata) != 1)
            return ISEC_ECRYPTO;
        xor_masked(data, ks, em, ndata);
    }
    to_raw(dest, data, raw, isdata, nraw);
    return 0;
}

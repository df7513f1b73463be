/* Canonical Huffman tables (ITU T.81 Annex C) with a 9-bit lookahead for the walker. */
#include <stddef.h>

#include "bits.h"

int isec__huff_build(struct huff *h, const uint8_t counts[16], const uint8_t *vals, size_t nvals)
{
    size_t total = 0;
    for (int l = 0; l < 16; l++) total += counts[l];
    if (total == 0 || total > 256 || total != nvals) return -1;
    memset(h, 0, offsetof(struct huff, multi)); /* multi[] is built when a scan needs it */
    memcpy(h->vals, vals, nvals);
    int32_t code = 0;
    size_t k = 0;
    for (int len = 1; len <= 16; len++) {
        int n = counts[len - 1];
        h->maxcode[len] = -1;
        if (n) {
            h->valoff[len] = (int32_t)k - code;
            for (int i = 0; i < n; i++, k++, code++) {
                if (code >= (1 << len) - 1) return -1; /* does not fit, or all ones */
                if (len <= 9) {
                    int shift = 9 - len;
                    for (int j = 0; j < (1 << shift); j++)
                        h->look[(code << shift) | j] = (uint16_t)(len << 8 | vals[k]);
                }
            }
            h->maxcode[len] = code - 1;
        }
        code <<= 1;
    }
    h->maxcode[17] = INT32_MAX; /* sentinel: never reached, decode stops at 16 */
    for (unsigned i = 0; i < (1u << FAST_BITS); i++) {
        uint32_t e = h->look[i >> (FAST_BITS - 9)];
        unsigned len = e >> 8, sym = e & 0xff, size = sym & 15;
        if (e && len + size <= FAST_BITS)
            h->fast[i] = (len + size) | (sym >> 4) << 8 | size << 12 | ((1u << size) - 1) << 16;
    }
    h->defined = 1;
    h->have_multi = 0;
    return 0;
}

/* The most bits one multi[] entry takes: the hot loop refills its window (56 bits or more)
 * every three lookups (entropy.c), so 3 * 18 <= 56. */
#define LONG_MAX_BITS 18

void isec__huff_build_multi(struct huff *h)
{
    for (unsigned i = 0; i < (1u << SEQ_BITS); i++) {
        unsigned used = 0, adv = 0, eob = 0;
        uint32_t mask = 0;
        while (!eob) {
            /* the window's bits from `used` on, zero-padded: a code decoded from them is real
             * only if it ends inside the window (codes are prefix-free) */
            unsigned rest = SEQ_BITS - used;
            uint32_t e = h->look[((i << used) & ((1u << SEQ_BITS) - 1)) >> (SEQ_BITS - 9)];
            unsigned len = e >> 8, sym = e & 0xff, size = sym & 15, run = sym >> 4;
            if (!e || len + size > rest) break;
            unsigned a = size ? run + 1 : run == 15 ? 16 : 0;
            if (adv + a > 63) break;
            eob = !size && run != 15;
            adv += a;
            mask = mask << (len + size) | ((1u << size) - 1);
            used += len + size;
        }
        if (!used) {
            /* The first symbol alone does not fit: a code of 10 to SEQ_BITS bits, or one whose
             * value bits run past the window. If its code ends inside the window and it takes
             * at most LONG_MAX_BITS with its value bits, the entry holds it alone (its value bits
             * are skipped unseen); else advance 127: the one-symbol path. Without these entries
             * the hot loop left for that path once a block on a q94 photo, with them once in
             * nine blocks (12 MP q98: 502K to 33K times), 9-13% less time on both. */
            unsigned len = 0; /* the window's bits, zero-padded to 16 (see above) */
            int sym = huff_symbol(h, i << (16 - SEQ_BITS), &len);
            if (sym >= 0 && len <= SEQ_BITS && len + ((unsigned)sym & 15) <= LONG_MAX_BITS) {
                unsigned size = (unsigned)sym & 15, run = (unsigned)sym >> 4;
                adv = size ? run + 1 : run == 15 ? 16 : 0;
                eob = !size && run != 15;
                mask = (1u << size) - 1;
                used = len + size;
            }
        }
        h->multi[i] = used ? used | adv << MULTI_ADV | (eob ? MULTI_EOB : 0) | mask << 16
                           : 127u << MULTI_ADV;
        h->mlen[i] = (uint8_t)(h->multi[i] & 63);
    }
    h->have_multi = 1;
}

void isec__huff_build_first(const struct huff *h, uint64_t *pm)
{
    for (unsigned i = 0; i < (1u << MULTI_BITS); i++) {
        unsigned used = 0, adv = 0, eob = 0;
        uint32_t mask = 0;
        uint64_t nzpos = 0;
        while (!eob) {
            unsigned rest = MULTI_BITS - used;
            uint32_t e = h->look[((i << used) & ((1u << MULTI_BITS) - 1)) >> (MULTI_BITS - 9)];
            unsigned len = e >> 8, sym = e & 0xff, size = sym & 15, run = sym >> 4;
            if (!e || len + size > rest) break;
            if (!size && run != 0 && run != 15) break; /* EOBn, n > 0: has extension bits */
            unsigned a = size ? run + 1 : run == 15 ? 16 : 0;
            if (adv + a > 32) break;
            if (size) nzpos |= (uint64_t)1 << (adv + run);
            eob = !size && run == 0;
            adv += a;
            mask = mask << (len + size) | ((1u << size) - 1);
            used += len + size;
        }
        pm[i] = used ? used | adv << MULTI_ADV | (eob ? MULTI_EOB : 0) | (uint64_t)mask << 16 |
                            nzpos << 32
                     : 127u << MULTI_ADV;
    }
}

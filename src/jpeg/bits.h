/* Bit-level helpers shared by the entropy-coded data walker (entropy.c: sequential scans and
 * the MCU loop) and progressive.c (AC scans of progressive JPEGs). */
#ifndef ISEC_JPEG_BITS_H
#define ISEC_JPEG_BITS_H

#include "internal.h"

static inline uint32_t peek16(const uint8_t *d, uint64_t pos)
{
    return (uint32_t)((isec__load_be64(d + (pos >> 3)) << (pos & 7)) >> 48);
}

/* ORs the n-bit pattern (1 <= n <= 32) into bit array a at bit position pos, MSB first. */
static inline void orbits(uint8_t *a, uint64_t pos, uint32_t pattern, unsigned n)
{
    uint8_t *p = a + (pos >> 3);
    uint64_t v = isec__load_be64(p);
    v |= (uint64_t)pattern << (64 - n - (pos & 7));
    isec__store_be64(p, v);
}

/* The Huffman symbol at the head of 16 stream bits v (MSB first): its code length in *len;
 * -1 if no code matches. */
static inline int huff_symbol(const struct huff *h, uint32_t v, unsigned *len)
{
    uint32_t e = h->look[v >> 7];
    if (e) {
        *len = e >> 8;
        return (int)(e & 0xff);
    }
    unsigned l;
    for (l = 10; l <= 16; l++)
        if ((int32_t)(v >> (16 - l)) <= h->maxcode[l]) break;
    if (l > 16) return -1;
    *len = l;
    return h->vals[h->valoff[l] + (int32_t)(v >> (16 - l))];
}

/* One Huffman symbol at *pos: advances *pos; -1 if no code matches. */
static inline int hdecode(const struct huff *h, const uint8_t *data, uint64_t *pos)
{
    unsigned len = 0;
    int sym = huff_symbol(h, peek16(data, *pos), &len);
    if (sym >= 0) *pos += len;
    return sym;
}

/* Why a block failed, for the message; the offset is filled in by the caller. */
enum { OK = 0, E_CODE = -1, E_SIZE = -2, E_RUN = -3, E_REFINE = -4 };

/* vm[] is written as a bit stream in step with the decoder: every consumed bit is put, 0 for
 * code and structure, 1 for value bits, and whole 32-bit words are stored as they fill. Bits at
 * and past the writer's position are zero in vm[]. (Marking in place instead costs a
 * read-modify-write of overlapping words per coefficient, which stalls on store forwarding.) */
struct vw {
    uint8_t *vm;
    uint64_t byte; /* vm[] index of the byte holding the writer's position */
    uint64_t acc;  /* pending bits in the low n bits (higher bits are stale) */
    unsigned n;    /* bits of vm[byte] written, 0-7, between calls */
    /* block_seq's read window (see there), kept from one block to the next: valid when the
     * decoder's position is still wpos (a retry or restart moves it, and the window is
     * loaded afresh) */
    uint64_t win, wpos;
    const uint8_t *wbp;
    unsigned wcnt;
};

static inline void vw_open(struct vw *w, uint8_t *vm, uint64_t pos)
{
    w->wpos = UINT64_MAX;
    w->win = 0;
    w->wbp = vm;
    w->wcnt = 0;
    w->vm = vm;
    w->byte = pos >> 3;
    w->n = (unsigned)(pos & 7);
    w->acc = w->n ? (uint64_t)(vm[w->byte] >> (8 - w->n)) : 0;
}

/* Appends len (0-31) bits. Branch-free: stores 8 bytes at the writer's byte every time (the
 * bytes past the position get zeros, which they hold anyway) and advances by whole bytes, so a
 * partial byte is always in memory and there is nothing to close. */
static inline void vw_put(struct vw *w, uint32_t pattern, unsigned len)
{
    w->acc = (w->acc << len) | pattern;
    w->n += len;
    isec__store_be64(w->vm + w->byte, w->acc << (63 - w->n) << 1); /* n may be 0 */
    w->byte += w->n >> 3;
    w->n &= 7;
}

/* code of len bits then sz value bits */
static inline void put_coded(struct vw *w, unsigned len, unsigned sz)
{
    vw_put(w, (1u << sz) - 1, len + sz);
}

/* Bits from..to (inclusive) of a 64-bit mask, 0 <= from <= to <= 63. */
static inline uint64_t band(int from, int to)
{
    uint64_t hi = to == 63 ? ~(uint64_t)0 : (((uint64_t)1 << (to + 1)) - 1);
    return hi & (~(uint64_t)0 << from);
}

/* progressive.c: one block of an AC first or AC refinement scan at *pos (nz: the block's
 * nonzero history); OK or a block error. */
int isec__block_ac_first(isec_jpeg *c, struct vw *vw, uint64_t *nz, uint64_t *pos);
int isec__block_ac_refine(isec_jpeg *c, struct vw *vw, uint64_t *nz, uint64_t *pos);
/* The same first-scan block for the helper decode (entropy.c): not inside an EOB run; EOBn
 * extension bits go to xm, the run it starts to *eobrun, the new nonzero places to *nz. */
int isec__spec_block_ac_first(const isec_jpeg *c, struct vw *vw, uint8_t *xm, uint32_t *eobrun,
                              uint64_t *nz, uint64_t *pos);
/* The correction bits of up to n blocks inside an EOB run of a refinement scan, from block
 * c->d.mcu at c->d.pos, stopping before a block that would pass bit `limit`: the number of
 * blocks passed (c->d.pos moved past them). */
uint64_t isec__refine_eobrun(isec_jpeg *c, struct vw *vw, uint64_t n, uint64_t limit);

#endif

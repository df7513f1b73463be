/* The entropy-coded data walker: decodes Huffman codes only far enough to know, for every bit,
 * whether it is Huffman code (and whether that code bit is 0), a coefficient value bit, or
 * structure (EOB-run extension bits, padding). Coefficient values are never reconstructed.
 *
 * Bits are addressed by position in data[] (entropy-coded bytes with stuffing removed); data[]
 * is followed by PAD zero bytes, so a block may read past the end and the check comes after it.
 * vm[] collects the value bits of each byte and xm[] the bits that are neither code nor value
 * (EOB-run extension bits, padding, extraneous bytes); every other classified bit is Huffman
 * code, so whether a byte's code bits hold a 0 is read off the byte itself when it is flushed,
 * and the hot loop marks nothing for codes. */
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
};

static inline void vw_open(struct vw *w, uint8_t *vm, uint64_t pos)
{
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

static inline int dc_value(const struct huff *h, const uint8_t *data, struct vw *w, uint64_t *pos)
{
    uint64_t p0 = *pos;
    int sym = hdecode(h, data, pos);
    if (sym < 0) return E_CODE;
    if (sym > 16) return E_SIZE;
    put_coded(w, (unsigned)(*pos - p0), (unsigned)sym);
    *pos += (unsigned)sym;
    return OK;
}

static inline int block_seq(isec_jpeg *c, struct vw *vw, int b, uint64_t *pos)
{
    const struct scan *s = &c->sc;
    const uint8_t *data = c->data;
    int rc = dc_value(&c->dc[s->td[b]], data, vw, pos);
    if (rc) return rc;
    const struct huff *ac = &c->ac[s->ta[b]];
    /* The hot loop: a 64-bit window w of the stream held in a register, refilled when fewer
     * than 32 bits are left; one lookup usually gives several symbols with their value bits.
     * The value mask collects in acc and goes to vm[] only at a refill (at most 51 bits
     * pending), which keeps the per-lookup work to a shift and an OR. */
    uint8_t *vm = vw->vm;
    uint64_t acc = vw->acc, vbyte = vw->byte;
    unsigned n = vw->n;
#define VM_FLUSH()                                                                                 \
    do {                                                                                           \
        isec__store_be64(vm + vbyte, acc << (63 - n) << 1);                                        \
        vbyte += n >> 3;                                                                           \
        n &= 7;                                                                                    \
    } while (0)
    uint64_t p = *pos, w;
    int k = 1;
    for (;;) {
        /* A refill every three lookups, unconditionally: after it at least 57 bits are real,
         * three multi-symbol lookups take at most 36 of them and leave 21... too few for a
         * long symbol, so the slow path refills for itself. */
        VM_FLUSH();
        w = isec__load_be64(data + (p >> 3)) << (p & 7);
        uint32_t e;
        int kn;
#define MULTI_STEP()                                                                               \
        e = ac->multi[w >> (64 - MULTI_BITS)];                                                     \
        kn = k + (int)((e >> 5) & 127);                                                            \
        if (kn >= 64) goto single;                                                                 \
        {                                                                                          \
            unsigned tl = e & 31;                                                                  \
            acc = (acc << tl) | (e >> 16);                                                         \
            n += tl;                                                                               \
            p += tl;                                                                               \
            w <<= tl;                                                                              \
            k = kn;                                                                                \
            if (e & MULTI_EOB) goto out;                                                           \
        }
        MULTI_STEP()
        MULTI_STEP()
        MULTI_STEP()
#undef MULTI_STEP
        continue;
    single:
        w = isec__load_be64(data + (p >> 3)) << (p & 7);
        /* One symbol: a long code, or one that may end the block or run past it. */
        VM_FLUSH();
        e = ac->fast[w >> (64 - FAST_BITS)];
        unsigned tl, r, sz;
        if (e) {
            tl = e & 31;
            r = (e >> 8) & 15;
            sz = (e >> 12) & 15;
        } else {
            uint64_t q = p;
            int sym = hdecode(ac, data, &q);
            if (sym < 0) {
                rc = E_CODE;
                break;
            }
            sz = (unsigned)sym & 15;
            r = (unsigned)sym >> 4;
            tl = (unsigned)(q - p) + sz;
        }
        acc = (acc << tl) | ((1u << sz) - 1);
        n += tl;
        p += tl;
        w <<= tl;
        if (sz) {
            k += (int)r + 1;
            if (k > 64) {
                rc = E_RUN;
                break;
            }
            if (k == 64) break;
        } else if (r != 15) {
            break; /* EOB (decoders treat any r < 15 with size 0 so) */
        } else {
            k += 16;
            if (k >= 64) break;
        }
    }
out:
    VM_FLUSH();
#undef VM_FLUSH
    vw->acc = acc;
    vw->n = n;
    vw->byte = vbyte;
    *pos = p;
    return rc;
}

static inline int block_dc_first(isec_jpeg *c, struct vw *vw, int b, uint64_t *pos)
{
    return dc_value(&c->dc[c->sc.td[b]], c->data, vw, pos);
}

/* A bit cursor for progressive scans: reads data[] through a 64-bit window w (left of its
 * bits are real) and writes the matching vm[] bits in step, so one position p serves both. The
 * vm bits gather in acc (n of them pending, vbyte * 8 + n == p) and are stored only when the
 * window is refilled. bc_fill keeps at least 40 bits readable, so a take of at most 31 bits
 * never passes the window and at most 62 bits are ever pending. data[] is padded: reading past
 * its end is safe, and the caller checks the position afterwards. */
struct bc {
    const uint8_t *d;
    uint8_t *vm;
    uint64_t p, w, acc, vbyte;
    unsigned left, n;
};

static inline void bc_open(struct bc *b, const uint8_t *d, const struct vw *v, uint64_t p)
{
    b->d = d;
    b->vm = v->vm;
    b->p = p;
    b->w = 0;
    b->left = 0;
    b->acc = v->acc;
    b->n = v->n;
    b->vbyte = v->byte;
}

static inline void bc_store(struct bc *b)
{
    isec__store_be64(b->vm + b->vbyte, b->acc << (63 - b->n) << 1);
    b->vbyte += b->n >> 3;
    b->n &= 7;
}

static inline void bc_close(struct bc *b, struct vw *v)
{
    bc_store(b);
    v->acc = b->acc;
    v->n = b->n;
    v->byte = b->vbyte;
}

static inline void bc_fill(struct bc *b)
{
    if (b->left < 40) {
        bc_store(b);
        b->w = isec__load_be64(b->d + (b->p >> 3)) << (b->p & 7);
        b->left = 64 - (unsigned)(b->p & 7);
    }
}

/* Consumes len (0-31) bits whose vm bits are pattern; the window must hold them. */
static inline void bc_take(struct bc *b, unsigned len, uint32_t pattern)
{
    b->acc = (b->acc << len) | pattern;
    b->n += len;
    b->p += len;
    b->w <<= len;
    b->left -= len;
}

/* Consumes cnt (any number) value bits: correction bits, which are never read. */
static inline void bc_ones(struct bc *b, unsigned cnt)
{
    b->p += cnt;
    if (cnt < b->left) {
        b->w <<= cnt;
        b->left -= cnt;
    } else {
        b->left = 0;
    }
    bc_store(b);
    for (; cnt > 32; cnt -= 32) {
        b->acc = (b->acc << 32) | 0xFFFFFFFFu;
        b->n += 32;
        bc_store(b);
    }
    b->acc = (b->acc << cnt) | (((uint64_t)1 << cnt) - 1);
    b->n += cnt;
    bc_store(b);
}

/* One Huffman symbol at the cursor (filled): its code length in *len; -1 if no code matches. */
static inline int bc_symbol(const struct huff *h, const struct bc *b, unsigned *len)
{
    return huff_symbol(h, (uint32_t)(b->w >> 48), len);
}

/* EOBn extension bits at a filled cursor: structure, never enciphered (changing them changes
 * the parse). */
static inline uint32_t bc_eob_bits(isec_jpeg *c, struct bc *b, unsigned r)
{
    if (!r) return 0;
    uint32_t v = (uint32_t)(b->w >> (64 - r));
    orbits(c->xm, b->p, (1u << r) - 1, r);
    bc_take(b, r, 0);
    return v;
}

static inline int block_ac_first(isec_jpeg *c, struct vw *vw, uint64_t *nz, uint64_t *pos)
{
    const struct scan *s = &c->sc;
    if (c->d.eobrun) {
        c->d.eobrun--;
        return OK;
    }
    const struct huff *ac = &c->ac[s->ta[0]];
    const int se = s->se; /* a local: vm[] stores may alias anything in memory */
    struct bc b;
    bc_open(&b, c->data, vw, *pos);
    int rc = OK;
    uint64_t z = *nz;
    for (int k = s->ss; k <= se; k++) {
        bc_fill(&b);
        uint32_t e = ac->fast[b.w >> (64 - FAST_BITS)];
        int r, sz;
        if (e) { /* short code and its value bits in one lookup, as in block_seq */
            bc_take(&b, e & 31, e >> 16);
            r = (int)(e >> 8) & 15;
            sz = (int)(e >> 12) & 15;
        } else {
            unsigned len;
            int sym = bc_symbol(ac, &b, &len);
            if (sym < 0) {
                rc = E_CODE;
                break;
            }
            r = sym >> 4;
            sz = sym & 15;
            bc_take(&b, len + (unsigned)sz, (1u << sz) - 1);
        }
        if (sz) {
            k += r;
            if (k > se) {
                rc = E_RUN;
                break;
            }
            z |= (uint64_t)1 << k;
        } else if (r == 15) {
            k += 15;
        } else {
            bc_fill(&b);
            c->d.eobrun = (1u << r) + bc_eob_bits(c, &b, (unsigned)r) - 1;
            break;
        }
    }
    bc_close(&b, vw);
    *nz = z;
    *pos = b.p;
    return rc;
}


/* Bit positions of the set bits of a byte, 3 bits each, lowest first. */
static const uint32_t select8[256] = {
    0x000000, 0x000000, 0x000001, 0x000008, 0x000002, 0x000010, 0x000011, 0x000088,
    0x000003, 0x000018, 0x000019, 0x0000c8, 0x00001a, 0x0000d0, 0x0000d1, 0x000688,
    0x000004, 0x000020, 0x000021, 0x000108, 0x000022, 0x000110, 0x000111, 0x000888,
    0x000023, 0x000118, 0x000119, 0x0008c8, 0x00011a, 0x0008d0, 0x0008d1, 0x004688,
    0x000005, 0x000028, 0x000029, 0x000148, 0x00002a, 0x000150, 0x000151, 0x000a88,
    0x00002b, 0x000158, 0x000159, 0x000ac8, 0x00015a, 0x000ad0, 0x000ad1, 0x005688,
    0x00002c, 0x000160, 0x000161, 0x000b08, 0x000162, 0x000b10, 0x000b11, 0x005888,
    0x000163, 0x000b18, 0x000b19, 0x0058c8, 0x000b1a, 0x0058d0, 0x0058d1, 0x02c688,
    0x000006, 0x000030, 0x000031, 0x000188, 0x000032, 0x000190, 0x000191, 0x000c88,
    0x000033, 0x000198, 0x000199, 0x000cc8, 0x00019a, 0x000cd0, 0x000cd1, 0x006688,
    0x000034, 0x0001a0, 0x0001a1, 0x000d08, 0x0001a2, 0x000d10, 0x000d11, 0x006888,
    0x0001a3, 0x000d18, 0x000d19, 0x0068c8, 0x000d1a, 0x0068d0, 0x0068d1, 0x034688,
    0x000035, 0x0001a8, 0x0001a9, 0x000d48, 0x0001aa, 0x000d50, 0x000d51, 0x006a88,
    0x0001ab, 0x000d58, 0x000d59, 0x006ac8, 0x000d5a, 0x006ad0, 0x006ad1, 0x035688,
    0x0001ac, 0x000d60, 0x000d61, 0x006b08, 0x000d62, 0x006b10, 0x006b11, 0x035888,
    0x000d63, 0x006b18, 0x006b19, 0x0358c8, 0x006b1a, 0x0358d0, 0x0358d1, 0x1ac688,
    0x000007, 0x000038, 0x000039, 0x0001c8, 0x00003a, 0x0001d0, 0x0001d1, 0x000e88,
    0x00003b, 0x0001d8, 0x0001d9, 0x000ec8, 0x0001da, 0x000ed0, 0x000ed1, 0x007688,
    0x00003c, 0x0001e0, 0x0001e1, 0x000f08, 0x0001e2, 0x000f10, 0x000f11, 0x007888,
    0x0001e3, 0x000f18, 0x000f19, 0x0078c8, 0x000f1a, 0x0078d0, 0x0078d1, 0x03c688,
    0x00003d, 0x0001e8, 0x0001e9, 0x000f48, 0x0001ea, 0x000f50, 0x000f51, 0x007a88,
    0x0001eb, 0x000f58, 0x000f59, 0x007ac8, 0x000f5a, 0x007ad0, 0x007ad1, 0x03d688,
    0x0001ec, 0x000f60, 0x000f61, 0x007b08, 0x000f62, 0x007b10, 0x007b11, 0x03d888,
    0x000f63, 0x007b18, 0x007b19, 0x03d8c8, 0x007b1a, 0x03d8d0, 0x03d8d1, 0x1ec688,
    0x00003e, 0x0001f0, 0x0001f1, 0x000f88, 0x0001f2, 0x000f90, 0x000f91, 0x007c88,
    0x0001f3, 0x000f98, 0x000f99, 0x007cc8, 0x000f9a, 0x007cd0, 0x007cd1, 0x03e688,
    0x0001f4, 0x000fa0, 0x000fa1, 0x007d08, 0x000fa2, 0x007d10, 0x007d11, 0x03e888,
    0x000fa3, 0x007d18, 0x007d19, 0x03e8c8, 0x007d1a, 0x03e8d0, 0x03e8d1, 0x1f4688,
    0x0001f5, 0x000fa8, 0x000fa9, 0x007d48, 0x000faa, 0x007d50, 0x007d51, 0x03ea88,
    0x000fab, 0x007d58, 0x007d59, 0x03eac8, 0x007d5a, 0x03ead0, 0x03ead1, 0x1f5688,
    0x000fac, 0x007d60, 0x007d61, 0x03eb08, 0x007d62, 0x03eb10, 0x03eb11, 0x1f5888,
    0x007d63, 0x03eb18, 0x03eb19, 0x1f58c8, 0x03eb1a, 0x1f58d0, 0x1f58d1, 0xfac688,
};

/* Position of the set bit of x with n set bits below it (n < 64), or 64 if x has no more than
 * n set bits. Branch-free apart from the last test: byte counts, their prefix sums, the first
 * byte whose prefix passes n, then a table inside that byte. */
static inline unsigned select64(uint64_t x, unsigned n)
{
    const uint64_t ones = 0x0101010101010101u, high = 0x8080808080808080u;
    uint64_t c = x - ((x >> 1) & 0x5555555555555555u);
    c = (c & 0x3333333333333333u) + ((c >> 2) & 0x3333333333333333u);
    c = (c + (c >> 4)) & 0x0F0F0F0F0F0F0F0Fu;
    uint64_t prefix = c * ones; /* byte i: set bits in bytes 0..i (at most 64, below 128) */
    uint64_t past = ((prefix | high) - (uint64_t)(n + 1) * ones) & high;
    if (!past) return 64;
    unsigned byte = (unsigned)__builtin_ctzll(past) >> 3;
    unsigned below = (unsigned)((prefix << 8) >> (8 * byte)) & 0xFF;
    unsigned m = n - below;
    return byte * 8 + ((select8[(x >> (8 * byte)) & 0xFF] >> (3 * m)) & 7);
}

/* Bits from..to (inclusive) of a 64-bit mask, 0 <= from <= to <= 63. */
static inline uint64_t band(int from, int to)
{
    uint64_t hi = to == 63 ? ~(uint64_t)0 : (((uint64_t)1 << (to + 1)) - 1);
    return hi & (~(uint64_t)0 << from);
}

static inline int block_ac_refine(isec_jpeg *c, struct vw *vw, uint64_t *nz, uint64_t *pos)
{
    const struct scan *s = &c->sc;
    const struct huff *ac = &c->ac[s->ta[0]];
    const int se = s->se; /* a local: vm[] stores may alias anything in memory */
    const uint64_t inband = band(s->ss, se);
    uint64_t z = *nz;
    struct bc b;
    bc_open(&b, c->data, vw, *pos);
    int k = s->ss, rc = OK;
    if (c->d.eobrun == 0) {
        while (k <= se) {
            bc_fill(&b);
            unsigned len;
            int sym = bc_symbol(ac, &b, &len);
            if (sym < 0) {
                rc = E_CODE;
                break;
            }
            int r = sym >> 4, sz = sym & 15;
            if (sz) {
                if (sz != 1) {
                    rc = E_REFINE;
                    break;
                }
                bc_take(&b, len + 1, 1); /* code, then the sign of the new coefficient */
            } else {
                bc_take(&b, len, 0);
                if (r != 15) {
                    bc_fill(&b);
                    c->d.eobrun = (1u << r) + bc_eob_bits(c, &b, (unsigned)r);
                    break;
                }
            }
            /* Pass already-nonzero coefficients (a correction bit each) up to the (r+1)-th
             * zero one, which a new coefficient takes (ZRL: past the 16th zero). */
            uint64_t from = ~(uint64_t)0 << k, zeros = ~z & inband & from;
            /* r = 0 is the common case and the branch predicts well on real cores */
            int target = r ? (int)select64(zeros, (unsigned)r)
                           : zeros ? __builtin_ctzll(zeros) : 64;
            unsigned ncorr;
            if (target < 64) { /* [k, target) holds r zero-history coefficients, the rest not */
                ncorr = (unsigned)(target - k) - (unsigned)r;
            } else {
                target = se + 1;
                ncorr = isec__popcount64(z & inband & from);
            }
            bc_ones(&b, ncorr);
            k = target;
            if (sz) {
                if (k > se) {
                    rc = E_RUN;
                    break;
                }
                z |= (uint64_t)1 << k;
            }
            k++;
        }
    }
    if (rc == OK && c->d.eobrun) {
        if (k <= se) bc_ones(&b, isec__popcount64(z & inband & (~(uint64_t)0 << k)));
        c->d.eobrun--;
    }
    bc_close(&b, vw);
    *nz = z;
    *pos = b.p;
    return rc;
}

/* Decodes one MCU at c->d.pos. Returns OK, a block error, or 1 if it ran past `avail` bits
 * (checked after each block, so the overrun stays within PAD). */
static inline int decode_mcu(isec_jpeg *c, struct vw *vw, uint64_t avail)
{
    const struct scan *s = &c->sc;
    uint64_t pos = c->d.pos;
    int rc = OK;
    switch (s->kind) {
    case SCAN_SEQ:
        for (int b = 0; b < s->nblk && rc == OK; b++) {
            rc = block_seq(c, vw, s->blkcomp[b], &pos);
            if (pos > avail) rc = rc ? rc : 1;
        }
        break;
    case SCAN_DC_FIRST:
        for (int b = 0; b < s->nblk && rc == OK; b++) {
            rc = block_dc_first(c, vw, s->blkcomp[b], &pos);
            if (pos > avail) rc = rc ? rc : 1;
        }
        break;
    case SCAN_DC_REFINE:
        for (int b = 0; b < s->nblk; b++) vw_put(vw, 1, 1);
        pos += s->nblk;
        if (pos > avail) rc = 1;
        break;
    case SCAN_AC_FIRST:
    case SCAN_AC_REFINE: {
        uint64_t *nz = &c->comp[s->ci[0]].nz[c->d.mcu];
        rc = s->kind == SCAN_AC_FIRST ? block_ac_first(c, vw, nz, &pos)
                                       : block_ac_refine(c, vw, nz, &pos);
        if (rc == OK && pos > avail) rc = 1;
        break;
    }
    }
    c->d.pos = pos;
    return rc;
}

/* Clears vm/xm bits from bit position pos to the end of the padded arrays. */
static void clear_marks_from(isec_jpeg *c, uint64_t pos)
{
    size_t byte = (size_t)(pos >> 3), end = (size_t)c->datalen + PAD;
    if (byte >= end) return;
    unsigned keep = (unsigned)(pos & 7);
    uint8_t mask = keep ? (uint8_t)(0xFF << (8 - keep)) : 0;
    c->vm[byte] &= mask;
    c->xm[byte] &= mask;
    memset(c->vm + byte + 1, 0, end - byte - 1);
    memset(c->xm + byte + 1, 0, end - byte - 1);
}

void isec__mark_structure(isec_jpeg *c, uint64_t from, uint64_t to)
{
    while (from < to && (from & 7)) {
        c->xm[from >> 3] |= (uint8_t)(0x80 >> (from & 7));
        from++;
    }
    if (from < to && to - from >= 8) {
        memset(c->xm + (from >> 3), 0xFF, (size_t)((to - from) >> 3));
        from += (to - from) & ~(uint64_t)7;
    }
    while (from < to) {
        c->xm[from >> 3] |= (uint8_t)(0x80 >> (from & 7));
        from++;
    }
}

static int decode_run(isec_jpeg *c, struct vw *va);

static const char *block_error_text(int rc)
{
    switch (rc) {
    case E_CODE: return "invalid Huffman code";
    case E_SIZE: return "DC difference size above 16";
    case E_RUN: return "AC run past the end of the block or band";
    case E_REFINE: return "refinement scan coefficient of size other than 1";
    default: return "corrupt data";
    }
}

int isec__entropy_decode(isec_jpeg *c)
{
    struct vw va;
    vw_open(&va, c->vm, c->d.pos);
    int rc = decode_run(c, &va);
    if (rc == 0) clear_marks_from(c, c->d.pos); /* what a cut-short MCU marked */
    return rc;
}

static int decode_run(isec_jpeg *c, struct vw *va)
{
    const struct scan *s = &c->sc;
    uint64_t avail = (uint64_t)c->datalen * 8;
    while (c->d.mcu < s->total) {
        if (s->ri && c->d.mcu && c->d.mcu % s->ri == 0 && !c->d.restarted) {
            if (c->bhead == c->btail) {
                if (!c->region_ended) return 0;
                return isec__jpeg_fail(c, ISEC_ETRUNC, c->off,
                                       "scan ends after MCU %llu of %llu: RST marker missing",
                                       (unsigned long long)c->d.mcu,
                                       (unsigned long long)s->total);
            }
            const struct bound *b = &c->bounds[c->bhead];
            if (b->num != c->d.next_rst)
                return isec__jpeg_fail(c, ISEC_EFORMAT, c->off,
                                       "RST%u found where RST%u was due (MCU %llu)", b->num,
                                       c->d.next_rst, (unsigned long long)c->d.mcu);
            uint64_t aligned = (c->d.pos + 7) & ~(uint64_t)7;
            c->info.extraneous_bytes += b->datapos - aligned / 8;
            /* padding to the byte boundary and any extraneous bytes before the RST */
            isec__mark_structure(c, c->d.pos, (uint64_t)b->datapos * 8);
            c->d.pos = (uint64_t)b->datapos * 8;
            vw_open(va, c->vm, c->d.pos);
            c->d.next_rst = (uint8_t)((c->d.next_rst + 1) & 7);
            c->d.eobrun = 0;
            c->d.restarted = 1;
            c->bhead++;
            c->committed = c->d.pos;
        }
        /* The interval's data ends at the next RST marker if one has arrived, else at the end
         * of what we have; only then is running out final rather than a wait for input. */
        int limit_final = c->bhead != c->btail || c->region_ended;
        uint64_t limit = c->bhead != c->btail ? (uint64_t)c->bounds[c->bhead].datapos * 8 : avail;
        if (c->d.eobrun && (s->kind == SCAN_AC_FIRST || s->kind == SCAN_AC_REFINE)) {
            /* Blocks inside an EOB run, up to the run's end or the next restart: in a first
             * scan they hold no bits, in a refinement scan only one correction bit per
             * coefficient already nonzero in the band. A tight loop here instead of one
             * round of the MCU machinery per block; the block that would pass the data's
             * end is left to the general path below. */
            uint64_t n = c->d.eobrun, room = s->total - c->d.mcu;
            if (s->ri) {
                uint64_t to_rst = s->ri - c->d.mcu % s->ri;
                room = room < to_rst ? room : to_rst;
            }
            n = n < room ? n : room;
            uint64_t done = n;
            if (s->kind == SCAN_AC_REFINE) {
                const uint64_t inband = band(s->ss, s->se), *nz = c->comp[s->ci[0]].nz + c->d.mcu;
                struct bc b;
                bc_open(&b, c->data, va, c->d.pos);
                for (done = 0; done < n; done++) {
                    unsigned cnt = isec__popcount64(nz[done] & inband);
                    if (b.p + cnt > limit) break;
                    if (cnt) bc_ones(&b, cnt);
                }
                bc_close(&b, va);
                c->d.pos = b.p;
            }
            if (done) {
                c->d.eobrun -= (uint32_t)done;
                c->d.mcu += done;
                c->d.restarted = 0;
                c->committed = c->d.pos;
                continue;
            }
        }
        struct dec saved = c->d;
        /* AC scans update the block's nonzero history as they go: keep it for a retry */
        uint64_t *nzp = (s->kind == SCAN_AC_FIRST || s->kind == SCAN_AC_REFINE)
                            ? &c->comp[s->ci[0]].nz[c->d.mcu] : NULL;
        uint64_t nz_saved = nzp ? *nzp : 0;
        int rc = decode_mcu(c, va, limit);
        if (rc == OK && c->d.pos > limit) rc = 1;
        if (rc != OK) {
            uint64_t errpos = c->d.pos;
            if (!limit_final && (rc == 1 || errpos + 32 >= avail)) {
                c->d = saved;
                if (nzp) *nzp = nz_saved;
                return 0;
            }
            if (rc == 1)
                return isec__jpeg_fail(c, ISEC_ETRUNC, isec__data_offset(c, saved.pos >> 3),
                                       "scan data ends inside MCU %llu of %llu",
                                       (unsigned long long)saved.mcu,
                                       (unsigned long long)s->total);
            return isec__jpeg_fail(c, ISEC_EFORMAT, isec__data_offset(c, errpos >> 3),
                                   "%s in MCU %llu of scan %zu",
                                   block_error_text(rc), (unsigned long long)saved.mcu,
                                   c->info.nscans);
        }
        c->d.restarted = 0;
        c->d.mcu++;
        c->committed = c->d.pos;
    }
    /* RST markers after the last MCU: some encoders end every interval with one, and decoders
     * skip them (libjpeg reads them as parameterless markers). They stay as they are. */
    c->bhead = c->btail = 0;
    return 1;
}

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

static inline uint32_t getbits(const uint8_t *d, uint64_t pos, unsigned n)
{
    return (uint32_t)((isec__load_be64(d + (pos >> 3)) << (pos & 7)) >> (64 - n));
}

/* ORs the n-bit pattern (1 <= n <= 32) into bit array a at bit position pos, MSB first. */
static inline void orbits(uint8_t *a, uint64_t pos, uint32_t pattern, unsigned n)
{
    uint8_t *p = a + (pos >> 3);
    uint64_t v = isec__load_be64(p);
    v |= (uint64_t)pattern << (64 - n - (pos & 7));
    isec__store_be64(p, v);
}

/* One Huffman symbol at *pos: advances *pos; -1 if no code matches. */
static inline int hdecode(const struct huff *h, const uint8_t *data, uint64_t *pos)
{
    uint32_t v = peek16(data, *pos);
    uint32_t e = h->look[v >> 7];
    unsigned len;
    int sym;
    if (e) {
        len = e >> 8;
        sym = (int)(e & 0xff);
    } else {
        for (len = 10; len <= 16; len++)
            if ((int32_t)(v >> (16 - len)) <= h->maxcode[len]) break;
        if (len > 16) return -1;
        sym = h->vals[h->valoff[len] + (int32_t)(v >> (16 - len))];
    }
    *pos += len;
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

/* Appends len (1-31) bits. Branch-free: stores 8 bytes at the writer's byte every time (the
 * bytes past the position get zeros, which they hold anyway) and advances by whole bytes, so a
 * partial byte is always in memory and there is nothing to close. */
static inline void vw_put(struct vw *w, uint32_t pattern, unsigned len)
{
    w->acc = (w->acc << len) | pattern;
    w->n += len;
    isec__store_be64(w->vm + w->byte, w->acc << (64 - w->n));
    w->byte += w->n >> 3;
    w->n &= 7;
}

static inline void vw_close(struct vw *w)
{
    (void)w;
}

/* code of len bits then sz value bits */
static inline void put_coded(struct vw *w, unsigned len, unsigned sz)
{
    vw_put(w, (1u << sz) - 1, len + sz);
}

/* EOBn extension bits: structure, never enciphered (changing them changes the parse) */
static inline uint32_t eob_bits(isec_jpeg *c, struct vw *w, uint64_t *pos, unsigned r)
{
    if (!r) return 0;
    uint32_t v = getbits(c->data, *pos, r);
    orbits(c->xm, *pos, (1u << r) - 1, r);
    vw_put(w, 0, r);
    *pos += r;
    return v;
}

/* One Huffman symbol with its value bits put: returns the symbol, or -1. */
static inline int coded(const struct huff *h, const uint8_t *data, struct vw *w, uint64_t *pos,
                        int value_bits_follow)
{
    uint64_t p0 = *pos;
    int sym = hdecode(h, data, pos);
    if (sym < 0) return -1;
    unsigned len = (unsigned)(*pos - p0), sz = value_bits_follow ? (unsigned)sym & 15 : 0;
    put_coded(w, len, sz);
    *pos += sz;
    return sym;
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
     * than 32 bits are left; one lookup gives a short code and its value bits together. */
    uint64_t p = *pos, w = isec__load_be64(data + (p >> 3)) << (p & 7);
    unsigned left = 64 - (unsigned)(p & 7);
    int k = 1;
    for (;;) {
        if (left < 32) {
            w = isec__load_be64(data + (p >> 3)) << (p & 7);
            left = 64 - (unsigned)(p & 7);
        }
        /* Usually several symbols at once: their bits, value mask and coefficient advance. */
        uint32_t e = ac->multi[w >> (64 - MULTI_BITS)];
        int kn = k + (int)((e >> 5) & 127);
        if (kn < 64) {
            unsigned tl = e & 31;
            vw_put(vw, e >> 16, tl);
            p += tl;
            w <<= tl;
            left -= tl;
            k = kn;
            if (e & MULTI_EOB) break;
            continue;
        }
        /* One symbol: a long code, or one that may end the block or run past it. */
        e = ac->fast[w >> (64 - FAST_BITS)];
        unsigned tl, r, sz;
        if (e) {
            tl = e & 31;
            r = (e >> 8) & 15;
            sz = (e >> 12) & 15;
            vw_put(vw, e >> 16, tl);
        } else {
            uint64_t q = p;
            int sym = hdecode(ac, data, &q);
            if (sym < 0) {
                *pos = p;
                return E_CODE;
            }
            sz = (unsigned)sym & 15;
            r = (unsigned)sym >> 4;
            tl = (unsigned)(q - p) + sz;
            vw_put(vw, (1u << sz) - 1, tl);
        }
        p += tl;
        w <<= tl;
        left -= tl;
        if (sz) {
            k += (int)r + 1;
            if (k > 64) {
                *pos = p;
                return E_RUN;
            }
            if (k == 64) break;
        } else if (r != 15) {
            break; /* EOB (decoders treat any r < 15 with size 0 so) */
        } else {
            k += 16;
            if (k >= 64) break;
        }
    }
    *pos = p;
    return OK;
}

static inline int block_dc_first(isec_jpeg *c, struct vw *vw, int b, uint64_t *pos)
{
    return dc_value(&c->dc[c->sc.td[b]], c->data, vw, pos);
}

static inline int block_ac_first(isec_jpeg *c, struct vw *vw, uint64_t *nz, uint64_t *pos)
{
    const struct scan *s = &c->sc;
    if (c->d.eobrun) {
        c->d.eobrun--;
        return OK;
    }
    const struct huff *ac = &c->ac[s->ta[0]];
    for (int k = s->ss; k <= s->se; k++) {
        uint32_t e = ac->fast[peek16(c->data, *pos) >> (16 - FAST_BITS)];
        int r, sz;
        if (e) { /* short code and its value bits in one lookup, as in block_seq */
            vw_put(vw, e >> 16, e & 31);
            *pos += e & 31;
            r = (int)(e >> 8) & 15;
            sz = (int)(e >> 12) & 15;
        } else {
            int sym = coded(ac, c->data, vw, pos, 1);
            if (sym < 0) return E_CODE;
            r = sym >> 4;
            sz = sym & 15;
        }
        if (sz) {
            k += r;
            if (k > s->se) return E_RUN;
            *nz |= (uint64_t)1 << k;
        } else if (r == 15) {
            k += 15;
        } else {
            c->d.eobrun = (1u << r) + eob_bits(c, vw, pos, (unsigned)r) - 1;
            break;
        }
    }
    return OK;
}

/* Portable popcount: __builtin_popcountll is a libgcc call unless the target has POPCNT. */
static inline unsigned popcount64(uint64_t x)
{
    x = x - ((x >> 1) & 0x5555555555555555u);
    x = (x & 0x3333333333333333u) + ((x >> 2) & 0x3333333333333333u);
    x = (x + (x >> 4)) & 0x0F0F0F0F0F0F0F0Fu;
    return (unsigned)((x * 0x0101010101010101u) >> 56);
}

/* Bits from..to (inclusive) of a 64-bit mask, 0 <= from <= to <= 63. */
static inline uint64_t band(int from, int to)
{
    uint64_t hi = to == 63 ? ~(uint64_t)0 : (((uint64_t)1 << (to + 1)) - 1);
    return hi & (~(uint64_t)0 << from);
}

/* n correction bits: value bits, one per already-nonzero coefficient passed */
static inline void correction_bits(struct vw *vw, uint64_t *pos, unsigned n)
{
    *pos += n;
    for (; n > 16; n -= 16) vw_put(vw, 0xFFFF, 16);
    if (n) vw_put(vw, (1u << n) - 1, n);
}

static inline int block_ac_refine(isec_jpeg *c, struct vw *vw, uint64_t *nz, uint64_t *pos)
{
    const struct scan *s = &c->sc;
    const struct huff *ac = &c->ac[s->ta[0]];
    int k = s->ss;
    if (c->d.eobrun == 0) {
        for (; k <= s->se; k++) {
            int sym = coded(ac, c->data, vw, pos, 0);
            if (sym < 0) return E_CODE;
            int r = sym >> 4, sz = sym & 15;
            if (sz) {
                if (sz != 1) return E_REFINE;
                vw_put(vw, 1, 1); /* sign of the newly nonzero coefficient */
                *pos += 1;
            } else if (r != 15) {
                c->d.eobrun = (1u << r) + eob_bits(c, vw, pos, (unsigned)r);
                break;
            }
            /* Pass already-nonzero coefficients (a correction bit each) up to the (r+1)-th
             * zero one, which a new coefficient takes (ZRL: past the 16th zero). */
            uint64_t inband = band(k, s->se), zeros = ~*nz & inband;
            for (int i = 0; i < r && zeros; i++) zeros &= zeros - 1;
            int target = zeros ? __builtin_ctzll(zeros) : s->se + 1;
            uint64_t before = target > 63 ? ~(uint64_t)0 : (((uint64_t)1 << target) - 1);
            correction_bits(vw, pos, popcount64(*nz & inband & before));
            k = target;
            if (sz) {
                if (k > s->se) return E_RUN;
                *nz |= (uint64_t)1 << k;
            }
        }
    }
    if (c->d.eobrun) {
        if (k <= s->se)
            correction_bits(vw, pos, popcount64(*nz & band(k, s->se)));
        c->d.eobrun--;
    }
    return OK;
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
    vw_close(&va);
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
            vw_close(va);
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

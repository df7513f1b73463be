/* The walker's AC scans of progressive JPEGs (first scans and successive-approximation
 * refinement scans), through a bit cursor that reads data[] and writes vm[] in step. The MCU
 * loop that calls these is entropy.c's. */
#include <stdlib.h>

#include "bits.h"

/* A bit cursor for progressive scans: reads data[] through a 64-bit window w (left of its
 * bits are real) and writes the matching vm[] bits in step, so one position p serves both. The
 * vm bits gather in acc (n of them pending, vbyte * 8 + n == p) and are stored only when the
 * window is refilled. As in block_seq, the window's valid bits end at a byte boundary,
 * p + left == 8 * (bp - d), and a refill ORs in the 8 bytes at bp, loaded ahead of need; then
 * n + left is 56 or 64, so no more than 64 bits are ever pending. bc_fill keeps at least 40
 * bits readable, so a take of at most 31 bits never passes the window. data[] is padded:
 * reading past its end is safe, and the caller checks the position afterwards. */
struct bc {
    const uint8_t *d, *bp;
    uint8_t *vm;
    uint64_t p, w, acc, vbyte;
    unsigned left, n;
};

/* Loads the window afresh at p (56-49 bits). */
static inline void bc_reset(struct bc *b)
{
    b->w = isec__load_be64(b->d + (b->p >> 3)) << (b->p & 7);
    b->left = 56 - (unsigned)(b->p & 7);
    b->bp = b->d + (b->p >> 3) + 7;
}

static inline void bc_open(struct bc *b, const uint8_t *d, const struct vw *v, uint64_t p)
{
    b->d = d;
    b->vm = v->vm;
    b->p = p;
    b->acc = v->acc;
    b->n = v->n;
    b->vbyte = v->byte;
    bc_reset(b);
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
        b->w |= isec__load_be64(b->bp) >> b->left;
        b->bp += (63 - b->left) >> 3;
        b->left |= 56;
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

/* Consumes cnt (any number) value bits: correction bits, which are never read. By value, so
 * that the callers' cursor never has its address taken and stays in registers. */
static __attribute__((noinline)) struct bc bc_ones_long(struct bc b, unsigned cnt)
{
    b.p += cnt;
    bc_store(&b);
    for (; cnt > 32; cnt -= 32) {
        b.acc = (b.acc << 32) | 0xFFFFFFFFu;
        b.n += 32;
        bc_store(&b);
    }
    b.acc = (b.acc << cnt) | (((uint64_t)1 << cnt) - 1);
    b.n += cnt;
    bc_store(&b);
    bc_reset(&b);
    return b;
}

/* The same, in the window's registers when the window holds them (most of the time). */
static inline void bc_ones(struct bc *b, unsigned cnt)
{
    if (__builtin_expect(cnt < b->left, 1)) {
        b->acc = (b->acc << cnt) | (((uint64_t)1 << cnt) - 1);
        b->n += cnt;
        b->p += cnt;
        b->w <<= cnt;
        b->left -= cnt;
    } else {
        *b = bc_ones_long(*b, cnt);
    }
}

/* One Huffman symbol at the cursor (filled): its code length in *len; -1 if no code matches. */
static inline int bc_symbol(const struct huff *h, const struct bc *b, unsigned *len)
{
    return huff_symbol(h, (uint32_t)(b->w >> 48), len);
}

/* EOBn extension bits at a filled cursor: structure, never enciphered (changing them changes
 * the parse). */
static inline uint32_t bc_eob_bits(uint8_t *xm, struct bc *b, unsigned r)
{
    if (!r) return 0;
    uint32_t v = (uint32_t)(b->w >> (64 - r));
    orbits(xm, b->p, (1u << r) - 1, r);
    bc_take(b, r, 0);
    return v;
}

/* One block of an AC first scan at *pos, not inside an EOB run: its new nonzero coefficients
 * go into *nz, EOBn extension bits into xm[], the run that an EOBn starts into *eobrun. The
 * walker's blocks (c->xm, c->d.eobrun) and the helper's (entropy.c: its own xm, no block
 * index) come through here, so both decode alike. */
static inline int ac_first(const isec_jpeg *c, struct vw *vw, uint8_t *xm, uint32_t *eobrun,
                           uint64_t *nz, uint64_t *pos)
{
    const struct scan *s = &c->sc;
    const struct huff *ac = &c->ac[s->ta[0]];
    const uint64_t *pm = c->firstmulti;
    const int se = s->se; /* a local: vm[] stores may alias anything in memory */
    struct bc b;
    bc_open(&b, c->data, vw, *pos);
    int rc = OK;
    uint64_t z = *nz;
    for (int k = s->ss; k <= se; k++) {
        bc_fill(&b);
        /* Several symbols with their value bits and nonzero places at once, while they stay
         * short of the band's last coefficient (the one-symbol path below decides there). */
        uint64_t m = pm[b.w >> (64 - MULTI_BITS)];
        int kn = k + (int)((m >> MULTI_ADV) & 127);
        if (kn <= se) {
            bc_take(&b, (unsigned)m & 63, (uint32_t)(m >> 16) & 0xFFFF);
            z |= (m >> 32) << k;
            if (m & MULTI_EOB) break;
            k = kn - 1; /* the loop's k++ */
            continue;
        }
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
            *eobrun = (1u << r) + bc_eob_bits(xm, &b, (unsigned)r) - 1;
            break;
        }
    }
    bc_close(&b, vw);
    *nz = z;
    *pos = b.p;
    return rc;
}

int isec__block_ac_first(isec_jpeg *c, struct vw *vw, uint64_t *nz, uint64_t *pos)
{
    if (c->d.eobrun) {
        c->d.eobrun--;
        return OK;
    }
    return ac_first(c, vw, c->xm, &c->d.eobrun, nz, pos);
}

int isec__spec_block_ac_first(const isec_jpeg *c, struct vw *vw, uint8_t *xm, uint32_t *eobrun,
                              uint64_t *nz, uint64_t *pos)
{
    return ac_first(c, vw, xm, eobrun, nz, pos);
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

/* Where the CPU has a fast PDEP (BMI2 on Intel, and on AMD from Zen 3 on; Zen 1 and 2 run it in
 * microcode, slower than select64), the (n+1)-th set bit of x is the lowest bit of
 * pdep(1 << n, x): a few cycles instead of select64's chain. Inline assembly, so the library
 * needs no -mbmi2; the choice is made once per context (isec__jpeg_fast_pdep). */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#include <stdatomic.h>
static int detect_fast_pdep(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(0, &a, &b, &c, &d) || a < 7) return 0;
    int intel = b == 0x756e6547 && d == 0x49656e69 && c == 0x6c65746e; /* GenuineIntel */
    int amd = b == 0x68747541 && d == 0x69746e65 && c == 0x444d4163;   /* AuthenticAMD */
    __get_cpuid(1, &a, &b, &c, &d);
    unsigned family = (a >> 8) & 15;
    if (family == 15) family += (a >> 20) & 255;
    __cpuid_count(7, 0, a, b, c, d);
    return (b >> 8 & 1) && (intel || (amd && family >= 0x19));
}
/* CPUID once per process: in a virtual machine each one is a trip to the hypervisor, and
 * every context (embedded JPEGs included) asks. */
int isec__jpeg_fast_pdep(void)
{
    static _Atomic int known; /* 0: not asked yet, 1: no, 2: yes */
    int k = atomic_load_explicit(&known, memory_order_relaxed);
    if (!k) {
        k = detect_fast_pdep() ? 2 : 1;
        atomic_store_explicit(&known, k, memory_order_relaxed);
    }
    return k == 2;
}
static inline unsigned select_pdep(uint64_t x, unsigned n)
{
    uint64_t r;
    __asm__("pdepq %2, %1, %0" : "=r"(r) : "r"((uint64_t)1 << n), "rm"(x));
    return r ? (unsigned)__builtin_ctzll(r) : 64;
}
#define HAVE_PDEP 1
#else
int isec__jpeg_fast_pdep(void)
{
    return 0;
}
#define HAVE_PDEP 0
#endif

/* The set bit of x with n set bits below it, or 64: by PDEP where it is fast. */
static inline unsigned select_nth(uint64_t x, unsigned n, int pdep)
{
#if HAVE_PDEP
    if (pdep) return select_pdep(x, n);
#else
    (void)pdep;
#endif
    return n ? select64(x, n) : x ? (unsigned)__builtin_ctzll(x) : 64;
}

int isec__block_ac_refine(isec_jpeg *c, struct vw *vw, uint64_t *nz, uint64_t *pos)
{
    const struct scan *s = &c->sc;
    const struct huff *ac = &c->ac[s->ta[0]];
    const int se = s->se; /* a local: vm[] stores may alias anything in memory */
    const uint64_t inband = band(s->ss, se);
    const int pdep = c->fast_pdep;
    uint64_t z = *nz;
    struct bc b;
    bc_open(&b, c->data, vw, *pos);
    int k = s->ss, rc = OK;
    if (c->d.eobrun == 0) {
        /* zero-history coefficients of the band at or after k: the places a new coefficient
         * (or the run of a ZRL) may take; kept in step with k instead of recomputed */
        uint64_t zeros = ~z & inband;
        while (k <= se) {
            bc_fill(&b);
            /* code and sign bit in one lookup: refinement symbols have size 0 or 1 */
            uint32_t e = ac->fast[b.w >> (64 - FAST_BITS)];
            int r, sz;
            unsigned tl;
            if (__builtin_expect((e & 0xF000) == 0x1000, 1)) {
                /* The common case, a new coefficient with a short code: code, sign and the
                 * correction bits up to its place in one take (vm: 0s, then 1s). */
                r = (int)(e >> 8) & 15;
                int target = (int)select_nth(zeros, (unsigned)r, pdep);
                unsigned ncorr = (unsigned)(target - k) - (unsigned)r, total = (e & 31) + ncorr;
                if (__builtin_expect(target < 64 && total < b.left, 1)) {
                    b.acc = (b.acc << total) | ((2ull << ncorr) - 1);
                    b.n += total;
                    b.p += total;
                    b.w <<= total;
                    b.left -= total;
                    zeros &= ~(uint64_t)1 << target;
                    z |= (uint64_t)1 << target;
                    k = target + 1;
                    continue;
                }
            }
            if (e) {
                tl = e & 31;
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
                tl = len + (sz != 0);
            }
            if (sz > 1) {
                rc = E_REFINE;
                break;
            }
            bc_take(&b, tl, (uint32_t)sz); /* code, then the sign of a new coefficient */
            if (!sz && r != 15) {
                bc_fill(&b);
                c->d.eobrun = (1u << r) + bc_eob_bits(c->xm, &b, (unsigned)r);
                break;
            }
            /* Pass already-nonzero coefficients (a correction bit each) up to the (r+1)-th
             * zero one, which a new coefficient takes (ZRL: past the 16th zero). */
            /* r = 0 is the common case and the branch predicts well on real cores */
            int target = (int)select_nth(zeros, (unsigned)r, pdep);
            if (target < 64) { /* [k, target) holds r zero-history coefficients, the rest not */
                bc_ones(&b, (unsigned)(target - k) - (unsigned)r);
                zeros &= ~(uint64_t)1 << target; /* bits up to target (0 when it is 63) */
            } else {
                bc_ones(&b, isec__popcount64(z & inband & (~(uint64_t)0 << k)));
                if (sz) {
                    rc = E_RUN;
                    break;
                }
                k = 64;
                break;
            }
            k = target + 1;
            if (sz) z |= (uint64_t)1 << target;
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

uint64_t isec__refine_eobrun(isec_jpeg *c, struct vw *vw, uint64_t n, uint64_t limit)
{
    const struct scan *s = &c->sc;
    const uint64_t inband = band(s->ss, s->se), *nz = c->comp[s->ci[0]].nz + c->d.mcu;
    struct bc b;
    uint64_t done;
    bc_open(&b, c->data, vw, c->d.pos);
    for (done = 0; done < n; done++) {
        unsigned cnt = isec__popcount64(nz[done] & inband);
        if (b.p + cnt > limit) break;
        if (cnt) {
            bc_fill(&b);
            bc_ones(&b, cnt);
        }
    }
    bc_close(&b, vw);
    c->d.pos = b.p;
    return done;
}

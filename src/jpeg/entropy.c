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
#include "bits.h"

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
    const struct huff *dc = &c->dc[s->td[b]], *ac = &c->ac[s->ta[b]];
    const uint32_t *multi = ac->multi; /* a base register: no address arithmetic on the chain */
    const uint8_t *mlen = ac->mlen;
    int rc = OK;
    /* The hot loop: a 64-bit window w of the stream held in registers (and kept from one block
     * to the next); one lookup usually gives several symbols with their value bits. The value
     * mask collects in acc and goes to vm[] only at a refill (at most 61 bits pending), which
     * keeps the per-lookup work to a shift and an OR. */
    uint8_t *vm = vw->vm;
    uint64_t acc = vw->acc, vbyte = vw->byte;
    unsigned n = vw->n;
#define VM_FLUSH()                                                                                 \
    do {                                                                                           \
        isec__store_be64(vm + vbyte, acc << (63 - n) << 1);                                        \
        vbyte += n >> 3;                                                                           \
        n &= 7;                                                                                    \
    } while (0)
    /* The window w holds the cnt stream bits from position p on, and p + cnt == 8 * (bp -
     * data) (its valid bits end at a byte boundary); bits of w past cnt are 0 or the stream's
     * own. A refill ORs in the 8 bytes at bp (loaded ahead, off the chain from one lookup to
     * the next) and claims the whole bytes that fit (cnt becomes 56-63). p itself is derived. */
    const uint8_t *bp;
    uint64_t w;
    unsigned cnt;
#define WIN_RESET(pos)                                                                             \
    do {                                                                                           \
        uint64_t p_ = (pos);                                                                       \
        w = isec__load_be64(data + (p_ >> 3)) << (p_ & 7);                                         \
        cnt = 56 - (unsigned)(p_ & 7);                                                             \
        bp = data + (p_ >> 3) + 7;                                                                 \
    } while (0)
#define WIN_POS() ((uint64_t)(bp - data) * 8 - cnt)
#define WIN_REFILL()                                                                               \
    do {                                                                                           \
        w |= isec__load_be64(bp) >> cnt;                                                           \
        bp += (63 - cnt) >> 3;                                                                     \
        cnt |= 56;                                                                                 \
    } while (0)
    if (vw->wpos == *pos) {
        w = vw->win;
        cnt = vw->wcnt;
        bp = vw->wbp;
    } else {
        WIN_RESET(*pos);
    }
    /* the DC difference: code and value bits in one lookup when they are short (a size of
     * 16 or more, which the table holds as run 1, goes the long way) */
    WIN_REFILL();
    uint32_t e = dc->fast[w >> (64 - FAST_BITS)];
    if (e && !(e & 0xF00)) {
        unsigned tl = e & 31;
        acc = (acc << tl) | (e >> 16);
        n += tl;
        cnt -= tl;
        w <<= tl;
    } else {
        uint64_t p = WIN_POS(), q = p;
        int sym = hdecode(dc, data, &q);
        if (sym < 0 || sym > 16) {
            rc = sym < 0 ? E_CODE : E_SIZE;
            WIN_RESET(q);
            goto out;
        }
        unsigned tl = (unsigned)(q - p) + (unsigned)sym;
        acc = (acc << tl) | ((1u << sym) - 1);
        n += tl;
        WIN_RESET(p + tl);
    }
    int k = 1;
    for (;;) {
        /* A refill every three lookups, unconditionally: after it at least 56 bits are real,
         * and a lookup takes at most 18 of them (LONG_MAX_BITS: a long code with its value
         * bits, see isec__huff_build_multi); the one-symbol path refills for itself. */
        VM_FLUSH();
        WIN_REFILL();
        int kn;
        uint64_t idx;
#define MULTI_STEP()                                                                               \
        idx = w >> (64 - SEQ_BITS);                                                                \
        e = multi[idx];                                                                            \
        kn = k + (int)((e >> MULTI_ADV) & 127);                                                    \
        if (kn >= 64) goto edge;                                                                   \
        {                                                                                          \
            unsigned tl = mlen[idx];                                                               \
            acc = (acc << tl) | (e >> 16);                                                         \
            n += tl;                                                                               \
            cnt -= tl;                                                                             \
            w <<= tl;                                                                              \
            k = kn;                                                                                \
            if (e & MULTI_EOB) goto out;                                                           \
        }
        MULTI_STEP()
        MULTI_STEP()
        MULTI_STEP()
#undef MULTI_STEP
        continue;
    edge:
        /* The entry reaches the block's end. If its advance ends exactly on the last
         * coefficient and it holds no EOB, each of its symbols advances (EOB is the only symbol
         * that does not), so only its last one reaches the end: the whole entry is the block's
         * tail. Otherwise (an EOB after the end belongs to the next block's bits) one symbol. */
        if (kn == 64 && !(e & MULTI_EOB)) {
            unsigned tl = e & 63;
            acc = (acc << tl) | (e >> 16);
            n += tl;
            cnt -= tl;
            w <<= tl;
            goto out;
        }
        /* One symbol: a long code, or one that may end the block or run past it. Taken from
         * the window after a refill (56 bits or more, a code and its value bits take 31 at
         * most), so the window stays in registers. */
        VM_FLUSH();
        WIN_REFILL();
        e = ac->fast[w >> (64 - FAST_BITS)];
        unsigned tl, r, sz;
        if (e) {
            tl = e & 31;
            r = (e >> 8) & 15;
            sz = (e >> 12) & 15;
            acc = (acc << tl) | ((1u << sz) - 1);
            n += tl;
            cnt -= tl;
            w <<= tl;
        } else {
            uint64_t p = WIN_POS(), q = p;
            int sym = hdecode(ac, data, &q);
            if (sym < 0) {
                rc = E_CODE;
                WIN_RESET(p);
                break;
            }
            sz = (unsigned)sym & 15;
            r = (unsigned)sym >> 4;
            tl = (unsigned)(q - p) + sz;
            acc = (acc << tl) | ((1u << sz) - 1);
            n += tl;
            WIN_RESET(p + tl);
        }
        /* The advance: r + 1 for a value, 16 for ZRL, past the end for EOB (decoders treat
         * any r < 15 with size 0 so); computed without branches, so that the symbols near a
         * block's end cost one hard-to-predict branch each, not three. */
        int kn1 = k + (sz ? (int)r + 1 : r == 15 ? 16 : 64);
        if (kn1 >= 64) {
            if (sz && kn1 > 64) rc = E_RUN; /* a value past the block's end */
            break;                          /* the end: a last value, ZRL reaching it, EOB */
        }
        k = kn1;
    }
out:
    VM_FLUSH();
#undef VM_FLUSH
    vw->acc = acc;
    vw->n = n;
    vw->byte = vbyte;
    *pos = vw->wpos = WIN_POS();
    vw->win = w;
    vw->wcnt = cnt;
    vw->wbp = bp;
#undef WIN_POS
#undef WIN_RESET
#undef WIN_REFILL
    return rc;
}

static inline int block_dc_first(isec_jpeg *c, struct vw *vw, int b, uint64_t *pos)
{
    return dc_value(&c->dc[c->sc.td[b]], c->data, vw, pos);
}

/* ---------------------------------------------------------------- the helper decode
 *
 * With a second thread (the pipeline's worker, pipeline.c), a decode round of a scan without a
 * restart interval is shared, if it is sequential, a DC first scan or an AC first scan: while the
 * walker decodes the first part of what it holds, the worker decodes the rest from a guess, that
 * an MCU begins at a byte boundary (spec_from), and the walker takes the worker's work over from
 * the first boundary they share (spec_take).
 *
 * Why a guess is enough: a Huffman-coded stream decoded from the wrong bit soon falls into step
 * with the real parse, and the walker's whole decoder state at an MCU boundary of such a scan is
 * the bit position (coefficient values, and so the DC predictions, are never reconstructed; in an
 * AC first scan, the position and an EOB run of 0, and the nonzero history only gains bits, so
 * the helper's are ORed in by block number once it is known). So when the walker, decoding from
 * the true start, stands at a boundary where the helper also stood at one, everything the helper
 * did from there on is what the walker would have done, bit for bit, and only what the helper did
 * before that point is thrown away. If they never meet (the guess never fell into step, or the
 * helper was late) the walker decodes everything itself: the output is the same either way, only
 * the time differs. AC refinement scans cannot be shared so: how many correction bits a block
 * holds depends on which block it is.
 *
 * The helper's chain of MCU boundaries is unbroken: a decode error (from a wrong guess, or damage
 * in the file) starts a new chain at the next byte, so a chain holds no error and damage is always
 * found and reported by the walker itself, at the same offset as with one thread.
 *
 * Measured on a 12 MP q92 baseline photo (docs/jpeg-cipher.md): the walker took the helper's
 * work in 147-150 of 154 rounds, on average less than 1 KB past the helper's start. */

/* Rounds with less than this ahead of the walker are not shared: a hand-over costs a wake-up. */
#define SPEC_MIN_BITS (16384u * 8u)
/* The helper's part of a round, in eighths: less than half, because the worker also enciphers
 * every chunk (in stream order, behind the walker) and the walk waits when it falls behind. */
#define SPEC_EIGHTHS 3u

void isec__spec_decode(isec_jpeg *c, struct isec__spec *sp)
{
    const struct scan *s = &c->sc;
    const int first = s->kind == SCAN_AC_FIRST;
    uint64_t pos = sp->from, limit = sp->limit;
    uint32_t n = 0, rel = 0, eobrun = 0;
    struct vw vw;
    if (first) /* xm[] is ORed into; what a job may reach must start clear */
        memset(sp->xm + (pos >> 3), 0, (size_t)((limit >> 3) - (pos >> 3)) + PAD);
    vw_open(&vw, sp->vm, pos);
    sp->starts[n] = (uint32_t)pos;
    sp->rel[n++] = 0;
    while (n < SPEC_CAP && !atomic_load_explicit(&sp->cancel, memory_order_relaxed)) {
        int rc = OK;
        uint64_t z = 0;
        if (first) {
            rc = isec__spec_block_ac_first(c, &vw, sp->xm, &eobrun, &z, &pos);
            if (rc == OK && pos > limit) rc = 1;
        } else {
            for (int b = 0; b < s->nblk; b++) {
                rc = s->kind == SCAN_SEQ ? block_seq(c, &vw, s->blkcomp[b], &pos)
                                         : block_dc_first(c, &vw, s->blkcomp[b], &pos);
                if (rc != OK) break;
                if (pos > limit) {
                    rc = 1;
                    break;
                }
            }
        }
        if (rc == 1) break; /* the data ends inside this MCU: the chain ends before it */
        if (rc != OK) {
            /* not a real boundary after all (or damage): a new chain at the next byte */
            pos = (pos + 8) & ~(uint64_t)7;
            if (pos >= limit) break;
            n = rel = eobrun = 0;
            vw_open(&vw, sp->vm, pos);
            sp->starts[n] = (uint32_t)pos;
            sp->rel[n++] = 0;
            continue;
        }
        rel += 1 + eobrun; /* an EOB run's blocks hold no bits: the next boundary is after it */
        eobrun = 0;
        sp->starts[n] = (uint32_t)pos;
        sp->rel[n] = rel;
        sp->z[n++] = z;
    }
    sp->n = n;
}

/* Copies bits [from, to) of src into dst, whose bits before `from` stay and whose bits from `to`
 * on are 0 (as those of the walker's vm[] past its position are). */
static void copy_bits(uint8_t *dst, const uint8_t *src, uint64_t from, uint64_t to)
{
    size_t b0 = (size_t)(from >> 3), b1 = (size_t)((to - 1) >> 3);
    uint8_t keep = (uint8_t)(0xFF00u >> (from & 7)); /* dst's bits before `from` in byte b0 */
    dst[b0] = (uint8_t)((dst[b0] & keep) | (src[b0] & ~keep));
    if (b1 > b0) memcpy(dst + b0 + 1, src + b0 + 1, b1 - b0);
    unsigned tail = (unsigned)(to & 7); /* bits of byte b1 that are before `to` (0: all 8) */
    if (tail) dst[b1] &= (uint8_t)(0xFF00u >> tail);
}

/* Whether this round goes to the helper: not while it sits out rounds after late jobs. */
static inline int spec_turn(struct isec__spec *sp)
{
    if (sp->skip) {
        sp->skip--;
        return 0;
    }
    return 1;
}

/* The walker stands at a boundary (c->d.pos, outside an EOB run) past the helper's starting
 * point: if the helper is done and also stood at this boundary, takes the helper's work from here
 * to the end of its chain (or of the scan) and returns 1. Clears *active when there is nothing
 * more to hope for this round (the job itself is collected by isec__entropy_decode). */
static int spec_take(isec_jpeg *c, struct vw *va, int *active)
{
    struct isec__spec *sp = c->spec;
    if (!atomic_load_explicit(&sp->done, memory_order_acquire)) {
        if (!sp->wait) return 0; /* not yet: the walker goes on meanwhile */
        isec__spec_wait(c);
    }
    uint64_t pos = c->d.pos;
    uint32_t j = sp->next, n = sp->n;
    while (j < n && sp->starts[j] < pos) j++;
    sp->next = j;
    if (j + 1 >= n) { /* past the chain, or at its last boundary: nothing to take */
        *active = 0;
        return 0;
    }
    if (sp->starts[j] != pos) return 0;
    *active = 0;
    /* the last boundary within the scan */
    uint64_t room = c->sc.total - c->d.mcu;
    uint32_t k = n - 1;
    if (sp->rel[k] - sp->rel[j] > room) {
        uint32_t lo = j, hi = k; /* rel[lo] - rel[j] <= room < rel[hi] - rel[j] */
        while (hi - lo > 1) {
            uint32_t mid = lo + (hi - lo) / 2;
            if (sp->rel[mid] - sp->rel[j] <= room) lo = mid;
            else hi = mid;
        }
        k = lo;
    }
    if (k == j) return 0;
    uint64_t q = sp->starts[k], take = sp->rel[k] - sp->rel[j];
    copy_bits(c->vm, sp->vm, pos, q);
    if (c->sc.kind == SCAN_AC_FIRST) {
        copy_bits(c->xm, sp->xm, pos, q);
        uint64_t *nz = c->comp[c->sc.ci[0]].nz + c->d.mcu;
        for (uint32_t i = j + 1; i <= k; i++) nz[sp->rel[i - 1] - sp->rel[j]] |= sp->z[i];
    }
    c->info.helper_mcus += take;
    sp->took = 1;
    c->d.pos = q;
    c->d.mcu += take;
    c->d.restarted = 0;
    c->committed = q;
    vw_open(va, c->vm, q);
    return 1;
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
        rc = s->kind == SCAN_AC_FIRST ? isec__block_ac_first(c, vw, nz, &pos)
                                       : isec__block_ac_refine(c, vw, nz, &pos);
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

/* Bits one block of a progressive AC scan takes at most: 63 coefficients of a 16-bit code and
 * 15 value bits (or, refining, a code, a sign and a correction bit), then an EOBn code with
 * 14 extension bits. */
#define AC_BLOCK_MAX (63u * 31u + 30u)

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

static int decode_run(isec_jpeg *c, struct vw *va)
{
    const struct scan *s = &c->sc;
    uint64_t avail = (uint64_t)c->datalen * 8;
    /* a scan without restarts whose decoder state between blocks is the bit position (and
     * the EOB run), with enough ahead: the helper takes the last part */
    int spec = 0;
    uint64_t spec_from = 0;
    if (c->spec && (s->kind == SCAN_SEQ || s->kind == SCAN_DC_FIRST || s->kind == SCAN_AC_FIRST) &&
        !s->ri && c->d.mcu < s->total && avail > c->d.pos + SPEC_MIN_BITS && spec_turn(c->spec)) {
        spec_from = (c->d.pos + (avail - c->d.pos) / 8 * (8 - SPEC_EIGHTHS)) & ~(uint64_t)7;
        isec__spec_post(c, spec_from, avail);
        spec = 1;
    }
    while (c->d.mcu < s->total) {
        if (spec && c->d.pos >= spec_from && !c->d.eobrun && spec_take(c, va, &spec)) continue;
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
            if (s->kind == SCAN_AC_REFINE) done = isec__refine_eobrun(c, va, n, limit);
            if (done) {
                c->d.eobrun -= (uint32_t)done;
                c->d.mcu += done;
                c->d.restarted = 0;
                c->committed = c->d.pos;
                continue;
            }
        }
        if ((s->kind == SCAN_AC_FIRST || s->kind == SCAN_AC_REFINE) && !c->d.eobrun) {
            /* Blocks of an AC scan while the data surely holds them (no block takes more than
             * AC_BLOCK_MAX bits), up to an EOB run or the next restart: no state to save for a
             * retry, and an error is final at once (it lies 32 bits or more before the end). */
            uint64_t end = s->total, mcu = c->d.mcu, pos = c->d.pos, *nz = c->comp[s->ci[0]].nz;
            if (s->ri && end - mcu > s->ri - mcu % s->ri) end = mcu + (s->ri - mcu % s->ri);
            int first = s->kind == SCAN_AC_FIRST, rc = OK;
            while (mcu < end && pos + AC_BLOCK_MAX + 64 <= limit) {
                rc = first ? isec__block_ac_first(c, va, nz + mcu, &pos)
                           : isec__block_ac_refine(c, va, nz + mcu, &pos);
                if (rc != OK) break;
                mcu++;
                if (c->d.eobrun) break;
                if (spec && pos >= spec_from) break; /* the helper's work may start here */
            }
            if (rc != OK) {
                c->d.pos = pos;
                return isec__jpeg_fail(c, ISEC_EFORMAT, isec__data_offset(c, pos >> 3),
                                       "%s in MCU %llu of scan %zu", block_error_text(rc),
                                       (unsigned long long)mcu, c->info.nscans);
            }
            if (mcu != c->d.mcu) {
                c->d.mcu = mcu;
                c->d.pos = pos;
                c->d.restarted = 0;
                c->committed = pos;
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
            /* An error this close to the interval's end may have been decided by bits past it
             * (the next interval's data, or zeros if that has not arrived yet): the MCU does not
             * fit in its interval, whatever lies beyond. So the verdict never depends on how
             * the input was split into update() calls (fuzz_jpeg found one that did). */
            if (rc < 0 && errpos + 32 >= limit) rc = 1;
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

int isec__entropy_decode(isec_jpeg *c)
{
    struct vw va;
    vw_open(&va, c->vm, c->d.pos);
    int rc = decode_run(c, &va);
    isec__spec_collect(c); /* the helper reads data[], which the caller changes next */
    if (rc == 0) clear_marks_from(c, c->d.pos); /* what a cut-short MCU marked */
    return rc;
}

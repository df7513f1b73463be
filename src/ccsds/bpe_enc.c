/* Bit-plane encoder for one segment (CCSDS 122.0-B-2 section 4): header, DC coding, AC bit
 * depths, then bit planes MSB to LSB in stages 0-4, cut by SegByteLimit or the quality stop.
 *
 * Every word of stages 1-3 depends only on the magnitudes of the block at and above the current
 * bit plane, so the coder keeps no per-plane history beyond one 64-bit mask per block: at plane
 * b, P (bit b of each magnitude) and SEL (coefficients with a bit above b: "selected before")
 * give each set's type, transition and sign bits by masking, and 4-coefficient words come from
 * small tables. Stages are written to separate buffers per plane (stage 1 of every block, then
 * stage 2, ...) and joined at the end of the plane. */
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "bpe.h"
#include "header.h"

static unsigned bits_of(uint32_t v)
{
    return v ? 32u - (unsigned)__builtin_clz(v) : 0u;
}

/* Bits per block per plane, stage by stage, worst case (code words double at most). */
static const unsigned stage_bits[5] = {1, 9, 43, 174, 63};

size_t isec__seg_bound(uint32_t S, unsigned bdac, int heuristic_dc, int heuristic_ac)
{
    uint64_t per_block = (heuristic_dc ? 380u : 11u) + 32u + (heuristic_ac ? 40u : 6u) + 1u;
    uint64_t plane = 0;
    for (int i = 0; i < 5; i++)
        plane += stage_bits[i];
    uint64_t bits = 8u * 20u + S * per_block + (S / 16u + 1u) * 8u +
                    (uint64_t)bdac * (S * plane + (S / 16u + 1u) * 5u);
    return (size_t)(bits / 8u + 16u);
}

unsigned isec__seg_bdac(const int32_t *blocks, uint32_t S)
{
    uint32_t m = 0;
    for (size_t b = 0; b < S; b++) {
        const int32_t *x = blocks + 64 * b;
        for (unsigned k = 0; k < 64; k++) { /* a fixed-length loop with the DC masked: vectorizes */
            uint32_t a = x[k] < 0 ? 0u - (uint32_t)x[k] : (uint32_t)x[k];
            m |= k ? a : 0u; /* bit length of the OR equals that of the max */
        }
    }
    return bits_of(m);
}

void isec__enc_scratch_free(isec__enc_scratch *s)
{
    free(s->mag);
    free(s->neg);
    free(s->sel);
    free(s->bd);
    free(s->tmp);
    for (int i = 0; i < 5; i++)
        free(s->stbuf[i]);
    memset(s, 0, sizeof *s);
}

int isec__enc_scratch_init(isec__enc_scratch *s, uint32_t blocks)
{
    memset(s, 0, sizeof *s);
    s->cap_blocks = blocks;
    s->mag = malloc(sizeof *s->mag * 64 * (size_t)blocks);
    s->neg = malloc(sizeof *s->neg * (size_t)blocks);
    s->sel = malloc(sizeof *s->sel * (size_t)blocks);
    s->bd = malloc(blocks);
    s->tmp = malloc(sizeof *s->tmp * (size_t)blocks);
    int ok = s->mag && s->neg && s->sel && s->bd && s->tmp;
    for (int i = 0; i < 5 && ok; i++) {
        s->stcap[i] = (size_t)blocks * stage_bits[i] / 8 + (size_t)blocks / 16 * 1 + 64;
        s->stbuf[i] = malloc(s->stcap[i]);
        ok = s->stbuf[i] != NULL;
    }
    if (!ok) {
        isec__enc_scratch_free(s);
        return ISEC_ENOMEM;
    }
    return 0;
}

/* One word of stages 1-3. */
typedef struct {
    uint8_t len, val, kind, nsig, sig;
} word;

/* Per-word tables built from Tables 4-12 to 4-17 for each coding call (a few hundred entries):
 * cost_of[kind][len][word] holds the codeword length under each option in 16-bit lanes;
 * code_of[kind][len][opt][word] the codeword, length << 8 | bits. xlut[x << 4 | y] extracts the
 * bits of nibble y at the positions set in nibble x, position 0 first (most significant):
 * count | bits << 3. It gives a set's word (x: members not yet selected, y: their bits at this
 * plane) and its sign bits (x: members that became significant, y: negative ones). */
typedef struct {
    uint64_t cost_of[4][5][16];
    uint16_t code_of[4][5][4][16];
    uint8_t xlut[256];
} wtab;

/* Words of a gaggle, listed per stage (1-3), and the cost of each code option so far: for word
 * length 2..4, four 16-bit lanes (one per option) in a uint64. */
typedef struct {
    word w[3][16 * 16]; /* per block at most 1, 5 and 16 words in stages 1, 2, 3 */
    unsigned n[3];
    uint64_t cost[5];
    wtab t;
} gaggle;

static void tables_init(wtab *t)
{
    memset(t, 0, sizeof *t);
    for (unsigned k = 0; k < 4; k++)
        for (unsigned len = 2; len <= 4; len++)
            for (unsigned wd = 0; wd < (1u << len); wd++) {
                unsigned sym = isec__sym_of[k][len][wd];
                if (sym == 0xff) continue;
                uint64_t c = 0;
                for (unsigned o = 0; o < len; o++) {
                    c |= (uint64_t)(isec__vlc[len][o][sym] >> 8) << (16 * o);
                    t->code_of[k][len][o][wd] = isec__vlc[len][o][sym];
                }
                t->cost_of[k][len][wd] = c;
            }
    for (unsigned x = 0; x < 16; x++)
        for (unsigned y = 0; y < 16; y++) {
            unsigned n = 0, v = 0;
            for (unsigned j = 0; j < 4; j++)
                if (x >> j & 1u) {
                    v = v << 1 | (y >> j & 1u);
                    n++;
                }
            t->xlut[x << 4 | y] = (uint8_t)(n | v << 3);
        }
}

static inline void add_word(gaggle *g, unsigned stage, unsigned kind, unsigned len, unsigned val,
                            unsigned nsig, unsigned sig)
{
    if (!len) return;
    word *w = &g->w[stage - 1][g->n[stage - 1]++];
    w->len = (uint8_t)len;
    w->val = (uint8_t)val;
    w->kind = (uint8_t)kind;
    w->nsig = (uint8_t)nsig;
    w->sig = (uint8_t)sig;
    g->cost[len] += g->t.cost_of[kind][len][val]; /* len 1: the table row is zero */
}

/* typesb and signsb of a set of up to four coefficients (nibble masks: act not yet selected,
 * bits of the plane, negative). */
static inline void set_word(gaggle *g, unsigned stage, unsigned kind, unsigned act, unsigned bits,
                            unsigned neg)
{
    bits &= act;
    unsigned w = g->t.xlut[act << 4 | bits], sg = g->t.xlut[bits << 4 | (neg & bits)];
    add_word(g, stage, kind, w & 7u, w >> 3, sg & 7u, sg >> 3);
}

/* Bit b of each of the 64 magnitudes, as a mask. */
static inline uint64_t plane_bits(const uint32_t *mag, unsigned b)
{
#if defined(__SSE2__)
    const __m128i sh = _mm_cvtsi32_si128((int)(31u - b));
    uint64_t r = 0;
    for (int i = 0; i < 4; i++) {
        const __m128i *p = (const __m128i *)(const void *)(mag + 16 * i);
        __m128i a0 = _mm_sll_epi32(_mm_loadu_si128(p), sh);
        __m128i a1 = _mm_sll_epi32(_mm_loadu_si128(p + 1), sh);
        __m128i a2 = _mm_sll_epi32(_mm_loadu_si128(p + 2), sh);
        __m128i a3 = _mm_sll_epi32(_mm_loadu_si128(p + 3), sh);
        __m128i by = _mm_packs_epi16(_mm_packs_epi32(a0, a1), _mm_packs_epi32(a2, a3));
        r |= (uint64_t)(uint16_t)_mm_movemask_epi8(by) << (16 * i);
    }
    return r;
#else
    uint64_t r = 0;
    for (unsigned k = 0; k < 64; k++)
        r |= (uint64_t)(mag[k] >> b & 1u) << k;
    return r;
#endif
}

/* 4-bit mask of the nonzero nibbles of a 16-bit value. */
static inline unsigned nz4(uint32_t x)
{
    x |= x >> 1;
    x |= x >> 2;
    return (((x & 0x1111u) * 0x1248u) >> 12) & 0xfu;
}

#define DESC_MASK (~0xfull)
#define CM(i) (0xfull << (4 + 4 * (i)))
#define GM(i) (0xffffull << (16 + 16 * (i)))
#define DM(i) (CM(i) | GM(i))

/* What a plane needs besides the block: which subbands are coded at this plane. */
typedef struct {
    unsigned b;
    uint64_t valid;   /* positions whose subband has BitShift <= b */
    unsigned pmask;   /* parents coded (nibble bits 1-3) */
    int cv[3], gv[3]; /* children, grandchildren of family i coded */
    int allneg;       /* no descendant subband coded */
} plane_ctx;

/* Words of stages 1-3 of one block at plane b: P has bit b of every AC magnitude, SEL the AC
 * coefficients selected before b (a bit above b), neg the negative ones. */
static void block_words(gaggle *g, uint64_t P, uint64_t SEL, uint64_t neg, const plane_ctx *pc)
{
    const uint64_t S = SEL | P; /* significant at or above b */
    /* Stage 1: parents */
    {
        unsigned act = (unsigned)~SEL & pc->pmask;
        set_word(g, 1, WK_PLAIN, act, (unsigned)P & 0xfu, (unsigned)neg & 0xfu);
    }
    /* Stage 2 */
    if (pc->allneg) return;
    if (!(SEL & DESC_MASK)) {
        unsigned tb = (P & DESC_MASK) != 0;
        add_word(g, 2, WK_PLAIN, 1, tb, 0, 0);
        if (!tb) return;
    }
    {
        unsigned len = 0, val = 0;
        for (int i = 0; i < 3; i++) {
            if ((SEL & DM(i)) || (!pc->cv[i] && !pc->gv[i])) continue;
            val = (val << 1) | ((P & DM(i)) != 0);
            len++;
        }
        add_word(g, 2, WK_TRAND, len, val, 0, 0);
    }
    for (int i = 0; i < 3; i++) {
        if (!(S & DM(i)) || !pc->cv[i]) continue;
        unsigned o = 4u + 4u * (unsigned)i;
        set_word(g, 2, WK_TYPECI, (unsigned)(~SEL >> o) & 0xfu, (unsigned)(P >> o) & 0xfu,
                 (unsigned)(neg >> o) & 0xfu);
    }
    /* Stage 3 */
    {
        unsigned len = 0, val = 0;
        for (int i = 0; i < 3; i++) {
            if (!(S & DM(i)) || !pc->gv[i] || (SEL & GM(i))) continue;
            val = (val << 1) | ((P & GM(i)) != 0);
            len++;
        }
        add_word(g, 3, WK_PLAIN, len, val, 0, 0);
    }
    unsigned sn[3], yn[3];
    int gact[3];
    for (int i = 0; i < 3; i++) {
        gact[i] = (S & GM(i)) && pc->gv[i];
        if (!gact[i]) continue;
        unsigned o = 16u + 16u * (unsigned)i;
        sn[i] = nz4((uint32_t)(S >> o) & 0xffffu);
        yn[i] = nz4((uint32_t)(SEL >> o) & 0xffffu);
        unsigned act = ~yn[i] & 0xfu, w = g->t.xlut[act << 4 | (sn[i] & act)];
        add_word(g, 3, WK_HIJ, w & 7u, w >> 3, 0, 0);
    }
    for (int i = 0; i < 3; i++) {
        if (!gact[i]) continue;
        for (unsigned j = 0; j < 4; j++) {
            if (!(sn[i] >> j & 1u)) continue;
            unsigned o = 16u + 16u * (unsigned)i + 4u * j;
            set_word(g, 3, WK_HIJ, (unsigned)(~SEL >> o) & 0xfu, (unsigned)(P >> o) & 0xfu,
                     (unsigned)(neg >> o) & 0xfu);
        }
    }
}

/* Stage 4 of one block (4.5.4): bit b (in P) of every coefficient in t (selected at an earlier
 * plane, subband coded at b), in block order (parents, children, grandchildren; Table 4-1 order
 * within). */
static inline void refine(isec__bw *w, uint64_t P, uint64_t t)
{
    uint64_t bits = 0;
    unsigned n = 0;
    for (; t; t &= t - 1) {
        bits = (bits << 1) | ((P >> __builtin_ctzll(t)) & 1u);
        n++;
    }
    if (n > 32) {
        isec__bw_put(w, (uint32_t)(bits >> 32), n - 32);
        n = 32;
    }
    isec__bw_put(w, (uint32_t)bits, n);
}

/* Chooses code options for the gaggle's words (4.5.3.3.4-5) and writes stages 1-3. */
static void gaggle_flush(gaggle *g, isec__bw *st)
{
    unsigned opt[5] = {0, 0, 0, 0, 0};
    for (unsigned len = 2; len <= 4; len++) {
        unsigned unc = len - 1, best = 0;
        uint64_t c = g->cost[len];
        for (unsigned o = 1; o < unc; o++)
            if (((c >> (16 * o)) & 0xffff) < ((c >> (16 * best)) & 0xffff))
                best = o; /* smallest wins ties */
        opt[len] = ((c >> (16 * unc)) & 0xffff) <= ((c >> (16 * best)) & 0xffff)
                       ? unc
                       : best; /* uncoded wins ties */
    }
    unsigned said = 0;
    for (unsigned stage = 0; stage < 3; stage++) {
        isec__bw *out = &st[stage + 1];
        for (unsigned i = 0; i < g->n[stage]; i++) {
            const word *w = &g->w[stage][i];
            if (w->len == 1) {
                isec__bw_put(out, (uint32_t)w->val << w->nsig | w->sig, 1u + w->nsig);
                continue;
            }
            if (!(said & (1u << w->len))) {
                said |= 1u << w->len;
                isec__bw_put(out, isec__opt_id[w->len][opt[w->len]], w->len == 2 ? 1 : 2);
            }
            uint16_t c = g->t.code_of[w->kind][w->len][opt[w->len]][w->val];
            isec__bw_put(out, (uint32_t)(c & 0xffu) << w->nsig | w->sig, (c >> 8) + w->nsig);
        }
        g->n[stage] = 0;
    }
    memset(g->cost, 0, sizeof g->cost);
}

static size_t ceil8(uint64_t bits)
{
    return (size_t)((bits + 7) / 8);
}

int isec__bpe_encode(const isec__seg_in *in, isec__enc_scratch *scr, uint8_t *out, size_t cap,
                     size_t *len, isec_ccsds_segment *info)
{
    const uint32_t S = in->S;
    const isec__shifts *sh = &in->sh;
    if (S > scr->cap_blocks || S == 0) return ISEC_EINVAL;
    isec_ccsds_header h = in->hdr;

    /* Magnitudes, signs, block depths, DC depth (equations 12-14). */
    uint32_t acor = 0;
    unsigned bddc = 1;
    for (uint32_t m = 0; m < S; m++) {
        const int32_t *c = in->blocks + (size_t)m * 64;
        uint32_t *mag = scr->mag + (size_t)m * 64, all = 0;
        for (int k = 0; k < 64; k++) {
            uint32_t a = c[k] < 0 ? 0u - (uint32_t)c[k] : (uint32_t)c[k];
            mag[k] = a;
            all |= k ? a : 0u;
        }
        scr->neg[m] = plane_bits((const uint32_t *)c, 31);
        scr->sel[m] = 0;
        scr->bd[m] = (uint8_t)bits_of(all); /* the bit length of the OR is that of the max */
        acor |= all;
        int32_t dc = c[0];
        unsigned need = 1 + bits_of(dc < 0 ? ~(uint32_t)dc : (uint32_t)dc);
        if (need > bddc) bddc = need;
    }
    unsigned bdac = bits_of(acor);
    h.bitdepth_dc = (uint8_t)bddc;
    h.bitdepth_ac = (uint8_t)bdac;
    unsigned q = isec__dc_q(bddc, bdac, sh->dc);
    unsigned N = bddc > q + 1 ? bddc - q : 1;

    uint64_t limit_bits = (uint64_t)h.seg_byte_limit * 8u;
    isec__bw w;
    isec__bw_init(&w, out, cap);
    isec__hdr_write(&w, &h);
    if (limit_bits && isec__bw_bits(&w) > limit_bits)
        return ISEC_EINVAL; /* limit below the header */

    /* 4.3.2: quantized DC values c' = floor(c / 2^q) as N-bit two's complement */
    if (N == 1) {
        for (uint32_t m = 0; m < S; m++)
            isec__bw_put(&w, (uint32_t)(in->blocks[(size_t)m * 64] >> q) & 1u, 1);
    } else {
        int32_t xmin = -(1 << (N - 1)), xmax = (1 << (N - 1)) - 1, prev = 0;
        for (uint32_t m = 0; m < S; m++) {
            int32_t cq = in->blocks[(size_t)m * 64] >> q;
            scr->tmp[m] =
                m ? isec__map_delta(prev, cq, xmin, xmax) : (uint32_t)cq & ((1u << N) - 1u);
            prev = cq;
        }
        isec__gaggles_encode(&w, scr->tmp, S, N, in->heuristic_dc);
    }
    /* 4.3.3: additional DC bit planes */
    unsigned dc_low = bdac > sh->dc ? bdac : sh->dc;
    for (unsigned p = q; p-- > dc_low;)
        for (uint32_t m = 0; m < S; m++)
            isec__bw_put(&w, (uint32_t)(in->blocks[(size_t)m * 64] >> p) & 1u, 1);

    memset(info, 0, sizeof *info);
    info->hdr = h;
    info->q = (uint8_t)q;
    int stopped = 0; /* 1 limit, 2 quality */
    if (h.dc_stop || (bdac && h.bitplane_stop >= bdac)) stopped = 2;

    /* 4.4: AC bit depths */
    if (!stopped && bdac == 1) {
        for (uint32_t m = 0; m < S; m++)
            isec__bw_put(&w, scr->bd[m], 1);
    } else if (!stopped && bdac > 1) {
        unsigned Nd = bits_of(bdac);
        int32_t xmax = (1 << Nd) - 1;
        for (uint32_t m = 0; m < S; m++)
            scr->tmp[m] = m ? isec__map_delta(scr->bd[m - 1], scr->bd[m], 0, xmax) : scr->bd[0];
        isec__gaggles_encode(&w, scr->tmp, S, Nd, in->heuristic_ac);
    }
    info->dc_end = ceil8(isec__bw_bits(&w));
    if (limit_bits && isec__bw_bits(&w) >= limit_bits) stopped = 1;

    /* 4.5: bit planes */
    gaggle *g = calloc(1, sizeof *g);
    if (!g) return ISEC_ENOMEM;
    tables_init(&g->t);
    for (unsigned b = bdac; b-- > 0 && !stopped;) {
        for (int s = 0; s < 5; s++)
            isec__bw_init(&scr->st[s], scr->stbuf[s], scr->stcap[s]);
        plane_ctx pc;
        pc.b = b;
        pc.valid = isec__valid_mask(sh, b);
        pc.pmask = (unsigned)pc.valid & 0xeu;
        pc.allneg = 1;
        for (int i = 0; i < 3; i++) {
            pc.cv[i] = b >= sh->c[i];
            pc.gv[i] = b >= sh->g[i];
            if (pc.cv[i] || pc.gv[i]) pc.allneg = 0;
        }
        if (b < q && b >= sh->dc)
            for (uint32_t m = 0; m < S; m++)
                isec__bw_put(&scr->st[0], (uint32_t)(in->blocks[(size_t)m * 64] >> b) & 1u, 1);
        for (uint32_t g0 = 0; g0 < S; g0 += 16) {
            uint32_t g1 = S - g0 < 16 ? S : g0 + 16;
            for (uint32_t m = g0; m < g1; m++)
                if (scr->bd[m] > b) {
                    uint64_t P = plane_bits(scr->mag + (size_t)m * 64, b) & ~1ull,
                             sel = scr->sel[m];
                    block_words(g, P, sel, scr->neg[m], &pc);
                    refine(&scr->st[4], P, sel & pc.valid);
                    scr->sel[m] = sel | P;
                }
            gaggle_flush(g, scr->st);
        }
        unsigned last_stage = 4;
        if (h.bitplane_stop == b) {
            last_stage = h.stage_stop + 1u;
            if (b > 0 || last_stage < 4) stopped = 2; /* 0/stage 4 is simply the end */
        }
        for (unsigned s = 0; s <= last_stage; s++) {
            isec__bw_append(&w, &scr->st[s]);
            if (limit_bits && isec__bw_bits(&w) >= limit_bits) {
                stopped = 1;
                break;
            }
        }
        info->plane_end[info->planes++] = ceil8(isec__bw_bits(&w));
    }
    free(g);

    /* end of segment: the limit cuts; otherwise pad to a word, and fill if asked */
    uint64_t bits = isec__bw_bits(&w);
    isec__bw_align(&w, h.word_bytes);
    size_t n = w.pos;
    if (limit_bits && bits >= limit_bits) {
        n = h.seg_byte_limit;
        stopped = 1;
    } else if (h.seg_byte_limit && h.use_fill) {
        if (h.seg_byte_limit > cap) return ISEC_EBUFFER;
        memset(out + n, 0, h.seg_byte_limit - n);
        n = h.seg_byte_limit;
    }
    if (w.overflow) return ISEC_EBUFFER;
    info->stopped_by = (uint8_t)(stopped == 1 ? 1 : stopped == 2 ? 2 : 0);
    if (info->dc_end > n) info->dc_end = n;
    for (unsigned i = 0; i < info->planes; i++)
        if (info->plane_end[i] > n) info->plane_end[i] = n;
    info->length = n;
    *len = n;
    return 0;
}

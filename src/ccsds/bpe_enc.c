/* Bit-plane encoder for one segment (CCSDS 122.0-B-2 section 4): header, DC coding, AC bit
 * depths, then bit planes MSB to LSB in stages 0-4, cut by SegByteLimit or the quality stop.
 *
 * Every word of stages 1-3 depends only on the magnitudes of the block at and above the current
 * bit plane, so the coder keeps no per-plane history: "selected before plane b" is |x| >> (b+1)
 * != 0, and the transition words test per-set maxima. Stages are written to separate buffers per
 * plane (stage 1 of every block, then stage 2, ...) and joined at the end of the plane. */
#include <stdlib.h>
#include <string.h>

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
    for (size_t i = 0; i < (size_t)S * 64; i++) {
        if ((i & 63) == 0) continue;
        int32_t v = blocks[i];
        uint32_t a = v < 0 ? 0u - (uint32_t)v : (uint32_t)v;
        m |= a; /* bit length of the OR equals that of the max */
    }
    return bits_of(m);
}

void isec__enc_scratch_free(isec__enc_scratch *s)
{
    free(s->mag);
    free(s->maxs);
    free(s->bd);
    free(s->tmp);
    free(s->topm);
    free(s->sel);
    for (int i = 0; i < 5; i++)
        free(s->stbuf[i]);
    memset(s, 0, sizeof *s);
}

int isec__enc_scratch_init(isec__enc_scratch *s, uint32_t blocks)
{
    memset(s, 0, sizeof *s);
    s->cap_blocks = blocks;
    s->mag = malloc(sizeof *s->mag * 64 * (size_t)blocks);
    s->maxs = malloc(sizeof *s->maxs * 19 * (size_t)blocks);
    s->bd = malloc(blocks);
    s->tmp = malloc(sizeof *s->tmp * (size_t)blocks);
    s->topm = malloc(sizeof *s->topm * 33 * (size_t)blocks);
    s->sel = malloc(sizeof *s->sel * (size_t)blocks);
    int ok = s->mag && s->maxs && s->bd && s->tmp && s->topm && s->sel;
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
 * code_of[kind][len][opt][word] the codeword, length << 8 | bits. */
typedef struct {
    uint64_t cost_of[4][5][16];
    uint16_t code_of[4][5][4][16];
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

/* Words for coefficient set xs (indices into the block) of one subband shift: typesb and signsb;
 * refinement bits of type-2 members go to stage 4. */
static inline void types_word(gaggle *g, unsigned stage, unsigned kind, const uint32_t *mag,
                              const int32_t *coef, const uint8_t *xs, unsigned nx, unsigned b)
{
    unsigned len = 0, val = 0, nsig = 0, sig = 0;
    for (unsigned k = 0; k < nx; k++) { /* branch-free: the bits are data, not predictable */
        uint32_t m = mag[xs[k]];
        unsigned act = (m >> (b + 1)) == 0, bit = (m >> b) & act;
        val = (val << act) | bit;
        len += act;
        sig = (sig << bit) | (bit & (coef[xs[k]] < 0));
        nsig += bit;
    }
    add_word(g, stage, kind, len, val, nsig, sig);
}

static const uint8_t idx_c[3][4] = {{4, 5, 6, 7}, {8, 9, 10, 11}, {12, 13, 14, 15}};

/* Words of stages 1-3 of one block at plane b (the block's AC depth exceeds b). */
static void block_words(gaggle *g, const int32_t *coef, const uint32_t *mag, const uint32_t *mx,
                        const isec__shifts *sh, unsigned b)
{
    /* Stage 1: parents */
    {
        unsigned len = 0, val = 0, nsig = 0, sig = 0;
        for (int i = 0; i < 3; i++) {
            if (b < sh->p[i]) continue;
            uint32_t m = mag[BLK_P(i)];
            if (m >> (b + 1)) continue;
            unsigned bit = (m >> b) & 1u;
            val = (val << 1) | bit;
            len++;
            if (bit) {
                sig = (sig << 1) | (coef[BLK_P(i)] < 0);
                nsig++;
            }
        }
        add_word(g, 1, WK_PLAIN, len, val, nsig, sig);
    }
    /* Stage 2 */
    uint32_t mB = mx[18];
    int all_neg = 1; /* tmax(B) = -1: every descendant is below its subband's shift */
    for (int i = 0; i < 3; i++)
        if (b >= sh->c[i] || b >= sh->g[i]) all_neg = 0;
    if (all_neg) return;
    if (!(mB >> (b + 1))) {
        unsigned tb = (mB >> b) & 1u;
        add_word(g, 2, WK_PLAIN, 1, tb, 0, 0);
        if (!tb) return;
    }
    uint32_t mD[3];
    {
        unsigned len = 0, val = 0;
        for (int i = 0; i < 3; i++) {
            mD[i] = mx[i] > mx[3 + i] ? mx[i] : mx[3 + i];
            if (mD[i] >> (b + 1)) continue;
            if (b < sh->c[i] && b < sh->g[i]) continue;
            val = (val << 1) | ((mD[i] >> b) & 1u);
            len++;
        }
        add_word(g, 2, WK_TRAND, len, val, 0, 0);
    }
    for (int i = 0; i < 3; i++) {
        if (!(mD[i] >> b) || b < sh->c[i]) continue;
        types_word(g, 2, WK_TYPECI, mag, coef, idx_c[i], 4, b);
    }
    /* Stage 3 */
    {
        unsigned len = 0, val = 0;
        for (int i = 0; i < 3; i++) {
            if (!(mD[i] >> b) || b < sh->g[i]) continue;
            if (mx[3 + i] >> (b + 1)) continue;
            val = (val << 1) | ((mx[3 + i] >> b) & 1u);
            len++;
        }
        add_word(g, 3, WK_PLAIN, len, val, 0, 0);
    }
    int gact[3];
    for (int i = 0; i < 3; i++) {
        gact[i] = (mx[3 + i] >> b) && b >= sh->g[i];
        if (!gact[i]) continue;
        unsigned len = 0, val = 0;
        for (int j = 0; j < 4; j++) {
            uint32_t m = mx[6 + 4 * i + j];
            if (m >> (b + 1)) continue;
            val = (val << 1) | ((m >> b) & 1u);
            len++;
        }
        add_word(g, 3, WK_HIJ, len, val, 0, 0);
    }
    for (int i = 0; i < 3; i++) {
        if (!gact[i]) continue;
        for (int j = 0; j < 4; j++) {
            if (!(mx[6 + 4 * i + j] >> b)) continue;
            uint8_t xs[4];
            for (int k = 0; k < 4; k++)
                xs[k] = (uint8_t)(BLK_H(i, j) + k);
            types_word(g, 3, WK_HIJ, mag, coef, xs, 4, b);
        }
    }
}

/* Stage 4 of one block (4.5.4): the bit b of every coefficient selected at an earlier plane, in
 * block order (parents, children, grandchildren; Table 4-1 order within), except those below
 * their subband's shift (valid: the coefficients with shift <= b). */
static void refine(isec__bw *w, const uint32_t *mag, unsigned b, uint64_t t)
{
    uint64_t bits = 0;
    unsigned n = 0;
    for (; t; t &= t - 1) {
        bits = (bits << 1) | ((mag[__builtin_ctzll(t)] >> b) & 1u);
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

    /* Magnitudes, per-set maxima, block depths, DC depth (equations 12-14). */
    uint32_t acor = 0;
    unsigned bddc = 1;
    for (uint32_t m = 0; m < S; m++) {
        const int32_t *c = in->blocks + (size_t)m * 64;
        uint32_t *mag = scr->mag + (size_t)m * 64, *mx = scr->maxs + (size_t)m * 19, all = 0;
        uint64_t *topm = scr->topm + (size_t)m * 33; /* by bit length; [0] collects zeros */
        memset(topm, 0, 33 * sizeof *topm);
        scr->sel[m] = 0;
        mag[0] = c[0] < 0 ? 0u - (uint32_t)c[0] : (uint32_t)c[0];
        for (int k = 1; k < 64; k++) {
            mag[k] = c[k] < 0 ? 0u - (uint32_t)c[k] : (uint32_t)c[k];
            topm[bits_of(mag[k])] |= 1ull << k;
        }
        for (int i = 0; i < 3; i++) {
            uint32_t mc = 0, mg = 0;
            for (int k = 0; k < 4; k++)
                mc = mag[BLK_C(i) + k] > mc ? mag[BLK_C(i) + k] : mc;
            for (int j = 0; j < 4; j++) {
                uint32_t mh = 0;
                for (int k = 0; k < 4; k++)
                    mh = mag[BLK_H(i, j) + k] > mh ? mag[BLK_H(i, j) + k] : mh;
                mx[6 + 4 * i + j] = mh;
                mg = mh > mg ? mh : mg;
            }
            mx[i] = mc;
            mx[3 + i] = mg;
            all |= mc | mg | mag[BLK_P(i)];
        }
        uint32_t mb = mx[0];
        for (int i = 1; i < 6; i++)
            mb = mx[i] > mb ? mx[i] : mb;
        mx[18] = mb;
        scr->bd[m] = (uint8_t)bits_of(all);
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
        uint64_t valid = isec__valid_mask(sh, b);
        /* sel: coefficients selected above plane b, from the per-plane masks of the magnitudes */
        for (uint32_t m = 0; m < S; m++)
            scr->sel[m] |= scr->topm[(size_t)m * 33 + b + 2];
        if (b < q && b >= sh->dc)
            for (uint32_t m = 0; m < S; m++)
                isec__bw_put(&scr->st[0], (uint32_t)(in->blocks[(size_t)m * 64] >> b) & 1u, 1);
        for (uint32_t g0 = 0; g0 < S; g0 += 16) {
            uint32_t g1 = S - g0 < 16 ? S : g0 + 16;
            for (uint32_t m = g0; m < g1; m++)
                if (scr->bd[m] > b) {
                    block_words(g, in->blocks + (size_t)m * 64, scr->mag + (size_t)m * 64,
                                scr->maxs + (size_t)m * 19, sh, b);
                    refine(&scr->st[4], scr->mag + (size_t)m * 64, b, scr->sel[m] & valid);
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

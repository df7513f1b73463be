/* Bit-plane decoder for one segment (CCSDS 122.0-B-2 section 4), from any prefix of it.
 *
 * Decoding mirrors bpe_enc.c in stream order: quantized DC, additional DC planes, AC bit depths,
 * then per bit plane stage 0 (all blocks), stage 1, 2, 3 (all blocks each, code options read at
 * their first use in a gaggle), stage 4. Nothing is applied from a word that the data cut short.
 * The values then go to the decoder's strips (bpe_recon.c), set inside their intervals where the
 * data or a quality limit stopped the segment early. */
#include <stdlib.h>
#include <string.h>

#include "bpe_dec.h"

void isec__vlc_dec_init(isec__vlc_dec t)
{
    memset(t, 0, sizeof(isec__vlc_dec));
    for (unsigned k = 0; k < 4; k++)
        for (unsigned len = 2; len <= 4; len++)
            for (unsigned o = 0; o < len; o++)
                for (unsigned s = 0; s < (1u << len); s++) {
                    uint16_t c = isec__vlc[len][o][s];
                    unsigned cl = c >> 8, cv = c & 0xffu, w = isec__word_of[k][len][s];
                    for (unsigned x = 0; x < (1u << (8 - cl)); x++)
                        t[k][len][o][(cv << (8 - cl)) | x] = (uint16_t)(cl << 8 | w);
                }
}

void isec__dec_scratch_free(isec__dec_scratch *s)
{
    free(s->mag);
    free(s->sgn);
    free(s->dc);
    free(s->bd);
    free(s->fl);
    free(s->tmp);
    free(s->opt);
    free(s->sel);
    free(s->nsel);
    memset(s, 0, sizeof *s);
}

int isec__dec_scratch_reserve(isec__dec_scratch *s, uint32_t S)
{
    if (S <= s->cap) return 0;
    isec__dec_scratch n;
    memset(&n, 0, sizeof n);
    n.cap = S;
    n.mag = calloc(64 * (size_t)S, sizeof *n.mag); /* kept zero between segments: bpe_recon.c */
    n.sgn = malloc(sizeof *n.sgn * (size_t)S);
    n.dc = malloc(sizeof *n.dc * (size_t)S);
    n.bd = malloc((size_t)S);
    n.fl = malloc(sizeof *n.fl * (size_t)S);
    n.tmp = malloc(sizeof *n.tmp * (size_t)S);
    n.opt = malloc(3 * ((size_t)S / 16 + 1));
    n.sel = malloc(sizeof *n.sel * (size_t)S);
    n.nsel = malloc(sizeof *n.nsel * (size_t)S);
    if (!n.mag || !n.sgn || !n.dc || !n.bd || !n.fl || !n.tmp || !n.opt || !n.sel || !n.nsel) {
        isec__dec_scratch_free(&n);
        return ISEC_ENOMEM;
    }
    isec__dec_scratch_free(s);
    *s = n;
    return 0;
}

/* State of one plane's decoding. */
typedef struct {
    isec__br *r;
    isec__dec_scratch *s;
    const uint16_t (*vt)[5][4][256];
    const isec__shifts *sh;
    unsigned b;
    int bad;
    uint64_t valid;
    uint64_t sel;        /* the current block's coefficients selected above plane b */
    int allneg;          /* every descendant subband below its BitShift at plane b */
    unsigned cm, gm, dm; /* families (bit i) whose children, grandchildren, either are coded */
} ctx;

/* Reads a word of len bits (kind for the symbol mapping) coded with the gaggle's options.
 * Returns the word, or -1 when the data ended or the code is invalid. */
static inline int read_word(ctx *c, uint8_t *opt, unsigned kind, unsigned len)
{
    isec__br *r = c->r;
    if (len == 1) {
        uint32_t v = isec__br_bit(r);
        return r->over ? -1 : (int)v;
    }
    uint8_t *o = &opt[len - 2];
    if (*o == 0xff) {
        uint32_t id = isec__br_get(r, len == 2 ? 1 : 2);
        if (r->over) return -1;
        if (len == 3 && id == 2) { /* Table 4-18: 10 is not a 3-bit option */
            c->bad = 1;
            return -1;
        }
        *o = (uint8_t)(len == 3 && id == 3 ? 2 : id);
    }
    uint16_t e = c->vt[kind][len][*o][isec__br_peek8(r)];
    r->pos += e >> 8;
    if (r->pos > r->end) {
        r->over = 1;
        return -1;
    }
    unsigned w = e & 0xffu;
    if (w == 0xff) {
        c->bad = 1;
        return -1;
    }
    return (int)w;
}

/* dep[x << 4 | v]: the popcount(x) low bits of v deposited at the positions set in nibble x, the
 * most significant at the lowest position (the order of a set's members in its word). */
static const uint8_t dep[256] = {
    0, 0,  0, 0,  0, 0,  0, 0,  0, 0,  0, 0,  0, 0,  0, 0,  0, 1,  0, 1,  0, 1,  0, 1,  0, 1,
    0, 1,  0, 1,  0, 1,  0, 2,  0, 2,  0, 2,  0, 2,  0, 2,  0, 2,  0, 2,  0, 2,  0, 2,  1, 3,
    0, 2,  1, 3,  0, 2,  1, 3,  0, 2,  1, 3,  0, 4,  0, 4,  0, 4,  0, 4,  0, 4,  0, 4,  0, 4,
    0, 4,  0, 4,  1, 5,  0, 4,  1, 5,  0, 4,  1, 5,  0, 4,  1, 5,  0, 4,  2, 6,  0, 4,  2, 6,
    0, 4,  2, 6,  0, 4,  2, 6,  0, 4,  2, 6,  1, 5,  3, 7,  0, 4,  2, 6,  1, 5,  3, 7,  0, 8,
    0, 8,  0, 8,  0, 8,  0, 8,  0, 8,  0, 8,  0, 8,  0, 8,  1, 9,  0, 8,  1, 9,  0, 8,  1, 9,
    0, 8,  1, 9,  0, 8,  2, 10, 0, 8,  2, 10, 0, 8,  2, 10, 0, 8,  2, 10, 0, 8,  2, 10, 1, 9,
    3, 11, 0, 8,  2, 10, 1, 9,  3, 11, 0, 8,  4, 12, 0, 8,  4, 12, 0, 8,  4, 12, 0, 8,  4, 12,
    0, 8,  4, 12, 1, 9,  5, 13, 0, 8,  4, 12, 1, 9,  5, 13, 0, 8,  4, 12, 2, 10, 6, 14, 0, 8,
    4, 12, 2, 10, 6, 14, 0, 8,  4, 12, 2, 10, 6, 14, 1, 9,  5, 13, 3, 11, 7, 15,
};

static const uint8_t pop4[16] = {0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4};

/* Decodes typesb/signsb of the set at block positions o..o+3 whose candidate members are the
 * nibble cand (not yet selected ones take part). Returns 0, or -1 when stopped. */
static inline int types_word(ctx *c, uint8_t *opt, unsigned kind, uint32_t *mag, uint64_t *sgn,
                             unsigned o, unsigned cand, uint64_t *ns)
{
    unsigned act = cand & ~(unsigned)(c->sel >> o) & 0xfu;
    if (!act) return 0;
    int w = read_word(c, opt, kind, pop4[act]);
    if (w < 0) return -1;
    unsigned nib = dep[act << 4 | (unsigned)w];
    if (!nib) return 0;
    uint32_t sig = isec__br_get(c->r, pop4[nib]);
    if (c->r->over) return -1;
    *ns |= (uint64_t)nib << o;
    *sgn |= (uint64_t)dep[nib << 4 | sig] << o;
    uint32_t bit = 1u << c->b;
    for (unsigned t = nib; t; t &= t - 1)
        mag[o + (unsigned)__builtin_ctz(t)] |= bit;
    return 0;
}

/* Flags per block: bit 0 tranB seen, 1-3 D_i, 4-6 G_i, 7-18 H_ij selected. */
#define F_B 1u
#define F_D(i) (2u << (i))
#define F_G(i) (16u << (i))
#define F_H(i, j) (128u << (4 * (i) + (j)))

static int stage1(ctx *c, uint32_t m, uint8_t *opt)
{
    uint32_t *mag = c->s->mag + (size_t)m * 64;
    unsigned cand = 0;
    for (int i = 0; i < 3; i++)
        if (c->b >= c->sh->p[i]) cand |= 1u << BLK_P(i);
    return types_word(c, opt, WK_PLAIN, mag, &c->s->sgn[m], 0, cand, &c->s->nsel[m]);
}

static int all_negative(const isec__shifts *sh, unsigned b)
{
    for (int i = 0; i < 3; i++)
        if (b >= sh->c[i] || b >= sh->g[i]) return 0;
    return 1;
}

static int stage2(ctx *c, uint32_t m, uint8_t *opt)
{
    uint32_t *fl = &c->s->fl[m], *mag = c->s->mag + (size_t)m * 64;
    if (c->allneg) return 0;
    if (!(*fl & F_B)) {
        int w = read_word(c, opt, WK_PLAIN, 1);
        if (w < 0) return -1;
        if (!w) return 0;
        *fl |= F_B;
    }
    unsigned d = (*fl >> 1) & 7u, cand = c->dm & ~d; /* tranD over families not yet set */
    if (cand) {
        int w = read_word(c, opt, WK_TRAND, pop4[cand]);
        if (w < 0) return -1;
        d |= dep[cand << 4 | (unsigned)w];
        *fl |= d << 1;
    }
    for (unsigned t = d & c->cm; t; t &= t - 1) {
        unsigned i = (unsigned)__builtin_ctz(t);
        if (types_word(c, opt, WK_TYPECI, mag, &c->s->sgn[m], 4u + 4u * i, 0xfu, &c->s->nsel[m]))
            return -1;
    }
    return 0;
}

static int stage3(ctx *c, uint32_t m, uint8_t *opt)
{
    uint32_t *fl = &c->s->fl[m], *mag = c->s->mag + (size_t)m * 64;
    if (c->allneg || !(*fl & F_B)) return 0;
    unsigned d = (*fl >> 1) & 7u, g = (*fl >> 4) & 7u, cand = d & c->gm & ~g; /* tranG */
    if (cand) {
        int w = read_word(c, opt, WK_PLAIN, pop4[cand]);
        if (w < 0) return -1;
        g |= dep[cand << 4 | (unsigned)w];
        *fl |= g << 4;
    }
    unsigned act = g & c->gm;
    for (unsigned t = act; t; t &= t - 1) { /* tranH of each family with G_i set */
        unsigned i = (unsigned)__builtin_ctz(t), sh = 7u + 4u * i;
        unsigned hf = (*fl >> sh) & 0xfu, hc = ~hf & 0xfu;
        if (!hc) continue;
        int w = read_word(c, opt, WK_HIJ, pop4[hc]);
        if (w < 0) return -1;
        *fl |= (uint32_t)dep[hc << 4 | (unsigned)w] << sh;
    }
    for (unsigned t = act; t; t &= t - 1) {
        unsigned i = (unsigned)__builtin_ctz(t);
        for (unsigned u = (*fl >> (7u + 4u * i)) & 0xfu; u; u &= u - 1) {
            unsigned j = (unsigned)__builtin_ctz(u);
            if (types_word(c, opt, WK_HIJ, mag, &c->s->sgn[m], 16u + 16u * i + 4u * j, 0xfu,
                           &c->s->nsel[m]))
                return -1;
        }
    }
    return 0;
}

static int stage4(ctx *c, uint32_t m)
{
    uint64_t t = c->s->sel[m] & c->valid;
    unsigned n = isec__pop64(t);
    if (!n) return 0;
    uint32_t *mag = c->s->mag + (size_t)m * 64;
    uint64_t bits = isec__br_get(c->r, n > 32 ? 32 : n);
    if (n > 32) bits = bits << (n - 32) | isec__br_get(c->r, n - 32);
    if (c->r->over) return -1;
    unsigned b = c->b;
    for (; t; t &= t - 1) /* first coefficient, first (most significant) bit */
        mag[__builtin_ctzll(t)] |= (uint32_t)((bits >> --n) & 1u) << b;
    return 0;
}

int isec__bpe_decode(isec__br *r, const isec_ccsds_header *h, const isec__shifts *sh,
                     isec__dec_scratch *s, const isec__vlc_dec vt, const isec__strips *out,
                     size_t first, isec_ccsds_segment *info)
{
    const uint32_t S = h->s;
    unsigned bddc = h->bitdepth_dc, bdac = h->bitdepth_ac;
    if (bddc == 0) return ISEC_EFORMAT;
    unsigned q = isec__dc_q(bddc, bdac, sh->dc);
    unsigned N = bddc > q + 1 ? bddc - q : 1;
    info->q = (uint8_t)q;
    memset(s->sgn, 0, sizeof *s->sgn * (size_t)S);
    memset(s->bd, 0, S);
    memset(s->fl, 0, sizeof *s->fl * (size_t)S);
    memset(s->sel, 0, sizeof *s->sel * (size_t)S);
    memset(s->nsel, 0, sizeof *s->nsel * (size_t)S);
    int bad = 0, stop = 0;              /* stop: the data or a limit ended the segment */
    unsigned dcL = bddc > q ? bddc : q; /* lowest DC plane known for every block */
    uint32_t dc_part = 0;               /* blocks that also know plane dcL-1 */
    int32_t bp = -1;                    /* plane cut short, or -1 */
    unsigned bdone = bdac;              /* lowest complete plane */
    unsigned st = 0;
    uint32_t mk = 0;

    /* 4.3.2: quantized DC */
    uint32_t got;
    if (N == 1) {
        for (got = 0; got < S; got++) {
            uint32_t bit = isec__br_bit(r);
            if (r->over) break;
            s->dc[got] = bit ? -1 : 0;
        }
    } else {
        got = isec__gaggles_decode(r, s->tmp, S, N, &bad);
        int32_t xmin = -(1 << (N - 1)), xmax = (1 << (N - 1)) - 1;
        for (uint32_t m = 0; m < got; m++) {
            if (m == 0) {
                uint32_t v = s->tmp[0];
                s->dc[0] = (v & (1u << (N - 1))) ? (int32_t)v - (1 << N) : (int32_t)v;
            } else {
                s->dc[m] = isec__unmap_delta(s->dc[m - 1], s->tmp[m], xmin, xmax);
            }
        }
    }
    for (uint32_t m = got; m < S; m++)
        s->dc[m] = got ? s->dc[got - 1] : 0; /* predicted */
    for (uint32_t m = 0; m < S; m++)
        s->dc[m] = (int32_t)((int64_t)s->dc[m] * ((int64_t)1 << q));
    if (got < S) stop = 1;
    dcL = q;

    /* 4.3.3: additional DC bit planes */
    unsigned dc_low = bdac > sh->dc ? bdac : sh->dc;
    for (unsigned p = q; !stop && p-- > dc_low;) {
        uint32_t m;
        for (m = 0; m < S; m++) {
            uint32_t bit = isec__br_bit(r);
            if (r->over) break;
            s->dc[m] |= (int32_t)(bit << p);
        }
        if (m < S) {
            stop = 1;
            dc_part = m;
        } else {
            dcL = p;
        }
    }
    int qstop = h->dc_stop || (bdac && h->bitplane_stop >= bdac);
    info->dc_end = (size_t)((r->pos + 7) / 8);

    /* 4.4: AC bit depths */
    if (!stop && !qstop && bdac == 1) {
        for (uint32_t m = 0; m < S; m++) {
            uint32_t bit = isec__br_bit(r);
            if (r->over) {
                stop = 1;
                break;
            }
            s->bd[m] = (uint8_t)bit;
        }
    } else if (!stop && !qstop && bdac > 1) {
        unsigned Nd = 32u - (unsigned)__builtin_clz(bdac);
        int32_t xmax = (1 << Nd) - 1;
        got = isec__gaggles_decode(r, s->tmp, S, Nd, &bad);
        int32_t prev = 0;
        for (uint32_t m = 0; m < got; m++) {
            int32_t v = m ? isec__unmap_delta(prev, s->tmp[m], 0, xmax) : (int32_t)s->tmp[0];
            if (v > (int32_t)bdac) { /* a block deeper than the segment: corrupt */
                bad = 1;
                got = m;
                break;
            }
            s->bd[m] = (uint8_t)v;
            prev = v;
        }
        if (got < S) {
            memset(s->bd, 0, S); /* depths are needed for every block before plane coding */
            stop = 1;
        }
    }
    if (!qstop) info->dc_end = (size_t)((r->pos + 7) / 8); /* cut by the data: all of it */

    /* 4.5: bit planes */
    ctx c;
    memset(&c, 0, sizeof c);
    c.r = r;
    c.s = s;
    c.vt = vt;
    c.sh = sh;
    size_t ngag = (S + 15) / 16;
    for (unsigned b = bdac; !stop && !qstop && !bad && b-- > 0;) {
        c.b = b;
        c.valid = isec__valid_mask(sh, b);
        c.allneg = all_negative(sh, b);
        c.cm = c.gm = 0;
        for (unsigned i = 0; i < 3; i++) {
            c.cm |= (unsigned)(b >= sh->c[i]) << i;
            c.gm |= (unsigned)(b >= sh->g[i]) << i;
        }
        c.dm = c.cm | c.gm;
        for (uint32_t m = 0; m < S; m++) {
            s->sel[m] |= s->nsel[m];
            s->nsel[m] = 0;
        }
        bp = (int32_t)b;
        memset(s->opt, 0xff, 3 * ngag);
        unsigned last = h->bitplane_stop == b ? h->stage_stop + 1u : 4u;
        /* stage 0 */
        st = 0;
        if (b < q && b >= sh->dc) {
            for (mk = 0; mk < S; mk++) {
                uint32_t bit = isec__br_bit(r);
                if (r->over) break;
                s->dc[mk] |= (int32_t)(bit << b);
            }
            if (mk < S) {
                stop = 1;
                dc_part = mk;
                break;
            }
            dcL = b;
        }
        /* one loop per stage, so that each stage's code is inlined into its own loop */
#define STAGE_LOOP(CALL)                                                                           \
    for (mk = 0; mk < S; mk++) {                                                                   \
        if (s->bd[mk] <= b) continue;                                                              \
        uint8_t *opt = s->opt + 3 * (mk / 16);                                                     \
        (void)opt;                                                                                 \
        c.sel = s->sel[mk];                                                                        \
        if (CALL) {                                                                                \
            stop = 1;                                                                              \
            break;                                                                                 \
        }                                                                                          \
    }
        for (st = 1; st <= last && !stop; st++) {
            switch (st) {
            case 1:
                STAGE_LOOP(stage1(&c, mk, opt))
                break;
            case 2:
                STAGE_LOOP(stage2(&c, mk, opt))
                break;
            case 3:
                STAGE_LOOP(stage3(&c, mk, opt))
                break;
            default:
                STAGE_LOOP(stage4(&c, mk))
                break;
            }
            if (stop) break;
        }
#undef STAGE_LOOP
        if (c.bad) bad = 1;
        if (stop) break;
        info->plane_end[info->planes++] = (size_t)((r->pos + 7) / 8);
        if (h->bitplane_stop == b && last < 4) { /* quality limit inside the plane */
            qstop = 1;
            st = last + 1;
            mk = 0;
            break;
        }
        bdone = b;
        bp = -1;
        if (h->bitplane_stop == b && b > 0) { /* quality limit at the end of the plane */
            qstop = 1;
            break;
        }
    }
    if (stop && bp >= 0) info->plane_end[info->planes++] = (size_t)((r->pos + 7) / 8);

    isec__recon_state rs = {bp, bdone, st, mk, dc_part, dcL};
    isec__bpe_recon(&rs, h, sh, s, out, first);
    info->stopped_by = (uint8_t)(stop ? 3 : qstop ? 2 : 0);
    return bad ? ISEC_EFORMAT : 0;
}

/* The walker's frame, Huffman table and scan headers (SOF, DHT, SOS): parsed and checked, and
 * the per-scan state set up (walker.c calls these from its marker-segment handling). */
#include <stdlib.h>

#include "internal.h"

int isec__parse_sof(isec_jpeg *c, const uint8_t *p, size_t n)
{
    uint64_t at = c->segoff;
    if (c->have_sof) return isec__jpeg_fail(c, ISEC_EUNSUPPORTED, at, "second frame header (SOF)");
    if (n < 6) return isec__jpeg_fail(c, ISEC_EFORMAT, at, "SOF segment too short");
    c->precision = p[0];
    c->height = isec__be16(p + 1);
    c->width = isec__be16(p + 3);
    c->ncomp = p[5];
    if (c->precision != 8 && c->precision != 12)
        return isec__jpeg_fail(c, ISEC_EUNSUPPORTED, at, "%u-bit DCT samples", c->precision);
    if (c->height == 0)
        return isec__jpeg_fail(c, ISEC_EUNSUPPORTED, at,
                               "height 0 in SOF (height given later by DNL) is not supported");
    if (c->width == 0) return isec__jpeg_fail(c, ISEC_EFORMAT, at, "width 0 in SOF");
    if (c->ncomp < 1 || c->ncomp > 4)
        return isec__jpeg_fail(c, ISEC_EUNSUPPORTED, at, "%u components", c->ncomp);
    if (n != 6 + 3 * (size_t)c->ncomp)
        return isec__jpeg_fail(c, ISEC_EFORMAT, at, "SOF length does not match %u components",
                               c->ncomp);
    if ((uint64_t)c->width * c->height > c->max_pixels)
        return isec__jpeg_fail(c, ISEC_ELIMIT, at, "%ux%u pixels exceed the limit of %llu",
                               c->width, c->height, (unsigned long long)c->max_pixels);
    c->hmax = c->vmax = 1;
    for (int i = 0; i < c->ncomp; i++) {
        struct comp *k = &c->comp[i];
        k->id = p[6 + 3 * i];
        k->h = p[7 + 3 * i] >> 4;
        k->v = p[7 + 3 * i] & 15;
        k->tq = p[8 + 3 * i];
        if (k->h < 1 || k->h > 4 || k->v < 1 || k->v > 4)
            return isec__jpeg_fail(c, ISEC_EFORMAT, at, "component %u: sampling %ux%u", k->id,
                                   k->h, k->v);
        for (int j = 0; j < i; j++)
            if (c->comp[j].id == k->id)
                return isec__jpeg_fail(c, ISEC_EFORMAT, at, "duplicate component id %u", k->id);
        if (k->h > c->hmax) c->hmax = k->h;
        if (k->v > c->vmax) c->vmax = k->v;
    }
    c->mcux = (c->width + 8u * c->hmax - 1) / (8u * c->hmax);
    c->mcuy = (c->height + 8u * c->vmax - 1) / (8u * c->vmax);
    for (int i = 0; i < c->ncomp; i++) {
        struct comp *k = &c->comp[i];
        uint32_t cw = (uint32_t)(((uint64_t)c->width * k->h + c->hmax - 1) / c->hmax);
        uint32_t ch = (uint32_t)(((uint64_t)c->height * k->v + c->vmax - 1) / c->vmax);
        k->bw = (cw + 7) / 8;
        k->bh = (ch + 7) / 8;
        if (c->progressive) {
            k->nz = calloc((size_t)k->bw * k->bh, sizeof *k->nz);
            if (!k->nz) return isec__jpeg_fail(c, ISEC_ENOMEM, at, "out of memory");
        }
    }
    c->have_sof = 1;
    c->info.width = c->width;
    c->info.height = c->height;
    c->info.precision = c->precision;
    c->info.ncomp = c->ncomp;
    for (int i = 0; i < c->ncomp; i++)
        c->info.comp[i] = (isec_jpeg_component){c->comp[i].id, c->comp[i].h, c->comp[i].v,
                                                c->comp[i].tq};
    return 0;
}

int isec__parse_dht(isec_jpeg *c, const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        if (n - i < 17) return isec__jpeg_fail(c, ISEC_EFORMAT, c->segoff, "DHT segment too short");
        unsigned tc = p[i] >> 4, th = p[i] & 15;
        if (tc > 1 || th > 3)
            return isec__jpeg_fail(c, ISEC_EFORMAT, c->segoff, "DHT table class %u id %u", tc, th);
        size_t total = 0;
        for (int l = 0; l < 16; l++) total += p[i + 1 + l];
        if (total > 256 || n - i - 17 < total)
            return isec__jpeg_fail(c, ISEC_EFORMAT, c->segoff, "DHT table runs past its segment");
        struct huff *h = tc ? &c->ac[th] : &c->dc[th];
        if (isec__huff_build(h, p + i + 1, p + i + 17, total) < 0)
            return isec__jpeg_fail(c, ISEC_EFORMAT, c->segoff,
                                   "DHT %s table %u is not a valid Huffman code",
                                   tc ? "AC" : "DC", th);
        h->gen = ++c->huff_gen;
        i += 17 + total;
    }
    return 0;
}

static int alloc_entropy(isec_jpeg *c)
{
    if (c->raw) return 0;
    c->raw = malloc(RAWCAP);
    c->isdata = malloc(RAWCAP);
    c->scratch = malloc(CHUNK_SCRATCH);
    c->data = calloc(RAWCAP + PAD + 8, 1);
    c->vm = calloc(RAWCAP + PAD + 8, 1);
    c->xm = calloc(RAWCAP + PAD + 8, 1);
    if (!c->raw || !c->isdata || !c->scratch || !c->data || !c->vm || !c->xm)
        return isec__jpeg_fail(c, ISEC_ENOMEM, c->segoff, "out of memory");
    return 0;
}

int isec__parse_sos(isec_jpeg *c, const uint8_t *p, size_t n)
{
    uint64_t at = c->segoff;
    struct scan *s = &c->sc;
    if (!c->have_sof) return isec__jpeg_fail(c, ISEC_EFORMAT, at, "SOS before SOF");
    if (n < 1 || n != 4 + 2 * (size_t)p[0] || p[0] < 1 || p[0] > 4)
        return isec__jpeg_fail(c, ISEC_EFORMAT, at, "SOS segment malformed");
    if (c->info.nscans >= c->max_scans)
        return isec__jpeg_fail(c, ISEC_ELIMIT, at, "more than %u scans", c->max_scans);
    memset(s, 0, sizeof *s);
    s->ncomp = p[0];
    for (int i = 0; i < s->ncomp; i++) {
        int ci = -1;
        for (int j = 0; j < c->ncomp; j++)
            if (c->comp[j].id == p[1 + 2 * i]) ci = j;
        if (ci < 0) return isec__jpeg_fail(c, ISEC_EFORMAT, at, "SOS names unknown component");
        for (int j = 0; j < i; j++)
            if (s->ci[j] == ci) return isec__jpeg_fail(c, ISEC_EFORMAT, at, "SOS repeats a component");
        s->ci[i] = (uint8_t)ci;
        s->td[i] = p[2 + 2 * i] >> 4;
        s->ta[i] = p[2 + 2 * i] & 15;
        if (s->td[i] > 3 || s->ta[i] > 3)
            return isec__jpeg_fail(c, ISEC_EFORMAT, at, "SOS table selector above 3");
    }
    const uint8_t *q = p + 1 + 2 * s->ncomp;
    s->ss = q[0];
    s->se = q[1];
    s->ah = q[2] >> 4;
    s->al = q[2] & 15;
    if (!c->progressive) {
        /* Sequential scans always code coefficients 0..63. Some encoders write zeros (or other
         * values) in Ss/Se/Ah/Al; decoders ignore them (libjpeg: JWRN_NOT_SEQUENTIAL), so do we. */
        s->kind = SCAN_SEQ;
    } else {
        if (s->se > 63 || s->ss > s->se || (s->ss == 0 && s->se != 0) ||
            (s->ss > 0 && s->ncomp != 1) || s->ah > 13 || s->al > 13 ||
            (s->ah && s->al != s->ah - 1))
            return isec__jpeg_fail(c, ISEC_EFORMAT, at,
                                   "invalid progressive scan Ss=%u Se=%u Ah=%u Al=%u (%u components)",
                                   s->ss, s->se, s->ah, s->al, s->ncomp);
        s->kind = s->ss == 0 ? (s->ah ? SCAN_DC_REFINE : SCAN_DC_FIRST)
                             : (s->ah ? SCAN_AC_REFINE : SCAN_AC_FIRST);
    }
    for (int i = 0; i < s->ncomp; i++) {
        int need_dc = s->kind == SCAN_SEQ || s->kind == SCAN_DC_FIRST;
        int need_ac = s->kind == SCAN_SEQ || s->kind == SCAN_AC_FIRST || s->kind == SCAN_AC_REFINE;
        if ((need_dc && !c->dc[s->td[i]].defined) || (need_ac && !c->ac[s->ta[i]].defined))
            return isec__jpeg_fail(c, ISEC_EFORMAT, at, "scan uses an undefined Huffman table");
    }
    if (s->ncomp == 1) {
        const struct comp *k = &c->comp[s->ci[0]];
        s->nblk = 1;
        s->blkcomp[0] = 0;
        s->mcux = k->bw;
        s->total = (uint64_t)k->bw * k->bh;
    } else {
        s->nblk = 0;
        for (int i = 0; i < s->ncomp; i++) {
            const struct comp *k = &c->comp[s->ci[i]];
            for (int b = 0; b < k->h * k->v; b++) {
                if (s->nblk == 10)
                    return isec__jpeg_fail(c, ISEC_EFORMAT, at, "more than 10 blocks per MCU");
                s->blkcomp[s->nblk++] = (uint8_t)i;
            }
        }
        s->mcux = c->mcux;
        s->total = (uint64_t)c->mcux * c->mcuy;
    }
    s->ri = c->restart_interval;
    if (alloc_entropy(c) < 0) return c->rc;
    if (s->kind == SCAN_SEQ)
        for (int i = 0; i < s->ncomp; i++)
            if (!c->ac[s->ta[i]].have_multi) isec__huff_build_multi(&c->ac[s->ta[i]]);
    if (s->kind == SCAN_AC_FIRST) { /* its multi-symbol table, unless the last one still holds */
        const struct huff *h = &c->ac[s->ta[0]];
        if (!c->firstmulti && !(c->firstmulti = malloc(sizeof(uint64_t) << MULTI_BITS)))
            return isec__jpeg_fail(c, ISEC_ENOMEM, at, "out of memory");
        if (c->firstmulti_gen != h->gen || c->firstmulti_ta != s->ta[0]) {
            isec__huff_build_first(h, c->firstmulti);
            c->firstmulti_gen = h->gen;
            c->firstmulti_ta = s->ta[0];
        }
    }
    memset(&c->d, 0, sizeof c->d);
    c->rawlen = c->datalen = 0;
    c->rawoff = c->scan_start = c->off;
    c->bhead = c->btail = 0;
    c->committed = 0;
    c->pending_ff = c->region_ended = c->scan_done = 0;
    memset(c->data, 0, PAD + 8);
    memset(c->vm, 0, PAD + 8);
    memset(c->xm, 0, PAD + 8);
    isec_jpeg_scan *si = &c->info.scans[c->info.nscans++];
    memset(si, 0, sizeof *si);
    si->ncomp = s->ncomp;
    for (int i = 0; i < s->ncomp; i++) si->comp[i] = c->comp[s->ci[i]].id;
    si->ss = s->ss;
    si->se = s->se;
    si->ah = s->ah;
    si->al = s->al;
    si->restart_interval = s->ri;
    si->offset = c->base + at;
    c->scaninfo = si;
    return 0;
}

/* Small pieces shared by the CCSDS encoder and decoder: weights, DC quantization, bit buffers,
 * large buffers. */
#define _DEFAULT_SOURCE 1 /* madvise */
#include <stdlib.h>
#include <string.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif

#include "internal.h"

void *isec__big_alloc(size_t n)
{
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    /* whole-image planes: 2 MiB pages where the kernel offers them (transparent huge pages in
       madvise mode), so that first touches fault once per 2 MiB rather than per 4 KiB */
    if (n >= (1u << 20)) {
        void *p;
        size_t al = (size_t)2 << 20;
        if (posix_memalign(&p, al, (n + al - 1) / al * al)) return NULL;
        madvise(p, (n + al - 1) / al * al, MADV_HUGEPAGE); /* advisory: failure is harmless */
        return p;
    }
#endif
    return malloc(n ? n : 1);
}

void isec__ccsds_default_weights(uint8_t w[10])
{
    /* Table 3-4, as log2: HH1 HL1 LH1 HH2 HL2 LH2 HH3 HL3 LH3 LL3 */
    static const uint8_t d[10] = {0, 1, 1, 1, 2, 2, 2, 3, 3, 3};
    memcpy(w, d, 10);
}

void isec__ccsds_shifts(isec__shifts *s, int dwt, const uint8_t w[10])
{
    memset(s, 0, sizeof *s);
    if (dwt != ISEC_CCSDS_DWT_INTEGER) return; /* 4.1: no scaling for the float DWT */
    s->dc = w[9];
    s->p[0] = w[7];
    s->p[1] = w[8];
    s->p[2] = w[6];
    s->c[0] = w[4];
    s->c[1] = w[5];
    s->c[2] = w[3];
    s->g[0] = w[1];
    s->g[1] = w[2];
    s->g[2] = w[0];
}

unsigned isec__dc_q(unsigned bitdepth_dc, unsigned bitdepth_ac, unsigned dc_shift)
{
    int dc = (int)bitdepth_dc, half = 1 + (int)(bitdepth_ac >> 1), qp;
    if (dc <= 3)
        qp = 0;
    else if (dc - half <= 1)
        qp = dc - 3;
    else if (dc - half > 10)
        qp = dc - 10;
    else
        qp = half;
    return (unsigned)qp > dc_shift ? (unsigned)qp : dc_shift;
}

void isec__bw_align(isec__bw *w, unsigned word_bytes)
{
    uint64_t bits = isec__bw_bits(w), unit = 8u * (word_bytes ? word_bytes : 1u);
    uint64_t pad = (unit - bits % unit) % unit;
    while (pad) {
        unsigned n = pad > 32 ? 32 : (unsigned)pad;
        isec__bw_put(w, 0, n);
        pad -= n;
    }
    /* acc now holds whole bytes only */
    while (w->nacc >= 8) {
        w->nacc -= 8;
        if (w->pos < w->cap)
            w->buf[w->pos++] = (uint8_t)(w->acc >> w->nacc);
        else
            w->overflow = 1;
    }
}

void isec__bw_append(isec__bw *dst, isec__bw *src)
{
    const uint8_t *p = src->buf;
    size_t n = src->pos, i = 0;
    if (dst->nacc == 0 && !dst->overflow) {
        /* byte aligned destination: copy */
        size_t room = dst->cap - dst->pos;
        if (n <= room) {
            memcpy(dst->buf + dst->pos, p, n);
            dst->pos += n;
        } else {
            memcpy(dst->buf + dst->pos, p, room);
            dst->pos += room;
            dst->overflow = 1;
        }
        i = n;
    }
    for (; i + 4 <= n; i += 4)
        isec__bw_put(dst,
                     (uint32_t)p[i] << 24 | (uint32_t)p[i + 1] << 16 | (uint32_t)p[i + 2] << 8 |
                         p[i + 3],
                     32);
    for (; i < n; i++)
        isec__bw_put(dst, p[i], 8);
    if (src->nacc) isec__bw_put(dst, (uint32_t)(src->acc & ((1ull << src->nacc) - 1)), src->nacc);
    if (src->overflow) dst->overflow = 1;
}

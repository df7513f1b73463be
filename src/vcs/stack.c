/* Stacking: the topmost opaque pixel of the 8 sheets wins over a white background. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static int compatible(const isec_vcs_share *a, const isec_vcs_share *b)
{
    if (!a || !b) return 0;
    const isec_vcs_share_info *ia = &a->info, *ib = &b->info;
    return ia->participant == ISEC_VCS_A && ib->participant == ISEC_VCS_B &&
           ia->width == ib->width && ia->height == ib->height && ia->layout == ib->layout &&
           ia->nplanes == ib->nplanes && ia->channels == ib->channels;
}

/* Stacks the 8 layers of one plane into out (ISEC_VCS_PX_W or _K per pixel), bottom to top:
 * a branch-free select per layer, in cache-sized chunks, which compilers vectorise. */
static void stack_layers(const isec_vcs_share *a, const isec_vcs_share *b, unsigned plane,
                         uint8_t *out)
{
    const uint8_t *layer[8];
    for (unsigned s = 0; s < 4; s++) {
        layer[2 * s] = isec__vcs_csheet(a, plane, s);
        layer[2 * s + 1] = isec__vcs_csheet(b, plane, s);
    }
    const size_t n = a->npix, chunk = 4096;
    for (size_t c0 = 0; c0 < n; c0 += chunk) {
        const size_t c1 = c0 + chunk < n ? c0 + chunk : n;
        for (size_t i = c0; i < c1; i++) out[i] = ISEC_VCS_PX_W; /* background */
        for (unsigned l = 0; l < 8; l++) {
            const uint8_t *L = layer[l];
            for (size_t i = c0; i < c1; i++) out[i] = L[i] != ISEC_VCS_PX_T ? L[i] : out[i];
        }
    }
}

int isec_vcs_stack_plane(const isec_vcs_share *a, const isec_vcs_share *b, unsigned plane,
                         uint8_t *out)
{
    if (!compatible(a, b) || !out || plane >= a->info.nplanes) return ISEC_EINVAL;
    stack_layers(a, b, plane, out);
    const uint8_t pol = (uint8_t)(((a->info.polarity ^ b->info.polarity) >> plane) & 1u);
    for (size_t i = 0; i < a->npix; i++) out[i] = (uint8_t)((out[i] == ISEC_VCS_PX_K) ^ pol);
    return 0;
}

size_t isec_vcs_stack_bound(const isec_vcs_share *a)
{
    if (!a) return 0;
    unsigned ch = a->info.layout == ISEC_VCS_LAYOUT_GRAY ? 1 : a->info.layout == ISEC_VCS_LAYOUT_CMY ? 3 : a->info.channels;
    return a->npix * ch;
}

int isec_vcs_stack(const isec_vcs_share *a, const isec_vcs_share *b, unsigned top_bits,
                   uint8_t *out, size_t out_len)
{
    if (!compatible(a, b) || !out || top_bits > 8) return ISEC_EINVAL;
    if (out_len < isec_vcs_stack_bound(a)) return ISEC_EBUFFER;
    const size_t n = a->npix;
    const unsigned layout = a->info.layout;
    if (!top_bits) top_bits = 8;
    if (layout == ISEC_VCS_LAYOUT_GRAY) {
        stack_layers(a, b, 0, out);
        for (size_t i = 0; i < n; i++) out[i] = out[i] == ISEC_VCS_PX_K ? 0 : 255;
        return 0;
    }
    uint8_t *tmp = malloc(n);
    if (!tmp) return ISEC_ENOMEM;
    if (layout == ISEC_VCS_LAYOUT_CMY) {
        /* A black C dot removes red, M green, Y blue. */
        for (unsigned c = 0; c < 3; c++) {
            stack_layers(a, b, c, tmp);
            for (size_t i = 0; i < n; i++) out[i * 3 + c] = tmp[i] == ISEC_VCS_PX_K ? 0 : 255;
        }
        free(tmp);
        return 0;
    }
    /* Bit planes: ink of channel c = sum of the stacked bits of its top planes, accumulated in
     * a contiguous row (vectorised) and interleaved into out once per channel. */
    const unsigned ch = a->info.channels;
    uint8_t *acc = malloc(n);
    if (!acc) {
        free(tmp);
        return ISEC_ENOMEM;
    }
    for (unsigned c = 0; c < ch; c++) {
        memset(acc, 0, n);
        for (unsigned k = 0; k < top_bits; k++) {
            stack_layers(a, b, c * 8 + k, tmp);
            const uint8_t bit = (uint8_t)(0x80u >> k);
            const uint8_t on = ((a->info.polarity ^ b->info.polarity) >> (c * 8 + k)) & 1u
                                   ? ISEC_VCS_PX_W : ISEC_VCS_PX_K; /* inverted plane */
            for (size_t i = 0; i < n; i++) acc[i] |= tmp[i] == on ? bit : 0;
        }
        for (size_t i = 0; i < n; i++) out[i * ch + c] = (uint8_t)(255u - acc[i]);
    }
    free(acc);
    free(tmp);
    return 0;
}

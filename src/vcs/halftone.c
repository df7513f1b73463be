/* Halftoning by error diffusion (Floyd-Steinberg, Jarvis-Judice-Ninke, Stucki) and the binary
 * planes a split works on. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

typedef struct {
    int dx, dy, w;
} tap;
static const tap fs_taps[] = {{1, 0, 7}, {-1, 1, 3}, {0, 1, 5}, {1, 1, 1}};
static const tap jjn_taps[] = {{1, 0, 7},  {2, 0, 5},  {-2, 1, 3}, {-1, 1, 5}, {0, 1, 7}, {1, 1, 5},
                               {2, 1, 3},  {-2, 2, 1}, {-1, 2, 3}, {0, 2, 5},  {1, 2, 3}, {2, 2, 1}};
static const tap stucki_taps[] = {{1, 0, 8},  {2, 0, 4},  {-2, 1, 2}, {-1, 1, 4}, {0, 1, 8}, {1, 1, 4},
                                  {2, 1, 2},  {-2, 2, 1}, {-1, 2, 2}, {0, 2, 4},  {1, 2, 2}, {2, 2, 1}};

static float srgb_to_linear(float c)
{
    return c <= 0.04045f ? c / 12.92f : powf((c + 0.055f) / 1.055f, 2.4f);
}

int isec_vcs_halftone(const uint8_t *in, uint32_t width, uint32_t height, const isec_vcs_params *p,
                      uint8_t *out)
{
    if (!in || !out || !p || !width || !height) return ISEC_EINVAL;
    if (width > ISEC_VCS_MAX_DIM || height > ISEC_VCS_MAX_DIM) return ISEC_ELIMIT;
    const tap *taps;
    unsigned ntaps, div;
    switch (p->halftone) {
    case ISEC_VCS_HT_FS: taps = fs_taps, ntaps = 4, div = 16; break;
    case ISEC_VCS_HT_JJN: taps = jjn_taps, ntaps = 12, div = 48; break;
    case ISEC_VCS_HT_STUCKI: taps = stucki_taps, ntaps = 12, div = 42; break;
    case ISEC_VCS_HT_NONE: taps = NULL, ntaps = 0, div = 1; break;
    default: return ISEC_EINVAL;
    }
    if (p->gamma > ISEC_VCS_GAMMA_LINEAR) return ISEC_EINVAL;
    float lut[256];
    for (unsigned v = 0; v < 256; v++)
        lut[v] = p->gamma == ISEC_VCS_GAMMA_LINEAR ? 255.0f * srgb_to_linear((float)v / 255.0f)
                                                   : (float)v;
    /* Three rows of accumulated error, 2 pixels of margin on each side. */
    const size_t stride = (size_t)width + 4;
    float *err = calloc(3 * stride, sizeof *err);
    if (!err) return ISEC_ENOMEM;
    float wt[12];
    for (unsigned i = 0; i < ntaps; i++) wt[i] = (float)taps[i].w / (float)div;
    for (uint32_t y = 0; y < height; y++) {
        float *rows[3] = {err + (y % 3) * stride, err + ((y + 1) % 3) * stride,
                          err + ((y + 2) % 3) * stride};
        memset(rows[2], 0, stride * sizeof *err);
        const int rev = p->serpentine && (y & 1);
        for (uint32_t i = 0; i < width; i++) {
            const uint32_t x = rev ? width - 1 - i : i;
            const size_t at = (size_t)y * width + x;
            float v = lut[in[at]] + rows[0][x + 2];
            const int black = v < 128.0f;
            out[at] = (uint8_t)black;
            const float e = v - (black ? 0.0f : 255.0f);
            for (unsigned t = 0; t < ntaps; t++) {
                const int dx = rev ? -taps[t].dx : taps[t].dx;
                rows[taps[t].dy][(size_t)((int)x + 2 + dx)] += e * wt[t];
            }
        }
        memset(rows[0], 0, stride * sizeof *err);
    }
    free(err);
    return 0;
}

/* The layout and channel count a split really uses for this secret and these params. */
static int effective(const isec_vcs_image *s, const isec_vcs_params *p, unsigned *layout,
                     unsigned *channels)
{
    if (!s || !p || (s->channels != 1 && s->channels != 3)) return ISEC_EINVAL;
    switch (p->layout) {
    case ISEC_VCS_LAYOUT_PLANES: *layout = ISEC_VCS_LAYOUT_PLANES, *channels = s->channels; break;
    case ISEC_VCS_LAYOUT_GRAY: *layout = ISEC_VCS_LAYOUT_GRAY, *channels = 1; break;
    case ISEC_VCS_LAYOUT_CMY:
        *layout = s->channels == 3 ? ISEC_VCS_LAYOUT_CMY : ISEC_VCS_LAYOUT_GRAY;
        *channels = s->channels;
        break;
    default: return ISEC_EINVAL;
    }
    return 0;
}

unsigned isec_vcs_planes_count(const isec_vcs_image *secret, const isec_vcs_params *p)
{
    unsigned layout, ch;
    if (effective(secret, p, &layout, &ch) < 0) return 0;
    return layout == ISEC_VCS_LAYOUT_GRAY ? 1 : layout == ISEC_VCS_LAYOUT_CMY ? 3 : 8 * ch;
}

int isec__vcs_effective(const isec_vcs_image *s, const isec_vcs_params *p, unsigned *layout,
                        unsigned *channels)
{
    return effective(s, p, layout, channels);
}

int isec_vcs_binarize(const isec_vcs_image *secret, const isec_vcs_params *p, uint8_t *planes)
{
    unsigned layout, ch;
    int rc = effective(secret, p, &layout, &ch);
    if (rc < 0 || !planes || !secret->pixels) return rc < 0 ? rc : ISEC_EINVAL;
    const uint32_t w = secret->width, h = secret->height;
    if (!w || !h) return ISEC_EINVAL;
    if (w > ISEC_VCS_MAX_DIM || h > ISEC_VCS_MAX_DIM || (uint64_t)w * h > ISEC_VCS_MAX_PIXELS)
        return ISEC_ELIMIT;
    const size_t n = (size_t)w * h;
    const unsigned sc = secret->channels;
    const uint8_t *px = secret->pixels;
    if (layout == ISEC_VCS_LAYOUT_PLANES) {
        for (unsigned c = 0; c < sc; c++)
            for (unsigned k = 0; k < 8; k++) {
                uint8_t *pl = planes + (size_t)(c * 8 + k) * n;
                for (size_t i = 0; i < n; i++)
                    pl[i] = (uint8_t)(((255u - px[i * sc + c]) >> (7 - k)) & 1u);
            }
        return 0;
    }
    uint8_t *chan = malloc(n);
    if (!chan) return ISEC_ENOMEM;
    unsigned nch = layout == ISEC_VCS_LAYOUT_CMY ? 3 : 1;
    for (unsigned c = 0; c < nch && rc == 0; c++) {
        for (size_t i = 0; i < n; i++) {
            if (sc == 1) chan[i] = px[i];
            else if (nch == 3) chan[i] = px[i * 3 + c];
            else /* Rec. 601 luma of the codes */
                chan[i] = (uint8_t)((299u * px[i * 3] + 587u * px[i * 3 + 1] + 114u * px[i * 3 + 2] + 500u) / 1000u);
        }
        rc = isec_vcs_halftone(chan, w, h, p, planes + (size_t)c * n);
    }
    free(chan);
    return rc;
}

/* vcs_tables OUTDIR WATERMARK.pgm GRAYSAMPLE.pgm IMAGE.ppm...: the experiments behind docs/vcs/
 * (run by scripts/vcs-experiments, which converts the images with netpbm). Prints markdown
 * tables; writes pictures as PGM/PPM into OUTDIR. Fixed seeds: the output is reproducible.
 *
 * Measures (all on the 8-bit values 0/255 of binary images unless stated):
 *  PSNR(X, Y) = 10 log10(255^2 / MSE); for colour, the mean of the three channels' PSNR (the
 *    paper's convention, 3.3). inf when identical.
 *  agreement = fraction of pixels where the recovered binary image equals the halftone.
 *  contrast = P(recovered white | halftone white) - P(recovered white | halftone black).
 *  leakage: plug-in mutual information between the secret 2x2 block pattern (16 values) and one
 *    participant's view of the block, bits per block; pixel guess = accuracy of the best guess of
 *    each secret pixel from that view (Bayes rule on the empirical joint counts) vs the best
 *    guess without it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imgsec/vcs.h"

typedef struct {
    uint32_t w, h;
    unsigned ch;
    uint8_t *px;
    char name[64];
} image;

static int read_pnm(const char *path, image *im)
{
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    char magic[3] = {0};
    unsigned maxv = 0;
    if (fscanf(f, "%2s %u %u %u", magic, &im->w, &im->h, &maxv) != 4 || maxv != 255 ||
        fgetc(f) == EOF) {
        fclose(f);
        return -1;
    }
    im->ch = !strcmp(magic, "P6") ? 3 : !strcmp(magic, "P5") ? 1 : 0;
    size_t n = (size_t)im->w * im->h * im->ch;
    im->px = im->ch ? malloc(n) : NULL;
    int ok = im->px && fread(im->px, 1, n, f) == n;
    fclose(f);
    const char *b = strrchr(path, '/');
    snprintf(im->name, sizeof im->name, "%s", b ? b + 1 : path);
    char *dot = strrchr(im->name, '.');
    if (dot) *dot = 0;
    return ok ? 0 : -1;
}

static void write_pnm(const char *dir, const char *name, uint32_t w, uint32_t h, unsigned ch,
                      const uint8_t *px)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.%s", dir, name, ch == 3 ? "ppm" : "pgm");
    FILE *f = fopen(path, "wb");
    if (!f) return;
    fprintf(f, "P%c\n%u %u\n255\n", ch == 3 ? '6' : '5', w, h);
    fwrite(px, 1, (size_t)w * h * ch, f);
    fclose(f);
}

static double psnr1(const uint8_t *a, const uint8_t *b, size_t n, size_t stride, size_t off)
{
    double se = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)a[i * stride + off] - (double)b[i * stride + off];
        se += d * d;
    }
    return se == 0 ? INFINITY : 10 * log10(255.0 * 255.0 * (double)n / se);
}

static double psnr(const uint8_t *a, const uint8_t *b, size_t n, unsigned ch)
{
    double s = 0;
    for (unsigned c = 0; c < ch; c++) s += psnr1(a, b, n, ch, c);
    return s / ch;
}

static double srgb_to_lin(double c)
{
    c /= 255.0;
    return c <= 0.04045 ? c / 12.92 : pow((c + 0.055) / 1.055, 2.4);
}

static double lin_to_srgb(double l)
{
    l = l < 0 ? 0 : l > 1 ? 1 : l;
    return 255.0 * (l <= 0.0031308 ? 12.92 * l : 1.055 * pow(l, 1 / 2.4) - 0.055);
}

/* PSNR after a 5x5 Gaussian blur (sigma 1.5 px) of both images: a crude model of viewing from
 * a distance, where a halftone's dots merge into tones. The eye averages light, not sRGB codes:
 * both images are decoded to linear light (IEC 61966-2-1), blurred there, and encoded back to
 * sRGB codes before the PSNR - a 50% dot pattern then reads as code 188, the gray it looks like,
 * not 128. Mean over channels. (Until 2026-11-23 this blurred the codes themselves, which made
 * every linear-light halftone look 2-3 times too dark to the measure.) */
static double psnr_blur(const uint8_t *a, const uint8_t *b, uint32_t w, uint32_t h, unsigned ch)
{
    double lut[256];
    for (int v = 0; v < 256; v++) lut[v] = srgb_to_lin(v);
    double k[5], ks = 0;
    for (int i = -2; i <= 2; i++) ks += k[i + 2] = exp(-(double)(i * i) / (2 * 1.5 * 1.5));
    for (int i = 0; i < 5; i++) k[i] /= ks;
    size_t n = (size_t)w * h;
    double *t = malloc(n * sizeof *t), *fa = malloc(n * sizeof *fa), *fb = malloc(n * sizeof *fb);
    double total = 0;
    for (unsigned c = 0; c < ch; c++) {
        for (int pass = 0; pass < 2; pass++) {
            const uint8_t *src = pass ? b : a;
            double *dst = pass ? fb : fa;
            for (uint32_t y = 0; y < h; y++)
                for (uint32_t x = 0; x < w; x++) {
                    double s = 0;
                    for (int i = -2; i <= 2; i++) {
                        int xx = (int)x + i;
                        xx = xx < 0 ? 0 : xx >= (int)w ? (int)w - 1 : xx;
                        s += k[i + 2] * lut[src[((size_t)y * w + (size_t)xx) * ch + c]];
                    }
                    t[(size_t)y * w + x] = s;
                }
            for (uint32_t y = 0; y < h; y++)
                for (uint32_t x = 0; x < w; x++) {
                    double s = 0;
                    for (int i = -2; i <= 2; i++) {
                        int yy = (int)y + i;
                        yy = yy < 0 ? 0 : yy >= (int)h ? (int)h - 1 : yy;
                        s += k[i + 2] * t[(size_t)yy * w + x];
                    }
                    dst[(size_t)y * w + x] = lin_to_srgb(s);
                }
        }
        double se = 0;
        for (size_t i = 0; i < n; i++) se += (fa[i] - fb[i]) * (fa[i] - fb[i]);
        total += se == 0 ? 99.0 : 10 * log10(255.0 * 255.0 * (double)n / se);
    }
    free(t);
    free(fa);
    free(fb);
    return total / ch;
}

static void fmt_db(char *out, double v)
{
    if (isinf(v)) snprintf(out, 16, "inf");
    else snprintf(out, 16, "%.2f", v);
}

static const uint8_t key[ISEC_VCS_KEY_LEN] = "vcs-experiments: fixed table key";

static isec_vcs_params params(unsigned mode, unsigned layout, unsigned fill, const char *seed)
{
    isec_vcs_params p;
    isec_vcs_params_init(&p);
    p.mode = mode;
    p.layout = layout;
    p.white_fill = fill;
    p.seed = (const uint8_t *)seed;
    p.seed_len = strlen(seed);
    return p;
}

/* Salt and pepper: each sheet pixel becomes opaque black or white with probability d. */
static void salt_pepper(isec_vcs_share *s, double d, uint64_t seed)
{
    const isec_vcs_share_info *in = isec_vcs_share_get_info(s);
    size_t n = (size_t)in->width * in->height;
    uint64_t x = seed * 2654435761u + 1;
    uint64_t thr = (uint64_t)(d * 4294967296.0);
    for (unsigned pl = 0; pl < in->nplanes; pl++)
        for (unsigned sh = 0; sh < 4; sh++) {
            uint8_t *p = isec_vcs_share_sheet(s, pl, sh);
            for (size_t i = 0; i < n; i++) {
                x = x * 6364136223846793005ull + 1442695040888963407ull;
                if ((x >> 32) < thr) p[i] = (x >> 20) & 1 ? ISEC_VCS_PX_K : ISEC_VCS_PX_W;
            }
        }
}

/* One participant's view of a block in exact mode: which of its sheets holds each pixel's dot. */
static unsigned view_code(const isec_vcs_share *s, size_t idx[4])
{
    unsigned code = 0;
    for (unsigned j = 0; j < 4; j++) {
        unsigned which = 0;
        for (unsigned k = 0; k < 4; k++)
            if (isec_vcs_share_sheet_const(s, 0, k)[idx[j]] != ISEC_VCS_PX_T) which = k;
        code = code * 4 + which;
    }
    return code;
}

typedef struct {
    double counts[16][256]; /* pattern x view */
} leak_acc;

static double entropy(const double *p, size_t n, double tot)
{
    double h = 0;
    for (size_t i = 0; i < n; i++)
        if (p[i] > 0) h -= p[i] / tot * log2(p[i] / tot);
    return h;
}

static void leak_report(const char *what, const leak_acc *L)
{
    double tot = 0, pp[16] = {0}, pv[256] = {0}, joint[16 * 256];
    for (unsigned q = 0; q < 16; q++)
        for (unsigned v = 0; v < 256; v++) {
            double c = L->counts[q][v];
            tot += c;
            pp[q] += c;
            pv[v] += c;
            joint[q * 256 + v] = c;
        }
    double hp = entropy(pp, 16, tot), hv = entropy(pv, 256, tot), hj = entropy(joint, 16 * 256, tot);
    double mi = hp + hv - hj;
    /* Pixel guess: for each view and pixel position, guess the majority colour. Balanced: the
     * same with black and white pixels weighted equally, 1/2 + TV/2 (50% = nothing learned). */
    double right = 0, base = 0, bal = 0;
    for (unsigned j = 0; j < 4; j++) {
        double b0 = 0, b1 = 0;
        for (unsigned v = 0; v < 256; v++) {
            double c0 = 0, c1 = 0;
            for (unsigned q = 0; q < 16; q++) {
                if ((q >> j) & 1) c1 += L->counts[q][v];
                else c0 += L->counts[q][v];
            }
            right += c0 > c1 ? c0 : c1;
            b0 += c0;
            b1 += c1;
        }
        base += b0 > b1 ? b0 : b1;
        double tv = 0;
        for (unsigned v = 0; v < 256; v++) {
            double c0 = 0, c1 = 0;
            for (unsigned q = 0; q < 16; q++) {
                if ((q >> j) & 1) c1 += L->counts[q][v];
                else c0 += L->counts[q][v];
            }
            tv += fabs(c0 / b0 - c1 / b1);
        }
        bal += 0.5 + tv / 4;
    }
    printf("| %s | %.3f | %.3f | %.1f%% | %.1f%% | %.1f%% |\n", what, hp, mi, 100 * right / (4 * tot),
           100 * base / (4 * tot), 100 * bal / 4);
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: vcs_tables OUTDIR WATERMARK.pgm GRAY.pgm IMAGE.ppm...\n");
        return 2;
    }
    const char *out = argv[1];
    image wmimg;
    if (read_pnm(argv[2], &wmimg) < 0 || wmimg.ch != 1) {
        fprintf(stderr, "%s: need an 8-bit PGM watermark\n", argv[2]);
        return 1;
    }
    isec_vcs_watermark wm = {wmimg.w, wmimg.h, malloc((size_t)wmimg.w * wmimg.h)};
    for (size_t i = 0; i < (size_t)wmimg.w * wmimg.h; i++) wm.bits[i] = wmimg.px[i] < 128;
    const int nimg = argc - 3;
    image *imgs = calloc((size_t)nimg, sizeof *imgs);
    for (int i = 0; i < nimg; i++)
        if (read_pnm(argv[3 + i], &imgs[i]) < 0) {
            fprintf(stderr, "%s: cannot read (8-bit P5/P6)\n", argv[3 + i]);
            return 1;
        }
    static leak_acc leakA[2], leakB[2];
    double sec_counts[2][81][2];
    memset(sec_counts, 0, sizeof sec_counts);

    /* ---- Table 4: gray ---- */
    printf("## Table 4: gray images (halftone: Floyd-Steinberg, linear light, threshold 128)\n\n");
    printf("| image | size | white blocks | exact 3B1W PSNR / agree / contrast | exact 1B3W PSNR / agree / contrast | secure PSNR / agree / contrast |\n");
    printf("|---|---|---|---|---|---|\n");
    for (int ii = 0; ii < nimg; ii++) {
        image *im = &imgs[ii];
        const size_t n = (size_t)im->w * im->h;
        isec_vcs_image sec = {im->w, im->h, im->ch, im->px};
        isec_vcs_params p = params(0, ISEC_VCS_LAYOUT_GRAY, 0, "t4");
        uint8_t *H = malloc(n), *R = malloc(n), *show = malloc(n);
        isec_vcs_binarize(&sec, &p, H);
        size_t wb = 0, nb = (size_t)(im->w / 2) * (im->h / 2);
        for (uint32_t by = 0; by < im->h / 2; by++)
            for (uint32_t bx = 0; bx < im->w / 2; bx++) {
                size_t i = (size_t)2 * by * im->w + 2 * bx;
                wb += !H[i] && !H[i + 1] && !H[i + im->w] && !H[i + im->w + 1];
            }
        printf("| %s | %ux%u | %.1f%% |", im->name, im->w, im->h, 100.0 * (double)wb / (double)nb);
        for (int v = 0; v < 3; v++) {
            isec_vcs_params q = params(v == 2, ISEC_VCS_LAYOUT_GRAY, v == 1, "t4");
            isec_vcs_share *a, *b;
            if (isec_vcs_split_planes(H, im->w, im->h, ISEC_VCS_LAYOUT_GRAY, 1, &q, key, &wm, &a, &b) < 0)
                return 1;
            isec_vcs_stack_plane(a, b, 0, R);
            double agree = 0, ww = 0, nw = 0, wbk = 0, nbk = 0;
            for (size_t i = 0; i < n; i++) {
                agree += H[i] == R[i];
                if (!H[i]) nw++, ww += !R[i];
                else nbk++, wbk += !R[i];
            }
            double ps = -10 * log10(1 - agree / (double)n);
            char pb[16];
            fmt_db(pb, agree == (double)n ? INFINITY : ps);
            printf(" %s dB / %.2f%% / %.3f |", pb, 100 * agree / (double)n,
                   (nw > 0 ? ww / nw : 0) - (nbk > 0 ? wbk / nbk : 0));
            /* leakage accumulation */
            if (v < 2) {
                for (uint32_t by = 0; by < im->h / 2; by++)
                    for (uint32_t bx = 0; bx < im->w / 2; bx++) {
                        size_t i0 = (size_t)2 * by * im->w + 2 * bx;
                        size_t idx[4] = {i0, i0 + 1, i0 + im->w, i0 + im->w + 1};
                        unsigned q4 = (unsigned)(H[idx[0]] | H[idx[1]] << 1 | H[idx[2]] << 2 | H[idx[3]] << 3);
                        leakA[v].counts[q4][view_code(a, idx)] += 1;
                        leakB[v].counts[q4][view_code(b, idx)] += 1;
                    }
            } else {
                for (int part = 0; part < 2; part++) {
                    const isec_vcs_share *s = part ? b : a;
                    for (size_t i = 0; i < n; i++) {
                        unsigned c = 0;
                        for (unsigned k = 0; k < 4; k++) c = c * 3 + isec_vcs_share_sheet_const(s, 0, k)[i];
                        sec_counts[part][c][H[i]] += 1;
                    }
                }
            }
            if (ii == 0) {
                static const char *const names[3] = {"exact-3b1w", "exact-1b3w", "secure"};
                char nm[128];
                for (size_t i = 0; i < n; i++) show[i] = R[i] ? 0 : 255;
                snprintf(nm, sizeof nm, "%s-gray-%s", im->name, names[v]);
                write_pnm(out, nm, im->w, im->h, 1, show);
                if (v == 0 || v == 2) {
                    /* What participant A holds: its 4 sheets stacked alone, and its bottom
                     * sheet (transparent shown as mid gray). */
                    for (int part = 0; part < 2; part++) {
                        const isec_vcs_share *s = part ? b : a;
                        const uint8_t *s0 = isec_vcs_share_sheet_const(s, 0, 0);
                        for (size_t i = 0; i < n; i++)
                            show[i] = s0[i] == ISEC_VCS_PX_K ? 0 : s0[i] == ISEC_VCS_PX_W ? 255 : 128;
                        snprintf(nm, sizeof nm, "%s-gray-%s-%c-sheet0", im->name, names[v], part ? 'b' : 'a');
                        write_pnm(out, nm, im->w, im->h, 1, show);
                    }
                }
            }
            isec_vcs_share_free(a);
            isec_vcs_share_free(b);
        }
        printf("\n");
        if (ii == 0) {
            char nm[128];
            snprintf(nm, sizeof nm, "%s-gray-original", im->name);
            if (im->ch == 1) write_pnm(out, nm, im->w, im->h, 1, im->px);
            for (size_t i = 0; i < n; i++) show[i] = H[i] ? 0 : 255;
            snprintf(nm, sizeof nm, "%s-gray-halftone", im->name);
            write_pnm(out, nm, im->w, im->h, 1, show);
        }
        free(H);
        free(R);
        free(show);
    }

    /* ---- Gamma: the same with the codes diffused as they are (--gamma srgb) ---- */
    printf("\n### Gamma: linear light (default) against sRGB codes (`--gamma srgb`, the paper's way)\n\n");
    printf("| image | black pixels linear / srgb | white blocks linear / srgb | exact 3B1W PSNR linear / srgb | exact 1B3W PSNR linear / srgb | secure PSNR linear / srgb |\n");
    printf("|---|---|---|---|---|---|\n");
    for (int ii = 0; ii < nimg; ii++) {
        image *im = &imgs[ii];
        const size_t n = (size_t)im->w * im->h;
        isec_vcs_image sec = {im->w, im->h, im->ch, im->px};
        double blackf[2], whiteb[2], ps[3][2];
        for (unsigned g = 0; g < 2; g++) {
            isec_vcs_params p = params(0, ISEC_VCS_LAYOUT_GRAY, 0, "gamma");
            p.gamma = g ? ISEC_VCS_GAMMA_SRGB : ISEC_VCS_GAMMA_LINEAR;
            uint8_t *H = malloc(n), *R = malloc(n);
            isec_vcs_binarize(&sec, &p, H);
            size_t nb = 0, wb = 0, blk = 0;
            for (size_t i = 0; i < n; i++) blk += H[i];
            for (uint32_t by = 0; by < im->h / 2; by++)
                for (uint32_t bx = 0; bx < im->w / 2; bx++) {
                    size_t i = (size_t)2 * by * im->w + 2 * bx;
                    nb++;
                    wb += !H[i] && !H[i + 1] && !H[i + im->w] && !H[i + im->w + 1];
                }
            blackf[g] = 100.0 * (double)blk / (double)n;
            whiteb[g] = 100.0 * (double)wb / (double)nb;
            for (int v = 0; v < 3; v++) {
                isec_vcs_params q = params(v == 2, ISEC_VCS_LAYOUT_GRAY, v == 1, "gamma");
                isec_vcs_share *a, *b;
                if (isec_vcs_split_planes(H, im->w, im->h, ISEC_VCS_LAYOUT_GRAY, 1, &q, key, &wm, &a, &b) < 0)
                    return 1;
                isec_vcs_stack_plane(a, b, 0, R);
                double diff = 0;
                for (size_t i = 0; i < n; i++) diff += H[i] != R[i];
                ps[v][g] = diff == 0 ? INFINITY : -10 * log10(diff / (double)n);
                isec_vcs_share_free(a);
                isec_vcs_share_free(b);
            }
            free(H);
            free(R);
        }
        char t[6][16];
        for (int v = 0; v < 3; v++) {
            fmt_db(t[2 * v], ps[v][0]);
            fmt_db(t[2 * v + 1], ps[v][1]);
        }
        printf("| %s | %.1f%% / %.1f%% | %.1f%% / %.1f%% | %s / %s | %s / %s | %s / %s |\n", im->name,
               blackf[0], blackf[1], whiteb[0], whiteb[1], t[0], t[1], t[2], t[3], t[4], t[5]);
    }

    /* ---- Leakage ---- */
    printf("\n## What one participant's sheets leak\n\n");
    printf("Exact mode, all gray images above pooled: H(P) is the entropy of the secret 2x2 "
           "pattern; I(P;V) the mutual information with one participant's view (which of its 4 "
           "sheets holds each pixel's dot).\n\n");
    printf("| sheets | H(P) bits/block | I(P;V) bits/block | pixel guess with view | without | balanced guess with view |\n");
    printf("|---|---|---|---|---|---|\n");
    leak_report("exact 3B1W, A", &leakA[0]);
    leak_report("exact 3B1W, B", &leakB[0]);
    leak_report("exact 1B3W, A", &leakA[1]);
    leak_report("exact 1B3W, B", &leakB[1]);
    printf("\nSecure mode, per pixel (view: the 4-sheet tuple, 81 values):\n\n");
    printf("| sheets | I(pixel; view) bits/pixel | Miller-Madow bias estimate | pixel guess with view | without | balanced guess with view |\n");
    printf("|---|---|---|---|---|---|\n");
    for (int part = 0; part < 2; part++) {
        double tot = 0, px[2] = {0, 0}, pv[81] = {0}, j[162], right = 0;
        unsigned cells = 0, rows = 0;
        for (unsigned c = 0; c < 81; c++) {
            for (unsigned s = 0; s < 2; s++) {
                double v = sec_counts[part][c][s];
                j[c * 2 + s] = v;
                tot += v;
                px[s] += v;
                pv[c] += v;
                cells += v > 0;
            }
            rows += pv[c] > 0;
            right += sec_counts[part][c][0] > sec_counts[part][c][1] ? sec_counts[part][c][0] : sec_counts[part][c][1];
        }
        double mi = entropy(px, 2, tot) + entropy(pv, 81, tot) - entropy(j, 162, tot), tv = 0;
        for (unsigned c = 0; c < 81; c++) tv += fabs(sec_counts[part][c][0] / px[0] - sec_counts[part][c][1] / px[1]);
        double bias = ((double)cells - rows - 2 + 1) / (2 * tot * log(2));
        printf("| secure, %c | %.6f | %.6f | %.2f%% | %.2f%% | %.2f%% |\n", part ? 'B' : 'A', mi, bias,
               100 * right / tot, 100 * (px[0] > px[1] ? px[0] : px[1]) / tot, 100 * (0.5 + tv / 4));
    }

    /* What A alone can infer about the first image: per pixel, P(white | A's view) from the
     * pooled counts, as a gray level (exact 3B1W, and secure). */
    {
        image *im = &imgs[0];
        const size_t n = (size_t)im->w * im->h;
        isec_vcs_image sec = {im->w, im->h, im->ch, im->px};
        isec_vcs_params p = params(0, ISEC_VCS_LAYOUT_GRAY, 0, "t4");
        uint8_t *H = malloc(n), *show = malloc(n);
        isec_vcs_binarize(&sec, &p, H);
        for (int v = 0; v < 2; v++) {
            isec_vcs_params q = params(v ? ISEC_VCS_SECURE : ISEC_VCS_EXACT, ISEC_VCS_LAYOUT_GRAY, 0, "infer");
            isec_vcs_share *a, *b;
            if (isec_vcs_split_planes(H, im->w, im->h, ISEC_VCS_LAYOUT_GRAY, 1, &q, key, &wm, &a, &b) < 0)
                return 1;
            memset(show, 128, n);
            for (uint32_t by = 0; by < im->h / 2; by++)
                for (uint32_t bx = 0; bx < im->w / 2; bx++) {
                    size_t i0 = (size_t)2 * by * im->w + 2 * bx;
                    size_t idx[4] = {i0, i0 + 1, i0 + im->w, i0 + im->w + 1};
                    unsigned vc = v ? 0 : view_code(a, idx);
                    for (unsigned j = 0; j < 4; j++) {
                        double c0 = 0, c1 = 0;
                        if (!v) {
                            for (unsigned q4 = 0; q4 < 16; q4++) {
                                if ((q4 >> j) & 1) c1 += leakA[0].counts[q4][vc];
                                else c0 += leakA[0].counts[q4][vc];
                            }
                        } else {
                            unsigned c = 0;
                            for (unsigned k = 0; k < 4; k++) c = c * 3 + isec_vcs_share_sheet_const(a, 0, k)[idx[j]];
                            c0 = sec_counts[0][c][0];
                            c1 = sec_counts[0][c][1];
                        }
                        show[idx[j]] = (uint8_t)(c0 + c1 > 0 ? 255.0 * c0 / (c0 + c1) + 0.5 : 128);
                    }
                }
            /* 5x5 box average, then stretched to 0..255: what A sees after smoothing its guesses. */
            double *sm = malloc(n * sizeof *sm), lo = 1e9, hi = -1e9;
            for (uint32_t y = 0; y < im->h; y++)
                for (uint32_t x = 0; x < im->w; x++) {
                    double acc = 0;
                    int cnt = 0;
                    for (int dy = -2; dy <= 2; dy++)
                        for (int dx = -2; dx <= 2; dx++) {
                            int xx = (int)x + dx, yy = (int)y + dy;
                            if (xx < 0 || yy < 0 || xx >= (int)im->w || yy >= (int)im->h) continue;
                            acc += show[(size_t)yy * im->w + (size_t)xx];
                            cnt++;
                        }
                    sm[(size_t)y * im->w + x] = acc / cnt;
                }
            for (size_t i = 0; i < n; i++) {
                if (sm[i] < lo) lo = sm[i];
                if (sm[i] > hi) hi = sm[i];
            }
            for (size_t i = 0; i < n; i++)
                show[i] = (uint8_t)(hi > lo ? 255.0 * (sm[i] - lo) / (hi - lo) + 0.5 : 128);
            free(sm);
            char nm[128];
            snprintf(nm, sizeof nm, "%s-what-A-infers-%s", im->name, v ? "secure" : "exact");
            write_pnm(out, nm, im->w, im->h, 1, show);
            isec_vcs_share_free(a);
            isec_vcs_share_free(b);
        }
        free(H);
        free(show);
    }
    printf("\nPictures `%s-what-A-infers-exact.png` and `-secure.png`: each pixel shows P(white | A's sheets) "
           "estimated from the pooled counts above, averaged over 5x5 pixels and stretched to the full gray range.\n", imgs[0].name);

    /* ---- Table 5: colour ---- */
    printf("\n## Table 5: colour images\n\nPSNR against the original, dB, mean of the R, G, B channels' PSNR "
           "(MAX 255, the paper's convention).\n\n### Bit-plane mode (24 planes, no halftone)\n\n"
           "Plain PSNR (the planes reproduce the 8-bit codes, so no blur is needed). *paper*: every plane "
           "shared as it is (each plane split on its own as a gray layout, as the paper describes); "
           "*polarity*: our split, which shares a plane inverted when that makes the pixels stacking can "
           "lose the rarer ones (docs/vcs.md, Colour). Exact mode loses the all-white 2x2 blocks of each "
           "plane (replaced by the fill), secure mode 1/8 of each plane's white pixels.\n\n");
    printf("| image | exact 3B1W paper / polarity | exact 1B3W paper / polarity | secure paper / polarity |\n");
    printf("|---|---|---|---|\n");
    for (int ii = 0; ii < nimg; ii++) {
        image *im = &imgs[ii];
        if (im->ch != 3) continue;
        const size_t n = (size_t)im->w * im->h;
        isec_vcs_image sec = {im->w, im->h, 3, im->px};
        uint8_t *R = malloc(n * 3), *pl = malloc(n * 24), *st = malloc(n);
        printf("| %s |", im->name);
        for (int v = 0; v < 3; v++) {
            isec_vcs_params p = params(v == 2, ISEC_VCS_LAYOUT_PLANES, v == 1, "t5");
            char pb[16], pc[16];
            /* paper: each plane alone (gray layout: no polarity) */
            isec_vcs_binarize(&sec, &p, pl);
            memset(R, 0, n * 3);
            for (unsigned k = 0; k < 24; k++) {
                isec_vcs_share *a, *b;
                if (isec_vcs_split_planes(pl + k * n, im->w, im->h, ISEC_VCS_LAYOUT_GRAY, 1, &p, key, &wm,
                                          &a, &b) < 0)
                    return 1;
                isec_vcs_stack_plane(a, b, 0, st);
                for (size_t i = 0; i < n; i++) R[i * 3 + k / 8] |= (uint8_t)(st[i] << (7 - k % 8));
                isec_vcs_share_free(a);
                isec_vcs_share_free(b);
            }
            for (size_t i = 0; i < n * 3; i++) R[i] = (uint8_t)(255u - R[i]);
            fmt_db(pb, psnr(im->px, R, n, 3));
            if (!strcmp(im->name, "astronaut") && v < 2) {
                char nm[128];
                snprintf(nm, sizeof nm, "%s-color-planes-%s-paper", im->name, v ? "exact-1b3w" : "exact-3b1w");
                write_pnm(out, nm, im->w, im->h, 3, R);
            }
            isec_vcs_share *a, *b;
            if (isec_vcs_split(&sec, &p, key, &wm, &a, &b) < 0) return 1;
            isec_vcs_stack(a, b, 0, R, n * 3);
            fmt_db(pc, psnr(im->px, R, n, 3));
            printf(" %s / %s |", pb, pc);
            if (!strcmp(im->name, "astronaut")) {
                static const char *const names[3] = {"planes-exact-3b1w", "planes-exact-1b3w", "planes-secure"};
                char nm[128];
                snprintf(nm, sizeof nm, "%s-color-%s", im->name, names[v]);
                write_pnm(out, nm, im->w, im->h, 3, R);
            }
            isec_vcs_share_free(a);
            isec_vcs_share_free(b);
        }
        printf("\n");
        free(R);
        free(pl);
        free(st);
    }
    printf("\n### Halftone mode (C, M, Y error-diffused in linear light, 3 planes)\n\n"
           "plain / eye: *plain* is the PSNR of the binary picture against the original - near 8 dB for "
           "any halftone, it measures dot noise, not what is seen; *eye* blurs both images with a 5x5 "
           "Gaussian (sigma 1.5 px) in linear light and compares the sRGB codes of the result (a crude "
           "model of viewing from a distance). *vs halftone*: the recovered picture against the CMY "
           "halftone itself (what the VCS loses; inf = identical).\n\n");
    printf("| image | CMY halftone, no VCS: plain / eye | exact 3B1W: plain / eye / vs halftone | exact 1B3W: "
           "plain / eye / vs halftone | secure: plain / eye / vs halftone |\n|---|---|---|---|---|\n");
    for (int ii = 0; ii < nimg; ii++) {
        image *im = &imgs[ii];
        if (im->ch != 3) continue;
        const size_t n = (size_t)im->w * im->h;
        isec_vcs_image sec = {im->w, im->h, 3, im->px};
        uint8_t *R = malloc(n * 3), *HT = malloc(n * 3), *H = malloc(n * 3);
        printf("| %s |", im->name);
        isec_vcs_params p0 = params(0, ISEC_VCS_LAYOUT_CMY, 0, "t5");
        isec_vcs_binarize(&sec, &p0, H);
        for (size_t i = 0; i < n; i++)
            for (unsigned c = 0; c < 3; c++) HT[i * 3 + c] = H[c * n + i] ? 0 : 255;
        char pb[16];
        fmt_db(pb, psnr(im->px, HT, n, 3));
        printf(" %s / %.2f |", pb, psnr_blur(im->px, HT, im->w, im->h, 3));
        for (int v = 0; v < 3; v++) {
            isec_vcs_params p = params(v == 2, ISEC_VCS_LAYOUT_CMY, v == 1, "t5");
            isec_vcs_share *a, *b;
            char pv[16];
            if (isec_vcs_split(&sec, &p, key, &wm, &a, &b) < 0) return 1;
            isec_vcs_stack(a, b, 0, R, n * 3);
            fmt_db(pb, psnr(im->px, R, n, 3));
            fmt_db(pv, psnr(HT, R, n, 3));
            printf(" %s / %.2f / %s |", pb, psnr_blur(im->px, R, im->w, im->h, 3), pv);
            if (!strcmp(im->name, "astronaut") && v > 0) {
                char nm[128];
                snprintf(nm, sizeof nm, "%s-color-cmy-%s", im->name, v == 1 ? "exact-1b3w" : "secure");
                write_pnm(out, nm, im->w, im->h, 3, R);
            }
            isec_vcs_share_free(a);
            isec_vcs_share_free(b);
        }
        printf("\n");
        free(R);
        free(HT);
        free(H);
    }
    /* Progressive recovery (planes mode): the first colour image, top k bit planes. */
    for (int ii = 0; ii < nimg; ii++) {
        image *im = &imgs[ii];
        if (im->ch != 3) continue;
        const size_t n = (size_t)im->w * im->h;
        isec_vcs_image sec = {im->w, im->h, 3, im->px};
        uint8_t *R = malloc(n * 3);
        printf("\nProgressive recovery, %s, planes mode: PSNR against the original when only the top k "
               "bit planes of each channel are stacked.\n\n| k | exact 3B1W | exact 1B3W | secure | "
               "original truncated to k bits (no VCS) |\n|---|---|---|---|---|\n", im->name);
        isec_vcs_share *sh[3][2];
        for (int v = 0; v < 3; v++) {
            isec_vcs_params p = params(v == 2, ISEC_VCS_LAYOUT_PLANES, v == 1, "prog");
            isec_vcs_image s2 = sec;
            if (isec_vcs_split(&s2, &p, key, &wm, &sh[v][0], &sh[v][1]) < 0) return 1;
        }
        for (unsigned k = 1; k <= 8; k++) {
            printf("| %u |", k);
            for (int v = 0; v < 3; v++) {
                char pb[16];
                isec_vcs_stack(sh[v][0], sh[v][1], k, R, n * 3);
                fmt_db(pb, psnr(im->px, R, n, 3));
                printf(" %s |", pb);
                if (v == 1 && (k == 1 || k == 2 || k == 4)) {
                    char nm[128];
                    snprintf(nm, sizeof nm, "%s-progressive-%ubits", im->name, k);
                    write_pnm(out, nm, im->w, im->h, 3, R);
                }
            }
            /* reference: ink truncated to k bits, as the stack computes it */
            for (size_t i = 0; i < n * 3; i++) {
                unsigned ink = 255u - im->px[i];
                R[i] = (uint8_t)(255u - (ink & (0xffu << (8 - k))));
            }
            char pb[16];
            fmt_db(pb, psnr(im->px, R, n, 3));
            printf(" %s |\n", pb);
        }
        for (int v = 0; v < 3; v++) {
            isec_vcs_share_free(sh[v][0]);
            isec_vcs_share_free(sh[v][1]);
        }
        free(R);
        break;
    }

    /* ---- Table 6: watermark robustness ---- */
    static const double dens[] = {0, 0.001, 0.005, 0.01, 0.02, 0.05};
    printf("\n## Table 6: zero watermark under salt-and-pepper noise on the sheets\n\n");
    printf("Watermark %ux%u (tiled over the 2x2 block grid). Noise: every sheet pixel of both "
           "participants becomes opaque black or white with probability d. NC / BER of the "
           "extracted watermark; invalid = blocks the noise made unreadable (not voted); PSNR = recovered vs halftone (dB) after the attack.\n\n",
           wm.width, wm.height);
    printf("| image | mode |");
    for (unsigned d = 0; d < sizeof dens / sizeof dens[0]; d++) printf(" d=%g NC / BER / invalid / PSNR |", dens[d]);
    printf("\n|---|---|");
    for (unsigned d = 0; d < sizeof dens / sizeof dens[0]; d++) printf("---|");
    printf("\n");
    for (int ii = 0; ii < nimg; ii++) {
        image *im = &imgs[ii];
        const size_t n = (size_t)im->w * im->h;
        isec_vcs_image sec = {im->w, im->h, im->ch, im->px};
        uint8_t *H = malloc(n), *R = malloc(n);
        isec_vcs_params p0 = params(0, ISEC_VCS_LAYOUT_GRAY, 0, "t6");
        isec_vcs_binarize(&sec, &p0, H);
        for (unsigned mode = 0; mode < 2; mode++) {
            printf("| %s | %s |", im->name, mode ? "secure" : "exact 3B1W");
            for (unsigned d = 0; d < sizeof dens / sizeof dens[0]; d++) {
                isec_vcs_params p = params(mode, ISEC_VCS_LAYOUT_GRAY, 0, "t6");
                isec_vcs_share *a, *b;
                if (isec_vcs_split_planes(H, im->w, im->h, ISEC_VCS_LAYOUT_GRAY, 1, &p, key, &wm, &a, &b) < 0)
                    return 1;
                salt_pepper(a, dens[d], 1000 + d);
                salt_pepper(b, dens[d], 2000 + d);
                isec_vcs_wm_result r;
                uint8_t *bits = malloc((size_t)wm.width * wm.height);
                if (isec_vcs_watermark_extract(a, b, key, &wm, bits, &r) < 0) return 1;
                isec_vcs_stack_plane(a, b, 0, R);
                double diff = 0;
                for (size_t i = 0; i < n; i++) diff += H[i] != R[i];
                char pb[16];
                fmt_db(pb, diff == 0 ? INFINITY : -10 * log10(diff / (double)n));
                printf(" %.3f / %.3f / %.0f%% / %s |", r.nc, r.ber,
                       r.blocks ? 100.0 * (double)r.invalid / (double)r.blocks : 100.0, pb);
                if (ii == 0 && mode == 0 && (d == 0 || d == 4)) {
                    uint8_t *show = malloc((size_t)wm.width * wm.height);
                    for (size_t i = 0; i < (size_t)wm.width * wm.height; i++) show[i] = bits[i] ? 0 : 255;
                    char nm[128];
                    snprintf(nm, sizeof nm, "watermark-extracted-d%g", dens[d]);
                    write_pnm(out, nm, wm.width, wm.height, 1, show);
                    free(show);
                }
                free(bits);
                isec_vcs_share_free(a);
                isec_vcs_share_free(b);
            }
            printf("\n");
        }
        free(H);
        free(R);
    }
    for (int i = 0; i < nimg; i++) free(imgs[i].px);
    free(imgs);
    free(wm.bits);
    free(wmimg.px);
    return 0;
}

/* Helpers for the CCSDS tests (see ccsdstool.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/evp.h>

#include "ccsdstool.h"

void ct_free(ct_img *img)
{
    free(img->px);
    img->px = NULL;
}

int ct_encode(const ct_img *img, const isec_ccsds_params *p, uint8_t **out, size_t *len,
              isec_ccsds_segment **segs, size_t *nsegs)
{
    isec_ccsds_image im = {.width = img->w,
                           .height = img->h,
                           .depth = img->depth,
                           .is_signed = img->is_signed,
                           .pixels = img->px};
    isec_ccsds_enc *e;
    int rc = isec_ccsds_enc_new(&e, &im, p);
    if (rc) return rc;
    size_t n = isec_ccsds_enc_segment_count(e), total = 0, cap = 0;
    uint8_t *buf = NULL;
    isec_ccsds_segment *sg = calloc(n, sizeof *sg);
    for (size_t i = 0; i < n && sg; i++) {
        size_t need = isec_ccsds_enc_segment_bound(e), got;
        uint8_t *nb = realloc(buf, total + need);
        if (!nb) {
            rc = ISEC_ENOMEM;
            break;
        }
        buf = nb;
        cap = total + need;
        rc = isec_ccsds_enc_next(e, buf + total, cap - total, &got, &sg[i]);
        if (rc) break;
        sg[i].offset = total;
        total += got;
    }
    if (!sg) rc = ISEC_ENOMEM;
    isec_ccsds_enc_free(e);
    if (rc) {
        free(buf);
        free(sg);
        return rc;
    }
    *out = buf;
    *len = total;
    if (segs) {
        *segs = sg;
        *nsegs = n;
    } else {
        free(sg);
    }
    return 0;
}

int ct_decode(const uint8_t *in, size_t len, ct_img *img, int *res)
{
    isec_ccsds_dec *d;
    memset(img, 0, sizeof *img);
    if (isec_ccsds_dec_new(&d, NULL)) return -1;
    *res = isec_ccsds_dec_stream(d, in, len);
    int rc = -1;
    if (isec_ccsds_dec_geometry(d, &img->w, &img->h, &img->depth, &img->is_signed) == 0) {
        size_t n = (size_t)img->w * img->h;
        img->px = malloc(sizeof *img->px * (n ? n : 1));
        if (img->px && isec_ccsds_dec_image(d, img->px, n) == 0) rc = 0;
    }
    isec_ccsds_dec_free(d);
    if (rc) ct_free(img);
    return rc;
}

double ct_psnr(const ct_img *a, const ct_img *b)
{
    if (a->w != b->w || a->h != b->h) return -1;
    double se = 0, peak = (double)((1u << a->depth) - 1u);
    size_t n = (size_t)a->w * a->h;
    for (size_t i = 0; i < n; i++) {
        double d = (double)a->px[i] - b->px[i];
        se += d * d;
    }
    if (se == 0) return 999;
    return 10.0 * __builtin_log10(peak * peak / (se / (double)n));
}

int ct_equal(const ct_img *a, const ct_img *b)
{
    return a->w == b->w && a->h == b->h && a->depth == b->depth && a->is_signed == b->is_signed &&
           !memcmp(a->px, b->px, sizeof *a->px * a->w * a->h);
}

int ct_read_pgm(const char *dir, const char *name, ct_img *img)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.pgm", dir, name);
    FILE *f = fopen(path, "rb");
    memset(img, 0, sizeof *img);
    if (!f) return -1;
    unsigned w, h, maxv;
    int rc = -1;
    if (fscanf(f, "P5 %u %u %u", &w, &h, &maxv) == 3 && fgetc(f) != EOF && maxv && maxv < 65536 &&
        w && h && (size_t)w * h < (1u << 28)) {
        size_t n = (size_t)w * h, bps = maxv > 255 ? 2 : 1;
        uint8_t *b = malloc(n * bps);
        img->px = malloc(sizeof *img->px * n);
        if (b && img->px && fread(b, bps, n, f) == n) {
            for (size_t i = 0; i < n; i++)
                img->px[i] = bps == 1 ? b[i] : (int32_t)(b[2 * i] << 8 | b[2 * i + 1]);
            img->w = w;
            img->h = h;
            img->depth = 0;
            while ((1u << img->depth) - 1u < maxv)
                img->depth++;
            rc = 0;
        }
        free(b);
    }
    fclose(f);
    if (rc) ct_free(img);
    return rc;
}

static uint32_t h32(uint32_t kind, uint32_t x, uint32_t y)
{
    uint32_t h = x * 2654435761u + y * 40503u + kind * 97u;
    h ^= h >> 15;
    h *= 2246822519u;
    h ^= h >> 13;
    return h;
}

int ct_synth(const char *name, ct_img *img)
{
    static const struct {
        const char *name;
        uint32_t kind, w, h, depth;
        int sgn;
    } t[] = {{"syn16flat", 1, 200, 120, 16, 0},
             {"syn12", 2, 131, 67, 12, 0},
             {"syns8", 3, 64, 40, 8, 1},
             {"syns16", 4, 97, 33, 16, 1}};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        if (strcmp(name, t[i].name)) continue;
        img->w = t[i].w;
        img->h = t[i].h;
        img->depth = t[i].depth;
        img->is_signed = t[i].sgn;
        img->px = malloc(sizeof *img->px * t[i].w * t[i].h);
        if (!img->px) return -1;
        for (uint32_t y = 0; y < t[i].h; y++)
            for (uint32_t x = 0; x < t[i].w; x++) {
                uint32_t hh = h32(t[i].kind, x, y);
                int32_t v;
                switch (t[i].kind) {
                case 1:
                    v = 40000 + (int32_t)(hh & 7) + (int32_t)(x / 16) * 3;
                    break;
                case 2:
                    v = (int32_t)((x * 13 + y * 7 + (hh & 255)) % 4096);
                    break;
                case 3:
                    v = (int32_t)((x * 5 + y * 3) % 200) - 100 + (int32_t)(hh & 15) - 8;
                    break;
                default:
                    v = (int32_t)((x * x + y * 37) % 60000) - 30000 + (int32_t)(hh & 1023) - 512;
                    break;
                }
                img->px[(size_t)y * t[i].w + x] = v;
            }
        return 0;
    }
    return -1;
}

void ct_random(ct_img *img, uint32_t w, uint32_t h, unsigned depth, int is_signed, int kind,
               uint32_t seed)
{
    img->w = w;
    img->h = h;
    img->depth = depth;
    img->is_signed = is_signed;
    img->px = malloc(sizeof *img->px * w * h);
    int32_t lo = is_signed ? -(1 << (depth - 1)) : 0;
    uint32_t range = 1u << depth;
    for (uint32_t y = 0; y < h; y++)
        for (uint32_t x = 0; x < w; x++) {
            uint32_t r = h32(seed, x, y), v;
            switch (kind) {
            case 0:
                v = r % range;
                break;
            case 1:
                v = (uint32_t)((((uint64_t)x * 3 + y * 5) * range) / (3u * w + 5u * h + 1u)) +
                    (r & 3u);
                break;
            case 2:
                v = ((x / 9 + y / 7) & 1) ? range - 1 - (r & 1u) : (r & 1u);
                break;
            default:
                v = range / 3;
                break;
            }
            if (v >= range) v = range - 1;
            img->px[(size_t)y * w + x] = lo + (int32_t)v;
        }
}

const char *ct_corpus(int *must)
{
    const char *ci = getenv("CI");
    *must = ci && !strcmp(ci, "true");
    const char *d = getenv("ISEC_CCSDS_CORPUS");
    struct stat st;
    if (!d || !*d || stat(d, &st) || !S_ISDIR(st.st_mode)) return NULL;
    return d;
}

void ct_sha256_hex(const uint8_t *d, size_t n, char out[65])
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    EVP_Digest(d, n, md, &mdlen, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

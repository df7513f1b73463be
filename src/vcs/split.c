/* Splitting a secret into the two participants' shares. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include <openssl/crypto.h>

#include "internal.h"

/* Planes are independent (own coins: rng stream 1 + plane; own watermark stream), so they are
 * made by up to `threads` workers, plane i by worker i mod threads: the sheets do not depend on
 * the number of workers. */
typedef struct {
    const uint8_t *planes; /* all planes, or NULL: made here from ink (PLANES layout) */
    const uint8_t *ink;    /* 255 - channel c of the image at ink + c * n */
    size_t n, nblocks;
    const isec_vcs_params *p;
    const isec__vcs_table *t;
    const uint8_t *key, *master;
    const isec_vcs_watermark *wm;
    isec_vcs_share *a, *b;
    unsigned first, step, nplanes;
    int rc;
} job;

static void *run_job(void *arg)
{
    job *j = arg;
    uint8_t *ks = malloc(j->nblocks * 8), *inv = NULL;
    isec__vcs_rng *rng = malloc(sizeof *rng);
    j->rc = ks && rng ? 0 : ISEC_ENOMEM;
    for (unsigned pi = j->first; j->rc == 0 && pi < j->nplanes; pi += j->step) {
        if ((j->rc = isec__vcs_rng_init(rng, j->master, 1 + pi)) < 0) break;
        const uint8_t *pl = j->planes ? j->planes + pi * j->n : NULL;
        const unsigned flip = ((j->a->info.polarity ^ j->b->info.polarity) >> pi) & 1u;
        if (flip || !pl) { /* shared inverted, or the plane is made here */
            if (!inv && !(inv = malloc(j->n))) {
                j->rc = ISEC_ENOMEM;
                isec__vcs_rng_free(rng);
                break;
            }
            if (pl) {
                for (size_t i = 0; i < j->n; i++) inv[i] = !pl[i];
            } else {
                /* bit k of channel c's ink, as isec_vcs_binarize makes it, xor the polarity */
                const unsigned sh = 7 - pi % 8;
                const uint8_t *src = j->ink + (size_t)(pi / 8) * j->n;
                for (size_t i = 0; i < j->n; i++)
                    inv[i] = (uint8_t)(((unsigned)(src[i] >> sh) & 1u) ^ flip);
            }
            pl = inv;
        }
        j->rc = j->p->mode == ISEC_VCS_EXACT
                    ? isec__vcs_exact_split(pl, pi, j->p, j->t, j->key, j->wm, rng, ks, j->a, j->b)
                    : isec__vcs_secure_split(pl, pi, j->key, j->wm, rng, ks, j->a, j->b);
        isec__vcs_rng_free(rng);
    }
    if (ks) OPENSSL_cleanse(ks, j->nblocks * 8);
    if (inv) OPENSSL_cleanse(inv, j->n);
    free(ks);
    free(inv);
    free(rng);
    return NULL;
}

/* PLANES layout: should plane pl be shared inverted? Stacking can lose only white pixels: in
 * exact mode the full blocks that are all white (replaced by the fill), in secure mode each white
 * pixel with probability 1/8. Invert when that makes those the rarer ones. */
static unsigned plane_polarity(const uint8_t *pl, uint32_t w, uint32_t h, unsigned mode)
{
    const size_t n = (size_t)w * h;
    if (mode == ISEC_VCS_SECURE) {
        size_t ones = 0;
        for (size_t i = 0; i < n; i++) ones += pl[i] != 0;
        return ones < n - ones;
    }
    size_t white0 = 0, white1 = 0; /* all-white full blocks as is / inverted */
    for (uint32_t y = 0; y + 1 < h; y += 2) {
        const uint8_t *r0 = pl + (size_t)y * w, *r1 = r0 + w;
        for (uint32_t x = 0; x + 1 < w; x += 2) {
            const unsigned k = (r0[x] != 0) + (r0[x + 1] != 0) + (r1[x] != 0) + (r1[x + 1] != 0);
            white0 += k == 0;
            white1 += k == 4;
        }
    }
    return white1 < white0;
}

/* The same for every plane of an image at once, as the planes isec_vcs_binarize would make
 * (plane 8c + k: bit 7 - k of 255 - channel c), from histograms of the ink values (per pixel for
 * secure mode; per full block of the AND and the OR of its four pixels for exact mode: a plane's
 * block is all black iff its bit is set in the AND, all white iff clear in the OR), without
 * making the planes: one pass over the image instead of one over each plane. */
static uint32_t image_polarity(const isec_vcs_image *img, unsigned mode, size_t *work)
{
    const uint32_t w = img->width, h = img->height;
    const unsigned sc = img->channels;
    const uint8_t *px = img->pixels;
    uint32_t pol = 0;
    for (unsigned c = 0; c < sc; c++) {
        size_t *ha = work, *ho = work + 256; /* secure: ha only, per pixel */
        memset(work, 0, 512 * sizeof *work);
        if (mode == ISEC_VCS_SECURE) {
            const size_t n = (size_t)w * h;
            for (size_t i = 0; i < n; i++) ha[255u - px[i * sc + c]]++;
        } else {
            for (uint32_t y = 0; y + 1 < h; y += 2) {
                const uint8_t *r0 = px + (size_t)y * w * sc + c, *r1 = r0 + (size_t)w * sc;
                for (uint32_t x = 0; x + 1 < w; x += 2) {
                    const unsigned v0 = 255u - r0[x * sc], v1 = 255u - r0[(x + 1) * sc],
                                   v2 = 255u - r1[x * sc], v3 = 255u - r1[(x + 1) * sc];
                    ha[v0 & v1 & v2 & v3]++;
                    ho[v0 | v1 | v2 | v3]++;
                }
            }
        }
        /* set: black pixels (secure) or all-black blocks (exact, from the AND); clear: white
         * pixels, or all-white blocks (from the OR). plane_polarity: set < clear. */
        const size_t *hc = mode == ISEC_VCS_SECURE ? ha : ho;
        for (unsigned k = 0; k < 8; k++) {
            const unsigned bit = 1u << (7 - k);
            size_t set = 0, clear = 0;
            for (unsigned v = 0; v < 256; v++) {
                if (v & bit) set += ha[v];
                else clear += hc[v];
            }
            pol |= (uint32_t)(set < clear) << (c * 8 + k);
        }
    }
    return pol;
}

/* Workers (split and watermark extraction): IMGSEC_VCS_THREADS if set (1..16), else the online
 * CPUs, at most 8 and at most one per plane; and none for small images, where starting threads
 * costs more than it saves. */
unsigned isec__vcs_workers(unsigned nplanes, size_t npix)
{
    const char *e = getenv("IMGSEC_VCS_THREADS");
    long t = e ? strtol(e, NULL, 10) : sysconf(_SC_NPROCESSORS_ONLN);
    if (t < 1) t = 1;
    if (t > (e ? 16 : 8)) t = e ? 16 : 8;
    if ((uint64_t)npix * nplanes < 200000) t = 1;
    return (unsigned)t < nplanes ? (unsigned)t : nplanes;
}

/* isec_vcs_split_planes of planes, or (planes NULL, PLANES layout) of the planes of img, which the
 * workers make one at a time as isec_vcs_binarize would. */
static int split_core(const uint8_t *planes, const isec_vcs_image *img, uint32_t width,
                      uint32_t height, unsigned layout, unsigned channels,
                      const isec_vcs_params *p, const uint8_t key[ISEC_VCS_KEY_LEN],
                      const isec_vcs_watermark *wm, isec_vcs_share **a, isec_vcs_share **b)
{
    if (!a || !b) return ISEC_EINVAL;
    *a = *b = NULL;
    if ((!planes && !img) || !p || !key || p->mode > ISEC_VCS_SECURE ||
        p->white_fill > ISEC_VCS_FILL_1B3W)
        return ISEC_EINVAL;
    int rc = isec__vcs_wm_check(wm);
    if (rc < 0) return rc;
    isec_vcs_share_info info;
    memset(&info, 0, sizeof info);
    info.width = width;
    info.height = height;
    info.mode = p->mode;
    info.layout = layout;
    info.channels = channels;
    info.nplanes = layout == ISEC_VCS_LAYOUT_GRAY ? 1 : layout == ISEC_VCS_LAYOUT_CMY ? 3 : 8 * channels;
    info.white_fill = p->white_fill;
    isec_vcs_table_id(key, info.table_id);
    if ((rc = isec_vcs_watermark_id(wm, info.wm_id)) < 0) return rc;
    isec_vcs_share *sa = NULL, *sb = NULL;
    if ((rc = isec_vcs_share_new(&sa, &info)) < 0) return rc;
    info.participant = ISEC_VCS_B;
    if ((rc = isec_vcs_share_new(&sb, &info)) < 0) {
        isec_vcs_share_free(sa);
        return rc;
    }
    const size_t n = (size_t)width * height, nblocks = (size_t)((width + 1) / 2) * ((height + 1) / 2);
    isec__vcs_table *t = malloc(sizeof *t);
    uint8_t master[32];
    isec__vcs_rng rng;
    rc = t ? isec__vcs_rng_master(p->seed, p->seed_len, master) : ISEC_ENOMEM;
    if (rc == 0 && p->mode == ISEC_VCS_EXACT) rc = isec__vcs_table_make(key, t);
    if (rc == 0 && (rc = isec__vcs_rng_init(&rng, master, 0)) == 0) {
        uint8_t sid[ISEC_VCS_ID_LEN];
        memcpy(sid, isec__vcs_rng_take(&rng, ISEC_VCS_ID_LEN), ISEC_VCS_ID_LEN);
        isec_vcs_share_set_split_id(sa, sid);
        isec_vcs_share_set_split_id(sb, sid);
        if (layout == ISEC_VCS_LAYOUT_PLANES) {
            /* Polarities, shared: A's share is uniform, B's is A's xor the polarities. */
            const uint8_t *r4 = isec__vcs_rng_take(&rng, 4);
            uint32_t pol = 0, pa = (uint32_t)r4[0] << 24 | (uint32_t)r4[1] << 16 |
                                   (uint32_t)r4[2] << 8 | r4[3];
            if (planes) {
                for (unsigned pi = 0; pi < info.nplanes; pi++)
                    pol |= (uint32_t)plane_polarity(planes + pi * n, width, height, p->mode) << pi;
            } else {
                size_t work[512];
                pol = image_polarity(img, p->mode, work);
            }
            pa &= info.nplanes < 32 ? (1u << info.nplanes) - 1 : ~0u;
            sa->info.polarity = pa;
            sb->info.polarity = pa ^ pol;
        }
        if (rng.failed) rc = ISEC_ECRYPTO;
        isec__vcs_rng_free(&rng);
    }
    /* PLANES layout from an image: its channels once inverted and apart (stride 1), so that each
     * plane is one shift and mask per byte. */
    uint8_t *ink = NULL;
    if (rc == 0 && !planes) {
        const unsigned sc = img->channels;
        if (!(ink = malloc(n * sc))) rc = ISEC_ENOMEM;
        for (unsigned c = 0; rc == 0 && c < sc; c++) {
            uint8_t *d = ink + c * n;
            const uint8_t *px = img->pixels + c;
            for (size_t i = 0; i < n; i++) d[i] = (uint8_t)(255u - px[i * sc]);
        }
    }
    if (rc == 0) {
        const unsigned nw = isec__vcs_workers(info.nplanes, n);
        job jobs[16];
        pthread_t th[16];
        unsigned started = 0;
        for (unsigned i = 0; i < nw; i++)
            jobs[i] = (job){planes, ink, n, nblocks, p, t, key, master, wm, sa, sb, i, nw, info.nplanes, 0};
        for (unsigned i = 1; i < nw; i++, started++)
            if (pthread_create(&th[i], NULL, run_job, &jobs[i]) != 0) break;
        run_job(&jobs[0]);
        for (unsigned i = 1; i <= started; i++) pthread_join(th[i], NULL);
        for (unsigned i = started + 1; i < nw; i++) run_job(&jobs[i]); /* not started: do here */
        for (unsigned i = 0; i < nw && rc == 0; i++) rc = jobs[i].rc;
    }
    OPENSSL_cleanse(master, sizeof master);
    if (ink) OPENSSL_cleanse(ink, n * img->channels);
    free(ink);
    if (t) OPENSSL_cleanse(t, sizeof *t);
    free(t);
    if (rc < 0) {
        isec_vcs_share_free(sa);
        isec_vcs_share_free(sb);
        return rc;
    }
    *a = sa;
    *b = sb;
    return 0;
}

int isec_vcs_split_planes(const uint8_t *planes, uint32_t width, uint32_t height, unsigned layout,
                          unsigned channels, const isec_vcs_params *p,
                          const uint8_t key[ISEC_VCS_KEY_LEN], const isec_vcs_watermark *wm,
                          isec_vcs_share **a, isec_vcs_share **b)
{
    if (!planes) {
        if (a) *a = NULL;
        if (b) *b = NULL;
        return ISEC_EINVAL;
    }
    return split_core(planes, NULL, width, height, layout, channels, p, key, wm, a, b);
}

int isec_vcs_split(const isec_vcs_image *secret, const isec_vcs_params *p,
                   const uint8_t key[ISEC_VCS_KEY_LEN], const isec_vcs_watermark *wm,
                   isec_vcs_share **a, isec_vcs_share **b)
{
    if (!a || !b) return ISEC_EINVAL;
    *a = *b = NULL;
    unsigned layout, ch;
    int rc = isec__vcs_effective(secret, p, &layout, &ch);
    if (rc < 0) return rc;
    if (!secret->width || !secret->height || !secret->pixels) return ISEC_EINVAL;
    if (secret->width > ISEC_VCS_MAX_DIM || secret->height > ISEC_VCS_MAX_DIM ||
        (uint64_t)secret->width * secret->height > ISEC_VCS_MAX_PIXELS)
        return ISEC_ELIMIT;
    /* Bit planes are made by the split's workers, each plane when it is split: no serial pass
     * making all of them (24 planes of 512x512 are 6 MB) before the split can start. */
    if (layout == ISEC_VCS_LAYOUT_PLANES)
        return split_core(NULL, secret, secret->width, secret->height, layout, ch, p, key, wm, a, b);
    const unsigned np = isec_vcs_planes_count(secret, p);
    const size_t n = (size_t)secret->width * secret->height;
    uint8_t *planes = malloc(n * np);
    if (!planes) return ISEC_ENOMEM;
    rc = isec_vcs_binarize(secret, p, planes);
    if (rc == 0)
        rc = isec_vcs_split_planes(planes, secret->width, secret->height, layout, ch, p, key, wm, a, b);
    OPENSSL_cleanse(planes, n * np);
    free(planes);
    return rc;
}

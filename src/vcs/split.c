/* Splitting a secret into the two participants' shares. */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "internal.h"

int isec_vcs_split_planes(const uint8_t *planes, uint32_t width, uint32_t height, unsigned layout,
                          unsigned channels, const isec_vcs_params *p,
                          const uint8_t key[ISEC_VCS_KEY_LEN], const isec_vcs_watermark *wm,
                          isec_vcs_share **a, isec_vcs_share **b)
{
    if (!a || !b) return ISEC_EINVAL;
    *a = *b = NULL;
    if (!planes || !p || !key || p->mode > ISEC_VCS_SECURE || p->white_fill > ISEC_VCS_FILL_1B3W)
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
    uint8_t *ks = malloc(nblocks * 8);
    isec__vcs_table *t = malloc(sizeof *t);
    isec__vcs_rng rng;
    rc = isec__vcs_rng_init(&rng, p->seed, p->seed_len);
    if (rc == 0 && (!ks || !t)) rc = ISEC_ENOMEM;
    if (rc == 0 && p->mode == ISEC_VCS_EXACT) rc = isec__vcs_table_make(key, t);
    if (rc == 0) {
        uint8_t sid[ISEC_VCS_ID_LEN];
        for (unsigned i = 0; i < ISEC_VCS_ID_LEN; i++) sid[i] = isec__vcs_rng_byte(&rng);
        isec_vcs_share_set_split_id(sa, sid);
        isec_vcs_share_set_split_id(sb, sid);
        if (rng.failed) rc = ISEC_ECRYPTO;
    }
    for (unsigned pi = 0; rc == 0 && pi < info.nplanes; pi++) {
        const uint8_t *pl = planes + pi * n;
        rc = p->mode == ISEC_VCS_EXACT ? isec__vcs_exact_split(pl, pi, p, t, key, wm, &rng, ks, sa, sb)
                                       : isec__vcs_secure_split(pl, pi, key, wm, &rng, ks, sa, sb);
    }
    isec__vcs_rng_free(&rng);
    if (ks) OPENSSL_cleanse(ks, nblocks * 8);
    free(ks);
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

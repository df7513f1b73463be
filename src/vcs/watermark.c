/* Zero-watermark extraction: every block of every plane votes for its watermark pixel. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "internal.h"

int isec_vcs_watermark_extract(const isec_vcs_share *a, const isec_vcs_share *b,
                               const uint8_t key[ISEC_VCS_KEY_LEN],
                               const isec_vcs_watermark *expected, uint8_t *bits,
                               isec_vcs_wm_result *res)
{
    if (!a || !b || !key || !res) return ISEC_EINVAL;
    memset(res, 0, sizeof *res);
    int rc = isec__vcs_wm_check(expected);
    if (rc < 0) return rc;
    const isec_vcs_share_info *ia = isec_vcs_share_get_info(a), *ib = isec_vcs_share_get_info(b);
    if (ia->participant != ISEC_VCS_A || ib->participant != ISEC_VCS_B || ia->width != ib->width ||
        ia->height != ib->height || ia->layout != ib->layout || ia->nplanes != ib->nplanes ||
        ia->mode != ib->mode)
        return ISEC_EINVAL;
    const size_t nw = (size_t)expected->width * expected->height;
    const size_t nblocks = (size_t)((ia->width + 1) / 2) * ((ia->height + 1) / 2);
    isec__vcs_votes v;
    memset(&v, 0, sizeof v);
    v.votes0 = calloc(nw, sizeof *v.votes0);
    v.votes1 = calloc(nw, sizeof *v.votes1);
    uint8_t *ks = malloc(nblocks * 8);
    isec__vcs_table *t = malloc(sizeof *t);
    rc = v.votes0 && v.votes1 && ks && t ? 0 : ISEC_ENOMEM;
    if (rc == 0 && ia->mode == ISEC_VCS_EXACT) rc = isec__vcs_table_make(key, t);
    for (unsigned pi = 0; rc == 0 && pi < ia->nplanes; pi++)
        rc = ia->mode == ISEC_VCS_EXACT ? isec__vcs_exact_extract(a, b, pi, t, key, expected, ks, &v)
                                        : isec__vcs_secure_extract(a, b, pi, key, expected, ks, &v);
    if (rc == 0) {
        double sww = 0, sxx = 0, sxw = 0;
        size_t wrong = 0, voted = 0;
        for (size_t i = 0; i < nw; i++) {
            const unsigned x = v.votes1[i] > v.votes0[i];
            if (bits) bits[i] = (uint8_t)x;
            /* Watermark pixels no block voted for (watermark larger than the block grid) are
             * left out of NC and BER. */
            if (!v.votes0[i] && !v.votes1[i]) continue;
            const unsigned w = expected->bits[i];
            voted++;
            wrong += x != w;
            sww += w;
            sxx += x;
            sxw += x & w;
        }
        res->nc = sww > 0 && sxx > 0 ? sxw / sqrt(sww * sxx) : 0.0;
        res->ber = voted ? (double)wrong / (double)voted : 1.0;
        const uint64_t voted_blocks = v.blocks - v.invalid;
        res->block_ber = voted_blocks ? (double)v.wrong / (double)voted_blocks : 1.0;
        res->blocks = v.blocks;
        res->invalid = v.invalid;
        res->erasures = v.erasures;
    }
    free(v.votes0);
    free(v.votes1);
    if (ks) OPENSSL_cleanse(ks, nblocks * 8);
    free(ks);
    if (t) OPENSSL_cleanse(t, sizeof *t);
    free(t);
    return rc;
}

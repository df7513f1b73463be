/* Zero-watermark extraction: every block of every plane votes for its watermark pixel. */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "internal.h"

/* Planes vote independently, so they are read by up to isec__vcs_workers threads, plane i by
 * worker i mod workers, each into its own counters; the counters are then added, so the result
 * does not depend on the number of workers. */
typedef struct {
    const isec_vcs_share *a, *b;
    const uint8_t *key;
    const isec_vcs_watermark *wm;
    const isec__vcs_table *t;
    size_t nw, nblocks;
    unsigned first, step;
    isec__vcs_votes v;
    int rc;
} job;

static void *run_job(void *arg)
{
    job *j = arg;
    const unsigned exact = j->a->info.mode == ISEC_VCS_EXACT;
    uint8_t *ks = malloc(j->nblocks * 8);
    j->v.votes0 = calloc(j->nw, sizeof *j->v.votes0);
    j->v.votes1 = calloc(j->nw, sizeof *j->v.votes1);
    j->rc = ks && j->v.votes0 && j->v.votes1 ? 0 : ISEC_ENOMEM;
    for (unsigned pi = j->first; j->rc == 0 && pi < j->a->info.nplanes; pi += j->step)
        j->rc = exact ? isec__vcs_exact_extract(j->a, j->b, pi, j->t, j->key, j->wm, ks, &j->v)
                      : isec__vcs_secure_extract(j->a, j->b, pi, j->key, j->wm, ks, &j->v);
    if (ks) OPENSSL_cleanse(ks, j->nblocks * 8);
    free(ks);
    return NULL;
}

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
    isec__vcs_table *t = malloc(sizeof *t);
    rc = t ? 0 : ISEC_ENOMEM;
    if (rc == 0 && ia->mode == ISEC_VCS_EXACT) rc = isec__vcs_table_make(key, t);
    const unsigned nwk = isec__vcs_workers(ia->nplanes, (size_t)ia->width * ia->height);
    job jobs[16];
    pthread_t th[16];
    unsigned started = 0;
    memset(jobs, 0, sizeof jobs);
    if (rc == 0) {
        for (unsigned i = 0; i < nwk; i++) {
            jobs[i].a = a;
            jobs[i].b = b;
            jobs[i].key = key;
            jobs[i].wm = expected;
            jobs[i].t = t;
            jobs[i].nw = nw;
            jobs[i].nblocks = nblocks;
            jobs[i].first = i;
            jobs[i].step = nwk;
        }
        for (unsigned i = 1; i < nwk; i++, started++)
            if (pthread_create(&th[i], NULL, run_job, &jobs[i]) != 0) break;
        run_job(&jobs[0]);
        for (unsigned i = 1; i <= started; i++) pthread_join(th[i], NULL);
        for (unsigned i = started + 1; i < nwk; i++) run_job(&jobs[i]); /* not started: do here */
        for (unsigned i = 0; i < nwk && rc == 0; i++) rc = jobs[i].rc;
    }
    isec__vcs_votes v = jobs[0].v;
    for (unsigned k = 1; rc == 0 && k < nwk; k++) {
        const isec__vcs_votes *o = &jobs[k].v;
        for (size_t i = 0; i < nw; i++) {
            v.votes0[i] += o->votes0[i];
            v.votes1[i] += o->votes1[i];
        }
        v.blocks += o->blocks;
        v.invalid += o->invalid;
        v.erasures += o->erasures;
        v.wrong += o->wrong;
    }
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
    for (unsigned k = 0; k < 16; k++) {
        free(jobs[k].v.votes0);
        free(jobs[k].v.votes1);
    }
    if (t) OPENSSL_cleanse(t, sizeof *t);
    free(t);
    return rc;
}

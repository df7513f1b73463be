/* bench_verifier [-n RUNS] [--tpm-tcti STR] [--mode exact|secure] IMAGE.png...: the verifier's
 * verify path in-process, per image (each split with a random key and a 64x64 watermark):
 *   none  = read both TIFF sheets + hash them + extract the watermark + encode the record
 *   soft  = none + ECDSA P-256 signature + envelope           (the soft backend)
 *   tpm2  = none + TPM2_Quote + envelope                       (with --tpm-tcti)
 * and for each image the gray (GRAY), color CMY-halftone (CMY) and, for color images, the 24
 * bit-plane (PLANES) layouts. Prints medians (ms) and the attestation overhead against "none",
 * measured in the same run. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "service.h"

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* One verify as the service does it; attest 0 = none. Returns ms. */
static double one(vf_service *sv, const uint8_t *ta, size_t tal, const uint8_t *tb, size_t tbl, int attest)
{
    double t0 = now_ms();
    isec_vcs_share *a = NULL, *b = NULL;
    char err[256];
    uint8_t nonce[32], *env = NULL;
    size_t el = 0;
    RAND_bytes(nonce, sizeof nonce);
    isec_vreport r;
    if (isec_sheet_read_mem(ta, tal, &sv->lim, &a, err, sizeof err) ||
        isec_sheet_read_mem(tb, tbl, &sv->lim, &b, err, sizeof err) || vf_verify_shares(sv, a, b, nonce, &r) ||
        !r.genuine) {
        fprintf(stderr, "bench_verifier: verify failed: %s\n", err);
        exit(1);
    }
    if (attest) {
        if (vf_attest(sv, &r, &env, &el)) {
            fprintf(stderr, "bench_verifier: attestation failed\n");
            exit(1);
        }
    } else {
        char rec[ISEC_VREPORT_MAX_RECORD];
        size_t n;
        r.backend = sv->b->id;
        memcpy(r.measurement, sv->b->measurement, 32);
        if (isec_vreport_encode(&r, rec, sizeof rec, &n)) exit(1);
    }
    free(env);
    isec_vcs_share_free(a);
    isec_vcs_share_free(b);
    return now_ms() - t0;
}

int main(int argc, char **argv)
{
    int runs = 11, nimg = 0; /* at most 1000 */
    const char *tcti = NULL, *imgs[16];
    unsigned mode = ISEC_VCS_EXACT;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-n") && i + 1 < argc) runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--tpm-tcti") && i + 1 < argc) tcti = argv[++i];
        else if (!strcmp(argv[i], "--mode") && i + 1 < argc) mode = !strcmp(argv[++i], "secure");
        else if (nimg < 16) imgs[nimg++] = argv[i];
    }
    if (runs < 1 || runs > 1000 || !nimg) {
        fprintf(stderr, "usage: bench_verifier [-n RUNS] [--tpm-tcti STR] [--mode exact|secure] IMAGE.png...\n");
        return 2;
    }
    char dir[] = "/tmp/bench-verifier-XXXXXX", err[512];
    if (!mkdtemp(dir)) return 1;
    vf_service soft = {0}, tpm = {0};
    vf_backend *bs = NULL, *bt = NULL;
    char dsoft[64], dtpm[64];
    snprintf(dsoft, sizeof dsoft, "%s/soft", dir);
    snprintf(dtpm, sizeof dtpm, "%s/tpm2", dir);
    vf_mkdir_p(dsoft);
    vf_mkdir_p(dtpm);
    if (vf_backend_open(&bs, "soft", dsoft, NULL, err, sizeof err) ||
        vf_store_open(&soft.store, dsoft, bs, err, sizeof err)) {
        fprintf(stderr, "bench_verifier: soft backend: %s\n", err);
        return 1;
    }
    soft.b = bs;
    if (tcti && (vf_backend_open(&bt, "tpm2", dtpm, tcti, err, sizeof err) ||
                 vf_store_open(&tpm.store, dtpm, bt, err, sizeof err))) {
        fprintf(stderr, "bench_verifier: tpm2 backend: %s\n", err);
        return 1;
    }
    tpm.b = bt;
    vf_service *svs[2] = {&soft, &tpm};
    for (int k = 0; k < 2; k++) {
        svs[k]->threshold_ppm = 750000;
        isec_sheet_limits_init(&svs[k]->lim);
    }
    printf("verify, in-process, median of %d (ms); mode %s; attestation overhead vs none\n", runs,
           mode == ISEC_VCS_SECURE ? "secure" : "exact");
    printf("%-28s %-7s %9s %9s %9s %8s %8s\n", "image", "layout", "none", "soft", "tpm2", "soft/no", "tpm2/no");
    double att_soft = 0, att_tpm = 0;
    for (int i = 0; i < nimg; i++) {
        isec_vcs_image img = {0};
        uint8_t *px = NULL;
        if (isec_png_read8(imgs[i], 0, &img.width, &img.height, &img.channels, &px, err, sizeof err)) {
            fprintf(stderr, "bench_verifier: %s: %s\n", imgs[i], err);
            return 1;
        }
        img.pixels = px;
        for (unsigned layout = ISEC_VCS_LAYOUT_CMY; layout <= ISEC_VCS_LAYOUT_PLANES; layout++) {
            if (img.channels == 1 && layout == ISEC_VCS_LAYOUT_PLANES) continue;
            isec_vcs_params p;
            isec_vcs_params_init(&p);
            p.mode = mode;
            p.layout = layout;
            uint8_t key[32], bits[64 * 64], *sec = NULL, *ta = NULL, *tb = NULL;
            size_t secl = 0, tal = 0, tbl = 0;
            RAND_bytes(key, sizeof key);
            RAND_bytes(bits, sizeof bits);
            for (size_t j = 0; j < sizeof bits; j++) bits[j] &= 1;
            isec_vcs_watermark wm = {64, 64, bits};
            isec_vcs_share *a = NULL, *b = NULL;
            const vf_secret *e;
            if (isec_vcs_split(&img, &p, key, &wm, &a, &b) || isec_vcs_secret_encode(key, &wm, &sec, &secl) ||
                vf_store_add(&soft.store, sec, secl, &e) || (bt && vf_store_add(&tpm.store, sec, secl, &e)) ||
                isec_sheet_write_mem(a, &ta, &tal, err, sizeof err) || isec_sheet_write_mem(b, &tb, &tbl, err, sizeof err)) {
                fprintf(stderr, "bench_verifier: split failed\n");
                return 1;
            }
            double tn[1000], ts[1000], tt[1000];
            one(&soft, ta, tal, tb, tbl, 1); /* warm up */
            for (int r = 0; r < runs; r++) { /* interleaved, so drift hits all three alike */
                tn[r] = one(&soft, ta, tal, tb, tbl, 0);
                ts[r] = one(&soft, ta, tal, tb, tbl, 1);
                tt[r] = bt ? one(&tpm, ta, tal, tb, tbl, 1) : 0;
            }
            /* The attestation step alone (encode + sign or quote + envelope), many times. */
            isec_vcs_share *ra = NULL, *rb = NULL;
            isec_vreport rep;
            uint8_t nonce[32] = {0};
            if (isec_sheet_read_mem(ta, tal, NULL, &ra, err, sizeof err) ||
                isec_sheet_read_mem(tb, tbl, NULL, &rb, err, sizeof err) ||
                vf_verify_shares(&soft, ra, rb, nonce, &rep))
                return 1;
            double as[1000], at[1000];
            for (int r = 0; r < runs; r++) {
                uint8_t *env = NULL;
                size_t el = 0;
                double t0 = now_ms();
                if (vf_attest(&soft, &rep, &env, &el)) return 1;
                as[r] = now_ms() - t0;
                free(env);
                env = NULL;
                t0 = now_ms();
                if (bt && vf_attest(&tpm, &rep, &env, &el)) return 1;
                at[r] = now_ms() - t0;
                free(env);
            }
            isec_vcs_share_free(ra);
            isec_vcs_share_free(rb);
            att_soft = median(as, runs);
            att_tpm = median(at, runs);
            double mn = median(tn, runs), ms = median(ts, runs), mt = bt ? median(tt, runs) : 0;
            const char *name = strrchr(imgs[i], '/') ? strrchr(imgs[i], '/') + 1 : imgs[i];
            char label[64];
            snprintf(label, sizeof label, "%s %ux%u", name, img.width, img.height);
            const char *ln = img.channels == 1 ? "gray" : layout == ISEC_VCS_LAYOUT_CMY ? "cmy" : "planes";
            if (bt)
                printf("%-28s %-7s %9.2f %9.2f %9.2f %8.3f %8.3f\n", label, ln, mn, ms, mt, ms / mn, mt / mn);
            else
                printf("%-28s %-7s %9.2f %9.2f %9s %8.3f %8s\n", label, ln, mn, ms, "-", ms / mn, "-");
            free(sec);
            free(ta);
            free(tb);
            isec_vcs_share_free(a);
            isec_vcs_share_free(b);
        }
        free(px);
    }
    printf("attestation step alone (record + sign/quote + envelope), median of %d: soft %.3f ms, "
           "tpm2 %s%.3f ms\n", runs, att_soft, bt ? "" : "(no TPM) ", att_tpm);
    vf_store_close(&soft.store);
    vf_store_close(&tpm.store);
    vf_backend_free(bs);
    vf_backend_free(bt);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd)) { /* best effort */
    }
    return 0;
}

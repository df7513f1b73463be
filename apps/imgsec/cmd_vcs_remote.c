/* imgsec vcs verify / imgsec vcs split --server: the verifier service's client (docs/verifier.md).
 * Called by cmd_vcs.c with argv[0] = "verify" or "split". */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "cli.h"
#include "service.h"

/* Exit codes of `vcs verify` beyond cli.h's: the verifier's report did not check out. */
#define EXIT_REJECTED 5
#define MAX_SHEET_FILE (1024u << 20)

/* The request to the verifier, in a thread of its own. */
typedef struct {
    const char *server, *ctype;
    const uint8_t *body;
    size_t len;
    int timeout, rc;
    vf_http_resp *resp;
} post_job;

static void *post_job_run(void *arg)
{
    post_job *j = arg;
    j->rc = vf_http_post(j->server, "/v1/verify", j->ctype, j->body, j->len, ISEC_VREPORT_MAX_ENVELOPE,
                         j->timeout, j->resp);
    return NULL;
}

static void verify_usage(FILE *f)
{
    fprintf(f, "usage: imgsec vcs verify --server URL --trust FILE [--report-out FILE] [--timeout S]\n"
               "                         A.tiff B.tiff\n"
               "URL: http://HOST:PORT or unix:/PATH. FILE: the service's verifier.pem.\n"
               "Exit: 0 genuine (attested), 1 NOT genuine (attested), 2 usage, 3 I/O or service\n"
               "error, 4 trust file unusable, 5 report REJECTED (attestation, nonce, sheet hash or\n"
               "measurement does not check out).\n");
}

int cmd_vcs_verify(int argc, char **argv)
{
    const char *server = NULL, *trustf = NULL, *report_out = NULL, *files[2] = {NULL, NULL};
    int nfiles = 0, timeout = 60;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            verify_usage(stdout);
            return EXIT_OK;
        } else if (!strcmp(a, "--server") || !strcmp(a, "--trust") || !strcmp(a, "--report-out") ||
                   !strcmp(a, "--timeout")) {
            if (!v) {
                cli_err("vcs verify: %s needs a value", a);
                return EXIT_USAGE;
            }
            i++;
            if (!strcmp(a, "--server")) server = v;
            else if (!strcmp(a, "--trust")) trustf = v;
            else if (!strcmp(a, "--report-out")) report_out = v;
            else if ((timeout = atoi(v)) < 1 || timeout > 3600) {
                cli_err("vcs verify: --timeout must be 1..3600 seconds");
                return EXIT_USAGE;
            }
        } else if (a[0] == '-' && a[1]) {
            cli_err("vcs verify: unknown option '%s'", a);
            verify_usage(stderr);
            return EXIT_USAGE;
        } else if (nfiles < 2)
            files[nfiles++] = a;
        else {
            cli_err("vcs verify: give exactly two sheet files (A.tiff B.tiff)");
            return EXIT_USAGE;
        }
    }
    if (!server || !trustf || nfiles != 2) {
        verify_usage(stderr);
        return EXIT_USAGE;
    }
    vf_trust trust;
    uint8_t *tbuf = NULL;
    size_t tlen = 0;
    if (vf_read_file(trustf, 65536, &tbuf, &tlen)) {
        cli_err("%s: cannot read the trust file", trustf);
        return EXIT_KEYERR;
    }
    int bad = vf_trust_parse(tbuf, tlen, &trust);
    free(tbuf);
    if (bad) {
        cli_err("%s: not an imgsec verifier trust file (verifier.pem)", trustf);
        return EXIT_KEYERR;
    }
    int ex = EXIT_OK;
    uint8_t *fb[2] = {NULL, NULL}, *body = NULL, nonce[32], dig[2][32];
    size_t fl[2] = {0, 0}, bl = 0;
    isec_vcs_share_info si[2];
    vf_http_resp resp = {0};
    for (int k = 0; k < 2 && !ex; k++) {
        int rc = vf_read_file(files[k], MAX_SHEET_FILE, &fb[k], &fl[k]);
        if (rc) {
            cli_err("%s: %s", files[k], rc == ISEC_EIO ? strerror(errno) : isec_strerror(rc));
            ex = EXIT_IOERR;
        }
    }
    char nhex[65], ctype[128];
    if (!ex && RAND_bytes(nonce, sizeof nonce) != 1) ex = EXIT_FAIL;
    if (!ex) {
        isec_hex(nonce, 32, nhex);
        vf_part parts[3] = {{"nonce", (const uint8_t *)nhex, 64}, {"a", fb[0], fl[0]}, {"b", fb[1], fl[1]}};
        if (vf_mp_build(parts, 3, "form-data", &body, &bl, ctype)) ex = EXIT_FAIL;
    }
    /* The files go to the verifier first; while it works, this side decodes both sheets and
     * hashes their pixels (two threads), which it needs to check the report: the two halves
     * overlap instead of adding up. Only the digests are needed here, so the pages are hashed
     * as they are decoded (isec_sheet_digest_mem_pair) instead of being kept as shares (for 24
     * planes, 50 MB of fresh memory to fault in and wipe). */
    post_job pj = {server, ctype, body, bl, timeout, 0, &resp};
    pthread_t pt;
    int posting = 0;
    if (!ex) {
        posting = pthread_create(&pt, NULL, post_job_run, &pj) == 0;
        if (!posting) post_job_run(&pj);
    }
    if (!ex) {
        const uint8_t *const bufs[2] = {fb[0], fb[1]};
        char err[300];
        int failed = 0;
        if (isec_sheet_digest_mem_pair(bufs, fl, NULL, si, dig, &failed, err, sizeof err)) {
            cli_err("%s: %s", files[failed], err);
            ex = EXIT_FAIL;
        }
    }
    if (posting) pthread_join(pt, NULL);
    if (!ex && (si[0].participant != ISEC_VCS_A || si[1].participant != ISEC_VCS_B)) {
        cli_err("vcs verify: give participant A's file first, then B's");
        ex = EXIT_USAGE;
    }
    if (!ex && pj.rc) {
        cli_err("vcs verify: %s: %s", server, resp.err);
        ex = EXIT_IOERR;
    }
    if (!ex && resp.status != 200) {
        size_t n = strcspn((const char *)resp.body, "\n");
        cli_err("vcs verify: the verifier answered HTTP %d: %.*s", resp.status,
                (int)(n < resp.body_len ? n : resp.body_len), (const char *)resp.body);
        ex = EXIT_IOERR;
    }
    if (!ex && report_out) {
        cli_out o;
        if (cli_out_open(&o, report_out, NULL, 0644) || cli_out_write(&o, resp.body, resp.body_len) ||
            cli_out_commit(&o))
            ex = EXIT_IOERR;
    }
    isec_venvelope env;
    isec_vreport rep;
    char why[256] = "";
    if (ex) {
    } else if (isec_venvelope_decode(resp.body, resp.body_len, &env)) {
        snprintf(why, sizeof why, "not a report envelope");
    } else if (env.backend != trust.backend) {
        snprintf(why, sizeof why, "backend %s, but the trust file is for %s",
                 env.backend == ISEC_VBACKEND_TPM2 ? "tpm2" : "soft",
                 trust.backend == ISEC_VBACKEND_TPM2 ? "tpm2" : "soft");
    } else if (isec_venvelope_verify(&env, trust.key, trust.pcr, &rep, why, sizeof why)) {
        if (!why[0]) snprintf(why, sizeof why, "attestation does not verify");
    } else if (memcmp(rep.measurement, trust.measurement, 32)) {
        snprintf(why, sizeof why, "verifier measurement differs from the trusted one (another build?)");
    } else if (CRYPTO_memcmp(rep.nonce, nonce, 32)) {
        snprintf(why, sizeof why, "nonce mismatch (a replayed or stale report)");
    } else if (memcmp(rep.sheet_a, dig[0], 32) || memcmp(rep.sheet_b, dig[1], 32)) {
        snprintf(why, sizeof why, "the report is about other sheets (sheet hash mismatch)");
    } else if ((rep.genuine != 0) != isec_vreport_rule(&rep)) {
        /* The decoder refuses this already; checked here too so the client's verdict never
         * rests on the service's word alone. */
        snprintf(why, sizeof why, "the verdict disagrees with NC, invalid and wrong-block limits");
    }
    if (!ex && why[0]) {
        printf("report REJECTED: %s\n", why);
        ex = EXIT_REJECTED;
    } else if (!ex) {
        char nc[16], ber[16], th[16], inv[16], mi[16], wr[16], mw[16], tid[33];
        isec_vreport_fmt_ppm(rep.nc_ppm, nc);
        isec_vreport_fmt_ppm(rep.ber_ppm, ber);
        isec_vreport_fmt_ppm(rep.threshold_ppm, th);
        isec_vreport_fmt_ppm(rep.invalid_ppm, inv);
        isec_vreport_fmt_ppm(rep.max_invalid_ppm, mi);
        isec_vreport_fmt_ppm(rep.wrong_ppm, wr);
        isec_vreport_fmt_ppm(rep.max_wrong_ppm, mw);
        isec_hex(rep.table_id, 16, tid);
        static const uint8_t zero[16];
        /* The decoder already refused a record whose verdict disagrees with the rule; the reason
         * printed is the first of the three limits that failed. */
        if (rep.genuine)
            printf("genuine: NC %s >= %s, BER %s, invalid blocks %s <= %s, wrong blocks %s <= %s "
                   "(table %s, attested by %s)\n",
                   nc, th, ber, inv, mi, wr, mw, tid, env.backend == ISEC_VBACKEND_TPM2 ? "tpm2 quote" : "soft signature");
        else if (!memcmp(rep.watermark_id, zero, 16))
            printf("NOT genuine: the verifier holds no secret for table %s (attested)\n", tid);
        else if (rep.nc_ppm < rep.threshold_ppm)
            printf("NOT genuine: NC %s < %s, BER %s, invalid blocks %s, wrong blocks %s (table %s, attested)\n",
                   nc, th, ber, inv, wr, tid);
        else if (rep.invalid_ppm > rep.max_invalid_ppm)
            printf("NOT genuine: invalid blocks %s > %s, NC %s, wrong blocks %s (table %s, attested)\n", inv,
                   mi, nc, wr, tid);
        else
            printf("NOT genuine: wrong blocks %s > %s (part of the sheets re-arranged), NC %s >= %s, "
                   "invalid blocks %s <= %s (table %s, attested)\n",
                   wr, mw, nc, th, inv, mi, tid);
        ex = rep.genuine ? EXIT_OK : EXIT_FAIL;
    }
    vf_http_resp_clear(&resp);
    vf_trust_clear(&trust);
    for (int k = 0; k < 2; k++) free(fb[k]);
    free(body);
    return ex;
}

/* ---- split --server ---- */

static void split_usage(FILE *f)
{
    fprintf(f, "usage: imgsec vcs split --server URL [--mode exact|secure] [--color halftone|planes|gray]\n"
               "                        [--halftone fs|jjn|stucki|none] [--serpentine] [--gamma srgb|linear]\n"
               "                        [--fill 3b1w|1b3w] [--watermark WM.png] [--overwrite|--force]\n"
               "                        IN.png -o OUTDIR\n"
               "The verifier makes the sheets and keeps the table key and watermark sealed;\n"
               "writes OUTDIR/a.tiff and OUTDIR/b.tiff.\n");
}

static int write_pair(const char *dir, const vf_part *a, const vf_part *b, int overwrite)
{
    char *pa = vf_path(dir, "a.tiff"), *pb = vf_path(dir, "b.tiff");
    struct stat st;
    int ex = EXIT_OK;
    if (!pa || !pb) ex = EXIT_FAIL;
    else if (!overwrite && (!stat(pa, &st) || !stat(pb, &st))) {
        cli_err("%s: a.tiff or b.tiff exists (use --overwrite)", dir);
        ex = EXIT_IOERR;
    }
    cli_out oa = {0}, ob = {0};
    int opa = 0, opb = 0;
    if (!ex) {
        if (cli_out_open(&oa, pa, NULL, 0644)) ex = EXIT_IOERR;
        else opa = 1;
    }
    if (!ex) {
        if (cli_out_open(&ob, pb, NULL, 0644)) ex = EXIT_IOERR;
        else opb = 1;
    }
    /* Both complete on disk before either is renamed into place. */
    if (!ex && (cli_out_write(&oa, a->data, a->len) || cli_out_write(&ob, b->data, b->len) ||
                fflush(oa.f) || fsync(fileno(oa.f)) || fflush(ob.f) || fsync(fileno(ob.f))))
        ex = EXIT_IOERR;
    if (!ex) {
        opa = 0; /* commit removes its temp file itself on failure */
        if (cli_out_commit(&oa)) ex = EXIT_IOERR;
    }
    if (!ex) {
        opb = 0;
        if (cli_out_commit(&ob)) {
            unlink(pa); /* never leave half a pair */
            ex = EXIT_IOERR;
        }
    }
    if (opa) cli_out_abort(&oa);
    if (opb) cli_out_abort(&ob);
    free(pa);
    free(pb);
    return ex;
}

int cmd_vcs_split_remote(int argc, char **argv)
{
    const char *server = NULL, *in = NULL, *outdir = NULL, *wmf = NULL;
    const char *opt[6][2] = {{"--mode", NULL}, {"--color", NULL}, {"--halftone", NULL},
                             {"--gamma", NULL}, {"--fill", NULL}, {"--serpentine", NULL}};
    static const char *const part[6] = {"mode", "color", "halftone", "gamma", "fill", "serpentine"};
    int overwrite = 0, timeout = 300;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int k, done = 0;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            split_usage(stdout);
            return EXIT_OK;
        }
        if (!strcmp(a, "--overwrite") || !strcmp(a, "--force")) {
            overwrite = 1;
            continue;
        }
        if (!strcmp(a, "--serpentine")) {
            opt[5][1] = "1";
            continue;
        }
        for (k = 0; k < 5 && !done; k++)
            if (!strcmp(a, opt[k][0])) {
                if (!v) {
                    cli_err("vcs split: %s needs a value", a);
                    return EXIT_USAGE;
                }
                /* The command line says "halftone" for the CMY layout, as the local split does. */
                opt[k][1] = v;
                i++;
                done = 1;
            }
        if (done) continue;
        if (!strcmp(a, "--server") || !strcmp(a, "-o") || !strcmp(a, "--watermark") || !strcmp(a, "--timeout")) {
            if (!v) {
                cli_err("vcs split: %s needs a value", a);
                return EXIT_USAGE;
            }
            i++;
            if (!strcmp(a, "--server")) server = v;
            else if (!strcmp(a, "-o")) outdir = v;
            else if (!strcmp(a, "--watermark")) wmf = v;
            else if ((timeout = atoi(v)) < 1 || timeout > 3600) {
                cli_err("vcs split: --timeout must be 1..3600 seconds");
                return EXIT_USAGE;
            }
        } else if (a[0] == '-' && a[1]) {
            cli_err("vcs split: option '%s' is not available with --server", a);
            split_usage(stderr);
            return EXIT_USAGE;
        } else if (!in)
            in = a;
        else {
            cli_err("vcs split: one input image only");
            return EXIT_USAGE;
        }
    }
    if (!server || !in || !outdir) {
        split_usage(stderr);
        return EXIT_USAGE;
    }
    uint8_t *img = NULL, *wm = NULL, *body = NULL;
    size_t il = 0, wl = 0, bl = 0;
    int ex = EXIT_OK;
    if (vf_read_file(in, 256u << 20, &img, &il)) {
        cli_err("%s: cannot read (at most 256 MiB)", in);
        return EXIT_IOERR;
    }
    if (wmf && vf_read_file(wmf, 16u << 20, &wm, &wl)) {
        cli_err("%s: cannot read", wmf);
        free(img);
        return EXIT_IOERR;
    }
    vf_part parts[8];
    size_t np = 0;
    parts[np++] = (vf_part){"image", img, il};
    if (wm) parts[np++] = (vf_part){"watermark", wm, wl};
    for (int k = 0; k < 6; k++)
        if (opt[k][1]) {
            vf_part p = {"", (const uint8_t *)opt[k][1], strlen(opt[k][1])};
            snprintf(p.name, sizeof p.name, "%s", part[k]);
            parts[np++] = p;
        }
    char ctype[128];
    vf_http_resp resp = {0};
    if (vf_mp_build(parts, np, "form-data", &body, &bl, ctype)) ex = EXIT_FAIL;
    if (!ex && vf_http_post(server, "/v1/split", ctype, body, bl, 2048u << 20, timeout, &resp)) {
        cli_err("vcs split: %s: %s", server, resp.err);
        ex = EXIT_IOERR;
    }
    if (!ex && resp.status != 200) {
        size_t n = strcspn((const char *)resp.body, "\n");
        cli_err("vcs split: the verifier answered HTTP %d: %.*s", resp.status,
                (int)(n < resp.body_len ? n : resp.body_len), (const char *)resp.body);
        ex = resp.status >= 400 && resp.status < 500 ? EXIT_FAIL : EXIT_IOERR;
    }
    char bnd[80];
    vf_part rp[VF_MAX_PARTS];
    size_t rn = 0;
    const vf_part *pa = NULL, *pb = NULL;
    if (!ex && (vf_mp_boundary(resp.ctype, bnd, sizeof bnd) || vf_mp_parse(resp.body, resp.body_len, bnd, rp, &rn) ||
                !(pa = vf_mp_find(rp, rn, "a")) || !(pb = vf_mp_find(rp, rn, "b")))) {
        cli_err("vcs split: the verifier's answer is not a sheet pair");
        ex = EXIT_FAIL;
    }
    /* Check what arrived is a matching pair before writing anything. */
    isec_vcs_share *sa = NULL, *sb = NULL;
    char err[256];
    if (!ex && (isec_sheet_read_mem(pa->data, pa->len, NULL, &sa, err, sizeof err) ||
                isec_sheet_read_mem(pb->data, pb->len, NULL, &sb, err, sizeof err) ||
                isec_vcs_share_get_info(sa)->participant != ISEC_VCS_A ||
                isec_vcs_share_get_info(sb)->participant != ISEC_VCS_B)) {
        cli_err("vcs split: the verifier sent sheets that do not read back as A and B");
        ex = EXIT_FAIL;
    }
    if (!ex && vf_mkdir_p(outdir)) {
        cli_err("%s: cannot create", outdir);
        ex = EXIT_IOERR;
    }
    if (!ex) ex = write_pair(outdir, pa, pb, overwrite);
    if (!ex) {
        const vf_part *t = vf_mp_find(rp, rn, "table-id");
        printf("wrote %s/a.tiff and %s/b.tiff (table %.*s, key and watermark sealed by the verifier)\n",
               outdir, outdir, t ? (int)t->len : 1, t ? (const char *)t->data : "?");
    }
    isec_vcs_share_free(sa);
    isec_vcs_share_free(sb);
    vf_http_resp_clear(&resp);
    free(body);
    free(img);
    free(wm);
    return ex;
}

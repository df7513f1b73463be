/* imgsec vcs: split a secret image into two participants' sheets, stack them, export sheets as
 * PNG, extract the zero watermark. `verify` and `split --server` are the verifier client's
 * (cmd_vcs_remote.c). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "cli.h"
#include "imgsec/keys.h"
#include "imgsec/vcs.h"
#include "sheetio.h"

#define TABLE_KEY_LABEL "imgsec-vcs-table-key-v1"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: imgsec vcs split [--mode exact|secure] [--color halftone|planes|gray]\n"
            "                        [--halftone fs|jjn|stucki|none] [--serpentine]\n"
            "                        [--gamma linear|srgb] [--fill 3b1w|1b3w] [--seed N]\n"
            "                        [--key KEYFILE] [--watermark WM.png] [--force]\n"
            "                        [--tiff zstd|deflate|none]\n"
            "                        [--server URL] IN.png -o OUTDIR\n"
            "       imgsec vcs stack [--bits N] A.tiff B.tiff -o OUT.png\n"
            "       imgsec vcs export-png SHEETS.tiff -o DIR\n"
            "       imgsec vcs watermark [--min-nc X] [--max-invalid F] [--max-block-ber F]\n"
            "                            A.tiff B.tiff --secret OUTDIR/vcs-secret\n"
            "       imgsec vcs info SHEETS.tiff\n"
            "       imgsec vcs verify --server URL --trust FILE A.tiff B.tiff\n"
            "split writes OUTDIR/a.tiff, OUTDIR/b.tiff and OUTDIR/vcs-secret (table key and\n"
            "watermark for the verifier, mode 0600). See man imgsec and docs/vcs.md.\n");
}

static int opt_is(const char *a, const char *name)
{
    return !strcmp(a, name);
}

static int need_arg(int i, int argc, const char *name)
{
    if (i + 1 >= argc) {
        cli_err("vcs: %s needs a value", name);
        return 0;
    }
    return 1;
}

static int exit_for(int rc)
{
    return rc == ISEC_EIO || rc == ISEC_EEXIST ? EXIT_IOERR : rc == ISEC_EKEY ? EXIT_KEYERR : EXIT_FAIL;
}

static int load_table_key(const char *path, uint8_t key[ISEC_VCS_KEY_LEN])
{
    char detail[200] = "";
    char *pass = NULL;
    int np = isec_key_file_needs_passphrase(path);
    if (np < 0) {
        cli_err("%s: %s", path, isec_strerror(np));
        return np;
    }
    if (np) {
        pass = cli_read_passphrase(NULL, "passphrase: ", 0);
        if (!pass) return ISEC_EKEY;
    }
    isec_key *k = NULL;
    int rc = isec_key_load(&k, path, pass, pass ? strlen(pass) : 0, detail, sizeof detail);
    cli_free_secret(pass);
    if (rc < 0) {
        cli_err("%s: %s", path, detail[0] ? detail : isec_strerror(rc));
        return rc;
    }
    cli_warn_key_mode(path);
    rc = isec_key_derive(k, TABLE_KEY_LABEL, key);
    isec_key_free(k);
    return rc;
}

/* The watermark used when none is given: 64x64 random bits. */
static int random_watermark(isec_vcs_watermark *wm, const isec_vcs_params *p)
{
    wm->width = wm->height = 64;
    wm->bits = malloc(64 * 64);
    if (!wm->bits) return ISEC_ENOMEM;
    uint8_t r[512];
    if (p->seed) {
        /* Deterministic runs (tests) get a deterministic watermark too. */
        for (size_t i = 0; i < sizeof r; i++) r[i] = (uint8_t)(p->seed[i % p->seed_len] * 131u + i * 29u + (i >> 3));
    } else if (RAND_bytes(r, sizeof r) != 1) {
        return ISEC_ECRYPTO;
    }
    for (size_t i = 0; i < 64 * 64; i++) wm->bits[i] = (r[i / 8] >> (i % 8)) & 1;
    return 0;
}

/* The split's three outputs, all or none: each written to a temporary file beside it and
 * fsync'ed, A's and B's sheet files in two threads that make their TIFF straight into the file
 * (isec_sheet_write_fd: the kernel writes each file back while the later pages are compressed,
 * so the fsyncs find little left to wait for) and then wipe and free their share while the
 * writeback finishes; only when all three are complete are they renamed into place, so a
 * failure leaves the files that were there (--force) as they were. */
typedef struct {
    cli_out o;
    isec_vcs_share *share; /* sheet files: the share (freed by the job); else buf */
    const uint8_t *buf;
    size_t len;
    int rc;       /* 0, or -1 (message printed) */
    int made;     /* sheet files: isec_sheet_write_fd's code */
    char err[400];
} out_job;

static void *out_job_run(void *arg)
{
    out_job *j = arg;
    if (j->share) {
        j->made = isec_sheet_write_fd(j->share, fileno(j->o.f), j->err, sizeof j->err);
        isec_vcs_share_free(j->share);
        j->share = NULL;
        if (j->made < 0) {
            cli_err("vcs split: %s", j->err);
            cli_out_abort(&j->o);
            j->rc = -1;
            return NULL;
        }
    } else if (cli_out_write(&j->o, j->buf, j->len) < 0) {
        cli_out_abort(&j->o);
        j->rc = -1;
        return NULL;
    }
    j->rc = cli_out_finish(&j->o);
    return NULL;
}

/* paths: A's, B's sheet files and the secret file. Frees both shares. 0, or the exit code of
 * the failure (message printed). */
static int write_outputs(const char *const paths[3], isec_vcs_share *shares[2],
                         const uint8_t *sec, size_t ls, const char *in)
{
    static const int modes[3] = {0644, 0644, 0600};
    out_job j[3];
    int opened = 0;
    memset(j, 0, sizeof j);
    for (; opened < 3; opened++)
        if (cli_out_open(&j[opened].o, paths[opened], in, modes[opened]) < 0) break;
    if (opened < 3) {
        for (int i = 0; i < opened; i++) cli_out_abort(&j[i].o);
        isec_vcs_share_free(shares[0]);
        isec_vcs_share_free(shares[1]);
        return EXIT_IOERR;
    }
    j[0].share = shares[0];
    j[1].share = shares[1];
    j[2].buf = sec;
    j[2].len = ls;
    pthread_t t[2];
    int started[2] = {0, 0};
    for (int i = 0; i < 2; i++) started[i] = pthread_create(&t[i], NULL, out_job_run, &j[i]) == 0;
    out_job_run(&j[2]);
    for (int i = 0; i < 2; i++) {
        if (started[i]) pthread_join(t[i], NULL);
        else out_job_run(&j[i]);
    }
    if (j[0].rc != 0 || j[1].rc != 0 || j[2].rc != 0) {
        int code = EXIT_IOERR;
        for (int i = 0; i < 2; i++) /* a TIFF that could not be made, not written: as before */
            if (j[i].made < 0 && j[i].made != ISEC_EIO) code = EXIT_FAIL;
        for (int i = 0; i < 3; i++)
            if (j[i].rc == 0) cli_out_abort(&j[i].o); /* the failed ones are gone already */
        return code;
    }
    for (int i = 0; i < 3; i++)
        if (cli_out_commit(&j[i].o) < 0) { /* a rename failed: nothing half-written remains */
            for (int k = i + 1; k < 3; k++) cli_out_abort(&j[k].o);
            return EXIT_IOERR;
        }
    return 0;
}

static int cmd_split(int argc, char **argv)
{
    isec_vcs_params p;
    isec_vcs_params_init(&p);
    const char *in = NULL, *outdir = NULL, *keyfile = NULL, *wmfile = NULL;
    char seedbuf[32];
    int force = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (opt_is(a, "--server")) return cmd_vcs_split_remote(argc, argv);
        if (opt_is(a, "-h") || opt_is(a, "--help")) {
            usage(stdout);
            return EXIT_OK;
        } else if (opt_is(a, "--mode")) {
            if (!need_arg(i, argc, a)) return EXIT_USAGE;
            const char *v = argv[++i];
            if (!strcmp(v, "exact")) p.mode = ISEC_VCS_EXACT;
            else if (!strcmp(v, "secure")) p.mode = ISEC_VCS_SECURE;
            else goto bad;
        } else if (opt_is(a, "--color")) {
            if (!need_arg(i, argc, a)) return EXIT_USAGE;
            const char *v = argv[++i];
            if (!strcmp(v, "halftone")) p.layout = ISEC_VCS_LAYOUT_CMY;
            else if (!strcmp(v, "planes")) p.layout = ISEC_VCS_LAYOUT_PLANES;
            else if (!strcmp(v, "gray")) p.layout = ISEC_VCS_LAYOUT_GRAY;
            else goto bad;
        } else if (opt_is(a, "--halftone")) {
            if (!need_arg(i, argc, a)) return EXIT_USAGE;
            const char *v = argv[++i];
            if (!strcmp(v, "fs")) p.halftone = ISEC_VCS_HT_FS;
            else if (!strcmp(v, "jjn")) p.halftone = ISEC_VCS_HT_JJN;
            else if (!strcmp(v, "stucki")) p.halftone = ISEC_VCS_HT_STUCKI;
            else if (!strcmp(v, "none")) p.halftone = ISEC_VCS_HT_NONE;
            else goto bad;
        } else if (opt_is(a, "--gamma")) {
            if (!need_arg(i, argc, a)) return EXIT_USAGE;
            const char *v = argv[++i];
            if (!strcmp(v, "linear")) p.gamma = ISEC_VCS_GAMMA_LINEAR;
            else if (!strcmp(v, "srgb")) p.gamma = ISEC_VCS_GAMMA_SRGB;
            else goto bad;
        } else if (opt_is(a, "--fill")) {
            if (!need_arg(i, argc, a)) return EXIT_USAGE;
            const char *v = argv[++i];
            if (!strcmp(v, "3b1w")) p.white_fill = ISEC_VCS_FILL_3B1W;
            else if (!strcmp(v, "1b3w")) p.white_fill = ISEC_VCS_FILL_1B3W;
            else goto bad;
        } else if (opt_is(a, "--tiff")) {
            if (!need_arg(i, argc, a)) return EXIT_USAGE;
            const char *v = argv[++i];
            int c = !strcmp(v, "zstd") ? ISEC_SHEET_ZSTD : !strcmp(v, "deflate") ? ISEC_SHEET_DEFLATE
                    : !strcmp(v, "none") ? ISEC_SHEET_NONE : -1;
            if (c < 0) goto bad;
            if (isec_sheet_set_compression(c) < 0) {
                cli_err("vcs split: this libtiff has no %s", v);
                return EXIT_USAGE;
            }
        } else if (opt_is(a, "--serpentine")) {
            p.serpentine = 1;
        } else if (opt_is(a, "--force")) {
            force = 1;
        } else if (opt_is(a, "--seed")) {
            if (!need_arg(i, argc, a)) return EXIT_USAGE;
            snprintf(seedbuf, sizeof seedbuf, "%s", argv[++i]);
            p.seed = (const uint8_t *)seedbuf;
            p.seed_len = strlen(seedbuf);
            if (!p.seed_len) goto bad;
        } else if (opt_is(a, "--key")) {
            if (!need_arg(i, argc, a)) return EXIT_USAGE;
            keyfile = argv[++i];
        } else if (opt_is(a, "--watermark")) {
            if (!need_arg(i, argc, a)) return EXIT_USAGE;
            wmfile = argv[++i];
        } else if (opt_is(a, "-o")) {
            if (!need_arg(i, argc, a)) return EXIT_USAGE;
            outdir = argv[++i];
        } else if (a[0] == '-' && a[1]) {
            cli_err("vcs split: unknown option %s", a);
            return EXIT_USAGE;
        } else if (!in) {
            in = a;
        } else {
            cli_err("vcs split: one input image only");
            return EXIT_USAGE;
        }
        continue;
    bad:
        cli_err("vcs split: bad value '%s' for %s", argv[i], argv[i - 1]);
        return EXIT_USAGE;
    }
    if (!in || !outdir) {
        usage(stderr);
        return EXIT_USAGE;
    }
    char pa[4200], pb[4200], ps[4200], err[400] = "";
    if ((size_t)snprintf(pa, sizeof pa, "%s/a.tiff", outdir) >= sizeof pa ||
        (size_t)snprintf(pb, sizeof pb, "%s/b.tiff", outdir) >= sizeof pb ||
        (size_t)snprintf(ps, sizeof ps, "%s/vcs-secret", outdir) >= sizeof ps) {
        cli_err("vcs split: output directory name too long");
        return EXIT_USAGE;
    }
    if (!force) {
        const char *all[3] = {pa, pb, ps};
        for (int i = 0; i < 3; i++)
            if (access(all[i], F_OK) == 0) {
                cli_err("%s exists; not overwriting (--force to replace)", all[i]);
                return EXIT_IOERR;
            }
    }
    uint32_t w, h;
    unsigned ch;
    uint8_t *px = NULL, key[ISEC_VCS_KEY_LEN];
    int rc = isec_png_read8(in, 0, &w, &h, &ch, &px, err, sizeof err);
    if (rc < 0) {
        cli_err("%s", err);
        return exit_for(rc);
    }
    isec_vcs_watermark wm = {0, 0, NULL};
    isec_vcs_share *sa = NULL, *sb = NULL;
    uint8_t *sec = NULL;
    size_t ls = 0;
    int created_dir = 0, code = EXIT_FAIL;
    isec_vcs_share_info info;
    if (keyfile) {
        rc = load_table_key(keyfile, key);
        if (rc < 0) {
            code = EXIT_KEYERR;
            goto done;
        }
    } else if (RAND_bytes(key, sizeof key) != 1) {
        cli_err("vcs split: no randomness");
        goto done;
    }
    if (wmfile) {
        rc = isec_png_read_watermark(wmfile, &wm, err, sizeof err);
        if (rc < 0) {
            cli_err("%s", err);
            code = exit_for(rc);
            goto done;
        }
    } else if ((rc = random_watermark(&wm, &p)) < 0) {
        cli_err("vcs split: %s", isec_strerror(rc));
        goto done;
    }
    isec_vcs_image img = {w, h, ch, px};
    rc = isec_vcs_split(&img, &p, key, &wm, &sa, &sb);
    if (rc < 0) {
        cli_err("vcs split: %s: %s", in, isec_strerror(rc));
        goto done;
    }
    if ((rc = isec_vcs_secret_encode(key, &wm, &sec, &ls)) < 0) {
        cli_err("vcs split: %s", isec_strerror(rc));
        goto done;
    }
    info = *isec_vcs_share_get_info(sa);
    if (mkdir(outdir, 0700) == 0) created_dir = 1;
    else if (errno != EEXIST) {
        cli_err("%s: %s", outdir, strerror(errno));
        code = EXIT_IOERR;
        goto done;
    }
    {
        /* The files appear all or none; the shares are wiped and freed on the way. */
        const char *paths[3] = {pa, pb, ps};
        isec_vcs_share *both[2] = {sa, sb};
        sa = sb = NULL;
        const int wc = write_outputs(paths, both, sec, ls, in);
        if (wc != 0) {
            if (created_dir) rmdir(outdir);
            code = wc;
            goto done;
        }
    }
    {
        char tid[33], wid[33];
        for (unsigned i = 0; i < ISEC_VCS_ID_LEN; i++) {
            snprintf(tid + 2 * i, 3, "%02x", info.table_id[i]);
            snprintf(wid + 2 * i, 3, "%02x", info.wm_id[i]);
        }
        printf("%s: %ux%u, %s mode, %u plane%s x 4 sheets per participant\n", in, w, h,
               p.mode ? "secure" : "exact", info.nplanes, info.nplanes > 1 ? "s" : "");
        printf("wrote %s (A: sheets 0,2,4,6), %s (B: sheets 1,3,5,7), %s (keep secret)\n", pa, pb, ps);
        printf("table-id %s wm-id %s\n", tid, wid);
    }
    code = EXIT_OK;
done:
    OPENSSL_cleanse(key, sizeof key);
    if (sec) OPENSSL_cleanse(sec, ls);
    free(sec);
    free(px);
    isec_vcs_share_free(sa);
    isec_vcs_share_free(sb);
    isec_vcs_watermark_clear(&wm);
    return code;
}

/* Reads two sheet files and orders them A, B. */
static int read_pair(const char *f1, const char *f2, isec_vcs_share **a, isec_vcs_share **b)
{
    char err[400] = "";
    const char *paths[2] = {f1, f2};
    isec_vcs_share *got[2];
    int rc = isec_sheet_read_file_pair(paths, NULL, got, err, sizeof err);
    *a = got[0];
    *b = got[1];
    if (rc < 0) {
        cli_err("%s", err);
        return rc;
    }
    const isec_vcs_share_info *i1 = isec_vcs_share_get_info(*a), *i2 = isec_vcs_share_get_info(*b);
    if (i1->participant == i2->participant) {
        cli_err("%s and %s are both participant %c's sheets", f1, f2, i1->participant ? 'B' : 'A');
        rc = ISEC_EINVAL;
    } else if (i1->width != i2->width || i1->height != i2->height || i1->layout != i2->layout ||
               i1->nplanes != i2->nplanes || i1->mode != i2->mode) {
        cli_err("%s and %s are not from the same split (size, layout or mode differ)", f1, f2);
        rc = ISEC_EINVAL;
    }
    if (rc < 0) {
        isec_vcs_share_free(*a);
        isec_vcs_share_free(*b);
        *a = *b = NULL;
        return rc;
    }
    if (i1->participant == ISEC_VCS_B) {
        isec_vcs_share *t = *a;
        *a = *b;
        *b = t;
    }
    return 0;
}

static int cmd_stack(int argc, char **argv)
{
    const char *files[2] = {NULL, NULL}, *out = NULL;
    unsigned bits = 0, nf = 0;
    for (int i = 1; i < argc; i++) {
        if (opt_is(argv[i], "-o")) {
            if (!need_arg(i, argc, "-o")) return EXIT_USAGE;
            out = argv[++i];
        } else if (opt_is(argv[i], "--bits")) {
            if (!need_arg(i, argc, "--bits")) return EXIT_USAGE;
            char *end;
            unsigned long v = strtoul(argv[++i], &end, 10);
            if (*end || v < 1 || v > 8) {
                cli_err("vcs stack: --bits takes 1..8");
                return EXIT_USAGE;
            }
            bits = (unsigned)v;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            cli_err("vcs stack: unknown option %s", argv[i]);
            return EXIT_USAGE;
        } else if (nf < 2) {
            files[nf++] = argv[i];
        } else {
            cli_err("vcs stack: two sheet files");
            return EXIT_USAGE;
        }
    }
    if (nf != 2 || !out) {
        usage(stderr);
        return EXIT_USAGE;
    }
    isec_vcs_share *a, *b;
    int rc = read_pair(files[0], files[1], &a, &b);
    if (rc < 0) return exit_for(rc);
    const isec_vcs_share_info *info = isec_vcs_share_get_info(a);
    size_t n = isec_vcs_stack_bound(a);
    uint8_t *px = malloc(n);
    int code = EXIT_FAIL;
    char err[400] = "";
    const uint32_t width = info->width, height = info->height;
    if (!px) cli_err("out of memory");
    else if ((rc = isec_vcs_stack(a, b, bits, px, n)) < 0)
        cli_err("vcs stack: %s", isec_strerror(rc));
    /* The sheets are done with: wiped and freed in a thread while the PNG is written. */
    pthread_t ft;
    const int freeing = isec_sheet_free_pair_start(a, b, &ft);
    if (!px || rc < 0) {
    } else if ((rc = isec_png_write8(out, width, height, (unsigned)(n / ((size_t)width * height)),
                                     px, 0, err, sizeof err)) < 0) {
        cli_err("%s", err);
        code = EXIT_IOERR;
    } else
        code = EXIT_OK;
    free(px);
    if (freeing) pthread_join(ft, NULL);
    return code;
}

static int cmd_export(int argc, char **argv)
{
    const char *in = NULL, *dir = NULL;
    for (int i = 1; i < argc; i++) {
        if (opt_is(argv[i], "-o")) {
            if (!need_arg(i, argc, "-o")) return EXIT_USAGE;
            dir = argv[++i];
        } else if (argv[i][0] == '-' && argv[i][1]) {
            cli_err("vcs export-png: unknown option %s", argv[i]);
            return EXIT_USAGE;
        } else if (!in) {
            in = argv[i];
        } else {
            cli_err("vcs export-png: one sheet file");
            return EXIT_USAGE;
        }
    }
    if (!in || !dir) {
        usage(stderr);
        return EXIT_USAGE;
    }
    char err[400] = "";
    isec_vcs_share *s = NULL;
    int rc = isec_sheet_read_file(in, NULL, &s, err, sizeof err);
    if (rc < 0) {
        cli_err("%s", err);
        return exit_for(rc);
    }
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        cli_err("%s: %s", dir, strerror(errno));
        isec_vcs_share_free(s);
        return EXIT_IOERR;
    }
    const isec_vcs_share_info *info = isec_vcs_share_get_info(s);
    rc = isec_sheet_export_png(s, dir, info->participant ? "b" : "a", 0, err, sizeof err);
    if (rc < 0) cli_err("%s", err);
    else
        printf("wrote %u PNG sheets to %s\n", info->nplanes * ISEC_VCS_SHEETS, dir);
    isec_vcs_share_free(s);
    return rc < 0 ? exit_for(rc) : EXIT_OK;
}

/* Whole small file (the secret file) into a malloc'd buffer; NULL and err on failure. */
static uint8_t *read_small(const char *path, size_t max, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    uint8_t *b = malloc(max + 1);
    size_t n = b ? fread(b, 1, max + 1, f) : 0;
    int bad = !b || ferror(f);
    fclose(f);
    if (bad || n > max) {
        snprintf(err, errlen, "%s: %s", path, !b ? "out of memory" : bad ? "read error" : "too large");
        free(b);
        return NULL;
    }
    *len = n;
    return b;
}

static int cmd_watermark(int argc, char **argv)
{
    const char *files[2] = {NULL, NULL}, *secret = NULL;
    unsigned nf = 0;
    double min_nc = 0.9, max_invalid = 0.05, max_block_ber = 0.02;
    for (int i = 1; i < argc; i++) {
        if (opt_is(argv[i], "--secret")) {
            if (!need_arg(i, argc, "--secret")) return EXIT_USAGE;
            secret = argv[++i];
        } else if (opt_is(argv[i], "--min-nc")) {
            if (!need_arg(i, argc, "--min-nc")) return EXIT_USAGE;
            char *end;
            min_nc = strtod(argv[++i], &end);
            if (*end || !(min_nc >= 0 && min_nc <= 1)) {
                cli_err("vcs watermark: --min-nc takes 0..1");
                return EXIT_USAGE;
            }
        } else if (opt_is(argv[i], "--max-block-ber")) {
            if (!need_arg(i, argc, "--max-block-ber")) return EXIT_USAGE;
            char *end;
            max_block_ber = strtod(argv[++i], &end);
            if (*end || !(max_block_ber >= 0 && max_block_ber <= 1)) {
                cli_err("vcs watermark: --max-block-ber takes 0..1");
                return EXIT_USAGE;
            }
        } else if (opt_is(argv[i], "--max-invalid")) {
            if (!need_arg(i, argc, "--max-invalid")) return EXIT_USAGE;
            char *end;
            max_invalid = strtod(argv[++i], &end);
            if (*end || !(max_invalid >= 0 && max_invalid <= 1)) {
                cli_err("vcs watermark: --max-invalid takes 0..1");
                return EXIT_USAGE;
            }
        } else if (argv[i][0] == '-' && argv[i][1]) {
            cli_err("vcs watermark: unknown option %s", argv[i]);
            return EXIT_USAGE;
        } else if (nf < 2) {
            files[nf++] = argv[i];
        } else {
            cli_err("vcs watermark: two sheet files");
            return EXIT_USAGE;
        }
    }
    if (nf != 2 || !secret) {
        usage(stderr);
        return EXIT_USAGE;
    }
    char err[400] = "";
    size_t len = 0;
    uint8_t *buf = read_small(secret, 1u << 22, &len, err, sizeof err);
    if (!buf) {
        cli_err("%s", err);
        return EXIT_IOERR;
    }
    uint8_t key[ISEC_VCS_KEY_LEN];
    isec_vcs_watermark wm;
    int rc = isec_vcs_secret_decode(buf, len, key, &wm);
    OPENSSL_cleanse(buf, len);
    free(buf);
    if (rc < 0) {
        cli_err("%s: not a VCS secret file (%s)", secret, isec_strerror(rc));
        return EXIT_KEYERR;
    }
    isec_vcs_share *a = NULL, *b = NULL;
    int code = EXIT_FAIL;
    rc = read_pair(files[0], files[1], &a, &b);
    if (rc == 0) {
        uint8_t tid[ISEC_VCS_ID_LEN], wid[ISEC_VCS_ID_LEN];
        isec_vcs_table_id(key, tid);
        rc = isec_vcs_watermark_id(&wm, wid);
        const isec_vcs_share_info *ia = isec_vcs_share_get_info(a), *ib = isec_vcs_share_get_info(b);
        int ids_ok = rc == 0 && !memcmp(ia->table_id, tid, sizeof tid) &&
                     !memcmp(ib->table_id, tid, sizeof tid) && !memcmp(ia->wm_id, wid, sizeof wid) &&
                     !memcmp(ib->wm_id, wid, sizeof wid) &&
                     !memcmp(ia->split_id, ib->split_id, sizeof ia->split_id);
        isec_vcs_wm_result r;
        rc = isec_vcs_watermark_extract(a, b, key, &wm, NULL, &r);
        if (rc < 0) {
            cli_err("vcs watermark: %s", isec_strerror(rc));
        } else {
            printf("NC %.4f\nBER %.4f\nblock-BER %.4f\nblocks %llu\ninvalid %llu\nerasures %llu\n",
                   r.nc, r.ber, r.block_ber, (unsigned long long)r.blocks,
                   (unsigned long long)r.invalid, (unsigned long long)r.erasures);
            printf("ids %s\n", ids_ok ? "match" : "DIFFER (another table, watermark or split)");
            double inv = r.blocks ? (double)r.invalid / (double)r.blocks : 1.0;
            int genuine = ids_ok && r.nc >= min_nc && inv <= max_invalid && r.block_ber <= max_block_ber;
            printf("verdict %s (NC %s %.2f, invalid fraction %.4f %s %.2f, block-BER %s %.2f)\n",
                   genuine ? "genuine" : "NOT GENUINE", r.nc >= min_nc ? ">=" : "<", min_nc, inv,
                   inv <= max_invalid ? "<=" : ">", max_invalid,
                   r.block_ber <= max_block_ber ? "<=" : ">", max_block_ber);
            code = genuine ? EXIT_OK : EXIT_FAIL;
        }
    } else {
        code = exit_for(rc);
    }
    OPENSSL_cleanse(key, sizeof key);
    isec_vcs_watermark_clear(&wm);
    /* a wiped and freed in a thread while b is here */
    pthread_t ft;
    const int freeing = isec_sheet_free_pair_start(a, NULL, &ft);
    isec_vcs_share_free(b);
    if (freeing) pthread_join(ft, NULL);
    return code;
}

static int cmd_info(int argc, char **argv)
{
    if (argc != 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    char err[400] = "";
    isec_vcs_share *s = NULL;
    int rc = isec_sheet_read_file(argv[1], NULL, &s, err, sizeof err);
    if (rc < 0) {
        cli_err("%s", err);
        return exit_for(rc);
    }
    const isec_vcs_share_info *in = isec_vcs_share_get_info(s);
    uint8_t d[ISEC_VCS_DIGEST_LEN];
    rc = isec_vcs_share_digest(s, d);
    static const char *const layouts[] = {"gray", "cmy", "planes"};
    printf("participant %c\nsize %ux%u\nmode %s\nlayout %s\nchannels %u\nplanes %u\nfill %s\n",
           in->participant ? 'B' : 'A', in->width, in->height, in->mode ? "secure" : "exact",
           layouts[in->layout], in->channels, in->nplanes, in->white_fill ? "1b3w" : "3b1w");
    printf("table-id ");
    for (unsigned i = 0; i < ISEC_VCS_ID_LEN; i++) printf("%02x", in->table_id[i]);
    printf("\nwm-id ");
    for (unsigned i = 0; i < ISEC_VCS_ID_LEN; i++) printf("%02x", in->wm_id[i]);
    printf("\nsplit-id ");
    for (unsigned i = 0; i < ISEC_VCS_ID_LEN; i++) printf("%02x", in->split_id[i]);
    printf("\nsha256 ");
    for (unsigned i = 0; rc == 0 && i < ISEC_VCS_DIGEST_LEN; i++) printf("%02x", d[i]);
    printf("\n");
    isec_vcs_share_free(s);
    return rc < 0 ? EXIT_FAIL : EXIT_OK;
}

int cmd_vcs(int argc, char **argv)
{
    if (argc < 2 || opt_is(argv[1], "-h") || opt_is(argv[1], "--help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    const char *sub = argv[1];
    if (!strcmp(sub, "split")) return cmd_split(argc - 1, argv + 1);
    if (!strcmp(sub, "stack")) return cmd_stack(argc - 1, argv + 1);
    if (!strcmp(sub, "export-png")) return cmd_export(argc - 1, argv + 1);
    if (!strcmp(sub, "watermark")) return cmd_watermark(argc - 1, argv + 1);
    if (!strcmp(sub, "info")) return cmd_info(argc - 1, argv + 1);
    if (!strcmp(sub, "verify")) return cmd_vcs_verify(argc - 1, argv + 1);
    cli_err("vcs: unknown subcommand '%s'", sub);
    usage(stderr);
    return EXIT_USAGE;
}

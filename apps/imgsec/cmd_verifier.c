/* imgsec verifier: the attested VCS sheet verifier service (docs/verifier.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "vf_server.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: imgsec verifier --listen ADDR:PORT|unix:/PATH --state-dir DIR\n"
            "                       [--backend soft|tpm2] [--tpm-tcti STR] [--threshold NC]\n"
            "                       [--max-body BYTES] [--timeout SECONDS] [--ready-fd FD]\n"
            "Keeps VCS table keys and watermarks sealed in DIR and answers split and verify\n"
            "requests with attested reports. Writes DIR/verifier.pem, what clients trust.\n"
            "  --backend soft  ECDSA P-256 service key, sealing key from DIR/seal-root (default)\n"
            "  --backend tpm2  TPM 2.0 quote + PCR-bound sealing; --tpm-tcti e.g. swtpm:port=2321\n"
            "                  or device:/dev/tpmrm0 (default: tpm2-tss's choice)\n"
            "  --threshold NC  NC needed for a 'genuine' verdict (default 0.75)\n"
            "  --max-invalid F largest fraction of invalid blocks for 'genuine' (default 0.05)\n"
            "  --max-wrong F   largest fraction of wrong voting blocks for 'genuine' (default 0.02)\n"
            "  --max-body      largest request body (default 67108864)\n"
            "  --timeout       connection read/write timeout (default 30)\n"
            "  --import FILE   seal a vcs-secret made by a local split, then exit (no server)\n");
}

static int parse_num(const char *s, double lo, double hi, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (!*s || *end || !(v >= lo && v <= hi)) return -1;
    *out = v;
    return 0;
}

int cmd_verifier(int argc, char **argv)
{
    const char *listen = NULL, *dir = NULL, *backend = "soft", *tcti = NULL, *import = NULL;
    double threshold = 0.75, max_invalid = 0.05, max_wrong = 0.02, max_body = 64.0 * 1024 * 1024, timeout = 30, ready = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return EXIT_OK;
        }
        int takes = !strcmp(a, "--listen") || !strcmp(a, "--state-dir") || !strcmp(a, "--backend") ||
                    !strcmp(a, "--tpm-tcti") || !strcmp(a, "--threshold") || !strcmp(a, "--max-body") || !strcmp(a, "--max-invalid") || !strcmp(a, "--max-wrong") ||
                    !strcmp(a, "--timeout") || !strcmp(a, "--ready-fd") || !strcmp(a, "--import");
        if (!takes) {
            cli_err("verifier: unknown option '%s'", a);
            usage(stderr);
            return EXIT_USAGE;
        }
        if (!v) {
            cli_err("verifier: %s needs a value", a);
            return EXIT_USAGE;
        }
        i++;
        int bad = 0;
        if (!strcmp(a, "--listen")) listen = v;
        else if (!strcmp(a, "--state-dir")) dir = v;
        else if (!strcmp(a, "--backend")) backend = v;
        else if (!strcmp(a, "--tpm-tcti")) tcti = v;
        else if (!strcmp(a, "--import")) import = v;
        else if (!strcmp(a, "--threshold")) bad = parse_num(v, 0, 1, &threshold);
        else if (!strcmp(a, "--max-invalid")) bad = parse_num(v, 0, 1, &max_invalid);
        else if (!strcmp(a, "--max-wrong")) bad = parse_num(v, 0, 1, &max_wrong);
        else if (!strcmp(a, "--max-body")) bad = parse_num(v, 1024, 1 << 30, &max_body);
        else if (!strcmp(a, "--timeout")) bad = parse_num(v, 1, 3600, &timeout);
        else if (!strcmp(a, "--ready-fd")) bad = parse_num(v, 0, 1 << 20, &ready);
        if (bad) {
            cli_err("verifier: bad value '%s' for %s", v, a);
            return EXIT_USAGE;
        }
    }
    if (!dir || (!listen && !import)) {
        cli_err("verifier: --state-dir and --listen are required");
        usage(stderr);
        return EXIT_USAGE;
    }
    if (strcmp(backend, "soft") && strcmp(backend, "tpm2")) {
        cli_err("verifier: --backend must be soft or tpm2");
        return EXIT_USAGE;
    }
    char err[512] = "";
    if (vf_mkdir_p(dir)) {
        cli_err("verifier: %s: cannot create the state directory", dir);
        return EXIT_IOERR;
    }
    char *tmpdir = vf_path(dir, "tmp");
    if (!tmpdir || vf_mkdir_p(tmpdir)) {
        cli_err("verifier: %s/tmp: cannot create", dir);
        free(tmpdir);
        return EXIT_IOERR;
    }
    free(tmpdir);
    vf_service sv = {0};
    sv.dir = (char *)dir;
    sv.threshold_ppm = isec_vreport_ppm(threshold);
    sv.max_invalid_ppm = isec_vreport_ppm(max_invalid);
    sv.max_wrong_ppm = isec_vreport_ppm(max_wrong);
    sv.max_split_bytes = 256u << 20;
    sv.default_wm_dim = 64;
    isec_sheet_limits_init(&sv.lim);
    sv.lim.max_bytes = (uint64_t)max_body;
    sv.lim.max_pixel_bytes = 256u << 20;
    int rc = vf_backend_open(&sv.b, backend, dir, tcti, err, sizeof err);
    if (rc) {
        cli_err("verifier: %s", err);
        return rc == ISEC_EAUTH ? EXIT_KEYERR : EXIT_FAIL;
    }
    int ex = EXIT_OK;
    char *tp = vf_path(dir, "verifier.pem");
    if (vf_store_open(&sv.store, dir, sv.b, err, sizeof err)) {
        cli_err("verifier: %s", err);
        ex = EXIT_KEYERR;
    } else if (!tp || vf_trust_write(tp, sv.b)) {
        cli_err("verifier: %s/verifier.pem: cannot write", dir);
        ex = EXIT_IOERR;
    } else if (import) {
        uint8_t *buf = NULL;
        size_t len = 0;
        const vf_secret *e = NULL;
        if (vf_read_file(import, VF_MAX_SECRET, &buf, &len)) {
            cli_err("verifier: %s: cannot read", import);
            ex = EXIT_IOERR;
        } else if ((rc = vf_store_add(&sv.store, buf, len, &e))) {
            cli_err("verifier: %s: %s", import,
                    rc == ISEC_EEXIST ? "this table key is already sealed here" : isec_strerror(rc));
            ex = rc == ISEC_EEXIST ? EXIT_OK : EXIT_FAIL;
        } else {
            char t[33];
            isec_hex(e->table_id, 16, t);
            printf("sealed table %s\n", t);
        }
        vf_free_secret(buf, len);
    } else {
        vf_server_opts o = {listen, (size_t)max_body, (int)timeout, (int)ready};
        if (vf_server_run(&sv, &o, err, sizeof err)) {
            cli_err("verifier: %s", err);
            ex = EXIT_FAIL;
        }
    }
    free(tp);
    vf_store_close(&sv.store);
    vf_backend_free(sv.b);
    return ex;
}

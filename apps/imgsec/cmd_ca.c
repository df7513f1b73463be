/* imgsec ca export: the proxy's CA certificate, for installing on devices. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "../proxy/proxy.h"
#include "cli.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: imgsec ca export --state-dir DIR [--der] [-o FILE]\n"
               "  Prints the proxy's CA certificate (PEM; --der for the binary form that iOS and\n"
               "  Android profiles also take). Creates the state (key, CA) if it does not exist.\n"
               "  Never prints the CA's private key.\n");
}

int cmd_ca(int argc, char **argv)
{
    static const struct option opts[] = {
        {"state-dir", required_argument, NULL, 's'},
        {"der", no_argument, NULL, 'd'},
        {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    if (argc < 2 || strcmp(argv[1], "export") != 0) {
        if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
            usage(stdout);
            return EXIT_OK;
        }
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *dir = NULL, *out = "-";
    int der = 0, ch;
    optind = 1;
    while ((ch = getopt_long(argc - 1, argv + 1, "s:do:h", opts, NULL)) != -1) {
        switch (ch) {
        case 's': dir = optarg; break;
        case 'd': der = 1; break;
        case 'o': out = optarg; break;
        case 'h': usage(stdout); return EXIT_OK;
        default: usage(stderr); return EXIT_USAGE;
        }
    }
    if (!dir || optind != argc - 1) {
        usage(stderr);
        return EXIT_USAGE;
    }
    char err[512];
    px_ca *ca = NULL;
    if (px_state_init(dir, err, sizeof err) < 0 || px_ca_open(&ca, dir, err, sizeof err) < 0) {
        cli_err("ca: %s", err);
        return EXIT_IOERR;
    }
    unsigned char *buf = NULL;
    int len = 0;
    if (der) {
        len = i2d_X509(px_ca_cert(ca), &buf);
    } else {
        BIO *b = BIO_new(BIO_s_mem());
        char *p = NULL;
        if (b && PEM_write_bio_X509(b, px_ca_cert(ca)) == 1) {
            long n = BIO_get_mem_data(b, &p);
            if (n > 0 && (buf = OPENSSL_malloc((size_t)n)) != NULL) {
                memcpy(buf, p, (size_t)n);
                len = (int)n;
            }
        }
        BIO_free(b);
    }
    px_ca_free(ca);
    if (len <= 0 || !buf) {
        cli_err("ca: cannot encode the certificate");
        OPENSSL_free(buf);
        return EXIT_FAIL;
    }
    cli_out o;
    int status = EXIT_OK;
    if (cli_out_open(&o, out, NULL, 0644) < 0) {
        status = EXIT_IOERR;
    } else if (cli_out_write(&o, buf, (size_t)len) < 0) {
        cli_out_abort(&o);
        status = EXIT_IOERR;
    } else if (cli_out_commit(&o) < 0) {
        status = EXIT_IOERR;
    }
    OPENSSL_free(buf);
    return status;
}

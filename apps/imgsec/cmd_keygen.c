/* imgsec keygen -o KEYFILE [--passphrase] [--passphrase-file F] */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "imgsec/keys.h"

#include "cli.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: imgsec keygen -o KEYFILE [--passphrase [--passphrase-file FILE]]\n"
               "  Creates KEYFILE (mode 0600; never overwrites an existing file) holding a random\n"
               "  256-bit key, or with --passphrase the scrypt salt and parameters for a key\n"
               "  derived from a passphrase (asked on the terminal, or read from FILE or from\n"
               "  $IMGSEC_PASSPHRASE).\n");
}

int cmd_keygen(int argc, char **argv)
{
    const char *out = NULL, *passfile = NULL;
    int pass = 0;
    static const struct option opts[] = {{"output", required_argument, 0, 'o'},
                                         {"passphrase", no_argument, 0, 'p'},
                                         {"passphrase-file", required_argument, 0, 'P'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
        switch (ch) {
        case 'o': out = optarg; break;
        case 'p': pass = 1; break;
        case 'P': passfile = optarg; pass = 1; break;
        case 'h': usage(stdout); return EXIT_OK;
        default: usage(stderr); return EXIT_USAGE;
        }
    }
    if (!out || optind != argc) {
        usage(stderr);
        return EXIT_USAGE;
    }
    int rc;
    if (pass) {
        char *pw = cli_read_passphrase(passfile, "New passphrase: ", 1);
        if (!pw) return EXIT_KEYERR;
        rc = isec_key_create_passphrase(out, pw, strlen(pw));
        cli_free_secret(pw);
    } else {
        rc = isec_key_create_random(out);
    }
    if (rc == ISEC_EEXIST) {
        cli_err("%s: already exists; refusing to overwrite a key", out);
        return EXIT_IOERR;
    }
    if (rc < 0) {
        cli_err("%s: cannot create key file: %s", out, isec_strerror(rc));
        return rc == ISEC_EIO ? EXIT_IOERR : EXIT_FAIL;
    }
    return EXIT_OK;
}

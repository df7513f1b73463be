/* imgsec: one command, one subcommand per job.
 *
 * Built twice from this file. imgsec-ext (ISEC_FULL) holds every subcommand. imgsec itself
 * holds the ones that need nothing beyond libcrypto and libpng (keygen, jpeg, ccsds) and runs
 * the others by exec'ing imgsec-ext from its own directory: the proxy, the VCS tools and the
 * verifier pull in some 25 shared libraries (libevent, SQLite, libtiff with its codecs and
 * libstdc++, tpm2-tss), whose loading cost every `imgsec jpeg` run 5 ms or more, most of the
 * time it takes on a small file. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

const char *cli_prog = "imgsec";
static char **orig_argv;

#ifndef ISEC_FULL
/* Runs the same command line in imgsec-ext beside this executable. Returns only on failure. */
static int run_ext(int argc, char **argv)
{
    (void)argc;
    char self[PATH_MAX], ext[PATH_MAX + 16];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) {
        cli_err("%s: cannot find this executable: %s", argv[0], strerror(errno));
        return EXIT_FAIL;
    }
    self[n] = 0;
    char *slash = strrchr(self, '/');
    if (slash) *slash = 0;
    snprintf(ext, sizeof ext, "%s/imgsec-ext", slash ? self : ".");
    execv(ext, orig_argv);
    cli_err("%s: this command lives in %s, which cannot be run: %s", argv[0], ext, strerror(errno));
    return EXIT_FAIL;
}
#define EXT(fn) run_ext
#else
#define EXT(fn) fn
#endif

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
} commands[] = {
    {"keygen", cmd_keygen, "create a key file (random, or from a passphrase)"},
    {"jpeg", cmd_jpeg, "encrypt, decrypt or inspect JPEG files in the bitstream"},
    {"ccsds", cmd_ccsds, "CCSDS 122.0 image codec: encode, decode, inspect"},
    {"proxy", EXT(cmd_proxy), "photo privacy proxy: encrypts JPEG uploads to cloud photo services"},
    {"ca", EXT(cmd_ca), "the proxy's certificate authority: export it for devices"},
    {"verifier", EXT(cmd_verifier), "attested VCS sheet verifier service (seals the table key and watermark)"},
    {"vcs", EXT(cmd_vcs), "visual cryptography: split an image into sheets, stack, watermark"},
    /* further systems register here, one line each */
};

static void usage(FILE *f)
{
    fprintf(f, "usage: imgsec <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
    fprintf(f, "\n'imgsec <command> --help' for a command's options; 'man imgsec' for more.\n");
}

int main(int argc, char **argv)
{
    orig_argv = argv;
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return EXIT_OK;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("imgsec 0.1.0\n");
        return EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].fn(argc - 1, argv + 1);
    cli_err("unknown command '%s'", argv[1]);
    usage(stderr);
    return EXIT_USAGE;
}

/* imgsec: one command, one subcommand per job. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

const char *cli_prog = "imgsec";

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
} commands[] = {
    {"keygen", cmd_keygen, "create a key file (random, or from a passphrase)"},
    {"jpeg", cmd_jpeg, "encrypt, decrypt or inspect JPEG files in the bitstream"},
    {"ccsds", cmd_ccsds, "CCSDS 122.0 image codec: encode, decode, inspect"},
    {"proxy", cmd_proxy, "photo privacy proxy: encrypts JPEG uploads to cloud photo services"},
    {"ca", cmd_ca, "the proxy's certificate authority: export it for devices"},
    {"verifier", cmd_verifier, "attested VCS sheet verifier service (seals the table key and watermark)"},
    {"vcs", cmd_vcs, "visual cryptography: split an image into sheets, stack, watermark"},
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

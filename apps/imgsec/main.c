/* imgsec: one command, one subcommand per job.
 *
 * Built twice from this file. imgsec-ext (ISEC_FULL) holds every subcommand. imgsec itself is
 * the front: it holds `ccsds` (libpng, libz, libm) and loads the rest on demand, so that each
 * command pays only for the libraries it uses:
 *   - keygen and jpeg are in imgsec-jpeg.so beside it (libcrypto), loaded with dlopen: loading
 *     and relocating libcrypto costs ~0.5 ms, a tenth of `imgsec ccsds decode` on a 512x512
 *     image, and the same whether it comes through DT_NEEDED or dlopen;
 *   - vcs is in imgsec-vcs.so (libtiff, libpng, libcrypto);
 *   - the proxy, its CA and the verifier service exec imgsec-ext from the same directory: they
 *     pull in some 25 shared libraries (libevent, SQLite, libtiff with its codecs and libstdc++,
 *     tpm2-tss), and the verifier's measurement is that one executable's digest. */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

const char *cli_prog = "imgsec";
static char **orig_argv;

#ifndef ISEC_FULL
/* The directory of this executable into dir (no trailing slash). Returns 0 or -1 (reported). */
static int exe_dir(char *dir, size_t size, const char *cmd)
{
    ssize_t n = readlink("/proc/self/exe", dir, size - 1);
    if (n <= 0) {
        cli_err("%s: cannot find this executable: %s", cmd, strerror(errno));
        return -1;
    }
    dir[n] = 0;
    char *slash = strrchr(dir, '/');
    if (slash) *slash = 0;
    else snprintf(dir, size, ".");
    return 0;
}

/* Runs the same command line in imgsec-ext beside this executable. Returns only on failure. */
static int run_ext(int argc, char **argv)
{
    (void)argc;
    char dir[PATH_MAX], ext[PATH_MAX + 16];
    if (exe_dir(dir, sizeof dir, argv[0]) != 0) return EXIT_FAIL;
    snprintf(ext, sizeof ext, "%s/imgsec-ext", dir);
    execv(ext, orig_argv);
    cli_err("%s: this command lives in %s, which cannot be run: %s", argv[0], ext, strerror(errno));
    return EXIT_FAIL;
}

/* Runs the subcommand `sym` of the module `file` beside this executable (module_*.c). */
static int run_module(const char *file, const char *sym, int argc, char **argv)
{
    char dir[PATH_MAX], path[PATH_MAX + 32];
    if (exe_dir(dir, sizeof dir, argv[0]) != 0) return EXIT_FAIL;
    snprintf(path, sizeof path, "%s/%s", dir, file);
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        cli_err("%s: this command lives in %s, which cannot be loaded: %s", argv[0], path,
                dlerror());
        return EXIT_FAIL;
    }
    int (*fn)(int, char **);
    *(void **)&fn = dlsym(h, sym); /* POSIX: object pointer to function pointer */
    if (!fn) {
        cli_err("%s: %s has no %s: %s", argv[0], path, sym, dlerror());
        return EXIT_FAIL;
    }
    return fn(argc, argv); /* the module stays loaded until exit */
}

static int mod_keygen(int argc, char **argv)
{
    return run_module("imgsec-jpeg.so", "isec_module_keygen", argc, argv);
}

static int mod_jpeg(int argc, char **argv)
{
    return run_module("imgsec-jpeg.so", "isec_module_jpeg", argc, argv);
}

static int mod_vcs(int argc, char **argv)
{
    return run_module("imgsec-vcs.so", "isec_module_vcs", argc, argv);
}
#define EXT(fn) run_ext
#define MOD(fn) mod_##fn
#else
#define EXT(fn) fn
#define MOD(fn) cmd_##fn
#endif

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
} commands[] = {
    {"keygen", MOD(keygen), "create a key file (random, or from a passphrase)"},
    {"jpeg", MOD(jpeg), "encrypt, decrypt or inspect JPEG files in the bitstream"},
    {"ccsds", cmd_ccsds, "CCSDS 122.0 image codec: encode, decode, inspect"},
    {"proxy", EXT(cmd_proxy), "photo privacy proxy: encrypts JPEG uploads to cloud photo services"},
    {"ca", EXT(cmd_ca), "the proxy's certificate authority: export it for devices"},
    {"verifier", EXT(cmd_verifier), "attested VCS sheet verifier service (seals the table key and watermark)"},
    {"vcs", MOD(vcs), "visual cryptography: split an image into sheets, stack, watermark"},
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

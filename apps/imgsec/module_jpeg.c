/* imgsec-jpeg.so: the subcommands that need libcrypto (keygen, jpeg), loaded by the imgsec front
 * binary with dlopen when one of them runs (main.c). Built with hidden visibility: these two
 * entry points are all it exports. */
#include <openssl/crypto.h>

#include "cli.h"

const char *cli_prog = "imgsec";

#define ISEC_MODULE_EXPORT __attribute__((visibility("default")))

ISEC_MODULE_EXPORT int isec_module_keygen(int argc, char **argv);
ISEC_MODULE_EXPORT int isec_module_jpeg(int argc, char **argv);

/* OpenSSL's exit handler frees its global tables (providers, method stores, names) as the
 * process ends, about 0.4 ms of a command that may take 5: the kernel frees them anyway. Our own
 * secrets are wiped by their owners before exit (isec_key_free, isec_jpeg_free), not by it. */
static void openssl_no_atexit(void)
{
    (void)OPENSSL_init_crypto(OPENSSL_INIT_NO_ATEXIT, NULL);
}

int isec_module_keygen(int argc, char **argv)
{
    openssl_no_atexit();
    return cmd_keygen(argc, argv);
}

int isec_module_jpeg(int argc, char **argv)
{
    openssl_no_atexit();
    return cmd_jpeg(argc, argv);
}

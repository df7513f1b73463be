/* imgsec-jpeg.so: the subcommands that need libcrypto (keygen, jpeg), loaded by the imgsec front
 * binary with dlopen when one of them runs (main.c). Built with hidden visibility: these two
 * entry points are all it exports. */
#include "cli.h"

const char *cli_prog = "imgsec";

#define ISEC_MODULE_EXPORT __attribute__((visibility("default")))

ISEC_MODULE_EXPORT int isec_module_keygen(int argc, char **argv);
ISEC_MODULE_EXPORT int isec_module_jpeg(int argc, char **argv);

int isec_module_keygen(int argc, char **argv)
{
    return cmd_keygen(argc, argv);
}

int isec_module_jpeg(int argc, char **argv)
{
    return cmd_jpeg(argc, argv);
}

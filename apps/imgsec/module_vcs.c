/* imgsec-vcs.so: the `vcs` subcommand (split, stack, watermark, export-png, info, and the
 * verifier client), loaded by the imgsec front binary with dlopen when it runs (main.c). Built
 * with hidden visibility: this entry point is all it exports. */
#include "cli.h"

const char *cli_prog = "imgsec";

__attribute__((visibility("default"))) int isec_module_vcs(int argc, char **argv);

int isec_module_vcs(int argc, char **argv)
{
    return cmd_vcs(argc, argv);
}

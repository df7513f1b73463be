#include "cli.h"
int cmd_jpeg(int argc, char **argv) { (void)argc; (void)argv; return EXIT_FAIL; }

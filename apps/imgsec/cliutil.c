/* placeholder: being written */
#include <stdarg.h>
#include "cli.h"
void cli_err(const char *fmt, ...) { va_list ap; va_start(ap, fmt); fprintf(stderr, "imgsec: "); vfprintf(stderr, fmt, ap); fputc('\n', stderr); va_end(ap); }

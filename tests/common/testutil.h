/* Tiny test helpers: CHECK macros that report file:line, and file reading. */
#ifndef ISEC_TESTUTIL_H
#define ISEC_TESTUTIL_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

extern int tu_failures;
#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);              \
            tu_failures++;                                                                         \
        }                                                                                          \
    } while (0)
#define CHECK_RC(expr, want)                                                                       \
    do {                                                                                           \
        int rc_ = (expr);                                                                          \
        if (rc_ != (want)) {                                                                       \
            fprintf(stderr, "%s:%d: %s returned %d, want %d\n", __FILE__, __LINE__, #expr, rc_,   \
                    (int)(want));                                                                  \
            tu_failures++;                                                                         \
        }                                                                                          \
    } while (0)
/* Reads a whole file; NULL on failure. */
uint8_t *tu_read_file(const char *path, size_t *len);
/* Final line and exit status: "N passed, N failed" style summary of CHECKs. */
int tu_finish(const char *name, int checks_run);
#endif

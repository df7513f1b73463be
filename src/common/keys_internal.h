/* Key file parsing, exposed inside the library for the fuzz target. */
#ifndef ISEC_KEYS_INTERNAL_H
#define ISEC_KEYS_INTERNAL_H
#include "imgsec/keys.h"
/* Parses the NUL-terminated text of a key file (at most 4 KiB); see isec_key_load(). */
int isec__key_parse(isec_key **out, const char *text, const char *pass, size_t passlen,
                    char *detail, size_t detailcap);
#endif

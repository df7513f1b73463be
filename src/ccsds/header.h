/* Segment header I/O (header.c). */
#ifndef ISEC_CCSDS_HEADER_H
#define ISEC_CCSDS_HEADER_H
#include <stdio.h>

#include "internal.h"

/* Writes the parts h says are present. */
void isec__hdr_write(isec__bw *w, const isec_ccsds_header *h);
/* Reads a header into h, which holds the values in force (parts absent leave fields as they are).
 * first: this is the image's first segment. Returns 0, ISEC_ETRUNC, ISEC_EFORMAT or
 * ISEC_EUNSUPPORTED with a reason in why. */
int isec__hdr_parse(isec__br *r, isec_ccsds_header *h, int first, char *why, size_t whylen);

#endif

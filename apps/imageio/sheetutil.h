/* Internals shared by sheetio.c and sheetpng.c (not installed). */
#ifndef ISEC_SHEETUTIL_H
#define ISEC_SHEETUTIL_H
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "sheetio.h"

/* One-line message into err (if err and errlen). */
void isec__sheet_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Whole regular file into a malloc'd buffer, at most max bytes (ELIMIT beyond, EIO if unreadable). */
int isec__sheet_slurp(const char *path, uint64_t max, uint8_t **out, size_t *len, char *err,
                      size_t errlen);
/* mkstemp beside path (path.imgsec-XXXXXX) with the given mode; the fd, or -1. */
int isec__sheet_tmp_beside(const char *path, char *tmp, size_t n, mode_t mode);
/* Moves a finished temporary file to path: rename (overwrite) or link + unlink (refuses an
 * existing file atomically, EEXIST). Removes tmp on failure. */
int isec__sheet_publish(const char *tmp, const char *path, int overwrite, char *err, size_t errlen);
/* buf to path through a temporary file (fsync, then publish). */
int isec__sheet_write_atomic(const char *path, const uint8_t *buf, size_t len, int overwrite,
                             mode_t mode, char *err, size_t errlen);
/* Sheet page descriptions (the key=value text of sheetio.h). describe writes page (plane,
 * sheet)'s text; parse_desc reads one into info (share keys) and plane/sheet/layer, 0 or -1 with
 * a message in err. */
const char *isec__sheet_layout_name(unsigned layout);
void isec__sheet_describe(const isec_vcs_share_info *in, unsigned plane, unsigned sheet, char *out,
                          size_t n);
/* isec_sheet_read_mem that also makes the share's isec_vcs_share_digest into digest (if not
 * NULL), page by page as the pages are decoded. */
int isec__sheet_read_mem_digest(const uint8_t *buf, size_t len, const isec_sheet_limits *lim,
                                isec_vcs_share **out, uint8_t digest[ISEC_VCS_DIGEST_LEN],
                                char *err, size_t errlen);
int isec__sheet_parse_desc(const char *d, isec_vcs_share_info *info, unsigned *plane,
                           unsigned *sheet, unsigned *layer, char *err, size_t errlen);
#endif

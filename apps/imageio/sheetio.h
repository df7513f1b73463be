/* Interface used by apps/verifier: keep stable. */
/* VCS sheet files (issue 5): one multi-page TIFF per participant, and PNG export of each sheet.
 * Not part of libimgsec (file formats stay in apps/imageio, ARCHITECTURE.md); library target
 * isec_sheetio (cmake/vcs.cmake), links libtiff, libpng and libimgsec.
 *
 * TIFF layout (written by isec_sheet_write_*, the only layout read back):
 *  - one page (IFD) per sheet, nplanes*4 pages, in order plane 0 sheet 0..3, plane 1 sheet 0..3,
 *    ...; each page is width x height, 1-bit gray + 1-bit unassociated alpha (2 samples per
 *    pixel, ExtraSamples = unassociated alpha, MinIsBlack), interleaved, PlanarConfig contig, so
 *    4 pixels per byte, first pixel in the high bits, rows padded to whole bytes; strips of at
 *    most 1 MiB, compressed with zstd (level 1) by default (isec_sheet_set_compression).
 *    Pixel bits (gray, alpha): transparent = (1, 0), white = (1, 1), black = (0, 1); (0, 0)
 *    reads as transparent too.
 *    Also read (files of imgsec before 2026-11-23): the same pages with 8-bit gray + 8-bit alpha,
 *    transparent = (255, 0), white = (255, 255), black = (0, 255) - exactly these values (any
 *    gray with alpha 0 reads as transparent). Compressions read: none, deflate, LZW, PackBits,
 *    zstd.
 *  - PageName of every page: "vcs plane P sheet S layer L" (L = global stacking position 2*S+part,
 *    0 = bottom).
 *  - ImageDescription of every page: key=value lines (ASCII, '\n' separated):
 *      imgsec-vcs=1
 *      participant=A|B
 *      mode=exact|secure
 *      layout=gray|cmy|planes
 *      channels=1|3
 *      planes=N
 *      fill=3b1w|1b3w
 *      plane=P
 *      sheet=S
 *      layer=L
 *      table-id=<32 hex digits>
 *      wm-id=<32 hex digits>
 *      split-id=<32 hex digits>
 *      polarity=<8 hex digits>  (layout planes only; absent in older files, meaning 0)
 *    The reader checks every page's description against the first page's (same share keys, and
 *    plane/sheet/layer matching the page's position).
 *  - Software "imgsec".
 * Limits while reading (ELIMIT): width, height <= ISEC_VCS_MAX_DIM, width*height <=
 * ISEC_VCS_MAX_PIXELS (both smaller if the caller sets isec_sheet_limits), at most 96 pages, at
 * most max_bytes of input (default 1 GiB), decoded pixel bytes at most max_pixel_bytes.
 *
 * Errors: functions return 0 or a negative ISEC_E* code; err (if not NULL) gets a one-line
 * message (e.g. "page 3: alpha 17 is neither 0 nor 255"). libtiff's own warnings and errors are
 * captured into err, never printed. */
#ifndef ISEC_SHEETIO_H
#define ISEC_SHEETIO_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "imgsec/vcs.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ISEC_SHEET_MAX_PAGES 96u

typedef struct {
    uint32_t max_width, max_height; /* default ISEC_VCS_MAX_DIM */
    uint64_t max_pixels;            /* width*height, default ISEC_VCS_MAX_PIXELS */
    uint64_t max_bytes;             /* input file or buffer, default 1 GiB */
    uint64_t max_pixel_bytes;       /* nplanes*4*width*height, default 512 MiB */
} isec_sheet_limits;
void isec_sheet_limits_init(isec_sheet_limits *l);

/* Reads a participant file from memory or from a file ("-" is not accepted). lim NULL: defaults.
 * On success *out is a new share (caller frees with isec_vcs_share_free); on failure NULL. */
int isec_sheet_read_mem(const uint8_t *buf, size_t len, const isec_sheet_limits *lim,
                        isec_vcs_share **out, char *err, size_t errlen);
int isec_sheet_read_file(const char *path, const isec_sheet_limits *lim, isec_vcs_share **out,
                         char *err, size_t errlen);

/* Compression of the pages written from now on (process-wide; set it before starting threads):
 * ISEC_SHEET_ZSTD (level 1, the default when libtiff has zstd, else deflate), ISEC_SHEET_DEFLATE
 * (level 1; every TIFF reader has it) or ISEC_SHEET_NONE. EUNSUPPORTED if libtiff lacks zstd. */
enum { ISEC_SHEET_ZSTD = 0, ISEC_SHEET_DEFLATE = 1, ISEC_SHEET_NONE = 2 };
int isec_sheet_set_compression(int which);

/* Writes a share as TIFF into a malloc'd buffer (*out, *out_len; caller frees). */
int isec_sheet_write_mem(const isec_vcs_share *s, uint8_t **out, size_t *out_len, char *err,
                         size_t errlen);
/* Writes a share to path atomically: a temporary file beside it (mode 0644), fsync, rename.
 * Refuses to replace an existing file unless overwrite is set (EEXIST). */
int isec_sheet_write_file(const isec_vcs_share *s, const char *path, int overwrite, char *err,
                          size_t errlen);

/* Writes a share as TIFF into the empty file open on fd (from offset 0, with pwrite; nothing is
 * truncated; the file offset is left at the end): no buffer for the whole file, and the kernel
 * starts writing the file back while later pages are still being compressed (sync_file_range
 * on Linux), so a following fsync has little left to wait for. The caller makes the file
 * appear (fsync, rename). */
int isec_sheet_write_fd(const isec_vcs_share *s, int fd, char *err, size_t errlen);

/* Both participants' files at once, in two threads (the work is independent): read_file_pair
 * reads two files (out[k] from path[k]; on failure both NULL). err gets the first failure's
 * message. */
int isec_sheet_read_file_pair(const char *path[2], const isec_sheet_limits *lim,
                              isec_vcs_share *out[2], char *err, size_t errlen);
/* The same from two buffers (buf[k], len[k] into out[k]); with digest not NULL, each thread
 * also makes its share's isec_vcs_share_digest into digest[k]. On failure *failed (if not NULL)
 * is the index of the first buffer that failed, err its message and the return value its code. */
int isec_sheet_read_mem_pair(const uint8_t *const buf[2], const size_t len[2],
                             const isec_sheet_limits *lim, isec_vcs_share *out[2],
                             uint8_t (*digest)[ISEC_VCS_DIGEST_LEN], int *failed, char *err,
                             size_t errlen);

/* Only what a participant file's pixels hash to: its description (*info, as the share's
 * isec_vcs_share_get_info would give) and isec_vcs_share_digest of its share, without making the
 * share: each decoded strip of a 1-bit page is hashed as it is, after isec_vcs_canon_rows (the
 * digest's packed form is the page's), with no unpacking and no 25 MB of fresh memory to fault
 * in and wipe for 24 planes of 512x512; 8-bit pages of old files are packed row by row. Accepts and refuses
 * exactly what isec_sheet_read_mem does, with the same codes and messages (except ENOMEM). */
int isec_sheet_digest_mem(const uint8_t *buf, size_t len, const isec_sheet_limits *lim,
                          isec_vcs_share_info *info, uint8_t digest[ISEC_VCS_DIGEST_LEN],
                          char *err, size_t errlen);
/* The same for two buffers in two threads (as isec_sheet_read_mem_pair). */
int isec_sheet_digest_mem_pair(const uint8_t *const buf[2], const size_t len[2],
                               const isec_sheet_limits *lim, isec_vcs_share_info info[2],
                               uint8_t (*digest)[ISEC_VCS_DIGEST_LEN], int *failed, char *err,
                               size_t errlen);

/* Wipes and frees two shares (either may be NULL) in a thread of its own, A's and B's in
 * parallel, so that wiping the sheets (50 MB for 24 planes) need not hold up the caller's
 * output: 1 if started (join *t), else 0 and both were freed here. */
int isec_sheet_free_pair_start(isec_vcs_share *a, isec_vcs_share *b, pthread_t *t);

/* PNG export for printing on transparencies: one RGBA PNG per sheet (black (0,0,0,255), white
 * (255,255,255,255), transparent (0,0,0,0)); for the CMY layout black dots take the plane's ink
 * colour (cyan, magenta, yellow). Files are DIR/<prefix>-p<P>-s<S>-layer<L>.png, made atomically;
 * dir must exist. Refuses existing files unless overwrite. */
int isec_sheet_export_png(const isec_vcs_share *s, const char *dir, const char *prefix,
                          int overwrite, char *err, size_t errlen);

/* 8-bit PNG images (for secrets, watermarks and recovered images; gray, gray+alpha, RGB, RGBA and
 * palette are read; alpha is dropped, 16-bit is reduced). channels_wanted 0: keep 1 (gray) or
 * 3 (colour) as the file has it; 1: convert to gray; 3: convert to RGB. *pixels malloc'd. Limits:
 * ISEC_VCS_MAX_DIM each way, ISEC_VCS_MAX_PIXELS. */
int isec_png_read8(const char *path, unsigned channels_wanted, uint32_t *width, uint32_t *height,
                   unsigned *channels, uint8_t **pixels, char *err, size_t errlen);
/* Writes gray (channels 1) or RGB (3) 8-bit pixels as PNG, atomically (refuses existing files
 * unless overwrite). */
int isec_png_write8(const char *path, uint32_t width, uint32_t height, unsigned channels,
                    const uint8_t *pixels, int overwrite, char *err, size_t errlen);
/* A watermark from a PNG: gray < 128 is a 1 (black) bit. wm->bits malloc'd. */
int isec_png_read_watermark(const char *path, isec_vcs_watermark *wm, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif

/* Interface used by apps/verifier: keep stable. */
/* Trusted visual cryptography (T-VCS, ../shared/papers/t-vcs.txt; issue 5): a secret image shared
 * between two participants as sheets of the image's own size, revealed by stacking them, with a
 * zero watermark carried by the choice among equivalent sheet patterns. See docs/vcs.md.
 *
 * Sheet model. Every binary plane of the secret becomes 8 sheets, numbered 0 (bottom) to 7 (top).
 * Participant A holds sheets 0,2,4,6 and participant B sheets 1,3,5,7; a share is one participant's
 * four sheets (per plane). A sheet pixel is transparent, white or black (ISEC_VCS_PX_*). Stacked,
 * a pixel shows the topmost opaque pixel among the 8 sheets, or the white background if all are
 * transparent. Sheet s of participant p (0 = A, 1 = B) is global sheet 2*s + p.
 *
 * Modes:
 *  - ISEC_VCS_EXACT (the paper, 3.1-3.2): 2x2 blocks; in every block each participant's 4 sheets
 *    form a permutation matrix (one opaque pixel per sheet and per pixel: white for A, black for
 *    B); B's permutation is A's rolled by r = 0..3 rows, which reveals 4..1 black pixels; the
 *    query table lists every arrangement. The stacked block equals the secret's block exactly,
 *    except all-white blocks, which cannot be made and are replaced (white_fill). One participant's
 *    sheets leak part of the secret (measured in docs/vcs.md).
 *  - ISEC_VCS_SECURE: per pixel, each participant's sheets are independent of the secret pixel;
 *    black is always black, white is white with probability 7/8 (optimal for 4 sheets each).
 *
 * Everything here is pure computation on memory (no files); costs are O(width*height*planes).
 * All functions return 0 or a negative ISEC_E* code unless stated otherwise. */
#ifndef IMGSEC_VCS_H
#define IMGSEC_VCS_H

#include <stddef.h>
#include <stdint.h>

#include "imgsec/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Sheet pixel values (one byte per pixel in a sheet). */
enum { ISEC_VCS_PX_T = 0, ISEC_VCS_PX_W = 1, ISEC_VCS_PX_K = 2 };

enum { ISEC_VCS_A = 0, ISEC_VCS_B = 1 };                 /* participants */
enum { ISEC_VCS_EXACT = 0, ISEC_VCS_SECURE = 1 };        /* modes */
/* Layouts: which binary planes a share holds.
 *  GRAY:   1 plane, the halftoned gray image (secret has 1 channel).
 *  CMY:    3 planes, the halftoned C, M, Y channels (secret has 3 channels, RGB in).
 *  PLANES: 8 planes per channel (8 for gray, 24 for RGB): plane c*8+k is bit (7-k) of the
 *          channel's ink value 255-v, so plane c*8+0 is the most significant bit of channel c. */
enum { ISEC_VCS_LAYOUT_GRAY = 0, ISEC_VCS_LAYOUT_CMY = 1, ISEC_VCS_LAYOUT_PLANES = 2 };
/* Error diffusion kernels. NONE: plain threshold at 128, no diffusion. */
enum { ISEC_VCS_HT_FS = 0, ISEC_VCS_HT_JJN = 1, ISEC_VCS_HT_STUCKI = 2, ISEC_VCS_HT_NONE = 3 };
/* Gamma. SRGB: diffuse the 8-bit codes as they are (what the paper does). LINEAR: convert the
 * sRGB codes to linear light first (IEC 61966-2-1), so the density of black dots equals the
 * pixel's linear darkness and the stacked sheets, seen from afar, reproduce the tones. */
enum { ISEC_VCS_GAMMA_SRGB = 0, ISEC_VCS_GAMMA_LINEAR = 1 };
/* Exact mode, all-white blocks (the construction cannot reveal 4 white pixels): */
enum {
    ISEC_VCS_FILL_3B1W = 0, /* the paper: replaced by a 3-black-1-white block */
    ISEC_VCS_FILL_1B3W = 1  /* replaced by a 1-black-3-white block (closer to white) */
};

#define ISEC_VCS_SHEETS 4u          /* sheets per participant per plane */
#define ISEC_VCS_KEY_LEN 32u        /* table key */
#define ISEC_VCS_ID_LEN 16u         /* table id, watermark id */
#define ISEC_VCS_DIGEST_LEN 32u     /* SHA-256 */
#define ISEC_VCS_MAX_DIM 16384u     /* width, height */
#define ISEC_VCS_MAX_PIXELS (1u << 26) /* width*height */
#define ISEC_VCS_MAX_PLANES 24u
#define ISEC_VCS_MAX_WM_DIM 4096u   /* watermark width, height */

/* Split options. isec_vcs_params_init() sets the defaults: exact mode, CMY halftone for color,
 * Floyd-Steinberg, raster order (no serpentine), linear-light gamma, 3B1W fill, randomness from
 * OpenSSL RAND_bytes. */
typedef struct {
    unsigned mode;       /* ISEC_VCS_EXACT or ISEC_VCS_SECURE */
    unsigned layout;     /* for RGB secrets: ISEC_VCS_LAYOUT_CMY or _PLANES; for gray secrets:
                            _GRAY or _PLANES (CMY is taken as GRAY) */
    unsigned halftone;   /* ISEC_VCS_HT_* (not used by the PLANES layout) */
    int serpentine;      /* 1: alternate the scan direction row by row */
    unsigned gamma;      /* ISEC_VCS_GAMMA_* */
    unsigned white_fill; /* ISEC_VCS_FILL_* (exact mode) */
    const uint8_t *seed; /* NULL: RAND_bytes. Else a deterministic generator (AES-256-CTR keyed by
                            SHA-256 of the seed) makes the same sheets every time: tests only. */
    size_t seed_len;
} isec_vcs_params;
void isec_vcs_params_init(isec_vcs_params *p);

/* A secret (or recovered) image: row-major, channels interleaved, 8 bits per sample.
 * channels: 1 (gray, 0 = black) or 3 (RGB). */
typedef struct {
    uint32_t width, height;
    unsigned channels;
    const uint8_t *pixels; /* width*height*channels */
} isec_vcs_image;

/* A watermark bitmap: width*height bytes, 1 = black (a watermark "1" bit), 0 = white.
 * Bit of 2x2 block (bx, by) of every plane is bits[(by % height) * width + (bx % width)]: the
 * watermark is tiled over the block grid, and extraction takes a majority vote over the tiles. */
typedef struct {
    uint32_t width, height;
    uint8_t *bits;
} isec_vcs_watermark;
/* Frees bits allocated by this library (isec_vcs_secret_decode) and zeroes the struct. */
void isec_vcs_watermark_clear(isec_vcs_watermark *wm);

/* What a share says about itself (all of it is recorded in the TIFF file). */
typedef struct {
    uint32_t width, height;  /* the secret's dimensions */
    unsigned participant;    /* ISEC_VCS_A or ISEC_VCS_B */
    unsigned mode;           /* ISEC_VCS_EXACT or ISEC_VCS_SECURE */
    unsigned layout;         /* ISEC_VCS_LAYOUT_* */
    unsigned channels;       /* of the secret: 1 or 3 */
    unsigned nplanes;        /* GRAY 1, CMY 3, PLANES 8*channels */
    unsigned white_fill;     /* informational */
    uint8_t table_id[ISEC_VCS_ID_LEN]; /* isec_vcs_table_id() of the table key used */
    uint8_t wm_id[ISEC_VCS_ID_LEN];    /* isec_vcs_watermark_id() of the watermark embedded */
    uint8_t split_id[ISEC_VCS_ID_LEN]; /* random per split, the same in A and B: with the table
                                          key it keys the per-block watermark stream, so splits
                                          made with one key and watermark say nothing about each
                                          other. Not secret. */
    uint32_t polarity; /* PLANES layout only (0 otherwise): this participant's share of the
                          planes' polarities, bit i for plane i. Plane i is shared inverted iff
                          bit i of A's polarity xor B's is set (the split inverts a plane when
                          that makes the pixels stacking can lose - white ones - the rarer:
                          docs/vcs.md). A's share is uniform random, so neither share alone
                          says anything about the polarities; the watermark covers them. */
} isec_vcs_share_info;

/* One participant's sheets: nplanes planes of ISEC_VCS_SHEETS sheets of width*height pixels. */
typedef struct isec_vcs_share isec_vcs_share;

/* New share with all pixels transparent. Checks info (dimensions 1..ISEC_VCS_MAX_DIM, at most
 * ISEC_VCS_MAX_PIXELS pixels, nplanes matching layout and channels); EINVAL/ELIMIT otherwise.
 * Allocates nplanes*4*width*height bytes. */
int isec_vcs_share_new(isec_vcs_share **out, const isec_vcs_share_info *info);
void isec_vcs_share_free(isec_vcs_share *s); /* NULL is fine */
const isec_vcs_share_info *isec_vcs_share_get_info(const isec_vcs_share *s);
/* Updates the ids (after reading a file, say). */
void isec_vcs_share_set_ids(isec_vcs_share *s, const uint8_t table_id[ISEC_VCS_ID_LEN],
                            const uint8_t wm_id[ISEC_VCS_ID_LEN]);
void isec_vcs_share_set_split_id(isec_vcs_share *s, const uint8_t split_id[ISEC_VCS_ID_LEN]);
/* Pixels of sheet `sheet` (0..3, the participant's own order, bottom to top) of plane `plane`:
 * width*height bytes, row-major, values ISEC_VCS_PX_*. NULL if out of range. */
uint8_t *isec_vcs_share_sheet(isec_vcs_share *s, unsigned plane, unsigned sheet);
const uint8_t *isec_vcs_share_sheet_const(const isec_vcs_share *s, unsigned plane, unsigned sheet);

/* Packed sheet rows (the share digest's form, and the pixels of the TIFF pages): 2 bits per
 * pixel, 4 pixels per byte, first pixel in the high bits, a row's last byte padded with 0 bits,
 * so ISEC_VCS_PACKED_ROW(width) bytes per row. Codes (gray << 1 | alpha in the TIFF pages):
 * transparent 10, white 11, black 01. 00 is never written; readers of the pages take it as
 * transparent. */
#define ISEC_VCS_PACKED_ROW(width) (((size_t)(width) + 3) / 4)
/* Packs one row of `width` sheet pixels into ISEC_VCS_PACKED_ROW(width) bytes at out; bytes
 * other than ISEC_VCS_PX_W and _K pack as transparent (as they are written to a file). */
void isec_vcs_pack_row(const uint8_t *px, uint32_t width, uint8_t *out);
/* Makes nrows consecutive packed rows of `width` pixels canonical in place: 00 codes become 10
 * (both mean transparent) and the pad bits of each row's last byte become 0. Packed rows read
 * from any page then hash as isec_vcs_pack_row's rows of the same pixels do. */
void isec_vcs_canon_rows(uint8_t *rows, size_t nrows, uint32_t width);

/* Canonical digest of a share's pixels (version 2): SHA-256 over
 *   "imgsec-vcs-share-v2" (19 ASCII bytes, no NUL)
 *   width (uint32 big-endian), height (uint32 BE),
 *   participant, layout, nplanes, ISEC_VCS_SHEETS (one byte each),
 *   then for plane 0..nplanes-1, for sheet 0..3, for row 0..height-1: the row's pixels packed
 *   as isec_vcs_pack_row does (T 10, W 11, K 01, 4 pixels per byte, first pixel in the high
 *   bits, the last byte padded with 0 bits; pixel bytes other than W and K count as T),
 *   then, only if the polarity share is not 0: "polarity" (8 ASCII bytes) and the polarity share
 *   (uint32 BE).
 * So a reader of a 1-bit TIFF page hashes the page's rows after isec_vcs_canon_rows, without
 * unpacking them. Version 1 ("imgsec-vcs-share-v1", until 2026-11-23) hashed one byte per pixel
 * (0 T, 1 W, 2 K), 4 times as many bytes; its digests differ from these for every share.
 * Mode, channels, fill and the ids are not included (they are reported beside the digest). */
int isec_vcs_share_digest(const isec_vcs_share *s, uint8_t digest[ISEC_VCS_DIGEST_LEN]);
/* The digest's bytes before the pixels (label and header) and after them (the polarity part:
 * returns its length, 0 or 12), for readers that hash packed rows as they decode them. */
#define ISEC_VCS_DIGEST_HEAD_LEN 31u
void isec_vcs_digest_head(const isec_vcs_share_info *info, uint8_t out[ISEC_VCS_DIGEST_HEAD_LEN]);
size_t isec_vcs_digest_tail(const isec_vcs_share_info *info, uint8_t out[12]);

/* Ids recorded in the sheets so a verifier can find its sealed record:
 * table id = first 16 bytes of SHA-256("imgsec-vcs-table-id-v1" || key);
 * watermark id = first 16 bytes of SHA-256("imgsec-vcs-wm-id-v1" || width (u32 BE) ||
 *   height (u32 BE) || the bits packed 8 per byte, row-major, first pixel in the MSB, last byte
 *   padded with zeros). Bits other than 0/1 are EINVAL. */
void isec_vcs_table_id(const uint8_t key[ISEC_VCS_KEY_LEN], uint8_t id[ISEC_VCS_ID_LEN]);
int isec_vcs_watermark_id(const isec_vcs_watermark *wm, uint8_t id[ISEC_VCS_ID_LEN]);

/* Binary planes of a secret as the split sees them: the layout's planes (p->layout, adjusted to
 * the secret's channels as described there), each width*height bytes, 1 = black/ink. planes must
 * hold isec_vcs_planes_count(secret, p) * width*height bytes. */
unsigned isec_vcs_planes_count(const isec_vcs_image *secret, const isec_vcs_params *p);
int isec_vcs_binarize(const isec_vcs_image *secret, const isec_vcs_params *p, uint8_t *planes);

/* Error diffusion of one 8-bit channel (0 = black) into out (width*height, 1 = black), with
 * threshold 128, kernel p->halftone, p->serpentine and p->gamma. */
int isec_vcs_halftone(const uint8_t *in, uint32_t width, uint32_t height, const isec_vcs_params *p,
                      uint8_t *out);

/* Split a secret: binarize, then make both shares. key: the 32-byte table key (keyed table
 * order and per-block watermark keys); wm: the watermark (required; 1..ISEC_VCS_MAX_WM_DIM each
 * way). On success *a and *b are new shares (caller frees); on failure both are NULL. */
int isec_vcs_split(const isec_vcs_image *secret, const isec_vcs_params *p,
                   const uint8_t key[ISEC_VCS_KEY_LEN], const isec_vcs_watermark *wm,
                   isec_vcs_share **a, isec_vcs_share **b);
/* The same from binary planes already made (nplanes planes of width*height bytes, nonzero =
 * black), for the given layout and secret channel count. */
int isec_vcs_split_planes(const uint8_t *planes, uint32_t width, uint32_t height, unsigned layout,
                          unsigned channels, const isec_vcs_params *p,
                          const uint8_t key[ISEC_VCS_KEY_LEN], const isec_vcs_watermark *wm,
                          isec_vcs_share **a, isec_vcs_share **b);

/* Stacking. a must be participant A and b participant B with equal dimensions, layout and
 * planes (EINVAL otherwise). isec_vcs_stack_plane writes width*height bytes, 1 = black (for
 * the PLANES layout: 1 = the secret plane's bit, i.e. the stacked sheets undone by the plane's
 * polarity).
 * isec_vcs_stack writes the recovered image, isec_vcs_stack_bound(a) bytes: gray for GRAY,
 * RGB for CMY (a black C dot removes red, ...), and for PLANES the secret's channel count with
 * value 255 - (ink from the top `top_bits` bit planes, 1..8; 0 means all 8). */
int isec_vcs_stack_plane(const isec_vcs_share *a, const isec_vcs_share *b, unsigned plane,
                         uint8_t *out);
size_t isec_vcs_stack_bound(const isec_vcs_share *a);
int isec_vcs_stack(const isec_vcs_share *a, const isec_vcs_share *b, unsigned top_bits,
                   uint8_t *out, size_t out_len);

/* Zero-watermark extraction from a pair of shares with the table key, compared with the
 * expected watermark.
 *  nc:  normalized correlation of the paper (Table 6), bits as 0/1:
 *       sum(w*w') / sqrt(sum(w*w) * sum(w'*w')), 0 if either sum is 0; 1 = identical.
 *  ber: fraction of watermark pixels whose voted bit differs from the expected one.
 *  (NC and BER count only watermark pixels at least one block voted for - all of them unless
 *  the watermark is larger than the block grid; with no vote at all, nc 0 and ber 1.)
 *  block_ber: fraction of the voting blocks (all planes) whose bit differs, before voting
 *       (1 if none voted).
 *  blocks: full 2x2 blocks examined (all planes), erasures excluded; invalid: those of them
 *       whose sheets are not a valid arrangement (damaged by noise, or from another split) -
 *       counted but not voted, so noise does not bias the vote; blocks - invalid blocks voted.
 *       erasures: blocks carrying no bit (secure mode, blocks with no hidden pixel) - not voted.
 *  A verifier decides on all three: NC (or BER) against a threshold, invalid/blocks against a
 *  maximum (genuine sheets have invalid 0; sheets of different splits are nearly all invalid),
 *  and block_ber against a maximum: a forged region re-arranges blocks validly, and the tiled
 *  vote outvotes it (NC stays 1) while about half its blocks are wrong. `imgsec vcs watermark`
 *  uses NC >= 0.9, invalid/blocks <= 0.05, block_ber <= 0.02 (docs/vcs.md).
 * bits (optional, expected->width*height bytes) receives the voted watermark (ties give 0).
 * The per-block keys come from the table key and A's split id (B's is not consulted: sheets of
 * two splits simply come out invalid or wrong).
 * Returns 0 with the numbers filled in whatever they say (the caller decides: genuine sheets
 * give ber 0 and nc 1), or a negative error if the shares do not fit together. */
typedef struct {
    double nc, ber, block_ber;
    uint64_t blocks, invalid, erasures;
} isec_vcs_wm_result;
ISEC_MUST_CHECK int isec_vcs_watermark_extract(const isec_vcs_share *a, const isec_vcs_share *b,
                                               const uint8_t key[ISEC_VCS_KEY_LEN],
                                               const isec_vcs_watermark *expected, uint8_t *bits,
                                               isec_vcs_wm_result *res);

/* The secret a local split hands to the verifier (file OUTDIR/vcs-secret, mode 0600):
 *   "ISECVCS1" (8 bytes) | table key (32) | watermark width (u32 BE) | height (u32 BE) |
 *   bits packed as for the watermark id (ceil(w*h/8) bytes) |
 *   SHA-256 of everything before (32).
 * encode: *out is malloc'd (caller wipes with OPENSSL_cleanse and frees). decode: checks size
 * limits (ISEC_VCS_MAX_WM_DIM), length and checksum (EFORMAT, ETRUNC, ELIMIT); wm->bits is
 * malloc'd (free with isec_vcs_watermark_clear); key is written only on success. */
int isec_vcs_secret_encode(const uint8_t key[ISEC_VCS_KEY_LEN], const isec_vcs_watermark *wm,
                           uint8_t **out, size_t *out_len);
int isec_vcs_secret_decode(const uint8_t *buf, size_t len, uint8_t key[ISEC_VCS_KEY_LEN],
                           isec_vcs_watermark *wm);

#ifdef __cplusplus
}
#endif
#endif

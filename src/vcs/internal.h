/* Internals of the VCS module shared between its files (not installed). */
#ifndef ISEC_VCS_INTERNAL_H
#define ISEC_VCS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "imgsec/vcs.h"

struct isec_vcs_share {
    isec_vcs_share_info info;
    size_t npix;  /* width*height */
    uint8_t *px;  /* nplanes * 4 * npix bytes: plane-major, then sheet, then row-major pixels */
    size_t mapped; /* px is an mmap of this many bytes (share.c), 0: malloc'd */
};

/* Random bytes of a split: AES-256-CTR keystreams, generated in 16 KiB blocks, under a master key
 * that is fresh from RAND_bytes per split (or SHA-256 of the seed, tests only); stream s uses
 * IV = s (big-endian in the first 4 bytes): stream 0 makes the split id, stream 1 + plane the
 * plane's coins, so planes can be made in any order or in parallel. */
typedef struct {
    EVP_CIPHER_CTX *ctx;
    uint8_t buf[16384];
    size_t pos, len;
    int failed;
} isec__vcs_rng;
int isec__vcs_rng_master(const uint8_t *seed, size_t seed_len, uint8_t key[32]);
int isec__vcs_rng_init(isec__vcs_rng *r, const uint8_t key[32], unsigned stream);
void isec__vcs_rng_free(isec__vcs_rng *r);
void isec__vcs_rng_refill(isec__vcs_rng *r);
static inline uint8_t isec__vcs_rng_byte(isec__vcs_rng *r)
{
    if (r->pos == r->len) isec__vcs_rng_refill(r);
    return r->buf[r->pos++];
}
/* n (<= sizeof buf) consecutive random bytes, valid until the next call. */
static inline const uint8_t *isec__vcs_rng_take(isec__vcs_rng *r, size_t n)
{
    if (r->len - r->pos < n) isec__vcs_rng_refill(r);
    const uint8_t *p = r->buf + r->pos;
    r->pos += n;
    return p;
}
/* Uniform in [0, n), 1 <= n <= 256: Lemire's multiply-shift with rejection, unbiased; inline
 * (a split draws once or twice per block), the rare rejection (probability below n/256) out of
 * line in rng.c, continuing from m. */
unsigned isec__vcs_rng_below_slow(isec__vcs_rng *r, unsigned n, unsigned m);
static inline unsigned isec__vcs_rng_below(isec__vcs_rng *r, unsigned n)
{
    if (n <= 1) return 0;
    const unsigned m = (unsigned)isec__vcs_rng_byte(r) * n;
    if ((m & 255u) < n) return isec__vcs_rng_below_slow(r, n, m);
    return m >> 8;
}

/* Keyed material derived from the table key: HMAC-SHA-256(key, label). */
int isec__vcs_subkey(const uint8_t key[ISEC_VCS_KEY_LEN], const char *label, uint8_t out[32]);
/* Per-block watermark keystream of one plane: 8 bytes per block, AES-256-CTR under
 * HMAC-SHA-256(key, "imgsec-vcs-wm-stream-v2" || split_id), IV = plane number; nblocks*8 bytes
 * into out. */
int isec__vcs_wm_stream(const uint8_t key[ISEC_VCS_KEY_LEN], const uint8_t split_id[ISEC_VCS_ID_LEN],
                        unsigned plane, uint8_t *out, size_t nblocks);

/* Exact-mode query table (table.c). A block's pixels j = 0 (x,y), 1 (x+1,y), 2 (x,y+1),
 * 3 (x+1,y+1); pattern bit j set = black. Permutation p (0..23) gives a[j] = A's sheet holding
 * pixel j's white dot; B's black dot is on sheet (a[j] + r) % 4, r = 4 - popcount(pattern). */
typedef struct {
    uint8_t n[16];        /* entries per stacked pattern (0 for pattern 0) */
    uint8_t perm[16][24]; /* permutation indices in keyed order */
    uint8_t pos[16][24];  /* position of permutation p in pattern q's order, 255: not an entry */
} isec__vcs_table;
extern const uint8_t isec__vcs_perms[24][4];
int isec__vcs_perm_index(const uint8_t a[4]); /* -1 if not a permutation */
unsigned isec__vcs_pattern(const uint8_t a[4], unsigned r);
int isec__vcs_table_make(const uint8_t key[ISEC_VCS_KEY_LEN], isec__vcs_table *t);

/* Watermark bit of block (bx, by): bits[(by % height) * width + bx % width] (the loops keep
 * the indices incrementally). */
int isec__vcs_wm_check(const isec_vcs_watermark *wm);
/* Layout and secret channel count a split uses for secret s under params p (halftone.c). */
int isec__vcs_effective(const isec_vcs_image *s, const isec_vcs_params *p, unsigned *layout,
                        unsigned *channels);

/* Per-plane split and extraction. planes[] is width*height bytes (nonzero = black). Extraction
 * adds, per block, +1 to votes1 or votes0 of the watermark pixel and counts in res. */
int isec__vcs_exact_split(const uint8_t *plane, unsigned pi, const isec_vcs_params *p,
                          const isec__vcs_table *t, const uint8_t key[ISEC_VCS_KEY_LEN],
                          const isec_vcs_watermark *wm, isec__vcs_rng *rng, uint8_t *ks,
                          isec_vcs_share *a, isec_vcs_share *b);
int isec__vcs_secure_split(const uint8_t *plane, unsigned pi, const uint8_t key[ISEC_VCS_KEY_LEN],
                           const isec_vcs_watermark *wm, isec__vcs_rng *rng, uint8_t *ks,
                           isec_vcs_share *a, isec_vcs_share *b);
/* How many threads work on nplanes planes of npix pixels (split.c; IMGSEC_VCS_THREADS). */
unsigned isec__vcs_workers(unsigned nplanes, size_t npix);
typedef struct {
    uint32_t *votes0, *votes1; /* per watermark pixel */
    uint64_t blocks, invalid, erasures, wrong;
} isec__vcs_votes;
int isec__vcs_exact_extract(const isec_vcs_share *a, const isec_vcs_share *b, unsigned pi,
                            const isec__vcs_table *t, const uint8_t key[ISEC_VCS_KEY_LEN],
                            const isec_vcs_watermark *wm, uint8_t *ks, isec__vcs_votes *v);
int isec__vcs_secure_extract(const isec_vcs_share *a, const isec_vcs_share *b, unsigned pi,
                             const uint8_t key[ISEC_VCS_KEY_LEN], const isec_vcs_watermark *wm,
                             uint8_t *ks, isec__vcs_votes *v);

static inline uint8_t *isec__vcs_sheet(isec_vcs_share *s, unsigned plane, unsigned sheet)
{
    return s->px + ((size_t)plane * ISEC_VCS_SHEETS + sheet) * s->npix;
}
/* What every split of one plane starts with: the keyed per-block watermark stream into ks and
 * the four sheets of each participant for plane pi. Returns the stream's error, if any. */
static inline int isec__vcs_split_begin(isec_vcs_share *a, isec_vcs_share *b, unsigned pi,
                                        const uint8_t key[ISEC_VCS_KEY_LEN], uint8_t *ks,
                                        uint8_t *as[4], uint8_t *bs[4])
{
    const uint32_t bw = (a->info.width + 1) / 2, bh = (a->info.height + 1) / 2;
    for (unsigned s = 0; s < 4; s++) {
        as[s] = isec__vcs_sheet(a, pi, s);
        bs[s] = isec__vcs_sheet(b, pi, s);
    }
    return isec__vcs_wm_stream(key, a->info.split_id, pi, ks, (size_t)bw * bh);
}
static inline const uint8_t *isec__vcs_csheet(const isec_vcs_share *s, unsigned plane,
                                              unsigned sheet)
{
    return s->px + ((size_t)plane * ISEC_VCS_SHEETS + sheet) * s->npix;
}
/* What every watermark extraction of one plane starts with: the keyed per-block stream into ks
 * and the four sheets of each participant for plane pi (read-only). */
static inline int isec__vcs_extract_begin(const isec_vcs_share *a, const isec_vcs_share *b,
                                          unsigned pi, const uint8_t key[ISEC_VCS_KEY_LEN],
                                          uint8_t *ks, const uint8_t *as[4], const uint8_t *bs[4])
{
    const uint32_t bw = (a->info.width + 1) / 2, bh = (a->info.height + 1) / 2;
    for (unsigned s = 0; s < 4; s++) {
        as[s] = isec__vcs_csheet(a, pi, s);
        bs[s] = isec__vcs_csheet(b, pi, s);
    }
    return isec__vcs_wm_stream(key, a->info.split_id, pi, ks, (size_t)bw * bh);
}
/* The same for a row of n pixels at once (cell codes of s[k] + off), 16 at a time. */
void isec__vcs_cell_codes(const uint8_t *const s[4], size_t off, uint32_t n, uint8_t *out);
/* A participant's 4 sheet values at one pixel as a base-3 code 0..80 (v0 + 3 v1 + 9 v2 +
 * 27 v3), or 81 when a byte is not a sheet value. */
static inline unsigned isec__vcs_cell_code(const uint8_t *const s[4], size_t idx)
{
    unsigned v0 = s[0][idx], v1 = s[1][idx], v2 = s[2][idx], v3 = s[3][idx];
    if (v0 > ISEC_VCS_PX_K || v1 > ISEC_VCS_PX_K || v2 > ISEC_VCS_PX_K || v3 > ISEC_VCS_PX_K)
        return 81;
    return v0 + 3 * v1 + 9 * v2 + 27 * v3;
}

#endif

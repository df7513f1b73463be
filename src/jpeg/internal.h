/* Internals of the JPEG walker shared by walker.c, entropy.c, huffman.c and exif.c. */
#ifndef ISEC_JPEG_INTERNAL_H
#define ISEC_JPEG_INTERNAL_H

#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include <openssl/evp.h>

#include "imgsec/jpeg.h"

#define CHUNK 16384u           /* raw entropy-coded bytes per keystream chunk */
#define RAWCAP (5u * CHUNK)    /* raw entropy-coded bytes held at most */
/* Raw bytes that start a decode-and-flush round: four chunks and a little more, for the MCU
 * that the round's end cuts through, so that the round flushes all four chunks and what stays
 * held (moved to the start of the buffers for the next round) is that little. At exactly four
 * chunks the fourth was never whole and a round flushed three, moving 16 KB down each time. */
#define FLUSH_AT (4u * CHUNK + 2048u)
#define PAD 2048u              /* zero bytes after data[] so the bit reader may overrun a block */
#define SEGCAP 65535u          /* largest marker segment payload */
#define MAX_BOUNDS 1024         /* RST markers held ahead of the decoder */
#define MAX_DEPTH 1            /* embedded JPEGs are walked, JPEGs embedded in those are not */

/* Canonical Huffman table with a 9-bit lookahead (length and symbol together). */
#define FAST_BITS 10
#define MULTI_BITS 12
/* The multi-symbol table of sequential scans (13 bits: 4% less CPU time than 12 on a q92 photo;
 * 14 bits, 64 KiB, no longer stays in L1). */
#define SEQ_BITS 13
#define MULTI_ADV 6             /* multi-symbol entries: bits 0-5 length, 6-12 advance */
#define MULTI_EOB (1u << 13)
struct huff {
    uint16_t look[512]; /* (len << 8) | symbol for codes of <= 9 bits; 0 = longer code */
    /* Code and its value bits together when both fit in FAST_BITS: bits 0-4 total length,
     * 8-11 run, 12-15 value size, 16-31 the value-bit mask of the total; 0 = use look[] */
    uint32_t fast[1 << FAST_BITS];
    int32_t maxcode[18];
    int32_t valoff[18];
    uint8_t vals[256];
    uint8_t defined;
    uint8_t have_multi; /* multi[] is built (isec__huff_build_multi; sequential scans only) */
    uint32_t gen; /* which definition this is (set by the walker), for tables derived from it */
    /* Last, so that isec__huff_build need not clear it (32 KiB): as many whole AC symbols
     * (with their value bits) as fit in SEQ_BITS, stopping after an EOB: bits 0-5 total length
     * (so a shift by the entry itself takes them: x86 masks the count), 6-12 the sum of the
     * coefficient advances (r + 1, 16 for ZRL, 0 for EOB), bit 13 (MULTI_EOB) ends the block,
     * 16-31 the value-bit mask. An entry whose first symbol does not fit holds that symbol
     * alone if its code fits in SEQ_BITS and it takes at most 18 bits with its value bits
     * (huffman.c, LONG_MAX_BITS); else it has advance 127 so that it never passes the k < 64
     * test. Built only for sequential scans' AC tables. */
    uint32_t multi[1 << SEQ_BITS];
    /* multi[]'s total lengths alone (bits 0-5), a quarter of the size: the one thing the hot
     * loop's dependency chain (table load, shift of the window, next index) needs */
    uint8_t mlen[1 << SEQ_BITS];
};
/* Builds h from the 16 counts and the symbols of a DHT table; -1 if the code is malformed.
 * multi[] is left for isec__huff_build_multi: only the AC tables of sequential scans use it,
 * and progressive files redefine their tables before nearly every scan. */
int isec__huff_build(struct huff *h, const uint8_t counts[16], const uint8_t *vals, size_t nvals);
void isec__huff_build_multi(struct huff *h);

/* The multi-symbol table of a progressive AC first scan, from a built table h: for the next
 * MULTI_BITS bits, as many whole symbols as fit that end neither the band's last coefficient nor
 * an EOB run (EOBn with n > 0 is left to the one-symbol path; a plain EOB is taken and ends the
 * block). Bits 0-5 total length, 6-12 coefficient advance (127: take one symbol the long way),
 * 13 (MULTI_EOB) ends the block, 16-31 value-bit mask, 32-63 the new nonzero coefficients
 * relative to the first one (so advances stop at 32). */
void isec__huff_build_first(const struct huff *h, uint64_t *pm);

struct comp {
    uint8_t id, h, v, tq;
    uint32_t bw, bh; /* blocks covering the component's own size (non-interleaved scans) */
    uint64_t *nz;    /* progressive only: per block, bit k set if zigzag coefficient k is nonzero */
};

struct scan {
    uint8_t ncomp, ss, se, ah, al;
    uint8_t ci[4]; /* frame component indexes */
    uint8_t td[4], ta[4];
    uint8_t nblk;  /* blocks per MCU */
    uint8_t blkcomp[10];
    uint32_t mcux;   /* MCUs per row */
    uint64_t total;  /* MCUs in the scan */
    uint32_t ri;     /* restart interval in MCUs (0 = none) */
    int kind;        /* SCAN_SEQ, SCAN_DC_FIRST, SCAN_DC_REFINE, SCAN_AC_FIRST, SCAN_AC_REFINE */
};
enum { SCAN_SEQ, SCAN_DC_FIRST, SCAN_DC_REFINE, SCAN_AC_FIRST, SCAN_AC_REFINE };

/* Decoder position; saved at each MCU start so a short read can be retried. */
struct dec {
    uint64_t pos; /* bit position in data[] */
    uint64_t mcu;
    uint32_t eobrun;
    uint8_t next_rst;
    uint8_t restarted; /* the restart before MCU `mcu` has been consumed */
};

struct bound {
    uint32_t datapos; /* data[] index where the RST marker sits */
    uint8_t num;      /* RSTn number */
};

struct mpf_entry {
    uint64_t start, len;
};

struct isec_jpeg {
    int mode, rc, state, depth, keyed;
    int fast_pdep; /* isec__jpeg_fast_pdep(), for AC refinement scans */
    char detail[256];
    uint64_t off;  /* offset of the next input byte, relative to this walker's SOI */
    uint64_t base; /* offset of this walker's SOI in the outermost file */

    uint8_t key[32];
    EVP_MD_CTX *hash; /* running hash of the invariant view of everything walked */
    EVP_MD_CTX *tmphash;
    EVP_CIPHER_CTX *cipher;
    int cipher_set; /* cipher has its algorithm (isec__chacha_init) */

    /* marker segments */
    uint8_t marker;
    uint8_t lenbuf[2];
    uint32_t seglen, segpos;
    uint64_t segoff;
    uint8_t *seg;
    uint32_t nsegments;

    /* frame */
    int have_sof, progressive;
    uint32_t width, height;
    uint8_t precision, ncomp, hmax, vmax;
    uint32_t mcux, mcuy;
    struct comp comp[4];
    struct huff dc[4], ac[4];
    uint32_t restart_interval;
    uint32_t huff_gen;    /* tables built so far (struct huff.gen) */
    uint64_t *firstmulti; /* progressive: isec__huff_build_first of the current AC first scan */
    int firstmulti_ta;    /* ... built from ac[firstmulti_ta] of generation firstmulti_gen */
    uint32_t firstmulti_gen;

    /* current scan */
    struct scan sc;
    struct dec d;
    isec_jpeg_scan *scaninfo;
    /* raw[k] is the k-th held byte of the stream only where isdata[k] is 0 (stuffing, RST
     * markers, fill bytes): the data bytes are in data[] alone, and are laid out again when a
     * chunk is emitted (isec__chunk_crypt); scratch is isec__chunk_crypt's (one thread) */
    uint8_t *raw, *isdata, *data, *vm, *xm, *scratch;
    uint32_t rawlen, datalen;
    uint64_t rawoff;     /* stream offset of raw[0] */
    uint64_t scan_start; /* stream offset of the scan's first entropy-coded byte */
    struct bound bounds[MAX_BOUNDS];
    uint32_t bhead, btail;
    uint64_t committed; /* bits of data[] whose classification is final */
    int pending_ff, region_ended, scan_done;

    /* after EOI */
    struct mpf_entry mpf[ISEC_JPEG_MAX_EMBEDDED];
    size_t nmpf, mpf_next;
    isec_jpeg *child;
    uint64_t child_end;

    /* limits */
    uint64_t max_pixels;
    uint32_t max_scans, max_segments;

    /* output of the current call */
    uint8_t *out;
    size_t outcap, outlen;

    isec_jpeg_info info;
    struct isec__pipe *pipe; /* the second thread (pipeline.c), or NULL */
    struct isec__spec *spec; /* the helper decode's job (entropy.c, pipeline.c), or NULL */
};

/* The walker's helper decode for sequential, DC first and AC first scans without a restart
 * interval (entropy.c has the why): the last part of a decode round, from a guessed MCU start,
 * done by the pipeline's worker thread before its next chunk. Exists only with a pipe. The
 * job's fields are the walker's until isec__spec_post and again once done is 1. */
#define SPEC_CAP 32768u /* block boundaries one job records at most */
#define SPEC_BACKOFF_MAX 16u /* rounds left to the walker alone after repeated late jobs, at most */
struct isec__spec {
    int out;              /* the walker's: a job is posted and not yet collected */
    uint64_t from, limit; /* the job: decode from bit `from` until a block passes `limit` */
    uint8_t *vm, *xm;     /* value and structure bits, as the walker's vm[] and xm[] */
    /* The chain, [0, n): boundaries where the decoder's state is the bit position alone
     * (between MCUs; in an AC first scan, between blocks and outside an EOB run), with what
     * lies between two of them complete: starts[k] the position, rel[k] the MCUs since the
     * chain's start, z[k] (AC first scans) the nonzero places of the one coded block of
     * (rel[k-1], rel[k]] (the others are in an EOB run and have none). */
    uint32_t *starts, *rel;
    uint64_t *z;
    uint32_t n;
    uint32_t next; /* the walker's: first of starts[] not yet behind it */
    atomic_int done, cancel;
    /* the walker's: whether this job's work was taken; rounds to leave to the walker alone
     * (skip), doubled (backoff) after each job whose work was not taken */
    int took;
    uint32_t skip, backoff;
    int wait; /* IMGSEC_SPEC_WAIT set: the walker waits for the job where it could take it over
               * (for tests: which work is taken then depends on the data alone, not timing) */
};
void isec__spec_wait(isec_jpeg *c); /* pipeline.c: waits until the posted job is done */
void isec__spec_post(isec_jpeg *c, uint64_t from, uint64_t limit);    /* pipeline.c */
void isec__spec_collect(isec_jpeg *c); /* cancels the job if it still runs; waits for it */
/* entropy.c: the helper's decode (on the helper thread) */
void isec__spec_decode(isec_jpeg *c, struct isec__spec *sp);

/* c->cipher keyed for a chunk with nonce iv (32-bit block counter 0, then the nonce); the first
 * call also selects ChaCha20, whose first fetch in a process costs about half a millisecond:
 * with a second thread that is paid there, while the walk starts. -1 on failure. */
int isec__chacha_init(isec_jpeg *c, const uint8_t iv[16]);

/* Sets the context's error (first one wins) with "offset N: message"; returns rc. */
int isec__jpeg_fail(isec_jpeg *c, int rc, uint64_t off, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* headers.c: the SOF, DHT and SOS segments (payload p, n bytes); 0 or the error (set on c). */
int isec__parse_sof(isec_jpeg *c, const uint8_t *p, size_t n);
int isec__parse_dht(isec_jpeg *c, const uint8_t *p, size_t n);
int isec__parse_sos(isec_jpeg *c, const uint8_t *p, size_t n);

static inline unsigned isec__be16(const uint8_t *p)
{
    return (unsigned)(p[0] << 8 | p[1]);
}

/* Stream offset of data[] byte idx (the end of raw[] if it is not there). */
uint64_t isec__data_offset(const isec_jpeg *c, uint64_t idx);

/* 1 if the CPU has a PDEP instruction that is fast (progressive.c; asked once per process). */
int isec__jpeg_fast_pdep(void);

/* Decodes MCUs of the current scan from data[]: 1 when the scan is complete, 0 when it needs
 * more data (state restored to the last MCU boundary), negative on corrupt data. */
int isec__entropy_decode(isec_jpeg *c);

/* Marks bits [from, to) of data[] as structure (neither Huffman code nor value). */
void isec__mark_structure(isec_jpeg *c, uint64_t from, uint64_t to);

/* Locates the JPEG thumbnail in an APP1 Exif payload: 1 and [*start, *end) within the payload,
 * 0 if there is none, negative (with detail) if the Exif structure is broken. */
int isec__exif_thumbnail(isec_jpeg *c, const uint8_t *p, size_t n, size_t *start, size_t *end);
/* Reads the MPF index of an APP2 payload whose TIFF header lies at stream offset tiffoff. */
int isec__mpf_parse(isec_jpeg *c, const uint8_t *p, size_t n, uint64_t tiffoff);

/* A chunk (nraw raw bytes, ndata of them data) enciphered, in the one way the format has:
 * its FSP masks (eligible counts added to *ebytes, *ebits); if c is keyed, its invariant view
 * into c->hash, a ChaCha20 keystream with a nonce from the digest so far, XORed into the
 * eligible bits of data[]; then the raw bytes laid into dest (data bytes from data[], the others
 * from raw[]). scratch: CHUNK_SCRATCH bytes, holding keystream afterwards (wipe it on free).
 * 0 or ISEC_ECRYPTO. */
#define CHUNK_SCRATCH (4u * CHUNK)
int isec__chunk_crypt(isec_jpeg *c, const uint8_t *raw, const uint8_t *isdata, uint32_t nraw,
                      uint8_t *data, const uint8_t *vm, const uint8_t *xm, uint32_t ndata,
                      uint8_t *dest, uint8_t *scratch, uint64_t *ebytes, uint64_t *ebits);

/* How many of isdata[0, n) are 1 (the others are 0). */
uint32_t isec__count_data(const uint8_t *isdata, uint32_t n);

/* pipeline.c: hand-over to the second thread (see there for who owns what). */
int isec__pipe_start(isec_jpeg *c);
void isec__pipe_stop(isec_jpeg *c); /* no-op without a pipe */
int isec__pipe_absorb(isec_jpeg *c, const uint8_t *p, size_t n);
int isec__pipe_chunk(isec_jpeg *c, const uint8_t *raw, const uint8_t *isdata, uint32_t nraw,
                     uint8_t *data, const uint8_t *vm, const uint8_t *xm, uint32_t ndata,
                     uint8_t *dest);
int isec__pipe_drain(isec_jpeg *c); /* waits until the worker is idle; its error, if any */
void isec__pipe_flush(isec_jpeg *c); /* hands the staged chunks over (no-op without a pipe) */
/* Instead of moving held data down after a flush round (the worker still reads the flushed
 * chunks in place): moves what follows the first nraw raw / ndata data bytes to another set of
 * buffers and switches the walker to it. */
int isec__pipe_rotate(isec_jpeg *c, uint32_t nraw, uint32_t ndata);

/* Portable popcount: __builtin_popcountll is a libgcc call unless the target has POPCNT. */
static inline unsigned isec__popcount64(uint64_t x)
{
    x = x - ((x >> 1) & 0x5555555555555555u);
    x = (x & 0x3333333333333333u) + ((x >> 2) & 0x3333333333333333u);
    x = (x + (x >> 4)) & 0x0F0F0F0F0F0F0F0Fu;
    return (unsigned)((x * 0x0101010101010101u) >> 56);
}

static inline uint64_t isec__load_be64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
#if defined(__GNUC__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    return __builtin_bswap64(v);
#else
    return (uint64_t)p[0] << 56 | (uint64_t)p[1] << 48 | (uint64_t)p[2] << 40 |
           (uint64_t)p[3] << 32 | (uint64_t)p[4] << 24 | (uint64_t)p[5] << 16 |
           (uint64_t)p[6] << 8 | (uint64_t)p[7];
#endif
}
static inline void isec__store_be64(uint8_t *p, uint64_t v)
{
#if defined(__GNUC__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    v = __builtin_bswap64(v);
    memcpy(p, &v, 8);
#else
    for (int i = 7; i >= 0; i--, v >>= 8) p[i] = (uint8_t)v;
#endif
}

#endif

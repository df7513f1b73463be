/* imgsec JPEG bitstream cipher: file-size-preserving selective encryption of Huffman-coded
 * DCT JPEGs (baseline, extended sequential 8/12-bit, progressive), after Kobayashi & Kiya.
 *
 * Only the Huffman "additional bits" that carry coefficient values are changed, and only in
 * bytes that also hold a Huffman code bit equal to 0, so no byte can become or stop being 0xFF:
 * the byte stuffing, the size and the parse of the file never change and the result is a valid
 * JPEG. Encryption and decryption are the same walk (an XOR); the keystream depends on the key
 * and on the content that encryption does not change (docs/jpeg-cipher.md).
 *
 * Push API: feed any number of bytes with isec_jpeg_update(), then isec_jpeg_final().
 * The context holds at most ISEC_JPEG_MAX_HELD bytes of stream at any time, plus for progressive
 * JPEGs one bit per DCT coefficient (8 bytes per 8x8 block) of "is nonzero" history.
 * A negative return is fatal: the context then answers ISEC_ESTATE, and isec_jpeg_detail()
 * says what went wrong and at which byte offset.
 */
#ifndef IMGSEC_JPEG_H
#define IMGSEC_JPEG_H

#include <stddef.h>
#include <stdint.h>

#include "imgsec/error.h"
#include "imgsec/keys.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct isec_jpeg isec_jpeg;

enum isec_jpeg_mode {
    ISEC_JPEG_ENCRYPT = 1,
    ISEC_JPEG_DECRYPT = 2,
    ISEC_JPEG_ANALYZE = 3 /* walk and describe only; no key, output is the input */
};

enum isec_jpeg_limit {
    ISEC_JPEG_LIMIT_PIXELS = 1,  /* width*height of any frame; default 2^28 */
    ISEC_JPEG_LIMIT_SCANS = 2,   /* scans per frame; default 256 (the most info can hold) */
    ISEC_JPEG_LIMIT_SEGMENTS = 3 /* marker segments per image; default 4096 */
};

#define ISEC_JPEG_MAX_HELD (320u * 1024u)
#define ISEC_JPEG_MAX_SCANS 256
#define ISEC_JPEG_MAX_EMBEDDED 8

enum isec_jpeg_process {
    ISEC_JPEG_BASELINE = 0,
    ISEC_JPEG_EXTENDED = 1,
    ISEC_JPEG_PROGRESSIVE = 2
};

enum isec_jpeg_embed_kind {
    ISEC_JPEG_EMBED_EXIF_THUMBNAIL = 1, /* APP1 Exif IFD1 JPEGInterchangeFormat */
    ISEC_JPEG_EMBED_MPF = 2             /* APP2 MPF secondary image after EOI */
};

typedef struct {
    uint8_t id, h, v, tq;
} isec_jpeg_component;

typedef struct {
    uint8_t ncomp;
    uint8_t comp[4]; /* component ids */
    uint8_t ss, se, ah, al;
    uint32_t restart_interval;
    uint64_t offset;         /* file offset of the SOS marker */
    uint64_t entropy_bytes;  /* bytes of entropy-coded data, stuffing and RST markers included */
    uint64_t eligible_bytes; /* bytes whose additional bits are enciphered */
    uint64_t eligible_bits;  /* additional bits enciphered */
} isec_jpeg_scan;

typedef struct {
    int kind;         /* enum isec_jpeg_embed_kind */
    uint64_t offset;  /* file offset of its SOI */
    uint64_t length;  /* bytes given to its walker */
    uint32_t width, height;
    int process;
    uint64_t eligible_bits;
} isec_jpeg_embedded;

typedef struct {
    int process; /* enum isec_jpeg_process, or -1 before SOF */
    uint32_t width, height;
    uint8_t precision, ncomp;
    isec_jpeg_component comp[4];
    int jfif, exif, adobe;
    int adobe_transform; /* -1 if no Adobe segment */
    uint32_t restart_interval; /* the first nonzero one seen, 0 if none */
    size_t nscans;
    isec_jpeg_scan scans[ISEC_JPEG_MAX_SCANS];
    size_t nembedded;
    isec_jpeg_embedded embedded[ISEC_JPEG_MAX_EMBEDDED];
    uint64_t file_size;      /* bytes walked so far (all of them after final) */
    uint64_t entropy_bytes, eligible_bytes, eligible_bits;
    uint64_t extraneous_bytes; /* bytes after the last MCU of an interval, before its marker */
    /* MCUs whose bits the second thread classified (isec_jpeg_set_threads(c, 2); sequential,
     * DC first and AC first scans without restarts; docs/jpeg-cipher.md); a diagnostic: the
     * output is the same bytes with one thread */
    uint64_t helper_mcus;
    uint64_t trailer_bytes;    /* bytes after EOI (including embedded MPF images) */
    int has_eoi;
} isec_jpeg_info;

/* New context. key is required for ENCRYPT/DECRYPT and ignored for ANALYZE. */
int isec_jpeg_new(isec_jpeg **out, int mode, const isec_key *key);
void isec_jpeg_free(isec_jpeg *c);
int isec_jpeg_set_limit(isec_jpeg *c, int which, uint64_t value);

/* Threads for one context, before the first update: 1 (the default) or 2. With 2, a second
 * thread does the hashing, keystream and XOR of each chunk while the caller's thread walks on;
 * output is the same byte for byte and still complete when update()/final() return. Worth it
 * for large files on a machine with a spare core; a server with many connections is better off
 * with one thread each. ISEC_ESTATE after the first update; no effect in ISEC_JPEG_ANALYZE. */
int isec_jpeg_set_threads(isec_jpeg *c, unsigned n);

/* Output room that one update with inlen bytes (or final) may need at most. */
size_t isec_jpeg_update_bound(size_t inlen);
#define isec_jpeg_final_bound() ((size_t)ISEC_JPEG_MAX_HELD)

/* Consume all of in; write what is ready to out (outcap >= isec_jpeg_update_bound(inlen)).
 * Returns 0, or a negative error. Output is the input with some bits flipped, delayed by at most
 * ISEC_JPEG_MAX_HELD bytes. */
int isec_jpeg_update(isec_jpeg *c, const uint8_t *in, size_t inlen, uint8_t *out, size_t outcap,
                     size_t *outlen);
/* End of input: flush the rest (outcap >= isec_jpeg_final_bound()). ISEC_ETRUNC if the image is
 * incomplete. */
int isec_jpeg_final(isec_jpeg *c, uint8_t *out, size_t outcap, size_t *outlen);

/* After a successful final, in ENCRYPT or DECRYPT mode: the digest of H at the end of the file
 * (docs/jpeg-cipher.md, Keystream), SHA-256 over the cipher's domain header and the file's
 * invariant view, which is every byte but the value bits of scan data (trailer bytes included).
 * A plaintext and its ciphertext have the same one, and the cipher hashes the view anyway, so it
 * fingerprints both for free: files with equal view digests differ at most in value bits.
 * ISEC_EINVAL without a key, ISEC_ESTATE before final or after an error. */
ISEC_MUST_CHECK int isec_jpeg_view_digest(isec_jpeg *c, uint8_t out[32]);

/* What went wrong, one line with the byte offset ("" if nothing). */
const char *isec_jpeg_detail(const isec_jpeg *c);
/* What the walk found so far (complete after a successful final). */
const isec_jpeg_info *isec_jpeg_get_info(const isec_jpeg *c);

/* Whole-buffer convenience: out (len bytes, may equal in) receives the result.
 * detail, if not NULL, receives isec_jpeg_detail() on error. */
int isec_jpeg_crypt(int mode, const isec_key *key, const uint8_t *in, size_t len, uint8_t *out,
                    char *detail, size_t detailcap);

#ifdef __cplusplus
}
#endif
#endif

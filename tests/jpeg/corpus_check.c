/* corpus_check: the JPEG cipher against real files (scripts/make-jpeg-corpus).
 *
 *   test_jpeg_corpus [--seed N] --group debian|made|unsupported|bad
 *   test_jpeg_corpus [--seed N] [--expect ok|unsupported|bad] PATH...   (files or directories)
 *
 * --group reads $ISEC_CORPUS/<group>. If ISEC_CORPUS is unset or empty the run fails under CI
 * ($CI set, not "false"/"0") and otherwise exits 77, which CTest reports as skipped.
 *
 * For a file that must work ("ok"): encryption through isec_jpeg_crypt(), in place, and through
 * the push API fed in seeded random chunks of 1 byte to 64 KiB all agree; the size is kept;
 * decryption restores every byte; ANALYZE passes bytes through; the ciphertext decodes with
 * libjpeg without any warning the plaintext did not raise, and its pixels are far from the
 * original (PSNR < 20 dB); so are the embedded Exif thumbnails and MPF images the walker reports;
 * a wrong key restores nothing (PSNR < 20 dB); the input (mapped read-only) is never written.
 * "unsupported" files must fail with ISEC_EUNSUPPORTED, "bad" files with a negative code whose
 * detail names the byte offset. One line per file, then "N passed, N failed".
 */
#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jpeglib.h>

#include "imgsec/jpeg.h"
#include "testutil.h"

enum expect { EX_OK, EX_UNSUPPORTED, EX_BAD };

#define PSNR_MAX 20.0
/* Below this many pixels an image has too few blocks for "far from the original" to be
 * meaningful (a 1x1 picture is one DC value); the PSNR is printed but not judged. */
#define PSNR_MIN_PIXELS 1024
#define MAX_CHUNK 65536u
#define NCODES 256

static isec_key *g_key, *g_wrong;
static uint64_t g_seed = 1;

/* Known leaks (tests/jpeg/known-leaks.txt, --known-leaks FILE): pictures for which the scheme
 * itself cannot reach PSNR_MAX, each with the ceiling it must stay under and why. Listing a file
 * never hides it: its line says KNOWN LEAK, and it still fails above its own ceiling. */
struct leak {
    char name[256];
    double max;
};
static struct leak g_leaks[64];
static size_t g_nleaks;
static const char *g_current; /* base name of the file being checked */

static void load_leaks(const char *path)
{
    FILE *f = fopen(path, "r");
    char line[1024];
    if (!f) {
        fprintf(stderr, "%s: cannot open\n", path);
        exit(1);
    }
    while (fgets(line, sizeof line, f) && g_nleaks < 64) {
        struct leak *l = &g_leaks[g_nleaks];
        if (line[0] != '#' && sscanf(line, "%255s %lf", l->name, &l->max) == 2) g_nleaks++;
    }
    fclose(f);
}

static double psnr_ceiling(int *known)
{
    *known = 0;
    for (size_t i = 0; g_current && i < g_nleaks; i++)
        if (!strcmp(g_leaks[i].name, g_current)) {
            *known = 1;
            return g_leaks[i].max;
        }
    return PSNR_MAX;
}

/* ---- results ---------------------------------------------------------------------------- */

struct result {
    int failed;
    char why[4096];
    char notes[1024];
    char desc[160]; /* what the walker saw */
};

static void vappend(char *buf, size_t cap, const char *sep, const char *fmt, va_list ap)
{
    size_t n = strlen(buf);
    if (n + 4 >= cap) return;
    if (n) n += (size_t)snprintf(buf + n, cap - n, "%s", sep);
    if (n < cap) vsnprintf(buf + n, cap - n, fmt, ap);
}

static void fail(struct result *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vappend(r->why, sizeof r->why, "; ", fmt, ap);
    va_end(ap);
    r->failed = 1;
}

static void note(struct result *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vappend(r->notes, sizeof r->notes, ", ", fmt, ap);
    va_end(ap);
}

/* ---- random chunk sizes ------------------------------------------------------------------- */

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* 1..64 KiB, log-uniform so single bytes and whole 64 KiB pieces both occur often. */
static size_t chunk_size(uint64_t *s)
{
    unsigned bits = (unsigned)(splitmix(s) % 17);
    size_t n = 1 + (size_t)(splitmix(s) % ((uint64_t)1 << bits));
    return n > MAX_CHUNK ? MAX_CHUNK : n;
}

static uint64_t name_seed(const char *name)
{
    uint64_t h = 1469598103934665603ull;
    for (const char *p = name; *p; p++) h = (h ^ (uint8_t)*p) * 1099511628211ull;
    return h ^ g_seed;
}

/* ---- libjpeg decoding ---------------------------------------------------------------------- */

typedef struct {
    int ok;
    char error[JMSG_LENGTH_MAX];
    int width, height, ncomp;
    uint8_t *px;
    int warnings;
    unsigned wcount[NCODES];
    char wtext[NCODES][48]; /* first text of each warning code, shortened */
} image;

struct jerr {
    struct jpeg_error_mgr pub;
    jmp_buf jb;
    image *im;
};

static void on_error(j_common_ptr c)
{
    struct jerr *e = (struct jerr *)c->err;
    (*c->err->format_message)(c, e->im->error);
    longjmp(e->jb, 1);
}

static void on_message(j_common_ptr c, int level)
{
    if (level >= 0) return;
    struct jerr *e = (struct jerr *)c->err;
    int code = c->err->msg_code;
    e->im->warnings++;
    if (code < 0 || code >= NCODES) code = NCODES - 1;
    if (e->im->wcount[code]++ == 0) {
        char buf[JMSG_LENGTH_MAX];
        (*c->err->format_message)(c, buf);
        size_t n = strlen(buf);
        if (n >= sizeof e->im->wtext[code]) n = sizeof e->im->wtext[code] - 1;
        memcpy(e->im->wtext[code], buf, n);
        e->im->wtext[code][n] = 0;
    }
}

/* Decodes fully; never aborts. The caller frees im->px (and the image itself). */
static image *decode(const uint8_t *buf, size_t len)
{
    image *im = calloc(1, sizeof *im);
    if (!im) return NULL;
    struct jpeg_decompress_struct d;
    struct jerr e;
    memset(&e, 0, sizeof e);
    e.im = im;
    d.err = jpeg_std_error(&e.pub);
    e.pub.error_exit = on_error;
    e.pub.emit_message = on_message;
    if (setjmp(e.jb)) {
        jpeg_destroy_decompress(&d);
        free(im->px);
        im->px = NULL;
        im->ok = 0;
        return im;
    }
    jpeg_create_decompress(&d);
    if (len == 0) {
        snprintf(im->error, sizeof im->error, "empty");
        jpeg_destroy_decompress(&d);
        return im;
    }
    jpeg_mem_src(&d, buf, (unsigned long)len);
    jpeg_read_header(&d, TRUE);
    jpeg_start_decompress(&d);
    im->width = (int)d.output_width;
    im->height = (int)d.output_height;
    im->ncomp = d.output_components;
    size_t stride = (size_t)im->width * (size_t)im->ncomp;
    im->px = malloc(stride * (size_t)im->height + 1);
    if (!im->px) {
        snprintf(im->error, sizeof im->error, "out of memory");
        longjmp(e.jb, 1);
    }
    while (d.output_scanline < d.output_height) {
        JSAMPROW row = im->px + stride * d.output_scanline;
        jpeg_read_scanlines(&d, &row, 1);
    }
    jpeg_finish_decompress(&d);
    jpeg_destroy_decompress(&d);
    im->ok = 1;
    return im;
}

static void image_free(image *im)
{
    if (!im) return;
    free(im->px);
    free(im);
}

/* -1 if the shapes differ, 99 if identical. */
static double psnr(const image *a, const image *b)
{
    if (!a->ok || !b->ok || a->width != b->width || a->height != b->height || a->ncomp != b->ncomp)
        return -1;
    size_t n = (size_t)a->width * (size_t)a->height * (size_t)a->ncomp;
    double se = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)a->px[i] - (double)b->px[i];
        se += d * d;
    }
    if (se == 0) return 99;
    return 10 * log10(255.0 * 255.0 / (se / (double)n));
}

static unsigned be16(const uint8_t *p)
{
    return (unsigned)(p[0] << 8 | p[1]);
}

/* libjpeg here is 8-bit only. A 12-bit file whose quantizers are all multiples of 16 shows the
 * same picture as the 8-bit file with quantizers / 16 and the same entropy data (the cipher keeps
 * every magnitude category, so the ciphertext fits too): that view is what gets decoded. */
static uint8_t *view8(const uint8_t *b, size_t n, size_t *outn)
{
    uint8_t *r = malloc(n);
    if (!r || n < 4) {
        free(r);
        return NULL;
    }
    size_t i = 2, rn = 2;
    memcpy(r, b, 2);
    while (i + 4 <= n && b[i] == 0xFF) {
        unsigned m = b[i + 1];
        size_t len = be16(b + i + 2);
        if (m == 0xDA || i + 2 + len > n) break;
        if (m == 0xDB) {
            size_t p = i + 4, q = rn + 4;
            r[rn] = 0xFF;
            r[rn + 1] = 0xDB;
            while (p < i + 2 + len) {
                int pq = b[p] >> 4;
                r[q++] = (uint8_t)(b[p] & 15);
                p++;
                for (int k = 0; k < 64; k++) {
                    unsigned v = pq ? be16(b + p + 2 * k) : b[p + (size_t)k];
                    if (v % 16 || v / 16 == 0 || v / 16 > 255) {
                        free(r);
                        return NULL;
                    }
                    r[q++] = (uint8_t)(v / 16);
                }
                p += pq ? 128 : 64;
            }
            r[rn + 2] = (uint8_t)((q - rn - 2) >> 8);
            r[rn + 3] = (uint8_t)(q - rn - 2);
            rn = q;
        } else {
            memcpy(r + rn, b + i, 2 + len);
            if (m >= 0xC0 && m <= 0xC2 && r[rn + 4] == 12) r[rn + 4] = 8;
            rn += 2 + len;
        }
        i += 2 + len;
    }
    memcpy(r + rn, b + i, n - i);
    *outn = rn + n - i;
    return r;
}

/* Decodes, through the 8-bit view if libjpeg refuses 12-bit data. */
static image *decode_any(const uint8_t *buf, size_t len, int *viewed)
{
    image *im = decode(buf, len);
    if (im && !im->ok && strstr(im->error, "precision 12")) {
        size_t vn;
        uint8_t *v = view8(buf, len, &vn);
        if (v) {
            image_free(im);
            im = decode(v, vn);
            free(v);
            *viewed = 1;
        }
    }
    return im;
}

/* Judges a decoded ciphertext (or wrong-key result) against the decoded plaintext. */
static void judge(struct result *r, const char *what, const image *pl, const image *ci, int judge_psnr)
{
    if (!ci || !ci->ok) {
        fail(r, "%s does not decode with libjpeg: %s", what, ci ? ci->error : "out of memory");
        return;
    }
    for (int k = 0; k < NCODES; k++)
        if (ci->wcount[k] > pl->wcount[k])
            fail(r, "%s raises libjpeg warning %d x%u (plaintext x%u): \"%s\"", what, k, ci->wcount[k],
                 pl->wcount[k], ci->wtext[k]);
    double p = psnr(pl, ci);
    if (p < 0) {
        fail(r, "%s decodes to another shape (%dx%dx%d vs %dx%dx%d)", what, ci->width, ci->height,
             ci->ncomp, pl->width, pl->height, pl->ncomp);
        return;
    }
    if (!judge_psnr || (long)pl->width * pl->height < PSNR_MIN_PIXELS) {
        note(r, "%s %.1f dB (not judged)", what, p);
        return;
    }
    int known;
    double ceiling = psnr_ceiling(&known);
    if (p >= ceiling)
        fail(r, "%s PSNR %.1f dB vs plaintext, want < %.1f", what, p, ceiling);
    else
        note(r, "%s %.1f dB%s", what, p, known ? " (KNOWN LEAK, see known-leaks.txt)" : "");
}

/* ---- running the cipher -------------------------------------------------------------------- */

/* Push API over random chunks; returns the output (len bytes) or NULL after fail(). info, if not
 * NULL, receives the walk's description. */
static uint8_t *push_run(struct result *r, const char *what, int mode, const isec_key *key,
                         const uint8_t *in, size_t len, uint64_t seed, isec_jpeg_info *info)
{
    isec_jpeg *c;
    int rc = isec_jpeg_new(&c, mode, key);
    if (rc < 0) {
        fail(r, "%s: isec_jpeg_new: %s", what, isec_err_name(rc));
        return NULL;
    }
    /* The push run uses the second thread (the whole-buffer call does only from 1 MB on), so
     * every file also checks that both give the same bytes. */
    if ((rc = isec_jpeg_set_threads(c, 2)) < 0) {
        fail(r, "%s: isec_jpeg_set_threads: %s", what, isec_err_name(rc));
        isec_jpeg_free(c);
        return NULL;
    }
    size_t bound = isec_jpeg_update_bound(MAX_CHUNK);
    if (bound < isec_jpeg_final_bound()) bound = isec_jpeg_final_bound();
    uint8_t *scratch = malloc(bound), *out = malloc(len + 1);
    size_t pos = 0, done = 0;
    if (!scratch || !out) {
        fail(r, "%s: out of memory", what);
        goto bad;
    }
    while (done < len) {
        size_t n = chunk_size(&seed), got = 0;
        if (n > len - done) n = len - done;
        rc = isec_jpeg_update(c, in + done, n, scratch, isec_jpeg_update_bound(n), &got);
        if (rc < 0) {
            fail(r, "%s: update of %zu bytes at %zu: %s (%s)", what, n, done, isec_err_name(rc),
                 isec_jpeg_detail(c));
            goto bad;
        }
        if (got > len - pos) {
            fail(r, "%s: push output exceeds the input", what);
            goto bad;
        }
        memcpy(out + pos, scratch, got);
        pos += got;
        done += n;
        if (pos > done) {
            fail(r, "%s: output ahead of input (%zu > %zu)", what, pos, done);
            goto bad;
        }
        if (done - pos > ISEC_JPEG_MAX_HELD) {
            fail(r, "%s: %zu bytes held back, more than ISEC_JPEG_MAX_HELD", what, done - pos);
            goto bad;
        }
    }
    size_t got = 0;
    rc = isec_jpeg_final(c, scratch, isec_jpeg_final_bound(), &got);
    if (rc < 0) {
        fail(r, "%s: final: %s (%s)", what, isec_err_name(rc), isec_jpeg_detail(c));
        goto bad;
    }
    if (got != len - pos) {
        fail(r, "%s: push output is %zu bytes, input %zu", what, pos + got, len);
        goto bad;
    }
    memcpy(out + pos, scratch, got);
    if (info) *info = *isec_jpeg_get_info(c);
    isec_jpeg_free(c);
    free(scratch);
    return out;
bad:
    isec_jpeg_free(c);
    free(scratch);
    free(out);
    return NULL;
}

/* Whole-buffer call; returns the output or NULL after fail(). */
static uint8_t *whole_run(struct result *r, const char *what, int mode, const isec_key *key,
                          const uint8_t *in, size_t len)
{
    char detail[256] = "";
    uint8_t *out = malloc(len + 1);
    if (!out) {
        fail(r, "%s: out of memory", what);
        return NULL;
    }
    int rc = isec_jpeg_crypt(mode, key, in, len, out, detail, sizeof detail);
    if (rc < 0) {
        fail(r, "%s: %s (%s)", what, isec_err_name(rc), detail);
        free(out);
        return NULL;
    }
    return out;
}

static size_t first_diff(const uint8_t *a, const uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i]) return i;
    return n;
}

/* Independent of the walker: an Exif APP1 that holds FF D8 FF, or an MPF APP2 with bytes after
 * EOI, must not come out of encryption unchanged. Returns a reason or NULL. */
static const char *missed_embedded(const uint8_t *pt, const uint8_t *ct, size_t n,
                                   const isec_jpeg_info *info)
{
    size_t i = 2;
    int mpf = 0;
    while (i + 4 <= n && pt[i] == 0xFF && pt[i + 1] != 0xDA) {
        size_t len = be16(pt + i + 2);
        if (i + 2 + len > n) break;
        if (pt[i + 1] == 0xE1 && len > 8 && !memcmp(pt + i + 4, "Exif", 4)) {
            for (size_t k = i + 10; k + 3 <= i + 2 + len; k++)
                if (pt[k] == 0xFF && pt[k + 1] == 0xD8 && pt[k + 2] == 0xFF) {
                    if (!memcmp(pt + i, ct + i, 2 + len)) return "Exif APP1 holds a JPEG left unencrypted";
                    break;
                }
        }
        if (pt[i + 1] == 0xE2 && len > 6 && !memcmp(pt + i + 4, "MPF", 4)) mpf = 1;
        i += 2 + len;
    }
    if (mpf && info->trailer_bytes > 0) {
        size_t t = n - (size_t)info->trailer_bytes;
        if (!memcmp(pt + t, ct + t, n - t)) return "MPF image after EOI left unencrypted";
    }
    return NULL;
}

static const char *process_name(int p)
{
    return p == ISEC_JPEG_BASELINE ? "baseline" : p == ISEC_JPEG_EXTENDED ? "extended"
         : p == ISEC_JPEG_PROGRESSIVE ? "progressive" : "?";
}

static void check_ok(struct result *r, const char *name, const uint8_t *in, size_t len)
{
    uint64_t seed = name_seed(name);
    isec_jpeg_info *info = calloc(1, sizeof *info);
    uint8_t *copy = malloc(len + 1), *ct = NULL, *ct2 = NULL, *inplace = NULL, *an = NULL,
            *pt = NULL, *pt2 = NULL, *wk = NULL;
    image *dp = NULL, *dc = NULL, *dw = NULL;
    if (!info || !copy) {
        fail(r, "out of memory");
        goto out;
    }
    memcpy(copy, in, len);
    if (len == 0) {
        fail(r, "empty file");
        goto out;
    }
    ct = whole_run(r, "encrypt (whole buffer)", ISEC_JPEG_ENCRYPT, g_key, in, len);
    ct2 = push_run(r, "encrypt (push)", ISEC_JPEG_ENCRYPT, g_key, in, len, seed, info);
    if (!ct || !ct2) goto out;
    size_t d = first_diff(ct, ct2, len);
    if (d < len) fail(r, "push and whole-buffer ciphertexts differ at offset %zu (seed %llu)", d,
                      (unsigned long long)g_seed);
    inplace = malloc(len);
    if (inplace) {
        memcpy(inplace, in, len);
        char detail[256] = "";
        int rc = isec_jpeg_crypt(ISEC_JPEG_ENCRYPT, g_key, inplace, len, inplace, detail, sizeof detail);
        if (rc < 0) fail(r, "encrypt in place: %s (%s)", isec_err_name(rc), detail);
        else if ((d = first_diff(ct, inplace, len)) < len)
            fail(r, "in-place ciphertext differs at offset %zu", d);
    }
    an = whole_run(r, "analyze", ISEC_JPEG_ANALYZE, NULL, in, len);
    if (an && (d = first_diff(an, in, len)) < len) fail(r, "ANALYZE changed byte %zu", d);
    if (info->file_size != len)
        fail(r, "info.file_size %llu, file %zu", (unsigned long long)info->file_size, len);

    pt = whole_run(r, "decrypt (whole buffer)", ISEC_JPEG_DECRYPT, g_key, ct, len);
    if (pt && (d = first_diff(pt, in, len)) < len)
        fail(r, "decrypt(encrypt(x)) != x: first difference at offset %zu", d);
    pt2 = push_run(r, "decrypt (push)", ISEC_JPEG_DECRYPT, g_key, ct, len, seed ^ 0x5555, NULL);
    if (pt2 && (d = first_diff(pt2, in, len)) < len)
        fail(r, "push decrypt(encrypt(x)) != x: first difference at offset %zu", d);
    if (info->eligible_bits == 0) note(r, "no eligible bits");
    else if (first_diff(ct, in, len) == len) fail(r, "ciphertext equals plaintext (%llu eligible bits)",
                                                  (unsigned long long)info->eligible_bits);
    wk = whole_run(r, "decrypt with a wrong key", ISEC_JPEG_DECRYPT, g_wrong, ct, len);
    if (wk && info->eligible_bits > 0 && first_diff(wk, in, len) == len)
        fail(r, "a wrong key restored the plaintext");
    const char *missed = missed_embedded(in, ct, len, info);
    if (missed) fail(r, "%s", missed);

    int viewed = 0;
    dp = decode_any(in, len, &viewed);
    if (!dp || !dp->ok) {
        fail(r, "plaintext does not decode with libjpeg: %s", dp ? dp->error : "out of memory");
        goto embedded;
    }
    if (viewed) note(r, "12-bit, decoded through an 8-bit view");
    dc = decode_any(ct, len, &viewed);
    judge(r, "ciphertext", dp, dc, 1);
    if (wk) {
        dw = decode_any(wk, len, &viewed);
        judge(r, "wrong key", dp, dw, 1);
    }
embedded:
    for (size_t k = 0; k < info->nembedded; k++) {
        const isec_jpeg_embedded *e = &info->embedded[k];
        const char *kind = e->kind == ISEC_JPEG_EMBED_EXIF_THUMBNAIL ? "exif-thumbnail"
                         : e->kind == ISEC_JPEG_EMBED_MPF ? "mpf-image" : "embedded?";
        if (e->offset > len || e->length > len - e->offset || e->length == 0) {
            fail(r, "%s at %llu+%llu lies outside the file", kind, (unsigned long long)e->offset,
                 (unsigned long long)e->length);
            continue;
        }
        int v = 0;
        image *tp = decode_any(in + e->offset, (size_t)e->length, &v);
        image *tc = decode_any(ct + e->offset, (size_t)e->length, &v);
        char what[64];
        snprintf(what, sizeof what, "%s@%llu", kind, (unsigned long long)e->offset);
        if (!tp || !tp->ok) fail(r, "%s: plaintext does not decode: %s", what, tp ? tp->error : "");
        else judge(r, what, tp, tc, 1);
        image_free(tp);
        image_free(tc);
    }
    if (strstr(name, "exif-thumb")) {
        int found = 0;
        for (size_t k = 0; k < info->nembedded; k++) found |= info->embedded[k].kind == ISEC_JPEG_EMBED_EXIF_THUMBNAIL;
        if (!found) fail(r, "walker reports no Exif thumbnail");
    }
    if (strstr(name, "mpf")) {
        int found = 0;
        for (size_t k = 0; k < info->nembedded; k++) found |= info->embedded[k].kind == ISEC_JPEG_EMBED_MPF;
        if (!found) fail(r, "walker reports no MPF image");
    }
    if (memcmp(in, copy, len)) fail(r, "the input buffer was modified");
    snprintf(r->desc, sizeof r->desc, "%s %ux%u %u-bit %uc %zu scan%s%s", process_name(info->process),
             info->width, info->height, info->precision, info->ncomp, info->nscans,
             info->nscans == 1 ? "" : "s", info->restart_interval ? " rst" : "");
out:
    image_free(dp);
    image_free(dc);
    image_free(dw);
    free(info);
    free(copy);
    free(ct);
    free(ct2);
    free(inplace);
    free(an);
    free(pt);
    free(pt2);
    free(wk);
}

/* Unsupported and bad files: both entry points must refuse, the same way. */
static void check_refused(struct result *r, const char *name, const uint8_t *in, size_t len, int want)
{
    char detail[256] = "";
    uint8_t *out = malloc(len + 1);
    if (!out) {
        fail(r, "out of memory");
        return;
    }
    int rc = isec_jpeg_crypt(ISEC_JPEG_ENCRYPT, g_key, in, len, out, detail, sizeof detail);
    free(out);
    if (want == EX_UNSUPPORTED && rc != ISEC_EUNSUPPORTED)
        fail(r, "whole buffer: %s, want ISEC_EUNSUPPORTED (%s)", isec_err_name(rc), detail);
    if (want == EX_BAD && rc >= 0) fail(r, "whole buffer: accepted (rc %d), want an error", rc);
    if (rc < 0 && !detail[0]) fail(r, "whole buffer: empty detail");
    if (want == EX_BAD && rc < 0 && !strstr(detail, "offset"))
        fail(r, "whole buffer: detail without \"offset\": \"%s\"", detail);

    isec_jpeg *c;
    int prc = isec_jpeg_new(&c, ISEC_JPEG_ENCRYPT, g_key);
    if (prc < 0) {
        fail(r, "isec_jpeg_new: %s", isec_err_name(prc));
        return;
    }
    if ((prc = isec_jpeg_set_threads(c, 2)) < 0) fail(r, "set_threads: %s", isec_err_name(prc));
    size_t bound = isec_jpeg_update_bound(MAX_CHUNK);
    if (bound < isec_jpeg_final_bound()) bound = isec_jpeg_final_bound();
    uint8_t *scratch = malloc(bound);
    uint64_t seed = name_seed(name);
    size_t done = 0, got;
    while (scratch && done < len && prc >= 0) {
        size_t n = chunk_size(&seed);
        if (n > len - done) n = len - done;
        prc = isec_jpeg_update(c, in + done, n, scratch, isec_jpeg_update_bound(n), &got);
        done += n;
    }
    if (scratch && prc >= 0) prc = isec_jpeg_final(c, scratch, isec_jpeg_final_bound(), &got);
    const char *pd = isec_jpeg_detail(c);
    if (prc != rc) fail(r, "push: %s (%s), whole buffer %s", isec_err_name(prc), pd, isec_err_name(rc));
    if (prc < 0 && (!pd || !pd[0])) fail(r, "push: empty detail");
    if (prc < 0 && scratch) {
        uint8_t one = 0xFF;
        int again = isec_jpeg_update(c, &one, 1, scratch, isec_jpeg_update_bound(1), &got);
        if (again != ISEC_ESTATE) fail(r, "push: update after a fatal error gave %s, want ISEC_ESTATE",
                                       isec_err_name(again));
    }
    isec_jpeg_free(c);
    free(scratch);
    if (!r->failed) note(r, "%s: %s", isec_err_name(rc), detail);
}

/* ---- files --------------------------------------------------------------------------------- */

static int check_file(const char *path, const char *shown, int expect)
{
    static const uint8_t none[1];
    struct result *r = calloc(1, sizeof *r);
    if (!r) return 0;
    int fd = open(path, O_RDONLY);
    struct stat st;
    const uint8_t *in = none;
    size_t len = 0;
    if (fd < 0 || fstat(fd, &st) != 0) {
        fail(r, "cannot open");
    } else {
        len = (size_t)st.st_size;
        if (len) {
            /* read-only mapping: a write into the input crashes the test */
            void *m = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
            if (m == MAP_FAILED) fail(r, "cannot map");
            else in = m;
        }
    }
    if (fd >= 0) close(fd);
    const char *slash = strrchr(path, '/');
    g_current = slash ? slash + 1 : path;
    if (!r->failed) {
        if (expect == EX_OK) check_ok(r, shown, in, len);
        else check_refused(r, shown, in, len, expect);
    }
    if (in != none) munmap((void *)(uintptr_t)in, len);
    int ok = !r->failed;
    if (ok) printf("ok   %s (%zu B) %s%s%s\n", shown, len, r->desc, r->desc[0] ? ": " : "", r->notes);
    else printf("FAIL %s (%zu B): %s%s%s%s%s\n", shown, len, r->why, r->desc[0] || r->notes[0] ? " | " : "",
                r->desc, r->desc[0] && r->notes[0] ? ": " : "", r->notes);
    fflush(stdout);
    free(r);
    return ok;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Checks PATH, a file or every non-hidden file in a directory (sorted). */
static void check_path(const char *path, int expect, int *passed, int *failed)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        printf("FAIL %s: does not exist\n", path);
        (*failed)++;
        return;
    }
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    if (!S_ISDIR(st.st_mode)) {
        if (check_file(path, path, expect)) (*passed)++;
        else (*failed)++;
        return;
    }
    DIR *d = opendir(path);
    if (!d) {
        printf("FAIL %s: cannot list\n", path);
        (*failed)++;
        return;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 256;
            char **nn = realloc(names, cap * sizeof *names);
            if (!nn) break;
            names = nn;
        }
        names[n++] = strdup(de->d_name);
    }
    closedir(d);
    if (n) qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 0; i < n; i++) {
        if (!names[i]) continue;
        size_t plen = strlen(path) + strlen(names[i]) + 2;
        char *full = malloc(plen), *shown = malloc(strlen(base) + strlen(names[i]) + 2);
        if (full && shown) {
            snprintf(full, plen, "%s/%s", path, names[i]);
            snprintf(shown, strlen(base) + strlen(names[i]) + 2, "%s/%s", base, names[i]);
            if (stat(full, &st) == 0 && S_ISREG(st.st_mode)) {
                if (check_file(full, shown, expect)) (*passed)++;
                else (*failed)++;
            }
        }
        free(full);
        free(shown);
        free(names[i]);
    }
    free(names);
}

static int parse_expect(const char *s)
{
    if (!strcmp(s, "unsupported")) return EX_UNSUPPORTED;
    if (!strcmp(s, "bad")) return EX_BAD;
    return EX_OK;
}

int main(int argc, char **argv)
{
    int expect = EX_OK, passed = 0, failed = 0, npaths = 0;
    const char *group = NULL;
    char **paths = calloc((size_t)argc + 1, sizeof *paths);
    CHECK(paths != NULL);
    if (!paths) return 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--seed") && i + 1 < argc) g_seed = strtoull(argv[++i], NULL, 0);
        else if (!strcmp(argv[i], "--expect") && i + 1 < argc) expect = parse_expect(argv[++i]);
        else if (!strcmp(argv[i], "--group") && i + 1 < argc) group = argv[++i];
        else if (!strcmp(argv[i], "--known-leaks") && i + 1 < argc) load_leaks(argv[++i]);
        else paths[npaths++] = argv[i];
    }
    char *gpath = NULL;
    if (group) {
        const char *corpus = getenv("ISEC_CORPUS"), *ci = getenv("CI");
        int in_ci = ci && ci[0] && strcmp(ci, "false") && strcmp(ci, "0");
        if (!corpus || !corpus[0]) {
            if (in_ci) {
                printf("ISEC_CORPUS is not set, and CI=%s: the corpus tests must run in CI "
                       "(make test sets it; scripts/make-jpeg-corpus builds it)\n0 passed, 1 failed\n", ci);
                free(paths);
                return 1;
            }
            printf("skipped: ISEC_CORPUS is not set (make test sets it; scripts/make-jpeg-corpus DIR)\n");
            free(paths);
            return 77;
        }
        expect = parse_expect(group);
        size_t n = strlen(corpus) + strlen(group) + 2;
        gpath = malloc(n);
        if (!gpath) return 1;
        snprintf(gpath, n, "%s/%s", corpus, group);
        paths[npaths++] = gpath;
    }
    if (npaths == 0) {
        fprintf(stderr, "usage: %s [--seed N] (--group debian|made|unsupported|bad | "
                        "[--expect ok|unsupported|bad] PATH...)\n", argv[0]);
        free(paths);
        return 2;
    }
    uint8_t kb[ISEC_KEY_BYTES], wb[ISEC_KEY_BYTES];
    for (int i = 0; i < ISEC_KEY_BYTES; i++) {
        kb[i] = (uint8_t)(0x10 + i);
        wb[i] = (uint8_t)(0x10 + i);
    }
    wb[ISEC_KEY_BYTES - 1] ^= 1; /* differs in one bit */
    CHECK_RC(isec_key_from_bytes(&g_key, kb), 0);
    CHECK_RC(isec_key_from_bytes(&g_wrong, wb), 0);
    if (tu_failures) return 1;
    for (int i = 0; i < npaths; i++) check_path(paths[i], expect, &passed, &failed);
    if (passed + failed == 0) {
        printf("FAIL no files found\n");
        failed = 1;
    }
    printf("%d passed, %d failed\n", passed, failed);
    isec_key_free(g_key);
    isec_key_free(g_wrong);
    free(gpath);
    free(paths);
    return failed ? 1 : 0;
}

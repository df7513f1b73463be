/* Shares (one participant's sheets), their canonical digest, ids, and the split secret file. */
#define _DEFAULT_SOURCE 1 /* MADV_HUGEPAGE (Linux) */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "internal.h"

void isec_vcs_params_init(isec_vcs_params *p)
{
    memset(p, 0, sizeof *p);
    p->mode = ISEC_VCS_EXACT;
    p->layout = ISEC_VCS_LAYOUT_CMY;
    p->halftone = ISEC_VCS_HT_FS;
    p->gamma = ISEC_VCS_GAMMA_LINEAR;
    p->white_fill = ISEC_VCS_FILL_3B1W;
}

static unsigned planes_for(unsigned layout, unsigned channels)
{
    switch (layout) {
    case ISEC_VCS_LAYOUT_GRAY: return channels == 1 ? 1 : 0;
    case ISEC_VCS_LAYOUT_CMY: return channels == 3 ? 3 : 0;
    case ISEC_VCS_LAYOUT_PLANES: return channels == 1 || channels == 3 ? 8 * channels : 0;
    default: return 0;
    }
}

/* Zeroed sheet memory. Large shares (24 planes of 512x512 are 25 MB) are mapped directly: fresh
 * anonymous pages are zero, so nothing is written here and the pages are first touched (faulted
 * in) by whoever fills them - the split's or the reader's worker threads, in parallel - instead
 * of by a memset pass in one thread; they ask for transparent huge pages, because faulting the
 * buffer in 4 KiB pages cost more than the split itself. *mapped says how to free. */
#define MAP_MIN ((size_t)4 << 20)

/* Freed mappings are kept for the next share of the same mapped size, wiped (so zero, like a
 * fresh mapping): a long-running process - the verifier service decodes two shares per request -
 * would otherwise have the kernel zero and fault in 50 MB of fresh pages per request (24 planes
 * of 512x512), which took more CPU than decoding them. Two are kept (a request's or a split's
 * pair), each at most CACHE_MAX_LEN; whatever is kept stays mapped until the process ends. */
#define CACHE_SLOTS 2
#define CACHE_MAX_LEN ((size_t)128 << 20)
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    uint8_t *p;
    size_t len;
} cache[CACHE_SLOTS];

static uint8_t *cache_take(size_t len)
{
    uint8_t *p = NULL;
    pthread_mutex_lock(&cache_lock);
    for (unsigned i = 0; i < CACHE_SLOTS && !p; i++)
        if (cache[i].p && cache[i].len == len) {
            p = cache[i].p;
            cache[i].p = NULL;
        }
    pthread_mutex_unlock(&cache_lock);
    return p;
}

/* 1 if the (wiped) mapping was kept. */
static int cache_put(uint8_t *p, size_t len)
{
    int kept = 0;
    if (len > CACHE_MAX_LEN) return 0;
    pthread_mutex_lock(&cache_lock);
    for (unsigned i = 0; i < CACHE_SLOTS && !kept; i++)
        if (!cache[i].p) {
            cache[i].p = p;
            cache[i].len = len;
            kept = 1;
        }
    pthread_mutex_unlock(&cache_lock);
    return kept;
}

static uint8_t *alloc_sheets(size_t bytes, size_t *mapped)
{
    *mapped = 0;
#if defined(MAP_ANONYMOUS) && defined(MADV_HUGEPAGE)
    if (bytes >= MAP_MIN) {
        const size_t huge = (size_t)2 << 20, len = (bytes + huge - 1) / huge * huge;
        uint8_t *kept = cache_take(len);
        if (kept) {
            *mapped = len;
            return kept;
        }
        /* Over-map by one huge page so the buffer can start on a huge-page boundary. */
        uint8_t *raw = mmap(NULL, len + huge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                            -1, 0);
        if (raw == MAP_FAILED) return NULL;
        uint8_t *p = (uint8_t *)(((uintptr_t)raw + huge - 1) & ~(uintptr_t)(huge - 1));
        if (p > raw) munmap(raw, (size_t)(p - raw));
        if (p + len < raw + len + huge) munmap(p + len, (size_t)(raw + len + huge - (p + len)));
        (void)madvise(p, len, MADV_HUGEPAGE); /* a hint: fine if refused */
        *mapped = len;
        return p;
    }
#endif
    return calloc(bytes, 1);
}

int isec_vcs_share_new(isec_vcs_share **out, const isec_vcs_share_info *info)
{
    if (!out) return ISEC_EINVAL;
    *out = NULL;
    if (!info || info->participant > 1 || info->mode > 1 || info->white_fill > 1) return ISEC_EINVAL;
    if (!info->nplanes || info->nplanes != planes_for(info->layout, info->channels))
        return ISEC_EINVAL;
    if (!info->width || !info->height) return ISEC_EINVAL;
    if (info->polarity && (info->layout != ISEC_VCS_LAYOUT_PLANES ||
                           (info->nplanes < 32 && info->polarity >> info->nplanes)))
        return ISEC_EINVAL;
    if (info->width > ISEC_VCS_MAX_DIM || info->height > ISEC_VCS_MAX_DIM ||
        (uint64_t)info->width * info->height > ISEC_VCS_MAX_PIXELS)
        return ISEC_ELIMIT;
    isec_vcs_share *s = calloc(1, sizeof *s);
    if (!s) return ISEC_ENOMEM;
    s->info = *info;
    s->npix = (size_t)info->width * info->height;
    s->px = alloc_sheets(s->npix * info->nplanes * ISEC_VCS_SHEETS, &s->mapped); /* all PX_T */
    if (!s->px) {
        free(s);
        return ISEC_ENOMEM;
    }
    *out = s;
    return 0;
}

void isec_vcs_share_free(isec_vcs_share *s)
{
    if (!s) return;
    /* Sheets are the secret's shares: wipe them like key material. explicit_bzero is libc's
     * memset that the compiler may not drop; OPENSSL_cleanse writes byte by byte on x86-64 and
     * took 7 ms for the 50 MB of two 24-plane shares. */
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 25))
    explicit_bzero(s->px, s->npix * s->info.nplanes * ISEC_VCS_SHEETS);
#else
    OPENSSL_cleanse(s->px, s->npix * s->info.nplanes * ISEC_VCS_SHEETS);
#endif
#ifdef MAP_ANONYMOUS
    if (s->mapped) {
        if (!cache_put(s->px, s->mapped)) munmap(s->px, s->mapped);
    } else
#endif
        free(s->px);
    free(s);
}

const isec_vcs_share_info *isec_vcs_share_get_info(const isec_vcs_share *s)
{
    return &s->info;
}

void isec_vcs_share_set_ids(isec_vcs_share *s, const uint8_t table_id[ISEC_VCS_ID_LEN],
                            const uint8_t wm_id[ISEC_VCS_ID_LEN])
{
    if (table_id) memcpy(s->info.table_id, table_id, ISEC_VCS_ID_LEN);
    if (wm_id) memcpy(s->info.wm_id, wm_id, ISEC_VCS_ID_LEN);
}

void isec_vcs_share_set_split_id(isec_vcs_share *s, const uint8_t split_id[ISEC_VCS_ID_LEN])
{
    memcpy(s->info.split_id, split_id, ISEC_VCS_ID_LEN);
}

uint8_t *isec_vcs_share_sheet(isec_vcs_share *s, unsigned plane, unsigned sheet)
{
    if (!s || plane >= s->info.nplanes || sheet >= ISEC_VCS_SHEETS) return NULL;
    return isec__vcs_sheet(s, plane, sheet);
}

const uint8_t *isec_vcs_share_sheet_const(const isec_vcs_share *s, unsigned plane, unsigned sheet)
{
    if (!s || plane >= s->info.nplanes || sheet >= ISEC_VCS_SHEETS) return NULL;
    return isec__vcs_csheet(s, plane, sheet);
}

static void be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* ---- packed rows (the digest's form and the TIFF pages' pixels: vcs.h) ----
 * The one packer: apps/imageio writes its pages with it too. */

static inline unsigned code_of(uint8_t v)
{
    return v == ISEC_VCS_PX_W ? 3u : v == ISEC_VCS_PX_K ? 1u : 2u; /* anything else: T */
}

/* 4 sheet bytes (each 0..2) to one packed byte, 4 at a time as a 32-bit little-endian word:
 * per byte the code (v != K) << 1 | (v != T) in its low 2 bits, then one multiplication moves
 * byte j's code to bits 30 - 2j (the other partial products land on other bits, no carries).
 * Branch-free, so compilers vectorise the loop. */
static inline uint8_t pack4(uint32_t v)
{
    const uint32_t lo = v & 0x01010101u, hi = (v >> 1) & 0x01010101u;
    const uint32_t c = ((hi ^ 0x01010101u) << 1) | lo | hi;
    return (uint8_t)((c * 0x40100401u) >> 24);
}

#ifdef __SSE2__
/* 16 sheet bytes to their 2-bit codes, one per byte (gray << 1 | alpha), and a mask of bytes
 * that are not sheet values (> 2). */
static inline __m128i codes16(__m128i v, __m128i *bad)
{
    const __m128i zero = _mm_setzero_si128(), k = _mm_set1_epi8(ISEC_VCS_PX_K);
    *bad = _mm_or_si128(*bad, _mm_andnot_si128(_mm_cmpeq_epi8(v, k),
                                               _mm_cmpeq_epi8(_mm_max_epu8(v, k), v)));
    const __m128i g = _mm_andnot_si128(_mm_cmpeq_epi8(v, k), _mm_set1_epi8(2));
    const __m128i a = _mm_andnot_si128(_mm_cmpeq_epi8(v, zero), _mm_set1_epi8(1));
    return _mm_or_si128(g, a);
}

/* 16 codes (one per byte) to 4 packed bytes, in the low byte of each 32-bit lane: byte j of a
 * lane goes to bits 6 - 2j. */
static inline __m128i fold16(__m128i c)
{
    const __m128i m3 = _mm_set1_epi32(3);
    return _mm_or_si128(
        _mm_or_si128(_mm_slli_epi32(_mm_and_si128(c, m3), 6),
                     _mm_slli_epi32(_mm_and_si128(_mm_srli_epi32(c, 8), m3), 4)),
        _mm_or_si128(_mm_slli_epi32(_mm_and_si128(_mm_srli_epi32(c, 16), m3), 2),
                     _mm_srli_epi32(c, 24)));
}
#endif

void isec_vcs_pack_row(const uint8_t *px, uint32_t w, uint8_t *out)
{
    uint32_t x = 0;
#ifdef __SSE2__
    {
        /* 64 pixels per step into 16 bytes; bytes that are not sheet values (> 2) are caught on
         * the way and the row is then redone below, writing them as transparent */
        __m128i bad = _mm_setzero_si128();
        const uint32_t n64 = w / 64;
        for (uint32_t i = 0; i < n64; i++) {
            const __m128i *p = (const __m128i *)(const void *)(px + 64 * (size_t)i);
            const __m128i f0 = fold16(codes16(_mm_loadu_si128(p), &bad));
            const __m128i f1 = fold16(codes16(_mm_loadu_si128(p + 1), &bad));
            const __m128i f2 = fold16(codes16(_mm_loadu_si128(p + 2), &bad));
            const __m128i f3 = fold16(codes16(_mm_loadu_si128(p + 3), &bad));
            _mm_storeu_si128((__m128i *)(void *)(out + 16 * (size_t)i),
                             _mm_packus_epi16(_mm_packs_epi32(f0, f1), _mm_packs_epi32(f2, f3)));
        }
        if (_mm_movemask_epi8(bad) == 0) {
            x = 64 * n64;
            out += 16 * (size_t)n64;
        }
    }
#endif
    if (__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ && x == 0) {
        /* 8 pixels per step; bytes that are not sheet values (> 2) are caught on the way and the
         * row is then redone below, writing them as transparent */
        uint64_t bad = 0;
        const uint32_t n8 = w / 8;
        for (uint32_t i = 0; i < n8; i++) {
            uint64_t v;
            memcpy(&v, px + 8 * i, 8);
            bad |= (v & 0xfcfcfcfcfcfcfcfcu) | (v & (v >> 1) & 0x0101010101010101u);
            out[2 * i] = pack4((uint32_t)v);
            out[2 * i + 1] = pack4((uint32_t)(v >> 32));
        }
        if (!bad) {
            x = 8 * n8;
            out += 2 * n8;
        }
    }
    for (; x + 4 <= w; x += 4)
        *out++ = (uint8_t)(code_of(px[x]) << 6 | code_of(px[x + 1]) << 4 |
                           code_of(px[x + 2]) << 2 | code_of(px[x + 3]));
    if (x < w) {
        unsigned b = 0;
        for (unsigned k = 0; x + k < w; k++) b |= code_of(px[x + k]) << (6 - 2 * k);
        *out = (uint8_t)b;
    }
}

void isec_vcs_canon_rows(uint8_t *rows, size_t nrows, uint32_t width)
{
    /* A code is gray << 1 | alpha; with alpha 0 the pixel is transparent whatever its gray bit,
     * so setting the gray bit wherever alpha is 0 turns 00 into 10 and changes nothing else. */
    const size_t row = ISEC_VCS_PACKED_ROW(width), n = row * nrows;
    size_t i = 0;
#ifdef __SSE2__
    const __m128i m55 = _mm_set1_epi8(0x55);
    for (; i + 16 <= n; i += 16) { /* (~v & 0x55) << 1 without crossing bytes: add it to itself */
        __m128i *p = (__m128i *)(void *)(rows + i);
        const __m128i v = _mm_loadu_si128(p), a = _mm_andnot_si128(v, m55);
        _mm_storeu_si128(p, _mm_or_si128(v, _mm_add_epi8(a, a)));
    }
#endif
    for (; i + 8 <= n; i += 8) {
        uint64_t v;
        memcpy(&v, rows + i, 8);
        v |= (~v & 0x5555555555555555u) << 1;
        memcpy(rows + i, &v, 8);
    }
    for (; i < n; i++) rows[i] = (uint8_t)(rows[i] | (~rows[i] & 0x55u) << 1);
    if (width % 4) { /* after the above, which would have set pad bits */
        const uint8_t keep = (uint8_t)(0xffu << (8 - 2 * (width % 4)));
        for (size_t r = 0; r < nrows; r++) rows[r * row + row - 1] &= keep;
    }
}

void isec_vcs_digest_head(const isec_vcs_share_info *info, uint8_t out[ISEC_VCS_DIGEST_HEAD_LEN])
{
    static const char label[] = "imgsec-vcs-share-v2";
    _Static_assert(sizeof label - 1 + 12 == ISEC_VCS_DIGEST_HEAD_LEN, "digest head");
    memcpy(out, label, sizeof label - 1);
    uint8_t *head = out + sizeof label - 1;
    be32(head, info->width);
    be32(head + 4, info->height);
    head[8] = (uint8_t)info->participant;
    head[9] = (uint8_t)info->layout;
    head[10] = (uint8_t)info->nplanes;
    head[11] = ISEC_VCS_SHEETS;
}

size_t isec_vcs_digest_tail(const isec_vcs_share_info *info, uint8_t out[12])
{
    if (!info->polarity) return 0; /* shares without polarity: no trailer */
    memcpy(out, "polarity", 8);
    be32(out + 8, info->polarity);
    return 12;
}

int isec_vcs_share_digest(const isec_vcs_share *s, uint8_t digest[ISEC_VCS_DIGEST_LEN])
{
    const uint32_t w = s->info.width;
    const size_t row = ISEC_VCS_PACKED_ROW(w), rows = (size_t)s->info.nplanes * ISEC_VCS_SHEETS *
                                                     s->info.height;
    /* Rows are packed into a buffer of up to 64 KiB (at least one row) and hashed a buffer at
     * a time: the packed share is a quarter of the pixels, never made whole. */
    const size_t per = row >= 65536 ? 1 : 65536 / row;
    uint8_t *buf = malloc(row * per), head[ISEC_VCS_DIGEST_HEAD_LEN], tail[12];
    if (!buf) return ISEC_ENOMEM;
    isec_vcs_digest_head(&s->info, head);
    const size_t tl = isec_vcs_digest_tail(&s->info, tail);
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    unsigned dl = 0;
    int ok = c && EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1 &&
             EVP_DigestUpdate(c, head, sizeof head) == 1;
    /* rows of all sheets in page order are consecutive rows of px */
    for (size_t r0 = 0; ok && r0 < rows; r0 += per) {
        const size_t n = rows - r0 < per ? rows - r0 : per;
        for (size_t r = 0; r < n; r++) isec_vcs_pack_row(s->px + (r0 + r) * w, w, buf + r * row);
        ok = EVP_DigestUpdate(c, buf, n * row) == 1;
    }
    ok = ok && (!tl || EVP_DigestUpdate(c, tail, tl) == 1) &&
         EVP_DigestFinal_ex(c, digest, &dl) == 1 && dl == ISEC_VCS_DIGEST_LEN;
    EVP_MD_CTX_free(c);
    OPENSSL_cleanse(buf, row * per); /* the sheets' pixels, packed */
    free(buf);
    return ok ? 0 : ISEC_ECRYPTO;
}

void isec_vcs_table_id(const uint8_t key[ISEC_VCS_KEY_LEN], uint8_t id[ISEC_VCS_ID_LEN])
{
    static const char label[] = "imgsec-vcs-table-id-v1";
    uint8_t buf[sizeof label - 1 + ISEC_VCS_KEY_LEN], h[32];
    memcpy(buf, label, sizeof label - 1);
    memcpy(buf + sizeof label - 1, key, ISEC_VCS_KEY_LEN);
    EVP_Digest(buf, sizeof buf, h, NULL, EVP_sha256(), NULL);
    memcpy(id, h, ISEC_VCS_ID_LEN);
    OPENSSL_cleanse(buf, sizeof buf);
}

int isec__vcs_wm_check(const isec_vcs_watermark *wm)
{
    if (!wm || !wm->bits || !wm->width || !wm->height) return ISEC_EINVAL;
    if (wm->width > ISEC_VCS_MAX_WM_DIM || wm->height > ISEC_VCS_MAX_WM_DIM) return ISEC_ELIMIT;
    size_t n = (size_t)wm->width * wm->height;
    for (size_t i = 0; i < n; i++)
        if (wm->bits[i] > 1) return ISEC_EINVAL;
    return 0;
}

static void pack_bits(const isec_vcs_watermark *wm, uint8_t *out)
{
    size_t n = (size_t)wm->width * wm->height;
    memset(out, 0, (n + 7) / 8);
    for (size_t i = 0; i < n; i++)
        if (wm->bits[i]) out[i / 8] |= (uint8_t)(0x80u >> (i % 8));
}

int isec_vcs_watermark_id(const isec_vcs_watermark *wm, uint8_t id[ISEC_VCS_ID_LEN])
{
    static const char label[] = "imgsec-vcs-wm-id-v1";
    int rc = isec__vcs_wm_check(wm);
    if (rc < 0) return rc;
    size_t nb = ((size_t)wm->width * wm->height + 7) / 8;
    uint8_t *packed = malloc(nb), dims[8], h[32];
    if (!packed) return ISEC_ENOMEM;
    pack_bits(wm, packed);
    be32(dims, wm->width);
    be32(dims + 4, wm->height);
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    int ok = c && EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1 &&
             EVP_DigestUpdate(c, label, sizeof label - 1) == 1 &&
             EVP_DigestUpdate(c, dims, 8) == 1 && EVP_DigestUpdate(c, packed, nb) == 1 &&
             EVP_DigestFinal_ex(c, h, NULL) == 1;
    EVP_MD_CTX_free(c);
    OPENSSL_cleanse(packed, nb);
    free(packed);
    if (!ok) return ISEC_ECRYPTO;
    memcpy(id, h, ISEC_VCS_ID_LEN);
    return 0;
}

void isec_vcs_watermark_clear(isec_vcs_watermark *wm)
{
    if (!wm) return;
    if (wm->bits) {
        OPENSSL_cleanse(wm->bits, (size_t)wm->width * wm->height);
        free(wm->bits);
    }
    memset(wm, 0, sizeof *wm);
}

static const uint8_t secret_magic[8] = {'I', 'S', 'E', 'C', 'V', 'C', 'S', '1'};

int isec_vcs_secret_encode(const uint8_t key[ISEC_VCS_KEY_LEN], const isec_vcs_watermark *wm,
                           uint8_t **out, size_t *out_len)
{
    if (!key || !out || !out_len) return ISEC_EINVAL;
    *out = NULL;
    *out_len = 0;
    int rc = isec__vcs_wm_check(wm);
    if (rc < 0) return rc;
    size_t nb = ((size_t)wm->width * wm->height + 7) / 8;
    size_t len = 8 + ISEC_VCS_KEY_LEN + 8 + nb + 32;
    uint8_t *b = malloc(len);
    if (!b) return ISEC_ENOMEM;
    memcpy(b, secret_magic, 8);
    memcpy(b + 8, key, ISEC_VCS_KEY_LEN);
    be32(b + 40, wm->width);
    be32(b + 44, wm->height);
    pack_bits(wm, b + 48);
    if (EVP_Digest(b, len - 32, b + len - 32, NULL, EVP_sha256(), NULL) != 1) {
        OPENSSL_cleanse(b, len);
        free(b);
        return ISEC_ECRYPTO;
    }
    *out = b;
    *out_len = len;
    return 0;
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int isec_vcs_secret_decode(const uint8_t *buf, size_t len, uint8_t key[ISEC_VCS_KEY_LEN],
                           isec_vcs_watermark *wm)
{
    if (!buf || !key || !wm) return ISEC_EINVAL;
    memset(wm, 0, sizeof *wm);
    if (len < 48) return ISEC_ETRUNC;
    if (memcmp(buf, secret_magic, 8)) return ISEC_EFORMAT;
    uint32_t w = rd32(buf + 40), h = rd32(buf + 44);
    if (!w || !h) return ISEC_EFORMAT;
    if (w > ISEC_VCS_MAX_WM_DIM || h > ISEC_VCS_MAX_WM_DIM) return ISEC_ELIMIT;
    size_t n = (size_t)w * h, nb = (n + 7) / 8;
    if (len < 48 + nb + 32) return ISEC_ETRUNC;
    if (len != 48 + nb + 32) return ISEC_EFORMAT;
    uint8_t d[32];
    if (EVP_Digest(buf, len - 32, d, NULL, EVP_sha256(), NULL) != 1) return ISEC_ECRYPTO;
    if (CRYPTO_memcmp(d, buf + len - 32, 32)) return ISEC_EFORMAT;
    if (n % 8 && (buf[48 + nb - 1] & (0xffu >> (n % 8)))) return ISEC_EFORMAT;
    uint8_t *bits = malloc(n);
    if (!bits) return ISEC_ENOMEM;
    for (size_t i = 0; i < n; i++) bits[i] = (uint8_t)((buf[48 + i / 8] >> (7 - i % 8)) & 1);
    memcpy(key, buf + 8, ISEC_VCS_KEY_LEN);
    wm->width = w;
    wm->height = h;
    wm->bits = bits;
    return 0;
}

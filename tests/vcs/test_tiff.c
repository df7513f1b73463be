/* Sheet files: TIFF round trips in memory and on disk, and rejection of bad files. */
#include <dirent.h>
#include <stdio.h>
#include <sys/stat.h>
#include <tiffio.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "sheetio.h"
#include "vcstest.h"

static int checks;

static void make(unsigned mode, unsigned layout, unsigned ch, uint32_t w, uint32_t h,
                 isec_vcs_share **a, isec_vcs_share **b)
{
    isec_vcs_params p;
    isec_vcs_params_init(&p);
    p.mode = mode;
    p.layout = layout;
    p.seed = (const uint8_t *)"tiff";
    p.seed_len = 4;
    isec_vcs_watermark wm = vt_watermark(8, 8, 1);
    uint8_t *px = vt_gray(w, h, ch);
    isec_vcs_image img = {w, h, ch, px};
    CHECK_RC(isec_vcs_split(&img, &p, vt_key, &wm, a, b), 0);
    free(px);
    free(wm.bits);
}

static int same(const isec_vcs_share *x, const isec_vcs_share *y)
{
    uint8_t d1[32], d2[32];
    if (isec_vcs_share_digest(x, d1) || isec_vcs_share_digest(y, d2)) return 0;
    return !memcmp(d1, d2, 32) &&
           !memcmp(isec_vcs_share_get_info(x), isec_vcs_share_get_info(y), sizeof(isec_vcs_share_info));
}

/* isec_sheet_read_mem, checked against isec_sheet_digest_mem and isec_sheet_read_mem_pair
 * (with digests) of the same bytes: the same code and message, and on success the share's
 * description and digest, which the three paths make differently (the share's pixels packed
 * again; the page rows made canonical without a share; the same while filling a share). */
static int rd_mem(const uint8_t *buf, size_t len, const isec_sheet_limits *lim,
                  isec_vcs_share **out, char *err, size_t errlen)
{
    char e2[300] = "";
    isec_vcs_share_info info;
    uint8_t d1[ISEC_VCS_DIGEST_LEN], d2[ISEC_VCS_DIGEST_LEN];
    if (err && errlen) err[0] = 0;
    const int rc = isec_sheet_read_mem(buf, len, lim, out, err, errlen);
    const int rc2 = isec_sheet_digest_mem(buf, len, lim, &info, d2, e2, sizeof e2);
    CHECK(rc == rc2);
    CHECK(!err || !errlen || rc == 0 || !strcmp(err, e2));
    if (rc == 0 && rc2 == 0 && *out) {
        CHECK_RC(isec_vcs_share_digest(*out, d1), 0);
        CHECK(!memcmp(d1, d2, sizeof d1));
        CHECK(!memcmp(&info, isec_vcs_share_get_info(*out), sizeof info));
    }
    const uint8_t *const bufs[2] = {buf, buf};
    const size_t lens[2] = {len, len};
    isec_vcs_share *got[2] = {NULL, NULL};
    uint8_t dig[2][ISEC_VCS_DIGEST_LEN];
    int failed = -1;
    const int rc3 = isec_sheet_read_mem_pair(bufs, lens, lim, got, dig, &failed, e2, sizeof e2);
    CHECK(rc3 == rc);
    CHECK(rc3 == 0 || failed == 0);
    if (rc == 0 && rc3 == 0 && *out) CHECK(!memcmp(dig[0], d1, sizeof d1) && !memcmp(dig[1], d1, sizeof d1));
    isec_vcs_share_free(got[0]);
    isec_vcs_share_free(got[1]);
    return rc;
}

static void test_roundtrip(const char *tmpdir)
{
    static const unsigned combos[][3] = {{0, ISEC_VCS_LAYOUT_GRAY, 1}, {1, ISEC_VCS_LAYOUT_CMY, 3},
                                         {0, ISEC_VCS_LAYOUT_PLANES, 3}, {1, ISEC_VCS_LAYOUT_PLANES, 1}};
    char err[300];
    for (unsigned c = 0; c < 4; c++) {
        isec_vcs_share *s[2];
        make(combos[c][0], combos[c][1], combos[c][2], 37, 21, &s[0], &s[1]);
        for (int k = 0; k < 2; k++) {
            uint8_t *buf;
            size_t len;
            isec_vcs_share *back = NULL;
            CHECK_RC(isec_sheet_write_mem(s[k], &buf, &len, err, sizeof err), 0);
            CHECK_RC(rd_mem(buf, len, NULL, &back, err, sizeof err), 0);
            {
                /* into a file: the same bytes, the file offset at the end */
                char fp[512];
                snprintf(fp, sizeof fp, "%s/fd%u%d.tiff", tmpdir, c, k);
                FILE *f = fopen(fp, "w+b");
                CHECK(f != NULL);
                if (f) {
                    CHECK_RC(isec_sheet_write_fd(s[k], fileno(f), err, sizeof err), 0);
                    CHECK(lseek(fileno(f), 0, SEEK_CUR) == (off_t)len);
                    fclose(f);
                    size_t flen = 0;
                    uint8_t *fb = tu_read_file(fp, &flen);
                    CHECK(fb && flen == len && !memcmp(fb, buf, len));
                    free(fb);
                    unlink(fp);
                }
                checks += 3;
            }
            CHECK(back && same(s[k], back));
            isec_vcs_share_free(back);
            /* every truncation fails cleanly, or (when only the last deflate stream's checksum
             * is cut, which zlib does not need) gives exactly the same sheets */
            for (size_t l = 0; l < len; l += 1 + len / 97) {
                int rc = rd_mem(buf, l, NULL, &back, err, sizeof err);
                CHECK((rc < 0 && back == NULL) || (rc == 0 && l + 8 > len && same(s[k], back)));
                isec_vcs_share_free(back);
                back = NULL;
            }
            /* limits */
            isec_sheet_limits lim;
            isec_sheet_limits_init(&lim);
            lim.max_width = 36;
            CHECK_RC(rd_mem(buf, len, &lim, &back, err, sizeof err), ISEC_ELIMIT);
            isec_sheet_limits_init(&lim);
            lim.max_bytes = len - 1;
            CHECK_RC(rd_mem(buf, len, &lim, &back, err, sizeof err), ISEC_ELIMIT);
            isec_sheet_limits_init(&lim);
            lim.max_pixel_bytes = 37 * 21;
            CHECK_RC(rd_mem(buf, len, &lim, &back, err, sizeof err),
                     isec_vcs_share_get_info(s[k])->nplanes * 4 > 1 ? ISEC_ELIMIT : 0);
            free(buf);
            char path[512];
            snprintf(path, sizeof path, "%s/s%u%d.tiff", tmpdir, c, k);
            CHECK_RC(isec_sheet_write_file(s[k], path, 0, err, sizeof err), 0);
            CHECK_RC(isec_sheet_write_file(s[k], path, 0, err, sizeof err), ISEC_EEXIST);
            CHECK_RC(isec_sheet_read_file(path, NULL, &back, err, sizeof err), 0);
            CHECK(back && same(s[k], back));
            isec_vcs_share_free(back);
            checks += 8;
        }
        isec_vcs_share_free(s[0]);
        isec_vcs_share_free(s[1]);
    }
    /* PNG export: 4 files per plane, all or nothing */
    isec_vcs_share *a, *b;
    make(0, ISEC_VCS_LAYOUT_CMY, 3, 16, 16, &a, &b);
    char dir[512];
    snprintf(dir, sizeof dir, "%s/png", tmpdir);
    mkdir(dir, 0755);
    CHECK_RC(isec_sheet_export_png(a, dir, "a", 0, err, sizeof err), 0);
    CHECK_RC(isec_sheet_export_png(a, dir, "a", 0, err, sizeof err), ISEC_EEXIST);
    unsigned files = 0;
    DIR *d = opendir(dir);
    for (struct dirent *e; d && (e = readdir(d));) files += e->d_name[0] != '.';
    if (d) closedir(d);
    CHECK(files == 12);
    char p0[600];
    snprintf(p0, sizeof p0, "%s/a-p1-s2-layer4.png", dir);
    uint32_t w, h;
    unsigned ch;
    uint8_t *px;
    CHECK_RC(isec_png_read8(p0, 0, &w, &h, &ch, &px, err, sizeof err), 0);
    CHECK(w == 16 && h == 16 && ch == 3);
    free(px);
    checks += 4;
    isec_vcs_share_free(a);
    isec_vcs_share_free(b);
}

/* A hand-made TIFF: pages pages of w x h; pixel (g, a) pairs from px (or a default share-like
 * pattern), description per page from desc(page). */
typedef struct {
    uint8_t *buf;
    size_t len, pos;
} mbuf;
static tmsize_t mb_read(thandle_t h, void *p, tmsize_t n)
{
    mbuf *m = h;
    size_t k = m->pos < m->len ? m->len - m->pos : 0;
    if ((size_t)n < k) k = (size_t)n;
    memcpy(p, m->buf + m->pos, k);
    m->pos += k;
    return (tmsize_t)k;
}
static tmsize_t mb_write(thandle_t h, void *p, tmsize_t n)
{
    mbuf *m = h;
    if (m->pos + (size_t)n > m->len) {
        m->buf = realloc(m->buf, m->pos + (size_t)n);
        memset(m->buf + m->len, 0, m->pos + (size_t)n - m->len);
        m->len = m->pos + (size_t)n;
    }
    memcpy(m->buf + m->pos, p, (size_t)n);
    m->pos += (size_t)n;
    return n;
}
static toff_t mb_seek(thandle_t h, toff_t off, int wh)
{
    mbuf *m = h;
    m->pos = (size_t)(wh == SEEK_SET ? off : wh == SEEK_CUR ? m->pos + off : m->len + off);
    return m->pos;
}
static int mb_close(thandle_t h)
{
    (void)h;
    return 0;
}
static toff_t mb_size(thandle_t h)
{
    return ((mbuf *)h)->len;
}

enum { BAD_NONE, BAD_ALPHA, BAD_GRAY, BAD_NODESC, BAD_PARTICIPANT, BAD_SIZE, BAD_RGB, BAD_ORDER };

static void desc_for(unsigned page, int participant, char *out, size_t n)
{
    snprintf(out, n,
             "imgsec-vcs=1\nparticipant=%c\nmode=exact\nlayout=gray\nchannels=1\nplanes=1\n"
             "fill=3b1w\nplane=0\nsheet=%u\nlayer=%u\ntable-id=000102030405060708090a0b0c0d0e0f\n"
             "wm-id=00000000000000000000000000000000\nsplit-id=0123456789abcdef0123456789abcdef\n",
             participant ? 'B' : 'A', page, 2 * page + (unsigned)participant);
}

static mbuf handmade(unsigned pages, int bad, unsigned bad_page)
{
    mbuf m = {NULL, 0, 0};
    TIFF *t = TIFFClientOpen("x", "w", &m, mb_read, mb_write, mb_seek, mb_close, mb_size, NULL, NULL);
    const uint32_t w = 8, h = 6;
    for (unsigned pg = 0; pg < pages; pg++) {
        int here = pg == bad_page ? bad : BAD_NONE;
        uint16_t spp = here == BAD_RGB ? 3 : 2;
        uint32_t pw = here == BAD_SIZE ? w + 1 : w;
        TIFFSetField(t, TIFFTAG_IMAGEWIDTH, pw);
        TIFFSetField(t, TIFFTAG_IMAGELENGTH, h);
        TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, 8);
        TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, spp);
        uint16_t extra = EXTRASAMPLE_UNASSALPHA;
        if (spp == 2) TIFFSetField(t, TIFFTAG_EXTRASAMPLES, 1, &extra);
        TIFFSetField(t, TIFFTAG_PHOTOMETRIC, spp == 3 ? PHOTOMETRIC_RGB : PHOTOMETRIC_MINISBLACK);
        TIFFSetField(t, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
        TIFFSetField(t, TIFFTAG_ROWSPERSTRIP, h);
        char d[600];
        desc_for(here == BAD_ORDER ? pg + 1 : pg, here == BAD_PARTICIPANT, d, sizeof d);
        if (here != BAD_NODESC) TIFFSetField(t, TIFFTAG_IMAGEDESCRIPTION, d);
        uint8_t line[64];
        for (uint32_t y = 0; y < h; y++) {
            for (uint32_t x = 0; x < pw; x++) {
                uint8_t *o = line + spp * x;
                o[0] = (x + y + pg) % 3 == 0 ? 0 : 255;
                o[1] = (x + y + pg) % 3 == 1 ? 0 : 255;
                if (spp == 3) o[2] = 255;
                if (here == BAD_ALPHA && x == 3 && y == 2) o[1] = 17;
                if (here == BAD_GRAY && x == 4 && y == 1) o[0] = 100, o[1] = 255;
            }
            TIFFWriteScanline(t, line, y, 0);
        }
        TIFFWriteDirectory(t);
    }
    TIFFClose(t);
    return m;
}

static void test_bad(void)
{
    char err[300];
    isec_vcs_share *s = NULL;
    struct {
        unsigned pages;
        int bad;
        unsigned page;
        int want;
    } cases[] = {
        {4, BAD_NONE, 0, 0},
        {4, BAD_ALPHA, 2, ISEC_EFORMAT},
        {4, BAD_GRAY, 3, ISEC_EFORMAT},
        {4, BAD_NODESC, 0, ISEC_EFORMAT},
        {4, BAD_NODESC, 1, ISEC_EFORMAT},
        {4, BAD_PARTICIPANT, 2, ISEC_EFORMAT},
        {4, BAD_SIZE, 1, ISEC_EFORMAT},
        {4, BAD_RGB, 1, ISEC_EUNSUPPORTED},
        {4, BAD_ORDER, 1, ISEC_EFORMAT},
        {3, BAD_NONE, 0, ISEC_ETRUNC},
        {5, BAD_NONE, 0, ISEC_EFORMAT},
    };
    for (unsigned i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mbuf m = handmade(cases[i].pages, cases[i].bad, cases[i].page);
        err[0] = 0;
        int rc = rd_mem(m.buf, m.len, NULL, &s, err, sizeof err);
        printf("case %u: rc %d (%s) %s\n", i, rc, isec_err_name(rc), err);
        CHECK(rc == cases[i].want);
        CHECK((rc == 0) == (s != NULL));
        CHECK(rc == 0 || err[0]);
        isec_vcs_share_free(s);
        s = NULL;
        free(m.buf);
        checks += 3;
    }
    /* the 8-bit layout of earlier versions still reads, pixel for pixel */
    mbuf old = handmade(4, BAD_NONE, 0);
    CHECK_RC(rd_mem(old.buf, old.len, NULL, &s, err, sizeof err), 0);
    int same_px = s != NULL;
    for (unsigned pg = 0; s && pg < 4; pg++) {
        const uint8_t *px = isec_vcs_share_sheet_const(s, 0, pg);
        for (uint32_t y = 0; y < 6; y++)
            for (uint32_t x = 0; x < 8; x++) {
                static const uint8_t want[3] = {ISEC_VCS_PX_K, ISEC_VCS_PX_T, ISEC_VCS_PX_W};
                same_px &= px[y * 8 + x] == want[(x + y + pg) % 3];
            }
    }
    CHECK(same_px);
    isec_vcs_share_free(s);
    s = NULL;
    free(old.buf);
    checks += 2;
    /* not TIFF at all */
    static const uint8_t junk[64] = "this is not a TIFF file, it is some text, and it goes on...";
    CHECK(rd_mem(junk, sizeof junk, NULL, &s, err, sizeof err) == ISEC_EFORMAT);
    CHECK(rd_mem(junk, 3, NULL, &s, err, sizeof err) == ISEC_ETRUNC);
    CHECK(isec_sheet_read_file("/nonexistent/x.tiff", NULL, &s, err, sizeof err) == ISEC_EIO);
    checks += 3;
}

/* 1-bit pages as any writer might make them: transparent pixels coded 00 as well as 10, and
 * nonzero pad bits. A 1x4-page gray share of w x h from raw packed rows (rows[page][y*row..]);
 * canonical: the same after isec_vcs_canon_rows. */
static mbuf handmade1(uint32_t w, uint32_t h, const uint8_t *rows, uint16_t comp)
{
    mbuf m = {NULL, 0, 0};
    TIFF *t = TIFFClientOpen("x", "w", &m, mb_read, mb_write, mb_seek, mb_close, mb_size, NULL, NULL);
    const size_t row = ISEC_VCS_PACKED_ROW(w);
    for (unsigned pg = 0; pg < 4; pg++) {
        uint16_t extra = EXTRASAMPLE_UNASSALPHA;
        TIFFSetField(t, TIFFTAG_IMAGEWIDTH, w);
        TIFFSetField(t, TIFFTAG_IMAGELENGTH, h);
        TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, 1);
        TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, 2);
        TIFFSetField(t, TIFFTAG_EXTRASAMPLES, 1, &extra);
        TIFFSetField(t, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_MINISBLACK);
        TIFFSetField(t, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
        TIFFSetField(t, TIFFTAG_COMPRESSION, comp);
        TIFFSetField(t, TIFFTAG_ROWSPERSTRIP, 2); /* several strips, the last one short */
        char d[600];
        desc_for(pg, 1, d, sizeof d);
        TIFFSetField(t, TIFFTAG_IMAGEDESCRIPTION, d);
        uint8_t line[64];
        for (uint32_t y = 0; y < h; y++) {
            memcpy(line, rows + ((size_t)pg * h + y) * row, row);
            TIFFWriteScanline(t, line, y, 0);
        }
        TIFFWriteDirectory(t);
    }
    TIFFClose(t);
    return m;
}

/* The page-hash paths against the in-memory one on pages with 00 codes and pad bits, and
 * against the digest's definition computed here from the raw page bytes: such a file hashes as
 * the same pixels written canonically (by hand, and by isec_sheet_write_mem). */
static void test_noncanonical(void)
{
    static const uint32_t widths[] = {1, 5, 13, 16, 70, 129};
    uint64_t seed = 99;
    char err[300];
    for (unsigned wi = 0; wi < sizeof widths / sizeof widths[0]; wi++)
        for (unsigned ci = 0; ci < 2; ci++) {
            const uint32_t w = widths[wi], h = 5;
            const size_t row = ISEC_VCS_PACKED_ROW(w), n = 4 * h * row;
            uint8_t *raw = malloc(n), *canon = malloc(n);
            for (size_t i = 0; i < n; i++) raw[i] = (uint8_t)vt_rand(&seed);
            raw[0] = 0; /* 00 codes for sure, and pad bits set */
            raw[row - 1] |= 0x01;
            /* the canonical bytes from the definition: per pixel T 10, W 11, K 01; pad 0 */
            memset(canon, 0, n);
            for (size_t r = 0; r < 4 * (size_t)h; r++)
                for (uint32_t x = 0; x < w; x++) {
                    const unsigned c = (raw[r * row + x / 4] >> (6 - 2 * (x % 4))) & 3;
                    const unsigned k = (c & 1) ? c : 2;
                    canon[r * row + x / 4] |= (uint8_t)(k << (6 - 2 * (x % 4)));
                }
            const uint16_t comp = ci ? COMPRESSION_ZSTD : COMPRESSION_NONE;
            mbuf m = handmade1(w, h, raw, comp), mc = handmade1(w, h, canon, comp);
            isec_vcs_share *s = NULL, *sc = NULL;
            isec_vcs_share_info info;
            uint8_t d[32], dc[32], want[32];
            CHECK_RC(rd_mem(m.buf, m.len, NULL, &s, err, sizeof err), 0);
            CHECK_RC(rd_mem(mc.buf, mc.len, NULL, &sc, err, sizeof err), 0);
            CHECK_RC(isec_sheet_digest_mem(m.buf, m.len, NULL, &info, d, err, sizeof err), 0);
            CHECK_RC(isec_sheet_digest_mem(mc.buf, mc.len, NULL, &info, dc, err, sizeof err), 0);
            CHECK(!memcmp(d, dc, 32) && (n == 0 || memcmp(raw, canon, n)));
            /* label, header (w, h, B, gray, 1 plane, 4 sheets), the canonical rows */
            EVP_MD_CTX *c = EVP_MD_CTX_new();
            uint8_t head[12] = {(uint8_t)(w >> 24), (uint8_t)(w >> 16), (uint8_t)(w >> 8), (uint8_t)w,
                                0, 0, 0, (uint8_t)h, 1, ISEC_VCS_LAYOUT_GRAY, 1, 4};
            CHECK(c && EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1 &&
                  EVP_DigestUpdate(c, "imgsec-vcs-share-v2", 19) == 1 &&
                  EVP_DigestUpdate(c, head, 12) == 1 && EVP_DigestUpdate(c, canon, n) == 1 &&
                  EVP_DigestFinal_ex(c, want, NULL) == 1);
            EVP_MD_CTX_free(c);
            CHECK(!memcmp(d, want, 32));
            /* and as written by the library: the same page bytes as the canonical file */
            uint8_t *wb = NULL;
            size_t wl = 0;
            CHECK(s && isec_sheet_write_mem(s, &wb, &wl, err, sizeof err) == 0);
            CHECK_RC(isec_sheet_digest_mem(wb, wl, NULL, &info, dc, err, sizeof err), 0);
            CHECK(!memcmp(d, dc, 32));
            free(wb);
            isec_vcs_share_free(s);
            isec_vcs_share_free(sc);
            free(m.buf);
            free(mc.buf);
            free(raw);
            free(canon);
            checks += 9;
        }
}

/* Every file ever found by the fuzzer is read without crashing. */
static void test_regress(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) {
        printf("no regress dir %s\n", dir);
        return;
    }
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        size_t len;
        uint8_t *buf = tu_read_file(path, &len);
        if (!buf) continue;
        isec_vcs_share *s = NULL;
        char err[300];
        int rc = rd_mem(buf, len, NULL, &s, err, sizeof err);
        CHECK((rc == 0) == (s != NULL));
        isec_vcs_share_free(s);
        free(buf);
        checks++;
    }
    closedir(d);
}

/* What is written: 1-bit gray + 1-bit alpha pages, zstd by default, deflate or none on request,
 * every one read back to the same share; the packing of every pixel value at every position of
 * a byte (width 37: rows end in a partial byte). */
static void test_format(void)
{
    char err[300];
    isec_vcs_share *a, *b;
    make(1, ISEC_VCS_LAYOUT_PLANES, 3, 37, 21, &a, &b);
    static const int comps[3] = {ISEC_SHEET_ZSTD, ISEC_SHEET_DEFLATE, ISEC_SHEET_NONE};
    static const uint16_t tags[3] = {COMPRESSION_ZSTD, COMPRESSION_ADOBE_DEFLATE, COMPRESSION_NONE};
    for (unsigned c = 0; c < 3; c++) {
        CHECK_RC(isec_sheet_set_compression(comps[c]), 0);
        uint8_t *buf;
        size_t len;
        CHECK_RC(isec_sheet_write_mem(b, &buf, &len, err, sizeof err), 0);
        mbuf m = {buf, len, 0};
        TIFF *t = TIFFClientOpen("x", "r", &m, mb_read, mb_write, mb_seek, mb_close, mb_size, NULL, NULL);
        CHECK(t != NULL);
        unsigned pages = 0;
        int ok = t != NULL;
        do {
            uint16_t bps = 0, spp = 0, comp = 0;
            TIFFGetField(t, TIFFTAG_BITSPERSAMPLE, &bps);
            TIFFGetField(t, TIFFTAG_SAMPLESPERPIXEL, &spp);
            TIFFGetField(t, TIFFTAG_COMPRESSION, &comp);
            ok &= bps == 1 && spp == 2 && comp == tags[c] && TIFFScanlineSize(t) == (37 * 2 + 7) / 8;
            pages++;
        } while (t && TIFFReadDirectory(t));
        if (t) TIFFClose(t);
        CHECK(ok && pages == 96);
        isec_vcs_share *back = NULL;
        CHECK_RC(rd_mem(buf, len, NULL, &back, err, sizeof err), 0);
        CHECK(back && same(b, back));
        printf("compression %u: %zu bytes\n", tags[c], len);
        isec_vcs_share_free(back);
        free(buf);
        checks += 3;
    }
    CHECK_RC(isec_sheet_set_compression(7), ISEC_EINVAL);
    CHECK_RC(isec_sheet_set_compression(ISEC_SHEET_ZSTD), 0);
    /* every value in every position of a packed byte, and garbage written as transparent */
    isec_vcs_share_info info = *isec_vcs_share_get_info(a);
    info.layout = ISEC_VCS_LAYOUT_GRAY, info.channels = 1, info.nplanes = 1, info.polarity = 0;
    info.width = 83, info.height = 3;
    isec_vcs_share *g = NULL, *back = NULL;
    CHECK_RC(isec_vcs_share_new(&g, &info), 0);
    for (unsigned k = 0; k < 4; k++) {
        uint8_t *px = isec_vcs_share_sheet(g, 0, k);
        for (unsigned i = 0; i < 83 * 3; i++) px[i] = (uint8_t)((i / (k + 1)) % 3);
    }
    uint8_t *buf;
    size_t len;
    CHECK_RC(isec_sheet_write_mem(g, &buf, &len, err, sizeof err), 0);
    CHECK_RC(rd_mem(buf, len, NULL, &back, err, sizeof err), 0);
    CHECK(back && same(g, back));
    free(buf);
    isec_vcs_share_free(back);
    isec_vcs_share_sheet(g, 0, 2)[5] = 7;
    CHECK_RC(isec_sheet_write_mem(g, &buf, &len, err, sizeof err), 0);
    CHECK_RC(rd_mem(buf, len, NULL, &back, err, sizeof err), 0);
    CHECK(back && isec_vcs_share_sheet_const(back, 0, 2)[5] == ISEC_VCS_PX_T &&
          isec_vcs_share_sheet_const(back, 0, 2)[6] == isec_vcs_share_sheet_const(g, 0, 2)[6]);
    free(buf);
    isec_vcs_share_free(back);
    isec_vcs_share_free(g);
    isec_vcs_share_free(a);
    isec_vcs_share_free(b);
    checks += 5;
}

/* The page bytes themselves, at widths around the vector steps of the packing (16 pixels read,
 * 64 written per step) with garbage bytes (> 2) in some rows: written uncompressed, each row
 * must equal a pixel-by-pixel reference packing (garbage as transparent), and read back it must
 * give the same pixels. */
static void test_pack_widths(void)
{
    static const uint32_t widths[] = {1, 3, 15, 16, 17, 63, 64, 65, 100, 127, 128, 129, 200, 257};
    char err[300];
    uint32_t rnd = 12345;
    CHECK_RC(isec_sheet_set_compression(ISEC_SHEET_NONE), 0);
    for (unsigned wi = 0; wi < sizeof widths / sizeof widths[0]; wi++) {
        const uint32_t w = widths[wi], h = 5;
        isec_vcs_share_info info;
        memset(&info, 0, sizeof info);
        info.layout = ISEC_VCS_LAYOUT_GRAY, info.channels = 1, info.nplanes = 1;
        info.width = w, info.height = h;
        isec_vcs_share *g = NULL, *back = NULL;
        CHECK_RC(isec_vcs_share_new(&g, &info), 0);
        if (!g) continue;
        for (unsigned k = 0; k < 4; k++) {
            uint8_t *px = isec_vcs_share_sheet(g, 0, k);
            for (uint32_t i = 0; i < w * h; i++) {
                rnd = rnd * 1103515245u + 12345u;
                px[i] = (uint8_t)((rnd >> 16) % 3);
            }
            /* garbage: row 1 at a pseudo-random column, row 3 at the last */
            rnd = rnd * 1103515245u + 12345u;
            px[w + (rnd >> 16) % w] = (uint8_t)(3 + k * 60);
            px[3 * w + w - 1] = 0xff;
        }
        uint8_t *buf;
        size_t len;
        CHECK_RC(isec_sheet_write_mem(g, &buf, &len, err, sizeof err), 0);
        mbuf m = {buf, len, 0};
        TIFF *t = TIFFClientOpen("x", "r", &m, mb_read, mb_write, mb_seek, mb_close, mb_size, NULL,
                                 NULL);
        int ok = t != NULL;
        const size_t row = ((size_t)w * 2 + 7) / 8;
        uint8_t *strip = malloc(row * h), *ref = malloc(row);
        ok &= strip && ref;
        for (unsigned k = 0; ok && k < 4; k++) {
            if (k > 0) ok &= TIFFReadDirectory(t);
            const tmsize_t want = (tmsize_t)(row * h);
            ok &= ok && TIFFReadEncodedStrip(t, 0, strip, want) == want;
            const uint8_t *px = isec_vcs_share_sheet_const(g, 0, k);
            for (uint32_t y = 0; ok && y < h; y++) {
                memset(ref, 0, row);
                for (uint32_t x = 0; x < w; x++) {
                    const uint8_t v = px[(size_t)y * w + x];
                    const unsigned code = v == ISEC_VCS_PX_W ? 3u : v == ISEC_VCS_PX_K ? 1u : 2u;
                    ref[x / 4] |= (uint8_t)(code << (6 - 2 * (x % 4)));
                }
                ok &= !memcmp(ref, strip + y * row, row);
            }
        }
        if (t) TIFFClose(t);
        CHECK(ok);
        CHECK_RC(rd_mem(buf, len, NULL, &back, err, sizeof err), 0);
        int same_px = back != NULL;
        for (unsigned k = 0; same_px && k < 4; k++) {
            const uint8_t *px = isec_vcs_share_sheet_const(g, 0, k);
            const uint8_t *bk = isec_vcs_share_sheet_const(back, 0, k);
            for (uint32_t i = 0; i < w * h; i++)
                same_px &= bk[i] == (px[i] > ISEC_VCS_PX_K ? ISEC_VCS_PX_T : px[i]);
        }
        CHECK(same_px);
        free(strip);
        free(ref);
        free(buf);
        isec_vcs_share_free(back);
        isec_vcs_share_free(g);
        checks += 2;
    }
    CHECK_RC(isec_sheet_set_compression(ISEC_SHEET_ZSTD), 0);
}

/* Sheet memory of a freed large share is reused (share.c keeps two mappings); a new share is
 * all transparent (0) whatever the last one held, at the same size and at other sizes. */
static void test_reuse(void)
{
    isec_vcs_share_info info;
    memset(&info, 0, sizeof info);
    info.width = 512;
    info.height = 512;
    info.layout = ISEC_VCS_LAYOUT_PLANES;
    info.channels = 3;
    info.nplanes = 24;
    for (unsigned round = 0; round < 3; round++) {
        info.height = round == 2 ? 300 : 512;
        isec_vcs_share *s[3] = {NULL, NULL, NULL};
        for (unsigned k = 0; k < 3; k++) {
            info.participant = k & 1;
            CHECK_RC(isec_vcs_share_new(&s[k], &info), 0);
        }
        int zero = 1;
        for (unsigned k = 0; k < 3; k++)
            for (unsigned pl = 0; s[k] && pl < info.nplanes; pl++)
                for (unsigned sh = 0; sh < ISEC_VCS_SHEETS; sh++) {
                    uint8_t *px = isec_vcs_share_sheet(s[k], pl, sh);
                    for (size_t i = 0; i < (size_t)info.width * info.height; i++) zero &= px[i] == 0;
                    memset(px, ISEC_VCS_PX_W, (size_t)info.width * info.height);
                }
        CHECK(zero);
        for (unsigned k = 0; k < 3; k++) isec_vcs_share_free(s[k]);
        checks += 4;
    }
}

int main(int argc, char **argv)
{
    const char *t = argc > 1 ? argv[1] : "";
    if (!strcmp(t, "roundtrip") && argc > 2) test_roundtrip(argv[2]);
    else if (!strcmp(t, "bad")) {
        test_bad();
        test_reuse();
    }
    else if (!strcmp(t, "format")) {
        test_format();
        test_pack_widths();
        test_noncanonical();
    }
    else if (!strcmp(t, "regress") && argc > 2) test_regress(argv[2]);
    else {
        fprintf(stderr, "usage: test_vcs_tiff roundtrip TMPDIR | bad | format | regress DIR\n");
        return 2;
    }
    return tu_finish(t, checks);
}

/* jpegforge: makes the corpus files that no Debian tool writes (scripts/make-jpeg-corpus builds
 * and runs it; not part of the library or the tests).
 *
 *   jpegforge cmyk|ycck IN.ppm OUT.jpg [QUALITY]  4-component Adobe JPEG (CMYK = inverted RGB)
 *   jpegforge lossless IN.pgm OUT.jpg             lossless JPEG (SOF3, predictor 1), 8-bit gray
 *   jpegforge to12 IN.jpg OUT.jpg                 12-bit file with the same picture: every
 *                                                 quantizer times 16 (16-bit DQT), P=12, SOF0->SOF1;
 *                                                 the entropy-coded data is unchanged
 *   jpegforge mpf PRIMARY SECOND OUT [II|MM]      APP2 "MPF" index (after SOI and APP0/APP1)
 *                                                 pointing at SECOND, appended after EOI
 *   jpegforge fill IN OUT [all]                   three 0xFF fill bytes before every marker after
 *                                                 SOI; with "all" also before RSTn and EOI
 *   jpegforge oversub IN OUT                      first DHT table made oversubscribed (three
 *                                                 1-bit codes), symbol count unchanged
 *   jpegforge sof-h0 IN OUT                       height 0 in SOF (and no DNL)
 *   jpegforge markers IN                          one line per marker: offset, hex marker, length
 * Exit status 0 on success, 1 on any error (with a message on stderr).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>

static void die(const char *msg, const char *arg)
{
    fprintf(stderr, "jpegforge: %s%s%s\n", msg, arg ? ": " : "", arg ? arg : "");
    exit(1);
}

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) die("cannot open", path);
    size_t cap = 1 << 16, n = 0;
    uint8_t *b = malloc(cap);
    for (;;) {
        if (!b) die("out of memory", NULL);
        n += fread(b + n, 1, cap - n, f);
        if (n < cap) break;
        b = realloc(b, cap *= 2);
    }
    fclose(f);
    *len = n;
    return b;
}

static void spit(const char *path, const uint8_t *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(b, 1, n, f) != n || fclose(f) != 0) die("cannot write", path);
}

static unsigned be16(const uint8_t *p)
{
    return (unsigned)(p[0] << 8 | p[1]);
}

static void put16(uint8_t *p, unsigned v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v, int le)
{
    for (int i = 0; i < 4; i++)
        p[le ? i : 3 - i] = (uint8_t)(v >> (8 * i));
}

static void put16e(uint8_t *p, unsigned v, int le)
{
    p[le ? 0 : 1] = (uint8_t)v;
    p[le ? 1 : 0] = (uint8_t)(v >> 8);
}

/* Binary PGM (P5) or PPM (P6), maxval 255. */
static uint8_t *read_pnm(const char *path, int *w, int *h, int *nc)
{
    size_t len;
    uint8_t *b = slurp(path, &len);
    size_t i = 2;
    unsigned v[3];
    if (len < 2 || b[0] != 'P' || (b[1] != '5' && b[1] != '6')) die("not a binary PGM/PPM", path);
    for (int k = 0; k < 3; k++) {
        while (i < len && (b[i] == ' ' || b[i] == '\n' || b[i] == '\r' || b[i] == '\t' || b[i] == '#')) {
            if (b[i] == '#')
                while (i < len && b[i] != '\n') i++;
            else
                i++;
        }
        v[k] = 0;
        while (i < len && b[i] >= '0' && b[i] <= '9') v[k] = v[k] * 10 + (unsigned)(b[i++] - '0');
    }
    i++;
    *w = (int)v[0];
    *h = (int)v[1];
    *nc = b[1] == '5' ? 1 : 3;
    if (v[2] != 255 || (size_t)*w * (size_t)*h * (size_t)*nc > len - i) die("unsupported PNM", path);
    uint8_t *px = malloc((size_t)*w * (size_t)*h * (size_t)*nc);
    if (!px) die("out of memory", NULL);
    memcpy(px, b + i, (size_t)*w * (size_t)*h * (size_t)*nc);
    free(b);
    return px;
}

static int cmd_cmyk(const char *in, const char *out, int ycck, int quality)
{
    int w, h, nc;
    uint8_t *px = read_pnm(in, &w, &h, &nc);
    if (nc != 3) die("cmyk needs a PPM", in);
    FILE *f = fopen(out, "wb");
    if (!f) die("cannot write", out);
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr e;
    c.err = jpeg_std_error(&e);
    jpeg_create_compress(&c);
    jpeg_stdio_dest(&c, f);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = 4;
    c.in_color_space = JCS_CMYK;
    jpeg_set_defaults(&c);
    jpeg_set_colorspace(&c, ycck ? JCS_YCCK : JCS_CMYK);
    jpeg_set_quality(&c, quality, TRUE);
    jpeg_start_compress(&c, TRUE);
    uint8_t *row = malloc((size_t)w * 4);
    if (!row) die("out of memory", NULL);
    while (c.next_scanline < c.image_height) {
        const uint8_t *s = px + (size_t)c.next_scanline * (size_t)w * 3;
        for (int x = 0; x < w; x++) {
            int r = s[3 * x], g = s[3 * x + 1], b = s[3 * x + 2];
            int k = 255 - (r > g ? (r > b ? r : b) : (g > b ? g : b));
            /* Adobe CMYK is stored inverted: 255 means no ink */
            row[4 * x] = (uint8_t)(r + k);
            row[4 * x + 1] = (uint8_t)(g + k);
            row[4 * x + 2] = (uint8_t)(b + k);
            row[4 * x + 3] = (uint8_t)(255 - k);
        }
        JSAMPROW rp = row;
        jpeg_write_scanlines(&c, &rp, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    fclose(f);
    free(row);
    free(px);
    return 0;
}

/* Bit writer with byte stuffing, for the lossless encoder. */
struct bw {
    uint8_t *b;
    size_t n, cap;
    uint32_t acc;
    int nbits;
};

static void bw_byte(struct bw *w, uint8_t v)
{
    if (w->n + 2 > w->cap) {
        w->cap = w->cap ? 2 * w->cap : 4096;
        w->b = realloc(w->b, w->cap);
        if (!w->b) die("out of memory", NULL);
    }
    w->b[w->n++] = v;
    if (v == 0xFF) w->b[w->n++] = 0;
}

static void bw_put(struct bw *w, uint32_t v, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        w->acc = w->acc << 1 | ((v >> i) & 1);
        if (++w->nbits == 8) {
            bw_byte(w, (uint8_t)w->acc);
            w->acc = 0;
            w->nbits = 0;
        }
    }
}

static void bw_flush(struct bw *w)
{
    while (w->nbits) bw_put(w, 1, 1);
}

static int cmd_lossless(const char *in, const char *out)
{
    /* The standard luminance DC table (K.3) covers categories 0..11; 8-bit differences need <= 9. */
    static const uint8_t bits[16] = {0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0};
    static const uint8_t vals[12] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
    uint16_t code[12];
    uint8_t size[12];
    int w, h, nc;
    uint8_t *px = read_pnm(in, &w, &h, &nc);
    if (nc != 1) die("lossless needs a PGM", in);
    unsigned c = 0;
    int k = 0;
    for (int l = 1; l <= 16; l++, c <<= 1)
        for (int j = 0; j < bits[l - 1]; j++, k++) {
            code[vals[k]] = (uint16_t)c++;
            size[vals[k]] = (uint8_t)l;
        }
    struct bw bw = {0};
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int pred = y == 0 && x == 0 ? 128 : x == 0 ? px[(size_t)(y - 1) * (size_t)w] : px[(size_t)y * (size_t)w + (size_t)x - 1];
            int d = px[(size_t)y * (size_t)w + (size_t)x] - pred;
            int a = d < 0 ? -d : d, s = 0;
            while (a) {
                s++;
                a >>= 1;
            }
            bw_put(&bw, code[s], size[s]);
            if (s) bw_put(&bw, (uint32_t)(d < 0 ? d - 1 : d) & ((1u << s) - 1), s);
        }
    bw_flush(&bw);
    FILE *f = fopen(out, "wb");
    if (!f) die("cannot write", out);
    uint8_t hdr[2 + 13 + 2 + 2 + 1 + 16 + 12 + 10];
    size_t n = 0;
    hdr[n++] = 0xFF, hdr[n++] = 0xD8;
    hdr[n++] = 0xFF, hdr[n++] = 0xC3, put16(hdr + n, 11), n += 2;
    hdr[n++] = 8, put16(hdr + n, (unsigned)h), n += 2, put16(hdr + n, (unsigned)w), n += 2;
    hdr[n++] = 1, hdr[n++] = 1, hdr[n++] = 0x11, hdr[n++] = 0;
    hdr[n++] = 0xFF, hdr[n++] = 0xC4, put16(hdr + n, 2 + 1 + 16 + 12), n += 2, hdr[n++] = 0;
    memcpy(hdr + n, bits, 16), n += 16;
    memcpy(hdr + n, vals, 12), n += 12;
    /* SOS: 1 component, Ss = predictor 1, Se = 0, Ah = 0, Al (point transform) = 0 */
    hdr[n++] = 0xFF, hdr[n++] = 0xDA, put16(hdr + n, 8), n += 2;
    hdr[n++] = 1, hdr[n++] = 1, hdr[n++] = 0, hdr[n++] = 1, hdr[n++] = 0, hdr[n++] = 0;
    static const uint8_t eoi[2] = {0xFF, 0xD9};
    if (fwrite(hdr, 1, n, f) != n || fwrite(bw.b, 1, bw.n, f) != bw.n || fwrite(eoi, 1, 2, f) != 2 ||
        fclose(f) != 0)
        die("cannot write", out);
    free(bw.b);
    free(px);
    return 0;
}

/* Calls fn(buf, off, marker, seglen) for each marker; seglen 0 for markers without a segment.
 * Inside entropy-coded data it reports RSTn and the marker that ends the scan. */
typedef void (*marker_fn)(void *ctx, size_t off, unsigned m, size_t seglen);

static void walk_markers(const uint8_t *b, size_t n, marker_fn fn, void *ctx)
{
    size_t i = 0;
    int in_scan = 0;
    while (i + 1 < n) {
        if (b[i] != 0xFF) {
            if (!in_scan) return; /* junk between segments: stop */
            i++;
            continue;
        }
        unsigned m = b[i + 1];
        if (m == 0xFF) {
            i++;
            continue;
        }
        if (in_scan && m == 0x00) {
            i += 2;
            continue;
        }
        if (m == 0xD8 || m == 0xD9 || m == 0x01 || (m >= 0xD0 && m <= 0xD7)) {
            fn(ctx, i, m, 0);
            i += 2;
            if (m == 0xD9) return;
            continue;
        }
        if (i + 3 >= n) return;
        size_t len = be16(b + i + 2);
        fn(ctx, i, m, len);
        i += 2 + len;
        in_scan = m == 0xDA;
    }
}

static void print_marker(void *ctx, size_t off, unsigned m, size_t seglen)
{
    (void)ctx;
    printf("%zu FF%02X %zu\n", off, m, seglen);
}

struct offs {
    size_t off[65536];
    unsigned m[65536];
    size_t n;
};

static void collect(void *ctx, size_t off, unsigned m, size_t seglen)
{
    struct offs *o = ctx;
    (void)seglen;
    if (o->n < 65536) {
        o->off[o->n] = off;
        o->m[o->n++] = m;
    }
}

static int cmd_fill(const char *in, const char *out, int all)
{
    size_t n;
    uint8_t *b = slurp(in, &n);
    struct offs *o = calloc(1, sizeof *o);
    if (!o) die("out of memory", NULL);
    walk_markers(b, n, collect, o);
    uint8_t *r = malloc(n + 3 * o->n + 3);
    if (!r) die("out of memory", NULL);
    size_t pos = 0, rn = 0;
    int in_scan = 0;
    for (size_t k = 0; k < o->n; k++) {
        unsigned m = o->m[k];
        memcpy(r + rn, b + pos, o->off[k] - pos);
        rn += o->off[k] - pos;
        pos = o->off[k];
        int entropy = in_scan && (m == 0xD9 || (m >= 0xD0 && m <= 0xD7));
        if (m != 0xD8 && (!entropy || all)) {
            memset(r + rn, 0xFF, 3);
            rn += 3;
        }
        if (m == 0xDA) in_scan = 1;
        else if (!(m >= 0xD0 && m <= 0xD7)) in_scan = 0;
    }
    memcpy(r + rn, b + pos, n - pos);
    rn += n - pos;
    spit(out, r, rn);
    free(r);
    free(o);
    free(b);
    return 0;
}

/* Finds the first segment with marker m; returns its offset or (size_t)-1. */
struct find {
    unsigned want;
    size_t at, len;
};

static void find_first(void *ctx, size_t off, unsigned m, size_t seglen)
{
    struct find *f = ctx;
    if (f->at == (size_t)-1 && m == f->want) {
        f->at = off;
        f->len = seglen;
    }
}

static size_t find_seg(const uint8_t *b, size_t n, unsigned m, size_t *len)
{
    struct find f = {m, (size_t)-1, 0};
    walk_markers(b, n, find_first, &f);
    *len = f.len;
    return f.at;
}

static int cmd_oversub(const char *in, const char *out)
{
    size_t n, len;
    uint8_t *b = slurp(in, &n);
    size_t at = find_seg(b, n, 0xC4, &len);
    if (at == (size_t)-1 || len < 2 + 17) die("no DHT", in);
    uint8_t *cnt = b + at + 5; /* after FFC4, length, Tc/Th */
    int big = 1;
    for (int l = 1; l < 16; l++)
        if (cnt[l] > cnt[big]) big = l;
    int need = 3 - cnt[0];
    if (need <= 0 || cnt[big] < need) die("cannot make this table oversubscribed", in);
    cnt[0] = 3;
    cnt[big] = (uint8_t)(cnt[big] - need);
    spit(out, b, n);
    free(b);
    return 0;
}

static int cmd_sof_h0(const char *in, const char *out)
{
    size_t n, len;
    uint8_t *b = slurp(in, &n);
    size_t at = (size_t)-1;
    for (unsigned m = 0xC0; m <= 0xC2 && at == (size_t)-1; m++) at = find_seg(b, n, m, &len);
    if (at == (size_t)-1) die("no SOF0/1/2", in);
    put16(b + at + 5, 0);
    spit(out, b, n);
    free(b);
    return 0;
}

static int cmd_to12(const char *in, const char *out)
{
    size_t n;
    uint8_t *b = slurp(in, &n);
    uint8_t *r = malloc(2 * n);
    if (!r) die("out of memory", NULL);
    size_t i = 2, rn = 2;
    memcpy(r, b, 2);
    while (i + 4 <= n) {
        if (b[i] != 0xFF) die("unexpected bytes between segments", in);
        unsigned m = b[i + 1];
        size_t len = be16(b + i + 2);
        if (m == 0xDA) break; /* the rest, entropy data included, is copied unchanged */
        if (m == 0xDB) {
            size_t p = i + 4, q = rn + 4;
            r[rn] = 0xFF, r[rn + 1] = 0xDB;
            while (p < i + 2 + len) {
                int pq = b[p] >> 4;
                r[q++] = (uint8_t)(0x10 | (b[p] & 15));
                p++;
                for (int k = 0; k < 64; k++) {
                    unsigned v = pq ? be16(b + p + 2 * k) : b[p + (size_t)k];
                    if (v * 16 > 65535) die("quantizer too large for 12-bit", in);
                    put16(r + q, v * 16);
                    q += 2;
                }
                p += pq ? 128 : 64;
            }
            put16(r + rn + 2, (unsigned)(q - rn - 2));
            rn = q;
        } else {
            memcpy(r + rn, b + i, 2 + len);
            if (m == 0xC0 || m == 0xC1 || m == 0xC2) {
                if (m == 0xC0) r[rn + 1] = 0xC1;
                r[rn + 4] = 12;
            }
            rn += 2 + len;
        }
        i += 2 + len;
    }
    memcpy(r + rn, b + i, n - i);
    rn += n - i;
    spit(out, r, rn);
    free(r);
    free(b);
    return 0;
}

static int cmd_mpf(const char *pin, const char *sin, const char *out, int le)
{
    size_t pn, sn;
    uint8_t *p = slurp(pin, &pn), *s = slurp(sin, &sn);
    /* insert after SOI and any APP0/APP1 segments, where cameras put it */
    size_t at = 2;
    while (at + 4 <= pn && p[at] == 0xFF && (p[at + 1] == 0xE0 || p[at + 1] == 0xE1))
        at += 2 + be16(p + at + 2);
    enum { SEG = 4 + 4 + 8 + 2 + 3 * 12 + 4 + 32 };
    uint8_t seg[SEG] = {0}, *t = seg + 8;
    seg[0] = 0xFF;
    seg[1] = 0xE2;
    put16(seg + 2, SEG - 2);
    memcpy(seg + 4, "MPF", 4);
    memcpy(t, le ? "II\x2a\0" : "MM\0\x2a", 4);
    put32(t + 4, 8, le);
    uint8_t *ifd = t + 8;
    put16e(ifd, 3, le);
    put16e(ifd + 2, 0xB000, le); /* MPFVersion, UNDEFINED[4] "0100" */
    put16e(ifd + 4, 7, le);
    put32(ifd + 6, 4, le);
    memcpy(ifd + 10, "0100", 4);
    put16e(ifd + 14, 0xB001, le); /* NumberOfImages, LONG */
    put16e(ifd + 16, 4, le);
    put32(ifd + 18, 1, le);
    put32(ifd + 22, 2, le);
    uint32_t entoff = 8 + 2 + 36 + 4;
    put16e(ifd + 26, 0xB002, le); /* MPEntry, UNDEFINED[16 * count] */
    put16e(ifd + 28, 7, le);
    put32(ifd + 30, 32, le);
    put32(ifd + 34, entoff, le);
    put32(ifd + 38, 0, le);
    size_t primary = pn + SEG, tiff_abs = at + 8;
    uint8_t *e = t + entoff;
    put32(e, 0x20030000, le); /* representative image, baseline primary */
    put32(e + 4, (uint32_t)primary, le);
    put32(e + 8, 0, le);
    put32(e + 16, 0x00010001, le); /* large thumbnail (VGA class) */
    put32(e + 20, (uint32_t)sn, le);
    put32(e + 24, (uint32_t)(primary - tiff_abs), le);
    uint8_t *r = malloc(primary + sn);
    if (!r) die("out of memory", NULL);
    memcpy(r, p, at);
    memcpy(r + at, seg, SEG);
    memcpy(r + at + SEG, p + at, pn - at);
    memcpy(r + primary, s, sn);
    spit(out, r, primary + sn);
    free(r);
    free(p);
    free(s);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) die("usage: see the comment at the top of tests/jpeg/tools/jpegforge.c", NULL);
    const char *cmd = argv[1];
    if ((!strcmp(cmd, "cmyk") || !strcmp(cmd, "ycck")) && argc >= 4)
        return cmd_cmyk(argv[2], argv[3], cmd[0] == 'y', argc > 4 ? atoi(argv[4]) : 85);
    if (!strcmp(cmd, "lossless") && argc == 4) return cmd_lossless(argv[2], argv[3]);
    if (!strcmp(cmd, "to12") && argc == 4) return cmd_to12(argv[2], argv[3]);
    if (!strcmp(cmd, "mpf") && argc >= 5)
        return cmd_mpf(argv[2], argv[3], argv[4], argc > 5 && !strcmp(argv[5], "II"));
    if (!strcmp(cmd, "fill") && argc >= 4)
        return cmd_fill(argv[2], argv[3], argc > 4 && !strcmp(argv[4], "all"));
    if (!strcmp(cmd, "oversub") && argc == 4) return cmd_oversub(argv[2], argv[3]);
    if (!strcmp(cmd, "sof-h0") && argc == 4) return cmd_sof_h0(argv[2], argv[3]);
    if (!strcmp(cmd, "markers") && argc == 3) {
        size_t n;
        uint8_t *b = slurp(argv[2], &n);
        walk_markers(b, n, print_marker, NULL);
        free(b);
        return 0;
    }
    die("unknown command or wrong arguments", cmd);
    return 1;
}

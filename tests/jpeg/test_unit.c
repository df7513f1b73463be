/* The JPEG cipher on JPEGs of every kind made here with libjpeg-turbo: size, stuffing and
 * markers unchanged, round trip exact, ciphertext decodes without new warnings and looks like
 * noise, deterministic, key- and content-dependent keystream, clean refusals. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imgsec/jpeg.h"
#include "jpegtool.h"
#include "testutil.h"

static isec_key *key1, *key2;
static int cases;

static uint8_t *crypt(int mode, const isec_key *k, const uint8_t *in, size_t len, int *rc,
                      char *detail)
{
    uint8_t *out = malloc(len ? len : 1);
    *rc = isec_jpeg_crypt(mode, k, in, len, out, detail, 256);
    return out;
}

/* Every FSP invariant on one file; thumb_off/second_off > 0 name embedded JPEGs to check too. */
static void check_file(const char *name, const uint8_t *pt, size_t len, size_t thumb_off,
                       size_t thumb_len, size_t second_off)
{
    int rc;
    char detail[256] = "";
    cases++;
    uint8_t *copy = malloc(len);
    memcpy(copy, pt, len);
    uint8_t *ct = crypt(ISEC_JPEG_ENCRYPT, key1, pt, len, &rc, detail);
    if (rc != 0) {
        fprintf(stderr, "%s: encrypt failed: %s (%s)\n", name, detail, isec_strerror(rc));
        tu_failures++;
        free(ct);
        free(copy);
        return;
    }
    CHECK(memcmp(copy, pt, len) == 0); /* input untouched */
    size_t changed = 0;
    for (size_t i = 0; i < len; i++) {
        changed += ct[i] != pt[i];
        if ((ct[i] == 0xFF) != (pt[i] == 0xFF)) {
            fprintf(stderr, "%s: byte %zu: 0xFF created or destroyed\n", name, i);
            tu_failures++;
            break;
        }
        if (i && pt[i - 1] == 0xFF && ct[i] != pt[i]) {
            fprintf(stderr, "%s: byte %zu after 0xFF changed\n", name, i);
            tu_failures++;
            break;
        }
    }
    CHECK(changed > len / 20);
    uint8_t *back = crypt(ISEC_JPEG_DECRYPT, key1, ct, len, &rc, detail);
    CHECK_RC(rc, 0);
    CHECK(memcmp(back, pt, len) == 0);
    uint8_t *again = crypt(ISEC_JPEG_ENCRYPT, key1, pt, len, &rc, detail);
    CHECK(rc == 0 && memcmp(again, ct, len) == 0); /* deterministic */
    uint8_t *other = crypt(ISEC_JPEG_ENCRYPT, key2, pt, len, &rc, detail);
    CHECK(rc == 0 && memcmp(other, ct, len) != 0);
    uint8_t *wrong = crypt(ISEC_JPEG_DECRYPT, key2, ct, len, &rc, detail);
    CHECK(rc == 0 && memcmp(wrong, pt, len) != 0);

    jt_image a = jt_decode(pt, len), b = jt_decode(ct, len), w = jt_decode(wrong, len);
    CHECK(a.ok && b.ok && w.ok);
    CHECK(b.warnings <= a.warnings);
    double p = jt_psnr(&a, &b), pw = jt_psnr(&a, &w);
    if (!(p >= 0 && p < 20) || !(pw >= 0 && pw < 20)) {
        fprintf(stderr, "%s: PSNR(plain, cipher) = %.2f dB, wrong key %.2f dB: want < 20\n", name,
                p, pw);
        tu_failures++;
    }
    if (thumb_off) {
        jt_image ta = jt_decode(pt + thumb_off, thumb_len), tb = jt_decode(ct + thumb_off, thumb_len);
        double tp = jt_psnr(&ta, &tb);
        CHECK(ta.ok && tb.ok && tb.warnings <= ta.warnings);
        if (!(tp >= 0 && tp < 20)) {
            fprintf(stderr, "%s: thumbnail PSNR %.2f dB, want < 20\n", name, tp);
            tu_failures++;
        }
        jt_free(&ta);
        jt_free(&tb);
    }
    if (second_off) {
        jt_image sa = jt_decode(pt + second_off, len - second_off);
        jt_image sb = jt_decode(ct + second_off, len - second_off);
        double sp = jt_psnr(&sa, &sb);
        CHECK(sa.ok && sb.ok);
        if (!(sp >= 0 && sp < 20)) {
            fprintf(stderr, "%s: MPF image PSNR %.2f dB, want < 20\n", name, sp);
            tu_failures++;
        }
        jt_free(&sa);
        jt_free(&sb);
    }
    printf("%-28s %7zu bytes, %5.1f%% bytes changed, PSNR %.2f dB\n", name, len,
           100.0 * (double)changed / (double)len, p);
    jt_free(&a);
    jt_free(&b);
    jt_free(&w);
    free(ct);
    free(back);
    free(again);
    free(other);
    free(wrong);
    free(copy);
}

static void make_and_check(const char *name, jt_params p)
{
    size_t len;
    uint8_t *j = jt_make(&p, &len);
    CHECK(j != NULL);
    if (j) check_file(name, j, len, 0, 0, 0);
    free(j);
}

static void expect_error(const char *name, const uint8_t *buf, size_t len, int want)
{
    int rc;
    char detail[256] = "";
    cases++;
    uint8_t *out = crypt(ISEC_JPEG_ENCRYPT, key1, buf, len, &rc, detail);
    if (rc != want || !strstr(detail, "offset ")) {
        fprintf(stderr, "%s: got %s '%s', want %s with an offset\n", name, isec_err_name(rc),
                detail, isec_err_name(want));
        tu_failures++;
    }
    free(out);
}

static void test_kinds(void)
{
    jt_params base = {.width = 320, .height = 240, .ncomp = 3, .quality = 85, .seed = 1};
    jt_params p;
    make_and_check("baseline 4:2:0", base);
    p = base; p.h0 = 1; p.v0 = 1; make_and_check("baseline 4:4:4", p);
    p = base; p.h0 = 2; p.v0 = 1; make_and_check("baseline 4:2:2", p);
    p = base; p.h0 = 1; p.v0 = 2; make_and_check("baseline 4:4:0", p);
    p = base; p.h0 = 4; p.v0 = 1; make_and_check("baseline 4:1:1", p);
    p = base; p.width = 333; p.height = 251; make_and_check("odd size 333x251", p);
    p = base; p.width = 17; p.height = 9; make_and_check("tiny 17x9", p);
    p = base; p.quality = 95; p.optimize = 1; make_and_check("optimized Q95", p);
    p = base; p.quality = 30; make_and_check("Q30", p);
    p = base; p.ncomp = 1; make_and_check("grayscale", p);
    p = base; p.rgb = 1; make_and_check("RGB", p);
    p = base; p.ncomp = 4; make_and_check("CMYK", p);
    p = base; p.ncomp = 4; p.ycck = 1; make_and_check("YCCK", p);
    p = base; p.progressive = 1; make_and_check("progressive", p);
    p = base; p.progressive = 1; p.ncomp = 1; make_and_check("progressive gray", p);
    p = base; p.progressive = 1; p.h0 = 1; p.v0 = 1; p.width = 301; make_and_check("progressive 4:4:4 odd", p);
    p = base; p.restart_mcus = 1; make_and_check("restart every MCU", p);
    p = base; p.restart_mcus = 7; make_and_check("restart every 7 MCUs", p);
    p = base; p.restart_rows = 1; p.progressive = 1; make_and_check("progressive + restart", p);
    p = base; p.width = 2000; p.height = 1500; p.quality = 92; make_and_check("3 MP (many chunks)", p);
    p = base; p.width = 1200; p.height = 900; p.progressive = 1; p.quality = 95; make_and_check("progressive 1 MP", p);
}

static void test_embedded(void)
{
    jt_params tp = {.width = 160, .height = 120, .ncomp = 3, .quality = 75, .seed = 3};
    jt_params mp = {.width = 640, .height = 480, .ncomp = 3, .quality = 85, .seed = 4};
    size_t tlen, mlen, slen, n, seglen, second;
    uint8_t *thumb = jt_make(&tp, &tlen), *main_ = jt_make(&mp, &mlen);
    uint8_t *app1 = jt_exif_app1(thumb, tlen, &seglen);
    uint8_t *withthumb = jt_insert_after_soi(main_, mlen, app1, seglen, &n);
    size_t thumb_off = 2 + seglen - tlen;
    CHECK(!memcmp(withthumb + thumb_off, thumb, tlen));
    check_file("Exif thumbnail", withthumb, n, thumb_off, tlen, 0);

    isec_jpeg *c;
    CHECK_RC(isec_jpeg_new(&c, ISEC_JPEG_ANALYZE, NULL), 0);
    uint8_t *out = malloc(isec_jpeg_update_bound(n));
    size_t got, fin;
    CHECK_RC(isec_jpeg_update(c, withthumb, n, out, isec_jpeg_update_bound(n), &got), 0);
    CHECK_RC(isec_jpeg_final(c, out + got, isec_jpeg_final_bound(), &fin), 0);
    CHECK(got + fin == n && !memcmp(out, withthumb, n)); /* analyze changes nothing */
    const isec_jpeg_info *inf = isec_jpeg_get_info(c);
    CHECK(inf->nembedded == 1 && inf->embedded[0].kind == ISEC_JPEG_EMBED_EXIF_THUMBNAIL &&
          inf->embedded[0].offset == thumb_off && inf->embedded[0].width == 160);
    CHECK(inf->eligible_bits > 0 && inf->width == 640 && inf->exif);
    isec_jpeg_free(c);
    free(out);

    /* an IFD1 thumbnail offset pointing back into the IFDs is refused: enciphering it would
     * change the bytes that located it */
    uint8_t *evil = malloc(n);
    memcpy(evil, withthumb, n);
    size_t ifd1 = 2 + 10 + 26; /* SOI, APP1 header + "Exif\0\0", TIFF offset of IFD1 */
    evil[ifd1 + 22] = 0;
    evil[ifd1 + 23] = 0;
    evil[ifd1 + 24] = 0;
    evil[ifd1 + 25] = 8; /* JPEGInterchangeFormat = 8: IFD0 itself */
    expect_error("thumbnail overlapping IFDs", evil, n, ISEC_EFORMAT);
    free(evil);

    tp.width = 480;
    tp.height = 360;
    uint8_t *sec = jt_make(&tp, &slen);
    uint8_t *mpf = jt_mpf(main_, mlen, sec, slen, &n, &second);
    check_file("MPF secondary image", mpf, n, 0, 0, second);
    /* data after EOI that is no MPF image is copied as it is */
    uint8_t *tail = malloc(mlen + 100);
    memcpy(tail, main_, mlen);
    for (int i = 0; i < 100; i++) tail[mlen + (size_t)i] = (uint8_t)(i * 37);
    int rc;
    char detail[256];
    uint8_t *ct = crypt(ISEC_JPEG_ENCRYPT, key1, tail, mlen + 100, &rc, detail);
    CHECK(rc == 0 && !memcmp(ct + mlen, tail + mlen, 100));
    cases++;
    free(ct);
    /* an MPF index pointing past the end of the file is refused */
    expect_error("MPF image missing", mpf, second + 10, ISEC_ETRUNC);
    free(tail);
    free(sec);
    free(mpf);
    free(thumb);
    free(main_);
    free(app1);
    free(withthumb);
}

static void test_damage(void)
{
    jt_params p = {.width = 128, .height = 96, .ncomp = 3, .quality = 80, .seed = 5, .restart_mcus = 3};
    size_t len;
    uint8_t *j = jt_make(&p, &len);
    /* fill bytes before markers (between segments and before EOI) change nothing */
    uint8_t *fill = malloc(len + 8);
    memcpy(fill, j, 2);
    memcpy(fill + 2, "\xFF\xFF\xFF", 3);
    memcpy(fill + 5, j + 2, len - 4);
    memcpy(fill + 5 + len - 4, "\xFF\xFF\xFF\xD9", 4);
    size_t flen = len + 5;
    check_file("fill bytes", fill, flen, 0, 0, 0);
    /* Ss/Se/Ah/Al of a sequential scan set to zero, as some encoders (a DICOM test file) do:
     * decoders ignore them, and so does the walker */
    uint8_t *zeroed = malloc(len);
    memcpy(zeroed, j, len);
    for (size_t q = 2; q + 4 < len; q++)
        if (zeroed[q] == 0xFF && zeroed[q + 1] == 0xDA) {
            size_t sl = (size_t)(zeroed[q + 2] << 8 | zeroed[q + 3]);
            memset(zeroed + q + 2 + sl - 3, 0, 3);
            break;
        }
    check_file("sequential Ss=Se=0", zeroed, len, 0, 0, 0);
    free(zeroed);
    /* missing EOI is accepted when the scan is complete */
    check_file("missing EOI", j, len - 2, 0, 0, 0);
    /* truncated inside the scan */
    expect_error("truncated scan", j, len / 2, ISEC_ETRUNC);
    expect_error("truncated header", j, 40, ISEC_ETRUNC);
    expect_error("empty", j, 0, ISEC_ETRUNC);
    expect_error("not a JPEG", (const uint8_t *)"GIF89a......", 12, ISEC_EFORMAT);
    /* segment length running into the next marker: refused, never resynchronised */
    uint8_t *bad = malloc(len);
    memcpy(bad, j, len);
    size_t i = 2;
    while (i + 4 < len && !(bad[i] == 0xFF && bad[i + 1] == 0xDB)) i++;
    bad[i + 3] = (uint8_t)(bad[i + 3] + 7);
    expect_error("DQT length wrong", bad, len, ISEC_EFORMAT);
    /* oversubscribed Huffman table */
    memcpy(bad, j, len);
    for (i = 2; i + 4 < len && !(bad[i] == 0xFF && bad[i + 1] == 0xC4); i++) {
    }
    bad[i + 5 + 1] = 200; /* many codes of length 2 */
    expect_error("bad DHT", bad, len, ISEC_EFORMAT);
    /* lossless, hierarchical, arithmetic, DNL: unsupported */
    static const uint8_t sofs[] = {0xC3, 0xC5, 0xC9};
    for (size_t s = 0; s < sizeof sofs; s++) {
        memcpy(bad, j, len);
        for (i = 2; i + 4 < len && !(bad[i] == 0xFF && bad[i + 1] == 0xC0); i++) {
        }
        bad[i + 1] = sofs[s];
        expect_error("unsupported SOF", bad, len, ISEC_EUNSUPPORTED);
    }
    memcpy(bad, j, len);
    for (i = 2; i + 4 < len && !(bad[i] == 0xFF && bad[i + 1] == 0xC0); i++) {
    }
    bad[i + 5] = bad[i + 6] = 0; /* height 0: given by DNL */
    expect_error("DNL height", bad, len, ISEC_EUNSUPPORTED);
    /* an RST marker out of sequence */
    memcpy(bad, j, len);
    for (i = len - 1; i > 2 && !(bad[i - 1] == 0xFF && bad[i] >= 0xD0 && bad[i] <= 0xD7); i--) {
    }
    bad[i] = (uint8_t)(0xD0 | ((bad[i] + 3) & 7));
    expect_error("RST out of sequence", bad, len, ISEC_EFORMAT);
    jt_params ap = p;
    ap.arithmetic = 1;
    size_t alen;
    uint8_t *arith = jt_make(&ap, &alen);
    CHECK(arith != NULL);
    if (arith) expect_error("arithmetic (libjpeg)", arith, alen, ISEC_EUNSUPPORTED);
    free(arith);
    free(bad);
    free(fill);
    free(j);
}

/* Two photos that start alike must not share keystream: the ciphertext XOR plaintext of
 * their common prefix may match only where the content up to the chunk's end is the same. */
static void test_keystream_binding(void)
{
    jt_params a = {.width = 512, .height = 512, .ncomp = 1, .quality = 90, .seed = 7};
    jt_params b = a;
    b.seed = 8;
    size_t la, lb;
    uint8_t *ja = jt_make(&a, &la), *jb = jt_make(&b, &lb);
    int rc;
    char d[256];
    uint8_t *ca = crypt(ISEC_JPEG_ENCRYPT, key1, ja, la, &rc, d);
    uint8_t *cb = crypt(ISEC_JPEG_ENCRYPT, key1, jb, lb, &rc, d);
    /* the scans start at the same offset (same headers); compare keystream bytes there */
    size_t n = la < lb ? la : lb, same = 0, both = 0;
    for (size_t i = 700; i < n; i++) {
        uint8_t ka = ca[i] ^ ja[i], kb = cb[i] ^ jb[i];
        if (ka && kb) {
            both++;
            same += ka == kb;
        }
    }
    CHECK(both > 1000 && same < both / 10);
    cases++;
    free(ja);
    free(jb);
    free(ca);
    free(cb);
}

/* The view digest of a context after final (enc: encrypt, else decrypt with key k); rc out. */
static int view_of(int enc, const isec_key *k, const uint8_t *in, size_t len, uint8_t dg[32],
                   int before_final)
{
    isec_jpeg *c = NULL;
    int rc = isec_jpeg_new(&c, enc ? ISEC_JPEG_ENCRYPT : ISEC_JPEG_DECRYPT, k);
    if (rc < 0) return rc;
    uint8_t *out = malloc(isec_jpeg_update_bound(len));
    size_t got = 0, fin = 0;
    rc = isec_jpeg_update(c, in, len, out, isec_jpeg_update_bound(len), &got);
    if (rc == 0 && before_final) rc = isec_jpeg_view_digest(c, dg);
    else if (rc == 0) rc = isec_jpeg_final(c, out + got, ISEC_JPEG_MAX_HELD, &fin);
    if (rc == 0 && !before_final) rc = isec_jpeg_view_digest(c, dg);
    free(out);
    isec_jpeg_free(c);
    return rc;
}

/* isec_jpeg_view_digest: the same for a plaintext, its ciphertext (either key) and the decryption
 * of that; different for another photo and for a change outside value bits (a trailer byte);
 * refused before final and without a key. */
static void test_view_digest(void)
{
    jt_params a = {.width = 640, .height = 480, .ncomp = 3, .quality = 90, .seed = 3};
    jt_params b = a;
    b.seed = 4;
    size_t la, lb;
    uint8_t *ja = jt_make(&a, &la), *jb = jt_make(&b, &lb);
    int rc;
    char d[256];
    uint8_t *ca = crypt(ISEC_JPEG_ENCRYPT, key1, ja, la, &rc, d);
    CHECK_RC(rc, 0);
    uint8_t vp[32], vc[32], vd[32], v2[32], vb[32], vt[32];
    CHECK_RC(view_of(1, key1, ja, la, vp, 0), 0);
    CHECK_RC(view_of(0, key1, ca, la, vc, 0), 0);
    CHECK_RC(view_of(1, key2, ja, la, v2, 0), 0);
    CHECK_RC(view_of(1, key1, ca, la, vd, 0), 0); /* encrypting the ciphertext decrypts it */
    CHECK(!memcmp(vp, vc, 32) && !memcmp(vp, v2, 32) && !memcmp(vp, vd, 32));
    CHECK_RC(view_of(1, key1, jb, lb, vb, 0), 0);
    CHECK(memcmp(vp, vb, 32) != 0);
    /* a byte after EOI is in the view: 'A' and 'B' there give two other digests */
    uint8_t *t1 = malloc(la + 1), *t2 = malloc(la + 1);
    memcpy(t1, ja, la);
    memcpy(t2, ja, la);
    t1[la] = 'A';
    t2[la] = 'B';
    CHECK_RC(view_of(1, key1, t1, la + 1, vt, 0), 0);
    CHECK(memcmp(vt, vp, 32) != 0);
    CHECK_RC(view_of(1, key1, t2, la + 1, vb, 0), 0);
    CHECK(memcmp(vt, vb, 32) != 0);
    /* the value bits are not in it: a ciphertext is the plaintext with value bits changed */
    CHECK(memcmp(ca, ja, la) != 0);
    CHECK_RC(view_of(1, key1, ja, la, vt, 1), ISEC_ESTATE);
    isec_jpeg *c = NULL;
    CHECK_RC(isec_jpeg_new(&c, ISEC_JPEG_ANALYZE, NULL), 0);
    CHECK_RC(isec_jpeg_view_digest(c, vt), ISEC_EINVAL);
    isec_jpeg_free(c);
    cases += 2;
    free(t1);
    free(t2);
    free(ja);
    free(jb);
    free(ca);
}

static void test_keys(void)
{
    char dir[] = "/tmp/imgsec-test-XXXXXX", path[300], path2[300];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/k", dir);
    snprintf(path2, sizeof path2, "%s/p", dir);
    CHECK_RC(isec_key_create_random(path), 0);
    CHECK_RC(isec_key_create_random(path), ISEC_EEXIST);
    isec_key *k = NULL;
    char detail[200];
    CHECK_RC(isec_key_load(&k, path, NULL, 0, detail, sizeof detail), 0);
    CHECK_RC(isec_key_file_needs_passphrase(path), 0);
    CHECK_RC(isec_key_create_passphrase(path2, "correct horse", 13), 0);
    CHECK_RC(isec_key_file_needs_passphrase(path2), 1);
    isec_key *p1 = NULL, *p2 = NULL, *p3 = NULL;
    CHECK_RC(isec_key_load(&p1, path2, "correct horse", 13, detail, sizeof detail), 0);
    CHECK_RC(isec_key_load(&p2, path2, "correct horse", 13, detail, sizeof detail), 0);
    CHECK_RC(isec_key_load(&p3, path2, "wrong horse", 11, detail, sizeof detail), ISEC_EKEY);
    CHECK(strstr(detail, "wrong passphrase") != NULL);
    uint8_t d1[32], d2[32], d3[32];
    CHECK_RC(isec_key_derive(p1, "x", d1), 0);
    CHECK_RC(isec_key_derive(p2, "x", d2), 0);
    CHECK_RC(isec_key_derive(p2, "y", d3), 0);
    CHECK(!memcmp(d1, d2, 32) && memcmp(d1, d3, 32));
    CHECK_RC(isec_key_load(&p3, "/nonexistent/key", NULL, 0, detail, sizeof detail), ISEC_EIO);
    FILE *f = fopen(path2, "w");
    fputs("imgsec-key 1\nkind random\nkey 12\n", f);
    fclose(f);
    CHECK_RC(isec_key_load(&p3, path2, NULL, 0, detail, sizeof detail), ISEC_EKEY);
    cases += 4;
    isec_key_free(k);
    isec_key_free(p1);
    isec_key_free(p2);
    unlink(path);
    unlink(path2);
    rmdir(dir);
}

int main(void)
{
    uint8_t k1[32], k2[32];
    for (int i = 0; i < 32; i++) {
        k1[i] = (uint8_t)i;
        k2[i] = (uint8_t)(i * 7 + 1);
    }
    if (isec_key_from_bytes(&key1, k1) || isec_key_from_bytes(&key2, k2)) return 1;
    test_kinds();
    test_embedded();
    test_damage();
    test_keystream_binding();
    test_view_digest();
    test_keys();
    isec_key_free(key1);
    isec_key_free(key2);
    return tu_finish("jpeg.unit", cases);
}

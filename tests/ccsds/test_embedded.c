/* Embedded decoding: every layer prefix of a segment decodes and quality rises layer by layer;
 * quality stops (BitPlaneStop/StageStop, DCStop) give prefixes of the full stream; SegByteLimit,
 * UseFill and rates; truncated whole streams decode to the best reconstruction. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ccsdstool.h"
#include "internal.h"
#include "testutil.h"

static int checks;

/* Decodes the first seg_len bytes of a single-segment stream. */
static double decode_prefix(const uint8_t *s, size_t n, const ct_img *ref, int *trunc)
{
    isec_ccsds_dec *d;
    if (isec_ccsds_dec_new(&d, NULL)) return -1;
    size_t used;
    int rc = isec_ccsds_dec_segment(d, s, n, &used);
    double q = -1;
    size_t cnt;
    const isec_ccsds_segment *sg = isec_ccsds_dec_segments(d, &cnt);
    *trunc = cnt ? sg[0].truncated : -1;
    if (rc == 0) {
        ct_img out = *ref;
        out.px = malloc(sizeof *out.px * ref->w * ref->h);
        if (isec_ccsds_dec_image(d, out.px, (size_t)ref->w * ref->h) == 0) q = ct_psnr(ref, &out);
        free(out.px);
    }
    isec_ccsds_dec_free(d);
    return q;
}

static void layers(int dwt, unsigned depth)
{
    ct_img img;
    ct_random(&img, 96, 80, depth, 0, 1, 7);
    for (size_t i = 0; i < (size_t)img.w * img.h; i++) /* add texture so every plane carries data */
        img.px[i] = (img.px[i] + (int32_t)((i * 2654435761u) >> 27)) & ((1 << depth) - 1);
    isec_ccsds_params p;
    isec_ccsds_params_init(&p);
    p.dwt = dwt;
    p.segment_blocks = 120; /* the whole image: 12 x 10 blocks */
    uint8_t *out;
    size_t len, ns;
    isec_ccsds_segment *sg;
    CHECK_RC(ct_encode(&img, &p, &out, &len, &sg, &ns), 0);
    CHECK(ns == 1);
    int trunc;
    double prev = decode_prefix(out, sg[0].dc_end, &img, &trunc);
    CHECK(prev > 0);
    for (unsigned k = 0; k < sg[0].planes; k++) {
        double q = decode_prefix(out, sg[0].plane_end[k], &img, &trunc);
        /* the 9/7 synthesis is not orthogonal: smaller coefficient errors almost always, not
           always, mean a smaller pixel error, hence the small tolerance */
        if (!(q >= prev - 0.05))
            fprintf(stderr, "layer %u: PSNR %.2f after %.2f\n", k + 1, q, prev);
        CHECK(q >= prev - 0.05);
        prev = q;
    }
    if (dwt == ISEC_CCSDS_DWT_INTEGER) CHECK(prev == 999);
    /* arbitrary cuts: always decodable, and the full length is not truncated */
    for (size_t n = 3; n <= len; n += 1 + n / 9) {
        double q = decode_prefix(out, n, &img, &trunc);
        CHECK(q > 0 || n < 20);
    }
    decode_prefix(out, len, &img, &trunc);
    CHECK(trunc == 0);

    /* BitPlaneStop/StageStop: the stream is the full one up to that stage (the last byte may be
       padding); header part 2 differs, the body does not */
    size_t hsize = 3 + 1 + 5 + 3 + 8;
    double qprev = 0;
    for (int b = (int)sg[0].hdr.bitdepth_ac - 1; b >= 0; b--)
        for (unsigned s = 0; s < 4; s++) {
            isec_ccsds_params p2 = p;
            p2.bitplane_stop = (unsigned)b;
            p2.stage_stop = s;
            uint8_t *o2;
            size_t l2;
            isec_ccsds_segment *s2;
            size_t n2;
            CHECK_RC(ct_encode(&img, &p2, &o2, &l2, &s2, &n2), 0);
            CHECK(l2 <= len && s2[0].stopped_by == (b == 0 && s == 3 ? 0 : 2));
            CHECK(l2 < 2 || !memcmp(o2 + hsize, out + hsize, l2 - 1 - hsize));
            ct_img dec;
            int res;
            CHECK(ct_decode(o2, l2, &dec, &res) == 0 && res == 0);
            double q = ct_psnr(&img, &dec);
            if (!(q >= qprev - 0.25))
                fprintf(stderr, "dwt %d depth %u plane %d stage %u: PSNR %.3f after %.3f\n", dwt,
                        depth, b, s + 1, q, qprev);
            CHECK(q >= qprev - 0.25);
            qprev = q;
            ct_free(&dec);
            free(o2);
            free(s2);
        }
    /* DCStop: header and DC only, decodable */
    {
        isec_ccsds_params p2 = p;
        p2.dc_stop = 1;
        uint8_t *o2;
        size_t l2;
        CHECK_RC(ct_encode(&img, &p2, &o2, &l2, NULL, NULL), 0);
        CHECK(l2 <= sg[0].dc_end + 1);
        ct_img dec;
        int res;
        CHECK(ct_decode(o2, l2, &dec, &res) == 0 && res == 0 && ct_psnr(&img, &dec) > 10);
        ct_free(&dec);
        free(o2);
    }
    free(sg);
    free(out);
    ct_free(&img);
    checks += 10;
}

static void limits(void)
{
    ct_img img;
    ct_random(&img, 150, 90, 8, 0, 1, 3);
    isec_ccsds_params p;
    double prev = 0;
    for (int dwt = 0; dwt < 2; dwt++) {
        prev = 0;
        for (float bpp = 0.25f; bpp <= 6; bpp *= 2) {
            isec_ccsds_params_init(&p);
            p.dwt = dwt;
            p.bpp = bpp;
            p.segment_blocks = 32;
            uint8_t *out;
            size_t len, ns;
            isec_ccsds_segment *sg;
            CHECK_RC(ct_encode(&img, &p, &out, &len, &sg, &ns), 0);
            for (size_t i = 0; i < ns; i++)
                CHECK(sg[i].length <= sg[i].hdr.seg_byte_limit);
            ct_img dec;
            int res;
            CHECK(ct_decode(out, len, &dec, &res) == 0 && res == 0);
            double q = ct_psnr(&img, &dec);
            if (!(q > prev))
                fprintf(stderr, "dwt %d bpp %.2f: PSNR %.2f after %.2f\n", dwt, bpp, q, prev);
            CHECK(q > prev);
            prev = q;
            ct_free(&dec);
            free(out);
            free(sg);
        }
    }
    /* fixed SegByteLimit with UseFill and 4-byte words: every segment exactly the limit */
    isec_ccsds_params_init(&p);
    p.seg_byte_limit = 200;
    p.use_fill = 1;
    p.word_bytes = 4;
    p.segment_blocks = 40;
    uint8_t *out;
    size_t len, ns;
    isec_ccsds_segment *sg;
    CHECK_RC(ct_encode(&img, &p, &out, &len, &sg, &ns), 0);
    for (size_t i = 0; i < ns; i++)
        CHECK(sg[i].length == 200);
    ct_img dec;
    int res;
    CHECK(ct_decode(out, len, &dec, &res) == 0 && res == 0 && ct_psnr(&img, &dec) > 15);
    ct_free(&dec);
    /* a whole stream cut anywhere: decoded as far as it goes, reported as truncated */
    for (size_t n = 1; n < len; n += 37) {
        int rc = ct_decode(out, n, &dec, &res);
        CHECK(res == ISEC_ETRUNC);
        if (!rc) ct_free(&dec);
    }
    free(out);
    free(sg);
    ct_free(&img);
    checks += 4;
}

/* Encodes img with p, returning the stream and its segments (offsets absolute). */
static uint8_t *enc(const ct_img *img, const isec_ccsds_params *p, size_t *len,
                    isec_ccsds_segment **sg, size_t *ns)
{
    uint8_t *out = NULL;
    if (ct_encode(img, p, &out, len, sg, ns)) {
        tu_failures++;
        fprintf(stderr, "encode failed\n");
        return NULL;
    }
    return out;
}

/* The segments the decoder recovers from a stream must be the ones the encoder reported. */
static void same_segments(const uint8_t *s, size_t len, const isec_ccsds_segment *sg, size_t ns)
{
    isec_ccsds_dec *d;
    CHECK_RC(isec_ccsds_dec_new(&d, NULL), 0);
    int rc = isec_ccsds_dec_stream(d, s, len);
    CHECK_RC(rc, 0);
    size_t n;
    const isec_ccsds_segment *ds = isec_ccsds_dec_segments(d, &n);
    CHECK(n == ns);
    for (size_t i = 0; i < n && i < ns; i++) {
        int ok = ds[i].offset == sg[i].offset && ds[i].length == sg[i].length &&
                 ds[i].dc_end == sg[i].dc_end && ds[i].planes == sg[i].planes &&
                 ds[i].stopped_by == sg[i].stopped_by && ds[i].q == sg[i].q &&
                 ds[i].first_block == sg[i].first_block && !ds[i].truncated;
        for (unsigned k = 0; ok && k < sg[i].planes; k++)
            ok = ds[i].plane_end[k] == sg[i].plane_end[k];
        if (!ok)
            fprintf(stderr,
                    "segment %zu: decoder's ranges differ from the encoder's: off %zu/%zu len "
                    "%zu/%zu dc_end %zu/%zu planes %u/%u stop %u/%u q %u/%u\n",
                    i, ds[i].offset, sg[i].offset, ds[i].length, sg[i].length, ds[i].dc_end,
                    sg[i].dc_end, ds[i].planes, sg[i].planes, ds[i].stopped_by, sg[i].stopped_by,
                    ds[i].q, sg[i].q);
        CHECK(ok);
    }
    isec_ccsds_dec_free(d);
}

/* Stop conditions in an image of several segments of different depths: every segment stops at
 * the same place (BitPlaneStop/StageStop, DCStop: values in force from the first segment), each
 * stopped segment is a prefix of the unstopped one, and a stage-4 stop ends exactly where the
 * encoder reported the end of that plane. SegByteLimit cuts a segment to a prefix of exactly the
 * limit; UseFill pads with zero bytes. */
static void stops(int dwt)
{
    ct_img img;
    ct_random(&img, 150, 90, 10, 1, 2, 11); /* signed 10-bit edges: 19 x 12 blocks */
    isec_ccsds_params p;
    isec_ccsds_params_init(&p);
    p.dwt = dwt;
    p.segment_blocks = 32; /* 8 segments, the last of 4 blocks */
    size_t len, ns;
    isec_ccsds_segment *sg;
    uint8_t *full = enc(&img, &p, &len, &sg, &ns);
    if (!full) return;
    CHECK(ns == 8);
    same_segments(full, len, sg, ns);
    static const int bs[][2] = {{9, 0}, {6, 1}, {5, 3}, {3, 2}, {2, 3}, {1, 0}, {0, 2}};
    for (size_t t = 0; t < sizeof bs / sizeof bs[0]; t++) {
        isec_ccsds_params p2 = p;
        p2.bitplane_stop = (unsigned)bs[t][0];
        p2.stage_stop = (unsigned)bs[t][1];
        size_t l2, n2;
        isec_ccsds_segment *s2;
        uint8_t *o2 = enc(&img, &p2, &l2, &s2, &n2);
        if (!o2) continue;
        CHECK(n2 == ns);
        same_segments(o2, l2, s2, n2);
        unsigned b = p2.bitplane_stop;
        for (size_t i = 0; i < n2 && i < ns; i++) {
            size_t hs = isec__hdr_size(&s2[i].hdr), bd = s2[i].hdr.bitdepth_ac;
            CHECK(s2[i].stopped_by == 2 && s2[i].length <= sg[i].length);
            /* the body is a prefix of the full one (the last byte may hold padding) */
            CHECK(s2[i].length > hs &&
                  !memcmp(o2 + s2[i].offset + hs, full + sg[i].offset + hs, s2[i].length - hs - 1));
            if (b < bd && p2.stage_stop == 3) CHECK(s2[i].length == sg[i].plane_end[bd - 1 - b]);
            if (b < bd && p2.stage_stop < 3 && b + 1 < bd) /* inside plane b */
                CHECK(s2[i].length >= sg[i].plane_end[bd - 2 - b] &&
                      s2[i].length <= sg[i].plane_end[bd - 1 - b]);
            if (b >= bd) /* 4.2.3.2.3 note: DC data only, no AC depths */
                CHECK(s2[i].length < sg[i].dc_end);
        }
        ct_img dec;
        int res;
        CHECK(ct_decode(o2, l2, &dec, &res) == 0 && res == 0);
        if (res == 0) ct_free(&dec);
        free(o2);
        free(s2);
    }
    /* DCStop: the same bodies as BitPlaneStop above every segment's depth */
    {
        isec_ccsds_params pa = p, pb = p;
        pa.dc_stop = 1;
        pb.bitplane_stop = 31;
        size_t la, lb, na, nb;
        isec_ccsds_segment *sa, *sb;
        uint8_t *oa = enc(&img, &pa, &la, &sa, &na), *ob = enc(&img, &pb, &lb, &sb, &nb);
        CHECK(oa && ob && na == ns && nb == ns && la == lb);
        for (size_t i = 0; oa && ob && i < na && i < nb; i++) {
            size_t hs = isec__hdr_size(&sa[i].hdr);
            CHECK(sa[i].stopped_by == 2 && sa[i].length == sb[i].length &&
                  sa[i].length < sg[i].dc_end && sa[i].planes == 0);
            CHECK(!memcmp(oa + sa[i].offset + hs, ob + sb[i].offset + hs, sa[i].length - hs));
        }
        ct_img dec;
        int res;
        CHECK(oa && ct_decode(oa, la, &dec, &res) == 0 && res == 0);
        if (oa && res == 0) ct_free(&dec);
        free(oa);
        free(ob);
        free(sa);
        free(sb);
    }
    /* SegByteLimit: each segment is the first SegByteLimit bytes of the unlimited one (header
       aside), or all of it when shorter; with UseFill, zeros up to the limit */
    for (uint32_t lim = 24; lim < 400; lim = lim * 3 / 2) {
        for (int fill = 0; fill < 2; fill++) {
            isec_ccsds_params p2 = p;
            p2.seg_byte_limit = lim;
            p2.use_fill = fill;
            size_t l2, n2;
            isec_ccsds_segment *s2;
            uint8_t *o2 = enc(&img, &p2, &l2, &s2, &n2);
            if (!o2) continue;
            CHECK(n2 == ns);
            same_segments(o2, l2, s2, n2);
            for (size_t i = 0; i < n2 && i < ns; i++) {
                size_t hs = isec__hdr_size(&s2[i].hdr), nat = sg[i].length;
                const uint8_t *a = o2 + s2[i].offset, *f = full + sg[i].offset;
                if (nat >= lim) {
                    CHECK(s2[i].length == lim && s2[i].stopped_by == 1);
                    CHECK(!memcmp(a + hs, f + hs, lim - hs));
                } else {
                    CHECK(s2[i].length == (fill ? lim : nat) && s2[i].stopped_by == 0);
                    CHECK(!memcmp(a + hs, f + hs, nat - hs));
                    for (size_t k = nat; fill && k < lim; k++)
                        CHECK(a[k] == 0);
                }
            }
            ct_img dec;
            int res;
            CHECK(ct_decode(o2, l2, &dec, &res) == 0 && res == 0);
            if (res == 0) ct_free(&dec);
            free(o2);
            free(s2);
        }
    }
    free(full);
    free(sg);
    ct_free(&img);
    checks++;
}

int main(void)
{
    stops(ISEC_CCSDS_DWT_INTEGER);
    stops(ISEC_CCSDS_DWT_FLOAT);
    layers(ISEC_CCSDS_DWT_INTEGER, 8);
    layers(ISEC_CCSDS_DWT_FLOAT, 8);
    layers(ISEC_CCSDS_DWT_INTEGER, 16);
    limits();
    return tu_finish("ccsds.embedded", checks);
}

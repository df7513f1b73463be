/* The two places real JPEGs hide whole other JPEGs: the Exif thumbnail (APP1, IFD1
 * JPEGInterchangeFormat) and MPF secondary images (APP2 "MPF", after the primary's EOI).
 * Both are TIFF structures; every offset and count read here is checked against the segment. */
#include "internal.h"

struct tiff {
    const uint8_t *p;
    size_t n;
    int be;
};

static int rd16(const struct tiff *t, size_t off, uint32_t *v)
{
    if (off > t->n || t->n - off < 2) return -1;
    const uint8_t *q = t->p + off;
    *v = t->be ? (uint32_t)(q[0] << 8 | q[1]) : (uint32_t)(q[1] << 8 | q[0]);
    return 0;
}

static int rd32(const struct tiff *t, size_t off, uint32_t *v)
{
    if (off > t->n || t->n - off < 4) return -1;
    const uint8_t *q = t->p + off;
    *v = t->be ? (uint32_t)q[0] << 24 | (uint32_t)q[1] << 16 | (uint32_t)q[2] << 8 | q[3]
               : (uint32_t)q[3] << 24 | (uint32_t)q[2] << 16 | (uint32_t)q[1] << 8 | q[0];
    return 0;
}

static int tiff_open(struct tiff *t, const uint8_t *p, size_t n, uint32_t *ifd0)
{
    t->p = p;
    t->n = n;
    if (n < 8) return -1;
    if (p[0] == 'I' && p[1] == 'I') t->be = 0;
    else if (p[0] == 'M' && p[1] == 'M') t->be = 1;
    else return -1;
    uint32_t magic;
    if (rd16(t, 2, &magic) || magic != 42) return -1;
    return rd32(t, 4, ifd0);
}

/* Looks up a SHORT/LONG tag in the IFD at off; *next gets the next IFD offset. */
static int ifd_find(const struct tiff *t, uint32_t off, uint16_t tag, uint32_t *val, int *found,
                    uint32_t *next)
{
    uint32_t count;
    *found = 0;
    if (rd16(t, off, &count) || count > 1000) return -1;
    for (uint32_t i = 0; i < count; i++) {
        size_t e = (size_t)off + 2 + 12 * (size_t)i;
        uint32_t etag, type, n;
        if (rd16(t, e, &etag) || rd16(t, e + 2, &type) || rd32(t, e + 4, &n)) return -1;
        if (etag == tag && n == 1 && (type == 3 || type == 4)) {
            if (type == 3 ? rd16(t, e + 8, val) : rd32(t, e + 8, val)) return -1;
            *found = 1;
        }
    }
    if (next && rd32(t, (size_t)off + 2 + 12 * (size_t)count, next)) return -1;
    return 0;
}

int isec__exif_thumbnail(isec_jpeg *c, const uint8_t *p, size_t n, size_t *start, size_t *end)
{
    struct tiff t;
    uint32_t ifd0, ifd1, toff = 0, tlen = 0, comp = 6;
    int found_off, found_len, found_comp;
    uint64_t at = c->segoff + 4;
    if (n < 6 || memcmp(p, "Exif\0", 5) != 0) return 0;
    if (tiff_open(&t, p + 6, n - 6, &ifd0) || ifd0 < 8)
        return isec__jpeg_fail(c, ISEC_EFORMAT, at, "Exif segment has a broken TIFF header");
    if (ifd_find(&t, ifd0, 0, &toff, &found_off, &ifd1))
        return isec__jpeg_fail(c, ISEC_EFORMAT, at, "Exif IFD0 runs past its segment");
    if (ifd1 == 0) return 0;
    if (ifd1 <= ifd0 || ifd_find(&t, ifd1, 0x0201, &toff, &found_off, NULL) ||
        ifd_find(&t, ifd1, 0x0202, &tlen, &found_len, NULL) ||
        ifd_find(&t, ifd1, 0x0103, &comp, &found_comp, NULL))
        return isec__jpeg_fail(c, ISEC_EFORMAT, at, "Exif IFD1 runs past its segment");
    if (!found_off || tlen == 0) return 0; /* no JPEG thumbnail (maybe an uncompressed one) */
    if (toff < 8 || toff >= t.n || t.n - toff < 4 || p[6 + toff] != 0xFF || p[6 + toff + 1] != 0xD8)
        return isec__jpeg_fail(c, ISEC_EFORMAT, at,
                               "Exif thumbnail offset %u does not point at a JPEG inside APP1",
                               toff);
    /* The walk must never change a byte it read to find the thumbnail, or decryption would
     * look elsewhere: the thumbnail has to lie after the TIFF header and both IFDs. */
    uint32_t n0 = 0, n1 = 0;
    if (rd16(&t, ifd0, &n0) || rd16(&t, ifd1, &n1))
        return isec__jpeg_fail(c, ISEC_EFORMAT, at, "Exif IFDs run past their segment");
    uint64_t end0 = (uint64_t)ifd0 + 6 + 12 * (uint64_t)n0, end1 = (uint64_t)ifd1 + 6 + 12 * (uint64_t)n1;
    if (toff < end0 || toff < end1)
        return isec__jpeg_fail(c, ISEC_EFORMAT, at, "Exif thumbnail at %u overlaps the IFDs", toff);
    *start = 6 + (size_t)toff;
    /* A length running past the segment is walked only up to the segment's end: the walk
     * itself finds where the thumbnail ends, and fails if it is cut short. */
    *end = (t.n - toff < tlen) ? n : *start + tlen;
    (void)comp;
    return 1;
}

int isec__mpf_parse(isec_jpeg *c, const uint8_t *p, size_t n, uint64_t tiffoff)
{
    struct tiff t;
    uint32_t ifd, count, next;
    uint64_t at = c->segoff + 4;
    if (tiff_open(&t, p, n, &ifd) || rd16(&t, ifd, &count) || count > 64)
        return isec__jpeg_fail(c, ISEC_EFORMAT, at, "MPF segment has a broken index");
    uint32_t nimg = 0, entoff = 0, entlen = 0;
    for (uint32_t i = 0; i < count; i++) {
        size_t e = (size_t)ifd + 2 + 12 * (size_t)i;
        uint32_t tag, type, cnt, val;
        if (rd16(&t, e, &tag) || rd16(&t, e + 2, &type) || rd32(&t, e + 4, &cnt) ||
            rd32(&t, e + 8, &val))
            return isec__jpeg_fail(c, ISEC_EFORMAT, at, "MPF index runs past its segment");
        if (tag == 0xB001) nimg = val;
        if (tag == 0xB002) {
            entoff = val;
            entlen = cnt;
        }
    }
    (void)next;
    if (nimg == 0 || entlen == 0) return 0;
    if (entlen != 16 * nimg || nimg > 64)
        return isec__jpeg_fail(c, ISEC_EFORMAT, at, "MPF entry list does not match its count");
    for (uint32_t i = 0; i < nimg; i++) {
        uint32_t attr, size, off;
        size_t e = (size_t)entoff + 16 * (size_t)i;
        if (rd32(&t, e, &attr) || rd32(&t, e + 4, &size) || rd32(&t, e + 8, &off))
            return isec__jpeg_fail(c, ISEC_EFORMAT, at, "MPF entry %u runs past its segment", i);
        if (off == 0 || size == 0) continue; /* the primary image (offset 0) */
        if (c->nmpf == ISEC_JPEG_MAX_EMBEDDED)
            return isec__jpeg_fail(c, ISEC_ELIMIT, at, "more than %d MPF images",
                                   ISEC_JPEG_MAX_EMBEDDED);
        struct mpf_entry m = {tiffoff + off, size};
        size_t j = c->nmpf++;
        while (j > 0 && c->mpf[j - 1].start > m.start) {
            c->mpf[j] = c->mpf[j - 1];
            j--;
        }
        c->mpf[j] = m;
    }
    for (size_t i = 1; i < c->nmpf; i++)
        if (c->mpf[i - 1].start + c->mpf[i - 1].len > c->mpf[i].start)
            return isec__jpeg_fail(c, ISEC_EFORMAT, at, "MPF images overlap");
    return 0;
}

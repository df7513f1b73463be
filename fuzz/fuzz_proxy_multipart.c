/* libFuzzer target: the streaming multipart splitter (apps/proxy/multipart.c). Input: one byte of
 * piece size, a boundary line, then the body. Checks that every byte comes back exactly once, in
 * order, whatever the chunking, and that PART_BEGIN/END nest. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy.h"

struct out {
    uint8_t *b;
    size_t n;
    int open;
};

static int cb(void *arg, int kind, const uint8_t *p, size_t n)
{
    struct out *o = arg;
    if (kind == PX_MP_RAW || kind == PX_MP_DATA) {
        if (kind == PX_MP_DATA && !o->open) abort();
        memcpy(o->b + o->n, p, n);
        o->n += n;
    } else if (kind == PX_MP_PART_BEGIN) {
        if (o->open) abort();
        o->open = 1;
    } else if (kind == PX_MP_PART_END) {
        if (!o->open) abort();
        o->open = 0;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    size_t piece = 1 + data[0] % 32;
    const uint8_t *nl = memchr(data + 1, '\n', size - 1);
    if (!nl) return 0;
    size_t blen = (size_t)(nl - data - 1);
    const uint8_t *body = nl + 1;
    size_t len = size - (size_t)(body - data);
    struct out o = {malloc(len + 1), 0, 0};
    px_multipart m;
    if (px_multipart_init(&m, (const char *)data + 1, blen, cb, &o) == 0) {
        for (size_t off = 0; off < len; off += piece)
            px_multipart_push(&m, body + off, len - off < piece ? len - off : piece);
        px_multipart_end(&m);
        if (o.n != len || (len && memcmp(o.b, body, len) != 0)) abort();
        if (o.open) abort();
    }
    px_multipart_free(&m);
    char bnd[PX_MP_MAX_BOUNDARY + 1];
    char ct[256];
    size_t cl = size < sizeof ct - 1 ? size : sizeof ct - 1;
    memcpy(ct, data, cl);
    ct[cl] = 0;
    (void)px_multipart_boundary(ct, bnd, sizeof bnd);
    free(o.b);
    return 0;
}

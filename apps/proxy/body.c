/* One HTTP message body on its way through the proxy: a raw body is one JPEG stream candidate;
 * a multipart body is split and each part is one. Everything else passes as it is. Sizes never
 * change, so the caller can keep Content-Length and only re-frame chunked bodies.
 */
#include <string.h>

#include "proxy.h"

static void js_emit(void *arg, const uint8_t *p, size_t n)
{
    px_body *b = arg;
    b->cfg.emit(b->cfg.emit_arg, p, n);
}

static int open_js(px_body *b, int64_t len)
{
    px_jstream_cfg jc = {
        .dir = b->cfg.dir,
        .key = b->cfg.key,
        .ix = b->cfg.ix,
        .emit = js_emit,
        .emit_arg = b,
        .refuse = b->cfg.refuse,
        .refuse_other = b->cfg.refuse_other,
        .expect_len = len,
        .async = b->cfg.async,
        .notify = b->cfg.notify,
        .notify_arg = b->cfg.notify_arg,
    };
    px_jstream_init(&b->js, &jc);
    b->js_open = 1;
    return 0;
}

static int close_js(px_body *b)
{
    int rc = px_jstream_end(&b->js);
    if (b->js.is_jpeg) b->jpegs++;
    const char *kind = b->js.is_jpeg ? NULL : px_media_kind(b->js.first, b->js.nfirst);
    if (kind && b->cfg.dir == PX_DIR_REQUEST) {
        b->plain_media++;
        b->plain_kind = kind;
    }
    if (b->js.crypted && !b->js.refused && rc == 0) b->crypted++;
    if (b->js.refused) b->refused++;
    if (b->js.mismatch) b->mismatched++;
    if (b->js.detail[0]) snprintf(b->detail, sizeof b->detail, "%s", b->js.detail);
    if (rc < 0) b->failed = 1;
    if (rc < 0 && b->js.refused) b->refusal = PX_REFUSED_JPEG;
    if (rc < 0 && b->js.refused_other) b->refusal = PX_REFUSED_OTHER;
    px_jstream_free(&b->js);
    b->js_open = 0;
    return rc;
}

static int mp_cb(void *arg, int kind, const uint8_t *p, size_t n)
{
    px_body *b = arg;
    switch (kind) {
    case PX_MP_RAW: b->cfg.emit(b->cfg.emit_arg, p, n); return 0;
    case PX_MP_PART_BEGIN: return open_js(b, -1);
    case PX_MP_DATA: return px_jstream_push(&b->js, p, n) < 0 ? -1 : 0;
    case PX_MP_PART_END: return close_js(b);
    default: return -1;
    }
}

int px_body_init(px_body *b, const px_body_cfg *cfg)
{
    memset(b, 0, sizeof *b);
    b->cfg = *cfg;
    char bnd[PX_MP_MAX_BOUNDARY + 1];
    int bl = px_multipart_boundary(cfg->content_type, bnd, sizeof bnd);
    if (bl > 0 && px_multipart_init(&b->mp, bnd, (size_t)bl, mp_cb, b) == 0) {
        b->multipart = 1;
        return 0;
    }
    px_multipart_free(&b->mp);
    return open_js(b, cfg->content_length);
}

/* The message must be aborted: says why, from the JPEG stream if it knows. */
static int body_failed(px_body *b)
{
    b->failed = 1;
    if (b->js_open && b->js.detail[0]) snprintf(b->detail, sizeof b->detail, "%s", b->js.detail);
    if (b->js_open && b->js.refused) b->refusal = PX_REFUSED_JPEG;
    if (b->js_open && b->js.refused_other) b->refusal = PX_REFUSED_OTHER;
    return -1;
}

int px_body_push(px_body *b, const uint8_t *p, size_t n)
{
    if (b->failed) return -1;
    int rc = b->multipart ? px_multipart_push(&b->mp, p, n) : px_jstream_push(&b->js, p, n);
    return rc < 0 ? body_failed(b) : 0;
}

int px_body_end(px_body *b)
{
    if (b->failed) return -1;
    int rc = 0;
    if (b->multipart) rc = px_multipart_end(&b->mp);
    if (rc == 0 && b->js_open) rc = close_js(b);
    if (rc < 0) b->failed = 1;
    return rc < 0 ? -1 : 0;
}

void px_body_free(px_body *b)
{
    if (b->js_open) px_jstream_free(&b->js);
    if (b->multipart) px_multipart_free(&b->mp);
    b->js_open = 0;
    b->multipart = 0;
}

int px_body_passing(const px_body *b)
{
    /* (once the bytes px_media_kind looks at are in: what the log says of the body needs them) */
    return !b->failed && !b->multipart && b->js_open && !b->js.failed && b->js.phase == PX_J_PASS &&
           b->js.nfirst == sizeof b->js.first;
}

void px_body_skip(px_body *b, size_t n)
{
    b->js.in_total += n;
}

int px_body_poll(px_body *b)
{
    if (b->failed) return -1;
    if (!b->js_open) return 0;
    return px_jstream_poll(&b->js) < 0 ? body_failed(b) : 0;
}

size_t px_body_backlog(px_body *b)
{
    return b->js_open ? px_jstream_backlog(&b->js) : 0;
}

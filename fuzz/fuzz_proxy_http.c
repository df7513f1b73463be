/* libFuzzer target: HTTP/1.1 request heads and bodies as the proxy parses them (http-parser plus
 * apps/proxy/httpmsg.c), with each request's body run through px_body as for a target host. The
 * first input byte picks the piece size, so chunk boundaries are fuzzed too. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <http_parser.h>

#include "proxy.h"

struct st {
    px_head h;
    px_body b;
    int body_on;
    size_t out;
};

static isec_key *key;

static void emit(void *arg, const uint8_t *p, size_t n)
{
    struct st *s = arg;
    (void)p;
    s->out += n;
}

static int get(void *a, const uint8_t k[PX_DIGEST], uint64_t *l, uint8_t f[PX_DIGEST])
{
    (void)a;
    (void)f;
    *l = 0;
    return k[0] == 0xAA; /* sometimes "ours" */
}

static int on_begin(http_parser *p)
{
    struct st *s = p->data;
    px_head_reset(&s->h);
    return 0;
}
static int on_url(http_parser *p, const char *a, size_t n) { return px_head_url(&((struct st *)p->data)->h, a, n); }
static int on_field(http_parser *p, const char *a, size_t n) { return px_head_field(&((struct st *)p->data)->h, a, n); }
static int on_value(http_parser *p, const char *a, size_t n) { return px_head_value(&((struct st *)p->data)->h, a, n); }
static void sink(void *arg, const char *p, size_t n)
{
    (void)p;
    *(size_t *)arg += n;
}
static int on_headers(http_parser *p)
{
    struct st *s = p->data;
    size_t n = 0;
    static const char *const skip[] = {"Range", "Proxy-Connection", NULL};
    px_head_write_request(&s->h, http_method_str((enum http_method)p->method),
                          s->h.url ? s->h.url : "/", p->http_major, p->http_minor, skip, NULL, sink,
                          &n);
    char host[256];
    unsigned port;
    const char *hv = px_head_get(&s->h, "Host");
    if (hv) (void)px_split_hostport(hv, strlen(hv), host, sizeof host, &port, 443);
    (void)px_head_has_token(&s->h, "Connection", "close");
    /* resumable upload headers */
    uint64_t off;
    char id[600];
    (void)px_rs_command(px_head_get(&s->h, "X-Goog-Upload-Command"));
    (void)px_rs_offset(px_head_get(&s->h, "X-Goog-Upload-Offset"), &off);
    (void)px_rs_session_id(hv ? hv : "h", s->h.url ? s->h.url : "/", id, sizeof id);
    const char *gu = px_head_get(&s->h, "X-Goog-Upload-URL");
    if (gu) (void)px_rs_session_id("h", gu, id, sizeof id);
    /* (PUT bodies also stop at a picture of another format: on-other-media refuse) */
    px_body_cfg bc = {PX_DIR_REQUEST, key, {get, NULL, NULL}, emit, s,
                      px_head_get(&s->h, "Content-Type"), -1, 0, 0, NULL, NULL,
                      p->method == HTTP_PUT};
    if (s->body_on) px_body_free(&s->b);
    px_body_init(&s->b, &bc);
    s->body_on = 1;
    return 0;
}
static int on_body(http_parser *p, const char *a, size_t n)
{
    struct st *s = p->data;
    if (s->body_on) (void)px_body_push(&s->b, (const uint8_t *)a, n);
    return 0;
}
static int on_complete(http_parser *p)
{
    struct st *s = p->data;
    if (s->body_on) {
        (void)px_body_end(&s->b);
        px_body_free(&s->b);
        s->body_on = 0;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!key) {
        uint8_t kb[ISEC_KEY_BYTES] = {1, 2, 3};
        if (isec_key_from_bytes(&key, kb) < 0) abort();
    }
    if (size < 1) return 0;
    size_t piece = 1 + data[0] % 64;
    data++;
    size--;
    http_parser_settings set = {0};
    set.on_message_begin = on_begin;
    set.on_url = on_url;
    set.on_header_field = on_field;
    set.on_header_value = on_value;
    set.on_headers_complete = on_headers;
    set.on_body = on_body;
    set.on_message_complete = on_complete;
    struct st s;
    memset(&s, 0, sizeof s);
    px_head_init(&s.h, 8192);
    http_parser p;
    http_parser_init(&p, HTTP_REQUEST);
    p.data = &s;
    for (size_t off = 0; off < size;) {
        size_t n = size - off < piece ? size - off : piece;
        size_t used = http_parser_execute(&p, &set, (const char *)data + off, n);
        if (HTTP_PARSER_ERRNO(&p) != HPE_OK || p.upgrade) break;
        off += used;
    }
    if (s.body_on) px_body_free(&s.b);
    px_head_free(&s.h);
    return 0;
}

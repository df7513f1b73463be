/* HTTP/1.1 message heads, collected from http-parser's callbacks with hard limits, and written
 * out again. The parser (Debian's http-parser) does the syntax; this file only keeps what it
 * hands over: URL, reason phrase, header names and values, in order, as they came.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proxy.h"

void px_head_init(px_head *h, size_t limit)
{
    memset(h, 0, sizeof *h);
    h->limit = limit;
}

void px_head_reset(px_head *h)
{
    h->len = h->n = h->url_len = h->reason_len = 0;
    h->in_value = 0;
    h->overflow = 0;
    if (h->url) h->url[0] = 0;
    if (h->reason) h->reason[0] = 0;
}

void px_head_free(px_head *h)
{
    free(h->buf);
    free(h->url);
    free(h->reason);
    memset(h, 0, sizeof *h);
}

static int grow(char **buf, size_t *cap, size_t need)
{
    if (need <= *cap) return 0;
    size_t c = *cap ? *cap : 512;
    while (c < need) c *= 2;
    char *nb = realloc(*buf, c);
    if (!nb) return -1;
    *buf = nb;
    *cap = c;
    return 0;
}

static int append(px_head *h, char **buf, size_t *len, size_t *cap, const char *p, size_t n)
{
    if (h->overflow) return -1;
    if (*len + n + 1 > h->limit || grow(buf, cap, *len + n + 2) < 0) {
        h->overflow = 1;
        return -1;
    }
    memcpy(*buf + *len, p, n);
    *len += n;
    (*buf)[*len] = 0;
    return 0;
}

int px_head_url(px_head *h, const char *p, size_t n)
{
    return append(h, &h->url, &h->url_len, &h->url_cap, p, n);
}

int px_head_reason(px_head *h, const char *p, size_t n)
{
    return append(h, &h->reason, &h->reason_len, &h->reason_cap, p, n);
}

int px_head_field(px_head *h, const char *p, size_t n)
{
    if (h->overflow) return -1;
    if (h->in_value || h->n == 0) {
        if (h->n == PX_MAX_HEADERS) {
            h->overflow = 1;
            return -1;
        }
        if (h->n) h->len++; /* past the NUL ending the previous value */
        h->name[h->n] = h->len;
        h->value[h->n] = (size_t)-1;
        h->n++;
        h->in_value = 0;
        if (append(h, &h->buf, &h->len, &h->buf_cap, "", 0) < 0) return -1;
    }
    return append(h, &h->buf, &h->len, &h->buf_cap, p, n);
}

int px_head_value(px_head *h, const char *p, size_t n)
{
    if (h->overflow || h->n == 0) return -1;
    if (!h->in_value) {
        h->len++; /* past the NUL ending the name */
        h->value[h->n - 1] = h->len;
        h->in_value = 1;
        if (append(h, &h->buf, &h->len, &h->buf_cap, "", 0) < 0) return -1;
    }
    return append(h, &h->buf, &h->len, &h->buf_cap, p, n);
}

const char *px_head_name_at(const px_head *h, size_t i)
{
    return h->buf + h->name[i];
}

const char *px_head_value_at(const px_head *h, size_t i)
{
    return h->value[i] == (size_t)-1 ? "" : h->buf + h->value[i];
}

const char *px_head_get(const px_head *h, const char *name)
{
    for (size_t i = 0; i < h->n; i++)
        if (!strcasecmp(px_head_name_at(h, i), name)) return px_head_value_at(h, i);
    return NULL;
}

int px_head_has_token(const px_head *h, const char *name, const char *token)
{
    size_t tl = strlen(token);
    for (size_t i = 0; i < h->n; i++) {
        if (strcasecmp(px_head_name_at(h, i), name) != 0) continue;
        const char *v = px_head_value_at(h, i);
        while (*v) {
            while (*v == ' ' || *v == '\t' || *v == ',') v++;
            size_t l = strcspn(v, ",");
            size_t e = l;
            while (e && (v[e - 1] == ' ' || v[e - 1] == '\t')) e--;
            if (e == tl && !strncasecmp(v, token, tl)) return 1;
            v += l;
        }
    }
    return 0;
}

static int skipped(const char *name, const char *const *skip)
{
    for (; skip && *skip; skip++)
        if (!strcasecmp(name, *skip)) return 1;
    return 0;
}

void px_head_write_fields(const px_head *h, const char *const *skip, px_out_fn out, void *arg)
{
    for (size_t i = 0; i < h->n; i++) {
        const char *nm = px_head_name_at(h, i), *v = px_head_value_at(h, i);
        if (skipped(nm, skip)) continue;
        out(arg, nm, strlen(nm));
        out(arg, ": ", 2);
        out(arg, v, strlen(v));
        out(arg, "\r\n", 2);
    }
}

static void headers_out(const px_head *h, const char *const *skip, const char *extra,
                        px_out_fn out, void *arg)
{
    px_head_write_fields(h, skip, out, arg);
    if (extra) out(arg, extra, strlen(extra));
    out(arg, "\r\n", 2);
}

void px_head_write_request(const px_head *h, const char *method, const char *url,
                           unsigned major, unsigned minor, const char *const *skip,
                           const char *extra, px_out_fn out, void *arg)
{
    char line[32];
    out(arg, method, strlen(method));
    out(arg, " ", 1);
    out(arg, url, strlen(url));
    int n = snprintf(line, sizeof line, " HTTP/%u.%u\r\n", major, minor);
    out(arg, line, (size_t)n);
    headers_out(h, skip, extra, out, arg);
}

void px_head_write_response(const px_head *h, unsigned status, unsigned major, unsigned minor,
                            const char *const *skip, const char *extra, px_out_fn out,
                            void *arg)
{
    char line[48];
    int n = snprintf(line, sizeof line, "HTTP/%u.%u %03u ", major, minor, status);
    out(arg, line, (size_t)n);
    if (h->reason) out(arg, h->reason, h->reason_len);
    out(arg, "\r\n", 2);
    headers_out(h, skip, extra, out, arg);
}

int px_split_hostport(const char *s, size_t n, char *host, size_t hostcap, unsigned *port,
                      unsigned defport)
{
    size_t hl;
    const char *rest;
    if (n && s[0] == '[') {
        const char *e = memchr(s, ']', n);
        if (!e) return -1;
        hl = (size_t)(e - s - 1);
        s++;
        rest = e + 1;
        n -= hl + 2;
    } else {
        const char *c = memchr(s, ':', n);
        hl = c ? (size_t)(c - s) : n;
        rest = s + hl;
        n -= hl;
    }
    if (hl == 0 || hl + 1 > hostcap) return -1;
    for (size_t i = 0; i < hl; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (!(isalnum(ch) || ch == '.' || ch == '-' || ch == '_' || ch == ':')) return -1;
        host[i] = (char)tolower(ch);
    }
    host[hl] = 0;
    *port = defport;
    if (n) {
        if (rest[0] != ':' || n < 2 || n > 6) return -1;
        unsigned p = 0;
        for (size_t i = 1; i < n; i++) {
            if (!isdigit((unsigned char)rest[i])) return -1;
            p = p * 10 + (unsigned)(rest[i] - '0');
        }
        if (p == 0 || p > 65535) return -1;
        *port = p;
    }
    return 0;
}

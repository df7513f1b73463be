/* multipart/form-data (RFC 7578 subset) over whole buffers: the verifier's requests and the
 * split response. Parts are views into the body; every size is bounded. */
#define _GNU_SOURCE /* memmem: a linear-time search, so hostile bodies cannot make it quadratic */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/rand.h>

#include "verifier.h"

#define MAX_BOUNDARY 70 /* RFC 2046 */
#define MAX_PART_HEAD 1024

int vf_mp_boundary(const char *ctype, char *out, size_t cap)
{
    if (!ctype || strncasecmp(ctype, "multipart/", 10)) return ISEC_EFORMAT;
    const char *b = strcasestr(ctype, "boundary=");
    if (!b) return ISEC_EFORMAT;
    b += 9;
    int quoted = *b == '"';
    if (quoted) b++;
    size_t n = 0;
    while (b[n] && (quoted ? b[n] != '"' : (b[n] != ';' && b[n] != ' ' && b[n] != '\t'))) n++;
    if (quoted && b[n] != '"') return ISEC_EFORMAT;
    if (!n || n > MAX_BOUNDARY || n + 1 > cap) return ISEC_EFORMAT;
    memcpy(out, b, n);
    out[n] = 0;
    return 0;
}

/* name="..." from a Content-Disposition: form-data header inside the part's head. */
static int part_name(const uint8_t *h, size_t n, char *out, size_t cap)
{
    char buf[MAX_PART_HEAD + 1];
    memcpy(buf, h, n);
    buf[n] = 0;
    for (char *line = buf; line && *line;) {
        char *next = strstr(line, "\r\n");
        if (next) *next = 0, next += 2;
        if (!strncasecmp(line, "content-disposition:", 20)) {
            char *v = line + 20;
            while (*v == ' ' || *v == '\t') v++;
            if (strncasecmp(v, "form-data", 9)) return ISEC_EFORMAT;
            char *nm = strstr(v, "; name=\"");
            if (!nm) return ISEC_EFORMAT;
            nm += 8;
            char *end = strchr(nm, '"');
            size_t l = end ? (size_t)(end - nm) : 0;
            if (!end || !l || l >= cap) return ISEC_EFORMAT;
            for (size_t i = 0; i < l; i++)
                if (!isalnum((unsigned char)nm[i]) && nm[i] != '-' && nm[i] != '_') return ISEC_EFORMAT;
            memcpy(out, nm, l);
            out[l] = 0;
            return 0;
        }
        line = next;
    }
    return ISEC_EFORMAT;
}

int vf_mp_parse(const uint8_t *body, size_t len, const char *boundary, vf_part *parts, size_t *nparts)
{
    *nparts = 0;
    size_t bl = strlen(boundary);
    if (!bl || bl > MAX_BOUNDARY) return ISEC_EFORMAT;
    char delim[MAX_BOUNDARY + 5]; /* "\r\n--" boundary */
    memcpy(delim, "\r\n--", 4);
    memcpy(delim + 4, boundary, bl);
    size_t dl = bl + 4;
    /* The body starts with the first delimiter minus its CRLF (no preamble). */
    if (len < dl - 2 || memcmp(body, delim + 2, dl - 2)) return ISEC_EFORMAT;
    size_t pos = dl - 2;
    for (;;) {
        if (len - pos >= 2 && !memcmp(body + pos, "--", 2)) break; /* close delimiter */
        if (len - pos < 2 || memcmp(body + pos, "\r\n", 2)) return ISEC_EFORMAT;
        pos += 2;
        if (*nparts == VF_MAX_PARTS) return ISEC_ELIMIT;
        size_t hmax = len - pos < MAX_PART_HEAD + 4 ? len - pos : MAX_PART_HEAD + 4;
        const uint8_t *he = memmem(body + pos, hmax, "\r\n\r\n", 4);
        if (!he) return ISEC_EFORMAT;
        size_t hl = (size_t)(he - (body + pos));
        vf_part *p = &parts[*nparts];
        if (part_name(body + pos, hl, p->name, sizeof p->name)) return ISEC_EFORMAT;
        for (size_t i = 0; i < *nparts; i++)
            if (!strcmp(parts[i].name, p->name)) return ISEC_EFORMAT;
        pos += hl + 4;
        const uint8_t *d = memmem(body + pos, len - pos, delim, dl);
        if (!d) return ISEC_EFORMAT;
        p->data = body + pos;
        p->len = (size_t)(d - (body + pos));
        pos += p->len + dl;
        (*nparts)++;
    }
    /* After "--": optional CRLF, then nothing (an epilogue is allowed but ignored). */
    return *nparts ? 0 : ISEC_EFORMAT;
}

const vf_part *vf_mp_find(const vf_part *parts, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(parts[i].name, name)) return &parts[i];
    return NULL;
}

int vf_mp_build(const vf_part *parts, size_t n, const char *subtype, uint8_t **body, size_t *len,
                char ctype[128])
{
    uint8_t r[16];
    char bnd[48];
    if (RAND_bytes(r, sizeof r) != 1) return ISEC_ECRYPTO;
    memcpy(bnd, "imgsec-", 7);
    isec_hex(r, sizeof r, bnd + 7);
    size_t cap = 64;
    for (size_t i = 0; i < n; i++) {
        /* A random 128-bit boundary inside the data is a 2^-128 event; still, refuse it. */
        if (memmem(parts[i].data, parts[i].len, bnd, strlen(bnd))) return ISEC_EINVAL;
        cap += parts[i].len + strlen(parts[i].name) + 200;
    }
    uint8_t *b = malloc(cap);
    if (!b) return ISEC_ENOMEM;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        o += (size_t)snprintf((char *)b + o, cap - o,
                              "--%s\r\nContent-Disposition: form-data; name=\"%s\"\r\n"
                              "Content-Type: application/octet-stream\r\n\r\n",
                              bnd, parts[i].name);
        memcpy(b + o, parts[i].data, parts[i].len);
        o += parts[i].len;
        memcpy(b + o, "\r\n", 2);
        o += 2;
    }
    o += (size_t)snprintf((char *)b + o, cap - o, "--%s--\r\n", bnd);
    snprintf(ctype, 128, "multipart/%s; boundary=%s", subtype, bnd);
    *body = b;
    *len = o;
    return 0;
}

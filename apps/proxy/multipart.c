/* Streaming multipart splitter (RFC 2046 §5.1, as used by multipart/form-data and
 * multipart/related uploads). Every byte goes back to the caller exactly once and in order:
 * delimiters, part headers, preamble and epilogue as RAW, part contents as DATA between
 * PART_BEGIN and PART_END. The delimiter "\r\n--boundary" is found with a KMP automaton, so no
 * byte is ever buffered: the bytes of a partial match are the delimiter's own prefix, and are
 * handed back from it when the match fails. A part head longer than PX_MP_MAX_PART_HEAD stops the
 * splitting: the rest of the body is RAW.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proxy.h"

enum { M_PRE, M_AFTER, M_AFTER_DASH, M_LINE, M_HEAD, M_DATA, M_EPILOGUE, M_GIVEUP };

int px_multipart_init(px_multipart *m, const char *boundary, size_t blen, px_mp_fn cb, void *arg)
{
    memset(m, 0, sizeof *m);
    if (blen == 0 || blen > PX_MP_MAX_BOUNDARY) return -1;
    memcpy(m->delim, "\r\n--", 4);
    memcpy(m->delim + 4, boundary, blen);
    m->dlen = blen + 4;
    m->fail = malloc((m->dlen + 1) * sizeof *m->fail);
    if (!m->fail) return -1;
    /* fail[k]: longest proper border of delim[0..k) */
    m->fail[0] = 0;
    if (m->dlen) m->fail[1] = 0;
    for (size_t k = 2, b = 0; k <= m->dlen; k++) {
        while (b && m->delim[b] != m->delim[k - 1]) b = m->fail[b];
        if (m->delim[b] == m->delim[k - 1]) b++;
        m->fail[k] = b;
    }
    /* the body may open with the delimiter without its CRLF: act as if the CRLF was seen */
    m->match = 2;
    m->virt = 2;
    m->state = M_PRE;
    m->cb = cb;
    m->arg = arg;
    return 0;
}

void px_multipart_free(px_multipart *m)
{
    free(m->fail);
    m->fail = NULL;
}

static int give(px_multipart *m, int kind, const uint8_t *p, size_t n)
{
    if (!n && (kind == PX_MP_RAW || kind == PX_MP_DATA)) return 0;
    return m->cb(m->arg, kind, p, n);
}

/* Bytes that the automaton dropped from a partial match belong to what precedes it. */
static int give_text(px_multipart *m, const uint8_t *p, size_t n)
{
    return give(m, m->state == M_DATA ? PX_MP_DATA : PX_MP_RAW, p, n);
}

/* Hands back the first k held bytes (a prefix of delim), less the virtual CRLF. */
static int give_held(px_multipart *m, size_t k)
{
    size_t v = m->virt < k ? m->virt : k;
    m->virt -= v;
    return give_text(m, m->delim + v, k - v);
}

/* Searches for the delimiter in PRE and DATA states. Returns bytes consumed; sets *found.
 * Invariant: every byte before the current partial match has been handed back; the partial
 * match (m->match bytes, equal to delim's prefix) has not. */
static size_t search(px_multipart *m, const uint8_t *b, size_t n, int *found, int *rc)
{
    size_t i = 0, run = 0; /* b[run..i) is text not yet handed back (only while match == 0) */
    *found = 0;
    *rc = 0;
    while (i < n) {
        if (m->match == 0) {
            const uint8_t *cr = memchr(b + i, '\r', n - i);
            if (!cr) {
                i = n;
                break;
            }
            i = (size_t)(cr - b);
        }
        uint8_t c = b[i];
        size_t before = m->match;
        while (m->match && m->delim[m->match] != c) m->match = m->fail[m->match];
        if (m->delim[m->match] == c) m->match++;
        if (m->match == before + 1) { /* extended */
            if (before == 0) {
                if ((*rc = give_text(m, b + run, i - run)) < 0) return i;
            }
            run = i + 1;
        } else { /* (delim[0..before) + c) lost its first before + 1 - match bytes */
            size_t dropped = before + 1 - m->match;
            size_t from_delim = dropped < before ? dropped : before;
            if ((*rc = give_held(m, from_delim)) < 0) return i;
            run = m->match ? i + 1 : i; /* c is text if it did not stay in the match */
        }
        i++;
        if (m->match == m->dlen) {
            *found = 1;
            return i;
        }
    }
    if (m->match == 0 && (*rc = give_text(m, b + run, i - run)) < 0) return i;
    return i;
}

int px_multipart_push(px_multipart *m, const uint8_t *b, size_t n)
{
    int rc = 0;
    while (n) {
        switch (m->state) {
        case M_PRE:
        case M_DATA: {
            int found = 0;
            size_t used = search(m, b, n, &found, &rc);
            if (rc < 0) return rc;
            b += used;
            n -= used;
            if (found) {
                if (m->state == M_DATA && (rc = give(m, PX_MP_PART_END, NULL, 0)) < 0) return rc;
                /* a delimiter opening the body has no CRLF: hand back only what came */
                if ((rc = give(m, PX_MP_RAW, m->delim + m->virt, m->dlen - m->virt)) < 0) return rc;
                m->virt = 0;
                m->match = 0;
                m->state = M_AFTER;
            }
            break;
        }
        case M_AFTER:
            if (b[0] == '-') {
                m->state = M_AFTER_DASH;
            } else {
                m->state = M_LINE;
                continue;
            }
            if ((rc = give(m, PX_MP_RAW, b, 1)) < 0) return rc;
            b++;
            n--;
            break;
        case M_AFTER_DASH:
            m->state = b[0] == '-' ? M_EPILOGUE : M_LINE;
            if ((rc = give(m, PX_MP_RAW, b, 1)) < 0) return rc;
            b++;
            n--;
            break;
        case M_LINE: { /* transport padding up to the end of the delimiter line */
            const uint8_t *lf = memchr(b, '\n', n);
            size_t take = lf ? (size_t)(lf - b) + 1 : n;
            if ((rc = give(m, PX_MP_RAW, b, take)) < 0) return rc;
            b += take;
            n -= take;
            m->headbytes += take;
            if (lf) {
                m->state = M_HEAD;
                m->crlf = 2; /* "\r\n" of the delimiter line: an empty head ends at the next */
                m->headbytes = 0;
            } else if (m->headbytes > PX_MP_MAX_PART_HEAD) {
                m->state = M_GIVEUP;
            }
            break;
        }
        case M_HEAD: {
            size_t i = 0;
            for (; i < n && m->crlf < 4; i++) {
                uint8_t c = b[i];
                if (c == '\r') m->crlf = (m->crlf == 0 || m->crlf == 2) ? m->crlf + 1 : 1;
                else if (c == '\n') m->crlf = (m->crlf == 1 || m->crlf == 3) ? m->crlf + 1 : 0;
                else m->crlf = 0;
            }
            if ((rc = give(m, PX_MP_RAW, b, i)) < 0) return rc;
            b += i;
            n -= i;
            m->headbytes += i;
            if (m->crlf == 4) {
                m->state = M_DATA;
                m->match = 0;
                if ((rc = give(m, PX_MP_PART_BEGIN, NULL, 0)) < 0) return rc;
            } else if (m->headbytes > PX_MP_MAX_PART_HEAD) {
                m->state = M_GIVEUP;
            }
            break;
        }
        default:
            return give(m, PX_MP_RAW, b, n);
        }
    }
    return 0;
}

int px_multipart_end(px_multipart *m)
{
    int rc;
    if ((m->state == M_PRE || m->state == M_DATA) && m->match) {
        /* a partial delimiter at the very end is text */
        if ((rc = give_held(m, m->match)) < 0) return rc;
        m->match = 0;
    }
    if (m->state == M_DATA) return give(m, PX_MP_PART_END, NULL, 0);
    return 0;
}

int px_multipart_boundary(const char *ctype, char *out, size_t outcap)
{
    if (!ctype || strncasecmp(ctype, "multipart/", 10) != 0) return -1;
    const char *p = ctype;
    while ((p = strchr(p, ';')) != NULL) {
        p++;
        while (*p == ' ' || *p == '\t') p++;
        if (strncasecmp(p, "boundary=", 9) != 0) continue;
        p += 9;
        size_t n = 0;
        if (*p == '"') {
            p++;
            while (p[n] && p[n] != '"') n++;
            if (p[n] != '"') return -1;
        } else {
            while (p[n] && p[n] != ';' && p[n] != ' ' && p[n] != '\t') n++;
        }
        if (n == 0 || n > PX_MP_MAX_BOUNDARY || n + 1 > outcap) return -1;
        memcpy(out, p, n);
        out[n] = 0;
        return (int)n;
    }
    return -1;
}

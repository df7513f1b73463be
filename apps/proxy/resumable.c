/* Google's resumable upload protocol (X-Goog-Upload-Protocol: resumable) through the cipher.
 *
 * One file is sent in several requests ("pieces") of one upload session: `start` (the response
 * names the session in X-Goog-Upload-URL), then `upload` pieces at X-Goog-Upload-Offset, the last
 * one `upload, finalize` (or a bare `finalize`); `query` asks how much the server holds; `cancel`
 * ends it. The cipher state must run across pieces, so it lives here, per session, in a table
 * with a cap and a TTL.
 *
 * The cipher gives its output back up to ISEC_JPEG_MAX_HELD bytes (and, before it knows the index
 * key, ~1.06 MiB) after its input, so the end of a piece cannot be sent upstream with that piece.
 * The proxy therefore re-frames the upload: the upstream piece for a client piece carries the
 * ciphertext ready so far, rounded down to the server's chunk granularity, and the rest stays in
 * the session until a later piece; the `finalize` piece carries everything. Its length and
 * offset are known when its head is written (from the client's Content-Length and the cipher's
 * worst-case lag), so upstream pieces have a Content-Length too. Offsets and sizes that the
 * client sees are the client's own; the upstream's are translated (X-Goog-Upload-Size-Received).
 * A client piece that leaves nothing to send yet is answered by the proxy (200, status active).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <http_parser.h>

#include "proxy.h"

#define FIFO_MAX (8u * 1024u * 1024u)

int px_rs_command(const char *v)
{
    static const struct {
        const char *name;
        int bit;
    } cmds[] = {{"start", PX_RS_START},
                {"upload", PX_RS_UPLOAD},
                {"finalize", PX_RS_FINALIZE},
                {"query", PX_RS_QUERY},
                {"cancel", PX_RS_CANCEL}};
    int mask = 0;
    if (!v) return 0;
    while (*v) {
        while (*v == ' ' || *v == '\t' || *v == ',')
            v++;
        size_t l = strcspn(v, ",");
        size_t e = l;
        while (e && (v[e - 1] == ' ' || v[e - 1] == '\t'))
            e--;
        if (e) {
            int bit = 0;
            for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
                if (strlen(cmds[i].name) == e && !strncasecmp(v, cmds[i].name, e))
                    bit = cmds[i].bit;
            if (!bit) return -1;
            mask |= bit;
        }
        v += l;
    }
    /* meaningful combinations only: start | query | cancel | upload[, finalize] | finalize */
    if (mask & (PX_RS_START | PX_RS_QUERY | PX_RS_CANCEL)) {
        if (mask != PX_RS_START && mask != PX_RS_QUERY && mask != PX_RS_CANCEL) return -1;
    }
    return mask;
}

int px_rs_offset(const char *v, uint64_t *out)
{
    if (!v) return -1;
    while (*v == ' ' || *v == '\t')
        v++;
    if (*v < '0' || *v > '9') return -1;
    uint64_t x = 0;
    for (; *v >= '0' && *v <= '9'; v++) {
        if (x > (UINT64_MAX - 9) / 10) return -1;
        x = x * 10 + (uint64_t)(*v - '0');
    }
    while (*v == ' ' || *v == '\t')
        v++;
    if (*v) return -1;
    *out = x;
    return 0;
}

/* The value of upload_id=... in a query string, or NULL. */
static const char *find_upload_id(const char *q, size_t qn, size_t *len)
{
    size_t i = 0;
    while (i < qn) {
        size_t e = i;
        while (e < qn && q[e] != '&')
            e++;
        if (e - i > 10 && !strncmp(q + i, "upload_id=", 10)) {
            *len = e - i - 10;
            return q + i + 10;
        }
        i = e + 1;
    }
    return NULL;
}

int px_rs_session_id(const char *host, const char *target, char *out, size_t cap)
{
    if (!host || !target) return -1;
    const char *path = target;
    char hostbuf[256];
    struct http_parser_url u;
    http_parser_url_init(&u);
    if (target[0] != '/') { /* absolute URL (X-Goog-Upload-URL, or a plain-HTTP proxy request) */
        if (http_parser_parse_url(target, strlen(target), 0, &u) != 0 ||
            !(u.field_set & (1 << UF_HOST)))
            return -1;
        size_t hl = u.field_data[UF_HOST].len;
        if (hl >= sizeof hostbuf) return -1;
        memcpy(hostbuf, target + u.field_data[UF_HOST].off, hl);
        hostbuf[hl] = 0;
        host = hostbuf;
        path = (u.field_set & (1 << UF_PATH)) ? target + u.field_data[UF_PATH].off : "/";
    }
    if (host != hostbuf) { /* a Host header: without its port, as in a URL's host field */
        size_t hl = strlen(host);
        if (host[0] == '[') {
            const char *e = strchr(host, ']');
            hl = e ? (size_t)(e - host - 1) : hl;
            host++;
        } else if (strchr(host, ':') == strrchr(host, ':') && strchr(host, ':')) {
            hl = (size_t)(strchr(host, ':') - host);
        }
        if (hl >= sizeof hostbuf) return -1;
        memcpy(hostbuf, host, hl);
        hostbuf[hl] = 0;
        host = hostbuf;
    }
    const char *q = strchr(path, '?');
    size_t idl = 0;
    const char *id = q ? find_upload_id(q + 1, strcspn(q + 1, "#"), &idl) : NULL;
    int n;
    if (id && idl) {
        n = snprintf(out, cap, "id:%.*s", (int)idl, id);
    } else {
        size_t pl = strcspn(path, "#");
        n = snprintf(out, cap, "url:%s%.*s", host, (int)pl, path);
        for (char *p = out + 4; *p && p < out + 4 + strlen(host); p++)
            if (*p >= 'A' && *p <= 'Z') *p = (char)(*p + 32);
    }
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/* ---------------------------------------------------------------- the table */

void px_rs_table_init(px_rstable *t, unsigned cap, unsigned ttl_s)
{
    memset(t, 0, sizeof *t);
    t->cap = cap;
    t->ttl_s = ttl_s;
}

static void sess_free(px_rsess *s)
{
    if (s->js_on) px_jstream_free(&s->js);
    free(s->fifo);
    free(s);
}

void px_rs_drop(px_rstable *t, px_rsess *s)
{
    if (!s) return;
    for (px_rsess **pp = &t->head; *pp; pp = &(*pp)->next)
        if (*pp == s) {
            *pp = s->next;
            t->n--;
            break;
        }
    sess_free(s);
}

unsigned px_rs_purge(px_rstable *t, time_t now)
{
    unsigned gone = 0;
    px_rsess **pp = &t->head;
    while (*pp) {
        px_rsess *s = *pp;
        if (!s->busy && now - s->last > (time_t)t->ttl_s) {
            *pp = s->next;
            t->n--;
            sess_free(s);
            gone++;
        } else {
            pp = &s->next;
        }
    }
    return gone;
}

void px_rs_table_free(px_rstable *t)
{
    while (t->head) {
        px_rsess *s = t->head;
        t->head = s->next;
        sess_free(s);
    }
    t->n = 0;
}

px_rsess *px_rs_find(px_rstable *t, const char *id, time_t now)
{
    px_rs_purge(t, now);
    for (px_rsess *s = t->head; s; s = s->next)
        if (s->id[0] && !strcmp(s->id, id)) return s;
    return NULL;
}

int px_rs_new(px_rstable *t, const char *id, time_t now, px_rsess **out)
{
    px_rs_purge(t, now);
    if (t->n >= t->cap) return -1;
    px_rsess *s = calloc(1, sizeof *s);
    if (!s) return -1;
    if (id) snprintf(s->id, sizeof s->id, "%s", id);
    s->last = now;
    s->gran = PX_RS_DEFAULT_GRAN;
    s->next = t->head;
    t->head = s;
    t->n++;
    *out = s;
    return 0;
}

void px_rs_set_id(px_rstable *t, px_rsess *s, const char *id)
{
    for (px_rsess *o = t->head; o; o = o->next)
        if (o != s && !o->busy && o->id[0] && !strcmp(o->id, id)) {
            px_rs_drop(t, o);
            break;
        }
    snprintf(s->id, sizeof s->id, "%s", id);
}

/* ---------------------------------------------------------------- pieces */

static void send_up(px_rsess *s, const uint8_t *p, size_t n)
{
    if (!n) return;
    if (s->emit) s->emit(s->emit_arg, p, n);
    s->piece_sent += n;
}

/* Room left in the upstream piece. Its last byte waits until the client's piece is complete:
 * the server answers when it has the whole upstream piece, and that answer must not overtake the
 * client's request (which would cut it short). */
static uint64_t piece_room(const px_rsess *s)
{
    uint64_t r = s->piece_out - s->piece_sent;
    return r && !s->piece_complete ? r - 1 : r;
}

/* Cipher output: straight upstream while the piece has room, the rest kept in order. */
static void js_out(void *arg, const uint8_t *p, size_t n)
{
    px_rsess *s = arg;
    s->out_total += n;
    if (!s->fifo_len) {
        uint64_t room = piece_room(s);
        size_t now = room < n ? (size_t)room : n;
        send_up(s, p, now);
        p += now;
        n -= now;
    }
    if (!n || s->failed) return;
    if (s->fifo_off + s->fifo_len + n > s->fifo_cap) {
        if (s->fifo_len) memmove(s->fifo, s->fifo + s->fifo_off, s->fifo_len);
        s->fifo_off = 0;
        if (s->fifo_len + n > s->fifo_cap) {
            size_t cap = s->fifo_cap ? s->fifo_cap : 256 * 1024;
            while (cap < s->fifo_len + n)
                cap *= 2;
            uint8_t *nb = cap <= FIFO_MAX ? realloc(s->fifo, cap) : NULL;
            if (!nb) {
                s->failed = 1;
                return;
            }
            s->fifo = nb;
            s->fifo_cap = cap;
        }
    }
    memcpy(s->fifo + s->fifo_off + s->fifo_len, p, n);
    s->fifo_len += n;
}

static void fifo_drain(px_rsess *s)
{
    if (!s->fifo_len) return;
    uint64_t room = piece_room(s);
    size_t now = room < s->fifo_len ? (size_t)room : s->fifo_len;
    send_up(s, s->fifo + s->fifo_off, now);
    s->fifo_off += now;
    s->fifo_len -= now;
    if (!s->fifo_len) s->fifo_off = 0;
}

/* How far behind its input the JPEG stream's output may be at the end of any later piece. */
static uint64_t lag_bound(const px_rsess *s)
{
    if (s->js_on && s->js.phase == PX_J_PASS) return 0;
    if (s->js_on && s->js.phase == PX_J_CRYPT) return ISEC_JPEG_MAX_HELD;
    uint64_t pre = (uint64_t)PX_PREFIX_MAX + PX_PREFIX_AFTER_SOS + 1;
    return pre > ISEC_JPEG_MAX_HELD ? pre : ISEC_JPEG_MAX_HELD;
}

int px_rs_piece_begin(px_rsess *s, const px_jstream_cfg *jc, uint64_t offset, uint64_t len,
                      int finalize, px_rs_plan *plan)
{
    if (s->busy || s->broken || s->failed || offset != s->in_total) return -1;
    if (!s->js_on) {
        px_jstream_cfg c = *jc;
        c.emit = js_out;
        c.emit_arg = s;
        c.expect_len = -1;
        px_jstream_init(&s->js, &c);
        s->js_on = 1;
    }
    uint64_t in_after = s->in_total + len;
    uint64_t out_total;
    if (finalize) {
        out_total = in_after;
    } else {
        uint64_t lag = lag_bound(s);
        out_total = in_after > lag ? in_after - lag : 0;
        out_total -= out_total % s->gran;
    }
    if (out_total < s->sent) out_total = s->sent;
    s->busy = 1;
    s->in_base = s->in_total;
    s->piece_in = len;
    s->piece_taken = 0;
    s->piece_final = finalize;
    s->piece_complete = 0;
    s->piece_out = out_total - s->sent;
    s->piece_sent = 0;
    plan->up_offset = s->sent;
    plan->up_len = s->piece_out;
    plan->local = !finalize && s->piece_out == 0;
    return 0;
}

void px_rs_piece_attach(px_rsess *s, px_emit_fn emit, void *arg)
{
    s->emit = emit;
    s->emit_arg = arg;
    if (s->busy && emit) fifo_drain(s); /* carried over from earlier pieces */
}

int px_rs_piece_push(px_rsess *s, const uint8_t *p, size_t n)
{
    if (!s->busy || s->failed || n > s->piece_in - s->piece_taken) return -1;
    s->piece_taken += n;
    s->in_total += n;
    if (px_jstream_push(&s->js, p, n) < 0 || s->failed) {
        s->failed = 1;
        return -1;
    }
    fifo_drain(s);
    return 0;
}

int px_rs_piece_end(px_rsess *s)
{
    if (!s->busy || s->failed || s->piece_taken != s->piece_in) {
        s->failed = 1;
        return -1;
    }
    s->piece_complete = 1;
    /* a cipher thread may still hold queued input: bring the lag back within lag_bound() */
    if (!s->piece_final && px_jstream_sync(&s->js) < 0) {
        s->failed = 1;
        return -1;
    }
    if (s->piece_final) {
        int rc = px_jstream_end(&s->js);
        s->is_jpeg = s->js.is_jpeg;
        s->media = s->is_jpeg ? NULL : px_media_kind(s->js.first, s->js.nfirst);
        s->crypted = s->js.crypted && !s->js.refused && rc == 0;
        s->refused = s->js.refused;
        if (rc < 0) {
            s->failed = 1;
            return -1;
        }
    }
    fifo_drain(s);
    if (s->piece_sent != s->piece_out) {
        s->failed = 1;
        return -1;
    }
    return 0;
}

const char *px_rs_detail(const px_rsess *s)
{
    if (s->js_on && s->js.detail[0]) return s->js.detail;
    return s->failed ? "the re-framed upload went out of step" : "";
}

int px_rs_refusal(const px_rsess *s)
{
    if (!s->js_on || !s->js.failed) return 0;
    return s->js.refused_other ? PX_REFUSED_OTHER : s->js.refused ? PX_REFUSED_JPEG : 0;
}

void px_rs_piece_done(px_rsess *s, int ok, time_t now)
{
    if (!s->busy) return;
    s->busy = 0;
    s->emit = NULL;
    s->emit_arg = NULL;
    s->last = now;
    if (ok && !s->failed) {
        s->sent += s->piece_out;
    } else {
        /* some of the piece may have gone up, some not; the cipher has moved on: no resuming */
        s->broken = 1;
    }
    s->piece_in = s->piece_taken = s->piece_out = s->piece_sent = 0;
}

uint64_t px_rs_held(const px_rsess *s)
{
    return s->in_total - s->sent;
}

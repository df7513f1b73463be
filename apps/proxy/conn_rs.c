/* Google resumable uploads on a connection: what a request with X-Goog-Upload-Command does to
 * the session table of resumable.c (start reserves a session, pieces run through its cipher and
 * are re-framed, query and its answer are translated, cancel forgets), and what the answers do
 * back (docs/proxy.md, "Resumable uploads").
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "conn.h"

void px_conn_rs_release(struct conn *c)
{
    if (c->rs || c->rs_start) {
        px_rs_lock(c->s);
        if (c->rs && c->rs->busy) px_rs_piece_done(c->rs, 0, time(NULL));
        if (c->rs_start) px_rs_drop(&c->s->sh->rs, c->rs_start);
        px_rs_unlock(c->s);
    }
    c->rs = NULL;
    c->rs_start = NULL;
    c->rs_qid[0] = 0;
}

static int rs_ix_get(void *arg, const uint8_t key[PX_DIGEST], uint64_t *len,
                     uint8_t view[PX_DIGEST])
{
    px_server *s = arg;
    return s->ix ? px_index_get(s->ix, key, len, view) : 0;
}

static int rs_ix_put(void *arg, const uint8_t key[PX_DIGEST], uint64_t plen, uint64_t tlen,
                     const uint8_t view[PX_DIGEST])
{
    px_server *s = arg;
    return s->ix ? px_index_put(s->ix, key, plen, tlen, view, "resumable") : 0;
}

static int rs_request(struct conn *c, http_parser *p, const char *path, char *extra, size_t cap)
{
    const char *cv = px_head_get(&c->reqh, "X-Goog-Upload-Command");
    if (!cv) return RS_NONE;
    int cmd = px_rs_command(cv);
    if (cmd < 0) {
        px_conn_reply(c, 400, "Bad Request", "imgsec proxy: unknown X-Goog-Upload-Command '%.64s'",
                      cv);
        return RS_FAIL;
    }
    if (!cmd) return RS_NONE;
    c->rs_cmd = cmd;
    px_rstable *t = &c->s->sh->rs;
    time_t now = time(NULL);
    if (cmd == PX_RS_START) {
        if (px_rs_new(t, NULL, now, &c->rs_start) < 0) {
            px_conn_reply_x(c, 503, "Service Unavailable", "Retry-After: 5\r\n",
                            "imgsec proxy: %u resumable uploads in progress (upload-sessions)",
                            t->cap);
            return RS_FAIL;
        }
        c->rs_start->busy = 1; /* reserved until the answer names it */
        snprintf(c->rs_note, sizeof c->rs_note, " resumable=start");
        return RS_PASS;
    }
    char id[512];
    if (px_rs_session_id(c->rhost, path, id, sizeof id) < 0) {
        px_conn_reply(c, 400, "Bad Request", "imgsec proxy: cannot tell the upload session");
        return RS_FAIL;
    }
    px_rsess *s = px_rs_find(t, id, now);
    static const char gone[] = "X-Goog-Upload-Status: cancelled\r\n";
    if (cmd == PX_RS_CANCEL) {
        if (s && !s->busy)
            px_rs_drop(t, s);
        else if (s)
            s->broken = 1;
        snprintf(c->rs_note, sizeof c->rs_note, " resumable=cancel");
        return RS_PASS;
    }
    if (!s && (cmd == PX_RS_QUERY || cmd == PX_RS_FINALIZE)) {
        px_conn_reply_x(
            c, 410, "Gone", gone,
            "imgsec proxy: this upload session is not (or no longer) known to the proxy "
            "(restarted, expired or evicted); start the upload again");
        return RS_FAIL;
    }
    if (cmd == PX_RS_QUERY) {
        if (s->broken) {
            px_conn_reply_x(c, 410, "Gone", gone,
                            "imgsec proxy: a piece of this upload failed; start the upload again");
            return RS_FAIL;
        }
        snprintf(c->rs_qid, sizeof c->rs_qid, "%s", id);
        snprintf(c->rs_note, sizeof c->rs_note, " resumable=query");
        return RS_PASS;
    }
    /* upload [, finalize] or a bare finalize: a piece */
    uint64_t off = s ? (s->busy ? s->in_base : s->in_total) : 0;
    const char *ov = px_head_get(&c->reqh, "X-Goog-Upload-Offset");
    if (ov ? px_rs_offset(ov, &off) < 0 : cmd != PX_RS_FINALIZE) {
        px_conn_reply(c, 400, "Bad Request",
                      "imgsec proxy: upload piece without a valid "
                      "X-Goog-Upload-Offset");
        return RS_FAIL;
    }
    if (p->flags & F_CHUNKED) {
        px_conn_reply(c, 411, "Length Required",
                      "imgsec proxy: resumable upload pieces need a "
                      "Content-Length");
        return RS_FAIL;
    }
    uint64_t len = p->content_length == ULLONG_MAX ? 0 : p->content_length;
    if (!s) {
        if (off != 0) {
            px_conn_reply_x(c, 410, "Gone", gone,
                            "imgsec proxy: this upload session is not (or no longer) known to the "
                            "proxy (restarted, expired or evicted); start the upload again");
            return RS_FAIL;
        }
        if (px_rs_new(t, id, now, &s) < 0) {
            px_conn_reply_x(c, 503, "Service Unavailable", "Retry-After: 5\r\n",
                            "imgsec proxy: %u resumable uploads in progress (upload-sessions)",
                            t->cap);
            return RS_FAIL;
        }
    }
    if (s->broken) {
        px_conn_reply_x(c, 410, "Gone", gone,
                        "imgsec proxy: a piece of this upload failed; start the upload again");
        return RS_FAIL;
    }
    if (s->busy || off != s->in_total) {
        /* a busy session's in_total is its streaming owner's (another thread): not read here */
        unsigned long long expect = s->busy ? s->in_base : s->in_total;
        char x[160];
        snprintf(x, sizeof x,
                 "X-Goog-Upload-Status: active\r\nX-Goog-Upload-Size-Received: %llu\r\n", expect);
        px_conn_reply_x(c, 409, "Conflict", x,
                        s->busy
                            ? "imgsec proxy: another piece of this upload is on its way"
                            : "imgsec proxy: piece at offset %llu, expected %llu (only the next "
                              "piece in order can be encrypted)",
                        (unsigned long long)off, expect);
        return RS_FAIL;
    }
    px_jstream_cfg jc = {
        .dir = PX_DIR_REQUEST,
        .key = c->s->key,
        .ix = {rs_ix_get, rs_ix_put, c->s},
        .refuse = c->s->cfg.refuse_unencryptable,
        .refuse_other = c->s->cfg.refuse_other_media,
        .expect_len = -1,
    };
    px_rs_plan plan;
    if (px_rs_piece_begin(s, &jc, off, len, (cmd & PX_RS_FINALIZE) != 0, &plan) < 0) {
        px_conn_reply(c, 500, "Internal Server Error", "imgsec proxy: upload session out of step");
        return RS_FAIL;
    }
    c->rs = s;
    snprintf(c->rs_note, sizeof c->rs_note,
             " resumable=%s off=%llu len=%llu up_off=%llu up_len=%llu",
             plan.local               ? "held"
             : (cmd & PX_RS_FINALIZE) ? "final"
                                      : "piece",
             (unsigned long long)off, (unsigned long long)len, (unsigned long long)plan.up_offset,
             (unsigned long long)plan.up_len);
    if (plan.local) return RS_LOCAL;
    snprintf(extra, cap, "Content-Length: %llu\r\nX-Goog-Upload-Offset: %llu\r\n%s",
             (unsigned long long)plan.up_len, (unsigned long long)plan.up_offset,
             cmd == PX_RS_FINALIZE ? "X-Goog-Upload-Command: upload, finalize\r\n" : "");
    return RS_REWRITE;
}

static int rs_response(struct conn *c, http_parser *p, char *extra, size_t cap)
{
    px_rstable *t = &c->s->sh->rs;
    int ok = p->status_code / 100 == 2;
    if (c->rs_start) {
        px_rsess *s = c->rs_start;
        c->rs_start = NULL;
        s->busy = 0;
        s->last = time(NULL);
        const char *u = px_head_get(&c->resh, "X-Goog-Upload-URL");
        char id[512];
        if (!ok || !u || px_rs_session_id(c->rhost, u, id, sizeof id) < 0) {
            px_rs_drop(t, s);
            return 0;
        }
        px_rs_set_id(t, s, id);
        uint64_t g;
        const char *gv = px_head_get(&c->resh, "X-Goog-Upload-Chunk-Granularity");
        if (gv && px_rs_offset(gv, &g) == 0) {
            if (g == 0 || g > PX_RS_MAX_GRAN)
                s->broken = 1; /* cannot hold that much: refused */
            else
                s->gran = g;
        }
        return 0;
    }
    const char *sv = px_head_get(&c->resh, "X-Goog-Upload-Size-Received");
    uint64_t got = 0;
    int have = sv && px_rs_offset(sv, &got) == 0;
    if (c->rs_cmd == PX_RS_QUERY && c->rs_qid[0]) {
        px_rsess *s = px_rs_find(t, c->rs_qid, time(NULL));
        c->rs_qid[0] = 0;
        if (!s || !have || !ok || s->busy) return 0;
        if (got != s->sent) { /* the server holds other bytes than were sent: cannot go on */
            s->broken = 1;
            px_conn_reply_x(c, 410, "Gone", "X-Goog-Upload-Status: cancelled\r\n",
                            "imgsec proxy: the server holds %llu bytes of this upload, the proxy "
                            "sent %llu; start the upload again",
                            (unsigned long long)got, (unsigned long long)s->sent);
            c->resp_replaced = 1;
            return 0;
        }
        snprintf(extra, cap, "X-Goog-Upload-Size-Received: %llu\r\n",
                 (unsigned long long)s->in_total);
        return 1;
    }
    if (!c->rs) return 0;
    px_rsess *s = c->rs;
    c->rs = NULL;
    px_rs_piece_done(s, ok, time(NULL));
    const char *st = px_head_get(&c->resh, "X-Goog-Upload-Status");
    int translated = 0;
    if (have && ok) {
        snprintf(extra, cap, "X-Goog-Upload-Size-Received: %llu\r\n",
                 (unsigned long long)(got + px_rs_held(s)));
        translated = 1;
    }
    if (ok && ((c->rs_cmd & PX_RS_FINALIZE) || (st && !strcasecmp(st, "final")))) {
        c->rs_enc = s->crypted ? 1 : 0;
        if (s->refused)
            snprintf(c->rs_note + strlen(c->rs_note), sizeof c->rs_note - strlen(c->rs_note),
                     " warning=\"JPEG sent as it was\"");
        else if (s->media)
            snprintf(c->rs_note + strlen(c->rs_note), sizeof c->rs_note - strlen(c->rs_note),
                     " warning=\"not encrypted: a %s (the proxy encrypts JPEG only)\"", s->media);
        px_rs_drop(t, s);
    }
    return translated;
}

/* The session table is shared by the worker threads: these run under its lock (server.h). */
int px_conn_rs_request(struct conn *c, http_parser *p, const char *path, char *extra, size_t cap)
{
    px_rs_lock(c->s);
    int rc = rs_request(c, p, path, extra, cap);
    px_rs_unlock(c->s);
    return rc;
}

int px_conn_rs_response(struct conn *c, http_parser *p, char *extra, size_t cap)
{
    px_rs_lock(c->s);
    int rc = rs_response(c, p, extra, cap);
    px_rs_unlock(c->s);
    return rc;
}

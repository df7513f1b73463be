/* Upstream TLS sessions kept for resumption, so that a phone's many CONNECTs to one photo host
 * do not each cost the proxy a full handshake (key exchange, certificate chain verification,
 * and a round trip more with TLS 1.2).
 *
 * One small table per upstream SSL_CTX, hung on it as ex_data: a SIGHUP builds a new context
 * from the new configuration and trust store, and with it an empty table, so no session made
 * under the old trust is resumed under the new. The worker threads share the context (by
 * reference) and so the table, under its mutex. Keyed by "host:port" as the client named it,
 * the name the certificate was verified against when the session was made: a session is only
 * ever offered to the name it was verified for. OpenSSL hands over a session once the handshake
 * succeeded (TLS 1.2) or a ticket arrived after it (TLS 1.3), so only verified sessions get
 * here; a resumed connection keeps its session's verification result. A session is taken out
 * when it is used (TLS 1.3 tickets are meant for one use; the server sends new ones) and the
 * newest session of a name replaces the older; when the table is full the least recently stored
 * goes. A session older than UPSESS_MAX_AGE (or than its own lifetime) is not offered: the
 * system's trust store can change without a SIGHUP, and a resumed session is not verified
 * again. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server.h"

#define UPSESS_MAX 256
#define UPSESS_MAX_AGE 3600 /* seconds */

struct upsess_ent {
    char key[PX_UPSESS_KEY];
    SSL_SESSION *sess;
    uint64_t seq; /* when it was stored: the smallest goes first */
};

struct upsess {
    pthread_mutex_t mu;
    unsigned n;
    uint64_t seq;
    struct upsess_ent e[UPSESS_MAX];
};

static int ctx_idx = -1, ssl_idx = -1;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void free_table(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
    (void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
    struct upsess *t = ptr;
    if (!t) return;
    for (unsigned i = 0; i < t->n; i++) SSL_SESSION_free(t->e[i].sess);
    pthread_mutex_destroy(&t->mu);
    free(t);
}

static void free_key(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
    (void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
    free(ptr);
}

static void init_indexes(void)
{
    ctx_idx = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, free_table);
    ssl_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, free_key);
}

static struct upsess *table_of(SSL_CTX *ctx)
{
    return ctx_idx < 0 ? NULL : SSL_CTX_get_ex_data(ctx, ctx_idx);
}

/* Index of key in t, or -1 (under t->mu). */
static int find(const struct upsess *t, const char *key)
{
    for (unsigned i = 0; i < t->n; i++)
        if (!strcmp(t->e[i].key, key)) return (int)i;
    return -1;
}

/* Takes entry i out of t (under t->mu); its reference goes to the caller. */
static SSL_SESSION *take(struct upsess *t, unsigned i)
{
    SSL_SESSION *sess = t->e[i].sess;
    t->e[i] = t->e[--t->n];
    return sess;
}

static void drop(struct upsess *t, unsigned i)
{
    SSL_SESSION_free(take(t, i));
}

/* OpenSSL's new-session callback: 1 keeps the reference it passes. */
static int new_session(SSL *ssl, SSL_SESSION *sess)
{
    const char *key = ssl_idx < 0 ? NULL : SSL_get_ex_data(ssl, ssl_idx);
    struct upsess *t = table_of(SSL_get_SSL_CTX(ssl));
    if (!key || !t || !SSL_SESSION_is_resumable(sess)) return 0;
    pthread_mutex_lock(&t->mu);
    int i = find(t, key);
    if (i >= 0) drop(t, (unsigned)i);
    if (t->n == UPSESS_MAX) {
        unsigned old = 0;
        for (unsigned k = 1; k < t->n; k++)
            if (t->e[k].seq < t->e[old].seq) old = k;
        drop(t, old);
    }
    struct upsess_ent *e = &t->e[t->n++];
    snprintf(e->key, sizeof e->key, "%s", key);
    e->sess = sess;
    e->seq = ++t->seq;
    pthread_mutex_unlock(&t->mu);
    return 1;
}

int px_upsess_setup(SSL_CTX *ctx)
{
    pthread_once(&once, init_indexes);
    if (ctx_idx < 0 || ssl_idx < 0) return -1;
    struct upsess *t = calloc(1, sizeof *t);
    if (!t) return -1;
    pthread_mutex_init(&t->mu, NULL);
    if (!SSL_CTX_set_ex_data(ctx, ctx_idx, t)) {
        free_table(NULL, t, NULL, 0, 0, NULL);
        return -1;
    }
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(ctx, new_session);
    return 0;
}

int px_upsess_attach(SSL *ssl, const char *host, unsigned port)
{
    struct upsess *t = table_of(SSL_get_SSL_CTX(ssl));
    if (!t) return 0;
    char *key = malloc(PX_UPSESS_KEY);
    if (!key) return -1;
    int n = snprintf(key, PX_UPSESS_KEY, "%s:%u", host, port);
    if (n < 0 || n >= PX_UPSESS_KEY || !SSL_set_ex_data(ssl, ssl_idx, key)) {
        free(key);
        return n >= PX_UPSESS_KEY ? 0 : -1; /* a name too long to key is never resumed */
    }
    SSL_SESSION *sess = NULL;
    pthread_mutex_lock(&t->mu);
    int i = find(t, key);
    if (i >= 0) sess = take(t, (unsigned)i);
    pthread_mutex_unlock(&t->mu);
    if (!sess) return 0;
    long age = (long)time(NULL) - (long)SSL_SESSION_get_time(sess);
    long life = SSL_SESSION_get_timeout(sess);
    if (age < 0 || age >= UPSESS_MAX_AGE || age >= life) {
        SSL_SESSION_free(sess);
        return 0;
    }
    int rc = SSL_set_session(ssl, sess); /* takes its own reference */
    SSL_SESSION_free(sess);
    return rc == 1 ? 1 : 0;
}

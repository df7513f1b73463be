/* The cipher's second thread (isec_jpeg_set_threads(c, 2)): the walker thread classifies bits
 * and hands each finished chunk over; this worker does everything that follows classification
 * and must happen in stream order: the FSP masks, the invariant view and its running SHA-256,
 * the ChaCha20 keystream, the XOR, and writing the chunk's output bytes.
 *
 * Ownership while a pipe runs: the worker alone touches c->hash, c->tmphash, c->cipher and the
 * output bytes of the chunks it was given; the walker reserves those output ranges (so its own
 * pass-through bytes land beside them) and never reads the hash without draining first. Every
 * update()/final() drains before it returns, so callers see whole output as before, and the
 * output is identical byte for byte to the single-threaded walk. Hand-over is a ring of SLOTS
 * slots of fixed size: memory stays bounded (about 0.5 MB) whatever the image size. */
#include <pthread.h>
#include <stdlib.h>

#include "internal.h"

#define SLOTS 4
#define SLOTBYTES (5u * CHUNK) /* a chunk's raw, isdata, data, vm and xm */

enum { OP_ABSORB, OP_CHUNK };

struct slot {
    int op;
    uint32_t nraw, ndata;
    uint8_t *dest;            /* OP_CHUNK: where its nraw output bytes go */
    isec_jpeg_scan *scaninfo; /* OP_CHUNK: counts of eligible bits go there too */
    uint8_t *buf;             /* OP_ABSORB: nraw bytes; OP_CHUNK: raw|isdata|data|vm|xm */
};

struct isec__pipe {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t more, room; /* more: a slot was filled or quit; room: a slot was freed */
    struct slot slot[SLOTS];
    uint64_t head, tail; /* slots [head, tail) are waiting or in work */
    int quit, rc;
    uint8_t *scratch; /* worker's: invariant view, em, keystream */
    uint64_t ebytes, ebits; /* eligible counts done by the worker, added to info on drain */
};

static int hash_chunk(isec_jpeg *c, struct isec__pipe *p, struct slot *s)
{
    uint32_t nraw = s->nraw, ndata = s->ndata;
    const uint8_t *raw = s->buf, *isdata = raw + CHUNK;
    uint8_t *data = s->buf + 2 * CHUNK;
    const uint8_t *vm = data + CHUNK, *xm = vm + CHUNK;
    uint8_t *view = p->scratch, *em = view + CHUNK, *ks = em + CHUNK, *inv = ks + CHUNK;
    uint64_t ebytes = 0, ebits = 0;
    isec__chunk_masks(data, vm, xm, ndata, em, inv, &ebytes, &ebits);
    isec__to_raw(view, inv, raw, isdata, nraw);
    uint8_t dg[32], iv[16] = {0};
    unsigned int dlen = 0;
    int outl = 0;
    if (EVP_DigestUpdate(c->hash, view, nraw) != 1 ||
        EVP_MD_CTX_copy_ex(c->tmphash, c->hash) != 1 ||
        EVP_DigestFinal_ex(c->tmphash, dg, &dlen) != 1)
        return ISEC_ECRYPTO;
    memcpy(iv + 4, dg, 12); /* as in walker.c's flush_chunk: the format is the same */
    memset(ks, 0, ndata);
    if (EVP_EncryptInit_ex(c->cipher, NULL, NULL, c->key, iv) != 1 ||
        EVP_EncryptUpdate(c->cipher, ks, &outl, ks, (int)ndata) != 1)
        return ISEC_ECRYPTO;
    for (uint32_t k = 0; k < ndata; k++) data[k] = (uint8_t)(data[k] ^ (ks[k] & em[k]));
    isec__to_raw(s->dest, data, raw, isdata, nraw);
    s->scaninfo->eligible_bytes += ebytes;
    s->scaninfo->eligible_bits += ebits;
    p->ebytes += ebytes;
    p->ebits += ebits;
    return 0;
}

static void *worker(void *arg)
{
    isec_jpeg *c = arg;
    struct isec__pipe *p = c->pipe;
    for (;;) {
        pthread_mutex_lock(&p->lock);
        while (p->head == p->tail && !p->quit) pthread_cond_wait(&p->more, &p->lock);
        if (p->head == p->tail) { /* quit, and nothing left */
            pthread_mutex_unlock(&p->lock);
            return NULL;
        }
        struct slot *s = &p->slot[p->head % SLOTS];
        int failed = p->rc < 0;
        pthread_mutex_unlock(&p->lock);
        int rc = 0;
        if (!failed) {
            if (s->op == OP_ABSORB)
                rc = EVP_DigestUpdate(c->hash, s->buf, s->nraw) == 1 ? 0 : ISEC_ECRYPTO;
            else
                rc = hash_chunk(c, p, s);
        }
        pthread_mutex_lock(&p->lock);
        if (rc < 0 && p->rc == 0) p->rc = rc;
        p->head++;
        pthread_cond_signal(&p->room);
        pthread_mutex_unlock(&p->lock);
    }
}

int isec__pipe_start(isec_jpeg *c)
{
    struct isec__pipe *p = calloc(1, sizeof *p);
    if (!p) return ISEC_ENOMEM;
    p->scratch = malloc(4 * CHUNK);
    int ok = p->scratch != NULL;
    for (int i = 0; ok && i < SLOTS; i++) ok = (p->slot[i].buf = malloc(SLOTBYTES)) != NULL;
    if (ok && pthread_mutex_init(&p->lock, NULL) != 0) ok = 0;
    if (ok && (pthread_cond_init(&p->more, NULL) != 0 || pthread_cond_init(&p->room, NULL) != 0))
        ok = 0; /* (a failed init here leaks nothing that needs destroying on Linux) */
    if (ok) {
        c->pipe = p;
        if (pthread_create(&p->thread, NULL, worker, c) == 0) return 0;
        c->pipe = NULL;
        pthread_cond_destroy(&p->more);
        pthread_cond_destroy(&p->room);
        pthread_mutex_destroy(&p->lock);
    }
    for (int i = 0; i < SLOTS; i++) free(p->slot[i].buf);
    free(p->scratch);
    free(p);
    return ISEC_ENOMEM;
}

void isec__pipe_stop(isec_jpeg *c)
{
    struct isec__pipe *p = c->pipe;
    if (!p) return;
    pthread_mutex_lock(&p->lock);
    p->quit = 1;
    pthread_cond_signal(&p->more);
    pthread_mutex_unlock(&p->lock);
    pthread_join(p->thread, NULL);
    pthread_cond_destroy(&p->more);
    pthread_cond_destroy(&p->room);
    pthread_mutex_destroy(&p->lock);
    for (int i = 0; i < SLOTS; i++) free(p->slot[i].buf);
    OPENSSL_cleanse(p->scratch, 4 * CHUNK); /* it held keystream */
    free(p->scratch);
    free(p);
    c->pipe = NULL;
}

/* A free slot (waits for one); NULL if the worker failed (the error is then set on c). */
static struct slot *claim(isec_jpeg *c)
{
    struct isec__pipe *p = c->pipe;
    pthread_mutex_lock(&p->lock);
    while (p->tail - p->head == SLOTS && p->rc == 0) pthread_cond_wait(&p->room, &p->lock);
    int rc = p->rc;
    pthread_mutex_unlock(&p->lock);
    if (rc < 0) {
        isec__jpeg_fail(c, rc, c->off, "SHA-256 or ChaCha20 failed");
        return NULL;
    }
    return &p->slot[p->tail % SLOTS];
}

static void publish(struct isec__pipe *p)
{
    pthread_mutex_lock(&p->lock);
    p->tail++;
    pthread_cond_signal(&p->more);
    pthread_mutex_unlock(&p->lock);
}

int isec__pipe_absorb(isec_jpeg *c, const uint8_t *b, size_t n)
{
    while (n) {
        struct slot *s = claim(c);
        if (!s) return c->rc;
        uint32_t take = n < SLOTBYTES ? (uint32_t)n : SLOTBYTES;
        s->op = OP_ABSORB;
        s->nraw = take;
        memcpy(s->buf, b, take);
        publish(c->pipe);
        b += take;
        n -= take;
    }
    return 0;
}

int isec__pipe_chunk(isec_jpeg *c, const uint8_t *raw, const uint8_t *isdata, uint32_t nraw,
                     const uint8_t *data, const uint8_t *vm, const uint8_t *xm, uint32_t ndata,
                     uint8_t *dest)
{
    struct slot *s = claim(c);
    if (!s) return c->rc;
    s->op = OP_CHUNK;
    s->nraw = nraw;
    s->ndata = ndata;
    s->dest = dest;
    s->scaninfo = c->scaninfo;
    memcpy(s->buf, raw, nraw);
    memcpy(s->buf + CHUNK, isdata, nraw);
    memcpy(s->buf + 2 * CHUNK, data, ndata);
    memcpy(s->buf + 3 * CHUNK, vm, ndata);
    memcpy(s->buf + 4 * CHUNK, xm, ndata);
    publish(c->pipe);
    return 0;
}

int isec__pipe_drain(isec_jpeg *c)
{
    struct isec__pipe *p = c->pipe;
    pthread_mutex_lock(&p->lock);
    while (p->head != p->tail) pthread_cond_wait(&p->room, &p->lock);
    int rc = p->rc;
    c->info.eligible_bytes += p->ebytes;
    c->info.eligible_bits += p->ebits;
    p->ebytes = p->ebits = 0;
    pthread_mutex_unlock(&p->lock);
    if (rc < 0 && c->rc >= 0) isec__jpeg_fail(c, rc, c->off, "SHA-256 or ChaCha20 failed");
    return rc < 0 ? rc : 0;
}

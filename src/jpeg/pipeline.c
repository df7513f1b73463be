/* The cipher's second thread (isec_jpeg_set_threads(c, 2)): the walker thread classifies bits
 * and hands each finished chunk over; this worker does everything that follows classification
 * and must happen in stream order: the FSP masks, the invariant view and its running SHA-256,
 * the ChaCha20 keystream, the XOR, and writing the chunk's output bytes.
 *
 * Ownership while a pipe runs: the worker alone touches c->hash, c->tmphash, c->cipher and the
 * output bytes of the chunks it was given; the walker reserves those output ranges (so its own
 * pass-through bytes land beside them) and never reads the hash without draining first. Every
 * update()/final() drains before it returns, so callers see whole output as before, and the
 * output is identical byte for byte to the single-threaded walk.
 *
 * Chunks are not copied: the walker's held-data buffers (raw, isdata, data, vm, xm) come from a
 * pool of NSETS sets. After a flush round the walker moves what it still holds to a free set
 * and goes on there (isec__pipe_rotate); the worker enciphers the round's chunks in place in
 * the old set, then zeroes its vm and xm (the walker relies on zeros past its held marks; data[]
 * need not be: the walker zeroes the PAD bytes past its held data before every decode)
 * and frees it. Hand-over is a ring of SLOTS descriptors, BATCH flush rounds at a time; memory
 * stays bounded (about 1.8 MB, and 0.7 MB for the helper decode) whatever the image size.
 *
 * The worker also runs the walker's helper decode (entropy.c: the last part of a decode round,
 * from a guessed MCU start) whenever one is posted, before its next chunk: the walker may be
 * waiting for it, while chunks are only waited for when the walker drains. During a job the
 * worker reads the walker's current data[] (which the walker does not change until it has
 * collected the job) and writes only the job's own arrays. */
#include <pthread.h>
#include <stdlib.h>

#include "internal.h"

#define SLOTS 16
#define SLOTBYTES CHUNK   /* OP_ABSORB's copy of the bytes, allocated on first use */
#define BATCH 2           /* flush rounds per wake-up of the worker */
#define NSETS (BATCH + 2) /* the walker's, BATCH rounds staged, one in the worker's hands */
#define DATACAP (RAWCAP + PAD + 8) /* data, vm and xm, as alloc_entropy makes them */

enum { OP_ABSORB, OP_CHUNK, OP_RELEASE };

struct slot {
    int op;
    uint32_t nraw, ndata;
    uint8_t *dest;            /* OP_CHUNK: where its nraw output bytes go */
    isec_jpeg_scan *scaninfo; /* OP_CHUNK: counts of eligible bits go there too */
    uint8_t *buf;             /* OP_ABSORB: nraw bytes */
    const uint8_t *raw, *isdata, *vm, *xm; /* OP_CHUNK: in a set of the pool */
    uint8_t *data;
    int set; /* OP_RELEASE: the set to zero (vm, xm up to ndata bytes) and free */
};

struct bufset {
    uint8_t *raw, *isdata, *data, *vm, *xm;
    int busy; /* handed to the worker, not yet zeroed */
};

struct isec__pipe {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t more, room; /* more: a slot was filled, a helper decode posted, or quit;
                                * room: a slot was freed */
    pthread_cond_t specdone;   /* the helper decode (c->spec) is done */
    int spec_posted;           /* a helper decode waits to be started */
    struct slot slot[SLOTS];
    uint64_t head, tail; /* slots [head, tail) are waiting or in work */
    uint64_t staged;     /* slots [tail, tail + staged) are filled, not yet handed over (the
                          * walker's alone: it hands them over BATCH rounds at a time, which
                          * saves wake-ups of the worker; waking a sleeping thread costs a
                          * trip through the kernel, and on a virtual machine through the
                          * hypervisor) */
    unsigned rounds;     /* flush rounds staged since the last hand-over (the walker's) */
    int quit, rc;
    uint8_t *scratch; /* worker's: invariant view, em, keystream */
    uint64_t ebytes, ebits; /* eligible counts done by the worker, added to info on drain */
    struct bufset set[NSETS];
    int nsets, cur; /* sets in the pool (set 0: the walker's own buffers); the walker's now */
};

static int hash_chunk(isec_jpeg *c, struct isec__pipe *p, struct slot *s)
{
    uint64_t ebytes = 0, ebits = 0;
    int rc = isec__chunk_crypt(c, s->raw, s->isdata, s->nraw, s->data, s->vm, s->xm, s->ndata,
                               s->dest, p->scratch, &ebytes, &ebits);
    if (rc < 0) return rc;
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
        while (p->head == p->tail && !p->quit && !p->spec_posted)
            pthread_cond_wait(&p->more, &p->lock);
        if (p->spec_posted) {
            /* the walker's helper decode goes before any chunk: the walker waits for it, and
             * chunks are not waited for until the walker drains */
            p->spec_posted = 0;
            pthread_mutex_unlock(&p->lock);
            isec__spec_decode(c, c->spec);
            pthread_mutex_lock(&p->lock);
            atomic_store_explicit(&c->spec->done, 1, memory_order_release);
            pthread_cond_signal(&p->specdone);
            pthread_mutex_unlock(&p->lock);
            continue;
        }
        if (p->head == p->tail) { /* quit, and nothing left */
            pthread_mutex_unlock(&p->lock);
            return NULL;
        }
        struct slot *s = &p->slot[p->head % SLOTS];
        int failed = p->rc < 0;
        pthread_mutex_unlock(&p->lock);
        int rc = 0;
        if (s->op == OP_RELEASE) { /* even after a failure: the walker may wait for the set */
            struct bufset *b = &p->set[s->set];
            memset(b->vm, 0, s->ndata);
            memset(b->xm, 0, s->ndata);
        } else if (!failed) {
            if (s->op == OP_ABSORB)
                rc = EVP_DigestUpdate(c->hash, s->buf, s->nraw) == 1 ? 0 : ISEC_ECRYPTO;
            else
                rc = hash_chunk(c, p, s);
        }
        pthread_mutex_lock(&p->lock);
        if (rc < 0 && p->rc == 0) p->rc = rc;
        if (s->op == OP_RELEASE) p->set[s->set].busy = 0;
        p->head++;
        pthread_cond_signal(&p->room);
        pthread_mutex_unlock(&p->lock);
    }
}

static void spec_free(struct isec__spec *sp)
{
    if (!sp) return;
    free(sp->vm);
    free(sp->xm);
    free(sp->starts);
    free(sp->rel);
    free(sp->z);
    free(sp);
}

int isec__pipe_start(isec_jpeg *c)
{
    struct isec__pipe *p = calloc(1, sizeof *p);
    if (!p) return ISEC_ENOMEM;
    p->scratch = malloc(CHUNK_SCRATCH);
    int ok = p->scratch != NULL;
    if (ok && pthread_mutex_init(&p->lock, NULL) != 0) ok = 0;
    if (ok && (pthread_cond_init(&p->more, NULL) != 0 || pthread_cond_init(&p->room, NULL) != 0 ||
               pthread_cond_init(&p->specdone, NULL) != 0))
        ok = 0; /* (a failed init here leaks nothing that needs destroying on Linux) */
    struct isec__spec *sp = NULL;
    if (ok && !getenv("IMGSEC_NO_SPECULATION")) { /* the walker's helper decode (entropy.c) */
        sp = calloc(1, sizeof *sp);
        if (sp) {
            sp->vm = malloc(DATACAP);
            sp->xm = malloc(DATACAP);
            sp->starts = malloc(sizeof *sp->starts * SPEC_CAP);
            sp->rel = malloc(sizeof *sp->rel * SPEC_CAP);
            sp->z = malloc(sizeof *sp->z * SPEC_CAP);
        }
        if (!sp || !sp->vm || !sp->xm || !sp->starts || !sp->rel || !sp->z) ok = 0;
        else sp->wait = getenv("IMGSEC_SPEC_WAIT") != NULL;
    }
    if (ok) {
        c->pipe = p;
        c->spec = sp;
        if (pthread_create(&p->thread, NULL, worker, c) == 0) return 0;
        c->pipe = NULL;
        c->spec = NULL;
        pthread_cond_destroy(&p->more);
        pthread_cond_destroy(&p->room);
        pthread_cond_destroy(&p->specdone);
        pthread_mutex_destroy(&p->lock);
    }
    spec_free(sp);
    for (int i = 0; i < SLOTS; i++) free(p->slot[i].buf);
    free(p->scratch);
    free(p);
    return ISEC_ENOMEM;
}

void isec__pipe_stop(isec_jpeg *c)
{
    struct isec__pipe *p = c->pipe;
    if (!p) return;
    isec__spec_collect(c);
    pthread_mutex_lock(&p->lock);
    p->quit = 1;
    pthread_cond_signal(&p->more);
    pthread_mutex_unlock(&p->lock);
    pthread_join(p->thread, NULL);
    pthread_cond_destroy(&p->more);
    pthread_cond_destroy(&p->room);
    pthread_cond_destroy(&p->specdone);
    pthread_mutex_destroy(&p->lock);
    spec_free(c->spec);
    c->spec = NULL;
    for (int i = 0; i < SLOTS; i++) free(p->slot[i].buf);
    /* the walker keeps the set it is on (freed with the context); the pool frees the others */
    for (int i = 0; i < p->nsets; i++) {
        if (i == p->cur) continue;
        free(p->set[i].raw);
        free(p->set[i].isdata);
        free(p->set[i].data);
        free(p->set[i].vm);
        free(p->set[i].xm);
    }
    OPENSSL_cleanse(p->scratch, CHUNK_SCRATCH); /* it held keystream */
    free(p->scratch);
    free(p);
    c->pipe = NULL;
}

/* Hands the staged slots to the worker (lock held). */
static void hand_over(struct isec__pipe *p)
{
    if (!p->staged) return;
    p->tail += p->staged;
    p->staged = 0;
    p->rounds = 0;
    pthread_cond_signal(&p->more);
}

/* A free slot (waits for one, handing over what is staged first); NULL if the worker failed
 * (the error is then set on c). */
static struct slot *claim(isec_jpeg *c)
{
    struct isec__pipe *p = c->pipe;
    pthread_mutex_lock(&p->lock);
    while (p->tail + p->staged - p->head == SLOTS && p->rc == 0) {
        hand_over(p);
        pthread_cond_wait(&p->room, &p->lock);
    }
    int rc = p->rc;
    pthread_mutex_unlock(&p->lock);
    if (rc < 0) {
        isec__jpeg_fail(c, rc, c->off, "SHA-256 or ChaCha20 failed");
        return NULL;
    }
    return &p->slot[(p->tail + p->staged) % SLOTS];
}

/* The claimed slot is filled: staged for the next hand-over. */
static void publish(struct isec__pipe *p)
{
    p->staged++;
}

void isec__pipe_flush(isec_jpeg *c)
{
    struct isec__pipe *p = c->pipe;
    if (!p || !p->staged || ++p->rounds < BATCH) return;
    pthread_mutex_lock(&p->lock);
    hand_over(p);
    pthread_mutex_unlock(&p->lock);
}

int isec__pipe_absorb(isec_jpeg *c, const uint8_t *b, size_t n)
{
    while (n) {
        struct slot *s = claim(c);
        if (!s) return c->rc;
        if (!s->buf && !(s->buf = malloc(SLOTBYTES)))
            return isec__jpeg_fail(c, ISEC_ENOMEM, c->off, "out of memory");
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
                     uint8_t *data, const uint8_t *vm, const uint8_t *xm, uint32_t ndata,
                     uint8_t *dest)
{
    struct slot *s = claim(c);
    if (!s) return c->rc;
    s->op = OP_CHUNK;
    s->nraw = nraw;
    s->ndata = ndata;
    s->dest = dest;
    s->scaninfo = c->scaninfo;
    s->raw = raw;
    s->isdata = isdata;
    s->data = data;
    s->vm = vm;
    s->xm = xm;
    publish(c->pipe);
    return 0;
}

int isec__pipe_rotate(isec_jpeg *c, uint32_t nraw, uint32_t ndata)
{
    struct isec__pipe *p = c->pipe;
    if (p->nsets == 0) { /* the walker's own buffers join the pool */
        p->set[0] = (struct bufset){c->raw, c->isdata, c->data, c->vm, c->xm, 0};
        p->nsets = 1;
        p->cur = 0;
    }
    int to = -1;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        for (int i = 0; i < p->nsets && to < 0; i++)
            if (i != p->cur && !p->set[i].busy) to = i;
        if (to >= 0 || p->nsets < NSETS || p->rc < 0) break;
        hand_over(p);
        pthread_cond_wait(&p->room, &p->lock);
    }
    int rc = p->rc;
    pthread_mutex_unlock(&p->lock);
    if (rc < 0) return isec__jpeg_fail(c, rc, c->off, "SHA-256 or ChaCha20 failed");
    if (to < 0) { /* a new set, zeroed as a released one is */
        struct bufset *b = &p->set[p->nsets];
        b->raw = malloc(RAWCAP);
        b->isdata = malloc(RAWCAP);
        b->data = calloc(DATACAP, 1);
        b->vm = calloc(DATACAP, 1);
        b->xm = calloc(DATACAP, 1);
        if (!b->raw || !b->isdata || !b->data || !b->vm || !b->xm) {
            free(b->raw);
            free(b->isdata);
            free(b->data);
            free(b->vm);
            free(b->xm);
            return isec__jpeg_fail(c, ISEC_ENOMEM, c->off, "out of memory");
        }
        b->busy = 0;
        to = p->nsets++;
    }
    /* what is held moves over (with the PAD bytes past it, as shift_held moves them) */
    struct bufset *from = &p->set[p->cur], *b = &p->set[to];
    uint32_t rest = c->rawlen - nraw, drest = c->datalen - ndata;
    memcpy(b->raw, from->raw + nraw, rest);
    memcpy(b->isdata, from->isdata + nraw, rest);
    memcpy(b->data, from->data + ndata, drest + PAD);
    memcpy(b->vm, from->vm + ndata, drest + PAD);
    memcpy(b->xm, from->xm + ndata, drest + PAD);
    /* the old set goes to the worker, after the chunks that use it */
    struct slot *s = claim(c);
    if (!s) return c->rc;
    s->op = OP_RELEASE;
    s->set = p->cur;
    uint64_t used = (uint64_t)c->datalen + PAD + 8;
    s->ndata = used < DATACAP ? (uint32_t)used : DATACAP;
    from->busy = 1;
    publish(p);
    p->cur = to;
    c->raw = b->raw;
    c->isdata = b->isdata;
    c->data = b->data;
    c->vm = b->vm;
    c->xm = b->xm;
    return 0;
}

void isec__spec_post(isec_jpeg *c, uint64_t from, uint64_t limit)
{
    struct isec__pipe *p = c->pipe;
    struct isec__spec *sp = c->spec;
    sp->from = from;
    sp->limit = limit;
    sp->n = 0;
    sp->next = 0;
    sp->took = 0;
    atomic_store_explicit(&sp->cancel, 0, memory_order_relaxed);
    atomic_store_explicit(&sp->done, 0, memory_order_relaxed);
    sp->out = 1;
    pthread_mutex_lock(&p->lock);
    p->spec_posted = 1;
    pthread_cond_signal(&p->more);
    pthread_mutex_unlock(&p->lock);
}

void isec__spec_wait(isec_jpeg *c)
{
    struct isec__pipe *p = c->pipe;
    pthread_mutex_lock(&p->lock);
    while (!atomic_load_explicit(&c->spec->done, memory_order_acquire))
        pthread_cond_wait(&p->specdone, &p->lock);
    pthread_mutex_unlock(&p->lock);
}

void isec__spec_collect(isec_jpeg *c)
{
    struct isec__spec *sp = c->spec;
    if (!sp || !sp->out) return;
    atomic_store_explicit(&sp->cancel, 1, memory_order_relaxed);
    isec__spec_wait(c);
    sp->out = 0;
    if (sp->took) {
        sp->backoff = 0;
    } else {
        /* its work came too late (the worker had no core, or was busy) or never fell into
         * step: leave the next rounds to the walker alone, the more the more often it happens */
        if (!sp->backoff) sp->backoff = 1;
        else if (sp->backoff < SPEC_BACKOFF_MAX) sp->backoff *= 2;
        sp->skip = sp->backoff;
    }
}

int isec__pipe_drain(isec_jpeg *c)
{
    struct isec__pipe *p = c->pipe;
    pthread_mutex_lock(&p->lock);
    hand_over(p);
    while (p->head != p->tail) pthread_cond_wait(&p->room, &p->lock);
    int rc = p->rc;
    c->info.eligible_bytes += p->ebytes;
    c->info.eligible_bits += p->ebits;
    p->ebytes = p->ebits = 0;
    pthread_mutex_unlock(&p->lock);
    if (rc < 0 && c->rc >= 0) isec__jpeg_fail(c, rc, c->off, "SHA-256 or ChaCha20 failed");
    return rc < 0 ? rc : 0;
}

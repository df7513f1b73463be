/* imgsec jpeg encrypt|decrypt|inspect */
#define _GNU_SOURCE /* sync_file_range */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "imgsec/jpeg.h"
#include "imgsec/keys.h"

#include "cli.h"

/* 1 MB pieces: with two threads each update() ends by waiting for the second one, which costs
 * little beside a megabyte of work */
#define READ_PIECE (1024u * 1024u)
#define THREADS_AUTO 0u               /* no --threads: decided per input file (run_one) */
#define AUTO_MIN ((off_t)1024 * 1024) /* smallest input that gets a second thread by default */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: imgsec jpeg encrypt -k KEYFILE (-o OUT IN | -O DIR IN...)\n"
            "       imgsec jpeg decrypt -k KEYFILE (-o OUT IN | -O DIR IN...)\n"
            "       imgsec jpeg inspect [--json] IN...\n"
            "  '-' is stdin/stdout. Output files appear only when complete; inputs are never\n"
            "  modified. Options: --passphrase-file FILE (for passphrase key files; or\n"
            "  $IMGSEC_PASSPHRASE), -q (no progress line), --threads 1|2 (default 2 when a\n"
            "  second CPU is online and the input is 1 MB or more, or a pipe: hashing,\n"
            "  keystream and part of the decoding on a second thread).\n");
}

static const char *kind_name(int k)
{
    return k == ISEC_JPEG_EMBED_EXIF_THUMBNAIL ? "exif-thumbnail" : "mpf";
}

static const char *process_name(int p)
{
    switch (p) {
    case ISEC_JPEG_BASELINE: return "baseline";
    case ISEC_JPEG_EXTENDED: return "extended";
    case ISEC_JPEG_PROGRESSIVE: return "progressive";
    default: return "unknown";
    }
}

static int exit_for(int rc)
{
    return rc == ISEC_EIO ? EXIT_IOERR : EXIT_FAIL;
}

/* Starts the kernel writing what has been written so far to the output file (not waiting for
 * it), so that the fsync before the rename (cli_out_commit) finds most of it on disk already.
 * Durability is unchanged: only the fsync promises anything. Best effort: errors are ignored
 * (the fsync reports real ones), and stdout or a pipe is left alone. */
static void start_writeback(cli_out *o)
{
#ifdef SYNC_FILE_RANGE_WRITE
    if (o->is_stdout || fflush(o->f) != 0) return;
    (void)sync_file_range(fileno(o->f), 0, 0, SYNC_FILE_RANGE_WRITE);
#else
    (void)o;
#endif
}

/* ---------------------------------------------------------------- input */

/* Input is read in pieces with fread. (Mapping a regular file instead saved about 2 ms of CPU,
 * no wall time, on a 10 MB photo, and brought a SIGBUS handler for files cut short while
 * mapped and a resident size growing with the file: not kept.) */
struct input {
    FILE *f;
    const char *name;
    uint8_t *buf; /* READ_PIECE bytes */
};

/* The next piece of input in *p, *n (0 at the end); -1 on a read error (reported). */
static int input_next(struct input *in, const uint8_t **p, size_t *n)
{
    if (!in->buf && !(in->buf = malloc(READ_PIECE))) {
        cli_err("out of memory");
        return -1;
    }
    *p = in->buf;
    *n = fread(in->buf, 1, READ_PIECE, in->f);
    if (*n == 0 && ferror(in->f)) {
        cli_err("%s: read failed: %s", in->name, strerror(errno));
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------- output */

/* With a second cipher thread the output is written by a third one, while the walker goes on
 * with the next piece: write() into the page cache and start_writeback then cost the walk
 * nothing where a core is free (the cipher's second thread is idle for much of the time). Two
 * output buffers take turns: one being filled by the walk, one being written. */
struct writer {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    cli_out *o;
    const uint8_t *p;
    size_t n;
    int busy, quit, failed;
    /* the output buffers, whose page tables the thread fills in first */
    void *prefault;
    size_t prefaultlen;
};

static void *writer_main(void *arg)
{
    struct writer *w = arg;
#ifdef MADV_POPULATE_WRITE
    /* best effort: an older kernel refuses, and the walk's page faults map the pages instead */
    (void)madvise(w->prefault, w->prefaultlen, MADV_POPULATE_WRITE);
#endif
    pthread_mutex_lock(&w->lock);
    for (;;) {
        while (!w->busy && !w->quit) pthread_cond_wait(&w->cond, &w->lock);
        if (!w->busy) break;
        const uint8_t *p = w->p;
        size_t n = w->n;
        pthread_mutex_unlock(&w->lock);
        int bad = cli_out_write(w->o, p, n) < 0; /* prints the error */
        if (!bad) start_writeback(w->o);
        pthread_mutex_lock(&w->lock);
        if (bad) w->failed = 1;
        w->busy = 0;
        pthread_cond_signal(&w->cond);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

static int writer_start(struct writer *w, cli_out *o, void *prefault, size_t prefaultlen)
{
    memset(w, 0, sizeof *w);
    w->o = o;
    w->prefault = prefault;
    w->prefaultlen = prefaultlen;
    if (pthread_mutex_init(&w->lock, NULL) != 0) return -1;
    if (pthread_cond_init(&w->cond, NULL) != 0) {
        pthread_mutex_destroy(&w->lock);
        return -1;
    }
    if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
        pthread_cond_destroy(&w->cond);
        pthread_mutex_destroy(&w->lock);
        return -1;
    }
    return 0;
}

/* Waits until the last buffer handed over is written; -1 if a write failed (reported). */
static int writer_wait(struct writer *w)
{
    pthread_mutex_lock(&w->lock);
    while (w->busy) pthread_cond_wait(&w->cond, &w->lock);
    int failed = w->failed;
    pthread_mutex_unlock(&w->lock);
    return failed ? -1 : 0;
}

/* Hands p, n over (after the previous one is written); -1 if a write failed. */
static int writer_put(struct writer *w, const uint8_t *p, size_t n)
{
    if (writer_wait(w) < 0) return -1;
    pthread_mutex_lock(&w->lock);
    w->p = p;
    w->n = n;
    w->busy = 1;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
    return 0;
}

static void writer_stop(struct writer *w)
{
    writer_wait(w);
    pthread_mutex_lock(&w->lock);
    w->quit = 1;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->lock);
}

/* ---------------------------------------------------------------- one file */

/* The state of run_one's walk. */
struct job {
    isec_jpeg *c;
    struct input in;
    cli_out o;
    int have_out;
    struct writer w;
    int have_writer;
    uint8_t *obuf[2]; /* obuf[1] only with a writer thread; both in one mapping */
    size_t obufcap, obufmap;
};

/* Output of one update() or final(): handed to the writer thread, or written here. */
static int put_out(struct job *j, unsigned *cur, size_t got)
{
    if (!j->have_out) return 0;
    if (j->have_writer) {
        if (writer_put(&j->w, j->obuf[*cur], got) < 0) return -1;
        *cur ^= 1u; /* the walk fills the other buffer meanwhile */
        return 0;
    }
    if (cli_out_write(&j->o, j->obuf[*cur], got) < 0) return -1;
    start_writeback(&j->o);
    return 0;
}

/* Feeds the whole input through j->c; an exit status, rc the library's result. */
static int walk(struct job *j, int *rc)
{
    unsigned cur = 0;
    const uint8_t *p;
    size_t n, got;
    *rc = 0;
    for (;;) {
        if (input_next(&j->in, &p, &n) < 0) return EXIT_IOERR;
        if (n == 0) break;
        got = 0;
        *rc = isec_jpeg_update(j->c, p, n, j->obuf[cur], j->obufcap, &got);
        if (*rc < 0) return EXIT_OK; /* reported by run_one */
        if (put_out(j, &cur, got) < 0) return EXIT_IOERR;
    }
    got = 0;
    *rc = isec_jpeg_final(j->c, j->obuf[cur], j->obufcap, &got);
    if (*rc < 0) return EXIT_OK;
    if (put_out(j, &cur, got) < 0) return EXIT_IOERR;
    return 0;
}

/* Streams one file through a context; writes to out if not NULL. */
static int run_one(int mode, const isec_key *key, const char *in, const char *outpath, int json,
                   int first, unsigned threads)
{
    struct job job, *jb = &job;
    memset(jb, 0, sizeof *jb);
    jb->in.name = in;
    jb->in.f = cli_in_open(in);
    if (!jb->in.f) return EXIT_IOERR;
    int status = EXIT_OK, rc = 0;
    if (threads == THREADS_AUTO) {
        /* a second thread pays for itself from about a megabyte (as in isec_jpeg_crypt); the
         * size of a pipe is not known, so it gets one */
        struct stat st;
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        int small =
            fstat(fileno(jb->in.f), &st) == 0 && S_ISREG(st.st_mode) && st.st_size < AUTO_MIN;
        threads = cpus > 1 && !small ? 2 : 1;
    }
    if (outpath) {
        if (cli_out_open(&jb->o, outpath, in, 0666) < 0) {
            cli_in_close(jb->in.f);
            return EXIT_IOERR;
        }
        jb->have_out = 1;
    }
    /* With a writer thread, two output buffers; it fills in their page tables while this thread
     * sets the cipher up (OpenSSL's first use in a process costs about as long), instead of the
     * walk taking a page fault every 4 KB. */
    int writer = jb->have_out && threads > 1 && mode != ISEC_JPEG_ANALYZE;
    long pagesize = sysconf(_SC_PAGESIZE);
    size_t page = pagesize > 0 ? (size_t)pagesize : 4096;
    jb->obufcap = isec_jpeg_update_bound(READ_PIECE);
    jb->obufcap = (jb->obufcap + page - 1) / page * page;
    jb->obufmap = writer ? 2 * jb->obufcap : jb->obufcap;
    void *ob = mmap(NULL, jb->obufmap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (ob == MAP_FAILED) {
        cli_err("out of memory");
        status = EXIT_FAIL;
        goto done;
    }
    jb->obuf[0] = ob;
    if (writer) jb->obuf[1] = jb->obuf[0] + jb->obufcap;
    if (writer && writer_start(&jb->w, &jb->o, jb->obuf[0], jb->obufmap) == 0)
        jb->have_writer = 1; /* else this thread writes, between pieces */
    if ((rc = isec_jpeg_new(&jb->c, mode, key)) < 0) {
        cli_err("%s: %s", in, isec_strerror(rc));
        status = EXIT_FAIL;
        goto done;
    }
    if (threads > 1 && mode != ISEC_JPEG_ANALYZE &&
        (rc = isec_jpeg_set_threads(jb->c, threads)) < 0) {
        cli_err("%s: cannot start a second thread: %s", in, isec_strerror(rc));
        status = EXIT_FAIL;
        goto done;
    }
    status = walk(jb, &rc);
    if (jb->have_writer && status == EXIT_OK && writer_wait(&jb->w) < 0) status = EXIT_IOERR;
    if (status != EXIT_OK) goto done;
    if (rc < 0) {
        const char *d = isec_jpeg_detail(jb->c);
        cli_err("%s: %s (%s)", in, d[0] ? d : isec_strerror(rc), isec_strerror(rc));
        status = exit_for(rc);
        goto done;
    }
    isec_jpeg *c = jb->c;
    if (mode == ISEC_JPEG_ANALYZE) {
        const isec_jpeg_info *i = isec_jpeg_get_info(c);
        if (json) {
            printf("%s{\"file\":\"", first ? "" : ",\n");
            for (const char *p = in; *p; p++) {
                if (*p == '"' || *p == '\\') printf("\\%c", *p);
                else if ((unsigned char)*p < 0x20) printf("\\u%04x", *p);
                else putchar(*p);
            }
            printf("\",\"process\":\"%s\",\"width\":%u,\"height\":%u,\"precision\":%u,"
                   "\"size\":%llu,\"jfif\":%s,\"exif\":%s,\"adobe_transform\":%d,"
                   "\"restart_interval\":%u,\"components\":[",
                   process_name(i->process), i->width, i->height, i->precision,
                   (unsigned long long)i->file_size, i->jfif ? "true" : "false",
                   i->exif ? "true" : "false", i->adobe_transform, i->restart_interval);
            for (int k = 0; k < i->ncomp; k++)
                printf("%s{\"id\":%u,\"h\":%u,\"v\":%u,\"tq\":%u}", k ? "," : "", i->comp[k].id,
                       i->comp[k].h, i->comp[k].v, i->comp[k].tq);
            printf("],\"scans\":[");
            for (size_t k = 0; k < i->nscans; k++) {
                const isec_jpeg_scan *s = &i->scans[k];
                printf("%s{\"offset\":%llu,\"components\":[", k ? "," : "",
                       (unsigned long long)s->offset);
                for (int j = 0; j < s->ncomp; j++) printf("%s%u", j ? "," : "", s->comp[j]);
                printf("],\"ss\":%u,\"se\":%u,\"ah\":%u,\"al\":%u,\"restart_interval\":%u,"
                       "\"entropy_bytes\":%llu,\"eligible_bytes\":%llu,\"eligible_bits\":%llu}",
                       s->ss, s->se, s->ah, s->al, s->restart_interval,
                       (unsigned long long)s->entropy_bytes, (unsigned long long)s->eligible_bytes,
                       (unsigned long long)s->eligible_bits);
            }
            printf("],\"embedded\":[");
            for (size_t k = 0; k < i->nembedded; k++) {
                const isec_jpeg_embedded *e = &i->embedded[k];
                printf("%s{\"kind\":\"%s\",\"offset\":%llu,\"length\":%llu,\"width\":%u,"
                       "\"height\":%u,\"process\":\"%s\",\"eligible_bits\":%llu}",
                       k ? "," : "", kind_name(e->kind), (unsigned long long)e->offset,
                       (unsigned long long)e->length, e->width, e->height,
                       process_name(e->process), (unsigned long long)e->eligible_bits);
            }
            printf("],\"entropy_bytes\":%llu,\"eligible_bytes\":%llu,\"eligible_bits\":%llu,"
                   "\"extraneous_bytes\":%llu,\"trailer_bytes\":%llu,\"has_eoi\":%s}",
                   (unsigned long long)i->entropy_bytes, (unsigned long long)i->eligible_bytes,
                   (unsigned long long)i->eligible_bits, (unsigned long long)i->extraneous_bytes,
                   (unsigned long long)i->trailer_bytes, i->has_eoi ? "true" : "false");
        } else {
            printf("%s: %s JPEG, %ux%u, %u-bit, %u component%s", in, process_name(i->process),
                   i->width, i->height, i->precision, i->ncomp, i->ncomp > 1 ? "s" : "");
            for (int k = 0; k < i->ncomp; k++)
                printf("%s%u:%ux%u", k ? " " : " (", i->comp[k].id, i->comp[k].h, i->comp[k].v);
            printf(")%s%s", i->jfif ? ", JFIF" : "", i->exif ? ", Exif" : "");
            if (i->adobe_transform >= 0) printf(", Adobe transform %d", i->adobe_transform);
            printf("\n  size %llu bytes; entropy-coded %llu; eligible %llu bytes, %llu bits"
                   " (%.1f%% of entropy-coded bits)\n",
                   (unsigned long long)i->file_size, (unsigned long long)i->entropy_bytes,
                   (unsigned long long)i->eligible_bytes, (unsigned long long)i->eligible_bits,
                   i->entropy_bytes ? 100.0 * (double)i->eligible_bits / (8.0 * (double)i->entropy_bytes) : 0.0);
            printf("  restart interval %u; %zu scan%s\n", i->restart_interval, i->nscans,
                   i->nscans == 1 ? "" : "s");
            for (size_t k = 0; k < i->nscans; k++) {
                const isec_jpeg_scan *s = &i->scans[k];
                printf("    scan %zu @%llu: comp", k + 1, (unsigned long long)s->offset);
                for (int j = 0; j < s->ncomp; j++) printf("%s%u", j ? "," : " ", s->comp[j]);
                printf(" Ss=%u Se=%u Ah=%u Al=%u, %llu bytes, %llu eligible bits\n", s->ss, s->se,
                       s->ah, s->al, (unsigned long long)s->entropy_bytes,
                       (unsigned long long)s->eligible_bits);
            }
            for (size_t k = 0; k < i->nembedded; k++) {
                const isec_jpeg_embedded *e = &i->embedded[k];
                printf("  embedded %s @%llu: %llu bytes, %s %ux%u, %llu eligible bits\n",
                       kind_name(e->kind), (unsigned long long)e->offset,
                       (unsigned long long)e->length, process_name(e->process), e->width,
                       e->height, (unsigned long long)e->eligible_bits);
            }
            if (i->trailer_bytes) printf("  %llu bytes after EOI\n", (unsigned long long)i->trailer_bytes);
            if (!i->has_eoi) printf("  no EOI marker\n");
            if (i->extraneous_bytes)
                printf("  %llu extraneous bytes in scan data (left as they are)\n",
                       (unsigned long long)i->extraneous_bytes);
        }
    }
    if (jb->have_writer) {
        writer_stop(&jb->w);
        jb->have_writer = 0;
    }
    if (jb->have_out) {
        jb->have_out = 0;
        if (cli_out_commit(&jb->o) < 0) status = EXIT_IOERR;
    }
done:
    if (jb->have_writer) writer_stop(&jb->w); /* before its buffer goes, and before the abort */
    isec_jpeg_free(jb->c);
    if (jb->have_out) cli_out_abort(&jb->o);
    free(jb->in.buf);
    if (jb->obuf[0]) munmap(jb->obuf[0], jb->obufmap);
    cli_in_close(jb->in.f);
    return status;
}

int cmd_jpeg(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *verb = argv[1];
    int mode;
    if (!strcmp(verb, "encrypt")) mode = ISEC_JPEG_ENCRYPT;
    else if (!strcmp(verb, "decrypt")) mode = ISEC_JPEG_DECRYPT;
    else if (!strcmp(verb, "inspect")) mode = ISEC_JPEG_ANALYZE;
    else if (!strcmp(verb, "--help") || !strcmp(verb, "-h")) {
        usage(stdout);
        return EXIT_OK;
    } else {
        cli_err("jpeg: unknown action '%s'", verb);
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *keyfile = NULL, *out = NULL, *outdir = NULL, *passfile = NULL;
    int json = 0, quiet = 0;
    unsigned threads = THREADS_AUTO;
    static const struct option opts[] = {{"key", required_argument, 0, 'k'},
                                         {"output", required_argument, 0, 'o'},
                                         {"output-dir", required_argument, 0, 'O'},
                                         {"passphrase-file", required_argument, 0, 'P'},
                                         {"json", no_argument, 0, 'j'},
                                         {"quiet", no_argument, 0, 'q'},
                                         {"threads", required_argument, 0, 't'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    int ch;
    optind = 1;
    argc--;
    argv++;
    while ((ch = getopt_long(argc, argv, "k:o:O:qh", opts, NULL)) != -1) {
        switch (ch) {
        case 'k': keyfile = optarg; break;
        case 'o': out = optarg; break;
        case 'O': outdir = optarg; break;
        case 'P': passfile = optarg; break;
        case 'j': json = 1; break;
        case 'q': quiet = 1; break;
        case 't':
            if (strcmp(optarg, "1") && strcmp(optarg, "2")) {
                cli_err("jpeg %s: --threads takes 1 or 2", verb);
                return EXIT_USAGE;
            }
            threads = (unsigned)(optarg[0] - '0');
            break;
        case 'h': usage(stdout); return EXIT_OK;
        default: usage(stderr); return EXIT_USAGE;
        }
    }
    int nin = argc - optind;
    char **ins = argv + optind;
    if (nin < 1) {
        cli_err("jpeg %s: no input file", verb);
        return EXIT_USAGE;
    }
    isec_key *key = NULL;
    if (mode != ISEC_JPEG_ANALYZE) {
        if (!keyfile) {
            cli_err("jpeg %s: -k KEYFILE is required", verb);
            return EXIT_USAGE;
        }
        if ((out != NULL) == (outdir != NULL)) {
            cli_err("jpeg %s: give exactly one of -o OUT (one input) or -O DIR", verb);
            return EXIT_USAGE;
        }
        if (out && nin != 1) {
            cli_err("jpeg %s: -o takes one input; use -O DIR for several", verb);
            return EXIT_USAGE;
        }
        int need = isec_key_file_needs_passphrase(keyfile);
        char *pw = NULL, detail[200] = "";
        if (need == 1 && !(pw = cli_read_passphrase(passfile, "Passphrase: ", 0))) return EXIT_KEYERR;
        int rc = need < 0 ? need : isec_key_load(&key, keyfile, pw, pw ? strlen(pw) : 0, detail, sizeof detail);
        cli_free_secret(pw);
        if (rc < 0) {
            cli_err("%s: %s", keyfile, detail[0] ? detail : isec_strerror(rc));
            return rc == ISEC_EIO ? EXIT_IOERR : EXIT_KEYERR;
        }
        cli_warn_key_mode(keyfile);
    } else if (out || outdir || keyfile) {
        cli_err("jpeg inspect: takes no key or output");
        return EXIT_USAGE;
    }
    int status = EXIT_OK;
    if (json) printf(nin > 1 ? "[" : "");
    for (int i = 0; i < nin; i++) {
        const char *in = ins[i];
        char *target = NULL;
        if (outdir) {
            if (!strcmp(in, "-")) {
                cli_err("jpeg %s: '-' cannot be used with -O", verb);
                status = EXIT_USAGE;
                continue;
            }
            char *dup = strdup(in);
            size_t n = strlen(outdir) + strlen(in) + 2;
            target = malloc(n);
            if (!dup || !target) {
                free(dup);
                free(target);
                isec_key_free(key);
                cli_err("out of memory");
                return EXIT_FAIL;
            }
            snprintf(target, n, "%s/%s", outdir, basename(dup));
            free(dup);
        }
        if (!quiet) cli_progress((size_t)i, (size_t)nin, in);
        int st = run_one(mode, key, in, target ? target : out, json, i == 0, threads);
        free(target);
        if (st != EXIT_OK && (status == EXIT_OK || st == EXIT_IOERR)) status = st;
    }
    if (!quiet) cli_progress_done((size_t)nin);
    if (json) printf(nin > 1 ? "]\n" : "\n");
    isec_key_free(key);
    return status;
}

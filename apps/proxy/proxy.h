/* imgsec proxy internals: the photo privacy proxy (docs/proxy.md).
 *
 * Pieces, one file each:
 *   config.c     configuration (file + flags), host patterns, test-only connect-to map
 *   ca.c         the proxy's CA (STATE/ca.pem, ca.key) and per-host leaf certificates
 *   index.c      SQLite index of the ciphertexts this proxy produced
 *   jstream.c    one JPEG stream through the cipher: sniff, index key, encrypt/decrypt, fallback
 *   multipart.c  streaming multipart body splitter
 *   body.c       one HTTP body: raw or multipart, JPEGs in it through jstream
 *   resumable.c  Google resumable uploads: cipher state per upload session, re-framed pieces
 *   httpmsg.c    HTTP/1.1 heads on top of http-parser: header lists with limits, rebuilding heads
 *   conn.c       one client connection on libevent: CONNECT, tunnel, TLS interception, relay
 *   conn_rs.c    resumable uploads on a connection (requests and answers to the session table)
 *   server.c     listener (main thread), limits, signals, logging, hands connections to workers
 *   worker.c     worker threads: one event loop each (server.h: what they share, and how)
 * Everything but conn.c, conn_rs.c, server.c and worker.c is free of libevent, so the parsers can
 * be fuzzed alone.
 */
#ifndef IMGSEC_PROXY_H
#define IMGSEC_PROXY_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/ssl.h>

#include "imgsec/jpeg.h"
#include "imgsec/keys.h"

/* ---------------------------------------------------------------- config.c */

#define PX_MAX_TARGETS 64
#define PX_MAX_CONNECT_TO 16
#define PX_MAX_ALLOW 64
#define PX_MAX_DNS 4

/* A client network (config `allow`): IPv4 as IPv4-mapped IPv6, prefix counted in those 128 bits. */
typedef struct {
    uint8_t addr[16];
    unsigned prefix;
} px_net;

typedef struct {
    char *from_host; /* lower case; "" matches any host */
    unsigned from_port; /* 0 matches any port */
    char *to_host;
    unsigned to_port;
} px_connect_to;

typedef struct {
    char *listen;      /* ADDR:PORT */
    char *state_dir;
    char *targets[PX_MAX_TARGETS];
    size_t ntargets;
    int targets_given; /* flags or file named targets: the default list is not used */
    char *upstream_ca; /* extra trust anchors (PEM file), or NULL */
    px_connect_to connect_to[PX_MAX_CONNECT_TO]; /* test aid: where to connect for host:port */
    size_t nconnect_to;
    char *log_file;    /* NULL: stderr */
    char *hosts_file;  /* names for the proxy's resolver besides /etc/hosts (hosts(5)), or NULL */
    char *auth_file;   /* proxy users (auth.c), or NULL: no Proxy-Authorization asked */
    char *dns[PX_MAX_DNS]; /* name servers (ADDR[:PORT], [V6]:PORT) instead of resolv.conf's */
    size_t ndns;
    unsigned client_timeout_s;   /* idle client (reading) */
    unsigned header_timeout_s;   /* whole request head must arrive within this */
    unsigned upstream_timeout_s; /* upstream connect / idle */
    unsigned drain_timeout_s;    /* SIGTERM: in-flight requests get this long */
    unsigned max_connections;
    size_t max_header_bytes;
    unsigned upload_sessions;     /* resumable upload sessions alive at once (cap) */
    unsigned upload_session_ttl_s; /* a session unused this long is forgotten */
    int refuse_unencryptable; /* 1: a JPEG the cipher refuses aborts the upload (never sent plain) */
    int refuse_other_media;   /* 1: so does a picture or video of another format (HEIC, ...) */
    unsigned workers;         /* worker threads (event loops); 0: one per CPU */
    px_net allow[PX_MAX_ALLOW]; /* clients let in: px_default_allow until `allow` is given */
    size_t nallow;
    int allow_given;
    int upstream_self; /* 1: clients may reach this machine itself through the proxy */
    int cipher_thread_off; /* 1: JPEG streams never get a cipher thread of their own */
    int quiet;
} px_config;

void px_config_defaults(px_config *c);
void px_config_free(px_config *c);
/* Reads a config file (docs/imgsec-proxy.conf.5) into c; values already set by flags win when
 * flags_set is not NULL (names of flags given). Returns 0 or -1 with err filled. */
int px_config_load(px_config *c, const char *path, char *err, size_t errcap);
/* The same from an open file; path names it in messages. */
int px_config_read(px_config *c, FILE *f, const char *path, char *err, size_t errcap);
/* The config and auth files' line reader: the next line that is not empty once its comment
 * ('#' to the end) and surrounding space are cut off, in *out (inside line[cap]). 1, 0 at the
 * end, or -1 with err ("PATH:N: line too long"). *no counts the lines read. */
int px_next_line(FILE *f, char *line, size_t cap, unsigned *no, char **out, const char *path,
                 char *err, size_t errcap);
/* Defaults, then the file (if path), then flags (name/value pairs, NULL-terminated): a flag
 * of a list setting (target-host, allow, dns-server) replaces the file's list. 0 or -1 with err. */
int px_build_config(px_config *c, const char *path, const char *const *flags, char *err,
                    size_t errcap);
/* One "name value" setting (file and flags share names). Returns 0 or -1 with err filled. */
int px_config_set(px_config *c, const char *name, const char *value, char *err, size_t errcap);
/* Deep copy (dst is overwritten). Returns 0 or -1 (out of memory; dst is then empty). */
int px_config_copy(px_config *dst, const px_config *src);
/* Settings that need a restart (listen, state-dir, workers, the resolver's hosts-file and
 * dns-server): dst gets src's. */
int px_config_keep_static(px_config *dst, const px_config *src);
/* 1 if host (any case) matches one of the target patterns (fnmatch globs, lower case). */
int px_config_is_target(const px_config *c, const char *host);
/* Applies the connect-to map: host and port are replaced by where to really connect. */
void px_config_route(const px_config *c, const char **host, unsigned *port);
/* "ADDR" or "ADDR/PREFIX", IPv4 or IPv6: 0, or -1 if malformed. */
int px_net_parse(px_net *n, const char *s);
struct sockaddr;
/* Whether a client at sa may use the proxy (the allow list, or loopback and private networks). */
int px_config_client_allowed(const px_config *c, const struct sockaddr *sa);
/* sa's address as text (no port), in out; "?" if it is not IP. Returns out. */
const char *px_addr_text(const struct sockaddr *sa, char *out, size_t cap);
struct addrinfo;
/* Whether any address of the list (ai, ai->ai_next, ...) is this machine's: loopback,
 * unspecified (0/8, ::), or one of its network interfaces' addresses now (IPv4 also as
 * IPv4-mapped IPv6; the interfaces are listed once for the whole list). Fails closed: 1 if an
 * address is not IP or the interfaces cannot be listed. */
int px_addrs_this_machine(const struct addrinfo *ai);
/* Whether a connected socket's peer is this machine: loopback or unspecified, or the socket's
 * own (local) address. Fails closed: 1 if either is not IP or their families differ. */
int px_addr_peer_is_self(const struct sockaddr *peer, const struct sockaddr *local);
extern const char *const px_default_allow[];
extern const char *const px_default_targets[];

/* ---------------------------------------------------------------- ca.c */

typedef struct px_ca px_ca;
/* Loads STATE/ca.pem + ca.key, creating them (ca.key 0600) if neither exists. */
int px_ca_open(px_ca **out, const char *state_dir, char *err, size_t errcap);
/* -1 (and why in err) if others may read or write path, a key file of the state dir. */
int px_private_file_check(const char *path, const char *what, char *err, size_t errcap);
void px_ca_free(px_ca *ca);
/* A leaf for host (DNS name or IP literal), minted or from the cache (thread-safe). *cert is the
 * caller's reference (X509_free it); *key belongs to the CA (valid until px_ca_free).
 * Returns 0 or -1. */
int px_ca_leaf(px_ca *ca, const char *host, X509 **cert, EVP_PKEY **key);
X509 *px_ca_cert(px_ca *ca);

/* ---------------------------------------------------------------- index.c */

#define PX_DIGEST 32
typedef struct px_index px_index;
int px_index_open(px_index **out, const char *path, char *err, size_t errcap);
void px_index_close(px_index *ix);
/* Records a ciphertext this proxy produced; view: its view digest (isec_jpeg_view_digest). */
int px_index_put(px_index *ix, const uint8_t key[PX_DIGEST], uint64_t prefix_len,
                 uint64_t total_len, const uint8_t view[PX_DIGEST], const char *host);
/* 1 found (fills total_len, view), 2 found in a row from before view digests were kept (fills
 * total_len only), 0 not found, <0 error. */
int px_index_get(px_index *ix, const uint8_t key[PX_DIGEST], uint64_t *total_len,
                 uint8_t view[PX_DIGEST]);

/* ---------------------------------------------------------------- jstream.c */

typedef void (*px_emit_fn)(void *arg, const uint8_t *p, size_t n);

/* What the JPEG streams ask of the index (NULL functions: nothing is indexed). */
typedef struct {
    int (*get)(void *arg, const uint8_t key[PX_DIGEST], uint64_t *total_len,
               uint8_t view[PX_DIGEST]);
    int (*put)(void *arg, const uint8_t key[PX_DIGEST], uint64_t prefix_len, uint64_t total_len,
               const uint8_t view[PX_DIGEST]);
    void *arg;
} px_index_ops;

/* The index key of a JPEG: SHA-256 over its first P bytes, where P = min(length, offset of the
 * first SOS marker + 64 KiB), or min(length, 1 MiB) when no SOS is found in the first 1 MiB.
 * Encryption never changes bytes before the first SOS, so P is the same for a plaintext and its
 * ciphertext, and the key can be computed after at most ~1 MiB of a stream. */
#define PX_PREFIX_AFTER_SOS (64u * 1024u)
#define PX_PREFIX_MAX (1024u * 1024u)

typedef struct {
    EVP_MD_CTX *md;
    uint64_t seen, limit; /* limit 0 until known */
    int state;
    uint32_t skip;
    uint8_t lenhi;
    int done;
    uint8_t key[PX_DIGEST];
} px_prefix;
int px_prefix_init(px_prefix *p);
void px_prefix_free(px_prefix *p);
/* Feeds bytes; returns how many were taken (fewer than n once the key is complete). */
size_t px_prefix_feed(px_prefix *p, const uint8_t *b, size_t n);
/* The stream ended: completes the key over what was seen. */
void px_prefix_end(px_prefix *p);

enum { PX_DIR_REQUEST = 1, PX_DIR_RESPONSE = 2 };
enum { PX_J_SNIFF, PX_J_PREFIX, PX_J_CRYPT, PX_J_PASS };

typedef struct {
    int dir;
    const isec_key *key;
    px_index_ops ix;
    px_emit_fn emit;
    void *emit_arg;
    int refuse; /* request: on a refused JPEG, fail instead of passing the rest plain */
    int64_t expect_len; /* response: Content-Length of this body if known, else -1 */
    int async; /* run the cipher on a thread of its own if one is free (jstream.c) */
    void (*notify)(void *arg); /* async: called from the cipher thread after each piece */
    void *notify_arg;
    int refuse_other; /* request: fail on a picture or video of another format (px_media_kind) */
} px_jstream_cfg;

/* Pieces queued for a stream's cipher thread at which its caller should stop feeding it. */
#define PX_JSTREAM_BACKLOG_HIGH 6

struct px_jasync;

typedef struct {
    px_jstream_cfg cfg;
    int phase;
    isec_jpeg *c;
    uint8_t sniff[3];
    size_t nsniff;
    uint8_t *head; /* bytes held while the index key is computed */
    size_t head_len, head_cap;
    px_prefix in_key, out_key;
    int have_out_key;
    uint8_t view_want[PX_DIGEST]; /* response: the indexed view digest (if have_view) */
    int have_view;
    uint64_t want_len;
    uint8_t *pend; /* raw input not yet output by the cipher (kept to fall back on) */
    size_t pend_off, pend_len, pend_cap;
    uint8_t *obuf;
    size_t obuf_cap;
    struct px_jasync *as; /* the cipher's own thread, if it has one */
    int counted; /* in jstream.c's count of streams being enciphered */
    uint64_t in_total;
    int failed;   /* fatal: the caller must abort the message */
    int is_jpeg, crypted, known, mismatch, refused;
    uint8_t first[16]; /* the stream's first bytes (px_media_kind) */
    size_t nfirst;
    int other_checked, refused_other; /* refuse_other: looked at; failed for it */
    char detail[160];
} px_jstream;

/* What kind of picture or video a stream that is not a JPEG is, from its first bytes ("HEIC",
 * "PNG", "MOV video", ...), or NULL if none the proxy knows: such files go up unencrypted, and
 * the log says so. */
const char *px_media_kind(const uint8_t *b, size_t n);

int px_jstream_init(px_jstream *j, const px_jstream_cfg *cfg);
/* Takes all n bytes, emitting what is ready. Returns 0, or -1 if the message must be aborted. */
int px_jstream_push(px_jstream *j, const uint8_t *b, size_t n);
int px_jstream_end(px_jstream *j);
/* Waits until everything pushed so far has been through the cipher and emits it: output then
 * lags input by at most ISEC_JPEG_MAX_HELD again (as it always does without a cipher thread). */
int px_jstream_sync(px_jstream *j);
/* Emits what the cipher thread has given back so far, without waiting (0, or -1: abort). */
int px_jstream_poll(px_jstream *j);
/* Pieces queued for the cipher thread (0 without one). */
size_t px_jstream_backlog(px_jstream *j);
/* Cipher threads started so far in this process (for tests). */
unsigned long px_jstream_threads_started(void);
void px_jstream_free(px_jstream *j);

/* ---------------------------------------------------------------- multipart.c */

enum { PX_MP_RAW = 1, PX_MP_PART_BEGIN, PX_MP_DATA, PX_MP_PART_END };
typedef int (*px_mp_fn)(void *arg, int kind, const uint8_t *p, size_t n);
#define PX_MP_MAX_BOUNDARY 70
#define PX_MP_MAX_PART_HEAD (16u * 1024u)

typedef struct {
    uint8_t delim[PX_MP_MAX_BOUNDARY + 4]; /* "\r\n--" boundary */
    size_t dlen;
    size_t *fail; /* KMP failure table */
    size_t match, virt; /* virt: leading bytes of the match that were never input */
    int state;
    size_t headbytes, crlf;
    px_mp_fn cb;
    void *arg;
} px_multipart;

/* boundary from Content-Type; returns -1 if it is not a usable one. */
int px_multipart_init(px_multipart *m, const char *boundary, size_t blen, px_mp_fn cb, void *arg);
/* Every input byte is handed back once, in order, as RAW or DATA (between PART_BEGIN/END).
 * Returns 0, or the callback's negative return. */
int px_multipart_push(px_multipart *m, const uint8_t *b, size_t n);
int px_multipart_end(px_multipart *m);
void px_multipart_free(px_multipart *m);
/* Finds boundary=... in a Content-Type value of a multipart type. */
int px_multipart_boundary(const char *ctype, char *out, size_t outcap);

/* ---------------------------------------------------------------- body.c */

typedef struct {
    int dir;
    const isec_key *key;
    px_index_ops ix;
    px_emit_fn emit;
    void *emit_arg;
    const char *content_type; /* may be NULL */
    int64_t content_length;   /* -1 if unknown */
    int refuse;
    int async; /* px_jstream_cfg.async, .notify, .notify_arg */
    void (*notify)(void *arg);
    void *notify_arg;
    int refuse_other; /* px_jstream_cfg.refuse_other */
} px_body_cfg;

typedef struct {
    px_body_cfg cfg;
    int multipart;
    px_multipart mp;
    px_jstream js;
    int js_open;
    unsigned jpegs, crypted, refused, mismatched;
    unsigned plain_media;   /* request: pictures and videos of other formats, sent as they were */
    const char *plain_kind; /* the last one's px_media_kind */
    int failed;
    /* failed by a setting: PX_REFUSED_JPEG (the cipher refused a JPEG; on-unencryptable
     * refuse) or PX_REFUSED_OTHER (a picture of another format; on-other-media refuse) */
    int refusal;
    char detail[160];
} px_body;
enum { PX_REFUSED_JPEG = 1, PX_REFUSED_OTHER = 2 };

int px_body_init(px_body *b, const px_body_cfg *cfg);
int px_body_push(px_body *b, const uint8_t *p, size_t n);
int px_body_end(px_body *b);
void px_body_free(px_body *b);
/* 1 if whatever comes next passes unchanged (a raw body found not to be a JPEG of ours to work
 * on): the caller may then send n bytes on itself and tell the body with px_body_skip. */
int px_body_passing(const px_body *b);
void px_body_skip(px_body *b, size_t n);
/* The JPEG stream open now, if any: px_jstream_poll / px_jstream_backlog (0 without one). */
int px_body_poll(px_body *b);
size_t px_body_backlog(px_body *b);

/* ---------------------------------------------------------------- resumable.c */

enum { PX_RS_START = 1, PX_RS_UPLOAD = 2, PX_RS_FINALIZE = 4, PX_RS_QUERY = 8, PX_RS_CANCEL = 16 };
#define PX_RS_DEFAULT_GRAN (256u * 1024u) /* when the start response names none */
#define PX_RS_MAX_GRAN (8u * 1024u * 1024u)

/* X-Goog-Upload-Command value -> PX_RS_* mask; 0 if absent, -1 if unknown or meaningless. */
int px_rs_command(const char *v);
/* X-Goog-Upload-Offset / -Size-Received / -Chunk-Granularity: a decimal; -1 if malformed. */
int px_rs_offset(const char *v, uint64_t *out);
/* Session key of a request (host + origin-form target) or of an absolute upload URL (host
 * ignored): "id:" + the upload_id query parameter, else "url:" + host + path?query. */
int px_rs_session_id(const char *host, const char *target, char *out, size_t cap);

typedef struct px_rsess {
    struct px_rsess *next;
    char id[512];           /* "" until the start response names it */
    time_t last;
    int busy;               /* a piece is on its way */
    int broken;             /* a piece failed: the session cannot go on through the proxy */
    int failed;             /* internal: the current piece went wrong */
    uint64_t gran;          /* upstream chunk granularity */
    uint64_t in_total;      /* client bytes taken (the client's next offset) */
    uint64_t in_base;       /* in_total when the current piece began (read by others while busy) */
    uint64_t out_total;     /* cipher output produced */
    uint64_t sent;          /* bytes the server acknowledged (upstream offset) */
    px_jstream js;
    int js_on;
    uint8_t *fifo;          /* cipher output not yet sent upstream */
    size_t fifo_off, fifo_len, fifo_cap;
    uint64_t piece_in, piece_taken, piece_out, piece_sent;
    int piece_final, piece_complete;
    px_emit_fn emit;        /* where the current piece's upstream bytes go */
    void *emit_arg;
    int is_jpeg, crypted, refused; /* after the final piece */
    const char *media; /* px_media_kind of what went up, if not a JPEG (after the final piece) */
} px_rsess;

typedef struct {
    px_rsess *head;
    unsigned n, cap, ttl_s;
} px_rstable;

typedef struct {
    uint64_t up_offset, up_len; /* the upstream piece */
    int local;                  /* nothing to send yet: the proxy answers the client itself */
} px_rs_plan;

void px_rs_table_init(px_rstable *t, unsigned cap, unsigned ttl_s);
void px_rs_table_free(px_rstable *t);
/* Forgets idle sessions older than the TTL; returns how many. */
unsigned px_rs_purge(px_rstable *t, time_t now);
px_rsess *px_rs_find(px_rstable *t, const char *id, time_t now);
/* A new session (id may be NULL: named later by px_rs_set_id). -1 if the table is full. */
int px_rs_new(px_rstable *t, const char *id, time_t now, px_rsess **out);
void px_rs_set_id(px_rstable *t, px_rsess *s, const char *id);
void px_rs_drop(px_rstable *t, px_rsess *s);
/* A client piece of len bytes at offset: plans the upstream piece. -1 if the session is busy,
 * broken, or offset is not the next expected one (nothing changes then). */
int px_rs_piece_begin(px_rsess *s, const px_jstream_cfg *jc, uint64_t offset, uint64_t len,
                      int finalize, px_rs_plan *plan);
/* Where the upstream piece goes (NULL: nowhere yet); sends what earlier pieces left over. */
void px_rs_piece_attach(px_rsess *s, px_emit_fn emit, void *arg);
int px_rs_piece_push(px_rsess *s, const uint8_t *p, size_t n);
/* The client piece is complete: exactly up_len bytes have gone upstream, or -1. */
int px_rs_piece_end(px_rsess *s);
/* The piece's exchange is over: ok = the server took it (2xx) or it was answered locally. */
void px_rs_piece_done(px_rsess *s, int ok, time_t now);
/* Bytes the client sent that the server has not been sent yet (held by the proxy). */
uint64_t px_rs_held(const px_rsess *s);
const char *px_rs_detail(const px_rsess *s);
/* Why the session's JPEG stream failed, if a setting refused it: PX_REFUSED_*, else 0. */
int px_rs_refusal(const px_rsess *s);

/* ---------------------------------------------------------------- httpmsg.c */

#define PX_MAX_HEADERS 128

typedef struct {
    char *buf; /* names and values, NUL-separated */
    size_t len, buf_cap, limit;
    size_t name[PX_MAX_HEADERS], value[PX_MAX_HEADERS];
    size_t n;
    int in_value;
    int overflow; /* too many or too large: the message is refused (431) */
    char *url;
    size_t url_len, url_cap;
    char *reason;
    size_t reason_len, reason_cap;
} px_head;

void px_head_init(px_head *h, size_t limit);
void px_head_reset(px_head *h);
void px_head_free(px_head *h);
int px_head_url(px_head *h, const char *p, size_t n);
int px_head_reason(px_head *h, const char *p, size_t n);
int px_head_field(px_head *h, const char *p, size_t n);
int px_head_value(px_head *h, const char *p, size_t n);
const char *px_head_name_at(const px_head *h, size_t i);
const char *px_head_value_at(const px_head *h, size_t i);
/* First value of a header (any case), or NULL. */
const char *px_head_get(const px_head *h, const char *name);
/* 1 if a comma-separated header contains token (any case). */
int px_head_has_token(const px_head *h, const char *name, const char *token);

/* Writes the head out through emit. skip: NULL-terminated header names left out (any case);
 * extra: NULL or "Name: value\r\n" lines added at the end. */
typedef void (*px_out_fn)(void *arg, const char *p, size_t n);
void px_head_write_request(const px_head *h, const char *method, const char *url,
                           unsigned major, unsigned minor, const char *const *skip,
                           const char *extra, px_out_fn out, void *arg);
void px_head_write_response(const px_head *h, unsigned status, unsigned major, unsigned minor,
                            const char *const *skip, const char *extra, px_out_fn out,
                            void *arg);
/* Only the "Name: value\r\n" lines (trailers). */
void px_head_write_fields(const px_head *h, const char *const *skip, px_out_fn out, void *arg);
/* Splits "host[:port]" (IPv6 in brackets); returns -1 if malformed. */
int px_split_hostport(const char *s, size_t n, char *host, size_t hostcap, unsigned *port,
                      unsigned defport);

/* ---------------------------------------------------------------- auth.c */

/* Proxy users (auth-file; format and why in auth.c). */
#define PX_AUTH_NAME_MAX 64
#define PX_AUTH_USERS_MAX 1024
typedef struct px_auth px_auth;
/* Loads an auth file; refused if others can read it. 0, or -1 with err. */
int px_auth_load(px_auth **out, const char *path, char *err, size_t cap);
/* The same from an open file, its mode not checked (path names it in messages). */
int px_auth_read(px_auth **out, FILE *f, const char *path, char *err, size_t cap);
void px_auth_free(px_auth *a);
size_t px_auth_count(const px_auth *a);
/* 1 if name may be a user's: 1-64 letters, digits or . _ - @ */
int px_auth_name_ok(const char *name);
/* 1 if a Proxy-Authorization value holds a user's name and password (the name in user), else
 * 0. Never ignorable. */
__attribute__((warn_unused_result)) int px_auth_check(const px_auth *a, const char *value,
                                                      char *user, size_t ucap);
/* Adds name to the file at path (made, mode 0600, if missing) with a new random password, put in
 * pass (a user already there gets a new one), or with remove, takes it out. The file is
 * replaced whole (temporary file, fsync, rename). 0, or -1 with err. */
int px_auth_set_user(const char *path, const char *name, int remove, char pass[24], char *err,
                     size_t cap);

/* ---------------------------------------------------------------- setup.c */

/* One of the proxy's own pages (setup.c): status 200 or 404, body malloc'd (free it). */
typedef struct {
    unsigned status;
    const char *ctype;
    char *body;
    size_t len;
} px_page;
/* The page for an origin-form path ("/", "/ca.pem", "/ca.cer", "/proxy.pac"; anything else a
 * 404 page); proxy is this proxy's ADDR:PORT as the device reaches it. 0, or -1 if out of
 * memory or the CA cannot be encoded. */
int px_setup_page(const px_config *cfg, X509 *ca, const char *path, const char *proxy,
                  px_page *out);
/* The CA certificate's SHA-256 fingerprint as phones and openssl show it ("AB:CD:..."), in
 * out[96]; "" if ca is NULL. Logged at start and shown on the setup page, so that a user can
 * check the certificate a phone is about to trust. */
void px_ca_fingerprint(X509 *ca, char out[96]);

/* ---------------------------------------------------------------- server.c / conn.c */

typedef struct px_server px_server;
/* Runs the proxy until SIGTERM/SIGINT (drained) or a fatal error; takes over cfg. flags are
 * name/value pairs (NULL-terminated) re-applied over config_path on SIGHUP. Returns an exit code. */
int px_run(px_config *cfg, const char *config_path, const char *const *flags, const isec_key *key);
/* First start: creates STATE, STATE/key, STATE/ca.pem, STATE/ca.key as needed. */
int px_state_init(const char *state_dir, char *err, size_t errcap);

#endif

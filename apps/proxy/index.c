/* The index of ciphertexts this proxy produced (STATE/index.sqlite), keyed by the index key of
 * proxy.h (SHA-256 of the first P bytes). The proxy decrypts a response only when its key is
 * here, and never encrypts a request body whose key is here. One row per ciphertext:
 *   key BLOB PRIMARY KEY, prefix_len, total_len, view (the ciphertext's view digest,
 *   isec_jpeg_view_digest: NULL in rows from before it was kept), host, created (Unix time).
 * PRAGMA user_version 1; version 0 (no pragma set) kept a SHA-256 of the whole ciphertext in
 * `full` instead, which would not compare with a view digest: such a table is rebuilt on open
 * with its rows' view NULL (their downloads are still decrypted; only the end check is lost).
 * WAL mode, synchronous=NORMAL: a crash can lose the last rows, never corrupt the file; a lost
 * row means that image downloads as ciphertext (it stays decryptable with `imgsec jpeg decrypt`).
 * One connection shared by the worker threads under a mutex: a lookup or an insert takes tens of
 * microseconds (no fsync: WAL + NORMAL syncs only at checkpoints), far less than the busy waits
 * (>= 1 ms sleeps) of one connection per thread contending for the WAL write lock. A row is
 * committed before the upload's last byte goes upstream, so it is in the index (for every thread)
 * before the server can answer the upload, hence before any download of it can ask.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "proxy.h"

struct px_index {
    pthread_mutex_t mu;
    sqlite3 *db;
    sqlite3_stmt *put, *get;
};

static int user_version(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    int version = -1;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return version;
}

/* Version 1's table, made on a new file and by the rebuild of a version 0 one. */
#define CREATE_V1                                                                                  \
    "CREATE TABLE IF NOT EXISTS ciphertexts (key BLOB PRIMARY KEY, prefix_len INTEGER NOT NULL,"  \
    " total_len INTEGER NOT NULL, view BLOB, host TEXT, created INTEGER NOT NULL);"               \
    "PRAGMA user_version = 1;"

/* A version 0 table (see the top) becomes version 1. Looked at inside the write transaction, so
 * that two proxies starting on one state dir do not both rebuild it. */
static int migrate(sqlite3 *db)
{
    if (user_version(db) > 0) return 0;
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) return -1;
    int version = user_version(db), rc = version < 0 ? -1 : 0;
    sqlite3_stmt *st = NULL;
    int old = version == 0 &&
              sqlite3_prepare_v2(db, "SELECT full FROM ciphertexts LIMIT 0", -1, &st, NULL) == SQLITE_OK;
    sqlite3_finalize(st);
    if (old && sqlite3_exec(db,
                            "ALTER TABLE ciphertexts RENAME TO ciphertexts_v0;" CREATE_V1
                            "INSERT INTO ciphertexts SELECT key, prefix_len, total_len, NULL,"
                            " host, created FROM ciphertexts_v0;"
                            "DROP TABLE ciphertexts_v0;",
                            NULL, NULL, NULL) != SQLITE_OK)
        rc = -1;
    if (sqlite3_exec(db, rc == 0 ? "COMMIT" : "ROLLBACK", NULL, NULL, NULL) != SQLITE_OK) rc = -1;
    return rc;
}

int px_index_open(px_index **out, const char *path, char *err, size_t errcap)
{
    px_index *ix = calloc(1, sizeof *ix);
    if (!ix) return -1;
    pthread_mutex_init(&ix->mu, NULL);
    if (sqlite3_open_v2(path, &ix->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK)
        goto bad;
    sqlite3_busy_timeout(ix->db, 2000);
    if (sqlite3_exec(ix->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", NULL, NULL,
                     NULL) != SQLITE_OK ||
        migrate(ix->db) < 0 || sqlite3_exec(ix->db, CREATE_V1, NULL, NULL, NULL) != SQLITE_OK)
        goto bad;
    if (sqlite3_prepare_v2(ix->db,
                           "INSERT OR REPLACE INTO ciphertexts VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                           -1, &ix->put, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(ix->db, "SELECT total_len, view FROM ciphertexts WHERE key = ?1", -1,
                           &ix->get, NULL) != SQLITE_OK)
        goto bad;
    *out = ix;
    return 0;
bad:
    snprintf(err, errcap, "%s: %s", path, ix->db ? sqlite3_errmsg(ix->db) : "cannot open");
    px_index_close(ix);
    return -1;
}

void px_index_close(px_index *ix)
{
    if (!ix) return;
    sqlite3_finalize(ix->put);
    sqlite3_finalize(ix->get);
    sqlite3_close(ix->db);
    pthread_mutex_destroy(&ix->mu);
    free(ix);
}

static int put_locked(px_index *ix, const uint8_t key[PX_DIGEST], uint64_t prefix_len,
                 uint64_t total_len, const uint8_t view[PX_DIGEST], const char *host)
{
    sqlite3_stmt *s = ix->put;
    sqlite3_reset(s);
    sqlite3_bind_blob(s, 1, key, PX_DIGEST, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, (sqlite3_int64)prefix_len);
    sqlite3_bind_int64(s, 3, (sqlite3_int64)total_len);
    sqlite3_bind_blob(s, 4, view, PX_DIGEST, SQLITE_STATIC);
    sqlite3_bind_text(s, 5, host ? host : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 6, (sqlite3_int64)time(NULL));
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? 0 : -1;
}

static int get_locked(px_index *ix, const uint8_t key[PX_DIGEST], uint64_t *total_len,
                 uint8_t view[PX_DIGEST])
{
    sqlite3_stmt *s = ix->get;
    sqlite3_reset(s);
    sqlite3_bind_blob(s, 1, key, PX_DIGEST, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    int ret = -1;
    if (rc == SQLITE_ROW) {
        *total_len = (uint64_t)sqlite3_column_int64(s, 0);
        const void *b = sqlite3_column_blob(s, 1);
        if (sqlite3_column_type(s, 1) == SQLITE_NULL) {
            ret = 2;
        } else if (b && sqlite3_column_bytes(s, 1) == PX_DIGEST) {
            memcpy(view, b, PX_DIGEST);
            ret = 1;
        }
    } else if (rc == SQLITE_DONE) {
        ret = 0;
    }
    sqlite3_reset(s);
    return ret;
}

int px_index_put(px_index *ix, const uint8_t key[PX_DIGEST], uint64_t prefix_len,
                 uint64_t total_len, const uint8_t view[PX_DIGEST], const char *host)
{
    pthread_mutex_lock(&ix->mu);
    int rc = put_locked(ix, key, prefix_len, total_len, view, host);
    pthread_mutex_unlock(&ix->mu);
    return rc;
}

int px_index_get(px_index *ix, const uint8_t key[PX_DIGEST], uint64_t *total_len,
                 uint8_t view[PX_DIGEST])
{
    pthread_mutex_lock(&ix->mu);
    int rc = get_locked(ix, key, total_len, view);
    pthread_mutex_unlock(&ix->mu);
    return rc;
}

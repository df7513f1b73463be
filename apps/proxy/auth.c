/* Proxy users (auth-file): who may use the proxy, checked from the Proxy-Authorization header
 * (Basic) of a CONNECT or plain request.
 *
 * File: one "USER:sha256:SALT:HASH" line per user (hex; HASH = SHA-256(SALT || password)), "#"
 * comments, mode 0600. Passwords are never chosen: `imgsec proxy user add` draws 100 random
 * bits for each. That is what makes one fast salted hash enough (nobody can guess 2^100
 * passwords from the file), and a check costs microseconds, where a password-hashing KDF such as
 * scrypt would let any client on the allowed networks stall a worker's loop for ~100 ms per
 * attempt.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "proxy.h"

#define SALT_LEN 16
#define HASH_LEN 32
/* the longest Basic credentials looked at: a name, ':' and 64 bytes of password, in base64 */
#define B64_MAX (4 * ((PX_AUTH_NAME_MAX + 65 + 2) / 3))

struct px_auth_user {
    char name[PX_AUTH_NAME_MAX + 1];
    uint8_t salt[SALT_LEN], hash[HASH_LEN];
};

struct px_auth {
    struct px_auth_user *u;
    size_t n;
};

static int unhex(const char *s, size_t len, uint8_t *out)
{
    if (strlen(s) != 2 * len) return -1;
    for (size_t i = 0; i < len; i++) {
        unsigned v;
        if (!isxdigit((unsigned char)s[2 * i]) || !isxdigit((unsigned char)s[2 * i + 1]) ||
            sscanf(s + 2 * i, "%2x", &v) != 1)
            return -1;
        out[i] = (uint8_t)v;
    }
    return 0;
}

static void hexs(char *out, const uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++) snprintf(out + 2 * i, 3, "%02x", b[i]);
}

int px_auth_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > PX_AUTH_NAME_MAX) return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)name[i]) && !strchr("._-@", name[i])) return 0;
    return 1;
}

static int digest(const uint8_t salt[SALT_LEN], const char *pass, size_t plen, uint8_t out[HASH_LEN])
{
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    unsigned n = 0;
    int ok = m && EVP_DigestInit_ex(m, EVP_sha256(), NULL) == 1 &&
             EVP_DigestUpdate(m, salt, SALT_LEN) == 1 && EVP_DigestUpdate(m, pass, plen) == 1 &&
             EVP_DigestFinal_ex(m, out, &n) == 1 && n == HASH_LEN;
    EVP_MD_CTX_free(m);
    return ok ? 0 : -1;
}

void px_auth_free(px_auth *a)
{
    if (!a) return;
    if (a->u) OPENSSL_cleanse(a->u, a->n * sizeof *a->u);
    free(a->u);
    free(a);
}

/* Reads the file's lines into a (NULL: only checks them). */
static int parse(FILE *f, const char *path, px_auth *a, char *err, size_t cap)
{
    char buf[512], *line;
    unsigned no = 0;
    size_t have = 0;
    int more;
    while ((more = px_next_line(f, buf, sizeof buf, &no, &line, path, err, cap)) > 0) {
        char *f1 = strchr(line, ':'), *f2 = f1 ? strchr(f1 + 1, ':') : NULL,
             *f3 = f2 ? strchr(f2 + 1, ':') : NULL;
        if (!f3) goto bad;
        *f1++ = *f2++ = *f3++ = 0;
        struct px_auth_user u;
        if (!px_auth_name_ok(line) || strcmp(f1, "sha256") != 0 || unhex(f2, SALT_LEN, u.salt) < 0 ||
            unhex(f3, HASH_LEN, u.hash) < 0)
            goto bad;
        snprintf(u.name, sizeof u.name, "%s", line);
        for (size_t i = 0; a && i < a->n; i++)
            if (!strcmp(a->u[i].name, u.name)) {
                snprintf(err, cap, "%s:%u: user %s given twice", path, no, u.name);
                return -1;
            }
        if (a && a->n == PX_AUTH_USERS_MAX) {
            snprintf(err, cap, "%s: more than %d users", path, PX_AUTH_USERS_MAX);
            return -1;
        }
        if (a && a->n == have) {
            size_t nc = have ? have * 2 : 8;
            struct px_auth_user *nu = realloc(a->u, nc * sizeof *nu);
            if (!nu) {
                snprintf(err, cap, "out of memory");
                return -1;
            }
            a->u = nu;
            have = nc;
        }
        if (a) a->u[a->n++] = u;
        OPENSSL_cleanse(&u, sizeof u);
        continue;
    bad:
        snprintf(err, cap, "%s:%u: expected USER:sha256:SALT:HASH (made by 'imgsec proxy user add')",
                 path, no);
        return -1;
    }
    return more;
}

int px_auth_load(px_auth **out, const char *path, char *err, size_t cap)
{
    *out = NULL;
    FILE *f = fopen(path, "r");
    struct stat st;
    if (!f || fstat(fileno(f), &st) != 0) {
        snprintf(err, cap, "auth-file %s: %s", path, strerror(errno));
        if (f) fclose(f);
        return -1;
    }
    if (!S_ISREG(st.st_mode) || (st.st_mode & 077)) {
        snprintf(err, cap, "auth-file %s: %s", path,
                 S_ISREG(st.st_mode) ? "readable by others; chmod 600 it" : "not a regular file");
        fclose(f);
        return -1;
    }
    int rc = px_auth_read(out, f, path, err, cap);
    fclose(f);
    return rc;
}

int px_auth_read(px_auth **out, FILE *f, const char *path, char *err, size_t cap)
{
    *out = NULL;
    px_auth *a = calloc(1, sizeof *a);
    int rc = a ? parse(f, path, a, err, cap) : -1;
    if (!a) snprintf(err, cap, "out of memory");
    if (rc < 0) {
        px_auth_free(a);
        return -1;
    }
    *out = a;
    return 0;
}

size_t px_auth_count(const px_auth *a) { return a ? a->n : 0; }

int px_auth_check(const px_auth *a, const char *value, char *user, size_t ucap)
{
    if (user && ucap) user[0] = 0;
    if (!a || !value) return 0;
    while (*value == ' ') value++;
    if (strncasecmp(value, "Basic ", 6) != 0) return 0;
    value += 6;
    while (*value == ' ') value++;
    size_t l = strcspn(value, " \t\r\n");
    if (l == 0 || l > B64_MAX || l % 4) return 0;
    unsigned char dec[B64_MAX / 4 * 3 + 1];
    int n = EVP_DecodeBlock(dec, (const unsigned char *)value, (int)l);
    if (n < 0) return 0;
    if (value[l - 1] == '=') n--; /* EVP_DecodeBlock counts the padding as zero bytes */
    if (value[l - 2] == '=') n--;
    dec[n] = 0;
    int ok = 0;
    unsigned char *colon = memchr(dec, ':', (size_t)n);
    if (colon && (size_t)(colon - dec) <= PX_AUTH_NAME_MAX && !memchr(dec, 0, (size_t)n)) {
        *colon = 0;
        const char *pass = (const char *)colon + 1;
        size_t plen = (size_t)n - (size_t)(colon - dec) - 1;
        for (size_t i = 0; i < a->n && !ok; i++) {
            if (strcmp(a->u[i].name, (const char *)dec) != 0) continue;
            uint8_t h[HASH_LEN];
            ok = digest(a->u[i].salt, pass, plen, h) == 0 && CRYPTO_memcmp(h, a->u[i].hash, HASH_LEN) == 0;
            OPENSSL_cleanse(h, sizeof h);
            if (user && ucap) snprintf(user, ucap, "%s", a->u[i].name);
        }
    }
    OPENSSL_cleanse(dec, sizeof dec);
    return ok;
}

/* 100 random bits as 4 groups of 5 from 32 letters and digits that cannot be mistaken for one
 * another (no 0/o, 1/l/i): easy to type once into a phone. */
static int new_password(char out[24])
{
    static const char al[] = "abcdefghjkmnpqrstuvwxyz23456789_";
    uint8_t r[20];
    if (RAND_priv_bytes(r, sizeof r) != 1) return -1;
    size_t k = 0;
    for (int i = 0; i < 20; i++) {
        if (i && i % 5 == 0) out[k++] = '-';
        out[k++] = al[r[i] & 31];
    }
    out[k] = 0;
    OPENSSL_cleanse(r, sizeof r);
    return 0;
}

int px_auth_set_user(const char *path, const char *name, int remove, char pass[24], char *err,
                     size_t cap)
{
    if (!px_auth_name_ok(name)) {
        snprintf(err, cap, "user name: 1-%d letters, digits or . _ - @", PX_AUTH_NAME_MAX);
        return -1;
    }
    /* what is there (a missing file is an empty one), checked as the proxy would */
    char *old = NULL;
    size_t oldlen = 0;
    FILE *f = fopen(path, "r");
    if (f) {
        struct stat st = {0};
        char e2[256];
        if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) || parse(f, path, NULL, e2, sizeof e2) < 0) {
            snprintf(err, cap, "%s", S_ISREG(st.st_mode) ? e2 : "not a regular file");
            fclose(f);
            return -1;
        }
        rewind(f);
        char buf[4096];
        size_t r;
        while ((r = fread(buf, 1, sizeof buf, f)) > 0) {
            char *no = realloc(old, oldlen + r + 1);
            if (!no) {
                free(old);
                fclose(f);
                snprintf(err, cap, "out of memory");
                return -1;
            }
            old = no;
            memcpy(old + oldlen, buf, r);
            oldlen += r;
            old[oldlen] = 0;
        }
        fclose(f);
    } else if (errno != ENOENT) {
        snprintf(err, cap, "%s: %s", path, strerror(errno));
        return -1;
    }
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", path) >= (int)sizeof tmp) {
        free(old);
        snprintf(err, cap, "path too long");
        return -1;
    }
    int fd = mkstemp(tmp);
    FILE *o = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!o) {
        snprintf(err, cap, "%s: %s", tmp, strerror(errno));
        if (fd >= 0) close(fd);
        if (fd >= 0) unlink(tmp);
        free(old);
        return -1;
    }
    fchmod(fd, 0600);
    int found = 0, bad = 0;
    size_t nl = strlen(name);
    if (!old) fputs("# imgsec proxy users (imgsec proxy user add/remove); keep it mode 0600\n", o);
    for (char *line = old; line && *line;) {
        char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) + 1 : strlen(line);
        int mine = !strncmp(line, name, nl) && line[nl] == ':';
        found |= mine;
        if (!mine) bad |= fwrite(line, 1, len, o) != len;
        if (!mine && !end) bad |= fputc('\n', o) == EOF;
        line += len;
    }
    if (!remove) {
        uint8_t salt[SALT_LEN], h[HASH_LEN];
        char hs[2 * SALT_LEN + 1], hh[2 * HASH_LEN + 1];
        bad |= new_password(pass) < 0 || RAND_bytes(salt, sizeof salt) != 1 ||
               digest(salt, pass, strlen(pass), h) < 0;
        hexs(hs, salt, SALT_LEN);
        hexs(hh, h, HASH_LEN);
        bad |= fprintf(o, "%s:sha256:%s:%s\n", name, hs, hh) < 0;
        OPENSSL_cleanse(h, sizeof h);
    }
    free(old);
    bad |= fflush(o) != 0 || fsync(fd) != 0;
    bad |= fclose(o) != 0;
    if (!bad && remove && !found) {
        unlink(tmp);
        snprintf(err, cap, "%s: no user %s", path, name);
        return -1;
    }
    if (bad || rename(tmp, path) != 0) {
        snprintf(err, cap, "%s: %s", path, strerror(errno ? errno : EIO));
        unlink(tmp);
        return -1;
    }
    return 0;
}

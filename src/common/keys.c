/* Key files and key derivation. All crypto from OpenSSL 3. */
#include "imgsec/keys.h"
#include "keys_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>

#define KEYFILE_MAX 4096
#define SCRYPT_N (1u << 15)
#define SCRYPT_R 8u
#define SCRYPT_P 1u
#define SALT_BYTES 16
#define CHECK_BYTES 16

struct isec_key {
    uint8_t k[ISEC_KEY_BYTES];
};

static void setdetail(char *d, size_t cap, const char *msg)
{
    if (d && cap) snprintf(d, cap, "%s", msg);
}

int isec_key_from_bytes(isec_key **out, const uint8_t bytes[ISEC_KEY_BYTES])
{
    if (!out || !bytes) return ISEC_EINVAL;
    isec_key *k = OPENSSL_secure_zalloc(sizeof *k);
    if (!k) k = OPENSSL_zalloc(sizeof *k);
    if (!k) return ISEC_ENOMEM;
    memcpy(k->k, bytes, ISEC_KEY_BYTES);
    *out = k;
    return 0;
}

void isec_key_free(isec_key *key)
{
    if (!key) return;
    OPENSSL_cleanse(key, sizeof *key);
    if (CRYPTO_secure_allocated(key))
        OPENSSL_secure_free(key);
    else
        OPENSSL_free(key);
}

static void hex(char *dst, const uint8_t *src, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        dst[2 * i] = digits[src[i] >> 4];
        dst[2 * i + 1] = digits[src[i] & 15];
    }
    dst[2 * n] = 0;
}

static int unhex(uint8_t *dst, size_t n, const char *src)
{
    if (strlen(src) != 2 * n) return -1;
    for (size_t i = 0; i < 2 * n; i++) {
        int c = src[i], v;
        if (c >= '0' && c <= '9') v = c - '0';
        else if (c >= 'a' && c <= 'f') v = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') v = c - 'A' + 10;
        else return -1;
        if (i & 1) dst[i / 2] = (uint8_t)(dst[i / 2] | v);
        else dst[i / 2] = (uint8_t)(v << 4);
    }
    return 0;
}

/* Creates path exclusively with mode 0600 and writes text; removes it again on failure. */
static int write_new_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return errno == EEXIST ? ISEC_EEXIST : ISEC_EIO;
    size_t n = strlen(text), off = 0;
    while (off < n) {
        ssize_t w = write(fd, text + off, n - off);
        if (w < 0) {
            if (errno == EINTR) continue;
            break;
        }
        off += (size_t)w;
    }
    int ok = off == n && fchmod(fd, 0600) == 0 && fsync(fd) == 0;
    if (close(fd) != 0) ok = 0;
    if (!ok) {
        unlink(path);
        return ISEC_EIO;
    }
    return 0;
}

int isec_key_create_random(const char *path)
{
    uint8_t k[ISEC_KEY_BYTES];
    char text[200], h[2 * ISEC_KEY_BYTES + 1];
    if (!path) return ISEC_EINVAL;
    if (RAND_priv_bytes(k, sizeof k) != 1) return ISEC_ECRYPTO;
    hex(h, k, sizeof k);
    snprintf(text, sizeof text, "imgsec-key 1\nkind random\nkey %s\n", h);
    int rc = write_new_file(path, text);
    OPENSSL_cleanse(k, sizeof k);
    OPENSSL_cleanse(h, sizeof h);
    OPENSSL_cleanse(text, sizeof text);
    return rc;
}

static int scrypt(uint8_t out[ISEC_KEY_BYTES], const char *pass, size_t passlen,
                  const uint8_t *salt, size_t saltlen, uint64_t n, uint32_t r, uint32_t p)
{
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "SCRYPT", NULL);
    if (!kdf) return ISEC_ECRYPTO;
    EVP_KDF_CTX *ctx = EVP_KDF_CTX_new(kdf);
    EVP_KDF_free(kdf);
    if (!ctx) return ISEC_ECRYPTO;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD, (void *)pass, passlen),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, saltlen),
        OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_N, &n),
        OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_R, &r),
        OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_P, &p),
        OSSL_PARAM_construct_end(),
    };
    int ok = EVP_KDF_derive(ctx, out, ISEC_KEY_BYTES, params) == 1;
    EVP_KDF_CTX_free(ctx);
    return ok ? 0 : ISEC_ECRYPTO;
}

static int key_check(uint8_t out[CHECK_BYTES], const uint8_t key[ISEC_KEY_BYTES])
{
    uint8_t mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    static const char label[] = "imgsec key check";
    if (!HMAC(EVP_sha256(), key, ISEC_KEY_BYTES, (const unsigned char *)label, sizeof label - 1,
              mac, &maclen))
        return ISEC_ECRYPTO;
    memcpy(out, mac, CHECK_BYTES);
    return 0;
}

int isec_key_create_passphrase(const char *path, const char *pass, size_t passlen)
{
    uint8_t salt[SALT_BYTES], k[ISEC_KEY_BYTES], check[CHECK_BYTES];
    char text[400], hs[2 * SALT_BYTES + 1], hc[2 * CHECK_BYTES + 1];
    if (!path || !pass || passlen == 0) return ISEC_EINVAL;
    if (RAND_bytes(salt, sizeof salt) != 1) return ISEC_ECRYPTO;
    int rc = scrypt(k, pass, passlen, salt, sizeof salt, SCRYPT_N, SCRYPT_R, SCRYPT_P);
    if (rc == 0) rc = key_check(check, k);
    OPENSSL_cleanse(k, sizeof k);
    if (rc) return rc;
    hex(hs, salt, sizeof salt);
    hex(hc, check, sizeof check);
    snprintf(text, sizeof text, "imgsec-key 1\nkind scrypt\nn %u\nr %u\np %u\nsalt %s\ncheck %s\n",
             SCRYPT_N, SCRYPT_R, SCRYPT_P, hs, hc);
    return write_new_file(path, text);
}

/* Reads a key file (at most KEYFILE_MAX bytes) into buf, NUL-terminated. */
static int read_keyfile(const char *path, char *buf, char *detail, size_t detailcap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        setdetail(detail, detailcap, strerror(errno));
        return ISEC_EIO;
    }
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, buf + n, KEYFILE_MAX + 1 - n);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            setdetail(detail, detailcap, strerror(errno));
            close(fd);
            return ISEC_EIO;
        }
        if (r == 0) break;
        n += (size_t)r;
        if (n > KEYFILE_MAX) {
            close(fd);
            setdetail(detail, detailcap, "key file larger than 4 KiB: not an imgsec key file");
            return ISEC_EKEY;
        }
    }
    close(fd);
    buf[n] = 0;
    if (strncmp(buf, "imgsec-key 1\n", 13) != 0) {
        setdetail(detail, detailcap, "not an imgsec key file (no 'imgsec-key 1' header)");
        return ISEC_EKEY;
    }
    return 0;
}

/* Finds "name value\n" in the key file text; copies value (at most cap-1 chars). */
static int field(const char *text, const char *name, char *val, size_t cap)
{
    size_t nl = strlen(name);
    for (const char *line = text; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
        if (strncmp(line, name, nl) == 0 && line[nl] == ' ') {
            const char *v = line + nl + 1, *e = strchr(v, '\n');
            size_t len = e ? (size_t)(e - v) : strlen(v);
            if (len >= cap) return -1;
            memcpy(val, v, len);
            val[len] = 0;
            return 0;
        }
    }
    return -1;
}

int isec_key_file_needs_passphrase(const char *path)
{
    char buf[KEYFILE_MAX + 2], kind[16];
    int rc = read_keyfile(path, buf, NULL, 0);
    if (rc) return rc;
    rc = field(buf, "kind", kind, sizeof kind) ? ISEC_EKEY : !strcmp(kind, "scrypt");
    OPENSSL_cleanse(buf, sizeof buf);
    return rc;
}

int isec_key_load(isec_key **out, const char *path, const char *pass, size_t passlen, char *detail,
                  size_t detailcap)
{
    char buf[KEYFILE_MAX + 2];
    if (!out || !path) return ISEC_EINVAL;
    *out = NULL;
    int rc = read_keyfile(path, buf, detail, detailcap);
    if (rc == 0) rc = isec__key_parse(out, buf, pass, passlen, detail, detailcap);
    OPENSSL_cleanse(buf, sizeof buf);
    return rc;
}

int isec__key_parse(isec_key **out, const char *buf, const char *pass, size_t passlen,
                    char *detail, size_t detailcap)
{
    char kind[16], val[80];
    uint8_t k[ISEC_KEY_BYTES];
    *out = NULL;
    if (strncmp(buf, "imgsec-key 1\n", 13) != 0) {
        setdetail(detail, detailcap, "not an imgsec key file (no 'imgsec-key 1' header)");
        return ISEC_EKEY;
    }
    int rc = ISEC_EKEY;
    if (field(buf, "kind", kind, sizeof kind)) {
        setdetail(detail, detailcap, "key file has no 'kind' line");
    } else if (!strcmp(kind, "random")) {
        if (field(buf, "key", val, sizeof val) || unhex(k, sizeof k, val))
            setdetail(detail, detailcap, "key file: 'key' must be 64 hex digits");
        else
            rc = isec_key_from_bytes(out, k);
    } else if (!strcmp(kind, "scrypt")) {
        uint8_t salt[SALT_BYTES], check[CHECK_BYTES], got[CHECK_BYTES];
        char ns[24], rs[12], ps[12];
        unsigned long long n = 0;
        unsigned long r = 0, p = 0;
        if (field(buf, "n", ns, sizeof ns) || field(buf, "r", rs, sizeof rs) ||
            field(buf, "p", ps, sizeof ps) || field(buf, "salt", val, sizeof val) ||
            unhex(salt, sizeof salt, val) || field(buf, "check", val, sizeof val) ||
            unhex(check, sizeof check, val)) {
            setdetail(detail, detailcap, "scrypt key file: missing or malformed n/r/p/salt/check");
        } else if ((n = strtoull(ns, NULL, 10)) < 1024 || n > (1u << 22) || (n & (n - 1)) ||
                   (r = strtoul(rs, NULL, 10)) < 1 || r > 32 || (p = strtoul(ps, NULL, 10)) < 1 ||
                   p > 16) {
            setdetail(detail, detailcap, "scrypt key file: parameters out of range");
        } else if (!pass || passlen == 0) {
            setdetail(detail, detailcap, "this key file needs a passphrase");
        } else if ((rc = scrypt(k, pass, passlen, salt, sizeof salt, n, (uint32_t)r, (uint32_t)p)) ||
                   (rc = key_check(got, k))) {
            setdetail(detail, detailcap, "scrypt failed");
        } else if (CRYPTO_memcmp(got, check, CHECK_BYTES) != 0) {
            setdetail(detail, detailcap, "wrong passphrase");
            rc = ISEC_EKEY;
        } else {
            rc = isec_key_from_bytes(out, k);
        }
    } else {
        setdetail(detail, detailcap, "key file: unknown kind");
    }
    OPENSSL_cleanse(k, sizeof k);
    OPENSSL_cleanse(val, sizeof val);
    return rc;
}

int isec_key_derive(const isec_key *key, const char *label, uint8_t out[32])
{
    if (!key || !label || !out) return ISEC_EINVAL;
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    if (!kdf) return ISEC_ECRYPTO;
    EVP_KDF_CTX *ctx = EVP_KDF_CTX_new(kdf);
    EVP_KDF_free(kdf);
    if (!ctx) return ISEC_ECRYPTO;
    static const char salt[] = "imgsec v1";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)key->k, ISEC_KEY_BYTES),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, sizeof salt - 1),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)label, strlen(label)),
        OSSL_PARAM_construct_end(),
    };
    int ok = EVP_KDF_derive(ctx, out, 32, params) == 1;
    EVP_KDF_CTX_free(ctx);
    return ok ? 0 : ISEC_ECRYPTO;
}

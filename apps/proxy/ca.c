/* The proxy's certificate authority: STATE/ca.pem and STATE/ca.key (mode 0600), made on first
 * start, and leaf certificates minted per host (ECDSA P-256, SAN, 30 days, kept in a small
 * in-memory cache). All leaves share one key made at start-up: the key never leaves the process,
 * and minting is then one signature (~50 us) instead of a key generation. The cache is shared by
 * the worker threads (one mutex; a leaf handed out carries its own reference, so eviction by
 * another thread cannot free it under its user).
 */
#include <pthread.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "proxy.h"

#define LEAF_DAYS 30
#define CA_DAYS 3650
#define CACHE 256

struct leaf {
    char *host;
    X509 *cert;
    time_t not_after, used;
};

struct px_ca {
    X509 *cert;
    EVP_PKEY *key;
    EVP_PKEY *leaf_key;
    pthread_mutex_t mu; /* the cache */
    struct leaf cache[CACHE];
};

static int add_ext(X509 *issuer, X509 *cert, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    X509_EXTENSION *ex = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (!ex) return -1;
    int ok = X509_add_ext(cert, ex, -1);
    X509_EXTENSION_free(ex);
    return ok ? 0 : -1;
}

static int random_serial(X509 *cert)
{
    unsigned char b[16];
    if (RAND_bytes(b, sizeof b) != 1) return -1;
    b[0] &= 0x7F; /* positive */
    b[0] |= 0x01; /* and never zero */
    BIGNUM *bn = BN_bin2bn(b, sizeof b, NULL);
    int ok = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) != NULL;
    BN_free(bn);
    return ok ? 0 : -1;
}

static X509 *make_ca(EVP_PKEY *key)
{
    X509 *c = X509_new();
    if (!c) return NULL;
    char cn[64];
    unsigned char r[4];
    if (RAND_bytes(r, sizeof r) != 1) goto bad;
    snprintf(cn, sizeof cn, "imgsec proxy CA %02x%02x%02x%02x", r[0], r[1], r[2], r[3]);
    X509_NAME *name = X509_get_subject_name(c);
    if (X509_set_version(c, 2) != 1 || random_serial(c) < 0 ||
        !X509_gmtime_adj(X509_getm_notBefore(c), -3600) ||
        !X509_gmtime_adj(X509_getm_notAfter(c), (long)CA_DAYS * 86400) ||
        X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"imgsec", -1, -1, 0) != 1 ||
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0) != 1 ||
        X509_set_issuer_name(c, name) != 1 || X509_set_pubkey(c, key) != 1 ||
        add_ext(c, c, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") < 0 ||
        add_ext(c, c, NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature") < 0 ||
        add_ext(c, c, NID_subject_key_identifier, "hash") < 0 ||
        X509_sign(c, key, EVP_sha256()) <= 0)
        goto bad;
    return c;
bad:
    X509_free(c);
    return NULL;
}

static int write_file(const char *path, int mode, int (*put)(FILE *, void *), void *obj)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0) return -1;
    FILE *f = fdopen(fd, "w");
    if (!f) {
        close(fd);
        unlink(path);
        return -1;
    }
    int ok = put(f, obj) == 1;
    ok = fflush(f) == 0 && fsync(fileno(f)) == 0 && ok;
    ok = fclose(f) == 0 && ok;
    if (!ok) unlink(path);
    return ok ? 0 : -1;
}

static int put_key(FILE *f, void *k)
{
    return PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
}

static int put_cert(FILE *f, void *c)
{
    return PEM_write_X509(f, c);
}

int px_private_file_check(const char *path, const char *what, char *err, size_t errcap)
{
    struct stat st;
    if (stat(path, &st) == 0 && (st.st_mode & 077)) {
        snprintf(err, errcap, "%s: %s is readable by others (mode %03o); chmod 600 it", path, what,
                 (unsigned)(st.st_mode & 0777));
        return -1;
    }
    return 0;
}

int px_ca_open(px_ca **out, const char *dir, char *err, size_t errcap)
{
    char cp[4096], kp[4096];
    snprintf(cp, sizeof cp, "%s/ca.pem", dir);
    snprintf(kp, sizeof kp, "%s/ca.key", dir);
    px_ca *ca = calloc(1, sizeof *ca);
    if (!ca) return -1;
    pthread_mutex_init(&ca->mu, NULL);
    int have_c = access(cp, F_OK) == 0, have_k = access(kp, F_OK) == 0;
    if (have_c != have_k) {
        snprintf(err, errcap, "%s: only one of ca.pem and ca.key exists; restore the other or "
                 "remove both to make a new CA (devices will need the new one)", dir);
        goto bad;
    }
    if (!have_c) {
        ca->key = EVP_EC_gen("P-256");
        ca->cert = ca->key ? make_ca(ca->key) : NULL;
        if (!ca->cert) {
            snprintf(err, errcap, "cannot make a CA certificate");
            goto bad;
        }
        if (write_file(kp, 0600, put_key, ca->key) < 0 ||
            write_file(cp, 0644, put_cert, ca->cert) < 0) {
            snprintf(err, errcap, "%s: cannot write the CA: %s", dir, strerror(errno));
            unlink(kp);
            goto bad;
        }
    } else {
        if (px_private_file_check(kp, "the CA key", err, errcap) < 0) goto bad;
        FILE *f = fopen(cp, "r");
        if (f) {
            ca->cert = PEM_read_X509(f, NULL, NULL, NULL);
            fclose(f);
        }
        f = fopen(kp, "r");
        if (f) {
            ca->key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
            fclose(f);
        }
        if (!ca->cert || !ca->key || X509_check_private_key(ca->cert, ca->key) != 1) {
            snprintf(err, errcap, "%s: cannot read the CA (ca.pem/ca.key), or they do not match",
                     dir);
            goto bad;
        }
    }
    ca->leaf_key = EVP_EC_gen("P-256");
    if (!ca->leaf_key) {
        snprintf(err, errcap, "cannot make the leaf key");
        goto bad;
    }
    *out = ca;
    return 0;
bad:
    px_ca_free(ca);
    return -1;
}

void px_ca_free(px_ca *ca)
{
    if (!ca) return;
    for (int i = 0; i < CACHE; i++) {
        free(ca->cache[i].host);
        X509_free(ca->cache[i].cert);
    }
    X509_free(ca->cert);
    EVP_PKEY_free(ca->key);
    EVP_PKEY_free(ca->leaf_key);
    pthread_mutex_destroy(&ca->mu);
    free(ca);
}

X509 *px_ca_cert(px_ca *ca)
{
    return ca->cert;
}

static X509 *mint(px_ca *ca, const char *host)
{
    X509 *c = X509_new();
    if (!c) return NULL;
    char san[300];
    int is_ip = strchr(host, ':') != NULL || strspn(host, "0123456789.") == strlen(host);
    snprintf(san, sizeof san, "%s:%s", is_ip ? "IP" : "DNS", host);
    X509_NAME *name = X509_get_subject_name(c);
    const char *cn = strlen(host) <= 64 ? host : "imgsec leaf";
    if (X509_set_version(c, 2) != 1 || random_serial(c) < 0 ||
        !X509_gmtime_adj(X509_getm_notBefore(c), -3600) ||
        !X509_gmtime_adj(X509_getm_notAfter(c), (long)LEAF_DAYS * 86400) ||
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0) != 1 ||
        X509_set_issuer_name(c, X509_get_subject_name(ca->cert)) != 1 ||
        X509_set_pubkey(c, ca->leaf_key) != 1 ||
        add_ext(ca->cert, c, NID_basic_constraints, "critical,CA:FALSE") < 0 ||
        add_ext(ca->cert, c, NID_key_usage, "critical,digitalSignature") < 0 ||
        add_ext(ca->cert, c, NID_ext_key_usage, "serverAuth") < 0 ||
        add_ext(ca->cert, c, NID_subject_alt_name, san) < 0 ||
        add_ext(ca->cert, c, NID_authority_key_identifier, "keyid:always") < 0 ||
        X509_sign(c, ca->key, EVP_sha256()) <= 0) {
        X509_free(c);
        return NULL;
    }
    return c;
}

static int leaf_locked(px_ca *ca, const char *host, X509 **cert)
{
    time_t now = time(NULL);
    int slot = 0;
    for (int i = 0; i < CACHE; i++) {
        struct leaf *l = &ca->cache[i];
        if (l->host && !strcmp(l->host, host) && l->not_after > now + 86400) {
            l->used = now;
            *cert = l->cert;
            return 0;
        }
        if (ca->cache[i].used < ca->cache[slot].used) slot = i;
    }
    X509 *c = mint(ca, host);
    char *h = strdup(host);
    if (!c || !h) {
        X509_free(c);
        free(h);
        return -1;
    }
    struct leaf *l = &ca->cache[slot];
    free(l->host);
    X509_free(l->cert);
    l->host = h;
    l->cert = c;
    l->used = now;
    l->not_after = now + (time_t)LEAF_DAYS * 86400 - 3600;
    *cert = c;
    return 0;
}

int px_ca_leaf(px_ca *ca, const char *host, X509 **cert, EVP_PKEY **key)
{
    pthread_mutex_lock(&ca->mu);
    int rc = leaf_locked(ca, host, cert);
    if (rc == 0 && X509_up_ref(*cert) != 1) rc = -1;
    pthread_mutex_unlock(&ca->mu);
    *key = ca->leaf_key;
    return rc;
}

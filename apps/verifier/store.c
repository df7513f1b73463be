/* The sealed secret store: DIR/secrets/<table-id hex>.sealed, one per table key + watermark
 * (the bytes of isec_vcs_secret_encode), sealed under the backend's key. All are unsealed at
 * start and held in memory (wiped on close). */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/crypto.h>

#include "service.h"

#define MAX_SECRETS 4096

static void wm_wipe(isec_vcs_watermark *wm)
{
    if (wm->bits) OPENSSL_cleanse(wm->bits, (size_t)wm->width * wm->height);
    isec_vcs_watermark_clear(wm);
}

static int add_mem(vf_store *s, const uint8_t *bytes, size_t len, vf_secret **out)
{
    if (s->n == MAX_SECRETS) return ISEC_ELIMIT;
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 16;
        vf_secret *nv = calloc(nc, sizeof *nv);
        if (!nv) return ISEC_ENOMEM;
        if (s->n) memcpy(nv, s->v, s->n * sizeof *nv);
        vf_free_secret(s->v, s->cap * sizeof *s->v);
        s->v = nv;
        s->cap = nc;
    }
    vf_secret *e = &s->v[s->n];
    memset(e, 0, sizeof *e);
    int rc = isec_vcs_secret_decode(bytes, len, e->key, &e->wm);
    if (!rc) rc = isec_vcs_watermark_id(&e->wm, e->wm_id);
    if (rc) {
        wm_wipe(&e->wm);
        OPENSSL_cleanse(e, sizeof *e);
        return rc;
    }
    isec_vcs_table_id(e->key, e->table_id);
    *out = e;
    s->n++;
    return 0;
}

int vf_store_open(vf_store *s, const char *dir, vf_backend *b, char *err, size_t errlen)
{
    memset(s, 0, sizeof *s);
    s->b = b;
    s->dir = vf_path(dir, "secrets");
    if (!s->dir) return ISEC_ENOMEM;
    if (vf_mkdir_p(s->dir)) {
        snprintf(err, errlen, "%s: cannot create", s->dir);
        return ISEC_EIO;
    }
    DIR *d = opendir(s->dir);
    if (!d) {
        snprintf(err, errlen, "%s: %s", s->dir, strerror(errno));
        return ISEC_EIO;
    }
    int rc = 0;
    struct dirent *de;
    while (!rc && (de = readdir(d))) {
        size_t nl = strlen(de->d_name);
        if (nl != 32 + 7 || strcmp(de->d_name + 32, ".sealed")) continue;
        char *p = vf_path(s->dir, de->d_name);
        uint8_t *blob = NULL, *pt = NULL;
        size_t bl = 0, pl = 0;
        vf_secret *e = NULL;
        if (!p) rc = ISEC_ENOMEM;
        if (!rc && (rc = vf_read_file(p, 2 * VF_MAX_SECRET, &blob, &bl)))
            snprintf(err, errlen, "%s: cannot read", p);
        if (!rc && (rc = vf_unseal(b->seal_key, blob, bl, &pt, &pl)))
            snprintf(err, errlen,
                     "%s: cannot unseal (%s): sealed by another build or backend of the "
                     "verifier, or modified; this binary's measurement does not open it",
                     p, isec_strerror(rc));
        if (!rc && (rc = add_mem(s, pt, pl, &e))) snprintf(err, errlen, "%s: bad secret inside", p);
        if (!rc) {
            char hex[33];
            isec_hex(e->table_id, 16, hex);
            if (memcmp(hex, de->d_name, 32)) {
                snprintf(err, errlen, "%s: holds table %s", p, hex);
                rc = ISEC_EFORMAT;
            }
        }
        free(blob);
        vf_free_secret(pt, pl);
        free(p);
    }
    closedir(d);
    return rc;
}

const vf_secret *vf_store_find(const vf_store *s, const uint8_t table_id[16])
{
    for (size_t i = 0; i < s->n; i++)
        if (!memcmp(s->v[i].table_id, table_id, 16)) return &s->v[i];
    return NULL;
}

int vf_store_add(vf_store *s, const uint8_t *bytes, size_t len, const vf_secret **out)
{
    uint8_t key[ISEC_VCS_KEY_LEN], id[16];
    isec_vcs_watermark wm = {0};
    int rc = isec_vcs_secret_decode(bytes, len, key, &wm);
    wm_wipe(&wm);
    if (rc) return rc;
    isec_vcs_table_id(key, id);
    OPENSSL_cleanse(key, sizeof key);
    if (vf_store_find(s, id)) return ISEC_EEXIST;
    uint8_t *blob = NULL;
    size_t bl = 0;
    rc = vf_seal(s->b->seal_key, s->b->id, s->b->measurement, bytes, len, &blob, &bl);
    if (rc) return rc;
    char name[48];
    isec_hex(id, 16, name);
    strcat(name, ".sealed");
    char *p = vf_path(s->dir, name);
    rc = p ? vf_write_file(p, blob, bl, 0600) : ISEC_ENOMEM;
    free(p);
    free(blob);
    vf_secret *e = NULL;
    if (!rc) rc = add_mem(s, bytes, len, &e);
    if (!rc) *out = e;
    return rc;
}

void vf_store_close(vf_store *s)
{
    for (size_t i = 0; i < s->n; i++) {
        wm_wipe(&s->v[i].wm);
        OPENSSL_cleanse(&s->v[i], sizeof s->v[i]);
    }
    free(s->v);
    free(s->dir);
    memset(s, 0, sizeof *s);
}

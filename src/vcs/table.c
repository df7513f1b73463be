/* Exact mode's query table (paper 3.1-3.2): for each stacked 2x2 pattern, every arrangement the
 * rolled basis matrices give, in an order keyed by the table key. */
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "internal.h"

const uint8_t isec__vcs_perms[24][4] = {
    {0, 1, 2, 3}, {0, 1, 3, 2}, {0, 2, 1, 3}, {0, 2, 3, 1}, {0, 3, 1, 2}, {0, 3, 2, 1},
    {1, 0, 2, 3}, {1, 0, 3, 2}, {1, 2, 0, 3}, {1, 2, 3, 0}, {1, 3, 0, 2}, {1, 3, 2, 0},
    {2, 0, 1, 3}, {2, 0, 3, 1}, {2, 1, 0, 3}, {2, 1, 3, 0}, {2, 3, 0, 1}, {2, 3, 1, 0},
    {3, 0, 1, 2}, {3, 0, 2, 1}, {3, 1, 0, 2}, {3, 1, 2, 0}, {3, 2, 0, 1}, {3, 2, 1, 0},
};

int isec__vcs_perm_index(const uint8_t a[4])
{
    if (a[0] > 3 || a[1] > 3 || a[2] > 3 || a[3] > 3) return -1;
    if ((1u << a[0] | 1u << a[1] | 1u << a[2] | 1u << a[3]) != 15u) return -1;
    /* Lexicographic rank. */
    unsigned rank = 0;
    static const unsigned fact[4] = {6, 2, 1, 0};
    for (unsigned i = 0; i < 3; i++) {
        unsigned smaller = 0;
        for (unsigned j = i + 1; j < 4; j++) smaller += a[j] < a[i];
        rank += smaller * fact[i];
    }
    return (int)rank;
}

/* Pixel j is black when B's dot (sheet (a[j]+r)%4, layer 2*that+1) lies above A's (layer
 * 2*a[j]): with r = 0 always; with r >= 1 when a[j] + r <= 3 (no wrap). */
unsigned isec__vcs_pattern(const uint8_t a[4], unsigned r)
{
    unsigned q = 0;
    for (unsigned j = 0; j < 4; j++)
        if (a[j] + r <= 3) q |= 1u << j;
    return q;
}

int isec__vcs_table_make(const uint8_t key[ISEC_VCS_KEY_LEN], isec__vcs_table *t)
{
    uint8_t k[32];
    int rc = isec__vcs_subkey(key, "imgsec-vcs-table-order-v1", k);
    if (rc < 0) return rc;
    memset(t, 0, sizeof *t);
    memset(t->pos, 255, sizeof t->pos);
    uint8_t mac[16][24][32];
    for (unsigned r = 0; r < 4; r++) {
        for (unsigned p = 0; p < 24; p++) {
            unsigned q = isec__vcs_pattern(isec__vcs_perms[p], r);
            uint8_t msg[3] = {(uint8_t)q, (uint8_t)p, (uint8_t)r};
            unsigned i = t->n[q]++, len = 0;
            t->perm[q][i] = (uint8_t)p;
            if (!HMAC(EVP_sha256(), k, sizeof k, msg, sizeof msg, mac[q][i], &len)) {
                OPENSSL_cleanse(k, sizeof k);
                return ISEC_ECRYPTO;
            }
        }
    }
    OPENSSL_cleanse(k, sizeof k);
    /* Insertion sort of each pattern's entries by MAC. */
    for (unsigned q = 1; q < 16; q++) {
        for (unsigned i = 1; i < t->n[q]; i++) {
            for (unsigned j = i; j > 0 && memcmp(mac[q][j - 1], mac[q][j], 32) > 0; j--) {
                uint8_t tmp[32], tp = t->perm[q][j];
                memcpy(tmp, mac[q][j], 32);
                memcpy(mac[q][j], mac[q][j - 1], 32);
                memcpy(mac[q][j - 1], tmp, 32);
                t->perm[q][j] = t->perm[q][j - 1];
                t->perm[q][j - 1] = tp;
            }
        }
        for (unsigned i = 0; i < t->n[q]; i++) t->pos[q][t->perm[q][i]] = (uint8_t)i;
    }
    OPENSSL_cleanse(mac, sizeof mac);
    return 0;
}

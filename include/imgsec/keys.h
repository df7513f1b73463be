/* imgsec keys: a 256-bit master key, from a random key file or a passphrase (scrypt).
 *
 * Key file format (text, mode 0600, at most 4 KiB):
 *   imgsec-key 1
 *   kind random            | kind scrypt
 *   key <64 hex digits>    | n <N> / r <r> / p <p> / salt <32 hex> / check <32 hex>
 * A scrypt file holds no key: the key is scrypt(passphrase, salt, N, r, p), and
 * "check" (HMAC-SHA256(key, "imgsec key check"), first 16 bytes) tells a wrong passphrase apart.
 */
#ifndef IMGSEC_KEYS_H
#define IMGSEC_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "imgsec/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ISEC_KEY_BYTES 32

typedef struct isec_key isec_key;

/* Make a key from 32 caller bytes (tests, known-answer vectors). */
int isec_key_from_bytes(isec_key **out, const uint8_t bytes[ISEC_KEY_BYTES]);
/* Write a new random key file at path (O_EXCL, mode 0600): never overwrites (ISEC_EEXIST). */
int isec_key_create_random(const char *path);
/* Write a new passphrase key file (fresh salt, scrypt N=2^15, r=8, p=1); O_EXCL, mode 0600. */
int isec_key_create_passphrase(const char *path, const char *pass, size_t passlen);
/* 1 if the key file at path needs a passphrase, 0 if not, <0 on error. */
int isec_key_file_needs_passphrase(const char *path);
/* Load a key file; pass/passlen are used only by scrypt files (ISEC_EKEY if wrong or missing).
 * detail (may be NULL) receives a one-line reason on error. */
int isec_key_load(isec_key **out, const char *path, const char *pass, size_t passlen,
                  char *detail, size_t detailcap);
/* HKDF-SHA256 of the master key with a label: one subkey per use, so uses never share keys. */
int isec_key_derive(const isec_key *key, const char *label, uint8_t out[32]);
/* Wipes and frees. NULL is fine. */
void isec_key_free(isec_key *key);

#ifdef __cplusplus
}
#endif
#endif

/* The verifier's software measurement: a hash of the running executable and the backend.
 * What it is worth (docs/verifier.md): it tells one build of imgsec from another, so state sealed
 * by one build does not open under another; it is not a TEE measurement. Root can read the
 * process's memory, and a modified binary could compute the genuine value and use it. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "verifier.h"

static int hash_exe(uint8_t out[32], char *err, size_t errlen)
{
    int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "/proc/self/exe: %s", strerror(errno));
        return ISEC_EIO;
    }
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    int ok = c && EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1;
    uint8_t buf[65536];
    for (;;) {
        ssize_t r = read(fd, buf, sizeof buf);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) ok = 0;
        if (r <= 0 || !ok) break;
        ok = EVP_DigestUpdate(c, buf, (size_t)r) == 1;
    }
    close(fd);
    unsigned int n = 0;
    ok = ok && EVP_DigestFinal_ex(c, out, &n) == 1;
    EVP_MD_CTX_free(c);
    if (!ok) snprintf(err, errlen, "cannot hash /proc/self/exe");
    return ok ? 0 : ISEC_EIO;
}

int vf_measure(const char *backend, uint8_t out[32], int *test_override, char *err, size_t errlen)
{
    uint8_t exe[32];
    int rc = hash_exe(exe, err, errlen);
    if (rc) return rc;
    const char *extra = getenv(VF_TEST_MEASURE_ENV);
    if (test_override) *test_override = extra != NULL;
    static const char dom[] = "imgsec-verifier-measurement-v1\n";
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    unsigned int n = 0;
    int ok = c && EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1 &&
             EVP_DigestUpdate(c, dom, sizeof dom - 1) == 1 && EVP_DigestUpdate(c, exe, 32) == 1 &&
             EVP_DigestUpdate(c, "backend=", 8) == 1 &&
             EVP_DigestUpdate(c, backend, strlen(backend)) == 1 && EVP_DigestUpdate(c, "\n", 1) == 1;
    if (ok && extra)
        ok = EVP_DigestUpdate(c, "test-only-extra=", 16) == 1 &&
             EVP_DigestUpdate(c, extra, strlen(extra)) == 1 && EVP_DigestUpdate(c, "\n", 1) == 1;
    ok = ok && EVP_DigestFinal_ex(c, out, &n) == 1;
    EVP_MD_CTX_free(c);
    if (!ok) snprintf(err, errlen, "measurement: hashing failed");
    return ok ? 0 : ISEC_ECRYPTO;
}

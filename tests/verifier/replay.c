/* Runs fuzz/fuzz_verifier_req.c's entry point over every file in the given directories
 * (tests/regress/verifier_req: seeds and every crash input ever found), outside libFuzzer. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int main(int argc, char **argv)
{
    int n = 0;
    for (int i = 1; i < argc; i++) {
        DIR *d = opendir(argv[i]);
        if (!d) {
            fprintf(stderr, "%s: cannot open\n", argv[i]);
            return 1;
        }
        struct dirent *e;
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.') continue;
            char p[4096];
            snprintf(p, sizeof p, "%s/%s", argv[i], e->d_name);
            size_t len = 0;
            uint8_t *b = tu_read_file(p, &len);
            if (!b) continue;
            LLVMFuzzerTestOneInput(b, len);
            free(b);
            n++;
        }
        closedir(d);
    }
    printf("verifier.regress: %d inputs replayed\n", n);
    return n > 0 ? 0 : 1;
}

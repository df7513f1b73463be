/* Passphrases for the commands that take keys (keygen, jpeg, proxy, vcs): read from a file, the
 * environment or the terminal without echo, and wiped when freed. Kept apart from cliutil.c
 * because it needs libcrypto (OPENSSL_cleanse), which the imgsec front binary does not load. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "cli.h"

void cli_free_secret(char *s)
{
    if (!s) return;
    OPENSSL_cleanse(s, strlen(s));
    free(s);
}

static char *read_line_fd(int fd)
{
    char buf[1024];
    size_t n = 0;
    while (n < sizeof buf - 1) {
        char ch;
        ssize_t r = read(fd, &ch, 1);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0 || ch == '\n') break;
        buf[n++] = ch;
    }
    if (n && buf[n - 1] == '\r') n--;
    buf[n] = 0;
    char *s = strdup(buf);
    OPENSSL_cleanse(buf, sizeof buf);
    return s;
}

static char *prompt_tty(const char *prompt)
{
    int fd = open("/dev/tty", O_RDWR | O_CLOEXEC);
    if (fd < 0) return NULL;
    struct termios old, quiet;
    int have = tcgetattr(fd, &old) == 0;
    if (have) {
        quiet = old;
        quiet.c_lflag &= (tcflag_t)~ECHO;
        tcsetattr(fd, TCSAFLUSH, &quiet);
    }
    if (write(fd, prompt, strlen(prompt)) < 0) { /* best effort */
    }
    char *s = read_line_fd(fd);
    if (have) tcsetattr(fd, TCSAFLUSH, &old);
    if (write(fd, "\n", 1) < 0) {
    }
    close(fd);
    return s;
}

char *cli_read_passphrase(const char *file, const char *prompt, int confirm)
{
    char *s = NULL;
    if (file) {
        int fd = open(file, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            cli_err("%s: %s", file, strerror(errno));
            return NULL;
        }
        s = read_line_fd(fd);
        close(fd);
    } else if (getenv("IMGSEC_PASSPHRASE")) {
        s = strdup(getenv("IMGSEC_PASSPHRASE"));
    } else {
        s = prompt_tty(prompt);
        if (!s) {
            cli_err("a passphrase is needed: use --passphrase-file FILE or IMGSEC_PASSPHRASE "
                    "(no terminal to ask on)");
            return NULL;
        }
        if (confirm) {
            char *again = prompt_tty("Repeat passphrase: ");
            int same = again && !strcmp(s, again);
            cli_free_secret(again);
            if (!same) {
                cli_err("passphrases do not match");
                cli_free_secret(s);
                return NULL;
            }
        }
    }
    if (s && !*s) {
        cli_err("empty passphrase");
        cli_free_secret(s);
        return NULL;
    }
    return s;
}

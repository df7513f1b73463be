/* Shared pieces of the imgsec command: subcommand entry points, messages, safe file output. */
#ifndef IMGSEC_CLI_H
#define IMGSEC_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Exit codes (all below 128). */
enum {
    EXIT_OK = 0,
    EXIT_FAIL = 1,   /* bad or unsupported input, or a failed operation */
    EXIT_USAGE = 2,  /* bad command line */
    EXIT_IOERR = 3,  /* could not read or write a file */
    EXIT_KEYERR = 4  /* key missing, malformed, or wrong passphrase */
};

extern const char *cli_prog; /* "imgsec" */

int cmd_keygen(int argc, char **argv);
int cmd_jpeg(int argc, char **argv);
int cmd_ccsds(int argc, char **argv);
int cmd_proxy(int argc, char **argv);
int cmd_ca(int argc, char **argv);
int cmd_vcs(int argc, char **argv);
int cmd_verifier(int argc, char **argv);
int cmd_vcs_verify(int argc, char **argv);       /* imgsec vcs verify (cmd_vcs_remote.c) */
int cmd_vcs_split_remote(int argc, char **argv); /* imgsec vcs split --server */

/* Print "imgsec: <fmt>\n" to stderr. */
void cli_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A key file others can read (group or world bits) gets a warning on stderr naming its mode,
 * as ssh and gpg give: the key is used all the same (the proxy, whose keys live in its state
 * directory, refuses to start instead). */
void cli_warn_key_mode(const char *path);

/* Output that appears only when complete: writes go to a temporary file beside path, which
 * cli_out_commit() renames over path (fsync first) and cli_out_abort() removes. path "-" is
 * stdout (written as it goes). Refuses (EEXIST) when path is the same file as avoid_same. */
typedef struct {
    FILE *f;
    char *path, *tmp;
    int is_stdout;
} cli_out;
int cli_out_open(cli_out *o, const char *path, const char *avoid_same, int mode);
int cli_out_write(cli_out *o, const void *buf, size_t n);
/* cli_out_finish() flushes, fsyncs and closes the temporary file without publishing it (for
 * several outputs that must appear all or none: finish each, then commit each); commit does it
 * if not yet done. Both abort and print a message on failure. */
int cli_out_finish(cli_out *o);
int cli_out_commit(cli_out *o);
void cli_out_abort(cli_out *o);

/* Open an input ("-" is stdin). Returns NULL and prints an error on failure. */
FILE *cli_in_open(const char *path);
void cli_in_close(FILE *f);

/* Read a passphrase: from file (first line), else $IMGSEC_PASSPHRASE, else the terminal (no echo).
 * Returns malloc'd string (caller wipes and frees) or NULL. */
char *cli_read_passphrase(const char *file, const char *prompt, int confirm);
void cli_free_secret(char *s);

/* "[3/10] name" progress on stderr when stderr is a terminal and total > 1. */
void cli_progress(size_t i, size_t total, const char *name);
void cli_progress_done(size_t total);

#endif

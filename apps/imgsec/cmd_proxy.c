/* imgsec proxy: the photo privacy proxy (docs/proxy.md, man imgsec-proxy). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "imgsec/keys.h"

#include "../proxy/proxy.h"
#include "cli.h"

#define MAX_FLAGS 128

static void usage(FILE *f)
{
    fprintf(f,
            "usage: imgsec proxy --listen ADDR:PORT --state-dir DIR [--target-host PATTERN]...\n"
            "                    [--upstream-ca FILE] [-c CONFIG] [options]\n"
            "  A forward proxy (HTTP, and HTTPS by CONNECT) that encrypts the JPEGs uploaded to\n"
            "  target hosts and decrypts them on the way back. On first start it creates DIR/key,\n"
            "  DIR/ca.pem and DIR/ca.key ('imgsec ca export' prints the CA for your devices).\n"
            "  --target-host PATTERN   glob (fnmatch) of hosts to intercept; repeatable; replaces\n"
            "                          the default list (Google Photos, iCloud Photos)\n"
            "  --upstream-ca FILE      extra CA certificates (PEM) trusted for upstream servers\n"
            "  --allow ADDR[/PREFIX]   clients let in (repeatable, or 'all'); default: loopback\n"
            "                          and private networks (10/8, 172.16/12, 192.168/16, ...)\n"
            "  --upstream-self deny|allow  may clients reach this machine itself through the\n"
            "                          proxy (its loopback or its own addresses)? default deny\n"
            "  -c, --config FILE       config file (man 5 imgsec-proxy.conf); flags win over it\n"
            "  --log-file FILE         log here instead of stderr\n"
            "  --auth-file FILE        clients must give a user name and password from FILE\n"
            "                          (Proxy-Authorization; 'imgsec proxy user add' makes it)\n"
            "  --hosts-file FILE       names for the proxy's resolver besides /etc/hosts\n"
            "  --dns-server ADDR[:PORT]  name server to ask instead of /etc/resolv.conf's\n"
            "                          (repeatable, up to 4; [IPv6]:PORT)\n"
            "  --client-timeout S, --header-timeout S, --upstream-timeout S, --drain-timeout S\n"
            "  --max-connections N, --max-header-bytes N, --on-unencryptable pass|refuse\n"
            "  --on-other-media pass|refuse  a picture or video that is not a JPEG (HEIC, PNG,\n"
            "                          MOV, ...) goes up unencrypted with a warning, or is stopped\n"
            "  --upload-sessions N, --upload-session-ttl S, --workers N (threads; 0 = one per CPU)\n"
            "                          resumable uploads in progress at once / forgotten after\n"
            "  --cipher-thread auto|off  a JPEG upload or download gets a thread of its own for\n"
            "                          the cipher while at most one per CPU is enciphered (auto)\n"
            "  --upstream-connect-to HOST:PORT:ADDR:PORT\n"
            "                          TEST AID: connect there instead of resolving HOST:PORT\n"
            "                          (certificate checks still use HOST)\n"
            "  Defaults: --listen 127.0.0.1:8080, --state-dir ${XDG_DATA_HOME:-~/.local/share}/imgsec\n"
            "  Signals: SIGTERM/SIGINT drain in-flight requests and stop; SIGHUP reloads CONFIG.\n"
            "usage: imgsec proxy user add|remove --auth-file FILE USER\n"
            "  Adds USER to FILE (mode 0600, made if missing) with a new random password, printed\n"
            "  once (an existing USER gets a new one), or removes USER. A running proxy takes the\n"
            "  change on SIGHUP.\n");
}

/* imgsec proxy user add|remove --auth-file FILE USER */
static int cmd_proxy_user(int argc, char **argv)
{
    static const struct option opts[] = {
        {"auth-file", required_argument, NULL, 'a'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *file = NULL;
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (ch == 'a') file = optarg;
        else if (ch == 'h') {
            usage(stdout);
            return EXIT_OK;
        } else {
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    /* argv[optind]: add|remove (getopt has moved the options before it) */
    if (!file || argc - optind != 2 || (strcmp(argv[optind], "add") && strcmp(argv[optind], "remove"))) {
        cli_err("proxy user: expected 'add' or 'remove', --auth-file FILE and a user name");
        return EXIT_USAGE;
    }
    int remove = !strcmp(argv[optind], "remove");
    const char *user = argv[optind + 1];
    char pass[24] = "", err[512];
    if (px_auth_set_user(file, user, remove, pass, err, sizeof err) < 0) {
        cli_err("proxy user: %s", err);
        return px_auth_name_ok(user) ? EXIT_IOERR : EXIT_USAGE;
    }
    if (remove) {
        fprintf(stderr, "imgsec: removed %s from %s (a running proxy takes it on SIGHUP)\n", user, file);
    } else {
        printf("%s\n", pass);
        fprintf(stderr, "imgsec: %s's password is above; it is not kept anywhere in the clear "
                        "(run this again for a new one). A running proxy takes it on SIGHUP.\n", user);
    }
    OPENSSL_cleanse(pass, sizeof pass);
    return EXIT_OK;
}

static char *default_state_dir(void)
{
    const char *x = getenv("XDG_DATA_HOME"), *h = getenv("HOME");
    char buf[4096];
    if (x && *x) snprintf(buf, sizeof buf, "%s/imgsec", x);
    else if (h && *h) snprintf(buf, sizeof buf, "%s/.local/share/imgsec", h);
    else return NULL;
    return strdup(buf);
}

int cmd_proxy(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "user")) return cmd_proxy_user(argc - 1, argv + 1);
    static const struct option opts[] = {
        {"listen", required_argument, NULL, 1},
        {"state-dir", required_argument, NULL, 1},
        {"target-host", required_argument, NULL, 1},
        {"upstream-ca", required_argument, NULL, 1},
        {"upstream-connect-to", required_argument, NULL, 1},
        {"log-file", required_argument, NULL, 1},
        {"hosts-file", required_argument, NULL, 1},
        {"auth-file", required_argument, NULL, 1},
        {"dns-server", required_argument, NULL, 1},
        {"client-timeout", required_argument, NULL, 1},
        {"header-timeout", required_argument, NULL, 1},
        {"upstream-timeout", required_argument, NULL, 1},
        {"drain-timeout", required_argument, NULL, 1},
        {"max-connections", required_argument, NULL, 1},
        {"max-header-bytes", required_argument, NULL, 1},
        {"on-unencryptable", required_argument, NULL, 1},
        {"on-other-media", required_argument, NULL, 1},
        {"upload-sessions", required_argument, NULL, 1},
        {"upload-session-ttl", required_argument, NULL, 1},
        {"workers", required_argument, NULL, 1},
        {"allow", required_argument, NULL, 1},
        {"upstream-self", required_argument, NULL, 1},
        {"cipher-thread", required_argument, NULL, 1},
        {"config", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *flags[MAX_FLAGS + 1];
    size_t nf = 0;
    const char *config = NULL;
    int ch, idx;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "c:h", opts, &idx)) != -1) {
        switch (ch) {
        case 1:
            if (nf + 2 > MAX_FLAGS) {
                cli_err("proxy: too many options");
                return EXIT_USAGE;
            }
            flags[nf++] = opts[idx].name;
            flags[nf++] = optarg;
            break;
        case 'c': config = optarg; break;
        case 'h': usage(stdout); return EXIT_OK;
        default: usage(stderr); return EXIT_USAGE;
        }
    }
    flags[nf] = NULL;
    if (optind != argc) {
        cli_err("proxy: unexpected argument '%s'", argv[optind]);
        usage(stderr);
        return EXIT_USAGE;
    }
    px_config cfg;
    char err[512];
    if (px_build_config(&cfg, config, flags, err, sizeof err) < 0) {
        cli_err("proxy: %s", err);
        px_config_free(&cfg);
        return EXIT_USAGE;
    }
    if (!cfg.listen) cfg.listen = strdup("127.0.0.1:8080");
    if (!cfg.state_dir) cfg.state_dir = default_state_dir();
    if (!cfg.listen || !cfg.state_dir) {
        cli_err("proxy: --state-dir DIR is needed (no $HOME)");
        px_config_free(&cfg);
        return EXIT_USAGE;
    }
    if (px_state_init(cfg.state_dir, err, sizeof err) < 0) {
        cli_err("proxy: %s", err);
        px_config_free(&cfg);
        return EXIT_IOERR;
    }
    char kp[4096];
    snprintf(kp, sizeof kp, "%s/key", cfg.state_dir);
    isec_key *key = NULL;
    char *pass = NULL;
    int need = isec_key_file_needs_passphrase(kp);
    if (need > 0 && !(pass = cli_read_passphrase(NULL, "Passphrase for the proxy key: ", 0))) {
        px_config_free(&cfg);
        return EXIT_KEYERR;
    }
    int rc = isec_key_load(&key, kp, pass, pass ? strlen(pass) : 0, err, sizeof err);
    cli_free_secret(pass);
    if (rc < 0) {
        cli_err("proxy: %s: %s", kp, err[0] ? err : isec_strerror(rc));
        px_config_free(&cfg);
        return EXIT_KEYERR;
    }
    int status = px_run(&cfg, config, flags, key);
    isec_key_free(key);
    return status;
}

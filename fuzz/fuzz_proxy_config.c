/* libFuzzer target: the proxy's config file parser (apps/proxy/config.c). The input is a config
 * file; then the proxy's uses of a config run on what was read: a worker's copy, the settings a
 * reload keeps, target globs, connect-to routes, the allow list, the name servers, the setup
 * pages (their escaping of the target patterns). The same
 * bytes also go to the auth-file parser (auth.c) and, as header values, to the Basic
 * credentials check. A file is taken or refused with a message naming its line; nothing may
 * crash or leak. */
#define _POSIX_C_SOURCE 200809L
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/util.h>

#include "proxy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) return 0;
    FILE *f = fmemopen((void *)(uintptr_t)data, size, "r");
    if (!f) return 0;
    px_config c;
    char err[512] = "";
    px_config_defaults(&c);
    int rc = px_config_read(&c, f, "fuzz.conf", err, sizeof err);
    fclose(f);
    if (rc < 0 && strncmp(err, "fuzz.conf:", 10) != 0) abort(); /* says where */
    if (rc == 0) {
        px_config d, e;
        if (px_config_copy(&d, &c) == 0) {
            px_config_defaults(&e);
            if (px_config_keep_static(&e, &d) == 0) {
                if (e.workers != d.workers || e.ndns != d.ndns) abort();
                for (size_t i = 0; i < d.ndns; i++)
                    if (strcmp(e.dns[i], d.dns[i]) != 0) abort();
            }
            /* a name server taken here is one libevent's resolver takes (its own parser) */
            for (size_t i = 0; i < c.ndns; i++) {
                struct sockaddr_storage ss;
                int sl = (int)sizeof ss;
                if (evutil_parse_sockaddr_port(c.dns[i], (struct sockaddr *)&ss, &sl) != 0) abort();
            }
            static const char *const hosts[] = {"photos.google.com", "a.b.icloud.com", "x", "", NULL};
            for (int i = 0; hosts[i]; i++) {
                if (px_config_is_target(&c, hosts[i]) != px_config_is_target(&d, hosts[i])) abort();
                const char *h = hosts[i];
                unsigned port = 443;
                px_config_route(&d, &h, &port);
            }
            struct sockaddr_in a4 = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
            struct sockaddr_in6 a6 = {.sin6_family = AF_INET6};
            a6.sin6_addr.s6_addr[15] = 1;
            if (px_config_client_allowed(&c, (struct sockaddr *)&a4) !=
                    px_config_client_allowed(&d, (struct sockaddr *)&a4) ||
                px_config_client_allowed(&c, (struct sockaddr *)&a6) !=
                    px_config_client_allowed(&d, (struct sockaddr *)&a6))
                abort();
            px_config_free(&e);
            px_config_free(&d);
        }
        /* the setup pages put the target patterns into JavaScript strings and HTML: whatever
         * the file says, the only quotes in the PAC file and the only <code> elements in the
         * page are the template's */
        px_page pg;
        size_t nt = c.targets_given ? c.ntargets : 4;
        if (px_setup_page(&c, NULL, "/proxy.pac", "[2001:db8::1]:8080", &pg) == 0) {
            size_t q = 0;
            for (size_t i = 0; i < pg.len; i++) q += pg.body[i] == '"';
            if (q != 2 * nt + (nt ? 4 : 2)) abort();
            free(pg.body);
        }
        if (px_setup_page(&c, NULL, "/", "[2001:db8::1]:8080", &pg) == 0) {
            size_t k = 0;
            for (const char *x = pg.body; (x = strstr(x, "<code>")) != NULL; x++) k++;
            if (k != nt + 2 || memchr(pg.body, 0, pg.len)) abort();
            free(pg.body);
        }
    }
    px_config_free(&c);

    /* the same bytes as an auth file (apps/proxy/auth.c), and pieces of them as the
     * Proxy-Authorization values the proxy checks against it */
    f = fmemopen((void *)(uintptr_t)data, size, "r");
    if (!f) return 0;
    px_auth *a = NULL;
    err[0] = 0;
    rc = px_auth_read(&a, f, "users", err, sizeof err);
    fclose(f);
    if (rc < 0 && strncmp(err, "users", 5) != 0 && strcmp(err, "out of memory") != 0) abort();
    char v[300], user[PX_AUTH_NAME_MAX + 1];
    size_t n = size < sizeof v - 7 ? size : sizeof v - 7;
    memcpy(v, "Basic ", 6);
    memcpy(v + 6, data, n);
    v[6 + n] = 0;
    if (px_auth_check(a, v, user, sizeof user) && !a) abort(); /* nobody passes without users */
    if (px_auth_check(a, v + 6, user, sizeof user) && !a) abort();
    px_auth_free(a);
    return 0;
}

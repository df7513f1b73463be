/* Proxy configuration: defaults, the config file (docs/imgsec-proxy.conf.5) and flags share one
 * set of names; target host patterns; the test-only connect-to map.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proxy.h"

/* Google Photos: uploads go to photos.googleapis.com (and the Library API's
 * photoslibrary.googleapis.com), pictures come back from *.googleusercontent.com (lh3, lh4, ...).
 * iCloud Photos: uploads and downloads of photo assets go to *.icloud-content.com. */
const char *const px_default_targets[] = {
    "photos.googleapis.com",
    "photoslibrary.googleapis.com",
    "*.googleusercontent.com",
    "*.icloud-content.com",
    NULL,
};

/* Who may use the proxy unless `allow` says otherwise: this machine and private networks (a
 * phone on the home Wi-Fi, a VPN such as a tailnet in 100.64/10), never the Internet at large,
 * for a proxy listening on 0.0.0.0 on a machine with a public address would otherwise be an open
 * proxy into whatever that machine reaches. */
const char *const px_default_allow[] = {
    "127.0.0.0/8", "::1/128",                                /* loopback */
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",         /* RFC 1918 */
    "100.64.0.0/10",                                         /* shared address space (CGNAT, VPNs) */
    "169.254.0.0/16", "fe80::/10",                           /* link-local */
    "fc00::/7",                                              /* unique local */
    NULL,
};

int px_net_parse(px_net *n, const char *s)
{
    char buf[64];
    size_t l = strlen(s);
    if (l == 0 || l >= sizeof buf) return -1;
    memcpy(buf, s, l + 1);
    char *slash = strchr(buf, '/');
    if (slash) *slash = 0;
    memset(n, 0, sizeof *n);
    unsigned max, base;
    struct in_addr a4;
    if (inet_pton(AF_INET, buf, &a4) == 1) {
        n->addr[10] = n->addr[11] = 0xFF;
        memcpy(n->addr + 12, &a4, 4);
        max = 32;
        base = 96;
    } else if (inet_pton(AF_INET6, buf, n->addr) == 1) {
        max = 128;
        base = 0;
    } else {
        return -1;
    }
    unsigned p = max;
    if (slash) {
        const char *d = slash + 1;
        if (!*d || strlen(d) > 3) return -1;
        p = 0;
        for (; *d; d++) {
            if (!isdigit((unsigned char)*d)) return -1;
            p = p * 10 + (unsigned)(*d - '0');
        }
        if (p > max) return -1;
    }
    n->prefix = base + p;
    /* the host bits must be zero: "10.1.2.3/8" is more likely a typo than a network */
    for (unsigned i = n->prefix; i < 128; i++)
        if (n->addr[i / 8] & (0x80u >> (i % 8))) return -1;
    return 0;
}

static int net_match(const px_net *n, const uint8_t a[16])
{
    unsigned full = n->prefix / 8, rest = n->prefix % 8;
    if (memcmp(n->addr, a, full) != 0) return 0;
    if (!rest) return 1;
    uint8_t m = (uint8_t)(0xFF00u >> rest);
    return (n->addr[full] & m) == (a[full] & m);
}

/* The default list, parsed once into the config (not at every accept). */
static void allow_defaults(px_config *c)
{
    c->nallow = 0;
    c->allow_given = 0;
    for (size_t i = 0; px_default_allow[i] && c->nallow < PX_MAX_ALLOW; i++)
        if (px_net_parse(&c->allow[c->nallow], px_default_allow[i]) == 0) c->nallow++;
}

/* sa's address in 16 bytes, IPv4 as IPv4-mapped IPv6: 0, or -1 if sa is not IP. */
static int addr16(const struct sockaddr *sa, uint8_t a[16])
{
    memset(a, 0, 16);
    if (sa && sa->sa_family == AF_INET) {
        a[10] = a[11] = 0xFF;
        memcpy(a + 12, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
        return 0;
    }
    if (sa && sa->sa_family == AF_INET6) {
        memcpy(a, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, 16);
        return 0;
    }
    return -1;
}

const char *px_addr_text(const struct sockaddr *sa, char *out, size_t cap)
{
    const void *a = NULL;
    if (sa && sa->sa_family == AF_INET) a = &((const struct sockaddr_in *)(const void *)sa)->sin_addr;
    if (sa && sa->sa_family == AF_INET6) a = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
    if (!a || !inet_ntop(sa->sa_family, a, out, (socklen_t)cap)) snprintf(out, cap, "?");
    return out;
}

int px_config_client_allowed(const px_config *c, const struct sockaddr *sa)
{
    uint8_t a[16];
    if (!sa) return 0;
    if (addr16(sa, a) < 0) return 1; /* not an IP client (a Unix socket): nothing to check */
    for (size_t i = 0; i < c->nallow; i++)
        if (net_match(&c->allow[i], a)) return 1;
    return 0;
}

/* Whether a (addr16's form) is loopback or unspecified: 127/8 and ::1, and 0.0.0.0 (0/8) or ::,
 * which a connection to lands on this machine too. */
static int loopback16(const uint8_t a[16])
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
    static const uint8_t zero[16], one[16] = {[15] = 1};
    return (!memcmp(a, mapped, 12) && (a[12] == 127 || a[12] == 0)) || !memcmp(a, zero, 16) ||
           !memcmp(a, one, 16);
}

int px_addrs_this_machine(const struct addrinfo *ai)
{
    uint8_t a[16], b[16];
    int rest = 0; /* addresses left for the interfaces */
    for (const struct addrinfo *i = ai; i; i = i->ai_next) {
        if (addr16(i->ai_addr, a) < 0 || loopback16(a)) return 1;
        rest = 1;
    }
    if (!rest) return 0;
    struct ifaddrs *ifs;
    if (getifaddrs(&ifs) != 0) return 1;
    int self = 0;
    for (const struct addrinfo *i = ai; i && !self; i = i->ai_next) {
        addr16(i->ai_addr, a);
        for (struct ifaddrs *f = ifs; f && !self; f = f->ifa_next)
            self = addr16(f->ifa_addr, b) == 0 && !memcmp(a, b, 16);
    }
    freeifaddrs(ifs);
    return self;
}

int px_addr_peer_is_self(const struct sockaddr *peer, const struct sockaddr *local)
{
    uint8_t a[16], b[16];
    if (addr16(peer, a) < 0 || addr16(local, b) < 0 || peer->sa_family != local->sa_family)
        return 1;
    return loopback16(a) || !memcmp(a, b, 16);
}

void px_config_defaults(px_config *c)
{
    memset(c, 0, sizeof *c);
    c->client_timeout_s = 60;
    c->header_timeout_s = 15;
    c->upstream_timeout_s = 60;
    c->drain_timeout_s = 30;
    c->max_connections = 512;
    c->max_header_bytes = 64 * 1024;
    c->upload_sessions = 64;
    c->upload_session_ttl_s = 3600;
    allow_defaults(c);
}

static void clear_targets(px_config *c)
{
    for (size_t i = 0; i < c->ntargets; i++) free(c->targets[i]);
    c->ntargets = 0;
}

static void clear_dns(px_config *c)
{
    for (size_t i = 0; i < c->ndns; i++) free(c->dns[i]);
    c->ndns = 0;
}

void px_config_free(px_config *c)
{
    free(c->listen);
    free(c->state_dir);
    free(c->upstream_ca);
    free(c->log_file);
    free(c->hosts_file);
    free(c->auth_file);
    clear_targets(c);
    clear_dns(c);
    for (size_t i = 0; i < c->nconnect_to; i++) {
        free(c->connect_to[i].from_host);
        free(c->connect_to[i].to_host);
    }
    memset(c, 0, sizeof *c);
}

static int dup_opt(char **dst, const char *src)
{
    *dst = NULL;
    return src && !(*dst = strdup(src)) ? -1 : 0;
}

int px_config_copy(px_config *d, const px_config *s)
{
    *d = *s;
    d->listen = d->state_dir = d->upstream_ca = d->log_file = d->hosts_file = d->auth_file = NULL;
    d->ntargets = d->nconnect_to = d->ndns = 0;
    int bad = dup_opt(&d->listen, s->listen) | dup_opt(&d->state_dir, s->state_dir) |
              dup_opt(&d->upstream_ca, s->upstream_ca) | dup_opt(&d->log_file, s->log_file) |
              dup_opt(&d->hosts_file, s->hosts_file) | dup_opt(&d->auth_file, s->auth_file);
    for (size_t i = 0; i < s->ntargets && !bad; i++, d->ntargets++)
        bad = dup_opt(&d->targets[i], s->targets[i]);
    for (size_t i = 0; i < s->ndns && !bad; i++, d->ndns++) bad = dup_opt(&d->dns[i], s->dns[i]);
    for (size_t i = 0; i < s->nconnect_to && !bad; i++, d->nconnect_to++) {
        d->connect_to[i] = s->connect_to[i];
        bad = dup_opt(&d->connect_to[i].from_host, s->connect_to[i].from_host) |
              dup_opt(&d->connect_to[i].to_host, s->connect_to[i].to_host);
    }
    if (bad) px_config_free(d);
    return bad ? -1 : 0;
}

int px_config_keep_static(px_config *d, const px_config *s)
{
    char *l = NULL, *st = NULL, *h = NULL, *ns[PX_MAX_DNS] = {NULL};
    int bad = dup_opt(&l, s->listen) < 0 || dup_opt(&st, s->state_dir) < 0 ||
              dup_opt(&h, s->hosts_file) < 0;
    for (size_t i = 0; i < s->ndns && !bad; i++) bad = dup_opt(&ns[i], s->dns[i]) < 0;
    if (bad) {
        free(l);
        free(st);
        free(h);
        for (size_t i = 0; i < PX_MAX_DNS; i++) free(ns[i]);
        return -1;
    }
    free(d->listen);
    free(d->state_dir);
    free(d->hosts_file);
    clear_dns(d);
    d->listen = l;
    d->state_dir = st;
    /* (each worker's resolver was set up with these at start) */
    d->hosts_file = h;
    memcpy(d->dns, ns, sizeof ns);
    d->ndns = s->ndns;
    d->workers = s->workers;
    return 0;
}

static int set_str(char **dst, const char *v)
{
    char *s = strdup(v);
    if (!s) return -1;
    free(*dst);
    *dst = s;
    return 0;
}

static int set_uint(unsigned *dst, const char *v, unsigned lo, unsigned hi)
{
    char *end;
    errno = 0;
    unsigned long x = strtoul(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi) return -1;
    *dst = (unsigned)x;
    return 0;
}

/* A name server: "IPv4", "IPv4:PORT", "IPv6", "[IPv6]" or "[IPv6]:PORT" (what libevent's
 * evdns_base_nameserver_ip_add takes). Returns 0 if v is one. */
static int check_dns_server(const char *v)
{
    char a[INET6_ADDRSTRLEN + 2];
    const char *port = NULL;
    size_t n = strlen(v);
    unsigned char bin[16];
    unsigned p;
    if (n == 0 || n >= sizeof a + 6) return -1;
    if (v[0] == '[') {
        const char *e = strchr(v, ']');
        if (!e || (size_t)(e - v - 1) >= sizeof a) return -1;
        memcpy(a, v + 1, (size_t)(e - v - 1));
        a[e - v - 1] = 0;
        if (e[1] == ':') port = e + 2;
        else if (e[1]) return -1;
        if (inet_pton(AF_INET6, a, bin) != 1) return -1;
    } else if (strchr(v, ':') != strrchr(v, ':')) { /* a bare IPv6 address: no port */
        if (n >= sizeof a || inet_pton(AF_INET6, v, bin) != 1) return -1;
    } else {
        const char *c = strchr(v, ':');
        size_t l = c ? (size_t)(c - v) : n;
        if (l >= sizeof a) return -1;
        memcpy(a, v, l);
        a[l] = 0;
        if (c) port = c + 1;
        if (inet_pton(AF_INET, a, bin) != 1) return -1;
    }
    return port && set_uint(&p, port, 1, 65535) < 0 ? -1 : 0;
}

/* "HOST:PORT:CONNECT-TO-HOST:CONNECT-TO-PORT", as curl's --connect-to (empty HOST or PORT: any). */
static int parse_connect_to(px_connect_to *ct, const char *v)
{
    char buf[512];
    if (strlen(v) >= sizeof buf) return -1;
    strcpy(buf, v);
    char *f[4];
    char *p = buf;
    for (int i = 0; i < 4; i++) {
        f[i] = p;
        if (*p == '[') { /* IPv6 literal */
            char *e = strchr(p, ']');
            if (!e) return -1;
            p = e + 1;
        }
        char *c = i < 3 ? strchr(p, ':') : NULL;
        if (i < 3 && !c) return -1;
        if (c) {
            *c = 0;
            p = c + 1;
        }
    }
    for (char *q = f[0]; *q; q++) *q = (char)tolower((unsigned char)*q);
    unsigned fp = 0, tp = 0;
    if (*f[1] && set_uint(&fp, f[1], 1, 65535) < 0) return -1;
    if (set_uint(&tp, f[3], 1, 65535) < 0 || !*f[2]) return -1;
    char *th = f[2];
    size_t tl = strlen(th);
    if (th[0] == '[' && tl > 2) {
        th[tl - 1] = 0;
        th++;
    }
    ct->from_host = strdup(f[0]);
    ct->to_host = strdup(th);
    ct->from_port = fp;
    ct->to_port = tp;
    return ct->from_host && ct->to_host ? 0 : -1;
}

int px_config_set(px_config *c, const char *name, const char *v, char *err, size_t errcap)
{
    int rc = 0;
    if (!strcmp(name, "listen")) rc = set_str(&c->listen, v);
    else if (!strcmp(name, "state-dir")) rc = set_str(&c->state_dir, v);
    else if (!strcmp(name, "upstream-ca")) rc = set_str(&c->upstream_ca, v);
    else if (!strcmp(name, "log-file")) rc = set_str(&c->log_file, v);
    else if (!strcmp(name, "hosts-file")) rc = set_str(&c->hosts_file, v);
    else if (!strcmp(name, "auth-file")) rc = set_str(&c->auth_file, v);
    else if (!strcmp(name, "dns-server")) {
        if (c->ndns == PX_MAX_DNS || check_dns_server(v) < 0) rc = -1;
        else if (!(c->dns[c->ndns] = strdup(v))) return -1;
        else c->ndns++;
    } else if (!strcmp(name, "no-dns-servers")) /* flags replace the file's list (server.c) */
        clear_dns(c);
    else if (!strcmp(name, "target-host")) {
        if (c->ntargets == PX_MAX_TARGETS || !*v) {
            rc = -1;
        } else {
            char *s = strdup(v);
            if (!s) return -1;
            for (char *q = s; *q; q++) *q = (char)tolower((unsigned char)*q);
            c->targets[c->ntargets++] = s;
            c->targets_given = 1;
        }
    } else if (!strcmp(name, "allow")) {
        px_net n[2];
        size_t k = 1;
        if (!strcmp(v, "all")) {
            k = 2;
            rc = px_net_parse(&n[0], "0.0.0.0/0") | px_net_parse(&n[1], "::/0");
        } else {
            rc = px_net_parse(&n[0], v);
        }
        if (!rc && !c->allow_given) c->nallow = 0; /* a list given replaces the default one */
        if (!rc && c->nallow + k > PX_MAX_ALLOW) rc = -1;
        if (!rc) {
            memcpy(&c->allow[c->nallow], n, k * sizeof n[0]);
            c->nallow += k;
            c->allow_given = 1;
        }
    } else if (!strcmp(name, "no-allow")) { /* flags replace the file's list (server.c) */
        allow_defaults(c);
    } else if (!strcmp(name, "no-target-hosts")) {
        clear_targets(c);
        c->targets_given = 1;
    } else if (!strcmp(name, "upstream-connect-to")) {
        if (c->nconnect_to == PX_MAX_CONNECT_TO) rc = -1;
        else if (parse_connect_to(&c->connect_to[c->nconnect_to], v) < 0) rc = -1;
        else c->nconnect_to++;
    } else if (!strcmp(name, "client-timeout")) rc = set_uint(&c->client_timeout_s, v, 1, 86400);
    else if (!strcmp(name, "header-timeout")) rc = set_uint(&c->header_timeout_s, v, 1, 3600);
    else if (!strcmp(name, "upstream-timeout")) rc = set_uint(&c->upstream_timeout_s, v, 1, 86400);
    else if (!strcmp(name, "drain-timeout")) rc = set_uint(&c->drain_timeout_s, v, 0, 3600);
    else if (!strcmp(name, "max-connections")) rc = set_uint(&c->max_connections, v, 1, 100000);
    else if (!strcmp(name, "upload-sessions")) rc = set_uint(&c->upload_sessions, v, 1, 100000);
    else if (!strcmp(name, "workers")) rc = set_uint(&c->workers, v, 0, 64);
    else if (!strcmp(name, "upload-session-ttl")) rc = set_uint(&c->upload_session_ttl_s, v, 1, 86400 * 7);
    else if (!strcmp(name, "max-header-bytes")) {
        unsigned x;
        rc = set_uint(&x, v, 1024, 1024 * 1024);
        if (!rc) c->max_header_bytes = x;
    } else if (!strcmp(name, "cipher-thread")) {
        if (!strcmp(v, "auto")) c->cipher_thread_off = 0;
        else if (!strcmp(v, "off")) c->cipher_thread_off = 1;
        else rc = -1;
    } else if (!strcmp(name, "upstream-self")) {
        if (!strcmp(v, "deny")) c->upstream_self = 0;
        else if (!strcmp(v, "allow")) c->upstream_self = 1;
        else rc = -1;
    } else if (!strcmp(name, "on-other-media")) {
        if (!strcmp(v, "pass")) c->refuse_other_media = 0;
        else if (!strcmp(v, "refuse")) c->refuse_other_media = 1;
        else rc = -1;
    } else if (!strcmp(name, "on-unencryptable")) {
        if (!strcmp(v, "pass")) c->refuse_unencryptable = 0;
        else if (!strcmp(v, "refuse")) c->refuse_unencryptable = 1;
        else rc = -1;
    } else {
        snprintf(err, errcap, "unknown setting '%s'", name);
        return -1;
    }
    if (rc < 0) snprintf(err, errcap, "bad value for %s: '%s'", name, v);
    return rc;
}

int px_config_load(px_config *c, const char *path, char *err, size_t errcap)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errcap, "%s: %s", path, strerror(errno));
        return -1;
    }
    int rc = px_config_read(c, f, path, err, errcap);
    fclose(f);
    return rc;
}

int px_next_line(FILE *f, char *line, size_t cap, unsigned *no, char **out, const char *path,
                 char *err, size_t errcap)
{
    for (;;) {
        if (!fgets(line, (int)cap, f)) return 0;
        ++*no;
        size_t l = strlen(line);
        if (l == cap - 1 && line[l - 1] != '\n') {
            snprintf(err, errcap, "%s:%u: line too long", path, *no);
            return -1;
        }
        char *h = strchr(line, '#');
        if (h) *h = 0;
        char *p = line;
        while (isspace((unsigned char)*p)) p++;
        char *e = p + strlen(p);
        while (e > p && isspace((unsigned char)e[-1])) *--e = 0;
        if (*p) {
            *out = p;
            return 1;
        }
    }
}

int px_config_read(px_config *c, FILE *f, const char *path, char *err, size_t errcap)
{
    char line[1024], *p;
    unsigned lineno = 0;
    int rc;
    while ((rc = px_next_line(f, line, sizeof line, &lineno, &p, path, err, errcap)) > 0) {
        char *name = p;
        while (*p && !isspace((unsigned char)*p) && *p != '=') p++;
        char *name_end = p;
        while (isspace((unsigned char)*p)) p++;
        if (*p == '=') p++;
        while (isspace((unsigned char)*p)) p++;
        *name_end = 0;
        char e2[200];
        if (px_config_set(c, name, p, e2, sizeof e2) < 0) {
            snprintf(err, errcap, "%s:%u: %s", path, lineno, e2);
            return -1;
        }
    }
    return rc;
}

int px_config_is_target(const px_config *c, const char *host)
{
    char h[256];
    size_t n = strlen(host);
    if (n >= sizeof h) return 0;
    for (size_t i = 0; i <= n; i++) h[i] = (char)tolower((unsigned char)host[i]);
    if (n && h[n - 1] == '.') h[n - 1] = 0; /* absolute form */
    if (!c->targets_given) {
        for (size_t i = 0; px_default_targets[i]; i++)
            if (fnmatch(px_default_targets[i], h, 0) == 0) return 1;
        return 0;
    }
    for (size_t i = 0; i < c->ntargets; i++)
        if (fnmatch(c->targets[i], h, 0) == 0) return 1;
    return 0;
}

void px_config_route(const px_config *c, const char **host, unsigned *port)
{
    for (size_t i = 0; i < c->nconnect_to; i++) {
        const px_connect_to *ct = &c->connect_to[i];
        if (ct->from_host[0] && strcasecmp(ct->from_host, *host) != 0) continue;
        if (ct->from_port && ct->from_port != *port) continue;
        *host = ct->to_host;
        *port = ct->to_port;
        return;
    }
}

int px_build_config(px_config *c, const char *path, const char *const *flags, char *err,
                    size_t errcap)
{
    px_config_defaults(c);
    if (path && px_config_load(c, path, err, errcap) < 0) return -1;
    int flag_targets = 0, flag_allow = 0, flag_dns = 0;
    for (size_t i = 0; flags && flags[i]; i += 2) {
        if (!strcmp(flags[i], "target-host")) flag_targets = 1;
        if (!strcmp(flags[i], "allow")) flag_allow = 1;
        if (!strcmp(flags[i], "dns-server")) flag_dns = 1;
    }
    if (flag_targets) px_config_set(c, "no-target-hosts", "", err, errcap);
    if (flag_allow) px_config_set(c, "no-allow", "", err, errcap);
    if (flag_dns) px_config_set(c, "no-dns-servers", "", err, errcap);
    for (size_t i = 0; flags && flags[i]; i += 2)
        if (px_config_set(c, flags[i], flags[i + 1], err, errcap) < 0) return -1;
    return 0;
}

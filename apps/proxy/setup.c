/* The proxy's own pages, for setting devices up (docs/proxy.md, "Set up a phone"): what a GET
 * or HEAD in origin form on the proxy's port asks for (never one inside an intercepted tunnel,
 * which is the upstream's):
 *   /            a page with the steps and links to the others
 *   /ca.pem      the CA certificate, PEM
 *   /ca.cer      the same, DER, as application/x-x509-ca-cert (what iOS and Android offer to
 *                install when a browser opens it)
 *   /proxy.pac   proxy auto-config: the target hosts through this proxy, everything else direct
 * Public things only: the CA certificate (never its key) and the target patterns.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "proxy.h"

/* A growing text buffer; on failure (out of memory) it stays failed. */
typedef struct {
    char *p;
    size_t n, cap;
    int bad;
} sbuf;

static void put(sbuf *b, const char *s, size_t n)
{
    if (b->bad) return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->n + n + 1) cap *= 2;
        char *q = realloc(b->p, cap);
        if (!q) {
            b->bad = 1;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

static void puts_(sbuf *b, const char *s) { put(b, s, strlen(s)); }

/* s as the inside of a JavaScript string literal: anything but [a-z0-9.*?_:-] as \xHH */
static void put_js(sbuf *b, const char *s)
{
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || strchr(".*?_:-", ch)) {
            put(b, (const char *)&ch, 1);
        } else {
            char e[5];
            snprintf(e, sizeof e, "\\x%02x", ch);
            put(b, e, 4);
        }
    }
}

/* s as HTML text */
static void put_html(sbuf *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<': puts_(b, "&lt;"); break;
        case '>': puts_(b, "&gt;"); break;
        case '&': puts_(b, "&amp;"); break;
        case '"': puts_(b, "&quot;"); break;
        default: put(b, s, 1);
        }
    }
}

static size_t targets(const px_config *cfg, const char *const **list)
{
    if (!cfg->targets_given) {
        size_t n = 0;
        while (px_default_targets[n]) n++;
        *list = px_default_targets;
        return n;
    }
    *list = (const char *const *)cfg->targets;
    return cfg->ntargets;
}

/* the target patterns t[0..n) */
static void pac(const char *const *t, size_t n, const char *proxy, sbuf *b)
{
    puts_(b, "// imgsec proxy: the photo hosts go through the proxy, everything else goes direct.\n"
             "// No DIRECT fallback for them: if the proxy is down, photo uploads fail rather than\n"
             "// go up unencrypted.\n"
             "function FindProxyForURL(url, host) {\n"
             "    host = host.toLowerCase();\n");
    if (n) {
        puts_(b, "    if (");
        for (size_t i = 0; i < n; i++) {
            puts_(b, i ? " ||\n        shExpMatch(host, \"" : "shExpMatch(host, \"");
            put_js(b, t[i]);
            puts_(b, "\")");
        }
        puts_(b, ")\n        return \"PROXY ");
        put_js(b, proxy);
        puts_(b, "\";\n");
    }
    puts_(b, "    return \"DIRECT\";\n}\n");
}

void px_ca_fingerprint(X509 *ca, char out[96])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    out[0] = 0;
    if (!ca || X509_digest(ca, EVP_sha256(), md, &n) != 1 || n != 32) return;
    for (unsigned i = 0; i < n; i++) snprintf(out + 3 * i, 4, i + 1 < n ? "%02X:" : "%02X", md[i]);
}

static void page(const char *const *t, size_t n, const char *proxy, X509 *ca, int auth, sbuf *b)
{
    char fp[96];
    px_ca_fingerprint(ca, fp);
    puts_(b, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
             "<meta name=\"viewport\" content=\"width=device-width\">"
             "<title>imgsec photo privacy proxy</title></head><body>\n"
             "<h1>imgsec photo privacy proxy</h1>\n"
             "<p>Photos (JPEG) this device uploads to the hosts below are encrypted on their way "
             "to the cloud and decrypted on their way back. Other formats (HEIC, PNG, videos) are "
             "not: on an iPhone, set Settings &gt; Camera &gt; Formats &gt; Most Compatible.</p>\n"
             "<ol>\n<li>Install this proxy's CA certificate: <a href=\"/ca.cer\">ca.cer</a> "
             "(iOS, Android) or <a href=\"/ca.pem\">ca.pem</a> (PEM). iOS: then Settings &gt; "
             "General &gt; About &gt; Certificate Trust Settings, enable full trust for it.");
    if (fp[0]) {
        puts_(b, " Before trusting it, check that the SHA-256 fingerprint the phone shows in its "
                 "details is <code>");
        puts_(b, fp);
        puts_(b, "</code>, the one the proxy machine printed at start (this page comes over "
                 "plain HTTP: the comparison is what proves it is this proxy's).");
    }
    puts_(b, "</li>\n"
             "<li>Wi-Fi settings, this network, HTTP proxy: <b>Automatic</b> with the URL "
             "<code>http://");
    put_html(b, proxy);
    puts_(b, "/proxy.pac</code> (only the photo hosts then go through the proxy), or "
             "<b>Manual</b>: server and port <code>");
    put_html(b, proxy);
    puts_(b, "</code>.");
    if (auth)
        puts_(b, " This proxy asks for a user name and password (its owner makes them): on an "
                 "iPhone, turn on Authentication under HTTP Proxy &gt; Manual. Android's proxy "
                 "settings have no such fields: ask the owner to let your device's address in.");
    puts_(b, "</li>\n</ol>\n<p>Hosts intercepted:</p>\n<ul>\n");
    for (size_t i = 0; i < n; i++) {
        puts_(b, "<li><code>");
        put_html(b, t[i]);
        puts_(b, "</code></li>\n");
    }
    puts_(b, "</ul>\n</body></html>\n");
}

static int cert(X509 *ca, int der, sbuf *b)
{
    if (!ca) return -1;
    if (der) {
        unsigned char *d = NULL;
        int n = i2d_X509(ca, &d);
        if (n <= 0) return -1;
        put(b, (const char *)d, (size_t)n);
        OPENSSL_free(d);
        return 0;
    }
    BIO *m = BIO_new(BIO_s_mem());
    char *p = NULL;
    long n = 0;
    int ok = m && PEM_write_bio_X509(m, ca) == 1 && (n = BIO_get_mem_data(m, &p)) > 0;
    if (ok) put(b, p, (size_t)n);
    BIO_free(m);
    return ok ? 0 : -1;
}

int px_setup_page(const px_config *cfg, X509 *ca, const char *path, const char *proxy,
                  px_page *out)
{
    memset(out, 0, sizeof *out);
    const char *const *t;
    size_t n = targets(cfg, &t), pl = strcspn(path, "?#");
    sbuf b = {0};
    int rc = 0;
#define IS(s) (pl == strlen(s) && !strncmp(path, s, pl))
    if (IS("/") || IS("/index.html")) {
        out->ctype = "text/html; charset=utf-8";
        page(t, n, proxy, ca, cfg->auth_file != NULL, &b);
    } else if (IS("/proxy.pac")) {
        out->ctype = "application/x-ns-proxy-autoconfig";
        pac(t, n, proxy, &b);
    } else if (IS("/ca.pem")) {
        out->ctype = "application/x-pem-file";
        rc = cert(ca, 0, &b);
    } else if (IS("/ca.cer")) {
        out->ctype = "application/x-x509-ca-cert";
        rc = cert(ca, 1, &b);
    } else {
        out->status = 404;
        out->ctype = "text/plain; charset=utf-8";
        puts_(&b, "not found: this is a proxy (its own pages: / /ca.pem /ca.cer /proxy.pac; "
                  "send absolute http:// URLs, or CONNECT for https)\n");
    }
#undef IS
    if (rc < 0 || b.bad) {
        free(b.p);
        return -1;
    }
    if (!out->status) out->status = 200;
    out->body = b.p;
    out->len = b.n;
    return 0;
}

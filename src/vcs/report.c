/* The verifier's canonical report record and its envelope (format in include/imgsec/attest.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imgsec/attest.h"

void isec_hex(const uint8_t *in, size_t n, char *out)
{
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = d[in[i] >> 4];
        out[2 * i + 1] = d[in[i] & 15];
    }
    out[2 * n] = 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int isec_unhex(const char *in, size_t inlen, uint8_t *out, size_t n)
{
    if (inlen != 2 * n) return ISEC_EFORMAT;
    for (size_t i = 0; i < n; i++) {
        int hi = hexval(in[2 * i]), lo = hexval(in[2 * i + 1]);
        if (hi < 0 || lo < 0) return ISEC_EFORMAT;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

int32_t isec_vreport_ppm(double x)
{
    if (!(x == x)) return 0; /* NaN: never happens for a real NC; keep it deterministic */
    if (x > 2.0) x = 2.0;
    if (x < -2.0) x = -2.0;
    double s = x * ISEC_VREPORT_PPM;
    return (int32_t)(s < 0 ? s - 0.5 : s + 0.5);
}

void isec_vreport_fmt_ppm(int32_t ppm, char out[16])
{
    uint32_t a = ppm < 0 ? (uint32_t)(-(int64_t)ppm) : (uint32_t)ppm;
    snprintf(out, 16, "%s%u.%06u", ppm < 0 ? "-" : "", a / ISEC_VREPORT_PPM, a % ISEC_VREPORT_PPM);
}

static const char *backend_name(int b)
{
    return b == ISEC_VBACKEND_SOFT ? "soft" : b == ISEC_VBACKEND_TPM2 ? "tpm2" : NULL;
}

int isec_vreport_rule(const isec_vreport *r)
{
    return r->nc_ppm >= r->threshold_ppm && r->invalid_ppm <= r->max_invalid_ppm &&
           r->wrong_ppm <= r->max_wrong_ppm;
}

int isec_vreport_encode(const isec_vreport *r, char *out, size_t cap, size_t *len)
{
    const char *be = backend_name(r->backend);
    const int32_t *unit[] = {&r->ber_ppm,       &r->invalid_ppm,     &r->wrong_ppm,
                             &r->threshold_ppm, &r->max_invalid_ppm, &r->max_wrong_ppm};
    if (!be || r->nc_ppm < -ISEC_VREPORT_PPM || r->nc_ppm > ISEC_VREPORT_PPM) return ISEC_EINVAL;
    for (size_t i = 0; i < sizeof unit / sizeof unit[0]; i++)
        if (*unit[i] < 0 || *unit[i] > ISEC_VREPORT_PPM) return ISEC_EINVAL;
    if ((r->genuine != 0) != isec_vreport_rule(r)) return ISEC_EINVAL;
    char h[6][65], nc[16], ber[16], inv[16], wr[16], th[16], mi[16], mw[16];
    isec_hex(r->nonce, 32, h[0]);
    isec_hex(r->sheet_a, 32, h[1]);
    isec_hex(r->sheet_b, 32, h[2]);
    isec_hex(r->table_id, 16, h[3]);
    isec_hex(r->watermark_id, 16, h[4]);
    isec_hex(r->measurement, 32, h[5]);
    isec_vreport_fmt_ppm(r->nc_ppm, nc);
    isec_vreport_fmt_ppm(r->ber_ppm, ber);
    isec_vreport_fmt_ppm(r->invalid_ppm, inv);
    isec_vreport_fmt_ppm(r->wrong_ppm, wr);
    isec_vreport_fmt_ppm(r->threshold_ppm, th);
    isec_vreport_fmt_ppm(r->max_invalid_ppm, mi);
    isec_vreport_fmt_ppm(r->max_wrong_ppm, mw);
    int n = snprintf(out, cap,
                     "imgsec-vcs-report=%d\nnonce=%s\nsheet-a=%s\nsheet-b=%s\ntable-id=%s\n"
                     "watermark-id=%s\nnc=%s\nber=%s\ninvalid=%s\nwrong=%s\nthreshold=%s\n"
                     "max-invalid=%s\nmax-wrong=%s\nverdict=%s\nmeasurement=%s\nbackend=%s\n",
                     ISEC_VREPORT_VERSION, h[0], h[1], h[2], h[3], h[4], nc, ber, inv, wr, th, mi,
                     mw, r->genuine ? "genuine" : "not-genuine", h[5], be);
    if (n < 0) return ISEC_EINVAL;
    if ((size_t)n >= cap) return ISEC_EBUFFER;
    *len = (size_t)n;
    return 0;
}

/* Next "key=value\n" line of buf starting at *pos, whose key must be `key`. */
static int field(const uint8_t *buf, size_t len, size_t *pos, const char *key, const char **val,
                 size_t *vlen)
{
    size_t kl = strlen(key), p = *pos;
    if (len - p < kl + 2 || memcmp(buf + p, key, kl) || buf[p + kl] != '=') return ISEC_EFORMAT;
    p += kl + 1;
    const uint8_t *nl = memchr(buf + p, '\n', len - p);
    if (!nl) return ISEC_EFORMAT;
    *val = (const char *)buf + p;
    *vlen = (size_t)(nl - (buf + p));
    *pos = (size_t)(nl - buf) + 1;
    return 0;
}

/* [-]d.dddddd, |value| <= 2. Exactness is enforced by the re-encode in the caller. */
static int parse_ppm(const char *s, size_t n, int32_t *out)
{
    int neg = n && s[0] == '-';
    if (neg) s++, n--;
    if (n != 8 || s[0] < '0' || s[0] > '2' || s[1] != '.') return ISEC_EFORMAT;
    int32_t v = (s[0] - '0') * ISEC_VREPORT_PPM;
    int32_t f = 0;
    for (size_t i = 2; i < 8; i++) {
        if (s[i] < '0' || s[i] > '9') return ISEC_EFORMAT;
        f = f * 10 + (s[i] - '0');
    }
    *out = neg ? -(v + f) : v + f;
    return 0;
}

int isec_vreport_decode(const uint8_t *buf, size_t len, isec_vreport *r)
{
    if (!buf || len > ISEC_VREPORT_MAX_RECORD) return ISEC_EFORMAT;
    memset(r, 0, sizeof *r);
    static const char *const keys[] = {"imgsec-vcs-report", "nonce",       "sheet-a",   "sheet-b",
                                       "table-id",          "watermark-id", "nc",        "ber",
                                       "invalid",           "wrong",        "threshold", "max-invalid",
                                       "max-wrong",         "verdict",      "measurement", "backend"};
    /* keys[6..12] are the fixed-point ratios, in this order */
    int32_t *ppm[] = {&r->nc_ppm,        &r->ber_ppm,         &r->invalid_ppm,  &r->wrong_ppm,
                      &r->threshold_ppm, &r->max_invalid_ppm, &r->max_wrong_ppm};
    uint8_t *hexes[] = {NULL, r->nonce, r->sheet_a, r->sheet_b, r->table_id, r->watermark_id};
    size_t pos = 0;
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
        const char *v;
        size_t vl;
        if (field(buf, len, &pos, keys[k], &v, &vl)) return ISEC_EFORMAT;
        int rc = 0;
        if (k == 0)
            rc = (vl == 1 && v[0] == '0' + ISEC_VREPORT_VERSION) ? 0 : ISEC_EFORMAT;
        else if (k <= 5)
            rc = isec_unhex(v, vl, hexes[k], k >= 4 ? 16 : 32);
        else if (k <= 12)
            rc = parse_ppm(v, vl, ppm[k - 6]);
        else if (k == 13) {
            if (vl == 7 && !memcmp(v, "genuine", 7))
                r->genuine = 1;
            else if (!(vl == 11 && !memcmp(v, "not-genuine", 11)))
                rc = ISEC_EFORMAT;
        } else if (k == 14)
            rc = isec_unhex(v, vl, r->measurement, 32);
        else if (vl == 4 && !memcmp(v, "soft", 4))
            r->backend = ISEC_VBACKEND_SOFT;
        else if (vl == 4 && !memcmp(v, "tpm2", 4))
            r->backend = ISEC_VBACKEND_TPM2;
        else
            rc = ISEC_EFORMAT;
        if (rc) return ISEC_EFORMAT;
    }
    if (pos != len) return ISEC_EFORMAT;
    /* One record, one byte form: uppercase hex, "-0.000000" or a wrong verdict do not pass. */
    char again[ISEC_VREPORT_MAX_RECORD];
    size_t n;
    if (isec_vreport_encode(r, again, sizeof again, &n) || n != len || memcmp(again, buf, len))
        return ISEC_EFORMAT;
    return 0;
}

int isec_venvelope_encode(const isec_venvelope *e, uint8_t **out, size_t *len)
{
    const char *be = backend_name(e->backend);
    if (!be || !e->record || !e->sig || e->record_len > ISEC_VREPORT_MAX_RECORD ||
        e->sig_len > ISEC_VREPORT_MAX_FIELD || e->quote_len > ISEC_VREPORT_MAX_FIELD ||
        (e->backend == ISEC_VBACKEND_TPM2) != (e->quote != NULL))
        return ISEC_EINVAL;
    size_t cap = e->record_len + e->sig_len + e->quote_len + 200;
    uint8_t *b = malloc(cap);
    if (!b) return ISEC_ENOMEM;
    size_t n = (size_t)snprintf((char *)b, cap, "imgsec-vcs-attested-report 1\nrecord %zu\n",
                                e->record_len);
    memcpy(b + n, e->record, e->record_len);
    n += e->record_len;
    n += (size_t)snprintf((char *)b + n, cap - n, "\nbackend %s\n", be);
    if (e->quote) {
        n += (size_t)snprintf((char *)b + n, cap - n, "quote %zu\n", e->quote_len);
        memcpy(b + n, e->quote, e->quote_len);
        n += e->quote_len;
        b[n++] = '\n';
    }
    n += (size_t)snprintf((char *)b + n, cap - n, "sig %zu\n", e->sig_len);
    memcpy(b + n, e->sig, e->sig_len);
    n += e->sig_len;
    b[n++] = '\n';
    *out = b;
    *len = n;
    return 0;
}

/* "<name> <decimal>\n" then that many bytes then "\n". */
static int blob(const uint8_t *buf, size_t len, size_t *pos, const char *name, size_t max,
                const uint8_t **val, size_t *vlen)
{
    size_t nl = strlen(name), p = *pos;
    if (len - p < nl + 3 || memcmp(buf + p, name, nl) || buf[p + nl] != ' ') return ISEC_EFORMAT;
    p += nl + 1;
    size_t v = 0, digits = 0;
    while (p < len && buf[p] >= '0' && buf[p] <= '9') {
        if (digits++ && v == 0) return ISEC_EFORMAT; /* no leading zeros */
        v = v * 10 + (size_t)(buf[p++] - '0');
        if (v > max) return ISEC_ELIMIT;
    }
    if (!digits || p >= len || buf[p++] != '\n') return ISEC_EFORMAT;
    if (len - p < v + 1 || buf[p + v] != '\n') return ISEC_EFORMAT;
    *val = buf + p;
    *vlen = v;
    *pos = p + v + 1;
    return 0;
}

int isec_venvelope_decode(const uint8_t *buf, size_t len, isec_venvelope *e)
{
    static const char head[] = "imgsec-vcs-attested-report 1\n";
    memset(e, 0, sizeof *e);
    if (!buf) return ISEC_EFORMAT;
    if (len > ISEC_VREPORT_MAX_ENVELOPE) return ISEC_ELIMIT;
    if (len < sizeof head - 1 || memcmp(buf, head, sizeof head - 1)) return ISEC_EFORMAT;
    size_t pos = sizeof head - 1;
    int rc = blob(buf, len, &pos, "record", ISEC_VREPORT_MAX_RECORD, &e->record, &e->record_len);
    if (rc) return rc;
    if (len - pos >= 13 && !memcmp(buf + pos, "backend soft\n", 13))
        e->backend = ISEC_VBACKEND_SOFT;
    else if (len - pos >= 13 && !memcmp(buf + pos, "backend tpm2\n", 13))
        e->backend = ISEC_VBACKEND_TPM2;
    else
        return ISEC_EFORMAT;
    pos += 13;
    if (e->backend == ISEC_VBACKEND_TPM2 &&
        (rc = blob(buf, len, &pos, "quote", ISEC_VREPORT_MAX_FIELD, &e->quote, &e->quote_len)))
        return rc;
    if ((rc = blob(buf, len, &pos, "sig", ISEC_VREPORT_MAX_FIELD, &e->sig, &e->sig_len))) return rc;
    return pos == len ? 0 : ISEC_EFORMAT;
}

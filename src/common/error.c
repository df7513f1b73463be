#include "imgsec/error.h"

static const struct {
    int rc;
    const char *name, *text;
} errors[] = {
    {ISEC_OK, "ISEC_OK", "success"},
    {ISEC_EINVAL, "ISEC_EINVAL", "invalid argument"},
    {ISEC_ENOMEM, "ISEC_ENOMEM", "out of memory"},
    {ISEC_EFORMAT, "ISEC_EFORMAT", "malformed input"},
    {ISEC_ETRUNC, "ISEC_ETRUNC", "truncated input"},
    {ISEC_EUNSUPPORTED, "ISEC_EUNSUPPORTED", "unsupported input"},
    {ISEC_ELIMIT, "ISEC_ELIMIT", "input exceeds a limit"},
    {ISEC_ESTATE, "ISEC_ESTATE", "context is in a bad state"},
    {ISEC_ECRYPTO, "ISEC_ECRYPTO", "crypto library failure"},
    {ISEC_EIO, "ISEC_EIO", "I/O error"},
    {ISEC_EEXIST, "ISEC_EEXIST", "file exists"},
    {ISEC_EKEY, "ISEC_EKEY", "bad key or passphrase"},
    {ISEC_EAUTH, "ISEC_EAUTH", "authentication failed"},
    {ISEC_EBUFFER, "ISEC_EBUFFER", "output buffer too small"},
    {ISEC_NEED_INPUT, "ISEC_NEED_INPUT", "more input needed"},
};

static int find(int rc)
{
    for (unsigned i = 0; i < sizeof errors / sizeof errors[0]; i++)
        if (errors[i].rc == rc) return (int)i;
    return -1;
}

const char *isec_strerror(int rc)
{
    int i = find(rc);
    return i < 0 ? "unknown error" : errors[i].text;
}

const char *isec_err_name(int rc)
{
    int i = find(rc);
    return i < 0 ? "ISEC_E?" : errors[i].name;
}

/* imgsec error codes: 0 is success, negative is an error, positive a non-error state. */
#ifndef IMGSEC_ERROR_H
#define IMGSEC_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define ISEC_MUST_CHECK __attribute__((warn_unused_result))
#else
#define ISEC_MUST_CHECK
#endif

enum isec_error {
    ISEC_OK = 0,
    ISEC_EINVAL = -1,       /* bad argument or API misuse */
    ISEC_ENOMEM = -2,       /* allocation failed */
    ISEC_EFORMAT = -3,      /* input is malformed */
    ISEC_ETRUNC = -4,       /* input ended before it was complete */
    ISEC_EUNSUPPORTED = -5, /* well-formed, but a kind we do not handle */
    ISEC_ELIMIT = -6,       /* input exceeds a configured limit */
    ISEC_ESTATE = -7,       /* context is unusable after an earlier error, or finished */
    ISEC_ECRYPTO = -8,      /* the crypto library failed */
    ISEC_EIO = -9,          /* reading or writing a file failed */
    ISEC_EEXIST = -10,      /* refusing to overwrite an existing file */
    ISEC_EKEY = -11,        /* key file malformed, or wrong passphrase */
    ISEC_EAUTH = -12,       /* authentication failed */
    ISEC_EBUFFER = -13,     /* caller's output buffer too small */
    ISEC_NEED_INPUT = 1     /* not an error: more input is needed */
};

/* A short, static, human-readable description of rc. Never NULL. */
const char *isec_strerror(int rc);
/* The enum name of rc ("ISEC_EFORMAT"), for logs. Never NULL. */
const char *isec_err_name(int rc);

#ifdef __cplusplus
}
#endif
#endif

/* The only global state of libprofs: one error message per thread. */
#include "core/error.h"

#include <stdio.h>
#include <string.h>

#include "profs/version.h"

#define PF_ERRMSG_MAX 1024

static _Thread_local char errmsg[PF_ERRMSG_MAX];

const char *profs_last_error(void) { return errmsg; }

void profs_clear_error(void) { errmsg[0] = '\0'; }

int pf_verror(int code, const char *fmt, va_list ap)
{
    vsnprintf(errmsg, sizeof errmsg, fmt, ap);
    return code;
}

int pf_error(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pf_verror(code, fmt, ap);
    va_end(ap);
    return code;
}

int pf_error_prefix(int code, const char *fmt, ...)
{
    char old[PF_ERRMSG_MAX];
    memcpy(old, errmsg, sizeof old);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(errmsg, sizeof errmsg, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < sizeof errmsg)
        snprintf(errmsg + n, sizeof errmsg - (size_t)n, "%s", old);
    return code;
}

int pf_enomem(const char *what)
{
    return pf_error(PROFS_ENOMEM, "out of memory (%s)", what ? what : "allocation");
}

const char *profs_strerror(int code)
{
    switch (code) {
    case PROFS_OK: return "success";
    case PROFS_EINVAL: return "invalid argument";
    case PROFS_ENOMEM: return "out of memory";
    case PROFS_EIO: return "input/output error";
    case PROFS_EFORMAT: return "malformed input";
    case PROFS_EUNSUPPORTED: return "not supported";
    case PROFS_ESHAPE: return "shape or size mismatch";
    case PROFS_ENUMERIC: return "numerical error (NaN, Inf or a failed routine)";
    case PROFS_ECANCELLED: return "cancelled";
    case PROFS_ESTATE: return "invalid state for this call";
    case PROFS_EBUFS: return "buffer too small";
    case PROFS_ENOTFOUND: return "not found";
    case PROFS_EEXIST: return "already exists";
    default: return "unknown error";
    }
}

const char *profs_version_string(void) { return PROFS_VERSION_STRING; }

int profs_version_number(void) { return PROFS_VERSION_NUMBER; }

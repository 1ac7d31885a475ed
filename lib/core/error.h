/* Internal: the thread-local error message. */
#ifndef PF_ERROR_H
#define PF_ERROR_H

#include <stdarg.h>
#include "profs/common.h"

#if defined(__GNUC__)
#  define PF_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#  define PF_PRINTF(a, b)
#endif

/* Set this thread's message (printf-style) and return code. */
int pf_error(int code, const char *fmt, ...) PF_PRINTF(2, 3);
/* Same, with a va_list. */
int pf_verror(int code, const char *fmt, va_list ap);
/* Prepend context to the current message ("file.json: " + old message); returns code. */
int pf_error_prefix(int code, const char *fmt, ...) PF_PRINTF(2, 3);
/* Out-of-memory shorthand: sets "out of memory (<what>)" and returns PROFS_ENOMEM. */
int pf_enomem(const char *what);

#endif

/*
** fg_err.h — how core/ reports failure.
**
** Library code never prints and never exits. A function that can fail takes an `fg_err *` and
** returns 0 on success or one of the FG_E* codes; the message in `err->msg` says what is wrong in
** words a user can act on (the value, field, file or line at fault). The SQLite glue in ext/ turns
** it into an SQL error; FG_ENOMEM becomes SQLITE_NOMEM.
*/
#ifndef FG_ERR_H
#define FG_ERR_H

#include <stdarg.h>

enum {
  FG_OK = 0,
  FG_EINVAL = 1,   /* bad argument or input value */
  FG_ENOMEM = 2,   /* allocation failed */
  FG_EIO = 3,      /* a file could not be read */
  FG_ECORRUPT = 4, /* a model BLOB or input file is malformed */
};

typedef struct fg_err {
  int code;       /* last FG_E* code set, FG_OK if none */
  char msg[512];  /* NUL-terminated message */
} fg_err;

/* Sets code and a printf-style message; returns code so callers can `return fg_errf(...)`. */
int fg_errf(fg_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Prefixes the existing message with "prefix: " (for adding context while unwinding). */
int fg_err_prefix(fg_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static inline void fg_err_clear(fg_err *err) { err->code = FG_OK; err->msg[0] = 0; }

#endif

/* kukeon error object: fallible functions return < 0 and fill *err.
 * Only main() or the API boundary prints an error. */
#ifndef KK_LIB_ERROR_H
#define KK_LIB_ERROR_H

#include <stdarg.h>

/* The kind travels over the API and picks the CLI's wording and exit path. */
enum kk_err_kind {
  KK_ERR_INTERNAL = 0,
  KK_ERR_NOT_FOUND,
  KK_ERR_EXISTS,
  KK_ERR_INVALID,
  KK_ERR_CONFLICT,
  KK_ERR_UNAVAILABLE,
  KK_ERR_PERMISSION,
};

struct kk_error {
  enum kk_err_kind kind;
  int errnum; /* errno that caused it, 0 if none */
  char *msg;  /* full message, context prefixed on the way up */
};
typedef struct kk_error *kk_err_t;

/* Fill *err (which must be NULL) and return -1.  When errnum != 0 the
 * message gets ": <strerror(errnum)>" appended. */
int kk_error(kk_err_t *err, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int kk_error_kind(kk_err_t *err, enum kk_err_kind kind, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int kk_verror(kk_err_t *err, enum kk_err_kind kind, int errnum, const char *fmt, va_list ap);

/* Prefix context: "<ctx>: <old message>". Returns -1 for tail calls. */
int kk_error_wrap(kk_err_t *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void kk_error_free(kk_err_t *err);
const char *kk_err_kind_name(enum kk_err_kind kind);


#endif

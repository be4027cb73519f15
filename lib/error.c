#include "lib/error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"

int kk_verror(kk_err_t *err, enum kk_err_kind kind, int errnum, const char *fmt, va_list ap) {
  if (err == NULL)
    return -1;
  if (*err != NULL) /* keep the first error: it is the cause */
    return -1;
  char *msg = kk_vasprintf(fmt, ap);
  if (errnum != 0) {
    char *full = kk_asprintf("%s: %s", msg, strerror(errnum));
    free(msg);
    msg = full;
  }
  struct kk_error *e = kk_xmalloc(sizeof(*e));
  e->kind = kind;
  e->errnum = errnum;
  e->msg = msg;
  *err = e;
  return -1;
}

int kk_error(kk_err_t *err, int errnum, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  enum kk_err_kind kind = KK_ERR_INTERNAL;
  if (errnum == ENOENT)
    kind = KK_ERR_NOT_FOUND;
  else if (errnum == EEXIST)
    kind = KK_ERR_EXISTS;
  else if (errnum == EACCES || errnum == EPERM)
    kind = KK_ERR_PERMISSION;
  else if (errnum == EINVAL)
    kind = KK_ERR_INVALID;
  int ret = kk_verror(err, kind, errnum, fmt, ap);
  va_end(ap);
  return ret;
}

int kk_error_kind(kk_err_t *err, enum kk_err_kind kind, int errnum, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int ret = kk_verror(err, kind, errnum, fmt, ap);
  va_end(ap);
  return ret;
}

int kk_error_wrap(kk_err_t *err, const char *fmt, ...) {
  if (err == NULL || *err == NULL)
    return -1;
  va_list ap;
  va_start(ap, fmt);
  char *ctx = kk_vasprintf(fmt, ap);
  va_end(ap);
  char *full = kk_asprintf("%s: %s", ctx, (*err)->msg);
  free(ctx);
  free((*err)->msg);
  (*err)->msg = full;
  return -1;
}

void kk_error_free(kk_err_t *err) {
  if (err == NULL || *err == NULL)
    return;
  free((*err)->msg);
  free(*err);
  *err = NULL;
}

const char *kk_err_kind_name(enum kk_err_kind kind) {
  switch (kind) {
  case KK_ERR_NOT_FOUND: return "not found";
  case KK_ERR_EXISTS: return "already exists";
  case KK_ERR_INVALID: return "invalid";
  case KK_ERR_CONFLICT: return "conflict";
  case KK_ERR_UNAVAILABLE: return "unavailable";
  case KK_ERR_PERMISSION: return "permission denied";
  case KK_ERR_INTERNAL: break;
  }
  return "internal";
}

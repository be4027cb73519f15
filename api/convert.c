#include "api/convert.h"

#include <stdlib.h>
#include <string.h>

#include "lib/util.h"

uint8_t *kk_pb_pack(const ProtobufCMessage *m, size_t *len) {
  *len = protobuf_c_message_get_packed_size(m);
  uint8_t *buf = kk_xmalloc(*len ? *len : 1);
  protobuf_c_message_pack(m, buf);
  return buf;
}

static char *nz(const char *s) { return (char *)(s ? s : ""); }

void kk_ref_to_pb(const struct kk_ref *ref, Kukeonv1__Ref *pb) {
  kukeonv1__ref__init(pb);
  pb->kind = (char *)kk_kind_lower(ref->kind);
  pb->realm = nz(ref->realm);
  pb->space = nz(ref->space);
  pb->stack = nz(ref->stack);
  pb->cell = nz(ref->cell);
  pb->name = nz(ref->name);
}

static const char *empty_null(const char *s) { return s && *s ? s : NULL; }

int kk_ref_from_pb(const Kukeonv1__Ref *pb, struct kk_ref *ref, kk_err_t *err) {
  memset(ref, 0, sizeof(*ref));
  if (pb == NULL || pb->kind == NULL || kk_kind_parse(pb->kind, &ref->kind) < 0)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "request names no valid resource kind");
  ref->realm = empty_null(pb->realm);
  ref->space = empty_null(pb->space);
  ref->stack = empty_null(pb->stack);
  ref->cell = empty_null(pb->cell);
  ref->name = empty_null(pb->name);
  return 0;
}

Kukeonv1__ErrorKind kk_err_kind_to_pb(enum kk_err_kind k) {
  switch (k) {
  case KK_ERR_NOT_FOUND: return KUKEONV1__ERROR_KIND__NOT_FOUND;
  case KK_ERR_EXISTS: return KUKEONV1__ERROR_KIND__ALREADY_EXISTS;
  case KK_ERR_INVALID: return KUKEONV1__ERROR_KIND__INVALID;
  case KK_ERR_CONFLICT: return KUKEONV1__ERROR_KIND__CONFLICT;
  case KK_ERR_UNAVAILABLE: return KUKEONV1__ERROR_KIND__UNAVAILABLE;
  case KK_ERR_PERMISSION: return KUKEONV1__ERROR_KIND__PERMISSION_DENIED;
  default: return KUKEONV1__ERROR_KIND__INTERNAL;
  }
}

enum kk_err_kind kk_err_kind_from_pb(Kukeonv1__ErrorKind k) {
  switch (k) {
  case KUKEONV1__ERROR_KIND__NOT_FOUND: return KK_ERR_NOT_FOUND;
  case KUKEONV1__ERROR_KIND__ALREADY_EXISTS: return KK_ERR_EXISTS;
  case KUKEONV1__ERROR_KIND__INVALID: return KK_ERR_INVALID;
  case KUKEONV1__ERROR_KIND__CONFLICT: return KK_ERR_CONFLICT;
  case KUKEONV1__ERROR_KIND__UNAVAILABLE: return KK_ERR_UNAVAILABLE;
  case KUKEONV1__ERROR_KIND__PERMISSION_DENIED: return KK_ERR_PERMISSION;
  default: return KK_ERR_INTERNAL;
  }
}

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

/* m's pairs into labels[0..m->n) and their pointers (no copies). */
static void labels_to_pb(const struct kk_map *m, Kukeonv1__Label *labels, Kukeonv1__Label **ptrs) {
  for (size_t k = 0; k < m->n; k++) {
    kukeonv1__label__init(&labels[k]);
    labels[k].key = m->keys[k];
    labels[k].value = m->vals[k];
    ptrs[k] = &labels[k];
  }
}

void kk_image_to_pb(const struct kk_image_info *i, struct kk_pb_image *out) {
  kukeonv1__image__init(&out->img);
  kukeonv1__platform__init(&out->plat);
  Kukeonv1__Image *m = &out->img;
  m->name = nz(i->name);
  m->namespace_ = nz(i->namespace_name);
  m->digest = nz(i->digest);
  m->manifest_digest = nz(i->manifest_digest);
  m->media_type = nz(i->media_type);
  m->config_digest = nz(i->config_digest);
  m->chain_id = nz(i->chain_id);
  m->size = i->size;
  m->created = i->created;
  out->plat.os = nz(i->platform.os);
  out->plat.architecture = nz(i->platform.architecture);
  out->plat.variant = nz(i->platform.variant);
  out->plat.os_version = nz(i->platform.os_version);
  m->platform = &out->plat;
  size_t n = i->labels.n;
  out->labels = kk_xzalloc((n ? n : 1) * sizeof(*out->labels));
  out->label_ptrs = kk_xzalloc((n ? n : 1) * sizeof(*out->label_ptrs));
  labels_to_pb(&i->labels, out->labels, out->label_ptrs);
  m->labels = out->label_ptrs;
  m->n_labels = n;
}

void kk_pb_image_free(struct kk_pb_image *p) {
  free(p->labels);
  free(p->label_ptrs);
  p->labels = NULL;
  p->label_ptrs = NULL;
}

/* Optional strings the runtime leaves NULL travel as "". */
static char *dup_or_null(const char *s) { return s && *s ? kk_xstrdup(s) : NULL; }

void kk_image_from_pb(const Kukeonv1__Image *pb, struct kk_image_info *out) {
  memset(out, 0, sizeof(*out));
  out->name = kk_xstrdup(pb->name);
  out->namespace_name = kk_xstrdup(pb->namespace_);
  out->digest = kk_xstrdup(pb->digest);
  out->manifest_digest = kk_xstrdup(pb->manifest_digest);
  out->media_type = dup_or_null(pb->media_type);
  out->config_digest = dup_or_null(pb->config_digest);
  out->chain_id = dup_or_null(pb->chain_id);
  out->size = pb->size;
  out->created = pb->created;
  if (pb->platform) {
    out->platform.os = dup_or_null(pb->platform->os);
    out->platform.architecture = dup_or_null(pb->platform->architecture);
    out->platform.variant = dup_or_null(pb->platform->variant);
    out->platform.os_version = dup_or_null(pb->platform->os_version);
  }
  for (size_t k = 0; k < pb->n_labels; k++)
    kk_map_set(&out->labels, pb->labels[k]->key, pb->labels[k]->value);
}

/* ------------------------------------------------------- summary rows */

static int row_state(struct kk_doc *d) {
  return d->kind == KK_KIND_CONTAINER ? d->u.container.status.state : kk_doc_status_base(d)->state;
}

static int64_t row_created(struct kk_doc *d) {
  return d->kind == KK_KIND_CONTAINER ? d->u.container.status.created_at : kk_doc_status_base(d)->created_at;
}

void kk_rows_to_pb(struct kk_doc *const *docs, size_t n, struct kk_pb_rows *out) {
  size_t n_labels = 0;
  for (size_t i = 0; i < n; i++)
    n_labels += kk_doc_metadata(docs[i])->labels.n;
  out->rows = kk_xzalloc((n ? n : 1) * sizeof(*out->rows));
  out->row_ptrs = kk_xzalloc((n ? n : 1) * sizeof(*out->row_ptrs));
  out->refs = kk_xzalloc((n ? n : 1) * sizeof(*out->refs));
  out->labels = kk_xzalloc((n_labels ? n_labels : 1) * sizeof(*out->labels));
  out->label_ptrs = kk_xzalloc((n_labels ? n_labels : 1) * sizeof(*out->label_ptrs));
  size_t at = 0;
  for (size_t i = 0; i < n; i++) {
    struct kk_doc *d = docs[i];
    Kukeonv1__SummaryRow *row = &out->rows[i];
    kukeonv1__summary_row__init(row);
    struct kk_ref ref = kk_ref_of(d);
    kk_ref_to_pb(&ref, &out->refs[i]);
    row->ref = &out->refs[i];
    row->state = row_state(d);
    row->created = row_created(d);
    if (d->kind == KK_KIND_CONTAINER)
      row->restart_count = d->u.container.status.restart_count;
    const struct kk_map *labels = &kk_doc_metadata(d)->labels;
    labels_to_pb(labels, &out->labels[at], &out->label_ptrs[at]);
    row->labels = &out->label_ptrs[at];
    row->n_labels = labels->n;
    at += labels->n;
    out->row_ptrs[i] = row;
  }
}

void kk_pb_rows_free(struct kk_pb_rows *p) {
  free(p->rows);
  free(p->row_ptrs);
  free(p->refs);
  free(p->labels);
  free(p->label_ptrs);
  memset(p, 0, sizeof(*p));
}

/* The ref's parents where kk_ref_of finds them: the kind's spec. */
static void set_parents(struct kk_doc *d, const Kukeonv1__Ref *r) {
  switch (d->kind) {
  case KK_KIND_SPACE:
    d->u.space.spec.realm_id = dup_or_null(r->realm);
    break;
  case KK_KIND_STACK:
    d->u.stack.spec.realm_id = dup_or_null(r->realm);
    d->u.stack.spec.space_id = dup_or_null(r->space);
    break;
  case KK_KIND_CELL:
    d->u.cell.spec.realm_id = dup_or_null(r->realm);
    d->u.cell.spec.space_id = dup_or_null(r->space);
    d->u.cell.spec.stack_id = dup_or_null(r->stack);
    break;
  case KK_KIND_CONTAINER:
    d->u.container.spec.realm_id = dup_or_null(r->realm);
    d->u.container.spec.space_id = dup_or_null(r->space);
    d->u.container.spec.stack_id = dup_or_null(r->stack);
    d->u.container.spec.cell_id = dup_or_null(r->cell);
    break;
  default:
    break;
  }
}

int kk_doc_from_row(const Kukeonv1__SummaryRow *pb, enum kk_kind want, struct kk_doc **out, kk_err_t *err) {
  enum kk_kind kind;
  const Kukeonv1__Ref *r = pb->ref;
  if (r == NULL || kk_kind_parse(r->kind, &kind) < 0 || kind != want)
    return kk_error_kind(err, KK_ERR_INTERNAL, 0, "malformed list reply: a row that is not a %s", kk_kind_lower(want));
  if (kk_empty(r->name))
    return kk_error_kind(err, KK_ERR_INTERNAL, 0, "malformed list reply: a %s row without a name", kk_kind_lower(want));
  struct kk_doc *d = kk_doc_new(kind);
  struct kk_metadata *md = kk_doc_metadata(d);
  md->name = kk_xstrdup(r->name);
  /* Appended, not looked up: a reply of many labels costs linear time. */
  for (size_t k = 0; k < pb->n_labels; k++)
    kk_map_append(&md->labels, pb->labels[k]->key, pb->labels[k]->value);
  set_parents(d, r);
  if (kind == KK_KIND_CONTAINER) {
    d->u.container.status.state = pb->state;
    d->u.container.status.created_at = pb->created;
    d->u.container.status.restart_count = pb->restart_count;
  } else {
    kk_doc_status_base(d)->state = pb->state;
    kk_doc_status_base(d)->created_at = pb->created;
  }
  *out = d;
  return 0;
}

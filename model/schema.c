#include "model/schema.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define AT(obj, off) ((void *)((char *)(obj) + (off)))
#define CAT(obj, off) ((const void *)((const char *)(obj) + (off)))

/* ---------------------------------------------------------------- parse */

static int node_line(const yaml_node_t *n) { return (int)n->start_mark.line + 1; }

static int perr(struct kk_parse_ctx *c, const yaml_node_t *n, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int perr(struct kk_parse_ctx *c, const yaml_node_t *n, const char *path, const char *fmt, ...) {
  char why[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, sizeof(why), fmt, ap);
  va_end(ap);
  return kk_error_kind(c->err, KK_ERR_INVALID, 0, "%s:%d: %s: %s", c->file ? c->file : "<input>",
                       n ? node_line(n) : 0, path, why);
}

static bool is_null(const yaml_node_t *n) {
  if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
    return false;
  const char *v = (const char *)n->data.scalar.value;
  return n->data.scalar.length == 0 || strcmp(v, "null") == 0 || strcmp(v, "~") == 0 ||
         strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0;
}

static const char *scalar(const yaml_node_t *n) { return (const char *)n->data.scalar.value; }

/* A scalar usable as a C string (no NUL inside). */
static bool clean_scalar(const yaml_node_t *n) {
  return n->type == YAML_SCALAR_NODE && strlen(scalar(n)) == n->data.scalar.length;
}

/* Every node visited counts: aliases let a small file name one big node
 * many times, and this bound is what keeps that small. */
static int visit(struct kk_parse_ctx *c, const yaml_node_t *n, const char *path) {
  if (++c->visits > KK_MAX_NODE_VISITS)
    return perr(c, n, path, "document too large or too deeply aliased");
  return 0;
}

/* YAML 1.1 integers (what manifests written for the Go project use): 0755
 * is octal, 0x1F hex; YAML 1.2's 0o755 is octal too. */
static bool scan_i64(const char *v, int64_t *out) {
  const char *digits = v;
  int base = 10;
  bool neg = false;
  if (*digits == '-' || *digits == '+')
    neg = *digits++ == '-';
  if (digits[0] == '0' && (digits[1] == 'o' || digits[1] == 'O'))
    base = 8, digits += 2;
  else if (digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X'))
    base = 16, digits += 2;
  else if (digits[0] == '0' && digits[1] != '\0')
    base = 8, digits += 1;
  char *end;
  errno = 0;
  unsigned long long x = strtoull(digits, &end, base);
  if (*digits == '\0' || *end != '\0' || errno != 0 || !(isxdigit((unsigned char)*digits)) ||
      x > (unsigned long long)INT64_MAX + (neg ? 1 : 0))
    return false;
  *out = neg ? (int64_t)(0 - x) : (int64_t)x;
  return true;
}

static int parse_i64(struct kk_parse_ctx *c, const yaml_node_t *n, const char *path, int64_t *out) {
  if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
    return perr(c, n, path, "expected an integer");
  if (!scan_i64(scalar(n), out))
    return perr(c, n, path, "expected an integer, got \"%s\"", scalar(n));
  return 0;
}

/* A byte size: an integer as above, or a quantity ("64Mi", "1G"; quoted
 * too, as JSON writes them). */
static int parse_bytes(struct kk_parse_ctx *c, const yaml_node_t *n, const char *path, int64_t *out) {
  if (!clean_scalar(n))
    return perr(c, n, path, "expected an integer or a quantity such as 64Mi");
  if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && scan_i64(scalar(n), out))
    return 0;
  kk_err_t e = NULL;
  if (kk_parse_quantity_bytes(scalar(n), out, &e) == 0)
    return 0;
  perr(c, n, path, "%s", e->msg);
  kk_error_free(&e);
  return -1;
}

static int parse_number(struct kk_parse_ctx *c, const yaml_node_t *n, const struct kk_field *f, const char *path,
                        int64_t *out) {
  return (f->flags & KK_FF_BYTES) ? parse_bytes(c, n, path, out) : parse_i64(c, n, path, out);
}

static int parse_bool(struct kk_parse_ctx *c, const yaml_node_t *n, const char *path, bool *out) {
  if (n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
    const char *v = scalar(n);
    if (!strcmp(v, "true") || !strcmp(v, "True") || !strcmp(v, "TRUE")) {
      *out = true;
      return 0;
    }
    if (!strcmp(v, "false") || !strcmp(v, "False") || !strcmp(v, "FALSE")) {
      *out = false;
      return 0;
    }
  }
  return perr(c, n, path, "expected true or false");
}

static int parse_str(struct kk_parse_ctx *c, const yaml_node_t *n, const char *path, char **out) {
  if (n->type != YAML_SCALAR_NODE)
    return perr(c, n, path, "expected a string");
  if (strlen(scalar(n)) != n->data.scalar.length)
    return perr(c, n, path, "string contains a NUL byte");
  free(*out);
  *out = kk_xstrdup(scalar(n));
  return 0;
}

static int cmp_cstr(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int parse_field(struct kk_parse_ctx *c, yaml_node_t *n, const struct kk_field *f, void *obj,
                       const char *path) {
  void *p = AT(obj, f->off);
  if (visit(c, n, path) < 0)
    return -1;
  kk_doc_add_line(c->doc, p, node_line(n));
  if ((is_null(n) && f->type != KK_F_STR) || f->type == KK_F_IGNORE)
    return 0;
  switch (f->type) {
  case KK_F_IGNORE:
    return 0;
  case KK_F_STR:
    if (is_null(n))
      return 0;
    return parse_str(c, n, path, (char **)p);
  case KK_F_BOOL:
    return parse_bool(c, n, path, (bool *)p);
  case KK_F_I64:
    return parse_number(c, n, f, path, (int64_t *)p);
  case KK_F_OPT_I64: {
    struct kk_opt_i64 *o = p;
    if (parse_number(c, n, f, path, &o->v) < 0)
      return -1;
    o->set = true;
    return 0;
  }
  case KK_F_OPT_BOOL: {
    struct kk_opt_bool *o = p;
    if (parse_bool(c, n, path, &o->v) < 0)
      return -1;
    o->set = true;
    return 0;
  }
  case KK_F_TIME: {
    if (n->type != YAML_SCALAR_NODE || kk_time_parse(scalar(n), (int64_t *)p) < 0)
      return perr(c, n, path, "expected an RFC 3339 time");
    return 0;
  }
  case KK_F_ENUM: {
    if (n->type != YAML_SCALAR_NODE)
      return perr(c, n, path, "expected one of the state names");
    const char *v = scalar(n);
    for (int i = 0; i < f->n_enum; i++) {
      if (strcmp(v, f->enum_names[i]) == 0) {
        *(int *)p = i;
        return 0;
      }
    }
    /* Legacy files carry the ordinal. */
    char *end;
    long x = strtol(v, &end, 10);
    if (*v != '\0' && *end == '\0' && x >= 0 && x < f->n_enum) {
      *(int *)p = (int)x;
      return 0;
    }
    return perr(c, n, path, "unknown value \"%s\"", v);
  }
  case KK_F_STRV: {
    if (n->type != YAML_SEQUENCE_NODE)
      return perr(c, n, path, "expected a list of strings");
    struct kk_strv *sv = p;
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
      yaml_node_t *e = yaml_document_get_node(c->ydoc, *it);
      if (e == NULL || e->type != YAML_SCALAR_NODE)
        return perr(c, e ? e : n, path, "expected a list of strings");
      if (visit(c, e, path) < 0)
        return -1;
      if (!clean_scalar(e))
        return perr(c, e, path, "string contains a NUL byte");
      kk_strv_push(sv, scalar(e));
    }
    return 0;
  }
  case KK_F_I64V: {
    if (n->type != YAML_SEQUENCE_NODE)
      return perr(c, n, path, "expected a list of integers");
    struct kk_i64v *iv = p;
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
      yaml_node_t *e = yaml_document_get_node(c->ydoc, *it);
      int64_t x;
      if (e != NULL && visit(c, e, path) < 0)
        return -1;
      if (e == NULL || parse_i64(c, e, path, &x) < 0)
        return e ? -1 : perr(c, n, path, "expected a list of integers");
      if ((iv->n & (iv->n - 1)) == 0) /* grow at powers of two */
        iv->v = kk_xrealloc(iv->v, (iv->n ? iv->n * 2 : 1) * sizeof(int64_t));
      iv->v[iv->n++] = x;
    }
    return 0;
  }
  case KK_F_MAP: {
    if (n->type != YAML_MAPPING_NODE)
      return perr(c, n, path, "expected a map of strings");
    struct kk_map *m = p;
    size_t first = m->n;
    for (yaml_node_pair_t *pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top; pr++) {
      yaml_node_t *k = yaml_document_get_node(c->ydoc, pr->key);
      yaml_node_t *v = yaml_document_get_node(c->ydoc, pr->value);
      if (k == NULL || v == NULL || k->type != YAML_SCALAR_NODE || v->type != YAML_SCALAR_NODE)
        return perr(c, k ? k : n, path, "expected a map of strings");
      if (visit(c, k, path) < 0)
        return -1;
      if (!clean_scalar(k) || !clean_scalar(v))
        return perr(c, k, path, "key or value contains a NUL byte");
      kk_map_append(m, scalar(k), is_null(v) ? "" : scalar(v));
    }
    /* Duplicates: sort a copy of the keys once instead of a search per key. */
    size_t nk = m->n - first;
    if (nk > 1) {
      char **keys = kk_xmalloc(nk * sizeof(char *));
      memcpy(keys, m->keys + first, nk * sizeof(char *));
      qsort(keys, nk, sizeof(char *), cmp_cstr);
      const char *dup = NULL;
      for (size_t i = 1; i < nk && !dup; i++)
        if (strcmp(keys[i - 1], keys[i]) == 0)
          dup = keys[i];
      int r = dup ? perr(c, n, path, "duplicate key \"%s\"", dup) : 0;
      free(keys);
      return r;
    }
    return 0;
  }
  case KK_F_OBJ:
    return kk_schema_parse(c, n, f->sub, p, path);
  case KK_F_OBJV: {
    if (n->type != YAML_SEQUENCE_NODE)
      return perr(c, n, path, "expected a list");
    void **arr = p;
    size_t *count = AT(obj, f->count_off);
    /* Allocate once so the addresses recorded for line refs stay valid. */
    size_t n_items = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    if (*count != 0)
      return perr(c, n, path, "duplicate list");
    *arr = n_items ? kk_xzalloc(n_items * f->sub->size) : NULL;
    for (size_t i = 0; i < n_items; i++) {
      yaml_node_t *e = yaml_document_get_node(c->ydoc, n->data.sequence.items.start[i]);
      void *elem = AT(*arr, i * f->sub->size);
      (*count)++;
      char sub[256];
      snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
      if (e == NULL)
        return perr(c, n, sub, "bad list element");
      if (kk_schema_parse(c, e, f->sub, elem, sub) < 0)
        return -1;
    }
    return 0;
  }
  }
  return perr(c, n, path, "unsupported field type");
}

int kk_schema_parse(struct kk_parse_ctx *c, yaml_node_t *node, const struct kk_schema *s, void *obj,
                    const char *path) {
  if (is_null(node))
    return 0;
  if (node->type != YAML_MAPPING_NODE)
    return perr(c, node, path, "expected a mapping");
  kk_doc_add_line(c->doc, obj, node_line(node));
  unsigned long long seen = 0;
  for (yaml_node_pair_t *pr = node->data.mapping.pairs.start; pr < node->data.mapping.pairs.top; pr++) {
    yaml_node_t *k = yaml_document_get_node(c->ydoc, pr->key);
    yaml_node_t *v = yaml_document_get_node(c->ydoc, pr->value);
    if (k == NULL || v == NULL || k->type != YAML_SCALAR_NODE)
      return perr(c, k ? k : node, path, "keys must be strings");
    const char *key = scalar(k);
    char sub[256];
    snprintf(sub, sizeof(sub), "%s%s%s", path, *path ? "." : "", key);
    size_t i;
    for (i = 0; i < s->n; i++)
      if (strcmp(s->fields[i].key, key) == 0)
        break;
    if (i == s->n)
      return perr(c, k, sub, "unknown field");
    if (seen & (1ull << i))
      return perr(c, k, sub, "duplicate field");
    seen |= 1ull << i;
    if (parse_field(c, v, &s->fields[i], obj, sub) < 0)
      return -1;
  }
  return 0;
}

/* ----------------------------------------------------------------- emit */

static bool field_is_empty(const struct kk_field *f, const void *obj) {
  const void *p = CAT(obj, f->off);
  switch (f->type) {
  case KK_F_STR:
    return kk_empty(*(char *const *)p);
  case KK_F_BOOL:
    return !*(const bool *)p;
  case KK_F_I64:
  case KK_F_TIME:
    return *(const int64_t *)p == 0;
  case KK_F_OPT_I64:
    return !((const struct kk_opt_i64 *)p)->set;
  case KK_F_OPT_BOOL:
    return !((const struct kk_opt_bool *)p)->set;
  case KK_F_STRV:
    return ((const struct kk_strv *)p)->n == 0;
  case KK_F_I64V:
    return ((const struct kk_i64v *)p)->n == 0;
  case KK_F_MAP:
    return ((const struct kk_map *)p)->n == 0;
  case KK_F_ENUM:
    return false;
  case KK_F_OBJ:
    return kk_schema_is_empty(f->sub, p);
  case KK_F_OBJV:
    return *(const size_t *)CAT(obj, f->count_off) == 0;
  case KK_F_IGNORE:
    return true;
  }
  return true;
}

bool kk_schema_is_empty(const struct kk_schema *s, const void *obj) {
  for (size_t i = 0; i < s->n; i++)
    if (!field_is_empty(&s->fields[i], obj))
      return false;
  return true;
}

static void emit_field(struct kk_enc *e, const struct kk_field *f, const void *obj) {
  const void *p = CAT(obj, f->off);
  switch (f->type) {
  case KK_F_STR: {
    const char *v = *(char *const *)p;
    e->str(e, v ? v : "");
    break;
  }
  case KK_F_BOOL:
    e->boolean(e, *(const bool *)p);
    break;
  case KK_F_I64:
    e->i64(e, *(const int64_t *)p);
    break;
  case KK_F_OPT_I64:
    e->i64(e, ((const struct kk_opt_i64 *)p)->v);
    break;
  case KK_F_OPT_BOOL:
    e->boolean(e, ((const struct kk_opt_bool *)p)->v);
    break;
  case KK_F_TIME: {
    char buf[32];
    kk_time_format(*(const int64_t *)p, buf);
    e->str(e, buf);
    break;
  }
  case KK_F_ENUM: {
    int v = *(const int *)p;
    e->str(e, v >= 0 && v < f->n_enum ? f->enum_names[v] : "Unknown");
    break;
  }
  case KK_F_STRV: {
    const struct kk_strv *sv = p;
    e->seq_begin(e);
    for (size_t i = 0; i < sv->n; i++)
      e->str(e, sv->v[i]);
    e->seq_end(e);
    break;
  }
  case KK_F_I64V: {
    const struct kk_i64v *iv = p;
    e->seq_begin(e);
    for (size_t i = 0; i < iv->n; i++)
      e->i64(e, iv->v[i]);
    e->seq_end(e);
    break;
  }
  case KK_F_MAP: {
    const struct kk_map *m = p;
    e->map_begin(e);
    for (size_t i = 0; i < m->n; i++) {
      e->key(e, m->keys[i]);
      e->str(e, m->vals[i]);
    }
    e->map_end(e);
    break;
  }
  case KK_F_OBJ:
    kk_schema_emit(e, f->sub, p);
    break;
  case KK_F_IGNORE:
    break;
  case KK_F_OBJV: {
    const void *arr = *(const void *const *)p;
    size_t n = *(const size_t *)CAT(obj, f->count_off);
    e->seq_begin(e);
    for (size_t i = 0; i < n; i++)
      kk_schema_emit(e, f->sub, CAT(arr, i * f->sub->size));
    e->seq_end(e);
    break;
  }
  }
}

void kk_schema_emit(struct kk_enc *e, const struct kk_schema *s, const void *obj) {
  e->map_begin(e);
  for (size_t i = 0; i < s->n; i++) {
    const struct kk_field *f = &s->fields[i];
    if (f->type == KK_F_IGNORE || (!(f->flags & KK_FF_ALWAYS) && field_is_empty(f, obj)))
      continue;
    e->key(e, f->key);
    emit_field(e, f, obj);
  }
  e->map_end(e);
}

/* ------------------------------------------------------- free and copy */

void kk_schema_free(const struct kk_schema *s, void *obj) {
  for (size_t i = 0; i < s->n; i++) {
    const struct kk_field *f = &s->fields[i];
    void *p = AT(obj, f->off);
    switch (f->type) {
    case KK_F_STR:
      free(*(char **)p);
      *(char **)p = NULL;
      break;
    case KK_F_STRV:
      kk_strv_free(p);
      break;
    case KK_F_I64V:
      free(((struct kk_i64v *)p)->v);
      ((struct kk_i64v *)p)->v = NULL;
      ((struct kk_i64v *)p)->n = 0;
      break;
    case KK_F_MAP:
      kk_map_free(p);
      break;
    case KK_F_OBJ:
      kk_schema_free(f->sub, p);
      break;
    case KK_F_OBJV: {
      void **arr = p;
      size_t *n = AT(obj, f->count_off);
      for (size_t j = 0; j < *n; j++)
        kk_schema_free(f->sub, AT(*arr, j * f->sub->size));
      free(*arr);
      *arr = NULL;
      *n = 0;
      break;
    }
    default:
      break;
    }
  }
}

void kk_schema_copy(const struct kk_schema *s, void *dst, const void *src) {
  for (size_t i = 0; i < s->n; i++) {
    const struct kk_field *f = &s->fields[i];
    void *d = AT(dst, f->off);
    const void *p = CAT(src, f->off);
    switch (f->type) {
    case KK_F_STR:
      *(char **)d = kk_xstrdup(*(char *const *)p);
      break;
    case KK_F_BOOL:
      *(bool *)d = *(const bool *)p;
      break;
    case KK_F_I64:
    case KK_F_TIME:
      *(int64_t *)d = *(const int64_t *)p;
      break;
    case KK_F_ENUM:
      *(int *)d = *(const int *)p;
      break;
    case KK_F_OPT_I64:
      *(struct kk_opt_i64 *)d = *(const struct kk_opt_i64 *)p;
      break;
    case KK_F_OPT_BOOL:
      *(struct kk_opt_bool *)d = *(const struct kk_opt_bool *)p;
      break;
    case KK_F_STRV:
      memset(d, 0, sizeof(struct kk_strv));
      kk_strv_copy(d, p);
      break;
    case KK_F_I64V: {
      const struct kk_i64v *si = p;
      struct kk_i64v *di = d;
      di->n = si->n;
      di->v = si->n ? kk_xmalloc(si->n * sizeof(int64_t)) : NULL;
      if (si->n)
        memcpy(di->v, si->v, si->n * sizeof(int64_t));
      break;
    }
    case KK_F_MAP:
      memset(d, 0, sizeof(struct kk_map));
      kk_map_copy(d, p);
      break;
    case KK_F_OBJ:
      kk_schema_copy(f->sub, d, p);
      break;
    case KK_F_OBJV: {
      size_t n = *(const size_t *)CAT(src, f->count_off);
      const void *sarr = *(const void *const *)p;
      void *darr = n ? kk_xzalloc(n * f->sub->size) : NULL;
      for (size_t j = 0; j < n; j++)
        kk_schema_copy(f->sub, AT(darr, j * f->sub->size), CAT(sarr, j * f->sub->size));
      *(void **)d = darr;
      *(size_t *)AT(dst, f->count_off) = n;
      break;
    }
    case KK_F_IGNORE:
      break;
    }
  }
}

/* ------------------------------------------------------------- compare */

static void add_diff(struct kk_strv *diffs, const char *path) {
  if (diffs)
    kk_strv_push(diffs, path);
}

static const char *elem_key(const struct kk_schema *s, const void *elem) {
  const char *k = *(char *const *)CAT(elem, s->fields[0].off);
  return k ? k : "";
}

static bool diff_field(const struct kk_field *f, const void *a, const void *b, const char *path,
                       struct kk_strv *diffs) {
  const void *pa = CAT(a, f->off), *pb = CAT(b, f->off);
  bool eq = true;
  switch (f->type) {
  case KK_F_STR:
    eq = strcmp(*(char *const *)pa ? *(char *const *)pa : "", *(char *const *)pb ? *(char *const *)pb : "") == 0;
    break;
  case KK_F_BOOL:
    eq = *(const bool *)pa == *(const bool *)pb;
    break;
  case KK_F_I64:
  case KK_F_TIME:
    eq = *(const int64_t *)pa == *(const int64_t *)pb;
    break;
  case KK_F_ENUM:
    eq = *(const int *)pa == *(const int *)pb;
    break;
  case KK_F_OPT_I64: {
    const struct kk_opt_i64 *x = pa, *y = pb;
    eq = x->set == y->set && (!x->set || x->v == y->v);
    break;
  }
  case KK_F_OPT_BOOL: {
    const struct kk_opt_bool *x = pa, *y = pb;
    eq = x->set == y->set && (!x->set || x->v == y->v);
    break;
  }
  case KK_F_STRV:
    eq = kk_strv_equal(pa, pb);
    break;
  case KK_F_I64V: {
    const struct kk_i64v *x = pa, *y = pb;
    eq = x->n == y->n && (x->n == 0 || memcmp(x->v, y->v, x->n * sizeof(int64_t)) == 0);
    break;
  }
  case KK_F_MAP:
    eq = kk_map_equal(pa, pb);
    break;
  case KK_F_OBJ:
    return kk_schema_diff(f->sub, pa, pb, path, diffs);
  case KK_F_OBJV: {
    size_t na = *(const size_t *)CAT(a, f->count_off), nb = *(const size_t *)CAT(b, f->count_off);
    const void *xa = *(const void *const *)pa, *xb = *(const void *const *)pb;
    size_t sz = f->sub->size;
    char sub[256];
    bool keyed = (f->flags & KK_FF_KEYED) != 0;
    /* Matching by key needs unique keys; otherwise compare by position. */
    for (size_t i = 0; keyed && i < na; i++)
      for (size_t j = i + 1; keyed && j < na; j++)
        keyed = strcmp(elem_key(f->sub, CAT(xa, i * sz)), elem_key(f->sub, CAT(xa, j * sz))) != 0;
    for (size_t i = 0; keyed && i < nb; i++)
      for (size_t j = i + 1; keyed && j < nb; j++)
        keyed = strcmp(elem_key(f->sub, CAT(xb, i * sz)), elem_key(f->sub, CAT(xb, j * sz))) != 0;
    if (!keyed) {
      if (na != nb) {
        add_diff(diffs, path);
        return false;
      }
      for (size_t i = 0; i < na; i++) {
        snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
        if (!kk_schema_diff(f->sub, CAT(xa, i * sz), CAT(xb, i * sz), sub, diffs))
          eq = false;
      }
      return eq;
    }
    for (size_t i = 0; i < na; i++) {
      const void *ea = CAT(xa, i * sz);
      const void *match = NULL;
      for (size_t j = 0; j < nb && !match; j++)
        if (strcmp(elem_key(f->sub, ea), elem_key(f->sub, CAT(xb, j * sz))) == 0)
          match = CAT(xb, j * sz);
      snprintf(sub, sizeof(sub), "%s[%s]", path, elem_key(f->sub, ea));
      if (match == NULL) {
        eq = false;
        if (diffs) {
          char *m = kk_asprintf("%s removed", sub);
          kk_strv_push_owned(diffs, m);
        }
      } else if (!kk_schema_diff(f->sub, ea, match, sub, diffs)) {
        eq = false;
      }
    }
    for (size_t j = 0; j < nb; j++) {
      const void *eb = CAT(xb, j * sz);
      bool found = false;
      for (size_t i = 0; i < na && !found; i++)
        found = strcmp(elem_key(f->sub, eb), elem_key(f->sub, CAT(xa, i * sz))) == 0;
      if (!found) {
        eq = false;
        if (diffs)
          kk_strv_push_owned(diffs, kk_asprintf("%s[%s] added", path, elem_key(f->sub, eb)));
      }
    }
    return eq;
  }
  case KK_F_IGNORE:
    break;
  }
  if (!eq)
    add_diff(diffs, path);
  return eq;
}

bool kk_schema_diff(const struct kk_schema *s, const void *a, const void *b, const char *path,
                    struct kk_strv *diffs) {
  bool eq = true;
  for (size_t i = 0; i < s->n; i++) {
    const struct kk_field *f = &s->fields[i];
    if (f->flags & KK_FF_STATUS)
      continue;
    char sub[256];
    snprintf(sub, sizeof(sub), "%s%s%s", path, *path ? "." : "", f->key);
    if (!diff_field(f, a, b, sub, diffs)) {
      eq = false;
      if (diffs == NULL)
        return false;
    }
  }
  return eq;
}

/* ------------------------------------------------------------ line refs */

void kk_doc_add_line(struct kk_doc *doc, const void *addr, int line) {
  if (doc == NULL)
    return;
  if ((doc->n_lines & (doc->n_lines - 1)) == 0) /* grow at powers of two */
    doc->lines = kk_xrealloc(doc->lines, (doc->n_lines ? doc->n_lines * 2 : 1) * sizeof(*doc->lines));
  doc->lines[doc->n_lines].addr = addr;
  doc->lines[doc->n_lines].line = line;
  doc->n_lines++;
}

int kk_doc_line_of(const struct kk_doc *doc, const void *addr) {
  for (size_t i = doc->n_lines; i > 0; i--)
    if (doc->lines[i - 1].addr == addr)
      return doc->lines[i - 1].line;
  return doc->line;
}

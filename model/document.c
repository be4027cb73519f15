/* Documents: kind dispatch, multi-document parsing, YAML and JSON output. */
#include <inttypes.h>
#include <jansson.h>
#include <string.h>
#include <yaml.h>

#include "model/kube.h"
#include "model/schema.h"

static const char *const kind_names[KK_KIND_COUNT] = {"Realm", "Space", "Stack", "Cell", "Container"};
static const char *const kind_lower[KK_KIND_COUNT] = {"realm", "space", "stack", "cell", "container"};

const char *kk_kind_name(enum kk_kind kind) { return kind < KK_KIND_COUNT ? kind_names[kind] : "?"; }
const char *kk_kind_lower(enum kk_kind kind) { return kind < KK_KIND_COUNT ? kind_lower[kind] : "?"; }

int kk_kind_parse(const char *s, enum kk_kind *out) {
  static const struct {
    const char *alias;
    enum kk_kind kind;
  } aliases[] = {
      {"realm", KK_KIND_REALM},   {"realms", KK_KIND_REALM},         {"r", KK_KIND_REALM},
      {"space", KK_KIND_SPACE},   {"spaces", KK_KIND_SPACE},         {"sp", KK_KIND_SPACE},
      {"stack", KK_KIND_STACK},   {"stacks", KK_KIND_STACK},         {"st", KK_KIND_STACK},
      {"cell", KK_KIND_CELL},     {"cells", KK_KIND_CELL},           {"ce", KK_KIND_CELL},
      {"container", KK_KIND_CONTAINER}, {"containers", KK_KIND_CONTAINER}, {"co", KK_KIND_CONTAINER},
  };
  for (size_t i = 0; i < KK_KIND_COUNT; i++) {
    if (strcmp(s, kind_names[i]) == 0) {
      *out = (enum kk_kind)i;
      return 0;
    }
  }
  for (size_t i = 0; i < KK_ARRAY_SIZE(aliases); i++) {
    if (strcmp(s, aliases[i].alias) == 0) {
      *out = aliases[i].kind;
      return 0;
    }
  }
  return -1;
}


struct kk_doc *kk_doc_clone(const struct kk_doc *doc) {
  struct kk_doc *c = kk_doc_new(doc->kind);
  kk_schema_copy(kk_kind_schemas[doc->kind], &c->u, &doc->u);
  c->file = kk_xstrdup(doc->file);
  c->line = doc->line;
  return c;
}

void kk_doc_list_push(struct kk_doc_list *l, struct kk_doc *doc) {
  l->docs = kk_xrealloc(l->docs, (l->n + 1) * sizeof(*l->docs));
  l->docs[l->n++] = doc;
}

void kk_doc_list_free(struct kk_doc_list *l) {
  for (size_t i = 0; i < l->n; i++)
    kk_doc_free(l->docs[i]);
  free(l->docs);
  l->docs = NULL;
  l->n = 0;
}

/* metadata is the first member of every kind struct. */
struct kk_metadata *kk_doc_metadata(struct kk_doc *doc) { return (struct kk_metadata *)&doc->u; }

const char *kk_doc_name(const struct kk_doc *doc) {
  const char *n = ((const struct kk_metadata *)&doc->u)->name;
  return n ? n : "";
}

struct kk_status_base *kk_doc_status_base(struct kk_doc *doc) {
  switch (doc->kind) {
  case KK_KIND_REALM: return &doc->u.realm.status.base;
  case KK_KIND_SPACE: return &doc->u.space.status.base;
  case KK_KIND_STACK: return &doc->u.stack.status.base;
  case KK_KIND_CELL: return &doc->u.cell.status.base;
  default: return NULL;
  }
}

void kk_doc_reset_status(struct kk_doc *doc) {
  const struct kk_schema *s = kk_kind_schemas[doc->kind];
  for (size_t i = 0; i < s->n; i++) {
    const struct kk_field *f = &s->fields[i];
    if (f->type == KK_F_OBJ && (f->flags & KK_FF_STATUS)) {
      void *p = (char *)&doc->u + f->off;
      kk_schema_free(f->sub, p);
      memset(p, 0, f->sub->size);
    }
  }
}

bool kk_doc_spec_equal(const struct kk_doc *a, const struct kk_doc *b) {
  return a->kind == b->kind && kk_schema_diff(kk_kind_schemas[a->kind], &a->u, &b->u, "", NULL);
}

bool kk_doc_status_equal(const struct kk_doc *a, const struct kk_doc *b) {
  if (a->kind != b->kind)
    return false;
  const struct kk_schema *s = kk_kind_schemas[a->kind];
  for (size_t i = 0; i < s->n; i++) {
    const struct kk_field *f = &s->fields[i];
    if (f->type == KK_F_OBJ && (f->flags & KK_FF_STATUS) &&
        !kk_schema_diff(f->sub, (const char *)&a->u + f->off, (const char *)&b->u + f->off, "", NULL))
      return false;
  }
  return true;
}

void kk_doc_spec_diff(const struct kk_doc *a, const struct kk_doc *b, struct kk_strv *out) {
  if (a->kind != b->kind) {
    kk_strv_push(out, "kind");
    return;
  }
  kk_schema_diff(kk_kind_schemas[a->kind], &a->u, &b->u, "", out);
}

/* --------------------------------------------------------------- parse */

static int yaml_problem(const yaml_parser_t *p, const char *file, kk_err_t *err) {
  return kk_error_kind(err, KK_ERR_INVALID, 0, "%s:%zu: invalid YAML: %s", file,
                       p->problem_mark.line + 1, p->problem ? p->problem : "parse error");
}

static yaml_node_t *map_get(yaml_document_t *d, yaml_node_t *map, const char *key) {
  for (yaml_node_pair_t *pr = map->data.mapping.pairs.start; pr < map->data.mapping.pairs.top; pr++) {
    yaml_node_t *k = yaml_document_get_node(d, pr->key);
    if (k && k->type == YAML_SCALAR_NODE && strcmp((const char *)k->data.scalar.value, key) == 0)
      return yaml_document_get_node(d, pr->value);
  }
  return NULL;
}

/* A kukeon kind under a Kubernetes apiVersion is a wrong apiVersion, not
 * an import. */
static bool names_kukeon_kind(yaml_document_t *yd, yaml_node_t *root) {
  yaml_node_t *kn = map_get(yd, root, "kind");
  const char *kind = kn && kn->type == YAML_SCALAR_NODE ? (const char *)kn->data.scalar.value : NULL;
  for (size_t i = 0; kind && i < KK_KIND_COUNT; i++)
    if (strcmp(kind, kind_names[i]) == 0)
      return true;
  return false;
}

static int parse_document(yaml_document_t *yd, yaml_node_t *root, const char *file, struct kk_doc **out,
                          kk_err_t *err) {
  int line = (int)root->start_mark.line + 1;
  if (root->type != YAML_MAPPING_NODE)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "%s:%d: a document must be a mapping", file, line);
  yaml_node_t *av = map_get(yd, root, "apiVersion");
  if (av != NULL) {
    if (av->type != YAML_SCALAR_NODE)
      return kk_error_kind(err, KK_ERR_INVALID, 0, "%s:%d: apiVersion: expected a string", file, line);
    const char *v = (const char *)av->data.scalar.value;
    if (kk_kube_is_api_version(v) && !names_kukeon_kind(yd, root)) /* a Kubernetes Pod or Deployment: a cell */
      return kk_kube_parse(yd, root, file, out, err);
    if (*v != '\0' && strcmp(v, KK_API_VERSION) != 0)
      return kk_error_kind(err, KK_ERR_INVALID, 0, "%s:%d: apiVersion: unsupported apiVersion \"%s\" (supported: %s)",
                           file, (int)av->start_mark.line + 1, v, KK_API_VERSION);
  }
  yaml_node_t *kn = map_get(yd, root, "kind");
  if (kn == NULL || kn->type != YAML_SCALAR_NODE || kn->data.scalar.length == 0)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "%s:%d: kind: kind is required", file, line);
  const char *kind_s = (const char *)kn->data.scalar.value;
  int kline = (int)kn->start_mark.line + 1;
  enum kk_kind kind = KK_KIND_COUNT;
  for (size_t i = 0; i < KK_KIND_COUNT; i++)
    if (strcmp(kind_s, kind_names[i]) == 0)
      kind = (enum kk_kind)i;
  if (kind == KK_KIND_COUNT) {
    if (!strcmp(kind_s, "ServerConfiguration") || !strcmp(kind_s, "ClientConfiguration"))
      return kk_error_kind(err, KK_ERR_INVALID, 0, "%s:%d: kind: %s is a configuration file, not a resource", file,
                           kline, kind_s);
    if (!strcmp(kind_s, "CellProfile"))
      return kk_error_kind(err, KK_ERR_INVALID, 0, "%s:%d: kind: unknown kind: CellProfile (removed; use CellBlueprint)",
                           file, kline);
    return kk_error_kind(err, KK_ERR_INVALID, 0, "%s:%d: kind: unknown kind: %s", file, kline, kind_s);
  }
  cleanup_doc struct kk_doc *doc = kk_doc_new(kind);
  doc->file = kk_xstrdup(file);
  doc->line = line;
  struct kk_parse_ctx ctx = {.ydoc = yd, .file = file, .doc = doc, .err = err};
  if (kk_schema_parse(&ctx, root, kk_kind_schemas[kind], &doc->u, "") < 0)
    return -1;
  *out = kk_steal(&doc);
  return 0;
}

/* What `get -o yaml|json` prints for several objects is a sequence of
 * documents; kubectl prints a `kind: List` with `items:`.  Both are read
 * back as the documents they hold (one level: a list holds no lists). */
static bool is_kind_list(yaml_document_t *yd, yaml_node_t *n) {
  if (n->type != YAML_MAPPING_NODE)
    return false;
  yaml_node_t *kn = map_get(yd, n, "kind");
  return kn != NULL && kn->type == YAML_SCALAR_NODE && strcmp((const char *)kn->data.scalar.value, "List") == 0;
}

static bool is_list(yaml_document_t *yd, yaml_node_t *n) {
  return n->type == YAML_SEQUENCE_NODE || is_kind_list(yd, n);
}

static bool is_empty_node(const yaml_node_t *n) {
  return n->type == YAML_SCALAR_NODE && n->data.scalar.length == 0;
}

static int parse_items(yaml_document_t *yd, yaml_node_t *seq, const char *file, struct kk_doc_list *got,
                       kk_err_t *err) {
  for (yaml_node_item_t *it = seq->data.sequence.items.start; it < seq->data.sequence.items.top; it++) {
    yaml_node_t *item = yaml_document_get_node(yd, *it);
    if (item == NULL || is_empty_node(item))
      continue;
    if (is_list(yd, item))
      return kk_error_kind(err, KK_ERR_INVALID, 0, "%s:%d: a list inside a list: list items must be documents",
                           file, (int)item->start_mark.line + 1);
    struct kk_doc *doc = NULL;
    if (parse_document(yd, item, file, &doc, err) < 0)
      return -1;
    kk_doc_list_push(got, doc);
  }
  return 0;
}

/* One YAML document of the stream: a resource or, when allow_lists, a list
 * of them.  Store files are one resource each. */
static int parse_root(yaml_document_t *yd, yaml_node_t *root, const char *file, bool allow_lists,
                      struct kk_doc_list *got, kk_err_t *err) {
  if (is_empty_node(root))
    return 0;
  if (allow_lists && root->type == YAML_SEQUENCE_NODE)
    return parse_items(yd, root, file, got, err);
  if (allow_lists && is_kind_list(yd, root)) {
    yaml_node_t *items = map_get(yd, root, "items");
    if (items == NULL || items->type != YAML_SEQUENCE_NODE)
      return kk_error_kind(err, KK_ERR_INVALID, 0, "%s:%d: items: a List needs a sequence of documents", file,
                           (int)root->start_mark.line + 1);
    return parse_items(yd, items, file, got, err);
  }
  struct kk_doc *doc = NULL;
  if (parse_document(yd, root, file, &doc, err) < 0)
    return -1;
  kk_doc_list_push(got, doc);
  return 0;
}

static int docs_parse(const char *buf, size_t len, const char *file, bool allow_lists, struct kk_doc_list *out,
                      kk_err_t *err) {
  if (file == NULL)
    file = "<input>";
  if (buf == NULL) /* libyaml asserts on a NULL input even when it is empty */
    buf = "", len = 0;
  if (len > KK_MAX_MANIFEST_BYTES)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "%s: larger than %u bytes", file, KK_MAX_MANIFEST_BYTES);
  if (kk_yaml_check_bounds(buf, len, file, err) < 0)
    return -1;
  yaml_parser_t parser;
  if (!yaml_parser_initialize(&parser))
    kk_oom();
  yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
  struct kk_doc_list got = {0};
  int ret = 0;
  for (;;) {
    yaml_document_t yd;
    if (!yaml_parser_load(&parser, &yd)) {
      ret = yaml_problem(&parser, file, err);
      break;
    }
    yaml_node_t *root = yaml_document_get_root_node(&yd);
    if (root != NULL)
      ret = parse_root(&yd, root, file, allow_lists, &got, err);
    yaml_document_delete(&yd);
    if (root == NULL || ret < 0) /* end of stream, or an error */
      break;
  }
  yaml_parser_delete(&parser);
  if (ret < 0) {
    kk_doc_list_free(&got);
    return -1;
  }
  for (size_t i = 0; i < got.n; i++)
    kk_doc_list_push(out, got.docs[i]);
  free(got.docs);
  return 0;
}

int kk_docs_parse(const char *buf, size_t len, const char *file, struct kk_doc_list *out, kk_err_t *err) {
  return docs_parse(buf, len, file, true, out, err);
}

int kk_doc_parse_one(const char *buf, size_t len, const char *file, enum kk_kind kind, struct kk_doc **out,
                     kk_err_t *err) {
  struct kk_doc_list l = {0};
  if (docs_parse(buf, len, file, false, &l, err) < 0)
    return -1;
  if (l.n != 1 || l.docs[0]->kind != kind) {
    kk_doc_list_free(&l);
    return kk_error_kind(err, KK_ERR_INVALID, 0, "%s: expected exactly one %s document", file, kk_kind_name(kind));
  }
  *out = l.docs[0];
  free(l.docs);
  return 0;
}

/* ---------------------------------------------------------- YAML output */

static char *to_yaml(const struct kk_doc *const *docs, size_t n, bool as_list);

struct yaml_out {
  struct kk_enc enc;
  yaml_emitter_t em;
  char *buf;
  size_t len, cap;
};

static int yaml_write(void *data, unsigned char *buffer, size_t size) {
  struct yaml_out *y = data;
  if (y->len + size + 1 > y->cap) {
    y->cap = (y->len + size + 1) * 2;
    y->buf = kk_xrealloc(y->buf, y->cap);
  }
  memcpy(y->buf + y->len, buffer, size);
  y->len += size;
  y->buf[y->len] = '\0';
  return 1;
}

static void yemit(struct yaml_out *y, yaml_event_t *ev) {
  /* Our own well-formed event sequence: a failure here is a bug or OOM. */
  if (!yaml_emitter_emit(&y->em, ev))
    kk_oom();
}

static void y_map_begin(struct kk_enc *e) {
  yaml_event_t ev;
  yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE);
  yemit((struct yaml_out *)e, &ev);
}
static void y_map_end(struct kk_enc *e) {
  yaml_event_t ev;
  yaml_mapping_end_event_initialize(&ev);
  yemit((struct yaml_out *)e, &ev);
}
static void y_seq_begin(struct kk_enc *e) {
  yaml_event_t ev;
  yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_SEQUENCE_STYLE);
  yemit((struct yaml_out *)e, &ev);
}
static void y_seq_end(struct kk_enc *e) {
  yaml_event_t ev;
  yaml_sequence_end_event_initialize(&ev);
  yemit((struct yaml_out *)e, &ev);
}
static void y_scalar(struct kk_enc *e, const char *v, yaml_scalar_style_t style) {
  yaml_event_t ev;
  yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)v, (int)strlen(v), 1, 1, style);
  yemit((struct yaml_out *)e, &ev);
}

/* Strings that a YAML reader would take for another type get quotes. */
static bool looks_typed(const char *v) {
  static const char *words[] = {"true", "false", "yes", "no", "on", "off", "null", "~", "y", "n"};
  if (*v == '\0')
    return true;
  for (size_t i = 0; i < KK_ARRAY_SIZE(words); i++)
    if (strcasecmp(v, words[i]) == 0)
      return true;
  char *end;
  strtod(v, &end);
  if (*end == '\0')
    return true;
  return v[0] == '.' || v[0] == '0' || v[0] == '+' || v[0] == '-';
}

static void y_str(struct kk_enc *e, const char *v) {
  y_scalar(e, v, looks_typed(v) ? YAML_DOUBLE_QUOTED_SCALAR_STYLE : YAML_ANY_SCALAR_STYLE);
}
static void y_key(struct kk_enc *e, const char *k) { y_scalar(e, k, YAML_PLAIN_SCALAR_STYLE); }
static void y_i64(struct kk_enc *e, int64_t v) {
  char buf[32];
  snprintf(buf, sizeof(buf), "%" PRId64, v);
  y_scalar(e, buf, YAML_PLAIN_SCALAR_STYLE);
}
static void y_bool(struct kk_enc *e, bool v) { y_scalar(e, v ? "true" : "false", YAML_PLAIN_SCALAR_STYLE); }

static void emit_doc(struct kk_enc *e, const struct kk_doc *doc) {
  const struct kk_schema *s = kk_kind_schemas[doc->kind];
  e->map_begin(e);
  e->key(e, "apiVersion");
  e->str(e, KK_API_VERSION);
  e->key(e, "kind");
  e->str(e, kind_names[doc->kind]);
  /* Reuse the schema emitter for metadata/spec/status without its own map. */
  for (size_t i = 0; i < s->n; i++) {
    const struct kk_field *f = &s->fields[i];
    if (f->type != KK_F_OBJ)
      continue;
    e->key(e, f->key);
    kk_schema_emit(e, f->sub, (const char *)&doc->u + f->off);
  }
  e->map_end(e);
}

static char *to_yaml(const struct kk_doc *const *docs, size_t n, bool as_list) {
  struct yaml_out y = {
      .enc = {y_map_begin, y_map_end, y_seq_begin, y_seq_end, y_key, y_str, y_i64, y_bool},
  };
  if (!yaml_emitter_initialize(&y.em))
    kk_oom();
  yaml_emitter_set_output(&y.em, yaml_write, &y);
  yaml_emitter_set_indent(&y.em, 2);
  yaml_emitter_set_width(&y.em, -1);
  yaml_emitter_set_unicode(&y.em, 1);
  yaml_event_t ev;
  yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING);
  yemit(&y, &ev);
  yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1);
  yemit(&y, &ev);
  if (as_list)
    y.enc.seq_begin(&y.enc);
  for (size_t i = 0; i < n; i++)
    emit_doc(&y.enc, docs[i]);
  if (as_list)
    y.enc.seq_end(&y.enc);
  yaml_document_end_event_initialize(&ev, 1);
  yemit(&y, &ev);
  yaml_stream_end_event_initialize(&ev);
  yemit(&y, &ev);
  yaml_emitter_delete(&y.em);
  return y.buf ? y.buf : kk_xstrdup("");
}

char *kk_doc_to_yaml(const struct kk_doc *doc) { return to_yaml(&doc, 1, false); }
char *kk_docs_to_yaml(const struct kk_doc *const *docs, size_t n) { return to_yaml(docs, n, true); }

/* ---------------------------------------------------------- JSON output */

#define JSON_MAX_DEPTH 32
struct json_out {
  struct kk_enc enc;
  json_t *stack[JSON_MAX_DEPTH];
  int depth;
  json_t *root;
  char *key;
};

static void j_attach(struct json_out *j, json_t *v) {
  if (j->depth == 0) {
    j->root = v;
    return;
  }
  json_t *parent = j->stack[j->depth - 1];
  if (json_is_object(parent)) {
    json_object_set_new(parent, j->key ? j->key : "", v);
    free(j->key);
    j->key = NULL;
  } else {
    json_array_append_new(parent, v);
  }
}
static void j_push(struct json_out *j, json_t *v) {
  j_attach(j, v);
  if (j->depth >= JSON_MAX_DEPTH)
    kk_oom(); /* our schemas are far shallower */
  j->stack[j->depth++] = v;
}
static void j_map_begin(struct kk_enc *e) { j_push((struct json_out *)e, json_object()); }
static void j_seq_begin(struct kk_enc *e) { j_push((struct json_out *)e, json_array()); }
static void j_end(struct kk_enc *e) { ((struct json_out *)e)->depth--; }
static void j_key(struct kk_enc *e, const char *k) {
  struct json_out *j = (struct json_out *)e;
  free(j->key);
  j->key = kk_xstrdup(k);
}
static void j_str(struct kk_enc *e, const char *v) { j_attach((struct json_out *)e, json_string(v)); }
static void j_i64(struct kk_enc *e, int64_t v) { j_attach((struct json_out *)e, json_integer(v)); }
static void j_bool(struct kk_enc *e, bool v) { j_attach((struct json_out *)e, json_boolean(v)); }

static char *to_json(const struct kk_doc *const *docs, size_t n, bool as_list) {
  struct json_out j = {.enc = {j_map_begin, j_end, j_seq_begin, j_end, j_key, j_str, j_i64, j_bool}};
  if (as_list)
    j.enc.seq_begin(&j.enc);
  for (size_t i = 0; i < n; i++)
    emit_doc(&j.enc, docs[i]);
  char *s = json_dumps(j.root, JSON_INDENT(2) | JSON_ENSURE_ASCII);
  json_decref(j.root);
  free(j.key);
  if (s == NULL)
    kk_oom();
  char *out = kk_asprintf("%s\n", s);
  free(s);
  return out;
}

char *kk_doc_to_json(const struct kk_doc *doc) { return to_json(&doc, 1, false); }
char *kk_docs_to_json(const struct kk_doc *const *docs, size_t n) { return to_json(docs, n, true); }

int kk_doc_check_size(const struct kk_doc *doc, kk_err_t *err) {
  cleanup_free char *yaml = to_yaml(&doc, 1, false);
  size_t len = strlen(yaml);
  if (len <= KK_MAX_DOC_BYTES)
    return 0;
  if (doc->file != NULL)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "%s:%d: %s \"%s\" is %zu bytes as stored, more than the limit of %u",
                         doc->file, doc->line, kk_kind_lower(doc->kind), kk_doc_name(doc), len, KK_MAX_DOC_BYTES);
  return kk_error_kind(err, KK_ERR_INVALID, 0, "%s \"%s\" is %zu bytes as stored, more than the limit of %u",
                       kk_kind_lower(doc->kind), kk_doc_name(doc), len, KK_MAX_DOC_BYTES);
}

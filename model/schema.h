/* Internal to model/: table-driven description of the manifest structs.
 * One table per struct drives parsing, emitting, copying, freeing and
 * comparing, so a field is declared once. */
#ifndef KK_MODEL_SCHEMA_H
#define KK_MODEL_SCHEMA_H

#include <stddef.h>
#include <yaml.h>

#include "model/model.h"

enum kk_ftype {
  KK_F_STR,      /* char * */
  KK_F_BOOL,     /* bool */
  KK_F_I64,      /* int64_t */
  KK_F_OPT_I64,  /* struct kk_opt_i64 */
  KK_F_OPT_BOOL, /* struct kk_opt_bool */
  KK_F_STRV,     /* struct kk_strv */
  KK_F_I64V,     /* struct kk_i64v */
  KK_F_MAP,      /* struct kk_map */
  KK_F_TIME,     /* int64_t unix seconds, RFC 3339 on the wire */
  KK_F_ENUM,     /* int, emitted as its label */
  KK_F_OBJ,      /* embedded struct described by `sub` */
  KK_F_OBJV,     /* pointer to array of `sub` structs, count at count_off */
  KK_F_IGNORE,   /* accepted on input, handled elsewhere (apiVersion, kind) */
};

#define KK_FF_ALWAYS 0x1 /* emitted even when zero ("wire" fields) */
#define KK_FF_KEYED 0x2  /* OBJV compared by its first (string) field */
#define KK_FF_STATUS 0x4 /* ignored by spec comparison */
#define KK_FF_BYTES 0x8  /* I64/OPT_I64 byte size: also a quantity ("64Mi", "1G") */

struct kk_schema;

struct kk_field {
  const char *key;
  enum kk_ftype type;
  size_t off;
  const struct kk_schema *sub;
  size_t count_off;
  const char *const *enum_names;
  int n_enum;
  unsigned flags;
};

struct kk_schema {
  const char *name;
  size_t size; /* element size, for OBJV */
  const struct kk_field *fields;
  size_t n;
};

/* Table-building shorthands shared by kinds.c and config.c. */
#define KK_N(a) (sizeof(a) / sizeof((a)[0]))
#define KK_SCHEMA(nm, type, tbl) {nm, sizeof(type), tbl, KK_N(tbl)}
#define KK_FIELD(key, type, T, member) {key, type, offsetof(T, member), NULL, 0, NULL, 0, 0}
#define KK_FIELD_BYTES(key, type, T, member) {key, type, offsetof(T, member), NULL, 0, NULL, 0, KK_FF_BYTES}

/* An output sink: YAML events or a JSON tree. */
struct kk_enc {
  void (*map_begin)(struct kk_enc *e);
  void (*map_end)(struct kk_enc *e);
  void (*seq_begin)(struct kk_enc *e);
  void (*seq_end)(struct kk_enc *e);
  void (*key)(struct kk_enc *e, const char *k);
  void (*str)(struct kk_enc *e, const char *v);
  void (*i64)(struct kk_enc *e, int64_t v);
  void (*boolean)(struct kk_enc *e, bool v);
};

struct kk_parse_ctx {
  yaml_document_t *ydoc;
  const char *file;
  struct kk_doc *doc; /* collects line refs */
  kk_err_t *err;
  size_t visits;
};
#define KK_MAX_NODE_VISITS KK_MAX_YAML_NODES

/* Refuse what would cost too much to load (see yaml_bounds.c and the LIMITS
 * of kukeon-manifest(5)): deep flow nesting, too many nodes or anchors,
 * too many aliases or aliases expanding too far.  Before libyaml loads
 * anything. */
int kk_yaml_check_bounds(const char *buf, size_t len, const char *file, kk_err_t *err);

int kk_schema_parse(struct kk_parse_ctx *c, yaml_node_t *node, const struct kk_schema *s, void *obj,
                    const char *path);
void kk_schema_emit(struct kk_enc *e, const struct kk_schema *s, const void *obj);
bool kk_schema_is_empty(const struct kk_schema *s, const void *obj);
void kk_schema_free(const struct kk_schema *s, void *obj);
void kk_schema_copy(const struct kk_schema *s, void *dst, const void *src);
/* true when equal; when `diffs` is non-NULL, collects differing paths. */
bool kk_schema_diff(const struct kk_schema *s, const void *a, const void *b, const char *path,
                    struct kk_strv *diffs);

void kk_doc_add_line(struct kk_doc *doc, const void *addr, int line);
int kk_doc_line_of(const struct kk_doc *doc, const void *addr);

/* Per-kind top-level schemas (metadata, spec, status), in kinds.c. */
extern const struct kk_schema *const kk_kind_schemas[KK_KIND_COUNT];
extern const struct kk_schema kk_container_spec_schema;
extern const struct kk_schema kk_container_status_schema;
extern const struct kk_schema kk_metadata_schema;

#endif

/* Bounds on untrusted YAML, checked on libyaml's event stream before a
 * document is loaded: flow nesting depth, the number of nodes and anchors,
 * and what aliases expand to.  libyaml's loader shares an aliased node,
 * but the schema walk copies it once per reference, so a small file of
 * aliases to one big scalar would otherwise allocate gigabytes (the
 * "billion laughs").  Expansion is computed from node sizes, never by
 * expanding. */
#include <string.h>
#include <yaml.h>

#include "model/schema.h"

/* libyaml's cost grows with the square of the flow nesting depth: refuse
 * deep nesting before parsing.  The scan is approximate (a bracket inside
 * a plain scalar counts), so the bound is far above any real manifest and
 * still keeps the worst parse well under a second. */
#define KK_MAX_FLOW_DEPTH 4096
static int check_depth(const char *buf, size_t len, const char *file, kk_err_t *err) {
  int depth = 0, line = 1;
  char quote = 0;
  bool comment = false;
  for (size_t i = 0; i < len; i++) {
    char ch = buf[i];
    if (ch == '\n') {
      line++;
      comment = false;
      continue;
    }
    if (comment)
      continue;
    if (quote) {
      if (ch == '\\' && quote == '"' && i + 1 < len)
        i++;
      else if (ch == quote)
        quote = 0;
      continue;
    }
    if (ch == '#' && (i == 0 || buf[i - 1] == ' ' || buf[i - 1] == '\t' || buf[i - 1] == '\n'))
      comment = true;
    else if (ch == '"' || ch == '\'')
      quote = ch;
    else if (ch == '[' || ch == '{')
      depth++;
    else if ((ch == ']' || ch == '}') && depth > 0)
      depth--;
    if (depth > KK_MAX_FLOW_DEPTH)
      return kk_error_kind(err, KK_ERR_INVALID, 0, "%s:%d: nested more than %d levels deep", file, line,
                           KK_MAX_FLOW_DEPTH);
  }
  return 0;
}

/* An anchored node and what it expands to (its scalar bytes plus one per
 * node, aliases inside it expanded). */
struct anchor {
  char *name;
  size_t size; /* 0 while the node is still open */
};

/* An open sequence or mapping. */
struct frame {
  size_t size;
  const char *anchor; /* owned by the anchors table */
};

struct walk {
  const char *file;
  struct anchor *anchors;
  size_t n_anchors;
  struct frame *stack;
  size_t depth, stack_cap;
  size_t nodes, aliases, expanded;
};

static void walk_reset(struct walk *w) {
  for (size_t i = 0; i < w->n_anchors; i++)
    free(w->anchors[i].name);
  w->n_anchors = 0;
  w->depth = 0;
  w->nodes = w->aliases = w->expanded = 0;
}

static int line_of(const yaml_event_t *ev) { return (int)ev->start_mark.line + 1; }

static int add_anchor(struct walk *w, const yaml_event_t *ev, const yaml_char_t *name, const char **out,
                      kk_err_t *err) {
  *out = NULL;
  if (name == NULL)
    return 0;
  if (w->n_anchors >= KK_MAX_YAML_ANCHORS)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "%s:%d: too many YAML anchors (limit %u)", w->file, line_of(ev),
                         KK_MAX_YAML_ANCHORS);
  w->anchors = kk_xrealloc(w->anchors, (w->n_anchors + 1) * sizeof(*w->anchors));
  w->anchors[w->n_anchors] = (struct anchor){.name = kk_xstrdup((const char *)name)};
  *out = w->anchors[w->n_anchors++].name;
  return 0;
}

/* The latest anchor of that name (libyaml refuses duplicates anyway). */
static struct anchor *find_anchor(struct walk *w, const char *name) {
  for (size_t i = w->n_anchors; i-- > 0;)
    if (strcmp(w->anchors[i].name, name) == 0)
      return &w->anchors[i];
  return NULL;
}

static void set_anchor_size(struct walk *w, const char *name, size_t size) {
  if (name != NULL)
    find_anchor(w, name)->size = size;
}

/* A finished node of `size` goes into its parent. */
static void close_node(struct walk *w, size_t size) {
  if (w->depth > 0)
    w->stack[w->depth - 1].size += size;
}

static int count_node(struct walk *w, const yaml_event_t *ev, kk_err_t *err) {
  if (++w->nodes > KK_MAX_YAML_NODES)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "%s:%d: more than %u YAML nodes in one document", w->file,
                         line_of(ev), KK_MAX_YAML_NODES);
  return 0;
}

static int on_alias(struct walk *w, const yaml_event_t *ev, kk_err_t *err) {
  if (++w->aliases > KK_MAX_YAML_ALIASES)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "%s:%d: too many YAML aliases (limit %u)", w->file, line_of(ev),
                         KK_MAX_YAML_ALIASES);
  struct anchor *a = find_anchor(w, (const char *)ev->data.alias.anchor);
  if (a == NULL) /* undefined: the loader says so */
    return 0;
  if (a->size == 0) /* libyaml would build a cycle */
    return kk_error_kind(err, KK_ERR_INVALID, 0, "%s:%d: YAML alias *%s refers to a node that contains it", w->file,
                         line_of(ev), a->name);
  /* expanded only grows by sizes already bounded by it: no overflow. */
  w->expanded += a->size;
  if (w->expanded > KK_MAX_YAML_ALIAS_BYTES)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "%s:%d: YAML aliases expand to more than %u bytes", w->file,
                         line_of(ev), KK_MAX_YAML_ALIAS_BYTES);
  close_node(w, a->size);
  return 0;
}

static int on_event(struct walk *w, const yaml_event_t *ev, kk_err_t *err) {
  const char *anchor = NULL;
  switch (ev->type) {
  case YAML_DOCUMENT_START_EVENT:
    walk_reset(w);
    return 0;
  case YAML_SCALAR_EVENT: {
    if (count_node(w, ev, err) < 0 || add_anchor(w, ev, ev->data.scalar.anchor, &anchor, err) < 0)
      return -1;
    size_t size = ev->data.scalar.length + 1;
    set_anchor_size(w, anchor, size);
    close_node(w, size);
    return 0;
  }
  case YAML_SEQUENCE_START_EVENT:
  case YAML_MAPPING_START_EVENT: {
    const yaml_char_t *name =
        ev->type == YAML_SEQUENCE_START_EVENT ? ev->data.sequence_start.anchor : ev->data.mapping_start.anchor;
    if (count_node(w, ev, err) < 0 || add_anchor(w, ev, name, &anchor, err) < 0)
      return -1;
    if (w->depth == w->stack_cap) {
      w->stack_cap = w->stack_cap ? w->stack_cap * 2 : 16;
      w->stack = kk_xrealloc(w->stack, w->stack_cap * sizeof(*w->stack));
    }
    w->stack[w->depth++] = (struct frame){.size = 1, .anchor = anchor};
    return 0;
  }
  case YAML_SEQUENCE_END_EVENT:
  case YAML_MAPPING_END_EVENT: {
    if (w->depth == 0)
      return 0;
    struct frame f = w->stack[--w->depth];
    set_anchor_size(w, f.anchor, f.size);
    close_node(w, f.size);
    return 0;
  }
  case YAML_ALIAS_EVENT:
    return on_alias(w, ev, err);
  default:
    return 0;
  }
}

/* Syntax errors are left to the loader, which reports them the same way. */
static int check_events(const char *buf, size_t len, const char *file, kk_err_t *err) {
  yaml_parser_t parser;
  if (!yaml_parser_initialize(&parser))
    kk_oom();
  yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
  struct walk w = {.file = file};
  int ret = 0;
  for (bool done = false; !done && ret == 0;) {
    yaml_event_t ev;
    if (!yaml_parser_parse(&parser, &ev))
      break;
    done = ev.type == YAML_STREAM_END_EVENT;
    ret = on_event(&w, &ev, err);
    yaml_event_delete(&ev);
  }
  walk_reset(&w);
  free(w.anchors);
  free(w.stack);
  yaml_parser_delete(&parser);
  return ret;
}

int kk_yaml_check_bounds(const char *buf, size_t len, const char *file, kk_err_t *err) {
  if (check_depth(buf, len, file, err) < 0)
    return -1;
  return check_events(buf, len, file, err);
}

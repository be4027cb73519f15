/* kuke get <kind> [NAME]: tables, wide tables, YAML and JSON. */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "cli/selector.h"

static const char *state_of(struct kk_doc *d) {
  if (d->kind == KK_KIND_CONTAINER)
    return kk_state_name(KK_KIND_CONTAINER, d->u.container.status.state);
  return kk_state_name(d->kind, kk_doc_status_base(d)->state);
}

static int64_t created_of(struct kk_doc *d) {
  if (d->kind == KK_KIND_CONTAINER)
    return d->u.container.status.created_at;
  return kk_doc_status_base(d)->created_at;
}

/* "12.5MiB", "512B"; 0 is "-" (not measured on this host or level). */
static void human_bytes(int64_t v, char buf[32]) { kk_format_size(v > 0 ? v : -1, buf); }

static void usage_cells(const struct kk_usage *u, char mem[32], char cpu[32], char pids[32]) {
  human_bytes(u->memory_current_bytes, mem);
  if (u->cpu_usage_usec > 0)
    snprintf(cpu, 32, "%.2fs", (double)u->cpu_usage_usec / 1e6);
  else
    strcpy(cpu, "-");
  if (u->pids_current > 0)
    snprintf(pids, 32, "%lld", (long long)u->pids_current);
  else
    strcpy(pids, "-");
}

static void print_table(struct kk_cli *cli, enum kk_kind kind, bool wide, bool headers, struct kk_doc **docs,
                        size_t n) {
  static const char *realm_h[] = {"NAME", "STATE", "AGE", "NAMESPACE", "MEMORY", "CPU", "PIDS"};
  static const char *space_h[] = {"NAME", "REALM", "STATE", "AGE", "EGRESS", "NET-DEFAULTS", "MEMORY", "CPU", "PIDS"};
  static const char *stack_h[] = {"NAME", "REALM", "SPACE", "STATE", "AGE", "MEMORY", "CPU", "PIDS"};
  static const char *cell_h[] = {"NAME", "REALM", "SPACE", "STACK", "STATE", "SYNC", "AGE", "CONTAINERS", "BRIDGE",
                                 "IP", "DIVERGENCE", "MEMORY", "CPU", "PIDS"};
  static const char *ctr_h[] = {"NAME", "REALM", "SPACE", "STACK", "CELL", "STATE", "RESTARTS", "AGE", "IMAGE", "EXIT", "PID"};
  const char **h = NULL;
  /* The narrow columns read only what a summary row carries (api/convert.c). */
  size_t narrow = 0, full = 0;
  switch (kind) {
  case KK_KIND_REALM: h = realm_h; narrow = 3; full = 7; break;
  case KK_KIND_SPACE: h = space_h; narrow = 4; full = 9; break;
  case KK_KIND_STACK: h = stack_h; narrow = 5; full = 8; break;
  case KK_KIND_CELL: h = cell_h; narrow = 7; full = 14; break;
  default: h = ctr_h; narrow = 8; full = 11; break;
  }
  size_t ncols = wide ? full : narrow;
  struct kk_table t;
  kk_table_init(&t, h, ncols);
  int64_t now = kk_now();
  for (size_t i = 0; i < n; i++) {
    struct kk_doc *d = docs[i];
    struct kk_ref r = kk_ref_of(d);
    char age[32], buf1[64], buf2[64], buf3[32], mem[32] = "-", cpu[32] = "-", pids[32] = "-";
    kk_format_age(created_of(d), now, age);
    const char *row[14] = {0};
    if (kind != KK_KIND_CONTAINER)
      usage_cells(&kk_doc_status_base(d)->usage, mem, cpu, pids);
    switch (kind) {
    case KK_KIND_REALM:
      row[0] = r.name, row[1] = state_of(d), row[2] = age, row[3] = d->u.realm.spec.namespace_;
      row[4] = mem, row[5] = cpu, row[6] = pids;
      break;
    case KK_KIND_SPACE: {
      const struct kk_space *s = &d->u.space;
      const struct kk_container_defaults *def = &s->spec.defaults.container;
      bool has_defaults = def->user || def->read_only_root_filesystem.set || def->capabilities.drop.n ||
                          def->capabilities.add.n || def->security_opts.n || def->n_tmpfs ||
                          def->resources.memory_limit_bytes.set || def->resources.cpu_shares.set ||
                          def->resources.pids_limit.set;
      row[0] = r.name, row[1] = r.realm, row[2] = state_of(d), row[3] = age;
      row[4] = s->spec.network.egress.default_;
      row[5] = has_defaults ? "yes" : "-";
      row[6] = mem, row[7] = cpu, row[8] = pids;
      break;
    }
    case KK_KIND_STACK:
      row[0] = r.name, row[1] = r.realm, row[2] = r.space, row[3] = state_of(d), row[4] = age;
      row[5] = mem, row[6] = cpu, row[7] = pids;
      break;
    case KK_KIND_CELL: {
      const struct kk_cell *c = &d->u.cell;
      size_t ready = 0;
      for (size_t k = 0; k < c->status.n_containers; k++)
        ready += c->status.containers[k].state == KK_CTR_READY;
      snprintf(buf1, sizeof(buf1), "%zu/%zu", ready, c->spec.n_containers);
      row[0] = r.name, row[1] = r.realm, row[2] = r.space, row[3] = r.stack, row[4] = state_of(d);
      row[5] = "-", row[6] = age, row[7] = buf1, row[8] = c->status.network.bridge_name;
      row[9] = kk_empty(c->status.network.ip) ? "-" : c->status.network.ip, row[10] = "-";
      row[11] = mem, row[12] = cpu, row[13] = pids;
      break;
    }
    default: {
      const struct kk_container *c = &d->u.container;
      snprintf(buf1, sizeof(buf1), "%lld", (long long)c->status.restart_count);
      buf2[0] = '\0';
      if (c->status.exit_code != 0 || !kk_empty(c->status.exit_signal))
        snprintf(buf2, sizeof(buf2), "%lld/%s", (long long)c->status.exit_code,
                 kk_empty(c->status.exit_signal) ? "-" : c->status.exit_signal);
      row[0] = r.name, row[1] = r.realm, row[2] = r.space, row[3] = r.stack, row[4] = r.cell;
      row[5] = state_of(d), row[6] = buf1, row[7] = age, row[8] = c->spec.image, row[9] = buf2;
      snprintf(buf3, sizeof(buf3), "%lld", (long long)c->status.pid);
      row[10] = c->status.pid > 0 ? buf3 : "-";
      break;
    }
    }
    kk_table_add(&t, row);
  }
  kk_table_print(cli->out, &t, headers);
  kk_table_free(&t);
}

/* A container get or list named a cell (--cell) that is not there: the
 * cell's not-found, not the container's or an empty list.  Unset scope
 * parts: "default" for a named get, any for a list. */
static int cell_must_exist(struct kk_api *api, struct kk_ref scope, bool named, kk_err_t *err) {
  struct kk_ref cell = {.kind = KK_KIND_CELL, .realm = scope.realm, .space = scope.space, .stack = scope.stack,
                        .name = scope.cell};
  if (named) {
    cleanup_doc struct kk_doc *doc = NULL;
    return kk_api_get(api, &cell, &doc, err);
  }
  cleanup_doc_list struct kk_doc_list cells = {0};
  if (kk_api_list(api, KK_KIND_CELL, &cell, &cells, NULL, err) < 0)
    return -1;
  for (size_t i = 0; i < cells.n; i++)
    if (kk_streq(kk_doc_name(cells.docs[i]), scope.cell))
      return 0;
  return kk_error_kind(err, KK_ERR_NOT_FOUND, 0, "cell \"%s\" not found in realm \"%s\", space \"%s\", stack \"%s\"",
                       scope.cell, kk_empty(scope.realm) ? "*" : scope.realm, kk_empty(scope.space) ? "*" : scope.space,
                       kk_empty(scope.stack) ? "*" : scope.stack);
}

/* How get prints what it found. */
struct get_view {
  enum kk_output o;
  bool headers;
};

static void print_docs(struct kk_cli *cli, struct get_view v, enum kk_kind kind, struct kk_doc **docs, size_t n,
                       bool single) {
  if (v.o == KK_OUT_YAML || v.o == KK_OUT_JSON) {
    const struct kk_doc *const *cd = (const struct kk_doc *const *)docs;
    cleanup_free char *s = single ? (v.o == KK_OUT_YAML ? kk_doc_to_yaml(docs[0]) : kk_doc_to_json(docs[0]))
                                  : (v.o == KK_OUT_YAML ? kk_docs_to_yaml(cd, n) : kk_docs_to_json(cd, n));
    fputs(s, cli->out);
    return;
  }
  if (v.o == KK_OUT_NAME) {
    for (size_t i = 0; i < n; i++)
      fprintf(cli->out, "%s/%s\n", kk_kind_lower(kind), kk_doc_name(docs[i]));
    return;
  }
  if (n == 0) {
    fprintf(cli->out, "No resources found.\n");
    return;
  }
  print_table(cli, kind, v.o == KK_OUT_WIDE, v.headers, docs, n);
}

static int run_get(struct kk_cli *cli, enum kk_kind kind, const char *name, struct kk_ref scope, struct get_view view,
                   const struct kk_selector *sel, bool no_daemon, kk_err_t *err) {
  cleanup_api struct kk_api *api = NULL;
  if (kk_cli_connect(cli, "get", false, no_daemon, &api, err) < 0)
    return -1;
  if (name) {
    /* A named get defaults its scope to "default". */
    struct kk_ref ref = scope;
    ref.name = name;
    if (kind == KK_KIND_REALM)
      ref.realm = name;
    if (kind >= KK_KIND_SPACE && kk_empty(ref.realm))
      ref.realm = "default";
    if (kind >= KK_KIND_STACK && kk_empty(ref.space))
      ref.space = "default";
    if (kind >= KK_KIND_CELL && kk_empty(ref.stack))
      ref.stack = "default";
    if (kind == KK_KIND_CONTAINER && kk_empty(ref.cell))
      return kk_error_kind(err, KK_ERR_INVALID, 0, "cell name is required (--cell)");
    cleanup_doc struct kk_doc *doc = NULL;
    if (kk_api_get(api, &ref, &doc, err) < 0) {
      kk_err_t cell_err = NULL;
      if (kind == KK_KIND_CONTAINER && (*err)->kind == KK_ERR_NOT_FOUND &&
          cell_must_exist(api, ref, true, &cell_err) < 0) {
        kk_error_free(err);
        *err = cell_err;
      }
      return -1;
    }
    print_docs(cli, view, kind, &doc, 1, true);
    return 0;
  }
  struct kk_doc_list list = {0};
  struct kk_strv warnings = {0};
  /* The narrow table and names need no usage and no containers, which are
   * most of what a long list of cells costs the daemon and kuke. */
  bool summary = view.o == KK_OUT_TABLE || view.o == KK_OUT_NAME;
  if ((summary ? kk_api_list_summary : kk_api_list)(api, kind, &scope, &list, &warnings, err) < 0) {
    kk_doc_list_free(&list);
    kk_strv_free(&warnings);
    return -1;
  }
  /* The others are listed; what could not be read is named. */
  for (size_t i = 0; i < warnings.n; i++)
    fprintf(cli->errout, "Warning: %s\n", warnings.v[i]);
  kk_strv_free(&warnings);
  size_t kept = 0;
  for (size_t i = 0; i < list.n; i++) {
    if (sel && !kk_selector_matches(sel, &kk_doc_metadata(list.docs[i])->labels)) {
      kk_doc_free(list.docs[i]);
      continue;
    }
    list.docs[kept++] = list.docs[i];
  }
  list.n = kept;
  if (list.n == 0 && kind == KK_KIND_CONTAINER && !kk_empty(scope.cell) &&
      cell_must_exist(api, scope, false, err) < 0) {
    kk_doc_list_free(&list);
    return -1;
  }
  print_docs(cli, view, kind, list.docs, list.n, false);
  kk_doc_list_free(&list);
  return 0;
}

static int get_run(void *ctx, const struct kk_cmdline *cl, int *status, kk_err_t *err) {
  struct kk_cli *cli = KK_CLI(ctx);
  enum kk_kind kind = kk_cli_kind_of(kk_cmdline_leaf(cl));
  struct kk_ref scope = kk_cli_scope(cl);
  const char *output = kk_cmdline_isset(cl, "output") ? kk_cmdline_str(cl, "output") : getenv("KUKE_GET_OUTPUT");
  const char *selector = kk_cmdline_str(cl, "selector");
  const char *name = cl->args.n == 1 ? cl->args.v[0] : NULL;
  struct get_view view = {.headers = !kk_cmdline_bool(cl, "no-headers")};
  if (kk_output_parse(output, &view.o, err) < 0)
    return -1;
  if (selector && name)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "--selector cannot be combined with a resource name");
  cleanup_selector struct kk_selector sel = {0};
  if (selector && kk_selector_parse(selector, &sel, err) < 0)
    return -1;
  scope.kind = kind;
  scope.cell = kk_cmdline_str(cl, "cell");
  return run_get(cli, kind, name, scope, view, selector ? &sel : NULL, kk_cmdline_bool(cl, "no-daemon"), err);
}

static const struct kk_flag get_flags[] = {
    KK_SCOPE_FLAGS,
    {"cell", 0, KK_FLAG_STRING, NULL, "cell (containers)", false},
    {"output", 'o', KK_FLAG_STRING, NULL, "table, wide, yaml, json or name (kind/name per line)", false},
    {"no-headers", 0, KK_FLAG_BOOL, NULL, "table and wide: leave out the header line", false},
    {"selector", 'l', KK_FLAG_STRING, NULL, "label selector: k=v, k==v, k!=v, k, !k (comma = AND)", false},
    {"no-daemon", 0, KK_FLAG_BOOL, NULL, "run in-process instead of asking kukeond", false},
};

#define GET_KIND(kind_name, what)                                                                                     \
  {.name = kind_name, .matches = kk_cli_kind_word, .flags = get_flags, .n_flags = KK_ARRAY_SIZE(get_flags),          \
   .args = "[NAME]", .max_args = 1, .summary = what, .run = get_run}
static const struct kk_cmd get_realm = GET_KIND("realm", "Realms (aliases: realms, r)");
static const struct kk_cmd get_space = GET_KIND("space", "Spaces (aliases: spaces, sp)");
static const struct kk_cmd get_stack = GET_KIND("stack", "Stacks (aliases: stacks, st)");
static const struct kk_cmd get_cell = GET_KIND("cell", "Cells (aliases: cells, ce)");
static const struct kk_cmd get_container =
    GET_KIND("container", "Containers (aliases: containers, co); by name with --cell");
static const struct kk_cmd *const get_kinds[] = {&get_realm, &get_space, &get_stack, &get_cell, &get_container,
                                                 &kk_cli_cmd_get_images};

const struct kk_cmd kk_cli_cmd_get = {
    .name = "get",
    .aliases = {"g"},
    .subs = get_kinds,
    .n_subs = KK_ARRAY_SIZE(get_kinds),
    .sub_noun = "resource kind",
    .usage = "get <kind> [NAME] [flags]",
    .summary = "List or show realms, spaces, stacks, cells and containers",
    .details = "List resources, or show one by name. Without NAME, unset scope flags mean every realm/space/stack on "
               "the host; with NAME they default to \"default\". `get container NAME` needs --cell. `get images` is "
               "`image list`.",
};

/* kuke create, kuke apply, kuke delete. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/api.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "lib/fs.h"

static const char *or_default(const char *s) { return kk_empty(s) ? "default" : s; }

/* ------------------------------------------------------------- create */

/* The document `create KIND NAME` asks for. */
static struct kk_doc *created_doc(enum kk_kind kind, const char *name, struct kk_ref scope, const char *ns,
                                  const char *image, const char *command) {
  struct kk_doc *doc = kk_doc_new(kind);
  kk_doc_metadata(doc)->name = kk_xstrdup(name);
  doc->file = kk_xstrdup("<command line>");
  switch (kind) {
  case KK_KIND_REALM:
    doc->u.realm.spec.namespace_ = kk_xstrdup(ns);
    break;
  case KK_KIND_SPACE:
    doc->u.space.spec.realm_id = kk_xstrdup(or_default(scope.realm));
    break;
  case KK_KIND_STACK:
    doc->u.stack.spec.realm_id = kk_xstrdup(or_default(scope.realm));
    doc->u.stack.spec.space_id = kk_xstrdup(or_default(scope.space));
    break;
  default: {
    struct kk_cell *c = &doc->u.cell;
    c->spec.realm_id = kk_xstrdup(or_default(scope.realm));
    c->spec.space_id = kk_xstrdup(or_default(scope.space));
    c->spec.stack_id = kk_xstrdup(or_default(scope.stack));
    c->spec.containers = kk_xzalloc(sizeof(*c->spec.containers));
    c->spec.n_containers = 1;
    c->spec.containers[0].id = kk_xstrdup("main");
    c->spec.containers[0].image = kk_xstrdup(image);
    c->spec.containers[0].command = kk_xstrdup(command);
    break;
  }
  }
  return doc;
}

/* Names are checked here, where the argument or flag can be named, before
 * the request carries them as a document. */
static int create_run(void *ctx, const struct kk_cmdline *cl, int *status, kk_err_t *err) {
  struct kk_cli *cli = KK_CLI(ctx);
  enum kk_kind kind = kk_cli_kind_of(kk_cmdline_leaf(cl));
  struct kk_ref scope = kk_cli_scope(cl);
  const char *ns = kk_cmdline_str(cl, "namespace"), *image = kk_cmdline_str(cl, "image");
  const char *command = kk_cmdline_str(cl, "command");
  if (kind == KK_KIND_CELL && kk_empty(image))
    return kk_error_kind(err, KK_ERR_INVALID, 0, "create cell needs --image");
  if ((ns && kind != KK_KIND_REALM) || ((image || command) && kind != KK_KIND_CELL))
    return kk_error_kind(err, KK_ERR_INVALID, 0, "--namespace is for realms, --image and --command for cells");
  cleanup_free char *gen_name = NULL;
  const char *name = cl->args.n == 1 ? cl->args.v[0] : (gen_name = kk_cli_generated_name(image));
  if (kk_validate_name(kind, name, err) < 0)
    return kk_error_wrap(err, "argument NAME");
  if (kk_cli_check_scope(&scope, err) < 0)
    return -1;
  cleanup_doc struct kk_doc *doc = created_doc(kind, name, scope, ns, image, command);
  cleanup_api struct kk_api *api = NULL;
  struct kk_report rep = {0};
  int r = kk_cli_connect(cli, "create", false, false, &api, err);
  if (r == 0) {
    kk_api_set_ignore_disk_pressure(api, kk_cmdline_bool(cl, "ignore-disk-pressure"));
    r = kk_api_create(api, doc, &rep, err);
  }
  if (r == 0)
    kk_print_report(cli->out, &rep);
  kk_report_free(&rep);
  return r;
}

static const struct kk_flag create_flags[] = {
    KK_SCOPE_FLAGS,
    {"namespace", 0, KK_FLAG_STRING, NULL, "realm: namespace (default <name>.kukeon.io)", false},
    {"image", 0, KK_FLAG_STRING, NULL, "cell: image of its one container \"main\"", false},
    {"command", 0, KK_FLAG_STRING, NULL, "cell: command of that container (default: the image's)", false},
    {"ignore-disk-pressure", 0, KK_FLAG_BOOL, NULL, "cell: create it even when its disk is under pressure", false},
};

#define CREATE_KIND(kind_name, name_args, min, what)                                                                 \
  {.name = kind_name, .matches = kk_cli_kind_word, .flags = create_flags, .n_flags = KK_ARRAY_SIZE(create_flags),    \
   .args = name_args, .min_args = min, .max_args = 1, .summary = what, .run = create_run}
static const struct kk_cmd create_realm = CREATE_KIND("realm", "NAME", 1, "A realm (--namespace)");
static const struct kk_cmd create_space = CREATE_KIND("space", "NAME", 1, "A space (--realm)");
static const struct kk_cmd create_stack = CREATE_KIND("stack", "NAME", 1, "A stack (--realm --space)");
static const struct kk_cmd create_cell =
    CREATE_KIND("cell", "[NAME]", 0, "A cell of one container (--image, --command), created stopped");
static const struct kk_cmd *const create_kinds[] = {&create_realm, &create_space, &create_stack, &create_cell,
                                                    &kk_cli_cmd_create_regcred};

const struct kk_cmd kk_cli_cmd_create = {
    .name = "create",
    .aliases = {"c"},
    .subs = create_kinds,
    .n_subs = KK_ARRAY_SIZE(create_kinds),
    .sub_noun = "resource kind",
    .usage = "create (realm|space|stack|cell) NAME [flags]",
    .summary = "Create a realm, space, stack or cell",
    .details = "Create a realm, space, stack or cell (cells are created stopped). Scope flags default to "
               "\"default\". `create cell` needs --image; its name defaults to <image>-<6 hex>. `create "
               "registry-credential REALM` attaches registry pull credentials to a realm (see its --help).",
};

/* -------------------------------------------------------------- apply */

struct sources {
  struct kk_apply_source *v;
  size_t n;
  struct kk_strv owned; /* buffers and names */
};

static void sources_free(struct sources *s) {
  free(s->v);
  kk_strv_free(&s->owned);
}

static int add_file(struct sources *s, const char *path, kk_err_t *err) {
  char *buf = NULL;
  size_t len = 0;
  int ret;
  if (strcmp(path, "-") == 0)
    ret = kk_read_fd(STDIN_FILENO, KK_MAX_MANIFEST_BYTES, "standard input", &buf, &len, err);
  else
    ret = kk_read_file_at(AT_FDCWD, path, KK_MAX_MANIFEST_BYTES, &buf, &len, err);
  if (ret < 0) {
    kk_error_free(err);
    return kk_error_kind(err, KK_ERR_INVALID, 0, "failed to open file \"%s\": %s", path,
                         errno ? strerror(errno) : "unreadable");
  }
  kk_strv_push_owned(&s->owned, buf);
  kk_strv_push(&s->owned, strcmp(path, "-") == 0 ? "<stdin>" : path);
  s->v = kk_xrealloc(s->v, (s->n + 1) * sizeof(*s->v));
  s->v[s->n++] = (struct kk_apply_source){s->owned.v[s->owned.n - 1], buf, len};
  return 0;
}

/* -f FILE, -f DIR (its *.yaml and *.yml files in name order) or -f -. */
static int collect(struct sources *s, const char *path, kk_err_t *err) {
  struct stat st;
  if (strcmp(path, "-") != 0 && stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
    struct dirent **names = NULL;
    int n = scandir(path, &names, NULL, alphasort);
    if (n < 0)
      return kk_error(err, errno, "failed to open directory \"%s\"", path);
    int ret = 0;
    for (int i = 0; i < n; i++) {
      const char *nm = names[i]->d_name;
      if (ret == 0 && nm[0] != '.' && (kk_has_suffix(nm, ".yaml") || kk_has_suffix(nm, ".yml"))) {
        cleanup_free char *full = kk_asprintf("%s/%s", path, nm);
        ret = add_file(s, full, err);
      }
      free(names[i]);
    }
    free(names);
    if (ret == 0 && s->n == 0)
      return kk_error_kind(err, KK_ERR_INVALID, 0, "no .yaml or .yml files in \"%s\"", path);
    return ret;
  }
  errno = 0;
  return add_file(s, path, err);
}

/* A double-quoted scalar (JSON string syntax is valid YAML). */
static char *quoted(const char *s) {
  json_t *js = json_string(s);
  char *q = json_dumps(js, JSON_ENCODE_ANY);
  json_decref(js);
  if (q == NULL)
    kk_oom();
  return q;
}

/* details after changes, as a mapping of field to what apply did. */
static void print_yaml_details(FILE *out, const struct kk_strv *details) {
  fprintf(out, "  details:\n");
  for (size_t k = 0; k + 1 < details->n; k += 2) {
    cleanup_free char *key = quoted(details->v[k]);
    cleanup_free char *val = quoted(details->v[k + 1]);
    fprintf(out, "    %s: %s\n", key, val);
  }
}

static void print_apply(struct kk_cli *cli, enum kk_output o, const struct kk_apply_result *res) {
  if (o == KK_OUT_YAML || o == KK_OUT_JSON) {
    json_t *arr = json_array();
    for (size_t i = 0; i < res->n; i++) {
      const struct kk_apply_item *it = &res->items[i];
      json_t *obj = json_pack("{s:i, s:s, s:s, s:s}", "index", it->index, "kind", kk_kind_name(it->kind), "name",
                              it->name, "action", kk_apply_action_name(it->action));
      if (it->error)
        json_object_set_new(obj, "error", json_string(it->error));
      if (it->changes.n) {
        json_t *ch = json_array();
        for (size_t k = 0; k < it->changes.n; k++)
          json_array_append_new(ch, json_string(it->changes.v[k]));
        json_object_set_new(obj, "changes", ch);
      }
      if (it->details.n) {
        json_t *d = json_object();
        for (size_t k = 0; k + 1 < it->details.n; k += 2)
          json_object_set_new(d, it->details.v[k], json_string(it->details.v[k + 1]));
        json_object_set_new(obj, "details", d);
      }
      if (it->warnings.n) {
        json_t *w = json_array();
        for (size_t k = 0; k < it->warnings.n; k++)
          json_array_append_new(w, json_string(it->warnings.v[k]));
        json_object_set_new(obj, "warnings", w);
      }
      json_array_append_new(arr, obj);
    }
    json_t *root = json_pack("{s:o}", "resources", arr);
    if (o == KK_OUT_JSON) {
      json_dumpf(root, cli->out, JSON_INDENT(2));
      fputc('\n', cli->out);
    } else {
      /* A small fixed shape: emit it directly as YAML. */
      fprintf(cli->out, "resources:\n");
      for (size_t i = 0; i < res->n; i++) {
        const struct kk_apply_item *it = &res->items[i];
        cleanup_free char *qname = quoted(it->name);
        fprintf(cli->out, "- index: %d\n  kind: %s\n  name: %s\n  action: %s\n", it->index, kk_kind_name(it->kind),
                qname, kk_apply_action_name(it->action));
        if (it->error) {
          cleanup_free char *q = quoted(it->error);
          fprintf(cli->out, "  error: %s\n", q);
        }
        const struct kk_strv *lists[2] = {&it->changes, &it->warnings};
        const char *names[2] = {"changes", "warnings"};
        for (int l = 0; l < 2; l++) {
          if (lists[l]->n == 0)
            continue;
          fprintf(cli->out, "  %s:\n", names[l]);
          for (size_t k = 0; k < lists[l]->n; k++) {
            cleanup_free char *q = quoted(lists[l]->v[k]);
            fprintf(cli->out, "  - %s\n", q);
          }
        }
        if (it->details.n)
          print_yaml_details(cli->out, &it->details);
      }
    }
    json_decref(root);
    return;
  }
  for (size_t i = 0; i < res->n; i++) {
    const struct kk_apply_item *it = &res->items[i];
    fprintf(cli->out, "%s \"%s\": %s\n", kk_kind_name(it->kind), it->name, kk_apply_action_name(it->action));
    for (size_t k = 0; k < it->changes.n; k++)
      fprintf(cli->out, "  - %s\n", it->changes.v[k]);
    for (size_t k = 0; k < it->warnings.n; k++)
      fprintf(cli->out, "  Warning: %s\n", it->warnings.v[k]);
    if (it->error)
      fprintf(cli->out, "  Error: %s\n", it->error);
  }
}

static int apply_run(void *ctx, const struct kk_cmdline *cl, int *status, kk_err_t *err) {
  struct kk_cli *cli = KK_CLI(ctx);
  const struct kk_strv *files = kk_cmdline_strv(cl, "file");
  const char *output = kk_cmdline_str(cl, "output");
  enum kk_output o = KK_OUT_TABLE;
  if (files->n == 0)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "kuke apply needs its manifests: -f FILE, -f DIR or -f - (stdin)");
  if (kk_output_parse(output, &o, err) < 0)
    return -1;
  if (o == KK_OUT_WIDE || o == KK_OUT_NAME)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "invalid output format: %s (supported: json, yaml)", output);
  struct sources src = {0};
  struct kk_apply_result res = {0};
  cleanup_api struct kk_api *api = NULL;
  int r = 0;
  for (size_t i = 0; i < files->n && r == 0; i++)
    r = collect(&src, files->v[i], err);
  if (r == 0)
    r = kk_cli_connect(cli, "apply", false, false, &api, err);
  if (r == 0) {
    kk_api_set_ignore_disk_pressure(api, kk_cmdline_bool(cl, "ignore-disk-pressure"));
    r = kk_api_apply(api, src.v, src.n, &res, err);
  }
  if (r == 0) {
    print_apply(cli, o, &res);
    /* Each failure is already on its resource's line. */
    for (size_t i = 0; i < res.n; i++)
      if (res.items[i].action == KK_APPLY_FAILED)
        *status = 1;
  }
  kk_apply_result_free(&res);
  sources_free(&src);
  return r;
}

static const struct kk_flag apply_flags[] = {
    {"file", 'f', KK_FLAG_STRINGS, NULL, "manifest file, directory, or - for stdin (repeatable)", false},
    {"output", 'o', KK_FLAG_STRING, NULL, "json or yaml (default: one line per resource)", false},
    {"ignore-disk-pressure", 0, KK_FLAG_BOOL, NULL, "create new cells even when their disk is under pressure", false},
};

const struct kk_cmd kk_cli_cmd_apply = {
    .name = "apply",
    .flags = apply_flags,
    .n_flags = KK_ARRAY_SIZE(apply_flags),
    .usage = "apply -f (FILE|DIR|-) [flags]",
    .summary = "Apply manifests (-f FILE|DIR|-): create or update what they describe",
    .details = "Create or update the resources described by v1beta1 manifests. Documents are applied parents first "
               "(Realm, Space, Stack, Cell, Container). A document that does not parse or validate rejects the whole "
               "apply and nothing changes. A cell's missing realm, space and stack are created.",
    .run = apply_run,
};

/* ------------------------------------------------------------- delete */

/* --cascade / --force, or their environment variables set to "true". */
static bool delete_flag(const struct kk_cmdline *cl, const char *flag, const char *env) {
  if (kk_cmdline_isset(cl, flag))
    return kk_cmdline_bool(cl, flag);
  const char *v = getenv(env);
  return v && strcmp(v, "true") == 0;
}

static int delete_by_files(struct kk_cli *cli, struct kk_api *api, const struct kk_strv *files, bool cascade, bool force,
                           kk_err_t *err) {
  struct sources src = {0};
  struct kk_doc_list docs = {0};
  int ret = 0;
  for (size_t i = 0; i < files->n && ret == 0; i++)
    ret = collect(&src, files->v[i], err);
  for (size_t i = 0; i < src.n && ret == 0; i++)
    ret = kk_docs_parse(src.v[i].buf, src.v[i].len, src.v[i].file, &docs, err);
  for (size_t i = 0; i < docs.n && ret == 0; i++)
    ret = kk_doc_normalize(docs.docs[i], cli->ns_suffix, err);
  bool failed = false;
  /* Children before parents. */
  for (int kind = KK_KIND_CELL; kind >= 0 && ret == 0; kind--) {
    for (size_t i = 0; i < docs.n; i++) {
      if ((int)docs.docs[i]->kind != kind)
        continue;
      struct kk_ref ref = kk_ref_of(docs.docs[i]);
      struct kk_report rep = {0};
      kk_err_t e = NULL;
      if (kk_api_delete(api, &ref, cascade, force, &rep, &e) == 0) {
        fprintf(cli->out, "%s \"%s\": deleted\n", kk_kind_name(ref.kind), ref.name);
        for (size_t k = 0; k < rep.lines.n; k++)
          fprintf(cli->out, "%s\n", rep.lines.v[k]);
      } else if (e->kind == KK_ERR_NOT_FOUND) {
        fprintf(cli->out, "%s \"%s\": not found\n", kk_kind_name(ref.kind), ref.name);
      } else {
        fprintf(cli->out, "%s \"%s\": failed\n  Error: %s\n", kk_kind_name(ref.kind), ref.name, e->msg);
        failed = true;
      }
      kk_error_free(&e);
      kk_report_free(&rep);
    }
  }
  kk_doc_list_free(&docs);
  sources_free(&src);
  if (ret == 0 && failed)
    ret = kk_error_kind(err, KK_ERR_INTERNAL, 0, "some resources could not be deleted");
  return ret;
}

/* delete -f FILE: the command without a kind. */
static int delete_files_run(void *ctx, const struct kk_cmdline *cl, int *status, kk_err_t *err) {
  struct kk_cli *cli = KK_CLI(ctx);
  const struct kk_strv *files = kk_cmdline_strv(cl, "file");
  if (files->n == 0)
    return kk_error_kind(err, KK_ERR_INVALID, 0,
                         "kuke delete needs a kind and a name (kuke delete (realm|space|stack|cell) NAME) or -f FILE");
  cleanup_api struct kk_api *api = NULL;
  if (kk_cli_connect(cli, "delete", false, false, &api, err) < 0)
    return -1;
  return delete_by_files(cli, api, files, delete_flag(cl, "cascade", "KUKE_DELETE_CASCADE"),
                         delete_flag(cl, "force", "KUKE_DELETE_FORCE"), err);
}

static int delete_kind_run(void *ctx, const struct kk_cmdline *cl, int *status, kk_err_t *err) {
  struct kk_cli *cli = KK_CLI(ctx);
  if (kk_cmdline_strv(cl, "file")->n > 0)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "delete takes either -f or a kind and a name, not both");
  struct kk_ref ref = kk_cli_named_ref(cl, kk_cli_kind_of(kk_cmdline_leaf(cl)), cl->args.v[0]);
  cleanup_api struct kk_api *api = NULL;
  struct kk_report rep = {0};
  int r = kk_cli_connect(cli, "delete", false, false, &api, err);
  if (r == 0)
    r = kk_api_delete(api, &ref, delete_flag(cl, "cascade", "KUKE_DELETE_CASCADE"),
                      delete_flag(cl, "force", "KUKE_DELETE_FORCE"), &rep, err);
  if (r == 0)
    kk_print_report(cli->out, &rep);
  kk_report_free(&rep);
  return r;
}

static const struct kk_flag delete_flags[] = {
    KK_SCOPE_FLAGS,
    {"cascade", 0, KK_FLAG_BOOL, NULL, "delete children first, depth first", false},
    {"force", 0, KK_FLAG_BOOL, NULL, "skip the children check and tear down what is found", false},
    {"file", 'f', KK_FLAG_STRINGS, NULL, "delete what manifests describe (FILE|DIR|-)", false},
    {"output", 'o', KK_FLAG_STRING, NULL, "accepted for compatibility", false},
};

#define DELETE_KIND(kind_name, what)                                                                                  \
  {.name = kind_name, .matches = kk_cli_kind_word, .flags = delete_flags, .n_flags = KK_ARRAY_SIZE(delete_flags),    \
   .args = "NAME", .min_args = 1, .max_args = 1, .summary = what, .run = delete_kind_run}
static const struct kk_cmd delete_realm = DELETE_KIND("realm", "A realm (refused with children unless --cascade)");
static const struct kk_cmd delete_space = DELETE_KIND("space", "A space of --realm");
static const struct kk_cmd delete_stack = DELETE_KIND("stack", "A stack of --realm --space");
static const struct kk_cmd delete_cell = DELETE_KIND("cell", "A cell of --realm --space --stack, containers first");
static const struct kk_cmd *const delete_kinds[] = {&delete_realm, &delete_space, &delete_stack, &delete_cell};

const struct kk_cmd kk_cli_cmd_delete = {
    .name = "delete",
    .aliases = {"d"},
    .flags = delete_flags,
    .n_flags = KK_ARRAY_SIZE(delete_flags),
    .subs = delete_kinds,
    .n_subs = KK_ARRAY_SIZE(delete_kinds),
    .sub_noun = "resource kind",
    .usage = "delete (realm|space|stack|cell) NAME [flags] | delete -f (FILE|DIR|-)",
    .summary = "Delete a realm, space, stack or cell",
    .details = "Delete a resource. A resource with children is refused unless --cascade or --force. Scope flags "
               "default to \"default\".",
    .run = delete_files_run,
};

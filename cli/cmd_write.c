/* kuke create, kuke apply, kuke delete. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/api.h"
#include "cli/args.h"
#include "cli/cmd_regcred.h"
#include "cli/commands.h"
#include "lib/fs.h"

static const char *or_default(const char *s) { return kk_empty(s) ? "default" : s; }

/* ------------------------------------------------------------- create */

int kk_cmd_create(struct kk_cli *cli, int argc, char **argv, kk_err_t *err) {
  if (kk_cmd_regcred_wanted(argc, argv))
    return kk_cmd_create_regcred(cli, argc, argv, err);
  struct kk_ref scope = {0};
  const char *ns = NULL, *image = NULL, *command = NULL;
  struct kk_flag flags[] = {
      KK_SCOPE_FLAGS(scope),
      {"namespace", 0, KK_FLAG_STRING, &ns, "realm: namespace (default <name>.kukeon.io)", false},
      {"image", 0, KK_FLAG_STRING, &image, "cell: image of its one container \"main\"", false},
      {"command", 0, KK_FLAG_STRING, &command, "cell: command of that container (default: the image's)", false},
  };
  static const struct kk_cmd_help help = {
      "kuke create", "create (realm|space|stack|cell) NAME [flags]",
      "Create a realm, space, stack or cell (cells are created stopped).",
      "Scope flags default to \"default\". `create cell` needs --image; its name defaults to "
      "<image>-<6 hex>. `create registry-credential REALM` attaches registry pull credentials to a realm "
      "(see its --help)."};
  struct kk_strv pos = {0};
  int r = kk_cli_parse(cli, &help, flags, KK_ARRAY_SIZE(flags), argc, argv, &pos, err);
  if (r != 0) {
    kk_strv_free(&pos);
    return r < 0 ? 1 : 0;
  }
  enum kk_kind kind = KK_KIND_REALM;
  cleanup_doc struct kk_doc *doc = NULL;
  cleanup_free char *gen_name = NULL;
  int ret = -1;
  if (pos.n == 0 || kk_kind_parse(pos.v[0], &kind) < 0 || kind == KK_KIND_CONTAINER) {
    kk_error_kind(err, KK_ERR_INVALID, 0, "create needs a kind: realm, space, stack or cell");
  } else if (pos.n > 2) {
    kk_error_kind(err, KK_ERR_INVALID, 0, "too many arguments: create takes a kind and a name");
  } else if (pos.n < 2 && kind != KK_KIND_CELL) {
    kk_error_kind(err, KK_ERR_INVALID, 0, "%s name is required", kk_kind_lower(kind));
  } else if (kind == KK_KIND_CELL && kk_empty(image)) {
    kk_error_kind(err, KK_ERR_INVALID, 0, "create cell needs --image");
  } else if ((ns && kind != KK_KIND_REALM) || ((image || command) && kind != KK_KIND_CELL)) {
    kk_error_kind(err, KK_ERR_INVALID, 0, "--namespace is for realms, --image and --command for cells");
  } else {
    const char *name = pos.n == 2 ? pos.v[1] : (gen_name = kk_cli_generated_name(image));
    doc = kk_doc_new(kind);
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
    cleanup_api struct kk_api *api = NULL;
    struct kk_report rep = {0};
    if (kk_cli_connect(cli, "create", false, false, &api, err) == 0 && kk_api_create(api, doc, &rep, err) == 0) {
      kk_print_report(cli->out, &rep);
      ret = 0;
    }
    kk_report_free(&rep);
  }
  kk_strv_free(&pos);
  return ret < 0 ? 1 : 0;
}

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

int kk_cmd_apply(struct kk_cli *cli, int argc, char **argv, kk_err_t *err) {
  struct kk_strv files = {0};
  const char *output = NULL;
  struct kk_flag flags[] = {
      {"file", 'f', KK_FLAG_STRINGS, &files, "manifest file, directory, or - for stdin (repeatable)", false},
      {"output", 'o', KK_FLAG_STRING, &output, "json or yaml (default: one line per resource)", false},
  };
  static const struct kk_cmd_help help = {
      "kuke apply", "apply -f (FILE|DIR|-) [flags]",
      "Create or update the resources described by v1beta1 manifests.",
      "Documents are applied parents first (Realm, Space, Stack, Cell, Container). A document that does not parse "
      "or validate rejects the whole apply and nothing changes. A cell's missing realm, space and stack are created."};
  struct kk_strv pos = {0};
  int r = kk_cli_parse(cli, &help, flags, KK_ARRAY_SIZE(flags), argc, argv, &pos, err);
  size_t npos = pos.n;
  kk_strv_free(&pos);
  if (r != 0) {
    kk_strv_free(&files);
    return r < 0 ? 1 : 0;
  }
  enum kk_output o = KK_OUT_TABLE;
  struct sources src = {0};
  struct kk_apply_result res = {0};
  int rc = 1;
  if (npos > 0)
    kk_error_kind(err, KK_ERR_INVALID, 0, "apply takes its manifests with -f");
  else if (files.n == 0)
    kk_error_kind(err, KK_ERR_INVALID, 0, "required flag \"file\" not set (-f FILE|DIR|-)");
  else if (kk_output_parse(output, &o, err) < 0)
    ;
  else if (o == KK_OUT_TABLE && output && strcmp(output, "table") != 0)
    ;
  else if (o == KK_OUT_WIDE)
    kk_error_kind(err, KK_ERR_INVALID, 0, "invalid output format: wide (supported: json, yaml)");
  else {
    int ok = 0;
    for (size_t i = 0; i < files.n && ok == 0; i++)
      ok = collect(&src, files.v[i], err);
    cleanup_api struct kk_api *api = NULL;
    if (ok == 0 && kk_cli_connect(cli, "apply", false, false, &api, err) == 0 &&
        kk_api_apply(api, src.v, src.n, &res, err) == 0) {
      print_apply(cli, o, &res);
      rc = 0;
      for (size_t i = 0; i < res.n; i++)
        if (res.items[i].action == KK_APPLY_FAILED)
          rc = 1;
    }
  }
  kk_apply_result_free(&res);
  sources_free(&src);
  kk_strv_free(&files);
  return rc;
}

/* ------------------------------------------------------------- delete */

static int delete_by_files(struct kk_cli *cli, struct kk_api *api, struct kk_strv *files, bool cascade, bool force,
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

int kk_cmd_delete(struct kk_cli *cli, int argc, char **argv, kk_err_t *err) {
  struct kk_ref scope = {0};
  struct kk_strv files = {0};
  const char *output = NULL;
  bool cascade = getenv("KUKE_DELETE_CASCADE") && !strcmp(getenv("KUKE_DELETE_CASCADE"), "true");
  bool force = getenv("KUKE_DELETE_FORCE") && !strcmp(getenv("KUKE_DELETE_FORCE"), "true");
  struct kk_flag flags[] = {
      KK_SCOPE_FLAGS(scope),
      {"cascade", 0, KK_FLAG_BOOL, &cascade, "delete children first, depth first", false},
      {"force", 0, KK_FLAG_BOOL, &force, "skip the children check and tear down what is found", false},
      {"file", 'f', KK_FLAG_STRINGS, &files, "delete what manifests describe (FILE|DIR|-)", false},
      {"output", 'o', KK_FLAG_STRING, &output, "accepted for compatibility", false},
  };
  static const struct kk_cmd_help help = {
      "kuke delete", "delete (realm|space|stack|cell) NAME [flags] | delete -f (FILE|DIR|-)",
      "Delete a resource. A resource with children is refused unless --cascade or --force.",
      "Scope flags default to \"default\"."};
  struct kk_strv pos = {0};
  int r = kk_cli_parse(cli, &help, flags, KK_ARRAY_SIZE(flags), argc, argv, &pos, err);
  if (r != 0) {
    kk_strv_free(&pos);
    kk_strv_free(&files);
    return r < 0 ? 1 : 0;
  }
  enum kk_kind kind = KK_KIND_REALM;
  int ret = -1;
  cleanup_api struct kk_api *api = NULL;
  if (files.n > 0) {
    if (pos.n > 0)
      kk_error_kind(err, KK_ERR_INVALID, 0, "delete takes either -f or a kind and a name, not both");
    else if (kk_cli_connect(cli, "delete", false, false, &api, err) == 0)
      ret = delete_by_files(cli, api, &files, cascade, force, err);
  } else if (pos.n != 2 || kk_kind_parse(pos.v[0], &kind) < 0 || kind == KK_KIND_CONTAINER) {
    kk_error_kind(err, KK_ERR_INVALID, 0, "delete needs a kind (realm, space, stack or cell) and a name");
  } else {
    struct kk_ref ref = {.kind = kind, .name = pos.v[1]};
    ref.realm = kind == KK_KIND_REALM ? pos.v[1] : or_default(scope.realm);
    if (kind >= KK_KIND_STACK)
      ref.space = or_default(scope.space);
    if (kind >= KK_KIND_CELL)
      ref.stack = or_default(scope.stack);
    struct kk_report rep = {0};
    if (kk_cli_connect(cli, "delete", false, false, &api, err) == 0 &&
        kk_api_delete(api, &ref, cascade, force, &rep, err) == 0) {
      kk_print_report(cli->out, &rep);
      ret = 0;
    }
    kk_report_free(&rep);
  }
  kk_strv_free(&pos);
  kk_strv_free(&files);
  return ret < 0 ? 1 : 0;
}

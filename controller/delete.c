/* Delete a realm, space, stack or cell: children first (with cascade),
 * a cell's containers torn down, then its cgroup, then its metadata. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#include "controller/internal.h"
#include "lib/fs.h"
#include "lib/log.h"
#include "lib/util.h"

/* A container for each entry of dir named <prefix><id><suffix>. */
static void add_named_in(struct kk_cell *cell, const struct kk_ref *ref, const char *dir, const char *prefix,
                         const char *suffix) {
  kk_err_t e = NULL;
  cleanup_dir DIR *d = kk_dir_open_at(AT_FDCWD, dir, &e);
  kk_error_free(&e);
  struct dirent *de;
  while (d && (de = readdir(d)) != NULL) {
    if (de->d_name[0] == '.' || !kk_has_prefix(de->d_name, prefix) || !kk_has_suffix(de->d_name, suffix))
      continue;
    cleanup_free char *id =
        kk_xstrndup(de->d_name + strlen(prefix), strlen(de->d_name) - strlen(prefix) - strlen(suffix));
    if (!kk_empty(id))
      kk_ctl_cell_add_named(cell, ref, id);
  }
}

/* A cell whose state file cannot be read, as far as the names tell: the
 * container ids of its containers/<id>.yaml files and of the bundles and
 * writable layers named <space>_<stack>_<cell>_<id> (the root's id is
 * "root" there).  Enough for teardown to stop and remove what runc,
 * the monitors and the layers hold under those names. */
static struct kk_doc *cell_from_names(struct kk_controller *c, const struct kk_ref *ref) {
  struct kk_doc *doc = kk_doc_new(KK_KIND_CELL);
  struct kk_cell *cell = &doc->u.cell;
  cell->metadata.name = kk_xstrdup(ref->name);
  cell->spec.id = kk_xstrdup(ref->name);
  cell->spec.realm_id = kk_xstrdup(ref->realm);
  cell->spec.space_id = kk_xstrdup(ref->space);
  cell->spec.stack_id = kk_xstrdup(ref->stack);
  cleanup_free char *rel = kk_store_rel_dir(ref);
  cleanup_free char *files = kk_asprintf("%s/%s/containers", c->run_path, rel);
  add_named_in(cell, ref, files, "", ".yaml");
  cleanup_free char *ns = kk_namespace_name(ref->realm, c->ns_suffix);
  cleanup_free char *prefix = kk_ctl_cell_name_prefix(ref);
  cleanup_free char *bundles = kk_asprintf("%s/bundles/%s", c->runtime_dir, ns);
  add_named_in(cell, ref, bundles, prefix, "");
  cleanup_free char *layers = kk_asprintf("%s/containers/%s", c->run_path, ns);
  add_named_in(cell, ref, layers, prefix, "");
  return doc;
}

/* A cell for delete: from its file, or with --force from its names when
 * the file cannot be read. */
static int cell_for_delete(struct kk_controller *c, const struct kk_ref *ref, bool force, struct kk_doc **out,
                           struct kk_report *rep, kk_err_t *err) {
  kk_ctl_intent_finish(c, ref); /* else a container only the record names would outlive the cell */
  if (kk_store_get(c->store, ref, out, err) == 0)
    return 0;
  if (!kk_store_is_corrupt(*err))
    return -1;
  if (!force)
    return kk_error_wrap(err, "cell \"%s\" cannot be read (delete it with --force)", ref->name);
  kk_warn("delete cell %s (forced): %s", ref->name, (*err)->msg);
  kk_error_free(err);
  *out = cell_from_names(c, ref);
  kk_report_line(rep, 2, "- cell \"%s\": state file unreadable, tore down the %zu container name(s) found", ref->name,
                 (*out)->u.cell.spec.n_containers);
  return 0;
}

int kk_ctl_delete_locked(struct kk_controller *c, const struct kk_ref *ref, bool cascade, bool force,
                         struct kk_report *rep, kk_err_t *err) {
  if (ref->kind < KK_KIND_CELL) {
    struct kk_ref scope = kk_ctl_child_scope(ref);
    struct kk_doc_list kids = {0};
    cleanup_store_problems struct kk_store_problems bad = {0};
    if (kk_store_list_report(c->store, scope.kind, &scope, &kids, &bad, err) < 0)
      return -1;
    if (kids.n + bad.n > 0 && !cascade && !force) {
      cleanup_free char *what = kk_ref_describe(ref);
      size_t n = kids.n + bad.n;
      kk_doc_list_free(&kids);
      char what_short[256];
      snprintf(what_short, sizeof(what_short), "%s \"%s\"", kk_kind_lower(ref->kind), ref->name);
      return kk_error_kind(err, KK_ERR_CONFLICT, 0,
                           "resource has child resources: %s has %zu %s(s). Use --cascade to delete them or --force "
                           "to skip validation",
                           what_short, n, kk_kind_lower(scope.kind));
    }
    /* Depth first, so each child is torn down by its own kind's rules;
     * unreadable children too (a cell of them needs --force). */
    for (size_t i = 0; i < kids.n + bad.n; i++) {
      struct kk_ref kr = i < kids.n ? kk_ref_of(kids.docs[i]) : kk_store_problem_ref(&bad.v[i - kids.n]);
      if (kk_ctl_delete_locked(c, &kr, true, force, rep, err) < 0) {
        kk_doc_list_free(&kids);
        return -1;
      }
    }
    if (kids.n + bad.n > 0)
      kk_report_line(rep, 2, "- %zu %s(s) deleted (cascade)", kids.n + bad.n, kk_kind_lower(scope.kind));
    kk_doc_list_free(&kids);
  }
  bool auto_delete = false;
  if (ref->kind == KK_KIND_CELL) {
    cleanup_doc struct kk_doc *cell = NULL;
    if (cell_for_delete(c, ref, force, &cell, rep, err) < 0)
      return -1;
    auto_delete = cell->u.cell.spec.auto_delete;
    if (kk_ctl_cell_teardown(c, cell, err) < 0) {
      if (!force)
        return kk_error_wrap(err, "delete cell \"%s\"", ref->name);
      kk_warn("delete cell %s (forced): %s", ref->name, (*err)->msg);
      kk_error_free(err);
    }
  }
  /* The cgroup goes first: if it cannot (processes left), the metadata
   * stays and says what is still there. */
  if (kk_ctl_cgroup_down(c, ref, force, err) < 0)
    return -1;
  if (ref->kind == KK_KIND_SPACE && kk_ctl_space_net_remove(c, ref, err) < 0) {
    if (!force)
      return -1;
    kk_warn("delete space %s (forced): %s", ref->name, (*err)->msg);
    kk_error_free(err);
  }
  return auto_delete ? kk_store_delete_volatile(c->store, ref, err) : kk_store_delete(c->store, ref, err);
}

int kk_ctl_delete(struct kk_controller *c, const struct kk_ref *ref, bool cascade, bool force, struct kk_report *rep,
                  kk_err_t *err) {
  if (ref->kind == KK_KIND_CONTAINER)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "containers are deleted with their cell (or re-apply the cell without them)");
  cleanup_close int lock = kk_store_lock(c->store, true, err);
  if (lock < 0)
    return -1;
  if (!kk_store_exists(c->store, ref)) {
    if (kk_validate_name(ref->kind, ref->name, err) < 0)
      return -1;
    return kk_store_not_found(ref, err);
  }
  if (kk_ctl_delete_locked(c, ref, cascade, force, rep, err) < 0)
    return -1;
  rep->title = kk_ctl_delete_title(ref);
  return 0;
}

/* kuke apply: documents parsed and checked as a whole, then applied one by
 * one in the order apply_diff.c gives; new resources are created (a new
 * cell brought up), changed ones updated, breaking changes refused. */
#include <stdlib.h>

#include "controller/internal.h"
#include "lib/log.h"
#include "lib/util.h"

/* A new cell comes up, or leaves nothing behind: no processes, mounts,
 * bundles, cgroup or metadata. */
static int bring_up_new(struct kk_controller *c, struct kk_doc *cell, kk_err_t *err) {
  if (kk_ctl_cell_start_and_put(c, cell, true, err) == 0)
    return 0;
  struct kk_ref ref = kk_ref_of(cell);
  kk_err_t e = NULL;
  if (kk_ctl_cell_teardown(c, cell, &e) < 0 || kk_ctl_cgroup_down(c, &ref, true, &e) < 0 ||
      kk_store_delete(c->store, &ref, &e) < 0) {
    kk_warn("cleaning up cell %s after a failed start: %s", ref.name, e->msg);
    kk_error_free(&e);
  }
  return -1;
}

/* A kept cell that did not come up is left Failed, and apply says so and
 * where to look (spec §4.7), the cause kept. */
static int explain_failed(const struct kk_doc *cell, kk_err_t *err) {
  if (cell->u.cell.status.base.state == KK_CELL_FAILED) {
    const char *name = kk_doc_name(cell);
    char *msg = kk_asprintf("cell reconciled to Failed state: cell \"%s\": %s — inspect with `kuke get cell %s -o "
                            "yaml` and `kuke log`",
                            name, (*err)->msg, name);
    free((*err)->msg);
    (*err)->msg = msg;
  }
  return -1;
}

/* Start a cell apply keeps unchanged (its runtime died) and store it. */
static int start_kept_cell(struct kk_controller *c, struct kk_doc *cell, kk_err_t *err) {
  if (kk_ctl_cell_start_and_put(c, cell, true, err) == 0)
    return 0;
  return explain_failed(cell, err);
}

/* A changed cell on the host, under an intent record (intent.c): containers
 * that changed or went away are torn down (the whole cell when its root
 * must be recreated), then what is not running is started and the new spec
 * stored. */
static int update_cell(struct kk_controller *c, const struct kk_doc *stored, struct kk_doc *want, const char *ctr,
                       struct kk_apply_item *it, kk_err_t *err) {
  bool *gone = kk_ctl_cell_gone(&stored->u.cell, &want->u.cell);
  kk_ctl_change_details(&stored->u.cell, gone, ctr, &it->changes, &it->details);
  const struct kk_container_spec *root = kk_ctl_spec_by_id(&stored->u.cell, stored->u.cell.spec.root_container_id);
  if (root && gone[root - stored->u.cell.spec.containers])
    kk_strv_push(&it->changes, "root container recreated");
  free(gone);
  if (kk_ctl_cell_rewrite(c, stored, want, &it->warnings, err) == 0)
    return 0;
  return explain_failed(want, err);
}

static int refuse_breaking(const struct kk_doc *stored, const struct kk_doc *want, kk_err_t *err) {
  struct kk_strv breaking = {0};
  kk_ctl_breaking_changes(stored, want, &breaking);
  if (breaking.n == 0)
    return 0;
  cleanup_free char *list = kk_strv_join(&breaking, ", ");
  kk_strv_free(&breaking);
  return kk_error_kind(err, KK_ERR_CONFLICT, 0,
                       "%s \"%s\" has breaking changes: [%s]. Delete the %s and recreate it with the new spec",
                       kk_kind_lower(want->kind), kk_doc_name(want), list, kk_kind_lower(want->kind));
}

/* A standalone Container document lands in its cell, which then changes on
 * the host as an applied cell does. */
static int apply_container(struct kk_controller *c, struct kk_doc *doc, struct kk_apply_item *it, kk_err_t *err) {
  struct kk_ref ref = kk_ref_of(doc);
  struct kk_ref cref = {.kind = KK_KIND_CELL, .realm = ref.realm, .space = ref.space, .stack = ref.stack,
                        .name = ref.cell};
  cleanup_doc struct kk_doc *stored = NULL;
  if (kk_store_get(c->store, &cref, &stored, err) < 0 ||
      kk_ctl_inherit(c, ref.realm, ref.space, &doc->u.container.spec, 1, err) < 0)
    return -1;
  cleanup_doc struct kk_doc *cell = kk_doc_clone(stored);
  if (kk_ctl_cell_put_container(&cell->u.cell, doc, it, err) < 0 || refuse_breaking(stored, cell, err) < 0)
    return -1;
  if (it->action == KK_APPLY_UNCHANGED)
    return 0;
  return update_cell(c, stored, cell, doc->u.container.spec.id, it, err);
}

static int apply_one(struct kk_controller *c, struct kk_doc *doc, struct kk_apply_item *it, kk_err_t *err) {
  if (doc->kind == KK_KIND_CONTAINER)
    return apply_container(c, doc, it, err);
  struct kk_ref ref = kk_ref_of(doc);
  if (doc->kind == KK_KIND_CELL)
    kk_ctl_intent_finish(c, &ref); /* a stored cell, not one halfway to an earlier spec */
  if (!kk_store_exists(c->store, &ref)) {
    struct kk_ctl_made parents = {.n = 0};
    if (doc->kind == KK_KIND_CELL && kk_ctl_ensure_cell_parents(c, doc, &parents, err) < 0)
      return -1;
    struct kk_strv lines = {0};
    int r = kk_ctl_create_locked(c, doc, false, &lines, &it->warnings, err);
    kk_strv_free(&lines);
    if (r == 0 && doc->kind == KK_KIND_CELL)
      r = bring_up_new(c, doc, err);
    if (r < 0) {
      kk_ctl_made_undo(c, &parents); /* the parents it made for the cell go with it */
      return -1;
    }
    kk_ctl_made_free(&parents);
    it->action = KK_APPLY_CREATED;
    return 0;
  }
  cleanup_doc struct kk_doc *stored = NULL;
  if (kk_store_get(c->store, &ref, &stored, err) < 0)
    return -1;
  kk_policy_unredact(doc, stored); /* a realm read back by a restricted peer */
  if (doc->kind == KK_KIND_CELL) {
    struct kk_cell *cl = &doc->u.cell;
    if (kk_ctl_inherit(c, ref.realm, ref.space, cl->spec.containers, cl->spec.n_containers, err) < 0)
      return -1;
    kk_ctl_keep_pause_root(cl, &stored->u.cell);
  }
  if (refuse_breaking(stored, doc, err) < 0)
    return -1;
  kk_doc_spec_diff(stored, doc, &it->changes);
  if (it->changes.n == 0) {
    it->action = KK_APPLY_UNCHANGED;
    if (doc->kind != KK_KIND_CELL)
      return 0;
    kk_ctl_cell_observe(c, stored); /* a runtime that died since the last write counts */
    if (!kk_ctl_unchanged_cell_restarts(&stored->u.cell))
      return 0;
    it->action = KK_APPLY_UPDATED;
    kk_strv_push(&it->details, "status.state");
    kk_strv_push_owned(&it->details,
                       kk_asprintf("was %s, its runtime dead: cell started again",
                                   kk_state_name(KK_KIND_CELL, stored->u.cell.status.base.state)));
    return start_kept_cell(c, stored, err);
  }
  kk_ctl_carry_status(doc, stored);
  it->action = KK_APPLY_UPDATED;
  if (doc->kind != KK_KIND_CELL)
    kk_ctl_change_details(NULL, NULL, NULL, &it->changes, &it->details);
  if (doc->kind == KK_KIND_CELL)
    return update_cell(c, stored, doc, NULL, it, err);
  /* New limits (and a cgroup lost to a reboot) before the metadata says so. */
  struct kk_strv lines = {0};
  bool created = false;
  int r = kk_ctl_cgroup_up(c, doc, kk_ctl_resources_of(stored), &created, &lines, &it->warnings, err);
  kk_strv_free(&lines);
  if (r < 0)
    return -1;
  /* A new egress policy is in place before the metadata says so. */
  if (doc->kind == KK_KIND_SPACE && kk_ctl_space_fw_ensure(c, doc, err) < 0)
    return -1;
  return kk_store_put(c->store, doc, false, err);
}

/* A new cell on a filesystem under disk pressure is refused (disk.c). */
static int disk_guard(struct kk_controller *c, const struct kk_doc *doc, bool ignore, kk_err_t *err) {
  struct kk_ref ref = kk_ref_of(doc);
  if (doc->kind != KK_KIND_CELL || kk_store_exists(c->store, &ref))
    return 0;
  return kk_ctl_disk_guard(c, doc, ignore, err);
}

int kk_ctl_apply(struct kk_controller *c, const struct kk_apply_source *src, size_t n_src,
                 const struct kk_policy *policy, bool ignore_disk_pressure, struct kk_apply_result *res,
                 kk_err_t *err) {
  struct kk_doc_list docs = {0};
  for (size_t i = 0; i < n_src; i++) {
    if (kk_docs_parse(src[i].buf, src[i].len, src[i].file, &docs, err) < 0) {
      kk_doc_list_free(&docs);
      return -1;
    }
  }
  if (docs.n == 0) {
    kk_doc_list_free(&docs);
    return kk_error_kind(err, KK_ERR_INVALID, 0, "%s: no documents to apply",
                         n_src > 0 && src[0].file ? src[0].file : "<input>");
  }
  int ret = 0;
  for (size_t i = 0; i < docs.n && ret == 0; i++)
    ret = kk_ctl_prepare(c, docs.docs[i], policy, err);
  cleanup_close int lock = ret == 0 ? kk_store_lock(c->store, true, err) : -1;
  if (ret == 0 && lock < 0)
    ret = -1;
  if (ret == 0) {
    cleanup_free size_t *order = kk_xzalloc(docs.n * sizeof(*order));
    size_t n = kk_ctl_apply_order(&docs, order);
    res->items = kk_xzalloc(docs.n * sizeof(*res->items));
    for (size_t k = 0; k < n; k++) {
      size_t i = order[k];
      struct kk_apply_item *it = &res->items[res->n++];
      it->index = (int)i;
      it->kind = docs.docs[i]->kind;
      it->name = kk_xstrdup(kk_doc_name(docs.docs[i]));
      kk_err_t e = NULL;
      if (disk_guard(c, docs.docs[i], ignore_disk_pressure, &e) < 0 || apply_one(c, docs.docs[i], it, &e) < 0) {
        it->action = KK_APPLY_FAILED;
        it->error = kk_xstrdup(e->msg);
        kk_strv_free(&it->changes);
        kk_strv_free(&it->details);
        kk_error_free(&e);
      }
    }
  }
  kk_doc_list_free(&docs);
  return ret;
}

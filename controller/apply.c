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

/* A standalone Container document lands in its cell. */
static int apply_container(struct kk_controller *c, struct kk_doc *doc, struct kk_apply_item *it, kk_err_t *err) {
  struct kk_ref ref = kk_ref_of(doc);
  struct kk_ref cref = {.kind = KK_KIND_CELL, .realm = ref.realm, .space = ref.space, .stack = ref.stack,
                        .name = ref.cell};
  cleanup_doc struct kk_doc *cell = NULL;
  if (kk_store_get(c->store, &cref, &cell, err) < 0)
    return -1;
  if (kk_ctl_cell_put_container(&cell->u.cell, doc, it, err) < 0)
    return -1;
  if (it->action == KK_APPLY_UNCHANGED)
    return 0;
  return kk_store_put(c->store, cell, false, err);
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
  struct kk_strv breaking = {0};
  kk_ctl_breaking_changes(stored, doc, &breaking);
  if (breaking.n > 0) {
    cleanup_free char *list = kk_strv_join(&breaking, ", ");
    kk_strv_free(&breaking);
    return kk_error_kind(err, KK_ERR_CONFLICT, 0,
                         "%s \"%s\" has breaking changes: [%s]. Delete the %s and recreate it with the new spec",
                         kk_kind_lower(doc->kind), ref.name, list, kk_kind_lower(doc->kind));
  }
  kk_doc_spec_diff(stored, doc, &it->changes);
  if (it->changes.n == 0) {
    it->action = KK_APPLY_UNCHANGED;
    if (doc->kind != KK_KIND_CELL)
      return 0;
    if (!kk_ctl_unchanged_cell_restarts(stored->u.cell.status.base.state))
      return 0;
    it->action = KK_APPLY_UPDATED;
    return kk_ctl_cell_start_and_put(c, stored, true, err);
  }
  kk_ctl_carry_status(doc, stored);
  it->action = KK_APPLY_UPDATED;
  if (doc->kind == KK_KIND_CELL)
    return kk_ctl_cell_rewrite(c, stored, doc, &it->warnings, err);
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

int kk_ctl_apply(struct kk_controller *c, const struct kk_apply_source *src, size_t n_src,
                 const struct kk_policy *policy, struct kk_apply_result *res, kk_err_t *err) {
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
      if (apply_one(c, docs.docs[i], it, &e) < 0) {
        it->action = KK_APPLY_FAILED;
        it->error = kk_xstrdup(e->msg);
        kk_strv_free(&it->changes);
        kk_error_free(&e);
      }
    }
  }
  kk_doc_list_free(&docs);
  return ret;
}

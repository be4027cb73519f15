/* kuke refresh (spec 4.14): every resource observed again and only the
 * .status of those whose observation differs rewritten.  Nothing starts,
 * stops or heals here: that is the reconcile pass's (reconcile.c). */
#include <string.h>

#include "controller/internal.h"
#include "lib/util.h"

#define NAMES_SHOWN 5

/* What one refresh saw, per kind, and what it changed or failed on. */
struct refresh {
  struct kk_strv seen[KK_KIND_COUNT];
  struct kk_strv updated, errors;
};

static void refresh_free(struct refresh *r) {
  for (int k = 0; k < KK_KIND_COUNT; k++)
    kk_strv_free(&r->seen[k]);
  kk_strv_free(&r->updated);
  kk_strv_free(&r->errors);
}

/* "cell default/default/default/web" */
static char *label(const struct kk_doc *doc) {
  struct kk_ref r = kk_ref_of(doc);
  const char *kind = kk_kind_lower(doc->kind), *name = kk_doc_name(doc);
  switch (doc->kind) {
  case KK_KIND_REALM: return kk_asprintf("%s %s", kind, name);
  case KK_KIND_SPACE: return kk_asprintf("%s %s/%s", kind, r.realm, name);
  case KK_KIND_STACK: return kk_asprintf("%s %s/%s/%s", kind, r.realm, r.space, name);
  default: return kk_asprintf("%s %s/%s/%s/%s", kind, r.realm, r.space, r.stack, name);
  }
}

/* A realm's, space's or stack's cgroup is there or not. */
static int observe_cgroup(struct kk_controller *c, struct kk_doc *doc, kk_err_t *err) {
  if (c->cg == NULL)
    return 0;
  struct kk_ref ref = kk_ref_of(doc);
  cleanup_free char *rel = kk_ctl_cg_rel(&ref);
  bool exists = false, owned = false;
  if (kk_cg_exists(c->cg, c->cgroup_root, rel, &exists, &owned, err) < 0)
    return -1;
  kk_doc_status_base(doc)->cgroup_ready = exists;
  return 0;
}

/* Observe doc again and rewrite its status if that differs; *changed,
 * and *was the state before. */
static int observe_again(struct kk_controller *c, struct kk_doc *doc, bool *changed, int *was, kk_err_t *err) {
  cleanup_free char *before = kk_doc_to_yaml(doc);
  *was = kk_doc_status_base(doc)->state;
  if (doc->kind == KK_KIND_CELL)
    kk_ctl_cell_observe(c, doc);
  else if (observe_cgroup(c, doc, err) < 0)
    return -1;
  cleanup_free char *after = kk_doc_to_yaml(doc);
  *changed = strcmp(before, after) != 0;
  if (!*changed)
    return 0;
  kk_doc_status_base(doc)->updated_at = kk_now();
  return kk_store_put_status(c->store, doc, err);
}

static void refresh_doc(struct kk_controller *c, struct kk_doc *doc, struct refresh *r) {
  kk_strv_push(&r->seen[doc->kind], kk_doc_name(doc));
  if (doc->kind == KK_KIND_CELL)
    for (size_t i = 0; i < doc->u.cell.spec.n_containers; i++)
      kk_strv_push(&r->seen[KK_KIND_CONTAINER], doc->u.cell.spec.containers[i].id);
  cleanup_free char *what = label(doc);
  bool changed = false;
  int was = 0;
  kk_err_t e = NULL;
  if (observe_again(c, doc, &changed, &was, &e) < 0) {
    kk_strv_push_owned(&r->errors, kk_asprintf("%s: %s", what, e->msg));
    kk_error_free(&e);
    return;
  }
  int now = kk_doc_status_base(doc)->state;
  if (changed && now != was)
    kk_strv_push_owned(&r->updated, kk_asprintf("%s (%s -> %s)", what, kk_state_name(doc->kind, was),
                                                kk_state_name(doc->kind, now)));
  else if (changed)
    kk_strv_push(&r->updated, what);
}

/* "Cells: 7 (a, b, c, d, e, ...)" */
static void count_line(struct kk_report *rep, const char *title, const struct kk_strv *names) {
  if (names->n == 0) {
    kk_report_line(rep, 2, "%s: 0", title);
    return;
  }
  struct kk_strv shown = {0};
  for (size_t i = 0; i < names->n && i < NAMES_SHOWN; i++)
    kk_strv_push(&shown, names->v[i]);
  if (names->n > NAMES_SHOWN)
    kk_strv_push(&shown, "...");
  cleanup_free char *list = kk_strv_join(&shown, ", ");
  kk_strv_free(&shown);
  kk_report_line(rep, 2, "%s: %zu (%s)", title, names->n, list);
}

static void list_section(struct kk_report *rep, const char *title, const struct kk_strv *items) {
  kk_report_line(rep, 0, "%s", "");
  kk_report_line(rep, 0, "%s:", title);
  if (items->n == 0)
    kk_report_line(rep, 2, "(none)");
  for (size_t i = 0; i < items->n; i++)
    kk_report_line(rep, 2, "%s", items->v[i]);
}

int kk_ctl_refresh(struct kk_controller *c, struct kk_report *rep, kk_err_t *err) {
  cleanup_close int lock = kk_store_lock(c->store, true, err);
  if (lock < 0)
    return -1;
  KK_CLEANUP(refresh_free) struct refresh r = {0};
  for (int kind = KK_KIND_REALM; kind <= KK_KIND_CELL; kind++) {
    cleanup_doc_list struct kk_doc_list docs = {0};
    cleanup_store_problems struct kk_store_problems unreadable = {0};
    if (kk_store_list_report(c->store, (enum kk_kind)kind, NULL, &docs, &unreadable, err) < 0)
      return -1;
    for (size_t i = 0; i < unreadable.n; i++)
      kk_strv_push_owned(&r.errors, kk_asprintf("%s: %s", unreadable.v[i].path, unreadable.v[i].reason));
    for (size_t i = 0; i < docs.n; i++)
      refresh_doc(c, docs.docs[i], &r);
  }
  rep->title = kk_xstrdup("Refreshed metadata status:");
  static const char *const titles[] = {"Realms", "Spaces", "Stacks", "Cells", "Containers"};
  for (int kind = KK_KIND_REALM; kind <= KK_KIND_CONTAINER; kind++)
    count_line(rep, titles[kind], &r.seen[kind]);
  list_section(rep, "Updated", &r.updated);
  list_section(rep, "Errors", &r.errors);
  return 0;
}

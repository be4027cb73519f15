/* Cgroup glue: the cgroup of a realm, space, stack or cell, made, limited,
 * read and removed through cgroupfs/.  The bottom of the controller: it
 * calls nothing of the controller's own. */
#include "cgroupfs/cgroupfs.h"
#include "controller/internal.h"
#include "lib/util.h"

char *kk_ctl_cg_rel(const struct kk_ref *r) {
  switch (r->kind) {
  case KK_KIND_REALM: return kk_cg_rel(r->name, NULL, NULL, NULL);
  case KK_KIND_SPACE: return kk_cg_rel(r->realm, r->name, NULL, NULL);
  case KK_KIND_STACK: return kk_cg_rel(r->realm, r->space, r->name, NULL);
  default: return kk_cg_rel(r->realm, r->space, r->stack, r->name);
  }
}

const struct kk_resources *kk_ctl_resources_of(const struct kk_doc *d) {
  switch (d->kind) {
  case KK_KIND_REALM: return &d->u.realm.spec.resources;
  case KK_KIND_SPACE: return &d->u.space.spec.resources;
  case KK_KIND_STACK: return &d->u.stack.spec.resources;
  case KK_KIND_CELL: return &d->u.cell.spec.resources;
  default: return NULL;
  }
}

/* Manifest limits -> cgroupfs limits.  With `old`, a limit the manifest no
 * longer sets is reset to the kernel default rather than left behind. */
void kk_ctl_limits_of(const struct kk_resources *r, const struct kk_resources *old, struct kk_cg_limits *l) {
  kk_cg_limits_init(l);
  const struct {
    const struct kk_opt_i64 *now, *was;
    int64_t *dst;
    int64_t reset;
  } map[] = {
      {&r->memory_max_bytes, old ? &old->memory_max_bytes : NULL, &l->memory_max, KK_CG_MAX},
      {&r->memory_high_bytes, old ? &old->memory_high_bytes : NULL, &l->memory_high, KK_CG_MAX},
      {&r->cpu_weight, old ? &old->cpu_weight : NULL, &l->cpu_weight, 100},
      {&r->cpu_max_quota_us, old ? &old->cpu_max_quota_us : NULL, &l->cpu_max_quota_us, KK_CG_MAX},
      {&r->cpu_max_period_us, NULL, &l->cpu_max_period_us, KK_CG_UNSET},
      {&r->pids_max, old ? &old->pids_max : NULL, &l->pids_max, KK_CG_MAX},
      {&r->io_weight, old ? &old->io_weight : NULL, &l->io_weight, 100},
  };
  for (size_t i = 0; i < KK_ARRAY_SIZE(map); i++) {
    if (map[i].now->set)
      *map[i].dst = map[i].now->v;
    else if (map[i].was && map[i].was->set)
      *map[i].dst = map[i].reset;
  }
}

/* Write a level's limits; what is not applied as asked becomes a warning. */
static int apply_limits(struct kk_controller *c, const char *rel, const struct kk_cg_limits *l,
                        struct kk_strv *warnings, kk_err_t *err) {
  if (!kk_cg_limits_any(l))
    return 0;
  struct kk_cg_report rep = {0};
  int ret = kk_cg_apply_limits(c->cg, c->cgroup_root, rel, l, &rep, err);
  for (size_t i = 0; i < rep.n; i++) {
    const struct kk_cg_setting *st = &rep.v[i];
    if (st->outcome == KK_CG_APPLIED || st->outcome == KK_CG_FAILED)
      continue;
    kk_strv_push_owned(warnings, kk_asprintf("%s (%s) = %s: %s%s%s%s", st->field, st->file, st->requested,
                                             kk_cg_outcome_name(st->outcome), st->reason ? " (" : "",
                                             st->reason ? st->reason : "", st->reason ? ")" : ""));
  }
  kk_cg_report_free(&rep);
  return ret;
}

/* Make (or heal) the cgroup of a realm/space/stack/cell and write its
 * limits.  *created says whether this call made it (for rollback). */
int kk_ctl_cgroup_up(struct kk_controller *c, struct kk_doc *doc, const struct kk_resources *old, bool *created,
                     struct kk_strv *lines, struct kk_strv *warnings, kk_err_t *err) {
  struct kk_status_base *st = kk_doc_status_base(doc);
  *created = false;
  if (c->cg == NULL) {
    st->cgroup_ready = false;
    kk_strv_push_owned(lines, kk_asprintf("- cgroup: unavailable (%s)", c->cg_problem));
    return 0;
  }
  struct kk_ref ref = kk_ref_of(doc);
  cleanup_free char *rel = kk_ctl_cg_rel(&ref);
  cleanup_free char *path = kk_cg_status_path(c->cgroup_root, rel);
  struct kk_cg_ensure_result res = {0};
  if (kk_cg_ensure(c->cg, c->cgroup_root, rel, &res, err) < 0) {
    kk_cg_ensure_result_free(&res);
    return kk_error_wrap(err, "cgroup %s", path);
  }
  *created = kk_strv_contains(&res.created, path);
  kk_strv_push_owned(lines, kk_asprintf("- cgroup: %s", *created ? "created" : "already existed"));
  kk_strv_free(&st->subtree_controllers);
  kk_strv_copy(&st->subtree_controllers, &res.subtree_controllers);
  for (size_t i = 0; i < res.warnings.n; i++)
    kk_strv_push(warnings, res.warnings.v[i]);
  kk_cg_ensure_result_free(&res);
  struct kk_cg_limits l;
  kk_ctl_limits_of(kk_ctl_resources_of(doc), old, &l);
  if (apply_limits(c, rel, &l, warnings, err) < 0) {
    if (*created) {
      kk_err_t e = NULL;
      kk_cg_remove(c->cg, c->cgroup_root, rel, 0, &e);
      kk_error_free(&e);
      *created = false;
    }
    return kk_error_wrap(err, "cgroup %s", path);
  }
  free(st->cgroup_path);
  st->cgroup_path = kk_xstrdup(path);
  st->cgroup_ready = true;
  return 0;
}

int kk_ctl_cgroup_down(struct kk_controller *c, const struct kk_ref *ref, bool force, kk_err_t *err) {
  if (c->cg == NULL || ref->kind > KK_KIND_CELL)
    return 0;
  cleanup_free char *rel = kk_ctl_cg_rel(ref);
  if (kk_cg_remove(c->cg, c->cgroup_root, rel, force ? KK_CG_REMOVE_KILL : 0, err) < 0) {
    cleanup_free char *path = kk_cg_status_path(c->cgroup_root, rel);
    return kk_error_wrap(err, "remove cgroup %s", path);
  }
  return 0;
}

/* Live counters for status.usage (the kernel aggregates each level). */
void kk_ctl_fill_usage(struct kk_controller *c, struct kk_doc *doc) {
  struct kk_status_base *st = kk_doc_status_base(doc);
  if (c->cg == NULL || st == NULL)
    return;
  struct kk_ref ref = kk_ref_of(doc);
  cleanup_free char *rel = kk_ctl_cg_rel(&ref);
  struct kk_cg_stats stats;
  kk_err_t e = NULL;
  if (kk_cg_read_stats(c->cg, c->cgroup_root, rel, &stats, &e) < 0) {
    kk_error_free(&e);
    return;
  }
  st->usage.memory_current_bytes = stats.memory_current > 0 ? stats.memory_current : 0;
  st->usage.cpu_usage_usec = stats.cpu_usage_usec > 0 ? stats.cpu_usage_usec : 0;
  st->usage.pids_current = stats.pids_current > 0 ? stats.pids_current : 0;
}

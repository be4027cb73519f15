#include "controller/controller.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cgroupfs/cgroupfs.h"
#include "controller/internal.h"
#include "lib/fs.h"
#include "lib/log.h"
#include "lib/util.h"

/* The test hook (internal.h).  Only under a non-default cgroup root: an
 * installed kukeond whose environment happens to carry the variable never
 * kills itself. */
static enum kk_crash_point crash_point_from_env(const char *cgroup_root) {
  static const char *const names[] = {
      [KK_CRASH_AFTER_RUNC_START] = "after-runc-start",
      [KK_CRASH_AFTER_CELL_START] = "after-cell-start",
      [KK_CRASH_AFTER_CONTAINER_STOP] = "after-container-stop",
      [KK_CRASH_AFTER_CELL_STOP] = "after-cell-stop",
  };
  const char *want = getenv("KUKEON_TEST_CRASH_POINT");
  if (kk_empty(want) || strcmp(cgroup_root, KK_DEFAULT_CGROUP_ROOT) == 0)
    return KK_CRASH_NONE;
  for (size_t i = 1; i < KK_ARRAY_SIZE(names); i++)
    if (strcmp(want, names[i]) == 0)
      return (enum kk_crash_point)i;
  kk_warn("KUKEON_TEST_CRASH_POINT=%s: no such crash point (ignored)", want);
  return KK_CRASH_NONE;
}

void kk_ctl_crash_at(const struct kk_controller *c, enum kk_crash_point p) {
  if (c->crash_point == p && p != KK_CRASH_NONE)
    raise(SIGKILL);
}

int kk_controller_open(const struct kk_controller_config *cfg, struct kk_controller **out, kk_err_t *err) {
  const char *suffix = cfg->ns_suffix ? cfg->ns_suffix : KK_DEFAULT_NS_SUFFIX;
  const char *cgroot = cfg->cgroup_root ? cfg->cgroup_root : KK_DEFAULT_CGROUP_ROOT;
  if (kk_validate_ns_suffix(suffix, err) < 0 || kk_validate_cgroup_root(cgroot, err) < 0 ||
      (cfg->pod_subnet && kk_validate_pod_subnet(cfg->pod_subnet, err) < 0))
    return -1;
  struct kk_store *store = NULL;
  if (kk_store_open(cfg->run_path ? cfg->run_path : KK_DEFAULT_RUN_PATH, true, &store, err) < 0)
    return -1;
  struct kk_controller *c = kk_xzalloc(sizeof(*c));
  c->store = store;
  c->run_path = kk_xstrdup(kk_store_path(store));
  c->ns_suffix = kk_xstrdup(suffix);
  c->cgroup_root = kk_xstrdup(cgroot);
  c->pod_subnet = kk_xstrdup(cfg->pod_subnet ? cfg->pod_subnet : KK_DEFAULT_POD_SUBNET);
  c->runtime_dir = kk_xstrdup(cfg->runtime_dir ? cfg->runtime_dir : "/run/kukeon");
  const char *runc = cfg->runc ? cfg->runc : "runc";
  c->runc_bin = kk_which(runc); /* looked up once: runc is exec'd for every container */
  if (c->runc_bin == NULL)
    c->runc_bin = kk_xstrdup(runc); /* its exec says what is wrong, as before */
  c->pause_binary = cfg->pause_binary ? kk_xstrdup(cfg->pause_binary) : NULL;
  c->cfg = (struct kk_controller_config){c->run_path, c->ns_suffix, c->cgroup_root, c->pod_subnet,
                                         c->runtime_dir, c->runc_bin, c->pause_binary};
  kk_host_limits_read(&c->host);
  c->crash_point = crash_point_from_env(c->cgroup_root);
  /* A host without a usable cgroup2 still keeps metadata; every resource
   * then says "cgroup: unavailable" and why, and kuke doctor explains. */
  kk_err_t e = NULL;
  if (kk_cg_detect(NULL, &c->cg, &e) < 0 || c->cg->mode == KK_CG_MODE_LEGACY ||
      c->cg->mode == KK_CG_MODE_UNKNOWN) {
    c->cg_problem = kk_xstrdup(e ? e->msg : "no cgroup2 hierarchy on this host (see `kuke doctor`)");
    kk_error_free(&e);
    kk_cg_host_free(c->cg);
    c->cg = NULL;
  }
  *out = c;
  return 0;
}

void kk_controller_close(struct kk_controller *c) {
  if (c == NULL)
    return;
  kk_store_close(c->store);
  if (c->images)
    kk_image_store_close(c->images);
  kk_ctl_restarts_free(c);
  free(c->runtime_dir);
  free(c->runc_bin);
  free(c->pause_binary);
  free(c->monitor_exe);
  kk_cg_host_free(c->cg);
  free(c->cg_problem);
  free(c->run_path);
  free(c->ns_suffix);
  free(c->cgroup_root);
  free(c->pod_subnet);
  free(c);
}

void kk_controller_closep(struct kk_controller **c) {
  kk_controller_close(*c);
  *c = NULL;
}

const struct kk_controller_config *kk_controller_config(const struct kk_controller *c) { return &c->cfg; }

void kk_report_free(struct kk_report *r) {
  free(r->title);
  r->title = NULL;
  kk_strv_free(&r->lines);
}

void kk_report_line(struct kk_report *r, int indent, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *body = NULL;
  if (vasprintf(&body, fmt, ap) < 0)
    kk_oom();
  va_end(ap);
  kk_strv_push_owned(&r->lines, kk_asprintf("%*s%s", indent, "", body));
  free(body);
}

const char *kk_apply_action_name(enum kk_apply_action a) {
  static const char *names[] = {"created", "updated", "unchanged", "failed"};
  return names[a];
}

void kk_apply_result_free(struct kk_apply_result *r) {
  for (size_t i = 0; i < r->n; i++) {
    free(r->items[i].name);
    free(r->items[i].error);
    kk_strv_free(&r->items[i].changes);
    kk_strv_free(&r->items[i].warnings);
  }
  free(r->items);
  r->items = NULL;
  r->n = 0;
}

/* -------------------------------------------------------- status stamps */

/* Fill the status a freshly created resource starts with. */
static void stamp_new(struct kk_controller *c, struct kk_doc *doc) {
  int64_t now = kk_now();
  struct kk_ref ref = kk_ref_of(doc);
  kk_doc_reset_status(doc); /* status in a manifest is output only */
  struct kk_status_base *st = kk_doc_status_base(doc);
  if (st == NULL)
    return;
  st->created_at = st->updated_at = now;
  switch (doc->kind) {
  case KK_KIND_REALM:
    st->state = KK_REALM_READY;
    st->ready_at = now;
    free(st->cgroup_path);
    st->cgroup_path = kk_cgroup_path(c->cgroup_root, ref.name, NULL, NULL, NULL);
    break;
  case KK_KIND_SPACE:
    st->state = KK_SPACE_READY;
    st->ready_at = now;
    free(st->cgroup_path);
    st->cgroup_path = kk_cgroup_path(c->cgroup_root, ref.realm, ref.name, NULL, NULL);
    break;
  case KK_KIND_STACK:
    st->state = KK_STACK_READY;
    st->ready_at = now;
    free(st->cgroup_path);
    st->cgroup_path = kk_cgroup_path(c->cgroup_root, ref.realm, ref.space, ref.name, NULL);
    break;
  case KK_KIND_CELL: {
    struct kk_cell *cell = &doc->u.cell;
    st->state = KK_CELL_PENDING;
    free(st->cgroup_path);
    st->cgroup_path = kk_cgroup_path(c->cgroup_root, ref.realm, ref.space, ref.stack, ref.name);
    cell->status.network.bridge_name = kk_bridge_name(ref.realm, ref.space);
    cell->status.containers = cell->spec.n_containers ? kk_xzalloc(cell->spec.n_containers * sizeof(*cell->status.containers)) : NULL;
    cell->status.n_containers = cell->spec.n_containers;
    for (size_t i = 0; i < cell->spec.n_containers; i++) {
      struct kk_container_status *cs = &cell->status.containers[i];
      cs->name = kk_xstrdup(cell->spec.containers[i].id);
      cs->id = kk_xstrdup(cell->spec.containers[i].containerd_id);
      cs->state = KK_CTR_PENDING;
      cs->created_at = now;
    }
    break;
  }
  default:
    break;
  }
}

/* Move status from the stored document to the new one (spec updates keep
 * what was observed). */
static void carry_status(struct kk_doc *dst, const struct kk_doc *stored) {
  cleanup_doc struct kk_doc *copy = kk_doc_clone(stored);
  switch (dst->kind) {
#define SWAP_STATUS(member)                                                                       \
  do {                                                                                            \
    __typeof__(dst->u.member.status) tmp = dst->u.member.status;                                  \
    dst->u.member.status = copy->u.member.status;                                                 \
    copy->u.member.status = tmp;                                                                  \
  } while (0)
  case KK_KIND_REALM: SWAP_STATUS(realm); break;
  case KK_KIND_SPACE: SWAP_STATUS(space); break;
  case KK_KIND_STACK: SWAP_STATUS(stack); break;
  case KK_KIND_CELL: SWAP_STATUS(cell); break;
  case KK_KIND_CONTAINER: SWAP_STATUS(container); break;
  default: break;
#undef SWAP_STATUS
  }
  struct kk_status_base *st = kk_doc_status_base(dst);
  if (st)
    st->updated_at = kk_now();
}

/* Defaults the controller owns (they depend on its configuration).  The
 * peer policy sees the document as its author wrote it, before them.  A
 * seccomp profile file is read and checked now, before anything is
 * written; the bundle reads it again when the container starts. */
static int prepare(struct kk_controller *c, struct kk_doc *doc, const struct kk_policy *policy, kk_err_t *err) {
  if (kk_doc_normalize(doc, c->ns_suffix, err) < 0 || kk_doc_validate(doc, err) < 0 ||
      kk_policy_check(policy, doc, err) < 0 || kk_security_check(doc, err) < 0)
    return -1;
  if (doc->kind == KK_KIND_SPACE && kk_empty(doc->u.space.spec.cni_config_path)) {
    struct kk_ref ref = kk_ref_of(doc);
    cleanup_free char *rel = kk_store_rel_dir(&ref);
    doc->u.space.spec.cni_config_path = kk_asprintf("%s/%s/network.conflist", c->run_path, rel);
  }
  if (doc->kind == KK_KIND_CELL && kk_cell_root(&doc->u.cell) == NULL)
    kk_cell_add_pause_root(&doc->u.cell);
  if (doc->kind == KK_KIND_CELL) {
    struct kk_cell *cell = &doc->u.cell;
    for (size_t i = 0; i < cell->spec.n_containers; i++) {
      struct kk_container_spec *ct = &cell->spec.containers[i];
      if (kk_empty(ct->cni_config_path)) {
        struct kk_ref sref = {.kind = KK_KIND_SPACE, .realm = cell->spec.realm_id, .name = cell->spec.space_id};
        cleanup_free char *rel = kk_store_rel_dir(&sref);
        ct->cni_config_path = kk_asprintf("%s/%s/network.conflist", c->run_path, rel);
      }
    }
  }
  /* As the store will write it, before anything is written. */
  return kk_doc_check_size(doc, err);
}

/* ---------------------------------------------------------------- cgroups */

char *kk_ctl_cg_rel(const struct kk_ref *r) {
  switch (r->kind) {
  case KK_KIND_REALM: return kk_cg_rel(r->name, NULL, NULL, NULL);
  case KK_KIND_SPACE: return kk_cg_rel(r->realm, r->name, NULL, NULL);
  case KK_KIND_STACK: return kk_cg_rel(r->realm, r->space, r->name, NULL);
  default: return kk_cg_rel(r->realm, r->space, r->stack, r->name);
  }
}

static const struct kk_resources *resources_of(const struct kk_doc *d) {
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
static void limits_of(const struct kk_resources *r, const struct kk_resources *old, struct kk_cg_limits *l) {
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
  limits_of(resources_of(doc), old, &l);
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

static int cgroup_down(struct kk_controller *c, const struct kk_ref *ref, bool force, kk_err_t *err) {
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
static void fill_usage(struct kk_controller *c, struct kk_doc *doc) {
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

/* ----------------------------------------------------------------- create */

static void create_title(struct kk_controller *c, const struct kk_doc *doc, struct kk_report *rep) {
  struct kk_ref r = kk_ref_of(doc);
  free(rep->title);
  switch (doc->kind) {
  case KK_KIND_REALM:
    rep->title = kk_asprintf("Realm \"%s\" (namespace \"%s\")", r.name, doc->u.realm.spec.namespace_);
    break;
  case KK_KIND_SPACE: {
    cleanup_free char *net = kk_network_name(r.realm, r.name);
    rep->title = kk_asprintf("Space \"%s\" (realm \"%s\", network \"%s\")", r.name, r.realm, net);
    break;
  }
  case KK_KIND_STACK:
    rep->title = kk_asprintf("Stack \"%s\" (realm \"%s\", space \"%s\")", r.name, r.realm, r.space);
    break;
  case KK_KIND_CELL:
    rep->title = kk_asprintf("Cell \"%s\" (realm \"%s\", space \"%s\", stack \"%s\")", r.name, r.realm, r.space, r.stack);
    break;
  default:
    rep->title = kk_asprintf("%s \"%s\"", kk_kind_name(doc->kind), r.name);
  }
  (void)c;
}

/* Caller holds the tree lock.  `doc` must be prepared.  The cgroup comes
 * first and is removed again if the metadata cannot be written: a failed
 * create leaves nothing behind. */
static int create_locked(struct kk_controller *c, struct kk_doc *doc, bool stopped, struct kk_strv *lines,
                         struct kk_strv *warnings, kk_err_t *err) {
  stamp_new(c, doc);
  if (stopped && doc->kind == KK_KIND_CELL)
    doc->u.cell.status.base.state = KK_CELL_STOPPED; /* materialized, not started */
  struct kk_ref ref = kk_ref_of(doc);
  struct kk_ref parent = ref;
  bool created = false;
  /* The parent must exist before anything is made for the child. */
  if (ref.kind != KK_KIND_REALM) {
    parent.kind = (enum kk_kind)(ref.kind - 1);
    parent.name = ref.kind == KK_KIND_SPACE ? ref.realm : ref.kind == KK_KIND_STACK ? ref.space : ref.stack;
    if (!kk_store_exists(c->store, &parent))
      return kk_store_not_found(&parent, err);
  }
  if (kk_ctl_cgroup_up(c, doc, NULL, &created, lines, warnings, err) < 0)
    return -1;
  if (kk_store_put(c->store, doc, true, err) < 0) {
    if (created) {
      kk_err_t e = NULL;
      cleanup_free char *rel = kk_ctl_cg_rel(&ref);
      kk_cg_remove(c->cg, c->cgroup_root, rel, 0, &e);
      kk_error_free(&e);
    }
    return -1;
  }
  return 0;
}

int kk_ctl_create(struct kk_controller *c, struct kk_doc *doc, const struct kk_policy *policy, struct kk_report *rep,
                  kk_err_t *err) {
  if (doc->kind == KK_KIND_CONTAINER)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "containers are created as part of a cell");
  if (prepare(c, doc, policy, err) < 0)
    return -1;
  cleanup_close int lock = kk_store_lock(c->store, true, err);
  if (lock < 0)
    return -1;
  struct kk_ref ref = kk_ref_of(doc);
  if (kk_store_exists(c->store, &ref)) {
    cleanup_free char *what = kk_ref_describe(&ref);
    return kk_error_kind(err, KK_ERR_EXISTS, 0, "%s already exists", what);
  }
  struct kk_strv lines = {0}, warnings = {0};
  if (create_locked(c, doc, true, &lines, &warnings, err) < 0) {
    kk_strv_free(&lines);
    kk_strv_free(&warnings);
    return -1;
  }
  create_title(c, doc, rep);
  kk_report_line(rep, 2, "- metadata: created");
  for (size_t i = 0; i < lines.n; i++)
    kk_report_line(rep, 2, "%s", lines.v[i]);
  for (size_t i = 0; i < warnings.n; i++)
    kk_report_line(rep, 2, "- warning: %s", warnings.v[i]);
  kk_strv_free(&lines);
  kk_strv_free(&warnings);
  if (doc->kind == KK_KIND_CELL) {
    kk_report_line(rep, 2, "- root container: %s", doc->u.cell.spec.root_container_id);
    for (size_t i = 0; i < doc->u.cell.spec.n_containers; i++)
      kk_report_line(rep, 2, "- container \"%s\": %s", doc->u.cell.spec.containers[i].id,
                     doc->u.cell.spec.containers[i].image);
    kk_report_line(rep, 2, "- containers: not started");
  }
  return 0;
}

/* -------------------------------------------------------------- get/list */

/* What the monitors recorded, not only what was last persisted: reads
 * through the daemon and in-process agree without a reconcile pass. */
static void observe(struct kk_controller *c, struct kk_doc *doc) {
  if (doc->kind == KK_KIND_CELL) {
    kk_ctl_cell_observe(c, doc);
    return;
  }
  if (doc->kind != KK_KIND_CONTAINER)
    return;
  struct kk_ref ref = kk_ref_of(doc);
  struct kk_ref cref = {.kind = KK_KIND_CELL, .realm = ref.realm, .space = ref.space, .stack = ref.stack,
                        .name = ref.cell};
  cleanup_doc struct kk_doc *cell = NULL;
  kk_err_t e = NULL;
  if (kk_store_get(c->store, &cref, &cell, &e) < 0) {
    kk_error_free(&e);
    return;
  }
  kk_ctl_cell_observe(c, cell);
  for (size_t i = 0; i < cell->u.cell.spec.n_containers; i++) {
    if (!kk_streq(cell->u.cell.spec.containers[i].id, doc->u.container.spec.id))
      continue;
    cleanup_doc struct kk_doc *fresh = kk_container_doc_from_cell(&cell->u.cell, i);
    struct kk_container_status tmp = doc->u.container.status;
    doc->u.container.status = fresh->u.container.status;
    fresh->u.container.status = tmp;
  }
}

int kk_ctl_get(struct kk_controller *c, const struct kk_ref *ref, struct kk_doc **out, kk_err_t *err) {
  cleanup_close int lock = kk_store_lock(c->store, false, err);
  if (lock < 0)
    return -1;
  if (kk_store_get(c->store, ref, out, err) < 0)
    return -1;
  observe(c, *out);
  fill_usage(c, *out);
  return 0;
}

int kk_ctl_list(struct kk_controller *c, enum kk_kind kind, const struct kk_ref *scope, struct kk_doc_list *out,
                struct kk_strv *warnings, kk_err_t *err) {
  cleanup_close int lock = kk_store_lock(c->store, false, err);
  if (lock < 0)
    return -1;
  size_t before = out->n;
  cleanup_store_problems struct kk_store_problems problems = {0};
  if (kk_store_list_report(c->store, kind, scope, out, warnings ? &problems : NULL, err) < 0)
    return -1;
  for (size_t i = 0; i < problems.n; i++)
    kk_strv_push_owned(warnings, kk_asprintf("%s: %s", problems.v[i].path, problems.v[i].reason));
  for (size_t i = before; i < out->n; i++) {
    observe(c, out->docs[i]);
    fill_usage(c, out->docs[i]);
  }
  return 0;
}

/* ---------------------------------------------------------- temp files */

static int sweep_path(const char *path) {
  cleanup_close int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
  return fd < 0 ? 0 : kk_sweep_stale_temps(fd);
}

/* path's subdirectories (skip: one name not to enter), and with depth 2
 * theirs; no deeper. */
static int sweep_subdirs(const char *path, int depth, const char *skip) {
  kk_err_t e = NULL;
  cleanup_dir DIR *d = kk_dir_open_at(AT_FDCWD, path, &e);
  kk_error_free(&e);
  int removed = 0;
  struct dirent *de;
  while (d && (de = readdir(d)) != NULL) {
    if (de->d_name[0] == '.' || (skip && strcmp(de->d_name, skip) == 0))
      continue;
    cleanup_free char *sub = kk_asprintf("%s/%s", path, de->d_name);
    removed += sweep_path(sub);
    if (depth > 1)
      removed += sweep_subdirs(sub, depth - 1, NULL);
  }
  return removed;
}

/* Temp files a writer killed mid-write left, wherever kukeon writes
 * atomically: the store tree, the staged monitor and pause programs, the
 * image indexes, the runtime dir (pid file) and every container's bundle
 * (config.json, and the monitor's own records).  Only directories, never a
 * walk of a rootfs, an upper dir or the blobs.  Writers alive keep theirs
 * (kk_sweep_stale_temps).  Cost: one readdir per directory, a few hundred
 * microseconds for tens of cells, so every reconcile pass does it. */
static void sweep_temps(struct kk_controller *c) {
  int n = kk_store_sweep_temps(c->store);
  cleanup_free char *bin = kk_asprintf("%s/bin", c->run_path);
  cleanup_free char *images = kk_asprintf("%s/images", c->run_path);
  cleanup_free char *bundles = kk_asprintf("%s/bundles", c->runtime_dir);
  n += sweep_path(bin) + sweep_subdirs(bin, 1, NULL);
  n += sweep_path(images) + sweep_subdirs(images, 1, "blobs");
  n += sweep_path(c->runtime_dir) + sweep_subdirs(bundles, 2, NULL);
  if (n > 0)
    kk_info("removed %d temp file(s) left by writers that died mid-write", n);
}

/* ---------------------------------------------------------------- init */

/* Ensure one resource exists; report "created" or "already existed".  An
 * existing resource whose cgroup is gone (a reboot) gets it back. */
static int ensure(struct kk_controller *c, struct kk_doc *doc, bool *created, struct kk_strv *warnings,
                  kk_err_t *err) {
  if (prepare(c, doc, NULL, err) < 0)
    return -1;
  struct kk_ref ref = kk_ref_of(doc);
  *created = false;
  struct kk_strv lines = {0};
  int ret;
  if (kk_store_exists(c->store, &ref)) {
    cleanup_doc struct kk_doc *stored = NULL;
    bool made = false;
    ret = kk_store_get(c->store, &ref, &stored, err);
    if (ret == 0)
      ret = kk_ctl_cgroup_up(c, stored, NULL, &made, &lines, warnings, err);
    if (ret == 0 && made)
      ret = kk_store_put(c->store, stored, false, err);
  } else {
    *created = true;
    ret = create_locked(c, doc, false, &lines, warnings, err);
  }
  kk_strv_free(&lines);
  return ret;
}

static struct kk_doc *new_realm(const char *name) {
  struct kk_doc *d = kk_doc_new(KK_KIND_REALM);
  d->u.realm.metadata.name = kk_xstrdup(name);
  return d;
}
static struct kk_doc *new_space(const char *realm, const char *name) {
  struct kk_doc *d = kk_doc_new(KK_KIND_SPACE);
  d->u.space.metadata.name = kk_xstrdup(name);
  d->u.space.spec.realm_id = kk_xstrdup(realm);
  return d;
}
static struct kk_doc *new_stack(const char *realm, const char *space, const char *name) {
  struct kk_doc *d = kk_doc_new(KK_KIND_STACK);
  d->u.stack.metadata.name = kk_xstrdup(name);
  d->u.stack.spec.realm_id = kk_xstrdup(realm);
  d->u.stack.spec.space_id = kk_xstrdup(space);
  return d;
}

static int ensure_hierarchy(struct kk_controller *c, const char *realm, const char *space, const char *stack,
                            struct kk_report *rep, bool *any_created, kk_err_t *err) {
  struct kk_doc *docs[3] = {new_realm(realm), new_space(realm, space), new_stack(realm, space, stack)};
  int ret = 0;
  for (int i = 0; i < 3 && ret == 0; i++) {
    bool created = false;
    struct kk_strv warnings = {0};
    ret = ensure(c, docs[i], &created, &warnings, err);
    if (ret == 0) {
      kk_report_line(rep, 4, "- %s \"%s\": %s", kk_kind_lower(docs[i]->kind), kk_doc_name(docs[i]),
                     created ? "created" : "already existed");
      for (size_t w = 0; w < warnings.n; w++)
        kk_report_line(rep, 6, "warning: %s", warnings.v[w]);
      *any_created |= created;
    }
    kk_strv_free(&warnings);
  }
  for (int i = 0; i < 3; i++)
    kk_doc_free(docs[i]);
  return ret;
}

int kk_ctl_init(struct kk_controller *c, const char *realm, const char *space, struct kk_report *rep, kk_err_t *err) {
  realm = kk_empty(realm) ? "default" : realm;
  space = kk_empty(space) ? "default" : space;
  if (kk_validate_name(KK_KIND_REALM, realm, err) < 0 || kk_validate_name(KK_KIND_SPACE, space, err) < 0)
    return -1;
  cleanup_close int lock = kk_store_lock(c->store, true, err);
  if (lock < 0)
    return -1;
  sweep_temps(c); /* init is rare: the whole walk costs nothing here */
  bool any = false;
  struct kk_report body = {0};
  if (c->cg != NULL) {
    struct kk_cg_ensure_result res = {0};
    if (kk_cg_ensure(c->cg, c->cgroup_root, "", &res, err) < 0) {
      kk_cg_ensure_result_free(&res);
      return kk_error_wrap(err, "kukeon root cgroup %s", c->cgroup_root);
    }
    kk_report_line(&body, 2, "- kukeon root cgroup %s: %s", c->cgroup_root,
                   kk_strv_contains(&res.created, c->cgroup_root) ? "created" : "already existed");
    for (size_t i = 0; i < res.warnings.n; i++)
      kk_report_line(&body, 4, "warning: %s", res.warnings.v[i]);
    kk_cg_ensure_result_free(&res);
  } else {
    kk_report_line(&body, 2, "- kukeon root cgroup %s: unavailable (%s)", c->cgroup_root, c->cg_problem);
  }
  kk_report_line(&body, 2, "Default hierarchy:");
  int ret = ensure_hierarchy(c, realm, space, "default", &body, &any, err);
  if (ret == 0) {
    kk_report_line(&body, 2, "System hierarchy:");
    ret = ensure_hierarchy(c, KK_SYSTEM_REALM, KK_SYSTEM_SPACE, KK_SYSTEM_STACK, &body, &any, err);
  }
  if (ret < 0) {
    kk_report_free(&body);
    return -1;
  }
  cleanup_free char *ns = kk_namespace_name(realm, c->ns_suffix);
  cleanup_free char *sys_ns = kk_namespace_name(KK_SYSTEM_REALM, c->ns_suffix);
  rep->title = kk_xstrdup(any ? "Initialized Kukeon runtime" : "Kukeon runtime already initialized");
  kk_report_line(rep, 0, "Realm: %s (namespace: %s)", realm, ns);
  kk_report_line(rep, 0, "System realm: %s (namespace: %s)", KK_SYSTEM_REALM, sys_ns);
  kk_report_line(rep, 0, "Run path: %s", c->run_path);
  kk_report_line(rep, 0, "Actions:");
  for (size_t i = 0; i < body.lines.n; i++)
    kk_strv_push(&rep->lines, body.lines.v[i]);
  kk_report_free(&body);
  return 0;
}

/* --------------------------------------------------------------- delete */

static enum kk_kind child_kind(enum kk_kind k) { return (enum kk_kind)(k + 1); }

static struct kk_ref child_scope(const struct kk_ref *ref) {
  struct kk_ref s = *ref;
  s.kind = child_kind(ref->kind);
  switch (ref->kind) {
  case KK_KIND_REALM: s.realm = ref->name; break;
  case KK_KIND_SPACE: s.space = ref->name; break;
  case KK_KIND_STACK: s.stack = ref->name; break;
  default: break;
  }
  s.name = NULL;
  return s;
}

/* A cell whose state file cannot be read, as far as the names tell: the
 * container ids of its containers/<id>.yaml files and of the bundles and
 * writable layers named <space>_<stack>_<cell>_<id> (the root's id is
 * "root" there).  Enough for teardown to stop and remove what runc,
 * the monitors and the layers hold under those names. */
static void add_named_container(struct kk_cell *cell, const struct kk_ref *ref, const char *id) {
  bool root = kk_streq(id, KK_ROOT_CONTAINER_ID);
  cleanup_free char *rid = kk_container_runtime_id(ref->space, ref->stack, ref->name, id, root);
  for (size_t i = 0; i < cell->spec.n_containers; i++)
    if (kk_streq(cell->spec.containers[i].containerd_id, rid))
      return;
  cell->spec.containers =
      kk_xrealloc(cell->spec.containers, (cell->spec.n_containers + 1) * sizeof(*cell->spec.containers));
  struct kk_container_spec *ct = &cell->spec.containers[cell->spec.n_containers++];
  memset(ct, 0, sizeof(*ct));
  ct->id = kk_xstrdup(id);
  ct->containerd_id = kk_steal(&rid);
  ct->root = root;
}

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
      add_named_container(cell, ref, id);
  }
}

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
  cleanup_free char *prefix = kk_asprintf("%s_%s_%s_", ref->space, ref->stack, ref->name);
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

static int delete_locked(struct kk_controller *c, const struct kk_ref *ref, bool cascade, bool force,
                         struct kk_report *rep, kk_err_t *err) {
  if (ref->kind < KK_KIND_CELL) {
    struct kk_ref scope = child_scope(ref);
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
      if (delete_locked(c, &kr, true, force, rep, err) < 0) {
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
  if (cgroup_down(c, ref, force, err) < 0)
    return -1;
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
  if (delete_locked(c, ref, cascade, force, rep, err) < 0)
    return -1;
  switch (ref->kind) {
  case KK_KIND_REALM: rep->title = kk_asprintf("Deleted realm \"%s\"", ref->name); break;
  case KK_KIND_SPACE: rep->title = kk_asprintf("Deleted space \"%s\" from realm \"%s\"", ref->name, ref->realm); break;
  case KK_KIND_STACK: rep->title = kk_asprintf("Deleted stack \"%s\" from space \"%s\"", ref->name, ref->space); break;
  default: rep->title = kk_asprintf("Deleted cell \"%s\" from stack \"%s\"", ref->name, ref->stack); break;
  }
  return 0;
}

/* ---------------------------------------------------------------- apply */

/* Changes apply refuses: they need delete + recreate. */
static void breaking_changes(const struct kk_doc *stored, const struct kk_doc *want, struct kk_strv *out) {
  switch (want->kind) {
  case KK_KIND_REALM:
    if (!kk_streq(stored->u.realm.spec.namespace_, want->u.realm.spec.namespace_))
      kk_strv_push(out, "spec.namespace");
    break;
  case KK_KIND_SPACE:
    if (!kk_streq(stored->u.space.spec.cni_config_path, want->u.space.spec.cni_config_path))
      kk_strv_push(out, "spec.cniConfigPath");
    break;
  case KK_KIND_CELL: {
    const struct kk_cell *a = &stored->u.cell, *b = &want->u.cell;
    if (a->spec.nested_cgroup_runtime != b->spec.nested_cgroup_runtime)
      kk_strv_push(out, "spec.nestedCgroupRuntime");
    for (size_t i = 0; i < b->spec.n_containers; i++) {
      const struct kk_container_spec *nb = &b->spec.containers[i];
      for (size_t j = 0; j < a->spec.n_containers; j++) {
        const struct kk_container_spec *na = &a->spec.containers[j];
        if (!kk_streq(na->id, nb->id) || nb->root)
          continue;
        if (na->host_network != nb->host_network)
          kk_strv_push_owned(out, kk_asprintf("spec.containers[%s].hostNetwork", nb->id));
        if (na->host_pid != nb->host_pid)
          kk_strv_push_owned(out, kk_asprintf("spec.containers[%s].hostPID", nb->id));
        if (na->host_cgroup != nb->host_cgroup)
          kk_strv_push_owned(out, kk_asprintf("spec.containers[%s].hostCgroup", nb->id));
      }
    }
    break;
  }
  default:
    break;
  }
}

/* Start a cell and persist what came of it (Failed, with the reason, when
 * the start failed).  spec_on_disk: the stored spec is this one, only the
 * status is new (no fsync then, see kk_store_put_status). */
static int start_and_put(struct kk_controller *c, struct kk_doc *cell, bool spec_on_disk, kk_err_t *err) {
  int r = kk_ctl_cell_start(c, cell, err);
  if (r == 0)
    kk_ctl_crash_at(c, KK_CRASH_AFTER_CELL_START);
  cell->u.cell.status.base.updated_at = kk_now();
  kk_err_t e = NULL;
  int w = spec_on_disk ? kk_store_put_status(c->store, cell, r < 0 ? &e : err)
                       : kk_store_put(c->store, cell, false, r < 0 ? &e : err);
  if (w < 0) {
    if (r < 0)
      kk_error_free(&e);
    return -1;
  }
  return r;
}

/* A new cell comes up, or leaves nothing behind: no processes, mounts,
 * bundles, cgroup or metadata. */
static int bring_up_new(struct kk_controller *c, struct kk_doc *cell, kk_err_t *err) {
  if (start_and_put(c, cell, true, err) == 0)
    return 0;
  struct kk_ref ref = kk_ref_of(cell);
  kk_err_t e = NULL;
  if (kk_ctl_cell_teardown(c, cell, &e) < 0 || cgroup_down(c, &ref, true, &e) < 0 ||
      kk_store_delete(c->store, &ref, &e) < 0) {
    kk_warn("cleaning up cell %s after a failed start: %s", ref.name, e->msg);
    kk_error_free(&e);
  }
  return -1;
}

/* The missing parents of a cell are created by apply. */
static int ensure_cell_parents(struct kk_controller *c, const struct kk_doc *cell, kk_err_t *err) {
  const struct kk_cell *cl = &cell->u.cell;
  struct kk_doc *docs[3] = {new_realm(cl->spec.realm_id), new_space(cl->spec.realm_id, cl->spec.space_id),
                            new_stack(cl->spec.realm_id, cl->spec.space_id, cl->spec.stack_id)};
  int ret = 0;
  for (int i = 0; i < 3 && ret == 0; i++) {
    bool created;
    struct kk_strv warnings = {0};
    ret = ensure(c, docs[i], &created, &warnings, err);
    kk_strv_free(&warnings);
  }
  for (int i = 0; i < 3; i++)
    kk_doc_free(docs[i]);
  return ret;
}

/* A standalone Container document lands in its cell. */
static int apply_container(struct kk_controller *c, struct kk_doc *doc, struct kk_apply_item *it, kk_err_t *err) {
  struct kk_ref ref = kk_ref_of(doc);
  struct kk_ref cref = {.kind = KK_KIND_CELL, .realm = ref.realm, .space = ref.space, .stack = ref.stack,
                        .name = ref.cell};
  cleanup_doc struct kk_doc *cell = NULL;
  if (kk_store_get(c->store, &cref, &cell, err) < 0)
    return -1;
  struct kk_cell *cl = &cell->u.cell;
  struct kk_container_spec *slot = NULL;
  for (size_t i = 0; i < cl->spec.n_containers; i++)
    if (kk_streq(cl->spec.containers[i].id, doc->u.container.spec.id))
      slot = &cl->spec.containers[i];
  cleanup_doc struct kk_doc *wrap = kk_doc_new(KK_KIND_CELL);
  if (slot != NULL) {
    /* Compare through a one-container cell so the schema diff names fields. */
    cleanup_doc struct kk_doc *cur = kk_container_doc_from_cell(cl, (size_t)(slot - cl->spec.containers));
    kk_doc_spec_diff(cur, doc, &it->changes);
    if (it->changes.n == 0) {
      it->action = KK_APPLY_UNCHANGED;
      return 0;
    }
    if (slot->root)
      return kk_error_kind(err, KK_ERR_CONFLICT, 0, "container \"%s\" is the root of cell \"%s\": apply the cell instead",
                           slot->id, ref.cell);
    cleanup_doc struct kk_doc *tmp = kk_doc_clone(doc);
    struct kk_container_spec old = *slot;
    *slot = tmp->u.container.spec;
    memset(&tmp->u.container.spec, 0, sizeof(tmp->u.container.spec));
    tmp->u.container.spec = old; /* freed with tmp */
    it->action = KK_APPLY_UPDATED;
  } else {
    cleanup_doc struct kk_doc *tmp = kk_doc_clone(doc);
    cl->spec.containers = kk_xrealloc(cl->spec.containers, (cl->spec.n_containers + 1) * sizeof(*cl->spec.containers));
    cl->spec.containers[cl->spec.n_containers++] = tmp->u.container.spec;
    memset(&tmp->u.container.spec, 0, sizeof(tmp->u.container.spec));
    cl->status.containers =
        kk_xrealloc(cl->status.containers, (cl->status.n_containers + 1) * sizeof(*cl->status.containers));
    struct kk_container_status *cs = &cl->status.containers[cl->status.n_containers++];
    memset(cs, 0, sizeof(*cs));
    cs->name = kk_xstrdup(doc->u.container.spec.id);
    cs->id = kk_xstrdup(doc->u.container.spec.containerd_id);
    cs->state = KK_CTR_PENDING;
    cs->created_at = kk_now();
    it->action = KK_APPLY_CREATED;
  }
  cl->status.base.updated_at = kk_now();
  return kk_store_put(c->store, cell, false, err);
}

static int apply_one(struct kk_controller *c, struct kk_doc *doc, struct kk_apply_item *it, kk_err_t *err) {
  if (doc->kind == KK_KIND_CONTAINER)
    return apply_container(c, doc, it, err);
  struct kk_ref ref = kk_ref_of(doc);
  if (!kk_store_exists(c->store, &ref)) {
    if (doc->kind == KK_KIND_CELL && ensure_cell_parents(c, doc, err) < 0)
      return -1;
    struct kk_strv lines = {0};
    int r = create_locked(c, doc, false, &lines, &it->warnings, err);
    kk_strv_free(&lines);
    if (r < 0)
      return -1;
    if (doc->kind == KK_KIND_CELL && bring_up_new(c, doc, err) < 0)
      return -1;
    it->action = KK_APPLY_CREATED;
    return 0;
  }
  cleanup_doc struct kk_doc *stored = NULL;
  if (kk_store_get(c->store, &ref, &stored, err) < 0)
    return -1;
  kk_policy_unredact(doc, stored); /* a realm read back by a restricted peer */
  struct kk_strv breaking = {0};
  breaking_changes(stored, doc, &breaking);
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
    /* Unchanged but not running (killed, failed): apply brings it back. */
    int st = stored->u.cell.status.base.state;
    if (st != KK_CELL_STOPPED && st != KK_CELL_FAILED && st != KK_CELL_PENDING)
      return 0;
    it->action = KK_APPLY_UPDATED;
    return start_and_put(c, stored, true, err);
  }
  carry_status(doc, stored);
  /* New limits (and a cgroup lost to a reboot) before the metadata says so. */
  struct kk_strv lines = {0};
  bool created = false;
  int r = kk_ctl_cgroup_up(c, doc, resources_of(stored), &created, &lines, &it->warnings, err);
  kk_strv_free(&lines);
  if (r < 0)
    return -1;
  it->action = KK_APPLY_UPDATED;
  if (doc->kind == KK_KIND_CELL) {
    if (kk_ctl_cell_update(c, stored, doc, err) < 0)
      return -1;
    return start_and_put(c, doc, false, err);
  }
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
    ret = prepare(c, docs.docs[i], policy, err);
  cleanup_close int lock = ret == 0 ? kk_store_lock(c->store, true, err) : -1;
  if (ret == 0 && lock < 0)
    ret = -1;
  if (ret == 0) {
    /* Parents before children: by kind, file order within a kind. */
    res->items = kk_xzalloc(docs.n * sizeof(*res->items));
    for (int kind = 0; kind < KK_KIND_COUNT; kind++) {
      for (size_t i = 0; i < docs.n; i++) {
        if ((int)docs.docs[i]->kind != kind)
          continue;
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
  }
  kk_doc_list_free(&docs);
  return ret;
}

/* ------------------------------------------------------- cell lifecycle */

int kk_ctl_cell_op(struct kk_controller *c, const struct kk_ref *ref, enum kk_cell_op op, struct kk_report *rep,
                   kk_err_t *err) {
  cleanup_close int lock = kk_store_lock(c->store, true, err);
  if (lock < 0)
    return -1;
  cleanup_doc struct kk_doc *cell = NULL;
  if (kk_store_get(c->store, ref, &cell, err) < 0)
    return -1;
  kk_ctl_cell_observe(c, cell);
  struct kk_cell *cl = &cell->u.cell;
  int st = cl->status.base.state;
  int r = 0;
  const char *verb = "Started";
  switch (op) {
  case KK_CELL_START:
    r = start_and_put(c, cell, true, err);
    break;
  case KK_CELL_STOP:
  case KK_CELL_KILL:
    verb = op == KK_CELL_STOP ? "Stopped" : "Killed";
    r = kk_ctl_cell_stop(c, cell, op == KK_CELL_STOP ? SIGTERM : SIGKILL, -1, err);
    if (r == 0)
      kk_ctl_crash_at(c, KK_CRASH_AFTER_CELL_STOP);
    cl->status.base.updated_at = kk_now();
    if (r == 0)
      r = kk_store_put_status(c->store, cell, err);
    break;
  case KK_CELL_RESTART:
    verb = "Restarted";
    if (st == KK_CELL_PENDING || st == KK_CELL_UNKNOWN)
      return kk_error_kind(err, KK_ERR_CONFLICT, 0,
                           "cell \"%s\" exists in %s state; delete it with `kuke delete cell %s` before restarting",
                           ref->name, kk_state_name(KK_KIND_CELL, st), ref->name);
    if (kk_ctl_cell_stop(c, cell, SIGTERM, -1, err) < 0)
      return -1;
    r = start_and_put(c, cell, true, err);
    break;
  }
  if (r < 0)
    return -1;
  rep->title = kk_asprintf("%s cell \"%s\" from stack \"%s\"", verb, ref->name, ref->stack);
  return 0;
}

/* ------------------------------------------------------------ reconcile */

/* Cells: statuses from the monitors, restart policies, auto-delete.  What
 * changed is persisted. */
static void reconcile_cells(struct kk_controller *c) {
  cleanup_doc_list struct kk_doc_list cells = {0};
  cleanup_store_problems struct kk_store_problems unreadable = {0}; /* warned about by the pass */
  kk_err_t e = NULL;
  if (kk_store_list_report(c->store, KK_KIND_CELL, NULL, &cells, &unreadable, &e) < 0) {
    kk_warn("reconcile: %s", e->msg);
    kk_error_free(&e);
    return;
  }
  for (size_t i = 0; i < cells.n; i++) {
    struct kk_doc *cell = cells.docs[i];
    struct kk_ref ref = kk_ref_of(cell);
    cleanup_free char *before = kk_doc_to_yaml(cell);
    bool deleted = false;
    if (kk_ctl_cell_supervise(c, cell, &deleted, &e) == 0 && deleted) {
      if (cgroup_down(c, &ref, true, &e) == 0 && kk_store_delete_volatile(c->store, &ref, &e) == 0)
        kk_info("reconcile: auto-deleted cell %s", ref.name);
    } else if (e == NULL) {
      cleanup_free char *after = kk_doc_to_yaml(cell);
      if (strcmp(before, after) != 0) {
        cell->u.cell.status.base.updated_at = kk_now();
        kk_store_put_status(c->store, cell, &e); /* supervise changes statuses only */
      }
    }
    if (e) {
      kk_warn("reconcile cell %s: %s", ref.name, e->msg);
      kk_error_free(&e);
    }
  }
}


/* The writable layers of a cell's containers (<space>_<stack>_<cell>_*;
 * names hold no '_'). */
static void remove_cell_layers(struct kk_controller *c, const struct kk_ref *cell) {
  cleanup_free char *ns = kk_namespace_name(cell->realm, c->ns_suffix);
  cleanup_free char *dir = kk_asprintf("%s/containers/%s", c->run_path, ns);
  cleanup_free char *prefix = kk_asprintf("%s_%s_%s_", cell->space, cell->stack, cell->name);
  kk_err_t e = NULL;
  cleanup_dir DIR *d = kk_dir_open_at(AT_FDCWD, dir, &e);
  kk_error_free(&e);
  struct dirent *de;
  while (d && (de = readdir(d)) != NULL) {
    if (!kk_has_prefix(de->d_name, prefix))
      continue;
    if (kk_rm_rf_at(dirfd(d), de->d_name, &e) < 0) {
      kk_warn("remove the writable layer %s/%s: %s", dir, de->d_name, e->msg);
      kk_error_free(&e);
    }
  }
}

/* What an ephemeral cell torn by a power cut left: its containers'
 * writable layers, and its cgroup if a daemon that died in the middle of
 * creating it made one.  The power cut took its mounts, processes and
 * bundles. */
static void remove_torn_layers(void *ctx, const struct kk_ref *cell) {
  struct kk_controller *c = ctx;
  kk_err_t cg_err = NULL;
  if (cgroup_down(c, cell, true, &cg_err) < 0) {
    kk_warn("remove the cgroup of torn cell %s: %s", cell->name, cg_err->msg);
    kk_error_free(&cg_err);
  }
  remove_cell_layers(c, cell);
  kk_info("removed cell %s, torn by a power cut (it was to be deleted once its containers ended)", cell->name);
}

/* A directory without its resource file (kk_store_sweep_unborn): a create
 * killed between making the cgroup and writing the file, or a delete
 * killed between unlinking the file and removing the directory.  Its
 * cgroup goes, and a cell's writable layers.  A cgroup with processes in
 * it stays, and the directory with it: something runs that no resource
 * describes, which is warned about on every pass rather than killed. */
static int remove_unborn(void *ctx, const struct kk_ref *ref) {
  struct kk_controller *c = ctx;
  kk_err_t e = NULL;
  if (cgroup_down(c, ref, false, &e) < 0) {
    kk_warn("%s %s has a directory but no metadata: %s", kk_kind_lower(ref->kind), ref->name, e->msg);
    kk_error_free(&e);
    return -1;
  }
  if (ref->kind == KK_KIND_CELL)
    remove_cell_layers(c, ref);
  kk_info("removed what a create or delete of %s %s killed half way left", kk_kind_lower(ref->kind), ref->name);
  return 0;
}

/* One pass: ephemeral cells a power cut tore go (on the first pass only:
 * they come from a power cut, or a daemon that died creating one);
 * directories a killed create or delete left without their file go, and
 * temp files of writers that died; every
 * realm, space, stack and cell gets its cgroup back if it is gone (after a
 * reboot /sys/fs/cgroup starts empty). */
int kk_ctl_reconcile(struct kk_controller *c, kk_err_t *err) {
  cleanup_close int lock = kk_store_lock(c->store, true, err);
  if (lock < 0)
    return -1;
  if (!c->torn_swept) {
    if (kk_store_sweep_torn(c->store, remove_torn_layers, c, err) < 0)
      return -1;
    c->torn_swept = true;
  }
  kk_store_sweep_unborn(c->store, remove_unborn, c);
  sweep_temps(c);
  size_t healed = 0, seen = 0;
  for (int kind = KK_KIND_REALM; kind <= KK_KIND_CELL; kind++) {
    cleanup_doc_list struct kk_doc_list docs = {0};
    if (kk_store_list(c->store, (enum kk_kind)kind, NULL, &docs, err) < 0)
      return -1;
    for (size_t i = 0; i < docs.n && c->cg; i++) {
      struct kk_ref ref = kk_ref_of(docs.docs[i]);
      cleanup_free char *rel = kk_ctl_cg_rel(&ref);
      bool exists = false, owned = false;
      kk_err_t e = NULL;
      seen++;
      if (kk_cg_exists(c->cg, c->cgroup_root, rel, &exists, &owned, &e) == 0 && !exists) {
        struct kk_strv lines = {0}, warnings = {0};
        bool made = false;
        if (kk_ctl_cgroup_up(c, docs.docs[i], NULL, &made, &lines, &warnings, &e) == 0 &&
            kk_store_put(c->store, docs.docs[i], false, &e) == 0)
          healed++;
        kk_strv_free(&lines);
        kk_strv_free(&warnings);
      }
      if (e) {
        kk_warn("reconcile %s %s: %s", kk_kind_lower(ref.kind), ref.name, e->msg);
        kk_error_free(&e);
      }
    }
  }
  reconcile_cells(c);
  if (healed)
    kk_info("reconcile: re-created %zu missing cgroup(s)", healed);
  kk_debug("reconcile pass: %zu resource(s)", seen);
  return 0;
}

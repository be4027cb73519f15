/* Create, get, list and init: resources come into being (metadata and
 * cgroup) and are read back with what their containers' monitors say. */
#include <stdlib.h>

#include "cgroupfs/cgroupfs.h"
#include "controller/internal.h"
#include "lib/log.h"
#include "lib/util.h"

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


static void default_cni_config(struct kk_controller *c, struct kk_container_spec *ct, const char *realm,
                               const char *space) {
  if (!kk_empty(ct->cni_config_path))
    return;
  struct kk_ref sref = {.kind = KK_KIND_SPACE, .realm = realm, .name = space};
  cleanup_free char *rel = kk_store_rel_dir(&sref);
  free(ct->cni_config_path);
  ct->cni_config_path = kk_asprintf("%s/%s/network.conflist", c->run_path, rel);
}

/* Defaults the controller owns (they depend on its configuration).  The
 * peer policy sees the document as its author wrote it, before them.  A
 * seccomp profile file is read and checked now, before anything is
 * written; the bundle reads it again when the container starts. */
int kk_ctl_prepare(struct kk_controller *c, struct kk_doc *doc, const struct kk_policy *policy, kk_err_t *err) {
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
  if (doc->kind == KK_KIND_CELL)
    for (size_t i = 0; i < doc->u.cell.spec.n_containers; i++)
      default_cni_config(c, &doc->u.cell.spec.containers[i], doc->u.cell.spec.realm_id, doc->u.cell.spec.space_id);
  if (doc->kind == KK_KIND_CONTAINER) /* as the cell it lands in has it */
    default_cni_config(c, &doc->u.container.spec, doc->u.container.spec.realm_id, doc->u.container.spec.space_id);
  /* As the store will write it, before anything is written. */
  return kk_doc_check_size(doc, err);
}

/* The effective specs of containers of realm/space (kk_container_inherit):
 * the space's defaults.container and the daemon's default memory limit. */
int kk_ctl_inherit(struct kk_controller *c, const char *realm, const char *space, struct kk_container_spec *v,
                   size_t n, kk_err_t *err) {
  struct kk_ref sref = {.kind = KK_KIND_SPACE, .realm = realm, .name = space};
  cleanup_doc struct kk_doc *sp = NULL;
  if (kk_store_exists(c->store, &sref) && kk_store_get(c->store, &sref, &sp, err) < 0)
    return -1;
  for (size_t i = 0; i < n; i++)
    kk_container_inherit(&v[i], sp ? &sp->u.space.spec.defaults.container : NULL,
                         c->cfg.default_memory_limit_bytes);
  return 0;
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

/* A new space's subnet and conflist; without them the space goes again. */
static int create_space_network(struct kk_controller *c, const struct kk_doc *doc, kk_err_t *err) {
  struct kk_ref r = kk_ref_of(doc);
  const struct kk_ref *ref = &r;
  if (kk_ctl_space_net_ensure(c, ref, false, false, err) == 0) {
    if (kk_ctl_space_fw_ensure(c, doc, err) == 0)
      return 0;
    kk_ctl_space_fw_remove(c, ref);
  }
  kk_err_t e = NULL;
  if (kk_store_delete(c->store, ref, &e) < 0) {
    kk_warn("space %s: %s", ref->name, e->msg);
    kk_error_free(&e);
  }
  return -1;
}

/* Caller holds the tree lock.  `doc` must be prepared.  The cgroup comes
 * first and is removed again if the metadata cannot be written: a failed
 * create leaves nothing behind. */
int kk_ctl_create_locked(struct kk_controller *c, struct kk_doc *doc, bool stopped, struct kk_strv *lines,
                         struct kk_strv *warnings, kk_err_t *err) {
  stamp_new(c, doc);
  if (stopped && doc->kind == KK_KIND_CELL)
    doc->u.cell.status.base.state = KK_CELL_STOPPED; /* materialized, not started */
  struct kk_ref ref = kk_ref_of(doc);
  struct kk_ref parent;
  bool created = false;
  /* The parent must exist before anything is made for the child. */
  if (kk_ctl_parent_ref(&ref, &parent) && !kk_store_exists(c->store, &parent))
    return kk_store_not_found(&parent, err);
  if (doc->kind == KK_KIND_CELL && kk_ctl_inherit(c, ref.realm, ref.space, doc->u.cell.spec.containers,
                                                  doc->u.cell.spec.n_containers, err) < 0)
    return -1;
  if (kk_ctl_cgroup_up(c, doc, NULL, &created, lines, warnings, err) < 0)
    return -1;
  if (kk_store_put(c->store, doc, true, err) < 0 ||
      (doc->kind == KK_KIND_SPACE && create_space_network(c, doc, err) < 0)) {
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

/* The metadata's outcome, then the cgroup's lines and the warnings. */
static void report_outcome(struct kk_report *rep, const char *metadata, const struct kk_strv *lines,
                           const struct kk_strv *warnings) {
  kk_report_line(rep, 2, "- metadata: %s", metadata);
  for (size_t i = 0; i < lines->n; i++)
    kk_report_line(rep, 2, "%s", lines->v[i]);
  for (size_t i = 0; i < warnings->n; i++)
    kk_report_line(rep, 2, "- warning: %s", warnings->v[i]);
}

/* An existing realm, space or stack as the host should have it: its
 * cgroup back when it is gone (a reboot), a space's network files; a
 * space's egress chains re-asserted when reassert_egress.  *stored gets
 * the stored document; lines the cgroup's outcome. */
static int heal_existing(struct kk_controller *c, const struct kk_ref *ref, bool reassert_egress,
                         struct kk_doc **stored, struct kk_strv *lines, struct kk_strv *warnings, kk_err_t *err) {
  bool made = false;
  if (kk_store_get(c->store, ref, stored, err) < 0 ||
      kk_ctl_cgroup_up(c, *stored, NULL, &made, lines, warnings, err) < 0)
    return -1;
  if (made && kk_store_put(c->store, *stored, false, err) < 0)
    return -1;
  if (ref->kind != KK_KIND_SPACE)
    return 0;
  if (kk_ctl_space_net_ensure(c, ref, false, false, err) < 0)
    return -1;
  return reassert_egress ? kk_ctl_space_fw_ensure(c, *stored, err) : 0;
}

/* kuke create of a realm, space or stack that exists: what init says of
 * it (spec 4.3), healed as init heals it, and no error.  The title names
 * what is stored, which a differing request does not change. */
static int create_existing(struct kk_controller *c, const struct kk_ref *ref, struct kk_report *rep, kk_err_t *err) {
  cleanup_doc struct kk_doc *stored = NULL;
  struct kk_strv lines = {0}, warnings = {0};
  int ret = heal_existing(c, ref, false, &stored, &lines, &warnings, err);
  if (ret == 0) {
    create_title(c, stored, rep);
    report_outcome(rep, "already existed", &lines, &warnings);
  }
  kk_strv_free(&lines);
  kk_strv_free(&warnings);
  return ret;
}

int kk_ctl_create(struct kk_controller *c, struct kk_doc *doc, const struct kk_policy *policy,
                  bool ignore_disk_pressure, struct kk_report *rep, kk_err_t *err) {
  if (doc->kind == KK_KIND_CONTAINER)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "containers are created as part of a cell");
  if (kk_ctl_prepare(c, doc, policy, err) < 0)
    return -1;
  cleanup_close int lock = kk_store_lock(c->store, true, err);
  if (lock < 0)
    return -1;
  struct kk_ref ref = kk_ref_of(doc);
  if (kk_store_exists(c->store, &ref)) {
    if (doc->kind != KK_KIND_CELL)
      return create_existing(c, &ref, rep, err);
    cleanup_free char *what = kk_ref_describe(&ref);
    return kk_error_kind(err, KK_ERR_EXISTS, 0, "%s already exists", what);
  }
  if (kk_ctl_disk_guard(c, doc, ignore_disk_pressure, err) < 0)
    return -1;
  struct kk_strv lines = {0}, warnings = {0};
  if (kk_ctl_create_locked(c, doc, true, &lines, &warnings, err) < 0) {
    kk_strv_free(&lines);
    kk_strv_free(&warnings);
    return -1;
  }
  create_title(c, doc, rep);
  report_outcome(rep, "created", &lines, &warnings);
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
  kk_ctl_fill_usage(c, *out);
  return 0;
}

static int list(struct kk_controller *c, enum kk_kind kind, const struct kk_ref *scope, struct kk_doc_list *out,
                struct kk_strv *warnings, bool usage, kk_err_t *err) {
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
    if (usage)
      kk_ctl_fill_usage(c, out->docs[i]);
  }
  return 0;
}

int kk_ctl_list(struct kk_controller *c, enum kk_kind kind, const struct kk_ref *scope, struct kk_doc_list *out,
                struct kk_strv *warnings, kk_err_t *err) {
  return list(c, kind, scope, out, warnings, true, err);
}

/* A cell's containers go with a doc of their own (the model frees them). */
static void drop_containers(struct kk_doc *doc) {
  if (doc->kind != KK_KIND_CELL)
    return;
  struct kk_doc *gone = kk_doc_new(KK_KIND_CELL);
  struct kk_cell *from = &doc->u.cell, *to = &gone->u.cell;
  to->spec.containers = from->spec.containers, to->spec.n_containers = from->spec.n_containers;
  to->status.containers = from->status.containers, to->status.n_containers = from->status.n_containers;
  from->spec.containers = NULL, from->spec.n_containers = 0;
  from->status.containers = NULL, from->status.n_containers = 0;
  kk_doc_free(gone);
}

int kk_ctl_list_summary(struct kk_controller *c, enum kk_kind kind, const struct kk_ref *scope,
                        struct kk_doc_list *out, struct kk_strv *warnings, kk_err_t *err) {
  size_t before = out->n;
  if (list(c, kind, scope, out, warnings, false, err) < 0)
    return -1;
  for (size_t i = before; i < out->n; i++)
    drop_containers(out->docs[i]);
  return 0;
}

/* ---------------------------------------------------------------- init */

/* Ensure one resource exists; report "created" or "already existed".  An
 * existing resource whose cgroup is gone (a reboot) gets it back; an
 * existing space's egress chains are re-asserted when reassert_egress (init
 * does; a cell's apply does not: that is two iptables execs on every cell
 * start, and the reconcile pass re-asserts them anyway). */
static int ensure(struct kk_controller *c, struct kk_doc *doc, bool reassert_egress, bool *created,
                  struct kk_strv *warnings, kk_err_t *err) {
  if (kk_ctl_prepare(c, doc, NULL, err) < 0)
    return -1;
  struct kk_ref ref = kk_ref_of(doc);
  *created = false;
  struct kk_strv lines = {0};
  int ret;
  if (kk_store_exists(c->store, &ref)) {
    cleanup_doc struct kk_doc *stored = NULL;
    ret = heal_existing(c, &ref, reassert_egress, &stored, &lines, warnings, err);
  } else {
    *created = true;
    ret = kk_ctl_create_locked(c, doc, false, &lines, warnings, err);
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

/* A resource this call made, gone again: no children yet, so a plain
 * forced delete takes its network, cgroup and metadata. */
static void uncreate(struct kk_controller *c, const struct kk_ref *ref) {
  struct kk_report rep = {0};
  kk_err_t e = NULL;
  if (kk_ctl_delete_locked(c, ref, false, true, &rep, &e) < 0) {
    kk_warn("undo %s %s: %s", kk_kind_lower(ref->kind), ref->name, e->msg);
    kk_error_free(&e);
  }
  kk_report_free(&rep);
}

/* Newest first: children before their parents. */
static void undo_since(struct kk_controller *c, struct kk_ctl_made *made, size_t keep) {
  while (made->n > keep) {
    struct kk_doc *d = made->docs[--made->n];
    struct kk_ref r = kk_ref_of(d);
    uncreate(c, &r);
    kk_doc_free(d);
  }
}

void kk_ctl_made_undo(struct kk_controller *c, struct kk_ctl_made *made) { undo_since(c, made, 0); }

void kk_ctl_made_free(struct kk_ctl_made *made) {
  while (made->n > 0)
    kk_doc_free(made->docs[--made->n]);
}

/* Creates what is missing of realm/space/stack; rep (may be NULL) gets a
 * line for each.  made gets what was created (the caller undoes it when a
 * later step fails); on failure what this call made is undone here. */
static int ensure_hierarchy(struct kk_controller *c, const char *realm, const char *space, const char *stack,
                            struct kk_report *rep, bool reassert_egress, struct kk_ctl_made *made, kk_err_t *err) {
  struct kk_doc *docs[3] = {new_realm(realm), new_space(realm, space), new_stack(realm, space, stack)};
  size_t before = made->n;
  int ret = 0;
  for (int i = 0; i < 3 && ret == 0; i++) {
    bool created = false;
    struct kk_strv warnings = {0};
    ret = ensure(c, docs[i], reassert_egress, &created, &warnings, err);
    if (ret == 0 && rep != NULL) {
      kk_report_line(rep, 4, "- %s \"%s\": %s", kk_kind_lower(docs[i]->kind), kk_doc_name(docs[i]),
                     created ? "created" : "already existed");
      for (size_t w = 0; w < warnings.n; w++)
        kk_report_line(rep, 6, "warning: %s", warnings.v[w]);
    }
    if (created && ret == 0 && made->n < KK_ARRAY_SIZE(made->docs)) {
      made->docs[made->n++] = docs[i];
      docs[i] = NULL;
    }
    kk_strv_free(&warnings);
  }
  for (int i = 0; i < 3; i++)
    kk_doc_free(docs[i]);
  if (ret < 0)
    undo_since(c, made, before);
  return ret;
}

/* kuke init --force-regenerate-cni: every space's conflist written anew
 * (subnets kept). */
static int regenerate_cni(struct kk_controller *c, struct kk_report *rep, kk_err_t *err) {
  cleanup_doc_list struct kk_doc_list spaces = {0};
  if (kk_store_list(c->store, KK_KIND_SPACE, NULL, &spaces, err) < 0)
    return -1;
  for (size_t i = 0; i < spaces.n; i++) {
    struct kk_ref r = kk_ref_of(spaces.docs[i]);
    if (kk_ctl_space_net_ensure(c, &r, true, false, err) < 0)
      return -1;
  }
  kk_report_line(rep, 2, "- CNI conflists: %zu regenerated", spaces.n);
  return 0;
}

/* The kukeon root cgroup, with the report's line for it. */
static int ensure_root_cgroup(struct kk_controller *c, struct kk_report *body, bool *created, kk_err_t *err) {
  if (c->cg == NULL) {
    kk_report_line(body, 2, "- kukeon root cgroup %s: unavailable (%s)", c->cgroup_root, c->cg_problem);
    return 0;
  }
  struct kk_cg_ensure_result res = {0};
  if (kk_cg_ensure(c->cg, c->cgroup_root, "", &res, err) < 0) {
    kk_cg_ensure_result_free(&res);
    return kk_error_wrap(err, "kukeon root cgroup %s", c->cgroup_root);
  }
  *created = kk_strv_contains(&res.created, c->cgroup_root);
  kk_report_line(body, 2, "- kukeon root cgroup %s: %s", c->cgroup_root, *created ? "created" : "already existed");
  for (size_t i = 0; i < res.warnings.n; i++)
    kk_report_line(body, 4, "warning: %s", res.warnings.v[i]);
  kk_cg_ensure_result_free(&res);
  return 0;
}

int kk_ctl_init(struct kk_controller *c, const char *realm, const char *space, bool force_cni, struct kk_report *rep,
                kk_err_t *err) {
  realm = kk_empty(realm) ? "default" : realm;
  space = kk_empty(space) ? "default" : space;
  if (kk_validate_name(KK_KIND_REALM, realm, err) < 0 || kk_validate_name(KK_KIND_SPACE, space, err) < 0)
    return -1;
  cleanup_close int lock = kk_store_lock(c->store, true, err);
  if (lock < 0)
    return -1;
  kk_ctl_sweep_temps(c); /* init is rare: the whole walk costs nothing here */
  struct kk_ctl_made made = {.n = 0};
  struct kk_report body = {0};
  bool root_created = false;
  if (ensure_root_cgroup(c, &body, &root_created, err) < 0)
    return -1;
  kk_report_line(&body, 2, "Default hierarchy:");
  int ret = ensure_hierarchy(c, realm, space, "default", &body, true, &made, err);
  if (ret == 0) {
    kk_report_line(&body, 2, "System hierarchy:");
    ret = ensure_hierarchy(c, KK_SYSTEM_REALM, KK_SYSTEM_SPACE, KK_SYSTEM_STACK, &body, true, &made, err);
  }
  if (ret == 0 && force_cni)
    ret = regenerate_cni(c, &body, err);
  bool any = made.n > 0;
  if (ret < 0) { /* a failed init leaves what it found */
    kk_ctl_made_undo(c, &made);
    kk_err_t e = NULL;
    if (root_created && kk_cg_remove(c->cg, c->cgroup_root, "", 0, &e) < 0) {
      kk_warn("undo kukeon root cgroup: %s", e->msg);
      kk_error_free(&e);
    }
    kk_report_free(&body);
    return -1;
  }
  kk_ctl_made_free(&made);
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

int kk_ctl_ensure_cell_parents(struct kk_controller *c, const struct kk_doc *cell, struct kk_ctl_made *made,
                               kk_err_t *err) {
  const struct kk_cell *cl = &cell->u.cell;
  return ensure_hierarchy(c, cl->spec.realm_id, cl->spec.space_id, cl->spec.stack_id, NULL, false, made, err);
}

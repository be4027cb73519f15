/* Apply's diff: what a document changes against what is stored, which
 * changes apply refuses, the order documents apply in, and how a Container
 * document lands in its cell.  Pure: no host access, no store. */
#include <string.h>

#include "controller/internal.h"
#include "lib/util.h"

/* Move status from the stored document to the new one (spec updates keep
 * what was observed). */
void kk_ctl_carry_status(struct kk_doc *dst, const struct kk_doc *stored) {
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

/* Changes apply refuses: they need delete + recreate. */
void kk_ctl_breaking_changes(const struct kk_doc *stored, const struct kk_doc *want, struct kk_strv *out) {
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

/* Parents before children: by kind, file order within a kind.  order
 * gets the indexes of docs in that order; returns how many. */
size_t kk_ctl_apply_order(const struct kk_doc_list *docs, size_t *order) {
  size_t n = 0;
  for (int kind = 0; kind < KK_KIND_COUNT; kind++)
    for (size_t i = 0; i < docs->n; i++)
      if ((int)docs->docs[i]->kind == kind)
        order[n++] = i;
  return n;
}

/* Unchanged but its runtime dead (stopped, killed, ended, failed): apply
 * brings it back (spec §10.2).  A Degraded or Unknown cell counts when its
 * root is down: nothing restarts a root (§5.6), and without it the
 * others lost their namespaces.  One whose root runs is left to the
 * restart policies of its containers. */
bool kk_ctl_unchanged_cell_restarts(struct kk_cell *cell) {
  int state = cell->status.base.state;
  if (state == KK_CELL_STOPPED || state == KK_CELL_FAILED || state == KK_CELL_PENDING || state == KK_CELL_EXITED ||
      state == KK_CELL_ERROR)
    return true;
  if (state != KK_CELL_DEGRADED && state != KK_CELL_UNKNOWN)
    return false;
  const struct kk_container_spec *root = kk_cell_root(cell);
  return root == NULL || !kk_ctl_ctr_active(kk_ctl_status_slot(cell, root->id)->state);
}

/* The container id a cell's change path names ("spec.containers[ID]..."),
 * in buf; NULL for other fields. */
static const char *changed_container(const char *path, char *buf, size_t size) {
  static const char prefix[] = "spec.containers[";
  if (strncmp(path, prefix, sizeof(prefix) - 1) != 0)
    return NULL;
  const char *id = path + sizeof(prefix) - 1;
  const char *end = strchr(id, ']');
  if (end == NULL || (size_t)(end - id) >= size)
    return NULL;
  memcpy(buf, id, (size_t)(end - id));
  buf[end - id] = '\0';
  return buf;
}

/* What an update does to container id of stored (gone: per container). */
static char *container_fate(const struct kk_cell *stored, const bool *gone, const char *id, const char *path) {
  if (kk_has_suffix(path, " added"))
    return kk_asprintf("container \"%s\" created and started", id);
  if (kk_has_suffix(path, " removed"))
    return kk_asprintf("container \"%s\" stopped and removed", id);
  const struct kk_container_spec *root = kk_ctl_spec_by_id(stored, stored->spec.root_container_id);
  if (root && gone[root - stored->spec.containers])
    return kk_xstrdup("cell recreated: its root container or published ports changed");
  const struct kk_container_spec *ct = kk_ctl_spec_by_id(stored, id);
  if (ct && gone[ct - stored->spec.containers])
    return kk_asprintf("container \"%s\" stopped, removed, recreated and started", id);
  return kk_xstrdup("stored: read at the cell's next start");
}

void kk_ctl_change_details(const struct kk_cell *stored, const bool *gone, const char *ctr,
                           const struct kk_strv *changes, struct kk_strv *details) {
  for (size_t i = 0; i < changes->n; i++) {
    char buf[256];
    const char *id = ctr ? ctr : stored ? changed_container(changes->v[i], buf, sizeof(buf)) : NULL;
    kk_strv_push(details, changes->v[i]);
    if (id && stored && gone)
      kk_strv_push_owned(details, container_fate(stored, gone, id, ctr ? "" : changes->v[i]));
    else
      kk_strv_push(details, "updated in place");
  }
}

/* A Container document into the cell it names: a new container is added
 * (pending), a changed one replaces the spec of its name; the root is the
 * cell's own and refused.  it->action says which, and UNCHANGED means cl
 * was left as it was. */
int kk_ctl_cell_put_container(struct kk_cell *cl, const struct kk_doc *doc, struct kk_apply_item *it, kk_err_t *err) {
  struct kk_container_spec *slot = NULL;
  for (size_t i = 0; i < cl->spec.n_containers; i++)
    if (kk_streq(cl->spec.containers[i].id, doc->u.container.spec.id))
      slot = &cl->spec.containers[i];
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
                           slot->id, kk_ref_of(doc).cell);
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
  return 0;
}

/* The synthesized pause root is kukeon's, not the author's: a cell that had
 * one and gets one again keeps the stored one, so it is never a diff. */
void kk_ctl_keep_pause_root(struct kk_cell *want, const struct kk_cell *stored) {
  struct kk_container_spec *w = kk_cell_root(want);
  const struct kk_container_spec *s = kk_ctl_spec_by_id(stored, stored->spec.root_container_id);
  if (w && s && kk_container_is_pause_root(w) && kk_container_is_pause_root(s))
    kk_container_spec_replace(w, s);
}

/* A root container's fields that only its next start reads: its
 * environment and network names (persisted, in effect the next time the
 * cell starts), and its restart policy, which supervision reads from the
 * stored spec. */
static void take_next_start_fields(struct kk_container_spec *dst, const struct kk_container_spec *src) {
  struct kk_strv *lists[] = {&dst->env, &dst->networks, &dst->networks_aliases};
  const struct kk_strv *from[] = {&src->env, &src->networks, &src->networks_aliases};
  for (size_t i = 0; i < KK_ARRAY_SIZE(lists); i++) {
    kk_strv_free(lists[i]);
    kk_strv_copy(lists[i], from[i]);
  }
  free(dst->restart_policy);
  dst->restart_policy = kk_xstrdup(src->restart_policy);
  dst->restart_backoff_seconds = src->restart_backoff_seconds;
  dst->restart_max_retries = src->restart_max_retries;
}

bool kk_ctl_root_recreates(const struct kk_container_spec *old, const struct kk_container_spec *want) {
  cleanup_doc struct kk_doc *a = kk_doc_new(KK_KIND_CONTAINER);
  cleanup_doc struct kk_doc *b = kk_doc_new(KK_KIND_CONTAINER);
  kk_container_spec_replace(&a->u.container.spec, old);
  kk_container_spec_replace(&b->u.container.spec, want);
  take_next_start_fields(&b->u.container.spec, old);
  return !kk_doc_spec_equal(a, b);
}

/* Every port the cell publishes, sorted and joined: what its root's CNI ADD
 * gave portmap. */
static char *published_ports(const struct kk_cell *cell) {
  cleanup_strv struct kk_strv all = {0};
  for (size_t i = 0; i < cell->spec.n_containers; i++)
    for (size_t k = 0; k < cell->spec.containers[i].ports.n; k++)
      kk_strv_push(&all, cell->spec.containers[i].ports.v[k]);
  kk_strv_sort(&all);
  return kk_strv_join(&all, ",");
}

bool *kk_ctl_cell_gone(const struct kk_cell *old, const struct kk_cell *want) {
  cleanup_free char *old_ports = published_ports(old), *new_ports = published_ports(want);
  /* Ports are published on the root's namespace when it is attached: a
   * change takes the whole cell down and up again. */
  bool root_changed = !kk_streq(old_ports, new_ports);
  bool *gone = kk_xzalloc((old->spec.n_containers + 1) * sizeof(bool));
  for (size_t i = 0; i < old->spec.n_containers; i++) {
    const struct kk_container_spec *o = &old->spec.containers[i];
    const struct kk_container_spec *n = kk_ctl_spec_by_id(want, o->id);
    bool same = false;
    if (n) {
      cleanup_doc struct kk_doc *a = kk_container_doc_from_cell(old, i);
      cleanup_doc struct kk_doc *b = kk_container_doc_from_cell(want, (size_t)(n - want->spec.containers));
      same = kk_doc_spec_equal(a, b);
    }
    gone[i] = !same;
    if (o->root && !same) { /* changed only in what its next start reads: it stays */
      gone[i] = n == NULL || kk_ctl_root_recreates(o, n);
      root_changed |= gone[i];
    }
  }
  for (size_t i = 0; root_changed && i < old->spec.n_containers; i++)
    gone[i] = true;
  return gone;
}

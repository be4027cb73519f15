/* Cell operations on the host: observe, start, stop, kill, tear down,
 * update and supervise the containers of a cell.  The caller holds the
 * tree lock and persists the cell afterwards; container.c does the work
 * on each container and cell_state.c decides what the cell's state is and
 * what supervision owes it. */
#include <signal.h>
#include <stdlib.h>

#include "controller/internal.h"
#include "lib/log.h"
#include "lib/util.h"

#define STOP_TIMEOUT_MS 5000

void kk_ctl_cell_observe(struct kk_controller *c, struct kk_doc *doc) {
  struct kk_cell *cell = &doc->u.cell;
  for (size_t i = 0; i < cell->spec.n_containers; i++)
    kk_ctl_ctr_observe(c, cell, &cell->spec.containers[i]);
  kk_ctl_cell_derive_state(&c->restarts, cell, kk_now());
}

/* What a cell-wide operation does to one container. */
typedef int (*ctr_op)(struct kk_controller *c, struct kk_cell *cell, const struct kk_container_spec *ct, void *arg,
                      kk_err_t *err);

/* The pid the last observation of ct found running, 0 when none. */
static pid_t observed_pid(struct kk_cell *cell, const struct kk_container_spec *ct) {
  struct kk_container_status *cs = kk_ctl_status_slot(cell, ct->id);
  return kk_ctl_ctr_active(cs->state) && cs->pid > 0 ? (pid_t)cs->pid : 0;
}

static pid_t running_pid(struct kk_controller *c, struct kk_cell *cell, const struct kk_container_spec *ct) {
  kk_ctl_ctr_observe(c, cell, ct);
  return observed_pid(cell, ct);
}

/* Before the root goes: CNI DEL while the namespace (and so the veth the
 * bridge plugin looks for) is still there. */
static void detach_root(struct kk_controller *c, struct kk_cell *cell, const struct kk_container_spec *containers,
                        size_t n, const bool *pick) {
  for (size_t i = 0; i < n; i++)
    if (containers[i].root && (pick == NULL || pick[i]))
      kk_ctl_cell_net_detach(c, cell, &containers[i], running_pid(c, cell, &containers[i]));
}

/* op on containers[i] for every i with pick[i] (pick NULL: all), the
 * non-root ones first and the root last, its network detached before it.
 * Every one is tried; the first error is the one reported. */
static int each_root_last(struct kk_controller *c, struct kk_cell *cell, const struct kk_container_spec *containers,
                          size_t n, const bool *pick, ctr_op op, void *arg, kk_err_t *err) {
  int ret = 0;
  for (int pass = 0; pass < 2; pass++) {
    if (pass == 1)
      detach_root(c, cell, containers, n, pick);
    for (size_t i = 0; i < n; i++) {
      if (containers[i].root != (pass == 1) || (pick && !pick[i]))
        continue;
      kk_err_t e = NULL;
      if (op(c, cell, &containers[i], arg, &e) < 0) {
        if (ret == 0) {
          *err = e;
          ret = -1;
        } else {
          kk_error_free(&e);
        }
      }
    }
  }
  return ret;
}

int64_t kk_ctl_cell_stop_timeout_ms(const struct kk_cell *cell, int64_t fallback_ms) {
  return cell->spec.stop_timeout_seconds.set ? cell->spec.stop_timeout_seconds.v * 1000 : fallback_ms;
}

struct stop_arg {
  int sig;
  int64_t timeout_ms;
};

static int stop_op(struct kk_controller *c, struct kk_cell *cell, const struct kk_container_spec *ct, void *arg,
                   kk_err_t *err) {
  const struct stop_arg *a = arg;
  if (kk_ctl_ctr_stop(c, cell, ct, a->sig, a->timeout_ms, err) < 0)
    return -1;
  kk_ctl_crash_at(c, KK_CRASH_AFTER_CONTAINER_STOP);
  kk_ctl_ctr_observe(c, cell, ct);
  struct kk_container_status *cs = kk_ctl_status_slot(cell, ct->id);
  if (cs->state != KK_CTR_PENDING && cs->state != KK_CTR_NOT_CREATED)
    cs->state = KK_CTR_STOPPED;
  cs->pid = 0;
  return 0;
}

int kk_ctl_cell_stop(struct kk_controller *c, struct kk_doc *doc, int sig, int64_t timeout_ms, kk_err_t *err) {
  struct kk_cell *cell = &doc->u.cell;
  struct stop_arg a = {sig, timeout_ms >= 0 ? timeout_ms : kk_ctl_cell_stop_timeout_ms(cell, STOP_TIMEOUT_MS)};
  if (each_root_last(c, cell, cell->spec.containers, cell->spec.n_containers, NULL, stop_op, &a, err) < 0)
    return -1;
  cell->status.base.state = KK_CELL_STOPPED;
  kk_ctl_cell_set_reason(cell, NULL, NULL);
  return 0;
}

/* arg non-NULL: a delete, else an update (the crash hook's mid-delete or
 * mid-update point, once a container other than the root is gone). */
static int teardown_op(struct kk_controller *c, struct kk_cell *cell, const struct kk_container_spec *ct, void *arg,
                       kk_err_t *err) {
  if (kk_ctl_ctr_teardown(c, cell, ct, err) < 0)
    return -1;
  if (!ct->root)
    kk_ctl_crash_at(c, arg ? KK_CRASH_MID_DELETE : KK_CRASH_MID_UPDATE);
  struct kk_container_status *cs = kk_ctl_status_slot(cell, ct->id);
  cs->state = KK_CTR_PENDING;
  cs->pid = 0;
  return 0;
}

int kk_ctl_cell_teardown(struct kk_controller *c, struct kk_doc *doc, kk_err_t *err) {
  struct kk_cell *cell = &doc->u.cell;
  static const bool deleting = true;
  return each_root_last(c, cell, cell->spec.containers, cell->spec.n_containers, NULL, teardown_op, (void *)&deleting,
                        err);
}

static pid_t observed_ready_pid(struct kk_cell *cell, const struct kk_container_spec *ct) {
  pid_t pid = observed_pid(cell, ct);
  return kk_ctl_status_slot(cell, ct->id)->state == KK_CTR_READY ? pid : 0;
}

static pid_t ready_pid(struct kk_controller *c, struct kk_cell *cell, const struct kk_container_spec *ct) {
  kk_ctl_ctr_observe(c, cell, ct);
  return observed_ready_pid(cell, ct);
}

int kk_ctl_cell_start(struct kk_controller *c, struct kk_doc *doc, kk_err_t *err) {
  struct kk_cell *cell = &doc->u.cell;
  const struct kk_container_spec *root = kk_cell_root(cell);
  if (root == NULL)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "cell \"%s\" has no root container", kk_doc_name(doc));
  /* The cell's cgroup first: runc puts every container inside it. */
  struct kk_strv lines = {0}, warnings = {0};
  bool made = false;
  int r = kk_ctl_cgroup_up(c, doc, NULL, &made, &lines, &warnings, err);
  kk_strv_free(&lines);
  kk_strv_free(&warnings);
  if (r < 0)
    return -1;
  pid_t root_pid = ready_pid(c, cell, root);
  if (root_pid == 0) {
    /* Without its root a cell's containers lost their namespaces. */
    for (size_t i = 0; i < cell->spec.n_containers; i++) {
      const struct kk_container_spec *ct = &cell->spec.containers[i];
      kk_err_t e = NULL;
      if (!ct->root && kk_ctl_ctr_stop(c, cell, ct, SIGKILL, 0, &e) < 0)
        kk_error_free(&e);
    }
    /* The last run's attachment: its namespace died with it. */
    kk_ctl_cell_net_detach(c, cell, root, 0);
    if (kk_ctl_cell_ports_check(c, cell, err) < 0)
      goto failed;
    if (kk_ctl_ctr_start(c, doc, root, 0, err) < 0)
      goto failed;
    root_pid = (pid_t)kk_ctl_status_slot(cell, root->id)->pid;
  }
  /* The others join the root's namespace: eth0 is there before they start. */
  if (kk_ctl_cell_net_attach(c, cell, root, root_pid, err) < 0)
    goto failed;
  for (size_t i = 0; i < cell->spec.n_containers; i++) {
    const struct kk_container_spec *ct = &cell->spec.containers[i];
    if (ct->root || ready_pid(c, cell, ct) > 0)
      continue;
    if (kk_ctl_ctr_start(c, doc, ct, root_pid, err) < 0)
      goto failed;
  }
  kk_ctl_restarts_reset_cell(&c->restarts, cell);
  cell->status.base.state = KK_CELL_READY;
  kk_ctl_cell_set_reason(cell, NULL, NULL);
  if (!cell->status.ready_observed) {
    cell->status.ready_observed = true;
    cell->status.base.ready_at = kk_now();
  }
  return 0;
failed:
  /* A cell half up is worse than one down: stop what this start ran. */
  {
    kk_err_t e = NULL;
    if (kk_ctl_cell_stop(c, doc, SIGKILL, 0, &e) < 0)
      kk_error_free(&e);
  }
  cell->status.base.state = KK_CELL_FAILED;
  kk_ctl_cell_set_reason(cell, "StartCellFailed", (*err)->msg);
  return -1;
}

/* An applied spec change: containers that changed or went away are torn
 * down (all of them when the root changed); kk_ctl_cell_start brings the
 * new ones up. */
int kk_ctl_cell_update(struct kk_controller *c, const struct kk_doc *stored, struct kk_doc *want, kk_err_t *err) {
  const struct kk_cell *old = &stored->u.cell;
  struct kk_cell *cell = &want->u.cell;
  bool *gone = kk_ctl_cell_gone(old, cell);
  int ret = each_root_last(c, cell, old->spec.containers, old->spec.n_containers, gone, teardown_op, NULL, err);
  free(gone);
  /* Statuses of containers no longer in the spec go with them. */
  kk_ctl_cell_drop_stale_statuses(cell);
  return ret;
}

/* ------------------------------------------------------------- supervision */

/* The earlier of two due times, 0 meaning none. */
static void due_min(int64_t *due, int64_t at) {
  if (at > 0 && (*due == 0 || at < *due))
    *due = at;
}

/* Stamp a restart that just happened: the status (whole seconds) and this
 * daemon's record (the backoff's start, to the millisecond). */
static void count_restart(struct kk_controller *c, struct kk_container_status *cs, const char *rid, int64_t now_ms) {
  cs->restart_count++;
  cs->restart_time = now_ms / 1000;
  kk_ctl_restart_slot(&c->restarts, rid)->last_ms = now_ms;
}

/* Its root is down and a policy says always (kk_ctl_root_restart_due): the
 * whole cell starts again, root first. */
static void restart_whole_cell(struct kk_controller *c, struct kk_doc *doc, int64_t now_ms) {
  struct kk_cell *cell = &doc->u.cell;
  const struct kk_container_spec *root = kk_cell_root(cell);
  kk_err_t e = NULL;
  if (kk_ctl_cell_start(c, doc, &e) < 0) {
    kk_warn("restart cell %s: %s", kk_doc_name(doc), e->msg);
    kk_error_free(&e);
  }
  struct kk_container_status *rs = kk_ctl_status_slot(cell, root->id);
  count_restart(c, rs, root->containerd_id, now_ms);
  kk_info("restarted cell %s: its root was down (policy always, restart %lld)", kk_doc_name(doc),
          (long long)rs->restart_count);
  kk_ctl_cell_observe(c, doc);
}

/* The root runs: restart the other containers their policies owe a
 * restart; *due gets the end of the earliest backoff still running.  True
 * when one exhausted its on-failure budget. */
static bool restart_containers(struct kk_controller *c, struct kk_doc *doc, pid_t root_pid, int64_t now_ms,
                               int64_t *due, bool *acted) {
  struct kk_cell *cell = &doc->u.cell;
  bool exhausted = false;
  for (size_t i = 0; i < cell->spec.n_containers; i++) {
    const struct kk_container_spec *ct = &cell->spec.containers[i];
    if (ct->root)
      continue;
    struct kk_container_status *cs = kk_ctl_status_slot(cell, ct->id);
    struct kk_restart_slot *slot = kk_ctl_restart_slot(&c->restarts, ct->containerd_id);
    if (kk_ctl_restart_renewed(cs, now_ms / 1000))
      slot->attempts = 0; /* it ran a while: the on-failure budget is whole again */
    int64_t at = 0;
    switch (kk_ctl_restart_step(ct, cs, slot->attempts, kk_ctl_last_restart_ms(&c->restarts, ct->containerd_id, cs),
                                now_ms, &at)) {
    case KK_RESTART_EXHAUSTED:
      exhausted = true;
      continue;
    case KK_RESTART_DEFERRED: /* the cell stays Degraded until then */
      due_min(due, at);
      continue;
    case KK_RESTART_RESET:
    case KK_RESTART_NONE:
      continue;
    case KK_RESTART_NOW:
      break;
    }
    *acted = true;
    kk_err_t e = NULL;
    if (kk_ctl_ctr_stop(c, cell, ct, SIGKILL, 0, &e) < 0 || kk_ctl_ctr_start(c, doc, ct, root_pid, &e) < 0) {
      kk_warn("restart %s: %s", ct->containerd_id, e->msg);
      kk_error_free(&e);
    }
    slot = kk_ctl_restart_slot(&c->restarts, ct->containerd_id);
    slot->attempts++;
    cs = kk_ctl_status_slot(cell, ct->id);
    count_restart(c, cs, ct->containerd_id, now_ms);
    kk_info("restarted container %s (policy %s, restart %lld)", ct->containerd_id, kk_ctl_restart_policy(ct),
            (long long)cs->restart_count);
  }
  return exhausted;
}

/* A daemon killed between the root's start and its CNI ADD.  True when it
 * tried one. */
static bool attach_if_missing(struct kk_controller *c, struct kk_doc *doc, const struct kk_container_spec *root,
                              pid_t root_pid) {
  struct kk_cell *cell = &doc->u.cell;
  if (root_pid <= 0 || !kk_empty(cell->status.network.ip) || kk_ctl_cell_host_network(cell))
    return false;
  kk_err_t e = NULL;
  if (kk_ctl_cell_net_attach(c, cell, root, root_pid, &e) < 0) {
    kk_warn("cell %s: %s", kk_doc_name(doc), e->msg);
    kk_error_free(&e);
  }
  return true;
}

int kk_ctl_cell_supervise(struct kk_controller *c, struct kk_doc *doc, bool *deleted, int64_t *due_ms,
                          kk_err_t *err) {
  struct kk_cell *cell = &doc->u.cell;
  *deleted = false;
  *due_ms = 0;
  /* Observed first, whatever the stored state says: a cell stored as
   * stopped may run (and then is supervised as running), one stored as
   * ready may have ended. */
  kk_ctl_cell_observe(c, doc);
  int st = cell->status.base.state;
  if (st == KK_CELL_PENDING || st == KK_CELL_STOPPED || st == KK_CELL_FAILED)
    return 0;
  const struct kk_container_spec *root = kk_cell_root(cell);
  /* The observation just made holds the root's pid: an idle cell is
   * observed once a pass (every observation is some ten syscalls a
   * container). */
  pid_t root_pid = root ? observed_ready_pid(cell, root) : 0;
  int64_t now_ms = kk_now_ms(), at = 0;
  if (root) {
    int64_t last = kk_ctl_last_restart_ms(&c->restarts, root->containerd_id, kk_ctl_status_slot(cell, root->id));
    if (kk_ctl_root_restart_due(cell, root_pid > 0, last, now_ms, &at)) {
      restart_whole_cell(c, doc, now_ms);
      return 0;
    }
    due_min(due_ms, at);
  }
  bool acted = attach_if_missing(c, doc, root, root_pid), exhausted = false;
  if (st != KK_CELL_ERROR && cell->status.ready_observed && root_pid > 0)
    exhausted = restart_containers(c, doc, root_pid, now_ms, due_ms, &acted);
  if (acted) /* what the restarts or the attach changed */
    kk_ctl_cell_observe(c, doc);
  if (exhausted && cell->status.base.state != KK_CELL_READY) {
    cell->status.base.state = KK_CELL_ERROR;
    kk_ctl_cell_set_reason(cell, "RestartsExhausted", "a container exhausted its on-failure restarts");
  }
  if (kk_ctl_auto_delete_due(cell, now_ms, &at)) {
    if (kk_ctl_cell_teardown(c, doc, err) < 0)
      return -1;
    *deleted = true;
    *due_ms = 0;
    return 0;
  }
  due_min(due_ms, at);
  return 0;
}

/* What a cell's state is and what its supervision owes it, decided from
 * its spec and container statuses alone.  Nothing here touches the host:
 * cell.c observes and acts, this file decides (and the unit tests check
 * it without root). */
#include <stdlib.h>
#include <string.h>

#include "controller/internal.h"
#include "lib/util.h"

#define DEFAULT_BACKOFF_S 30
#define DEFAULT_MAX_RETRIES 5
#define AUTO_DELETE_GRACE_S 5
#define RESTART_RESET_S 10 /* running this long resets the on-failure count */

bool kk_ctl_ctr_active(int st) { return st == KK_CTR_READY || st == KK_CTR_PAUSED || st == KK_CTR_PAUSING; }

struct kk_container_status *kk_ctl_status_slot(struct kk_cell *cell, const char *id) {
  for (size_t i = 0; i < cell->status.n_containers; i++)
    if (kk_streq(cell->status.containers[i].name, id))
      return &cell->status.containers[i];
  cell->status.containers =
      kk_xrealloc(cell->status.containers, (cell->status.n_containers + 1) * sizeof(*cell->status.containers));
  struct kk_container_status *cs = &cell->status.containers[cell->status.n_containers++];
  memset(cs, 0, sizeof(*cs));
  cs->name = kk_xstrdup(id);
  cs->state = KK_CTR_PENDING;
  cs->created_at = kk_now();
  return cs;
}

void kk_ctl_cell_set_reason(struct kk_cell *cell, const char *reason, const char *message) {
  free(cell->status.base.reason);
  free(cell->status.base.message);
  cell->status.base.reason = reason ? kk_xstrdup(reason) : NULL;
  cell->status.base.message = message ? kk_xstrdup(message) : NULL;
}

/* ------------------------------------------------------ restart bookkeeping */

static const char *policy_of(const struct kk_container_spec *ct) {
  return kk_empty(ct->restart_policy) ? "never" : ct->restart_policy;
}

static int max_retries(const struct kk_container_spec *ct) {
  return ct->restart_max_retries.set ? (int)ct->restart_max_retries.v : DEFAULT_MAX_RETRIES;
}

static int64_t backoff_ms(const struct kk_container_spec *ct) {
  return (ct->restart_backoff_seconds.set ? ct->restart_backoff_seconds.v : DEFAULT_BACKOFF_S) * 1000;
}

struct kk_restart_slot *kk_ctl_restart_slot(struct kk_restarts *r, const char *rid) {
  for (size_t i = 0; i < r->n; i++)
    if (kk_streq(r->v[i].rid, rid))
      return &r->v[i];
  r->v = kk_xrealloc(r->v, (r->n + 1) * sizeof(*r->v));
  struct kk_restart_slot *s = &r->v[r->n++];
  s->rid = kk_xstrdup(rid);
  s->attempts = 0;
  s->last_ms = 0;
  return s;
}

/* Without adding a slot: observers (get, list) hold the tree lock shared,
 * side by side, and must not grow the table under each other. */
static const struct kk_restart_slot *find_slot(const struct kk_restarts *r, const char *rid) {
  for (size_t i = 0; i < r->n; i++)
    if (kk_streq(r->v[i].rid, rid))
      return &r->v[i];
  return NULL;
}

int64_t kk_ctl_last_restart_ms(const struct kk_restarts *r, const char *rid, const struct kk_container_status *cs) {
  const struct kk_restart_slot *s = find_slot(r, rid);
  return s && s->last_ms > 0 ? s->last_ms : cs->restart_time * 1000;
}

void kk_ctl_restarts_free(struct kk_restarts *r) {
  for (size_t i = 0; i < r->n; i++)
    free(r->v[i].rid);
  free(r->v);
  r->v = NULL;
  r->n = 0;
}

/* A cell that came up whole starts its containers' budgets afresh. */
void kk_ctl_restarts_reset_cell(struct kk_restarts *r, const struct kk_cell *cell) {
  for (size_t i = 0; i < r->n; i++)
    for (size_t j = 0; j < cell->spec.n_containers; j++)
      if (kk_streq(r->v[i].rid, cell->spec.containers[j].containerd_id))
        r->v[i].attempts = 0;
}

bool kk_ctl_restart_renewed(const struct kk_container_status *cs, int64_t now) {
  if (cs->start_time <= 0)
    return false;
  if (cs->state == KK_CTR_READY)
    return now - cs->start_time >= RESTART_RESET_S;
  /* A run that lasted was no crash loop, even when nobody saw it run. */
  return (cs->state == KK_CTR_EXITED || cs->state == KK_CTR_ERROR) && cs->finish_time - cs->start_time >= RESTART_RESET_S;
}

/* Does its policy still owe this terminated container a restart? */
static bool restart_owed(const struct kk_restarts *r, const struct kk_container_spec *ct,
                         const struct kk_container_status *cs, int64_t now) {
  if (cs->state != KK_CTR_EXITED && cs->state != KK_CTR_ERROR)
    return false;
  const char *pol = policy_of(ct);
  if (strcmp(pol, "always") == 0)
    return true;
  if (strcmp(pol, "on-failure") != 0 || cs->exit_code == 0)
    return false;
  const struct kk_restart_slot *s = find_slot(r, ct->containerd_id);
  int attempts = s == NULL || kk_ctl_restart_renewed(cs, now) ? 0 : s->attempts;
  return attempts < max_retries(ct);
}

/* ------------------------------------------------------------- cell state */

static bool any_running(struct kk_cell *cell) {
  for (size_t i = 0; i < cell->spec.n_containers; i++)
    if (kk_ctl_ctr_active(kk_ctl_status_slot(cell, cell->spec.containers[i].id)->state))
      return true;
  return false;
}

/* The state of a cell of one container, its root: an ended one that its
 * policy brings back (kk_ctl_root_restart_due) holds the cell Degraded. */
static int root_only_state(const struct kk_container_spec *root, const struct kk_container_status *rs) {
  if (rs == NULL || rs->state == KK_CTR_UNKNOWN)
    return KK_CELL_UNKNOWN;
  if (kk_ctl_ctr_active(rs->state))
    return KK_CELL_READY;
  if ((rs->state == KK_CTR_EXITED || rs->state == KK_CTR_ERROR) && strcmp(policy_of(root), "always") == 0)
    return KK_CELL_DEGRADED;
  return rs->state == KK_CTR_ERROR ? KK_CELL_ERROR : KK_CELL_EXITED;
}

/* Failed, and no restart owed: under on-failure that means its retries
 * are used up, and the reason says so. */
static void set_failed_reason(struct kk_cell *cell, const struct kk_container_spec *failed,
                              const struct kk_container_status *failed_st) {
  cleanup_free char *msg =
      !kk_empty(failed_st->exit_signal)
          ? kk_asprintf("container \"%s\" was killed by %s (exit code %lld)", failed->id, failed_st->exit_signal,
                        (long long)failed_st->exit_code)
          : kk_asprintf("container \"%s\" exited with code %lld", failed->id, (long long)failed_st->exit_code);
  if (strcmp(policy_of(failed), "on-failure") == 0 && !failed->root) {
    cleanup_free char *full = kk_asprintf("%s; its %lld restart(s) are used up (restartMaxRetries)", msg,
                                          (long long)failed_st->restart_count);
    kk_ctl_cell_set_reason(cell, "RestartsExhausted", full);
    return;
  }
  kk_ctl_cell_set_reason(cell, "WorkloadFailed", msg);
}

void kk_ctl_cell_derive_state(const struct kk_restarts *r, struct kk_cell *cell, int64_t now) {
  int st = cell->status.base.state;
  if (st == KK_CELL_ERROR)
    return; /* sticky: a workload failed (its root may well run on) */
  /* Operator-set, or never brought up: these say nothing runs, and stay as
   * long as that is true.  A container that runs in such a cell was started
   * by a daemon that died before it wrote the status (or one died half way
   * through a stop): what runs is the truth, and the state is derived. */
  if ((st == KK_CELL_FAILED || st == KK_CELL_STOPPED || st == KK_CELL_PENDING) && !any_running(cell))
    return;
  const struct kk_container_spec *root = kk_cell_root(cell);
  const struct kk_container_status *rs = root ? kk_ctl_status_slot(cell, root->id) : NULL;
  /* A container not started yet (added to a running cell, or a start cut
   * short) keeps a cell ready only while its root runs: without the root
   * nothing of the cell runs, whatever waits to be started. */
  bool root_up = rs != NULL && kk_ctl_ctr_active(rs->state);
  bool any_active = false, any_bad = false, any_unknown = false, any_nonroot = false;
  const struct kk_container_spec *failed = NULL;
  const struct kk_container_status *failed_st = NULL;
  for (size_t i = 0; i < cell->spec.n_containers; i++) {
    const struct kk_container_spec *ct = &cell->spec.containers[i];
    if (ct->root)
      continue;
    any_nonroot = true;
    const struct kk_container_status *cs = kk_ctl_status_slot(cell, ct->id);
    if (kk_ctl_ctr_active(cs->state) || (cs->state == KK_CTR_PENDING && root_up))
      any_active = true;
    else if (cs->state == KK_CTR_UNKNOWN)
      any_unknown = true;
    else if (restart_owed(r, ct, cs, now) || cs->state == KK_CTR_ERROR) {
      any_bad = true;
      if (cs->state == KK_CTR_ERROR && !restart_owed(r, ct, cs, now) && !failed) {
        failed = ct;
        failed_st = cs;
      }
    }
  }
  int next;
  if (!any_nonroot) {
    next = root_only_state(root, rs);
    if (next == KK_CELL_ERROR) {
      failed = root;
      failed_st = rs;
    }
  } else if (any_active) {
    /* Some run, some are down: a crashed one, one owed a restart, or the
     * root (whose namespaces the others hold on to). */
    bool root_down = rs != NULL && rs->state != KK_CTR_PENDING && !root_up;
    next = any_bad || root_down ? KK_CELL_DEGRADED : KK_CELL_READY;
  } else if (any_unknown) {
    next = KK_CELL_UNKNOWN;
  } else if (failed) {
    next = KK_CELL_ERROR;
  } else if (any_bad) {
    next = KK_CELL_DEGRADED; /* a restart is owed */
  } else {
    next = KK_CELL_EXITED;
  }
  if (next == KK_CELL_ERROR && failed)
    set_failed_reason(cell, failed, failed_st);
  else if (next == KK_CELL_READY)
    kk_ctl_cell_set_reason(cell, NULL, NULL);
  if (next == KK_CELL_READY && !cell->status.ready_observed) {
    cell->status.ready_observed = true;
    cell->status.base.ready_at = now;
  }
  cell->status.base.state = next;
}

/* -------------------------------------------------------------- supervision */

static bool restarts_always(const struct kk_cell *cell) {
  for (size_t i = 0; i < cell->spec.n_containers; i++)
    if (strcmp(policy_of(&cell->spec.containers[i]), "always") == 0)
      return true;
  return false;
}

/* A root without a policy of its own (the synthesized pause root) comes
 * back as soon as the quickest of the "always" containers would. */
static int64_t root_backoff_ms(const struct kk_cell *cell, const struct kk_container_spec *root) {
  if (!kk_empty(root->restart_policy) || root->restart_backoff_seconds.set)
    return backoff_ms(root);
  int64_t best = -1;
  for (size_t i = 0; i < cell->spec.n_containers; i++) {
    const struct kk_container_spec *ct = &cell->spec.containers[i];
    if (strcmp(policy_of(ct), "always") == 0 && (best < 0 || backoff_ms(ct) < best))
      best = backoff_ms(ct);
  }
  return best < 0 ? backoff_ms(root) : best;
}

/* Within the backoff that follows the last restart: *due_ms gets its end. */
static bool within_backoff(int64_t last_ms, int64_t backoff, int64_t now_ms, int64_t *due_ms) {
  if (last_ms <= 0 || now_ms - last_ms >= backoff)
    return false;
  *due_ms = last_ms + backoff;
  return true;
}

/* Its root is down (a reboot took it, or it ended): the containers lost
 * their namespaces, so a policy that says always brings the whole cell
 * back, root first, with the root's backoff. */
bool kk_ctl_root_restart_due(struct kk_cell *cell, bool root_running, int64_t last_ms, int64_t now_ms,
                             int64_t *due_ms) {
  *due_ms = 0;
  const struct kk_container_spec *root = kk_cell_root(cell);
  if (root == NULL || root_running || !cell->status.ready_observed || !restarts_always(cell))
    return false;
  const struct kk_container_status *rs = kk_ctl_status_slot(cell, root->id);
  bool down = rs->state == KK_CTR_UNKNOWN || rs->state == KK_CTR_EXITED || rs->state == KK_CTR_ERROR;
  return down && !within_backoff(last_ms, root_backoff_ms(cell, root), now_ms, due_ms);
}

enum kk_restart_step kk_ctl_restart_step(const struct kk_container_spec *ct, const struct kk_container_status *cs,
                                         int attempts, int64_t last_ms, int64_t now_ms, int64_t *due_ms) {
  *due_ms = 0;
  if (cs->state == KK_CTR_READY)
    return kk_ctl_restart_renewed(cs, now_ms / 1000) ? KK_RESTART_RESET : KK_RESTART_NONE;
  if (cs->state != KK_CTR_EXITED && cs->state != KK_CTR_ERROR)
    return KK_RESTART_NONE;
  const char *pol = policy_of(ct);
  bool on_failure = strcmp(pol, "on-failure") == 0;
  if (!(strcmp(pol, "always") == 0 || (on_failure && cs->exit_code != 0)))
    return KK_RESTART_NONE;
  if (on_failure && attempts >= max_retries(ct))
    return KK_RESTART_EXHAUSTED;
  if (within_backoff(last_ms, backoff_ms(ct), now_ms, due_ms))
    return KK_RESTART_DEFERRED;
  return KK_RESTART_NOW;
}

const char *kk_ctl_restart_policy(const struct kk_container_spec *ct) { return policy_of(ct); }

/* A grace period after the last exit: `kuke run --rm` reads the exit
 * status and deletes the cell itself; the daemon reaps what is left. */
bool kk_ctl_auto_delete_due(const struct kk_cell *cell, int64_t now_ms, int64_t *due_ms) {
  *due_ms = 0;
  int st = cell->status.base.state;
  int64_t last_exit = 0;
  for (size_t i = 0; i < cell->status.n_containers; i++)
    if (cell->status.containers[i].finish_time > last_exit)
      last_exit = cell->status.containers[i].finish_time;
  if (!cell->spec.auto_delete || !cell->status.ready_observed || (st != KK_CELL_EXITED && st != KK_CELL_ERROR))
    return false;
  int64_t at = (last_exit + AUTO_DELETE_GRACE_S) * 1000;
  if (now_ms >= at)
    return true;
  *due_ms = at;
  return false;
}

/* ------------------------------------------------------------- spec change */

void kk_ctl_cell_drop_stale_statuses(struct kk_cell *cell) {
  size_t w = 0;
  for (size_t i = 0; i < cell->status.n_containers; i++) {
    if (kk_ctl_spec_by_id(cell, cell->status.containers[i].name)) {
      cell->status.containers[w++] = cell->status.containers[i];
      continue;
    }
    free(cell->status.containers[i].name);
    free(cell->status.containers[i].id);
    free(cell->status.containers[i].exit_signal);
  }
  cell->status.n_containers = w;
}

/* ---------------------------------------------------------- log and attach */

int kk_ctl_cell_pick_container(struct kk_cell *cell, const char *cell_name, const char *container,
                               const struct kk_container_spec **out, kk_err_t *err) {
  const struct kk_container_spec *ct = NULL;
  if (!kk_empty(container)) {
    ct = kk_ctl_spec_by_id(cell, container);
    if (ct == NULL)
      return kk_error_kind(err, KK_ERR_NOT_FOUND, 0, "container \"%s\" not found in cell \"%s\"", container, cell_name);
  } else if (!kk_empty(cell->spec.tty.default_)) {
    ct = kk_ctl_spec_by_id(cell, cell->spec.tty.default_);
  } else {
    /* The only non-root container; a cell of one (kuke run --image) is its root. */
    for (size_t i = 0; i < cell->spec.n_containers; i++) {
      if (cell->spec.containers[i].root)
        continue;
      if (ct != NULL)
        return kk_error_kind(err, KK_ERR_INVALID, 0, "multiple containers in cell \"%s\"; specify --container",
                             cell_name);
      ct = &cell->spec.containers[i];
    }
    if (ct == NULL)
      ct = kk_cell_root(cell);
  }
  if (ct == NULL)
    return kk_error_kind(err, KK_ERR_NOT_FOUND, 0, "cell \"%s\" has no containers", cell_name);
  *out = ct;
  return 0;
}

/* The cell operations kuke runs by name (start, stop, kill, restart), and
 * the container directory log and attach read: each takes the tree lock,
 * acts through cell.c and persists what came of it. */
#include <signal.h>
#include <unistd.h>

#include "controller/internal.h"
#include "lib/util.h"

/* Start a cell and persist what came of it (Failed, with the reason, when
 * the start failed).  spec_on_disk: the stored spec is this one, only the
 * status is new (no fsync then, see kk_store_put_status). */
int kk_ctl_cell_start_and_put(struct kk_controller *c, struct kk_doc *cell, bool spec_on_disk, kk_err_t *err) {
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

/* ------------------------------------------------------- cell lifecycle */

#define DEFAULT_STOP_TIMEOUT_MS 5000

/* Which containers run now (one flag per spec container). */
static bool *running_now(struct kk_cell *cell) {
  bool *v = kk_xzalloc((cell->spec.n_containers + 1) * sizeof(bool));
  for (size_t i = 0; i < cell->spec.n_containers; i++)
    v[i] = kk_ctl_ctr_active(kk_ctl_status_slot(cell, cell->spec.containers[i].id)->state);
  return v;
}

/* Stop (SIGTERM, SIGKILL after timeout_ms) or kill the cell, and say in
 * rep which of the containers that ran had to be SIGKILLed: their exit
 * records tell (a SIGTERM that was obeyed never ends in SIGKILL). */
static int stop_reporting(struct kk_controller *c, struct kk_doc *doc, int sig, int64_t timeout_ms,
                          struct kk_report *rep, kk_err_t *err) {
  struct kk_cell *cell = &doc->u.cell;
  cleanup_free bool *ran = running_now(cell);
  if (kk_ctl_cell_stop(c, doc, sig, timeout_ms, err) < 0)
    return -1;
  for (size_t i = 0; i < cell->spec.n_containers; i++) {
    const struct kk_container_spec *ct = &cell->spec.containers[i];
    const struct kk_container_status *cs = kk_ctl_status_slot(cell, ct->id);
    if (!ran[i] || !kk_streq(cs->exit_signal, "SIGKILL"))
      continue;
    if (sig == SIGKILL)
      kk_report_line(rep, 2, "- container \"%s\": killed (SIGKILL)", ct->id);
    else
      kk_report_line(rep, 2, "- container \"%s\": still running %gs after SIGTERM, killed (SIGKILL)", ct->id,
                     (double)timeout_ms / 1000.0);
  }
  return 0;
}

/* kuke restart by the cell's state (spec 4.13): a Ready cell is stopped
 * and started; one that ended is started; one that failed (or runs in
 * part) is recreated: everything its containers hold on the host goes and
 * the desired spec is started afresh.  Pending and Unknown are refused. */
static int restart(struct kk_controller *c, struct kk_doc *doc, int64_t timeout_ms, struct kk_report *rep,
                   kk_err_t *err) {
  struct kk_cell *cell = &doc->u.cell;
  int st = cell->status.base.state;
  const char *name = kk_doc_name(doc);
  switch (st) {
  case KK_CELL_PENDING:
  case KK_CELL_UNKNOWN:
    return kk_error_kind(err, KK_ERR_CONFLICT, 0,
                         "cell \"%s\" exists in %s state; delete it with `kuke delete cell %s` before restarting", name,
                         kk_state_name(KK_KIND_CELL, st), name);
  case KK_CELL_READY:
    if (stop_reporting(c, doc, SIGTERM, timeout_ms, rep, err) < 0)
      return -1;
    break;
  case KK_CELL_ERROR:
  case KK_CELL_FAILED:
  case KK_CELL_DEGRADED:
    if (kk_ctl_cell_stop(c, doc, SIGKILL, 0, err) < 0 || kk_ctl_cell_teardown(c, doc, err) < 0)
      return -1;
    kk_ctl_restarts_reset_cell(&c->restarts, cell);
    kk_report_line(rep, 2, "- recreated from its spec (it was %s)", kk_state_name(KK_KIND_CELL, st));
    break;
  default: /* Stopped, Exited: started as it is */
    break;
  }
  return kk_ctl_cell_start_and_put(c, doc, true, err);
}

int kk_ctl_cell_op(struct kk_controller *c, const struct kk_ref *ref, enum kk_cell_op op, int64_t timeout_ms,
                   struct kk_report *rep, kk_err_t *err) {
  cleanup_close int lock = kk_store_lock(c->store, true, err);
  if (lock < 0)
    return -1;
  kk_ctl_intent_finish(c, ref);
  cleanup_doc struct kk_doc *cell = NULL;
  if (kk_store_get(c->store, ref, &cell, err) < 0)
    return -1;
  kk_ctl_cell_observe(c, cell);
  if (timeout_ms <= 0)
    timeout_ms = kk_ctl_cell_stop_timeout_ms(&cell->u.cell, DEFAULT_STOP_TIMEOUT_MS);
  int r = 0;
  const char *verb = "Started";
  switch (op) {
  case KK_CELL_START:
    r = kk_ctl_cell_start_and_put(c, cell, true, err);
    break;
  case KK_CELL_STOP:
  case KK_CELL_KILL:
    verb = op == KK_CELL_STOP ? "Stopped" : "Killed";
    r = stop_reporting(c, cell, op == KK_CELL_STOP ? SIGTERM : SIGKILL, timeout_ms, rep, err);
    if (r == 0)
      kk_ctl_crash_at(c, KK_CRASH_AFTER_CELL_STOP);
    cell->u.cell.status.base.updated_at = kk_now();
    if (r == 0)
      r = kk_store_put_status(c->store, cell, err);
    break;
  case KK_CELL_RESTART:
    verb = "Restarted";
    r = restart(c, cell, timeout_ms, rep, err);
    break;
  }
  if (r < 0)
    return -1;
  rep->title = kk_asprintf("%s cell \"%s\" from stack \"%s\"", verb, ref->name, ref->stack);
  return 0;
}

int kk_ctl_container_dir(struct kk_controller *c, const struct kk_ref *ref, const char *container, char **dir,
                         char **container_id, bool *tty, kk_err_t *err) {
  cleanup_doc struct kk_doc *doc = NULL;
  {
    cleanup_close int lock = kk_store_lock(c->store, false, err);
    if (lock < 0 || kk_store_get(c->store, ref, &doc, err) < 0)
      return -1;
  }
  struct kk_cell *cell = &doc->u.cell;
  const struct kk_container_spec *ct = NULL;
  if (kk_ctl_cell_pick_container(cell, ref->name, container, &ct, err) < 0)
    return -1;
  cleanup_paths struct kk_ctr_paths p = {0};
  kk_ctl_ctr_paths_of(c, cell, ct, &p);
  if (access(p.bundle, F_OK) < 0)
    return kk_error_kind(err, KK_ERR_NOT_FOUND, 0, "container \"%s\" of cell \"%s\" has not been started", ct->id,
                         ref->name);
  *dir = kk_steal(&p.bundle);
  *container_id = kk_xstrdup(ct->id);
  *tty = ct->attachable;
  return 0;
}

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

int kk_ctl_cell_op(struct kk_controller *c, const struct kk_ref *ref, enum kk_cell_op op, struct kk_report *rep,
                   kk_err_t *err) {
  cleanup_close int lock = kk_store_lock(c->store, true, err);
  if (lock < 0)
    return -1;
  kk_ctl_intent_finish(c, ref);
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
    r = kk_ctl_cell_start_and_put(c, cell, true, err);
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
    r = kk_ctl_cell_start_and_put(c, cell, true, err);
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

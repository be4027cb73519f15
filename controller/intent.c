/* A cell brought to a new spec (a diff applied in place; a recreate when
 * its root changed) changes its containers on the host and then writes
 * several of its files.  A SIGKILL in between would leave the store and
 * the host halfway between the two specs, so the whole of it is bracketed
 * by an intent record (store.h): written before the first change, removed
 * after the last.  A record left behind is completed, never undone: the
 * steps below are each safe to run again, whatever of them ran before. */
#include <stdlib.h>

#include "controller/internal.h"
#include "lib/log.h"
#include "lib/util.h"

/* The steps, after the record: new limits (and a cgroup lost to a reboot),
 * the containers that changed or went away torn down (all of them when the
 * root changed: kk_ctl_cell_gone), the cell started, want persisted (a
 * failed start is persisted as Failed, and still ends the intent), the
 * record removed.  A failure before the persist keeps the record: the next
 * pass tries again. */
static int bring_to(struct kk_controller *c, const struct kk_doc *stored, struct kk_doc *want,
                    struct kk_strv *warnings, kk_err_t *err) {
  struct kk_strv lines = {0};
  bool made = false;
  int r = kk_ctl_cgroup_up(c, want, kk_ctl_resources_of(stored), &made, &lines, warnings, err);
  kk_strv_free(&lines);
  if (r < 0 || kk_ctl_cell_update(c, stored, want, err) < 0)
    return -1;
  kk_ctl_crash_at(c, KK_CRASH_AFTER_UPDATE);
  kk_err_t start_err = NULL;
  int started = kk_ctl_cell_start(c, want, &start_err);
  if (started == 0)
    kk_ctl_crash_at(c, KK_CRASH_AFTER_CELL_START);
  want->u.cell.status.base.updated_at = kk_now();
  struct kk_ctl_crash_put hook;
  kk_ctl_crash_put_arm(c, &hook, want->u.cell.spec.n_containers);
  r = kk_store_put(c->store, want, false, err);
  kk_ctl_crash_put_disarm(c);
  if (r < 0) {
    kk_error_free(&start_err);
    return -1;
  }
  kk_ctl_crash_at(c, KK_CRASH_AFTER_PUT);
  struct kk_ref ref = kk_ref_of(want);
  kk_err_t e = NULL;
  if (kk_store_intent_clear(c->store, &ref, &e) < 0) {
    kk_warn("cell %s: %s", ref.name, e->msg);
    kk_error_free(&e);
  }
  if (started < 0) {
    *err = start_err;
    return -1;
  }
  return 0;
}

int kk_ctl_cell_rewrite(struct kk_controller *c, const struct kk_doc *stored, struct kk_doc *want,
                        struct kk_strv *warnings, kk_err_t *err) {
  if (kk_store_intent_put(c->store, want, err) < 0)
    return -1;
  kk_ctl_crash_at(c, KK_CRASH_AFTER_INTENT);
  return bring_to(c, stored, want, warnings, err);
}

/* The stored cell may be the old spec, the new one, or a mix of the two
 * (a put cut short): whatever differs from the intent is torn down and
 * started again, which at worst restarts a container that was new already. */
static int finish(struct kk_controller *c, const struct kk_ref *ref, kk_err_t *err) {
  cleanup_doc struct kk_doc *want = NULL;
  int r = kk_store_intent_get(c->store, ref, &want, err);
  if (r != 0)
    return r < 0 ? -1 : 0;
  cleanup_doc struct kk_doc *stored = NULL;
  if (kk_store_get(c->store, ref, &stored, err) < 0) {
    if ((*err)->kind != KK_ERR_NOT_FOUND)
      return -1;
    kk_error_free(err); /* deleted: the record went, or goes, with its directory */
    return 0;
  }
  kk_ctl_carry_status(want, stored); /* observed later than the record was written */
  struct kk_strv warnings = {0};
  r = bring_to(c, stored, want, &warnings, err);
  for (size_t i = 0; i < warnings.n; i++)
    kk_warn("cell %s: %s", ref->name, warnings.v[i]);
  kk_strv_free(&warnings);
  if (r == 0)
    kk_info("cell %s: completed the update a crash interrupted", ref->name);
  return r;
}

void kk_ctl_intent_finish(struct kk_controller *c, const struct kk_ref *cell) {
  kk_err_t e = NULL;
  if (finish(c, cell, &e) < 0) {
    kk_warn("cell %s: completing an interrupted update: %s", cell->name, e->msg);
    kk_error_free(&e);
  }
}

static int finish_one(void *ctx, const struct kk_ref *cell, kk_err_t *err) {
  (void)err;
  kk_ctl_intent_finish(ctx, cell);
  return 0;
}

void kk_ctl_intents_finish(struct kk_controller *c) {
  kk_err_t e = NULL;
  if (kk_store_each_intent(c->store, finish_one, c, &e) < 0) {
    kk_warn("looking for interrupted updates: %s", e->msg);
    kk_error_free(&e);
  }
}

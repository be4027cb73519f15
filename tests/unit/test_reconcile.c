/* The decisions the reacting reconcile takes, without a host: when a
 * restart is owed and when its backoff ends (to the millisecond), when an
 * on-failure budget is whole again, when the whole cell comes back for a
 * dead root, when an auto-delete cell is reaped, the cell state of spec
 * 5.5 (Degraded while some run), and the exit notices' names. */
#include <stdlib.h>
#include <string.h>

#include "controller/internal.h"
#include "lib/util.h"
#include "model/model.h"
#include "unit.h"

#define T0 1767323045LL      /* 2026-01-02T03:04:05Z, in seconds */
#define T0_MS (T0 * 1000LL) /* and in ms */

/* A cell c in r/s/t holding these containers (a YAML flow list), with the
 * pause root when none is marked root, as apply would store it. */
static struct kk_doc *cell_with(const char *flow_list) {
  cleanup_free char *y = kk_asprintf("kind: Cell\nmetadata: {name: c}\n"
                                     "spec: {realmId: r, spaceId: s, stackId: t, containers: %s}\n",
                                     flow_list);
  struct kk_doc_list docs = {0};
  kk_err_t err = NULL;
  ck_assert_int_eq(kk_docs_parse(y, strlen(y), "c.yaml", &docs, &err), 0);
  ck_assert_uint_eq(docs.n, 1);
  struct kk_doc *cell = docs.docs[0];
  free(docs.docs);
  ck_assert_int_eq(kk_doc_normalize(cell, NULL, &err), 0);
  if (kk_cell_root(&cell->u.cell) == NULL)
    kk_cell_add_pause_root(&cell->u.cell);
  return cell;
}

static struct kk_container_status *st(struct kk_doc *d, const char *id, int state, int64_t code) {
  struct kk_container_status *cs = kk_ctl_status_slot(&d->u.cell, id);
  cs->state = state;
  cs->exit_code = code;
  return cs;
}

static const struct kk_container_spec *spec(struct kk_doc *d, const char *id) {
  return kk_ctl_spec_by_id(&d->u.cell, id);
}

/* ------------------------------------------------------------ backoff */

START_TEST(backoff_counted_in_ms_from_the_last_restart) {
  cleanup_doc struct kk_doc *d =
      cell_with("[{id: f, image: x, restartPolicy: on-failure, restartBackoffSeconds: 1, restartMaxRetries: 3}]");
  const struct kk_container_spec *f = spec(d, "f");
  struct kk_container_status *cs = st(d, "f", KK_CTR_ERROR, 1);
  int64_t due = -1;
  /* The first crash: at once, nothing owed later. */
  ck_assert_int_eq(kk_ctl_restart_step(f, cs, 0, 0, T0_MS, &due), KK_RESTART_NOW);
  ck_assert_int_eq(due, 0);
  /* Restarted 400 ms ago and crashed again: owed when the second is up. */
  ck_assert_int_eq(kk_ctl_restart_step(f, cs, 1, T0_MS - 400, T0_MS, &due), KK_RESTART_DEFERRED);
  ck_assert_int_eq(due, T0_MS + 600);
  ck_assert_int_eq(kk_ctl_restart_step(f, cs, 1, T0_MS - 999, T0_MS, &due), KK_RESTART_DEFERRED);
  ck_assert_int_eq(kk_ctl_restart_step(f, cs, 1, T0_MS - 1000, T0_MS, &due), KK_RESTART_NOW);
  ck_assert_int_eq(due, 0);
  /* Three retries used: nothing more, nothing owed later. */
  ck_assert_int_eq(kk_ctl_restart_step(f, cs, 3, T0_MS - 5000, T0_MS, &due), KK_RESTART_EXHAUSTED);
  ck_assert_int_eq(due, 0);
  /* Exit 0 under on-failure: no restart. */
  cs->exit_code = 0;
  cs->state = KK_CTR_EXITED;
  ck_assert_int_eq(kk_ctl_restart_step(f, cs, 0, 0, T0_MS, &due), KK_RESTART_NONE);
}
END_TEST

START_TEST(backoff_default_and_zero) {
  cleanup_doc struct kk_doc *d = cell_with("[{id: a, image: x, restartPolicy: always},"
                                           " {id: z, image: x, restartPolicy: always, restartBackoffSeconds: 0}]");
  st(d, "a", KK_CTR_EXITED, 0);
  st(d, "z", KK_CTR_EXITED, 0); /* slots added: pointers to them only from here on */
  struct kk_container_status *ca = kk_ctl_status_slot(&d->u.cell, "a"), *cz = kk_ctl_status_slot(&d->u.cell, "z");
  int64_t due = 0;
  /* Unset: 30 s. */
  ck_assert_int_eq(kk_ctl_restart_step(spec(d, "a"), ca, 0, T0_MS - 29999, T0_MS, &due), KK_RESTART_DEFERRED);
  ck_assert_int_eq(due, T0_MS + 1);
  /* 0: every exit at once. */
  ck_assert_int_eq(kk_ctl_restart_step(spec(d, "z"), cz, 9, T0_MS - 1, T0_MS, &due), KK_RESTART_NOW);
}
END_TEST

START_TEST(last_restart_from_memory_else_the_status) {
  struct kk_restarts r = {0};
  struct kk_container_status cs = {.restart_time = T0 - 3};
  /* A daemon that just started knows the stored second only. */
  ck_assert_int_eq(kk_ctl_last_restart_ms(&r, "s_t_c_f", &cs), T0_MS - 3000);
  kk_ctl_restart_slot(&r, "s_t_c_f")->last_ms = T0_MS - 2500;
  ck_assert_int_eq(kk_ctl_last_restart_ms(&r, "s_t_c_f", &cs), T0_MS - 2500);
  ck_assert_int_eq(kk_ctl_last_restart_ms(&r, "s_t_c_g", &cs), T0_MS - 3000);
  kk_ctl_restarts_free(&r);
}
END_TEST

START_TEST(budget_whole_again_after_a_long_run) {
  struct kk_container_status cs = {.state = KK_CTR_READY, .start_time = T0 - 9};
  ck_assert(!kk_ctl_restart_renewed(&cs, T0));
  ck_assert(kk_ctl_restart_renewed(&cs, T0 + 1));
  /* Ended after a long run, seen only afterwards: no crash loop either. */
  cs = (struct kk_container_status){.state = KK_CTR_ERROR, .start_time = T0 - 60, .finish_time = T0 - 30};
  ck_assert(kk_ctl_restart_renewed(&cs, T0));
  cs.finish_time = T0 - 59;
  ck_assert(!kk_ctl_restart_renewed(&cs, T0));
  cs = (struct kk_container_status){.state = KK_CTR_PENDING};
  ck_assert(!kk_ctl_restart_renewed(&cs, T0));
}
END_TEST

/* ------------------------------------------------------- a dead root */

START_TEST(pause_root_back_with_the_quickest_always_app) {
  cleanup_doc struct kk_doc *d = cell_with("[{id: a, image: x, restartPolicy: always, restartBackoffSeconds: 4},"
                                           " {id: b, image: x, restartPolicy: always, restartBackoffSeconds: 2},"
                                           " {id: n, image: x}]");
  struct kk_cell *cell = &d->u.cell;
  cell->status.ready_observed = true;
  st(d, kk_cell_root(cell)->id, KK_CTR_ERROR, 137);
  int64_t due = 0;
  ck_assert(kk_ctl_root_restart_due(cell, false, 0, T0_MS, &due));
  ck_assert(!kk_ctl_root_restart_due(cell, false, T0_MS - 1500, T0_MS, &due));
  ck_assert_int_eq(due, T0_MS + 500); /* b's 2 s, not a's 4 s nor the default 30 s */
  ck_assert(kk_ctl_root_restart_due(cell, false, T0_MS - 2000, T0_MS, &due));
  ck_assert(!kk_ctl_root_restart_due(cell, true, 0, T0_MS, &due));
  ck_assert_int_eq(due, 0);
}
END_TEST

START_TEST(own_root_keeps_its_own_backoff) {
  cleanup_doc struct kk_doc *d =
      cell_with("[{id: m, image: x, root: true, restartPolicy: always, restartBackoffSeconds: 1}]");
  struct kk_cell *cell = &d->u.cell;
  cell->status.ready_observed = true;
  st(d, "m", KK_CTR_ERROR, 137);
  int64_t due = 0;
  ck_assert(!kk_ctl_root_restart_due(cell, false, T0_MS - 200, T0_MS, &due));
  ck_assert_int_eq(due, T0_MS + 800);
  /* Meanwhile the cell is Degraded: it comes back, it did not fail. */
  struct kk_restarts r = {0};
  cell->status.base.state = KK_CELL_READY;
  kk_ctl_cell_derive_state(&r, cell, T0);
  ck_assert_int_eq(cell->status.base.state, KK_CELL_DEGRADED);
}
END_TEST

/* ---------------------------------------------------------- auto-delete */

START_TEST(auto_delete_owed_at_the_end_of_its_grace) {
  cleanup_doc struct kk_doc *d = cell_with("[{id: a, image: x}]");
  struct kk_cell *cell = &d->u.cell;
  cell->spec.auto_delete = true;
  cell->status.ready_observed = true;
  cell->status.base.state = KK_CELL_EXITED;
  st(d, "a", KK_CTR_EXITED, 0)->finish_time = T0 - 2;
  int64_t due = 0;
  ck_assert(!kk_ctl_auto_delete_due(cell, T0_MS, &due));
  ck_assert_int_eq(due, T0_MS + 3000);
  ck_assert(kk_ctl_auto_delete_due(cell, T0_MS + 3000, &due));
  cell->status.base.state = KK_CELL_DEGRADED; /* a restart is owed: not reaped, nothing due */
  ck_assert(!kk_ctl_auto_delete_due(cell, T0_MS + 9000, &due));
  ck_assert_int_eq(due, 0);
}
END_TEST

/* ----------------------------------------------------------- cell state */

START_TEST(degraded_while_some_run) {
  struct kk_restarts r = {0};
  cleanup_doc struct kk_doc *d = cell_with("[{id: up, image: x}, {id: down, image: x}]");
  struct kk_cell *cell = &d->u.cell;
  const char *root = kk_cell_root(cell)->id;
  cell->status.base.state = KK_CELL_READY;
  st(d, root, KK_CTR_READY, 0);
  st(d, "up", KK_CTR_READY, 0);
  st(d, "down", KK_CTR_ERROR, 2);
  kk_ctl_cell_derive_state(&r, cell, T0);
  ck_assert_int_eq(cell->status.base.state, KK_CELL_DEGRADED);
  /* The root gone, the apps on: Degraded too. */
  st(d, "down", KK_CTR_READY, 0);
  st(d, root, KK_CTR_ERROR, 137);
  kk_ctl_cell_derive_state(&r, cell, T0);
  ck_assert_int_eq(cell->status.base.state, KK_CELL_DEGRADED);
  /* Nothing of it runs and one failed: Error, which stays. */
  st(d, "up", KK_CTR_EXITED, 0);
  st(d, "down", KK_CTR_ERROR, 2);
  kk_ctl_cell_derive_state(&r, cell, T0);
  ck_assert_int_eq(cell->status.base.state, KK_CELL_ERROR);
  ck_assert_str_eq(cell->status.base.reason, "WorkloadFailed");
  st(d, "up", KK_CTR_READY, 0);
  kk_ctl_cell_derive_state(&r, cell, T0);
  ck_assert_int_eq(cell->status.base.state, KK_CELL_ERROR);
  /* Failed (kukeon's own fault) stays while nothing runs. */
  cell->status.base.state = KK_CELL_FAILED;
  st(d, "up", KK_CTR_STOPPED, 0);
  st(d, root, KK_CTR_STOPPED, 0);
  kk_ctl_cell_derive_state(&r, cell, T0);
  ck_assert_int_eq(cell->status.base.state, KK_CELL_FAILED);
}
END_TEST

START_TEST(exhausted_says_so_and_observers_add_no_slot) {
  struct kk_restarts r = {0};
  cleanup_doc struct kk_doc *d =
      cell_with("[{id: f, image: x, restartPolicy: on-failure, restartMaxRetries: 2}]");
  struct kk_cell *cell = &d->u.cell;
  cell->status.base.state = KK_CELL_READY;
  st(d, kk_cell_root(cell)->id, KK_CTR_READY, 0);
  struct kk_container_status *cs = st(d, "f", KK_CTR_ERROR, 1);
  /* Observed with no record of attempts: a restart is owed, and the
   * observer (a get under the shared lock) added nothing. */
  kk_ctl_cell_derive_state(&r, cell, T0);
  ck_assert_int_eq(cell->status.base.state, KK_CELL_DEGRADED);
  ck_assert_uint_eq(r.n, 0);
  kk_ctl_restart_slot(&r, spec(d, "f")->containerd_id)->attempts = 2;
  cs->restart_count = 2;
  kk_ctl_cell_derive_state(&r, cell, T0);
  ck_assert_int_eq(cell->status.base.state, KK_CELL_ERROR);
  ck_assert_str_eq(cell->status.base.reason, "RestartsExhausted");
  ck_assert_str_eq(cell->status.base.message,
                   "container \"f\" exited with code 1; its 2 restart(s) are used up (restartMaxRetries)");
  kk_ctl_restarts_free(&r);
}
END_TEST

/* -------------------------------------------------------- exit notices */

START_TEST(exit_notice_names) {
  cleanup_doc struct kk_doc *d = cell_with("[{id: app, image: x}]");
  cleanup_free char *name = kk_ctl_exit_notice_name(&d->u.cell, spec(d, "app"));
  ck_assert_str_eq(name, "r_s_t_c_app");
  struct kk_ref ref;
  ck_assert(kk_ctl_exit_notice_parse(name, &ref));
  ck_assert_int_eq(ref.kind, KK_KIND_CELL);
  ck_assert_str_eq(ref.realm, "r");
  ck_assert_str_eq(ref.space, "s");
  ck_assert_str_eq(ref.stack, "t");
  ck_assert_str_eq(ref.name, "c");
  const char *bad[] = {"", "r_s_t_c", "r_s_t_c_a_b", "_s_t_c_a", "r__t_c_a", "r_s_t_c_", "plain"};
  for (size_t i = 0; i < KK_ARRAY_SIZE(bad); i++) {
    cleanup_free char *b = kk_xstrdup(bad[i]);
    ck_assert_msg(!kk_ctl_exit_notice_parse(b, &ref), "%s", bad[i]);
  }
}
END_TEST

/* The pass persists a cell only when supervising changed its status. */
START_TEST(status_equal_sees_what_supervising_changes) {
  cleanup_doc struct kk_doc *a = cell_with("[{id: app, image: x}]");
  st(a, "app", KK_CTR_READY, 0);
  cleanup_doc struct kk_doc *b = kk_doc_clone(a);
  ck_assert(kk_doc_status_equal(a, b));
  st(b, "app", KK_CTR_EXITED, 0);
  ck_assert(!kk_doc_status_equal(a, b));
  st(b, "app", KK_CTR_READY, 0);
  ck_assert(kk_doc_status_equal(a, b));
  kk_ctl_status_slot(&b->u.cell, "app")->restart_count = 1;
  ck_assert(!kk_doc_status_equal(a, b));
  kk_ctl_status_slot(&b->u.cell, "app")->restart_count = 0;
  b->u.cell.status.base.state = KK_CELL_ERROR;
  ck_assert(!kk_doc_status_equal(a, b));
}
END_TEST

static Suite *reconcile_suite(void) {
  Suite *s = suite_create("reconcile");
  TCase *tc = tcase_create("decisions");
  tcase_add_test(tc, backoff_counted_in_ms_from_the_last_restart);
  tcase_add_test(tc, backoff_default_and_zero);
  tcase_add_test(tc, last_restart_from_memory_else_the_status);
  tcase_add_test(tc, budget_whole_again_after_a_long_run);
  tcase_add_test(tc, pause_root_back_with_the_quickest_always_app);
  tcase_add_test(tc, own_root_keeps_its_own_backoff);
  tcase_add_test(tc, auto_delete_owed_at_the_end_of_its_grace);
  tcase_add_test(tc, degraded_while_some_run);
  tcase_add_test(tc, exhausted_says_so_and_observers_add_no_slot);
  tcase_add_test(tc, exit_notice_names);
  tcase_add_test(tc, status_equal_sees_what_supervising_changes);
  suite_add_tcase(s, tc);
  return s;
}

KK_UNIT_MAIN(reconcile_suite)

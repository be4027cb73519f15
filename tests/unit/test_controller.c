/* controller/: the pure parts its files call down into.  names.c (where a
 * resource sits, what its containers are called on the host), apply_diff.c
 * (what apply refuses, the order it applies in, a Container document into
 * its cell), cell_state.c (a cell's state from its container statuses, what
 * supervision owes each container), the limits of cgroup.c and the test
 * hook's names.  No root, no host, no store. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "cgroupfs/cgroupfs.h"
#include "controller/internal.h"
#include "lib/util.h"
#include "model/model.h"
#include "unit.h"

#define NOW 1767323045 /* 2026-01-02T03:04:05Z */
#define NOW_MS (NOW * 1000LL)

/* ------------------------------------------------------------- helpers */

/* One document, parsed and normalized as apply would. */
static struct kk_doc *doc_of(const char *yaml) {
  struct kk_doc_list l = {0};
  kk_err_t err = NULL;
  int r = kk_docs_parse(yaml, strlen(yaml), "t.yaml", &l, &err);
  ck_assert_msg(r == 0 && l.n == 1, "parse: %s", err ? err->msg : "?");
  struct kk_doc *d = l.docs[0];
  free(l.docs);
  r = kk_doc_normalize(d, NULL, &err);
  ck_assert_msg(r == 0, "normalize: %s", err ? err->msg : "?");
  return d;
}

/* Cell c in r/s/t with the given containers (YAML list items), a pause
 * root added when none of them is the root. */
static struct kk_doc *cell_of(const char *containers) {
  cleanup_free char *y = kk_asprintf("kind: Cell\nmetadata: {name: c}\nspec:\n  realmId: r\n  spaceId: s\n"
                                     "  stackId: t\n  containers:\n%s",
                                     containers);
  struct kk_doc *d = doc_of(y);
  if (kk_cell_root(&d->u.cell) == NULL)
    kk_cell_add_pause_root(&d->u.cell);
  return d;
}

#define APP(policy) "  - {id: app, image: busybox, restartPolicy: " policy "}\n"

static void set_state(struct kk_cell *cell, const char *id, int state, int64_t exit_code) {
  struct kk_container_status *cs = kk_ctl_status_slot(cell, id);
  cs->state = state;
  cs->exit_code = exit_code;
}

static const char *root_id(struct kk_cell *cell) { return kk_cell_root(cell)->id; }

/* --------------------------------------------------------------- names */

START_TEST(parent_and_child_refs) {
  struct kk_ref realm = {.kind = KK_KIND_REALM, .name = "r"};
  struct kk_ref cell = {.kind = KK_KIND_CELL, .realm = "r", .space = "s", .stack = "t", .name = "c"};
  struct kk_ref p;
  ck_assert(!kk_ctl_parent_ref(&realm, &p));
  ck_assert(kk_ctl_parent_ref(&cell, &p));
  ck_assert_int_eq(p.kind, KK_KIND_STACK);
  ck_assert_str_eq(p.name, "t");
  struct kk_ref space = {.kind = KK_KIND_SPACE, .realm = "r", .name = "s"};
  ck_assert(kk_ctl_parent_ref(&space, &p));
  ck_assert_int_eq(p.kind, KK_KIND_REALM);
  ck_assert_str_eq(p.name, "r");

  struct kk_ref kids = kk_ctl_child_scope(&space);
  ck_assert_int_eq(kids.kind, KK_KIND_STACK);
  ck_assert_str_eq(kids.realm, "r");
  ck_assert_str_eq(kids.space, "s");
  ck_assert_ptr_null(kids.name);
  kids = kk_ctl_child_scope(&realm);
  ck_assert_int_eq(kids.kind, KK_KIND_SPACE);
  ck_assert_str_eq(kids.realm, "r");
}
END_TEST

START_TEST(cell_names_on_the_host) {
  struct kk_ref ref = {.kind = KK_KIND_CELL, .realm = "r", .space = "s", .stack = "t", .name = "c"};
  cleanup_free char *prefix = kk_ctl_cell_name_prefix(&ref);
  ck_assert_str_eq(prefix, "s_t_c_");
  /* A cell rebuilt from names: each id once, "root" is the root. */
  cleanup_doc struct kk_doc *d = kk_doc_new(KK_KIND_CELL);
  kk_ctl_cell_add_named(&d->u.cell, &ref, "app");
  kk_ctl_cell_add_named(&d->u.cell, &ref, KK_ROOT_CONTAINER_ID);
  kk_ctl_cell_add_named(&d->u.cell, &ref, "app");
  ck_assert_uint_eq(d->u.cell.spec.n_containers, 2);
  ck_assert(!d->u.cell.spec.containers[0].root);
  ck_assert(d->u.cell.spec.containers[1].root);
  cleanup_free char *rid = kk_container_runtime_id("s", "t", "c", "app", false);
  ck_assert_str_eq(d->u.cell.spec.containers[0].containerd_id, rid);

  cleanup_free char *t1 = kk_ctl_delete_title(&ref);
  ck_assert_str_eq(t1, "Deleted cell \"c\" from stack \"t\"");
  struct kk_ref space = {.kind = KK_KIND_SPACE, .realm = "r", .name = "s"};
  cleanup_free char *t2 = kk_ctl_delete_title(&space);
  ck_assert_str_eq(t2, "Deleted space \"s\" from realm \"r\"");
}
END_TEST

/* ---------------------------------------------------------- apply diff */

static char *breaking(const char *stored_yaml, const char *want_yaml) {
  cleanup_doc struct kk_doc *a = doc_of(stored_yaml);
  cleanup_doc struct kk_doc *b = doc_of(want_yaml);
  struct kk_strv out = {0};
  kk_ctl_breaking_changes(a, b, &out);
  char *s = kk_strv_join(&out, ",");
  kk_strv_free(&out);
  return s;
}

START_TEST(breaking_changes_refused) {
  cleanup_free char *realm = breaking("kind: Realm\nmetadata: {name: r}\nspec: {namespace: a.io}\n",
                                      "kind: Realm\nmetadata: {name: r}\nspec: {namespace: b.io}\n");
  ck_assert_str_eq(realm, "spec.namespace");
  cleanup_free char *space =
      breaking("kind: Space\nmetadata: {name: s}\nspec: {realmId: r, cniConfigPath: /a}\n",
               "kind: Space\nmetadata: {name: s}\nspec: {realmId: r, cniConfigPath: /b}\n");
  ck_assert_str_eq(space, "spec.cniConfigPath");
#define CELL_YAML                                                                                          \
  "kind: Cell\nmetadata: {name: c}\nspec:\n  realmId: r\n  spaceId: s\n  stackId: t\n"                        \
  "  nestedCgroupRuntime: %s\n  containers:\n  - {id: app, image: busybox, hostNetwork: %s, hostPID: %s}\n"
  cleanup_free char *a = kk_asprintf(CELL_YAML, "false", "false", "false");
  cleanup_free char *b = kk_asprintf(CELL_YAML, "true", "true", "false");
  cleanup_free char *c = kk_asprintf(CELL_YAML, "false", "false", "true");
#undef CELL_YAML
  cleanup_free char *ab = breaking(a, b);
  ck_assert_str_eq(ab, "spec.nestedCgroupRuntime,spec.containers[app].hostNetwork");
  cleanup_free char *ac = breaking(a, c);
  ck_assert_str_eq(ac, "spec.containers[app].hostPID");
  /* A new image is a change apply makes, not a breaking one. */
  cleanup_free char *d = kk_asprintf("%s", a);
  cleanup_free char *img = kk_asprintf("%.*simage: alpine%s", (int)(strstr(a, "image: busybox") - a), a,
                                       strstr(a, "image: busybox") + strlen("image: busybox"));
  cleanup_free char *none = breaking(d, img);
  ck_assert_str_eq(none, "");
  cleanup_free char *stacks =
      breaking("kind: Stack\nmetadata: {name: t}\nspec: {realmId: r, spaceId: s}\n",
               "kind: Stack\nmetadata: {name: t}\nspec: {realmId: r, spaceId: s, resources: {pidsMax: 10}}\n");
  ck_assert_str_eq(stacks, "");
}
END_TEST

START_TEST(apply_order_parents_first) {
  const char *yaml = "kind: Cell\nmetadata: {name: c1}\nspec: {realmId: r, spaceId: s, stackId: t, containers: "
                     "[{id: a, image: x}]}\n---\n"
                     "kind: Space\nmetadata: {name: s}\nspec: {realmId: r}\n---\n"
                     "kind: Container\nmetadata: {name: a}\nspec: {realmId: r, spaceId: s, stackId: t, cellId: c1, "
                     "image: x}\n---\n"
                     "kind: Realm\nmetadata: {name: r}\n---\n"
                     "kind: Cell\nmetadata: {name: c2}\nspec: {realmId: r, spaceId: s, stackId: t, containers: "
                     "[{id: a, image: x}]}\n---\n"
                     "kind: Stack\nmetadata: {name: t}\nspec: {realmId: r, spaceId: s}\n";
  cleanup_doc_list struct kk_doc_list l = {0};
  kk_err_t err = NULL;
  ck_assert_int_eq(kk_docs_parse(yaml, strlen(yaml), "t.yaml", &l, &err), 0);
  ck_assert_uint_eq(l.n, 6);
  size_t order[6];
  ck_assert_uint_eq(kk_ctl_apply_order(&l, order), 6);
  const size_t want[6] = {3, 1, 5, 0, 4, 2}; /* realm, space, stack, cells in file order, container */
  for (size_t i = 0; i < 6; i++)
    ck_assert_uint_eq(order[i], want[i]);
}
END_TEST

/* Cell state st, its root running or not. */
static bool unchanged_restarts(int st, bool root_up) {
  cleanup_doc struct kk_doc *d = cell_of("  - {id: m, root: true, image: x}\n  - {id: a, image: x}\n");
  d->u.cell.status.base.state = st;
  kk_ctl_status_slot(&d->u.cell, "m")->state = root_up ? KK_CTR_READY : KK_CTR_EXITED;
  kk_ctl_status_slot(&d->u.cell, "a")->state = KK_CTR_READY;
  return kk_ctl_unchanged_cell_restarts(&d->u.cell);
}

START_TEST(unchanged_cell_restarts_when_down) {
  ck_assert(unchanged_restarts(KK_CELL_STOPPED, false));
  ck_assert(unchanged_restarts(KK_CELL_FAILED, false));
  ck_assert(unchanged_restarts(KK_CELL_PENDING, false));
  ck_assert(!unchanged_restarts(KK_CELL_READY, true));
  /* Issue 20: an unchanged spec with a dead runtime restarts, an ended one too. */
  ck_assert(unchanged_restarts(KK_CELL_EXITED, false));
  ck_assert(unchanged_restarts(KK_CELL_ERROR, false));
  /* Degraded or Unknown: restarted when the root is down (nothing else
   * brings a root back), left to the restart policies while it runs. */
  ck_assert(!unchanged_restarts(KK_CELL_DEGRADED, true));
  ck_assert(unchanged_restarts(KK_CELL_DEGRADED, false));
  ck_assert(!unchanged_restarts(KK_CELL_UNKNOWN, true));
  ck_assert(unchanged_restarts(KK_CELL_UNKNOWN, false));
}
END_TEST

static struct kk_doc *container_doc(const char *id, const char *image) {
  cleanup_free char *y = kk_asprintf("kind: Container\nmetadata: {name: %s}\nspec: {id: %s, realmId: r, spaceId: s, "
                                     "stackId: t, cellId: c, image: %s}\n",
                                     id, id, image);
  return doc_of(y);
}

START_TEST(container_document_into_its_cell) {
  cleanup_doc struct kk_doc *cell = cell_of("  - {id: app, image: busybox}\n");
  struct kk_cell *cl = &cell->u.cell;
  size_t n = cl->spec.n_containers;
  kk_err_t err = NULL;

  /* The same spec: unchanged, nothing moves. */
  cleanup_doc struct kk_doc *same = container_doc("app", "busybox");
  struct kk_apply_item it = {0};
  ck_assert_int_eq(kk_ctl_cell_put_container(cl, same, &it, &err), 0);
  ck_assert_int_eq(it.action, KK_APPLY_UNCHANGED);
  ck_assert_uint_eq(it.changes.n, 0);

  /* A new image: the spec of that name is replaced, the diff names it. */
  cleanup_doc struct kk_doc *changed = container_doc("app", "alpine");
  struct kk_apply_item it2 = {0};
  ck_assert_int_eq(kk_ctl_cell_put_container(cl, changed, &it2, &err), 0);
  ck_assert_int_eq(it2.action, KK_APPLY_UPDATED);
  ck_assert_uint_gt(it2.changes.n, 0);
  ck_assert_str_eq(kk_ctl_spec_by_id(cl, "app")->image, "alpine");
  ck_assert_uint_eq(cl->spec.n_containers, n);
  kk_strv_free(&it2.changes);

  /* A new name: added, with a pending status. */
  cleanup_doc struct kk_doc *side = container_doc("side", "busybox");
  struct kk_apply_item it3 = {0};
  ck_assert_int_eq(kk_ctl_cell_put_container(cl, side, &it3, &err), 0);
  ck_assert_int_eq(it3.action, KK_APPLY_CREATED);
  ck_assert_uint_eq(cl->spec.n_containers, n + 1);
  ck_assert_int_eq(kk_ctl_status_slot(cl, "side")->state, KK_CTR_PENDING);
  ck_assert_uint_eq(cl->status.n_containers, 1);

  /* The root is the cell's own. */
  cleanup_free char *root_yaml =
      kk_asprintf("kind: Container\nmetadata: {name: %s}\nspec: {id: %s, realmId: r, spaceId: s, stackId: t, "
                  "cellId: c, image: busybox}\n",
                  root_id(cl), root_id(cl));
  cleanup_doc struct kk_doc *root = doc_of(root_yaml);
  struct kk_apply_item it4 = {0};
  ck_assert_int_eq(kk_ctl_cell_put_container(cl, root, &it4, &err), -1);
  ck_assert_int_eq(err->kind, KK_ERR_CONFLICT);
  ck_assert_ptr_nonnull(strstr(err->msg, "is the root of cell \"c\""));
  kk_error_free(&err);
  kk_strv_free(&it4.changes);
}
END_TEST

START_TEST(carry_status_keeps_what_was_observed) {
  cleanup_doc struct kk_doc *stored = cell_of("  - {id: app, image: busybox}\n");
  stored->u.cell.status.base.state = KK_CELL_READY;
  set_state(&stored->u.cell, "app", KK_CTR_READY, 0);
  cleanup_doc struct kk_doc *want = cell_of("  - {id: app, image: alpine}\n");
  kk_ctl_carry_status(want, stored);
  ck_assert_int_eq(want->u.cell.status.base.state, KK_CELL_READY);
  ck_assert_int_eq(kk_ctl_status_slot(&want->u.cell, "app")->state, KK_CTR_READY);
  ck_assert_str_eq(kk_ctl_spec_by_id(&want->u.cell, "app")->image, "alpine");
  ck_assert_int_gt(want->u.cell.status.base.updated_at, 0);
  /* The stored document is left as it was. */
  ck_assert_str_eq(kk_ctl_spec_by_id(&stored->u.cell, "app")->image, "busybox");
  ck_assert_int_eq(stored->u.cell.status.base.state, KK_CELL_READY);
}
END_TEST

/* ---------------------------------------------------------- cell state */

/* A cell of root + app brought up once (Ready observed), with these
 * container states, then derived. */
static int derived(struct kk_cell *cell, struct kk_restarts *r, int stored, int root, int app, int64_t app_exit) {
  cell->status.base.state = stored;
  set_state(cell, root_id(cell), root, 0);
  set_state(cell, "app", app, app_exit);
  kk_ctl_cell_derive_state(r, cell, NOW);
  return cell->status.base.state;
}

START_TEST(cell_state_from_containers) {
  struct kk_restarts r = {0};
  cleanup_doc struct kk_doc *d = cell_of(APP("never"));
  struct kk_cell *cell = &d->u.cell;

  /* Never brought up, nothing runs: it stays Pending. */
  ck_assert_int_eq(derived(cell, &r, KK_CELL_PENDING, KK_CTR_PENDING, KK_CTR_PENDING, 0), KK_CELL_PENDING);
  /* Everything runs: Ready, and the first time is recorded. */
  ck_assert_int_eq(derived(cell, &r, KK_CELL_PENDING, KK_CTR_READY, KK_CTR_READY, 0), KK_CELL_READY);
  ck_assert(cell->status.ready_observed);
  ck_assert_int_eq(cell->status.base.ready_at, NOW);
  /* A container not started yet keeps it Ready while the root runs. */
  ck_assert_int_eq(derived(cell, &r, KK_CELL_READY, KK_CTR_READY, KK_CTR_PENDING, 0), KK_CELL_READY);
  /* Ended well, no restart owed: Exited. */
  ck_assert_int_eq(derived(cell, &r, KK_CELL_READY, KK_CTR_READY, KK_CTR_EXITED, 0), KK_CELL_EXITED);
  /* Unknown wins over ended. */
  ck_assert_int_eq(derived(cell, &r, KK_CELL_READY, KK_CTR_READY, KK_CTR_UNKNOWN, 0), KK_CELL_UNKNOWN);
  /* Failed with no restart owed: Error, with the reason. */
  ck_assert_int_eq(derived(cell, &r, KK_CELL_READY, KK_CTR_READY, KK_CTR_ERROR, 3), KK_CELL_ERROR);
  ck_assert_str_eq(cell->status.base.reason, "WorkloadFailed");
  ck_assert_str_eq(cell->status.base.message, "container \"app\" exited with code 3");
  /* Error is sticky, whatever runs. */
  ck_assert_int_eq(derived(cell, &r, KK_CELL_ERROR, KK_CTR_READY, KK_CTR_READY, 0), KK_CELL_ERROR);
  /* Stopped stays while nothing runs; what runs is the truth. */
  ck_assert_int_eq(derived(cell, &r, KK_CELL_STOPPED, KK_CTR_STOPPED, KK_CTR_STOPPED, 0), KK_CELL_STOPPED);
  ck_assert_int_eq(derived(cell, &r, KK_CELL_STOPPED, KK_CTR_READY, KK_CTR_READY, 0), KK_CELL_READY);
  ck_assert_ptr_null(cell->status.base.reason);
  kk_ctl_restarts_free(&r);
}
END_TEST

START_TEST(cell_state_with_restarts_owed) {
  struct kk_restarts r = {0};
  cleanup_doc struct kk_doc *d = cell_of("  - {id: app, image: busybox, restartPolicy: on-failure, "
                                         "restartMaxRetries: 2}\n");
  struct kk_cell *cell = &d->u.cell;
  const char *rid = kk_ctl_spec_by_id(cell, "app")->containerd_id;
  /* Failed, retries left: a restart is owed, Degraded (not Error). */
  ck_assert_int_eq(derived(cell, &r, KK_CELL_READY, KK_CTR_READY, KK_CTR_ERROR, 1), KK_CELL_DEGRADED);
  /* Exited 0 under on-failure: nothing owed. */
  ck_assert_int_eq(derived(cell, &r, KK_CELL_READY, KK_CTR_READY, KK_CTR_EXITED, 0), KK_CELL_EXITED);
  /* Retries used up: Error. */
  kk_ctl_restart_slot(&r, rid)->attempts = 2;
  ck_assert_int_eq(derived(cell, &r, KK_CELL_READY, KK_CTR_READY, KK_CTR_ERROR, 1), KK_CELL_ERROR);
  /* A cell that came up whole starts the budget afresh. */
  kk_ctl_restarts_reset_cell(&r, cell);
  ck_assert_int_eq(kk_ctl_restart_slot(&r, rid)->attempts, 0);
  ck_assert_uint_eq(r.n, 1);
  kk_ctl_restarts_free(&r);
  ck_assert_uint_eq(r.n, 0);

  cleanup_doc struct kk_doc *d2 = cell_of(APP("always"));
  ck_assert_int_eq(derived(&d2->u.cell, &r, KK_CELL_READY, KK_CTR_READY, KK_CTR_EXITED, 0), KK_CELL_DEGRADED);
  /* One runs, another is owed a restart: Degraded, not Ready. */
  cleanup_doc struct kk_doc *d3 = cell_of(APP("always") "  - {id: web, image: busybox}\n");
  set_state(&d3->u.cell, "web", KK_CTR_READY, 0);
  ck_assert_int_eq(derived(&d3->u.cell, &r, KK_CELL_READY, KK_CTR_READY, KK_CTR_EXITED, 0), KK_CELL_DEGRADED);
  ck_assert_int_eq(derived(&d3->u.cell, &r, KK_CELL_READY, KK_CTR_READY, KK_CTR_READY, 0), KK_CELL_READY);
  kk_ctl_restarts_free(&r);
}
END_TEST

START_TEST(cell_state_of_a_root_alone) {
  struct kk_restarts r = {0};
  cleanup_doc struct kk_doc *d = doc_of("kind: Cell\nmetadata: {name: c}\nspec: {realmId: r, spaceId: s, stackId: t, "
                                        "containers: [{id: main, image: busybox, root: true}]}\n");
  struct kk_cell *cell = &d->u.cell;
  cell->status.base.state = KK_CELL_READY;
  set_state(cell, "main", KK_CTR_READY, 0);
  kk_ctl_cell_derive_state(&r, cell, NOW);
  ck_assert_int_eq(cell->status.base.state, KK_CELL_READY);
  struct kk_container_status *cs = kk_ctl_status_slot(cell, "main");
  cs->state = KK_CTR_ERROR;
  cs->exit_code = 137;
  cs->exit_signal = kk_xstrdup("SIGKILL");
  kk_ctl_cell_derive_state(&r, cell, NOW);
  ck_assert_int_eq(cell->status.base.state, KK_CELL_ERROR);
  ck_assert_str_eq(cell->status.base.message, "container \"main\" was killed by SIGKILL (exit code 137)");
  cell->status.base.state = KK_CELL_READY;
  set_state(cell, "main", KK_CTR_EXITED, 0);
  kk_ctl_cell_derive_state(&r, cell, NOW);
  ck_assert_int_eq(cell->status.base.state, KK_CELL_EXITED);
  kk_ctl_restarts_free(&r);
}
END_TEST

/* --------------------------------------------------------- supervision */

START_TEST(restart_step_per_container) {
  cleanup_doc struct kk_doc *d = cell_of("  - {id: a, image: x, restartPolicy: always, restartBackoffSeconds: 10}\n"
                                         "  - {id: f, image: x, restartPolicy: on-failure, restartMaxRetries: 3}\n"
                                         "  - {id: n, image: x}\n");
  struct kk_cell *cell = &d->u.cell;
  const struct kk_container_spec *a = kk_ctl_spec_by_id(cell, "a"), *f = kk_ctl_spec_by_id(cell, "f"),
                                 *n = kk_ctl_spec_by_id(cell, "n");
  int64_t due = 0;
  struct kk_container_status cs = {.state = KK_CTR_READY, .start_time = NOW - 60};
  ck_assert_int_eq(kk_ctl_restart_step(f, &cs, 2, cs.restart_time * 1000, NOW_MS, &due), KK_RESTART_RESET); /* ran long enough */
  cs.start_time = NOW - 2;
  ck_assert_int_eq(kk_ctl_restart_step(f, &cs, 2, cs.restart_time * 1000, NOW_MS, &due), KK_RESTART_NONE);
  cs = (struct kk_container_status){.state = KK_CTR_PENDING};
  ck_assert_int_eq(kk_ctl_restart_step(a, &cs, 0, cs.restart_time * 1000, NOW_MS, &due), KK_RESTART_NONE);

  cs = (struct kk_container_status){.state = KK_CTR_EXITED, .exit_code = 0};
  ck_assert_int_eq(kk_ctl_restart_step(a, &cs, 0, cs.restart_time * 1000, NOW_MS, &due), KK_RESTART_NOW);
  ck_assert_int_eq(kk_ctl_restart_step(f, &cs, 0, cs.restart_time * 1000, NOW_MS, &due), KK_RESTART_NONE); /* on-failure, exit 0 */
  ck_assert_int_eq(kk_ctl_restart_step(n, &cs, 0, cs.restart_time * 1000, NOW_MS, &due), KK_RESTART_NONE); /* never */
  cs.restart_time = NOW - 5;
  ck_assert_int_eq(kk_ctl_restart_step(a, &cs, 0, cs.restart_time * 1000, NOW_MS, &due), KK_RESTART_DEFERRED); /* within its 10 s */
  cs.restart_time = NOW - 10;
  ck_assert_int_eq(kk_ctl_restart_step(a, &cs, 0, cs.restart_time * 1000, NOW_MS, &due), KK_RESTART_NOW);

  cs = (struct kk_container_status){.state = KK_CTR_ERROR, .exit_code = 1};
  ck_assert_int_eq(kk_ctl_restart_step(f, &cs, 2, cs.restart_time * 1000, NOW_MS, &due), KK_RESTART_NOW);
  ck_assert_int_eq(kk_ctl_restart_step(f, &cs, 3, cs.restart_time * 1000, NOW_MS, &due), KK_RESTART_EXHAUSTED);
  cs.restart_time = NOW - 29; /* the default backoff is 30 s */
  ck_assert_int_eq(kk_ctl_restart_step(f, &cs, 0, cs.restart_time * 1000, NOW_MS, &due), KK_RESTART_DEFERRED);
  ck_assert_str_eq(kk_ctl_restart_policy(n), "never");
}
END_TEST

/* The root's last restart as the status records it (a daemon's first
 * look). */
static bool root_due(struct kk_cell *cell, bool running) {
  int64_t due = 0;
  const struct kk_container_status *rs = kk_ctl_status_slot(cell, root_id(cell));
  return kk_ctl_root_restart_due(cell, running, rs->restart_time * 1000, NOW_MS, &due);
}

START_TEST(root_restart_due) {
  cleanup_doc struct kk_doc *d = cell_of(APP("always"));
  struct kk_cell *cell = &d->u.cell;
  set_state(cell, root_id(cell), KK_CTR_EXITED, 0);
  ck_assert(!root_due(cell, false)); /* never came up */
  cell->status.ready_observed = true;
  ck_assert(root_due(cell, false));
  ck_assert(!root_due(cell, true));
  kk_ctl_status_slot(cell, root_id(cell))->restart_time = NOW - 29;
  ck_assert(!root_due(cell, false)); /* the root's default 30 s backoff */
  kk_ctl_status_slot(cell, root_id(cell))->restart_time = NOW - 30;
  ck_assert(root_due(cell, false));
  set_state(cell, root_id(cell), KK_CTR_STOPPED, 0);
  ck_assert(!root_due(cell, false)); /* stopped by the operator */

  cleanup_doc struct kk_doc *d2 = cell_of(APP("on-failure"));
  d2->u.cell.status.ready_observed = true;
  set_state(&d2->u.cell, root_id(&d2->u.cell), KK_CTR_UNKNOWN, 0);
  ck_assert(!root_due(&d2->u.cell, false)); /* only "always" brings a cell back */
}
END_TEST

START_TEST(auto_delete_after_grace) {
  cleanup_doc struct kk_doc *d = doc_of("kind: Cell\nmetadata: {name: c}\nspec: {realmId: r, spaceId: s, stackId: t, "
                                        "autoDelete: true, containers: [{id: app, image: x}]}\n");
  struct kk_cell *cell = &d->u.cell;
  int64_t due = 0;
  cell->status.base.state = KK_CELL_EXITED;
  kk_ctl_status_slot(cell, "app")->finish_time = NOW - 4;
  ck_assert(!kk_ctl_auto_delete_due(cell, NOW_MS, &due)); /* never observed ready */
  cell->status.ready_observed = true;
  ck_assert(!kk_ctl_auto_delete_due(cell, NOW_MS, &due)); /* within the grace */
  kk_ctl_status_slot(cell, "app")->finish_time = NOW - 5;
  ck_assert(kk_ctl_auto_delete_due(cell, NOW_MS, &due));
  cell->status.base.state = KK_CELL_READY;
  ck_assert(!kk_ctl_auto_delete_due(cell, NOW_MS, &due));
  cell->status.base.state = KK_CELL_ERROR;
  ck_assert(kk_ctl_auto_delete_due(cell, NOW_MS, &due));
  cell->spec.auto_delete = false;
  ck_assert(!kk_ctl_auto_delete_due(cell, NOW_MS, &due));
}
END_TEST

/* --------------------------------------------------------- spec change */

START_TEST(update_tears_down_what_changed) {
  cleanup_doc struct kk_doc *old = cell_of("  - {id: a, image: x}\n  - {id: b, image: x}\n  - {id: g, image: x}\n");
  cleanup_doc struct kk_doc *want = cell_of("  - {id: a, image: x}\n  - {id: b, image: y}\n");
  size_t n = old->u.cell.spec.n_containers;
  ck_assert_uint_eq(n, 4); /* a, b, g and the pause root */
  cleanup_free bool *gone = kk_ctl_cell_gone(&old->u.cell, &want->u.cell);
  for (size_t i = 0; i < n; i++) {
    const char *id = old->u.cell.spec.containers[i].id;
    bool expect = strcmp(id, "b") == 0 || strcmp(id, "g") == 0;
    ck_assert_msg(gone[i] == expect, "%s", id);
  }
  /* A changed root takes every container down. */
  cleanup_doc struct kk_doc *o2 =
      doc_of("kind: Cell\nmetadata: {name: c}\nspec: {realmId: r, spaceId: s, stackId: t, containers: "
             "[{id: m, image: x, root: true}, {id: a, image: x}]}\n");
  cleanup_doc struct kk_doc *w2 =
      doc_of("kind: Cell\nmetadata: {name: c}\nspec: {realmId: r, spaceId: s, stackId: t, containers: "
             "[{id: m, image: y, root: true}, {id: a, image: x}]}\n");
  cleanup_free bool *all = kk_ctl_cell_gone(&o2->u.cell, &w2->u.cell);
  ck_assert(all[0] && all[1]);

  /* Statuses of containers no longer in the spec go. */
  set_state(&want->u.cell, "a", KK_CTR_READY, 0);
  set_state(&want->u.cell, "g", KK_CTR_READY, 0);
  set_state(&want->u.cell, "b", KK_CTR_EXITED, 0);
  kk_ctl_cell_drop_stale_statuses(&want->u.cell);
  ck_assert_uint_eq(want->u.cell.status.n_containers, 2);
  ck_assert_str_eq(want->u.cell.status.containers[0].name, "a");
  ck_assert_str_eq(want->u.cell.status.containers[1].name, "b");
}
END_TEST

/* ------------------------------------------------------ log and attach */

static const char *picked(struct kk_cell *cell, const char *container) {
  static char msg[512];
  const struct kk_container_spec *ct = NULL;
  kk_err_t err = NULL;
  if (kk_ctl_cell_pick_container(cell, "c", container, &ct, &err) == 0)
    return ct->id;
  snprintf(msg, sizeof(msg), "%s", err->msg);
  kk_error_free(&err);
  return msg;
}

START_TEST(pick_container_for_log_and_attach) {
  cleanup_doc struct kk_doc *one = cell_of("  - {id: app, image: x}\n");
  ck_assert_str_eq(picked(&one->u.cell, NULL), "app");  /* the only non-root one */
  ck_assert_str_eq(picked(&one->u.cell, ""), "app");
  ck_assert_str_eq(picked(&one->u.cell, root_id(&one->u.cell)), root_id(&one->u.cell));
  ck_assert_str_eq(picked(&one->u.cell, "nope"), "container \"nope\" not found in cell \"c\"");
  cleanup_doc struct kk_doc *two = cell_of("  - {id: a, image: x}\n  - {id: b, image: x}\n");
  ck_assert_str_eq(picked(&two->u.cell, NULL), "multiple containers in cell \"c\"; specify --container");
  free(two->u.cell.spec.tty.default_);
  two->u.cell.spec.tty.default_ = kk_xstrdup("b");
  ck_assert_str_eq(picked(&two->u.cell, NULL), "b");
  cleanup_doc struct kk_doc *alone = doc_of("kind: Cell\nmetadata: {name: c}\nspec: {realmId: r, spaceId: s, "
                                            "stackId: t, containers: [{id: m, image: x, root: true}]}\n");
  ck_assert_str_eq(picked(&alone->u.cell, NULL), "m"); /* kuke run --image: the root */
  cleanup_doc struct kk_doc *none = kk_doc_new(KK_KIND_CELL);
  ck_assert_str_eq(picked(&none->u.cell, NULL), "cell \"c\" has no containers");
}
END_TEST

/* -------------------------------------------------- limits, test hook */

START_TEST(limits_of_resources) {
  struct kk_resources now = {0}, was = {0};
  now.memory_max_bytes = (struct kk_opt_i64){.set = true, .v = 1 << 20};
  was.memory_max_bytes = (struct kk_opt_i64){.set = true, .v = 1 << 30};
  was.pids_max = (struct kk_opt_i64){.set = true, .v = 10};
  was.cpu_weight = (struct kk_opt_i64){.set = true, .v = 500};
  was.cpu_max_period_us = (struct kk_opt_i64){.set = true, .v = 50000};
  struct kk_cg_limits l;
  kk_ctl_limits_of(&now, NULL, &l);
  ck_assert_int_eq(l.memory_max, 1 << 20);
  ck_assert_int_eq(l.pids_max, KK_CG_UNSET);
  /* What the manifest no longer sets goes back to the kernel default. */
  kk_ctl_limits_of(&now, &was, &l);
  ck_assert_int_eq(l.memory_max, 1 << 20);
  ck_assert_int_eq(l.pids_max, KK_CG_MAX);
  ck_assert_int_eq(l.cpu_weight, 100);
  ck_assert_int_eq(l.cpu_max_period_us, KK_CG_UNSET); /* the period follows the quota */
  ck_assert_int_eq(l.io_weight, KK_CG_UNSET);
}
END_TEST

START_TEST(crash_point_names) {
  ck_assert_int_eq(kk_ctl_crash_point_parse("after-cell-start", "/kukeon-test-1"), KK_CRASH_AFTER_CELL_START);
  ck_assert_int_eq(kk_ctl_crash_point_parse("after-runc-start", "/t"), KK_CRASH_AFTER_RUNC_START);
  ck_assert_int_eq(kk_ctl_crash_point_parse("after-cell-stop", "/t"), KK_CRASH_AFTER_CELL_STOP);
  ck_assert_int_eq(kk_ctl_crash_point_parse("after-intent", "/t"), KK_CRASH_AFTER_INTENT);
  ck_assert_int_eq(kk_ctl_crash_point_parse("mid-update", "/t"), KK_CRASH_MID_UPDATE);
  ck_assert_int_eq(kk_ctl_crash_point_parse("after-update", "/t"), KK_CRASH_AFTER_UPDATE);
  ck_assert_int_eq(kk_ctl_crash_point_parse("mid-put", "/t"), KK_CRASH_MID_PUT);
  ck_assert_int_eq(kk_ctl_crash_point_parse("after-put-files", "/t"), KK_CRASH_AFTER_PUT_FILES);
  ck_assert_int_eq(kk_ctl_crash_point_parse("after-put", "/t"), KK_CRASH_AFTER_PUT);
  /* Never under the default root an installed kukeond uses. */
  ck_assert_int_eq(kk_ctl_crash_point_parse("after-cell-start", KK_DEFAULT_CGROUP_ROOT), KK_CRASH_NONE);
  ck_assert_int_eq(kk_ctl_crash_point_parse("nowhere", "/t"), KK_CRASH_NONE);
  ck_assert_int_eq(kk_ctl_crash_point_parse(NULL, "/t"), KK_CRASH_NONE);
  ck_assert_int_eq(kk_ctl_crash_point_parse("", "/t"), KK_CRASH_NONE);
}
END_TEST

static Suite *controller_suite(void) {
  Suite *s = suite_create("controller");
  TCase *tc = tcase_create("pure");
  tcase_add_test(tc, parent_and_child_refs);
  tcase_add_test(tc, cell_names_on_the_host);
  tcase_add_test(tc, breaking_changes_refused);
  tcase_add_test(tc, apply_order_parents_first);
  tcase_add_test(tc, unchanged_cell_restarts_when_down);
  tcase_add_test(tc, container_document_into_its_cell);
  tcase_add_test(tc, carry_status_keeps_what_was_observed);
  tcase_add_test(tc, cell_state_from_containers);
  tcase_add_test(tc, cell_state_with_restarts_owed);
  tcase_add_test(tc, cell_state_of_a_root_alone);
  tcase_add_test(tc, restart_step_per_container);
  tcase_add_test(tc, root_restart_due);
  tcase_add_test(tc, auto_delete_after_grace);
  tcase_add_test(tc, update_tears_down_what_changed);
  tcase_add_test(tc, pick_container_for_log_and_attach);
  tcase_add_test(tc, limits_of_resources);
  tcase_add_test(tc, crash_point_names);
  suite_add_tcase(s, tc);
  return s;
}

KK_UNIT_MAIN(controller_suite)

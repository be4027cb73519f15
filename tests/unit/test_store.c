/* store/: the on-disk state tree in a temporary run path (no root needed):
 * layout, get/put/list/delete, errors, crash consistency (a write stopped
 * at every step) and concurrent writers/readers.
 *
 * Tests marked BUG fail on purpose: they pin a defect in store/ that is
 * reported, not fixed here. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/fs.h"
#include "model/model.h"
#include "store/store.h"
#include "tests/unit/unit.h"

/* ------------------------------------------------------------- helpers */

static char *mktmp(void) {
  const char *base = getenv("TMPDIR");
  char *t = kk_asprintf("%s/kk-unit-store.XXXXXX", base && *base ? base : "/tmp");
  ck_assert_ptr_nonnull(mkdtemp(t));
  return t;
}

static void rmtree(const char *path) {
  kk_err_t err = NULL;
  kk_rm_rf_at(AT_FDCWD, path, &err);
  kk_error_free(&err);
}

/* A test's run path and open store. */
struct env {
  char *tmp;
  char *run; /* <tmp>/run-path */
  struct kk_store *s;
};

static void env_open(struct env *e) {
  e->tmp = mktmp();
  e->run = kk_asprintf("%s/run-path", e->tmp);
  kk_err_t err = NULL;
  ck_assert_msg(kk_store_open(e->run, true, &e->s, &err) == 0, "%s", err ? err->msg : "");
}

static void env_close(struct env *e) {
  kk_store_close(e->s);
  rmtree(e->tmp);
  free(e->tmp);
  free(e->run);
}

static struct kk_doc *doc_of(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static struct kk_doc *doc_of(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *y = NULL;
  ck_assert_int_ge(vasprintf(&y, fmt, ap), 0);
  va_end(ap);
  struct kk_doc_list l = {0};
  kk_err_t err = NULL;
  ck_assert_msg(kk_docs_parse(y, strlen(y), "test", &l, &err) == 0, "%s\n%s", err ? err->msg : "", y);
  ck_assert_uint_eq(l.n, 1);
  struct kk_doc *d = l.docs[0];
  free(l.docs);
  ck_assert_msg(kk_doc_normalize(d, NULL, &err) == 0 && kk_doc_validate(d, &err) == 0, "%s\n%s",
                err ? err->msg : "", y);
  free(y);
  return d;
}

static void put_ok(struct env *e, const struct kk_doc *d, bool create) {
  kk_err_t err = NULL;
  ck_assert_msg(kk_store_put(e->s, d, create, &err) == 0, "put %s: %s", kk_doc_name(d), err ? err->msg : "");
}

static void put_doc(struct env *e, bool create, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void put_doc(struct env *e, bool create, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *y = NULL;
  ck_assert_int_ge(vasprintf(&y, fmt, ap), 0);
  va_end(ap);
  struct kk_doc *d = doc_of("%s", y);
  put_ok(e, d, create);
  kk_doc_free(d);
  free(y);
}

static void mk_realm(struct env *e, const char *r) { put_doc(e, true, "kind: Realm\nmetadata: {name: %s}\n", r); }
static void mk_space(struct env *e, const char *r, const char *s) {
  put_doc(e, true, "kind: Space\nmetadata: {name: %s}\nspec: {realmId: %s}\n", s, r);
}
static void mk_stack(struct env *e, const char *r, const char *s, const char *t) {
  put_doc(e, true, "kind: Stack\nmetadata: {name: %s}\nspec: {realmId: %s, spaceId: %s}\n", t, r, s);
}
static void mk_tree(struct env *e, const char *r, const char *s, const char *t) {
  struct kk_ref rr = {.kind = KK_KIND_REALM, .realm = r, .name = r};
  if (!kk_store_exists(e->s, &rr))
    mk_realm(e, r);
  struct kk_ref sr = {.kind = KK_KIND_SPACE, .realm = r, .name = s};
  if (!kk_store_exists(e->s, &sr))
    mk_space(e, r, s);
  mk_stack(e, r, s, t);
}

/* A cell with containers `ids` (comma-separated, a trailing '*' marks the
 * root); `ver` goes in a label and in every container's image and env, so
 * a reader can tell versions apart. */
static struct kk_doc *cell_doc(const char *r, const char *s, const char *t, const char *name, const char *ids,
                               const char *ver) {
  char *ctrs = kk_xstrdup("");
  cleanup_free char *copy = kk_xstrdup(ids);
  char *save = NULL;
  for (char *id = strtok_r(copy, ",", &save); id; id = strtok_r(NULL, ",", &save)) {
    size_t n = strlen(id);
    bool root = n > 0 && id[n - 1] == '*';
    if (root)
      id[n - 1] = '\0';
    char *next = kk_asprintf("%s  - {id: %s, image: \"img:%s\", env: [\"VER=%s\"]%s}\n", ctrs, id, ver, ver,
                             root ? ", root: true" : "");
    free(ctrs);
    ctrs = next;
  }
  struct kk_doc *d = doc_of("kind: Cell\nmetadata:\n  name: %s\n  labels: {ver: \"%s\"}\nspec:\n  realmId: %s\n"
                            "  spaceId: %s\n  stackId: %s\n  containers:\n%s",
                            name, ver, r, s, t, ctrs);
  free(ctrs);
  return d;
}

static struct kk_doc *get_ok(struct env *e, struct kk_ref ref) {
  struct kk_doc *d = NULL;
  kk_err_t err = NULL;
  ck_assert_msg(kk_store_get(e->s, &ref, &d, &err) == 0, "get %s: %s", ref.name, err ? err->msg : "");
  ck_assert_ptr_nonnull(d);
  return d;
}

static kk_err_t get_err(struct env *e, struct kk_ref ref) {
  struct kk_doc *d = NULL;
  kk_err_t err = NULL;
  int r = kk_store_get(e->s, &ref, &d, &err);
  if (r == 0)
    kk_doc_free(d);
  ck_assert_msg(r == -1, "get %s unexpectedly succeeded", ref.name);
  ck_assert_ptr_nonnull(err);
  ck_assert_ptr_null(d);
  return err;
}

static bool exists(struct env *e, const char *rel) {
  cleanup_free char *p = kk_asprintf("%s/%s", e->run, rel);
  struct stat st;
  return lstat(p, &st) == 0;
}

/* run/rel in a static buffer: for one call at a time. */
static char *in_run_path(const char *run, const char *rel) {
  static char path[4096];
  snprintf(path, sizeof(path), "%s/%s", run, rel);
  return path;
}

static bool is_regular(struct env *e, const char *rel) {
  cleanup_free char *p = kk_asprintf("%s/%s", e->run, rel);
  struct stat st;
  return lstat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* Parse a file of the tree as exactly one document of `kind`. */
static struct kk_doc *file_doc(struct env *e, const char *rel, enum kk_kind kind) {
  cleanup_free char *buf = NULL;
  size_t len = 0;
  kk_err_t err = NULL;
  ck_assert_msg(kk_read_file_at(kk_store_fd(e->s), rel, 1 << 22, &buf, &len, &err) == 0, "%s: %s", rel,
                err ? err->msg : "");
  struct kk_doc *d = NULL;
  ck_assert_msg(kk_doc_parse_one(buf, len, rel, kind, &d, &err) == 0, "%s is not one %s document: %s\n%s", rel,
                kk_kind_name(kind), err ? err->msg : "", buf);
  return d;
}

static void write_raw(struct env *e, const char *rel, const char *content) {
  cleanup_free char *p = kk_asprintf("%s/%s", e->run, rel);
  FILE *f = fopen(p, "w");
  ck_assert_ptr_nonnull(f);
  fputs(content, f);
  fclose(f);
}

static void same_yaml(const struct kk_doc *a, const struct kk_doc *b) {
  cleanup_free char *ya = kk_doc_to_yaml(a);
  cleanup_free char *yb = kk_doc_to_yaml(b);
  ck_assert_str_eq(ya, yb);
  ck_assert(kk_doc_spec_equal(a, b));
}

#define REALM(r) ((struct kk_ref){.kind = KK_KIND_REALM, .realm = (r), .name = (r)})
#define SPACE(r, s) ((struct kk_ref){.kind = KK_KIND_SPACE, .realm = (r), .name = (s)})
#define STACK(r, s, t) ((struct kk_ref){.kind = KK_KIND_STACK, .realm = (r), .space = (s), .name = (t)})
#define CELL(r, s, t, c) ((struct kk_ref){.kind = KK_KIND_CELL, .realm = (r), .space = (s), .stack = (t), .name = (c)})
#define CTR(r, s, t, c, n)                                                                         \
  ((struct kk_ref){.kind = KK_KIND_CONTAINER, .realm = (r), .space = (s), .stack = (t), .cell = (c), .name = (n)})

/* ------------------------------------------------------------------ open */

START_TEST(open_run_path) {
  cleanup_free char *tmp = mktmp();
  cleanup_free char *run = kk_asprintf("%s/a/b/c", tmp);
  struct kk_store *s = NULL;
  kk_err_t err = NULL;
  ck_assert_int_eq(kk_store_open(run, false, &s, &err), -1); /* missing, not created */
  kk_error_free(&err);
  ck_assert_int_eq(kk_store_open(run, true, &s, &err), 0);
  ck_assert_str_eq(kk_store_path(s), run);
  ck_assert_int_ge(kk_store_fd(s), 0);
  ck_assert_int_eq(fcntl(kk_store_fd(s), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
  cleanup_free char *rundir = kk_asprintf("%s/run", run);
  struct stat st;
  ck_assert_int_eq(stat(rundir, &st), 0);
  ck_assert(S_ISDIR(st.st_mode));
  kk_store_close(s);
  ck_assert_int_eq(kk_store_open(run, false, &s, &err), 0); /* now it exists */
  kk_store_close(s);
  ck_assert_int_eq(kk_store_open("relative/path", true, &s, &err), -1);
  ck_assert_int_eq(err->kind, KK_ERR_INVALID);
  kk_error_free(&err);
  ck_assert_int_eq(kk_store_open("", true, &s, &err), -1);
  kk_error_free(&err);
  {
    cleanup_store struct kk_store *c = NULL;
    ck_assert_int_eq(kk_store_open(run, false, &c, &err), 0);
  }
  rmtree(tmp);
}
END_TEST

/* ----------------------------------------------------- layout, every kind */

START_TEST(layout_every_kind) {
  struct env e;
  env_open(&e);
  cleanup_doc struct kk_doc *realm = doc_of("kind: Realm\nmetadata: {name: r1, labels: {a: b}}\n"
                                            "spec: {registryCredentials: [{username: u, password: p}]}\n"
                                            "status: {state: Ready, cgroupPath: /kukeon/r1, createdAt: "
                                            "2026-01-02T03:04:05Z}\n");
  put_ok(&e, realm, true);
  ck_assert(is_regular(&e, "r1/realm.yaml"));
  cleanup_doc struct kk_doc *space = doc_of("kind: Space\nmetadata: {name: s1}\nspec:\n  realmId: r1\n"
                                            "  network: {egress: {default: deny}}\nstatus: {state: Ready}\n");
  put_ok(&e, space, true);
  ck_assert(is_regular(&e, "r1/s1/space.yaml"));
  ck_assert(!exists(&e, "r1/s1/network.conflist")); /* netns/ writes it, not the store */
  cleanup_doc struct kk_doc *stack =
      doc_of("kind: Stack\nmetadata: {name: t1}\nspec: {realmId: r1, spaceId: s1}\nstatus: {state: Failed}\n");
  put_ok(&e, stack, true);
  ck_assert(is_regular(&e, "r1/s1/t1/stack.yaml"));
  cleanup_doc struct kk_doc *cell = doc_of("kind: Cell\nmetadata: {name: c1}\nspec:\n  realmId: r1\n  spaceId: s1\n"
                                           "  stackId: t1\n  containers:\n  - {id: web, image: nginx}\n"
                                           "  - {id: main, image: busybox, root: true}\n"
                                           "status:\n  state: Ready\n  containers:\n"
                                           "  - {name: web, state: Ready, pid: 10}\n"
                                           "  - {name: main, state: Ready, pid: 11}\n");
  put_ok(&e, cell, true);
  ck_assert(is_regular(&e, "r1/s1/t1/c1/cell.yaml"));
  ck_assert(is_regular(&e, "r1/s1/t1/c1/containers/web.yaml"));
  ck_assert(is_regular(&e, "r1/s1/t1/c1/containers/main.yaml"));
  cleanup_doc struct kk_doc *ctr = doc_of("kind: Container\nmetadata: {name: side}\n"
                                          "spec: {realmId: r1, spaceId: s1, stackId: t1, cellId: c1, image: x}\n"
                                          "status: {name: side, state: Exited, exitCode: 3}\n");
  put_ok(&e, ctr, true);
  ck_assert(is_regular(&e, "r1/s1/t1/c1/containers/side.yaml"));

  /* Each file is one document of its kind, spec + status. */
  cleanup_doc struct kk_doc *fr = file_doc(&e, "r1/realm.yaml", KK_KIND_REALM);
  same_yaml(fr, realm);
  cleanup_doc struct kk_doc *fs = file_doc(&e, "r1/s1/space.yaml", KK_KIND_SPACE);
  same_yaml(fs, space);
  cleanup_doc struct kk_doc *ft = file_doc(&e, "r1/s1/t1/stack.yaml", KK_KIND_STACK);
  same_yaml(ft, stack);
  cleanup_doc struct kk_doc *fc = file_doc(&e, "r1/s1/t1/c1/cell.yaml", KK_KIND_CELL);
  ck_assert_uint_eq(fc->u.cell.spec.n_containers, 0); /* containers live beside it */
  ck_assert_uint_eq(fc->u.cell.status.n_containers, 0);
  ck_assert_str_eq(fc->u.cell.spec.root_container_id, "main");
  cleanup_doc struct kk_doc *fw = file_doc(&e, "r1/s1/t1/c1/containers/web.yaml", KK_KIND_CONTAINER);
  ck_assert_str_eq(fw->u.container.spec.image, "nginx");
  ck_assert_str_eq(fw->u.container.spec.cell_id, "c1");
  ck_assert_int_eq(fw->u.container.status.pid, 10);
  cleanup_doc struct kk_doc *fm = file_doc(&e, "r1/s1/t1/c1/containers/main.yaml", KK_KIND_CONTAINER);
  ck_assert(fm->u.container.spec.root);
  ck_assert_int_eq(fm->u.container.status.pid, 11);
  cleanup_doc struct kk_doc *fx = file_doc(&e, "r1/s1/t1/c1/containers/side.yaml", KK_KIND_CONTAINER);
  same_yaml(fx, ctr);

  /* get returns what was put. */
  cleanup_doc struct kk_doc *gr = get_ok(&e, REALM("r1"));
  same_yaml(gr, realm);
  cleanup_doc struct kk_doc *gs = get_ok(&e, SPACE("r1", "s1"));
  same_yaml(gs, space);
  cleanup_doc struct kk_doc *gt = get_ok(&e, STACK("r1", "s1", "t1"));
  same_yaml(gt, stack);
  cleanup_doc struct kk_doc *gx = get_ok(&e, CTR("r1", "s1", "t1", "c1", "side"));
  same_yaml(gx, ctr);
  /* A cell: root first, then by id; statuses folded in. */
  cleanup_doc struct kk_doc *gc = get_ok(&e, CELL("r1", "s1", "t1", "c1"));
  const struct kk_cell *c = &gc->u.cell;
  ck_assert_uint_eq(c->spec.n_containers, 3);
  ck_assert_str_eq(c->spec.containers[0].id, "main");
  ck_assert_str_eq(c->spec.containers[1].id, "side");
  ck_assert_str_eq(c->spec.containers[2].id, "web");
  ck_assert_int_eq(c->status.base.state, KK_CELL_READY);
  ck_assert_str_eq(c->spec.root_container_id, "main");
  for (size_t i = 0; i < c->status.n_containers; i++) {
    if (kk_streq(c->status.containers[i].name, "web"))
      ck_assert_int_eq(c->status.containers[i].pid, 10);
    if (kk_streq(c->status.containers[i].name, "main"))
      ck_assert_int_eq(c->status.containers[i].pid, 11);
    if (kk_streq(c->status.containers[i].name, "side"))
      ck_assert_int_eq(c->status.containers[i].exit_code, 3);
  }
  /* Everything but the added container equals the cell that was put. */
  cleanup_doc struct kk_doc *gc2 = kk_doc_clone(gc);
  ck_assert(!kk_doc_spec_equal(gc2, cell));
  cleanup_doc struct kk_doc *del = NULL;
  kk_err_t err = NULL;
  ck_assert_int_eq(kk_store_delete(e.s, &CTR("r1", "s1", "t1", "c1", "side"), &err), 0);
  ck_assert(!exists(&e, "r1/s1/t1/c1/containers/side.yaml"));
  del = get_ok(&e, CELL("r1", "s1", "t1", "c1"));
  ck_assert(kk_doc_spec_equal(del, cell));

  /* exists */
  ck_assert(kk_store_exists(e.s, &REALM("r1")));
  ck_assert(kk_store_exists(e.s, &CELL("r1", "s1", "t1", "c1")));
  ck_assert(kk_store_exists(e.s, &CTR("r1", "s1", "t1", "c1", "web")));
  ck_assert(!kk_store_exists(e.s, &CTR("r1", "s1", "t1", "c1", "side")));
  ck_assert(!kk_store_exists(e.s, &CELL("r1", "s1", "t1", "nope")));
  ck_assert(!kk_store_exists(e.s, &CELL("r1", "s1", "t1", "a/b")));

  /* File modes: not world-readable (registry passwords live in realm.yaml). */
  cleanup_free char *rp = kk_asprintf("%s/r1/realm.yaml", e.run);
  struct stat st;
  ck_assert_int_eq(stat(rp, &st), 0);
  ck_assert_int_eq(st.st_mode & 0007, 0);

  /* Delete each level: the directory goes with it (the cell as an
   * auto-delete cell goes: no fsync, the same result). */
  ck_assert_int_eq(kk_store_delete_volatile(e.s, &CELL("r1", "s1", "t1", "nope"), &err), -1);
  ck_assert_int_eq(err->kind, KK_ERR_NOT_FOUND);
  kk_error_free(&err);
  ck_assert_int_eq(kk_store_delete_volatile(e.s, &CELL("r1", "s1", "t1", "c1"), &err), 0);
  ck_assert(!exists(&e, "r1/s1/t1/c1"));
  ck_assert_int_eq(kk_store_delete(e.s, &STACK("r1", "s1", "t1"), &err), 0);
  ck_assert(!exists(&e, "r1/s1/t1"));
  ck_assert_int_eq(kk_store_delete(e.s, &SPACE("r1", "s1"), &err), 0);
  ck_assert(!exists(&e, "r1/s1"));
  ck_assert_int_eq(kk_store_delete(e.s, &REALM("r1"), &err), 0);
  ck_assert(!exists(&e, "r1"));
  ck_assert(exists(&e, "run"));
  env_close(&e);
}
END_TEST

START_TEST(ref_helpers) {
  cleanup_doc struct kk_doc *c = cell_doc("r", "s", "t", "c", "a", "1");
  struct kk_ref ref = kk_ref_of(c);
  ck_assert_int_eq(ref.kind, KK_KIND_CELL);
  ck_assert_str_eq(ref.realm, "r");
  ck_assert_str_eq(ref.space, "s");
  ck_assert_str_eq(ref.stack, "t");
  ck_assert_str_eq(ref.name, "c");
  cleanup_free char *rel = kk_store_rel_dir(&ref);
  ck_assert_str_eq(rel, "r/s/t/c");
  struct kk_ref x = CTR("r", "s", "t", "c", "a");
  cleanup_free char *relx = kk_store_rel_dir(&x);
  ck_assert_str_eq(relx, "r/s/t/c");
  cleanup_free char *rr = kk_store_rel_dir(&REALM("r"));
  ck_assert_str_eq(rr, "r");
  cleanup_free char *d = kk_ref_describe(&ref);
  ck_assert_str_eq(d, "cell \"c\" in realm \"r\", space \"s\", stack \"t\"");
  kk_err_t err = NULL;
  ck_assert_int_eq(kk_store_not_found(&ref, &err), -1);
  ck_assert_int_eq(err->kind, KK_ERR_NOT_FOUND);
  ck_assert_str_eq(err->msg, "cell \"c\" not found in realm \"r\", space \"s\", stack \"t\"");
  kk_error_free(&err);
  ck_assert_int_eq(kk_store_not_found(&SPACE("r", "s"), &err), -1);
  ck_assert_str_eq(err->msg, "space \"s\" not found in realm \"r\"");
  kk_error_free(&err);
}
END_TEST

/* Containers no longer in the cell lose their files. */
START_TEST(stale_containers_removed) {
  struct env e;
  env_open(&e);
  mk_tree(&e, "r", "s", "t");
  cleanup_doc struct kk_doc *v1 = cell_doc("r", "s", "t", "c", "a,b,c", "1");
  put_ok(&e, v1, true);
  ck_assert(exists(&e, "r/s/t/c/containers/b.yaml"));
  cleanup_doc struct kk_doc *v2 = cell_doc("r", "s", "t", "c", "a,c", "2");
  put_ok(&e, v2, false);
  ck_assert(!exists(&e, "r/s/t/c/containers/b.yaml"));
  ck_assert(exists(&e, "r/s/t/c/containers/a.yaml"));
  ck_assert(exists(&e, "r/s/t/c/containers/c.yaml"));
  cleanup_doc struct kk_doc *g = get_ok(&e, CELL("r", "s", "t", "c"));
  ck_assert_uint_eq(g->u.cell.spec.n_containers, 2);
  ck_assert(kk_doc_spec_equal(g, v2));
  /* Non-YAML files in containers/ are left alone and ignored. */
  write_raw(&e, "r/s/t/c/containers/notes.txt", "hello");
  cleanup_doc struct kk_doc *v3 = cell_doc("r", "s", "t", "c", "c", "3");
  put_ok(&e, v3, false);
  ck_assert(exists(&e, "r/s/t/c/containers/notes.txt"));
  ck_assert(!exists(&e, "r/s/t/c/containers/a.yaml"));
  cleanup_doc struct kk_doc *g3 = get_ok(&e, CELL("r", "s", "t", "c"));
  ck_assert(kk_doc_spec_equal(g3, v3));
  env_close(&e);
}
END_TEST

/* A cell's status.containers comes back as it was put (statuses only for
 * the containers that have one).  store/store.c cell_take_containers()
 * gives every container a status entry, so a container with no status yet
 * comes back with an empty one (name "", id "", state Pending) that
 * `kuke get -o yaml` prints and the next put writes back. */
START_TEST(cell_status_fidelity) {
  struct env e;
  env_open(&e);
  mk_tree(&e, "r", "s", "t");
  cleanup_doc struct kk_doc *c = doc_of("kind: Cell\nmetadata: {name: c}\nspec:\n  realmId: r\n  spaceId: s\n"
                                        "  stackId: t\n  containers: [{id: a, image: x}, {id: b, image: y}]\n"
                                        "status:\n  containers: [{name: a, state: Ready}]\n");
  put_ok(&e, c, true);
  struct kk_doc *g = get_ok(&e, CELL("r", "s", "t", "c"));
  size_t n = g->u.cell.status.n_containers, unnamed = 0;
  for (size_t i = 0; i < n; i++)
    unnamed += kk_empty(g->u.cell.status.containers[i].name);
  kk_doc_free(g);
  env_close(&e); /* before asserting: a failure must not leave the temp dir */
  ck_assert_msg(unnamed == 0, "%zu of %zu status.containers have no name", unnamed, n);
  ck_assert_uint_eq(n, 1);
}
END_TEST

static bool get_works(struct env *e, struct kk_ref ref) {
  struct kk_doc *d = NULL;
  kk_err_t err = NULL;
  int r = kk_store_get(e->s, &ref, &d, &err);
  kk_doc_free(d);
  kk_error_free(&err);
  return r == 0;
}

/* Same length, other bytes, written in place (no rename): what an editor
 * or a careless script may do. */
static void patch_in_place(struct env *e, const char *rel, const char *from, const char *to) {
  cleanup_free char *buf = NULL;
  size_t len = 0;
  kk_err_t err = NULL;
  ck_assert_int_eq(kk_read_file_at(kk_store_fd(e->s), rel, 1 << 20, &buf, &len, &err), 0);
  char *at = strstr(buf, from);
  ck_assert_ptr_nonnull(at);
  memcpy(at, to, strlen(to));
  cleanup_close int fd = openat(kk_store_fd(e->s), rel, O_WRONLY | O_CLOEXEC);
  ck_assert_int_ge(fd, 0);
  ck_assert_int_eq(pwrite(fd, buf, len, 0), (ssize_t)len);
}

/* No fd to be had (the soft limit at the lowest free one): a get that
 * still answers opened nothing; a watched directory sees no change. */
static void fds_exhausted(bool on) {
  static struct rlimit saved;
  if (on) {
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &saved), 0);
    int lowest = dup(0);
    ck_assert_int_ge(lowest, 0);
    close(lowest);
    struct rlimit none = {(rlim_t)lowest, saved.rlim_max};
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &none), 0);
  } else {
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &saved), 0);
  }
}

static bool get_works_without_fds(struct env *e, struct kk_ref ref) {
  fds_exhausted(true);
  bool works = get_works(e, ref);
  fds_exhausted(false);
  return works;
}

/* A file written less than a second ago is never answered from a
 * snapshot without a watch (racy timestamps): wait that out. */
static void settle_timestamps(bool watch) {
  if (!watch)
    poll(NULL, 0, 1100);
}

/* A cell read whole is answered again from what it parsed to while every
 * file is the version it was read from (kukeond: its directories watched
 * and unchanged; else a stat a file): nothing opened, locked or read.
 * Any write, in place or by rename, a container added, the cell deleted
 * and made again, is read afresh. */
static void snapshot_cases(bool watch) {
  struct env e;
  env_open(&e);
  if (watch)
    kk_store_watch_changes(e.s);
  mk_tree(&e, "r", "s", "t");
  cleanup_doc struct kk_doc *c = cell_doc("r", "s", "t", "c", "a*,b", "1");
  put_ok(&e, c, true);
  struct kk_ref ref = CELL("r", "s", "t", "c");
  bool first_needs_fds = !get_works_without_fds(&e, ref);
  kk_doc_free(get_ok(&e, ref));
  bool fresh_write_read = watch || !get_works_without_fds(&e, ref);
  settle_timestamps(watch);
  kk_doc_free(get_ok(&e, ref)); /* read whole: kept */
  bool answered = get_works_without_fds(&e, ref);
  patch_in_place(&e, "r/s/t/c/containers/b.yaml", "img:1", "img:2");
  bool patch_read = !get_works_without_fds(&e, ref);
  struct kk_doc *g = get_ok(&e, ref);
  cleanup_free char *image_b = kk_xstrdup(g->u.cell.spec.containers[1].image);
  kk_doc_free(g);
  settle_timestamps(watch);
  kk_doc_free(get_ok(&e, ref));
  bool answered_again = get_works_without_fds(&e, ref);
  patch_in_place(&e, "r/s/t/c/cell.yaml", "ver: \"1\"", "ver: \"3\"");
  bool cell_patch_read = !get_works_without_fds(&e, ref);
  g = get_ok(&e, ref);
  cleanup_free char *label = kk_xstrdup(kk_map_get(&g->u.cell.metadata.labels, "ver"));
  kk_doc_free(g);
  write_raw(&e, "r/s/t/c/containers/x.yaml", "kind: Container\nmetadata: {name: x}\nspec: {id: x, image: z}\n");
  bool added_read = !get_works_without_fds(&e, ref);
  kk_err_t err = NULL;
  ck_assert_int_eq(kk_store_delete(e.s, &ref, &err), 0);
  cleanup_doc struct kk_doc *c4 = cell_doc("r", "s", "t", "c", "a*", "4");
  put_ok(&e, c4, true);
  g = get_ok(&e, ref);
  size_t n_after = g->u.cell.spec.n_containers;
  cleanup_free char *image_after = kk_xstrdup(g->u.cell.spec.containers[0].image);
  kk_doc_free(g);
  env_close(&e);
  ck_assert_msg(first_needs_fds, "a cell never read was answered without opening anything");
  ck_assert_msg(fresh_write_read, "a cell written just now was answered without reading it");
  ck_assert_msg(answered, "an unchanged cell was read again");
  ck_assert_msg(patch_read, "a container file patched in place was not read again");
  ck_assert_str_eq(image_b, "img:2");
  ck_assert_msg(answered_again, "the patched cell was not kept once read whole");
  ck_assert_msg(cell_patch_read, "cell.yaml patched in place was not read again");
  ck_assert_str_eq(label, "3");
  ck_assert_msg(added_read, "a container file added was not noticed");
  ck_assert_uint_eq(n_after, 1);
  ck_assert_str_eq(image_after, "img:4");
}

START_TEST(snapshot_by_stat) { snapshot_cases(false); }
END_TEST

START_TEST(snapshot_by_watch) { snapshot_cases(true); }
END_TEST

/* A status put replaces what a get returns, like a put, and checks the
 * same things (the parent must exist). */
START_TEST(put_status_roundtrip) {
  struct env e;
  env_open(&e);
  mk_tree(&e, "r", "s", "t");
  cleanup_doc struct kk_doc *c = cell_doc("r", "s", "t", "c", "a*,b", "1");
  put_ok(&e, c, true);
  c->u.cell.status.base.state = KK_CELL_READY;
  kk_err_t err = NULL;
  ck_assert_int_eq(kk_store_put_status(e.s, c, &err), 0);
  struct kk_doc *g = get_ok(&e, CELL("r", "s", "t", "c"));
  int st = g->u.cell.status.base.state;
  size_t nc = g->u.cell.spec.n_containers;
  kk_doc_free(g);
  cleanup_doc struct kk_doc *orphan = cell_doc("r", "s", "nope", "c", "a*", "1");
  int r = kk_store_put_status(e.s, orphan, &err);
  int kind = err ? (int)err->kind : -1;
  kk_error_free(&err);
  env_close(&e);
  ck_assert_int_eq(st, KK_CELL_READY);
  ck_assert_uint_eq(nc, 2);
  ck_assert_int_eq(r, -1);
  ck_assert_int_eq(kind, KK_ERR_NOT_FOUND);
}
END_TEST

/* An auto-delete cell is ephemeral: marked, written without fsync, and
 * after a power cut that tore it, not found and swept; a corrupt file of
 * any other cell stays an error. */
static int swept;
static void count_swept(void *ctx, const struct kk_ref *cell) {
  ck_assert_str_eq(cell->name, (const char *)ctx);
  swept++;
}

START_TEST(ephemeral_cell_torn_and_swept) {
  struct env e;
  env_open(&e);
  mk_tree(&e, "r", "s", "t");
  cleanup_doc struct kk_doc *eph = cell_doc("r", "s", "t", "once", "a*,b", "1");
  eph->u.cell.spec.auto_delete = true;
  put_ok(&e, eph, true);
  ck_assert(is_regular(&e, "r/s/t/once/.ephemeral"));
  cleanup_doc struct kk_doc *keep = cell_doc("r", "s", "t", "keep", "a*", "1");
  put_ok(&e, keep, true);
  ck_assert(!exists(&e, "r/s/t/keep/.ephemeral"));
  kk_err_t err = NULL;
  ck_assert_int_eq(kk_store_sweep_torn(e.s, count_swept, "once", &err), 0); /* intact: stays */
  /* A power cut left a container file empty. */
  write_raw(&e, "r/s/t/once/containers/b.yaml", "");
  kk_err_t gerr = get_err(&e, CELL("r", "s", "t", "once"));
  ck_assert_int_eq(gerr->kind, KK_ERR_NOT_FOUND);
  kk_error_free(&gerr);
  struct kk_doc_list cells = {0};
  ck_assert_int_eq(kk_store_list(e.s, KK_KIND_CELL, NULL, &cells, &err), 0);
  ck_assert_uint_eq(cells.n, 1);
  ck_assert_str_eq(kk_doc_name(cells.docs[0]), "keep");
  kk_doc_list_free(&cells);
  swept = 0;
  ck_assert_int_eq(kk_store_sweep_torn(e.s, count_swept, "once", &err), 1);
  ck_assert_int_eq(swept, 1);
  ck_assert(!exists(&e, "r/s/t/once"));
  /* Torn before cell.yaml was there at all: swept too. */
  ck_assert_int_eq(mkdir(in_run_path(e.run, "r/s/t/half"), 0700), 0);
  write_raw(&e, "r/s/t/half/.ephemeral", "");
  swept = 0;
  ck_assert_int_eq(kk_store_sweep_torn(e.s, count_swept, "half", &err), 1);
  ck_assert(!exists(&e, "r/s/t/half"));
  /* Not ephemeral: a corrupt file is an error, and nothing is swept. */
  write_raw(&e, "r/s/t/keep/cell.yaml", "");
  gerr = get_err(&e, CELL("r", "s", "t", "keep"));
  ck_assert_int_eq(gerr->kind, KK_ERR_INTERNAL);
  kk_error_free(&gerr);
  ck_assert_int_eq(kk_store_sweep_torn(e.s, NULL, NULL, &err), 0);
  ck_assert(exists(&e, "r/s/t/keep"));
  /* A cell that stops being auto-delete is durable again, unmarked. */
  cleanup_doc struct kk_doc *eph2 = cell_doc("r", "s", "t", "later", "a*", "1");
  eph2->u.cell.spec.auto_delete = true;
  put_ok(&e, eph2, true);
  eph2->u.cell.spec.auto_delete = false;
  put_ok(&e, eph2, false);
  ck_assert(!exists(&e, "r/s/t/later/.ephemeral"));
  env_close(&e);
}
END_TEST

/* An intent record: put, read back whole (a cell with its containers),
 * found by the walk, cleared; gone with its cell; a corrupt one counts as
 * none and is removed. */
static int intents_seen;
static int count_intent(void *ctx, const struct kk_ref *cell, kk_err_t *err) {
  ck_assert_str_eq(cell->name, (const char *)ctx);
  intents_seen++;
  return 0;
}

START_TEST(intent_record) {
  struct env e;
  env_open(&e);
  mk_tree(&e, "r", "s", "t");
  const struct kk_ref ref = CELL("r", "s", "t", "c");
  cleanup_doc struct kk_doc *v1 = cell_doc("r", "s", "t", "c", "a*,b", "1");
  put_ok(&e, v1, true);
  cleanup_doc struct kk_doc *v2 = cell_doc("r", "s", "t", "c", "a*,d", "2");
  kk_err_t err = NULL;
  struct kk_doc *got = NULL;
  ck_assert_int_eq(kk_store_intent_get(e.s, &ref, &got, &err), 1);
  ck_assert_int_eq(kk_store_intent_put(e.s, v2, &err), 0);
  ck_assert_int_eq(kk_store_intent_get(e.s, &ref, &got, &err), 0);
  ck_assert(kk_doc_spec_equal(got, v2));
  kk_doc_free(got);
  /* The cell itself reads as before: the record is not part of it. */
  cleanup_doc struct kk_doc *g = get_ok(&e, CELL("r", "s", "t", "c"));
  ck_assert(kk_doc_spec_equal(g, v1));
  intents_seen = 0;
  ck_assert_int_eq(kk_store_each_intent(e.s, count_intent, "c", &err), 0);
  ck_assert_int_eq(intents_seen, 1);
  ck_assert_int_eq(kk_store_intent_clear(e.s, &ref, &err), 0);
  ck_assert_int_eq(kk_store_intent_get(e.s, &ref, &got, &err), 1);
  intents_seen = 0;
  ck_assert_int_eq(kk_store_each_intent(e.s, count_intent, "c", &err), 0);
  ck_assert_int_eq(intents_seen, 0);
  /* Corrupt: none, and removed. */
  write_raw(&e, "r/s/t/c/.intent.yaml", "kind: [");
  ck_assert_int_eq(kk_store_intent_get(e.s, &ref, &got, &err), 1);
  ck_assert(!exists(&e, "r/s/t/c/.intent.yaml"));
  /* It goes with its cell; a cell that is not there has none. */
  ck_assert_int_eq(kk_store_intent_put(e.s, v2, &err), 0);
  ck_assert_int_eq(kk_store_delete(e.s, &ref, &err), 0);
  ck_assert_int_eq(kk_store_intent_get(e.s, &ref, &got, &err), 1);
  ck_assert_int_eq(kk_store_intent_put(e.s, v2, &err), -1);
  ck_assert_int_eq(err->kind, KK_ERR_NOT_FOUND);
  kk_error_free(&err);
  env_close(&e);
}
END_TEST

/* ----------------------------------------------------------------- list */

START_TEST(list_wildcards_sorted) {
  struct env e;
  env_open(&e);
  /* Created out of order. */
  mk_tree(&e, "zeta", "s2", "t1");
  mk_tree(&e, "alpha", "s9", "t1");
  mk_tree(&e, "alpha", "s1", "t2");
  mk_tree(&e, "alpha", "s1", "t1");
  cleanup_doc struct kk_doc *c1 = cell_doc("alpha", "s1", "t1", "web", "x,main", "1");
  cleanup_doc struct kk_doc *c2 = cell_doc("alpha", "s1", "t1", "api", "b,a", "1");
  cleanup_doc struct kk_doc *c3 = cell_doc("zeta", "s2", "t1", "db", "pg", "1");
  put_ok(&e, c1, true);
  put_ok(&e, c2, true);
  put_ok(&e, c3, true);
  kk_err_t err = NULL;
  struct kk_doc_list l = {0};

  ck_assert_int_eq(kk_store_list(e.s, KK_KIND_REALM, NULL, &l, &err), 0);
  ck_assert_uint_eq(l.n, 2);
  ck_assert_str_eq(kk_doc_name(l.docs[0]), "alpha");
  ck_assert_str_eq(kk_doc_name(l.docs[1]), "zeta");
  kk_doc_list_free(&l);

  ck_assert_int_eq(kk_store_list(e.s, KK_KIND_SPACE, NULL, &l, &err), 0); /* host-wide */
  ck_assert_uint_eq(l.n, 3);
  ck_assert_str_eq(kk_doc_name(l.docs[0]), "s1");
  ck_assert_str_eq(kk_doc_name(l.docs[1]), "s9");
  ck_assert_str_eq(kk_doc_name(l.docs[2]), "s2");
  ck_assert_str_eq(l.docs[2]->u.space.spec.realm_id, "zeta");
  kk_doc_list_free(&l);

  struct kk_ref scope = {.realm = "alpha"};
  ck_assert_int_eq(kk_store_list(e.s, KK_KIND_SPACE, &scope, &l, &err), 0);
  ck_assert_uint_eq(l.n, 2);
  kk_doc_list_free(&l);

  scope = (struct kk_ref){.realm = "", .space = "s1"};
  ck_assert_int_eq(kk_store_list(e.s, KK_KIND_STACK, &scope, &l, &err), 0);
  ck_assert_uint_eq(l.n, 2);
  ck_assert_str_eq(kk_doc_name(l.docs[0]), "t1");
  ck_assert_str_eq(kk_doc_name(l.docs[1]), "t2");
  kk_doc_list_free(&l);

  ck_assert_int_eq(kk_store_list(e.s, KK_KIND_CELL, NULL, &l, &err), 0);
  ck_assert_uint_eq(l.n, 3);
  ck_assert_str_eq(kk_doc_name(l.docs[0]), "api");
  ck_assert_str_eq(kk_doc_name(l.docs[1]), "web");
  ck_assert_str_eq(kk_doc_name(l.docs[2]), "db");
  ck_assert_uint_eq(l.docs[1]->u.cell.spec.n_containers, 2); /* cells come with their containers */
  kk_doc_list_free(&l);

  /* Containers: by cell, then as in the cell (root first, then by id). */
  ck_assert_int_eq(kk_store_list(e.s, KK_KIND_CONTAINER, NULL, &l, &err), 0);
  ck_assert_uint_eq(l.n, 5);
  const char *want[] = {"a", "b", "main", "x", "pg"};
  for (size_t i = 0; i < 5; i++)
    ck_assert_str_eq(kk_doc_name(l.docs[i]), want[i]);
  ck_assert_int_eq(l.docs[0]->kind, KK_KIND_CONTAINER);
  ck_assert_str_eq(l.docs[0]->u.container.spec.cell_id, "api");
  kk_doc_list_free(&l);

  scope = (struct kk_ref){.name = "pg"};
  ck_assert_int_eq(kk_store_list(e.s, KK_KIND_CONTAINER, &scope, &l, &err), 0);
  ck_assert_uint_eq(l.n, 1);
  ck_assert_str_eq(l.docs[0]->u.container.spec.realm_id, "zeta");
  kk_doc_list_free(&l);

  scope = (struct kk_ref){.realm = "alpha", .space = "s1", .stack = "t1", .cell = "web"};
  ck_assert_int_eq(kk_store_list(e.s, KK_KIND_CONTAINER, &scope, &l, &err), 0);
  ck_assert_uint_eq(l.n, 2);
  kk_doc_list_free(&l);

  /* Scopes that match nothing, or are not names, give nothing (no error). */
  scope = (struct kk_ref){.realm = "nope"};
  ck_assert_int_eq(kk_store_list(e.s, KK_KIND_CELL, &scope, &l, &err), 0);
  ck_assert_uint_eq(l.n, 0);
  scope = (struct kk_ref){.realm = "../.."};
  ck_assert_int_eq(kk_store_list(e.s, KK_KIND_REALM, &scope, &l, &err), 0);
  ck_assert_int_eq(kk_store_list(e.s, KK_KIND_SPACE, &scope, &l, &err), 0);
  ck_assert_uint_eq(l.n, 0);
  /* Appends to what the list already holds. */
  ck_assert_int_eq(kk_store_list(e.s, KK_KIND_REALM, NULL, &l, &err), 0);
  ck_assert_int_eq(kk_store_list(e.s, KK_KIND_REALM, NULL, &l, &err), 0);
  ck_assert_uint_eq(l.n, 4);
  kk_doc_list_free(&l);
  env_close(&e);
}
END_TEST

/* A directory without its resource file (a crash before the file was
 * written) is invisible, and the next create reuses it. */
START_TEST(dir_without_file_invisible) {
  struct env e;
  env_open(&e);
  mk_tree(&e, "r", "s", "t");
  cleanup_free char *d1 = kk_asprintf("%s/ghost", e.run);
  cleanup_free char *d2 = kk_asprintf("%s/r/ghost-space", e.run);
  cleanup_free char *d3 = kk_asprintf("%s/r/s/t/ghost-cell/containers", e.run);
  ck_assert_int_eq(mkdir(d1, 0755), 0);
  ck_assert_int_eq(mkdir(d2, 0755), 0);
  kk_err_t err = NULL;
  ck_assert_int_eq(kk_mkdir_p(d3, 0755, &err), 0);
  write_raw(&e, "r/s/t/ghost-cell/containers/a.yaml", "kind: Container\nmetadata: {name: a}\n");
  struct kk_doc_list l = {0};
  ck_assert_int_eq(kk_store_list(e.s, KK_KIND_REALM, NULL, &l, &err), 0);
  ck_assert_uint_eq(l.n, 1);
  kk_doc_list_free(&l);
  ck_assert_int_eq(kk_store_list(e.s, KK_KIND_SPACE, NULL, &l, &err), 0);
  ck_assert_uint_eq(l.n, 1);
  kk_doc_list_free(&l);
  ck_assert_int_eq(kk_store_list(e.s, KK_KIND_CELL, NULL, &l, &err), 0);
  ck_assert_uint_eq(l.n, 0);
  ck_assert_int_eq(kk_store_list(e.s, KK_KIND_CONTAINER, NULL, &l, &err), 0);
  ck_assert_uint_eq(l.n, 0);
  ck_assert(!kk_store_exists(e.s, &REALM("ghost")));
  kk_err_t g = get_err(&e, REALM("ghost"));
  ck_assert_int_eq(g->kind, KK_ERR_NOT_FOUND);
  kk_error_free(&g);
  g = get_err(&e, CELL("r", "s", "t", "ghost-cell"));
  ck_assert_int_eq(g->kind, KK_ERR_NOT_FOUND);
  kk_error_free(&g);
  /* Looked at, not touched: no lock file made in a ghost. */
  ck_assert(!exists(&e, "ghost/.lock"));
  ck_assert(!exists(&e, "r/s/t/ghost-cell/.lock"));
  /* A space under a ghost realm is not reachable either. */
  cleanup_doc struct kk_doc *orphan = doc_of("kind: Space\nmetadata: {name: x}\nspec: {realmId: ghost}\n");
  ck_assert_int_eq(kk_store_put(e.s, orphan, false, &err), -1);
  ck_assert_int_eq(err->kind, KK_ERR_NOT_FOUND);
  kk_error_free(&err);
  /* create reuses the directories. */
  mk_realm(&e, "ghost");
  ck_assert(is_regular(&e, "ghost/realm.yaml"));
  cleanup_doc struct kk_doc *c = cell_doc("r", "s", "t", "ghost-cell", "b", "1");
  put_ok(&e, c, true);
  ck_assert(!exists(&e, "r/s/t/ghost-cell/containers/a.yaml")); /* stale: not in the cell */
  cleanup_doc struct kk_doc *gc = get_ok(&e, CELL("r", "s", "t", "ghost-cell"));
  ck_assert(kk_doc_spec_equal(gc, c));
  env_close(&e);
}
END_TEST

/* --------------------------------------------------------------- errors */

START_TEST(parent_missing) {
  struct env e;
  env_open(&e);
  kk_err_t err = NULL;
  cleanup_doc struct kk_doc *sp = doc_of("kind: Space\nmetadata: {name: s}\nspec: {realmId: nope}\n");
  ck_assert_int_eq(kk_store_put(e.s, sp, true, &err), -1);
  ck_assert_int_eq(err->kind, KK_ERR_NOT_FOUND);
  ck_assert_str_eq(err->msg, "realm \"nope\" not found");
  kk_error_free(&err);
  ck_assert(!exists(&e, "nope")); /* nothing written */
  mk_realm(&e, "r");
  cleanup_doc struct kk_doc *st = doc_of("kind: Stack\nmetadata: {name: t}\nspec: {realmId: r, spaceId: s}\n");
  ck_assert_int_eq(kk_store_put(e.s, st, true, &err), -1);
  ck_assert_int_eq(err->kind, KK_ERR_NOT_FOUND);
  ck_assert_str_eq(err->msg, "space \"s\" not found in realm \"r\"");
  kk_error_free(&err);
  ck_assert(!exists(&e, "r/s"));
  mk_space(&e, "r", "s");
  cleanup_doc struct kk_doc *c = cell_doc("r", "s", "t", "c", "a", "1");
  ck_assert_int_eq(kk_store_put(e.s, c, true, &err), -1);
  ck_assert_int_eq(err->kind, KK_ERR_NOT_FOUND);
  ck_assert_str_eq(err->msg, "stack \"t\" not found in realm \"r\", space \"s\"");
  kk_error_free(&err);
  mk_stack(&e, "r", "s", "t");
  cleanup_doc struct kk_doc *k =
      doc_of("kind: Container\nmetadata: {name: a}\nspec: {realmId: r, spaceId: s, stackId: t, cellId: c, image: x}\n");
  ck_assert_int_eq(kk_store_put(e.s, k, true, &err), -1);
  ck_assert_int_eq(err->kind, KK_ERR_NOT_FOUND);
  ck_assert_ptr_nonnull(strstr(err->msg, "cell \"c\" not found"));
  kk_error_free(&err);
  ck_assert(!exists(&e, "r/s/t/c"));
  env_close(&e);
}
END_TEST

START_TEST(create_existing) {
  struct env e;
  env_open(&e);
  mk_tree(&e, "r", "s", "t");
  kk_err_t err = NULL;
  cleanup_doc struct kk_doc *r = doc_of("kind: Realm\nmetadata: {name: r, labels: {v: \"2\"}}\n");
  ck_assert_int_eq(kk_store_put(e.s, r, true, &err), -1);
  ck_assert_int_eq(err->kind, KK_ERR_EXISTS);
  ck_assert_str_eq(err->msg, "realm \"r\" already exists");
  kk_error_free(&err);
  cleanup_doc struct kk_doc *g0 = get_ok(&e, REALM("r"));
  ck_assert_uint_eq(g0->u.realm.metadata.labels.n, 0); /* unchanged */
  put_ok(&e, r, false);                                /* update */
  cleanup_doc struct kk_doc *g1 = get_ok(&e, REALM("r"));
  ck_assert_str_eq(kk_map_get(&g1->u.realm.metadata.labels, "v"), "2");
  cleanup_doc struct kk_doc *c = cell_doc("r", "s", "t", "c", "a", "1");
  put_ok(&e, c, true);
  ck_assert_int_eq(kk_store_put(e.s, c, true, &err), -1);
  ck_assert_int_eq(err->kind, KK_ERR_EXISTS);
  kk_error_free(&err);
  cleanup_doc struct kk_doc *k =
      doc_of("kind: Container\nmetadata: {name: a}\nspec: {realmId: r, spaceId: s, stackId: t, cellId: c, image: x}\n");
  ck_assert_int_eq(kk_store_put(e.s, k, true, &err), -1);
  ck_assert_int_eq(err->kind, KK_ERR_EXISTS);
  kk_error_free(&err);
  env_close(&e);
}
END_TEST

START_TEST(not_found) {
  struct env e;
  env_open(&e);
  mk_tree(&e, "r", "s", "t");
  kk_err_t g = get_err(&e, REALM("x"));
  ck_assert_int_eq(g->kind, KK_ERR_NOT_FOUND);
  ck_assert_str_eq(g->msg, "realm \"x\" not found");
  kk_error_free(&g);
  g = get_err(&e, CELL("r", "s", "t", "c"));
  ck_assert_int_eq(g->kind, KK_ERR_NOT_FOUND);
  ck_assert_str_eq(g->msg, "cell \"c\" not found in realm \"r\", space \"s\", stack \"t\"");
  kk_error_free(&g);
  g = get_err(&e, STACK("r", "nope", "t"));
  ck_assert_int_eq(g->kind, KK_ERR_NOT_FOUND);
  kk_error_free(&g);
  cleanup_doc struct kk_doc *c = cell_doc("r", "s", "t", "c", "a", "1");
  put_ok(&e, c, true);
  g = get_err(&e, CTR("r", "s", "t", "c", "zz"));
  ck_assert_int_eq(g->kind, KK_ERR_NOT_FOUND);
  ck_assert_ptr_nonnull(strstr(g->msg, "container \"zz\" not found in cell \"c\""));
  kk_error_free(&g);
  kk_err_t err = NULL;
  ck_assert_int_eq(kk_store_delete(e.s, &CELL("r", "s", "t", "nope"), &err), -1);
  ck_assert_int_eq(err->kind, KK_ERR_NOT_FOUND);
  kk_error_free(&err);
  ck_assert_int_eq(kk_store_delete(e.s, &CTR("r", "s", "t", "c", "zz"), &err), -1);
  ck_assert_int_eq(err->kind, KK_ERR_NOT_FOUND);
  kk_error_free(&err);
  ck_assert_int_eq(kk_store_delete(e.s, &REALM("x"), &err), -1);
  ck_assert_int_eq(err->kind, KK_ERR_NOT_FOUND);
  kk_error_free(&err);
  env_close(&e);
}
END_TEST

/* Refs become path components: anything but a name is refused. */
START_TEST(bad_refs) {
  struct env e;
  env_open(&e);
  mk_tree(&e, "r", "s", "t");
  static const char *const bad[] = {"..", "../r", "a/b", "", "a_b", ".", "run", "containers"};
  for (size_t i = 0; i < KK_ARRAY_SIZE(bad); i++) {
    kk_err_t g = get_err(&e, REALM(bad[i]));
    ck_assert_msg(g->kind == KK_ERR_INVALID, "get realm \"%s\": %s", bad[i], g->msg);
    kk_error_free(&g);
    g = get_err(&e, CELL("r", bad[i], "t", "c"));
    ck_assert_int_eq(g->kind, KK_ERR_INVALID);
    kk_error_free(&g);
    kk_err_t err = NULL;
    ck_assert_int_eq(kk_store_delete(e.s, &SPACE("r", bad[i]), &err), -1);
    ck_assert_int_eq(err->kind, KK_ERR_INVALID);
    kk_error_free(&err);
    ck_assert(!kk_store_exists(e.s, &STACK("r", "s", bad[i])));
  }
  /* A document naming a bad parent cannot be put (even unvalidated). */
  cleanup_doc struct kk_doc *d = kk_doc_new(KK_KIND_SPACE);
  d->u.space.metadata.name = kk_xstrdup("s2");
  d->u.space.spec.realm_id = kk_xstrdup("..");
  kk_err_t err = NULL;
  ck_assert_int_eq(kk_store_put(e.s, d, true, &err), -1);
  ck_assert_int_eq(err->kind, KK_ERR_INVALID);
  kk_error_free(&err);
  cleanup_free char *up = kk_asprintf("%s/../s2", e.run);
  struct stat st;
  ck_assert_int_ne(stat(up, &st), 0);
  env_close(&e);
}
END_TEST

static void expect_corrupt(struct env *e, struct kk_ref ref, const char *rel) {
  kk_err_t g = get_err(e, ref);
  cleanup_free char *path = kk_asprintf("%s/%s", e->run, rel);
  ck_assert_msg(strstr(g->msg, path) != NULL, "error \"%s\" does not name %s", g->msg, path);
  ck_assert_int_ne(g->kind, KK_ERR_NOT_FOUND);
  kk_error_free(&g);
}

/* A corrupt file is an error naming the file, never a crash. */
START_TEST(corrupt_files) {
  struct env e;
  env_open(&e);
  mk_tree(&e, "r", "s", "t");
  cleanup_doc struct kk_doc *c = cell_doc("r", "s", "t", "c", "a,b", "1");
  put_ok(&e, c, true);
  static const char *const garbage[] = {"{{{{ not yaml", "kind: Space\nmetadata: {name: r}\n", "", "- a\n- b\n",
                                        "kind: Realm\nmetadata: {name: r}\n---\nkind: Realm\nmetadata: {name: r}\n",
                                        "kind: Realm\nmetadata: {name: r}\nspec: {bogus: 1}\n", "\xff\xfe\x00\x01"};
  for (size_t i = 0; i < KK_ARRAY_SIZE(garbage); i++) {
    write_raw(&e, "r/realm.yaml", garbage[i]);
    expect_corrupt(&e, REALM("r"), "r/realm.yaml");
    /* A listing leaves it out and names it (issue #16). */
    struct kk_doc_list l = {0};
    kk_err_t err = NULL;
    struct kk_store_problems bad = {0};
    ck_assert_int_eq(kk_store_list_report(e.s, KK_KIND_REALM, NULL, &l, &bad, &err), 0);
    ck_assert_uint_eq(l.n, 0);
    ck_assert_uint_eq(bad.n, 1);
    ck_assert_str_eq(bad.v[0].path, "r/realm.yaml");
    ck_assert_int_eq(bad.v[0].kind, KK_KIND_REALM);
    ck_assert_str_eq(kk_store_problem_ref(&bad.v[0]).name, "r");
    kk_store_problems_free(&bad);
  }
  write_raw(&e, "r/realm.yaml", "kind: Realm\nmetadata: {name: r}\n");
  kk_doc_free(get_ok(&e, REALM("r")));
  /* A corrupt container file spoils the cell read, naming the file. */
  write_raw(&e, "r/s/t/c/containers/b.yaml", "kind: Container\nmetadata: [\n");
  expect_corrupt(&e, CELL("r", "s", "t", "c"), "r/s/t/c/containers/b.yaml");
  expect_corrupt(&e, CTR("r", "s", "t", "c", "b"), "r/s/t/c/containers/b.yaml");
  struct kk_doc_list l = {0};
  kk_err_t err = NULL;
  struct kk_store_problems bad = {0};
  ck_assert_int_eq(kk_store_list_report(e.s, KK_KIND_CELL, NULL, &l, &bad, &err), 0);
  ck_assert_uint_eq(l.n, 0);
  ck_assert_uint_eq(bad.n, 1);
  ck_assert_str_eq(bad.v[0].path, "r/s/t/c/containers/b.yaml");
  ck_assert_int_eq(bad.v[0].kind, KK_KIND_CELL);
  ck_assert_str_eq(kk_store_problem_ref(&bad.v[0]).name, "c");
  ck_assert_msg(strstr(bad.v[0].reason, "line 3: invalid YAML") != NULL, "reason: %s", bad.v[0].reason);
  kk_store_problems_free(&bad);
  ck_assert_int_eq(kk_store_list_report(e.s, KK_KIND_CONTAINER, NULL, &l, &bad, &err), 0);
  ck_assert_uint_eq(l.n, 0);
  ck_assert_uint_eq(bad.n, 1);
  kk_store_problems_free(&bad);
  /* A directory or a symlink where the file should be. */
  cleanup_free char *sp = kk_asprintf("%s/r/s/space.yaml", e.run);
  unlink(sp);
  ck_assert_int_eq(mkdir(sp, 0755), 0);
  kk_err_t g = get_err(&e, SPACE("r", "s"));
  kk_error_free(&g);
  cleanup_free char *st = kk_asprintf("%s/r/s/t/stack.yaml", e.run);
  unlink(st);
  ck_assert_int_eq(symlink("/etc/passwd", st), 0);
  g = get_err(&e, STACK("r", "s", "t"));
  kk_error_free(&g);
  /* Writing over a corrupt file repairs it. */
  put_doc(&e, false, "kind: Container\nmetadata: {name: b}\nspec: {realmId: r, spaceId: s, stackId: t, cellId: c, "
                     "image: fixed}\n");
  cleanup_doc struct kk_doc *gc = get_ok(&e, CELL("r", "s", "t", "c"));
  ck_assert_str_eq(gc->u.cell.spec.containers[1].image, "fixed");
  env_close(&e);
}
END_TEST

/* Every path under the run path with its size and content hash. */
static char *tree_of(struct env *e) {
  cleanup_free char *cmd = kk_asprintf("cd '%s' && find . -printf '%%y %%s %%p\\n' | sort && "
                                       "find . -type f -exec sha256sum {} + | sort -k2", e->run);
  FILE *f = popen(cmd, "r");
  ck_assert_ptr_nonnull(f);
  char *out = NULL;
  size_t len = 0;
  FILE *m = open_memstream(&out, &len);
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
    fwrite(buf, 1, n, m);
  pclose(f);
  fclose(m);
  return out;
}

/* Issue #16: one unreadable state file (cut short, too big, garbage)
 * never stops the listing of the others; each is named with its path
 * relative to the run path and why. */
START_TEST(list_skips_unreadable) {
  struct env e;
  env_open(&e);
  mk_tree(&e, "r", "s", "t");
  static const char *const names[] = {"a", "big", "cut", "junk", "z"};
  for (size_t i = 0; i < KK_ARRAY_SIZE(names); i++) {
    cleanup_doc struct kk_doc *c = cell_doc("r", "s", "t", names[i], "x", "1");
    put_ok(&e, c, true);
  }
  /* cut short in the middle of a key */
  cleanup_free char *cut_path = kk_asprintf("%s/r/s/t/cut/cell.yaml", e.run);
  ck_assert_int_eq(truncate(cut_path, 20), 0);
  write_raw(&e, "r/s/t/junk/cell.yaml", "\x01\x02 not: [yaml\n");
  /* one byte over the document limit */
  cleanup_free char *big_path = kk_asprintf("%s/r/s/t/big/cell.yaml", e.run);
  ck_assert_int_eq(truncate(big_path, (off_t)KK_MAX_DOC_BYTES + 1), 0);
  struct kk_doc_list l = {0};
  kk_err_t err = NULL;
  struct kk_store_problems bad = {0};
  ck_assert_int_eq(kk_store_list_report(e.s, KK_KIND_CELL, NULL, &l, &bad, &err), 0);
  ck_assert_uint_eq(l.n, 2);
  ck_assert_str_eq(kk_doc_name(l.docs[0]), "a");
  ck_assert_str_eq(kk_doc_name(l.docs[1]), "z");
  kk_doc_list_free(&l);
  ck_assert_uint_eq(bad.n, 3);
  ck_assert_str_eq(bad.v[0].path, "r/s/t/big/cell.yaml");
  ck_assert_str_eq(bad.v[0].reason, "larger than 4194304 bytes");
  ck_assert_str_eq(bad.v[1].path, "r/s/t/cut/cell.yaml");
  ck_assert_str_eq(bad.v[2].path, "r/s/t/junk/cell.yaml");
  kk_store_problems_free(&bad);
  /* Without a problem list: skipped all the same. */
  ck_assert_int_eq(kk_store_list(e.s, KK_KIND_CELL, NULL, &l, &err), 0);
  ck_assert_uint_eq(l.n, 2);
  kk_doc_list_free(&l);
  /* Containers of the readable cells; kk_store_check finds the three. */
  ck_assert_int_eq(kk_store_list(e.s, KK_KIND_CONTAINER, NULL, &l, &err), 0);
  ck_assert_uint_eq(l.n, 2);
  kk_doc_list_free(&l);
  ck_assert_int_eq(kk_store_check(e.s, &bad, &err), 0);
  ck_assert_uint_eq(bad.n, 3);
  kk_store_problems_free(&bad);
  /* get names the file; delete removes it. */
  kk_err_t g = get_err(&e, CELL("r", "s", "t", "big"));
  ck_assert(kk_store_is_corrupt(g));
  kk_error_free(&g);
  struct kk_ref big = CELL("r", "s", "t", "big");
  ck_assert_int_eq(kk_store_delete(e.s, &big, &err), 0);
  ck_assert(!kk_store_exists(e.s, &big));
  env_close(&e);
}
END_TEST

/* Issue #16: the store never writes a document it could not read back. */
START_TEST(put_refuses_oversize) {
  struct env e;
  env_open(&e);
  mk_tree(&e, "r", "s", "t");
  cleanup_doc struct kk_doc *c = cell_doc("r", "s", "t", "huge", "x", "1");
  struct kk_container_spec *ct = &c->u.cell.spec.containers[0];
  for (int i = 0; i < 2200; i++) {
    char v[2100];
    int n = snprintf(v, sizeof(v), "E%d=", i);
    memset(v + n, 'v', sizeof(v) - (size_t)n - 1);
    v[sizeof(v) - 1] = '\0';
    kk_strv_push(&ct->env, v);
  }
  cleanup_free char *before = tree_of(&e);
  kk_err_t err = NULL;
  ck_assert_int_eq(kk_store_put(e.s, c, true, &err), -1);
  ck_assert_int_eq(err->kind, KK_ERR_INVALID);
  ck_assert_ptr_nonnull(strstr(err->msg, "cell \"huge\" is "));
  ck_assert_ptr_nonnull(strstr(err->msg, "more than the limit of 4194304"));
  kk_error_free(&err);
  cleanup_free char *after = tree_of(&e);
  ck_assert_str_eq(before, after);
  env_close(&e);
}
END_TEST

/* ----------------------------------------------------------- atomicity */

struct stopper {
  const char *step; /* stop at this step ... */
  int write;        /* ... of this write (0-based) */
  int writes_seen;
  int steps_seen;
};

static int stopper_fn(const char *step, void *arg) {
  struct stopper *s = arg;
  s->steps_seen++;
  if (strcmp(step, "created") == 0)
    s->writes_seen++;
  return s->writes_seen - 1 == s->write && strcmp(step, s->step) == 0;
}

static const char *const steps[] = {"created", "partial", "written", "synced", "renamed"};

static int count_tmp_files(struct env *e, const char *rel) {
  cleanup_free char *p = kk_asprintf("%s/%s", e->run, rel);
  DIR *d = opendir(p);
  if (d == NULL)
    return 0;
  int n = 0;
  struct dirent *de;
  while ((de = readdir(d)) != NULL)
    n += de->d_name[0] == '.' && strcmp(de->d_name, ".") && strcmp(de->d_name, "..") && strcmp(de->d_name, ".lock");
  closedir(d);
  return n;
}

/* Realm (one file): interrupted at each step, realm.yaml is the complete
 * old or new document, and the left-over temp files confuse nobody. */
START_TEST(atomic_single_file) {
  for (size_t i = 0; i < KK_ARRAY_SIZE(steps); i++) {
    struct env e;
    env_open(&e);
    put_doc(&e, true, "kind: Realm\nmetadata: {name: r, labels: {ver: old}}\n");
    mk_space(&e, "r", "s");
    cleanup_doc struct kk_doc *v2 = doc_of("kind: Realm\nmetadata: {name: r, labels: {ver: new}}\n"
                                           "spec: {registryCredentials: [{username: a, password: b}]}\n");
    struct stopper st = {steps[i], 0, 0, 0};
    struct kk_atomic_hook hook = {stopper_fn, &st};
    kk_store_set_write_hook(e.s, &hook);
    kk_err_t err = NULL;
    ck_assert_int_eq(kk_store_put(e.s, v2, false, &err), -1);
    ck_assert_ptr_nonnull(strstr(err->msg, "interrupted"));
    kk_error_free(&err);
    kk_store_set_write_hook(e.s, NULL);
    cleanup_doc struct kk_doc *f = file_doc(&e, "r/realm.yaml", KK_KIND_REALM);
    const char *ver = kk_map_get(&f->u.realm.metadata.labels, "ver");
    if (strcmp(steps[i], "renamed") == 0) {
      ck_assert_str_eq(ver, "new");
      ck_assert(kk_doc_spec_equal(f, v2));
    } else {
      ck_assert_msg(strcmp(ver, "old") == 0, "step %s: realm.yaml is %s", steps[i], ver);
      ck_assert_int_eq(count_tmp_files(&e, "r"), 1); /* the crash left its temp file */
    }
    /* get and list see exactly one realm and one space. */
    cleanup_doc struct kk_doc *g = get_ok(&e, REALM("r"));
    ck_assert(kk_doc_spec_equal(g, f));
    struct kk_doc_list l = {0};
    ck_assert_int_eq(kk_store_list(e.s, KK_KIND_REALM, NULL, &l, &err), 0);
    ck_assert_uint_eq(l.n, 1);
    kk_doc_list_free(&l);
    ck_assert_int_eq(kk_store_list(e.s, KK_KIND_SPACE, NULL, &l, &err), 0);
    ck_assert_uint_eq(l.n, 1);
    kk_doc_list_free(&l);
    /* The next write succeeds. */
    put_ok(&e, v2, false);
    cleanup_doc struct kk_doc *g2 = get_ok(&e, REALM("r"));
    ck_assert(kk_doc_spec_equal(g2, v2));
    env_close(&e);
  }
}
END_TEST

/* Cell (containers/a.yaml, containers/b.yaml, cell.yaml): stopped at each
 * step of each write, every file is the complete old or new version, the
 * files before the stop are new, the ones after are old. */
START_TEST(atomic_cell) {
  const char *files[] = {"r/s/t/c/containers/a.yaml", "r/s/t/c/containers/b.yaml", "r/s/t/c/cell.yaml"};
  for (int w = 0; w < 3; w++) {
    for (size_t i = 0; i < KK_ARRAY_SIZE(steps); i++) {
      struct env e;
      env_open(&e);
      mk_tree(&e, "r", "s", "t");
      cleanup_doc struct kk_doc *v1 = cell_doc("r", "s", "t", "c", "a,b", "1");
      cleanup_doc struct kk_doc *v2 = cell_doc("r", "s", "t", "c", "a,b", "2");
      put_ok(&e, v1, true);
      struct stopper st = {steps[i], w, 0, 0};
      struct kk_atomic_hook hook = {stopper_fn, &st};
      kk_store_set_write_hook(e.s, &hook);
      kk_err_t err = NULL;
      ck_assert_int_eq(kk_store_put(e.s, v2, false, &err), -1);
      kk_error_free(&err);
      kk_store_set_write_hook(e.s, NULL);
      int n_new = w + (strcmp(steps[i], "renamed") == 0);
      for (int f = 0; f < 3; f++) {
        enum kk_kind kind = f < 2 ? KK_KIND_CONTAINER : KK_KIND_CELL;
        cleanup_doc struct kk_doc *d = file_doc(&e, files[f], kind);
        const char *ver = kind == KK_KIND_CELL ? kk_map_get(&d->u.cell.metadata.labels, "ver")
                                               : d->u.container.spec.env.v[0] + 4;
        const char *want = f < n_new ? "2" : "1";
        ck_assert_msg(strcmp(ver, want) == 0, "write %d step %s: %s is version %s, want %s", w, steps[i], files[f],
                      ver, want);
        if (kind == KK_KIND_CONTAINER)
          ck_assert_str_eq(d->u.container.spec.image, strcmp(want, "2") == 0 ? "img:2" : "img:1");
      }
      /* Reads work and ignore the temp files. */
      cleanup_doc struct kk_doc *g = get_ok(&e, CELL("r", "s", "t", "c"));
      ck_assert_uint_eq(g->u.cell.spec.n_containers, 2);
      struct kk_doc_list l = {0};
      ck_assert_int_eq(kk_store_list(e.s, KK_KIND_CONTAINER, NULL, &l, &err), 0);
      ck_assert_uint_eq(l.n, 2);
      kk_doc_list_free(&l);
      ck_assert_int_eq(kk_store_list(e.s, KK_KIND_CELL, NULL, &l, &err), 0);
      ck_assert_uint_eq(l.n, 1);
      kk_doc_list_free(&l);
      /* The next put completes it. */
      put_ok(&e, v2, false);
      cleanup_doc struct kk_doc *g2 = get_ok(&e, CELL("r", "s", "t", "c"));
      ck_assert(kk_doc_spec_equal(g2, v2));
      env_close(&e);
    }
  }
}
END_TEST

/* Standalone container writes are atomic too. */
START_TEST(atomic_container) {
  for (size_t i = 0; i < KK_ARRAY_SIZE(steps); i++) {
    struct env e;
    env_open(&e);
    mk_tree(&e, "r", "s", "t");
    cleanup_doc struct kk_doc *v1 = cell_doc("r", "s", "t", "c", "a", "1");
    put_ok(&e, v1, true);
    cleanup_doc struct kk_doc *k = doc_of("kind: Container\nmetadata: {name: a}\n"
                                          "spec: {realmId: r, spaceId: s, stackId: t, cellId: c, image: \"img:2\", "
                                          "env: [VER=2]}\n");
    struct stopper st = {steps[i], 0, 0, 0};
    struct kk_atomic_hook hook = {stopper_fn, &st};
    kk_store_set_write_hook(e.s, &hook);
    kk_err_t err = NULL;
    ck_assert_int_eq(kk_store_put(e.s, k, false, &err), -1);
    kk_error_free(&err);
    kk_store_set_write_hook(e.s, NULL);
    cleanup_doc struct kk_doc *f = file_doc(&e, "r/s/t/c/containers/a.yaml", KK_KIND_CONTAINER);
    ck_assert_str_eq(f->u.container.spec.image, strcmp(steps[i], "renamed") == 0 ? "img:2" : "img:1");
    cleanup_doc struct kk_doc *g = get_ok(&e, CTR("r", "s", "t", "c", "a"));
    ck_assert_str_eq(g->u.container.spec.image, f->u.container.spec.image);
    env_close(&e);
  }
}
END_TEST

/* ---------------------------------------------------------- concurrency */

#define N_WRITERS 4
#define N_READERS 2
#define N_PUTS 200

static void child_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void child_fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  _exit(1);
}

static void writer(const char *run, int w) {
  struct kk_store *s = NULL;
  kk_err_t err = NULL;
  if (kk_store_open(run, false, &s, &err) < 0)
    child_fail("writer %d: open: %s", w, err->msg);
  for (int j = 0; j < N_PUTS; j++) {
    char ver[32];
    snprintf(ver, sizeof(ver), "%d-%d", w, j);
    struct kk_doc *d = cell_doc("r", "s", "t", "c", "a,b,main*", ver);
    if (kk_store_put(s, d, false, &err) < 0)
      child_fail("writer %d: put %d: %s", w, j, err->msg);
    kk_doc_free(d);
  }
  kk_store_close(s);
  _exit(0);
}

/* Every read parses, and is one whole version: cell.yaml and every
 * container file from the same put. */
static void reader(const char *run, const char *done, int id) {
  struct kk_store *s = NULL;
  kk_err_t err = NULL;
  if (kk_store_open(run, false, &s, &err) < 0)
    child_fail("reader %d: open: %s", id, err->msg);
  long reads = 0;
  struct stat st;
  while (stat(done, &st) < 0) {
    struct kk_doc *d = NULL;
    struct kk_ref ref = CELL("r", "s", "t", "c");
    if (kk_store_get(s, &ref, &d, &err) < 0)
      child_fail("reader %d: read %ld: %s", id, reads, err->msg);
    const char *ver = kk_map_get(&d->u.cell.metadata.labels, "ver");
    if (ver == NULL)
      child_fail("reader %d: no version label", id);
    if (d->u.cell.spec.n_containers != 3)
      child_fail("reader %d: %zu containers at version %s", id, d->u.cell.spec.n_containers, ver);
    if (strcmp(d->u.cell.spec.containers[0].id, "main") != 0)
      child_fail("reader %d: root not first", id);
    for (size_t i = 0; i < 3; i++) {
      const struct kk_container_spec *c = &d->u.cell.spec.containers[i];
      if (c->env.n != 1 || strcmp(c->env.v[0] + 4, ver) != 0)
        child_fail("reader %d: torn cell: cell version %s, container %s version %s", id, ver, c->id,
                   c->env.n ? c->env.v[0] : "?");
    }
    int w, j;
    if (sscanf(ver, "%d-%d", &w, &j) != 2 || w < -1 || w >= N_WRITERS || j < 0 || j >= N_PUTS)
      child_fail("reader %d: unknown version %s", id, ver);
    kk_doc_free(d);
    reads++;
  }
  kk_store_close(s);
  fprintf(stderr, "reader %d: %ld consistent reads\n", id, reads);
  _exit(reads > 0 ? 0 : 1);
}

START_TEST(concurrent_writers_readers) {
  struct env e;
  env_open(&e);
  mk_tree(&e, "r", "s", "t");
  cleanup_doc struct kk_doc *v0 = cell_doc("r", "s", "t", "c", "a,b,main*", "-1-0");
  put_ok(&e, v0, true);
  cleanup_free char *done = kk_asprintf("%s/done", e.tmp);
  pid_t readers[N_READERS], writers[N_WRITERS];
  for (int i = 0; i < N_READERS; i++) {
    readers[i] = fork();
    ck_assert_int_ge(readers[i], 0);
    if (readers[i] == 0)
      reader(e.run, done, i);
  }
  for (int i = 0; i < N_WRITERS; i++) {
    writers[i] = fork();
    ck_assert_int_ge(writers[i], 0);
    if (writers[i] == 0)
      writer(e.run, i);
  }
  int failed = 0;
  for (int i = 0; i < N_WRITERS; i++) {
    int status;
    ck_assert_int_eq(waitpid(writers[i], &status, 0), writers[i]);
    failed += !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  FILE *f = fopen(done, "w");
  ck_assert_ptr_nonnull(f);
  fclose(f);
  for (int i = 0; i < N_READERS; i++) {
    int status;
    ck_assert_int_eq(waitpid(readers[i], &status, 0), readers[i]);
    failed += !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  ck_assert_msg(failed == 0, "%d writer/reader processes failed (see stderr)", failed);
  /* The survivor is some writer's last version. */
  cleanup_doc struct kk_doc *g = get_ok(&e, CELL("r", "s", "t", "c"));
  const char *ver = kk_map_get(&g->u.cell.metadata.labels, "ver");
  int w, j;
  ck_assert_int_eq(sscanf(ver, "%d-%d", &w, &j), 2);
  ck_assert_int_eq(j, N_PUTS - 1);
  ck_assert_int_eq(count_tmp_files(&e, "r/s/t/c"), 0);
  ck_assert_int_eq(count_tmp_files(&e, "r/s/t/c/containers"), 0);
  env_close(&e);
}
END_TEST

/* Read-modify-write under the tree lock, the way the controller does it:
 * no increment is lost. */
#define N_RMW 4
#define N_INCR 50

static void incrementer(const char *run, int id) {
  struct kk_store *s = NULL;
  kk_err_t err = NULL;
  if (kk_store_open(run, false, &s, &err) < 0)
    child_fail("rmw %d: open: %s", id, err->msg);
  for (int i = 0; i < N_INCR; i++) {
    int lock = kk_store_lock(s, true, &err);
    if (lock < 0)
      child_fail("rmw %d: lock: %s", id, err->msg);
    struct kk_doc *d = NULL;
    struct kk_ref ref = CELL("r", "s", "t", "c");
    if (kk_store_get(s, &ref, &d, &err) < 0)
      child_fail("rmw %d: get: %s", id, err->msg);
    long n = strtol(kk_map_get(&d->u.cell.metadata.labels, "count"), NULL, 10);
    char buf[32];
    snprintf(buf, sizeof(buf), "%ld", n + 1);
    kk_map_set(&d->u.cell.metadata.labels, "count", buf);
    if (kk_store_put(s, d, false, &err) < 0)
      child_fail("rmw %d: put: %s", id, err->msg);
    kk_doc_free(d);
    close(lock);
  }
  kk_store_close(s);
  _exit(0);
}

START_TEST(tree_lock_read_modify_write) {
  struct env e;
  env_open(&e);
  mk_tree(&e, "r", "s", "t");
  cleanup_doc struct kk_doc *c = doc_of("kind: Cell\nmetadata: {name: c, labels: {count: \"0\"}}\n"
                                        "spec: {realmId: r, spaceId: s, stackId: t, containers: [{id: a, image: x}]}\n");
  put_ok(&e, c, true);
  pid_t pids[N_RMW];
  for (int i = 0; i < N_RMW; i++) {
    pids[i] = fork();
    ck_assert_int_ge(pids[i], 0);
    if (pids[i] == 0)
      incrementer(e.run, i);
  }
  for (int i = 0; i < N_RMW; i++) {
    int status;
    ck_assert_int_eq(waitpid(pids[i], &status, 0), pids[i]);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "process %d failed", i);
  }
  cleanup_doc struct kk_doc *g = get_ok(&e, CELL("r", "s", "t", "c"));
  ck_assert_str_eq(kk_map_get(&g->u.cell.metadata.labels, "count"), "200");
  /* The tree lock is a file at the run path root, invisible to list. */
  ck_assert(is_regular(&e, ".lock"));
  struct kk_doc_list l = {0};
  kk_err_t err = NULL;
  ck_assert_int_eq(kk_store_list(e.s, KK_KIND_REALM, NULL, &l, &err), 0);
  ck_assert_uint_eq(l.n, 1);
  kk_doc_list_free(&l);
  /* Shared holders do not block each other. */
  int a = kk_store_lock(e.s, false, &err);
  int b = kk_store_lock(e.s, false, &err);
  ck_assert_int_ge(a, 0);
  ck_assert_int_ge(b, 0);
  close(a);
  close(b);
  env_close(&e);
}
END_TEST

static Suite *store_suite(void) {
  Suite *s = suite_create("store");
  TCase *b = tcase_create("basic");
  tcase_set_timeout(b, 60);
  tcase_add_test(b, open_run_path);
  tcase_add_test(b, layout_every_kind);
  tcase_add_test(b, ref_helpers);
  tcase_add_test(b, stale_containers_removed);
  tcase_add_test(b, cell_status_fidelity);
  tcase_add_test(b, put_status_roundtrip);
  tcase_add_test(b, snapshot_by_stat);
  tcase_add_test(b, snapshot_by_watch);
  tcase_add_test(b, ephemeral_cell_torn_and_swept);
  tcase_add_test(b, intent_record);
  tcase_add_test(b, list_wildcards_sorted);
  tcase_add_test(b, dir_without_file_invisible);
  tcase_add_test(b, parent_missing);
  tcase_add_test(b, create_existing);
  tcase_add_test(b, not_found);
  tcase_add_test(b, bad_refs);
  tcase_add_test(b, corrupt_files);
  tcase_add_test(b, list_skips_unreadable);
  tcase_add_test(b, put_refuses_oversize);
  suite_add_tcase(s, b);
  TCase *a = tcase_create("atomic");
  tcase_set_timeout(a, 120);
  tcase_add_test(a, atomic_single_file);
  tcase_add_test(a, atomic_cell);
  tcase_add_test(a, atomic_container);
  suite_add_tcase(s, a);
  TCase *c = tcase_create("concurrency");
  tcase_set_timeout(c, 300);
  tcase_add_test(c, concurrent_writers_readers);
  tcase_add_test(c, tree_lock_read_modify_write);
  suite_add_tcase(s, c);
  return s;
}

KK_UNIT_MAIN(store_suite)

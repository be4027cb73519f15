/* The reconcile pass (kukeond's --reconcile-interval timer): what crashes,
 * power cuts and reboots left is cleaned up or healed, and every cell is
 * supervised (cell.c) and persisted when that changed it. */
#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "cgroupfs/cgroupfs.h"
#include "controller/internal.h"
#include "lib/fs.h"
#include "lib/log.h"
#include "lib/util.h"

/* ------------------------------------------------------------ due times */

static bool due_is(const struct kk_due_cell *d, const struct kk_ref *ref) {
  return kk_streq(d->realm, ref->realm) && kk_streq(d->space, ref->space) && kk_streq(d->stack, ref->stack) &&
         kk_streq(d->name, ref->name);
}

static void due_free_one(struct kk_due_cell *d) {
  free(d->realm);
  free(d->space);
  free(d->stack);
  free(d->name);
}

void kk_ctl_dues_free(struct kk_dues *dues) {
  for (size_t i = 0; i < dues->n; i++)
    due_free_one(&dues->v[i]);
  free(dues->v);
  *dues = (struct kk_dues){0};
}

/* Cell ref is owed something at at_ms (0: nothing any more). */
static void due_set(struct kk_dues *dues, const struct kk_ref *ref, int64_t at_ms) {
  for (size_t i = 0; i < dues->n; i++) {
    if (!due_is(&dues->v[i], ref))
      continue;
    if (at_ms > 0) {
      dues->v[i].at_ms = at_ms;
      return;
    }
    due_free_one(&dues->v[i]);
    dues->v[i] = dues->v[--dues->n];
    return;
  }
  if (at_ms <= 0)
    return;
  dues->v = kk_xrealloc(dues->v, (dues->n + 1) * sizeof(*dues->v));
  dues->v[dues->n++] = (struct kk_due_cell){kk_xstrdup(ref->realm), kk_xstrdup(ref->space), kk_xstrdup(ref->stack),
                                            kk_xstrdup(ref->name), at_ms};
}

/* ---------------------------------------------------------------- cells */

/* One cell, under the tree lock for as long as it takes and no longer:
 * re-read (a cell deleted meanwhile stays deleted), observed, supervised
 * (restart policies, auto-delete), persisted when that changed it. */
static int reconcile_cell(struct kk_controller *c, const struct kk_ref *ref, kk_err_t *err) {
  cleanup_close int lock = kk_store_lock(c->store, true, err);
  if (lock < 0)
    return -1;
  cleanup_doc struct kk_doc *cell = NULL;
  kk_err_t e = NULL;
  if (kk_store_get(c->store, ref, &cell, &e) < 0) {
    if (e->kind != KK_ERR_NOT_FOUND) {
      *err = e;
      return -1;
    }
    kk_error_free(&e);
    due_set(&c->dues, ref, 0);
    return 0;
  }
  /* Compared field by field afterwards: emitting the cell as YAML twice
   * was the pass's largest single cost. */
  cleanup_doc struct kk_doc *before = kk_doc_clone(cell);
  bool deleted = false;
  int64_t due = 0;
  int r = kk_ctl_cell_supervise(c, cell, &deleted, &due, err);
  due_set(&c->dues, ref, r == 0 ? due : 0);
  if (r < 0)
    return -1;
  if (deleted) {
    if (kk_ctl_cgroup_down(c, ref, true, err) < 0 || kk_store_delete_volatile(c->store, ref, err) < 0)
      return -1;
    kk_info("reconcile: auto-deleted cell %s", ref->name);
    return 0;
  }
  if (kk_doc_status_equal(before, cell))
    return 0;
  cell->u.cell.status.base.updated_at = kk_now();
  return kk_store_put_status(c->store, cell, err); /* supervise changes statuses only */
}

static void reconcile_cell_warn(struct kk_controller *c, const struct kk_ref *ref) {
  kk_err_t e = NULL;
  if (reconcile_cell(c, ref, &e) < 0) {
    kk_warn("reconcile cell %s: %s", ref->name, e->msg);
    kk_error_free(&e);
  }
}

/* Every cell in turn, each under the lock on its own: requests go on
 * between two cells, and one that fails stops nothing. */
static void reconcile_cells(struct kk_controller *c) {
  cleanup_doc_list struct kk_doc_list cells = {0};
  cleanup_store_problems struct kk_store_problems unreadable = {0}; /* warned about by the pass */
  kk_err_t e = NULL;
  {
    cleanup_close int lock = kk_store_lock(c->store, false, &e);
    if (lock < 0 || kk_store_list_report(c->store, KK_KIND_CELL, NULL, &cells, &unreadable, &e) < 0) {
      kk_warn("reconcile: %s", e->msg);
      kk_error_free(&e);
      return;
    }
  }
  for (size_t i = 0; i < cells.n; i++) {
    struct kk_ref ref = kk_ref_of(cells.docs[i]);
    reconcile_cell_warn(c, &ref);
  }
}

/* The writable layers of a cell's containers (<space>_<stack>_<cell>_*;
 * names hold no '_'). */
static void remove_cell_layers(struct kk_controller *c, const struct kk_ref *cell) {
  cleanup_free char *ns = kk_namespace_name(cell->realm, c->ns_suffix);
  cleanup_free char *dir = kk_asprintf("%s/containers/%s", c->run_path, ns);
  cleanup_free char *prefix = kk_ctl_cell_name_prefix(cell);
  kk_err_t e = NULL;
  cleanup_dir DIR *d = kk_dir_open_at(AT_FDCWD, dir, &e);
  kk_error_free(&e);
  struct dirent *de;
  while (d && (de = readdir(d)) != NULL) {
    if (!kk_has_prefix(de->d_name, prefix))
      continue;
    if (kk_rm_rf_at(dirfd(d), de->d_name, &e) < 0) {
      kk_warn("remove the writable layer %s/%s: %s", dir, de->d_name, e->msg);
      kk_error_free(&e);
    }
  }
}

/* What an ephemeral cell torn by a power cut left: its containers'
 * writable layers, and its cgroup if a daemon that died in the middle of
 * creating it made one.  The power cut took its mounts, processes and
 * bundles. */
static void remove_torn_layers(void *ctx, const struct kk_ref *cell) {
  struct kk_controller *c = ctx;
  kk_err_t cg_err = NULL;
  if (kk_ctl_cgroup_down(c, cell, true, &cg_err) < 0) {
    kk_warn("remove the cgroup of torn cell %s: %s", cell->name, cg_err->msg);
    kk_error_free(&cg_err);
  }
  remove_cell_layers(c, cell);
  kk_info("removed cell %s, torn by a power cut (it was to be deleted once its containers ended)", cell->name);
}

/* A directory without its resource file (kk_store_sweep_unborn): a create
 * killed between making the cgroup and writing the file, or a delete
 * killed between unlinking the file and removing the directory.  Its
 * cgroup goes, and a cell's writable layers.  A cgroup with processes in
 * it stays, and the directory with it: something runs that no resource
 * describes, which is warned about on every pass rather than killed. */
static int remove_unborn(void *ctx, const struct kk_ref *ref) {
  struct kk_controller *c = ctx;
  kk_err_t e = NULL;
  if (kk_ctl_cgroup_down(c, ref, false, &e) < 0) {
    kk_warn("%s %s has a directory but no metadata: %s", kk_kind_lower(ref->kind), ref->name, e->msg);
    kk_error_free(&e);
    return -1;
  }
  if (ref->kind == KK_KIND_CELL)
    remove_cell_layers(c, ref);
  kk_info("removed what a create or delete of %s %s killed half way left", kk_kind_lower(ref->kind), ref->name);
  return 0;
}

/* One pass: ephemeral cells a power cut tore go (on the first pass only:
 * they come from a power cut, or a daemon that died creating one);
 * directories a killed create or delete left without their file go, and
 * temp files of writers that died; updates a crash interrupted are
 * completed (intent.c); every
 * realm, space, stack and cell gets its cgroup back if it is gone (after a
 * reboot /sys/fs/cgroup starts empty). */
static int reconcile_tree(struct kk_controller *c, size_t *seen, kk_err_t *err) {
  cleanup_close int lock = kk_store_lock(c->store, true, err);
  if (lock < 0)
    return -1;
  if (!c->torn_swept) {
    if (kk_store_sweep_torn(c->store, remove_torn_layers, c, err) < 0)
      return -1;
    c->torn_swept = true;
  }
  kk_store_sweep_unborn(c->store, remove_unborn, c);
  kk_ctl_sweep_temps(c);
  kk_ctl_intents_finish(c);
  size_t healed = 0;
  for (int kind = KK_KIND_REALM; kind <= KK_KIND_CELL; kind++) {
    cleanup_doc_list struct kk_doc_list docs = {0};
    if (kk_store_list(c->store, (enum kk_kind)kind, NULL, &docs, err) < 0)
      return -1;
    for (size_t i = 0; kind == KK_KIND_REALM && i < docs.n; i++)
      kk_ctl_disk_observe(c, kk_doc_name(docs.docs[i]));
    for (size_t i = 0; kind == KK_KIND_SPACE && i < docs.n; i++) {
      kk_err_t e = NULL;
      if (kk_ctl_space_fw_ensure(c, docs.docs[i], &e) < 0) {
        kk_warn("reconcile: %s", e->msg);
        kk_error_free(&e);
      }
    }
    for (size_t i = 0; i < docs.n && c->cg; i++) {
      struct kk_ref ref = kk_ref_of(docs.docs[i]);
      cleanup_free char *rel = kk_ctl_cg_rel(&ref);
      bool exists = false, owned = false;
      kk_err_t e = NULL;
      (*seen)++;
      if (kk_cg_exists(c->cg, c->cgroup_root, rel, &exists, &owned, &e) == 0 && !exists) {
        struct kk_strv lines = {0}, warnings = {0};
        bool made = false;
        if (kk_ctl_cgroup_up(c, docs.docs[i], NULL, &made, &lines, &warnings, &e) == 0 &&
            kk_store_put(c->store, docs.docs[i], false, &e) == 0)
          healed++;
        kk_strv_free(&lines);
        kk_strv_free(&warnings);
      }
      if (e) {
        kk_warn("reconcile %s %s: %s", kk_kind_lower(ref.kind), ref.name, e->msg);
        kk_error_free(&e);
      }
    }
  }
  if (healed)
    kk_info("reconcile: re-created %zu missing cgroup(s)", healed);
  return 0;
}

/* --------------------------------------------------------- exit notices */

/* The cells named by the notices in <runtime dir>/exits, each once; the
 * notices go before their cells are looked at, so an exit recorded while
 * one is handled makes a notice anew. */
static void take_notices(struct kk_controller *c, struct kk_strv *names) {
  cleanup_free char *dir = kk_asprintf("%s/%s", c->runtime_dir, KK_CTL_EXIT_NOTICES);
  kk_err_t e = NULL;
  cleanup_dir DIR *d = kk_dir_open_at(AT_FDCWD, dir, &e);
  kk_error_free(&e);
  struct dirent *de;
  while (d && (de = readdir(d)) != NULL) {
    if (de->d_name[0] == '.' || unlinkat(dirfd(d), de->d_name, 0) < 0)
      continue;
    bool seen = false;
    for (size_t i = 0; i < names->n && !seen; i++)
      seen = strcmp(names->v[i], de->d_name) == 0;
    if (!seen)
      kk_strv_push(names, de->d_name);
  }
}

int kk_ctl_exit_notices_dir(struct kk_controller *c, char **dir, kk_err_t *err) {
  cleanup_free char *d = kk_asprintf("%s/%s", c->runtime_dir, KK_CTL_EXIT_NOTICES);
  if (kk_mkdir_p(d, 0700, err) < 0)
    return -1;
  *dir = kk_steal(&d);
  return 0;
}

int64_t kk_ctl_react(struct kk_controller *c) {
  cleanup_strv struct kk_strv names = {0};
  take_notices(c, &names);
  for (size_t i = 0; i < names.n; i++) {
    struct kk_ref ref;
    if (kk_ctl_exit_notice_parse(names.v[i], &ref))
      reconcile_cell_warn(c, &ref);
  }
  /* What came due: copied first, reconcile_cell rewrites the list. */
  int64_t now = kk_now_ms();
  struct kk_dues owed = {0};
  for (size_t i = 0; i < c->dues.n; i++)
    if (c->dues.v[i].at_ms <= now) {
      struct kk_due_cell *d = &c->dues.v[i];
      struct kk_ref ref = {.kind = KK_KIND_CELL, .realm = d->realm, .space = d->space, .stack = d->stack, .name = d->name};
      due_set(&owed, &ref, d->at_ms);
    }
  for (size_t i = 0; i < owed.n; i++) {
    struct kk_due_cell *d = &owed.v[i];
    struct kk_ref ref = {.kind = KK_KIND_CELL, .realm = d->realm, .space = d->space, .stack = d->stack, .name = d->name};
    reconcile_cell_warn(c, &ref);
  }
  kk_ctl_dues_free(&owed);
  int64_t next = 0;
  for (size_t i = 0; i < c->dues.n; i++)
    if (next == 0 || c->dues.v[i].at_ms < next)
      next = c->dues.v[i].at_ms;
  return next;
}

/* The tree under one lock (quick: files and cgroup directories), then the
 * cells one by one. */
int kk_ctl_reconcile(struct kk_controller *c, kk_err_t *err) {
  size_t seen = 0;
  if (reconcile_tree(c, &seen, err) < 0)
    return -1;
  /* The notices there now are for cells this pass looks at anyway. */
  cleanup_strv struct kk_strv covered = {0};
  take_notices(c, &covered);
  reconcile_cells(c);
  kk_debug("reconcile pass: %zu resource(s)", seen); /* tests wait for this line: the pass is over */
  return 0;
}

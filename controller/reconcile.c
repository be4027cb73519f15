/* The reconcile pass (kukeond's --reconcile-interval timer): what crashes,
 * power cuts and reboots left is cleaned up or healed, and every cell is
 * supervised (cell.c) and persisted when that changed it. */
#include <dirent.h>
#include <fcntl.h>
#include <string.h>

#include "cgroupfs/cgroupfs.h"
#include "controller/internal.h"
#include "lib/fs.h"
#include "lib/log.h"
#include "lib/util.h"

/* Cells: statuses from the monitors, restart policies, auto-delete.  What
 * changed is persisted. */
static void reconcile_cells(struct kk_controller *c) {
  cleanup_doc_list struct kk_doc_list cells = {0};
  cleanup_store_problems struct kk_store_problems unreadable = {0}; /* warned about by the pass */
  kk_err_t e = NULL;
  if (kk_store_list_report(c->store, KK_KIND_CELL, NULL, &cells, &unreadable, &e) < 0) {
    kk_warn("reconcile: %s", e->msg);
    kk_error_free(&e);
    return;
  }
  for (size_t i = 0; i < cells.n; i++) {
    struct kk_doc *cell = cells.docs[i];
    struct kk_ref ref = kk_ref_of(cell);
    cleanup_free char *before = kk_doc_to_yaml(cell);
    bool deleted = false;
    if (kk_ctl_cell_supervise(c, cell, &deleted, &e) == 0 && deleted) {
      if (kk_ctl_cgroup_down(c, &ref, true, &e) == 0 && kk_store_delete_volatile(c->store, &ref, &e) == 0)
        kk_info("reconcile: auto-deleted cell %s", ref.name);
    } else if (e == NULL) {
      cleanup_free char *after = kk_doc_to_yaml(cell);
      if (strcmp(before, after) != 0) {
        cell->u.cell.status.base.updated_at = kk_now();
        kk_store_put_status(c->store, cell, &e); /* supervise changes statuses only */
      }
    }
    if (e) {
      kk_warn("reconcile cell %s: %s", ref.name, e->msg);
      kk_error_free(&e);
    }
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
int kk_ctl_reconcile(struct kk_controller *c, kk_err_t *err) {
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
  size_t healed = 0, seen = 0;
  for (int kind = KK_KIND_REALM; kind <= KK_KIND_CELL; kind++) {
    cleanup_doc_list struct kk_doc_list docs = {0};
    if (kk_store_list(c->store, (enum kk_kind)kind, NULL, &docs, err) < 0)
      return -1;
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
      seen++;
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
  reconcile_cells(c);
  if (healed)
    kk_info("reconcile: re-created %zu missing cgroup(s)", healed);
  kk_debug("reconcile pass: %zu resource(s)", seen);
  return 0;
}

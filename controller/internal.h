/* Shared between the controller's own files; not part of its API. */
#ifndef KK_CONTROLLER_INTERNAL_H
#define KK_CONTROLLER_INTERNAL_H

#include "cgroupfs/cgroupfs.h"
#include "controller/controller.h"
#include "runtime/image.h"
#include "runtime/runtime.h"

/* Restart bookkeeping the spec keeps in daemon memory: consecutive
 * on-failure attempts per container (reset once it is seen running). */
struct kk_restart_slot {
  char *rid;
  int attempts;
};

struct kk_controller {
  struct kk_controller_config cfg; /* strings owned below */
  char *run_path, *ns_suffix, *cgroup_root, *pod_subnet, *runtime_dir, *runc_bin, *pause_binary;
  struct kk_store *store;
  struct kk_cg_host *cg; /* NULL when this host offers no usable cgroup2 */
  char *cg_problem;      /* why cg is NULL */
  struct kk_image_store *images; /* opened on first use */
  char *monitor_exe;             /* staged on first use (kk_monitor_stage) */
  struct kk_host_limits host;
  struct kk_restart_slot *restarts;
  size_t n_restarts;
  bool torn_swept; /* torn ephemeral cells were looked for (once: they come from a power cut) */
};

/* controller.c */
char *kk_ctl_cg_rel(const struct kk_ref *r);
int kk_ctl_cgroup_up(struct kk_controller *c, struct kk_doc *doc, const struct kk_resources *old, bool *created,
                     struct kk_strv *lines, struct kk_strv *warnings, kk_err_t *err);

/* lifecycle.c: the containers of a cell.  The caller holds the tree lock
 * and persists the cell afterwards. */
int kk_ctl_cell_start(struct kk_controller *c, struct kk_doc *cell, kk_err_t *err);
/* Stop (signal = SIGTERM, escalating to SIGKILL after timeout_ms) or kill
 * (SIGKILL): non-root containers first, the root last. */
int kk_ctl_cell_stop(struct kk_controller *c, struct kk_doc *cell, int signal, int64_t timeout_ms, kk_err_t *err);
/* Everything a cell's containers own on the host: processes, runc state,
 * rootfs mounts, bundles, upper dirs.  Best effort; the first error is
 * reported after the rest was tried. */
int kk_ctl_cell_teardown(struct kk_controller *c, struct kk_doc *cell, kk_err_t *err);
int kk_ctl_cell_update(struct kk_controller *c, const struct kk_doc *stored, struct kk_doc *want, kk_err_t *err);
/* Container statuses from what the monitors recorded, and the cell state
 * derived from them (sticky states stay). */
void kk_ctl_cell_observe(struct kk_controller *c, struct kk_doc *cell);
/* True when any container has a bundle (it was started at least once). */
bool kk_ctl_cell_materialized(struct kk_controller *c, const struct kk_doc *cell);
/* Restart policies and auto-delete; *deleted when the cell was reaped. */
int kk_ctl_cell_supervise(struct kk_controller *c, struct kk_doc *cell, bool *deleted, kk_err_t *err);
void kk_ctl_restarts_free(struct kk_controller *c);

#endif

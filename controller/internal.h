/* Shared between the controller's own files; not part of its API. */
#ifndef KK_CONTROLLER_INTERNAL_H
#define KK_CONTROLLER_INTERNAL_H

#include "cgroupfs/cgroupfs.h"
#include "controller/controller.h"
#include "image/image.h"
#include "runtime/runtime.h"

/* Restart bookkeeping the spec keeps in daemon memory: consecutive
 * on-failure attempts per container (reset once it is seen running). */
struct kk_restart_slot {
  char *rid;
  int attempts;
};

/* Test hook: KUKEON_TEST_CRASH_POINT=<name> makes this process SIGKILL
 * itself at that point, to hit the windows a crash can leave (runc has run
 * the containers, the status is not written yet) every time.  Read once at
 * kk_controller_open, and honoured only under a cgroup root other than the
 * default one, which every test uses and no installed kukeond does (see
 * kk_ctl_crash_at). */
enum kk_crash_point {
  KK_CRASH_NONE,
  KK_CRASH_AFTER_RUNC_START,      /* a cell's first container runs, nothing else */
  KK_CRASH_AFTER_CELL_START,      /* all of a cell runs, its status is not written */
  KK_CRASH_AFTER_CONTAINER_STOP,  /* a stop ended one container, the others run */
  KK_CRASH_AFTER_CELL_STOP,       /* a stop ended all, its status is not written */
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
  enum kk_crash_point crash_point;
};

/* SIGKILL this process if the test hook names this point. */
void kk_ctl_crash_at(const struct kk_controller *c, enum kk_crash_point p);

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

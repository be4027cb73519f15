/* The controller: desired state -> actual state.  The one place reconcile
 * logic lives; the daemon's API handlers and in-process kuke both call it. */
#ifndef KK_CONTROLLER_H
#define KK_CONTROLLER_H

#include <stdbool.h>

#include "lib/error.h"
#include "model/model.h"
#include "image/image.h"
#include "runtime/runtime.h"
#include "store/store.h"

struct kk_controller_config {
  const char *run_path;    /* /opt/kukeon */
  const char *ns_suffix;   /* kukeon.io */
  const char *cgroup_root; /* /kukeon */
  const char *pod_subnet;  /* 10.88.0.0/16 */
  /* Containers: runc state at <runtime_dir>/runc/<namespace>, bundles and
   * monitors at <runtime_dir>/bundles/<namespace>/<container-id>. */
  const char *runtime_dir;  /* /run/kukeon (the directory of the socket) */
  const char *runc;         /* "runc" */
  const char *pause_binary; /* kukepause; default: beside this executable */
  /* CNI: plugins (':'-separated search path; default /opt/cni/bin:/usr/lib/cni),
   * the result cache and the host-local leases (default <runtime_dir>/cni/cache
   * and <runtime_dir>/cni/networks: tmpfs, gone with the namespaces at reboot). */
  const char *cni_path;
  const char *cni_cache_dir;
  const char *cni_lease_dir;
  /* The disk-pressure guard (spec 5.5 item 10): percent used of the
   * filesystem holding a realm's metadata from which a WARN is logged (at
   * most every 5 min per realm) and new cells are refused unless the
   * request waives it.  0 turns either off (so does a zeroed config);
   * kukeond and in-process kuke set them (kk_ctl_disk_pressure_env). */
  int disk_warn_pct, disk_block_pct;
  /* ServerConfiguration's defaultMemoryLimitBytes: the memory limit of every
   * container created or updated without a positive one; <= 0: none. */
  int64_t default_memory_limit_bytes;
  /* A long-lived controller (kukeond): the store watches what it read
   * (kk_store_watch_changes), so lists of unchanged resources stat nothing. */
  bool watch_store;
};

#define KK_DISK_WARN_PCT_DEFAULT 85
#define KK_DISK_BLOCK_PCT_DEFAULT 95
#define KK_DISK_WARN_EVERY_SEC 300
/* "0".."100" (what: the flag or variable, for the error). */
int kk_ctl_disk_pct_parse(const char *s, const char *what, int *out, kk_err_t *err);
/* The defaults, overridden by KUKEOND_DISK_PRESSURE_WARN_PCT and
 * KUKEOND_DISK_PRESSURE_BLOCK_PCT when set. */
int kk_ctl_disk_pressure_env(struct kk_controller_config *cfg, kk_err_t *err);

struct kk_controller;

int kk_controller_open(const struct kk_controller_config *cfg, struct kk_controller **out, kk_err_t *err);
void kk_controller_close(struct kk_controller *c);
void kk_controller_closep(struct kk_controller **c);
#define cleanup_controller KK_CLEANUP(kk_controller_closep)
const struct kk_controller_config *kk_controller_config(const struct kk_controller *c);

/* A report: a title and indented "- <thing>: <outcome>" lines, which is
 * what every creation summary prints. */
struct kk_report {
  char *title;
  struct kk_strv lines; /* already indented */
};
void kk_report_free(struct kk_report *r);
void kk_report_line(struct kk_report *r, int indent, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* kuke init: default realm/space/stack and the system realm.  Idempotent.
 * force_cni (--force-regenerate-cni) rewrites every space's conflist. */
int kk_ctl_init(struct kk_controller *c, const char *realm, const char *space, bool force_cni, struct kk_report *rep,
                kk_err_t *err);

/* ------------------------------------------------------ the kukeond cell
 * kuke-system/kukeon/kukeon/kukeond runs `kukeond serve` under runc (host
 * network and pid namespaces, privileged, the state bound in), from
 * kukeon.internal/kukeond:<version>, a rootfs staged from this binary
 * (system.c).  In-process only: kuke init and kuke daemon. */
struct kk_system_opts {
  const char *socket;        /* where kukeond listens */
  const char *configuration; /* ServerConfiguration it reads (bound in); NULL: its default */
  long socket_gid;           /* --socket-gid (0: root only) */
  const char *image;         /* kukeon.internal/kukeond:<tag>; NULL: :<KUKEON_VERSION> */
  bool restart;              /* stop what runs first (its socket did not answer) */
};
enum kk_system_state { KK_SYSTEM_ABSENT, KK_SYSTEM_STOPPED, KK_SYSTEM_RUNNING };
int kk_ctl_system_state(struct kk_controller *c, enum kk_system_state *st, kk_err_t *err);
/* Create the cell if missing (recreated when its image or command line
 * drifted from o), start it unless it runs; rep gets init's lines. */
int kk_ctl_system_up(struct kk_controller *c, const struct kk_system_opts *o, struct kk_report *rep, kk_err_t *err);
/* SIGTERM, SIGKILL after timeout_ms (or SIGKILL at once); *was_running. */
int kk_ctl_system_stop(struct kk_controller *c, int sig, int64_t timeout_ms, bool *was_running, kk_err_t *err);
/* Kill and delete the cell (its cgroups, bundles); purge_system: also the
 * whole system realm and kukeon's firewall chains.  *found: anything was
 * there to remove.  (The socket and pid file are the caller's.) */
int kk_ctl_system_reset(struct kk_controller *c, bool purge_system, struct kk_report *rep, bool *found, kk_err_t *err);

/* Create one realm/space/stack/cell; a new cell passes the disk-pressure
 * guard first unless ignore_disk_pressure.  A realm, space or stack that exists
 * is reported "already existed" (healed as init heals it); a cell that
 * exists is KK_ERR_EXISTS.  A
 * policy (NULL: none) refuses what its peer may not ask for (model.h). */
int kk_ctl_create(struct kk_controller *c, struct kk_doc *doc, const struct kk_policy *policy,
                  bool ignore_disk_pressure, struct kk_report *rep, kk_err_t *err);

int kk_ctl_get(struct kk_controller *c, const struct kk_ref *ref, struct kk_doc **out, kk_err_t *err);
/* Unreadable state files are left out; with warnings, each one adds
 * "<path relative to the run path>: <why>" there (else it is logged). */
int kk_ctl_list(struct kk_controller *c, enum kk_kind kind, const struct kk_ref *scope, struct kk_doc_list *out,
                struct kk_strv *warnings, kk_err_t *err);
/* kk_ctl_list without resource usage (no cgroup reads) and with cells'
 * containers left out: what a table of names and states needs, cheaply. */
int kk_ctl_list_summary(struct kk_controller *c, enum kk_kind kind, const struct kk_ref *scope,
                        struct kk_doc_list *out, struct kk_strv *warnings, kk_err_t *err);

/* Delete: without cascade or force a resource with children is refused.
 * A cell whose state file cannot be read is removed only with force: what
 * its names point to (runc state, monitors, bundles, layers, cgroup) goes
 * with its directory. */
int kk_ctl_delete(struct kk_controller *c, const struct kk_ref *ref, bool cascade, bool force, struct kk_report *rep,
                  kk_err_t *err);

/* kuke purge: refused like a delete when the resource has stored children
 * and neither cascade nor force is given (nothing changes then); else a
 * forced delete, then everything kukeon could have left on the host for
 * the resource, found by its names whatever its state says (a daemon
 * killed mid-delete, a hand): containers' monitors, runc records, mounts
 * and files, cgroups in every hierarchy, CNI attachments, leases, a
 * space's bridge and egress chain, a realm's images.  Every item is tried; rep gets one line
 * each ("- <item>: removed" or "- <item>: failed: <why>") and *failed
 * counts the failures.  A resource neither stored nor leaving anything is
 * KK_ERR_NOT_FOUND. */
int kk_ctl_purge(struct kk_controller *c, const struct kk_ref *ref, bool cascade, bool force, struct kk_report *rep,
                 size_t *failed, kk_err_t *err);

/* kuke uninstall (uninstall.c), in-process only, after the kukeond cell
 * was reset.  _plan: what kk_ctl_uninstall would remove, one line each.
 * kk_ctl_uninstall: every realm (stored, unreadable, default and
 * kuke-system) purged with cascade and force, one line each ("- realm
 * \"<r>\" (namespace \"<ns>\"): purged|nothing left|FAILED: <why>"),
 * kukeon's firewall chains; then, only when *realms_failed is 0, the
 * runtime dir and the run path (mounts below detached first; else
 * "skipped (realm purge failed)").  *failed counts the other failures. */
int kk_ctl_uninstall_plan(struct kk_controller *c, struct kk_report *rep, kk_err_t *err);
int kk_ctl_uninstall(struct kk_controller *c, struct kk_report *rep, size_t *realms_failed, size_t *failed,
                     kk_err_t *err);

enum kk_apply_action { KK_APPLY_CREATED, KK_APPLY_UPDATED, KK_APPLY_UNCHANGED, KK_APPLY_FAILED };
const char *kk_apply_action_name(enum kk_apply_action a);

struct kk_apply_item {
  int index;
  enum kk_kind kind;
  char *name;
  enum kk_apply_action action;
  char *error;
  struct kk_strv changes;
  struct kk_strv details;  /* pairs: a changed field, then what apply did about it (spec §4.7) */
  struct kk_strv warnings; /* limits not enforced as asked, controllers missing */
};
struct kk_apply_result {
  struct kk_apply_item *items;
  size_t n;
};
void kk_apply_result_free(struct kk_apply_result *r);

/* One file (or stdin) of multi-document YAML. */
struct kk_apply_source {
  const char *file;
  const char *buf;
  size_t len;
};

/* Apply documents from one or more sources.  A parse or validation error in
 * any document rejects the whole apply (nothing changes); failures after
 * that are reported per item and the other documents still apply.  A new
 * cell passes the disk-pressure guard first unless ignore_disk_pressure. */
int kk_ctl_apply(struct kk_controller *c, const struct kk_apply_source *src, size_t n_src,
                 const struct kk_policy *policy, bool ignore_disk_pressure, struct kk_apply_result *res,
                 kk_err_t *err);

/* Cell lifecycle (kuke start/stop/kill/restart).  Reports carry the
 * one-line outcome ("Started cell ...") and a line per container a stop or
 * kill ended with SIGKILL.  timeout_ms: how long a stop's SIGTERM may take
 * per container (<= 0: the cell's spec.stopTimeoutSeconds, else 5 s).
 * restart goes by the cell's state (spec 4.13): Ready is stopped and
 * started, Stopped and Exited are started, Error, Failed and Degraded are
 * recreated, Pending and Unknown are refused (KK_ERR_CONFLICT). */
enum kk_cell_op { KK_CELL_START, KK_CELL_STOP, KK_CELL_KILL, KK_CELL_RESTART };
int kk_ctl_cell_op(struct kk_controller *c, const struct kk_ref *ref, enum kk_cell_op op, int64_t timeout_ms,
                   struct kk_report *rep, kk_err_t *err);

/* kuke refresh (spec 4.14): every realm, space, stack, cell and container
 * observed again (cgroups, monitors, runc), and only the .status of those
 * whose observation differs rewritten.  rep: the counts, names, what was
 * updated and what failed, as kuke refresh prints them. */
int kk_ctl_refresh(struct kk_controller *c, struct kk_report *rep, kk_err_t *err);

/* Where a container's monitor keeps its log, exit record and attach
 * socket.  container NULL or "" picks the cell's tty default, else its
 * only non-root container (a cell of one: its root). */
int kk_ctl_container_dir(struct kk_controller *c, const struct kk_ref *cell, const char *container, char **dir,
                         char **container_id, bool *tty, kk_err_t *err);

/* kuke log: the container's log to out_fd/err_fd (kk_log_read), then
 * whether it has ended and its exit code (128 + N when killed by signal
 * N).  With o->follow it returns when the container ended, or when one of
 * o->stop_fds says the reader is gone. */
struct kk_ctl_exit {
  bool exited;
  int code;
  char *container_id;
};
void kk_ctl_exit_free(struct kk_ctl_exit *e);
int kk_ctl_log(struct kk_controller *c, const struct kk_ref *cell, const char *container, const struct kk_log_opts *o,
               int out_fd, int err_fd, struct kk_ctl_exit *exit, kk_err_t *err);
/* The same for a monitor directory kk_ctl_container_dir named (kukeond
 * answers the request first, then streams the log); fills exited/code. */
int kk_ctl_log_at(const char *dir, const struct kk_log_opts *o, int out_fd, int err_fd, struct kk_ctl_exit *exit,
                  kk_err_t *err);
/* kuke attach: a connected socket to the container's monitor (the caller
 * runs kk_attach_session on it, or kukeond relays a client's connection
 * to it). */
int kk_ctl_attach(struct kk_controller *c, const struct kk_ref *cell, const char *container, int *sock,
                  char **container_id, bool *tty, kk_err_t *err);

/* kuke exec (controller/exec.c): a command in a running container of a
 * cell (container picked as for log and attach).  Prepare checks and
 * resolves (the user by the container's /etc/passwd); run is the session,
 * on a connection that carries stream frames (kk_exec_session). */
struct kk_ctl_exec {
  const char *container;
  const struct kk_strv *argv, *env;
  const char *user, *cwd;
  bool tty, interactive;
};
struct kk_ctl_exec_target;
int kk_ctl_exec_prepare(struct kk_controller *c, const struct kk_ref *cell, const struct kk_ctl_exec *x,
                        struct kk_ctl_exec_target **out, kk_err_t *err);
const char *kk_ctl_exec_container(const struct kk_ctl_exec_target *t);
int kk_ctl_exec_run(const struct kk_ctl_exec_target *t, int conn, kk_err_t *err);
void kk_ctl_exec_target_free(struct kk_ctl_exec_target **t);
/* kuke run's sig-proxy: the running container a signal goes to, and the
 * signal (runc kill, to its init). */
int kk_ctl_signal_target(struct kk_controller *c, const struct kk_ref *cell, const char *container,
                         struct kk_ctl_exec_target **out, kk_err_t *err);
int kk_ctl_exec_signal(const struct kk_ctl_exec_target *t, int sig, kk_err_t *err);

/* ---------------------------------------------------------------- status
 * kuke status's state and storage rows.  Both only read. */

/* What kukeon left on the host that no resource in the store names: a
 * container's bundle (with a live monitor: "monitor"), its runc record,
 * its writable layer ("snapshot"), and realm/space/stack/cell directories
 * without their resource file ("resource"). */
struct kk_ctl_orphan {
  char *what;   /* "bundle", "monitor", "runc", "snapshot", "resource" */
  char *path;   /* absolute */
};
struct kk_ctl_orphans {
  struct kk_ctl_orphan *v;
  size_t n;
};
void kk_ctl_orphans_free(struct kk_ctl_orphans *o);
#define cleanup_ctl_orphans KK_CLEANUP(kk_ctl_orphans_free)
int kk_ctl_orphans(struct kk_controller *c, struct kk_ctl_orphans *out, kk_err_t *err);

/* The image store's usage per realm namespace that has an index
 * (kk_image_usage), and in all (ns NULL). */
struct kk_ctl_storage_row {
  char *ns; /* NULL: the whole store */
  struct kk_image_usage usage;
};
struct kk_ctl_storage {
  struct kk_ctl_storage_row *v;
  size_t n;
};
void kk_ctl_storage_free(struct kk_ctl_storage *s);
#define cleanup_ctl_storage KK_CLEANUP(kk_ctl_storage_free)
/* No image store yet: no rows, not an error. */
int kk_ctl_storage(struct kk_controller *c, struct kk_ctl_storage *out, kk_err_t *err);

/* One pass of the reconcile loop (kukeond's --reconcile-interval timer):
 * the tree under the lock, then each cell under the lock on its own. */
int kk_ctl_reconcile(struct kk_controller *c, kk_err_t *err);
/* Exits acted on when they happen.  A container's monitor, once it has
 * recorded the exit, makes a file in this folder (<runtime dir>/exits,
 * made here when missing); kukeond watches it (inotify) and calls
 * kk_ctl_react, which supervises the cells those files name (restart
 * policies, auto-delete) and those whose backoff or grace has ended.
 * Returns when the next one ends (ms since the epoch; 0: none owed). */
int kk_ctl_exit_notices_dir(struct kk_controller *c, char **dir, kk_err_t *err);
int64_t kk_ctl_react(struct kk_controller *c);

/* ---------------------------------------------------------------- images
 * The image store of the run path (runtime/image.h), one namespace per
 * realm.  A policy (NULL: none; the daemon's for peers other than root)
 * keeps restricted peers out of the system realm's images, which kukeon's
 * own cells run from. */

/* ref NULL: the images of realm (NULL: of every realm); ref given: that one
 * image of realm (NULL: "default"), KK_ERR_NOT_FOUND when it is not there.
 * Reading never creates the store. */
int kk_ctl_image_list(struct kk_controller *c, const char *realm, const char *ref, struct kk_image_info **out,
                      size_t *n, kk_err_t *err);
/* Load from fd: an archive stream, or an OCI layout directory opened
 * O_DIRECTORY (for callers that may read it).  what names the input in
 * messages.  *ns gets the realm's namespace. */
struct kk_ctl_image_load {
  const char *realm, *name, *platform, *what;
  int cancel_fd; /* >= 0: a stream read stops when this stirs (kk_image_load_opts) */
};
int kk_ctl_image_load(struct kk_controller *c, const struct kk_policy *policy, const struct kk_ctl_image_load *l,
                      int fd, struct kk_image_load_result *res, char **ns, kk_err_t *err);
/* Pull with the realm's registryCredentials and insecureRegistries unless
 * a username is given.  progress_fd >= 0: a progress bar is drawn there. */
struct kk_ctl_image_pull {
  const char *ref, *realm, *username, *password, *platform;
  bool insecure;
  int progress_fd;
};
int kk_ctl_image_pull(struct kk_controller *c, const struct kk_policy *policy, const struct kk_ctl_image_pull *p,
                      struct kk_image_info *info, char **ns, kk_err_t *err);
/* *name gets the normalized reference that was deleted. */
int kk_ctl_image_delete(struct kk_controller *c, const struct kk_policy *policy, const char *realm, const char *ref,
                        char **name, char **ns, kk_err_t *err);
/* Blobs and snapshots are shared by all realms; realm only names the report. */
int kk_ctl_image_prune(struct kk_controller *c, const char *realm, struct kk_image_prune_result *res, char **ns,
                       kk_err_t *err);

#endif

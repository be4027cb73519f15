/* Shared between the controller's own files; not part of its API.
 *
 * The files in layers; a file calls only into files below it, never up or
 * sideways (the declarations below follow the same order, bottom first):
 *
 *   images.c  streams.c  status.c     public: images; log and attach; kuke status's
 *   exec.c                            public: kuke exec's target and session
 *                                     orphans and storage (read-only)
 *   purge.c                           public: kuke purge (a delete, then a
 *                                     sweep of what names alone point to)
 *   apply.c                           public: kuke apply
 *   create.c  delete.c  cellop.c  reconcile.c  refresh.c
 *                                     public: create/get/list/init, delete,
 *                                     start/stop/kill/restart, reconcile pass
 *                                     and exits acted on (one cell per lock),
 *                                     kuke refresh (statuses only)
 *   intent.c                          a cell brought to a new spec under an
 *                                     intent record, completed after a crash
 *   cell.c                            a cell's containers on the host
 *   network.c                         a space's CNI network, a cell's attachment
 *   container.c                       one container on the host
 *   controller.c                      open/close, reports
 *   cgroup.c  temps.c  crash.c        cgroup glue, temp sweeps, test hook
 *   disk.c                            the disk-pressure guard (statvfs, WARN book)
 *   purge_host.c                      purge's host sweeps (mounts, every
 *                                     cgroup hierarchy, monitors)
 *   seen.c                            running containers as last observed
 *                                     (the init's pid while its monitor lives)
 *   apply_diff.c                      what a spec change does (pure, as below;
 *                                     tests/unit/test_apply_diff.c)
 *   names.c  cell_state.c             pure: no host, no store (unit tested)
 */
#ifndef KK_CONTROLLER_INTERNAL_H
#define KK_CONTROLLER_INTERNAL_H

#include <pthread.h>

#include "cgroupfs/cgroupfs.h"
#include "controller/controller.h"
#include "image/image.h"
#include "lib/cleanup.h"
#include "runtime/runtime.h"

/* Restart bookkeeping the spec keeps in daemon memory: consecutive
 * on-failure attempts per container (reset once it is seen running), and
 * when this daemon last restarted it, to the millisecond (the status
 * keeps whole seconds; backoffs are counted from this when it is set). */
struct kk_restart_slot {
  char *rid;
  int attempts;
  int64_t last_ms;
};
struct kk_restarts {
  struct kk_restart_slot *v;
  size_t n;
};

/* Cells supervision owes something later (kk_ctl_cell_supervise's due):
 * kukeond's supervisor comes back to each then (reconcile.c). */
struct kk_due_cell {
  char *realm, *space, *stack, *name;
  int64_t at_ms; /* ms since the epoch */
};
struct kk_dues {
  struct kk_due_cell *v;
  size_t n;
};

/* Test hook: KUKEON_TEST_CRASH_POINT=<name> makes this process SIGKILL
 * itself at that point, to hit the windows a crash can leave (runc has run
 * the containers, the status is not written yet) every time.  Read once at
 * kk_controller_open, and honoured only under a cgroup root other than the
 * default one, which every test uses and no installed kukeond does (see
 * kk_ctl_crash_point_parse). */
enum kk_crash_point {
  KK_CRASH_NONE,
  KK_CRASH_AFTER_RUNC_START,      /* a cell's first container runs, nothing else */
  KK_CRASH_AFTER_CELL_START,      /* all of a cell runs, its status is not written */
  KK_CRASH_AFTER_CONTAINER_STOP,  /* a stop ended one container, the others run */
  KK_CRASH_AFTER_CELL_STOP,       /* a stop ended all, its status is not written */
  KK_CRASH_MID_DELETE,            /* a delete tore down one container, the root runs */
  /* A cell brought to a new spec (intent.c), in the order it happens: */
  KK_CRASH_AFTER_INTENT,          /* the intent record is written, nothing else */
  KK_CRASH_MID_UPDATE,            /* one changed container is torn down */
  KK_CRASH_AFTER_UPDATE,          /* every changed container is torn down, none started */
  KK_CRASH_MID_PUT,               /* half of the container files are written, not the rest */
  KK_CRASH_AFTER_PUT_FILES,       /* cell.yaml is written, removed containers' files remain */
  KK_CRASH_AFTER_PUT,             /* the cell is written, the intent record remains */
};

/* Running containers as last observed (seen.c): by bundle path, the
 * monitor and the init's pid; shared by the daemon's threads. */
struct kk_seen_entry;
struct kk_seen {
  pthread_mutex_t mu;
  struct kk_seen_entry *v; /* sorted by bundle */
  size_t n, cap;
  size_t held, held_max; /* monitors held by a pidfd, and how many may be */
};
void kk_ctl_seen_init(struct kk_seen *s);
void kk_ctl_seen_free(struct kk_seen *s);
/* The init's pid and its monitor last seen running in bundle (pidfd -1:
 * the table keeps its own); false when none was. */
bool kk_ctl_seen_get(struct kk_seen *s, const char *bundle, struct kk_monitor_id *monitor, pid_t *init);
/* The init's pid last seen in bundle when the monitor seen running it
 * still runs, else 0. */
pid_t kk_ctl_seen_running(struct kk_seen *s, const char *bundle);
void kk_ctl_seen_put(struct kk_seen *s, const char *bundle, const struct kk_monitor_id *monitor, pid_t init);

/* When each realm's disk-pressure WARN was last logged (disk.c). */
struct kk_disk_warned {
  char *realm;
  int64_t at_ms; /* CLOCK_MONOTONIC; 0: never */
};
struct kk_disk_warns {
  struct kk_disk_warned *v;
  size_t n;
};

struct kk_controller {
  struct kk_controller_config cfg; /* strings owned below */
  char *run_path, *ns_suffix, *cgroup_root, *pod_subnet, *runtime_dir, *runc_bin, *pause_binary;
  char *cni_path, *cni_cache_dir, *cni_lease_dir;
  struct kk_store *store;
  struct kk_cg_host *cg; /* NULL when this host offers no usable cgroup2 */
  char *cg_problem;      /* why cg is NULL */
  struct kk_image_store *images; /* opened on first use */
  char *monitor_exe;             /* staged on first use (kk_monitor_stage) */
  struct kk_host_limits host;
  struct kk_restarts restarts;
  struct kk_seen seen; /* container.c's observations */
  struct kk_disk_warns disk_warns; /* touched under the tree lock only */
  struct kk_dues dues; /* reconcile.c's: kukeond's supervisor thread alone */
  bool fw_missing_warned; /* no iptables: said once */
  bool torn_swept; /* torn ephemeral cells were looked for (once: they come from a power cut) */
  enum kk_crash_point crash_point;
};

/* ------------------------------------------------------------ names.c */

/* The realm/space/stack a resource sits in; false for a realm (none). */
bool kk_ctl_parent_ref(const struct kk_ref *ref, struct kk_ref *parent);
/* The scope that lists a realm's spaces, a space's stacks, a stack's cells. */
struct kk_ref kk_ctl_child_scope(const struct kk_ref *ref);
/* "<space>_<stack>_<cell>_": how the bundles and writable layers of a
 * cell's containers begin (names hold no '_'). */
char *kk_ctl_cell_name_prefix(const struct kk_ref *cell);
/* Add container id (as found on the host) to a cell rebuilt from names,
 * once. */
void kk_ctl_cell_add_named(struct kk_cell *cell, const struct kk_ref *ref, const char *id);
char *kk_ctl_delete_title(const struct kk_ref *ref);
/* A cell's container of that id (the spec's name for it), or NULL. */
const struct kk_container_spec *kk_ctl_spec_by_id(const struct kk_cell *cell, const char *id);
/* The file a container's monitor makes in <runtime dir>/exits once it has
 * recorded the exit (kukeond watches that folder), and the cell such a
 * name points to (false: not one of these names).  parse cuts name up:
 * cell's strings point into it. */
#define KK_CTL_EXIT_NOTICES "exits"
char *kk_ctl_exit_notice_name(const struct kk_cell *cell, const struct kk_container_spec *ct);
bool kk_ctl_exit_notice_parse(char *name, struct kk_ref *cell);

/* ------------------------------------------------------- cell_state.c */

bool kk_ctl_ctr_active(int ctr_state); /* running, paused or pausing */
/* The status of container id, added (pending) when the cell has none. */
struct kk_container_status *kk_ctl_status_slot(struct kk_cell *cell, const char *id);
void kk_ctl_cell_set_reason(struct kk_cell *cell, const char *reason, const char *message);

struct kk_restart_slot *kk_ctl_restart_slot(struct kk_restarts *r, const char *rid);
/* When container rid was last restarted (ms since the epoch; 0: never):
 * this daemon's record, else the status's restartTime. */
int64_t kk_ctl_last_restart_ms(const struct kk_restarts *r, const char *rid, const struct kk_container_status *cs);
/* Its on-failure budget is whole again: it runs, or ran before it ended,
 * for RESTART_RESET_S (10 s) or more. */
bool kk_ctl_restart_renewed(const struct kk_container_status *cs, int64_t now);
void kk_ctl_restarts_free(struct kk_restarts *r);
void kk_ctl_restarts_reset_cell(struct kk_restarts *r, const struct kk_cell *cell);
const char *kk_ctl_restart_policy(const struct kk_container_spec *ct); /* "never" when unset */

/* The cell state its container statuses say (sticky states stay). */
void kk_ctl_cell_derive_state(const struct kk_restarts *r, struct kk_cell *cell, int64_t now);
/* Supervision of a cell whose root is not running: bring the whole cell
 * back now?  last_ms: the root's last restart (kk_ctl_last_restart_ms);
 * when one is owed later, *due_ms says when (else 0). */
bool kk_ctl_root_restart_due(struct kk_cell *cell, bool root_running, int64_t last_ms, int64_t now_ms,
                             int64_t *due_ms);
/* Supervision of one non-root container while its root runs. */
enum kk_restart_step {
  KK_RESTART_NONE,      /* nothing owed */
  KK_RESTART_RESET,     /* running long enough: its on-failure budget is whole again */
  KK_RESTART_EXHAUSTED, /* on-failure retries used up */
  KK_RESTART_DEFERRED,  /* owed, but within its backoff */
  KK_RESTART_NOW,
};
/* Times in ms since the epoch; last_ms as for kk_ctl_root_restart_due;
 * *due_ms: when a DEFERRED restart is owed (else 0). */
enum kk_restart_step kk_ctl_restart_step(const struct kk_container_spec *ct, const struct kk_container_status *cs,
                                         int attempts, int64_t last_ms, int64_t now_ms, int64_t *due_ms);
/* An ended auto-delete cell, past its grace period; one within it gets
 * *due_ms, the grace's end (else 0). */
bool kk_ctl_auto_delete_due(const struct kk_cell *cell, int64_t now_ms, int64_t *due_ms);
void kk_ctl_cell_drop_stale_statuses(struct kk_cell *cell); /* of containers not in the spec */
/* The container log and attach mean: named, the tty default, the only
 * non-root one, or the root of a cell of one. */
int kk_ctl_cell_pick_container(struct kk_cell *cell, const char *cell_name, const char *container,
                               const struct kk_container_spec **out, kk_err_t *err);

/* ------------------------------------------------------- apply_diff.c */

/* Move status from the stored document to the new one (spec updates keep
 * what was observed). */
void kk_ctl_carry_status(struct kk_doc *dst, const struct kk_doc *stored);
/* Changes apply refuses (they need delete + recreate), as field paths. */
void kk_ctl_breaking_changes(const struct kk_doc *stored, const struct kk_doc *want, struct kk_strv *out);
size_t kk_ctl_apply_order(const struct kk_doc_list *docs, size_t *order);
/* An unchanged cell apply starts again: its runtime is dead (spec §10.2). */
bool kk_ctl_unchanged_cell_restarts(struct kk_cell *cell);
/* details gets, per entry of changes (field paths of kk_doc_spec_diff),
 * the field and what apply does about it; stored is the cell before (NULL
 * for other kinds), gone what kk_ctl_cell_gone said of its containers,
 * ctr the id a Container document's changes are all about (else NULL). */
void kk_ctl_change_details(const struct kk_cell *stored, const bool *gone, const char *ctr,
                           const struct kk_strv *changes, struct kk_strv *details);
int kk_ctl_cell_put_container(struct kk_cell *cl, const struct kk_doc *doc, struct kk_apply_item *it, kk_err_t *err);
/* A synthesized pause root in both: want gets the stored one (never a diff). */
void kk_ctl_keep_pause_root(struct kk_cell *want, const struct kk_cell *stored);
/* A changed root container: must it (and so the whole cell) be recreated?
 * Not for env, networks and restart policy alone (persisted, read at the
 * next start). */
bool kk_ctl_root_recreates(const struct kk_container_spec *old, const struct kk_container_spec *want);
/* Per container of old (calloc'd, caller frees): changed or gone in want,
 * so torn down; all of them when the root or the cell's published ports
 * changed. */
bool *kk_ctl_cell_gone(const struct kk_cell *old, const struct kk_cell *want);

/* ----------------------------------------------------------- crash.c */

enum kk_crash_point kk_ctl_crash_point_parse(const char *want, const char *cgroup_root);
/* SIGKILL this process if the test hook names this point. */
void kk_ctl_crash_at(const struct kk_controller *c, enum kk_crash_point p);
/* The points inside a store put (mid-put, after-put-files) are the store's
 * write hook: armed for a put of a cell of n containers when the test hook
 * names one of them, disarmed after it. */
struct kk_ctl_crash_put {
  struct kk_atomic_hook hook;
  size_t renames_left;
};
void kk_ctl_crash_put_arm(struct kk_controller *c, struct kk_ctl_crash_put *h, size_t n_containers);
void kk_ctl_crash_put_disarm(struct kk_controller *c);

/* ------------------------------------------------------ purge_host.c */

/* Mount points (/proc/self/mountinfo) at or below any of dirs, deepest
 * first. */
int kk_ctl_mounts_below(const struct kk_strv *dirs, struct kk_strv *out, kk_err_t *err);
/* Whether dir (a real path) is a mount point, and whether the one on top
 * is a shared mount. */
int kk_ctl_mount_state(const char *dir, bool *is_mount, bool *shared, kk_err_t *err);
/* <mount point>/<cgroup root>/<rel> in every cgroup hierarchy (cgroup2 and
 * each v1 one of a hybrid host) where it exists. */
int kk_ctl_cg_dirs_all(const char *cgroup_root, const char *rel, struct kk_strv *out, kk_err_t *err);
/* Remove one hierarchy's cgroup directory and everything below it,
 * SIGKILLing what lives there first (marked by kukeon or not). */
int kk_ctl_cg_dir_purge(const char *path, kk_err_t *err);
/* SIGKILL the monitor named by dirfd/monitor.pid, only when that pid is a
 * live kukeon-monitor whose command line names container id; *killed gets
 * its pid (0: none was running). */
int kk_ctl_monitor_kill(int dirfd, const char *id, pid_t *killed, kk_err_t *err);

/* ------------------------------------------------------------ disk.c
 * The caller holds the tree lock (the WARN book is shared). */

/* Log the realm's disk-pressure WARN when due (the reconcile pass). */
void kk_ctl_disk_observe(struct kk_controller *c, const char *realm);
/* Before a new cell: refused (KK_ERR_CONFLICT, "data volume is under disk
 * pressure ...") at the block threshold unless ignore; other kinds pass. */
int kk_ctl_disk_guard(struct kk_controller *c, const struct kk_doc *cell, bool ignore, kk_err_t *err);
void kk_ctl_disk_warns_free(struct kk_disk_warns *w);
/* Pure: percent in use of a filesystem of blocks, bfree free and bavail
 * available to users, rounded up as df shows it (space kept for root is
 * neither used nor available); a realm's WARN is due again. */
int kk_ctl_disk_used_pct(unsigned long long blocks, unsigned long long bfree, unsigned long long bavail);
bool kk_ctl_disk_warn_due(int64_t last_ms, int64_t now_ms);

/* ---------------------------------------------------------- cgroup.c */

char *kk_ctl_cg_rel(const struct kk_ref *r);
const struct kk_resources *kk_ctl_resources_of(const struct kk_doc *d);
/* Manifest limits -> cgroupfs limits (old: the limits before, whose unset
 * ones are reset). */
void kk_ctl_limits_of(const struct kk_resources *r, const struct kk_resources *old, struct kk_cg_limits *l);
int kk_ctl_cgroup_up(struct kk_controller *c, struct kk_doc *doc, const struct kk_resources *old, bool *created,
                     struct kk_strv *lines, struct kk_strv *warnings, kk_err_t *err);
int kk_ctl_cgroup_down(struct kk_controller *c, const struct kk_ref *ref, bool force, kk_err_t *err);
void kk_ctl_fill_usage(struct kk_controller *c, struct kk_doc *doc);

/* ----------------------------------------------------------- temps.c */

void kk_ctl_sweep_temps(struct kk_controller *c);

/* ------------------------------------------------------- container.c */

struct kk_ctr_paths {
  char *ns, *runc_root, *bundle, *rootfs, *upper, *work, *state;
};
void kk_ctl_ctr_paths_of(struct kk_controller *c, const struct kk_cell *cell, const struct kk_container_spec *ct,
                         struct kk_ctr_paths *p);
void kk_ctl_ctr_paths_free(struct kk_ctr_paths *p);
#define cleanup_paths KK_CLEANUP(kk_ctl_ctr_paths_free)

/* A cell's /etc files, in its directory (KK_NETNS_ETC_*). */
struct kk_ctl_etc_paths {
  char *hosts, *hostname, *resolv;
};
void kk_ctl_etc_paths_free(struct kk_ctl_etc_paths *p);
struct kk_netns_host;
/* Rewrite the cell's hosts file in place: its own address (ip, may be
 * NULL) and its peers'. */
int kk_ctl_cell_hosts_write(struct kk_controller *c, const struct kk_ref *cell, const char *ip,
                            const struct kk_netns_host *peers, size_t n_peers, kk_err_t *err);

/* kukeon.internal/kukeond:<tag>: the rootfs staged from this binary. */
bool kk_ctl_is_kukeond_image(const char *image);
/* The host's top-level folders bound read-only into the kukeond cell
 * (NULL-terminated). */
extern const char *const kk_ctl_kukeond_host_dirs[];

/* Its status from what its monitor (else runc) recorded. */
void kk_ctl_ctr_observe(struct kk_controller *c, struct kk_cell *cell, const struct kk_container_spec *ct);
int kk_ctl_ctr_start(struct kk_controller *c, struct kk_doc *doc, const struct kk_container_spec *ct, pid_t root_pid,
                     kk_err_t *err);
int kk_ctl_ctr_stop(struct kk_controller *c, struct kk_cell *cell, const struct kk_container_spec *ct, int sig,
                    int64_t timeout_ms, kk_err_t *err);
int kk_ctl_ctr_teardown(struct kk_controller *c, struct kk_cell *cell, const struct kk_container_spec *ct,
                        kk_err_t *err);

/* --------------------------------------------------------- network.c
 * The caller holds the tree lock (it keeps subnets unique). */

/* network.json (a /24 allocated once, kept) and network.conflist in the
 * space's folder, written when missing or stale; force rewrites the
 * conflist. */
int kk_ctl_space_net_ensure(struct kk_controller *c, const struct kk_ref *space, bool force, bool portmap,
                            kk_err_t *err);
/* The space's bridge, leases and egress chain (its files go with its folder). */
int kk_ctl_space_net_remove(struct kk_controller *c, const struct kk_ref *space, kk_err_t *err);
/* The host-wide forward rules, the space's egress chain as its spec says
 * (spec 7.5) and its masquerade rule; without iptables a warning, once. */
int kk_ctl_space_fw_ensure(struct kk_controller *c, const struct kk_doc *space, kk_err_t *err);
void kk_ctl_space_fw_remove(struct kk_controller *c, const struct kk_ref *space);
/* Rewrite in place the /etc/hosts of every cell of self's space that has
 * an address; self as given (its address new or gone), the others as
 * stored. */
void kk_ctl_space_hosts_refresh(struct kk_controller *c, const struct kk_cell *self);
/* Its published ports parse, and no other cell (with an address) or
 * socket of the host holds their host ports. */
int kk_ctl_cell_ports_check(struct kk_controller *c, const struct kk_cell *cell, kk_err_t *err);
bool kk_ctl_cell_host_network(const struct kk_cell *cell);
/* CNI ADD of the root's namespace (unless an earlier ADD is cached), its
 * address into status.network.ip.  Host-network cells have none. */
int kk_ctl_cell_net_attach(struct kk_controller *c, struct kk_cell *cell, const struct kk_container_spec *root,
                           pid_t root_pid, kk_err_t *err);
/* CNI DEL (root_pid 0: the namespace is gone); best effort, warned about. */
void kk_ctl_cell_net_detach(struct kk_controller *c, struct kk_cell *cell, const struct kk_container_spec *root,
                            pid_t root_pid);

/* ------------------------------------------------------------ cell.c
 * The containers of a cell.  The caller holds the tree lock and persists
 * the cell afterwards. */

int kk_ctl_cell_start(struct kk_controller *c, struct kk_doc *cell, kk_err_t *err);
/* Stop (signal = SIGTERM, escalating to SIGKILL after timeout_ms) or kill
 * (SIGKILL): non-root containers first, the root last. */
int kk_ctl_cell_stop(struct kk_controller *c, struct kk_doc *cell, int signal, int64_t timeout_ms, kk_err_t *err);
/* A stop's SIGTERM grace: the cell's spec.stopTimeoutSeconds, else
 * fallback_ms (timeout_ms < 0 above means this with 5 s). */
int64_t kk_ctl_cell_stop_timeout_ms(const struct kk_cell *cell, int64_t fallback_ms);
/* Everything a cell's containers own on the host: processes, runc state,
 * rootfs mounts, bundles, upper dirs.  Best effort; the first error is
 * reported after the rest was tried. */
int kk_ctl_cell_teardown(struct kk_controller *c, struct kk_doc *cell, kk_err_t *err);
int kk_ctl_cell_update(struct kk_controller *c, const struct kk_doc *stored, struct kk_doc *want, kk_err_t *err);
/* Container statuses from what the monitors recorded, and the cell state
 * derived from them (sticky states stay). */
void kk_ctl_cell_observe(struct kk_controller *c, struct kk_doc *cell);
/* Restart policies and auto-delete; *deleted when the cell was reaped;
 * *due_ms: when supervision next owes it something (a restart after its
 * backoff, a reap after its grace; ms since the epoch, 0: nothing). */
int kk_ctl_cell_supervise(struct kk_controller *c, struct kk_doc *cell, bool *deleted, int64_t *due_ms,
                          kk_err_t *err);

/* ------------------------------------------------------- reconcile.c */

void kk_ctl_dues_free(struct kk_dues *dues);

/* ---------------------------------------------------------- intent.c
 * The caller holds the tree lock. */

/* Bring a stored cell to want (a diff in place; a recreate when its root
 * changed): intent record, new limits, changed or removed containers torn
 * down, the cell started, want persisted, record removed.  A SIGKILL
 * anywhere leaves the record, which kk_ctl_intent_finish completes. */
int kk_ctl_cell_rewrite(struct kk_controller *c, const struct kk_doc *stored, struct kk_doc *want,
                        struct kk_strv *warnings, kk_err_t *err);
/* Complete the cell's pending intent, if any (warned about when that
 * fails): before an operation reads the cell to change it. */
void kk_ctl_intent_finish(struct kk_controller *c, const struct kk_ref *cell);
/* The same for every cell (each reconcile pass; the first at start). */
void kk_ctl_intents_finish(struct kk_controller *c);

/* ---------------------------------------------------------- delete.c */

/* Caller holds the tree lock.  Children first (with cascade or force),
 * then the cgroup, a space's network and the metadata. */
int kk_ctl_delete_locked(struct kk_controller *c, const struct kk_ref *ref, bool cascade, bool force,
                         struct kk_report *rep, kk_err_t *err);

/* ---------------------------------------------------------- create.c */

/* Normalize, validate, check against policy, fill the controller's defaults. */
int kk_ctl_prepare(struct kk_controller *c, struct kk_doc *doc, const struct kk_policy *policy, kk_err_t *err);
/* Containers of a cell in realm/space get their effective specs: the
 * space's defaults.container, the daemon's default memory limit (caller
 * holds the tree lock). */
int kk_ctl_inherit(struct kk_controller *c, const char *realm, const char *space, struct kk_container_spec *v,
                   size_t n, kk_err_t *err);
int kk_ctl_create_locked(struct kk_controller *c, struct kk_doc *doc, bool stopped, struct kk_strv *lines,
                         struct kk_strv *warnings, kk_err_t *err);
/* What one call created of a realm/space/stack chain, in creation order,
 * so that a later failure can take it back. */
struct kk_ctl_made {
  struct kk_doc *docs[6];
  size_t n;
};
/* Deletes what made holds, newest first, and empties it. */
void kk_ctl_made_undo(struct kk_controller *c, struct kk_ctl_made *made);
void kk_ctl_made_free(struct kk_ctl_made *made);
/* The missing parents of a cell, which apply creates; made gets them. */
int kk_ctl_ensure_cell_parents(struct kk_controller *c, const struct kk_doc *cell, struct kk_ctl_made *made,
                               kk_err_t *err);

/* ---------------------------------------------------------- cellop.c */

/* Start a cell and persist what came of it (the caller holds the lock). */
int kk_ctl_cell_start_and_put(struct kk_controller *c, struct kk_doc *cell, bool spec_on_disk, kk_err_t *err);

#endif

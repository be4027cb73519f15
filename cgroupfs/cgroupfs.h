/* cgroupfs: cgroup mode detection, the kukeon cgroup tree, limits at every
 * level, membership, kill/freeze, stats and the `kuke doctor` cgroups report.
 *
 * Model.  Detection (kk_cg_detect) classifies the host the way crun does
 * (statfs magic on /sys/fs/cgroup, then /sys/fs/cgroup/unified) and finds the
 * cgroup2 mount in /proc/self/mountinfo, verifying it with statfs: a path is
 * never trusted because mkdir worked there (on a hybrid host /sys/fs/cgroup is a
 * tmpfs).  The result is a host handle; every other call takes that handle, the
 * cgroup root ("/kukeon", --cgroup-root) and a path *relative to the root*:
 * "" is the root itself, "realm", "realm/space", "realm/space/stack",
 * "realm/space/stack/cell" (kk_cg_rel builds them).
 *
 *   unified  cgroup2 at /sys/fs/cgroup: the full tree, cpu/memory/io/pids
 *            enabled down the tree through cgroup.subtree_control (ancestors
 *            widened, only ever adding), limits at every level.
 *   hybrid   tmpfs at /sys/fs/cgroup + cgroup2 at .../unified without the
 *            controllers: the same tree in the cgroup2 mount for membership,
 *            kill, freeze and events; level limits cannot be enforced
 *            (warnings); container limits are enforced by runc through the v1
 *            hierarchies.
 *   legacy   no cgroup2 mount: kukeon cannot build its tree (clear error).
 *
 * Ownership.  Every cgroup kukeon creates at depth 0..4 (root, realm, space,
 * stack, cell) carries the xattr "trusted.kukeon" (fake trees: "user.kukeon").
 * kukeon never writes limits to, enables controllers in the subtree of, or
 * removes an unmarked cgroup at those depths; below a cell (depth >= 5: the
 * container cgroups runc makes for kukeon) cgroups are removed with their cell.
 * Ancestors of the root (e.g. the mount root) are only ever touched by adding
 * controllers to their cgroup.subtree_control.
 *
 * All functions follow lib/error.h: < 0 and *err filled on failure. */
#ifndef KK_CGROUPFS_CGROUPFS_H
#define KK_CGROUPFS_CGROUPFS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "lib/error.h"
#include "lib/util.h"

#define KK_CG_DEFAULT_ROOT "/kukeon"
#define KK_CG_DEFAULT_BASE "/sys/fs/cgroup"
#define KK_CG_CELL_DEPTH 4 /* realm/space/stack/cell */

/* ------------------------------------------------------------ detection */

enum kk_cg_mode {
  KK_CG_MODE_UNKNOWN = 0,
  KK_CG_MODE_UNIFIED,
  KK_CG_MODE_HYBRID,
  KK_CG_MODE_LEGACY,
};
const char *kk_cg_mode_name(enum kk_cg_mode mode); /* "unified", "hybrid", "legacy" */

/* One line of /proc/self/mountinfo that is a cgroup or cgroup2 mount. */
struct kk_cg_mount {
  char *mountpoint;        /* unescaped (\040 etc.) */
  char *root;              /* the mount's root inside its hierarchy ("/" usually) */
  char *fstype;            /* "cgroup2" or "cgroup" */
  char *super_opts;        /* "rw,nsdelegate", "rw,memory" ... */
  struct kk_strv controllers; /* v1: controllers in the super options ("memory", "name=systemd") */
};
struct kk_cg_mounts {
  struct kk_cg_mount *v;
  size_t n;
};
/* Parse mountinfo text; keeps only cgroup/cgroup2 lines.  Malformed lines are
 * an error (naming the line number). */
int kk_cg_parse_mountinfo(const char *text, struct kk_cg_mounts *out, kk_err_t *err);
void kk_cg_mounts_free(struct kk_cg_mounts *m);
/* The v1 mount carrying `controller` ("memory"), or NULL. */
const struct kk_cg_mount *kk_cg_mounts_find_v1(const struct kk_cg_mounts *m, const char *controller);
/* The cgroup2 mount at exactly `mountpoint`, or NULL. */
const struct kk_cg_mount *kk_cg_mounts_find_v2(const struct kk_cg_mounts *m, const char *mountpoint);

#define KK_CG_CGROUP2_MAGIC 0x63677270UL
#define KK_CG_TMPFS_MAGIC 0x01021994UL
/* crun's rule: base cgroup2 -> unified; base tmpfs and base/unified cgroup2 ->
 * hybrid; base tmpfs otherwise -> legacy; anything else -> UNKNOWN. */
enum kk_cg_mode kk_cg_classify(unsigned long base_magic, bool unified_is_cgroup2);

/* Parse a space separated controller list (cgroup.controllers,
 * cgroup.subtree_control); a leading '+' on a word is dropped. */
void kk_cg_parse_controllers(const char *text, struct kk_strv *out);

struct kk_cg_host {
  enum kk_cg_mode mode;
  char *base;                 /* "/sys/fs/cgroup" */
  char *mountpoint;           /* the cgroup2 mount kukeon uses; NULL on legacy */
  int mount_fd;               /* O_DIRECTORY fd on mountpoint, -1 on legacy */
  struct kk_strv controllers; /* cgroup.controllers of the cgroup2 mount root */
  struct kk_cg_mounts mounts; /* every cgroup/cgroup2 mount (v1 hierarchies on hybrid) */
  struct kk_strv notes;       /* oddities seen during detection (for doctor) */
  bool fake;                  /* a test tree: see kk_cg_host_open_fake */
  const char *xattr;          /* ownership marker name */
};

struct kk_cg_detect_opts {
  const char *base;      /* default KK_CG_DEFAULT_BASE */
  const char *mountinfo; /* default /proc/self/mountinfo */
};
/* Detect the host; opts may be NULL.  Legacy hosts are detected (mode LEGACY,
 * mountpoint NULL) rather than failing: callers that need the tree get the
 * error from kk_cg_ensure, doctor reports it. */
int kk_cg_detect(const struct kk_cg_detect_opts *opts, struct kk_cg_host **out, kk_err_t *err);
/* A handle on a fake tree (a plain directory, for unit tests): `dir` plays the
 * cgroup2 mount root (it must hold cgroup.controllers and cgroup.subtree_control
 * for unified).  mkdir emulates the kernel's interface files, the marker is
 * "user.kukeon". */
int kk_cg_host_open_fake(const char *dir, enum kk_cg_mode mode, struct kk_cg_host **out,
                         kk_err_t *err);
void kk_cg_host_free(struct kk_cg_host *h);
static inline void kk_cg_host_freep(struct kk_cg_host **h) { kk_cg_host_free(*h); }
#define cleanup_cg_host KK_CLEANUP(kk_cg_host_freep)

/* ------------------------------------------------------------ paths */

/* "/kukeon/" -> "/kukeon".  Absolute, not "/", no "." / ".." / empty parts. */
int kk_cg_root_normalize(const char *root, char **out, kk_err_t *err);
/* One component: not empty, not "." / "..", no '/', no control characters, at
 * most 255 bytes, and not "<controller>.<x>" / "cgroup.<x>" (it would collide
 * with interface files). */
int kk_cg_name_check(const char *name, kk_err_t *err);
/* "realm/space/stack/cell"; stops at the first NULL.  Names are not checked
 * here (every call that uses the path checks it). */
char *kk_cg_rel(const char *realm, const char *space, const char *stack, const char *cell);
/* "/kukeon/r/s/t/c": status.cgroupPath, and the base of OCI linux.cgroupsPath. */
char *kk_cg_status_path(const char *root, const char *rel);
/* Where that cgroup is on this host: "/sys/fs/cgroup/unified/kukeon/r/s". */
char *kk_cg_host_path(const struct kk_cg_host *h, const char *root, const char *rel);

/* ------------------------------------------------------------ the tree */

/* Controllers kukeon enables down its tree (intersected with what the host
 * offers): cpu, memory, io, pids. */
extern const char *const kk_cg_wanted_controllers[4];

struct kk_cg_ensure_result {
  struct kk_strv created;             /* status paths kukeon created now, top-down */
  struct kk_strv subtree_controllers; /* effective cgroup.subtree_control of the target */
  struct kk_strv warnings;            /* e.g. a controller that could not be enabled, and why */
};
void kk_cg_ensure_result_free(struct kk_cg_ensure_result *r);

/* Create (mkdir -p) root/rel, marking what it creates, and enable the wanted
 * controllers in cgroup.subtree_control of every cgroup from the mount root
 * down to root/rel (inclusive: cells hold container cgroups).  Idempotent:
 * re-creates what is missing (after a reboot).  Fails on legacy hosts and
 * when root/rel or any kukeon-level cgroup on the way exists unmarked.
 * Controllers that cannot be enabled are warnings in res, not errors.
 * res may be NULL.  rel deeper than a cell (depth >= 5) makes a plain leaf
 * for processes: no marker, no delegation.
 *
 * Contract with the runtime: ensure the cell BEFORE `runc create` with a
 * linux.cgroupsPath below it.  runc creates missing parents itself, without
 * kukeon's marker, and kukeon then refuses them as foreign. */
int kk_cg_ensure(const struct kk_cg_host *h, const char *root, const char *rel,
                 struct kk_cg_ensure_result *res, kk_err_t *err);

/* Make root/rel, a leaf for processes below a cell (depth >= 5), in the
 * cgroup2 tree (kk_cg_ensure) and on hybrid hosts in every v1 hierarchy
 * mounted at its root too (<v1 mount>/<root>/<rel>, cpuset's cpus and mems
 * copied down into what it creates); *dirs gets each directory, the cgroup2
 * one first, for a process to enter by writing its cgroup.procs.  Removed
 * with its cell (kk_cg_remove takes the v1 mirrors too). */
int kk_cg_ensure_leaf(const struct kk_cg_host *h, const char *root, const char *rel, struct kk_strv *dirs,
                      kk_err_t *err);

/* exists: the directory is there; owned: it carries kukeon's marker. */
int kk_cg_exists(const struct kk_cg_host *h, const char *root, const char *rel, bool *exists,
                 bool *owned, kk_err_t *err);

enum {
  KK_CG_REMOVE_KILL = 1 << 0, /* kill processes in the subtree first (else: refuse if populated) */
};
/* Remove root/rel and everything below it, depth first (rmdir).  Missing is
 * fine.  Refuses unmarked cgroups at depth <= 4 (KK_ERR_PERMISSION) and a
 * populated subtree without KK_CG_REMOVE_KILL (KK_ERR_CONFLICT); every check
 * runs before the first rmdir, so a refusal changes nothing.  With KILL:
 * cgroup.kill, then waits (<= 10 s) for the subtree to empty.  On hybrid
 * hosts also rmdirs what runc mirrored under the v1 hierarchies
 * (<v1 mount>/<root>/<rel>).  rel "" removes the whole tree and the root,
 * and the empty ancestors of the root that kukeon created. */
int kk_cg_remove(const struct kk_cg_host *h, const char *root, const char *rel, unsigned flags,
                 kk_err_t *err);

/* Children cgroups (names, sorted) of root/rel. */
int kk_cg_children(const struct kk_cg_host *h, const char *root, const char *rel,
                   struct kk_strv *out, kk_err_t *err);

/* ------------------------------------------------------------ membership */

/* Whether the calling process's cgroup2 cgroup is root or below it (on a
 * hybrid host: its unified one): kukeond running as the kukeond cell. */
bool kk_cg_self_under(const char *root);
/* Move pid (0 = the caller) into root/rel (write cgroup.procs). */
int kk_cg_enter(const struct kk_cg_host *h, const char *root, const char *rel, pid_t pid,
                kk_err_t *err);
/* Processes in root/rel (recursive: and below), sorted, unique. */
int kk_cg_procs(const struct kk_cg_host *h, const char *root, const char *rel, bool recursive,
                pid_t **pids, size_t *n, kk_err_t *err);
/* cgroup.events "populated". */
int kk_cg_populated(const struct kk_cg_host *h, const char *root, const char *rel, bool *out,
                    kk_err_t *err);
/* SIGKILL everything in the subtree: cgroup.kill when the kernel has it, else
 * freeze, kill each process, thaw (always thaws). */
int kk_cg_kill(const struct kk_cg_host *h, const char *root, const char *rel, kk_err_t *err);
/* cgroup.freeze 1/0, waiting (bounded) for cgroup.events "frozen" to match. */
int kk_cg_freeze(const struct kk_cg_host *h, const char *root, const char *rel, bool frozen,
                 kk_err_t *err);

/* ------------------------------------------------------------ limits */

/* Limits of a realm, space, stack or cell (manifest spec.resources).
 * -1 = unset: the knob is not touched.  KK_CG_MAX = "max" (no limit), for
 * memory_max, memory_high, pids_max and cpu_max_quota_us. */
#define KK_CG_UNSET ((int64_t)-1)
#define KK_CG_MAX INT64_MAX
struct kk_cg_limits {
  int64_t memory_max;        /* memoryMaxBytes      -> memory.max */
  int64_t memory_high;       /* memoryHighBytes     -> memory.high */
  int64_t cpu_weight;        /* cpuWeight 1..10000  -> cpu.weight */
  int64_t cpu_max_quota_us;  /* cpuMaxQuotaMicros   -> cpu.max "<quota> <period>" */
  int64_t cpu_max_period_us; /* cpuMaxPeriodMicros  (1000..1000000, default 100000) */
  int64_t pids_max;          /* pidsMax             -> pids.max */
  int64_t io_weight;         /* ioWeight 1..10000   -> io.weight "default <w>" */
};
void kk_cg_limits_init(struct kk_cg_limits *l); /* all unset */
bool kk_cg_limits_any(const struct kk_cg_limits *l);
/* Range checks with the manifest field names in the message. */
int kk_cg_limits_validate(const struct kk_cg_limits *l, kk_err_t *err);

/* Container limits (spec.containers[].resources), passed to runc in the OCI
 * config by the runtime; <= 0 = unset (the Go project's rule). */
struct kk_cg_container_limits {
  int64_t memory_limit_bytes; /* memoryLimitBytes -> linux.resources.memory.limit */
  int64_t cpu_shares;         /* cpuShares        -> linux.resources.cpu.shares */
  int64_t pids_limit;         /* pidsLimit        -> linux.resources.pids.limit */
};

/* cpu.shares (v1, 2..262144, default 1024) -> cpu.weight (v2, 1..10000, default
 * 100), as the OCI runtime does it when it writes a v2 cgroup.  0 = unset -> 0. */
enum kk_cg_shares_formula {
  KK_CG_SHARES_LINEAR,    /* runc <= 1.3 (Debian 12's runc 1.1.5): 1 + (s-2)*9999/262142 */
  KK_CG_SHARES_QUADRATIC, /* runc >= 1.4 and crun: 10^((l^2+125l)/612 - 7/34), l = log2 s */
};
uint64_t kk_cg_cpu_shares_to_weight(uint64_t shares, enum kk_cg_shares_formula formula);

enum kk_cg_outcome {
  KK_CG_APPLIED = 0,   /* written and read back as requested */
  KK_CG_ADJUSTED,      /* accepted, the kernel keeps a rounded value (see actual) */
  KK_CG_NOT_ENFORCED,  /* cannot be enforced on this host: a warning, see reason */
  KK_CG_FAILED,        /* the write (or read back) failed: see reason */
};
const char *kk_cg_outcome_name(enum kk_cg_outcome o); /* "applied", "adjusted", ... */

struct kk_cg_setting {
  const char *field;   /* manifest field: "memoryMaxBytes" ... */
  const char *file;    /* "memory.max" ... */
  char *requested;     /* what kukeon wrote ("8388608", "50000 100000", "max") */
  char *actual;        /* what the kernel reports afterwards (NULL if unknown) */
  enum kk_cg_outcome outcome;
  char *reason;        /* for NOT_ENFORCED / FAILED / ADJUSTED */
};
struct kk_cg_report {
  struct kk_cg_setting *v;
  size_t n;
};
void kk_cg_report_free(struct kk_cg_report *r);
size_t kk_cg_report_count(const struct kk_cg_report *r, enum kk_cg_outcome o);
/* One line per setting: "<status path>: <field> (<file>) = <requested>: <outcome>[ (<reason>)]".
 * only_problems: skip APPLIED lines. */
void kk_cg_report_print(const struct kk_cg_report *r, const char *status_path, bool only_problems,
                        FILE *out);

/* Write the set limits of `l` into root/rel (which must exist and be kukeon's)
 * and read each back.  Every setting gets a report entry; the call goes on
 * after a failure so the report is complete.  Returns -1 (KK_ERR_INVALID for
 * out-of-range values, before writing anything; else the first failed
 * setting, naming the file, the value and the kernel's reason) if any setting
 * FAILED; NOT_ENFORCED settings (hybrid host, controller missing) are only
 * warnings in the report.  rep may be NULL. */
int kk_cg_apply_limits(const struct kk_cg_host *h, const char *root, const char *rel,
                       const struct kk_cg_limits *l, struct kk_cg_report *rep, kk_err_t *err);
/* Read the current limits of root/rel (unset fields: file absent). */
int kk_cg_read_limits(const struct kk_cg_host *h, const char *root, const char *rel,
                      struct kk_cg_limits *out, kk_err_t *err);
/* Would these container limits be enforced for containers of the cell at
 * root/rel?  Fills rep with one entry per set limit: APPLIED when the cell's
 * subtree has the controller (unified) or runc has a v1 hierarchy for it
 * (hybrid), NOT_ENFORCED with the reason otherwise.  Never fails on that;
 * < 0 only for I/O errors.  requested holds the value runc will write
 * (cpuShares: "shares 1024 -> cpu.weight 39" on unified hosts). */
int kk_cg_check_container_limits(const struct kk_cg_host *h, const char *root, const char *rel,
                                 const struct kk_cg_container_limits *cl,
                                 enum kk_cg_shares_formula formula, struct kk_cg_report *rep,
                                 kk_err_t *err);

/* Value formats (exposed for tests and for the runtime). */
/* "max" -> KK_CG_MAX, "123" -> 123; else -1 with KK_ERR_INVALID. */
int kk_cg_parse_max(const char *text, int64_t *out, kk_err_t *err);
/* cpu.max "<quota|max> <period>". */
int kk_cg_parse_cpu_max(const char *text, int64_t *quota, int64_t *period, kk_err_t *err);
/* io.weight: "default <w>" (then per-device lines) -> w. */
int kk_cg_parse_io_weight(const char *text, int64_t *out, kk_err_t *err);
/* Value of `key` in a flat keyed file ("usage_usec 123\nuser_usec ..."). */
int kk_cg_parse_keyed(const char *text, const char *key, int64_t *out, kk_err_t *err);

/* ------------------------------------------------------------ stats */

/* -1 = not available on this host/level. */
struct kk_cg_stats {
  int64_t memory_current;  /* bytes (memory.current; v1 memory.usage_in_bytes) */
  int64_t cpu_usage_usec;  /* cpu.stat usage_usec (v1 cpuacct.usage / 1000) */
  int64_t pids_current;    /* pids.current */
  int64_t memory_max;      /* memory.max (KK_CG_MAX = max) */
  int64_t pids_max;        /* pids.max */
  int64_t oom_kills;       /* memory.events oom_kill */
  unsigned from_v1;        /* bit set of KK_CG_STAT_* read from a v1 hierarchy (hybrid) */
};
enum { KK_CG_STAT_MEMORY = 1, KK_CG_STAT_CPU = 2, KK_CG_STAT_PIDS = 4 };
/* The kernel aggregates: a level's numbers include everything below it.
 * On hybrid hosts what the v2 mount lacks comes from the v1 hierarchies at
 * the same path when they exist (runc creates them for containers). */
int kk_cg_read_stats(const struct kk_cg_host *h, const char *root, const char *rel,
                     struct kk_cg_stats *out, kk_err_t *err);

struct kk_cg_memory_events {
  int64_t low, high, max, oom, oom_kill, oom_group_kill; /* -1 = absent */
};
int kk_cg_parse_memory_events(const char *text, struct kk_cg_memory_events *out);
int kk_cg_read_memory_events(const struct kk_cg_host *h, const char *root, const char *rel,
                             struct kk_cg_memory_events *out, kk_err_t *err);

/* ------------------------------------------------------------ kuke doctor */

enum kk_cg_check_status { KK_CG_PASS = 0, KK_CG_WARN, KK_CG_FAIL };
struct kk_cg_check {
  enum kk_cg_check_status status;
  char *name;   /* "cgroups/mode", "cgroups/controller/memory", ... */
  char *detail; /* one line */
  char *hint;   /* what to do (WARN/FAIL), may be NULL */
};
struct kk_cg_checks {
  struct kk_cg_check *v;
  size_t n;
};
void kk_cg_checks_free(struct kk_cg_checks *c);

struct kk_cg_doctor_opts {
  const struct kk_cg_host *host; /* NULL: detect with `detect` */
  struct kk_cg_detect_opts detect;
  const char *root;  /* NULL: KK_CG_DEFAULT_ROOT */
  const char *scope; /* rel path of a realm/space/stack/cell to inspect, or NULL */
  bool probe;        /* try to enable what is missing ("+ctrl" writes), as kukeon would */
};
/* Run the checks.  Every host problem (no cgroup2, foreign root, missing
 * controller, failed probe) is a FAIL/WARN line, not an error; < 0 is kept
 * for internal errors. */
int kk_cg_doctor_run(const struct kk_cg_doctor_opts *opts, struct kk_cg_checks *out, kk_err_t *err);
/* "PASS  name  detail" / "WARN ..." / "FAIL ..." + "      ↳ hint". */
void kk_cg_checks_print(const struct kk_cg_checks *c, FILE *out);
/* Run + print; *n_fail gets the number of FAIL lines (exit non-zero when > 0). */
int kk_cg_doctor(const struct kk_cg_doctor_opts *opts, FILE *out, size_t *n_fail, kk_err_t *err);

#endif

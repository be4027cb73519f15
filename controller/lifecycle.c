/* The containers of a cell on the host: rootfs, bundle, monitor, runc.
 *
 *   <runtime-dir>/runc/<ns>/                 runc --root (runc list/state/exec work here)
 *   <runtime-dir>/bundles/<ns>/<id>/         config.json, rootfs/ (mount), and the
 *                                            monitor's files: log, exit, attach, pid
 *   <run-path>/containers/<ns>/<id>/         upper/ and work/ of the overlay rootfs
 *   <run-path>/bin/pause/                    the pause root's rootfs: /kukepause
 *   <run-path>/<realm>/.../<cell>/hosts      bind-mounted at /etc/hosts (and hostname)
 *
 * Nothing here persists the cell: the caller holds the tree lock and puts
 * the document after.  A container's truth is what its monitor recorded
 * (exit file, live monitor), so a daemon that restarts learns it again. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "controller/internal.h"
#include "lib/fs.h"
#include "lib/log.h"
#include "lib/util.h"

#define STOP_TIMEOUT_MS 5000
#define KILL_WAIT_MS 5000
#define DEFAULT_BACKOFF_S 30
#define DEFAULT_MAX_RETRIES 5
#define AUTO_DELETE_GRACE_S 5
#define RESTART_RESET_S 10 /* running this long resets the on-failure count */
#define SETTLE_MS 3000      /* longest wait for a container between two states */

struct ctr_paths {
  char *ns, *runc_root, *bundle, *rootfs, *upper, *work, *state;
};

static void ctr_paths_free(struct ctr_paths *p) {
  free(p->ns);
  free(p->runc_root);
  free(p->bundle);
  free(p->rootfs);
  free(p->upper);
  free(p->work);
  free(p->state);
}
#define cleanup_paths KK_CLEANUP(ctr_paths_free)

static void ctr_paths_of(struct kk_controller *c, const struct kk_cell *cell, const struct kk_container_spec *ct,
                         struct ctr_paths *p) {
  p->ns = kk_namespace_name(cell->spec.realm_id, c->ns_suffix);
  p->runc_root = kk_asprintf("%s/runc/%s", c->runtime_dir, p->ns);
  p->bundle = kk_asprintf("%s/bundles/%s/%s", c->runtime_dir, p->ns, ct->containerd_id);
  p->rootfs = kk_asprintf("%s/rootfs", p->bundle);
  p->state = kk_asprintf("%s/containers/%s/%s", c->run_path, p->ns, ct->containerd_id);
  p->upper = kk_asprintf("%s/upper", p->state);
  p->work = kk_asprintf("%s/work", p->state);
}

static bool is_pause(const struct kk_container_spec *ct) { return kk_streq(ct->image, KK_PAUSE_IMAGE); }

static struct kk_container_status *status_slot(struct kk_cell *cell, const char *id) {
  for (size_t i = 0; i < cell->status.n_containers; i++)
    if (kk_streq(cell->status.containers[i].name, id))
      return &cell->status.containers[i];
  cell->status.containers =
      kk_xrealloc(cell->status.containers, (cell->status.n_containers + 1) * sizeof(*cell->status.containers));
  struct kk_container_status *cs = &cell->status.containers[cell->status.n_containers++];
  memset(cs, 0, sizeof(*cs));
  cs->name = kk_xstrdup(id);
  cs->state = KK_CTR_PENDING;
  cs->created_at = kk_now();
  return cs;
}

static int images(struct kk_controller *c, struct kk_image_store **out, kk_err_t *err) {
  if (c->images == NULL && kk_image_store_open(c->run_path, &c->images, err) < 0)
    return -1;
  *out = c->images;
  return 0;
}

/* ------------------------------------------------------------- pause */

static char *default_pause_binary(void) {
  char exe[4096];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if (n <= 0)
    return kk_xstrdup("kukepause");
  exe[n] = '\0';
  return kk_asprintf("%s/kukepause", dirname(exe));
}

/* <run>/bin/pause: a read-only rootfs holding only /kukepause and the
 * mount points runc needs.  Rebuilt when the binary changed. */
static int stage_pause(struct kk_controller *c, char **rootfs, kk_err_t *err) {
  cleanup_free char *src = c->pause_binary ? kk_xstrdup(c->pause_binary) : default_pause_binary();
  cleanup_free char *dir = kk_asprintf("%s/bin/pause", c->run_path);
  cleanup_free char *dst = kk_asprintf("%s/kukepause", dir);
  struct stat ss, ds;
  if (stat(src, &ss) < 0)
    return kk_error_kind(err, KK_ERR_UNAVAILABLE, errno, "pause binary %s (build it with `make`, or install kukepause beside kukeon)", src);
  *rootfs = kk_xstrdup(dir);
  if (stat(dst, &ds) == 0 && ds.st_size == ss.st_size && ds.st_mtime >= ss.st_mtime)
    return 0;
  if (kk_mkdir_p(dir, 0755, err) < 0)
    return -1;
  static const char *const dirs[] = {"proc", "dev", "sys", "etc", "tmp"};
  for (size_t i = 0; i < KK_ARRAY_SIZE(dirs); i++) {
    cleanup_free char *d = kk_asprintf("%s/%s", dir, dirs[i]);
    if (mkdir(d, 0755) < 0 && errno != EEXIST)
      return kk_error(err, errno, "mkdir %s", d);
  }
  static const char *const files[] = {"etc/hosts", "etc/hostname", "etc/resolv.conf"};
  for (size_t i = 0; i < KK_ARRAY_SIZE(files); i++) {
    cleanup_free char *f = kk_asprintf("%s/%s", dir, files[i]);
    int fd = open(f, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
      return kk_error(err, errno, "create %s", f);
    close(fd);
  }
  cleanup_free char *body = NULL;
  size_t len = 0;
  if (kk_read_file_at(AT_FDCWD, src, 16u << 20, &body, &len, err) < 0)
    return -1;
  cleanup_close int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    return kk_error(err, errno, "open %s", dir);
  return kk_write_file_atomic(dfd, "kukepause", body, len, 0755, NULL, err);
}

/* ------------------------------------------------------------ monitor view */

static bool active(int st) { return st == KK_CTR_READY || st == KK_CTR_PAUSED || st == KK_CTR_PAUSING; }

/* A monitor between its start and the container's (runc still creating
 * it), or between the init's death and the exit record (the output being
 * drained): a moment, after which the truth is plain.  Observation waits it
 * out (bounded) so that no status is written from a half-way state. */
static void settle(int dfd) {
  int64_t deadline = kk_monotonic_ms() + SETTLE_MS;
  for (;;) {
    if (faccessat(dfd, "exit", F_OK, 0) == 0 || !kk_monitor_alive(dfd))
      return;
    pid_t pid = kk_read_pid_at(dfd, "pid");
    if ((pid > 0 && kill(pid, 0) == 0) || kk_monotonic_ms() >= deadline)
      return;
    poll(NULL, 0, 10);
  }
}

static void mark_running(struct kk_container_status *cs, pid_t pid, bool paused) {
  cs->state = paused ? KK_CTR_PAUSED : KK_CTR_READY;
  cs->pid = pid;
}

/* Update one container's status from the truth: its monitor's exit record,
 * a live monitor and init, else runc's own record.  What it observes wins
 * over what was stored (a daemon killed between starting or stopping a
 * container and writing the status left the store behind); only the
 * operator's Stopped and Failed stay on a container that does not run. */
static void observe_container(struct kk_controller *c, struct kk_cell *cell, const struct kk_container_spec *ct) {
  struct kk_container_status *cs = status_slot(cell, ct->id);
  if (kk_empty(cs->id))
    cs->id = kk_xstrdup(ct->containerd_id);
  cleanup_paths struct ctr_paths p = {0};
  ctr_paths_of(c, cell, ct, &p);
  cleanup_close int dfd = open(p.bundle, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) {
    /* Never started here, or its runtime dir went with a reboot: one
     * recorded as running is not, as far as anything here can tell. */
    if (active(cs->state)) {
      cs->state = KK_CTR_UNKNOWN;
      cs->pid = 0;
    }
    return;
  }
  settle(dfd);
  struct kk_exit_record ex;
  kk_err_t e = NULL;
  if (kk_monitor_read_exit(dfd, &ex, &e) < 0) {
    kk_error_free(&e);
    cs->state = KK_CTR_UNKNOWN;
    return;
  }
  if (ex.exited) {
    cs->exit_code = ex.exit_code;
    free(cs->exit_signal);
    cs->exit_signal = kk_xstrdup(ex.signal);
    cs->finish_time = ex.finished_at;
    cs->pid = 0;
    if (cs->state != KK_CTR_STOPPED && cs->state != KK_CTR_FAILED)
      cs->state = ex.exit_code == 0 ? KK_CTR_EXITED : KK_CTR_ERROR;
    return;
  }
  if (kk_monitor_alive(dfd)) {
    /* The monitor drains output for a moment after the init died: only a
     * live init is a running container. */
    pid_t pid = kk_read_pid_at(dfd, "pid");
    if (pid > 0 && kill(pid, 0) == 0)
      mark_running(cs, pid, false);
    return;
  }
  if (faccessat(dfd, "monitor.pid", F_OK, 0) < 0 && !active(cs->state))
    return; /* no monitor ever ran here, and none is said to */
  /* No monitor and no exit record: the monitor died (or never got to run
   * runc).  runc knows whether the container still runs. */
  struct kk_runc runc = {c->runc_bin, p.runc_root};
  enum kk_runc_status rst = KK_RUNC_UNKNOWN;
  pid_t pid = 0;
  if (kk_runc_state(&runc, ct->containerd_id, &rst, &pid, &e) < 0)
    kk_error_free(&e);
  if ((rst == KK_RUNC_RUNNING || rst == KK_RUNC_PAUSED) && pid > 0) {
    mark_running(cs, pid, rst == KK_RUNC_PAUSED);
  } else if (cs->state != KK_CTR_STOPPED && cs->state != KK_CTR_FAILED) {
    cs->state = KK_CTR_UNKNOWN; /* ended without an exit record: no exit code to tell */
    cs->pid = 0;
  }
}

static const char *policy_of(const struct kk_container_spec *ct) {
  return kk_empty(ct->restart_policy) ? "never" : ct->restart_policy;
}

static int max_retries(const struct kk_container_spec *ct) {
  return ct->restart_max_retries.set ? (int)ct->restart_max_retries.v : DEFAULT_MAX_RETRIES;
}

static struct kk_restart_slot *restart_slot(struct kk_controller *c, const char *rid) {
  for (size_t i = 0; i < c->n_restarts; i++)
    if (kk_streq(c->restarts[i].rid, rid))
      return &c->restarts[i];
  c->restarts = kk_xrealloc(c->restarts, (c->n_restarts + 1) * sizeof(*c->restarts));
  struct kk_restart_slot *s = &c->restarts[c->n_restarts++];
  s->rid = kk_xstrdup(rid);
  s->attempts = 0;
  return s;
}

void kk_ctl_restarts_free(struct kk_controller *c) {
  for (size_t i = 0; i < c->n_restarts; i++)
    free(c->restarts[i].rid);
  free(c->restarts);
  c->restarts = NULL;
  c->n_restarts = 0;
}

/* Does its policy still owe this terminated container a restart? */
static bool restart_owed(struct kk_controller *c, const struct kk_container_spec *ct,
                         const struct kk_container_status *cs) {
  if (cs->state != KK_CTR_EXITED && cs->state != KK_CTR_ERROR)
    return false;
  const char *pol = policy_of(ct);
  if (strcmp(pol, "always") == 0)
    return true;
  if (strcmp(pol, "on-failure") == 0 && cs->exit_code != 0)
    return restart_slot(c, ct->containerd_id)->attempts < max_retries(ct);
  return false;
}

static void set_reason(struct kk_cell *cell, const char *reason, const char *message) {
  free(cell->status.base.reason);
  free(cell->status.base.message);
  cell->status.base.reason = reason ? kk_xstrdup(reason) : NULL;
  cell->status.base.message = message ? kk_xstrdup(message) : NULL;
}

static bool any_running(struct kk_cell *cell) {
  for (size_t i = 0; i < cell->spec.n_containers; i++)
    if (active(status_slot(cell, cell->spec.containers[i].id)->state))
      return true;
  return false;
}

static void derive_state(struct kk_controller *c, struct kk_doc *doc) {
  struct kk_cell *cell = &doc->u.cell;
  int st = cell->status.base.state;
  if (st == KK_CELL_ERROR)
    return; /* sticky: a workload failed (its root may well run on) */
  /* Operator-set, or never brought up: these say nothing runs, and stay as
   * long as that is true.  A container that runs in such a cell was started
   * by a daemon that died before it wrote the status (or one died half way
   * through a stop): what runs is the truth, and the state is derived. */
  if ((st == KK_CELL_FAILED || st == KK_CELL_STOPPED || st == KK_CELL_PENDING) && !any_running(cell))
    return;
  const struct kk_container_spec *root = kk_cell_root(cell);
  const struct kk_container_status *rs = root ? status_slot(cell, root->id) : NULL;
  /* A container not started yet (added to a running cell, or a start cut
   * short) keeps a cell ready only while its root runs: without the root
   * nothing of the cell runs, whatever waits to be started. */
  bool root_up = rs != NULL && active(rs->state);
  bool any_active = false, any_bad = false, any_unknown = false, any_nonroot = false;
  const struct kk_container_spec *failed = NULL;
  const struct kk_container_status *failed_st = NULL;
  for (size_t i = 0; i < cell->spec.n_containers; i++) {
    const struct kk_container_spec *ct = &cell->spec.containers[i];
    if (ct->root)
      continue;
    any_nonroot = true;
    const struct kk_container_status *cs = status_slot(cell, ct->id);
    if (active(cs->state) || (cs->state == KK_CTR_PENDING && root_up))
      any_active = true;
    else if (cs->state == KK_CTR_UNKNOWN)
      any_unknown = true;
    else if (restart_owed(c, ct, cs) || cs->state == KK_CTR_ERROR) {
      any_bad = true;
      if (cs->state == KK_CTR_ERROR && !restart_owed(c, ct, cs) && !failed) {
        failed = ct;
        failed_st = cs;
      }
    }
  }
  int next;
  if (!any_nonroot) {
    if (rs == NULL || rs->state == KK_CTR_UNKNOWN)
      next = KK_CELL_UNKNOWN;
    else if (active(rs->state))
      next = KK_CELL_READY;
    else if (rs->state == KK_CTR_ERROR) {
      next = KK_CELL_ERROR;
      failed = root;
      failed_st = rs;
    } else
      next = KK_CELL_EXITED;
  } else if (any_active) {
    next = any_bad ? KK_CELL_DEGRADED : KK_CELL_READY;
  } else if (any_unknown) {
    next = KK_CELL_UNKNOWN;
  } else if (failed) {
    next = KK_CELL_ERROR;
  } else if (any_bad) {
    next = KK_CELL_DEGRADED; /* a restart is owed */
  } else {
    next = KK_CELL_EXITED;
  }
  if (next == KK_CELL_ERROR && failed) {
    cleanup_free char *msg =
        !kk_empty(failed_st->exit_signal)
            ? kk_asprintf("container \"%s\" was killed by %s (exit code %lld)", failed->id, failed_st->exit_signal,
                          (long long)failed_st->exit_code)
            : kk_asprintf("container \"%s\" exited with code %lld", failed->id, (long long)failed_st->exit_code);
    set_reason(cell, "WorkloadFailed", msg);
  } else if (next == KK_CELL_READY) {
    set_reason(cell, NULL, NULL);
  }
  if (next == KK_CELL_READY && !cell->status.ready_observed) {
    cell->status.ready_observed = true;
    cell->status.base.ready_at = kk_now();
  }
  cell->status.base.state = next;
}

void kk_ctl_cell_observe(struct kk_controller *c, struct kk_doc *doc) {
  struct kk_cell *cell = &doc->u.cell;
  for (size_t i = 0; i < cell->spec.n_containers; i++)
    observe_container(c, cell, &cell->spec.containers[i]);
  derive_state(c, doc);
}

bool kk_ctl_cell_materialized(struct kk_controller *c, const struct kk_doc *doc) {
  const struct kk_cell *cell = &doc->u.cell;
  for (size_t i = 0; i < cell->spec.n_containers; i++) {
    cleanup_paths struct ctr_paths p = {0};
    ctr_paths_of(c, cell, &cell->spec.containers[i], &p);
    if (access(p.bundle, F_OK) == 0)
      return true;
  }
  return false;
}

/* ----------------------------------------------------------- one container */

static int write_cell_files(struct kk_controller *c, const struct kk_doc *doc, char **hosts, char **hostname,
                            kk_err_t *err) {
  struct kk_ref ref = kk_ref_of(doc);
  cleanup_free char *rel = kk_store_rel_dir(&ref);
  cleanup_free char *dir = kk_asprintf("%s/%s", c->run_path, rel);
  cleanup_close int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    return kk_error(err, errno, "open %s", dir);
  cleanup_free char *h = kk_asprintf("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t%s\n",
                                     ref.name);
  cleanup_free char *n = kk_asprintf("%s\n", ref.name);
  if (kk_write_file_volatile(dfd, "hosts", h, strlen(h), 0644, err) < 0 ||
      kk_write_file_volatile(dfd, "hostname", n, strlen(n), 0644, err) < 0)
    return -1;
  *hosts = kk_asprintf("%s/hosts", dir);
  *hostname = kk_asprintf("%s/hostname", dir);
  return 0;
}

/* runc's record of a container that is not running, once its monitor is
 * gone.  A container whose exit is recorded (so its init was reaped) and
 * that had a pid namespace of its own (whose end took every process with
 * it) needs no `runc delete`: its record goes here, and with_cgroup its
 * cgroup (a cell's delete removes the cell's whole cgroup instead).
 * Anything else is runc's to delete, and to kill what is left of it. */
static int forget_container(struct kk_controller *c, const struct kk_cell *cell, const struct kk_container_spec *ct,
                            const struct ctr_paths *p, int dfd, bool with_cgroup, kk_err_t *err) {
  struct kk_runc runc = {c->runc_bin, p->runc_root};
  if (dfd >= 0)
    kk_monitor_wait_gone(dfd, KILL_WAIT_MS);
  if (ct->host_pid || dfd < 0 || faccessat(dfd, "exit", F_OK, 0) < 0)
    return kk_runc_delete(&runc, ct->containerd_id, true, err);
  if (kk_runc_forget_stopped(&runc, ct->containerd_id, err) < 0)
    return -1;
  if (!with_cgroup || c->cg == NULL)
    return 0;
  cleanup_free char *cellrel = kk_cg_rel(cell->spec.realm_id, cell->spec.space_id, cell->spec.stack_id,
                                         cell->metadata.name);
  cleanup_free char *rel = kk_container_cgroup(cellrel, ct->containerd_id);
  return kk_cg_remove(c->cg, c->cgroup_root, rel, 0, err);
}

/* Signal the container, wait for its monitor to record the exit, and
 * escalate to SIGKILL after the timeout; then drop runc's record of it.  A
 * container whose exit is recorded costs no runc exec here. */
static int stop_container(struct kk_controller *c, struct kk_cell *cell, const struct kk_container_spec *ct, int sig,
                          int64_t timeout_ms, kk_err_t *err) {
  cleanup_paths struct ctr_paths p = {0};
  ctr_paths_of(c, cell, ct, &p);
  struct kk_runc runc = {c->runc_bin, p.runc_root};
  cleanup_close int dfd = open(p.bundle, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  bool exited = dfd < 0 || faccessat(dfd, "exit", F_OK, 0) == 0;
  if (!exited) {
    enum kk_runc_status rst;
    if (kk_runc_state(&runc, ct->containerd_id, &rst, NULL, err) < 0)
      return -1;
    kk_err_t e = NULL;
    if (rst == KK_RUNC_RUNNING || rst == KK_RUNC_CREATED || rst == KK_RUNC_PAUSED) {
      if (sig != SIGKILL) {
        if (kk_runc_kill(&runc, ct->containerd_id, sig, false, &e) < 0)
          kk_error_free(&e);
        exited = kk_monitor_wait_exit(dfd, (int)timeout_ms);
      }
      if (!exited) {
        if (kk_runc_kill(&runc, ct->containerd_id, SIGKILL, true, &e) < 0)
          kk_error_free(&e);
        exited = kk_monitor_wait_exit(dfd, KILL_WAIT_MS);
      }
      if (!exited)
        return kk_error_kind(err, KK_ERR_INTERNAL, 0, "container %s did not exit after SIGKILL", ct->containerd_id);
    } else {
      /* Ended, and its monitor is draining the output. */
      exited = kk_monitor_wait_exit(dfd, KILL_WAIT_MS);
    }
  }
  return forget_container(c, cell, ct, &p, dfd, true, err);
}

/* The bundle and the monitor (runc run --detach), on a prepared rootfs. */
static int launch(struct kk_controller *c, struct kk_doc *doc, const struct kk_container_spec *ct,
                  const struct ctr_paths *p, const char *rootfs, const struct kk_image_config *icfg, pid_t root_pid,
                  kk_err_t *err) {
  struct kk_cell *cell = &doc->u.cell;
  struct kk_ref ref = kk_ref_of(doc);
  struct kk_image_run_config run = {0};
  if (icfg) {
    run.env = icfg->env;
    run.entrypoint = icfg->entrypoint;
    run.cmd = icfg->cmd;
    run.working_dir = icfg->working_dir;
    run.architecture = icfg->platform.architecture;
  }
  cleanup_free char *hosts = NULL, *hostname = NULL, *user = NULL, *json = NULL, *cellcg = NULL;
  struct kk_container_spec spec = *ct; /* shallow: user and the pause root's rootfs flag differ */
  if (kk_rootfs_resolve_user(rootfs, !kk_empty(ct->user) ? ct->user : icfg ? icfg->user : NULL, &user, err) < 0)
    return kk_error_wrap(err, "container \"%s\"", ct->id);
  spec.user = user;
  if (is_pause(ct))
    spec.read_only_root_filesystem = true;
  if (!ct->host_network && write_cell_files(c, doc, &hosts, &hostname, err) < 0)
    return -1;
  cellcg = kk_cgroup_path(c->cgroup_root, ref.realm, ref.space, ref.stack, ref.name);
  struct kk_bundle_spec b = {
      .id = ct->containerd_id, .rootfs = rootfs, .ctr = &spec, .image = icfg ? &run : NULL,
      .realm = ref.realm, .space = ref.space, .stack = ref.stack, .cell = ref.name, .cell_cgroup = cellcg,
      .root_pid = ct->root ? 0 : root_pid, .hosts_file = hosts, .hostname_file = hostname,
      .tty = ct->attachable,
  };
  if (kk_bundle_config(&b, &c->host, &json, err) < 0)
    return -1;
  cleanup_close int bfd = open(p->bundle, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (bfd < 0)
    return kk_error(err, errno, "open %s", p->bundle);
  if (kk_write_file_volatile(bfd, "config.json", json, strlen(json), 0600, err) < 0)
    return -1;
  if (c->monitor_exe == NULL && kk_monitor_stage(c->run_path, &c->monitor_exe, err) < 0)
    return -1;
  struct kk_monitor_opts mo = {.exe = c->monitor_exe, .runc = c->runc_bin, .runc_root = p->runc_root,
                               .bundle = p->bundle, .id = ct->containerd_id, .dir = p->bundle,
                               .tty = ct->attachable, .delete_on_exit = ct->host_pid};
  pid_t pid = 0;
  if (kk_monitor_spawn(&mo, &pid, err) < 0)
    return -1;
  kk_ctl_crash_at(c, KK_CRASH_AFTER_RUNC_START);
  struct kk_container_status *cs = status_slot(cell, ct->id);
  cs->state = KK_CTR_READY;
  cs->pid = pid;
  cs->start_time = kk_now();
  cs->exit_code = 0;
  free(cs->exit_signal);
  cs->exit_signal = NULL;
  cs->finish_time = 0;
  if (kk_empty(cs->id))
    cs->id = kk_xstrdup(ct->containerd_id);
  return 0;
}

/* Rootfs (the pause rootfs, or the image's overlay, pulled if missing),
 * then launch. */
static int start_container(struct kk_controller *c, struct kk_doc *doc, const struct kk_container_spec *ct,
                           pid_t root_pid, kk_err_t *err) {
  cleanup_paths struct ctr_paths p = {0};
  ctr_paths_of(c, &doc->u.cell, ct, &p);
  /* The last run of this id: its monitor may still be on its way out, and
   * runc's record of it (or one from before a crash) goes first. */
  {
    cleanup_close int dfd = open(p.bundle, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (forget_container(c, &doc->u.cell, ct, &p, dfd, false, err) < 0)
      return -1;
  }
  if (kk_mkdir_p(p.bundle, 0700, err) < 0 || kk_mkdir_p(p.runc_root, 0700, err) < 0)
    return -1;
  if (is_pause(ct)) {
    cleanup_free char *rootfs = NULL;
    if (stage_pause(c, &rootfs, err) < 0)
      return -1;
    return launch(c, doc, ct, &p, rootfs, NULL, root_pid, err);
  }
  struct kk_image_store *is;
  if (images(c, &is, err) < 0)
    return -1;
  cleanup_free char *mode = kk_image_rootfs_mode(is, p.rootfs);
  if (mode == NULL) {
    /* A missing image is pulled with the realm's credentials and
     * insecure-registry list. */
    struct kk_pull_opts popts = {0};
    cleanup_free struct kk_registry_cred *creds = NULL;
    cleanup_doc struct kk_doc *realm = NULL;
    struct kk_ref rref = {.kind = KK_KIND_REALM, .realm = doc->u.cell.spec.realm_id, .name = doc->u.cell.spec.realm_id};
    kk_err_t e = NULL;
    if (kk_store_get(c->store, &rref, &realm, &e) < 0)
      kk_error_free(&e);
    if (kk_image_pull_opts_for_realm(realm, ct->image, &popts, &creds, err) < 0 ||
        kk_image_ensure(is, p.ns, ct->image, &popts, err) < 0)
      return kk_error_wrap(err, "container \"%s\": image %s", ct->id, ct->image);
    /* The upper dir's mode becomes the mode of the container's "/". */
    if (kk_mkdir_p(p.upper, 0755, err) < 0 || kk_mkdir_p(p.work, 0700, err) < 0 ||
        kk_mkdir_p(p.rootfs, 0755, err) < 0)
      return -1;
    if (kk_image_rootfs_mount(is, p.ns, ct->image, p.rootfs, p.upper, p.work, NULL, err) < 0)
      return kk_error_wrap(err, "container \"%s\": rootfs", ct->id);
  }
  struct kk_image_config icfg = {0};
  if (kk_image_config_get(is, p.ns, ct->image, &icfg, err) < 0)
    return -1;
  int ret = launch(c, doc, ct, &p, p.rootfs, &icfg, root_pid, err);
  kk_image_config_free(&icfg);
  return ret;
}

/* Everything one container owns on the host.  One whose exit is recorded
 * and that had a pid namespace of its own runs nothing any more: it needs
 * no stop, and its cgroup goes with the cell's.  Otherwise it is stopped
 * first. */
static int teardown_container(struct kk_controller *c, struct kk_cell *cell, const struct kk_container_spec *ct,
                              kk_err_t *err) {
  cleanup_paths struct ctr_paths p = {0};
  ctr_paths_of(c, cell, ct, &p);
  cleanup_close int dfd = open(p.bundle, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  bool ended = !ct->host_pid && dfd >= 0 && faccessat(dfd, "exit", F_OK, 0) == 0;
  if (ended ? forget_container(c, cell, ct, &p, dfd, false, err) < 0
            : stop_container(c, cell, ct, SIGKILL, 0, err) < 0)
    return -1;
  if (!is_pause(ct) && access(p.rootfs, F_OK) == 0) {
    struct kk_image_store *is;
    if (images(c, &is, err) < 0 || kk_image_rootfs_unmount(is, p.rootfs, err) < 0)
      return -1;
  }
  if (kk_rm_rf_at(AT_FDCWD, p.state, err) < 0)
    return -1;
  return kk_rm_rf_at(AT_FDCWD, p.bundle, err);
}

/* ----------------------------------------------------------------- the cell */

static const struct kk_container_spec *spec_by_id(const struct kk_cell *cell, const char *id) {
  for (size_t i = 0; i < cell->spec.n_containers; i++)
    if (kk_streq(cell->spec.containers[i].id, id))
      return &cell->spec.containers[i];
  return NULL;
}

/* What a cell-wide operation does to one container. */
typedef int (*ctr_op)(struct kk_controller *c, struct kk_cell *cell, const struct kk_container_spec *ct, void *arg,
                      kk_err_t *err);

/* op on containers[i] for every i with pick[i] (pick NULL: all), the
 * non-root ones first and the root last.  Every one is tried; the first
 * error is the one reported. */
static int each_root_last(struct kk_controller *c, struct kk_cell *cell, const struct kk_container_spec *containers,
                          size_t n, const bool *pick, ctr_op op, void *arg, kk_err_t *err) {
  int ret = 0;
  for (int pass = 0; pass < 2; pass++) {
    for (size_t i = 0; i < n; i++) {
      if (containers[i].root != (pass == 1) || (pick && !pick[i]))
        continue;
      kk_err_t e = NULL;
      if (op(c, cell, &containers[i], arg, &e) < 0) {
        if (ret == 0) {
          *err = e;
          ret = -1;
        } else {
          kk_error_free(&e);
        }
      }
    }
  }
  return ret;
}

struct stop_arg {
  int sig;
  int64_t timeout_ms;
};

static int stop_op(struct kk_controller *c, struct kk_cell *cell, const struct kk_container_spec *ct, void *arg,
                   kk_err_t *err) {
  const struct stop_arg *a = arg;
  if (stop_container(c, cell, ct, a->sig, a->timeout_ms, err) < 0)
    return -1;
  kk_ctl_crash_at(c, KK_CRASH_AFTER_CONTAINER_STOP);
  observe_container(c, cell, ct);
  struct kk_container_status *cs = status_slot(cell, ct->id);
  if (cs->state != KK_CTR_PENDING && cs->state != KK_CTR_NOT_CREATED)
    cs->state = KK_CTR_STOPPED;
  cs->pid = 0;
  return 0;
}

int kk_ctl_cell_stop(struct kk_controller *c, struct kk_doc *doc, int sig, int64_t timeout_ms, kk_err_t *err) {
  struct kk_cell *cell = &doc->u.cell;
  struct stop_arg a = {sig, timeout_ms < 0 ? STOP_TIMEOUT_MS : timeout_ms};
  if (each_root_last(c, cell, cell->spec.containers, cell->spec.n_containers, NULL, stop_op, &a, err) < 0)
    return -1;
  cell->status.base.state = KK_CELL_STOPPED;
  set_reason(cell, NULL, NULL);
  return 0;
}

static int teardown_op(struct kk_controller *c, struct kk_cell *cell, const struct kk_container_spec *ct, void *arg,
                       kk_err_t *err) {
  (void)arg;
  if (teardown_container(c, cell, ct, err) < 0)
    return -1;
  struct kk_container_status *cs = status_slot(cell, ct->id);
  cs->state = KK_CTR_PENDING;
  cs->pid = 0;
  return 0;
}

int kk_ctl_cell_teardown(struct kk_controller *c, struct kk_doc *doc, kk_err_t *err) {
  struct kk_cell *cell = &doc->u.cell;
  return each_root_last(c, cell, cell->spec.containers, cell->spec.n_containers, NULL, teardown_op, NULL, err);
}

static pid_t running_pid(struct kk_controller *c, struct kk_cell *cell, const struct kk_container_spec *ct) {
  observe_container(c, cell, ct);
  struct kk_container_status *cs = status_slot(cell, ct->id);
  return cs->state == KK_CTR_READY && cs->pid > 0 ? (pid_t)cs->pid : 0;
}

int kk_ctl_cell_start(struct kk_controller *c, struct kk_doc *doc, kk_err_t *err) {
  struct kk_cell *cell = &doc->u.cell;
  const struct kk_container_spec *root = kk_cell_root(cell);
  if (root == NULL)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "cell \"%s\" has no root container", kk_doc_name(doc));
  /* The cell's cgroup first: runc puts every container inside it. */
  struct kk_strv lines = {0}, warnings = {0};
  bool made = false;
  int r = kk_ctl_cgroup_up(c, doc, NULL, &made, &lines, &warnings, err);
  kk_strv_free(&lines);
  kk_strv_free(&warnings);
  if (r < 0)
    return -1;
  pid_t root_pid = running_pid(c, cell, root);
  if (root_pid == 0) {
    /* Without its root a cell's containers lost their namespaces. */
    for (size_t i = 0; i < cell->spec.n_containers; i++) {
      const struct kk_container_spec *ct = &cell->spec.containers[i];
      kk_err_t e = NULL;
      if (!ct->root && stop_container(c, cell, ct, SIGKILL, 0, &e) < 0)
        kk_error_free(&e);
    }
    if (start_container(c, doc, root, 0, err) < 0)
      goto failed;
    root_pid = (pid_t)status_slot(cell, root->id)->pid;
  }
  for (size_t i = 0; i < cell->spec.n_containers; i++) {
    const struct kk_container_spec *ct = &cell->spec.containers[i];
    if (ct->root || running_pid(c, cell, ct) > 0)
      continue;
    if (start_container(c, doc, ct, root_pid, err) < 0)
      goto failed;
  }
  for (size_t i = 0; i < c->n_restarts; i++)
    for (size_t j = 0; j < cell->spec.n_containers; j++)
      if (kk_streq(c->restarts[i].rid, cell->spec.containers[j].containerd_id))
        c->restarts[i].attempts = 0;
  cell->status.base.state = KK_CELL_READY;
  set_reason(cell, NULL, NULL);
  if (!cell->status.ready_observed) {
    cell->status.ready_observed = true;
    cell->status.base.ready_at = kk_now();
  }
  return 0;
failed:
  /* A cell half up is worse than one down: stop what this start ran. */
  {
    kk_err_t e = NULL;
    if (kk_ctl_cell_stop(c, doc, SIGKILL, 0, &e) < 0)
      kk_error_free(&e);
  }
  cell->status.base.state = KK_CELL_FAILED;
  set_reason(cell, "StartCellFailed", (*err)->msg);
  return -1;
}

/* An applied spec change: containers that changed or went away are torn
 * down (all of them when the root changed); kk_ctl_cell_start brings the
 * new ones up. */
int kk_ctl_cell_update(struct kk_controller *c, const struct kk_doc *stored, struct kk_doc *want, kk_err_t *err) {
  const struct kk_cell *old = &stored->u.cell;
  struct kk_cell *cell = &want->u.cell;
  bool root_changed = false;
  bool *gone = kk_xzalloc((old->spec.n_containers + 1) * sizeof(bool));
  for (size_t i = 0; i < old->spec.n_containers; i++) {
    const struct kk_container_spec *o = &old->spec.containers[i];
    const struct kk_container_spec *n = spec_by_id(cell, o->id);
    bool same = false;
    if (n) {
      cleanup_doc struct kk_doc *a = kk_container_doc_from_cell(old, i);
      cleanup_doc struct kk_doc *b = kk_container_doc_from_cell(cell, (size_t)(n - cell->spec.containers));
      same = kk_doc_spec_equal(a, b);
    }
    gone[i] = !same;
    root_changed |= o->root && !same;
  }
  for (size_t i = 0; root_changed && i < old->spec.n_containers; i++)
    gone[i] = true;
  int ret = each_root_last(c, cell, old->spec.containers, old->spec.n_containers, gone, teardown_op, NULL, err);
  free(gone);
  /* Statuses of containers no longer in the spec go with them. */
  size_t w = 0;
  for (size_t i = 0; i < cell->status.n_containers; i++) {
    if (spec_by_id(cell, cell->status.containers[i].name)) {
      cell->status.containers[w++] = cell->status.containers[i];
      continue;
    }
    free(cell->status.containers[i].name);
    free(cell->status.containers[i].id);
    free(cell->status.containers[i].exit_signal);
  }
  cell->status.n_containers = w;
  return ret;
}

/* ------------------------------------------------------------- supervision */

static bool restarts_always(const struct kk_cell *cell) {
  for (size_t i = 0; i < cell->spec.n_containers; i++)
    if (strcmp(policy_of(&cell->spec.containers[i]), "always") == 0)
      return true;
  return false;
}

int kk_ctl_cell_supervise(struct kk_controller *c, struct kk_doc *doc, bool *deleted, kk_err_t *err) {
  struct kk_cell *cell = &doc->u.cell;
  *deleted = false;
  /* Observed first, whatever the stored state says: a cell stored as
   * stopped may run (and then is supervised as running), one stored as
   * ready may have ended. */
  kk_ctl_cell_observe(c, doc);
  int st = cell->status.base.state;
  if (st == KK_CELL_PENDING || st == KK_CELL_STOPPED || st == KK_CELL_FAILED)
    return 0;
  const struct kk_container_spec *root = kk_cell_root(cell);
  pid_t root_pid = root ? running_pid(c, cell, root) : 0;
  int64_t now = kk_now();
  bool exhausted = false;
  /* Its root is down (a reboot took it, or it ended): the containers lost
   * their namespaces, so a policy that says always brings the whole cell
   * back, root first, with the root's backoff. */
  if (root && root_pid == 0 && cell->status.ready_observed && restarts_always(cell)) {
    struct kk_container_status *rs = status_slot(cell, root->id);
    int64_t backoff = root->restart_backoff_seconds.set ? root->restart_backoff_seconds.v : DEFAULT_BACKOFF_S;
    bool down = rs->state == KK_CTR_UNKNOWN || rs->state == KK_CTR_EXITED || rs->state == KK_CTR_ERROR;
    if (down && !(rs->restart_time > 0 && now - rs->restart_time < backoff)) {
      kk_err_t e = NULL;
      if (kk_ctl_cell_start(c, doc, &e) < 0) {
        kk_warn("restart cell %s: %s", kk_doc_name(doc), e->msg);
        kk_error_free(&e);
      }
      rs = status_slot(cell, root->id);
      rs->restart_count++;
      rs->restart_time = now;
      kk_info("restarted cell %s: its root was down (policy always, restart %lld)", kk_doc_name(doc),
              (long long)rs->restart_count);
      kk_ctl_cell_observe(c, doc);
      return 0;
    }
  }
  if (st != KK_CELL_ERROR && cell->status.ready_observed && root_pid > 0) {
    for (size_t i = 0; i < cell->spec.n_containers; i++) {
      const struct kk_container_spec *ct = &cell->spec.containers[i];
      if (ct->root)
        continue;
      struct kk_container_status *cs = status_slot(cell, ct->id);
      struct kk_restart_slot *slot = restart_slot(c, ct->containerd_id);
      if (cs->state == KK_CTR_READY) {
        /* Running for a while: the on-failure budget is whole again. */
        if (now - cs->start_time >= RESTART_RESET_S)
          slot->attempts = 0;
        continue;
      }
      if (cs->state != KK_CTR_EXITED && cs->state != KK_CTR_ERROR)
        continue;
      const char *pol = policy_of(ct);
      bool on_failure = strcmp(pol, "on-failure") == 0;
      if (!(strcmp(pol, "always") == 0 || (on_failure && cs->exit_code != 0)))
        continue;
      if (on_failure && slot->attempts >= max_retries(ct)) {
        exhausted = true;
        continue;
      }
      int64_t backoff = ct->restart_backoff_seconds.set ? ct->restart_backoff_seconds.v : DEFAULT_BACKOFF_S;
      if (cs->restart_time > 0 && now - cs->restart_time < backoff)
        continue; /* deferred: the cell stays Degraded */
      kk_err_t e = NULL;
      if (stop_container(c, cell, ct, SIGKILL, 0, &e) < 0 || start_container(c, doc, ct, root_pid, &e) < 0) {
        kk_warn("restart %s: %s", ct->containerd_id, e->msg);
        kk_error_free(&e);
      }
      slot->attempts++;
      cs = status_slot(cell, ct->id);
      cs->restart_count++;
      cs->restart_time = now;
      kk_info("restarted container %s (policy %s, restart %lld)", ct->containerd_id, pol, (long long)cs->restart_count);
    }
  }
  kk_ctl_cell_observe(c, doc);
  if (exhausted && cell->status.base.state != KK_CELL_READY) {
    cell->status.base.state = KK_CELL_ERROR;
    set_reason(cell, "RestartsExhausted", "a container exhausted its on-failure restarts");
  }
  st = cell->status.base.state;
  /* A grace period after the last exit: `kuke run --rm` reads the exit
   * status and deletes the cell itself; the daemon reaps what is left. */
  int64_t last_exit = 0;
  for (size_t i = 0; i < cell->status.n_containers; i++)
    if (cell->status.containers[i].finish_time > last_exit)
      last_exit = cell->status.containers[i].finish_time;
  if (cell->spec.auto_delete && cell->status.ready_observed && (st == KK_CELL_EXITED || st == KK_CELL_ERROR) &&
      now - last_exit >= AUTO_DELETE_GRACE_S) {
    if (kk_ctl_cell_teardown(c, doc, err) < 0)
      return -1;
    *deleted = true;
  }
  return 0;
}

/* ------------------------------------------------------------- log, attach */

int kk_ctl_container_dir(struct kk_controller *c, const struct kk_ref *ref, const char *container, char **dir,
                         char **container_id, bool *tty, kk_err_t *err) {
  cleanup_doc struct kk_doc *doc = NULL;
  {
    cleanup_close int lock = kk_store_lock(c->store, false, err);
    if (lock < 0 || kk_store_get(c->store, ref, &doc, err) < 0)
      return -1;
  }
  struct kk_cell *cell = &doc->u.cell;
  const struct kk_container_spec *ct = NULL;
  if (!kk_empty(container)) {
    ct = spec_by_id(cell, container);
    if (ct == NULL)
      return kk_error_kind(err, KK_ERR_NOT_FOUND, 0, "container \"%s\" not found in cell \"%s\"", container, ref->name);
  } else if (!kk_empty(cell->spec.tty.default_)) {
    ct = spec_by_id(cell, cell->spec.tty.default_);
  } else {
    /* The only non-root container; a cell of one (kuke run --image) is its root. */
    for (size_t i = 0; i < cell->spec.n_containers; i++) {
      if (cell->spec.containers[i].root)
        continue;
      if (ct != NULL)
        return kk_error_kind(err, KK_ERR_INVALID, 0, "multiple containers in cell \"%s\"; specify --container",
                             ref->name);
      ct = &cell->spec.containers[i];
    }
    if (ct == NULL)
      ct = kk_cell_root(cell);
  }
  if (ct == NULL)
    return kk_error_kind(err, KK_ERR_NOT_FOUND, 0, "cell \"%s\" has no containers", ref->name);
  cleanup_paths struct ctr_paths p = {0};
  ctr_paths_of(c, cell, ct, &p);
  if (access(p.bundle, F_OK) < 0)
    return kk_error_kind(err, KK_ERR_NOT_FOUND, 0, "container \"%s\" of cell \"%s\" has not been started", ct->id,
                         ref->name);
  *dir = kk_steal(&p.bundle);
  *container_id = kk_xstrdup(ct->id);
  *tty = ct->attachable;
  return 0;
}

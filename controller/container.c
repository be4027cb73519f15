/* One container of a cell on the host: rootfs, bundle, monitor, runc.
 *
 *   <runtime-dir>/runc/<ns>/                 runc --root (runc list/state/exec work here)
 *   <runtime-dir>/bundles/<ns>/<id>/         config.json, rootfs/ (mount), and the
 *                                            monitor's files: log, exit, attach, pid
 *   <run-path>/containers/<ns>/<id>/         upper/ and work/ of the overlay rootfs
 *   <run-path>/bin/pause/                    the pause root's rootfs: /kukepause
 *   <run-path>/bin/kukeond/                  the kukeond cell's rootfs: /kukeond, /kukepause
 *                                            and mount points for the host's /usr, /etc...
 *   <run-path>/<realm>/.../<cell>/etc-hosts  bind-mounted at /etc/hosts (and etc-hostname,
 *                                            etc-resolv.conf), rewritten in place
 *
 * Nothing here persists the cell: the caller holds the tree lock and puts
 * the document after.  A container's truth is what its monitor recorded
 * (exit file, live monitor), so a daemon that restarts learns it again. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "controller/internal.h"
#include "lib/fs.h"
#include "lib/util.h"
#include "netns/netns.h"

#define KILL_WAIT_MS 5000
#define SETTLE_MS 3000 /* longest wait for a container between two states */

void kk_ctl_ctr_paths_free(struct kk_ctr_paths *p) {
  free(p->ns);
  free(p->runc_root);
  free(p->bundle);
  free(p->rootfs);
  free(p->upper);
  free(p->work);
  free(p->state);
}

/* <runtime dir>/bundles/<realm>.<suffix>/<containerd id>: also spelled
 * into a buffer by seen_running(), which allocates nothing. */
#define BUNDLE_PATH "%s/bundles/%s.%s/%s"
static const char *ns_suffix(const struct kk_controller *c) {
  return c->ns_suffix ? c->ns_suffix : KK_DEFAULT_NS_SUFFIX;
}

void kk_ctl_ctr_paths_of(struct kk_controller *c, const struct kk_cell *cell, const struct kk_container_spec *ct,
                         struct kk_ctr_paths *p) {
  p->ns = kk_namespace_name(cell->spec.realm_id, c->ns_suffix);
  p->runc_root = kk_asprintf("%s/runc/%s", c->runtime_dir, p->ns);
  p->bundle = kk_asprintf(BUNDLE_PATH, c->runtime_dir, cell->spec.realm_id, ns_suffix(c), ct->containerd_id);
  p->rootfs = kk_asprintf("%s/rootfs", p->bundle);
  p->state = kk_asprintf("%s/containers/%s/%s", c->run_path, p->ns, ct->containerd_id);
  p->upper = kk_asprintf("%s/upper", p->state);
  p->work = kk_asprintf("%s/work", p->state);
}

static bool is_pause(const struct kk_container_spec *ct) { return kk_streq(ct->image, KK_PAUSE_IMAGE); }
bool kk_ctl_is_kukeond_image(const char *image) { return kk_has_prefix(image, KK_KUKEOND_IMAGE_REPO ":"); }

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

/* dir/name, a copy of src, unless the copy is as new and as long. */
static int stage_binary(const char *src, const char *dir, const char *name, kk_err_t *err) {
  cleanup_free char *dst = kk_asprintf("%s/%s", dir, name);
  struct stat ss, ds;
  if (stat(src, &ss) < 0)
    return kk_error_kind(err, KK_ERR_UNAVAILABLE, errno, "%s binary %s (build it with `make`, or install it beside kukeon)",
                         name, src);
  if (stat(dst, &ds) == 0 && ds.st_size == ss.st_size && ds.st_mtime >= ss.st_mtime)
    return 0;
  cleanup_free char *body = NULL;
  size_t len = 0;
  if (kk_read_file_at(AT_FDCWD, src, 256u << 20, &body, &len, err) < 0)
    return -1;
  cleanup_close int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    return kk_error(err, errno, "open %s", dir);
  return kk_write_file_atomic(dfd, name, body, len, 0755, NULL, err);
}

static int mkdirs_in(const char *dir, const char *const *names, size_t n, kk_err_t *err) {
  for (size_t i = 0; i < n; i++) {
    cleanup_free char *d = kk_asprintf("%s/%s", dir, names[i]);
    if (mkdir(d, 0755) < 0 && errno != EEXIST)
      return kk_error(err, errno, "mkdir %s", d);
  }
  return 0;
}

/* <run>/bin/pause: a read-only rootfs holding only /kukepause and the
 * mount points runc needs.  Rebuilt when the binary changed. */
static int stage_pause(struct kk_controller *c, char **rootfs, kk_err_t *err) {
  cleanup_free char *src = c->pause_binary ? kk_xstrdup(c->pause_binary) : default_pause_binary();
  cleanup_free char *dir = kk_asprintf("%s/bin/pause", c->run_path);
  static const char *const dirs[] = {"proc", "dev", "sys", "etc", "tmp"};
  if (kk_mkdir_p(dir, 0755, err) < 0 || mkdirs_in(dir, dirs, KK_ARRAY_SIZE(dirs), err) < 0)
    return -1;
  static const char *const files[] = {"etc/hosts", "etc/hostname", "etc/resolv.conf"};
  for (size_t i = 0; i < KK_ARRAY_SIZE(files); i++) {
    cleanup_free char *f = kk_asprintf("%s/%s", dir, files[i]);
    int fd = open(f, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
      return kk_error(err, errno, "create %s", f);
    close(fd);
  }
  *rootfs = kk_xstrdup(dir);
  return stage_binary(src, dir, "kukepause", err);
}

/* ----------------------------------------------------- the kukeond image */

/* The host's top-level folders the daemon's programs live in (runc, the CNI
 * plugins, iptables and their libraries; /etc for the alternatives and
 * names).  The host's symlinks among them (merged /usr) are copied, its
 * folders are mount points for read-only binds (system.c). */
const char *const kk_ctl_kukeond_host_dirs[] = {"usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "etc", NULL};

static int mirror_host_dir(const char *dir, const char *name, kk_err_t *err) {
  cleanup_free char *host = kk_asprintf("/%s", name);
  cleanup_free char *mine = kk_asprintf("%s/%s", dir, name);
  char target[4096];
  ssize_t n = readlink(host, target, sizeof(target) - 1);
  if (n < 0)
    return mkdir(mine, 0755) < 0 && errno != EEXIST ? kk_error(err, errno, "mkdir %s", mine) : 0;
  target[n] = '\0';
  if (unlink(mine) < 0 && errno != ENOENT && rmdir(mine) < 0)
    return kk_error(err, errno, "replace %s", mine);
  return symlink(target, mine) < 0 ? kk_error(err, errno, "symlink %s", mine) : 0;
}

/* kukeon.internal/kukeond:<version>, made from what is installed, never
 * pulled: <run>/bin/kukeond holds a copy of this binary as /kukeond (the
 * name picks the daemon), kukepause beside it (where the daemon looks for
 * it), and mount points; the host's programs come in by read-only binds. */
static int stage_kukeond(struct kk_controller *c, char **rootfs, kk_err_t *err) {
  char exe[4096];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if (n <= 0)
    return kk_error(err, errno, "readlink /proc/self/exe");
  exe[n] = '\0';
  cleanup_free char *pause = c->pause_binary ? kk_xstrdup(c->pause_binary) : default_pause_binary();
  cleanup_free char *dir = kk_asprintf("%s/bin/kukeond", c->run_path);
  static const char *const dirs[] = {"proc", "dev", "sys", "tmp", "run", "opt", "var"};
  if (kk_mkdir_p(dir, 0755, err) < 0 || mkdirs_in(dir, dirs, KK_ARRAY_SIZE(dirs), err) < 0)
    return -1;
  for (size_t i = 0; kk_ctl_kukeond_host_dirs[i]; i++)
    if (mirror_host_dir(dir, kk_ctl_kukeond_host_dirs[i], err) < 0)
      return -1;
  if (stage_binary(exe, dir, "kukeond", err) < 0 || stage_binary(pause, dir, "kukepause", err) < 0)
    return -1;
  *rootfs = kk_xstrdup(dir);
  return 0;
}

/* The staged tree bound at the bundle's rootfs: a mount of its own, which
 * runc makes private in the container without touching the binds beside it
 * (the shared runtime dir the daemon mounts workloads' rootfs under). */
static int bind_kukeond_rootfs(struct kk_controller *c, const struct kk_ctr_paths *p, char **rootfs, kk_err_t *err) {
  cleanup_free char *staged = NULL;
  if (stage_kukeond(c, &staged, err) < 0 || kk_mkdir_p(p->rootfs, 0755, err) < 0)
    return -1;
  umount2(p->rootfs, MNT_DETACH | UMOUNT_NOFOLLOW); /* a bind from an earlier start */
  if (mount(staged, p->rootfs, NULL, MS_BIND, NULL) < 0)
    return kk_error(err, errno, "bind %s at %s", staged, p->rootfs);
  *rootfs = kk_xstrdup(p->rootfs);
  return 0;
}

/* A monitor between its start and the container's (runc still creating
 * it), or between the init's death and the exit record (the output being
 * drained): a moment, after which the truth is plain.  Observation waits it
 * out (bounded) so that no status is written from a half-way state.
 * Returns the init's pid when it found a live monitor, no exit record and
 * a live init, and remembers that monitor (kk_ctl_seen_put) so the next
 * observation of this container is seen_running()'s two syscalls. */
static pid_t settle(struct kk_controller *c, const char *bundle, int dfd) {
  if (faccessat(dfd, "exit", F_OK, 0) == 0)
    return 0;
  /* (The monitor seen last time was asked already: seen_running.) */
  struct kk_monitor_id mon;
  pid_t pid;
  int64_t deadline = kk_monotonic_ms() + SETTLE_MS;
  for (;;) {
    if (!kk_monitor_identify(dfd, &mon))
      return 0;
    pid = kk_read_pid_at(dfd, "pid");
    if (pid > 0 && kill(pid, 0) == 0) {
      kk_ctl_seen_put(&c->seen, bundle, &mon, pid);
      return pid;
    }
    if (kk_monotonic_ms() >= deadline)
      return 0;
    poll(NULL, 0, 10);
    if (faccessat(dfd, "exit", F_OK, 0) == 0)
      return 0;
  }
}

static void mark_running(struct kk_container_status *cs, pid_t pid, bool paused) {
  cs->state = paused ? KK_CTR_PAUSED : KK_CTR_READY;
  cs->pid = pid;
}

/* settle()'s common case with no path looked up at all: the monitor seen
 * running the init still does (a poll of its pidfd), and so does the init.
 * The monitor reaps its init before it writes the exit record, so an init
 * that ended fails the kill before any record is there to read.  Two
 * syscalls; a list of a thousand cells makes two thousand of these. */
static pid_t seen_running(struct kk_controller *c, const struct kk_cell *cell, const struct kk_container_spec *ct) {
  char bundle[PATH_MAX];
  int n = snprintf(bundle, sizeof(bundle), BUNDLE_PATH, c->runtime_dir, cell->spec.realm_id, ns_suffix(c),
                   ct->containerd_id);
  if (n < 0 || n >= (int)sizeof(bundle))
    return 0;
  pid_t pid = kk_ctl_seen_running(&c->seen, bundle);
  return pid > 0 && kill(pid, 0) == 0 ? pid : 0;
}

/* Update one container's status from the truth: its monitor's exit record,
 * a live monitor and init, else runc's own record.  What it observes wins
 * over what was stored (a daemon killed between starting or stopping a
 * container and writing the status left the store behind); only the
 * operator's Stopped and Failed stay on a container that does not run. */
void kk_ctl_ctr_observe(struct kk_controller *c, struct kk_cell *cell, const struct kk_container_spec *ct) {
  struct kk_container_status *cs = kk_ctl_status_slot(cell, ct->id);
  if (kk_empty(cs->id))
    cs->id = kk_xstrdup(ct->containerd_id);
  pid_t live = seen_running(c, cell, ct);
  if (live > 0) {
    mark_running(cs, live, false);
    return;
  }
  cleanup_paths struct kk_ctr_paths p = {0};
  kk_ctl_ctr_paths_of(c, cell, ct, &p);
  cleanup_close int dfd = open(p.bundle, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) {
    /* Never started here, or its runtime dir went with a reboot: one
     * recorded as running is not, as far as anything here can tell. */
    if (kk_ctl_ctr_active(cs->state)) {
      cs->state = KK_CTR_UNKNOWN;
      cs->pid = 0;
    }
    return;
  }
  live = settle(c, p.bundle, dfd);
  if (live > 0) {
    mark_running(cs, live, false);
    return;
  }
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
  if (faccessat(dfd, "monitor.pid", F_OK, 0) < 0 && !kk_ctl_ctr_active(cs->state))
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

/* ----------------------------------------------------------- one container */

void kk_ctl_etc_paths_free(struct kk_ctl_etc_paths *p) {
  free(p->hosts);
  free(p->hostname);
  free(p->resolv);
}

int kk_ctl_cell_hosts_write(struct kk_controller *c, const struct kk_ref *cell, const char *ip,
                            const struct kk_netns_host *peers, size_t n_peers, kk_err_t *err) {
  cleanup_free char *rel = kk_store_rel_dir(cell);
  cleanup_free char *dir = kk_asprintf("%s/%s", c->run_path, rel);
  cleanup_close int dfd = kk_open_dir_at(AT_FDCWD, dir, err);
  if (dfd < 0)
    return -1;
  cleanup_free char *text = kk_netns_render_hosts(cell->name, ip, peers, n_peers);
  return kk_netns_write_in_place(dfd, KK_NETNS_ETC_HOSTS, text, 0644, err);
}

/* The cell's /etc files in its directory, bind-mounted into each of its
 * containers, so written in place (never renamed).  The root's start
 * writes them anew (its address is not known yet: network.c rewrites
 * hosts, with the cell's peers, once CNI gave one); another container's
 * start only makes what is missing. */
static int write_cell_files(struct kk_controller *c, const struct kk_doc *doc, bool fresh, struct kk_ctl_etc_paths *p,
                            kk_err_t *err) {
  struct kk_ref ref = kk_ref_of(doc);
  cleanup_free char *rel = kk_store_rel_dir(&ref);
  cleanup_free char *dir = kk_asprintf("%s/%s", c->run_path, rel);
  cleanup_close int dfd = kk_open_dir_at(AT_FDCWD, dir, err);
  if (dfd < 0)
    return -1;
  static const char *const files[] = {KK_NETNS_ETC_HOSTNAME, KK_NETNS_ETC_HOSTS, KK_NETNS_ETC_RESOLV};
  bool missing = false;
  for (size_t i = 0; i < KK_ARRAY_SIZE(files); i++)
    missing |= faccessat(dfd, files[i], F_OK, 0) < 0;
  struct kk_netns_cell_etc etc = {.cell = ref.name, .ip = doc->u.cell.status.network.ip};
  if ((fresh || missing) && kk_netns_write_cell_etc(dfd, &etc, err) < 0)
    return -1;
  p->hosts = kk_asprintf("%s/%s", dir, KK_NETNS_ETC_HOSTS);
  p->hostname = kk_asprintf("%s/%s", dir, KK_NETNS_ETC_HOSTNAME);
  p->resolv = kk_asprintf("%s/%s", dir, KK_NETNS_ETC_RESOLV);
  return 0;
}

/* runc's record of a container that is not running, once its monitor is
 * gone.  A container whose exit is recorded (so its init was reaped) and
 * that had a pid namespace of its own (whose end took every process with
 * it) needs no `runc delete`: its record goes here, and with_cgroup its
 * cgroup (a cell's delete removes the cell's whole cgroup instead).
 * Anything else is runc's to delete, and to kill what is left of it. */
static int forget_container(struct kk_controller *c, const struct kk_cell *cell, const struct kk_container_spec *ct,
                            const struct kk_ctr_paths *p, int dfd, bool with_cgroup, kk_err_t *err) {
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
int kk_ctl_ctr_stop(struct kk_controller *c, struct kk_cell *cell, const struct kk_container_spec *ct, int sig,
                          int64_t timeout_ms, kk_err_t *err) {
  cleanup_paths struct kk_ctr_paths p = {0};
  kk_ctl_ctr_paths_of(c, cell, ct, &p);
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

/* The leaf of the cell's cgroup its monitors live in (in every hierarchy):
 * out of the daemon's cgroup when that is a kukeon cell's (the kukeond
 * cell), whose stop, kill or recreation must not take workloads along;
 * removed with the cell's cgroup.  A daemon outside kukeon's tree (a
 * service, a test, kuke in-process) leaves its monitors where it is: on a
 * hybrid host the move is a write into every v1 hierarchy, about 8 ms a
 * monitor here.  No name of a container's cgroup (a runtime id, with '_')
 * is this one. */
#define MONITOR_CGROUP "kukeon-monitors"

static int monitor_cgroups(struct kk_controller *c, const struct kk_ref *ref, struct kk_strv *dirs,
                           kk_err_t *err) {
  if (c->cg == NULL)
    return 0; /* no cgroup tree here at all: the containers get none either */
  if (!kk_cg_self_under(c->cgroup_root))
    return 0;
  cleanup_free char *cellrel = kk_cg_rel(ref->realm, ref->space, ref->stack, ref->name);
  cleanup_free char *rel = kk_asprintf("%s/%s", cellrel, MONITOR_CGROUP);
  if (kk_cg_ensure_leaf(c->cg, c->cgroup_root, rel, dirs, err) < 0)
    return kk_error_wrap(err, "the monitors' cgroup");
  return 0;
}

/* <runtime dir>/exits/<name>: the file the container's monitor makes once
 * it has recorded the exit (kukeond acts on it: reconcile.c). */
static char *exit_notice_path(struct kk_controller *c, const struct kk_cell *cell, const struct kk_container_spec *ct) {
  cleanup_free char *name = kk_ctl_exit_notice_name(cell, ct);
  return kk_asprintf("%s/%s/%s", c->runtime_dir, KK_CTL_EXIT_NOTICES, name);
}

/* The bundle and the monitor (runc run --detach), on a prepared rootfs. */
static int launch(struct kk_controller *c, struct kk_doc *doc, const struct kk_container_spec *ct,
                  const struct kk_ctr_paths *p, const char *rootfs, const struct kk_image_config *icfg, pid_t root_pid,
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
  cleanup_free char *user = NULL, *json = NULL, *cellcg = NULL;
  KK_CLEANUP(kk_ctl_etc_paths_free) struct kk_ctl_etc_paths etc = {0};
  struct kk_container_spec spec = *ct; /* shallow: user and the pause root's rootfs flag differ */
  if (kk_rootfs_resolve_user(rootfs, !kk_empty(ct->user) ? ct->user : icfg ? icfg->user : NULL, &user, err) < 0)
    return kk_error_wrap(err, "container \"%s\"", ct->id);
  spec.user = user;
  if (is_pause(ct))
    spec.read_only_root_filesystem = true;
  if (!ct->host_network && write_cell_files(c, doc, ct->root, &etc, err) < 0)
    return -1;
  cellcg = kk_cgroup_path(c->cgroup_root, ref.realm, ref.space, ref.stack, ref.name);
  struct kk_bundle_spec b = {
      .id = ct->containerd_id, .rootfs = rootfs, .ctr = &spec, .image = icfg ? &run : NULL,
      .realm = ref.realm, .space = ref.space, .stack = ref.stack, .cell = ref.name, .cell_cgroup = cellcg,
      .root_pid = ct->root ? 0 : root_pid, .hosts_file = etc.hosts, .hostname_file = etc.hostname,
      .resolv_file = etc.resolv,
      .tty = ct->attachable, .shared_mounts = kk_ctl_is_kukeond_image(ct->image),
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
  cleanup_strv struct kk_strv cgroups = {0};
  if (monitor_cgroups(c, &ref, &cgroups, err) < 0)
    return -1;
  cleanup_free char *notices = kk_asprintf("%s/%s", c->runtime_dir, KK_CTL_EXIT_NOTICES);
  cleanup_free char *notice = exit_notice_path(c, cell, ct);
  if (kk_mkdir_p(notices, 0700, err) < 0)
    return -1;
  struct kk_monitor_opts mo = {.exe = c->monitor_exe, .runc = c->runc_bin, .runc_root = p->runc_root,
                               .bundle = p->bundle, .id = ct->containerd_id, .dir = p->bundle,
                               .tty = ct->attachable, .delete_on_exit = ct->host_pid, .cgroups = &cgroups,
                               .exit_notice = notice};
  pid_t pid = 0;
  if (kk_monitor_spawn(&mo, &pid, err) < 0)
    return -1;
  kk_ctl_crash_at(c, KK_CRASH_AFTER_RUNC_START);
  struct kk_container_status *cs = kk_ctl_status_slot(cell, ct->id);
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
int kk_ctl_ctr_start(struct kk_controller *c, struct kk_doc *doc, const struct kk_container_spec *ct,
                           pid_t root_pid, kk_err_t *err) {
  cleanup_paths struct kk_ctr_paths p = {0};
  kk_ctl_ctr_paths_of(c, &doc->u.cell, ct, &p);
  /* The last run of this id: its monitor may still be on its way out, and
   * runc's record of it (or one from before a crash) goes first. */
  {
    cleanup_close int dfd = open(p.bundle, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (forget_container(c, &doc->u.cell, ct, &p, dfd, false, err) < 0)
      return -1;
  }
  if (kk_mkdir_p(p.bundle, 0700, err) < 0 || kk_mkdir_p(p.runc_root, 0700, err) < 0)
    return -1;
  if (is_pause(ct) || kk_ctl_is_kukeond_image(ct->image)) {
    if (!is_pause(ct) && !kk_streq(doc->u.cell.spec.realm_id, KK_SYSTEM_REALM))
      return kk_error_kind(err, KK_ERR_INVALID, 0, "container \"%s\": image %s runs only in realm %s", ct->id,
                           ct->image, KK_SYSTEM_REALM);
    cleanup_free char *rootfs = NULL;
    if ((is_pause(ct) ? stage_pause(c, &rootfs, err) : bind_kukeond_rootfs(c, &p, &rootfs, err)) < 0)
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
int kk_ctl_ctr_teardown(struct kk_controller *c, struct kk_cell *cell, const struct kk_container_spec *ct,
                              kk_err_t *err) {
  cleanup_paths struct kk_ctr_paths p = {0};
  kk_ctl_ctr_paths_of(c, cell, ct, &p);
  cleanup_close int dfd = open(p.bundle, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  bool ended = !ct->host_pid && dfd >= 0 && faccessat(dfd, "exit", F_OK, 0) == 0;
  if (ended ? forget_container(c, cell, ct, &p, dfd, false, err) < 0
            : kk_ctl_ctr_stop(c, cell, ct, SIGKILL, 0, err) < 0)
    return -1;
  if (kk_ctl_is_kukeond_image(ct->image))
    umount2(p.rootfs, MNT_DETACH | UMOUNT_NOFOLLOW); /* the staged tree's bind */
  else if (!is_pause(ct) && access(p.rootfs, F_OK) == 0) {
    struct kk_image_store *is;
    if (images(c, &is, err) < 0 || kk_image_rootfs_unmount(is, p.rootfs, err) < 0)
      return -1;
  }
  if (kk_rm_rf_at(AT_FDCWD, p.state, err) < 0)
    return -1;
  cleanup_free char *notice = exit_notice_path(c, cell, ct);
  unlink(notice); /* not acted on yet (no daemon, or none since): nothing left to act on */
  return kk_rm_rf_at(AT_FDCWD, p.bundle, err);
}

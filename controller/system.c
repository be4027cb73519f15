/* The kukeond cell, kuke-system/kukeon/kukeon/kukeond: kukeond runs as
 * the root container of a cell like any other, so the same code starts,
 * stops and observes it.  Only in-process kuke (init, daemon) calls this:
 * a daemon does not manage the cell it runs in.
 *
 * Its rootfs is kukeon.internal/kukeond:<version> (container.c stages it
 * from this binary, no registry); the daemon execs runc, the CNI plugins
 * and iptables, which come from the host through read-only binds of its
 * /usr (and /bin, /lib... when they are not symlinks into /usr) and /etc:
 * the programs the host's kuke would run, at the host's versions. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "controller/internal.h"
#include "lib/util.h"
#include "netns/netns.h"

#define KUKEOND "kukeond"
#define STOP_TIMEOUT_MS 10000

static const struct kk_ref cell_ref = {
    .kind = KK_KIND_CELL, .realm = KK_SYSTEM_REALM, .space = KK_SYSTEM_SPACE, .stack = KK_SYSTEM_STACK, .name = KUKEOND};

static bool is_dir(const char *path) {
  struct stat st;
  return lstat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool under(const char *path, const char *dir) {
  size_t n = strlen(dir);
  return strncmp(path, dir, n) == 0 && (path[n] == '/' || path[n] == '\0' || (n == 1 && dir[0] == '/'));
}

static void add_volume(struct kk_container_spec *ct, const char *kind, const char *path, bool ro) {
  for (size_t i = 0; i < ct->n_volumes; i++)
    if (kk_streq(ct->volumes[i].target, path))
      return;
  ct->volumes = kk_xrealloc(ct->volumes, (ct->n_volumes + 1) * sizeof(*ct->volumes));
  ct->volumes[ct->n_volumes++] = (struct kk_volume_mount){
      .kind = kk_xstrdup(kind), .source = kk_streq(kind, "tmpfs") ? NULL : kk_xstrdup(path),
      .target = kk_xstrdup(path), .read_only = ro};
}

/* A folder bound at the same path unless one already bound holds it. */
static void add_bind(struct kk_container_spec *ct, const char *path, bool ro) {
  if (kk_empty(path) || path[0] != '/' || !is_dir(path))
    return;
  for (size_t i = 0; i < ct->n_volumes; i++)
    if (!kk_streq(ct->volumes[i].kind, "tmpfs") && under(path, ct->volumes[i].target) &&
        ct->volumes[i].read_only <= ro)
      return;
  add_volume(ct, "bind", path, ro);
}

static int by_depth(const void *a, const void *b) {
  const struct kk_volume_mount *x = a, *y = b;
  return (int)strlen(x->target) - (int)strlen(y->target);
}

/* What kukeond reaches on the host, each at its own path: the state (run
 * path, runtime dir: rw), the cgroup filesystem, the CNI folders, the
 * host's programs and /etc (with /etc/kukeon: read-only). */
static void add_binds(struct kk_controller *c, const struct kk_system_opts *o, struct kk_container_spec *ct) {
  add_volume(ct, "tmpfs", "/tmp", false);
  add_bind(ct, c->runtime_dir, false);
  add_bind(ct, c->run_path, false);
  cleanup_free char *sock_dir = kk_xstrdup(o->socket);
  *strrchr(sock_dir, '/') = '\0';
  add_bind(ct, sock_dir, false);
  add_volume(ct, "bind", "/sys/fs/cgroup", false);
  for (size_t i = 0; kk_ctl_kukeond_host_dirs[i]; i++) {
    cleanup_free char *d = kk_asprintf("/%s", kk_ctl_kukeond_host_dirs[i]);
    add_bind(ct, d, true);
  }
  static const char *const cni_rw[] = {"/opt/cni/net.d", "/opt/cni/cache", "/var/lib/cni"};
  for (size_t i = 0; i < KK_ARRAY_SIZE(cni_rw); i++)
    add_bind(ct, cni_rw[i], false);
  add_bind(ct, c->cni_cache_dir, false);
  add_bind(ct, c->cni_lease_dir, false);
  cleanup_free char *path = kk_xstrdup(c->cni_path ? c->cni_path : "/opt/cni/bin:/usr/lib/cni");
  char *save = NULL;
  for (char *d = strtok_r(path, ":", &save); d; d = strtok_r(NULL, ":", &save))
    add_bind(ct, d, true);
  if (!kk_empty(o->configuration) && o->configuration[0] == '/' && !under(o->configuration, "/etc"))
    add_volume(ct, "bind", o->configuration, true);
  qsort(ct->volumes, ct->n_volumes, sizeof(*ct->volumes), by_depth); /* parents first */
}

static void push_flag(struct kk_strv *v, const char *flag, const char *value) {
  kk_strv_push(v, flag);
  kk_strv_push(v, value);
}

static void add_env(struct kk_container_spec *ct, const char *name, const char *value) {
  if (!kk_empty(value))
    kk_strv_push_owned(&ct->env, kk_asprintf("%s=%s", name, value));
}

/* kukeond's command line says everything this controller was opened with,
 * so the daemon serves the same state as the kuke that started it. */
static void daemon_args(struct kk_controller *c, const struct kk_system_opts *o, struct kk_container_spec *ct) {
  struct kk_strv *a = &ct->args;
  if (!kk_empty(o->configuration))
    push_flag(a, "--configuration", o->configuration);
  kk_strv_push(a, "serve");
  push_flag(a, "--socket", o->socket);
  push_flag(a, "--run-path", c->run_path);
  push_flag(a, "--runtime-dir", c->runtime_dir);
  push_flag(a, "--cgroup-root", c->cgroup_root);
  push_flag(a, "--containerd-namespace-suffix", c->ns_suffix);
  push_flag(a, "--runc", c->runc_bin);
  if (o->socket_gid > 0) {
    cleanup_free char *gid = kk_asprintf("%ld", o->socket_gid);
    push_flag(a, "--socket-gid", gid);
  }
  add_env(ct, "PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  add_env(ct, "KUKEON_POD_SUBNET_CIDR", c->pod_subnet);
  add_env(ct, "CNI_PATH", c->cni_path);
  add_env(ct, "KUKEON_CNI_CACHE_DIR", c->cni_cache_dir);
  add_env(ct, "KUKEON_CNI_LEASE_DIR", c->cni_lease_dir);
}

static char *desired_image(const struct kk_system_opts *o) {
  return kk_empty(o->image) ? kk_asprintf("%s:%s", KK_KUKEOND_IMAGE_REPO, KUKEON_VERSION) : kk_xstrdup(o->image);
}

static struct kk_doc *kukeond_doc(struct kk_controller *c, const struct kk_system_opts *o) {
  struct kk_doc *d = kk_doc_new(KK_KIND_CELL);
  struct kk_cell *cell = &d->u.cell;
  cell->metadata.name = kk_xstrdup(KUKEOND);
  cell->spec.id = kk_xstrdup(KUKEOND);
  cell->spec.realm_id = kk_xstrdup(KK_SYSTEM_REALM);
  cell->spec.space_id = kk_xstrdup(KK_SYSTEM_SPACE);
  cell->spec.stack_id = kk_xstrdup(KK_SYSTEM_STACK);
  cell->spec.containers = kk_xzalloc(sizeof(*cell->spec.containers));
  cell->spec.n_containers = 1;
  /* The daemon is the cell's root: no pause container, the host's network. */
  struct kk_container_spec *ct = &cell->spec.containers[0];
  ct->id = kk_xstrdup(KUKEOND);
  ct->root = true;
  ct->image = desired_image(o);
  ct->command = kk_xstrdup("/kukeond");
  ct->host_network = ct->host_pid = ct->host_cgroup = ct->privileged = true;
  ct->read_only_root_filesystem = true;
  daemon_args(c, o, ct);
  add_binds(c, o, ct);
  return d;
}

/* Why the stored cell is not the one wanted (NULL: it is). */
static char *drift(const struct kk_doc *stored, const struct kk_doc *want) {
  const struct kk_container_spec *have = kk_cell_root((struct kk_cell *)&stored->u.cell);
  const struct kk_container_spec *ct = &want->u.cell.spec.containers[0];
  if (have == NULL || !kk_streq(have->image, ct->image))
    return kk_asprintf("image drift: %s → %s", have ? have->image : "none", ct->image);
  cleanup_free char *a = kk_strv_join(&have->args, " "), *b = kk_strv_join(&ct->args, " ");
  if (!kk_streq(a, b) || have->n_volumes != ct->n_volumes)
    return kk_xstrdup("command line drift");
  return NULL;
}

static int observed(struct kk_controller *c, struct kk_doc **out, kk_err_t *err) {
  cleanup_close int lock = kk_store_lock(c->store, true, err);
  if (lock < 0)
    return -1;
  if (kk_store_get(c->store, &cell_ref, out, err) < 0)
    return -1;
  kk_ctl_cell_observe(c, *out);
  return 0;
}

int kk_ctl_system_state(struct kk_controller *c, enum kk_system_state *st, kk_err_t *err) {
  *st = KK_SYSTEM_ABSENT;
  if (!kk_store_exists(c->store, &cell_ref))
    return 0;
  cleanup_doc struct kk_doc *cell = NULL;
  if (observed(c, &cell, err) < 0)
    return -1;
  *st = cell->u.cell.status.base.state == KK_CELL_READY ? KK_SYSTEM_RUNNING : KK_SYSTEM_STOPPED;
  return 0;
}

int kk_ctl_system_stop(struct kk_controller *c, int sig, int64_t timeout_ms, bool *was_running, kk_err_t *err) {
  *was_running = false;
  if (!kk_store_exists(c->store, &cell_ref))
    return 0;
  cleanup_close int lock = kk_store_lock(c->store, true, err);
  if (lock < 0)
    return -1;
  cleanup_doc struct kk_doc *cell = NULL;
  if (kk_store_get(c->store, &cell_ref, &cell, err) < 0)
    return -1;
  kk_ctl_cell_observe(c, cell);
  for (size_t i = 0; i < cell->u.cell.status.n_containers; i++)
    *was_running |= kk_ctl_ctr_active(cell->u.cell.status.containers[i].state);
  if (kk_ctl_cell_stop(c, cell, sig, timeout_ms > 0 ? timeout_ms : STOP_TIMEOUT_MS, err) < 0)
    return -1;
  cell->u.cell.status.base.updated_at = kk_now();
  return kk_store_put_status(c->store, cell, err);
}

static int delete_cell(struct kk_controller *c, struct kk_report *rep, kk_err_t *err) {
  struct kk_report r = {0};
  int ret = kk_ctl_delete(c, &cell_ref, true, true, &r, err);
  kk_report_free(&r);
  if (ret == 0)
    kk_report_line(rep, 0, "removed cell \"%s\" (realm \"%s\")", KUKEOND, KK_SYSTEM_REALM);
  return ret;
}

/* Recreate on drift; create when missing.  *fresh: the cell is new. */
static int provision(struct kk_controller *c, const struct kk_system_opts *o, struct kk_report *rep, bool *fresh,
                     kk_err_t *err) {
  cleanup_doc struct kk_doc *want = kukeond_doc(c, o);
  cleanup_free char *why = NULL;
  *fresh = true;
  if (kk_store_exists(c->store, &cell_ref)) {
    cleanup_doc struct kk_doc *have = NULL;
    if (observed(c, &have, err) < 0)
      return -1;
    why = drift(have, want);
    if (why == NULL) {
      *fresh = false;
      kk_report_line(rep, 4, "- cell \"%s\": already existed", KUKEOND);
      return 0;
    }
    struct kk_report gone = {0};
    int ret = delete_cell(c, &gone, err);
    kk_report_free(&gone);
    if (ret < 0)
      return kk_error_wrap(err, "recreate cell \"%s\"", KUKEOND);
  }
  struct kk_report r = {0};
  int ret = kk_ctl_create(c, want, NULL, true, &r, err); /* kukeon's own cell: no guard */
  kk_report_free(&r);
  if (ret < 0)
    return -1;
  const char *image = want->u.cell.spec.containers[0].image;
  if (why)
    kk_report_line(rep, 4, "- cell \"%s\": recreated (%s)", KUKEOND, why);
  else
    kk_report_line(rep, 4, "- cell \"%s\": created (image %s)", KUKEOND, image);
  return 0;
}

/* The runtime dir as a shared mount (a bind onto itself when it is no
 * mount yet), so that the rootfs mounts kukeond makes for workloads under
 * it, in its own mount namespace, show on the host too, where runc, a
 * later daemon and in-process kuke find them. */
static int runtime_dir_shared(struct kk_controller *c, kk_err_t *err) {
  char real[4096];
  if (realpath(c->runtime_dir, real) == NULL)
    return kk_error(err, errno, "runtime dir %s", c->runtime_dir);
  bool is_mount, shared;
  if (kk_ctl_mount_state(real, &is_mount, &shared, err) < 0)
    return -1;
  if (shared)
    return 0;
  if (!is_mount && mount(real, real, NULL, MS_BIND | MS_REC, NULL) < 0)
    return kk_error(err, errno, "bind %s onto itself", real);
  if (mount(NULL, real, NULL, MS_SHARED, NULL) < 0)
    return kk_error(err, errno, "make %s a shared mount", real);
  return 0;
}

int kk_ctl_system_up(struct kk_controller *c, const struct kk_system_opts *o, struct kk_report *rep, kk_err_t *err) {
  bool fresh = false, was = false;
  /* Before the cell is described: only folders that exist are bound in. */
  cleanup_free char *sock_dir = kk_xstrdup(o->socket);
  *strrchr(sock_dir, '/') = '\0';
  if (kk_mkdir_p(c->runtime_dir, 0755, err) < 0 || (*sock_dir && kk_mkdir_p(sock_dir, 0755, err) < 0) ||
      provision(c, o, rep, &fresh, err) < 0)
    return -1;
  enum kk_system_state st;
  if (kk_ctl_system_state(c, &st, err) < 0)
    return -1;
  if (st == KK_SYSTEM_RUNNING && !o->restart) {
    kk_report_line(rep, 4, "- cell containers: already running");
    return 0;
  }
  if (!fresh && kk_ctl_system_stop(c, SIGKILL, 0, &was, err) < 0) /* leftovers of a dead daemon */
    return -1;
  if (runtime_dir_shared(c, err) < 0)
    return -1;
  struct kk_report r = {0};
  int ret = kk_ctl_cell_op(c, &cell_ref, KK_CELL_START, 0, &r, err);
  kk_report_free(&r);
  if (ret < 0)
    return -1;
  kk_report_line(rep, 4, "- cell containers: started");
  return 0;
}

int kk_ctl_system_reset(struct kk_controller *c, bool purge_system, struct kk_report *rep, bool *found, kk_err_t *err) {
  *found = false;
  if (kk_store_exists(c->store, &cell_ref)) {
    *found = true;
    if (delete_cell(c, rep, err) < 0)
      return -1;
  }
  if (!purge_system)
    return 0;
  struct kk_ref realm = {.kind = KK_KIND_REALM, .realm = KK_SYSTEM_REALM, .name = KK_SYSTEM_REALM};
  if (kk_store_exists(c->store, &realm)) {
    struct kk_report r = {0};
    int ret = kk_ctl_delete(c, &realm, true, true, &r, err);
    kk_report_free(&r);
    if (ret < 0)
      return kk_error_wrap(err, "purge realm %s", KK_SYSTEM_REALM);
    kk_report_line(rep, 0, "removed realm \"%s\"", KK_SYSTEM_REALM);
    *found = true;
  }
  struct kk_netns_fw fw = {0};
  int fr = kk_netns_fw_purge(&fw, err);
  if (fr < 0)
    return kk_error_wrap(err, "firewall chains");
  kk_report_line(rep, 0, fr == KK_NETNS_FW_MISSING ? "firewall chains: no iptables" : "removed kukeon's firewall chains");
  return 0;
}

/* config.json for runc, from a container spec and its image's config. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/util.h"
#include "runtime/bundle_int.h"
#include "runtime/runtime.h"

#define DEFAULT_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define DEFAULT_NOFILE 1024ull
#define DEFAULT_NPROC 4096ull

/* Capabilities a container gets unless it drops them (the set Docker and
 * podman grant). */
static const char *const default_caps[] = {
    "CAP_CHOWN",  "CAP_DAC_OVERRIDE", "CAP_FSETID",           "CAP_FOWNER",     "CAP_MKNOD",
    "CAP_NET_RAW", "CAP_SETGID",      "CAP_SETUID",           "CAP_SETFCAP",    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL",     "CAP_AUDIT_WRITE",
};

void kk_host_limits_read(struct kk_host_limits *out) {
  memset(out, 0, sizeof(*out));
  struct rlimit rl;
  out->nofile_hard = getrlimit(RLIMIT_NOFILE, &rl) == 0 ? (unsigned long long)rl.rlim_max : DEFAULT_NOFILE;
  out->nproc_hard = getrlimit(RLIMIT_NPROC, &rl) == 0 ? (unsigned long long)rl.rlim_max : DEFAULT_NPROC;
  out->cap_last = (int)cap_max_bits() - 1;
  for (int c = 0; c <= out->cap_last && c < 64; c++)
    if (cap_get_bound((cap_value_t)c) == 1)
      out->cap_bound |= 1ull << c;
}

/* ---------------------------------------------------------- capabilities */

static char *cap_upper_name(int c) {
  char *n = cap_to_name((cap_value_t)c);
  char *out = NULL;
  if (n && strncmp(n, "cap_", 4) == 0) {
    out = kk_xstrdup(n);
    for (char *p = out; *p; p++)
      *p = (char)toupper((unsigned char)*p);
  } else {
    out = kk_asprintf("CAP_%d", c);
  }
  cap_free(n);
  return out;
}

/* The container's capability set (bit i = capability i): bounding,
 * effective and permitted alike. */
static int caps_of(const struct kk_container_spec *c, const struct kk_host_limits *host, unsigned long long *out,
                   kk_err_t *err) {
  unsigned long long set = 0;
  if (c->privileged) {
    *out = host->cap_bound;
    return 0;
  }
  for (size_t i = 0; i < KK_ARRAY_SIZE(default_caps); i++) {
    int n = kk_cap_number(default_caps[i]);
    if (n >= 0)
      set |= 1ull << n;
  }
  for (size_t i = 0; i < c->capabilities.drop.n; i++) {
    const char *d = c->capabilities.drop.v[i];
    if (strcmp(d, "CAP_ALL") == 0) {
      set = 0;
      continue;
    }
    int n = kk_cap_number(d);
    if (n < 0)
      return kk_error_kind(err, KK_ERR_INVALID, 0, "unknown capability \"%s\"", d);
    set &= ~(1ull << n);
  }
  for (size_t i = 0; i < c->capabilities.add.n; i++) {
    const char *a = c->capabilities.add.v[i];
    int n = kk_cap_number(a);
    if (n < 0)
      return kk_error_kind(err, KK_ERR_INVALID, 0, "unknown capability \"%s\"", a);
    /* Asking for more than this host's bounding set makes runc fail
     * later with a worse message: refuse it here. */
    if (!(host->cap_bound & (1ull << n)))
      return kk_error_kind(err, KK_ERR_INVALID, 0,
                           "capability %s is not in this host's bounding set; it cannot be granted", a);
    set |= 1ull << n;
  }
  *out = set & host->cap_bound;
  return 0;
}

static void build_caps(unsigned long long set, const struct kk_host_limits *host, json_t *proc) {
  json_t *list = json_array();
  for (int i = 0; i <= host->cap_last && i < 64; i++) {
    if (set & (1ull << i)) {
      cleanup_free char *name = cap_upper_name(i);
      json_array_append_new(list, json_string(name));
    }
  }
  json_t *caps = json_object();
  const char *sets[] = {"bounding", "effective", "permitted"};
  for (size_t i = 0; i < KK_ARRAY_SIZE(sets); i++)
    json_object_set(caps, sets[i], list);
  json_decref(list);
  json_object_set_new(proc, "capabilities", caps);
}

/* ----------------------------------------------------------------- mounts */

static json_t *mount_entry(const char *dest, const char *type, const char *source, const char *opts_csv) {
  json_t *opts = json_array();
  cleanup_free char *copy = kk_xstrdup(opts_csv);
  char *save = NULL;
  for (char *o = strtok_r(copy, ",", &save); o; o = strtok_r(NULL, ",", &save))
    json_array_append_new(opts, json_string(o));
  return json_pack("{s:s, s:s, s:s, s:o}", "destination", dest, "type", type, "source", source, "options", opts);
}

static bool has_target(const struct kk_container_spec *c, const char *path) {
  for (size_t i = 0; i < c->n_volumes; i++)
    if (kk_streq(c->volumes[i].target, path))
      return true;
  for (size_t i = 0; i < c->n_tmpfs; i++)
    if (kk_streq(c->tmpfs[i].path, path))
      return true;
  return false;
}

static json_t *build_mounts(const struct kk_bundle_spec *b) {
  const struct kk_container_spec *c = b->ctr;
  json_t *m = json_array();
  json_array_append_new(m, mount_entry("/proc", "proc", "proc", "nosuid,noexec,nodev"));
  json_array_append_new(m, mount_entry("/dev", "tmpfs", "tmpfs", "nosuid,strictatime,mode=755,size=65536k"));
  json_array_append_new(m, mount_entry("/dev/pts", "devpts", "devpts",
                                       "nosuid,noexec,newinstance,ptmxmode=0666,mode=0620,gid=5"));
  json_array_append_new(m, mount_entry("/dev/shm", "tmpfs", "shm", "nosuid,noexec,nodev,mode=1777,size=65536k"));
  json_array_append_new(m, mount_entry("/dev/mqueue", "mqueue", "mqueue", "nosuid,noexec,nodev"));
  json_array_append_new(m, mount_entry("/sys", "sysfs", "sysfs", c->privileged ? "nosuid,noexec,nodev" : "nosuid,noexec,nodev,ro"));
  json_array_append_new(m, mount_entry("/sys/fs/cgroup", "cgroup", "cgroup",
                                       c->privileged ? "nosuid,noexec,nodev,relatime" : "nosuid,noexec,nodev,relatime,ro"));
  const struct {
    const char *file, *target;
  } etc[] = {{b->hosts_file, "/etc/hosts"}, {b->hostname_file, "/etc/hostname"}, {b->resolv_file, "/etc/resolv.conf"}};
  for (size_t i = 0; i < KK_ARRAY_SIZE(etc); i++)
    if (etc[i].file && !has_target(c, etc[i].target))
      json_array_append_new(m, mount_entry(etc[i].target, "bind", etc[i].file, "rbind,ro,nosuid,nodev,noexec"));
  for (size_t i = 0; i < c->n_volumes; i++) {
    const struct kk_volume_mount *v = &c->volumes[i];
    if (kk_streq(v->kind, "tmpfs")) {
      char extra[96] = "";
      if (v->size_bytes > 0)
        snprintf(extra + strlen(extra), sizeof(extra) - strlen(extra), ",size=%lld", (long long)v->size_bytes);
      if (v->mode > 0)
        snprintf(extra + strlen(extra), sizeof(extra) - strlen(extra), ",mode=%llo", (unsigned long long)v->mode);
      if (v->read_only)
        strcat(extra, ",ro");
      cleanup_free char *all = kk_asprintf("nosuid,nodev%s", extra);
      json_array_append_new(m, mount_entry(v->target, "tmpfs", "tmpfs", all));
    } else {
      json_array_append_new(m, mount_entry(v->target, "bind", v->source, v->read_only ? "rbind,ro" : "rbind,rw"));
    }
  }
  for (size_t i = 0; i < c->n_tmpfs; i++) {
    const struct kk_tmpfs *t = &c->tmpfs[i];
    cleanup_free char *base = t->size_bytes > 0 ? kk_asprintf("nosuid,nodev,size=%lld", (long long)t->size_bytes)
                                                 : kk_xstrdup("nosuid,nodev");
    cleanup_free char *opt = t->options.n ? kk_strv_join(&t->options, ",") : kk_xstrdup("");
    cleanup_free char *all = *opt ? kk_asprintf("%s,%s", base, opt) : kk_xstrdup(base);
    json_array_append_new(m, mount_entry(t->path, "tmpfs", "tmpfs", all));
  }
  return m;
}

/* ------------------------------------------------------------------ user */

/* "uid[:gid]" numerically; names are resolved by the runtime against the
 * rootfs before this is called, so anything else is refused. */
static int parse_user(const char *user, json_t **out, kk_err_t *err) {
  long uid = 0, gid = 0;
  if (!kk_empty(user)) {
    char *end = NULL;
    uid = strtol(user, &end, 10);
    if (end == user || uid < 0 || uid > 0x7fffffff || (*end != '\0' && *end != ':'))
      return kk_error_kind(err, KK_ERR_INVALID, 0, "user \"%s\" must be uid[:gid] (names are resolved from the image)", user);
    if (*end == ':') {
      const char *g = end + 1;
      gid = strtol(g, &end, 10);
      if (end == g || *end != '\0' || gid < 0 || gid > 0x7fffffff)
        return kk_error_kind(err, KK_ERR_INVALID, 0, "user \"%s\" has a bad group: must be uid[:gid]", user);
    }
  }
  *out = json_pack("{s:I, s:I}", "uid", (json_int_t)uid, "gid", (json_int_t)gid);
  return 0;
}

/* ------------------------------------------------------------- process */

static void env_set(json_t *env, const char *kv) {
  size_t klen = strcspn(kv, "=");
  size_t i;
  json_t *v;
  json_array_foreach(env, i, v) {
    const char *s = json_string_value(v);
    if (strncmp(s, kv, klen) == 0 && s[klen] == '=') {
      json_array_set_new(env, i, json_string(kv));
      return;
    }
  }
  json_array_append_new(env, json_string(kv));
}

/* On unless the container is privileged; securityOpts
 * no-new-privileges[=true|false] decide either way (the last one wins). */
static bool no_new_privileges(const struct kk_container_spec *c) {
  bool nnp = !c->privileged;
  for (size_t i = 0; i < c->security_opts.n; i++) {
    const char *o = c->security_opts.v[i];
    if (!strcmp(o, "no-new-privileges") || !strcmp(o, "no-new-privileges=true"))
      nnp = true;
    else if (!strcmp(o, "no-new-privileges=false"))
      nnp = false;
  }
  return nnp;
}

static int build_process(const struct kk_bundle_spec *b, const struct kk_host_limits *host, unsigned long long caps,
                         json_t **out, kk_err_t *err) {
  const struct kk_container_spec *c = b->ctr;
  const struct kk_image_run_config *img = b->image;
  json_t *args = json_array();
  /* command set: [command] + args; else args replace the image's cmd. */
  if (!kk_empty(c->command)) {
    json_array_append_new(args, json_string(c->command));
    for (size_t i = 0; i < c->args.n; i++)
      json_array_append_new(args, json_string(c->args.v[i]));
  } else {
    if (img)
      for (size_t i = 0; i < img->entrypoint.n; i++)
        json_array_append_new(args, json_string(img->entrypoint.v[i]));
    const struct kk_strv *rest = c->args.n ? &c->args : (img ? &img->cmd : NULL);
    for (size_t i = 0; rest && i < rest->n; i++)
      json_array_append_new(args, json_string(rest->v[i]));
  }
  if (json_array_size(args) == 0) {
    json_decref(args);
    return kk_error_kind(err, KK_ERR_INVALID, 0, "container \"%s\" has no command: the image sets none and the spec gives none",
                         c->id);
  }
  json_t *env = json_array();
  json_array_append_new(env, json_string(DEFAULT_PATH));
  if (img)
    for (size_t i = 0; i < img->env.n; i++)
      env_set(env, img->env.v[i]);
  const struct {
    const char *k, *v;
  } ids[] = {{"KUKEON_CELL_NAME", b->cell},     {"KUKEON_CONTAINER_ID", c->id}, {"KUKEON_REALM", b->realm},
             {"KUKEON_SPACE", b->space},         {"KUKEON_STACK", b->stack},     {"KUKEON_CGROUP_PATH", b->cell_cgroup}};
  for (size_t i = 0; i < KK_ARRAY_SIZE(ids); i++) {
    cleanup_free char *kv = kk_asprintf("%s=%s", ids[i].k, ids[i].v ? ids[i].v : "");
    env_set(env, kv);
  }
  for (size_t i = 0; i < c->env.n; i++) /* the user's env wins */
    env_set(env, c->env.v[i]);
  if (b->tty)
    env_set(env, "TERM=xterm");
  const char *user = !kk_empty(c->user) ? c->user : (img ? img->user : NULL);
  json_t *juser = NULL;
  if (parse_user(user, &juser, err) < 0) {
    json_decref(args);
    json_decref(env);
    return -1;
  }
  const char *cwd = !kk_empty(c->working_dir) ? c->working_dir : (img && !kk_empty(img->working_dir) ? img->working_dir : "/");
  unsigned long long nofile = DEFAULT_NOFILE < host->nofile_hard ? DEFAULT_NOFILE : host->nofile_hard;
  unsigned long long nproc = DEFAULT_NPROC < host->nproc_hard ? DEFAULT_NPROC : host->nproc_hard;
  bool nnp = no_new_privileges(c);
  json_t *proc = json_pack("{s:b, s:o, s:o, s:o, s:s, s:b, s:[{s:s, s:I, s:I}, {s:s, s:I, s:I}]}", "terminal", b->tty,
                           "user", juser, "args", args, "env", env, "cwd", cwd, "noNewPrivileges", nnp, "rlimits",
                           "type", "RLIMIT_NOFILE", "hard", (json_int_t)nofile, "soft", (json_int_t)nofile, "type",
                           "RLIMIT_NPROC", "hard", (json_int_t)nproc, "soft", (json_int_t)nproc);
  build_caps(caps, host, proc);
  *out = proc;
  return 0;
}

/* ----------------------------------------------------------------- linux */

static json_t *ns(const char *type, const char *path) {
  return path ? json_pack("{s:s, s:s}", "type", type, "path", path) : json_pack("{s:s}", "type", type);
}

static json_t *device_entry(const char *path, const struct stat *st, bool host_owner) {
  return json_pack("{s:s, s:s, s:I, s:I, s:i, s:I, s:I}", "path", path, "type", S_ISCHR(st->st_mode) ? "c" : "b",
                   "major", (json_int_t)major(st->st_rdev), "minor", (json_int_t)minor(st->st_rdev), "fileMode",
                   (int)(st->st_mode & 0777), "uid", (json_int_t)(host_owner ? st->st_uid : 0), "gid",
                   (json_int_t)(host_owner ? st->st_gid : 0));
}

/* Folders of the host's /dev a privileged container does not take: the
 * container has its own pts, shm and mqueue mounts, fd is a view of the
 * reading process, the others are udev's and lxd's bookkeeping. */
static bool host_dev_skipped_dir(const char *name) {
  static const char *const skipped[] = {"pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev"};
  for (size_t i = 0; i < KK_ARRAY_SIZE(skipped); i++)
    if (strcmp(name, skipped[i]) == 0)
      return true;
  return false;
}

#define HOST_DEV_MAX_DEPTH 4 /* /dev/bus/usb/001/002 is the deepest in use */

/* Every character and block device below the host's dir (symlinks are
 * not followed), as runc and podman give a privileged container; the
 * console is the container's own terminal.  Unreadable folders are
 * skipped: the container gets what the host lets be read. */
static void host_devices_at(int dfd, const char *dir, int depth, json_t *devices) {
  DIR *d = fdopendir(dfd);
  if (d == NULL) {
    close(dfd);
    return;
  }
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    const char *n = de->d_name;
    struct stat st;
    if (n[0] == '.' && (n[1] == '\0' || (n[1] == '.' && n[2] == '\0')))
      continue;
    if (fstatat(dirfd(d), n, &st, AT_SYMLINK_NOFOLLOW) < 0)
      continue;
    cleanup_free char *path = kk_asprintf("%s/%s", dir, n);
    if (S_ISDIR(st.st_mode) && depth < HOST_DEV_MAX_DEPTH && !host_dev_skipped_dir(n)) {
      int sub = openat(dirfd(d), n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (sub >= 0)
        host_devices_at(sub, path, depth + 1, devices);
    } else if ((S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) && strcmp(path, "/dev/console") != 0) {
      json_array_append_new(devices, device_entry(path, &st, true));
    }
  }
  closedir(d);
}

static bool device_listed(const struct kk_container_spec *c, const char *path) {
  for (size_t i = 0; i < c->devices.n; i++)
    if (strcmp(c->devices.v[i], path) == 0)
      return true;
  return false;
}

/* The host's devices, less those the spec names itself. */
static void add_host_devices(const struct kk_container_spec *c, json_t *devices) {
  json_t *all = json_array();
  int dfd = open("/dev", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0)
    host_devices_at(dfd, "/dev", 1, all);
  size_t i;
  json_t *v;
  json_array_foreach(all, i, v) {
    if (!device_listed(c, json_string_value(json_object_get(v, "path"))))
      json_array_append(devices, v);
  }
  json_decref(all);
}

static int build_devices(const struct kk_container_spec *c, json_t *linux_obj, json_t *dev_rules, kk_err_t *err) {
  json_t *devices = json_array();
  if (c->privileged)
    add_host_devices(c, devices);
  for (size_t i = 0; i < c->devices.n; i++) {
    const char *path = c->devices.v[i];
    struct stat st;
    if (stat(path, &st) < 0) {
      json_decref(devices);
      return kk_error(err, errno, "device %s", path);
    }
    if (!S_ISCHR(st.st_mode) && !S_ISBLK(st.st_mode)) {
      json_decref(devices);
      return kk_error_kind(err, KK_ERR_INVALID, 0, "device %s is not a character or block device", path);
    }
    const char *t = S_ISCHR(st.st_mode) ? "c" : "b";
    json_array_append_new(devices, device_entry(path, &st, false));
    json_array_append_new(dev_rules, json_pack("{s:b, s:s, s:I, s:I, s:s}", "allow", 1, "type", t, "major",
                                               (json_int_t)major(st.st_rdev), "minor", (json_int_t)minor(st.st_rdev),
                                               "access", "rwm"));
  }
  json_object_set_new(linux_obj, "devices", devices);
  return 0;
}

static json_t *build_resources(const struct kk_container_spec *c, json_t *dev_rules) {
  json_t *r = json_object();
  json_object_set_new(r, "devices", dev_rules);
  if (c->resources.memory_limit_bytes.set && c->resources.memory_limit_bytes.v > 0)
    json_object_set_new(r, "memory", json_pack("{s:I}", "limit", (json_int_t)c->resources.memory_limit_bytes.v));
  if (c->resources.cpu_shares.set)
    json_object_set_new(r, "cpu", json_pack("{s:I}", "shares", (json_int_t)c->resources.cpu_shares.v));
  if (c->resources.pids_limit.set)
    json_object_set_new(r, "pids", json_pack("{s:I}", "limit", (json_int_t)c->resources.pids_limit.v));
  return r;
}

static int build_linux(const struct kk_bundle_spec *b, unsigned long long caps, json_t **out, kk_err_t *err) {
  const struct kk_container_spec *c = b->ctr;
  json_t *l = json_object();
  json_t *nss = json_array();
  json_array_append_new(nss, ns("mount", NULL));
  if (!c->host_pid)
    json_array_append_new(nss, ns("pid", NULL));
  if (!c->host_cgroup)
    json_array_append_new(nss, ns("cgroup", NULL));
  char path[64];
  if (b->root_pid > 0) {
    const char *joined[] = {"network", "ipc", "uts"};
    const char *files[] = {"net", "ipc", "uts"};
    for (size_t i = 0; i < 3; i++) {
      if (i == 0 && c->host_network)
        continue;
      snprintf(path, sizeof(path), "/proc/%d/ns/%s", (int)b->root_pid, files[i]);
      json_array_append_new(nss, ns(joined[i], path));
    }
  } else {
    if (!c->host_network)
      json_array_append_new(nss, ns("network", b->netns_path));
    json_array_append_new(nss, ns("ipc", NULL));
    json_array_append_new(nss, ns("uts", NULL));
  }
  json_object_set_new(l, "namespaces", nss);
  if (b->shared_mounts)
    json_object_set_new(l, "rootfsPropagation", json_string("rshared"));
  json_t *dev_rules = json_array();
  if (c->privileged)
    json_array_append_new(dev_rules, json_pack("{s:b, s:s}", "allow", 1, "access", "rwm"));
  else
    json_array_append_new(dev_rules, json_pack("{s:b, s:s}", "allow", 0, "access", "rwm"));
  if (build_devices(c, l, dev_rules, err) < 0) {
    json_decref(dev_rules);
    json_decref(l);
    return -1;
  }
  json_object_set_new(l, "resources", build_resources(c, dev_rules));
  cleanup_free char *cg = kk_container_cgroup(b->cell_cgroup, b->id);
  json_object_set_new(l, "cgroupsPath", json_string(cg));
  if (!c->privileged) {
    /* runc's spec defaults (runc spec), with /sys/devices/virtual/tpm
     * that newer runc masks too. */
    json_object_set_new(l, "maskedPaths",
                        json_pack("[s,s,s,s,s,s,s,s,s,s,s]", "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
                                  "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
                                  "/sys/firmware", "/proc/scsi", "/sys/devices/virtual/tpm"));
    json_object_set_new(l, "readonlyPaths",
                        json_pack("[s,s,s,s,s]", "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"));
  }
  json_t *sc = NULL;
  if (kk_seccomp_build(c, caps, b->image ? b->image->architecture : NULL, &sc, err) < 0) {
    json_decref(l);
    return kk_error_wrap(err, "container \"%s\"", c->id);
  }
  if (sc)
    json_object_set_new(l, "seccomp", sc);
  *out = l;
  return 0;
}

int kk_bundle_config(const struct kk_bundle_spec *b, const struct kk_host_limits *host, char **json_out,
                     kk_err_t *err) {
  const struct kk_container_spec *c = b->ctr;
  if (kk_empty(b->rootfs) || b->rootfs[0] != '/')
    return kk_error_kind(err, KK_ERR_INVALID, 0, "bundle for %s: rootfs must be an absolute path", b->id);
  json_t *proc = NULL, *linux_obj = NULL;
  unsigned long long caps = 0;
  if (caps_of(c, host, &caps, err) < 0 || build_process(b, host, caps, &proc, err) < 0)
    return -1;
  if (build_linux(b, caps, &linux_obj, err) < 0) {
    json_decref(proc);
    return -1;
  }
  /* Reverse-domain keys, as the runtime spec asks of annotations. */
  json_t *ann = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "io.kukeon.realm", b->realm, "io.kukeon.space", b->space,
                          "io.kukeon.stack", b->stack, "io.kukeon.cell", b->cell, "io.kukeon.container", c->id,
                          "io.kukeon.container-type", c->root ? "root" : "container");
  json_t *root = json_pack("{s:s, s:o, s:{s:s, s:b}, s:s, s:o, s:o, s:o}", "ociVersion", "1.0.2", "process", proc,
                           "root", "path", b->rootfs, "readonly", c->read_only_root_filesystem, "hostname",
                           b->cell ? b->cell : c->id, "mounts", build_mounts(b), "annotations", ann, "linux", linux_obj);
  char *s = json_dumps(root, JSON_INDENT(2));
  json_decref(root);
  if (s == NULL)
    kk_oom();
  *json_out = s;
  return 0;
}

/* What kuke purge removes without trusting the store: mounts found in
 * /proc/self/mountinfo, cgroup directories in every hierarchy, monitors
 * found by their pid files.  The bottom of the controller: it calls nothing
 * of the controller's own. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "controller/internal.h"
#include "lib/fs.h"
#include "lib/util.h"

#define MOUNTINFO_MAX (16u << 20)
#define CG_EMPTY_WAIT_MS 3000

static int read_mountinfo(char **text, kk_err_t *err) {
  size_t len = 0;
  return kk_read_file_at(AT_FDCWD, "/proc/self/mountinfo", MOUNTINFO_MAX, text, &len, err);
}

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static char *unescape(const char *s, size_t n) {
  char *out = kk_xzalloc(n + 1), *o = out;
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '\\' && i + 3 < n && s[i + 1] >= '0' && s[i + 1] <= '3') {
      *o++ = (char)((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
      i += 3;
    } else {
      *o++ = s[i];
    }
  }
  return out;
}

/* Field 5 of one mountinfo line: the mount point. */
static char *mount_point_of(const char *line, const char *end) {
  const char *p = line;
  for (int field = 0; field < 4; field++) {
    p = memchr(p, ' ', (size_t)(end - p));
    if (p == NULL)
      return NULL;
    p++;
  }
  const char *stop = memchr(p, ' ', (size_t)(end - p));
  return unescape(p, (size_t)((stop ? stop : end) - p));
}

static bool at_or_below(const char *path, const char *dir) {
  size_t n = strlen(dir);
  return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

static int deepest_first(const void *a, const void *b) {
  return strcmp(*(char *const *)b, *(char *const *)a);
}

/* Each mount of this process's view, in mountinfo's order (the last one
 * of a path is on top): fn gets its unescaped mount point and its line. */
typedef void (*mount_fn)(void *ctx, const char *mount_point, const char *line, const char *end);
static int each_mount(mount_fn fn, void *ctx, kk_err_t *err) {
  cleanup_free char *text = NULL;
  if (read_mountinfo(&text, err) < 0)
    return -1;
  for (const char *line = text; *line;) {
    const char *end = strchr(line, '\n');
    if (end == NULL)
      end = line + strlen(line);
    cleanup_free char *mp = mount_point_of(line, end);
    if (mp)
      fn(ctx, mp, line, end);
    line = *end ? end + 1 : end;
  }
  return 0;
}

struct below {
  const struct kk_strv *dirs;
  struct kk_strv *out;
};

static void collect_below(void *ctx, const char *mp, const char *line, const char *end) {
  struct below *b = ctx;
  for (size_t i = 0; i < b->dirs->n; i++)
    if (at_or_below(mp, b->dirs->v[i]) && !kk_strv_contains(b->out, mp)) {
      kk_strv_push(b->out, mp);
      return;
    }
}

int kk_ctl_mounts_below(const struct kk_strv *dirs, struct kk_strv *out, kk_err_t *err) {
  struct below b = {dirs, out};
  if (each_mount(collect_below, &b, err) < 0)
    return -1;
  /* Reverse order puts a/b/c before a/b: children unmount first. */
  if (out->n > 1)
    qsort(out->v, out->n, sizeof(*out->v), deepest_first);
  return 0;
}

struct state_of {
  const char *dir;
  bool *is_mount, *shared;
};

static void note_state(void *ctx, const char *mp, const char *line, const char *end) {
  struct state_of *st = ctx;
  if (!kk_streq(mp, st->dir))
    return;
  /* The last one listed is the one on top.  Its optional fields come
   * before " - "; no earlier field holds " shared:" (mountinfo escapes
   * spaces in paths). */
  const char *sep = memmem(line, (size_t)(end - line), " - ", 3);
  *st->is_mount = true;
  *st->shared = sep && memmem(line, (size_t)(sep - line), " shared:", 8) != NULL;
}

int kk_ctl_mount_state(const char *dir, bool *is_mount, bool *shared, kk_err_t *err) {
  *is_mount = *shared = false;
  struct state_of st = {dir, is_mount, shared};
  return each_mount(note_state, &st, err);
}

int kk_ctl_cg_dirs_all(const char *cgroup_root, const char *rel, struct kk_strv *out, kk_err_t *err) {
  cleanup_free char *text = NULL;
  if (read_mountinfo(&text, err) < 0)
    return -1;
  struct kk_cg_mounts m = {0};
  if (kk_cg_parse_mountinfo(text, &m, err) < 0)
    return -1;
  const char *root = cgroup_root[0] == '/' ? cgroup_root + 1 : cgroup_root;
  for (size_t i = 0; i < m.n; i++) {
    /* Only hierarchies mounted from their root: a mount of a subtree
     * (a container's view) holds no path of this host's tree. */
    if (strcmp(m.v[i].root, "/") != 0)
      continue;
    char *dir = kk_asprintf("%s/%s%s%s", m.v[i].mountpoint, root, *rel ? "/" : "", rel);
    if (access(dir, F_OK) == 0 && !kk_strv_contains(out, dir))
      kk_strv_push_owned(out, dir);
    else
      free(dir);
  }
  kk_cg_mounts_free(&m);
  return 0;
}

/* SIGKILL every process listed in dir/cgroup.procs; how many there were. */
static size_t kill_procs(const char *dir) {
  cleanup_free char *procs = kk_asprintf("%s/cgroup.procs", dir), *text = NULL;
  size_t len = 0, n = 0;
  kk_err_t e = NULL;
  if (kk_read_file_at(AT_FDCWD, procs, 1u << 20, &text, &len, &e) < 0) {
    kk_error_free(&e);
    return 0;
  }
  for (char *p = text, *next; *p; p = next) {
    long pid = strtol(p, &next, 10);
    if (next == p)
      break;
    if (pid > 1 && kill((pid_t)pid, SIGKILL) == 0)
      n++;
  }
  return n;
}

/* The directories of a cgroup tree, children before their parent. */
static void tree_post_order(const char *dir, struct kk_strv *out) {
  kk_err_t e = NULL;
  cleanup_dir DIR *d = kk_dir_open_at(AT_FDCWD, dir, &e);
  kk_error_free(&e);
  struct dirent *de;
  while (d && (de = readdir(d)) != NULL)
    if (de->d_type == DT_DIR && de->d_name[0] != '.') {
      cleanup_free char *sub = kk_asprintf("%s/%s", dir, de->d_name);
      tree_post_order(sub, out);
    }
  kk_strv_push(out, dir);
}

/* rmdir, retried while its last processes are still on their way out. */
static int rmdir_settled(const char *dir, kk_err_t *err) {
  int64_t deadline = kk_monotonic_ms() + CG_EMPTY_WAIT_MS;
  for (;;) {
    if (rmdir(dir) == 0 || errno == ENOENT)
      return 0;
    if (errno != EBUSY || kk_monotonic_ms() > deadline)
      return kk_error(err, errno, "rmdir %s", dir);
    kill_procs(dir);
    usleep(20000);
  }
}

int kk_ctl_cg_dir_purge(const char *path, kk_err_t *err) {
  /* cgroup2: one write kills the whole subtree; v1 and older kernels get
   * a kill per listed process, dir by dir. */
  cleanup_free char *kill_file = kk_asprintf("%s/cgroup.kill", path);
  cleanup_close int kfd = open(kill_file, O_WRONLY | O_CLOEXEC);
  if (kfd >= 0 && write(kfd, "1", 1) < 0)
    errno = 0; /* the per-process kills below still run */
  cleanup_strv struct kk_strv dirs = {0};
  tree_post_order(path, &dirs);
  for (size_t i = 0; i < dirs.n; i++)
    kill_procs(dirs.v[i]);
  for (size_t i = 0; i < dirs.n; i++)
    if (rmdir_settled(dirs.v[i], err) < 0)
      return -1;
  return 0;
}

/* Whether /proc/<pid>/cmdline is kukeon-monitor's for container id. */
static bool monitor_of(pid_t pid, const char *id) {
  char path[64];
  snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
  cleanup_free char *cmd = NULL;
  size_t len = 0;
  kk_err_t e = NULL;
  if (kk_read_file_at(AT_FDCWD, path, 64 * 1024, &cmd, &len, &e) < 0) {
    kk_error_free(&e);
    return false;
  }
  const char *argv0 = cmd, *base = strrchr(argv0, '/');
  if (strcmp(base ? base + 1 : argv0, "kukeon-monitor") != 0)
    return false;
  for (size_t off = strlen(cmd) + 1; off < len; off += strlen(cmd + off) + 1)
    if (strcmp(cmd + off, "--id") == 0) {
      size_t v = off + sizeof("--id");
      return v < len && strcmp(cmd + v, id) == 0;
    }
  return false;
}

int kk_ctl_monitor_kill(int dirfd, const char *id, pid_t *killed, kk_err_t *err) {
  *killed = 0;
  pid_t pid = kk_read_pid_at(dirfd, "monitor.pid");
  if (pid <= 0 || !kk_monitor_alive(dirfd))
    return 0;
  /* The pidfd pins the process: checked after it is open, the pid cannot
   * be another process's by the time the signal goes. */
  cleanup_close int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
  if (pfd < 0)
    return errno == ESRCH ? 0 : kk_error(err, errno, "pidfd_open %d", (int)pid);
  if (!monitor_of(pid, id))
    return 0;
  if (syscall(SYS_pidfd_send_signal, pfd, SIGKILL, NULL, 0) < 0 && errno != ESRCH)
    return kk_error(err, errno, "kill monitor %d", (int)pid);
  *killed = pid;
  return 0;
}

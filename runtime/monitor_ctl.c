/* The daemon's side of the per-container monitor: the monitor program
 * (runtime/monitor.c, built static into build/kukeon-monitor and carried
 * inside kukeon as kk_monitor_image), staged once as an executable file;
 * spawning it; reading what it recorded. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/fs.h"
#include "lib/util.h"
#include "runtime/monitor_int.h"
#include "runtime/runtime.h"

#define DEFAULT_LOG_MAX 10485760LL

/* runtime/monitor_image.S */
extern const unsigned char kk_monitor_image[], kk_monitor_image_end[];

static bool same_content(int fd, const void *want, size_t len) {
  struct stat st;
  if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (size_t)st.st_size != len || (st.st_mode & 0111) == 0)
    return false;
  if (len == 0)
    return true;
  void *have = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
  if (have == MAP_FAILED)
    return false;
  bool same = memcmp(have, want, len) == 0;
  munmap(have, len);
  return same;
}

/* On disk, not in the runtime dir: /run is often mounted noexec, and a
 * file in the page cache is shared by every monitor that maps it. */
int kk_monitor_stage(const char *run_path, char **exe, kk_err_t *err) {
  size_t len = (size_t)(kk_monitor_image_end - kk_monitor_image);
  cleanup_free char *dir = kk_asprintf("%s/bin", run_path);
  if (kk_mkdir_p(dir, 0755, err) < 0)
    return -1;
  cleanup_close int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    return kk_error(err, errno, "open %s", dir);
  cleanup_close int fd = openat(dfd, "kukeon-monitor", O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0 || !same_content(fd, kk_monitor_image, len)) {
    if (kk_write_file_atomic(dfd, "kukeon-monitor", kk_monitor_image, len, 0755, NULL, err) < 0)
      return kk_error_wrap(err, "stage the monitor in %s", dir);
  }
  *exe = kk_asprintf("%s/kukeon-monitor", dir);
  return 0;
}

/* The last "error" message runc wrote to its JSON log. */
static char *runc_error(const char *dir) {
  cleanup_free char *buf = NULL;
  kk_err_t err = NULL;
  cleanup_close int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0 || kk_read_file_at(dfd, "runc.log", 1 << 20, &buf, NULL, &err) < 0) {
    kk_error_free(&err);
    return kk_xstrdup("runc run failed (no log)");
  }
  char *msg = NULL;
  char *save = NULL;
  for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    json_t *j = json_loads(line, 0, NULL);
    const char *lvl = j ? json_string_value(json_object_get(j, "level")) : NULL;
    const char *text = j ? json_string_value(json_object_get(j, "msg")) : NULL;
    if (lvl && text && strcmp(lvl, "error") == 0) {
      free(msg);
      msg = kk_xstrdup(text);
    }
    json_decref(j);
  }
  return msg ? msg : kk_xstrdup("runc run failed");
}

/* The last run's exit record and init pid go before the new monitor is
 * started, not only once it runs: a daemon killed in between would leave
 * the next one reading the old exit for a container that is starting. */
static int forget_last_run(const char *dir, kk_err_t *err) {
  cleanup_close int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    return kk_error(err, errno, "open %s", dir);
  static const char *const files[] = {"exit", "pid"};
  for (size_t i = 0; i < KK_ARRAY_SIZE(files); i++)
    if (unlinkat(dfd, files[i], 0) < 0 && errno != ENOENT)
      return kk_error(err, errno, "remove %s/%s", dir, files[i]);
  return 0;
}

int kk_monitor_spawn(const struct kk_monitor_opts *o, pid_t *ctr_pid, kk_err_t *err) {
  if (forget_last_run(o->dir, err) < 0)
    return -1;
  int sync[2];
  if (pipe2(sync, O_CLOEXEC) < 0)
    return kk_error(err, errno, "pipe");
  cleanup_free char *log_max = kk_asprintf("%lld", o->log_max > 0 ? o->log_max : DEFAULT_LOG_MAX);
  cleanup_free char *errlog = kk_asprintf("%s/monitor.err", o->dir);
  const char *fixed[] = {"kukeon-monitor", "--daemonize", "--id", o->id, "--bundle", o->bundle, "--runc",
                         o->runc ? o->runc : "runc", "--runc-root", o->runc_root, "--dir", o->dir, "--log-max",
                         log_max, "--sync-fd", "3"};
  cleanup_strv struct kk_strv argv = {0};
  for (size_t i = 0; i < KK_ARRAY_SIZE(fixed); i++)
    kk_strv_push(&argv, fixed[i]);
  if (o->open_stdin)
    kk_strv_push(&argv, "--stdin");
  if (o->tty)
    kk_strv_push(&argv, "--tty");
  if (o->delete_on_exit)
    kk_strv_push(&argv, "--delete-on-exit");
  if (o->exit_notice) {
    kk_strv_push(&argv, "--exit-notice");
    kk_strv_push(&argv, o->exit_notice);
  }
  for (size_t i = 0; o->cgroups && i < o->cgroups->n; i++) {
    kk_strv_push(&argv, "--cgroup");
    kk_strv_push(&argv, o->cgroups->v[i]);
  }
  /* posix_spawn (vfork-like: the daemon's memory is not copied) of a
   * monitor in a session of its own, which forks once more and lets this
   * child exit, then enters o->cgroups before it runs runc: the monitor is
   * re-parented away from the daemon and out of its cgroups.  Nothing else
   * of the daemon's reaches it (or runc), even an fd a library opened
   * without O_CLOEXEC. */
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t at;
  posix_spawn_file_actions_init(&fa);
  posix_spawnattr_init(&at);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDWR, 0);
  posix_spawn_file_actions_adddup2(&fa, 0, 1);
  posix_spawn_file_actions_addopen(&fa, 2, errlog, O_WRONLY | O_CREAT | O_APPEND, 0640);
  posix_spawn_file_actions_adddup2(&fa, sync[1], 3); /* clears close-on-exec, even when already fd 3 */
  posix_spawn_file_actions_addclosefrom_np(&fa, 4);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&at, &none);
  posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK);
  pid_t child = 0;
  int rc = posix_spawn(&child, o->exe, &fa, &at, argv.v, environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&at);
  if (rc != 0) {
    close(sync[0]);
    close(sync[1]);
    return kk_error(err, rc, "start the monitor %s", o->exe);
  }
  close(sync[1]);
  int st = 0;
  while (waitpid(child, &st, 0) < 0 && errno == EINTR)
    ;
  char buf[4096];
  size_t got = 0;
  for (;;) {
    ssize_t r = read(sync[0], buf + got, sizeof(buf) - 1 - got);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0 || (got += (size_t)r) >= sizeof(buf) - 1)
      break;
  }
  close(sync[0]);
  buf[got] = '\0';
  buf[strcspn(buf, "\n")] = '\0';
  if (buf[0] == 'P' && atoi(buf + 1) > 0) {
    *ctr_pid = (pid_t)atoi(buf + 1);
    return 0;
  }
  if (buf[0] == 'R') {
    cleanup_free char *msg = runc_error(o->dir);
    return kk_error_kind(err, KK_ERR_INTERNAL, 0, "create container %s: %s", o->id, msg);
  }
  if (buf[0] == 'E')
    return kk_error_kind(err, KK_ERR_INTERNAL, 0, "create container %s: %s", o->id, buf + 2);
  return kk_error_kind(err, KK_ERR_INTERNAL, 0, "create container %s: the monitor exited without a word (see %s)",
                       o->id, errlog);
}

/* Whether process pid lives and is a monitor (it names itself with
 * PR_SET_NAME before it writes monitor.pid, so a recycled pid is told
 * apart); *start = its start time (field 22 of /proc/<pid>/stat).  A
 * zombie is not alive: the monitor is reparented to init, and not every
 * init reaps at once. */
static bool monitor_runs(pid_t pid, uint64_t *start) {
  char path[64], stat[512] = "";
  snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
  cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
  ssize_t n = fd >= 0 ? read(fd, stat, sizeof(stat) - 1) : -1;
  if (n <= 0)
    return false;
  stat[n] = '\0';
  /* "<pid> (<comm>) <state> <field 4> ... <field 22> ..." */
  const char *open_paren = strchr(stat, '('), *close_paren = strrchr(stat, ')');
  if (!open_paren || !close_paren || close_paren[1] != ' ' ||
      strncmp(open_paren + 1, "kukeon-monitor)", 15) != 0)
    return false;
  char state = close_paren[2];
  if (state == 'Z' || state == 'X' || state == 'x')
    return false;
  const char *f = close_paren + 2; /* field 3 */
  for (int field = 3; field < 22 && f; field++)
    if ((f = strchr(f, ' ')) != NULL)
      f++;
  *start = f ? strtoull(f, NULL, 10) : 0;
  return true;
}

bool kk_monitor_identify(int dirfd, struct kk_monitor_id *out) {
  out->pidfd = -1;
  out->pid = kk_read_pid_at(dirfd, "monitor.pid");
  return out->pid > 0 && monitor_runs(out->pid, &out->start);
}

/* The pid in <dir>/monitor.pid if that process is a live monitor, else 0. */
static pid_t live_monitor(int dirfd) {
  struct kk_monitor_id id;
  return kk_monitor_identify(dirfd, &id) ? id.pid : 0;
}

static bool same_monitor_runs(const struct kk_monitor_id *id) {
  uint64_t start;
  return id->pid > 0 && monitor_runs(id->pid, &start) && start == id->start;
}

bool kk_monitor_still_runs(const struct kk_monitor_id *id) {
  if (id->pidfd < 0)
    return same_monitor_runs(id);
  /* A pidfd polls readable once its process has exited (a zombie too). */
  struct pollfd p = {id->pidfd, POLLIN, 0};
  int n;
  while ((n = poll(&p, 1, 0)) < 0 && errno == EINTR)
    ;
  return n == 0;
}

bool kk_monitor_hold(struct kk_monitor_id *id) {
  if (id->pidfd >= 0)
    return true;
  int fd = (int)syscall(SYS_pidfd_open, id->pid, 0);
  if (fd < 0)
    return false;
  if (!same_monitor_runs(id)) {
    close(fd);
    return false;
  }
  id->pidfd = fd;
  return true;
}

void kk_monitor_release(struct kk_monitor_id *id) {
  if (id->pidfd >= 0)
    close(id->pidfd);
  id->pidfd = -1;
}

bool kk_monitor_alive(int dirfd) { return live_monitor(dirfd) > 0; }

bool kk_monitor_wait_gone(int dirfd, int timeout_ms) {
  pid_t pid = live_monitor(dirfd);
  if (pid <= 0)
    return true;
  /* Checked again once the pidfd is open: from then on it names that
   * process even if the pid is reused, and polls readable when it exits. */
  cleanup_close int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
  if (pfd < 0 || live_monitor(dirfd) != pid)
    return true;
  struct pollfd p = {pfd, POLLIN, 0};
  int n;
  while ((n = poll(&p, 1, timeout_ms)) < 0 && errno == EINTR)
    ;
  return n > 0;
}

bool kk_monitor_wait_exit(int dirfd, int timeout_ms) {
  int64_t deadline = kk_monotonic_ms() + timeout_ms;
  /* The monitor hangs its clients up once the exit file is written: one
   * client more wakes at that moment.  Without a slot (16 per monitor),
   * every 10 ms. */
  cleanup_close int sock = kk_attach_socket(dirfd);
  for (;;) {
    if (faccessat(dirfd, "exit", F_OK, 0) == 0 || !kk_monitor_alive(dirfd))
      return true;
    int64_t left = deadline - kk_monotonic_ms();
    if (left <= 0)
      return false;
    if (sock < 0)
      poll(NULL, 0, left < 10 ? (int)left : 10);
    else
      kk_attach_wake(&sock, left < 1000 ? (int)left : 1000);
  }
}

int kk_monitor_read_exit(int dirfd, struct kk_exit_record *out, kk_err_t *err) {
  cleanup_free char *buf = NULL;
  memset(out, 0, sizeof(*out));
  if (kk_read_file_at(dirfd, "exit", 4096, &buf, NULL, err) < 0) {
    if ((*err)->errnum == ENOENT) {
      kk_error_free(err);
      return 0; /* still running, or never started */
    }
    return -1;
  }
  json_t *j = json_loads(buf, 0, NULL);
  if (j == NULL)
    return kk_error_kind(err, KK_ERR_INTERNAL, 0, "corrupt exit record");
  out->exited = true;
  out->exit_code = (int)json_integer_value(json_object_get(j, "exitCode"));
  const char *sig = json_string_value(json_object_get(j, "signal"));
  snprintf(out->signal, sizeof(out->signal), "%s", sig ? sig : "");
  const char *when = json_string_value(json_object_get(j, "finishedAt"));
  if (when)
    kk_time_parse(when, &out->finished_at);
  json_decref(j);
  return 0;
}

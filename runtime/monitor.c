/* The per-container monitor (conmon's job): a small process between kukeond
 * and runc that outlives the daemon.  It is a child subreaper, runs
 * `runc create`, becomes the parent of the container's init, holds its
 * stdout/stderr, writes the log (CRI format, size-capped with one rotation),
 * records the exit, and serves attach clients on a unix socket.
 *
 * Files in the monitor's directory:
 *   monitor.pid   the monitor's pid
 *   pid           the container init's pid (runc --pid-file)
 *   log, log.1    "<RFC3339Nano> <stdout|stderr> <F|P> <text>" lines
 *   exit          {"exitCode":N,"signal":"SIGX","finishedAt":"..."} once it ended
 *   attach        unix socket: output bytes as they come (stream id byte 1/2 + length + data)
 *   runc.log      runc's own JSON log */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/flags.h"
#include "lib/fs.h"
#include "lib/util.h"
#include "runtime/runtime.h"

#define MAX_ATTACH 16
#define LINE_MAX_BYTES 16384
#define DRAIN_AFTER_EXIT_MS 1000

struct stream {
  int fd;          /* read end, -1 when closed */
  const char *name;
  char buf[LINE_MAX_BYTES];
  size_t len;
};

struct monitor {
  int dirfd;
  int log_fd;
  off_t log_size;
  off_t log_max;
  struct stream out, err;
  int listen_fd;
  int clients[MAX_ATTACH];
  pid_t ctr_pid;
  bool exited;
  int status;
};

/* ------------------------------------------------------------------ log */

static void timestamp(char buf[48]) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  size_t n = strftime(buf, 48, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(buf + n, 48 - n, ".%09ldZ", ts.tv_nsec);
}

static void rotate_if_needed(struct monitor *m, size_t incoming) {
  if (m->log_max <= 0 || m->log_size + (off_t)incoming <= m->log_max)
    return;
  /* Keep one generation: log -> log.1, a fresh log. */
  if (renameat(m->dirfd, "log", m->dirfd, "log.1") == 0) {
    int fd = openat(m->dirfd, "log", O_WRONLY | O_CREAT | O_APPEND | O_TRUNC | O_CLOEXEC, 0640);
    if (fd >= 0) {
      close(m->log_fd);
      m->log_fd = fd;
      m->log_size = 0;
    }
  }
}

static void log_line(struct monitor *m, const char *stream, bool partial, const char *text, size_t len) {
  char ts[48];
  timestamp(ts);
  char head[96];
  int hl = snprintf(head, sizeof(head), "%s %s %c ", ts, stream, partial ? 'P' : 'F');
  rotate_if_needed(m, (size_t)hl + len + 1);
  struct iovec iov[3] = {{head, (size_t)hl}, {(void *)text, len}, {"\n", 1}};
  ssize_t w = writev(m->log_fd, iov, 3);
  if (w > 0)
    m->log_size += w;
}

/* Forward raw bytes to attach clients: [stream id][4-byte BE length][data]. */
static void fan_out(struct monitor *m, int stream_id, const char *data, size_t len) {
  uint8_t hdr[5] = {(uint8_t)stream_id, (uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8), (uint8_t)len};
  for (int i = 0; i < MAX_ATTACH; i++) {
    if (m->clients[i] < 0)
      continue;
    if (send(m->clients[i], hdr, sizeof(hdr), MSG_NOSIGNAL | MSG_DONTWAIT) != (ssize_t)sizeof(hdr) ||
        send(m->clients[i], data, len, MSG_NOSIGNAL | MSG_DONTWAIT) != (ssize_t)len) {
      close(m->clients[i]); /* a slow or gone reader does not stall the container */
      m->clients[i] = -1;
    }
  }
}

static void read_stream(struct monitor *m, struct stream *s, int stream_id) {
  char chunk[8192];
  ssize_t r = read(s->fd, chunk, sizeof(chunk));
  if (r <= 0) {
    if (r < 0 && (errno == EINTR || errno == EAGAIN))
      return;
    if (s->len > 0)
      log_line(m, s->name, true, s->buf, s->len);
    s->len = 0;
    close(s->fd);
    s->fd = -1;
    return;
  }
  fan_out(m, stream_id, chunk, (size_t)r);
  for (ssize_t i = 0; i < r; i++) {
    if (chunk[i] == '\n') {
      log_line(m, s->name, false, s->buf, s->len);
      s->len = 0;
    } else {
      s->buf[s->len++] = chunk[i];
      if (s->len == sizeof(s->buf)) { /* a very long line: write it as partial */
        log_line(m, s->name, true, s->buf, s->len);
        s->len = 0;
      }
    }
  }
}

/* ----------------------------------------------------------------- exit */

static int write_exit(struct monitor *m) {
  char when[32];
  kk_time_format(kk_now(), when);
  json_t *j;
  if (WIFSIGNALED(m->status)) {
    const char *abbrev = sigabbrev_np(WTERMSIG(m->status));
    cleanup_free char *sig = kk_asprintf("SIG%s", abbrev ? abbrev : "UNKNOWN");
    j = json_pack("{s:i, s:s, s:s}", "exitCode", 128 + WTERMSIG(m->status), "signal", sig, "finishedAt", when);
  } else {
    j = json_pack("{s:i, s:s, s:s}", "exitCode", WEXITSTATUS(m->status), "signal", "", "finishedAt", when);
  }
  char *s = json_dumps(j, JSON_COMPACT);
  json_decref(j);
  kk_err_t err = NULL;
  int r = kk_write_file_atomic(m->dirfd, "exit", s, strlen(s), 0640, NULL, &err);
  free(s);
  kk_error_free(&err);
  return r;
}

/* -------------------------------------------------------------- attach */

static int listen_attach(int dirfd, const char *dir) {
  /* Bind through /proc/self/fd so long directory paths still fit sun_path. */
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/attach", dirfd);
  unlinkat(dirfd, "attach", 0);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0)
    return -1;
  mode_t old = umask(0177);
  int r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
  umask(old);
  if (r < 0 || listen(fd, 8) < 0) {
    close(fd);
    (void)dir;
    return -1;
  }
  return fd;
}

static void accept_attach(struct monitor *m) {
  int fd = accept4(m->listen_fd, NULL, NULL, SOCK_CLOEXEC);
  if (fd < 0)
    return;
  for (int i = 0; i < MAX_ATTACH; i++) {
    if (m->clients[i] < 0) {
      m->clients[i] = fd;
      return;
    }
  }
  close(fd);
}

/* --------------------------------------------------------------- runc */

/* The last "error" message runc wrote to its JSON log. */
static char *runc_error(int dirfd) {
  cleanup_free char *buf = NULL;
  kk_err_t err = NULL;
  if (kk_read_file_at(dirfd, "runc.log", 1 << 20, &buf, NULL, &err) < 0) {
    kk_error_free(&err);
    return kk_xstrdup("runc create failed (no log)");
  }
  char *msg = NULL;
  for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
    json_t *j = json_loads(line, 0, NULL);
    const char *lvl = j ? json_string_value(json_object_get(j, "level")) : NULL;
    const char *text = j ? json_string_value(json_object_get(j, "msg")) : NULL;
    if (lvl && text && strcmp(lvl, "error") == 0) {
      free(msg);
      msg = kk_xstrdup(text);
    }
    json_decref(j);
  }
  return msg ? msg : kk_xstrdup("runc create failed");
}

static void sync_send(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sync_send(int fd, const char *fmt, ...) {
  if (fd < 0)
    return;
  char buf[4096];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  if (n > (int)sizeof(buf) - 1)
    n = (int)sizeof(buf) - 1;
  (void)!write(fd, buf, (size_t)n);
}

int kk_monitor_main(int argc, char **argv) {
  const char *id = NULL, *bundle = NULL, *runc = "runc", *runc_root = NULL, *dir = NULL, *log_max = "10485760",
             *sync_fd_s = "-1";
  struct kk_flag flags[] = {
      {"id", 0, KK_FLAG_STRING, &id, "container id", false},
      {"bundle", 0, KK_FLAG_STRING, &bundle, "OCI bundle directory", false},
      {"runc", 0, KK_FLAG_STRING, &runc, "runc binary", false},
      {"runc-root", 0, KK_FLAG_STRING, &runc_root, "runc --root", false},
      {"dir", 0, KK_FLAG_STRING, &dir, "monitor directory (log, exit, attach)", false},
      {"log-max", 0, KK_FLAG_STRING, &log_max, "bytes before the log rotates", false},
      {"sync-fd", 0, KK_FLAG_STRING, &sync_fd_s, "fd to report the container pid or an error on", false},
  };
  struct kk_strv pos = {0};
  bool help = false;
  kk_err_t err = NULL;
  int sync_fd = -1;
  if (kk_flags_parse(flags, KK_ARRAY_SIZE(flags), NULL, 0, argc, argv, &pos, &help, &err) < 0 || !id || !bundle ||
      !runc_root || !dir) {
    fprintf(stderr, "kukeon-monitor: %s\n", err ? err->msg : "--id, --bundle, --runc-root and --dir are required");
    return 2;
  }
  kk_strv_free(&pos);
  sync_fd = atoi(sync_fd_s);
  struct monitor m = {.log_fd = -1, .listen_fd = -1, .out = {.fd = -1, .name = "stdout"}, .err = {.fd = -1, .name = "stderr"}};
  for (int i = 0; i < MAX_ATTACH; i++)
    m.clients[i] = -1;
  m.log_max = atoll(log_max);
  m.dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (m.dirfd < 0) {
    sync_send(sync_fd, "E open monitor directory %s: %s\n", dir, strerror(errno));
    return 1;
  }
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  prctl(PR_SET_NAME, "kukeon-monitor");
  signal(SIGPIPE, SIG_IGN);
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGCHLD);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGHUP);
  sigprocmask(SIG_BLOCK, &mask, NULL);
  int sfd = signalfd(-1, &mask, SFD_CLOEXEC);
  {
    cleanup_free char *pid = kk_asprintf("%d\n", (int)getpid());
    kk_write_file_atomic(m.dirfd, "monitor.pid", pid, strlen(pid), 0640, NULL, &err);
    kk_error_free(&err);
  }
  m.log_fd = openat(m.dirfd, "log", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  struct stat st;
  if (m.log_fd >= 0 && fstat(m.log_fd, &st) == 0)
    m.log_size = st.st_size;
  int po[2], pe[2];
  if (sfd < 0 || m.log_fd < 0 || pipe2(po, O_CLOEXEC) < 0 || pipe2(pe, O_CLOEXEC) < 0) {
    sync_send(sync_fd, "E monitor setup: %s\n", strerror(errno));
    return 1;
  }
  m.listen_fd = listen_attach(m.dirfd, dir);
  unlinkat(m.dirfd, "pid", 0);
  unlinkat(m.dirfd, "exit", 0);
  cleanup_free char *pid_file = kk_asprintf("%s/pid", dir);
  cleanup_free char *runc_log = kk_asprintf("%s/runc.log", dir);
  pid_t runc_pid = fork();
  if (runc_pid == 0) {
    sigprocmask(SIG_UNBLOCK, &mask, NULL);
    signal(SIGPIPE, SIG_DFL);
    int devnull = open("/dev/null", O_RDONLY);
    dup2(devnull, 0);
    dup2(po[1], 1);
    dup2(pe[1], 2);
    execlp(runc, runc, "--root", runc_root, "--log", runc_log, "--log-format", "json", "create", "--bundle", bundle,
           "--pid-file", pid_file, id, (char *)NULL);
    dprintf(2, "exec %s: %s\n", runc, strerror(errno));
    _exit(127);
  }
  close(po[1]);
  close(pe[1]);
  m.out.fd = po[0];
  m.err.fd = pe[0];
  if (runc_pid < 0) {
    sync_send(sync_fd, "E fork: %s\n", strerror(errno));
    return 1;
  }
  /* runc create returns once the container's init waits for `runc start`;
   * the init is our child from then on (subreaper). */
  int st_runc = 0;
  while (waitpid(runc_pid, &st_runc, 0) < 0 && errno == EINTR)
    ;
  if (!WIFEXITED(st_runc) || WEXITSTATUS(st_runc) != 0) {
    cleanup_free char *msg = runc_error(m.dirfd);
    sync_send(sync_fd, "E %s\n", msg);
    return 1;
  }
  cleanup_free char *pidbuf = NULL;
  if (kk_read_file_at(m.dirfd, "pid", 64, &pidbuf, NULL, &err) < 0 || atoi(pidbuf) <= 0) {
    sync_send(sync_fd, "E runc create wrote no pid file\n");
    kk_error_free(&err);
    return 1;
  }
  m.ctr_pid = (pid_t)atoi(pidbuf);
  sync_send(sync_fd, "P %d\n", (int)m.ctr_pid);
  if (sync_fd >= 0)
    close(sync_fd);
  /* From here on nothing talks to the daemon: it may come and go. */
  int64_t drain_deadline = -1;
  for (;;) {
    struct pollfd p[4] = {{m.out.fd, POLLIN, 0}, {m.err.fd, POLLIN, 0}, {sfd, POLLIN, 0}, {m.listen_fd, POLLIN, 0}};
    int timeout = -1;
    if (m.exited) {
      struct timespec now;
      clock_gettime(CLOCK_MONOTONIC, &now);
      int64_t left = drain_deadline - (now.tv_sec * 1000 + now.tv_nsec / 1000000);
      if ((m.out.fd < 0 && m.err.fd < 0) || left <= 0)
        break;
      timeout = (int)left;
    }
    int n = poll(p, 4, timeout);
    if (n < 0 && errno != EINTR)
      break;
    if (p[0].revents)
      read_stream(&m, &m.out, 1);
    if (p[1].revents)
      read_stream(&m, &m.err, 2);
    if (p[3].revents & POLLIN)
      accept_attach(&m);
    if (p[2].revents & POLLIN) {
      struct signalfd_siginfo si;
      if (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si) && si.ssi_signo == SIGCHLD) {
        int status;
        pid_t w;
        while ((w = waitpid(-1, &status, WNOHANG)) > 0) {
          if (w == m.ctr_pid && !m.exited) {
            m.exited = true;
            m.status = status;
            struct timespec now;
            clock_gettime(CLOCK_MONOTONIC, &now);
            drain_deadline = now.tv_sec * 1000 + now.tv_nsec / 1000000 + DRAIN_AFTER_EXIT_MS;
          }
        }
      }
      /* SIGTERM/SIGINT/SIGHUP: the monitor is not the way to stop a
       * container (runc kill is); it keeps watching. */
    }
  }
  if (m.out.len)
    log_line(&m, "stdout", true, m.out.buf, m.out.len);
  if (m.err.len)
    log_line(&m, "stderr", true, m.err.buf, m.err.len);
  fsync(m.log_fd);
  write_exit(&m);
  for (int i = 0; i < MAX_ATTACH; i++)
    if (m.clients[i] >= 0)
      close(m.clients[i]);
  unlinkat(m.dirfd, "attach", 0);
  return 0;
}

/* ------------------------------------------------------ the daemon side */

int kk_monitor_spawn(const struct kk_monitor_opts *o, pid_t *ctr_pid, kk_err_t *err) {
  int sync[2];
  if (pipe2(sync, O_CLOEXEC) < 0)
    return kk_error(err, errno, "pipe");
  /* Everything the child needs is prepared here: after fork() in a threaded
   * daemon only async-signal-safe calls are allowed. */
  cleanup_free char *log_max = kk_asprintf("%lld", o->log_max > 0 ? o->log_max : 10485760LL);
  cleanup_free char *errlog = kk_asprintf("%s/monitor.err", o->dir);
  const char *exe = o->exe ? o->exe : "/proc/self/exe";
  char *const argv[] = {"kukeon-monitor", "--id", (char *)o->id, "--bundle", (char *)o->bundle, "--runc",
                        (char *)(o->runc ? o->runc : "runc"), "--runc-root", (char *)o->runc_root, "--dir",
                        (char *)o->dir, "--log-max", log_max, "--sync-fd", "3", NULL};
  pid_t child = fork();
  if (child < 0) {
    int e = errno;
    close(sync[0]);
    close(sync[1]);
    return kk_error(err, e, "fork");
  }
  if (child == 0) {
    setsid();
    pid_t grand = fork();
    if (grand != 0)
      _exit(grand < 0 ? 1 : 0); /* the monitor is re-parented away from the daemon */
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    int elog = open(errlog, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    dup2(null, 0);
    dup2(null, 1);
    dup2(elog >= 0 ? elog : null, 2);
    dup2(sync[1], 3); /* dup2 clears close-on-exec on fd 3 */
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execv(exe, argv);
    _exit(127);
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
  if (buf[0] == 'E')
    return kk_error_kind(err, KK_ERR_INTERNAL, 0, "create container %s: %s", o->id, buf + 2);
  return kk_error_kind(err, KK_ERR_INTERNAL, 0, "create container %s: the monitor exited without a word (see %s)",
                       o->id, errlog);
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

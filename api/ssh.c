/* kukeond on another host, through ssh: each connection is one OpenSSH
 * client (the user's own, with their keys and configuration, BatchMode)
 * running `kuke system dial-stdio` there, which bridges its stdin and
 * stdout to that host's kukeond socket; this side talks kukeonv1 over a
 * socket pair to ssh's stdio.  When ssh or the remote kuke fails, what it
 * wrote on stderr becomes the one-line error. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "api/convert.h"
#include "lib/spawn.h"
#include "lib/util.h"

#define SSH_MAX 8          /* connections (ssh processes) one client opens */
#define STDERR_KEEP 8192
#define EXPLAIN_WAIT_MS 10000 /* for ssh to end once its connection failed */
#define REAP_WAIT_MS 2000

struct kk_ssh {
  struct kk_strv argv;
  char *where; /* ssh://..., for messages */
  pid_t pids[SSH_MAX];
  size_t n;
  int err_fd; /* stderr of the latest */
};

void kk_ssh_new(const char *const *argv, const char *where, struct kk_ssh **out) {
  struct kk_ssh *s = kk_xzalloc(sizeof(*s));
  for (size_t i = 0; argv[i]; i++)
    kk_strv_push(&s->argv, argv[i]);
  s->where = kk_xstrdup(where);
  s->err_fd = -1;
  *out = s;
}

/* Wait up to ms for pid; its exit status, or -1 while it runs. */
static int wait_pid(pid_t pid, int ms) {
  int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
  if (pfd >= 0) {
    struct pollfd p = {pfd, POLLIN, 0};
    poll(&p, 1, ms);
    close(pfd);
  }
  int st;
  pid_t r;
  while ((r = waitpid(pid, &st, WNOHANG)) < 0 && errno == EINTR)
    ;
  if (r != pid)
    return -1;
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int kk_ssh_dial(struct kk_ssh *s, kk_err_t *err) {
  if (s->n == SSH_MAX)
    return kk_error_kind(err, KK_ERR_INTERNAL, 0, "too many ssh connections to %s", s->where);
  int sp[2], pe[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
    return kk_error(err, errno, "socketpair");
  if (pipe2(pe, O_CLOEXEC) < 0) {
    close(sp[0]);
    close(sp[1]);
    return kk_error(err, errno, "pipe");
  }
  struct kk_spawn x = {.path = s->argv.v[0], .argv = s->argv.v, .search = true, .in = sp[1], .out = sp[1],
                       .err = pe[1]};
  pid_t pid;
  int rc = kk_spawn(&x, &pid);
  close(sp[1]);
  close(pe[1]);
  if (rc != 0) {
    close(sp[0]);
    close(pe[0]);
    if (rc == ENOENT)
      return kk_error_kind(err, KK_ERR_UNAVAILABLE, 0,
                           "cannot reach %s: %s not found on PATH (--host ssh:// runs the OpenSSH client; install "
                           "openssh-client, or name the command in KUKEON_SSH_COMMAND)",
                           s->where, s->argv.v[0]);
    return kk_error_kind(err, KK_ERR_UNAVAILABLE, rc, "cannot reach %s: run %s", s->where, s->argv.v[0]);
  }
  s->pids[s->n++] = pid;
  if (s->err_fd >= 0)
    close(s->err_fd);
  s->err_fd = pe[0];
  return sp[0];
}

/* The last line ssh (or the remote kuke) wrote, without an "Error: ". */
static char *last_line(int fd) {
  char buf[STDERR_KEEP + 1];
  size_t len = 0;
  ssize_t r;
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  while (len < STDERR_KEEP && (r = read(fd, buf + len, STDERR_KEEP - len)) > 0)
    len += (size_t)r;
  while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' '))
    len--;
  buf[len] = '\0';
  char *line = strrchr(buf, '\n');
  line = line ? line + 1 : buf;
  line[strcspn(line, "\r")] = '\0';
  if (kk_has_prefix(line, "Error: "))
    line += strlen("Error: ");
  return *line ? kk_xstrdup(line) : NULL;
}

void kk_ssh_explain(struct kk_ssh *s, kk_err_t *err) {
  if (s->n == 0 || s->err_fd < 0)
    return;
  int st = wait_pid(s->pids[s->n - 1], EXPLAIN_WAIT_MS);
  cleanup_free char *line = last_line(s->err_fd);
  if (st < 0 || (st == 0 && line == NULL))
    return;
  kk_error_free(err);
  if (st == 255)
    kk_error_kind(err, KK_ERR_UNAVAILABLE, 0, "ssh to %s failed: %s", s->where, line ? line : "exit status 255");
  else if (st == 127)
    kk_error_kind(err, KK_ERR_UNAVAILABLE, 0, "no kukeon on %s: `kuke system dial-stdio` was not found there (%s)",
                  s->where, line ? line : "exit status 127");
  else
    kk_error_kind(err, KK_ERR_UNAVAILABLE, 0, "%s: %s", s->where, line ? line : "the remote kuke failed");
}

void kk_ssh_free(struct kk_ssh *s) {
  if (s == NULL)
    return;
  /* Their connections are closed by now: each ssh sees EOF and ends. */
  for (size_t i = 0; i < s->n; i++) {
    if (wait_pid(s->pids[i], REAP_WAIT_MS) >= 0)
      continue;
    kill(s->pids[i], SIGTERM);
    if (wait_pid(s->pids[i], REAP_WAIT_MS) < 0) {
      kill(s->pids[i], SIGKILL);
      while (waitpid(s->pids[i], NULL, 0) < 0 && errno == EINTR)
        ;
    }
  }
  if (s->err_fd >= 0)
    close(s->err_fd);
  kk_strv_free(&s->argv);
  free(s->where);
  free(s);
}

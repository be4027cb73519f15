/* Running one CNI plugin: posix_spawn (safe from the daemon's threads)
 * with a clean environment, stdin fed and stdout/stderr drained together
 * under one deadline, the plugin's whole process group killed when it is
 * late, floods its output, or leaves children behind. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/spawn.h"
#include "lib/util.h"
#include "netns/internal.h"

#define ERROUT_MAX (64 * 1024)

struct sink {
  char *p;
  size_t n, max;
  bool overflow;
};

/* Read what is there; false at EOF or error (the stream is done). */
static bool sink_read(int fd, struct sink *s) {
  char chunk[16384];
  ssize_t r = read(fd, chunk, sizeof(chunk));
  if (r < 0 && (errno == EINTR || errno == EAGAIN))
    return true;
  if (r <= 0)
    return false;
  size_t take = (size_t)r;
  if (s->n + take > s->max) {
    s->overflow = true;
    take = s->max - s->n;
  }
  s->p = kk_xrealloc(s->p, s->n + take + 1);
  memcpy(s->p + s->n, chunk, take);
  s->n += take;
  s->p[s->n] = '\0';
  return true;
}

static int spawn_plugin(const struct kk_net_exec *x, int in, int out, int errfd, pid_t *pid) {
  struct kk_spawn s = {.path = x->bin, .argv = x->argv, .envp = x->env, .own_process_group = true,
                       .in = in, .out = out, .err = errfd};
  return kk_spawn(&s, pid);
}

struct run {
  int in, out, err, pidfd;
  size_t in_off;
  bool exited;
};

static void close_fd(int *fd) {
  if (*fd >= 0)
    close(*fd);
  *fd = -1;
}

static void feed_stdin(const struct kk_net_exec *x, struct run *r) {
  while (r->in_off < x->in_len) {
    ssize_t w = send(r->in, x->in + r->in_off, x->in_len - r->in_off, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      if (errno != EAGAIN)
        close_fd(&r->in); /* the plugin stopped reading */
      return;
    }
    r->in_off += (size_t)w;
  }
  close_fd(&r->in);
}

/* One poll round; false when the streams are done and the plugin exited. */
static bool pump(struct kk_net_exec *x, struct run *r, struct sink *o, struct sink *e, pid_t pid, int wait_ms) {
  struct pollfd p[4] = {{r->in, POLLOUT, 0}, {r->out, POLLIN, 0}, {r->err, POLLIN, 0}, {r->pidfd, POLLIN, 0}};
  if (poll(p, 4, wait_ms) < 0 && errno != EINTR)
    return false;
  if (r->in >= 0 && p[0].revents)
    feed_stdin(x, r);
  if (r->out >= 0 && p[1].revents && !sink_read(r->out, o))
    close_fd(&r->out);
  if (r->err >= 0 && p[2].revents && !sink_read(r->err, e))
    close_fd(&r->err);
  if (!r->exited && p[3].revents) {
    r->exited = true;
    kill(-pid, SIGKILL); /* children the plugin left would hold the pipes open */
  }
  return r->out >= 0 || r->err >= 0 || !r->exited;
}

static int wait_status(pid_t pid) {
  int st = 0;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
    ;
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int collect(struct kk_net_exec *x, struct run *r, pid_t pid, kk_err_t *err) {
  struct sink o = {NULL, 0, x->out_max, false}, e = {NULL, 0, ERROUT_MAX, false};
  int64_t deadline = kk_monotonic_ms() + x->timeout_ms;
  bool late = false;
  for (;;) {
    int64_t left = deadline - kk_monotonic_ms();
    if (left <= 0 || o.overflow) {
      late = left <= 0;
      break;
    }
    if (!pump(x, r, &o, &e, pid, (int)left))
      break;
  }
  bool killed = late || o.overflow;
  if (killed)
    kill(-pid, SIGKILL);
  x->status = wait_status(pid);
  x->out = o.p ? o.p : kk_xstrdup("");
  x->errout = e.p ? e.p : kk_xstrdup("");
  if (late)
    return kk_error_kind(err, KK_ERR_UNAVAILABLE, 0, "did not finish within %d ms (killed)", x->timeout_ms);
  if (o.overflow)
    return kk_error_kind(err, KK_ERR_INTERNAL, 0, "wrote more than %zu bytes on stdout (killed)", x->out_max);
  return 0;
}

static void close_pair(int p[2]) {
  close_fd(&p[0]);
  close_fd(&p[1]);
}

static int make_pipes(int in[2], int out[2], int errp[2], kk_err_t *err) {
  in[0] = in[1] = out[0] = out[1] = errp[0] = errp[1] = -1;
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in) == 0 && pipe2(out, O_CLOEXEC) == 0 &&
      pipe2(errp, O_CLOEXEC) == 0)
    return 0;
  int e = errno;
  close_pair(in);
  close_pair(out);
  close_pair(errp);
  return kk_error(err, e, "pipe");
}

int kk_net_exec_run(struct kk_net_exec *x, kk_err_t *err) {
  int in[2], out[2], errp[2];
  if (make_pipes(in, out, errp, err) < 0)
    return -1;
  pid_t pid;
  int rc = spawn_plugin(x, in[1], out[1], errp[1], &pid);
  close_fd(&in[1]);
  close_fd(&out[1]);
  close_fd(&errp[1]);
  struct run r = {in[0], out[0], errp[0], -1, 0, false};
  int ret;
  if (rc != 0) {
    ret = kk_error_kind(err, KK_ERR_UNAVAILABLE, rc, "cannot run %s", x->bin);
  } else if ((r.pidfd = pidfd_open(pid, 0)) < 0) {
    ret = kk_error(err, errno, "pidfd_open");
    kill(-pid, SIGKILL);
    wait_status(pid);
  } else {
    ret = collect(x, &r, pid, err);
  }
  close_fd(&r.in);
  close_fd(&r.out);
  close_fd(&r.err);
  close_fd(&r.pidfd);
  return ret;
}

void kk_net_exec_free(struct kk_net_exec *x) {
  free(x->out);
  free(x->errout);
  x->out = x->errout = NULL;
}

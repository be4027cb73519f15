/* kuke exec: a process in a running container, by `runc exec` in the
 * foreground.  runc joins the container's namespaces and cgroup and starts
 * from the process of its config.json (user, environment, capabilities,
 * no-new-privileges, seccomp, AppArmor), with the command, added
 * environment, user and directory asked for.  Its stdio is relayed as
 * stream frames (lib/stream.h) on a client's connection.
 *
 * With a terminal, runc gets the slave of a pty this side owns as its
 * controlling terminal (a foreground `runc exec -t` copies the container's
 * pty to a terminal of its own, and a console socket is only for
 * detached runs): a resize of our master reaches runc as SIGWINCH, which
 * runc passes on.  Without one, pipes.  Signal frames go to runc, which
 * forwards them to the process; its exit status is runc's. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "lib/spawn.h"
#include "lib/stream.h"
#include "lib/util.h"
#include "runtime/runtime.h"

#define STALL_MS 30000          /* a client that takes no output for this long is dropped */
#define DRAIN_MS 1000           /* output read after the exit (a background child may hold it) */
#define LEAVE_MS 5000           /* runc's time to end after a client left */
#define STDIN_QUEUE (1u << 20)  /* input queued for the process before the client is read again */

struct xs {
  int conn;
  int master;   /* tty: the pty master, input and output */
  int in;       /* no tty: the process's stdin pipe (-1: closed, or none) */
  int out[2];   /* no tty: stdout and stderr pipes */
  pid_t pid;
  int pidfd;
  bool exited;
  int code;
  struct kk_stream_parser ps; /* frames from the client */
  char *q;          /* input for the process */
  size_t qlen, qcap;
  bool eof_after_q; /* close stdin once q is written */
};

static void xs_close(struct xs *x) {
  int *fds[] = {&x->master, &x->in, &x->out[0], &x->out[1], &x->pidfd};
  for (size_t i = 0; i < KK_ARRAY_SIZE(fds); i++)
    if (*fds[i] >= 0) {
      close(*fds[i]);
      *fds[i] = -1;
    }
  free(x->q);
}

static int input_fd(const struct xs *x) { return x->master >= 0 ? x->master : x->in; }

/* --------------------------------------------------------------- start */

/* Raw from the start: runc makes its terminal raw only once it runs, and
 * input that came before (a ^D, a ^C) would be taken by this terminal's
 * line discipline instead of reaching the container's. */
static int open_pty(int *master, char **slave, kk_err_t *err) {
  *master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (*master < 0)
    return kk_error(err, errno, "open a pty");
  char name[128];
  if (grantpt(*master) < 0 || unlockpt(*master) < 0 || ptsname_r(*master, name, sizeof(name)) != 0)
    return kk_error(err, errno, "set up a pty");
  cleanup_close int fd = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
  struct termios t;
  if (fd < 0 || tcgetattr(fd, &t) < 0)
    return kk_error(err, errno, "open %s", name);
  cfmakeraw(&t);
  if (tcsetattr(fd, TCSANOW, &t) < 0)
    return kk_error(err, errno, "make %s raw", name);
  *slave = kk_xstrdup(name);
  return 0;
}

static void build_argv(const struct kk_exec_spec *s, struct kk_strv *a) {
  kk_strv_push(a, s->runc->bin ? s->runc->bin : "runc");
  kk_strv_push(a, "--root");
  kk_strv_push(a, s->runc->root);
  kk_strv_push(a, "exec");
  if (s->tty)
    kk_strv_push(a, "--tty");
  if (!kk_empty(s->user)) {
    kk_strv_push(a, "--user");
    kk_strv_push(a, s->user);
  }
  if (!kk_empty(s->cwd)) {
    kk_strv_push(a, "--cwd");
    kk_strv_push(a, s->cwd);
  }
  for (size_t i = 0; s->env && i < s->env->n; i++) {
    kk_strv_push(a, "--env");
    kk_strv_push(a, s->env->v[i]);
  }
  kk_strv_push(a, s->id); /* runc reads no flag after it: the command follows as is */
  for (size_t i = 0; i < s->argv->n; i++)
    kk_strv_push(a, s->argv->v[i]);
}

static int spawn_pipes(struct xs *x, const struct kk_spawn *sp, bool interactive, kk_err_t *err) {
  int pin[2] = {-1, -1}, po[2], pe[2];
  if ((interactive && pipe2(pin, O_CLOEXEC) < 0) || pipe2(po, O_CLOEXEC) < 0)
    return kk_error(err, errno, "pipe");
  if (pipe2(pe, O_CLOEXEC) < 0) {
    close(po[0]);
    close(po[1]);
    return kk_error(err, errno, "pipe");
  }
  struct kk_spawn s = *sp;
  s.in = pin[0];
  s.out = po[1];
  s.err = pe[1];
  int rc = kk_spawn(&s, &x->pid);
  int child_ends[] = {pin[0], po[1], pe[1]};
  for (size_t i = 0; i < 3; i++)
    if (child_ends[i] >= 0)
      close(child_ends[i]);
  x->in = pin[1];
  x->out[0] = po[0];
  x->out[1] = pe[0];
  return rc == 0 ? 0 : kk_error_kind(err, KK_ERR_UNAVAILABLE, rc, "cannot run %s", sp->path);
}

static int start(struct xs *x, const struct kk_exec_spec *s, kk_err_t *err) {
  cleanup_strv struct kk_strv argv = {0};
  build_argv(s, &argv);
  struct kk_spawn sp = {.path = argv.v[0], .argv = argv.v, .search = true, .in = -1};
  if (s->tty) {
    cleanup_free char *slave = NULL;
    if (open_pty(&x->master, &slave, err) < 0)
      return -1;
    sp.ctty = slave;
    int rc = kk_spawn(&sp, &x->pid);
    if (rc != 0)
      return kk_error_kind(err, KK_ERR_UNAVAILABLE, rc, "cannot run %s", sp.path);
  } else if (spawn_pipes(x, &sp, s->interactive, err) < 0) {
    return -1;
  }
  x->pidfd = (int)syscall(SYS_pidfd_open, x->pid, 0);
  if (x->pidfd < 0)
    return kk_error(err, errno, "pidfd_open");
  int fds[] = {x->master, x->in, x->out[0], x->out[1]};
  for (size_t i = 0; i < KK_ARRAY_SIZE(fds); i++)
    if (fds[i] >= 0)
      fcntl(fds[i], F_SETFL, fcntl(fds[i], F_GETFL) | O_NONBLOCK);
  return 0;
}

/* ----------------------------------------------------- client -> process */

static void enqueue(struct xs *x, const uint8_t *p, size_t n) {
  if (x->qlen + n > x->qcap) {
    x->qcap = x->qlen + n > 8192 ? (x->qlen + n) * 2 : 8192;
    x->q = kk_xrealloc(x->q, x->qcap);
  }
  memcpy(x->q + x->qlen, p, n);
  x->qlen += n;
}

static int from_client(void *ctx, enum kk_stream_id id, const uint8_t *p, size_t n, kk_err_t *err) {
  struct xs *x = ctx;
  if (id == KK_STREAM_STDIN && n == 0 && x->master < 0) { /* EOF; a terminal gets ^D instead */
    x->eof_after_q = true;
  } else if (id == KK_STREAM_STDIN && n > 0 && input_fd(x) >= 0) {
    enqueue(x, p, n);
  } else if (id == KK_STREAM_RESIZE && x->master >= 0) {
    struct winsize ws = {.ws_row = (unsigned short)(p[0] << 8 | p[1]), .ws_col = (unsigned short)(p[2] << 8 | p[3])};
    ioctl(x->master, TIOCSWINSZ, &ws); /* runc, its session's leader, gets SIGWINCH */
  } else if (id == KK_STREAM_SIGNAL && p[0] >= 1 && p[0] <= 64 && !x->exited) {
    kill(x->pid, p[0]); /* runc forwards it to the process */
  } /* other ids, and input nobody reads: skipped */
  return 0;
}

static void flush_input(struct xs *x) {
  int fd = input_fd(x);
  if (fd >= 0 && x->qlen > 0) {
    ssize_t w = write(fd, x->q, x->qlen);
    if (w > 0) {
      memmove(x->q, x->q + w, x->qlen - (size_t)w);
      x->qlen -= (size_t)w;
    } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
      x->qlen = 0; /* the process closed its stdin */
    }
  }
  if (x->in >= 0 && x->qlen == 0 && x->eof_after_q) {
    close(x->in);
    x->in = -1;
  }
}

/* ----------------------------------------------------- process -> client */

/* Read one output fd; EOF (or EIO: the pty's last holder left) closes it. */
static int to_client(struct xs *x, int *fd, enum kk_stream_id id, kk_err_t *err) {
  char buf[32768];
  ssize_t n = read(*fd, buf, sizeof(buf));
  if (n < 0 && (errno == EAGAIN || errno == EINTR))
    return 0;
  if (n <= 0) {
    close(*fd);
    *fd = -1;
    return 0;
  }
  return kk_stream_write(x->conn, id, buf, (size_t)n, STALL_MS, err);
}

/* The pidfd said runc ended. */
static void reap(struct xs *x) {
  int st = 0;
  while (waitpid(x->pid, &st, 0) < 0 && errno == EINTR)
    ;
  x->exited = true;
  x->code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* The client left: hang up on the process as a closed terminal would, and
 * give runc a moment to end before it is killed (what it started may stay
 * in the container, as after docker exec). */
static void client_left(struct xs *x) {
  if (!x->exited)
    kill(x->pid, SIGHUP);
  if (x->master >= 0) {
    close(x->master);
    x->master = -1;
  }
  struct pollfd p = {x->pidfd, POLLIN, 0};
  if (!x->exited && poll(&p, 1, LEAVE_MS) <= 0)
    kill(x->pid, SIGKILL);
  while (waitpid(x->pid, NULL, 0) < 0 && errno == EINTR)
    ;
  x->exited = true;
}

/* ---------------------------------------------------------------- loop */

enum { PX_CONN, PX_IN, PX_OUT, PX_ERR, PX_PID, PX_N };

static void poll_set(struct xs *x, struct pollfd *p) {
  int in = input_fd(x);
  p[PX_CONN] = (struct pollfd){x->qlen < STDIN_QUEUE ? x->conn : -1, POLLIN | POLLRDHUP, 0};
  p[PX_IN] = (struct pollfd){in >= 0 && x->qlen > 0 && in != x->master ? in : -1, POLLOUT, 0};
  p[PX_OUT] = (struct pollfd){x->master >= 0 ? x->master : x->out[0], POLLIN, 0};
  if (x->master >= 0 && x->qlen > 0)
    p[PX_OUT].events |= POLLOUT;
  p[PX_ERR] = (struct pollfd){x->out[1], POLLIN, 0};
  p[PX_PID] = (struct pollfd){x->exited ? -1 : x->pidfd, POLLIN, 0};
}

static bool output_open(const struct xs *x) { return x->master >= 0 || x->out[0] >= 0 || x->out[1] >= 0; }

/* 1: the process ended and its output is out; 0: the client left. */
static int relay(struct xs *x, kk_err_t *err) {
  int64_t drain_until = -1;
  uint8_t buf[32768];
  while (output_open(x) || !x->exited) {
    struct pollfd p[PX_N];
    poll_set(x, p);
    int64_t left = drain_until < 0 ? -1 : drain_until - kk_monotonic_ms();
    if (drain_until >= 0 && left <= 0)
      break;
    if (poll(p, PX_N, (int)left) < 0) {
      if (errno == EINTR)
        continue;
      return kk_error(err, errno, "poll");
    }
    if (p[PX_CONN].revents) {
      ssize_t n = recv(x->conn, buf, sizeof(buf), MSG_DONTWAIT);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
        return 0;
      if (n > 0 && kk_stream_parse(&x->ps, buf, (size_t)n, from_client, x, err) < 0)
        return -1;
    }
    if ((p[PX_IN].revents | p[PX_OUT].revents) & POLLOUT || x->eof_after_q)
      flush_input(x);
    if (p[PX_OUT].revents & (POLLIN | POLLHUP | POLLERR)) {
      int *fd = x->master >= 0 ? &x->master : &x->out[0];
      if (to_client(x, fd, KK_STREAM_STDOUT, err) < 0)
        return 0;
    }
    if (p[PX_ERR].revents && to_client(x, &x->out[1], KK_STREAM_STDERR, err) < 0)
      return 0;
    if (p[PX_PID].revents) {
      reap(x);
      drain_until = kk_monotonic_ms() + DRAIN_MS;
    }
  }
  return 1;
}

int kk_exec_session(const struct kk_exec_spec *s, int conn, kk_err_t *err) {
  struct xs x KK_CLEANUP(xs_close) = {.conn = conn, .master = -1, .in = -1, .out = {-1, -1}, .pidfd = -1, .pid = -1};
  if (start(&x, s, err) < 0) {
    if (x.pid > 0)
      client_left(&x);
    return -1;
  }
  int r = relay(&x, err);
  if (r <= 0) {
    client_left(&x);
    return r;
  }
  uint8_t b[KK_STREAM_EXIT_LEN];
  kk_stream_exit_encode(b, true, x.code);
  return kk_stream_write(conn, KK_STREAM_EXIT, b, sizeof(b), STALL_MS, err);
}

/* The client side of a monitor's attach socket (`kuke attach`): relays the
 * caller's terminal or pipes to the container.  The frame format is at the
 * top of runtime/monitor.c. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "lib/fs.h"
#include "lib/stream.h"
#include "lib/util.h"
#include "runtime/monitor_int.h"
#include "runtime/runtime.h"

#define DETACH_KEY 0x1d /* Ctrl-] */
#define SEND_MAX 65536  /* queued for the socket before input is read again */


struct session {
  int sock;
  int in_fd, out_fd, err_fd;
  bool keys;   /* in_fd is a terminal: watch for the detach keys */
  bool escape; /* the last input byte was a first Ctrl-] */
  int winsz_fd; /* where the window size is read, -1: none sent */
  char *sendbuf;
  size_t slen, scap;
  struct kk_stream_parser ps; /* frames from the monitor or kukeond */
  bool forward_signals;
  struct kk_attach_exit *exit; /* NULL: exit frames are not expected */
};

static void queue(struct session *s, const void *data, size_t len) {
  if (s->slen + len > s->scap) {
    size_t cap = s->scap ? s->scap : 8192;
    while (cap < s->slen + len)
      cap *= 2;
    s->sendbuf = kk_xrealloc(s->sendbuf, cap);
    s->scap = cap;
  }
  memcpy(s->sendbuf + s->slen, data, len);
  s->slen += len;
}

static void queue_frame(struct session *s, int stream, const void *data, size_t len) {
  uint8_t hdr[KK_STREAM_HDR];
  kk_stream_hdr(hdr, (enum kk_stream_id)stream, (uint32_t)len);
  queue(s, hdr, sizeof(hdr));
  if (len > 0)
    queue(s, data, len);
}

static void queue_winsize(struct session *s) {
  struct winsize ws;
  if (s->winsz_fd < 0 || ioctl(s->winsz_fd, TIOCGWINSZ, &ws) < 0 || ws.ws_row == 0 || ws.ws_col == 0)
    return;
  uint8_t b[4] = {(uint8_t)(ws.ws_row >> 8), (uint8_t)ws.ws_row, (uint8_t)(ws.ws_col >> 8), (uint8_t)ws.ws_col};
  queue_frame(s, KK_STREAM_RESIZE, b, sizeof(b));
}

/* Send what is queued without blocking; < 0 when the monitor is gone. */
static int send_queued(struct session *s) {
  while (s->slen > 0) {
    ssize_t w = send(s->sock, s->sendbuf, s->slen, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      return errno == EAGAIN ? 0 : -1;
    }
    memmove(s->sendbuf, s->sendbuf + w, s->slen - (size_t)w);
    s->slen -= (size_t)w;
  }
  return 0;
}

/* Before leaving on a detach: what was typed before the keys goes out
 * (waiting at most a second for the socket). */
static void send_rest(struct session *s) {
  int64_t deadline = kk_monotonic_ms() + 1000;
  while (s->slen > 0) {
    if (send_queued(s) < 0 || s->slen == 0)
      return;
    struct pollfd p = {s->sock, POLLOUT, 0};
    int64_t left = deadline - kk_monotonic_ms();
    if (left <= 0 || poll(&p, 1, (int)left) <= 0)
      return;
  }
}

/* Input bytes, minus the detach keys; true when they were typed. */
static bool input(struct session *s, const char *buf, size_t len) {
  char out[4096 + 1];
  size_t n = 0;
  bool detach = false;
  for (size_t i = 0; i < len; i++) {
    unsigned char b = (unsigned char)buf[i];
    if (s->escape) {
      s->escape = false;
      if (b == DETACH_KEY) {
        detach = true;
        break;
      }
      out[n++] = DETACH_KEY; /* a lone Ctrl-] goes through */
    } else if (b == DETACH_KEY && s->keys) {
      s->escape = true;
      continue;
    }
    out[n++] = (char)b;
    if (n >= sizeof(out) - 1) {
      queue_frame(s, KK_STREAM_STDIN, out, n);
      n = 0;
    }
  }
  if (n > 0)
    queue_frame(s, KK_STREAM_STDIN, out, n);
  return detach;
}

static int output_piece(void *ctx, enum kk_stream_id id, const uint8_t *p, size_t n, kk_err_t *err) {
  struct session *s = ctx;
  if (id == KK_STREAM_EXIT) {
    if (s->exit == NULL)
      return kk_error_kind(err, KK_ERR_INTERNAL, 0, "unexpected exit frame from the monitor");
    s->exit->got = kk_stream_exit_decode(p, n, &s->exit->ended, &s->exit->code);
    return 0;
  }
  int fd = id == KK_STREAM_STDOUT ? s->out_fd : id == KK_STREAM_STDERR ? s->err_fd : -1;
  if (fd >= 0 && n > 0 && kk_write_all(fd, p, n) < 0)
    return kk_error(err, errno, "write the container's output");
  return 0;
}

/* Output frames from the monitor (or kukeond) to out_fd/err_fd. */
static int output(struct session *s, const uint8_t *buf, size_t len, kk_err_t *err) {
  return kk_stream_parse(&s->ps, buf, len, output_piece, s, err);
}

int kk_attach_socket(int dirfd) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  (void)kk_proc_fd_path(sa.sun_path, sizeof(sa.sun_path), dirfd, "attach"); /* always fits */
  if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  return fd;
}

bool kk_attach_wake(int *sock, int timeout_ms) {
  struct pollfd p = {*sock, POLLIN, 0};
  if (poll(&p, 1, timeout_ms) <= 0)
    return false;
  /* What came is only a sign: the same bytes are in the log.  At most
   * 256 KiB a call, so a chatty container does not keep the caller here. */
  char buf[4096];
  ssize_t n;
  size_t seen = 0;
  while ((n = recv(*sock, buf, sizeof(buf), MSG_DONTWAIT)) > 0 && (seen += (size_t)n) < (256u << 10))
    ;
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
    close(*sock);
    *sock = -1;
  }
  return true;
}

static int connect_attach(const char *monitor_dir, int dirfd, kk_err_t *err) {
  int fd = kk_attach_socket(dirfd);
  if (fd < 0) {
    if (errno == ENOENT || errno == ECONNREFUSED)
      return kk_error_kind(err, KK_ERR_UNAVAILABLE, 0, "the container is not running (nothing listens on %s/attach)",
                           monitor_dir);
    return kk_error(err, errno, "connect to %s/attach", monitor_dir);
  }
  return fd;
}

static int relay(struct session *s, int sfd, kk_err_t *err) {
  bool in_open = s->in_fd >= 0;
  uint8_t buf[32768];
  for (;;) {
    if (send_queued(s) < 0)
      return KK_ATTACH_ENDED; /* the monitor went away; its EOF follows */
    struct pollfd p[3] = {
        {in_open && s->slen < SEND_MAX ? s->in_fd : -1, POLLIN, 0},
        {s->sock, (short)(POLLIN | (s->slen > 0 ? POLLOUT : 0)), 0},
        {sfd, POLLIN, 0},
    };
    if (poll(p, 3, -1) < 0) {
      if (errno == EINTR)
        continue;
      return kk_error(err, errno, "poll");
    }
    if (p[2].revents & POLLIN) {
      struct signalfd_siginfo si;
      while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        if (si.ssi_signo == SIGWINCH) {
          queue_winsize(s);
        } else if (s->forward_signals) {
          uint8_t signo = (uint8_t)si.ssi_signo;
          queue_frame(s, KK_STREAM_SIGNAL, &signo, 1);
        } else {
          return KK_ATTACH_SIGNALED;
        }
      }
    }
    if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t r = recv(s->sock, buf, sizeof(buf), MSG_DONTWAIT);
      if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
        return KK_ATTACH_ENDED;
      if (r > 0 && output(s, buf, (size_t)r, err) < 0)
        return -1;
    }
    if (p[0].revents) {
      ssize_t r = read(s->in_fd, buf, 4096);
      if (r < 0 && (errno == EINTR || errno == EAGAIN))
        continue;
      if (r <= 0) { /* EOF (or a terminal that hung up) */
        in_open = false;
        if (s->escape) {
          uint8_t k = DETACH_KEY;
          queue_frame(s, KK_STREAM_STDIN, &k, 1);
          s->escape = false;
        }
        queue_frame(s, KK_STREAM_STDIN, NULL, 0);
        continue;
      }
      if (input(s, (const char *)buf, (size_t)r)) {
        send_rest(s);
        return KK_ATTACH_DETACHED;
      }
    }
  }
}

int kk_attach_open(const char *monitor_dir, kk_err_t *err) {
  cleanup_close int dirfd = open(monitor_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (dirfd < 0)
    return kk_error_kind(err, errno == ENOENT ? KK_ERR_NOT_FOUND : KK_ERR_INTERNAL, errno, "open %s", monitor_dir);
  return connect_attach(monitor_dir, dirfd, err);
}

int kk_attach_session(int sock, int in_fd, int out_fd, int err_fd, const struct kk_attach_opts *o,
                      struct kk_attach_exit *exit, kk_err_t *err) {
  bool tty = o->tty;
  struct session s = {.sock = sock, .in_fd = in_fd, .out_fd = out_fd, .err_fd = err_fd >= 0 ? err_fd : out_fd,
                      .winsz_fd = -1, .forward_signals = o->forward_signals, .exit = exit};
  if (exit)
    *exit = (struct kk_attach_exit){0};
  /* The monitor's socket may come from kukeond (SCM_RIGHTS) blocking. */
  fcntl(sock, F_SETFL, fcntl(sock, F_GETFL) | O_NONBLOCK);
  bool in_term = in_fd >= 0 && isatty(in_fd);
  s.keys = in_term;
  if (tty)
    s.winsz_fd = in_term ? in_fd : isatty(out_fd) ? out_fd : -1;
  sigset_t mask, old;
  sigemptyset(&mask);
  sigaddset(&mask, SIGWINCH);
  if (in_fd >= 0 || o->forward_signals) { /* an output-only session (a log) dies of them as before */
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGHUP);
  }
  sigprocmask(SIG_BLOCK, &mask, &old);
  int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
  int ret;
  if (sfd < 0) {
    ret = kk_error(err, errno, "signalfd");
  } else {
    struct termios saved;
    bool raw = false;
    if (tty && in_term && tcgetattr(in_fd, &saved) == 0) {
      struct termios t = saved;
      cfmakeraw(&t);
      raw = tcsetattr(in_fd, TCSANOW, &t) == 0;
    }
    queue_winsize(&s);
    ret = relay(&s, sfd, err);
    if (raw)
      tcsetattr(in_fd, TCSADRAIN, &saved);
    close(sfd);
  }
  sigprocmask(SIG_SETMASK, &old, NULL);
  free(s.sendbuf);
  return ret;
}

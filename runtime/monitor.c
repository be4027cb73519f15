/* The per-container monitor (conmon's job): a small process between kukeond
 * and runc that outlives the daemon.  It is a child subreaper, runs
 * `runc run --detach`, becomes the parent of the container's init, holds
 * its stdio, writes the log (CRI format, size-capped with one rotation),
 * serves attach clients on a unix socket, and once the init has died
 * records the exit and exits.  runc's record of the container stays
 * ("stopped") until kukeon drops it; with --delete-on-exit (a container
 * without a pid namespace of its own) the monitor runs `runc delete` first,
 * which kills what the init left behind in its cgroup.
 *
 * Started with --daemonize by kukeond in a session of its own, it forks
 * once more and, before it runs runc, moves itself into the cgroups it is
 * given (--cgroup, a leaf of its cell's in every hierarchy): neither the
 * daemon's cgroup (stopping or killing the kukeond cell) nor its session,
 * process group or death reaches it, and a daemon that comes back adopts
 * it.
 *
 * This file is the whole monitor program: it is linked on its own, static,
 * into build/kukeon-monitor (runtime/monitor/main.c), and that image rides
 * inside kukeon (monitor_ctl.c stages it).  So it uses libc and lib/ only:
 * every page it maps is its own, well under 1 MiB resident.
 *
 * Files in the monitor's directory:
 *   monitor.pid   the monitor's pid
 *   pid           the container init's pid (runc --pid-file)
 *   log, log.1    "<RFC3339Nano> <stdout|stderr> <F|P> <text>" lines; P = the
 *                 text continues in the stream's next line (no newline yet).
 *                 When log would pass log_max bytes it becomes log.1 (one
 *                 generation is kept) and a fresh log starts.
 *   exit          {"exitCode":N,"signal":"SIGX","finishedAt":"..."} once it ended
 *   attach        unix stream socket for attach clients (gone once it ended)
 *   console.sock  only while `runc run` starts a terminal container
 *   runc.log      runc's own JSON log
 * and, with --exit-notice, one file elsewhere made (empty) once all is done:
 * kukeond watches the folder of those to act on an exit when it happens.
 *
 * Terminal containers (--tty: config.json has process.terminal): runc gets
 * --console-socket and sends the pty master back over SCM_RIGHTS; the master
 * is the container's output (logged as "stdout") and its input.  Other
 * containers get pipes for stdout and stderr, and for stdin a pipe the
 * monitor holds (--stdin) or /dev/null.
 *
 * Attach frames, both directions on the attach socket:
 *   [1 byte stream id][4-byte big-endian payload length][payload]
 *   monitor -> client:
 *     1  stdout bytes (all output of a terminal container)
 *     2  stderr bytes
 *   client -> monitor:
 *     0  stdin bytes: written to the pty master, or to the stdin pipe.  A
 *        zero-length stdin frame is EOF: the stdin pipe is closed once what
 *        came before is written (ignored for a terminal: send ^D instead).
 *        Without a terminal or a stdin pipe the bytes are dropped.
 *     3  resize, 4 bytes: rows, cols (each 16-bit big-endian) -> TIOCSWINSZ
 *   Unknown stream ids are skipped; a payload over 64 KiB, or a resize that
 *   is not 4 bytes, ends that client.  Output is sent to every client as it
 *   comes; a client more than 1 MiB behind is disconnected (the container is
 *   never slowed by a reader).  Output is in the log before any client gets
 *   it, so log followers (kuke log -f, kuke run) connect too and take a
 *   readable socket as "read the log again" (16 clients at most, followers
 *   included).  When the container has ended and its output is drained, the
 *   monitor writes the exit file, removes the socket, sends what is pending
 *   and closes every client (a client that sees EOF, or can no longer
 *   connect, can read the exit file), and exits. */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "lib/flags.h"
#include "lib/fs.h"
#include "lib/util.h"
#include "runtime/monitor_int.h"
#include "runtime/runtime.h"

#define MAX_CLIENTS 16
#define READ_CHUNK 32768          /* one read of container output */
#define CLIENT_BACKLOG_MAX (1 << 20)
#define STDIN_BUF 8192            /* input waiting for the container to read it */
#define FRAME_MAX 65536
#define LOG_IOV 240               /* iovecs per log writev (3 per line at most) */
#define DRAIN_AFTER_EXIT_MS 1000
#define TTY_HUP_RETRY_MS 100

enum { ST_STDIN = 0, ST_STDOUT = 1, ST_STDERR = 2, ST_RESIZE = 3 };

struct source {
  int fd; /* -1 when closed */
  const char *name;
  int id;
  bool tty;
  bool hup; /* tty master with no slave open right now: retry later */
};

struct client {
  int fd; /* -1: free slot */
  uint8_t hdr[5];
  size_t hdr_got;
  uint32_t left; /* payload bytes of the current frame still to come */
  uint8_t resize[4];
  size_t resize_got;
  char *backlog; /* output the socket did not take yet */
  size_t blen, bcap;
};

struct monitor {
  int dirfd;
  int log_fd;
  off_t log_size;
  off_t log_max;
  struct source out, err;
  bool tty;
  int master;    /* the pty master (terminal containers), for resizes */
  int in_fd;     /* where stdin frames go: a dup of the master, or the stdin pipe */
  char *inbuf;   /* STDIN_BUF bytes, allocated on first input */
  size_t inlen;
  bool in_eof;   /* close in_fd once inbuf is written */
  int listen_fd;
  struct client clients[MAX_CLIENTS];
  pid_t ctr_pid;
  bool exited;
  int status;
};

static void close_fd(int *fd) {
  if (*fd >= 0)
    close(*fd);
  *fd = -1;
}

/* ------------------------------------------------------------------ log */

static void timestamp(char buf[48]) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  size_t n = strftime(buf, 48, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(buf + n, 48 - n, ".%09ldZ", ts.tv_nsec);
}

static void rotate(struct monitor *m) {
  /* Keep one generation: log -> log.1, a fresh log. */
  if (renameat(m->dirfd, "log", m->dirfd, "log.1") < 0)
    return;
  int fd = openat(m->dirfd, "log", O_WRONLY | O_CREAT | O_APPEND | O_TRUNC | O_CLOEXEC, 0640);
  if (fd >= 0) {
    close(m->log_fd);
    m->log_fd = fd;
    m->log_size = 0;
  }
}

/* writev all of iov (a log file write is short only when the disk is full:
 * then the rest is dropped, the container is not stopped for it). */
static void log_flush(struct monitor *m, struct iovec *iov, int n) {
  while (n > 0) {
    ssize_t w = writev(m->log_fd, iov, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return;
    m->log_size += w;
    while (n > 0 && (size_t)w >= iov->iov_len) {
      w -= (ssize_t)iov->iov_len;
      iov++;
      n--;
    }
    if (n > 0) {
      iov->iov_base = (char *)iov->iov_base + w;
      iov->iov_len -= (size_t)w;
    }
  }
}

/* One read's worth of output: a line per newline, the rest as a partial
 * line (P) right away so a prompt shows up in `kuke log -f`.  Every line of
 * one read carries the same timestamp (like conmon). */
static void log_chunk(struct monitor *m, const struct source *s, const char *buf, size_t len) {
  char ts[48];
  timestamp(ts);
  char hf[96], hp[96];
  int hl = snprintf(hf, sizeof(hf), "%s %s F ", ts, s->name);
  snprintf(hp, sizeof(hp), "%s %s P ", ts, s->name);
  struct iovec iov[LOG_IOV];
  int n = 0;
  off_t batch = 0;
  const char *p = buf, *end = buf + len;
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    size_t tl = nl ? (size_t)(nl + 1 - p) : (size_t)(end - p);
    off_t need = hl + (off_t)tl + (nl ? 0 : 1);
    if (m->log_max > 0 && m->log_size + batch > 0 && m->log_size + batch + need > m->log_max) {
      log_flush(m, iov, n);
      n = 0;
      batch = 0;
      rotate(m);
    }
    if (n + 3 > LOG_IOV) {
      log_flush(m, iov, n);
      n = 0;
      batch = 0;
    }
    iov[n++] = (struct iovec){nl ? hf : hp, (size_t)hl};
    iov[n++] = (struct iovec){(void *)p, tl};
    if (!nl)
      iov[n++] = (struct iovec){"\n", 1};
    batch += need;
    p += tl;
  }
  log_flush(m, iov, n);
}

/* -------------------------------------------------------------- attach */

static void client_drop(struct client *c) {
  close_fd(&c->fd);
  free(c->backlog);
  c->backlog = NULL;
  c->blen = c->bcap = 0;
  c->hdr_got = 0;
  c->left = 0;
  c->resize_got = 0;
}

static void backlog_add(struct client *c, const void *data, size_t len) {
  if (c->fd < 0 || len == 0)
    return;
  if (c->blen + len > CLIENT_BACKLOG_MAX) {
    client_drop(c); /* a slow or gone reader does not stall the container */
    return;
  }
  if (c->blen + len > c->bcap) {
    size_t cap = c->bcap ? c->bcap : 65536;
    while (cap < c->blen + len)
      cap *= 2;
    c->backlog = kk_xrealloc(c->backlog, cap);
    c->bcap = cap;
  }
  memcpy(c->backlog + c->blen, data, len);
  c->blen += len;
}

static void client_flush(struct client *c) {
  while (c->fd >= 0 && c->blen > 0) {
    ssize_t w = send(c->fd, c->backlog, c->blen, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      if (errno != EAGAIN)
        client_drop(c);
      return;
    }
    memmove(c->backlog, c->backlog + w, c->blen - (size_t)w);
    c->blen -= (size_t)w;
  }
  if (c->fd >= 0 && c->blen == 0 && c->bcap > 0) {
    free(c->backlog); /* idle clients hold no buffer */
    c->backlog = NULL;
    c->bcap = 0;
  }
}

/* Send one output frame to every client. */
static void fan_out(struct monitor *m, int stream_id, const char *data, size_t len) {
  uint8_t hdr[5] = {(uint8_t)stream_id, (uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8), (uint8_t)len};
  for (int i = 0; i < MAX_CLIENTS; i++) {
    struct client *c = &m->clients[i];
    if (c->fd < 0)
      continue;
    if (c->blen > 0) {
      backlog_add(c, hdr, sizeof(hdr));
      backlog_add(c, data, len);
      continue;
    }
    struct iovec iov[2] = {{hdr, sizeof(hdr)}, {(void *)data, len}};
    struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 2};
    ssize_t w;
    do
      w = sendmsg(c->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    while (w < 0 && errno == EINTR);
    if (w < 0) {
      if (errno != EAGAIN) {
        client_drop(c);
        continue;
      }
      w = 0;
    }
    if ((size_t)w < sizeof(hdr)) {
      backlog_add(c, hdr + w, sizeof(hdr) - (size_t)w);
      backlog_add(c, data, len);
    } else {
      backlog_add(c, data + ((size_t)w - sizeof(hdr)), len - ((size_t)w - sizeof(hdr)));
    }
  }
}

static void apply_resize(struct monitor *m, const uint8_t b[4]) {
  if (m->master < 0)
    return;
  struct winsize ws = {.ws_row = (unsigned short)(b[0] << 8 | b[1]), .ws_col = (unsigned short)(b[2] << 8 | b[3])};
  ioctl(m->master, TIOCSWINSZ, &ws);
}

static void close_stdin(struct monitor *m) {
  close_fd(&m->in_fd);
  m->inlen = 0;
  m->in_eof = false;
}

/* Write pending input to the container without ever blocking. */
static void stdin_flush(struct monitor *m) {
  if (m->in_fd < 0) {
    m->inlen = 0;
    return;
  }
  while (m->inlen > 0) {
    ssize_t w = write(m->in_fd, m->inbuf, m->inlen);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      if (errno == EAGAIN)
        return;
      if (m->tty)
        m->inlen = 0; /* EIO: no one holds the terminal now; the input is lost */
      else
        close_stdin(m); /* EPIPE: the container closed its stdin */
      return;
    }
    memmove(m->inbuf, m->inbuf + w, m->inlen - (size_t)w);
    m->inlen -= (size_t)w;
  }
  if (m->in_eof && !m->tty)
    close_stdin(m);
}

/* Read what a client sent; only called while no input is pending, so a
 * read never holds more than fits in inbuf. */
static void client_input(struct monitor *m, struct client *c) {
  uint8_t buf[4096];
  ssize_t r = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
  if (r < 0 && (errno == EINTR || errno == EAGAIN))
    return;
  if (r <= 0) {
    client_drop(c);
    return;
  }
  for (size_t i = 0; i < (size_t)r;) {
    if (c->left == 0) {
      c->hdr[c->hdr_got++] = buf[i++];
      if (c->hdr_got < sizeof(c->hdr))
        continue;
      c->hdr_got = 0;
      uint32_t len = (uint32_t)c->hdr[1] << 24 | (uint32_t)c->hdr[2] << 16 | (uint32_t)c->hdr[3] << 8 | c->hdr[4];
      if (len > FRAME_MAX || (c->hdr[0] == ST_RESIZE && len != 4)) {
        client_drop(c);
        return;
      }
      if (c->hdr[0] == ST_STDIN && len == 0 && !m->tty)
        m->in_eof = true;
      c->left = len;
      c->resize_got = 0;
      continue;
    }
    size_t n = (size_t)r - i < c->left ? (size_t)r - i : c->left;
    if (c->hdr[0] == ST_STDIN && m->in_fd >= 0) {
      if (m->inbuf == NULL)
        m->inbuf = kk_xmalloc(STDIN_BUF);
      memcpy(m->inbuf + m->inlen, buf + i, n); /* inlen was 0, n <= 4096 */
      m->inlen += n;
    } else if (c->hdr[0] == ST_RESIZE) {
      memcpy(c->resize + c->resize_got, buf + i, n);
      c->resize_got += n;
      if (c->resize_got == 4)
        apply_resize(m, c->resize);
    }
    i += n;
    c->left -= (uint32_t)n;
  }
  stdin_flush(m);
}

static int bind_at(int dirfd, const char *name, int backlog) {
  /* Bind through /proc/self/fd so long directory paths still fit sun_path. */
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  if (kk_proc_fd_path(sa.sun_path, sizeof(sa.sun_path), dirfd, name) < 0) {
    errno = ENAMETOOLONG;
    return -1;
  }
  unlinkat(dirfd, name, 0);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0)
    return -1;
  mode_t old = umask(0177);
  int r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
  umask(old);
  if (r < 0 || listen(fd, backlog) < 0) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

static void accept_attach(struct monitor *m) {
  int fd = accept4(m->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
  if (fd < 0)
    return;
  for (int i = 0; i < MAX_CLIENTS; i++) {
    if (m->clients[i].fd < 0) {
      m->clients[i].fd = fd;
      return;
    }
  }
  close(fd);
}

/* ------------------------------------------------------------- terminal */

/* The pty master runc sends over the console socket (SCM_RIGHTS, like
 * runc's and conmon's cmsg.c).  runc run has returned by now, so it is
 * waiting in the listen backlog. */
static int recv_master(int listen_fd, const char **why) {
  struct pollfd p = {listen_fd, POLLIN, 0};
  if (poll(&p, 1, 5000) <= 0) {
    *why = "runc did not connect to the console socket";
    return -1;
  }
  cleanup_close int conn = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
  if (conn < 0) {
    *why = "accept on the console socket failed";
    return -1;
  }
  char name[256];
  struct iovec iov = {name, sizeof(name)};
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } u;
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf)};
  ssize_t r;
  do
    r = recvmsg(conn, &msg, MSG_CMSG_CLOEXEC);
  while (r < 0 && errno == EINTR);
  struct cmsghdr *cm = r >= 0 ? CMSG_FIRSTHDR(&msg) : NULL;
  if (cm == NULL || cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS ||
      cm->cmsg_len != CMSG_LEN(sizeof(int))) {
    *why = "runc sent no terminal over the console socket";
    return -1;
  }
  int fd;
  memcpy(&fd, CMSG_DATA(cm), sizeof(int));
  if (fd < 0) {
    *why = "runc sent an invalid terminal";
    return -1;
  }
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  return fd;
}

/* --------------------------------------------------------- container io */

static void source_close(struct monitor *m, struct source *s) {
  close_fd(&s->fd);
  s->hup = false;
  if (s->tty) {
    close_stdin(m); /* the terminal is gone */
    close_fd(&m->master);
  }
}

static void read_source(struct monitor *m, struct source *s, char *buf) {
  ssize_t r = read(s->fd, buf, READ_CHUNK);
  if (r < 0) {
    if (errno == EINTR || errno == EAGAIN)
      return;
    if (errno == EIO && s->tty && !m->exited) {
      s->hup = true; /* no slave open now; one may come (conmon polls too) */
      return;
    }
  }
  if (r <= 0) {
    source_close(m, s);
    return;
  }
  log_chunk(m, s, buf, (size_t)r);
  fan_out(m, s->id, buf, (size_t)r);
}

/* ----------------------------------------------------------------- exit */

static int write_exit(struct monitor *m) {
  char when[32], body[128];
  kk_time_format(kk_now(), when);
  int code = WIFSIGNALED(m->status) ? 128 + WTERMSIG(m->status) : WEXITSTATUS(m->status);
  const char *abbrev = WIFSIGNALED(m->status) ? sigabbrev_np(WTERMSIG(m->status)) : NULL;
  snprintf(body, sizeof(body), "{\"exitCode\":%d,\"signal\":\"%s%s\",\"finishedAt\":\"%s\"}", code,
           WIFSIGNALED(m->status) ? "SIG" : "", WIFSIGNALED(m->status) ? (abbrev ? abbrev : "UNKNOWN") : "", when);
  kk_err_t err = NULL;
  int r = kk_write_file_volatile(m->dirfd, "exit", body, strlen(body), 0640, &err);
  kk_error_free(&err);
  return r;
}

/* --------------------------------------------------------------- runc */

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

/* Into each cgroup directory (one per hierarchy), before runc or the
 * container exist: what the caller's cgroups go through (runc kill --all
 * of the daemon's container, its cgroup.kill) no longer reaches this
 * process, nor the runc it starts.  The directory that failed (errno set),
 * or NULL. */
static const char *enter_cgroups(const struct kk_strv *dirs) {
  char pid[24];
  int len = snprintf(pid, sizeof(pid), "%d", (int)getpid());
  for (size_t i = 0; i < dirs->n; i++) {
    cleanup_free char *procs = kk_asprintf("%s/cgroup.procs", dirs->v[i]);
    cleanup_close int fd = open(procs, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 || write(fd, pid, (size_t)len) != len)
      return dirs->v[i];
  }
  return NULL;
}

/* runc delete (--force: a container this monitor cannot serve is not left
 * behind), quietly, waited for. */
static void runc_delete(const char *runc, const char *runc_root, const char *id, bool force) {
  pid_t pid = fork();
  if (pid == 0) {
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    dup2(null, 0);
    dup2(null, 1);
    dup2(null, 2);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (force)
      execlp(runc, runc, "--root", runc_root, "delete", "--force", id, (char *)NULL);
    else
      execlp(runc, runc, "--root", runc_root, "delete", id, (char *)NULL);
    _exit(127);
  }
  while (pid > 0 && waitpid(pid, NULL, 0) < 0 && errno == EINTR)
    ;
}

static void reap(struct monitor *m, int64_t *drain_deadline) {
  int status;
  pid_t w;
  while ((w = waitpid(-1, &status, WNOHANG)) > 0) {
    if (w == m->ctr_pid && !m->exited) {
      m->exited = true;
      m->status = status;
      *drain_deadline = kk_monotonic_ms() + DRAIN_AFTER_EXIT_MS;
    }
  }
}

/* Serve until the container has ended and its output is drained. */
static void serve(struct monitor *m, int sfd) {
  char *buf = kk_xmalloc(READ_CHUNK);
  int64_t drain_deadline = -1, hup_retry = -1;
  enum { P_OUT, P_ERR, P_SIG, P_LISTEN, P_IN, P_CLIENTS };
  struct pollfd p[P_CLIENTS + MAX_CLIENTS];
  for (;;) {
    int64_t now = kk_monotonic_ms();
    bool out_open = m->out.fd >= 0, err_open = m->err.fd >= 0;
    if (m->exited && ((!out_open && !err_open) || now >= drain_deadline))
      break;
    if (m->out.hup && now >= hup_retry)
      m->out.hup = false;
    p[P_OUT] = (struct pollfd){out_open && !m->out.hup ? m->out.fd : -1, POLLIN, 0};
    p[P_ERR] = (struct pollfd){m->err.fd, POLLIN, 0};
    p[P_SIG] = (struct pollfd){sfd, POLLIN, 0};
    p[P_LISTEN] = (struct pollfd){m->listen_fd, POLLIN, 0};
    p[P_IN] = (struct pollfd){m->inlen > 0 ? m->in_fd : -1, POLLOUT, 0};
    for (int i = 0; i < MAX_CLIENTS; i++) {
      struct client *c = &m->clients[i];
      short ev = (short)((m->inlen == 0 ? POLLIN : 0) | (c->blen > 0 ? POLLOUT : 0));
      p[P_CLIENTS + i] = (struct pollfd){c->fd, ev, 0};
    }
    int64_t wake = -1; /* poll's timeout: -1 = none */
    if (m->exited)
      wake = drain_deadline;
    if (m->out.hup && (wake < 0 || hup_retry < wake))
      wake = hup_retry;
    int timeout = wake < 0 ? -1 : wake <= now ? 0 : (int)(wake - now);
    int n = poll(p, KK_ARRAY_SIZE(p), timeout);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      break;
    }
    if (p[P_SIG].revents & POLLIN) {
      struct signalfd_siginfo si;
      while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        if (si.ssi_signo == SIGCHLD)
          reap(m, &drain_deadline);
        /* SIGTERM/SIGINT/SIGHUP/SIGQUIT: the monitor is not the way to stop
         * a container (runc kill is); it keeps watching. */
      }
    }
    if (p[P_OUT].revents) {
      read_source(m, &m->out, buf);
      if (m->out.hup)
        hup_retry = kk_monotonic_ms() + TTY_HUP_RETRY_MS;
    }
    if (p[P_ERR].revents)
      read_source(m, &m->err, buf);
    if (p[P_LISTEN].revents & POLLIN)
      accept_attach(m);
    if (p[P_IN].revents)
      stdin_flush(m);
    for (int i = 0; i < MAX_CLIENTS; i++) {
      struct client *c = &m->clients[i];
      short re = p[P_CLIENTS + i].revents;
      if (c->fd < 0 || c->fd != p[P_CLIENTS + i].fd || re == 0)
        continue;
      if (re & POLLOUT)
        client_flush(c);
      if (c->fd >= 0 && (re & (POLLIN | POLLHUP | POLLERR)) && m->inlen == 0)
        client_input(m, c);
      else if (c->fd >= 0 && (re & (POLLHUP | POLLERR)) && !(re & POLLIN))
        client_drop(c);
    }
  }
  free(buf);
}

/* What is still queued for clients goes out (for up to a second), then
 * every client sees EOF. */
static void close_clients(struct monitor *m) {
  int64_t deadline = kk_monotonic_ms() + 1000;
  for (int i = 0; i < MAX_CLIENTS; i++) {
    struct client *c = &m->clients[i];
    while (c->fd >= 0 && c->blen > 0) {
      int64_t left = deadline - kk_monotonic_ms();
      struct pollfd p = {c->fd, POLLOUT, 0};
      if (left <= 0 || poll(&p, 1, (int)left) <= 0)
        break;
      client_flush(c);
    }
    client_drop(c);
  }
}

int kk_monitor_main(int argc, char **argv) {
  const char *id = NULL, *bundle = NULL, *runc = "runc", *runc_root = NULL, *dir = NULL, *log_max = "10485760",
             *sync_fd_s = "-1", *exit_notice = NULL;
  bool want_stdin = false, tty = false, daemonize = false, delete_on_exit = false;
  cleanup_strv struct kk_strv cgroups = {0};
  struct kk_flag flags[] = {
      {"id", 0, KK_FLAG_STRING, &id, "container id", false},
      {"bundle", 0, KK_FLAG_STRING, &bundle, "OCI bundle directory", false},
      {"runc", 0, KK_FLAG_STRING, &runc, "runc binary", false},
      {"runc-root", 0, KK_FLAG_STRING, &runc_root, "runc --root", false},
      {"dir", 0, KK_FLAG_STRING, &dir, "monitor directory (log, exit, attach)", false},
      {"log-max", 0, KK_FLAG_STRING, &log_max, "bytes before the log rotates", false},
      {"stdin", 0, KK_FLAG_BOOL, &want_stdin, "keep the container's stdin open as a pipe for attach", false},
      {"tty", 0, KK_FLAG_BOOL, &tty, "the bundle has process.terminal: take the pty over a console socket", false},
      {"sync-fd", 0, KK_FLAG_STRING, &sync_fd_s, "fd to report the container pid or an error on", false},
      {"daemonize", 0, KK_FLAG_BOOL, &daemonize, "fork, and let the parent exit at once (the caller reaps it)", false},
      {"delete-on-exit", 0, KK_FLAG_BOOL, &delete_on_exit, "run `runc delete` once the init has died", false},
      {"cgroup", 0, KK_FLAG_STRINGS, &cgroups, "cgroup directory to move into first (once per hierarchy)", false},
      {"exit-notice", 0, KK_FLAG_STRING, &exit_notice, "file to make once the exit is recorded and all is done", false},
  };
  struct kk_strv pos = {0};
  bool help = false;
  kk_err_t err = NULL;
  if (kk_flags_parse(flags, KK_ARRAY_SIZE(flags), NULL, 0, argc, argv, &pos, &help, &err) < 0 || !id || !bundle ||
      !runc_root || !dir) {
    fprintf(stderr, "kukeon-monitor: %s\n", err ? err->msg : "--id, --bundle, --runc-root and --dir are required");
    kk_error_free(&err);
    kk_strv_free(&pos);
    return 2;
  }
  kk_strv_free(&pos);
  int sync_fd = atoi(sync_fd_s);
  if (daemonize) {
    pid_t child = fork();
    if (child < 0) {
      sync_send(sync_fd, "E fork: %s\n", strerror(errno));
      return 1;
    }
    if (child > 0)
      _exit(0);
  }
  struct monitor m = {.log_fd = -1, .listen_fd = -1, .master = -1, .in_fd = -1,
                      .out = {.fd = -1, .name = "stdout", .id = ST_STDOUT},
                      .err = {.fd = -1, .name = "stderr", .id = ST_STDERR}};
  for (int i = 0; i < MAX_CLIENTS; i++)
    m.clients[i].fd = -1;
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
  sigaddset(&mask, SIGQUIT);
  sigprocmask(SIG_BLOCK, &mask, NULL);
  int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
  {
    cleanup_free char *pid = kk_asprintf("%d\n", (int)getpid());
    kk_write_file_volatile(m.dirfd, "monitor.pid", pid, strlen(pid), 0640, &err);
    kk_error_free(&err);
  }
  /* Once monitor.pid names this process: a daemon that looks meanwhile
   * sees a monitor on its way to start the container (and waits for it). */
  const char *bad_cgroup = enter_cgroups(&cgroups);
  if (bad_cgroup) {
    sync_send(sync_fd, "E move the monitor into cgroup %s: %s\n", bad_cgroup, strerror(errno));
    return 1;
  }
  m.tty = tty;
  m.out.tty = m.tty;
  m.log_fd = openat(m.dirfd, "log", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  struct stat st;
  if (m.log_fd >= 0 && fstat(m.log_fd, &st) == 0)
    m.log_size = st.st_size;
  /* stdout and stderr pipes always: before the terminal exists, runc's own
   * complaints arrive there (like conmon). */
  int po[2] = {-1, -1}, pe[2] = {-1, -1}, pi[2] = {-1, -1};
  if (sfd < 0 || m.log_fd < 0 || pipe2(po, O_CLOEXEC) < 0 || pipe2(pe, O_CLOEXEC) < 0 ||
      (want_stdin && !m.tty && pipe2(pi, O_CLOEXEC) < 0)) {
    sync_send(sync_fd, "E monitor setup: %s\n", strerror(errno));
    return 1;
  }
  m.listen_fd = bind_at(m.dirfd, "attach", 8);
  if (m.listen_fd < 0) {
    sync_send(sync_fd, "E attach socket in %s: %s\n", dir, strerror(errno));
    return 1;
  }
  int console_fd = -1;
  cleanup_free char *console_path = NULL;
  if (m.tty) {
    console_fd = bind_at(m.dirfd, "console.sock", 1);
    if (console_fd < 0) {
      sync_send(sync_fd, "E console socket in %s: %s\n", dir, strerror(errno));
      return 1;
    }
    console_path = kk_asprintf("%s/console.sock", dir);
    if (strlen(console_path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
      free(console_path);
      console_path = kk_asprintf("/proc/%d/fd/%d/console.sock", (int)getpid(), m.dirfd);
    }
  }
  unlinkat(m.dirfd, "pid", 0);
  unlinkat(m.dirfd, "exit", 0);
  cleanup_free char *pid_file = kk_asprintf("%s/pid", dir);
  cleanup_free char *runc_log = kk_asprintf("%s/runc.log", dir);
  const char *rargv[20];
  size_t ra = 0;
  rargv[ra++] = runc;
  rargv[ra++] = "--root";
  rargv[ra++] = runc_root;
  rargv[ra++] = "--log";
  rargv[ra++] = runc_log;
  rargv[ra++] = "--log-format";
  rargv[ra++] = "json";
  rargv[ra++] = "run";
  rargv[ra++] = "--detach";
  rargv[ra++] = "--bundle";
  rargv[ra++] = bundle;
  rargv[ra++] = "--pid-file";
  rargv[ra++] = pid_file;
  if (console_path) {
    rargv[ra++] = "--console-socket";
    rargv[ra++] = console_path;
  }
  rargv[ra++] = id;
  rargv[ra] = NULL;
  pid_t runc_pid = fork();
  if (runc_pid == 0) {
    sigprocmask(SIG_UNBLOCK, &mask, NULL);
    signal(SIGPIPE, SIG_DFL);
    int in = pi[0] >= 0 ? pi[0] : open("/dev/null", O_RDONLY | O_CLOEXEC);
    dup2(in, 0);
    dup2(po[1], 1);
    dup2(pe[1], 2);
    execvp(runc, (char *const *)rargv);
    dprintf(2, "exec %s: %s\n", runc, strerror(errno));
    _exit(127);
  }
  close(po[1]);
  close(pe[1]);
  close_fd(&pi[0]);
  m.out.fd = po[0];
  m.err.fd = pe[0];
  m.in_fd = pi[1];
  if (m.in_fd >= 0)
    fcntl(m.in_fd, F_SETFL, O_NONBLOCK);
  if (runc_pid < 0) {
    sync_send(sync_fd, "E fork: %s\n", strerror(errno));
    return 1;
  }
  /* runc run --detach returns once the container's init runs the
   * workload; the init is our child from then on (subreaper). */
  int st_runc = 0;
  while (waitpid(runc_pid, &st_runc, 0) < 0 && errno == EINTR)
    ;
  if (!WIFEXITED(st_runc) || WEXITSTATUS(st_runc) != 0) {
    sync_send(sync_fd, "R\n"); /* the reason is in runc.log */
    unlinkat(m.dirfd, "attach", 0);
    if (console_fd >= 0)
      unlinkat(m.dirfd, "console.sock", 0);
    return 1;
  }
  if (m.tty) {
    const char *why = NULL;
    m.master = recv_master(console_fd, &why);
    close(console_fd);
    unlinkat(m.dirfd, "console.sock", 0);
    if (m.master < 0) {
      runc_delete(runc, runc_root, id, true);
      sync_send(sync_fd, "E %s\n", why);
      unlinkat(m.dirfd, "attach", 0);
      return 1;
    }
    /* Output comes from the master; the stdout pipe only carried runc. */
    close(m.out.fd);
    m.out.fd = m.master;
    m.master = fcntl(m.out.fd, F_DUPFD_CLOEXEC, 0);
    m.in_fd = fcntl(m.out.fd, F_DUPFD_CLOEXEC, 0);
  }
  m.ctr_pid = kk_read_pid_at(m.dirfd, "pid");
  if (m.ctr_pid <= 0) {
    runc_delete(runc, runc_root, id, true);
    sync_send(sync_fd, "E runc run wrote no pid file\n");
    unlinkat(m.dirfd, "attach", 0);
    return 1;
  }
  sync_send(sync_fd, "P %d\n", (int)m.ctr_pid);
  if (sync_fd >= 0)
    close(sync_fd);
  /* From here on nothing talks to the daemon: it may come and go.  Give
   * back what setup (the bundle's JSON) left on the heap. */
  malloc_trim(0);
  serve(&m, sfd);
  /* The exit file first, then the socket goes and the clients get EOF: a
   * client that sees EOF, or cannot connect any more, finds the exit file.
   * After that nothing here touches the directory (the daemon removes it
   * with the cell, and waits for this process to be gone before a
   * container of the same id starts in it).  runc's delete, when asked
   * for, runs while whoever waited for the exit moves on. */
  write_exit(&m);
  unlinkat(m.dirfd, "attach", 0);
  close_fd(&m.listen_fd);
  close_clients(&m);
  if (delete_on_exit)
    runc_delete(runc, runc_root, id, false);
  close_fd(&m.out.fd);
  close_fd(&m.err.fd);
  close_fd(&m.in_fd);
  close_fd(&m.master);
  free(m.inbuf);
  close(m.log_fd);
  close(sfd);
  close(m.dirfd);
  /* Last: whoever acts on the notice finds the exit recorded and this
   * process as good as gone. */
  if (exit_notice)
    close(open(exit_notice, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600));
  return 0;
}

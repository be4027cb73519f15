/* Reading a monitor's log for `kuke log`: CRI lines
 *   "<RFC3339Nano> <stdout|stderr> <F|P> <text>"
 * from log.1 then log, back to the container's own bytes.  P lines are
 * joined with what follows on the same stream; with follow the reader moves
 * on to the fresh log when the monitor rotates (log -> log.1).
 *
 * A follower learns of new output from the monitor itself: it connects to
 * the attach socket and discards what comes (the monitor writes the log
 * before it sends to clients, and closes clients after the exit record is
 * written), so readable means "read the log again" and EOF means "ended".
 * inotify is the fallback when the monitor takes no client: closing an
 * inotify instance that had a watch waits for an SRCU grace period (10-20
 * ms here), which every short `kuke run` would otherwise pay at its end. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/fs.h"
#include "lib/stream.h"
#include "lib/util.h"
#include "runtime/monitor_int.h"
#include "runtime/runtime.h"

#define CHUNK 65536
#define OUT_BUF 65536
#define LINE_MAX_LEN (4u << 20)    /* a longer "line" is not from a monitor: cut */
#define PARTIAL_MAX (1u << 20)     /* joined P text printed early past this */
#define FOLLOW_POLL_MS 1000        /* re-check even without inotify events */
#define FRAMED_STALL_MS 30000      /* a client that takes nothing for this long is dropped */

struct partial {
  char *buf;
  size_t len, cap;
  char ts[64]; /* timestamp of the line's first piece */
  bool mid;    /* its start is printed already (a long or a waiting line) */
};

struct reader {
  const struct kk_log_opts *o;
  int fds[2]; /* stdout, stderr */
  char *line; /* a line not yet complete in the file */
  size_t llen, lcap;
  struct partial st[2];
  char *obuf;
  size_t olen;
  int ok; /* the stream obuf holds: 0 stdout, 1 stderr */
  /* --tail: a counting pass first */
  bool counting;
  bool pend[2];
  long long count, skip;
  kk_err_t *err;
  int failed;
};

static void out_flush(struct reader *r) {
  if (r->olen == 0 || r->failed) {
    r->olen = 0;
    return;
  }
  if (r->o->framed)
    r->failed = kk_stream_write(r->fds[0], r->ok ? KK_STREAM_STDERR : KK_STREAM_STDOUT, r->obuf, r->olen,
                                FRAMED_STALL_MS, r->err);
  else if (kk_write_all(r->fds[r->ok], r->obuf, r->olen) < 0)
    r->failed = kk_error(r->err, errno, "write the log");
  r->olen = 0;
}

static void out(struct reader *r, int k, const char *p, size_t len) {
  if (k != r->ok) {
    out_flush(r);
    r->ok = k;
  }
  while (len > 0) {
    if (r->olen == OUT_BUF)
      out_flush(r);
    size_t n = OUT_BUF - r->olen < len ? OUT_BUF - r->olen : len;
    memcpy(r->obuf + r->olen, p, n);
    r->olen += n;
    p += n;
    len -= n;
  }
}

static void line_start(struct reader *r, int k, const char *ts) {
  if (r->o->timestamps) {
    out(r, k, ts, strlen(ts));
    out(r, k, " ", 1);
  }
}

/* Print a stream's joined P text without ending the line. */
static void partial_print(struct reader *r, int k) {
  struct partial *p = &r->st[k];
  if (p->len == 0)
    return;
  if (!p->mid)
    line_start(r, k, p->ts);
  out(r, k, p->buf, p->len);
  p->len = 0;
  p->mid = true;
}

static void record(struct reader *r, int k, const char *ts, size_t tslen, bool partial, const char *text, size_t len) {
  if (r->counting) {
    if (!partial)
      r->count++;
    r->pend[k] = partial;
    return;
  }
  struct partial *p = &r->st[k];
  if (partial) {
    if (!p->mid && p->len == 0)
      snprintf(p->ts, sizeof(p->ts), "%.*s", (int)tslen, ts);
    if (p->len + len > p->cap) {
      p->cap = p->len + len > 4096 ? (p->len + len) * 2 : 4096;
      p->buf = kk_xrealloc(p->buf, p->cap);
    }
    memcpy(p->buf + p->len, text, len);
    p->len += len;
    if (p->len > PARTIAL_MAX && r->skip == 0)
      partial_print(r, k);
    return;
  }
  if (r->skip > 0) { /* --tail: not one of the last lines */
    r->skip--;
    p->len = 0;
    p->mid = false;
    return;
  }
  if (!p->mid) {
    char tsbuf[64];
    if (p->len > 0)
      line_start(r, k, p->ts);
    else {
      snprintf(tsbuf, sizeof(tsbuf), "%.*s", (int)tslen, ts);
      line_start(r, k, tsbuf);
    }
  }
  out(r, k, p->buf, p->len);
  out(r, k, text, len);
  out(r, k, "\n", 1);
  p->len = 0;
  p->mid = false;
}

/* One CRI line, without its newline. */
static void cri_line(struct reader *r, const char *l, size_t len) {
  const char *end = l + len;
  const char *sp1 = memchr(l, ' ', len);
  const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(end - sp1 - 1)) : NULL;
  int k = -1;
  if (sp2 && sp2 - sp1 - 1 == 6 && memcmp(sp1 + 1, "stdout", 6) == 0)
    k = 0;
  else if (sp2 && sp2 - sp1 - 1 == 6 && memcmp(sp1 + 1, "stderr", 6) == 0)
    k = 1;
  const char *tag = sp2 ? sp2 + 1 : NULL;
  if (k < 0 || tag >= end || (*tag != 'P' && *tag != 'F') || (tag + 1 < end && tag[1] != ' ')) {
    record(r, 0, "", 0, false, l, len); /* not a monitor's line: shown as it is */
    return;
  }
  const char *text = tag + 2 <= end ? tag + 2 : end;
  record(r, k, l, (size_t)(sp1 - l), *tag == 'P', text, (size_t)(end - text));
}

static void line_add(struct reader *r, const char *p, size_t len) {
  if (r->llen + len > LINE_MAX_LEN)
    len = LINE_MAX_LEN - r->llen;
  if (r->llen + len > r->lcap) {
    r->lcap = (r->llen + len) * 2;
    r->line = kk_xrealloc(r->line, r->lcap);
  }
  memcpy(r->line + r->llen, p, len);
  r->llen += len;
}

/* Read fd to its current end.  final: the file will not grow (rotated
 * away, or log.1), so a last line without newline is complete as it is. */
static int drain(struct reader *r, int fd, char *chunk, bool final) {
  for (;;) {
    ssize_t n = read(fd, chunk, CHUNK);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return kk_error(r->err, errno, "read the log");
    if (n == 0)
      break;
    const char *p = chunk, *end = chunk + n;
    while (p < end) {
      const char *nl = memchr(p, '\n', (size_t)(end - p));
      if (nl == NULL) {
        line_add(r, p, (size_t)(end - p));
        break;
      }
      if (r->llen > 0) {
        line_add(r, p, (size_t)(nl - p));
        cri_line(r, r->line, r->llen);
        r->llen = 0;
      } else {
        cri_line(r, p, (size_t)(nl - p));
      }
      p = nl + 1;
    }
  }
  if (final && r->llen > 0) {
    cri_line(r, r->line, r->llen);
    r->llen = 0;
  }
  return r->failed;
}

/* Whether a follower should still wait: no exit record yet and the
 * monitor is alive. */
static bool monitor_running(int dirfd) { return !kk_exists_at(dirfd, "exit") && kk_monitor_alive(dirfd); }

static bool same_file(int fd, const struct stat *st) {
  struct stat b;
  return fd >= 0 && fstat(fd, &b) == 0 && b.st_ino == st->st_ino && b.st_dev == st->st_dev;
}

static int count_lines(struct reader *r, int old, int cur, char *chunk) {
  r->counting = true;
  if ((old >= 0 && drain(r, old, chunk, true) < 0) || (cur >= 0 && drain(r, cur, chunk, false) < 0))
    return -1;
  long long n = r->count + r->pend[0] + r->pend[1];
  r->skip = n > r->o->tail ? n - r->o->tail : 0;
  r->counting = false;
  r->llen = 0;
  if ((old >= 0 && lseek(old, 0, SEEK_SET) < 0) || (cur >= 0 && lseek(cur, 0, SEEK_SET) < 0))
    return kk_error(r->err, errno, "rewind the log");
  return 0;
}

/* How a follower waits for news: the monitor's attach socket, or inotify
 * on the monitor's directory, or (neither available) a timer. */
struct waker {
  int sock, ifd, dirfd;
  bool inotify_tried;
};

static void watch_inotify(struct waker *w) {
  w->inotify_tried = true;
  w->ifd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
  char path[64];
  (void)kk_proc_fd_path(path, sizeof(path), w->dirfd, NULL);
  if (w->ifd >= 0 &&
      inotify_add_watch(w->ifd, path, IN_MODIFY | IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_CLOSE_WRITE) < 0) {
    close(w->ifd);
    w->ifd = -1;
  }
}

/* Connected before the log is opened, so nothing written in between goes
 * unnoticed.  Without the socket, inotify is set up on the first wait (the
 * loop reads once more after that, before it sleeps). */
static void waker_open(struct waker *w, int dirfd) {
  *w = (struct waker){.sock = kk_attach_socket(dirfd), .ifd = -1, .dirfd = dirfd};
}

static void waker_close(struct waker *w) {
  if (w->sock >= 0)
    close(w->sock);
  if (w->ifd >= 0)
    close(w->ifd);
}

/* The caller's stop fds: hung up or in error (a socket whose peer left or
 * that is being shut down, a pipe whose reader closed). */
static bool stop_fired(const struct pollfd *p, int n) {
  for (int i = 0; i < n; i++)
    if (p[i].revents)
      return true;
  return false;
}

/* Whether the caller asked to stop while waiting. */
static bool follow_wait(struct waker *w, const struct kk_log_opts *o) {
  char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
  if (w->sock < 0 && !w->inotify_tried) {
    watch_inotify(w);
    return false;
  }
  struct pollfd p[3] = {{w->sock >= 0 ? w->sock : w->ifd, POLLIN, 0}};
  int n_stop = o->n_stop_fds > 2 ? 2 : o->n_stop_fds;
  for (int i = 0; i < n_stop; i++)
    p[1 + i] = (struct pollfd){o->stop_fds[i], POLLRDHUP, 0};
  int timeout = p[0].fd < 0 ? 250 : FOLLOW_POLL_MS;
  if (poll(p, 1 + (nfds_t)n_stop, timeout) <= 0)
    return false;
  if (stop_fired(p + 1, n_stop))
    return true;
  if (!p[0].revents)
    return false;
  if (w->sock >= 0) {
    /* Hung up (ended) or refused (no client slot left): the caller looks
     * at the exit record; if the container still runs, inotify it is. */
    kk_attach_wake(&w->sock, 0);
    return false;
  }
  while (read(w->ifd, buf, sizeof(buf)) > 0)
    ;
  return false;
}

static int run(struct reader *r, int dirfd, char *chunk) {
  const struct kk_log_opts *o = r->o;
  struct waker w KK_CLEANUP(waker_close) = {.sock = -1, .ifd = -1, .dirfd = dirfd};
  if (o->follow)
    waker_open(&w, dirfd);
  /* log first: if it rotates before log.1 is opened, log.1 is this file. */
  cleanup_close int cur = openat(dirfd, "log", O_RDONLY | O_CLOEXEC);
  cleanup_close int old = openat(dirfd, "log.1", O_RDONLY | O_CLOEXEC);
  struct stat st;
  if (old >= 0 && cur >= 0 && fstat(cur, &st) == 0 && same_file(old, &st)) {
    close(old);
    old = -1;
  }
  if (o->tail >= 0 && count_lines(r, old, cur, chunk) < 0)
    return -1;
  if (old >= 0 && drain(r, old, chunk, true) < 0)
    return -1;
  for (;;) {
    bool ended = !o->follow || !monitor_running(dirfd);
    if (cur >= 0 && drain(r, cur, chunk, false) < 0)
      return -1;
    if (o->follow && fstatat(dirfd, "log", &st, 0) == 0 && !same_file(cur, &st)) {
      /* Rotated: finish this file, and log.1 too if it is not this one (a
       * reader slower than two rotations loses what was in between). */
      if (cur >= 0) {
        if (drain(r, cur, chunk, true) < 0)
          return -1;
        struct stat s1;
        if (fstatat(dirfd, "log.1", &s1, 0) == 0 && !same_file(cur, &s1)) {
          cleanup_close int mid = openat(dirfd, "log.1", O_RDONLY | O_CLOEXEC);
          if (mid >= 0 && !same_file(mid, &st) && drain(r, mid, chunk, true) < 0)
            return -1;
        }
        close(cur);
      }
      cur = openat(dirfd, "log", O_RDONLY | O_CLOEXEC);
      continue;
    }
    if (ended)
      break;
    /* Waiting: what is there of an unfinished line shows now (a prompt). */
    if (r->skip == 0) {
      partial_print(r, 0);
      partial_print(r, 1);
    }
    out_flush(r);
    if (r->failed)
      return -1;
    if (follow_wait(&w, o))
      return 0; /* the reader is gone: nothing more to print to it */
  }
  if (cur >= 0 && drain(r, cur, chunk, true) < 0)
    return -1;
  for (int k = 0; k < 2; k++) {
    if (r->st[k].len > 0 && r->skip > 0) {
      r->skip--;
      r->st[k].len = 0;
    }
    partial_print(r, k); /* the stream ended without a newline */
  }
  out_flush(r);
  return r->failed;
}

int kk_log_read(const char *monitor_dir, const struct kk_log_opts *o, int out_fd, int err_fd, kk_err_t *err) {
  static const struct kk_log_opts defaults = {.follow = false, .timestamps = false, .tail = -1};
  cleanup_close int dirfd = open(monitor_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dirfd < 0)
    return kk_error_kind(err, errno == ENOENT ? KK_ERR_NOT_FOUND : KK_ERR_INTERNAL, errno, "open %s", monitor_dir);
  struct reader r = {.o = o ? o : &defaults, .fds = {out_fd, err_fd >= 0 ? err_fd : out_fd},
                     .err = err};
  r.obuf = kk_xmalloc(OUT_BUF);
  char *chunk = kk_xmalloc(CHUNK);
  int ret = run(&r, dirfd, chunk);
  free(chunk);
  free(r.obuf);
  free(r.line);
  free(r.st[0].buf);
  free(r.st[1].buf);
  return ret < 0 ? -1 : 0;
}

/* What a kukeonv1 connection carries after a log or attach answer: stream
 * frames (lib/stream.h), so that a client with nothing but the socket —
 * forwarded, tunnelled, or over ssh — sees what a local one sees.  The
 * handler answers first (errors such as "no such cell" are a Response like
 * any other), then kukeond runs the stream on the connection's thread until
 * it ends; the connection is closed after it. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api/convert.h"
#include "lib/fs.h"
#include "lib/log.h"
#include "lib/stream.h"
#include "lib/util.h"

#define EXIT_FRAME_MS 5000

struct kk_api_stream {
  Kukeonv1__Method method;
  char *dir;              /* LOG: the monitor's directory */
  struct kk_log_opts lo;  /* LOG */
  int sock;               /* ATTACH: connected to the monitor */
  struct kk_ctl_exec_target *exec; /* EXEC; LOG: where signal frames go (kuke run's sig-proxy) */
};

void kk_api_stream_log(struct kk_api_call *call, char **dir, const struct kk_log_opts *lo,
                       struct kk_ctl_exec_target **signals) {
  struct kk_api_stream *s = kk_xzalloc(sizeof(*s));
  s->method = KUKEONV1__METHOD__LOG;
  s->dir = kk_steal(dir);
  s->exec = signals ? kk_steal(signals) : NULL;
  s->lo = *lo;
  s->sock = -1;
  call->stream = s;
}

void kk_api_stream_attach(struct kk_api_call *call, int sock) {
  struct kk_api_stream *s = kk_xzalloc(sizeof(*s));
  s->method = KUKEONV1__METHOD__ATTACH;
  s->sock = sock;
  call->stream = s;
}

void kk_api_stream_exec(struct kk_api_call *call, struct kk_ctl_exec_target **t) {
  struct kk_api_stream *s = kk_xzalloc(sizeof(*s));
  s->method = KUKEONV1__METHOD__EXEC;
  s->sock = -1;
  s->exec = kk_steal(t);
  call->stream = s;
}

void kk_api_stream_free(struct kk_api_stream **s) {
  if (*s == NULL)
    return;
  kk_ctl_exec_target_free(&(*s)->exec);
  if ((*s)->sock >= 0)
    close((*s)->sock);
  free((*s)->dir);
  free(*s);
  *s = NULL;
}

/* The log as frames, then an exit frame: whether the container ended and
 * its code.  A client that leaves ends the follow (POLLRDHUP on conn). */
static int stream_log(struct kk_api_stream *s, int conn, kk_err_t *err) {
  struct kk_ctl_exit ex = {0};
  s->lo.framed = true;
  s->lo.stop_fds[0] = conn;
  s->lo.n_stop_fds = 1;
  if (kk_ctl_log_at(s->dir, &s->lo, conn, -1, &ex, err) < 0)
    return -1;
  uint8_t b[KK_STREAM_EXIT_LEN];
  kk_stream_exit_encode(b, ex.exited, ex.code);
  return kk_stream_write(conn, KK_STREAM_EXIT, b, sizeof(b), EXIT_FRAME_MS, err);
}

/* kuke run's sig-proxy: signal frames from the client, while the log
 * streams, go to the container.  Ends at the client's EOF, a bad frame, or
 * when the log is done (stop_fd). */
struct sig_reader {
  int conn, stop_fd;
  const struct kk_ctl_exec_target *target;
  struct kk_stream_parser ps;
};

static int signal_piece(void *ctx, enum kk_stream_id id, const uint8_t *p, size_t n, kk_err_t *err) {
  struct sig_reader *r = ctx;
  if (id == KK_STREAM_SIGNAL && p[0] >= 1 && p[0] <= 64 && kk_ctl_exec_signal(r->target, p[0], err) < 0)
    kk_error_free(err); /* it ended meanwhile: the log says so */
  return 0;
}

/* Frames from conn through fn until conn's EOF, a bad frame, fn stopping
 * (< 0) or stop_fd stirring.  Byte by byte once a frame could end: nothing
 * past the frame that stopped it is taken (it is the next request's). */
static void read_frames(int conn, int stop_fd, struct kk_stream_parser *ps, kk_stream_piece_fn fn, void *ctx) {
  uint8_t buf[65536];
  for (;;) {
    struct pollfd p[2] = {{conn, POLLIN, 0}, {stop_fd, POLLIN, 0}};
    if (poll(p, 2, -1) < 0 && errno != EINTR)
      return;
    if (p[1].revents)
      return;
    if (!p[0].revents)
      continue;
    size_t want = ps->left > 0 ? (ps->left < sizeof(buf) ? ps->left : sizeof(buf)) : 1;
    ssize_t n = recv(conn, buf, want, MSG_DONTWAIT);
    kk_err_t err = NULL;
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR) ||
        (n > 0 && kk_stream_parse(ps, buf, (size_t)n, fn, ctx, &err) < 0)) {
      kk_error_free(&err);
      return;
    }
  }
}

static void *read_signals(void *arg) {
  struct sig_reader *r = arg;
  read_frames(r->conn, r->stop_fd, &r->ps, signal_piece, r);
  return NULL;
}

/* ------------------------------------------------------------- upload */

/* Stdin frames from conn into a pipe's write end, until the empty frame
 * (EOF: the pipe is closed), the peer's EOF or a bad frame (the pipe is
 * closed too: the loader sees a truncated archive), or stop_fd. */
struct kk_api_upload {
  int conn, wr, stop[2];
  bool done; /* the empty frame came: the connection is in step again */
  struct kk_stream_parser ps;
  pthread_t th;
};

static int upload_piece(void *ctx, enum kk_stream_id id, const uint8_t *p, size_t n, kk_err_t *err) {
  struct kk_api_upload *u = ctx;
  if (id != KK_STREAM_STDIN)
    return 0;
  if (n == 0) {
    u->done = true;
    return -1; /* stop reading: nothing more belongs to this upload */
  }
  if (u->wr >= 0 && kk_write_all(u->wr, p, n) < 0) { /* the loader stopped reading: drop the rest */
    close(u->wr);
    u->wr = -1;
  }
  return 0;
}

static void *upload_run(void *arg) {
  struct kk_api_upload *u = arg;
  read_frames(u->conn, u->stop[0], &u->ps, upload_piece, u);
  if (u->wr >= 0)
    close(u->wr);
  u->wr = -1;
  return NULL;
}

int kk_api_upload_begin(struct kk_api_upload **out, int conn, int *rd, kk_err_t *err) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) < 0)
    return kk_error(err, errno, "pipe");
  struct kk_api_upload *u = kk_xzalloc(sizeof(*u));
  u->conn = conn;
  u->wr = p[1];
  if (pipe2(u->stop, O_CLOEXEC) < 0) {
    close(p[0]);
    close(p[1]);
    free(u);
    return kk_error(err, errno, "pipe");
  }
  int e = pthread_create(&u->th, NULL, upload_run, u);
  if (e != 0) {
    close(p[0]);
    close(p[1]);
    close(u->stop[0]);
    close(u->stop[1]);
    free(u);
    return kk_error(err, e, "start the upload's thread");
  }
  *rd = p[0];
  *out = u;
  return 0;
}

bool kk_api_upload_end(struct kk_api_upload *u) {
  close(u->stop[1]); /* the loader is done: whatever has not come is not waited for */
  pthread_join(u->th, NULL);
  close(u->stop[0]);
  bool in_step = u->done;
  free(u);
  return in_step;
}

/* The log, and with a signal target its sig-proxy beside it. */
static int run_log(struct kk_api_stream *s, int conn, kk_err_t *err) {
  if (s->exec == NULL)
    return stream_log(s, conn, err);
  int stop[2];
  if (pipe2(stop, O_CLOEXEC) < 0)
    return kk_error(err, errno, "pipe");
  struct sig_reader r = {.conn = conn, .stop_fd = stop[0], .target = s->exec};
  pthread_t th;
  int e = pthread_create(&th, NULL, read_signals, &r);
  int ret = e == 0 ? stream_log(s, conn, err) : kk_error(err, e, "start the signal reader");
  close(stop[1]);
  if (e == 0)
    pthread_join(th, NULL);
  close(stop[0]);
  return ret;
}

void kk_api_stream_run(struct kk_api_call *call, int conn) {
  struct kk_api_stream *s = call->stream;
  kk_err_t err = NULL;
  int r;
  if (s->method == KUKEONV1__METHOD__LOG)
    r = run_log(s, conn, &err);
  else if (s->method == KUKEONV1__METHOD__EXEC)
    r = kk_ctl_exec_run(s->exec, conn, &err);
  else /* ATTACH: both sides already speak frames; the monitor checks them */
    r = kk_stream_pump(conn, conn, s->sock, s->sock, -1, &err);
  if (r < 0) {
    kk_log_kv(KK_LOG_DEBUG, "stream ended", "error", err->msg, NULL);
    kk_error_free(&err);
  }
}

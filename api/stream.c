/* What a kukeonv1 connection carries after a log or attach answer: stream
 * frames (lib/stream.h), so that a client with nothing but the socket —
 * forwarded, tunnelled, or over ssh — sees what a local one sees.  The
 * handler answers first (errors such as "no such cell" are a Response like
 * any other), then kukeond runs the stream on the connection's thread until
 * it ends; the connection is closed after it. */
#include <stdlib.h>
#include <unistd.h>

#include "api/convert.h"
#include "lib/log.h"
#include "lib/stream.h"
#include "lib/util.h"

#define EXIT_FRAME_MS 5000

struct kk_api_stream {
  Kukeonv1__Method method;
  char *dir;              /* LOG: the monitor's directory */
  struct kk_log_opts lo;  /* LOG */
  int sock;               /* ATTACH: connected to the monitor */
  struct kk_ctl_exec_target *exec; /* EXEC */
};

void kk_api_stream_log(struct kk_api_call *call, char **dir, const struct kk_log_opts *lo) {
  struct kk_api_stream *s = kk_xzalloc(sizeof(*s));
  s->method = KUKEONV1__METHOD__LOG;
  s->dir = kk_steal(dir);
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
static int run_log(struct kk_api_stream *s, int conn, kk_err_t *err) {
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

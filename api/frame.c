/* Frames: a 4-byte big-endian length, then the message.  Every read and
 * write is bounded in time: poll() with a deadline on the whole frame, never
 * a per-read() timeout a peer could renew by trickling one byte at a time. */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "api/api.h"
#include "lib/fs.h"
#include "lib/util.h"

long kk_frame_split(const uint8_t *buf, size_t len, const uint8_t **payload, size_t *payload_len) {
  if (len < 4)
    return 0;
  uint32_t n = (uint32_t)buf[0] << 24 | (uint32_t)buf[1] << 16 | (uint32_t)buf[2] << 8 | buf[3];
  if (n > KK_API_MAX_FRAME)
    return -1;
  if (len - 4 < n)
    return 0;
  *payload = buf + 4;
  *payload_len = n;
  return (long)n + 4;
}

/* A deadline of -1 means none. */
static int64_t deadline_in(int timeout_ms) { return timeout_ms < 0 ? -1 : kk_monotonic_ms() + timeout_ms; }

/* Wait for `events` on fd until the deadline: 1 ready, 0 deadline passed, -1 error. */
static int wait_fd(int fd, short events, int64_t deadline) {
  for (;;) {
    int64_t left = deadline < 0 ? -1 : deadline - kk_monotonic_ms();
    if (deadline >= 0 && left < 0)
      left = 0;
    struct pollfd p = {fd, events, 0};
    int n = poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left);
    if (n > 0)
      return 1;
    if (n == 0 && deadline >= 0 && kk_monotonic_ms() >= deadline)
      return 0;
    if (n < 0 && errno != EINTR)
      return -1;
  }
}

/* Descriptors that came with the frame; NULL: none wanted (any that come
 * are closed by the kernel with the bytes they rode on). */
struct fd_box {
  int *fds;
  size_t n;
  bool overflow;
};

static void fd_box_take(struct fd_box *box, struct msghdr *mh) {
  if (mh->msg_flags & MSG_CTRUNC)
    box->overflow = true;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c != NULL; c = CMSG_NXTHDR(mh, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
      continue;
    size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    const int *in = (const int *)CMSG_DATA(c);
    for (size_t i = 0; i < n; i++) {
      if (box->n < KK_API_MAX_FDS)
        box->fds[box->n++] = in[i];
      else {
        close(in[i]);
        box->overflow = true;
      }
    }
  }
}

static ssize_t read_some(int fd, uint8_t *p, size_t want, struct fd_box *box) {
  if (box == NULL)
    return read(fd, p, want);
  union {
    char buf[CMSG_SPACE(sizeof(int) * KK_API_MAX_FDS)];
    struct cmsghdr align;
  } ctl;
  struct iovec iov = {p, want};
  struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf)};
  ssize_t r = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
  if (r < 0 && errno == ENOTSOCK)
    return read(fd, p, want);
  if (r >= 0)
    fd_box_take(box, &mh);
  return r;
}

/* Read exactly `want` bytes before the deadline.  Returns 0, or -1 with
 * *got telling how far it came (0 and no error: EOF before the first byte). */
static int read_full(int fd, uint8_t *p, size_t want, int64_t deadline, struct fd_box *box, size_t *got,
                     kk_err_t *err) {
  *got = 0;
  while (*got < want) {
    int w = wait_fd(fd, POLLIN, deadline);
    if (w < 0)
      return kk_error(err, errno, "poll");
    if (w == 0)
      return kk_error_kind(err, KK_ERR_UNAVAILABLE, 0, "timed out waiting for the peer");
    ssize_t r = read_some(fd, p + *got, want - *got, box);
    if (r < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
        continue;
      return kk_error(err, errno, "read");
    }
    if (r == 0)
      return *got == 0 ? -1 : kk_error_kind(err, KK_ERR_INVALID, 0,
                                            "truncated frame: connection closed after %zu of %zu bytes", *got, want);
    *got += (size_t)r;
  }
  return 0;
}

/* The first byte, within idle_ms: 1 there, 0 EOF or idle time over, -1 error. */
static int wait_first_byte(int fd, int idle_ms, kk_err_t *err) {
  int w = wait_fd(fd, POLLIN, deadline_in(idle_ms));
  if (w < 0)
    return kk_error(err, errno, "poll");
  return w;
}

static int read_body(int fd, uint8_t *hdr, int64_t deadline, uint8_t **buf, size_t *len, kk_err_t *err) {
  uint32_t n = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
  if (n > KK_API_MAX_FRAME)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "frame of %u bytes is over the %u byte limit", n, KK_API_MAX_FRAME);
  uint8_t *p = kk_xmalloc(n ? n : 1);
  size_t got = 0;
  /* Descriptors ride on the first byte only: later ones are not taken. */
  if (n > 0 && read_full(fd, p, n, deadline, NULL, &got, err) < 0) {
    free(p);
    if (*err == NULL)
      return kk_error_kind(err, KK_ERR_INVALID, 0, "truncated frame: connection closed after the header");
    return -1;
  }
  *buf = p;
  *len = n;
  return 1;
}

static int frame_read(int fd, int idle_ms, uint8_t **buf, size_t *len, struct fd_box *box, kk_err_t *err) {
  int first = wait_first_byte(fd, idle_ms, err);
  if (first <= 0)
    return first;
  /* From the first byte on, the whole frame has one deadline. */
  int64_t deadline = deadline_in(KK_API_FRAME_DEADLINE_MS);
  uint8_t hdr[4];
  size_t got = 0;
  int r = read_full(fd, hdr, 4, deadline, box, &got, err);
  if (r < 0 && *err == NULL)
    return 0; /* EOF: POLLIN said readable, and it was the end */
  if (r == 0 && box != NULL && box->overflow)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "frame carries more than %d file descriptors", KK_API_MAX_FDS);
  if (r == 0)
    r = read_body(fd, hdr, deadline, buf, len, err);
  if (r < 0 && (*err)->kind == KK_ERR_UNAVAILABLE)
    return kk_error_wrap(err, "frame not complete within %d ms of its first byte", KK_API_FRAME_DEADLINE_MS);
  return r;
}

int kk_frame_read_timeout(int fd, int idle_ms, uint8_t **buf, size_t *len, kk_err_t *err) {
  return frame_read(fd, idle_ms, buf, len, NULL, err);
}

int kk_frame_read(int fd, uint8_t **buf, size_t *len, kk_err_t *err) {
  return kk_frame_read_timeout(fd, -1, buf, len, err);
}

int kk_frame_read_fds(int fd, int idle_ms, uint8_t **buf, size_t *len, int *fds, size_t *n_fds, kk_err_t *err) {
  struct fd_box box = {fds, 0, false};
  int r = frame_read(fd, idle_ms, buf, len, &box, err);
  if (r <= 0)
    kk_close_fds(fds, &box.n);
  *n_fds = box.n;
  return r;
}

/* The frame's first send carries the descriptors. */
static ssize_t send_fds(int fd, const uint8_t *p, size_t n, const int *fds, size_t n_fds) {
  union {
    char buf[CMSG_SPACE(sizeof(int) * KK_API_MAX_FDS)];
    struct cmsghdr align;
  } ctl;
  memset(&ctl, 0, sizeof(ctl));
  struct iovec iov = {(void *)p, n};
  struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
                      .msg_controllen = CMSG_SPACE(sizeof(int) * n_fds)};
  struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int) * n_fds);
  memcpy(CMSG_DATA(c), fds, sizeof(int) * n_fds);
  return sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
}

/* One send (or write, for a pipe) that never blocks: bytes sent, or -1. */
static ssize_t send_some(int fd, const uint8_t *p, size_t n, const int *fds, size_t n_fds) {
  if (n_fds > 0)
    return send_fds(fd, p, n, fds, n_fds);
  /* send(MSG_NOSIGNAL): a peer that went away is an error, not SIGPIPE. */
  ssize_t w = send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
  if (w < 0 && errno == ENOTSOCK) /* a pipe: POLLOUT promises PIPE_BUF bytes */
    w = write(fd, p, n < PIPE_BUF ? n : PIPE_BUF);
  return w;
}

static int write_full(int fd, const uint8_t *p, size_t total, const int *fds, size_t n_fds, int timeout_ms,
                      kk_err_t *err) {
  int64_t deadline = kk_monotonic_ms() + (timeout_ms < 0 ? 0 : timeout_ms);
  size_t off = 0;
  while (off < total) {
    ssize_t w = send_some(fd, p + off, total - off, off == 0 ? fds : NULL, off == 0 ? n_fds : 0);
    if (w >= 0) {
      off += (size_t)w;
      continue;
    }
    if (errno == EINTR)
      continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK)
      return kk_error(err, errno, "write");
    int r = wait_fd(fd, POLLOUT, deadline);
    if (r < 0)
      return kk_error(err, errno, "poll");
    if (r == 0)
      return kk_error_kind(err, KK_ERR_UNAVAILABLE, 0, "timed out writing to the peer (%zu of %zu bytes in %d ms)",
                           off, total, timeout_ms);
  }
  return 0;
}

int kk_frame_write_fds(int fd, const uint8_t *buf, size_t len, const int *fds, size_t n_fds, int timeout_ms,
                       kk_err_t *err) {
  if (len > KK_API_MAX_FRAME)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "message of %zu bytes is over the %u byte limit", len,
                         KK_API_MAX_FRAME);
  if (n_fds > KK_API_MAX_FDS)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "message carries more than %d file descriptors", KK_API_MAX_FDS);
  cleanup_free uint8_t *frame = kk_xmalloc(len + 4);
  frame[0] = (uint8_t)(len >> 24);
  frame[1] = (uint8_t)(len >> 16);
  frame[2] = (uint8_t)(len >> 8);
  frame[3] = (uint8_t)len;
  if (len)
    memcpy(frame + 4, buf, len);
  return write_full(fd, frame, len + 4, fds, n_fds, timeout_ms, err);
}

int kk_frame_write_timeout(int fd, const uint8_t *buf, size_t len, int timeout_ms, kk_err_t *err) {
  return kk_frame_write_fds(fd, buf, len, NULL, 0, timeout_ms, err);
}

int kk_frame_write(int fd, const uint8_t *buf, size_t len, kk_err_t *err) {
  return kk_frame_write_timeout(fd, buf, len, KK_API_FRAME_DEADLINE_MS, err);
}

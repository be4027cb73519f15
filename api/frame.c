/* Frames: a 4-byte big-endian length, then the message. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
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

/* Returns bytes read (== want), or 0 at EOF before the first byte. */
static int read_full(int fd, uint8_t *p, size_t want, bool *eof_at_start, struct fd_box *box, kk_err_t *err) {
  size_t got = 0;
  *eof_at_start = false;
  while (got < want) {
    ssize_t r = read_some(fd, p + got, want - got, box);
    if (r < 0) {
      if (errno == EINTR)
        continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        return kk_error_kind(err, KK_ERR_UNAVAILABLE, 0, "timed out waiting for the peer");
      return kk_error(err, errno, "read");
    }
    if (r == 0) {
      if (got == 0) {
        *eof_at_start = true;
        return 0;
      }
      return kk_error_kind(err, KK_ERR_INVALID, 0, "truncated frame: connection closed after %zu of %zu bytes", got,
                           want);
    }
    got += (size_t)r;
  }
  return 0;
}

static int frame_read(int fd, uint8_t **buf, size_t *len, struct fd_box *box, kk_err_t *err) {
  uint8_t hdr[4];
  bool eof = false;
  if (read_full(fd, hdr, 4, &eof, box, err) < 0)
    return -1;
  if (eof)
    return 0;
  if (box != NULL && box->overflow)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "frame carries more than %d file descriptors", KK_API_MAX_FDS);
  uint32_t n = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
  if (n > KK_API_MAX_FRAME)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "frame of %u bytes is over the %u byte limit", n, KK_API_MAX_FRAME);
  uint8_t *p = kk_xmalloc(n ? n : 1);
  /* Descriptors ride on the first byte only: later ones are not taken. */
  if (n > 0 && (read_full(fd, p, n, &eof, NULL, err) < 0 || eof)) {
    free(p);
    if (eof)
      return kk_error_kind(err, KK_ERR_INVALID, 0, "truncated frame: connection closed after the header");
    return -1;
  }
  *buf = p;
  *len = n;
  return 1;
}

int kk_frame_read(int fd, uint8_t **buf, size_t *len, kk_err_t *err) { return frame_read(fd, buf, len, NULL, err); }

int kk_frame_read_fds(int fd, uint8_t **buf, size_t *len, int *fds, size_t *n_fds, kk_err_t *err) {
  struct fd_box box = {fds, 0, false};
  int r = frame_read(fd, buf, len, &box, err);
  if (r <= 0) {
    for (size_t i = 0; i < box.n; i++)
      close(fds[i]);
    box.n = 0;
  }
  *n_fds = box.n;
  return r;
}

/* The first send carries the descriptors; the rest of the frame follows. */
static ssize_t send_some(int fd, const uint8_t *p, size_t len, const int *fds, size_t n_fds) {
  if (n_fds == 0) {
    ssize_t w = send(fd, p, len, MSG_NOSIGNAL);
    return w < 0 && errno == ENOTSOCK ? write(fd, p, len) : w;
  }
  union {
    char buf[CMSG_SPACE(sizeof(int) * KK_API_MAX_FDS)];
    struct cmsghdr align;
  } ctl;
  memset(&ctl, 0, sizeof(ctl));
  struct iovec iov = {(void *)p, len};
  struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
                      .msg_controllen = CMSG_SPACE(sizeof(int) * n_fds)};
  struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int) * n_fds);
  memcpy(CMSG_DATA(c), fds, sizeof(int) * n_fds);
  return sendmsg(fd, &mh, MSG_NOSIGNAL);
}

int kk_frame_write_fds(int fd, const uint8_t *buf, size_t len, const int *fds, size_t n_fds, kk_err_t *err) {
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
  /* MSG_NOSIGNAL: a peer that went away is an error, not SIGPIPE. */
  size_t off = 0, total = len + 4;
  while (off < total) {
    ssize_t w = send_some(fd, frame + off, total - off, off == 0 ? fds : NULL, off == 0 ? n_fds : 0);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        return kk_error_kind(err, KK_ERR_UNAVAILABLE, 0, "timed out writing to the peer");
      return kk_error(err, errno, "write");
    }
    off += (size_t)w;
  }
  return 0;
}

int kk_frame_write(int fd, const uint8_t *buf, size_t len, kk_err_t *err) {
  return kk_frame_write_fds(fd, buf, len, NULL, 0, err);
}

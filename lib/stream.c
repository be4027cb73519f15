/* Stream frames and a two-way byte relay (lib/stream.h). */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/stream.h"
#include "lib/util.h"

#define PUMP_BUF 65536

void kk_stream_hdr(uint8_t hdr[KK_STREAM_HDR], enum kk_stream_id id, uint32_t len) {
  hdr[0] = (uint8_t)id;
  hdr[1] = (uint8_t)(len >> 24);
  hdr[2] = (uint8_t)(len >> 16);
  hdr[3] = (uint8_t)(len >> 8);
  hdr[4] = (uint8_t)len;
}

uint32_t kk_stream_hdr_len(const uint8_t hdr[KK_STREAM_HDR]) {
  return (uint32_t)hdr[1] << 24 | (uint32_t)hdr[2] << 16 | (uint32_t)hdr[3] << 8 | hdr[4];
}

void kk_stream_exit_encode(uint8_t out[KK_STREAM_EXIT_LEN], bool ended, int code) {
  uint32_t c = (uint32_t)code;
  out[0] = ended ? 1 : 0;
  out[1] = (uint8_t)(c >> 24);
  out[2] = (uint8_t)(c >> 16);
  out[3] = (uint8_t)(c >> 8);
  out[4] = (uint8_t)c;
}

bool kk_stream_exit_decode(const uint8_t *p, size_t len, bool *ended, int *code) {
  if (len != KK_STREAM_EXIT_LEN || p[0] > 1)
    return false;
  *ended = p[0] == 1;
  *code = (int)((uint32_t)p[1] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 8 | p[4]);
  return true;
}

static size_t control_len(uint8_t id) {
  return id == KK_STREAM_RESIZE ? 4 : id == KK_STREAM_EXIT ? KK_STREAM_EXIT_LEN : id == KK_STREAM_SIGNAL ? 1 : 0;
}

static int header_done(struct kk_stream_parser *ps, kk_stream_piece_fn fn, void *ctx, kk_err_t *err) {
  ps->hdr_got = 0;
  ps->small_got = 0;
  ps->left = kk_stream_hdr_len(ps->hdr);
  size_t want = control_len(ps->hdr[0]);
  if (ps->left > KK_STREAM_MAX_PAYLOAD || (want && ps->left != want))
    return kk_error_kind(err, KK_ERR_INVALID, 0, "malformed stream frame (id %u, %u bytes)", ps->hdr[0], ps->left);
  return ps->left == 0 ? fn(ctx, ps->hdr[0], NULL, 0, err) : 0; /* an empty stdin frame is EOF */
}

int kk_stream_parse(struct kk_stream_parser *ps, const uint8_t *buf, size_t len, kk_stream_piece_fn fn, void *ctx,
                    kk_err_t *err) {
  for (size_t i = 0; i < len;) {
    if (ps->left == 0) {
      ps->hdr[ps->hdr_got++] = buf[i++];
      if (ps->hdr_got == KK_STREAM_HDR && header_done(ps, fn, ctx, err) < 0)
        return -1;
      continue;
    }
    size_t n = len - i < ps->left ? len - i : ps->left;
    int r = 0;
    if (control_len(ps->hdr[0])) {
      memcpy(ps->small + ps->small_got, buf + i, n);
      ps->small_got += n;
      if (ps->small_got == control_len(ps->hdr[0]))
        r = fn(ctx, ps->hdr[0], ps->small, ps->small_got, err);
    } else {
      r = fn(ctx, ps->hdr[0], buf + i, n, err);
    }
    if (r < 0)
      return -1;
    i += n;
    ps->left -= (uint32_t)n;
  }
  return 0;
}

/* writev that never raises SIGPIPE on a socket. */
static ssize_t write_vec(int fd, struct iovec *iov, int n) {
  struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)n};
  ssize_t w = sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
  if (w < 0 && errno == ENOTSOCK)
    w = writev(fd, iov, n);
  return w;
}

static void iov_advance(struct iovec *iov, int *n, size_t w) {
  while (*n > 0 && w >= iov[0].iov_len) {
    w -= iov[0].iov_len;
    iov[0] = iov[1];
    (*n)--;
  }
  if (*n > 0) {
    iov[0].iov_base = (char *)iov[0].iov_base + w;
    iov[0].iov_len -= w;
  }
}

int kk_stream_write(int fd, enum kk_stream_id id, const void *p, size_t len, int timeout_ms, kk_err_t *err) {
  if (len > UINT32_MAX)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "stream frame of %zu bytes", len);
  uint8_t hdr[KK_STREAM_HDR];
  kk_stream_hdr(hdr, id, (uint32_t)len);
  struct iovec iov[2] = {{hdr, sizeof(hdr)}, {(void *)p, len}};
  int n = len > 0 ? 2 : 1;
  int64_t deadline = timeout_ms < 0 ? -1 : kk_monotonic_ms() + timeout_ms;
  while (n > 0) {
    ssize_t w = write_vec(fd, iov, n);
    if (w >= 0) {
      iov_advance(iov, &n, (size_t)w);
      continue;
    }
    if (errno == EINTR)
      continue;
    if (errno != EAGAIN)
      return kk_error(err, errno, "write a stream frame");
    int64_t left = deadline < 0 ? -1 : deadline - kk_monotonic_ms();
    struct pollfd pf = {fd, POLLOUT, 0};
    if (left == 0 || (deadline >= 0 && left < 0) ||
        poll(&pf, 1, left < 0 ? -1 : left > INT_MAX ? INT_MAX : (int)left) == 0)
      return kk_error_kind(err, KK_ERR_UNAVAILABLE, 0, "the reader took no output for %d ms", timeout_ms);
  }
  return 0;
}

/* One direction of the relay. */
struct lane {
  int in, out;
  bool in_open;
  size_t len;
  char buf[PUMP_BUF];
};

/* A socket's reader learns that nothing more comes; a pipe learns it when
 * its owner closes it. */
static void half_close(int fd) { shutdown(fd, SHUT_WR); }

/* Read what fits; false on an error. */
static bool lane_read(struct lane *l) {
  ssize_t r = read(l->in, l->buf + l->len, sizeof(l->buf) - l->len);
  if (r > 0)
    l->len += (size_t)r;
  else if (r == 0 || (errno != EINTR && errno != EAGAIN))
    l->in_open = false;
  return r >= 0 || errno == EINTR || errno == EAGAIN || errno == ECONNRESET;
}

static bool lane_write(struct lane *l) {
  struct iovec iov = {l->buf, l->len};
  ssize_t w = write_vec(l->out, &iov, 1);
  if (w < 0)
    return errno == EINTR || errno == EAGAIN;
  memmove(l->buf, l->buf + w, l->len - (size_t)w);
  l->len -= (size_t)w;
  return true;
}

int kk_stream_pump(int a_in, int a_out, int b_in, int b_out, int stop_fd, kk_err_t *err) {
  cleanup_free struct lane *l = kk_xzalloc(2 * sizeof(*l));
  l[0] = (struct lane){.in = a_in, .out = b_out, .in_open = true};
  l[1] = (struct lane){.in = b_in, .out = a_out, .in_open = true};
  for (;;) {
    for (int k = 0; k < 2; k++)
      if (!l[k].in_open && l[k].len == 0) {
        half_close(l[k].out);
        return 0;
      }
    struct pollfd p[5];
    int idx[2][2] = {{-1, -1}, {-1, -1}};
    nfds_t n = 0;
    for (int k = 0; k < 2; k++) {
      if (l[k].in_open && l[k].len < sizeof(l[k].buf))
        idx[k][0] = (int)n, p[n++] = (struct pollfd){l[k].in, POLLIN, 0};
      if (l[k].len > 0)
        idx[k][1] = (int)n, p[n++] = (struct pollfd){l[k].out, POLLOUT, 0};
    }
    int s = -1;
    if (stop_fd >= 0)
      s = (int)n, p[n++] = (struct pollfd){stop_fd, POLLIN, 0};
    if (poll(p, n, -1) < 0) {
      if (errno == EINTR)
        continue;
      return kk_error(err, errno, "poll");
    }
    if (s >= 0 && p[s].revents)
      return 0;
    for (int k = 0; k < 2; k++) {
      if (idx[k][0] >= 0 && p[idx[k][0]].revents && !lane_read(&l[k]))
        return kk_error(err, errno, "relay: read");
      if (idx[k][1] >= 0 && (p[idx[k][1]].revents & (POLLERR | POLLHUP)) && !(p[idx[k][1]].revents & POLLOUT))
        return kk_error(err, EPIPE, "relay: the reader left");
      if (idx[k][1] >= 0 && p[idx[k][1]].revents && !lane_write(&l[k]))
        return kk_error(err, errno, "relay: write");
    }
  }
}

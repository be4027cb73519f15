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

/* Returns bytes read (== want), or 0 at EOF before the first byte. */
static int read_full(int fd, uint8_t *p, size_t want, bool *eof_at_start, kk_err_t *err) {
  size_t got = 0;
  *eof_at_start = false;
  while (got < want) {
    ssize_t r = read(fd, p + got, want - got);
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

int kk_frame_read(int fd, uint8_t **buf, size_t *len, kk_err_t *err) {
  uint8_t hdr[4];
  bool eof = false;
  if (read_full(fd, hdr, 4, &eof, err) < 0)
    return -1;
  if (eof)
    return 0;
  uint32_t n = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
  if (n > KK_API_MAX_FRAME)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "frame of %u bytes is over the %u byte limit", n, KK_API_MAX_FRAME);
  uint8_t *p = kk_xmalloc(n ? n : 1);
  if (n > 0) {
    if (read_full(fd, p, n, &eof, err) < 0 || eof) {
      free(p);
      if (eof)
        return kk_error_kind(err, KK_ERR_INVALID, 0, "truncated frame: connection closed after the header");
      return -1;
    }
  }
  *buf = p;
  *len = n;
  return 1;
}

int kk_frame_write(int fd, const uint8_t *buf, size_t len, kk_err_t *err) {
  if (len > KK_API_MAX_FRAME)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "message of %zu bytes is over the %u byte limit", len,
                         KK_API_MAX_FRAME);
  uint8_t *frame = kk_xmalloc(len + 4);
  frame[0] = (uint8_t)(len >> 24);
  frame[1] = (uint8_t)(len >> 16);
  frame[2] = (uint8_t)(len >> 8);
  frame[3] = (uint8_t)len;
  if (len)
    memcpy(frame + 4, buf, len);
  /* send(MSG_NOSIGNAL): a peer that went away is an error, not SIGPIPE. */
  size_t off = 0, total = len + 4;
  while (off < total) {
    ssize_t w = send(fd, frame + off, total - off, MSG_NOSIGNAL);
    if (w < 0 && errno == ENOTSOCK)
      w = write(fd, frame + off, total - off);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      int saved = errno;
      free(frame);
      if (saved == EAGAIN || saved == EWOULDBLOCK)
        return kk_error_kind(err, KK_ERR_UNAVAILABLE, 0, "timed out writing to the peer");
      return kk_error(err, saved, "write");
    }
    off += (size_t)w;
  }
  free(frame);
  return 0;
}

/* Stream frames: what a monitor's attach socket carries, and what a
 * kukeonv1 connection carries once a log, attach or exec request has been
 * answered (so a client holding nothing but the socket, tunnelled or over
 * ssh, sees a container's output, feeds its input and learns its exit):
 *
 *   [1 byte stream id][4-byte big-endian payload length][payload]
 *
 * Ids 0-3 are the monitor's (runtime/monitor.c); 4 and 5 only ever travel
 * between kukeond and a client. */
#ifndef KK_LIB_STREAM_H
#define KK_LIB_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/error.h"

enum kk_stream_id {
  KK_STREAM_STDIN = 0,  /* to the process; a zero-length frame is EOF */
  KK_STREAM_STDOUT = 1, /* all output of a terminal */
  KK_STREAM_STDERR = 2,
  KK_STREAM_RESIZE = 3, /* 4 bytes: rows, cols, 16-bit big-endian each */
  KK_STREAM_EXIT = 4,   /* last frame from kukeond: KK_STREAM_EXIT_LEN bytes */
  KK_STREAM_SIGNAL = 5, /* to the process: 1 byte, the signal number */
};

#define KK_STREAM_HDR 5
#define KK_STREAM_MAX_PAYLOAD 65536u /* larger: the peer is not one of ours */
/* Exit payload: 1 byte "it ended" (0: the stream stopped first, e.g. a log
 * that was not followed), 4-byte big-endian exit code. */
#define KK_STREAM_EXIT_LEN 5

void kk_stream_hdr(uint8_t hdr[KK_STREAM_HDR], enum kk_stream_id id, uint32_t len);
/* Payload length from a complete header. */
uint32_t kk_stream_hdr_len(const uint8_t hdr[KK_STREAM_HDR]);
void kk_stream_exit_encode(uint8_t out[KK_STREAM_EXIT_LEN], bool ended, int code);
/* false when the payload is not an exit payload. */
bool kk_stream_exit_decode(const uint8_t *p, size_t len, bool *ended, int *code);

/* Reading frames as bytes come: each piece of a payload is handed on with
 * its frame's id as it arrives (a frame may come in many reads); small
 * payloads (resize, signal, exit) whole.  fn returns < 0 to stop. */
struct kk_stream_parser {
  uint8_t hdr[KK_STREAM_HDR];
  size_t hdr_got;
  uint32_t left;
  uint8_t small[KK_STREAM_EXIT_LEN]; /* a control payload so far */
  size_t small_got;
};
typedef int (*kk_stream_piece_fn)(void *ctx, enum kk_stream_id id, const uint8_t *p, size_t n, kk_err_t *err);
/* A frame over KK_STREAM_MAX_PAYLOAD, or a control frame (resize, exit,
 * signal) of the wrong size, is an error: the peer is not one of ours. */
int kk_stream_parse(struct kk_stream_parser *ps, const uint8_t *buf, size_t len, kk_stream_piece_fn fn, void *ctx,
                    kk_err_t *err);

/* Write one frame whole within timeout_ms (-1: no limit), on a blocking or
 * non-blocking fd; a reader that stops reading fails the write instead of
 * holding the writer (EPIPE is an error, never a signal). */
int kk_stream_write(int fd, enum kk_stream_id id, const void *p, size_t len, int timeout_ms, kk_err_t *err);

/* Relay bytes both ways between (a_in -> b_out) and (b_in -> a_out) until
 * one input has ended or a side failed: an EOF on one input is
 * passed on as a half-close of the other side's output (shutdown SHUT_WR on
 * a socket) and ends the relay.  Each direction buffers at most 64 KiB, so a
 * side that stops reading stops the other from being read, never memory.
 * stop_fd (-1: none) ends the relay when it becomes readable.  Returns 0
 * when both directions ended cleanly. */
int kk_stream_pump(int a_in, int a_out, int b_in, int b_out, int stop_fd, kk_err_t *err);

#endif

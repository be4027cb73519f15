/* api/frame.c: frames over sockets and pipes, and the deadlines that keep
 * a slow or stalled peer from holding a reader or a writer. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "api/api.h"
#include "api/kukeonv1.pb-c.h"
#include "lib/util.h"
#include "tests/unit/unit.h"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void pair(int sv[2]) { ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0); }

START_TEST(round_trip_socket_and_pipe) {
  int sv[2], pp[2];
  pair(sv);
  ck_assert_int_eq(pipe(pp), 0);
  for (int k = 0; k < 2; k++) {
    int w = k == 0 ? sv[0] : pp[1], r = k == 0 ? sv[1] : pp[0];
    kk_err_t err = NULL;
    ck_assert_int_eq(kk_frame_write(w, (const uint8_t *)"hello", 5, &err), 0);
    uint8_t *buf = NULL;
    size_t len = 0;
    ck_assert_int_eq(kk_frame_read(r, &buf, &len, &err), 1);
    ck_assert_uint_eq(len, 5);
    ck_assert_mem_eq(buf, "hello", 5);
    free(buf);
  }
  close(sv[0]);
  uint8_t *buf = NULL;
  size_t len = 0;
  kk_err_t err = NULL;
  ck_assert_int_eq(kk_frame_read(sv[1], &buf, &len, &err), 0); /* clean EOF */
  close(sv[1]);
  close(pp[0]);
  close(pp[1]);
}
END_TEST

/* Nobody says anything: an idle limit ends the wait with 0, not an error. */
START_TEST(idle_limit) {
  int sv[2];
  pair(sv);
  uint8_t *buf = NULL;
  size_t len = 0;
  kk_err_t err = NULL;
  double t0 = now_s();
  ck_assert_int_eq(kk_frame_read_timeout(sv[1], 200, &buf, &len, &err), 0);
  ck_assert_ptr_null(err);
  ck_assert(now_s() - t0 < 2);
  close(sv[0]);
  close(sv[1]);
}
END_TEST

/* One byte every 300 ms renews no timeout: the frame as a whole is late
 * after KK_API_FRAME_DEADLINE_MS. */
START_TEST(trickle_cannot_renew_the_deadline) {
  int sv[2];
  pair(sv);
  pid_t pid = fork();
  if (pid == 0) {
    static const uint8_t hdr[4] = {0, 0, 0, 100};
    for (int i = 0; i < 60; i++) {
      uint8_t b = i < 4 ? hdr[i] : 'x';
      if (write(sv[0], &b, 1) != 1)
        _exit(0);
      usleep(300000);
    }
    _exit(0);
  }
  close(sv[0]);
  uint8_t *buf = NULL;
  size_t len = 0;
  kk_err_t err = NULL;
  double t0 = now_s();
  ck_assert_int_eq(kk_frame_read(sv[1], &buf, &len, &err), -1);
  double took = now_s() - t0;
  ck_assert_msg(took > 4.5 && took < 7, "gave up after %.1f s", took);
  ck_assert_ptr_nonnull(strstr(err->msg, "not complete within"));
  kk_error_free(&err);
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
  close(sv[1]);
}
END_TEST

/* A peer that never reads: the write gives up at its deadline (at once
 * with a timeout of 0) instead of blocking. */
START_TEST(write_to_a_reader_that_never_reads) {
  int sv[2];
  pair(sv);
  size_t n = 4u << 20;
  uint8_t *big = kk_xzalloc(n);
  kk_err_t err = NULL;
  double t0 = now_s();
  ck_assert_int_eq(kk_frame_write_timeout(sv[0], big, n, 0, &err), -1);
  ck_assert(now_s() - t0 < 1);
  kk_error_free(&err);
  t0 = now_s();
  ck_assert_int_eq(kk_frame_write(sv[0], big, n, &err), -1);
  double took = now_s() - t0;
  ck_assert_msg(took > 4.5 && took < 7, "gave up after %.1f s", took);
  ck_assert_ptr_nonnull(strstr(err->msg, "timed out writing"));
  kk_error_free(&err);
  free(big);
  close(sv[0]);
  close(sv[1]);
}
END_TEST

/* The method table: every way a request can be wrong gets its own answer,
 * and a well-formed ping (no controller needed) its version. */
static Kukeonv1__Response *dispatch(Kukeonv1__Method method, const uint8_t *payload, size_t plen,
                                    bool envelope) {
  Kukeonv1__Request r = KUKEONV1__REQUEST__INIT;
  r.method = method;
  r.payload.data = (uint8_t *)payload;
  r.payload.len = plen;
  size_t len = kukeonv1__request__get_packed_size(&r);
  uint8_t *req = malloc(len + 1);
  kukeonv1__request__pack(&r, req);
  if (!envelope) /* a field tag that cannot be */
    req[0] = 0xff, len = 1;
  struct kk_api_call call = {.cancel_fd = -1};
  uint8_t *resp = NULL;
  size_t resp_len = 0;
  kk_api_dispatch(NULL, &call, req, len, &resp, &resp_len);
  free(req);
  Kukeonv1__Response *out = kukeonv1__response__unpack(NULL, resp_len, resp);
  free(resp);
  ck_assert_ptr_nonnull(out);
  return out;
}

START_TEST(dispatch_by_method_table) {
  static const uint8_t garbage[] = {0xff, 0xff, 0xff};
  Kukeonv1__Response *r = dispatch(KUKEONV1__METHOD__PING, NULL, 0, false);
  ck_assert_int_eq(r->error_kind, KUKEONV1__ERROR_KIND__INVALID);
  ck_assert_str_eq(r->error_message, "malformed request frame");
  kukeonv1__response__free_unpacked(r, NULL);

  r = dispatch((Kukeonv1__Method)99, NULL, 0, true);
  ck_assert_str_eq(r->error_message, "unknown method 99");
  kukeonv1__response__free_unpacked(r, NULL);

  r = dispatch(KUKEONV1__METHOD__CELL_OP, garbage, sizeof(garbage), true);
  ck_assert_str_eq(r->error_message, "malformed cell operation request");
  kukeonv1__response__free_unpacked(r, NULL);

  r = dispatch(KUKEONV1__METHOD__PING, NULL, 0, true);
  ck_assert_int_eq(r->error_kind, KUKEONV1__ERROR_KIND__OK);
  Kukeonv1__PingResponse *pong = kukeonv1__ping_response__unpack(NULL, r->payload.len, r->payload.data);
  ck_assert_ptr_nonnull(pong);
  ck_assert_int_gt(strlen(pong->version), 0); /* KUKEON_VERSION of the library build */
  kukeonv1__ping_response__free_unpacked(pong, NULL);
  kukeonv1__response__free_unpacked(r, NULL);
}
END_TEST

static Suite *frame_suite(void) {
  Suite *s = suite_create("frame");
  TCase *t = tcase_create("deadlines");
  tcase_set_timeout(t, 20);
  tcase_add_test(t, round_trip_socket_and_pipe);
  tcase_add_test(t, idle_limit);
  tcase_add_test(t, trickle_cannot_renew_the_deadline);
  tcase_add_test(t, write_to_a_reader_that_never_reads);
  tcase_add_test(t, dispatch_by_method_table);
  suite_add_tcase(s, t);
  return s;
}

KK_UNIT_MAIN(frame_suite)

/* Running containers as last observed (controller/seen.c) and the monitor
 * identity they are checked by (runtime/monitor_ctl.c): a monitor is one
 * process, told apart from a later one with its pid by its start time. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "controller/internal.h"
#include "lib/cleanup.h"
#include "lib/util.h"
#include "unit.h"

START_TEST(seen_by_bundle) {
  struct kk_seen s;
  kk_ctl_seen_init(&s);
  char key[64];
  for (int i = 999; i >= 0; i--) { /* out of order: the table sorts */
    snprintf(key, sizeof(key), "/b/%d", i);
    struct kk_monitor_id m = {1000 + i, 7, -1};
    kk_ctl_seen_put(&s, key, &m, 5000 + i);
  }
  struct kk_monitor_id m = {2, 9, -1};
  kk_ctl_seen_put(&s, "/b/500", &m, 42); /* a later start replaces */
  ck_assert_uint_eq(s.n, 1000);
  struct kk_monitor_id got;
  pid_t init = 0;
  ck_assert(kk_ctl_seen_get(&s, "/b/7", &got, &init));
  ck_assert_int_eq(got.pid, 1007);
  ck_assert_int_eq(init, 5007);
  ck_assert(kk_ctl_seen_get(&s, "/b/500", &got, &init));
  ck_assert_int_eq(got.pid, 2);
  ck_assert_uint_eq(got.start, 9);
  ck_assert_int_eq(init, 42);
  ck_assert(!kk_ctl_seen_get(&s, "/b/1000", &got, &init));
  kk_ctl_seen_free(&s);
}
END_TEST

/* A child named as a monitor names, its pid in <dir>/monitor.pid; *id
 * who it is once it renamed itself. */
static pid_t fake_monitor(int dfd, struct kk_monitor_id *id) {
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    prctl(PR_SET_NAME, "kukeon-monitor");
    pause();
    _exit(0);
  }
  char buf[32];
  int n = snprintf(buf, sizeof(buf), "%d\n", (int)pid);
  cleanup_close int fd = openat(dfd, "monitor.pid", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  ck_assert_int_eq(write(fd, buf, (size_t)n), n);
  for (int i = 0; i < 200 && !kk_monitor_identify(dfd, id); i++)
    usleep(10000);
  return pid;
}

START_TEST(monitor_identity) {
  char dir[] = "/tmp/kk-test-seen.XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(dir));
  cleanup_close int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  struct kk_monitor_id id = {0};
  ck_assert(!kk_monitor_identify(dfd, &id)); /* no monitor.pid */
  pid_t pid = fake_monitor(dfd, &id);
  ck_assert_int_eq(id.pid, pid);
  ck_assert_uint_gt(id.start, 0);
  ck_assert(kk_monitor_still_runs(&id));
  struct kk_monitor_id held = id;
  ck_assert(kk_monitor_hold(&held));
  ck_assert_int_ge(held.pidfd, 0);
  ck_assert(kk_monitor_still_runs(&held));
  struct kk_monitor_id later = {id.pid, id.start + 1, -1}; /* the same pid, started later */
  ck_assert(!kk_monitor_hold(&later)); /* not that very process */
  ck_assert_int_eq(later.pidfd, -1);
  ck_assert(!kk_monitor_still_runs(&later));
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
  ck_assert(!kk_monitor_still_runs(&id));
  ck_assert(!kk_monitor_still_runs(&held)); /* its pidfd polls readable */
  kk_monitor_release(&held);
  ck_assert_int_eq(held.pidfd, -1);
  struct kk_monitor_id self = {getpid(), 0, -1}; /* not a monitor */
  ck_assert(!kk_monitor_still_runs(&self));
  unlinkat(dfd, "monitor.pid", 0);
  rmdir(dir);
}
END_TEST

/* The table answers "still running" by the monitor it saw, held by a
 * pidfd: the init's pid while that process lives, 0 once it died. */
START_TEST(seen_running_follows_the_monitor) {
  char dir[] = "/tmp/kk-test-seen.XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(dir));
  cleanup_close int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  struct kk_monitor_id id = {0};
  pid_t pid = fake_monitor(dfd, &id);
  struct kk_seen s;
  kk_ctl_seen_init(&s);
  kk_ctl_seen_put(&s, dir, &id, 4242);
  pid_t while_alive = kk_ctl_seen_running(&s, dir), unknown = kk_ctl_seen_running(&s, "/elsewhere");
  size_t held = s.held;
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
  pid_t after = kk_ctl_seen_running(&s, dir);
  size_t left = s.n, held_after = s.held;
  kk_ctl_seen_free(&s);
  unlinkat(dfd, "monitor.pid", 0);
  rmdir(dir);
  ck_assert_int_eq(while_alive, 4242);
  ck_assert_int_eq(unknown, 0);
  ck_assert_int_eq(after, 0);
  ck_assert_uint_le(held, 1);
  ck_assert_uint_eq(left, 0); /* a dead monitor's entry (and fd) goes */
  ck_assert_uint_eq(held_after, 0);
}
END_TEST

static Suite *seen_suite(void) {
  Suite *s = suite_create("seen");
  TCase *tc = tcase_create("seen");
  tcase_add_test(tc, seen_by_bundle);
  tcase_add_test(tc, monitor_identity);
  tcase_add_test(tc, seen_running_follows_the_monitor);
  suite_add_tcase(s, tc);
  return s;
}

KK_UNIT_MAIN(seen_suite)

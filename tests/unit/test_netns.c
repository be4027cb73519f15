/* netns/: what exists before the networking floor lands. */
#include <check.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/error.h"
#include "netns/netns.h"
#include "tests/unit/unit.h"

START_TEST(path_of_pid) {
  char buf[KK_NETNS_PATH_MAX];
  kk_netns_path(1, buf);
  ck_assert_str_eq(buf, "/proc/1/ns/net");
  kk_netns_path(4194304, buf); /* PID_MAX_LIMIT fits */
  ck_assert_str_eq(buf, "/proc/4194304/ns/net");
}
END_TEST

START_TEST(open_own_and_missing) {
  kk_err_t err = NULL;
  int fd = kk_netns_open(getpid(), &err);
  ck_assert_int_ge(fd, 0);
  struct stat own, via_self;
  ck_assert_int_eq(fstat(fd, &own), 0);
  ck_assert_int_eq(stat("/proc/self/ns/net", &via_self), 0);
  ck_assert(own.st_ino == via_self.st_ino);
  close(fd);
  ck_assert_int_lt(kk_netns_open(0x7ffffff0, &err), 0);
  ck_assert_int_eq(err->kind, KK_ERR_NOT_FOUND);
  ck_assert_ptr_nonnull(strstr(err->msg, "network namespace of pid"));
  kk_error_free(&err);
}
END_TEST

static Suite *netns_suite(void) {
  Suite *s = suite_create("netns");
  TCase *t = tcase_create("netns");
  tcase_add_test(t, path_of_pid);
  tcase_add_test(t, open_own_and_missing);
  suite_add_tcase(s, t);
  return s;
}

KK_UNIT_MAIN(netns_suite)

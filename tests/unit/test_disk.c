/* controller/disk.c: the disk-pressure guard's decisions (issue 20.6).
 * Percent used as df counts it, the thresholds as flags and variables
 * give them, the 5-minute WARN book, and the guard itself on a real
 * directory (its filesystem is what it is: the thresholds are chosen
 * around it).  No root, no store. */
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "controller/internal.h"
#include "lib/util.h"
#include "model/model.h"
#include "unit.h"

START_TEST(used_percent_as_df_counts) {
  ck_assert_int_eq(kk_ctl_disk_used_pct(100, 100, 100), 0);
  ck_assert_int_eq(kk_ctl_disk_used_pct(100, 50, 50), 50);
  /* Space kept for root is neither used nor available: 90 used of 95. */
  ck_assert_int_eq(kk_ctl_disk_used_pct(100, 10, 5), 95);
  ck_assert_int_eq(kk_ctl_disk_used_pct(1000, 41, 41), 96); /* 95.9: rounded up */
  ck_assert_int_eq(kk_ctl_disk_used_pct(100, 0, 0), 100);
  ck_assert_int_eq(kk_ctl_disk_used_pct(0, 0, 0), 0);
}
END_TEST

START_TEST(percent_flags_and_variables) {
  int v = -1;
  kk_err_t err = NULL;
  ck_assert_int_eq(kk_ctl_disk_pct_parse("0", "--x", &v, &err), 0);
  ck_assert_int_eq(v, 0);
  ck_assert_int_eq(kk_ctl_disk_pct_parse("100", "--x", &v, &err), 0);
  ck_assert_int_eq(v, 100);
  const char *bad[] = {"", "101", "-1", "5x", "9999999999999999999", " 5"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    v = 7;
    ck_assert_int_eq(kk_ctl_disk_pct_parse(bad[i], "--disk-pressure-block-percent", &v, &err), -1);
    ck_assert_int_eq(v, 7);
    ck_assert_ptr_nonnull(strstr(err->msg, "invalid --disk-pressure-block-percent"));
    kk_error_free(&err);
  }
  struct kk_controller_config cfg = {0};
  unsetenv("KUKEOND_DISK_PRESSURE_WARN_PCT");
  unsetenv("KUKEOND_DISK_PRESSURE_BLOCK_PCT");
  ck_assert_int_eq(kk_ctl_disk_pressure_env(&cfg, &err), 0);
  ck_assert_int_eq(cfg.disk_warn_pct, 85);
  ck_assert_int_eq(cfg.disk_block_pct, 95);
  setenv("KUKEOND_DISK_PRESSURE_BLOCK_PCT", "0", 1);
  ck_assert_int_eq(kk_ctl_disk_pressure_env(&cfg, &err), 0);
  ck_assert_int_eq(cfg.disk_block_pct, 0);
  setenv("KUKEOND_DISK_PRESSURE_WARN_PCT", "lots", 1);
  ck_assert_int_eq(kk_ctl_disk_pressure_env(&cfg, &err), -1);
  ck_assert_str_eq(err->msg, "invalid KUKEOND_DISK_PRESSURE_WARN_PCT \"lots\": expected a percent from 0 (off) to 100");
  kk_error_free(&err);
  unsetenv("KUKEOND_DISK_PRESSURE_WARN_PCT");
  unsetenv("KUKEOND_DISK_PRESSURE_BLOCK_PCT");
}
END_TEST

START_TEST(warn_every_five_minutes) {
  ck_assert(kk_ctl_disk_warn_due(0, 1000));
  ck_assert(!kk_ctl_disk_warn_due(1000, 1000));
  ck_assert(!kk_ctl_disk_warn_due(1000, 1000 + 299999));
  ck_assert(kk_ctl_disk_warn_due(1000, 1000 + 300000));
}
END_TEST

static struct kk_doc *cell_in(const char *realm) {
  struct kk_doc *d = kk_doc_new(KK_KIND_CELL);
  d->u.cell.metadata.name = kk_xstrdup("c");
  d->u.cell.spec.realm_id = kk_xstrdup(realm);
  return d;
}

/* The percent the guard will see for dir, so thresholds sit around it. */
static int pct_of(const char *dir) {
  struct statvfs sv;
  ck_assert_int_eq(statvfs(dir, &sv), 0);
  return kk_ctl_disk_used_pct(sv.f_blocks, sv.f_bfree, sv.f_bavail);
}

START_TEST(guard_refuses_new_cells_at_the_block_threshold) {
  char tmpl[] = "/tmp/kk-test-disk.XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(tmpl));
  int pct = pct_of(tmpl);
  struct kk_controller c = {0};
  c.run_path = tmpl;
  struct kk_doc *cell = cell_in("r"), *realm = kk_doc_new(KK_KIND_REALM);
  kk_err_t err = NULL;
  if (pct > 0) {
    c.cfg.disk_block_pct = pct; /* at the threshold: refused */
    ck_assert_int_eq(kk_ctl_disk_guard(&c, cell, false, &err), -1);
    ck_assert_int_eq(err->kind, KK_ERR_CONFLICT);
    ck_assert_ptr_nonnull(strstr(err->msg, "data volume is under disk pressure: "));
    ck_assert_ptr_nonnull(strstr(err->msg, tmpl)); /* the realm has no folder: the run path */
    kk_error_free(&err);
    ck_assert_int_eq(kk_ctl_disk_guard(&c, cell, true, &err), 0); /* --ignore-disk-pressure */
    ck_assert_int_eq(kk_ctl_disk_guard(&c, realm, false, &err), 0); /* only cells */
  }
  if (pct < 100) {
    c.cfg.disk_block_pct = pct + 1;
    ck_assert_int_eq(kk_ctl_disk_guard(&c, cell, false, &err), 0);
  }
  c.cfg.disk_block_pct = 0; /* off */
  ck_assert_int_eq(kk_ctl_disk_guard(&c, cell, false, &err), 0);
  kk_doc_free(cell);
  kk_doc_free(realm);
  kk_ctl_disk_warns_free(&c.disk_warns);
  rmdir(tmpl);
}
END_TEST

START_TEST(observe_books_one_warn_per_realm) {
  char tmpl[] = "/tmp/kk-test-disk.XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(tmpl));
  struct kk_controller c = {0};
  c.run_path = tmpl;
  c.cfg.disk_warn_pct = 1;
  if (pct_of(tmpl) >= 1) {
    kk_ctl_disk_observe(&c, "a");
    ck_assert_uint_eq(c.disk_warns.n, 1);
    int64_t first = c.disk_warns.v[0].at_ms;
    ck_assert_int_ne(first, 0);
    kk_ctl_disk_observe(&c, "a"); /* within 5 minutes: not again */
    ck_assert_uint_eq(c.disk_warns.n, 1);
    ck_assert_int_eq(c.disk_warns.v[0].at_ms, first);
    kk_ctl_disk_observe(&c, "b"); /* another realm has its own */
    ck_assert_uint_eq(c.disk_warns.n, 2);
    ck_assert_str_eq(c.disk_warns.v[1].realm, "b");
  }
  c.cfg.disk_warn_pct = 0;
  kk_ctl_disk_observe(&c, "z");
  ck_assert(c.disk_warns.n <= 2);
  kk_ctl_disk_warns_free(&c.disk_warns);
  rmdir(tmpl);
}
END_TEST

static Suite *disk_suite(void) {
  Suite *s = suite_create("disk");
  TCase *tc = tcase_create("guard");
  tcase_add_test(tc, used_percent_as_df_counts);
  tcase_add_test(tc, percent_flags_and_variables);
  tcase_add_test(tc, warn_every_five_minutes);
  tcase_add_test(tc, guard_refuses_new_cells_at_the_block_threshold);
  tcase_add_test(tc, observe_books_one_warn_per_realm);
  suite_add_tcase(s, tc);
  return s;
}

KK_UNIT_MAIN(disk_suite)

/* cgroupfs unit tests: parsing (mountinfo, controller lists, limit formats,
 * keyed files), classification, names and paths, shares conversion, and the
 * tree / limits / removal / doctor logic against a fake cgroup tree in a temp
 * dir (no root needed). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "cgroupfs/cgroupfs.h"
#include "lib/fs.h"
#include "lib/util.h"
#include "tests/unit/unit.h"

/* ------------------------------------------------------------ fixtures */

static char *tmp;          /* the fake cgroup2 mount */
static bool have_xattr;    /* the temp fs takes user.* xattrs (the ownership marker) */

static void put(const char *rel, const char *content) {
  cleanup_free char *p = kk_asprintf("%s/%s", tmp, rel);
  FILE *f = fopen(p, "w");
  ck_assert_msg(f != NULL, "create %s: %s", p, strerror(errno));
  fputs(content, f);
  fclose(f);
}

static char *get(const char *rel) {
  cleanup_free char *p = kk_asprintf("%s/%s", tmp, rel);
  char *out = NULL;
  kk_err_t err = NULL;
  if (kk_read_file_at(AT_FDCWD, p, 1 << 20, &out, NULL, &err) < 0) {
    kk_error_free(&err);
    return NULL;
  }
  char *nl = strchr(out, '\n');
  if (nl && nl[1] == '\0')
    *nl = '\0';
  return out;
}

static bool exists(const char *rel) {
  cleanup_free char *p = kk_asprintf("%s/%s", tmp, rel);
  struct stat st;
  return stat(p, &st) == 0;
}

static void setup(void) {
  char tmpl[] = "/tmp/kk-unit-cgroupfs.XXXXXX";
  ck_assert(mkdtemp(tmpl) != NULL);
  tmp = kk_xstrdup(tmpl);
  have_xattr = setxattr(tmp, "user.kukeon-probe", "1", 1, 0) == 0;
  if (have_xattr)
    removexattr(tmp, "user.kukeon-probe");
  put("cgroup.controllers", "cpuset cpu io memory hugetlb pids rdma misc\n");
  put("cgroup.subtree_control", "\n");
}

static void teardown(void) {
  kk_err_t err = NULL;
  kk_rm_rf_at(AT_FDCWD, tmp, &err);
  kk_error_free(&err);
  free(tmp);
  tmp = NULL;
}

static struct kk_cg_host *fake(enum kk_cg_mode mode) {
  struct kk_cg_host *h = NULL;
  kk_err_t err = NULL;
  ck_assert_msg(kk_cg_host_open_fake(tmp, mode, &h, &err) == 0, "%s", err ? err->msg : "");
  return h;
}

#define SKIP_WITHOUT_XATTR()                                                                       \
  do {                                                                                             \
    if (!have_xattr) {                                                                             \
      fprintf(stderr, "note: %s: the temp fs has no user xattrs, skipped\n", __func__);           \
      return;                                                                                      \
    }                                                                                              \
  } while (0)

/* ------------------------------------------------------------ mountinfo */

static const char *hybrid_mi =
    "23 1 0:21 / / rw,relatime - ext4 /dev/vda1 rw\n"
    "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:5 - cgroup cgroup rw,cpu,cpuacct\n"
    "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
    "39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n"
    "40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd\n"
    "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate\n"
    "\n"
    "50 23 0:40 /sub /mnt/with\\040space rw - cgroup2 cgroup2 rw\n";

START_TEST(test_mountinfo_hybrid) {
  struct kk_cg_mounts m = {0};
  kk_err_t err = NULL;
  ck_assert_int_eq(kk_cg_parse_mountinfo(hybrid_mi, &m, &err), 0);
  ck_assert_uint_eq(m.n, 6); /* ext4 and tmpfs lines dropped */
  const struct kk_cg_mount *v2 = kk_cg_mounts_find_v2(&m, "/sys/fs/cgroup/unified");
  ck_assert_ptr_nonnull(v2);
  ck_assert_str_eq(v2->super_opts, "rw,nsdelegate");
  ck_assert_str_eq(v2->root, "/");
  const struct kk_cg_mount *cpu = kk_cg_mounts_find_v1(&m, "cpuacct");
  ck_assert_ptr_nonnull(cpu);
  ck_assert_str_eq(cpu->mountpoint, "/sys/fs/cgroup/cpu,cpuacct");
  ck_assert(kk_strv_contains(&cpu->controllers, "cpu"));
  ck_assert_ptr_eq(kk_cg_mounts_find_v1(&m, "cpu"), cpu);
  ck_assert_ptr_nonnull(kk_cg_mounts_find_v1(&m, "name=systemd"));
  ck_assert(!kk_strv_contains(&kk_cg_mounts_find_v1(&m, "name=systemd")->controllers, "xattr"));
  ck_assert_ptr_null(kk_cg_mounts_find_v1(&m, "blkio"));
  const struct kk_cg_mount *sp = kk_cg_mounts_find_v2(&m, "/mnt/with space");
  ck_assert_ptr_nonnull(sp); /* \040 unescaped */
  ck_assert_str_eq(sp->root, "/sub");
  kk_cg_mounts_free(&m);
}
END_TEST

START_TEST(test_mountinfo_malformed) {
  struct kk_cg_mounts m = {0};
  kk_err_t err = NULL;
  ck_assert_int_eq(kk_cg_parse_mountinfo("23 1 0:21 / / rw - ext4 /dev/vda1 rw\n\n1 2 3\n", &m, &err), -1);
  ck_assert_ptr_nonnull(strstr(err->msg, "mountinfo line 3: malformed"));
  ck_assert_int_eq(err->kind, KK_ERR_INVALID);
  kk_error_free(&err);
  /* No "-" separator. */
  ck_assert_int_eq(kk_cg_parse_mountinfo("1 2 0:1 / /x rw a b c d\n", &m, &err), -1);
  kk_error_free(&err);
  ck_assert_int_eq(kk_cg_parse_mountinfo("", &m, &err), 0);
  ck_assert_uint_eq(m.n, 0);
}
END_TEST

START_TEST(test_classify) {
  ck_assert_int_eq(kk_cg_classify(KK_CG_CGROUP2_MAGIC, false), KK_CG_MODE_UNIFIED);
  ck_assert_int_eq(kk_cg_classify(KK_CG_CGROUP2_MAGIC, true), KK_CG_MODE_UNIFIED);
  ck_assert_int_eq(kk_cg_classify(KK_CG_TMPFS_MAGIC, true), KK_CG_MODE_HYBRID);
  ck_assert_int_eq(kk_cg_classify(KK_CG_TMPFS_MAGIC, false), KK_CG_MODE_LEGACY);
  ck_assert_int_eq(kk_cg_classify(0xEF53 /* ext4 */, true), KK_CG_MODE_UNKNOWN);
  ck_assert_str_eq(kk_cg_mode_name(KK_CG_MODE_HYBRID), "hybrid");
}
END_TEST

START_TEST(test_parse_controllers) {
  struct kk_strv sv = {0};
  kk_cg_parse_controllers("cpuset cpu io memory pids\n", &sv);
  ck_assert_uint_eq(sv.n, 5);
  ck_assert_str_eq(sv.v[1], "cpu");
  kk_strv_free(&sv);
  kk_cg_parse_controllers("+cpu +memory  cpu\t\n", &sv);
  ck_assert_uint_eq(sv.n, 2);
  ck_assert_str_eq(sv.v[0], "cpu");
  ck_assert_str_eq(sv.v[1], "memory");
  kk_strv_free(&sv);
  kk_cg_parse_controllers("\n", &sv);
  ck_assert_uint_eq(sv.n, 0);
  kk_strv_free(&sv);
}
END_TEST

/* ------------------------------------------------------------ names, paths */

START_TEST(test_root_normalize) {
  kk_err_t err = NULL;
  char *out = NULL;
  ck_assert_int_eq(kk_cg_root_normalize("/kukeon/", &out, &err), 0);
  ck_assert_str_eq(out, "/kukeon");
  free(out);
  ck_assert_int_eq(kk_cg_root_normalize("//a//b/", &out, &err), 0);
  ck_assert_str_eq(out, "/a/b");
  free(out);
  const char *bad[] = {"/", "", "kukeon", "/a/../b", "/a/./b", "/memory.max", "///"};
  for (size_t i = 0; i < KK_ARRAY_SIZE(bad); i++) {
    ck_assert_msg(kk_cg_root_normalize(bad[i], &out, &err) == -1, "accepted \"%s\"", bad[i]);
    ck_assert_int_eq(err->kind, KK_ERR_INVALID);
    kk_error_free(&err);
  }
  ck_assert_int_eq(kk_cg_root_normalize(NULL, &out, &err), -1);
  kk_error_free(&err);
}
END_TEST

START_TEST(test_name_check) {
  kk_err_t err = NULL;
  const char *good[] = {"web", "my.app", "cpuhog", "a_b", "memory", "io-heavy", "x.memory.max"};
  for (size_t i = 0; i < KK_ARRAY_SIZE(good); i++)
    ck_assert_msg(kk_cg_name_check(good[i], &err) == 0, "refused \"%s\"", good[i]);
  const char *bad[] = {"", ".", "..", "a/b", "memory.max", "cgroup.procs", "io.x", "pids.y", "x\ny",
                       "tab\tx"};
  for (size_t i = 0; i < KK_ARRAY_SIZE(bad); i++) {
    ck_assert_msg(kk_cg_name_check(bad[i], &err) == -1, "accepted \"%s\"", bad[i]);
    kk_error_free(&err);
  }
  char longname[300];
  memset(longname, 'a', sizeof(longname) - 1);
  longname[299] = '\0';
  ck_assert_int_eq(kk_cg_name_check(longname, &err), -1);
  ck_assert_ptr_nonnull(strstr(err->msg, "longer than 255"));
  kk_error_free(&err);
}
END_TEST

START_TEST(test_paths) {
  cleanup_free char *a = kk_cg_rel("r", "s", "t", "c");
  ck_assert_str_eq(a, "r/s/t/c");
  cleanup_free char *b = kk_cg_rel("r", "s", NULL, "ignored");
  ck_assert_str_eq(b, "r/s");
  cleanup_free char *c = kk_cg_rel(NULL, NULL, NULL, NULL);
  ck_assert_str_eq(c, "");
  cleanup_free char *d = kk_cg_status_path("/kukeon/", "default/default/default/hello");
  ck_assert_str_eq(d, "/kukeon/default/default/default/hello");
  cleanup_free char *e = kk_cg_status_path("/kukeon", "");
  ck_assert_str_eq(e, "/kukeon");
}
END_TEST

/* ------------------------------------------------------------ formats */

START_TEST(test_formats) {
  kk_err_t err = NULL;
  int64_t v = 0, q = 0, p = 0;
  ck_assert_int_eq(kk_cg_parse_max("max\n", &v, &err), 0);
  ck_assert(v == KK_CG_MAX);
  ck_assert_int_eq(kk_cg_parse_max("8388608\n", &v, &err), 0);
  ck_assert_int_eq(v, 8388608);
  ck_assert_int_eq(kk_cg_parse_max("12abc", &v, &err), -1);
  kk_error_free(&err);
  ck_assert_int_eq(kk_cg_parse_max("-5", &v, &err), -1);
  kk_error_free(&err);
  ck_assert_int_eq(kk_cg_parse_cpu_max("max 100000\n", &q, &p, &err), 0);
  ck_assert(q == KK_CG_MAX);
  ck_assert_int_eq(p, 100000);
  ck_assert_int_eq(kk_cg_parse_cpu_max("50000 100000", &q, &p, &err), 0);
  ck_assert_int_eq(q, 50000);
  ck_assert_int_eq(kk_cg_parse_cpu_max("50000", &q, &p, &err), -1);
  kk_error_free(&err);
  ck_assert_int_eq(kk_cg_parse_io_weight("default 100\n8:0 200\n", &v, &err), 0);
  ck_assert_int_eq(v, 100);
  ck_assert_int_eq(kk_cg_parse_io_weight("250\n", &v, &err), 0);
  ck_assert_int_eq(v, 250);
  ck_assert_int_eq(kk_cg_parse_io_weight("8:0 200\n", &v, &err), -1);
  kk_error_free(&err);
  const char *stat = "usage_usec 1234\nuser_usec 1000\nsystem_usec 234\nnr_periods 0\n";
  ck_assert_int_eq(kk_cg_parse_keyed(stat, "usage_usec", &v, &err), 0);
  ck_assert_int_eq(v, 1234);
  ck_assert_int_eq(kk_cg_parse_keyed(stat, "system_usec", &v, &err), 0);
  ck_assert_int_eq(v, 234);
  ck_assert_int_eq(kk_cg_parse_keyed(stat, "usage", &v, &err), -1); /* whole key only */
  ck_assert_int_eq(err->kind, KK_ERR_NOT_FOUND);
  kk_error_free(&err);
  struct kk_cg_memory_events ev;
  kk_cg_parse_memory_events("low 0\nhigh 3\nmax 7\noom 2\noom_kill 1\n", &ev);
  ck_assert_int_eq(ev.high, 3);
  ck_assert_int_eq(ev.max, 7);
  ck_assert_int_eq(ev.oom, 2);
  ck_assert_int_eq(ev.oom_kill, 1);
  ck_assert_int_eq(ev.oom_group_kill, -1); /* older kernels */
}
END_TEST

START_TEST(test_shares_to_weight) {
  /* Reference values: runc <= 1.3 (Go integer arithmetic) and runc >= 1.4 /
   * crun (math.Ceil(math.Pow(10, ...)) computed with libm). */
  static const struct {
    uint64_t shares, linear, quadratic;
  } t[] = {
      {0, 0, 0},       {1, 1, 1},         {2, 1, 1},         {3, 1, 2},
      {10, 1, 4},      {100, 4, 17},      {512, 20, 59},     {1000, 39, 99},
      {1024, 39, 100}, {2048, 79, 174},   {4096, 157, 303},  {10000, 382, 627},
      {100000, 3815, 4340}, {262143, 9999, 10000}, {262144, 10000, 10000}, {300000, 10000, 10000},
      /* 10^e lands just above an integer: ceil must go up. */
      {196547, 7497, 7781}, {200416, 7645, 7914}, {226073, 8624, 8789}, {230091, 8777, 8925},
  };
  for (size_t i = 0; i < KK_ARRAY_SIZE(t); i++) {
    ck_assert_msg(kk_cg_cpu_shares_to_weight(t[i].shares, KK_CG_SHARES_LINEAR) == t[i].linear,
                  "linear(%lu)", (unsigned long)t[i].shares);
    ck_assert_msg(kk_cg_cpu_shares_to_weight(t[i].shares, KK_CG_SHARES_QUADRATIC) == t[i].quadratic,
                  "quadratic(%lu) = %lu", (unsigned long)t[i].shares,
                  (unsigned long)kk_cg_cpu_shares_to_weight(t[i].shares, KK_CG_SHARES_QUADRATIC));
  }
}
END_TEST

START_TEST(test_limits_validate) {
  struct kk_cg_limits l;
  kk_err_t err = NULL;
  kk_cg_limits_init(&l);
  ck_assert(!kk_cg_limits_any(&l));
  ck_assert_int_eq(kk_cg_limits_validate(&l, &err), 0);
  l.memory_max = KK_CG_MAX;
  l.pids_max = 5;
  l.cpu_max_quota_us = 50000;
  l.cpu_max_period_us = 100000;
  ck_assert(kk_cg_limits_any(&l));
  ck_assert_int_eq(kk_cg_limits_validate(&l, &err), 0);
  static const struct {
    size_t off;
    int64_t v;
    const char *msg;
  } bad[] = {
      {offsetof(struct kk_cg_limits, memory_max), 0, "memoryMaxBytes: 0 is out of range"},
      {offsetof(struct kk_cg_limits, memory_high), -7, "memoryHighBytes"},
      {offsetof(struct kk_cg_limits, cpu_weight), 10001, "cpuWeight: 10001 is out of range 1..10000"},
      {offsetof(struct kk_cg_limits, cpu_weight), KK_CG_MAX, "cpuWeight"},
      {offsetof(struct kk_cg_limits, cpu_max_quota_us), 999, "cpuMaxQuotaMicros"},
      {offsetof(struct kk_cg_limits, cpu_max_period_us), 2000000, "cpuMaxPeriodMicros"},
      {offsetof(struct kk_cg_limits, pids_max), 0, "pidsMax"},
      {offsetof(struct kk_cg_limits, io_weight), 0, "ioWeight"},
  };
  for (size_t i = 0; i < KK_ARRAY_SIZE(bad); i++) {
    kk_cg_limits_init(&l);
    *(int64_t *)((char *)&l + bad[i].off) = bad[i].v;
    ck_assert_int_eq(kk_cg_limits_validate(&l, &err), -1);
    ck_assert_msg(strstr(err->msg, bad[i].msg) != NULL, "\"%s\" lacks \"%s\"", err->msg, bad[i].msg);
    ck_assert_int_eq(err->kind, KK_ERR_INVALID);
    kk_error_free(&err);
  }
}
END_TEST

/* ------------------------------------------------------------ fake tree */

START_TEST(test_fake_ensure) {
  SKIP_WITHOUT_XATTR();
  cleanup_cg_host struct kk_cg_host *h = fake(KK_CG_MODE_UNIFIED);
  struct kk_cg_ensure_result r = {0};
  kk_err_t err = NULL;
  ck_assert_msg(kk_cg_ensure(h, "/kukeon", "r/s/t/c", &r, &err) == 0, "%s", err ? err->msg : "");
  ck_assert_uint_eq(r.created.n, 5);
  ck_assert_str_eq(r.created.v[0], "/kukeon");
  ck_assert_str_eq(r.created.v[4], "/kukeon/r/s/t/c");
  ck_assert_uint_eq(r.warnings.n, 0);
  cleanup_free char *sub = kk_strv_join(&r.subtree_controllers, " ");
  ck_assert_str_eq(sub, "cpu memory io pids");
  kk_cg_ensure_result_free(&r);
  /* Ancestors widened (only the wanted ones), every level delegates. */
  cleanup_free char *root_sub = get("cgroup.subtree_control");
  ck_assert_str_eq(root_sub, "cpu memory io pids");
  cleanup_free char *cell_ctl = get("kukeon/r/s/t/c/cgroup.controllers");
  ck_assert_str_eq(cell_ctl, "cpu memory io pids");
  bool ex = false, own = false;
  ck_assert_int_eq(kk_cg_exists(h, "/kukeon", "r/s", &ex, &own, &err), 0);
  ck_assert(ex && own);
  ck_assert_int_eq(kk_cg_exists(h, "/kukeon", "r/nope", &ex, &own, &err), 0);
  ck_assert(!ex && !own);
  /* Idempotent; a missing level is re-created (after a reboot). */
  ck_assert_int_eq(kk_cg_ensure(h, "/kukeon", "r/s/t/c", &r, &err), 0);
  ck_assert_uint_eq(r.created.n, 0);
  kk_cg_ensure_result_free(&r);
  ck_assert_int_eq(kk_cg_remove(h, "/kukeon", "r/s/t/c", 0, &err), 0);
  ck_assert_int_eq(kk_cg_ensure(h, "/kukeon", "r/s/t/c", &r, &err), 0);
  ck_assert_uint_eq(r.created.n, 1);
  ck_assert_str_eq(r.created.v[0], "/kukeon/r/s/t/c");
  kk_cg_ensure_result_free(&r);
  /* Below a cell: a plain leaf, no marker needed, no delegation. */
  ck_assert_int_eq(kk_cg_ensure(h, "/kukeon", "r/s/t/c/ctr", &r, &err), 0);
  cleanup_free char *leaf_sub = get("kukeon/r/s/t/c/ctr/cgroup.subtree_control");
  ck_assert_str_eq(leaf_sub, "");
  kk_cg_ensure_result_free(&r);
  struct kk_strv kids = {0};
  ck_assert_int_eq(kk_cg_children(h, "/kukeon", "r/s/t/c", &kids, &err), 0);
  ck_assert_uint_eq(kids.n, 1);
  ck_assert_str_eq(kids.v[0], "ctr");
  kk_strv_free(&kids);
}
END_TEST

START_TEST(test_fake_ensure_partial_controllers) {
  SKIP_WITHOUT_XATTR();
  put("cgroup.controllers", "memory pids\n");
  cleanup_cg_host struct kk_cg_host *h = fake(KK_CG_MODE_UNIFIED);
  struct kk_cg_ensure_result r = {0};
  kk_err_t err = NULL;
  ck_assert_int_eq(kk_cg_ensure(h, "/kukeon", "r", &r, &err), 0);
  cleanup_free char *sub = kk_strv_join(&r.subtree_controllers, " ");
  ck_assert_str_eq(sub, "memory pids");
  kk_cg_ensure_result_free(&r);
}
END_TEST

START_TEST(test_fake_foreign_refused) {
  SKIP_WITHOUT_XATTR();
  cleanup_cg_host struct kk_cg_host *h = fake(KK_CG_MODE_UNIFIED);
  kk_err_t err = NULL;
  /* A pre-existing, unmarked root: never adopted. */
  cleanup_free char *foreign_root = kk_asprintf("%s/theirs", tmp);
  ck_assert_int_eq(mkdir(foreign_root, 0755), 0);
  ck_assert_int_eq(kk_cg_ensure(h, "/theirs", "r", NULL, &err), -1);
  ck_assert_int_eq(err->kind, KK_ERR_PERMISSION);
  ck_assert_ptr_nonnull(strstr(err->msg, "/theirs exists but was not created by kukeon"));
  kk_error_free(&err);
  ck_assert(!exists("theirs/r"));
  ck_assert_int_eq(kk_cg_remove(h, "/theirs", "", 0, &err), -1);
  kk_error_free(&err);
  ck_assert(exists("theirs"));

  /* An unmarked space inside kukeon's realm: refused by ensure, limits and
   * removal; the refusal changes nothing. */
  ck_assert_int_eq(kk_cg_ensure(h, "/kukeon", "r/s", NULL, &err), 0);
  cleanup_free char *x = kk_asprintf("%s/kukeon/r/x", tmp);
  ck_assert_int_eq(mkdir(x, 0755), 0);
  ck_assert_int_eq(kk_cg_ensure(h, "/kukeon", "r/x/t", NULL, &err), -1);
  ck_assert_ptr_nonnull(strstr(err->msg, "/kukeon/r/x exists but was not created by kukeon"));
  kk_error_free(&err);
  struct kk_cg_limits l;
  kk_cg_limits_init(&l);
  l.pids_max = 10;
  ck_assert_int_eq(kk_cg_apply_limits(h, "/kukeon", "r/x", &l, NULL, &err), -1);
  ck_assert_int_eq(err->kind, KK_ERR_PERMISSION);
  kk_error_free(&err);
  ck_assert(!exists("kukeon/r/x/pids.max"));
  ck_assert_int_eq(kk_cg_remove(h, "/kukeon", "r", 0, &err), -1);
  ck_assert_ptr_nonnull(strstr(err->msg, "r/x exists but was not created by kukeon"));
  kk_error_free(&err);
  ck_assert(exists("kukeon/r/s"));
  ck_assert(exists("kukeon/r/x"));
}
END_TEST

START_TEST(test_fake_limits) {
  SKIP_WITHOUT_XATTR();
  cleanup_cg_host struct kk_cg_host *h = fake(KK_CG_MODE_UNIFIED);
  kk_err_t err = NULL;
  ck_assert_int_eq(kk_cg_ensure(h, "/kukeon", "r/s", NULL, &err), 0);
  struct kk_cg_limits l;
  kk_cg_limits_init(&l);
  l.memory_max = 67108864;
  l.memory_high = KK_CG_MAX;
  l.cpu_weight = 200;
  l.cpu_max_quota_us = 50000;
  l.cpu_max_period_us = 200000;
  l.pids_max = 64;
  l.io_weight = 300;
  struct kk_cg_report rep = {0};
  ck_assert_msg(kk_cg_apply_limits(h, "/kukeon", "r/s", &l, &rep, &err) == 0, "%s",
                err ? err->msg : "");
  ck_assert_uint_eq(rep.n, 6);
  ck_assert_uint_eq(kk_cg_report_count(&rep, KK_CG_APPLIED), 6);
  cleanup_free char *mm = get("kukeon/r/s/memory.max");
  ck_assert_str_eq(mm, "67108864");
  cleanup_free char *mh = get("kukeon/r/s/memory.high");
  ck_assert_str_eq(mh, "max");
  cleanup_free char *cm = get("kukeon/r/s/cpu.max");
  ck_assert_str_eq(cm, "50000 200000");
  cleanup_free char *iw = get("kukeon/r/s/io.weight");
  ck_assert_str_eq(iw, "default 300");
  /* The report names manifest field, file, value, outcome. */
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  kk_cg_report_print(&rep, "/kukeon/r/s", false, f);
  fclose(f);
  ck_assert_ptr_nonnull(strstr(buf, "/kukeon/r/s: cpuWeight (cpu.weight) = 200: applied\n"));
  ck_assert_ptr_nonnull(strstr(buf, "cpuMaxQuotaMicros (cpu.max) = 50000 200000: applied"));
  free(buf);
  kk_cg_report_free(&rep);

  struct kk_cg_limits back;
  ck_assert_int_eq(kk_cg_read_limits(h, "/kukeon", "r/s", &back, &err), 0);
  ck_assert_int_eq(back.memory_max, 67108864);
  ck_assert(back.memory_high == KK_CG_MAX);
  ck_assert_int_eq(back.cpu_weight, 200);
  ck_assert_int_eq(back.cpu_max_quota_us, 50000);
  ck_assert_int_eq(back.cpu_max_period_us, 200000);
  ck_assert_int_eq(back.pids_max, 64);
  ck_assert_int_eq(back.io_weight, 300);

  /* Period alone keeps the quota there. */
  kk_cg_limits_init(&l);
  l.cpu_max_period_us = 100000;
  ck_assert_int_eq(kk_cg_apply_limits(h, "/kukeon", "r/s", &l, NULL, &err), 0);
  cleanup_free char *cm2 = get("kukeon/r/s/cpu.max");
  ck_assert_str_eq(cm2, "50000 100000");

  /* Invalid: refused before anything is written. */
  kk_cg_limits_init(&l);
  l.pids_max = 9;
  l.cpu_weight = 0;
  ck_assert_int_eq(kk_cg_apply_limits(h, "/kukeon", "r/s", &l, &rep, &err), -1);
  ck_assert_int_eq(err->kind, KK_ERR_INVALID);
  kk_error_free(&err);
  ck_assert_uint_eq(rep.n, 0);
  cleanup_free char *pm = get("kukeon/r/s/pids.max");
  ck_assert_str_eq(pm, "64");
}
END_TEST

START_TEST(test_fake_limits_not_enforced) {
  SKIP_WITHOUT_XATTR();
  put("cgroup.controllers", "memory pids\n");
  cleanup_cg_host struct kk_cg_host *h = fake(KK_CG_MODE_UNIFIED);
  kk_err_t err = NULL;
  ck_assert_int_eq(kk_cg_ensure(h, "/kukeon", "r", NULL, &err), 0);
  struct kk_cg_limits l;
  kk_cg_limits_init(&l);
  l.cpu_weight = 50;
  l.pids_max = 10;
  struct kk_cg_report rep = {0};
  ck_assert_int_eq(kk_cg_apply_limits(h, "/kukeon", "r", &l, &rep, &err), 0); /* a warning, not an error */
  ck_assert_uint_eq(rep.n, 2);
  ck_assert_str_eq(rep.v[0].field, "cpuWeight");
  ck_assert_int_eq(rep.v[0].outcome, KK_CG_NOT_ENFORCED);
  ck_assert_ptr_nonnull(strstr(rep.v[0].reason, "cpu controller is not available on this host"));
  ck_assert_int_eq(rep.v[1].outcome, KK_CG_APPLIED);
  ck_assert(!exists("kukeon/r/cpu.weight")); /* never a silent no-op write */
  kk_cg_report_free(&rep);
}
END_TEST

START_TEST(test_fake_hybrid) {
  SKIP_WITHOUT_XATTR();
  put("cgroup.controllers", "hugetlb\n");
  cleanup_cg_host struct kk_cg_host *h = fake(KK_CG_MODE_HYBRID);
  kk_err_t err = NULL;
  ck_assert_int_eq(kk_cg_parse_mountinfo(hybrid_mi, &h->mounts, &err), 0);
  struct kk_cg_ensure_result r = {0};
  ck_assert_int_eq(kk_cg_ensure(h, "/kukeon", "r/s/t/c", &r, &err), 0);
  ck_assert_uint_eq(r.subtree_controllers.n, 0);
  ck_assert_uint_eq(r.warnings.n, 0);
  kk_cg_ensure_result_free(&r);
  struct kk_cg_limits l;
  kk_cg_limits_init(&l);
  l.memory_max = 1 << 26;
  struct kk_cg_report rep = {0};
  ck_assert_int_eq(kk_cg_apply_limits(h, "/kukeon", "r/s", &l, &rep, &err), 0);
  ck_assert_int_eq(rep.v[0].outcome, KK_CG_NOT_ENFORCED);
  ck_assert_ptr_nonnull(strstr(rep.v[0].reason, "hybrid cgroups"));
  kk_cg_report_free(&rep);
  /* Containers: runc enforces through v1 where a hierarchy exists. */
  struct kk_cg_container_limits cl = {.memory_limit_bytes = 1 << 25, .cpu_shares = 512, .pids_limit = 0};
  ck_assert_int_eq(kk_cg_check_container_limits(h, "/kukeon", "r/s/t/c", &cl, KK_CG_SHARES_LINEAR,
                                                &rep, &err),
                   0);
  ck_assert_uint_eq(rep.n, 2);
  ck_assert_int_eq(rep.v[0].outcome, KK_CG_APPLIED);
  ck_assert_str_eq(rep.v[0].file, "memory.limit_in_bytes");
  ck_assert_ptr_nonnull(strstr(rep.v[0].reason, "/sys/fs/cgroup/memory"));
  ck_assert_int_eq(rep.v[1].outcome, KK_CG_APPLIED);
  ck_assert_str_eq(rep.v[1].requested, "512");
  kk_cg_report_free(&rep);
}
END_TEST

START_TEST(test_container_limits_unified) {
  cleanup_cg_host struct kk_cg_host *h = fake(KK_CG_MODE_UNIFIED);
  kk_err_t err = NULL;
  struct kk_cg_report rep = {0};
  /* The cell does not exist yet: predicted from what kukeon will enable. */
  struct kk_cg_container_limits cl = {.memory_limit_bytes = 0, .cpu_shares = 1024, .pids_limit = 5};
  ck_assert_int_eq(kk_cg_check_container_limits(h, "/kukeon", "r/s/t/c", &cl, KK_CG_SHARES_QUADRATIC,
                                                &rep, &err),
                   0);
  ck_assert_uint_eq(rep.n, 2); /* memory 0 = unset */
  ck_assert_str_eq(rep.v[0].requested, "shares 1024 -> weight 100");
  ck_assert_int_eq(rep.v[0].outcome, KK_CG_APPLIED);
  ck_assert_int_eq(rep.v[1].outcome, KK_CG_APPLIED);
  kk_cg_report_free(&rep);
  cl.cpu_shares = 1;
  ck_assert_int_eq(kk_cg_check_container_limits(h, "/kukeon", "r/s/t/c", &cl, KK_CG_SHARES_LINEAR,
                                                &rep, &err),
                   0);
  ck_assert_int_eq(rep.v[0].outcome, KK_CG_ADJUSTED);
  kk_cg_report_free(&rep);
}
END_TEST

START_TEST(test_fake_remove) {
  SKIP_WITHOUT_XATTR();
  cleanup_cg_host struct kk_cg_host *h = fake(KK_CG_MODE_UNIFIED);
  kk_err_t err = NULL;
  ck_assert_int_eq(kk_cg_ensure(h, "/a/kukeon", "r/s/t/c1", NULL, &err), 0);
  ck_assert_int_eq(kk_cg_ensure(h, "/a/kukeon", "r/s/t/c2/ctr", NULL, &err), 0);
  /* Missing is fine. */
  ck_assert_int_eq(kk_cg_remove(h, "/a/kukeon", "r/nope", 0, &err), 0);
  ck_assert_int_eq(kk_cg_remove(h, "/a/kukeon", "q/w/e", 0, &err), 0);
  /* Populated without kill: refused, nothing removed. */
  put("a/kukeon/r/s/t/c2/ctr/cgroup.events", "populated 1\nfrozen 0\n");
  put("a/kukeon/r/s/t/c2/cgroup.events", "populated 1\nfrozen 0\n");
  ck_assert_int_eq(kk_cg_remove(h, "/a/kukeon", "r/s/t/c2", 0, &err), -1);
  ck_assert_int_eq(err->kind, KK_ERR_CONFLICT);
  ck_assert_ptr_nonnull(strstr(err->msg, "still has processes"));
  kk_error_free(&err);
  ck_assert(exists("a/kukeon/r/s/t/c2/ctr"));
  put("a/kukeon/r/s/t/c2/cgroup.events", "populated 0\nfrozen 0\n");
  /* A cell and its container cgroups. */
  ck_assert_int_eq(kk_cg_remove(h, "/a/kukeon", "r/s/t/c2", 0, &err), 0);
  ck_assert(!exists("a/kukeon/r/s/t/c2"));
  ck_assert(exists("a/kukeon/r/s/t/c1"));
  /* Cascade from the realm. */
  ck_assert_int_eq(kk_cg_remove(h, "/a/kukeon", "r", 0, &err), 0);
  ck_assert(!exists("a/kukeon/r"));
  ck_assert(exists("a/kukeon"));
  /* The root, and the ancestor kukeon made for it. */
  ck_assert_int_eq(kk_cg_remove(h, "/a/kukeon", "", 0, &err), 0);
  ck_assert(!exists("a"));
  ck_assert(exists("cgroup.controllers"));
  /* A pre-existing ancestor is never removed. */
  cleanup_free char *b = kk_asprintf("%s/b", tmp);
  ck_assert_int_eq(mkdir(b, 0755), 0);
  put("b/cgroup.controllers", "cpu memory io pids\n");
  put("b/cgroup.subtree_control", "\n");
  ck_assert_msg(kk_cg_ensure(h, "/b/kukeon", "r", NULL, &err) == 0, "%s", err ? err->msg : "");
  ck_assert_int_eq(kk_cg_remove(h, "/b/kukeon", "", 0, &err), 0);
  ck_assert(!exists("b/kukeon"));
  ck_assert(exists("b"));
}
END_TEST

/* A process leaf below a cell: made with the cell, its directory handed
 * back, gone with the cell; not at a cell's level or above. */
START_TEST(test_fake_leaf) {
  SKIP_WITHOUT_XATTR();
  cleanup_cg_host struct kk_cg_host *h = fake(KK_CG_MODE_UNIFIED);
  kk_err_t err = NULL;
  cleanup_strv struct kk_strv dirs = {0};
  ck_assert_int_eq(kk_cg_ensure_leaf(h, "/kukeon", "r/s/t/c", &dirs, &err), -1);
  ck_assert_int_eq(err->kind, KK_ERR_INVALID);
  kk_error_free(&err);
  ck_assert_uint_eq(dirs.n, 0);
  ck_assert_msg(kk_cg_ensure_leaf(h, "/kukeon", "r/s/t/c/mon", &dirs, &err) == 0, "%s", err ? err->msg : "");
  ck_assert_uint_eq(dirs.n, 1);
  cleanup_free char *want = kk_asprintf("%s/kukeon/r/s/t/c/mon", tmp);
  ck_assert_str_eq(dirs.v[0], want);
  ck_assert(exists("kukeon/r/s/t/c/mon"));
  /* The cell is kukeon's (marked): the leaf goes with it. */
  ck_assert_int_eq(kk_cg_remove(h, "/kukeon", "r/s/t/c", 0, &err), 0);
  ck_assert(!exists("kukeon/r/s/t/c"));
}
END_TEST

START_TEST(test_legacy_refused) {
  cleanup_cg_host struct kk_cg_host *h = fake(KK_CG_MODE_LEGACY);
  kk_err_t err = NULL;
  ck_assert_int_eq(kk_cg_ensure(h, "/kukeon", "r", NULL, &err), -1);
  ck_assert_int_eq(err->kind, KK_ERR_UNAVAILABLE);
  ck_assert_ptr_nonnull(strstr(err->msg, "kukeon needs cgroup v2"));
  kk_error_free(&err);
  ck_assert(!exists("kukeon"));
}
END_TEST

START_TEST(test_fake_stats) {
  SKIP_WITHOUT_XATTR();
  cleanup_cg_host struct kk_cg_host *h = fake(KK_CG_MODE_UNIFIED);
  kk_err_t err = NULL;
  ck_assert_int_eq(kk_cg_ensure(h, "/kukeon", "r", NULL, &err), 0);
  put("kukeon/r/memory.current", "1048576\n");
  put("kukeon/r/pids.current", "3\n");
  put("kukeon/r/cpu.stat", "usage_usec 4242\nuser_usec 4000\nsystem_usec 242\n");
  put("kukeon/r/memory.events", "low 0\nhigh 0\nmax 5\noom 1\noom_kill 1\n");
  struct kk_cg_stats s;
  ck_assert_int_eq(kk_cg_read_stats(h, "/kukeon", "r", &s, &err), 0);
  ck_assert_int_eq(s.memory_current, 1048576);
  ck_assert_int_eq(s.pids_current, 3);
  ck_assert_int_eq(s.cpu_usage_usec, 4242);
  ck_assert(s.memory_max == KK_CG_MAX);
  ck_assert_int_eq(s.oom_kills, 1);
  ck_assert_uint_eq(s.from_v1, 0);
  struct kk_cg_memory_events ev;
  ck_assert_int_eq(kk_cg_read_memory_events(h, "/kukeon", "r", &ev, &err), 0);
  ck_assert_int_eq(ev.max, 5);
  ck_assert_int_eq(kk_cg_read_stats(h, "/kukeon", "nope", &s, &err), -1);
  ck_assert_int_eq(err->kind, KK_ERR_NOT_FOUND);
  kk_error_free(&err);
}
END_TEST

/* ------------------------------------------------------------ doctor */

static char *doctor_text(const struct kk_cg_doctor_opts *o, size_t *fails) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  kk_err_t err = NULL;
  ck_assert_int_eq(kk_cg_doctor(o, f, fails, &err), 0);
  fclose(f);
  return buf;
}

START_TEST(test_doctor_unified) {
  SKIP_WITHOUT_XATTR();
  cleanup_cg_host struct kk_cg_host *h = fake(KK_CG_MODE_UNIFIED);
  struct kk_cg_doctor_opts o = {.host = h, .root = "/kukeon"};
  size_t fails = 99;
  cleanup_free char *before = doctor_text(&o, &fails);
  ck_assert_uint_eq(fails, 0);
  ck_assert_ptr_nonnull(strstr(before, "PASS  cgroups/mode"));
  ck_assert_ptr_nonnull(strstr(before, "does not exist yet"));
  ck_assert_ptr_nonnull(strstr(before, "available: kukeon enables it in"));
  ck_assert_ptr_null(strstr(before, "WARN"));
  kk_err_t err = NULL;
  ck_assert_int_eq(kk_cg_ensure(h, "/kukeon", "r/s", NULL, &err), 0);
  o.scope = "r/s";
  cleanup_free char *after = doctor_text(&o, &fails);
  ck_assert_uint_eq(fails, 0);
  ck_assert_ptr_nonnull(strstr(after, "(kukeon's): 1 realm cgroup(s); delegated to children: cpu memory io pids"));
  ck_assert_ptr_nonnull(strstr(after, "enabled: delegated down to"));
  ck_assert_ptr_nonnull(strstr(after, "PASS  cgroups/scope"));
  /* Scope that does not exist: a FAIL line. */
  o.scope = "r/zz";
  cleanup_free char *missing = doctor_text(&o, &fails);
  ck_assert_uint_eq(fails, 1);
  ck_assert_ptr_nonnull(strstr(missing, "FAIL  cgroups/scope"));
}
END_TEST

START_TEST(test_doctor_problems) {
  SKIP_WITHOUT_XATTR();
  /* A controller the kernel lacks, and a foreign root. */
  put("cgroup.controllers", "cpu memory pids\n");
  cleanup_free char *d = kk_asprintf("%s/kukeon", tmp);
  ck_assert_int_eq(mkdir(d, 0755), 0);
  cleanup_cg_host struct kk_cg_host *h = fake(KK_CG_MODE_UNIFIED);
  struct kk_cg_doctor_opts o = {.host = h, .root = "/kukeon"};
  size_t fails = 0;
  cleanup_free char *out = doctor_text(&o, &fails);
  ck_assert_ptr_nonnull(strstr(out, "FAIL  cgroups/root"));
  ck_assert_ptr_nonnull(strstr(out, "not created by kukeon"));
  ck_assert_ptr_nonnull(strstr(out, "FAIL  cgroups/controller/io"));
  ck_assert_ptr_nonnull(strstr(out, "kernel-missing"));
  ck_assert_ptr_nonnull(strstr(out, "\u21b3 "));
  ck_assert_uint_ge(fails, 2);
  /* Legacy. */
  cleanup_cg_host struct kk_cg_host *lg = fake(KK_CG_MODE_LEGACY);
  o.host = lg;
  cleanup_free char *legacy = doctor_text(&o, &fails);
  ck_assert_uint_eq(fails, 1);
  ck_assert_ptr_nonnull(strstr(legacy, "FAIL  cgroups/mode"));
  /* Bad root. */
  o.host = h;
  o.root = "/";
  cleanup_free char *badroot = doctor_text(&o, &fails);
  ck_assert_ptr_nonnull(strstr(badroot, "FAIL  cgroups/root"));
}
END_TEST

START_TEST(test_doctor_hybrid) {
  put("cgroup.controllers", "hugetlb\n");
  cleanup_cg_host struct kk_cg_host *h = fake(KK_CG_MODE_HYBRID);
  kk_err_t err = NULL;
  ck_assert_int_eq(kk_cg_parse_mountinfo(hybrid_mi, &h->mounts, &err), 0);
  struct kk_cg_doctor_opts o = {.host = h, .root = "/kukeon"};
  size_t fails = 0;
  cleanup_free char *out = doctor_text(&o, &fails);
  /* blkio is not mounted in the sample: io is kernel-missing there. */
  ck_assert_ptr_nonnull(strstr(out, "WARN  cgroups/mode"));
  ck_assert_ptr_nonnull(strstr(out, "WARN  cgroups/controller/memory"));
  ck_assert_ptr_nonnull(strstr(out, "containers' memoryLimitBytes enforced by runc"));
  ck_assert_ptr_nonnull(strstr(out, "FAIL  cgroups/controller/io"));
  ck_assert_ptr_nonnull(strstr(out, "PASS  cgroups/enforced"));
  ck_assert_ptr_nonnull(strstr(out, "WARN  cgroups/not-enforced"));
  ck_assert_uint_eq(fails, 1);
}
END_TEST

static Suite *cgroupfs_suite(void) {
  Suite *s = suite_create("cgroupfs");
  TCase *p = tcase_create("parse");
  tcase_add_test(p, test_mountinfo_hybrid);
  tcase_add_test(p, test_mountinfo_malformed);
  tcase_add_test(p, test_classify);
  tcase_add_test(p, test_parse_controllers);
  tcase_add_test(p, test_root_normalize);
  tcase_add_test(p, test_name_check);
  tcase_add_test(p, test_paths);
  tcase_add_test(p, test_formats);
  tcase_add_test(p, test_shares_to_weight);
  tcase_add_test(p, test_limits_validate);
  suite_add_tcase(s, p);
  TCase *t = tcase_create("fake-tree");
  tcase_add_checked_fixture(t, setup, teardown);
  tcase_add_test(t, test_fake_ensure);
  tcase_add_test(t, test_fake_ensure_partial_controllers);
  tcase_add_test(t, test_fake_foreign_refused);
  tcase_add_test(t, test_fake_limits);
  tcase_add_test(t, test_fake_limits_not_enforced);
  tcase_add_test(t, test_fake_hybrid);
  tcase_add_test(t, test_container_limits_unified);
  tcase_add_test(t, test_fake_remove);
  tcase_add_test(t, test_fake_leaf);
  tcase_add_test(t, test_legacy_refused);
  tcase_add_test(t, test_fake_stats);
  tcase_add_test(t, test_doctor_unified);
  tcase_add_test(t, test_doctor_problems);
  tcase_add_test(t, test_doctor_hybrid);
  suite_add_tcase(s, t);
  return s;
}

KK_UNIT_MAIN(cgroupfs_suite)

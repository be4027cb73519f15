/* Layer unpacking: semantics (overlay diff form), metadata, lower layers,
 * compression, digests, limits, and refusals that leave the outside alone. */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include "image/image.h"
#include "tests/unit/test_image_util.h"
#include "tests/unit/unit.h"

/* A sandbox: <tmp>/root (the layer) and <tmp>/outside (a sentinel tree). */
struct sb {
  char *tmp, *root, *outside;
  int rootfd;
};

static void sb_init(struct sb *s) {
  s->tmp = ti_tmpdir();
  s->root = kk_asprintf("%s/root", s->tmp);
  s->outside = kk_asprintf("%s/outside", s->tmp);
  ck_assert_int_eq(mkdir(s->root, 0755), 0);
  ck_assert_int_eq(mkdir(s->outside, 0755), 0);
  char *f = kk_asprintf("%s/outside/victim", s->tmp);
  FILE *fp = fopen(f, "w");
  fputs("original", fp);
  fclose(fp);
  chmod(f, 0644);
  free(f);
  s->rootfd = open(s->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  ck_assert_int_ge(s->rootfd, 0);
}

static void sb_free(struct sb *s) {
  close(s->rootfd);
  ti_rmdir(s->tmp);
  free(s->tmp);
  free(s->root);
  free(s->outside);
}

/* The outside is exactly as made. */
static void sb_outside_intact(struct sb *s) {
  char *ls = ti_ls(s->outside);
  ck_assert_str_eq(ls, "victim");
  free(ls);
  char *v = ti_read(s->outside, "victim");
  ck_assert_str_eq(v, "original");
  free(v);
  struct stat st;
  char *f = kk_asprintf("%s/victim", s->outside);
  ck_assert_int_eq(stat(f, &st), 0);
  ck_assert_int_eq(st.st_mode & 07777, 0644);
  ck_assert_int_eq(st.st_nlink, 1);
  free(f);
  ls = ti_ls(s->tmp);
  ck_assert_str_eq(ls, "outside,root");
  free(ls);
}

static int unpack(struct sb *s, struct tb *t, const int *lowers, size_t n, const struct kk_unpack_opts *o, kk_err_t *err) {
  int fd = tb_fd(t);
  struct kk_unpack_stats st;
  int rc = kk_image_unpack_layer(s->rootfd, lowers, n, fd, NULL, NULL, o, &st, err);
  close(fd);
  tb_free(t);
  return rc;
}

static void expect_refused(struct tb *t, const char *needle, const struct kk_unpack_opts *o) {
  struct sb s;
  sb_init(&s);
  kk_err_t err = NULL;
  ck_assert_int_eq(unpack(&s, t, NULL, 0, o, &err), -1);
  ck_assert_ptr_nonnull(err);
  ck_assert_msg(strstr(err->msg, needle) != NULL, "\"%s\" lacks \"%s\"", err->msg, needle);
  kk_error_free(&err);
  sb_outside_intact(&s);
  sb_free(&s);
}

START_TEST(clean_path) {
  struct {
    const char *in, *out;
  } ok[] = {{"a", "a"}, {"./a/b/", "a/b"}, {"a//b", "a/b"}, {"./", ""}, {".", ""}, {"a/./b", "a/b"}, {".wh.x", ".wh.x"}};
  for (size_t i = 0; i < KK_ARRAY_SIZE(ok); i++) {
    char *o = NULL;
    kk_err_t err = NULL;
    ck_assert_int_eq(kk_image_unpack_clean_path(ok[i].in, &o, &err), 0);
    ck_assert_str_eq(o, ok[i].out);
    free(o);
  }
  const char *bad[] = {"", "/etc/passwd", "../x", "a/../../x", "a/..", "..", "//x"};
  for (size_t i = 0; i < KK_ARRAY_SIZE(bad); i++) {
    char *o = NULL;
    kk_err_t err = NULL;
    ck_assert_msg(kk_image_unpack_clean_path(bad[i], &o, &err) == -1, "%s accepted", bad[i]);
    kk_error_free(&err);
  }
  char *longname = kk_xmalloc(300);
  memset(longname, 'x', 299);
  longname[299] = '\0';
  char *o = NULL;
  kk_err_t err = NULL;
  ck_assert_int_eq(kk_image_unpack_clean_path(longname, &o, &err), -1);
  kk_error_free(&err);
  free(longname);
}
END_TEST

START_TEST(basic_tree) {
  struct sb s;
  sb_init(&s);
  struct tb t;
  tb_init(&t, TB_GZIP);
  tb_dir(&t, "./", 0755);
  tb_dir(&t, "./bin/", 0755);
  tb_file(&t, "./bin/busybox", "ELF", 0755);
  tb_symlink(&t, "bin/sh", "busybox");
  tb_symlink(&t, "bin/abs", "/etc/passwd");
  tb_hardlink(&t, "bin/true", "bin/busybox");
  struct archive_entry *e = tb_entry("usr/bin/su", AE_IFREG, 04755);
  archive_entry_set_uid(e, 0);
  tb_add(&t, e, "su", 2);
  e = tb_entry("home/u/secret", AE_IFREG, 0600);
  archive_entry_set_uid(e, 1000);
  archive_entry_set_gid(e, 1001);
  tb_add(&t, e, "s", 1);
  tb_dir(&t, "tmp", 01777);
  e = tb_entry("x/attr", AE_IFREG, 0644);
  archive_entry_xattr_add_entry(e, "user.kk", "v1", 2);
  tb_add(&t, e, "a", 1);
  tb_dev(&t, "x/fifo", AE_IFIFO, 0, 0);
  kk_err_t err = NULL;
  ck_assert_msg(unpack(&s, &t, NULL, 0, NULL, &err) == 0, "%s", err ? err->msg : "");
  char *v = ti_read(s.root, "bin/true");
  ck_assert_str_eq(v, "ELF");
  free(v);
  struct stat a, b;
  char *p1 = kk_asprintf("%s/bin/busybox", s.root), *p2 = kk_asprintf("%s/bin/true", s.root);
  ck_assert_int_eq(stat(p1, &a), 0);
  ck_assert_int_eq(stat(p2, &b), 0);
  ck_assert_int_eq(a.st_ino, b.st_ino);
  ck_assert_int_eq(a.st_mtime, 1600000000);
  free(p1);
  free(p2);
  char buf[64];
  char *p = kk_asprintf("%s/bin/abs", s.root);
  ssize_t n = readlink(p, buf, sizeof(buf));
  ck_assert_int_eq(n, 11);
  free(p);
  p = kk_asprintf("%s/usr/bin/su", s.root);
  ck_assert_int_eq(stat(p, &a), 0);
  ck_assert_int_eq(a.st_mode & 07777, 04755);
  free(p);
  p = kk_asprintf("%s/tmp", s.root);
  ck_assert_int_eq(stat(p, &a), 0);
  ck_assert_int_eq(a.st_mode & 07777, 01777);
  ck_assert_int_eq(a.st_mtime, 1600000000); /* directory times set after their children */
  free(p);
  if (geteuid() == 0) {
    p = kk_asprintf("%s/home/u/secret", s.root);
    ck_assert_int_eq(stat(p, &a), 0);
    ck_assert_int_eq(a.st_uid, 1000);
    ck_assert_int_eq(a.st_gid, 1001);
    free(p);
  }
  p = kk_asprintf("%s/x/attr", s.root);
  ck_assert_int_eq(getxattr(p, "user.kk", buf, sizeof(buf)), 2);
  free(p);
  p = kk_asprintf("%s/x/fifo", s.root);
  ck_assert_int_eq(lstat(p, &a), 0);
  ck_assert(S_ISFIFO(a.st_mode));
  free(p);
  sb_outside_intact(&s);
  sb_free(&s);
}
END_TEST

START_TEST(replace_semantics) {
  /* Duplicates: last wins; dir over dir keeps children; file over dir replaces. */
  struct sb s;
  sb_init(&s);
  struct tb t;
  tb_init(&t, TB_NONE);
  tb_file(&t, "a", "one", 0644);
  tb_file(&t, "a", "two", 0600);
  tb_dir(&t, "d", 0755);
  tb_file(&t, "d/keep", "k", 0644);
  tb_dir(&t, "d", 0700);
  tb_dir(&t, "e", 0755);
  tb_file(&t, "e/x", "x", 0644);
  tb_file(&t, "e", "now a file", 0644);
  tb_symlink(&t, "l", "a");
  tb_file(&t, "l", "replaced link", 0644);
  kk_err_t err = NULL;
  ck_assert_msg(unpack(&s, &t, NULL, 0, NULL, &err) == 0, "%s", err ? err->msg : "");
  char *v = ti_read(s.root, "a");
  ck_assert_str_eq(v, "two");
  free(v);
  ck_assert(ti_exists(s.root, "d/keep"));
  v = ti_read(s.root, "e");
  ck_assert_str_eq(v, "now a file");
  free(v);
  v = ti_read(s.root, "l");
  ck_assert_str_eq(v, "replaced link");
  free(v);
  sb_free(&s);
}
END_TEST

START_TEST(refusals) {
  struct kk_unpack_opts none = {0};
  struct tb t;
#define CASE(build, needle)                                                                                            \
  do {                                                                                                                 \
    tb_init(&t, TB_NONE);                                                                                              \
    build;                                                                                                             \
    expect_refused(&t, needle, &none);                                                                                 \
  } while (0)
  CASE(tb_file(&t, "/etc/evil", "x", 0644), "absolute path");
  CASE(tb_file(&t, "../evil", "x", 0644), "\"..\"");
  CASE(tb_file(&t, "a/../../evil", "x", 0644), "\"..\"");
  /* Write through a symlink planted in the same layer (relative, absolute, up-and-out). */
  CASE((tb_symlink(&t, "l", "../outside"), tb_file(&t, "l/victim", "pwned", 0644)), "symlink");
  CASE((tb_symlink(&t, "l", "/"), tb_file(&t, "l/evil", "pwned", 0644)), "symlink");
  CASE((tb_dir(&t, "d", 0755), tb_symlink(&t, "d/l", "../../outside"), tb_file(&t, "d/l/victim", "x", 0644)), "symlink");
  /* Hardlinks escaping or pointing at what is not there. */
  CASE(tb_hardlink(&t, "h", "../outside/victim"), "\"..\"");
  CASE(tb_hardlink(&t, "h", "/etc/passwd"), "absolute path");
  CASE((tb_symlink(&t, "l", "../outside"), tb_hardlink(&t, "h", "l/victim")), "symlink");
  CASE(tb_hardlink(&t, "h", "missing"), "does not exist");
  CASE((tb_dir(&t, "d", 0755), tb_hardlink(&t, "h", "d")), "hardlink to a directory");
  CASE(tb_hardlink(&t, "h", "./"), "root directory");
  /* Whiteouts that name nothing. */
  CASE(tb_file(&t, ".wh.", "", 0644), "invalid whiteout");
  CASE(tb_file(&t, ".wh..", "", 0644), "invalid whiteout");
  CASE(tb_file(&t, "etc/.wh...", "", 0644), "invalid whiteout");
  CASE((tb_symlink(&t, "l", "/"), tb_file(&t, "l/.wh.victim", "", 0644)), "symlink");
  /* Other. */
  CASE(tb_symlink(&t, "empty", ""), "empty target");
  CASE(tb_file(&t, "f", "x", 0644); tb_file(&t, "f/g", "x", 0644), "not a directory");
  {
    struct archive_entry *e = tb_entry("ov", AE_IFDIR, 0755);
    archive_entry_xattr_add_entry(e, "trusted.overlay.redirect", "/outside", 8);
    tb_init(&t, TB_NONE);
    tb_add(&t, e, NULL, 0);
    expect_refused(&t, "overlay control attribute", &none);
  }
  {
    struct kk_unpack_opts refuse = {.devices = KK_UNPACK_DEVICES_REFUSE};
    tb_init(&t, TB_NONE);
    tb_dev(&t, "dev/sda", AE_IFBLK, 8, 0);
    expect_refused(&t, "device nodes are not allowed", &refuse);
  }
  {
    struct kk_unpack_opts small = {.max_entries = 3};
    tb_init(&t, TB_NONE);
    for (int i = 0; i < 5; i++) {
      char n[16];
      snprintf(n, sizeof(n), "f%d", i);
      tb_file(&t, n, "x", 0644);
    }
    expect_refused(&t, "more than 3 entries", &small);
  }
  {
    struct kk_unpack_opts small = {.max_bytes = 1000};
    char *big = kk_xmalloc(5001);
    memset(big, 'a', 5000);
    big[5000] = '\0';
    tb_init(&t, TB_GZIP);
    tb_file(&t, "bomb", big, 0644);
    expect_refused(&t, "out of bounds", &small);
    free(big);
  }
  {
    /* The root entry must stay a directory. */
    tb_init(&t, TB_NONE);
    tb_symlink(&t, "./", "/");
    expect_refused(&t, "root of a layer", &none);
  }
#undef CASE
}
END_TEST

START_TEST(skip_devices) {
  struct sb s;
  sb_init(&s);
  struct tb t;
  tb_init(&t, TB_NONE);
  tb_dev(&t, "dev/sda", AE_IFBLK, 8, 0);
  tb_file(&t, "ok", "x", 0644);
  struct kk_unpack_opts skip = {.devices = KK_UNPACK_DEVICES_SKIP};
  kk_err_t err = NULL;
  ck_assert_int_eq(unpack(&s, &t, NULL, 0, &skip, &err), 0);
  ck_assert(!ti_exists(s.root, "dev/sda"));
  ck_assert(ti_exists(s.root, "ok"));
  sb_free(&s);
}
END_TEST

START_TEST(whiteouts_and_lowers) {
  if (geteuid() != 0)
    return; /* overlay whiteouts are 0:0 devices: root only */
  /* Lower layer. */
  struct sb lower;
  sb_init(&lower);
  struct tb t;
  tb_init(&t, TB_NONE);
  struct archive_entry *e = tb_entry("etc", AE_IFDIR, 0750);
  archive_entry_set_uid(e, 5);
  archive_entry_set_gid(e, 6);
  archive_entry_xattr_add_entry(e, "user.dir", "d", 1);
  tb_add(&t, e, NULL, 0);
  tb_file(&t, "etc/passwd", "root", 0644);
  tb_file(&t, "etc/shadow", "secret", 0600);
  tb_symlink(&t, "lib", "/outside");
  tb_dir(&t, "opq", 0755);
  tb_file(&t, "opq/old", "old", 0644);
  tb_file(&t, "bin-target", "bin", 0755);
  kk_err_t err = NULL;
  ck_assert_msg(unpack(&lower, &t, NULL, 0, NULL, &err) == 0, "%s", err ? err->msg : "");

  /* Upper layer over it. */
  struct sb up;
  sb_init(&up);
  tb_init(&t, TB_GZIP);
  tb_file(&t, "etc/.wh.shadow", "", 0644);   /* whiteout of a lower file */
  tb_file(&t, "etc/hosts", "h", 0644);        /* implicit parent from the lower */
  tb_file(&t, "opq/.wh..wh..opq", "", 0644);  /* opaque */
  tb_file(&t, "opq/new", "n", 0644);
  tb_hardlink(&t, "copied", "bin-target");    /* copy-up from the lower */
  tb_file(&t, ".wh.gone", "", 0644);
  tb_dir(&t, "gone", 0700);                   /* whiteout then a new dir: opaque */
  ck_assert_msg(unpack(&up, &t, &lower.rootfd, 1, NULL, &err) == 0, "%s", err ? err->msg : "");
  struct stat st;
  char *p = kk_asprintf("%s/etc/shadow", up.root);
  ck_assert_int_eq(lstat(p, &st), 0);
  ck_assert(S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0));
  free(p);
  p = kk_asprintf("%s/etc", up.root);
  ck_assert_int_eq(lstat(p, &st), 0);
  ck_assert_int_eq(st.st_mode & 07777, 0750);
  ck_assert_int_eq(st.st_uid, 5);
  char v[8];
  ck_assert_int_eq(getxattr(p, "user.dir", v, sizeof(v)), 1);
  free(p);
  p = kk_asprintf("%s/opq", up.root);
  ck_assert_int_eq(getxattr(p, "trusted.overlay.opaque", v, sizeof(v)), 1);
  free(p);
  p = kk_asprintf("%s/gone", up.root);
  ck_assert_int_eq(getxattr(p, "trusted.overlay.opaque", v, sizeof(v)), 1);
  free(p);
  char *c = ti_read(up.root, "copied");
  ck_assert_str_eq(c, "bin");
  free(c);
  sb_outside_intact(&up);

  /* Writing through the lower layer's symlink is refused. */
  struct sb up2;
  sb_init(&up2);
  tb_init(&t, TB_NONE);
  tb_file(&t, "lib/victim", "pwned", 0644);
  ck_assert_int_eq(unpack(&up2, &t, &lower.rootfd, 1, NULL, &err), -1);
  ck_assert_msg(strstr(err->msg, "symlink in a lower layer"), "%s", err->msg);
  kk_error_free(&err);
  sb_outside_intact(&up2);
  sb_outside_intact(&lower);
  /* A hardlink through it too. */
  tb_init(&t, TB_NONE);
  tb_hardlink(&t, "h", "lib/victim");
  ck_assert_int_eq(unpack(&up2, &t, &lower.rootfd, 1, NULL, &err), -1);
  kk_error_free(&err);
  sb_outside_intact(&up2);
  sb_free(&up2);
  sb_free(&up);
  sb_free(&lower);
}
END_TEST

START_TEST(digests_and_compression) {
  enum tb_filter fs[] = {TB_NONE, TB_GZIP, TB_ZSTD};
  for (size_t i = 0; i < KK_ARRAY_SIZE(fs); i++) {
    struct tb t;
    tb_init(&t, fs[i]);
    tb_file(&t, "f", "content", 0644);
    tb_dir(&t, "d", 0755);
    ck_assert_int_eq(archive_write_close(t.a), ARCHIVE_OK);
    archive_write_free(t.a);
    char *digest = kk_image_digest_of(t.buf, t.used);
    /* The diff ID: hash of the uncompressed tar, from a second, plain build. */
    struct tb u;
    tb_init(&u, TB_NONE);
    tb_file(&u, "f", "content", 0644);
    tb_dir(&u, "d", 0755);
    ck_assert_int_eq(archive_write_close(u.a), ARCHIVE_OK);
    archive_write_free(u.a);
    char *diff = kk_image_digest_of(u.buf, u.used);
    char tmpl[] = "/tmp/kk-unit-tar.XXXXXX";
    int fd = mkstemp(tmpl);
    unlink(tmpl);
    kk_write_all(fd, t.buf, t.used);
    struct sb s;
    sb_init(&s);
    kk_err_t err = NULL;
    lseek(fd, 0, SEEK_SET);
    ck_assert_msg(kk_image_unpack_layer(s.rootfd, NULL, 0, fd, digest, diff, NULL, NULL, &err) == 0, "%s",
                  err ? err->msg : "");
    char *v = ti_read(s.root, "f");
    ck_assert_str_eq(v, "content");
    free(v);
    /* Wrong diff ID and wrong digest are refused. */
    struct sb s2;
    sb_init(&s2);
    lseek(fd, 0, SEEK_SET);
    ck_assert_int_eq(kk_image_unpack_layer(s2.rootfd, NULL, 0, fd, digest, digest[7] == 'a' ? "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
                                                                                       : "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                                     NULL, NULL, &err),
                     -1);
    ck_assert_msg(strstr(err->msg, "diff ID mismatch"), "%s", err->msg);
    kk_error_free(&err);
    lseek(fd, 0, SEEK_SET);
    ck_assert_int_eq(kk_image_unpack_layer(s2.rootfd, NULL, 0, fd,
                                     "sha256:0000000000000000000000000000000000000000000000000000000000000000", NULL, NULL,
                                     NULL, &err),
                     -1);
    ck_assert_msg(strstr(err->msg, "digest mismatch"), "%s", err->msg);
    kk_error_free(&err);
    /* Truncated. */
    if (fs[i] != TB_NONE) {
      ck_assert_int_eq(ftruncate(fd, (off_t)t.used / 2), 0);
      lseek(fd, 0, SEEK_SET);
      struct sb s3;
      sb_init(&s3);
      ck_assert_int_eq(kk_image_unpack_layer(s3.rootfd, NULL, 0, fd, NULL, NULL, NULL, NULL, &err), -1);
      kk_error_free(&err);
      sb_free(&s3);
    }
    close(fd);
    sb_free(&s2);
    sb_free(&s);
    free(digest);
    free(diff);
    tb_free(&t);
    tb_free(&u);
  }
}
END_TEST

START_TEST(garbage_is_refused) {
  char tmpl[] = "/tmp/kk-unit-tar.XXXXXX";
  int fd = mkstemp(tmpl);
  unlink(tmpl);
  kk_write_all(fd, "\x1f\x8b this is not gzip at all", 26);
  lseek(fd, 0, SEEK_SET);
  struct sb s;
  sb_init(&s);
  kk_err_t err = NULL;
  ck_assert_int_eq(kk_image_unpack_layer(s.rootfd, NULL, 0, fd, NULL, NULL, NULL, NULL, &err), -1);
  kk_error_free(&err);
  close(fd);
  sb_free(&s);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("image_unpack");
  TCase *t = tcase_create("image_unpack");
  tcase_set_timeout(t, 60);
  tcase_add_test(t, clean_path);
  tcase_add_test(t, basic_tree);
  tcase_add_test(t, replace_semantics);
  tcase_add_test(t, refusals);
  tcase_add_test(t, skip_devices);
  tcase_add_test(t, whiteouts_and_lowers);
  tcase_add_test(t, digests_and_compression);
  tcase_add_test(t, garbage_is_refused);
  suite_add_tcase(s, t);
  return s;
}

KK_UNIT_MAIN(suite)

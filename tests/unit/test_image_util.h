/* Helpers shared by the test_image*.c suites: temp dirs, in-memory tar
 * building (libarchive), tree snapshots.  Header-only, static. */
#ifndef KK_TEST_IMAGE_UTIL_H
#define KK_TEST_IMAGE_UTIL_H

#include <archive.h>
#include <archive_entry.h>
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/fs.h"
#include "lib/util.h"

static inline char *ti_tmpdir(void) {
  char tmpl[] = "/tmp/kk-unit-image.XXXXXX";
  char *d = mkdtemp(tmpl);
  ck_assert_ptr_nonnull(d);
  return kk_xstrdup(d);
}

static inline void ti_rmdir(const char *d) {
  kk_err_t e = NULL;
  if (kk_rm_rf_at(AT_FDCWD, d, &e) < 0)
    kk_error_free(&e);
}

/* A tar being built in memory. */
struct tb {
  struct archive *a;
  char *buf;
  size_t cap, used;
};

enum tb_filter { TB_NONE, TB_GZIP, TB_ZSTD };

static inline void tb_init(struct tb *t, enum tb_filter f) {
  t->cap = 64u << 20;
  t->buf = kk_xmalloc(t->cap);
  t->used = 0;
  t->a = archive_write_new();
  archive_write_set_format_pax_restricted(t->a);
  if (f == TB_GZIP)
    archive_write_add_filter_gzip(t->a);
  else if (f == TB_ZSTD)
    archive_write_add_filter_zstd(t->a);
  ck_assert_int_eq(archive_write_open_memory(t->a, t->buf, t->cap, &t->used), ARCHIVE_OK);
}

static inline struct archive_entry *tb_entry(const char *name, mode_t type, mode_t perm) {
  struct archive_entry *e = archive_entry_new();
  archive_entry_set_pathname(e, name);
  archive_entry_set_filetype(e, type);
  archive_entry_set_perm(e, perm);
  archive_entry_set_mtime(e, 1600000000, 0);
  return e;
}

static inline void tb_add(struct tb *t, struct archive_entry *e, const void *data, size_t len) {
  archive_entry_set_size(e, (la_int64_t)len);
  ck_assert_int_eq(archive_write_header(t->a, e), ARCHIVE_OK);
  if (len)
    ck_assert_int_eq(archive_write_data(t->a, data, len), (la_ssize_t)len);
  archive_entry_free(e);
}

static inline void tb_file(struct tb *t, const char *name, const char *data, mode_t perm) {
  tb_add(t, tb_entry(name, AE_IFREG, perm), data, strlen(data));
}
static inline void tb_dir(struct tb *t, const char *name, mode_t perm) { tb_add(t, tb_entry(name, AE_IFDIR, perm), NULL, 0); }
static inline void tb_symlink(struct tb *t, const char *name, const char *target) {
  struct archive_entry *e = tb_entry(name, AE_IFLNK, 0777);
  archive_entry_set_symlink(e, target);
  tb_add(t, e, NULL, 0);
}
static inline void tb_hardlink(struct tb *t, const char *name, const char *target) {
  struct archive_entry *e = tb_entry(name, AE_IFREG, 0644);
  archive_entry_set_hardlink(e, target);
  tb_add(t, e, NULL, 0);
}
static inline void tb_dev(struct tb *t, const char *name, mode_t type, int maj, int min) {
  struct archive_entry *e = tb_entry(name, type, 0600);
  archive_entry_set_rdevmajor(e, maj);
  archive_entry_set_rdevminor(e, min);
  tb_add(t, e, NULL, 0);
}

/* Finish; the tar as a temp file fd (positioned at 0). */
static inline int tb_fd(struct tb *t) {
  ck_assert_int_eq(archive_write_close(t->a), ARCHIVE_OK);
  archive_write_free(t->a);
  char tmpl[] = "/tmp/kk-unit-tar.XXXXXX";
  int fd = mkstemp(tmpl);
  ck_assert_int_ge(fd, 0);
  unlink(tmpl);
  ck_assert_int_eq(kk_write_all(fd, t->buf, t->used), 0);
  lseek(fd, 0, SEEK_SET);
  return fd;
}

static inline void tb_free(struct tb *t) { free(t->buf); }

static inline bool ti_exists(const char *dir, const char *rel) {
  char p[4096];
  snprintf(p, sizeof(p), "%s/%s", dir, rel);
  struct stat st;
  return lstat(p, &st) == 0;
}

static inline char *ti_read(const char *dir, const char *rel) {
  char p[4096];
  snprintf(p, sizeof(p), "%s/%s", dir, rel);
  char *out = NULL;
  size_t len;
  kk_err_t e = NULL;
  if (kk_read_file_at(AT_FDCWD, p, 1 << 20, &out, &len, &e) < 0) {
    kk_error_free(&e);
    return NULL;
  }
  return out;
}

/* Names in a directory, sorted, joined by ','. */
static inline char *ti_ls(const char *dir) {
  DIR *d = opendir(dir);
  if (d == NULL)
    return kk_xstrdup("<missing>");
  struct kk_strv v = {0};
  struct dirent *de;
  while ((de = readdir(d)) != NULL)
    if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
      kk_strv_push(&v, de->d_name);
  closedir(d);
  kk_strv_sort(&v);
  char *s = kk_strv_join(&v, ",");
  kk_strv_free(&v);
  return s;
}

#endif

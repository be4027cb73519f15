/* The leaf of cgroupfs/: reading, writing and parsing cgroup interface
 * files (crun's cgroup-utils.c plays this part).  It calls nothing else in
 * cgroupfs/; every other file here calls down into it. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cgroupfs/internal.h"
#include "lib/fs.h"
#include "lib/util.h"

void kk_cg_sleep_ms(long ms) {
  struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
    ;
}

/* ---------------------------------------------------------------- parse */

void kk_cg_parse_controllers(const char *text, struct kk_strv *out) {
  const char *p = text;
  while (p && *p) {
    while (*p == ' ' || *p == '\t' || *p == '\n')
      p++;
    if (!*p)
      break;
    const char *e = p;
    while (*e && *e != ' ' && *e != '\t' && *e != '\n')
      e++;
    const char *w = p;
    if (*w == '+')
      w++;
    if (e > w) {
      char *word = kk_xstrndup(w, (size_t)(e - w));
      if (kk_strv_contains(out, word))
        free(word);
      else
        kk_strv_push_owned(out, word);
    }
    p = e;
  }
}

int kk_cg_parse_keyed(const char *text, const char *key, int64_t *out, kk_err_t *err) {
  size_t klen = strlen(key);
  for (const char *p = text; p && *p;) {
    const char *eol = strchr(p, '\n');
    size_t len = eol ? (size_t)(eol - p) : strlen(p);
    if (len > klen && strncmp(p, key, klen) == 0 && (p[klen] == ' ' || p[klen] == '\t')) {
      char *end = NULL;
      errno = 0;
      long long v = strtoll(p + klen + 1, &end, 10);
      if (errno != 0 || end == p + klen + 1)
        return kk_error_kind(err, KK_ERR_INVALID, 0, "bad value for \"%s\"", key);
      *out = v;
      return 0;
    }
    p = eol ? eol + 1 : NULL;
  }
  return kk_error_kind(err, KK_ERR_NOT_FOUND, 0, "no \"%s\" line", key);
}

static int parse_i64(const char *s, const char **end, int64_t *out) {
  errno = 0;
  char *e = NULL;
  if (!(*s >= '0' && *s <= '9'))
    return -1;
  long long v = strtoll(s, &e, 10);
  if (errno != 0 || e == s)
    return -1;
  *out = v;
  *end = e;
  return 0;
}

static const char *skip_ws(const char *p) {
  while (*p == ' ' || *p == '\t' || *p == '\n')
    p++;
  return p;
}

int kk_cg_parse_max(const char *text, int64_t *out, kk_err_t *err) {
  const char *p = skip_ws(text), *e = NULL;
  if (strncmp(p, "max", 3) == 0 && *skip_ws(p + 3) == '\0') {
    *out = KK_CG_MAX;
    return 0;
  }
  int64_t v;
  if (parse_i64(p, &e, &v) < 0 || *skip_ws(e) != '\0')
    return kk_error_kind(err, KK_ERR_INVALID, 0, "not a number or \"max\": \"%.40s\"", text);
  *out = v;
  return 0;
}

int kk_cg_parse_cpu_max(const char *text, int64_t *quota, int64_t *period, kk_err_t *err) {
  const char *p = skip_ws(text), *e = NULL;
  if (strncmp(p, "max", 3) == 0 && (p[3] == ' ' || p[3] == '\t')) {
    *quota = KK_CG_MAX;
    e = p + 3;
  } else if (parse_i64(p, &e, quota) < 0) {
    return kk_error_kind(err, KK_ERR_INVALID, 0, "cpu.max: bad quota in \"%.40s\"", text);
  }
  p = skip_ws(e);
  if (parse_i64(p, &e, period) < 0 || *skip_ws(e) != '\0')
    return kk_error_kind(err, KK_ERR_INVALID, 0, "cpu.max: bad period in \"%.40s\"", text);
  return 0;
}

int kk_cg_parse_io_weight(const char *text, int64_t *out, kk_err_t *err) {
  const char *p = skip_ws(text), *e = NULL;
  if (strncmp(p, "default", 7) == 0 && (p[7] == ' ' || p[7] == '\t'))
    p = skip_ws(p + 7);
  if (parse_i64(p, &e, out) < 0 || (*e != '\0' && *e != '\n' && *e != ' '))
    return kk_error_kind(err, KK_ERR_INVALID, 0, "io.weight: no default weight in \"%.40s\"", text);
  return 0;
}

/* ---------------------------------------------------------------- read, write */

int kk_cg_read_at(int dirfd, const char *file, size_t max, char **out, kk_err_t *err) {
  return kk_read_file_at(dirfd, file, max, out, NULL, err);
}

int kk_cg_read_keyed_at(int dirfd, const char *file, const char *key, int64_t *out,
                        kk_err_t *err) {
  cleanup_free char *text = NULL;
  if (kk_cg_read_at(dirfd, file, KK_CG_FILE_MAX, &text, err) < 0)
    return -1;
  return kk_cg_parse_keyed(text, key, out, err);
}

/* Fake trees: cgroup.subtree_control takes "+a -b" edits like the kernel. */
static int fake_subtree_edit(int dirfd, const char *value, kk_err_t *err) {
  cleanup_free char *cur = NULL;
  struct kk_strv have = {0}, edits = {0};
  if (kk_exists_at(dirfd, "cgroup.subtree_control") &&
      kk_cg_read_at(dirfd, "cgroup.subtree_control", KK_CG_FILE_MAX, &cur, err) < 0)
    return -1;
  kk_cg_parse_controllers(cur ? cur : "", &have);
  cleanup_free char *avail_text = NULL;
  struct kk_strv avail = {0};
  bool check_avail = kk_exists_at(dirfd, "cgroup.controllers");
  if (check_avail && kk_cg_read_at(dirfd, "cgroup.controllers", KK_CG_FILE_MAX, &avail_text, err) < 0) {
    kk_strv_free(&have);
    return -1;
  }
  kk_cg_parse_controllers(avail_text ? avail_text : "", &avail);
  /* Split raw words (keep the sign). */
  cleanup_free char *copy = kk_xstrdup(value);
  char *save = NULL;
  int rc = 0;
  for (char *w = strtok_r(copy, " \t\n", &save); w; w = strtok_r(NULL, " \t\n", &save)) {
    if ((w[0] != '+' && w[0] != '-') || (check_avail && !kk_strv_contains(&avail, w + 1))) {
      errno = w[0] == '+' || w[0] == '-' ? ENOENT : EINVAL;
      rc = kk_error(err, errno, "write %s to cgroup.subtree_control", value);
      break;
    }
    kk_strv_push(&edits, w);
  }
  if (rc == 0) {
    struct kk_strv next = {0};
    for (size_t i = 0; i < have.n; i++) {
      bool removed = false;
      for (size_t j = 0; j < edits.n; j++)
        if (edits.v[j][0] == '-' && strcmp(edits.v[j] + 1, have.v[i]) == 0)
          removed = true;
      if (!removed)
        kk_strv_push(&next, have.v[i]);
    }
    for (size_t j = 0; j < edits.n; j++)
      if (edits.v[j][0] == '+' && !kk_strv_contains(&next, edits.v[j] + 1))
        kk_strv_push(&next, edits.v[j] + 1);
    cleanup_free char *joined = next.n ? kk_strv_join(&next, " ") : kk_xstrdup("");
    cleanup_free char *line = kk_asprintf("%s\n", joined);
    kk_strv_free(&next);
    rc = kk_write_file_atomic(dirfd, "cgroup.subtree_control", line, strlen(line), 0644, NULL, err);
  }
  kk_strv_free(&have);
  kk_strv_free(&avail);
  kk_strv_free(&edits);
  return rc;
}

int kk_cg_write_at(const struct kk_cg_host *h, int dirfd, const char *file, const char *value,
                   kk_err_t *err) {
  if (h->fake && strcmp(file, "cgroup.subtree_control") == 0)
    return fake_subtree_edit(dirfd, value, err);
  int flags = O_WRONLY | O_CLOEXEC | O_NOFOLLOW;
  if (h->fake)
    flags |= O_CREAT | O_TRUNC;
  cleanup_close int fd = openat(dirfd, file, flags, 0644);
  if (fd < 0)
    return kk_error(err, errno, "open %s", file);
  size_t len = strlen(value);
  ssize_t w;
  do
    w = write(fd, value, len);
  while (w < 0 && errno == EINTR);
  if (w < 0)
    return kk_error(err, errno, "write \"%s\" to %s", value, file);
  if ((size_t)w != len)
    return kk_error(err, EIO, "short write of \"%s\" to %s", value, file);
  return 0;
}

/* Names and paths of the kukeon tree, the ownership marker, and opening a
 * cgroup by walking from the mount fd.  Calls down into detect.c only (the
 * host must have cgroup2). */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "cgroupfs/internal.h"
#include "lib/util.h"

#define OWNER_VALUE "kukeon"

/* ---------------------------------------------------------------- paths */

/* Names that would collide with interface files ("memory.max" ...). */
static const char *const reserved_prefixes[] = {
    "cgroup", "cpu", "cpuset", "cpuacct", "memory", "io",  "pids",
    "hugetlb", "rdma", "misc", "irq",    "blkio",  "devices", "freezer",
};

int kk_cg_name_check(const char *name, kk_err_t *err) {
  if (kk_empty(name))
    return kk_error_kind(err, KK_ERR_INVALID, 0, "cgroup name is empty");
  if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "cgroup name \"%s\" is not allowed", name);
  size_t len = strlen(name);
  if (len > 255)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "cgroup name \"%.32s...\" is longer than 255 bytes",
                         name);
  for (const unsigned char *p = (const unsigned char *)name; *p; p++)
    if (*p == '/' || *p < 0x20 || *p == 0x7f)
      return kk_error_kind(err, KK_ERR_INVALID, 0,
                           "cgroup name \"%s\" contains '/' or a control character", name);
  const char *dot = strchr(name, '.');
  if (dot != NULL) {
    size_t plen = (size_t)(dot - name);
    for (size_t i = 0; i < KK_ARRAY_SIZE(reserved_prefixes); i++)
      if (strlen(reserved_prefixes[i]) == plen && strncmp(name, reserved_prefixes[i], plen) == 0)
        return kk_error_kind(err, KK_ERR_INVALID, 0,
                             "cgroup name \"%s\" looks like a cgroup interface file (%s.*)", name,
                             reserved_prefixes[i]);
  }
  return 0;
}

static int split_checked(const char *path, struct kk_strv *parts, const char *what, kk_err_t *err) {
  cleanup_free char *copy = kk_xstrdup(path ? path : "");
  char *save = NULL;
  for (char *p = strtok_r(copy, "/", &save); p; p = strtok_r(NULL, "/", &save)) {
    if (kk_cg_name_check(p, err) < 0)
      return kk_error_wrap(err, "%s \"%s\"", what, path);
    kk_strv_push(parts, p);
  }
  return 0;
}

int kk_cg_root_normalize(const char *root, char **out, kk_err_t *err) {
  if (kk_empty(root) || root[0] != '/')
    return kk_error_kind(err, KK_ERR_INVALID, 0, "cgroup root \"%s\" must be an absolute path",
                         root ? root : "");
  struct kk_strv parts = {0};
  if (split_checked(root, &parts, "cgroup root", err) < 0) {
    kk_strv_free(&parts);
    return -1;
  }
  if (parts.n == 0) {
    kk_strv_free(&parts);
    return kk_error_kind(err, KK_ERR_INVALID, 0,
                         "cgroup root \"%s\" must not be \"/\": kukeon needs a subtree of its own",
                         root);
  }
  cleanup_free char *joined = kk_strv_join(&parts, "/");
  kk_strv_free(&parts);
  *out = kk_asprintf("/%s", joined);
  return 0;
}

int kk_cg_split_path(const char *root, const char *rel, struct kk_strv *root_parts,
                     struct kk_strv *rel_parts, char **norm_root, kk_err_t *err) {
  cleanup_free char *nr = NULL;
  if (kk_cg_root_normalize(root, &nr, err) < 0)
    return -1;
  if (root_parts && split_checked(nr, root_parts, "cgroup root", err) < 0)
    return -1;
  if (rel_parts && split_checked(rel, rel_parts, "cgroup path", err) < 0)
    return -1;
  if (rel && rel[0] == '/')
    return kk_error_kind(err, KK_ERR_INVALID, 0,
                         "cgroup path \"%s\" must be relative to the cgroup root", rel);
  if (norm_root)
    *norm_root = kk_steal(&nr);
  return 0;
}

size_t kk_cg_rel_depth(const char *rel) {
  size_t n = 0;
  bool in = false;
  for (const char *p = rel ? rel : ""; *p; p++) {
    if (*p == '/')
      in = false;
    else if (!in) {
      in = true;
      n++;
    }
  }
  return n;
}

char *kk_cg_rel(const char *realm, const char *space, const char *stack, const char *cell) {
  const char *parts[] = {realm, space, stack, cell};
  struct kk_strv sv = {0};
  for (size_t i = 0; i < KK_ARRAY_SIZE(parts) && parts[i] != NULL; i++)
    kk_strv_push(&sv, parts[i]);
  char *s = sv.n ? kk_strv_join(&sv, "/") : kk_xstrdup("");
  kk_strv_free(&sv);
  return s;
}

static char *join_rel(const char *a, const char *rel) {
  if (kk_empty(rel))
    return kk_xstrdup(a);
  return kk_asprintf("%s/%s", a, rel);
}

char *kk_cg_status_path(const char *root, const char *rel) {
  cleanup_free char *nr = NULL;
  kk_err_t e = NULL;
  if (kk_cg_root_normalize(root, &nr, &e) < 0) {
    kk_error_free(&e);
    nr = kk_xstrdup(root ? root : "");
  }
  return join_rel(nr, rel);
}

char *kk_cg_host_path(const struct kk_cg_host *h, const char *root, const char *rel) {
  cleanup_free char *sp = kk_cg_status_path(root, rel);
  return kk_asprintf("%s%s", h->mountpoint ? h->mountpoint : "(no cgroup2 mount)", sp);
}

/* ---------------------------------------------------------------- ownership */

bool kk_cg_is_owned(const struct kk_cg_host *h, int dirfd) {
  char buf[32];
  ssize_t n = fgetxattr(dirfd, h->xattr, buf, sizeof(buf));
  return n == (ssize_t)strlen(OWNER_VALUE) && memcmp(buf, OWNER_VALUE, (size_t)n) == 0;
}

int kk_cg_mark_owned(const struct kk_cg_host *h, int dirfd, kk_err_t *err) {
  if (fsetxattr(dirfd, h->xattr, OWNER_VALUE, strlen(OWNER_VALUE), 0) < 0)
    return kk_error(err, errno, "set the %s marker", h->xattr);
  return 0;
}

/* ---------------------------------------------------------------- open */

int kk_cg_open_sub(int dirfd, const char *name) {
  return openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

int kk_cg_open(const struct kk_cg_host *h, const char *root, const char *rel, kk_err_t *err) {
  if (kk_cg_require_v2(h, err) < 0)
    return -1;
  cleanup_strv struct kk_strv rp = {0};
  cleanup_strv struct kk_strv lp = {0};
  if (kk_cg_split_path(root, rel, &rp, &lp, NULL, err) < 0)
    return -1;
  cleanup_close int cur = fcntl(h->mount_fd, F_DUPFD_CLOEXEC, 0);
  if (cur < 0)
    return kk_error(err, errno, "dup");
  for (size_t i = 0; i < rp.n + lp.n; i++) {
    const char *part = i < rp.n ? rp.v[i] : lp.v[i - rp.n];
    int next = kk_cg_open_sub(cur, part);
    if (next < 0) {
      int saved = errno;
      cleanup_free char *p = kk_cg_host_path(h, root, rel);
      return kk_error(err, saved, "cgroup %s", p);
    }
    close(cur);
    cur = next;
  }
  return kk_steal_fd(&cur);
}

int kk_cg_not_ours(const struct kk_cg_host *h, const char *root, const char *rel, kk_err_t *err) {
  cleanup_free char *p = kk_cg_host_path(h, root, rel);
  return kk_error_kind(err, KK_ERR_PERMISSION, 0,
                       "cgroup %s exists but was not created by kukeon (no %s marker); kukeon "
                       "does not touch it: remove it or choose another --cgroup-root",
                       p, h->xattr);
}

int kk_cg_open_owned(const struct kk_cg_host *h, const char *root, const char *rel, kk_err_t *err) {
  cleanup_close int fd = kk_cg_open(h, root, rel, err);
  if (fd < 0)
    return -1;
  if (kk_cg_rel_depth(rel) <= KK_CG_CELL_DEPTH && !kk_cg_is_owned(h, fd))
    return kk_cg_not_ours(h, root, rel, err);
  return kk_steal_fd(&fd);
}

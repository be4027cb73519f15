/* Layer unpacking: one tar changeset applied into an empty snapshot
 * directory in overlay diff form.
 *
 * Safety model: every entry name is cleaned lexically (absolute names, ".."
 * and over-long names refused); every parent is opened component by
 * component (openat2 RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS, or an O_NOFOLLOW
 * walk) so a path through a symlink, planted by this layer or a lower one,
 * is refused instead of followed; the final component is never followed
 * (O_NOFOLLOW, AT_SYMLINK_NOFOLLOW, *at() calls on the parent fd).  So
 * nothing is ever created outside the snapshot root.
 *
 * Speed: a feeder thread reads the blob, hashes it (digest), decompresses
 * it (libarchive gzip/zstd filters), hashes the tar (diff ID) and pipes it
 * to the extracting thread; consecutive entries reuse the parent fd. */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "lib/fs.h"
#include "image/internal.h"
#include "image/libs.h"

#define DEFAULT_MAX_ENTRIES (1u << 20)
#define DEFAULT_MAX_BYTES (64ull << 30)
#define PIPE_CHUNK (1u << 20)
#define XATTR_MAX_VALUE (64u << 10)

/* ------------------------------------------------------------ clean path */

int kk_image_unpack_clean_path(const char *name, char **out, kk_err_t *err) {
  *out = NULL;
  if (name == NULL || *name == '\0')
    return kk_error_kind(err, KK_ERR_INVALID, 0, "entry with an empty name");
  size_t n = strlen(name);
  if (n >= 4096)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "entry name longer than 4095 bytes");
  if (name[0] == '/')
    return kk_error_kind(err, KK_ERR_INVALID, 0, "\"%.200s\": absolute path", name);
  char *o = kk_xmalloc(n + 1);
  size_t w = 0;
  const char *p = name;
  while (*p) {
    const char *e = strchr(p, '/');
    size_t len = e ? (size_t)(e - p) : strlen(p);
    if (len == 0 || (len == 1 && p[0] == '.')) {
      /* "//" or "./" */
    } else if (len == 2 && p[0] == '.' && p[1] == '.') {
      free(o);
      return kk_error_kind(err, KK_ERR_INVALID, 0, "\"%.200s\": \"..\" in path", name);
    } else if (len > 255) {
      free(o);
      return kk_error_kind(err, KK_ERR_INVALID, 0, "\"%.200s\": a name component is longer than 255 bytes", name);
    } else {
      if (w > 0)
        o[w++] = '/';
      memcpy(o + w, p, len);
      w += len;
    }
    if (e == NULL)
      break;
    p = e + 1;
  }
  o[w] = '\0';
  *out = o;
  return 0;
}

bool kk_image_is_whiteout_stat(const void *stp) {
  const struct stat *st = stp;
  return S_ISCHR(st->st_mode) && st->st_rdev == makedev(0, 0);
}

/* ---------------------------------------------------------------- context */

struct dirrec {
  char *path;
  struct timespec ts[2];
};

struct ux {
  const struct kk_archive_api *ar;
  int rootfd;
  const int *lowers; /* top first */
  size_t n_lowers;
  enum kk_unpack_devices devices;
  uint64_t max_entries, max_bytes;
  struct kk_unpack_stats *stats;
  bool root;
  bool no_openat2;
  char *pc_path; /* parent cache */
  int pc_fd;
  struct dirrec *dirs;
  size_t n_dirs, cap_dirs;
};

static void pc_drop(struct ux *u) {
  if (u->pc_fd >= 0)
    close(u->pc_fd);
  u->pc_fd = -1;
  free(u->pc_path);
  u->pc_path = NULL;
}

static void record_dir(struct ux *u, const char *path, const struct timespec ts[2]) {
  if (u->n_dirs == u->cap_dirs) {
    u->cap_dirs = u->cap_dirs ? u->cap_dirs * 2 : 256;
    u->dirs = kk_xrealloc(u->dirs, u->cap_dirs * sizeof(*u->dirs));
  }
  u->dirs[u->n_dirs].path = kk_xstrdup(path);
  u->dirs[u->n_dirs].ts[0] = ts[0];
  u->dirs[u->n_dirs].ts[1] = ts[1];
  u->n_dirs++;
}

/* ------------------------------------------------------------ lower view */

enum lk { LK_NONE, LK_DIR, LK_LINK, LK_OTHER };

struct lower_hit {
  enum lk kind;
  bool final;      /* the path itself; otherwise a parent (depth tells) */
  size_t layer;    /* index into u->lowers */
  size_t depth;    /* bytes of the path prefix that was found */
  struct stat st;
};

static bool is_opaque_at(int layerfd, const char *rel) {
  char p[4200], v[2];
  if (kk_proc_fd_path(p, sizeof(p), layerfd, rel) < 0)
    return false;
  ssize_t n = lgetxattr(p, KK_OVERLAY_OPAQUE_XATTR, v, sizeof(v));
  return n == 1 && v[0] == 'y';
}

/* What the merged lower layers show at rel (overlay semantics: whiteouts,
 * opaque directories, a non-directory hides what is below it). */
static void lower_lookup(struct ux *u, const char *rel, struct lower_hit *hit) {
  memset(hit, 0, sizeof(*hit));
  hit->kind = LK_NONE;
  if (u->n_lowers == 0)
    return;
  size_t n = u->n_lowers;
  size_t *active = kk_xmalloc(n * sizeof(size_t)), *next = kk_xmalloc(n * sizeof(size_t));
  size_t n_active = n;
  for (size_t i = 0; i < n; i++)
    active[i] = i;
  size_t len = strlen(rel);
  char *prefix = kk_xmalloc(len + 1);
  size_t pos = 0;
  while (n_active > 0) {
    const char *slash = strchr(rel + pos, '/');
    size_t end = slash ? (size_t)(slash - rel) : len;
    bool final = slash == NULL;
    memcpy(prefix, rel, end);
    prefix[end] = '\0';
    size_t n_next = 0;
    bool done = false;
    for (size_t k = 0; k < n_active; k++) {
      struct stat st;
      size_t L = active[k];
      if (fstatat(u->lowers[L], prefix, &st, AT_SYMLINK_NOFOLLOW) < 0)
        continue;
      if (kk_image_is_whiteout_stat(&st))
        break; /* hides everything below */
      if (final || (!S_ISDIR(st.st_mode) && n_next == 0)) {
        /* The topmost thing at this name decides. */
        hit->kind = S_ISDIR(st.st_mode) ? LK_DIR : S_ISLNK(st.st_mode) ? LK_LINK : LK_OTHER;
        hit->final = final;
        hit->layer = L;
        hit->depth = end;
        hit->st = st;
        done = true;
        break;
      }
      if (!S_ISDIR(st.st_mode))
        break; /* a directory above hides this non-directory and below */
      next[n_next++] = L;
      if (is_opaque_at(u->lowers[L], prefix))
        break;
    }
    if (done || final)
      break;
    memcpy(active, next, n_next * sizeof(size_t));
    n_active = n_next;
    pos = end + 1;
  }
  free(prefix);
  free(active);
  free(next);
}

/* --------------------------------------------------------------- metadata */

static bool xattr_allowed(const char *name, kk_err_t *err, int *refuse) {
  *refuse = 0;
  if (kk_has_prefix(name, "trusted.overlay.") || kk_has_prefix(name, "user.overlay.")) {
    *refuse = 1;
    kk_error_kind(err, KK_ERR_INVALID, 0, "overlay control attribute %s is not allowed in a layer", name);
    return false;
  }
  return kk_has_prefix(name, "user.") || kk_has_prefix(name, "security.") || kk_has_prefix(name, "trusted.") ||
         strcmp(name, "system.posix_acl_access") == 0 || strcmp(name, "system.posix_acl_default") == 0;
}

static int set_xattr(int fd, int parentfd, const char *base, const char *name, const void *val, size_t size,
                     bool nonreg, kk_err_t *err) {
  int r;
  if (fd >= 0) {
    r = fsetxattr(fd, name, val, size, 0);
  } else {
    char p[4200];
    if (kk_proc_fd_path(p, sizeof(p), parentfd, base) < 0)
      return kk_error_kind(err, KK_ERR_INVALID, 0, "path too long");
    r = lsetxattr(p, name, val, size, 0);
  }
  if (r == 0)
    return 0;
  /* user.* is not allowed on symlinks and devices; SELinux labels are
   * advisory without SELinux. */
  if ((errno == EPERM || errno == ENOTSUP) && nonreg && kk_has_prefix(name, "user."))
    return 0;
  if (kk_has_prefix(name, "security.selinux"))
    return 0;
  return kk_error(err, errno, "set extended attribute %s", name);
}

static int apply_xattrs(struct ux *u, struct archive_entry *e, int fd, int parentfd, const char *base, bool nonreg,
                        kk_err_t *err) {
  const char *name;
  const void *val;
  size_t size;
  if (u->ar->entry_xattr_reset(e) == 0)
    return 0;
  while (u->ar->entry_xattr_next(e, &name, &val, &size) == ARCHIVE_OK) {
    int refuse;
    if (name == NULL)
      continue;
    if (!xattr_allowed(name, err, &refuse)) {
      if (refuse)
        return -1;
      continue;
    }
    if (size > XATTR_MAX_VALUE)
      return kk_error_kind(err, KK_ERR_INVALID, 0, "extended attribute %s larger than %u bytes", name, XATTR_MAX_VALUE);
    if (!u->root && !kk_has_prefix(name, "user."))
      continue;
    if (set_xattr(fd, parentfd, base, name, val, size, nonreg, err) < 0)
      return -1;
  }
  return 0;
}

static void entry_times(const struct kk_archive_api *ar, struct archive_entry *e, struct timespec ts[2]) {
  ts[1].tv_sec = ar->entry_mtime(e);
  ts[1].tv_nsec = ar->entry_mtime_is_set(e) ? ar->entry_mtime_nsec(e) : 0;
  if (ar->entry_atime_is_set(e)) {
    ts[0].tv_sec = ar->entry_atime(e);
    ts[0].tv_nsec = ar->entry_atime_nsec(e);
  } else {
    ts[0] = ts[1];
  }
  if (ts[0].tv_nsec < 0 || ts[0].tv_nsec >= 1000000000)
    ts[0].tv_nsec = 0;
  if (ts[1].tv_nsec < 0 || ts[1].tv_nsec >= 1000000000)
    ts[1].tv_nsec = 0;
}

/* Owner, then mode (chown clears set-id bits), then xattrs, then times.
 * fd >= 0 for regular files and directories; otherwise the node is
 * addressed through its parent without following it. */
static int apply_meta(struct ux *u, struct archive_entry *e, int fd, int parentfd, const char *base, mode_t type,
                      bool set_times, kk_err_t *err) {
  la_int64_t euid = u->ar->entry_uid(e), egid = u->ar->entry_gid(e);
  if (euid < 0 || egid < 0 || euid > 0xfffffffeLL || egid > 0xfffffffeLL)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "owner %lld:%lld out of range", (long long)euid, (long long)egid);
  uid_t uid = (uid_t)euid;
  gid_t gid = (gid_t)egid;
  if (u->root) {
    int r = fd >= 0 ? fchown(fd, uid, gid) : fchownat(parentfd, base, uid, gid, AT_SYMLINK_NOFOLLOW);
    if (r < 0)
      return kk_error(err, errno, "chown %u:%u", uid, gid);
  }
  mode_t mode = u->ar->entry_perm(e) & 07777;
  if (type != AE_IFLNK) {
    int r = fd >= 0 ? fchmod(fd, mode) : fchmodat(parentfd, base, mode, 0);
    if (r < 0)
      return kk_error(err, errno, "chmod %o", mode);
  }
  if (apply_xattrs(u, e, fd, parentfd, base, type != AE_IFREG && type != AE_IFDIR, err) < 0)
    return -1;
  if (set_times) {
    struct timespec ts[2];
    entry_times(u->ar, e, ts);
    int r = fd >= 0 ? futimens(fd, ts) : utimensat(parentfd, base, ts, AT_SYMLINK_NOFOLLOW);
    if (r < 0)
      return kk_error(err, errno, "set times");
  }
  return 0;
}

int kk_image_copy_symlink(int src_dir, const char *src_name, int dst_dir, const char *dst_name, kk_err_t *err) {
  char target[4096];
  ssize_t n = readlinkat(src_dir, src_name, target, sizeof(target) - 1);
  if (n < 0)
    return kk_error(err, errno, "read symlink %s", src_name);
  target[n] = '\0';
  if (symlinkat(target, dst_dir, dst_name) < 0)
    return kk_error(err, errno, "symlink %s", dst_name);
  return 0;
}

int kk_image_copy_meta(int srcfd_path_dir, const char *src_rel, int dstfd, int dst_parent, const char *dst_base,
                       const struct stat *st, bool set_times, kk_err_t *err) {
  char sp[4200];
  if (kk_proc_fd_path(sp, sizeof(sp), srcfd_path_dir, src_rel) < 0)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "path too long");
  int r = dstfd >= 0 ? fchown(dstfd, st->st_uid, st->st_gid)
                     : fchownat(dst_parent, dst_base, st->st_uid, st->st_gid, AT_SYMLINK_NOFOLLOW);
  if (r < 0 && geteuid() == 0)
    return kk_error(err, errno, "chown");
  if (!S_ISLNK(st->st_mode)) {
    r = dstfd >= 0 ? fchmod(dstfd, st->st_mode & 07777) : fchmodat(dst_parent, dst_base, st->st_mode & 07777, 0);
    if (r < 0)
      return kk_error(err, errno, "chmod");
  }
  char names[16384];
  ssize_t nl = llistxattr(sp, names, sizeof(names));
  for (ssize_t off = 0; nl > 0 && off < nl; off += (ssize_t)strlen(names + off) + 1) {
    const char *name = names + off;
    if (kk_has_prefix(name, "trusted.overlay.") || kk_has_prefix(name, "user.overlay."))
      continue;
    char val[XATTR_MAX_VALUE];
    ssize_t vl = lgetxattr(sp, name, val, sizeof(val));
    if (vl < 0)
      continue;
    if (set_xattr(dstfd, dst_parent, dst_base, name, val, (size_t)vl, !S_ISREG(st->st_mode) && !S_ISDIR(st->st_mode),
                  err) < 0)
      return -1;
  }
  if (set_times) {
    struct timespec ts[2] = {st->st_atim, st->st_mtim};
    r = dstfd >= 0 ? futimens(dstfd, ts) : utimensat(dst_parent, dst_base, ts, AT_SYMLINK_NOFOLLOW);
    if (r < 0)
      return kk_error(err, errno, "set times");
  }
  return 0;
}

/* ------------------------------------------------------------- resolving */

static int sys_openat2(int dirfd, const char *path, struct open_how *how) {
  return (int)syscall(SYS_openat2, dirfd, path, how, sizeof(*how));
}

/* Make the missing directory `name` (path `prefix`) in dirfd as an implicit
 * parent: attributes from the lower layers when they have it. */
static int make_implicit_dir(struct ux *u, int dirfd, const char *name, const char *prefix, kk_err_t *err) {
  struct lower_hit hit;
  lower_lookup(u, prefix, &hit);
  if (hit.kind == LK_LINK)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "\"%.*s\" is a symlink in a lower layer; writing through symlinks is not allowed",
                         (int)hit.depth, prefix);
  if (hit.kind == LK_OTHER)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "\"%.*s\" is not a directory in a lower layer", (int)hit.depth, prefix);
  if (mkdirat(dirfd, name, 0755) < 0 && errno != EEXIST)
    return kk_error(err, errno, "mkdir %s", prefix);
  if (hit.kind == LK_DIR) {
    cleanup_close int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
      return kk_error(err, errno, "open %s", prefix);
    if (kk_image_copy_meta(u->lowers[hit.layer], prefix, fd, dirfd, name, &hit.st, false, err) < 0)
      return kk_error_wrap(err, "%s", prefix);
    struct timespec ts[2] = {hit.st.st_atim, hit.st.st_mtim};
    record_dir(u, prefix, ts);
  }
  return 0;
}

/* Open the directory `dir` (clean, relative; "" = root) inside the layer.
 * create: missing components become implicit directories.  A component
 * that is a symlink or not a directory is refused.  Returns a new fd, or
 * -1 with *err; with !create, ENOENT gives -2 and no error. */
static int open_dir_slow(struct ux *u, const char *dir, bool create, kk_err_t *err) {
  int cur = fcntl(u->rootfd, F_DUPFD_CLOEXEC, 3);
  if (cur < 0)
    return kk_error(err, errno, "dup");
  if (*dir == '\0')
    return cur;
  size_t len = strlen(dir);
  cleanup_free char *prefix = kk_xmalloc(len + 1);
  size_t pos = 0;
  for (;;) {
    const char *slash = strchr(dir + pos, '/');
    size_t end = slash ? (size_t)(slash - dir) : len;
    memcpy(prefix, dir, end);
    prefix[end] = '\0';
    const char *name = prefix + pos;
    int next = openat(cur, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (next < 0) {
      int e = errno;
      struct stat st;
      bool have = fstatat(cur, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
      if (e == ENOENT && !have) {
        if (!create) {
          close(cur);
          return -2;
        }
        if (make_implicit_dir(u, cur, name, prefix, err) < 0) {
          close(cur);
          return -1;
        }
      } else if (have && S_ISLNK(st.st_mode)) {
        close(cur);
        return kk_error_kind(err, KK_ERR_INVALID, 0, "\"%s\" is a symlink in this layer; writing through symlinks is not allowed", prefix);
      } else if (have && kk_image_is_whiteout_stat(&st) && create) {
        /* Whited out earlier in this layer, now a parent again: a fresh
         * directory that hides the lower one. */
        if (unlinkat(cur, name, 0) < 0 || mkdirat(cur, name, 0755) < 0) {
          int e2 = errno;
          close(cur);
          return kk_error(err, e2, "replace whiteout %s", prefix);
        }
        cleanup_close int fd = openat(cur, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0 || fsetxattr(fd, KK_OVERLAY_OPAQUE_XATTR, "y", 1, 0) < 0) {
          int e2 = errno;
          close(cur);
          return kk_error(err, e2, "mark %s opaque", prefix);
        }
      } else if (have && !S_ISDIR(st.st_mode)) {
        close(cur);
        if (!create)
          return -2;
        return kk_error_kind(err, KK_ERR_INVALID, 0, "\"%s\" is not a directory", prefix);
      } else {
        close(cur);
        return kk_error(err, e, "open %s", prefix);
      }
      next = openat(cur, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (next < 0) {
        int e2 = errno;
        close(cur);
        return kk_error(err, e2, "open %s", prefix);
      }
    }
    close(cur);
    cur = next;
    if (slash == NULL)
      return cur;
    pos = end + 1;
  }
}

static int open_dir(struct ux *u, const char *dir, bool create, kk_err_t *err) {
  if (!u->no_openat2 && *dir) {
    struct open_how how = {
        .flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC,
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
    };
    int fd = sys_openat2(u->rootfd, dir, &how);
    if (fd >= 0)
      return fd;
    if (errno == ENOSYS)
      u->no_openat2 = true;
    /* Anything else: the careful walk says exactly what is wrong. */
  }
  return open_dir_slow(u, dir, create, err);
}

/* The parent directory fd for an entry, cached across entries. */
static int parent_fd(struct ux *u, const char *dir, kk_err_t *err) {
  if (*dir == '\0')
    return u->rootfd;
  if (u->pc_path && strcmp(u->pc_path, dir) == 0)
    return u->pc_fd;
  int fd = open_dir(u, dir, true, err);
  if (fd < 0)
    return -1;
  pc_drop(u);
  u->pc_path = kk_xstrdup(dir);
  u->pc_fd = fd;
  return fd;
}

/* Something is in the way of a new node: a directory stays when the new
 * entry is a directory too; anything else goes.  *was_whiteout tells the
 * caller to make a new directory opaque. */
static int clear_way(struct ux *u, int parentfd, const char *base, bool new_is_dir, bool *keep, bool *was_whiteout,
                     kk_err_t *err) {
  struct stat st;
  *keep = false;
  *was_whiteout = false;
  if (fstatat(parentfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
    return errno == ENOENT ? 0 : kk_error(err, errno, "stat");
  if (S_ISDIR(st.st_mode) && new_is_dir) {
    *keep = true;
    return 0;
  }
  pc_drop(u);
  if (S_ISDIR(st.st_mode))
    return kk_rm_rf_at(parentfd, base, err);
  *was_whiteout = kk_image_is_whiteout_stat(&st);
  if (unlinkat(parentfd, base, 0) < 0 && errno != ENOENT)
    return kk_error(err, errno, "remove existing entry");
  return 0;
}

/* ------------------------------------------------------------- entries */

static int write_data(struct ux *u, struct archive *a, int fd, int64_t size, kk_err_t *err) {
  const void *buf;
  size_t len;
  la_int64_t off;
  int64_t end = 0;
  for (;;) {
    int r = u->ar->read_data_block(a, &buf, &len, &off);
    if (r == ARCHIVE_EOF)
      break;
    if (r < ARCHIVE_WARN)
      return kk_error_kind(err, KK_ERR_INVALID, 0, "read layer data: %s", u->ar->error_string(a));
    if (off < 0 || off + (int64_t)len > size)
      return kk_error_kind(err, KK_ERR_INVALID, 0, "data beyond the entry size");
    u->stats->bytes += len;
    if (u->stats->bytes > u->max_bytes)
      return kk_error_kind(err, KK_ERR_INVALID, 0, "layer expands to more than %llu bytes",
                           (unsigned long long)u->max_bytes);
    const char *p = buf;
    while (len > 0) {
      ssize_t w = pwrite(fd, p, len, off);
      if (w < 0 && errno == EINTR)
        continue;
      if (w < 0)
        return kk_error(err, errno, "write");
      p += w;
      len -= (size_t)w;
      off += w;
    }
    if (off > end)
      end = off;
  }
  if (end < size && ftruncate(fd, size) < 0)
    return kk_error(err, errno, "truncate");
  return 0;
}

/* A hardlink to a file that only a lower layer has: copy it up. */
static int copy_up(struct ux *u, const struct lower_hit *hit, const char *trel, int parentfd, const char *base,
                   kk_err_t *err) {
  int lfd = u->lowers[hit->layer];
  if (S_ISLNK(hit->st.st_mode)) {
    if (kk_image_copy_symlink(lfd, trel, parentfd, base, err) < 0)
      return -1;
    return kk_image_copy_meta(lfd, trel, -1, parentfd, base, &hit->st, true, err);
  }
  if (S_ISREG(hit->st.st_mode)) {
    char sp[4200];
    if (kk_proc_fd_path(sp, sizeof(sp), lfd, trel) < 0)
      return kk_error_kind(err, KK_ERR_INVALID, 0, "path too long");
    cleanup_close int in = open(sp, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (in < 0)
      return kk_error(err, errno, "open lower file %s", trel);
    cleanup_close int out = openat(parentfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (out < 0)
      return kk_error(err, errno, "create");
    if (kk_copy_fd(in, out, hit->st.st_size) < 0)
      return kk_error(err, errno, "copy lower file %s", trel);
    return kk_image_copy_meta(lfd, trel, out, parentfd, base, &hit->st, true, err);
  }
  /* Devices and fifos. */
  if (mknodat(parentfd, base, hit->st.st_mode & S_IFMT, hit->st.st_rdev) < 0)
    return kk_error(err, errno, "mknod");
  return kk_image_copy_meta(lfd, trel, -1, parentfd, base, &hit->st, true, err);
}

static int do_hardlink(struct ux *u, const char *link, int parentfd, const char *base, kk_err_t *err) {
  cleanup_free char *trel = NULL;
  if (kk_image_unpack_clean_path(link, &trel, err) < 0)
    return kk_error_wrap(err, "hardlink target");
  if (*trel == '\0')
    return kk_error_kind(err, KK_ERR_INVALID, 0, "hardlink to the root directory");
  char *slash = strrchr(trel, '/');
  const char *tbase = slash ? slash + 1 : trel;
  cleanup_free char *tdir = slash ? kk_xstrndup(trel, (size_t)(slash - trel)) : kk_xstrdup("");
  kk_err_t e2 = NULL;
  int tfd = *tdir ? open_dir(u, tdir, false, &e2) : fcntl(u->rootfd, F_DUPFD_CLOEXEC, 3);
  if (tfd == -1) {
    *err = e2;
    return kk_error_wrap(err, "hardlink target \"%s\"", trel);
  }
  struct stat st;
  if (tfd >= 0 && fstatat(tfd, tbase, &st, AT_SYMLINK_NOFOLLOW) == 0 && !kk_image_is_whiteout_stat(&st)) {
    if (S_ISDIR(st.st_mode)) {
      close(tfd);
      return kk_error_kind(err, KK_ERR_INVALID, 0, "hardlink to a directory (\"%s\")", trel);
    }
    for (int attempt = 0; attempt < 2; attempt++) {
      if (linkat(tfd, tbase, parentfd, base, 0) == 0) {
        close(tfd);
        return 0;
      }
      if (errno != EEXIST || attempt == 1)
        break;
      bool keep, wo;
      if (clear_way(u, parentfd, base, false, &keep, &wo, err) < 0) {
        close(tfd);
        return -1;
      }
    }
    int e = errno;
    close(tfd);
    return kk_error(err, e, "hardlink to \"%s\"", trel);
  }
  if (tfd >= 0)
    close(tfd);
  /* Not in this layer: maybe below. */
  struct lower_hit hit;
  lower_lookup(u, trel, &hit);
  if (hit.kind == LK_NONE)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "hardlink target \"%s\" does not exist", trel);
  if (!hit.final && hit.kind == LK_LINK)
    return kk_error_kind(err, KK_ERR_INVALID, 0,
                         "hardlink target \"%s\": \"%.*s\" is a symlink in a lower layer; links through symlinks are not allowed",
                         trel, (int)hit.depth, trel);
  if (!hit.final)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "hardlink target \"%s\": \"%.*s\" is not a directory", trel,
                         (int)hit.depth, trel);
  if (hit.kind == LK_DIR)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "hardlink to a directory (\"%s\")", trel);
  bool keep, wo;
  if (clear_way(u, parentfd, base, false, &keep, &wo, err) < 0)
    return -1;
  return copy_up(u, &hit, trel, parentfd, base, err);
}

static int whiteout(struct ux *u, const char *dir, const char *name, kk_err_t *err) {
  if (*name == '\0' || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "invalid whiteout \".wh.%s\"", name);
  int pfd = parent_fd(u, dir, err);
  if (pfd < 0)
    return -1;
  struct stat st;
  if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
    return 0; /* whiteouts hide lower layers only */
  if (!u->root)
    return kk_error_kind(err, KK_ERR_PERMISSION, 0, "whiteouts need root (overlay whiteouts are 0:0 devices)");
  if (mknodat(pfd, name, S_IFCHR | 0, makedev(0, 0)) < 0)
    return kk_error(err, errno, "create whiteout");
  return 0;
}

static int opaque(struct ux *u, const char *dir, kk_err_t *err) {
  int fd;
  if (*dir == '\0') {
    fd = fcntl(u->rootfd, F_DUPFD_CLOEXEC, 3);
  } else {
    /* The directory itself (implicit when the layer has no entry for it). */
    fd = open_dir(u, dir, true, err);
  }
  if (fd < 0)
    return fd == -2 ? kk_error(err, ENOENT, "opaque directory") : -1;
  int r = fsetxattr(fd, KK_OVERLAY_OPAQUE_XATTR, "y", 1, 0);
  int e = errno;
  close(fd);
  if (r < 0)
    return kk_error(err, e, "mark directory opaque");
  return 0;
}

static int apply_entry(struct ux *u, struct archive *a, struct archive_entry *e, const char *rel, kk_err_t *err) {
  const char *slash = strrchr(rel, '/');
  const char *base = slash ? slash + 1 : rel;
  cleanup_free char *dir = slash ? kk_xstrndup(rel, (size_t)(slash - rel)) : kk_xstrdup("");
  const char *hardlink = u->ar->entry_hardlink(e);
  mode_t type = u->ar->entry_filetype(e);
  int64_t size = u->ar->entry_size(e);
  if (size < 0 || (uint64_t)size > u->max_bytes)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "size %lld out of bounds", (long long)size);

  /* The root entry: only its attributes. */
  if (*rel == '\0') {
    if (hardlink || type != AE_IFDIR)
      return kk_error_kind(err, KK_ERR_INVALID, 0, "the root of a layer must be a directory");
    if (apply_meta(u, e, u->rootfd, -1, NULL, AE_IFDIR, false, err) < 0)
      return -1;
    struct timespec ts[2];
    entry_times(u->ar, e, ts);
    record_dir(u, "", ts);
    return 0;
  }
  /* Whiteouts. */
  if (kk_has_prefix(base, ".wh.")) {
    if (strcmp(base, ".wh..wh..opq") == 0)
      return opaque(u, dir, err);
    if (kk_has_prefix(base, ".wh..wh."))
      return 0; /* AUFS bookkeeping (.wh..wh.plnk, ...): ignored */
    return whiteout(u, dir, base + 4, err);
  }
  int pfd = parent_fd(u, dir, err);
  if (pfd < 0)
    return -1;
  if (hardlink)
    return do_hardlink(u, hardlink, pfd, base, err);

  bool keep = false, was_wo = false;
  for (int attempt = 0;; attempt++) {
    int r = 0;
    switch (type) {
    case AE_IFDIR: {
      if (!keep && mkdirat(pfd, base, 0700) < 0)
        r = -1;
      if (r == 0) {
        cleanup_close int fd = openat(pfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
          return kk_error(err, errno, "open directory");
        if (was_wo && fsetxattr(fd, KK_OVERLAY_OPAQUE_XATTR, "y", 1, 0) < 0)
          return kk_error(err, errno, "mark directory opaque");
        if (apply_meta(u, e, fd, pfd, base, AE_IFDIR, false, err) < 0)
          return -1;
        struct timespec ts[2];
        entry_times(u->ar, e, ts);
        record_dir(u, rel, ts);
        return 0;
      }
      break;
    }
    case AE_IFREG: {
      cleanup_close int fd = openat(pfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
      if (fd >= 0) {
        if (write_data(u, a, fd, size, err) < 0 || apply_meta(u, e, fd, pfd, base, AE_IFREG, true, err) < 0)
          return -1;
        return 0;
      }
      r = -1;
      break;
    }
    case AE_IFLNK: {
      const char *target = u->ar->entry_symlink(e);
      if (target == NULL || *target == '\0')
        return kk_error_kind(err, KK_ERR_INVALID, 0, "symlink with an empty target");
      if (strlen(target) >= 4096)
        return kk_error_kind(err, KK_ERR_INVALID, 0, "symlink target longer than 4095 bytes");
      if (symlinkat(target, pfd, base) == 0)
        return apply_meta(u, e, -1, pfd, base, AE_IFLNK, true, err);
      r = -1;
      break;
    }
    case AE_IFCHR:
    case AE_IFBLK:
    case AE_IFIFO: {
      if (type != AE_IFIFO) {
        enum kk_unpack_devices pol = u->devices;
        if (pol == KK_UNPACK_DEVICES_AUTO)
          pol = u->root ? KK_UNPACK_DEVICES_CREATE : KK_UNPACK_DEVICES_REFUSE;
        if (pol == KK_UNPACK_DEVICES_SKIP) {
          u->stats->devices_skipped++;
          return 0;
        }
        if (pol == KK_UNPACK_DEVICES_REFUSE)
          return kk_error_kind(err, KK_ERR_PERMISSION, 0, "device nodes are not allowed here");
      }
      dev_t dev = makedev(u->ar->entry_rdevmajor(e), u->ar->entry_rdevminor(e));
      if (mknodat(pfd, base, type | 0600, type == AE_IFIFO ? 0 : dev) == 0)
        return apply_meta(u, e, -1, pfd, base, type, true, err);
      r = -1;
      break;
    }
    case AE_IFSOCK:
      return 0; /* sockets are not content */
    default:
      return kk_error_kind(err, KK_ERR_INVALID, 0, "unsupported entry type 0%o", (unsigned)type);
    }
    if (r < 0 && (errno != EEXIST || attempt > 0))
      return kk_error(err, errno, "create");
    if (clear_way(u, pfd, base, type == AE_IFDIR, &keep, &was_wo, err) < 0)
      return -1;
  }
}

static int fix_dir_times(struct ux *u, kk_err_t *err) {
  for (size_t i = u->n_dirs; i-- > 0;) {
    struct dirrec *d = &u->dirs[i];
    kk_err_t e2 = NULL;
    int fd = *d->path ? open_dir(u, d->path, false, &e2) : fcntl(u->rootfd, F_DUPFD_CLOEXEC, 3);
    kk_error_free(&e2);
    if (fd < 0)
      continue; /* replaced later in the layer */
    int r = futimens(fd, d->ts);
    int e = errno;
    close(fd);
    if (r < 0)
      return kk_error(err, e, "set times of %s", *d->path ? d->path : "/");
  }
  return 0;
}

/* ------------------------------------------------------------- pipeline */

struct feeder {
  const struct kk_archive_api *ar;
  int in_fd, out_fd;
  uint64_t max_out;
  struct kk_sha256 hc, hu;
  char *digest, *diff_id;
  char *errmsg;
  char *inbuf;
};

static la_ssize_t feeder_read(struct archive *a, void *arg, const void **buf) {
  struct feeder *f = arg;
  for (;;) {
    ssize_t r = read(f->in_fd, f->inbuf, PIPE_CHUNK);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0) {
      f->ar->set_error(a, errno, "read layer blob");
      return -1;
    }
    kk_image_sha256_update(&f->hc, f->inbuf, (size_t)r);
    *buf = f->inbuf;
    return r;
  }
}

static void feed(struct feeder *f, struct archive *a) {
  struct archive_entry *e;
  uint64_t out = 0;
  if (f->ar->read_open(a, f, NULL, feeder_read, NULL) != ARCHIVE_OK) {
    f->errmsg = kk_asprintf("open layer: %s", f->ar->error_string(a));
    return;
  }
  int r = f->ar->read_next_header(a, &e);
  if (r == ARCHIVE_EOF)
    return;
  if (r < ARCHIVE_WARN) {
    f->errmsg = kk_asprintf("decompress layer: %s", f->ar->error_string(a));
    return;
  }
  for (;;) {
    const void *buf;
    size_t len;
    la_int64_t off;
    r = f->ar->read_data_block(a, &buf, &len, &off);
    if (r == ARCHIVE_EOF)
      break;
    if (r < ARCHIVE_WARN) {
      f->errmsg = kk_asprintf("decompress layer: %s", f->ar->error_string(a));
      return;
    }
    kk_image_sha256_update(&f->hu, buf, len);
    out += len;
    if (out > f->max_out) {
      f->errmsg = kk_asprintf("layer expands to more than %llu bytes", (unsigned long long)f->max_out);
      return;
    }
    if (kk_write_all(f->out_fd, buf, len) < 0)
      return; /* extraction stopped: its error is the one to report */
  }
  /* Whatever follows the compressed stream still counts for the digest. */
  for (;;) {
    ssize_t n = read(f->in_fd, f->inbuf, PIPE_CHUNK);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    kk_image_sha256_update(&f->hc, f->inbuf, (size_t)n);
  }
  f->digest = kk_image_sha256_final(&f->hc);
  f->diff_id = kk_image_sha256_final(&f->hu);
}

static void *feeder_main(void *arg) {
  struct feeder *f = arg;
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  struct archive *a = f->ar->read_new();
  f->ar->read_support_filter_gzip(a);
  f->ar->read_support_filter_zstd(a);
  f->ar->read_support_format_raw(a);
  feed(f, a);
  f->ar->read_free(a);
  close(f->out_fd);
  f->out_fd = -1;
  return NULL;
}

static int run_tar(struct ux *u, int rfd, kk_err_t *err) {
  struct archive *a = u->ar->read_new();
  u->ar->read_support_format_tar(a);
  int rc = 0;
  struct archive_entry *e;
  if (u->ar->read_open_fd(a, rfd, PIPE_CHUNK) != ARCHIVE_OK) {
    rc = kk_error_kind(err, KK_ERR_INVALID, 0, "invalid layer: %s", u->ar->error_string(a));
    goto out;
  }
  for (;;) {
    int r = u->ar->read_next_header(a, &e);
    if (r == ARCHIVE_EOF)
      break;
    if (r < ARCHIVE_WARN) {
      rc = kk_error_kind(err, KK_ERR_INVALID, 0, "invalid layer tar: %s", u->ar->error_string(a));
      goto out;
    }
    if (++u->stats->entries > u->max_entries) {
      rc = kk_error_kind(err, KK_ERR_INVALID, 0, "layer has more than %llu entries",
                         (unsigned long long)u->max_entries);
      goto out;
    }
    const char *name = u->ar->entry_pathname(e);
    if (name == NULL)
      name = u->ar->entry_pathname_utf8(e);
    cleanup_free char *rel = NULL;
    if (kk_image_unpack_clean_path(name, &rel, err) < 0 || apply_entry(u, a, e, rel, err) < 0) {
      rc = kk_error_wrap(err, "entry \"%.300s\"", name ? name : "");
      goto out;
    }
  }
  rc = fix_dir_times(u, err);
out:
  u->ar->read_free(a);
  return rc;
}

int kk_image_unpack_layer(int rootfd, const int *lowerfds, size_t n_lowers, int fd, const char *digest, const char *diff_id,
                    const struct kk_unpack_opts *opts, struct kk_unpack_stats *stats, kk_err_t *err) {
  struct kk_unpack_opts defaults = {0};
  if (opts == NULL)
    opts = &defaults;
  struct kk_unpack_stats local_stats;
  if (stats == NULL)
    stats = &local_stats;
  memset(stats, 0, sizeof(*stats));
  const struct kk_archive_api *ar = kk_image_libarchive(err);
  if (ar == NULL)
    return -1;
  struct feeder f = {.ar = ar};
  if (kk_image_sha256_init(&f.hc, err) < 0)
    return -1;
  if (kk_image_sha256_init(&f.hu, err) < 0) {
    kk_image_sha256_free(&f.hc);
    return -1;
  }
  struct ux u = {
      .ar = ar,
      .rootfd = rootfd,
      .lowers = lowerfds,
      .n_lowers = n_lowers,
      .devices = opts->devices,
      .max_entries = opts->max_entries ? opts->max_entries : DEFAULT_MAX_ENTRIES,
      .max_bytes = opts->max_bytes ? opts->max_bytes : DEFAULT_MAX_BYTES,
      .stats = stats,
      .root = geteuid() == 0,
      .pc_fd = -1,
  };
  int p[2];
  if (pipe2(p, O_CLOEXEC) < 0) {
    kk_image_sha256_free(&f.hc);
    kk_image_sha256_free(&f.hu);
    return kk_error(err, errno, "pipe");
  }
  fcntl(p[1], F_SETPIPE_SZ, PIPE_CHUNK);
  f.in_fd = fd;
  f.out_fd = p[1];
  f.max_out = u.max_bytes + u.max_bytes / 64 + (1u << 20);
  f.inbuf = kk_xmalloc(PIPE_CHUNK);
  pthread_t th;
  int rc = pthread_create(&th, NULL, feeder_main, &f);
  if (rc != 0) {
    close(p[0]);
    close(p[1]);
    kk_image_sha256_free(&f.hc);
    kk_image_sha256_free(&f.hu);
    free(f.inbuf);
    return kk_error(err, rc, "start layer reader");
  }
  kk_err_t tar_err = NULL;
  rc = run_tar(&u, p[0], &tar_err);
  if (rc == 0) {
    /* Let the feeder finish hashing: drain what the tar reader left. */
    char buf[65536];
    for (;;) {
      ssize_t n = read(p[0], buf, sizeof(buf));
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;
    }
  }
  close(p[0]);
  pthread_join(th, NULL);
  pc_drop(&u);
  for (size_t i = 0; i < u.n_dirs; i++)
    free(u.dirs[i].path);
  free(u.dirs);
  free(f.inbuf);
  kk_image_sha256_free(&f.hc);
  kk_image_sha256_free(&f.hu);
  /* The reader's error explains a truncated tar better than the tar does. */
  if (f.errmsg) {
    kk_error_free(&tar_err);
    rc = kk_error_kind(err, KK_ERR_INVALID, 0, "%s", f.errmsg);
  } else if (rc < 0) {
    *err = tar_err;
  } else if (f.digest == NULL) {
    rc = kk_error_kind(err, KK_ERR_INVALID, 0, "layer is empty");
  } else if (digest && strcmp(digest, f.digest) != 0) {
    rc = kk_error_kind(err, KK_ERR_INVALID, 0, "layer digest mismatch: expected %s, content is %s", digest, f.digest);
  } else if (diff_id && strcmp(diff_id, f.diff_id) != 0) {
    rc = kk_error_kind(err, KK_ERR_INVALID, 0, "layer diff ID mismatch: config says %s, content is %s", diff_id,
                       f.diff_id);
  }
  free(f.errmsg);
  free(f.digest);
  free(f.diff_id);
  return rc;
}

/* The rootfs copy fallback: apply overlay-form snapshots, bottom first,
 * into a plain directory (whiteouts delete, opaque directories are emptied
 * first, hardlinks inside a layer stay hardlinks).  Every step is an *at()
 * call on directory fds opened with O_NOFOLLOW: nothing is followed. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "lib/fs.h"
#include "image/internal.h"

struct link_ent {
  dev_t dev;
  ino_t ino;
  char *path;
};

struct cp {
  int rootfd;
  struct link_ent *links;
  size_t n_links;
};

static bool is_opaque(int parent, const char *name) {
  char p[4200], v[2];
  if (kk_proc_fd_path(p, sizeof(p), parent, name) < 0)
    return false;
  return lgetxattr(p, KK_OVERLAY_OPAQUE_XATTR, v, sizeof(v)) == 1 && v[0] == 'y';
}

static int copy_file(int sparent, const char *name, int dparent, const struct stat *st, kk_err_t *err) {
  cleanup_close int in = openat(sparent, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (in < 0)
    return kk_error(err, errno, "open %s", name);
  cleanup_close int out = openat(dparent, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (out < 0)
    return kk_error(err, errno, "create %s", name);
  if (kk_copy_fd(in, out, st->st_size) < 0)
    return kk_error(err, errno, "copy %s", name);
  return kk_image_copy_meta(sparent, name, out, dparent, name, st, true, err);
}

static int copy_dir(struct cp *c, int src, int dst, const char *rel, kk_err_t *err);

static int copy_entry(struct cp *c, int src, int dst, const char *rel, const char *name, kk_err_t *err) {
  struct stat st, dt;
  if (fstatat(src, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
    return kk_error(err, errno, "stat %s", name);
  cleanup_free char *path = *rel ? kk_asprintf("%s/%s", rel, name) : kk_xstrdup(name);
  bool exists = fstatat(dst, name, &dt, AT_SYMLINK_NOFOLLOW) == 0;
  if (kk_image_is_whiteout_stat(&st))
    return kk_rm_rf_at(dst, name, err);
  if (S_ISDIR(st.st_mode)) {
    if (exists && S_ISDIR(dt.st_mode)) {
      if (is_opaque(src, name)) {
        cleanup_close int d = openat(dst, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (d < 0 || kk_rm_rf_children(d, err) < 0)
          return d < 0 ? kk_error(err, errno, "open %s", path) : -1;
      }
    } else {
      if (exists && unlinkat(dst, name, 0) < 0)
        return kk_error(err, errno, "remove %s", path);
      if (mkdirat(dst, name, 0700) < 0)
        return kk_error(err, errno, "mkdir %s", path);
    }
    cleanup_close int s2 = openat(src, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    cleanup_close int d2 = openat(dst, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (s2 < 0 || d2 < 0)
      return kk_error(err, errno, "open %s", path);
    if (copy_dir(c, s2, d2, path, err) < 0)
      return -1;
    return kk_image_copy_meta(src, name, d2, dst, name, &st, true, err);
  }
  if (exists && kk_rm_rf_at(dst, name, err) < 0)
    return -1;
  if (S_ISREG(st.st_mode)) {
    if (st.st_nlink > 1) {
      for (size_t i = 0; i < c->n_links; i++)
        if (c->links[i].dev == st.st_dev && c->links[i].ino == st.st_ino) {
          if (linkat(c->rootfd, c->links[i].path, dst, name, 0) == 0)
            return 0;
          break;
        }
      c->links = kk_xrealloc(c->links, (c->n_links + 1) * sizeof(*c->links));
      c->links[c->n_links++] = (struct link_ent){st.st_dev, st.st_ino, kk_xstrdup(path)};
    }
    return copy_file(src, name, dst, &st, err);
  }
  if (S_ISLNK(st.st_mode)) {
    if (kk_image_copy_symlink(src, name, dst, name, err) < 0)
      return -1;
    return kk_image_copy_meta(src, name, -1, dst, name, &st, true, err);
  }
  if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) || S_ISFIFO(st.st_mode)) {
    if (mknodat(dst, name, (st.st_mode & S_IFMT) | 0600, st.st_rdev) < 0)
      return kk_error(err, errno, "mknod %s", path);
    return kk_image_copy_meta(src, name, -1, dst, name, &st, true, err);
  }
  return 0; /* sockets */
}

static int copy_dir(struct cp *c, int src, int dst, const char *rel, kk_err_t *err) {
  cleanup_dir DIR *d = kk_dir_open_at(src, NULL, err);
  if (d == NULL)
    return kk_error_wrap(err, "read %s", *rel ? rel : "/");
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
      continue;
    if (copy_entry(c, src, dst, rel, de->d_name, err) < 0)
      return -1;
  }
  return 0;
}

int kk_image_copy_layers(int targetfd, const int *layerfds, size_t n, kk_err_t *err) {
  for (size_t i = 0; i < n; i++) {
    struct cp c = {.rootfd = targetfd};
    int rc = copy_dir(&c, layerfds[i], targetfd, "", err);
    if (rc == 0) {
      /* The root's own attributes come from the topmost layer. */
      struct stat st;
      if (fstat(layerfds[i], &st) == 0) {
        if (fchown(targetfd, st.st_uid, st.st_gid) < 0 && geteuid() == 0)
          rc = kk_error(err, errno, "chown rootfs");
        else if (fchmod(targetfd, st.st_mode & 07777) < 0)
          rc = kk_error(err, errno, "chmod rootfs");
        struct timespec ts[2] = {st.st_atim, st.st_mtim};
        if (rc == 0)
          futimens(targetfd, ts);
      }
    }
    for (size_t k = 0; k < c.n_links; k++)
      free(c.links[k].path);
    free(c.links);
    if (rc < 0)
      return kk_error_wrap(err, "layer %zu", i + 1);
  }
  return 0;
}

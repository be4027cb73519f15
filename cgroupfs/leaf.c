/* A leaf for processes below a cell in every hierarchy of the host, for a
 * process that must leave the cgroups of whoever started it (a container's
 * monitor leaving the daemon's).  Calls down into tree.c (ensure), path.c
 * and file.c. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cgroupfs/internal.h"
#include "lib/util.h"

/* A fresh v1 cpuset cgroup has empty cpus and mems and takes no process:
 * it gets its parent's (runc does the same for the cgroups it makes). */
static int cpuset_inherit(const struct kk_cg_host *h, int parentfd, int fd, const char *where, kk_err_t *err) {
  static const char *const files[] = {"cpuset.cpus", "cpuset.mems"};
  for (size_t i = 0; i < KK_ARRAY_SIZE(files); i++) {
    cleanup_free char *mine = NULL, *theirs = NULL;
    if (kk_cg_read_at(fd, files[i], KK_CG_FILE_MAX, &mine, err) < 0 ||
        kk_cg_read_at(parentfd, files[i], KK_CG_FILE_MAX, &theirs, err) < 0)
      return kk_error_wrap(err, "cgroup %s", where);
    if (mine[strspn(mine, " \n")] != '\0')
      continue;
    theirs[strcspn(theirs, "\n")] = '\0';
    if (kk_cg_write_at(h, fd, files[i], theirs, err) < 0)
      return kk_error_wrap(err, "cgroup %s", where);
  }
  return 0;
}

/* mkdir -p <v1 mount><status path>; the directory's path. */
static int ensure_v1(const struct kk_cg_host *h, const struct kk_cg_mount *m, const char *status, char **out,
                     kk_err_t *err) {
  bool cpuset = kk_strv_contains(&m->controllers, "cpuset");
  cleanup_free char *where = kk_xstrdup(m->mountpoint);
  cleanup_free char *parts = kk_xstrdup(status);
  cleanup_close int cur = open(m->mountpoint, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (cur < 0)
    return kk_error(err, errno, "open cgroup %s", where);
  char *save = NULL;
  for (char *part = strtok_r(parts, "/", &save); part; part = strtok_r(NULL, "/", &save)) {
    char *w = kk_asprintf("%s/%s", where, part);
    free(where);
    where = w;
    bool created = mkdirat(cur, part, 0755) == 0;
    if (!created && errno != EEXIST)
      return kk_error(err, errno, "create cgroup %s", where);
    cleanup_close int next = kk_cg_open_sub(cur, part);
    if (next < 0)
      return kk_error(err, errno, "open cgroup %s", where);
    if (cpuset && cpuset_inherit(h, cur, next, where, err) < 0)
      return -1;
    close(cur);
    cur = kk_steal_fd(&next);
  }
  *out = kk_steal(&where);
  return 0;
}

int kk_cg_ensure_leaf(const struct kk_cg_host *h, const char *root, const char *rel, struct kk_strv *dirs,
                      kk_err_t *err) {
  if (kk_cg_rel_depth(rel) <= KK_CG_CELL_DEPTH)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "cgroup leaf %s: not below a cell", rel);
  cleanup_free char *nr = NULL;
  if (kk_cg_ensure(h, root, rel, NULL, err) < 0 || kk_cg_root_normalize(root, &nr, err) < 0)
    return -1;
  kk_strv_push_owned(dirs, kk_cg_host_path(h, nr, rel));
  if (h->mode != KK_CG_MODE_HYBRID || h->fake)
    return 0;
  /* The v1 hierarchies mounted at their root, as kk_cg_remove's cleanup
   * of them expects. */
  cleanup_free char *status = kk_cg_status_path(nr, rel);
  for (size_t i = 0; i < h->mounts.n; i++) {
    const struct kk_cg_mount *m = &h->mounts.v[i];
    if (strcmp(m->fstype, "cgroup") != 0 || strcmp(m->root, "/") != 0)
      continue;
    char *dir = NULL;
    if (ensure_v1(h, m, status, &dir, err) < 0)
      return -1;
    kk_strv_push_owned(dirs, dir);
  }
  return 0;
}

/* The kukeon cgroup tree: ensure (mkdir + subtree controllers), children,
 * removal.  Calls down into procs.c (kill), path.c and file.c. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cgroupfs/internal.h"
#include "lib/fs.h"
#include "lib/log.h"
#include "lib/util.h"

const char *const kk_cg_wanted_controllers[4] = {"cpu", "memory", "io", "pids"};

/* ---------------------------------------------------------------- ownership */

/* A cgroup that exists but is not marked might be one a concurrent kukeon
 * has just made (mkdir, then the xattr): give it a moment. */
static bool owned_soon(const struct kk_cg_host *h, int dirfd) {
  for (int i = 0; i < 50; i++) {
    if (kk_cg_is_owned(h, dirfd))
      return true;
    kk_cg_sleep_ms(2);
  }
  return false;
}

int kk_cg_exists(const struct kk_cg_host *h, const char *root, const char *rel, bool *exists,
                 bool *owned, kk_err_t *err) {
  kk_err_t e = NULL;
  cleanup_close int fd = kk_cg_open(h, root, rel, &e);
  if (fd < 0) {
    if (e && e->errnum == ENOENT) {
      kk_error_free(&e);
      *exists = false;
      if (owned)
        *owned = false;
      return 0;
    }
    *err = e;
    return -1;
  }
  *exists = true;
  if (owned)
    *owned = kk_cg_is_owned(h, fd);
  return 0;
}

/* ---------------------------------------------------------------- fake kernel */

static int fake_file(int dirfd, const char *name, const char *content, kk_err_t *err) {
  if (kk_exists_at(dirfd, name))
    return 0;
  return kk_write_file_atomic(dirfd, name, content, strlen(content), 0644, NULL, err);
}

/* Emulation of the kernel for fake trees: after mkdir, create the interface
 * files, cgroup.controllers = parent's subtree_control. */
static int fake_populate(int parentfd, int childfd, kk_err_t *err) {
  cleanup_free char *sub = NULL;
  if (kk_exists_at(parentfd, "cgroup.subtree_control") &&
      kk_cg_read_at(parentfd, "cgroup.subtree_control", KK_CG_FILE_MAX, &sub, err) < 0)
    return -1;
  struct kk_strv ctrls = {0};
  kk_cg_parse_controllers(sub ? sub : "", &ctrls);
  cleanup_free char *joined = ctrls.n ? kk_strv_join(&ctrls, " ") : kk_xstrdup("");
  cleanup_free char *line = kk_asprintf("%s\n", joined);
  int rc = fake_file(childfd, "cgroup.controllers", line, err);
  static const struct {
    const char *ctrl, *file, *content;
  } files[] = {
      {NULL, "cgroup.subtree_control", "\n"},
      {NULL, "cgroup.procs", ""},
      {NULL, "cgroup.events", "populated 0\nfrozen 0\n"},
      {NULL, "cgroup.freeze", "0\n"},
      {NULL, "cpu.stat", "usage_usec 0\nuser_usec 0\nsystem_usec 0\n"},
      {"memory", "memory.max", "max\n"},
      {"memory", "memory.high", "max\n"},
      {"memory", "memory.current", "0\n"},
      {"memory", "memory.events", "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n"},
      {"cpu", "cpu.weight", "100\n"},
      {"cpu", "cpu.max", "max 100000\n"},
      {"pids", "pids.max", "max\n"},
      {"pids", "pids.current", "0\n"},
      {"io", "io.weight", "default 100\n"},
  };
  for (size_t i = 0; rc == 0 && i < KK_ARRAY_SIZE(files); i++)
    if (files[i].ctrl == NULL || kk_strv_contains(&ctrls, files[i].ctrl))
      rc = fake_file(childfd, files[i].file, files[i].content, err);
  kk_strv_free(&ctrls);
  return rc;
}

/* ---------------------------------------------------------------- ensure */

void kk_cg_ensure_result_free(struct kk_cg_ensure_result *r) {
  if (r == NULL)
    return;
  kk_strv_free(&r->created);
  kk_strv_free(&r->subtree_controllers);
  kk_strv_free(&r->warnings);
}

static const char *enable_hint(int errnum) {
  switch (errnum) {
  case EBUSY:
    return "the cgroup holds processes itself (no-internal-process rule)";
  case EOPNOTSUPP:
    return "not delegated here (threaded subtree, or a cgroup namespace root)";
  case ENOENT:
    return "the parent does not offer it (its cgroup.subtree_control lacks it)";
  case EACCES:
  case EPERM:
    return "permission denied";
  default:
    return NULL;
  }
}

/* Enable `want` (those in this cgroup's cgroup.controllers) in its
 * cgroup.subtree_control; crun's pattern: all at once, then one by one,
 * EBUSY retried (the kernel lags after processes leave). */
static int enable_controllers(const struct kk_cg_host *h, int dirfd, const char *where,
                              const struct kk_strv *want, struct kk_strv *warnings, kk_err_t *err) {
  cleanup_free char *avail_text = NULL, *have_text = NULL;
  if (kk_cg_read_at(dirfd, "cgroup.controllers", KK_CG_FILE_MAX, &avail_text, err) < 0 ||
      kk_cg_read_at(dirfd, "cgroup.subtree_control", KK_CG_FILE_MAX, &have_text, err) < 0)
    return kk_error_wrap(err, "cgroup %s", where);
  struct kk_strv avail = {0}, have = {0}, missing = {0};
  kk_cg_parse_controllers(avail_text, &avail);
  kk_cg_parse_controllers(have_text, &have);
  for (size_t i = 0; i < want->n; i++)
    if (kk_strv_contains(&avail, want->v[i]) && !kk_strv_contains(&have, want->v[i]))
      kk_strv_push_owned(&missing, kk_asprintf("+%s", want->v[i]));
  if (missing.n > 0) {
    cleanup_free char *all = kk_strv_join(&missing, " ");
    kk_err_t e = NULL;
    if (kk_cg_write_at(h, dirfd, "cgroup.subtree_control", all, &e) < 0) {
      kk_error_free(&e);
      for (size_t i = 0; i < missing.n; i++) {
        int errnum = 0;
        for (int attempt = 0; attempt < 200; attempt++) {
          if (kk_cg_write_at(h, dirfd, "cgroup.subtree_control", missing.v[i], &e) == 0) {
            errnum = 0;
            break;
          }
          errnum = e->errnum;
          kk_error_free(&e);
          if (errnum != EBUSY)
            break;
          kk_cg_sleep_ms(1);
        }
        if (errnum != 0 && warnings) {
          const char *hint = enable_hint(errnum);
          kk_strv_push_owned(warnings,
                             kk_asprintf("cannot enable %s in %s/cgroup.subtree_control: %s%s%s",
                                         missing.v[i] + 1, where, strerror(errnum),
                                         hint ? " — " : "", hint ? hint : ""));
        }
      }
    }
  }
  kk_strv_free(&avail);
  kk_strv_free(&have);
  kk_strv_free(&missing);
  return 0;
}

int kk_cg_ensure(const struct kk_cg_host *h, const char *root, const char *rel,
                 struct kk_cg_ensure_result *res, kk_err_t *err) {
  if (kk_cg_require_v2(h, err) < 0)
    return -1;
  cleanup_strv struct kk_strv rp = {0};
  cleanup_strv struct kk_strv lp = {0};
  cleanup_strv struct kk_strv want = {0};
  cleanup_free char *nr = NULL;
  if (kk_cg_split_path(root, rel, &rp, &lp, &nr, err) < 0)
    return -1;
  for (size_t i = 0; i < KK_ARRAY_SIZE(kk_cg_wanted_controllers); i++)
    if (kk_strv_contains(&h->controllers, kk_cg_wanted_controllers[i]))
      kk_strv_push(&want, kk_cg_wanted_controllers[i]);

  cleanup_close int cur = fcntl(h->mount_fd, F_DUPFD_CLOEXEC, 0);
  if (cur < 0)
    return kk_error(err, errno, "dup");
  struct kk_strv *warn = res ? &res->warnings : NULL;
  if (want.n && enable_controllers(h, cur, h->mountpoint, &want, warn, err) < 0)
    return -1;

  cleanup_free char *status = kk_xstrdup("");
  size_t total = rp.n + lp.n;
  for (size_t i = 0; i < total; i++) {
    const char *part = i < rp.n ? rp.v[i] : lp.v[i - rp.n];
    /* depth: < 0 for ancestors of the root, 0 for the root, 1 realm ... */
    long depth = (long)i - (long)(rp.n - 1);
    char *ns = kk_asprintf("%s/%s", status, part);
    free(status);
    status = ns;
    cleanup_free char *where = kk_asprintf("%s%s", h->mountpoint, status);

    bool created = false;
    if (mkdirat(cur, part, 0755) == 0)
      created = true;
    else if (errno != EEXIST)
      return kk_error(err, errno, "create cgroup %s", where);
    cleanup_close int next = kk_cg_open_sub(cur, part);
    if (next < 0)
      return kk_error(err, errno, "open cgroup %s", where);
    if (created && h->fake && fake_populate(cur, next, err) < 0)
      return -1;
    if (created && depth <= KK_CG_CELL_DEPTH) {
      /* Ancestors of the root that kukeon creates are marked too, so that
       * removing the root can take them away again. */
      if (kk_cg_mark_owned(h, next, err) < 0) {
        unlinkat(cur, part, AT_REMOVEDIR);
        return kk_error_wrap(err, "cgroup %s", where);
      }
    } else if (!created && depth >= 0 && depth <= KK_CG_CELL_DEPTH && !owned_soon(h, next)) {
      /* status is "<root>[/<rel so far>]": name it from the root. */
      const char *relp = status + strlen(nr);
      return kk_cg_not_ours(h, nr, *relp == '/' ? relp + 1 : relp, err);
    }
    if (created && res)
      kk_strv_push(&res->created, status);
    close(cur);
    cur = kk_steal_fd(&next);
    /* Levels down to the cell delegate controllers to their children; below
     * a cell (container cgroups) stay leaves: processes live there. */
    if (want.n && depth <= KK_CG_CELL_DEPTH &&
        enable_controllers(h, cur, where, &want, warn, err) < 0)
      return -1;
  }
  if (res) {
    cleanup_free char *sub = NULL;
    if (kk_cg_read_at(cur, "cgroup.subtree_control", KK_CG_FILE_MAX, &sub, err) < 0)
      return -1;
    kk_cg_parse_controllers(sub, &res->subtree_controllers);
  }
  return 0;
}

/* ---------------------------------------------------------------- children */

static int list_subdirs(int dirfd, struct kk_strv *out, kk_err_t *err) {
  cleanup_dir DIR *d = kk_dir_open_at(dirfd, NULL, err);
  if (d == NULL)
    return -1;
  struct dirent *de;
  errno = 0;
  while ((de = readdir(d)) != NULL) {
    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
      continue;
    bool isdir = de->d_type == DT_DIR;
    if (de->d_type == DT_UNKNOWN) {
      struct stat st;
      isdir = fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
    }
    if (isdir)
      kk_strv_push(out, de->d_name);
  }
  kk_strv_sort(out);
  return 0;
}

int kk_cg_children(const struct kk_cg_host *h, const char *root, const char *rel,
                   struct kk_strv *out, kk_err_t *err) {
  cleanup_close int fd = kk_cg_open(h, root, rel, err);
  if (fd < 0)
    return -1;
  return list_subdirs(fd, out, err);
}

/* ---------------------------------------------------------------- removal */

/* Every cgroup at depth <= 4 in the subtree must be kukeon's: check all
 * before removing anything, so a refusal changes nothing. */
static int check_subtree_owned(const struct kk_cg_host *h, int dirfd, const char *root,
                               const char *rel, kk_err_t *err) {
  size_t depth = kk_cg_rel_depth(rel);
  if (depth > KK_CG_CELL_DEPTH)
    return 0;
  if (!kk_cg_is_owned(h, dirfd))
    return kk_cg_not_ours(h, root, rel, err);
  struct kk_strv kids = {0};
  int rc = list_subdirs(dirfd, &kids, err);
  for (size_t i = 0; rc == 0 && i < kids.n; i++) {
    cleanup_free char *krel = kk_empty(rel) ? kk_xstrdup(kids.v[i]) : kk_asprintf("%s/%s", rel, kids.v[i]);
    cleanup_close int kfd = kk_cg_open_sub(dirfd, kids.v[i]);
    if (kfd < 0) {
      if (errno == ENOENT)
        continue;
      rc = kk_error(err, errno, "open cgroup %s", krel);
      break;
    }
    /* Names below the root that are not valid cgroup names are not ours. */
    kk_err_t e = NULL;
    if (kk_cg_name_check(kids.v[i], &e) < 0) {
      kk_error_free(&e);
      if (kk_cg_rel_depth(krel) <= KK_CG_CELL_DEPTH && !kk_cg_is_owned(h, kfd)) {
        rc = kk_cg_not_ours(h, root, krel, err);
        break;
      }
      continue;
    }
    rc = check_subtree_owned(h, kfd, root, krel, err);
  }
  kk_strv_free(&kids);
  return rc;
}

static int read_populated(int dirfd, bool *populated, kk_err_t *err) {
  int64_t v = 0;
  if (kk_cg_read_keyed_at(dirfd, "cgroup.events", "populated", &v, err) < 0)
    return -1;
  *populated = v != 0;
  return 0;
}

/* rmdir parent/name depth first.  Fake trees: remove the interface files. */
static int rmdir_tree(bool fake, int parentfd, const char *name, const char *where,
                      kk_err_t *err) {
  cleanup_close int fd = kk_cg_open_sub(parentfd, name);
  if (fd < 0) {
    if (errno == ENOENT)
      return 0;
    return kk_error(err, errno, "open cgroup %s", where);
  }
  struct kk_strv kids = {0};
  if (list_subdirs(fd, &kids, err) < 0)
    return -1;
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < kids.n; i++) {
    cleanup_free char *kw = kk_asprintf("%s/%s", where, kids.v[i]);
    rc = rmdir_tree(fake, fd, kids.v[i], kw, err);
  }
  kk_strv_free(&kids);
  if (rc < 0)
    return -1;
  if (fake) {
    kk_err_t e = NULL;
    cleanup_dir DIR *d = kk_dir_open_at(fd, NULL, &e);
    kk_error_free(&e);
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL)
      if (de->d_type != DT_DIR)
        unlinkat(fd, de->d_name, 0);
  }
  /* A cgroup whose last process just exited can report EBUSY for a moment. */
  for (int attempt = 0;; attempt++) {
    if (unlinkat(parentfd, name, AT_REMOVEDIR) == 0 || errno == ENOENT)
      return 0;
    if (errno != EBUSY || attempt >= 500)
      return kk_error(err, errno, "remove cgroup %s", where);
    kk_cg_sleep_ms(10);
  }
}

/* What runc mirrored under the v1 hierarchies (hybrid hosts). */
static void remove_v1_mirrors(const struct kk_cg_host *h, const char *status_path) {
  for (size_t i = 0; i < h->mounts.n; i++) {
    const struct kk_cg_mount *m = &h->mounts.v[i];
    if (strcmp(m->fstype, "cgroup") != 0 || strcmp(m->root, "/") != 0)
      continue;
    cleanup_free char *path = kk_asprintf("%s%s", m->mountpoint, status_path);
    cleanup_free char *parent = kk_xstrdup(path);
    char *slash = strrchr(parent, '/');
    if (slash == NULL)
      continue;
    *slash = '\0';
    cleanup_close int pfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (pfd < 0)
      continue;
    kk_err_t e = NULL;
    if (rmdir_tree(false, pfd, slash + 1, path, &e) < 0) {
      kk_log_kv(KK_LOG_DEBUG, "cgroup v1 cleanup failed", "path", path, "error", e->msg, NULL);
      kk_error_free(&e);
    }
  }
}

static int wait_unpopulated(int fd, long timeout_ms, kk_err_t *err) {
  for (long waited = 0;; waited += 10) {
    bool pop = false;
    if (read_populated(fd, &pop, err) < 0)
      return -1;
    if (!pop)
      return 0;
    if (waited >= timeout_ms)
      return kk_error_kind(err, KK_ERR_CONFLICT, EBUSY, "processes still present after %ld ms",
                           timeout_ms);
    kk_cg_sleep_ms(10);
  }
}

/* Removing the root: also the empty ancestors kukeon made for it. */
static int remove_root_ancestors(const struct kk_cg_host *h, const struct kk_strv *rp,
                                 kk_err_t *err) {
  for (size_t k = rp->n - 1; k-- > 0;) {
    cleanup_close int anc = fcntl(h->mount_fd, F_DUPFD_CLOEXEC, 0);
    for (size_t i = 0; anc >= 0 && i < k; i++) {
      int next = kk_cg_open_sub(anc, rp->v[i]);
      close(anc);
      anc = next;
    }
    if (anc < 0)
      return 0;
    cleanup_close int self = kk_cg_open_sub(anc, rp->v[k]);
    if (self < 0 || !kk_cg_is_owned(h, self))
      return 0;
    cleanup_strv struct kk_strv kids = {0};
    kk_err_t e = NULL;
    bool empty = list_subdirs(self, &kids, &e) == 0 && kids.n == 0;
    kk_error_free(&e);
    if (!empty)
      return 0;
    cleanup_free char *aw = kk_asprintf("%s/%s", h->mountpoint, rp->v[k]);
    if (rmdir_tree(h->fake, anc, rp->v[k], aw, err) < 0)
      return -1;
  }
  return 0;
}

int kk_cg_remove(const struct kk_cg_host *h, const char *root, const char *rel, unsigned flags,
                 kk_err_t *err) {
  if (kk_cg_require_v2(h, err) < 0)
    return -1;
  cleanup_strv struct kk_strv rp = {0};
  cleanup_strv struct kk_strv lp = {0};
  cleanup_free char *nr = NULL;
  if (kk_cg_split_path(root, rel, &rp, &lp, &nr, err) < 0)
    return -1;
  if (rel == NULL)
    rel = "";
  cleanup_free char *status = kk_cg_status_path(nr, rel);
  cleanup_free char *where = kk_cg_host_path(h, nr, rel);

  /* The parent of the target, walking from the mount. */
  cleanup_close int parent = fcntl(h->mount_fd, F_DUPFD_CLOEXEC, 0);
  int open_errno = parent < 0 ? errno : 0;
  size_t total = rp.n + lp.n;
  for (size_t i = 0; parent >= 0 && i + 1 < total; i++) {
    const char *part = i < rp.n ? rp.v[i] : lp.v[i - rp.n];
    int next = kk_cg_open_sub(parent, part);
    open_errno = errno;
    close(parent);
    parent = next;
  }
  if (parent < 0) {
    if (open_errno == ENOENT)
      return 0; /* already gone */
    return kk_error(err, open_errno, "open the parent of cgroup %s", where);
  }
  const char *name = lp.n > 0 ? lp.v[lp.n - 1] : rp.v[rp.n - 1];
  cleanup_close int fd = kk_cg_open_sub(parent, name);
  if (fd < 0) {
    if (errno == ENOENT)
      return 0;
    return kk_error(err, errno, "open cgroup %s", where);
  }
  if (check_subtree_owned(h, fd, nr, rel, err) < 0)
    return -1;

  bool pop = false;
  if ((!h->fake || kk_exists_at(fd, "cgroup.events")) && read_populated(fd, &pop, err) < 0)
    return kk_error_wrap(err, "cgroup %s", where);
  if (pop) {
    if (!(flags & KK_CG_REMOVE_KILL))
      return kk_error_kind(err, KK_ERR_CONFLICT, 0,
                           "cgroup %s still has processes; stop them first (or remove with kill)",
                           where);
    if (kk_cg_kill(h, nr, rel, err) < 0 || wait_unpopulated(fd, 10000, err) < 0)
      return kk_error_wrap(err, "cgroup %s", where);
  }
  if (rmdir_tree(h->fake, parent, name, where, err) < 0)
    return -1;
  if (lp.n == 0 && rp.n > 1 && remove_root_ancestors(h, &rp, err) < 0)
    return -1;
  if (h->mode == KK_CG_MODE_HYBRID && !h->fake)
    remove_v1_mirrors(h, status);
  return 0;
}

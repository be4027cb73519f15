/* Membership, kill, freeze.  Calls down into path.c and file.c. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "cgroupfs/internal.h"
#include "lib/fs.h"
#include "lib/util.h"

int kk_cg_enter(const struct kk_cg_host *h, const char *root, const char *rel, pid_t pid,
                kk_err_t *err) {
  cleanup_close int fd = kk_cg_open_owned(h, root, rel, err);
  if (fd < 0)
    return -1;
  char buf[32];
  snprintf(buf, sizeof(buf), "%d", (int)pid);
  /* EINVAL right after fork: the task may still be TASK_NEW (runc retries too). */
  for (int attempt = 0;; attempt++) {
    kk_err_t e = NULL;
    if (kk_cg_write_at(h, fd, "cgroup.procs", buf, &e) == 0)
      return 0;
    if (e->errnum != EINVAL || attempt >= 5) {
      *err = e;
      cleanup_free char *p = kk_cg_host_path(h, root, rel);
      if (e->errnum == EBUSY)
        return kk_error_wrap(err, "move pid %d into cgroup %s (it delegates controllers to "
                                  "children, so processes belong in a leaf below it)",
                             (int)pid, p);
      return kk_error_wrap(err, "move pid %d into cgroup %s", (int)pid, p);
    }
    kk_error_free(&e);
    kk_cg_sleep_ms(30);
  }
}

static int cmp_pid(const void *a, const void *b) {
  pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;
  return (x > y) - (x < y);
}

static int collect(int dirfd, bool recursive, pid_t **pids, size_t *n, kk_err_t *err) {
  cleanup_free char *text = NULL;
  if (kk_cg_read_at(dirfd, "cgroup.procs", KK_CG_PROCS_MAX, &text, err) < 0)
    return -1;
  for (char *p = text; *p;) {
    char *end = NULL;
    long v = strtol(p, &end, 10);
    if (end == p)
      break;
    *pids = kk_xrealloc(*pids, (*n + 1) * sizeof(pid_t));
    (*pids)[(*n)++] = (pid_t)v;
    p = end;
    while (*p == '\n' || *p == ' ')
      p++;
  }
  if (!recursive)
    return 0;
  struct kk_strv kids = {0};
  cleanup_dir DIR *d = kk_dir_open_at(dirfd, NULL, err);
  if (d == NULL)
    return -1;
  struct dirent *de;
  while ((de = readdir(d)) != NULL)
    if (de->d_type == DT_DIR && strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
      kk_strv_push(&kids, de->d_name);
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < kids.n; i++) {
    cleanup_close int kfd = kk_cg_open_sub(dirfd, kids.v[i]);
    if (kfd < 0) {
      if (errno == ENOENT)
        continue; /* went away meanwhile */
      rc = kk_error(err, errno, "open cgroup %s", kids.v[i]);
      break;
    }
    rc = collect(kfd, true, pids, n, err);
  }
  kk_strv_free(&kids);
  return rc;
}

static int procs_at(int fd, bool recursive, pid_t **pids, size_t *n, kk_err_t *err) {
  pid_t *v = NULL;
  size_t k = 0;
  if (collect(fd, recursive, &v, &k, err) < 0) {
    free(v);
    return -1;
  }
  if (k > 1) {
    qsort(v, k, sizeof(pid_t), cmp_pid);
    size_t w = 1;
    for (size_t i = 1; i < k; i++)
      if (v[i] != v[w - 1])
        v[w++] = v[i];
    k = w;
  }
  *pids = v;
  *n = k;
  return 0;
}

int kk_cg_procs(const struct kk_cg_host *h, const char *root, const char *rel, bool recursive,
                pid_t **pids, size_t *n, kk_err_t *err) {
  cleanup_close int fd = kk_cg_open(h, root, rel, err);
  if (fd < 0)
    return -1;
  return procs_at(fd, recursive, pids, n, err);
}

int kk_cg_populated(const struct kk_cg_host *h, const char *root, const char *rel, bool *out,
                    kk_err_t *err) {
  cleanup_close int fd = kk_cg_open(h, root, rel, err);
  if (fd < 0)
    return -1;
  int64_t v = 0;
  if (kk_cg_read_keyed_at(fd, "cgroup.events", "populated", &v, err) < 0)
    return -1;
  *out = v != 0;
  return 0;
}

static int wait_frozen(int fd, bool frozen, kk_err_t *err) {
  for (int waited = 0;; waited += 10) {
    cleanup_free char *text = NULL;
    int64_t v = -1;
    if (kk_cg_read_at(fd, "cgroup.events", KK_CG_FILE_MAX, &text, err) < 0)
      return -1;
    kk_err_t e = NULL;
    if (kk_cg_parse_keyed(text, "frozen", &v, &e) < 0) {
      kk_error_free(&e);
      return 0; /* kernel without the freezer: nothing to wait for */
    }
    if ((v != 0) == frozen)
      return 0;
    if (waited >= 5000)
      return kk_error_kind(err, KK_ERR_CONFLICT, 0, "cgroup did not become %s within 5 s",
                           frozen ? "frozen" : "thawed");
    kk_cg_sleep_ms(10);
  }
}

static int freeze_fd(const struct kk_cg_host *h, int fd, bool frozen, kk_err_t *err) {
  if (kk_cg_write_at(h, fd, "cgroup.freeze", frozen ? "1" : "0", err) < 0)
    return -1;
  return h->fake ? 0 : wait_frozen(fd, frozen, err);
}

int kk_cg_freeze(const struct kk_cg_host *h, const char *root, const char *rel, bool frozen,
                 kk_err_t *err) {
  cleanup_close int fd = kk_cg_open_owned(h, root, rel, err);
  if (fd < 0)
    return -1;
  if (freeze_fd(h, fd, frozen, err) < 0) {
    cleanup_free char *p = kk_cg_host_path(h, root, rel);
    return kk_error_wrap(err, "%s cgroup %s", frozen ? "freeze" : "thaw", p);
  }
  return 0;
}

int kk_cg_kill(const struct kk_cg_host *h, const char *root, const char *rel, kk_err_t *err) {
  cleanup_close int fd = kk_cg_open_owned(h, root, rel, err);
  if (fd < 0)
    return -1;
  cleanup_free char *where = kk_cg_host_path(h, root, rel);
  if (kk_exists_at(fd, "cgroup.kill")) { /* Linux >= 5.14 */
    if (kk_cg_write_at(h, fd, "cgroup.kill", "1", err) < 0)
      return kk_error_wrap(err, "kill cgroup %s", where);
    return 0;
  }
  /* Freeze so nothing forks behind our back, kill each, always thaw. */
  bool can_freeze = kk_exists_at(fd, "cgroup.freeze");
  kk_err_t e = NULL;
  if (can_freeze && freeze_fd(h, fd, true, &e) < 0)
    kk_error_free(&e), can_freeze = false;
  int rc = 0;
  for (int round = 0; round < 100; round++) {
    pid_t *pids = NULL;
    size_t n = 0;
    if (procs_at(fd, true, &pids, &n, err) < 0) {
      rc = -1;
      break;
    }
    for (size_t i = 0; i < n; i++)
      if (pids[i] > 0)
        kill(pids[i], SIGKILL);
    free(pids);
    if (n == 0)
      break;
    kk_cg_sleep_ms(10);
  }
  if (can_freeze && freeze_fd(h, fd, false, &e) < 0) {
    if (rc == 0)
      *err = e, rc = -1;
    else
      kk_error_free(&e);
  }
  if (rc < 0)
    return kk_error_wrap(err, "kill cgroup %s", where);
  return 0;
}

/* The cgroup2 line of /proc/self/cgroup ("0::<path>"), NULL without one. */
static char *self_v2_path(void) {
  cleanup_free char *text = NULL;
  size_t len = 0;
  kk_err_t e = NULL;
  if (kk_read_file_at(AT_FDCWD, "/proc/self/cgroup", 64 * 1024, &text, &len, &e) < 0) {
    kk_error_free(&e);
    return NULL;
  }
  for (char *line = text; line && *line;) {
    char *nl = strchr(line, '\n');
    if (nl)
      *nl = '\0';
    if (kk_has_prefix(line, "0::"))
      return kk_xstrdup(line + 3);
    line = nl ? nl + 1 : NULL;
  }
  return NULL;
}

bool kk_cg_self_under(const char *root) {
  cleanup_free char *nr = NULL, *self = self_v2_path();
  kk_err_t e = NULL;
  if (self == NULL || kk_cg_root_normalize(root, &nr, &e) < 0) {
    kk_error_free(&e);
    return false;
  }
  size_t n = strlen(nr);
  return strncmp(self, nr, n) == 0 && (self[n] == '\0' || self[n] == '/');
}

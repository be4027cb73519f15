#include "lib/fs.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/util.h"

int kk_write_all(int fd, const void *buf, size_t len) {
  const char *p = buf;
  while (len > 0) {
    ssize_t w = write(fd, p, len);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      return -1;
    }
    p += w;
    len -= (size_t)w;
  }
  return 0;
}

static int copy_by_read(int in, int out, int64_t *left) {
  char buf[65536];
  ssize_t r = read(in, buf, *left < (int64_t)sizeof(buf) ? (size_t)*left : sizeof(buf));
  if (r < 0)
    return errno == EINTR ? 0 : -1;
  if (r == 0) {
    errno = EIO;
    return -1;
  }
  if (kk_write_all(out, buf, (size_t)r) < 0)
    return -1;
  *left -= r;
  return 0;
}

int kk_copy_fd(int in, int out, int64_t len) {
  int64_t left = len;
  bool in_kernel = true;
  while (left > 0) {
    if (in_kernel) {
      ssize_t c = copy_file_range(in, NULL, out, NULL, (size_t)left, 0);
      if (c > 0) {
        left -= c;
        continue;
      }
      if (c < 0 && errno == EINTR)
        continue;
      in_kernel = false; /* EXDEV, EINVAL, ENOSYS, or 0 from a pseudo file */
    }
    if (copy_by_read(in, out, &left) < 0)
      return -1;
  }
  return 0;
}

int kk_proc_fd_path(char *buf, size_t n, int dirfd, const char *name) {
  int w = name ? snprintf(buf, n, "/proc/self/fd/%d/%s", dirfd, name) : snprintf(buf, n, "/proc/self/fd/%d", dirfd);
  return w < 0 || (size_t)w >= n ? -1 : 0;
}

int kk_fsync_dir(int dirfd, kk_err_t *err) {
  if (fsync(dirfd) < 0 && errno != EINVAL && errno != EROFS)
    return kk_error(err, errno, "fsync directory");
  return 0;
}

static int hook_says_stop(const struct kk_atomic_hook *hook, const char *step) {
  return hook != NULL && hook->fn != NULL && hook->fn(step, hook->arg) != 0;
}

static int temp_create(int dirfd, mode_t mode, char tmp[64]) {
  int fd = -1;
  /* A unique temp name: concurrent writers of the same file each use their
   * own temp; the rename decides who wins, nobody sees a torn file. */
  for (int attempt = 0; attempt < 100; attempt++) {
    snprintf(tmp, 64, ".tmp-%d-%x", (int)getpid(), (unsigned)random());
    fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd >= 0 || errno != EEXIST)
      break;
  }
  return fd;
}

int kk_write_file_volatile(int dirfd, const char *name, const void *buf, size_t len, mode_t mode, kk_err_t *err) {
  char tmp[64];
  cleanup_close int fd = temp_create(dirfd, mode, tmp);
  if (fd < 0)
    return kk_error(err, errno, "create temporary file for %s", name);
  if (fchmod(fd, mode) < 0 || kk_write_all(fd, buf, len) < 0 || renameat(dirfd, tmp, dirfd, name) < 0) {
    int saved = errno;
    unlinkat(dirfd, tmp, 0);
    return kk_error(err, saved, "write %s", name);
  }
  return 0;
}

int kk_write_file_atomic(int dirfd, const char *name, const void *buf, size_t len, mode_t mode,
                         const struct kk_atomic_hook *hook, kk_err_t *err) {
  char tmp[64];
  size_t half = len / 2;
  cleanup_close int fd = temp_create(dirfd, mode, tmp);
  if (fd < 0)
    return kk_error(err, errno, "create temporary file for %s", name);
  if (hook_says_stop(hook, "created"))
    return kk_error(err, EINTR, "write %s interrupted after create", name);
  if (fchmod(fd, mode) < 0)
    goto fail;
  if (kk_write_all(fd, buf, half) < 0)
    goto fail;
  if (hook_says_stop(hook, "partial"))
    return kk_error(err, EINTR, "write %s interrupted mid-write", name);
  if (kk_write_all(fd, (const char *)buf + half, len - half) < 0)
    goto fail;
  if (hook_says_stop(hook, "written"))
    return kk_error(err, EINTR, "write %s interrupted before fsync", name);
  if (fsync(fd) < 0)
    goto fail;
  if (hook_says_stop(hook, "synced"))
    return kk_error(err, EINTR, "write %s interrupted before rename", name);
  if (renameat(dirfd, tmp, dirfd, name) < 0)
    goto fail;
  if (hook_says_stop(hook, "renamed"))
    return kk_error(err, EINTR, "write %s interrupted before directory fsync", name);
  return kk_fsync_dir(dirfd, err);
fail : {
  int saved = errno;
  unlinkat(dirfd, tmp, 0);
  return kk_error(err, saved, "write %s", name);
}
}

/* The writer pid in ".tmp-<pid>-<hex>" (temp_create's names); 0 if the
 * name is not one of those. */
static pid_t temp_writer(const char *name) {
  if (strncmp(name, ".tmp-", 5) != 0)
    return 0;
  const char *p = name + 5;
  char *end = NULL;
  errno = 0;
  long pid = strtol(p, &end, 10);
  if (errno != 0 || end == p || *end != '-' || pid <= 0 || pid > INT32_MAX || !isdigit((unsigned char)*p))
    return 0;
  const char *hex = end + 1;
  if (*hex == '\0' || strspn(hex, "0123456789abcdef") != strlen(hex))
    return 0;
  return (pid_t)pid;
}

/* Small /proc file into buf (NUL-terminated); length or -1. */
static ssize_t read_small(const char *path, char *buf, size_t size) {
  cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  ssize_t n = read(fd, buf, size - 1);
  if (n < 0)
    return -1;
  buf[n] = '\0';
  return n;
}

/* When the process started (seconds since the epoch), or -1. */
static int64_t process_start(pid_t pid) {
  char path[64], buf[1024];
  snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
  if (read_small(path, buf, sizeof(buf)) < 0)
    return -1;
  const char *p = strrchr(buf, ')'); /* the comm may hold spaces and parens */
  if (p == NULL)
    return -1;
  /* Field 3 (state) follows ") "; starttime is field 22. */
  for (int field = 2; field < 22 && p; field++)
    p = strchr(p + 1, ' ');
  if (p == NULL)
    return -1;
  unsigned long long ticks = strtoull(p + 1, NULL, 10);
  char st[4096];
  if (read_small("/proc/stat", st, sizeof(st)) < 0)
    return -1;
  const char *bt = strstr(st, "\nbtime ");
  long hz = sysconf(_SC_CLK_TCK);
  if (bt == NULL || hz <= 0)
    return -1;
  return strtoll(bt + 7, NULL, 10) + (int64_t)(ticks / (unsigned long long)hz);
}

bool kk_temp_writer_gone(const char *name, int64_t mtime) {
  pid_t pid = temp_writer(name);
  if (pid <= 0)
    return false;
  if (time(NULL) - mtime > KK_TEMP_STALE_S)
    return true;
  if (kill(pid, 0) < 0 && errno == ESRCH)
    return true;
  char path[64], comm[64];
  snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
  if (read_small(path, comm, sizeof(comm)) < 0)
    return errno == ENOENT; /* gone since kill(); other errors: keep */
  if (strncmp(comm, "kuke", 4) != 0)
    return true;
  int64_t start = process_start(pid);
  /* Seconds granularity on both sides: a margin, then a later start means
   * another process got the pid after the writer died. */
  return start > 0 && start > mtime + 2;
}

int kk_sweep_stale_temps(int dirfd) {
  kk_err_t e = NULL;
  cleanup_dir DIR *d = kk_dir_open_at(dirfd, NULL, &e);
  kk_error_free(&e);
  if (d == NULL)
    return 0;
  int removed = 0;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    if (temp_writer(de->d_name) <= 0)
      continue;
    struct stat st;
    if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
      continue;
    if (kk_temp_writer_gone(de->d_name, st.st_mtime) && unlinkat(dirfd, de->d_name, 0) == 0)
      removed++;
  }
  return removed;
}

int kk_read_fd(int fd, size_t max, const char *what, char **out, size_t *len, kk_err_t *err) {
  size_t cap = 4096, n = 0;
  cleanup_free char *buf = kk_xmalloc(cap + 1);
  for (;;) {
    if (n == cap) {
      if (cap >= max + 1)
        return kk_error_kind(err, KK_ERR_INVALID, 0, "%s: larger than %zu bytes", what, max);
      cap *= 2;
      buf = kk_xrealloc(buf, cap + 1);
    }
    ssize_t r = read(fd, buf + n, cap - n);
    if (r < 0) {
      if (errno == EINTR)
        continue;
      return kk_error(err, errno, "read %s", what);
    }
    if (r == 0)
      break;
    n += (size_t)r;
  }
  if (n > max)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "%s: larger than %zu bytes", what, max);
  buf[n] = '\0';
  if (len)
    *len = n;
  *out = kk_steal(&buf);
  return 0;
}

int kk_read_file_at(int dirfd, const char *name, size_t max, char **out, size_t *len, kk_err_t *err) {
  cleanup_close int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0)
    return kk_error(err, errno, "open %s", name);
  struct stat st;
  if (fstat(fd, &st) < 0)
    return kk_error(err, errno, "stat %s", name);
  if (!S_ISREG(st.st_mode))
    return kk_error_kind(err, KK_ERR_INVALID, 0, "%s: not a regular file", name);
  return kk_read_fd(fd, max, name, out, len, err);
}

int kk_read_file_if_exists_at(int dirfd, const char *name, size_t max, char **out, size_t *len, kk_err_t *err) {
  *out = NULL;
  kk_err_t e = NULL;
  if (kk_read_file_at(dirfd, name, max, out, len, &e) == 0)
    return 0;
  if (e->errnum == ENOENT) {
    kk_error_free(&e);
    return 0;
  }
  *err = e;
  return -1;
}

int kk_open_dir_at(int dirfd, const char *path, kk_err_t *err) {
  int fd = openat(dirfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0)
    return kk_error(err, errno, "open directory %s", path);
  return fd;
}

int kk_mkdir_p_at(int dirfd, const char *path, mode_t mode, kk_err_t *err) {
  cleanup_free char *copy = kk_xstrdup(path);
  cleanup_close int cur = -1;
  int base = dirfd;
  char *save = NULL;
  for (char *part = strtok_r(copy, "/", &save); part; part = strtok_r(NULL, "/", &save)) {
    if (strcmp(part, "..") == 0)
      return kk_error_kind(err, KK_ERR_INVALID, 0, "mkdir %s: '..' not allowed", path);
    if (strcmp(part, ".") == 0)
      continue;
    if (mkdirat(base, part, mode) < 0 && errno != EEXIST)
      return kk_error(err, errno, "mkdir %s", path);
    int next = openat(base, part, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (next < 0)
      return kk_error(err, errno, "open %s", path);
    if (cur >= 0)
      close(cur);
    cur = next;
    base = cur;
  }
  return 0;
}

int kk_mkdir_p(const char *path, mode_t mode, kk_err_t *err) {
  if (path[0] == '/') {
    cleanup_close int root = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (root < 0)
      return kk_error(err, errno, "open /");
    return kk_mkdir_p_at(root, path + 1, mode, err);
  }
  return kk_mkdir_p_at(AT_FDCWD, path, mode, err);
}

DIR *kk_dir_open_at(int dirfd, const char *name, kk_err_t *err) {
  /* openat(".") rather than dup(): a new open file description, so the
   * stream's offset is its own. */
  int fd = openat(dirfd, name ? name : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC | (name ? O_NOFOLLOW : 0));
  if (fd < 0) {
    kk_error(err, errno, "open directory %s", name ? name : ".");
    return NULL;
  }
  DIR *d = fdopendir(fd);
  if (d == NULL) {
    int e = errno;
    close(fd);
    kk_error(err, e, "read directory %s", name ? name : ".");
  }
  return d;
}

int kk_rm_rf_children(int dfd, kk_err_t *err) {
  cleanup_dir DIR *d = kk_dir_open_at(dfd, NULL, err);
  if (d == NULL)
    return -1;
  /* Names first, removal after: readdir while unlinking is unspecified. */
  struct kk_strv names = {0};
  struct dirent *de;
  while ((de = readdir(d)) != NULL)
    if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
      kk_strv_push(&names, de->d_name);
  int rc = 0;
  for (size_t i = 0; i < names.n && rc == 0; i++)
    rc = kk_rm_rf_at(dfd, names.v[i], err);
  kk_strv_free(&names);
  return rc;
}

int kk_rm_rf_at(int dirfd, const char *name, kk_err_t *err) {
  if (unlinkat(dirfd, name, 0) == 0 || errno == ENOENT)
    return 0;
  if (errno != EISDIR && errno != EPERM)
    return kk_error(err, errno, "remove %s", name);
  cleanup_close int sub = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
  if (sub < 0) {
    if (errno == ENOENT)
      return 0;
    return kk_error(err, errno, "open %s", name);
  }
  if (kk_rm_rf_children(sub, err) < 0)
    return kk_error_wrap(err, "remove %s", name);
  if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
    return kk_error(err, errno, "remove directory %s", name);
  return 0;
}

int kk_lock_at(int dirfd, const char *name, bool exclusive, kk_err_t *err) {
  int fd = openat(dirfd, name, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0)
    return kk_error(err, errno, "open lock %s", name);
  while (flock(fd, exclusive ? LOCK_EX : LOCK_SH) < 0) {
    if (errno == EINTR)
      continue;
    int saved = errno;
    close(fd);
    return kk_error(err, saved, "lock %s", name);
  }
  return fd;
}

bool kk_exists_at(int dirfd, const char *name) {
  struct stat st;
  return fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

pid_t kk_read_pid_at(int dirfd, const char *name) {
  cleanup_free char *buf = NULL;
  kk_err_t e = NULL;
  if (kk_read_file_at(dirfd, name, 64, &buf, NULL, &e) < 0) {
    kk_error_free(&e);
    return 0;
  }
  long pid = strtol(buf, NULL, 10);
  return pid > 0 && pid <= INT32_MAX ? (pid_t)pid : 0;
}

char *kk_which(const char *name) {
  if (kk_empty(name))
    return NULL;
  if (strchr(name, '/'))
    return kk_xstrdup(name);
  const char *path = getenv("PATH");
  if (kk_empty(path))
    path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  for (const char *p = path;; p++) {
    const char *end = strchrnul(p, ':');
    cleanup_free char *cand = end == p ? kk_asprintf("./%s", name) : kk_asprintf("%.*s/%s", (int)(end - p), p, name);
    struct stat st;
    if (stat(cand, &st) == 0 && S_ISREG(st.st_mode) && access(cand, X_OK) == 0)
      return kk_steal(&cand);
    if (*end == '\0')
      return NULL;
    p = end;
  }
}

void kk_close_fds(int *fds, size_t *n) {
  for (size_t i = 0; i < *n; i++)
    close(fds[i]);
  *n = 0;
}

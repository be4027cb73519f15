/* Filesystem helpers: every fd O_CLOEXEC, every walk relative to a dirfd. */
#ifndef KK_LIB_FS_H
#define KK_LIB_FS_H

#include <stdbool.h>
#include <dirent.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/error.h"

/* Test hook for crash-consistency tests: called between the steps of
 * kk_write_file_atomic with the step's name; returning non-zero aborts the
 * write right there, as a crash would (the temp file is left behind). */
typedef int (*kk_atomic_step_fn)(const char *step, void *arg);
struct kk_atomic_hook {
  kk_atomic_step_fn fn;
  void *arg;
};

/* Write `name` in dirfd atomically: temp file in the same dir, write, fsync,
 * rename over, fsync the dir.  Readers see the old or the new file, never a
 * torn one. */
int kk_write_file_atomic(int dirfd, const char *name, const void *buf, size_t len, mode_t mode,
                         const struct kk_atomic_hook *hook, kk_err_t *err);

/* The same replace-by-rename without any fsync: readers still never see a
 * torn file, but the new content may not survive a power cut.  For files
 * that are rewritten on every start and mean nothing after a reboot
 * (bundle configs, monitor records, a cell's hosts file). */
int kk_write_file_volatile(int dirfd, const char *name, const void *buf, size_t len, mode_t mode, kk_err_t *err);

/* Temp files of the two writers above are ".tmp-<writer pid>-<hex>"; a
 * writer killed mid-write leaves its temp behind.  Remove, from dirfd
 * itself (no descent), every such regular file whose writer is gone: no
 * process has that pid, the process there is no kukeon program (its comm
 * does not start with "kuke"; the monitor is "kukeon-monitor"), it started
 * after the file was last written (the pid was reused), or the file was
 * last written longer ago than any write takes (KK_TEMP_STALE_S: a live
 * kukeon process reusing the pid, or a writer wedged for that long).
 * Temps of live writers are kept, so this is safe beside concurrent
 * writers in other processes (and other threads of this one).  Assumes
 * writers share this pid namespace (kukeond runs with the host's).  Best
 * effort; returns how many it removed. */
#define KK_TEMP_STALE_S 600
int kk_sweep_stale_temps(int dirfd);
/* The decision above for one name (not a temp name: false). */
bool kk_temp_writer_gone(const char *name, int64_t mtime);

/* The pid in a small file (monitor.pid, runc's --pid-file): > 0, or 0
 * when the file is missing, unreadable or holds no pid. */
pid_t kk_read_pid_at(int dirfd, const char *name);

/* Read a whole regular file (at most max bytes; bigger is an error).
 * *out is NUL-terminated. */
int kk_read_file_at(int dirfd, const char *name, size_t max, char **out, size_t *len, kk_err_t *err);
/* The same, but a file that does not exist is no error: *out NULL. */
int kk_read_file_if_exists_at(int dirfd, const char *name, size_t max, char **out, size_t *len, kk_err_t *err);
int kk_read_fd(int fd, size_t max, const char *what, char **out, size_t *len, kk_err_t *err);

/* mkdir -p relative to dirfd (path relative, no ".." components). */
int kk_mkdir_p_at(int dirfd, const char *path, mode_t mode, kk_err_t *err);
int kk_mkdir_p(const char *path, mode_t mode, kk_err_t *err);

/* Empty the directory dirfd (rm -rf of everything in it, no symlink followed). */
int kk_rm_rf_children(int dirfd, kk_err_t *err);

/* rm -rf of dirfd/name without following symlinks; missing is fine. */
int kk_rm_rf_at(int dirfd, const char *name, kk_err_t *err);

/* A directory stream on dirfd/name (name NULL: on dirfd itself, with its
 * own offset, so callers need not dup-and-rewind).  NULL on error, with
 * err's errnum set (ENOENT callers can treat as "nothing there"). */
DIR *kk_dir_open_at(int dirfd, const char *name, kk_err_t *err);

/* Open a directory (O_DIRECTORY|O_CLOEXEC|O_NOFOLLOW on the last part). */
int kk_open_dir_at(int dirfd, const char *path, kk_err_t *err);

/* flock(2) on dirfd/name (created 0600 if missing). Returns the fd, which
 * holds the lock until closed. */
int kk_lock_at(int dirfd, const char *name, bool exclusive, kk_err_t *err);

bool kk_exists_at(int dirfd, const char *name);
int kk_fsync_dir(int dirfd, kk_err_t *err);

/* Close the first *n of fds (descriptors a message carried) and set *n to 0. */
void kk_close_fds(int *fds, size_t *n);

/* Write all of buf to fd, retrying on EINTR / short writes. */
int kk_write_all(int fd, const void *buf, size_t len);
/* Copy len bytes from in to out at their offsets: copy_file_range (reflink
 * or in-kernel copy) where the filesystems allow it, read/write where they
 * do not.  EINTR is retried everywhere; a source that ends early is EIO.
 * Returns -1 with errno set. */
int kk_copy_fd(int in, int out, int64_t len);
/* "/proc/self/fd/<dirfd>/<name>" ("/proc/self/fd/<dirfd>" for a NULL name):
 * the path of a name under a directory fd, for calls with no *at form
 * (lgetxattr, bind of a unix socket) and to keep long paths short.
 * -1 when it does not fit n. */
int kk_proc_fd_path(char *buf, size_t n, int dirfd, const char *name);
/* The program execvp would run for `name`: name itself when it holds a
 * '/', else the first executable regular file of that name along $PATH;
 * NULL when there is none.  Looked up once, a program exec'd many times
 * costs no failed execve per PATH entry. */
char *kk_which(const char *name);

#endif

/* Starting a helper program (runc, a CNI plugin, iptables): posix_spawn,
 * which is safe from any thread and costs no copy of the daemon's memory,
 * with a clean signal state: nothing blocked, and the signals the caller
 * may ignore or catch back at their defaults in the child. */
#ifndef KK_LIB_SPAWN_H
#define KK_LIB_SPAWN_H

#include <stdbool.h>
#include <sys/types.h>

#include "lib/error.h"

struct kk_spawn {
  const char *path;         /* a path, or a name looked up in PATH when search */
  char *const *argv;        /* NULL: just path */
  char *const *envp;        /* NULL: the caller's environment */
  bool search;              /* posix_spawnp */
  bool own_process_group;   /* so a deadline can kill what it started too */
  int in, out, err;         /* the child's 0, 1, 2; in < 0: /dev/null */
  const char *ctty;         /* a terminal's path: instead of in/out/err, the child
                               starts a session of its own and opens it as 0, 1
                               and 2, its controlling terminal */
};

/* Returns 0, or an errno value (as posix_spawn does). */
int kk_spawn(const struct kk_spawn *s, pid_t *pid);

/* Run argv (argv[0] looked up in PATH) to its end, at most timeout_ms:
 * its stdout and stderr together in *out (at most 64 KiB kept), its exit
 * status in *status.  Not started, or still running at the deadline (then
 * its process group is killed), is < 0 with *err filled.  For short
 * queries such as `runc --version`. */
int kk_spawn_output(const char *const *argv, int timeout_ms, char **out, int *status, kk_err_t *err);

#endif

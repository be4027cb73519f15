/* Starting a helper program (runc, a CNI plugin, iptables): posix_spawn,
 * which is safe from any thread and costs no copy of the daemon's memory,
 * with a clean signal state: nothing blocked, and the signals the caller
 * may ignore or catch back at their defaults in the child. */
#ifndef KK_LIB_SPAWN_H
#define KK_LIB_SPAWN_H

#include <stdbool.h>
#include <sys/types.h>

struct kk_spawn {
  const char *path;         /* a path, or a name looked up in PATH when search */
  char *const *argv;        /* NULL: just path */
  char *const *envp;        /* NULL: the caller's environment */
  bool search;              /* posix_spawnp */
  bool own_process_group;   /* so a deadline can kill what it started too */
  int in, out, err;         /* the child's 0, 1, 2; in < 0: /dev/null */
};

/* Returns 0, or an errno value (as posix_spawn does). */
int kk_spawn(const struct kk_spawn *s, pid_t *pid);

#endif

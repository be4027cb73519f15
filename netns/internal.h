/* netns/ private helpers shared by its files (not part of the API). */
#ifndef KK_NETNS_INTERNAL_H
#define KK_NETNS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/error.h"

/* The PATH plugins (and the iptables they run) are given. */
#define KK_NET_EXEC_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* One plugin run: bin exec'd with env alone (no shell, no inherited env),
 * `in` on its stdin, in its own process group, which is killed when the
 * deadline passes or stdout grows past out_max. */
struct kk_net_exec {
  const char *bin;
  char *const *argv; /* NULL: just bin */
  char *const *env;
  const char *in;
  size_t in_len;
  int timeout_ms;
  size_t out_max;
  /* results */
  char *out;    /* stdout, NUL-terminated */
  char *errout; /* stderr (bounded), NUL-terminated */
  int status;   /* exit status, 128+signal */
};
/* < 0 only when the plugin could not be run or did not finish in time
 * (or flooded stdout); a plugin that ran and failed is status != 0. */
int kk_net_exec_run(struct kk_net_exec *x, kk_err_t *err);
void kk_net_exec_free(struct kk_net_exec *x);

/* After a DEL whose network namespace was already gone: remove the
 * masquerade rule and chain the bridge plugin made for this container
 * (bridge <= 1.1.x finds them through the addresses inside the namespace,
 * so it leaves them).  Best effort, through the iptables command. */
void kk_net_unmasq_orphan(const char *network, const char *container_id, int timeout_ms);

#endif

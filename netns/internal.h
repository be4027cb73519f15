/* netns/ private helpers shared by its files (not part of the API). */
#ifndef KK_NETNS_INTERNAL_H
#define KK_NETNS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/error.h"

/* One plugin run: bin exec'd with env alone (no shell, no inherited env),
 * `in` on its stdin, in its own process group, which is killed when the
 * deadline passes or stdout grows past out_max. */
struct kk_net_exec {
  const char *bin;
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

#endif

/* netns/: a cell's network. The controller calls this header and nothing
 * else for networking: one CNI network per space (conflist rendering,
 * subnet allocation, plugin exec and result parsing), the cell's /etc
 * files, published ports and the egress chains.  A cell's network namespace
 * is its root container's; everything here is addressed through it. */
#ifndef KK_NETNS_H
#define KK_NETNS_H

#include <sys/types.h>

#include "lib/error.h"

/* "/proc/<pid>/ns/net" into buf: the path CNI plugins are given
 * (CNI_NETNS) for a cell whose root container runs as pid. */
#define KK_NETNS_PATH_MAX 32
void kk_netns_path(pid_t pid, char buf[KK_NETNS_PATH_MAX]);

/* Opens pid's network namespace (O_RDONLY|O_CLOEXEC): holding the fd keeps
 * the namespace while plugins run even if the process exits meanwhile. */
int kk_netns_open(pid_t pid, kk_err_t *err);

#endif

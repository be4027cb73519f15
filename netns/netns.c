#include "netns/netns.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>

void kk_netns_path(pid_t pid, char buf[KK_NETNS_PATH_MAX]) {
  snprintf(buf, KK_NETNS_PATH_MAX, "/proc/%d/ns/net", (int)pid);
}

int kk_netns_open(pid_t pid, kk_err_t *err) {
  char path[KK_NETNS_PATH_MAX];
  kk_netns_path(pid, path);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return kk_error(err, errno, "open network namespace of pid %d", (int)pid);
  return fd;
}

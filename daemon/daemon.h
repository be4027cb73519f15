/* kukeond: the daemon. */
#ifndef KK_DAEMON_H
#define KK_DAEMON_H

#include <stdint.h>

#include "lib/error.h"
#include "model/model.h"

int kk_daemon_main(int argc, char **argv);

/* Resolved configuration of one daemon instance. */
struct kk_daemon_config {
  const char *socket;      /* /run/kukeon/kukeond.sock; the pid file sits beside it */
  long socket_gid;         /* > 0: socket 0660 root:<gid>; else 0600 */
  const char *run_path;    /* /opt/kukeon */
  const char *cgroup_root; /* /kukeon */
  const char *ns_suffix;   /* kukeon.io */
  const char *pod_subnet;  /* 10.88.0.0/16 */
  int64_t reconcile_ms;    /* 0 disables the loop */
  const char *runtime_dir; /* runc state, bundles, monitors; default: the socket's directory */
  const char *runc;        /* runc binary */
  const char *cni_path;      /* CNI plugins; NULL: the controller's default */
  const char *cni_cache_dir; /* NULL: <runtime_dir>/cni/cache */
  const char *cni_lease_dir; /* NULL: <runtime_dir>/cni/networks */
  int disk_warn_pct, disk_block_pct; /* the disk-pressure guard (controller.h); 0: off */
  int64_t default_memory_limit_bytes; /* containers without a memory limit get it; <= 0: none */
  /* What peers other than root may ask for (model.h, kk_policy). */
  const struct kk_policy *policy;
};

/* Serve until SIGINT/SIGTERM: then stop accepting, finish in-flight
 * requests, remove the socket and pid file, return 0. */
int kk_daemon_serve(const struct kk_daemon_config *cfg, kk_err_t *err);

#endif

/* Internal to cli/: what every kuke command receives. */
#ifndef KK_CLI_CMD_H
#define KK_CLI_CMD_H

#include <stdbool.h>
#include <stdio.h>

#include "lib/command.h"
#include "lib/error.h"
#include "lib/log.h"
#include "model/model.h"

/* Global options after flag > env > configuration file > default. */
struct kk_cli {
  const char *prog;            /* "kuke" */
  const char *run_path;        /* --run-path / KUKEON_RUN_PATH / file / /opt/kukeon */
  bool run_path_explicit;      /* set by flag or env: promotes to in-process */
  const char *host;            /* --host, unix:///run/kukeon/kukeond.sock */
  const char *configuration;   /* ClientConfiguration path */
  const char *log_level;
  bool verbose;
  const char *cgroup_root;     /* /kukeon */
  const char *ns_suffix;       /* kukeon.io */
  const char *pod_subnet;      /* 10.88.0.0/16 */
  const char *cni_path, *cni_cache_dir, *cni_lease_dir; /* NULL: the controller's defaults */
  bool no_daemon_env;          /* KUKEON_NO_DAEMON=true */
  FILE *out;                   /* stdout */
  FILE *errout;                /* stderr */
  /* Storage the resolved strings point into; freed by main. */
  char *owned_configuration;
  struct kk_client_config file;
};

/* Every command's body has lib/command.h's kk_cmd_run_fn shape; ctx is the
 * struct kk_cli. */
#define KK_CLI(ctx) ((struct kk_cli *)(ctx))

#endif

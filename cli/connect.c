/* Choosing the execution mode: in-process or through kukeond. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "api/api.h"
#include "cli/args.h"

/* unix:///path -> /path; anything else is refused with a way out. */
static int host_socket_path(const char *host, const char **path, kk_err_t *err) {
  if (kk_has_prefix(host, "unix://")) {
    *path = host + strlen("unix://");
    if (**path != '/')
      return kk_error_kind(err, KK_ERR_INVALID, 0, "invalid kukeon host \"%s\": expected unix:///absolute/path", host);
    return 0;
  }
  if (kk_has_prefix(host, "ssh://"))
    return kk_error_kind(err, KK_ERR_INVALID, 0,
                         "unsupported kukeon host scheme: ssh transport not yet implemented — tunnel the socket "
                         "(ssh -L /tmp/kukeond.sock:/run/kukeon/kukeond.sock user@host) and use --host "
                         "unix:///tmp/kukeond.sock");
  return kk_error_kind(err, KK_ERR_INVALID, 0,
                       "unsupported kukeon host \"%s\": only unix:// is supported — tunnel a remote socket to a "
                       "local path and use --host unix://<path>",
                       host);
}

int kk_cli_socket_path(const struct kk_cli *cli, const char **path, kk_err_t *err) {
  return host_socket_path(cli->host, path, err);
}

/* In-process the runtime directory is the one the daemon would use:
 * beside the socket --host names, unless KUKEON_RUNTIME_DIR says. */
char *kk_cli_runtime_dir(const struct kk_cli *cli) {
  const char *env_rt = getenv("KUKEON_RUNTIME_DIR");
  if (!kk_empty(env_rt))
    return kk_xstrdup(env_rt);
  const char *sock = NULL;
  kk_err_t e = NULL;
  if (host_socket_path(cli->host, &sock, &e) < 0) {
    kk_error_free(&e);
    return NULL;
  }
  char *rt = kk_xstrdup(sock); /* absolute: has a '/' */
  char *slash = strrchr(rt, '/');
  slash[slash == rt ? 1 : 0] = '\0';
  return rt;
}

struct kk_controller_config kk_cli_controller_config(const struct kk_cli *cli, const char *runtime_dir) {
  return (struct kk_controller_config){
      .run_path = cli->run_path,
      .ns_suffix = cli->ns_suffix,
      .cgroup_root = cli->cgroup_root,
      .pod_subnet = cli->pod_subnet,
      .runtime_dir = runtime_dir,
      .runc = getenv("KUKEON_RUNC"),
      .cni_path = cli->cni_path,
      .cni_cache_dir = cli->cni_cache_dir,
      .cni_lease_dir = cli->cni_lease_dir,
  };
}

int kk_cli_connect(struct kk_cli *cli, const char *sub, bool local, bool no_daemon, struct kk_api **out,
                   kk_err_t *err) {
  if (local || no_daemon || cli->no_daemon_env || cli->run_path_explicit) {
    if (kk_cli_require_root(sub, err) < 0)
      return -1;
    cleanup_free char *rt = kk_cli_runtime_dir(cli);
    struct kk_controller_config cfg = kk_cli_controller_config(cli, rt);
    if (kk_ctl_disk_pressure_env(&cfg, err) < 0) /* kukeond's guard holds in-process too */
      return -1;
    return kk_api_open_local(&cfg, out, err);
  }
  const char *path = NULL;
  if (host_socket_path(cli->host, &path, err) < 0)
    return -1;
  return kk_api_open_remote(path, out, err);
}

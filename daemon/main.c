/* kukeond command line: flags > environment > ServerConfiguration > defaults. */
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller/controller.h"
#include "daemon/daemon.h"
#include "lib/command.h"
#include "lib/log.h"
#include "lib/util.h"
#include "model/model.h"

#define DEFAULT_SOCKET "/run/kukeon/kukeond.sock"
#define DEFAULT_CONFIG "/etc/kukeon/kukeond.yaml"

static const char *first(const char *a, const char *b, const char *c, const char *d) {
  return a ? a : b && *b ? b : c ? c : d;
}

/* --peer-policy > KUKEOND_PEER_POLICY > peerPolicy; the allowed host paths
 * of --allowed-host-paths (colon-separated) replace the file's list. */
static int peer_policy(const char *mode_flag, const char *paths_flag, const struct kk_server_config *file,
                       struct kk_policy *out, kk_err_t *err) {
  const char *mode = first(mode_flag, getenv("KUKEOND_PEER_POLICY"), file->peer_policy, "restricted");
  if (kk_policy_parse_mode(mode, &out->mode, err) < 0)
    return -1;
  if (paths_flag == NULL) {
    for (size_t i = 0; i < file->allowed_host_paths.n; i++)
      if (kk_policy_allow_path(out, file->allowed_host_paths.v[i], err) < 0)
        return kk_error_wrap(err, "allowedHostPaths");
    return 0;
  }
  cleanup_free char *copy = kk_xstrdup(paths_flag);
  char *save = NULL;
  for (char *p = strtok_r(copy, ":", &save); p != NULL; p = strtok_r(NULL, ":", &save))
    if (kk_policy_allow_path(out, p, err) < 0)
      return kk_error_wrap(err, "--allowed-host-paths");
  return 0;
}

/* --disk-pressure-*-percent > KUKEOND_DISK_PRESSURE_*_PCT > 85 / 95. */
static int disk_pressure(const char *warn_flag, const char *block_flag, struct kk_daemon_config *cfg, kk_err_t *err) {
  struct kk_controller_config env = {0};
  if (kk_ctl_disk_pressure_env(&env, err) < 0)
    return -1;
  cfg->disk_warn_pct = env.disk_warn_pct;
  cfg->disk_block_pct = env.disk_block_pct;
  if (warn_flag && kk_ctl_disk_pct_parse(warn_flag, "--disk-pressure-warn-percent", &cfg->disk_warn_pct, err) < 0)
    return -1;
  if (block_flag && kk_ctl_disk_pct_parse(block_flag, "--disk-pressure-block-percent", &cfg->disk_block_pct, err) < 0)
    return -1;
  return 0;
}

static int serve(const char **v, kk_err_t *err) {
  enum { SOCK, GID, RUN, CONTAINERD, CFG, CGROOT, SUFFIX, INTERVAL, LEVEL, RTDIR, RUNC, POLICY, ALLOWED, DWARN, DBLOCK, DEFMEM };
  const char *cfg_path = first(v[CFG], getenv("KUKEOND_CONFIGURATION"), NULL, DEFAULT_CONFIG);
  struct kk_server_config file = {0};
  bool cfg_found = false;
  /* A missing file, named or not, means the built-in defaults. */
  if (kk_server_config_load(cfg_path, &file, &cfg_found, err) < 0)
    return -1;
  int ret = -1;
  struct kk_policy policy = {0};
  char gidbuf[32] = "";
  if (file.socket_gid.set)
    snprintf(gidbuf, sizeof(gidbuf), "%lld", (long long)file.socket_gid.v);
  const char *level = first(v[LEVEL], getenv("KUKEON_LOG_LEVEL"), file.log_level, "info");
  const char *gid_s = first(v[GID], getenv("KUKEOND_SOCKET_GID"), *gidbuf ? gidbuf : NULL, "0");
  const char *interval = first(v[INTERVAL], getenv("KUKEOND_RECONCILE_INTERVAL"), file.reconcile_interval, "30s");
  struct kk_daemon_config cfg = {
      .socket = first(v[SOCK], getenv("KUKEOND_SOCKET"), file.socket, DEFAULT_SOCKET),
      .run_path = first(v[RUN], getenv("KUKEON_RUN_PATH"), file.run_path, KK_DEFAULT_RUN_PATH),
      .cgroup_root = first(v[CGROOT], getenv("KUKEON_CGROUP_ROOT"), file.cgroup_root, KK_DEFAULT_CGROUP_ROOT),
      .ns_suffix = first(v[SUFFIX], getenv("KUKEON_NAMESPACE_SUFFIX"), file.ns_suffix, KK_DEFAULT_NS_SUFFIX),
      .pod_subnet = first(NULL, getenv("KUKEON_POD_SUBNET_CIDR"), file.pod_subnet, KK_DEFAULT_POD_SUBNET),
      .runc = first(v[RUNC], getenv("KUKEON_RUNC"), NULL, "runc"),
      .cni_path = first(NULL, getenv("CNI_PATH"), file.cni_path, NULL),
      .cni_cache_dir = first(NULL, getenv("KUKEON_CNI_CACHE_DIR"), file.cni_cache_dir, NULL),
      .cni_lease_dir = first(NULL, getenv("KUKEON_CNI_LEASE_DIR"), file.cni_lease_dir, NULL),
  };
  cleanup_free char *sock_dir = kk_xstrdup(cfg.socket);
  cfg.runtime_dir = first(v[RTDIR], getenv("KUKEON_RUNTIME_DIR"), NULL, dirname(sock_dir));
  enum kk_log_level lvl;
  char *end = NULL;
  long gid = strtol(gid_s, &end, 10);
  if (kk_log_parse_level(level, &lvl) < 0)
    kk_error_kind(err, KK_ERR_INVALID, 0, "invalid log level \"%s\" (supported: debug, info, warn, error)", level);
  else if (*gid_s == '\0' || *end != '\0' || gid < 0)
    kk_error_kind(err, KK_ERR_INVALID, 0, "invalid --socket-gid \"%s\": expected a group id", gid_s);
  else if (kk_parse_duration_ms(interval, &cfg.reconcile_ms) < 0)
    kk_error_kind(err, KK_ERR_INVALID, 0, "invalid --reconcile-interval \"%s\": expected a duration like 30s or 0",
                  interval);
  else if (cfg.socket[0] != '/' || cfg.run_path[0] != '/' || cfg.runtime_dir[0] != '/')
    kk_error_kind(err, KK_ERR_INVALID, 0, "--socket, --run-path and --runtime-dir must be absolute paths");
  else if (kk_validate_cgroup_root(cfg.cgroup_root, err) < 0 || kk_validate_ns_suffix(cfg.ns_suffix, err) < 0 ||
           peer_policy(v[POLICY], v[ALLOWED], &file, &policy, err) < 0 ||
           disk_pressure(v[DWARN], v[DBLOCK], &cfg, err) < 0 ||
           kk_server_default_memory(&file, v[DEFMEM], "--default-memory-limit-bytes", &cfg.default_memory_limit_bytes,
                                    err) < 0)
    ;
  else {
    cfg.policy = &policy;
    cfg.socket_gid = gid;
    kk_log_init(lvl, "kukeond");
    if (!cfg_found)
      kk_log_kv(KK_LOG_INFO, "no server configuration file: built-in defaults", "path", cfg_path, NULL);
    ret = kk_daemon_serve(&cfg, err);
  }
  kk_server_config_free(&file);
  kk_policy_free(&policy);
  return ret;
}

/* The flags, in serve()'s order; accepted before and after `serve`. */
static const struct kk_flag flags[] = {
    {"socket", 0, KK_FLAG_STRING, NULL, "unix socket to listen on (default /run/kukeon/kukeond.sock)", false},
    {"socket-gid", 0, KK_FLAG_STRING, NULL, "group that may use the socket (mode 0660); 0 = root only", false},
    {"run-path", 0, KK_FLAG_STRING, NULL, "persistent state (default /opt/kukeon)", false},
    {"containerd-socket", 0, KK_FLAG_STRING, NULL, "accepted for compatibility, unused: kukeon has no containerd", false},
    {"configuration", 0, KK_FLAG_STRING, NULL, "ServerConfiguration file (default /etc/kukeon/kukeond.yaml)", false},
    {"cgroup-root", 0, KK_FLAG_STRING, NULL, "cgroup root of the kukeon tree (default /kukeon)", false},
    {"containerd-namespace-suffix", 0, KK_FLAG_STRING, NULL, "realm namespace suffix (default kukeon.io)", false},
    {"reconcile-interval", 0, KK_FLAG_STRING, NULL, "reconcile period: 30s, 5m, 1h30m, 500ms; 0 disables (default 30s)", false},
    {"log-level", 0, KK_FLAG_STRING, NULL, "debug, info, warn or error (default info)", false},
    {"runtime-dir", 0, KK_FLAG_STRING, NULL, "runc state, bundles and monitors (default: the socket's directory)", false},
    {"runc", 0, KK_FLAG_STRING, NULL, "runc binary (default runc, from PATH)", false},
    {"peer-policy", 0, KK_FLAG_STRING, NULL, "restricted or trusted: what peers other than root may ask for (default restricted)", false},
    {"allowed-host-paths", 0, KK_FLAG_STRING, NULL, "host paths restricted peers may bind, colon-separated", false},
    {"disk-pressure-warn-percent", 0, KK_FLAG_STRING, NULL, "disk use (percent) from which a WARN is logged, every 5 min per realm; 0 disables (default 85)", false},
    {"disk-pressure-block-percent", 0, KK_FLAG_STRING, NULL, "disk use (percent) from which new cells are refused unless --ignore-disk-pressure; 0 disables (default 95)", false},
    {"default-memory-limit-bytes", 0, KK_FLAG_STRING, NULL, "memory limit of every container without one (256Mi, 1G; default 0: none)", false},
};

static int serve_run(void *ctx, const struct kk_cmdline *cl, int *status, kk_err_t *err) {
  const char *v[KK_ARRAY_SIZE(flags)];
  for (size_t i = 0; i < KK_ARRAY_SIZE(flags); i++)
    v[i] = kk_cmdline_str(cl, flags[i].name);
  return serve(v, err);
}

static const struct kk_cmd serve_cmd = {
    .name = "serve",
    .summary = "Serve the kukeonv1 API on a unix socket until SIGTERM or SIGINT",
    .run = serve_run,
};

static const struct kk_cmd *const commands[] = {&serve_cmd};

static const struct kk_flag root_flags[] = {
    {"version", 0, KK_FLAG_BOOL, NULL, "print kukeond's version and exit", false},
};

static const struct kk_cmd root = {
    .name = "kukeond",
    .flags = root_flags,
    .n_flags = KK_ARRAY_SIZE(root_flags),
    .subs = commands,
    .n_subs = KK_ARRAY_SIZE(commands),
    .usage = "serve [flags]",
    .summary = "kukeond serves the kukeonv1 API on a unix socket.",
};

static const struct kk_cmd_prog prog = {
    .root = &root,
    .version = KUKEON_VERSION,
    .globals = flags,
    .n_globals = KK_ARRAY_SIZE(flags),
};

int kk_daemon_main(int argc, char **argv) { return kk_cmd_main(&prog, argc, argv, stdout, stderr, NULL); }

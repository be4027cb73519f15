/* kuke init, kuke version. */
#include <string.h>

#include "api/api.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "cli/system.h"

static const char *env_or(const char *flag, const char *env) { return flag ? flag : getenv(env); }

static int init_run(void *ctx, const struct kk_cmdline *cl, int *status, kk_err_t *err) {
  struct kk_cli *cli = KK_CLI(ctx);
  const char *realm = env_or(kk_cmdline_str(cl, "realm"), "KUKE_INIT_REALM");
  const char *space = env_or(kk_cmdline_str(cl, "space"), "KUKE_INIT_SPACE");
  const char *cgroup_root = kk_cmdline_str(cl, "cgroup-root");
  const char *suffix = kk_cmdline_str(cl, "containerd-namespace-suffix");
  if (cgroup_root)
    cli->cgroup_root = cgroup_root;
  if (suffix)
    cli->ns_suffix = suffix;
  if ((cgroup_root && kk_validate_cgroup_root(cgroup_root, err) < 0) ||
      (suffix && kk_validate_ns_suffix(suffix, err) < 0))
    return -1;
  if (kk_cli_system_check_image(kk_cmdline_str(cl, "kukeond-image"), err) < 0)
    return -1;
  cleanup_cli_system struct kk_cli_system sys = {0};
  cleanup_api struct kk_api *api = NULL;
  if (kk_cli_system_open(cli, cl, "init", false, &sys, &api, err) < 0)
    return -1;
  struct kk_report rep = {0};
  /* --no-daemon (or KUKEON_INIT_NO_DAEMON=true, which the test suites set
   * so that their own kukeond owns the socket): the hierarchy only. */
  const char *nd = getenv("KUKEON_INIT_NO_DAEMON");
  bool daemon = !kk_cmdline_bool(cl, "no-daemon") && !(nd && (!strcmp(nd, "true") || !strcmp(nd, "1")));
  bool wait = daemon && !kk_cmdline_bool(cl, "no-wait");
  if (kk_api_init(api, realm, space, kk_cmdline_bool(cl, "force-regenerate-cni"), &rep, err) < 0 ||
      (daemon && kk_cli_system_up(&sys, api, kk_cmdline_str(cl, "kukeond-image"), wait, &rep, err) < 0)) {
    kk_print_report(cli->out, &rep); /* what was done before it failed */
    kk_report_free(&rep);
    return -1;
  }
  kk_print_report(cli->out, &rep);
  kk_report_free(&rep);
  if (wait)
    fprintf(cli->out, "kukeond is ready (unix://%s)\n", sys.socket);
  return 0;
}

static const struct kk_flag init_flags[] = {
    {"realm", 0, KK_FLAG_STRING, NULL, "default realm to create (default \"default\")", false},
    {"space", 0, KK_FLAG_STRING, NULL, "default space to create (default \"default\")", false},
    {"cgroup-root", 0, KK_FLAG_STRING, NULL, "cgroup root for the kukeon tree (default /kukeon)", false},
    {"containerd-namespace-suffix", 0, KK_FLAG_STRING, NULL, "suffix of every realm's namespace (default kukeon.io)", false},
    {"server-configuration", 0, KK_FLAG_STRING, NULL, "ServerConfiguration file (default /etc/kukeon/kukeond.yaml)", false},
    {"kukeond-image", 0, KK_FLAG_STRING, NULL, "kukeon.internal/kukeond:<tag> (default: this binary's version; never pulled)", false},
    {"no-wait", 0, KK_FLAG_BOOL, NULL, "do not wait (up to 30s) for kukeond's socket to answer", false},
    {"force-regenerate-cni", 0, KK_FLAG_BOOL, NULL, "rewrite every space's CNI conflist", false},
    {"no-daemon", 0, KK_FLAG_BOOL, NULL, "do not start the kukeond cell (init always runs in-process)", false},
};

const struct kk_cmd kk_cli_cmd_init = {
    .name = "init",
    .flags = init_flags,
    .n_flags = KK_ARRAY_SIZE(init_flags),
    .summary = "Bootstrap the host: default realm, space and stack, the system realm and the kukeond cell",
    .details = "Bootstrap or reconcile the host: realm \"default\" with space and stack \"default\", the system "
               "realm \"kuke-system\" with space and stack \"kukeon\", the socket's group ($KUKEON_GROUP, default "
               "kukeon) and the cell kuke-system/kukeon/kukeon/kukeond running kukeond under runc; then it waits for "
               "the socket. Safe to run again: it reports what already existed or was already running, and recreates "
               "the cell when its image (this binary's version) or command line changed.",
    .run = init_run,
};

static int version_run(void *ctx, const struct kk_cmdline *cl, int *status, kk_err_t *err) {
  struct kk_cli *cli = KK_CLI(ctx);
  fprintf(cli->out, "Client: %s\n", KUKEON_VERSION);
  if (kk_cmdline_bool(cl, "no-daemon"))
    return 0;
  cleanup_api struct kk_api *api = NULL;
  cleanup_free char *version = NULL;
  kk_err_t e = NULL;
  if (kk_cli_connect(cli, "version", false, false, &api, &e) < 0 || kk_api_ping(api, &version, &e) < 0) {
    fprintf(cli->errout, "Warning: daemon unreachable: %s\n", e->msg);
    kk_error_free(&e);
    return 0;
  }
  fprintf(cli->out, "Daemon: %s\n", version);
  if (strcmp(version, KUKEON_VERSION) == 0)
    return 0;
  fprintf(cli->errout, "Warning: version mismatch (client: %s, daemon: %s)\n", KUKEON_VERSION, version);
  if (kk_cmdline_bool(cl, "strict"))
    return kk_error_kind(err, KK_ERR_CONFLICT, 0, "version mismatch (client: %s, daemon: %s)", KUKEON_VERSION,
                         version);
  return 0;
}

static const struct kk_flag version_flags[] = {
    {"no-daemon", 0, KK_FLAG_BOOL, NULL, "print only the client version", false},
    {"strict", 0, KK_FLAG_BOOL, NULL, "exit non-zero when client and daemon versions differ", false},
};

const struct kk_cmd kk_cli_cmd_version = {
    .name = "version",
    .flags = version_flags,
    .n_flags = KK_ARRAY_SIZE(version_flags),
    .summary = "Print the client and daemon versions",
    .details = "Print the client version and, unless --no-daemon, the daemon's.",
    .run = version_run,
};

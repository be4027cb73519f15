/* kuke init, kuke version. */
#include <string.h>

#include "api/api.h"
#include "cli/args.h"
#include "cli/commands.h"

int kk_cmd_init(struct kk_cli *cli, int argc, char **argv, kk_err_t *err) {
  const char *realm = getenv("KUKE_INIT_REALM"), *space = getenv("KUKE_INIT_SPACE");
  const char *cgroup_root = NULL, *suffix = NULL, *server_cfg = NULL, *image = NULL;
  bool no_daemon = false, no_wait = false, regen = false;
  struct kk_flag flags[] = {
      {"realm", 0, KK_FLAG_STRING, &realm, "default realm to create (default \"default\")", false},
      {"space", 0, KK_FLAG_STRING, &space, "default space to create (default \"default\")", false},
      {"cgroup-root", 0, KK_FLAG_STRING, &cgroup_root, "cgroup root for the kukeon tree (default /kukeon)", false},
      {"containerd-namespace-suffix", 0, KK_FLAG_STRING, &suffix, "suffix of every realm's namespace (default kukeon.io)", false},
      {"server-configuration", 0, KK_FLAG_STRING, &server_cfg, "ServerConfiguration file (default /etc/kukeon/kukeond.yaml)", false},
      {"kukeond-image", 0, KK_FLAG_STRING, &image, "accepted for compatibility; kukeond runs from this binary", false},
      {"no-wait", 0, KK_FLAG_BOOL, &no_wait, "do not wait for kukeond", false},
      {"force-regenerate-cni", 0, KK_FLAG_BOOL, &regen, "rewrite every space's CNI conflist", false},
      {"no-daemon", 0, KK_FLAG_BOOL, &no_daemon, "accepted: init always runs in-process", false},
  };
  static const struct kk_cmd_help help = {
      "kuke init", "init [flags]",
      "Bootstrap or reconcile the host: realm \"default\" with space and stack \"default\", and the system realm "
      "\"kuke-system\" with space and stack \"kukeon\". Safe to run again: it reports what already existed.",
      NULL};
  struct kk_strv pos = {0};
  int r = kk_cli_parse(cli, &help, flags, KK_ARRAY_SIZE(flags), argc, argv, &pos, err);
  size_t npos = pos.n;
  kk_strv_free(&pos);
  if (r != 0)
    return r < 0 ? 1 : 0;
  if (npos > 0)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "init takes no arguments"), 1;
  if (cgroup_root)
    cli->cgroup_root = cgroup_root;
  if (suffix)
    cli->ns_suffix = suffix;
  if ((cgroup_root && kk_validate_cgroup_root(cgroup_root, err) < 0) ||
      (suffix && kk_validate_ns_suffix(suffix, err) < 0))
    return 1;
  cleanup_api struct kk_api *api = NULL;
  if (kk_cli_connect(cli, "init", true, true, &api, err) < 0)
    return 1;
  struct kk_report rep = {0};
  if (kk_api_init(api, realm, space, &rep, err) < 0) {
    kk_report_free(&rep);
    return 1;
  }
  kk_print_report(cli->out, &rep);
  kk_report_free(&rep);
  return 0;
}

int kk_cmd_version(struct kk_cli *cli, int argc, char **argv, kk_err_t *err) {
  bool no_daemon = false, strict = false;
  struct kk_flag flags[] = {
      {"no-daemon", 0, KK_FLAG_BOOL, &no_daemon, "print only the client version", false},
      {"strict", 0, KK_FLAG_BOOL, &strict, "exit non-zero when client and daemon versions differ", false},
  };
  static const struct kk_cmd_help help = {"kuke version", "version [flags]",
                                          "Print the client version and, unless --no-daemon, the daemon's.", NULL};
  struct kk_strv pos = {0};
  int r = kk_cli_parse(cli, &help, flags, KK_ARRAY_SIZE(flags), argc, argv, &pos, err);
  kk_strv_free(&pos);
  if (r != 0)
    return r < 0 ? 1 : 0;
  fprintf(cli->out, "Client: %s\n", KUKEON_VERSION);
  if (no_daemon)
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
  if (strcmp(version, KUKEON_VERSION) != 0) {
    fprintf(cli->errout, "Warning: version mismatch (client: %s, daemon: %s)\n", KUKEON_VERSION, version);
    if (strict)
      return kk_error_kind(err, KK_ERR_CONFLICT, 0, "version mismatch (client: %s, daemon: %s)", KUKEON_VERSION,
                           version), 1;
  }
  return 0;
}

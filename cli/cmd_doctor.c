/* kuke doctor [cgroups]: what this host can and cannot enforce, and the
 * state files under the run path that cannot be read. */
#include <string.h>
#include <unistd.h>

#include "cgroupfs/cgroupfs.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "store/store.h"

/* One WARN line per unreadable state file: the others work, this one is
 * left out of listings and reconcile until `kuke delete --force` removes
 * it.  A run path that is not there (or not ours to read) says nothing. */
static void check_state_files(struct kk_cli *cli) {
  if (kk_empty(cli->run_path) || access(cli->run_path, R_OK | X_OK) < 0)
    return;
  cleanup_store struct kk_store *st = NULL;
  cleanup_error kk_err_t e = NULL;
  cleanup_store_problems struct kk_store_problems bad = {0};
  if (kk_store_open(cli->run_path, false, &st, &e) < 0 || kk_store_check(st, &bad, &e) < 0) {
    fprintf(cli->out, "WARN  store  %s: %s\n", cli->run_path, e->msg);
    return;
  }
  for (size_t i = 0; i < bad.n; i++)
    fprintf(cli->out, "WARN  store/state-file  %s/%s: %s\n", cli->run_path, bad.v[i].path, bad.v[i].reason);
}

int kk_cmd_doctor(struct kk_cli *cli, int argc, char **argv, kk_err_t *err) {
  const char *base = NULL, *scope = NULL;
  bool no_probe = false;
  struct kk_flag flags[] = {
      {"root", 0, KK_FLAG_STRING, &base, "where cgroups are mounted (default /sys/fs/cgroup)", false},
      {"scope", 0, KK_FLAG_STRING, &scope, "inspect one level: realm[/space[/stack[/cell]]]", false},
      {"no-probe", 0, KK_FLAG_BOOL, &no_probe, "do not try to enable controllers (probing needs root)", false},
  };
  static const struct kk_cmd_help help = {
      "kuke doctor", "doctor [cgroups] [flags]",
      "Check the host: cgroup mode and mount, available and delegated controllers, the kukeon cgroup root, "
      "which limits will and will not be enforced, and state files under the run path that cannot be read.",
      "Each check prints PASS, WARN or FAIL; the exit status is 1 when any check fails."};
  struct kk_strv pos = {0};
  int r = kk_cli_parse(cli, &help, flags, KK_ARRAY_SIZE(flags), argc, argv, &pos, err);
  bool bad = pos.n > 1 || (pos.n == 1 && strcmp(pos.v[0], "cgroups") != 0);
  kk_strv_free(&pos);
  if (r != 0)
    return r < 0 ? 1 : 0;
  if (bad)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "doctor knows one topic: cgroups"), 1;
  struct kk_cg_doctor_opts o = {
      .detect = {.base = base},
      .root = cli->cgroup_root,
      .scope = scope,
      .probe = !no_probe && geteuid() == 0,
  };
  size_t n_fail = 0;
  if (kk_cg_doctor(&o, cli->out, &n_fail, err) < 0)
    return 1;
  if (scope == NULL)
    check_state_files(cli);
  if (n_fail > 0)
    return kk_error_kind(err, KK_ERR_CONFLICT, 0, "%zu cgroup check(s) failed", n_fail), 1;
  return 0;
}

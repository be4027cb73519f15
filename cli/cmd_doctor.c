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

static int doctor_run(void *ctx, const struct kk_cmdline *cl, int *status, kk_err_t *err) {
  struct kk_cli *cli = KK_CLI(ctx);
  if (cl->args.n == 1 && strcmp(cl->args.v[0], "cgroups") != 0)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "doctor knows one topic: cgroups");
  const char *scope = kk_cmdline_str(cl, "scope");
  struct kk_cg_doctor_opts o = {
      .detect = {.base = kk_cmdline_str(cl, "root")},
      .root = cli->cgroup_root,
      .scope = scope,
      .probe = !kk_cmdline_bool(cl, "no-probe") && geteuid() == 0,
  };
  size_t n_fail = 0;
  if (kk_cg_doctor(&o, cli->out, &n_fail, err) < 0)
    return -1;
  if (scope == NULL)
    check_state_files(cli);
  if (n_fail > 0)
    return kk_error_kind(err, KK_ERR_CONFLICT, 0, "%zu cgroup check(s) failed", n_fail);
  return 0;
}

static const struct kk_flag doctor_flags[] = {
    {"root", 0, KK_FLAG_STRING, NULL, "where cgroups are mounted (default /sys/fs/cgroup)", false},
    {"scope", 0, KK_FLAG_STRING, NULL, "inspect one level: realm[/space[/stack[/cell]]]", false},
    {"no-probe", 0, KK_FLAG_BOOL, NULL, "do not try to enable controllers (probing needs root)", false},
};

const struct kk_cmd kk_cli_cmd_doctor = {
    .name = "doctor",
    .flags = doctor_flags,
    .n_flags = KK_ARRAY_SIZE(doctor_flags),
    .args = "[cgroups]",
    .max_args = 1,
    .summary = "Check what this host's cgroups can enforce",
    .details = "Check the host: cgroup mode and mount, available and delegated controllers, the kukeon cgroup root, "
               "which limits will and will not be enforced, and state files under the run path that cannot be read. "
               "Each check prints PASS, WARN or FAIL; the exit status is 1 when any check fails.",
    .run = doctor_run,
};

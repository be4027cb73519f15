/* kuke refresh: every status observed again (spec 4.14). */
#include "api/api.h"
#include "cli/args.h"
#include "cli/commands.h"

static int refresh_run(void *ctx, const struct kk_cmdline *cl, int *status, kk_err_t *err) {
  struct kk_cli *cli = KK_CLI(ctx);
  cleanup_api struct kk_api *api = NULL;
  if (kk_cli_connect(cli, "refresh", false, kk_cmdline_bool(cl, "no-daemon"), &api, err) < 0)
    return -1;
  struct kk_report rep = {0};
  int r = kk_api_refresh(api, &rep, err);
  if (r == 0)
    kk_print_report(cli->out, &rep);
  kk_report_free(&rep);
  return r;
}

static const struct kk_flag refresh_flags[] = {KK_NO_DAEMON_FLAG};

const struct kk_cmd kk_cli_cmd_refresh = {
    .name = "refresh",
    .flags = refresh_flags,
    .n_flags = KK_ARRAY_SIZE(refresh_flags),
    .summary = "Observe every resource again and rewrite only its status",
    .details = "Walk every realm, space, stack, cell and container, observe what actually runs (cgroups, monitors, "
               "runc) and rewrite the .status of those whose observation differs. Nothing is started, stopped or "
               "recreated. Prints the counts and names of what was seen (lists cut after 5 names), what was "
               "updated and what could not be refreshed (then the exit status is still 0).",
    .run = refresh_run,
};

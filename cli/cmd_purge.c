/* kuke purge: delete plus every leftover on the host (kk_ctl_purge). */
#include <stdio.h>

#include "api/api.h"
#include "cli/args.h"
#include "cli/commands.h"

static int purge_run(void *ctx, const struct kk_cmdline *cl, int *status, kk_err_t *err) {
  (void)status;
  struct kk_cli *cli = KK_CLI(ctx);
  struct kk_ref ref = kk_cli_named_ref(cl, kk_cli_kind_of(kk_cmdline_leaf(cl)), cl->args.v[0]);
  /* Checked before anything is opened: bad input changes nothing. */
  struct kk_ref scope = kk_cli_scope(cl);
  if (kk_cli_check_scope(&scope, err) < 0 || kk_validate_name(ref.kind, ref.name, err) < 0)
    return -1;
  cleanup_api struct kk_api *api = NULL;
  if (kk_cli_connect(cli, "purge", false, kk_cmdline_bool(cl, "no-daemon"), &api, err) < 0)
    return -1;
  struct kk_report rep = {0};
  size_t failed = 0;
  int r = kk_api_purge(api, &ref, kk_cmdline_bool(cl, "cascade"), kk_cmdline_bool(cl, "force"), &rep, &failed, err);
  if (r == 0)
    kk_print_report(cli->out, &rep);
  kk_report_free(&rep);
  if (r == 0 && failed > 0)
    return kk_error_kind(err, KK_ERR_INTERNAL, 0, "purge %s \"%s\": %zu item(s) could not be removed (see above)",
                         kk_kind_lower(ref.kind), ref.name, failed);
  return r;
}

static const struct kk_flag purge_flags[] = {
    KK_SCOPE_FLAGS,
    {"cascade", 0, KK_FLAG_BOOL, NULL, "purge children first, depth first", false},
    {"force", 0, KK_FLAG_BOOL, NULL, "skip the children check", false},
    KK_NO_DAEMON_FLAG,
};

#define PURGE_KIND(kind_name, what)                                                                                   \
  {.name = kind_name, .matches = kk_cli_kind_word, .flags = purge_flags, .n_flags = KK_ARRAY_SIZE(purge_flags),      \
   .args = "NAME", .min_args = 1, .max_args = 1, .summary = what, .run = purge_run}
static const struct kk_cmd purge_realm = PURGE_KIND("realm", "A realm and all it left (refused with children unless --cascade)");
static const struct kk_cmd purge_space = PURGE_KIND("space", "A space of --realm, its bridge, leases and egress chain");
static const struct kk_cmd purge_stack = PURGE_KIND("stack", "A stack of --realm --space");
static const struct kk_cmd purge_cell = PURGE_KIND("cell", "A cell of --realm --space --stack");
static const struct kk_cmd *const purge_kinds[] = {&purge_realm, &purge_space, &purge_stack, &purge_cell};

const struct kk_cmd kk_cli_cmd_purge = {
    .name = "purge",
    .aliases = {"p"},
    .flags = purge_flags,
    .n_flags = KK_ARRAY_SIZE(purge_flags),
    .subs = purge_kinds,
    .n_subs = KK_ARRAY_SIZE(purge_kinds),
    .sub_noun = "resource kind",
    .usage = "purge (realm|space|stack|cell) NAME [--cascade] [--force] [--no-daemon]",
    .summary = "Delete a resource and remove everything it left on the host",
    .details = "A forced delete, then every leftover kukeon could have made for the resource, found by its names even "
               "when its state is damaged: monitors, runc records, mounts, bundles, cgroups in every hierarchy, "
               "network attachments and leases, for a space its bridge and egress chain, for a realm its images. "
               "Goes on past errors: "
               "one line per item (removed, or failed and why); the exit is non-zero when anything could not be "
               "removed. Scope flags default to \"default\".",
};

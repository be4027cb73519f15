/* kuke: the command tree and its entry point.  Every command is declared
 * once beside its body (cli/cmd_*.c); lib/command.c resolves argv against
 * this tree, prints help and errors ("Error: <message>", status 1). */
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "cli/commands.h"

static const struct kk_cmd *const commands[] = {
    &kk_cli_cmd_init,   &kk_cli_cmd_apply, &kk_cli_cmd_create,  &kk_cli_cmd_get,    &kk_cli_cmd_delete,
    &kk_cli_cmd_purge,
    &kk_cli_cmd_start,  &kk_cli_cmd_stop,  &kk_cli_cmd_kill,    &kk_cli_cmd_restart, &kk_cli_cmd_run,
    &kk_cli_cmd_log,    &kk_cli_cmd_attach, &kk_cli_cmd_exec,   &kk_cli_cmd_system, &kk_cli_cmd_image,
    &kk_cli_cmd_doctor, &kk_cli_cmd_version,
    &kk_cli_cmd_status, &kk_cli_cmd_daemon, &kk_cli_cmd_uninstall,
    &kk_cli_cmd_export,
    &kk_cli_cmd_refresh,
    &kk_cli_cmd_autocomplete,
};

/* Accepted before and after every command. */
static const struct kk_flag globals[] = {
    {"run-path", 0, KK_FLAG_STRING, NULL, "state directory; an explicit value runs the command in-process (default /opt/kukeon)", false},
    {"host", 0, KK_FLAG_STRING, NULL, "kukeond address (default unix:///run/kukeon/kukeond.sock)", false},
    {"configuration", 0, KK_FLAG_STRING, NULL, "ClientConfiguration file (default $HOME/.kuke/kuke.yaml)", false},
    {"verbose", 'v', KK_FLAG_BOOL, NULL, "log to stderr", false},
    {"log-level", 0, KK_FLAG_STRING, NULL, "debug, info, warn or error (with -v)", false},
    {"containerd-socket", 0, KK_FLAG_STRING, NULL, "accepted for compatibility; kukeon uses no containerd", false},
};

static const struct kk_flag root_flags[] = {
    {"version", 0, KK_FLAG_BOOL, NULL, "print kuke's version and exit", false},
};

static const struct kk_cmd root = {
    .name = "kuke",
    .flags = root_flags,
    .n_flags = KK_ARRAY_SIZE(root_flags),
    .subs = commands,
    .n_subs = KK_ARRAY_SIZE(commands),
    .usage = "[command] [flags]",
    .summary = "kuke manages a kukeon host: Realm -> Space -> Stack -> Cell -> Container.",
    .details = "Global flags may stand before or after the command; so may a command's own flags when no other "
               "command reads the same flag differently.",
};

const struct kk_cmd_prog kk_cli_prog = {
    .root = &root,
    .version = KUKEON_VERSION,
    .globals = globals,
    .n_globals = KK_ARRAY_SIZE(globals),
    .prepare = kk_cli_prepare,
};

int kk_cli_run(int argc, char **argv, FILE *out, FILE *errout) {
  struct kk_cli cli = {.prog = "kuke", .out = out, .errout = errout};
  int status = kk_cmd_main(&kk_cli_prog, argc, argv, out, errout, &cli);
  free(cli.owned_configuration);
  kk_client_config_free(&cli.file);
  if (fflush(out) != 0 && status == 0)
    status = 1;
  return status;
}

int kk_cli_main(int argc, char **argv) { return kk_cli_run(argc, argv, stdout, stderr); }

/* kuke: dispatch to subcommands; print errors as "Error: <message>". */
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "cli/commands.h"

struct command {
  const char *name;
  const char *aliases[3];
  kk_cli_cmd_fn fn;
  const char *summary;
};

static const struct command commands[] = {
    {"init", {0}, kk_cmd_init, "Bootstrap the host: default realm, space and stack, and the system realm"},
    {"apply", {0}, kk_cmd_apply, "Apply manifests (-f FILE|DIR|-): create or update what they describe"},
    {"create", {"c", 0}, kk_cmd_create, "Create a realm, space, stack or cell"},
    {"get", {"g", 0}, kk_cmd_get, "List or show realms, spaces, stacks, cells and containers"},
    {"delete", {"d", 0}, kk_cmd_delete, "Delete a realm, space, stack or cell"},
    {"start", {"sta", 0}, kk_cmd_start, "Start a cell (root container first)"},
    {"stop", {"sto", 0}, kk_cmd_stop, "Stop a cell (SIGTERM, then SIGKILL after 5 s)"},
    {"kill", {"k", 0}, kk_cmd_kill, "SIGKILL every container of a cell"},
    {"restart", {"res", 0}, kk_cmd_restart, "Stop a cell and start it again"},
    {"run", {0}, kk_cmd_run, "Create and start a cell, follow it, exit with its exit code"},
    {"log", {"logs", 0}, kk_cmd_log, "Print (or follow) a container's output"},
    {"attach", {"att", 0}, kk_cmd_attach, "Attach to a running container (detach: Ctrl-] Ctrl-])"},
    {"image", {"img", 0}, kk_cli_image, "Load, pull, list, delete and prune images (always in-process)"},
    {"doctor", {0}, kk_cmd_doctor, "Check what this host's cgroups can enforce"},
    {"version", {0}, kk_cmd_version, "Print the client and daemon versions"},
};

static void root_help(struct kk_cli *cli) {
  fprintf(cli->out,
          "kuke manages a kukeon host: Realm -> Space -> Stack -> Cell -> Container.\n\n"
          "Usage:\n  kuke [command] [flags]\n\nAvailable Commands:\n");
  for (size_t i = 0; i < KK_ARRAY_SIZE(commands); i++)
    fprintf(cli->out, "  %-10s %s\n", commands[i].name, commands[i].summary);
  fprintf(cli->out,
          "\nGlobal Flags:\n"
          "      --configuration string   ClientConfiguration file (default $HOME/.kuke/kuke.yaml)\n"
          "      --host string            kukeond address (default unix:///run/kukeon/kukeond.sock)\n"
          "      --log-level string       debug, info, warn or error (with -v)\n"
          "      --run-path string        state directory; an explicit value runs the command in-process\n"
          "  -v, --verbose                log to stderr\n"
          "\nUse \"kuke [command] --help\" for more information about a command.\n");
}

/* Global flags that take a value, to find the subcommand behind them. */
static bool takes_value(const char *a) {
  static const char *with_value[] = {"--run-path", "--host", "--configuration", "--log-level", "--containerd-socket"};
  for (size_t i = 0; i < KK_ARRAY_SIZE(with_value); i++)
    if (strcmp(a, with_value[i]) == 0)
      return true;
  return false;
}

int kk_cli_main(int argc, char **argv) {
  struct kk_cli cli = {.prog = "kuke", .out = stdout, .errout = stderr};
  int sub = -1;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--") == 0)
      break;
    if (argv[i][0] == '-') {
      if (takes_value(argv[i]))
        i++;
      continue;
    }
    sub = i;
    break;
  }
  int rc = 0;
  kk_err_t err = NULL;
  if (sub < 0) {
    bool help = argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"));
    if (!help && argc > 1) {
      kk_error_kind(&err, KK_ERR_INVALID, 0, "unknown flag or missing command: %s", argv[1]);
      rc = 1;
    } else {
      root_help(&cli);
    }
  } else {
    const struct command *cmd = NULL;
    for (size_t i = 0; i < KK_ARRAY_SIZE(commands) && !cmd; i++) {
      if (strcmp(argv[sub], commands[i].name) == 0)
        cmd = &commands[i];
      for (size_t a = 0; !cmd && commands[i].aliases[a]; a++)
        if (strcmp(argv[sub], commands[i].aliases[a]) == 0)
          cmd = &commands[i];
    }
    if (cmd == NULL) {
      kk_error_kind(&err, KK_ERR_INVALID, 0, "unknown command \"%s\" for \"kuke\"", argv[sub]);
      rc = 1;
    } else {
      /* The subcommand sees its own name first, then every other argument. */
      char **args = kk_xmalloc((size_t)argc * sizeof(char *));
      int n = 0;
      args[n++] = (char *)cmd->name;
      for (int i = 1; i < argc; i++)
        if (i != sub)
          args[n++] = argv[i];
      rc = cmd->fn(&cli, n, args, &err);
      free(args);
    }
  }
  if (err != NULL) {
    fflush(cli.out);
    fprintf(cli.errout, "Error: %s\n", err->msg);
    kk_error_free(&err);
    if (rc == 0)
      rc = 1;
  }
  free(cli.owned_configuration);
  kk_client_config_free(&cli.file);
  if (fflush(stdout) != 0 && rc == 0)
    rc = 1;
  return rc;
}

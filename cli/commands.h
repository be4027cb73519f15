/* Internal to cli/: the subcommands. */
#ifndef KK_CLI_COMMANDS_H
#define KK_CLI_COMMANDS_H

#include "cli/cmd.h"

int kk_cmd_init(struct kk_cli *cli, int argc, char **argv, kk_err_t *err);
int kk_cmd_apply(struct kk_cli *cli, int argc, char **argv, kk_err_t *err);
int kk_cmd_create(struct kk_cli *cli, int argc, char **argv, kk_err_t *err);
int kk_cmd_get(struct kk_cli *cli, int argc, char **argv, kk_err_t *err);
int kk_cmd_delete(struct kk_cli *cli, int argc, char **argv, kk_err_t *err);
int kk_cmd_doctor(struct kk_cli *cli, int argc, char **argv, kk_err_t *err);
int kk_cli_image(struct kk_cli *cli, int argc, char **argv, kk_err_t *err);
int kk_cmd_start(struct kk_cli *cli, int argc, char **argv, kk_err_t *err);
int kk_cmd_stop(struct kk_cli *cli, int argc, char **argv, kk_err_t *err);
int kk_cmd_kill(struct kk_cli *cli, int argc, char **argv, kk_err_t *err);
int kk_cmd_restart(struct kk_cli *cli, int argc, char **argv, kk_err_t *err);
int kk_cmd_log(struct kk_cli *cli, int argc, char **argv, kk_err_t *err);
int kk_cmd_attach(struct kk_cli *cli, int argc, char **argv, kk_err_t *err);
int kk_cmd_run(struct kk_cli *cli, int argc, char **argv, kk_err_t *err);
int kk_cmd_version(struct kk_cli *cli, int argc, char **argv, kk_err_t *err);

#endif

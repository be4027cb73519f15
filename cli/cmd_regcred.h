/* Internal to cli/: kuke create registry-credential (cmd_regcred.c). */
#ifndef KK_CLI_CMD_REGCRED_H
#define KK_CLI_CMD_REGCRED_H

#include <stdbool.h>

#include "cli/cmd.h"

/* `kuke create` argv (argv[0] "create") names registry-credential,
 * registry-cred or regcred as its kind. */
bool kk_cmd_regcred_wanted(int argc, char **argv);
/* kuke create registry-credential REALM --username U (--password-stdin |
 * --from-file FILE) [--server HOST]: same argv as kk_cmd_create. */
int kk_cmd_create_regcred(struct kk_cli *cli, int argc, char **argv, kk_err_t *err);

#endif

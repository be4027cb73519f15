/* Internal to cli/: the commands, each declared once beside its body;
 * cli/main.c puts them in kuke's tree. */
#ifndef KK_CLI_COMMANDS_H
#define KK_CLI_COMMANDS_H

#include "cli/cmd.h"

extern const struct kk_cmd kk_cli_cmd_init, kk_cli_cmd_apply, kk_cli_cmd_create, kk_cli_cmd_get, kk_cli_cmd_delete,
    kk_cli_cmd_start, kk_cli_cmd_stop, kk_cli_cmd_kill, kk_cli_cmd_restart, kk_cli_cmd_run, kk_cli_cmd_log,
    kk_cli_cmd_attach, kk_cli_cmd_exec, kk_cli_cmd_system, kk_cli_cmd_image, kk_cli_cmd_doctor, kk_cli_cmd_version,
    kk_cli_cmd_status,
    kk_cli_cmd_daemon, kk_cli_cmd_purge, kk_cli_cmd_uninstall, kk_cli_cmd_autocomplete;
extern const struct kk_cmd kk_cli_cmd_export; /* cmd_export.c */
extern const struct kk_cmd kk_cli_cmd_refresh; /* cmd_refresh.c */

/* `kuke get image[s]`: `kuke image list` under get's kinds (cmd_image.c). */
extern const struct kk_cmd kk_cli_cmd_get_images;
/* `kuke create registry-credential` (cmd_regcred.c). */
extern const struct kk_cmd kk_cli_cmd_create_regcred;

#endif

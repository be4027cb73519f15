/* Internal to cli/: the kukeond cell as kuke init and kuke daemon see it
 * (cli/system.c): which ServerConfiguration, which socket, which group. */
#ifndef KK_CLI_SYSTEM_H
#define KK_CLI_SYSTEM_H

#include <sys/types.h>

#include "api/api.h"
#include "cli/cmd.h"

#define KK_CLI_SYSTEM_WAIT_MS 30000

/* --server-configuration of kuke daemon … and kuke uninstall. */
#define KK_CLI_SERVER_CONFIG_FLAG                                                                                      \
  {"server-configuration", 0, KK_FLAG_STRING, NULL,                                                                    \
   "ServerConfiguration file (default $KUKEOND_CONFIGURATION, else /etc/kukeon/kukeond.yaml)", false}

struct kk_cli_system {
  struct kk_server_config file; /* the ServerConfiguration in use (zero: none) */
  char *config_path;            /* its path, when the file is there */
  char *socket;                 /* where kukeond listens */
  const char *group;            /* the socket's group: $KUKEON_GROUP, else "kukeon" */
};
void kk_cli_system_free(struct kk_cli_system *s);
#define cleanup_cli_system KK_CLEANUP(kk_cli_system_free)

/* --server-configuration > KUKEOND_CONFIGURATION > /etc/kukeon/kukeond.yaml
 * (a missing file: the built-ins); its runPath, cgroupRoot, suffix, subnet
 * and CNI paths fill what kuke's flags and environment left unset; then
 * the socket (KUKEOND_SOCKET > socket: > <run-path>/kukeond.sock for an
 * explicit run path > /run/kukeon/kukeond.sock) and an in-process handle. */
int kk_cli_system_open(struct kk_cli *cli, const struct kk_cmdline *cl, const char *sub, bool if_present,
                       struct kk_cli_system *s, struct kk_api **api, kk_err_t *err);

/* The group (created as a system group when missing), the cell made and
 * started unless it runs and answers, then (wait) its socket answering
 * within 30 s and set to root:<group> 0660.  rep gets init's lines. */
int kk_cli_system_up(struct kk_cli_system *s, struct kk_api *api, const char *image, bool wait, struct kk_report *rep,
                     kk_err_t *err);

/* NULL, or kukeon.internal/kukeond:<tag>: nothing else is ever pulled. */
int kk_cli_system_check_image(const char *image, kk_err_t *err);

/* kuke daemon reset (and uninstall's first step): stop the cell
 * gracefully (state: what kk_api_system_state said; api NULL: no run
 * path), remove it (purge: also the system realm and the firewall chains),
 * then the socket and the pid file beside it unless another daemon (not
 * this host's cell) answers there.  out (NULL: quiet) gets the report and
 * a "removed <path>" line a file; *found: anything was there. */
int kk_cli_system_reset(struct kk_cli_system *s, struct kk_api *api, enum kk_system_state state, int64_t timeout_ms,
                        bool purge, FILE *out, bool *found, kk_err_t *err);

/* groupdel of $KUKEON_GROUP (else "kukeon") when it exists; *removed. */
int kk_cli_system_remove_group(const char *group, bool *removed, kk_err_t *err);

/* The kukeond cell exists and its socket answers a ping. */
bool kk_cli_system_answers(const struct kk_cli_system *s);

#endif

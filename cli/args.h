/* Internal to cli/: global options, kinds and scope, connection and output helpers. */
#ifndef KK_CLI_ARGS_H
#define KK_CLI_ARGS_H

#include <stdbool.h>
#include <stdio.h>

#include "cli/cmd.h"
#include "lib/flags.h"
#include "lib/util.h"


/* Copies the global flags of cl into cli and resolves them (below). */
int kk_cli_prepare(void *cli, const struct kk_cmdline *cl, kk_err_t *err);

/* A resource kind as a command word: `get cells` names get's "cell". */
bool kk_cli_kind_word(const struct kk_cmd *self, const char *word);
/* The kind a kind node (get realm, delete cell, ...) stands for. */
enum kk_kind kk_cli_kind_of(const struct kk_cmd *kind_node);

/* Resolves global options (flag > env > configuration file > default). */
int kk_cli_resolve(struct kk_cli *cli, kk_err_t *err);

/* A connection for a command: in-process when `local` (init, image, ...),
 * when --no-daemon was given, when KUKEON_NO_DAEMON=true, or when the run
 * path was set explicitly by flag or env; through kukeond otherwise. */
struct kk_api;
int kk_cli_connect(struct kk_cli *cli, const char *sub, bool local, bool no_daemon, struct kk_api **out,
                   kk_err_t *err);
/* kukeond at --host, unix:// or ssh://, whatever the run path says. */
int kk_cli_connect_daemon(struct kk_cli *cli, struct kk_api **out, kk_err_t *err);
int kk_cli_require_root(const char *sub, kk_err_t *err);
/* The socket path of --host (unix:///path only). */
int kk_cli_socket_path(const struct kk_cli *cli, const char **path, kk_err_t *err);
/* The runtime directory in-process commands use: KUKEON_RUNTIME_DIR, else
 * the directory of --host's socket (NULL: the controller's default). */
char *kk_cli_runtime_dir(const struct kk_cli *cli);
/* The controller configuration of the global options (strings borrowed). */
struct kk_controller_config;
struct kk_controller_config kk_cli_controller_config(const struct kk_cli *cli, const char *runtime_dir);

/* A cell name for an image: "<last path part, tag stripped>-<6 hex>". */
char *kk_cli_generated_name(const char *image);

/* Output. */
enum kk_output { KK_OUT_TABLE, KK_OUT_WIDE, KK_OUT_YAML, KK_OUT_JSON, KK_OUT_NAME };
int kk_output_parse(const char *s, enum kk_output *out, kk_err_t *err);
struct kk_table {
  size_t ncols;
  struct kk_strv cells; /* row-major, header first */
};
void kk_table_init(struct kk_table *t, const char *const *headers, size_t n);
void kk_table_add(struct kk_table *t, const char *const *row);
/* headers: the header row and its dashes (--no-headers leaves them out). */
void kk_table_print(FILE *f, const struct kk_table *t, bool headers);
void kk_table_free(struct kk_table *t);
void kk_format_age(int64_t created, int64_t now, char buf[32]);
struct kk_report;
void kk_print_report(FILE *f, const struct kk_report *r);
/* Scope flags --realm --space --stack (kk_cli_scope reads them). */
#define KK_SCOPE_FLAGS                                                                                                 \
  {"realm", 0, KK_FLAG_STRING, NULL, "realm", false}, {"space", 0, KK_FLAG_STRING, NULL, "space", false},            \
      {"stack", 0, KK_FLAG_STRING, NULL, "stack", false}
#define KK_NO_DAEMON_FLAG {"no-daemon", 0, KK_FLAG_BOOL, NULL, "run in-process instead of through kukeond", false}
struct kk_ref kk_cli_scope(const struct kk_cmdline *cl);
/* The resource `<verb> KIND NAME` names: its parents from the scope flags,
 * "default" where one is not given. */
struct kk_ref kk_cli_named_ref(const struct kk_cmdline *cl, enum kk_kind kind, const char *name);
/* Each scope flag given is a valid name ("--realm: realm name ..."). */
int kk_cli_check_scope(const struct kk_ref *scope, kk_err_t *err);

#endif

/* Internal to cli/: global options, help, connection and output helpers. */
#ifndef KK_CLI_ARGS_H
#define KK_CLI_ARGS_H

#include <stdbool.h>
#include <stdio.h>

#include "cli/cmd.h"
#include "lib/flags.h"
#include "lib/util.h"


/* A (sub)command's description for --help. */
struct kk_cmd_help {
  const char *path;    /* "kuke get" */
  const char *usage;   /* "get <kind> [NAME] [flags]" */
  const char *summary; /* one line */
  const char *details; /* optional, may be NULL */
};

/* Parses argv[1..] against flags + the global flags; positionals collected
 * in *pos.  Returns 0, 1 when --help was printed (caller exits 0), or -1. */
int kk_cli_parse(struct kk_cli *cli, const struct kk_cmd_help *help, struct kk_flag *flags, size_t n_flags,
                 int argc, char **argv, struct kk_strv *pos, kk_err_t *err);

void kk_cli_print_help(struct kk_cli *cli, const struct kk_cmd_help *help, const struct kk_flag *flags,
                       size_t n_flags);

/* Resolves global options (flag > env > configuration file > default). */
int kk_cli_resolve(struct kk_cli *cli, kk_err_t *err);

/* A connection for a command: in-process when `local` (init, image, ...),
 * when --no-daemon was given, when KUKEON_NO_DAEMON=true, or when the run
 * path was set explicitly by flag or env; through kukeond otherwise. */
struct kk_api;
int kk_cli_connect(struct kk_cli *cli, const char *sub, bool local, bool no_daemon, struct kk_api **out,
                   kk_err_t *err);
int kk_cli_require_root(const char *sub, kk_err_t *err);

/* A cell name for an image: "<last path part, tag stripped>-<6 hex>". */
char *kk_cli_generated_name(const char *image);

/* Output. */
enum kk_output { KK_OUT_TABLE, KK_OUT_WIDE, KK_OUT_YAML, KK_OUT_JSON };
int kk_output_parse(const char *s, enum kk_output *out, kk_err_t *err);
struct kk_table {
  size_t ncols;
  struct kk_strv cells; /* row-major, header first */
};
void kk_table_init(struct kk_table *t, const char *const *headers, size_t n);
void kk_table_add(struct kk_table *t, const char *const *row);
void kk_table_print(FILE *f, const struct kk_table *t);
void kk_table_free(struct kk_table *t);
void kk_format_age(int64_t created, int64_t now, char buf[32]);
struct kk_report;
void kk_print_report(FILE *f, const struct kk_report *r);
/* Scope flags: --realm --space --stack --cell bound to a ref. */
#define KK_SCOPE_FLAGS(ref)                                                                       \
  {"realm", 0, KK_FLAG_STRING, &(ref).realm, "realm", false},                                     \
  {"space", 0, KK_FLAG_STRING, &(ref).space, "space", false},                                     \
  {"stack", 0, KK_FLAG_STRING, &(ref).stack, "stack", false}

#endif

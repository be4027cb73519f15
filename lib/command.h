/* A command tree and its one dispatcher.  kuke and kukeond declare each
 * command once (name, aliases, flags, positional arity, subcommands, help)
 * and resolve argv against the tree before anything runs:
 *
 *   - global flags and the command's own flags may stand before or after the
 *     command words; their values are skipped by the flag tables.  Before the
 *     command is known a flag is looked up in every command under the current
 *     node: it must mean the same thing (value or not) wherever it exists,
 *     else the error asks for it after the command (kubectl's rule);
 *   - a mistyped command, subcommand, resource kind or flag gets "did you
 *     mean";
 *   - `-h`, `--help` and `PROG help [COMMAND [SUB]]` print help (status 0),
 *     `PROG --version` the version; every error is status 1. */
#ifndef KK_LIB_COMMAND_H
#define KK_LIB_COMMAND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "lib/error.h"
#include "lib/flags.h"
#include "lib/util.h"

#define KK_CMD_ANY SIZE_MAX /* max_args: no upper bound */
#define KK_CMD_MAX_DEPTH 4

struct kk_cmdline;
/* A command's body: < 0 with *err filled on error (the caller prints it).
 * *status (0 beforehand) is the exit status of a command that succeeds
 * with another one, e.g. `kuke run` and its container's exit code. */
typedef int (*kk_cmd_run_fn)(void *ctx, const struct kk_cmdline *cl, int *status, kk_err_t *err);

struct kk_cmd {
  const char *name;
  const char *aliases[4];
  /* More words that name this node (kuke's resource kinds: "cells", "ce"). */
  bool (*matches)(const struct kk_cmd *self, const char *word);
  /* Its own flags (value pointers NULL: the dispatcher binds them). */
  const struct kk_flag *flags;
  size_t n_flags;
  const char *args; /* positionals for usage and arity errors: "NAME", "[REF]" */
  size_t min_args, max_args;
  const struct kk_cmd *const *subs;
  size_t n_subs;
  const char *sub_noun; /* what a sub is called: "command" (default), "resource kind" */
  const char *usage;    /* replaces the generated "<path> <args> [flags]" */
  const char *summary;
  const char *details;
  kk_cmd_run_fn run; /* NULL: one of subs is required */
};

struct kk_cmd_prog {
  const struct kk_cmd *root; /* root->name is the program's name */
  const char *version;       /* `PROG --version` */
  const struct kk_flag *globals; /* accepted before and after every command */
  size_t n_globals;
  /* Called before a command runs (not for help), e.g. to resolve globals. */
  int (*prepare)(void *ctx, const struct kk_cmdline *cl, kk_err_t *err);
};

/* argv resolved against a tree: which command, its flags and positionals. */
struct kk_cmdline {
  const struct kk_cmd_prog *prog;
  const struct kk_cmd *path[KK_CMD_MAX_DEPTH]; /* path[0] is the root */
  size_t depth;
  struct kk_strv args;  /* positionals, command words removed */
  struct kk_flag *flags; /* the leaf's flags, then the globals, bound */
  size_t n_flags;
  void *values;         /* storage the bound flags point into */
  bool help;            /* -h, --help or `help` */
  bool version;         /* --version at the root */
};

/* Resolve without running anything: fills *cl (free with kk_cmdline_free
 * also on error). */
int kk_cmd_resolve(const struct kk_cmd_prog *p, int argc, char **argv, struct kk_cmdline *cl, kk_err_t *err);
void kk_cmdline_free(struct kk_cmdline *cl);
const struct kk_cmd *kk_cmdline_leaf(const struct kk_cmdline *cl);
/* The subcommand of node a word names (name, alias or matches()), or NULL. */
const struct kk_cmd *kk_cmd_find_sub(const struct kk_cmd *node, const char *word);
/* The words of cl's path, "kuke image list", into buf. */
void kk_cmdline_path(const struct kk_cmdline *cl, char *buf, size_t size);

/* A bound flag's value by name; a name the leaf and the globals lack is a
 * programming error and aborts. */
const char *kk_cmdline_str(const struct kk_cmdline *cl, const char *name);
bool kk_cmdline_bool(const struct kk_cmdline *cl, const char *name);
const struct kk_strv *kk_cmdline_strv(const struct kk_cmdline *cl, const char *name);
bool kk_cmdline_isset(const struct kk_cmdline *cl, const char *name);

/* Help for the command at cl's path, generated from the tree. */
void kk_cmd_print_help(FILE *o, const struct kk_cmdline *cl);

/* Resolve, then print help or the version, or check the arity, prepare
 * and run the command.  < 0 with *err on error; *status is the exit status
 * otherwise. */
int kk_cmd_dispatch(const struct kk_cmd_prog *p, int argc, char **argv, FILE *out, void *ctx, int *status,
                    kk_err_t *err);

/* The whole program: dispatch, "Error: <message>" on errout, exit status. */
int kk_cmd_main(const struct kk_cmd_prog *p, int argc, char **argv, FILE *out, FILE *errout, void *ctx);

#endif

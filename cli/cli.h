/* kuke: the client CLI. */
#ifndef KK_CLI_H
#define KK_CLI_H

#include <stdio.h>

#include "lib/command.h"

/* kuke's command tree (tests resolve argv against it without running). */
extern const struct kk_cmd_prog kk_cli_prog;

/* kuke with its output and errors on the given streams; the exit status. */
int kk_cli_run(int argc, char **argv, FILE *out, FILE *errout);
int kk_cli_main(int argc, char **argv);

#endif

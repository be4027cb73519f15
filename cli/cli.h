/* kuke: the client CLI. */
#ifndef KK_CLI_H
#define KK_CLI_H

int kk_cli_main(int argc, char **argv);

#endif

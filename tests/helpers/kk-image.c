/* Driver for `kuke image` until the main dispatch calls kk_cli_image:
 *   kk-image [global flags] <load|pull|list|delete|prune> ...
 * behaves like `kuke image ...` (same flags, output, "Error: " lines). */
#include <stdio.h>
#include <stdlib.h>

#include "cli/cmd.h"

int kk_cli_image(struct kk_cli *cli, int argc, char **argv, kk_err_t *err);

int main(int argc, char **argv) {
  /* In-process, as before the image commands went through the API. */
  struct kk_cli cli = {.prog = "kuke", .host = "unix:///run/kukeon/kukeond.sock", .no_daemon_env = true,
                       .out = stdout, .errout = stderr};
  kk_err_t err = NULL;
  argv[0] = "image";
  int rc = kk_cli_image(&cli, argc, argv, &err);
  if (err) {
    fflush(stdout);
    fprintf(stderr, "Error: %s\n", err->msg);
    kk_error_free(&err);
    if (rc == 0)
      rc = 1;
  }
  free(cli.owned_configuration);
  kk_client_config_free(&cli.file);
  return rc;
}

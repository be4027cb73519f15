/* Driver for `kuke image`:
 *   kk-image [global flags] <load|pull|list|delete|prune> ...
 * behaves like `kuke image ...` in-process (same flags, output, "Error: "
 * lines). */
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"
#include "lib/util.h"

int main(int argc, char **argv) {
  /* In-process, as before the image commands went through the API. */
  setenv("KUKEON_NO_DAEMON", "true", 1);
  char **args = kk_xzalloc((size_t)(argc + 2) * sizeof(char *));
  args[0] = "kuke";
  args[1] = "image";
  for (int i = 1; i < argc; i++)
    args[i + 1] = argv[i];
  int rc = kk_cli_run(argc + 1, args, stdout, stderr);
  free(args);
  return rc;
}

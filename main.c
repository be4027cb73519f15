/* One binary, three names: dispatch on basename(argv[0]). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "daemon/daemon.h"

int main(int argc, char **argv) {
  const char *name = argc > 0 && argv[0] ? strrchr(argv[0], '/') : NULL;
  name = name ? name + 1 : (argc > 0 && argv[0] ? argv[0] : "");
  const char *debug_mode = getenv("KUKEON_DEBUG_MODE");
  if (strcmp(name, "kuke") == 0)
    return kk_cli_main(argc, argv);
  if (strcmp(name, "kukeond") == 0)
    return kk_daemon_main(argc, argv);
  if (debug_mode && strcmp(debug_mode, "kuke") == 0)
    return kk_cli_main(argc, argv);
  if (debug_mode && strcmp(debug_mode, "kukeond") == 0)
    return kk_daemon_main(argc, argv);
  fprintf(stderr, "Error: unknown entry command: %s (run as \"kuke\" or \"kukeond\", or set KUKEON_DEBUG_MODE=kuke|kukeond)\n", name);
  return 1;
}

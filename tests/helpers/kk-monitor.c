/* kk-monitor KUKEON-BINARY RUNC-ROOT BUNDLE ID DIR [LOG-MAX]
 * Spawns a monitor (which runs `runc create`) and prints the container pid. */
#include <stdio.h>
#include <stdlib.h>

#include "runtime/runtime.h"

int main(int argc, char **argv) {
  if (argc < 6) {
    fprintf(stderr, "usage: kk-monitor KUKEON RUNC-ROOT BUNDLE ID DIR [LOG-MAX]\n");
    return 2;
  }
  struct kk_monitor_opts o = {.exe = argv[1], .runc_root = argv[2], .bundle = argv[3], .id = argv[4],
                              .dir = argv[5], .log_max = argc > 6 ? atoll(argv[6]) : 0};
  pid_t pid = 0;
  kk_err_t err = NULL;
  if (kk_monitor_spawn(&o, &pid, &err) < 0) {
    fprintf(stderr, "Error: %s\n", err->msg);
    kk_error_free(&err);
    return 1;
  }
  printf("%d\n", (int)pid);
  return 0;
}

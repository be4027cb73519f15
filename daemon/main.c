/* kukeond command line.  `kukeond serve` comes with the API. */
#include <stdio.h>
#include <string.h>

#include "daemon/daemon.h"
#include "lib/flags.h"
#include "lib/util.h"

int kk_daemon_main(int argc, char **argv) {
  const char *sock = NULL, *gid = NULL, *run_path = NULL, *containerd = NULL, *cfg = NULL, *cgroot = NULL,
             *suffix = NULL, *interval = NULL, *level = NULL;
  struct kk_flag flags[] = {
      {"socket", 0, KK_FLAG_STRING, &sock, "unix socket to listen on (default /run/kukeon/kukeond.sock)", false},
      {"socket-gid", 0, KK_FLAG_STRING, &gid, "group that may use the socket (mode 0660); 0 = root only", false},
      {"run-path", 0, KK_FLAG_STRING, &run_path, "persistent state (default /opt/kukeon)", false},
      {"containerd-socket", 0, KK_FLAG_STRING, &containerd, "accepted for compatibility, unused: kukeon has no containerd", false},
      {"configuration", 0, KK_FLAG_STRING, &cfg, "ServerConfiguration file (default /etc/kukeon/kukeond.yaml)", false},
      {"cgroup-root", 0, KK_FLAG_STRING, &cgroot, "cgroup root of the kukeon tree (default /kukeon)", false},
      {"containerd-namespace-suffix", 0, KK_FLAG_STRING, &suffix, "realm namespace suffix (default kukeon.io)", false},
      {"reconcile-interval", 0, KK_FLAG_STRING, &interval, "reconcile period, Go duration; 0 disables (default 30s)", false},
      {"log-level", 0, KK_FLAG_STRING, &level, "debug, info, warn or error (default info)", false},
  };
  struct kk_strv pos = {0};
  bool help = false;
  kk_err_t err = NULL;
  int rc = 0;
  if (kk_flags_parse(flags, KK_ARRAY_SIZE(flags), NULL, 0, argc, argv, &pos, &help, &err) < 0) {
    rc = 1;
  } else if (help || pos.n == 0) {
    printf("kukeond serves the kukeonv1 API on a unix socket.\n\nUsage:\n  kukeond serve [flags]\n\nFlags:\n");
    kk_flags_print(stdout, flags, KK_ARRAY_SIZE(flags), true);
  } else if (strcmp(pos.v[0], "serve") != 0) {
    kk_error_kind(&err, KK_ERR_INVALID, 0, "unknown command \"%s\" for \"kukeond\"", pos.v[0]);
    rc = 1;
  } else {
    kk_error_kind(&err, KK_ERR_UNAVAILABLE, 0, "kukeond serve is not implemented in this build yet");
    rc = 1;
  }
  if (err) {
    fprintf(stderr, "Error: %s\n", err->msg);
    kk_error_free(&err);
  }
  kk_strv_free(&pos);
  return rc;
}

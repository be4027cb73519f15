/* kuke system dial-stdio: this host's end of `--host ssh://` — stdin and
 * stdout bridged to kukeond's socket, byte for byte, until either side
 * closes.  The peer kukeond sees is whoever ssh logged in as. */
#include <unistd.h>

#include "api/api.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "lib/stream.h"

static int dial_stdio_run(void *ctx, const struct kk_cmdline *cl, int *status, kk_err_t *err) {
  const char *path = NULL;
  if (kk_cli_socket_path(KK_CLI(ctx), &path, err) < 0)
    return -1;
  cleanup_close int fd = kk_api_dial(path, err);
  if (fd < 0)
    return -1;
  return kk_stream_pump(STDIN_FILENO, STDOUT_FILENO, fd, fd, -1, err);
}

static const struct kk_cmd dial_stdio = {
    .name = "dial-stdio",
    .usage = "system dial-stdio",
    .summary = "Bridge stdin and stdout to kukeond's socket (the remote end of --host ssh://)",
    .details = "Connect to kukeond's socket (--host, KUKEON_HOST) and relay stdin to it and its replies to stdout "
               "until either side closes. kuke --host ssh://user@host runs this on the remote host through ssh; "
               "kukeond sees the ssh user as the peer.",
    .run = dial_stdio_run,
};

static const struct kk_cmd *const system_subs[] = {&dial_stdio};

const struct kk_cmd kk_cli_cmd_system = {
    .name = "system",
    .subs = system_subs,
    .n_subs = KK_ARRAY_SIZE(system_subs),
    .summary = "Plumbing for other kuke commands (dial-stdio)",
};

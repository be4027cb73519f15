/* kuke daemon start|stop|kill|restart|reset|recreate|logs: the kukeond
 * cell, in-process (root), each verb idempotent. */
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/system.h"

#define CELL_DESC "(cell \"kukeond\" in realm \"" KK_SYSTEM_REALM "\")"

static const struct kk_ref kukeond_ref = {
    .kind = KK_KIND_CELL, .realm = KK_SYSTEM_REALM, .space = KK_SYSTEM_SPACE, .stack = KK_SYSTEM_STACK,
    .name = "kukeond"};

/* A verb's context: the system view, an in-process handle, the cell's state. */
struct daemon_ctx {
  struct kk_cli *cli;
  struct kk_cli_system sys;
  struct kk_api *api;
  enum kk_system_state state;
  int64_t timeout_ms;
};

static void ctx_free(struct daemon_ctx *d) {
  kk_cli_system_free(&d->sys);
  kk_api_close(d->api);
}

/* timed: the verb has --timeout. */
static int ctx_open(void *ctx, const struct kk_cmdline *cl, const char *sub, bool timed, struct daemon_ctx *d,
                    kk_err_t *err) {
  d->cli = KK_CLI(ctx);
  d->timeout_ms = 10000;
  const char *t = timed ? kk_cmdline_str(cl, "timeout") : NULL;
  if (t && (kk_parse_duration_ms(t, &d->timeout_ms) < 0 || d->timeout_ms <= 0))
    return kk_error_kind(err, KK_ERR_INVALID, 0, "invalid --timeout \"%s\": expected a duration like 10s", t);
  /* A torn-down host is left as it is: reset has nothing to open. */
  bool if_present = strcmp(sub, "daemon reset") == 0 && !kk_cmdline_bool(cl, "purge-system");
  if (kk_cli_system_open(d->cli, cl, sub, if_present, &d->sys, &d->api, err) < 0)
    return -1;
  d->state = KK_SYSTEM_ABSENT;
  return d->api ? kk_api_system_state(d->api, &d->state, err) : 0;
}

static int require_init(const struct daemon_ctx *d, kk_err_t *err) {
  if (d->state != KK_SYSTEM_ABSENT)
    return 0;
  return kk_error_kind(err, KK_ERR_NOT_FOUND, 0,
                       "kukeon host is not initialized: kukeond cell metadata is missing; run `kuke init` first");
}

/* Start it and wait until its socket answers; the report is not printed. */
static int bring_up(struct daemon_ctx *d, const char *image, kk_err_t *err) {
  struct kk_report rep = {0};
  int r = kk_cli_system_up(&d->sys, d->api, image, true, &rep, err);
  kk_report_free(&rep);
  return r;
}

static int start_run(void *ctx, const struct kk_cmdline *cl, int *status, kk_err_t *err) {
  KK_CLEANUP(ctx_free) struct daemon_ctx d = {0};
  if (ctx_open(ctx, cl, "daemon start", false, &d, err) < 0 || require_init(&d, err) < 0)
    return -1;
  if (d.state == KK_SYSTEM_RUNNING && kk_cli_system_answers(&d.sys)) {
    fprintf(d.cli->out, "kukeond is already running " CELL_DESC "\n");
    return 0;
  }
  if (bring_up(&d, NULL, err) < 0)
    return -1;
  fprintf(d.cli->out, "kukeond started " CELL_DESC "\n");
  return 0;
}

static int halt(void *ctx, const struct kk_cmdline *cl, const char *sub, int sig, const char *done, kk_err_t *err) {
  KK_CLEANUP(ctx_free) struct daemon_ctx d = {0};
  bool was = false;
  if (ctx_open(ctx, cl, sub, sig != SIGKILL, &d, err) < 0 || require_init(&d, err) < 0 ||
      kk_api_system_stop(d.api, sig, d.timeout_ms, &was, err) < 0)
    return -1;
  if (was)
    fprintf(d.cli->out, "kukeond %s " CELL_DESC "\n", done);
  else
    fprintf(d.cli->out, "kukeond is already stopped " CELL_DESC "\n");
  return 0;
}

static int stop_run(void *ctx, const struct kk_cmdline *cl, int *status, kk_err_t *err) {
  return halt(ctx, cl, "daemon stop", SIGTERM, "stopped", err);
}

static int kill_run(void *ctx, const struct kk_cmdline *cl, int *status, kk_err_t *err) {
  return halt(ctx, cl, "daemon kill", SIGKILL, "killed", err);
}

static int restart_run(void *ctx, const struct kk_cmdline *cl, int *status, kk_err_t *err) {
  KK_CLEANUP(ctx_free) struct daemon_ctx d = {0};
  bool was = false;
  if (ctx_open(ctx, cl, "daemon restart", true, &d, err) < 0 || require_init(&d, err) < 0 ||
      kk_api_system_stop(d.api, SIGTERM, d.timeout_ms, &was, err) < 0 || bring_up(&d, NULL, err) < 0)
    return -1;
  fprintf(d.cli->out, "kukeond restarted " CELL_DESC "\n");
  return 0;
}

static int reset(struct daemon_ctx *d, bool purge, bool print, bool *found, kk_err_t *err) {
  return kk_cli_system_reset(&d->sys, d->api, d->state, d->timeout_ms, purge, print ? d->cli->out : NULL, found, err);
}

static int reset_run(void *ctx, const struct kk_cmdline *cl, int *status, kk_err_t *err) {
  KK_CLEANUP(ctx_free) struct daemon_ctx d = {0};
  bool found = false;
  if (ctx_open(ctx, cl, "daemon reset", true, &d, err) < 0 ||
      reset(&d, kk_cmdline_bool(cl, "purge-system"), true, &found, err) < 0)
    return -1;
  if (!found)
    fprintf(d.cli->out, "kukeond is already reset: no cell, socket or pid file to remove\n");
  return 0;
}

static int recreate_run(void *ctx, const struct kk_cmdline *cl, int *status, kk_err_t *err) {
  KK_CLEANUP(ctx_free) struct daemon_ctx d = {0};
  bool found = false;
  if (kk_cli_system_check_image(kk_cmdline_str(cl, "kukeond-image"), err) < 0 ||
      ctx_open(ctx, cl, "daemon recreate", true, &d, err) < 0 || require_init(&d, err) < 0 ||
      reset(&d, false, false, &found, err) < 0 || bring_up(&d, kk_cmdline_str(cl, "kukeond-image"), err) < 0)
    return -1;
  fprintf(d.cli->out, "kukeond is ready (unix://%s)\n", d.sys.socket);
  return 0;
}

static int logs_run(void *ctx, const struct kk_cmdline *cl, int *status, kk_err_t *err) {
  KK_CLEANUP(ctx_free) struct daemon_ctx d = {0};
  if (ctx_open(ctx, cl, "daemon logs", false, &d, err) < 0 || require_init(&d, err) < 0)
    return -1;
  struct kk_log_opts lo = {.follow = kk_cmdline_bool(cl, "follow"), .tail = -1};
  struct kk_ctl_exit ex = {0};
  int r = kk_api_log(d.api, &kukeond_ref, "kukeond", &lo, STDOUT_FILENO, STDERR_FILENO, &ex, err);
  kk_ctl_exit_free(&ex);
  return r;
}

#define CONFIG_FLAG KK_CLI_SERVER_CONFIG_FLAG
#define TIMEOUT_FLAG {"timeout", 0, KK_FLAG_STRING, NULL, "how long SIGTERM may take before SIGKILL (default 10s)", false}

static const struct kk_flag plain_flags[] = {CONFIG_FLAG};
static const struct kk_flag stop_flags[] = {CONFIG_FLAG, TIMEOUT_FLAG};
static const struct kk_flag reset_flags[] = {
    CONFIG_FLAG, TIMEOUT_FLAG,
    {"purge-system", 0, KK_FLAG_BOOL, NULL, "also the system realm's state and kukeon's firewall chains", false}};
static const struct kk_flag recreate_flags[] = {
    CONFIG_FLAG, TIMEOUT_FLAG,
    {"kukeond-image", 0, KK_FLAG_STRING, NULL, "kukeon.internal/kukeond:<tag> (default: this binary's version)", false}};
static const struct kk_flag logs_flags[] = {
    CONFIG_FLAG, {"follow", 'f', KK_FLAG_BOOL, NULL, "keep printing new output until kukeond exits", false}};

#define VERB(var, verb, fl, sum, body)                                                                                 \
  static const struct kk_cmd var = {                                                                                   \
      .name = verb, .flags = fl, .n_flags = KK_ARRAY_SIZE(fl), .summary = sum, .run = body}

VERB(d_start, "start", plain_flags, "Start the kukeond cell (a no-op when it runs and answers)", start_run);
VERB(d_stop, "stop", stop_flags, "Stop kukeond: SIGTERM, SIGKILL after --timeout", stop_run);
VERB(d_kill, "kill", plain_flags, "Kill kukeond at once (SIGKILL)", kill_run);
VERB(d_restart, "restart", stop_flags, "Stop kukeond (if it runs), then start it", restart_run);
VERB(d_reset, "reset", reset_flags, "Stop kukeond and remove its cell, cgroups, socket and pid file", reset_run);
VERB(d_recreate, "recreate", recreate_flags, "Reset the kukeond cell and provision it anew, as kuke init does",
     recreate_run);
static const struct kk_cmd d_logs = {.name = "logs",
                                     .aliases = {"log"},
                                     .flags = logs_flags,
                                     .n_flags = KK_ARRAY_SIZE(logs_flags),
                                     .summary = "Print (or follow) kukeond's output",
                                     .run = logs_run};

static const struct kk_cmd *const daemon_subs[] = {&d_start, &d_stop,     &d_kill, &d_restart,
                                                   &d_reset, &d_recreate, &d_logs};

const struct kk_cmd kk_cli_cmd_daemon = {
    .name = "daemon",
    .subs = daemon_subs,
    .n_subs = KK_ARRAY_SIZE(daemon_subs),
    .summary = "Start, stop, kill, restart, reset or recreate the kukeond cell; print its logs",
    .details = "The kukeond cell (kuke-system/kukeon/kukeon/kukeond) in-process, as root; every verb is idempotent. "
               "A host without the cell is told to run `kuke init` (reset says there is nothing to remove).",
};

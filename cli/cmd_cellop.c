/* kuke start|stop|kill|restart: one cell by name, or (start, stop,
 * restart) every cell in scope a label selector matches. */
#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "cli/selector.h"

/* The cell NAME or "cell NAME" names; none with a selector. */
static int cell_name(const struct kk_strv *pos, const char *verb, bool selector, const char **name, kk_err_t *err) {
  *name = NULL;
  enum kk_kind kind = KK_KIND_REALM;
  size_t i = pos->n == 2 && kk_kind_parse(pos->v[0], &kind) == 0 && kind == KK_KIND_CELL ? 1 : 0;
  if (selector) {
    if (pos->n != 0)
      return kk_error_kind(err, KK_ERR_INVALID, 0, "--selector cannot be combined with a cell name");
    return 0;
  }
  if (pos->n != i + 1)
    return kk_error_kind(err, KK_ERR_INVALID, 0,
                         "%s needs one cell name or a selector: kuke %s [cell] NAME | -l SELECTOR", verb, verb);
  *name = pos->v[i];
  return kk_validate_name(KK_KIND_CELL, *name, err);
}

/* --timeout D: how long SIGTERM may take per container (0: the cell's own). */
static int timeout_of(const struct kk_cmdline *cl, enum kk_cell_op op, int64_t *ms, kk_err_t *err) {
  *ms = 0;
  bool has = op == KK_CELL_STOP || op == KK_CELL_RESTART;
  const char *t = has ? kk_cmdline_str(cl, "timeout") : NULL;
  if (t && (kk_parse_duration_ms(t, ms) < 0 || *ms <= 0 || *ms > KK_MAX_STOP_TIMEOUT_SECONDS * 1000LL))
    return kk_error_kind(err, KK_ERR_INVALID, 0,
                         "invalid --timeout \"%s\": expected a duration from 1ms to %ds, like 10s", t,
                         KK_MAX_STOP_TIMEOUT_SECONDS);
  return 0;
}

struct cell_op {
  struct kk_cli *cli;
  struct kk_api *api;
  enum kk_cell_op op;
  int64_t timeout_ms;
};

static int one_cell(const struct cell_op *o, const struct kk_ref *ref, kk_err_t *err) {
  struct kk_report rep = {0};
  int r = kk_api_cell_op_timed(o->api, ref, o->op, o->timeout_ms, &rep, err);
  if (r == 0)
    kk_print_report(o->cli->out, &rep);
  kk_report_free(&rep);
  return r;
}

/* Every cell of scope (unset flags: any) the selector matches, one after
 * the other; a failure does not stop the rest, and the error names each. */
static int fan_out(const struct cell_op *o, const char *verb, struct kk_ref scope, const struct kk_selector *sel,
                   kk_err_t *err) {
  cleanup_doc_list struct kk_doc_list cells = {0};
  scope.kind = KK_KIND_CELL;
  if (kk_api_list(o->api, KK_KIND_CELL, &scope, &cells, NULL, err) < 0)
    return -1;
  size_t matched = 0;
  struct kk_strv failures = {0};
  enum kk_err_kind kind = KK_ERR_INTERNAL;
  for (size_t i = 0; i < cells.n; i++) {
    if (!kk_selector_matches(sel, &kk_doc_metadata(cells.docs[i])->labels))
      continue;
    matched++;
    struct kk_ref ref = kk_ref_of(cells.docs[i]);
    kk_err_t e = NULL;
    if (one_cell(o, &ref, &e) < 0) {
      kind = failures.n ? kind : e->kind;
      kk_strv_push_owned(&failures, kk_asprintf("cell \"%s\": %s", ref.name, e->msg));
      kk_error_free(&e);
    }
  }
  if (matched == 0)
    fprintf(o->cli->out, "No cells matched the selector.\n");
  if (failures.n == 0)
    return 0;
  cleanup_free char *list = kk_strv_join(&failures, "; ");
  kk_error_kind(err, kind, 0, "%s failed for %zu of %zu cells: %s", verb, failures.n, matched, list);
  kk_strv_free(&failures);
  return -1;
}

static int cell_op_run(void *ctx, const struct kk_cmdline *cl, enum kk_cell_op op, kk_err_t *err) {
  struct kk_cli *cli = KK_CLI(ctx);
  const char *verb = kk_cmdline_leaf(cl)->name, *name = NULL;
  const char *selector = op == KK_CELL_KILL ? NULL : kk_cmdline_str(cl, "selector");
  struct kk_ref scope = kk_cli_scope(cl);
  cleanup_selector struct kk_selector sel = {0};
  struct cell_op o = {.cli = cli, .op = op};
  if (cell_name(&cl->args, verb, selector != NULL, &name, err) < 0 || kk_cli_check_scope(&scope, err) < 0 ||
      (selector && kk_selector_parse(selector, &sel, err) < 0) || timeout_of(cl, op, &o.timeout_ms, err) < 0)
    return -1;
  cleanup_api struct kk_api *api = NULL;
  if (kk_cli_connect(cli, verb, false, kk_cmdline_bool(cl, "no-daemon"), &api, err) < 0)
    return -1;
  o.api = api;
  if (selector)
    return fan_out(&o, verb, scope, &sel, err);
  struct kk_ref ref = kk_cli_named_ref(cl, KK_KIND_CELL, name);
  return one_cell(&o, &ref, err);
}

static int start_run(void *ctx, const struct kk_cmdline *cl, int *status, kk_err_t *err) {
  return cell_op_run(ctx, cl, KK_CELL_START, err);
}
static int stop_run(void *ctx, const struct kk_cmdline *cl, int *status, kk_err_t *err) {
  return cell_op_run(ctx, cl, KK_CELL_STOP, err);
}
static int kill_run(void *ctx, const struct kk_cmdline *cl, int *status, kk_err_t *err) {
  return cell_op_run(ctx, cl, KK_CELL_KILL, err);
}
static int restart_run(void *ctx, const struct kk_cmdline *cl, int *status, kk_err_t *err) {
  return cell_op_run(ctx, cl, KK_CELL_RESTART, err);
}

#define SELECTOR_FLAG                                                                                                  \
  {"selector", 'l', KK_FLAG_STRING, NULL,                                                                              \
   "every cell in scope with these labels: k=v, k==v, k!=v, k, !k (comma = AND)", false}
#define TIMEOUT_FLAG                                                                                                   \
  {"timeout", 0, KK_FLAG_STRING, NULL, "how long SIGTERM may take per container before SIGKILL (default: the cell's " \
   "spec.stopTimeoutSeconds, else 5s)", false}
static const struct kk_flag start_flags[] = {KK_SCOPE_FLAGS, KK_NO_DAEMON_FLAG, SELECTOR_FLAG};
static const struct kk_flag stop_flags[] = {KK_SCOPE_FLAGS, KK_NO_DAEMON_FLAG, SELECTOR_FLAG, TIMEOUT_FLAG};
static const struct kk_flag kill_flags[] = {KK_SCOPE_FLAGS, KK_NO_DAEMON_FLAG};

#define CELL_OP(verb, alias, fl, min, body, what, more)                                                                \
  {.name = verb, .aliases = {alias}, .flags = fl, .n_flags = KK_ARRAY_SIZE(fl), .args = "[cell] NAME",              \
   .min_args = min, .max_args = 2, .summary = what, .details = more, .run = body}
const struct kk_cmd kk_cli_cmd_start =
    CELL_OP("start", "sta", start_flags, 0, start_run, "Start a cell, or every cell a selector matches",
            "Start a cell: its root container first, then the others. A running cell is left as it is. With "
            "-l SELECTOR every cell in scope whose labels match is started (unset scope flags: any); "
            "`No cells matched the selector.` when none does.");
const struct kk_cmd kk_cli_cmd_stop =
    CELL_OP("stop", "sto", stop_flags, 0, stop_run, "Stop a cell (SIGTERM, then SIGKILL after its timeout)",
            "Stop a cell: SIGTERM to the other containers, then the root; a container still running after the "
            "timeout (--timeout, else the cell's spec.stopTimeoutSeconds, else 5s) is SIGKILLed, and the output "
            "names each one that was. With -l SELECTOR every matching cell in scope is stopped.");
const struct kk_cmd kk_cli_cmd_kill =
    CELL_OP("kill", "k", kill_flags, 1, kill_run, "SIGKILL every container of a cell",
            "SIGKILL every container of a cell; the output names each one that was running.");
const struct kk_cmd kk_cli_cmd_restart =
    CELL_OP("restart", "res", stop_flags, 0, restart_run, "Restart a cell, or every cell a selector matches",
            "Restart a cell by its state: Ready is stopped (as kuke stop, --timeout alike) and started again; "
            "Stopped and Exited are started; Error, Failed and Degraded are recreated from their spec (their "
            "containers' runtime state and writable layers go) and started; Pending and Unknown are refused. "
            "With -l SELECTOR every matching cell in scope, each error named.");

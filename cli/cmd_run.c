/* kuke log, attach, run: cells that run (start, stop, kill, restart: cmd_cellop.c). */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "lib/fs.h"
#include "runtime/runtime.h"

static const char *or_default(const char *s) { return kk_empty(s) ? "default" : s; }

/* A cell named on the command line: NAME or "cell NAME". */
static int cell_arg(const struct kk_strv *pos, const char *verb, const char **name, kk_err_t *err) {
  size_t i = 0;
  if (pos->n == 2 && (strcmp(pos->v[0], "cell") == 0 || strcmp(pos->v[0], "ce") == 0 ||
                      strcmp(pos->v[0], "cells") == 0))
    i = 1;
  if (pos->n != i + 1)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "%s needs one cell name: kuke %s [cell] NAME", verb, verb);
  *name = pos->v[i];
  return kk_validate_name(KK_KIND_CELL, *name, err);
}

static struct kk_ref cell_ref(struct kk_ref scope, const char *name) {
  return (struct kk_ref){.kind = KK_KIND_CELL, .realm = or_default(scope.realm), .space = or_default(scope.space),
                         .stack = or_default(scope.stack), .name = name};
}

/* ---------------------------------------------------------------- log */

/* CELL on the command line -> a connection and the cell's ref. */
struct target {
  struct kk_api *api;
  struct kk_ref ref;
};
static void target_free(struct target *t) { kk_api_close(t->api); }
static int target_of(struct kk_cli *cli, const char *verb, const struct kk_strv *pos, struct kk_ref scope,
                     bool no_daemon, struct target *t, kk_err_t *err) {
  const char *name = NULL;
  if (cell_arg(pos, verb, &name, err) < 0 || kk_cli_connect(cli, verb, false, no_daemon, &t->api, err) < 0)
    return -1;
  t->ref = cell_ref(scope, name);
  fflush(cli->out);
  return 0;
}

/* After an attach session the monitor closed: the container's exit, or -1
 * when it still runs (the session was dropped: a reader more than 1 MiB
 * behind the output).  With wait, the rest of the output is printed and the
 * exit awaited instead. */
static int exit_after_attach(struct kk_api *api, const struct kk_ref *ref, const char *container, bool wait,
                             kk_err_t *err) {
  struct kk_log_opts lo = {.follow = wait, .tail = 0};
  struct kk_ctl_exit ex = {0};
  int r = kk_api_log(api, ref, container, &lo, STDOUT_FILENO, STDERR_FILENO, &ex, err);
  kk_ctl_exit_free(&ex);
  if (r < 0)
    return -1;
  if (!ex.exited)
    return kk_error_kind(err, KK_ERR_UNAVAILABLE, 0,
                         "the attach session ended before the container did (output not read fast enough, or its "
                         "monitor is gone)");
  return ex.code;
}

static int log_run(void *ctx, const struct kk_cmdline *cl, int *status, kk_err_t *err) {
  struct kk_cli *cli = KK_CLI(ctx);
  const char *tail_s = kk_cmdline_str(cl, "tail");
  long tail = -1;
  char *end = NULL;
  if (tail_s && ((tail = strtol(tail_s, &end, 10)) < 0 || *end != '\0' || end == tail_s))
    return kk_error_kind(err, KK_ERR_INVALID, 0, "invalid --tail \"%s\": expected a number of lines", tail_s);
  struct target t = {0};
  int r = target_of(cli, "log", &cl->args, kk_cli_scope(cl), kk_cmdline_bool(cl, "no-daemon"), &t, err);
  if (r == 0) {
    struct kk_log_opts lo = {.follow = kk_cmdline_bool(cl, "follow"), .timestamps = kk_cmdline_bool(cl, "timestamps"),
                             .tail = tail};
    struct kk_ctl_exit ex = {0};
    r = kk_api_log(t.api, &t.ref, kk_cmdline_str(cl, "container"), &lo, STDOUT_FILENO, STDERR_FILENO, &ex, err);
    kk_ctl_exit_free(&ex);
  }
  target_free(&t);
  return r;
}

static const struct kk_flag log_flags[] = {
    KK_SCOPE_FLAGS,
    {"tail", 0, KK_FLAG_STRING, NULL, "only the last N lines", false},
    {"timestamps", 't', KK_FLAG_BOOL, NULL, "prefix each line with its time", false},
    {"container", 0, KK_FLAG_STRING, NULL, "container (default: the cell's only non-root container)", false},
    {"follow", 'f', KK_FLAG_BOOL, NULL, "keep printing new output until the container exits", false},
    KK_NO_DAEMON_FLAG,
};

const struct kk_cmd kk_cli_cmd_log = {
    .name = "log",
    .aliases = {"logs"},
    .flags = log_flags,
    .n_flags = KK_ARRAY_SIZE(log_flags),
    .args = "[cell] NAME",
    .min_args = 1,
    .max_args = 2,
    .usage = "log [-f] [--container C] CELL [flags]",
    .summary = "Print (or follow) a container's output",
    .details = "Print a container's output (stdout and stderr). The log is kept by the container's monitor, one "
               "generation of rotation (log.1).",
    .run = log_run,
};

/* ------------------------------------------------------------- attach */

static int attach_run(void *ctx, const struct kk_cmdline *cl, int *status, kk_err_t *err) {
  struct kk_cli *cli = KK_CLI(ctx);
  struct target t = {0};
  cleanup_free char *id = NULL;
  bool tty = false;
  cleanup_close int sock = -1;
  int r = target_of(cli, "attach", &cl->args, kk_cli_scope(cl), kk_cmdline_bool(cl, "no-daemon"), &t, err);
  if (r == 0)
    r = kk_api_attach(t.api, &t.ref, kk_cmdline_str(cl, "container"), &sock, &id, &tty, err);
  if (r == 0) {
    int a = kk_attach_session(sock, STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO, &(struct kk_attach_opts){.tty = tty}, NULL, err);
    r = a > 0 || (a == KK_ATTACH_ENDED && exit_after_attach(t.api, &t.ref, id, false, err) >= 0) ? 0 : -1;
  }
  target_free(&t);
  return r;
}

static const struct kk_flag attach_flags[] = {
    KK_SCOPE_FLAGS,
    {"container", 0, KK_FLAG_STRING, NULL, "container (default: the cell's only non-root container)", false},
    KK_NO_DAEMON_FLAG,
};

const struct kk_cmd kk_cli_cmd_attach = {
    .name = "attach",
    .aliases = {"att"},
    .flags = attach_flags,
    .n_flags = KK_ARRAY_SIZE(attach_flags),
    .args = "[cell] NAME",
    .min_args = 1,
    .max_args = 2,
    .usage = "attach CELL [--container C] [flags]",
    .summary = "Attach to a running container (detach: Ctrl-] Ctrl-])",
    .details = "Attach the terminal to a running container: its output, and your input. Detach with Ctrl-] Ctrl-] "
               "(the container keeps running). Containers with attachable: true have a pty.",
    .run = attach_run,
};

/* --------------------------------------------------------------- exec */

static int exec_run(void *ctx, const struct kk_cmdline *cl, int *status, kk_err_t *err) {
  struct kk_cli *cli = KK_CLI(ctx);
  const struct kk_strv *pos = &cl->args;
  if (pos->n < 2)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "exec needs a cell and a command: kuke exec CELL [flags] -- CMD [ARG...]");
  struct kk_strv name = {pos->v, 1}, argv = {pos->v + 1, pos->n - 1};
  struct target t = {0};
  struct kk_ctl_exec x = {
      .container = kk_cmdline_str(cl, "container"),
      .argv = &argv,
      .env = kk_cmdline_strv(cl, "env"),
      .user = kk_cmdline_str(cl, "user"),
      .cwd = kk_cmdline_str(cl, "workdir"),
      .tty = kk_cmdline_bool(cl, "tty"),
      .interactive = kk_cmdline_bool(cl, "interactive"),
  };
  int code = 0;
  int r = target_of(cli, "exec", &name, kk_cli_scope(cl), kk_cmdline_bool(cl, "no-daemon"), &t, err);
  if (r == 0)
    r = kk_api_exec(t.api, &t.ref, &x, STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO, &code, err);
  target_free(&t);
  if (r == 0)
    *status = code;
  return r;
}

static const struct kk_flag exec_flags[] = {
    KK_SCOPE_FLAGS,
    {"container", 0, KK_FLAG_STRING, NULL, "container (default: the cell's only non-root container)", false},
    {"interactive", 'i', KK_FLAG_BOOL, NULL, "keep stdin open: your input goes to the command", false},
    {"tty", 't', KK_FLAG_BOOL, NULL, "run the command on a terminal (raw mode and window size from yours)", false},
    {"env", 'e', KK_FLAG_STRINGS, NULL, "K=V added to the container's environment (repeatable)", false},
    {"user", 'u', KK_FLAG_STRING, NULL, "user[:group] or uid[:gid] in the container (default: the container's)", false},
    {"workdir", 'w', KK_FLAG_STRING, NULL, "working directory in the container (default: the container's)", false},
    KK_NO_DAEMON_FLAG,
};

const struct kk_cmd kk_cli_cmd_exec = {
    .name = "exec",
    .flags = exec_flags,
    .n_flags = KK_ARRAY_SIZE(exec_flags),
    .args = "CELL -- CMD...",
    .min_args = 2,
    .max_args = KK_CMD_ANY,
    .usage = "exec CELL [--container C] [-i] [-t] [-e K=V]... [-u USER] [-w DIR] -- CMD [ARG...]",
    .summary = "Run a command in a running container",
    .details = "Run a command in a running container of a cell, as runc exec does: in the container's namespaces and "
               "cgroup, with its user, environment and capabilities unless -u, -e and -w say otherwise. Its output "
               "(and with -i your input) goes through kukeond's socket, so exec works over a forwarded socket or "
               "--host ssh:// too. Ctrl-C, SIGTERM and SIGHUP are passed on to the command (with -t, Ctrl-C is a "
               "key the terminal turns into SIGINT). kuke exec exits with the command's exit code, 128+N when it "
               "was killed by signal N. Flags go before --.",
    .run = exec_run,
};

/* ---------------------------------------------------------------- run */

struct run_opts {
  struct kk_ref scope;
  const char *image, *command, *name, *file, *container, *memory;
  const struct kk_strv *publish; /* -p: docker's [hostIP:]hostPort:containerPort[/proto] */
  bool detach, rm, no_daemon, ignore_disk_pressure;
};

static struct kk_doc *image_cell(const char *name, const struct run_opts *o, const struct kk_strv *cmdline, bool tty,
                                 struct kk_opt_i64 memory) {
  struct kk_ref scope = o->scope;
  const char *image = o->image, *command = o->command;
  bool rm = o->rm;
  struct kk_doc *doc = kk_doc_new(KK_KIND_CELL);
  doc->file = kk_xstrdup("<command line>");
  struct kk_cell *c = &doc->u.cell;
  c->metadata.name = kk_xstrdup(name);
  c->spec.realm_id = kk_xstrdup(or_default(scope.realm));
  c->spec.space_id = kk_xstrdup(or_default(scope.space));
  c->spec.stack_id = kk_xstrdup(or_default(scope.stack));
  c->spec.auto_delete = rm;
  c->spec.containers = kk_xzalloc(sizeof(*c->spec.containers));
  c->spec.n_containers = 1;
  struct kk_container_spec *ct = &c->spec.containers[0];
  /* One container owns the cell's namespaces itself: no pause root to
   * start for a one-shot command. */
  ct->id = kk_xstrdup("main");
  ct->root = true;
  ct->image = kk_xstrdup(image);
  ct->attachable = tty;
  ct->resources.memory_limit_bytes = memory;
  for (size_t i = 0; o->publish && i < o->publish->n; i++)
    kk_strv_push(&ct->ports, o->publish->v[i]);
  if (cmdline->n > 0) {
    ct->command = kk_xstrdup(cmdline->v[0]);
    for (size_t i = 1; i < cmdline->n; i++)
      kk_strv_push(&ct->args, cmdline->v[i]);
  } else if (!kk_empty(command)) {
    ct->command = kk_xstrdup(command);
  } else if (tty) {
    ct->command = kk_xstrdup("/bin/sh");
  }
  return doc;
}

/* Read the one Cell document of run -f; create it unless it exists. */
static int run_file_cell(struct kk_api *api, const struct run_opts *o, struct kk_doc **doc, struct kk_ref *ref,
                         kk_err_t *err) {
  cleanup_free char *buf = NULL;
  size_t len = 0;
  cleanup_doc_list struct kk_doc_list docs = {0};
  int fr = strcmp(o->file, "-") == 0 ? kk_read_fd(STDIN_FILENO, KK_MAX_MANIFEST_BYTES, "stdin", &buf, &len, err)
                                     : kk_read_file_at(AT_FDCWD, o->file, KK_MAX_MANIFEST_BYTES, &buf, &len, err);
  if (fr < 0 || kk_docs_parse(buf, len, o->file, &docs, err) < 0)
    return -1;
  if (docs.n != 1 || docs.docs[0]->kind != KK_KIND_CELL)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "%s: run -f takes exactly one Cell document", o->file);
  *doc = docs.docs[0];
  docs.n = 0;
  if (o->rm)
    (*doc)->u.cell.spec.auto_delete = true;
  struct kk_ref want = kk_ref_of(*doc);
  *ref = cell_ref((struct kk_ref){.realm = want.realm, .space = want.space, .stack = want.stack}, want.name);
  cleanup_doc struct kk_doc *live = NULL;
  kk_err_t e = NULL;
  if (kk_api_get(api, ref, &live, &e) == 0)
    return 0; /* run never changes a live cell */
  if (e->kind != KK_ERR_NOT_FOUND) {
    *err = e;
    return -1;
  }
  kk_error_free(&e);
  struct kk_report rep = {0};
  int r = kk_api_create(api, *doc, &rep, err);
  kk_report_free(&rep);
  return r;
}

static void delete_quietly(struct kk_api *api, const struct kk_ref *ref) {
  struct kk_report rep = {0};
  kk_err_t e = NULL;
  kk_api_delete(api, ref, true, true, &rep, &e);
  kk_error_free(&e);
  kk_report_free(&rep);
}

/* Follow the started cell's container: a terminal attached when both
 * sides have one, else its output; its exit code (or 0 on detach). */
static int run_follow(struct kk_cli *cli, struct kk_api *api, const struct run_opts *o, const struct kk_ref *ref,
                      kk_err_t *err) {
  const char *container = o->file ? o->container : NULL;
  fflush(cli->out);
  int code = -1;
  cleanup_free char *id = NULL;
  bool tty = false;
  cleanup_close int sock = -1;
  /* The container says whether it has a terminal; asked only with one here. */
  if (isatty(STDIN_FILENO) && kk_api_attach(api, ref, container, &sock, &id, &tty, err) < 0) {
    if ((*err)->kind != KK_ERR_UNAVAILABLE) /* not running any more: its log tells */
      return -1;
    kk_error_free(err);
  }
  if (tty) {
    int a = kk_attach_session(sock, STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO, &(struct kk_attach_opts){.tty = true}, NULL, err);
    if (a < 0)
      return -1;
    if (a == KK_ATTACH_DETACHED || a == KK_ATTACH_SIGNALED)
      return 0;
    code = exit_after_attach(api, ref, id, true, err);
  } else {
    /* Ctrl-C and SIGTERM go to the container, which decides (docker's sig-proxy). */
    struct kk_log_opts lo = {.follow = true, .tail = -1, .forward_signals = true};
    struct kk_ctl_exit ex = {0};
    int r = kk_api_log(api, ref, container, &lo, STDOUT_FILENO, STDERR_FILENO, &ex, err);
    code = r < 0 ? -1 : ex.exited ? ex.code : -2;
    if (code == -2)
      kk_error_kind(err, KK_ERR_INTERNAL, 0, "container \"%s\" of cell \"%s\": exit status unknown", ex.container_id,
                    ref->name);
    kk_ctl_exit_free(&ex);
  }
  if (code < 0)
    return -1;
  if (o->rm) {
    struct kk_report drep = {0};
    int r = kk_api_delete(api, ref, true, true, &drep, err);
    kk_report_free(&drep);
    if (r < 0)
      return -1;
  }
  return code;
}

static int run(struct kk_cli *cli, const struct run_opts *o, const struct kk_strv *pos, kk_err_t *err) {
  int sources = (o->image != NULL) + (o->file != NULL) + (pos->n > 0 && !o->image);
  if (sources != 1)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "run needs exactly one of --image, -f FILE or a cell name");
  struct kk_opt_i64 memory = {.set = o->memory != NULL};
  if (o->memory && !o->image)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "flag --memory: only with --image (a manifest sets memoryLimitBytes)");
  if (o->memory && kk_parse_quantity_bytes(o->memory, &memory.v, err) < 0)
    return kk_error_wrap(err, "flag --memory");
  if (o->publish && o->publish->n > 0 && !o->image)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "flag --publish: only with --image (a manifest sets ports)");
  cleanup_api struct kk_api *api = NULL;
  if (kk_cli_connect(cli, "run", false, o->no_daemon, &api, err) < 0)
    return -1;
  kk_api_set_ignore_disk_pressure(api, o->ignore_disk_pressure);
  cleanup_free char *gen = NULL;
  cleanup_doc struct kk_doc *doc = NULL;
  struct kk_ref ref = {0};
  const char *name = NULL;
  if (o->image) {
    bool want_tty = !o->detach && isatty(STDIN_FILENO) && pos->n == 0 && kk_empty(o->command);
    const char *cell = o->name ? o->name : (gen = kk_cli_generated_name(o->image));
    doc = image_cell(cell, o, pos, want_tty, memory);
    struct kk_report rep = {0};
    int r = kk_api_create(api, doc, &rep, err);
    kk_report_free(&rep);
    if (r < 0)
      return -1;
    ref = cell_ref(o->scope, kk_doc_name(doc));
  } else if (o->file) {
    if (run_file_cell(api, o, &doc, &ref, err) < 0)
      return -1;
  } else {
    if (cell_arg(pos, "run", &name, err) < 0)
      return -1;
    ref = cell_ref(o->scope, name);
  }
  struct kk_report rep = {0};
  int r = kk_api_cell_op(api, &ref, KK_CELL_START, &rep, err);
  kk_report_free(&rep);
  if (r < 0) {
    if (o->image || o->rm)
      delete_quietly(api, &ref);
    return -1;
  }
  if (o->detach) {
    fprintf(cli->out, "Cell \"%s\" (realm \"%s\", space \"%s\", stack \"%s\")\n  - containers: started\n", ref.name,
            ref.realm, ref.space, ref.stack);
    return 0;
  }
  return run_follow(cli, api, o, &ref, err);
}

static int run_run(void *ctx, const struct kk_cmdline *cl, int *status, kk_err_t *err) {
  struct run_opts o = {
      .scope = kk_cli_scope(cl),
      .image = kk_cmdline_str(cl, "image"),
      .command = kk_cmdline_str(cl, "command"),
      .name = kk_cmdline_str(cl, "name"),
      .file = kk_cmdline_str(cl, "file"),
      .container = kk_cmdline_str(cl, "container"),
      .memory = kk_cmdline_str(cl, "memory"),
      .publish = kk_cmdline_strv(cl, "publish"),
      .detach = kk_cmdline_bool(cl, "detach"),
      .rm = kk_cmdline_bool(cl, "rm"),
      .no_daemon = kk_cmdline_bool(cl, "no-daemon"),
      .ignore_disk_pressure = kk_cmdline_bool(cl, "ignore-disk-pressure"),
  };
  int code = run(KK_CLI(ctx), &o, &cl->args, err);
  if (code < 0)
    return -1;
  *status = code;
  return 0;
}

static const struct kk_flag run_flags[] = {
    KK_SCOPE_FLAGS,
    {"file", 'f', KK_FLAG_STRING, NULL, "a single-cell manifest (or -): create it unless it exists, then start", false},
    {"image", 0, KK_FLAG_STRING, NULL, "run one container of this image", false},
    {"command", 0, KK_FLAG_STRING, NULL, "with --image: the command (default: the image's; /bin/sh on a terminal)", false},
    {"name", 0, KK_FLAG_STRING, NULL, "with --image: the cell's name (default <image>-<6 hex>)", false},
    {"container", 0, KK_FLAG_STRING, NULL, "with -f: the container to follow (default: the only non-root one)", false},
    {"memory", 'm', KK_FLAG_STRING, NULL, "with --image: memory limit, bytes or a quantity (64Mi, 1G)", false},
    {"publish", 'p', KK_FLAG_STRINGS, NULL, "with --image: publish a port, [hostIP:]hostPort:containerPort[/tcp|udp] (repeatable)", false},
    {"detach", 'd', KK_FLAG_BOOL, NULL, "start and return; do not follow the output", false},
    {"rm", 0, KK_FLAG_BOOL, NULL, "delete the cell once the container exits", false},
    {"ignore-disk-pressure", 0, KK_FLAG_BOOL, NULL, "create the cell even when its disk is under pressure", false},
    KK_NO_DAEMON_FLAG,
};

const struct kk_cmd kk_cli_cmd_run = {
    .name = "run",
    .flags = run_flags,
    .n_flags = KK_ARRAY_SIZE(run_flags),
    .args = "[CELL | -- CMD...]",
    .max_args = KK_CMD_ANY,
    .usage = "run (--image IMG [-p PORTS]... [-- CMD...] | -f FILE | CELL) [-d] [--rm] [flags]",
    .summary = "Create and start a cell, follow it, exit with its exit code",
    .details = "Create (if needed) and start a cell, then follow its container until it exits. Without -d, kuke run "
               "streams the container's output (or attaches a terminal when stdin is one and the container is "
               "attachable) and exits with the container's exit code, 128+N when it was killed by signal N.",
    .run = run_run,
};

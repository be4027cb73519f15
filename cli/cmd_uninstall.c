/* kuke uninstall: everything kukeon made on this host goes, the binaries
 * stay.  In-process, as root: the kukeond cell is reset first (the daemon
 * must not act while its state goes), then every realm is purged
 * (controller/uninstall.c); only when all of them went do the runtime dir,
 * the run path, the group and the systemd unit follow. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/system.h"
#include "lib/fs.h"
#include "lib/spawn.h"

#ifndef KUKEON_SYSTEMD_UNIT_DIR
#define KUKEON_SYSTEMD_UNIT_DIR "/usr/local/lib/systemd/system"
#endif
#define UNIT "kukeond.service"
/* A distribution package (debian/rules) owns the build's unit file: it goes
 * with the package; uninstall only disables it. */
#ifdef KUKEON_UNIT_PACKAGED
#define UNIT_PACKAGED true
#else
#define UNIT_PACKAGED false
#endif
#define STOP_TIMEOUT_MS 10000
#define SYSTEMCTL_TIMEOUT_MS 30000
#define SKIPPED "skipped (realm purge failed)"

struct uninstall {
  struct kk_cli *cli;
  struct kk_cli_system sys;
  struct kk_api *api; /* NULL: neither run path nor runtime dir is there */
  char *runtime_dir;
  char *unit;         /* the unit file make install wrote */
  bool ask_systemd;   /* the unit dir is the build's, not $KUKEON_SYSTEMD_UNIT_DIR */
};

static void uninstall_free(struct uninstall *u) {
  kk_cli_system_free(&u->sys);
  kk_api_close(u->api);
  free(u->runtime_dir);
  free(u->unit);
}

static bool exists(const char *path) { return access(path, F_OK) == 0 || errno != ENOENT; }

static int open_host(void *ctx, const struct kk_cmdline *cl, struct uninstall *u, kk_err_t *err) {
  u->cli = KK_CLI(ctx);
  /* if_present: a host without a run path gets no new one. */
  if (kk_cli_system_open(u->cli, cl, "uninstall", true, &u->sys, &u->api, err) < 0)
    return -1;
  u->runtime_dir = kk_cli_runtime_dir(u->cli);
  if (u->api == NULL && u->runtime_dir && exists(u->runtime_dir) &&
      kk_cli_connect(u->cli, "uninstall", true, true, &u->api, err) < 0)
    return -1;
  const char *dir = getenv("KUKEON_SYSTEMD_UNIT_DIR");
  u->ask_systemd = kk_empty(dir);
  u->unit = kk_asprintf("%s/" UNIT, u->ask_systemd ? KUKEON_SYSTEMD_UNIT_DIR : dir);
  return 0;
}

static bool group_exists(const struct uninstall *u) { return getgrnam(u->sys.group) != NULL; }

/* The unit file is uninstall's to remove (not the package's). */
static bool unit_ours(const struct uninstall *u) { return exists(u->unit) && !(u->ask_systemd && UNIT_PACKAGED); }

static bool anything_there(const struct uninstall *u) {
  return u->api || exists(u->sys.socket) || group_exists(u) || unit_ours(u);
}

/* What will go; then the question.  true: the answer was yes. */
static int confirm(struct uninstall *u, bool *yes, kk_err_t *err) {
  FILE *out = u->cli->out;
  struct kk_report plan = {0};
  if (u->api && kk_api_uninstall_plan(u->api, &plan, err) < 0) {
    kk_report_free(&plan);
    return -1;
  }
  fprintf(out, "kuke uninstall will remove:\n");
  fprintf(out, "  - the kukeond cell, its socket %s and pid file\n", u->sys.socket);
  kk_print_report(out, &plan);
  kk_report_free(&plan);
  if (group_exists(u))
    fprintf(out, "  - group \"%s\"\n", u->sys.group);
  if (unit_ours(u))
    fprintf(out, "  - systemd unit %s\n", u->unit);
  fprintf(out, "The kukeon binaries are kept.\nAre you sure? (yes/no) ");
  fflush(out);
  char line[64] = "";
  bool got = fgets(line, sizeof(line), stdin) != NULL;
  line[strcspn(line, "\r\n")] = '\0';
  *yes = got && (strcasecmp(line, "yes") == 0 || strcasecmp(line, "y") == 0);
  if (!got)
    fputc('\n', out);
  return 0;
}

static void remove_group(struct uninstall *u, size_t *failed) {
  bool removed = false;
  kk_err_t e = NULL;
  if (kk_cli_system_remove_group(u->sys.group, &removed, &e) < 0) {
    fprintf(u->cli->out, "  - group \"%s\": FAILED: %s\n", u->sys.group, e->msg);
    kk_error_free(&e);
    ++*failed;
  } else if (removed) {
    fprintf(u->cli->out, "  - group \"%s\": removed\n", u->sys.group);
  }
}

/* systemctl, when there is one: its exit status, or -1 (not run). */
static int systemctl(const char *verb, const char *arg, char **output) {
  const char *argv[] = {"systemctl", verb, arg, NULL};
  int st = 0;
  kk_err_t e = NULL;
  if (kk_spawn_output(argv, SYSTEMCTL_TIMEOUT_MS, output, &st, &e) < 0) {
    kk_error_free(&e);
    return -1;
  }
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Disabled first when systemd knows it (only for the build's unit dir:
 * tests point $KUKEON_SYSTEMD_UNIT_DIR elsewhere and never reach the
 * host's systemd), then the file. */
static void remove_unit(struct uninstall *u, size_t *failed) {
  if (!exists(u->unit))
    return;
  FILE *out = u->cli->out;
  cleanup_free char *known = NULL, *disabled = NULL, *reloaded = NULL;
  if (u->ask_systemd && systemctl("list-unit-files", UNIT, &known) == 0 && known && strstr(known, UNIT)) {
    int rc = systemctl("disable", UNIT, &disabled);
    fprintf(out, "  - systemd unit %s: %s\n", UNIT, rc == 0             ? "disabled"
                                                     : unit_ours(u) ? "disable failed (removing it anyway)"
                                                                    : "disable failed");
  }
  if (!unit_ours(u)) {
    fprintf(out, "  - systemd unit %s: left to the package that installed it\n", u->unit);
    return;
  }
  if (unlink(u->unit) < 0 && errno != ENOENT) {
    fprintf(out, "  - systemd unit %s: FAILED: %s\n", u->unit, strerror(errno));
    ++*failed;
    return;
  }
  fprintf(out, "  - systemd unit %s: removed\n", u->unit);
  if (u->ask_systemd)
    systemctl("daemon-reload", NULL, &reloaded);
}

/* The pid in the pid file beside the socket when it is a kukeon binary's
 * (kukeond is a link of kukeon): 0 otherwise. */
static pid_t daemon_pid(const struct uninstall *u) {
  const char *slash = strrchr(u->sys.socket, '/');
  cleanup_free char *pidfile = kk_asprintf("%.*s/kukeond.pid", (int)(slash - u->sys.socket), u->sys.socket);
  cleanup_free char *text = NULL, *exe = NULL;
  size_t len = 0;
  kk_err_t e = NULL;
  if (kk_read_file_at(AT_FDCWD, pidfile, 64, &text, &len, &e) < 0) {
    kk_error_free(&e);
    return 0;
  }
  long pid = strtol(text, NULL, 10);
  if (pid <= 1)
    return 0;
  cleanup_free char *link = kk_asprintf("/proc/%ld/exe", pid);
  exe = realpath(link, NULL);
  const char *base = exe ? strrchr(exe, '/') + 1 : "";
  return kk_has_prefix(base, "kukeon") ? (pid_t)pid : 0;
}

/* Running (a zombie, not yet reaped by its parent, has no exe link). */
static bool alive(pid_t pid) {
  char link[64], target[16];
  snprintf(link, sizeof(link), "/proc/%ld/exe", (long)pid);
  return readlink(link, target, sizeof(target)) >= 0;
}

/* A kukeond that is not the cell's (started by hand, or by an older
 * kukeon) but serves this socket: SIGTERM, SIGKILL after the timeout. */
static void stop_other_daemon(struct uninstall *u, enum kk_system_state st) {
  pid_t pid = st == KK_SYSTEM_ABSENT && kk_cli_system_answers(&u->sys) ? daemon_pid(u) : 0;
  if (pid == 0 || kill(pid, SIGTERM) < 0)
    return;
  int64_t deadline = kk_monotonic_ms() + STOP_TIMEOUT_MS;
  while (alive(pid) && kk_monotonic_ms() < deadline)
    poll(NULL, 0, 50);
  bool killed = alive(pid) && kill(pid, SIGKILL) == 0;
  fprintf(u->cli->out, "kukeond (pid %ld, not the kukeond cell) %s\n", (long)pid, killed ? "killed" : "stopped");
}

/* The cell stopped and removed, every realm purged, then the files. */
static int tear_down(struct uninstall *u, size_t *realms_failed, size_t *failed, kk_err_t *err) {
  FILE *out = u->cli->out;
  enum kk_system_state st = KK_SYSTEM_ABSENT;
  bool found = false;
  if (u->api && kk_api_system_state(u->api, &st, err) < 0)
    return kk_error_wrap(err, "stop kukeond");
  stop_other_daemon(u, st);
  if (kk_cli_system_reset(&u->sys, u->api, st, STOP_TIMEOUT_MS, false, out, &found, err) < 0)
    return kk_error_wrap(err, "stop kukeond");
  fprintf(out, "Removing kukeon:\n");
  struct kk_report rep = {0};
  int r = u->api ? kk_api_uninstall(u->api, &rep, realms_failed, failed, err) : 0;
  kk_print_report(out, &rep);
  kk_report_free(&rep);
  if (r < 0)
    return -1;
  if (*realms_failed > 0) {
    fprintf(out, "  - group \"%s\": " SKIPPED "\n", u->sys.group);
    if (exists(u->unit))
      fprintf(out, "  - systemd unit %s: " SKIPPED "\n", u->unit);
    return 0;
  }
  remove_group(u, failed);
  remove_unit(u, failed);
  return 0;
}

static int uninstall_run(void *ctx, const struct kk_cmdline *cl, int *status, kk_err_t *err) {
  KK_CLEANUP(uninstall_free) struct uninstall u = {0};
  if (open_host(ctx, cl, &u, err) < 0)
    return -1;
  if (!anything_there(&u)) {
    fprintf(u.cli->out, "Nothing to uninstall: no run path, runtime dir, kukeond socket, group \"%s\" or systemd "
                        "unit of kukeon on this host\n",
            u.sys.group);
    return 0;
  }
  bool yes = kk_cmdline_bool(cl, "yes");
  if (!yes && confirm(&u, &yes, err) < 0)
    return -1;
  if (!yes) {
    fprintf(u.cli->out, "Aborted.\n");
    *status = 1;
    return 0;
  }
  size_t realms_failed = 0, failed = 0;
  if (tear_down(&u, &realms_failed, &failed, err) < 0)
    return -1;
  if (realms_failed > 0)
    return kk_error_kind(err, KK_ERR_INTERNAL, 0,
                         "uninstall incomplete: %zu realm(s) could not be purged; the runtime dir, run path, group "
                         "and systemd unit were kept (see above)",
                         realms_failed);
  if (failed > 0)
    return kk_error_kind(err, KK_ERR_INTERNAL, 0, "uninstall incomplete: %zu item(s) could not be removed (see above)",
                         failed);
  fprintf(u.cli->out, "kukeon is uninstalled; its binaries were kept\n");
  return 0;
}

static const struct kk_flag uninstall_flags[] = {
    {"yes", 'y', KK_FLAG_BOOL, NULL, "do not ask for confirmation", false},
    KK_CLI_SERVER_CONFIG_FLAG,
    {"no-daemon", 0, KK_FLAG_BOOL, NULL, "accepted: uninstall always runs in-process, as root", false},
};

const struct kk_cmd kk_cli_cmd_uninstall = {
    .name = "uninstall",
    .flags = uninstall_flags,
    .n_flags = KK_ARRAY_SIZE(uninstall_flags),
    .summary = "Remove everything kukeon made on this host; keep the binaries",
    .details = "Lists what it will remove and asks \"Are you sure? (yes/no)\" (yes or y goes on; anything else, or "
               "end of input, prints \"Aborted.\" and exits non-zero); -y skips the question. Then: the kukeond cell "
               "is stopped and removed with its socket and pid file, every realm (the stored ones, default and "
               "kuke-system) is purged as by `kuke purge realm --cascade --force`, kukeon's firewall chains go; "
               "then the runtime dir and the run path (mounts under them first), the group ($KUKEON_GROUP, default "
               "kukeon) and the kukeond.service unit `make install` wrote (disabled first when systemd knows it; "
               "$KUKEON_SYSTEMD_UNIT_DIR names another unit dir, never handed to systemctl). A realm that could "
               "not be purged keeps all of those and makes the exit non-zero. A host with nothing of kukeon says "
               "so and exits 0.",
    .run = uninstall_run,
};

/* The kukeond cell from kuke's side: the ServerConfiguration and socket it
 * is started with, the socket's group, and waiting until it answers. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/args.h"
#include "cli/system.h"
#include "lib/fs.h"
#include "lib/spawn.h"

#define DEFAULT_SERVER_CONFIG "/etc/kukeon/kukeond.yaml"
#define DEFAULT_SOCKET "/run/kukeon/kukeond.sock"
#define TOOL_TIMEOUT_MS 30000

void kk_cli_system_free(struct kk_cli_system *s) {
  kk_server_config_free(&s->file);
  free(s->config_path);
  free(s->socket);
}

static const char *nonempty_env(const char *name) {
  const char *v = getenv(name);
  return v && *v ? v : NULL;
}

/* A missing file is the built-ins; an unreadable or invalid one an error. */
static int read_server_config(const struct kk_cmdline *cl, struct kk_cli_system *s, kk_err_t *err) {
  const char *path = kk_cmdline_str(cl, "server-configuration");
  if (path == NULL)
    path = nonempty_env("KUKEOND_CONFIGURATION");
  if (path == NULL)
    path = DEFAULT_SERVER_CONFIG;
  cleanup_free char *buf = NULL;
  size_t len = 0;
  kk_err_t e = NULL;
  if (kk_read_file_at(AT_FDCWD, path, 1 << 20, &buf, &len, &e) < 0) {
    bool missing = e->errnum == ENOENT;
    kk_error_free(&e);
    return missing ? 0 : kk_error_kind(err, KK_ERR_INVALID, 0, "read server configuration %s: unreadable", path);
  }
  if (kk_server_config_parse(buf, len, path, &s->file, err) < 0)
    return -1;
  s->config_path = realpath(path, NULL);
  if (s->config_path == NULL)
    return kk_error(err, errno, "server configuration %s", path);
  return 0;
}

/* What kuke's own flags, environment and ClientConfiguration left unset. */
static void apply_server_config(struct kk_cli *cli, const struct kk_server_config *f) {
  if (!cli->run_path_explicit && f->run_path)
    cli->run_path = f->run_path;
  if (cli->cgroup_root == NULL)
    cli->cgroup_root = f->cgroup_root;
  if (cli->ns_suffix == NULL)
    cli->ns_suffix = f->ns_suffix;
  if (cli->pod_subnet == NULL)
    cli->pod_subnet = f->pod_subnet;
  if (cli->cni_path == NULL)
    cli->cni_path = f->cni_path;
  if (cli->cni_cache_dir == NULL)
    cli->cni_cache_dir = f->cni_cache_dir;
  if (cli->cni_lease_dir == NULL)
    cli->cni_lease_dir = f->cni_lease_dir;
}

static char *listen_socket(const struct kk_cli *cli, const struct kk_server_config *f) {
  const char *env = nonempty_env("KUKEOND_SOCKET");
  if (env)
    return kk_xstrdup(env);
  if (f->socket)
    return kk_xstrdup(f->socket);
  if (cli->run_path_explicit && cli->run_path)
    return kk_asprintf("%s/kukeond.sock", cli->run_path);
  return kk_xstrdup(DEFAULT_SOCKET);
}

int kk_cli_system_open(struct kk_cli *cli, const struct kk_cmdline *cl, const char *sub, bool if_present,
                       struct kk_cli_system *s, struct kk_api **api, kk_err_t *err) {
  if (kk_cli_require_root(sub, err) < 0 || read_server_config(cl, s, err) < 0)
    return -1;
  apply_server_config(cli, &s->file);
  s->socket = listen_socket(cli, &s->file);
  if (s->socket[0] != '/')
    return kk_error_kind(err, KK_ERR_INVALID, 0, "kukeond socket \"%s\" must be an absolute path", s->socket);
  s->group = nonempty_env("KUKEON_GROUP");
  if (s->group == NULL)
    s->group = "kukeon";
  if (if_present && access(cli->run_path, F_OK) < 0 && errno == ENOENT)
    return 0;
  return kk_cli_connect(cli, sub, true, true, api, err);
}

bool kk_cli_system_answers(const struct kk_cli_system *s) {
  cleanup_api struct kk_api *api = NULL;
  cleanup_free char *version = NULL;
  kk_err_t e = NULL;
  bool ok = kk_api_open_remote(s->socket, &api, &e) == 0 && kk_api_ping(api, &version, &e) == 0;
  kk_error_free(&e);
  return ok;
}

/* ------------------------------------------------------------- the group */

static bool valid_group_name(const char *g) {
  size_t n = strlen(g);
  if (n == 0 || n > 32 || !(g[0] == '_' || (g[0] >= 'a' && g[0] <= 'z')))
    return false;
  return strspn(g, "abcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

static int groupadd(const char *group, kk_err_t *err) {
  char *argv[] = {"groupadd", "--system", (char *)group, NULL};
  struct kk_spawn sp = {.path = "groupadd", .argv = argv, .search = true, .in = -1, .out = 2, .err = 2};
  pid_t pid;
  int rc = kk_spawn(&sp, &pid);
  if (rc != 0)
    return kk_error(err, rc, "groupadd --system %s", group);
  int st = 0;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
    ;
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
    return kk_error_kind(err, KK_ERR_INTERNAL, 0, "groupadd --system %s failed", group);
  return 0;
}

int kk_cli_system_remove_group(const char *group, bool *removed, kk_err_t *err) {
  *removed = false;
  if (!valid_group_name(group))
    return kk_error_kind(err, KK_ERR_INVALID, 0, "invalid group name \"%s\" (KUKEON_GROUP)", group);
  if (getgrnam(group) == NULL)
    return 0;
  const char *argv[] = {"groupdel", group, NULL};
  cleanup_free char *out = NULL;
  int st = 0;
  if (kk_spawn_output(argv, TOOL_TIMEOUT_MS, &out, &st, err) < 0)
    return -1;
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
    return kk_error_kind(err, KK_ERR_INTERNAL, 0, "groupdel %s failed: %.*s", group,
                         (int)strcspn(out ? out : "", "\n"), out ? out : "");
  *removed = true;
  return 0;
}

static int ensure_group(const char *group, gid_t *gid, struct kk_report *rep, kk_err_t *err) {
  if (!valid_group_name(group))
    return kk_error_kind(err, KK_ERR_INVALID, 0, "invalid group name \"%s\" (KUKEON_GROUP)", group);
  struct group *g = getgrnam(group);
  bool created = g == NULL;
  if (created && (groupadd(group, err) < 0 || (g = getgrnam(group)) == NULL))
    return *err ? -1 : kk_error_kind(err, KK_ERR_INTERNAL, 0, "group %s: not found after groupadd", group);
  *gid = g->gr_gid;
  kk_report_line(rep, 4, "- group \"%s\": %s (gid %u)", group, created ? "created" : "already existed",
                 (unsigned)*gid);
  return 0;
}

/* ---------------------------------------------------------- bring it up */

static int wait_ready(const struct kk_cli_system *s, kk_err_t *err) {
  int64_t deadline = kk_monotonic_ms() + KK_CLI_SYSTEM_WAIT_MS;
  for (;;) {
    cleanup_api struct kk_api *api = NULL;
    cleanup_free char *version = NULL;
    kk_err_t e = NULL;
    if (kk_api_open_remote(s->socket, &api, &e) == 0 && kk_api_ping(api, &version, &e) == 0)
      return 0;
    if (kk_monotonic_ms() >= deadline) {
      kk_error_kind(err, KK_ERR_UNAVAILABLE, 0, "kukeond did not become ready: %s", e ? e->msg : "timeout");
      kk_error_free(&e);
      return -1;
    }
    kk_error_free(&e);
    poll(NULL, 0, 100);
  }
}

int kk_cli_system_check_image(const char *image, kk_err_t *err) {
  if (kk_empty(image))
    return 0;
  const char *tag = kk_has_prefix(image, KK_KUKEOND_IMAGE_REPO ":") ? image + strlen(KK_KUKEOND_IMAGE_REPO ":") : "";
  size_t n = strlen(tag);
  static const char tag_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-";
  if (n > 0 && n <= 128 && strspn(tag, tag_chars) == n)
    return 0;
  return kk_error_kind(err, KK_ERR_INVALID, 0,
                       "invalid kukeond image \"%s\": kukeond runs from this binary, as %s:<tag> (no registry)", image,
                       KK_KUKEOND_IMAGE_REPO);
}

int kk_cli_system_up(struct kk_cli_system *s, struct kk_api *api, const char *image, bool wait, struct kk_report *rep,
                     kk_err_t *err) {
  if (kk_cli_system_check_image(image, err) < 0)
    return -1;
  if (kk_empty(image))
    image = s->file.kukeond_image;
  struct kk_report perms = {0};
  gid_t gid = 0;
  if (ensure_group(s->group, &gid, &perms, err) < 0) {
    kk_report_free(&perms);
    return -1;
  }
  enum kk_system_state st = KK_SYSTEM_ABSENT;
  struct kk_system_opts o = {.socket = s->socket, .configuration = s->config_path, .socket_gid = (long)gid,
                             .image = image};
  int ret = kk_api_system_state(api, &st, err);
  o.restart = st == KK_SYSTEM_RUNNING && !kk_cli_system_answers(s);
  kk_report_line(rep, 2, "kukeond cell:");
  if (ret == 0)
    ret = kk_api_system_up(api, &o, rep, err);
  if (ret == 0 && wait && (ret = wait_ready(s, err)) == 0) {
    if (chown(s->socket, 0, gid) < 0 || chmod(s->socket, 0660) < 0)
      ret = kk_error(err, errno, "socket %s", s->socket);
    else
      kk_report_line(&perms, 4, "- socket \"%s\": chown root:%s mode 0o0660", s->socket, s->group);
  }
  kk_report_line(rep, 2, "Permissions:");
  for (size_t i = 0; i < perms.lines.n; i++)
    kk_strv_push(&rep->lines, perms.lines.v[i]);
  kk_report_free(&perms);
  return ret;
}

/* ------------------------------------------------------------ reset it */

static void remove_file(const char *path, FILE *out, bool *found) {
  if (unlink(path) < 0)
    return;
  if (out)
    fprintf(out, "removed %s\n", path);
  *found = true;
}

int kk_cli_system_reset(struct kk_cli_system *s, struct kk_api *api, enum kk_system_state state, int64_t timeout_ms,
                        bool purge, FILE *out, bool *found, kk_err_t *err) {
  bool was = false;
  bool someone_elses = state == KK_SYSTEM_ABSENT && kk_cli_system_answers(s);
  if (state != KK_SYSTEM_ABSENT && kk_api_system_stop(api, SIGTERM, timeout_ms, &was, err) < 0)
    return -1;
  struct kk_report rep = {0};
  int r = api ? kk_api_system_reset(api, purge, &rep, found, err) : 0;
  if (out)
    kk_print_report(out, &rep);
  kk_report_free(&rep);
  if (r < 0 || someone_elses)
    return r;
  const char *slash = strrchr(s->socket, '/'); /* absolute: kk_cli_system_open checked */
  cleanup_free char *pid = kk_asprintf("%.*s/kukeond.pid", (int)(slash - s->socket), s->socket);
  remove_file(s->socket, out, found);
  remove_file(pid, out, found);
  return 0;
}

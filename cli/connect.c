/* Choosing the execution mode: in-process or through kukeond. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "api/api.h"
#include "cli/args.h"

/* unix:///path -> /path; anything else is refused with a way out. */
static int host_socket_path(const char *host, const char **path, kk_err_t *err) {
  if (kk_has_prefix(host, "unix://")) {
    *path = host + strlen("unix://");
    if (**path != '/')
      return kk_error_kind(err, KK_ERR_INVALID, 0, "invalid kukeon host \"%s\": expected unix:///absolute/path", host);
    return 0;
  }
  if (kk_has_prefix(host, "ssh://"))
    return kk_error_kind(err, KK_ERR_INVALID, 0, "kukeon host \"%s\" is reached through ssh, not a local socket",
                         host);
  return kk_error_kind(err, KK_ERR_INVALID, 0,
                       "unsupported kukeon host \"%s\": expected unix:///path or ssh://[user@]host[:port][/path]",
                       host);
}

int kk_cli_socket_path(const struct kk_cli *cli, const char **path, kk_err_t *err) {
  return host_socket_path(cli->host, path, err);
}

/* In-process the runtime directory is the one the daemon would use:
 * beside the socket --host names, unless KUKEON_RUNTIME_DIR says. */
char *kk_cli_runtime_dir(const struct kk_cli *cli) {
  const char *env_rt = getenv("KUKEON_RUNTIME_DIR");
  if (!kk_empty(env_rt))
    return kk_xstrdup(env_rt);
  const char *sock = NULL;
  kk_err_t e = NULL;
  if (host_socket_path(cli->host, &sock, &e) < 0) {
    kk_error_free(&e);
    return NULL;
  }
  char *rt = kk_xstrdup(sock); /* absolute: has a '/' */
  char *slash = strrchr(rt, '/');
  slash[slash == rt ? 1 : 0] = '\0';
  return rt;
}

struct kk_controller_config kk_cli_controller_config(const struct kk_cli *cli, const char *runtime_dir) {
  return (struct kk_controller_config){
      .run_path = cli->run_path,
      .ns_suffix = cli->ns_suffix,
      .cgroup_root = cli->cgroup_root,
      .pod_subnet = cli->pod_subnet,
      .runtime_dir = runtime_dir,
      .runc = getenv("KUKEON_RUNC"),
      .cni_path = cli->cni_path,
      .cni_cache_dir = cli->cni_cache_dir,
      .cni_lease_dir = cli->cni_lease_dir,
  };
}

static bool all_of(const char *s, size_t n, const char *set) {
  for (size_t i = 0; i < n; i++)
    if (s[i] == '\0' || strchr(set, s[i]) == NULL)
      return false;
  return n > 0;
}

#define NAME_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-"

struct ssh_target {
  char *user, *host, *port, *path; /* NULL when not given */
};

static void ssh_target_free(struct ssh_target *t) {
  free(t->user);
  free(t->host);
  free(t->port);
  free(t->path);
}

/* ssh://[user@]host[:port][/socket/path].  Strict: every part reaches a
 * command line (ssh's, then a remote shell's), so nothing but plain names,
 * and nothing that starts with '-' (an ssh option). */
static int ssh_target_parse(const char *url, struct ssh_target *t, kk_err_t *err) {
  const char *s = url + strlen("ssh://"), *slash = strchr(s, '/'), *end = slash ? slash : s + strlen(s);
  const char *at = memchr(s, '@', (size_t)(end - s));
  if (at) {
    t->user = kk_xstrndup(s, (size_t)(at - s));
    s = at + 1;
  }
  const char *colon = *s == '[' ? NULL : memchr(s, ':', (size_t)(end - s));
  const char *hend = colon ? colon : end;
  if (*s == '[') { /* [v6 address] */
    const char *rb = memchr(s, ']', (size_t)(end - s));
    hend = rb ? rb + 1 : end;
    if (rb && rb + 1 < end && rb[1] == ':')
      colon = rb + 1;
  }
  t->host = kk_xstrndup(s, (size_t)(hend - s));
  if (colon)
    t->port = kk_xstrndup(colon + 1, (size_t)(end - colon - 1));
  if (slash)
    t->path = kk_xstrdup(slash);
  bool v6 = t->host[0] == '[' && all_of(t->host + 1, strlen(t->host) - 2, "0123456789abcdefABCDEF:.") &&
            t->host[strlen(t->host) - 1] == ']';
  long port = t->port ? strtol(t->port, NULL, 10) : 22;
  if ((t->user && (!all_of(t->user, strlen(t->user), NAME_CHARS) || t->user[0] == '-')) ||
      (!v6 && (!all_of(t->host, strlen(t->host), NAME_CHARS) || t->host[0] == '-')) ||
      (t->port && (!all_of(t->port, strlen(t->port), "0123456789") || port < 1 || port > 65535)) ||
      (t->path && !all_of(t->path, strlen(t->path), NAME_CHARS "/")) || (colon && !t->port[0]))
    return kk_error_kind(err, KK_ERR_INVALID, 0,
                         "invalid kukeon host \"%s\": expected ssh://[user@]host[:port][/path/to/kukeond.sock] "
                         "(names of letters, digits, '.', '_' and '-')",
                         url);
  return 0;
}

/* The OpenSSH client as the user runs it (KUKEON_SSH_COMMAND: another
 * command and its options, split on spaces), in batch mode, running
 * `kuke system dial-stdio` there. */
static void ssh_command(const struct ssh_target *t, struct kk_strv *argv) {
  const char *cmd = getenv("KUKEON_SSH_COMMAND");
  cleanup_free char *words = kk_xstrdup(kk_empty(cmd) ? "ssh" : cmd);
  char *save = NULL;
  for (char *w = strtok_r(words, " \t", &save); w; w = strtok_r(NULL, " \t", &save))
    kk_strv_push(argv, w);
  const char *fixed[] = {"-o", "BatchMode=yes", "-o", "ConnectTimeout=15"};
  for (size_t i = 0; i < KK_ARRAY_SIZE(fixed); i++)
    kk_strv_push(argv, fixed[i]);
  if (t->user) {
    kk_strv_push(argv, "-l");
    kk_strv_push(argv, t->user);
  }
  if (t->port) {
    kk_strv_push(argv, "-p");
    kk_strv_push(argv, t->port);
  }
  kk_strv_push(argv, "--");
  kk_strv_push(argv, t->host);
  kk_strv_push(argv, "kuke");
  if (t->path) {
    kk_strv_push(argv, "--host");
    kk_strv_push_owned(argv, kk_asprintf("unix://%s", t->path));
  }
  kk_strv_push(argv, "system");
  kk_strv_push(argv, "dial-stdio");
}

static int open_ssh(const char *url, struct kk_api **out, kk_err_t *err) {
  struct ssh_target t KK_CLEANUP(ssh_target_free) = {0};
  if (ssh_target_parse(url, &t, err) < 0)
    return -1;
  cleanup_strv struct kk_strv argv = {0};
  ssh_command(&t, &argv);
  return kk_api_open_ssh((const char *const *)argv.v, url, out, err);
}

int kk_cli_connect_daemon(struct kk_cli *cli, struct kk_api **out, kk_err_t *err) {
  if (kk_has_prefix(cli->host, "ssh://"))
    return open_ssh(cli->host, out, err);
  const char *path = NULL;
  if (host_socket_path(cli->host, &path, err) < 0)
    return -1;
  return kk_api_open_remote(path, out, err);
}

/* In-process kuke gives containers kukeond's default memory limit, from
 * the same ServerConfiguration (KUKEOND_CONFIGURATION, else
 * /etc/kukeon/kukeond.yaml) and environment kukeond reads. */
static int server_default_memory(int64_t *out, kk_err_t *err) {
  const char *path = getenv("KUKEOND_CONFIGURATION");
  struct kk_server_config file = {0};
  bool found = false;
  if (kk_server_config_load(kk_empty(path) ? "/etc/kukeon/kukeond.yaml" : path, &file, &found, err) < 0)
    return -1;
  int r = kk_server_default_memory(&file, NULL, NULL, out, err);
  kk_server_config_free(&file);
  return r;
}

int kk_cli_connect(struct kk_cli *cli, const char *sub, bool local, bool no_daemon, struct kk_api **out,
                   kk_err_t *err) {
  if (local || no_daemon || cli->no_daemon_env || cli->run_path_explicit) {
    if (kk_cli_require_root(sub, err) < 0)
      return -1;
    cleanup_free char *rt = kk_cli_runtime_dir(cli);
    struct kk_controller_config cfg = kk_cli_controller_config(cli, rt);
    if (kk_ctl_disk_pressure_env(&cfg, err) < 0 || /* kukeond's guard holds in-process too */
        server_default_memory(&cfg.default_memory_limit_bytes, err) < 0)
      return -1;
    return kk_api_open_local(&cfg, out, err);
  }
  return kk_cli_connect_daemon(cli, out, err);
}

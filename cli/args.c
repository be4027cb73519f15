#include "cli/args.h"

#include <ctype.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "controller/controller.h"
#include "model/model.h"

int kk_cli_prepare(void *ctx, const struct kk_cmdline *cl, kk_err_t *err) {
  struct kk_cli *cli = ctx;
  if (kk_cmdline_isset(cl, "run-path")) {
    cli->run_path = kk_cmdline_str(cl, "run-path");
    cli->run_path_explicit = true;
  }
  if (kk_cmdline_isset(cl, "host"))
    cli->host = kk_cmdline_str(cl, "host");
  if (kk_cmdline_isset(cl, "configuration"))
    cli->configuration = kk_cmdline_str(cl, "configuration");
  if (kk_cmdline_isset(cl, "verbose"))
    cli->verbose = kk_cmdline_bool(cl, "verbose");
  if (kk_cmdline_isset(cl, "log-level"))
    cli->log_level = kk_cmdline_str(cl, "log-level");
  return kk_cli_resolve(cli, err);
}

bool kk_cli_kind_word(const struct kk_cmd *self, const char *word) {
  enum kk_kind k;
  return kk_kind_parse(word, &k) == 0 && strcmp(kk_kind_lower(k), self->name) == 0;
}

enum kk_kind kk_cli_kind_of(const struct kk_cmd *kind_node) {
  enum kk_kind k = KK_KIND_REALM;
  kk_kind_parse(kind_node->name, &k);
  return k;
}

struct kk_ref kk_cli_scope(const struct kk_cmdline *cl) {
  return (struct kk_ref){.realm = kk_cmdline_str(cl, "realm"), .space = kk_cmdline_str(cl, "space"),
                         .stack = kk_cmdline_str(cl, "stack")};
}

static const char *or_default(const char *s) { return kk_empty(s) ? "default" : s; }

struct kk_ref kk_cli_named_ref(const struct kk_cmdline *cl, enum kk_kind kind, const char *name) {
  struct kk_ref scope = kk_cli_scope(cl);
  struct kk_ref ref = {.kind = kind, .name = name};
  ref.realm = kind == KK_KIND_REALM ? name : or_default(scope.realm);
  if (kind >= KK_KIND_STACK)
    ref.space = or_default(scope.space);
  if (kind >= KK_KIND_CELL)
    ref.stack = or_default(scope.stack);
  return ref;
}

int kk_cli_check_scope(const struct kk_ref *scope, kk_err_t *err) {
  const struct {
    const char *flag, *value;
    enum kk_kind kind;
  } given[] = {{"--realm", scope->realm, KK_KIND_REALM},
               {"--space", scope->space, KK_KIND_SPACE},
               {"--stack", scope->stack, KK_KIND_STACK}};
  for (size_t i = 0; i < KK_ARRAY_SIZE(given); i++)
    if (given[i].value && kk_validate_name(given[i].kind, given[i].value, err) < 0)
      return kk_error_wrap(err, "flag %s", given[i].flag);
  return 0;
}

/* ------------------------------------------------------------- resolve */

static bool env_true(const char *name) {
  const char *v = getenv(name);
  return v && (!strcmp(v, "true") || !strcmp(v, "1") || !strcmp(v, "TRUE") || !strcmp(v, "True"));
}

static const char *env(const char *name) {
  const char *v = getenv(name);
  return v && *v ? v : NULL;
}

/* The configuration file's strings must outlive the command: main owns the
 * struct kk_cli, so the parsed file is kept in a slot main frees. */
int kk_cli_resolve(struct kk_cli *cli, kk_err_t *err) {
  if (cli->run_path == NULL && env("KUKEON_RUN_PATH")) {
    cli->run_path = env("KUKEON_RUN_PATH");
    cli->run_path_explicit = true;
  }
  if (cli->host == NULL)
    cli->host = env("KUKEON_HOST");
  if (cli->configuration == NULL)
    cli->configuration = env("KUKE_CONFIGURATION");
  if (!cli->verbose)
    cli->verbose = env_true("KUKEON_VERBOSE");
  if (cli->log_level == NULL)
    cli->log_level = env("KUKEON_LOG_LEVEL");
  cli->ns_suffix = env("KUKEON_NAMESPACE_SUFFIX");
  cli->cgroup_root = env("KUKEON_CGROUP_ROOT");
  cli->pod_subnet = env("KUKEON_POD_SUBNET_CIDR");
  cli->cni_path = env("CNI_PATH");
  cli->cni_cache_dir = env("KUKEON_CNI_CACHE_DIR");
  cli->cni_lease_dir = env("KUKEON_CNI_LEASE_DIR");
  cli->no_daemon_env = env_true("KUKEON_NO_DAEMON");

  bool default_cfg = cli->configuration == NULL;
  if (default_cfg) {
    const char *home = env("HOME");
    if (home) {
      free(cli->owned_configuration);
      cli->owned_configuration = kk_asprintf("%s/.kuke/kuke.yaml", home);
      cli->configuration = cli->owned_configuration;
    }
  }
  if (cli->configuration) {
    /* A missing file, named or not, means the built-in defaults. */
    bool found = false;
    kk_client_config_free(&cli->file);
    if (kk_client_config_load(cli->configuration, &cli->file, &found, err) < 0)
      return -1;
    if (found) {
      /* A runPath from the file does not promote to in-process mode. */
      if (cli->run_path == NULL)
        cli->run_path = cli->file.run_path;
      if (cli->host == NULL)
        cli->host = cli->file.host;
      if (cli->log_level == NULL)
        cli->log_level = cli->file.log_level;
      if (cli->ns_suffix == NULL)
        cli->ns_suffix = cli->file.ns_suffix;
      if (cli->cgroup_root == NULL)
        cli->cgroup_root = cli->file.cgroup_root;
      if (cli->pod_subnet == NULL)
        cli->pod_subnet = cli->file.pod_subnet;
      if (cli->cni_path == NULL)
        cli->cni_path = cli->file.cni_path;
      if (cli->cni_cache_dir == NULL)
        cli->cni_cache_dir = cli->file.cni_cache_dir;
      if (cli->cni_lease_dir == NULL)
        cli->cni_lease_dir = cli->file.cni_lease_dir;
    }
  }
  if (cli->run_path == NULL)
    cli->run_path = KK_DEFAULT_RUN_PATH;
  if (cli->host == NULL)
    cli->host = "unix:///run/kukeon/kukeond.sock";
  if (cli->log_level == NULL)
    cli->log_level = "info";
  if (cli->ns_suffix == NULL)
    cli->ns_suffix = KK_DEFAULT_NS_SUFFIX;
  if (cli->cgroup_root == NULL)
    cli->cgroup_root = KK_DEFAULT_CGROUP_ROOT;
  if (cli->pod_subnet == NULL)
    cli->pod_subnet = KK_DEFAULT_POD_SUBNET;
  if (cli->run_path[0] != '/')
    return kk_error_kind(err, KK_ERR_INVALID, 0, "--run-path \"%s\" must be an absolute path", cli->run_path);
  if (kk_validate_ns_suffix(cli->ns_suffix, err) < 0 || kk_validate_cgroup_root(cli->cgroup_root, err) < 0 ||
      kk_validate_pod_subnet(cli->pod_subnet, err) < 0)
    return -1;
  enum kk_log_level lvl;
  if (kk_log_parse_level(cli->log_level, &lvl) < 0)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "invalid log level \"%s\" (supported: debug, info, warn, error)",
                         cli->log_level);
  kk_log_init(cli->verbose ? lvl : KK_LOG_OFF, "kuke");
  return 0;
}

int kk_cli_require_root(const char *sub, kk_err_t *err) {
  if (geteuid() == 0)
    return 0;
  return kk_error_kind(err, KK_ERR_PERMISSION, 0,
                       "command must run as root: `kuke %s` writes to root-owned paths — re-run with `sudo kuke %s`",
                       sub, sub);
}

/* -------------------------------------------------------------- output */

int kk_output_parse(const char *s, enum kk_output *out, kk_err_t *err) {
  if (s == NULL || !strcmp(s, "table") || !strcmp(s, ""))
    *out = KK_OUT_TABLE;
  else if (!strcmp(s, "wide"))
    *out = KK_OUT_WIDE;
  else if (!strcmp(s, "yaml"))
    *out = KK_OUT_YAML;
  else if (!strcmp(s, "json"))
    *out = KK_OUT_JSON;
  else if (!strcmp(s, "name"))
    *out = KK_OUT_NAME;
  else
    return kk_error_kind(err, KK_ERR_INVALID, 0, "invalid output format: %s (supported: yaml, json, table, wide, name)",
                         s);
  return 0;
}

void kk_table_init(struct kk_table *t, const char *const *headers, size_t n) {
  memset(t, 0, sizeof(*t));
  t->ncols = n;
  kk_table_add(t, headers);
}

void kk_table_add(struct kk_table *t, const char *const *row) {
  for (size_t i = 0; i < t->ncols; i++)
    kk_strv_push(&t->cells, row[i] && *row[i] ? row[i] : "-");
}

void kk_table_print(FILE *f, const struct kk_table *t, bool headers) {
  size_t rows = t->cells.n / t->ncols;
  size_t *w = kk_xzalloc(t->ncols * sizeof(size_t));
  for (size_t r = 0; r < rows; r++)
    for (size_t c = 0; c < t->ncols; c++) {
      size_t l = strlen(t->cells.v[r * t->ncols + c]);
      if (l > w[c])
        w[c] = l;
    }
  for (size_t r = headers ? 0 : 1; r < rows; r++) {
    for (int pass = 0; pass < (r == 0 ? 2 : 1); pass++) {
      for (size_t c = 0; c < t->ncols; c++) {
        const char *cell = t->cells.v[r * t->ncols + c];
        bool last = c + 1 == t->ncols;
        if (pass == 0) {
          fputs(cell, f);
          if (!last)
            fprintf(f, "%*s", (int)(w[c] - strlen(cell) + 2), "");
        } else {
          for (size_t k = 0; k < w[c]; k++)
            fputc('-', f);
          if (!last)
            fputs("  ", f);
        }
      }
      fputc('\n', f);
    }
  }
  free(w);
}

void kk_table_free(struct kk_table *t) { kk_strv_free(&t->cells); }

void kk_format_age(int64_t created, int64_t now, char buf[32]) {
  if (created <= 0) {
    strcpy(buf, "-");
    return;
  }
  int64_t d = now - created;
  if (d < 0)
    d = 0;
  if (d >= 86400)
    snprintf(buf, 32, "%lldd", (long long)(d / 86400));
  else if (d >= 3600)
    snprintf(buf, 32, "%lldh", (long long)(d / 3600));
  else if (d >= 60)
    snprintf(buf, 32, "%lldm", (long long)(d / 60));
  else
    snprintf(buf, 32, "%llds", (long long)d);
}

void kk_print_report(FILE *f, const struct kk_report *r) {
  if (r->title)
    fprintf(f, "%s\n", r->title);
  for (size_t i = 0; i < r->lines.n; i++)
    fprintf(f, "%s\n", r->lines.v[i]);
}

/* "<last path part of the image, tag stripped>-<6 hex>", like the Go CLI. */
char *kk_cli_generated_name(const char *image) {
  const char *last = strrchr(image, '/');
  last = last ? last + 1 : image;
  cleanup_free char *base = kk_xstrdup(last);
  char *cut = strpbrk(base, ":@");
  if (cut)
    *cut = '\0';
  for (char *p = base; *p; p++) {
    *p = (char)tolower((unsigned char)*p);
    if (!isalnum((unsigned char)*p) && *p != '-')
      *p = '-';
  }
  char *b = base;
  while (*b == '-')
    b++;
  size_t l = strlen(b);
  while (l > 0 && b[l - 1] == '-')
    b[--l] = '\0';
  unsigned char rnd[3] = {0};
  int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    if (read(fd, rnd, sizeof(rnd)) != (ssize_t)sizeof(rnd))
      memset(rnd, 0, sizeof(rnd));
    close(fd);
  }
  return kk_asprintf("%s-%02x%02x%02x", *b ? b : "cell", rnd[0], rnd[1], rnd[2]);
}

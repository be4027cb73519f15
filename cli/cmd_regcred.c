/* kuke create registry-credential REALM: upsert a pull credential into the
 * realm's spec.registryCredentials, keyed by --server, and re-apply the
 * realm through the normal apply path (kukeond, or in-process with the
 * same controller).  The password comes from stdin or a file, never from
 * the command line. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "api/api.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "lib/fs.h"

#define PASSWORD_MAX (64u << 10)

/* Whole stream or file, trailing newlines dropped (a `password\n` from a
 * file or a heredoc lands without them). */
static int read_password(const char *file, char **out, kk_err_t *err) {
  char *buf = NULL;
  size_t len = 0;
  if (file == NULL) {
    if (kk_read_fd(STDIN_FILENO, PASSWORD_MAX, "standard input", &buf, &len, err) < 0)
      return kk_error_wrap(err, "read the password from stdin");
  } else if (kk_read_file_at(AT_FDCWD, file, PASSWORD_MAX, &buf, &len, err) < 0) {
    return kk_error_wrap(err, "read --from-file \"%s\"", file);
  }
  while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
    buf[--len] = '\0';
  if (len == 0) {
    free(buf);
    return kk_error_kind(err, KK_ERR_INVALID, 0, "registry password is empty (%s)",
                         file ? "--from-file" : "--password-stdin");
  }
  if (memchr(buf, '\0', len) != NULL) {
    explicit_bzero(buf, len);
    free(buf);
    return kk_error_kind(err, KK_ERR_INVALID, 0, "registry password contains a NUL byte");
  }
  *out = buf;
  return 0;
}

/* Replace the entry with the same serverAddress ("" = the image's
 * registry), or append one. */
static void upsert(struct kk_realm *r, const char *user, const char *password, const char *server) {
  struct kk_registry_credential *c = NULL;
  for (size_t i = 0; i < r->spec.n_registry_credentials && c == NULL; i++)
    if (strcmp(r->spec.registry_credentials[i].server_address ? r->spec.registry_credentials[i].server_address : "",
               server) == 0)
      c = &r->spec.registry_credentials[i];
  if (c == NULL) {
    r->spec.registry_credentials = kk_xrealloc(r->spec.registry_credentials, (r->spec.n_registry_credentials + 1) *
                                                                                  sizeof(*r->spec.registry_credentials));
    c = &r->spec.registry_credentials[r->spec.n_registry_credentials++];
    memset(c, 0, sizeof(*c));
    c->server_address = *server ? kk_xstrdup(server) : NULL;
  }
  free(c->username);
  if (c->password)
    explicit_bzero(c->password, strlen(c->password));
  free(c->password);
  c->username = kk_xstrdup(user);
  c->password = kk_xstrdup(password);
}

/* " \t" trimmed copy. */
static char *trimmed(const char *s) {
  if (s == NULL)
    return kk_xstrdup("");
  while (*s == ' ' || *s == '\t')
    s++;
  size_t n = strlen(s);
  while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
    n--;
  return kk_xstrndup(s, n);
}

static int run(struct kk_cli *cli, const char *realm, const char *user, const char *server, const char *password,
               kk_err_t *err) {
  cleanup_api struct kk_api *api = NULL;
  if (kk_cli_connect(cli, "create", false, false, &api, err) < 0)
    return -1;
  struct kk_ref ref = {.kind = KK_KIND_REALM, .realm = realm, .name = realm};
  cleanup_doc struct kk_doc *doc = NULL;
  if (kk_api_get(api, &ref, &doc, err) < 0)
    return -1;
  /* The whole realm goes back: apply replaces the list wholesale. */
  upsert(&doc->u.realm, user, password, server);
  kk_doc_reset_status(doc);
  char *yaml = kk_doc_to_yaml(doc);
  struct kk_apply_source src = {.file = "<registry-credential>", .buf = yaml, .len = strlen(yaml)};
  struct kk_apply_result res = {0};
  int rc = kk_api_apply(api, &src, 1, &res, err);
  explicit_bzero(yaml, strlen(yaml));
  free(yaml);
  if (rc < 0)
    return -1;
  const char *shown = *server ? server : "(default: image reference)";
  const struct kk_apply_item *it = NULL;
  for (size_t i = 0; i < res.n && it == NULL; i++)
    if (res.items[i].kind == KK_KIND_REALM)
      it = &res.items[i];
  if (it && it->action == KK_APPLY_FAILED) {
    rc = kk_error_kind(err, KK_ERR_INTERNAL, 0, "apply realm \"%s\": %s", it->name, it->error ? it->error : "failed");
  } else if (it) {
    fprintf(cli->out, "Registry credential for %s (user \"%s\") applied to realm \"%s\": %s\n", shown, user, realm,
            kk_apply_action_name(it->action));
  } else {
    fprintf(cli->out, "Registry credential for %s (user \"%s\") applied to realm \"%s\"\n", shown, user, realm);
  }
  kk_apply_result_free(&res);
  return rc;
}

static int regcred_run(void *ctx, const struct kk_cmdline *cl, int *status, kk_err_t *err) {
  bool password_stdin = kk_cmdline_bool(cl, "password-stdin");
  const char *from_file = kk_cmdline_str(cl, "from-file");
  cleanup_free char *realm = cl->args.n >= 1 ? trimmed(cl->args.v[0]) : NULL;
  cleanup_free char *user = trimmed(kk_cmdline_str(cl, "username"));
  cleanup_free char *srv = trimmed(kk_cmdline_str(cl, "server"));
  if (cl->args.n < 1 || *realm == '\0')
    return kk_error_kind(err, KK_ERR_INVALID, 0, "realm name is required: create registry-credential REALM");
  if (cl->args.n > 1)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "too many arguments: create registry-credential takes one realm");
  if (kk_validate_name(KK_KIND_REALM, realm, err) < 0)
    return -1;
  if (*user == '\0')
    return kk_error_kind(err, KK_ERR_INVALID, 0, "--username is required");
  if (password_stdin && from_file)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "only one of --password-stdin or --from-file may be specified");
  if (!password_stdin && from_file == NULL)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "exactly one of --password-stdin or --from-file is required");
  char *password = NULL;
  if (read_password(password_stdin ? NULL : from_file, &password, err) < 0)
    return -1;
  int rc = run(KK_CLI(ctx), realm, user, srv, password, err);
  explicit_bzero(password, strlen(password));
  free(password);
  return rc;
}

static const struct kk_flag regcred_flags[] = {
    {"username", 0, KK_FLAG_STRING, NULL, "registry user name (required)", false},
    {"password-stdin", 0, KK_FLAG_BOOL, NULL, "read the password or token from stdin", false},
    {"from-file", 0, KK_FLAG_STRING, NULL, "read the password or token from a file", false},
    {"server", 0, KK_FLAG_STRING, NULL,
     "registry the credential is for (ghcr.io, 127.0.0.1:5000); empty matches the registry of any image", false},
};

const struct kk_cmd kk_cli_cmd_create_regcred = {
    .name = "registry-credential",
    .aliases = {"registry-cred", "regcred"},
    .flags = regcred_flags,
    .n_flags = KK_ARRAY_SIZE(regcred_flags),
    .args = "REALM",
    .max_args = KK_CMD_ANY, /* its own messages below */
    .usage = "create registry-credential REALM --username U (--password-stdin | --from-file FILE) [--server HOST]",
    .summary = "Attach registry pull credentials to a realm",
    .details = "Upserts an entry of the realm's spec.registryCredentials keyed by --server and re-applies the realm "
               "(a compatible change: nothing is recreated). Running it again for the same --server replaces that "
               "entry.\nThe password or token is read from stdin or a file, never from the command line; trailing "
               "newlines are dropped. Pulls into the realm (kuke image pull --realm, and the images of its "
               "containers) use it.",
    .run = regcred_run,
};

/* The peer policy: what a socket peer that is not root may ask for.  The
 * socket group can otherwise reach root on the host (a bind of / into a
 * container running as uid 0 is enough), so "restricted" refuses every
 * field that hands out host access; "trusted" is docker's model. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "lib/util.h"

int kk_policy_parse_mode(const char *s, enum kk_peer_mode *out, kk_err_t *err) {
  if (kk_empty(s) || strcmp(s, "restricted") == 0)
    *out = KK_PEER_RESTRICTED;
  else if (strcmp(s, "trusted") == 0)
    *out = KK_PEER_TRUSTED;
  else
    return kk_error_kind(err, KK_ERR_INVALID, 0, "invalid peer policy \"%s\" (supported: restricted, trusted)", s);
  return 0;
}

int kk_policy_allow_path(struct kk_policy *p, const char *path, kk_err_t *err) {
  if (path == NULL || path[0] != '/')
    return kk_error_kind(err, KK_ERR_INVALID, 0, "allowed host path \"%s\" must be absolute", path ? path : "");
  char real[PATH_MAX];
  if (realpath(path, real) == NULL)
    return kk_error(err, errno, "allowed host path %s", path);
  kk_strv_push(&p->allowed_host_paths, real);
  return 0;
}

void kk_policy_free(struct kk_policy *p) { kk_strv_free(&p->allowed_host_paths); }

static int refuse(kk_err_t *err, const char *who, const char *field, const char *why) {
  return kk_error_kind(err, KK_ERR_PERMISSION, 0,
                       "permission denied: %s: %s: %s is not allowed for peers other than root under the restricted "
                       "peer policy (kukeond(8), PEER POLICY)",
                       who, field, why);
}

/* `/a/b` is inside `/a` and `/a/b`, not inside `/a/bc`; `/` holds all. */
static bool path_inside(const char *path, const char *dir) {
  size_t n = strlen(dir);
  if (n == 1)
    return true;
  return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/* The path as the kernel will find it when runc binds it: symlinks are
 * resolved here so that a link inside an allowed directory cannot point
 * out of it. */
static int host_path_allowed(const struct kk_policy *p, const char *who, const char *field, const char *path,
                             kk_err_t *err) {
  char real[PATH_MAX];
  if (path == NULL || path[0] != '/' || realpath(path, real) == NULL)
    return refuse(err, who, field, "a host path that does not resolve");
  for (size_t i = 0; i < p->allowed_host_paths.n; i++)
    if (path_inside(real, p->allowed_host_paths.v[i]))
      return 0;
  char why[PATH_MAX + 64];
  snprintf(why, sizeof(why), "host path %s (outside allowedHostPaths)", real);
  return refuse(err, who, field, why);
}

static int security_opts_allowed(const struct kk_policy *p, const char *who, const char *field,
                                 const struct kk_strv *opts, kk_err_t *err) {
  for (size_t i = 0; i < opts->n; i++) {
    const char *o = opts->v[i];
    if (strcmp(o, "seccomp=unconfined") == 0 || strcmp(o, "no-new-privileges=false") == 0)
      return refuse(err, who, field, o);
    /* The daemon reads a profile as root: only from where the peer may bind. */
    if (kk_has_prefix(o, "seccomp=") && host_path_allowed(p, who, field, o + strlen("seccomp="), err) < 0)
      return -1;
  }
  return 0;
}

static int container_allowed(const struct kk_policy *p, const struct kk_container_spec *c, kk_err_t *err) {
  char who[256];
  snprintf(who, sizeof(who), "container \"%s\"", c->id ? c->id : "");
  if (c->privileged)
    return refuse(err, who, "privileged", "a privileged container");
  if (c->host_network || c->host_pid || c->host_cgroup)
    return refuse(err, who, c->host_network ? "hostNetwork" : c->host_pid ? "hostPID" : "hostCgroup",
                  "a host namespace");
  if (c->capabilities.add.n > 0)
    return refuse(err, who, "capabilities.add", "adding capabilities");
  if (c->devices.n > 0)
    return refuse(err, who, "devices", "a host device");
  if (!kk_empty(c->cni_config_path) && host_path_allowed(p, who, "cniConfigPath", c->cni_config_path, err) < 0)
    return -1;
  for (size_t i = 0; i < c->n_volumes; i++) {
    const struct kk_volume_mount *v = &c->volumes[i];
    if (!kk_empty(v->kind) && strcmp(v->kind, "bind") != 0)
      continue; /* tmpfs: nothing of the host */
    if (host_path_allowed(p, who, "volumes.source", v->source, err) < 0)
      return -1;
  }
  return security_opts_allowed(p, who, "securityOpts", &c->security_opts, err);
}

static int space_allowed(const struct kk_policy *p, const struct kk_doc *doc, kk_err_t *err) {
  char who[256];
  snprintf(who, sizeof(who), "space \"%s\"", kk_doc_name(doc));
  const struct kk_container_defaults *d = &doc->u.space.spec.defaults.container;
  if (d->capabilities.add.n > 0)
    return refuse(err, who, "defaults.container.capabilities.add", "adding capabilities");
  if (!kk_empty(doc->u.space.spec.cni_config_path) &&
      host_path_allowed(p, who, "cniConfigPath", doc->u.space.spec.cni_config_path, err) < 0)
    return -1;
  return security_opts_allowed(p, who, "defaults.container.securityOpts", &d->security_opts, err);
}

static const char *doc_realm(const struct kk_doc *doc) {
  switch (doc->kind) {
  case KK_KIND_REALM: return doc->u.realm.metadata.name;
  case KK_KIND_SPACE: return doc->u.space.spec.realm_id;
  case KK_KIND_STACK: return doc->u.stack.spec.realm_id;
  case KK_KIND_CELL: return doc->u.cell.spec.realm_id;
  case KK_KIND_CONTAINER: return doc->u.container.spec.realm_id;
  default: return NULL;
  }
}

int kk_policy_check_realm(const struct kk_policy *p, const char *realm, const char *what, kk_err_t *err) {
  if (p == NULL || p->mode == KK_PEER_TRUSTED || !kk_streq(realm, KK_SYSTEM_REALM))
    return 0;
  return kk_error_kind(err, KK_ERR_PERMISSION, 0,
                       "permission denied: %s: realm \"%s\" holds kukeond's own cell and is changed by root only "
                       "under the restricted peer policy (kukeond(8), PEER POLICY)",
                       what, realm);
}

int kk_policy_check(const struct kk_policy *p, const struct kk_doc *doc, kk_err_t *err) {
  if (p == NULL || p->mode == KK_PEER_TRUSTED)
    return 0;
  if (kk_policy_check_realm(p, doc_realm(doc), "create or apply", err) < 0)
    return -1;
  switch (doc->kind) {
  case KK_KIND_SPACE: return space_allowed(p, doc, err);
  case KK_KIND_CONTAINER: return container_allowed(p, &doc->u.container.spec, err);
  case KK_KIND_CELL:
    for (size_t i = 0; i < doc->u.cell.spec.n_containers; i++)
      if (container_allowed(p, &doc->u.cell.spec.containers[i], err) < 0)
        return -1;
    return 0;
  default: return 0;
  }
}

void kk_policy_redact(const struct kk_policy *p, struct kk_doc *doc) {
  if (p == NULL || p->mode == KK_PEER_TRUSTED || doc->kind != KK_KIND_REALM)
    return;
  for (size_t i = 0; i < doc->u.realm.spec.n_registry_credentials; i++) {
    struct kk_registry_credential *c = &doc->u.realm.spec.registry_credentials[i];
    if (!kk_empty(c->password)) {
      free(c->password);
      c->password = kk_xstrdup(KK_POLICY_REDACTED);
    }
  }
}

static const struct kk_registry_credential *same_credential(const struct kk_doc *stored,
                                                            const struct kk_registry_credential *c) {
  for (size_t i = 0; i < stored->u.realm.spec.n_registry_credentials; i++) {
    const struct kk_registry_credential *s = &stored->u.realm.spec.registry_credentials[i];
    if (strcmp(s->username ? s->username : "", c->username ? c->username : "") == 0 &&
        strcmp(s->server_address ? s->server_address : "", c->server_address ? c->server_address : "") == 0)
      return s;
  }
  return NULL;
}

void kk_policy_unredact(struct kk_doc *doc, const struct kk_doc *stored) {
  if (doc->kind != KK_KIND_REALM || stored->kind != KK_KIND_REALM)
    return;
  for (size_t i = 0; i < doc->u.realm.spec.n_registry_credentials; i++) {
    struct kk_registry_credential *c = &doc->u.realm.spec.registry_credentials[i];
    const struct kk_registry_credential *s = NULL;
    if (c->password && strcmp(c->password, KK_POLICY_REDACTED) == 0 && (s = same_credential(stored, c)) != NULL) {
      free(c->password);
      c->password = kk_xstrdup(s->password);
    }
  }
}

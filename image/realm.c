/* A realm's say in pulls: its spec.registryCredentials become the pull's
 * credentials, its spec.insecureRegistries (kukeon extension) decide
 * whether the registry of the image may be spoken to over plain HTTP or
 * TLS without verification. */
#include <string.h>
#include <strings.h>

#include "model/model.h"
#include "image/image.h"

static bool hub_alias(const char *host, size_t n) {
  static const char *const hub[] = {"docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"};
  for (size_t i = 0; i < KK_ARRAY_SIZE(hub); i++)
    if (strlen(hub[i]) == n && strncasecmp(host, hub[i], n) == 0)
      return true;
  return false;
}

/* "host:port" / "[v6]:port" / "host" -> host part length and port (or NULL). */
static size_t split_host(const char *s, const char **port) {
  *port = NULL;
  if (s[0] == '[') {
    const char *close = strchr(s, ']');
    if (close == NULL)
      return strlen(s);
    if (close[1] == ':')
      *port = close + 2;
    return (size_t)(close - s + 1);
  }
  const char *colon = strchr(s, ':');
  if (colon)
    *port = colon + 1;
  return colon ? (size_t)(colon - s) : strlen(s);
}

bool kk_image_registry_listed(const struct kk_strv *hosts, const char *domain) {
  if (hosts == NULL || kk_empty(domain))
    return false;
  const char *dport;
  size_t dn = split_host(domain, &dport);
  for (size_t i = 0; i < hosts->n; i++) {
    const char *e = hosts->v[i], *eport;
    if (kk_empty(e))
      continue;
    size_t en = split_host(e, &eport);
    bool same_host = (en == dn && strncasecmp(e, domain, dn) == 0) || (hub_alias(e, en) && hub_alias(domain, dn));
    if (!same_host)
      continue;
    if (eport == NULL || kk_streq(eport, dport))
      return true;
  }
  return false;
}

int kk_image_pull_opts_for_realm(const struct kk_doc *realm_doc, const char *ref, struct kk_pull_opts *opts,
                                 struct kk_registry_cred **creds, kk_err_t *err) {
  *creds = NULL;
  if (realm_doc == NULL)
    return 0;
  if (realm_doc->kind != KK_KIND_REALM)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "pull settings: %s \"%s\" is not a realm",
                         kk_kind_lower(realm_doc->kind), kk_doc_name(realm_doc));
  const struct kk_realm *r = &realm_doc->u.realm;
  const char *name = kk_doc_name(realm_doc);
  for (size_t i = 0; i < r->spec.insecure_registries.n; i++)
    if (!kk_registry_host_valid(r->spec.insecure_registries.v[i]))
      return kk_error_kind(err, KK_ERR_INVALID, 0,
                           "realm \"%s\": spec.insecureRegistries: \"%s\" is not a registry (host or host:port)",
                           name ? name : "", r->spec.insecure_registries.v[i]);
  struct kk_image_ref parsed = {0};
  if (kk_image_ref_parse(ref, &parsed, err) < 0)
    return -1;
  if (kk_image_registry_listed(&r->spec.insecure_registries, parsed.domain))
    opts->insecure = true;
  kk_image_ref_free(&parsed);
  /* Credentials given by the caller (kuke image pull -u) win. */
  if (opts->n_creds > 0 || r->spec.n_registry_credentials == 0)
    return 0;
  struct kk_registry_cred *v = kk_xzalloc(r->spec.n_registry_credentials * sizeof(*v));
  for (size_t i = 0; i < r->spec.n_registry_credentials; i++) {
    const struct kk_registry_credential *c = &r->spec.registry_credentials[i];
    v[i].username = c->username ? c->username : "";
    v[i].password = c->password ? c->password : "";
    v[i].server = c->server_address; /* NULL / "" = the registry of the image */
  }
  opts->creds = v;
  opts->n_creds = r->spec.n_registry_credentials;
  *creds = v;
  return 0;
}

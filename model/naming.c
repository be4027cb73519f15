/* Every derived name in one place. */
#include <arpa/inet.h>
#include <sys/capability.h>
#include <ctype.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "model/schema.h"

/* Directory and file names the store and runtime keep beside the resources. */
static const char *const reserved_names[] = {
    "run", "images", "snapshots", "bin", "tmp", "containers",
    "realm.yaml", "space.yaml", "stack.yaml", "cell.yaml", "network.conflist", "network.json",
};

static bool valid_identifier(const char *s) {
  /* [A-Za-z0-9]+ joined by single '.' or '-' ('_' is our separator, so
   * names cannot use it, unlike runtime IDs). */
  bool prev_sep = true;
  for (const char *p = s; *p; p++) {
    if (isascii((unsigned char)*p) && isalnum((unsigned char)*p)) {
      prev_sep = false;
    } else if (*p == '.' || *p == '-') {
      if (prev_sep)
        return false;
      prev_sep = true;
    } else {
      return false;
    }
  }
  return !prev_sep;
}

bool kk_runtime_id_valid(const char *s) {
  bool prev_sep = true;
  for (const char *p = s; *p; p++) {
    if (isascii((unsigned char)*p) && isalnum((unsigned char)*p)) {
      prev_sep = false;
    } else if (*p == '.' || *p == '-' || *p == '_') {
      if (prev_sep)
        return false;
      prev_sep = true;
    } else {
      return false;
    }
  }
  return !prev_sep;
}

bool kk_ipv4_cidr_valid(const char *s, uint32_t *addr, int *prefix) {
  const char *slash = strchr(s, '/');
  if (slash == NULL || slash == s || (size_t)(slash - s) > 15)
    return false;
  const char *p = slash + 1;
  size_t n = strlen(p);
  if (n == 0 || n > 2 || !isdigit((unsigned char)p[0]) || (n == 2 && !isdigit((unsigned char)p[1])))
    return false;
  int plen = atoi(p);
  if (plen > 32)
    return false;
  char ip[16];
  memcpy(ip, s, (size_t)(slash - s));
  ip[slash - s] = '\0';
  struct in_addr a;
  if (inet_pton(AF_INET, ip, &a) != 1)
    return false;
  if (addr)
    *addr = ntohl(a.s_addr);
  if (prefix)
    *prefix = plen;
  return true;
}

int kk_validate_pod_subnet(const char *cidr, kk_err_t *err) {
  int prefix = 0;
  if (!kk_ipv4_cidr_valid(cidr, NULL, &prefix) || prefix >= 24)
    return kk_error_kind(err, KK_ERR_INVALID, 0,
                         "pod subnet \"%s\" is invalid: an IPv4 CIDR with a prefix shorter than /24 is needed", cidr);
  return 0;
}

int kk_validate_name(enum kk_kind kind, const char *name, kk_err_t *err) {
  const char *k = kk_kind_lower(kind);
  const char *p = name ? name : "";
  while (isspace((unsigned char)*p))
    p++;
  if (*p == '\0')
    return kk_error_kind(err, KK_ERR_INVALID, 0, "%s name is required", k);
  if (strchr(name, '_') || strchr(name, '/')) {
    if (kind == KK_KIND_REALM)
      return kk_error_kind(err, KK_ERR_INVALID, 0,
                           "realm name is invalid: \"%s\" contains disallowed character (must not contain '_' or '/')",
                           name);
    return kk_error_kind(err, KK_ERR_INVALID, 0,
                         "name is invalid: %s name \"%s\" contains disallowed character (must not contain '_' or '/')",
                         k, name);
  }
  if (!valid_identifier(name))
    return kk_error_kind(err, KK_ERR_INVALID, 0,
                         "%s name \"%s\" is invalid: use letters and digits, optionally joined by single '.' or '-'",
                         k, name);
  if (strlen(name) > KK_MAX_ID_LEN)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "%s name \"%s\" is longer than %d characters", k, name,
                         KK_MAX_ID_LEN);
  for (size_t i = 0; i < KK_ARRAY_SIZE(reserved_names); i++)
    if (strcmp(name, reserved_names[i]) == 0)
      return kk_error_kind(err, KK_ERR_INVALID, 0, "%s name \"%s\" is reserved", k, name);
  return 0;
}

char *kk_namespace_name(const char *realm, const char *suffix) {
  return kk_asprintf("%s.%s", realm, suffix ? suffix : KK_DEFAULT_NS_SUFFIX);
}

char *kk_network_name(const char *realm, const char *space) { return kk_asprintf("%s-%s", realm, space); }

char *kk_bridge_name(const char *realm, const char *space) {
  cleanup_free char *net = kk_network_name(realm, space);
  return kk_asprintf("k-%08x", kk_fnv1a32(net));
}

char *kk_container_runtime_id(const char *space, const char *stack, const char *cell, const char *container,
                              bool is_root) {
  return kk_asprintf("%s_%s_%s_%s", space, stack, cell, is_root ? KK_ROOT_CONTAINER_ID : container);
}

char *kk_cgroup_path(const char *cgroup_root, const char *realm, const char *space, const char *stack,
                     const char *cell) {
  const char *root = cgroup_root && *cgroup_root ? cgroup_root : KK_DEFAULT_CGROUP_ROOT;
  size_t rl = strlen(root);
  while (rl > 1 && root[rl - 1] == '/')
    rl--;
  const char *parts[] = {realm, space, stack, cell};
  char *out = kk_xstrndup(root, rl);
  for (size_t i = 0; i < 4 && parts[i]; i++) {
    char *next = kk_asprintf("%s/%s", strcmp(out, "/") == 0 ? "" : out, parts[i]);
    free(out);
    out = next;
  }
  return out;
}

char *kk_container_cgroup(const char *cell_cgroup, const char *runtime_id) {
  return kk_asprintf("%s/%s", cell_cgroup, runtime_id);
}

struct kk_container_spec *kk_cell_root(struct kk_cell *cell) {
  for (size_t i = 0; i < cell->spec.n_containers; i++)
    if (kk_streq(cell->spec.containers[i].id, cell->spec.root_container_id))
      return &cell->spec.containers[i];
  return NULL;
}


void kk_cell_add_pause_root(struct kk_cell *cell) {
  bool host_net = false;
  for (size_t i = 0; i < cell->spec.n_containers; i++)
    host_net |= cell->spec.containers[i].host_network;
  cell->spec.containers =
      kk_xrealloc(cell->spec.containers, (cell->spec.n_containers + 1) * sizeof(*cell->spec.containers));
  struct kk_container_spec *r = &cell->spec.containers[cell->spec.n_containers++];
  memset(r, 0, sizeof(*r));
  r->id = kk_xstrdup(KK_ROOT_CONTAINER_ID);
  r->root = true;
  r->image = kk_xstrdup(KK_PAUSE_IMAGE);
  r->command = kk_xstrdup("/kukepause");
  r->host_network = host_net;
  r->realm_id = kk_xstrdup(cell->spec.realm_id);
  r->space_id = kk_xstrdup(cell->spec.space_id);
  r->stack_id = kk_xstrdup(cell->spec.stack_id);
  r->cell_id = kk_xstrdup(cell->spec.id);
  r->containerd_id =
      kk_container_runtime_id(cell->spec.space_id, cell->spec.stack_id, cell->spec.id, r->id, true);
  free(cell->spec.root_container_id);
  cell->spec.root_container_id = kk_xstrdup(KK_ROOT_CONTAINER_ID);
}

struct kk_doc *kk_container_doc_from_cell(const struct kk_cell *cell, size_t i) {
  struct kk_doc *doc = kk_doc_new(KK_KIND_CONTAINER);
  struct kk_container *c = &doc->u.container;
  kk_schema_copy(&kk_container_spec_schema, &c->spec, &cell->spec.containers[i]);
  c->metadata.name = kk_xstrdup(cell->spec.containers[i].id);
  for (size_t j = 0; j < cell->status.n_containers; j++) {
    if (kk_streq(cell->status.containers[j].name, c->metadata.name)) {
      kk_schema_copy(&kk_container_status_schema, &c->status, &cell->status.containers[j]);
      break;
    }
  }
  return doc;
}

void kk_cell_drop_containers(struct kk_cell *cell) {
  for (size_t i = 0; i < cell->spec.n_containers; i++)
    kk_schema_free(&kk_container_spec_schema, &cell->spec.containers[i]);
  for (size_t i = 0; i < cell->status.n_containers; i++)
    kk_schema_free(&kk_container_status_schema, &cell->status.containers[i]);
  free(cell->spec.containers);
  free(cell->status.containers);
  cell->spec.containers = NULL;
  cell->status.containers = NULL;
  cell->spec.n_containers = cell->status.n_containers = 0;
}

int kk_cap_number(const char *name) {
  cleanup_free char *lower = kk_xstrdup(name);
  for (char *p = lower; *p; p++)
    *p = (char)tolower((unsigned char)*p);
  cap_value_t v;
  return cap_from_name(lower, &v) == 0 ? (int)v : -1;
}

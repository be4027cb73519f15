/* Defaults that follow from a document itself, and validation with errors
 * that name the file, the line and the field. */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <string.h>

#include "model/schema.h"

/* The one error shape for bad documents: "<file>:<line>: <field>: <why>". */
static int verr_v(kk_err_t *err, const struct kk_doc *doc, const void *addr, const char *field, const char *fmt,
                  va_list ap) {
  char why[512];
  vsnprintf(why, sizeof(why), fmt, ap);
  return kk_error_kind(err, KK_ERR_INVALID, 0, "%s:%d: %s: %s", doc->file ? doc->file : "<input>",
                       addr ? kk_doc_line_of(doc, addr) : doc->line, field, why);
}

/* What every check needs: the document (for lines) and the error slot. */
struct vctx {
  const struct kk_doc *doc;
  kk_err_t *err;
};

static int verr(const struct vctx *v, const void *addr, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int verr(const struct vctx *v, const void *addr, const char *field, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int r = verr_v(v->err, v->doc, addr, field, fmt, ap);
  va_end(ap);
  return r;
}

static int check_name(const struct vctx *v, enum kk_kind kind, const char *const *addr, const char *field) {
  cleanup_error kk_err_t e = NULL;
  if (kk_validate_name(kind, *addr, &e) < 0)
    return verr(v, addr, field, "%s", e->msg);
  return 0;
}

static int check_required_name(const struct vctx *v, enum kk_kind kind, char *const *addr, const char *field) {
  if (kk_empty(*addr))
    return verr(v, addr, field, "%s is required", field);
  return check_name(v, kind, (const char *const *)addr, field);
}

static bool is_abs(const char *p) { return p != NULL && p[0] == '/'; }

static int check_resources(const struct vctx *v, const struct kk_resources *r) {
  struct {
    const struct kk_opt_i64 *v;
    const char *name;
    int64_t min, max;
  } checks[] = {
      {&r->memory_max_bytes, "spec.resources.memoryMaxBytes", 4096, INT64_MAX},
      {&r->memory_high_bytes, "spec.resources.memoryHighBytes", 4096, INT64_MAX},
      {&r->cpu_weight, "spec.resources.cpuWeight", 1, 10000},
      {&r->cpu_max_quota_us, "spec.resources.cpuMaxQuotaMicros", 1000, INT64_MAX},
      {&r->cpu_max_period_us, "spec.resources.cpuMaxPeriodMicros", 1000, 1000000},
      {&r->pids_max, "spec.resources.pidsMax", 1, INT64_MAX},
      {&r->io_weight, "spec.resources.ioWeight", 1, 10000},
  };
  for (size_t i = 0; i < KK_ARRAY_SIZE(checks); i++) {
    if (!checks[i].v->set)
      continue;
    int64_t val = checks[i].v->v;
    if (val < checks[i].min || val > checks[i].max) {
      if (checks[i].max == INT64_MAX)
        return verr(v, checks[i].v, checks[i].name, "must be at least %lld", (long long)checks[i].min);
      return verr(v, checks[i].v, checks[i].name, "must be between %lld and %lld", (long long)checks[i].min,
                  (long long)checks[i].max);
    }
  }
  if (r->cpu_max_period_us.set && !r->cpu_max_quota_us.set)
    return verr(v, &r->cpu_max_period_us, "spec.resources.cpuMaxPeriodMicros", "needs cpuMaxQuotaMicros");
  return 0;
}

static int check_ctr_resources(const struct vctx *v, const struct kk_container_resources *r, const char *path) {
  char f[256];
  if (r->memory_limit_bytes.set && r->memory_limit_bytes.v < 0) {
    snprintf(f, sizeof(f), "%s.resources.memoryLimitBytes", path);
    return verr(v, &r->memory_limit_bytes, f, "must not be negative");
  }
  if (r->cpu_shares.set && (r->cpu_shares.v < 2 || r->cpu_shares.v > 262144)) {
    snprintf(f, sizeof(f), "%s.resources.cpuShares", path);
    return verr(v, &r->cpu_shares, f, "must be between 2 and 262144");
  }
  if (r->pids_limit.set && r->pids_limit.v < 1) {
    snprintf(f, sizeof(f), "%s.resources.pidsLimit", path);
    return verr(v, &r->pids_limit, f, "must be at least 1");
  }
  return 0;
}

/* Capability names: upper-case with a CAP_ prefix; ALL only in drop. */
static void normalize_caps(struct kk_strv *sv) {
  for (size_t i = 0; i < sv->n; i++) {
    char *s = sv->v[i];
    for (char *p = s; *p; p++)
      *p = (char)toupper((unsigned char)*p);
    if (!kk_has_prefix(s, "CAP_")) {
      sv->v[i] = kk_asprintf("CAP_%s", s);
      free(s);
    }
  }
}

static int check_caps(const struct vctx *v, const struct kk_strv *sv, bool allow_all, const char *field) {
  for (size_t i = 0; i < sv->n; i++) {
    const char *c = sv->v[i];
    if (strcmp(c, "CAP_ALL") == 0) {
      if (allow_all)
        continue;
      return verr(v, sv, field, "ALL is only allowed in capabilities.drop");
    }
    if (kk_cap_number(c) < 0 || !kk_has_prefix(c, "CAP_"))
      return verr(v, sv, field, "unknown capability \"%s\"", c);
  }
  return 0;
}

static int check_security_opts(const struct vctx *v, const struct kk_strv *sv, const char *field) {
  for (size_t i = 0; i < sv->n; i++) {
    const char *o = sv->v[i];
    if (!strcmp(o, "no-new-privileges") || !strcmp(o, "no-new-privileges=true") ||
        !strcmp(o, "no-new-privileges=false") || !strcmp(o, "seccomp=unconfined") ||
        (kk_has_prefix(o, "seccomp=") && is_abs(o + 8)))
      continue;
    return verr(v, sv, field,
                "unsupported option \"%s\" (supported: no-new-privileges[=true|false], seccomp=unconfined|<absolute path>)",
                o);
  }
  return 0;
}

static int check_tmpfs(const struct vctx *v, const struct kk_tmpfs *t, size_t n, const char *path) {
  for (size_t i = 0; i < n; i++) {
    char f[256];
    snprintf(f, sizeof(f), "%s.tmpfs[%zu].path", path, i);
    if (!is_abs(t[i].path))
      return verr(v, &t[i], f, "must be an absolute path");
    if (t[i].size_bytes < 0) {
      snprintf(f, sizeof(f), "%s.tmpfs[%zu].sizeBytes", path, i);
      return verr(v, &t[i].size_bytes, f, "must not be negative");
    }
  }
  return 0;
}

/* 1..max decimal digits and nothing else (no sign, no space). */
static bool all_digits(const char *s, size_t max) {
  size_t n = strlen(s);
  if (n == 0 || n > max)
    return false;
  for (size_t i = 0; i < n; i++)
    if (!isdigit((unsigned char)s[i]))
      return false;
  return true;
}

/* "[hostIP:]hostPort:containerPort[/tcp|udp]" or "containerPort[/proto]". */
static bool valid_port_spec(const char *s) {
  cleanup_free char *copy = kk_xstrdup(s);
  char *proto = strchr(copy, '/');
  if (proto) {
    *proto++ = '\0';
    if (strcmp(proto, "tcp") && strcmp(proto, "udp") && strcmp(proto, "sctp"))
      return false;
  }
  char *parts[3] = {0};
  int n = 0;
  /* Split on every ':' (strtok would skip empty fields like "8080::80"). */
  for (char *p = copy;; n++) {
    if (n == 3)
      return false;
    parts[n] = p;
    char *colon = strchr(p, ':');
    if (colon == NULL) {
      n++;
      break;
    }
    *colon = '\0';
    p = colon + 1;
  }
  for (int i = (n == 3 ? 1 : 0); i < n; i++) {
    if (!all_digits(parts[i], 5))
      return false;
    long v = strtol(parts[i], NULL, 10);
    if (v < 1 || v > 65535)
      return false;
  }
  if (n == 3) {
    unsigned char buf[16];
    if (inet_pton(AF_INET, parts[0], buf) != 1)
      return false;
  }
  return true;
}

static int check_container(const struct vctx *v, const struct kk_container_spec *c, const char *path) {
  char f[256];
#define FIELD(name) (snprintf(f, sizeof(f), "%s.%s", path, name), f)
  if (check_required_name(v, KK_KIND_CONTAINER, &c->id, FIELD("id")) < 0)
    return -1;
  if (kk_empty(c->image))
    return verr(v, c, FIELD("image"), "image is required");
  if (c->command && *c->command == '\0')
    return verr(v, &c->command, FIELD("command"), "must not be empty when set");
  if (c->working_dir && !is_abs(c->working_dir))
    return verr(v, &c->working_dir, FIELD("workingDir"), "must be an absolute path");
  for (size_t i = 0; i < c->env.n; i++) {
    const char *eq = strchr(c->env.v[i], '=');
    if (eq == NULL || eq == c->env.v[i])
      return verr(v, &c->env, FIELD("env"), "entry \"%s\" must look like KEY=VALUE", c->env.v[i]);
  }
  for (size_t i = 0; i < c->ports.n; i++)
    if (!valid_port_spec(c->ports.v[i]))
      return verr(v, &c->ports, FIELD("ports"),
                  "entry \"%s\" must look like [hostIP:]hostPort:containerPort[/tcp|udp]", c->ports.v[i]);
  for (size_t i = 0; i < c->n_volumes; i++) {
    const struct kk_volume_mount *vol = &c->volumes[i];
    char vp[256];
    snprintf(vp, sizeof(vp), "%s.volumes[%zu]", path, i);
    snprintf(f, sizeof(f), "%s.kind", vp);
    if (!kk_empty(vol->kind) && strcmp(vol->kind, "bind") && strcmp(vol->kind, "tmpfs"))
      return verr(v, &vol->kind, f, "unknown volume kind \"%s\" (supported: bind, tmpfs)", vol->kind);
    snprintf(f, sizeof(f), "%s.target", vp);
    if (!is_abs(vol->target))
      return verr(v, vol->target ? (const void *)&vol->target : vol, f, "must be an absolute path");
    bool tmpfs = kk_streq(vol->kind, "tmpfs");
    snprintf(f, sizeof(f), "%s.source", vp);
    if (tmpfs && !kk_empty(vol->source))
      return verr(v, &vol->source, f, "must be empty for a tmpfs volume");
    if (!tmpfs && !is_abs(vol->source))
      return verr(v, vol->source ? (const void *)&vol->source : vol, f, "a bind volume needs an absolute host path");
    snprintf(f, sizeof(f), "%s.sizeBytes", vp);
    if (vol->size_bytes < 0 || (!tmpfs && vol->size_bytes != 0))
      return verr(v, &vol->size_bytes, f, "only a tmpfs volume takes a non-negative size");
    snprintf(f, sizeof(f), "%s.mode", vp);
    if (vol->mode < 0 || vol->mode > 07777 || (!tmpfs && vol->mode != 0))
      return verr(v, &vol->mode, f, "only a tmpfs volume takes a mode (0 to 07777)");
  }
  if (check_tmpfs(v, c->tmpfs, c->n_tmpfs, path) < 0)
    return -1;
  for (size_t i = 0; i < c->devices.n; i++)
    if (!is_abs(c->devices.v[i]))
      return verr(v, &c->devices, FIELD("devices"), "\"%s\" must be an absolute device path", c->devices.v[i]);
  if (check_caps(v, &c->capabilities.drop, true, FIELD("capabilities.drop")) < 0 ||
      check_caps(v, &c->capabilities.add, false, FIELD("capabilities.add")) < 0 ||
      check_security_opts(v, &c->security_opts, FIELD("securityOpts")) < 0 ||
      check_ctr_resources(v, &c->resources, path) < 0)
    return -1;
  if (c->user && *c->user == '\0')
    return verr(v, &c->user, FIELD("user"), "must not be empty when set");
  const char *rp = c->restart_policy ? c->restart_policy : "";
  if (*rp && strcmp(rp, "always") && strcmp(rp, "on-failure") && strcmp(rp, "never"))
    return verr(v, &c->restart_policy, FIELD("restartPolicy"),
                "unknown restart policy \"%s\" (supported: always, on-failure, never)", rp);
  bool restarts = !strcmp(rp, "always") || !strcmp(rp, "on-failure");
  if (c->restart_backoff_seconds.set) {
    if (!restarts)
      return verr(v, &c->restart_backoff_seconds, FIELD("restartBackoffSeconds"),
                  "only valid with restartPolicy always or on-failure");
    if (c->restart_backoff_seconds.v < 0)
      return verr(v, &c->restart_backoff_seconds, FIELD("restartBackoffSeconds"), "must not be negative");
  }
  if (c->restart_max_retries.set) {
    if (strcmp(rp, "on-failure") != 0)
      return verr(v, &c->restart_max_retries, FIELD("restartMaxRetries"), "only valid with restartPolicy on-failure");
    if (c->restart_max_retries.v < 1)
      return verr(v, &c->restart_max_retries, FIELD("restartMaxRetries"), "must be at least 1");
  }
  if (c->containerd_id && strlen(c->containerd_id) > KK_MAX_ID_LEN)
    return verr(v, c, FIELD("id"), "derived container ID \"%s\" is longer than %d characters", c->containerd_id,
                KK_MAX_ID_LEN);
#undef FIELD
  return 0;
}

static int check_parent_ids(const struct vctx *v, char *const *realm, char *const *space, char *const *stack) {
  if (realm && check_required_name(v, KK_KIND_REALM, realm, "spec.realmId") < 0)
    return -1;
  if (space && check_required_name(v, KK_KIND_SPACE, space, "spec.spaceId") < 0)
    return -1;
  if (stack && check_required_name(v, KK_KIND_STACK, stack, "spec.stackId") < 0)
    return -1;
  return 0;
}

static int validate_cell(const struct vctx *v, const struct kk_cell *cell) {
  if (!kk_streq(cell->spec.id, cell->metadata.name))
    return verr(v, &cell->spec.id, "spec.id", "must equal metadata.name (\"%s\")", cell->metadata.name);
  if (check_parent_ids(v, &cell->spec.realm_id, &cell->spec.space_id, &cell->spec.stack_id) < 0)
    return -1;
  if (cell->spec.n_containers == 0)
    return verr(v, &cell->spec, "spec.containers", "a cell needs at least one container");
  if (cell->spec.stop_timeout_seconds.set &&
      (cell->spec.stop_timeout_seconds.v < 0 || cell->spec.stop_timeout_seconds.v > KK_MAX_STOP_TIMEOUT_SECONDS))
    return verr(v, &cell->spec.stop_timeout_seconds, "spec.stopTimeoutSeconds", "must be between 0 and %d",
                KK_MAX_STOP_TIMEOUT_SECONDS);
  size_t roots = 0;
  for (size_t i = 0; i < cell->spec.n_containers; i++) {
    const struct kk_container_spec *c = &cell->spec.containers[i];
    char path[64];
    snprintf(path, sizeof(path), "spec.containers[%zu]", i);
    if (check_container(v, c, path) < 0)
      return -1;
    for (size_t j = 0; j < i; j++)
      if (kk_streq(cell->spec.containers[j].id, c->id))
        return verr(v, &c->id, path, "duplicate container id \"%s\"", c->id);
    if (kk_streq(c->id, KK_ROOT_CONTAINER_ID) && !c->root && !kk_streq(cell->spec.root_container_id, c->id))
      return verr(v, &c->id, path, "container id \"root\" is reserved for the cell's root container");
    roots += c->root;
  }
  {
    /* The root's runtime ID exists for every cell, synthesized or not. */
    cleanup_free char *root_id =
        kk_container_runtime_id(cell->spec.space_id, cell->spec.stack_id, cell->spec.id, NULL, true);
    if (strlen(root_id) > KK_MAX_ID_LEN)
      return verr(v, &cell->spec.id, "spec.id", "derived root container ID \"%s\" is longer than %d characters",
                  root_id, KK_MAX_ID_LEN);
  }
  if (roots > 1) {
    struct kk_strv ids = {0};
    for (size_t i = 0; i < cell->spec.n_containers; i++)
      if (cell->spec.containers[i].root)
        kk_strv_push(&ids, cell->spec.containers[i].id);
    cleanup_free char *list = kk_strv_join(&ids, " ");
    kk_strv_free(&ids);
    return verr(v, &cell->spec.containers, "spec.containers",
                "only one container in a cell may have root: true: [%s]", list);
  }
  if (!kk_empty(cell->spec.root_container_id)) {
    const struct kk_container_spec *r = NULL;
    for (size_t i = 0; i < cell->spec.n_containers; i++)
      if (kk_streq(cell->spec.containers[i].id, cell->spec.root_container_id))
        r = &cell->spec.containers[i];
    if (r == NULL)
      return verr(v, &cell->spec.root_container_id, "spec.rootContainerId",
                  "rootContainerId \"%s\" not found in containers array", cell->spec.root_container_id);
    for (size_t i = 0; i < cell->spec.n_containers; i++)
      if (cell->spec.containers[i].root && &cell->spec.containers[i] != r)
        return verr(v, &cell->spec.root_container_id, "spec.rootContainerId",
                    "rootContainerId disagrees with container marked root: true: %s", cell->spec.containers[i].id);
  }
  if (!kk_empty(cell->spec.tty.default_)) {
    const struct kk_container_spec *t = NULL;
    for (size_t i = 0; i < cell->spec.n_containers; i++)
      if (kk_streq(cell->spec.containers[i].id, cell->spec.tty.default_))
        t = &cell->spec.containers[i];
    if (t == NULL)
      return verr(v, &cell->spec.tty.default_, "spec.tty.default", "names no container of this cell");
    if (!t->attachable)
      return verr(v, &cell->spec.tty.default_, "spec.tty.default", "container \"%s\" is not attachable: true",
                  t->id);
  }
  return check_resources(v, &cell->spec.resources);
}

static int validate_space(const struct vctx *v, const struct kk_space *s) {
  if (check_parent_ids(v, &s->spec.realm_id, NULL, NULL) < 0)
    return -1;
  const __typeof__(s->spec.network.egress) *eg = &s->spec.network.egress;
  if (eg->n_allow > 0 || !kk_empty(eg->default_)) {
    if (!kk_streq(eg->default_, "allow") && !kk_streq(eg->default_, "deny"))
      return verr(v, &eg->default_, "spec.network.egress.default", "egress default must be 'allow' or 'deny', not \"%s\"",
                  eg->default_ ? eg->default_ : "");
  }
  for (size_t i = 0; i < eg->n_allow; i++) {
    const struct kk_egress_rule *r = &eg->allow[i];
    char f[128];
    snprintf(f, sizeof(f), "spec.network.egress.allow[%zu]", i);
    if (kk_empty(r->host) && kk_empty(r->cidr))
      return verr(v, r, f, "egress allow rule requires exactly one of host or cidr");
    if (!kk_empty(r->host) && !kk_empty(r->cidr))
      return verr(v, r, f, "egress allow rule must not set both host and cidr");
    if (!kk_empty(r->cidr) && !kk_ipv4_cidr_valid(r->cidr, NULL, NULL))
      return verr(v, &r->cidr, f, "egress allow rule cidr is not a valid CIDR (a.b.c.d/0-32): \"%s\"", r->cidr);
    if (!kk_empty(r->host) && !kk_dns_name_valid(r->host))
      return verr(v, &r->host, f, "egress allow rule host is not a valid dns name: \"%s\"", r->host);
    for (size_t j = 0; j < r->ports.n; j++)
      if (r->ports.v[j] < 1 || r->ports.v[j] > 65535)
        return verr(v, &r->ports, f, "egress allow rule port must be within [1, 65535], not %lld",
                    (long long)r->ports.v[j]);
  }
  const struct kk_container_defaults *d = &s->spec.defaults.container;
  if (check_caps(v, &d->capabilities.drop, true, "spec.defaults.container.capabilities.drop") < 0 ||
      check_caps(v, &d->capabilities.add, false, "spec.defaults.container.capabilities.add") < 0 ||
      check_security_opts(v, &d->security_opts, "spec.defaults.container.securityOpts") < 0 ||
      check_tmpfs(v, d->tmpfs, d->n_tmpfs, "spec.defaults.container") < 0 ||
      check_ctr_resources(v, &d->resources, "spec.defaults.container") < 0)
    return -1;
  return check_resources(v, &s->spec.resources);
}

int kk_doc_validate(const struct kk_doc *doc, kk_err_t *err) {
  const struct vctx ctx = {doc, err}, *v = &ctx;
  int ret = 0;
  const struct kk_metadata *md = (const struct kk_metadata *)&doc->u;
  if (check_name(v, doc->kind, (const char *const *)&md->name, "metadata.name") < 0) {
    ret = -1;
    goto out;
  }
  switch (doc->kind) {
  case KK_KIND_REALM: {
    const struct kk_realm *r = &doc->u.realm;
    const char *ns = r->spec.namespace_;
    if (!kk_empty(ns) && strlen(ns) > KK_MAX_ID_LEN)
      ret = verr(v, &r->spec.namespace_, "spec.namespace", "\"%s\" is longer than %d characters", ns, KK_MAX_ID_LEN);
    else if (!kk_empty(ns) && !kk_runtime_id_valid(ns))
      ret = verr(v, &r->spec.namespace_, "spec.namespace",
                 "\"%s\" is invalid: use letters and digits joined by single '.', '_' or '-'", ns);
    for (size_t i = 0; ret == 0 && i < r->spec.n_registry_credentials; i++) {
      const struct kk_registry_credential *c = &r->spec.registry_credentials[i];
      if (kk_empty(c->username) || kk_empty(c->password))
        ret = verr(v, c, "spec.registryCredentials", "entry %zu needs username and password", i);
    }
    for (size_t i = 0; ret == 0 && i < r->spec.insecure_registries.n; i++)
      if (!kk_registry_host_valid(r->spec.insecure_registries.v[i]))
        ret = verr(v, &r->spec.insecure_registries, "spec.insecureRegistries",
                   "\"%s\" is not a registry: use host or host:port (no scheme, no path)",
                   r->spec.insecure_registries.v[i]);
    if (ret == 0)
      ret = check_resources(v, &r->spec.resources);
    break;
  }
  case KK_KIND_SPACE:
    ret = validate_space(v, &doc->u.space);
    break;
  case KK_KIND_STACK: {
    const struct kk_stack *s = &doc->u.stack;
    if (!kk_streq(s->spec.id, s->metadata.name))
      ret = verr(v, &s->spec.id, "spec.id", "must equal metadata.name (\"%s\")", s->metadata.name);
    else if (check_parent_ids(v, &s->spec.realm_id, &s->spec.space_id, NULL) < 0)
      ret = -1;
    else
      ret = check_resources(v, &s->spec.resources);
    break;
  }
  case KK_KIND_CELL:
    ret = validate_cell(v, &doc->u.cell);
    break;
  case KK_KIND_CONTAINER: {
    const struct kk_container *c = &doc->u.container;
    if (check_parent_ids(v, &c->spec.realm_id, &c->spec.space_id, &c->spec.stack_id) < 0 ||
        check_required_name(v, KK_KIND_CELL, &c->spec.cell_id, "spec.cellId") < 0)
      ret = -1;
    else if (!kk_empty(c->spec.id) && !kk_streq(c->spec.id, c->metadata.name))
      ret = verr(v, &c->spec.id, "spec.id", "must equal metadata.name (\"%s\")", c->metadata.name);
    else
      ret = check_container(v, &c->spec, "spec");
    break;
  }
  default:
    ret = kk_error_kind(err, KK_ERR_INVALID, 0, "unknown kind");
  }
out:
  return ret;
}

static void inherit(char **dst, const char *src) {
  if (kk_empty(*dst) && !kk_empty(src)) {
    free(*dst);
    *dst = kk_xstrdup(src);
  }
}

static void normalize_container(struct kk_container_spec *c) {
  normalize_caps(&c->capabilities.drop);
  normalize_caps(&c->capabilities.add);
  if (!kk_empty(c->id) && !kk_empty(c->space_id) && !kk_empty(c->stack_id) && !kk_empty(c->cell_id)) {
    free(c->containerd_id);
    c->containerd_id = kk_container_runtime_id(c->space_id, c->stack_id, c->cell_id, c->id, c->root);
  }
}

int kk_doc_normalize(struct kk_doc *doc, const char *ns_suffix, kk_err_t *err) {
  struct kk_metadata *md = kk_doc_metadata(doc);
  switch (doc->kind) {
  case KK_KIND_REALM:
    if (kk_empty(doc->u.realm.spec.namespace_) && !kk_empty(md->name)) {
      free(doc->u.realm.spec.namespace_);
      doc->u.realm.spec.namespace_ = kk_namespace_name(md->name, ns_suffix);
    }
    break;
  case KK_KIND_SPACE:
    normalize_caps(&doc->u.space.spec.defaults.container.capabilities.drop);
    normalize_caps(&doc->u.space.spec.defaults.container.capabilities.add);
    break;
  case KK_KIND_STACK:
    inherit(&doc->u.stack.spec.id, md->name);
    break;
  case KK_KIND_CELL: {
    struct kk_cell *cell = &doc->u.cell;
    inherit(&cell->spec.id, md->name);
    for (size_t i = 0; i < cell->spec.n_containers; i++) {
      struct kk_container_spec *c = &cell->spec.containers[i];
      struct {
        char **ctr;
        const char *cell;
        const char *name;
      } ids[] = {{&c->realm_id, cell->spec.realm_id, "realmId"},
                 {&c->space_id, cell->spec.space_id, "spaceId"},
                 {&c->stack_id, cell->spec.stack_id, "stackId"},
                 {&c->cell_id, cell->spec.id, "cellId"}};
      for (size_t k = 0; k < KK_ARRAY_SIZE(ids); k++) {
        if (!kk_empty(*ids[k].ctr) && !kk_streq(*ids[k].ctr, ids[k].cell))
          return kk_error_kind(err, KK_ERR_INVALID, 0, "%s:%d: spec.containers[%zu].%s: \"%s\" does not match the cell's (\"%s\")",
                               doc->file ? doc->file : "<input>", kk_doc_line_of(doc, ids[k].ctr), i, ids[k].name,
                               *ids[k].ctr, ids[k].cell ? ids[k].cell : "");
        inherit(ids[k].ctr, ids[k].cell);
      }
    }
    /* Root rule 3: a lone root: true container names the root. */
    if (kk_empty(cell->spec.root_container_id)) {
      struct kk_container_spec *only = NULL;
      size_t n = 0;
      for (size_t i = 0; i < cell->spec.n_containers; i++)
        if (cell->spec.containers[i].root)
          only = &cell->spec.containers[i], n++;
      if (n == 1) {
        free(cell->spec.root_container_id);
        cell->spec.root_container_id = kk_xstrdup(only->id);
      }
    }
    /* rootContainerId marks its container root, unless another container
     * claims root: validation then reports the disagreement. */
    bool other_root = false;
    for (size_t i = 0; i < cell->spec.n_containers; i++)
      other_root |= cell->spec.containers[i].root && !kk_streq(cell->spec.containers[i].id, cell->spec.root_container_id);
    for (size_t i = 0; i < cell->spec.n_containers; i++) {
      struct kk_container_spec *c = &cell->spec.containers[i];
      if (!other_root && kk_streq(c->id, cell->spec.root_container_id))
        c->root = true;
      normalize_container(c);
    }
    break;
  }
  case KK_KIND_CONTAINER:
    inherit(&doc->u.container.spec.id, md->name);
    normalize_container(&doc->u.container.spec);
    break;
  default:
    break;
  }
  return 0;
}

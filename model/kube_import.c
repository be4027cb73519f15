/* A Kubernetes v1 Pod, or an apps/v1 Deployment's pod template, as a cell.
 * What kukeon cannot honour is refused with the field's name, never
 * ignored; fields that only inform a cluster (scheduling, service
 * accounts, pull policy) are skipped. */
#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "lib/cleanup.h"
#include "model/kube.h"

struct ictx {
  yaml_document_t *yd;
  const char *file;
  kk_err_t *err;
  struct kk_cell *cell;
};

__attribute__((format(printf, 4, 5))) static int fail(struct ictx *c, const yaml_node_t *n, const char *path,
                                                      const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  cleanup_free char *why = NULL;
  if (vasprintf(&why, fmt, ap) < 0)
    kk_oom();
  va_end(ap);
  return kk_error_kind(c->err, KK_ERR_INVALID, 0, "%s:%zu: %s: %s", c->file, n->start_mark.line + 1, path, why);
}

static yaml_node_t *get(struct ictx *c, yaml_node_t *map, const char *key) {
  if (map == NULL || map->type != YAML_MAPPING_NODE)
    return NULL;
  for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
    yaml_node_t *k = yaml_document_get_node(c->yd, p->key);
    if (k && k->type == YAML_SCALAR_NODE && strcmp((const char *)k->data.scalar.value, key) == 0)
      return yaml_document_get_node(c->yd, p->value);
  }
  return NULL;
}

static const char *scalar(const yaml_node_t *n) {
  return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static bool in_list(const char *s, const char *const *list) {
  for (; list && *list; list++)
    if (strcmp(s, *list) == 0)
      return true;
  return false;
}

/* Every key of map is one kukeon reads (known) or may skip (skipped). */
static int check_keys(struct ictx *c, yaml_node_t *map, const char *path, const char *const *known,
                      const char *const *skipped) {
  if (map->type != YAML_MAPPING_NODE)
    return fail(c, map, path, "expected a mapping");
  for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
    yaml_node_t *k = yaml_document_get_node(c->yd, p->key);
    const char *key = scalar(k);
    if (key == NULL)
      return fail(c, map, path, "keys must be strings");
    if (!in_list(key, known) && !in_list(key, skipped))
      return fail(c, k, path, "%s: not supported by kukeon (a cell has no equivalent)", key);
  }
  return 0;
}

static int want_str(struct ictx *c, yaml_node_t *n, const char *path, const char **out) {
  *out = NULL;
  if (n == NULL)
    return 0;
  if ((*out = scalar(n)) == NULL)
    return fail(c, n, path, "expected a string");
  return 0;
}

static int want_bool(struct ictx *c, yaml_node_t *n, const char *path, bool *out) {
  const char *s = NULL;
  if (want_str(c, n, path, &s) < 0 || s == NULL)
    return s == NULL && n == NULL ? 0 : -1;
  if (strcmp(s, "true") && strcmp(s, "false"))
    return fail(c, n, path, "expected true or false");
  *out = strcmp(s, "true") == 0;
  return 0;
}

static int want_i64(struct ictx *c, yaml_node_t *n, const char *path, int64_t *out, bool *set) {
  const char *s = NULL;
  *set = false;
  if (want_str(c, n, path, &s) < 0)
    return -1;
  if (s == NULL)
    return 0;
  char *end;
  long long v = strtoll(s, &end, 10);
  if (*s == '\0' || *end != '\0' || v < 0 || v > INT32_MAX)
    return fail(c, n, path, "expected a non-negative integer");
  *out = v;
  *set = true;
  return 0;
}

static int want_strv(struct ictx *c, yaml_node_t *n, const char *path, struct kk_strv *out) {
  if (n == NULL)
    return 0;
  if (n->type != YAML_SEQUENCE_NODE)
    return fail(c, n, path, "expected a list of strings");
  for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
    const char *s = scalar(yaml_document_get_node(c->yd, *it));
    if (s == NULL)
      return fail(c, n, path, "expected a list of strings");
    kk_strv_push(out, s);
  }
  return 0;
}

/* Calls fn on each item of a list (absent: none). */
typedef int (*item_fn)(struct ictx *c, yaml_node_t *item, const char *path, void *arg);
static int each(struct ictx *c, yaml_node_t *seq, const char *path, item_fn fn, void *arg) {
  if (seq == NULL)
    return 0;
  if (seq->type != YAML_SEQUENCE_NODE)
    return fail(c, seq, path, "expected a list");
  size_t i = 0;
  for (yaml_node_item_t *it = seq->data.sequence.items.start; it < seq->data.sequence.items.top; it++, i++) {
    char p[256];
    snprintf(p, sizeof(p), "%s[%zu]", path, i);
    if (fn(c, yaml_document_get_node(c->yd, *it), p, arg) < 0)
      return -1;
  }
  return 0;
}

/* ------------------------------------------------------------ volumes */

struct pod_volume {
  const char *name;
  const char *host_path; /* NULL: an emptyDir (a tmpfs) */
  int64_t size_bytes;
};
struct pod_volumes {
  struct pod_volume *v;
  size_t n;
};

static int parse_volume(struct ictx *c, yaml_node_t *n, const char *path, void *arg) {
  static const char *const known[] = {"name", "hostPath", "emptyDir", NULL};
  struct pod_volumes *vols = arg;
  struct pod_volume v = {0};
  char p[300];
  if (check_keys(c, n, path, known, NULL) < 0 || want_str(c, get(c, n, "name"), path, &v.name) < 0)
    return -1;
  if (v.name == NULL)
    return fail(c, n, path, "name: a volume needs a name");
  yaml_node_t *hp = get(c, n, "hostPath"), *ed = get(c, n, "emptyDir");
  if ((hp == NULL) == (ed == NULL))
    return fail(c, n, path, "exactly one of hostPath and emptyDir (kukeon binds host paths and mounts tmpfs)");
  static const char *const hp_known[] = {"path", NULL}, *const hp_skip[] = {"type", NULL};
  static const char *const ed_known[] = {"medium", "sizeLimit", NULL};
  if (hp) {
    snprintf(p, sizeof(p), "%s.hostPath", path);
    if (check_keys(c, hp, p, hp_known, hp_skip) < 0 || want_str(c, get(c, hp, "path"), p, &v.host_path) < 0)
      return -1;
    if (v.host_path == NULL)
      return fail(c, hp, p, "path: required");
  } else {
    snprintf(p, sizeof(p), "%s.emptyDir", path);
    const char *size = NULL;
    if (check_keys(c, ed, p, ed_known, NULL) < 0 || want_str(c, get(c, ed, "sizeLimit"), p, &size) < 0)
      return -1;
    kk_err_t qerr = NULL;
    if (size && kk_parse_quantity_bytes(size, &v.size_bytes, &qerr) < 0) {
      fail(c, ed, p, "sizeLimit: %s", qerr->msg);
      kk_error_free(&qerr);
      return -1;
    }
  }
  vols->v = kk_xrealloc(vols->v, (vols->n + 1) * sizeof(*vols->v));
  vols->v[vols->n++] = v;
  return 0;
}

static const struct pod_volume *find_volume(const struct pod_volumes *vols, const char *name) {
  for (size_t i = 0; i < vols->n; i++)
    if (strcmp(vols->v[i].name, name) == 0)
      return &vols->v[i];
  return NULL;
}

struct mount_arg {
  const struct pod_volumes *vols;
  struct kk_container_spec *ct;
};

/* kuke export names a tmpfs of a container's `tmpfs:` list "tmpfs-<n>",
 * one of its `volumes:` "vol-<n>"; any other emptyDir is a tmpfs volume. */
static void add_tmpfs(struct kk_container_spec *ct, const struct pod_volume *v, const char *target, bool ro) {
  if (kk_has_prefix(v->name, "tmpfs-") && !ro) {
    ct->tmpfs = kk_xrealloc(ct->tmpfs, (ct->n_tmpfs + 1) * sizeof(*ct->tmpfs));
    ct->tmpfs[ct->n_tmpfs++] = (struct kk_tmpfs){.path = kk_xstrdup(target), .size_bytes = v->size_bytes};
    return;
  }
  ct->volumes = kk_xrealloc(ct->volumes, (ct->n_volumes + 1) * sizeof(*ct->volumes));
  ct->volumes[ct->n_volumes++] = (struct kk_volume_mount){
      .kind = kk_xstrdup("tmpfs"), .target = kk_xstrdup(target), .read_only = ro, .size_bytes = v->size_bytes};
}

static int parse_mount(struct ictx *c, yaml_node_t *n, const char *path, void *arg) {
  static const char *const known[] = {"name", "mountPath", "readOnly", NULL};
  struct mount_arg *m = arg;
  const char *name = NULL, *target = NULL;
  bool ro = false;
  if (check_keys(c, n, path, known, NULL) < 0 || want_str(c, get(c, n, "name"), path, &name) < 0 ||
      want_str(c, get(c, n, "mountPath"), path, &target) < 0 || want_bool(c, get(c, n, "readOnly"), path, &ro) < 0)
    return -1;
  if (name == NULL || target == NULL)
    return fail(c, n, path, "a volume mount needs name and mountPath");
  const struct pod_volume *v = find_volume(m->vols, name);
  if (v == NULL)
    return fail(c, n, path, "name: no volume \"%s\" in spec.volumes", name);
  if (v->host_path == NULL) {
    add_tmpfs(m->ct, v, target, ro);
    return 0;
  }
  struct kk_container_spec *ct = m->ct;
  ct->volumes = kk_xrealloc(ct->volumes, (ct->n_volumes + 1) * sizeof(*ct->volumes));
  ct->volumes[ct->n_volumes++] = (struct kk_volume_mount){
      .source = kk_xstrdup(v->host_path), .target = kk_xstrdup(target), .read_only = ro};
  return 0;
}

/* ---------------------------------------------------------- container */

static int parse_env(struct ictx *c, yaml_node_t *n, const char *path, void *arg) {
  static const char *const known[] = {"name", "value", NULL};
  const char *name = NULL, *value = NULL;
  if (check_keys(c, n, path, known, NULL) < 0 || want_str(c, get(c, n, "name"), path, &name) < 0 ||
      want_str(c, get(c, n, "value"), path, &value) < 0)
    return -1;
  if (name == NULL)
    return fail(c, n, path, "name: required");
  kk_strv_push_owned(arg, kk_asprintf("%s=%s", name, value ? value : ""));
  return 0;
}

static int parse_port(struct ictx *c, yaml_node_t *n, const char *path, void *arg) {
  static const char *const known[] = {"containerPort", "hostPort", "hostIP", "protocol", NULL};
  static const char *const skipped[] = {"name", NULL};
  const char *cp = NULL, *hp = NULL, *ip = NULL, *proto = NULL;
  if (check_keys(c, n, path, known, skipped) < 0 || want_str(c, get(c, n, "containerPort"), path, &cp) < 0 ||
      want_str(c, get(c, n, "hostPort"), path, &hp) < 0 || want_str(c, get(c, n, "hostIP"), path, &ip) < 0 ||
      want_str(c, get(c, n, "protocol"), path, &proto) < 0)
    return -1;
  if (cp == NULL)
    return fail(c, n, path, "containerPort: required");
  if (proto && strcmp(proto, "TCP") && strcmp(proto, "UDP") && strcmp(proto, "SCTP"))
    return fail(c, n, path, "protocol: expected TCP, UDP or SCTP");
  cleanup_free char *lower = proto ? kk_xstrdup(proto) : NULL;
  for (char *p = lower; p && *p; p++)
    *p = (char)tolower((unsigned char)*p);
  /* A container port with no host port publishes nothing in kukeon either
   * (it is reachable on the cell's address): kept as the bare port. */
  if (ip && hp == NULL)
    return fail(c, n, path, "hostIP: needs hostPort");
  kk_strv_push_owned(arg, kk_asprintf("%s%s%s%s%s%s%s", ip ? ip : "", ip ? ":" : "", hp ? hp : "", hp ? ":" : "", cp,
                                      lower ? "/" : "", lower ? lower : ""));
  return 0;
}

/* "500m", "0.5", "2" -> millicores. */
static int millicores(const char *s, int64_t *out) {
  char *end;
  double v = strtod(s, &end);
  if (end == s || !(v >= 0 && v <= 1e6)) /* NaN too */
    return -1;
  if (strcmp(end, "m") == 0)
    *out = (int64_t)v;
  else if (*end == '\0')
    *out = (int64_t)(v * 1000 + 0.5);
  else
    return -1;
  return 0;
}

static int parse_resources(struct ictx *c, yaml_node_t *n, const char *path, struct kk_container_spec *ct) {
  static const char *const known[] = {"limits", "requests", NULL};
  static const char *const lim_known[] = {"memory", "cpu", NULL};
  static const char *const req_known[] = {"cpu", NULL}, *const req_skip[] = {"memory", NULL};
  char p[300];
  if (check_keys(c, n, path, known, NULL) < 0)
    return -1;
  yaml_node_t *lim = get(c, n, "limits"), *req = get(c, n, "requests");
  snprintf(p, sizeof(p), "%s.limits", path);
  if (lim && check_keys(c, lim, p, lim_known, NULL) < 0)
    return -1;
  snprintf(p, sizeof(p), "%s.requests", path);
  if (req && check_keys(c, req, p, req_known, req_skip) < 0)
    return -1;
  const char *mem = NULL, *cpu_lim = NULL, *cpu_req = NULL;
  if (want_str(c, get(c, lim, "memory"), path, &mem) < 0 || want_str(c, get(c, lim, "cpu"), path, &cpu_lim) < 0 ||
      want_str(c, get(c, req, "cpu"), path, &cpu_req) < 0)
    return -1;
  if (mem) {
    kk_err_t qerr = NULL;
    if (kk_parse_quantity_bytes(mem, &ct->resources.memory_limit_bytes.v, &qerr) < 0) {
      fail(c, lim, path, "limits.memory: %s", qerr->msg);
      kk_error_free(&qerr);
      return -1;
    }
    ct->resources.memory_limit_bytes.set = true;
  }
  int64_t m = 0;
  if (cpu_req) {
    if (millicores(cpu_req, &m) < 0)
      return fail(c, req, path, "requests.cpu: expected CPUs (\"0.5\") or millicores (\"500m\")");
    ct->resources.cpu_shares = (struct kk_opt_i64){.set = true, .v = m * 1024 / 1000 < 2 ? 2 : m * 1024 / 1000};
  }
  if (cpu_lim) {
    /* Containers share the cell's cgroup limit: the Pod's quota is the sum. */
    if (millicores(cpu_lim, &m) < 0 || m == 0)
      return fail(c, lim, path, "limits.cpu: expected CPUs (\"0.5\") or millicores (\"500m\")");
    struct kk_resources *r = &c->cell->spec.resources;
    r->cpu_max_quota_us.v += m * 100;
    r->cpu_max_quota_us.set = true;
    r->cpu_max_period_us = (struct kk_opt_i64){.set = true, .v = 100000};
  }
  return 0;
}

static int parse_caps(struct ictx *c, yaml_node_t *n, const char *path, struct kk_capabilities *caps) {
  static const char *const known[] = {"add", "drop", NULL};
  if (check_keys(c, n, path, known, NULL) < 0 || want_strv(c, get(c, n, "add"), path, &caps->add) < 0 ||
      want_strv(c, get(c, n, "drop"), path, &caps->drop) < 0)
    return -1;
  struct kk_strv *lists[] = {&caps->add, &caps->drop};
  for (size_t l = 0; l < 2; l++)
    for (size_t i = 0; i < lists[l]->n; i++) {
      char *s = lists[l]->v[i];
      for (char *p = s; *p; p++)
        *p = (char)toupper((unsigned char)*p);
      if (!kk_has_prefix(s, "CAP_")) {
        lists[l]->v[i] = kk_asprintf("CAP_%s", s);
        free(s);
      }
    }
  return 0;
}

static int parse_seccomp(struct ictx *c, yaml_node_t *n, const char *path, struct kk_container_spec *ct) {
  static const char *const known[] = {"type", "localhostProfile", NULL};
  const char *type = NULL, *profile = NULL;
  if (check_keys(c, n, path, known, NULL) < 0 || want_str(c, get(c, n, "type"), path, &type) < 0 ||
      want_str(c, get(c, n, "localhostProfile"), path, &profile) < 0)
    return -1;
  if (kk_streq(type, "Unconfined"))
    kk_strv_push(&ct->security_opts, "seccomp=unconfined");
  else if (kk_streq(type, "Localhost") && profile && profile[0] == '/')
    kk_strv_push_owned(&ct->security_opts, kk_asprintf("seccomp=%s", profile));
  else if (!kk_streq(type, "RuntimeDefault"))
    return fail(c, n, path, "type: expected RuntimeDefault, Unconfined or Localhost with an absolute localhostProfile");
  return 0;
}

/* runAsUser/runAsGroup of the Pod, then of the container. */
struct ids {
  int64_t uid, gid;
  bool has_uid, has_gid;
};

static int parse_ids(struct ictx *c, yaml_node_t *sc, const char *path, struct ids *ids) {
  int64_t v;
  bool set;
  if (want_i64(c, get(c, sc, "runAsUser"), path, &v, &set) < 0)
    return -1;
  if (set)
    ids->uid = v, ids->has_uid = true;
  if (want_i64(c, get(c, sc, "runAsGroup"), path, &v, &set) < 0)
    return -1;
  if (set)
    ids->gid = v, ids->has_gid = true;
  return 0;
}

static void set_user(struct kk_container_spec *ct, const struct ids *ids) {
  if (!ids->has_uid)
    return;
  ct->user = ids->has_gid ? kk_asprintf("%" PRId64 ":%" PRId64, ids->uid, ids->gid) : kk_asprintf("%" PRId64, ids->uid);
}

static int parse_security(struct ictx *c, yaml_node_t *n, const char *path, struct kk_container_spec *ct,
                          struct ids ids) {
  static const char *const known[] = {"privileged", "runAsUser", "runAsGroup", "readOnlyRootFilesystem",
                                      "allowPrivilegeEscalation", "seccompProfile", "capabilities", NULL};
  char p[300];
  bool escalate = false;
  if (n != NULL) {
    if (check_keys(c, n, path, known, NULL) < 0 || want_bool(c, get(c, n, "privileged"), path, &ct->privileged) < 0 ||
        want_bool(c, get(c, n, "readOnlyRootFilesystem"), path, &ct->read_only_root_filesystem) < 0 ||
        want_bool(c, get(c, n, "allowPrivilegeEscalation"), path, &escalate) < 0 || parse_ids(c, n, path, &ids) < 0)
      return -1;
    yaml_node_t *caps = get(c, n, "capabilities"), *sp = get(c, n, "seccompProfile");
    snprintf(p, sizeof(p), "%s.capabilities", path);
    if (caps && parse_caps(c, caps, p, &ct->capabilities) < 0)
      return -1;
    snprintf(p, sizeof(p), "%s.seccompProfile", path);
    if (sp && parse_seccomp(c, sp, p, ct) < 0)
      return -1;
  }
  if (ids.has_gid && !ids.has_uid)
    return fail(c, n ? n : yaml_document_get_root_node(c->yd), path,
                "runAsGroup needs runAsUser (a kukeon user is uid[:gid])");
  if (escalate)
    kk_strv_push(&ct->security_opts, "no-new-privileges=false");
  set_user(ct, &ids);
  return 0;
}

struct pod_ctx {
  struct pod_volumes vols;
  struct ids ids;        /* the Pod's securityContext */
  const char *restart;   /* kukeon's spelling, NULL for never */
  bool host_net, host_pid;
};

/* kukeon's command is one path; Kubernetes' extra words lead the args. */
static void split_command(struct kk_container_spec *ct, const struct kk_strv *cmd) {
  if (cmd->n == 0)
    return;
  ct->command = kk_xstrdup(cmd->v[0]);
  struct kk_strv args = {0};
  for (size_t i = 1; i < cmd->n; i++)
    kk_strv_push(&args, cmd->v[i]);
  for (size_t i = 0; i < ct->args.n; i++)
    kk_strv_push(&args, ct->args.v[i]);
  kk_strv_free(&ct->args);
  ct->args = args;
}

/* name, image, command, args, workingDir. */
static int parse_process(struct ictx *c, yaml_node_t *n, const char *path, struct kk_container_spec *ct) {
  const char *name = NULL, *image = NULL, *wd = NULL;
  cleanup_strv struct kk_strv cmd = {0};
  if (want_str(c, get(c, n, "name"), path, &name) < 0 || want_str(c, get(c, n, "image"), path, &image) < 0 ||
      want_str(c, get(c, n, "workingDir"), path, &wd) < 0 || want_strv(c, get(c, n, "command"), path, &cmd) < 0 ||
      want_strv(c, get(c, n, "args"), path, &ct->args) < 0)
    return -1;
  if (name == NULL)
    return fail(c, n, path, "name: a container needs a name");
  ct->id = kk_xstrdup(name);
  ct->image = kk_xstrdup(image);
  ct->working_dir = kk_xstrdup(wd);
  split_command(ct, &cmd);
  return 0;
}

/* Runs fn on n's list under key, with the path "<path>.<key>[i]". */
static int each_of(struct ictx *c, yaml_node_t *n, const char *path, const char *key, item_fn fn, void *arg) {
  char p[300];
  snprintf(p, sizeof(p), "%s.%s", path, key);
  return each(c, get(c, n, key), p, fn, arg);
}

static int parse_container(struct ictx *c, yaml_node_t *n, const char *path, void *arg) {
  static const char *const known[] = {"name",      "image",        "command",         "args", "workingDir", "env",
                                      "ports",     "resources",    "volumeMounts",    "securityContext", NULL};
  static const char *const skipped[] = {"imagePullPolicy", "terminationMessagePath", "terminationMessagePolicy", NULL};
  struct pod_ctx *pod = arg;
  char p[300];
  if (check_keys(c, n, path, known, skipped) < 0)
    return -1;
  struct kk_cell *cell = c->cell;
  cell->spec.containers =
      kk_xrealloc(cell->spec.containers, (cell->spec.n_containers + 1) * sizeof(*cell->spec.containers));
  struct kk_container_spec *ct = &cell->spec.containers[cell->spec.n_containers++];
  memset(ct, 0, sizeof(*ct));
  ct->restart_policy = kk_xstrdup(pod->restart);
  ct->host_network = pod->host_net;
  ct->host_pid = pod->host_pid;
  struct mount_arg ma = {&pod->vols, ct};
  if (parse_process(c, n, path, ct) < 0 || each_of(c, n, path, "env", parse_env, &ct->env) < 0 ||
      each_of(c, n, path, "ports", parse_port, &ct->ports) < 0 ||
      each_of(c, n, path, "volumeMounts", parse_mount, &ma) < 0)
    return -1;
  yaml_node_t *res = get(c, n, "resources");
  snprintf(p, sizeof(p), "%s.resources", path);
  if (res && parse_resources(c, res, p, ct) < 0)
    return -1;
  snprintf(p, sizeof(p), "%s.securityContext", path);
  return parse_security(c, get(c, n, "securityContext"), p, ct, pod->ids);
}

/* --------------------------------------------------------------- pod */

static int restart_of(struct ictx *c, yaml_node_t *n, const char **out) {
  const char *s = NULL;
  *out = "always"; /* Kubernetes' default */
  if (want_str(c, n, "spec.restartPolicy", &s) < 0 || s == NULL)
    return s == NULL && n == NULL ? 0 : -1;
  if (strcmp(s, "Always") == 0)
    *out = "always";
  else if (strcmp(s, "OnFailure") == 0)
    *out = "on-failure";
  else if (strcmp(s, "Never") == 0)
    *out = NULL; /* kukeon's default */
  else
    return fail(c, n, "spec.restartPolicy", "expected Always, OnFailure or Never");
  return 0;
}

static int parse_pod_spec(struct ictx *c, yaml_node_t *spec, const char *path) {
  static const char *const known[] = {"containers", "restartPolicy", "hostNetwork", "hostPID", "volumes",
                                      "securityContext", NULL};
  static const char *const skipped[] = {"dnsPolicy", "schedulerName", "serviceAccountName", "serviceAccount",
                                        "terminationGracePeriodSeconds", "enableServiceLinks", "nodeName",
                                        "priority", "tolerations", "automountServiceAccountToken",
                                        "preemptionPolicy", NULL};
  static const char *const sc_known[] = {"runAsUser", "runAsGroup", NULL};
  char p[300];
  if (spec == NULL)
    return kk_error_kind(c->err, KK_ERR_INVALID, 0, "%s: %s: required", c->file, path);
  if (check_keys(c, spec, path, known, skipped) < 0)
    return -1;
  yaml_node_t *sc = get(c, spec, "securityContext"), *ctrs = get(c, spec, "containers");
  snprintf(p, sizeof(p), "%s.containers", path);
  if (ctrs == NULL || ctrs->type != YAML_SEQUENCE_NODE || ctrs->data.sequence.items.start == ctrs->data.sequence.items.top)
    return fail(c, ctrs ? ctrs : spec, p, "a Pod needs at least one container");
  struct pod_ctx pod = {0};
  snprintf(p, sizeof(p), "%s.securityContext", path);
  int r = -1;
  if (restart_of(c, get(c, spec, "restartPolicy"), &pod.restart) == 0 &&
      want_bool(c, get(c, spec, "hostNetwork"), path, &pod.host_net) == 0 &&
      want_bool(c, get(c, spec, "hostPID"), path, &pod.host_pid) == 0 &&
      (sc == NULL || (check_keys(c, sc, p, sc_known, NULL) == 0 && parse_ids(c, sc, p, &pod.ids) == 0)) &&
      each_of(c, spec, path, "volumes", parse_volume, &pod.vols) == 0)
    r = each_of(c, spec, path, "containers", parse_container, &pod);
  free(pod.vols.v);
  return r;
}

/* metadata: name, labels (placement labels become the cell's parents),
 * annotations. */
static int parse_map(struct ictx *c, yaml_node_t *n, const char *path, struct kk_map *out) {
  if (n == NULL)
    return 0;
  if (n->type != YAML_MAPPING_NODE)
    return fail(c, n, path, "expected a mapping of strings");
  for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
    const char *k = scalar(yaml_document_get_node(c->yd, p->key));
    const char *v = scalar(yaml_document_get_node(c->yd, p->value));
    if (k == NULL || v == NULL)
      return fail(c, n, path, "expected a mapping of strings");
    kk_map_set(out, k, v);
  }
  return 0;
}

static int parse_metadata(struct ictx *c, yaml_node_t *md, const char *path, bool need_name) {
  static const char *const known[] = {"name", "labels", "annotations", NULL};
  static const char *const skipped[] = {"namespace", "uid", "resourceVersion", "creationTimestamp", "generation",
                                        "managedFields", "selfLink", NULL};
  const char *name = NULL;
  if (md == NULL)
    return need_name ? kk_error_kind(c->err, KK_ERR_INVALID, 0, "%s: %s.name: required", c->file, path) : 0;
  if (check_keys(c, md, path, known, skipped) < 0 || want_str(c, get(c, md, "name"), path, &name) < 0 ||
      parse_map(c, get(c, md, "labels"), path, &c->cell->metadata.labels) < 0 ||
      parse_map(c, get(c, md, "annotations"), path, &c->cell->metadata.annotations) < 0)
    return -1;
  if (need_name && kk_empty(name))
    return fail(c, md, path, "name: required");
  if (name && need_name)
    c->cell->metadata.name = kk_xstrdup(name);
  return 0;
}

/* Takes the value of key out of m (NULL when absent); the caller frees. */
static char *map_take(struct kk_map *m, const char *key) {
  for (size_t i = 0; i < m->n; i++) {
    if (strcmp(m->keys[i], key) != 0)
      continue;
    char *v = m->vals[i];
    free(m->keys[i]);
    memmove(&m->keys[i], &m->keys[i + 1], (m->n - i - 1) * sizeof(*m->keys));
    memmove(&m->vals[i], &m->vals[i + 1], (m->n - i - 1) * sizeof(*m->vals));
    m->n--;
    return v;
  }
  return NULL;
}

static int take_ext(struct ictx *c, yaml_node_t *root, const struct kk_kube_ext *t, size_t n, void *base,
                     const char *key) {
  for (size_t i = 0; i < n; i++) {
    cleanup_free char *ak = kk_asprintf(KK_KUBE_ANNOTATION_PREFIX "%s.%s", key, t[i].field);
    cleanup_free char *v = map_take(&c->cell->metadata.annotations, ak);
    const char *why = NULL;
    if (v && kk_kube_ext_set(&t[i], base, v, &why) < 0)
      return fail(c, root, "metadata.annotations", "%s: %s", ak, why);
  }
  return 0;
}

/* Placement labels and the annotations kuke export wrote, back as fields. */
static int apply_extensions(struct ictx *c, yaml_node_t *root) {
  struct kk_cell *cell = c->cell;
  cell->spec.realm_id = map_take(&cell->metadata.labels, KK_KUBE_LABEL_REALM);
  cell->spec.space_id = map_take(&cell->metadata.labels, KK_KUBE_LABEL_SPACE);
  cell->spec.stack_id = map_take(&cell->metadata.labels, KK_KUBE_LABEL_STACK);
  char **ids[] = {&cell->spec.realm_id, &cell->spec.space_id, &cell->spec.stack_id};
  for (size_t i = 0; i < KK_ARRAY_SIZE(ids); i++)
    if (kk_empty(*ids[i])) {
      free(*ids[i]);
      *ids[i] = kk_xstrdup("default");
    }
  for (size_t i = 0; i < cell->spec.n_containers; i++)
    if (take_ext(c, root, kk_kube_container_ext, kk_kube_n_container_ext, &cell->spec.containers[i],
                 cell->spec.containers[i].id) < 0)
      return -1;
  return take_ext(c, root, kk_kube_cell_ext, kk_kube_n_cell_ext, cell, KK_KUBE_CELL_KEY);
}

static int parse_deployment(struct ictx *c, yaml_node_t *root) {
  static const char *const known[] = {"replicas", "selector", "template", NULL};
  static const char *const skipped[] = {"strategy", "minReadySeconds", "revisionHistoryLimit",
                                        "progressDeadlineSeconds", NULL};
  static const char *const tpl_known[] = {"metadata", "spec", NULL};
  yaml_node_t *spec = get(c, root, "spec"), *tpl = get(c, spec, "template");
  if (spec == NULL || tpl == NULL)
    return fail(c, root, "spec.template", "a Deployment needs a pod template");
  int64_t replicas = 1;
  bool set;
  if (check_keys(c, spec, "spec", known, skipped) < 0 ||
      want_i64(c, get(c, spec, "replicas"), "spec.replicas", &replicas, &set) < 0 ||
      check_keys(c, tpl, "spec.template", tpl_known, NULL) < 0)
    return -1;
  if (replicas > 1)
    return fail(c, get(c, spec, "replicas"), "spec.replicas",
                "%" PRId64 " replicas: a Deployment becomes one cell (replicas 1)", replicas);
  if (parse_metadata(c, get(c, root, "metadata"), "metadata", true) < 0 ||
      parse_metadata(c, get(c, tpl, "metadata"), "spec.template.metadata", false) < 0)
    return -1;
  return parse_pod_spec(c, get(c, tpl, "spec"), "spec.template.spec");
}

bool kk_kube_is_api_version(const char *v) { return strcmp(v, "v1") == 0 || strcmp(v, "apps/v1") == 0; }

int kk_kube_parse(yaml_document_t *yd, yaml_node_t *root, const char *file, struct kk_doc **out, kk_err_t *err) {
  static const char *const known[] = {"apiVersion", "kind", "metadata", "spec", NULL};
  static const char *const skipped[] = {"status", NULL};
  cleanup_doc struct kk_doc *doc = kk_doc_new(KK_KIND_CELL);
  doc->file = kk_xstrdup(file);
  doc->line = (int)root->start_mark.line + 1;
  struct ictx c = {.yd = yd, .file = file, .err = err, .cell = &doc->u.cell};
  const char *av = scalar(get(&c, root, "apiVersion")), *kind = scalar(get(&c, root, "kind"));
  if (check_keys(&c, root, "document", known, skipped) < 0)
    return -1;
  bool pod = kk_streq(av, "v1") && kk_streq(kind, "Pod");
  if (!pod && !(kk_streq(av, "apps/v1") && kk_streq(kind, "Deployment")))
    return fail(&c, root, "kind", "%s %s: not a kind kukeon imports (a v1 Pod or an apps/v1 Deployment)", av,
                kind ? kind : "(none)");
  if (pod && (parse_metadata(&c, get(&c, root, "metadata"), "metadata", true) < 0 ||
              parse_pod_spec(&c, get(&c, root, "spec"), "spec") < 0))
    return -1;
  if ((!pod && parse_deployment(&c, root) < 0) || apply_extensions(&c, root) < 0)
    return -1;
  *out = kk_steal(&doc);
  return 0;
}

/* Cells as Kubernetes YAML: one v1 Pod per cell.  What Kubernetes cannot
 * say is named in a comment above the Pod and kept in an annotation that
 * kube_import.c reads back. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "lib/cleanup.h"
#include "model/kube.h"

#define CS struct kk_container_spec
const struct kk_kube_ext kk_kube_container_ext[] = {
    {"root", KK_KUBE_EXT_BOOL, offsetof(CS, root)},
    {"restartPolicy", KK_KUBE_EXT_STR, offsetof(CS, restart_policy)},
    {"restartBackoffSeconds", KK_KUBE_EXT_OPT_I64, offsetof(CS, restart_backoff_seconds)},
    {"restartMaxRetries", KK_KUBE_EXT_OPT_I64, offsetof(CS, restart_max_retries)},
    {"resources.cpuShares", KK_KUBE_EXT_OPT_I64, offsetof(CS, resources.cpu_shares)},
    {"resources.pidsLimit", KK_KUBE_EXT_OPT_I64, offsetof(CS, resources.pids_limit)},
    {"user", KK_KUBE_EXT_STR, offsetof(CS, user)},
    {"securityOpts", KK_KUBE_EXT_STRV, offsetof(CS, security_opts)},
    {"devices", KK_KUBE_EXT_STRV, offsetof(CS, devices)},
    {"networks", KK_KUBE_EXT_STRV, offsetof(CS, networks)},
    {"networksAliases", KK_KUBE_EXT_STRV, offsetof(CS, networks_aliases)},
    {"hostCgroup", KK_KUBE_EXT_BOOL, offsetof(CS, host_cgroup)},
    {"attachable", KK_KUBE_EXT_BOOL, offsetof(CS, attachable)},
    {"cniConfigPath", KK_KUBE_EXT_STR, offsetof(CS, cni_config_path)},
};
const size_t kk_kube_n_container_ext = KK_ARRAY_SIZE(kk_kube_container_ext);
#undef CS

#define CELL struct kk_cell
const struct kk_kube_ext kk_kube_cell_ext[] = {
    {"tty.default", KK_KUBE_EXT_STR, offsetof(CELL, spec.tty.default_)},
    {"autoDelete", KK_KUBE_EXT_BOOL, offsetof(CELL, spec.auto_delete)},
    {"nestedCgroupRuntime", KK_KUBE_EXT_BOOL, offsetof(CELL, spec.nested_cgroup_runtime)},
    {"resources.memoryMaxBytes", KK_KUBE_EXT_OPT_I64, offsetof(CELL, spec.resources.memory_max_bytes)},
    {"resources.memoryHighBytes", KK_KUBE_EXT_OPT_I64, offsetof(CELL, spec.resources.memory_high_bytes)},
    {"resources.cpuWeight", KK_KUBE_EXT_OPT_I64, offsetof(CELL, spec.resources.cpu_weight)},
    {"resources.cpuMaxQuotaMicros", KK_KUBE_EXT_OPT_I64, offsetof(CELL, spec.resources.cpu_max_quota_us)},
    {"resources.cpuMaxPeriodMicros", KK_KUBE_EXT_OPT_I64, offsetof(CELL, spec.resources.cpu_max_period_us)},
    {"resources.pidsMax", KK_KUBE_EXT_OPT_I64, offsetof(CELL, spec.resources.pids_max)},
    {"resources.ioWeight", KK_KUBE_EXT_OPT_I64, offsetof(CELL, spec.resources.io_weight)},
};
const size_t kk_kube_n_cell_ext = KK_ARRAY_SIZE(kk_kube_cell_ext);
#undef CELL

char *kk_kube_ext_value(const struct kk_kube_ext *x, const void *base) {
  const void *p = (const char *)base + x->off;
  switch (x->type) {
  case KK_KUBE_EXT_BOOL: return *(const bool *)p ? kk_xstrdup("true") : NULL;
  case KK_KUBE_EXT_STR: return kk_empty(*(char *const *)p) ? NULL : kk_xstrdup(*(char *const *)p);
  case KK_KUBE_EXT_OPT_I64: {
    const struct kk_opt_i64 *o = p;
    return o->set ? kk_asprintf("%" PRId64, o->v) : NULL;
  }
  case KK_KUBE_EXT_STRV: {
    const struct kk_strv *sv = p;
    if (sv->n == 0)
      return NULL;
    cleanup_json json_t *a = json_array();
    for (size_t i = 0; i < sv->n; i++)
      json_array_append_new(a, json_string(sv->v[i]));
    char *s = json_dumps(a, JSON_COMPACT);
    if (s == NULL)
      kk_oom();
    return s;
  }
  }
  return NULL;
}

static int set_strv(struct kk_strv *sv, const char *value, const char **why) {
  json_error_t jerr;
  cleanup_json json_t *a = json_loads(value, 0, &jerr);
  if (!json_is_array(a)) {
    *why = "expected a JSON array of strings";
    return -1;
  }
  kk_strv_free(sv);
  for (size_t i = 0; i < json_array_size(a); i++) {
    const char *s = json_string_value(json_array_get(a, i));
    if (s == NULL) {
      *why = "expected a JSON array of strings";
      return -1;
    }
    kk_strv_push(sv, s);
  }
  return 0;
}

int kk_kube_ext_set(const struct kk_kube_ext *x, void *base, const char *value, const char **why) {
  void *p = (char *)base + x->off;
  switch (x->type) {
  case KK_KUBE_EXT_BOOL:
    if (strcmp(value, "true") && strcmp(value, "false")) {
      *why = "expected true or false";
      return -1;
    }
    *(bool *)p = strcmp(value, "true") == 0;
    return 0;
  case KK_KUBE_EXT_STR: /* "" is the field unset */
    free(*(char **)p);
    *(char **)p = *value ? kk_xstrdup(value) : NULL;
    return 0;
  case KK_KUBE_EXT_OPT_I64: {
    char *end;
    errno = 0;
    long long v = strtoll(value, &end, 10);
    if (*value == '\0' || *end != '\0' || errno != 0) {
      *why = "expected an integer";
      return -1;
    }
    *(struct kk_opt_i64 *)p = (struct kk_opt_i64){.set = true, .v = v};
    return 0;
  }
  case KK_KUBE_EXT_STRV: return set_strv(p, value, why);
  }
  return -1;
}

/* ------------------------------------------------------------- writer */

struct out {
  FILE *f;
  struct kk_strv notes;       /* comment lines: what Kubernetes cannot say */
  struct kk_map annotations;  /* the same, for the import */
  const char *restart;        /* the Pod's restartPolicy */
};

/* A YAML double-quoted scalar: every string, so none reads as another type. */
static void q(FILE *f, const char *s) {
  fputc('"', f);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\')
      fprintf(f, "\\%c", *p);
    else if (*p == '\n')
      fputs("\\n", f);
    else if (*p == '\t')
      fputs("\\t", f);
    else if (*p < 0x20 || *p == 0x7f)
      fprintf(f, "\\x%02x", *p);
    else
      fputc(*p, f);
  }
  fputc('"', f);
}

static void kv(FILE *f, int ind, const char *key, const char *val) {
  fprintf(f, "%*s%s: ", ind, "", key);
  q(f, val);
  fputc('\n', f);
}

static void str_list(FILE *f, int ind, const char *key, const char *const *v, size_t n) {
  fprintf(f, "%*s%s:\n", ind, "", key);
  for (size_t i = 0; i < n; i++) {
    fprintf(f, "%*s- ", ind, "");
    q(f, v[i]);
    fputc('\n', f);
  }
}

static void map_block(FILE *f, int ind, const char *key, const struct kk_map *m) {
  if (m->n == 0)
    return;
  fprintf(f, "%*s%s:\n", ind, "", key);
  for (size_t i = 0; i < m->n; i++) {
    fprintf(f, "%*s", ind + 2, "");
    q(f, m->keys[i]);
    fputs(": ", f);
    q(f, m->vals[i]);
    fputc('\n', f);
  }
}

static void note(struct out *o, char *line) { kk_strv_push_owned(&o->notes, line); }

/* Each set field of a table: a note and an annotation.  A value that ends
 * in `derived` is the one kukeon fills in itself on this host (the space's
 * conflist): not part of what the cell means. */
static void ext_fields(struct out *o, const struct kk_kube_ext *t, size_t n, const void *base, const char *who,
                       const char *key, const char *derived) {
  for (size_t i = 0; i < n; i++) {
    cleanup_free char *v = kk_kube_ext_value(&t[i], base);
    if (v == NULL || (derived && kk_has_suffix(v, derived)))
      continue;
    cleanup_free char *ak = kk_asprintf(KK_KUBE_ANNOTATION_PREFIX "%s.%s", key, t[i].field);
    note(o, kk_asprintf("%s: %s: %s (annotation %s)", who, t[i].field, v, ak));
    kk_map_set(&o->annotations, ak, v);
  }
}

/* ---------------------------------------------------------- container */

/* Kubernetes names Pods and containers with DNS-1123 labels; kukeon's
 * names also allow capitals, '.' and '_'. */
static bool dns_label(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > 63 || s[0] == '-' || s[n - 1] == '-')
    return false;
  for (size_t i = 0; i < n; i++)
    if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '-'))
      return false;
  return true;
}

static void check_name(struct out *o, const char *what, const char *name) {
  if (!dns_label(name))
    note(o, kk_asprintf("%s name \"%s\" is not a DNS-1123 label: a Kubernetes API server refuses it (podman takes it)",
                        what, name));
}

static bool is_pause(const struct kk_container_spec *c) { return kk_streq(c->image, KK_PAUSE_IMAGE); }

static bool all_digits(const char *s, size_t n) {
  if (n == 0)
    return false;
  for (size_t i = 0; i < n; i++)
    if (!isdigit((unsigned char)s[i]))
      return false;
  return true;
}

/* "[hostIP:]hostPort:containerPort[/proto]" or "containerPort[/proto]". */
static void emit_port(FILE *f, const char *spec) {
  cleanup_free char *copy = kk_xstrdup(spec);
  char *proto = strchr(copy, '/');
  if (proto)
    *proto++ = '\0';
  char *last = strrchr(copy, ':');
  fprintf(f, "    - containerPort: %s\n", last ? last + 1 : copy);
  if (last) {
    *last = '\0';
    char *ip = strrchr(copy, ':');
    fprintf(f, "      hostPort: %s\n", ip ? ip + 1 : copy);
    if (ip) {
      *ip = '\0';
      kv(f, 6, "hostIP", copy);
    }
  }
  if (proto) {
    for (char *p = proto; *p; p++)
      *p = (char)toupper((unsigned char)*p);
    fprintf(f, "      protocol: %s\n", proto);
  }
}

static void emit_env(FILE *f, const struct kk_strv *env) {
  fprintf(f, "    env:\n");
  for (size_t i = 0; i < env->n; i++) {
    const char *eq = strchr(env->v[i], '=');
    cleanup_free char *name = eq ? kk_xstrndup(env->v[i], (size_t)(eq - env->v[i])) : kk_xstrdup(env->v[i]);
    fprintf(f, "    - name: ");
    q(f, name);
    fprintf(f, "\n      value: ");
    q(f, eq ? eq + 1 : "");
    fputc('\n', f);
  }
}

/* cpu.shares 1024 is one CPU for Kubernetes (requests.cpu "1000m"). */
static void emit_resources(FILE *f, const struct kk_container_resources *r) {
  if (!r->memory_limit_bytes.set && !r->cpu_shares.set)
    return;
  fprintf(f, "    resources:\n");
  if (r->memory_limit_bytes.set)
    fprintf(f, "      limits:\n        memory: \"%" PRId64 "\"\n", r->memory_limit_bytes.v);
  if (r->cpu_shares.set)
    fprintf(f, "      requests:\n        cpu: \"%" PRId64 "m\"\n", r->cpu_shares.v * 1000 / 1024);
}

static void emit_caps(FILE *f, const char *key, const struct kk_strv *caps) {
  if (caps->n == 0)
    return;
  fprintf(f, "        %s:\n", key);
  for (size_t i = 0; i < caps->n; i++) {
    fprintf(f, "        - ");
    q(f, kk_has_prefix(caps->v[i], "CAP_") ? caps->v[i] + 4 : caps->v[i]);
    fputc('\n', f);
  }
}

/* runAsUser/runAsGroup when the user is numeric ("1000" or "1000:1000"). */
static bool numeric_user(const char *u, int64_t *uid, int64_t *gid) {
  const char *colon = strchr(u, ':');
  size_t ulen = colon ? (size_t)(colon - u) : strlen(u);
  if (!all_digits(u, ulen) || ulen > 9 || (colon && (!all_digits(colon + 1, strlen(colon + 1)) || strlen(colon + 1) > 9)))
    return false;
  *uid = strtoll(u, NULL, 10);
  *gid = colon ? strtoll(colon + 1, NULL, 10) : -1;
  return true;
}

static void emit_security(FILE *f, const struct kk_container_spec *c) {
  int64_t uid = -1, gid = -1;
  bool num = c->user && numeric_user(c->user, &uid, &gid);
  bool nnp_off = kk_strv_contains(&c->security_opts, "no-new-privileges=false");
  bool unconfined = kk_strv_contains(&c->security_opts, "seccomp=unconfined");
  bool caps = c->capabilities.add.n || c->capabilities.drop.n;
  if (!c->privileged && !num && !c->read_only_root_filesystem && !nnp_off && !unconfined && !caps)
    return;
  fprintf(f, "    securityContext:\n");
  if (c->privileged)
    fprintf(f, "      privileged: true\n");
  if (num)
    fprintf(f, "      runAsUser: %" PRId64 "\n", uid);
  if (num && gid >= 0)
    fprintf(f, "      runAsGroup: %" PRId64 "\n", gid);
  if (c->read_only_root_filesystem)
    fprintf(f, "      readOnlyRootFilesystem: true\n");
  if (nnp_off)
    fprintf(f, "      allowPrivilegeEscalation: true\n");
  if (unconfined)
    fprintf(f, "      seccompProfile:\n        type: Unconfined\n");
  if (caps) {
    fprintf(f, "      capabilities:\n");
    emit_caps(f, "add", &c->capabilities.add);
    emit_caps(f, "drop", &c->capabilities.drop);
  }
}

/* Volumes of the Pod, in the order the mounts come: vol-<n> for a
 * container's `volumes:`, tmpfs-<n> for its `tmpfs:` list (the import tells
 * them apart by that name). */
struct vols {
  FILE *f; /* the Pod's spec.volumes, written after the containers */
  char *buf;
  size_t len;
  size_t n;
};

static void emit_mounts(struct out *o, struct vols *v, const struct kk_container_spec *c) {
  if (c->n_volumes == 0 && c->n_tmpfs == 0)
    return;
  fprintf(o->f, "    volumeMounts:\n");
  for (size_t i = 0; i < c->n_volumes; i++) {
    const struct kk_volume_mount *m = &c->volumes[i];
    fprintf(o->f, "    - name: vol-%zu\n", v->n);
    kv(o->f, 6, "mountPath", m->target);
    if (m->read_only)
      fprintf(o->f, "      readOnly: true\n");
    fprintf(v->f, "  - name: vol-%zu\n", v->n++);
    if (kk_streq(m->kind, "tmpfs")) {
      fprintf(v->f, "    emptyDir:\n      medium: Memory\n");
      if (m->size_bytes > 0)
        fprintf(v->f, "      sizeLimit: \"%" PRId64 "\"\n", m->size_bytes);
      if (m->mode != 0)
        note(o, kk_asprintf("container %s: volumes[%zu].mode: 0%" PRIo64 " (no Kubernetes field; the emptyDir's mode is "
                            "the runtime's)", c->id, i, m->mode));
    } else {
      fprintf(v->f, "    hostPath:\n");
      kv(v->f, 6, "path", m->source);
    }
  }
  for (size_t i = 0; i < c->n_tmpfs; i++) {
    const struct kk_tmpfs *t = &c->tmpfs[i];
    fprintf(o->f, "    - name: tmpfs-%zu\n", v->n);
    kv(o->f, 6, "mountPath", t->path);
    fprintf(v->f, "  - name: tmpfs-%zu\n    emptyDir:\n      medium: Memory\n", v->n++);
    if (t->size_bytes > 0)
      fprintf(v->f, "      sizeLimit: \"%" PRId64 "\"\n", t->size_bytes);
    if (t->options.n) {
      cleanup_free char *opts = kk_strv_join(&t->options, ",");
      note(o, kk_asprintf("container %s: tmpfs[%zu].options: %s (no Kubernetes field; exported as an emptyDir)", c->id,
                          i, opts));
    }
  }
}

static void emit_container(struct out *o, struct vols *v, const struct kk_container_spec *c) {
  FILE *f = o->f;
  check_name(o, "container", c->id);
  fprintf(f, "  - name: ");
  q(f, c->id);
  fputc('\n', f);
  kv(f, 4, "image", c->image);
  if (kk_has_prefix(c->image, "kukeon.internal/"))
    note(o, kk_asprintf("container %s: image %s is built by kukeon on its host, in no registry", c->id, c->image));
  /* kukeon pulls an image only when it has none by that name. */
  fprintf(f, "    imagePullPolicy: IfNotPresent\n");
  if (!kk_empty(c->command))
    str_list(f, 4, "command", (const char *const *)&c->command, 1);
  if (c->args.n)
    str_list(f, 4, "args", (const char *const *)c->args.v, c->args.n);
  if (!kk_empty(c->working_dir))
    kv(f, 4, "workingDir", c->working_dir);
  if (c->env.n)
    emit_env(f, &c->env);
  if (c->ports.n) {
    fprintf(f, "    ports:\n");
    for (size_t i = 0; i < c->ports.n; i++)
      emit_port(f, c->ports.v[i]);
  }
  emit_resources(f, &c->resources);
  emit_mounts(o, v, c);
  emit_security(f, c);
  cleanup_free char *who = kk_asprintf("container %s", c->id);
  cleanup_free char *conflist = kk_asprintf("/%s/%s/network.conflist", c->realm_id, c->space_id);
  ext_fields(o, kk_kube_container_ext, kk_kube_n_container_ext, c, who, c->id, conflist);
  if (kk_empty(c->restart_policy) && strcmp(o->restart, "Never") != 0) {
    /* An empty annotation is kukeon's default (never) on the way back. */
    cleanup_free char *ak = kk_asprintf(KK_KUBE_ANNOTATION_PREFIX "%s.restartPolicy", c->id);
    note(o, kk_asprintf("%s: restartPolicy: never, the Pod's is %s (annotation %s)", who, o->restart, ak));
    kk_map_set(&o->annotations, ak, "");
  }
}

/* --------------------------------------------------------------- pod */

/* Kubernetes restarts per Pod; kukeon per container.  The first
 * container's policy is the Pod's; each container's own is also kept in
 * its restartPolicy annotation when it sets one. */
static const char *pod_restart_policy(const struct kk_cell *cell) {
  for (size_t i = 0; i < cell->spec.n_containers; i++) {
    const struct kk_container_spec *c = &cell->spec.containers[i];
    if (is_pause(c))
      continue;
    if (kk_streq(c->restart_policy, "always"))
      return "Always";
    if (kk_streq(c->restart_policy, "on-failure"))
      return "OnFailure";
    return "Never";
  }
  return "Never";
}

static void pod_labels(const struct kk_cell *cell, struct kk_map *labels) {
  kk_map_copy(labels, &cell->metadata.labels);
  kk_map_set(labels, KK_KUBE_LABEL_REALM, cell->spec.realm_id ? cell->spec.realm_id : "");
  kk_map_set(labels, KK_KUBE_LABEL_SPACE, cell->spec.space_id ? cell->spec.space_id : "");
  kk_map_set(labels, KK_KUBE_LABEL_STACK, cell->spec.stack_id ? cell->spec.stack_id : "");
}

/* The Pod's spec into o->f; notes and annotations collected in o. */
static void emit_pod_spec(struct out *o, const struct kk_cell *cell) {
  struct vols v = {0};
  v.f = open_memstream(&v.buf, &v.len);
  if (v.f == NULL)
    kk_oom();
  bool host_net = false, host_pid = false;
  check_name(o, "cell", cell->metadata.name);
  o->restart = pod_restart_policy(cell);
  fprintf(o->f, "spec:\n  restartPolicy: %s\n  containers:\n", o->restart);
  for (size_t i = 0; i < cell->spec.n_containers; i++) {
    const struct kk_container_spec *c = &cell->spec.containers[i];
    host_net |= c->host_network;
    host_pid |= c->host_pid;
    if (is_pause(c))
      continue; /* the Pod's own sandbox container stands for it */
    emit_container(o, &v, c);
  }
  if (host_net)
    fprintf(o->f, "  hostNetwork: true\n");
  if (host_pid)
    fprintf(o->f, "  hostPID: true\n");
  fclose(v.f);
  if (v.n)
    fprintf(o->f, "  volumes:\n%s", v.buf);
  free(v.buf);
  ext_fields(o, kk_kube_cell_ext, kk_kube_n_cell_ext, cell, "cell", KK_KUBE_CELL_KEY, NULL);
}

static void export_cell(FILE *f, const struct kk_cell *cell) {
  struct out o = {0};
  char *spec = NULL;
  size_t len = 0;
  o.f = open_memstream(&spec, &len);
  if (o.f == NULL)
    kk_oom();
  emit_pod_spec(&o, cell);
  fclose(o.f);
  fprintf(f, "---\n# kukeon cell %s/%s/%s/%s\n", cell->spec.realm_id, cell->spec.space_id, cell->spec.stack_id,
          cell->metadata.name);
  if (o.notes.n)
    fprintf(f, "# No Kubernetes equivalent (kept in annotations for kuke apply):\n");
  for (size_t i = 0; i < o.notes.n; i++)
    fprintf(f, "#   %s\n", o.notes.v[i]);
  fprintf(f, "apiVersion: v1\nkind: Pod\nmetadata:\n");
  kv(f, 2, "name", cell->metadata.name);
  struct kk_map labels = {0};
  pod_labels(cell, &labels);
  map_block(f, 2, "labels", &labels);
  kk_map_free(&labels);
  struct kk_map ann = {0};
  kk_map_copy(&ann, &cell->metadata.annotations);
  for (size_t i = 0; i < o.annotations.n; i++)
    kk_map_set(&ann, o.annotations.keys[i], o.annotations.vals[i]);
  map_block(f, 2, "annotations", &ann);
  kk_map_free(&ann);
  fputs(spec, f);
  free(spec);
  kk_strv_free(&o.notes);
  kk_map_free(&o.annotations);
}

char *kk_kube_export(const struct kk_doc *const *cells, size_t n) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  if (f == NULL)
    kk_oom();
  for (size_t i = 0; i < n; i++)
    if (cells[i]->kind == KK_KIND_CELL)
      export_cell(f, &cells[i]->u.cell);
  fclose(f);
  return buf;
}

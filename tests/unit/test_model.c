/* model/: manifests (parse, emit, round trips), validation rules with their
 * "<file>:<line>: <field>: <why>" errors, derived names, configuration files.
 *
 * Tests marked BUG fail on purpose: they pin a defect in model/ that is
 * reported, not fixed here. */
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/fs.h"
#include "model/model.h"
#include "tests/unit/unit.h"

#define FILE_NAME "t.yaml"
#define T0 1767323045 /* 2026-01-02T03:04:05Z */

/* ------------------------------------------------------------- helpers */

static void parse_list(const char *yaml, size_t len, struct kk_doc_list *l) {
  kk_err_t err = NULL;
  int r = kk_docs_parse(yaml, len, FILE_NAME, l, &err);
  ck_assert_msg(r == 0, "parse failed: %s", err ? err->msg : "?");
  kk_error_free(&err);
}

/* Exactly one document, parsed. */
static struct kk_doc *parse1(const char *yaml) {
  struct kk_doc_list l = {0};
  parse_list(yaml, strlen(yaml), &l);
  ck_assert_uint_eq(l.n, 1);
  struct kk_doc *d = l.docs[0];
  free(l.docs);
  return d;
}

/* The parse must fail; returns the message (caller frees). */
static char *parse_fail_len(const char *yaml, size_t len) {
  struct kk_doc_list l = {0};
  kk_err_t err = NULL;
  int r = kk_docs_parse(yaml, len, FILE_NAME, &l, &err);
  if (r == 0) {
    cleanup_free char *y = l.n ? kk_doc_to_yaml(l.docs[0]) : kk_xstrdup("(no documents)");
    kk_doc_list_free(&l);
    ck_abort_msg("parse unexpectedly succeeded; first document:\n%.1500s", y);
  }
  ck_assert_ptr_nonnull(err);
  ck_assert_uint_eq(l.n, 0); /* nothing handed out on error */
  ck_assert_int_eq(err->kind, KK_ERR_INVALID);
  char *msg = kk_xstrdup(err->msg);
  kk_error_free(&err);
  return msg;
}
static char *parse_fail(const char *yaml) { return parse_fail_len(yaml, strlen(yaml)); }

/* Parse, normalize and validate: must fail in normalize or validate. */
static char *check_fail(const char *yaml) {
  cleanup_doc struct kk_doc *d = parse1(yaml);
  kk_err_t err = NULL;
  if (kk_doc_normalize(d, NULL, &err) == 0 && kk_doc_validate(d, &err) == 0) {
    cleanup_free char *y = kk_doc_to_yaml(d);
    ck_abort_msg("validation unexpectedly succeeded:\n%.1500s", y);
  }
  ck_assert_ptr_nonnull(err);
  ck_assert_int_eq(err->kind, KK_ERR_INVALID);
  char *msg = kk_xstrdup(err->msg);
  kk_error_free(&err);
  return msg;
}

static struct kk_doc *check_ok(const char *yaml) {
  struct kk_doc *d = parse1(yaml);
  kk_err_t err = NULL;
  int r = kk_doc_normalize(d, NULL, &err);
  if (r == 0)
    r = kk_doc_validate(d, &err);
  ck_assert_msg(r == 0, "validation failed: %s\n%s", err ? err->msg : "?", yaml);
  return d;
}

/* "<file>:<line>: <field>: " prefix, and `why` somewhere after it. */
static void expect_msg(const char *msg, int line, const char *field, const char *why) {
  char prefix[512];
  snprintf(prefix, sizeof(prefix), "%s:%d: %s: ", FILE_NAME, line, field);
  ck_assert_msg(strncmp(msg, prefix, strlen(prefix)) == 0, "error \"%s\" does not start with \"%s\"", msg, prefix);
  ck_assert_msg(strstr(msg + strlen(prefix), why) != NULL, "error \"%s\" does not say \"%s\"", msg, why);
}

static void fail_with(const char *yaml, int line, const char *field, const char *why) {
  cleanup_free char *msg = check_fail(yaml);
  expect_msg(msg, line, field, why);
}

static void parse_fails_with(const char *yaml, int line, const char *field, const char *why) {
  cleanup_free char *msg = parse_fail(yaml);
  expect_msg(msg, line, field, why);
}

static char *cat(const char *a, const char *b) { return kk_asprintf("%s%s", a, b); }

/* Round trip: emit, re-parse, compare specs and the re-emitted text (which
 * includes the status).  Returns the emitted YAML. */
static char *round_trip(const struct kk_doc *d) {
  char *y1 = kk_doc_to_yaml(d);
  struct kk_doc *d2 = NULL;
  kk_err_t err = NULL;
  int r = kk_doc_parse_one(y1, strlen(y1), "emitted.yaml", d->kind, &d2, &err);
  ck_assert_msg(r == 0, "re-parse of emitted YAML failed: %s\n%s", err ? err->msg : "?", y1);
  ck_assert_msg(kk_doc_spec_equal(d, d2), "re-parsed document differs:\n%s", y1);
  ck_assert_msg(kk_doc_spec_equal(d2, d), "re-parsed document differs (reversed):\n%s", y1);
  struct kk_strv diff = {0};
  kk_doc_spec_diff(d, d2, &diff);
  ck_assert_uint_eq(diff.n, 0);
  kk_strv_free(&diff);
  cleanup_free char *y2 = kk_doc_to_yaml(d2);
  ck_assert_str_eq(y1, y2);
  /* The JSON of both is the same text too. */
  cleanup_free char *j1 = kk_doc_to_json(d);
  cleanup_free char *j2 = kk_doc_to_json(d2);
  ck_assert_str_eq(j1, j2);
  kk_doc_free(d2);
  return y1;
}

static json_t *json_of(const struct kk_doc *d) {
  cleanup_free char *j = kk_doc_to_json(d);
  json_error_t jerr;
  json_t *root = json_loads(j, JSON_REJECT_DUPLICATES, &jerr);
  ck_assert_msg(root != NULL, "kk_doc_to_json is not JSON: %s (line %d)\n%s", jerr.text, jerr.line, j);
  ck_assert(json_is_object(root));
  return root;
}

/* Dotted path into a JSON object ("spec.resources.cpuWeight"). */
static json_t *jget(json_t *root, const char *path) {
  cleanup_free char *copy = kk_xstrdup(path);
  json_t *cur = root;
  char *save = NULL;
  for (char *p = strtok_r(copy, ".", &save); p; p = strtok_r(NULL, ".", &save)) {
    ck_assert_msg(json_is_object(cur), "%s: not an object at %s", path, p);
    cur = json_object_get(cur, p);
    ck_assert_msg(cur != NULL, "JSON has no %s (missing %s)", path, p);
  }
  return cur;
}

static void jkeys(json_t *obj, const char *const *keys, size_t n, const char *where) {
  ck_assert_msg(json_is_object(obj), "%s is not an object", where);
  for (size_t i = 0; i < n; i++)
    ck_assert_msg(json_object_get(obj, keys[i]) != NULL, "JSON %s lacks key %s", where, keys[i]);
  ck_assert_msg(json_object_size(obj) == n, "JSON %s has %zu keys, expected %zu", where, json_object_size(obj), n);
}

static void jstr(json_t *root, const char *path, const char *want) {
  json_t *v = jget(root, path);
  ck_assert_msg(json_is_string(v), "%s is not a string", path);
  ck_assert_str_eq(json_string_value(v), want);
}
static void jint(json_t *root, const char *path, long long want) {
  json_t *v = jget(root, path);
  ck_assert_msg(json_is_integer(v), "%s is not an integer", path);
  ck_assert_int_eq(json_integer_value(v), want);
}
static void jbool(json_t *root, const char *path, bool want) {
  json_t *v = jget(root, path);
  ck_assert_msg(json_is_boolean(v), "%s is not a boolean", path);
  ck_assert_int_eq(json_is_true(v), want);
}

static void strv_is(const struct kk_strv *sv, int n, ...) {
  ck_assert_uint_eq(sv->n, (size_t)n);
  va_list ap;
  va_start(ap, n);
  for (int i = 0; i < n; i++)
    ck_assert_str_eq(sv->v[i], va_arg(ap, const char *));
  va_end(ap);
  ck_assert_ptr_null(sv->v[n]);
}

static void opt_is(struct kk_opt_i64 o, int64_t v) {
  ck_assert(o.set);
  ck_assert_int_eq(o.v, v);
}

/* ------------------------------------------------- full documents (all fields) */

#define RESOURCES_FULL(ind)                                                                        \
  ind "resources:\n" ind "  memoryMaxBytes: 1073741824\n" ind "  memoryHighBytes: 536870912\n" ind \
      "  cpuWeight: 200\n" ind "  cpuMaxQuotaMicros: 50000\n" ind "  cpuMaxPeriodMicros: 100000\n" ind \
      "  pidsMax: 1000\n" ind "  ioWeight: 300\n"

#define STATUS_BASE_FULL(state)                                                                    \
  "status:\n"                                                                                      \
  "  state: " state "\n"                                                                           \
  "  cgroupPath: /kukeon/agents\n"                                                                 \
  "  subtreeControllers: [cpu, memory, pids]\n"                                                    \
  "  createdAt: 2026-01-02T03:04:05Z\n"                                                            \
  "  updatedAt: 2026-01-02T05:04:06+02:00\n"                                                       \
  "  readyAt: \"2026-01-02T03:04:07.250Z\"\n"                                                      \
  "  reason: Because\n"                                                                            \
  "  message: \"all good: really\"\n"                                                              \
  "  cgroupReady: true\n"                                                                          \
  "  observedGeneration: 6\n"

static void check_resources_full(const struct kk_resources *r) {
  opt_is(r->memory_max_bytes, 1073741824);
  opt_is(r->memory_high_bytes, 536870912);
  opt_is(r->cpu_weight, 200);
  opt_is(r->cpu_max_quota_us, 50000);
  opt_is(r->cpu_max_period_us, 100000);
  opt_is(r->pids_max, 1000);
  opt_is(r->io_weight, 300);
}

static void check_status_base_full(const struct kk_status_base *b, int state) {
  ck_assert_int_eq(b->state, state);
  ck_assert_str_eq(b->cgroup_path, "/kukeon/agents");
  strv_is(&b->subtree_controllers, 3, "cpu", "memory", "pids");
  ck_assert_int_eq(b->created_at, T0);
  ck_assert_int_eq(b->updated_at, T0 + 1);
  ck_assert_int_eq(b->ready_at, T0 + 2);
  ck_assert_str_eq(b->reason, "Because");
  ck_assert_str_eq(b->message, "all good: really");
  ck_assert(b->cgroup_ready);
  ck_assert_int_eq(b->observed_generation, 6);
}

static void check_status_base_json(json_t *j, const char *state) {
  jstr(j, "status.state", state);
  jstr(j, "status.cgroupPath", "/kukeon/agents");
  ck_assert_uint_eq(json_array_size(jget(j, "status.subtreeControllers")), 3);
  jstr(j, "status.createdAt", "2026-01-02T03:04:05Z");
  jstr(j, "status.updatedAt", "2026-01-02T03:04:06Z");
  jstr(j, "status.readyAt", "2026-01-02T03:04:07Z");
  jstr(j, "status.reason", "Because");
  jstr(j, "status.message", "all good: really");
  jbool(j, "status.cgroupReady", true);
  jint(j, "status.observedGeneration", 6);
}

static const char *const resources_keys[] = {"memoryMaxBytes", "memoryHighBytes", "cpuWeight", "cpuMaxQuotaMicros",
                                             "cpuMaxPeriodMicros", "pidsMax", "ioWeight"};
static const char *const status_base_keys[] = {"state",   "cgroupPath", "subtreeControllers", "createdAt",
                                               "updatedAt", "readyAt",  "reason",             "message",
                                               "cgroupReady", "observedGeneration"};

static const char realm_full[] =
    "apiVersion: v1beta1\n"
    "kind: Realm\n"
    "metadata:\n"
    "  name: agents\n"
    "  labels:\n"
    "    team: infra\n"
    "    \"true\": \"yes\"\n"
    "  annotations: {note: \"hello: world\"}\n"
    "  generation: 7\n"
    "spec:\n"
    "  namespace: agents.example.org\n"
    "  registryCredentials:\n"
    "  - username: ci-bot\n"
    "    password: \"s3cr3t\"\n"
    "    serverAddress: ghcr.io\n"
    "  - {username: u2, password: \"0123\"}\n" RESOURCES_FULL("  ") STATUS_BASE_FULL("Ready")
    "  containerdNamespaceReady: true\n";

START_TEST(roundtrip_realm) {
  cleanup_doc struct kk_doc *d = parse1(realm_full);
  ck_assert_int_eq(d->kind, KK_KIND_REALM);
  const struct kk_realm *r = &d->u.realm;
  ck_assert_str_eq(r->metadata.name, "agents");
  ck_assert_uint_eq(r->metadata.labels.n, 2);
  ck_assert_str_eq(kk_map_get(&r->metadata.labels, "team"), "infra");
  ck_assert_str_eq(kk_map_get(&r->metadata.labels, "true"), "yes");
  ck_assert_str_eq(kk_map_get(&r->metadata.annotations, "note"), "hello: world");
  ck_assert_int_eq(r->metadata.generation, 7);
  ck_assert_str_eq(r->spec.namespace_, "agents.example.org");
  ck_assert_uint_eq(r->spec.n_registry_credentials, 2);
  ck_assert_str_eq(r->spec.registry_credentials[0].username, "ci-bot");
  ck_assert_str_eq(r->spec.registry_credentials[0].password, "s3cr3t");
  ck_assert_str_eq(r->spec.registry_credentials[0].server_address, "ghcr.io");
  ck_assert_str_eq(r->spec.registry_credentials[1].password, "0123");
  ck_assert_ptr_null(r->spec.registry_credentials[1].server_address);
  check_resources_full(&r->spec.resources);
  check_status_base_full(&r->status.base, KK_REALM_READY);
  ck_assert(r->status.containerd_namespace_ready);

  cleanup_free char *y = round_trip(d);
  ck_assert_ptr_nonnull(strstr(y, "state: Ready\n"));
  ck_assert_ptr_nonnull(strstr(y, "password: \"0123\"\n")); /* a digit string stays a string */
  /* Validation accepts the full document. */
  kk_err_t err = NULL;
  ck_assert_int_eq(kk_doc_validate(d, &err), 0);

  json_t *j = json_of(d);
  static const char *const top[] = {"apiVersion", "kind", "metadata", "spec", "status"};
  jkeys(j, top, 5, "document");
  jstr(j, "apiVersion", "v1beta1");
  jstr(j, "kind", "Realm");
  jstr(j, "metadata.name", "agents");
  jstr(j, "metadata.labels.true", "yes");
  jstr(j, "metadata.annotations.note", "hello: world");
  jint(j, "metadata.generation", 7);
  static const char *const spec_keys[] = {"namespace", "registryCredentials", "resources"};
  jkeys(jget(j, "spec"), spec_keys, 3, "spec");
  jkeys(jget(j, "spec.resources"), resources_keys, 7, "spec.resources");
  jint(j, "spec.resources.memoryMaxBytes", 1073741824);
  json_t *creds = jget(j, "spec.registryCredentials");
  ck_assert_uint_eq(json_array_size(creds), 2);
  jstr(json_array_get(creds, 0), "serverAddress", "ghcr.io");
  jstr(json_array_get(creds, 1), "password", "0123");
  static const char *const realm_status_keys[] = {"state",   "cgroupPath", "subtreeControllers", "createdAt",
                                                  "updatedAt", "readyAt",  "reason",             "message",
                                                  "cgroupReady", "containerdNamespaceReady", "observedGeneration"};
  jkeys(jget(j, "status"), realm_status_keys, 11, "status");
  check_status_base_json(j, "Ready");
  jbool(j, "status.containerdNamespaceReady", true);
  json_decref(j);
}
END_TEST

static const char space_full[] =
    "apiVersion: v1beta1\n"
    "kind: Space\n"
    "metadata:\n"
    "  name: sandbox\n"
    "  labels: {a: \"1\"}\n"
    "  generation: 3\n"
    "spec:\n"
    "  realmId: agents\n"
    "  cniConfigPath: /opt/kukeon/agents/sandbox/network.conflist\n"
    "  network:\n"
    "    egress:\n"
    "      default: deny\n"
    "      allow:\n"
    "      - host: api.example.com\n"
    "        ports: [443, 8443]\n"
    "      - cidr: 10.0.0.0/8\n"
    "  defaults:\n"
    "    container:\n"
    "      user: \"1000:1000\"\n"
    "      readOnlyRootFilesystem: false\n"
    "      capabilities: {drop: [ALL], add: [NET_BIND_SERVICE]}\n"
    "      securityOpts: [no-new-privileges]\n"
    "      tmpfs:\n"
    "      - path: /tmp\n"
    "        sizeBytes: 134217728\n"
    "        options: [noexec, \"mode=1777\"]\n"
    "      resources: {memoryLimitBytes: 2147483648, cpuShares: 512, pidsLimit: 512}\n" RESOURCES_FULL("  ")
        STATUS_BASE_FULL("Failed");

START_TEST(roundtrip_space) {
  cleanup_doc struct kk_doc *d = parse1(space_full);
  const struct kk_space *s = &d->u.space;
  ck_assert_str_eq(s->metadata.name, "sandbox");
  ck_assert_str_eq(kk_map_get(&s->metadata.labels, "a"), "1");
  ck_assert_int_eq(s->metadata.generation, 3);
  ck_assert_str_eq(s->spec.realm_id, "agents");
  ck_assert_str_eq(s->spec.cni_config_path, "/opt/kukeon/agents/sandbox/network.conflist");
  ck_assert_str_eq(s->spec.network.egress.default_, "deny");
  ck_assert_uint_eq(s->spec.network.egress.n_allow, 2);
  ck_assert_str_eq(s->spec.network.egress.allow[0].host, "api.example.com");
  ck_assert_uint_eq(s->spec.network.egress.allow[0].ports.n, 2);
  ck_assert_int_eq(s->spec.network.egress.allow[0].ports.v[0], 443);
  ck_assert_int_eq(s->spec.network.egress.allow[0].ports.v[1], 8443);
  ck_assert_str_eq(s->spec.network.egress.allow[1].cidr, "10.0.0.0/8");
  const struct kk_container_defaults *c = &s->spec.defaults.container;
  ck_assert_str_eq(c->user, "1000:1000");
  ck_assert(c->read_only_root_filesystem.set);
  ck_assert(!c->read_only_root_filesystem.v);
  strv_is(&c->capabilities.drop, 1, "ALL");
  strv_is(&c->capabilities.add, 1, "NET_BIND_SERVICE");
  strv_is(&c->security_opts, 1, "no-new-privileges");
  ck_assert_uint_eq(c->n_tmpfs, 1);
  ck_assert_str_eq(c->tmpfs[0].path, "/tmp");
  ck_assert_int_eq(c->tmpfs[0].size_bytes, 134217728);
  strv_is(&c->tmpfs[0].options, 2, "noexec", "mode=1777");
  opt_is(c->resources.memory_limit_bytes, 2147483648LL);
  opt_is(c->resources.cpu_shares, 512);
  opt_is(c->resources.pids_limit, 512);
  check_resources_full(&s->spec.resources);
  check_status_base_full(&s->status.base, KK_SPACE_FAILED);

  cleanup_free char *y = round_trip(d);
  /* A readOnlyRootFilesystem explicitly false survives (it is a *bool). */
  ck_assert_ptr_nonnull(strstr(y, "readOnlyRootFilesystem: false"));

  json_t *j = json_of(d);
  jstr(j, "kind", "Space");
  static const char *const spec_keys[] = {"realmId", "cniConfigPath", "network", "defaults", "resources"};
  jkeys(jget(j, "spec"), spec_keys, 5, "spec");
  jstr(j, "spec.network.egress.default", "deny");
  json_t *allow = jget(j, "spec.network.egress.allow");
  ck_assert_uint_eq(json_array_size(allow), 2);
  json_t *ports = json_object_get(json_array_get(allow, 0), "ports");
  ck_assert_uint_eq(json_array_size(ports), 2);
  ck_assert(json_is_integer(json_array_get(ports, 1)));
  ck_assert_int_eq(json_integer_value(json_array_get(ports, 1)), 8443);
  static const char *const def_keys[] = {"user",   "readOnlyRootFilesystem", "capabilities", "securityOpts",
                                         "tmpfs", "resources"};
  jkeys(jget(j, "spec.defaults.container"), def_keys, 6, "spec.defaults.container");
  jbool(j, "spec.defaults.container.readOnlyRootFilesystem", false);
  jint(j, "spec.defaults.container.resources.memoryLimitBytes", 2147483648LL);
  jkeys(jget(j, "status"), status_base_keys, 10, "status");
  check_status_base_json(j, "Failed");
  json_decref(j);

  /* Normalized (capability names), the document still round trips. */
  kk_err_t err = NULL;
  ck_assert_int_eq(kk_doc_normalize(d, NULL, &err), 0);
  ck_assert_int_eq(kk_doc_validate(d, &err), 0);
  strv_is(&d->u.space.spec.defaults.container.capabilities.drop, 1, "CAP_ALL");
  strv_is(&d->u.space.spec.defaults.container.capabilities.add, 1, "CAP_NET_BIND_SERVICE");
  free(round_trip(d));
}
END_TEST

static const char stack_full[] =
    "kind: Stack\n"
    "metadata:\n"
    "  name: jobs\n"
    "  labels: {x: y}\n"
    "  generation: 1\n"
    "spec:\n"
    "  id: jobs\n"
    "  realmId: agents\n"
    "  spaceId: sandbox\n" RESOURCES_FULL("  ") STATUS_BASE_FULL("Unknown");

START_TEST(roundtrip_stack) {
  cleanup_doc struct kk_doc *d = parse1(stack_full);
  const struct kk_stack *s = &d->u.stack;
  ck_assert_str_eq(s->metadata.name, "jobs");
  ck_assert_str_eq(s->spec.id, "jobs");
  ck_assert_str_eq(s->spec.realm_id, "agents");
  ck_assert_str_eq(s->spec.space_id, "sandbox");
  check_resources_full(&s->spec.resources);
  check_status_base_full(&s->status.base, KK_STACK_UNKNOWN);
  free(round_trip(d));
  kk_err_t err = NULL;
  ck_assert_int_eq(kk_doc_validate(d, &err), 0);
  json_t *j = json_of(d);
  jstr(j, "kind", "Stack");
  static const char *const spec_keys[] = {"id", "realmId", "spaceId", "resources"};
  jkeys(jget(j, "spec"), spec_keys, 4, "spec");
  jkeys(jget(j, "spec.resources"), resources_keys, 7, "spec.resources");
  jkeys(jget(j, "status"), status_base_keys, 10, "status");
  check_status_base_json(j, "Unknown");
  json_decref(j);
}
END_TEST

/* Every ContainerSpec field, indented by `ind` (the first line carries `first`). */
static char *container_spec_yaml(const char *first, const char *ind) {
  static const char *const lines[] = {
      "containerdId: sandbox_jobs_worker_root",
      "realmId: agents",
      "spaceId: sandbox",
      "stackId: jobs",
      "cellId: worker",
      "root: true",
      "image: ghcr.io/example/worker:1.2",
      "command: /usr/local/bin/worker",
      "args: [\"--once\", \"-v\", \"true\", \"123\", \"\", \"null\", \"~\", \"a: b\", \"# not a comment\"]",
      "workingDir: /work",
      "env: [\"A=1\", \"B=two words\", \"EMPTY=\"]",
      "ports: [\"8080:80\", \"127.0.0.1:5353:53/udp\", \"9090\"]",
      "volumes:",
      "- source: /srv/html",
      "  target: /usr/share/nginx/html",
      "  readOnly: true",
      "- kind: tmpfs",
      "  target: /cache",
      "  sizeBytes: 67108864",
      "  mode: 448",
      "- kind: bind",
      "  source: /data",
      "  target: /data",
      "networks: [front, back]",
      "networksAliases: [web, www]",
      "privileged: true",
      "hostNetwork: true",
      "hostPID: true",
      "hostCgroup: true",
      "user: \"1000:1000\"",
      "readOnlyRootFilesystem: true",
      "capabilities:",
      "  drop: [ALL]",
      "  add: [CAP_NET_ADMIN, sys_time]",
      "securityOpts: [\"no-new-privileges=true\", \"seccomp=/etc/seccomp.json\"]",
      "devices: [/dev/fuse, /dev/null]",
      "tmpfs:",
      "- path: /run",
      "  sizeBytes: 1048576",
      "  options: [noexec, nosuid]",
      "resources:",
      "  memoryLimitBytes: 268435456",
      "  cpuShares: 1024",
      "  pidsLimit: 256",
      "cniConfigPath: /opt/kukeon/agents/sandbox/network.conflist",
      "restartPolicy: on-failure",
      "restartBackoffSeconds: 10",
      "restartMaxRetries: 3",
      "attachable: true",
  };
  char *out = kk_asprintf("%sid: main\n", first);
  for (size_t i = 0; i < KK_ARRAY_SIZE(lines); i++) {
    char *next = kk_asprintf("%s%s%s\n", out, ind, lines[i]);
    free(out);
    out = next;
  }
  return out;
}

static const char *const container_spec_keys[] = {
    "id",           "containerdId", "realmId",    "spaceId",    "stackId",
    "cellId",       "root",         "image",      "command",    "args",
    "workingDir",   "env",          "ports",      "volumes",    "networks",
    "networksAliases", "privileged", "hostNetwork", "hostPID",  "hostCgroup",
    "user",         "readOnlyRootFilesystem", "capabilities", "securityOpts", "devices",
    "tmpfs",        "resources",    "cniConfigPath", "restartPolicy", "restartBackoffSeconds",
    "restartMaxRetries", "attachable",
};

static void check_container_spec_full(const struct kk_container_spec *c, bool normalized) {
  ck_assert_str_eq(c->id, "main");
  ck_assert_str_eq(c->containerd_id, "sandbox_jobs_worker_root");
  ck_assert_str_eq(c->realm_id, "agents");
  ck_assert_str_eq(c->space_id, "sandbox");
  ck_assert_str_eq(c->stack_id, "jobs");
  ck_assert_str_eq(c->cell_id, "worker");
  ck_assert(c->root);
  ck_assert_str_eq(c->image, "ghcr.io/example/worker:1.2");
  ck_assert_str_eq(c->command, "/usr/local/bin/worker");
  strv_is(&c->args, 9, "--once", "-v", "true", "123", "", "null", "~", "a: b", "# not a comment");
  ck_assert_str_eq(c->working_dir, "/work");
  strv_is(&c->env, 3, "A=1", "B=two words", "EMPTY=");
  strv_is(&c->ports, 3, "8080:80", "127.0.0.1:5353:53/udp", "9090");
  ck_assert_uint_eq(c->n_volumes, 3);
  ck_assert_ptr_null(c->volumes[0].kind);
  ck_assert_str_eq(c->volumes[0].source, "/srv/html");
  ck_assert_str_eq(c->volumes[0].target, "/usr/share/nginx/html");
  ck_assert(c->volumes[0].read_only);
  ck_assert_str_eq(c->volumes[1].kind, "tmpfs");
  ck_assert_ptr_null(c->volumes[1].source);
  ck_assert_str_eq(c->volumes[1].target, "/cache");
  ck_assert_int_eq(c->volumes[1].size_bytes, 67108864);
  ck_assert_int_eq(c->volumes[1].mode, 448);
  ck_assert(!c->volumes[1].read_only);
  ck_assert_str_eq(c->volumes[2].kind, "bind");
  strv_is(&c->networks, 2, "front", "back");
  strv_is(&c->networks_aliases, 2, "web", "www");
  ck_assert(c->privileged && c->host_network && c->host_pid && c->host_cgroup);
  ck_assert_str_eq(c->user, "1000:1000");
  ck_assert(c->read_only_root_filesystem);
  if (normalized) {
    strv_is(&c->capabilities.drop, 1, "CAP_ALL");
    strv_is(&c->capabilities.add, 2, "CAP_NET_ADMIN", "CAP_SYS_TIME");
  } else {
    strv_is(&c->capabilities.drop, 1, "ALL");
    strv_is(&c->capabilities.add, 2, "CAP_NET_ADMIN", "sys_time");
  }
  strv_is(&c->security_opts, 2, "no-new-privileges=true", "seccomp=/etc/seccomp.json");
  strv_is(&c->devices, 2, "/dev/fuse", "/dev/null");
  ck_assert_uint_eq(c->n_tmpfs, 1);
  ck_assert_str_eq(c->tmpfs[0].path, "/run");
  ck_assert_int_eq(c->tmpfs[0].size_bytes, 1048576);
  strv_is(&c->tmpfs[0].options, 2, "noexec", "nosuid");
  opt_is(c->resources.memory_limit_bytes, 268435456);
  opt_is(c->resources.cpu_shares, 1024);
  opt_is(c->resources.pids_limit, 256);
  ck_assert_str_eq(c->cni_config_path, "/opt/kukeon/agents/sandbox/network.conflist");
  ck_assert_str_eq(c->restart_policy, "on-failure");
  opt_is(c->restart_backoff_seconds, 10);
  opt_is(c->restart_max_retries, 3);
  ck_assert(c->attachable);
}

static void check_container_status_full(const struct kk_container_status *s) {
  ck_assert_str_eq(s->name, "main");
  ck_assert_str_eq(s->id, "sandbox_jobs_worker_root");
  ck_assert_int_eq(s->state, KK_CTR_EXITED);
  ck_assert_int_eq(s->created_at, T0);
  ck_assert_int_eq(s->restart_count, 2);
  ck_assert_int_eq(s->restart_time, 1767323100);
  ck_assert_int_eq(s->start_time, 1767323101);
  ck_assert_int_eq(s->finish_time, 1767323160);
  ck_assert_int_eq(s->exit_code, 137);
  ck_assert_str_eq(s->exit_signal, "SIGKILL");
  ck_assert_int_eq(s->pid, 4242);
}

static const char *const container_status_keys[] = {"name",      "id",        "state",      "createdAt",
                                                    "restartCount", "restartTime", "startTime", "finishTime",
                                                    "exitCode",  "exitSignal", "pid"};

/* A full container status as the first item of status.containers. */
#define CTR_STATUS_ITEM_FULL                                                             \
  "  - name: main\n"                                                                               \
  "    id: sandbox_jobs_worker_root\n"                                                             \
  "    state: Exited\n"                                                                            \
  "    createdAt: 2026-01-02T03:04:05Z\n"                                                          \
  "    restartCount: 2\n"                                                                          \
  "    restartTime: 2026-01-02T03:05:00Z\n"                                                        \
  "    startTime: 2026-01-02T03:05:01Z\n"                                                          \
  "    finishTime: 2026-01-02T03:06:00Z\n"                                                         \
  "    exitCode: 137\n"                                                                            \
  "    exitSignal: SIGKILL\n"                                                                      \
  "    pid: 4242\n"

static char *cell_full_yaml(void) {
  cleanup_free char *main_ctr = container_spec_yaml("  - ", "    ");
  return kk_asprintf("apiVersion: v1beta1\n"
                     "kind: Cell\n"
                     "metadata:\n"
                     "  name: worker\n"
                     "  labels: {app: worker, \"kukeon.io/team\": agents}\n"
                     "  annotations:\n"
                     "    kukeon.io/source-cell: other\n"
                     "  generation: 9\n"
                     "spec:\n"
                     "  id: worker\n"
                     "  realmId: agents\n"
                     "  spaceId: sandbox\n"
                     "  stackId: jobs\n"
                     "  rootContainerId: main\n"
                     "  containers:\n"
                     "%s"
                     "  - id: side\n"
                     "    image: busybox\n"
                     "    attachable: true\n"
                     "  tty: {default: side}\n"
                     "  autoDelete: true\n"
                     "  nestedCgroupRuntime: true\n" RESOURCES_FULL("  ") STATUS_BASE_FULL("Degraded")
                     "  network: {bridgeName: k-703e8b3a}\n"
                     "  containers:\n" CTR_STATUS_ITEM_FULL "  - name: side\n"
                     "    state: 6\n"
                     "  readyObserved: true\n",
                     main_ctr);
}

START_TEST(roundtrip_cell) {
  cleanup_free char *yaml = cell_full_yaml();
  cleanup_doc struct kk_doc *d = parse1(yaml);
  const struct kk_cell *c = &d->u.cell;
  ck_assert_str_eq(c->metadata.name, "worker");
  ck_assert_str_eq(kk_map_get(&c->metadata.labels, "kukeon.io/team"), "agents");
  ck_assert_str_eq(kk_map_get(&c->metadata.annotations, "kukeon.io/source-cell"), "other");
  ck_assert_int_eq(c->metadata.generation, 9);
  ck_assert_str_eq(c->spec.id, "worker");
  ck_assert_str_eq(c->spec.realm_id, "agents");
  ck_assert_str_eq(c->spec.space_id, "sandbox");
  ck_assert_str_eq(c->spec.stack_id, "jobs");
  ck_assert_str_eq(c->spec.root_container_id, "main");
  ck_assert_uint_eq(c->spec.n_containers, 2);
  check_container_spec_full(&c->spec.containers[0], false);
  ck_assert_str_eq(c->spec.containers[1].id, "side");
  ck_assert_str_eq(c->spec.tty.default_, "side");
  ck_assert(c->spec.auto_delete);
  ck_assert(c->spec.nested_cgroup_runtime);
  check_resources_full(&c->spec.resources);
  check_status_base_full(&c->status.base, KK_CELL_DEGRADED);
  ck_assert_str_eq(c->status.network.bridge_name, "k-703e8b3a");
  ck_assert_uint_eq(c->status.n_containers, 2);
  check_container_status_full(&c->status.containers[0]);
  ck_assert_str_eq(c->status.containers[1].name, "side");
  ck_assert_int_eq(c->status.containers[1].state, KK_CTR_UNKNOWN);
  ck_assert(c->status.ready_observed);

  free(round_trip(d));

  json_t *j = json_of(d);
  jstr(j, "kind", "Cell");
  static const char *const spec_keys[] = {"id",         "realmId",    "spaceId", "stackId",
                                          "rootContainerId", "containers", "tty", "autoDelete",
                                          "nestedCgroupRuntime", "resources"};
  jkeys(jget(j, "spec"), spec_keys, 10, "spec");
  json_t *ctrs = jget(j, "spec.containers");
  ck_assert_uint_eq(json_array_size(ctrs), 2);
  json_t *m = json_array_get(ctrs, 0);
  jkeys(m, container_spec_keys, KK_ARRAY_SIZE(container_spec_keys), "spec.containers[0]");
  jbool(m, "root", true);
  jbool(m, "hostPID", true);
  jint(m, "resources.cpuShares", 1024);
  jint(m, "restartMaxRetries", 3);
  jstr(m, "restartPolicy", "on-failure");
  ck_assert_str_eq(json_string_value(json_array_get(jget(m, "args"), 2)), "true");
  json_t *vols = jget(m, "volumes");
  ck_assert_uint_eq(json_array_size(vols), 3);
  jint(json_array_get(vols, 1), "mode", 448);
  jbool(json_array_get(vols, 0), "readOnly", true);
  jstr(j, "spec.tty.default", "side");
  jbool(j, "spec.autoDelete", true);
  static const char *const st_keys[] = {"state",   "cgroupPath", "subtreeControllers", "createdAt", "updatedAt",
                                        "readyAt", "reason",     "message",            "cgroupReady", "network",
                                        "containers", "readyObserved", "observedGeneration"};
  jkeys(jget(j, "status"), st_keys, 13, "status");
  check_status_base_json(j, "Degraded");
  jstr(j, "status.network.bridgeName", "k-703e8b3a");
  json_t *sts = jget(j, "status.containers");
  ck_assert_uint_eq(json_array_size(sts), 2);
  jkeys(json_array_get(sts, 0), container_status_keys, 11, "status.containers[0]");
  jstr(json_array_get(sts, 0), "state", "Exited");
  jint(json_array_get(sts, 0), "exitCode", 137);
  jstr(json_array_get(sts, 1), "state", "Unknown");
  json_decref(j);

  /* Normalized and validated, it still round trips. */
  kk_err_t err = NULL;
  int r = kk_doc_normalize(d, NULL, &err);
  if (r == 0)
    r = kk_doc_validate(d, &err);
  ck_assert_msg(r == 0, "%s", err ? err->msg : "");
  check_container_spec_full(&d->u.cell.spec.containers[0], true);
  ck_assert_str_eq(d->u.cell.spec.containers[1].containerd_id, "sandbox_jobs_worker_side");
  ck_assert_str_eq(d->u.cell.spec.containers[1].cell_id, "worker");
  free(round_trip(d));
}
END_TEST

START_TEST(roundtrip_container) {
  cleanup_free char *spec = container_spec_yaml("  ", "  ");
  cleanup_free char *yaml = kk_asprintf("apiVersion: v1beta1\n"
                                        "kind: Container\n"
                                        "metadata:\n"
                                        "  name: main\n"
                                        "  labels: {c: d}\n"
                                        "spec:\n"
                                        "%s"
                                        "status:\n"
                                        "  name: main\n"
                                        "  id: sandbox_jobs_worker_root\n"
                                        "  state: Exited\n"
                                        "  createdAt: 2026-01-02T03:04:05Z\n"
                                        "  restartCount: 2\n"
                                        "  restartTime: 2026-01-02T03:05:00Z\n"
                                        "  startTime: 2026-01-02T03:05:01Z\n"
                                        "  finishTime: 2026-01-02T03:06:00Z\n"
                                        "  exitCode: 137\n"
                                        "  exitSignal: SIGKILL\n"
                                        "  pid: 4242\n",
                                        spec);
  cleanup_doc struct kk_doc *d = parse1(yaml);
  ck_assert_int_eq(d->kind, KK_KIND_CONTAINER);
  ck_assert_str_eq(d->u.container.metadata.name, "main");
  ck_assert_str_eq(kk_map_get(&d->u.container.metadata.labels, "c"), "d");
  check_container_spec_full(&d->u.container.spec, false);
  check_container_status_full(&d->u.container.status);
  free(round_trip(d));
  json_t *j = json_of(d);
  jstr(j, "kind", "Container");
  jkeys(jget(j, "spec"), container_spec_keys, KK_ARRAY_SIZE(container_spec_keys), "spec");
  jkeys(jget(j, "status"), container_status_keys, 11, "status");
  jstr(j, "status.finishTime", "2026-01-02T03:06:00Z");
  jint(j, "status.pid", 4242);
  json_decref(j);
  kk_err_t err = NULL;
  int r = kk_doc_normalize(d, NULL, &err);
  if (r == 0)
    r = kk_doc_validate(d, &err);
  ck_assert_msg(r == 0, "%s", err ? err->msg : "");
  check_container_spec_full(&d->u.container.spec, true);
  free(round_trip(d));
}
END_TEST

/* Minimal documents: defaults emit the "wire" fields only and round trip. */
START_TEST(roundtrip_minimal) {
  static const char *const docs[] = {
      "kind: Realm\nmetadata: {name: r}\n",
      "kind: Space\nmetadata: {name: s}\nspec: {realmId: r}\n",
      "kind: Stack\nmetadata: {name: t}\nspec: {realmId: r, spaceId: s}\n",
      "kind: Cell\nmetadata: {name: c}\nspec: {realmId: r, spaceId: s, stackId: t, containers: [{id: a, image: x}]}\n",
      "kind: Container\nmetadata: {name: a}\nspec: {realmId: r, spaceId: s, stackId: t, cellId: c, image: x}\n",
  };
  for (size_t i = 0; i < KK_ARRAY_SIZE(docs); i++) {
    cleanup_doc struct kk_doc *d = parse1(docs[i]);
    cleanup_free char *y = round_trip(d);
    ck_assert_msg(strncmp(y, "apiVersion: v1beta1\nkind: ", 26) == 0, "%s", y);
    ck_assert_ptr_nonnull(strstr(y, "state: Pending")); /* enums always emitted, as labels */
    kk_err_t err = NULL;
    int r = kk_doc_normalize(d, NULL, &err);
    if (r == 0)
      r = kk_doc_validate(d, &err);
    ck_assert_msg(r == 0, "%s: %s", docs[i], err ? err->msg : "");
    free(round_trip(d));
    /* Clones are equal and emit the same text. */
    cleanup_doc struct kk_doc *c = kk_doc_clone(d);
    ck_assert(kk_doc_spec_equal(d, c));
    cleanup_free char *y1 = kk_doc_to_yaml(d);
    cleanup_free char *y2 = kk_doc_to_yaml(c);
    ck_assert_str_eq(y1, y2);
  }
}
END_TEST

/* Strings a YAML reader would take for something else stay strings. */
START_TEST(roundtrip_tricky_strings) {
  static const char *const vals[] = {"true",  "False", "yes",   "no",   "on",   "off", "null", "~",  "",
                                     "123",   "0x1F",  "1e3",   ".5",   "-1",   "+1",  "0755", "inf", "nan",
                                     ".inf",  "a: b",  "#x",    "- x",  "[x]",  "{x}", "'q'",  "\"dq\"", " lead",
                                     "trail ", "multi\nline", "tab\tx", "ünï", "*alias", "&anchor", "!tag", "%x", "@x",
                                     "`x", "x\\y", "2026-01-01", "1:2"};
  for (size_t i = 0; i < KK_ARRAY_SIZE(vals); i++) {
    cleanup_doc struct kk_doc *d = kk_doc_new(KK_KIND_CELL);
    struct kk_cell *c = &d->u.cell;
    c->metadata.name = kk_xstrdup("c");
    kk_map_set(&c->metadata.labels, "k", vals[i]);
    kk_map_set(&c->metadata.labels, vals[i][0] ? vals[i] : "emptykey", "v");
    c->spec.containers = kk_xzalloc(sizeof(*c->spec.containers));
    c->spec.n_containers = 1;
    c->spec.containers[0].id = kk_xstrdup("a");
    c->spec.containers[0].image = kk_xstrdup(vals[i]);
    kk_strv_push(&c->spec.containers[0].args, vals[i]);
    c->status.base.message = kk_xstrdup(vals[i][0] ? vals[i] : "x");
    cleanup_free char *y = round_trip(d);
    cleanup_doc struct kk_doc *d2 = parse1(y);
    ck_assert_str_eq(kk_map_get(&d2->u.cell.metadata.labels, "k"), vals[i]);
    ck_assert_str_eq(d2->u.cell.spec.containers[0].image, vals[i]);
    ck_assert_str_eq(d2->u.cell.spec.containers[0].args.v[0], vals[i]);
    json_t *j = json_of(d);
    jstr(j, "metadata.labels.k", vals[i]);
    json_decref(j);
  }
}
END_TEST

/* ------------------------------------------------------- streams, versions */

static const char example_a[] = "apiVersion: v1beta1\n"
                                "kind: Space\n"
                                "metadata:\n"
                                "  name: shop\n"
                                "spec:\n"
                                "  realmId: default\n"
                                "---\n"
                                "apiVersion: v1beta1\n"
                                "kind: Stack\n"
                                "metadata:\n"
                                "  name: web\n"
                                "spec:\n"
                                "  id: web\n"
                                "  realmId: default\n"
                                "  spaceId: shop\n"
                                "---\n"
                                "apiVersion: v1beta1\n"
                                "kind: Cell\n"
                                "metadata:\n"
                                "  name: frontend\n"
                                "  labels:\n"
                                "    tier: front\n"
                                "spec:\n"
                                "  id: frontend\n"
                                "  realmId: default\n"
                                "  spaceId: shop\n"
                                "  stackId: web\n"
                                "  containers:\n"
                                "    - id: nginx\n"
                                "      image: docker.io/library/nginx:alpine\n"
                                "      restartPolicy: always\n"
                                "      resources:\n"
                                "        memoryLimitBytes: 268435456\n"
                                "        pidsLimit: 256\n"
                                "      volumes:\n"
                                "        - source: /srv/shop/html\n"
                                "          target: /usr/share/nginx/html\n"
                                "          readOnly: true\n"
                                "        - kind: tmpfs\n"
                                "          target: /var/cache/nginx\n"
                                "          sizeBytes: 67108864\n"
                                "    - id: logger\n"
                                "      image: docker.io/library/busybox:latest\n"
                                "      command: /bin/sh\n"
                                "      args: [\"-c\", \"while true; do date; sleep 10; done\"]\n"
                                "---\n"
                                "apiVersion: v1beta1\n"
                                "kind: Cell\n"
                                "metadata:\n"
                                "  name: db\n"
                                "spec:\n"
                                "  id: db\n"
                                "  realmId: default\n"
                                "  spaceId: shop\n"
                                "  stackId: web\n"
                                "  containers:\n"
                                "    - id: pg\n"
                                "      image: docker.io/library/postgres:16\n"
                                "      env: [\"POSTGRES_PASSWORD=example\"]\n"
                                "      restartPolicy: on-failure\n"
                                "      restartBackoffSeconds: 10\n"
                                "      restartMaxRetries: 3\n";

START_TEST(multi_document_stream) {
  struct kk_doc_list l = {0};
  parse_list(example_a, strlen(example_a), &l);
  ck_assert_uint_eq(l.n, 4);
  ck_assert_int_eq(l.docs[0]->kind, KK_KIND_SPACE);
  ck_assert_int_eq(l.docs[1]->kind, KK_KIND_STACK);
  ck_assert_int_eq(l.docs[2]->kind, KK_KIND_CELL);
  ck_assert_int_eq(l.docs[3]->kind, KK_KIND_CELL);
  ck_assert_str_eq(kk_doc_name(l.docs[3]), "db");
  /* Each document knows its start line in the stream. */
  ck_assert_int_eq(l.docs[0]->line, 1);
  ck_assert_int_eq(l.docs[1]->line, 8);
  ck_assert_int_eq(l.docs[2]->line, 17);
  ck_assert_int_eq(l.docs[3]->line, 47);
  ck_assert_str_eq(l.docs[2]->file, FILE_NAME);
  for (size_t i = 0; i < l.n; i++) {
    kk_err_t err = NULL;
    int r = kk_doc_normalize(l.docs[i], NULL, &err);
    if (r == 0)
      r = kk_doc_validate(l.docs[i], &err);
    ck_assert_msg(r == 0, "%s", err ? err->msg : "");
    free(round_trip(l.docs[i]));
  }
  /* Appends to a non-empty list. */
  parse_list(example_a, strlen(example_a), &l);
  ck_assert_uint_eq(l.n, 8);
  /* Lists: a YAML sequence / JSON array of documents. */
  cleanup_free char *ys = kk_docs_to_yaml((const struct kk_doc *const *)l.docs, 4);
  ck_assert_msg(strncmp(ys, "- apiVersion: v1beta1\n", 22) == 0, "%s", ys);
  cleanup_free char *js = kk_docs_to_json((const struct kk_doc *const *)l.docs, 4);
  json_error_t jerr;
  json_t *arr = json_loads(js, 0, &jerr);
  ck_assert_ptr_nonnull(arr);
  ck_assert(json_is_array(arr));
  ck_assert_uint_eq(json_array_size(arr), 4);
  jstr(json_array_get(arr, 3), "metadata.name", "db");
  json_decref(arr);
  cleanup_free char *none = kk_docs_to_json(NULL, 0);
  ck_assert_str_eq(none, "[]\n");
  kk_doc_list_free(&l);
}
END_TEST


/* Issue #17: what `kuke get -o yaml|json` prints for several objects (a
 * YAML sequence, a JSON array) reads back as those documents, status and
 * all; so does a kubectl-style `kind: List` with `items:`. */
static void same_docs(struct kk_doc_list *a, struct kk_doc_list *b) {
  ck_assert_uint_eq(a->n, b->n);
  for (size_t i = 0; i < a->n; i++) {
    ck_assert(kk_doc_spec_equal(a->docs[i], b->docs[i]));
    cleanup_free char *ya = kk_doc_to_yaml(a->docs[i]);
    cleanup_free char *yb = kk_doc_to_yaml(b->docs[i]);
    ck_assert_str_eq(ya, yb); /* status too */
  }
}

START_TEST(list_documents_round_trip) {
  struct kk_doc_list l = {0}, y = {0}, j = {0};
  parse_list(example_a, strlen(example_a), &l);
  l.docs[2]->u.cell.status.base.state = KK_CELL_READY;
  l.docs[2]->u.cell.status.base.created_at = T0;
  cleanup_free char *ys = kk_docs_to_yaml((const struct kk_doc *const *)l.docs, l.n);
  cleanup_free char *js = kk_docs_to_json((const struct kk_doc *const *)l.docs, l.n);
  parse_list(ys, strlen(ys), &y);
  parse_list(js, strlen(js), &j);
  same_docs(&l, &y);
  same_docs(&l, &j);
  ck_assert_int_eq(y.docs[2]->u.cell.status.base.state, KK_CELL_READY);
  /* Each item knows its own line. */
  ck_assert_int_eq(y.docs[0]->line, 1);
  ck_assert_int_gt(y.docs[1]->line, 1);
  /* An empty list is no documents; a list among plain documents is fine. */
  struct kk_doc_list e = {0};
  parse_list("[]\n", 3, &e);
  ck_assert_uint_eq(e.n, 0);
  static const char mixed[] = "kind: Realm\nmetadata: {name: a}\n---\n- kind: Realm\n  metadata: {name: b}\n"
                              "- kind: Realm\n  metadata: {name: c}\n";
  parse_list(mixed, strlen(mixed), &e);
  ck_assert_uint_eq(e.n, 3);
  ck_assert_str_eq(kk_doc_name(e.docs[2]), "c");
  ck_assert_int_eq(e.docs[2]->line, 6);
  kk_doc_list_free(&e);
  kk_doc_list_free(&l);
  kk_doc_list_free(&y);
  kk_doc_list_free(&j);
}
END_TEST

START_TEST(list_kind_list) {
  static const char y[] = "apiVersion: v1\nkind: List\nmetadata: {}\nitems:\n"
                          "- apiVersion: v1beta1\n  kind: Realm\n  metadata: {name: a}\n"
                          "- kind: Space\n  metadata: {name: b}\n  spec: {realmId: a}\n";
  struct kk_doc_list l = {0};
  parse_list(y, strlen(y), &l);
  ck_assert_uint_eq(l.n, 2);
  ck_assert_int_eq(l.docs[1]->kind, KK_KIND_SPACE);
  ck_assert_int_eq(l.docs[1]->line, 8);
  kk_doc_list_free(&l);
  parse_list("kind: List\nitems: []\n", 21, &l);
  ck_assert_uint_eq(l.n, 0);
}
END_TEST

START_TEST(list_errors) {
  parse_fails_with("kind: List\n", 1, "items", "a List needs a sequence of documents");
  parse_fails_with("kind: List\nitems: {a: b}\n", 1, "items", "a List needs a sequence of documents");
  /* An error inside an item names the item's line and field. */
  parse_fails_with("- kind: Realm\n  metadata: {name: a}\n- kind: Realm\n  metadata: {name: b, bogus: 1}\n", 4,
                   "metadata.bogus", "unknown field");
  parse_fails_with("kind: List\nitems:\n- kind: Pod\n", 3, "kind", "unknown kind: Pod");
  cleanup_free char *m = parse_fail("- - kind: Realm\n    metadata: {name: a}\n");
  ck_assert_str_eq(m, "t.yaml:1: a list inside a list: list items must be documents");
  cleanup_free char *m2 = parse_fail("- kind: List\n  items: []\n");
  ck_assert_ptr_nonnull(strstr(m2, "a list inside a list"));
  /* A bad item rejects the whole stream. */
  cleanup_free char *m3 = parse_fail("kind: Realm\nmetadata: {name: a}\n---\n- 42\n");
  ck_assert_ptr_nonnull(strstr(m3, "t.yaml:4: a document must be a mapping"));
  /* Store files are one resource, never a list. */
  static const struct {
    const char *yaml, *why;
  } store[] = {
      {"- kind: Realm\n  metadata: {name: a}\n", "mapping"},
      {"kind: List\nitems:\n- kind: Realm\n  metadata: {name: a}\n", "unknown kind: List"},
  };
  for (size_t i = 0; i < KK_ARRAY_SIZE(store); i++) {
    kk_err_t err = NULL;
    struct kk_doc *d = NULL;
    ck_assert_int_eq(kk_doc_parse_one(store[i].yaml, strlen(store[i].yaml), "f", KK_KIND_REALM, &d, &err), -1);
    ck_assert_msg(strstr(err->msg, store[i].why) != NULL, "%s", err->msg);
    kk_error_free(&err);
  }
}
END_TEST

/* The bounds of one YAML document hold for a whole list: aliases across
 * items count together. */
START_TEST(list_bounds) {
  size_t big = 65536;
  int n = 100;
  cleanup_free char *y = kk_xmalloc(big + (size_t)n * 64 + 256);
  int len = sprintf(y, "- kind: Realm\n  metadata:\n    name: a\n    labels: {k: &big \"");
  memset(y + len, 'x', big);
  len += (int)big;
  len += sprintf(y + len, "\"}\n");
  for (int i = 0; i < n; i++)
    len += sprintf(y + len, "- kind: Realm\n  metadata: {name: r%d, labels: {k: *big}}\n", i);
  cleanup_free char *m = parse_fail(y);
  ck_assert_ptr_nonnull(strstr(m, "YAML aliases expand to more than"));
}
END_TEST

/* Issue #17: byte sizes take Kubernetes quantities. */
static void qty_ok(const char *s, int64_t want) {
  int64_t v = -42;
  kk_err_t err = NULL;
  int r = kk_parse_quantity_bytes(s, &v, &err);
  ck_assert_msg(r == 0, "\"%s\": %s", s, err ? err->msg : "?");
  ck_assert_msg(v == want, "\"%s\" gave %lld, want %lld", s, (long long)v, (long long)want);
}

static void qty_bad(const char *s, const char *why) {
  int64_t v = -42;
  kk_err_t err = NULL;
  ck_assert_msg(kk_parse_quantity_bytes(s, &v, &err) < 0, "\"%s\" accepted as %lld", s, (long long)v);
  ck_assert_int_eq(v, -42);
  ck_assert_int_eq(err->kind, KK_ERR_INVALID);
  char prefix[128];
  snprintf(prefix, sizeof(prefix), "invalid quantity \"%s\": ", s);
  ck_assert_msg(strncmp(err->msg, prefix, strlen(prefix)) == 0 && strstr(err->msg, why), "\"%s\": %s", s, err->msg);
  kk_error_free(&err);
}

START_TEST(quantity_parse) {
  qty_ok("0", 0);
  qty_ok("4096", 4096);
  qty_ok("007", 7); /* decimal: a quantity is never octal */
  qty_ok("1Ki", 1024);
  qty_ok("64Mi", 64ll << 20);
  qty_ok("1Gi", 1ll << 30);
  qty_ok("2Ti", 2ll << 40);
  qty_ok("1Pi", 1ll << 50);
  qty_ok("7Ei", 7ll << 60);
  qty_ok("1k", 1000);
  qty_ok("1K", 1000);
  qty_ok("1M", 1000000);
  qty_ok("1G", 1000000000);
  qty_ok("3T", 3000000000000ll);
  qty_ok("1P", 1000000000000000ll);
  qty_ok("9E", 9000000000000000000ll);
  qty_ok("1.5Gi", 3ll << 29);
  qty_ok("0.5Ki", 512);
  qty_ok("1.25k", 1250);
  qty_ok("2.000", 2);
  qty_ok("1.500000000000000000000000Ki", 1536); /* trailing zeros are free */
  qty_ok("9223372036854775807", INT64_MAX);
  qty_ok("0.000000000000000001E", 1);
  qty_ok("7.5Ei", 8646911284551352320ll);
}
END_TEST

START_TEST(quantity_refused) {
  qty_bad("", "expected digits");
  qty_bad("Mi", "expected digits");
  qty_bad(".5Ki", "expected digits");
  qty_bad("-1", "must not be negative");
  qty_bad("-64Mi", "must not be negative");
  qty_bad("+1", "expected digits");
  qty_bad(" 1", "expected digits");
  qty_bad("1 ", "unknown suffix");
  qty_bad("1 Mi", "unknown suffix");
  qty_bad("1MB", "unknown suffix");
  qty_bad("1mi", "unknown suffix");
  qty_bad("1m", "unknown suffix"); /* milli: never whole bytes worth meaning */
  qty_bad("1e3", "unknown suffix");
  qty_bad("0x10", "unknown suffix");
  qty_bad("1.", "expected digits after the decimal point");
  qty_bad("1.Ki", "expected digits after the decimal point");
  qty_bad("0.5", "not a whole number of bytes");
  qty_bad("1.1Ki", "not a whole number of bytes");
  qty_bad("1.0000000000000000001Ei", "more than 18 decimals");
  qty_bad("8Ei", "more than 9223372036854775807 bytes");
  qty_bad("10E", "more than 9223372036854775807 bytes");
  qty_bad("9223372036854775808", "more than 9223372036854775807 bytes");
  qty_bad("99999999999999999999999999999999999999999Ki", "more than 9223372036854775807 bytes");
}
END_TEST

/* Every byte-valued field of a manifest (and the server configuration). */
START_TEST(quantity_fields) {
  cleanup_doc struct kk_doc *r =
      parse1("kind: Realm\nmetadata: {name: a}\nspec:\n  resources: {memoryMaxBytes: 1Gi, memoryHighBytes: 512M}\n");
  opt_is(r->u.realm.spec.resources.memory_max_bytes, 1ll << 30);
  opt_is(r->u.realm.spec.resources.memory_high_bytes, 512000000);
  cleanup_doc struct kk_doc *c = check_ok(
      "kind: Cell\nmetadata: {name: c}\nspec:\n  realmId: r\n  spaceId: s\n  stackId: t\n  resources:\n"
      "    memoryMaxBytes: \"2Gi\"\n  containers:\n  - id: web\n    image: nginx\n"
      "    resources: {memoryLimitBytes: 64Mi}\n    tmpfs: [{path: /t, sizeBytes: 1Mi}]\n"
      "    volumes: [{kind: tmpfs, target: /x, sizeBytes: 16Ki}]\n");
  opt_is(c->u.cell.spec.resources.memory_max_bytes, 2ll << 30);
  const struct kk_container_spec *w = &c->u.cell.spec.containers[0];
  opt_is(w->resources.memory_limit_bytes, 64ll << 20);
  ck_assert_int_eq(w->tmpfs[0].size_bytes, 1 << 20);
  ck_assert_int_eq(w->volumes[0].size_bytes, 16 << 10);
  /* Written back as integers, so what the store holds is unchanged. */
  cleanup_free char *y = round_trip(c);
  ck_assert_ptr_nonnull(strstr(y, "memoryLimitBytes: 67108864\n"));
  cleanup_doc struct kk_doc *s = parse1("kind: Space\nmetadata: {name: s}\nspec:\n  defaults:\n    container:\n"
                                        "      resources: {memoryLimitBytes: 1G}\n");
  opt_is(s->u.space.spec.defaults.container.resources.memory_limit_bytes, 1000000000);
  /* JSON writes quantities as strings; integers keep their YAML 1.1 forms. */
  cleanup_doc struct kk_doc *j = parse1("{\"kind\": \"Realm\", \"metadata\": {\"name\": \"a\"}, \"spec\": "
                                        "{\"resources\": {\"memoryMaxBytes\": \"1Ki\", \"memoryHighBytes\": 0x100}}}");
  opt_is(j->u.realm.spec.resources.memory_max_bytes, 1024);
  opt_is(j->u.realm.spec.resources.memory_high_bytes, 256);
  /* Other integers do not take quantities. */
  parse_fails_with("kind: Realm\nmetadata: {name: a}\nspec:\n  resources:\n    pidsMax: 1k\n", 5,
                   "spec.resources.pidsMax", "expected an integer");
  /* Refusals name the field and the line. */
  parse_fails_with("kind: Realm\nmetadata: {name: a}\nspec:\n  resources:\n    memoryMaxBytes: 1.5\n", 5,
                   "spec.resources.memoryMaxBytes", "invalid quantity \"1.5\": not a whole number of bytes");
  parse_fails_with("kind: Realm\nmetadata: {name: a}\nspec:\n  resources:\n    memoryMaxBytes: 64MB\n", 5,
                   "spec.resources.memoryMaxBytes", "unknown suffix");
  parse_fails_with("kind: Realm\nmetadata: {name: a}\nspec:\n  resources:\n    memoryMaxBytes: [1]\n", 5,
                   "spec.resources.memoryMaxBytes", "expected an integer or a quantity");
  parse_fails_with("kind: Realm\nmetadata: {name: a}\nspec:\n  resources:\n    memoryMaxBytes: 16Ei\n", 5,
                   "spec.resources.memoryMaxBytes", "more than 9223372036854775807 bytes");
  parse_fails_with("kind: Realm\nmetadata: {name: a}\nspec:\n  resources:\n    memoryMaxBytes: -1Mi\n", 5,
                   "spec.resources.memoryMaxBytes", "must not be negative");
  /* A negative integer still reaches validation and its message. */
  fail_with("kind: Cell\nmetadata: {name: c}\nspec:\n  realmId: r\n  spaceId: s\n  stackId: t\n  containers:\n"
            "  - id: web\n    image: nginx\n    resources: {memoryLimitBytes: -1}\n",
            10, "spec.containers[0].resources.memoryLimitBytes", "must not be negative");
  static const char cfg[] = "kind: ServerConfiguration\nspec: {defaultMemoryLimitBytes: 256Mi}\n";
  struct kk_server_config sc;
  kk_err_t err = NULL;
  ck_assert_int_eq(kk_server_config_parse(cfg, strlen(cfg), "kukeond.yaml", &sc, &err), 0);
  opt_is(sc.default_memory_limit_bytes, 256ll << 20);
  kk_server_config_free(&sc);
}
END_TEST

/* kukeond's and in-process kuke's default memory limit: the override
 * (kukeond's flag) > KUKEOND_DEFAULT_MEMORY_LIMIT_BYTES > the file > 0. */
START_TEST(server_default_memory) {
  static const char cfg[] = "kind: ServerConfiguration\nspec: {defaultMemoryLimitBytes: 256Mi}\n";
  struct kk_server_config sc, none = {0};
  kk_err_t err = NULL;
  int64_t v = -1;
  ck_assert_int_eq(kk_server_config_parse(cfg, strlen(cfg), "kukeond.yaml", &sc, &err), 0);
  unsetenv("KUKEOND_DEFAULT_MEMORY_LIMIT_BYTES");
  ck_assert_int_eq(kk_server_default_memory(&none, NULL, NULL, &v, &err), 0);
  ck_assert_int_eq(v, 0);
  ck_assert_int_eq(kk_server_default_memory(&sc, NULL, NULL, &v, &err), 0);
  ck_assert_int_eq(v, 256ll << 20);
  setenv("KUKEOND_DEFAULT_MEMORY_LIMIT_BYTES", "1Mi", 1);
  ck_assert_int_eq(kk_server_default_memory(&sc, NULL, NULL, &v, &err), 0);
  ck_assert_int_eq(v, 1 << 20);
  ck_assert_int_eq(kk_server_default_memory(&sc, "2Mi", "--flag", &v, &err), 0);
  ck_assert_int_eq(v, 2 << 20);
  ck_assert_int_eq(kk_server_default_memory(&sc, "-5", "--flag", &v, &err), 0);
  ck_assert_int_eq(v, 0);
  setenv("KUKEOND_DEFAULT_MEMORY_LIMIT_BYTES", "12abc", 1);
  ck_assert_int_eq(kk_server_default_memory(&sc, NULL, NULL, &v, &err), -1);
  ck_assert_ptr_nonnull(strstr(err->msg, "KUKEOND_DEFAULT_MEMORY_LIMIT_BYTES: invalid quantity \"12abc\""));
  kk_error_free(&err);
  unsetenv("KUKEOND_DEFAULT_MEMORY_LIMIT_BYTES");
  kk_server_config_free(&sc);
}
END_TEST

/* An error in the second document names its line in the stream. */
START_TEST(multi_document_error_line) {
  static const char y[] = "kind: Realm\n"
                          "metadata: {name: a}\n"
                          "---\n"
                          "kind: Realm\n"
                          "metadata:\n"
                          "  name: b\n"
                          "  bogus: 1\n";
  parse_fails_with(y, 7, "metadata.bogus", "unknown field");
}
END_TEST

START_TEST(empty_documents_skipped) {
  static const char *const empties[] = {"", "\n", "---\n", "---\n---\n", "# only a comment\n", "--- \n...\n",
                                        "---\n# c\n---\n"};
  for (size_t i = 0; i < KK_ARRAY_SIZE(empties); i++) {
    struct kk_doc_list l = {0};
    parse_list(empties[i], strlen(empties[i]), &l);
    ck_assert_msg(l.n == 0, "\"%s\" gave %zu documents", empties[i], l.n);
  }
  static const char y[] = "---\n---\nkind: Realm\nmetadata: {name: a}\n---\n---\n# x\n---\nkind: Realm\n"
                          "metadata: {name: b}\n---\n";
  struct kk_doc_list l = {0};
  parse_list(y, strlen(y), &l);
  ck_assert_uint_eq(l.n, 2);
  ck_assert_str_eq(kk_doc_name(l.docs[1]), "b");
  kk_doc_list_free(&l);
}
END_TEST

START_TEST(api_version) {
  kk_doc_free(parse1("kind: Realm\nmetadata: {name: a}\n"));
  kk_doc_free(parse1("apiVersion: \"\"\nkind: Realm\nmetadata: {name: a}\n"));
  kk_doc_free(parse1("apiVersion:\nkind: Realm\nmetadata: {name: a}\n"));
  kk_doc_free(parse1("apiVersion: v1beta1\nkind: Realm\nmetadata: {name: a}\n"));
  cleanup_free char *m = parse_fail("kind: Realm\napiVersion: v1\nmetadata: {name: a}\n");
  expect_msg(m, 2, "apiVersion", "unsupported apiVersion");
  ck_assert_ptr_nonnull(strstr(m, "v1"));
  cleanup_free char *m2 = parse_fail("apiVersion: kukeon.io/v1beta1\nkind: Realm\nmetadata: {name: a}\n");
  expect_msg(m2, 1, "apiVersion", "unsupported apiVersion");
  cleanup_free char *m3 = parse_fail("apiVersion: [v1beta1]\nkind: Realm\nmetadata: {name: a}\n");
  ck_assert_ptr_nonnull(strstr(m3, "apiVersion"));
}
END_TEST

START_TEST(kinds_rejected) {
  parse_fails_with("metadata: {name: a}\nkind: Pod\n", 2, "kind", "unknown kind: Pod");
  parse_fails_with("kind: realm\nmetadata: {name: a}\n", 1, "kind", "unknown kind"); /* case matters */
  parse_fails_with("kind: ServerConfiguration\nspec: {}\n", 1, "kind", "configuration file");
  parse_fails_with("kind: ClientConfiguration\nspec: {}\n", 1, "kind", "configuration file");
  parse_fails_with("kind: CellProfile\n", 1, "kind", "CellBlueprint");
  parse_fails_with("metadata: {name: a}\n", 1, "kind", "kind is required");
  parse_fails_with("kind: \"\"\nmetadata: {name: a}\n", 1, "kind", "kind is required");
  parse_fails_with("kind: [Realm]\nmetadata: {name: a}\n", 1, "kind", "kind is required");
  /* Issue #17: a sequence is a list of documents; its items must be mappings. */
  cleanup_free char *m = parse_fail("- a string\n");
  ck_assert_ptr_nonnull(strstr(m, "t.yaml:1: "));
  ck_assert_ptr_nonnull(strstr(m, "mapping"));
  cleanup_free char *m2 = parse_fail("just a string\n");
  ck_assert_ptr_nonnull(strstr(m2, "mapping"));
}
END_TEST

START_TEST(parse_one) {
  kk_err_t err = NULL;
  struct kk_doc *d = NULL;
  static const char two[] = "kind: Realm\nmetadata: {name: a}\n---\nkind: Realm\nmetadata: {name: b}\n";
  ck_assert_int_eq(kk_doc_parse_one(two, strlen(two), "f", KK_KIND_REALM, &d, &err), -1);
  ck_assert_ptr_nonnull(strstr(err->msg, "exactly one Realm"));
  kk_error_free(&err);
  static const char sp[] = "kind: Space\nmetadata: {name: a}\n";
  ck_assert_int_eq(kk_doc_parse_one(sp, strlen(sp), "f", KK_KIND_REALM, &d, &err), -1);
  kk_error_free(&err);
  ck_assert_int_eq(kk_doc_parse_one("", 0, "f", KK_KIND_REALM, &d, &err), -1);
  kk_error_free(&err);
  ck_assert_int_eq(kk_doc_parse_one(sp, strlen(sp), "f", KK_KIND_SPACE, &d, &err), 0);
  ck_assert_str_eq(kk_doc_name(d), "a");
  kk_doc_free(d);
}
END_TEST

START_TEST(legacy_state_ordinals) {
  cleanup_doc struct kk_doc *r = parse1("kind: Realm\nmetadata: {name: a}\nstatus: {state: 2}\n");
  ck_assert_int_eq(r->u.realm.status.base.state, KK_REALM_READY);
  cleanup_free char *y = kk_doc_to_yaml(r);
  ck_assert_ptr_nonnull(strstr(y, "state: Ready\n")); /* emitted as the label */
  cleanup_doc struct kk_doc *s = parse1("kind: Space\nmetadata: {name: a}\nstatus: {state: 3}\n");
  ck_assert_int_eq(s->u.space.status.base.state, KK_SPACE_UNKNOWN);
  cleanup_doc struct kk_doc *t = parse1("kind: Stack\nmetadata: {name: a}\nstatus: {state: 1}\n");
  ck_assert_int_eq(t->u.stack.status.base.state, KK_STACK_READY);
  cleanup_doc struct kk_doc *c = parse1("kind: Cell\nmetadata: {name: a}\nstatus:\n  state: 7\n"
                                        "  containers: [{name: x, state: 9}, {name: y, state: NotCreated}]\n");
  ck_assert_int_eq(c->u.cell.status.base.state, KK_CELL_DEGRADED);
  ck_assert_int_eq(c->u.cell.status.containers[0].state, KK_CTR_ERROR);
  ck_assert_int_eq(c->u.cell.status.containers[1].state, KK_CTR_NOT_CREATED);
  cleanup_free char *yc = kk_doc_to_yaml(c);
  ck_assert_ptr_nonnull(strstr(yc, "state: Degraded\n"));
  ck_assert_ptr_nonnull(strstr(yc, "state: Error\n"));
  cleanup_doc struct kk_doc *k = parse1("kind: Container\nmetadata: {name: a}\nstatus: {state: 0}\n");
  ck_assert_int_eq(k->u.container.status.state, KK_CTR_PENDING);
  /* Out of range ordinals and unknown labels are errors. */
  parse_fails_with("kind: Cell\nmetadata: {name: a}\nstatus:\n  state: 8\n", 4, "status.state", "unknown value");
  parse_fails_with("kind: Space\nmetadata: {name: a}\nstatus: {state: 4}\n", 3, "status.state", "unknown value");
  parse_fails_with("kind: Realm\nmetadata: {name: a}\nstatus: {state: -1}\n", 3, "status.state", "unknown value");
  parse_fails_with("kind: Realm\nmetadata: {name: a}\nstatus: {state: ready}\n", 3, "status.state",
                   "unknown value");
  /* Names of every state. */
  ck_assert_str_eq(kk_state_name(KK_KIND_REALM, KK_REALM_DELETING), "Deleting");
  ck_assert_str_eq(kk_state_name(KK_KIND_SPACE, KK_SPACE_FAILED), "Failed");
  ck_assert_str_eq(kk_state_name(KK_KIND_STACK, KK_STACK_READY), "Ready");
  ck_assert_str_eq(kk_state_name(KK_KIND_CELL, KK_CELL_EXITED), "Exited");
  ck_assert_str_eq(kk_state_name(KK_KIND_CONTAINER, KK_CTR_PAUSING), "Pausing");
  ck_assert_str_eq(kk_state_name(KK_KIND_CELL, 99), "Unknown");
  ck_assert_str_eq(kk_state_name(KK_KIND_CELL, -1), "Unknown");
}
END_TEST

START_TEST(times) {
  cleanup_doc struct kk_doc *d =
      parse1("kind: Realm\nmetadata: {name: a}\nstatus:\n  createdAt: 0001-01-01T00:00:00Z\n"
             "  updatedAt: 2026-01-02T03:04:05-01:30\n  readyAt: 1969-12-31T23:59:59Z\n");
  ck_assert_int_eq(d->u.realm.status.base.created_at, 0);
  ck_assert_int_eq(d->u.realm.status.base.updated_at, T0 + 5400);
  ck_assert_int_eq(d->u.realm.status.base.ready_at, -1);
  cleanup_free char *y = round_trip(d);
  ck_assert_ptr_null(strstr(y, "createdAt")); /* zero time is omitted */
  ck_assert_ptr_nonnull(strstr(y, "updatedAt: 2026-01-02T04:34:05Z\n"));
  parse_fails_with("kind: Realm\nmetadata: {name: a}\nstatus:\n  createdAt: yesterday\n", 4, "status.createdAt",
                   "RFC 3339");
  parse_fails_with("kind: Realm\nmetadata: {name: a}\nstatus:\n  createdAt: 2026-01-02T03:04:05\n", 4,
                   "status.createdAt", "RFC 3339");
  parse_fails_with("kind: Realm\nmetadata: {name: a}\nstatus:\n  createdAt: [1]\n", 4, "status.createdAt",
                   "RFC 3339");
}
END_TEST

/* ----------------------------------------------------- structural errors */

START_TEST(unknown_fields) {
  parse_fails_with("kind: Realm\nmetadata: {name: a}\nfoo: 1\n", 3, "foo", "unknown field");
  parse_fails_with("kind: Realm\nmetadata:\n  name: a\n  realm: x\n", 4, "metadata.realm", "unknown field");
  parse_fails_with("kind: Realm\nmetadata: {name: a}\nspec:\n  namespace: x\n  extra: 1\n", 5, "spec.extra",
                   "unknown field");
  parse_fails_with("kind: Cell\nmetadata: {name: a}\nspec:\n  containers:\n  - id: x\n    image: y\n"
                   "    secrets: []\n",
                   7, "spec.containers[0].secrets", "unknown field");
  parse_fails_with("kind: Space\nmetadata: {name: a}\nspec:\n  network:\n    egress:\n      allow:\n"
                   "      - {host: a, proto: tcp}\n",
                   7, "spec.network.egress.allow[0].proto", "unknown field");
  parse_fails_with("kind: Cell\nmetadata: {name: a}\nstatus:\n  outOfSync: true\n", 4, "status.outOfSync",
                   "unknown field");
}
END_TEST

START_TEST(wrong_types) {
  parse_fails_with("kind: Realm\nmetadata: [a]\n", 2, "metadata", "expected a mapping");
  parse_fails_with("kind: Realm\nmetadata:\n  name: {a: b}\n", 3, "metadata.name", "expected a string");
  parse_fails_with("kind: Realm\nmetadata:\n  name: a\n  labels: [a]\n", 4, "metadata.labels", "map of strings");
  parse_fails_with("kind: Realm\nmetadata:\n  name: a\n  labels: {a: [1]}\n", 4, "metadata.labels",
                   "map of strings");
  parse_fails_with("kind: Realm\nmetadata:\n  name: a\n  generation: abc\n", 4, "metadata.generation",
                   "expected an integer");
  parse_fails_with("kind: Realm\nmetadata:\n  name: a\n  generation: \"5\"\n", 4, "metadata.generation",
                   "expected an integer");
  parse_fails_with("kind: Realm\nmetadata:\n  name: a\n  generation: 1.5\n", 4, "metadata.generation",
                   "expected an integer");
  parse_fails_with("kind: Realm\nmetadata:\n  name: a\n  generation: 99999999999999999999\n", 4,
                   "metadata.generation", "expected an integer");
  parse_fails_with("kind: Cell\nmetadata: {name: a}\nspec:\n  autoDelete: yes\n", 4, "spec.autoDelete",
                   "expected true or false");
  parse_fails_with("kind: Cell\nmetadata: {name: a}\nspec:\n  autoDelete: \"true\"\n", 4, "spec.autoDelete",
                   "expected true or false");
  parse_fails_with("kind: Cell\nmetadata: {name: a}\nspec:\n  autoDelete: 1\n", 4, "spec.autoDelete",
                   "expected true or false");
  parse_fails_with("kind: Cell\nmetadata: {name: a}\nspec:\n  containers: {id: x}\n", 4, "spec.containers",
                   "expected a list");
  parse_fails_with("kind: Cell\nmetadata: {name: a}\nspec:\n  containers:\n  - id: x\n    args: a b\n", 6,
                   "spec.containers[0].args", "list of strings");
  parse_fails_with("kind: Cell\nmetadata: {name: a}\nspec:\n  containers:\n  - id: x\n    args: [[a]]\n", 6,
                   "spec.containers[0].args", "list of strings");
  parse_fails_with("kind: Cell\nmetadata: {name: a}\nspec:\n  containers:\n  - just-a-string\n", 5,
                   "spec.containers[0]", "expected a mapping");
  parse_fails_with("kind: Space\nmetadata: {name: a}\nspec:\n  network:\n    egress:\n      allow:\n"
                   "      - ports: [\"443\"]\n",
                   7, "spec.network.egress.allow[0].ports", "expected an integer");
  parse_fails_with("kind: Space\nmetadata: {name: a}\nspec:\n  network:\n    egress:\n      allow:\n"
                   "      - ports: 443\n",
                   7, "spec.network.egress.allow[0].ports", "list of integers");
  parse_fails_with("kind: Space\nmetadata: {name: a}\nspec:\n  defaults:\n    container:\n"
                   "      readOnlyRootFilesystem: maybe\n",
                   6, "spec.defaults.container.readOnlyRootFilesystem", "expected true or false");
  parse_fails_with("kind: Realm\nmetadata: {name: a}\nspec:\n  resources:\n    pidsMax: lots\n", 5,
                   "spec.resources.pidsMax", "expected an integer");
  cleanup_free char *m = parse_fail("kind: Realm\nmetadata: {name: a}\n? [complex]\n: key\n");
  ck_assert_ptr_nonnull(strstr(m, "keys must be strings"));
  /* null is "not set" for every type. */
  cleanup_doc struct kk_doc *d = parse1("kind: Cell\nmetadata: {name: a, labels: ~, generation: null}\n"
                                        "spec:\n  autoDelete: ~\n  containers:\n  resources: {pidsMax: null}\n"
                                        "  tty:\nstatus: ~\n");
  ck_assert(!d->u.cell.spec.auto_delete);
  ck_assert(!d->u.cell.spec.resources.pids_max.set);
  ck_assert_uint_eq(d->u.cell.spec.n_containers, 0);
}
END_TEST

START_TEST(integer_forms) {
  cleanup_doc struct kk_doc *d =
      parse1("kind: Realm\nmetadata: {name: a, generation: -3}\nspec:\n  resources: {pidsMax: +12}\n");
  ck_assert_int_eq(d->u.realm.metadata.generation, -3);
  opt_is(d->u.realm.spec.resources.pids_max, 12);
  cleanup_doc struct kk_doc *e = parse1("kind: Realm\nmetadata: {name: a, generation: 9223372036854775807}\n");
  ck_assert_int_eq(e->u.realm.metadata.generation, INT64_MAX);
  free(round_trip(e));
}
END_TEST

/* Regression test (fixed): model/schema.c parse_i64() reads integers with strtoll(v, &end, 10):
 * `mode: 0755` (the way everyone writes a file mode; YAML 1.1 and Go's yaml
 * decoders read it as octal 493) becomes decimal 755 (= 01363), which passes
 * the 0..07777 check and would give the tmpfs the wrong permissions.
 * Expected: 0755 == 493 (octal, as Go/YAML 1.1), or a clear error. */
START_TEST(octal_mode) {
  static const char y[] = "kind: Cell\nmetadata: {name: c}\nspec:\n  realmId: r\n  spaceId: s\n  stackId: t\n"
                          "  containers:\n  - id: web\n    image: nginx\n    volumes:\n"
                          "    - {kind: tmpfs, target: /x, mode: 0755}\n";
  struct kk_doc_list l = {0};
  kk_err_t err = NULL;
  if (kk_docs_parse(y, strlen(y), FILE_NAME, &l, &err) < 0) {
    kk_error_free(&err); /* rejecting a leading-zero integer is acceptable */
    return;
  }
  int64_t mode = l.docs[0]->u.cell.spec.containers[0].volumes[0].mode;
  kk_doc_list_free(&l);
  ck_assert_msg(mode == 0755, "mode: 0755 parsed as %lld, expected %d (octal)", (long long)mode, 0755);
}
END_TEST

START_TEST(duplicate_keys) {
  parse_fails_with("kind: Realm\nmetadata:\n  name: a\n  name: b\n", 4, "metadata.name", "duplicate field");
  parse_fails_with("kind: Realm\nmetadata:\n  name: a\n  labels: {x: 1, x: 2}\n", 4, "metadata.labels",
                   "duplicate key");
  parse_fails_with("kind: Realm\nmetadata: {name: a}\nspec: {}\nspec: {}\n", 4, "spec", "duplicate field");
  parse_fails_with("kind: Realm\nkind: Realm\nmetadata: {name: a}\n", 2, "kind", "duplicate field");
  parse_fails_with("kind: Cell\nmetadata: {name: a}\nspec:\n  containers:\n  - id: x\n    image: y\n    image: z\n",
                   7, "spec.containers[0].image", "duplicate field");
}
END_TEST

/* Anchors and aliases are fine in moderation. */
START_TEST(aliases_ok) {
  cleanup_doc struct kk_doc *d = parse1("kind: Cell\nmetadata: {name: a, labels: &l {x: y}, annotations: *l}\n"
                                        "spec:\n  containers:\n  - &c {id: a, image: x, env: &e [A=1]}\n"
                                        "  - {id: b, image: x, env: *e}\n");
  ck_assert_str_eq(kk_map_get(&d->u.cell.metadata.annotations, "x"), "y");
  strv_is(&d->u.cell.spec.containers[1].env, 1, "A=1");
  free(round_trip(d));
  /* A self-referencing alias terminates with an error. */
  cleanup_free char *m = parse_fail("kind: Cell\nmetadata: {name: a}\nspec: &s\n  containers: [*s]\n");
  ck_assert_ptr_nonnull(strstr(m, "t.yaml:"));
  cleanup_free char *m2 = parse_fail("kind: Cell\nmetadata: {name: a}\nspec:\n  containers: &l [*l]\n");
  ck_assert_ptr_nonnull(strstr(m2, "t.yaml:"));
  cleanup_free char *m3 = parse_fail("kind: Cell\nmetadata: {name: a}\nspec: {containers: [{id: a, image: *nope}]}\n");
  ck_assert_ptr_nonnull(strstr(m3, "invalid YAML"));
}
END_TEST

/* Billion laughs through the schema walk: containers that all alias one
 * container whose env aliases one long list.  36 KB of input. */
static char *alias_bomb(int n_items, int n_aliases) {
  size_t cap = (size_t)n_items * 5 + (size_t)n_aliases * 5 + 512, len = 0;
  char *s = kk_xmalloc(cap);
  len += (size_t)sprintf(s + len,
                         "kind: Cell\nmetadata: {name: c}\nspec:\n  realmId: r\n  spaceId: s\n  stackId: t\n"
                         "  containers: [&c {id: web, image: x, env: &e [");
  for (int i = 0; i < n_items; i++)
    len += (size_t)sprintf(s + len, "%sA=1", i ? ", " : "");
  len += (size_t)sprintf(s + len, "]}");
  for (int i = 0; i < n_aliases; i++)
    len += (size_t)sprintf(s + len, ", *c");
  len += (size_t)sprintf(s + len, "]\n");
  return s;
}

/* Regression test (fixed): model/schema.c bounds the walk with c->visits (KK_MAX_NODE_VISITS,
 * counted per field in parse_field) but list elements (STRV/I64V/MAP
 * entries) are not counted: 3000 containers aliasing one container whose env
 * aliases a 3000-entry list make 9 million strings from 36 KB.  At 20000 x
 * 20000 (180 KB) the parser allocates until "kukeon: out of memory" aborts
 * the process.  Expected: "document too large or too deeply aliased". */
START_TEST(alias_bomb_rejected) {
  cleanup_free char *y = alias_bomb(3000, 3000);
  cleanup_free char *m = parse_fail(y); /* Regression test (fixed): succeeds with 9M env entries */
  ck_assert_ptr_nonnull(strstr(m, "t.yaml:"));
}
END_TEST

/* Issue #16: one 64 KiB anchored scalar referenced 20000 times in args
 * (a 1.3 GB expansion from ~190 KB of input) made kukeon allocate over
 * 3 GB.  Refused from the event stream, naming the line of the alias that
 * crossed the bound. */
static char *scalar_bomb(size_t scalar, int n_aliases) {
  size_t cap = scalar + (size_t)n_aliases * 12 + 512, len = 0;
  char *s = kk_xmalloc(cap);
  len += (size_t)sprintf(s + len, "kind: Cell\nmetadata: {name: c}\nspec:\n  containers:\n  - id: a\n"
                                  "    image: x\n    args:\n    - &big \"");
  memset(s + len, 'x', scalar);
  len += scalar;
  len += (size_t)sprintf(s + len, "\"\n");
  for (int i = 0; i < n_aliases; i++)
    len += (size_t)sprintf(s + len, "    - *big\n");
  s[len] = '\0';
  return s;
}

START_TEST(alias_expansion_bounded) {
  cleanup_free char *y = scalar_bomb(65536, 20000);
  cleanup_free char *m = parse_fail(y);
  /* Each alias counts 65537 bytes (the scalar and its node): the 64th
   * (the anchor is on line 8) is over 4 MiB. */
  char want[128];
  snprintf(want, sizeof(want), "t.yaml:%d: YAML aliases expand to more than %u bytes", 8 + 64,
           KK_MAX_YAML_ALIAS_BYTES);
  ck_assert_str_eq(m, want);
}
END_TEST

START_TEST(alias_count_bounded) {
  cleanup_free char *ok = scalar_bomb(8, KK_MAX_YAML_ALIASES);
  kk_doc_free(parse1(ok));
  cleanup_free char *y = scalar_bomb(8, KK_MAX_YAML_ALIASES + 1);
  cleanup_free char *m = parse_fail(y);
  char want[128];
  snprintf(want, sizeof(want), "t.yaml:%u: too many YAML aliases (limit %u)", 8 + KK_MAX_YAML_ALIASES + 1,
           KK_MAX_YAML_ALIASES);
  ck_assert_str_eq(m, want);
  /* The count is per document: a second document starts again. */
  cleanup_free char *two = kk_asprintf("%s---\n%s", ok, ok);
  struct kk_doc_list l = {0};
  parse_list(two, strlen(two), &l);
  ck_assert_uint_eq(l.n, 2);
  kk_doc_list_free(&l);
}
END_TEST

/* Nested collections: each level aliases the previous one ten times. */
START_TEST(alias_nested_bounded) {
  struct kk_strv lines = {0};
  kk_strv_push(&lines, "kind: Cell\nmetadata: {name: c}\nspec:\n  containers:\n  - id: a\n    image: x\n"
                       "    env: &l0 [\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=1\"]\n");
  for (int i = 1; i < 12; i++)
    kk_strv_push_owned(&lines, kk_asprintf("    x%d: &l%d [*l%d,*l%d,*l%d,*l%d,*l%d,*l%d,*l%d,*l%d,*l%d,*l%d]\n", i, i,
                                           i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1));
  cleanup_free char *y = kk_strv_join(&lines, "");
  kk_strv_free(&lines);
  cleanup_free char *m = parse_fail(y);
  ck_assert_ptr_nonnull(strstr(m, "YAML aliases expand to more than"));
}
END_TEST

START_TEST(anchor_count_bounded) {
  struct kk_strv lines = {0};
  kk_strv_push(&lines, "kind: Realm\nmetadata:\n  name: r\n  labels:\n");
  for (unsigned i = 0; i <= KK_MAX_YAML_ANCHORS; i++)
    kk_strv_push_owned(&lines, kk_asprintf("    k%u: &a%u v\n", i, i));
  cleanup_free char *y = kk_strv_join(&lines, "");
  kk_strv_free(&lines);
  cleanup_free char *m = parse_fail(y);
  char want[128];
  snprintf(want, sizeof(want), "t.yaml:%u: too many YAML anchors (limit %u)", 5 + KK_MAX_YAML_ANCHORS,
           KK_MAX_YAML_ANCHORS);
  ck_assert_str_eq(m, want);
}
END_TEST

/* What real manifests do with anchors still works: shared labels, a
 * shared env list and a shared container mapping, validated. */
START_TEST(anchored_manifest_ok) {
  cleanup_doc struct kk_doc *d = check_ok(
      "apiVersion: v1beta1\nkind: Cell\nmetadata:\n  name: web\n  labels: &labels\n    app: shop\n    tier: front\n"
      "  annotations: *labels\n"
      "spec:\n  id: web\n  realmId: default\n  spaceId: default\n  stackId: default\n  containers:\n"
      "  - &base\n    id: api\n    image: busybox\n    command: sh\n    args: [-c, &loop \"while true; do sleep 1; done\"]\n"
      "    env: &env\n    - LOG=info\n    - REGION=eu\n"
      "  - id: worker\n    image: busybox\n    command: sh\n    args: [-c, *loop]\n    env: *env\n");
  ck_assert_uint_eq(d->u.cell.spec.n_containers, 2);
  ck_assert_str_eq(d->u.cell.spec.containers[1].args.v[1], "while true; do sleep 1; done");
  strv_is(&d->u.cell.spec.containers[1].env, 2, "LOG=info", "REGION=eu");
  ck_assert_str_eq(kk_map_get(&d->u.cell.metadata.annotations, "tier"), "front");
}
END_TEST

/* Configuration files go through the same bounds. */
START_TEST(config_alias_bounded) {
  size_t cap = 70000 + 2000 * 12, len = 0;
  cleanup_free char *s = kk_xmalloc(cap);
  len += (size_t)sprintf(s + len, "kind: ServerConfiguration\nspec:\n  runPath: &p \"/");
  memset(s + len, 'x', 65536);
  len += 65536;
  len += (size_t)sprintf(s + len, "\"\n  x: [");
  for (int i = 0; i < 2000; i++)
    len += (size_t)sprintf(s + len, "*p,");
  len += (size_t)sprintf(s + len, "]\n");
  struct kk_server_config c;
  kk_err_t err = NULL;
  ck_assert_int_eq(kk_server_config_parse(s, len, "kukeond.yaml", &c, &err), -1);
  ck_assert_ptr_nonnull(strstr(err->msg, "kukeond.yaml:4: YAML aliases expand to more than"));
  kk_error_free(&err);
}
END_TEST

/* One document limit: what the store writes (a cell with its containers,
 * spec + status) is measured before anything is written. */
START_TEST(doc_size_limit) {
  size_t arg = KK_MAX_DOC_BYTES;
  cleanup_free char *y = kk_xmalloc(arg + 256);
  int len = sprintf(y, "kind: Cell\nmetadata: {name: big}\nspec:\n  containers:\n  - id: a\n    image: x\n    args: [");
  memset(y + len, 'x', arg);
  len += (int)arg;
  len += sprintf(y + len, "]\n");
  cleanup_doc struct kk_doc *d = parse1(y);
  kk_err_t err = NULL;
  ck_assert_int_eq(kk_doc_check_size(d, &err), -1);
  ck_assert_ptr_nonnull(strstr(err->msg, "t.yaml:1: cell \"big\" is "));
  ck_assert_ptr_nonnull(strstr(err->msg, "bytes as stored, more than the limit of 4194304"));
  kk_error_free(&err);
  cleanup_doc struct kk_doc *small = parse1("kind: Cell\nmetadata: {name: s}\nspec:\n  containers: [{id: a, image: x}]\n");
  ck_assert_int_eq(kk_doc_check_size(small, &err), 0);
}
END_TEST

/* A 1 MB manifest must not take long: labels are checked for duplicates with
 * a linear search per key (model/schema.c KK_F_MAP: kk_map_get + kk_map_set,
 * O(n^2)).  100000 labels take ~20 s (the 16 MiB limit allows hours). */
START_TEST(many_labels_fast) {
  size_t cap = 100000 * 16 + 128, len = 0;
  cleanup_free char *s = kk_xmalloc(cap);
  len += (size_t)sprintf(s + len, "kind: Realm\nmetadata:\n  name: r\n  labels:\n");
  for (int i = 0; i < 100000; i++)
    len += (size_t)sprintf(s + len, "    k%d: v\n", i);
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  struct kk_doc_list l = {0};
  parse_list(s, len, &l);
  clock_gettime(CLOCK_MONOTONIC, &b);
  double secs = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
  ck_assert_uint_eq(l.docs[0]->u.realm.metadata.labels.n, 100000);
  kk_doc_list_free(&l);
  ck_assert_msg(secs < 2.0, "100000 labels (1.2 MB) took %.1f s to parse (quadratic duplicate check)", secs);
}
END_TEST

/* Deep nesting: libyaml 0.2.5's loader is quadratic in the nesting depth
 * (flow and block), and kk_docs_parse hands it the input unbounded.
 * 400 KB of '[' takes ~60 s; a 16 MiB manifest takes days.  Expected: a
 * nesting limit (e.g. an event pre-pass) and a quick error. */
START_TEST(deep_nesting_fast) {
  int depth = 200000;
  cleanup_free char *s = kk_xmalloc((size_t)depth * 2 + 64);
  int len = sprintf(s, "kind: Realm\nmetadata: ");
  memset(s + len, '[', (size_t)depth);
  memset(s + len + depth, ']', (size_t)depth);
  len += 2 * depth;
  s[len++] = '\n';
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  cleanup_free char *m = parse_fail_len(s, (size_t)len);
  clock_gettime(CLOCK_MONOTONIC, &b);
  double secs = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
  ck_assert_msg(secs < 2.0, "nesting depth %d took %.1f s to reject", depth, secs);
}
END_TEST

START_TEST(yaml_syntax) {
  cleanup_free char *m1 = parse_fail("kind: Realm\nmetadata:\n\tname: a\n");
  ck_assert_msg(strncmp(m1, "t.yaml:3: invalid YAML: ", 24) == 0, "%s", m1);
  cleanup_free char *m2 = parse_fail("kind: Realm\nmetadata: {name: a\n---\nkind: Realm\n");
  ck_assert_msg(strstr(m2, "t.yaml:") && strstr(m2, "invalid YAML"), "%s", m2);
  cleanup_free char *m3 = parse_fail("kind: Realm\nmetadata:\n  name: a\n - b\n");
  ck_assert_msg(strncmp(m3, "t.yaml:4: invalid YAML: ", 24) == 0, "%s", m3);
  /* A syntax error in a later document fails the whole stream. */
  cleanup_free char *m4 = parse_fail("kind: Realm\nmetadata: {name: a}\n---\nkind: [\n");
  ck_assert_ptr_nonnull(strstr(m4, "invalid YAML"));
}
END_TEST

START_TEST(bad_bytes) {
  /* Not UTF-8. */
  static const char latin1[] = "kind: Realm\nmetadata:\n  name: caf\xe9\n";
  cleanup_free char *m1 = parse_fail(latin1);
  ck_assert_ptr_nonnull(strstr(m1, "t.yaml:"));
  ck_assert_ptr_nonnull(strstr(m1, "invalid YAML"));
  static const char overlong[] = "kind: Realm\nmetadata: {name: \"\xc0\xaf\"}\n";
  cleanup_free char *m2 = parse_fail(overlong);
  ck_assert_ptr_nonnull(strstr(m2, "invalid YAML"));
  static const char trunc[] = "kind: Realm\nmetadata: {name: a}\n#\xe2\x82";
  cleanup_free char *m3 = parse_fail(trunc);
  ck_assert_ptr_nonnull(strstr(m3, "invalid YAML"));
  /* A raw NUL byte in the input. */
  static const char nul[] = "kind: Realm\nmetadata:\n  name: a\0b\n";
  cleanup_free char *m4 = parse_fail_len(nul, sizeof(nul) - 1);
  ck_assert_ptr_nonnull(strstr(m4, "t.yaml:"));
  /* An escaped NUL in a string field. */
  parse_fails_with("kind: Realm\nmetadata:\n  name: \"a\\0b\"\n", 3, "metadata.name", "NUL");
  /* Random binary. */
  unsigned char bin[512];
  for (size_t i = 0; i < sizeof(bin); i++)
    bin[i] = (unsigned char)(i * 131 + 7);
  struct kk_doc_list l = {0};
  kk_err_t err = NULL;
  ck_assert_int_eq(kk_docs_parse((const char *)bin, sizeof(bin), NULL, &l, &err), -1);
  ck_assert_ptr_nonnull(strstr(err->msg, "<input>"));
  kk_error_free(&err);
  /* Over the size limit. */
  ck_assert_int_eq(kk_docs_parse("", KK_MAX_MANIFEST_BYTES + 1u, "big", &l, &err), -1);
  ck_assert_ptr_nonnull(strstr(err->msg, "big"));
  kk_error_free(&err);
  /* A UTF-8 byte order mark is fine. */
  kk_doc_free(parse1("\xef\xbb\xbfkind: Realm\nmetadata: {name: a}\n"));
}
END_TEST

/* An empty buffer may come as NULL (an empty protobuf bytes field does).
 * model/document.c kk_docs_parse() and model/config.c parse_config()
 * pass buf straight to yaml_parser_set_input_string(), which asserts
 * input != NULL: kk_docs_parse(NULL, 0, ...) aborts the process (found by
 * the api fuzz target through api/server.c doc_from_bytes).  Expected: an
 * empty stream (0 documents) / an empty configuration. */
START_TEST(null_empty_input) {
  struct kk_doc_list l = {0};
  kk_err_t err = NULL;
  ck_assert_int_eq(kk_docs_parse(NULL, 0, "empty", &l, &err), 0);
  ck_assert_uint_eq(l.n, 0);
  struct kk_client_config c;
  ck_assert_int_eq(kk_client_config_parse(NULL, 0, "kuke.yaml", &c, &err), 0);
  kk_client_config_free(&c);
}
END_TEST

/* Regression test (fixed): model/schema.c only checks NUL bytes for string fields (parse_str);
 * list entries (KK_F_STRV), map keys/values (KK_F_MAP) and integers take
 * the C string up to the NUL: env "A=1\0B" silently becomes "A=1", a label
 * "a\0b: v\0w" becomes "a: v".  Expected: "string contains a NUL byte". */
START_TEST(nul_in_lists_and_maps) {
  cleanup_free char *m1 = parse_fail("kind: Cell\nmetadata: {name: c}\nspec:\n  containers:\n  - id: web\n"
                                     "    image: x\n    env: [\"A=1\\0B=2\"]\n");
  ck_assert_ptr_nonnull(strstr(m1, "NUL"));
  cleanup_free char *m2 = parse_fail("kind: Realm\nmetadata:\n  name: a\n  labels: {\"a\\0b\": \"v\\0w\"}\n");
  ck_assert_ptr_nonnull(strstr(m2, "NUL"));
}
END_TEST

/* ------------------------------------------------------------------ names */

static void name_err(enum kk_kind kind, const char *name, const char *why) {
  kk_err_t err = NULL;
  ck_assert_msg(kk_validate_name(kind, name, &err) == -1, "name \"%s\" accepted", name ? name : "(null)");
  ck_assert_msg(strstr(err->msg, why) != NULL, "name \"%s\": \"%s\" does not say \"%s\"", name, err->msg, why);
  ck_assert_int_eq(err->kind, KK_ERR_INVALID);
  kk_error_free(&err);
}
static void name_ok(enum kk_kind kind, const char *name) {
  kk_err_t err = NULL;
  ck_assert_msg(kk_validate_name(kind, name, &err) == 0, "name \"%s\" rejected: %s", name, err ? err->msg : "");
}

START_TEST(name_empty) {
  name_err(KK_KIND_REALM, NULL, "realm name is required");
  name_err(KK_KIND_REALM, "", "realm name is required");
  name_err(KK_KIND_SPACE, "   ", "space name is required");
  name_err(KK_KIND_CONTAINER, "\t", "container name is required");
  fail_with("kind: Realm\nmetadata:\n  name: \"\"\n", 3, "metadata.name", "realm name is required");
  fail_with("kind: Stack\nmetadata:\n  labels: {a: b}\nspec: {realmId: r, spaceId: s}\n", 3, "metadata.name",
            "stack name is required");
}
END_TEST

START_TEST(name_underscore) {
  name_err(KK_KIND_REALM, "a_b",
           "realm name is invalid: \"a_b\" contains disallowed character (must not contain '_' or '/')");
  name_err(KK_KIND_CELL, "a_b",
           "name is invalid: cell name \"a_b\" contains disallowed character (must not contain '_' or '/')");
  fail_with("kind: Cell\nmetadata:\n  name: my_cell\nspec: {realmId: r, spaceId: s, stackId: t, containers: "
            "[{id: a, image: x}]}\n",
            3, "metadata.name", "disallowed character");
}
END_TEST

START_TEST(name_slash) {
  name_err(KK_KIND_REALM, "a/b", "realm name is invalid: \"a/b\" contains disallowed character");
  name_err(KK_KIND_SPACE, "../x", "space name \"../x\" contains disallowed character");
  name_err(KK_KIND_STACK, "/", "disallowed character");
  fail_with("kind: Space\nmetadata:\n  name: a/b\nspec: {realmId: r}\n", 3, "metadata.name", "disallowed character");
}
END_TEST

START_TEST(name_bad_chars) {
  static const char *const bad[] = {"a b", "-a", "a-", ".a", "a.", "a..b", "a.-b", "a--b", "caf\xc3\xa9", "a:b",
                                    "a*",  "a\nb", " a", "a@b", "A B"};
  for (size_t i = 0; i < KK_ARRAY_SIZE(bad); i++)
    name_err(KK_KIND_CELL, bad[i], "is invalid");
  static const char *const good[] = {"a", "A", "0", "a-b", "a.b", "a-b.c-d", "Web01", "x1-2-3"};
  for (size_t i = 0; i < KK_ARRAY_SIZE(good); i++)
    name_ok(KK_KIND_CELL, good[i]);
  fail_with("kind: Realm\nmetadata:\n  name: bad-\n", 3, "metadata.name", "realm name \"bad-\" is invalid");
}
END_TEST

START_TEST(name_too_long) {
  char n76[77], n77[78];
  memset(n76, 'a', 76);
  n76[76] = '\0';
  memset(n77, 'b', 77);
  n77[77] = '\0';
  name_ok(KK_KIND_CELL, n76);
  name_err(KK_KIND_CELL, n77, "longer than 76");
  cleanup_free char *y = kk_asprintf("kind: Space\nmetadata:\n  name: %s\nspec: {realmId: r}\n", n77);
  fail_with(y, 3, "metadata.name", "longer than 76");
}
END_TEST

START_TEST(name_reserved) {
  static const char *const reserved[] = {"run", "images", "snapshots", "bin", "tmp", "containers",
                                         "realm.yaml", "space.yaml", "stack.yaml", "cell.yaml",
                                         "network.conflist", "network.json"};
  for (size_t i = 0; i < KK_ARRAY_SIZE(reserved); i++)
    name_err(KK_KIND_REALM, reserved[i], "reserved");
  name_ok(KK_KIND_REALM, "running");
  fail_with("kind: Realm\nmetadata:\n  name: run\n", 3, "metadata.name", "realm name \"run\" is reserved");
}
END_TEST

/* Parent ids are names too, and required. */
START_TEST(parent_ids) {
  fail_with("kind: Space\nmetadata:\n  name: s\nspec:\n  realmId: a_b\n", 5, "spec.realmId", "disallowed character");
  fail_with("kind: Stack\nmetadata:\n  name: t\nspec:\n  realmId: r\n  spaceId: \"\"\n", 6, "spec.spaceId",
            "spec.spaceId is required");
  fail_with("kind: Stack\nmetadata:\n  name: t\nspec:\n  realmId: r\n", 1, "spec.spaceId", "is required");
  fail_with("kind: Cell\nmetadata:\n  name: c\nspec:\n  realmId: r\n  spaceId: s\n  stackId: x/y\n"
            "  containers: [{id: a, image: x}]\n",
            7, "spec.stackId", "disallowed character");
  /* A missing field is reported at the document's first line. */
  fail_with("kind: Container\nmetadata:\n  name: a\nspec:\n  realmId: r\n  spaceId: s\n  stackId: t\n  image: x\n",
            1, "spec.cellId", "spec.cellId is required");
}
END_TEST

/* Derived container IDs ("<space>_<stack>_<cell>_<container>") <= 76. */
static char *rep(char c, size_t n) {
  char *s = kk_xmalloc(n + 1);
  memset(s, c, n);
  s[n] = '\0';
  return s;
}

START_TEST(derived_id_too_long) {
  cleanup_free char *s22 = rep('s', 22), *s23 = rep('s', 23), *t23 = rep('t', 23), *c24 = rep('c', 24),
                    *c25 = rep('c', 25);
  /* 22 + 23 + 24 + "root" + 3 separators = 76: every ID fits. */
  cleanup_free char *ok = kk_asprintf("kind: Cell\nmetadata:\n  name: %s\nspec:\n  realmId: r\n  spaceId: %s\n"
                                      "  stackId: %s\n  containers:\n  - id: web\n    image: x\n",
                                      c24, s22, t23);
  cleanup_doc struct kk_doc *d = check_ok(ok);
  ck_assert_uint_eq(strlen(d->u.cell.spec.containers[0].containerd_id), 75);
  kk_cell_add_pause_root(&d->u.cell);
  ck_assert_uint_eq(strlen(kk_cell_root(&d->u.cell)->containerd_id), 76);
  cleanup_free char *bad = kk_asprintf("kind: Cell\nmetadata:\n  name: %s\nspec:\n  realmId: r\n  spaceId: %s\n"
                                       "  stackId: %s\n  containers:\n  - id: web\n    image: x\n",
                                       c25, s23, t23);
  fail_with(bad, 9, "spec.containers[0].id", "derived container ID");
  /* A root container's ID ends in "_root": 23 + 23 + 24 + 3 + 4 = 77. */
  cleanup_free char *root = kk_asprintf("kind: Cell\nmetadata:\n  name: %s\nspec:\n  realmId: r\n  spaceId: %s\n"
                                        "  stackId: %s\n  containers:\n  - image: x\n    root: true\n    id: w\n",
                                        c24, s23, t23);
  fail_with(root, 11, "spec.containers[0].id", "derived container ID");
  cleanup_free char *ctr = kk_asprintf("kind: Container\nmetadata:\n  name: web\nspec:\n  realmId: r\n"
                                       "  spaceId: %s\n  stackId: %s\n  cellId: %s\n  image: x\n",
                                       s23, t23, c25);
  /* spec.id is derived from metadata.name here: reported at the spec mapping. */
  fail_with(ctr, 5, "spec.id", "derived container ID");
}
END_TEST

/* Every cell gets a root container whose ID is "<space>_<stack>_<cell>_root"
 * (its own or the synthesized pause root).  model/validate.c checks
 * only the IDs of the containers listed, so with space 23, stack 23 and
 * cell 24 characters a cell whose container "web" fits (76) is accepted,
 * and the pause root the controller adds gets a 77-character ID that runc
 * state dirs / containerd identifiers do not allow.  Expected: the cell is
 * rejected (e.g. at metadata.name, line 3) before anything is created. */
START_TEST(derived_root_id_too_long) {
  cleanup_free char *s23 = rep('s', 23), *t23 = rep('t', 23), *c24 = rep('c', 24);
  cleanup_free char *y = kk_asprintf("kind: Cell\nmetadata:\n  name: %s\nspec:\n  realmId: r\n  spaceId: %s\n"
                                     "  stackId: %s\n  containers:\n  - id: web\n    image: x\n",
                                     c24, s23, t23);
  cleanup_free char *m = check_fail(y);
  ck_assert_msg(strstr(m, "longer than 76"), "%s", m);
}
END_TEST

/* The realm's containerd namespace "<realm>.<suffix>" must fit too. */
START_TEST(realm_namespace) {
  char n70[71], n77[78];
  memset(n70, 'r', 70);
  n70[70] = '\0';
  memset(n77, 'n', 77);
  n77[77] = '\0';
  cleanup_free char *derived = kk_asprintf("kind: Realm\nmetadata:\n  name: %s\n", n70);
  cleanup_free char *m = check_fail(derived);
  ck_assert_msg(strstr(m, ": spec.namespace: ") && strstr(m, "longer than 76"), "%s", m);
  cleanup_free char *expl = kk_asprintf("kind: Realm\nmetadata:\n  name: r\nspec:\n  namespace: %s\n", n77);
  fail_with(expl, 5, "spec.namespace", "longer than 76");
  cleanup_doc struct kk_doc *d = check_ok("kind: Realm\nmetadata: {name: r}\n");
  ck_assert_str_eq(d->u.realm.spec.namespace_, "r.kukeon.io");
  cleanup_doc struct kk_doc *e = parse1("kind: Realm\nmetadata: {name: r}\n");
  kk_err_t err = NULL;
  ck_assert_int_eq(kk_doc_normalize(e, "example.org", &err), 0);
  ck_assert_str_eq(e->u.realm.spec.namespace_, "r.example.org");
}
END_TEST

/* Regression test (fixed): model/validate.c checks only the length of spec.namespace; it becomes
 * a path component under the runtime dir (runc/<namespace>/,
 * bundles/<namespace>/) and must be a containerd identifier (spec §2.3).
 * `namespace: "../../etc"` is accepted.  Expected: an error at line 5. */
START_TEST(realm_namespace_identifier) {
  fail_with("kind: Realm\nmetadata:\n  name: r\nspec:\n  namespace: \"../../etc\"\n", 5, "spec.namespace", "");
}
END_TEST

START_TEST(realm_registry_credentials) {
  fail_with("kind: Realm\nmetadata: {name: r}\nspec:\n  registryCredentials:\n  - username: u\n    password: p\n"
            "  - username: v\n    serverAddress: ghcr.io\n",
            7, "spec.registryCredentials", "entry 1 needs username and password");
  fail_with("kind: Realm\nmetadata: {name: r}\nspec:\n  registryCredentials:\n  - password: p\n", 5,
            "spec.registryCredentials", "entry 0 needs username and password");
}
END_TEST

START_TEST(spec_id_must_equal_name) {
  fail_with("kind: Stack\nmetadata:\n  name: t\nspec:\n  id: other\n  realmId: r\n  spaceId: s\n", 5, "spec.id",
            "must equal metadata.name (\"t\")");
  fail_with("kind: Cell\nmetadata:\n  name: c\nspec:\n  realmId: r\n  spaceId: s\n  stackId: t\n  id: d\n"
            "  containers: [{id: a, image: x}]\n",
            8, "spec.id", "must equal metadata.name (\"c\")");
  fail_with("kind: Container\nmetadata:\n  name: a\nspec:\n  id: b\n  realmId: r\n  spaceId: s\n  stackId: t\n"
            "  cellId: c\n  image: x\n",
            5, "spec.id", "must equal metadata.name (\"a\")");
  /* Empty ids are filled from the name. */
  cleanup_doc struct kk_doc *t = check_ok("kind: Stack\nmetadata: {name: t}\nspec: {realmId: r, spaceId: s}\n");
  ck_assert_str_eq(t->u.stack.spec.id, "t");
  cleanup_doc struct kk_doc *k = check_ok(
      "kind: Container\nmetadata: {name: a}\nspec: {realmId: r, spaceId: s, stackId: t, cellId: c, image: x}\n");
  ck_assert_str_eq(k->u.container.spec.id, "a");
  ck_assert_str_eq(k->u.container.spec.containerd_id, "s_t_c_a");
}
END_TEST

/* --------------------------------------------------------- container rules */

/* A cell whose first container starts at line 9 ("- id: web"), image at 10;
 * `extra` starts at line 11. */
#define CELL_HEAD                                                                                  \
  "kind: Cell\n"                                                                                   \
  "metadata:\n"                                                                                    \
  "  name: c\n"                                                                                    \
  "spec:\n"                                                                                        \
  "  realmId: r\n"                                                                                 \
  "  spaceId: s\n"                                                                                 \
  "  stackId: t\n"                                                                                 \
  "  containers:\n"                                                                                \
  "  - id: web\n"                                                                                  \
  "    image: nginx\n"

static void ctr_fail(const char *extra, int line, const char *field, const char *why) {
  cleanup_free char *y = cat(CELL_HEAD, extra);
  cleanup_free char *f = kk_asprintf("spec.containers[0].%s", field);
  fail_with(y, line, f, why);
}
static void ctr_ok(const char *extra) {
  cleanup_free char *y = cat(CELL_HEAD, extra);
  kk_doc_free(check_ok(y));
}

START_TEST(ctr_image_required) {
  fail_with("kind: Cell\nmetadata: {name: c}\nspec:\n  realmId: r\n  spaceId: s\n  stackId: t\n  containers:\n"
            "  - id: web\n    command: /x\n",
            8, "spec.containers[0].image", "image is required");
  fail_with("kind: Cell\nmetadata: {name: c}\nspec:\n  realmId: r\n  spaceId: s\n  stackId: t\n  containers:\n"
            "  - id: web\n    image: \"\"\n",
            8, "spec.containers[0].image", "image is required");
  /* Missing: reported at the first line of the spec mapping. */
  fail_with("kind: Container\nmetadata:\n  name: a\nspec:\n  realmId: r\n  spaceId: s\n  stackId: t\n  cellId: c\n",
            5, "spec.image", "image is required");
}
END_TEST

START_TEST(ctr_id_required) {
  fail_with("kind: Cell\nmetadata: {name: c}\nspec:\n  realmId: r\n  spaceId: s\n  stackId: t\n  containers:\n"
            "  - image: nginx\n",
            8, "spec.containers[0].id", "is required");
  fail_with("kind: Cell\nmetadata: {name: c}\nspec:\n  realmId: r\n  spaceId: s\n  stackId: t\n  containers:\n"
            "  - image: nginx\n    id: a_b\n",
            9, "spec.containers[0].id", "disallowed character");
}
END_TEST

START_TEST(ctr_command_empty) {
  ctr_fail("    command: \"\"\n", 11, "command", "must not be empty");
  ctr_ok("    command: /bin/sh\n");
}
END_TEST

START_TEST(ctr_env) {
  ctr_fail("    env: [\"A=1\", \"NOEQUALS\"]\n", 11, "env", "entry \"NOEQUALS\" must look like KEY=VALUE");
  ctr_fail("    env: [\"=x\"]\n", 11, "env", "KEY=VALUE");
  ctr_ok("    env: [\"A=\", \"B==\", \"C=a=b\"]\n");
}
END_TEST

START_TEST(ctr_ports) {
  static const char *const good[] = {"80", "8080:80", "127.0.0.1:8080:80", "53/udp", "8080:80/tcp",
                                     "127.0.0.1:5353:53/udp", "1:65535", "9000/sctp"};
  for (size_t i = 0; i < KK_ARRAY_SIZE(good); i++) {
    cleanup_free char *e = kk_asprintf("    ports: [\"%s\"]\n", good[i]);
    ctr_ok(e);
  }
  static const char *const bad[] = {"abc",       "0",       "65536",     "80/icmp",       "8080:80:70:60",
                                    "1.2.3:80:80", "a:80",  "80:b",      "-1",            "80/",
                                    "/tcp",      "",        "::1:80:80", "localhost:80:80", "80 ",
                                    "1.2.3.4:0:80"};
  for (size_t i = 0; i < KK_ARRAY_SIZE(bad); i++) {
    cleanup_free char *e = kk_asprintf("    ports: [\"80\", \"%s\"]\n", bad[i]);
    ctr_fail(e, 11, "ports", "must look like [hostIP:]hostPort:containerPort");
  }
}
END_TEST

/* Regression test (fixed): model/validate.c valid_port_spec() splits with strtok(":"), which
 * skips empty fields: "8080::80", ":80" and "80:" are accepted as if they
 * were "8080:80" / "80".  Expected: rejected like any malformed entry. */
START_TEST(ctr_ports_empty_fields) {
  ctr_fail("    ports: [\"8080::80\"]\n", 11, "ports", "must look like");
  ctr_fail("    ports: [\":80\"]\n", 11, "ports", "must look like");
  ctr_fail("    ports: [\"80:\"]\n", 11, "ports", "must look like");
}
END_TEST

START_TEST(ctr_volume_kind) {
  ctr_fail("    volumes:\n    - kind: volume\n      source: data\n      target: /data\n", 12, "volumes[0].kind",
           "unknown volume kind \"volume\" (supported: bind, tmpfs)");
  ctr_ok("    volumes:\n    - {kind: bind, source: /a, target: /b}\n    - {source: /a, target: /c, readOnly: true}\n"
         "    - {kind: tmpfs, target: /d, sizeBytes: 4096, mode: 1023}\n");
}
END_TEST

START_TEST(ctr_volume_target) {
  ctr_fail("    volumes:\n    - source: /a\n", 12, "volumes[0].target", "must be an absolute path");
  ctr_fail("    volumes:\n    - {source: /a, target: rel}\n", 12, "volumes[0].target", "must be an absolute path");
}
END_TEST

/* Regression test (fixed): model/validate.c check_container() reports volume target/source
 * errors at the line of the volume's first key (it passes `vol`, the
 * address of vol->kind, to verr), not at the offending field's line:
 * here "target: rel" is on line 14 but the error says line 12. */
START_TEST(ctr_volume_target_line) {
  ctr_fail("    volumes:\n    - kind: bind\n      source: /a\n      target: rel\n", 14, "volumes[0].target",
           "must be an absolute path");
}
END_TEST

START_TEST(ctr_volume_source) {
  ctr_fail("    volumes:\n    - {kind: tmpfs, source: /a, target: /b}\n", 12, "volumes[0].source",
           "must be empty for a tmpfs volume");
  ctr_fail("    volumes:\n    - {target: /b}\n", 12, "volumes[0].source", "a bind volume needs an absolute host path");
  ctr_fail("    volumes:\n    - {kind: bind, source: rel, target: /b}\n", 12, "volumes[0].source",
           "a bind volume needs an absolute host path");
}
END_TEST

/* Regression test (fixed): same as ctr_volume_target_line, for source (line 13, reported 12). */
START_TEST(ctr_volume_source_line) {
  ctr_fail("    volumes:\n    - kind: bind\n      source: rel\n      target: /b\n", 13, "volumes[0].source",
           "absolute host path");
}
END_TEST

START_TEST(ctr_volume_size) {
  ctr_fail("    volumes:\n    - source: /a\n      target: /b\n      sizeBytes: 10\n", 14, "volumes[0].sizeBytes",
           "only a tmpfs volume takes a non-negative size");
  ctr_fail("    volumes:\n    - kind: tmpfs\n      target: /b\n      sizeBytes: -1\n", 14, "volumes[0].sizeBytes",
           "non-negative");
}
END_TEST

START_TEST(ctr_volume_mode) {
  ctr_fail("    volumes:\n    - source: /a\n      target: /b\n      mode: 420\n", 14, "volumes[0].mode",
           "only a tmpfs volume takes a mode (0 to 07777)");
  ctr_fail("    volumes:\n    - kind: tmpfs\n      target: /b\n      mode: 4096\n", 14, "volumes[0].mode", "07777");
  ctr_fail("    volumes:\n    - kind: tmpfs\n      target: /b\n      mode: -1\n", 14, "volumes[0].mode", "07777");
  ctr_ok("    volumes:\n    - kind: tmpfs\n      target: /b\n      mode: 4095\n");
}
END_TEST

START_TEST(ctr_tmpfs) {
  ctr_fail("    tmpfs:\n    - path: tmp\n", 12, "tmpfs[0].path", "must be an absolute path");
  ctr_fail("    tmpfs:\n    - {path: /tmp}\n    - {sizeBytes: 1}\n", 13, "tmpfs[1].path", "must be an absolute path");
  ctr_fail("    tmpfs:\n    - path: /tmp\n      sizeBytes: -5\n", 13, "tmpfs[0].sizeBytes", "must not be negative");
  ctr_ok("    tmpfs:\n    - {path: /tmp, sizeBytes: 0, options: [noexec]}\n");
}
END_TEST

START_TEST(ctr_devices) {
  ctr_fail("    devices: [/dev/fuse, dev/null]\n", 11, "devices", "\"dev/null\" must be an absolute device path");
  ctr_ok("    devices: [/dev/fuse]\n");
}
END_TEST

START_TEST(ctr_capabilities) {
  ctr_fail("    capabilities:\n      add: [CAP_NET_ADMIN, CAP_FLY]\n", 12, "capabilities.add",
           "unknown capability \"CAP_FLY\"");
  ctr_fail("    capabilities:\n      drop: [bogus]\n", 12, "capabilities.drop", "unknown capability \"CAP_BOGUS\"");
  ctr_fail("    capabilities:\n      add: [ALL]\n", 12, "capabilities.add", "ALL is only allowed in capabilities.drop");
  ctr_fail("    capabilities:\n      add: [cap_all]\n", 12, "capabilities.add", "ALL is only allowed");
  cleanup_free char *y = cat(CELL_HEAD, "    capabilities:\n      drop: [all, Chown]\n      add: [net_admin, "
                                        "CAP_SYS_PTRACE]\n");
  cleanup_doc struct kk_doc *d = check_ok(y);
  strv_is(&d->u.cell.spec.containers[0].capabilities.drop, 2, "CAP_ALL", "CAP_CHOWN");
  strv_is(&d->u.cell.spec.containers[0].capabilities.add, 2, "CAP_NET_ADMIN", "CAP_SYS_PTRACE");
}
END_TEST

START_TEST(ctr_security_opts) {
  ctr_fail("    securityOpts: [\"apparmor=unconfined\"]\n", 11, "securityOpts",
           "unsupported option \"apparmor=unconfined\"");
  ctr_fail("    securityOpts: [\"seccomp=relative.json\"]\n", 11, "securityOpts", "unsupported option");
  ctr_fail("    securityOpts: [\"no-new-privileges=maybe\"]\n", 11, "securityOpts", "unsupported option");
  ctr_ok("    securityOpts: [no-new-privileges, \"no-new-privileges=false\", \"seccomp=unconfined\", "
         "\"seccomp=/etc/p.json\"]\n");
}
END_TEST

START_TEST(ctr_resources) {
  ctr_fail("    resources:\n      memoryLimitBytes: -1\n", 12, "resources.memoryLimitBytes", "must not be negative");
  ctr_fail("    resources:\n      cpuShares: 1\n", 12, "resources.cpuShares", "must be between 2 and 262144");
  ctr_fail("    resources:\n      cpuShares: 262145\n", 12, "resources.cpuShares", "between 2 and 262144");
  ctr_fail("    resources:\n      pidsLimit: 0\n", 12, "resources.pidsLimit", "must be at least 1");
  ctr_ok("    resources: {memoryLimitBytes: 0, cpuShares: 2, pidsLimit: 1}\n");
  ctr_ok("    resources: {cpuShares: 262144}\n");
}
END_TEST

START_TEST(ctr_user) {
  ctr_fail("    user: \"\"\n", 11, "user", "must not be empty when set");
  ctr_ok("    user: \"1000:1000\"\n");
}
END_TEST

START_TEST(ctr_working_dir) {
  ctr_fail("    workingDir: work\n", 11, "workingDir", "must be an absolute path");
  ctr_fail("    workingDir: \"\"\n", 11, "workingDir", "must be an absolute path");
  ctr_ok("    workingDir: /srv\n");
}
END_TEST

START_TEST(ctr_restart_policy) {
  ctr_fail("    restartPolicy: sometimes\n", 11, "restartPolicy",
           "unknown restart policy \"sometimes\" (supported: always, on-failure, never)");
  ctr_fail("    restartPolicy: Always\n", 11, "restartPolicy", "unknown restart policy");
  ctr_ok("    restartPolicy: always\n");
  ctr_ok("    restartPolicy: never\n");
  ctr_ok("    restartPolicy: \"\"\n");
}
END_TEST

START_TEST(ctr_restart_backoff) {
  ctr_fail("    restartBackoffSeconds: 5\n", 11, "restartBackoffSeconds",
           "only valid with restartPolicy always or on-failure");
  ctr_fail("    restartPolicy: never\n    restartBackoffSeconds: 5\n", 12, "restartBackoffSeconds",
           "only valid with restartPolicy always or on-failure");
  ctr_fail("    restartPolicy: always\n    restartBackoffSeconds: -1\n", 12, "restartBackoffSeconds",
           "must not be negative");
  ctr_ok("    restartPolicy: always\n    restartBackoffSeconds: 0\n");
  ctr_ok("    restartPolicy: on-failure\n    restartBackoffSeconds: 30\n");
}
END_TEST

START_TEST(ctr_restart_retries) {
  ctr_fail("    restartPolicy: always\n    restartMaxRetries: 3\n", 12, "restartMaxRetries",
           "only valid with restartPolicy on-failure");
  ctr_fail("    restartMaxRetries: 3\n", 11, "restartMaxRetries", "only valid with restartPolicy on-failure");
  ctr_fail("    restartPolicy: on-failure\n    restartMaxRetries: 0\n", 12, "restartMaxRetries", "must be at least 1");
  ctr_ok("    restartPolicy: on-failure\n    restartMaxRetries: 1\n");
}
END_TEST

/* Container parent ids inside a cell must agree with the cell's. */
START_TEST(ctr_parent_mismatch) {
  ctr_fail("    realmId: other\n", 11, "realmId", "\"other\" does not match the cell's (\"r\")");
  ctr_fail("    cellId: d\n", 11, "cellId", "does not match");
  ctr_ok("    realmId: r\n    spaceId: s\n    stackId: t\n    cellId: c\n");
}
END_TEST

/* -------------------------------------------------------------- cell rules */

START_TEST(cell_needs_containers) {
  cleanup_free char *m = check_fail("kind: Cell\nmetadata: {name: c}\nspec:\n  realmId: r\n  spaceId: s\n"
                                    "  stackId: t\n");
  ck_assert_msg(strstr(m, ": spec.containers: a cell needs at least one container"), "%s", m);
}
END_TEST

START_TEST(cell_two_roots) {
  fail_with(CELL_HEAD "    root: true\n  - id: b\n    image: x\n    root: true\n", 9, "spec.containers",
            "only one container in a cell may have root: true: [web b]");
}
END_TEST

START_TEST(cell_root_not_found) {
  fail_with("kind: Cell\nmetadata: {name: c}\nspec:\n  realmId: r\n  spaceId: s\n  stackId: t\n"
            "  rootContainerId: main\n  containers: [{id: a, image: x}]\n",
            7, "spec.rootContainerId", "rootContainerId \"main\" not found in containers array");
}
END_TEST

/* Regression test (fixed): model/validate.c kk_doc_normalize() sets root: true on the
 * rootContainerId container before kk_doc_validate() runs, so the
 * "rootContainerId disagrees" rule (spec §2.8 rule 2) can never fire on a
 * normalized document: here the user marked only b as root and named a in
 * rootContainerId, and gets "spec.containers: only one container
 * in a cell may have root: true: [a b]" (line 10) instead. */
START_TEST(cell_root_disagrees) {
  static const char y[] = "kind: Cell\nmetadata: {name: c}\nspec:\n  id: c\n  realmId: r\n  spaceId: s\n"
                          "  stackId: t\n  rootContainerId: a\n  containers:\n  - {id: a, image: x}\n  - {id: b, image: x, root: true}\n";
  /* Validation alone has the rule. */
  cleanup_doc struct kk_doc *d = parse1(y);
  kk_err_t err = NULL;
  ck_assert_int_eq(kk_doc_validate(d, &err), -1);
  expect_msg(err->msg, 8, "spec.rootContainerId", "rootContainerId disagrees with container marked root: true: b");
  kk_error_free(&err);
  /* Regression test (fixed): after normalize it reports two roots. */
  fail_with(y, 8, "spec.rootContainerId", "rootContainerId disagrees with container marked root: true: b");
}
END_TEST

START_TEST(cell_lone_root_fills_id) {
  cleanup_doc struct kk_doc *d = check_ok(CELL_HEAD "  - id: main\n    image: x\n    root: true\n");
  struct kk_cell *c = &d->u.cell;
  ck_assert_str_eq(c->spec.root_container_id, "main");
  ck_assert_ptr_eq(kk_cell_root(c), &c->spec.containers[1]);
  ck_assert_str_eq(c->spec.containers[1].containerd_id, "s_t_c_root");
  ck_assert_str_eq(c->spec.containers[0].containerd_id, "s_t_c_web");
  /* rootContainerId alone marks the container root. */
  cleanup_doc struct kk_doc *e = check_ok("kind: Cell\nmetadata: {name: c}\nspec:\n  realmId: r\n  spaceId: s\n"
                                          "  stackId: t\n  rootContainerId: b\n  containers:\n"
                                          "  - {id: a, image: x}\n  - {id: b, image: x}\n");
  ck_assert(e->u.cell.spec.containers[1].root);
  ck_assert(!e->u.cell.spec.containers[0].root);
  ck_assert_str_eq(e->u.cell.spec.containers[1].containerd_id, "s_t_c_root");
  /* Neither: no root yet (the controller synthesizes one). */
  cleanup_doc struct kk_doc *f = check_ok(CELL_HEAD);
  ck_assert_ptr_null(f->u.cell.spec.root_container_id);
  ck_assert_ptr_null(kk_cell_root(&f->u.cell));
}
END_TEST

START_TEST(cell_root_id_reserved) {
  fail_with(CELL_HEAD "  - id: root\n    image: x\n", 11, "spec.containers[1]",
            "container id \"root\" is reserved for the cell's root container");
  /* Fine when it is the root. */
  kk_doc_free(check_ok(CELL_HEAD "  - id: root\n    image: x\n    root: true\n"));
}
END_TEST

START_TEST(cell_duplicate_ids) {
  fail_with(CELL_HEAD "  - id: side\n    image: x\n  - id: web\n    image: y\n", 13, "spec.containers[2]",
            "duplicate container id \"web\"");
}
END_TEST

START_TEST(cell_tty_default) {
  fail_with(CELL_HEAD "  tty:\n    default: nope\n", 12, "spec.tty.default", "names no container of this cell");
  kk_doc_free(check_ok(CELL_HEAD "    attachable: true\n  tty: {default: web}\n"));
}
END_TEST

/* Spec §2.8: tty.default "must name an existing `attachable: true`
 * container".  model/validate.c validate_cell() only checks that the
 * container exists. */
START_TEST(cell_tty_default_attachable) {
  fail_with(CELL_HEAD "  tty:\n    default: web\n", 12, "spec.tty.default", "attachable");
}
END_TEST

/* ------------------------------------------------------------ space rules */

#define SPACE_HEAD                                                                                 \
  "kind: Space\n"                                                                                  \
  "metadata:\n"                                                                                    \
  "  name: s\n"                                                                                    \
  "spec:\n"                                                                                        \
  "  realmId: r\n"                                                                                 \
  "  network:\n"                                                                                   \
  "    egress:\n"

START_TEST(space_egress_default) {
  fail_with(SPACE_HEAD "      default: maybe\n", 8, "spec.network.egress.default",
            "egress default must be 'allow' or 'deny', not \"maybe\"");
  fail_with(SPACE_HEAD "      allow:\n      - host: example.com\n", 8, "spec.network.egress.default",
            "egress default must be 'allow' or 'deny'");
  kk_doc_free(check_ok(SPACE_HEAD "      default: allow\n"));
  kk_doc_free(check_ok(SPACE_HEAD "      default: deny\n"));
}
END_TEST

START_TEST(space_egress_host_xor_cidr) {
  fail_with(SPACE_HEAD "      default: deny\n      allow:\n      - host: a.example\n        cidr: 10.0.0.0/8\n", 10,
            "spec.network.egress.allow[0]", "egress allow rule must not set both host and cidr");
  fail_with(SPACE_HEAD "      default: deny\n      allow:\n      - {host: a.example}\n      - ports: [80]\n", 11,
            "spec.network.egress.allow[1]", "egress allow rule requires exactly one of host or cidr");
}
END_TEST

START_TEST(space_egress_bad_cidr) {
  static const char *const bad[] = {"10.0.0.0/33", "10.0.0/8", "10.0.0.0", "abc/8", "10.0.0.0/8x", "10.0.0.0/-1",
                                    "::/0",        "256.0.0.0/8", "10.0.0.0/8/8"};
  for (size_t i = 0; i < KK_ARRAY_SIZE(bad); i++) {
    cleanup_free char *y = kk_asprintf(SPACE_HEAD "      default: deny\n      allow:\n      - cidr: \"%s\"\n", bad[i]);
    cleanup_free char *why = kk_asprintf("egress allow rule cidr is not a valid CIDR (a.b.c.d/0-32): \"%s\"", bad[i]);
    fail_with(y, 10, "spec.network.egress.allow[0]", why);
  }
  kk_doc_free(check_ok(SPACE_HEAD "      default: deny\n      allow:\n      - cidr: 0.0.0.0/0\n"
                                  "      - cidr: 192.168.1.7/32\n"));
}
END_TEST

/* Regression test (fixed): model/validate.c validate_space() parses the prefix length with
 * strtol(slash + 1) and only checks *end: "10.0.0.0/" (empty prefix) is
 * accepted as /0 — an allow rule for the whole internet — and " 8"/"+8"
 * are accepted too.  Expected: "is not an IPv4 CIDR". */
START_TEST(space_egress_empty_prefix) {
  static const char *const bad[] = {"10.0.0.0/", "10.0.0.0/ 8", "10.0.0.0/+8"};
  for (size_t i = 0; i < KK_ARRAY_SIZE(bad); i++) {
    cleanup_free char *y = kk_asprintf(SPACE_HEAD "      default: deny\n      allow:\n      - cidr: \"%s\"\n", bad[i]);
    fail_with(y, 10, "spec.network.egress.allow[0]", "cidr is not a valid CIDR");
  }
}
END_TEST

START_TEST(space_egress_ports) {
  fail_with(SPACE_HEAD "      default: deny\n      allow:\n      - host: a.example\n        ports: [443, 0]\n", 11,
            "spec.network.egress.allow[0]", "egress allow rule port must be within [1, 65535], not 0");
  fail_with(SPACE_HEAD "      default: deny\n      allow:\n      - host: a.example\n        ports: [65536]\n", 11,
            "spec.network.egress.allow[0]", "port must be within [1, 65535], not 65536");
  kk_doc_free(check_ok(SPACE_HEAD "      default: deny\n      allow:\n      - {host: a.example, ports: [1, 65535]}\n"));
}
END_TEST

/* Host names go into iptables comments and getaddrinfo: a dns name only
 * (spec 7.5); the branch point accepted anything. */
START_TEST(space_egress_bad_host) {
  static const char *const bad[] = {"a_b.example", "-a.example", "a..example", "a.example/8", "a b", "x\\\"y"};
  for (size_t i = 0; i < KK_ARRAY_SIZE(bad); i++) {
    cleanup_free char *y = kk_asprintf(SPACE_HEAD "      default: deny\n      allow:\n      - host: \"%s\"\n", bad[i]);
    fail_with(y, 10, "spec.network.egress.allow[0]", "egress allow rule host is not a valid dns name");
  }
  kk_doc_free(check_ok(SPACE_HEAD "      default: deny\n      allow:\n      - host: api.example.com\n"
                                  "      - host: 192.0.2.7\n"));
}
END_TEST

START_TEST(space_defaults) {
  fail_with("kind: Space\nmetadata: {name: s}\nspec:\n  realmId: r\n  defaults:\n    container:\n"
            "      capabilities: {add: [ALL]}\n",
            7, "spec.defaults.container.capabilities.add", "ALL is only allowed");
  fail_with("kind: Space\nmetadata: {name: s}\nspec:\n  realmId: r\n  defaults:\n    container:\n"
            "      capabilities: {drop: [NOPE]}\n",
            7, "spec.defaults.container.capabilities.drop", "unknown capability \"CAP_NOPE\"");
  fail_with("kind: Space\nmetadata: {name: s}\nspec:\n  realmId: r\n  defaults:\n    container:\n"
            "      securityOpts: [label=disable]\n",
            7, "spec.defaults.container.securityOpts", "unsupported option");
  fail_with("kind: Space\nmetadata: {name: s}\nspec:\n  realmId: r\n  defaults:\n    container:\n"
            "      tmpfs: [{path: tmp}]\n",
            7, "spec.defaults.container.tmpfs[0].path", "must be an absolute path");
  fail_with("kind: Space\nmetadata: {name: s}\nspec:\n  realmId: r\n  defaults:\n    container:\n"
            "      resources:\n        pidsLimit: -1\n",
            8, "spec.defaults.container.resources.pidsLimit", "must be at least 1");
}
END_TEST

/* ------------------------------------------------ level resources (cgroup) */

static void level_res_fail(const char *kind_head, const char *res_line, int line, const char *field,
                           const char *why) {
  cleanup_free char *y = kk_asprintf("%s  resources:\n    %s\n", kind_head, res_line);
  fail_with(y, line, field, why);
}

#define REALM_RES_HEAD "kind: Realm\nmetadata: {name: r}\nspec:\n"
#define STACK_RES_HEAD "kind: Stack\nmetadata: {name: t}\nspec:\n  realmId: r\n  spaceId: s\n"

START_TEST(res_cpu_weight) {
  level_res_fail(REALM_RES_HEAD, "cpuWeight: 0", 5, "spec.resources.cpuWeight", "must be between 1 and 10000");
  level_res_fail(STACK_RES_HEAD, "cpuWeight: 10001", 7, "spec.resources.cpuWeight", "between 1 and 10000");
}
END_TEST

START_TEST(res_io_weight) {
  level_res_fail(REALM_RES_HEAD, "ioWeight: 0", 5, "spec.resources.ioWeight", "must be between 1 and 10000");
  level_res_fail(STACK_RES_HEAD, "ioWeight: 10001", 7, "spec.resources.ioWeight", "between 1 and 10000");
}
END_TEST

START_TEST(res_memory) {
  level_res_fail(REALM_RES_HEAD, "memoryMaxBytes: 4095", 5, "spec.resources.memoryMaxBytes", "must be at least 4096");
  level_res_fail(REALM_RES_HEAD, "memoryHighBytes: -1", 5, "spec.resources.memoryHighBytes", "at least 4096");
}
END_TEST

START_TEST(res_cpu_max) {
  level_res_fail(REALM_RES_HEAD, "cpuMaxQuotaMicros: 999", 5, "spec.resources.cpuMaxQuotaMicros",
                 "must be at least 1000");
  level_res_fail(REALM_RES_HEAD, "cpuMaxPeriodMicros: 999", 5, "spec.resources.cpuMaxPeriodMicros",
                 "between 1000 and 1000000");
  level_res_fail(REALM_RES_HEAD, "cpuMaxPeriodMicros: 1000001", 5, "spec.resources.cpuMaxPeriodMicros",
                 "between 1000 and 1000000");
}
END_TEST

START_TEST(res_period_without_quota) {
  level_res_fail(STACK_RES_HEAD, "cpuMaxPeriodMicros: 100000", 7, "spec.resources.cpuMaxPeriodMicros",
                 "needs cpuMaxQuotaMicros");
  kk_doc_free(check_ok(STACK_RES_HEAD "  resources: {cpuMaxQuotaMicros: 5000, cpuMaxPeriodMicros: 100000}\n"));
  kk_doc_free(check_ok(STACK_RES_HEAD "  resources: {cpuMaxQuotaMicros: 5000}\n"));
}
END_TEST

START_TEST(res_pids) {
  level_res_fail(REALM_RES_HEAD, "pidsMax: 0", 5, "spec.resources.pidsMax", "must be at least 1");
}
END_TEST

/* Every level runs the same checks. */
START_TEST(res_every_level) {
  fail_with("kind: Space\nmetadata: {name: s}\nspec:\n  realmId: r\n  resources:\n    cpuWeight: 0\n", 6,
            "spec.resources.cpuWeight", "between 1 and 10000");
  fail_with(CELL_HEAD "  resources:\n    ioWeight: 20000\n", 12, "spec.resources.ioWeight", "between 1 and 10000");
  kk_doc_free(check_ok(CELL_HEAD "  resources: {memoryMaxBytes: 4096, memoryHighBytes: 4096, cpuWeight: 1, "
                                 "ioWeight: 10000, pidsMax: 1, cpuMaxQuotaMicros: 1000, cpuMaxPeriodMicros: 1000000}\n"));
}
END_TEST

/* ----------------------------------------------------------------- naming */

START_TEST(naming_namespace) {
  cleanup_free char *a = kk_namespace_name("default", NULL);
  ck_assert_str_eq(a, "default.kukeon.io");
  cleanup_free char *b = kk_namespace_name("kuke-system", KK_DEFAULT_NS_SUFFIX);
  ck_assert_str_eq(b, "kuke-system.kukeon.io");
  cleanup_free char *c = kk_namespace_name("r", "example.org");
  ck_assert_str_eq(c, "r.example.org");
  cleanup_free char *n = kk_network_name("default", "default");
  ck_assert_str_eq(n, "default-default");
}
END_TEST

START_TEST(naming_bridge) {
  cleanup_free char *a = kk_bridge_name("default", "default");
  ck_assert_str_eq(a, "k-703e8b3a");
  cleanup_free char *b = kk_bridge_name("kuke-system", "kukeon");
  ck_assert_str_eq(b, "k-082023b5");
  cleanup_free char *c = kk_bridge_name("a", "b");
  ck_assert_uint_eq(strlen(c), 10); /* always fits IFNAMSIZ */
  cleanup_free char *d = kk_bridge_name("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "b");
  ck_assert_uint_eq(strlen(d), 10);
}
END_TEST

START_TEST(naming_container_ids) {
  cleanup_free char *a = kk_container_runtime_id("default", "default", "hello-world", "web", false);
  ck_assert_str_eq(a, "default_default_hello-world_web");
  cleanup_free char *b = kk_container_runtime_id("default", "default", "hello-world", "web", true);
  ck_assert_str_eq(b, "default_default_hello-world_root");
  cleanup_free char *c = kk_container_runtime_id("kukeon", "kukeon", "kukeond", "kukeond", false);
  ck_assert_str_eq(c, "kukeon_kukeon_kukeond_kukeond");
}
END_TEST

START_TEST(naming_cgroup_path) {
  struct {
    const char *root, *realm, *space, *stack, *cell, *want;
  } cases[] = {
      {NULL, "default", NULL, NULL, NULL, "/kukeon/default"},
      {"", "r", "s", NULL, NULL, "/kukeon/r/s"},
      {"/kukeon", "default", "default", "default", "hello-world", "/kukeon/default/default/default/hello-world"},
      {"/kukeon/", "r", "s", "t", "c", "/kukeon/r/s/t/c"},
      {"/kk//", "r", NULL, NULL, NULL, "/kk/r"},
      {"/a/b", "r", "s", "t", NULL, "/a/b/r/s/t"},
      {"/", "r", NULL, NULL, NULL, "/r"},
      {"/x", NULL, NULL, NULL, NULL, "/x"},
      {"/x/", NULL, NULL, NULL, NULL, "/x"},
  };
  for (size_t i = 0; i < KK_ARRAY_SIZE(cases); i++) {
    cleanup_free char *p = kk_cgroup_path(cases[i].root, cases[i].realm, cases[i].space, cases[i].stack, cases[i].cell);
    ck_assert_msg(strcmp(p, cases[i].want) == 0, "case %zu: got %s, want %s", i, p, cases[i].want);
  }
  /* What runc's cgroupsPath names and what a stop removes must agree. */
  cleanup_free char *abs = kk_container_cgroup("/kukeon/default/default/default/web", "default_default_web_root");
  ck_assert_str_eq(abs, "/kukeon/default/default/default/web/default_default_web_root");
  cleanup_free char *rel = kk_container_cgroup("default/default/default/web", "default_default_web_app");
  ck_assert_str_eq(rel, "default/default/default/web/default_default_web_app");
}
END_TEST

START_TEST(naming_pause_root) {
  cleanup_doc struct kk_doc *d = check_ok(CELL_HEAD "    hostNetwork: true\n  - id: side\n    image: x\n");
  struct kk_cell *c = &d->u.cell;
  ck_assert_ptr_null(kk_cell_root(c));
  kk_cell_add_pause_root(c);
  ck_assert_uint_eq(c->spec.n_containers, 3);
  struct kk_container_spec *r = kk_cell_root(c);
  ck_assert_ptr_eq(r, &c->spec.containers[2]);
  ck_assert_str_eq(c->spec.root_container_id, KK_ROOT_CONTAINER_ID);
  ck_assert_str_eq(r->id, "root");
  ck_assert(r->root);
  ck_assert_str_eq(r->image, KK_PAUSE_IMAGE);
  ck_assert_ptr_nonnull(r->command);
  ck_assert(r->host_network); /* a hostNetwork container makes the root hostNetwork */
  ck_assert_str_eq(r->realm_id, "r");
  ck_assert_str_eq(r->space_id, "s");
  ck_assert_str_eq(r->stack_id, "t");
  ck_assert_str_eq(r->cell_id, "c");
  ck_assert_str_eq(r->containerd_id, "s_t_c_root");
  /* The result is valid, normalizes to itself and round trips. */
  kk_err_t err = NULL;
  ck_assert_int_eq(kk_doc_validate(d, &err), 0);
  cleanup_free char *before = kk_doc_to_yaml(d);
  ck_assert_int_eq(kk_doc_normalize(d, NULL, &err), 0);
  cleanup_free char *after = kk_doc_to_yaml(d);
  ck_assert_str_eq(before, after);
  free(round_trip(d));
  /* Without hostNetwork containers the root is not hostNetwork. */
  cleanup_doc struct kk_doc *e = check_ok(CELL_HEAD);
  kk_cell_add_pause_root(&e->u.cell);
  ck_assert(!kk_cell_root(&e->u.cell)->host_network);
}
END_TEST

START_TEST(cell_container_docs) {
  cleanup_doc struct kk_doc *d =
      check_ok(CELL_HEAD "  - id: side\n    image: x\nstatus:\n  containers:\n  - {name: side, state: Ready, pid: 7}\n");
  cleanup_doc struct kk_doc *w = kk_container_doc_from_cell(&d->u.cell, 0);
  cleanup_doc struct kk_doc *s = kk_container_doc_from_cell(&d->u.cell, 1);
  ck_assert_int_eq(w->kind, KK_KIND_CONTAINER);
  ck_assert_str_eq(kk_doc_name(w), "web");
  ck_assert_str_eq(w->u.container.spec.image, "nginx");
  ck_assert_str_eq(w->u.container.spec.cell_id, "c");
  ck_assert_ptr_null(w->u.container.status.name);
  ck_assert_str_eq(s->u.container.status.name, "side");
  ck_assert_int_eq(s->u.container.status.state, KK_CTR_READY);
  ck_assert_int_eq(s->u.container.status.pid, 7);
  kk_err_t err = NULL;
  ck_assert_int_eq(kk_doc_validate(w, &err), 0);
  free(round_trip(s));
  kk_cell_drop_containers(&d->u.cell);
  ck_assert_uint_eq(d->u.cell.spec.n_containers, 0);
  ck_assert_uint_eq(d->u.cell.status.n_containers, 0);
  ck_assert_ptr_null(d->u.cell.spec.containers);
  free(round_trip(d));
}
END_TEST

START_TEST(kinds_and_aliases) {
  static const struct {
    const char *s;
    enum kk_kind k;
  } ok[] = {{"Realm", KK_KIND_REALM},     {"realm", KK_KIND_REALM},         {"realms", KK_KIND_REALM},
            {"r", KK_KIND_REALM},         {"Space", KK_KIND_SPACE},         {"sp", KK_KIND_SPACE},
            {"stacks", KK_KIND_STACK},    {"st", KK_KIND_STACK},            {"Cell", KK_KIND_CELL},
            {"ce", KK_KIND_CELL},         {"cells", KK_KIND_CELL},          {"Container", KK_KIND_CONTAINER},
            {"co", KK_KIND_CONTAINER},    {"containers", KK_KIND_CONTAINER}};
  for (size_t i = 0; i < KK_ARRAY_SIZE(ok); i++) {
    enum kk_kind k = KK_KIND_COUNT;
    ck_assert_msg(kk_kind_parse(ok[i].s, &k) == 0, "%s", ok[i].s);
    ck_assert_int_eq(k, ok[i].k);
  }
  enum kk_kind k;
  ck_assert_int_eq(kk_kind_parse("pod", &k), -1);
  ck_assert_int_eq(kk_kind_parse("", &k), -1);
  ck_assert_str_eq(kk_kind_name(KK_KIND_CONTAINER), "Container");
  ck_assert_str_eq(kk_kind_lower(KK_KIND_SPACE), "space");
  ck_assert_str_eq(kk_kind_name(KK_KIND_COUNT), "?");
}
END_TEST

START_TEST(spec_equal_and_diff) {
  cleanup_doc struct kk_doc *a = check_ok(CELL_HEAD "  - id: side\n    image: x\n");
  cleanup_doc struct kk_doc *b = kk_doc_clone(a);
  ck_assert(kk_doc_spec_equal(a, b));
  /* Status does not count. */
  b->u.cell.status.base.state = KK_CELL_READY;
  b->u.cell.status.base.created_at = 5;
  ck_assert(kk_doc_spec_equal(a, b));
  /* Containers compare by id, not by position. */
  struct kk_container_spec tmp = b->u.cell.spec.containers[0];
  b->u.cell.spec.containers[0] = b->u.cell.spec.containers[1];
  b->u.cell.spec.containers[1] = tmp;
  ck_assert(kk_doc_spec_equal(a, b));
  free(b->u.cell.spec.containers[0].image);
  b->u.cell.spec.containers[0].image = kk_xstrdup("y");
  ck_assert(!kk_doc_spec_equal(a, b));
  kk_map_set(&b->u.cell.metadata.labels, "l", "v");
  struct kk_strv diff = {0};
  kk_doc_spec_diff(a, b, &diff);
  ck_assert_msg(kk_strv_contains(&diff, "spec.containers[side].image"), "diff: %s", diff.n ? diff.v[0] : "");
  ck_assert(kk_strv_contains(&diff, "metadata.labels"));
  kk_strv_free(&diff);
  /* Added / removed containers. */
  cleanup_doc struct kk_doc *c = check_ok(CELL_HEAD);
  kk_doc_spec_diff(a, c, &diff);
  ck_assert(kk_strv_contains(&diff, "spec.containers[side] removed"));
  kk_strv_free(&diff);
  kk_doc_spec_diff(c, a, &diff);
  ck_assert(kk_strv_contains(&diff, "spec.containers[side] added"));
  kk_strv_free(&diff);
  /* Different kinds. */
  cleanup_doc struct kk_doc *r = parse1("kind: Realm\nmetadata: {name: c}\n");
  ck_assert(!kk_doc_spec_equal(a, r));
  kk_doc_spec_diff(a, r, &diff);
  ck_assert(kk_strv_contains(&diff, "kind"));
  kk_strv_free(&diff);
  /* reset_status clears the status only. */
  kk_doc_reset_status(b);
  ck_assert_int_eq(b->u.cell.status.base.state, 0);
  ck_assert_int_eq(b->u.cell.status.base.created_at, 0);
  ck_assert_uint_eq(b->u.cell.spec.n_containers, 2);
  ck_assert_ptr_eq(kk_doc_status_base(b), &b->u.cell.status.base);
  cleanup_doc struct kk_doc *k = kk_container_doc_from_cell(&a->u.cell, 0);
  ck_assert_ptr_null(kk_doc_status_base(k));
}
END_TEST

/* BUG (minor; validated cells cannot have it): model/schema.c diff_field()
 * compares KK_FF_KEYED lists by matching each element with the FIRST
 * element of the other list that has the same id, so kk_doc_spec_equal(x,
 * clone(x)) is false for a cell listing two containers with one id
 * (found by fuzz_manifest). */
START_TEST(spec_equal_reflexive) {
  cleanup_doc struct kk_doc *a =
      parse1("kind: Cell\nmetadata: {name: c}\nspec:\n  containers: [{id: x, image: a}, {id: x, image: b}]\n");
  cleanup_doc struct kk_doc *b = kk_doc_clone(a);
  ck_assert(kk_doc_spec_equal(a, b));
}
END_TEST

/* --------------------------------------------------------- config files */

START_TEST(client_config) {
  static const char y[] = "apiVersion: v1beta1\n"
                          "kind: ClientConfiguration\n"
                          "metadata: {name: default, labels: {a: b}}\n"
                          "spec:\n"
                          "  host: unix:///run/kukeon/kukeond.sock\n"
                          "  runPath: /opt/kukeon\n"
                          "  containerdSocket: /run/containerd/containerd.sock\n"
                          "  logLevel: debug\n"
                          "  containerdNamespaceSuffix: example.org\n"
                          "  cgroupRoot: /kk\n"
                          "  podSubnetCIDR: 10.99.0.0/16\n";
  struct kk_client_config c;
  kk_err_t err = NULL;
  ck_assert_int_eq(kk_client_config_parse(y, strlen(y), "kuke.yaml", &c, &err), 0);
  ck_assert_str_eq(c.host, "unix:///run/kukeon/kukeond.sock");
  ck_assert_str_eq(c.run_path, "/opt/kukeon");
  ck_assert_str_eq(c.containerd_socket, "/run/containerd/containerd.sock");
  ck_assert_str_eq(c.log_level, "debug");
  ck_assert_str_eq(c.ns_suffix, "example.org");
  ck_assert_str_eq(c.cgroup_root, "/kk");
  ck_assert_str_eq(c.pod_subnet, "10.99.0.0/16");
  kk_client_config_free(&c);
  /* Absent fields stay NULL; an empty file is fine. */
  static const char part[] = "kind: ClientConfiguration\nspec:\n  logLevel: warn\n";
  ck_assert_int_eq(kk_client_config_parse(part, strlen(part), "kuke.yaml", &c, &err), 0);
  ck_assert_str_eq(c.log_level, "warn");
  ck_assert_ptr_null(c.host);
  ck_assert_ptr_null(c.run_path);
  kk_client_config_free(&c);
  ck_assert_int_eq(kk_client_config_parse("", 0, "kuke.yaml", &c, &err), 0);
  ck_assert_ptr_null(c.host);
  kk_client_config_free(&c);
  /* Errors name the file and line. */
  static const char unk[] = "kind: ClientConfiguration\nspec:\n  host: x\n  bogus: 1\n";
  ck_assert_int_eq(kk_client_config_parse(unk, strlen(unk), "kuke.yaml", &c, &err), -1);
  ck_assert_msg(strstr(err->msg, "kuke.yaml:4: spec.bogus: unknown field"), "%s", err->msg);
  kk_error_free(&err);
  static const char wrong[] = "kind: ServerConfiguration\nspec: {}\n";
  ck_assert_int_eq(kk_client_config_parse(wrong, strlen(wrong), "kuke.yaml", &c, &err), -1);
  ck_assert_msg(strstr(err->msg, "kuke.yaml:1: kind: expected ClientConfiguration"), "%s", err->msg);
  kk_error_free(&err);
  static const char ver[] = "apiVersion: v2\nkind: ClientConfiguration\n";
  ck_assert_int_eq(kk_client_config_parse(ver, strlen(ver), "kuke.yaml", &c, &err), -1);
  ck_assert_msg(strstr(err->msg, "unsupported apiVersion"), "%s", err->msg);
  kk_error_free(&err);
  static const char top[] = "kind: ClientConfiguration\nstatus: {}\n";
  ck_assert_int_eq(kk_client_config_parse(top, strlen(top), "kuke.yaml", &c, &err), -1);
  ck_assert_msg(strstr(err->msg, "kuke.yaml:2: status: unknown field"), "%s", err->msg);
  kk_error_free(&err);
  static const char bad[] = "kind: ClientConfiguration\nspec: [\n";
  ck_assert_int_eq(kk_client_config_parse(bad, strlen(bad), "kuke.yaml", &c, &err), -1);
  ck_assert_msg(strstr(err->msg, "kuke.yaml:") && strstr(err->msg, "invalid YAML"), "%s", err->msg);
  kk_error_free(&err);
  static const char type[] = "kind: ClientConfiguration\nspec:\n  host: [a]\n";
  ck_assert_int_eq(kk_client_config_parse(type, strlen(type), "kuke.yaml", &c, &err), -1);
  ck_assert_msg(strstr(err->msg, "kuke.yaml:3: spec.host: expected a string"), "%s", err->msg);
  kk_error_free(&err);
  static const char md[] = "kind: ClientConfiguration\nmetadata: {name: a, bogus: 1}\n";
  ck_assert_int_eq(kk_client_config_parse(md, strlen(md), "kuke.yaml", &c, &err), -1);
  ck_assert_msg(strstr(err->msg, "metadata.bogus: unknown field"), "%s", err->msg);
  kk_error_free(&err);
  static const char list[] = "- a\n";
  ck_assert_int_eq(kk_client_config_parse(list, strlen(list), "kuke.yaml", &c, &err), -1);
  kk_error_free(&err);
}
END_TEST

START_TEST(server_config) {
  static const char y[] = "apiVersion: v1beta1\n"
                          "kind: ServerConfiguration\n"
                          "metadata: {name: default, labels: {}}\n"
                          "spec:\n"
                          "  socket: /run/kukeon/kukeond.sock\n"
                          "  socketGID: 990\n"
                          "  runPath: /opt/kukeon\n"
                          "  containerdSocket: /run/containerd/containerd.sock\n"
                          "  logLevel: info\n"
                          "  kukettyLogLevel: info\n"
                          "  reconcileInterval: 30s\n"
                          "  kukeondImage: ghcr.io/eminwux/kukeon:latest\n"
                          "  containerdNamespaceSuffix: kukeon.io\n"
                          "  cgroupRoot: /kukeon\n"
                          "  podSubnetCIDR: 10.88.0.0/16\n"
                          "  defaultMemoryLimitBytes: 0\n";
  struct kk_server_config c;
  kk_err_t err = NULL;
  ck_assert_int_eq(kk_server_config_parse(y, strlen(y), "kukeond.yaml", &c, &err), 0);
  ck_assert_str_eq(c.socket, "/run/kukeon/kukeond.sock");
  opt_is(c.socket_gid, 990);
  ck_assert_str_eq(c.run_path, "/opt/kukeon");
  ck_assert_str_eq(c.containerd_socket, "/run/containerd/containerd.sock");
  ck_assert_str_eq(c.log_level, "info");
  ck_assert_str_eq(c.reconcile_interval, "30s");
  ck_assert_str_eq(c.kukeond_image, "ghcr.io/eminwux/kukeon:latest");
  ck_assert_str_eq(c.ns_suffix, "kukeon.io");
  ck_assert_str_eq(c.cgroup_root, "/kukeon");
  ck_assert_str_eq(c.pod_subnet, "10.88.0.0/16");
  opt_is(c.default_memory_limit_bytes, 0);
  kk_server_config_free(&c);
  /* Empty kind tolerated, other kinds rejected. */
  static const char nokind[] = "kind: \"\"\nspec: {socketGID: 5}\n";
  ck_assert_int_eq(kk_server_config_parse(nokind, strlen(nokind), "kukeond.yaml", &c, &err), 0);
  opt_is(c.socket_gid, 5);
  ck_assert(!c.default_memory_limit_bytes.set);
  kk_server_config_free(&c);
  static const char realm[] = "kind: Realm\n";
  ck_assert_int_eq(kk_server_config_parse(realm, strlen(realm), "kukeond.yaml", &c, &err), -1);
  ck_assert_msg(strstr(err->msg, "expected ServerConfiguration"), "%s", err->msg);
  kk_error_free(&err);
  /* Invalid suffix / cgroup root: "server configuration is invalid". */
  static const char *const bad[] = {"  containerdNamespaceSuffix: .kukeon.io\n", "  containerdNamespaceSuffix: a/b\n",
                                    "  containerdNamespaceSuffix: \"a b\"\n", "  cgroupRoot: kukeon\n",
                                    "  cgroupRoot: /\n",                       "  cgroupRoot: /a/../b\n"};
  for (size_t i = 0; i < KK_ARRAY_SIZE(bad); i++) {
    cleanup_free char *doc = kk_asprintf("kind: ServerConfiguration\nspec:\n  socket: /s\n%s", bad[i]);
    ck_assert_int_eq(kk_server_config_parse(doc, strlen(doc), "kukeond.yaml", &c, &err), -1);
    ck_assert_msg(strstr(err->msg, "server configuration is invalid") && strstr(err->msg, "kukeond.yaml"), "%s",
                  err->msg);
    kk_error_free(&err);
  }
  static const char typ[] = "kind: ServerConfiguration\nspec:\n  socket: /s\n  socketGID: abc\n";
  ck_assert_int_eq(kk_server_config_parse(typ, strlen(typ), "kukeond.yaml", &c, &err), -1);
  ck_assert_msg(strstr(err->msg, "kukeond.yaml:4: spec.socketGID: expected an integer"), "%s", err->msg);
  kk_error_free(&err);
}
END_TEST

/* Issue 19.8: a configuration file that is not there is the defaults;
 * one that is not a regular file, or does not parse, is an error. */
START_TEST(config_load) {
  char dir[] = "/tmp/kk-test-config-XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(dir));
  cleanup_free char *none = kk_asprintf("%s/none.yaml", dir), *good = kk_asprintf("%s/k.yaml", dir),
                    *link = kk_asprintf("%s/link.yaml", dir), *bad = kk_asprintf("%s/bad.yaml", dir);
  struct kk_server_config c;
  struct kk_client_config cc;
  bool found = true;
  kk_err_t err = NULL;
  ck_assert_int_eq(kk_server_config_load(none, &c, &found, &err), 0);
  ck_assert(!found && c.socket == NULL && !c.socket_gid.set);
  ck_assert_int_eq(kk_client_config_load(none, &cc, &found, &err), 0);
  ck_assert(!found && cc.host == NULL);
  FILE *f = fopen(good, "w");
  fputs("kind: ServerConfiguration\nspec: {socket: /s}\n", f);
  fclose(f);
  ck_assert_int_eq(symlink(good, link), 0);
  ck_assert_int_eq(kk_server_config_load(link, &c, &found, &err), 0);
  ck_assert(found);
  ck_assert_str_eq(c.socket, "/s");
  kk_server_config_free(&c);
  ck_assert_int_eq(kk_server_config_load(dir, &c, &found, &err), -1);
  ck_assert_msg(strstr(err->msg, "read server configuration") && strstr(err->msg, "not a regular file"), "%s",
                err->msg);
  kk_error_free(&err);
  f = fopen(bad, "w");
  fputs("kind: ClientConfiguration\nspec: {hots: x}\n", f);
  fclose(f);
  ck_assert_int_eq(kk_client_config_load(bad, &cc, &found, &err), -1);
  ck_assert_msg(strstr(err->msg, "spec.hots: unknown field"), "%s", err->msg);
  kk_error_free(&err);
  ck_assert_int_eq(kk_rm_rf_at(AT_FDCWD, dir, &err), 0);
}
END_TEST

/* Spec §5.2: "Invalid suffix/cgroupRoot/CIDR -> startup refuses ('server
 * configuration is invalid')"; podSubnetCIDR must be IPv4 with a prefix
 * shorter than /24.  model/config.c kk_server_config_parse() validates
 * the suffix and cgroupRoot but not podSubnetCIDR (nor does anything else:
 * daemon/main.c passes it through). */
START_TEST(server_config_pod_subnet) {
  static const char *const bad[] = {"garbage", "10.88.0.0/25", "10.88.0.0", "fd00::/64"};
  for (size_t i = 0; i < KK_ARRAY_SIZE(bad); i++) {
    struct kk_server_config c;
    kk_err_t err = NULL;
    cleanup_free char *doc = kk_asprintf("kind: ServerConfiguration\nspec:\n  podSubnetCIDR: \"%s\"\n", bad[i]);
    int r = kk_server_config_parse(doc, strlen(doc), "kukeond.yaml", &c, &err);
    if (r == 0)
      kk_server_config_free(&c);
    ck_assert_msg(r == -1, "podSubnetCIDR \"%s\" accepted", bad[i]);
    kk_error_free(&err);
  }
}
END_TEST

START_TEST(config_checks) {
  kk_err_t err = NULL;
  ck_assert_int_eq(kk_validate_ns_suffix("kukeon.io", &err), 0);
  ck_assert_int_eq(kk_validate_ns_suffix("x", &err), 0);
  static const char *const bad_sfx[] = {"", ".a", "a.", "a/b", "a b", "a\tb"};
  for (size_t i = 0; i < KK_ARRAY_SIZE(bad_sfx); i++) {
    ck_assert_msg(kk_validate_ns_suffix(bad_sfx[i], &err) == -1, "suffix \"%s\" accepted", bad_sfx[i]);
    ck_assert_ptr_nonnull(strstr(err->msg, "namespace suffix"));
    kk_error_free(&err);
  }
  ck_assert_int_eq(kk_validate_cgroup_root("/kukeon", &err), 0);
  ck_assert_int_eq(kk_validate_cgroup_root("/a/b", &err), 0);
  static const char *const bad_root[] = {"", "/", "kukeon", "/a/../b", "/a//b", "/.."};
  for (size_t i = 0; i < KK_ARRAY_SIZE(bad_root); i++) {
    ck_assert_msg(kk_validate_cgroup_root(bad_root[i], &err) == -1, "root \"%s\" accepted", bad_root[i]);
    ck_assert_ptr_nonnull(strstr(err->msg, "cgroup root"));
    kk_error_free(&err);
  }
}
END_TEST

/* ----------------------------------------------------------------- suite */

static Suite *model_suite(void) {
  Suite *s = suite_create("model");
  TCase *rt = tcase_create("roundtrip");
  tcase_add_test(rt, roundtrip_realm);
  tcase_add_test(rt, roundtrip_space);
  tcase_add_test(rt, roundtrip_stack);
  tcase_add_test(rt, roundtrip_cell);
  tcase_add_test(rt, roundtrip_container);
  tcase_add_test(rt, roundtrip_minimal);
  tcase_add_test(rt, roundtrip_tricky_strings);
  suite_add_tcase(s, rt);

  TCase *pr = tcase_create("parse");
  tcase_set_timeout(pr, 30);
  tcase_add_test(pr, multi_document_stream);
  tcase_add_test(pr, server_default_memory);
  tcase_add_test(pr, multi_document_error_line);
  tcase_add_test(pr, empty_documents_skipped);
  tcase_add_test(pr, api_version);
  tcase_add_test(pr, kinds_rejected);
  tcase_add_test(pr, parse_one);
  tcase_add_test(pr, legacy_state_ordinals);
  tcase_add_test(pr, times);
  tcase_add_test(pr, unknown_fields);
  tcase_add_test(pr, wrong_types);
  tcase_add_test(pr, integer_forms);
  tcase_add_test(pr, octal_mode);
  tcase_add_test(pr, duplicate_keys);
  tcase_add_test(pr, aliases_ok);
  tcase_add_test(pr, yaml_syntax);
  tcase_add_test(pr, bad_bytes);
  tcase_add_test(pr, nul_in_lists_and_maps);
  tcase_add_test(pr, null_empty_input);
  tcase_add_test(pr, list_documents_round_trip);
  tcase_add_test(pr, list_kind_list);
  tcase_add_test(pr, list_errors);
  tcase_add_test(pr, quantity_parse);
  tcase_add_test(pr, quantity_refused);
  tcase_add_test(pr, quantity_fields);
  suite_add_tcase(s, pr);

  /* Inputs that must fail fast: a short timeout makes a hang visible. */
  TCase *dos = tcase_create("dos");
  tcase_set_timeout(dos, 10);
  tcase_add_test(dos, alias_bomb_rejected);
  tcase_add_test(dos, alias_expansion_bounded);
  tcase_add_test(dos, alias_count_bounded);
  tcase_add_test(dos, alias_nested_bounded);
  tcase_add_test(dos, anchor_count_bounded);
  tcase_add_test(dos, anchored_manifest_ok);
  tcase_add_test(dos, config_alias_bounded);
  tcase_add_test(dos, doc_size_limit);
  tcase_add_test(dos, many_labels_fast);
  tcase_add_test(dos, deep_nesting_fast);
  tcase_add_test(dos, list_bounds);
  suite_add_tcase(s, dos);

  TCase *nm = tcase_create("names");
  tcase_add_test(nm, name_empty);
  tcase_add_test(nm, name_underscore);
  tcase_add_test(nm, name_slash);
  tcase_add_test(nm, name_bad_chars);
  tcase_add_test(nm, name_too_long);
  tcase_add_test(nm, name_reserved);
  tcase_add_test(nm, parent_ids);
  tcase_add_test(nm, derived_id_too_long);
  tcase_add_test(nm, derived_root_id_too_long);
  tcase_add_test(nm, realm_namespace);
  tcase_add_test(nm, realm_namespace_identifier);
  tcase_add_test(nm, realm_registry_credentials);
  tcase_add_test(nm, spec_id_must_equal_name);
  suite_add_tcase(s, nm);

  TCase *ct = tcase_create("container");
  tcase_add_test(ct, ctr_image_required);
  tcase_add_test(ct, ctr_id_required);
  tcase_add_test(ct, ctr_command_empty);
  tcase_add_test(ct, ctr_env);
  tcase_add_test(ct, ctr_ports);
  tcase_add_test(ct, ctr_ports_empty_fields);
  tcase_add_test(ct, ctr_volume_kind);
  tcase_add_test(ct, ctr_volume_target);
  tcase_add_test(ct, ctr_volume_target_line);
  tcase_add_test(ct, ctr_volume_source);
  tcase_add_test(ct, ctr_volume_source_line);
  tcase_add_test(ct, ctr_volume_size);
  tcase_add_test(ct, ctr_volume_mode);
  tcase_add_test(ct, ctr_tmpfs);
  tcase_add_test(ct, ctr_devices);
  tcase_add_test(ct, ctr_capabilities);
  tcase_add_test(ct, ctr_security_opts);
  tcase_add_test(ct, ctr_resources);
  tcase_add_test(ct, ctr_user);
  tcase_add_test(ct, ctr_working_dir);
  tcase_add_test(ct, ctr_restart_policy);
  tcase_add_test(ct, ctr_restart_backoff);
  tcase_add_test(ct, ctr_restart_retries);
  tcase_add_test(ct, ctr_parent_mismatch);
  suite_add_tcase(s, ct);

  TCase *cl = tcase_create("cell");
  tcase_add_test(cl, cell_needs_containers);
  tcase_add_test(cl, cell_two_roots);
  tcase_add_test(cl, cell_root_not_found);
  tcase_add_test(cl, cell_root_disagrees);
  tcase_add_test(cl, cell_lone_root_fills_id);
  tcase_add_test(cl, cell_root_id_reserved);
  tcase_add_test(cl, cell_duplicate_ids);
  tcase_add_test(cl, cell_tty_default);
  tcase_add_test(cl, cell_tty_default_attachable);
  suite_add_tcase(s, cl);

  TCase *sp = tcase_create("space");
  tcase_add_test(sp, space_egress_default);
  tcase_add_test(sp, space_egress_host_xor_cidr);
  tcase_add_test(sp, space_egress_bad_cidr);
  tcase_add_test(sp, space_egress_empty_prefix);
  tcase_add_test(sp, space_egress_ports);
  tcase_add_test(sp, space_egress_bad_host);
  tcase_add_test(sp, space_defaults);
  suite_add_tcase(s, sp);

  TCase *rs = tcase_create("resources");
  tcase_add_test(rs, res_cpu_weight);
  tcase_add_test(rs, res_io_weight);
  tcase_add_test(rs, res_memory);
  tcase_add_test(rs, res_cpu_max);
  tcase_add_test(rs, res_period_without_quota);
  tcase_add_test(rs, res_pids);
  tcase_add_test(rs, res_every_level);
  suite_add_tcase(s, rs);

  TCase *nmg = tcase_create("naming");
  tcase_add_test(nmg, naming_namespace);
  tcase_add_test(nmg, naming_bridge);
  tcase_add_test(nmg, naming_container_ids);
  tcase_add_test(nmg, naming_cgroup_path);
  tcase_add_test(nmg, naming_pause_root);
  tcase_add_test(nmg, cell_container_docs);
  tcase_add_test(nmg, kinds_and_aliases);
  tcase_add_test(nmg, spec_equal_and_diff);
  tcase_add_test(nmg, spec_equal_reflexive);
  suite_add_tcase(s, nmg);

  TCase *cf = tcase_create("config");
  tcase_add_test(cf, client_config);
  tcase_add_test(cf, server_config);
  tcase_add_test(cf, server_config_pod_subnet);
  tcase_add_test(cf, config_checks);
  tcase_add_test(cf, config_load);
  suite_add_tcase(s, cf);
  return s;
}

KK_UNIT_MAIN(model_suite)

/* model/kube*.c: cells as Kubernetes v1 Pods and back.  Export then import
 * gives the same cell (spec and metadata); a foreign Pod or Deployment
 * becomes a cell; what kukeon cannot honour is refused with the field. */
#include <string.h>

#include "lib/cleanup.h"
#include "model/model.h"
#include "tests/unit/unit.h"

static struct kk_doc *parse_norm(const char *yaml) {
  struct kk_doc *d = NULL;
  kk_err_t err = NULL;
  int r = kk_doc_parse_one(yaml, strlen(yaml), "t.yaml", KK_KIND_CELL, &d, &err);
  ck_assert_msg(r == 0, "parse failed: %s", err ? err->msg : "?");
  r = kk_doc_normalize(d, "kukeon.io", &err);
  ck_assert_msg(r == 0, "normalize failed: %s", err ? err->msg : "?");
  return d;
}

static char *parse_fail(const char *yaml) {
  struct kk_doc_list l = {0};
  kk_err_t err = NULL;
  ck_assert_int_lt(kk_docs_parse(yaml, strlen(yaml), "t.yaml", &l, &err), 0);
  ck_assert_uint_eq(l.n, 0);
  char *msg = kk_xstrdup(err->msg);
  kk_error_free(&err);
  return msg;
}

/* A cell that uses every field the export maps or annotates. */
static const char *full_cell =
    "apiVersion: v1beta1\n"
    "kind: Cell\n"
    "metadata:\n"
    "  name: web\n"
    "  labels: {tier: front}\n"
    "  annotations: {note: kept}\n"
    "spec:\n"
    "  realmId: r1\n"
    "  spaceId: s1\n"
    "  stackId: t1\n"
    "  autoDelete: true\n"
    "  tty: {default: main}\n"
    "  resources: {memoryMaxBytes: 268435456, pidsMax: 200}\n"
    "  containers:\n"
    "    - id: main\n"
    "      image: docker.io/library/busybox:latest\n"
    "      command: /bin/sh\n"
    "      args: [\"-c\", \"echo \\\"hi\\\"; sleep 9\"]\n"
    "      workingDir: /srv\n"
    "      env: [\"A=1\", \"B=x=y\", \"EMPTY=\"]\n"
    "      ports: [\"8080\", \"127.0.0.1:9090:90/udp\", \"8443:443\"]\n"
    "      volumes:\n"
    "        - {source: /etc/hosts, target: /h, readOnly: true}\n"
    "        - {kind: tmpfs, target: /scratch, sizeBytes: 1048576}\n"
    "      tmpfs: [{path: /run/x, sizeBytes: 65536}]\n"
    "      user: \"1000:1000\"\n"
    "      readOnlyRootFilesystem: true\n"
    "      capabilities: {drop: [ALL], add: [CAP_NET_BIND_SERVICE]}\n"
    "      securityOpts: [\"no-new-privileges=false\", \"seccomp=unconfined\"]\n"
    "      resources: {memoryLimitBytes: 67108864, cpuShares: 512, pidsLimit: 64}\n"
    "      restartPolicy: on-failure\n"
    "      restartBackoffSeconds: 5\n"
    "      restartMaxRetries: 3\n"
    "      devices: [/dev/null]\n"
    "      attachable: true\n"
    "    - id: side\n"
    "      image: docker.io/library/busybox:latest\n"
    "      command: /bin/sleep\n"
    "      args: [\"100\"]\n";

/* Exports the manifest's cell, imports it back, asserts nothing differs;
 * returns the YAML (caller frees). */
static char *round_trip(const char *manifest) {
  cleanup_doc struct kk_doc *orig = parse_norm(manifest);
  const struct kk_doc *one[] = {orig};
  char *yaml = kk_kube_export(one, 1);
  cleanup_doc struct kk_doc *back = parse_norm(yaml);
  cleanup_strv struct kk_strv diff = {0};
  kk_doc_spec_diff(orig, back, &diff);
  cleanup_free char *d = kk_strv_join(&diff, ", ");
  ck_assert_msg(diff.n == 0, "differs: %s\n%s", d, yaml);
  return yaml;
}

START_TEST(round_trip_keeps_the_cell) { free(round_trip(full_cell)); }
END_TEST

/* A cell whose root is a container of its own, on the host's namespaces. */
START_TEST(round_trip_keeps_a_host_cell) {
  cleanup_free char *yaml = round_trip("apiVersion: v1beta1\nkind: Cell\nmetadata: {name: agent}\nspec:\n"
                                       "  realmId: r1\n  spaceId: s1\n  stackId: t1\n  containers:\n"
                                       "    - {id: main, image: busybox, root: true, hostNetwork: true, "
                                       "hostPID: true, hostCgroup: true, privileged: true, user: nobody}\n"
                                       "    - {id: side, image: busybox, hostNetwork: true, hostPID: true, "
                                       "restartPolicy: always, networks: [a, b]}\n");
  ck_assert_ptr_nonnull(strstr(yaml, "  hostNetwork: true\n  hostPID: true\n"));
  ck_assert_ptr_nonnull(strstr(yaml, "      privileged: true\n"));
}
END_TEST

START_TEST(export_is_a_pod_with_notes) {
  cleanup_doc struct kk_doc *orig = parse_norm(full_cell);
  const struct kk_doc *one[] = {orig};
  cleanup_free char *y = kk_kube_export(one, 1);
  const char *want[] = {
      "apiVersion: v1\nkind: Pod\n", "# kukeon cell r1/s1/t1/web\n", "\"kukeon.io/realm\": \"r1\"",
      "\"kukeon.io/stack\": \"t1\"", "restartPolicy: OnFailure", "- containerPort: 90\n      hostPort: 9090\n      "
      "hostIP: \"127.0.0.1\"\n      protocol: UDP", "memory: \"67108864\"", "cpu: \"500m\"", "runAsUser: 1000",
      "runAsGroup: 1000", "readOnlyRootFilesystem: true", "- \"NET_BIND_SERVICE\"", "- \"ALL\"",
      "seccompProfile:\n        type: Unconfined", "allowPrivilegeEscalation: true", "hostPath:\n      path: \"/etc/hosts\"",
      "emptyDir:\n      medium: Memory\n      sizeLimit: \"1048576\"",
      "#   container main: resources.pidsLimit: 64 (annotation kukeon.io/main.resources.pidsLimit)",
      "#   container main: devices: [\"/dev/null\"]", "#   cell: resources.memoryMaxBytes: 268435456",
      "imagePullPolicy: IfNotPresent", "\"note\": \"kept\""};
  for (size_t i = 0; i < KK_ARRAY_SIZE(want); i++)
    ck_assert_msg(strstr(y, want[i]) != NULL, "missing %s in:\n%s", want[i], y);
}
END_TEST

START_TEST(names_kubernetes_refuses_are_noted) {
  cleanup_doc struct kk_doc *d = parse_norm("apiVersion: v1beta1\nkind: Cell\nmetadata: {name: Web.1}\nspec:\n"
                                            "  containers: [{id: Main, image: \"kukeon.internal/kukeond:v1\"}]\n");
  const struct kk_doc *one[] = {d};
  cleanup_free char *y = kk_kube_export(one, 1);
  ck_assert_ptr_nonnull(strstr(y, "#   cell name \"Web.1\" is not a DNS-1123 label"));
  ck_assert_ptr_nonnull(strstr(y, "#   container name \"Main\" is not a DNS-1123 label"));
  ck_assert_ptr_nonnull(strstr(y, "#   container Main: image kukeon.internal/kukeond:v1 is built by kukeon on its host"));
  cleanup_free char *msg = parse_fail("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n"
                                      "  - {name: a, image: b, resources: {requests: {cpu: nan}}}\n");
  ck_assert_str_eq(msg, "t.yaml:6: spec.containers[0].resources: requests.cpu: expected CPUs (\"0.5\") or "
                        "millicores (\"500m\")");
}
END_TEST

START_TEST(foreign_pod_becomes_a_cell) {
  cleanup_doc struct kk_doc *d = parse_norm("apiVersion: v1\n"
                                            "kind: Pod\n"
                                            "metadata: {name: nginx, namespace: prod, labels: {app: web}}\n"
                                            "spec:\n"
                                            "  dnsPolicy: ClusterFirst\n"
                                            "  securityContext: {runAsUser: 101}\n"
                                            "  containers:\n"
                                            "  - name: app\n"
                                            "    image: nginx:1.25\n"
                                            "    command: [/bin/sh, -c]\n"
                                            "    args: [exec nginx]\n"
                                            "    env: [{name: MODE, value: prod}]\n"
                                            "    ports: [{containerPort: 80, hostPort: 8080, protocol: TCP}]\n"
                                            "    resources: {limits: {memory: 64Mi, cpu: 500m}, requests: {cpu: '1'}}\n"
                                            "    securityContext: {capabilities: {add: [net_admin]}}\n");
  const struct kk_cell *c = &d->u.cell;
  ck_assert_int_eq(d->kind, KK_KIND_CELL);
  ck_assert_str_eq(c->metadata.name, "nginx");
  ck_assert_str_eq(c->spec.realm_id, "default");
  ck_assert_str_eq(c->spec.stack_id, "default");
  ck_assert_str_eq(kk_map_get(&c->metadata.labels, "app"), "web");
  ck_assert_uint_eq(c->spec.n_containers, 1);
  const struct kk_container_spec *ct = &c->spec.containers[0];
  ck_assert_str_eq(ct->command, "/bin/sh");
  ck_assert_uint_eq(ct->args.n, 2);
  ck_assert_str_eq(ct->args.v[0], "-c");
  ck_assert_str_eq(ct->env.v[0], "MODE=prod");
  ck_assert_str_eq(ct->ports.v[0], "8080:80/tcp");
  ck_assert_str_eq(ct->restart_policy, "always"); /* Kubernetes' default */
  ck_assert_str_eq(ct->user, "101");
  ck_assert_int_eq(ct->resources.memory_limit_bytes.v, 64 << 20);
  ck_assert_int_eq(ct->resources.cpu_shares.v, 1024);
  ck_assert_str_eq(ct->capabilities.add.v[0], "CAP_NET_ADMIN");
  ck_assert_int_eq(c->spec.resources.cpu_max_quota_us.v, 50000);
}
END_TEST

#define DEP(replicas)                                                                                             \
  "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api}\nspec:\n  replicas: " replicas "\n"          \
  "  selector: {matchLabels: {app: api}}\n  template:\n    metadata: {labels: {app: api, kukeon.io/space: prod}}\n" \
  "    spec:\n      restartPolicy: Never\n      containers: [{name: main, image: busybox}]\n"
START_TEST(deployment_template_becomes_a_cell) {
  cleanup_doc struct kk_doc *d = parse_norm(DEP("1"));
  ck_assert_str_eq(d->u.cell.metadata.name, "api");
  ck_assert_str_eq(d->u.cell.spec.space_id, "prod");
  ck_assert_ptr_null(kk_map_get(&d->u.cell.metadata.labels, "kukeon.io/space"));
  ck_assert_ptr_null(d->u.cell.spec.containers[0].restart_policy);
  cleanup_free char *msg = parse_fail(DEP("3"));
  ck_assert_str_eq(msg, "t.yaml:5: spec.replicas: 3 replicas: a Deployment becomes one cell (replicas 1)");
}
END_TEST

START_TEST(what_kukeon_cannot_honour_is_refused) {
  cleanup_free char *probe = parse_fail("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n"
                                        "  - name: a\n    image: b\n    livenessProbe: {exec: {command: [true]}}\n");
  ck_assert_str_eq(probe, "t.yaml:8: spec.containers[0]: livenessProbe: not supported by kukeon (a cell has no "
                          "equivalent)");
  cleanup_free char *vol = parse_fail("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  volumes:\n"
                                      "  - name: c\n    configMap: {name: x}\n  containers: [{name: a, image: b}]\n");
  ck_assert_str_eq(vol, "t.yaml:7: spec.volumes[0]: configMap: not supported by kukeon (a cell has no equivalent)");
  cleanup_free char *svc = parse_fail("apiVersion: v1\nkind: Service\nmetadata: {name: p}\nspec: {}\n");
  ck_assert_str_eq(svc, "t.yaml:1: kind: v1 Service: not a kind kukeon imports (a v1 Pod or an apps/v1 Deployment)");
  cleanup_free char *none = parse_fail("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: []}\n");
  ck_assert_str_eq(none, "t.yaml:4: spec.containers: a Pod needs at least one container");
  cleanup_free char *ann = parse_fail("apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  annotations:\n"
                                      "    kukeon.io/a.restartMaxRetries: many\nspec: {containers: [{name: a, "
                                      "image: b}]}\n");
  ck_assert_str_eq(ann, "t.yaml:1: metadata.annotations: kukeon.io/a.restartMaxRetries: expected an integer");
}
END_TEST

static Suite *kube_suite(void) {
  Suite *s = suite_create("kube");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, round_trip_keeps_the_cell);
  tcase_add_test(tc, round_trip_keeps_a_host_cell);
  tcase_add_test(tc, export_is_a_pod_with_notes);
  tcase_add_test(tc, names_kubernetes_refuses_are_noted);
  tcase_add_test(tc, foreign_pod_becomes_a_cell);
  tcase_add_test(tc, deployment_template_becomes_a_cell);
  tcase_add_test(tc, what_kukeon_cannot_honour_is_refused);
  suite_add_tcase(s, tc);
  return s;
}

KK_UNIT_MAIN(kube_suite)

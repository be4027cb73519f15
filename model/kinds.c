/* The v1beta1 kinds described once, as schema tables. */
#include <stddef.h>
#include <stdlib.h>

#include "lib/util.h"
#include "model/schema.h"

#define N KK_N
#define SCHEMA KK_SCHEMA
/* Offset of a member of an anonymous inner struct, relative to that struct. */
#define SUBOFF(T, outer, member) (offsetof(T, outer.member) - offsetof(T, outer))

#define F KK_FIELD
#define FB KK_FIELD_BYTES /* a byte size: integer or quantity */
#define FA(key, type, T, member) {key, type, offsetof(T, member), NULL, 0, NULL, 0, KK_FF_ALWAYS}
#define FO(key, T, member, sub) {key, KK_F_OBJ, offsetof(T, member), &(sub), 0, NULL, 0, 0}
#define FV(key, T, member, count, sub, flags)                                                      \
  {key, KK_F_OBJV, offsetof(T, member), &(sub), offsetof(T, count), NULL, 0, flags}
#define FE(key, T, member, names) {key, KK_F_ENUM, offsetof(T, member), NULL, 0, names, N(names), KK_FF_ALWAYS}

/* Same, for members of anonymous inner structs (T.outer.member). */
#define SF(key, type, T, outer, member) {key, type, SUBOFF(T, outer, member), NULL, 0, NULL, 0, 0}
#define SFA(key, type, T, outer, member) {key, type, SUBOFF(T, outer, member), NULL, 0, NULL, 0, KK_FF_ALWAYS}
#define SFO(key, T, outer, member, sub) {key, KK_F_OBJ, SUBOFF(T, outer, member), &(sub), 0, NULL, 0, 0}
#define SFV(key, T, outer, member, count, sub, flags)                                              \
  {key, KK_F_OBJV, SUBOFF(T, outer, member), &(sub), SUBOFF(T, outer, count), NULL, 0, flags}
#define SFE(key, T, outer, member, names)                                                          \
  {key, KK_F_ENUM, SUBOFF(T, outer, member), NULL, 0, names, N(names), KK_FF_ALWAYS}

/* ------------------------------------------------------------- shared */

static const struct kk_field metadata_fields[] = {
    FA("name", KK_F_STR, struct kk_metadata, name),
    F("labels", KK_F_MAP, struct kk_metadata, labels),
    F("annotations", KK_F_MAP, struct kk_metadata, annotations),
    F("generation", KK_F_I64, struct kk_metadata, generation),
};
const struct kk_schema kk_metadata_schema = SCHEMA("metadata", struct kk_metadata, metadata_fields);

static const struct kk_field resources_fields[] = {
    FB("memoryMaxBytes", KK_F_OPT_I64, struct kk_resources, memory_max_bytes),
    FB("memoryHighBytes", KK_F_OPT_I64, struct kk_resources, memory_high_bytes),
    F("cpuWeight", KK_F_OPT_I64, struct kk_resources, cpu_weight),
    F("cpuMaxQuotaMicros", KK_F_OPT_I64, struct kk_resources, cpu_max_quota_us),
    F("cpuMaxPeriodMicros", KK_F_OPT_I64, struct kk_resources, cpu_max_period_us),
    F("pidsMax", KK_F_OPT_I64, struct kk_resources, pids_max),
    F("ioWeight", KK_F_OPT_I64, struct kk_resources, io_weight),
};
static const struct kk_schema resources_schema = SCHEMA("resources", struct kk_resources, resources_fields);

static const struct kk_field ctr_resources_fields[] = {
    FB("memoryLimitBytes", KK_F_OPT_I64, struct kk_container_resources, memory_limit_bytes),
    F("cpuShares", KK_F_OPT_I64, struct kk_container_resources, cpu_shares),
    F("pidsLimit", KK_F_OPT_I64, struct kk_container_resources, pids_limit),
};
static const struct kk_schema ctr_resources_schema =
    SCHEMA("resources", struct kk_container_resources, ctr_resources_fields);

static const struct kk_field caps_fields[] = {
    F("drop", KK_F_STRV, struct kk_capabilities, drop),
    F("add", KK_F_STRV, struct kk_capabilities, add),
};
static const struct kk_schema caps_schema = SCHEMA("capabilities", struct kk_capabilities, caps_fields);

static const struct kk_field tmpfs_fields[] = {
    F("path", KK_F_STR, struct kk_tmpfs, path),
    FB("sizeBytes", KK_F_I64, struct kk_tmpfs, size_bytes),
    F("options", KK_F_STRV, struct kk_tmpfs, options),
};
static const struct kk_schema tmpfs_schema = SCHEMA("tmpfs", struct kk_tmpfs, tmpfs_fields);

/* Status fields common to realm/space/stack/cell: `base` is the first member
 * of every status struct, so its offsets are the struct's own. */
#define BASE_FIELDS(names, cgroup_flag)                                                            \
  {"state", KK_F_ENUM, offsetof(struct kk_status_base, state), NULL, 0, names, N(names), KK_FF_ALWAYS}, \
  {"cgroupPath", KK_F_STR, offsetof(struct kk_status_base, cgroup_path), NULL, 0, NULL, 0, cgroup_flag}, \
  F("subtreeControllers", KK_F_STRV, struct kk_status_base, subtree_controllers),                 \
  F("createdAt", KK_F_TIME, struct kk_status_base, created_at),                                    \
  F("updatedAt", KK_F_TIME, struct kk_status_base, updated_at),                                    \
  F("readyAt", KK_F_TIME, struct kk_status_base, ready_at),                                        \
  F("reason", KK_F_STR, struct kk_status_base, reason),                                            \
  F("message", KK_F_STR, struct kk_status_base, message),                                          \
  F("cgroupReady", KK_F_BOOL, struct kk_status_base, cgroup_ready)
static const struct kk_field usage_fields[] = {
    F("memoryCurrentBytes", KK_F_I64, struct kk_usage, memory_current_bytes),
    F("cpuUsageMicros", KK_F_I64, struct kk_usage, cpu_usage_usec),
    F("pidsCurrent", KK_F_I64, struct kk_usage, pids_current),
};
static const struct kk_schema usage_schema = SCHEMA("usage", struct kk_usage, usage_fields);

#define BASE_TAIL                                                                                  \
  F("observedGeneration", KK_F_I64, struct kk_status_base, observed_generation),                   \
  FO("usage", struct kk_status_base, usage, usage_schema)

static const char *const realm_states[] = {"Pending", "Creating", "Ready", "Deleting", "Failed", "Unknown"};
static const char *const space_states[] = {"Pending", "Ready", "Failed", "Unknown"};
static const char *const cell_states[] = {"Pending", "Ready", "Stopped", "Failed",
                                          "Unknown", "Exited", "Error", "Degraded"};
static const char *const ctr_states[] = {"Pending", "Ready",   "Stopped",    "Paused", "Pausing",
                                         "Failed",  "Unknown", "NotCreated", "Exited", "Error"};

const char *kk_state_name(enum kk_kind kind, int state) {
  const char *const *names = ctr_states;
  int n = N(ctr_states);
  switch (kind) {
  case KK_KIND_REALM: names = realm_states; n = N(realm_states); break;
  case KK_KIND_SPACE:
  case KK_KIND_STACK: names = space_states; n = N(space_states); break;
  case KK_KIND_CELL: names = cell_states; n = N(cell_states); break;
  default: break;
  }
  return state >= 0 && state < n ? names[state] : "Unknown";
}

/* ------------------------------------------------------------------ Realm */

static const struct kk_field regcred_fields[] = {
    F("username", KK_F_STR, struct kk_registry_credential, username),
    F("password", KK_F_STR, struct kk_registry_credential, password),
    F("serverAddress", KK_F_STR, struct kk_registry_credential, server_address),
};
static const struct kk_schema regcred_schema =
    SCHEMA("registryCredentials", struct kk_registry_credential, regcred_fields);

typedef __typeof__(((struct kk_realm *)0)->spec) realm_spec_t;
typedef __typeof__(((struct kk_realm *)0)->status) realm_status_t;
static const struct kk_field realm_spec_fields[] = {
    F("namespace", KK_F_STR, realm_spec_t, namespace_),
    {"registryCredentials", KK_F_OBJV, offsetof(realm_spec_t, registry_credentials), &regcred_schema,
     offsetof(realm_spec_t, n_registry_credentials), NULL, 0, 0},
    F("insecureRegistries", KK_F_STRV, realm_spec_t, insecure_registries),
    FO("resources", realm_spec_t, resources, resources_schema),
};
static const struct kk_schema realm_spec_schema = SCHEMA("spec", realm_spec_t, realm_spec_fields);
static const struct kk_field realm_status_fields[] = {
    BASE_FIELDS(realm_states, 0),
    F("containerdNamespaceReady", KK_F_BOOL, realm_status_t, containerd_namespace_ready),
    BASE_TAIL,
};
static const struct kk_schema realm_status_schema = SCHEMA("status", realm_status_t, realm_status_fields);

/* ------------------------------------------------------------------ Space */

static const struct kk_field egress_rule_fields[] = {
    F("host", KK_F_STR, struct kk_egress_rule, host),
    F("cidr", KK_F_STR, struct kk_egress_rule, cidr),
    F("ports", KK_F_I64V, struct kk_egress_rule, ports),
};
static const struct kk_schema egress_rule_schema = SCHEMA("allow", struct kk_egress_rule, egress_rule_fields);

typedef __typeof__(((struct kk_space *)0)->spec) space_spec_t;
typedef __typeof__(((struct kk_space *)0)->spec.network) space_network_t;
typedef __typeof__(((struct kk_space *)0)->spec.network.egress) space_egress_t;
typedef __typeof__(((struct kk_space *)0)->spec.defaults) space_defaults_t;
typedef __typeof__(((struct kk_space *)0)->status) space_status_t;

static const struct kk_field egress_fields[] = {
    F("default", KK_F_STR, space_egress_t, default_),
    FV("allow", space_egress_t, allow, n_allow, egress_rule_schema, 0),
};
static const struct kk_schema egress_schema = SCHEMA("egress", space_egress_t, egress_fields);
static const struct kk_field space_network_fields[] = {
    FO("egress", space_network_t, egress, egress_schema),
};
static const struct kk_schema space_network_schema = SCHEMA("network", space_network_t, space_network_fields);

static const struct kk_field ctr_defaults_fields[] = {
    F("user", KK_F_STR, struct kk_container_defaults, user),
    F("readOnlyRootFilesystem", KK_F_OPT_BOOL, struct kk_container_defaults, read_only_root_filesystem),
    FO("capabilities", struct kk_container_defaults, capabilities, caps_schema),
    F("securityOpts", KK_F_STRV, struct kk_container_defaults, security_opts),
    FV("tmpfs", struct kk_container_defaults, tmpfs, n_tmpfs, tmpfs_schema, 0),
    FO("resources", struct kk_container_defaults, resources, ctr_resources_schema),
};
static const struct kk_schema ctr_defaults_schema =
    SCHEMA("container", struct kk_container_defaults, ctr_defaults_fields);
static const struct kk_field space_defaults_fields[] = {
    FO("container", space_defaults_t, container, ctr_defaults_schema),
};
static const struct kk_schema space_defaults_schema = SCHEMA("defaults", space_defaults_t, space_defaults_fields);

static const struct kk_field space_spec_fields[] = {
    F("realmId", KK_F_STR, space_spec_t, realm_id),
    F("cniConfigPath", KK_F_STR, space_spec_t, cni_config_path),
    FO("network", space_spec_t, network, space_network_schema),
    FO("defaults", space_spec_t, defaults, space_defaults_schema),
    FO("resources", space_spec_t, resources, resources_schema),
};
static const struct kk_schema space_spec_schema = SCHEMA("spec", space_spec_t, space_spec_fields);
static const struct kk_field space_status_fields[] = {
    BASE_FIELDS(space_states, 0),
    BASE_TAIL,
};
static const struct kk_schema space_status_schema = SCHEMA("status", space_status_t, space_status_fields);

/* ------------------------------------------------------------------ Stack */

typedef __typeof__(((struct kk_stack *)0)->spec) stack_spec_t;
typedef __typeof__(((struct kk_stack *)0)->status) stack_status_t;
static const struct kk_field stack_spec_fields[] = {
    F("id", KK_F_STR, stack_spec_t, id),
    F("realmId", KK_F_STR, stack_spec_t, realm_id),
    F("spaceId", KK_F_STR, stack_spec_t, space_id),
    FO("resources", stack_spec_t, resources, resources_schema),
};
static const struct kk_schema stack_spec_schema = SCHEMA("spec", stack_spec_t, stack_spec_fields);
static const struct kk_field stack_status_fields[] = {
    BASE_FIELDS(space_states, KK_FF_ALWAYS),
    BASE_TAIL,
};
static const struct kk_schema stack_status_schema = SCHEMA("status", stack_status_t, stack_status_fields);

/* -------------------------------------------------------------- Container */

static const struct kk_field volume_fields[] = {
    F("kind", KK_F_STR, struct kk_volume_mount, kind),
    F("source", KK_F_STR, struct kk_volume_mount, source),
    F("target", KK_F_STR, struct kk_volume_mount, target),
    F("readOnly", KK_F_BOOL, struct kk_volume_mount, read_only),
    FB("sizeBytes", KK_F_I64, struct kk_volume_mount, size_bytes),
    F("mode", KK_F_I64, struct kk_volume_mount, mode),
};
static const struct kk_schema volume_schema = SCHEMA("volumes", struct kk_volume_mount, volume_fields);

#define CS struct kk_container_spec
static const struct kk_field ctr_spec_fields[] = {
    FA("id", KK_F_STR, CS, id), /* first: the key cells compare containers by */
    F("containerdId", KK_F_STR, CS, containerd_id),
    F("realmId", KK_F_STR, CS, realm_id),
    F("spaceId", KK_F_STR, CS, space_id),
    F("stackId", KK_F_STR, CS, stack_id),
    F("cellId", KK_F_STR, CS, cell_id),
    F("root", KK_F_BOOL, CS, root),
    FA("image", KK_F_STR, CS, image),
    F("command", KK_F_STR, CS, command),
    F("args", KK_F_STRV, CS, args),
    F("workingDir", KK_F_STR, CS, working_dir),
    F("env", KK_F_STRV, CS, env),
    F("ports", KK_F_STRV, CS, ports),
    FV("volumes", CS, volumes, n_volumes, volume_schema, 0),
    F("networks", KK_F_STRV, CS, networks),
    F("networksAliases", KK_F_STRV, CS, networks_aliases),
    F("privileged", KK_F_BOOL, CS, privileged),
    F("hostNetwork", KK_F_BOOL, CS, host_network),
    F("hostPID", KK_F_BOOL, CS, host_pid),
    F("hostCgroup", KK_F_BOOL, CS, host_cgroup),
    F("user", KK_F_STR, CS, user),
    F("readOnlyRootFilesystem", KK_F_BOOL, CS, read_only_root_filesystem),
    FO("capabilities", CS, capabilities, caps_schema),
    F("securityOpts", KK_F_STRV, CS, security_opts),
    F("devices", KK_F_STRV, CS, devices),
    FV("tmpfs", CS, tmpfs, n_tmpfs, tmpfs_schema, 0),
    FO("resources", CS, resources, ctr_resources_schema),
    F("cniConfigPath", KK_F_STR, CS, cni_config_path),
    F("restartPolicy", KK_F_STR, CS, restart_policy),
    F("restartBackoffSeconds", KK_F_OPT_I64, CS, restart_backoff_seconds),
    F("restartMaxRetries", KK_F_OPT_I64, CS, restart_max_retries),
    F("attachable", KK_F_BOOL, CS, attachable),
};
#undef CS
const struct kk_schema kk_container_spec_schema = SCHEMA("spec", struct kk_container_spec, ctr_spec_fields);

#define CT struct kk_container_status
static const struct kk_field ctr_status_fields[] = {
    FA("name", KK_F_STR, CT, name),
    FA("id", KK_F_STR, CT, id),
    FE("state", CT, state, ctr_states),
    F("createdAt", KK_F_TIME, CT, created_at),
    FA("restartCount", KK_F_I64, CT, restart_count),
    F("restartTime", KK_F_TIME, CT, restart_time),
    F("startTime", KK_F_TIME, CT, start_time),
    F("finishTime", KK_F_TIME, CT, finish_time),
    FA("exitCode", KK_F_I64, CT, exit_code),
    F("exitSignal", KK_F_STR, CT, exit_signal),
    F("pid", KK_F_I64, CT, pid),
};
#undef CT
const struct kk_schema kk_container_status_schema =
    SCHEMA("status", struct kk_container_status, ctr_status_fields);

/* ------------------------------------------------------------------- Cell */

typedef __typeof__(((struct kk_cell *)0)->spec) cell_spec_t;
typedef __typeof__(((struct kk_cell *)0)->spec.tty) cell_tty_t;
typedef __typeof__(((struct kk_cell *)0)->status) cell_status_t;
typedef __typeof__(((struct kk_cell *)0)->status.network) cell_network_t;

static const struct kk_field cell_tty_fields[] = {
    F("default", KK_F_STR, cell_tty_t, default_),
};
static const struct kk_schema cell_tty_schema = SCHEMA("tty", cell_tty_t, cell_tty_fields);
static const struct kk_field cell_spec_fields[] = {
    F("id", KK_F_STR, cell_spec_t, id),
    F("realmId", KK_F_STR, cell_spec_t, realm_id),
    F("spaceId", KK_F_STR, cell_spec_t, space_id),
    F("stackId", KK_F_STR, cell_spec_t, stack_id),
    F("rootContainerId", KK_F_STR, cell_spec_t, root_container_id),
    FV("containers", cell_spec_t, containers, n_containers, kk_container_spec_schema, KK_FF_KEYED),
    FO("tty", cell_spec_t, tty, cell_tty_schema),
    F("autoDelete", KK_F_BOOL, cell_spec_t, auto_delete),
    F("nestedCgroupRuntime", KK_F_BOOL, cell_spec_t, nested_cgroup_runtime),
    FO("resources", cell_spec_t, resources, resources_schema),
    F("stopTimeoutSeconds", KK_F_OPT_I64, cell_spec_t, stop_timeout_seconds),
};
static const struct kk_schema cell_spec_schema = SCHEMA("spec", cell_spec_t, cell_spec_fields);
static const struct kk_field cell_network_fields[] = {
    F("bridgeName", KK_F_STR, cell_network_t, bridge_name),
    F("ip", KK_F_STR, cell_network_t, ip),
};
static const struct kk_schema cell_network_schema = SCHEMA("network", cell_network_t, cell_network_fields);
static const struct kk_field cell_status_fields[] = {
    BASE_FIELDS(cell_states, KK_FF_ALWAYS),
    FO("network", cell_status_t, network, cell_network_schema),
    {"containers", KK_F_OBJV, offsetof(cell_status_t, containers), &kk_container_status_schema,
     offsetof(cell_status_t, n_containers), NULL, 0, KK_FF_ALWAYS},
    F("readyObserved", KK_F_BOOL, cell_status_t, ready_observed),
    BASE_TAIL,
};
static const struct kk_schema cell_status_schema = SCHEMA("status", cell_status_t, cell_status_fields);

/* ------------------------------------------------------------ Documents */

#define KIND_FIELDS(T, spec_schema, status_schema)                                                 \
  {"apiVersion", KK_F_IGNORE, 0, NULL, 0, NULL, 0, 0},                                             \
  {"kind", KK_F_IGNORE, 0, NULL, 0, NULL, 0, 0},                                                   \
  {"metadata", KK_F_OBJ, offsetof(T, metadata), &kk_metadata_schema, 0, NULL, 0, KK_FF_ALWAYS},   \
  {"spec", KK_F_OBJ, offsetof(T, spec), &(spec_schema), 0, NULL, 0, KK_FF_ALWAYS},               \
  {"status", KK_F_OBJ, offsetof(T, status), &(status_schema), 0, NULL, 0, KK_FF_ALWAYS | KK_FF_STATUS}

static const struct kk_field realm_fields[] = {KIND_FIELDS(struct kk_realm, realm_spec_schema, realm_status_schema)};
static const struct kk_field space_fields[] = {KIND_FIELDS(struct kk_space, space_spec_schema, space_status_schema)};
static const struct kk_field stack_fields[] = {KIND_FIELDS(struct kk_stack, stack_spec_schema, stack_status_schema)};
static const struct kk_field cell_fields[] = {KIND_FIELDS(struct kk_cell, cell_spec_schema, cell_status_schema)};
static const struct kk_field container_fields[] = {
    KIND_FIELDS(struct kk_container, kk_container_spec_schema, kk_container_status_schema)};

static const struct kk_schema realm_schema = SCHEMA("Realm", struct kk_realm, realm_fields);
static const struct kk_schema space_schema = SCHEMA("Space", struct kk_space, space_fields);
static const struct kk_schema stack_schema = SCHEMA("Stack", struct kk_stack, stack_fields);
static const struct kk_schema cell_schema = SCHEMA("Cell", struct kk_cell, cell_fields);
static const struct kk_schema container_schema = SCHEMA("Container", struct kk_container, container_fields);

const struct kk_schema *const kk_kind_schemas[KK_KIND_COUNT] = {
    [KK_KIND_REALM] = &realm_schema, [KK_KIND_SPACE] = &space_schema, [KK_KIND_STACK] = &stack_schema,
    [KK_KIND_CELL] = &cell_schema,   [KK_KIND_CONTAINER] = &container_schema,
};

/* ------------------------------------------------------------ lifetime */

/* Here, beside the schemas they free by, and below every file that makes
 * documents (document.c, kube_import.c, naming.c). */

struct kk_doc *kk_doc_new(enum kk_kind kind) {
  struct kk_doc *doc = kk_xzalloc(sizeof(*doc));
  doc->kind = kind;
  return doc;
}

void kk_doc_free(struct kk_doc *doc) {
  if (doc == NULL)
    return;
  kk_schema_free(kk_kind_schemas[doc->kind], &doc->u);
  free(doc->file);
  free(doc->lines);
  free(doc);
}

void kk_doc_freep(struct kk_doc **doc) {
  kk_doc_free(*doc);
  *doc = NULL;
}

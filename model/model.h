/* kukeon's resource model: internal types for the v1beta1 kinds, YAML/JSON
 * encoding, validation and every derived name.  The one place that knows the
 * manifest format. */
#ifndef KK_MODEL_H
#define KK_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "lib/error.h"
#include "lib/util.h"

#define KK_API_VERSION "v1beta1"
#define KK_DEFAULT_NS_SUFFIX "kukeon.io"
#define KK_DEFAULT_CGROUP_ROOT "/kukeon"
#define KK_DEFAULT_RUN_PATH "/opt/kukeon"
#define KK_DEFAULT_POD_SUBNET "10.88.0.0/16"
#define KK_SYSTEM_REALM "kuke-system"
#define KK_SYSTEM_SPACE "kukeon"
#define KK_SYSTEM_STACK "kukeon"
#define KK_MAX_ID_LEN 76 /* containerd identifier limit, kept for runc state dirs */
#define KK_ROOT_CONTAINER_ID "root"
#define KK_PAUSE_IMAGE "kukeon.internal/pause:latest" /* built by kukeon, never pulled */
#define KK_KUKEOND_IMAGE_REPO "kukeon.internal/kukeond"  /* :<version>, made from the installed binary */

enum kk_kind {
  KK_KIND_REALM = 0,
  KK_KIND_SPACE,
  KK_KIND_STACK,
  KK_KIND_CELL,
  KK_KIND_CONTAINER,
  KK_KIND_COUNT
};

const char *kk_kind_name(enum kk_kind kind);  /* "Realm" */
const char *kk_kind_lower(enum kk_kind kind); /* "realm" */
/* Accepts "Realm", "realm", "realms", "r", "space", "sp", ... (CLI aliases). */
int kk_kind_parse(const char *s, enum kk_kind *out);

struct kk_opt_i64 {
  bool set;
  int64_t v;
};
struct kk_opt_bool {
  bool set;
  bool v;
};
struct kk_i64v {
  int64_t *v;
  size_t n;
};

/* State enums: ordinals match the Go project (legacy integer decoding). */
enum kk_realm_state { KK_REALM_PENDING, KK_REALM_CREATING, KK_REALM_READY, KK_REALM_DELETING, KK_REALM_FAILED, KK_REALM_UNKNOWN };
enum kk_space_state { KK_SPACE_PENDING, KK_SPACE_READY, KK_SPACE_FAILED, KK_SPACE_UNKNOWN };
enum kk_stack_state { KK_STACK_PENDING, KK_STACK_READY, KK_STACK_FAILED, KK_STACK_UNKNOWN };
enum kk_cell_state {
  KK_CELL_PENDING, KK_CELL_READY, KK_CELL_STOPPED, KK_CELL_FAILED, KK_CELL_UNKNOWN,
  KK_CELL_EXITED, KK_CELL_ERROR, KK_CELL_DEGRADED
};
enum kk_container_state {
  KK_CTR_PENDING, KK_CTR_READY, KK_CTR_STOPPED, KK_CTR_PAUSED, KK_CTR_PAUSING, KK_CTR_FAILED,
  KK_CTR_UNKNOWN, KK_CTR_NOT_CREATED, KK_CTR_EXITED, KK_CTR_ERROR
};
const char *kk_state_name(enum kk_kind kind, int state);

struct kk_metadata {
  char *name;
  struct kk_map labels;
  struct kk_map annotations; /* cells only */
  int64_t generation;
};

/* What the kernel counts for a level's cgroup, read when the resource is
 * read (never a stored promise). */
struct kk_usage {
  int64_t memory_current_bytes; /* memory.current */
  int64_t cpu_usage_usec;       /* cpu.stat usage_usec */
  int64_t pids_current;         /* pids.current */
};

/* Fields every realm/space/stack/cell status carries. */
struct kk_status_base {
  int state;
  char *cgroup_path;
  struct kk_strv subtree_controllers;
  int64_t created_at, updated_at, ready_at; /* unix seconds, 0 = unset */
  char *reason;
  char *message;
  bool cgroup_ready;
  int64_t observed_generation;
  struct kk_usage usage;
};

/* spec.resources on realm, space, stack and cell: written to that level's
 * cgroup (kukeon extension; the Go project limits containers only). */
struct kk_resources {
  struct kk_opt_i64 memory_max_bytes;   /* memoryMaxBytes -> memory.max */
  struct kk_opt_i64 memory_high_bytes;  /* memoryHighBytes -> memory.high */
  struct kk_opt_i64 cpu_weight;         /* cpuWeight 1..10000 -> cpu.weight */
  struct kk_opt_i64 cpu_max_quota_us;   /* cpuMaxQuotaMicros -> cpu.max */
  struct kk_opt_i64 cpu_max_period_us;  /* cpuMaxPeriodMicros (default 100000) */
  struct kk_opt_i64 pids_max;           /* pidsMax -> pids.max */
  struct kk_opt_i64 io_weight;          /* ioWeight 1..10000 -> io.weight */
};

struct kk_container_resources {
  struct kk_opt_i64 memory_limit_bytes;
  struct kk_opt_i64 cpu_shares;
  struct kk_opt_i64 pids_limit;
};

struct kk_capabilities {
  struct kk_strv drop;
  struct kk_strv add;
};

struct kk_tmpfs {
  char *path;
  int64_t size_bytes;
  struct kk_strv options;
};

/* ------------------------------------------------------------------ Realm */
struct kk_registry_credential {
  char *username;
  char *password;
  char *server_address;
};

struct kk_realm {
  struct kk_metadata metadata;
  struct {
    char *namespace_;
    struct kk_registry_credential *registry_credentials;
    size_t n_registry_credentials;
    /* kukeon extension: registries (host or host:port) this realm pulls
     * from over plain HTTP or TLS without verification. */
    struct kk_strv insecure_registries;
    struct kk_resources resources;
  } spec;
  struct {
    struct kk_status_base base;
    bool containerd_namespace_ready;
  } status;
};

/* A registry as spec.insecureRegistries and image references name it:
 * host or host:port (DNS name, IPv4, or [IPv6]), no scheme, no path. */
bool kk_registry_host_valid(const char *s);
/* A DNS name (or dotted IPv4): labels of [A-Za-z0-9-] up to 63, not
 * starting or ending with '-', joined by single dots, 253 at most. */
bool kk_dns_name_valid(const char *s);

/* ------------------------------------------------------------------ Space */
struct kk_egress_rule {
  char *host;
  char *cidr;
  struct kk_i64v ports;
};

struct kk_container_defaults {
  char *user;
  struct kk_opt_bool read_only_root_filesystem;
  struct kk_capabilities capabilities;
  struct kk_strv security_opts;
  struct kk_tmpfs *tmpfs;
  size_t n_tmpfs;
  struct kk_container_resources resources;
};

struct kk_space {
  struct kk_metadata metadata;
  struct {
    char *realm_id;
    char *cni_config_path;
    struct {
      struct {
        char *default_; /* "allow" | "deny"; empty = no egress policy */
        struct kk_egress_rule *allow;
        size_t n_allow;
      } egress;
    } network;
    struct {
      struct kk_container_defaults container;
    } defaults;
    struct kk_resources resources;
  } spec;
  struct {
    struct kk_status_base base;
  } status;
};

/* ------------------------------------------------------------------ Stack */
struct kk_stack {
  struct kk_metadata metadata;
  struct {
    char *id;
    char *realm_id;
    char *space_id;
    struct kk_resources resources;
  } spec;
  struct {
    struct kk_status_base base;
  } status;
};

/* -------------------------------------------------------------- Container */
struct kk_volume_mount {
  char *kind; /* "" (bind) | bind | tmpfs */
  char *source;
  char *target;
  bool read_only;
  int64_t size_bytes;
  int64_t mode;
};

struct kk_container_spec {
  char *id;
  char *containerd_id;
  char *realm_id;
  char *space_id;
  char *stack_id;
  char *cell_id;
  bool root;
  char *image;
  char *command;
  struct kk_strv args;
  char *working_dir;
  struct kk_strv env;
  struct kk_strv ports;
  struct kk_volume_mount *volumes;
  size_t n_volumes;
  struct kk_strv networks;
  struct kk_strv networks_aliases;
  bool privileged;
  bool host_network;
  bool host_pid;
  bool host_cgroup;
  char *user;
  bool read_only_root_filesystem;
  struct kk_capabilities capabilities;
  struct kk_strv security_opts;
  struct kk_strv devices;
  struct kk_tmpfs *tmpfs;
  size_t n_tmpfs;
  struct kk_container_resources resources;
  char *cni_config_path;
  char *restart_policy; /* "" | always | on-failure | never */
  struct kk_opt_i64 restart_backoff_seconds;
  struct kk_opt_i64 restart_max_retries;
  bool attachable;
};

struct kk_container_status {
  char *name;
  char *id;
  int state;
  int64_t created_at;
  int64_t restart_count;
  int64_t restart_time;
  int64_t start_time;
  int64_t finish_time;
  int64_t exit_code;
  char *exit_signal;
  int64_t pid;
};

/* A standalone `kind: Container` document (also how the store keeps each
 * container of a cell: <cell>/containers/<id>.yaml). */
struct kk_container {
  struct kk_metadata metadata;
  struct kk_container_spec spec;
  struct kk_container_status status;
};

/* ------------------------------------------------------------------- Cell */
/* Bound of a cell's spec.stopTimeoutSeconds and of kuke stop --timeout. */
#define KK_MAX_STOP_TIMEOUT_SECONDS 3600

struct kk_cell {
  struct kk_metadata metadata;
  struct {
    char *id;
    char *realm_id;
    char *space_id;
    char *stack_id;
    char *root_container_id;
    struct kk_container_spec *containers;
    size_t n_containers;
    struct {
      char *default_;
    } tty;
    bool auto_delete;
    bool nested_cgroup_runtime;
    struct kk_resources resources;
    /* stopTimeoutSeconds: how long a stop's SIGTERM may take per container
     * before SIGKILL (kuke stop --timeout overrides it; unset: 5 s). */
    struct kk_opt_i64 stop_timeout_seconds;
  } spec;
  struct {
    struct kk_status_base base;
    struct {
      char *bridge_name;
      char *ip; /* the root's address on the space's network */
    } network;
    struct kk_container_status *containers;
    size_t n_containers;
    bool ready_observed;
  } status;
};

/* --------------------------------------------------------------- Document */
struct kk_line_ref {
  const void *addr; /* address of a field inside the document */
  int line;         /* 1-based */
};

struct kk_doc {
  enum kk_kind kind;
  char *file; /* where it came from, for error messages; may be NULL */
  int line;   /* 1-based line of the document start */
  union {
    struct kk_realm realm;
    struct kk_space space;
    struct kk_stack stack;
    struct kk_cell cell;
    struct kk_container container;
  } u;
  struct kk_line_ref *lines; /* field address -> source line, from parsing */
  size_t n_lines;
};

struct kk_doc_list {
  struct kk_doc **docs;
  size_t n;
};

struct kk_doc *kk_doc_new(enum kk_kind kind);
void kk_doc_free(struct kk_doc *doc);
void kk_doc_freep(struct kk_doc **doc);
#define cleanup_doc KK_CLEANUP(kk_doc_freep)
struct kk_doc *kk_doc_clone(const struct kk_doc *doc);
void kk_doc_list_push(struct kk_doc_list *l, struct kk_doc *doc); /* takes ownership */
void kk_doc_list_free(struct kk_doc_list *l);
#define cleanup_doc_list KK_CLEANUP(kk_doc_list_free)
struct kk_metadata *kk_doc_metadata(struct kk_doc *doc);
const char *kk_doc_name(const struct kk_doc *doc);
struct kk_status_base *kk_doc_status_base(struct kk_doc *doc); /* NULL for containers */
void kk_doc_reset_status(struct kk_doc *doc); /* free and zero the status part */

/* Spec (and metadata) equality, ignoring status: drives apply's
 * created/updated/unchanged.  Cells compare containers by id. */
bool kk_doc_spec_equal(const struct kk_doc *a, const struct kk_doc *b);
/* Status equality, spec and metadata left out (the reconcile pass: did
 * supervising change what it must persist?). */
bool kk_doc_status_equal(const struct kk_doc *a, const struct kk_doc *b);
/* Human list of what differs ("spec.containers[web].image", ...). */
void kk_doc_spec_diff(const struct kk_doc *a, const struct kk_doc *b, struct kk_strv *out);

/* Parse a (multi-document) YAML stream.  `file` is used in errors, which
 * look like "<file>:<line>: <field>: <why>".  Empty documents are skipped.
 * A YAML document may also be a list of resources, as `kuke get -o yaml`
 * and `-o json` print several: a sequence of documents, or a kubectl-style
 * mapping with `kind: List` and `items:`; each item is one document (a list
 * holds no lists).  The bounds are those of one YAML document. */
#define KK_MAX_MANIFEST_BYTES (16u << 20)
/* One document, serialized as the store writes it (spec + status; a cell
 * with its containers): what the store reads and writes, and what apply,
 * create and run accept.  The whole-file limit above is larger for
 * multi-document files. */
#define KK_MAX_DOC_BYTES (4u << 20)
/* Per YAML document (manifests, store files, configuration files).  An
 * alias's expansion is the scalar bytes it copies plus one per node; the
 * bound is the document limit, since an expanded document never has to be
 * larger than what can be stored.  Real manifests use a handful of
 * anchors. */
#define KK_MAX_YAML_ALIASES 1000u
#define KK_MAX_YAML_ANCHORS 1000u /* libyaml's loader checks anchors pairwise */
#define KK_MAX_YAML_ALIAS_BYTES KK_MAX_DOC_BYTES
#define KK_MAX_YAML_NODES 1000000u
int kk_docs_parse(const char *buf, size_t len, const char *file, struct kk_doc_list *out, kk_err_t *err);
/* Exactly one document of the given kind, never a list (store files). */
int kk_doc_parse_one(const char *buf, size_t len, const char *file, enum kk_kind kind,
                     struct kk_doc **out, kk_err_t *err);

/* KK_ERR_INVALID when the document, serialized as the store writes it
 * (spec + status; a cell with its containers), is over KK_MAX_DOC_BYTES. */
int kk_doc_check_size(const struct kk_doc *doc, kk_err_t *err);

/* Emit one document as YAML (2-space indent) / JSON (2-space indent). */
char *kk_doc_to_yaml(const struct kk_doc *doc);
char *kk_doc_to_json(const struct kk_doc *doc);
/* A list: YAML sequence / JSON array of documents. */
char *kk_docs_to_yaml(const struct kk_doc *const *docs, size_t n);
char *kk_docs_to_json(const struct kk_doc *const *docs, size_t n);

/* ------------------------------------------------------ Kubernetes */
/* Cells as Kubernetes YAML (`kuke export`): a v1 Pod per cell, each its own
 * YAML document.  What Kubernetes has no field for is named in a comment
 * above the Pod and kept in a "kukeon.io/..." annotation.  The way back is
 * kk_docs_parse, which reads a v1 Pod or an apps/v1 Deployment's pod
 * template as a cell (placed by the kukeon.io/realm|space|stack labels,
 * "default" without them). */
char *kk_kube_export(const struct kk_doc *const *cells, size_t n);

/* ---------------------------------------------------------- Validation */
/* Fill defaults that follow from the document itself (stack/cell id = name,
 * realm namespace, container parent ids, containerd ids, root container
 * id), then validate.  Errors: "<file>:<line>: <field>: <why>". */
int kk_doc_normalize(struct kk_doc *doc, const char *ns_suffix, kk_err_t *err);
int kk_doc_validate(const struct kk_doc *doc, kk_err_t *err);

/* Names: not empty after trim, no '_' or '/', a containerd-style identifier
 * ([A-Za-z0-9]+ joined by single . _ -), not reserved at the run path root. */
int kk_validate_name(enum kk_kind kind, const char *name, kk_err_t *err);

/* containerd-style identifier: [A-Za-z0-9]+ joined by single . _ - */
bool kk_runtime_id_valid(const char *s);
/* "a.b.c.d/n" with n 0..32, nothing else; out params may be NULL. */
bool kk_ipv4_cidr_valid(const char *s, uint32_t *addr, int *prefix);
/* The pod subnet: an IPv4 CIDR with a prefix shorter than /24 (one /24
 * per space is carved from it). */
int kk_validate_pod_subnet(const char *cidr, kk_err_t *err);

/* ------------------------------------------------------- Derived names */
char *kk_namespace_name(const char *realm, const char *suffix);        /* default.kukeon.io */
char *kk_network_name(const char *realm, const char *space);           /* default-default */
char *kk_bridge_name(const char *realm, const char *space);            /* k-703e8b3a */
char *kk_container_runtime_id(const char *space, const char *stack, const char *cell,
                              const char *container, bool is_root);    /* s_t_c_x / s_t_c_root */
/* cgroup path of a level: pass NULL for the deeper parts. */
char *kk_cgroup_path(const char *cgroup_root, const char *realm, const char *space,
                     const char *stack, const char *cell);
/* A container's cgroup, inside its cell's: <cell cgroup>/<runtime id>.
 * cell_cgroup may be absolute (a bundle's cgroupsPath) or relative to the
 * cgroup root. */
char *kk_container_cgroup(const char *cell_cgroup, const char *runtime_id);

/* Synthesized pause root container of a cell with no root of its own. */
void kk_cell_add_pause_root(struct kk_cell *cell);
/* The root container spec of a cell, or NULL. */
struct kk_container_spec *kk_cell_root(struct kk_cell *cell);
/* That root as kk_cell_add_pause_root made it (kukeon's, not the author's). */
bool kk_container_is_pause_root(const struct kk_container_spec *ct);
/* Deep copy of src over dst (dst's old contents freed). */
void kk_container_spec_replace(struct kk_container_spec *dst, const struct kk_container_spec *src);

/* The effective spec (inherit.c): the space's defaults.container d (may be
 * NULL) where the container leaves a field unset, shallow (a field it sets
 * replaces the default wholly; a space's readOnlyRootFilesystem true cannot
 * be opted out of; the pause root takes none), then default_memory (the
 * daemon's defaultMemoryLimitBytes, <= 0: none) when it has no positive
 * memory limit, the pause root included. */
void kk_container_inherit(struct kk_container_spec *ct, const struct kk_container_defaults *d, int64_t default_memory);
void kk_cell_inherit(struct kk_cell *cell, const struct kk_container_defaults *d, int64_t default_memory);

/* Container documents <-> a cell's container list (store layout). */
struct kk_doc *kk_container_doc_from_cell(const struct kk_cell *cell, size_t i);
/* Free and forget a cell's spec.containers and status.containers. */
void kk_cell_drop_containers(struct kk_cell *cell);

/* ------------------------------------------------ Configuration files */
/* ~/.kuke/kuke.yaml (kind ClientConfiguration); absent fields stay NULL. */
struct kk_client_config {
  char *host;
  char *run_path;
  char *containerd_socket;
  char *log_level;
  char *ns_suffix;
  char *cgroup_root;
  char *pod_subnet;
  char *cni_path;      /* CNI plugin search path (in-process) */
  char *cni_cache_dir; /* CNI result cache */
  char *cni_lease_dir; /* host-local IPAM leases */
};
/* /etc/kukeon/kukeond.yaml (kind ServerConfiguration). */
struct kk_server_config {
  char *socket;
  struct kk_opt_i64 socket_gid;
  char *run_path;
  char *containerd_socket;
  char *log_level;
  char *reconcile_interval;
  char *kukeond_image;
  char *ns_suffix;
  char *cgroup_root;
  char *pod_subnet;
  char *cni_path;
  char *cni_cache_dir;
  char *cni_lease_dir;
  struct kk_opt_i64 default_memory_limit_bytes;
  char *peer_policy;                /* restricted (default) | trusted */
  struct kk_strv allowed_host_paths; /* what restricted peers may bind */
};
int kk_client_config_parse(const char *buf, size_t len, const char *file, struct kk_client_config *out,
                           kk_err_t *err);
void kk_client_config_free(struct kk_client_config *c);
int kk_server_config_parse(const char *buf, size_t len, const char *file, struct kk_server_config *out,
                           kk_err_t *err);
void kk_server_config_free(struct kk_server_config *c);
/* Read and parse the file at path.  A file that does not exist, named or
 * the default, is no configuration: *out all unset (the built-in defaults
 * apply), *found false.  One that cannot be read (not a regular file, no
 * permission, over 1 MiB) or does not parse is an error naming it. */
int kk_client_config_load(const char *path, struct kk_client_config *out, bool *found, kk_err_t *err);
int kk_server_config_load(const char *path, struct kk_server_config *out, bool *found, kk_err_t *err);
/* The default memory limit of every container, kukeond's and in-process
 * kuke's alike: override (a byte quantity; named `what` in errors) >
 * KUKEOND_DEFAULT_MEMORY_LIMIT_BYTES > file's defaultMemoryLimitBytes >
 * 0 (none); a negative value is 0.  override NULL: the environment's. */
int kk_server_default_memory(const struct kk_server_config *file, const char *override, const char *what,
                             int64_t *out, kk_err_t *err);
/* The peer policy: what a client that is not root may ask of kukeond
 * through the socket.  Root is never restricted.  Under "restricted" a
 * container may not be privileged, share a host namespace or the host
 * cgroup namespace, add capabilities, get devices, leave seccomp or
 * no-new-privileges, or bind a host path that does not resolve inside one of
 * `allowed_host_paths` (absolute, canonical).  "trusted" allows everything:
 * the socket group is then root-equivalent, as docker's group is. */
enum kk_peer_mode { KK_PEER_RESTRICTED = 0, KK_PEER_TRUSTED };
struct kk_policy {
  enum kk_peer_mode mode;
  struct kk_strv allowed_host_paths;
};
/* "restricted" | "trusted"; NULL or "" is restricted. */
int kk_policy_parse_mode(const char *s, enum kk_peer_mode *out, kk_err_t *err);
/* Each allowed path must be absolute; stored canonical (realpath). */
int kk_policy_allow_path(struct kk_policy *p, const char *path, kk_err_t *err);
void kk_policy_free(struct kk_policy *p);
/* 0 when the document is allowed; KK_ERR_PERMISSION naming the first
 * field that is not.  A NULL policy or a trusted one allows everything. */
int kk_policy_check(const struct kk_policy *p, const struct kk_doc *doc, kk_err_t *err);
/* The system realm (kukeond's own cell) is not changed by a restricted
 * peer: what (a verb) in realm is refused with KK_ERR_PERMISSION. */
int kk_policy_check_realm(const struct kk_policy *p, const char *realm, const char *what, kk_err_t *err);
/* What such a peer reads: a realm's registry passwords are replaced by
 * KK_POLICY_REDACTED (the daemon still pulls with them). */
#define KK_POLICY_REDACTED "<redacted>"
void kk_policy_redact(const struct kk_policy *p, struct kk_doc *doc);
/* A realm sent back as it was read (kuke create regcred reads, edits and
 * applies the whole realm): each redacted password of a credential the
 * stored realm has (same username and serverAddress) is the stored one. */
void kk_policy_unredact(struct kk_doc *doc, const struct kk_doc *stored);

/* "CAP_SYS_ADMIN" (any case) -> its number; -1 for a name libcap does not know. */
int kk_cap_number(const char *name);

/* Checks shared by flags, env and files. */
int kk_validate_ns_suffix(const char *suffix, kk_err_t *err);
int kk_validate_cgroup_root(const char *root, kk_err_t *err);

#endif

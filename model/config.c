/* ClientConfiguration and ServerConfiguration files: the same envelope as
 * resources, parsed by the same schema engine, never applied. */
#include <ctype.h>
#include <stdlib.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "lib/fs.h"
#include "model/schema.h"

#define CONFIG_MAX (1 << 20)

#define F KK_FIELD

static const struct kk_field client_spec_fields[] = {
    F("host", KK_F_STR, struct kk_client_config, host),
    F("runPath", KK_F_STR, struct kk_client_config, run_path),
    F("containerdSocket", KK_F_STR, struct kk_client_config, containerd_socket),
    F("logLevel", KK_F_STR, struct kk_client_config, log_level),
    F("containerdNamespaceSuffix", KK_F_STR, struct kk_client_config, ns_suffix),
    F("cgroupRoot", KK_F_STR, struct kk_client_config, cgroup_root),
    F("podSubnetCIDR", KK_F_STR, struct kk_client_config, pod_subnet),
    F("cniPath", KK_F_STR, struct kk_client_config, cni_path),
    F("cniCacheDir", KK_F_STR, struct kk_client_config, cni_cache_dir),
    F("cniLeaseDir", KK_F_STR, struct kk_client_config, cni_lease_dir),
};
static const struct kk_schema client_spec_schema = KK_SCHEMA("spec", struct kk_client_config, client_spec_fields);

static const struct kk_field server_spec_fields[] = {
    F("socket", KK_F_STR, struct kk_server_config, socket),
    F("socketGID", KK_F_OPT_I64, struct kk_server_config, socket_gid),
    F("runPath", KK_F_STR, struct kk_server_config, run_path),
    F("containerdSocket", KK_F_STR, struct kk_server_config, containerd_socket),
    F("logLevel", KK_F_STR, struct kk_server_config, log_level),
    {"kukettyLogLevel", KK_F_IGNORE, 0, NULL, 0, NULL, 0, 0},
    F("reconcileInterval", KK_F_STR, struct kk_server_config, reconcile_interval),
    F("kukeondImage", KK_F_STR, struct kk_server_config, kukeond_image),
    F("containerdNamespaceSuffix", KK_F_STR, struct kk_server_config, ns_suffix),
    F("cgroupRoot", KK_F_STR, struct kk_server_config, cgroup_root),
    F("podSubnetCIDR", KK_F_STR, struct kk_server_config, pod_subnet),
    F("cniPath", KK_F_STR, struct kk_server_config, cni_path),
    F("cniCacheDir", KK_F_STR, struct kk_server_config, cni_cache_dir),
    F("cniLeaseDir", KK_F_STR, struct kk_server_config, cni_lease_dir),
    KK_FIELD_BYTES("defaultMemoryLimitBytes", KK_F_OPT_I64, struct kk_server_config, default_memory_limit_bytes),
    F("peerPolicy", KK_F_STR, struct kk_server_config, peer_policy),
    F("allowedHostPaths", KK_F_STRV, struct kk_server_config, allowed_host_paths),
};
static const struct kk_schema server_spec_schema = KK_SCHEMA("spec", struct kk_server_config, server_spec_fields);

/* Parse "apiVersion/kind/metadata/spec" with `spec` decoded by `spec_schema`. */
static int parse_top(struct kk_parse_ctx *c, yaml_node_t *root, const char *kind, const struct kk_schema *spec_schema,
                     void *out) {
  const char *file = c->file;
  if (root->type != YAML_MAPPING_NODE)
    return kk_error_kind(c->err, KK_ERR_INVALID, 0, "%s:%d: expected a %s mapping", file,
                         (int)root->start_mark.line + 1, kind);
  for (yaml_node_pair_t *pr = root->data.mapping.pairs.start; pr < root->data.mapping.pairs.top; pr++) {
    yaml_node_t *k = yaml_document_get_node(c->ydoc, pr->key), *v = yaml_document_get_node(c->ydoc, pr->value);
    if (k == NULL || v == NULL || k->type != YAML_SCALAR_NODE)
      return kk_error_kind(c->err, KK_ERR_INVALID, 0, "%s: keys must be strings", file);
    const char *key = (const char *)k->data.scalar.value;
    int line = (int)k->start_mark.line + 1;
    if (strcmp(key, "apiVersion") == 0) {
      if (v->type != YAML_SCALAR_NODE ||
          (v->data.scalar.length > 0 && strcmp((const char *)v->data.scalar.value, KK_API_VERSION) != 0))
        return kk_error_kind(c->err, KK_ERR_INVALID, 0, "%s:%d: apiVersion: unsupported apiVersion (supported: %s)",
                             file, line, KK_API_VERSION);
    } else if (strcmp(key, "kind") == 0) {
      if (v->type != YAML_SCALAR_NODE ||
          (v->data.scalar.length > 0 && strcmp((const char *)v->data.scalar.value, kind) != 0))
        return kk_error_kind(c->err, KK_ERR_INVALID, 0, "%s:%d: kind: expected %s", file, line, kind);
    } else if (strcmp(key, "metadata") == 0) {
      struct kk_metadata md = {0};
      int r = kk_schema_parse(c, v, &kk_metadata_schema, &md, "metadata");
      kk_schema_free(&kk_metadata_schema, &md);
      if (r < 0)
        return -1;
    } else if (strcmp(key, "spec") == 0) {
      if (kk_schema_parse(c, v, spec_schema, out, "spec") < 0)
        return -1;
    } else {
      return kk_error_kind(c->err, KK_ERR_INVALID, 0, "%s:%d: %s: unknown field", file, line, key);
    }
  }
  return 0;
}

static int parse_config(const char *buf, size_t len, const char *file, const char *kind,
                        const struct kk_schema *spec_schema, void *out, kk_err_t *err) {
  yaml_parser_t parser;
  yaml_document_t yd;
  if (buf == NULL)
    buf = "", len = 0;
  if (kk_yaml_check_bounds(buf, len, file, err) < 0)
    return -1;
  if (!yaml_parser_initialize(&parser))
    kk_oom();
  yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
  int ret = 0;
  if (!yaml_parser_load(&parser, &yd)) {
    ret = kk_error_kind(err, KK_ERR_INVALID, 0, "%s:%zu: invalid YAML: %s", file, parser.problem_mark.line + 1,
                        parser.problem ? parser.problem : "parse error");
    yaml_parser_delete(&parser);
    return ret;
  }
  yaml_node_t *root = yaml_document_get_root_node(&yd);
  if (root != NULL && !(root->type == YAML_SCALAR_NODE && root->data.scalar.length == 0)) {
    struct kk_parse_ctx ctx = {.ydoc = &yd, .file = file, .err = err};
    ret = parse_top(&ctx, root, kind, spec_schema, out);
  }
  yaml_document_delete(&yd);
  yaml_parser_delete(&parser);
  if (ret < 0)
    kk_schema_free(spec_schema, out);
  return ret;
}

/* A file that is not there is no configuration (*found false); one that
 * is there must be a readable regular file (a symlink to one is followed:
 * configuration is often linked in). */
static int read_config(const char *path, const char *what, char **buf, size_t *len, bool *found, kk_err_t *err) {
  *found = false;
  cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT)
    return 0;
  struct stat st;
  if (fd < 0 || fstat(fd, &st) < 0)
    return kk_error_kind(err, KK_ERR_INVALID, errno, "read %s %s: %s", what, path, strerror(errno));
  if (!S_ISREG(st.st_mode))
    return kk_error_kind(err, KK_ERR_INVALID, 0, "read %s %s: not a regular file", what, path);
  if (kk_read_fd(fd, CONFIG_MAX, path, buf, len, err) < 0)
    return kk_error_wrap(err, "read %s", what);
  *found = true;
  return 0;
}

int kk_client_config_load(const char *path, struct kk_client_config *out, bool *found, kk_err_t *err) {
  cleanup_free char *buf = NULL;
  size_t len = 0;
  memset(out, 0, sizeof(*out));
  if (read_config(path, "configuration", &buf, &len, found, err) < 0)
    return -1;
  return *found ? kk_client_config_parse(buf, len, path, out, err) : 0;
}

int kk_server_config_load(const char *path, struct kk_server_config *out, bool *found, kk_err_t *err) {
  cleanup_free char *buf = NULL;
  size_t len = 0;
  memset(out, 0, sizeof(*out));
  if (read_config(path, "server configuration", &buf, &len, found, err) < 0)
    return -1;
  return *found ? kk_server_config_parse(buf, len, path, out, err) : 0;
}

int kk_server_default_memory(const struct kk_server_config *file, const char *override, const char *what,
                             int64_t *out, kk_err_t *err) {
  const char *env = getenv("KUKEOND_DEFAULT_MEMORY_LIMIT_BYTES");
  const char *s = override ? override : env && *env ? env : NULL;
  if (override == NULL)
    what = "KUKEOND_DEFAULT_MEMORY_LIMIT_BYTES";
  *out = file->default_memory_limit_bytes.set ? file->default_memory_limit_bytes.v : 0;
  if (s != NULL) {
    bool negative = *s == '-';
    if (kk_parse_quantity_bytes(s + negative, out, err) < 0)
      return kk_error_wrap(err, "%s", what);
    if (negative)
      *out = 0;
  }
  if (*out < 0)
    *out = 0;
  return 0;
}

int kk_client_config_parse(const char *buf, size_t len, const char *file, struct kk_client_config *out,
                           kk_err_t *err) {
  memset(out, 0, sizeof(*out));
  return parse_config(buf, len, file, "ClientConfiguration", &client_spec_schema, out, err);
}

void kk_client_config_free(struct kk_client_config *c) { kk_schema_free(&client_spec_schema, c); }

int kk_server_config_parse(const char *buf, size_t len, const char *file, struct kk_server_config *out,
                           kk_err_t *err) {
  memset(out, 0, sizeof(*out));
  if (parse_config(buf, len, file, "ServerConfiguration", &server_spec_schema, out, err) < 0)
    return -1;
  if ((out->ns_suffix && kk_validate_ns_suffix(out->ns_suffix, err) < 0) ||
      (out->cgroup_root && kk_validate_cgroup_root(out->cgroup_root, err) < 0) ||
      (out->pod_subnet && kk_validate_pod_subnet(out->pod_subnet, err) < 0)) {
    kk_error_wrap(err, "server configuration is invalid (%s)", file);
    kk_server_config_free(out);
    return -1;
  }
  return 0;
}

void kk_server_config_free(struct kk_server_config *c) { kk_schema_free(&server_spec_schema, c); }

int kk_validate_ns_suffix(const char *suffix, kk_err_t *err) {
  size_t n = strlen(suffix);
  bool bad = n == 0 || suffix[0] == '.' || suffix[n - 1] == '.' || strchr(suffix, '/') != NULL;
  for (const char *p = suffix; *p && !bad; p++)
    bad = isspace((unsigned char)*p);
  if (bad)
    return kk_error_kind(err, KK_ERR_INVALID, 0,
                         "namespace suffix \"%s\" is invalid: no leading or trailing dot, no '/' or whitespace", suffix);
  return 0;
}

int kk_validate_cgroup_root(const char *root, kk_err_t *err) {
  if (root[0] != '/' || strcmp(root, "/") == 0 || strstr(root, "..") != NULL || strstr(root, "//") != NULL)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "cgroup root \"%s\" is invalid: must be an absolute path other than /",
                         root);
  return 0;
}

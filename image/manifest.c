/* OCI / Docker schema 2 documents: index, manifest, config.  Strict and
 * bounded: every document is size-capped, duplicate keys are refused,
 * digests and sizes are validated before anything uses them. */
#include <jansson.h>
#include <string.h>
#include <sys/utsname.h>

#include "image/internal.h"

int kk_image_json_load(const char *buf, size_t len, const char *what, json_t **out, kk_err_t *err) {
  if (len > KK_IMAGE_JSON_MAX)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "%s: larger than %u bytes", what, KK_IMAGE_JSON_MAX);
  json_error_t je;
  json_t *j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
  if (j == NULL)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "%s: invalid JSON at line %d: %s", what, je.line, je.text);
  if (!json_is_object(j)) {
    json_decref(j);
    return kk_error_kind(err, KK_ERR_INVALID, 0, "%s: not a JSON object", what);
  }
  *out = j;
  return 0;
}


/* Optional string member: absent/null -> NULL; other types are errors. */
static int get_str(json_t *o, const char *key, const char *what, char **out, kk_err_t *err) {
  json_t *v = json_object_get(o, key);
  *out = NULL;
  if (v == NULL || json_is_null(v))
    return 0;
  if (!json_is_string(v))
    return kk_error_kind(err, KK_ERR_INVALID, 0, "%s: \"%s\" must be a string", what, key);
  const char *s = json_string_value(v);
  if (strlen(s) != json_string_length(v))
    return kk_error_kind(err, KK_ERR_INVALID, 0, "%s: \"%s\" contains a NUL character", what, key);
  *out = kk_xstrdup(s);
  return 0;
}

static int get_strv(json_t *o, const char *key, const char *what, struct kk_strv *out, kk_err_t *err) {
  json_t *v = json_object_get(o, key);
  if (v == NULL || json_is_null(v))
    return 0;
  if (!json_is_array(v))
    return kk_error_kind(err, KK_ERR_INVALID, 0, "%s: \"%s\" must be an array of strings", what, key);
  size_t i;
  json_t *e;
  json_array_foreach(v, i, e) {
    if (!json_is_string(e) || strlen(json_string_value(e)) != json_string_length(e))
      return kk_error_kind(err, KK_ERR_INVALID, 0, "%s: \"%s\"[%zu] must be a string", what, key, i);
    kk_strv_push(out, json_string_value(e));
  }
  return 0;
}

/* {"k": {}} sets (ExposedPorts, Volumes): the keys, sorted. */
static int get_keys(json_t *o, const char *key, const char *what, struct kk_strv *out, kk_err_t *err) {
  json_t *v = json_object_get(o, key);
  if (v == NULL || json_is_null(v))
    return 0;
  if (!json_is_object(v))
    return kk_error_kind(err, KK_ERR_INVALID, 0, "%s: \"%s\" must be an object", what, key);
  const char *k;
  json_t *e;
  json_object_foreach(v, k, e) kk_strv_push(out, k);
  kk_strv_sort(out);
  return 0;
}

static int get_map(json_t *o, const char *key, const char *what, struct kk_map *out, kk_err_t *err) {
  json_t *v = json_object_get(o, key);
  if (v == NULL || json_is_null(v))
    return 0;
  if (!json_is_object(v))
    return kk_error_kind(err, KK_ERR_INVALID, 0, "%s: \"%s\" must be an object of strings", what, key);
  const char *k;
  json_t *e;
  json_object_foreach(v, k, e) {
    if (!json_is_string(e))
      return kk_error_kind(err, KK_ERR_INVALID, 0, "%s: \"%s\".\"%s\" must be a string", what, key, k);
    kk_map_set(out, k, json_string_value(e));
  }
  return 0;
}

void kk_image_platform_free(struct kk_platform *p) {
  free(p->os);
  free(p->architecture);
  free(p->variant);
  free(p->os_version);
  memset(p, 0, sizeof(*p));
}

void kk_image_descriptor_free(struct kk_descriptor *d) {
  free(d->media_type);
  free(d->digest);
  kk_image_platform_free(&d->platform);
  kk_map_free(&d->annotations);
  memset(d, 0, sizeof(*d));
}

static int parse_platform(json_t *v, const char *what, struct kk_platform *p, kk_err_t *err) {
  if (!json_is_object(v))
    return kk_error_kind(err, KK_ERR_INVALID, 0, "%s: \"platform\" must be an object", what);
  if (get_str(v, "os", what, &p->os, err) < 0 || get_str(v, "architecture", what, &p->architecture, err) < 0 ||
      get_str(v, "variant", what, &p->variant, err) < 0 || get_str(v, "os.version", what, &p->os_version, err) < 0)
    return -1;
  return 0;
}

static int parse_descriptor(json_t *v, const char *what, struct kk_descriptor *d, kk_err_t *err) {
  memset(d, 0, sizeof(*d));
  if (!json_is_object(v))
    return kk_error_kind(err, KK_ERR_INVALID, 0, "%s: descriptor must be an object", what);
  if (get_str(v, "mediaType", what, &d->media_type, err) < 0 || get_str(v, "digest", what, &d->digest, err) < 0)
    return -1;
  if (d->digest == NULL)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "%s: descriptor without a digest", what);
  if (!kk_image_digest_valid(d->digest))
    return kk_error_kind(err, KK_ERR_INVALID, 0, "%s: unsupported or malformed digest \"%.80s\" (only sha256)", what,
                         d->digest);
  json_t *size = json_object_get(v, "size");
  if (size == NULL || !json_is_integer(size) || json_integer_value(size) < 0)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "%s: descriptor %s: \"size\" must be a non-negative integer", what,
                         d->digest);
  d->size = (int64_t)json_integer_value(size);
  json_t *plat = json_object_get(v, "platform");
  if (plat && !json_is_null(plat)) {
    d->has_platform = true;
    if (parse_platform(plat, what, &d->platform, err) < 0)
      return -1;
  }
  if (get_map(v, "annotations", what, &d->annotations, err) < 0)
    return -1;
  json_t *urls = json_object_get(v, "urls");
  if (urls && json_is_array(urls))
    d->n_urls = json_array_size(urls);
  return 0;
}

static bool is_schema1(const char *mt) {
  return mt && (strcmp(mt, "application/vnd.docker.distribution.manifest.v1+json") == 0 ||
                strcmp(mt, "application/vnd.docker.distribution.manifest.v1+prettyjws") == 0);
}

static bool is_index_type(const char *mt) {
  return mt && (strcmp(mt, KK_MT_OCI_INDEX) == 0 || strcmp(mt, KK_MT_DOCKER_LIST) == 0);
}

static bool is_manifest_type(const char *mt) {
  return mt && (strcmp(mt, KK_MT_OCI_MANIFEST) == 0 || strcmp(mt, KK_MT_DOCKER_MANIFEST) == 0);
}

int kk_image_manifest_kind_of(const char *content_type, const char *buf, size_t len, enum kk_manifest_kind *out,
                        kk_err_t *err) {
  cleanup_free char *ct = NULL;
  if (content_type) {
    size_t n = strcspn(content_type, "; \t");
    ct = kk_xstrndup(content_type, n);
  }
  if (is_schema1(ct))
    return kk_error_kind(err, KK_ERR_INVALID, 0, "Docker schema 1 manifests are not supported");
  cleanup_json json_t *j = NULL;
  if (kk_image_json_load(buf, len, "manifest", &j, err) < 0)
    return -1;
  json_t *sv = json_object_get(j, "schemaVersion");
  if (sv && json_is_integer(sv) && json_integer_value(sv) == 1)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "Docker schema 1 manifests are not supported");
  const char *mt = json_string_value(json_object_get(j, "mediaType"));
  if (is_schema1(mt))
    return kk_error_kind(err, KK_ERR_INVALID, 0, "Docker schema 1 manifests are not supported");
  const char *decide = mt ? mt : ct;
  if (is_index_type(decide)) {
    *out = KK_MANIFEST_INDEX;
  } else if (is_manifest_type(decide)) {
    *out = KK_MANIFEST_IMAGE;
  } else if (decide == NULL || strcmp(decide, "application/json") == 0 ||
             strcmp(decide, "application/octet-stream") == 0) {
    /* No declared type: the shape tells (image-spec allows omitting it). */
    if (json_object_get(j, "manifests"))
      *out = KK_MANIFEST_INDEX;
    else if (json_object_get(j, "config") && json_object_get(j, "layers"))
      *out = KK_MANIFEST_IMAGE;
    else
      return kk_error_kind(err, KK_ERR_INVALID, 0, "manifest: neither an image index nor an image manifest");
  } else {
    return kk_error_kind(err, KK_ERR_INVALID, 0, "unsupported manifest media type \"%.100s\"", decide);
  }
  return 0;
}

void kk_image_index_free(struct kk_image_index *x) {
  free(x->media_type);
  for (size_t i = 0; i < x->n_manifests; i++)
    kk_image_descriptor_free(&x->manifests[i]);
  free(x->manifests);
  memset(x, 0, sizeof(*x));
}

void kk_image_manifest_free(struct kk_image_manifest *m) {
  free(m->media_type);
  kk_image_descriptor_free(&m->config);
  for (size_t i = 0; i < m->n_layers; i++)
    kk_image_descriptor_free(&m->layers[i]);
  free(m->layers);
  memset(m, 0, sizeof(*m));
}

void kk_image_config_free(struct kk_image_config *c) {
  kk_image_platform_free(&c->platform);
  free(c->user);
  free(c->working_dir);
  free(c->stop_signal);
  kk_strv_free(&c->env);
  kk_strv_free(&c->entrypoint);
  kk_strv_free(&c->cmd);
  kk_strv_free(&c->exposed_ports);
  kk_strv_free(&c->volumes);
  kk_map_free(&c->labels);
  kk_strv_free(&c->diff_ids);
  memset(c, 0, sizeof(*c));
}

static int check_schema_version(json_t *j, const char *what, kk_err_t *err) {
  json_t *sv = json_object_get(j, "schemaVersion");
  if (sv == NULL || !json_is_integer(sv) || json_integer_value(sv) != 2)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "%s: schemaVersion must be 2", what);
  return 0;
}

static int index_parse(json_t *j, struct kk_image_index *out, kk_err_t *err) {
  if (check_schema_version(j, "image index", err) < 0)
    return -1;
  if (get_str(j, "mediaType", "image index", &out->media_type, err) < 0)
    return -1;
  if (out->media_type && !is_index_type(out->media_type))
    return kk_error_kind(err, KK_ERR_INVALID, 0, "image index: unexpected mediaType \"%.100s\"", out->media_type);
  json_t *ms = json_object_get(j, "manifests");
  if (ms == NULL || !json_is_array(ms))
    return kk_error_kind(err, KK_ERR_INVALID, 0, "image index: \"manifests\" must be an array");
  if (json_array_size(ms) > 4096)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "image index: more than 4096 manifests");
  out->manifests = kk_xzalloc((json_array_size(ms) + 1) * sizeof(*out->manifests));
  for (size_t i = 0; i < json_array_size(ms); i++) {
    out->n_manifests = i + 1;
    if (parse_descriptor(json_array_get(ms, i), "image index", &out->manifests[i], err) < 0)
      return -1;
  }
  return 0;
}

int kk_image_index_parse(const char *buf, size_t len, struct kk_image_index *out, kk_err_t *err) {
  memset(out, 0, sizeof(*out));
  cleanup_json json_t *j = NULL;
  if (kk_image_json_load(buf, len, "image index", &j, err) < 0)
    return -1;
  if (index_parse(j, out, err) < 0) {
    kk_image_index_free(out);
    return -1;
  }
  return 0;
}

bool kk_image_layer_media_type_ok(const char *mt) {
  static const char *ok[] = {
      KK_MT_OCI_LAYER,
      KK_MT_OCI_LAYER_GZIP,
      KK_MT_OCI_LAYER_ZSTD,
      KK_MT_DOCKER_LAYER_GZIP,
      "application/vnd.docker.image.rootfs.diff.tar",
      "application/vnd.oci.image.layer.nondistributable.v1.tar",
      "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
      "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
  };
  if (mt == NULL)
    return false;
  for (size_t i = 0; i < KK_ARRAY_SIZE(ok); i++)
    if (strcmp(mt, ok[i]) == 0)
      return true;
  return false;
}

static int manifest_parse(json_t *j, struct kk_image_manifest *out, kk_err_t *err) {
  json_t *sv = json_object_get(j, "schemaVersion");
  if (sv && json_is_integer(sv) && json_integer_value(sv) == 1)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "Docker schema 1 manifests are not supported");
  if (check_schema_version(j, "image manifest", err) < 0)
    return -1;
  if (get_str(j, "mediaType", "image manifest", &out->media_type, err) < 0)
    return -1;
  if (out->media_type && !is_manifest_type(out->media_type))
    return kk_error_kind(err, KK_ERR_INVALID, 0, "image manifest: unexpected mediaType \"%.100s\"", out->media_type);
  json_t *cfg = json_object_get(j, "config");
  if (cfg == NULL)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "image manifest: no \"config\"");
  if (parse_descriptor(cfg, "image manifest config", &out->config, err) < 0)
    return -1;
  if (out->config.size > (int64_t)KK_IMAGE_JSON_MAX)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "image manifest: config larger than %u bytes", KK_IMAGE_JSON_MAX);
  json_t *ls = json_object_get(j, "layers");
  if (ls == NULL || !json_is_array(ls))
    return kk_error_kind(err, KK_ERR_INVALID, 0, "image manifest: \"layers\" must be an array");
  if (json_array_size(ls) > 500)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "image manifest: more than 500 layers");
  out->layers = kk_xzalloc((json_array_size(ls) + 1) * sizeof(*out->layers));
  for (size_t i = 0; i < json_array_size(ls); i++) {
    out->n_layers = i + 1;
    if (parse_descriptor(json_array_get(ls, i), "image manifest layer", &out->layers[i], err) < 0)
      return -1;
  }
  return 0;
}

int kk_image_manifest_parse(const char *buf, size_t len, struct kk_image_manifest *out, kk_err_t *err) {
  memset(out, 0, sizeof(*out));
  cleanup_json json_t *j = NULL;
  if (kk_image_json_load(buf, len, "image manifest", &j, err) < 0)
    return -1;
  if (manifest_parse(j, out, err) < 0) {
    kk_image_manifest_free(out);
    return -1;
  }
  return 0;
}

static int config_parse(json_t *j, struct kk_image_config *out, kk_err_t *err) {
  const char *what = "image config";
  cleanup_free char *created = NULL;
  if (get_str(j, "os", what, &out->platform.os, err) < 0 ||
      get_str(j, "architecture", what, &out->platform.architecture, err) < 0 ||
      get_str(j, "variant", what, &out->platform.variant, err) < 0 ||
      get_str(j, "os.version", what, &out->platform.os_version, err) < 0 ||
      get_str(j, "created", what, &created, err) < 0)
    return -1;
  if (created) {
    /* RFC 3339 with optional fraction and offset; keep the seconds. */
    char buf2[32];
    size_t n = strlen(created);
    if (n >= 19 && n < 64) {
      memcpy(buf2, created, 19);
      buf2[19] = 'Z';
      buf2[20] = '\0';
      int64_t t = 0;
      if (kk_time_parse(buf2, &t) == 0)
        out->created = t;
    }
  }
  json_t *c = json_object_get(j, "config");
  if (c && !json_is_null(c)) {
    if (!json_is_object(c))
      return kk_error_kind(err, KK_ERR_INVALID, 0, "%s: \"config\" must be an object", what);
    if (get_str(c, "User", what, &out->user, err) < 0 || get_str(c, "WorkingDir", what, &out->working_dir, err) < 0 ||
        get_str(c, "StopSignal", what, &out->stop_signal, err) < 0 || get_strv(c, "Env", what, &out->env, err) < 0 ||
        get_strv(c, "Entrypoint", what, &out->entrypoint, err) < 0 || get_strv(c, "Cmd", what, &out->cmd, err) < 0 ||
        get_keys(c, "ExposedPorts", what, &out->exposed_ports, err) < 0 ||
        get_keys(c, "Volumes", what, &out->volumes, err) < 0 || get_map(c, "Labels", what, &out->labels, err) < 0)
      return -1;
  }
  json_t *rootfs = json_object_get(j, "rootfs");
  if (rootfs == NULL || !json_is_object(rootfs))
    return kk_error_kind(err, KK_ERR_INVALID, 0, "%s: no \"rootfs\"", what);
  const char *type = json_string_value(json_object_get(rootfs, "type"));
  if (type == NULL || strcmp(type, "layers") != 0)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "%s: rootfs.type must be \"layers\"", what);
  if (get_strv(rootfs, "diff_ids", what, &out->diff_ids, err) < 0)
    return -1;
  for (size_t i = 0; i < out->diff_ids.n; i++)
    if (!kk_image_digest_valid(out->diff_ids.v[i]))
      return kk_error_kind(err, KK_ERR_INVALID, 0, "%s: rootfs.diff_ids[%zu]: unsupported or malformed digest", what, i);
  return 0;
}

int kk_image_config_parse(const char *buf, size_t len, struct kk_image_config *out, kk_err_t *err) {
  memset(out, 0, sizeof(*out));
  cleanup_json json_t *j = NULL;
  if (kk_image_json_load(buf, len, "image config", &j, err) < 0)
    return -1;
  if (config_parse(j, out, err) < 0) {
    kk_image_config_free(out);
    return -1;
  }
  return 0;
}

/* ------------------------------------------------------------- platform */

void kk_image_platform_host(struct kk_platform *out) {
  memset(out, 0, sizeof(*out));
  struct utsname u;
  const char *arch = "amd64", *variant = NULL;
  if (uname(&u) == 0) {
    static const struct {
      const char *machine, *arch, *variant;
    } map[] = {
        {"x86_64", "amd64", NULL},   {"aarch64", "arm64", "v8"}, {"armv7l", "arm", "v7"}, {"armv6l", "arm", "v6"},
        {"i686", "386", NULL},       {"i386", "386", NULL},      {"ppc64le", "ppc64le", NULL},
        {"s390x", "s390x", NULL},    {"riscv64", "riscv64", NULL},
    };
    arch = u.machine;
    for (size_t i = 0; i < KK_ARRAY_SIZE(map); i++)
      if (strcmp(u.machine, map[i].machine) == 0) {
        arch = map[i].arch;
        variant = map[i].variant;
      }
  }
  out->os = kk_xstrdup("linux");
  out->architecture = kk_xstrdup(arch);
  out->variant = kk_xstrdup(variant);
}

int kk_image_platform_parse(const char *s, struct kk_platform *out, kk_err_t *err) {
  memset(out, 0, sizeof(*out));
  cleanup_free char *copy = kk_xstrdup(s);
  char *parts[4] = {0};
  int n = 0;
  char *save = NULL;
  for (char *t = strtok_r(copy, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
    if (n == 3)
      return kk_error_kind(err, KK_ERR_INVALID, 0, "invalid platform \"%s\": expected os/arch[/variant]", s);
    parts[n++] = t;
  }
  if (n < 2)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "invalid platform \"%s\": expected os/arch[/variant]", s);
  out->os = kk_xstrdup(parts[0]);
  out->architecture = kk_xstrdup(parts[1]);
  out->variant = kk_xstrdup(parts[2]);
  return 0;
}

char *kk_image_platform_string(const struct kk_platform *p) {
  return kk_asprintf("%s/%s%s%s", p->os ? p->os : "?", p->architecture ? p->architecture : "?",
                     p->variant ? "/" : "", p->variant ? p->variant : "");
}

bool kk_image_platform_match(const struct kk_platform *want, const struct kk_platform *have) {
  if (!kk_streq(want->os, have->os) || !kk_streq(want->architecture, have->architecture))
    return false;
  if (want->variant == NULL || have->variant == NULL) {
    /* arm64 images rarely name v8; arm needs the variant to be exact only
     * when both say one. */
    return true;
  }
  return strcmp(want->variant, have->variant) == 0;
}

const struct kk_descriptor *kk_image_index_select(const struct kk_image_index *x, const struct kk_platform *want) {
  for (size_t i = 0; i < x->n_manifests; i++) {
    const struct kk_descriptor *d = &x->manifests[i];
    if (!is_manifest_type(d->media_type) && d->media_type != NULL)
      continue; /* attestations, nested indexes, unknown types: skipped */
    if (!d->has_platform)
      continue;
    if (kk_image_platform_match(want, &d->platform))
      return d;
  }
  return NULL;
}

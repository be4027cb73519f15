/* kuke image load: OCI archives, OCI layout directories, docker-archive
 * tarballs.  Archives are read in one streaming pass: blob members go
 * straight into the store (verified against their names), small JSON
 * members are kept in memory, other files (docker-archive layers) are
 * stored under the digest of their content.  Then the index.json or
 * manifest.json says what the images are. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/fs.h"
#include "image/internal.h"
#include "image/libs.h"

#define MEM_TOTAL_MAX (64u << 20)
#define MAX_MEMBERS 100000

struct member {
  char *name;
  char *digest;  /* stored blob, or NULL */
  int64_t size;
  char *data;    /* small JSON kept in memory, or NULL */
  size_t len;
  char *alias;   /* symlink / hardlink member: the member it points to */
  char magic[4]; /* first bytes, for a layer's compression */
};

struct archive_index {
  struct member *m;
  size_t n;
  size_t mem_total;
};

static void members_free(struct archive_index *x) {
  for (size_t i = 0; i < x->n; i++) {
    free(x->m[i].name);
    free(x->m[i].digest);
    free(x->m[i].data);
    free(x->m[i].alias);
  }
  free(x->m);
  memset(x, 0, sizeof(*x));
}

static struct member *member_find(struct archive_index *x, const char *name) {
  cleanup_free char *clean = NULL;
  kk_err_t e = NULL;
  if (kk_image_unpack_clean_path(name, &clean, &e) < 0) {
    kk_error_free(&e);
    return NULL;
  }
  for (int hops = 0; hops < 8; hops++) {
    struct member *hit = NULL;
    for (size_t i = 0; i < x->n && !hit; i++)
      if (strcmp(x->m[i].name, clean) == 0)
        hit = &x->m[i];
    if (hit == NULL || hit->alias == NULL)
      return hit;
    free(clean);
    clean = kk_xstrdup(hit->alias);
  }
  return NULL;
}

static bool is_blob_path(const char *name, const char **hex) {
  if (!kk_has_prefix(name, "blobs/sha256/"))
    return false;
  const char *h = name + strlen("blobs/sha256/");
  cleanup_free char *d = kk_asprintf("sha256:%s", h);
  if (!kk_image_digest_valid(d))
    return false;
  *hex = h;
  return true;
}

static bool keep_in_memory(const char *name, int64_t size) {
  if (size > (int64_t)KK_IMAGE_JSON_MAX)
    return false;
  const char *base = strrchr(name, '/');
  base = base ? base + 1 : name;
  return strcmp(name, "oci-layout") == 0 || strcmp(name, "index.json") == 0 || strcmp(name, "manifest.json") == 0 ||
         strcmp(name, "repositories") == 0 || (kk_has_suffix(base, ".json") && strchr(name, '/') == NULL);
}

static bool ignorable(const char *name) {
  const char *base = strrchr(name, '/');
  base = base ? base + 1 : name;
  return strchr(name, '/') && (strcmp(base, "json") == 0 || strcmp(base, "VERSION") == 0);
}

/* Resolve a symlink member's target relative to its directory. */
static char *alias_path(const char *member, const char *target, bool hardlink) {
  if (hardlink || target[0] == '/')
    return kk_xstrdup(target + (target[0] == '/'));
  const char *slash = strrchr(member, '/');
  struct kk_strv parts = {0};
  cleanup_free char *dir = slash ? kk_xstrndup(member, (size_t)(slash - member)) : kk_xstrdup("");
  cleanup_free char *joined = *dir ? kk_asprintf("%s/%s", dir, target) : kk_xstrdup(target);
  char *save = NULL;
  for (char *t = strtok_r(joined, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
    if (strcmp(t, ".") == 0 || *t == '\0')
      continue;
    if (strcmp(t, "..") == 0) {
      if (parts.n > 0) {
        free(parts.v[--parts.n]);
        parts.v[parts.n] = NULL;
      }
      continue;
    }
    kk_strv_push(&parts, t);
  }
  char *out = kk_strv_join(&parts, "/");
  kk_strv_free(&parts);
  return out;
}

static int read_member(const struct kk_archive_api *ar, struct archive *a, struct archive_entry *e,
                       struct kk_image_store *s, const char *name, struct archive_index *x, kk_err_t *err) {
  struct member m = {.name = kk_xstrdup(name), .size = ar->entry_size(e)};
  const char *hex = NULL;
  int rc = 0;
  if (ar->entry_hardlink(e) || ar->entry_filetype(e) == AE_IFLNK) {
    bool hard = ar->entry_hardlink(e) != NULL;
    const char *t = hard ? ar->entry_hardlink(e) : ar->entry_symlink(e);
    m.alias = alias_path(name, t ? t : "", hard);
  } else if (keep_in_memory(name, m.size)) {
    if (x->mem_total + (size_t)m.size > MEM_TOTAL_MAX) {
      rc = kk_error_kind(err, KK_ERR_INVALID, 0, "archive holds more than %u bytes of JSON", MEM_TOTAL_MAX);
    } else {
      m.data = kk_xmalloc((size_t)m.size + 1);
      la_ssize_t r = m.size > 0 ? ar->read_data(a, m.data, (size_t)m.size) : 0;
      if (r != m.size)
        rc = kk_error_kind(err, KK_ERR_INVALID, 0, "read %s: %s", name, r < 0 ? ar->error_string(a) : "truncated");
      m.data[m.size > 0 ? m.size : 0] = '\0';
      m.len = (size_t)m.size;
      x->mem_total += (size_t)m.size;
    }
  } else if (ignorable(name)) {
    /* docker-archive's legacy per-layer json/VERSION */
  } else {
    cleanup_free char *expected = is_blob_path(name, &hex) ? kk_asprintf("sha256:%s", hex) : NULL;
    struct kk_blob_writer *w = NULL;
    rc = kk_image_writer_open(s, expected, m.size, &w, err);
    /* Already stored: still check the member, a corrupt archive is an error. */
    struct kk_sha256 h = {0};
    bool verify = rc == 0 && kk_image_writer_present(w);
    if (verify && kk_image_sha256_init(&h, err) < 0) {
      rc = -1;
      verify = false;
    }
    size_t have_magic = 0;
    while (rc == 0) {
      const void *buf;
      size_t len;
      la_int64_t off;
      int r = ar->read_data_block(a, &buf, &len, &off);
      if (r == ARCHIVE_EOF)
        break;
      if (r < ARCHIVE_WARN) {
        rc = kk_error_kind(err, KK_ERR_INVALID, 0, "read %s: %s", name, ar->error_string(a));
        break;
      }
      if (have_magic < sizeof(m.magic)) {
        size_t k = len < sizeof(m.magic) - have_magic ? len : sizeof(m.magic) - have_magic;
        memcpy(m.magic + have_magic, buf, k);
        have_magic += k;
      }
      if (verify) {
        kk_image_sha256_update(&h, buf, len);
        continue;
      }
      rc = kk_image_writer_write(w, buf, len, err);
    }
    if (verify) {
      cleanup_free char *got = kk_image_sha256_final(&h);
      kk_image_sha256_free(&h);
      if (rc == 0 && strcmp(got, expected) != 0)
        rc = kk_error_kind(err, KK_ERR_INVALID, 0, "blob %s: digest mismatch (content hashes to %s)", expected, got);
    }
    if (rc == 0)
      rc = kk_image_writer_commit(w, &m.digest, &m.size, err);
    if (w)
      kk_image_writer_free(w, false);
    if (rc < 0)
      kk_error_wrap(err, "archive member %s", name);
  }
  if (rc < 0) {
    free(m.name);
    free(m.data);
    free(m.alias);
    free(m.digest);
    return -1;
  }
  x->m = kk_xrealloc(x->m, (x->n + 1) * sizeof(*x->m));
  x->m[x->n++] = m;
  return 0;
}

/* A stream read for a client that may leave: each read waits for the
 * stream or for cancel_fd (the client's connection) to stir, so a client
 * that hangs up does not leave the reader blocked on a pipe it keeps. */
struct cancellable {
  const struct kk_archive_api *ar;
  int fd, cancel_fd;
  char buf[1 << 16];
};

static la_ssize_t cancellable_read(struct archive *a, void *arg, const void **out) {
  struct cancellable *c = arg;
  struct pollfd p[2] = {{c->fd, POLLIN, 0}, {c->cancel_fd, POLLIN, 0}};
  for (;;) {
    int r = poll(p, 2, -1);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0) {
      c->ar->set_error(a, errno, "poll");
      return -1;
    }
    if (p[1].revents) {
      c->ar->set_error(a, ECONNRESET, "the client left");
      return -1;
    }
    ssize_t n = read(c->fd, c->buf, sizeof(c->buf));
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
      continue;
    if (n < 0) {
      c->ar->set_error(a, errno, "read");
      return -1;
    }
    *out = c->buf;
    return n;
  }
}

static int scan_archive(struct kk_image_store *s, int fd, const int *cancel_fd, struct archive_index *x,
                        kk_err_t *err) {
  const struct kk_archive_api *ar = kk_image_libarchive(err);
  if (ar == NULL)
    return -1;
  cleanup_free struct cancellable *c = NULL;
  if (cancel_fd) {
    c = kk_xmalloc(sizeof(*c));
    *c = (struct cancellable){.ar = ar, .fd = fd, .cancel_fd = *cancel_fd};
  }
  struct archive *a = ar->read_new();
  ar->read_support_filter_gzip(a);
  ar->read_support_filter_zstd(a);
  ar->read_support_filter_xz(a);
  ar->read_support_filter_bzip2(a);
  ar->read_support_format_tar(a);
  int rc = 0;
  struct archive_entry *e;
  if ((c ? ar->read_open(a, c, NULL, cancellable_read, NULL) : ar->read_open_fd(a, fd, 1 << 20)) != ARCHIVE_OK) {
    rc = kk_error_kind(err, KK_ERR_INVALID, 0, "not a tar archive: %s", ar->error_string(a));
    goto out;
  }
  for (;;) {
    int r = ar->read_next_header(a, &e);
    if (r == ARCHIVE_EOF)
      break;
    if (r < ARCHIVE_WARN) {
      rc = kk_error_kind(err, KK_ERR_INVALID, 0, "invalid archive: %s", ar->error_string(a));
      goto out;
    }
    if (x->n >= MAX_MEMBERS) {
      rc = kk_error_kind(err, KK_ERR_INVALID, 0, "archive has more than %d members", MAX_MEMBERS);
      goto out;
    }
    mode_t type = ar->entry_filetype(e);
    if (type == AE_IFDIR)
      continue;
    if (type != AE_IFREG && type != AE_IFLNK && ar->entry_hardlink(e) == NULL)
      continue;
    cleanup_free char *name = NULL;
    if (kk_image_unpack_clean_path(ar->entry_pathname(e), &name, err) < 0) {
      rc = kk_error_wrap(err, "archive member");
      goto out;
    }
    if (read_member(ar, a, e, s, name, x, err) < 0) {
      rc = -1;
      goto out;
    }
  }
out:
  ar->read_free(a);
  return rc;
}

/* ------------------------------------------------------------ naming */

static bool bare_tag(const char *s) { return strpbrk(s, "/:@") == NULL; }

/* A ref that is only a tag ("latest", as umoci writes) names no image:
 * the tag goes on the repository of --name, and without --name the image
 * is skipped once it is otherwise loadable (skip_unnamed). */
static bool needs_name(const char *ref, const struct kk_image_load_opts *opts) {
  return bare_tag(ref) && opts->name == NULL;
}

/* A ref as the archive gives it (an index annotation or a RepoTags entry),
 * normalized; a bare tag on the repository of --name. */
static char *name_ref(const char *ref, const struct kk_image_load_opts *opts, kk_err_t *err) {
  if (!bare_tag(ref) || opts->name == NULL)
    return kk_image_ref_normalize(ref, err);
  struct kk_image_ref r;
  if (kk_image_ref_parse(opts->name, &r, err) < 0)
    return NULL;
  char *name = kk_asprintf("%s/%s:%s", r.domain, r.path, ref);
  kk_image_ref_free(&r);
  return name;
}

/* The reference a manifest gets, or NULL: skipped, or (*tag_only) named
 * only by a tag. */
static char *name_for(const struct kk_map *ann, const struct kk_image_load_opts *opts, const char **tag_only,
                      kk_err_t *err) {
  const char *full = kk_map_get(ann, "io.containerd.image.name");
  const char *ref = kk_map_get(ann, KK_ANNOTATION_REF_NAME);
  *tag_only = NULL;
  if (full)
    return kk_image_ref_normalize(full, err);
  if (ref && needs_name(ref, opts)) {
    *tag_only = ref;
    return NULL;
  }
  if (ref)
    return name_ref(ref, opts, err);
  if (opts->name)
    return kk_image_ref_normalize(opts->name, err);
  return NULL;
}

/* An archive whose only refs are tags, loaded without --name, is refused
 * rather than guessing a name (docker.io/library/latest:latest). */
static int require_names(const struct kk_image_load_result *out, kk_err_t *err) {
  if (out->refs.n > 0 || out->bare_tag == NULL)
    return 0;
  return kk_error_kind(err, KK_ERR_INVALID, 0,
                       "the archive names its image only by the tag \"%s\": give it a name with --name "
                       "(for example --name example.com/app)",
                       out->bare_tag);
}

/* ------------------------------------------------------------ OCI index */

/* Source of blobs while loading: the store (archives) or a layout dir. */
struct source {
  struct kk_image_store *s;
  int dirfd; /* layout directory, or -1 */
};

/* Make sure digest is in the store (copying it from the layout dir). */
static int source_fetch(struct source *src, const char *digest, int64_t size, kk_err_t *err) {
  if (kk_image_blob_exists(src->s, digest))
    return 0;
  if (src->dirfd < 0)
    return kk_error_kind(err, KK_ERR_NOT_FOUND, 0, "blob %s is not in the archive", digest);
  cleanup_free char *p = kk_asprintf("blobs/sha256/%s", kk_image_digest_hex(digest));
  cleanup_close int fd = openat(src->dirfd, p, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return kk_error(err, errno, "blob %s is not in the layout", digest);
  struct kk_blob_writer *w = NULL;
  if (kk_image_writer_open(src->s, digest, size, &w, err) < 0)
    return -1;
  int rc = 0;
  char *buf = kk_xmalloc(1 << 20);
  while (rc == 0 && !kk_image_writer_present(w)) {
    ssize_t r = read(fd, buf, 1 << 20);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0)
      rc = kk_error(err, errno, "read blob %s", digest);
    if (r <= 0)
      break;
    rc = kk_image_writer_write(w, buf, (size_t)r, err);
  }
  free(buf);
  if (rc == 0)
    rc = kk_image_writer_commit(w, NULL, NULL, err);
  kk_image_writer_free(w, false);
  return rc;
}

static int source_read(struct source *src, const char *digest, int64_t size, char **out, size_t *len, kk_err_t *err) {
  if (size > (int64_t)KK_IMAGE_JSON_MAX)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "document %s larger than %u bytes", digest, KK_IMAGE_JSON_MAX);
  if (source_fetch(src, digest, size, err) < 0)
    return -1;
  return kk_image_blob_read(src->s, digest, KK_IMAGE_JSON_MAX, out, len, err);
}

static void skip(struct kk_image_load_result *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void skip(struct kk_image_load_result *out, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  kk_strv_push_owned(&out->skipped, kk_vasprintf(fmt, ap));
  va_end(ap);
}

static void skip_unnamed(struct kk_image_load_result *out, const char *what, const char *tag) {
  if (out->bare_tag == NULL)
    out->bare_tag = kk_xstrdup(tag);
  skip(out, "%s: ref \"%s\" is only a tag, not an image name (use --name)", what, tag);
}

/* One index.json descriptor: resolve platform, fetch blobs, tag. */
static int load_descriptor(struct source *src, const char *ns, const struct kk_descriptor *d,
                           const struct kk_platform *want, const struct kk_image_load_opts *opts,
                           struct kk_image_load_result *out, kk_err_t *err) {
  kk_err_t e = NULL;
  const char *tag_only = NULL;
  cleanup_free char *name = name_for(&d->annotations, opts, &tag_only, &e);
  if (name == NULL && tag_only == NULL) {
    skip(out, "%s: %s", d->digest, e ? e->msg : "no name (annotate it or use --name)");
    kk_error_free(&e);
    return 0;
  }
  const char *label = name ? name : tag_only; /* in messages */
  cleanup_free char *buf = NULL;
  size_t len = 0;
  if (source_read(src, d->digest, d->size, &buf, &len, err) < 0)
    return kk_error_wrap(err, "%s", label);
  enum kk_manifest_kind kind;
  if (kk_image_manifest_kind_of(d->media_type, buf, len, &kind, err) < 0)
    return kk_error_wrap(err, "%s", label);
  cleanup_free char *manifest_digest = kk_xstrdup(d->digest);
  cleanup_free char *index_digest = NULL;
  if (kind == KK_MANIFEST_INDEX) {
    struct kk_image_index x;
    if (kk_image_index_parse(buf, len, &x, err) < 0)
      return kk_error_wrap(err, "%s", label);
    /* Skip platforms whose blobs the archive lacks. */
    const struct kk_descriptor *pick = NULL;
    for (size_t i = 0; i < x.n_manifests && !pick; i++) {
      const struct kk_descriptor *c = &x.manifests[i];
      if (!c->has_platform || !kk_image_platform_match(want, &c->platform))
        continue;
      if (source_fetch(src, c->digest, c->size, &e) == 0)
        pick = c;
      kk_error_free(&e);
    }
    if (pick == NULL) {
      cleanup_free char *p = kk_image_platform_string(want);
      skip(out, "%s: no manifest for %s in the archive", label, p);
      kk_image_index_free(&x);
      return 0;
    }
    index_digest = kk_steal(&manifest_digest);
    manifest_digest = kk_xstrdup(pick->digest);
    int64_t sz = pick->size;
    kk_image_index_free(&x);
    free(buf);
    buf = NULL;
    if (source_read(src, manifest_digest, sz, &buf, &len, err) < 0)
      return kk_error_wrap(err, "%s", label);
  }
  struct kk_image_manifest m;
  if (kk_image_manifest_parse(buf, len, &m, err) < 0)
    return kk_error_wrap(err, "%s", label);
  int rc = source_fetch(src, m.config.digest, m.config.size, err);
  if (rc == 0 && opts->platform && index_digest == NULL) {
    /* A single-platform image when a platform was asked for: its config says. */
    cleanup_free char *cbuf = NULL;
    size_t clen = 0;
    struct kk_image_config c;
    if (kk_image_blob_read(src->s, m.config.digest, KK_IMAGE_JSON_MAX, &cbuf, &clen, err) < 0 ||
        kk_image_config_parse(cbuf, clen, &c, err) < 0) {
      kk_image_manifest_free(&m);
      return kk_error_wrap(err, "%s", label);
    }
    bool ok = c.platform.architecture == NULL || kk_image_platform_match(want, &c.platform);
    if (!ok) {
      cleanup_free char *have = kk_image_platform_string(&c.platform), *w = kk_image_platform_string(want);
      skip(out, "%s: platform %s, not %s", label, have, w);
    }
    kk_image_config_free(&c);
    if (!ok) {
      kk_image_manifest_free(&m);
      return 0;
    }
  }
  for (size_t i = 0; rc == 0 && i < m.n_layers; i++)
    rc = source_fetch(src, m.layers[i].digest, m.layers[i].size, err);
  kk_image_manifest_free(&m);
  if (rc < 0) {
    skip(out, "%s: %s", label, (*err)->msg);
    kk_error_free(err);
    return 0;
  }
  if (name == NULL) {
    skip_unnamed(out, d->digest, tag_only);
    return 0;
  }
  if (kk_image_tag(src->s, ns, name, manifest_digest, index_digest, err) < 0)
    return -1;
  kk_strv_push(&out->refs, name);
  return 0;
}

static int load_oci_index(struct source *src, const char *ns, const char *buf, size_t len,
                          const struct kk_image_load_opts *opts, struct kk_image_load_result *out, kk_err_t *err) {
  struct kk_image_index x;
  if (kk_image_index_parse(buf, len, &x, err) < 0)
    return kk_error_wrap(err, "index.json");
  struct kk_platform host = {0};
  const struct kk_platform *want = opts->platform;
  if (want == NULL) {
    kk_image_platform_host(&host);
    want = &host;
  }
  int rc = 0;
  for (size_t i = 0; i < x.n_manifests && rc == 0; i++) {
    const struct kk_descriptor *d = &x.manifests[i];
    /* A platform-specific entry for another platform is skipped. */
    if (d->has_platform && d->platform.architecture && !kk_image_platform_match(want, &d->platform)) {
      cleanup_free char *p = kk_image_platform_string(&d->platform);
      skip(out, "%s: platform %s", d->digest, p);
      continue;
    }
    rc = load_descriptor(src, ns, d, want, opts, out, err);
  }
  kk_image_platform_free(&host);
  kk_image_index_free(&x);
  return rc;
}

/* ------------------------------------------------------- docker-archive */

static const char *layer_type(const char magic[4]) {
  if ((unsigned char)magic[0] == 0x1f && (unsigned char)magic[1] == 0x8b)
    return KK_MT_OCI_LAYER_GZIP;
  if ((unsigned char)magic[0] == 0x28 && (unsigned char)magic[1] == 0xb5 && (unsigned char)magic[2] == 0x2f &&
      (unsigned char)magic[3] == 0xfd)
    return KK_MT_OCI_LAYER_ZSTD;
  return KK_MT_OCI_LAYER;
}

static int docker_entry(struct kk_image_store *s, const char *ns, struct archive_index *x, json_t *ent,
                        const struct kk_image_load_opts *opts, struct kk_image_load_result *out, kk_err_t *err) {
  const char *cfg_name = json_string_value(json_object_get(ent, "Config"));
  json_t *layers = json_object_get(ent, "Layers");
  json_t *tags = json_object_get(ent, "RepoTags");
  if (cfg_name == NULL || !json_is_array(layers))
    return kk_error_kind(err, KK_ERR_INVALID, 0, "manifest.json: an entry lacks Config or Layers");
  struct member *cm = member_find(x, cfg_name);
  if (cm == NULL)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "manifest.json: config %s is not in the archive", cfg_name);
  cleanup_free char *cfg_digest = NULL;
  int64_t cfg_size = 0;
  if (cm->data) {
    if (kk_image_digest(cm->data, cm->len, &cfg_digest, err) < 0)
      return -1;
    /* <hex>.json must hash to its name. */
    const char *base = strrchr(cm->name, '/');
    base = base ? base + 1 : cm->name;
    if (strlen(base) == 64 + 5 && strncmp(base, kk_image_digest_hex(cfg_digest), 64) != 0)
      return kk_error_kind(err, KK_ERR_INVALID, 0, "config %s: content hashes to %s", cm->name, cfg_digest);
    if (kk_image_blob_put(s, cfg_digest, cm->data, cm->len, NULL, err) < 0)
      return -1;
    cfg_size = (int64_t)cm->len;
  } else if (cm->digest) {
    cfg_digest = kk_xstrdup(cm->digest);
    cfg_size = cm->size;
  } else {
    return kk_error_kind(err, KK_ERR_INVALID, 0, "config %s is not readable", cfg_name);
  }
  json_t *man = json_object();
  json_object_set_new(man, "schemaVersion", json_integer(2));
  json_object_set_new(man, "mediaType", json_string(KK_MT_OCI_MANIFEST));
  json_t *cd = json_object();
  json_object_set_new(cd, "mediaType", json_string(KK_MT_OCI_CONFIG));
  json_object_set_new(cd, "digest", json_string(cfg_digest));
  json_object_set_new(cd, "size", json_integer(cfg_size));
  json_object_set_new(man, "config", cd);
  json_t *la = json_array();
  json_object_set_new(man, "layers", la);
  size_t i;
  json_t *l;
  json_array_foreach(layers, i, l) {
    const char *ln = json_string_value(l);
    struct member *lm = ln ? member_find(x, ln) : NULL;
    if (lm == NULL || lm->digest == NULL) {
      json_decref(man);
      return kk_error_kind(err, KK_ERR_INVALID, 0, "manifest.json: layer %s is not in the archive", ln ? ln : "?");
    }
    json_t *ld = json_object();
    json_object_set_new(ld, "mediaType", json_string(layer_type(lm->magic)));
    json_object_set_new(ld, "digest", json_string(lm->digest));
    json_object_set_new(ld, "size", json_integer(lm->size));
    json_array_append_new(la, ld);
  }
  cleanup_free char *text = json_dumps(man, JSON_COMPACT);
  json_decref(man);
  cleanup_free char *mdigest = NULL;
  if (kk_image_blob_put(s, NULL, text, strlen(text), &mdigest, err) < 0)
    return -1;
  size_t n_tags = json_is_array(tags) ? json_array_size(tags) : 0;
  if (n_tags == 0) {
    if (opts->name == NULL) {
      skip(out, "%s: no RepoTags (use --name)", cfg_digest);
      return 0;
    }
    cleanup_free char *name = kk_image_ref_normalize(opts->name, err);
    if (name == NULL || kk_image_tag(s, ns, name, mdigest, NULL, err) < 0)
      return -1;
    kk_strv_push(&out->refs, name);
    return 0;
  }
  json_array_foreach(tags, i, l) {
    const char *t = json_string_value(l);
    kk_err_t e = NULL;
    if (t && needs_name(t, opts)) {
      skip_unnamed(out, cfg_digest, t);
      continue;
    }
    cleanup_free char *name = t ? name_ref(t, opts, &e) : NULL;
    if (name == NULL) {
      skip(out, "%s: %s", t ? t : "?", e ? e->msg : "not a string");
      kk_error_free(&e);
      continue;
    }
    if (kk_image_tag(s, ns, name, mdigest, NULL, err) < 0)
      return -1;
    kk_strv_push(&out->refs, name);
  }
  return 0;
}

static int load_docker(struct kk_image_store *s, const char *ns, struct archive_index *x, const struct member *mj,
                       const struct kk_image_load_opts *opts, struct kk_image_load_result *out, kk_err_t *err) {
  json_error_t je;
  cleanup_json json_t *j = json_loadb(mj->data, mj->len, JSON_REJECT_DUPLICATES, &je);
  if (j == NULL || !json_is_array(j))
    return kk_error_kind(err, KK_ERR_INVALID, 0, "manifest.json: %s", j ? "not an array" : je.text);
  size_t i;
  json_t *ent;
  json_array_foreach(j, i, ent) {
    if (docker_entry(s, ns, x, ent, opts, out, err) < 0)
      return -1;
  }
  return 0;
}

/* ------------------------------------------------------------ entry points */

void kk_image_load_result_free(struct kk_image_load_result *r) {
  kk_strv_free(&r->refs);
  kk_strv_free(&r->skipped);
  free(r->bare_tag);
  r->bare_tag = NULL;
}

/* What every entry point does first: an empty result, default options, a
 * valid namespace. */
static int load_begin(const char *ns, const struct kk_image_load_opts **opts, struct kk_image_load_result *out,
                      kk_err_t *err) {
  static const struct kk_image_load_opts defaults = {0};
  memset(out, 0, sizeof(*out));
  if (*opts == NULL)
    *opts = &defaults;
  return kk_image_namespace_validate(ns, err);
}

int kk_image_load_fd(struct kk_image_store *s, const char *ns, int fd, const struct kk_image_load_opts *opts,
                     struct kk_image_load_result *out, kk_err_t *err) {
  if (load_begin(ns, &opts, out, err) < 0)
    return -1;
  cleanup_close int lock = kk_image_gc_lock(s, false, err);
  if (lock < 0)
    return -1;
  struct archive_index x = {0};
  int rc = scan_archive(s, fd, opts->cancel_fd, &x, err);
  if (rc == 0) {
    struct member *idx = member_find(&x, "index.json");
    struct member *mj = member_find(&x, "manifest.json");
    struct source src = {.s = s, .dirfd = -1};
    if (idx && idx->data)
      rc = load_oci_index(&src, ns, idx->data, idx->len, opts, out, err);
    else if (mj && mj->data)
      rc = load_docker(s, ns, &x, mj, opts, out, err);
    else
      rc = kk_error_kind(err, KK_ERR_INVALID, 0,
                         "not an image archive: no index.json (OCI) or manifest.json (docker-archive)");
    if (rc == 0)
      rc = require_names(out, err);
  }
  members_free(&x);
  if (rc < 0) {
    kk_image_load_result_free(out);
    return kk_error_wrap(err, "load images");
  }
  return 0;
}

int kk_image_load_dirfd(struct kk_image_store *s, const char *ns, int dfd, const char *what,
                        const struct kk_image_load_opts *opts, struct kk_image_load_result *out, kk_err_t *err) {
  if (load_begin(ns, &opts, out, err) < 0)
    return -1;
  if (!kk_exists_at(dfd, "oci-layout"))
    return kk_error_kind(err, KK_ERR_INVALID, 0, "%s: not an OCI image layout (no oci-layout file)", what);
  cleanup_free char *buf = NULL;
  size_t len = 0;
  if (kk_read_file_at(dfd, "index.json", KK_IMAGE_JSON_MAX, &buf, &len, err) < 0)
    return kk_error_wrap(err, "%s", what);
  cleanup_close int lock = kk_image_gc_lock(s, false, err);
  if (lock < 0)
    return -1;
  struct source src = {.s = s, .dirfd = dfd};
  if (load_oci_index(&src, ns, buf, len, opts, out, err) < 0 || require_names(out, err) < 0) {
    kk_image_load_result_free(out);
    return kk_error_wrap(err, "load %s", what);
  }
  return 0;
}

static int load_dir(struct kk_image_store *s, const char *ns, const char *path, const struct kk_image_load_opts *opts,
                    struct kk_image_load_result *out, kk_err_t *err) {
  cleanup_close int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    return kk_error(err, errno, "open %s", path);
  return kk_image_load_dirfd(s, ns, dfd, path, opts, out, err);
}

int kk_image_load(struct kk_image_store *s, const char *ns, const char *path, const struct kk_image_load_opts *opts,
                  struct kk_image_load_result *out, kk_err_t *err) {
  if (load_begin(ns, &opts, out, err) < 0)
    return -1;
  if (path == NULL || strcmp(path, "-") == 0)
    return kk_image_load_fd(s, ns, STDIN_FILENO, opts, out, err);
  struct stat st;
  if (stat(path, &st) < 0)
    return kk_error_kind(err, errno == ENOENT ? KK_ERR_NOT_FOUND : KK_ERR_INTERNAL, errno, "load %s", path);
  if (S_ISDIR(st.st_mode))
    return load_dir(s, ns, path, opts, out, err);
  cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return kk_error(err, errno, "open %s", path);
  return kk_image_load_fd(s, ns, fd, opts, out, err);
}

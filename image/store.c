/* The image store: verified blobs, one OCI layout per namespace, tagging,
 * listing, delete and garbage collection. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/fs.h"
#include "image/internal.h"
#include "image/libs.h"

#define INDEX_MAX (KK_IMAGE_JSON_MAX)

/* ------------------------------------------------------------------ open */

static int open_or_make(int dirfd, const char *name, mode_t mode, kk_err_t *err) {
  if (mkdirat(dirfd, name, mode) < 0 && errno != EEXIST)
    return kk_error(err, errno, "mkdir %s", name);
  return kk_open_dir_at(dirfd, name, err);
}

void kk_image_store_close(struct kk_image_store *s) {
  if (s == NULL)
    return;
  int *fds[] = {&s->imagesfd, &s->blobsfd, &s->ingestfd, &s->snapfd, &s->leasefd};
  for (size_t i = 0; i < KK_ARRAY_SIZE(fds); i++)
    if (*fds[i] >= 0)
      close(*fds[i]);
  free(s->run_path);
  free(s->images_path);
  free(s->snap_path);
  free(s);
}

int kk_image_store_open(const char *run_path, struct kk_image_store **out, kk_err_t *err) {
  if (kk_empty(run_path) || run_path[0] != '/')
    return kk_error_kind(err, KK_ERR_INVALID, 0, "image store: run path \"%s\" must be absolute", run_path ? run_path : "");
  struct kk_image_store *s = kk_xzalloc(sizeof(*s));
  s->imagesfd = s->blobsfd = s->ingestfd = s->snapfd = s->leasefd = -1;
  s->run_path = kk_xstrdup(run_path);
  s->images_path = kk_asprintf("%s/images", run_path);
  s->snap_path = kk_asprintf("%s/snapshots", run_path);
  cleanup_close int runfd = -1;
  int blobs = -1;
  if (kk_mkdir_p(run_path, 0711, err) < 0)
    goto fail;
  runfd = kk_open_dir_at(AT_FDCWD, run_path, err);
  if (runfd < 0)
    goto fail;
  if ((s->imagesfd = open_or_make(runfd, "images", 0700, err)) < 0)
    goto fail;
  if ((blobs = open_or_make(s->imagesfd, "blobs", 0700, err)) < 0)
    goto fail;
  s->blobsfd = open_or_make(blobs, "sha256", 0700, err);
  close(blobs);
  if (s->blobsfd < 0)
    goto fail;
  if ((s->ingestfd = open_or_make(s->imagesfd, "ingest", 0700, err)) < 0)
    goto fail;
  if ((s->snapfd = open_or_make(runfd, "snapshots", 0700, err)) < 0)
    goto fail;
  if ((s->leasefd = open_or_make(s->snapfd, ".leases", 0700, err)) < 0)
    goto fail;
  *out = s;
  return 0;
fail:
  kk_image_store_close(s);
  return kk_error_wrap(err, "open image store %s", run_path);
}

int kk_image_gc_lock(struct kk_image_store *s, bool exclusive, kk_err_t *err) {
  return kk_lock_at(s->imagesfd, ".gc.lock", exclusive, err);
}

int kk_image_index_lock(struct kk_image_store *s, kk_err_t *err) { return kk_lock_at(s->imagesfd, ".index.lock", true, err); }

/* ----------------------------------------------------------------- blobs */

bool kk_image_blob_exists(struct kk_image_store *s, const char *digest) {
  if (!kk_image_digest_valid(digest))
    return false;
  struct stat st;
  return fstatat(s->blobsfd, kk_image_digest_hex(digest), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode);
}

int kk_image_blob_open(struct kk_image_store *s, const char *digest, kk_err_t *err) {
  if (!kk_image_digest_valid(digest))
    return kk_error_kind(err, KK_ERR_INVALID, 0, "invalid digest \"%.80s\"", digest ? digest : "");
  int fd = openat(s->blobsfd, kk_image_digest_hex(digest), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    if (errno == ENOENT)
      return kk_error_kind(err, KK_ERR_NOT_FOUND, 0, "blob %s not found in the image store", digest);
    return kk_error(err, errno, "open blob %s", digest);
  }
  return fd;
}

int kk_image_blob_read(struct kk_image_store *s, const char *digest, size_t max, char **out, size_t *len,
                       kk_err_t *err) {
  cleanup_close int fd = kk_image_blob_open(s, digest, err);
  if (fd < 0)
    return -1;
  cleanup_free char *buf = NULL;
  size_t n = 0;
  if (kk_read_fd(fd, max, digest, &buf, &n, err) < 0)
    return -1;
  cleanup_free char *got = NULL;
  if (kk_image_digest(buf, n, &got, err) < 0)
    return -1;
  if (strcmp(got, digest) != 0)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "blob %s is corrupt (content hashes to %s)", digest, got);
  *out = kk_steal(&buf);
  if (len)
    *len = n;
  return 0;
}

struct kk_blob_writer {
  struct kk_image_store *s;
  char *expected;
  int64_t expected_size; /* -1: unknown */
  char *tmpname;
  int fd;
  int64_t off;
  struct kk_sha256 h;
  bool committed, present;
};

bool kk_image_writer_present(const struct kk_blob_writer *w) { return w->present; }
int64_t kk_image_writer_offset(const struct kk_blob_writer *w) { return w->off; }

void kk_image_writer_free(struct kk_blob_writer *w, bool keep_partial) {
  if (w == NULL)
    return;
  if (!w->committed && w->tmpname && !(w->expected && keep_partial && w->off > 0))
    unlinkat(w->s->ingestfd, w->tmpname, 0);
  if (w->fd >= 0)
    close(w->fd);
  kk_image_sha256_free(&w->h);
  free(w->expected);
  free(w->tmpname);
  free(w);
}

static int rehash_partial(struct kk_blob_writer *w, kk_err_t *err) {
  struct stat st;
  if (fstat(w->fd, &st) < 0)
    return kk_error(err, errno, "stat partial blob");
  if (!S_ISREG(st.st_mode))
    return kk_error_kind(err, KK_ERR_INVALID, 0, "partial blob %s is not a regular file", w->tmpname);
  if (w->expected_size >= 0 && st.st_size > w->expected_size) {
    if (ftruncate(w->fd, 0) < 0)
      return kk_error(err, errno, "truncate partial blob");
    return 0;
  }
  const size_t bufsz = 1 << 20;
  cleanup_free char *buf = kk_xmalloc(bufsz);
  int64_t off = 0;
  while (off < st.st_size) {
    ssize_t r = pread(w->fd, buf, bufsz, off);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0)
      return kk_error(err, errno, "read partial blob");
    if (r == 0)
      break;
    kk_image_sha256_update(&w->h, buf, (size_t)r);
    off += r;
  }
  w->off = off;
  return 0;
}

int kk_image_writer_open(struct kk_image_store *s, const char *expected, int64_t expected_size,
                       struct kk_blob_writer **out, kk_err_t *err) {
  if (expected && !kk_image_digest_valid(expected))
    return kk_error_kind(err, KK_ERR_INVALID, 0, "invalid digest \"%.80s\"", expected);
  struct kk_blob_writer *w = kk_xzalloc(sizeof(*w));
  w->s = s;
  w->fd = -1;
  w->expected = kk_xstrdup(expected);
  w->expected_size = expected_size;
  if (kk_image_sha256_init(&w->h, err) < 0)
    goto fail;
  if (expected && kk_image_blob_exists(s, expected)) {
    w->present = true;
    *out = w;
    return 0;
  }
  if (expected) {
    w->tmpname = kk_asprintf("%s.partial", kk_image_digest_hex(expected));
    w->fd = openat(s->ingestfd, w->tmpname, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (w->fd < 0) {
      kk_error(err, errno, "create %s", w->tmpname);
      free(w->tmpname);
      w->tmpname = NULL;
      goto fail;
    }
    /* Another pull of the same blob holds the lock: wait, then see. */
    while (flock(w->fd, LOCK_EX) < 0) {
      if (errno != EINTR) {
        kk_error(err, errno, "lock %s", w->tmpname);
        goto fail;
      }
    }
    if (kk_image_blob_exists(s, expected)) {
      w->present = true;
      *out = w;
      return 0;
    }
    if (rehash_partial(w, err) < 0)
      goto fail;
  } else {
    for (int attempt = 0; attempt < 100 && w->fd < 0; attempt++) {
      free(w->tmpname);
      w->tmpname = kk_asprintf("tmp-%d-%08x", (int)getpid(), (unsigned)random());
      w->fd = openat(s->ingestfd, w->tmpname, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
      if (w->fd < 0 && errno != EEXIST)
        break;
    }
    if (w->fd < 0) {
      kk_error(err, errno, "create temporary blob");
      free(w->tmpname);
      w->tmpname = NULL;
      goto fail;
    }
  }
  *out = w;
  return 0;
fail:
  kk_image_writer_free(w, true);
  return -1;
}

int kk_image_writer_reset(struct kk_blob_writer *w, kk_err_t *err) {
  if (w->present)
    return 0;
  if (ftruncate(w->fd, 0) < 0)
    return kk_error(err, errno, "truncate partial blob");
  kk_image_sha256_free(&w->h);
  if (kk_image_sha256_init(&w->h, err) < 0)
    return -1;
  w->off = 0;
  return 0;
}

int kk_image_writer_write(struct kk_blob_writer *w, const void *buf, size_t len, kk_err_t *err) {
  if (w->present || len == 0)
    return 0;
  if (w->expected_size >= 0 && w->off + (int64_t)len > w->expected_size)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "blob %s: more data than its declared size %lld", w->expected,
                         (long long)w->expected_size);
  const char *p = buf;
  size_t left = len;
  int64_t off = w->off;
  while (left > 0) {
    ssize_t r = pwrite(w->fd, p, left, off);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0)
      return kk_error(err, errno, "write blob");
    p += r;
    left -= (size_t)r;
    off += r;
  }
  kk_image_sha256_update(&w->h, buf, len);
  w->off = off;
  return 0;
}

int kk_image_writer_commit(struct kk_blob_writer *w, char **digest_out, int64_t *size_out, kk_err_t *err) {
  if (w->present) {
    if (digest_out)
      *digest_out = kk_xstrdup(w->expected);
    if (size_out) {
      struct stat st;
      *size_out = fstatat(w->s->blobsfd, kk_image_digest_hex(w->expected), &st, 0) == 0 ? st.st_size : w->expected_size;
    }
    w->committed = true;
    return 0;
  }
  if (w->expected_size >= 0 && w->off != w->expected_size) {
    unlinkat(w->s->ingestfd, w->tmpname, 0);
    w->committed = true; /* nothing left to keep */
    return kk_error_kind(err, KK_ERR_INVALID, 0, "blob %s: got %lld bytes, expected %lld",
                         w->expected ? w->expected : "(unnamed)", (long long)w->off, (long long)w->expected_size);
  }
  cleanup_free char *digest = kk_image_sha256_final(&w->h);
  if (w->expected && strcmp(digest, w->expected) != 0) {
    unlinkat(w->s->ingestfd, w->tmpname, 0);
    w->committed = true;
    return kk_error_kind(err, KK_ERR_INVALID, 0, "blob %s: digest mismatch (content hashes to %s)", w->expected, digest);
  }
  if (fsync(w->fd) < 0)
    return kk_error(err, errno, "fsync blob %s", digest);
  if (renameat(w->s->ingestfd, w->tmpname, w->s->blobsfd, kk_image_digest_hex(digest)) < 0)
    return kk_error(err, errno, "publish blob %s", digest);
  w->committed = true;
  if (kk_fsync_dir(w->s->blobsfd, err) < 0)
    return -1;
  if (size_out)
    *size_out = w->off;
  if (digest_out)
    *digest_out = kk_steal(&digest);
  return 0;
}

int kk_image_blob_put(struct kk_image_store *s, const char *expected, const void *buf, size_t len,
                      char **digest_out, kk_err_t *err) {
  struct kk_blob_writer *w = NULL;
  if (kk_image_writer_open(s, expected, expected ? (int64_t)len : -1, &w, err) < 0)
    return -1;
  int rc = kk_image_writer_write(w, buf, len, err);
  if (rc == 0)
    rc = kk_image_writer_commit(w, digest_out, NULL, err);
  kk_image_writer_free(w, false);
  return rc;
}

/* ------------------------------------------------------------ namespaces */

int kk_image_namespace_validate(const char *ns, kk_err_t *err) {
  if (kk_empty(ns))
    return kk_error_kind(err, KK_ERR_INVALID, 0, "image namespace must not be empty");
  size_t n = strlen(ns);
  bool ok = n <= 76;
  for (size_t i = 0; ok && i < n; i++) {
    char c = ns[i];
    bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (alnum)
      continue;
    if ((c == '.' || c == '_' || c == '-') && i > 0 && i + 1 < n) {
      char p = ns[i - 1];
      if (p == '.' || p == '_' || p == '-')
        ok = false;
      continue;
    }
    ok = false;
  }
  if (!ok)
    return kk_error_kind(err, KK_ERR_INVALID, 0,
                         "invalid image namespace \"%s\": letters and digits joined by single '.', '_' or '-', at most 76 characters",
                         ns);
  if (strcmp(ns, "blobs") == 0 || strcmp(ns, "ingest") == 0)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "invalid image namespace \"%s\": reserved name", ns);
  return 0;
}

static const char empty_index[] = "{\n  \"schemaVersion\": 2,\n  \"mediaType\": \"" KK_MT_OCI_INDEX "\",\n  \"manifests\": []\n}\n";

/* Open (and with create, lay out) a namespace's OCI layout directory. */
static int ns_open(struct kk_image_store *s, const char *ns, bool create, kk_err_t *err) {
  if (kk_image_namespace_validate(ns, err) < 0)
    return -1;
  if (!create) {
    int fd = openat(s->imagesfd, ns, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 && errno == ENOENT)
      return kk_error_kind(err, KK_ERR_NOT_FOUND, 0, "image namespace \"%s\" has no images", ns);
    if (fd < 0)
      return kk_error(err, errno, "open image namespace %s", ns);
    return fd;
  }
  cleanup_close int fd = open_or_make(s->imagesfd, ns, 0700, err);
  if (fd < 0)
    return -1;
  if (!kk_exists_at(fd, "oci-layout")) {
    static const char layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
    if (kk_write_file_atomic(fd, "oci-layout", layout, sizeof(layout) - 1, 0644, NULL, err) < 0)
      return -1;
  }
  char target[64];
  ssize_t n = readlinkat(fd, "blobs", target, sizeof(target) - 1);
  if (n < 0) {
    if (errno != ENOENT)
      return kk_error(err, errno, "image namespace %s: blobs is not the link to ../blobs", ns);
    if (symlinkat("../blobs", fd, "blobs") < 0 && errno != EEXIST)
      return kk_error(err, errno, "image namespace %s: link blobs", ns);
  } else {
    target[n] = '\0';
    if (strcmp(target, "../blobs") != 0)
      return kk_error_kind(err, KK_ERR_INVALID, 0, "image namespace %s: blobs points to %s, not ../blobs", ns, target);
  }
  if (!kk_exists_at(fd, "index.json") &&
      kk_write_file_atomic(fd, "index.json", empty_index, sizeof(empty_index) - 1, 0644, NULL, err) < 0)
    return -1;
  return kk_steal_fd(&fd);
}

static int index_load(int nsfd, const char *ns, json_t **out, kk_err_t *err) {
  cleanup_free char *buf = NULL;
  size_t len = 0;
  if (kk_read_file_at(nsfd, "index.json", INDEX_MAX, &buf, &len, err) < 0)
    return kk_error_wrap(err, "image namespace %s", ns);
  json_t *j = NULL;
  if (kk_image_json_load(buf, len, "index.json", &j, err) < 0)
    return kk_error_wrap(err, "image namespace %s", ns);
  json_t *ms = json_object_get(j, "manifests");
  if (ms == NULL) {
    json_object_set_new(j, "manifests", json_array());
  } else if (!json_is_array(ms)) {
    json_decref(j);
    return kk_error_kind(err, KK_ERR_INVALID, 0, "image namespace %s: index.json: \"manifests\" is not an array", ns);
  }
  *out = j;
  return 0;
}

static int index_save(int nsfd, json_t *j, kk_err_t *err) {
  cleanup_free char *text = json_dumps(j, JSON_INDENT(2));
  if (text == NULL)
    kk_oom();
  size_t n = strlen(text);
  text[n] = '\n';
  return kk_write_file_atomic(nsfd, "index.json", text, n + 1, 0644, NULL, err);
}

static const char *entry_ref(json_t *e) {
  return json_string_value(json_object_get(json_object_get(e, "annotations"), KK_ANNOTATION_REF_NAME));
}

int kk_image_namespaces(struct kk_image_store *s, struct kk_strv *out, kk_err_t *err) {
  memset(out, 0, sizeof(*out));
  cleanup_dir DIR *d = kk_dir_open_at(s->imagesfd, NULL, err);
  if (d == NULL)
    return kk_error_wrap(err, "image store");
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    if (de->d_name[0] == '.' || !strcmp(de->d_name, "blobs") || !strcmp(de->d_name, "ingest"))
      continue;
    cleanup_free char *idx = kk_asprintf("%s/index.json", de->d_name);
    if (kk_exists_at(s->imagesfd, idx))
      kk_strv_push(out, de->d_name);
  }
  kk_strv_sort(out);
  return 0;
}

/* ------------------------------------------------------------------ tag */

int kk_image_manifest_complete(struct kk_image_store *s, const struct kk_image_manifest *m, kk_err_t *err) {
  if (!kk_image_blob_exists(s, m->config.digest))
    return kk_error_kind(err, KK_ERR_NOT_FOUND, 0, "config blob %s is missing", m->config.digest);
  for (size_t i = 0; i < m->n_layers; i++)
    if (!kk_image_blob_exists(s, m->layers[i].digest))
      return kk_error_kind(err, KK_ERR_NOT_FOUND, 0, "layer blob %s is missing", m->layers[i].digest);
  return 0;
}

static void time_now_rfc3339(char buf[32]) { kk_time_format(kk_now(), buf); }

int kk_image_tag(struct kk_image_store *s, const char *ns, const char *ref, const char *manifest_digest,
                 const char *index_digest, kk_err_t *err) {
  cleanup_free char *name = kk_image_ref_normalize(ref, err);
  if (name == NULL)
    return -1;
  cleanup_free char *mbuf = NULL;
  size_t mlen = 0;
  if (kk_image_blob_read(s, manifest_digest, KK_IMAGE_JSON_MAX, &mbuf, &mlen, err) < 0)
    return kk_error_wrap(err, "tag %s", name);
  struct kk_image_manifest m;
  if (kk_image_manifest_parse(mbuf, mlen, &m, err) < 0)
    return kk_error_wrap(err, "tag %s", name);
  int rc = kk_image_manifest_complete(s, &m, err);
  cleanup_free char *cbuf = NULL;
  size_t clen = 0;
  struct kk_image_config c = {0};
  if (rc == 0)
    rc = kk_image_blob_read(s, m.config.digest, KK_IMAGE_JSON_MAX, &cbuf, &clen, err);
  if (rc == 0)
    rc = kk_image_config_parse(cbuf, clen, &c, err);
  if (rc == 0 && c.diff_ids.n != m.n_layers)
    rc = kk_error_kind(err, KK_ERR_INVALID, 0, "config lists %zu diff IDs for %zu layers", c.diff_ids.n, m.n_layers);
  if (rc < 0) {
    kk_image_manifest_free(&m);
    kk_image_config_free(&c);
    return kk_error_wrap(err, "tag %s", name);
  }
  json_t *desc = json_object();
  json_object_set_new(desc, "mediaType", json_string(m.media_type ? m.media_type : KK_MT_OCI_MANIFEST));
  json_object_set_new(desc, "digest", json_string(manifest_digest));
  json_object_set_new(desc, "size", json_integer((json_int_t)mlen));
  if (c.platform.os && c.platform.architecture) {
    json_t *p = json_object();
    json_object_set_new(p, "architecture", json_string(c.platform.architecture));
    json_object_set_new(p, "os", json_string(c.platform.os));
    if (c.platform.variant)
      json_object_set_new(p, "variant", json_string(c.platform.variant));
    json_object_set_new(desc, "platform", p);
  }
  json_t *ann = json_object();
  char now[32];
  time_now_rfc3339(now);
  json_object_set_new(ann, KK_ANNOTATION_REF_NAME, json_string(name));
  json_object_set_new(ann, "io.kukeon.image.created", json_string(now));
  if (index_digest)
    json_object_set_new(ann, "io.kukeon.image.digest", json_string(index_digest));
  json_object_set_new(desc, "annotations", ann);
  kk_image_manifest_free(&m);
  kk_image_config_free(&c);

  cleanup_close int lock = kk_image_index_lock(s, err);
  cleanup_close int nsfd = -1;
  cleanup_json json_t *idx = NULL;
  if (lock < 0 || (nsfd = ns_open(s, ns, true, err)) < 0 || index_load(nsfd, ns, &idx, err) < 0) {
    json_decref(desc);
    return -1;
  }
  json_t *ms = json_object_get(idx, "manifests");
  for (size_t i = json_array_size(ms); i-- > 0;)
    if (kk_streq(entry_ref(json_array_get(ms, i)), name))
      json_array_remove(ms, i);
  json_array_append_new(ms, desc);
  return index_save(nsfd, idx, err);
}

/* ----------------------------------------------------------------- list */

void kk_image_info_free(struct kk_image_info *i) {
  free(i->name);
  free(i->namespace_name);
  free(i->digest);
  free(i->manifest_digest);
  free(i->media_type);
  free(i->config_digest);
  free(i->chain_id);
  kk_image_platform_free(&i->platform);
  kk_map_free(&i->labels);
  memset(i, 0, sizeof(*i));
}

void kk_image_infos_free(struct kk_image_info *v, size_t n) {
  for (size_t i = 0; i < n; i++)
    kk_image_info_free(&v[i]);
  free(v);
}

/* Fill what the manifest and config say; a damaged image stays listed
 * with size -1. */
static void info_fill(struct kk_image_store *s, struct kk_image_info *info, int64_t manifest_size) {
  cleanup_free char *mbuf = NULL, *cbuf = NULL;
  size_t mlen = 0, clen = 0;
  kk_err_t e = NULL;
  struct kk_image_manifest m;
  struct kk_image_config c;
  info->size = -1;
  if (kk_image_blob_read(s, info->manifest_digest, KK_IMAGE_JSON_MAX, &mbuf, &mlen, &e) < 0 ||
      kk_image_manifest_parse(mbuf, mlen, &m, &e) < 0) {
    kk_error_free(&e);
    return;
  }
  int64_t size = manifest_size + m.config.size;
  for (size_t i = 0; i < m.n_layers; i++)
    size += m.layers[i].size;
  info->config_digest = kk_xstrdup(m.config.digest);
  kk_image_manifest_free(&m);
  if (kk_image_blob_read(s, info->config_digest, KK_IMAGE_JSON_MAX, &cbuf, &clen, &e) < 0 ||
      kk_image_config_parse(cbuf, clen, &c, &e) < 0) {
    kk_error_free(&e);
    return;
  }
  struct kk_strv chain;
  if (kk_image_chain_ids(&c.diff_ids, &chain, &e) < 0) {
    kk_error_free(&e);
    kk_image_config_free(&c);
    return;
  }
  info->size = size;
  info->chain_id = kk_xstrdup(chain.n ? chain.v[chain.n - 1] : "");
  kk_strv_free(&chain);
  info->platform = c.platform;
  memset(&c.platform, 0, sizeof(c.platform));
  kk_map_copy(&info->labels, &c.labels);
  kk_image_config_free(&c);
}

static int list_ns(struct kk_image_store *s, const char *ns, const char *only, struct kk_image_info **out, size_t *n,
                   kk_err_t *err) {
  cleanup_close int nsfd = ns_open(s, ns, false, err);
  if (nsfd < 0)
    return -1;
  cleanup_json json_t *idx = NULL;
  if (index_load(nsfd, ns, &idx, err) < 0)
    return -1;
  json_t *ms = json_object_get(idx, "manifests");
  size_t i;
  json_t *e;
  json_array_foreach(ms, i, e) {
    const char *name = entry_ref(e);
    const char *digest = json_string_value(json_object_get(e, "digest"));
    if (name == NULL || !kk_image_digest_valid(digest))
      continue;
    if (only && strcmp(only, name) != 0)
      continue;
    json_t *ann = json_object_get(e, "annotations");
    struct kk_image_info info = {0};
    info.name = kk_xstrdup(name);
    info.namespace_name = kk_xstrdup(ns);
    info.manifest_digest = kk_xstrdup(digest);
    const char *top = json_string_value(json_object_get(ann, "io.kukeon.image.digest"));
    info.digest = kk_xstrdup(kk_image_digest_valid(top) ? top : digest);
    info.media_type = kk_xstrdup(json_string_value(json_object_get(e, "mediaType")));
    const char *created = json_string_value(json_object_get(ann, "io.kukeon.image.created"));
    if (created)
      kk_time_parse(created, &info.created);
    json_t *size = json_object_get(e, "size");
    info_fill(s, &info, json_is_integer(size) ? (int64_t)json_integer_value(size) : 0);
    *out = kk_xrealloc(*out, (*n + 1) * sizeof(**out));
    (*out)[(*n)++] = info;
  }
  return 0;
}

static int info_cmp(const void *a, const void *b) {
  const struct kk_image_info *x = a, *y = b;
  int c = strcmp(x->namespace_name, y->namespace_name);
  return c ? c : strcmp(x->name, y->name);
}

int kk_image_list(struct kk_image_store *s, const char *ns, struct kk_image_info **out, size_t *n, kk_err_t *err) {
  *out = NULL;
  *n = 0;
  struct kk_strv nss = {0};
  if (ns) {
    if (kk_image_namespace_validate(ns, err) < 0)
      return -1;
    cleanup_free char *idx = kk_asprintf("%s/index.json", ns);
    if (!kk_exists_at(s->imagesfd, idx))
      return 0;
    kk_strv_push(&nss, ns);
  } else if (kk_image_namespaces(s, &nss, err) < 0) {
    return -1;
  }
  for (size_t i = 0; i < nss.n; i++)
    if (list_ns(s, nss.v[i], NULL, out, n, err) < 0) {
      kk_strv_free(&nss);
      kk_image_infos_free(*out, *n);
      *out = NULL;
      *n = 0;
      return -1;
    }
  kk_strv_free(&nss);
  if (*n > 1)
    qsort(*out, *n, sizeof(**out), info_cmp);
  return 0;
}

int kk_image_get(struct kk_image_store *s, const char *ns, const char *ref, struct kk_image_info *out, kk_err_t *err) {
  memset(out, 0, sizeof(*out));
  cleanup_free char *name = kk_image_ref_normalize(ref, err);
  if (name == NULL)
    return -1;
  if (kk_image_namespace_validate(ns, err) < 0)
    return -1;
  struct kk_image_info *v = NULL;
  size_t n = 0;
  cleanup_free char *idx = kk_asprintf("%s/index.json", ns);
  if (kk_exists_at(s->imagesfd, idx) && list_ns(s, ns, name, &v, &n, err) < 0)
    return -1;
  if (n == 0) {
    free(v);
    return kk_error_kind(err, KK_ERR_NOT_FOUND, 0, "image \"%s\" not found", name);
  }
  *out = v[n - 1];
  for (size_t i = 0; i + 1 < n; i++)
    kk_image_info_free(&v[i]);
  free(v);
  return 0;
}

int kk_image_resolve(struct kk_image_store *s, const char *ns, const char *ref, char **manifest_digest,
                   struct kk_image_manifest *m, struct kk_image_config *c, kk_err_t *err) {
  struct kk_image_info info;
  if (kk_image_get(s, ns, ref, &info, err) < 0)
    return -1;
  cleanup_free char *mbuf = NULL, *cbuf = NULL;
  size_t mlen = 0, clen = 0;
  struct kk_image_manifest man;
  int rc = kk_image_blob_read(s, info.manifest_digest, KK_IMAGE_JSON_MAX, &mbuf, &mlen, err);
  if (rc == 0)
    rc = kk_image_manifest_parse(mbuf, mlen, &man, err);
  if (rc == 0) {
    rc = kk_image_blob_read(s, man.config.digest, KK_IMAGE_JSON_MAX, &cbuf, &clen, err);
    if (rc == 0 && c)
      rc = kk_image_config_parse(cbuf, clen, c, err);
    if (rc == 0 && m)
      *m = man;
    else
      kk_image_manifest_free(&man);
  }
  if (rc == 0 && manifest_digest)
    *manifest_digest = kk_steal(&info.manifest_digest);
  if (rc < 0)
    kk_error_wrap(err, "image %s", info.name);
  kk_image_info_free(&info);
  return rc;
}

int kk_image_config_get(struct kk_image_store *s, const char *ns, const char *ref, struct kk_image_config *out,
                        kk_err_t *err) {
  memset(out, 0, sizeof(*out));
  return kk_image_resolve(s, ns, ref, NULL, NULL, out, err);
}

/* --------------------------------------------------------- delete, prune */

static int gc(struct kk_image_store *s, struct kk_image_prune_result *out, kk_err_t *err);

int kk_image_delete(struct kk_image_store *s, const char *ns, const char *ref, kk_err_t *err) {
  cleanup_free char *name = kk_image_ref_normalize(ref, err);
  if (name == NULL)
    return -1;
  if (kk_image_namespace_validate(ns, err) < 0)
    return -1;
  {
    cleanup_close int lock = kk_image_index_lock(s, err);
    if (lock < 0)
      return -1;
    cleanup_free char *idxpath = kk_asprintf("%s/index.json", ns);
    if (!kk_exists_at(s->imagesfd, idxpath))
      return kk_error_kind(err, KK_ERR_NOT_FOUND, 0, "image \"%s\" not found", name);
    cleanup_close int nsfd = ns_open(s, ns, false, err);
    cleanup_json json_t *idx = NULL;
    if (nsfd < 0 || index_load(nsfd, ns, &idx, err) < 0)
      return -1;
    json_t *ms = json_object_get(idx, "manifests");
    size_t removed = 0;
    for (size_t i = json_array_size(ms); i-- > 0;)
      if (kk_streq(entry_ref(json_array_get(ms, i)), name)) {
        json_array_remove(ms, i);
        removed++;
      }
    if (removed == 0)
      return kk_error_kind(err, KK_ERR_NOT_FOUND, 0, "image \"%s\" not found", name);
    if (index_save(nsfd, idx, err) < 0)
      return -1;
  }
  /* Synchronous: collect now unless a pull or unpack is running (then the
   * next prune does it). */
  int lock = openat(s->imagesfd, ".gc.lock", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (lock < 0)
    return 0;
  int rc = 0;
  if (flock(lock, LOCK_EX | LOCK_NB) == 0) {
    struct kk_image_prune_result r;
    rc = gc(s, &r, err);
  }
  close(lock);
  return rc;
}

/* A sorted set of strings. */
static int strp_cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }
static bool set_has(const struct kk_strv *set, const char *s) {
  return set->n > 0 && bsearch(&s, set->v, set->n, sizeof(char *), strp_cmp) != NULL;
}

/* What one entry of an index references: the manifest (or index) and,
 * through a manifest, its config and layers (blobs) and their chain IDs
 * (snapshots).  Unreadable documents reference nothing further. */
static int collect_entry(struct kk_image_store *s, const char *digest, struct kk_strv *blobs, struct kk_strv *chains,
                         kk_err_t *err) {
  kk_strv_push(blobs, digest);
  cleanup_free char *mbuf = NULL, *cbuf = NULL;
  size_t mlen = 0, clen = 0;
  cleanup_error kk_err_t e2 = NULL;
  struct kk_image_manifest m;
  struct kk_image_index x;
  if (kk_image_blob_read(s, digest, KK_IMAGE_JSON_MAX, &mbuf, &mlen, &e2) < 0)
    return 0;
  /* Layouts written by other tools may point at an index. */
  if (kk_image_index_parse(mbuf, mlen, &x, &e2) == 0) {
    for (size_t j = 0; j < x.n_manifests; j++)
      kk_strv_push(blobs, x.manifests[j].digest);
    kk_image_index_free(&x);
    return 0;
  }
  kk_error_free(&e2);
  if (kk_image_manifest_parse(mbuf, mlen, &m, &e2) < 0)
    return 0;
  kk_strv_push(blobs, m.config.digest);
  for (size_t j = 0; j < m.n_layers; j++)
    kk_strv_push(blobs, m.layers[j].digest);
  struct kk_image_config c;
  int rc = 0;
  if (kk_image_blob_read(s, m.config.digest, KK_IMAGE_JSON_MAX, &cbuf, &clen, &e2) == 0 &&
      kk_image_config_parse(cbuf, clen, &c, &e2) == 0) {
    struct kk_strv ch = {0};
    rc = kk_image_chain_ids(&c.diff_ids, &ch, err);
    for (size_t j = 0; j < ch.n; j++)
      kk_strv_push(chains, kk_image_digest_hex(ch.v[j]));
    kk_strv_free(&ch);
    kk_image_config_free(&c);
  }
  kk_image_manifest_free(&m);
  return rc;
}

int kk_image_collect_refs_ns(struct kk_image_store *s, const char *ns, size_t *n_images, struct kk_strv *blobs,
                             struct kk_strv *chains, kk_err_t *err) {
  cleanup_close int nsfd = ns_open(s, ns, false, err);
  cleanup_json json_t *idx = NULL;
  if (nsfd < 0 || index_load(nsfd, ns, &idx, err) < 0)
    return -1;
  size_t i;
  json_t *e;
  json_array_foreach(json_object_get(idx, "manifests"), i, e) {
    const char *digest = json_string_value(json_object_get(e, "digest"));
    if (!kk_image_digest_valid(digest))
      continue;
    if (n_images)
      (*n_images)++;
    if (collect_entry(s, digest, blobs, chains, err) < 0)
      return -1;
  }
  return 0;
}

/* Everything the namespaces reference: blobs (digests) and snapshots
 * (chain IDs). */
static int collect_refs(struct kk_image_store *s, struct kk_strv *blobs, struct kk_strv *chains, kk_err_t *err) {
  /* Reading a manifest verifies its digest: without libcrypto every read
   * would fail and everything would look unreferenced. */
  if (kk_image_libcrypto(err) == NULL)
    return -1;
  cleanup_strv struct kk_strv nss = {0};
  if (kk_image_namespaces(s, &nss, err) < 0)
    return -1;
  for (size_t k = 0; k < nss.n; k++)
    if (kk_image_collect_refs_ns(s, nss.v[k], NULL, blobs, chains, err) < 0)
      return -1;
  return 0;
}

/* Leases: snapshots/.leases/<id>.json {"target":..., "mode":..., "chain":[hex...]} */
int kk_image_collect_leases(struct kk_image_store *s, struct kk_strv *chains, size_t *n_leases, kk_err_t *err) {
  cleanup_dir DIR *d = kk_dir_open_at(s->leasefd, NULL, err);
  if (d == NULL)
    return kk_error_wrap(err, "leases");
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    if (!kk_has_suffix(de->d_name, ".json"))
      continue;
    cleanup_free char *buf = NULL;
    size_t len = 0;
    if (kk_read_file_at(s->leasefd, de->d_name, 1 << 20, &buf, &len, err) < 0)
      return -1;
    json_error_t je;
    cleanup_json json_t *j = json_loadb(buf, len, 0, &je);
    if (j == NULL)
      return kk_error_kind(err, KK_ERR_INVALID, 0, "lease %s: invalid JSON", de->d_name);
    (*n_leases)++;
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(j, "chain"), i, c) if (json_is_string(c)) kk_strv_push(chains, json_string_value(c));
  }
  return 0;
}

static int sweep_dir(int dirfd, const char *what, const struct kk_strv *keep, bool dirs, size_t *removed,
                     size_t *retained, int64_t *bytes, kk_err_t *err) {
  cleanup_dir DIR *d = kk_dir_open_at(dirfd, NULL, err);
  if (d == NULL)
    return kk_error_wrap(err, "%s", what);
  struct kk_strv victims = {0};
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    const char *n = de->d_name;
    if (!strcmp(n, ".") || !strcmp(n, "..") || !strcmp(n, ".leases"))
      continue;
    if (n[0] != '.' && set_has(keep, n)) {
      if (retained)
        (*retained)++;
      continue;
    }
    kk_strv_push(&victims, n);
  }
  int rc = 0;
  for (size_t i = 0; i < victims.n && rc == 0; i++) {
    struct stat st;
    if (!dirs && fstatat(dirfd, victims.v[i], &st, AT_SYMLINK_NOFOLLOW) == 0 && bytes)
      *bytes += st.st_size;
    rc = kk_rm_rf_at(dirfd, victims.v[i], err);
    if (rc == 0 && removed && victims.v[i][0] != '.')
      (*removed)++;
  }
  kk_strv_free(&victims);
  return rc;
}

static int gc(struct kk_image_store *s, struct kk_image_prune_result *out, kk_err_t *err) {
  memset(out, 0, sizeof(*out));
  struct kk_strv blobs = {0}, chains = {0};
  int rc = collect_refs(s, &blobs, &chains, err);
  if (rc == 0)
    rc = kk_image_collect_leases(s, &chains, &out->leases, err);
  if (rc == 0) {
    /* blobs hold "sha256:<hex>"; the directory holds "<hex>". */
    for (size_t i = 0; i < blobs.n; i++)
      memmove(blobs.v[i], blobs.v[i] + 7, strlen(blobs.v[i] + 7) + 1);
    kk_strv_sort(&blobs);
    kk_strv_sort(&chains);
    rc = sweep_dir(s->blobsfd, "blobs", &blobs, false, &out->blobs_removed, NULL, &out->bytes_freed, err);
  }
  if (rc == 0)
    rc = sweep_dir(s->snapfd, "snapshots", &chains, true, &out->snapshots_removed, &out->snapshots_retained, NULL,
                   err);
  if (rc == 0) {
    /* Only writers create ingest files and they hold the gc lock shared:
     * whatever is there now was left by an interrupted pull. */
    struct kk_strv none = {0};
    rc = sweep_dir(s->ingestfd, "ingest", &none, false, NULL, NULL, NULL, err);
  }
  kk_strv_free(&blobs);
  kk_strv_free(&chains);
  return rc < 0 ? kk_error_wrap(err, "prune images") : 0;
}

int kk_image_prune(struct kk_image_store *s, struct kk_image_prune_result *out, kk_err_t *err) {
  cleanup_close int lock = kk_image_gc_lock(s, true, err);
  if (lock < 0)
    return -1;
  return gc(s, out, err);
}

/* The image store: verified blobs, resumable ingest, the per-namespace OCI
 * layout, tag/list/get/delete/prune, archive loads, snapshots and the copy
 * rootfs. */
#include <jansson.h>
#include <string.h>
#include <sys/stat.h>

#include "image/image.h"
#include "image/internal.h"
#include "tests/unit/test_image_util.h"
#include "tests/unit/unit.h"

#define NS "default.kukeon.io"

struct img {
  char *layer_digest, *diff_id, *config_digest, *manifest_digest;
  char *config, *manifest;
  char *layer;
  size_t layer_len;
};

static void img_free(struct img *m) {
  free(m->layer_digest);
  free(m->diff_id);
  free(m->config_digest);
  free(m->manifest_digest);
  free(m->config);
  free(m->manifest);
  free(m->layer);
}

/* One-layer image (gzip) whose layer holds `file` = `content`. */
static void img_make(struct img *m, const char *file, const char *content, const char *arch) {
  struct tb t;
  tb_init(&t, TB_NONE);
  tb_file(&t, file, content, 0644);
  ck_assert_int_eq(archive_write_close(t.a), ARCHIVE_OK);
  archive_write_free(t.a);
  m->diff_id = kk_image_digest_of(t.buf, t.used);
  tb_free(&t);
  tb_init(&t, TB_GZIP);
  tb_file(&t, file, content, 0644);
  ck_assert_int_eq(archive_write_close(t.a), ARCHIVE_OK);
  archive_write_free(t.a);
  m->layer = kk_xmalloc(t.used);
  memcpy(m->layer, t.buf, t.used);
  m->layer_len = t.used;
  m->layer_digest = kk_image_digest_of(t.buf, t.used);
  tb_free(&t);
  m->config = kk_asprintf("{\"architecture\":\"%s\",\"os\":\"linux\",\"config\":{\"Cmd\":[\"/bin/sh\"],\"Labels\":{\"l\":\"v\"}},"
                          "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"%s\"]}}",
                          arch, m->diff_id);
  m->config_digest = kk_image_digest_of(m->config, strlen(m->config));
  m->manifest = kk_asprintf("{\"schemaVersion\":2,\"mediaType\":\"%s\",\"config\":{\"mediaType\":\"%s\",\"digest\":\"%s\","
                            "\"size\":%zu},\"layers\":[{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu}]}",
                            KK_MT_OCI_MANIFEST, KK_MT_OCI_CONFIG, m->config_digest, strlen(m->config),
                            KK_MT_OCI_LAYER_GZIP, m->layer_digest, m->layer_len);
  m->manifest_digest = kk_image_digest_of(m->manifest, strlen(m->manifest));
}

static void img_store(struct kk_image_store *s, struct img *m) {
  kk_err_t err = NULL;
  ck_assert_int_eq(kk_image_blob_put(s, m->layer_digest, m->layer, m->layer_len, NULL, &err), 0);
  ck_assert_int_eq(kk_image_blob_put(s, m->config_digest, m->config, strlen(m->config), NULL, &err), 0);
  ck_assert_int_eq(kk_image_blob_put(s, m->manifest_digest, m->manifest, strlen(m->manifest), NULL, &err), 0);
}

START_TEST(blobs_verified) {
  char *d = ti_tmpdir();
  struct kk_image_store *s = NULL;
  kk_err_t err = NULL;
  ck_assert_int_eq(kk_image_store_open(d, &s, &err), 0);
  char *good = kk_image_digest_of("hello", 5);
  ck_assert_int_eq(kk_image_blob_put(s, good, "hellO", 5, NULL, &err), -1);
  ck_assert_msg(strstr(err->msg, "digest mismatch"), "%s", err->msg);
  kk_error_free(&err);
  ck_assert(!kk_image_blob_exists(s, good));
  char *blobs = kk_asprintf("%s/images/blobs/sha256", d), *ingest = kk_asprintf("%s/images/ingest", d);
  char *ls = ti_ls(blobs);
  ck_assert_str_eq(ls, "");
  free(ls);
  ls = ti_ls(ingest);
  ck_assert_str_eq(ls, ""); /* a bad blob leaves no partial either */
  free(ls);
  ck_assert_int_eq(kk_image_blob_put(s, good, "hello", 5, NULL, &err), 0);
  ck_assert(kk_image_blob_exists(s, good));
  char *out = NULL;
  size_t len = 0;
  ck_assert_int_eq(kk_image_blob_read(s, good, 100, &out, &len, &err), 0);
  ck_assert_int_eq(len, 5);
  free(out);
  /* Corruption on disk is detected on read. */
  char *p = kk_asprintf("%s/%s", blobs, good + 7);
  FILE *f = fopen(p, "w");
  fputs("jello", f);
  fclose(f);
  ck_assert_int_eq(kk_image_blob_read(s, good, 100, &out, &len, &err), -1);
  ck_assert_msg(strstr(err->msg, "corrupt"), "%s", err->msg);
  kk_error_free(&err);
  /* Size is enforced while writing. */
  char *d2 = kk_image_digest_of("abc", 3);
  struct kk_blob_writer *w = NULL;
  ck_assert_int_eq(kk_image_writer_open(s, d2, 2, &w, &err), 0);
  ck_assert_int_eq(kk_image_writer_write(w, "abc", 3, &err), -1);
  kk_error_free(&err);
  kk_image_writer_free(w, false);
  free(d2);
  free(p);
  free(good);
  free(blobs);
  free(ingest);
  kk_image_store_close(s);
  ti_rmdir(d);
  free(d);
}
END_TEST

START_TEST(writer_resumes) {
  char *d = ti_tmpdir();
  struct kk_image_store *s = NULL;
  kk_err_t err = NULL;
  ck_assert_int_eq(kk_image_store_open(d, &s, &err), 0);
  const char *data = "0123456789abcdefghij";
  char *dg = kk_image_digest_of(data, 20);
  struct kk_blob_writer *w = NULL;
  ck_assert_int_eq(kk_image_writer_open(s, dg, 20, &w, &err), 0);
  ck_assert_int_eq(kk_image_writer_write(w, data, 8, &err), 0);
  kk_image_writer_free(w, true); /* interrupted: keep the partial */
  ck_assert(!kk_image_blob_exists(s, dg));
  ck_assert_int_eq(kk_image_writer_open(s, dg, 20, &w, &err), 0);
  ck_assert_int_eq(kk_image_writer_offset(w), 8);
  ck_assert_int_eq(kk_image_writer_write(w, data + 8, 12, &err), 0);
  ck_assert_int_eq(kk_image_writer_commit(w, NULL, NULL, &err), 0);
  kk_image_writer_free(w, true);
  ck_assert(kk_image_blob_exists(s, dg));
  /* Reset: a server that ignores Range. */
  char *dg2 = kk_image_digest_of("xyz", 3);
  ck_assert_int_eq(kk_image_writer_open(s, dg2, 3, &w, &err), 0);
  ck_assert_int_eq(kk_image_writer_write(w, "q", 1, &err), 0);
  ck_assert_int_eq(kk_image_writer_reset(w, &err), 0);
  ck_assert_int_eq(kk_image_writer_write(w, "xyz", 3, &err), 0);
  ck_assert_int_eq(kk_image_writer_commit(w, NULL, NULL, &err), 0);
  kk_image_writer_free(w, true);
  free(dg);
  free(dg2);
  kk_image_store_close(s);
  ti_rmdir(d);
  free(d);
}
END_TEST

static json_t *index_json(const char *d) {
  char *p = kk_asprintf("%s/images/" NS "/index.json", d);
  json_t *j = json_load_file(p, 0, NULL);
  free(p);
  ck_assert_ptr_nonnull(j);
  return j;
}

START_TEST(tag_list_delete_prune) {
  char *d = ti_tmpdir();
  struct kk_image_store *s = NULL;
  kk_err_t err = NULL;
  ck_assert_int_eq(kk_image_store_open(d, &s, &err), 0);
  struct img a, b;
  img_make(&a, "a", "A", "amd64");
  img_make(&b, "b", "B", "amd64");
  img_store(s, &a);
  img_store(s, &b);
  /* Missing blobs are refused by tag. */
  char *missing = kk_image_digest_of("x", 1);
  ck_assert_int_eq(kk_image_tag(s, NS, "busybox", missing, NULL, &err), -1);
  kk_error_free(&err);
  free(missing);
  ck_assert_int_eq(kk_image_tag(s, NS, "busybox", a.manifest_digest, NULL, &err), 0);
  ck_assert_int_eq(kk_image_tag(s, NS, "example.com/b:1", b.manifest_digest, NULL, &err), 0);
  ck_assert_int_eq(kk_image_tag(s, "other.kukeon.io", "busybox", b.manifest_digest, NULL, &err), 0);
  /* Retag moves. */
  ck_assert_int_eq(kk_image_tag(s, NS, "busybox:latest", b.manifest_digest, NULL, &err), 0);
  ck_assert_int_eq(kk_image_tag(s, NS, "docker.io/library/busybox", a.manifest_digest, NULL, &err), 0);
  json_t *j = index_json(d);
  ck_assert_int_eq(json_array_size(json_object_get(j, "manifests")), 2);
  const char *ref = json_string_value(json_object_get(
      json_object_get(json_array_get(json_object_get(j, "manifests"), 1), "annotations"), KK_ANNOTATION_REF_NAME));
  ck_assert_str_eq(ref, "docker.io/library/busybox:latest");
  json_decref(j);
  char *layout = kk_asprintf("%s/images/" NS, d);
  char *ls = ti_ls(layout);
  ck_assert_str_eq(ls, "blobs,index.json,oci-layout");
  free(ls);
  char *blobs_link = kk_asprintf("%s/blobs", layout);
  char buf[64];
  ssize_t n = readlink(blobs_link, buf, sizeof(buf) - 1);
  ck_assert_int_eq(n, 8);
  buf[n] = '\0';
  ck_assert_str_eq(buf, "../blobs");
  free(blobs_link);
  free(layout);

  struct kk_image_info *v = NULL;
  size_t nv = 0;
  ck_assert_int_eq(kk_image_list(s, NULL, &v, &nv, &err), 0);
  ck_assert_int_eq(nv, 3);
  ck_assert_str_eq(v[0].namespace_name, NS);
  ck_assert_str_eq(v[0].name, "docker.io/library/busybox:latest");
  ck_assert_str_eq(v[0].manifest_digest, a.manifest_digest);
  ck_assert_int_eq(v[0].size, (int64_t)(strlen(a.manifest) + strlen(a.config) + a.layer_len));
  ck_assert_str_eq(v[0].chain_id, a.diff_id);
  ck_assert_str_eq(kk_map_get(&v[0].labels, "l"), "v");
  ck_assert_int_gt(v[0].created, 0);
  ck_assert_str_eq(v[2].namespace_name, "other.kukeon.io");
  kk_image_infos_free(v, nv);
  ck_assert_int_eq(kk_image_list(s, "nothing.kukeon.io", &v, &nv, &err), 0);
  ck_assert_int_eq(nv, 0);
  free(v);

  struct kk_image_info info;
  ck_assert_int_eq(kk_image_get(s, NS, "nope", &info, &err), -1);
  ck_assert_int_eq(err->kind, KK_ERR_NOT_FOUND);
  ck_assert_str_eq(err->msg, "image \"docker.io/library/nope:latest\" not found");
  kk_error_free(&err);
  struct kk_image_config c;
  ck_assert_int_eq(kk_image_config_get(s, NS, "busybox", &c, &err), 0);
  ck_assert_str_eq(c.cmd.v[0], "/bin/sh");
  kk_image_config_free(&c);

  /* Delete collects what nothing references: a's blobs go, b's stay. */
  ck_assert_int_eq(kk_image_delete(s, NS, "busybox", &err), 0);
  ck_assert(!kk_image_blob_exists(s, a.layer_digest));
  ck_assert(kk_image_blob_exists(s, b.layer_digest));
  ck_assert_int_eq(kk_image_delete(s, NS, "busybox", &err), -1);
  ck_assert_int_eq(err->kind, KK_ERR_NOT_FOUND);
  kk_error_free(&err);
  /* Prune leaves referenced content. */
  struct kk_image_prune_result r;
  ck_assert_int_eq(kk_image_prune(s, &r, &err), 0);
  ck_assert_int_eq(r.blobs_removed, 0);
  ck_assert_int_eq(kk_image_delete(s, NS, "example.com/b:1", &err), 0);
  ck_assert(kk_image_blob_exists(s, b.layer_digest)); /* other.kukeon.io still has it */
  ck_assert_int_eq(kk_image_namespace_validate("bad/ns", &err), -1);
  kk_error_free(&err);
  ck_assert_int_eq(kk_image_namespace_validate("blobs", &err), -1);
  kk_error_free(&err);
  img_free(&a);
  img_free(&b);
  kk_image_store_close(s);
  ti_rmdir(d);
  free(d);
}
END_TEST

/* kuke status's counts: per namespace what its images reference and is
 * present; in all, what is on disk and what nothing references. */
START_TEST(usage_counts) {
  char *d = ti_tmpdir();
  struct kk_image_store *s = NULL;
  kk_err_t err = NULL;
  ck_assert_int_eq(kk_image_store_open(d, &s, &err), 0);
  struct img a, b;
  img_make(&a, "a", "A", "amd64");
  img_make(&b, "b", "B", "amd64");
  img_store(s, &a);
  img_store(s, &b);
  ck_assert_int_eq(kk_image_tag(s, NS, "busybox", a.manifest_digest, NULL, &err), 0);
  ck_assert_int_eq(kk_image_tag(s, NS, "example.com/b:1", b.manifest_digest, NULL, &err), 0);
  ck_assert_int_eq(kk_image_tag(s, "other.kukeon.io", "busybox", b.manifest_digest, NULL, &err), 0);
  ck_assert_int_eq(kk_image_blob_put(s, NULL, "stray", 5, NULL, &err), 0);
  /* a's layer unpacked, and a snapshot nothing references. */
  char *snap = kk_asprintf("%s/snapshots/%s", d, a.diff_id + 7), *stray = kk_asprintf("%s/snapshots/%064d", d, 0);
  ck_assert_int_eq(mkdir(snap, 0700), 0);
  ck_assert_int_eq(mkdir(stray, 0700), 0);
  int64_t a_bytes = (int64_t)(strlen(a.manifest) + strlen(a.config) + a.layer_len);
  int64_t b_bytes = (int64_t)(strlen(b.manifest) + strlen(b.config) + b.layer_len);

  struct kk_image_usage u;
  ck_assert_int_eq(kk_image_usage(s, NS, &u, &err), 0);
  ck_assert_uint_eq(u.images, 2);
  ck_assert_uint_eq(u.blobs, 6);
  ck_assert_int_eq(u.blob_bytes, a_bytes + b_bytes);
  ck_assert_uint_eq(u.snapshots, 1);
  ck_assert_int_eq(kk_image_usage(s, "other.kukeon.io", &u, &err), 0);
  ck_assert_uint_eq(u.images, 1);
  ck_assert_uint_eq(u.blobs, 3);
  ck_assert_int_eq(u.blob_bytes, b_bytes);
  ck_assert_uint_eq(u.snapshots, 0);
  ck_assert_int_eq(kk_image_usage(s, NULL, &u, &err), 0);
  ck_assert_uint_eq(u.images, 3);
  ck_assert_uint_eq(u.blobs, 7);
  ck_assert_int_eq(u.blob_bytes, a_bytes + b_bytes + 5);
  ck_assert_uint_eq(u.snapshots, 2);
  ck_assert_uint_eq(u.unreferenced_blobs, 1);
  ck_assert_uint_eq(u.unreferenced_snapshots, 1);
  ck_assert_uint_eq(u.leases, 0);
  /* Counting changed nothing: prune still finds the stray blob. */
  struct kk_image_prune_result r;
  ck_assert_int_eq(kk_image_prune(s, &r, &err), 0);
  ck_assert_uint_eq(r.blobs_removed, 1);
  ck_assert_uint_eq(r.snapshots_removed, 1);
  free(snap);
  free(stray);
  img_free(&a);
  img_free(&b);
  kk_image_store_close(s);
  ti_rmdir(d);
  free(d);
}
END_TEST

/* Write an outer tar (the archive) holding named members. */
struct member {
  const char *name;
  const char *data;
  size_t len;
};

static char *write_archive(const char *dir, const char *name, const struct member *m, size_t n, bool gzip) {
  struct tb t;
  tb_init(&t, gzip ? TB_GZIP : TB_NONE);
  for (size_t i = 0; i < n; i++)
    tb_add(&t, tb_entry(m[i].name, AE_IFREG, 0644), m[i].data, m[i].len ? m[i].len : strlen(m[i].data));
  int fd = tb_fd(&t);
  tb_free(&t);
  char *p = kk_asprintf("%s/%s", dir, name);
  int out = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  char buf[65536];
  ssize_t r;
  while ((r = read(fd, buf, sizeof(buf))) > 0)
    kk_write_all(out, buf, (size_t)r);
  close(out);
  close(fd);
  return p;
}

START_TEST(load_archives) {
  char *d = ti_tmpdir();
  struct kk_image_store *s = NULL;
  kk_err_t err = NULL;
  char *run = kk_asprintf("%s/run", d);
  ck_assert_int_eq(kk_image_store_open(run, &s, &err), 0);
  struct img a, arm;
  img_make(&a, "hello", "world", "amd64");
  img_make(&arm, "hello", "arm", "arm64");
  /* OCI archive with an index of two platforms, the arm64 blobs missing. */
  char *bn[6];
  bn[0] = kk_asprintf("blobs/sha256/%s", a.layer_digest + 7);
  bn[1] = kk_asprintf("blobs/sha256/%s", a.config_digest + 7);
  bn[2] = kk_asprintf("blobs/sha256/%s", a.manifest_digest + 7);
  char *idx = kk_asprintf("{\"schemaVersion\":2,\"mediaType\":\"%s\",\"manifests\":["
                          "{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu,\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\"}},"
                          "{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu,\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}}]}",
                          KK_MT_OCI_INDEX, KK_MT_OCI_MANIFEST, arm.manifest_digest, strlen(arm.manifest),
                          KK_MT_OCI_MANIFEST, a.manifest_digest, strlen(a.manifest));
  char *idx_digest = kk_image_digest_of(idx, strlen(idx));
  bn[3] = kk_asprintf("blobs/sha256/%s", idx_digest + 7);
  char *top = kk_asprintf("{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu,"
                          "\"annotations\":{\"org.opencontainers.image.ref.name\":\"example.com/multi:1\"}},"
                          "{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu,\"annotations\":{\"org.opencontainers.image.ref.name\":\"v2\"}}]}",
                          KK_MT_OCI_INDEX, idx_digest, strlen(idx), KK_MT_OCI_MANIFEST, a.manifest_digest,
                          strlen(a.manifest));
  struct member oci[] = {
      {"oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}", 0},
      {"index.json", top, 0},
      {bn[0], a.layer, a.layer_len},
      {bn[1], a.config, 0},
      {bn[2], a.manifest, 0},
      {bn[3], idx, 0},
  };
  char *path = write_archive(d, "oci.tar.gz", oci, KK_ARRAY_SIZE(oci), true);
  struct kk_image_load_result r;
  struct kk_image_load_opts lo = {.name = "example.com/named"};
  struct kk_platform amd = {.os = "linux", .architecture = "amd64"};
  lo.platform = &amd;
  ck_assert_msg(kk_image_load(s, NS, path, &lo, &r, &err) == 0, "%s", err ? err->msg : "");
  ck_assert_int_eq(r.refs.n, 2);
  ck_assert_str_eq(r.refs.v[0], "example.com/multi:1");
  ck_assert_str_eq(r.refs.v[1], "example.com/named:v2");
  kk_image_load_result_free(&r);
  struct kk_image_info info;
  ck_assert_int_eq(kk_image_get(s, NS, "example.com/multi:1", &info, &err), 0);
  ck_assert_str_eq(info.digest, idx_digest);
  ck_assert_str_eq(info.manifest_digest, a.manifest_digest);
  kk_image_info_free(&info);
  /* Only arm64 wanted: the index has no arm64 blobs in the archive, and the
   * single-platform manifest's config says amd64: both skipped. */
  struct kk_platform armp = {.os = "linux", .architecture = "arm64"};
  lo.platform = &armp;
  lo.name = NULL;
  ck_assert_int_eq(kk_image_load(s, "arm.kukeon.io", path, &lo, &r, &err), 0);
  ck_assert_int_eq(r.refs.n, 0);
  ck_assert_int_eq(r.skipped.n, 2);
  ck_assert_msg(strstr(r.skipped.v[0], "no manifest for linux/arm64"), "%s", r.skipped.v[0]);
  ck_assert_msg(strstr(r.skipped.v[1], "platform linux/amd64, not linux/arm64"), "%s", r.skipped.v[1]);
  kk_image_load_result_free(&r);
  /* Issue #17: without a name the tag-only "v2" is skipped (not guessed as
   * docker.io/library/v2:latest); the named image loads. */
  lo.platform = &amd;
  ck_assert_int_eq(kk_image_load(s, "tags.kukeon.io", path, &lo, &r, &err), 0);
  ck_assert_int_eq(r.refs.n, 1);
  ck_assert_str_eq(r.refs.v[0], "example.com/multi:1");
  ck_assert_int_eq(r.skipped.n, 1);
  ck_assert_msg(strstr(r.skipped.v[0], ": ref \"v2\" is only a tag, not an image name (use --name)"), "%s",
                r.skipped.v[0]);
  kk_image_load_result_free(&r);
  free(path);

  /* A blob member whose content does not match its name. */
  struct member bad[] = {{"index.json", top, 0}, {bn[0], "tampered", 0}};
  path = write_archive(d, "bad.tar", bad, KK_ARRAY_SIZE(bad), false);
  ck_assert_int_eq(kk_image_load(s, "bad.kukeon.io", path, NULL, &r, &err), -1);
  ck_assert_msg(strstr(err->msg, "digest mismatch") || strstr(err->msg, "bytes"), "%s", err->msg);
  kk_error_free(&err);
  free(path);

  /* docker-archive (docker save / podman save): manifest.json, <hex>.json, <id>/layer.tar. */
  struct tb t;
  tb_init(&t, TB_NONE);
  tb_file(&t, "etc/os-release", "kukeon", 0644);
  ck_assert_int_eq(archive_write_close(t.a), ARCHIVE_OK);
  archive_write_free(t.a);
  char *diff = kk_image_digest_of(t.buf, t.used);
  char *cfg = kk_asprintf("{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"%s\"]}}", diff);
  char *cfg_digest = kk_image_digest_of(cfg, strlen(cfg));
  char *cfg_name = kk_asprintf("%s.json", cfg_digest + 7);
  char *mj = kk_asprintf("[{\"Config\":\"%s\",\"RepoTags\":[\"busybox:docker\",\"quay.io/x/y:z\"],\"Layers\":[\"abc/layer.tar\"]}]", cfg_name);
  struct member dk[] = {
      {cfg_name, cfg, 0},
      {"abc/layer.tar", t.buf, t.used},
      {"abc/json", "{}", 0},
      {"abc/VERSION", "1.0", 0},
      {"manifest.json", mj, 0},
      {"repositories", "{}", 0},
  };
  path = write_archive(d, "docker.tar", dk, KK_ARRAY_SIZE(dk), false);
  ck_assert_msg(kk_image_load(s, NS, path, NULL, &r, &err) == 0, "%s", err ? err->msg : "");
  ck_assert_int_eq(r.refs.n, 2);
  ck_assert_str_eq(r.refs.v[0], "docker.io/library/busybox:docker");
  ck_assert_str_eq(r.refs.v[1], "quay.io/x/y:z");
  kk_image_load_result_free(&r);
  ck_assert_int_eq(kk_image_get(s, NS, "quay.io/x/y:z", &info, &err), 0);
  ck_assert_str_eq(info.chain_id, diff);
  kk_image_info_free(&info);

  /* The snapshot and a copied rootfs. */
  struct kk_strv chain;
  ck_assert_msg(kk_image_prepare(s, NS, "quay.io/x/y:z", NULL, &chain, &err) == 0, "%s", err ? err->msg : "");
  ck_assert_int_eq(chain.n, 1);
  kk_strv_free(&chain);
  char *target = kk_asprintf("%s/rootfs", d);
  struct kk_rootfs_opts ro = {.force_copy = true};
  ck_assert_msg(kk_image_rootfs_mount(s, NS, "quay.io/x/y:z", target, NULL, NULL, &ro, &err) == 0, "%s",
                err ? err->msg : "");
  char *v = ti_read(target, "etc/os-release");
  ck_assert_str_eq(v, "kukeon");
  free(v);
  char *mode = kk_image_rootfs_mode(s, target);
  ck_assert_str_eq(mode, "copy");
  free(mode);
  /* In use: delete + prune keep the snapshot. */
  ck_assert_int_eq(kk_image_delete(s, NS, "quay.io/x/y:z", &err), 0);
  ck_assert_int_eq(kk_image_delete(s, NS, "busybox:docker", &err), 0);
  struct kk_image_prune_result pr;
  ck_assert_int_eq(kk_image_prune(s, &pr, &err), 0);
  ck_assert_int_eq(pr.leases, 1);
  char *snap = kk_asprintf("%s/snapshots/%s/rootfs/etc/os-release", run, diff + 7);
  struct stat st;
  ck_assert_int_eq(stat(snap, &st), 0);
  ck_assert_int_eq(kk_image_rootfs_unmount(s, target, &err), 0);
  char *ls = ti_ls(target);
  ck_assert_str_eq(ls, "");
  free(ls);
  ck_assert_int_eq(kk_image_prune(s, &pr, &err), 0);
  ck_assert_int_eq(pr.snapshots_removed, 1);
  ck_assert_int_ne(stat(snap, &st), 0);
  free(snap);
  free(target);

  for (int i = 0; i < 4; i++)
    free(bn[i]);
  free(idx);
  free(idx_digest);
  free(top);
  free(path);
  free(diff);
  free(cfg);
  free(cfg_digest);
  free(cfg_name);
  free(mj);
  tb_free(&t);
  img_free(&a);
  img_free(&arm);
  kk_image_store_close(s);
  free(run);
  ti_rmdir(d);
  free(d);
}
END_TEST

START_TEST(prepare_failure_leaves_nothing) {
  char *d = ti_tmpdir();
  struct kk_image_store *s = NULL;
  kk_err_t err = NULL;
  ck_assert_int_eq(kk_image_store_open(d, &s, &err), 0);
  struct img a;
  img_make(&a, "../escape", "x", "amd64");
  img_store(s, &a);
  ck_assert_int_eq(kk_image_tag(s, NS, "evil", a.manifest_digest, NULL, &err), 0);
  ck_assert_int_eq(kk_image_prepare(s, NS, "evil", NULL, NULL, &err), -1);
  ck_assert_msg(strstr(err->msg, "\"..\""), "%s", err->msg);
  kk_error_free(&err);
  char *snaps = kk_asprintf("%s/snapshots", d);
  char *ls = ti_ls(snaps);
  ck_assert_str_eq(ls, ".leases");
  free(ls);
  free(snaps);
  img_free(&a);
  kk_image_store_close(s);
  ti_rmdir(d);
  free(d);
}
END_TEST

START_TEST(unsynced_snapshot_from_earlier_boot_is_rebuilt) {
  char *d = ti_tmpdir();
  struct kk_image_store *s = NULL;
  kk_err_t err = NULL;
  ck_assert_int_eq(kk_image_store_open(d, &s, &err), 0);
  struct img a;
  img_make(&a, "file", "content", "amd64");
  img_store(s, &a);
  ck_assert_int_eq(kk_image_tag(s, NS, "x", a.manifest_digest, NULL, &err), 0);
  ck_assert_int_eq(kk_image_prepare(s, NS, "x", NULL, NULL, &err), 0);
  char *snap = kk_asprintf("%s/snapshots/%s", d, a.diff_id + 7);
  char *meta = kk_asprintf("%s/meta.json", snap);
  json_t *j = json_load_file(meta, 0, NULL);
  ck_assert_ptr_nonnull(j);
  ck_assert(json_is_false(json_object_get(j, "synced")));
  ck_assert_ptr_nonnull(json_string_value(json_object_get(j, "bootID")));
  /* Same boot: reused as is. */
  char *marker = kk_asprintf("%s/rootfs/marker", snap);
  FILE *f = fopen(marker, "w");
  fclose(f);
  ck_assert_int_eq(kk_image_prepare(s, NS, "x", NULL, NULL, &err), 0);
  struct stat st;
  ck_assert_int_eq(stat(marker, &st), 0);
  /* Made in another boot and never synced: rebuilt. */
  json_object_set_new(j, "bootID", json_string("another-boot"));
  ck_assert_int_eq(json_dump_file(j, meta, 0), 0);
  ck_assert_int_eq(kk_image_prepare(s, NS, "x", NULL, NULL, &err), 0);
  ck_assert_int_ne(stat(marker, &st), 0);
  char *v = ti_read(snap, "rootfs/file");
  ck_assert_str_eq(v, "content");
  free(v);
  char *snaps = kk_asprintf("%s/snapshots", d);
  char *ls = ti_ls(snaps);
  ck_assert_msg(strstr(ls, ".stale-") != NULL, "%s", ls);
  free(ls);
  /* Synced ones are trusted across boots; prune removes the stale copy. */
  struct kk_image_prune_result r;
  ck_assert_int_eq(kk_image_prune(s, &r, &err), 0);
  ls = ti_ls(snaps);
  ck_assert_msg(strstr(ls, ".stale-") == NULL, "%s", ls);
  free(ls);
  struct kk_unpack_opts sync = {.sync = true};
  ck_assert_int_eq(kk_image_delete(s, NS, "x", &err), 0);
  img_store(s, &a);
  ck_assert_int_eq(kk_image_tag(s, NS, "x", a.manifest_digest, NULL, &err), 0);
  ck_assert_int_eq(kk_image_prepare(s, NS, "x", &sync, NULL, &err), 0);
  json_decref(j);
  j = json_load_file(meta, 0, NULL);
  ck_assert(json_is_true(json_object_get(j, "synced")));
  json_decref(j);
  free(snaps);
  free(marker);
  free(meta);
  free(snap);
  img_free(&a);
  kk_image_store_close(s);
  ti_rmdir(d);
  free(d);
}
END_TEST

START_TEST(ensure_never_pulls_local_refs) {
  char *d = ti_tmpdir();
  struct kk_image_store *s = NULL;
  kk_err_t err = NULL;
  ck_assert_int_eq(kk_image_store_open(d, &s, &err), 0);
  /* Missing and local to kukeon: refused without any network. */
  ck_assert_int_eq(kk_image_ensure(s, NS, "kukeon.internal/pause:1", NULL, &err), -1);
  ck_assert_int_eq(err->kind, KK_ERR_NOT_FOUND);
  ck_assert_msg(strstr(err->msg, "never pulled"), "%s", err->msg);
  kk_error_free(&err);
  /* Present: nothing to do. */
  struct img a;
  img_make(&a, "f", "x", "amd64");
  img_store(s, &a);
  ck_assert_int_eq(kk_image_tag(s, NS, "kukeon.internal/pause:1", a.manifest_digest, NULL, &err), 0);
  ck_assert_int_eq(kk_image_ensure(s, NS, "kukeon.internal/pause:1", NULL, &err), 0);
  img_free(&a);
  kk_image_store_close(s);
  ti_rmdir(d);
  free(d);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("image_store");
  TCase *t = tcase_create("image_store");
  tcase_set_timeout(t, 60);
  tcase_add_test(t, blobs_verified);
  tcase_add_test(t, writer_resumes);
  tcase_add_test(t, tag_list_delete_prune);
  tcase_add_test(t, usage_counts);
  tcase_add_test(t, load_archives);
  tcase_add_test(t, prepare_failure_leaves_nothing);
  tcase_add_test(t, unsynced_snapshot_from_earlier_boot_is_rebuilt);
  tcase_add_test(t, ensure_never_pulls_local_refs);
  suite_add_tcase(s, t);
  return s;
}

KK_UNIT_MAIN(suite)

/* Image references, digests, chain IDs, platforms, manifest parsing. */
#include <string.h>

#include "image/image.h"
#include "tests/unit/unit.h"

static void norm_ok(const char *in, const char *want) {
  kk_err_t err = NULL;
  char *got = kk_image_ref_normalize(in, &err);
  ck_assert_msg(got != NULL, "%s: %s", in, err ? err->msg : "");
  ck_assert_str_eq(got, want);
  free(got);
}

static void norm_bad(const char *in, const char *needle) {
  kk_err_t err = NULL;
  char *got = kk_image_ref_normalize(in, &err);
  ck_assert_msg(got == NULL, "%s accepted as %s", in, got);
  ck_assert_ptr_nonnull(err);
  ck_assert_msg(strstr(err->msg, needle) != NULL, "%s: \"%s\" lacks \"%s\"", in, err->msg, needle);
  kk_error_free(&err);
}

#define D64 "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

START_TEST(ref_normalize) {
  norm_ok("busybox", "docker.io/library/busybox:latest");
  norm_ok("busybox:1.36", "docker.io/library/busybox:1.36");
  norm_ok("library/busybox", "docker.io/library/busybox:latest");
  norm_ok("docker.io/busybox", "docker.io/library/busybox:latest");
  norm_ok("index.docker.io/library/busybox:1", "docker.io/library/busybox:1");
  norm_ok("eminwux/kukeon:v0.6.0", "docker.io/eminwux/kukeon:v0.6.0");
  norm_ok("ghcr.io/eminwux/kukeon", "ghcr.io/eminwux/kukeon:latest");
  norm_ok("localhost/x", "localhost/x:latest");
  norm_ok("127.0.0.1:5000/a/b/c:t-1.2_3", "127.0.0.1:5000/a/b/c:t-1.2_3");
  norm_ok("busybox@" D64, "docker.io/library/busybox@" D64);
  norm_ok("busybox:1@" D64, "docker.io/library/busybox:1@" D64);
  norm_ok("my-reg.example.com:443/team/app__x", "my-reg.example.com:443/team/app__x:latest");
  norm_ok("[::1]:5000/x", "[::1]:5000/x:latest");
}
END_TEST

START_TEST(ref_invalid) {
  norm_bad("", "empty");
  norm_bad("Busybox", "lowercase");
  norm_bad("busybox:", "invalid tag");
  norm_bad("busybox:-x", "invalid tag");
  norm_bad("bus box", "whitespace");
  norm_bad("busybox@sha256:abc", "invalid digest");
  norm_bad("busybox@sha512:abc", "unsupported digest algorithm");
  norm_bad("a//b", "invalid name component");
  norm_bad("a/b-", "invalid name component");
  norm_bad("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "hexadecimal");
  norm_bad("ex ample.com/x", "whitespace");
  norm_bad("-bad.com/x", "invalid registry host");
}
END_TEST

START_TEST(ref_parts) {
  struct kk_image_ref r;
  kk_err_t err = NULL;
  ck_assert_int_eq(kk_image_ref_parse("127.0.0.1:5000/x/y:1", &r, &err), 0);
  ck_assert_str_eq(r.domain, "127.0.0.1:5000");
  ck_assert_str_eq(r.path, "x/y");
  ck_assert_str_eq(r.tag, "1");
  ck_assert_ptr_null(r.digest);
  kk_image_ref_free(&r);
}
END_TEST

START_TEST(digest_and_chain) {
  ck_assert(kk_image_digest_valid(D64));
  ck_assert(!kk_image_digest_valid("sha256:0123"));
  ck_assert(!kk_image_digest_valid("sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef"));
  ck_assert(!kk_image_digest_valid("md5:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"));
  char *d = kk_image_digest_of("", 0);
  ck_assert_str_eq(d, "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  free(d);
  /* ChainID(L0,L1) = sha256(DiffID0 + " " + DiffID1): checked against sha256sum. */
  struct kk_strv diff = {0}, chain;
  kk_strv_push(&diff, "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
  kk_strv_push(&diff, "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
  kk_image_chain_ids_of(&diff, &chain);
  ck_assert_int_eq(chain.n, 2);
  ck_assert_str_eq(chain.v[0], diff.v[0]);
  char *s = kk_asprintf("%s %s", diff.v[0], diff.v[1]);
  char *want = kk_image_digest_of(s, strlen(s));
  ck_assert_str_eq(chain.v[1], want);
  free(s);
  free(want);
  kk_strv_free(&diff);
  kk_strv_free(&chain);
}
END_TEST

START_TEST(platform_select) {
  const char *idx = "{\"schemaVersion\":2,\"mediaType\":\"" KK_MT_OCI_INDEX "\",\"manifests\":["
                    "{\"mediaType\":\"application/vnd.in-toto+json\",\"digest\":\"" D64 "\",\"size\":1},"
                    "{\"mediaType\":\"" KK_MT_OCI_MANIFEST "\",\"digest\":\"sha256:1111111111111111111111111111111111111111111111111111111111111111\",\"size\":10,"
                    "\"platform\":{\"os\":\"linux\",\"architecture\":\"arm\",\"variant\":\"v6\"}},"
                    "{\"mediaType\":\"" KK_MT_OCI_MANIFEST "\",\"digest\":\"sha256:2222222222222222222222222222222222222222222222222222222222222222\",\"size\":10,"
                    "\"platform\":{\"os\":\"linux\",\"architecture\":\"arm\",\"variant\":\"v7\"}},"
                    "{\"mediaType\":\"" KK_MT_OCI_MANIFEST "\",\"digest\":\"sha256:3333333333333333333333333333333333333333333333333333333333333333\",\"size\":10,"
                    "\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}},"
                    "{\"mediaType\":\"" KK_MT_OCI_MANIFEST "\",\"digest\":\"sha256:4444444444444444444444444444444444444444444444444444444444444444\",\"size\":10,"
                    "\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}}]}";
  struct kk_image_index x;
  kk_err_t err = NULL;
  ck_assert_int_eq(kk_image_index_parse(idx, strlen(idx), &x, &err), 0);
  ck_assert_int_eq(x.n_manifests, 5);
  struct kk_platform p;
  ck_assert_int_eq(kk_image_platform_parse("linux/arm/v7", &p, &err), 0);
  const struct kk_descriptor *d = kk_image_index_select(&x, &p);
  ck_assert_ptr_nonnull(d);
  ck_assert_uint_eq(d->digest[7], '2');
  kk_image_platform_free(&p);
  ck_assert_int_eq(kk_image_platform_parse("linux/amd64", &p, &err), 0);
  d = kk_image_index_select(&x, &p);
  ck_assert_uint_eq(d->digest[7], '3'); /* the first match wins */
  kk_image_platform_free(&p);
  ck_assert_int_eq(kk_image_platform_parse("linux/s390x", &p, &err), 0);
  ck_assert_ptr_null(kk_image_index_select(&x, &p));
  kk_image_platform_free(&p);
  kk_image_index_free(&x);
  struct kk_platform h;
  kk_image_platform_host(&h);
  ck_assert_str_eq(h.os, "linux");
  kk_image_platform_free(&h);
}
END_TEST

static void manifest_bad(const char *json, const char *needle) {
  struct kk_image_manifest m;
  kk_err_t err = NULL;
  ck_assert_int_eq(kk_image_manifest_parse(json, strlen(json), &m, &err), -1);
  ck_assert_msg(strstr(err->msg, needle), "\"%s\" lacks \"%s\"", err->msg, needle);
  kk_error_free(&err);
}

START_TEST(manifest_parse) {
  const char *ok = "{\"schemaVersion\":2,\"mediaType\":\"" KK_MT_DOCKER_MANIFEST "\","
                   "\"config\":{\"mediaType\":\"" KK_MT_DOCKER_CONFIG "\",\"digest\":\"" D64 "\",\"size\":7},"
                   "\"layers\":[{\"mediaType\":\"" KK_MT_DOCKER_LAYER_GZIP "\",\"digest\":\"" D64 "\",\"size\":9}]}";
  struct kk_image_manifest m;
  kk_err_t err = NULL;
  ck_assert_int_eq(kk_image_manifest_parse(ok, strlen(ok), &m, &err), 0);
  ck_assert_int_eq(m.n_layers, 1);
  ck_assert_int_eq(m.layers[0].size, 9);
  ck_assert(kk_image_layer_media_type_ok(m.layers[0].media_type));
  kk_image_manifest_free(&m);
  enum kk_manifest_kind kind;
  ck_assert_int_eq(kk_image_manifest_kind_of(NULL, ok, strlen(ok), &kind, &err), 0);
  ck_assert_int_eq(kind, KK_MANIFEST_IMAGE);

  manifest_bad("{\"schemaVersion\":1,\"fsLayers\":[]}", "schema 1");
  manifest_bad("[]", "not a JSON object");
  manifest_bad("{\"schemaVersion\":2,\"config\":{\"digest\":\"" D64 "\",\"size\":-1},\"layers\":[]}", "non-negative");
  manifest_bad("{\"schemaVersion\":2,\"config\":{\"digest\":\"sha256:abc\",\"size\":1},\"layers\":[]}", "malformed digest");
  manifest_bad("{\"schemaVersion\":2,\"config\":{\"digest\":\"" D64 "\",\"size\":1}}", "layers");
  manifest_bad("{\"schemaVersion\":2,\"schemaVersion\":2}", "duplicate");
  manifest_bad("{\"schemaVersion\":2,\"config\":{\"digest\":\"" D64 "\",\"size\":1},\"layers\":[{\"digest\":7,\"size\":1}]}",
               "must be a string");
  ck_assert_int_eq(kk_image_manifest_kind_of("application/vnd.docker.distribution.manifest.v1+prettyjws", "{}", 2, &kind, &err), -1);
  kk_error_free(&err);
}
END_TEST

START_TEST(config_parse) {
  const char *c = "{\"architecture\":\"amd64\",\"os\":\"linux\",\"created\":\"2024-01-02T03:04:05.123456789Z\","
                  "\"config\":{\"Env\":[\"A=1\"],\"Entrypoint\":[\"/bin/sh\"],\"Cmd\":[\"-c\",\"x\"],\"WorkingDir\":\"/w\","
                  "\"User\":\"1:2\",\"ExposedPorts\":{\"80/tcp\":{}},\"Labels\":{\"k\":\"v\"}},"
                  "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" D64 "\"]}}";
  struct kk_image_config cfg;
  kk_err_t err = NULL;
  ck_assert_int_eq(kk_image_config_parse(c, strlen(c), &cfg, &err), 0);
  ck_assert_str_eq(cfg.platform.architecture, "amd64");
  ck_assert_int_eq(cfg.created, 1704164645);
  ck_assert_str_eq(cfg.entrypoint.v[0], "/bin/sh");
  ck_assert_int_eq(cfg.cmd.n, 2);
  ck_assert_str_eq(cfg.working_dir, "/w");
  ck_assert_str_eq(cfg.user, "1:2");
  ck_assert_str_eq(cfg.exposed_ports.v[0], "80/tcp");
  ck_assert_str_eq(kk_map_get(&cfg.labels, "k"), "v");
  ck_assert_int_eq(cfg.diff_ids.n, 1);
  kk_image_config_free(&cfg);
  const char *bad = "{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"sha256:zz\"]}}";
  ck_assert_int_eq(kk_image_config_parse(bad, strlen(bad), &cfg, &err), -1);
  kk_error_free(&err);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("image_ref");
  TCase *t = tcase_create("image_ref");
  tcase_add_test(t, ref_normalize);
  tcase_add_test(t, ref_invalid);
  tcase_add_test(t, ref_parts);
  tcase_add_test(t, digest_and_chain);
  tcase_add_test(t, platform_select);
  tcase_add_test(t, manifest_parse);
  tcase_add_test(t, config_parse);
  suite_add_tcase(s, t);
  return s;
}

KK_UNIT_MAIN(suite)

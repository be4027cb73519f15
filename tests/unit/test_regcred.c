/* Realm pull settings: spec.registryCredentials and the kukeon extension
 * spec.insecureRegistries in manifests (parse, emit, diff), registry host
 * names, and their conversion into pull options
 * (kk_image_pull_opts_for_realm). */
#include <jansson.h>
#include <string.h>

#include "model/model.h"
#include "image/image.h"
#include "tests/unit/unit.h"

static struct kk_doc *realm(const char *yaml) {
  struct kk_doc_list l = {0};
  kk_err_t err = NULL;
  int r = kk_docs_parse(yaml, strlen(yaml), "t.yaml", &l, &err);
  ck_assert_msg(r == 0, "parse failed: %s", err ? err->msg : "?");
  ck_assert_uint_eq(l.n, 1);
  struct kk_doc *d = l.docs[0];
  free(l.docs);
  r = kk_doc_normalize(d, NULL, &err);
  if (r == 0)
    r = kk_doc_validate(d, &err);
  ck_assert_msg(r == 0, "validation failed: %s", err ? err->msg : "?");
  return d;
}

static const char full[] = "apiVersion: v1beta1\n"
                           "kind: Realm\n"
                           "metadata: {name: agents}\n"
                           "spec:\n"
                           "  registryCredentials:\n"
                           "  - {username: ci-bot, password: tok1, serverAddress: ghcr.io}\n"
                           "  - {username: any, password: tok2}\n"
                           "  insecureRegistries: [\"127.0.0.1:5000\", reg.lan, \"[::1]:5001\"]\n";

/* ------------------------------------------------------------ manifests */

START_TEST(insecure_registries_parse_emit) {
  cleanup_doc struct kk_doc *d = realm(full);
  const struct kk_realm *r = &d->u.realm;
  ck_assert_uint_eq(r->spec.insecure_registries.n, 3);
  ck_assert_str_eq(r->spec.insecure_registries.v[0], "127.0.0.1:5000");
  ck_assert_str_eq(r->spec.insecure_registries.v[1], "reg.lan");
  ck_assert_str_eq(r->spec.insecure_registries.v[2], "[::1]:5001");

  cleanup_free char *json = kk_doc_to_json(d);
  json_error_t je;
  json_t *j = json_loads(json, 0, &je);
  ck_assert_ptr_nonnull(j);
  json_t *list = json_object_get(json_object_get(j, "spec"), "insecureRegistries");
  ck_assert(json_is_array(list));
  ck_assert_uint_eq(json_array_size(list), 3);
  ck_assert_str_eq(json_string_value(json_array_get(list, 2)), "[::1]:5001");
  json_decref(j);

  /* YAML round trip: same spec. */
  cleanup_free char *yaml = kk_doc_to_yaml(d);
  ck_assert_ptr_nonnull(strstr(yaml, "insecureRegistries:"));
  cleanup_doc struct kk_doc *again = realm(yaml);
  ck_assert(kk_doc_spec_equal(d, again));
}
END_TEST

START_TEST(insecure_registries_absent_not_emitted) {
  cleanup_doc struct kk_doc *d = realm("kind: Realm\nmetadata: {name: r}\n");
  ck_assert_uint_eq(d->u.realm.spec.insecure_registries.n, 0);
  cleanup_free char *yaml = kk_doc_to_yaml(d);
  ck_assert_ptr_null(strstr(yaml, "insecureRegistries"));
}
END_TEST

START_TEST(insecure_registries_must_be_strings) {
  static const char *const bad[] = {
      "kind: Realm\nmetadata: {name: r}\nspec: {insecureRegistries: 127.0.0.1:5000}\n",
      "kind: Realm\nmetadata: {name: r}\nspec: {insecureRegistries: [{host: x}]}\n",
  };
  for (size_t i = 0; i < KK_ARRAY_SIZE(bad); i++) {
    struct kk_doc_list l = {0};
    kk_err_t err = NULL;
    ck_assert_int_eq(kk_docs_parse(bad[i], strlen(bad[i]), "t.yaml", &l, &err), -1);
    ck_assert_ptr_nonnull(err);
    ck_assert_ptr_nonnull(strstr(err->msg, "insecureRegistries"));
    ck_assert_uint_eq(l.n, 0);
    kk_error_free(&err);
  }
}
END_TEST

/* A changed credential or insecure list is a spec change apply reports,
 * by field path, never by value. */
START_TEST(diff_names_fields_not_secrets) {
  cleanup_doc struct kk_doc *a = realm(full);
  cleanup_doc struct kk_doc *b = kk_doc_clone(a);
  free(b->u.realm.spec.registry_credentials[0].password);
  b->u.realm.spec.registry_credentials[0].password = kk_xstrdup("NEWSECRET");
  kk_strv_push(&b->u.realm.spec.insecure_registries, "other:1");
  ck_assert(!kk_doc_spec_equal(a, b));
  struct kk_strv diff = {0};
  kk_doc_spec_diff(a, b, &diff);
  cleanup_free char *all = kk_strv_join(&diff, "|");
  ck_assert_ptr_nonnull(strstr(all, "spec.registryCredentials"));
  ck_assert_ptr_nonnull(strstr(all, "spec.insecureRegistries"));
  ck_assert_ptr_null(strstr(all, "NEWSECRET"));
  ck_assert_ptr_null(strstr(all, "tok1"));
  kk_strv_free(&diff);
}
END_TEST

/* ------------------------------------------------------- registry hosts */

START_TEST(registry_host_valid) {
  static const char *const good[] = {"127.0.0.1:5000", "ghcr.io", "localhost", "localhost:5000", "[::1]:5000",
                                     "[fe80::1]", "my-reg.example.com:443", "REG.LAN", "a:65535"};
  static const char *const bad[] = {"",         "http://reg.lan", "reg.lan/path", "reg.lan:", "reg.lan:0",
                                    "x:65536",  "x:abc",          "-x.io",        "x-.io",    "a..b",
                                    ".a",       "[::1",           "[zz::1]",      "x y",      "[::1]x",
                                    "[::1]:",   "x:5000:1",       "x_y.io",       "x:05000"};
  for (size_t i = 0; i < KK_ARRAY_SIZE(good); i++)
    ck_assert_msg(kk_registry_host_valid(good[i]), "%s should be valid", good[i]);
  for (size_t i = 0; i < KK_ARRAY_SIZE(bad); i++)
    ck_assert_msg(!kk_registry_host_valid(bad[i]), "\"%s\" should be invalid", bad[i]);
  ck_assert(!kk_registry_host_valid(NULL));
}
END_TEST

START_TEST(registry_listed) {
  struct kk_strv hosts = {0};
  kk_strv_push(&hosts, "127.0.0.1:5000");
  kk_strv_push(&hosts, "reg.lan");
  kk_strv_push(&hosts, "[::1]");
  kk_strv_push(&hosts, "registry-1.docker.io");
  ck_assert(kk_image_registry_listed(&hosts, "127.0.0.1:5000"));
  ck_assert(!kk_image_registry_listed(&hosts, "127.0.0.1:5001"));
  ck_assert(!kk_image_registry_listed(&hosts, "127.0.0.1"));
  ck_assert(!kk_image_registry_listed(&hosts, "127.0.0.10:5000"));
  ck_assert(kk_image_registry_listed(&hosts, "reg.lan"));
  ck_assert(kk_image_registry_listed(&hosts, "reg.lan:8443")); /* no port: any port */
  ck_assert(kk_image_registry_listed(&hosts, "REG.LAN"));
  ck_assert(!kk_image_registry_listed(&hosts, "reg.lan.evil.com"));
  ck_assert(!kk_image_registry_listed(&hosts, "evilreg.lan"));
  ck_assert(kk_image_registry_listed(&hosts, "[::1]:5000"));
  ck_assert(kk_image_registry_listed(&hosts, "docker.io")); /* Docker Hub's aliases are one host */
  ck_assert(!kk_image_registry_listed(&hosts, "ghcr.io"));
  ck_assert(!kk_image_registry_listed(&hosts, ""));
  ck_assert(!kk_image_registry_listed(NULL, "reg.lan"));
  kk_strv_free(&hosts);
}
END_TEST

/* ------------------------------------------------------- pull options */

START_TEST(opts_no_realm) {
  struct kk_pull_opts o = {.parallel = 3};
  struct kk_registry_cred *creds = (void *)1;
  kk_err_t err = NULL;
  ck_assert_int_eq(kk_image_pull_opts_for_realm(NULL, "127.0.0.1:5000/x:1", &o, &creds, &err), 0);
  ck_assert_ptr_null(creds);
  ck_assert_ptr_null(o.creds);
  ck_assert_uint_eq(o.n_creds, 0);
  ck_assert(!o.insecure);
  ck_assert_int_eq(o.parallel, 3);
}
END_TEST

START_TEST(opts_credentials_and_insecure) {
  cleanup_doc struct kk_doc *d = realm(full);
  struct kk_pull_opts o = {.parallel = 2};
  cleanup_free struct kk_registry_cred *creds = NULL;
  kk_err_t err = NULL;
  ck_assert_int_eq(kk_image_pull_opts_for_realm(d, "127.0.0.1:5000/fx/small:1", &o, &creds, &err), 0);
  ck_assert_ptr_eq(o.creds, creds);
  ck_assert_uint_eq(o.n_creds, 2);
  ck_assert_str_eq(o.creds[0].username, "ci-bot");
  ck_assert_str_eq(o.creds[0].password, "tok1");
  ck_assert_str_eq(o.creds[0].server, "ghcr.io");
  ck_assert_str_eq(o.creds[1].username, "any");
  ck_assert(kk_empty(o.creds[1].server)); /* matches whatever registry is pulled */
  ck_assert(o.insecure);
  ck_assert_int_eq(o.parallel, 2);
}
END_TEST

START_TEST(opts_not_listed_stays_secure) {
  cleanup_doc struct kk_doc *d = realm(full);
  static const char *const refs[] = {"ghcr.io/a/b:1", "busybox", "127.0.0.1:5001/x", "reg.lan.example/x"};
  for (size_t i = 0; i < KK_ARRAY_SIZE(refs); i++) {
    struct kk_pull_opts o = {0};
    cleanup_free struct kk_registry_cred *creds = NULL;
    kk_err_t err = NULL;
    ck_assert_int_eq(kk_image_pull_opts_for_realm(d, refs[i], &o, &creds, &err), 0);
    ck_assert_msg(!o.insecure, "%s must not be insecure", refs[i]);
    ck_assert_uint_eq(o.n_creds, 2);
  }
  /* An explicit --insecure is kept. */
  struct kk_pull_opts o = {.insecure = true};
  cleanup_free struct kk_registry_cred *creds = NULL;
  kk_err_t err = NULL;
  ck_assert_int_eq(kk_image_pull_opts_for_realm(d, "ghcr.io/a/b:1", &o, &creds, &err), 0);
  ck_assert(o.insecure);
  /* Listed without a port: any port of that host; case does not matter. */
  struct kk_pull_opts o2 = {0};
  cleanup_free struct kk_registry_cred *creds2 = NULL;
  ck_assert_int_eq(kk_image_pull_opts_for_realm(d, "REG.lan:8443/team/app:2", &o2, &creds2, &err), 0);
  ck_assert(o2.insecure);
}
END_TEST

START_TEST(opts_explicit_credentials_win) {
  cleanup_doc struct kk_doc *d = realm(full);
  struct kk_registry_cred mine = {.username = "me", .password = "pw"};
  struct kk_pull_opts o = {.creds = &mine, .n_creds = 1};
  cleanup_free struct kk_registry_cred *creds = NULL;
  kk_err_t err = NULL;
  ck_assert_int_eq(kk_image_pull_opts_for_realm(d, "127.0.0.1:5000/x:1", &o, &creds, &err), 0);
  ck_assert_ptr_null(creds);
  ck_assert_ptr_eq(o.creds, &mine);
  ck_assert_uint_eq(o.n_creds, 1);
  ck_assert(o.insecure); /* the realm's insecure list still applies */
}
END_TEST

START_TEST(opts_realm_without_settings) {
  cleanup_doc struct kk_doc *d = realm("kind: Realm\nmetadata: {name: plain}\n");
  struct kk_pull_opts o = {0};
  cleanup_free struct kk_registry_cred *creds = NULL;
  kk_err_t err = NULL;
  ck_assert_int_eq(kk_image_pull_opts_for_realm(d, "127.0.0.1:5000/x:1", &o, &creds, &err), 0);
  ck_assert_ptr_null(creds);
  ck_assert_uint_eq(o.n_creds, 0);
  ck_assert(!o.insecure);
}
END_TEST

START_TEST(opts_errors) {
  kk_err_t err = NULL;
  struct kk_pull_opts o = {0};
  struct kk_registry_cred *creds = NULL;
  /* An entry that is not host[:port] (kk_doc_validate is bypassed here). */
  cleanup_doc struct kk_doc *d = realm(full);
  kk_strv_push(&d->u.realm.spec.insecure_registries, "http://reg.lan/v2");
  ck_assert_int_eq(kk_image_pull_opts_for_realm(d, "reg.lan/x", &o, &creds, &err), -1);
  ck_assert_int_eq(err->kind, KK_ERR_INVALID);
  ck_assert_str_eq(err->msg,
                   "realm \"agents\": spec.insecureRegistries: \"http://reg.lan/v2\" is not a registry (host or host:port)");
  kk_error_free(&err);
  ck_assert_ptr_null(creds);
  ck_assert(!o.insecure);
  ck_assert_uint_eq(o.n_creds, 0);
  /* A bad reference. */
  cleanup_doc struct kk_doc *ok = realm(full);
  ck_assert_int_eq(kk_image_pull_opts_for_realm(ok, "UPPER/Case", &o, &creds, &err), -1);
  ck_assert_ptr_nonnull(err);
  kk_error_free(&err);
  ck_assert_ptr_null(creds);
  /* Not a realm. */
  cleanup_doc struct kk_doc *sp = kk_doc_new(KK_KIND_SPACE);
  kk_doc_metadata(sp)->name = kk_xstrdup("s");
  ck_assert_int_eq(kk_image_pull_opts_for_realm(sp, "busybox", &o, &creds, &err), -1);
  ck_assert_str_eq(err->msg, "pull settings: space \"s\" is not a realm");
  kk_error_free(&err);
}
END_TEST

static Suite *regcred_suite(void) {
  Suite *s = suite_create("regcred");
  TCase *m = tcase_create("manifest");
  tcase_add_test(m, insecure_registries_parse_emit);
  tcase_add_test(m, insecure_registries_absent_not_emitted);
  tcase_add_test(m, insecure_registries_must_be_strings);
  tcase_add_test(m, diff_names_fields_not_secrets);
  suite_add_tcase(s, m);
  TCase *h = tcase_create("hosts");
  tcase_add_test(h, registry_host_valid);
  tcase_add_test(h, registry_listed);
  suite_add_tcase(s, h);
  TCase *o = tcase_create("pull_opts");
  tcase_add_test(o, opts_no_realm);
  tcase_add_test(o, opts_credentials_and_insecure);
  tcase_add_test(o, opts_not_listed_stays_secure);
  tcase_add_test(o, opts_explicit_credentials_win);
  tcase_add_test(o, opts_realm_without_settings);
  tcase_add_test(o, opts_errors);
  suite_add_tcase(s, o);
  return s;
}

KK_UNIT_MAIN(regcred_suite)

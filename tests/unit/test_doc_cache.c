/* store/doc_cache: parsed documents by path and exact bytes, and the store
 * reading through it (a file changed behind the store's back is read
 * afresh; a deleted resource's files are forgotten). */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/fs.h"
#include "lib/util.h"
#include "model/model.h"
#include "store/doc_cache.h"
#include "store/store.h"
#include "tests/unit/unit.h"

static const char REALM_A[] = "kind: Realm\nmetadata: {name: r1, labels: {v: aaaa}}\n";
static const char REALM_B[] = "kind: Realm\nmetadata: {name: r1, labels: {v: bbbb}}\n";

static struct kk_doc *parse(const char *y) {
  struct kk_doc *d = NULL;
  kk_err_t err = NULL;
  ck_assert_msg(kk_doc_parse_one(y, strlen(y), "test", KK_KIND_REALM, &d, &err) == 0, "%s", err ? err->msg : "");
  return d;
}

static const char *label_v(const struct kk_doc *d) {
  const char *v = kk_map_get(&d->u.realm.metadata.labels, "v");
  return v ? v : "";
}

START_TEST(same_bytes_same_path_only) {
  struct kk_doc_cache *c = kk_doc_cache_new();
  cleanup_doc struct kk_doc *a = parse(REALM_A);
  ck_assert_ptr_null(kk_doc_cache_get(c, "r1/realm.yaml", REALM_A, strlen(REALM_A)));
  kk_doc_cache_put(c, "./r1/realm.yaml", REALM_A, strlen(REALM_A), a);
  cleanup_doc struct kk_doc *hit = kk_doc_cache_get(c, "r1/realm.yaml", REALM_A, strlen(REALM_A));
  ck_assert_ptr_nonnull(hit);
  ck_assert_ptr_ne(hit, a);
  cleanup_free char *want = kk_doc_to_yaml(a), *got = kk_doc_to_yaml(hit);
  ck_assert_str_eq(got, want);
  ck_assert_str_eq(hit->file, "r1/realm.yaml");
  /* Other bytes (same length) or another path: not an answer. */
  ck_assert_ptr_null(kk_doc_cache_get(c, "r1/realm.yaml", REALM_B, strlen(REALM_B)));
  ck_assert_ptr_null(kk_doc_cache_get(c, "r2/realm.yaml", REALM_A, strlen(REALM_A)));
  kk_doc_cache_free(c);
}
END_TEST

START_TEST(drop_under_a_directory) {
  struct kk_doc_cache *c = kk_doc_cache_new();
  cleanup_doc struct kk_doc *a = parse(REALM_A);
  const char *paths[] = {"r/s/c/cell.yaml", "r/s/c/containers/x.yaml", "r/s/c2/cell.yaml", "r/s/stack.yaml"};
  for (size_t i = 0; i < 4; i++)
    kk_doc_cache_put(c, paths[i], REALM_A, strlen(REALM_A), a);
  kk_doc_cache_drop_under(c, "./r/s/c");
  bool kept[] = {false, false, true, true};
  for (size_t i = 0; i < 4; i++) {
    struct kk_doc *d = kk_doc_cache_get(c, paths[i], REALM_A, strlen(REALM_A));
    ck_assert_msg((d != NULL) == kept[i], "%s", paths[i]);
    kk_doc_free(d);
  }
  kk_doc_cache_free(c);
}
END_TEST

/* The store answers from what is on disk now, whoever wrote it. */
START_TEST(store_reads_a_file_changed_behind_it) {
  char tmp[] = "/tmp/kk-unit-doc-cache.XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(tmp));
  cleanup_free char *run = kk_asprintf("%s/run", tmp);
  struct kk_store *s = NULL;
  kk_err_t err = NULL;
  ck_assert(kk_store_open(run, true, &s, &err) == 0);
  cleanup_doc struct kk_doc *a = parse(REALM_A);
  ck_assert(kk_store_put(s, a, true, &err) == 0);
  struct kk_ref ref = {.kind = KK_KIND_REALM, .realm = "r1", .name = "r1"};
  for (int round = 0; round < 2; round++) { /* parsed, then from the cache */
    cleanup_doc struct kk_doc *got = NULL;
    ck_assert(kk_store_get(s, &ref, &got, &err) == 0);
    ck_assert_str_eq(label_v(got), "aaaa");
  }
  /* Rewritten in place, same length, by someone else. */
  cleanup_free char *path = kk_asprintf("%s/r1/realm.yaml", run);
  cleanup_free char *text = NULL;
  ck_assert(kk_read_file_at(AT_FDCWD, path, 1 << 20, &text, NULL, &err) == 0);
  char *at = strstr(text, "aaaa");
  ck_assert_ptr_nonnull(at);
  memcpy(at, "bbbb", 4);
  int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
  ck_assert_int_ge(fd, 0);
  ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
  close(fd);
  cleanup_doc struct kk_doc *now = NULL;
  ck_assert(kk_store_get(s, &ref, &now, &err) == 0);
  ck_assert_str_eq(label_v(now), "bbbb");
  /* Deleted and made again with the first bytes: read from disk, found. */
  ck_assert(kk_store_delete(s, &ref, &err) == 0);
  cleanup_doc struct kk_doc *gone = NULL;
  ck_assert(kk_store_get(s, &ref, &gone, &err) < 0);
  kk_error_free(&err);
  ck_assert(kk_store_put(s, a, true, &err) == 0);
  cleanup_doc struct kk_doc *again = NULL;
  ck_assert(kk_store_get(s, &ref, &again, &err) == 0);
  ck_assert_str_eq(label_v(again), "aaaa");
  kk_store_close(s);
  ck_assert(kk_rm_rf_at(AT_FDCWD, tmp, &err) == 0);
}
END_TEST

static Suite *doc_cache_suite(void) {
  Suite *s = suite_create("doc_cache");
  TCase *t = tcase_create("cache");
  tcase_add_test(t, same_bytes_same_path_only);
  tcase_add_test(t, drop_under_a_directory);
  tcase_add_test(t, store_reads_a_file_changed_behind_it);
  suite_add_tcase(s, t);
  return s;
}

KK_UNIT_MAIN(doc_cache_suite)

/* The peer policy: which documents a restricted peer may send. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/util.h"
#include "model/model.h"
#include "unit.h"

static struct kk_doc *cell_with(const char *container_yaml) {
  char *y = kk_asprintf("apiVersion: v1beta1\nkind: Cell\nmetadata: {name: c}\nspec:\n  realmId: default\n"
                        "  spaceId: default\n  stackId: default\n  containers:\n    - id: main\n      image: busybox\n%s",
                        container_yaml);
  struct kk_doc_list l = {0};
  kk_err_t err = NULL;
  int r = kk_docs_parse(y, strlen(y), "t.yaml", &l, &err);
  ck_assert_msg(r == 0 && l.n == 1, "parse: %s", err ? err->msg : "?");
  free(y);
  struct kk_doc *d = l.docs[0];
  free(l.docs);
  return d;
}

/* NULL when allowed, else the message (static buffer). */
static const char *verdict(const struct kk_policy *p, const char *container_yaml) {
  static char msg[1024];
  cleanup_doc struct kk_doc *d = cell_with(container_yaml);
  kk_err_t err = NULL;
  if (kk_policy_check(p, d, &err) == 0)
    return NULL;
  ck_assert_int_eq(err->kind, KK_ERR_PERMISSION);
  snprintf(msg, sizeof(msg), "%s", err->msg);
  kk_error_free(&err);
  return msg;
}

START_TEST(restricted_refuses_host_access) {
  struct kk_policy p = {KK_PEER_RESTRICTED, {0}};
  ck_assert_ptr_null(verdict(&p, ""));
  ck_assert_ptr_null(verdict(&p, "      capabilities: {drop: [NET_RAW]}\n"));
  ck_assert_ptr_null(verdict(&p, "      securityOpts: [no-new-privileges]\n"));
  ck_assert_ptr_null(verdict(&p, "      volumes: [{kind: tmpfs, target: /t}]\n"));
  ck_assert_ptr_nonnull(strstr(verdict(&p, "      privileged: true\n"), "privileged: a privileged container"));
  ck_assert_ptr_nonnull(strstr(verdict(&p, "      hostNetwork: true\n"), "hostNetwork"));
  ck_assert_ptr_nonnull(strstr(verdict(&p, "      hostPID: true\n"), "hostPID"));
  ck_assert_ptr_nonnull(strstr(verdict(&p, "      hostCgroup: true\n"), "hostCgroup"));
  ck_assert_ptr_nonnull(strstr(verdict(&p, "      capabilities: {add: [NET_ADMIN]}\n"), "capabilities.add"));
  ck_assert_ptr_nonnull(strstr(verdict(&p, "      devices: [/dev/fuse]\n"), "devices"));
  ck_assert_ptr_nonnull(strstr(verdict(&p, "      securityOpts: [seccomp=unconfined]\n"), "seccomp=unconfined"));
  ck_assert_ptr_nonnull(strstr(verdict(&p, "      volumes: [{source: /, target: /h}]\n"), "host path /"));
  ck_assert_ptr_nonnull(strstr(verdict(&p, "      volumes: [{source: /nonexistent-kk, target: /h}]\n"),
                               "does not resolve"));
}
END_TEST

START_TEST(allowed_paths_are_directories_resolved) {
  char tmp[] = "/tmp/kk-unit-policy.XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(tmp));
  char *share = kk_asprintf("%s/share", tmp), *sub = kk_asprintf("%s/share/sub", tmp);
  char *sibling = kk_asprintf("%s/shareX", tmp), *link = kk_asprintf("%s/share/up", tmp);
  ck_assert_int_eq(mkdir(share, 0755), 0);
  ck_assert_int_eq(mkdir(sub, 0755), 0);
  ck_assert_int_eq(mkdir(sibling, 0755), 0);
  ck_assert_int_eq(symlink("..", link), 0);
  struct kk_policy p = {KK_PEER_RESTRICTED, {0}};
  kk_err_t err = NULL;
  ck_assert_int_eq(kk_policy_allow_path(&p, share, &err), 0);
  ck_assert_int_ne(kk_policy_allow_path(&p, "relative", &err), 0);
  kk_error_free(&err);
  char *y = kk_asprintf("      volumes: [{source: %s, target: /a}]\n", share);
  ck_assert_ptr_null(verdict(&p, y));
  free(y);
  y = kk_asprintf("      volumes: [{source: %s, target: /a}]\n", sub);
  ck_assert_ptr_null(verdict(&p, y));
  free(y);
  y = kk_asprintf("      volumes: [{source: %s, target: /a}]\n", sibling);
  ck_assert_ptr_nonnull(verdict(&p, y)); /* /x/share does not hold /x/shareX */
  free(y);
  y = kk_asprintf("      volumes: [{source: %s, target: /a}]\n", link);
  ck_assert_ptr_nonnull(verdict(&p, y)); /* share/up -> .. leaves share */
  free(y);
  p.mode = KK_PEER_TRUSTED;
  ck_assert_ptr_null(verdict(&p, "      privileged: true\n      volumes: [{source: /, target: /h}]\n"));
  ck_assert_ptr_null(verdict(NULL, "      privileged: true\n"));
  kk_policy_free(&p);
  unlink(link), rmdir(sub), rmdir(sibling), rmdir(share), rmdir(tmp);
  free(share), free(sub), free(sibling), free(link);
}
END_TEST

START_TEST(mode_parse) {
  enum kk_peer_mode m = KK_PEER_TRUSTED;
  kk_err_t err = NULL;
  ck_assert_int_eq(kk_policy_parse_mode(NULL, &m, &err), 0);
  ck_assert_int_eq(m, KK_PEER_RESTRICTED);
  ck_assert_int_eq(kk_policy_parse_mode("trusted", &m, &err), 0);
  ck_assert_int_eq(m, KK_PEER_TRUSTED);
  ck_assert_int_ne(kk_policy_parse_mode("open", &m, &err), 0);
  ck_assert_str_eq(err->msg, "invalid peer policy \"open\" (supported: restricted, trusted)");
  kk_error_free(&err);
}
END_TEST

static Suite *policy_suite(void) {
  Suite *s = suite_create("policy");
  TCase *tc = tcase_create("policy");
  tcase_add_test(tc, restricted_refuses_host_access);
  tcase_add_test(tc, allowed_paths_are_directories_resolved);
  tcase_add_test(tc, mode_parse);
  suite_add_tcase(s, tc);
  return s;
}

KK_UNIT_MAIN(policy_suite)

/* Label selectors (cli/selector.c): the five clause forms, AND, and the
 * clauses refused. */
#include <string.h>

#include "cli/selector.h"
#include "unit.h"

static bool sel_matches(const char *text, const struct kk_map *labels) {
  struct kk_selector sel = {0};
  kk_err_t err = NULL;
  ck_assert_msg(kk_selector_parse(text, &sel, &err) == 0, "%s: %s", text, err ? err->msg : "");
  bool m = kk_selector_matches(&sel, labels);
  kk_selector_free(&sel);
  return m;
}

START_TEST(forms_and_and) {
  struct kk_map labels = {0};
  kk_map_set(&labels, "tier", "web");
  kk_map_set(&labels, "app.kukeon.io/name", "shop");
  ck_assert(sel_matches("tier=web", &labels));
  ck_assert(sel_matches("tier==web", &labels));
  ck_assert(!sel_matches("tier=db", &labels));
  ck_assert(sel_matches("tier!=db", &labels));
  ck_assert(!sel_matches("tier!=web", &labels));
  ck_assert(sel_matches("tier", &labels));
  ck_assert(!sel_matches("!tier", &labels));
  ck_assert(sel_matches("!zone", &labels));
  ck_assert(sel_matches("zone!=a", &labels)); /* absent: not equal */
  ck_assert(sel_matches("tier=web,app.kukeon.io/name=shop", &labels));
  ck_assert(!sel_matches("tier=web,app.kukeon.io/name=blog", &labels));
  ck_assert(sel_matches("", &labels)); /* no clause: everything */
  kk_map_free(&labels);
}
END_TEST

START_TEST(bad_clauses_refused) {
  const char *bad[] = {"a b", "=v", "k=v v", "!", "a!b", "k=\"v\""};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    struct kk_selector sel = {0};
    kk_err_t err = NULL;
    ck_assert_msg(kk_selector_parse(bad[i], &sel, &err) < 0, "%s accepted", bad[i]);
    ck_assert_int_eq(err->kind, KK_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err->msg, "invalid selector clause"));
    ck_assert_uint_eq(sel.n, 0);
    kk_error_free(&err);
  }
}
END_TEST

static Suite *selector_suite(void) {
  Suite *s = suite_create("cli_selector");
  TCase *t = tcase_create("selector");
  tcase_add_test(t, forms_and_and);
  tcase_add_test(t, bad_clauses_refused);
  suite_add_tcase(s, t);
  return s;
}

KK_UNIT_MAIN(selector_suite)

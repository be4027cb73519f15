/* lib/log.c: the logfmt encoder and the lines kk_log / kk_log_kv write. */
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/util.h"
#include "tests/unit/unit.h"

static void enc_is(const char *key, const char *value, const char *want) {
  const char *kv[] = {key, value};
  char *got = kk_logfmt(kv, 2);
  ck_assert_str_eq(got, want);
  free(got);
}

/* Bare when nothing in the value could end it; quoted and escaped else. */
START_TEST(values) {
  static const struct {
    const char *value, *want;
  } cases[] = {
      {"web", "v=web"},
      {"/a/b.c-d_e:f", "v=/a/b.c-d_e:f"},
      {"0", "v=0"},
      {"two words", "v=\"two words\""},
      {"a=b", "v=\"a=b\""},
      {"say \"hi\"", "v=\"say \\\"hi\\\"\""},
      {"line1\nline2", "v=\"line1\\nline2\""},
      {"tab\there\r", "v=\"tab\\there\\r\""},
      {"bell\x01", "v=\"bell\\u0001\""},
      {"del\x7f", "v=\"del\\u007f\""},
      {"back\\slash", "v=\"back\\\\slash\""},
      {"", "v=\"\""},
  };
  for (size_t i = 0; i < KK_ARRAY_SIZE(cases); i++)
    enc_is("v", cases[i].value, cases[i].want);
}
END_TEST

START_TEST(keys_and_pairs) {
  enc_is("a b", "v", "a_b=v");
  enc_is("k=\"", "v", "k__=v");
  enc_is("", "v", "_=v");
  const char *kv[] = {"a", "1", "skipped", NULL, "b", "x y"};
  char *got = kk_logfmt(kv, 6);
  ck_assert_str_eq(got, "a=1 b=\"x y\"");
  free(got);
  char *none = kk_logfmt(kv, 0);
  ck_assert_str_eq(none, "");
  free(none);
}
END_TEST

START_TEST(parse_level) {
  enum kk_log_level l = KK_LOG_OFF;
  ck_assert_int_eq(kk_log_parse_level("debug", &l), 0);
  ck_assert_int_eq(l, KK_LOG_DEBUG);
  ck_assert_int_eq(kk_log_parse_level("warn", &l), 0);
  ck_assert_int_eq(l, KK_LOG_WARN);
  ck_assert_int_eq(kk_log_parse_level("INFO", &l), -1);
}
END_TEST

/* What the process writes to stderr while fn runs. */
static char *capture_stderr(void (*fn)(void)) {
  FILE *tmp = tmpfile();
  ck_assert_ptr_nonnull(tmp);
  fflush(stderr);
  int saved = dup(2);
  dup2(fileno(tmp), 2);
  fn();
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  off_t n = lseek(fileno(tmp), 0, SEEK_END);
  ck_assert_int_ge(n, 0);
  char *buf = kk_xzalloc((size_t)n + 1);
  ck_assert_int_eq(pread(fileno(tmp), buf, (size_t)n, 0), n);
  fclose(tmp);
  return buf;
}

static void log_some(void) {
  kk_log_init(KK_LOG_INFO, "kukeond");
  kk_debug("not at info");
  kk_info("cell %s: \"started\"", "web");
  char uid[KK_LOG_NUM_MAX];
  kk_log_kv(KK_LOG_WARN, "request failed", "method", "create", "uid", kk_log_num(uid, 1000), "peer", NULL,
            "error", "realm \"x\" not found", NULL);
  kk_log_init(KK_LOG_OFF, "kukeond");
}

START_TEST(lines_are_logfmt) {
  char *out = capture_stderr(log_some);
  char *second = strchr(out, '\n');
  ck_assert_ptr_nonnull(second);
  *second++ = '\0';
  regex_t re;
  ck_assert_int_eq(regcomp(&re, "^time=[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\\.[0-9]{3}Z level=info prog=kukeond "
                                "msg=\"cell web: \\\\\"started\\\\\"\"$",
                           REG_EXTENDED | REG_NOSUB),
                   0);
  ck_assert_msg(regexec(&re, out, 0, NULL, 0) == 0, "first line: %s", out);
  regfree(&re);
  ck_assert_ptr_nonnull(strstr(second, " level=warn prog=kukeond msg=\"request failed\" method=create uid=1000 "
                                       "error=\"realm \\\"x\\\" not found\"\n"));
  ck_assert_ptr_null(strstr(second + 1, "\n" "time="));
  ck_assert_ptr_null(strstr(out, "not at info"));
  free(out);
}
END_TEST

static Suite *log_suite(void) {
  Suite *s = suite_create("log");
  TCase *t = tcase_create("logfmt");
  tcase_add_test(t, values);
  tcase_add_test(t, keys_and_pairs);
  tcase_add_test(t, parse_level);
  tcase_add_test(t, lines_are_logfmt);
  suite_add_tcase(s, t);
  return s;
}

KK_UNIT_MAIN(log_suite)

/* lib/: durations, times, hashing, string vectors and maps, flags, the
 * error object and the filesystem helpers.
 *
 * Tests marked BUG fail on purpose: they pin a defect in lib/ that is
 * reported, not fixed here. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/error.h"
#include "lib/flags.h"
#include "lib/fs.h"
#include "lib/util.h"
#include "tests/unit/unit.h"

/* A fresh directory under $TMPDIR (or /tmp); removed by the caller. */
static char *mktmp(void) {
  const char *base = getenv("TMPDIR");
  char *t = kk_asprintf("%s/kk-unit-lib.XXXXXX", base && *base ? base : "/tmp");
  ck_assert_ptr_nonnull(mkdtemp(t));
  return t;
}

static void rmtree(const char *path) {
  kk_err_t err = NULL;
  ck_assert_int_eq(kk_rm_rf_at(AT_FDCWD, path, &err), 0);
}

/* ------------------------------------------------------------- duration */

START_TEST(duration_ok) {
  static const struct {
    const char *s;
    int64_t ms;
  } ok[] = {{"30s", 30000},  {"1m30s", 90000}, {"250ms", 250},     {"0", 0},      {"0s", 0},
            {"1h", 3600000}, {"1.5s", 1500},   {"2h45m", 9900000}, {"1s500ms", 1500}, {"1000us", 1},
            {"1500000ns", 1}, {"10m", 600000}, {"0.5m", 30000}};
  for (size_t i = 0; i < KK_ARRAY_SIZE(ok); i++) {
    int64_t ms = -42;
    ck_assert_msg(kk_parse_duration_ms(ok[i].s, &ms) == 0, "\"%s\" rejected", ok[i].s);
    ck_assert_msg(ms == ok[i].ms, "\"%s\" = %lld ms, want %lld", ok[i].s, (long long)ms, (long long)ok[i].ms);
  }
}
END_TEST

START_TEST(duration_bad) {
  static const char *const bad[] = {"",    "abc", "10",   "-1s",  "+1s", "5x",  "1s2",   "s",
                                    "1.s.", "1e400s", "infs", "1 s", "ms",  "1m-1s", "3000000000000h"};
  for (size_t i = 0; i < KK_ARRAY_SIZE(bad); i++) {
    int64_t ms = -42;
    ck_assert_msg(kk_parse_duration_ms(bad[i], &ms) == -1, "\"%s\" accepted as %lld ms", bad[i], (long long)ms);
    ck_assert_int_eq(ms, -42); /* untouched on error */
  }
  int64_t ms;
  ck_assert_int_eq(kk_parse_duration_ms(NULL, &ms), -1);
}
END_TEST

/* Regression test (fixed): lib/util.c kk_parse_duration_ms() uses strtod(), which also reads
 * "nan", hex floats and exponents: "nans" is accepted and converts NaN to
 * int64 (undefined behaviour; UBSan float-cast-overflow under clang),
 * "0x10s" is 16 s and "1e3s" 1000 s.  Go's time.ParseDuration rejects all
 * three.  Expected: -1. */
START_TEST(duration_strtod_forms) {
  static const char *const bad[] = {"nans", "0x10s", "1e3s"};
  for (size_t i = 0; i < KK_ARRAY_SIZE(bad); i++) {
    int64_t ms = -42;
    ck_assert_msg(kk_parse_duration_ms(bad[i], &ms) == -1, "\"%s\" accepted as %lld ms", bad[i],
                  (long long)ms);
  }
}
END_TEST

/* ----------------------------------------------------------------- time */

START_TEST(time_round_trip) {
  static const int64_t ts[] = {1, -1, 1767323045, 951825600, 253402300799LL /* 9999-12-31T23:59:59Z */, 86400};
  for (size_t i = 0; i < KK_ARRAY_SIZE(ts); i++) {
    char buf[32];
    kk_time_format(ts[i], buf);
    int64_t back = 0;
    ck_assert_msg(kk_time_parse(buf, &back) == 0, "%s", buf);
    ck_assert_int_eq(back, ts[i]);
  }
  char buf[32];
  kk_time_format(1767323045, buf);
  ck_assert_str_eq(buf, "2026-01-02T03:04:05Z");
  kk_time_format(951825600, buf);
  ck_assert_str_eq(buf, "2000-02-29T12:00:00Z");
  kk_time_format(-1, buf);
  ck_assert_str_eq(buf, "1969-12-31T23:59:59Z");
}
END_TEST

START_TEST(time_zero) {
  char buf[32];
  kk_time_format(0, buf);
  ck_assert_str_eq(buf, "0001-01-01T00:00:00Z"); /* Go's zero time */
  int64_t t = 5;
  ck_assert_int_eq(kk_time_parse("0001-01-01T00:00:00Z", &t), 0);
  ck_assert_int_eq(t, 0);
}
END_TEST

/* Regression test (fixed): lib/util.c: Go's zero time is special-cased only as the exact text
 * "0001-01-01T00:00:00Z"; any other spelling of that instant
 * ("0001-01-01T00:00:00+00:00", "...00.5Z") parses to -62135596800 instead
 * of 0 ("unset"), and kk_time_format prints such early instants with
 * strftime("%Y"), giving "1-01-01T00:00:00Z" -- not RFC 3339 (4-digit year
 * required; Go's time.Parse rejects it).  Expected: 0, and 4-digit years. */
START_TEST(time_zero_spellings) {
  static const char *const zero[] = {"0001-01-01T00:00:00+00:00", "0001-01-01T00:00:00.5Z",
                                     "0001-01-01T01:00:00+01:00"};
  for (size_t i = 0; i < KK_ARRAY_SIZE(zero); i++) {
    int64_t t = 5;
    ck_assert_int_eq(kk_time_parse(zero[i], &t), 0);
    ck_assert_msg(t == 0, "\"%s\" parsed as %lld, not the zero time", zero[i], (long long)t);
  }
  char buf[32];
  kk_time_format(-62135596800LL + 86400, buf); /* 0001-01-02 */
  ck_assert_str_eq(buf, "0001-01-02T00:00:00Z");
}
END_TEST

START_TEST(time_offsets) {
  static const struct {
    const char *s;
    int64_t t;
  } ok[] = {
      {"2026-01-02T03:04:05Z", 1767323045},
      {"2026-01-02T05:04:05+02:00", 1767323045},
      {"2026-01-01T21:34:05-05:30", 1767323045},
      {"2026-01-02T03:04:05+00:00", 1767323045},
      {"2026-01-02T03:04:05-00:00", 1767323045},
      {"2026-01-02T03:04:05.123456789Z", 1767323045},
      {"2026-01-02T05:04:05.5+02:00", 1767323045},
  };
  for (size_t i = 0; i < KK_ARRAY_SIZE(ok); i++) {
    int64_t t = 0;
    ck_assert_msg(kk_time_parse(ok[i].s, &t) == 0, "\"%s\" rejected", ok[i].s);
    ck_assert_msg(t == ok[i].t, "\"%s\" = %lld, want %lld", ok[i].s, (long long)t, (long long)ok[i].t);
  }
}
END_TEST

START_TEST(time_bad) {
  static const char *const bad[] = {"",
                                    "yesterday",
                                    "2026-01-02",
                                    "2026-01-02T03:04:05",
                                    "2026-01-02T03:04:05+0200",
                                    "2026-01-02T03:04:05+02:00x",
                                    "2026-01-02T03:04:05Zjunk",
                                    "2026-13-02T03:04:05Z",
                                    "2026-01-02 03:04:05Z",
                                    "2026-01-02T25:04:05Z"};
  for (size_t i = 0; i < KK_ARRAY_SIZE(bad); i++) {
    int64_t t = 0;
    ck_assert_msg(kk_time_parse(bad[i], &t) == -1, "\"%s\" accepted as %lld", bad[i], (long long)t);
  }
}
END_TEST

/* Regression test (fixed): lib/util.c kk_time_parse() reads the offset with
 * sscanf("%2d:%2d") and then skips a fixed 6 bytes: a one-digit offset such
 * as "+5:30" or "+05:3" is accepted and `end += 6` steps past the string's
 * NUL, reading out of bounds (ASan: global-buffer-overflow here).  RFC 3339
 * requires two digits.  Expected: -1, no read past the end. */
START_TEST(time_short_offset) {
  static const char s1[] = "2026-01-02T03:04:05+5:30";
  static const char s2[] = "2026-01-02T03:04:05+05:3";
  int64_t t = 0;
  ck_assert_int_eq(kk_time_parse(s1, &t), -1);
  ck_assert_int_eq(kk_time_parse(s2, &t), -1);
}
END_TEST

/* ----------------------------------------------------------------- fnv */

START_TEST(fnv1a32) {
  ck_assert_uint_eq(kk_fnv1a32(""), 0x811c9dc5u);
  ck_assert_uint_eq(kk_fnv1a32("a"), 0xe40c292cu);
  ck_assert_uint_eq(kk_fnv1a32("foobar"), 0xbf9cf968u);
  ck_assert_uint_eq(kk_fnv1a32("default-default"), 0x703e8b3au);
  ck_assert_uint_eq(kk_fnv1a32("kuke-system-kukeon"), 0x082023b5u);
  ck_assert_uint_eq(kk_fnv1a32("default/default"), 0xaf3172d4u);
  ck_assert_uint_eq(kk_fnv1a32("\xff\xfe"), kk_fnv1a32("\xff\xfe")); /* bytes, not signed chars */
  ck_assert_uint_ne(kk_fnv1a32("\xff"), kk_fnv1a32("\x7f"));
}
END_TEST

/* -------------------------------------------------------- strv and map */

START_TEST(strv) {
  struct kk_strv a = {0}, b = {0};
  ck_assert(kk_strv_equal(&a, &b));
  kk_strv_push(&a, "c");
  kk_strv_push(&a, "a");
  kk_strv_push_owned(&a, kk_xstrdup("b"));
  ck_assert_uint_eq(a.n, 3);
  ck_assert_ptr_null(a.v[3]); /* NULL-terminated */
  ck_assert(kk_strv_contains(&a, "a"));
  ck_assert(!kk_strv_contains(&a, "d"));
  kk_strv_copy(&b, &a);
  ck_assert(kk_strv_equal(&a, &b));
  ck_assert_ptr_ne(a.v[0], b.v[0]); /* deep copy */
  kk_strv_sort(&b);
  ck_assert(!kk_strv_equal(&a, &b)); /* order matters */
  ck_assert_str_eq(b.v[0], "a");
  ck_assert_str_eq(b.v[2], "c");
  ck_assert_ptr_null(b.v[3]);
  cleanup_free char *j = kk_strv_join(&b, ", ");
  ck_assert_str_eq(j, "a, b, c");
  kk_strv_free(&b);
  ck_assert_uint_eq(b.n, 0);
  ck_assert_ptr_null(b.v);
  cleanup_free char *e = kk_strv_join(&b, ",");
  ck_assert_str_eq(e, "");
  kk_strv_push(&b, "x");
  ck_assert(!kk_strv_equal(&a, &b));
  kk_strv_free(&a);
  kk_strv_free(&b);
  kk_strv_free(&b); /* idempotent */
}
END_TEST

START_TEST(map) {
  struct kk_map m = {0}, n = {0};
  ck_assert_ptr_null(kk_map_get(&m, "a"));
  kk_map_set(&m, "a", "1");
  kk_map_set(&m, "b", "2");
  kk_map_set(&m, "a", "3"); /* replaces, keeps position */
  ck_assert_uint_eq(m.n, 2);
  ck_assert_str_eq(m.keys[0], "a");
  ck_assert_str_eq(kk_map_get(&m, "a"), "3");
  ck_assert_str_eq(kk_map_get(&m, "b"), "2");
  kk_map_set(&n, "b", "2");
  kk_map_set(&n, "a", "3");
  ck_assert(kk_map_equal(&m, &n)); /* order-insensitive */
  kk_map_set(&n, "a", "4");
  ck_assert(!kk_map_equal(&m, &n));
  kk_map_free(&n);
  kk_map_copy(&n, &m);
  ck_assert(kk_map_equal(&m, &n));
  ck_assert_ptr_ne(n.keys[0], m.keys[0]);
  kk_map_set(&n, "c", "");
  ck_assert(!kk_map_equal(&m, &n));
  ck_assert(!kk_map_equal(&n, &m));
  ck_assert_str_eq(kk_map_get(&n, "c"), "");
  kk_map_free(&m);
  kk_map_free(&n);
  ck_assert_uint_eq(n.n, 0);
}
END_TEST

START_TEST(small_utils) {
  ck_assert(kk_has_prefix("kukeon", "kuke"));
  ck_assert(kk_has_prefix("kukeon", ""));
  ck_assert(!kk_has_prefix("ku", "kuke"));
  ck_assert(kk_has_suffix("cell.yaml", ".yaml"));
  ck_assert(!kk_has_suffix("yaml", ".yaml"));
  ck_assert(kk_streq(NULL, NULL));
  ck_assert(!kk_streq("a", NULL));
  ck_assert(!kk_streq(NULL, "a"));
  ck_assert(kk_streq("a", "a"));
  ck_assert(kk_empty(NULL));
  ck_assert(kk_empty(""));
  ck_assert(!kk_empty(" "));
  ck_assert_ptr_null(kk_xstrdup(NULL));
  cleanup_free char *s = kk_xstrndup("abcdef", 3);
  ck_assert_str_eq(s, "abc");
  cleanup_free char *f = kk_asprintf("%s-%d", "x", 5);
  ck_assert_str_eq(f, "x-5");
  cleanup_free char *z = kk_xzalloc(16);
  for (int i = 0; i < 16; i++)
    ck_assert_int_eq(z[i], 0);
  cleanup_free char *p = NULL;
  char *q = kk_xstrdup("steal");
  p = q;
  char *got = kk_steal(&p);
  ck_assert_ptr_null(p);
  ck_assert_ptr_eq(got, q);
  free(got);
  ck_assert_int_gt(kk_now(), 1700000000);
}
END_TEST

/* --------------------------------------------------------------- errors */

START_TEST(errors) {
  kk_err_t err = NULL;
  ck_assert_int_eq(kk_error(&err, ENOENT, "open %s", "x"), -1);
  ck_assert_int_eq(err->kind, KK_ERR_NOT_FOUND);
  ck_assert_int_eq(err->errnum, ENOENT);
  ck_assert_str_eq(err->msg, "open x: No such file or directory");
  /* The first error is kept: it is the cause. */
  ck_assert_int_eq(kk_error_kind(&err, KK_ERR_CONFLICT, 0, "second"), -1);
  ck_assert_str_eq(err->msg, "open x: No such file or directory");
  ck_assert_int_eq(kk_error_wrap(&err, "load %d", 3), -1);
  ck_assert_str_eq(err->msg, "load 3: open x: No such file or directory");
  kk_error_free(&err);
  ck_assert_ptr_null(err);
  kk_error_free(&err);
  ck_assert_int_eq(kk_error_wrap(&err, "nothing"), -1); /* no error: no-op */
  ck_assert_ptr_null(err);
  ck_assert_int_eq(kk_error(NULL, EINVAL, "ignored"), -1);
  kk_error(&err, EEXIST, "x");
  ck_assert_int_eq(err->kind, KK_ERR_EXISTS);
  kk_error_free(&err);
  kk_error(&err, EACCES, "x");
  ck_assert_int_eq(err->kind, KK_ERR_PERMISSION);
  kk_error_free(&err);
  kk_error(&err, EINVAL, "x");
  ck_assert_int_eq(err->kind, KK_ERR_INVALID);
  kk_error_free(&err);
  kk_error(&err, EIO, "x");
  ck_assert_int_eq(err->kind, KK_ERR_INTERNAL);
  kk_error_free(&err);
  kk_error_kind(&err, KK_ERR_UNAVAILABLE, 0, "down %s", "now");
  ck_assert_str_eq(err->msg, "down now");
  ck_assert_int_eq(err->errnum, 0);
  kk_error_free(&err);
  {
    cleanup_error kk_err_t e2 = NULL;
    kk_error(&e2, 0, "freed by cleanup");
  }
  ck_assert_str_eq(kk_err_kind_name(KK_ERR_NOT_FOUND), "not found");
  ck_assert_str_eq(kk_err_kind_name(KK_ERR_INTERNAL), "internal");
}
END_TEST

/* ---------------------------------------------------------------- flags */

struct fl {
  bool force, verbose;
  const char *realm, *run_path;
  struct kk_strv labels, pos;
  bool help;
  struct kk_flag flags[3], glob[2];
};

static void fl_init(struct fl *f) {
  memset(f, 0, sizeof(*f));
  f->flags[0] = (struct kk_flag){"force", 'f', KK_FLAG_BOOL, &f->force, "force it", false};
  f->flags[1] = (struct kk_flag){"realm", 'r', KK_FLAG_STRING, &f->realm, "realm name", false};
  f->flags[2] = (struct kk_flag){"label", 'l', KK_FLAG_STRINGS, &f->labels, "label", false};
  f->glob[0] = (struct kk_flag){"run-path", 0, KK_FLAG_STRING, &f->run_path, "run path", false};
  f->glob[1] = (struct kk_flag){"verbose", 'v', KK_FLAG_BOOL, &f->verbose, "verbose", false};
}

static void fl_free(struct fl *f) {
  kk_strv_free(&f->labels);
  kk_strv_free(&f->pos);
}

/* argv is NULL-terminated; argv[0] is the command. */
static int fl_parse(struct fl *f, char **argv, kk_err_t *err) {
  int argc = 0;
  while (argv[argc])
    argc++;
  return kk_flags_parse(f->flags, 3, f->glob, 2, argc, argv, &f->pos, &f->help, err);
}

START_TEST(flags_long_short) {
  struct fl f;
  kk_err_t err = NULL;
  char *a1[] = {"get", "--realm", "x", "cell", NULL};
  fl_init(&f);
  ck_assert_int_eq(fl_parse(&f, a1, &err), 0);
  ck_assert_str_eq(f.realm, "x");
  ck_assert(f.flags[1].set);
  ck_assert(!f.flags[0].set);
  ck_assert_uint_eq(f.pos.n, 1);
  ck_assert_str_eq(f.pos.v[0], "cell");
  fl_free(&f);

  char *a2[] = {"get", "--realm=y", "-rz", NULL};
  fl_init(&f);
  ck_assert_int_eq(fl_parse(&f, a2, &err), 0);
  ck_assert_str_eq(f.realm, "z"); /* last wins */
  fl_free(&f);

  char *a3[] = {"get", "-r", "a", "-r=b", NULL};
  fl_init(&f);
  ck_assert_int_eq(fl_parse(&f, a3, &err), 0);
  ck_assert_str_eq(f.realm, "b");
  fl_free(&f);

  char *a4[] = {"get", "--realm=", NULL};
  fl_init(&f);
  ck_assert_int_eq(fl_parse(&f, a4, &err), 0);
  ck_assert_str_eq(f.realm, "");
  fl_free(&f);

  /* A value that looks like a flag is still the value. */
  char *a5[] = {"get", "--realm", "-x", NULL};
  fl_init(&f);
  ck_assert_int_eq(fl_parse(&f, a5, &err), 0);
  ck_assert_str_eq(f.realm, "-x");
  fl_free(&f);
}
END_TEST

START_TEST(flags_bool) {
  struct fl f;
  kk_err_t err = NULL;
  char *a1[] = {"delete", "--force", "cell", "-v", NULL};
  fl_init(&f);
  ck_assert_int_eq(fl_parse(&f, a1, &err), 0);
  ck_assert(f.force);
  ck_assert(f.verbose);
  ck_assert_str_eq(f.pos.v[0], "cell"); /* a bool flag does not eat the next word */
  fl_free(&f);
  char *a2[] = {"delete", "--force=false", "-f=true", "--verbose=0", NULL};
  fl_init(&f);
  f.verbose = true;
  ck_assert_int_eq(fl_parse(&f, a2, &err), 0);
  ck_assert(f.force);
  ck_assert(!f.verbose);
  fl_free(&f);
  char *a3[] = {"delete", "--force=maybe", NULL};
  fl_init(&f);
  ck_assert_int_eq(fl_parse(&f, a3, &err), -1);
  ck_assert_str_eq(err->msg, "invalid argument \"maybe\" for \"--force\" flag: expected true or false");
  ck_assert_int_eq(err->kind, KK_ERR_INVALID);
  kk_error_free(&err);
  fl_free(&f);
}
END_TEST

START_TEST(flags_strings_and_globals) {
  struct fl f;
  kk_err_t err = NULL;
  char *a[] = {"apply", "-l", "a=1", "--label", "b=2", "--label=c=3", "--run-path", "/tmp/x", "file", NULL};
  fl_init(&f);
  ck_assert_int_eq(fl_parse(&f, a, &err), 0);
  ck_assert_uint_eq(f.labels.n, 3);
  ck_assert_str_eq(f.labels.v[2], "c=3");
  ck_assert_str_eq(f.run_path, "/tmp/x");
  ck_assert(f.glob[0].set);
  ck_assert_uint_eq(f.pos.n, 1);
  fl_free(&f);
}
END_TEST

START_TEST(flags_double_dash_and_help) {
  struct fl f;
  kk_err_t err = NULL;
  char *a[] = {"get", "x", "--", "--realm", "-f", "-", NULL};
  fl_init(&f);
  ck_assert_int_eq(fl_parse(&f, a, &err), 0);
  ck_assert_uint_eq(f.pos.n, 4);
  ck_assert_str_eq(f.pos.v[1], "--realm");
  ck_assert_str_eq(f.pos.v[3], "-");
  ck_assert_ptr_null(f.realm);
  ck_assert(!f.force);
  ck_assert(!f.help);
  fl_free(&f);
  char *h1[] = {"get", "-h", NULL};
  fl_init(&f);
  ck_assert_int_eq(fl_parse(&f, h1, &err), 0);
  ck_assert(f.help);
  fl_free(&f);
  char *h2[] = {"get", "cell", "--help", NULL};
  fl_init(&f);
  ck_assert_int_eq(fl_parse(&f, h2, &err), 0);
  ck_assert(f.help);
  fl_free(&f);
  /* "-" alone is a positional (stdin). */
  char *d[] = {"apply", "-", NULL};
  fl_init(&f);
  ck_assert_int_eq(fl_parse(&f, d, &err), 0);
  ck_assert_str_eq(f.pos.v[0], "-");
  fl_free(&f);
}
END_TEST

START_TEST(flags_errors) {
  struct fl f;
  kk_err_t err = NULL;
  char *a1[] = {"get", "--nope", NULL};
  fl_init(&f);
  ck_assert_int_eq(fl_parse(&f, a1, &err), -1);
  ck_assert_str_eq(err->msg, "unknown flag: --nope");
  ck_assert_int_eq(err->kind, KK_ERR_INVALID);
  kk_error_free(&err);
  fl_free(&f);
  char *a2[] = {"get", "-z", NULL};
  fl_init(&f);
  ck_assert_int_eq(fl_parse(&f, a2, &err), -1);
  ck_assert_str_eq(err->msg, "unknown flag: -z");
  kk_error_free(&err);
  fl_free(&f);
  char *a3[] = {"get", "--realm", NULL};
  fl_init(&f);
  ck_assert_int_eq(fl_parse(&f, a3, &err), -1);
  ck_assert_str_eq(err->msg, "flag needs an argument: --realm");
  kk_error_free(&err);
  fl_free(&f);
  char *a4[] = {"get", "-r", NULL};
  fl_init(&f);
  ck_assert_int_eq(fl_parse(&f, a4, &err), -1);
  ck_assert_str_eq(err->msg, "flag needs an argument: -r");
  kk_error_free(&err);
  fl_free(&f);
  char *a5[] = {"get", "--nope=1", NULL};
  fl_init(&f);
  ck_assert_int_eq(fl_parse(&f, a5, &err), -1);
  ck_assert_str_eq(err->msg, "unknown flag: --nope");
  kk_error_free(&err);
  fl_free(&f);
}
END_TEST

START_TEST(flags_print) {
  struct fl f;
  fl_init(&f);
  char *buf = NULL;
  size_t len = 0;
  FILE *o = open_memstream(&buf, &len);
  kk_flags_print(o, f.flags, 3, true);
  fclose(o);
  ck_assert_ptr_nonnull(strstr(buf, "-h, --help"));
  ck_assert_ptr_nonnull(strstr(buf, "-r, --realm string"));
  ck_assert_ptr_nonnull(strstr(buf, "-f, --force "));
  ck_assert_ptr_nonnull(strstr(buf, "realm name"));
  free(buf);
}
END_TEST

/* ---------------------------------------------------------------- files */

static char *read_at(int dfd, const char *name) {
  char *out = NULL;
  kk_err_t err = NULL;
  if (kk_read_file_at(dfd, name, 1 << 20, &out, NULL, &err) < 0) {
    kk_error_free(&err);
    return NULL;
  }
  return out;
}

static int count_tmp(int dfd) {
  int dup = fcntl(dfd, F_DUPFD_CLOEXEC, 0);
  DIR *d = fdopendir(dup);
  int n = 0;
  struct dirent *de;
  while ((de = readdir(d)) != NULL)
    n += kk_has_prefix(de->d_name, ".tmp-");
  closedir(d);
  return n;
}

/* What both writers promise: the file replaced by rename, its exact mode
 * whatever the umask, no temp left, a symlink replaced and not followed,
 * errors that name the file. */
typedef int (*file_writer)(int dirfd, const char *name, const void *buf, size_t len, mode_t mode, kk_err_t *err);

static void replaces_by_rename(file_writer put) {
  cleanup_free char *dir = mktmp();
  cleanup_close int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  kk_err_t err = NULL;
  ck_assert_int_eq(put(dfd, "f", "hello\n", 6, 0640, &err), 0);
  cleanup_free char *a = read_at(dfd, "f");
  ck_assert_str_eq(a, "hello\n");
  struct stat st;
  ck_assert_int_eq(fstatat(dfd, "f", &st, 0), 0);
  ck_assert_int_eq(st.st_mode & 07777, 0640);
  ck_assert_int_eq(put(dfd, "f", "", 0, 0600, &err), 0);
  cleanup_free char *b = read_at(dfd, "f");
  ck_assert_str_eq(b, "");
  ck_assert_int_eq(fstatat(dfd, "f", &st, 0), 0);
  ck_assert_int_eq(st.st_mode & 07777, 0600);
  ck_assert_int_eq(count_tmp(dfd), 0);
  ck_assert_int_eq(symlinkat("/etc/passwd", dfd, "link"), 0);
  ck_assert_int_eq(put(dfd, "link", "x", 1, 0600, &err), 0);
  ck_assert_int_eq(fstatat(dfd, "link", &st, AT_SYMLINK_NOFOLLOW), 0);
  ck_assert(S_ISREG(st.st_mode));
  ck_assert_int_eq(put(dfd, "missing-dir/f", "x", 1, 0600, &err), -1);
  ck_assert_ptr_nonnull(strstr(err->msg, "missing-dir/f"));
  kk_error_free(&err);
  ck_assert_int_eq(count_tmp(dfd), 0);
  rmtree(dir);
}

static int write_atomic_unhooked(int dirfd, const char *name, const void *buf, size_t len, mode_t mode,
                                 kk_err_t *err) {
  return kk_write_file_atomic(dirfd, name, buf, len, mode, NULL, err);
}

START_TEST(write_atomic) { replaces_by_rename(write_atomic_unhooked); }
END_TEST

/* The unsynced variant: the same replace-by-rename, the same errors. */
START_TEST(write_volatile) { replaces_by_rename(kk_write_file_volatile); }
END_TEST

START_TEST(read_pid) {
  cleanup_free char *dir = mktmp();
  cleanup_close int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  kk_err_t err = NULL;
  ck_assert_int_eq(kk_read_pid_at(dfd, "pid"), 0); /* missing */
  static const struct {
    const char *text;
    pid_t want;
  } cases[] = {{"123\n", 123}, {"4194304", 4194304}, {"abc", 0}, {"-5\n", 0}, {"0\n", 0}, {"", 0},
               {"99999999999999999999", 0}};
  for (size_t i = 0; i < KK_ARRAY_SIZE(cases); i++) {
    ck_assert_int_eq(kk_write_file_volatile(dfd, "pid", cases[i].text, strlen(cases[i].text), 0600, &err), 0);
    ck_assert_msg(kk_read_pid_at(dfd, "pid") == cases[i].want, "\"%s\"", cases[i].text);
  }
  rmtree(dir);
}
END_TEST

struct stop_at {
  const char *step;
  int seen;
};
static int stop_hook(const char *step, void *arg) {
  struct stop_at *s = arg;
  s->seen++;
  return strcmp(step, s->step) == 0;
}

/* Interrupted at each step, the target is the old or the new file. */
START_TEST(write_atomic_interrupted) {
  static const char *const steps[] = {"created", "partial", "written", "synced", "renamed"};
  cleanup_free char *dir = mktmp();
  cleanup_close int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  static const char old_doc[] = "old old old old\n";
  static const char new_doc[] = "the new document, longer than the old one\n";
  for (size_t i = 0; i < KK_ARRAY_SIZE(steps); i++) {
    kk_err_t err = NULL;
    ck_assert_int_eq(kk_write_file_atomic(dfd, "f", old_doc, strlen(old_doc), 0644, NULL, &err), 0);
    struct stop_at s = {steps[i], 0};
    struct kk_atomic_hook hook = {stop_hook, &s};
    ck_assert_int_eq(kk_write_file_atomic(dfd, "f", new_doc, strlen(new_doc), 0644, &hook, &err), -1);
    ck_assert_int_eq(s.seen, (int)i + 1);
    ck_assert_ptr_nonnull(err);
    kk_error_free(&err);
    cleanup_free char *got = read_at(dfd, "f");
    ck_assert_ptr_nonnull(got);
    if (strcmp(steps[i], "renamed") == 0)
      ck_assert_str_eq(got, new_doc);
    else
      ck_assert_str_eq(got, old_doc);
  }
  /* A hook that never stops sees every step, in order. */
  struct stop_at s = {"none", 0};
  struct kk_atomic_hook hook = {stop_hook, &s};
  kk_err_t err = NULL;
  ck_assert_int_eq(kk_write_file_atomic(dfd, "g", "x", 1, 0644, &hook, &err), 0);
  ck_assert_int_eq(s.seen, 5);
  rmtree(dir);
}
END_TEST

/* Temp files of dead writers go, a live kukeon writer's stay. */
START_TEST(sweep_temps) {
  prctl(PR_SET_NAME, "kuke-unit"); /* this process counts as a kukeon writer */
  int64_t now = (int64_t)time(NULL);
  pid_t dead = fork();
  if (dead == 0)
    _exit(0);
  waitpid(dead, NULL, 0);
  char name[64];
  ck_assert(!kk_temp_writer_gone("cell.yaml", 0));
  ck_assert(!kk_temp_writer_gone(".tmp-abc-1f", 0));
  ck_assert(!kk_temp_writer_gone(".tmp-12-", 0));
  ck_assert(!kk_temp_writer_gone(".tmp-12-xyz", 0));
  ck_assert(!kk_temp_writer_gone(".tmp-0123456789ab-12-0000abcd", 0)); /* a snapshot's */
  snprintf(name, sizeof(name), ".tmp-%d-1f", (int)dead);
  ck_assert(kk_temp_writer_gone(name, now));
  snprintf(name, sizeof(name), ".tmp-%d-2e", (int)getpid());
  ck_assert(!kk_temp_writer_gone(name, now));
  ck_assert(kk_temp_writer_gone(name, now - KK_TEMP_STALE_S - 5)); /* older than any write */
  snprintf(name, sizeof(name), ".tmp-%d-3d", (int)getppid()); /* check's runner: no kukeon program */
  ck_assert(kk_temp_writer_gone(name, now));

  cleanup_free char *dir = mktmp();
  cleanup_close int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  struct stop_at st = {"written", 0};
  struct kk_atomic_hook hook = {stop_hook, &st};
  kk_err_t err = NULL;
  ck_assert_int_eq(kk_write_file_atomic(dfd, "f", "x", 1, 0644, &hook, &err), -1); /* leaves its temp */
  kk_error_free(&err);
  snprintf(name, sizeof(name), ".tmp-%d-abc", (int)dead);
  close(openat(dfd, name, O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
  close(openat(dfd, "keep.yaml", O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
  snprintf(name, sizeof(name), ".tmp-%d-def", (int)dead);
  ck_assert_int_eq(mkdirat(dfd, name, 0700), 0); /* not a regular file: not ours */
  ck_assert_int_eq(kk_sweep_stale_temps(dfd), 1);
  ck_assert_int_eq(kk_sweep_stale_temps(dfd), 0);
  int temps = 0;
  cleanup_dir DIR *d = kk_dir_open_at(dfd, NULL, &err);
  struct dirent *de;
  while ((de = readdir(d)) != NULL)
    temps += strncmp(de->d_name, ".tmp-", 5) == 0;
  ck_assert_int_eq(temps, 2); /* this process's own, and the directory */
  ck_assert(kk_exists_at(dfd, "keep.yaml"));
  rmtree(dir);
}
END_TEST

START_TEST(read_file) {
  cleanup_free char *dir = mktmp();
  cleanup_close int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  kk_err_t err = NULL;
  char big[5000];
  memset(big, 'x', sizeof(big));
  ck_assert_int_eq(kk_write_file_atomic(dfd, "big", big, sizeof(big), 0644, NULL, &err), 0);
  char *out = NULL;
  size_t len = 0;
  ck_assert_int_eq(kk_read_file_at(dfd, "big", 5000, &out, &len, &err), 0);
  ck_assert_uint_eq(len, 5000);
  ck_assert_int_eq(out[5000], '\0');
  free(out);
  ck_assert_int_eq(kk_read_file_at(dfd, "big", 4999, &out, &len, &err), -1);
  ck_assert_ptr_nonnull(strstr(err->msg, "larger than 4999"));
  kk_error_free(&err);
  ck_assert_int_eq(kk_write_file_atomic(dfd, "page", big, 4096, 0644, NULL, &err), 0);
  ck_assert_int_eq(kk_read_file_at(dfd, "page", 4096, &out, &len, &err), 0);
  ck_assert_uint_eq(len, 4096);
  free(out);
  ck_assert_int_eq(kk_read_file_at(dfd, "nope", 10, &out, &len, &err), -1);
  ck_assert_int_eq(err->errnum, ENOENT);
  ck_assert_int_eq(err->kind, KK_ERR_NOT_FOUND);
  kk_error_free(&err);
  ck_assert_int_eq(mkdirat(dfd, "d", 0755), 0);
  ck_assert_int_eq(kk_read_file_at(dfd, "d", 10, &out, &len, &err), -1);
  kk_error_free(&err);
  ck_assert_int_eq(symlinkat("big", dfd, "sym"), 0);
  ck_assert_int_eq(kk_read_file_at(dfd, "sym", 10000, &out, &len, &err), -1); /* O_NOFOLLOW */
  kk_error_free(&err);
  rmtree(dir);
}
END_TEST

START_TEST(mkdir_p) {
  cleanup_free char *dir = mktmp();
  cleanup_close int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  kk_err_t err = NULL;
  ck_assert_int_eq(kk_mkdir_p_at(dfd, "a/b/./c", 0750, &err), 0);
  ck_assert(kk_exists_at(dfd, "a/b/c"));
  ck_assert_int_eq(kk_mkdir_p_at(dfd, "a/b/c", 0750, &err), 0); /* idempotent */
  ck_assert_int_eq(kk_mkdir_p_at(dfd, "a/../x", 0750, &err), -1);
  ck_assert_ptr_nonnull(strstr(err->msg, ".."));
  kk_error_free(&err);
  ck_assert(!kk_exists_at(dfd, "x"));
  /* Does not follow a symlink out of the tree. */
  cleanup_free char *out = mktmp();
  ck_assert_int_eq(symlinkat(out, dfd, "escape"), 0);
  ck_assert_int_eq(kk_mkdir_p_at(dfd, "escape/inside", 0750, &err), -1);
  kk_error_free(&err);
  cleanup_free char *inside = kk_asprintf("%s/inside", out);
  struct stat st;
  ck_assert_int_eq(stat(inside, &st), -1);
  cleanup_free char *abs = kk_asprintf("%s/p/q", dir);
  ck_assert_int_eq(kk_mkdir_p(abs, 0700, &err), 0);
  ck_assert(kk_exists_at(dfd, "p/q"));
  int fd = kk_open_dir_at(dfd, "p/q", &err);
  ck_assert_int_ge(fd, 0);
  close(fd);
  ck_assert_int_eq(kk_open_dir_at(dfd, "escape", &err), -1);
  kk_error_free(&err);
  rmtree(out);
  rmtree(dir);
}
END_TEST

START_TEST(rm_rf) {
  cleanup_free char *dir = mktmp();
  cleanup_free char *outside = mktmp();
  cleanup_close int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  cleanup_close int ofd = open(outside, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  kk_err_t err = NULL;
  /* Outside the tree: a file and a directory with a file. */
  ck_assert_int_eq(kk_write_file_atomic(ofd, "keep", "k", 1, 0644, NULL, &err), 0);
  ck_assert_int_eq(mkdirat(ofd, "sub", 0755), 0);
  ck_assert_int_eq(kk_write_file_atomic(ofd, "sub/keep2", "k", 1, 0644, NULL, &err), 0);
  /* The tree: nested dirs, files, symlinks pointing out, an empty dir, a fifo. */
  ck_assert_int_eq(kk_mkdir_p_at(dfd, "t/a/b/c", 0755, &err), 0);
  ck_assert_int_eq(mkdirat(dfd, "t/empty", 0755), 0);
  ck_assert_int_eq(kk_write_file_atomic(dfd, "t/a/f1", "1", 1, 0644, NULL, &err), 0);
  ck_assert_int_eq(kk_write_file_atomic(dfd, "t/a/b/c/f2", "2", 1, 0644, NULL, &err), 0);
  ck_assert_int_eq(symlinkat(outside, dfd, "t/a/dirlink"), 0);
  cleanup_free char *sub = kk_asprintf("%s/sub", outside);
  ck_assert_int_eq(symlinkat(sub, dfd, "t/a/b/sublink"), 0);
  cleanup_free char *keep = kk_asprintf("%s/keep", outside);
  ck_assert_int_eq(symlinkat(keep, dfd, "t/filelink"), 0);
  ck_assert_int_eq(mkfifoat(dfd, "t/a/fifo", 0600), 0);
  /* A read-only directory inside the tree is still removed (we own it). */
  ck_assert_int_eq(kk_rm_rf_at(dfd, "t", &err), 0);
  ck_assert(!kk_exists_at(dfd, "t"));
  ck_assert(kk_exists_at(ofd, "keep"));
  ck_assert(kk_exists_at(ofd, "sub/keep2"));
  /* A symlink named directly is unlinked, not followed. */
  ck_assert_int_eq(symlinkat(outside, dfd, "top"), 0);
  ck_assert_int_eq(kk_rm_rf_at(dfd, "top", &err), 0);
  ck_assert(!kk_exists_at(dfd, "top"));
  ck_assert(kk_exists_at(ofd, "sub/keep2"));
  /* Missing is fine; a plain file works. */
  ck_assert_int_eq(kk_rm_rf_at(dfd, "missing", &err), 0);
  ck_assert_int_eq(kk_write_file_atomic(dfd, "plain", "p", 1, 0644, NULL, &err), 0);
  ck_assert_int_eq(kk_rm_rf_at(dfd, "plain", &err), 0);
  ck_assert(!kk_exists_at(dfd, "plain"));
  rmtree(dir);
  rmtree(outside);
}
END_TEST

START_TEST(locks) {
  cleanup_free char *dir = mktmp();
  cleanup_close int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  kk_err_t err = NULL;
  int a = kk_lock_at(dfd, ".lock", false, &err);
  int b = kk_lock_at(dfd, ".lock", false, &err); /* shared + shared */
  ck_assert_int_ge(a, 0);
  ck_assert_int_ge(b, 0);
  ck_assert_int_eq(fcntl(a, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
  struct stat st;
  ck_assert_int_eq(fstatat(dfd, ".lock", &st, 0), 0);
  ck_assert_int_eq(st.st_mode & 0777, 0600);
  /* An exclusive lock in a child waits until both are released. */
  int p[2];
  ck_assert_int_eq(pipe(p), 0);
  pid_t pid = fork();
  if (pid == 0) {
    close(a); /* the child's copies share the parent's locks */
    close(b);
    kk_err_t e = NULL;
    int x = kk_lock_at(dfd, ".lock", true, &e);
    char c = x >= 0 ? 'L' : 'E';
    (void)!write(p[1], &c, 1);
    _exit(0);
  }
  usleep(200 * 1000);
  char c = 0;
  ck_assert_int_eq(fcntl(p[0], F_SETFL, O_NONBLOCK), 0);
  ck_assert_int_eq(read(p[0], &c, 1), -1); /* still waiting */
  close(a);
  close(b);
  ck_assert_int_eq(fcntl(p[0], F_SETFL, 0), 0);
  ck_assert_int_eq(read(p[0], &c, 1), 1);
  ck_assert_int_eq(c, 'L');
  waitpid(pid, NULL, 0);
  close(p[0]);
  close(p[1]);
  ck_assert_int_eq(kk_lock_at(dfd, "no/such/dir", true, &err), -1);
  kk_error_free(&err);
  ck_assert_int_eq(kk_fsync_dir(dfd, &err), 0);
  rmtree(dir);
}
END_TEST

START_TEST(which) {
  ck_assert_ptr_null(kk_which(""));
  cleanup_free char *abs = kk_which("/no/such/prog");
  ck_assert_str_eq(abs, "/no/such/prog"); /* a path is taken as it is */
  const char *old = getenv("PATH");
  cleanup_free char *saved = old ? kk_xstrdup(old) : NULL;
  setenv("PATH", "/nonexistent:/bin:/usr/bin", 1);
  cleanup_free char *sh = kk_which("sh");
  ck_assert_ptr_nonnull(sh);
  ck_assert(kk_has_suffix(sh, "/sh") && access(sh, X_OK) == 0);
  ck_assert_ptr_null(kk_which("kukeon-no-such-program"));
  if (saved)
    setenv("PATH", saved, 1);
  else
    unsetenv("PATH");
}
END_TEST

START_TEST(write_all_and_read_fd) {
  int p[2];
  ck_assert_int_eq(pipe(p), 0);
  ck_assert_int_eq(kk_write_all(p[1], "abc", 3), 0);
  close(p[1]);
  char *out = NULL;
  size_t len = 0;
  kk_err_t err = NULL;
  ck_assert_int_eq(kk_read_fd(p[0], 10, "pipe", &out, &len, &err), 0);
  ck_assert_uint_eq(len, 3);
  ck_assert_str_eq(out, "abc");
  free(out);
  close(p[0]);
  ck_assert_int_eq(kk_write_all(-1, "x", 1), -1);
}
END_TEST

/* A regular file copies in the kernel; a pipe source falls back to
 * read/write; a source shorter than asked for is EIO. */
START_TEST(copy_fd) {
  char src[] = "/tmp/kk-copy-src.XXXXXX", dst[] = "/tmp/kk-copy-dst.XXXXXX";
  int in = mkstemp(src), out = mkstemp(dst);
  ck_assert_int_ge(in, 0);
  ck_assert_int_ge(out, 0);
  unlink(src);
  unlink(dst);
  static char big[200000];
  for (size_t i = 0; i < sizeof(big); i++)
    big[i] = (char)(i * 7);
  ck_assert_int_eq(kk_write_all(in, big, sizeof(big)), 0);
  ck_assert_int_eq(lseek(in, 0, SEEK_SET), 0);
  ck_assert_int_eq(kk_copy_fd(in, out, sizeof(big)), 0);
  struct stat st;
  ck_assert_int_eq(fstat(out, &st), 0);
  ck_assert_int_eq(st.st_size, (off_t)sizeof(big));
  ck_assert_int_eq(lseek(in, 0, SEEK_SET), 0);
  ck_assert_int_eq(kk_copy_fd(in, out, sizeof(big) + 1), -1);
  ck_assert_int_eq(errno, EIO);
  int p[2];
  ck_assert_int_eq(pipe(p), 0);
  ck_assert_int_eq(kk_write_all(p[1], "hello", 5), 0);
  close(p[1]);
  ck_assert_int_eq(ftruncate(out, 0), 0);
  ck_assert_int_eq(lseek(out, 0, SEEK_SET), 0);
  ck_assert_int_eq(kk_copy_fd(p[0], out, 5), 0);
  char back[8] = {0};
  ck_assert_int_eq(pread(out, back, sizeof(back), 0), 5);
  ck_assert_str_eq(back, "hello");
  close(p[0]);
  close(in);
  close(out);
}
END_TEST

START_TEST(proc_fd_path) {
  char buf[32];
  ck_assert_int_eq(kk_proc_fd_path(buf, sizeof(buf), 7, "attach"), 0);
  ck_assert_str_eq(buf, "/proc/self/fd/7/attach");
  ck_assert_int_eq(kk_proc_fd_path(buf, sizeof(buf), 12, NULL), 0);
  ck_assert_str_eq(buf, "/proc/self/fd/12");
  ck_assert_int_eq(kk_proc_fd_path(buf, sizeof(buf), 7, "a-name-that-does-not-fit"), -1);
}
END_TEST

static Suite *lib_suite(void) {
  Suite *s = suite_create("lib");
  TCase *u = tcase_create("util");
  tcase_add_test(u, duration_ok);
  tcase_add_test(u, duration_bad);
  tcase_add_test(u, duration_strtod_forms);
  tcase_add_test(u, time_round_trip);
  tcase_add_test(u, time_zero);
  tcase_add_test(u, time_zero_spellings);
  tcase_add_test(u, time_offsets);
  tcase_add_test(u, time_bad);
  tcase_add_test(u, time_short_offset);
  tcase_add_test(u, fnv1a32);
  tcase_add_test(u, strv);
  tcase_add_test(u, map);
  tcase_add_test(u, small_utils);
  tcase_add_test(u, errors);
  suite_add_tcase(s, u);
  TCase *f = tcase_create("flags");
  tcase_add_test(f, flags_long_short);
  tcase_add_test(f, flags_bool);
  tcase_add_test(f, flags_strings_and_globals);
  tcase_add_test(f, flags_double_dash_and_help);
  tcase_add_test(f, flags_errors);
  tcase_add_test(f, flags_print);
  suite_add_tcase(s, f);
  TCase *fs = tcase_create("fs");
  tcase_set_timeout(fs, 30);
  tcase_add_test(fs, write_atomic);
  tcase_add_test(fs, write_volatile);
  tcase_add_test(fs, read_pid);
  tcase_add_test(fs, write_atomic_interrupted);
  tcase_add_test(fs, sweep_temps);
  tcase_add_test(fs, read_file);
  tcase_add_test(fs, mkdir_p);
  tcase_add_test(fs, rm_rf);
  tcase_add_test(fs, locks);
  tcase_add_test(fs, write_all_and_read_fd);
  tcase_add_test(fs, copy_fd);
  tcase_add_test(fs, proc_fd_path);
  tcase_add_test(fs, which);
  suite_add_tcase(s, fs);
  return s;
}

KK_UNIT_MAIN(lib_suite)

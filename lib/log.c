#include "lib/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/util.h"

/* Write-once configuration, set by main() before anything logs. */
static enum kk_log_level log_level = KK_LOG_OFF;
static const char *log_prog = "kukeon";

static const char *const level_names[] = {"debug", "info", "warn", "error"};

int kk_log_parse_level(const char *s, enum kk_log_level *out) {
  for (int i = 0; i < (int)KK_ARRAY_SIZE(level_names); i++) {
    if (strcmp(s, level_names[i]) == 0) {
      *out = (enum kk_log_level)i;
      return 0;
    }
  }
  return -1;
}

void kk_log_init(enum kk_log_level level, const char *prog) {
  log_level = level;
  log_prog = prog;
}

bool kk_log_enabled(enum kk_log_level level) { return level >= log_level && level < KK_LOG_OFF; }

const char *kk_log_num(char buf[static KK_LOG_NUM_MAX], long long v) {
  snprintf(buf, KK_LOG_NUM_MAX, "%lld", v);
  return buf;
}

/* ------------------------------------------------------------- logfmt */

struct line {
  char *p;
  size_t len, cap;
};

static void put(struct line *l, const char *s, size_t n) {
  if (l->len + n + 1 > l->cap) {
    l->cap = (l->len + n + 1) * 2;
    l->p = kk_xrealloc(l->p, l->cap);
  }
  memcpy(l->p + l->len, s, n);
  l->len += n;
  l->p[l->len] = '\0';
}

static bool is_control(unsigned char c) { return c < 0x20 || c == 0x7f; }

static bool needs_quotes(const char *v) {
  if (*v == '\0')
    return true;
  for (const unsigned char *p = (const unsigned char *)v; *p; p++)
    if (*p == ' ' || *p == '=' || *p == '"' || *p == '\\' || is_control(*p))
      return true;
  return false;
}

static void put_key(struct line *l, const char *k) {
  if (*k == '\0')
    k = "_";
  for (const unsigned char *p = (const unsigned char *)k; *p; p++) {
    char c = *p <= ' ' || *p == '=' || *p == '"' || *p == 0x7f ? '_' : (char)*p;
    put(l, &c, 1);
  }
}

static void put_quoted(struct line *l, const char *v) {
  put(l, "\"", 1);
  for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
    char esc[8];
    if (*p == '"' || *p == '\\')
      snprintf(esc, sizeof(esc), "\\%c", *p);
    else if (*p == '\n')
      strcpy(esc, "\\n");
    else if (*p == '\r')
      strcpy(esc, "\\r");
    else if (*p == '\t')
      strcpy(esc, "\\t");
    else if (is_control(*p))
      snprintf(esc, sizeof(esc), "\\u%04x", *p);
    else
      esc[0] = (char)*p, esc[1] = '\0';
    put(l, esc, strlen(esc));
  }
  put(l, "\"", 1);
}

char *kk_logfmt(const char *const *kv, size_t n) {
  struct line l = {0};
  put(&l, "", 0);
  for (size_t i = 0; i + 1 < n; i += 2) {
    if (kv[i + 1] == NULL)
      continue;
    if (l.len > 0)
      put(&l, " ", 1);
    put_key(&l, kv[i]);
    put(&l, "=", 1);
    if (needs_quotes(kv[i + 1]))
      put_quoted(&l, kv[i + 1]);
    else
      put(&l, kv[i + 1], strlen(kv[i + 1]));
  }
  return l.p;
}

/* ------------------------------------------------------------- lines */

#define MAX_FIELDS 32

/* time, level, prog, msg, then the caller's fields (at most MAX_FIELDS). */
static void write_line(enum kk_log_level level, const char *msg, const char *const *fields, size_t n) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  char date[24], when[32];
  strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(when, sizeof(when), "%s.%03ldZ", date, ts.tv_nsec / 1000000);
  const char *kv[8 + 2 * MAX_FIELDS] = {"time", when, "level", level_names[level], "prog", log_prog, "msg", msg};
  size_t k = 8;
  for (size_t i = 0; i + 1 < n && k + 2 <= KK_ARRAY_SIZE(kv); i += 2) {
    kv[k++] = fields[i];
    kv[k++] = fields[i + 1];
  }
  cleanup_free char *line = kk_logfmt(kv, k);
  /* One stdio call per line: threads' lines do not interleave. */
  fprintf(stderr, "%s\n", line);
}

void kk_log(enum kk_log_level level, const char *fmt, ...) {
  if (!kk_log_enabled(level))
    return;
  va_list ap;
  va_start(ap, fmt);
  char *msg = NULL;
  int r = vasprintf(&msg, fmt, ap);
  va_end(ap);
  if (r < 0)
    return;
  write_line(level, msg, NULL, 0);
  free(msg);
}

void kk_log_kv(enum kk_log_level level, const char *msg, ...) {
  if (!kk_log_enabled(level))
    return;
  const char *fields[2 * MAX_FIELDS];
  size_t n = 0;
  va_list ap;
  va_start(ap, msg);
  for (const char *key; (key = va_arg(ap, const char *)) != NULL;) {
    const char *value = va_arg(ap, const char *);
    if (n + 2 <= KK_ARRAY_SIZE(fields)) {
      fields[n++] = key;
      fields[n++] = value;
    }
  }
  va_end(ap);
  write_line(level, msg, fields, n);
}

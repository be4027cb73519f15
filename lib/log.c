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

static bool is_control(unsigned char c) { return c < 0x20 || c == 0x7f; }

static bool needs_quotes(const char *v) {
  if (*v == '\0')
    return true;
  for (const unsigned char *p = (const unsigned char *)v; *p; p++)
    if (*p == ' ' || *p == '=' || *p == '"' || *p == '\\' || is_control(*p))
      return true;
  return false;
}

static void put_key(FILE *f, const char *k) {
  if (*k == '\0')
    k = "_";
  for (const unsigned char *p = (const unsigned char *)k; *p; p++)
    fputc(*p <= ' ' || *p == '=' || *p == '"' || *p == 0x7f ? '_' : *p, f);
}

static void put_quoted(FILE *f, const char *v) {
  fputc('"', f);
  for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
    if (*p == '"' || *p == '\\')
      fprintf(f, "\\%c", *p);
    else if (*p == '\n')
      fputs("\\n", f);
    else if (*p == '\r')
      fputs("\\r", f);
    else if (*p == '\t')
      fputs("\\t", f);
    else if (is_control(*p))
      fprintf(f, "\\u%04x", *p);
    else
      fputc(*p, f);
  }
  fputc('"', f);
}

char *kk_logfmt(const char *const *kv, size_t n) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  if (f == NULL)
    kk_oom();
  bool first = true;
  for (size_t i = 0; i + 1 < n; i += 2) {
    if (kv[i + 1] == NULL)
      continue;
    if (!first)
      fputc(' ', f);
    first = false;
    put_key(f, kv[i]);
    fputc('=', f);
    if (needs_quotes(kv[i + 1]))
      put_quoted(f, kv[i + 1]);
    else
      fputs(kv[i + 1], f);
  }
  if (fclose(f) != 0 || buf == NULL)
    kk_oom();
  return buf;
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

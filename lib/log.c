#include "lib/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* Write-once configuration, set by main() before anything logs. */
static enum kk_log_level log_level = KK_LOG_OFF;
static const char *log_prog = "kukeon";

int kk_log_parse_level(const char *s, enum kk_log_level *out) {
  static const char *names[] = {"debug", "info", "warn", "error"};
  for (int i = 0; i < 4; i++) {
    if (strcmp(s, names[i]) == 0) {
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

void kk_log(enum kk_log_level level, const char *fmt, ...) {
  static const char *names[] = {"DEBUG", "INFO", "WARN", "ERROR"};
  if (level < log_level || level >= KK_LOG_OFF)
    return;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  char when[32];
  strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
  char line[4096];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof(line), fmt, ap);
  va_end(ap);
  fprintf(stderr, "time=%s.%03ldZ level=%s prog=%s msg=\"%s\"\n", when, ts.tv_nsec / 1000000,
          names[level], log_prog, line);
}

/* Logging to stderr, one logfmt line per event:
 *   time=2026-01-02T03:04:05.678Z level=info prog=kukeond msg="..." key=value ...
 * The level is configuration set once by main(). */
#ifndef KK_LIB_LOG_H
#define KK_LIB_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum kk_log_level { KK_LOG_DEBUG = 0, KK_LOG_INFO, KK_LOG_WARN, KK_LOG_ERROR, KK_LOG_OFF };

int kk_log_parse_level(const char *s, enum kk_log_level *out);
void kk_log_init(enum kk_log_level level, const char *prog);
/* Whether a line at this level would be written (skip costly fields). */
bool kk_log_enabled(enum kk_log_level level);

/* A line whose msg is printf-formatted. */
void kk_log(enum kk_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A line with a fixed msg and fields: key, value, key, value, ..., NULL.
 * A NULL value leaves its field out.  Keys are identifiers (cell, uid ...):
 * what to filter on goes in a field, not in msg. */
void kk_log_kv(enum kk_log_level level, const char *msg, ...) __attribute__((sentinel));
#define kk_debug(...) kk_log(KK_LOG_DEBUG, __VA_ARGS__)
#define kk_info(...) kk_log(KK_LOG_INFO, __VA_ARGS__)
#define kk_warn(...) kk_log(KK_LOG_WARN, __VA_ARGS__)

/* Decimal text of v in buf, for a field value. */
#define KK_LOG_NUM_MAX 24
const char *kk_log_num(char buf[static KK_LOG_NUM_MAX], long long v);

/* The logfmt encoding of kv[0]=kv[1] kv[2]=kv[3] ... (n strings, pairs; a
 * NULL value drops its pair), without a newline; malloc'd.  A value is
 * quoted when it is empty or holds a space, '=', '"', '\\' or a control
 * character; inside quotes \" \\ \n \r \t and \u00XX for other controls.
 * Bytes of a key that could not stand in a key become '_'. */
char *kk_logfmt(const char *const *kv, size_t n);

#endif

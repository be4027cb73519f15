/* Logging to stderr. The level is configuration set once by main(). */
#ifndef KK_LIB_LOG_H
#define KK_LIB_LOG_H

enum kk_log_level { KK_LOG_DEBUG = 0, KK_LOG_INFO, KK_LOG_WARN, KK_LOG_ERROR, KK_LOG_OFF };

int kk_log_parse_level(const char *s, enum kk_log_level *out);
void kk_log_init(enum kk_log_level level, const char *prog);
void kk_log(enum kk_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define kk_debug(...) kk_log(KK_LOG_DEBUG, __VA_ARGS__)
#define kk_info(...) kk_log(KK_LOG_INFO, __VA_ARGS__)
#define kk_warn(...) kk_log(KK_LOG_WARN, __VA_ARGS__)

#endif

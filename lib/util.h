/* Small utilities: allocation that aborts on OOM (like crun), string
 * vectors, string maps (and, through lib/cleanup.h, every cleanup attribute). */
#ifndef KK_LIB_UTIL_H
#define KK_LIB_UTIL_H

#include <dirent.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/cleanup.h"
#include "lib/error.h"

#define KK_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

_Noreturn void kk_oom(void);
void *kk_xmalloc(size_t n);
void *kk_xzalloc(size_t n);
void *kk_xrealloc(void *p, size_t n);
char *kk_xstrdup(const char *s);      /* NULL in, NULL out */
char *kk_xstrndup(const char *s, size_t n);
char *kk_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *kk_vasprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));


static inline bool kk_streq(const char *a, const char *b) {
  if (a == NULL || b == NULL)
    return a == b;
  return strcmp(a, b) == 0;
}
static inline bool kk_empty(const char *s) { return s == NULL || *s == '\0'; }
bool kk_has_prefix(const char *s, const char *prefix);
bool kk_has_suffix(const char *s, const char *suffix);

/* NULL-terminated, owned string vector. */
struct kk_strv {
  char **v;
  size_t n;
};
void kk_strv_push(struct kk_strv *sv, const char *s);
void kk_strv_push_owned(struct kk_strv *sv, char *s);
void kk_strv_free(struct kk_strv *sv);
bool kk_strv_contains(const struct kk_strv *sv, const char *s);
bool kk_strv_equal(const struct kk_strv *a, const struct kk_strv *b);
void kk_strv_copy(struct kk_strv *dst, const struct kk_strv *src);
void kk_strv_sort(struct kk_strv *sv);
char *kk_strv_join(const struct kk_strv *sv, const char *sep);

/* Ordered string -> string map (labels, annotations); keys unique. */
struct kk_map {
  char **keys;
  char **vals;
  size_t n;
};
void kk_map_set(struct kk_map *m, const char *k, const char *v);
/* Append without looking for k (the caller guarantees uniqueness). */
void kk_map_append(struct kk_map *m, const char *k, const char *v);
const char *kk_map_get(const struct kk_map *m, const char *k);
void kk_map_free(struct kk_map *m);
bool kk_map_equal(const struct kk_map *a, const struct kk_map *b); /* order-insensitive */
void kk_map_copy(struct kk_map *dst, const struct kk_map *src);

/* FNV-1a 32-bit, used for derived interface and chain names. */
uint32_t kk_fnv1a32(const char *s);

/* A byte size as Kubernetes writes quantities: digits, an optional decimal
 * fraction and an optional suffix, binary Ki Mi Gi Ti Pi Ei (powers of
 * 1024) or decimal k (or K) M G T P E (powers of 1000): "4096", "64Mi",
 * "1G", "1.5Gi".  Refused with KK_ERR_INVALID and the reason: a sign,
 * spaces, exponents, other suffixes, more than 18 decimals, a value that
 * is not a whole number of bytes ("0.5", "1.1Ki") or above INT64_MAX.
 * Manifests' *Bytes fields and byte-valued flags. (lib/quantity.c) */
int kk_parse_quantity_bytes(const char *s, int64_t *out, kk_err_t *err);

/* Parse a Go-style duration ("30s", "1m30s", "250ms", "0"). */
int kk_parse_duration_ms(const char *s, int64_t *out_ms);

/* RFC 3339 UTC with seconds ("2026-01-01T10:00:00Z"); 0 -> Go's zero time. */
void kk_time_format(int64_t unix_sec, char buf[32]);
/* 512B, 1.0KiB, 3.4MiB ... TiB; "-" for a negative size. */
void kk_format_size(int64_t n, char buf[32]);
int kk_time_parse(const char *s, int64_t *out_unix_sec);
int64_t kk_now(void);
/* The wall clock in milliseconds since the epoch: kk_now() finer, for
 * times compared with stored (second) timestamps. */
int64_t kk_now_ms(void);
/* CLOCK_MONOTONIC in milliseconds: for deadlines and intervals. */
int64_t kk_monotonic_ms(void);

#endif

#include "lib/util.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void kk_oom(void) {
  static const char msg[] = "kukeon: out of memory\n";
  (void)!write(STDERR_FILENO, msg, sizeof(msg) - 1);
  abort();
}

void *kk_xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (p == NULL)
    kk_oom();
  return p;
}

void *kk_xzalloc(size_t n) {
  void *p = calloc(1, n ? n : 1);
  if (p == NULL)
    kk_oom();
  return p;
}

void *kk_xrealloc(void *p, size_t n) {
  void *q = realloc(p, n ? n : 1);
  if (q == NULL)
    kk_oom();
  return q;
}

char *kk_xstrdup(const char *s) {
  if (s == NULL)
    return NULL;
  char *d = strdup(s);
  if (d == NULL)
    kk_oom();
  return d;
}

char *kk_xstrndup(const char *s, size_t n) {
  char *d = strndup(s, n);
  if (d == NULL)
    kk_oom();
  return d;
}

char *kk_vasprintf(const char *fmt, va_list ap) {
  char *s = NULL;
  if (vasprintf(&s, fmt, ap) < 0)
    kk_oom();
  return s;
}

char *kk_asprintf(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *s = kk_vasprintf(fmt, ap);
  va_end(ap);
  return s;
}

void kk_closep(int *fd) {
  if (*fd >= 0) {
    int saved = errno;
    close(*fd);
    errno = saved;
  }
}

void kk_fclosep(FILE **f) {
  if (*f != NULL)
    fclose(*f);
}

void kk_closedirp(DIR **d) {
  if (*d != NULL)
    closedir(*d);
}

bool kk_has_prefix(const char *s, const char *prefix) {
  return s != NULL && strncmp(s, prefix, strlen(prefix)) == 0;
}

bool kk_has_suffix(const char *s, const char *suffix) {
  size_t ls = strlen(s), lx = strlen(suffix);
  return ls >= lx && strcmp(s + ls - lx, suffix) == 0;
}

void kk_strv_push_owned(struct kk_strv *sv, char *s) {
  sv->v = kk_xrealloc(sv->v, (sv->n + 2) * sizeof(char *));
  sv->v[sv->n++] = s;
  sv->v[sv->n] = NULL;
}

void kk_strv_push(struct kk_strv *sv, const char *s) { kk_strv_push_owned(sv, kk_xstrdup(s)); }

void kk_strv_free(struct kk_strv *sv) {
  for (size_t i = 0; i < sv->n; i++)
    free(sv->v[i]);
  free(sv->v);
  sv->v = NULL;
  sv->n = 0;
}

bool kk_strv_contains(const struct kk_strv *sv, const char *s) {
  for (size_t i = 0; i < sv->n; i++)
    if (strcmp(sv->v[i], s) == 0)
      return true;
  return false;
}

bool kk_strv_equal(const struct kk_strv *a, const struct kk_strv *b) {
  if (a->n != b->n)
    return false;
  for (size_t i = 0; i < a->n; i++)
    if (strcmp(a->v[i], b->v[i]) != 0)
      return false;
  return true;
}

void kk_strv_copy(struct kk_strv *dst, const struct kk_strv *src) {
  for (size_t i = 0; i < src->n; i++)
    kk_strv_push(dst, src->v[i]);
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

void kk_strv_sort(struct kk_strv *sv) {
  if (sv->n > 1)
    qsort(sv->v, sv->n, sizeof(char *), cmp_str);
}

char *kk_strv_join(const struct kk_strv *sv, const char *sep) {
  size_t len = 1, lsep = strlen(sep);
  for (size_t i = 0; i < sv->n; i++)
    len += strlen(sv->v[i]) + lsep;
  char *out = kk_xmalloc(len), *p = out;
  *p = '\0';
  for (size_t i = 0; i < sv->n; i++) {
    if (i > 0)
      p = stpcpy(p, sep);
    p = stpcpy(p, sv->v[i]);
  }
  return out;
}

void kk_map_append(struct kk_map *m, const char *k, const char *v) {
  if ((m->n & (m->n - 1)) == 0) { /* grow at powers of two */
    size_t cap = m->n ? m->n * 2 : 1;
    m->keys = kk_xrealloc(m->keys, cap * sizeof(char *));
    m->vals = kk_xrealloc(m->vals, cap * sizeof(char *));
  }
  m->keys[m->n] = kk_xstrdup(k);
  m->vals[m->n] = kk_xstrdup(v);
  m->n++;
}

void kk_map_set(struct kk_map *m, const char *k, const char *v) {
  for (size_t i = 0; i < m->n; i++) {
    if (strcmp(m->keys[i], k) == 0) {
      free(m->vals[i]);
      m->vals[i] = kk_xstrdup(v);
      return;
    }
  }
  kk_map_append(m, k, v);
}

const char *kk_map_get(const struct kk_map *m, const char *k) {
  for (size_t i = 0; i < m->n; i++)
    if (strcmp(m->keys[i], k) == 0)
      return m->vals[i];
  return NULL;
}

void kk_map_free(struct kk_map *m) {
  for (size_t i = 0; i < m->n; i++) {
    free(m->keys[i]);
    free(m->vals[i]);
  }
  free(m->keys);
  free(m->vals);
  m->keys = m->vals = NULL;
  m->n = 0;
}

bool kk_map_equal(const struct kk_map *a, const struct kk_map *b) {
  if (a->n != b->n)
    return false;
  for (size_t i = 0; i < a->n; i++) {
    const char *v = kk_map_get(b, a->keys[i]);
    if (v == NULL || strcmp(v, a->vals[i]) != 0)
      return false;
  }
  return true;
}

void kk_map_copy(struct kk_map *dst, const struct kk_map *src) {
  for (size_t i = 0; i < src->n; i++)
    kk_map_set(dst, src->keys[i], src->vals[i]);
}

uint32_t kk_fnv1a32(const char *s) {
  uint32_t h = 2166136261u;
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    h ^= *p;
    h *= 16777619u;
  }
  return h;
}

/* Go's time.ParseDuration, for the units a daemon interval needs:
 * sequences of <digits>[.<digits>]<unit>, units ns us µs ms s m h. */
int kk_parse_duration_ms(const char *s, int64_t *out_ms) {
  if (s == NULL || *s == '\0')
    return -1;
  if (strcmp(s, "0") == 0) {
    *out_ms = 0;
    return 0;
  }
  static const struct {
    const char *unit;
    double ms;
  } units[] = {{"ns", 1e-6}, {"us", 1e-3}, {"µs", 1e-3}, {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}};
  double total = 0;
  const char *p = s;
  while (*p) {
    /* Digits only: no sign, no exponent, no hex, no "nan". */
    const char *start = p;
    double v = 0, scale = 1;
    while (*p >= '0' && *p <= '9')
      v = v * 10 + (*p++ - '0');
    if (*p == '.') {
      p++;
      while (*p >= '0' && *p <= '9')
        v += (*p++ - '0') * (scale /= 10);
    }
    if (p == start || (p == start + 1 && *start == '.'))
      return -1;
    size_t best = 0;
    int found = -1;
    for (size_t i = 0; i < KK_ARRAY_SIZE(units); i++) {
      size_t l = strlen(units[i].unit);
      if (strncmp(p, units[i].unit, l) == 0 && l > best) {
        best = l;
        found = (int)i;
      }
    }
    if (found < 0)
      return -1;
    total += v * units[found].ms;
    if (total > 9.2e15)
      return -1;
    p += best;
  }
  *out_ms = (int64_t)total;
  return 0;
}

#define GO_ZERO_TIME (-62135596800LL) /* 0001-01-01T00:00:00Z */

void kk_time_format(int64_t unix_sec, char buf[32]) {
  if (unix_sec == 0) {
    strcpy(buf, "0001-01-01T00:00:00Z");
    return;
  }
  time_t t = (time_t)unix_sec;
  struct tm tm;
  gmtime_r(&t, &tm);
  /* %04d: RFC 3339 wants four year digits even for early years. */
  snprintf(buf, 32, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
           tm.tm_min, tm.tm_sec);
}

int kk_time_parse(const char *s, int64_t *out_unix_sec) {
  if (strcmp(s, "0001-01-01T00:00:00Z") == 0) {
    *out_unix_sec = 0;
    return 0;
  }
  struct tm tm = {0};
  const char *end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
  if (end == NULL)
    return -1;
  if (*end == '.') { /* fractional seconds are accepted and dropped */
    end++;
    while (*end >= '0' && *end <= '9')
      end++;
  }
  long offset = 0;
  if (*end == 'Z') {
    end++;
  } else if (*end == '+' || *end == '-') {
    /* Exactly "+hh:mm". */
    const char *o = end + 1;
    for (int i = 0; i < 5; i++)
      if (i == 2 ? o[i] != ':' : !(o[i] >= '0' && o[i] <= '9'))
        return -1;
    int hh = (o[0] - '0') * 10 + (o[1] - '0'), mm = (o[3] - '0') * 10 + (o[4] - '0');
    if (hh > 23 || mm > 59)
      return -1;
    offset = (hh * 3600L + mm * 60L) * (*end == '+' ? 1 : -1);
    end += 6;
  } else {
    return -1;
  }
  if (*end != '\0')
    return -1;
  int64_t t = (int64_t)timegm(&tm) - offset;
  /* Go's zero time, however it is spelled, is "unset". */
  *out_unix_sec = t == GO_ZERO_TIME ? 0 : t;
  return 0;
}

int64_t kk_now(void) { return (int64_t)time(NULL); }

int64_t kk_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t kk_monotonic_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void kk_format_size(int64_t n, char buf[32]) {
  static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  if (n < 0) {
    strcpy(buf, "-");
    return;
  }
  double v = (double)n;
  size_t u = 0;
  while (v >= 1024 && u + 1 < KK_ARRAY_SIZE(units)) {
    v /= 1024;
    u++;
  }
  if (u == 0)
    snprintf(buf, 32, "%lldB", (long long)n);
  else
    snprintf(buf, 32, "%.1f%s", v, units[u]);
}

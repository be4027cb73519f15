/* Byte quantities in the manner of Kubernetes resource quantities. */
#include <stdint.h>
#include <string.h>

#include "lib/error.h"
#include "lib/util.h"

#define MAX_DECIMALS 18 /* keeps every product below inside 128 bits */

static const struct {
  const char *suffix;
  uint64_t mult;
} suffixes[] = {
    {"", 1},
    {"Ki", 1ull << 10}, {"Mi", 1ull << 20}, {"Gi", 1ull << 30}, {"Ti", 1ull << 40}, {"Pi", 1ull << 50},
    {"Ei", 1ull << 60},
    {"k", 1000ull}, {"K", 1000ull}, {"M", 1000000ull}, {"G", 1000000000ull}, {"T", 1000000000000ull},
    {"P", 1000000000000000ull}, {"E", 1000000000000000000ull},
};

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

static int invalid(const char *s, const char *why, kk_err_t *err) {
  return kk_error_kind(err, KK_ERR_INVALID, 0, "invalid quantity \"%s\": %s", s, why);
}

int kk_parse_quantity_bytes(const char *s, int64_t *out, kk_err_t *err) {
  const char *p = s;
  if (*p == '-')
    return invalid(s, "must not be negative", err);
  unsigned __int128 whole = 0, frac = 0, frac_div = 1;
  bool too_big = false;
  for (; is_digit(*p); p++) {
    whole = whole * 10 + (unsigned)(*p - '0');
    too_big |= whole > INT64_MAX;
    if (too_big)
      whole = INT64_MAX; /* stays in range; the flag remembers */
  }
  if (p == s)
    return invalid(s, "expected digits with an optional suffix (Ki, Mi, Gi, Ti, Pi, Ei, k, M, G, T, P, E)", err);
  if (*p == '.') {
    const char *first = ++p, *last_nonzero = p;
    for (; is_digit(*p); p++)
      if (*p != '0')
        last_nonzero = p + 1;
    if (p == first)
      return invalid(s, "expected digits after the decimal point", err);
    if (last_nonzero - first > MAX_DECIMALS)
      return invalid(s, "more than 18 decimals", err);
    for (const char *d = first; d < last_nonzero; d++) {
      frac = frac * 10 + (unsigned)(*d - '0');
      frac_div *= 10;
    }
  }
  size_t i = 0;
  while (i < KK_ARRAY_SIZE(suffixes) && strcmp(p, suffixes[i].suffix) != 0)
    i++;
  if (i == KK_ARRAY_SIZE(suffixes))
    return invalid(s, "unknown suffix (binary: Ki, Mi, Gi, Ti, Pi, Ei; decimal: k, M, G, T, P, E)", err);
  unsigned __int128 mult = suffixes[i].mult, frac_bytes = frac * mult;
  if (frac_bytes % frac_div != 0)
    return invalid(s, "not a whole number of bytes", err);
  unsigned __int128 total = whole * mult + frac_bytes / frac_div;
  if (too_big || total > INT64_MAX)
    return invalid(s, "more than 9223372036854775807 bytes", err);
  *out = (int64_t)total;
  return 0;
}

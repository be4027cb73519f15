/* Registry host names as a realm's spec.insecureRegistries lists them. */
#include <ctype.h>
#include <string.h>

#include "model/model.h"

#define HOST_MAX 253

static bool label_char(char c) { return isalnum((unsigned char)c) || c == '-'; }

/* DNS name or IPv4: labels of [A-Za-z0-9-], not starting or ending with
 * '-', joined by single dots. */
static bool dns_name_ok(const char *s, size_t n) {
  if (n == 0 || n > HOST_MAX)
    return false;
  size_t start = 0;
  for (size_t i = 0; i <= n; i++) {
    if (i < n && s[i] != '.') {
      if (!label_char(s[i]))
        return false;
      continue;
    }
    size_t len = i - start;
    if (len == 0 || len > 63 || s[start] == '-' || s[i - 1] == '-')
      return false;
    start = i + 1;
  }
  return true;
}

bool kk_dns_name_valid(const char *s) { return s != NULL && dns_name_ok(s, strlen(s)); }

static bool ipv6_ok(const char *s, size_t n) {
  if (n < 2)
    return false;
  size_t colons = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] == ':')
      colons++;
    else if (!isxdigit((unsigned char)s[i]) && s[i] != '.')
      return false;
  }
  return colons >= 2;
}

static bool port_ok(const char *p) {
  size_t n = strlen(p);
  if (n == 0 || n > 5 || strspn(p, "0123456789") != n || p[0] == '0')
    return false;
  return atoi(p) <= 65535;
}

bool kk_registry_host_valid(const char *s) {
  if (kk_empty(s))
    return false;
  const char *port = NULL;
  if (s[0] == '[') {
    const char *close = strchr(s, ']');
    if (close == NULL || !ipv6_ok(s + 1, (size_t)(close - s - 1)))
      return false;
    if (close[1] == '\0')
      return true;
    if (close[1] != ':')
      return false;
    port = close + 2;
  } else {
    const char *colon = strchr(s, ':');
    size_t hn = colon ? (size_t)(colon - s) : strlen(s);
    if (!dns_name_ok(s, hn))
      return false;
    if (colon)
      port = colon + 1;
  }
  return port == NULL || port_ok(port);
}

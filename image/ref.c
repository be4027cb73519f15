/* Image references, normalized the way docker does:
 *   busybox                 -> docker.io/library/busybox:latest
 *   ghcr.io/a/b:1@sha256:.. -> kept, tag and digest
 *   127.0.0.1:5000/x        -> 127.0.0.1:5000/x:latest */
#include <ctype.h>
#include <string.h>

#include "image/image.h"

static bool is_lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

/* [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)* */
static bool path_component_ok(const char *s, size_t n) {
  if (n == 0 || !is_lower_alnum(s[0]) || !is_lower_alnum(s[n - 1]))
    return false;
  for (size_t i = 0; i < n;) {
    if (is_lower_alnum(s[i])) {
      i++;
      continue;
    }
    size_t j = i;
    if (s[i] == '.') {
      j = i + 1;
    } else if (s[i] == '_') {
      j = i + 1;
      if (j < n && s[j] == '_')
        j++;
    } else if (s[i] == '-') {
      while (j < n && s[j] == '-')
        j++;
    } else {
      return false;
    }
    if (j >= n || !is_lower_alnum(s[j]))
      return false;
    i = j;
  }
  return true;
}

/* host labels ([A-Za-z0-9] or [A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9]) joined
 * by '.', or [ipv6], then an optional :port. */
static bool domain_ok(const char *d) {
  const char *colon = NULL;
  const char *end = d + strlen(d);
  if (d[0] == '[') {
    const char *close = strchr(d, ']');
    if (close == NULL || close == d + 1)
      return false;
    for (const char *p = d + 1; p < close; p++)
      if (!isxdigit((unsigned char)*p) && *p != ':' && *p != '.')
        return false;
    if (close[1] == '\0')
      return true;
    if (close[1] != ':')
      return false;
    colon = close + 1;
  } else {
    colon = strchr(d, ':');
    const char *host_end = colon ? colon : end;
    if (host_end == d)
      return false;
    const char *label = d;
    for (const char *p = d; p <= host_end; p++) {
      if (p == host_end || *p == '.') {
        size_t n = (size_t)(p - label);
        if (n == 0 || !isalnum((unsigned char)label[0]) || !isalnum((unsigned char)label[n - 1]))
          return false;
        for (size_t i = 0; i < n; i++)
          if (!isalnum((unsigned char)label[i]) && label[i] != '-')
            return false;
        label = p + 1;
      }
    }
  }
  if (colon) {
    if (colon[1] == '\0' || strlen(colon + 1) > 5)
      return false;
    for (const char *p = colon + 1; *p; p++)
      if (!isdigit((unsigned char)*p))
        return false;
  }
  return true;
}

/* [\w][\w.-]{0,127} */
static bool tag_ok(const char *t) {
  size_t n = strlen(t);
  if (n == 0 || n > 128)
    return false;
  for (size_t i = 0; i < n; i++) {
    char c = t[i];
    bool word = isalnum((unsigned char)c) || c == '_';
    if (!(word || (i > 0 && (c == '.' || c == '-'))))
      return false;
  }
  return true;
}

void kk_image_ref_free(struct kk_image_ref *r) {
  free(r->domain);
  free(r->path);
  free(r->tag);
  free(r->digest);
  memset(r, 0, sizeof(*r));
}

int kk_image_ref_parse(const char *s, struct kk_image_ref *out, kk_err_t *err) {
  memset(out, 0, sizeof(*out));
  if (kk_empty(s))
    return kk_error_kind(err, KK_ERR_INVALID, 0, "invalid image reference: empty");
  if (strlen(s) > 1024)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "invalid image reference: longer than 1024 characters");
  for (const char *p = s; *p; p++)
    if ((unsigned char)*p <= ' ' || *p == 0x7f)
      return kk_error_kind(err, KK_ERR_INVALID, 0, "invalid image reference \"%s\": contains whitespace or control characters", s);
  cleanup_free char *name = NULL;
  const char *at = strchr(s, '@');
  if (at) {
    if (!kk_image_digest_valid(at + 1)) {
      if (strncmp(at + 1, "sha256:", 7) != 0 && strchr(at + 1, ':'))
        return kk_error_kind(err, KK_ERR_INVALID, 0, "invalid image reference \"%s\": unsupported digest algorithm (only sha256)", s);
      return kk_error_kind(err, KK_ERR_INVALID, 0, "invalid image reference \"%s\": invalid digest", s);
    }
    out->digest = kk_xstrdup(at + 1);
    name = kk_xstrndup(s, (size_t)(at - s));
  } else {
    name = kk_xstrdup(s);
  }
  /* A bare 64-hex string is an image ID, not a name. */
  if (strlen(name) == 64 && strspn(name, "0123456789abcdef") == 64) {
    kk_image_ref_free(out);
    return kk_error_kind(err, KK_ERR_INVALID, 0, "invalid image reference \"%s\": cannot use a 64-character hexadecimal string as a name", s);
  }
  char *slash = strrchr(name, '/');
  char *colon = strrchr(name, ':');
  if (colon && (slash == NULL || colon > slash)) {
    *colon = '\0';
    if (!tag_ok(colon + 1)) {
      kk_image_ref_free(out);
      return kk_error_kind(err, KK_ERR_INVALID, 0, "invalid image reference \"%s\": invalid tag \"%s\"", s, colon + 1);
    }
    out->tag = kk_xstrdup(colon + 1);
  }
  char *first_slash = strchr(name, '/');
  const char *remainder = name;
  if (first_slash) {
    *first_slash = '\0';
    bool is_domain = strchr(name, '.') || strchr(name, ':') || strcmp(name, "localhost") == 0;
    for (const char *p = name; *p && !is_domain; p++)
      if (isupper((unsigned char)*p))
        is_domain = true;
    if (is_domain) {
      if (!domain_ok(name)) {
        kk_image_ref_free(out);
        return kk_error_kind(err, KK_ERR_INVALID, 0, "invalid image reference \"%s\": invalid registry host \"%s\"", s, name);
      }
      out->domain = kk_xstrdup(strcmp(name, "index.docker.io") == 0 ? "docker.io" : name);
      remainder = first_slash + 1;
    } else {
      *first_slash = '/';
    }
  }
  if (out->domain == NULL)
    out->domain = kk_xstrdup("docker.io");
  if (strcmp(out->domain, "docker.io") == 0 && strchr(remainder, '/') == NULL)
    out->path = kk_asprintf("library/%s", remainder);
  else
    out->path = kk_xstrdup(remainder);
  if (strlen(out->domain) + 1 + strlen(out->path) > 255) {
    kk_image_ref_free(out);
    return kk_error_kind(err, KK_ERR_INVALID, 0, "invalid image reference \"%s\": name longer than 255 characters", s);
  }
  /* Path components. */
  const char *p = out->path;
  for (;;) {
    const char *e = strchr(p, '/');
    size_t n = e ? (size_t)(e - p) : strlen(p);
    if (!path_component_ok(p, n)) {
      bool upper = false;
      for (size_t i = 0; i < n; i++)
        upper |= isupper((unsigned char)p[i]) != 0;
      cleanup_free char *comp = kk_xstrndup(p, n);
      kk_image_ref_free(out);
      if (upper)
        return kk_error_kind(err, KK_ERR_INVALID, 0, "invalid image reference \"%s\": repository name must be lowercase", s);
      return kk_error_kind(err, KK_ERR_INVALID, 0, "invalid image reference \"%s\": invalid name component \"%s\"", s, comp);
    }
    if (e == NULL)
      break;
    p = e + 1;
  }
  if (out->tag == NULL && out->digest == NULL)
    out->tag = kk_xstrdup("latest");
  return 0;
}

char *kk_image_ref_string(const struct kk_image_ref *r) {
  return kk_asprintf("%s/%s%s%s%s%s", r->domain, r->path, r->tag ? ":" : "", r->tag ? r->tag : "",
                     r->digest ? "@" : "", r->digest ? r->digest : "");
}

char *kk_image_ref_normalize(const char *s, kk_err_t *err) {
  struct kk_image_ref r;
  if (kk_image_ref_parse(s, &r, err) < 0)
    return NULL;
  char *out = kk_image_ref_string(&r);
  kk_image_ref_free(&r);
  return out;
}

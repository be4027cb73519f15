/* What CNI plugins say: a result (the cell's address) or an error object
 * ({code, msg, details}), turned into the one line a user can act on. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"
#include "netns/netns.h"

#define RESULT_MAX (1u << 20)

/* The first address on an interface inside the sandbox, else the first. */
static json_t *pick_ip(json_t *ips, json_t *ifaces) {
  size_t i;
  json_t *ip;
  json_array_foreach(ips, i, ip) {
    json_t *idx = json_object_get(ip, "interface");
    json_t *iface = json_is_integer(idx) ? json_array_get(ifaces, (size_t)json_integer_value(idx)) : NULL;
    if (json_string_value(json_object_get(iface, "sandbox")))
      return ip;
  }
  return json_array_get(ips, 0);
}

static int fill_result(json_t *doc, struct kk_net_cni_result *res, kk_err_t *err) {
  json_t *ifaces = json_object_get(doc, "interfaces");
  json_t *ip = pick_ip(json_object_get(doc, "ips"), ifaces);
  const char *address = json_string_value(json_object_get(ip, "address"));
  const char *slash = address ? strchr(address, '/') : NULL;
  if (slash == NULL || slash == address)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "cni result: no address (ips[].address)");
  res->address = kk_xstrdup(address);
  res->ip = kk_xstrndup(address, (size_t)(slash - address));
  res->gateway = kk_xstrdup(json_string_value(json_object_get(ip, "gateway")));
  json_t *idx = json_object_get(ip, "interface");
  json_t *iface = json_is_integer(idx) ? json_array_get(ifaces, (size_t)json_integer_value(idx)) : NULL;
  res->ifname = kk_xstrdup(json_string_value(json_object_get(iface, "name")));
  res->mac = kk_xstrdup(json_string_value(json_object_get(iface, "mac")));
  return 0;
}

void kk_net_cni_result_free(struct kk_net_cni_result *r) {
  free(r->address);
  free(r->ip);
  free(r->gateway);
  free(r->ifname);
  free(r->mac);
  free(r->json);
  memset(r, 0, sizeof(*r));
}

int kk_net_cni_result_parse(const char *json, struct kk_net_cni_result *res, kk_err_t *err) {
  memset(res, 0, sizeof(*res));
  if (json == NULL || strlen(json) > RESULT_MAX)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "cni result: missing or larger than %u bytes", RESULT_MAX);
  json_error_t je;
  cleanup_json json_t *doc = json_loads(json, 0, &je);
  if (!json_is_object(doc))
    return kk_error_kind(err, KK_ERR_INVALID, 0, "cni result: not a JSON object");
  if (fill_result(doc, res, err) < 0) {
    kk_net_cni_result_free(res);
    return -1;
  }
  res->json = json_dumps(doc, JSON_COMPACT);
  if (res->json == NULL)
    kk_oom();
  return 0;
}

/* ---- failures */

/* One line: newlines and tabs become spaces, trailing blanks go. */
static void one_line(char *s) {
  for (char *p = s; *p; p++)
    if (*p == '\n' || *p == '\r' || *p == '\t')
      *p = ' ';
  size_t n = strlen(s);
  while (n > 0 && s[n - 1] == ' ')
    s[--n] = '\0';
}

/* The last non-blank line of s, NULL when there is none. */
static char *last_line(const char *s) {
  const char *end = s + strlen(s);
  while (end > s && strchr(" \t\r\n", end[-1]))
    end--;
  const char *start = end;
  while (start > s && start[-1] != '\n')
    start--;
  return end > start ? kk_xstrndup(start, (size_t)(end - start)) : NULL;
}

/* The plugin's own words: the error object's msg (and details), else the
 * last line of stderr, else the exit status. */
static char *failure_text(const struct kk_net_cni_failure *f) {
  json_error_t je;
  cleanup_json json_t *doc = f->out ? json_loads(f->out, 0, &je) : NULL;
  const char *msg = json_string_value(json_object_get(doc, "msg"));
  const char *details = json_string_value(json_object_get(doc, "details"));
  char *text = NULL;
  if (!kk_empty(msg))
    text = kk_empty(details) ? kk_xstrdup(msg) : kk_asprintf("%s: %s", msg, details);
  if (text == NULL && !kk_empty(f->errout))
    text = last_line(f->errout);
  if (text == NULL)
    text = kk_asprintf("exit status %d", f->status);
  one_line(text);
  return text;
}

static const struct {
  const char *needle;
  enum kk_err_kind kind;
  const char *what;
} known[] = {
    {"already in use", KK_ERR_CONFLICT, "address already in use"},
    {"is not available in range", KK_ERR_CONFLICT, "address already in use"},
    {"already exists", KK_ERR_CONFLICT, "already attached"},
    {"no IP addresses available", KK_ERR_UNAVAILABLE, "no free address left in the network's subnet"},
};

int kk_net_cni_failure_error(const struct kk_net_cni_failure *f, kk_err_t *err) {
  cleanup_free char *why = failure_text(f);
  const char *plugin = f->plugin ? f->plugin : "?";
  const char *cmd = f->command ? f->command : "?";
  if (strcasestr(why, "numerical result out of range") && f->bridge && strlen(f->bridge) > KK_NET_IFNAMSIZ)
    return kk_error_kind(err, KK_ERR_INVALID, 0,
                         "cni plugin \"%s\" %s: bridge name \"%s\" exceeds Linux IFNAMSIZ limit (%d characters)",
                         plugin, cmd, f->bridge, KK_NET_IFNAMSIZ);
  for (size_t i = 0; i < KK_ARRAY_SIZE(known); i++)
    if (strcasestr(why, known[i].needle))
      return kk_error_kind(err, known[i].kind, 0, "cni plugin \"%s\" %s: %s: %s", plugin, cmd, known[i].what, why);
  return kk_error_kind(err, KK_ERR_INTERNAL, 0, "cni plugin \"%s\" %s failed: %s", plugin, cmd, why);
}

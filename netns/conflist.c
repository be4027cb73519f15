/* A space's CNI network list: bridge (the space's bridge is the cells'
 * gateway, addresses from host-local; ipMasq off: kukeon masquerades the
 * space's subnet with one rule of its own, masq.c),
 * loopback, and portmap once a cell publishes ports. */
#include <errno.h>
#include <jansson.h>
#include <string.h>

#include "lib/fs.h"
#include "lib/util.h"
#include "model/model.h"
#include "netns/netns.h"

#define CONFLIST_MAX (64 * 1024)

void kk_net_conf_free(struct kk_net_conf *c) {
  free(c->name);
  free(c->bridge);
  free(c->subnet);
  free(c->lease_dir);
  memset(c, 0, sizeof(*c));
}

static int check_conf(const struct kk_net_conf *c, kk_err_t *err) {
  if (kk_empty(c->name) || strchr(c->name, '/') || strlen(c->name) > 128)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "network name \"%s\" is invalid", c->name ? c->name : "");
  if (kk_empty(c->bridge))
    return kk_error_kind(err, KK_ERR_INVALID, 0, "network %s: no bridge name", c->name);
  if (strlen(c->bridge) > KK_NET_IFNAMSIZ)
    return kk_error_kind(err, KK_ERR_INVALID, 0,
                         "network %s: bridge name \"%s\" exceeds Linux IFNAMSIZ limit (%d characters)", c->name,
                         c->bridge, KK_NET_IFNAMSIZ);
  uint32_t a;
  int p;
  if (kk_empty(c->subnet) || !kk_ipv4_cidr_valid(c->subnet, &a, &p) || p > 30)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "network %s: subnet \"%s\" is not an IPv4 network", c->name,
                         c->subnet ? c->subnet : "");
  return 0;
}

static json_t *bridge_plugin(const struct kk_net_conf *c) {
  json_t *ipam = json_pack("{s:s, s:[[{s:s}]], s:[{s:s}]}", "type", "host-local", "ranges", "subnet", c->subnet,
                           "routes", "dst", "0.0.0.0/0");
  if (ipam && !kk_empty(c->lease_dir))
    json_object_set_new(ipam, "dataDir", json_string(c->lease_dir));
  return json_pack("{s:s, s:s, s:b, s:b, s:o}", "type", "bridge", "bridge", c->bridge, "isGateway", 1, "ipMasq", 0,
                   "ipam", ipam);
}

int kk_net_conflist_render(const struct kk_net_conf *c, char **out, kk_err_t *err) {
  if (check_conf(c, err) < 0)
    return -1;
  cleanup_json json_t *doc = json_pack("{s:s, s:s, s:[o, {s:s}]}", "cniVersion", KK_NET_CNI_VERSION, "name", c->name,
                                       "plugins", bridge_plugin(c), "type", "loopback");
  if (doc == NULL)
    kk_oom();
  if (c->portmap)
    json_array_append_new(json_object_get(doc, "plugins"),
                          json_pack("{s:s, s:{s:b}, s:b}", "type", "portmap", "capabilities", "portMappings", 1,
                                    "snat", 1));
  cleanup_free char *text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
  if (text == NULL)
    kk_oom();
  *out = kk_asprintf("%s\n", text);
  return 0;
}

/* The bridge plugin's subnet: ranges[0][0].subnet, or the older ipam.subnet. */
static const char *ipam_subnet(json_t *ipam) {
  json_t *first = json_array_get(json_array_get(json_object_get(ipam, "ranges"), 0), 0);
  const char *s = json_string_value(json_object_get(first, "subnet"));
  return s ? s : json_string_value(json_object_get(ipam, "subnet"));
}

static void read_plugin(json_t *plugin, struct kk_net_conf *out) {
  const char *type = json_string_value(json_object_get(plugin, "type"));
  if (kk_streq(type, "portmap")) {
    out->portmap = true;
  } else if (kk_streq(type, "bridge") && out->bridge == NULL) {
    json_t *ipam = json_object_get(plugin, "ipam");
    out->bridge = kk_xstrdup(json_string_value(json_object_get(plugin, "bridge")));
    out->subnet = kk_xstrdup(ipam_subnet(ipam));
    out->lease_dir = kk_xstrdup(json_string_value(json_object_get(ipam, "dataDir")));
  }
}

int kk_net_conflist_parse(const char *buf, size_t len, struct kk_net_conf *out, kk_err_t *err) {
  memset(out, 0, sizeof(*out));
  if (len > CONFLIST_MAX)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "conflist: larger than %d bytes", CONFLIST_MAX);
  json_error_t je;
  cleanup_json json_t *doc = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
  if (doc == NULL)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "conflist: line %d: %s", je.line, je.text);
  const char *name = json_string_value(json_object_get(doc, "name"));
  json_t *plugins = json_object_get(doc, "plugins");
  if (name == NULL || !json_is_array(plugins))
    return kk_error_kind(err, KK_ERR_INVALID, 0, "conflist: a \"name\" and a \"plugins\" list are required");
  out->name = kk_xstrdup(name);
  size_t i;
  json_t *p;
  json_array_foreach(plugins, i, p) read_plugin(p, out);
  if (out->bridge == NULL || out->subnet == NULL) {
    kk_net_conf_free(out);
    return kk_error_kind(err, KK_ERR_INVALID, 0, "conflist: no bridge plugin with a bridge name and a subnet");
  }
  return 0;
}

/* Whether dirfd/name holds exactly text already. */
static bool holds(int dirfd, const char *name, const char *text) {
  cleanup_free char *have = NULL;
  size_t len = 0;
  kk_err_t e = NULL;
  if (kk_read_file_at(dirfd, name, CONFLIST_MAX, &have, &len, &e) < 0) {
    kk_error_free(&e);
    return false;
  }
  return len == strlen(text) && memcmp(have, text, len) == 0;
}

int kk_net_conflist_write_at(int dirfd, const struct kk_net_conf *c, bool *written, kk_err_t *err) {
  cleanup_free char *text = NULL;
  if (written)
    *written = false;
  if (kk_net_conflist_render(c, &text, err) < 0)
    return -1;
  if (holds(dirfd, KK_NET_CONFLIST_FILE, text))
    return 0;
  if (kk_write_file_atomic(dirfd, KK_NET_CONFLIST_FILE, text, strlen(text), 0600, NULL, err) < 0)
    return kk_error_wrap(err, "write %s", KK_NET_CONFLIST_FILE);
  if (written)
    *written = true;
  return 0;
}

/* CNI for a network list, as the CNI spec has a runtime do it: ADD runs the
 * plugins in order, each given the previous one's result (prevResult); DEL
 * runs them in reverse with the result cached at ADD; CHECK in order with
 * that result.  The final ADD result is cached (one file per network,
 * container and interface) so DEL and CHECK work after a daemon restart. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/fs.h"
#include "lib/util.h"
#include "netns/internal.h"
#include "netns/netns.h"

#define CNI_OUT_MAX (1u << 20)
#define CONFLIST_MAX (64 * 1024)
#define CACHE_MAX (1u << 20)
#define CACHE_KIND "cniCacheV1"

/* A loaded network list: its document and the plugin binaries. */
struct net {
  json_t *doc;
  const char *name;
  const char *version;
  json_t *plugins;
  struct kk_strv bins;
  const char *path;
};

static void net_free(struct net *n) {
  json_decref(n->doc);
  kk_strv_free(&n->bins);
}

int kk_net_cni_missing_error(const char *type, const char *path, kk_err_t *err) {
  return kk_error_kind(err, KK_ERR_NOT_FOUND, 0,
                       "cni plugin \"%s\" not found in %s: install the standard CNI plugins "
                       "(Debian: apt-get install containernetworking-plugins)",
                       type, path);
}

/* The executable regular file `type` in the first directory of path that has one. */
static char *find_plugin(const char *path, const char *type) {
  cleanup_free char *dirs = kk_xstrdup(path);
  char *save = NULL;
  for (char *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
    char *bin = kk_asprintf("%s/%s", d, type);
    struct stat st;
    if (stat(bin, &st) == 0 && S_ISREG(st.st_mode) && access(bin, X_OK) == 0)
      return bin;
    free(bin);
  }
  return NULL;
}

static bool bad_id(const char *s) { return kk_empty(s) || strchr(s, '/') || strlen(s) > 256 || s[0] == '.'; }

static int load_plugins(struct net *n, kk_err_t *err) {
  size_t i;
  json_t *p;
  json_array_foreach(n->plugins, i, p) {
    const char *type = json_string_value(json_object_get(p, "type"));
    if (!json_is_object(p) || bad_id(type))
      return kk_error_kind(err, KK_ERR_INVALID, 0, "conflist %s: plugin %zu has no valid \"type\"", n->name, i);
    char *bin = find_plugin(n->path, type);
    if (bin == NULL)
      return kk_net_cni_missing_error(type, n->path, err);
    kk_strv_push_owned(&n->bins, bin);
  }
  return 0;
}

static int net_load(const struct kk_net_cni_config *cfg, const struct kk_net_cni_call *call, struct net *n,
                    kk_err_t *err) {
  memset(n, 0, sizeof(*n));
  n->path = cfg->plugin_path ? cfg->plugin_path : KK_NET_CNI_PATH_DEFAULT;
  if (bad_id(call->container_id))
    return kk_error_kind(err, KK_ERR_INVALID, 0, "cni: container id \"%s\" is invalid",
                         call->container_id ? call->container_id : "");
  if (call->ifname && (bad_id(call->ifname) || strlen(call->ifname) > KK_NET_IFNAMSIZ))
    return kk_error_kind(err, KK_ERR_INVALID, 0, "cni: interface name \"%s\" is invalid", call->ifname);
  if (call->conflist == NULL || strlen(call->conflist) > CONFLIST_MAX)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "cni: no conflist, or one larger than %d bytes", CONFLIST_MAX);
  json_error_t je;
  n->doc = json_loads(call->conflist, JSON_REJECT_DUPLICATES, &je);
  if (n->doc == NULL)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "cni: conflist: line %d: %s", je.line, je.text);
  n->name = json_string_value(json_object_get(n->doc, "name"));
  n->version = json_string_value(json_object_get(n->doc, "cniVersion"));
  n->plugins = json_object_get(n->doc, "plugins");
  if (bad_id(n->name) || kk_empty(n->version) || json_array_size(n->plugins) == 0)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "cni: conflist needs a \"name\", a \"cniVersion\" and plugins");
  return load_plugins(n, err);
}

/* ---- one plugin */

/* The keys of runtime config the plugin declares as capabilities. */
static json_t *runtime_config_for(json_t *plugin, json_t *rtconf) {
  json_t *caps = json_object_get(plugin, "capabilities");
  if (!json_is_object(caps) || !json_is_object(rtconf))
    return NULL;
  json_t *out = json_object();
  const char *k;
  json_t *v;
  json_object_foreach(caps, k, v) {
    json_t *val = json_object_get(rtconf, k);
    if (json_is_true(v) && val)
      json_object_set(out, k, val);
  }
  if (json_object_size(out) == 0) {
    json_decref(out);
    return NULL;
  }
  return out;
}

static char *plugin_stdin(const struct net *n, json_t *plugin, json_t *prev, json_t *rtconf) {
  cleanup_json json_t *conf = json_deep_copy(plugin);
  json_object_set_new(conf, "cniVersion", json_string(n->version));
  json_object_set_new(conf, "name", json_string(n->name));
  json_t *rc = runtime_config_for(plugin, rtconf);
  if (rc)
    json_object_set_new(conf, "runtimeConfig", rc);
  if (prev)
    json_object_set(conf, "prevResult", prev);
  char *s = json_dumps(conf, JSON_COMPACT);
  if (s == NULL)
    kk_oom();
  return s;
}

/* "<dev>:<inode>" of a namespace file: what a DEL compares to tell the
 * namespace ADD saw from another one behind a reused pid. */
static char *netns_id(const char *path) {
  struct stat st;
  if (kk_empty(path) || stat(path, &st) < 0)
    return NULL;
  return kk_asprintf("%lu:%lu", (unsigned long)st.st_dev, (unsigned long)st.st_ino);
}

/* A DEL may come after the namespace is gone (the root died): CNI then
 * gets an empty CNI_NETNS and the plugins release what they hold outside
 * it.  Gone is also a path that now names another namespace (its pid was
 * reused): DEL must not take eth0 out of someone else's. */
static const char *del_netns(const char *netns, json_t *cache) {
  cleanup_free char *now = netns_id(netns);
  const char *then = json_string_value(json_object_get(cache, "netnsId"));
  if (now == NULL || (then && strcmp(then, now) != 0))
    return "";
  return netns;
}

static int timeout_of(const struct kk_net_cni_config *cfg) {
  return cfg->timeout_ms > 0 ? cfg->timeout_ms : KK_NET_CNI_TIMEOUT_MS;
}

struct plugin_run {
  const struct kk_net_cni_config *cfg;
  const struct kk_net_cni_call *call;
  const struct net *n;
  json_t *rtconf;
  const char *netns; /* CNI_NETNS */
};

static int plugin_failed(const struct plugin_run *pr, json_t *plugin, const char *cmd, struct kk_net_exec *x,
                         kk_err_t *err) {
  struct kk_net_cni_failure f = {
      .plugin = json_string_value(json_object_get(plugin, "type")),
      .command = cmd,
      .bridge = json_string_value(json_object_get(plugin, "bridge")),
      .out = x->out,
      .errout = x->errout,
      .status = x->status,
  };
  return kk_net_cni_failure_error(&f, err);
}

static int parse_plugin_result(json_t *plugin, const char *out, json_t **result, kk_err_t *err) {
  json_error_t je;
  *result = json_loads(out, 0, &je);
  if (*result == NULL || !json_is_object(*result)) {
    json_decref(*result);
    *result = NULL;
    return kk_error(err, 0, "cni plugin \"%s\" ADD: result is not a JSON object",
                    json_string_value(json_object_get(plugin, "type")));
  }
  return 0;
}

static int run_plugin(const struct plugin_run *pr, size_t i, const char *cmd, json_t *prev, json_t **result,
                      kk_err_t *err) {
  json_t *plugin = json_array_get(pr->n->plugins, i);
  cleanup_free char *in = plugin_stdin(pr->n, plugin, prev, pr->rtconf);
  cleanup_free char *e_cmd = kk_asprintf("CNI_COMMAND=%s", cmd);
  cleanup_free char *e_id = kk_asprintf("CNI_CONTAINERID=%s", pr->call->container_id);
  cleanup_free char *e_ns = kk_asprintf("CNI_NETNS=%s", pr->netns);
  cleanup_free char *e_if = kk_asprintf("CNI_IFNAME=%s", pr->call->ifname ? pr->call->ifname : "eth0");
  cleanup_free char *e_path = kk_asprintf("CNI_PATH=%s", pr->n->path);
  char *env[] = {e_cmd, e_id, e_ns, e_if, e_path, "CNI_ARGS=", KK_NET_EXEC_PATH, NULL};
  struct kk_net_exec x = {
      .bin = pr->n->bins.v[i],
      .env = env,
      .in = in,
      .in_len = strlen(in),
      .timeout_ms = timeout_of(pr->cfg),
      .out_max = CNI_OUT_MAX,
  };
  int rc = kk_net_exec_run(&x, err);
  if (rc < 0)
    kk_error_wrap(err, "cni plugin \"%s\" %s", json_string_value(json_object_get(plugin, "type")), cmd);
  else if (x.status != 0)
    rc = plugin_failed(pr, plugin, cmd, &x, err);
  else if (result)
    rc = parse_plugin_result(plugin, x.out, result, err);
  kk_net_exec_free(&x);
  return rc;
}

/* ---- the result cache */

static char *cache_name(const struct net *n, const struct kk_net_cni_call *call) {
  return kk_asprintf("%s-%s-%s", n->name, call->container_id, call->ifname ? call->ifname : "eth0");
}

static int cache_dir_open(const struct kk_net_cni_config *cfg, bool create, kk_err_t *err) {
  if (kk_empty(cfg->cache_dir))
    return kk_error_kind(err, KK_ERR_INVALID, 0, "cni: no cache directory configured");
  if (create && kk_mkdir_p(cfg->cache_dir, 0700, err) < 0)
    return -1;
  return kk_open_dir_at(AT_FDCWD, cfg->cache_dir, err);
}

static int cache_write(const struct kk_net_cni_config *cfg, const struct net *n, const struct kk_net_cni_call *call,
                       json_t *result, kk_err_t *err) {
  cleanup_close int dfd = cache_dir_open(cfg, true, err);
  if (dfd < 0)
    return -1;
  cleanup_json json_t *doc =
      json_pack("{s:s, s:s, s:s, s:s, s:s, s:O}", "kind", CACHE_KIND, "containerId", call->container_id, "ifName",
                call->ifname ? call->ifname : "eth0", "networkName", n->name, "netns", call->netns ? call->netns : "",
                "result", result);
  cleanup_free char *id = netns_id(call->netns);
  if (id)
    json_object_set_new(doc, "netnsId", json_string(id));
  cleanup_free char *text = json_dumps(doc, JSON_COMPACT);
  cleanup_free char *name = cache_name(n, call);
  if (text == NULL)
    kk_oom();
  return kk_write_file_atomic(dfd, name, text, strlen(text), 0600, NULL, err);
}

/* The cache document of an earlier ADD, NULL (no error) when there is
 * none; its "result" is an object. */
static int cache_read(const struct kk_net_cni_config *cfg, const struct net *n, const struct kk_net_cni_call *call,
                      json_t **cache, kk_err_t *err) {
  *cache = NULL;
  kk_err_t e = NULL;
  cleanup_close int dfd = cache_dir_open(cfg, false, &e);
  if (dfd < 0) {
    bool missing = e->errnum == ENOENT;
    if (missing)
      kk_error_free(&e);
    else
      *err = e;
    return missing ? 0 : -1;
  }
  cleanup_free char *name = cache_name(n, call);
  cleanup_free char *text = NULL;
  size_t len = 0;
  if (kk_read_file_at(dfd, name, CACHE_MAX, &text, &len, &e) < 0) {
    if (e->errnum == ENOENT) {
      kk_error_free(&e);
      return 0;
    }
    *err = e;
    return -1;
  }
  json_error_t je;
  cleanup_json json_t *doc = json_loadb(text, len, 0, &je);
  json_t *r = json_object_get(doc, "result");
  if (!kk_streq(json_string_value(json_object_get(doc, "kind")), CACHE_KIND) || !json_is_object(r))
    return kk_error_kind(err, KK_ERR_INVALID, 0, "cni cache %s/%s: not a result cache", cfg->cache_dir, name);
  *cache = json_incref(doc);
  return 0;
}

static void cache_remove(const struct kk_net_cni_config *cfg, const struct net *n, const struct kk_net_cni_call *call) {
  kk_err_t e = NULL;
  cleanup_close int dfd = cache_dir_open(cfg, false, &e);
  kk_error_free(&e);
  cleanup_free char *name = cache_name(n, call);
  if (dfd >= 0 && unlinkat(dfd, name, 0) == 0)
    kk_fsync_dir(dfd, &e);
  kk_error_free(&e);
}

/* ---- ADD, DEL, CHECK */

static int parse_rtconf(const struct kk_net_cni_call *call, json_t **out, kk_err_t *err) {
  *out = NULL;
  if (kk_empty(call->runtime_config))
    return 0;
  json_error_t je;
  *out = json_loads(call->runtime_config, JSON_REJECT_DUPLICATES, &je);
  if (json_is_object(*out))
    return 0;
  json_decref(*out);
  *out = NULL;
  return kk_error_kind(err, KK_ERR_INVALID, 0, "cni: runtime config is not a JSON object");
}

/* DEL of plugins last..0, with prev; the first failure is kept in err
 * (when err is given) but every plugin gets its DEL. */
static int del_from(const struct plugin_run *pr, size_t last, json_t *prev, kk_err_t *err) {
  int rc = 0;
  for (size_t i = last + 1; i-- > 0;) {
    kk_err_t e = NULL;
    if (run_plugin(pr, i, "DEL", prev, NULL, &e) < 0) {
      if (rc == 0 && err)
        *err = kk_steal(&e);
      rc = -1;
    }
    kk_error_free(&e);
  }
  return rc;
}

static bool already_attached(const kk_err_t e) { return e && strstr(e->msg, "already attached"); }

static int add_chain(const struct plugin_run *pr, json_t **final, kk_err_t *err) {
  json_t *prev = NULL;
  size_t count = json_array_size(pr->n->plugins);
  for (size_t i = 0; i < count; i++) {
    json_t *r = NULL;
    if (run_plugin(pr, i, "ADD", prev, &r, err) < 0) {
      if (!already_attached(*err))
        del_from(pr, i, prev, NULL); /* no veth, lease or rule left behind */
      json_decref(prev);
      return -1;
    }
    json_decref(prev);
    prev = r;
  }
  *final = prev;
  return 0;
}

int kk_net_cni_add(const struct kk_net_cni_config *cfg, const struct kk_net_cni_call *call,
                   struct kk_net_cni_result *res, kk_err_t *err) {
  memset(res, 0, sizeof(*res));
  KK_CLEANUP(net_free) struct net n = {0};
  cleanup_json json_t *rtconf = NULL;
  if (kk_empty(call->netns))
    return kk_error_kind(err, KK_ERR_INVALID, 0, "cni ADD %s: no network namespace", call->container_id);
  if (net_load(cfg, call, &n, err) < 0 || parse_rtconf(call, &rtconf, err) < 0)
    return -1;
  struct plugin_run pr = {cfg, call, &n, rtconf, call->netns ? call->netns : ""};
  cleanup_json json_t *final = NULL;
  if (add_chain(&pr, &final, err) < 0) {
    /* A container already on this network (an ADD repeated after a
     * restart) keeps its attachment; the cache says what it got. */
    if (already_attached(*err) && kk_net_cni_cached(cfg, call, res, NULL) == 0) {
      kk_error_free(err);
      return 0;
    }
    return -1;
  }
  cleanup_free char *text = json_dumps(final, JSON_COMPACT);
  if (kk_net_cni_result_parse(text, res, err) < 0 || cache_write(cfg, &n, call, final, err) < 0) {
    del_from(&pr, json_array_size(n.plugins) - 1, final, NULL);
    cache_remove(cfg, &n, call);
    kk_net_cni_result_free(res);
    return kk_error_wrap(err, "cni ADD %s to %s", call->container_id, n.name);
  }
  return 0;
}

int kk_net_cni_del(const struct kk_net_cni_config *cfg, const struct kk_net_cni_call *call, kk_err_t *err) {
  KK_CLEANUP(net_free) struct net n = {0};
  cleanup_json json_t *rtconf = NULL, *cache = NULL;
  if (net_load(cfg, call, &n, err) < 0 || parse_rtconf(call, &rtconf, err) < 0)
    return -1;
  kk_err_t e = NULL;
  if (cache_read(cfg, &n, call, &cache, &e) < 0)
    kk_error_free(&e); /* a corrupt cache: DEL without prevResult */
  struct plugin_run pr = {cfg, call, &n, rtconf, del_netns(call->netns, cache)};
  int rc = del_from(&pr, json_array_size(n.plugins) - 1, json_object_get(cache, "result"), err);
  if (rc < 0)
    return -1; /* the cache stays: a retry still has prevResult */
  cache_remove(cfg, &n, call);
  return 0;
}

/* portmap up to 1.1.x looks for IPv6 DNAT rules on CHECK even when the
 * result holds no IPv6 address (containernetworking/plugins#819), so its
 * CHECK always fails on an IPv4-only network.  That failure, and only that
 * one, on a result without IPv6 is no failure (err is cleared). */
static bool portmap_v6_check_bug(const struct net *n, size_t i, json_t *result, kk_err_t *err) {
  json_t *plugin = json_array_get(n->plugins, i);
  if (!kk_streq(json_string_value(json_object_get(plugin, "type")), "portmap") ||
      strstr((*err)->msg, "could not check ipv6 dnat") == NULL)
    return false;
  size_t k;
  json_t *ip;
  json_array_foreach(json_object_get(result, "ips"), k, ip) {
    const char *a = json_string_value(json_object_get(ip, "address"));
    if (a && strchr(a, ':'))
      return false;
  }
  kk_error_free(err);
  return true;
}

int kk_net_cni_check(const struct kk_net_cni_config *cfg, const struct kk_net_cni_call *call, kk_err_t *err) {
  KK_CLEANUP(net_free) struct net n = {0};
  cleanup_json json_t *rtconf = NULL, *cache = NULL;
  if (net_load(cfg, call, &n, err) < 0 || parse_rtconf(call, &rtconf, err) < 0 ||
      cache_read(cfg, &n, call, &cache, err) < 0)
    return -1;
  if (cache == NULL)
    return kk_error_kind(err, KK_ERR_NOT_FOUND, 0, "cni CHECK %s on %s: no cached ADD result", call->container_id,
                         n.name);
  json_t *prev = json_object_get(cache, "result");
  struct plugin_run pr = {cfg, call, &n, rtconf, call->netns ? call->netns : ""};
  for (size_t i = 0; i < json_array_size(n.plugins); i++)
    if (run_plugin(&pr, i, "CHECK", prev, NULL, err) < 0 && !portmap_v6_check_bug(&n, i, prev, err))
      return -1;
  return 0;
}

static int cached_result(const struct kk_net_cni_config *cfg, const struct kk_net_cni_call *call,
                         struct kk_net_cni_result *res, kk_err_t *err) {
  KK_CLEANUP(net_free) struct net n = {0};
  cleanup_json json_t *cache = NULL;
  if (net_load(cfg, call, &n, err) < 0 || cache_read(cfg, &n, call, &cache, err) < 0)
    return -1;
  if (cache == NULL)
    return kk_error_kind(err, KK_ERR_NOT_FOUND, 0, "cni: no cached result for %s on %s", call->container_id,
                         n.name);
  cleanup_free char *text = json_dumps(json_object_get(cache, "result"), JSON_COMPACT);
  return kk_net_cni_result_parse(text, res, err);
}

int kk_net_cni_cached(const struct kk_net_cni_config *cfg, const struct kk_net_cni_call *call,
                      struct kk_net_cni_result *res, kk_err_t *err) {
  memset(res, 0, sizeof(*res));
  kk_err_t e = NULL;
  if (cached_result(cfg, call, res, &e) == 0)
    return 0;
  if (err)
    *err = e;
  else
    kk_error_free(&e);
  return -1;
}

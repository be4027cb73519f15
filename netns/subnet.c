/* Subnets: a /24 per space out of the pod subnet, the host's own addresses
 * and routes (so a space never shadows a network the host already uses),
 * and the allocation's state file. */
#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/route.h>
#include <string.h>

#include "lib/util.h"
#include "model/model.h"
#include "netns/netns.h"

#define STATE_MAX 4096

static uint32_t prefix_mask(int prefix) { return prefix == 0 ? 0 : 0xffffffffu << (32 - prefix); }

static char *format_cidr(uint32_t addr, int prefix) {
  return kk_asprintf("%u.%u.%u.%u/%d", addr >> 24, (addr >> 16) & 0xff, (addr >> 8) & 0xff, addr & 0xff, prefix);
}

struct cidr {
  uint32_t net;
  int prefix;
};

/* The valid IPv4 CIDRs of sv, parsed once (the scan below may visit
 * 65536 /24s of a /8). */
static struct cidr *parse_cidrs(const struct kk_strv *sv, size_t *n) {
  struct cidr *c = kk_xmalloc(sizeof(*c) * (sv && sv->n ? sv->n : 1));
  *n = 0;
  for (size_t i = 0; sv && i < sv->n; i++)
    if (kk_ipv4_cidr_valid(sv->v[i], &c[*n].net, &c[*n].prefix)) {
      c[*n].net &= prefix_mask(c[*n].prefix);
      (*n)++;
    }
  return c;
}

/* The last /24 (as an address) covered by a CIDR of cs overlapping the
 * /24 at net, or 0 when none overlaps. */
static uint32_t covered_until(uint32_t net, const struct cidr *cs, size_t n) {
  for (size_t i = 0; i < n; i++) {
    int p = cs[i].prefix < 24 ? cs[i].prefix : 24;
    if (((net ^ cs[i].net) & prefix_mask(p)) == 0)
      return p < 24 ? (cs[i].net | ~prefix_mask(p)) & ~0xffu : net;
  }
  return 0;
}

static int exhausted(uint32_t base, int prefix, uint32_t host_skipped, kk_err_t *err) {
  cleanup_free char *canon = format_cidr(base, prefix);
  if (host_skipped > 0)
    return kk_error_kind(err, KK_ERR_UNAVAILABLE, 0,
                         "no free subnet available in parent CIDR: parent %s exhausted at /24 "
                         "(%u /24s overlap addresses or routes already on the host: choose another range with "
                         "podSubnetCIDR or KUKEON_POD_SUBNET_CIDR)",
                         canon, host_skipped);
  return kk_error_kind(err, KK_ERR_UNAVAILABLE, 0, "no free subnet available in parent CIDR: parent %s exhausted at /24",
                       canon);
}

int kk_net_subnet_pick(const char *pod_subnet, const struct kk_strv *taken, const struct kk_strv *host_cidrs,
                       char **out, kk_err_t *err) {
  const char *parent = pod_subnet ? pod_subnet : KK_NET_DEFAULT_POD_SUBNET;
  if (kk_validate_pod_subnet(parent, err) < 0)
    return -1;
  uint32_t base;
  int prefix;
  kk_ipv4_cidr_valid(parent, &base, &prefix);
  base &= prefix_mask(prefix);
  uint64_t end = (uint64_t)base + (1ull << (32 - prefix));
  size_t nt, nh;
  cleanup_free struct cidr *t = parse_cidrs(taken, &nt);
  cleanup_free struct cidr *h = parse_cidrs(host_cidrs, &nh);
  uint32_t host_skipped = 0;
  for (uint64_t net = base; net < end; net += 256) {
    uint64_t until = covered_until((uint32_t)net, t, nt);
    if (until == 0 && (until = covered_until((uint32_t)net, h, nh)) != 0) {
      until = until < end - 256 ? until : end - 256;
      host_skipped += (uint32_t)((until - net) / 256 + 1);
    }
    if (until != 0) {
      net = until; /* past what that CIDR covers */
      continue;
    }
    *out = format_cidr((uint32_t)net, 24);
    return 0;
  }
  return exhausted(base, prefix, host_skipped, err);
}

/* ---- the host's networks, through rtnetlink */

static void push_nl_cidr(struct kk_strv *out, struct nl_addr *a, int prefix) {
  if (a == NULL || nl_addr_get_family(a) != AF_INET || nl_addr_get_len(a) != 4)
    return;
  uint32_t v;
  memcpy(&v, nl_addr_get_binary_addr(a), 4);
  kk_strv_push_owned(out, format_cidr(ntohl(v), prefix));
}

static void collect_addrs(struct nl_cache *cache, struct kk_strv *out) {
  for (struct nl_object *o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
    struct rtnl_addr *a = (struct rtnl_addr *)o;
    if (rtnl_addr_get_family(a) == AF_INET)
      push_nl_cidr(out, rtnl_addr_get_local(a), (int)rtnl_addr_get_prefixlen(a));
  }
}

/* Unicast routes of any table but the default route: the networks packets
 * to which already go somewhere. */
static void collect_routes(struct nl_cache *cache, struct kk_strv *out) {
  for (struct nl_object *o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
    struct rtnl_route *r = (struct rtnl_route *)o;
    struct nl_addr *dst = rtnl_route_get_dst(r);
    if (rtnl_route_get_type(r) != RTN_UNICAST || dst == NULL || nl_addr_get_prefixlen(dst) == 0)
      continue;
    push_nl_cidr(out, dst, (int)nl_addr_get_prefixlen(dst));
  }
}

static void nl_sock_freep(struct nl_sock **s) {
  if (*s)
    nl_socket_free(*s);
}
static void nl_cache_freep(struct nl_cache **c) {
  if (*c)
    nl_cache_free(*c);
}

/* A connected NETLINK_ROUTE socket. */
static int route_socket(struct nl_sock **out, kk_err_t *err) {
  *out = nl_socket_alloc();
  if (*out == NULL)
    kk_oom();
  int rc = nl_connect(*out, NETLINK_ROUTE);
  if (rc < 0)
    return kk_error(err, 0, "netlink: connect: %s", nl_geterror(rc));
  return 0;
}

int kk_net_host_cidrs(struct kk_strv *out, kk_err_t *err) {
  KK_CLEANUP(nl_sock_freep) struct nl_sock *sk = NULL;
  int rc = route_socket(&sk, err);
  if (rc < 0)
    return -1;
  KK_CLEANUP(nl_cache_freep) struct nl_cache *addrs = NULL;
  KK_CLEANUP(nl_cache_freep) struct nl_cache *routes = NULL;
  if ((rc = rtnl_addr_alloc_cache(sk, &addrs)) < 0)
    return kk_error(err, 0, "netlink: list addresses: %s", nl_geterror(rc));
  if ((rc = rtnl_route_alloc_cache(sk, AF_INET, 0, &routes)) < 0)
    return kk_error(err, 0, "netlink: list routes: %s", nl_geterror(rc));
  collect_addrs(addrs, out);
  collect_routes(routes, out);
  return 0;
}

/* A space's bridge goes with the space: the bridge plugin makes it on the
 * first ADD and nothing in CNI removes it. */
static void link_freep(struct rtnl_link **l) {
  if (*l)
    rtnl_link_put(*l);
}

int kk_net_bridge_delete(const char *name, kk_err_t *err) {
  if (name == NULL || name[0] == '\0' || strlen(name) > KK_NET_IFNAMSIZ)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "bridge name \"%s\" is invalid", name ? name : "");
  KK_CLEANUP(nl_sock_freep) struct nl_sock *sk = NULL;
  int rc = route_socket(&sk, err);
  if (rc < 0)
    return -1;
  KK_CLEANUP(link_freep) struct rtnl_link *link = NULL;
  rc = rtnl_link_get_kernel(sk, 0, name, &link);
  if (rc == -NLE_NODEV || rc == -NLE_OBJ_NOTFOUND)
    return 0;
  if (rc < 0)
    return kk_error(err, 0, "netlink: look up %s: %s", name, nl_geterror(rc));
  const char *type = rtnl_link_get_type(link);
  if (type == NULL || strcmp(type, "bridge") != 0)
    return kk_error_kind(err, KK_ERR_CONFLICT, 0, "link %s is not a bridge; left in place", name);
  rc = rtnl_link_delete(sk, link);
  if (rc < 0 && rc != -NLE_NODEV && rc != -NLE_OBJ_NOTFOUND)
    return kk_error(err, 0, "netlink: delete bridge %s: %s", name, nl_geterror(rc));
  return 0;
}

/* ---- network.json */

char *kk_net_state_render(const char *subnet) {
  return kk_asprintf("{\"version\":\"v1\",\"subnetCIDR\":\"%s\"}\n", subnet);
}

static bool canonical_24(const char *s) {
  uint32_t a;
  int p;
  if (!kk_ipv4_cidr_valid(s, &a, &p) || p != 24 || (a & 0xff) != 0)
    return false;
  cleanup_free char *canon = format_cidr(a, 24);
  return strcmp(canon, s) == 0;
}

int kk_net_state_parse(const char *buf, size_t len, char **subnet, kk_err_t *err) {
  if (len > STATE_MAX)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "network state: larger than %d bytes", STATE_MAX);
  json_error_t je;
  cleanup_json json_t *doc = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
  if (doc == NULL)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "network state: %s", je.text);
  const char *version = NULL, *cidr = NULL;
  if (json_unpack_ex(doc, &je, JSON_STRICT, "{s:s, s:s}", "version", &version, "subnetCIDR", &cidr) < 0)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "network state: %s", je.text);
  if (strcmp(version, "v1") != 0)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "network state: unknown version \"%s\"", version);
  if (!canonical_24(cidr))
    return kk_error_kind(err, KK_ERR_INVALID, 0, "network state: subnetCIDR \"%s\" is not a /24 network", cidr);
  *subnet = kk_xstrdup(cidr);
  return 0;
}

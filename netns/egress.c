/* Egress policy per space (spec §7.5): the KUKEON-FORWARD admission
 * chain, the KUKEON-EGRESS dispatch and a KUKE-EGR-<hash> chain per space,
 * in the filter table, through fw.c. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <string.h>
#include <sys/socket.h>

#include "lib/util.h"
#include "netns/internal.h"

void kk_netns_egress_chain(const char *realm, const char *space, char out[KK_NETNS_EGRESS_CHAIN_MAX]) {
  cleanup_free char *key = kk_asprintf("%s/%s", realm, space);
  snprintf(out, KK_NETNS_EGRESS_CHAIN_MAX, "KUKE-EGR-%08x", kk_fnv1a32(key));
}

/* ------------------------------------------------------------ rendering */

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

/* host's IPv4 addresses, host order, sorted and unique (a DNS answer in
 * another order must not rewrite the chain). */
static int resolve_v4(const char *host, uint32_t **out, size_t *n, kk_err_t *err) {
  struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *res = NULL;
  int rc = getaddrinfo(host, NULL, &hints, &res);
  if (rc != 0)
    return kk_error_kind(err, KK_ERR_UNAVAILABLE, 0, "egress host %s: %s", host,
                         rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
  size_t cnt = 0;
  for (struct addrinfo *a = res; a; a = a->ai_next)
    cnt++;
  uint32_t *v = kk_xmalloc((cnt ? cnt : 1) * sizeof(*v));
  size_t k = 0;
  for (struct addrinfo *a = res; a; a = a->ai_next)
    v[k++] = ntohl(((struct sockaddr_in *)a->ai_addr)->sin_addr.s_addr);
  freeaddrinfo(res);
  qsort(v, k, sizeof(*v), cmp_u32);
  size_t u = 0;
  for (size_t i = 0; i < k; i++)
    if (u == 0 || v[u - 1] != v[i])
      v[u++] = v[i];
  *out = v;
  *n = u;
  return 0;
}

/* "-d a.b.c.d/p " as iptables prints it (host bits cleared, /0 left out). */
static char *dest_arg(uint32_t addr, int prefix) {
  if (prefix == 0)
    return kk_xstrdup("");
  uint32_t mask = prefix == 32 ? 0xffffffffu : ~(0xffffffffu >> prefix);
  struct in_addr a = {.s_addr = htonl(addr & mask)};
  char ip[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &a, ip, sizeof(ip));
  return kk_asprintf("-d %s/%d ", ip, prefix);
}

/* One rule per port (or one without ports) to dest. */
static void render_accepts(struct kk_sbuf *b, const char *chain, const char *dest, const struct kk_i64v *ports,
                           const char *comment) {
  for (size_t p = 0; p < (ports->n ? ports->n : 1); p++) {
    cleanup_free char *port = ports->n ? kk_asprintf("-p tcp -m tcp --dport %lld ", (long long)ports->v[p])
                                       : kk_xstrdup("");
    kk_sb_printf(b, "-A %s %s%s-m comment --comment \"%.*s\" -j ACCEPT\n", chain, dest, port, COMMENT_MAX, comment);
  }
}

static int render_allow(struct kk_sbuf *b, const char *chain, const char *prefix, size_t i, const struct kk_egress_rule *r,
                        kk_err_t *err) {
  if (!kk_empty(r->cidr)) {
    uint32_t addr;
    int plen;
    if (!kk_ipv4_cidr_valid(r->cidr, &addr, &plen))
      return kk_error_kind(err, KK_ERR_INVALID, 0, "egress allow rule cidr is not a valid CIDR: %s", r->cidr);
    cleanup_free char *comment = kk_asprintf("%s:allow[%zu]:cidr=%s", prefix, i, r->cidr);
    cleanup_free char *dest = dest_arg(addr, plen);
    render_accepts(b, chain, dest, &r->ports, comment);
    return 0;
  }
  if (!kk_dns_name_valid(r->host))
    return kk_error_kind(err, KK_ERR_INVALID, 0, "egress allow rule host is not a valid dns name: %s",
                         r->host ? r->host : "");
  cleanup_free uint32_t *addrs = NULL;
  size_t n = 0;
  if (resolve_v4(r->host, &addrs, &n, err) < 0)
    return -1;
  cleanup_free char *comment = kk_asprintf("%s:allow[%zu]:host=%s", prefix, i, r->host);
  for (size_t k = 0; k < n; k++) {
    cleanup_free char *dest = dest_arg(addrs[k], 32);
    render_accepts(b, chain, dest, &r->ports, comment);
  }
  return 0;
}

int kk_netns_egress_render(const struct kk_netns_egress *eg, char **out, kk_err_t *err) {
  if (!kk_fw_safe_text(eg->realm) || !kk_fw_safe_text(eg->space) || kk_empty(eg->bridge) || !kk_fw_safe_text(eg->bridge))
    return kk_error_kind(err, KK_ERR_INVALID, 0, "egress of %s/%s: bad realm, space or bridge name", eg->realm,
                         eg->space);
  char chain[KK_NETNS_EGRESS_CHAIN_MAX];
  kk_netns_egress_chain(eg->realm, eg->space, chain);
  cleanup_free char *prefix = kk_asprintf("kukeon:%s:%s", eg->realm, eg->space);
  cleanup_sbuf struct kk_sbuf b = {0};
  kk_sb_printf(&b, "-A %s -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment \"%.*s:established\" -j ACCEPT\n",
            chain, COMMENT_MAX - 12, prefix);
  for (size_t i = 0; i < eg->n_allow; i++)
    if (render_allow(&b, chain, prefix, i, &eg->allow[i], err) < 0)
      return -1;
  kk_sb_printf(&b, "-A %s -m comment --comment \"%.*s:default\" -j %s\n", chain, COMMENT_MAX - 8, prefix,
            kk_streq(eg->default_, "deny") ? "DROP" : "ACCEPT");
  *out = kk_steal(&b.s);
  return 0;
}

/* ------------------------------------------------------------ calls */

static const char FORWARD_RULES[] =
    "-A " KK_NETNS_FORWARD_CHAIN " -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment "
    "\"kukeon-forward:established\" -j ACCEPT\n"
    "-A " KK_NETNS_FORWARD_CHAIN " ! -i k-+ -o k-+ -m comment --comment \"kukeon-forward:ingress\" -j ACCEPT\n";

static int plan_forward(struct kk_fw_plan *p, const struct kk_fw_bins *b, void *arg, kk_err_t *err) {
  kk_fw_plan_chain(p, KK_NETNS_FORWARD_CHAIN, FORWARD_RULES);
  kk_fw_plan_jump(p->snap, "FORWARD", KK_NETNS_FORWARD_CHAIN, false, &p->rules);
  return 0;
}

int kk_netns_fw_ensure_forward(const struct kk_netns_fw *fw, kk_err_t *err) {
  int rc = kk_fw_run(fw, "filter", plan_forward, NULL, err);
  return rc < 0 ? kk_error_wrap(err, "firewall admission chain") : rc;
}

struct space_want {
  const struct kk_netns_egress *eg;
  const char *rules;
};

static int plan_space(struct kk_fw_plan *p, const struct kk_fw_bins *b, void *arg, kk_err_t *err) {
  const struct space_want *w = arg;
  char chain[KK_NETNS_EGRESS_CHAIN_MAX];
  kk_netns_egress_chain(w->eg->realm, w->eg->space, chain);
  if (!kk_fw_has_chain(p->snap, KK_NETNS_EGRESS_CHAIN))
    kk_sb_printf(&p->decl, ":%s - [0:0]\n", KK_NETNS_EGRESS_CHAIN);
  kk_fw_plan_jump(p->snap, "FORWARD", KK_NETNS_EGRESS_CHAIN, true, &p->rules);
  /* The chain is refilled before a new dispatch rule reaches it, all in
   * one transaction. */
  kk_fw_plan_chain(p, chain, w->rules);
  cleanup_free char *tag = kk_asprintf("\"kukeon:%s:%s:dispatch\"", w->eg->realm, w->eg->space);
  cleanup_free char *dispatch =
      kk_asprintf("-A %s -i %s -m comment --comment %s -j %s", KK_NETNS_EGRESS_CHAIN, w->eg->bridge, tag, chain);
  bool kept = false;
  kk_fw_plan_delete_matching(p->snap, KK_NETNS_EGRESS_CHAIN, tag, dispatch, &p->rules, &kept);
  if (!kept)
    kk_sb_printf(&p->rules, "%s\n", dispatch);
  return 0;
}

int kk_netns_egress_ensure(const struct kk_netns_fw *fw, const struct kk_netns_egress *eg, kk_err_t *err) {
  cleanup_free char *rules = NULL;
  struct space_want w = {eg, NULL};
  int rc = kk_netns_egress_render(eg, &rules, err);
  if (rc == 0) {
    w.rules = rules;
    rc = kk_fw_run(fw, "filter", plan_space, &w, err);
  }
  return rc < 0 ? kk_error_wrap(err, "egress of space %s/%s", eg->realm, eg->space) : rc;
}

/* Packets the chain's default DROP counted (`-v -S` prints "-c pkts bytes"). */
static uint64_t drop_count(const struct kk_fw_bins *b, const char *chain) {
  const char *argv[] = {"iptables", "-w", FW_LOCK_WAIT_S, "-t", "filter", "-v", "-S", chain, NULL};
  cleanup_free char *out = NULL;
  kk_err_t e = NULL;
  if (kk_fw_exec(b, b->iptables, argv, NULL, &out, &e) < 0) {
    kk_error_free(&e);
    return 0;
  }
  const char *p = strstr(out, ":default\" -c ");
  unsigned long long pk = 0;
  if (p && strstr(p, "-j DROP") && sscanf(p, ":default\" -c %llu", &pk) == 1)
    return pk;
  return 0;
}

struct space_gone {
  const char *realm, *space;
  uint64_t dropped;
};

static int plan_remove(struct kk_fw_plan *p, const struct kk_fw_bins *b, void *arg, kk_err_t *err) {
  struct space_gone *g = arg;
  char chain[KK_NETNS_EGRESS_CHAIN_MAX];
  kk_netns_egress_chain(g->realm, g->space, chain);
  if (kk_fw_has_chain(p->snap, chain))
    g->dropped = drop_count(b, chain);
  cleanup_free char *target = kk_asprintf("-j %s", chain);
  bool kept = false;
  kk_fw_plan_delete_matching(p->snap, KK_NETNS_EGRESS_CHAIN, target, NULL, &p->rules, &kept);
  kk_fw_plan_drop_chain(p, chain);
  return 0;
}

int kk_netns_egress_remove(const struct kk_netns_fw *fw, const char *realm, const char *space, uint64_t *dropped,
                           kk_err_t *err) {
  struct space_gone g = {realm, space, 0};
  int rc = kk_fw_run(fw, "filter", plan_remove, &g, err);
  if (dropped)
    *dropped = rc == 0 ? g.dropped : 0;
  return rc < 0 ? kk_error_wrap(err, "remove egress of space %s/%s", realm, space) : rc;
}

static int plan_purge(struct kk_fw_plan *p, const struct kk_fw_bins *b, void *arg, kk_err_t *err) {
  bool kept = false;
  kk_fw_plan_delete_matching(p->snap, "FORWARD", "-j " KK_NETNS_EGRESS_CHAIN, NULL, &p->rules, &kept);
  kk_fw_plan_delete_matching(p->snap, "FORWARD", "-j " KK_NETNS_FORWARD_CHAIN, NULL, &p->rules, &kept);
  for (const char *l = p->snap; (l = strstr(l, "-N ")) != NULL; l += 3) {
    if (l != p->snap && l[-1] != '\n')
      continue;
    cleanup_free char *chain = kk_xstrndup(l + 3, strcspn(l + 3, "\n"));
    if (kk_has_prefix(chain, "KUKE-EGR-") || kk_streq(chain, KK_NETNS_EGRESS_CHAIN) ||
        kk_streq(chain, KK_NETNS_FORWARD_CHAIN))
      kk_fw_plan_drop_chain(p, chain);
  }
  return 0;
}

int kk_netns_fw_purge(const struct kk_netns_fw *fw, kk_err_t *err) {
  int rc = kk_fw_run(fw, "filter", plan_purge, NULL, err);
  if (rc == 0)
    rc = kk_netns_masq_purge(fw, err);
  return rc < 0 ? kk_error_wrap(err, "purge kukeon firewall chains") : rc;
}

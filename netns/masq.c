/* Outbound masquerade per space, in the nat table:
 *   POSTROUTING -> KUKEON-POSTROUTING: per space
 *     -s <subnet> ! -o <bridge> (comment kukeon:<r>:<s>:masq) MASQUERADE
 * One rule a space, written when the space is made (and re-asserted with
 * its egress chains), instead of the bridge plugin's ipMasq, which makes a
 * chain and rules per container with eight iptables execs on every cell
 * start and six on every stop.  Traffic between cells of the space, and
 * into the space, keeps its addresses. */
#include <string.h>

#include "lib/util.h"
#include "netns/internal.h"

static char *masq_tag(const char *realm, const char *space) {
  return kk_asprintf("\"kukeon:%s:%s:masq\"", realm, space);
}

/* The rule as `iptables -S` prints it. */
static char *masq_rule(const struct kk_netns_masq *m) {
  cleanup_free char *tag = masq_tag(m->realm, m->space);
  return kk_asprintf("-A %s -s %s ! -o %s -m comment --comment %s -j MASQUERADE", KK_NETNS_MASQ_CHAIN, m->subnet,
                     m->bridge, tag);
}

static int plan_masq(struct kk_fw_plan *p, const struct kk_fw_bins *b, void *arg, kk_err_t *err) {
  const struct kk_netns_masq *m = arg;
  if (!kk_fw_has_chain(p->snap, KK_NETNS_MASQ_CHAIN))
    kk_sb_printf(&p->decl, ":%s - [0:0]\n", KK_NETNS_MASQ_CHAIN);
  kk_fw_plan_jump(p->snap, "POSTROUTING", KK_NETNS_MASQ_CHAIN, false, &p->rules);
  cleanup_free char *tag = masq_tag(m->realm, m->space);
  cleanup_free char *rule = masq_rule(m);
  bool kept = false;
  kk_fw_plan_delete_matching(p->snap, KK_NETNS_MASQ_CHAIN, tag, rule, &p->rules, &kept);
  if (!kept)
    kk_sb_printf(&p->rules, "%s\n", rule);
  return 0;
}

int kk_netns_masq_ensure(const struct kk_netns_fw *fw, const struct kk_netns_masq *m, kk_err_t *err) {
  uint32_t addr;
  int plen;
  if (!kk_fw_safe_text(m->realm) || !kk_fw_safe_text(m->space) || kk_empty(m->bridge) ||
      !kk_fw_safe_text(m->bridge) || kk_empty(m->subnet) || !kk_ipv4_cidr_valid(m->subnet, &addr, &plen))
    return kk_error_kind(err, KK_ERR_INVALID, 0, "masquerade of %s/%s: bad realm, space, bridge or subnet", m->realm,
                         m->space);
  int rc = kk_fw_run(fw, "nat", plan_masq, (void *)m, err);
  return rc < 0 ? kk_error_wrap(err, "masquerade of space %s/%s", m->realm, m->space) : rc;
}

struct masq_gone {
  const char *realm, *space;
};

static int plan_unmasq(struct kk_fw_plan *p, const struct kk_fw_bins *b, void *arg, kk_err_t *err) {
  const struct masq_gone *g = arg;
  cleanup_free char *tag = masq_tag(g->realm, g->space);
  bool kept = false;
  kk_fw_plan_delete_matching(p->snap, KK_NETNS_MASQ_CHAIN, tag, NULL, &p->rules, &kept);
  return 0;
}

int kk_netns_masq_remove(const struct kk_netns_fw *fw, const char *realm, const char *space, kk_err_t *err) {
  struct masq_gone g = {realm, space};
  int rc = kk_fw_run(fw, "nat", plan_unmasq, &g, err);
  return rc < 0 ? kk_error_wrap(err, "remove masquerade of space %s/%s", realm, space) : rc;
}

static int plan_purge_nat(struct kk_fw_plan *p, const struct kk_fw_bins *b, void *arg, kk_err_t *err) {
  bool kept = false;
  kk_fw_plan_delete_matching(p->snap, "POSTROUTING", "-j " KK_NETNS_MASQ_CHAIN, NULL, &p->rules, &kept);
  kk_fw_plan_drop_chain(p, KK_NETNS_MASQ_CHAIN);
  return 0;
}

int kk_netns_masq_purge(const struct kk_netns_fw *fw, kk_err_t *err) {
  int rc = kk_fw_run(fw, "nat", plan_purge_nat, NULL, err);
  return rc < 0 ? kk_error_wrap(err, "purge kukeon masquerade chain") : rc;
}

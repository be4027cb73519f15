/* netns/: a cell's network. The controller calls this header and nothing
 * else for networking: one CNI network per space (conflist rendering,
 * subnet allocation, plugin exec and result parsing), the cell's /etc
 * files, published ports and the egress chains.  A cell's network namespace
 * is its root container's; everything here is addressed through it. */
#ifndef KK_NETNS_H
#define KK_NETNS_H

#include <stdbool.h>
#include <sys/types.h>

#include "lib/error.h"

struct kk_strv;

/* "/proc/<pid>/ns/net" into buf: the path CNI plugins are given
 * (CNI_NETNS) for a cell whose root container runs as pid. */
#define KK_NETNS_PATH_MAX 32
void kk_netns_path(pid_t pid, char buf[KK_NETNS_PATH_MAX]);

/* Opens pid's network namespace (O_RDONLY|O_CLOEXEC): holding the fd keeps
 * the namespace while plugins run even if the process exits meanwhile. */
int kk_netns_open(pid_t pid, kk_err_t *err);

/* ---- subnets (subnet.c) */

#define KK_NET_DEFAULT_POD_SUBNET "10.88.0.0/16"

/* The first /24 of pod_subnet, in ascending order, that is neither in
 * `taken` (subnets of existing spaces, "a.b.c.0/24") nor overlapping any of
 * host_cidrs (addresses and routes already on the host, either may be
 * NULL).  *out is "a.b.c.0/24".  Exhaustion is KK_ERR_UNAVAILABLE. */
int kk_net_subnet_pick(const char *pod_subnet, const struct kk_strv *taken, const struct kk_strv *host_cidrs,
                       char **out, kk_err_t *err);

/* The IPv4 addresses ("10.0.2.15/24") and non-default routes
 * ("172.17.0.0/16") of the calling process's network namespace. */
int kk_net_host_cidrs(struct kk_strv *out, kk_err_t *err);

/* Delete the bridge `name`; none by that name is fine, a link of another
 * type is refused. */
int kk_net_bridge_delete(const char *name, kk_err_t *err);

/* network.json, a space's allocation: {"version":"v1","subnetCIDR":...}.
 * Parse is strict: exactly those keys, a canonical /24. */
#define KK_NET_STATE_FILE "network.json"
char *kk_net_state_render(const char *subnet);
int kk_net_state_parse(const char *buf, size_t len, char **subnet, kk_err_t *err);

/* ---- conflist (conflist.c) */

#define KK_NET_CONFLIST_FILE "network.conflist"
#define KK_NET_CNI_VERSION "0.4.0"
#define KK_NET_IFNAMSIZ 15 /* usable characters of a Linux interface name */

/* What a space's conflist says: bridge (isGateway, ipMasq, host-local IPAM
 * over subnet), loopback, and portmap (with snat) when portmap is set. */
struct kk_net_conf {
  char *name;      /* network, "<realm>-<space>" */
  char *bridge;    /* "k-<8 hex>" (kk_bridge_name) */
  char *subnet;    /* "10.88.0.0/24" */
  char *lease_dir; /* host-local dataDir; NULL: the plugin's default */
  bool portmap;
};
void kk_net_conf_free(struct kk_net_conf *c);

/* The conflist JSON (2-space indent, trailing newline).  A bridge name
 * longer than IFNAMSIZ allows, a bad subnet or network name is refused. */
int kk_net_conflist_render(const struct kk_net_conf *c, char **out, kk_err_t *err);
/* Recover a conflist's network, bridge, subnet, lease dir and portmap
 * (bounded, strict about the parts it reads). */
int kk_net_conflist_parse(const char *buf, size_t len, struct kk_net_conf *out, kk_err_t *err);
/* Render and write dirfd/KK_NET_CONFLIST_FILE atomically (0600) unless it
 * already holds exactly that; *written says whether it did. */
int kk_net_conflist_write_at(int dirfd, const struct kk_net_conf *c, bool *written, kk_err_t *err);

/* ---- CNI exec (cni.c; cni_exec.c runs a plugin, cni_result.c reads what it
 * says) */

#define KK_NET_CNI_PATH_DEFAULT "/opt/cni/bin:/usr/lib/cni"
#define KK_NET_CNI_TIMEOUT_MS 30000

struct kk_net_cni_config {
  const char *plugin_path; /* ':'-separated search path; NULL: the default */
  const char *cache_dir;   /* results of ADD, one file per network+container */
  int timeout_ms;          /* per plugin exec; 0: KK_NET_CNI_TIMEOUT_MS */
};

/* One attachment: a network (conflist JSON text) to a container's netns. */
struct kk_net_cni_call {
  const char *conflist;       /* the conflist's JSON text */
  const char *container_id;   /* CNI_CONTAINERID; no '/' */
  const char *netns;          /* CNI_NETNS, e.g. kk_netns_path() */
  const char *ifname;         /* CNI_IFNAME; NULL: "eth0" */
  const char *runtime_config; /* JSON object, e.g. {"portMappings":[...]}, or NULL */
};

/* The parts of a CNI result kukeon uses. */
struct kk_net_cni_result {
  char *address; /* "10.88.0.2/24" */
  char *ip;      /* "10.88.0.2" */
  char *gateway; /* may be NULL */
  char *ifname;  /* the sandbox interface ("eth0"), may be NULL */
  char *mac;     /* may be NULL */
  char *json;    /* the whole result as the last plugin gave it */
};
void kk_net_cni_result_free(struct kk_net_cni_result *r);

/* ADD every plugin in order (each gets the previous one's result), cache
 * the final result.  On failure what was added is deleted again. */
int kk_net_cni_add(const struct kk_net_cni_config *cfg, const struct kk_net_cni_call *call,
                   struct kk_net_cni_result *res, kk_err_t *err);
/* DEL in reverse order with the cached result; no cache is fine, a second
 * DEL is fine.  The cache file is removed.  A namespace that is gone (or a
 * path that now names another namespace than ADD saw: the pid was reused)
 * gets an empty CNI_NETNS. */
int kk_net_cni_del(const struct kk_net_cni_config *cfg, const struct kk_net_cni_call *call, kk_err_t *err);
/* CHECK in order against the cached result (none: KK_ERR_NOT_FOUND). */
int kk_net_cni_check(const struct kk_net_cni_config *cfg, const struct kk_net_cni_call *call, kk_err_t *err);
/* The cached result of an earlier ADD (none: KK_ERR_NOT_FOUND). */
int kk_net_cni_cached(const struct kk_net_cni_config *cfg, const struct kk_net_cni_call *call,
                      struct kk_net_cni_result *res, kk_err_t *err);

/* Pure parts, exposed for tests: a result document, and one clear line
 * for a plugin that failed (its stdout: a CNI error object or nothing; its
 * stderr; its exit status; the bridge it was given, if any). */
int kk_net_cni_result_parse(const char *json, struct kk_net_cni_result *res, kk_err_t *err);
struct kk_net_cni_failure {
  const char *plugin; /* type */
  const char *command; /* ADD, DEL, CHECK */
  const char *bridge;
  const char *out;
  const char *errout;
  int status;
};
int kk_net_cni_failure_error(const struct kk_net_cni_failure *f, kk_err_t *err);
/* "cni plugin "<type>" not found in <path>: install ..." */
int kk_net_cni_missing_error(const char *type, const char *path, kk_err_t *err);


/* ---- etc, ports, egress: below */

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>

#include "model/model.h"

/* ---------------------------------------------------------- names (etc.c)
 * A cell's /etc/hostname, /etc/hosts and /etc/resolv.conf.  The files live
 * in the cell's metadata dir and are bind-mounted into every container, so
 * they are rewritten in place (kk_netns_write_in_place), never renamed. */

/* Biggest /etc file rendered or written (a hosts file of ~6000 cells). */
#define KK_NETNS_ETC_MAX (256u << 10)

/* A cell of the space as /etc/hosts names it. */
struct kk_netns_host {
  const char *name;
  const char *ip; /* NULL or "" (no address yet): left out */
};

/* "<cell>\n". */
char *kk_netns_render_hostname(const char *cell);
/* The localhost block (tab separated), "<ip>\t<cell>" when the cell has an
 * address, then "<ip>\t<name>" for every peer with an address (peers named
 * like the cell itself are skipped). */
char *kk_netns_render_hosts(const char *cell, const char *ip, const struct kk_netns_host *peers, size_t n_peers);

/* Where a host that runs systemd-resolved keeps the upstream servers its
 * stub (127.0.0.53) forwards to. */
#define KK_NETNS_RESOLVED_UPSTREAM "/run/systemd/resolve/resolv.conf"
/* The public resolvers a container gets when the host names loopback
 * resolvers only and no upstream list is found (Cloudflare, Google). */
#define KK_NETNS_RESOLV_FALLBACK_1 "1.1.1.1"
#define KK_NETNS_RESOLV_FALLBACK_2 "8.8.8.8"

/* The container's resolv.conf from the host's text: loopback nameservers
 * (127.0.0.0/8, ::1) cannot work inside the cell's namespace and are
 * dropped; when one was dropped, upstream's non-loopback nameservers
 * (upstream may be NULL) take their place; with no nameserver left the two
 * fallbacks above.  Every other line (search, options, comments) is kept. */
char *kk_netns_render_resolv(const char *host_text, const char *upstream_text);
/* The same from files: host_path (NULL: /etc/resolv.conf) and, only when
 * the host file names a loopback resolver, upstream_path (NULL:
 * KK_NETNS_RESOLVED_UPSTREAM; missing is fine).  A missing host file gives
 * the fallbacks. */
int kk_netns_resolv_conf(const char *host_path, const char *upstream_path, char **out, kk_err_t *err);

/* Rewrite dirfd/name in place: open the existing file (created when
 * missing), write, truncate.  The inode stays, so a bind mount of the file
 * sees the new text; no rename.  Readers may see a short mix of old and
 * new text while it runs.  At most KK_NETNS_ETC_MAX bytes. */
int kk_netns_write_in_place(int dirfd, const char *name, const char *text, mode_t mode, kk_err_t *err);

/* The three files of a cell, by these names in its metadata dir (the
 * bundle bind-mounts them on /etc/hostname, /etc/hosts, /etc/resolv.conf). */
#define KK_NETNS_ETC_HOSTNAME "etc-hostname"
#define KK_NETNS_ETC_HOSTS "etc-hosts"
#define KK_NETNS_ETC_RESOLV "etc-resolv.conf"
struct kk_netns_cell_etc {
  const char *cell, *ip;             /* ip NULL or "" before CNI ADD */
  const struct kk_netns_host *peers; /* the other running cells of the space */
  size_t n_peers;
  const char *resolv_host, *resolv_upstream; /* NULL: the defaults above */
};
/* Writes (in place, 0644) all three into dirfd: before start without the
 * address, again once CNI ADD gave it, and when the space's cells change. */
int kk_netns_write_cell_etc(int dirfd, const struct kk_netns_cell_etc *c, kk_err_t *err);

/* ------------------------------------------------- published ports (ports.c) */
struct kk_netns_port {
  char host_ip[16];        /* dotted IPv4; "" = every address */
  uint16_t host_port;      /* 1-65535 */
  uint16_t container_port; /* 1-65535 */
  char proto[4];           /* "tcp" | "udp" */
};

/* Docker's `[hostIP:]hostPort:containerPort[/tcp|udp]` (tcp when no
 * protocol).  A bare containerPort (docker picks a random host port) is
 * refused: the host port must be stable across restarts and known before
 * start for the conflict checks.  IPv4 host addresses only.  KK_ERR_INVALID
 * with the reason. */
int kk_netns_port_parse(const char *spec, struct kk_netns_port *out, kk_err_t *err);
/* The portmap plugin's runtimeConfig "portMappings" array:
 * [{"hostPort":8080,"containerPort":80,"protocol":"tcp","hostIP":""}]. */
json_t *kk_netns_portmap_json(const struct kk_netns_port *ports, size_t n);

/* A host port another cell already publishes. */
struct kk_netns_port_taken {
  const char *cell;
  struct kk_netns_port port;
};
/* Same protocol, same host port, host addresses overlap ("" overlaps all). */
bool kk_netns_port_overlaps(const struct kk_netns_port *a, const struct kk_netns_port *b);
/* Refuse (KK_ERR_CONFLICT) a mapping of want that repeats another of want,
 * or that another cell publishes: "host port 8080/tcp is already published
 * by cell X". */
int kk_netns_ports_check_taken(const struct kk_netns_port *want, size_t n, const struct kk_netns_port_taken *taken,
                               size_t n_taken, kk_err_t *err);
/* Whether the text of /proc/net/{tcp,tcp6,udp,udp6} (v6, udp as named)
 * shows a listening TCP socket or a bound UDP socket that p's host port and
 * address would hit (wildcard addresses on either side match). */
bool kk_netns_proc_net_binds(const char *text, bool v6, bool udp, const struct kk_netns_port *p);
/* Refuse (KK_ERR_CONFLICT) a mapping whose host port a socket of this
 * network namespace holds, from <proc>/net/{tcp,tcp6,udp,udp6} (proc NULL:
 * "/proc/self"; a missing file counts as empty): "host port 8080/tcp is
 * already in use on the host". */
int kk_netns_ports_check_host(const struct kk_netns_port *want, size_t n, const char *proc, kk_err_t *err);

/* ------------------------------------------------------ egress (egress.c)
 * Spec §7.5 through the iptables command (filter table):
 *   FORWARD -> KUKEON-EGRESS (position 1): per space
 *     -i <bridge> (comment kukeon:<r>:<s>:dispatch) -> KUKE-EGR-<hash>:
 *       RELATED,ESTABLISHED ACCEPT, the allow rules, the default
 *       (DROP for deny, ACCEPT otherwise);
 *   FORWARD -> KUKEON-FORWARD: RELATED,ESTABLISHED ACCEPT and traffic into
 *     any kukeon bridge (! -i k-+ -o k-+) ACCEPT.
 * Reads are one `iptables -S` (remove adds one `-v -S` of the space chain
 * for its counters); every change of one call is one
 * `iptables-restore --noflush` transaction, so a space's chain is flushed
 * and refilled atomically (a deny space never passes traffic meanwhile)
 * and a call that finds everything in place changes nothing (counters
 * kept). */
#define KK_NETNS_FORWARD_CHAIN "KUKEON-FORWARD"
#define KK_NETNS_EGRESS_CHAIN "KUKEON-EGRESS"
/* "KUKE-EGR-" + 8 hex of FNV-1a("<realm>/<space>"), NUL included. */
#define KK_NETNS_EGRESS_CHAIN_MAX 18
void kk_netns_egress_chain(const char *realm, const char *space, char out[KK_NETNS_EGRESS_CHAIN_MAX]);

/* How iptables is run. */
struct kk_netns_fw {
  const char *iptables; /* NULL: "iptables" from PATH; restore is <iptables>-restore */
  int timeout_ms;       /* per exec, the xtables lock wait included; 0: 15 s */
};
/* Returned (> 0, not an error) when there is no iptables to run: the
 * caller warns and goes on without a firewall. */
#define KK_NETNS_FW_MISSING 1

/* A space's egress: default "deny" drops what no allow rule accepts,
 * anything else ("allow", "" = no policy) accepts it. */
struct kk_netns_egress {
  const char *realm, *space;
  const char *bridge; /* the space's bridge, k-<hash> */
  const char *default_;
  const struct kk_egress_rule *allow; /* validated by model/validate.c */
  size_t n_allow;
};

/* The space chain's rules as `iptables -S` prints them, one a line; host
 * names resolved (IPv4 /32s) here with getaddrinfo.  A name that does not
 * resolve is an error (KK_ERR_UNAVAILABLE). */
int kk_netns_egress_render(const struct kk_netns_egress *eg, char **out, kk_err_t *err);
/* KUKEON-FORWARD holding exactly its two rules, and a jump to it appended
 * to FORWARD when there is none.  0, KK_NETNS_FW_MISSING or < 0. */
int kk_netns_fw_ensure_forward(const struct kk_netns_fw *fw, kk_err_t *err);
/* KUKEON-EGRESS, a jump to it inserted at FORWARD 1 when there is none
 * (one that is there stays where it is), the space chain and its one
 * dispatch rule as eg says (a stale dispatch rule of the space, e.g. for
 * an old bridge, is deleted); rewritten only where different. */
int kk_netns_egress_ensure(const struct kk_netns_fw *fw, const struct kk_netns_egress *eg, kk_err_t *err);
/* The space's dispatch rule and chain; *dropped (may be NULL) gets the
 * packets its default DROP counted (0 without one). */
int kk_netns_egress_remove(const struct kk_netns_fw *fw, const char *realm, const char *space, uint64_t *dropped,
                           kk_err_t *err);
/* Every chain and jump of kukeon, filter and nat (daemon reset
 * --purge-system). */
int kk_netns_fw_purge(const struct kk_netns_fw *fw, kk_err_t *err);

/* -------------------------------------------------- masquerade (masq.c)
 * nat: POSTROUTING -> KUKEON-POSTROUTING, one MASQUERADE rule a space for
 * what leaves its subnet other than through its bridge.  The conflist's
 * bridge plugin has ipMasq off: this rule is the space's masquerade. */
#define KK_NETNS_MASQ_CHAIN "KUKEON-POSTROUTING"
struct kk_netns_masq {
  const char *realm, *space;
  const char *bridge; /* k-<hash> */
  const char *subnet; /* the space's /24, network address */
};
/* The chain, the jump (appended when missing) and the space's one rule
 * (a stale rule of the space, e.g. for an old subnet, is deleted).
 * 0, KK_NETNS_FW_MISSING or < 0. */
int kk_netns_masq_ensure(const struct kk_netns_fw *fw, const struct kk_netns_masq *m, kk_err_t *err);
int kk_netns_masq_remove(const struct kk_netns_fw *fw, const char *realm, const char *space, kk_err_t *err);

#endif

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
 * says, cni_masq.c: a masquerade rule a DEL without namespace leaves) */

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
 * gets an empty CNI_NETNS, and the bridge's masquerade rule for the
 * container is removed through iptables. */
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

#endif

/* A space's CNI network and a cell's attachment to it, through netns/.
 *
 *   <run-path>/<realm>/<space>/network.json      the space's /24 (its allocation)
 *   <run-path>/<realm>/<space>/network.conflist  bridge, host-local IPAM, loopback
 *   <cni lease dir>/<realm>-<space>/             host-local's leases
 *   <cni cache dir>/<network>-<root id>-eth0     the ADD result of a cell
 *
 * A cell's network namespace is its root container's: CNI ADD once the
 * root runs, DEL before it stops.  The caller holds the tree lock, which
 * is also what keeps two spaces from getting the same subnet. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "controller/internal.h"
#include "lib/fs.h"
#include "lib/log.h"
#include "lib/util.h"
#include "netns/netns.h"

#define NET_FILE_MAX (64 * 1024)

static int space_dir_open(struct kk_controller *c, const struct kk_ref *space, kk_err_t *err) {
  cleanup_free char *rel = kk_store_rel_dir(space);
  cleanup_free char *dir = kk_asprintf("%s/%s", c->run_path, rel);
  return kk_open_dir_at(AT_FDCWD, dir, err);
}

/* A file of the space folder; *buf NULL (no error) when it is missing. */
static int read_net_file(int dfd, const char *name, char **buf, size_t *len, kk_err_t *err) {
  return kk_read_file_if_exists_at(dfd, name, NET_FILE_MAX, buf, len, err);
}

/* The subnet a space folder records: network.json, else (a space from
 * before it) its conflist's.  NULL when it has neither; a corrupt state is
 * an error (the caller decides whether to skip it). */
static int recorded_subnet(int dfd, struct kk_net_conf *conf, char **subnet, kk_err_t *err) {
  cleanup_free char *state = NULL, *list = NULL;
  size_t slen = 0, llen = 0;
  *subnet = NULL;
  if (read_net_file(dfd, KK_NET_STATE_FILE, &state, &slen, err) < 0 ||
      read_net_file(dfd, KK_NET_CONFLIST_FILE, &list, &llen, err) < 0)
    return -1;
  if (list && conf) {
    kk_err_t e = NULL;
    if (kk_net_conflist_parse(list, llen, conf, &e) < 0) /* stale or damaged: rewritten */
      kk_error_free(&e);
  }
  if (state)
    return kk_net_state_parse(state, slen, subnet, err) < 0 ? kk_error_wrap(err, KK_NET_STATE_FILE) : 0;
  if (list) {
    struct kk_net_conf old = {0};
    kk_err_t e = NULL;
    if (kk_net_conflist_parse(list, llen, &old, &e) == 0)
      *subnet = kk_steal(&old.subnet);
    kk_error_free(&e);
    kk_net_conf_free(&old);
  }
  return 0;
}

/* The subnets every other space holds; unreadable ones are warned about
 * and skipped (their /24 may then be handed out again). */
static int taken_subnets(struct kk_controller *c, const struct kk_ref *self, struct kk_strv *taken, kk_err_t *err) {
  cleanup_doc_list struct kk_doc_list spaces = {0};
  if (kk_store_list(c->store, KK_KIND_SPACE, NULL, &spaces, err) < 0)
    return -1;
  for (size_t i = 0; i < spaces.n; i++) {
    struct kk_ref r = kk_ref_of(spaces.docs[i]);
    if (kk_streq(r.realm, self->realm) && kk_streq(r.name, self->name))
      continue;
    kk_err_t e = NULL;
    cleanup_close int dfd = space_dir_open(c, &r, &e);
    cleanup_free char *subnet = NULL;
    if (dfd < 0 || recorded_subnet(dfd, NULL, &subnet, &e) < 0) {
      kk_warn("space %s/%s: network state unreadable, its subnet is not counted: %s", r.realm, r.name, e->msg);
      kk_error_free(&e);
      continue;
    }
    if (subnet)
      kk_strv_push(taken, subnet);
  }
  return 0;
}

static int pick_subnet(struct kk_controller *c, const struct kk_ref *space, char **out, kk_err_t *err) {
  cleanup_strv struct kk_strv taken = {0}, host = {0};
  if (taken_subnets(c, space, &taken, err) < 0)
    return -1;
  kk_err_t e = NULL;
  if (kk_net_host_cidrs(&host, &e) < 0) {
    kk_warn("space %s: the host's addresses and routes are not avoided: %s", space->name, e->msg);
    kk_error_free(&e);
  }
  return kk_net_subnet_pick(c->pod_subnet, &taken, &host, out, err);
}

/* network.json holds exactly the state for subnet. */
static int write_state(int dfd, const char *subnet, kk_err_t *err) {
  cleanup_free char *state = kk_net_state_render(subnet);
  cleanup_free char *cur = NULL;
  size_t len = 0;
  kk_err_t e = NULL;
  if (read_net_file(dfd, KK_NET_STATE_FILE, &cur, &len, &e) < 0)
    kk_error_free(&e);
  if (cur && len == strlen(state) && memcmp(cur, state, len) == 0)
    return 0;
  return kk_write_file_atomic(dfd, KK_NET_STATE_FILE, state, strlen(state), 0600, NULL, err);
}

static int ensure_files(struct kk_controller *c, const struct kk_ref *space, int dfd, bool force,
                        struct kk_net_conf *want, struct kk_net_conf *have, kk_err_t *err) {
  kk_err_t e = NULL;
  if (recorded_subnet(dfd, have, &want->subnet, &e) < 0) {
    /* Its own state unreadable: the subnet is allocated again. */
    kk_warn("space %s/%s: %s", space->realm, space->name, e->msg);
    kk_error_free(&e);
  }
  if ((want->subnet == NULL && pick_subnet(c, space, &want->subnet, err) < 0) ||
      write_state(dfd, want->subnet, err) < 0)
    return -1;
  want->name = kk_network_name(space->realm, space->name);
  want->bridge = kk_bridge_name(space->realm, space->name);
  want->lease_dir = kk_xstrdup(c->cni_lease_dir);
  want->portmap = want->portmap || have->portmap;
  if (force && unlinkat(dfd, KK_NET_CONFLIST_FILE, 0) < 0 && errno != ENOENT)
    return kk_error(err, errno, "remove %s", KK_NET_CONFLIST_FILE);
  bool written = false;
  if (kk_net_conflist_write_at(dfd, want, &written, err) < 0)
    return -1;
  if (written)
    kk_debug("space %s/%s: wrote %s (%s on %s)", space->realm, space->name, KK_NET_CONFLIST_FILE, want->subnet,
             want->bridge);
  return 0;
}

int kk_ctl_space_net_ensure(struct kk_controller *c, const struct kk_ref *space, bool force, bool portmap,
                            kk_err_t *err) {
  cleanup_close int dfd = space_dir_open(c, space, err);
  if (dfd < 0)
    return -1;
  struct kk_net_conf want = {.portmap = portmap}, have = {0};
  int ret = ensure_files(c, space, dfd, force, &want, &have, err);
  kk_net_conf_free(&want);
  kk_net_conf_free(&have);
  return ret < 0 ? kk_error_wrap(err, "network of space \"%s\"", space->name) : 0;
}

int kk_ctl_space_net_remove(struct kk_controller *c, const struct kk_ref *space, kk_err_t *err) {
  kk_ctl_space_fw_remove(c, space);
  cleanup_free char *bridge = kk_bridge_name(space->realm, space->name);
  cleanup_free char *net = kk_network_name(space->realm, space->name);
  int ret = kk_net_bridge_delete(bridge, err);
  kk_err_t e = NULL;
  cleanup_close int ldfd = open(c->cni_lease_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (ldfd >= 0 && kk_rm_rf_at(ldfd, net, ret < 0 ? &e : err) < 0)
    ret = -1;
  kk_error_free(&e);
  return ret < 0 ? kk_error_wrap(err, "network of space \"%s\"", space->name) : 0;
}

/* ------------------------------------------------------------- cells */

bool kk_ctl_cell_host_network(const struct kk_cell *cell) {
  for (size_t i = 0; i < cell->spec.n_containers; i++)
    if (cell->spec.containers[i].host_network)
      return true;
  return false;
}

/* What CNI needs of a cell: its space's conflist (ensured) and the call. */
struct cell_net {
  struct kk_net_cni_config cfg;
  struct kk_net_cni_call call;
  char *conflist;
  char *runtime_config; /* its published ports */
  char netns[KK_NETNS_PATH_MAX];
};

static char *portmap_runtime_config(const struct kk_cell *cell);

static void cell_net_free(struct cell_net *n) {
  free(n->conflist);
  free(n->runtime_config);
}

static int cell_net_of(struct kk_controller *c, const struct kk_cell *cell, const struct kk_container_spec *root,
                       pid_t root_pid, bool ensure, struct cell_net *n, kk_err_t *err) {
  struct kk_ref space = {.kind = KK_KIND_SPACE, .realm = cell->spec.realm_id, .name = cell->spec.space_id};
  n->runtime_config = portmap_runtime_config(cell);
  /* A space gets portmap in its conflist once a cell of it publishes ports. */
  if (ensure && kk_ctl_space_net_ensure(c, &space, false, n->runtime_config != NULL, err) < 0)
    return -1;
  cleanup_close int dfd = space_dir_open(c, &space, err);
  size_t len = 0;
  if (dfd < 0 || read_net_file(dfd, KK_NET_CONFLIST_FILE, &n->conflist, &len, err) < 0)
    return -1;
  if (n->conflist == NULL)
    return kk_error_kind(err, KK_ERR_NOT_FOUND, 0, "space \"%s\" has no %s", space.name, KK_NET_CONFLIST_FILE);
  n->netns[0] = '\0';
  if (root_pid > 0)
    kk_netns_path(root_pid, n->netns);
  n->cfg = (struct kk_net_cni_config){.plugin_path = c->cni_path, .cache_dir = c->cni_cache_dir};
  n->call = (struct kk_net_cni_call){.conflist = n->conflist, .container_id = root->containerd_id,
                                     .netns = n->netns, .ifname = "eth0", .runtime_config = n->runtime_config};
  return 0;
}

static void set_ip(struct kk_cell *cell, const char *ip) {
  free(cell->status.network.ip);
  cell->status.network.ip = ip ? kk_xstrdup(ip) : NULL;
}

/* Attached before (a daemon that restarted, a start of a running cell):
 * the cached result says what it got and CHECK that it still holds;
 * nothing is added twice.  One that does not hold (a DEL that failed
 * before this root started) is deleted and added anew. */
static int add_once(struct cell_net *n, const struct kk_cell *cell, struct kk_net_cni_result *res, kk_err_t *err) {
  if (kk_net_cni_cached(&n->cfg, &n->call, res, NULL) < 0)
    return kk_net_cni_add(&n->cfg, &n->call, res, err);
  kk_err_t e = NULL;
  if (kk_net_cni_check(&n->cfg, &n->call, &e) == 0)
    return 0;
  kk_warn("cell %s: its cached attachment does not hold (%s): attaching it again", cell->metadata.name, e->msg);
  kk_error_free(&e);
  kk_net_cni_result_free(res);
  if (kk_net_cni_del(&n->cfg, &n->call, &e) < 0)
    kk_error_free(&e);
  return kk_net_cni_add(&n->cfg, &n->call, res, err);
}

/* Whether pid's network namespace can no longer be reached (it ended). */
static bool netns_gone(pid_t pid) {
  kk_err_t e = NULL;
  int fd = kk_netns_open(pid, &e);
  kk_error_free(&e);
  if (fd < 0)
    return true;
  close(fd);
  return false;
}

int kk_ctl_cell_net_attach(struct kk_controller *c, struct kk_cell *cell, const struct kk_container_spec *root,
                           pid_t root_pid, kk_err_t *err) {
  set_ip(cell, NULL);
  /* A root already gone (a command that exits at once) has no namespace
   * to attach. */
  if (kk_ctl_cell_host_network(cell) || netns_gone(root_pid))
    return 0;
  KK_CLEANUP(cell_net_free) struct cell_net n = {0};
  struct kk_net_cni_result res = {0};
  if (cell_net_of(c, cell, root, root_pid, true, &n, err) < 0)
    return kk_error_wrap(err, "network of cell \"%s\"", cell->metadata.name);
  if (add_once(&n, cell, &res, err) < 0) {
    if (!netns_gone(root_pid))
      return kk_error_wrap(err, "network of cell \"%s\"", cell->metadata.name);
    /* It ended while the plugins ran: what they left goes (DEL without a
     * namespace), and the cell has no address. */
    kk_debug("cell %s: its root ended while its network came up: %s", cell->metadata.name, (*err)->msg);
    kk_error_free(err);
    kk_err_t e = NULL;
    if (kk_net_cni_del(&n.cfg, &n.call, &e) < 0)
      kk_error_free(&e);
    return 0;
  }
  set_ip(cell, res.ip);
  kk_net_cni_result_free(&res);
  kk_ctl_space_hosts_refresh(c, cell);
  return 0;
}

void kk_ctl_cell_net_detach(struct kk_controller *c, struct kk_cell *cell, const struct kk_container_spec *root,
                            pid_t root_pid) {
  if (kk_ctl_cell_host_network(cell))
    return;
  bool had_ip = !kk_empty(cell->status.network.ip);
  set_ip(cell, NULL);
  if (had_ip)
    kk_ctl_space_hosts_refresh(c, cell); /* its peers forget it */
  KK_CLEANUP(cell_net_free) struct cell_net n = {0};
  struct kk_net_cni_result res = {0};
  kk_err_t e = NULL;
  /* Nothing cached: never attached (or its ADD failed and undid itself). */
  if (cell_net_of(c, cell, root, root_pid, false, &n, &e) < 0 || kk_net_cni_cached(&n.cfg, &n.call, &res, NULL) < 0) {
    kk_error_free(&e);
    return;
  }
  kk_net_cni_result_free(&res);
  if (kk_net_cni_del(&n.cfg, &n.call, &e) < 0) {
    kk_warn("network of cell %s: %s", cell->metadata.name, e->msg);
    kk_error_free(&e);
  }
}

/* ------------------------------------------------------------- /etc/hosts */

/* A cell of the space, as its hosts file should know it. */
static bool same_cell(const struct kk_cell *a, const struct kk_cell *b) {
  return kk_streq(a->metadata.name, b->metadata.name) && kk_streq(a->spec.stack_id, b->spec.stack_id);
}

void kk_ctl_space_hosts_refresh(struct kk_controller *c, const struct kk_cell *self) {
  struct kk_ref scope = {.kind = KK_KIND_CELL, .realm = self->spec.realm_id, .space = self->spec.space_id};
  cleanup_doc_list struct kk_doc_list cells = {0};
  kk_err_t e = NULL;
  if (kk_store_list(c->store, KK_KIND_CELL, &scope, &cells, &e) < 0) {
    kk_warn("space %s: /etc/hosts of its cells not rewritten: %s", self->spec.space_id, e->msg);
    kk_error_free(&e);
    return;
  }
  /* Self as the caller has it (its address may be new or gone), the others
   * as stored. */
  const struct kk_cell **v = kk_xzalloc((cells.n + 1) * sizeof(*v));
  size_t n = 0;
  v[n++] = self;
  for (size_t i = 0; i < cells.n; i++)
    if (!same_cell(&cells.docs[i]->u.cell, self))
      v[n++] = &cells.docs[i]->u.cell;
  struct kk_netns_host *peers = kk_xzalloc(n * sizeof(*peers));
  size_t np = 0;
  for (size_t i = 0; i < n; i++)
    if (!kk_empty(v[i]->status.network.ip))
      peers[np++] = (struct kk_netns_host){v[i]->metadata.name, v[i]->status.network.ip};
  for (size_t i = 0; i < n; i++) {
    const struct kk_cell *cl = v[i];
    if (kk_empty(cl->status.network.ip) || kk_ctl_cell_host_network(cl))
      continue;
    struct kk_ref ref = {.kind = KK_KIND_CELL, .realm = cl->spec.realm_id, .space = cl->spec.space_id,
                         .stack = cl->spec.stack_id, .name = cl->metadata.name};
    if (kk_ctl_cell_hosts_write(c, &ref, cl->status.network.ip, peers, np, &e) < 0) {
      kk_warn("cell %s: /etc/hosts: %s", ref.name, e->msg);
      kk_error_free(&e);
    }
  }
  free(peers);
  free(v);
}

/* --------------------------------------------------------- published ports */

/* Every container's `ports`, parsed (*out NULL when none). */
static int cell_ports(const struct kk_cell *cell, struct kk_netns_port **out, size_t *n, kk_err_t *err) {
  *out = NULL;
  *n = 0;
  for (size_t i = 0; i < cell->spec.n_containers; i++) {
    const struct kk_container_spec *ct = &cell->spec.containers[i];
    for (size_t k = 0; k < ct->ports.n; k++) {
      *out = kk_xrealloc(*out, (*n + 1) * sizeof(**out));
      if (kk_netns_port_parse(ct->ports.v[k], &(*out)[*n], err) < 0) {
        free(*out);
        *out = NULL;
        *n = 0;
        return kk_error_wrap(err, "container \"%s\": ports", ct->id);
      }
      (*n)++;
    }
  }
  return 0;
}

/* The host ports published by the cells that have an address, but cell. */
static void ports_taken(struct kk_controller *c, const struct kk_cell *cell, struct kk_doc_list *cells,
                        struct kk_netns_port_taken **out, size_t *n) {
  *out = NULL;
  *n = 0;
  kk_err_t e = NULL;
  if (kk_store_list(c->store, KK_KIND_CELL, NULL, cells, &e) < 0) {
    kk_warn("published ports of other cells not checked: %s", e->msg);
    kk_error_free(&e);
    return;
  }
  for (size_t i = 0; i < cells->n; i++) {
    const struct kk_cell *o = &cells->docs[i]->u.cell;
    struct kk_netns_port *p = NULL;
    size_t np = 0;
    if (kk_empty(o->status.network.ip) ||
        (same_cell(o, cell) && kk_streq(o->spec.space_id, cell->spec.space_id) &&
         kk_streq(o->spec.realm_id, cell->spec.realm_id)) ||
        cell_ports(o, &p, &np, &e) < 0) {
      kk_error_free(&e);
      continue;
    }
    *out = kk_xrealloc(*out, (*n + np + 1) * sizeof(**out));
    for (size_t k = 0; k < np; k++)
      (*out)[(*n)++] = (struct kk_netns_port_taken){o->metadata.name, p[k]};
    free(p);
  }
}

int kk_ctl_cell_ports_check(struct kk_controller *c, const struct kk_cell *cell, kk_err_t *err) {
  cleanup_free struct kk_netns_port *want = NULL;
  size_t n = 0;
  if (cell_ports(cell, &want, &n, err) < 0)
    return -1;
  if (n == 0 || kk_ctl_cell_host_network(cell))
    return 0;
  cleanup_doc_list struct kk_doc_list cells = {0};
  cleanup_free struct kk_netns_port_taken *taken = NULL;
  size_t n_taken = 0;
  ports_taken(c, cell, &cells, &taken, &n_taken);
  if (kk_netns_ports_check_taken(want, n, taken, n_taken, err) < 0 ||
      kk_netns_ports_check_host(want, n, NULL, err) < 0)
    return kk_error_wrap(err, "cell \"%s\"", cell->metadata.name);
  return 0;
}

/* {"portMappings":[...]} for the portmap plugin, NULL without ports. */
static char *portmap_runtime_config(const struct kk_cell *cell) {
  cleanup_free struct kk_netns_port *ports = NULL;
  size_t n = 0;
  kk_err_t e = NULL;
  if (cell_ports(cell, &ports, &n, &e) < 0 || n == 0) {
    kk_error_free(&e);
    return NULL;
  }
  cleanup_json json_t *rc = json_pack("{s:o}", "portMappings", kk_netns_portmap_json(ports, n));
  char *s = json_dumps(rc, JSON_COMPACT);
  if (s == NULL)
    kk_oom();
  return s;
}

/* ------------------------------------------------------------------ egress */

/* iptables missing: warned about once per process, then quiet. */
static int fw_result(struct kk_controller *c, int r) {
  if (r == KK_NETNS_FW_MISSING) {
    if (!c->fw_missing_warned)
      kk_warn("iptables not found: no egress policy or forward rules are enforced (install iptables)");
    c->fw_missing_warned = true;
    return 0;
  }
  return r;
}

/* The masquerade rule for the subnet the space folder records. */
static int space_masq_ensure(struct kk_controller *c, const struct kk_ref *ref, const char *bridge, kk_err_t *err) {
  cleanup_close int dfd = space_dir_open(c, ref, err);
  cleanup_free char *subnet = NULL;
  if (dfd < 0 || recorded_subnet(dfd, NULL, &subnet, err) < 0)
    return -1;
  if (subnet == NULL)
    return kk_error_kind(err, KK_ERR_NOT_FOUND, 0, "no subnet recorded");
  struct kk_netns_fw fw = {0};
  struct kk_netns_masq m = {.realm = ref->realm, .space = ref->name, .bridge = bridge, .subnet = subnet};
  return fw_result(c, kk_netns_masq_ensure(&fw, &m, err));
}

int kk_ctl_space_fw_ensure(struct kk_controller *c, const struct kk_doc *doc, kk_err_t *err) {
  const struct kk_space *s = &doc->u.space;
  struct kk_ref ref = kk_ref_of(doc);
  struct kk_netns_fw fw = {0};
  if (fw_result(c, kk_netns_fw_ensure_forward(&fw, err)) < 0)
    return kk_error_wrap(err, "space \"%s\": forward rules", ref.name);
  if (c->fw_missing_warned)
    return 0;
  cleanup_free char *bridge = kk_bridge_name(ref.realm, ref.name);
  struct kk_netns_egress eg = {.realm = ref.realm, .space = ref.name, .bridge = bridge,
                               .default_ = s->spec.network.egress.default_,
                               .allow = s->spec.network.egress.allow, .n_allow = s->spec.network.egress.n_allow};
  if (fw_result(c, kk_netns_egress_ensure(&fw, &eg, err)) < 0)
    return kk_error_wrap(err, "space \"%s\": egress", ref.name);
  if (space_masq_ensure(c, &ref, bridge, err) < 0)
    return kk_error_wrap(err, "space \"%s\": masquerade", ref.name);
  return 0;
}

void kk_ctl_space_fw_remove(struct kk_controller *c, const struct kk_ref *space) {
  struct kk_netns_fw fw = {0};
  uint64_t dropped = 0;
  kk_err_t e = NULL;
  int r = kk_netns_egress_remove(&fw, space->realm, space->name, &dropped, &e);
  if (fw_result(c, r) < 0) {
    kk_warn("space %s: egress chain: %s", space->name, e->msg);
    kk_error_free(&e);
  } else if (dropped > 0) {
    kk_info("space %s/%s: its egress policy dropped %llu packet(s)", space->realm, space->name,
            (unsigned long long)dropped);
  }
  if (fw_result(c, kk_netns_masq_remove(&fw, space->realm, space->name, &e)) < 0) {
    kk_warn("space %s: masquerade rule: %s", space->name, e->msg);
    kk_error_free(&e);
  }
}

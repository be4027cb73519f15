/* kuke purge: a delete (forced), then a sweep of everything kukeon could
 * have left on the host for the resource, found by names rather than by
 * its state (which a daemon killed mid-delete, or a hand, may have torn):
 *
 *   containers  <runtime>/bundles/<ns>/<prefix>*, <run>/containers/<ns>/<prefix>*
 *               and runc's records under <runtime>/runc/<ns> (their monitors,
 *               runc state, mounts, files)
 *   cgroups     <hierarchy>/<cgroup root>/<rel> in every hierarchy
 *   network     CNI attachments cached for <network>-<prefix>*, leases, and
 *               for a space its bridge, lease dir and egress chain
 *   images      a realm's, in its namespace of the image store
 *   state       mounts under the resource's folder, then the folder
 *
 * <prefix> is "<space>_<stack>_<cell>_" cut to the resource's depth (names
 * hold no '_'), nothing for a realm: the realm's namespace is its own.
 * Every item is tried and reported; a failure does not stop the others. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <net/if.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "controller/internal.h"
#include "lib/fs.h"
#include "lib/util.h"
#include "netns/netns.h"

#define MONITOR_GONE_MS 2000
#define CACHE_MAX (1u << 20)

struct purge {
  struct kk_controller *c;
  const struct kk_ref *ref;
  struct kk_report *rep;
  char *ns, *prefix, *rel;
  struct kk_strv spaces; /* whose networks it may have left something in */
  size_t found, failed;
};

static void purge_free(struct purge *p) {
  free(p->ns);
  free(p->prefix);
  free(p->rel);
  kk_strv_free(&p->spaces);
}

/* One report line for one item; e (consumed) says whether it failed. */
static void item(struct purge *p, kk_err_t *e, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void item(struct purge *p, kk_err_t *e, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  cleanup_free char *what = kk_vasprintf(fmt, ap);
  va_end(ap);
  p->found++;
  if (*e == NULL) {
    kk_report_line(p->rep, 2, "- %s: removed", what);
    return;
  }
  p->failed++;
  kk_report_line(p->rep, 2, "- %s: failed: %s", what, (*e)->msg);
  kk_error_free(e);
}

/* "<space>_<stack>_<cell>_" cut to the resource's depth. */
static char *prefix_of(const struct kk_ref *r) {
  switch (r->kind) {
  case KK_KIND_REALM: return kk_xstrdup("");
  case KK_KIND_SPACE: return kk_asprintf("%s_", r->name);
  case KK_KIND_STACK: return kk_asprintf("%s_%s_", r->space, r->name);
  default: return kk_asprintf("%s_%s_%s_", r->space, r->stack, r->name);
  }
}

/* Names in dir that begin with prefix (and end with suffix), once each. */
static void names_in(const char *dir, const char *prefix, const char *suffix, struct kk_strv *out) {
  kk_err_t e = NULL;
  cleanup_dir DIR *d = kk_dir_open_at(AT_FDCWD, dir, &e);
  kk_error_free(&e);
  struct dirent *de;
  while (d && (de = readdir(d)) != NULL)
    if (de->d_name[0] != '.' && kk_has_prefix(de->d_name, prefix) && kk_has_suffix(de->d_name, suffix) &&
        !kk_strv_contains(out, de->d_name))
      kk_strv_push(out, de->d_name);
}

/* Subdirectories of dir (once each). */
static void subdirs_in(const char *dir, struct kk_strv *out) {
  kk_err_t e = NULL;
  cleanup_dir DIR *d = kk_dir_open_at(AT_FDCWD, dir, &e);
  kk_error_free(&e);
  struct dirent *de;
  while (d && (de = readdir(d)) != NULL)
    if (de->d_type == DT_DIR && de->d_name[0] != '.' && !kk_strv_contains(out, de->d_name))
      kk_strv_push(out, de->d_name);
}

/* ------------------------------------------------------------- containers */

struct ctr_dirs {
  char *bundles, *layers, *runc_root;
};

static void ctr_dirs_of(struct purge *p, struct ctr_dirs *d) {
  d->bundles = kk_asprintf("%s/bundles/%s", p->c->runtime_dir, p->ns);
  d->layers = kk_asprintf("%s/containers/%s", p->c->run_path, p->ns);
  d->runc_root = kk_asprintf("%s/runc/%s", p->c->runtime_dir, p->ns);
}

static void ctr_dirs_free(struct ctr_dirs *d) {
  free(d->bundles);
  free(d->layers);
  free(d->runc_root);
}

/* The containers of the resource the host still has a trace of: runc's
 * records (*known gets them all), bundles, writable layers. */
static void ctr_ids(struct purge *p, const struct ctr_dirs *d, struct kk_strv *ids, struct kk_strv *known) {
  struct kk_runc runc = {p->c->runc_bin, d->runc_root};
  kk_err_t e = NULL;
  if (access(d->runc_root, F_OK) == 0 && kk_runc_list(&runc, known, &e) < 0)
    item(p, &e, "runc records under %s", d->runc_root);
  for (size_t i = 0; i < known->n; i++)
    if (kk_has_prefix(known->v[i], p->prefix))
      kk_strv_push(ids, known->v[i]);
  names_in(d->bundles, p->prefix, "", ids);
  names_in(d->layers, p->prefix, "", ids);
}

/* Its processes: runc kill, then its monitor if that does not follow. */
static void ctr_kill(struct purge *p, const struct ctr_dirs *d, const char *id, bool in_runc) {
  struct kk_runc runc = {p->c->runc_bin, d->runc_root};
  kk_err_t e = NULL;
  enum kk_runc_status st = KK_RUNC_ABSENT;
  if (in_runc && kk_runc_state(&runc, id, &st, NULL, &e) < 0)
    kk_error_free(&e);
  if (st == KK_RUNC_RUNNING || st == KK_RUNC_PAUSED || st == KK_RUNC_CREATED) {
    kk_runc_kill(&runc, id, SIGKILL, true, &e);
    item(p, &e, "processes of %s (runc kill)", id);
  }
  cleanup_free char *bundle = kk_asprintf("%s/%s", d->bundles, id);
  cleanup_close int dfd = open(bundle, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0 || kk_monitor_wait_gone(dfd, in_runc ? MONITOR_GONE_MS : 0))
    return;
  pid_t pid = 0;
  if (kk_ctl_monitor_kill(dfd, id, &pid, &e) < 0 || pid > 0) {
    if (pid > 0 && !kk_monitor_wait_gone(dfd, MONITOR_GONE_MS))
      kk_error_kind(&e, KK_ERR_INTERNAL, 0, "still running after SIGKILL");
    item(p, &e, "monitor of %s (pid %d)", id, (int)pid);
  }
}

static void unmount_below(struct purge *p, const struct kk_strv *dirs) {
  cleanup_strv struct kk_strv mounts = {0};
  kk_err_t e = NULL;
  if (kk_ctl_mounts_below(dirs, &mounts, &e) < 0) {
    item(p, &e, "mounts under %s", dirs->v[0]);
    return;
  }
  for (size_t i = 0; i < mounts.n; i++) {
    if (umount2(mounts.v[i], MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
      kk_error(&e, errno, "umount");
    item(p, &e, "mount %s", mounts.v[i]);
  }
}

static void rm_dir(struct purge *p, const char *what, const char *path) {
  if (access(path, F_OK) < 0)
    return;
  kk_err_t e = NULL;
  kk_rm_rf_at(AT_FDCWD, path, &e);
  item(p, &e, "%s %s", what, path);
}

/* The folders a container's files and mounts are in, and the resource's
 * own folder: what a recursive removal must not cross a mount in. */
static void mount_dirs(struct purge *p, const struct ctr_dirs *d, const struct kk_strv *ids, struct kk_strv *out) {
  cleanup_free char *srel = kk_store_rel_dir(p->ref);
  kk_strv_push_owned(out, kk_asprintf("%s/%s", p->c->run_path, srel));
  for (size_t i = 0; i < ids->n; i++) {
    kk_strv_push_owned(out, kk_asprintf("%s/%s", d->bundles, ids->v[i]));
    kk_strv_push_owned(out, kk_asprintf("%s/%s", d->layers, ids->v[i]));
  }
}

/* The run path's image store (opened once, kept by the controller). */
static struct kk_image_store *images_of(struct purge *p, kk_err_t *err) {
  if (p->c->images == NULL && kk_image_store_open(p->c->run_path, &p->c->images, err) < 0)
    return NULL;
  return p->c->images;
}

/* runc's record, the image store's lease on its root filesystem, its files. */
static void ctr_remove(struct purge *p, const struct ctr_dirs *d, const char *id, bool in_runc) {
  kk_err_t e = NULL;
  if (in_runc) {
    struct kk_runc runc = {p->c->runc_bin, d->runc_root};
    kk_runc_delete(&runc, id, true, &e);
    item(p, &e, "runc record %s", id);
  }
  cleanup_free char *bundle = kk_asprintf("%s/%s", d->bundles, id), *layer = kk_asprintf("%s/%s", d->layers, id);
  cleanup_free char *rootfs = kk_asprintf("%s/rootfs", bundle);
  struct kk_image_store *is;
  if (access(rootfs, F_OK) == 0 && ((is = images_of(p, &e)) == NULL || kk_image_rootfs_unmount(is, rootfs, &e) < 0))
    item(p, &e, "root filesystem %s", rootfs);
  rm_dir(p, "bundle", bundle);
  rm_dir(p, "writable layer", layer);
}

/* Before the delete (remove false): nothing of the resource runs any more
 * and no mount is left below its folders, so no removal walks into a
 * mounted tree.  After it (remove true): the same, and then what the delete
 * did not remove because it did not know of it. */
static void sweep_containers(struct purge *p, bool remove) {
  KK_CLEANUP(ctr_dirs_free) struct ctr_dirs d = {0};
  ctr_dirs_of(p, &d);
  cleanup_strv struct kk_strv ids = {0}, known = {0}, dirs = {0};
  ctr_ids(p, &d, &ids, &known);
  for (size_t i = 0; i < ids.n; i++)
    ctr_kill(p, &d, ids.v[i], kk_strv_contains(&known, ids.v[i]));
  mount_dirs(p, &d, &ids, &dirs);
  unmount_below(p, &dirs);
  for (size_t i = 0; remove && i < ids.n; i++)
    ctr_remove(p, &d, ids.v[i], kk_strv_contains(&known, ids.v[i]));
  /* A realm's namespace is its own: its folders go too. */
  if (remove && p->ref->kind == KK_KIND_REALM) {
    rm_dir(p, "runc state root", d.runc_root);
    rm_dir(p, "bundles of namespace", d.bundles);
    rm_dir(p, "writable layers of namespace", d.layers);
  }
}

/* A realm's images: its namespace of the image store is its own (the
 * blobs and snapshots no other image uses go with them). */
static void sweep_images(struct purge *p) {
  kk_err_t e = NULL;
  struct kk_image_store *is = images_of(p, &e);
  struct kk_image_info *v = NULL;
  size_t n = 0;
  if (is == NULL || kk_image_list(is, p->ns, &v, &n, &e) < 0) {
    item(p, &e, "images of %s", p->ns);
    return;
  }
  for (size_t i = 0; i < n; i++) {
    kk_image_delete(is, p->ns, v[i].name, &e);
    item(p, &e, "image %s", v[i].name);
  }
  kk_image_infos_free(v, n);
}

static void sweep_cgroups(struct purge *p) {
  cleanup_strv struct kk_strv dirs = {0};
  kk_err_t e = NULL;
  if (kk_ctl_cg_dirs_all(p->c->cgroup_root, p->rel, &dirs, &e) < 0)
    item(p, &e, "cgroups");
  for (size_t i = 0; i < dirs.n; i++) {
    kk_ctl_cg_dir_purge(dirs.v[i], &e);
    item(p, &e, "cgroup %s", dirs.v[i]);
  }
}

/* ---------------------------------------------------------------- network */

/* The space's conflist, or (its folder gone) one rebuilt from the names
 * and the /24 the cached result's address is in: enough for a DEL. */
static char *conflist_for(struct purge *p, const char *space, const char *cache_file) {
  struct kk_ref sr = {.kind = KK_KIND_SPACE, .realm = p->ref->realm, .name = space};
  cleanup_free char *rel = kk_store_rel_dir(&sr);
  cleanup_free char *path = kk_asprintf("%s/%s/%s", p->c->run_path, rel, KK_NET_CONFLIST_FILE);
  char *text = NULL;
  size_t len = 0;
  kk_err_t e = NULL;
  if (kk_read_file_at(AT_FDCWD, path, CACHE_MAX, &text, &len, &e) == 0)
    return text;
  kk_error_free(&e);
  cleanup_json json_t *doc = json_load_file(cache_file, 0, NULL);
  const char *addr = json_string_value(json_object_get(
      json_array_get(json_object_get(json_object_get(doc, "result"), "ips"), 0), "address"));
  unsigned a, b, c2;
  if (addr == NULL || sscanf(addr, "%u.%u.%u.", &a, &b, &c2) != 3)
    return NULL;
  cleanup_free char *subnet = kk_asprintf("%u.%u.%u.0/24", a, b, c2);
  struct kk_net_conf conf = {.name = kk_network_name(p->ref->realm, space),
                             .bridge = kk_bridge_name(p->ref->realm, space),
                             .subnet = kk_steal(&subnet), .lease_dir = kk_xstrdup(p->c->cni_lease_dir),
                             .portmap = true};
  if (kk_net_conflist_render(&conf, &text, &e) < 0)
    kk_error_free(&e);
  kk_net_conf_free(&conf);
  return text;
}

/* CNI DEL (without a namespace: it died with the root) of every cached
 * attachment of the resource in space: the lease and the cache entry go. */
static void sweep_attachments(struct purge *p, const char *space) {
  cleanup_free char *net = kk_network_name(p->ref->realm, space);
  /* "<realm>-<space>-" alone would also match a space named "<space>-x". */
  cleanup_free char *head = p->ref->kind == KK_KIND_REALM ? kk_asprintf("%s-%s_", net, space)
                                                          : kk_asprintf("%s-%s", net, p->prefix);
  cleanup_strv struct kk_strv files = {0};
  names_in(p->c->cni_cache_dir, head, "-eth0", &files);
  for (size_t i = 0; i < files.n; i++) {
    const char *f = files.v[i];
    cleanup_free char *id = kk_xstrndup(f + strlen(net) + 1, strlen(f) - strlen(net) - 1 - strlen("-eth0"));
    cleanup_free char *path = kk_asprintf("%s/%s", p->c->cni_cache_dir, f);
    cleanup_free char *conflist = conflist_for(p, space, path);
    struct kk_net_cni_config cfg = {.plugin_path = p->c->cni_path, .cache_dir = p->c->cni_cache_dir};
    struct kk_net_cni_call call = {.conflist = conflist, .container_id = id, .netns = "", .ifname = "eth0"};
    kk_err_t e = NULL;
    if (conflist == NULL)
      kk_error_kind(&e, KK_ERR_NOT_FOUND, 0, "no conflist and no address in the cache to rebuild one");
    else
      kk_net_cni_del(&cfg, &call, &e);
    /* Whatever the plugins did, the cache entry goes. */
    if (unlink(path) < 0 && errno != ENOENT && e == NULL)
      kk_error(&e, errno, "remove %s", path);
    item(p, &e, "network attachment %s", id);
  }
}

/* host-local leases "<dir>/<ip>" whose first line is a container of the
 * resource (a DEL that could not run leaves them). */
static void sweep_leases(struct purge *p, const char *space) {
  cleanup_free char *net = kk_network_name(p->ref->realm, space);
  cleanup_free char *dir = kk_asprintf("%s/%s", p->c->cni_lease_dir, net);
  if (p->ref->kind <= KK_KIND_SPACE) {
    rm_dir(p, "leases", dir);
    return;
  }
  cleanup_strv struct kk_strv files = {0};
  names_in(dir, "", "", &files);
  for (size_t i = 0; i < files.n; i++) {
    cleanup_free char *path = kk_asprintf("%s/%s", dir, files.v[i]), *text = NULL;
    size_t len = 0;
    kk_err_t e = NULL;
    if (kk_read_file_at(AT_FDCWD, path, 4096, &text, &len, &e) < 0) {
      kk_error_free(&e);
      continue;
    }
    if (!kk_has_prefix(text, p->prefix))
      continue;
    if (unlink(path) < 0 && errno != ENOENT)
      kk_error(&e, errno, "unlink");
    item(p, &e, "lease %s", path);
  }
}

static void sweep_space_net(struct purge *p, const char *space) {
  cleanup_free char *bridge = kk_bridge_name(p->ref->realm, space);
  kk_err_t e = NULL;
  /* Not /sys/class/net: sysfs shows the network namespace it was mounted in. */
  if (if_nametoindex(bridge) > 0) {
    kk_net_bridge_delete(bridge, &e);
    item(p, &e, "bridge %s", bridge);
  }
  char chain[KK_NETNS_EGRESS_CHAIN_MAX];
  kk_netns_egress_chain(p->ref->realm, space, chain);
  struct kk_netns_fw fw = {0};
  int r = kk_netns_egress_remove(&fw, p->ref->realm, space, NULL, &e);
  if (r < 0)
    item(p, &e, "iptables chain %s", chain);
  else if (r == 0)
    kk_report_line(p->rep, 2, "- iptables chain %s and its jump: none left", chain);
  r = kk_netns_masq_remove(&fw, p->ref->realm, space, &e);
  if (r < 0)
    item(p, &e, "masquerade rule of space %s", space);
  else if (r == 0)
    kk_report_line(p->rep, 2, "- masquerade rule of space %s: none left", space);
}

/* Spaces named by CNI cache entries "<realm>-<space>-<space>_..." of
 * the realm. */
static void cached_spaces(struct purge *p, struct kk_strv *out) {
  cleanup_free char *head = kk_asprintf("%s-", p->ref->realm);
  cleanup_strv struct kk_strv files = {0};
  names_in(p->c->cni_cache_dir, head, "-eth0", &files);
  for (size_t i = 0; i < files.n; i++) {
    const char *rest = files.v[i] + strlen(head), *under = strchr(rest, '_');
    size_t n = under ? (size_t)(under - rest) : 0;
    /* "<space>-<space>": the same name twice, the dash between. */
    if (n % 2 == 1 && rest[n / 2] == '-' && strncmp(rest, rest + n / 2 + 1, n / 2) == 0)
      kk_strv_push_owned(out, kk_xstrndup(rest, n / 2));
  }
}

/* The spaces a realm may have left something of: its folders, cgroups,
 * container names and CNI cache entries.  Not its lease dirs:
 * "<realm>-<space>" does not say where the realm's name ends (realm "a",
 * space "b-c" or realm "a-b", space "c"). */
static void realm_spaces(struct purge *p, struct kk_strv *out) {
  cleanup_strv struct kk_strv cand = {0};
  cached_spaces(p, &cand);
  cleanup_free char *dir = kk_asprintf("%s/%s", p->c->run_path, p->ref->realm);
  subdirs_in(dir, &cand);
  cleanup_strv struct kk_strv cgs = {0};
  kk_err_t e = NULL;
  if (kk_ctl_cg_dirs_all(p->c->cgroup_root, p->rel, &cgs, &e) < 0)
    kk_error_free(&e);
  for (size_t i = 0; i < cgs.n; i++)
    subdirs_in(cgs.v[i], &cand);
  KK_CLEANUP(ctr_dirs_free) struct ctr_dirs d = {0};
  ctr_dirs_of(p, &d);
  names_in(d.bundles, "", "", &cand);
  names_in(d.layers, "", "", &cand);
  for (size_t i = 0; i < cand.n; i++) {
    char *under = strchr(cand.v[i], '_');
    if (under)
      *under = '\0';
    if (kk_validate_name(KK_KIND_SPACE, cand.v[i], &e) < 0)
      kk_error_free(&e);
    else if (!kk_strv_contains(out, cand.v[i]))
      kk_strv_push(out, cand.v[i]);
  }
}

/* Before anything is removed: what names the spaces goes too. */
static void spaces_of(struct purge *p) {
  if (p->ref->kind == KK_KIND_REALM)
    realm_spaces(p, &p->spaces);
  else
    kk_strv_push(&p->spaces, p->ref->kind == KK_KIND_SPACE ? p->ref->name : p->ref->space);
}

static void sweep_network(struct purge *p) {
  for (size_t i = 0; i < p->spaces.n; i++) {
    sweep_attachments(p, p->spaces.v[i]);
    sweep_leases(p, p->spaces.v[i]);
    if (p->ref->kind <= KK_KIND_SPACE)
      sweep_space_net(p, p->spaces.v[i]);
  }
}

/* ------------------------------------------------------------------ state */

static void sweep_state(struct purge *p) {
  cleanup_free char *srel = kk_store_rel_dir(p->ref);
  cleanup_free char *dir = kk_asprintf("%s/%s", p->c->run_path, srel);
  rm_dir(p, "state", dir);
}

/* ------------------------------------------------------------------- API */

static int check_ref(const struct kk_ref *ref, kk_err_t *err) {
  if (ref->kind > KK_KIND_CELL)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "purge takes a realm, space, stack or cell");
  const char *parts[] = {ref->realm, ref->space, ref->stack};
  const enum kk_kind kinds[] = {KK_KIND_REALM, KK_KIND_SPACE, KK_KIND_STACK};
  for (int i = 0; i < (int)ref->kind; i++)
    if (kk_empty(parts[i]))
      return kk_error_kind(err, KK_ERR_INVALID, 0, "purge %s \"%s\": %s name required", kk_kind_lower(ref->kind),
                           ref->name, kk_kind_lower(kinds[i]));
    else if (kk_validate_name(kinds[i], parts[i], err) < 0)
      return -1;
  return kk_validate_name(ref->kind, ref->name, err);
}

/* Stored children refuse a purge without cascade or force, as they refuse
 * a delete: nothing is touched then. */
static int check_children(struct kk_controller *c, const struct kk_ref *ref, kk_err_t *err) {
  if (ref->kind == KK_KIND_CELL)
    return 0;
  struct kk_ref scope = kk_ctl_child_scope(ref);
  cleanup_doc_list struct kk_doc_list kids = {0};
  cleanup_strv struct kk_strv bad = {0};
  if (kk_ctl_list(c, scope.kind, &scope, &kids, &bad, err) < 0)
    return -1;
  if (kids.n + bad.n == 0)
    return 0;
  return kk_error_kind(err, KK_ERR_CONFLICT, 0,
                       "resource has child resources: %s \"%s\" has %zu %s(s). Use --cascade to purge them or "
                       "--force to skip validation",
                       kk_kind_lower(ref->kind), ref->name, kids.n + bad.n, kk_kind_lower(scope.kind));
}

static char *purge_title(const struct kk_ref *r) {
  switch (r->kind) {
  case KK_KIND_REALM: return kk_asprintf("Purged realm \"%s\"", r->name);
  case KK_KIND_SPACE: return kk_asprintf("Purged space \"%s\" from realm \"%s\"", r->name, r->realm);
  case KK_KIND_STACK: return kk_asprintf("Purged stack \"%s\" from space \"%s\"", r->name, r->space);
  default: return kk_asprintf("Purged cell \"%s\" from stack \"%s\"", r->name, r->stack);
  }
}

/* The delete: forced (a cell whose state cannot be read goes by its
 * names), its own lines kept. */
static void purge_delete(struct purge *p) {
  struct kk_report drep = {0};
  kk_err_t e = NULL;
  if (kk_ctl_delete(p->c, p->ref, true, true, &drep, &e) == 0) {
    item(p, &e, "%s \"%s\" (delete)", kk_kind_lower(p->ref->kind), p->ref->name);
    for (size_t i = 0; i < drep.lines.n; i++)
      kk_strv_push(&p->rep->lines, drep.lines.v[i]);
  } else if (e->kind == KK_ERR_NOT_FOUND) {
    kk_error_free(&e);
  } else {
    item(p, &e, "%s \"%s\" (delete)", kk_kind_lower(p->ref->kind), p->ref->name);
  }
  kk_report_free(&drep);
}

int kk_ctl_purge(struct kk_controller *c, const struct kk_ref *ref, bool cascade, bool force, struct kk_report *rep,
                 size_t *failed, kk_err_t *err) {
  *failed = 0;
  if (check_ref(ref, err) < 0 || (!cascade && !force && check_children(c, ref, err) < 0))
    return -1;
  KK_CLEANUP(purge_free) struct purge p = {.c = c, .ref = ref, .rep = rep};
  p.ns = kk_namespace_name(ref->realm, c->ns_suffix);
  p.prefix = prefix_of(ref);
  p.rel = kk_ctl_cg_rel(ref);
  spaces_of(&p);
  {
    cleanup_close int lock = kk_store_lock(c->store, true, err);
    if (lock < 0)
      return -1;
    sweep_containers(&p, false);
  }
  purge_delete(&p);
  cleanup_close int lock = kk_store_lock(c->store, true, err);
  if (lock < 0)
    return -1;
  sweep_containers(&p, true);
  if (ref->kind == KK_KIND_REALM)
    sweep_images(&p);
  sweep_cgroups(&p);
  sweep_network(&p);
  sweep_state(&p);
  if (p.found == 0)
    return kk_error_kind(err, KK_ERR_NOT_FOUND, 0, "%s \"%s\" not found: nothing of it is stored or left on the host",
                         kk_kind_lower(ref->kind), ref->name);
  rep->title = purge_title(ref);
  *failed = p.failed;
  return 0;
}

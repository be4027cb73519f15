/* Opening and closing the controller, and the reports its operations fill. */
#include "controller/controller.h"

#include <stdarg.h>
#include <stdlib.h>

#include "cgroupfs/cgroupfs.h"
#include "controller/internal.h"
#include "lib/util.h"
#include "netns/netns.h"

int kk_controller_open(const struct kk_controller_config *cfg, struct kk_controller **out, kk_err_t *err) {
  const char *suffix = cfg->ns_suffix ? cfg->ns_suffix : KK_DEFAULT_NS_SUFFIX;
  const char *cgroot = cfg->cgroup_root ? cfg->cgroup_root : KK_DEFAULT_CGROUP_ROOT;
  if (kk_validate_ns_suffix(suffix, err) < 0 || kk_validate_cgroup_root(cgroot, err) < 0 ||
      (cfg->pod_subnet && kk_validate_pod_subnet(cfg->pod_subnet, err) < 0))
    return -1;
  struct kk_store *store = NULL;
  if (kk_store_open(cfg->run_path ? cfg->run_path : KK_DEFAULT_RUN_PATH, true, &store, err) < 0)
    return -1;
  if (cfg->watch_store)
    kk_store_watch_changes(store);
  struct kk_controller *c = kk_xzalloc(sizeof(*c));
  c->store = store;
  kk_ctl_seen_init(&c->seen);
  c->run_path = kk_xstrdup(kk_store_path(store));
  c->ns_suffix = kk_xstrdup(suffix);
  c->cgroup_root = kk_xstrdup(cgroot);
  c->pod_subnet = kk_xstrdup(cfg->pod_subnet ? cfg->pod_subnet : KK_DEFAULT_POD_SUBNET);
  c->runtime_dir = kk_xstrdup(cfg->runtime_dir ? cfg->runtime_dir : "/run/kukeon");
  const char *runc = cfg->runc ? cfg->runc : "runc";
  c->runc_bin = kk_which(runc); /* looked up once: runc is exec'd for every container */
  if (c->runc_bin == NULL)
    c->runc_bin = kk_xstrdup(runc); /* its exec says what is wrong, as before */
  c->pause_binary = cfg->pause_binary ? kk_xstrdup(cfg->pause_binary) : NULL;
  c->cni_path = kk_xstrdup(!kk_empty(cfg->cni_path) ? cfg->cni_path : KK_NET_CNI_PATH_DEFAULT);
  c->cni_cache_dir = !kk_empty(cfg->cni_cache_dir) ? kk_xstrdup(cfg->cni_cache_dir)
                                                    : kk_asprintf("%s/cni/cache", c->runtime_dir);
  c->cni_lease_dir = !kk_empty(cfg->cni_lease_dir) ? kk_xstrdup(cfg->cni_lease_dir)
                                                    : kk_asprintf("%s/cni/networks", c->runtime_dir);
  c->cfg = (struct kk_controller_config){c->run_path, c->ns_suffix, c->cgroup_root, c->pod_subnet,
                                         c->runtime_dir, c->runc_bin, c->pause_binary, c->cni_path,
                                         c->cni_cache_dir, c->cni_lease_dir, cfg->disk_warn_pct,
                                         cfg->disk_block_pct, cfg->default_memory_limit_bytes, cfg->watch_store};
  kk_host_limits_read(&c->host);
  c->crash_point = kk_ctl_crash_point_parse(getenv("KUKEON_TEST_CRASH_POINT"), c->cgroup_root);
  /* A host without a usable cgroup2 still keeps metadata; every resource
   * then says "cgroup: unavailable" and why, and kuke doctor explains. */
  kk_err_t e = NULL;
  if (kk_cg_detect(NULL, &c->cg, &e) < 0 || c->cg->mode == KK_CG_MODE_LEGACY ||
      c->cg->mode == KK_CG_MODE_UNKNOWN) {
    c->cg_problem = kk_xstrdup(e ? e->msg : "no cgroup2 hierarchy on this host (see `kuke doctor`)");
    kk_error_free(&e);
    kk_cg_host_free(c->cg);
    c->cg = NULL;
  }
  *out = c;
  return 0;
}

void kk_controller_close(struct kk_controller *c) {
  if (c == NULL)
    return;
  kk_store_close(c->store);
  if (c->images)
    kk_image_store_close(c->images);
  kk_ctl_restarts_free(&c->restarts);
  kk_ctl_seen_free(&c->seen);
  kk_ctl_disk_warns_free(&c->disk_warns);
  kk_ctl_dues_free(&c->dues);
  free(c->runtime_dir);
  free(c->runc_bin);
  free(c->pause_binary);
  free(c->cni_path);
  free(c->cni_cache_dir);
  free(c->cni_lease_dir);
  free(c->monitor_exe);
  kk_cg_host_free(c->cg);
  free(c->cg_problem);
  free(c->run_path);
  free(c->ns_suffix);
  free(c->cgroup_root);
  free(c->pod_subnet);
  free(c);
}

void kk_controller_closep(struct kk_controller **c) {
  kk_controller_close(*c);
  *c = NULL;
}

const struct kk_controller_config *kk_controller_config(const struct kk_controller *c) { return &c->cfg; }

void kk_report_free(struct kk_report *r) {
  free(r->title);
  r->title = NULL;
  kk_strv_free(&r->lines);
}

void kk_report_line(struct kk_report *r, int indent, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *body = kk_vasprintf(fmt, ap);
  va_end(ap);
  kk_strv_push_owned(&r->lines, kk_asprintf("%*s%s", indent, "", body));
  free(body);
}

const char *kk_apply_action_name(enum kk_apply_action a) {
  static const char *names[] = {"created", "updated", "unchanged", "failed"};
  return names[a];
}

void kk_apply_result_free(struct kk_apply_result *r) {
  for (size_t i = 0; i < r->n; i++) {
    free(r->items[i].name);
    free(r->items[i].error);
    kk_strv_free(&r->items[i].changes);
    kk_strv_free(&r->items[i].details);
    kk_strv_free(&r->items[i].warnings);
  }
  free(r->items);
  r->items = NULL;
  r->n = 0;
}

/* The disk-pressure guard (spec 5.5 item 10): small appliance disks fill.
 * The filesystem holding a realm's metadata is sampled; at the warn
 * threshold a WARN is logged, at most once every KK_DISK_WARN_EVERY_SEC
 * per realm; at the block threshold a new cell is refused unless its
 * request waives the guard.  Both thresholds are percent used, as df
 * counts it; 0 turns one off. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "controller/internal.h"
#include "lib/log.h"
#include "lib/util.h"

int kk_ctl_disk_pct_parse(const char *s, const char *what, int *out, kk_err_t *err) {
  char *end = NULL;
  errno = 0;
  bool digits = s != NULL && *s >= '0' && *s <= '9';
  long v = digits ? strtol(s, &end, 10) : -1;
  if (!digits || *end != '\0' || errno != 0 || v < 0 || v > 100)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "invalid %s \"%s\": expected a percent from 0 (off) to 100", what,
                         s ? s : "");
  *out = (int)v;
  return 0;
}

int kk_ctl_disk_pressure_env(struct kk_controller_config *cfg, kk_err_t *err) {
  const char *warn = getenv("KUKEOND_DISK_PRESSURE_WARN_PCT"), *block = getenv("KUKEOND_DISK_PRESSURE_BLOCK_PCT");
  cfg->disk_warn_pct = KK_DISK_WARN_PCT_DEFAULT;
  cfg->disk_block_pct = KK_DISK_BLOCK_PCT_DEFAULT;
  if (!kk_empty(warn) && kk_ctl_disk_pct_parse(warn, "KUKEOND_DISK_PRESSURE_WARN_PCT", &cfg->disk_warn_pct, err) < 0)
    return -1;
  if (!kk_empty(block) &&
      kk_ctl_disk_pct_parse(block, "KUKEOND_DISK_PRESSURE_BLOCK_PCT", &cfg->disk_block_pct, err) < 0)
    return -1;
  return 0;
}

int kk_ctl_disk_used_pct(unsigned long long blocks, unsigned long long bfree, unsigned long long bavail) {
  unsigned long long used = blocks > bfree ? blocks - bfree : 0;
  unsigned long long total = used + bavail;
  return total == 0 ? 0 : (int)((used * 100 + total - 1) / total);
}

bool kk_ctl_disk_warn_due(int64_t last_ms, int64_t now_ms) {
  return last_ms == 0 || now_ms - last_ms >= (int64_t)KK_DISK_WARN_EVERY_SEC * 1000;
}

static int used_percent(const char *path, int *pct, kk_err_t *err) {
  struct statvfs sv;
  if (statvfs(path, &sv) < 0)
    return kk_error(err, errno, "statvfs %s", path);
  *pct = kk_ctl_disk_used_pct(sv.f_blocks, sv.f_bfree, sv.f_bavail);
  return 0;
}

/* The realm's folder, or the run path before the realm has one. */
static char *realm_path(struct kk_controller *c, const char *realm) {
  struct kk_ref ref = {.kind = KK_KIND_REALM, .name = realm};
  cleanup_free char *rel = kk_store_rel_dir(&ref);
  char *p = kk_asprintf("%s/%s", c->run_path, rel);
  if (access(p, F_OK) == 0)
    return p;
  free(p);
  return kk_xstrdup(c->run_path);
}

/* The realm's slot in the WARN book, added when it has none. */
static struct kk_disk_warned *warned_slot(struct kk_disk_warns *w, const char *realm) {
  for (size_t i = 0; i < w->n; i++)
    if (strcmp(w->v[i].realm, realm) == 0)
      return &w->v[i];
  w->v = kk_xrealloc(w->v, (w->n + 1) * sizeof(*w->v));
  w->v[w->n] = (struct kk_disk_warned){.realm = kk_xstrdup(realm), .at_ms = 0};
  return &w->v[w->n++];
}

void kk_ctl_disk_warns_free(struct kk_disk_warns *w) {
  for (size_t i = 0; i < w->n; i++)
    free(w->v[i].realm);
  free(w->v);
  *w = (struct kk_disk_warns){0};
}

static void warn_rate_limited(struct kk_controller *c, const char *realm, const char *path, int pct) {
  struct kk_disk_warned *slot = warned_slot(&c->disk_warns, realm);
  int64_t now = kk_monotonic_ms();
  if (!kk_ctl_disk_warn_due(slot->at_ms, now))
    return;
  slot->at_ms = now;
  char used[KK_LOG_NUM_MAX], warn[KK_LOG_NUM_MAX], block[KK_LOG_NUM_MAX];
  kk_log_kv(KK_LOG_WARN, "data volume is under disk pressure", "realm", realm, "path", path, "used_percent",
            kk_log_num(used, pct), "warn_percent", kk_log_num(warn, c->cfg.disk_warn_pct), "block_percent",
            c->cfg.disk_block_pct > 0 ? kk_log_num(block, c->cfg.disk_block_pct) : NULL, NULL);
}

/* Sample realm's filesystem and warn; *pct gets its use (-1: unknown). */
static void sample(struct kk_controller *c, const char *realm, char **path, int *pct) {
  *path = realm_path(c, realm);
  *pct = -1;
  kk_err_t e = NULL;
  if (used_percent(*path, pct, &e) < 0) {
    kk_debug("disk pressure: %s", e->msg);
    kk_error_free(&e);
    *pct = -1;
    return;
  }
  if (c->cfg.disk_warn_pct > 0 && *pct >= c->cfg.disk_warn_pct)
    warn_rate_limited(c, realm, *path, *pct);
}

void kk_ctl_disk_observe(struct kk_controller *c, const char *realm) {
  if (c->cfg.disk_warn_pct <= 0)
    return;
  cleanup_free char *path = NULL;
  int pct;
  sample(c, realm, &path, &pct);
}

int kk_ctl_disk_guard(struct kk_controller *c, const struct kk_doc *cell, bool ignore, kk_err_t *err) {
  if (cell->kind != KK_KIND_CELL || (c->cfg.disk_warn_pct <= 0 && c->cfg.disk_block_pct <= 0))
    return 0;
  const char *realm = cell->u.cell.spec.realm_id;
  cleanup_free char *path = NULL;
  int pct;
  sample(c, realm, &path, &pct);
  if (ignore || c->cfg.disk_block_pct <= 0 || pct < c->cfg.disk_block_pct)
    return 0;
  return kk_error_kind(err, KK_ERR_CONFLICT, 0,
                       "data volume is under disk pressure: %s is %d%% full (new cells are refused from %d%%; "
                       "--ignore-disk-pressure overrides)",
                       path, pct, c->cfg.disk_block_pct);
}

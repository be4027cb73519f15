/* Limits at every level: validation, write + read back, the report; container
 * limits (runc writes them).  Value formats are parsed in file.c. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include "cgroupfs/internal.h"
#include "lib/fs.h"
#include "lib/util.h"

void kk_cg_limits_init(struct kk_cg_limits *l) {
  l->memory_max = l->memory_high = l->cpu_weight = KK_CG_UNSET;
  l->cpu_max_quota_us = l->cpu_max_period_us = KK_CG_UNSET;
  l->pids_max = l->io_weight = KK_CG_UNSET;
}

bool kk_cg_limits_any(const struct kk_cg_limits *l) {
  return l->memory_max != KK_CG_UNSET || l->memory_high != KK_CG_UNSET ||
         l->cpu_weight != KK_CG_UNSET || l->cpu_max_quota_us != KK_CG_UNSET ||
         l->cpu_max_period_us != KK_CG_UNSET || l->pids_max != KK_CG_UNSET ||
         l->io_weight != KK_CG_UNSET;
}

static int check_range(const char *field, int64_t v, int64_t lo, int64_t hi, bool max_ok,
                       kk_err_t *err) {
  if (v == KK_CG_UNSET || (max_ok && v == KK_CG_MAX))
    return 0;
  if (v < lo || v > hi) {
    if (hi == INT64_MAX || (max_ok && hi == KK_CG_MAX - 1))
      return kk_error_kind(err, KK_ERR_INVALID, 0,
                           "spec.resources.%s: %" PRId64 " is out of range (at least %" PRId64 "%s)",
                           field, v, lo, max_ok ? ", or unlimited" : "");
    return kk_error_kind(err, KK_ERR_INVALID, 0,
                         "spec.resources.%s: %" PRId64 " is out of range %" PRId64 "..%" PRId64, field,
                         v, lo, hi);
  }
  return 0;
}

int kk_cg_limits_validate(const struct kk_cg_limits *l, kk_err_t *err) {
  if (check_range("memoryMaxBytes", l->memory_max, 1, KK_CG_MAX - 1, true, err) < 0 ||
      check_range("memoryHighBytes", l->memory_high, 1, KK_CG_MAX - 1, true, err) < 0 ||
      check_range("cpuWeight", l->cpu_weight, 1, 10000, false, err) < 0 ||
      /* The kernel's floor for a CFS quota is 1 ms; its period is 1 ms..1 s. */
      check_range("cpuMaxQuotaMicros", l->cpu_max_quota_us, 1000, KK_CG_MAX - 1, true, err) < 0 ||
      check_range("cpuMaxPeriodMicros", l->cpu_max_period_us, 1000, 1000000, false, err) < 0 ||
      check_range("pidsMax", l->pids_max, 1, KK_CG_MAX - 1, true, err) < 0 ||
      check_range("ioWeight", l->io_weight, 1, 10000, false, err) < 0)
    return -1;
  return 0;
}

/* ---------------------------------------------------------------- shares */

/* No libm in the link: ln and exp for the one formula that needs them.
 * Accurate to ~1e-15 relative over the range used (shares 3..262143). */
static double ln_approx(double x) {
  static const double ln2 = 0.693147180559945309417232121458176568;
  int k = 0;
  while (x >= 2.0) {
    x /= 2.0;
    k++;
  }
  while (x < 1.0) {
    x *= 2.0;
    k--;
  }
  double y = (x - 1.0) / (x + 1.0), y2 = y * y, term = y, sum = 0.0;
  for (int n = 1; n < 80; n += 2) {
    sum += term / n;
    term *= y2;
  }
  return 2.0 * sum + k * ln2;
}

static double exp_approx(double x) {
  static const double ln2 = 0.693147180559945309417232121458176568;
  int n = 0;
  while (x >= ln2) {
    x -= ln2;
    n++;
  }
  while (x < 0) {
    x += ln2;
    n--;
  }
  double sum = 1.0, term = 1.0;
  for (int i = 1; i < 30; i++) {
    term *= x / i;
    sum += term;
  }
  for (; n > 0; n--)
    sum *= 2.0;
  for (; n < 0; n++)
    sum /= 2.0;
  return sum;
}

uint64_t kk_cg_cpu_shares_to_weight(uint64_t shares, enum kk_cg_shares_formula formula) {
  if (shares == 0)
    return 0;
  if (shares <= 2)
    return 1;
  if (shares >= 262144)
    return 10000;
  if (formula == KK_CG_SHARES_LINEAR)
    return 1 + ((shares - 2) * 9999) / 262142;
  static const double ln2 = 0.693147180559945309417232121458176568;
  static const double ln10 = 2.30258509299404568401799145468436421;
  double l = ln_approx((double)shares) / ln2;
  /* Same expression, same order as runc/crun: fits 2->1, 1024->100, 262144->10000. */
  double exponent = (l * l + 125 * l) / 612.0 - 7.0 / 34.0;
  double v = exp_approx(exponent * ln10);
  uint64_t t = (uint64_t)v;
  /* pow(10, 2.0) is exactly 100 in libm; our approximation may land a few
   * ulps above an integer: snap those.  Genuine near-integers (shares 196547:
   * 7780.000007) are ~1e-10 away, far outside the tolerance.  Checked against
   * libm for every shares value 0..300000. */
  if (v - (double)t < 1e-13 * v)
    return t;
  return t + 1; /* ceil */
}

/* ---------------------------------------------------------------- report */

const char *kk_cg_outcome_name(enum kk_cg_outcome o) {
  switch (o) {
  case KK_CG_APPLIED:
    return "applied";
  case KK_CG_ADJUSTED:
    return "adjusted";
  case KK_CG_NOT_ENFORCED:
    return "not enforced";
  case KK_CG_FAILED:
    return "failed";
  }
  return "?";
}

void kk_cg_report_free(struct kk_cg_report *r) {
  if (r == NULL)
    return;
  for (size_t i = 0; i < r->n; i++) {
    free(r->v[i].requested);
    free(r->v[i].actual);
    free(r->v[i].reason);
  }
  free(r->v);
  r->v = NULL;
  r->n = 0;
}

size_t kk_cg_report_count(const struct kk_cg_report *r, enum kk_cg_outcome o) {
  size_t n = 0;
  for (size_t i = 0; r && i < r->n; i++)
    n += r->v[i].outcome == o;
  return n;
}

static struct kk_cg_setting *report_add(struct kk_cg_report *r, const char *field, const char *file,
                                        char *requested) {
  r->v = kk_xrealloc(r->v, (r->n + 1) * sizeof(*r->v));
  struct kk_cg_setting *s = &r->v[r->n++];
  memset(s, 0, sizeof(*s));
  s->field = field;
  s->file = file;
  s->requested = requested;
  return s;
}

void kk_cg_report_print(const struct kk_cg_report *r, const char *status_path, bool only_problems,
                        FILE *out) {
  for (size_t i = 0; r && i < r->n; i++) {
    const struct kk_cg_setting *s = &r->v[i];
    if (only_problems && s->outcome == KK_CG_APPLIED)
      continue;
    fprintf(out, "%s: %s (%s) = %s: %s", status_path, s->field, s->file,
            s->requested ? s->requested : "", kk_cg_outcome_name(s->outcome));
    if (s->outcome == KK_CG_ADJUSTED && s->actual)
      fprintf(out, " to %s", s->actual);
    if (s->reason)
      fprintf(out, " (%s)", s->reason);
    fputc('\n', out);
  }
}

/* ---------------------------------------------------------------- apply */

static char *fmt_max(int64_t v) {
  return v == KK_CG_MAX ? kk_xstrdup("max") : kk_asprintf("%" PRId64, v);
}

/* Why `ctrl` is not usable in this cgroup. */
static char *why_not_enforced(const struct kk_cg_host *h, const char *ctrl, const char *file) {
  if (h->mode == KK_CG_MODE_HYBRID && !kk_strv_contains(&h->controllers, ctrl))
    return kk_asprintf("hybrid cgroups: the cgroup2 hierarchy at %s has no %s controller (it is "
                       "bound to cgroup v1), so %s cannot be set on realms, spaces, stacks or "
                       "cells on this host; container limits are enforced by runc through cgroup v1",
                       h->mountpoint, ctrl, file);
  if (!kk_strv_contains(&h->controllers, ctrl))
    return kk_asprintf("the %s controller is not available on this host (not in %s/cgroup.controllers)",
                       ctrl, h->mountpoint);
  return kk_asprintf("the %s controller is not enabled for this cgroup (a parent's "
                     "cgroup.subtree_control lacks it; see kuke doctor)",
                     ctrl);
}

struct apply_ctx {
  const struct kk_cg_host *h;
  int fd;
  struct kk_strv avail; /* this cgroup's cgroup.controllers */
  struct kk_cg_report *rep;
  char *first_error;
  int first_errnum;
};

/* Pre-checks, then write; returns the setting (outcome set on failure) or
 * NULL when the value was not written (NOT_ENFORCED). */
static struct kk_cg_setting *apply_write(struct apply_ctx *c, const char *field, const char *file,
                                         const char *ctrl, char *value) {
  struct kk_cg_setting *s = report_add(c->rep, field, file, value);
  if (!kk_strv_contains(&c->avail, ctrl)) {
    s->outcome = KK_CG_NOT_ENFORCED;
    s->reason = why_not_enforced(c->h, ctrl, file);
    return NULL;
  }
  kk_err_t e = NULL;
  if (kk_cg_write_at(c->h, c->fd, file, value, &e) < 0) {
    int errnum = e->errnum;
    kk_error_free(&e);
    if (errnum == ENOENT) {
      s->outcome = KK_CG_NOT_ENFORCED;
      s->reason = kk_asprintf("this kernel has no %s file although the %s controller is enabled", file,
                              ctrl);
      return NULL;
    }
    s->outcome = KK_CG_FAILED;
    s->reason = kk_asprintf("the kernel refused it: %s", strerror(errnum));
    if (c->first_error == NULL) {
      c->first_error = kk_asprintf("%s (%s) = %s: %s", field, file, value, s->reason);
      c->first_errnum = errnum;
    }
    return NULL;
  }
  return s;
}

static bool readback(struct apply_ctx *c, struct kk_cg_setting *s, char **text) {
  kk_err_t e = NULL;
  if (kk_cg_read_at(c->fd, s->file, KK_CG_FILE_MAX, text, &e) < 0) {
    s->outcome = KK_CG_FAILED;
    s->reason = kk_asprintf("written, but reading it back failed: %s", e->msg);
    kk_error_free(&e);
    return false;
  }
  char *nl = strchr(*text, '\n');
  s->actual = nl ? kk_xstrndup(*text, (size_t)(nl - *text)) : kk_xstrdup(*text);
  return true;
}

static void mismatch(struct apply_ctx *c, struct kk_cg_setting *s) {
  s->outcome = KK_CG_FAILED;
  s->reason = kk_asprintf("written, but the kernel reports %s", s->actual ? s->actual : "nothing");
  if (c->first_error == NULL) {
    c->first_error = kk_asprintf("%s (%s) = %s: %s", s->field, s->file, s->requested, s->reason);
    c->first_errnum = 0;
  }
}

static void apply_bytes(struct apply_ctx *c, const char *field, const char *file, int64_t v) {
  if (v == KK_CG_UNSET)
    return;
  struct kk_cg_setting *s = apply_write(c, field, file, "memory", fmt_max(v));
  cleanup_free char *text = NULL;
  if (s == NULL || !readback(c, s, &text))
    return;
  int64_t got = 0;
  kk_err_t e = NULL;
  if (kk_cg_parse_max(text, &got, &e) < 0) {
    kk_error_free(&e);
    return mismatch(c, s);
  }
  long page = sysconf(_SC_PAGESIZE);
  if (got == v)
    return;
  if (v != KK_CG_MAX && page > 0 && got == v - v % page) {
    s->outcome = KK_CG_ADJUSTED;
    s->reason = kk_asprintf("the kernel rounds down to a multiple of the page size (%ld)", page);
    return;
  }
  mismatch(c, s);
}

static void apply_plain(struct apply_ctx *c, const char *field, const char *file, const char *ctrl,
                        int64_t v) {
  if (v == KK_CG_UNSET)
    return;
  struct kk_cg_setting *s = apply_write(c, field, file, ctrl, fmt_max(v));
  cleanup_free char *text = NULL;
  if (s == NULL || !readback(c, s, &text))
    return;
  int64_t got = 0;
  kk_err_t e = NULL;
  if (kk_cg_parse_max(text, &got, &e) < 0 || got != v) {
    kk_error_free(&e);
    mismatch(c, s);
  }
}

static void apply_cpu_max(struct apply_ctx *c, int64_t quota, int64_t period) {
  if (quota == KK_CG_UNSET && period == KK_CG_UNSET)
    return;
  const char *field = quota != KK_CG_UNSET ? "cpuMaxQuotaMicros" : "cpuMaxPeriodMicros";
  char *value;
  if (quota == KK_CG_UNSET) {
    /* Only the period: keep whatever quota is there. */
    int64_t cur_q = KK_CG_MAX, cur_p = 0;
    cleanup_free char *text = NULL;
    kk_err_t e = NULL;
    if (kk_cg_read_at(c->fd, "cpu.max", KK_CG_FILE_MAX, &text, &e) == 0)
      kk_cg_parse_cpu_max(text, &cur_q, &cur_p, &e);
    kk_error_free(&e);
    cleanup_free char *q = fmt_max(cur_q);
    value = kk_asprintf("%s %" PRId64, q, period);
  } else {
    cleanup_free char *q = fmt_max(quota);
    /* Quota alone: the kernel keeps the current period; say the default. */
    value = kk_asprintf("%s %" PRId64, q, period == KK_CG_UNSET ? (int64_t)100000 : period);
  }
  struct kk_cg_setting *s = apply_write(c, field, "cpu.max", "cpu", value);
  cleanup_free char *text = NULL;
  if (s == NULL || !readback(c, s, &text))
    return;
  int64_t gq = 0, gp = 0, wq = 0, wp = 0;
  kk_err_t e = NULL;
  if (kk_cg_parse_cpu_max(text, &gq, &gp, &e) < 0 || kk_cg_parse_cpu_max(s->requested, &wq, &wp, &e) < 0 ||
      gq != wq || gp != wp) {
    kk_error_free(&e);
    mismatch(c, s);
  }
}

static void apply_io_weight(struct apply_ctx *c, int64_t w) {
  if (w == KK_CG_UNSET)
    return;
  struct kk_cg_setting *s =
      apply_write(c, "ioWeight", "io.weight", "io", kk_asprintf("default %" PRId64, w));
  cleanup_free char *text = NULL;
  if (s == NULL || !readback(c, s, &text))
    return;
  int64_t got = 0;
  kk_err_t e = NULL;
  if (kk_cg_parse_io_weight(text, &got, &e) < 0 || got != w) {
    kk_error_free(&e);
    mismatch(c, s);
  }
}

int kk_cg_apply_limits(const struct kk_cg_host *h, const char *root, const char *rel,
                       const struct kk_cg_limits *l, struct kk_cg_report *rep, kk_err_t *err) {
  struct kk_cg_report local = {0};
  if (rep == NULL)
    rep = &local;
  if (kk_cg_limits_validate(l, err) < 0)
    return -1;
  if (!kk_cg_limits_any(l))
    return 0;
  cleanup_close int fd = kk_cg_open_owned(h, root, rel, err);
  if (fd < 0)
    return -1;
  struct apply_ctx c = {.h = h, .fd = fd, .rep = rep};
  cleanup_free char *avail = NULL;
  if (kk_cg_read_at(fd, "cgroup.controllers", KK_CG_FILE_MAX, &avail, err) < 0) {
    kk_cg_report_free(&local);
    return -1;
  }
  kk_cg_parse_controllers(avail, &c.avail);

  /* memory.high first: lowering max under a high it exceeds is fine either way,
   * but throttling before the hard limit is the gentler order. */
  apply_bytes(&c, "memoryHighBytes", "memory.high", l->memory_high);
  apply_bytes(&c, "memoryMaxBytes", "memory.max", l->memory_max);
  apply_plain(&c, "cpuWeight", "cpu.weight", "cpu", l->cpu_weight);
  apply_cpu_max(&c, l->cpu_max_quota_us, l->cpu_max_period_us);
  apply_plain(&c, "pidsMax", "pids.max", "pids", l->pids_max);
  apply_io_weight(&c, l->io_weight);

  kk_strv_free(&c.avail);
  kk_cg_report_free(&local);
  if (c.first_error != NULL) {
    cleanup_free char *p = kk_cg_status_path(root, rel);
    kk_error_kind(err, c.first_errnum == EINVAL || c.first_errnum == ERANGE ? KK_ERR_INVALID
                                                                            : KK_ERR_INTERNAL,
                  0, "cgroup %s: %s", p, c.first_error);
    free(c.first_error);
    return -1;
  }
  return 0;
}

int kk_cg_read_limits(const struct kk_cg_host *h, const char *root, const char *rel,
                      struct kk_cg_limits *out, kk_err_t *err) {
  kk_cg_limits_init(out);
  cleanup_close int fd = kk_cg_open(h, root, rel, err);
  if (fd < 0)
    return -1;
  static const struct {
    const char *file;
    size_t off;
  } plain[] = {
      {"memory.max", offsetof(struct kk_cg_limits, memory_max)},
      {"memory.high", offsetof(struct kk_cg_limits, memory_high)},
      {"cpu.weight", offsetof(struct kk_cg_limits, cpu_weight)},
      {"pids.max", offsetof(struct kk_cg_limits, pids_max)},
  };
  for (size_t i = 0; i < KK_ARRAY_SIZE(plain); i++) {
    if (!kk_exists_at(fd, plain[i].file))
      continue;
    cleanup_free char *text = NULL;
    int64_t *dst = (int64_t *)((char *)out + plain[i].off);
    if (kk_cg_read_at(fd, plain[i].file, KK_CG_FILE_MAX, &text, err) < 0 ||
        kk_cg_parse_max(text, dst, err) < 0)
      return kk_error_wrap(err, "%s", plain[i].file);
  }
  if (kk_exists_at(fd, "cpu.max")) {
    cleanup_free char *text = NULL;
    if (kk_cg_read_at(fd, "cpu.max", KK_CG_FILE_MAX, &text, err) < 0 ||
        kk_cg_parse_cpu_max(text, &out->cpu_max_quota_us, &out->cpu_max_period_us, err) < 0)
      return -1;
  }
  if (kk_exists_at(fd, "io.weight")) {
    cleanup_free char *text = NULL;
    if (kk_cg_read_at(fd, "io.weight", KK_CG_FILE_MAX, &text, err) < 0 ||
        kk_cg_parse_io_weight(text, &out->io_weight, err) < 0)
      return -1;
  }
  return 0;
}

/* ---------------------------------------------------------------- containers */

static void container_entry(struct kk_cg_report *rep, const struct kk_cg_host *h,
                            const struct kk_strv *cell_ctrls, const char *field, const char *ctrl,
                            const char *v2file, const char *v1file, char *requested) {
  struct kk_cg_setting *s = report_add(rep, field, h->mode == KK_CG_MODE_HYBRID ? v1file : v2file,
                                       requested);
  if (h->mode == KK_CG_MODE_HYBRID) {
    const struct kk_cg_mount *m = kk_cg_mounts_find_v1(&h->mounts, ctrl);
    if (m != NULL) {
      s->reason = kk_asprintf("runc writes it in the cgroup v1 %s hierarchy at %s", ctrl,
                              m->mountpoint);
      return;
    }
    s->outcome = KK_CG_NOT_ENFORCED;
    s->reason = kk_asprintf("hybrid cgroups: no cgroup v1 hierarchy has the %s controller and "
                            "the cgroup2 hierarchy lacks it too",
                            ctrl);
    return;
  }
  if (kk_strv_contains(cell_ctrls, ctrl))
    return;
  s->outcome = KK_CG_NOT_ENFORCED;
  s->reason = why_not_enforced(h, ctrl, v2file);
}

int kk_cg_check_container_limits(const struct kk_cg_host *h, const char *root, const char *rel,
                                 const struct kk_cg_container_limits *cl,
                                 enum kk_cg_shares_formula formula, struct kk_cg_report *rep,
                                 kk_err_t *err) {
  struct kk_strv cell_ctrls = {0};
  if (h->mode == KK_CG_MODE_UNIFIED) {
    /* The controllers the cell hands to its children; before the cell
     * exists, what kukeon will enable there. */
    kk_err_t e = NULL;
    cleanup_close int fd = kk_cg_open(h, root, rel, &e);
    if (fd >= 0) {
      cleanup_free char *text = NULL;
      if (kk_cg_read_at(fd, "cgroup.subtree_control", KK_CG_FILE_MAX, &text, err) < 0)
        return -1;
      kk_cg_parse_controllers(text, &cell_ctrls);
    } else if (e->errnum == ENOENT) {
      kk_error_free(&e);
      for (size_t i = 0; i < KK_ARRAY_SIZE(kk_cg_wanted_controllers); i++)
        if (kk_strv_contains(&h->controllers, kk_cg_wanted_controllers[i]))
          kk_strv_push(&cell_ctrls, kk_cg_wanted_controllers[i]);
    } else {
      *err = e;
      return -1;
    }
  }
  if (cl->memory_limit_bytes > 0)
    container_entry(rep, h, &cell_ctrls, "memoryLimitBytes", "memory", "memory.max",
                    "memory.limit_in_bytes", kk_asprintf("%" PRId64, cl->memory_limit_bytes));
  if (cl->cpu_shares > 0) {
    char *req;
    if (h->mode == KK_CG_MODE_HYBRID)
      req = kk_asprintf("%" PRId64, cl->cpu_shares);
    else
      req = kk_asprintf("shares %" PRId64 " -> weight %" PRIu64, cl->cpu_shares,
                        kk_cg_cpu_shares_to_weight((uint64_t)cl->cpu_shares, formula));
    container_entry(rep, h, &cell_ctrls, "cpuShares", "cpu", "cpu.weight", "cpu.shares", req);
    if (cl->cpu_shares < 2 || cl->cpu_shares > 262144) {
      struct kk_cg_setting *s = &rep->v[rep->n - 1];
      if (s->outcome == KK_CG_APPLIED) {
        s->outcome = KK_CG_ADJUSTED;
        free(s->reason);
        s->reason = kk_xstrdup("cpu shares outside 2..262144 are clamped");
      }
    }
  }
  if (cl->pids_limit > 0)
    container_entry(rep, h, &cell_ctrls, "pidsLimit", "pids", "pids.max", "pids.max",
                    kk_asprintf("%" PRId64, cl->pids_limit));
  kk_strv_free(&cell_ctrls);
  return 0;
}

/* Stats per level (the kernel aggregates), memory.events; the v1 fallback on
 * hybrid hosts. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "cgroupfs/internal.h"
#include "lib/fs.h"
#include "lib/util.h"

static int64_t keyed_or(const char *text, const char *key, int64_t dflt) {
  int64_t v;
  kk_err_t e = NULL;
  if (kk_cg_parse_keyed(text, key, &v, &e) < 0) {
    kk_error_free(&e);
    return dflt;
  }
  return v;
}

int kk_cg_parse_memory_events(const char *text, struct kk_cg_memory_events *out) {
  out->low = keyed_or(text, "low", -1);
  out->high = keyed_or(text, "high", -1);
  out->max = keyed_or(text, "max", -1);
  out->oom = keyed_or(text, "oom", -1);
  out->oom_kill = keyed_or(text, "oom_kill", -1);
  out->oom_group_kill = keyed_or(text, "oom_group_kill", -1);
  return 0;
}

int kk_cg_read_memory_events(const struct kk_cg_host *h, const char *root, const char *rel,
                             struct kk_cg_memory_events *out, kk_err_t *err) {
  cleanup_close int fd = kk_cg_open(h, root, rel, err);
  if (fd < 0)
    return -1;
  cleanup_free char *text = NULL;
  if (kk_cg_read_at(fd, "memory.events", KK_CG_FILE_MAX, &text, err) < 0) {
    cleanup_free char *p = kk_cg_host_path(h, root, rel);
    return kk_error_wrap(err, "cgroup %s", p);
  }
  return kk_cg_parse_memory_events(text, out);
}

/* A single number (or "max") from dirfd/file; -1 if absent or unreadable. */
static int64_t read_num(int dirfd, const char *file) {
  cleanup_free char *text = NULL;
  kk_err_t e = NULL;
  int64_t v = -1;
  if (!kk_exists_at(dirfd, file) || kk_cg_read_at(dirfd, file, KK_CG_FILE_MAX, &text, &e) < 0 ||
      kk_cg_parse_max(text, &v, &e) < 0) {
    kk_error_free(&e);
    return -1;
  }
  return v;
}

/* The same cgroup in the v1 hierarchy of `ctrl`, if runc made it. */
static int open_v1(const struct kk_cg_host *h, const char *ctrl, const char *status_path) {
  const struct kk_cg_mount *m = kk_cg_mounts_find_v1(&h->mounts, ctrl);
  if (m == NULL || strcmp(m->root, "/") != 0)
    return -1;
  cleanup_free char *p = kk_asprintf("%s%s", m->mountpoint, status_path);
  return open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

int kk_cg_read_stats(const struct kk_cg_host *h, const char *root, const char *rel,
                     struct kk_cg_stats *out, kk_err_t *err) {
  *out = (struct kk_cg_stats){-1, -1, -1, -1, -1, -1, 0};
  cleanup_close int fd = kk_cg_open(h, root, rel, err);
  if (fd < 0)
    return -1;
  out->memory_current = read_num(fd, "memory.current");
  out->memory_max = read_num(fd, "memory.max");
  out->pids_current = read_num(fd, "pids.current");
  out->pids_max = read_num(fd, "pids.max");
  cleanup_free char *text = NULL;
  kk_err_t e = NULL;
  if (kk_exists_at(fd, "cpu.stat") && kk_cg_read_at(fd, "cpu.stat", KK_CG_FILE_MAX, &text, &e) == 0)
    out->cpu_usage_usec = keyed_or(text, "usage_usec", -1);
  kk_error_free(&e);
  free(text);
  text = NULL;
  if (kk_exists_at(fd, "memory.events") &&
      kk_cg_read_at(fd, "memory.events", KK_CG_FILE_MAX, &text, &e) == 0)
    out->oom_kills = keyed_or(text, "oom_kill", -1);
  kk_error_free(&e);

  if (h->mode != KK_CG_MODE_HYBRID || h->fake)
    return 0;
  cleanup_free char *sp = kk_cg_status_path(root, rel);
  if (out->memory_current < 0) {
    cleanup_close int v1 = open_v1(h, "memory", sp);
    if (v1 >= 0) {
      out->memory_current = read_num(v1, "memory.usage_in_bytes");
      int64_t lim = read_num(v1, "memory.limit_in_bytes");
      /* v1 says "unlimited" with a page-aligned LONG_MAX. */
      out->memory_max = lim >= (INT64_C(1) << 62) ? KK_CG_MAX : lim;
      cleanup_free char *ev = NULL;
      if (kk_exists_at(v1, "memory.oom_control") &&
          kk_cg_read_at(v1, "memory.oom_control", KK_CG_FILE_MAX, &ev, &e) == 0)
        out->oom_kills = keyed_or(ev, "oom_kill", -1);
      kk_error_free(&e);
      out->from_v1 |= KK_CG_STAT_MEMORY;
    }
  }
  if (out->pids_current < 0) {
    cleanup_close int v1 = open_v1(h, "pids", sp);
    if (v1 >= 0) {
      out->pids_current = read_num(v1, "pids.current");
      out->pids_max = read_num(v1, "pids.max");
      out->from_v1 |= KK_CG_STAT_PIDS;
    }
  }
  if (out->cpu_usage_usec < 0) {
    cleanup_close int v1 = open_v1(h, "cpuacct", sp);
    if (v1 >= 0) {
      int64_t ns = read_num(v1, "cpuacct.usage");
      out->cpu_usage_usec = ns >= 0 ? ns / 1000 : -1;
      out->from_v1 |= KK_CG_STAT_CPU;
    }
  }
  return 0;
}

/* Running containers as last observed (internal.h, struct kk_seen): the
 * init's pid by bundle, with the monitor that runs it.  A monitor runs one
 * init and never another, so while that very monitor lives (same pid, same
 * start time) and has written no exit record, the init's pid is still the
 * one seen: observing a running container then skips the bundle's
 * monitor.pid and pid files, half of its syscalls. */
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "controller/internal.h"
#include "lib/util.h"

#define SEEN_MAX 16384 /* past it everything is forgotten at once */

struct kk_seen_entry {
  char *bundle;
  struct kk_monitor_id monitor; /* its pidfd held while the budget allows */
  pid_t init;
};

/* Monitors held by a pidfd: a poll instead of a /proc read each time, but
 * an fd each.  Only with fds to spare beyond kukeond's connections (1024
 * and 256 more, daemon/serve.c): none under a small limit. */
static size_t pidfd_budget(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur <= 4096)
    return 0;
  rlim_t spare = (rl.rlim_cur - 2048) / 2;
  return spare > SEEN_MAX ? SEEN_MAX : (size_t)spare;
}

void kk_ctl_seen_init(struct kk_seen *s) {
  memset(s, 0, sizeof(*s));
  pthread_mutex_init(&s->mu, NULL);
  s->held_max = (size_t)-1; /* looked up at the first put: the daemon raises its limit first */
}

static void forget_all(struct kk_seen *s) {
  for (size_t i = 0; i < s->n; i++) {
    free(s->v[i].bundle);
    kk_monitor_release(&s->v[i].monitor);
  }
  free(s->v);
  s->v = NULL;
  s->n = s->cap = s->held = 0;
}

void kk_ctl_seen_free(struct kk_seen *s) {
  forget_all(s);
  pthread_mutex_destroy(&s->mu);
}

/* Sorted by bundle: a binary search (the caller holds mu). */
static size_t find(const struct kk_seen *s, const char *bundle, bool *found) {
  size_t lo = 0, hi = s->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int d = strcmp(s->v[mid].bundle, bundle);
    if (d == 0) {
      *found = true;
      return mid;
    }
    if (d < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  *found = false;
  return lo;
}

bool kk_ctl_seen_get(struct kk_seen *s, const char *bundle, struct kk_monitor_id *monitor, pid_t *init) {
  pthread_mutex_lock(&s->mu);
  bool found;
  size_t i = find(s, bundle, &found);
  if (found)
    *monitor = s->v[i].monitor, *init = s->v[i].init;
  monitor->pidfd = -1; /* the table's own */
  pthread_mutex_unlock(&s->mu);
  return found;
}

/* Entry i goes (the caller holds mu). */
static void forget(struct kk_seen *s, size_t i) {
  free(s->v[i].bundle);
  if (s->v[i].monitor.pidfd >= 0) {
    kk_monitor_release(&s->v[i].monitor);
    s->held--;
  }
  memmove(&s->v[i], &s->v[i + 1], (s->n - i - 1) * sizeof(*s->v));
  s->n--;
}

pid_t kk_ctl_seen_running(struct kk_seen *s, const char *bundle) {
  pthread_mutex_lock(&s->mu);
  bool found;
  size_t i = find(s, bundle, &found);
  pid_t init = 0;
  if (found && kk_monitor_still_runs(&s->v[i].monitor))
    init = s->v[i].init;
  else if (found) /* that monitor is gone for good: its fd goes too */
    forget(s, i);
  pthread_mutex_unlock(&s->mu);
  return init;
}

/* The entry's monitor becomes m (the caller holds mu). */
static void set_monitor(struct kk_seen *s, struct kk_seen_entry *e, const struct kk_monitor_id *m) {
  bool same = e->monitor.pid == m->pid && e->monitor.start == m->start;
  if (same && e->monitor.pidfd >= 0)
    return;
  if (e->monitor.pidfd >= 0) {
    kk_monitor_release(&e->monitor);
    s->held--;
  }
  e->monitor = (struct kk_monitor_id){.pid = m->pid, .start = m->start, .pidfd = -1};
  if (s->held_max == (size_t)-1)
    s->held_max = pidfd_budget();
  if (s->held < s->held_max && kk_monitor_hold(&e->monitor))
    s->held++;
}

void kk_ctl_seen_put(struct kk_seen *s, const char *bundle, const struct kk_monitor_id *monitor, pid_t init) {
  pthread_mutex_lock(&s->mu);
  bool found;
  size_t i = find(s, bundle, &found);
  if (!found && s->n >= SEEN_MAX) {
    forget_all(s);
    i = 0;
  }
  if (!found) {
    if (s->n == s->cap) {
      s->cap = s->cap ? 2 * s->cap : 64;
      s->v = kk_xrealloc(s->v, s->cap * sizeof(*s->v));
    }
    memmove(&s->v[i + 1], &s->v[i], (s->n - i) * sizeof(*s->v));
    s->v[i] = (struct kk_seen_entry){.bundle = kk_xstrdup(bundle), .monitor = {.pidfd = -1}};
    s->n++;
  }
  set_monitor(s, &s->v[i], monitor);
  s->v[i].init = init;
  pthread_mutex_unlock(&s->mu);
}

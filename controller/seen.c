/* Running containers as last observed (internal.h, struct kk_seen): the
 * init's pid by bundle, with the monitor that runs it.  A monitor runs one
 * init and never another, so while that very monitor lives (same pid, same
 * start time) and has written no exit record, the init's pid is still the
 * one seen: observing a running container then skips the bundle's
 * monitor.pid and pid files, half of its syscalls. */
#include <stdlib.h>
#include <string.h>

#include "controller/internal.h"
#include "lib/util.h"

#define SEEN_MAX 16384 /* past it everything is forgotten at once */

struct kk_seen_entry {
  char *bundle;
  struct kk_monitor_id monitor;
  pid_t init;
};

void kk_ctl_seen_init(struct kk_seen *s) {
  memset(s, 0, sizeof(*s));
  pthread_mutex_init(&s->mu, NULL);
}

static void forget_all(struct kk_seen *s) {
  for (size_t i = 0; i < s->n; i++)
    free(s->v[i].bundle);
  free(s->v);
  s->v = NULL;
  s->n = s->cap = 0;
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
  pthread_mutex_unlock(&s->mu);
  return found;
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
    s->v[i].bundle = kk_xstrdup(bundle);
    s->n++;
  }
  s->v[i].monitor = *monitor;
  s->v[i].init = init;
  pthread_mutex_unlock(&s->mu);
}

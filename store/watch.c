/* Directory generations from inotify (watch.h). */
#include "store/watch.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "lib/util.h"

/* Every way a directory's entries or their contents change; not opens,
 * reads or closes (a reader's lock file is opened for writing). */
#define WATCH_MASK                                                                                                 \
  (IN_MODIFY | IN_ATTRIB | IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF |   \
   IN_ONLYDIR)

struct watched {
  int wd; /* 0: a free slot (inotify never hands out 0) */
  uint64_t gen;
};

struct kk_store_watch {
  pthread_mutex_t mu;
  int fd;
  struct watched *v; /* open addressing by wd */
  size_t cap, n;
  uint64_t next_gen; /* generations are never handed out twice */
};

struct kk_store_watch *kk_store_watch_new(void) {
  int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0)
    return NULL;
  struct kk_store_watch *w = kk_xzalloc(sizeof(*w));
  pthread_mutex_init(&w->mu, NULL);
  w->fd = fd;
  w->cap = 1024;
  w->v = kk_xzalloc(w->cap * sizeof(*w->v));
  return w;
}

void kk_store_watch_free(struct kk_store_watch *w) {
  if (w == NULL)
    return;
  close(w->fd);
  free(w->v);
  pthread_mutex_destroy(&w->mu);
  free(w);
}

/* The slot of wd, or the free one it would go in (the caller holds mu). */
static struct watched *slot(struct kk_store_watch *w, int wd) {
  size_t i = ((size_t)wd * 2654435761u) & (w->cap - 1);
  while (w->v[i].wd != 0 && w->v[i].wd != wd)
    i = (i + 1) & (w->cap - 1);
  return &w->v[i];
}

static void grow(struct kk_store_watch *w) {
  struct watched *old = w->v;
  size_t old_cap = w->cap;
  w->cap *= 2;
  w->v = kk_xzalloc(w->cap * sizeof(*w->v));
  for (size_t i = 0; i < old_cap; i++)
    if (old[i].wd != 0)
      *slot(w, old[i].wd) = old[i];
  free(old);
}

/* wd is gone from the kernel: out of the table, the run after it moved
 * up so that no lookup stops short (the caller holds mu). */
static void forget(struct kk_store_watch *w, int wd) {
  struct watched *s = slot(w, wd);
  if (s->wd == 0)
    return;
  size_t i = (size_t)(s - w->v);
  w->v[i].wd = 0;
  w->n--;
  for (size_t j = (i + 1) & (w->cap - 1); w->v[j].wd != 0; j = (j + 1) & (w->cap - 1)) {
    struct watched moved = w->v[j];
    w->v[j].wd = 0;
    *slot(w, moved.wd) = moved;
  }
}

bool kk_store_watch_dir(struct kk_store_watch *w, int dirfd, struct kk_watch_mark *out) {
  char path[64];
  snprintf(path, sizeof(path), "/proc/self/fd/%d", dirfd);
  int wd = inotify_add_watch(w->fd, path, WATCH_MASK);
  if (wd <= 0)
    return false;
  pthread_mutex_lock(&w->mu);
  if (2 * (w->n + 1) > w->cap)
    grow(w);
  struct watched *s = slot(w, wd);
  if (s->wd == 0) {
    *s = (struct watched){wd, ++w->next_gen};
    w->n++;
  }
  *out = (struct kk_watch_mark){wd, s->gen};
  pthread_mutex_unlock(&w->mu);
  return true;
}

/* One event (the caller holds mu). */
static void take(struct kk_store_watch *w, const struct inotify_event *ev) {
  if (ev->mask & IN_Q_OVERFLOW) { /* events were lost: everything is new */
    for (size_t i = 0; i < w->cap; i++)
      if (w->v[i].wd != 0)
        w->v[i].gen = ++w->next_gen;
    return;
  }
  if (ev->mask & IN_IGNORED) {
    forget(w, ev->wd);
    return;
  }
  struct watched *s = slot(w, ev->wd);
  if (s->wd != 0)
    s->gen = ++w->next_gen;
}

void kk_store_watch_sync(struct kk_store_watch *w) {
  char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
  pthread_mutex_lock(&w->mu);
  for (;;) {
    ssize_t n = read(w->fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    for (char *p = buf; p < buf + n;) {
      const struct inotify_event *ev = (const struct inotify_event *)p;
      take(w, ev);
      p += sizeof(*ev) + ev->len;
    }
  }
  pthread_mutex_unlock(&w->mu);
}

bool kk_store_watch_unchanged(struct kk_store_watch *w, const struct kk_watch_mark *marks, size_t n) {
  bool same = true;
  pthread_mutex_lock(&w->mu);
  for (size_t i = 0; i < n && same; i++) {
    struct watched *s = slot(w, marks[i].wd);
    same = s->wd != 0 && s->gen == marks[i].gen;
  }
  pthread_mutex_unlock(&w->mu);
  return same;
}

/* Inside store/ only: which directories changed since a snapshot was read.
 *
 * A long-lived reader (kukeond) answers the same thousand cells again and
 * again; checking each cell's files with a stat apiece was most of a
 * list.  Instead, every directory a snapshot was read from is watched
 * (inotify) from before it is read; any change in it (a file written in
 * place, renamed over, added or removed, the directory itself gone)
 * moves the directory to a new generation, and a snapshot holds the
 * generations it was read at.  The kernel queues an event before the
 * writing call returns, so a reader that takes in the queue first misses
 * no write that ended before it began.  A full queue makes every
 * generation new at once. */
#ifndef KK_STORE_WATCH_H
#define KK_STORE_WATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kk_store_watch;

/* A directory as watched, and its generation when the mark was taken. */
struct kk_watch_mark {
  int wd;
  uint64_t gen;
};

/* NULL when inotify is not to be had (the stat of each file is then it). */
struct kk_store_watch *kk_store_watch_new(void);
void kk_store_watch_free(struct kk_store_watch *w);
/* The directory open at dirfd watched from now on, and its mark; false
 * when it cannot be (no watch left: the limit is the user's). */
bool kk_store_watch_dir(struct kk_store_watch *w, int dirfd, struct kk_watch_mark *out);
/* Take in the changes queued so far: once before a get or a list. */
void kk_store_watch_sync(struct kk_store_watch *w);
/* No change in any of these directories since their marks were taken (as
 * of the last sync). */
bool kk_store_watch_unchanged(struct kk_store_watch *w, const struct kk_watch_mark *marks, size_t n);

#endif

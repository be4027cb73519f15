/* Inside store/ only: parsed documents kept by their file's bytes.
 *
 * A list of a thousand cells reads three thousand files, and parsing
 * their YAML was a third of what `kuke get cells` and a reconcile pass
 * cost.  The cache answers with a copy of the document parsed from the
 * very same bytes at the same path, so it can never be stale: whatever
 * wrote the file (this process, another one, an editor), different bytes
 * are parsed afresh.  Reading the file stays; parsing goes. */
#ifndef KK_STORE_DOC_CACHE_H
#define KK_STORE_DOC_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "model/model.h"
#include "store/watch.h"

struct kk_doc_cache;

struct kk_doc_cache *kk_doc_cache_new(void);
void kk_doc_cache_free(struct kk_doc_cache *c);
/* A copy of the document parsed from exactly buf[0..len) at rel, or NULL.
 * Thread-safe, as is everything here. */
struct kk_doc *kk_doc_cache_get(struct kk_doc_cache *c, const char *rel, const char *buf, size_t len);
/* Remember doc (copied) as what buf[0..len) at rel parses to. */
void kk_doc_cache_put(struct kk_doc_cache *c, const char *rel, const char *buf, size_t len, const struct kk_doc *doc);
/* One version of a file or directory: a rename over it, a write in place
 * or an entry added or removed changes one of these. */
struct kk_file_version {
  dev_t dev;
  ino_t ino;
  off_t size;
  int64_t mtime_ns, ctime_ns;
};

/* The files a resource's document was read from, each with its version,
 * and the directories they are in as watched (watch.h) when they are. */
struct kk_snap_files {
  size_t n;
  char **names; /* relative to the resource's directory */
  struct kk_file_version *v;
  size_t n_marks;
  struct kk_watch_mark marks[2]; /* the resource's directory, its containers/ */
  bool unwatched;                /* one of them could not be watched: stat every file */
};
void kk_snap_files_add(struct kk_snap_files *f, const char *name, const struct kk_file_version *v);
void kk_snap_files_free(struct kk_snap_files *f);

/* A resource as last read whole under its lock: a copy of its document
 * when fresh(files, ctx) says every file is still what it was read from
 * (called with the cache's mutex held), else NULL. */
typedef bool (*kk_snap_fresh_fn)(const struct kk_snap_files *files, void *ctx);
struct kk_doc *kk_doc_cache_snap_get(struct kk_doc_cache *c, const char *key, kk_snap_fresh_fn fresh, void *ctx);
/* Remember doc (copied) as read from files (copied).  key is under the
 * resource's directory, so kk_doc_cache_drop_under forgets it. */
void kk_doc_cache_snap_put(struct kk_doc_cache *c, const char *key, const struct kk_snap_files *files,
                           const struct kk_doc *doc);
/* Forget every file at or under the directory rel (a deleted resource). */
void kk_doc_cache_drop_under(struct kk_doc_cache *c, const char *rel);

#endif

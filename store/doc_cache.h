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

#include <stddef.h>

#include "model/model.h"

struct kk_doc_cache;

struct kk_doc_cache *kk_doc_cache_new(void);
void kk_doc_cache_free(struct kk_doc_cache *c);
/* A copy of the document parsed from exactly buf[0..len) at rel, or NULL.
 * Thread-safe, as is everything here. */
struct kk_doc *kk_doc_cache_get(struct kk_doc_cache *c, const char *rel, const char *buf, size_t len);
/* Remember doc (copied) as what buf[0..len) at rel parses to. */
void kk_doc_cache_put(struct kk_doc_cache *c, const char *rel, const char *buf, size_t len, const struct kk_doc *doc);
/* Forget every file at or under the directory rel (a deleted resource). */
void kk_doc_cache_drop_under(struct kk_doc_cache *c, const char *rel);

#endif

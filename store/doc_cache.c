/* Parsed store documents by path and bytes (doc_cache.h). */
#include "store/doc_cache.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"

#define BUCKETS 4096 /* a power of two */
/* Files remembered at most; past it everything is forgotten at once.  A
 * thousand cells of two containers are about 3,000 files. */
#define MAX_ENTRIES 16384

/* A file's parse (bytes) or a resource's snapshot (files). */
struct entry {
  struct entry *next;
  char *key;
  char *bytes;
  size_t len;
  struct kk_snap_files files;
  struct kk_doc *doc;
};

struct kk_doc_cache {
  pthread_mutex_t mu;
  struct entry *bucket[BUCKETS];
  size_t n;
};

/* "./a/b" and "a/b" are one file. */
static const char *key_of(const char *rel) {
  while (rel[0] == '.' && rel[1] == '/')
    rel += 2;
  return rel;
}

static size_t hash(const char *key) {
  uint64_t h = 1469598103934665603ULL; /* FNV-1a */
  for (; *key; key++)
    h = (h ^ (unsigned char)*key) * 1099511628211ULL;
  return (size_t)(h & (BUCKETS - 1));
}

static void entry_free(struct entry *e) {
  free(e->key);
  free(e->bytes);
  kk_snap_files_free(&e->files);
  kk_doc_free(e->doc);
  free(e);
}

static void drop_all(struct kk_doc_cache *c) {
  for (size_t b = 0; b < BUCKETS; b++) {
    while (c->bucket[b]) {
      struct entry *e = c->bucket[b];
      c->bucket[b] = e->next;
      entry_free(e);
    }
  }
  c->n = 0;
}

struct kk_doc_cache *kk_doc_cache_new(void) {
  struct kk_doc_cache *c = kk_xzalloc(sizeof(*c));
  pthread_mutex_init(&c->mu, NULL);
  return c;
}

void kk_doc_cache_free(struct kk_doc_cache *c) {
  if (c == NULL)
    return;
  drop_all(c);
  pthread_mutex_destroy(&c->mu);
  free(c);
}

/* The entry for key; the caller holds mu. */
static struct entry **slot_of(struct kk_doc_cache *c, const char *key) {
  struct entry **p = &c->bucket[hash(key)];
  while (*p && strcmp((*p)->key, key) != 0)
    p = &(*p)->next;
  return p;
}

struct kk_doc *kk_doc_cache_get(struct kk_doc_cache *c, const char *rel, const char *buf, size_t len) {
  const char *key = key_of(rel);
  struct kk_doc *copy = NULL;
  pthread_mutex_lock(&c->mu);
  struct entry *e = *slot_of(c, key);
  if (e && e->bytes && e->len == len && memcmp(e->bytes, buf, len) == 0)
    copy = kk_doc_clone(e->doc);
  pthread_mutex_unlock(&c->mu);
  if (copy) { /* errors name the path it was read at */
    free(copy->file);
    copy->file = kk_xstrdup(rel);
  }
  return copy;
}

/* fresh in key's place (the old entry goes); the caller holds mu. */
static void replace(struct kk_doc_cache *c, const char *key, struct entry *fresh) {
  struct entry **p = slot_of(c, key);
  if (*p) { /* the file was rewritten: its old bytes go */
    struct entry *old = *p;
    *p = old->next;
    entry_free(old);
    c->n--;
  }
  if (c->n >= MAX_ENTRIES)
    drop_all(c);
  p = &c->bucket[hash(key)];
  fresh->next = *p;
  *p = fresh;
  c->n++;
}

void kk_doc_cache_put(struct kk_doc_cache *c, const char *rel, const char *buf, size_t len, const struct kk_doc *doc) {
  const char *key = key_of(rel);
  struct entry *fresh = kk_xzalloc(sizeof(*fresh));
  fresh->key = kk_xstrdup(key);
  fresh->bytes = kk_xmalloc(len ? len : 1);
  memcpy(fresh->bytes, buf, len);
  fresh->len = len;
  fresh->doc = kk_doc_clone(doc);
  pthread_mutex_lock(&c->mu);
  replace(c, key, fresh);
  pthread_mutex_unlock(&c->mu);
}

/* -------------------------------------------------------------- snapshots */

void kk_snap_files_add(struct kk_snap_files *f, const char *name, const struct kk_file_version *v) {
  f->names = kk_xrealloc(f->names, (f->n + 1) * sizeof(*f->names));
  f->v = kk_xrealloc(f->v, (f->n + 1) * sizeof(*f->v));
  f->names[f->n] = kk_xstrdup(name);
  f->v[f->n++] = *v;
}

void kk_snap_files_free(struct kk_snap_files *f) {
  for (size_t i = 0; i < f->n; i++)
    free(f->names[i]);
  free(f->names);
  free(f->v);
  memset(f, 0, sizeof(*f));
}

static void files_copy(struct kk_snap_files *to, const struct kk_snap_files *from) {
  memset(to, 0, sizeof(*to));
  for (size_t i = 0; i < from->n; i++)
    kk_snap_files_add(to, from->names[i], &from->v[i]);
  to->n_marks = from->n_marks;
  to->unwatched = from->unwatched;
  memcpy(to->marks, from->marks, sizeof(to->marks));
}

struct kk_doc *kk_doc_cache_snap_get(struct kk_doc_cache *c, const char *key, kk_snap_fresh_fn fresh, void *ctx) {
  pthread_mutex_lock(&c->mu);
  struct entry *e = *slot_of(c, key_of(key));
  struct kk_doc *copy = e && e->files.n > 0 && fresh(&e->files, ctx) ? kk_doc_clone(e->doc) : NULL;
  pthread_mutex_unlock(&c->mu);
  return copy;
}

void kk_doc_cache_snap_put(struct kk_doc_cache *c, const char *key, const struct kk_snap_files *files,
                           const struct kk_doc *doc) {
  if (files->n == 0)
    return;
  key = key_of(key);
  struct entry *fresh = kk_xzalloc(sizeof(*fresh));
  fresh->key = kk_xstrdup(key);
  files_copy(&fresh->files, files);
  fresh->doc = kk_doc_clone(doc);
  pthread_mutex_lock(&c->mu);
  replace(c, key, fresh);
  pthread_mutex_unlock(&c->mu);
}

static bool under(const char *key, const char *dir, size_t dlen) {
  return strncmp(key, dir, dlen) == 0 && (key[dlen] == '\0' || key[dlen] == '/');
}

void kk_doc_cache_drop_under(struct kk_doc_cache *c, const char *rel) {
  const char *dir = key_of(rel);
  size_t dlen = strlen(dir);
  pthread_mutex_lock(&c->mu);
  for (size_t b = 0; b < BUCKETS; b++) {
    struct entry **p = &c->bucket[b];
    while (*p) {
      struct entry *e = *p;
      if (under(e->key, dir, dlen)) {
        *p = e->next;
        entry_free(e);
        c->n--;
      } else {
        p = &e->next;
      }
    }
  }
  pthread_mutex_unlock(&c->mu);
}

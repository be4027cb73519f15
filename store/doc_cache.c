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

struct entry {
  struct entry *next;
  char *key;
  char *bytes;
  size_t len;
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
  if (e && e->len == len && memcmp(e->bytes, buf, len) == 0)
    copy = kk_doc_clone(e->doc);
  pthread_mutex_unlock(&c->mu);
  if (copy) { /* errors name the path it was read at */
    free(copy->file);
    copy->file = kk_xstrdup(rel);
  }
  return copy;
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

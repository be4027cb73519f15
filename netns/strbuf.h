/* netns/ private: a growing string for the text the folder renders (/etc
 * files, iptables-restore input).  kk_x* allocation aborts on OOM, so
 * appends cannot fail.  Not part of the folder's API. */
#ifndef KK_NETNS_STRBUF_H
#define KK_NETNS_STRBUF_H

#include <stdarg.h>
#include <string.h>

#include "lib/util.h"

struct kk_sbuf {
  char *s; /* NULL until the first append */
  size_t len, cap;
};

static inline void kk_sb_addn(struct kk_sbuf *b, const char *s, size_t n) {
  if (b->len + n + 1 > b->cap) {
    b->cap = (b->len + n + 1) * 2;
    b->s = kk_xrealloc(b->s, b->cap);
  }
  memcpy(b->s + b->len, s, n);
  b->len += n;
  b->s[b->len] = '\0';
}

static inline void kk_sb_add(struct kk_sbuf *b, const char *s) { kk_sb_addn(b, s, strlen(s)); }

static inline __attribute__((format(printf, 2, 3))) void kk_sb_printf(struct kk_sbuf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  cleanup_free char *s = kk_vasprintf(fmt, ap);
  va_end(ap);
  kk_sb_add(b, s);
}

static inline void kk_sb_free(struct kk_sbuf *b) { free(b->s); }
#define cleanup_sbuf KK_CLEANUP(kk_sb_free)

#endif

/* Internal to cli/: label selectors (-l/--selector of get, start, stop,
 * kill, restart): a comma-separated AND of k=v, k==v, k!=v, k, !k. */
#ifndef KK_CLI_SELECTOR_H
#define KK_CLI_SELECTOR_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/cleanup.h"
#include "lib/error.h"
#include "lib/util.h"

struct kk_selector_clause {
  char *key;
  char *value; /* NULL for existence tests */
  bool negate;
};
struct kk_selector {
  struct kk_selector_clause *v;
  size_t n; /* 0: everything matches */
};

/* A clause that is not one of the five forms is KK_ERR_INVALID, naming it. */
int kk_selector_parse(const char *text, struct kk_selector *out, kk_err_t *err);
bool kk_selector_matches(const struct kk_selector *sel, const struct kk_map *labels);
void kk_selector_free(struct kk_selector *sel);
#define cleanup_selector KK_CLEANUP(kk_selector_free)

#endif

/* Label selectors: parsed once, matched against each resource's labels. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "cli/selector.h"

void kk_selector_free(struct kk_selector *sel) {
  for (size_t i = 0; i < sel->n; i++) {
    free(sel->v[i].key);
    free(sel->v[i].value);
  }
  free(sel->v);
  sel->v = NULL;
  sel->n = 0;
}

static bool valid_label_part(const char *s) {
  if (*s == '\0')
    return false;
  for (const char *p = s; *p; p++)
    if (!(isalnum((unsigned char)*p) || strchr("-_./", *p)))
      return false;
  return true;
}

/* One token: "k!=v", "k==v", "k=v", "!k" or "k". */
static struct kk_selector_clause clause_of(const char *tok) {
  struct kk_selector_clause c = {0};
  const char *op;
  if ((op = strstr(tok, "!=")) != NULL || (op = strstr(tok, "==")) != NULL) {
    c.negate = op[0] == '!';
    c.value = kk_xstrdup(op + 2);
  } else if ((op = strchr(tok, '=')) != NULL) {
    c.value = kk_xstrdup(op + 1);
  } else if (tok[0] == '!') {
    c.negate = true;
    tok++;
  }
  c.key = op ? kk_xstrndup(tok, (size_t)(op - tok)) : kk_xstrdup(tok);
  return c;
}

int kk_selector_parse(const char *text, struct kk_selector *out, kk_err_t *err) {
  *out = (struct kk_selector){0};
  cleanup_free char *copy = kk_xstrdup(text);
  char *save = NULL;
  for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    struct kk_selector_clause c = clause_of(tok);
    bool ok = valid_label_part(c.key) && (c.value == NULL || *c.value == '\0' || valid_label_part(c.value));
    out->v = kk_xrealloc(out->v, (out->n + 1) * sizeof(*out->v));
    out->v[out->n++] = c;
    if (!ok) {
      kk_error_kind(err, KK_ERR_INVALID, 0, "invalid selector clause \"%s\": expected k=v, k==v, k!=v, k or !k", tok);
      kk_selector_free(out);
      return -1;
    }
  }
  return 0;
}

bool kk_selector_matches(const struct kk_selector *sel, const struct kk_map *labels) {
  for (size_t i = 0; i < sel->n; i++) {
    const struct kk_selector_clause *c = &sel->v[i];
    const char *v = kk_map_get(labels, c->key);
    bool ok = c->value == NULL ? v != NULL : (v != NULL && strcmp(v, c->value) == 0);
    if (ok == c->negate)
      return false;
  }
  return true;
}

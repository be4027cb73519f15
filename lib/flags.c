#include "lib/flags.h"

#include <string.h>

#include "lib/util.h"

bool kk_flag_word_parse(const char *arg, struct kk_flag_word *w) {
  memset(w, 0, sizeof(*w));
  if (arg[0] != '-' || arg[1] == '\0' || strcmp(arg, "--") == 0)
    return false;
  if (arg[1] == '-') {
    size_t len = strcspn(arg + 2, "=");
    if (len >= sizeof(w->name))
      len = sizeof(w->name) - 1;
    memcpy(w->name, arg + 2, len);
    w->has_value = strchr(arg + 2, '=') != NULL;
  } else {
    w->shorthand = arg[1];
    w->has_value = arg[2] != '\0';
  }
  return true;
}

const struct kk_flag *kk_flag_find(const struct kk_flag *fs, size_t n, const struct kk_flag_word *w) {
  for (size_t i = 0; i < n; i++)
    if ((w->shorthand == 0 && strcmp(fs[i].name, w->name) == 0) ||
        (w->shorthand != 0 && fs[i].shorthand == w->shorthand))
      return &fs[i];
  return NULL;
}

void kk_flag_word_display(const struct kk_flag_word *w, char buf[72]) {
  if (w->shorthand)
    snprintf(buf, 72, "-%c", w->shorthand);
  else
    snprintf(buf, 72, "--%s", w->name);
}

/* Optimal string alignment distance: a swapped pair of letters is one edit. */
static size_t edit_distance(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  if (la > 64 || lb > 64)
    return (size_t)-1;
  size_t d[65][65];
  for (size_t i = 0; i <= la; i++)
    d[i][0] = i;
  for (size_t j = 0; j <= lb; j++)
    d[0][j] = j;
  for (size_t i = 1; i <= la; i++)
    for (size_t j = 1; j <= lb; j++) {
      size_t cost = a[i - 1] != b[j - 1];
      size_t best = d[i - 1][j - 1] + cost;
      if (d[i - 1][j] + 1 < best)
        best = d[i - 1][j] + 1;
      if (d[i][j - 1] + 1 < best)
        best = d[i][j - 1] + 1;
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < best)
        best = d[i - 2][j - 2] + 1;
      d[i][j] = best;
    }
  return d[la][lb];
}

const char *kk_closest(const char *word, const char *const *cands, size_t n) {
  size_t len = strlen(word), limit = len < 6 ? 1 : 2;
  const char *best = NULL, *prefixed = NULL;
  size_t best_d = limit + 1;
  for (size_t i = 0; i < n; i++) {
    if (cands[i] == NULL)
      continue;
    size_t d = edit_distance(word, cands[i]);
    if (d < best_d && d < len) {
      best = cands[i];
      best_d = d;
    }
    if (prefixed == NULL && len >= 2 && strncmp(cands[i], word, len) == 0)
      prefixed = cands[i];
  }
  return best ? best : prefixed;
}

static int set_flag(struct kk_flag *f, const char *value, kk_err_t *err) {
  switch (f->type) {
  case KK_FLAG_BOOL:
    if (value == NULL || !strcmp(value, "true") || !strcmp(value, "1"))
      *(bool *)f->value = true;
    else if (!strcmp(value, "false") || !strcmp(value, "0"))
      *(bool *)f->value = false;
    else
      return kk_error_kind(err, KK_ERR_INVALID, 0, "invalid argument \"%s\" for \"--%s\" flag: expected true or false",
                           value, f->name);
    break;
  case KK_FLAG_STRING:
    *(const char **)f->value = value;
    break;
  case KK_FLAG_STRINGS:
    kk_strv_push(f->value, value);
    break;
  }
  f->set = true;
  return 0;
}

static int unknown_flag(const struct kk_flag *a, size_t na, const struct kk_flag *b, size_t nb,
                        const struct kk_flag_word *w, kk_err_t *err) {
  char shown[72];
  kk_flag_word_display(w, shown);
  const char *names[128];
  size_t n = 0;
  for (size_t i = 0; i < na + nb && n < KK_ARRAY_SIZE(names); i++)
    names[n++] = i < na ? a[i].name : b[i - na].name;
  const char *near = w->shorthand ? NULL : kk_closest(w->name, names, n);
  if (near)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "unknown flag: %s (did you mean --%s?)", shown, near);
  return kk_error_kind(err, KK_ERR_INVALID, 0, "unknown flag: %s", shown);
}

/* "-it": short boolean flags together (docker's habit); false when arg is
 * not such a cluster (then "-ifoo" stays a flag with a value). */
static bool bool_cluster(struct kk_flag *flags, size_t n, struct kk_flag *glob, size_t ng, const char *arg) {
  if (arg[0] != '-' || arg[1] == '-' || strlen(arg) < 3 || strchr(arg, '='))
    return false;
  struct kk_flag *f[16];
  size_t k = 0;
  for (const char *c = arg + 1; *c; c++) {
    struct kk_flag_word w = {.shorthand = *c};
    struct kk_flag *x = (struct kk_flag *)kk_flag_find(flags, n, &w);
    if (x == NULL)
      x = (struct kk_flag *)kk_flag_find(glob, ng, &w);
    if (x == NULL || x->type != KK_FLAG_BOOL || k == KK_ARRAY_SIZE(f))
      return false;
    f[k++] = x;
  }
  for (size_t i = 0; i < k; i++) {
    *(bool *)f[i]->value = true;
    f[i]->set = true;
  }
  return true;
}

int kk_flags_parse(struct kk_flag *flags, size_t n, struct kk_flag *glob, size_t ng, int argc, char **argv,
                   struct kk_strv *pos, bool *help, kk_err_t *err) {
  bool only_pos = false;
  for (int i = 1; i < argc; i++) {
    char *a = argv[i];
    struct kk_flag_word w;
    if (only_pos || !kk_flag_word_parse(a, &w)) {
      if (!only_pos && strcmp(a, "--") == 0)
        only_pos = true;
      else
        kk_strv_push(pos, a);
      continue;
    }
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      *help = true;
      continue;
    }
    if (bool_cluster(flags, n, glob, ng, a))
      continue;
    struct kk_flag *f = (struct kk_flag *)kk_flag_find(flags, n, &w);
    if (f == NULL)
      f = (struct kk_flag *)kk_flag_find(glob, ng, &w);
    if (f == NULL)
      return unknown_flag(flags, n, glob, ng, &w, err);
    const char *value = NULL;
    if (w.has_value)
      value = w.shorthand ? (a[2] == '=' ? a + 3 : a + 2) : strchr(a, '=') + 1;
    if (f->type != KK_FLAG_BOOL && value == NULL) {
      char shown[72];
      kk_flag_word_display(&w, shown);
      if (i + 1 >= argc)
        return kk_error_kind(err, KK_ERR_INVALID, 0, "flag needs an argument: %s", shown);
      value = argv[++i];
    }
    if (set_flag(f, value, err) < 0)
      return -1;
  }
  return 0;
}

/* "-o, --output string" or "    --realm string". */
static void flag_left(const struct kk_flag *f, char *buf, size_t size) {
  const char *arg = f->type == KK_FLAG_BOOL ? "" : " string";
  if (f->shorthand)
    snprintf(buf, size, "-%c, --%s%s", f->shorthand, f->name, arg);
  else
    snprintf(buf, size, "    --%s%s", f->name, arg);
}

void kk_flags_print(FILE *o, const struct kk_flag *fs, size_t nf, bool with_help) {
  int width = 30;
  char left[96];
  for (size_t i = 0; i < nf; i++) {
    flag_left(&fs[i], left, sizeof(left));
    if ((int)strlen(left) > width)
      width = (int)strlen(left);
  }
  if (with_help)
    fprintf(o, "  %-*s  %s\n", width, "-h, --help", "help for this command");
  for (size_t i = 0; i < nf; i++) {
    flag_left(&fs[i], left, sizeof(left));
    fprintf(o, "  %-*s  %s\n", width, left, fs[i].usage);
  }
}

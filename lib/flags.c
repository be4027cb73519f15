#include "lib/flags.h"

#include <string.h>

#include "lib/util.h"

static struct kk_flag *find_flag(struct kk_flag *a, size_t na, struct kk_flag *b, size_t nb, const char *name,
                                 char shorthand) {
  for (size_t i = 0; i < na + nb; i++) {
    struct kk_flag *f = i < na ? &a[i] : &b[i - na];
    if ((name && strcmp(f->name, name) == 0) || (!name && shorthand && f->shorthand == shorthand))
      return f;
  }
  return NULL;
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

int kk_flags_parse(struct kk_flag *flags, size_t n, struct kk_flag *glob, size_t ng, int argc, char **argv,
                      struct kk_strv *pos, bool *help, kk_err_t *err) {
  bool only_pos = false;
  for (int i = 1; i < argc; i++) {
    char *a = argv[i];
    if (only_pos || a[0] != '-' || a[1] == '\0') {
      kk_strv_push(pos, a);
      continue;
    }
    if (strcmp(a, "--") == 0) {
      only_pos = true;
      continue;
    }
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      *help = true;
      continue;
    }
    struct kk_flag *f;
    const char *value = NULL;
    char display[128];
    if (a[1] == '-') {
      cleanup_free char *name = kk_xstrdup(a + 2);
      char *eq = strchr(name, '=');
      if (eq) {
        *eq = '\0';
        value = a + 2 + (eq - name) + 1;
      }
      f = find_flag(flags, n, glob, ng, name, 0);
      snprintf(display, sizeof(display), "--%s", name);
    } else {
      f = find_flag(flags, n, glob, ng, NULL, a[1]);
      if (a[2] != '\0')
        value = a[2] == '=' ? a + 3 : a + 2;
      snprintf(display, sizeof(display), "-%c", a[1]);
    }
    if (f == NULL)
      return kk_error_kind(err, KK_ERR_INVALID, 0, "unknown flag: %s", display);
    if (f->type != KK_FLAG_BOOL && value == NULL) {
      if (i + 1 >= argc)
        return kk_error_kind(err, KK_ERR_INVALID, 0, "flag needs an argument: %s", display);
      value = argv[++i];
    }
    if (set_flag(f, value, err) < 0)
      return -1;
  }
  return 0;
}


void kk_flags_print(FILE *o, const struct kk_flag *fs, size_t nf, bool with_help) {
  if (with_help)
    fprintf(o, "  %-30s  %s\n", "-h, --help", "help for this command");
  for (size_t i = 0; i < nf; i++) {
    char left[64];
    const char *arg = fs[i].type == KK_FLAG_BOOL ? "" : " string";
    if (fs[i].shorthand)
      snprintf(left, sizeof(left), "-%c, --%s%s", fs[i].shorthand, fs[i].name, arg);
    else
      snprintf(left, sizeof(left), "    --%s%s", fs[i].name, arg);
    fprintf(o, "  %-30s  %s\n", left, fs[i].usage);
  }
}

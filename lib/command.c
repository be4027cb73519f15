#include "lib/command.h"

#include <stdlib.h>
#include <string.h>

#include "lib/cleanup.h"

union slot {
  bool b;
  const char *s;
  struct kk_strv v;
};

/* ------------------------------------------------------------- lookups */

const struct kk_cmd *kk_cmd_find_sub(const struct kk_cmd *node, const char *word) {
  for (size_t i = 0; i < node->n_subs; i++) {
    const struct kk_cmd *s = node->subs[i];
    if (strcmp(s->name, word) == 0 || (s->matches && s->matches(s, word)))
      return s;
    for (size_t a = 0; a < KK_ARRAY_SIZE(s->aliases) && s->aliases[a]; a++)
      if (strcmp(s->aliases[a], word) == 0)
        return s;
  }
  return NULL;
}

/* What a flag word means under c and all its subcommands: 1 takes a value,
 * 0 a bool, -1 unknown, -2 both (ambiguous before the command is known). */
static void classify(const struct kk_cmd *c, const struct kk_flag_word *w, int *res) {
  const struct kk_flag *f = kk_flag_find(c->flags, c->n_flags, w);
  if (f) {
    int v = f->type != KK_FLAG_BOOL;
    *res = *res == -1 ? v : *res == v ? v : -2;
  }
  for (size_t i = 0; i < c->n_subs; i++)
    classify(c->subs[i], w, res);
}

static void flag_names(const struct kk_cmd *c, struct kk_strv *out) {
  for (size_t i = 0; i < c->n_flags; i++)
    kk_strv_push(out, c->flags[i].name);
  for (size_t i = 0; i < c->n_subs; i++)
    flag_names(c->subs[i], out);
}

void kk_cmdline_path(const struct kk_cmdline *cl, char *buf, size_t size) {
  size_t used = 0;
  buf[0] = '\0';
  for (size_t i = 0; i < cl->depth && used < size; i++)
    used += (size_t)snprintf(buf + used, size - used, "%s%s", i ? " " : "", cl->path[i]->name);
}

const struct kk_cmd *kk_cmdline_leaf(const struct kk_cmdline *cl) { return cl->path[cl->depth - 1]; }

static const char *noun(const struct kk_cmd *c) { return c->sub_noun ? c->sub_noun : "command"; }

/* "load, pull, list" */
static char *sub_list(const struct kk_cmd *c) {
  struct kk_strv names = {0};
  for (size_t i = 0; i < c->n_subs; i++)
    kk_strv_push(&names, c->subs[i]->name);
  char *s = kk_strv_join(&names, ", ");
  kk_strv_free(&names);
  return s;
}

/* ------------------------------------------------------------- resolve */

static int flag_before_command(const struct kk_cmdline *cl, const struct kk_cmd *node, const char *arg,
                               int *takes_value, kk_err_t *err) {
  struct kk_flag_word w;
  kk_flag_word_parse(arg, &w);
  int res = -1;
  const struct kk_flag *g = kk_flag_find(cl->prog->globals, cl->prog->n_globals, &w);
  if (g)
    res = g->type != KK_FLAG_BOOL;
  else
    classify(node, &w, &res);
  char shown[72], path[128];
  kk_flag_word_display(&w, shown);
  kk_cmdline_path(cl, path, sizeof(path));
  if (res == -2)
    return kk_error_kind(err, KK_ERR_INVALID, 0,
                         "flag %s means different things to different commands of \"%s\": put it after the command",
                         shown, path);
  if (res == -1) {
    struct kk_strv names = {0};
    for (size_t i = 0; i < cl->prog->n_globals; i++)
      kk_strv_push(&names, cl->prog->globals[i].name);
    flag_names(node, &names);
    const char *near = w.shorthand ? NULL : kk_closest(w.name, (const char *const *)names.v, names.n);
    int r = near ? kk_error_kind(err, KK_ERR_INVALID, 0, "unknown flag: %s (did you mean --%s?)", shown, near)
                 : kk_error_kind(err, KK_ERR_INVALID, 0, "unknown flag: %s", shown);
    kk_strv_free(&names);
    return r;
  }
  *takes_value = res == 1 && !w.has_value;
  return 0;
}

static int unknown_sub(const struct kk_cmdline *cl, const struct kk_cmd *node, const char *word, kk_err_t *err) {
  struct kk_strv cands = {0};
  for (size_t i = 0; i < node->n_subs; i++) {
    kk_strv_push(&cands, node->subs[i]->name);
    for (size_t a = 0; a < KK_ARRAY_SIZE(node->subs[i]->aliases) && node->subs[i]->aliases[a]; a++)
      kk_strv_push(&cands, node->subs[i]->aliases[a]);
  }
  const char *near = kk_closest(word, (const char *const *)cands.v, cands.n);
  char path[128];
  kk_cmdline_path(cl, path, sizeof(path));
  /* A word that is no kind at all is most likely a NAME typed without one. */
  cleanup_free char *hint = near               ? kk_asprintf(" (did you mean \"%s\"?)", near)
                            : node->sub_noun ? kk_asprintf(" (a name follows its kind: \"%s <kind> %s\")", path, word)
                                             : kk_xstrdup("");
  cleanup_free char *list = sub_list(node);
  /* The root's list is long and its help shows it. */
  cleanup_free char *one_of = node->n_subs <= 8 ? kk_asprintf("; one of: %s", list) : kk_xstrdup("");
  kk_strv_free(&cands);
  return kk_error_kind(err, KK_ERR_INVALID, 0, "unknown %s \"%s\" for \"%s\"%s%s", noun(node), word, path, hint,
                       one_of);
}

/* Finds the command words (marked in used[]) and fills cl->path. */
static int find_path(struct kk_cmdline *cl, int argc, char **argv, bool *used, kk_err_t *err) {
  for (int i = 1; i < argc; i++) {
    const struct kk_cmd *node = cl->path[cl->depth - 1];
    const char *a = argv[i];
    /* A command without subcommands: the flag parser reads the rest. */
    if (node->n_subs == 0 || strcmp(a, "--") == 0)
      return 0;
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
      continue;
    struct kk_flag_word w;
    if (kk_flag_word_parse(a, &w)) {
      int skip = 0;
      if (flag_before_command(cl, node, a, &skip, err) < 0)
        return -1;
      i += skip;
      continue;
    }
    if (cl->depth == 1 && !cl->help && strcmp(a, "help") == 0 && kk_cmd_find_sub(node, a) == NULL) {
      cl->help = used[i] = true;
      continue;
    }
    const struct kk_cmd *sub = kk_cmd_find_sub(node, a);
    if (sub == NULL)
      return unknown_sub(cl, node, a, err);
    if (cl->depth == KK_CMD_MAX_DEPTH)
      return kk_error_kind(err, KK_ERR_INTERNAL, 0, "command tree deeper than %d", KK_CMD_MAX_DEPTH);
    cl->path[cl->depth++] = sub;
    used[i] = true;
  }
  return 0;
}

/* The leaf's flags then the globals, each bound to a slot of cl->values. */
static void bind_flags(struct kk_cmdline *cl) {
  const struct kk_cmd *leaf = kk_cmdline_leaf(cl);
  size_t nl = leaf->n_flags, ng = cl->prog->n_globals;
  cl->n_flags = nl + ng;
  cl->flags = kk_xzalloc((cl->n_flags + 1) * sizeof(*cl->flags));
  union slot *slots = kk_xzalloc((cl->n_flags + 1) * sizeof(*slots));
  cl->values = slots;
  for (size_t i = 0; i < cl->n_flags; i++) {
    cl->flags[i] = i < nl ? leaf->flags[i] : cl->prog->globals[i - nl];
    cl->flags[i].set = false;
    cl->flags[i].value = cl->flags[i].type == KK_FLAG_BOOL     ? (void *)&slots[i].b
                         : cl->flags[i].type == KK_FLAG_STRING ? (void *)&slots[i].s
                                                               : (void *)&slots[i].v;
  }
}

int kk_cmd_resolve(const struct kk_cmd_prog *p, int argc, char **argv, struct kk_cmdline *cl, kk_err_t *err) {
  memset(cl, 0, sizeof(*cl));
  cl->prog = p;
  cl->path[0] = p->root;
  cl->depth = 1;
  bool *used = kk_xzalloc((size_t)(argc + 1) * sizeof(bool));
  int r = find_path(cl, argc, argv, used, err);
  if (r == 0) {
    bind_flags(cl);
    char **rest = kk_xzalloc((size_t)(argc + 1) * sizeof(char *));
    int n = 0;
    rest[n++] = (char *)p->root->name;
    for (int i = 1; i < argc; i++)
      if (!used[i])
        rest[n++] = argv[i];
    const struct kk_cmd *leaf = kk_cmdline_leaf(cl);
    bool help = false;
    r = kk_flags_parse(cl->flags, leaf->n_flags, cl->flags + leaf->n_flags, p->n_globals, n, rest, &cl->args,
                       &help, err);
    cl->help |= help;
    free(rest);
  }
  free(used);
  if (r == 0 && cl->depth == 1)
    for (size_t i = 0; i < cl->n_flags; i++)
      cl->version |= strcmp(cl->flags[i].name, "version") == 0 && cl->flags[i].set;
  return r;
}

void kk_cmdline_free(struct kk_cmdline *cl) {
  union slot *slots = cl->values;
  for (size_t i = 0; i < cl->n_flags && slots; i++)
    if (cl->flags[i].type == KK_FLAG_STRINGS)
      kk_strv_free(&slots[i].v);
  free(cl->values);
  free(cl->flags);
  kk_strv_free(&cl->args);
  memset(cl, 0, sizeof(*cl));
}

/* ----------------------------------------------------------- accessors */

static const struct kk_flag *bound(const struct kk_cmdline *cl, const char *name, enum kk_flag_type type) {
  for (size_t i = 0; i < cl->n_flags; i++)
    if (strcmp(cl->flags[i].name, name) == 0 && cl->flags[i].type == type)
      return &cl->flags[i];
  fprintf(stderr, "kukeon: bug: command \"%s\" has no flag --%s of that type\n", kk_cmdline_leaf(cl)->name, name);
  abort();
}

const char *kk_cmdline_str(const struct kk_cmdline *cl, const char *name) {
  return *(const char **)bound(cl, name, KK_FLAG_STRING)->value;
}

bool kk_cmdline_bool(const struct kk_cmdline *cl, const char *name) {
  return *(bool *)bound(cl, name, KK_FLAG_BOOL)->value;
}

const struct kk_strv *kk_cmdline_strv(const struct kk_cmdline *cl, const char *name) {
  return bound(cl, name, KK_FLAG_STRINGS)->value;
}

bool kk_cmdline_isset(const struct kk_cmdline *cl, const char *name) {
  for (size_t i = 0; i < cl->n_flags; i++)
    if (strcmp(cl->flags[i].name, name) == 0)
      return cl->flags[i].set;
  fprintf(stderr, "kukeon: bug: command \"%s\" has no flag --%s\n", kk_cmdline_leaf(cl)->name, name);
  abort();
}

/* ---------------------------------------------------------------- help */

static void print_usage(FILE *o, const struct kk_cmdline *cl) {
  const struct kk_cmd *leaf = kk_cmdline_leaf(cl);
  char path[128];
  kk_cmdline_path(cl, path, sizeof(path));
  if (leaf->usage) {
    fprintf(o, "Usage:\n  %s %s\n", cl->prog->root->name, leaf->usage);
    return;
  }
  fprintf(o, "Usage:\n  %s", path);
  if (leaf->n_subs)
    fprintf(o, " <%s>", noun(leaf));
  if (leaf->args)
    fprintf(o, " %s", leaf->args);
  fprintf(o, " [flags]\n");
}

static void print_subs(FILE *o, const struct kk_cmdline *cl) {
  const struct kk_cmd *leaf = kk_cmdline_leaf(cl);
  if (leaf->n_subs == 0)
    return;
  fprintf(o, "\n%s:\n", leaf->sub_noun ? "Resource Kinds" : "Available Commands");
  for (size_t i = 0; i < leaf->n_subs; i++) {
    const struct kk_cmd *s = leaf->subs[i];
    fprintf(o, "  %-10s %s", s->name, s->summary);
    for (size_t a = 0; a < KK_ARRAY_SIZE(s->aliases) && s->aliases[a]; a++)
      fprintf(o, "%s%s", a ? ", " : " (aliases: ", s->aliases[a]);
    fprintf(o, "%s\n", s->aliases[0] ? ")" : "");
  }
  if (cl->depth == 1)
    fprintf(o, "  %-10s %s\n", "help", "Help about any command: help [COMMAND [SUB]]");
}

void kk_cmd_print_help(FILE *o, const struct kk_cmdline *cl) {
  const struct kk_cmd *leaf = kk_cmdline_leaf(cl);
  fprintf(o, "%s\n\n", leaf->summary);
  if (leaf->details)
    fprintf(o, "%s\n\n", leaf->details);
  print_usage(o, cl);
  print_subs(o, cl);
  fprintf(o, "\nFlags:\n");
  kk_flags_print(o, leaf->flags, leaf->n_flags, true);
  if (cl->prog->n_globals) {
    fprintf(o, "\nGlobal Flags:\n");
    kk_flags_print(o, cl->prog->globals, cl->prog->n_globals, false);
  }
  char path[128];
  kk_cmdline_path(cl, path, sizeof(path));
  if (leaf->n_subs)
    fprintf(o, "\nUse \"%s <%s> --help\" for more information about a %s.\n", path, noun(leaf), noun(leaf));
}

/* ------------------------------------------------------------ dispatch */

static int check_args(const struct kk_cmdline *cl, kk_err_t *err) {
  const struct kk_cmd *leaf = kk_cmdline_leaf(cl);
  char path[128];
  kk_cmdline_path(cl, path, sizeof(path));
  if (leaf->run == NULL) {
    cleanup_free char *list = sub_list(leaf);
    if (cl->depth == 1)
      return kk_error_kind(err, KK_ERR_INVALID, 0, "%s needs a command (see \"%s --help\")", path, path);
    return kk_error_kind(err, KK_ERR_INVALID, 0, "\"%s\" needs a %s: %s (see \"%s --help\")", path, noun(leaf),
                         list, path);
  }
  const char *args = leaf->args ? leaf->args : "no arguments";
  if (cl->args.n < leaf->min_args)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "missing argument for \"%s\": it takes %s", path, args);
  if (cl->args.n > leaf->max_args)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "unexpected argument \"%s\" for \"%s\": it takes %s",
                         cl->args.v[leaf->max_args], path, args);
  return 0;
}

static int dispatch_resolved(const struct kk_cmdline *cl, int argc, FILE *out, void *ctx, int *status,
                             kk_err_t *err) {
  if (cl->help || argc <= 1) {
    kk_cmd_print_help(out, cl);
    return 0;
  }
  if (cl->version) {
    fprintf(out, "%s version %s\n", cl->prog->root->name, cl->prog->version);
    return 0;
  }
  if (check_args(cl, err) < 0)
    return -1;
  if (cl->prog->prepare && cl->prog->prepare(ctx, cl, err) < 0)
    return -1;
  return kk_cmdline_leaf(cl)->run(ctx, cl, status, err);
}

int kk_cmd_dispatch(const struct kk_cmd_prog *p, int argc, char **argv, FILE *out, void *ctx, int *status,
                    kk_err_t *err) {
  *status = 0;
  struct kk_cmdline cl;
  int r = kk_cmd_resolve(p, argc, argv, &cl, err);
  if (r == 0)
    r = dispatch_resolved(&cl, argc, out, ctx, status, err);
  kk_cmdline_free(&cl);
  return r;
}

int kk_cmd_main(const struct kk_cmd_prog *p, int argc, char **argv, FILE *out, FILE *errout, void *ctx) {
  int status = 0;
  kk_err_t err = NULL;
  if (kk_cmd_dispatch(p, argc, argv, out, ctx, &status, &err) < 0) {
    fflush(out);
    fprintf(errout, "Error: %s\n", err ? err->msg : "unknown error");
    kk_error_free(&err);
    status = 1;
  }
  return status;
}

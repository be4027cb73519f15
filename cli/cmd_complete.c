/* kuke autocomplete bash|zsh|fish: a completion script for the shell.
 * Every script is a thin shim around one engine, `kuke autocomplete
 * --words -- WORD...` (the words after "kuke", the last one the word being
 * completed): it walks the command tree the dispatcher uses, so commands,
 * kinds and flags never drift from what kuke accepts, and asks kukeond for
 * realm/space/stack/cell names scoped by the flags already typed.  A daemon
 * that is down or slow gives no names and no message: a completion must
 * never print into the user's command line.  Status 2 (nothing printed)
 * asks the shell for file names (-f, --configuration, ...). */
#include <string.h>

#include "api/api.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "lib/cleanup.h"

#define DAEMON_REPLY_MS 1000 /* a Tab that hangs longer than this is worse than no names */
#define SSH_REPLY_MS 3000    /* through ssh: its handshake first */
#define STATUS_FILES 2

/* What the typed words say so far. */
struct typed {
  const struct kk_cmd *node;    /* deepest command word */
  const struct kk_cmd *parent;  /* the one before it */
  const struct kk_flag *pending; /* a flag whose value is the word being completed */
  size_t n_pos;                 /* positionals after the command words */
  bool cell_word;               /* "start cell NAME": the optional kind word was typed */
  const char *realm, *space, *stack, *cell, *host;
};

/* The flag a word names under node and its subcommands (a flag may stand
 * before its command), or among the globals. */
static const struct kk_flag *flag_under(const struct kk_cmd *node, const struct kk_flag_word *w) {
  const struct kk_flag *f = kk_flag_find(node->flags, node->n_flags, w);
  for (size_t i = 0; f == NULL && i < node->n_subs; i++)
    f = flag_under(node->subs[i], w);
  return f;
}

static const struct kk_flag *flag_of(const struct kk_cmdline *cl, const struct kk_cmd *node,
                                     const struct kk_flag_word *w) {
  const struct kk_flag *f = kk_flag_find(cl->prog->globals, cl->prog->n_globals, w);
  return f ? f : flag_under(node, w);
}

static void remember(struct typed *t, const char *flag, const char *value) {
  const char **slot = strcmp(flag, "realm") == 0   ? &t->realm
                      : strcmp(flag, "space") == 0 ? &t->space
                      : strcmp(flag, "stack") == 0 ? &t->stack
                      : strcmp(flag, "cell") == 0  ? &t->cell
                      : strcmp(flag, "host") == 0  ? &t->host
                                                   : NULL;
  if (slot)
    *slot = value;
}

/* "start [cell] NAME": the kind word may stand before the name. */
static bool takes_cell_word(const struct kk_cmd *c) { return c->args && strstr(c->args, "[cell]"); }

static void walk(const struct kk_cmdline *cl, char *const *words, size_t n, struct typed *t) {
  bool only_pos = false;
  for (size_t i = 0; i < n; i++) {
    const char *w = words[i];
    struct kk_flag_word fw;
    if (t->pending) {
      remember(t, t->pending->name, w);
      t->pending = NULL;
    } else if (!only_pos && strcmp(w, "--") == 0) {
      only_pos = true;
    } else if (!only_pos && kk_flag_word_parse(w, &fw)) {
      const struct kk_flag *f = flag_of(cl, t->node, &fw);
      if (f && f->type != KK_FLAG_BOOL && fw.has_value)
        remember(t, f->name, strchr(w, '=') + 1);
      else if (f && f->type != KK_FLAG_BOOL)
        t->pending = f;
    } else if (!only_pos && t->n_pos == 0 && kk_cmd_find_sub(t->node, w)) {
      t->parent = t->node;
      t->node = kk_cmd_find_sub(t->node, w);
    } else if (t->n_pos == 0 && !t->cell_word && strcmp(w, "cell") == 0 && takes_cell_word(t->node)) {
      t->cell_word = true;
    } else {
      t->n_pos++;
    }
  }
}

/* Where candidates go: those that start with cur, each after lead (the
 * "--realm=" of a word "--realm=bl"). */
struct sink {
  FILE *out;
  const char *lead;
  const char *cur;
};

static void offer(const struct sink *k, const char *cand) {
  if (strncmp(cand, k->cur, strlen(k->cur)) == 0)
    fprintf(k->out, "%s%s\n", k->lead, cand);
}

static const char *or_default(const char *s) { return kk_empty(s) ? "default" : s; }

/* Names of kind from the daemon, scoped as the command would resolve them
 * ("default" for a parent not typed).  Nothing at all on any error. */
static void offer_names(struct kk_cli *cli, const struct typed *t, enum kk_kind kind, const struct sink *k) {
  if (t->host)
    cli->host = t->host;
  cleanup_error kk_err_t e = NULL;
  cleanup_api struct kk_api *api = NULL;
  if (kk_cli_connect_daemon(cli, &api, &e) < 0)
    return;
  /* ssh's handshake comes before the first reply */
  kk_api_set_reply_deadline(api, kk_has_prefix(cli->host, "ssh://") ? SSH_REPLY_MS : DAEMON_REPLY_MS);
  struct kk_ref scope = {.kind = kind};
  if (kind >= KK_KIND_SPACE)
    scope.realm = or_default(t->realm);
  if (kind >= KK_KIND_STACK)
    scope.space = or_default(t->space);
  if (kind >= KK_KIND_CELL)
    scope.stack = or_default(t->stack);
  if (kind == KK_KIND_CONTAINER) {
    if (kk_empty(t->cell))
      return;
    scope.cell = t->cell;
  }
  cleanup_doc_list struct kk_doc_list list = {0};
  struct kk_strv warnings = {0};
  int r = kk_api_list(api, kind, &scope, &list, &warnings, &e);
  kk_strv_free(&warnings);
  for (size_t i = 0; r == 0 && i < list.n; i++)
    offer(k, kk_doc_name(list.docs[i]));
}

/* Flags whose value is a path: the shell's own file completion. */
static bool wants_file(const struct kk_flag *f) {
  static const char *const paths[] = {"file", "input", "configuration", "server-configuration", "from-file", "run-path",
                                      "root"};
  for (size_t i = 0; i < KK_ARRAY_SIZE(paths); i++)
    if (strcmp(f->name, paths[i]) == 0)
      return true;
  return false;
}

/* < 0: no names for this flag. */
static int kind_of_flag(const char *name, enum kk_kind *kind) {
  return kk_kind_parse(name, kind) == 0 && *kind != KK_KIND_CONTAINER ? 0 : -1;
}

static int complete_flag_value(struct kk_cli *cli, const struct typed *t, const struct sink *k) {
  static const char *const outputs[] = {"table", "wide", "yaml", "json", "name"};
  enum kk_kind kind;
  if (wants_file(t->pending))
    return STATUS_FILES;
  if (strcmp(t->pending->name, "output") == 0)
    for (size_t i = 0; i < KK_ARRAY_SIZE(outputs); i++)
      offer(k, outputs[i]);
  else if (kind_of_flag(t->pending->name, &kind) == 0)
    offer_names(cli, t, kind, k);
  return 0;
}

static void offer_flags(const struct sink *k, const struct kk_cmdline *cl, const struct kk_cmd *node) {
  char buf[80];
  for (size_t i = 0; i < node->n_flags; i++) {
    snprintf(buf, sizeof(buf), "--%s", node->flags[i].name);
    offer(k, buf);
  }
  for (size_t i = 0; i < cl->prog->n_globals; i++) {
    snprintf(buf, sizeof(buf), "--%s", cl->prog->globals[i].name);
    offer(k, buf);
  }
  offer(k, "--help");
}

/* The kind of the NAME a command takes, or -1: kind words (get cell,
 * delete stack) and the cell verbs (start, log, run ...).  create names
 * what does not exist yet: nothing to offer. */
static int positional_kind(const struct typed *t, enum kk_kind *kind) {
  const struct kk_cmd *n = t->node;
  if (n->run == NULL || t->n_pos >= n->max_args || (t->cell_word && t->n_pos > 0))
    return -1;
  if (n->matches == kk_cli_kind_word) {
    *kind = kk_cli_kind_of(n);
    return t->parent == &kk_cli_cmd_create ? -1 : 0;
  }
  if (t->n_pos == 0 && (takes_cell_word(n) || (n->args && strstr(n->args, "CELL")))) {
    *kind = KK_KIND_CELL;
    return 0;
  }
  return -1;
}

/* "--realm=bl": the flag's values, each written whole ("--realm=blue"). */
static const struct kk_flag *flag_with_value(const struct kk_cmdline *cl, const struct typed *t, const char *cur,
                                             char **lead) {
  struct kk_flag_word fw;
  const char *eq = strchr(cur, '=');
  if (eq == NULL || !kk_flag_word_parse(cur, &fw))
    return NULL;
  const struct kk_flag *f = flag_of(cl, t->node, &fw);
  if (f == NULL || f->type == KK_FLAG_BOOL)
    return NULL;
  *lead = kk_asprintf("%.*s", (int)(eq + 1 - cur), cur);
  return f;
}

static int complete(struct kk_cli *cli, const struct kk_cmdline *cl, const struct kk_strv *words) {
  struct typed t = {.node = cl->prog->root};
  struct sink k = {.out = cli->out, .lead = "", .cur = words->v[words->n - 1]};
  walk(cl, words->v, words->n - 1, &t);
  cleanup_free char *lead = NULL;
  if (t.pending == NULL && (t.pending = flag_with_value(cl, &t, k.cur, &lead)) != NULL)
    k = (struct sink){.out = cli->out, .lead = lead, .cur = k.cur + strlen(lead)};
  if (t.pending)
    return complete_flag_value(cli, &t, &k);
  if (k.cur[0] == '-') {
    offer_flags(&k, cl, t.node);
    return 0;
  }
  for (size_t i = 0; t.n_pos == 0 && i < t.node->n_subs; i++)
    offer(&k, t.node->subs[i]->name);
  enum kk_kind kind;
  if (positional_kind(&t, &kind) == 0)
    offer_names(cli, &t, kind, &k);
  return 0;
}

/* ---------------------------------------------------------------- scripts */

/* bash splits COMP_WORDS at "=" and ":" too (COMP_WORDBREAKS), so the
 * words are the line's, split at blanks; a candidate replaces only bash's
 * current word, so what precedes it in the line's word is cut off. */
static const char bash_script[] =
    "# bash completion for kuke (kuke autocomplete bash)\n"
    "_kuke() {\n"
    "  local line=${COMP_LINE:0:COMP_POINT} word=${COMP_WORDS[COMP_CWORD]} out rc\n"
    "  local -a words\n"
    "  read -ra words <<<\"$line\"\n"
    "  [[ -z $line || $line == *[[:space:]] ]] && words+=(\"\")\n"
    "  out=$(kuke autocomplete --words -- \"${words[@]:1}\" 2>/dev/null)\n"
    "  rc=$?\n"
    "  if [ \"$rc\" = 2 ]; then\n"
    "    local IFS=$'\\n'\n"
    "    COMPREPLY=($(compgen -f -- \"$word\"))\n"
    "  elif [ \"$rc\" = 0 ]; then\n"
    "    local IFS=$'\\n' lead=${words[${#words[@]}-1]}\n"
    "    lead=${lead%\"$word\"}\n"
    "    COMPREPLY=($out)\n"
    "    [ -z \"$lead\" ] || COMPREPLY=(\"${COMPREPLY[@]#\"$lead\"}\")\n"
    "  fi\n"
    "}\n"
    "complete -o filenames -F _kuke kuke\n";

static const char zsh_script[] =
    "#compdef kuke\n"
    "# zsh completion for kuke (kuke autocomplete zsh)\n"
    "_kuke() {\n"
    "  local out rc\n"
    "  out=$(kuke autocomplete --words -- \"${(@)words[2,CURRENT]}\" 2>/dev/null)\n"
    "  rc=$?\n"
    "  if [[ $rc -eq 2 ]]; then\n"
    "    _files\n"
    "  elif [[ $rc -eq 0 && -n $out ]]; then\n"
    "    local -a cands\n"
    "    cands=(\"${(@f)out}\")\n"
    "    compadd -- \"${cands[@]}\"\n"
    "  fi\n"
    "}\n"
    "if [[ $funcstack[1] = _kuke ]]; then\n"
    "  _kuke \"$@\"\n"
    "else\n"
    "  compdef _kuke kuke\n"
    "fi\n";

static const char fish_script[] =
    "# fish completion for kuke (kuke autocomplete fish)\n"
    "function __kuke_words\n"
    "    set -l typed (commandline -opc)\n"
    "    set -l cur (commandline -ct)\n"
    "    kuke autocomplete --words -- $typed[2..-1] \"$cur\" 2>/dev/null\n"
    "end\n"
    "function __kuke_wants_files\n"
    "    __kuke_words >/dev/null\n"
    "    test $status -eq 2\n"
    "end\n"
    "complete -c kuke -f -a '(__kuke_words)'\n"
    "complete -c kuke -F -n __kuke_wants_files\n";

static int autocomplete_run(void *ctx, const struct kk_cmdline *cl, int *status, kk_err_t *err) {
  struct kk_cli *cli = KK_CLI(ctx);
  if (kk_cmdline_bool(cl, "words")) {
    if (cl->args.n == 0)
      return kk_error_kind(err, KK_ERR_INVALID, 0, "--words needs the words typed so far, the last one possibly \"\"");
    *status = complete(cli, cl, &cl->args);
    return 0;
  }
  const char *shell = cl->args.n == 1 ? cl->args.v[0] : "";
  const char *script = strcmp(shell, "bash") == 0   ? bash_script
                       : strcmp(shell, "zsh") == 0  ? zsh_script
                       : strcmp(shell, "fish") == 0 ? fish_script
                                                    : NULL;
  if (script == NULL)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "autocomplete takes one shell: bash, zsh or fish");
  fputs(script, cli->out);
  return 0;
}

static const struct kk_flag autocomplete_flags[] = {
    {"words", 0, KK_FLAG_BOOL, NULL, "print the candidates for the last of the words after -- (what the scripts run)",
     false},
};

const struct kk_cmd kk_cli_cmd_autocomplete = {
    .name = "autocomplete",
    .aliases = {"completion"},
    .flags = autocomplete_flags,
    .n_flags = KK_ARRAY_SIZE(autocomplete_flags),
    .args = "bash|zsh|fish",
    .min_args = 1,
    .max_args = KK_CMD_ANY,
    .summary = "Print a shell completion script (bash, zsh or fish)",
    .details = "Load it with `source <(kuke autocomplete bash)`, or install it where the shell looks (the Debian "
               "package does). Commands, kinds and flags come from kuke itself; realm, space, stack and cell names "
               "come from kukeond, scoped by the --realm/--space/--stack already typed, and nothing is offered when "
               "the daemon does not answer within a second.",
    .run = autocomplete_run,
};

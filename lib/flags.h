/* Command-line flags the way cobra users expect them: --name value,
 * --name=value, -x value, -xvalue, bool flags bare or =true|false, "--"
 * ends flags, flags anywhere among the positionals. */
#ifndef KK_LIB_FLAGS_H
#define KK_LIB_FLAGS_H

#include <stdbool.h>
#include <stdio.h>

#include "lib/error.h"
#include "lib/util.h"

enum kk_flag_type { KK_FLAG_BOOL, KK_FLAG_STRING, KK_FLAG_STRINGS };

struct kk_flag {
  const char *name;
  char shorthand;
  enum kk_flag_type type;
  void *value; /* bool *, const char **, struct kk_strv * */
  const char *usage;
  bool set;    /* filled by the parser */
};

/* Parse argv[1..] against two flag sets (a command's own and the global
 * ones); positionals go to *pos; -h/--help sets *help.  An unknown flag's
 * error suggests the closest known one. */
int kk_flags_parse(struct kk_flag *flags, size_t n, struct kk_flag *glob, size_t ng, int argc, char **argv,
                   struct kk_strv *pos, bool *help, kk_err_t *err);
void kk_flags_print(FILE *o, const struct kk_flag *fs, size_t nf, bool with_help);

/* One argv word read as a flag: its name ("realm") or shorthand ('o'), and
 * whether the value is attached (--realm=x, -ox).  false: not a flag (a
 * positional, "-" or "--"). */
struct kk_flag_word {
  char name[64];
  char shorthand;
  bool has_value;
};
bool kk_flag_word_parse(const char *arg, struct kk_flag_word *w);
/* The flag of fs[0..n) the word names, or NULL. */
const struct kk_flag *kk_flag_find(const struct kk_flag *fs, size_t n, const struct kk_flag_word *w);
/* "--realm" or "-o", for messages. */
void kk_flag_word_display(const struct kk_flag_word *w, char buf[72]);

/* The candidate closest to word by edit distance, when close enough to be
 * a likely typo (or when word is a prefix of it); NULL otherwise. */
const char *kk_closest(const char *word, const char *const *cands, size_t n);

#endif

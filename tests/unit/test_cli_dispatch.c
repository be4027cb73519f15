/* kuke's command tree and its dispatcher: no root, no daemon.  argv is
 * resolved without running anything (kk_cmd_resolve), and help, version
 * and every error before a command's body run through kk_cli_run. */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/cli.h"
#include "lib/command.h"
#include "tests/unit/unit.h"

#define MAX_ARGV 24

/* argv from a space-separated line ("" words not supported). */
struct argv_buf {
  char line[512];
  char *v[MAX_ARGV + 1];
  int n;
};

static void split(struct argv_buf *a, const char *line) {
  snprintf(a->line, sizeof(a->line), "kuke %s", line);
  a->n = 0;
  char *save = NULL;
  for (char *t = strtok_r(a->line, " ", &save); t && a->n < MAX_ARGV; t = strtok_r(NULL, " ", &save))
    a->v[a->n++] = t;
  a->v[a->n] = NULL;
}

/* cl points into argv, as kuke's points into main's: the words must
 * outlive it, until the next resolve. */
static int resolve(const char *line, struct kk_cmdline *cl, kk_err_t *err) {
  static struct argv_buf a;
  split(&a, line);
  return kk_cmd_resolve(&kk_cli_prog, a.n, a.v, cl, err);
}

/* kuke LINE in-process: exit status, stdout and stderr. */
struct run_result {
  int status;
  char *out, *err;
};

static void run_kuke(const char *line, struct run_result *r) {
  struct argv_buf a;
  split(&a, line);
  size_t lo = 0, le = 0;
  FILE *out = open_memstream(&r->out, &lo), *errout = open_memstream(&r->err, &le);
  r->status = kk_cli_run(a.n, a.v, out, errout);
  fclose(out);
  fclose(errout);
}

static void run_free(struct run_result *r) {
  free(r->out);
  free(r->err);
}

static char home[64];

static void setup(void) {
  /* kuke reads $HOME/.kuke/kuke.yaml: an empty directory, never the tester's. */
  snprintf(home, sizeof(home), "/tmp/kk-cli-dispatch-XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(home));
  setenv("HOME", home, 1);
  unsetenv("KUKEON_RUN_PATH");
  unsetenv("KUKE_CONFIGURATION");
  unsetenv("KUKE_GET_OUTPUT");
}

static void teardown(void) { rmdir(home); }

/* --------------------------------------------------------- every path */

/* Each runnable path of the tree, as words, and its node. */
struct target {
  char words[96];
  const struct kk_cmd *node;
};

static size_t collect(const struct kk_cmd *c, const char *prefix, struct target *out, size_t n, size_t cap) {
  for (size_t i = 0; i < c->n_subs && n < cap; i++) {
    const struct kk_cmd *s = c->subs[i];
    char words[96];
    snprintf(words, sizeof(words), "%s%s%s", prefix, *prefix ? " " : "", s->name);
    if (s->run) {
      snprintf(out[n].words, sizeof(out[n].words), "%s", words);
      out[n++].node = s;
    }
    n = collect(s, words, out, n, cap);
  }
  return n;
}

/* Global flags before, between and after the words, their values the
 * names of other commands: the dispatcher must skip them as values. */
START_TEST(every_command_with_globals) {
  struct target t[64];
  size_t n = collect(kk_cli_prog.root, "", t, 0, 64);
  ck_assert_uint_ge(n, 20);
  for (size_t i = 0; i < n; i++) {
    const struct {
      const char *before, *after;
    } around[] = {
        {"--run-path delete", ""},
        {"", "--run-path delete"},
        {"--host get -v", "--log-level image"},
        {"--configuration=create", "--containerd-socket init"},
        {"-v --log-level apply", "-v"},
    };
    for (size_t f = 0; f < KK_ARRAY_SIZE(around); f++) {
      char line[256];
      snprintf(line, sizeof(line), "%s %s %s", around[f].before, t[i].words, around[f].after);
      struct kk_cmdline cl;
      kk_err_t err = NULL;
      ck_assert_msg(resolve(line, &cl, &err) == 0, "%s: %s", line, err ? err->msg : "");
      ck_assert_msg(kk_cmdline_leaf(&cl) == t[i].node, "%s: reached %s", line, kk_cmdline_leaf(&cl)->name);
      ck_assert_msg(cl.args.n == 0, "%s: %zu positionals, first %s", line, cl.args.n, cl.args.v[0]);
      ck_assert(!cl.help);
      kk_cmdline_free(&cl);
    }
  }
}
END_TEST

/* A value the flag carries reaches the command; aliases name the node. */
START_TEST(values_and_aliases) {
  struct kk_cmdline cl;
  kk_err_t err = NULL;
  ck_assert_int_eq(resolve("--run-path /tmp/p g cells --realm image -o yaml x", &cl, &err), 0);
  ck_assert_str_eq(kk_cmdline_leaf(&cl)->name, "cell");
  ck_assert_str_eq(kk_cmdline_str(&cl, "run-path"), "/tmp/p");
  ck_assert_str_eq(kk_cmdline_str(&cl, "realm"), "image");
  ck_assert_str_eq(kk_cmdline_str(&cl, "output"), "yaml");
  ck_assert_uint_eq(cl.args.n, 1);
  ck_assert_str_eq(cl.args.v[0], "x");
  kk_cmdline_free(&cl);

  ck_assert_int_eq(resolve("img rm --realm r busybox", &cl, &err), 0);
  ck_assert_str_eq(kk_cmdline_leaf(&cl)->name, "delete");
  ck_assert_str_eq(cl.path[1]->name, "image");
  kk_cmdline_free(&cl);

  ck_assert_int_eq(resolve("p ce --stack t x --cascade --no-daemon", &cl, &err), 0);
  ck_assert_str_eq(cl.path[1]->name, "purge");
  ck_assert_str_eq(kk_cmdline_leaf(&cl)->name, "cell");
  ck_assert(kk_cmdline_bool(&cl, "cascade"));
  ck_assert(kk_cmdline_bool(&cl, "no-daemon"));
  ck_assert_str_eq(cl.args.v[0], "x");
  kk_cmdline_free(&cl);

  /* After "--" everything is an argument of the command. */
  ck_assert_int_eq(resolve("run --image busybox -- get -o x", &cl, &err), 0);
  ck_assert_str_eq(kk_cmdline_leaf(&cl)->name, "run");
  ck_assert_uint_eq(cl.args.n, 3);
  ck_assert_str_eq(cl.args.v[0], "get");
  kk_cmdline_free(&cl);
}
END_TEST

/* The issue's two: a global's value taken for the kind, and a command's
 * flag before the command taken for the command. */
START_TEST(issue_cases) {
  struct kk_cmdline cl;
  kk_err_t err = NULL;
  ck_assert_int_eq(resolve("--run-path /tmp/p get images", &cl, &err), 0);
  ck_assert_str_eq(kk_cmdline_leaf(&cl)->name, "image");
  ck_assert_str_eq(cl.path[1]->name, "get");
  kk_cmdline_free(&cl);

  ck_assert_int_eq(resolve("-o json get realms", &cl, &err), 0);
  ck_assert_str_eq(kk_cmdline_leaf(&cl)->name, "realm");
  ck_assert_str_eq(kk_cmdline_str(&cl, "output"), "json");
  kk_cmdline_free(&cl);

  ck_assert_int_eq(resolve("--selector=a=b get cells", &cl, &err), 0);
  ck_assert_str_eq(kk_cmdline_str(&cl, "selector"), "a=b");
  kk_cmdline_free(&cl);
}
END_TEST

/* -------------------------------------------------------- suggestions */

static void expect_error(const char *line, const char *needle) {
  struct kk_cmdline cl;
  kk_err_t err = NULL;
  ck_assert_msg(resolve(line, &cl, &err) < 0, "%s resolved", line);
  ck_assert_msg(strstr(err->msg, needle) != NULL, "%s: \"%s\" lacks \"%s\"", line, err->msg, needle);
  kk_error_free(&err);
  kk_cmdline_free(&cl);
}

START_TEST(did_you_mean) {
  expect_error("gte realms", "unknown command \"gte\" for \"kuke\" (did you mean \"get\"?)");
  expect_error("imgae list", "did you mean \"image\"?");
  expect_error("image lst", "unknown command \"lst\" for \"kuke image\" (did you mean \"list\"?)");
  expect_error("get relams", "unknown resource kind \"relams\" for \"kuke get\" (did you mean \"realm\"?)");
  expect_error("delete cel x", "unknown resource kind \"cel\" for \"kuke delete\" (did you mean \"cell\"?)");
  expect_error("get realms --selctor a", "unknown flag: --selctor (did you mean --selector?)");
  expect_error("--verbos get realms", "unknown flag: --verbos (did you mean --verbose?)");
  expect_error("frobnicate", "unknown command \"frobnicate\" for \"kuke\"");
}
END_TEST

START_TEST(kinds_named) {
  expect_error("delete myname", "unknown resource kind \"myname\" for \"kuke delete\" (a name follows its kind: "
                                "\"kuke delete <kind> myname\"); one of: realm, space, stack, cell");
  expect_error("get pods", "unknown resource kind \"pods\" for \"kuke get\" (a name follows its kind: \"kuke get "
                           "<kind> pods\"); one of: realm, space, stack, cell, container, image");
  expect_error("create pod x", "one of: realm, space, stack, cell, registry-credential");
}
END_TEST

/* A flag before the command that commands read differently is refused,
 * not guessed; one no command knows is unknown. */
START_TEST(flag_before_command) {
  expect_error("-f x apply", "flag -f means different things to different commands of \"kuke\": put it after");
  expect_error("--nosuch get realms", "unknown flag: --nosuch");
  struct kk_cmdline cl;
  kk_err_t err = NULL;
  ck_assert_int_eq(resolve("-f x.yaml delete", &cl, &err), -1); /* -f: strings here, bool in log */
  kk_error_free(&err);
  kk_cmdline_free(&cl);
  ck_assert_int_eq(resolve("delete -f x.yaml", &cl, &err), 0);
  ck_assert_uint_eq(kk_cmdline_strv(&cl, "file")->n, 1);
  kk_cmdline_free(&cl);
}
END_TEST

/* kuke status: --json is its own, --verbose the global one (detail rows). */
START_TEST(status_flags) {
  struct kk_cmdline cl;
  kk_err_t err = NULL;
  ck_assert_int_eq(resolve("status --json --verbose", &cl, &err), 0);
  ck_assert_str_eq(kk_cmdline_leaf(&cl)->name, "status");
  ck_assert(kk_cmdline_bool(&cl, "json"));
  ck_assert(kk_cmdline_bool(&cl, "verbose"));
  kk_cmdline_free(&cl);
  expect_error("status --jsno", "unknown flag: --jsno (did you mean --json?)");
}
END_TEST

/* ------------------------------------------------- status, help, version */

static void expect_run(const char *line, int status, const char *out_needle, const char *err_needle) {
  struct run_result r;
  run_kuke(line, &r);
  ck_assert_msg(r.status == status, "kuke %s: status %d, want %d (%s)", line, r.status, status, r.err);
  if (out_needle)
    ck_assert_msg(strstr(r.out, out_needle), "kuke %s: stdout lacks \"%s\":\n%s", line, out_needle, r.out);
  if (err_needle)
    ck_assert_msg(strstr(r.err, err_needle), "kuke %s: stderr lacks \"%s\":\n%s", line, err_needle, r.err);
  if (status != 0) /* one line */
    ck_assert_msg(strchr(r.err, '\n') == r.err + strlen(r.err) - 1, "kuke %s: stderr %s", line, r.err);
  run_free(&r);
}

/* kuke autocomplete: the scripts and the engine's answers that need no
 * daemon (tests/integration/t_autocomplete.sh has the names). */
static void expect_words(const char *line, int status, const char *out) {
  struct run_result r;
  run_kuke(line, &r);
  ck_assert_msg(r.status == status, "kuke %s: status %d, want %d (%s)", line, r.status, status, r.err);
  ck_assert_msg(strcmp(r.out, out) == 0, "kuke %s: stdout \"%s\", want \"%s\"", line, r.out, out);
  ck_assert_str_eq(r.err, "");
  run_free(&r);
}

START_TEST(autocomplete) {
  expect_run("autocomplete bash", 0, "complete -o filenames -F _kuke kuke", NULL);
  expect_run("autocomplete zsh", 0, "#compdef kuke", NULL);
  expect_run("completion fish", 0, "complete -c kuke -f -a '(__kuke_words)'", NULL);
  expect_run("autocomplete tcsh", 1, NULL, "Error: autocomplete takes one shell: bash, zsh or fish");
  expect_run("autocomplete", 1, NULL, "Error: ");
  expect_words("autocomplete --words -- get c", 0, "cell\ncontainer\n");
  expect_words("autocomplete --words -- ima", 0, "image\n");
  expect_words("autocomplete --words -- image l", 0, "load\nlist\n");
  expect_words("autocomplete --words -- get cell -o j", 0, "json\n");
  expect_words("autocomplete --words -- --realm x get cell --no-h", 0, "--no-headers\n");
  expect_words("autocomplete --words -- apply -f x", 2, "");
  expect_words("autocomplete --words -- apply --file=x y", 0, "");
  expect_words("autocomplete --words -- run -- ca", 0, "");
}
END_TEST

START_TEST(exit_status) {
  expect_run("image lst", 1, NULL, "Error: unknown command \"lst\" for \"kuke image\"");
  expect_run("--run-path /nonexistent image", 1, NULL, "Error: \"kuke image\" needs a command: load, pull, list");
  expect_run("image", 1, NULL, "needs a command");
  expect_run("get", 1, NULL, "\"kuke get\" needs a resource kind: realm, space");
  expect_run("--run-path /nonexistent", 1, NULL, "Error: kuke needs a command");
  expect_run("init extra", 1, NULL, "unexpected argument \"extra\" for \"kuke init\"");
  expect_run("image pull", 1, NULL, "missing argument for \"kuke image pull\": it takes REF");
  expect_run("delete realm", 1, NULL, "missing argument for \"kuke delete realm\": it takes NAME");
  expect_run("get realm a b", 1, NULL, "unexpected argument \"b\"");
  expect_run("get realms -o xml", 1, NULL, "invalid output format: xml");
  expect_run("delete", 1, NULL, "kuke delete needs a kind and a name");
  expect_run("daemon", 1, NULL, "\"kuke daemon\" needs a command: start, stop, kill, restart, reset, recreate, logs");
  expect_run("daemon strat", 1, NULL, "did you mean \"start\"?");
  expect_run("daemon start extra", 1, NULL, "unexpected argument \"extra\"");
  expect_run("purge", 1, NULL, "\"kuke purge\" needs a resource kind: realm, space");
  expect_run("purge cell", 1, NULL, "missing argument for \"kuke purge cell\": it takes NAME");
  expect_run("--run-path /nonexistent purge cell a_b", 1, NULL, "cell name \"a_b\" contains disallowed character");
  expect_run("--run-path /nonexistent purge stack s --space a_b", 1, NULL, "--space: ");
  expect_run("--run-path /nonexistent stop", 1, NULL, "stop needs one cell name or a selector");
  expect_run("--run-path /nonexistent stop a -l x=y", 1, NULL, "--selector cannot be combined with a cell name");
  expect_run("--run-path /nonexistent restart a --timeout 0", 1, NULL, "invalid --timeout \"0\"");
  expect_run("--run-path /nonexistent start -l a!b", 1, NULL, "invalid selector clause \"a!b\"");
  expect_run("--run-path /nonexistent kill", 1, NULL, "missing argument for \"kuke kill\"");
  expect_run("refresh extra", 1, NULL, "unexpected argument \"extra\" for \"kuke refresh\"");
}
END_TEST

/* Names on the command line are checked where the argument or the flag
 * can be named, before any request. */
START_TEST(create_names_the_argument) {
  expect_run("--run-path /nonexistent create cell a_b --image busybox", 1, NULL,
             "Error: argument NAME: name is invalid: cell name \"a_b\" contains disallowed character");
  expect_run("--run-path /nonexistent create space s --realm a_b", 1, NULL,
             "Error: flag --realm: realm name is invalid: \"a_b\"");
  expect_run("--run-path /nonexistent create realm -bad", 1, NULL, "unknown flag: -b");
  expect_run("--run-path /nonexistent create realm -- -bad", 1, NULL, "Error: argument NAME: realm name \"-bad\"");
}
END_TEST

START_TEST(help_and_version) {
  expect_run("", 0, "Available Commands:\n  init", NULL);
  expect_run("--help", 0, "  help       Help about any command", NULL);
  expect_run("help", 0, "Usage:\n  kuke [command] [flags]", NULL);
  expect_run("help get", 0, "Resource Kinds:\n  realm", NULL);
  expect_run("get --help", 0, "Global Flags:\n      --run-path string", NULL);
  expect_run("help image list", 0, "Usage:\n  kuke image list [REF] [flags]", NULL);
  expect_run("image pull -h", 0, "-u, --username string", NULL);
  expect_run("--run-path /x help delete", 0, "delete (realm|space|stack|cell) NAME [flags] | delete -f", NULL);
  expect_run("image --help", 0, "  pull       Pull an image", NULL);
  expect_run("daemon --help", 0, "  recreate   Reset the kukeond cell", NULL);
  expect_run("daemon reset -h", 0, "--purge-system", NULL);
  expect_run("help image lst", 1, NULL, "did you mean \"list\"?");
  char want[128];
  snprintf(want, sizeof(want), "kuke version %s\n", kk_cli_prog.version);
  expect_run("--version", 0, want, NULL);
  expect_run("version --no-daemon", 0, "Client: ", NULL);
  expect_run("get --version", 1, NULL, "unknown flag: --version");
}
END_TEST

/* ------------------------------------------------------------- tables */

static void check_node(const struct kk_cmd *c) {
  ck_assert_msg(c->summary && *c->summary, "%s: no summary", c->name);
  ck_assert_msg(c->run || c->n_subs, "%s: neither runs nor has subcommands", c->name);
  ck_assert_msg(c->min_args <= c->max_args, "%s: arity", c->name);
  for (size_t i = 0; i < c->n_flags; i++) {
    for (size_t g = 0; g < kk_cli_prog.n_globals; g++) {
      ck_assert_msg(strcmp(c->flags[i].name, kk_cli_prog.globals[g].name) != 0, "%s: --%s shadows a global",
                    c->name, c->flags[i].name);
      ck_assert_msg(!c->flags[i].shorthand || c->flags[i].shorthand != kk_cli_prog.globals[g].shorthand,
                    "%s: -%c shadows a global", c->name, c->flags[i].shorthand);
    }
    for (size_t j = i + 1; j < c->n_flags; j++)
      ck_assert_msg(strcmp(c->flags[i].name, c->flags[j].name) != 0 &&
                        (!c->flags[i].shorthand || c->flags[i].shorthand != c->flags[j].shorthand),
                    "%s: --%s twice", c->name, c->flags[i].name);
  }
  for (size_t i = 0; i < c->n_subs; i++)
    check_node(c->subs[i]);
}

START_TEST(tables_consistent) { check_node(kk_cli_prog.root); }
END_TEST

/* ------------------------------------------------- the binaries, exec'd */

/* build/kuke and build/kukeond beside build/tests/unit/<this>. */
static void exec_binary(const char *name, char *const argv[], int *status, char *out, size_t cap) {
  char self[PATH_MAX], path[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  ck_assert_int_gt(n, 0);
  self[n] = '\0';
  *strrchr(self, '/') = '\0';
  snprintf(path, sizeof(path), "%s/../../%s", self, name);
  int p[2];
  ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(p[1], STDOUT_FILENO);
    dup2(p[1], STDERR_FILENO);
    execv(path, argv);
    _exit(127);
  }
  close(p[1]);
  size_t used = 0;
  ssize_t r;
  while (used + 1 < cap && (r = read(p[0], out + used, cap - 1 - used)) > 0)
    used += (size_t)r;
  out[used] = '\0';
  close(p[0]);
  int ws = 0;
  waitpid(pid, &ws, 0);
  *status = WIFEXITED(ws) ? WEXITSTATUS(ws) : -1;
}

START_TEST(binaries_help_and_version) {
  char out[8192];
  int status;
  char *const kuke_version[] = {"kuke", "--run-path", "/nonexistent/run", "--version", NULL};
  exec_binary("kuke", kuke_version, &status, out, sizeof(out));
  ck_assert_int_eq(status, 0);
  ck_assert_msg(strncmp(out, "kuke version ", 13) == 0 && out[strlen(out) - 1] == '\n', "%s", out);
  char version[256];
  snprintf(version, sizeof(version), "%s", out + 13);
  char *const kukeond_version[] = {"kukeond", "--version", NULL};
  exec_binary("kukeond", kukeond_version, &status, out, sizeof(out));
  ck_assert_int_eq(status, 0);
  ck_assert_msg(strncmp(out, "kukeond version ", 16) == 0 && strcmp(out + 16, version) == 0, "%s", out);
  char *const kukeond_help[] = {"kukeond", "help", "serve", NULL};
  exec_binary("kukeond", kukeond_help, &status, out, sizeof(out));
  ck_assert_int_eq(status, 0);
  ck_assert_ptr_nonnull(strstr(out, "--socket string"));
  char *const kukeond_typo[] = {"kukeond", "--socket", "/nonexistent/s", "serv", NULL};
  exec_binary("kukeond", kukeond_typo, &status, out, sizeof(out));
  ck_assert_int_eq(status, 1);
  ck_assert_str_eq(out, "Error: unknown command \"serv\" for \"kukeond\" (did you mean \"serve\"?); one of: serve\n");
  char *const kuke_typo[] = {"kuke", "--run-path", "/nonexistent/run", "image", "lst", NULL};
  exec_binary("kuke", kuke_typo, &status, out, sizeof(out));
  ck_assert_int_eq(status, 1);
}
END_TEST

static Suite *cli_dispatch_suite(void) {
  Suite *s = suite_create("cli_dispatch");
  TCase *t = tcase_create("dispatch");
  tcase_add_unchecked_fixture(t, setup, teardown); /* runs even when a test fails */
  tcase_add_test(t, every_command_with_globals);
  tcase_add_test(t, values_and_aliases);
  tcase_add_test(t, issue_cases);
  tcase_add_test(t, did_you_mean);
  tcase_add_test(t, kinds_named);
  tcase_add_test(t, flag_before_command);
  tcase_add_test(t, exit_status);
  tcase_add_test(t, create_names_the_argument);
  tcase_add_test(t, help_and_version);
  tcase_add_test(t, status_flags);
  tcase_add_test(t, autocomplete);
  tcase_add_test(t, tables_consistent);
  tcase_add_test(t, binaries_help_and_version);
  suite_add_tcase(s, t);
  return s;
}

KK_UNIT_MAIN(cli_dispatch_suite)

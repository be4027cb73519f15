/* kk-cgtool: drives the cgroupfs API from shell tests until the CLI wires it.
 *
 *   kk-cgtool [--root R] [--base B] [--mountinfo F] [--fake DIR --mode M] CMD ARGS
 *
 *   detect                       mode, mount, controllers, v1 hierarchies, notes
 *   ensure REL                   create (idempotent); prints created / subtree / warnings
 *   remove REL [--kill]          REL "" (or "/") removes the whole tree
 *   exists REL                   "missing" | "owned" | "foreign"
 *   children REL
 *   limits REL k=v...            memory_max memory_high cpu_weight cpu_quota cpu_period
 *                                pids_max io_weight ("max" allowed); prints the report,
 *                                exit 1 if a setting failed, 3 if one is not enforced
 *   read-limits REL
 *   container-check REL [memory=N] [shares=N] [pids=N] [formula=linear|quadratic]
 *   exec REL -- CMD ARGS...      run CMD inside REL (created if missing), exit with its
 *                                status (128+sig)
 *   enter REL PID
 *   procs REL [-r]
 *   populated REL                "1" or "0"
 *   kill REL | freeze REL | thaw REL
 *   stats REL                    key=value lines (-1 = n/a)
 *   events REL                   memory.events as key=value
 *   doctor [--probe] [--scope REL]   exit 1 when a check fails
 *   shares N [linear|quadratic]
 *   path REL                     host path and status path
 *   alloc MIB [--hold]           allocate and touch MIB MiB (1 MiB steps, progress on
 *                                stdout); --hold: then wait to be killed
 *   forks N                      fork N sleeping children one by one; prints
 *                                "forked K of N" and the error that stopped it; exit 1
 *                                if a fork failed
 *
 * The root defaults to $KUKEON_CGROUP_ROOT, then /kukeon. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cgroupfs/cgroupfs.h"
#include "lib/error.h"
#include "lib/util.h"

static int die(kk_err_t *err) {
  fprintf(stderr, "kk-cgtool: %s\n", (*err)->msg);
  kk_error_free(err);
  return 2;
}

static int usage(void) {
  fprintf(stderr, "usage: kk-cgtool [--root R] [--base B] [--mountinfo F] [--fake DIR --mode M] "
                  "CMD ARGS (see the source)\n");
  return 2;
}

static int parse_val(const char *s, int64_t *out) {
  if (strcmp(s, "max") == 0) {
    *out = KK_CG_MAX;
    return 0;
  }
  char *end = NULL;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || end == s || *end)
    return -1;
  *out = v;
  return 0;
}

static void print_strv(const char *label, const struct kk_strv *sv) {
  printf("%s:", label);
  for (size_t i = 0; i < sv->n; i++)
    printf(" %s", sv->v[i]);
  printf("\n");
}

static int cmd_alloc(int mib, bool hold) {
  long page = sysconf(_SC_PAGESIZE);
  for (int k = 1; k <= mib; k++) {
    char *p = malloc(1 << 20);
    if (p == NULL) {
      printf("malloc failed after %d MiB\n", k - 1);
      return 1;
    }
    for (long off = 0; off < (1 << 20); off += page)
      p[off] = (char)k; /* touch every page: it is charged only when used */
    printf("allocated %d MiB\n", k);
    fflush(stdout);
  }
  if (hold) {
    printf("holding\n");
    fflush(stdout);
    for (;;)
      pause();
  }
  return 0;
}

static int cmd_forks(int n) {
  pid_t *kids = calloc((size_t)n + 1, sizeof(pid_t));
  int k = 0, rc = 0;
  for (; k < n; k++) {
    pid_t pid = fork();
    if (pid == 0) {
      for (;;)
        pause();
    }
    if (pid < 0) {
      printf("fork %d failed: %s\n", k + 1, strerror(errno));
      rc = 1;
      break;
    }
    kids[k] = pid;
  }
  printf("forked %d of %d\n", k, n);
  fflush(stdout);
  for (int j = 0; j < k; j++)
    kill(kids[j], SIGKILL);
  for (int j = 0; j < k; j++)
    waitpid(kids[j], NULL, 0);
  free(kids);
  return rc;
}

static const char *rel_arg(const char *s) { return strcmp(s, "/") == 0 ? "" : s; }

int main(int argc, char **argv) {
  const char *root = getenv("KUKEON_CGROUP_ROOT");
  if (kk_empty(root))
    root = KK_CG_DEFAULT_ROOT;
  struct kk_cg_detect_opts dopts = {0};
  const char *fake = NULL, *mode = "unified";
  int i = 1;
  for (; i < argc && argv[i][0] == '-' && argv[i][1] == '-'; i += 2) {
    if (i + 1 >= argc)
      return usage();
    if (strcmp(argv[i], "--root") == 0)
      root = argv[i + 1];
    else if (strcmp(argv[i], "--base") == 0)
      dopts.base = argv[i + 1];
    else if (strcmp(argv[i], "--mountinfo") == 0)
      dopts.mountinfo = argv[i + 1];
    else if (strcmp(argv[i], "--fake") == 0)
      fake = argv[i + 1];
    else if (strcmp(argv[i], "--mode") == 0)
      mode = argv[i + 1];
    else
      return usage();
  }
  if (i >= argc)
    return usage();
  const char *cmd = argv[i++];
  int nargs = argc - i;
  char **args = argv + i;

  kk_err_t err = NULL;
  cleanup_cg_host struct kk_cg_host *h = NULL;
  if (strcmp(cmd, "alloc") == 0 && nargs >= 1)
    return cmd_alloc(atoi(args[0]), nargs > 1 && strcmp(args[1], "--hold") == 0);
  if (strcmp(cmd, "forks") == 0 && nargs >= 1)
    return cmd_forks(atoi(args[0]));
  if (strcmp(cmd, "shares") == 0) {
    if (nargs < 1)
      return usage();
    enum kk_cg_shares_formula f =
        nargs > 1 && strcmp(args[1], "quadratic") == 0 ? KK_CG_SHARES_QUADRATIC : KK_CG_SHARES_LINEAR;
    printf("%" PRIu64 "\n", kk_cg_cpu_shares_to_weight(strtoull(args[0], NULL, 10), f));
    return 0;
  }
  if (strcmp(cmd, "doctor") == 0 && fake == NULL) {
    struct kk_cg_doctor_opts o = {.detect = dopts, .root = root};
    for (int k = 0; k < nargs; k++) {
      if (strcmp(args[k], "--probe") == 0)
        o.probe = true;
      else if (strcmp(args[k], "--scope") == 0 && k + 1 < nargs)
        o.scope = args[++k];
    }
    size_t fails = 0;
    if (kk_cg_doctor(&o, stdout, &fails, &err) < 0)
      return die(&err);
    return fails ? 1 : 0;
  }
  if (fake) {
    enum kk_cg_mode m = strcmp(mode, "hybrid") == 0   ? KK_CG_MODE_HYBRID
                        : strcmp(mode, "legacy") == 0 ? KK_CG_MODE_LEGACY
                                                      : KK_CG_MODE_UNIFIED;
    if (kk_cg_host_open_fake(fake, m, &h, &err) < 0)
      return die(&err);
  } else if (kk_cg_detect(&dopts, &h, &err) < 0) {
    return die(&err);
  }

  if (strcmp(cmd, "detect") == 0) {
    printf("mode: %s\n", kk_cg_mode_name(h->mode));
    printf("mountpoint: %s\n", h->mountpoint ? h->mountpoint : "");
    print_strv("controllers", &h->controllers);
    for (size_t k = 0; k < h->mounts.n; k++)
      if (strcmp(h->mounts.v[k].fstype, "cgroup") == 0) {
        cleanup_free char *c = kk_strv_join(&h->mounts.v[k].controllers, ",");
        printf("v1: %s %s\n", h->mounts.v[k].mountpoint, c);
      }
    for (size_t k = 0; k < h->notes.n; k++)
      printf("note: %s\n", h->notes.v[k]);
    return 0;
  }
  if (strcmp(cmd, "doctor") == 0) { /* fake tree */
    struct kk_cg_doctor_opts o = {.host = h, .root = root};
    for (int k = 0; k < nargs; k++) {
      if (strcmp(args[k], "--probe") == 0)
        o.probe = true;
      else if (strcmp(args[k], "--scope") == 0 && k + 1 < nargs)
        o.scope = args[++k];
    }
    size_t fails = 0;
    if (kk_cg_doctor(&o, stdout, &fails, &err) < 0)
      return die(&err);
    return fails ? 1 : 0;
  }
  if (nargs < 1)
    return usage();
  const char *rel = rel_arg(args[0]);

  if (strcmp(cmd, "ensure") == 0) {
    struct kk_cg_ensure_result r = {0};
    if (kk_cg_ensure(h, root, rel, &r, &err) < 0)
      return die(&err);
    print_strv("created", &r.created);
    print_strv("subtree", &r.subtree_controllers);
    for (size_t k = 0; k < r.warnings.n; k++)
      printf("warning: %s\n", r.warnings.v[k]);
    kk_cg_ensure_result_free(&r);
    return 0;
  }
  if (strcmp(cmd, "remove") == 0) {
    unsigned flags = nargs > 1 && strcmp(args[1], "--kill") == 0 ? KK_CG_REMOVE_KILL : 0;
    if (kk_cg_remove(h, root, rel, flags, &err) < 0)
      return die(&err);
    return 0;
  }
  if (strcmp(cmd, "exists") == 0) {
    bool ex = false, own = false;
    if (kk_cg_exists(h, root, rel, &ex, &own, &err) < 0)
      return die(&err);
    printf("%s\n", !ex ? "missing" : own ? "owned" : "foreign");
    return 0;
  }
  if (strcmp(cmd, "children") == 0) {
    struct kk_strv kids = {0};
    if (kk_cg_children(h, root, rel, &kids, &err) < 0)
      return die(&err);
    for (size_t k = 0; k < kids.n; k++)
      printf("%s\n", kids.v[k]);
    kk_strv_free(&kids);
    return 0;
  }
  if (strcmp(cmd, "limits") == 0) {
    struct kk_cg_limits l;
    kk_cg_limits_init(&l);
    for (int k = 1; k < nargs; k++) {
      char *eq = strchr(args[k], '=');
      int64_t v;
      if (eq == NULL || parse_val(eq + 1, &v) < 0)
        return usage();
      *eq = '\0';
      if (strcmp(args[k], "memory_max") == 0)
        l.memory_max = v;
      else if (strcmp(args[k], "memory_high") == 0)
        l.memory_high = v;
      else if (strcmp(args[k], "cpu_weight") == 0)
        l.cpu_weight = v;
      else if (strcmp(args[k], "cpu_quota") == 0)
        l.cpu_max_quota_us = v;
      else if (strcmp(args[k], "cpu_period") == 0)
        l.cpu_max_period_us = v;
      else if (strcmp(args[k], "pids_max") == 0)
        l.pids_max = v;
      else if (strcmp(args[k], "io_weight") == 0)
        l.io_weight = v;
      else
        return usage();
    }
    struct kk_cg_report rep = {0};
    int rc = kk_cg_apply_limits(h, root, rel, &l, &rep, &err);
    cleanup_free char *sp = kk_cg_status_path(root, rel);
    kk_cg_report_print(&rep, sp, false, stdout);
    size_t ne = kk_cg_report_count(&rep, KK_CG_NOT_ENFORCED);
    kk_cg_report_free(&rep);
    if (rc < 0) {
      fprintf(stderr, "kk-cgtool: %s\n", err->msg);
      kk_error_free(&err);
      return 1;
    }
    return ne ? 3 : 0;
  }
  if (strcmp(cmd, "read-limits") == 0) {
    struct kk_cg_limits l;
    if (kk_cg_read_limits(h, root, rel, &l, &err) < 0)
      return die(&err);
    printf("memory_max=%" PRId64 "\nmemory_high=%" PRId64 "\ncpu_weight=%" PRId64
           "\ncpu_quota=%" PRId64 "\ncpu_period=%" PRId64 "\npids_max=%" PRId64
           "\nio_weight=%" PRId64 "\n",
           l.memory_max, l.memory_high, l.cpu_weight, l.cpu_max_quota_us, l.cpu_max_period_us,
           l.pids_max, l.io_weight);
    return 0;
  }
  if (strcmp(cmd, "container-check") == 0) {
    struct kk_cg_container_limits cl = {0, 0, 0};
    enum kk_cg_shares_formula f = KK_CG_SHARES_LINEAR;
    for (int k = 1; k < nargs; k++) {
      if (strcmp(args[k], "formula=quadratic") == 0) {
        f = KK_CG_SHARES_QUADRATIC;
        continue;
      }
      char *eq = strchr(args[k], '=');
      int64_t v;
      if (eq == NULL || parse_val(eq + 1, &v) < 0)
        return usage();
      *eq = '\0';
      if (strcmp(args[k], "memory") == 0)
        cl.memory_limit_bytes = v;
      else if (strcmp(args[k], "shares") == 0)
        cl.cpu_shares = v;
      else if (strcmp(args[k], "pids") == 0)
        cl.pids_limit = v;
    }
    struct kk_cg_report rep = {0};
    if (kk_cg_check_container_limits(h, root, rel, &cl, f, &rep, &err) < 0)
      return die(&err);
    cleanup_free char *sp = kk_cg_status_path(root, rel);
    kk_cg_report_print(&rep, sp, false, stdout);
    size_t ne = kk_cg_report_count(&rep, KK_CG_NOT_ENFORCED);
    kk_cg_report_free(&rep);
    return ne ? 3 : 0;
  }
  if (strcmp(cmd, "exec") == 0) {
    int k = 1;
    if (k < nargs && strcmp(args[k], "--") == 0)
      k++;
    if (k >= nargs)
      return usage();
    /* The leaf the process runs in (a container cgroup, below the cell), as
     * runc would make it. */
    if (kk_cg_ensure(h, root, rel, NULL, &err) < 0)
      return die(&err);
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
      perror("fork");
      return 2;
    }
    if (pid == 0) {
      if (kk_cg_enter(h, root, rel, 0, &err) < 0) {
        fprintf(stderr, "kk-cgtool: %s\n", err->msg);
        _exit(125);
      }
      execvp(args[k], args + k);
      fprintf(stderr, "kk-cgtool: exec %s: %s\n", args[k], strerror(errno));
      _exit(127);
    }
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
      ;
    if (WIFSIGNALED(st))
      return 128 + WTERMSIG(st);
    return WEXITSTATUS(st);
  }
  if (strcmp(cmd, "enter") == 0) {
    if (nargs < 2)
      return usage();
    if (kk_cg_enter(h, root, rel, (pid_t)atoi(args[1]), &err) < 0)
      return die(&err);
    return 0;
  }
  if (strcmp(cmd, "procs") == 0) {
    pid_t *pids = NULL;
    size_t n = 0;
    if (kk_cg_procs(h, root, rel, nargs > 1 && strcmp(args[1], "-r") == 0, &pids, &n, &err) < 0)
      return die(&err);
    for (size_t k = 0; k < n; k++)
      printf("%d\n", (int)pids[k]);
    free(pids);
    return 0;
  }
  if (strcmp(cmd, "populated") == 0) {
    bool p = false;
    if (kk_cg_populated(h, root, rel, &p, &err) < 0)
      return die(&err);
    printf("%d\n", p ? 1 : 0);
    return 0;
  }
  if (strcmp(cmd, "kill") == 0) {
    if (kk_cg_kill(h, root, rel, &err) < 0)
      return die(&err);
    return 0;
  }
  if (strcmp(cmd, "freeze") == 0 || strcmp(cmd, "thaw") == 0) {
    if (kk_cg_freeze(h, root, rel, strcmp(cmd, "freeze") == 0, &err) < 0)
      return die(&err);
    return 0;
  }
  if (strcmp(cmd, "stats") == 0) {
    struct kk_cg_stats s;
    if (kk_cg_read_stats(h, root, rel, &s, &err) < 0)
      return die(&err);
    printf("memory_current=%" PRId64 "\nmemory_max=%" PRId64 "\ncpu_usage_usec=%" PRId64
           "\npids_current=%" PRId64 "\npids_max=%" PRId64 "\noom_kills=%" PRId64 "\nfrom_v1=%u\n",
           s.memory_current, s.memory_max, s.cpu_usage_usec, s.pids_current, s.pids_max,
           s.oom_kills, s.from_v1);
    return 0;
  }
  if (strcmp(cmd, "events") == 0) {
    struct kk_cg_memory_events ev;
    if (kk_cg_read_memory_events(h, root, rel, &ev, &err) < 0)
      return die(&err);
    printf("low=%" PRId64 "\nhigh=%" PRId64 "\nmax=%" PRId64 "\noom=%" PRId64 "\noom_kill=%" PRId64
           "\n",
           ev.low, ev.high, ev.max, ev.oom, ev.oom_kill);
    return 0;
  }
  if (strcmp(cmd, "path") == 0) {
    cleanup_free char *hp = kk_cg_host_path(h, root, rel);
    cleanup_free char *sp = kk_cg_status_path(root, rel);
    printf("%s\n%s\n", hp, sp);
    return 0;
  }
  return usage();
}

/* kukeon's iptables rules through the iptables command (nft or legacy
 * backend, whichever the host has).  Every call reads one table once
 * (`iptables -t <table> -S`), compares what it finds with what it wants
 * rule by rule in iptables' own printed form, and makes all its changes in
 * one `iptables-restore --noflush` transaction: a chain that differs is
 * flushed and refilled inside it (atomic on both backends), one that
 * matches is left alone with its counters. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/fs.h"
#include "lib/spawn.h"
#include "lib/util.h"
#include "netns/internal.h"

#define FW_OUT_MAX (32u << 20) /* iptables -S of a busy host */
#define FW_ERR_MAX (64u << 10)
#define FW_TIMEOUT_MS 15000

/* ------------------------------------------------------------ exec */

void kk_fw_bins_free(struct kk_fw_bins *b) {
  free(b->iptables);
  free(b->restore);
}

/* 0, or KK_NETNS_FW_MISSING when either program is not there. */
static int fw_bins_find(const struct kk_netns_fw *fw, struct kk_fw_bins *b) {
  const char *name = fw && fw->iptables ? fw->iptables : "iptables";
  cleanup_free char *restore_name = kk_asprintf("%s-restore", name);
  b->iptables = kk_which(name);
  b->restore = kk_which(restore_name);
  b->timeout_ms = fw && fw->timeout_ms > 0 ? fw->timeout_ms : FW_TIMEOUT_MS;
  return b->iptables && b->restore ? 0 : KK_NETNS_FW_MISSING;
}

/* The first non-empty line of a program's stderr: iptables says why there. */
static char *first_line(const char *s) {
  while (*s == '\n' || *s == ' ')
    s++;
  return kk_xstrndup(s, strcspn(s, "\n"));
}

/* Keeps at most max bytes of what fd gives; false at EOF or error. */
static bool drain(int fd, struct kk_sbuf *b, size_t max) {
  char buf[16384];
  ssize_t n = read(fd, buf, sizeof(buf));
  if (n < 0)
    return errno == EINTR || errno == EAGAIN;
  if (n > 0 && b->len < max)
    kk_sb_addn(b, buf, (size_t)n < max - b->len ? (size_t)n : max - b->len);
  return n > 0;
}

struct fw_io {
  int in, out, err; /* parent ends, -1 when done */
  const char *input;
  size_t input_len, written;
  struct kk_sbuf o, e;
};

static void fw_io_close(struct fw_io *io) {
  if (io->in >= 0)
    close(io->in);
  if (io->out >= 0)
    close(io->out);
  if (io->err >= 0)
    close(io->err);
  kk_sb_free(&io->o);
  kk_sb_free(&io->e);
}

/* write(2) that turns a reader gone into EPIPE without a SIGPIPE, also in
 * a process (kuke in-process) that does not ignore the signal: the signal
 * is blocked on this thread meanwhile and a pending one taken back. */
static ssize_t write_nosigpipe(int fd, const void *buf, size_t len) {
  sigset_t pipe_set, old;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
  ssize_t w = write(fd, buf, len);
  int e = errno;
  if (w < 0 && e == EPIPE) {
    const struct timespec zero = {0, 0};
    sigtimedwait(&pipe_set, NULL, &zero);
  }
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  errno = e;
  return w;
}

/* Feed stdin and read stdout/stderr until both close or the deadline. */
static bool fw_pump(struct fw_io *io, int64_t deadline) {
  while (io->out >= 0 || io->err >= 0) {
    struct pollfd p[3] = {{io->out, POLLIN, 0}, {io->err, POLLIN, 0}, {io->in, POLLOUT, 0}};
    int64_t left = deadline - kk_monotonic_ms();
    if (left <= 0)
      return false;
    if (poll(p, 3, (int)left) < 0 && errno != EINTR)
      return false;
    if (p[0].revents && !drain(io->out, &io->o, FW_OUT_MAX)) {
      close(io->out);
      io->out = -1;
    }
    if (p[1].revents && !drain(io->err, &io->e, FW_ERR_MAX)) {
      close(io->err);
      io->err = -1;
    }
    if (p[2].revents) {
      ssize_t w = p[2].revents & POLLOUT ? write_nosigpipe(io->in, io->input + io->written, io->input_len - io->written)
                                         : -1;
      if (w > 0)
        io->written += (size_t)w;
      if ((w < 0 && errno != EINTR && errno != EAGAIN) || io->written == io->input_len) {
        close(io->in);
        io->in = -1;
      }
    }
  }
  return true;
}

static int spawn_fw(const char *bin, const char *const *argv, int in, int out, int errfd, pid_t *pid) {
  static char *const env[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", NULL};
  struct kk_spawn s = {.path = bin, .argv = (char *const *)argv, .envp = env, .in = in, .out = out, .err = errfd};
  return kk_spawn(&s, pid);
}

/* Run bin argv with input on stdin (NULL: /dev/null), within the deadline.
 * *out gets stdout; a non-zero exit is an error with stderr's first line. */
int kk_fw_exec(const struct kk_fw_bins *b, const char *bin, const char *const *argv, const char *input, char **out,
                   kk_err_t *err) {
  int po[2], pe[2], pi[2] = {-1, -1};
  if (pipe2(po, O_CLOEXEC) < 0)
    return kk_error(err, errno, "pipe");
  if (pipe2(pe, O_CLOEXEC) < 0 || (input && pipe2(pi, O_CLOEXEC) < 0)) {
    int e = errno;
    close(po[0]);
    close(po[1]);
    return kk_error(err, e, "pipe");
  }
  struct fw_io io = {.in = pi[1], .out = po[0], .err = pe[0], .input = input, .input_len = input ? strlen(input) : 0};
  if (io.in >= 0)
    fcntl(io.in, F_SETFL, O_NONBLOCK);
  pid_t pid;
  int rc = spawn_fw(bin, argv, pi[0], po[1], pe[1], &pid);
  close(po[1]);
  close(pe[1]);
  if (pi[0] >= 0)
    close(pi[0]);
  if (rc != 0) {
    fw_io_close(&io);
    return kk_error_kind(err, KK_ERR_UNAVAILABLE, rc, "cannot run %s", bin);
  }
  bool done = fw_pump(&io, kk_monotonic_ms() + b->timeout_ms);
  if (!done)
    kill(pid, SIGKILL);
  int st = 0;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
    ;
  int ret = 0;
  if (!done)
    ret = kk_error_kind(err, KK_ERR_UNAVAILABLE, 0, "%s did not finish within %d ms", argv[0], b->timeout_ms);
  else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
    cleanup_free char *why = first_line(io.e.s ? io.e.s : "");
    ret = kk_error_kind(err, KK_ERR_UNAVAILABLE, 0, "%s failed: %s", argv[0], *why ? why : "no message");
  } else if (out) {
    *out = io.o.s ? kk_steal(&io.o.s) : kk_xstrdup("");
  }
  fw_io_close(&io);
  return ret;
}

/* The whole table as `iptables -S` prints it. */
static int fw_snapshot(const struct kk_fw_bins *b, const char *table, char **out, kk_err_t *err) {
  const char *argv[] = {"iptables", "-w", FW_LOCK_WAIT_S, "-t", table, "-S", NULL};
  return kk_fw_exec(b, b->iptables, argv, NULL, out, err);
}

/* One transaction; nothing to do is no exec. */
static int fw_commit(const struct kk_fw_bins *b, const struct kk_fw_plan *p, kk_err_t *err) {
  if (p->decl.len == 0 && p->rules.len == 0 && p->del.len == 0)
    return 0;
  cleanup_free char *in = kk_asprintf("*%s\n%s%s%sCOMMIT\n", p->table, p->decl.s ? p->decl.s : "",
                                      p->rules.s ? p->rules.s : "", p->del.s ? p->del.s : "");
  const char *argv[] = {"iptables-restore", "-w", FW_LOCK_WAIT_S, "--noflush", NULL};
  return kk_fw_exec(b, b->restore, argv, in, NULL, err);
}

/* ------------------------------------------------------------ snapshot */

static bool snap_has(const char *snap, const char *line) {
  size_t n = strlen(line);
  for (const char *p = snap; (p = strstr(p, line)) != NULL; p += n)
    if ((p == snap || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0'))
      return true;
  return false;
}

bool kk_fw_has_chain(const char *snap, const char *chain) {
  cleanup_free char *l = kk_asprintf("-N %s", chain);
  return snap_has(snap, l);
}

/* The "-A <chain> ..." lines of snap, each with its newline. */
static void snap_rules(const char *snap, const char *chain, struct kk_sbuf *out) {
  cleanup_free char *prefix = kk_asprintf("-A %s ", chain);
  for (const char *p = snap; p && *p;) {
    const char *nl = strchr(p, '\n');
    size_t n = nl ? (size_t)(nl - p) + 1 : strlen(p);
    if (kk_has_prefix(p, prefix)) {
      kk_sb_addn(out, p, n);
      if (!nl)
        kk_sb_addn(out, "\n", 1);
    }
    p += n;
  }
}

/* Makes chain hold exactly want (lines with newlines): declared when
 * missing, flushed and refilled when different. */
void kk_fw_plan_chain(struct kk_fw_plan *p, const char *chain, const char *want) {
  cleanup_sbuf struct kk_sbuf cur = {0};
  snap_rules(p->snap, chain, &cur);
  if (kk_fw_has_chain(p->snap, chain) && kk_streq(cur.s ? cur.s : "", want))
    return;
  kk_sb_printf(&p->decl, ":%s - [0:0]\n", chain);
  kk_sb_add(&p->rules, want);
}

/* A jump from FORWARD, first or last, unless one is there. */
void kk_fw_plan_jump(const char *snap, const char *from, const char *target, bool first, struct kk_sbuf *rules) {
  cleanup_free char *line = kk_asprintf("-A %s -j %s", from, target);
  if (snap_has(snap, line))
    return;
  if (first)
    kk_sb_printf(rules, "-I %s 1 -j %s\n", from, target);
  else
    kk_sb_printf(rules, "%s\n", line);
}

/* Every rule of chain whose text contains needle, as a "-D" line. */
void kk_fw_plan_delete_matching(const char *snap, const char *chain, const char *needle, const char *keep,
                                 struct kk_sbuf *rules, bool *kept) {
  cleanup_sbuf struct kk_sbuf cur = {0};
  snap_rules(snap, chain, &cur);
  for (char *p = cur.s; p && *p;) {
    char *nl = strchr(p, '\n');
    *nl = '\0';
    if (keep && kk_streq(p, keep) && !*kept)
      *kept = true;
    else if (strstr(p, needle))
      kk_sb_printf(rules, "-D%s\n", p + 2);
    p = nl + 1;
  }
}

/* Names and comments go into iptables-restore's input: letters, digits and
 * . _ - : / = [ ] only (model/ validates the names more strictly). */
bool kk_fw_safe_text(const char *s) {
  for (; *s; s++)
    if (!isalnum((unsigned char)*s) && !strchr("._-:/=[]+", *s))
      return false;
  return true;
}

int kk_fw_run(const struct kk_netns_fw *fw, const char *table, kk_fw_plan_fn plan, void *arg, kk_err_t *err) {
  KK_CLEANUP(kk_fw_bins_free) struct kk_fw_bins b = {0};
  if (fw_bins_find(fw, &b) != 0)
    return KK_NETNS_FW_MISSING;
  cleanup_free char *snap = NULL;
  if (fw_snapshot(&b, table, &snap, err) < 0)
    return -1;
  struct kk_fw_plan p = {.table = table, .snap = snap};
  int rc = plan(&p, &b, arg, err);
  if (rc == 0)
    rc = fw_commit(&b, &p, err);
  kk_sb_free(&p.decl);
  kk_sb_free(&p.rules);
  kk_sb_free(&p.del);
  return rc;
}

/* -F then (last) -X of chain when it exists. */
void kk_fw_plan_drop_chain(struct kk_fw_plan *p, const char *chain) {
  if (!kk_fw_has_chain(p->snap, chain))
    return;
  kk_sb_printf(&p->rules, "-F %s\n", chain);
  kk_sb_printf(&p->del, "-X %s\n", chain);
}

/* Egress policy per space (spec §7.5) through the iptables command.  Every
 * call reads the filter table once (`iptables -S`), compares what it finds
 * with what it wants rule by rule in iptables' own printed form, and makes
 * all its changes in one `iptables-restore --noflush` transaction: a chain
 * that differs is flushed and refilled inside it (atomic on both the nft
 * and the legacy backend), one that matches is left alone with its
 * counters. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/spawn.h"
#include "lib/fs.h"
#include "lib/util.h"
#include "netns/netns.h"
#include "netns/strbuf.h"

#define FW_OUT_MAX (32u << 20) /* iptables -S of a busy host */
#define FW_ERR_MAX (64u << 10)
#define FW_TIMEOUT_MS 15000
#define FW_LOCK_WAIT_S "5" /* -w: the xtables lock, inside the deadline */
#define COMMENT_MAX 255    /* xt_comment keeps 256 bytes with the NUL */

void kk_netns_egress_chain(const char *realm, const char *space, char out[KK_NETNS_EGRESS_CHAIN_MAX]) {
  cleanup_free char *key = kk_asprintf("%s/%s", realm, space);
  snprintf(out, KK_NETNS_EGRESS_CHAIN_MAX, "KUKE-EGR-%08x", kk_fnv1a32(key));
}

/* ------------------------------------------------------------ exec */

/* The programs of one call: iptables and its -restore twin. */
struct fw_bins {
  char *iptables, *restore;
  int timeout_ms;
};

static void fw_bins_free(struct fw_bins *b) {
  free(b->iptables);
  free(b->restore);
}

/* 0, or KK_NETNS_FW_MISSING when either program is not there. */
static int fw_bins_find(const struct kk_netns_fw *fw, struct fw_bins *b) {
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
static int fw_exec(const struct fw_bins *b, const char *bin, const char *const *argv, const char *input, char **out,
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

/* The whole filter table as `iptables -S` prints it. */
static int fw_snapshot(const struct fw_bins *b, char **out, kk_err_t *err) {
  const char *argv[] = {"iptables", "-w", FW_LOCK_WAIT_S, "-t", "filter", "-S", NULL};
  return fw_exec(b, b->iptables, argv, NULL, out, err);
}

/* What one call changes, in the order iptables-restore needs: chain
 * declarations, rule lines, then chain deletions (after every jump to
 * them is gone). */
struct fw_plan {
  const char *snap;
  struct kk_sbuf decl, rules, del;
};

/* One transaction; nothing to do is no exec. */
static int fw_commit(const struct fw_bins *b, const struct fw_plan *p, kk_err_t *err) {
  if (p->decl.len == 0 && p->rules.len == 0 && p->del.len == 0)
    return 0;
  cleanup_free char *in = kk_asprintf("*filter\n%s%s%sCOMMIT\n", p->decl.s ? p->decl.s : "",
                                      p->rules.s ? p->rules.s : "", p->del.s ? p->del.s : "");
  const char *argv[] = {"iptables-restore", "-w", FW_LOCK_WAIT_S, "--noflush", NULL};
  return fw_exec(b, b->restore, argv, in, NULL, err);
}

/* ------------------------------------------------------------ snapshot */

static bool snap_has(const char *snap, const char *line) {
  size_t n = strlen(line);
  for (const char *p = snap; (p = strstr(p, line)) != NULL; p += n)
    if ((p == snap || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0'))
      return true;
  return false;
}

static bool snap_has_chain(const char *snap, const char *chain) {
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
static void plan_chain(struct fw_plan *p, const char *chain, const char *want) {
  cleanup_sbuf struct kk_sbuf cur = {0};
  snap_rules(p->snap, chain, &cur);
  if (snap_has_chain(p->snap, chain) && kk_streq(cur.s ? cur.s : "", want))
    return;
  kk_sb_printf(&p->decl, ":%s - [0:0]\n", chain);
  kk_sb_add(&p->rules, want);
}

/* A jump from FORWARD, first or last, unless one is there. */
static void plan_jump(const char *snap, const char *target, bool first, struct kk_sbuf *rules) {
  cleanup_free char *line = kk_asprintf("-A FORWARD -j %s", target);
  if (!snap_has(snap, line))
    kk_sb_printf(rules, first ? "-I FORWARD 1 -j %s\n" : "%s\n", first ? target : line);
}

/* Every rule of chain whose text contains needle, as a "-D" line. */
static void plan_delete_matching(const char *snap, const char *chain, const char *needle, const char *keep,
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

/* ------------------------------------------------------------ rendering */

/* Names and comments go into iptables-restore's input: letters, digits and
 * . _ - : / = [ ] only (model/ validates the names more strictly). */
static bool safe_text(const char *s) {
  for (; *s; s++)
    if (!isalnum((unsigned char)*s) && !strchr("._-:/=[]+", *s))
      return false;
  return true;
}

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

/* host's IPv4 addresses, host order, sorted and unique (a DNS answer in
 * another order must not rewrite the chain). */
static int resolve_v4(const char *host, uint32_t **out, size_t *n, kk_err_t *err) {
  struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *res = NULL;
  int rc = getaddrinfo(host, NULL, &hints, &res);
  if (rc != 0)
    return kk_error_kind(err, KK_ERR_UNAVAILABLE, 0, "egress host %s: %s", host,
                         rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
  size_t cnt = 0;
  for (struct addrinfo *a = res; a; a = a->ai_next)
    cnt++;
  uint32_t *v = kk_xmalloc((cnt ? cnt : 1) * sizeof(*v));
  size_t k = 0;
  for (struct addrinfo *a = res; a; a = a->ai_next)
    v[k++] = ntohl(((struct sockaddr_in *)a->ai_addr)->sin_addr.s_addr);
  freeaddrinfo(res);
  qsort(v, k, sizeof(*v), cmp_u32);
  size_t u = 0;
  for (size_t i = 0; i < k; i++)
    if (u == 0 || v[u - 1] != v[i])
      v[u++] = v[i];
  *out = v;
  *n = u;
  return 0;
}

/* "-d a.b.c.d/p " as iptables prints it (host bits cleared, /0 left out). */
static char *dest_arg(uint32_t addr, int prefix) {
  if (prefix == 0)
    return kk_xstrdup("");
  uint32_t mask = prefix == 32 ? 0xffffffffu : ~(0xffffffffu >> prefix);
  struct in_addr a = {.s_addr = htonl(addr & mask)};
  char ip[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &a, ip, sizeof(ip));
  return kk_asprintf("-d %s/%d ", ip, prefix);
}

/* One rule per port (or one without ports) to dest. */
static void render_accepts(struct kk_sbuf *b, const char *chain, const char *dest, const struct kk_i64v *ports,
                           const char *comment) {
  for (size_t p = 0; p < (ports->n ? ports->n : 1); p++) {
    cleanup_free char *port = ports->n ? kk_asprintf("-p tcp -m tcp --dport %lld ", (long long)ports->v[p])
                                       : kk_xstrdup("");
    kk_sb_printf(b, "-A %s %s%s-m comment --comment \"%.*s\" -j ACCEPT\n", chain, dest, port, COMMENT_MAX, comment);
  }
}

static int render_allow(struct kk_sbuf *b, const char *chain, const char *prefix, size_t i, const struct kk_egress_rule *r,
                        kk_err_t *err) {
  if (!kk_empty(r->cidr)) {
    uint32_t addr;
    int plen;
    if (!kk_ipv4_cidr_valid(r->cidr, &addr, &plen))
      return kk_error_kind(err, KK_ERR_INVALID, 0, "egress allow rule cidr is not a valid CIDR: %s", r->cidr);
    cleanup_free char *comment = kk_asprintf("%s:allow[%zu]:cidr=%s", prefix, i, r->cidr);
    cleanup_free char *dest = dest_arg(addr, plen);
    render_accepts(b, chain, dest, &r->ports, comment);
    return 0;
  }
  if (!kk_dns_name_valid(r->host))
    return kk_error_kind(err, KK_ERR_INVALID, 0, "egress allow rule host is not a valid dns name: %s",
                         r->host ? r->host : "");
  cleanup_free uint32_t *addrs = NULL;
  size_t n = 0;
  if (resolve_v4(r->host, &addrs, &n, err) < 0)
    return -1;
  cleanup_free char *comment = kk_asprintf("%s:allow[%zu]:host=%s", prefix, i, r->host);
  for (size_t k = 0; k < n; k++) {
    cleanup_free char *dest = dest_arg(addrs[k], 32);
    render_accepts(b, chain, dest, &r->ports, comment);
  }
  return 0;
}

int kk_netns_egress_render(const struct kk_netns_egress *eg, char **out, kk_err_t *err) {
  if (!safe_text(eg->realm) || !safe_text(eg->space) || kk_empty(eg->bridge) || !safe_text(eg->bridge))
    return kk_error_kind(err, KK_ERR_INVALID, 0, "egress of %s/%s: bad realm, space or bridge name", eg->realm,
                         eg->space);
  char chain[KK_NETNS_EGRESS_CHAIN_MAX];
  kk_netns_egress_chain(eg->realm, eg->space, chain);
  cleanup_free char *prefix = kk_asprintf("kukeon:%s:%s", eg->realm, eg->space);
  cleanup_sbuf struct kk_sbuf b = {0};
  kk_sb_printf(&b, "-A %s -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment \"%.*s:established\" -j ACCEPT\n",
            chain, COMMENT_MAX - 12, prefix);
  for (size_t i = 0; i < eg->n_allow; i++)
    if (render_allow(&b, chain, prefix, i, &eg->allow[i], err) < 0)
      return -1;
  kk_sb_printf(&b, "-A %s -m comment --comment \"%.*s:default\" -j %s\n", chain, COMMENT_MAX - 8, prefix,
            kk_streq(eg->default_, "deny") ? "DROP" : "ACCEPT");
  *out = kk_steal(&b.s);
  return 0;
}

/* ------------------------------------------------------------ calls */

static const char FORWARD_RULES[] =
    "-A " KK_NETNS_FORWARD_CHAIN " -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment "
    "\"kukeon-forward:established\" -j ACCEPT\n"
    "-A " KK_NETNS_FORWARD_CHAIN " ! -i k-+ -o k-+ -m comment --comment \"kukeon-forward:ingress\" -j ACCEPT\n";

/* Finds the programs, reads the table, lets plan say what changes and
 * commits it: 0, KK_NETNS_FW_MISSING or < 0. */
typedef int (*fw_plan_fn)(struct fw_plan *p, const struct fw_bins *b, void *arg, kk_err_t *err);

static int fw_run(const struct kk_netns_fw *fw, fw_plan_fn plan, void *arg, kk_err_t *err) {
  KK_CLEANUP(fw_bins_free) struct fw_bins b = {0};
  if (fw_bins_find(fw, &b) != 0)
    return KK_NETNS_FW_MISSING;
  cleanup_free char *snap = NULL;
  if (fw_snapshot(&b, &snap, err) < 0)
    return -1;
  struct fw_plan p = {.snap = snap};
  int rc = plan(&p, &b, arg, err);
  if (rc == 0)
    rc = fw_commit(&b, &p, err);
  kk_sb_free(&p.decl);
  kk_sb_free(&p.rules);
  kk_sb_free(&p.del);
  return rc;
}

static int plan_forward(struct fw_plan *p, const struct fw_bins *b, void *arg, kk_err_t *err) {
  plan_chain(p, KK_NETNS_FORWARD_CHAIN, FORWARD_RULES);
  plan_jump(p->snap, KK_NETNS_FORWARD_CHAIN, false, &p->rules);
  return 0;
}

int kk_netns_fw_ensure_forward(const struct kk_netns_fw *fw, kk_err_t *err) {
  int rc = fw_run(fw, plan_forward, NULL, err);
  return rc < 0 ? kk_error_wrap(err, "firewall admission chain") : rc;
}

struct space_want {
  const struct kk_netns_egress *eg;
  const char *rules;
};

static int plan_space(struct fw_plan *p, const struct fw_bins *b, void *arg, kk_err_t *err) {
  const struct space_want *w = arg;
  char chain[KK_NETNS_EGRESS_CHAIN_MAX];
  kk_netns_egress_chain(w->eg->realm, w->eg->space, chain);
  if (!snap_has_chain(p->snap, KK_NETNS_EGRESS_CHAIN))
    kk_sb_printf(&p->decl, ":%s - [0:0]\n", KK_NETNS_EGRESS_CHAIN);
  plan_jump(p->snap, KK_NETNS_EGRESS_CHAIN, true, &p->rules);
  /* The chain is refilled before a new dispatch rule reaches it, all in
   * one transaction. */
  plan_chain(p, chain, w->rules);
  cleanup_free char *tag = kk_asprintf("\"kukeon:%s:%s:dispatch\"", w->eg->realm, w->eg->space);
  cleanup_free char *dispatch =
      kk_asprintf("-A %s -i %s -m comment --comment %s -j %s", KK_NETNS_EGRESS_CHAIN, w->eg->bridge, tag, chain);
  bool kept = false;
  plan_delete_matching(p->snap, KK_NETNS_EGRESS_CHAIN, tag, dispatch, &p->rules, &kept);
  if (!kept)
    kk_sb_printf(&p->rules, "%s\n", dispatch);
  return 0;
}

int kk_netns_egress_ensure(const struct kk_netns_fw *fw, const struct kk_netns_egress *eg, kk_err_t *err) {
  cleanup_free char *rules = NULL;
  struct space_want w = {eg, NULL};
  int rc = kk_netns_egress_render(eg, &rules, err);
  if (rc == 0) {
    w.rules = rules;
    rc = fw_run(fw, plan_space, &w, err);
  }
  return rc < 0 ? kk_error_wrap(err, "egress of space %s/%s", eg->realm, eg->space) : rc;
}

/* Packets the chain's default DROP counted (`-v -S` prints "-c pkts bytes"). */
static uint64_t drop_count(const struct fw_bins *b, const char *chain) {
  const char *argv[] = {"iptables", "-w", FW_LOCK_WAIT_S, "-t", "filter", "-v", "-S", chain, NULL};
  cleanup_free char *out = NULL;
  kk_err_t e = NULL;
  if (fw_exec(b, b->iptables, argv, NULL, &out, &e) < 0) {
    kk_error_free(&e);
    return 0;
  }
  const char *p = strstr(out, ":default\" -c ");
  unsigned long long pk = 0;
  if (p && strstr(p, "-j DROP") && sscanf(p, ":default\" -c %llu", &pk) == 1)
    return pk;
  return 0;
}

/* -F then (last) -X of chain when it exists. */
static void plan_drop_chain(struct fw_plan *p, const char *chain) {
  if (!snap_has_chain(p->snap, chain))
    return;
  kk_sb_printf(&p->rules, "-F %s\n", chain);
  kk_sb_printf(&p->del, "-X %s\n", chain);
}

struct space_gone {
  const char *realm, *space;
  uint64_t dropped;
};

static int plan_remove(struct fw_plan *p, const struct fw_bins *b, void *arg, kk_err_t *err) {
  struct space_gone *g = arg;
  char chain[KK_NETNS_EGRESS_CHAIN_MAX];
  kk_netns_egress_chain(g->realm, g->space, chain);
  if (snap_has_chain(p->snap, chain))
    g->dropped = drop_count(b, chain);
  cleanup_free char *target = kk_asprintf("-j %s", chain);
  bool kept = false;
  plan_delete_matching(p->snap, KK_NETNS_EGRESS_CHAIN, target, NULL, &p->rules, &kept);
  plan_drop_chain(p, chain);
  return 0;
}

int kk_netns_egress_remove(const struct kk_netns_fw *fw, const char *realm, const char *space, uint64_t *dropped,
                           kk_err_t *err) {
  struct space_gone g = {realm, space, 0};
  int rc = fw_run(fw, plan_remove, &g, err);
  if (dropped)
    *dropped = rc == 0 ? g.dropped : 0;
  return rc < 0 ? kk_error_wrap(err, "remove egress of space %s/%s", realm, space) : rc;
}

static int plan_purge(struct fw_plan *p, const struct fw_bins *b, void *arg, kk_err_t *err) {
  bool kept = false;
  plan_delete_matching(p->snap, "FORWARD", "-j " KK_NETNS_EGRESS_CHAIN, NULL, &p->rules, &kept);
  plan_delete_matching(p->snap, "FORWARD", "-j " KK_NETNS_FORWARD_CHAIN, NULL, &p->rules, &kept);
  for (const char *l = p->snap; (l = strstr(l, "-N ")) != NULL; l += 3) {
    if (l != p->snap && l[-1] != '\n')
      continue;
    cleanup_free char *chain = kk_xstrndup(l + 3, strcspn(l + 3, "\n"));
    if (kk_has_prefix(chain, "KUKE-EGR-") || kk_streq(chain, KK_NETNS_EGRESS_CHAIN) ||
        kk_streq(chain, KK_NETNS_FORWARD_CHAIN))
      plan_drop_chain(p, chain);
  }
  return 0;
}

int kk_netns_fw_purge(const struct kk_netns_fw *fw, kk_err_t *err) {
  int rc = fw_run(fw, plan_purge, NULL, err);
  return rc < 0 ? kk_error_wrap(err, "purge kukeon firewall chains") : rc;
}

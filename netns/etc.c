/* A cell's /etc/hostname, /etc/hosts and /etc/resolv.conf: rendering, and
 * the in-place writer the bind mounts need. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/fs.h"
#include "lib/util.h"
#include "netns/netns.h"
#include "netns/strbuf.h"

static void hosts_line(struct kk_sbuf *b, const char *a, const char *c) {
  kk_sb_add(b, a);
  kk_sb_addn(b, "\t", 1);
  kk_sb_add(b, c);
  kk_sb_addn(b, "\n", 1);
}

char *kk_netns_render_hostname(const char *cell) { return kk_asprintf("%s\n", cell); }

char *kk_netns_render_hosts(const char *cell, const char *ip, const struct kk_netns_host *peers, size_t n_peers) {
  static const char *const localhost[][2] = {
      {"127.0.0.1", "localhost"},   {"::1", "localhost ip6-localhost ip6-loopback"},
      {"fe00::", "ip6-localnet"},   {"ff00::", "ip6-mcastprefix"},
      {"ff02::1", "ip6-allnodes"}, {"ff02::2", "ip6-allrouters"},
  };
  struct kk_sbuf b = {0};
  for (size_t i = 0; i < KK_ARRAY_SIZE(localhost); i++)
    hosts_line(&b, localhost[i][0], localhost[i][1]);
  if (!kk_empty(ip))
    hosts_line(&b, ip, cell);
  for (size_t i = 0; i < n_peers; i++)
    if (!kk_empty(peers[i].ip) && !kk_empty(peers[i].name) && !kk_streq(peers[i].name, cell))
      hosts_line(&b, peers[i].ip, peers[i].name);
  return b.s;
}

/* The address of a "nameserver <addr>" line (start, length), or false. */
static bool nameserver_of(const char *line, size_t len, const char **addr, size_t *alen) {
  static const char kw[] = "nameserver";
  if (len <= sizeof(kw) - 1 || strncmp(line, kw, sizeof(kw) - 1) != 0 || !isblank((unsigned char)line[sizeof(kw) - 1]))
    return false;
  const char *p = line + sizeof(kw) - 1, *end = line + len;
  while (p < end && isblank((unsigned char)*p))
    p++;
  const char *q = p;
  while (q < end && !isspace((unsigned char)*q))
    q++;
  *addr = p;
  *alen = (size_t)(q - p);
  return q > p;
}

/* 127.0.0.0/8 or ::1: a resolver of the host's own namespace. */
static bool loopback_addr(const char *addr, size_t len) {
  char buf[INET6_ADDRSTRLEN + 1];
  if (len >= sizeof(buf))
    return false;
  memcpy(buf, addr, len);
  buf[len] = '\0';
  struct in_addr a4;
  struct in6_addr a6;
  if (inet_pton(AF_INET, buf, &a4) == 1)
    return (ntohl(a4.s_addr) >> 24) == 127;
  return inet_pton(AF_INET6, buf, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
}

/* Loops over the lines of text: line points at each, len excludes its newline. */
#define FOR_EACH_LINE(text, line, len)                                                                             \
  for (const char *line = (text), *_nl; line && *line; line = _nl ? _nl + 1 : NULL)                              \
    for (size_t len = ((_nl = strchr(line, '\n')) ? (size_t)(_nl - line) : strlen(line)), _once = 1; _once;        \
         _once = 0)

static bool has_nameserver(const struct kk_sbuf *b, const char *addr, size_t alen) {
  FOR_EACH_LINE(b->s, line, len) {
    const char *a;
    size_t al;
    if (nameserver_of(line, len, &a, &al) && al == alen && memcmp(a, addr, al) == 0)
      return true;
  }
  return false;
}

/* upstream's usable nameservers, after those already in b. */
static size_t add_upstream(struct kk_sbuf *b, const char *upstream) {
  size_t added = 0;
  FOR_EACH_LINE(upstream, line, len) {
    const char *a;
    size_t al;
    if (nameserver_of(line, len, &a, &al) && !loopback_addr(a, al) && !has_nameserver(b, a, al)) {
      kk_sb_addn(b, "nameserver ", 11);
      kk_sb_addn(b, a, al);
      kk_sb_addn(b, "\n", 1);
      added++;
    }
  }
  return added;
}

char *kk_netns_render_resolv(const char *host_text, const char *upstream_text) {
  struct kk_sbuf b = {0};
  kk_sb_addn(&b, "", 0);
  size_t servers = 0;
  bool dropped = false;
  FOR_EACH_LINE(host_text, line, len) {
    const char *a;
    size_t al;
    if (nameserver_of(line, len, &a, &al)) {
      if (loopback_addr(a, al)) {
        dropped = true;
        continue;
      }
      servers++;
    }
    kk_sb_addn(&b, line, len);
    kk_sb_addn(&b, "\n", 1);
  }
  if (dropped && upstream_text)
    servers += add_upstream(&b, upstream_text);
  if (servers == 0)
    add_upstream(&b, "nameserver " KK_NETNS_RESOLV_FALLBACK_1 "\nnameserver " KK_NETNS_RESOLV_FALLBACK_2 "\n");
  return b.s;
}

/* A file's text, or NULL (no error) when it does not exist. */
static int read_optional(const char *path, char **out, kk_err_t *err) {
  return kk_read_file_if_exists_at(AT_FDCWD, path, KK_NETNS_ETC_MAX, out, NULL, err);
}

static bool names_loopback(const char *text) {
  FOR_EACH_LINE(text, line, len) {
    const char *a;
    size_t al;
    if (nameserver_of(line, len, &a, &al) && loopback_addr(a, al))
      return true;
  }
  return false;
}

int kk_netns_resolv_conf(const char *host_path, const char *upstream_path, char **out, kk_err_t *err) {
  cleanup_free char *host = NULL, *upstream = NULL;
  if (read_optional(host_path ? host_path : "/etc/resolv.conf", &host, err) < 0)
    return -1;
  if (host && names_loopback(host) &&
      read_optional(upstream_path ? upstream_path : KK_NETNS_RESOLVED_UPSTREAM, &upstream, err) < 0)
    return -1;
  *out = kk_netns_render_resolv(host ? host : "", upstream);
  return 0;
}

int kk_netns_write_in_place(int dirfd, const char *name, const char *text, mode_t mode, kk_err_t *err) {
  size_t len = strlen(text);
  if (len > KK_NETNS_ETC_MAX)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "%s: %zu bytes is more than the %u allowed", name, len,
                         KK_NETNS_ETC_MAX);
  /* O_NONBLOCK: a FIFO in its place fails here instead of blocking. */
  const int flags = O_WRONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK;
  cleanup_close int fd = openat(dirfd, name, flags);
  if (fd < 0 && errno == ENOENT)
    fd = openat(dirfd, name, flags | O_CREAT | O_EXCL, mode);
  if (fd < 0)
    return kk_error(err, errno, "open %s", name);
  struct stat st;
  if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
    return kk_error_kind(err, KK_ERR_INVALID, 0, "%s: not a regular file", name);
  /* Longer text first, then the cut: a reader never sees the file empty. */
  if (kk_write_all(fd, text, len) < 0)
    return kk_error(err, errno, "write %s", name);
  if (ftruncate(fd, (off_t)len) < 0)
    return kk_error(err, errno, "truncate %s", name);
  return 0;
}

int kk_netns_write_cell_etc(int dirfd, const struct kk_netns_cell_etc *c, kk_err_t *err) {
  cleanup_free char *hostname = kk_netns_render_hostname(c->cell);
  cleanup_free char *hosts = kk_netns_render_hosts(c->cell, c->ip, c->peers, c->n_peers);
  cleanup_free char *resolv = NULL;
  if (kk_netns_resolv_conf(c->resolv_host, c->resolv_upstream, &resolv, err) < 0 ||
      kk_netns_write_in_place(dirfd, KK_NETNS_ETC_HOSTNAME, hostname, 0644, err) < 0 ||
      kk_netns_write_in_place(dirfd, KK_NETNS_ETC_HOSTS, hosts, 0644, err) < 0 ||
      kk_netns_write_in_place(dirfd, KK_NETNS_ETC_RESOLV, resolv, 0644, err) < 0)
    return kk_error_wrap(err, "/etc files of cell %s", c->cell);
  return 0;
}

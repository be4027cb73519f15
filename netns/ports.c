/* Published ports: docker's `[hostIP:]hostPort:containerPort[/proto]`, the
 * portmap plugin's runtime config, and the checks that refuse a host port
 * before the cell starts (taken by another cell, or by a socket). */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#include "lib/fs.h"
#include "lib/util.h"
#include "netns/netns.h"

#define PROC_NET_MAX (16u << 20)

static int port_err(kk_err_t *err, const char *spec, const char *why) {
  return kk_error_kind(err, KK_ERR_INVALID, 0, "port \"%s\": %s", spec, why);
}

static bool port_number(const char *s, uint16_t *out) {
  size_t n = strlen(s);
  if (n == 0 || n > 5)
    return false;
  for (size_t i = 0; i < n; i++)
    if (!isdigit((unsigned char)s[i]))
      return false;
  long v = strtol(s, NULL, 10);
  if (v < 1 || v > 65535)
    return false;
  *out = (uint16_t)v;
  return true;
}

int kk_netns_port_parse(const char *spec, struct kk_netns_port *out, kk_err_t *err) {
  memset(out, 0, sizeof(*out));
  cleanup_free char *copy = kk_xstrdup(spec);
  char *proto = strrchr(copy, '/');
  if (proto)
    *proto++ = '\0';
  if (proto && !kk_streq(proto, "tcp") && !kk_streq(proto, "udp"))
    return port_err(err, spec, "protocol must be tcp or udp");
  snprintf(out->proto, sizeof(out->proto), "%s", proto ? proto : "tcp");
  if (copy[0] == '[')
    return port_err(err, spec, "host address must be IPv4");
  char *cport = strrchr(copy, ':');
  if (cport == NULL)
    return port_err(err, spec, "a host port is required (hostPort:containerPort); "
                               "publishing on a random host port is not supported");
  *cport++ = '\0';
  char *hport = strrchr(copy, ':');
  if (hport) {
    *hport++ = '\0';
    struct in_addr a;
    if (inet_pton(AF_INET, copy, &a) != 1)
      return port_err(err, spec, "host address must be IPv4 (a.b.c.d)");
    /* Canonical text: the conflict checks compare addresses as strings. */
    if (a.s_addr != INADDR_ANY)
      inet_ntop(AF_INET, &a, out->host_ip, sizeof(out->host_ip));
  } else {
    hport = copy;
  }
  if (!port_number(hport, &out->host_port))
    return port_err(err, spec, "host port must be a number in 1-65535");
  if (!port_number(cport, &out->container_port))
    return port_err(err, spec, "container port must be a number in 1-65535");
  return 0;
}

json_t *kk_netns_portmap_json(const struct kk_netns_port *ports, size_t n) {
  json_t *a = json_array();
  for (size_t i = 0; i < n; i++)
    json_array_append_new(a, json_pack("{s:i,s:i,s:s,s:s}", "hostPort", (int)ports[i].host_port, "containerPort",
                                       (int)ports[i].container_port, "protocol", ports[i].proto, "hostIP",
                                       ports[i].host_ip));
  return a;
}

bool kk_netns_port_overlaps(const struct kk_netns_port *a, const struct kk_netns_port *b) {
  return a->host_port == b->host_port && kk_streq(a->proto, b->proto) &&
         (a->host_ip[0] == '\0' || b->host_ip[0] == '\0' || kk_streq(a->host_ip, b->host_ip));
}

static int port_conflict(kk_err_t *err, const struct kk_netns_port *p, const char *where) {
  return kk_error_kind(err, KK_ERR_CONFLICT, 0, "host port %u/%s is already %s", p->host_port, p->proto, where);
}

int kk_netns_ports_check_taken(const struct kk_netns_port *want, size_t n, const struct kk_netns_port_taken *taken,
                               size_t n_taken, kk_err_t *err) {
  for (size_t i = 0; i < n; i++) {
    for (size_t j = 0; j < i; j++)
      if (kk_netns_port_overlaps(&want[i], &want[j]))
        return port_conflict(err, &want[i], "published by another mapping of this cell");
    for (size_t j = 0; j < n_taken; j++)
      if (kk_netns_port_overlaps(&want[i], &taken[j].port)) {
        cleanup_free char *by = kk_asprintf("published by cell %s", taken[j].cell);
        return port_conflict(err, &want[i], by);
      }
  }
  return 0;
}

/* The kernel prints each 32-bit word of an address as it lies in memory,
 * read as a native integer: reading it back the same way gives the bytes. */
static bool proc_addr(const char *hex, bool v6, struct in6_addr *a) {
  size_t words = v6 ? 4 : 1;
  if (strlen(hex) != words * 8)
    return false;
  uint32_t w[4] = {0};
  for (size_t i = 0; i < words; i++) {
    char part[9];
    memcpy(part, hex + i * 8, 8);
    part[8] = '\0';
    w[i] = (uint32_t)strtoul(part, NULL, 16);
  }
  memset(a, 0, sizeof(*a));
  if (v6) {
    memcpy(a->s6_addr, w, 16);
  } else { /* as ::ffff:a.b.c.d */
    a->s6_addr[10] = a->s6_addr[11] = 0xff;
    memcpy(a->s6_addr + 12, w, 4);
  }
  return true;
}

/* Whether a socket bound to addr would take traffic for want's address. */
static bool addr_hits(const struct in6_addr *sock, const char *want_ip) {
  static const struct in6_addr any4 = {{{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 0}}};
  if (IN6_IS_ADDR_UNSPECIFIED(sock) || memcmp(sock, &any4, sizeof(any4)) == 0 || want_ip[0] == '\0')
    return true;
  struct in_addr w;
  return inet_pton(AF_INET, want_ip, &w) == 1 && IN6_IS_ADDR_V4MAPPED(sock) && memcmp(sock->s6_addr + 12, &w, 4) == 0;
}

bool kk_netns_proc_net_binds(const char *text, bool v6, bool udp, const struct kk_netns_port *p) {
  /* TCP_LISTEN for tcp; TCP_CLOSE is how an unconnected bound udp socket shows. */
  const unsigned want_state = udp ? 0x07 : 0x0A;
  const char *line = strchr(text, '\n'); /* the header */
  while (line && *++line) {
    char hex[33];
    unsigned port, state;
    if (sscanf(line, " %*u: %32[0-9A-Fa-f]:%x %*s %x", hex, &port, &state) == 3 && port == p->host_port &&
        state == want_state) {
      struct in6_addr a;
      if (proc_addr(hex, v6, &a) && addr_hits(&a, p->host_ip))
        return true;
    }
    line = strchr(line, '\n');
  }
  return false;
}

static void free_texts(char *(*texts)[4]) {
  for (size_t i = 0; i < 4; i++)
    free((*texts)[i]);
}

int kk_netns_ports_check_host(const struct kk_netns_port *want, size_t n, const char *proc, kk_err_t *err) {
  static const char *const files[] = {"tcp", "tcp6", "udp", "udp6"};
  KK_CLEANUP(free_texts) char *texts[4] = {0};
  for (size_t f = 0; f < 4 && n > 0; f++) {
    cleanup_free char *path = kk_asprintf("%s/net/%s", proc ? proc : "/proc/self", files[f]);
    kk_err_t e = NULL;
    /* procfs files report size 0: read up to the bound. */
    cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT)
      continue;
    if (fd < 0)
      return kk_error(err, errno, "open %s", path);
    if (kk_read_fd(fd, PROC_NET_MAX, path, &texts[f], NULL, &e) < 0) {
      *err = e;
      return -1;
    }
  }
  for (size_t i = 0; i < n; i++)
    for (size_t f = 0; f < 4; f++)
      if (texts[f] && kk_streq(want[i].proto, f < 2 ? "tcp" : "udp") &&
          kk_netns_proc_net_binds(texts[f], f % 2 == 1, f >= 2, &want[i]))
        return port_conflict(err, &want[i], "in use on the host");
  return 0;
}

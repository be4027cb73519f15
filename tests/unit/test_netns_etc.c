/* netns/: the pure parts of names, published ports and egress: /etc file
 * rendering, the in-place writer, port parsing and conflicts (against
 * fake /proc/net text), the egress chain's rules. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/error.h"
#include "lib/fs.h"
#include "lib/util.h"
#include "netns/netns.h"
#include "tests/unit/unit.h"

static const char LOCALHOST[] = "127.0.0.1\tlocalhost\n"
                                "::1\tlocalhost ip6-localhost ip6-loopback\n"
                                "fe00::\tip6-localnet\n"
                                "ff00::\tip6-mcastprefix\n"
                                "ff02::1\tip6-allnodes\n"
                                "ff02::2\tip6-allrouters\n";

START_TEST(hostname_and_hosts) {
  cleanup_free char *hn = kk_netns_render_hostname("web");
  ck_assert_str_eq(hn, "web\n");
  const struct kk_netns_host peers[] = {
      {"db", "10.88.0.3"}, {"web", "10.88.0.9"}, {"starting", ""}, {"cache", NULL}, {"worker", "10.88.0.4"}};
  cleanup_free char *h = kk_netns_render_hosts("web", "10.88.0.2", peers, KK_ARRAY_SIZE(peers));
  cleanup_free char *want = kk_asprintf("%s10.88.0.2\tweb\n10.88.0.3\tdb\n10.88.0.4\tworker\n", LOCALHOST);
  ck_assert_str_eq(h, want);
  /* Before CNI ADD: no address, no line of its own. */
  cleanup_free char *bare = kk_netns_render_hosts("web", NULL, NULL, 0);
  ck_assert_str_eq(bare, LOCALHOST);
}
END_TEST

START_TEST(resolv_replaces_loopback) {
  static const char stub[] = "# This is /run/systemd/resolve/stub-resolv.conf\n"
                             "nameserver 127.0.0.53\n"
                             "options edns0 trust-ad\n"
                             "search lan example.com\n";
  static const char upstream[] = "nameserver 192.0.2.1\nnameserver 127.0.0.1\nnameserver 2001:db8::1\nsearch lan\n";
  cleanup_free char *a = kk_netns_render_resolv(stub, upstream);
  ck_assert_str_eq(a, "# This is /run/systemd/resolve/stub-resolv.conf\n"
                      "options edns0 trust-ad\n"
                      "search lan example.com\n"
                      "nameserver 192.0.2.1\n"
                      "nameserver 2001:db8::1\n");
  /* No upstream list: the documented fallbacks. */
  cleanup_free char *b = kk_netns_render_resolv(stub, NULL);
  ck_assert_str_eq(b, "# This is /run/systemd/resolve/stub-resolv.conf\n"
                      "options edns0 trust-ad\n"
                      "search lan example.com\n"
                      "nameserver " KK_NETNS_RESOLV_FALLBACK_1 "\n"
                      "nameserver " KK_NETNS_RESOLV_FALLBACK_2 "\n");
  /* An upstream of loopbacks only is no upstream. */
  cleanup_free char *c = kk_netns_render_resolv("nameserver ::1\n", "nameserver 127.0.0.1\n");
  ck_assert_str_eq(c, "nameserver 1.1.1.1\nnameserver 8.8.8.8\n");
  /* A usable server stays; upstream ones join it once. */
  cleanup_free char *d =
      kk_netns_render_resolv("nameserver 127.0.1.1\nnameserver\t198.51.100.7\n", "nameserver 198.51.100.7\n"
                                                                                   "nameserver 192.0.2.1\n");
  ck_assert_str_eq(d, "nameserver\t198.51.100.7\nnameserver 192.0.2.1\n");
  /* Nothing loopback: the host's file as it is (no newline at the end added). */
  cleanup_free char *e = kk_netns_render_resolv("nameserver 192.0.2.53\nsearch x\noptions ndots:2", "nameserver 1.2.3.4\n");
  ck_assert_str_eq(e, "nameserver 192.0.2.53\nsearch x\noptions ndots:2\n");
  /* "nameservers" is not "nameserver"; an empty file gets the fallbacks. */
  cleanup_free char *f = kk_netns_render_resolv("nameservers 127.0.0.1\n", NULL);
  ck_assert_str_eq(f, "nameservers 127.0.0.1\nnameserver 1.1.1.1\nnameserver 8.8.8.8\n");
}
END_TEST

static char *temp_dir(void) {
  char *d = kk_xstrdup("/tmp/kk-netns-etc.XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(d));
  return d;
}

static void put(const char *dir, const char *name, const char *text) {
  cleanup_free char *p = kk_asprintf("%s/%s", dir, name);
  FILE *f = fopen(p, "we");
  ck_assert_ptr_nonnull(f);
  fputs(text, f);
  fclose(f);
}

static void rm_dir(const char *dir) {
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  kk_err_t e = NULL;
  if (fd >= 0 && kk_rm_rf_children(fd, &e) < 0)
    kk_error_free(&e);
  if (fd >= 0)
    close(fd);
  rmdir(dir);
}

START_TEST(resolv_from_files) {
  cleanup_free char *d = temp_dir();
  cleanup_free char *host = kk_asprintf("%s/resolv.conf", d), *up = kk_asprintf("%s/upstream.conf", d);
  cleanup_free char *missing = kk_asprintf("%s/none", d);
  put(d, "resolv.conf", "nameserver 127.0.0.53\nsearch lan\n");
  put(d, "upstream.conf", "nameserver 203.0.113.9\n");
  kk_err_t err = NULL;
  char *out = NULL;
  ck_assert_int_eq(kk_netns_resolv_conf(host, up, &out, &err), 0);
  ck_assert_str_eq(out, "search lan\nnameserver 203.0.113.9\n");
  free(out);
  ck_assert_int_eq(kk_netns_resolv_conf(host, missing, &out, &err), 0);
  ck_assert_str_eq(out, "search lan\nnameserver 1.1.1.1\nnameserver 8.8.8.8\n");
  free(out);
  ck_assert_int_eq(kk_netns_resolv_conf(missing, up, &out, &err), 0);
  ck_assert_str_eq(out, "nameserver 1.1.1.1\nnameserver 8.8.8.8\n");
  free(out);
  rm_dir(d);
}
END_TEST

START_TEST(write_in_place_keeps_inode) {
  cleanup_free char *d = temp_dir();
  int dfd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  kk_err_t err = NULL;
  ck_assert_int_eq(kk_netns_write_in_place(dfd, "hosts", "a long first version\n", 0644, &err), 0);
  struct stat a, b;
  ck_assert_int_eq(fstatat(dfd, "hosts", &a, 0), 0);
  ck_assert_uint_eq(a.st_mode & 07777, 0644);
  ck_assert_int_eq(kk_netns_write_in_place(dfd, "hosts", "short\n", 0600, &err), 0);
  ck_assert_int_eq(fstatat(dfd, "hosts", &b, 0), 0);
  ck_assert(a.st_ino == b.st_ino);
  char *text = NULL;
  ck_assert_int_eq(kk_read_file_at(dfd, "hosts", 1024, &text, NULL, &err), 0);
  ck_assert_str_eq(text, "short\n");
  free(text);
  /* A symlink is not followed; an oversized text changes nothing. */
  ck_assert_int_eq(symlinkat("hosts", dfd, "link"), 0);
  ck_assert_int_lt(kk_netns_write_in_place(dfd, "link", "x\n", 0644, &err), 0);
  kk_error_free(&err);
  ck_assert_int_eq(mkfifoat(dfd, "fifo", 0600), 0); /* refused, not waited on */
  ck_assert_int_lt(kk_netns_write_in_place(dfd, "fifo", "x\n", 0644, &err), 0);
  kk_error_free(&err);
  cleanup_free char *big = kk_xmalloc(KK_NETNS_ETC_MAX + 2);
  memset(big, 'x', KK_NETNS_ETC_MAX + 1);
  big[KK_NETNS_ETC_MAX + 1] = '\0';
  ck_assert_int_lt(kk_netns_write_in_place(dfd, "hosts", big, 0644, &err), 0);
  ck_assert_int_eq(err->kind, KK_ERR_INVALID);
  kk_error_free(&err);
  ck_assert_int_eq(kk_read_file_at(dfd, "hosts", 1024, &text, NULL, &err), 0);
  ck_assert_str_eq(text, "short\n");
  free(text);
  close(dfd);
  rm_dir(d);
}
END_TEST

START_TEST(cell_etc_files) {
  cleanup_free char *d = temp_dir();
  put(d, "host-resolv", "nameserver 127.0.0.53\nsearch lan\n");
  put(d, "upstream", "nameserver 192.0.2.53\n");
  cleanup_free char *rh = kk_asprintf("%s/host-resolv", d), *ru = kk_asprintf("%s/upstream", d);
  int dfd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  const struct kk_netns_host peers[] = {{"db", "10.88.0.3"}};
  struct kk_netns_cell_etc c = {"web", NULL, peers, 1, rh, ru};
  kk_err_t err = NULL;
  ck_assert_int_eq(kk_netns_write_cell_etc(dfd, &c, &err), 0);
  struct stat before, after;
  ck_assert_int_eq(fstatat(dfd, KK_NETNS_ETC_HOSTS, &before, 0), 0);
  c.ip = "10.88.0.2"; /* CNI ADD answered */
  ck_assert_int_eq(kk_netns_write_cell_etc(dfd, &c, &err), 0);
  ck_assert_int_eq(fstatat(dfd, KK_NETNS_ETC_HOSTS, &after, 0), 0);
  ck_assert(before.st_ino == after.st_ino);
  char *text = NULL;
  ck_assert_int_eq(kk_read_file_at(dfd, KK_NETNS_ETC_HOSTNAME, 1024, &text, NULL, &err), 0);
  ck_assert_str_eq(text, "web\n");
  free(text);
  ck_assert_int_eq(kk_read_file_at(dfd, KK_NETNS_ETC_HOSTS, 4096, &text, NULL, &err), 0);
  cleanup_free char *want = kk_asprintf("%s10.88.0.2\tweb\n10.88.0.3\tdb\n", LOCALHOST);
  ck_assert_str_eq(text, want);
  free(text);
  ck_assert_int_eq(kk_read_file_at(dfd, KK_NETNS_ETC_RESOLV, 1024, &text, NULL, &err), 0);
  ck_assert_str_eq(text, "search lan\nnameserver 192.0.2.53\n");
  free(text);
  close(dfd);
  rm_dir(d);
}
END_TEST

static void port_ok(const char *spec, const char *ip, unsigned hp, unsigned cp, const char *proto) {
  struct kk_netns_port p;
  kk_err_t err = NULL;
  ck_assert_msg(kk_netns_port_parse(spec, &p, &err) == 0, "%s: %s", spec, err ? err->msg : "");
  ck_assert_str_eq(p.host_ip, ip);
  ck_assert_uint_eq(p.host_port, hp);
  ck_assert_uint_eq(p.container_port, cp);
  ck_assert_str_eq(p.proto, proto);
}

static void port_bad(const char *spec, const char *why) {
  struct kk_netns_port p;
  kk_err_t err = NULL;
  ck_assert_msg(kk_netns_port_parse(spec, &p, &err) < 0, "%s accepted", spec);
  ck_assert_int_eq(err->kind, KK_ERR_INVALID);
  cleanup_free char *want = kk_asprintf("port \"%s\": %s", spec, why);
  ck_assert_msg(strstr(err->msg, want), "%s: got %s", spec, err->msg);
  kk_error_free(&err);
}

START_TEST(port_parsing) {
  port_ok("8080:80", "", 8080, 80, "tcp");
  port_ok("8080:80/tcp", "", 8080, 80, "tcp");
  port_ok("127.0.0.1:53:5353/udp", "127.0.0.1", 53, 5353, "udp");
  port_ok("0.0.0.0:1:65535", "", 1, 65535, "tcp");
  port_bad("80", "a host port is required (hostPort:containerPort)");
  port_bad("80/udp", "a host port is required");
  port_bad("8080:80/sctp", "protocol must be tcp or udp");
  port_bad("8080:80/", "protocol must be tcp or udp");
  port_bad("x:80", "host port must be a number in 1-65535");
  port_bad(":80", "host port must be a number in 1-65535");
  port_bad("0:80", "host port must be a number in 1-65535");
  port_bad("8080:65536", "container port must be a number in 1-65535");
  port_bad("8080:", "container port must be a number in 1-65535");
  port_bad("8080:+80", "container port must be a number in 1-65535");
  port_bad("[::1]:80:80", "host address must be IPv4");
  port_bad("1.2.3:80:80", "host address must be IPv4");
  port_bad("a:b:80:80", "host address must be IPv4");
  port_bad("", "a host port is required");
}
END_TEST

START_TEST(portmap_json) {
  struct kk_netns_port p[2];
  kk_err_t err = NULL;
  ck_assert_int_eq(kk_netns_port_parse("8080:80", &p[0], &err), 0);
  ck_assert_int_eq(kk_netns_port_parse("192.0.2.1:5353:53/udp", &p[1], &err), 0);
  json_t *j = kk_netns_portmap_json(p, 2);
  cleanup_free char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref(j);
  ck_assert_str_eq(s, "[{\"hostPort\":8080,\"containerPort\":80,\"protocol\":\"tcp\",\"hostIP\":\"\"},"
                      "{\"hostPort\":5353,\"containerPort\":53,\"protocol\":\"udp\",\"hostIP\":\"192.0.2.1\"}]");
  j = kk_netns_portmap_json(NULL, 0);
  cleanup_free char *empty = json_dumps(j, JSON_COMPACT);
  json_decref(j);
  ck_assert_str_eq(empty, "[]");
}
END_TEST

static struct kk_netns_port P(const char *spec) {
  struct kk_netns_port p;
  kk_err_t err = NULL;
  ck_assert_int_eq(kk_netns_port_parse(spec, &p, &err), 0);
  return p;
}

START_TEST(ports_taken_by_cells) {
  const struct kk_netns_port_taken taken[] = {{"web", P("8080:80")}, {"dns", P("127.0.0.1:53:53/udp")}};
  kk_err_t err = NULL;
  struct kk_netns_port want[2] = {P("8080:8080")};
  ck_assert_int_lt(kk_netns_ports_check_taken(want, 1, taken, 2, &err), 0);
  ck_assert_int_eq(err->kind, KK_ERR_CONFLICT);
  ck_assert_str_eq(err->msg, "host port 8080/tcp is already published by cell web");
  kk_error_free(&err);
  /* Another protocol, another address, another port: free. */
  want[0] = P("8080:80/udp");
  want[1] = P("53:53/tcp");
  ck_assert_int_eq(kk_netns_ports_check_taken(want, 2, taken, 2, &err), 0);
  want[0] = P("192.0.2.1:53:53/udp");
  ck_assert_int_eq(kk_netns_ports_check_taken(want, 1, taken, 2, &err), 0);
  /* Every address overlaps 127.0.0.1. */
  want[0] = P("53:5353/udp");
  ck_assert_int_lt(kk_netns_ports_check_taken(want, 1, taken, 2, &err), 0);
  ck_assert_str_eq(err->msg, "host port 53/udp is already published by cell dns");
  kk_error_free(&err);
  /* Twice in one cell. */
  want[0] = P("9000:80");
  want[1] = P("127.0.0.1:9000:81");
  ck_assert_int_lt(kk_netns_ports_check_taken(want, 2, NULL, 0, &err), 0);
  ck_assert_str_eq(err->msg, "host port 9000/tcp is already published by another mapping of this cell");
  kk_error_free(&err);
}
END_TEST

/* As the kernel prints them on a little-endian machine (this suite's). */
static const char PROC_TCP[] =
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
    "   0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0\n"
    "   1: 0100007F:2382 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2 1 0 100 0 0 10 0\n"
    "   2: 0100007F:0050 0100007F:A1B2 01 00000000:00000000 00:00000000 00000000     0        0 3 1 0 100 0 0 10 0\n";
static const char PROC_TCP6[] =
    "  sl  local_address                         remote_address                        st\n"
    "   0: 00000000000000000000000000000000:1A0A 00000000000000000000000000000000:0000 0A 0\n"
    "   1: 0000000000000000FFFF00000100007F:1A0B 00000000000000000000000000000000:0000 0A 0\n";
static const char PROC_UDP[] =
    "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n"
    "  1: 3500007F:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000   101        0 4 2 0 0\n";

START_TEST(proc_net_parsing) {
  struct kk_netns_port p = P("8080:80");
  ck_assert(kk_netns_proc_net_binds(PROC_TCP, false, false, &p)); /* 0.0.0.0:8080 */
  p = P("192.0.2.1:8080:80");
  ck_assert(kk_netns_proc_net_binds(PROC_TCP, false, false, &p)); /* wildcard socket */
  p = P("9090:80");
  ck_assert(kk_netns_proc_net_binds(PROC_TCP, false, false, &p)); /* 127.0.0.1:9090, every address wanted */
  p = P("127.0.0.1:9090:80");
  ck_assert(kk_netns_proc_net_binds(PROC_TCP, false, false, &p));
  p = P("192.0.2.1:9090:80");
  ck_assert(!kk_netns_proc_net_binds(PROC_TCP, false, false, &p)); /* another address */
  p = P("80:80");
  ck_assert(!kk_netns_proc_net_binds(PROC_TCP, false, false, &p)); /* an established socket, not a listener */
  p = P("6666:80");
  ck_assert(kk_netns_proc_net_binds(PROC_TCP6, true, false, &p)); /* [::]:6666 */
  p = P("127.0.0.1:6667:80");
  ck_assert(kk_netns_proc_net_binds(PROC_TCP6, true, false, &p)); /* [::ffff:127.0.0.1]:6667 */
  p = P("192.0.2.1:6667:80");
  ck_assert(!kk_netns_proc_net_binds(PROC_TCP6, true, false, &p));
  p = P("53:53/udp");
  ck_assert(kk_netns_proc_net_binds(PROC_UDP, false, true, &p)); /* 127.0.0.53:53 */
  p = P("192.0.2.1:53:53/udp");
  ck_assert(!kk_netns_proc_net_binds(PROC_UDP, false, true, &p));
  ck_assert(!kk_netns_proc_net_binds("", false, false, &p));
  ck_assert(!kk_netns_proc_net_binds("header only", false, false, &p));
}
END_TEST

START_TEST(ports_taken_on_host) {
  cleanup_free char *d = temp_dir();
  cleanup_free char *net = kk_asprintf("%s/net", d);
  ck_assert_int_eq(mkdir(net, 0755), 0);
  put(net, "tcp", PROC_TCP);
  put(net, "udp", PROC_UDP); /* no tcp6, udp6: nothing there */
  kk_err_t err = NULL;
  struct kk_netns_port want[2] = {P("8081:80"), P("8080:80")};
  ck_assert_int_lt(kk_netns_ports_check_host(want, 2, d, &err), 0);
  ck_assert_int_eq(err->kind, KK_ERR_CONFLICT);
  ck_assert_str_eq(err->msg, "host port 8080/tcp is already in use on the host");
  kk_error_free(&err);
  want[1] = P("8080:80/udp"); /* the tcp listener does not take udp */
  ck_assert_int_eq(kk_netns_ports_check_host(want, 2, d, &err), 0);
  want[1] = P("53:53/udp");
  ck_assert_int_lt(kk_netns_ports_check_host(want, 2, d, &err), 0);
  ck_assert_str_eq(err->msg, "host port 53/udp is already in use on the host");
  kk_error_free(&err);
  rm_dir(d);
}
END_TEST

START_TEST(egress_chain_and_rules) {
  char chain[KK_NETNS_EGRESS_CHAIN_MAX];
  kk_netns_egress_chain("default", "default", chain);
  cleanup_free char *want_chain = kk_asprintf("KUKE-EGR-%08x", kk_fnv1a32("default/default"));
  ck_assert_str_eq(chain, want_chain);
  ck_assert_uint_le(strlen(chain), 28);
  int64_t ports[] = {80, 443};
  struct kk_egress_rule rules[] = {
      {.cidr = "192.0.2.77/24", .ports = {ports, 2}},
      {.host = "localhost"},
      {.cidr = "0.0.0.0/0"},
  };
  struct kk_netns_egress eg = {"r", "s", "k-0123abcd", "deny", rules, 3};
  kk_err_t err = NULL;
  cleanup_free char *out = NULL;
  ck_assert_int_eq(kk_netns_egress_render(&eg, &out, &err), 0);
  kk_netns_egress_chain("r", "s", chain);
  cleanup_free char *want = kk_asprintf(
      "-A %1$s -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment \"kukeon:r:s:established\" -j ACCEPT\n"
      "-A %1$s -d 192.0.2.0/24 -p tcp -m tcp --dport 80 -m comment --comment \"kukeon:r:s:allow[0]:cidr=192.0.2.77/24\" -j ACCEPT\n"
      "-A %1$s -d 192.0.2.0/24 -p tcp -m tcp --dport 443 -m comment --comment \"kukeon:r:s:allow[0]:cidr=192.0.2.77/24\" -j ACCEPT\n"
      "-A %1$s -d 127.0.0.1/32 -m comment --comment \"kukeon:r:s:allow[1]:host=localhost\" -j ACCEPT\n"
      "-A %1$s -m comment --comment \"kukeon:r:s:allow[2]:cidr=0.0.0.0/0\" -j ACCEPT\n"
      "-A %1$s -m comment --comment \"kukeon:r:s:default\" -j DROP\n",
      chain);
  ck_assert_str_eq(out, want);
  /* No policy: established and an ACCEPT default. */
  struct kk_netns_egress open_ = {"r", "s", "k-0123abcd", "", NULL, 0};
  free(kk_steal(&out));
  ck_assert_int_eq(kk_netns_egress_render(&open_, &out, &err), 0);
  ck_assert_ptr_nonnull(strstr(out, "--comment \"kukeon:r:s:default\" -j ACCEPT\n"));
  /* What goes into iptables-restore's input is checked. */
  struct kk_egress_rule bad_host = {.host = "a\"b\nCOMMIT"};
  struct kk_netns_egress bad = {"r", "s", "k-0123abcd", "deny", &bad_host, 1};
  ck_assert_int_lt(kk_netns_egress_render(&bad, &out, &err), 0);
  ck_assert_ptr_nonnull(strstr(err->msg, "host is not a valid dns name"));
  kk_error_free(&err);
  struct kk_netns_egress bad_bridge = {"r", "s", "k-x -j ACCEPT", "deny", NULL, 0};
  ck_assert_int_lt(kk_netns_egress_render(&bad_bridge, &out, &err), 0);
  kk_error_free(&err);
}
END_TEST

START_TEST(firewall_missing_is_a_warning) {
  const struct kk_netns_fw fw = {.iptables = "kk-no-such-iptables"};
  kk_err_t err = NULL;
  ck_assert_int_eq(kk_netns_fw_ensure_forward(&fw, &err), KK_NETNS_FW_MISSING);
  ck_assert_ptr_null(err);
  struct kk_netns_egress eg = {"r", "s", "k-0123abcd", "deny", NULL, 0};
  ck_assert_int_eq(kk_netns_egress_ensure(&fw, &eg, &err), KK_NETNS_FW_MISSING);
  uint64_t dropped = 7;
  ck_assert_int_eq(kk_netns_egress_remove(&fw, "r", "s", &dropped, &err), KK_NETNS_FW_MISSING);
  ck_assert_uint_eq(dropped, 0);
  ck_assert_int_eq(kk_netns_fw_purge(&fw, &err), KK_NETNS_FW_MISSING);
  ck_assert_ptr_null(err);
}
END_TEST

static Suite *netns_etc_suite(void) {
  Suite *s = suite_create("netns_etc");
  TCase *t = tcase_create("netns_etc");
  tcase_add_test(t, hostname_and_hosts);
  tcase_add_test(t, resolv_replaces_loopback);
  tcase_add_test(t, resolv_from_files);
  tcase_add_test(t, write_in_place_keeps_inode);
  tcase_add_test(t, cell_etc_files);
  tcase_add_test(t, port_parsing);
  tcase_add_test(t, portmap_json);
  tcase_add_test(t, ports_taken_by_cells);
  tcase_add_test(t, proc_net_parsing);
  tcase_add_test(t, ports_taken_on_host);
  tcase_add_test(t, egress_chain_and_rules);
  tcase_add_test(t, firewall_missing_is_a_warning);
  suite_add_tcase(s, t);
  return s;
}

KK_UNIT_MAIN(netns_etc_suite)

/* netns/: namespace paths, subnets, the conflist, CNI results and errors
 * (the pure parts; tests/integration/t_net_cni.sh runs the plugins). */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/error.h"
#include "lib/fs.h"
#include "lib/util.h"
#include "model/model.h"
#include "netns/netns.h"
#include "tests/unit/unit.h"

START_TEST(path_of_pid) {
  char buf[KK_NETNS_PATH_MAX];
  kk_netns_path(1, buf);
  ck_assert_str_eq(buf, "/proc/1/ns/net");
  kk_netns_path(4194304, buf); /* PID_MAX_LIMIT fits */
  ck_assert_str_eq(buf, "/proc/4194304/ns/net");
}
END_TEST

START_TEST(open_own_and_missing) {
  kk_err_t err = NULL;
  int fd = kk_netns_open(getpid(), &err);
  ck_assert_int_ge(fd, 0);
  struct stat own, via_self;
  ck_assert_int_eq(fstat(fd, &own), 0);
  ck_assert_int_eq(stat("/proc/self/ns/net", &via_self), 0);
  ck_assert(own.st_ino == via_self.st_ino);
  close(fd);
  ck_assert_int_lt(kk_netns_open(0x7ffffff0, &err), 0);
  ck_assert_int_eq(err->kind, KK_ERR_NOT_FOUND);
  ck_assert_ptr_nonnull(strstr(err->msg, "network namespace of pid"));
  kk_error_free(&err);
}
END_TEST


/* A temp dir, removed (rm -rf) when the variable leaves scope. */
static void tmpdir_rm(char **dir) {
  kk_err_t err = NULL;
  if (*dir)
    kk_rm_rf_at(AT_FDCWD, *dir, &err);
  kk_error_free(&err);
  free(*dir);
}
#define cleanup_tmpdir KK_CLEANUP(tmpdir_rm)
static char *netns_tmpdir(void) {
  char *t = kk_xstrdup("/tmp/kk-test-netns.XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(t));
  return t;
}

static char *pick(const char *parent, const char *taken_csv, const char *host_csv, kk_err_t *err) {
  cleanup_strv struct kk_strv taken = {0}, host = {0};
  cleanup_free char *t = kk_xstrdup(taken_csv), *h = kk_xstrdup(host_csv);
  char *save = NULL;
  for (char *w = t ? strtok_r(t, ",", &save) : NULL; w; w = strtok_r(NULL, ",", &save))
    kk_strv_push(&taken, w);
  for (char *w = h ? strtok_r(h, ",", &save) : NULL; w; w = strtok_r(NULL, ",", &save))
    kk_strv_push(&host, w);
  char *out = NULL;
  if (kk_net_subnet_pick(parent, &taken, &host, &out, err) < 0)
    return NULL;
  return out;
}

static void pick_eq(const char *parent, const char *taken, const char *host, const char *want) {
  kk_err_t err = NULL;
  cleanup_free char *got = pick(parent, taken, host, &err);
  ck_assert_msg(got != NULL, "%s", err ? err->msg : "");
  ck_assert_str_eq(got, want);
}

START_TEST(subnet_pick_ascending) {
  pick_eq(NULL, NULL, NULL, "10.88.0.0/24");
  pick_eq("10.88.0.0/16", "10.88.0.0/24", NULL, "10.88.1.0/24");
  pick_eq("10.88.0.0/16", "10.88.1.0/24,10.88.0.0/24", NULL, "10.88.2.0/24");
  pick_eq("10.88.0.0/16", "10.88.1.0/24", NULL, "10.88.0.0/24"); /* a released /24 is reused */
  pick_eq("10.88.5.7/16", NULL, NULL, "10.88.0.0/24");            /* host bits of the parent ignored */
  pick_eq("172.30.0.0/23", "172.30.0.0/24", NULL, "172.30.1.0/24");
}
END_TEST

START_TEST(subnet_pick_skips_host_networks) {
  pick_eq("10.88.0.0/16", NULL, "10.88.0.1/24", "10.88.1.0/24");             /* podman's cni0 */
  pick_eq("10.88.0.0/16", NULL, "10.88.0.0/23,127.0.0.1/8", "10.88.2.0/24"); /* a wider route */
  pick_eq("10.88.0.0/16", NULL, "10.88.3.77/32", "10.88.0.0/24");
  pick_eq("10.88.0.0/16", "10.88.0.0/24", "10.88.1.5/32", "10.88.2.0/24");
  kk_err_t err = NULL;
  ck_assert_ptr_null(pick("10.88.0.0/16", NULL, "10.0.0.0/8", &err)); /* the host owns all of it */
  ck_assert_int_eq(err->kind, KK_ERR_UNAVAILABLE);
  ck_assert_str_eq(err->msg, "no free subnet available in parent CIDR: parent 10.88.0.0/16 exhausted at /24 "
                             "(256 /24s overlap addresses or routes already on the host: choose another range "
                             "with podSubnetCIDR or KUKEON_POD_SUBNET_CIDR)");
  kk_error_free(&err);
}
END_TEST

START_TEST(subnet_pick_exhausted_and_bad) {
  kk_err_t err = NULL;
  ck_assert_ptr_null(pick("10.88.0.0/23", "10.88.0.0/24,10.88.1.0/24", NULL, &err));
  ck_assert_str_eq(err->msg, "no free subnet available in parent CIDR: parent 10.88.0.0/23 exhausted at /24");
  kk_error_free(&err);
  ck_assert_ptr_null(pick("10.88.0.0/24", NULL, NULL, &err)); /* a parent must hold /24s */
  ck_assert_int_eq(err->kind, KK_ERR_INVALID);
  kk_error_free(&err);
  ck_assert_ptr_null(pick("nonsense", NULL, NULL, &err));
  kk_error_free(&err);
}
END_TEST

START_TEST(host_cidrs_of_own_namespace) {
  kk_err_t err = NULL;
  cleanup_strv struct kk_strv cidrs = {0};
  ck_assert_int_eq(kk_net_host_cidrs(&cidrs, &err), 0);
  for (size_t i = 0; i < cidrs.n; i++) /* every entry is a CIDR, never the default route */
    ck_assert_msg(strchr(cidrs.v[i], '/') && strcmp(cidrs.v[i], "0.0.0.0/0") != 0, "%s", cidrs.v[i]);
}
END_TEST

START_TEST(state_roundtrip_and_strict) {
  cleanup_free char *text = kk_net_state_render("10.88.3.0/24");
  ck_assert_str_eq(text, "{\"version\":\"v1\",\"subnetCIDR\":\"10.88.3.0/24\"}\n");
  cleanup_free char *subnet = NULL;
  kk_err_t err = NULL;
  ck_assert_int_eq(kk_net_state_parse(text, strlen(text), &subnet, &err), 0);
  ck_assert_str_eq(subnet, "10.88.3.0/24");
  static const char *bad[] = {
      "", "[]", "{\"version\":\"v1\"}", "{\"version\":\"v2\",\"subnetCIDR\":\"10.88.0.0/24\"}",
      "{\"version\":\"v1\",\"subnetCIDR\":\"10.88.0.1/24\"}", "{\"version\":\"v1\",\"subnetCIDR\":\"10.88.0.0/16\"}",
      "{\"version\":\"v1\",\"subnetCIDR\":\"10.88.0.0/24\",\"x\":1}",
      "{\"version\":\"v1\",\"subnetCIDR\":\"10.88.0.0/24\",\"version\":\"v1\"}",
      "{\"version\":\"v1\",\"subnetCIDR\":\"010.88.0.0/24\"}"};
  for (size_t i = 0; i < KK_ARRAY_SIZE(bad); i++) {
    char *s = NULL;
    ck_assert_msg(kk_net_state_parse(bad[i], strlen(bad[i]), &s, &err) < 0, "accepted %s", bad[i]);
    ck_assert_int_eq(err->kind, KK_ERR_INVALID);
    kk_error_free(&err);
  }
}
END_TEST

static const char golden_conflist[] = "{\n"
                                      "  \"cniVersion\": \"0.4.0\",\n"
                                      "  \"name\": \"default-default\",\n"
                                      "  \"plugins\": [\n"
                                      "    {\n"
                                      "      \"type\": \"bridge\",\n"
                                      "      \"bridge\": \"k-703e8b3a\",\n"
                                      "      \"isGateway\": true,\n"
                                      "      \"ipMasq\": false,\n"
                                      "      \"ipam\": {\n"
                                      "        \"type\": \"host-local\",\n"
                                      "        \"ranges\": [\n"
                                      "          [\n"
                                      "            {\n"
                                      "              \"subnet\": \"10.88.0.0/24\"\n"
                                      "            }\n"
                                      "          ]\n"
                                      "        ],\n"
                                      "        \"routes\": [\n"
                                      "          {\n"
                                      "            \"dst\": \"0.0.0.0/0\"\n"
                                      "          }\n"
                                      "        ]\n"
                                      "      }\n"
                                      "    },\n"
                                      "    {\n"
                                      "      \"type\": \"loopback\"\n"
                                      "    }\n"
                                      "  ]\n"
                                      "}\n";

START_TEST(conflist_golden) {
  cleanup_free char *bridge = kk_bridge_name("default", "default");
  struct kk_net_conf c = {"default-default", bridge, "10.88.0.0/24", NULL, false};
  cleanup_free char *out = NULL;
  kk_err_t err = NULL;
  ck_assert_int_eq(kk_net_conflist_render(&c, &out, &err), 0);
  ck_assert_str_eq(out, golden_conflist);
}
END_TEST

START_TEST(conflist_portmap_lease_dir_roundtrip) {
  struct kk_net_conf c = {"r-s", "k-00000001", "10.88.7.0/24", "/tmp/leases", true};
  cleanup_free char *out = NULL;
  kk_err_t err = NULL;
  ck_assert_int_eq(kk_net_conflist_render(&c, &out, &err), 0);
  cleanup_json json_t *doc = json_loads(out, 0, NULL);
  json_t *pm = json_array_get(json_object_get(doc, "plugins"), 2);
  ck_assert_str_eq(json_string_value(json_object_get(pm, "type")), "portmap");
  ck_assert(json_is_true(json_object_get(json_object_get(pm, "capabilities"), "portMappings")));
  ck_assert(json_is_true(json_object_get(pm, "snat")));
  json_t *ipam = json_object_get(json_array_get(json_object_get(doc, "plugins"), 0), "ipam");
  ck_assert_str_eq(json_string_value(json_object_get(ipam, "dataDir")), "/tmp/leases");
  struct kk_net_conf back;
  ck_assert_int_eq(kk_net_conflist_parse(out, strlen(out), &back, &err), 0);
  ck_assert_str_eq(back.name, "r-s");
  ck_assert_str_eq(back.bridge, "k-00000001");
  ck_assert_str_eq(back.subnet, "10.88.7.0/24");
  ck_assert_str_eq(back.lease_dir, "/tmp/leases");
  ck_assert(back.portmap);
  kk_net_conf_free(&back);
  /* The spec's own file (and an old ipam.subnet form) parse too. */
  ck_assert_int_eq(kk_net_conflist_parse(golden_conflist, strlen(golden_conflist), &back, &err), 0);
  ck_assert_ptr_null(back.lease_dir);
  ck_assert(!back.portmap);
  kk_net_conf_free(&back);
  const char *old = "{\"name\":\"n\",\"plugins\":[{\"type\":\"bridge\",\"bridge\":\"kukeon-very-long-br\","
                    "\"ipam\":{\"type\":\"host-local\",\"subnet\":\"10.88.4.0/24\"}}]}";
  ck_assert_int_eq(kk_net_conflist_parse(old, strlen(old), &back, &err), 0);
  ck_assert_str_eq(back.subnet, "10.88.4.0/24");
  ck_assert_str_eq(back.bridge, "kukeon-very-long-br"); /* recovered, so the caller sees it is stale */
  kk_net_conf_free(&back);
}
END_TEST

START_TEST(conflist_refusals) {
  kk_err_t err = NULL;
  cleanup_free char *out = NULL;
  struct kk_net_conf c = {"n", "k-0123456789abcd", "10.88.0.0/24", NULL, false};
  ck_assert_int_lt(kk_net_conflist_render(&c, &out, &err), 0);
  ck_assert_str_eq(err->msg, "network n: bridge name \"k-0123456789abcd\" exceeds Linux IFNAMSIZ limit (15 characters)");
  kk_error_free(&err);
  struct kk_net_conf bad_subnet = {"n", "k-1", "10.88.0.0", NULL, false};
  ck_assert_int_lt(kk_net_conflist_render(&bad_subnet, &out, &err), 0);
  kk_error_free(&err);
  struct kk_net_conf bad_name = {"a/b", "k-1", "10.88.0.0/24", NULL, false};
  ck_assert_int_lt(kk_net_conflist_render(&bad_name, &out, &err), 0);
  kk_error_free(&err);
  static const char *bad[] = {"", "{}", "{\"name\":\"n\",\"plugins\":[{\"type\":\"loopback\"}]}",
                              "{\"name\":\"n\",\"plugins\":[{\"type\":\"bridge\",\"bridge\":\"b\"}]}"};
  for (size_t i = 0; i < KK_ARRAY_SIZE(bad); i++) {
    struct kk_net_conf back;
    ck_assert_msg(kk_net_conflist_parse(bad[i], strlen(bad[i]), &back, &err) < 0, "accepted %s", bad[i]);
    kk_error_free(&err);
  }
}
END_TEST

START_TEST(conflist_write_at_only_when_changed) {
  cleanup_tmpdir char *dir = netns_tmpdir();
  kk_err_t err = NULL;
  cleanup_close int dfd = kk_open_dir_at(AT_FDCWD, dir, &err);
  ck_assert_int_ge(dfd, 0);
  struct kk_net_conf c = {"n", "k-1", "10.88.0.0/24", NULL, false};
  bool written = false;
  ck_assert_int_eq(kk_net_conflist_write_at(dfd, &c, &written, &err), 0);
  ck_assert(written);
  ck_assert_int_eq(kk_net_conflist_write_at(dfd, &c, &written, &err), 0);
  ck_assert(!written);
  struct stat st;
  ck_assert_int_eq(fstatat(dfd, KK_NET_CONFLIST_FILE, &st, 0), 0);
  ck_assert_int_eq(st.st_mode & 07777, 0600);
  c.portmap = true;
  ck_assert_int_eq(kk_net_conflist_write_at(dfd, &c, &written, &err), 0);
  ck_assert(written);
  struct kk_net_conf too_long = {"n", "k-0123456789abcd", "10.88.0.0/24", NULL, false};
  ck_assert_int_lt(kk_net_conflist_write_at(dfd, &too_long, &written, &err), 0);
  kk_error_free(&err);
  cleanup_free char *text = NULL;
  size_t len;
  ck_assert_int_eq(kk_read_file_at(dfd, KK_NET_CONFLIST_FILE, 65536, &text, &len, &err), 0);
  ck_assert_ptr_nonnull(strstr(text, "portmap")); /* the refused one changed nothing */
}
END_TEST

START_TEST(result_parse_040_and_100) {
  const char *r040 =
      "{\"cniVersion\":\"0.4.0\",\"interfaces\":[{\"name\":\"k-1\",\"mac\":\"aa:00:00:00:00:01\"},"
      "{\"name\":\"veth1\",\"mac\":\"aa:00:00:00:00:02\"},{\"name\":\"eth0\",\"mac\":\"aa:00:00:00:00:03\","
      "\"sandbox\":\"/proc/42/ns/net\"}],\"ips\":[{\"version\":\"4\",\"interface\":2,\"address\":\"10.88.0.2/24\","
      "\"gateway\":\"10.88.0.1\"}],\"routes\":[{\"dst\":\"0.0.0.0/0\"}],\"dns\":{}}";
  struct kk_net_cni_result r;
  kk_err_t err = NULL;
  ck_assert_int_eq(kk_net_cni_result_parse(r040, &r, &err), 0);
  ck_assert_str_eq(r.address, "10.88.0.2/24");
  ck_assert_str_eq(r.ip, "10.88.0.2");
  ck_assert_str_eq(r.gateway, "10.88.0.1");
  ck_assert_str_eq(r.ifname, "eth0");
  ck_assert_str_eq(r.mac, "aa:00:00:00:00:03");
  ck_assert_ptr_nonnull(strstr(r.json, "\"ips\""));
  kk_net_cni_result_free(&r);
  /* 1.0.0: no "version"; the sandbox address wins over a host-side one. */
  const char *r100 = "{\"cniVersion\":\"1.0.0\",\"interfaces\":[{\"name\":\"k-1\"},{\"name\":\"eth0\",\"sandbox\":"
                     "\"/x\"}],\"ips\":[{\"interface\":0,\"address\":\"10.88.0.1/24\"},{\"interface\":1,"
                     "\"address\":\"10.88.0.9/24\"}]}";
  ck_assert_int_eq(kk_net_cni_result_parse(r100, &r, &err), 0);
  ck_assert_str_eq(r.ip, "10.88.0.9");
  ck_assert_ptr_null(r.gateway);
  ck_assert_ptr_null(r.mac);
  kk_net_cni_result_free(&r);
  static const char *bad[] = {"", "[]", "{}", "{\"ips\":[{\"address\":\"10.0.0.1\"}]}", "{\"ips\":[{}]}",
                              "{\"ips\":[{\"address\":\"/24\"}]}"};
  for (size_t i = 0; i < KK_ARRAY_SIZE(bad); i++) {
    ck_assert_msg(kk_net_cni_result_parse(bad[i], &r, &err) < 0, "accepted %s", bad[i]);
    kk_error_free(&err);
  }
}
END_TEST

static void failure_is(const char *plugin, const char *bridge, const char *out, const char *errout, int status,
                       enum kk_err_kind kind, const char *want) {
  struct kk_net_cni_failure f = {plugin, "ADD", bridge, out, errout, status};
  kk_err_t err = NULL;
  ck_assert_int_lt(kk_net_cni_failure_error(&f, &err), 0);
  ck_assert_str_eq(err->msg, want);
  ck_assert_int_eq(err->kind, kind);
  kk_error_free(&err);
}

START_TEST(failure_translation) {
  failure_is("bridge", "kukeon-default-default", "{\"code\":11,\"msg\":\"could not add bridge: numerical result out of range\"}",
             "", 1, KK_ERR_INVALID,
             "cni plugin \"bridge\" ADD: bridge name \"kukeon-default-default\" exceeds Linux IFNAMSIZ limit (15 characters)");
  /* The same words with a short bridge are the plugin's own. */
  failure_is("bridge", "k-1", "{\"code\":11,\"msg\":\"numerical result out of range\"}", "", 1, KK_ERR_INTERNAL,
             "cni plugin \"bridge\" ADD failed: numerical result out of range");
  failure_is("host-local", NULL,
             "{\"code\":11,\"msg\":\"requested IP address 10.88.0.5 is not available in range set 10.88.0.1-10.88.0.254\"}",
             "", 1, KK_ERR_CONFLICT,
             "cni plugin \"host-local\" ADD: address already in use: requested IP address 10.88.0.5 is not available "
             "in range set 10.88.0.1-10.88.0.254");
  failure_is("bridge", "k-1", "", "listen tcp: bind: address already in use\n", 1, KK_ERR_CONFLICT,
             "cni plugin \"bridge\" ADD: address already in use: listen tcp: bind: address already in use");
  failure_is("bridge", "k-1", "{\"code\":999,\"msg\":\"container veth name provided (eth0) already exists\"}", "", 1,
             KK_ERR_CONFLICT,
             "cni plugin \"bridge\" ADD: already attached: container veth name provided (eth0) already exists");
  failure_is("bridge", "k-1",
             "{\"code\":999,\"msg\":\"failed to allocate for range 0: no IP addresses available in range set: "
             "10.88.0.9-10.88.0.9\"}",
             "", 1, KK_ERR_UNAVAILABLE,
             "cni plugin \"bridge\" ADD: no free address left in the network's subnet: failed to allocate for range "
             "0: no IP addresses available in range set: 10.88.0.9-10.88.0.9");
  failure_is("tuning", NULL, "{\"code\":7,\"msg\":\"bad\",\"details\":\"line one\\nline two\"}", "", 1,
             KK_ERR_INTERNAL, "cni plugin \"tuning\" ADD failed: bad: line one line two");
  failure_is("x", NULL, "not json", "first\nlast words\n\n", 2, KK_ERR_INTERNAL,
             "cni plugin \"x\" ADD failed: last words");
  failure_is("x", NULL, "", " \n\n", 1, KK_ERR_INTERNAL, "cni plugin \"x\" ADD failed: exit status 1");
  failure_is("x", NULL, "", "", 137, KK_ERR_INTERNAL, "cni plugin \"x\" ADD failed: exit status 137");
}
END_TEST

START_TEST(missing_plugin_message) {
  kk_err_t err = NULL;
  ck_assert_int_lt(kk_net_cni_missing_error("bridge", KK_NET_CNI_PATH_DEFAULT, &err), 0);
  ck_assert_str_eq(err->msg, "cni plugin \"bridge\" not found in /opt/cni/bin:/usr/lib/cni: install the standard CNI "
                             "plugins (Debian: apt-get install containernetworking-plugins)");
  ck_assert_int_eq(err->kind, KK_ERR_NOT_FOUND);
  kk_error_free(&err);
}
END_TEST

START_TEST(cni_bad_calls_change_nothing) {
  cleanup_tmpdir char *dir = netns_tmpdir();
  cleanup_free char *cache = kk_asprintf("%s/cache", dir);
  struct kk_net_cni_config cfg = {dir, cache, 0};
  struct kk_net_cni_result r;
  kk_err_t err = NULL;
  static const char *ids[] = {"", "../x", "a/b", ".hidden"};
  for (size_t i = 0; i < KK_ARRAY_SIZE(ids); i++) {
    struct kk_net_cni_call call = {golden_conflist, ids[i], "/proc/1/ns/net", "eth0", NULL};
    ck_assert_int_lt(kk_net_cni_add(&cfg, &call, &r, &err), 0);
    ck_assert_int_eq(err->kind, KK_ERR_INVALID);
    kk_error_free(&err);
  }
  struct kk_net_cni_call call = {golden_conflist, "c1", "/proc/1/ns/net", "eth0", "[1]"};
  ck_assert_int_lt(kk_net_cni_add(&cfg, &call, &r, &err), 0); /* plugins not in dir */
  ck_assert_int_eq(err->kind, KK_ERR_NOT_FOUND);
  kk_error_free(&err);
  call.conflist = "{\"name\":\"n\",\"cniVersion\":\"0.4.0\",\"plugins\":[{\"type\":\"../../bin/sh\"}]}";
  ck_assert_int_lt(kk_net_cni_del(&cfg, &call, &err), 0);
  ck_assert_int_eq(err->kind, KK_ERR_INVALID);
  kk_error_free(&err);
  call.conflist = golden_conflist;
  ck_assert_int_lt(kk_net_cni_cached(&cfg, &call, &r, NULL), 0);
  ck_assert(!kk_exists_at(AT_FDCWD, cache)); /* nothing was created */
}
END_TEST

static Suite *netns_suite(void) {
  Suite *s = suite_create("netns");
  TCase *t = tcase_create("netns");
  tcase_add_test(t, path_of_pid);
  tcase_add_test(t, open_own_and_missing);
  tcase_add_test(t, subnet_pick_ascending);
  tcase_add_test(t, subnet_pick_skips_host_networks);
  tcase_add_test(t, subnet_pick_exhausted_and_bad);
  tcase_add_test(t, host_cidrs_of_own_namespace);
  tcase_add_test(t, state_roundtrip_and_strict);
  tcase_add_test(t, conflist_golden);
  tcase_add_test(t, conflist_portmap_lease_dir_roundtrip);
  tcase_add_test(t, conflist_refusals);
  tcase_add_test(t, conflist_write_at_only_when_changed);
  tcase_add_test(t, result_parse_040_and_100);
  tcase_add_test(t, failure_translation);
  tcase_add_test(t, missing_plugin_message);
  tcase_add_test(t, cni_bad_calls_change_nothing);
  suite_add_tcase(s, t);
  return s;
}

KK_UNIT_MAIN(netns_suite)

/* kk-net: drives the netns/ CNI and subnet API from shell tests until the
 * controller wires it.
 *
 *   kk-net pick PARENT [--host] [TAKEN...]   first free /24 (--host: skip the
 *                                             host's addresses and routes)
 *   kk-net host-cidrs                         one CIDR a line
 *   kk-net render NAME BRIDGE SUBNET [--lease-dir D] [--portmap]
 *   kk-net write DIR NAME BRIDGE SUBNET [--lease-dir D] [--portmap]
 *                                             prints "written" or "unchanged"
 *   kk-net parse FILE                         "name bridge subnet lease_dir portmap"
 *   kk-net add CONFLIST ID PID|NETNS [RUNTIME_CONFIG_JSON]
 *                                             prints "address ip gateway ifname"
 *   kk-net del CONFLIST ID PID|NETNS
 *   kk-net check CONFLIST ID PID|NETNS
 *   kk-net cached CONFLIST ID                 as add, from the cache
 *
 * Plugins are searched in $KK_NET_CNI_PATH (default the library's), results
 * cached in $KK_NET_CNI_CACHE (required for add/del/check/cached), each
 * plugin given $KK_NET_CNI_TIMEOUT_MS (default the library's).  Errors:
 * one line on stderr, exit 2 (exit 3 for KK_ERR_NOT_FOUND). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/error.h"
#include "lib/fs.h"
#include "lib/util.h"
#include "netns/netns.h"

static int die(kk_err_t *err) {
  fprintf(stderr, "kk-net: %s\n", (*err)->msg);
  int code = (*err)->kind == KK_ERR_NOT_FOUND ? 3 : 2;
  kk_error_free(err);
  return code;
}

static int usage(void) {
  fprintf(stderr, "usage: kk-net pick|host-cidrs|render|write|parse|add|del|check|cached ...\n");
  return 64;
}

static int cmd_pick(int argc, char **argv) {
  kk_err_t err = NULL;
  cleanup_strv struct kk_strv taken = {0}, host = {0};
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--host") == 0) {
      if (kk_net_host_cidrs(&host, &err) < 0)
        return die(&err);
    } else {
      kk_strv_push(&taken, argv[i]);
    }
  }
  cleanup_free char *out = NULL;
  if (kk_net_subnet_pick(argv[0], &taken, &host, &out, &err) < 0)
    return die(&err);
  printf("%s\n", out);
  return 0;
}

static int cmd_host_cidrs(void) {
  kk_err_t err = NULL;
  cleanup_strv struct kk_strv out = {0};
  if (kk_net_host_cidrs(&out, &err) < 0)
    return die(&err);
  for (size_t i = 0; i < out.n; i++)
    printf("%s\n", out.v[i]);
  return 0;
}

static void conf_from_args(int argc, char **argv, struct kk_net_conf *c) {
  c->name = argv[0];
  c->bridge = argv[1];
  c->subnet = argv[2];
  for (int i = 3; i < argc; i++) {
    if (strcmp(argv[i], "--portmap") == 0)
      c->portmap = true;
    else if (strcmp(argv[i], "--lease-dir") == 0 && i + 1 < argc)
      c->lease_dir = argv[++i];
  }
}

static int cmd_render(int argc, char **argv) {
  if (argc < 3)
    return usage();
  struct kk_net_conf c = {0};
  conf_from_args(argc, argv, &c);
  kk_err_t err = NULL;
  cleanup_free char *out = NULL;
  if (kk_net_conflist_render(&c, &out, &err) < 0)
    return die(&err);
  fputs(out, stdout);
  return 0;
}

static int cmd_write(int argc, char **argv) {
  if (argc < 4)
    return usage();
  struct kk_net_conf c = {0};
  conf_from_args(argc - 1, argv + 1, &c);
  kk_err_t err = NULL;
  cleanup_close int dfd = kk_open_dir_at(AT_FDCWD, argv[0], &err);
  bool written = false;
  if (dfd < 0 || kk_net_conflist_write_at(dfd, &c, &written, &err) < 0)
    return die(&err);
  printf("%s\n", written ? "written" : "unchanged");
  return 0;
}

static char *read_text(const char *path, kk_err_t *err) {
  char *text = NULL;
  size_t len = 0;
  if (kk_read_file_at(AT_FDCWD, path, 1 << 20, &text, &len, err) < 0)
    return NULL;
  return text;
}

static int cmd_parse(const char *path) {
  kk_err_t err = NULL;
  cleanup_free char *text = read_text(path, &err);
  struct kk_net_conf c;
  if (text == NULL || kk_net_conflist_parse(text, strlen(text), &c, &err) < 0)
    return die(&err);
  printf("%s %s %s %s %s\n", c.name, c.bridge, c.subnet, c.lease_dir ? c.lease_dir : "-", c.portmap ? "portmap" : "-");
  kk_net_conf_free(&c);
  return 0;
}

static void print_result(const struct kk_net_cni_result *r) {
  printf("%s %s %s %s\n", r->address, r->ip, r->gateway ? r->gateway : "-", r->ifname ? r->ifname : "-");
}

/* add/del/check/cached: CONFLIST ID [PID|NETNS [RUNTIME_CONFIG]] */
static int cmd_cni(const char *cmd, int argc, char **argv) {
  if (argc < 2)
    return usage();
  kk_err_t err = NULL;
  cleanup_free char *conflist = read_text(argv[0], &err);
  if (conflist == NULL)
    return die(&err);
  char nspath[KK_NETNS_PATH_MAX + 256];
  const char *ns = argc > 2 ? argv[2] : NULL;
  if (ns && strchr(ns, '/') == NULL) {
    kk_netns_path((pid_t)atoi(ns), nspath);
    ns = nspath;
  }
  const char *timeout = getenv("KK_NET_CNI_TIMEOUT_MS");
  struct kk_net_cni_config cfg = {getenv("KK_NET_CNI_PATH"), getenv("KK_NET_CNI_CACHE"), timeout ? atoi(timeout) : 0};
  struct kk_net_cni_call call = {conflist, argv[1], ns, "eth0", argc > 3 ? argv[3] : NULL};
  struct kk_net_cni_result res = {0};
  int rc;
  if (strcmp(cmd, "add") == 0)
    rc = kk_net_cni_add(&cfg, &call, &res, &err);
  else if (strcmp(cmd, "cached") == 0)
    rc = kk_net_cni_cached(&cfg, &call, &res, &err);
  else if (strcmp(cmd, "del") == 0)
    rc = kk_net_cni_del(&cfg, &call, &err);
  else
    rc = kk_net_cni_check(&cfg, &call, &err);
  if (rc < 0)
    return die(&err);
  if (res.address)
    print_result(&res);
  kk_net_cni_result_free(&res);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2)
    return usage();
  const char *cmd = argv[1];
  int n = argc - 2;
  char **rest = argv + 2;
  if (strcmp(cmd, "pick") == 0 && n >= 1)
    return cmd_pick(n, rest);
  if (strcmp(cmd, "host-cidrs") == 0)
    return cmd_host_cidrs();
  if (strcmp(cmd, "render") == 0)
    return cmd_render(n, rest);
  if (strcmp(cmd, "write") == 0)
    return cmd_write(n, rest);
  if (strcmp(cmd, "parse") == 0 && n == 1)
    return cmd_parse(rest[0]);
  if (strcmp(cmd, "add") == 0 || strcmp(cmd, "del") == 0 || strcmp(cmd, "check") == 0 || strcmp(cmd, "cached") == 0)
    return cmd_cni(cmd, n, rest);
  return usage();
}

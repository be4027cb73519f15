/* kk-netpol: drives netns/'s firewall, /etc files and port checks from
 * shell tests until the controller wires them.
 *
 *   kk-netpol forward                          KUKEON-FORWARD and its jump
 *   kk-netpol ensure R S BRIDGE DEFAULT [RULE...]
 *                                              RULE: host=NAME[:P,P] or cidr=CIDR[:P,P]
 *   kk-netpol render R S BRIDGE DEFAULT [RULE...]   the space chain as iptables -S prints it
 *   kk-netpol remove R S                       prints "dropped N"
 *   kk-netpol purge
 *   kk-netpol write FILE TEXT                  kk_netns_write_in_place
 *   kk-netpol hosts CELL IP [NAME=IP...]
 *   kk-netpol resolv HOSTFILE [UPSTREAMFILE]
 *   kk-netpol ports-check SPEC [taken CELL SPEC]...   prints the portMappings JSON
 *
 * $KK_IPTABLES names the iptables program (default iptables).  Exit 0, 1
 * on an error (one line on stderr), 3 when iptables is missing, 2 usage. */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/error.h"
#include "lib/util.h"
#include "netns/netns.h"

static int fail(kk_err_t *err) {
  fprintf(stderr, "kk-netpol: %s\n", (*err)->msg);
  kk_error_free(err);
  return 1;
}

static int fw_rc(int rc, kk_err_t *err) {
  if (rc < 0)
    return fail(err);
  if (rc == KK_NETNS_FW_MISSING) {
    fprintf(stderr, "kk-netpol: warning: iptables not found, no firewall\n");
    return 3;
  }
  return 0;
}

static int usage(void) {
  fprintf(stderr, "usage: kk-netpol CMD ARGS (see the source)\n");
  return 2;
}

/* host=NAME[:P,P] | cidr=CIDR[:P,P] */
static int parse_rule(const char *arg, struct kk_egress_rule *r) {
  memset(r, 0, sizeof(*r));
  char *val = strchr(arg, '=');
  if (val == NULL)
    return -1;
  char *copy = kk_xstrdup(val + 1), *ports = strchr(copy, ':');
  if (ports) {
    *ports++ = '\0';
    for (char *p = strtok(ports, ","); p; p = strtok(NULL, ",")) {
      r->ports.v = kk_xrealloc(r->ports.v, (r->ports.n + 1) * sizeof(int64_t));
      r->ports.v[r->ports.n++] = strtoll(p, NULL, 10);
    }
  }
  if (kk_has_prefix(arg, "host="))
    r->host = copy;
  else if (kk_has_prefix(arg, "cidr="))
    r->cidr = copy;
  else {
    free(copy);
    free(r->ports.v);
    r->ports.v = NULL;
    return -1;
  }
  return 0;
}

static void rules_free(struct kk_egress_rule *rules, size_t n) {
  for (size_t i = 0; i < n; i++) {
    free(rules[i].host ? rules[i].host : rules[i].cidr);
    free(rules[i].ports.v);
  }
  free(rules);
}

static int space_call(struct kk_netns_egress *eg, const struct kk_netns_fw *fw, bool render) {
  kk_err_t err = NULL;
  if (!render)
    return fw_rc(kk_netns_egress_ensure(fw, eg, &err), &err);
  cleanup_free char *out = NULL;
  if (kk_netns_egress_render(eg, &out, &err) < 0)
    return fail(&err);
  fputs(out, stdout);
  return 0;
}

static int cmd_space(int argc, char **argv, const struct kk_netns_fw *fw, bool render) {
  if (argc < 6)
    return usage();
  size_t n = (size_t)argc - 6;
  struct kk_egress_rule *rules = kk_xzalloc((n ? n : 1) * sizeof(*rules));
  int rc = 0;
  for (size_t i = 0; i < n && rc == 0; i++)
    if (parse_rule(argv[6 + i], &rules[i]) < 0)
      rc = usage();
  struct kk_netns_egress eg = {argv[2], argv[3], argv[4], argv[5], rules, n};
  if (rc == 0)
    rc = space_call(&eg, fw, render);
  rules_free(rules, n);
  return rc;
}

static int cmd_ports(int argc, char **argv) {
  kk_err_t err = NULL;
  struct kk_netns_port want;
  if (argc < 3)
    return usage();
  if (kk_netns_port_parse(argv[2], &want, &err) < 0)
    return fail(&err);
  size_t n_taken = 0;
  struct kk_netns_port_taken taken[16];
  for (int i = 3; i + 2 < argc && n_taken < 16; i += 3, n_taken++) {
    taken[n_taken].cell = argv[i + 1];
    if (kk_netns_port_parse(argv[i + 2], &taken[n_taken].port, &err) < 0)
      return fail(&err);
  }
  if (kk_netns_ports_check_taken(&want, 1, taken, n_taken, &err) < 0 ||
      kk_netns_ports_check_host(&want, 1, NULL, &err) < 0)
    return fail(&err);
  json_t *j = kk_netns_portmap_json(&want, 1);
  cleanup_free char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref(j);
  puts(s);
  return 0;
}

static int cmd_etc(int argc, char **argv) {
  kk_err_t err = NULL;
  cleanup_free char *out = NULL;
  if (strcmp(argv[1], "write") == 0 && argc == 4) {
    return kk_netns_write_in_place(AT_FDCWD, argv[2], argv[3], 0644, &err) < 0 ? fail(&err) : 0;
  } else if (strcmp(argv[1], "hosts") == 0 && argc >= 4) {
    size_t n = (size_t)argc - 4;
    struct kk_netns_host *peers = kk_xzalloc((n ? n : 1) * sizeof(*peers));
    for (size_t i = 0; i < n; i++) {
      char *eq = strchr(argv[4 + i], '=');
      if (eq == NULL)
        return usage();
      *eq = '\0';
      peers[i] = (struct kk_netns_host){argv[4 + i], eq + 1};
    }
    out = kk_netns_render_hosts(argv[2], argv[3], peers, n);
    free(peers);
  } else if (strcmp(argv[1], "resolv") == 0 && argc >= 3) {
    if (kk_netns_resolv_conf(argv[2], argc > 3 ? argv[3] : NULL, &out, &err) < 0)
      return fail(&err);
  } else {
    return usage();
  }
  fputs(out, stdout);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2)
    return usage();
  const struct kk_netns_fw fw = {.iptables = getenv("KK_IPTABLES")};
  kk_err_t err = NULL;
  const char *cmd = argv[1];
  if (strcmp(cmd, "forward") == 0)
    return fw_rc(kk_netns_fw_ensure_forward(&fw, &err), &err);
  if (strcmp(cmd, "ensure") == 0 || strcmp(cmd, "render") == 0)
    return cmd_space(argc, argv, &fw, strcmp(cmd, "render") == 0);
  if (strcmp(cmd, "remove") == 0 && argc == 4) {
    uint64_t dropped = 0;
    int rc = fw_rc(kk_netns_egress_remove(&fw, argv[2], argv[3], &dropped, &err), &err);
    if (rc == 0)
      printf("dropped %" PRIu64 "\n", dropped);
    return rc;
  }
  if (strcmp(cmd, "masq") == 0 && argc == 6) {
    const struct kk_netns_masq m = {.realm = argv[2], .space = argv[3], .bridge = argv[4], .subnet = argv[5]};
    return fw_rc(kk_netns_masq_ensure(&fw, &m, &err), &err);
  }
  if (strcmp(cmd, "unmasq") == 0 && argc == 4)
    return fw_rc(kk_netns_masq_remove(&fw, argv[2], argv[3], &err), &err);
  if (strcmp(cmd, "purge") == 0)
    return fw_rc(kk_netns_fw_purge(&fw, &err), &err);
  if (strcmp(cmd, "ports-check") == 0)
    return cmd_ports(argc, argv);
  return cmd_etc(argc, argv);
}

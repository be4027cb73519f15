/* The bridge plugin's masquerade rule for a container whose network
 * namespace is gone before its DEL (the cell's root died on its own). */
#include <string.h>

#include "lib/fs.h"
#include "lib/util.h"
#include "netns/internal.h"

static int iptables(const char *bin, char *const *argv, int timeout_ms, char **out) {
  char *env[] = {KK_NET_EXEC_PATH, NULL};
  struct kk_net_exec x = {.bin = bin, .argv = argv, .env = env, .timeout_ms = timeout_ms, .out_max = 4u << 20};
  kk_err_t e = NULL;
  int rc = kk_net_exec_run(&x, &e) < 0 || x.status != 0 ? -1 : 0;
  kk_error_free(&e);
  if (out && rc == 0)
    *out = kk_steal(&x.out);
  kk_net_exec_free(&x);
  return rc;
}

/* The word after `flag ` in an `iptables -S` line. */
static char *word_after(const char *line, const char *flag) {
  const char *p = strstr(line, flag);
  if (p == NULL)
    return NULL;
  p += strlen(flag);
  return kk_xstrndup(p, strcspn(p, " \n"));
}

/* One POSTROUTING rule: `-A POSTROUTING -s <ip>/32 -m comment --comment
 * "<comment>" -j CNI-<hash>`: delete it, then its chain. */
static void drop_rule(const char *bin, const char *line, const char *comment, int timeout_ms) {
  cleanup_free char *src = word_after(line, " -s ");
  cleanup_free char *chain = word_after(line, " -j ");
  if (src == NULL || chain == NULL || !kk_has_prefix(chain, "CNI-"))
    return;
  char *del[] = {(char *)bin, "-w", "5", "-t", "nat", "-D", "POSTROUTING", "-s", src, "-m", "comment",
                 "--comment", (char *)comment, "-j", chain, NULL};
  char *flush[] = {(char *)bin, "-w", "5", "-t", "nat", "-F", chain, NULL};
  char *rm[] = {(char *)bin, "-w", "5", "-t", "nat", "-X", chain, NULL};
  iptables(bin, del, timeout_ms, NULL);
  iptables(bin, flush, timeout_ms, NULL);
  iptables(bin, rm, timeout_ms, NULL);
}

void kk_net_unmasq_orphan(const char *network, const char *container_id, int timeout_ms) {
  cleanup_free char *bin = kk_which("iptables");
  cleanup_free char *rules = NULL;
  char *list[] = {bin, "-w", "5", "-t", "nat", "-S", "POSTROUTING", NULL};
  if (bin == NULL || iptables(bin, list, timeout_ms, &rules) < 0)
    return;
  /* The bridge plugin's comment, and how `iptables -S` quotes it. */
  cleanup_free char *comment = kk_asprintf("name: \"%s\" id: \"%s\"", network, container_id);
  cleanup_free char *quoted = kk_asprintf("--comment \"name: \\\"%s\\\" id: \\\"%s\\\"\"", network, container_id);
  char *save = NULL;
  for (char *line = strtok_r(rules, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
    if (strstr(line, quoted))
      drop_rule(bin, line, comment, timeout_ms);
}

/* netns/ private helpers shared by its files (not part of the API). */
#ifndef KK_NETNS_INTERNAL_H
#define KK_NETNS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/error.h"
#include "netns/netns.h"
#include "netns/strbuf.h"

/* The PATH plugins (and the iptables they run) are given. */
#define KK_NET_EXEC_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* One plugin run: bin exec'd with env alone (no shell, no inherited env),
 * `in` on its stdin, in its own process group, which is killed when the
 * deadline passes or stdout grows past out_max. */
struct kk_net_exec {
  const char *bin;
  char *const *argv; /* NULL: just bin */
  char *const *env;
  const char *in;
  size_t in_len;
  int timeout_ms;
  size_t out_max;
  /* results */
  char *out;    /* stdout, NUL-terminated */
  char *errout; /* stderr (bounded), NUL-terminated */
  int status;   /* exit status, 128+signal */
};
/* < 0 only when the plugin could not be run or did not finish in time
 * (or flooded stdout); a plugin that ran and failed is status != 0. */
int kk_net_exec_run(struct kk_net_exec *x, kk_err_t *err);
void kk_net_exec_free(struct kk_net_exec *x);

/* ---------------------------------------------- iptables (fw.c) */

#define FW_LOCK_WAIT_S "5" /* -w: the xtables lock, inside the deadline */
#define COMMENT_MAX 255    /* xt_comment keeps 256 bytes with the NUL */

/* The programs of one call: iptables and its -restore twin. */
struct kk_fw_bins {
  char *iptables, *restore;
  int timeout_ms;
};
void kk_fw_bins_free(struct kk_fw_bins *b);

/* Run bin argv with input on stdin (NULL: /dev/null), within the deadline.
 * *out (may be NULL) gets stdout; a non-zero exit is an error with
 * stderr's first line. */
int kk_fw_exec(const struct kk_fw_bins *b, const char *bin, const char *const *argv, const char *input, char **out,
               kk_err_t *err);

/* What one call changes in one table, in the order iptables-restore
 * needs: chain declarations, rule lines, then chain deletions (after every
 * jump to them is gone).  snap is the table as `iptables -S` printed it. */
struct kk_fw_plan {
  const char *table, *snap;
  struct kk_sbuf decl, rules, del;
};

/* Finds the programs, reads the table, lets plan say what changes and
 * commits it in one transaction (nothing to change: no exec):
 * 0, KK_NETNS_FW_MISSING or < 0. */
typedef int (*kk_fw_plan_fn)(struct kk_fw_plan *p, const struct kk_fw_bins *b, void *arg, kk_err_t *err);
int kk_fw_run(const struct kk_netns_fw *fw, const char *table, kk_fw_plan_fn plan, void *arg, kk_err_t *err);

bool kk_fw_has_chain(const char *snap, const char *chain);
/* Makes chain hold exactly want (lines with newlines): declared when
 * missing, flushed and refilled when different. */
void kk_fw_plan_chain(struct kk_fw_plan *p, const char *chain, const char *want);
/* A jump from -> target, first or last, unless one is there. */
void kk_fw_plan_jump(const char *snap, const char *from, const char *target, bool first, struct kk_sbuf *rules);
/* Every rule of chain whose text contains needle, as a "-D" line; the
 * first rule equal to keep (may be NULL) stays and sets *kept. */
void kk_fw_plan_delete_matching(const char *snap, const char *chain, const char *needle, const char *keep,
                                struct kk_sbuf *rules, bool *kept);
/* -F then (last) -X of chain when it exists. */
void kk_fw_plan_drop_chain(struct kk_fw_plan *p, const char *chain);
/* KUKEON-POSTROUTING and its jump (masq.c; kk_netns_fw_purge). */
int kk_netns_masq_purge(const struct kk_netns_fw *fw, kk_err_t *err);

/* Names and comments that may go into iptables-restore's input. */
bool kk_fw_safe_text(const char *s);

#endif

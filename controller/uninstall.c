/* kuke uninstall, the controller's part: every realm purged (user realms
 * first, the system realm last), kukeon's firewall chains, then, only when
 * every realm went, the runtime dir and the run path with the mounts
 * under them.  The kukeond cell is stopped before (kuke daemon reset);
 * the group and the systemd unit are kuke's (cli/cmd_uninstall.c). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "controller/internal.h"
#include "lib/fs.h"
#include "lib/util.h"
#include "netns/netns.h"

static void add_realm(struct kk_strv *v, const char *name) {
  if (!kk_strv_contains(v, name))
    kk_strv_push(v, name);
}

/* Stored realms, realms whose state cannot be read ("<realm>/...: why"),
 * and default and kuke-system whatever the store says; kuke-system last
 * (its kukeond cell serves the others until it goes). */
static int realms_of(struct kk_controller *c, struct kk_strv *out, kk_err_t *err) {
  cleanup_doc_list struct kk_doc_list docs = {0};
  cleanup_strv struct kk_strv bad = {0};
  struct kk_ref scope = {.kind = KK_KIND_REALM};
  if (kk_ctl_list(c, KK_KIND_REALM, &scope, &docs, &bad, err) < 0)
    return -1;
  for (size_t i = 0; i < docs.n; i++)
    if (!kk_streq(docs.docs[i]->u.realm.metadata.name, KK_SYSTEM_REALM))
      add_realm(out, docs.docs[i]->u.realm.metadata.name);
  for (size_t i = 0; i < bad.n; i++) {
    cleanup_free char *name = kk_xstrndup(bad.v[i], strcspn(bad.v[i], "/:"));
    kk_err_t e = NULL;
    if (kk_validate_name(KK_KIND_REALM, name, &e) == 0 && !kk_streq(name, KK_SYSTEM_REALM))
      add_realm(out, name);
    kk_error_free(&e);
  }
  add_realm(out, "default");
  add_realm(out, KK_SYSTEM_REALM);
  return 0;
}

/* One realm purged with cascade and force; 1: it failed (its failed
 * items listed under it). */
static int purge_realm(struct kk_controller *c, const char *realm, struct kk_report *rep) {
  struct kk_ref ref = {.kind = KK_KIND_REALM, .realm = realm, .name = realm};
  cleanup_free char *ns = kk_namespace_name(realm, c->ns_suffix);
  struct kk_report r = {0};
  size_t failed = 0;
  kk_err_t e = NULL;
  int ret = kk_ctl_purge(c, &ref, true, true, &r, &failed, &e);
  if (ret < 0 && e->kind == KK_ERR_NOT_FOUND) {
    kk_report_line(rep, 2, "- realm \"%s\" (namespace \"%s\"): nothing left", realm, ns);
  } else if (ret < 0) {
    kk_report_line(rep, 2, "- realm \"%s\" (namespace \"%s\"): FAILED: %s", realm, ns, e->msg);
  } else if (failed > 0) {
    kk_report_line(rep, 2, "- realm \"%s\" (namespace \"%s\"): FAILED: %zu item(s) could not be removed", realm, ns,
                   failed);
    for (size_t i = 0; i < r.lines.n; i++)
      if (strstr(r.lines.v[i], ": failed: "))
        kk_report_line(rep, 4, "%s", r.lines.v[i]);
  } else {
    kk_report_line(rep, 2, "- realm \"%s\" (namespace \"%s\"): purged", realm, ns);
  }
  bool bad = (ret < 0 && e->kind != KK_ERR_NOT_FOUND) || failed > 0;
  kk_error_free(&e);
  kk_report_free(&r);
  return bad ? 1 : 0;
}

static int purge_firewall(struct kk_report *rep) {
  struct kk_netns_fw fw = {0};
  kk_err_t e = NULL;
  int r = kk_netns_fw_purge(&fw, &e);
  if (r < 0) {
    kk_report_line(rep, 2, "- firewall chains: FAILED: %s", e->msg);
    kk_error_free(&e);
    return 1;
  }
  kk_report_line(rep, 2, "- firewall chains: %s", r == KK_NETNS_FW_MISSING ? "no iptables" : "removed");
  return 0;
}

/* Mounts at or below dir (deepest first, detached), then dir itself. */
static int remove_dir(const char *what, const char *dir, struct kk_report *rep) {
  if (access(dir, F_OK) < 0 && errno == ENOENT)
    return 0;
  /* A runtime dir taken from a socket at the top (--host unix:///s). */
  if (dir[0] != '/' || dir[strspn(dir, "/")] == '\0') {
    kk_report_line(rep, 2, "- %s %s: FAILED: not removed: not an absolute path below /", what, dir);
    return 1;
  }
  struct kk_strv dirs = {0}, mounts = {0};
  kk_strv_push(&dirs, dir);
  kk_err_t e = NULL;
  int r = kk_ctl_mounts_below(&dirs, &mounts, &e);
  for (size_t i = 0; r == 0 && i < mounts.n; i++)
    if (umount2(mounts.v[i], MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
      r = kk_error(&e, errno, "unmount %s", mounts.v[i]);
  if (r == 0)
    r = kk_rm_rf_at(AT_FDCWD, dir, &e);
  kk_strv_free(&dirs);
  kk_strv_free(&mounts);
  if (r < 0) {
    kk_report_line(rep, 2, "- %s %s: FAILED: %s", what, dir, e->msg);
    kk_error_free(&e);
    return 1;
  }
  kk_report_line(rep, 2, "- %s %s: removed", what, dir);
  return 0;
}

/* The cgroup root in every hierarchy (its realms' subtrees went with them). */
static size_t remove_cgroup_root(struct kk_controller *c, struct kk_report *rep) {
  cleanup_strv struct kk_strv dirs = {0};
  size_t failed = 0;
  kk_err_t e = NULL;
  if (kk_ctl_cg_dirs_all(c->cgroup_root, "", &dirs, &e) < 0) {
    kk_report_line(rep, 2, "- cgroup root %s: FAILED: %s", c->cgroup_root, e->msg);
    kk_error_free(&e);
    return 1;
  }
  for (size_t i = 0; i < dirs.n; i++) {
    if (kk_ctl_cg_dir_purge(dirs.v[i], &e) == 0) {
      kk_report_line(rep, 2, "- cgroup %s: removed", dirs.v[i]);
      continue;
    }
    kk_report_line(rep, 2, "- cgroup %s: FAILED: %s", dirs.v[i], e->msg);
    kk_error_free(&e);
    failed++;
  }
  return failed;
}

int kk_ctl_uninstall_plan(struct kk_controller *c, struct kk_report *rep, kk_err_t *err) {
  cleanup_strv struct kk_strv realms = {0};
  if (realms_of(c, &realms, err) < 0)
    return -1;
  for (size_t i = 0; i < realms.n; i++) {
    cleanup_free char *ns = kk_namespace_name(realms.v[i], c->ns_suffix);
    kk_report_line(rep, 2, "- realm \"%s\" (namespace \"%s\"), with all it left on the host", realms.v[i], ns);
  }
  kk_report_line(rep, 2, "- kukeon's firewall chains");
  kk_report_line(rep, 2, "- cgroup root %s in every hierarchy", c->cgroup_root);
  kk_report_line(rep, 2, "- runtime dir %s", c->runtime_dir);
  kk_report_line(rep, 2, "- run path %s", c->run_path);
  return 0;
}

int kk_ctl_uninstall(struct kk_controller *c, struct kk_report *rep, size_t *realms_failed, size_t *failed,
                     kk_err_t *err) {
  cleanup_strv struct kk_strv realms = {0};
  *realms_failed = *failed = 0;
  if (realms_of(c, &realms, err) < 0)
    return -1;
  for (size_t i = 0; i < realms.n; i++)
    *realms_failed += (size_t)purge_realm(c, realms.v[i], rep);
  *failed = (size_t)purge_firewall(rep);
  if (*realms_failed > 0) {
    kk_report_line(rep, 2, "- cgroup root %s: skipped (realm purge failed)", c->cgroup_root);
    kk_report_line(rep, 2, "- runtime dir %s: skipped (realm purge failed)", c->runtime_dir);
    kk_report_line(rep, 2, "- run path %s: skipped (realm purge failed)", c->run_path);
    return 0;
  }
  *failed += remove_cgroup_root(c, rep);
  *failed += (size_t)remove_dir("runtime dir", c->runtime_dir, rep);
  *failed += (size_t)remove_dir("run path", c->run_path, rep);
  return 0;
}

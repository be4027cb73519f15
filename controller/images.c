/* kuke image load|pull|list|delete|prune: the image store of the run path,
 * for the daemon's handlers and in-process kuke alike.  The store is opened
 * per call: daemon threads share nothing but its files and their locks. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "controller/internal.h"
#include "lib/fs.h"
#include "lib/util.h"


static int realm_ns(struct kk_controller *c, const char *realm, char **ns, kk_err_t *err) {
  if (kk_validate_name(KK_KIND_REALM, realm, err) < 0)
    return -1;
  *ns = kk_namespace_name(realm, c->ns_suffix);
  if (kk_image_namespace_validate(*ns, err) < 0) {
    free(*ns);
    *ns = NULL;
    return -1;
  }
  return 0;
}

/* The system realm's images are what kukeon's own cells run (as root, on
 * the host's namespaces): a restricted peer may look, not change them. */
static int may_change(const struct kk_policy *policy, const char *what, const char *realm, kk_err_t *err) {
  if (policy == NULL || policy->mode == KK_PEER_TRUSTED || strcmp(realm, KK_SYSTEM_REALM) != 0)
    return 0;
  return kk_error_kind(err, KK_ERR_PERMISSION, 0,
                       "permission denied: %s: the images of realm \"%s\" are not changed by peers other than root "
                       "under the restricted peer policy (kukeond(8), PEER POLICY)",
                       what, realm);
}

static int open_store(struct kk_controller *c, struct kk_image_store **s, kk_err_t *err) {
  return kk_image_store_open(c->run_path, s, err);
}

/* ----------------------------------------------------------------- list */

static int get_one(struct kk_image_store *s, const char *ns, const char *realm, const char *ref,
                   struct kk_image_info **out, size_t *n, kk_err_t *err) {
  struct kk_image_info *one = kk_xzalloc(sizeof(*one));
  kk_err_t e = NULL;
  if (kk_image_get(s, ns, ref, one, &e) < 0) {
    free(one);
    if (e->kind != KK_ERR_NOT_FOUND) {
      *err = e;
      return -1;
    }
    kk_error_free(&e);
    cleanup_free char *name = kk_image_ref_normalize(ref, NULL);
    return kk_error_kind(err, KK_ERR_NOT_FOUND, 0, "image \"%s\" not found in realm \"%s\"", name ? name : ref, realm);
  }
  *out = one;
  *n = 1;
  return 0;
}

int kk_ctl_image_list(struct kk_controller *c, const char *realm, const char *ref, struct kk_image_info **out,
                      size_t *n, kk_err_t *err) {
  *out = NULL;
  *n = 0;
  if (ref && realm == NULL)
    realm = "default";
  cleanup_free char *ns = NULL;
  if (realm && realm_ns(c, realm, &ns, err) < 0)
    return -1;
  cleanup_free char *images = kk_asprintf("%s/images", c->run_path);
  if (!kk_exists_at(AT_FDCWD, images)) {
    if (ref)
      return kk_error_kind(err, KK_ERR_NOT_FOUND, 0, "image \"%s\" not found in realm \"%s\"", ref, realm);
    return 0;
  }
  cleanup_image_store struct kk_image_store *s = NULL;
  if (open_store(c, &s, err) < 0)
    return -1;
  if (ref)
    return get_one(s, ns, realm, ref, out, n, err);
  return kk_image_list(s, ns, out, n, err);
}

/* ----------------------------------------------------------------- load */

int kk_ctl_image_load(struct kk_controller *c, const struct kk_policy *policy, const struct kk_ctl_image_load *l,
                      int fd, struct kk_image_load_result *res, char **ns, kk_err_t *err) {
  memset(res, 0, sizeof(*res));
  *ns = NULL;
  cleanup_image_platform struct kk_platform plat = {0};
  if (!kk_empty(l->platform) && kk_image_platform_parse(l->platform, &plat, err) < 0)
    return -1;
  cleanup_free char *n = NULL;
  cleanup_image_store struct kk_image_store *s = NULL;
  if (realm_ns(c, l->realm, &n, err) < 0 || may_change(policy, "image load", l->realm, err) < 0)
    return -1;
  struct stat st;
  if (fstat(fd, &st) < 0)
    return kk_error(err, errno, "load %s", l->what);
  if (open_store(c, &s, err) < 0)
    return -1;
  struct kk_image_load_opts lo = {.name = kk_empty(l->name) ? NULL : l->name,
                                  .platform = kk_empty(l->platform) ? NULL : &plat,
                                  .cancel_fd = l->cancel_fd >= 0 ? &l->cancel_fd : NULL};
  int r = S_ISDIR(st.st_mode) ? kk_image_load_dirfd(s, n, fd, l->what, &lo, res, err)
                              : kk_image_load_fd(s, n, fd, &lo, res, err);
  if (r < 0)
    return -1;
  *ns = kk_steal(&n);
  return 0;
}

/* ----------------------------------------------------------------- pull */

struct bar {
  int fd;
  int64_t last_ms;
  bool drawn;
};

static void draw(void *arg, const struct kk_pull_progress *p) {
  struct bar *b = arg;
  int64_t now = kk_monotonic_ms();
  bool done = p->blobs_done == p->blobs_total;
  if (b->drawn && now - b->last_ms < 100 && !done)
    return;
  b->last_ms = now;
  b->drawn = true;
  char d[32], t[32];
  kk_format_size(p->done, d);
  kk_format_size(p->total, t);
  int pct = p->total > 0 ? (int)(p->done * 100 / p->total) : 0;
  if (pct > 100)
    pct = 100;
  char bar[31];
  int fill = pct * 30 / 100;
  for (int i = 0; i < 30; i++)
    bar[i] = i < fill ? '#' : '.';
  bar[30] = '\0';
  cleanup_free char *line = kk_asprintf("\r%s  [%s] %3d%%  %s / %s  (%zu/%zu blobs)\033[K", p->ref, bar, pct, d, t,
                                        p->blobs_done, p->blobs_total);
  (void)!kk_write_all(b->fd, line, strlen(line));
}

/* The realm's document; NULL when there is no such realm (a pull then
 * uses no realm settings). */
static int realm_doc(struct kk_controller *c, const char *realm, struct kk_doc **out, kk_err_t *err) {
  *out = NULL;
  struct kk_ref ref = {.kind = KK_KIND_REALM, .realm = realm, .name = realm};
  kk_err_t e = NULL;
  if (kk_ctl_get(c, &ref, out, &e) < 0) {
    if (e->kind != KK_ERR_NOT_FOUND) {
      *err = e;
      return -1;
    }
    kk_error_free(&e);
  }
  return 0;
}

int kk_ctl_image_pull(struct kk_controller *c, const struct kk_policy *policy, const struct kk_ctl_image_pull *p,
                      struct kk_image_info *info, char **ns, kk_err_t *err) {
  *ns = NULL;
  cleanup_image_platform struct kk_platform plat = {0};
  if (!kk_empty(p->platform) && kk_image_platform_parse(p->platform, &plat, err) < 0)
    return -1;
  cleanup_free char *n = NULL;
  if (realm_ns(c, p->realm, &n, err) < 0 || may_change(policy, "image pull", p->realm, err) < 0)
    return -1;
  cleanup_doc struct kk_doc *realm = NULL;
  cleanup_image_store struct kk_image_store *s = NULL;
  if (realm_doc(c, p->realm, &realm, err) < 0 || open_store(c, &s, err) < 0)
    return -1;
  bool user = !kk_empty(p->username);
  struct kk_registry_cred cred = {.username = p->username, .password = p->password ? p->password : "", .server = NULL};
  struct kk_pull_opts po = {
      .creds = user ? &cred : NULL,
      .n_creds = user ? 1 : 0,
      .insecure = p->insecure,
      .platform = kk_empty(p->platform) ? NULL : &plat,
  };
  cleanup_free struct kk_registry_cred *realm_creds = NULL;
  if (kk_image_pull_opts_for_realm(realm, p->ref, &po, &realm_creds, err) < 0)
    return -1;
  struct bar b = {.fd = p->progress_fd};
  if (p->progress_fd >= 0) {
    po.progress = draw;
    po.progress_arg = &b;
  }
  int r = kk_image_pull(s, n, p->ref, &po, info, err);
  if (b.drawn)
    (void)!kk_write_all(b.fd, "\n", 1);
  if (r < 0)
    return -1;
  *ns = kk_steal(&n);
  return 0;
}

/* ------------------------------------------------------- delete, prune */

int kk_ctl_image_delete(struct kk_controller *c, const struct kk_policy *policy, const char *realm, const char *ref,
                        char **name, char **ns, kk_err_t *err) {
  *name = *ns = NULL;
  cleanup_free char *full = kk_image_ref_normalize(ref, err);
  if (full == NULL)
    return -1;
  cleanup_free char *n = NULL;
  cleanup_image_store struct kk_image_store *s = NULL;
  if (realm_ns(c, realm, &n, err) < 0 || may_change(policy, "image delete", realm, err) < 0 ||
      open_store(c, &s, err) < 0)
    return -1;
  kk_err_t e = NULL;
  if (kk_image_delete(s, n, full, &e) < 0) {
    if (e->kind != KK_ERR_NOT_FOUND) {
      *err = e;
      return -1;
    }
    kk_error_free(&e);
    return kk_error_kind(err, KK_ERR_NOT_FOUND, 0, "image \"%s\" not found in realm \"%s\"", full, realm);
  }
  *name = kk_steal(&full);
  *ns = kk_steal(&n);
  return 0;
}

int kk_ctl_image_prune(struct kk_controller *c, const char *realm, struct kk_image_prune_result *res, char **ns,
                       kk_err_t *err) {
  *ns = NULL;
  cleanup_free char *n = NULL;
  cleanup_image_store struct kk_image_store *s = NULL;
  if (realm_ns(c, realm, &n, err) < 0 || open_store(c, &s, err) < 0 || kk_image_prune(s, res, err) < 0)
    return -1;
  *ns = kk_steal(&n);
  return 0;
}

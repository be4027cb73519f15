/* kuke exec: which running container a command goes to, then the session
 * (runtime/exec.c) on the connection kukeond hands over. */
#include <stdlib.h>

#include "controller/internal.h"
#include "lib/util.h"

struct kk_ctl_exec_target {
  char *runc_bin, *runc_root, *id, *container, *user, *cwd;
  struct kk_strv argv, env;
  bool tty, interactive;
};

void kk_ctl_exec_target_free(struct kk_ctl_exec_target **t) {
  if (*t == NULL)
    return;
  struct kk_ctl_exec_target *x = *t;
  free(x->runc_bin);
  free(x->runc_root);
  free(x->id);
  free(x->container);
  free(x->user);
  free(x->cwd);
  kk_strv_free(&x->argv);
  kk_strv_free(&x->env);
  free(x);
  *t = NULL;
}

const char *kk_ctl_exec_container(const struct kk_ctl_exec_target *t) { return t->container; }

static int must_run(struct kk_controller *c, const struct kk_ctr_paths *p, const char *id, const char *what,
                    const char *cell, kk_err_t *err) {
  struct kk_runc r = {c->runc_bin, p->runc_root};
  enum kk_runc_status st;
  pid_t pid;
  if (kk_runc_state(&r, id, &st, &pid, err) < 0)
    return -1;
  if (st != KK_RUNC_RUNNING)
    return kk_error_kind(err, KK_ERR_UNAVAILABLE, 0, "container \"%s\" of cell \"%s\" is not running", what, cell);
  return 0;
}

/* The running container of a cell a command or a signal goes to. */
static int locate(struct kk_controller *c, const struct kk_ref *cell, const char *container, const char *user,
                  struct kk_ctl_exec_target **out, kk_err_t *err) {
  cleanup_doc struct kk_doc *doc = NULL;
  {
    cleanup_close int lock = kk_store_lock(c->store, false, err);
    if (lock < 0 || kk_store_get(c->store, cell, &doc, err) < 0)
      return -1;
  }
  const struct kk_container_spec *ct = NULL;
  if (kk_ctl_cell_pick_container(&doc->u.cell, cell->name, container, &ct, err) < 0)
    return -1;
  cleanup_paths struct kk_ctr_paths p = {0};
  kk_ctl_ctr_paths_of(c, &doc->u.cell, ct, &p);
  cleanup_free char *uid = NULL;
  if (must_run(c, &p, ct->containerd_id, ct->id, cell->name, err) < 0 ||
      kk_rootfs_resolve_user(p.rootfs, user, &uid, err) < 0)
    return -1;
  struct kk_ctl_exec_target *t = kk_xzalloc(sizeof(*t));
  t->runc_bin = kk_xstrdup(c->runc_bin ? c->runc_bin : "runc");
  t->runc_root = kk_steal(&p.runc_root);
  t->id = kk_xstrdup(ct->containerd_id);
  t->container = kk_xstrdup(ct->id);
  t->user = kk_steal(&uid);
  *out = t;
  return 0;
}

int kk_ctl_signal_target(struct kk_controller *c, const struct kk_ref *cell, const char *container,
                         struct kk_ctl_exec_target **out, kk_err_t *err) {
  return locate(c, cell, container, NULL, out, err);
}

int kk_ctl_exec_signal(const struct kk_ctl_exec_target *t, int sig, kk_err_t *err) {
  struct kk_runc r = {t->runc_bin, t->runc_root};
  return kk_runc_kill(&r, t->id, sig, false, err);
}

int kk_ctl_exec_prepare(struct kk_controller *c, const struct kk_ref *cell, const struct kk_ctl_exec *x,
                        struct kk_ctl_exec_target **out, kk_err_t *err) {
  if (x->argv == NULL || x->argv->n == 0)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "exec needs a command: kuke exec CELL -- CMD [ARG...]");
  struct kk_ctl_exec_target *t = NULL;
  if (locate(c, cell, x->container, x->user, &t, err) < 0)
    return -1;
  t->cwd = kk_empty(x->cwd) ? NULL : kk_xstrdup(x->cwd);
  kk_strv_copy(&t->argv, x->argv);
  if (x->env)
    kk_strv_copy(&t->env, x->env);
  t->tty = x->tty;
  t->interactive = x->interactive;
  *out = t;
  return 0;
}

int kk_ctl_exec_run(const struct kk_ctl_exec_target *t, int conn, kk_err_t *err) {
  struct kk_runc r = {t->runc_bin, t->runc_root};
  struct kk_exec_spec s = {.runc = &r, .id = t->id, .argv = &t->argv, .env = &t->env, .user = t->user,
                           .cwd = t->cwd, .tty = t->tty, .interactive = t->interactive};
  return kk_exec_session(&s, conn, err);
}

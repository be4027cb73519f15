/* kuke status: what the host holds that the store does not name, and what
 * the image store holds.  Nothing here changes anything. */
#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "controller/internal.h"
#include "lib/fs.h"
#include "lib/util.h"

void kk_ctl_orphans_free(struct kk_ctl_orphans *o) {
  for (size_t i = 0; i < o->n; i++) {
    free(o->v[i].what);
    free(o->v[i].path);
  }
  free(o->v);
  o->v = NULL;
  o->n = 0;
}

static void orphan_add(struct kk_ctl_orphans *o, const char *what, char *path) {
  o->v = kk_xrealloc(o->v, (o->n + 1) * sizeof(*o->v));
  o->v[o->n++] = (struct kk_ctl_orphan){kk_xstrdup(what), path};
}

/* "<namespace>/<space>_<stack>_<cell>_": how the container ids of a cell
 * begin in its realm's namespace (names hold no '_'). */
static void add_owner(struct kk_controller *c, struct kk_strv *owners, const struct kk_ref *cell) {
  cleanup_free char *ns = kk_namespace_name(cell->realm, c->ns_suffix);
  cleanup_free char *prefix = kk_ctl_cell_name_prefix(cell);
  kk_strv_push_owned(owners, kk_asprintf("%s/%s", ns, prefix));
}

/* Every cell of the store, readable or not: a cell whose file is corrupt
 * still owns its containers. */
static int cell_owners(struct kk_controller *c, struct kk_strv *owners, kk_err_t *err) {
  cleanup_doc_list struct kk_doc_list cells = {0};
  cleanup_store_problems struct kk_store_problems bad = {0};
  struct kk_ref all = {.kind = KK_KIND_CELL};
  if (kk_store_list_report(c->store, KK_KIND_CELL, &all, &cells, &bad, err) < 0)
    return -1;
  for (size_t i = 0; i < cells.n; i++) {
    struct kk_ref ref = kk_ref_of(cells.docs[i]);
    add_owner(c, owners, &ref);
  }
  for (size_t i = 0; i < bad.n; i++) {
    struct kk_ref ref = kk_store_problem_ref(&bad.v[i]);
    if (ref.cell != NULL)
      ref.name = ref.cell;
    if (ref.realm && ref.space && ref.stack && ref.name)
      add_owner(c, owners, &ref);
  }
  return 0;
}

static bool owned(const struct kk_strv *owners, const char *ns, const char *id) {
  size_t nl = strlen(ns);
  for (size_t i = 0; i < owners->n; i++)
    if (strncmp(owners->v[i], ns, nl) == 0 && owners->v[i][nl] == '/' && kk_has_prefix(id, owners->v[i] + nl + 1))
      return true;
  return false;
}

/* <base>/<namespace>/<container id> directories that no cell owns. */
static void scan_containers(const char *base, const char *what, const struct kk_strv *owners,
                            struct kk_ctl_orphans *out) {
  kk_err_t e = NULL;
  cleanup_dir DIR *top = kk_dir_open_at(AT_FDCWD, base, &e);
  kk_error_free(&e);
  struct dirent *ns;
  while (top && (ns = readdir(top)) != NULL) {
    if (ns->d_name[0] == '.')
      continue;
    cleanup_dir DIR *d = kk_dir_open_at(dirfd(top), ns->d_name, &e);
    kk_error_free(&e);
    struct dirent *id;
    while (d && (id = readdir(d)) != NULL) {
      if (id->d_name[0] == '.' || owned(owners, ns->d_name, id->d_name))
        continue;
      const char *kind = what;
      cleanup_close int fd = openat(dirfd(d), id->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (fd >= 0 && strcmp(what, "bundle") == 0 && kk_monitor_alive(fd))
        kind = "monitor";
      orphan_add(out, kind, kk_asprintf("%s/%s/%s", base, ns->d_name, id->d_name));
    }
  }
}

struct unborn_ctx {
  struct kk_controller *c;
  struct kk_ctl_orphans *out;
};

/* Records the directory and keeps it (< 0: the sweep removes nothing). */
static int record_unborn(void *ctx, const struct kk_ref *ref) {
  struct unborn_ctx *u = ctx;
  cleanup_free char *rel = kk_store_rel_dir(ref);
  orphan_add(u->out, "resource", kk_asprintf("%s/%s", u->c->run_path, rel));
  return -1;
}

int kk_ctl_orphans(struct kk_controller *c, struct kk_ctl_orphans *out, kk_err_t *err) {
  cleanup_close int lock = kk_store_lock(c->store, false, err);
  if (lock < 0)
    return -1;
  cleanup_strv struct kk_strv owners = {0};
  if (cell_owners(c, &owners, err) < 0)
    return -1;
  cleanup_free char *bundles = kk_asprintf("%s/bundles", c->runtime_dir);
  cleanup_free char *runc = kk_asprintf("%s/runc", c->runtime_dir);
  cleanup_free char *layers = kk_asprintf("%s/containers", c->run_path);
  scan_containers(bundles, "bundle", &owners, out);
  scan_containers(runc, "runc", &owners, out);
  scan_containers(layers, "snapshot", &owners, out);
  struct unborn_ctx u = {c, out};
  kk_store_sweep_unborn(c->store, record_unborn, &u);
  return 0;
}

void kk_ctl_storage_free(struct kk_ctl_storage *s) {
  for (size_t i = 0; i < s->n; i++)
    free(s->v[i].ns);
  free(s->v);
  s->v = NULL;
  s->n = 0;
}

static int storage_row(struct kk_image_store *is, const char *ns, struct kk_ctl_storage *out, kk_err_t *err) {
  struct kk_image_usage u;
  if (kk_image_usage(is, ns, &u, err) < 0)
    return -1;
  out->v = kk_xrealloc(out->v, (out->n + 1) * sizeof(*out->v));
  out->v[out->n++] = (struct kk_ctl_storage_row){ns ? kk_xstrdup(ns) : NULL, u};
  return 0;
}

int kk_ctl_storage(struct kk_controller *c, struct kk_ctl_storage *out, kk_err_t *err) {
  cleanup_free char *images = kk_asprintf("%s/images", c->run_path);
  if (!kk_exists_at(AT_FDCWD, images))
    return 0; /* opening the store would make it */
  cleanup_image_store struct kk_image_store *is = NULL;
  cleanup_strv struct kk_strv nss = {0};
  if (kk_image_store_open(c->run_path, &is, err) < 0 || kk_image_namespaces(is, &nss, err) < 0)
    return -1;
  for (size_t i = 0; i < nss.n; i++)
    if (storage_row(is, nss.v[i], out, err) < 0)
      return -1;
  return storage_row(is, NULL, out, err);
}

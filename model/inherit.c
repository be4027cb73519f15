/* The effective spec of a container: what its space's defaults.container
 * and the daemon's default memory limit add to what its author wrote.
 * Merged when the cell is created or updated; the merged values are what
 * is stored, so `-o yaml` shows what the container really got. */
#include <stdlib.h>

#include "lib/util.h"
#include "model/model.h"
#include "model/schema.h"

static bool resources_set(const struct kk_container_resources *r) {
  return r->memory_limit_bytes.set || r->cpu_shares.set || r->pids_limit.set;
}

static void copy_tmpfs(struct kk_container_spec *ct, const struct kk_tmpfs *v, size_t n) {
  free(ct->tmpfs); /* an empty list */
  ct->tmpfs = kk_xzalloc(n * sizeof(*ct->tmpfs));
  for (size_t i = 0; i < n; i++) {
    ct->tmpfs[i].path = kk_xstrdup(v[i].path);
    ct->tmpfs[i].size_bytes = v[i].size_bytes;
    kk_strv_copy(&ct->tmpfs[i].options, &v[i].options);
  }
  ct->n_tmpfs = n;
}

/* Shallow: a field the container sets replaces the default wholly (two
 * capability lists are one field); readOnlyRootFilesystem true in the space
 * cannot be opted out of. */
static void inherit_space(struct kk_container_spec *ct, const struct kk_container_defaults *d) {
  if (kk_empty(ct->user) && !kk_empty(d->user)) {
    free(ct->user);
    ct->user = kk_xstrdup(d->user);
  }
  if (d->read_only_root_filesystem.set && d->read_only_root_filesystem.v)
    ct->read_only_root_filesystem = true;
  if (ct->capabilities.drop.n == 0 && ct->capabilities.add.n == 0) {
    kk_strv_copy(&ct->capabilities.drop, &d->capabilities.drop);
    kk_strv_copy(&ct->capabilities.add, &d->capabilities.add);
  }
  if (ct->security_opts.n == 0)
    kk_strv_copy(&ct->security_opts, &d->security_opts);
  if (ct->n_tmpfs == 0 && d->n_tmpfs > 0)
    copy_tmpfs(ct, d->tmpfs, d->n_tmpfs);
  if (!resources_set(&ct->resources))
    ct->resources = d->resources;
}

void kk_container_inherit(struct kk_container_spec *ct, const struct kk_container_defaults *d,
                          int64_t default_memory) {
  if (d != NULL && !kk_container_is_pause_root(ct))
    inherit_space(ct, d);
  struct kk_opt_i64 *mem = &ct->resources.memory_limit_bytes;
  if (default_memory > 0 && !(mem->set && mem->v > 0))
    *mem = (struct kk_opt_i64){.set = true, .v = default_memory};
}

void kk_cell_inherit(struct kk_cell *cell, const struct kk_container_defaults *d, int64_t default_memory) {
  for (size_t i = 0; i < cell->spec.n_containers; i++)
    kk_container_inherit(&cell->spec.containers[i], d, default_memory);
}

bool kk_container_is_pause_root(const struct kk_container_spec *ct) {
  return ct->root && kk_streq(ct->image, KK_PAUSE_IMAGE) && kk_streq(ct->id, KK_ROOT_CONTAINER_ID);
}

void kk_container_spec_replace(struct kk_container_spec *dst, const struct kk_container_spec *src) {
  struct kk_container_spec copy = {0};
  kk_schema_copy(&kk_container_spec_schema, &copy, src);
  kk_schema_free(&kk_container_spec_schema, dst);
  *dst = copy;
}

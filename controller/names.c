/* Name and reference helpers: where a resource sits in the tree, and the
 * names its containers' things go by on the host.  Pure: no host access. */
#include <string.h>

#include "controller/internal.h"
#include "lib/util.h"

bool kk_ctl_parent_ref(const struct kk_ref *ref, struct kk_ref *parent) {
  *parent = *ref;
  if (ref->kind == KK_KIND_REALM)
    return false;
  parent->kind = (enum kk_kind)(ref->kind - 1);
  parent->name = ref->kind == KK_KIND_SPACE ? ref->realm : ref->kind == KK_KIND_STACK ? ref->space : ref->stack;
  return true;
}

struct kk_ref kk_ctl_child_scope(const struct kk_ref *ref) {
  struct kk_ref s = *ref;
  s.kind = (enum kk_kind)(ref->kind + 1);
  switch (ref->kind) {
  case KK_KIND_REALM: s.realm = ref->name; break;
  case KK_KIND_SPACE: s.space = ref->name; break;
  case KK_KIND_STACK: s.stack = ref->name; break;
  default: break;
  }
  s.name = NULL;
  return s;
}

char *kk_ctl_cell_name_prefix(const struct kk_ref *cell) {
  return kk_asprintf("%s_%s_%s_", cell->space, cell->stack, cell->name);
}

void kk_ctl_cell_add_named(struct kk_cell *cell, const struct kk_ref *ref, const char *id) {
  bool root = kk_streq(id, KK_ROOT_CONTAINER_ID);
  cleanup_free char *rid = kk_container_runtime_id(ref->space, ref->stack, ref->name, id, root);
  for (size_t i = 0; i < cell->spec.n_containers; i++)
    if (kk_streq(cell->spec.containers[i].containerd_id, rid))
      return;
  cell->spec.containers =
      kk_xrealloc(cell->spec.containers, (cell->spec.n_containers + 1) * sizeof(*cell->spec.containers));
  struct kk_container_spec *ct = &cell->spec.containers[cell->spec.n_containers++];
  memset(ct, 0, sizeof(*ct));
  ct->id = kk_xstrdup(id);
  ct->containerd_id = kk_steal(&rid);
  ct->root = root;
}

char *kk_ctl_delete_title(const struct kk_ref *ref) {
  switch (ref->kind) {
  case KK_KIND_REALM: return kk_asprintf("Deleted realm \"%s\"", ref->name);
  case KK_KIND_SPACE: return kk_asprintf("Deleted space \"%s\" from realm \"%s\"", ref->name, ref->realm);
  case KK_KIND_STACK: return kk_asprintf("Deleted stack \"%s\" from space \"%s\"", ref->name, ref->space);
  default: return kk_asprintf("Deleted cell \"%s\" from stack \"%s\"", ref->name, ref->stack);
  }
}

/* "<realm>_<space>_<stack>_<cell>_<container>": names hold no '_', so the
 * name alone says which cell to look at. */
char *kk_ctl_exit_notice_name(const struct kk_cell *cell, const struct kk_container_spec *ct) {
  return kk_asprintf("%s_%s_%s_%s_%s", cell->spec.realm_id, cell->spec.space_id, cell->spec.stack_id,
                     cell->metadata.name, ct->id);
}

bool kk_ctl_exit_notice_parse(char *name, struct kk_ref *cell) {
  char *part[5];
  size_t n = 0;
  for (char *p = name;; p++) {
    if (p == name || p[-1] == '\0')
      part[n++] = p; /* never a sixth: its '_' is refused below */
    if (*p == '\0')
      break;
    if (*p == '_') {
      if (p == name || p[1] == '\0' || p[1] == '_' || n >= 5)
        return false;
      *p = '\0';
    }
  }
  if (n != 5)
    return false;
  *cell = (struct kk_ref){.kind = KK_KIND_CELL, .realm = part[0], .space = part[1], .stack = part[2], .name = part[3]};
  return true;
}

const struct kk_container_spec *kk_ctl_spec_by_id(const struct kk_cell *cell, const char *id) {
  for (size_t i = 0; i < cell->spec.n_containers; i++)
    if (kk_streq(cell->spec.containers[i].id, id))
      return &cell->spec.containers[i];
  return NULL;
}

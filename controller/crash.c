/* The test hook that kills this process at a named point (internal.h). */
#include <signal.h>
#include <string.h>

#include "controller/internal.h"
#include "lib/log.h"
#include "lib/util.h"

/* Only under a non-default cgroup root: an installed kukeond whose
 * environment happens to carry the variable never kills itself. */
enum kk_crash_point kk_ctl_crash_point_parse(const char *want, const char *cgroup_root) {
  static const char *const names[] = {
      [KK_CRASH_AFTER_RUNC_START] = "after-runc-start",
      [KK_CRASH_AFTER_CELL_START] = "after-cell-start",
      [KK_CRASH_AFTER_CONTAINER_STOP] = "after-container-stop",
      [KK_CRASH_AFTER_CELL_STOP] = "after-cell-stop",
      [KK_CRASH_MID_DELETE] = "mid-delete",
      [KK_CRASH_AFTER_INTENT] = "after-intent",
      [KK_CRASH_MID_UPDATE] = "mid-update",
      [KK_CRASH_AFTER_UPDATE] = "after-update",
      [KK_CRASH_MID_PUT] = "mid-put",
      [KK_CRASH_AFTER_PUT_FILES] = "after-put-files",
      [KK_CRASH_AFTER_PUT] = "after-put",
  };
  if (kk_empty(want) || strcmp(cgroup_root, KK_DEFAULT_CGROUP_ROOT) == 0)
    return KK_CRASH_NONE;
  for (size_t i = 1; i < KK_ARRAY_SIZE(names); i++)
    if (strcmp(want, names[i]) == 0)
      return (enum kk_crash_point)i;
  kk_warn("KUKEON_TEST_CRASH_POINT=%s: no such crash point (ignored)", want);
  return KK_CRASH_NONE;
}

void kk_ctl_crash_at(const struct kk_controller *c, enum kk_crash_point p) {
  if (c->crash_point == p && p != KK_CRASH_NONE)
    raise(SIGKILL);
}

/* A put writes each container's file, then cell.yaml, each renamed into
 * place, then removes the files of containers the cell no longer has. */
static int put_step(const char *step, void *arg) {
  struct kk_ctl_crash_put *h = arg;
  if (strcmp(step, "renamed") == 0 && h->renames_left > 0 && --h->renames_left == 0)
    raise(SIGKILL);
  return 0;
}

void kk_ctl_crash_put_arm(struct kk_controller *c, struct kk_ctl_crash_put *h, size_t n_containers) {
  if (c->crash_point != KK_CRASH_MID_PUT && c->crash_point != KK_CRASH_AFTER_PUT_FILES)
    return;
  h->hook = (struct kk_atomic_hook){put_step, h};
  h->renames_left = c->crash_point == KK_CRASH_MID_PUT ? n_containers / 2 + 1 : n_containers + 1;
  kk_store_set_write_hook(c->store, &h->hook);
}

void kk_ctl_crash_put_disarm(struct kk_controller *c) {
  if (c->crash_point == KK_CRASH_MID_PUT || c->crash_point == KK_CRASH_AFTER_PUT_FILES)
    kk_store_set_write_hook(c->store, NULL);
}

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

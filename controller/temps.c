/* Temp files that writers killed mid-write left behind. */
#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "controller/internal.h"
#include "lib/fs.h"
#include "lib/log.h"
#include "lib/util.h"

static int sweep_path(const char *path) {
  cleanup_close int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
  return fd < 0 ? 0 : kk_sweep_stale_temps(fd);
}

/* path's subdirectories (skip: one name not to enter), and with depth 2
 * theirs; no deeper. */
static int sweep_subdirs(const char *path, int depth, const char *skip) {
  kk_err_t e = NULL;
  cleanup_dir DIR *d = kk_dir_open_at(AT_FDCWD, path, &e);
  kk_error_free(&e);
  int removed = 0;
  struct dirent *de;
  while (d && (de = readdir(d)) != NULL) {
    if (de->d_name[0] == '.' || (skip && strcmp(de->d_name, skip) == 0))
      continue;
    cleanup_free char *sub = kk_asprintf("%s/%s", path, de->d_name);
    removed += sweep_path(sub);
    if (depth > 1)
      removed += sweep_subdirs(sub, depth - 1, NULL);
  }
  return removed;
}

/* Temp files a writer killed mid-write left, wherever kukeon writes
 * atomically: the store tree, the staged monitor and pause programs, the
 * image indexes, the runtime dir (pid file) and every container's bundle
 * (config.json, and the monitor's own records).  Only directories, never a
 * walk of a rootfs, an upper dir or the blobs.  Writers alive keep theirs
 * (kk_sweep_stale_temps).  Cost: one readdir per directory, a few hundred
 * microseconds for tens of cells, so every reconcile pass does it. */
void kk_ctl_sweep_temps(struct kk_controller *c) {
  int n = kk_store_sweep_temps(c->store);
  cleanup_free char *bin = kk_asprintf("%s/bin", c->run_path);
  cleanup_free char *images = kk_asprintf("%s/images", c->run_path);
  cleanup_free char *bundles = kk_asprintf("%s/bundles", c->runtime_dir);
  n += sweep_path(bin) + sweep_subdirs(bin, 1, NULL);
  n += sweep_path(images) + sweep_subdirs(images, 1, "blobs");
  n += sweep_path(c->runtime_dir) + sweep_subdirs(bundles, 2, NULL);
  if (n > 0)
    kk_info("removed %d temp file(s) left by writers that died mid-write", n);
}

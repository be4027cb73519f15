/* A container's user as the image names it: "name", "uid", "name:group",
 * "uid:gid", resolved against the rootfs's /etc/passwd and /etc/group, the
 * files read inside the root (openat2 RESOLVE_IN_ROOT) so an image's
 * symlinks cannot point the daemon at the host's files. */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lib/fs.h"
#include "lib/util.h"
#include "runtime/runtime.h"

static int open_in_root(const char *rootfs, const char *rel) {
  cleanup_close int root = open(rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (root < 0)
    return -1;
  struct open_how how = {.flags = O_RDONLY | O_CLOEXEC, .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
  return (int)syscall(SYS_openat2, root, rel, &how, sizeof(how));
}

static bool numeric(const char *s, long *out) {
  char *end = NULL;
  if (kk_empty(s))
    return false;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (*end != '\0' || errno || v < 0 || v > 0x7fffffff)
    return false;
  *out = v;
  return true;
}

/* Field 3 (and 4) of the line whose field 1 is `name` in a passwd/group
 * style file; false when there is none. */
static bool lookup(const char *rootfs, const char *file, const char *name, long *id, long *gid) {
  cleanup_close int fd = open_in_root(rootfs, file);
  if (fd < 0)
    return false;
  cleanup_free char *buf = NULL;
  size_t len = 0;
  kk_err_t err = NULL;
  if (kk_read_fd(fd, 4u << 20, file, &buf, &len, &err) < 0) {
    kk_error_free(&err);
    return false;
  }
  size_t nl = strlen(name);
  for (char *save = NULL, *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    if (strncmp(line, name, nl) != 0 || line[nl] != ':')
      continue;
    char *f[4] = {0};
    char *p = line;
    for (int i = 0; i < 4 && p; i++) {
      f[i] = p;
      p = strchr(p, ':');
      if (p)
        *p++ = '\0';
    }
    if (!f[2] || !numeric(f[2], id))
      return false;
    if (gid && !(f[3] && numeric(f[3], gid)))
      return false;
    return true;
  }
  return false;
}

int kk_rootfs_resolve_user(const char *rootfs, const char *user, char **out, kk_err_t *err) {
  if (kk_empty(user)) {
    *out = NULL;
    return 0;
  }
  cleanup_free char *u = kk_xstrdup(user);
  char *g = strchr(u, ':');
  if (g)
    *g++ = '\0';
  long uid = 0, gid = 0, pw_gid = 0;
  bool have_gid = false;
  if (!numeric(u, &uid)) {
    if (!lookup(rootfs, "/etc/passwd", u, &uid, &pw_gid))
      return kk_error_kind(err, KK_ERR_INVALID, 0, "user \"%s\" not found in the image's /etc/passwd", u);
    gid = pw_gid;
    have_gid = true;
  }
  if (g) {
    if (!numeric(g, &gid) && !lookup(rootfs, "/etc/group", g, &gid, NULL))
      return kk_error_kind(err, KK_ERR_INVALID, 0, "group \"%s\" not found in the image's /etc/group", g);
    have_gid = true;
  }
  *out = have_gid ? kk_asprintf("%ld:%ld", uid, gid) : kk_asprintf("%ld", uid);
  return 0;
}

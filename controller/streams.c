/* What kuke log and kuke attach need of a running container, for the
 * daemon to hand to a client that cannot open the monitor's directory
 * (0700, root's) itself. */
#include <fcntl.h>
#include <stdlib.h>

#include "controller/controller.h"
#include "lib/fs.h"
#include "lib/util.h"

void kk_ctl_exit_free(struct kk_ctl_exit *e) {
  free(e->container_id);
  e->container_id = NULL;
}

int kk_ctl_log_at(const char *dir, const struct kk_log_opts *o, int out_fd, int err_fd, struct kk_ctl_exit *exit,
                  kk_err_t *err) {
  if (kk_log_read(dir, o, out_fd, err_fd, err) < 0)
    return -1;
  cleanup_close int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  struct kk_exit_record ex = {0};
  kk_err_t e = NULL;
  if (dfd >= 0 && kk_monitor_read_exit(dfd, &ex, &e) == 0 && ex.exited) {
    exit->exited = true;
    exit->code = ex.exit_code;
  }
  kk_error_free(&e);
  return 0;
}

int kk_ctl_log(struct kk_controller *c, const struct kk_ref *cell, const char *container, const struct kk_log_opts *o,
               int out_fd, int err_fd, struct kk_ctl_exit *exit, kk_err_t *err) {
  cleanup_free char *dir = NULL;
  bool tty = false;
  *exit = (struct kk_ctl_exit){0};
  if (kk_ctl_container_dir(c, cell, container, &dir, &exit->container_id, &tty, err) < 0)
    return -1;
  return kk_ctl_log_at(dir, o, out_fd, err_fd, exit, err);
}

int kk_ctl_attach(struct kk_controller *c, const struct kk_ref *cell, const char *container, int *sock,
                  char **container_id, bool *tty, kk_err_t *err) {
  cleanup_free char *dir = NULL, *id = NULL;
  if (kk_ctl_container_dir(c, cell, container, &dir, &id, tty, err) < 0)
    return -1;
  if (!*tty) /* no pty and no stdin: an attach would only wait (run falls back to the log) */
    return kk_error_kind(err, KK_ERR_UNAVAILABLE, 0,
                         "container \"%s\" of cell \"%s\" is not attachable (attachable: false): follow its output "
                         "with kuke log -f", id, cell->name);
  int fd = kk_attach_open(dir, err);
  if (fd < 0)
    return -1;
  *sock = fd;
  *container_id = kk_steal(&id);
  return 0;
}

/* In-process connection: the handlers run in this process. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "api/api.h"
#include "lib/util.h"

struct kk_api {
  struct kk_controller *ctl;
};

int kk_api_open_local(const struct kk_controller_config *cfg, struct kk_api **out, kk_err_t *err) {
  struct kk_controller *ctl = NULL;
  if (kk_controller_open(cfg, &ctl, err) < 0)
    return -1;
  struct kk_api *api = kk_xzalloc(sizeof(*api));
  api->ctl = ctl;
  *out = api;
  return 0;
}

int kk_api_open_remote(const char *socket_path, struct kk_api **out, kk_err_t *err) {
  (void)out;
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  if (strlen(socket_path) >= sizeof(sa.sun_path))
    return kk_error_kind(err, KK_ERR_INVALID, 0, "socket path %s is too long", socket_path);
  strcpy(sa.sun_path, socket_path);
  cleanup_close int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return kk_error(err, errno, "socket");
  if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
    int e = errno;
    if (e == EACCES || e == EPERM)
      return kk_error_kind(err, KK_ERR_PERMISSION, 0,
                           "dial kukeond at %s: permission denied — add yourself to the kukeon group (sudo usermod "
                           "-aG kukeon $USER), then log out and back in: connect: %s",
                           socket_path, strerror(e));
    return kk_error_kind(err, KK_ERR_UNAVAILABLE, 0,
                         "dial kukeond at %s: dial unix %s: connect: %s (is kukeond running? start it with `kukeond "
                         "serve`, or run in-process with KUKEON_NO_DAEMON=true or --run-path)",
                         socket_path, socket_path, strerror(e));
  }
  return kk_error_kind(err, KK_ERR_UNAVAILABLE, 0, "kukeond at %s answered, but this kuke has no API client yet",
                       socket_path);
}

void kk_api_close(struct kk_api *api) {
  if (api == NULL)
    return;
  kk_controller_close(api->ctl);
  free(api);
}

void kk_api_closep(struct kk_api **api) {
  kk_api_close(*api);
  *api = NULL;
}

int kk_api_ping(struct kk_api *api, char **version, kk_err_t *err) {
  (void)api;
  (void)err;
  *version = kk_xstrdup(KUKEON_VERSION);
  return 0;
}

int kk_api_init(struct kk_api *api, const char *realm, const char *space, struct kk_report *rep, kk_err_t *err) {
  return kk_ctl_init(api->ctl, realm, space, rep, err);
}

int kk_api_create(struct kk_api *api, const struct kk_doc *doc, struct kk_report *rep, kk_err_t *err) {
  cleanup_doc struct kk_doc *copy = kk_doc_clone(doc);
  return kk_ctl_create(api->ctl, copy, rep, err);
}

int kk_api_get(struct kk_api *api, const struct kk_ref *ref, struct kk_doc **out, kk_err_t *err) {
  return kk_ctl_get(api->ctl, ref, out, err);
}

int kk_api_list(struct kk_api *api, enum kk_kind kind, const struct kk_ref *scope, struct kk_doc_list *out,
                kk_err_t *err) {
  return kk_ctl_list(api->ctl, kind, scope, out, err);
}

int kk_api_delete(struct kk_api *api, const struct kk_ref *ref, bool cascade, bool force, struct kk_report *rep,
                  kk_err_t *err) {
  return kk_ctl_delete(api->ctl, ref, cascade, force, rep, err);
}

int kk_api_apply(struct kk_api *api, const struct kk_apply_source *src, size_t n_src, struct kk_apply_result *res,
                 kk_err_t *err) {
  return kk_ctl_apply(api->ctl, src, n_src, res, err);
}

/* The kukeonv1 API as the CLI sees it.  A connection is either a socket to
 * kukeond or the same handlers run in-process; every call has the same
 * shape and result either way, which is what makes the two modes print
 * byte-identical output. */
#ifndef KK_API_H
#define KK_API_H

#include <stdbool.h>

#include "controller/controller.h"
#include "lib/error.h"
#include "model/model.h"
#include "store/store.h"

struct kk_api;

/* In-process: open the controller on the given configuration. */
int kk_api_open_local(const struct kk_controller_config *cfg, struct kk_api **out, kk_err_t *err);
/* Through kukeond's unix socket.  A daemon that is not there is one line
 * that says so and how to run in-process instead. */
int kk_api_open_remote(const char *socket_path, struct kk_api **out, kk_err_t *err);
void kk_api_close(struct kk_api *api);
void kk_api_closep(struct kk_api **api);
#define cleanup_api __attribute__((cleanup(kk_api_closep)))

int kk_api_ping(struct kk_api *api, char **version, kk_err_t *err);
int kk_api_init(struct kk_api *api, const char *realm, const char *space, struct kk_report *rep, kk_err_t *err);
/* Takes ownership of nothing: `doc` is copied into the request. */
int kk_api_create(struct kk_api *api, const struct kk_doc *doc, struct kk_report *rep, kk_err_t *err);
int kk_api_get(struct kk_api *api, const struct kk_ref *ref, struct kk_doc **out, kk_err_t *err);
int kk_api_list(struct kk_api *api, enum kk_kind kind, const struct kk_ref *scope, struct kk_doc_list *out,
                kk_err_t *err);
int kk_api_delete(struct kk_api *api, const struct kk_ref *ref, bool cascade, bool force, struct kk_report *rep,
                  kk_err_t *err);
int kk_api_apply(struct kk_api *api, const struct kk_apply_source *src, size_t n_src, struct kk_apply_result *res,
                 kk_err_t *err);

#endif

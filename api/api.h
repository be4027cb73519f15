/* The kukeonv1 API (api/kukeonv1.proto).
 *
 * Client side: a connection is either a socket to kukeond or the same
 * handlers run in-process.  Every call packs a Request; a remote connection
 * writes it as a frame and reads the Response frame, a local one hands it to
 * kk_api_dispatch() directly.  Both modes run the same code from the
 * request on, which is what makes their output byte-identical.
 *
 * Server side: kk_api_dispatch() turns one packed Request into one packed
 * Response; kukeond calls it for every frame it reads. */
#ifndef KK_API_H
#define KK_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "controller/controller.h"
#include "lib/error.h"
#include "model/model.h"
#include "store/store.h"

#define KK_API_MAX_FRAME (16u << 20)

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
int kk_api_create(struct kk_api *api, const struct kk_doc *doc, struct kk_report *rep, kk_err_t *err);
int kk_api_get(struct kk_api *api, const struct kk_ref *ref, struct kk_doc **out, kk_err_t *err);
/* warnings (may be NULL): state files left out, "<path>: <why>". */
int kk_api_list(struct kk_api *api, enum kk_kind kind, const struct kk_ref *scope, struct kk_doc_list *out,
                struct kk_strv *warnings, kk_err_t *err);
int kk_api_delete(struct kk_api *api, const struct kk_ref *ref, bool cascade, bool force, struct kk_report *rep,
                  kk_err_t *err);
int kk_api_apply(struct kk_api *api, const struct kk_apply_source *src, size_t n_src, struct kk_apply_result *res,
                 kk_err_t *err);

int kk_api_cell_op(struct kk_api *api, const struct kk_ref *ref, enum kk_cell_op op, struct kk_report *rep,
                   kk_err_t *err);
int kk_api_container_dir(struct kk_api *api, const struct kk_ref *cell, const char *container, char **dir,
                         char **container_id, bool *tty, kk_err_t *err);

/* ------------------------------------------------------------- server */

/* One packed Request in, one packed Response out (always, even for garbage
 * input: then the Response carries the error).  *resp is malloc'd. */
void kk_api_dispatch(struct kk_controller *ctl, const uint8_t *req, size_t req_len, uint8_t **resp,
                     size_t *resp_len);

/* A packed Response carrying only an error (for refusals before dispatch). */
void kk_api_error_response(enum kk_err_kind kind, const char *msg, uint8_t **resp, size_t *resp_len);

/* ------------------------------------------------------------- frames */

/* Read one frame from a blocking fd.  Returns 1 with *buf (malloc'd) and
 * *len, 0 on a clean EOF before any byte, -1 on error (truncated frame,
 * oversized length, I/O error: the connection is no longer usable). */
int kk_frame_read(int fd, uint8_t **buf, size_t *len, kk_err_t *err);
int kk_frame_write(int fd, const uint8_t *buf, size_t len, kk_err_t *err);
/* Split a byte buffer into the first frame: returns the frame's total size
 * (4 + n) when complete, 0 when more bytes are needed, -1 when the length
 * is over the cap. */
long kk_frame_split(const uint8_t *buf, size_t len, const uint8_t **payload, size_t *payload_len);

#endif

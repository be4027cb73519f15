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
#include <sys/types.h>

#include "controller/controller.h"
#include "lib/error.h"
#include "model/model.h"
#include "store/store.h"

#define KK_API_MAX_FRAME (16u << 20)
/* A frame, once its first byte arrived, must be complete within this; a
 * frame write must be done within it too.  Documented in kukeond(8). */
#define KK_API_FRAME_DEADLINE_MS 5000
#define KK_API_MAX_FDS 4 /* file descriptors one frame may carry */

struct kk_api;

/* In-process: open the controller on the given configuration. */
int kk_api_open_local(const struct kk_controller_config *cfg, struct kk_api **out, kk_err_t *err);
/* Through kukeond's unix socket.  A daemon that is not there is one line
 * that says so and how to run in-process instead. */
int kk_api_open_remote(const char *socket_path, struct kk_api **out, kk_err_t *err);
/* A bare connection to kukeond's socket (kuke system dial-stdio relays
 * one); the errors kk_api_open_remote gives. */
int kk_api_dial(const char *socket_path, kk_err_t *err);
/* Through ssh (api/ssh.c): argv runs the OpenSSH client up to and
 * including the remote command (`kuke system dial-stdio`); where is the
 * ssh:// address, for messages.  Each connection is one ssh. */
int kk_api_open_ssh(const char *const *argv, const char *where, struct kk_api **out, kk_err_t *err);
void kk_api_close(struct kk_api *api);
void kk_api_closep(struct kk_api **api);
#define cleanup_api KK_CLEANUP(kk_api_closep)
/* Through kukeond: a reply that has not begun within ms is an error
 * (KK_ERR_UNAVAILABLE) instead of a wait without end (kuke status).
 * In-process calls are not bounded by it. */
void kk_api_set_reply_deadline(struct kk_api *api, int ms);
/* Creates and applies of this connection waive kukeond's disk-pressure
 * guard (--ignore-disk-pressure). */
void kk_api_set_ignore_disk_pressure(struct kk_api *api, bool ignore);

int kk_api_ping(struct kk_api *api, char **version, kk_err_t *err);
/* The kukeond cell (controller.h's kk_ctl_system_*): in-process handles
 * only, never on the wire (a daemon does not manage its own cell). */
int kk_api_system_state(struct kk_api *api, enum kk_system_state *st, kk_err_t *err);
int kk_api_system_up(struct kk_api *api, const struct kk_system_opts *o, struct kk_report *rep, kk_err_t *err);
int kk_api_system_stop(struct kk_api *api, int sig, int64_t timeout_ms, bool *was_running, kk_err_t *err);
int kk_api_system_reset(struct kk_api *api, bool purge_system, struct kk_report *rep, bool *found, kk_err_t *err);
/* kuke uninstall (controller.h's kk_ctl_uninstall*): in-process only. */
int kk_api_uninstall_plan(struct kk_api *api, struct kk_report *rep, kk_err_t *err);
int kk_api_uninstall(struct kk_api *api, struct kk_report *rep, size_t *realms_failed, size_t *failed, kk_err_t *err);
/* force_cni: kuke init --force-regenerate-cni. */
int kk_api_init(struct kk_api *api, const char *realm, const char *space, bool force_cni, struct kk_report *rep,
                kk_err_t *err);
int kk_api_create(struct kk_api *api, const struct kk_doc *doc, struct kk_report *rep, kk_err_t *err);
int kk_api_get(struct kk_api *api, const struct kk_ref *ref, struct kk_doc **out, kk_err_t *err);
/* warnings (may be NULL): state files left out, "<path>: <why>". */
int kk_api_list(struct kk_api *api, enum kk_kind kind, const struct kk_ref *scope, struct kk_doc_list *out,
                struct kk_strv *warnings, kk_err_t *err);
/* kk_api_list with what a table row needs only (kk_ctl_list_summary), sent
 * as rows, not YAML: each doc holds its name, labels, parents (kk_ref_of),
 * state, creation time and (containers) restart count, nothing else. */
int kk_api_list_summary(struct kk_api *api, enum kk_kind kind, const struct kk_ref *scope, struct kk_doc_list *out,
                        struct kk_strv *warnings, kk_err_t *err);
int kk_api_delete(struct kk_api *api, const struct kk_ref *ref, bool cascade, bool force, struct kk_report *rep,
                  kk_err_t *err);
/* kuke purge (kk_ctl_purge): *failed counts the report's failed items. */
int kk_api_purge(struct kk_api *api, const struct kk_ref *ref, bool cascade, bool force, struct kk_report *rep,
                 size_t *failed, kk_err_t *err);
int kk_api_apply(struct kk_api *api, const struct kk_apply_source *src, size_t n_src, struct kk_apply_result *res,
                 kk_err_t *err);

int kk_api_cell_op(struct kk_api *api, const struct kk_ref *ref, enum kk_cell_op op, struct kk_report *rep,
                   kk_err_t *err);
/* The same with a stop's SIGTERM grace (kuke stop|restart --timeout;
 * <= 0: the cell's own, see kk_ctl_cell_op). */
int kk_api_cell_op_timed(struct kk_api *api, const struct kk_ref *ref, enum kk_cell_op op, int64_t timeout_ms,
                         struct kk_report *rep, kk_err_t *err);
/* kuke refresh (kk_ctl_refresh): the report it prints. */
int kk_api_refresh(struct kk_api *api, struct kk_report *rep, kk_err_t *err);
/* kuke log: the container's log to out_fd/err_fd (err_fd < 0: out_fd),
 * then whether it ended and its exit code.  Through kukeond the daemon
 * writes into pipes this side relays; in-process straight to the fds. */
int kk_api_log(struct kk_api *api, const struct kk_ref *cell, const char *container, const struct kk_log_opts *o,
               int out_fd, int err_fd, struct kk_ctl_exit *exit, kk_err_t *err);
/* kuke attach: a socket connected to the container's monitor, for
 * kk_attach_session (runtime.h).  The caller closes *sock. */
int kk_api_attach(struct kk_api *api, const struct kk_ref *cell, const char *container, int *sock,
                  char **container_id, bool *tty, kk_err_t *err);

/* kuke exec: x->argv in a running container of cell, in_fd to its stdin
 * (with x->interactive), its output to out_fd/err_fd, SIGINT/SIGTERM/SIGHUP
 * forwarded to it; returns once it ended, *code its exit status (128+N:
 * killed by signal N).  Through kukeond the stream is the connection; in
 * process the same stream code runs on a socket pair. */
int kk_api_exec(struct kk_api *api, const struct kk_ref *cell, const struct kk_ctl_exec *x, int in_fd, int out_fd,
                int err_fd, int *code, kk_err_t *err);

/* Images (controller.h, kk_ctl_image_*).  Load: fd is the archive this
 * side opened (a file or a pipe); a directory (an OCI layout) is loaded
 * only in-process, kukeond never reads one for a client.  Pull:
 * p->progress_fd is used in-process only. */
int kk_api_image_list(struct kk_api *api, const char *realm, const char *ref, struct kk_image_info **out, size_t *n,
                      kk_err_t *err);
int kk_api_image_load(struct kk_api *api, const struct kk_ctl_image_load *l, int fd, struct kk_image_load_result *res,
                      char **ns, kk_err_t *err);
int kk_api_image_pull(struct kk_api *api, const struct kk_ctl_image_pull *p, struct kk_image_info *info, char **ns,
                      kk_err_t *err);
int kk_api_image_delete(struct kk_api *api, const char *realm, const char *ref, char **name, char **ns, kk_err_t *err);
int kk_api_image_prune(struct kk_api *api, const char *realm, struct kk_image_prune_result *res, char **ns,
                       kk_err_t *err);

/* ------------------------------------------------------------- server */

/* Who asks, and what came with the request.  kukeond fills it from the
 * connection (SO_PEERCRED, SCM_RIGHTS); an in-process call is root's. */
struct kk_api_call {
  uid_t uid;
  pid_t pid;                      /* the peer's (SO_PEERCRED); 0 in-process */
  const struct kk_policy *policy; /* NULL: the peer may ask for anything */
  bool remote;                    /* through the socket: in_fds are the peer's */
  int in_fds[KK_API_MAX_FDS];     /* came with the request; the caller closes them */
  size_t n_in_fds;
  int cancel_fd;                  /* the connection: hangs up when the client left; -1 */
  int out_fds[KK_API_MAX_FDS];    /* go with the response; the caller sends, then closes them */
  size_t n_out_fds;
  struct kk_api_stream *stream;   /* remote only: what the connection carries after the response */
  bool upload;                    /* client: in_fds[0] goes to kukeond as stdin frames after the request */
  bool hang_up;                   /* server: the connection is out of step; close it after the response */
};

/* One packed Request in, one packed Response out (always, even for garbage
 * input: then the Response carries the error).  *resp is malloc'd. */
void kk_api_dispatch(struct kk_controller *ctl, struct kk_api_call *call, const uint8_t *req, size_t req_len,
                     uint8_t **resp, size_t *resp_len);

/* A handler that answered a log or attach request of a remote peer left
 * call->stream: once the response is written, kukeond runs it on the
 * connection (stream frames, lib/stream.h) and then closes the connection;
 * kk_api_stream_free in every case. */
void kk_api_stream_run(struct kk_api_call *call, int conn);
void kk_api_stream_free(struct kk_api_stream **s);

/* A packed Response carrying only an error (for refusals before dispatch). */
void kk_api_error_response(enum kk_err_kind kind, const char *msg, uint8_t **resp, size_t *resp_len);

/* ------------------------------------------------------------- frames */

/* Read one frame.  Waits up to idle_ms (-1: no limit) for its first byte,
 * then KK_API_FRAME_DEADLINE_MS for the whole frame.  Returns 1 with *buf
 * (malloc'd) and *len; 0 on a clean EOF before any byte or when idle_ms
 * passed without one; -1 on error (truncated frame, oversized length, the
 * deadline, I/O error: the connection is no longer usable). */
int kk_frame_read_timeout(int fd, int idle_ms, uint8_t **buf, size_t *len, kk_err_t *err);
/* kk_frame_read_timeout with no limit on the wait for the first byte. */
int kk_frame_read(int fd, uint8_t **buf, size_t *len, kk_err_t *err);
/* Write one frame within timeout_ms (0: only what fits without waiting). */
int kk_frame_write_timeout(int fd, const uint8_t *buf, size_t len, int timeout_ms, kk_err_t *err);
/* kk_frame_write_timeout within KK_API_FRAME_DEADLINE_MS. */
int kk_frame_write(int fd, const uint8_t *buf, size_t len, kk_err_t *err);
/* The same with file descriptors (SCM_RIGHTS) riding on the frame's first
 * byte: at most KK_API_MAX_FDS, received O_CLOEXEC into fds[] (*n_fds of
 * them; the caller closes them).  More than the limit is an error, and
 * every descriptor that came is closed. */
int kk_frame_read_fds(int fd, int idle_ms, uint8_t **buf, size_t *len, int *fds, size_t *n_fds, kk_err_t *err);
int kk_frame_write_fds(int fd, const uint8_t *buf, size_t len, const int *fds, size_t n_fds, int timeout_ms,
                       kk_err_t *err);
/* Split a byte buffer into the first frame: returns the frame's total size
 * (4 + n) when complete, 0 when more bytes are needed, -1 when the length
 * is over the cap. */
long kk_frame_split(const uint8_t *buf, size_t len, const uint8_t **payload, size_t *payload_len);

#endif

/* Internal to api/: model <-> wire conversions shared by client and server. */
#ifndef KK_API_CONVERT_H
#define KK_API_CONVERT_H

#include "api/api.h"
#include "api/kukeonv1.pb-c.h"

uint8_t *kk_pb_pack(const ProtobufCMessage *m, size_t *len);
void kk_ref_to_pb(const struct kk_ref *ref, Kukeonv1__Ref *pb);
/* Points into pb (no copies): valid while pb lives. */
int kk_ref_from_pb(const Kukeonv1__Ref *pb, struct kk_ref *ref, kk_err_t *err);
Kukeonv1__ErrorKind kk_err_kind_to_pb(enum kk_err_kind k);
enum kk_err_kind kk_err_kind_from_pb(Kukeonv1__ErrorKind k);

/* An image on the wire.  The message points into i (no copies) and owns
 * only its arrays: kk_pb_image_free them. */
struct kk_pb_image {
  Kukeonv1__Image img;
  Kukeonv1__Platform plat;
  Kukeonv1__Label *labels;
  Kukeonv1__Label **label_ptrs;
};
void kk_image_to_pb(const struct kk_image_info *i, struct kk_pb_image *out);
void kk_pb_image_free(struct kk_pb_image *p);
/* A copy: kk_image_info_free it. */
void kk_image_from_pb(const Kukeonv1__Image *pb, struct kk_image_info *out);

/* A summary list's rows (ListResponse.rows).  The messages point into the
 * docs (no copies) and own only their arrays: kk_pb_rows_free them. */
struct kk_pb_rows {
  Kukeonv1__SummaryRow *rows;
  Kukeonv1__SummaryRow **row_ptrs;
  Kukeonv1__Ref *refs;
  Kukeonv1__Label *labels;
  Kukeonv1__Label **label_ptrs;
};
void kk_rows_to_pb(struct kk_doc *const *docs, size_t n, struct kk_pb_rows *out);
void kk_pb_rows_free(struct kk_pb_rows *p);
/* A doc of kind want holding what the row carries, nothing else (no YAML
 * parsed).  A row that is not one of kind want is a malformed reply. */
int kk_doc_from_row(const Kukeonv1__SummaryRow *pb, enum kk_kind want, struct kk_doc **out, kk_err_t *err);

/* api/ssh.c: connections to a kukeond on another host through ssh. */
struct kk_ssh;
void kk_ssh_new(const char *const *argv, const char *where, struct kk_ssh **out);
/* A new connection: ssh started, the returned fd is its stdio. */
int kk_ssh_dial(struct kk_ssh *s, kk_err_t *err);
/* After a connection failed: when the latest ssh has ended, *err becomes
 * why (ssh's own failure, no kukeon there, the remote kuke's error). */
void kk_ssh_explain(struct kk_ssh *s, kk_err_t *err);
/* Once every connection is closed: reaps each ssh. */
void kk_ssh_free(struct kk_ssh *s);

/* api/stream.c: IMAGE_LOAD's archive from a remote peer, stdin frames
 * moved into a pipe by a thread; *rd is the pipe's read end, for the
 * loader.  End it once the loader is done: false when the connection is
 * out of step (the upload did not end with its empty frame). */
struct kk_api_upload;
int kk_api_upload_begin(struct kk_api_upload **out, int conn, int *rd, kk_err_t *err);
bool kk_api_upload_end(struct kk_api_upload *u);

/* api/stream.c: a handler's stream, left in call->stream (api.h). */
/* signals (may be NULL): signal frames from the client go there. */
void kk_api_stream_log(struct kk_api_call *call, char **dir, const struct kk_log_opts *lo,
                       struct kk_ctl_exec_target **signals);
void kk_api_stream_attach(struct kk_api_call *call, int sock);
void kk_api_stream_exec(struct kk_api_call *call, struct kk_ctl_exec_target **t);

#endif

/* The client side: pack a Request, hand it to the daemon (a frame over the
 * socket) or to kk_api_dispatch in-process, unpack the Response. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "api/convert.h"
#include "lib/fs.h"
#include "lib/stream.h"
#include "lib/util.h"

struct kk_api {
  struct kk_controller *ctl; /* in-process */
  int fd;                    /* or a connection to kukeond */
  char *socket_path;         /* or, with ssh, the ssh:// address (for messages) */
  struct kk_ssh *ssh;        /* NULL: a unix socket */
  int reply_ms;              /* how long a reply may take to begin; -1: no bound */
  bool ignore_disk_pressure; /* sent with every create and apply */
};

static char *nz_str(const char *s) { return (char *)(s ? s : ""); }

int kk_api_open_local(const struct kk_controller_config *cfg, struct kk_api **out, kk_err_t *err) {
  struct kk_controller *ctl = NULL;
  if (kk_controller_open(cfg, &ctl, err) < 0)
    return -1;
  struct kk_api *api = kk_xzalloc(sizeof(*api));
  api->ctl = ctl;
  api->fd = -1;
  *out = api;
  return 0;
}

int kk_api_dial(const char *socket_path, kk_err_t *err) {
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  if (strlen(socket_path) >= sizeof(sa.sun_path))
    return kk_error_kind(err, KK_ERR_INVALID, 0, "socket path %s is too long", socket_path);
  strcpy(sa.sun_path, socket_path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return kk_error(err, errno, "create a socket to reach kukeond");
  if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
    int e = errno;
    close(fd);
    if (e == EACCES || e == EPERM)
      return kk_error_kind(err, KK_ERR_PERMISSION, 0,
                           "cannot reach kukeond at unix://%s: permission denied — add yourself to the kukeon group "
                           "(sudo usermod -aG kukeon $USER), then log out and back in",
                           socket_path);
    return kk_error_kind(err, KK_ERR_UNAVAILABLE, 0,
                         "cannot reach kukeond at unix://%s: %s (is kukeond running? start it with `kukeond serve`, "
                         "or run in-process with KUKEON_NO_DAEMON=true or --run-path)",
                         socket_path, strerror(e));
  }
  return fd;
}

/* A new connection to the same kukeond. */
static int connect_again(struct kk_api *api, kk_err_t *err) {
  return api->ssh ? kk_ssh_dial(api->ssh, err) : kk_api_dial(api->socket_path, err);
}

/* The connection failed: through ssh, say why ssh or the remote side ended. */
static int transport_failed(struct kk_api *api, kk_err_t *err) {
  if (api->ssh)
    kk_ssh_explain(api->ssh, err);
  return -1;
}

int kk_api_open_ssh(const char *const *argv, const char *where, struct kk_api **out, kk_err_t *err) {
  struct kk_api *api = kk_xzalloc(sizeof(*api));
  kk_ssh_new(argv, where, &api->ssh);
  api->socket_path = kk_xstrdup(where);
  api->reply_ms = -1;
  api->fd = kk_ssh_dial(api->ssh, err);
  if (api->fd < 0) {
    kk_api_close(api);
    return -1;
  }
  *out = api;
  return 0;
}

int kk_api_open_remote(const char *socket_path, struct kk_api **out, kk_err_t *err) {
  int fd = kk_api_dial(socket_path, err);
  if (fd < 0)
    return -1;
  struct kk_api *api = kk_xzalloc(sizeof(*api));
  api->fd = fd;
  api->socket_path = kk_xstrdup(socket_path);
  api->reply_ms = -1;
  *out = api;
  return 0;
}

/* kukeond hangs up connections that sit idle (kukeond(8), LIMITS), e.g.
 * while `kuke run --rm` follows a container before deleting it: dial
 * again when the daemon already closed this one.  Bytes waiting instead
 * are the daemon's refusal, which the call reads. */
static int redial_if_closed(struct kk_api *api, kk_err_t *err) {
  if (api->fd < 0) { /* the last one carried a stream */
    api->fd = connect_again(api, err);
    return api->fd < 0 ? -1 : 0;
  }
  struct pollfd p = {api->fd, POLLIN, 0};
  if (poll(&p, 1, 0) <= 0)
    return 0;
  char c;
  if (recv(api->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) > 0)
    return 0;
  close(api->fd);
  api->fd = connect_again(api, err);
  return api->fd < 0 ? -1 : 0;
}

void kk_api_close(struct kk_api *api) {
  if (api == NULL)
    return;
  kk_controller_close(api->ctl);
  if (api->fd >= 0)
    close(api->fd);
  kk_ssh_free(api->ssh);
  free(api->socket_path);
  free(api);
}

void kk_api_set_reply_deadline(struct kk_api *api, int ms) { api->reply_ms = ms; }

void kk_api_set_ignore_disk_pressure(struct kk_api *api, bool ignore) { api->ignore_disk_pressure = ignore; }

void kk_api_closep(struct kk_api **api) {
  kk_api_close(*api);
  *api = NULL;
}

/* A daemon that refuses a connection (over a limit, not permitted) writes
 * its reason and closes without reading: the request's write then fails
 * with EPIPE or ECONNRESET, and the reason is still there to be read. */
static int read_refusal(struct kk_api *api, kk_err_t *err, uint8_t **resp, size_t *resp_len) {
  kk_error_free(err);
  int r = kk_frame_read_timeout(api->fd, KK_API_FRAME_DEADLINE_MS, resp, resp_len, err);
  kk_error_free(err);
  if (r > 0)
    return 0;
  kk_error_kind(err, KK_ERR_UNAVAILABLE, 0,
                "kukeond at %s closed the connection before reading the request, without saying why; retry",
                api->socket_path);
  return transport_failed(api, err);
}

/* c->upload: the file after the request, as stdin frames and an empty one
 * (kukeond may stop reading early, when what came is already wrong). */
#define UPLOAD_FRAME_MS 60000 /* the loader may be busy with what came before */
static int upload(struct kk_api *api, int fd, kk_err_t *err) {
  cleanup_free char *buf = kk_xmalloc(KK_STREAM_MAX_PAYLOAD);
  for (;;) {
    ssize_t n = read(fd, buf, KK_STREAM_MAX_PAYLOAD);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return kk_error(err, errno, "read the archive");
    if (kk_stream_write(api->fd, KK_STREAM_STDIN, buf, (size_t)n, UPLOAD_FRAME_MS, err) < 0 || n == 0)
      return n == 0 && *err == NULL ? 0 : -1;
  }
}

static int remote_call(struct kk_api *api, const uint8_t *req, size_t req_len, struct kk_api_call *c, uint8_t **resp,
                       size_t *resp_len, kk_err_t *err) {
  if (redial_if_closed(api, err) < 0)
    return -1;
  size_t n_fds = c->upload ? 0 : c->n_in_fds;
  if (kk_frame_write_fds(api->fd, req, req_len, c->in_fds, n_fds, KK_API_FRAME_DEADLINE_MS, err) < 0 ||
      (c->upload && upload(api, c->in_fds[0], err) < 0)) {
    if ((*err)->errnum == EPIPE || (*err)->errnum == ECONNRESET)
      return read_refusal(api, err, resp, resp_len);
    return kk_error_wrap(err, "send request to kukeond at %s", api->socket_path);
  }
  int r = kk_frame_read_fds(api->fd, api->reply_ms, resp, resp_len, c->out_fds, &c->n_out_fds, err);
  if (r == 0 && api->reply_ms >= 0)
    return kk_error_kind(err, KK_ERR_UNAVAILABLE, 0, "kukeond at %s did not answer within %d ms", api->socket_path,
                         api->reply_ms);
  if (r == 0)
    kk_error_kind(err, KK_ERR_UNAVAILABLE, 0, "kukeond at %s closed the connection without answering", api->socket_path);
  else if (r < 0)
    kk_error_wrap(err, "read reply from kukeond at %s", api->socket_path);
  return r <= 0 ? transport_failed(api, err) : 0;
}

/* Send one request; on success *payload is the response payload (malloc'd)
 * and c->out_fds what came with it (the caller closes them). */
static int call_with(struct kk_api *api, Kukeonv1__Method method, const ProtobufCMessage *msg, struct kk_api_call *c,
                     uint8_t **payload, size_t *payload_len, kk_err_t *err) {
  Kukeonv1__Request req = KUKEONV1__REQUEST__INIT;
  req.method = method;
  cleanup_free uint8_t *body = kk_pb_pack(msg, &req.payload.len);
  req.payload.data = body;
  size_t req_len;
  cleanup_free uint8_t *packed = kk_pb_pack(&req.base, &req_len);
  cleanup_free uint8_t *resp_buf = NULL;
  size_t resp_len = 0;
  if (api->ctl != NULL)
    kk_api_dispatch(api->ctl, c, packed, req_len, &resp_buf, &resp_len);
  else if (remote_call(api, packed, req_len, c, &resp_buf, &resp_len, err) < 0)
    return -1;
  Kukeonv1__Response *resp = kukeonv1__response__unpack(NULL, resp_len, resp_buf);
  if (resp == NULL) {
    kk_close_fds(c->out_fds, &c->n_out_fds);
    return kk_error_kind(err, KK_ERR_INTERNAL, 0, "malformed response from kukeond");
  }
  int ret = 0;
  if (resp->error_kind != KUKEONV1__ERROR_KIND__OK) {
    kk_close_fds(c->out_fds, &c->n_out_fds);
    ret = kk_error_kind(err, kk_err_kind_from_pb(resp->error_kind), 0, "%s",
                        resp->error_message && *resp->error_message ? resp->error_message : "request failed");
  } else {
    *payload = kk_xmalloc(resp->payload.len ? resp->payload.len : 1);
    if (resp->payload.len)
      memcpy(*payload, resp->payload.data, resp->payload.len);
    *payload_len = resp->payload.len;
  }
  kukeonv1__response__free_unpacked(resp, NULL);
  return ret;
}

static int call(struct kk_api *api, Kukeonv1__Method method, const ProtobufCMessage *msg, uint8_t **payload,
                size_t *payload_len, kk_err_t *err) {
  struct kk_api_call c = {.cancel_fd = -1};
  int ret = call_with(api, method, msg, &c, payload, payload_len, err);
  kk_close_fds(c.out_fds, &c.n_out_fds); /* none expected */
  return ret;
}

static void report_copy(const Kukeonv1__Report *pb, struct kk_report *rep) {
  rep->title = *pb->title ? kk_xstrdup(pb->title) : NULL;
  for (size_t i = 0; i < pb->n_lines; i++)
    kk_strv_push(&rep->lines, pb->lines[i]);
}

static int report_from(const uint8_t *p, size_t n, struct kk_report *rep, kk_err_t *err) {
  Kukeonv1__Report *pb = kukeonv1__report__unpack(NULL, n, p);
  if (pb == NULL)
    return kk_error_kind(err, KK_ERR_INTERNAL, 0, "malformed report from kukeond");
  report_copy(pb, rep);
  kukeonv1__report__free_unpacked(pb, NULL);
  return 0;
}

int kk_api_ping(struct kk_api *api, char **version, kk_err_t *err) {
  Kukeonv1__PingRequest req = KUKEONV1__PING_REQUEST__INIT;
  cleanup_free uint8_t *p = NULL;
  size_t n = 0;
  if (call(api, KUKEONV1__METHOD__PING, &req.base, &p, &n, err) < 0)
    return -1;
  Kukeonv1__PingResponse *resp = kukeonv1__ping_response__unpack(NULL, n, p);
  if (resp == NULL)
    return kk_error_kind(err, KK_ERR_INTERNAL, 0, "malformed ping reply");
  *version = kk_xstrdup(resp->version);
  kukeonv1__ping_response__free_unpacked(resp, NULL);
  return 0;
}

/* ------------------------------------------------------ the kukeond cell */

static int local_only(struct kk_api *api, kk_err_t *err) {
  if (api->ctl == NULL)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "the kukeond cell is managed in-process only (kuke init, kuke daemon, kuke uninstall)");
  return 0;
}

int kk_api_system_state(struct kk_api *api, enum kk_system_state *st, kk_err_t *err) {
  return local_only(api, err) < 0 ? -1 : kk_ctl_system_state(api->ctl, st, err);
}

int kk_api_system_up(struct kk_api *api, const struct kk_system_opts *o, struct kk_report *rep, kk_err_t *err) {
  return local_only(api, err) < 0 ? -1 : kk_ctl_system_up(api->ctl, o, rep, err);
}

int kk_api_system_stop(struct kk_api *api, int sig, int64_t timeout_ms, bool *was_running, kk_err_t *err) {
  return local_only(api, err) < 0 ? -1 : kk_ctl_system_stop(api->ctl, sig, timeout_ms, was_running, err);
}

int kk_api_system_reset(struct kk_api *api, bool purge_system, struct kk_report *rep, bool *found, kk_err_t *err) {
  return local_only(api, err) < 0 ? -1 : kk_ctl_system_reset(api->ctl, purge_system, rep, found, err);
}

int kk_api_uninstall_plan(struct kk_api *api, struct kk_report *rep, kk_err_t *err) {
  return local_only(api, err) < 0 ? -1 : kk_ctl_uninstall_plan(api->ctl, rep, err);
}

int kk_api_uninstall(struct kk_api *api, struct kk_report *rep, size_t *realms_failed, size_t *failed, kk_err_t *err) {
  return local_only(api, err) < 0 ? -1 : kk_ctl_uninstall(api->ctl, rep, realms_failed, failed, err);
}

int kk_api_init(struct kk_api *api, const char *realm, const char *space, bool force_cni, struct kk_report *rep,
                kk_err_t *err) {
  Kukeonv1__InitRequest req = KUKEONV1__INIT_REQUEST__INIT;
  req.realm = (char *)(realm ? realm : "");
  req.space = (char *)(space ? space : "");
  req.force_regenerate_cni = force_cni;
  cleanup_free uint8_t *p = NULL;
  size_t n = 0;
  if (call(api, KUKEONV1__METHOD__INIT, &req.base, &p, &n, err) < 0)
    return -1;
  return report_from(p, n, rep, err);
}

int kk_api_create(struct kk_api *api, const struct kk_doc *doc, struct kk_report *rep, kk_err_t *err) {
  cleanup_free char *yaml = kk_doc_to_yaml(doc);
  Kukeonv1__CreateRequest req = KUKEONV1__CREATE_REQUEST__INIT;
  req.document.data = (uint8_t *)yaml;
  req.document.len = strlen(yaml);
  req.ignore_disk_pressure = api->ignore_disk_pressure;
  cleanup_free uint8_t *p = NULL;
  size_t n = 0;
  if (call(api, KUKEONV1__METHOD__CREATE, &req.base, &p, &n, err) < 0)
    return -1;
  return report_from(p, n, rep, err);
}

static int doc_from(const ProtobufCBinaryData *b, struct kk_doc **out, kk_err_t *err) {
  struct kk_doc_list l = {0};
  if (kk_docs_parse((const char *)b->data, b->len, "<kukeond reply>", &l, err) < 0)
    return -1;
  if (l.n != 1) {
    kk_doc_list_free(&l);
    return kk_error_kind(err, KK_ERR_INTERNAL, 0, "kukeond replied with %zu documents, expected one", l.n);
  }
  *out = l.docs[0];
  free(l.docs);
  return 0;
}

int kk_api_get(struct kk_api *api, const struct kk_ref *ref, struct kk_doc **out, kk_err_t *err) {
  Kukeonv1__GetRequest req = KUKEONV1__GET_REQUEST__INIT;
  Kukeonv1__Ref pbref;
  kk_ref_to_pb(ref, &pbref);
  req.ref = &pbref;
  cleanup_free uint8_t *p = NULL;
  size_t n = 0;
  if (call(api, KUKEONV1__METHOD__GET, &req.base, &p, &n, err) < 0)
    return -1;
  Kukeonv1__GetResponse *resp = kukeonv1__get_response__unpack(NULL, n, p);
  if (resp == NULL)
    return kk_error_kind(err, KK_ERR_INTERNAL, 0, "malformed get reply");
  int ret = doc_from(&resp->document, out, err);
  kukeonv1__get_response__free_unpacked(resp, NULL);
  return ret;
}

static int list_call(struct kk_api *api, enum kk_kind kind, const struct kk_ref *scope, bool summary,
                     struct kk_doc_list *out, struct kk_strv *warnings, kk_err_t *err) {
  Kukeonv1__ListRequest req = KUKEONV1__LIST_REQUEST__INIT;
  req.summary = summary;
  req.rows = summary;
  struct kk_ref s = scope ? *scope : (struct kk_ref){0};
  s.kind = kind;
  Kukeonv1__Ref pbref;
  kk_ref_to_pb(&s, &pbref);
  req.scope = &pbref;
  cleanup_free uint8_t *p = NULL;
  size_t n = 0;
  if (call(api, KUKEONV1__METHOD__LIST, &req.base, &p, &n, err) < 0)
    return -1;
  Kukeonv1__ListResponse *resp = kukeonv1__list_response__unpack(NULL, n, p);
  if (resp == NULL)
    return kk_error_kind(err, KK_ERR_INTERNAL, 0, "malformed list reply");
  int ret = 0;
  if (resp->n_rows > 0 && !summary)
    ret = kk_error_kind(err, KK_ERR_INTERNAL, 0, "malformed list reply: rows where documents were asked for");
  /* Rows from a kukeond that knows them, documents from one that does not. */
  for (size_t i = 0; i < resp->n_documents && ret == 0; i++) {
    struct kk_doc *d = NULL;
    ret = doc_from(&resp->documents[i], &d, err);
    if (ret == 0)
      kk_doc_list_push(out, d);
  }
  for (size_t i = 0; i < resp->n_rows && ret == 0; i++) {
    struct kk_doc *d = NULL;
    ret = kk_doc_from_row(resp->rows[i], kind, &d, err);
    if (ret == 0)
      kk_doc_list_push(out, d);
  }
  for (size_t i = 0; i < resp->n_warnings && ret == 0 && warnings; i++)
    kk_strv_push(warnings, resp->warnings[i]);
  kukeonv1__list_response__free_unpacked(resp, NULL);
  return ret;
}

int kk_api_list(struct kk_api *api, enum kk_kind kind, const struct kk_ref *scope, struct kk_doc_list *out,
                struct kk_strv *warnings, kk_err_t *err) {
  return list_call(api, kind, scope, false, out, warnings, err);
}

int kk_api_list_summary(struct kk_api *api, enum kk_kind kind, const struct kk_ref *scope, struct kk_doc_list *out,
                        struct kk_strv *warnings, kk_err_t *err) {
  return list_call(api, kind, scope, true, out, warnings, err);
}

/* A DeleteRequest (delete and purge take the same one). */
static int delete_call(struct kk_api *api, Kukeonv1__Method method, const struct kk_ref *ref, bool cascade,
                       bool force, uint8_t **p, size_t *n, kk_err_t *err) {
  Kukeonv1__DeleteRequest req = KUKEONV1__DELETE_REQUEST__INIT;
  Kukeonv1__Ref pbref;
  kk_ref_to_pb(ref, &pbref);
  req.ref = &pbref;
  req.cascade = cascade;
  req.force = force;
  return call(api, method, &req.base, p, n, err);
}

int kk_api_delete(struct kk_api *api, const struct kk_ref *ref, bool cascade, bool force, struct kk_report *rep,
                  kk_err_t *err) {
  cleanup_free uint8_t *p = NULL;
  size_t n = 0;
  if (delete_call(api, KUKEONV1__METHOD__DELETE, ref, cascade, force, &p, &n, err) < 0)
    return -1;
  return report_from(p, n, rep, err);
}

int kk_api_purge(struct kk_api *api, const struct kk_ref *ref, bool cascade, bool force, struct kk_report *rep,
                 size_t *failed, kk_err_t *err) {
  cleanup_free uint8_t *p = NULL;
  size_t n = 0;
  if (delete_call(api, KUKEONV1__METHOD__PURGE, ref, cascade, force, &p, &n, err) < 0)
    return -1;
  Kukeonv1__PurgeResponse *resp = kukeonv1__purge_response__unpack(NULL, n, p);
  if (resp == NULL)
    return kk_error_kind(err, KK_ERR_INTERNAL, 0, "malformed purge reply");
  if (resp->report)
    report_copy(resp->report, rep);
  *failed = resp->failed;
  kukeonv1__purge_response__free_unpacked(resp, NULL);
  return 0;
}

int kk_api_cell_op_timed(struct kk_api *api, const struct kk_ref *ref, enum kk_cell_op op, int64_t timeout_ms,
                         struct kk_report *rep, kk_err_t *err) {
  Kukeonv1__CellOpRequest req = KUKEONV1__CELL_OP_REQUEST__INIT;
  Kukeonv1__Ref pbref;
  kk_ref_to_pb(ref, &pbref);
  req.ref = &pbref;
  req.op = (int32_t)op;
  req.timeout_ms = timeout_ms > 0 ? timeout_ms : 0;
  cleanup_free uint8_t *p = NULL;
  size_t n = 0;
  if (call(api, KUKEONV1__METHOD__CELL_OP, &req.base, &p, &n, err) < 0)
    return -1;
  return report_from(p, n, rep, err);
}

int kk_api_cell_op(struct kk_api *api, const struct kk_ref *ref, enum kk_cell_op op, struct kk_report *rep,
                   kk_err_t *err) {
  return kk_api_cell_op_timed(api, ref, op, 0, rep, err);
}

int kk_api_refresh(struct kk_api *api, struct kk_report *rep, kk_err_t *err) {
  Kukeonv1__RefreshRequest req = KUKEONV1__REFRESH_REQUEST__INIT;
  cleanup_free uint8_t *p = NULL;
  size_t n = 0;
  if (call(api, KUKEONV1__METHOD__REFRESH, &req.base, &p, &n, err) < 0)
    return -1;
  return report_from(p, n, rep, err);
}

static int log_response(const uint8_t *p, size_t n, struct kk_ctl_exit *exit, kk_err_t *err) {
  Kukeonv1__LogResponse *resp = kukeonv1__log_response__unpack(NULL, n, p);
  if (resp == NULL)
    return kk_error_kind(err, KK_ERR_INTERNAL, 0, "malformed log reply");
  *exit = (struct kk_ctl_exit){resp->exited, resp->exit_code, kk_xstrdup(resp->container)};
  kukeonv1__log_response__free_unpacked(resp, NULL);
  return 0;
}

/* After a remote answer to log or attach the connection carries the
 * stream (api/stream.c) and is not used for requests again. */
static int take_stream(struct kk_api *api) {
  int fd = api->fd;
  api->fd = -1;
  return fd;
}

/* In-process an exec (or kuke run's log) runs as it does in kukeond: the
 * same stream code, on one end of a socket pair, in a thread of its own. */
struct inproc_stream {
  struct kk_api_call call;
  int fd;
};

static void *inproc_stream_run(void *p) {
  struct inproc_stream *s = p;
  kk_api_stream_run(&s->call, s->fd);
  close(s->fd);
  return NULL;
}

/* The connection a stream comes on: kukeond's, or a socket pair whose
 * other end a thread serves (*th set, joined by the caller). */
static int open_stream(struct kk_api *api, struct inproc_stream *ip, pthread_t *th, bool *threaded, kk_err_t *err) {
  if (api->ctl == NULL)
    return take_stream(api);
  int sp[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
    return kk_error(err, errno, "socketpair");
  ip->fd = sp[0];
  /* The signals the session takes stay with it: a thread that did not block
   * them could be the one a SIGTERM is delivered to, and die of it. */
  sigset_t mask, old;
  sigemptyset(&mask);
  int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGWINCH};
  for (size_t i = 0; i < KK_ARRAY_SIZE(sigs); i++)
    sigaddset(&mask, sigs[i]);
  pthread_sigmask(SIG_BLOCK, &mask, &old);
  int e = pthread_create(th, NULL, inproc_stream_run, ip);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (e != 0) {
    close(sp[0]);
    close(sp[1]);
    return kk_error(err, e, "start the stream's thread");
  }
  *threaded = true;
  return sp[1];
}

int kk_api_log(struct kk_api *api, const struct kk_ref *cell, const char *container, const struct kk_log_opts *o,
               int out_fd, int err_fd, struct kk_ctl_exit *exit, kk_err_t *err) {
  Kukeonv1__LogRequest req = KUKEONV1__LOG_REQUEST__INIT;
  Kukeonv1__Ref pbref;
  kk_ref_to_pb(cell, &pbref);
  req.cell = &pbref;
  req.container = (char *)(container ? container : "");
  req.follow = o->follow;
  req.timestamps = o->timestamps;
  req.tail = o->tail;
  req.forward_signals = o->forward_signals;
  bool direct = api->ctl != NULL && !o->forward_signals; /* in-process: straight into the fds */
  struct inproc_stream ip = {.call = {.cancel_fd = -1}, .fd = -1};
  if (direct) {
    ip.call.in_fds[ip.call.n_in_fds++] = out_fd;
    ip.call.in_fds[ip.call.n_in_fds++] = err_fd >= 0 ? err_fd : out_fd;
  }
  cleanup_free uint8_t *p = NULL;
  size_t n = 0;
  int r = call_with(api, KUKEONV1__METHOD__LOG, &req.base, &ip.call, &p, &n, err);
  if (r == 0)
    r = log_response(p, n, exit, err);
  if (r < 0 || direct) {
    kk_api_stream_free(&ip.call.stream);
    return r;
  }
  pthread_t th;
  bool threaded = false;
  int conn = open_stream(api, &ip, &th, &threaded, err);
  struct kk_attach_exit ax = {0};
  if (conn >= 0) {
    r = kk_attach_session(conn, -1, out_fd, err_fd, &(struct kk_attach_opts){.forward_signals = o->forward_signals},
                          &ax, err);
    close(conn);
  }
  if (threaded)
    pthread_join(th, NULL);
  kk_api_stream_free(&ip.call.stream);
  if (conn < 0 || r < 0)
    return -1;
  if (!ax.got) {
    kk_error_kind(err, KK_ERR_UNAVAILABLE, 0, "the log stream of %s ended before the log did", exit->container_id);
    return transport_failed(api, err);
  }
  exit->exited = ax.ended;
  exit->code = ax.code;
  return 0;
}

int kk_api_attach(struct kk_api *api, const struct kk_ref *cell, const char *container, int *sock,
                  char **container_id, bool *tty, kk_err_t *err) {
  Kukeonv1__AttachRequest req = KUKEONV1__ATTACH_REQUEST__INIT;
  Kukeonv1__Ref pbref;
  kk_ref_to_pb(cell, &pbref);
  req.cell = &pbref;
  req.container = (char *)(container ? container : "");
  struct kk_api_call c = {.cancel_fd = -1};
  cleanup_free uint8_t *p = NULL;
  size_t n = 0;
  if (call_with(api, KUKEONV1__METHOD__ATTACH, &req.base, &c, &p, &n, err) < 0)
    return -1;
  Kukeonv1__AttachResponse *resp = kukeonv1__attach_response__unpack(NULL, n, p);
  if (resp == NULL || c.n_out_fds != (api->ctl != NULL ? 1u : 0u)) {
    kk_close_fds(c.out_fds, &c.n_out_fds);
    if (resp)
      kukeonv1__attach_response__free_unpacked(resp, NULL);
    return kk_error_kind(err, KK_ERR_INTERNAL, 0, "malformed attach reply");
  }
  *sock = api->ctl != NULL ? c.out_fds[0] : take_stream(api);
  *container_id = kk_xstrdup(resp->container);
  *tty = resp->tty;
  kukeonv1__attach_response__free_unpacked(resp, NULL);
  return 0;
}

int kk_api_exec(struct kk_api *api, const struct kk_ref *cell, const struct kk_ctl_exec *x, int in_fd, int out_fd,
                int err_fd, int *code, kk_err_t *err) {
  Kukeonv1__ExecRequest req = KUKEONV1__EXEC_REQUEST__INIT;
  Kukeonv1__Ref pbref;
  kk_ref_to_pb(cell, &pbref);
  req.cell = &pbref;
  req.container = nz_str(x->container);
  req.args = x->argv->v;
  req.n_args = x->argv->n;
  req.env = x->env ? x->env->v : NULL;
  req.n_env = x->env ? x->env->n : 0;
  req.user = nz_str(x->user);
  req.workdir = nz_str(x->cwd);
  req.tty = x->tty;
  req.interactive = x->interactive;
  struct inproc_stream ip = {.call = {.cancel_fd = -1}, .fd = -1};
  cleanup_free uint8_t *p = NULL;
  size_t n = 0;
  if (call_with(api, KUKEONV1__METHOD__EXEC, &req.base, &ip.call, &p, &n, err) < 0) {
    kk_api_stream_free(&ip.call.stream);
    return -1;
  }
  pthread_t th;
  bool threaded = false;
  int conn = open_stream(api, &ip, &th, &threaded, err);
  struct kk_attach_exit ax = {0};
  int r = conn < 0 ? -1
                   : kk_attach_session(conn, x->interactive ? in_fd : -1, out_fd, err_fd,
                                       &(struct kk_attach_opts){.tty = x->tty, .forward_signals = true}, &ax, err);
  if (conn >= 0)
    close(conn); /* a session that ended early (detach keys) hangs the command up */
  if (threaded)
    pthread_join(th, NULL);
  kk_api_stream_free(&ip.call.stream);
  if (r < 0)
    return -1;
  if (r == KK_ATTACH_DETACHED) {
    *code = 0;
    return 0;
  }
  if (!ax.got) {
    kk_error_kind(err, KK_ERR_UNAVAILABLE, 0, "the exec stream ended before the command's exit");
    return transport_failed(api, err);
  }
  *code = ax.code;
  return 0;
}

int kk_api_apply(struct kk_api *api, const struct kk_apply_source *src, size_t n_src, struct kk_apply_result *res,
                 kk_err_t *err) {
  Kukeonv1__ApplyRequest req = KUKEONV1__APPLY_REQUEST__INIT;
  Kukeonv1__ApplySource *srcs = kk_xzalloc((n_src ? n_src : 1) * sizeof(*srcs));
  Kukeonv1__ApplySource **ptrs = kk_xzalloc((n_src ? n_src : 1) * sizeof(*ptrs));
  for (size_t i = 0; i < n_src; i++) {
    kukeonv1__apply_source__init(&srcs[i]);
    srcs[i].file = (char *)(src[i].file ? src[i].file : "");
    srcs[i].content.data = (uint8_t *)src[i].buf;
    srcs[i].content.len = src[i].len;
    ptrs[i] = &srcs[i];
  }
  req.sources = ptrs;
  req.n_sources = n_src;
  req.ignore_disk_pressure = api->ignore_disk_pressure;
  cleanup_free uint8_t *p = NULL;
  size_t n = 0;
  int ret = call(api, KUKEONV1__METHOD__APPLY, &req.base, &p, &n, err);
  free(ptrs);
  free(srcs);
  if (ret < 0)
    return -1;
  Kukeonv1__ApplyResponse *resp = kukeonv1__apply_response__unpack(NULL, n, p);
  if (resp == NULL)
    return kk_error_kind(err, KK_ERR_INTERNAL, 0, "malformed apply reply");
  res->items = kk_xzalloc((resp->n_items ? resp->n_items : 1) * sizeof(*res->items));
  for (size_t i = 0; i < resp->n_items; i++) {
    const Kukeonv1__ApplyItem *it = resp->items[i];
    struct kk_apply_item *o = &res->items[res->n++];
    o->index = it->index;
    if (kk_kind_parse(it->kind, &o->kind) < 0)
      o->kind = KK_KIND_REALM;
    o->name = kk_xstrdup(it->name);
    o->action = KK_APPLY_FAILED;
    for (int a = KK_APPLY_CREATED; a <= KK_APPLY_FAILED; a++)
      if (strcmp(it->action, kk_apply_action_name((enum kk_apply_action)a)) == 0)
        o->action = (enum kk_apply_action)a;
    o->error = *it->error ? kk_xstrdup(it->error) : NULL;
    for (size_t k = 0; k < it->n_changes; k++)
      kk_strv_push(&o->changes, it->changes[k]);
    for (size_t k = 0; k + 1 < it->n_details; k += 2) { /* pairs: an odd count is a malformed reply's */
      kk_strv_push(&o->details, it->details[k]);
      kk_strv_push(&o->details, it->details[k + 1]);
    }
    for (size_t k = 0; k < it->n_warnings; k++)
      kk_strv_push(&o->warnings, it->warnings[k]);
  }
  kukeonv1__apply_response__free_unpacked(resp, NULL);
  return 0;
}

/* ------------------------------------------------------------- images */

int kk_api_image_list(struct kk_api *api, const char *realm, const char *ref, struct kk_image_info **out, size_t *n,
                      kk_err_t *err) {
  *out = NULL;
  *n = 0;
  Kukeonv1__ImageListRequest req = KUKEONV1__IMAGE_LIST_REQUEST__INIT;
  req.realm = nz_str(realm);
  req.ref = nz_str(ref);
  cleanup_free uint8_t *p = NULL;
  size_t len = 0;
  if (call(api, KUKEONV1__METHOD__IMAGE_LIST, &req.base, &p, &len, err) < 0)
    return -1;
  Kukeonv1__ImageListResponse *resp = kukeonv1__image_list_response__unpack(NULL, len, p);
  if (resp == NULL)
    return kk_error_kind(err, KK_ERR_INTERNAL, 0, "malformed image list reply");
  *out = kk_xzalloc((resp->n_images ? resp->n_images : 1) * sizeof(**out));
  for (size_t i = 0; i < resp->n_images; i++)
    kk_image_from_pb(resp->images[i], &(*out)[i]);
  *n = resp->n_images;
  kukeonv1__image_list_response__free_unpacked(resp, NULL);
  return 0;
}

int kk_api_image_load(struct kk_api *api, const struct kk_ctl_image_load *l, int fd, struct kk_image_load_result *res,
                      char **ns, kk_err_t *err) {
  memset(res, 0, sizeof(*res));
  *ns = NULL;
  struct stat st;
  if (fstat(fd, &st) < 0)
    return kk_error(err, errno, "load %s", l->what);
  if (api->ctl == NULL && S_ISDIR(st.st_mode))
    return kk_error_kind(err, KK_ERR_INVALID, 0,
                         "load %s: an OCI layout directory is not sent to kukeond (it would read files under it as "
                         "root); stream it as an archive: tar -C %s -c . | kuke image load -i -",
                         l->what, l->what);
  Kukeonv1__ImageLoadRequest req = KUKEONV1__IMAGE_LOAD_REQUEST__INIT;
  req.realm = nz_str(l->realm);
  req.name = nz_str(l->name);
  req.platform = nz_str(l->platform);
  req.source = nz_str(l->what);
  req.streamed = api->ctl == NULL; /* no descriptor crosses a forwarded socket or ssh */
  struct kk_api_call c = {.cancel_fd = -1, .n_in_fds = 1, .in_fds = {fd}, .upload = req.streamed};
  cleanup_free uint8_t *p = NULL;
  size_t len = 0;
  int ret = call_with(api, KUKEONV1__METHOD__IMAGE_LOAD, &req.base, &c, &p, &len, err);
  kk_close_fds(c.out_fds, &c.n_out_fds);
  if (ret < 0)
    return -1;
  Kukeonv1__ImageLoadResponse *resp = kukeonv1__image_load_response__unpack(NULL, len, p);
  if (resp == NULL)
    return kk_error_kind(err, KK_ERR_INTERNAL, 0, "malformed image load reply");
  for (size_t i = 0; i < resp->n_refs; i++)
    kk_strv_push(&res->refs, resp->refs[i]);
  for (size_t i = 0; i < resp->n_skipped; i++)
    kk_strv_push(&res->skipped, resp->skipped[i]);
  *ns = kk_xstrdup(resp->namespace_);
  kukeonv1__image_load_response__free_unpacked(resp, NULL);
  return 0;
}

int kk_api_image_pull(struct kk_api *api, const struct kk_ctl_image_pull *pl, struct kk_image_info *info, char **ns,
                      kk_err_t *err) {
  *ns = NULL;
  Kukeonv1__ImagePullRequest req = KUKEONV1__IMAGE_PULL_REQUEST__INIT;
  req.ref = nz_str(pl->ref);
  req.realm = nz_str(pl->realm);
  req.username = nz_str(pl->username);
  req.password = nz_str(pl->password);
  req.insecure = pl->insecure;
  req.platform = nz_str(pl->platform);
  struct kk_api_call c = {.cancel_fd = -1};
  if (api->ctl != NULL && pl->progress_fd >= 0)
    c.in_fds[c.n_in_fds++] = pl->progress_fd;
  cleanup_free uint8_t *p = NULL;
  size_t len = 0;
  int ret = call_with(api, KUKEONV1__METHOD__IMAGE_PULL, &req.base, &c, &p, &len, err);
  kk_close_fds(c.out_fds, &c.n_out_fds);
  if (ret < 0)
    return -1;
  Kukeonv1__ImagePullResponse *resp = kukeonv1__image_pull_response__unpack(NULL, len, p);
  if (resp == NULL || resp->image == NULL) {
    if (resp)
      kukeonv1__image_pull_response__free_unpacked(resp, NULL);
    return kk_error_kind(err, KK_ERR_INTERNAL, 0, "malformed image pull reply");
  }
  kk_image_from_pb(resp->image, info);
  *ns = kk_xstrdup(resp->namespace_);
  kukeonv1__image_pull_response__free_unpacked(resp, NULL);
  return 0;
}

int kk_api_image_delete(struct kk_api *api, const char *realm, const char *ref, char **name, char **ns, kk_err_t *err) {
  *name = *ns = NULL;
  Kukeonv1__ImageDeleteRequest req = KUKEONV1__IMAGE_DELETE_REQUEST__INIT;
  req.realm = nz_str(realm);
  req.ref = nz_str(ref);
  cleanup_free uint8_t *p = NULL;
  size_t len = 0;
  if (call(api, KUKEONV1__METHOD__IMAGE_DELETE, &req.base, &p, &len, err) < 0)
    return -1;
  Kukeonv1__ImageDeleteResponse *resp = kukeonv1__image_delete_response__unpack(NULL, len, p);
  if (resp == NULL)
    return kk_error_kind(err, KK_ERR_INTERNAL, 0, "malformed image delete reply");
  *name = kk_xstrdup(resp->name);
  *ns = kk_xstrdup(resp->namespace_);
  kukeonv1__image_delete_response__free_unpacked(resp, NULL);
  return 0;
}

int kk_api_image_prune(struct kk_api *api, const char *realm, struct kk_image_prune_result *res, char **ns,
                       kk_err_t *err) {
  *ns = NULL;
  Kukeonv1__ImagePruneRequest req = KUKEONV1__IMAGE_PRUNE_REQUEST__INIT;
  req.realm = nz_str(realm);
  cleanup_free uint8_t *p = NULL;
  size_t len = 0;
  if (call(api, KUKEONV1__METHOD__IMAGE_PRUNE, &req.base, &p, &len, err) < 0)
    return -1;
  Kukeonv1__ImagePruneResponse *resp = kukeonv1__image_prune_response__unpack(NULL, len, p);
  if (resp == NULL)
    return kk_error_kind(err, KK_ERR_INTERNAL, 0, "malformed image prune reply");
  *res = (struct kk_image_prune_result){resp->blobs_removed, resp->snapshots_removed, resp->snapshots_retained,
                                        resp->leases, resp->bytes_freed};
  *ns = kk_xstrdup(resp->namespace_);
  kukeonv1__image_prune_response__free_unpacked(resp, NULL);
  return 0;
}

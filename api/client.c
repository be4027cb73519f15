/* The client side: pack a Request, hand it to the daemon (a frame over the
 * socket) or to kk_api_dispatch in-process, unpack the Response. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "api/convert.h"
#include "lib/util.h"

struct kk_api {
  struct kk_controller *ctl; /* in-process */
  int fd;                    /* or a connection to kukeond */
  char *socket_path;
};

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

int kk_api_open_remote(const char *socket_path, struct kk_api **out, kk_err_t *err) {
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  if (strlen(socket_path) >= sizeof(sa.sun_path))
    return kk_error_kind(err, KK_ERR_INVALID, 0, "socket path %s is too long", socket_path);
  strcpy(sa.sun_path, socket_path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return kk_error(err, errno, "socket");
  if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
    int e = errno;
    close(fd);
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
  struct kk_api *api = kk_xzalloc(sizeof(*api));
  api->fd = fd;
  api->socket_path = kk_xstrdup(socket_path);
  *out = api;
  return 0;
}

void kk_api_close(struct kk_api *api) {
  if (api == NULL)
    return;
  kk_controller_close(api->ctl);
  if (api->fd >= 0)
    close(api->fd);
  free(api->socket_path);
  free(api);
}

void kk_api_closep(struct kk_api **api) {
  kk_api_close(*api);
  *api = NULL;
}

/* Send one request; on success *payload is the response payload (malloc'd). */
static int call(struct kk_api *api, Kukeonv1__Method method, const ProtobufCMessage *msg, uint8_t **payload,
                size_t *payload_len, kk_err_t *err) {
  Kukeonv1__Request req = KUKEONV1__REQUEST__INIT;
  req.method = method;
  cleanup_free uint8_t *body = kk_pb_pack(msg, &req.payload.len);
  req.payload.data = body;
  size_t req_len;
  cleanup_free uint8_t *packed = kk_pb_pack(&req.base, &req_len);
  cleanup_free uint8_t *resp_buf = NULL;
  size_t resp_len = 0;
  if (api->ctl != NULL) {
    kk_api_dispatch(api->ctl, packed, req_len, &resp_buf, &resp_len);
  } else {
    if (kk_frame_write(api->fd, packed, req_len, err) < 0)
      return kk_error_wrap(err, "send request to kukeond at %s", api->socket_path);
    int r = kk_frame_read(api->fd, &resp_buf, &resp_len, err);
    if (r == 0)
      return kk_error_kind(err, KK_ERR_UNAVAILABLE, 0, "kukeond at %s closed the connection (EOF)", api->socket_path);
    if (r < 0)
      return kk_error_wrap(err, "read reply from kukeond at %s", api->socket_path);
  }
  Kukeonv1__Response *resp = kukeonv1__response__unpack(NULL, resp_len, resp_buf);
  if (resp == NULL)
    return kk_error_kind(err, KK_ERR_INTERNAL, 0, "malformed response from kukeond");
  int ret = 0;
  if (resp->error_kind != KUKEONV1__ERROR_KIND__OK) {
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

static int report_from(const uint8_t *p, size_t n, struct kk_report *rep, kk_err_t *err) {
  Kukeonv1__Report *pb = kukeonv1__report__unpack(NULL, n, p);
  if (pb == NULL)
    return kk_error_kind(err, KK_ERR_INTERNAL, 0, "malformed report from kukeond");
  rep->title = *pb->title ? kk_xstrdup(pb->title) : NULL;
  for (size_t i = 0; i < pb->n_lines; i++)
    kk_strv_push(&rep->lines, pb->lines[i]);
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

int kk_api_init(struct kk_api *api, const char *realm, const char *space, struct kk_report *rep, kk_err_t *err) {
  Kukeonv1__InitRequest req = KUKEONV1__INIT_REQUEST__INIT;
  req.realm = (char *)(realm ? realm : "");
  req.space = (char *)(space ? space : "");
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

int kk_api_list(struct kk_api *api, enum kk_kind kind, const struct kk_ref *scope, struct kk_doc_list *out,
                struct kk_strv *warnings, kk_err_t *err) {
  Kukeonv1__ListRequest req = KUKEONV1__LIST_REQUEST__INIT;
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
  for (size_t i = 0; i < resp->n_documents && ret == 0; i++) {
    struct kk_doc *d = NULL;
    ret = doc_from(&resp->documents[i], &d, err);
    if (ret == 0)
      kk_doc_list_push(out, d);
  }
  for (size_t i = 0; i < resp->n_warnings && ret == 0 && warnings; i++)
    kk_strv_push(warnings, resp->warnings[i]);
  kukeonv1__list_response__free_unpacked(resp, NULL);
  return ret;
}

int kk_api_delete(struct kk_api *api, const struct kk_ref *ref, bool cascade, bool force, struct kk_report *rep,
                  kk_err_t *err) {
  Kukeonv1__DeleteRequest req = KUKEONV1__DELETE_REQUEST__INIT;
  Kukeonv1__Ref pbref;
  kk_ref_to_pb(ref, &pbref);
  req.ref = &pbref;
  req.cascade = cascade;
  req.force = force;
  cleanup_free uint8_t *p = NULL;
  size_t n = 0;
  if (call(api, KUKEONV1__METHOD__DELETE, &req.base, &p, &n, err) < 0)
    return -1;
  return report_from(p, n, rep, err);
}

int kk_api_cell_op(struct kk_api *api, const struct kk_ref *ref, enum kk_cell_op op, struct kk_report *rep,
                   kk_err_t *err) {
  Kukeonv1__CellOpRequest req = KUKEONV1__CELL_OP_REQUEST__INIT;
  Kukeonv1__Ref pbref;
  kk_ref_to_pb(ref, &pbref);
  req.ref = &pbref;
  req.op = (int32_t)op;
  cleanup_free uint8_t *p = NULL;
  size_t n = 0;
  if (call(api, KUKEONV1__METHOD__CELL_OP, &req.base, &p, &n, err) < 0)
    return -1;
  return report_from(p, n, rep, err);
}

int kk_api_container_dir(struct kk_api *api, const struct kk_ref *cell, const char *container, char **dir,
                         char **container_id, bool *tty, kk_err_t *err) {
  Kukeonv1__ContainerDirRequest req = KUKEONV1__CONTAINER_DIR_REQUEST__INIT;
  Kukeonv1__Ref pbref;
  kk_ref_to_pb(cell, &pbref);
  req.cell = &pbref;
  req.container = (char *)(container ? container : "");
  cleanup_free uint8_t *p = NULL;
  size_t n = 0;
  if (call(api, KUKEONV1__METHOD__CONTAINER_DIR, &req.base, &p, &n, err) < 0)
    return -1;
  Kukeonv1__ContainerDirResponse *resp = kukeonv1__container_dir_response__unpack(NULL, n, p);
  if (resp == NULL || kk_empty(resp->dir))
    return kk_error_kind(err, KK_ERR_INTERNAL, 0, "malformed container reply");
  *dir = kk_xstrdup(resp->dir);
  *container_id = kk_xstrdup(resp->container);
  *tty = resp->tty;
  kukeonv1__container_dir_response__free_unpacked(resp, NULL);
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
    for (size_t k = 0; k < it->n_warnings; k++)
      kk_strv_push(&o->warnings, it->warnings[k]);
  }
  kukeonv1__apply_response__free_unpacked(resp, NULL);
  return 0;
}

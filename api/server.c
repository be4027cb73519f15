/* kk_api_dispatch: one packed Request in, one packed Response out. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "api/convert.h"
#include "lib/log.h"
#include "lib/util.h"

/* What a handler produces: a packed payload or an error. */
struct reply {
  uint8_t *payload;
  size_t len;
};

static void report_to_pb(const struct kk_report *r, Kukeonv1__Report *pb) {
  kukeonv1__report__init(pb);
  pb->title = (char *)(r->title ? r->title : "");
  pb->n_lines = r->lines.n;
  pb->lines = r->lines.v;
}

static int pack_report(const struct kk_report *rep, struct reply *out) {
  Kukeonv1__Report pb;
  report_to_pb(rep, &pb);
  out->payload = kk_pb_pack(&pb.base, &out->len);
  return 0;
}

static int h_ping(struct kk_controller *ctl, struct kk_api_call *call, const void *msg, struct reply *out,
                  kk_err_t *err) {
  Kukeonv1__PingResponse resp = KUKEONV1__PING_RESPONSE__INIT;
  resp.version = (char *)KUKEON_VERSION;
  out->payload = kk_pb_pack(&resp.base, &out->len);
  return 0;
}

static int h_init(struct kk_controller *ctl, struct kk_api_call *call, const void *msg, struct reply *out,
                  kk_err_t *err) {
  const Kukeonv1__InitRequest *req = msg;
  struct kk_report rep = {0};
  int ret = kk_ctl_init(ctl, req->realm, req->space, req->force_regenerate_cni, &rep, err);
  if (ret == 0)
    pack_report(&rep, out);
  kk_report_free(&rep);
  return ret;
}

/* Exactly one document of a resource kind. */
static int doc_from_bytes(const ProtobufCBinaryData *b, struct kk_doc **out, kk_err_t *err) {
  struct kk_doc_list l = {0};
  if (kk_docs_parse((const char *)b->data, b->len, "<request>", &l, err) < 0)
    return -1;
  if (l.n != 1) {
    kk_doc_list_free(&l);
    return kk_error_kind(err, KK_ERR_INVALID, 0, "request must carry exactly one document");
  }
  *out = l.docs[0];
  free(l.docs);
  return 0;
}

static int h_create(struct kk_controller *ctl, struct kk_api_call *call, const void *msg, struct reply *out,
                    kk_err_t *err) {
  const Kukeonv1__CreateRequest *req = msg;
  cleanup_doc struct kk_doc *doc = NULL;
  struct kk_report rep = {0};
  int ret = doc_from_bytes(&req->document, &doc, err);
  if (ret == 0)
    ret = kk_ctl_create(ctl, doc, call->policy, req->ignore_disk_pressure, &rep, err);
  if (ret == 0)
    pack_report(&rep, out);
  kk_report_free(&rep);
  return ret;
}

static int h_get(struct kk_controller *ctl, struct kk_api_call *call, const void *msg, struct reply *out,
                 kk_err_t *err) {
  const Kukeonv1__GetRequest *req = msg;
  struct kk_ref ref;
  cleanup_doc struct kk_doc *doc = NULL;
  int ret = kk_ref_from_pb(req->ref, &ref, err);
  if (ret == 0)
    ret = kk_ctl_get(ctl, &ref, &doc, err);
  if (ret == 0) {
    kk_policy_redact(call->policy, doc);
    cleanup_free char *yaml = kk_doc_to_yaml(doc);
    Kukeonv1__GetResponse resp = KUKEONV1__GET_RESPONSE__INIT;
    resp.document.data = (uint8_t *)yaml;
    resp.document.len = strlen(yaml);
    out->payload = kk_pb_pack(&resp.base, &out->len);
  }
  return ret;
}

/* Every listed resource as a YAML document. */
static void pack_documents(const struct kk_api_call *call, Kukeonv1__ListResponse *resp, struct kk_doc_list *list,
                           struct reply *out) {
  resp->n_documents = list->n;
  resp->documents = kk_xzalloc((list->n ? list->n : 1) * sizeof(*resp->documents));
  for (size_t i = 0; i < list->n; i++) {
    kk_policy_redact(call->policy, list->docs[i]);
    char *yaml = kk_doc_to_yaml(list->docs[i]);
    resp->documents[i].data = (uint8_t *)yaml;
    resp->documents[i].len = strlen(yaml);
  }
  out->payload = kk_pb_pack(&resp->base, &out->len);
  for (size_t i = 0; i < list->n; i++)
    free(resp->documents[i].data);
  free(resp->documents);
}

/* A summary as rows: no YAML emitted, none for the client to parse (rows
 * carry no credentials, so there is nothing to redact). */
static void pack_rows(Kukeonv1__ListResponse *resp, const struct kk_doc_list *list, struct reply *out) {
  struct kk_pb_rows rows;
  kk_rows_to_pb(list->docs, list->n, &rows);
  resp->rows = rows.row_ptrs;
  resp->n_rows = list->n;
  out->payload = kk_pb_pack(&resp->base, &out->len);
  kk_pb_rows_free(&rows);
}

static int h_list(struct kk_controller *ctl, struct kk_api_call *call, const void *msg, struct reply *out,
                  kk_err_t *err) {
  const Kukeonv1__ListRequest *req = msg;
  struct kk_ref scope;
  struct kk_doc_list list = {0};
  struct kk_strv warnings = {0};
  bool summary = req->summary || req->rows;
  int ret = kk_ref_from_pb(req->scope, &scope, err);
  if (ret == 0)
    ret = summary ? kk_ctl_list_summary(ctl, scope.kind, &scope, &list, &warnings, err)
                  : kk_ctl_list(ctl, scope.kind, &scope, &list, &warnings, err);
  if (ret == 0) {
    Kukeonv1__ListResponse resp = KUKEONV1__LIST_RESPONSE__INIT;
    resp.n_warnings = warnings.n;
    resp.warnings = warnings.v;
    if (req->rows)
      pack_rows(&resp, &list, out);
    else
      pack_documents(call, &resp, &list, out);
  }
  kk_doc_list_free(&list);
  kk_strv_free(&warnings);
  return ret;
}

/* The realm a reference is in (a realm's is itself). */
static const char *ref_realm(const struct kk_ref *r) { return r->kind == KK_KIND_REALM ? r->name : r->realm; }

static int h_delete(struct kk_controller *ctl, struct kk_api_call *call, const void *msg, struct reply *out,
                    kk_err_t *err) {
  const Kukeonv1__DeleteRequest *req = msg;
  struct kk_ref ref;
  struct kk_report rep = {0};
  int ret = kk_ref_from_pb(req->ref, &ref, err);
  if (ret == 0)
    ret = kk_policy_check_realm(call->policy, ref_realm(&ref), "delete", err);
  if (ret == 0)
    ret = kk_ctl_delete(ctl, &ref, req->cascade, req->force, &rep, err);
  if (ret == 0)
    pack_report(&rep, out);
  kk_report_free(&rep);
  return ret;
}

static int h_cell_op(struct kk_controller *ctl, struct kk_api_call *call, const void *msg, struct reply *out,
                     kk_err_t *err) {
  const Kukeonv1__CellOpRequest *req = msg;
  struct kk_ref ref;
  struct kk_report rep = {0};
  int ret = kk_ref_from_pb(req->ref, &ref, err);
  if (ret == 0 && (req->op < KK_CELL_START || req->op > KK_CELL_RESTART || ref.kind != KK_KIND_CELL))
    ret = kk_error_kind(err, KK_ERR_INVALID, 0, "invalid cell operation %d", (int)req->op);
  if (ret == 0 && (req->timeout_ms < 0 || req->timeout_ms > KK_MAX_STOP_TIMEOUT_SECONDS * 1000LL))
    ret = kk_error_kind(err, KK_ERR_INVALID, 0, "invalid stop timeout %lld ms (0 to %d s)", (long long)req->timeout_ms,
                        KK_MAX_STOP_TIMEOUT_SECONDS);
  if (ret == 0)
    ret = kk_policy_check_realm(call->policy, ref.realm, "cell operation", err);
  if (ret == 0)
    ret = kk_ctl_cell_op(ctl, &ref, (enum kk_cell_op)req->op, req->timeout_ms, &rep, err);
  if (ret == 0)
    pack_report(&rep, out);
  kk_report_free(&rep);
  return ret;
}

/* Status only: a restricted peer may ask for it too (the daemon's own
 * reconcile pass writes the same statuses). */
static int h_refresh(struct kk_controller *ctl, struct kk_api_call *call, const void *msg, struct reply *out,
                     kk_err_t *err) {
  struct kk_report rep = {0};
  int ret = kk_ctl_refresh(ctl, &rep, err);
  if (ret == 0)
    pack_report(&rep, out);
  kk_report_free(&rep);
  return ret;
}

static void pack_log_response(const struct kk_ctl_exit *ex, struct reply *out) {
  Kukeonv1__LogResponse resp = KUKEONV1__LOG_RESPONSE__INIT;
  resp.container = ex->container_id;
  resp.exited = ex->exited;
  resp.exit_code = ex->code;
  out->payload = kk_pb_pack(&resp.base, &out->len);
}

/* In-process the log goes straight into the caller's fds; a remote peer
 * gets the answer (which container) now and the log as stream frames
 * after it, ended by an exit frame.  kuke run's log (forward_signals) is a
 * stream in-process too, for the signal frames that come back on it. */
static int h_log(struct kk_controller *ctl, struct kk_api_call *call, const void *msg, struct reply *out,
                 kk_err_t *err) {
  const Kukeonv1__LogRequest *req = msg;
  struct kk_ref ref;
  struct kk_ctl_exit ex = {0};
  struct kk_log_opts lo = {.follow = req->follow, .timestamps = req->timestamps, .tail = (long)req->tail};
  int ret = kk_ref_from_pb(req->cell, &ref, err);
  if (ret == 0 && ref.kind != KK_KIND_CELL)
    ret = kk_error_kind(err, KK_ERR_INVALID, 0, "a container is named by its cell");
  if (ret == 0 && (call->remote || req->forward_signals)) {
    cleanup_free char *dir = NULL;
    bool tty = false;
    struct kk_ctl_exec_target *signals = NULL;
    ret = kk_ctl_container_dir(ctl, &ref, req->container, &dir, &ex.container_id, &tty, err);
    if (ret == 0 && req->forward_signals)
      ret = kk_policy_check_realm(call->policy, ref.realm, "kill", err);
    if (ret == 0 && req->forward_signals && kk_ctl_signal_target(ctl, &ref, req->container, &signals, err) < 0) {
      kk_error_free(err); /* not running (any more): nothing to signal, the log says the rest */
      signals = NULL;
    }
    if (ret == 0)
      kk_api_stream_log(call, &dir, &lo, &signals);
  } else if (ret == 0) {
    if (call->n_in_fds < 1 || call->n_in_fds > 2)
      ret = kk_error_kind(err, KK_ERR_INVALID, 0, "log request must carry one or two fds");
    else
      ret = kk_ctl_log(ctl, &ref, req->container, &lo, call->in_fds[0], call->in_fds[call->n_in_fds - 1], &ex, err);
  }
  if (ret == 0)
    pack_log_response(&ex, out);
  kk_ctl_exit_free(&ex);
  return ret;
}

/* A remote peer's connection becomes a relay to the monitor's attach
 * socket once answered; in-process the caller gets the socket itself. */
static int h_attach(struct kk_controller *ctl, struct kk_api_call *call, const void *msg, struct reply *out,
                    kk_err_t *err) {
  const Kukeonv1__AttachRequest *req = msg;
  struct kk_ref ref;
  cleanup_free char *id = NULL;
  bool tty = false;
  int sock = -1;
  int ret = kk_ref_from_pb(req->cell, &ref, err);
  if (ret == 0 && ref.kind != KK_KIND_CELL)
    ret = kk_error_kind(err, KK_ERR_INVALID, 0, "a container is named by its cell");
  if (ret == 0)
    ret = kk_policy_check_realm(call->policy, ref.realm, "attach", err);
  if (ret == 0)
    ret = kk_ctl_attach(ctl, &ref, req->container, &sock, &id, &tty, err);
  if (ret == 0) {
    if (call->remote)
      kk_api_stream_attach(call, sock);
    else
      call->out_fds[call->n_out_fds++] = sock;
    Kukeonv1__AttachResponse resp = KUKEONV1__ATTACH_RESPONSE__INIT;
    resp.container = id;
    resp.tty = tty;
    out->payload = kk_pb_pack(&resp.base, &out->len);
  }
  return ret;
}

/* Answered once the command may run; it runs after the answer, on the
 * connection (in-process: on a socket pair the client side made). */
static int h_exec(struct kk_controller *ctl, struct kk_api_call *call, const void *msg, struct reply *out,
                  kk_err_t *err) {
  const Kukeonv1__ExecRequest *req = msg;
  struct kk_ref ref;
  struct kk_strv argv = {req->args, req->n_args}, env = {req->env, req->n_env};
  struct kk_ctl_exec x = {req->container, &argv, &env, req->user, req->workdir, req->tty, req->interactive};
  struct kk_ctl_exec_target *t = NULL;
  int ret = kk_ref_from_pb(req->cell, &ref, err);
  if (ret == 0 && ref.kind != KK_KIND_CELL)
    ret = kk_error_kind(err, KK_ERR_INVALID, 0, "a container is named by its cell");
  if (ret == 0)
    ret = kk_policy_check_realm(call->policy, ref.realm, "exec", err);
  if (ret == 0)
    ret = kk_ctl_exec_prepare(ctl, &ref, &x, &t, err);
  if (ret == 0) {
    Kukeonv1__ExecResponse resp = KUKEONV1__EXEC_RESPONSE__INIT;
    resp.container = (char *)kk_ctl_exec_container(t);
    out->payload = kk_pb_pack(&resp.base, &out->len);
    kk_api_stream_exec(call, &t);
  }
  return ret;
}

static int h_apply(struct kk_controller *ctl, struct kk_api_call *call, const void *msg, struct reply *out,
                   kk_err_t *err) {
  const Kukeonv1__ApplyRequest *req = msg;
  struct kk_apply_source *src = kk_xzalloc((req->n_sources ? req->n_sources : 1) * sizeof(*src));
  for (size_t i = 0; i < req->n_sources; i++) {
    src[i].file = req->sources[i]->file;
    src[i].buf = (const char *)req->sources[i]->content.data;
    src[i].len = req->sources[i]->content.len;
  }
  struct kk_apply_result res = {0};
  int ret = kk_ctl_apply(ctl, src, req->n_sources, call->policy, req->ignore_disk_pressure, &res, err);
  if (ret == 0) {
    Kukeonv1__ApplyResponse resp = KUKEONV1__APPLY_RESPONSE__INIT;
    Kukeonv1__ApplyItem *items = kk_xzalloc((res.n ? res.n : 1) * sizeof(*items));
    resp.items = kk_xzalloc((res.n ? res.n : 1) * sizeof(*resp.items));
    resp.n_items = res.n;
    for (size_t i = 0; i < res.n; i++) {
      kukeonv1__apply_item__init(&items[i]);
      items[i].index = res.items[i].index;
      items[i].kind = (char *)kk_kind_name(res.items[i].kind);
      items[i].name = res.items[i].name;
      items[i].action = (char *)kk_apply_action_name(res.items[i].action);
      items[i].error = (char *)(res.items[i].error ? res.items[i].error : "");
      items[i].n_changes = res.items[i].changes.n;
      items[i].changes = res.items[i].changes.v;
      items[i].n_details = res.items[i].details.n;
      items[i].details = res.items[i].details.v;
      items[i].n_warnings = res.items[i].warnings.n;
      items[i].warnings = res.items[i].warnings.v;
      resp.items[i] = &items[i];
    }
    out->payload = kk_pb_pack(&resp.base, &out->len);
    free(resp.items);
    free(items);
  }
  kk_apply_result_free(&res);
  free(src);
  return ret;
}

/* ------------------------------------------------------------- images */

static int h_image_list(struct kk_controller *ctl, struct kk_api_call *call, const void *msg, struct reply *out,
                        kk_err_t *err) {
  const Kukeonv1__ImageListRequest *req = msg;
  struct kk_image_info *v = NULL;
  size_t nv = 0;
  int ret = kk_ctl_image_list(ctl, kk_empty(req->realm) ? NULL : req->realm, kk_empty(req->ref) ? NULL : req->ref,
                              &v, &nv, err);
  if (ret == 0) {
    struct kk_pb_image *pb = kk_xzalloc((nv ? nv : 1) * sizeof(*pb));
    Kukeonv1__Image **ptrs = kk_xzalloc((nv ? nv : 1) * sizeof(*ptrs));
    for (size_t i = 0; i < nv; i++) {
      kk_image_to_pb(&v[i], &pb[i]);
      ptrs[i] = &pb[i].img;
    }
    Kukeonv1__ImageListResponse resp = KUKEONV1__IMAGE_LIST_RESPONSE__INIT;
    resp.images = ptrs;
    resp.n_images = nv;
    out->payload = kk_pb_pack(&resp.base, &out->len);
    for (size_t i = 0; i < nv; i++)
      kk_pb_image_free(&pb[i]);
    free(pb);
    free(ptrs);
  }
  kk_image_infos_free(v, nv);
  return ret;
}

/* The archive the client opened.  From a peer only a regular file or a
 * stream (pipe, socket): a directory would let the daemon read, as root,
 * files under it the peer could not, and a device is no archive.  In-process
 * a directory is the caller's own OCI layout. */
static int load_fd(const struct kk_api_call *call, int *fd, kk_err_t *err) {
  if (call->n_in_fds != 1)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "image load request must carry the archive (one file descriptor)");
  struct stat st;
  if (fstat(call->in_fds[0], &st) < 0)
    return kk_error(err, errno, "image load input");
  bool stream = S_ISREG(st.st_mode) || S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode);
  if (call->remote && !stream)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "image load request must carry a regular file or a pipe");
  *fd = call->in_fds[0];
  return 0;
}

/* A remote peer's archive comes as stdin frames after the request (the
 * connection is then no cancel signal: it carries data). */
static int load_streamed(struct kk_controller *ctl, struct kk_api_call *call, struct kk_ctl_image_load *l,
                         struct kk_image_load_result *res, char **ns, kk_err_t *err) {
  struct kk_api_upload *u = NULL;
  int rd = -1;
  if (kk_api_upload_begin(&u, call->cancel_fd, &rd, err) < 0) {
    call->hang_up = true;
    return -1;
  }
  l->cancel_fd = -1;
  int ret = kk_ctl_image_load(ctl, call->policy, l, rd, res, ns, err);
  close(rd); /* a loader that stopped early: the upload's writes fail, it drops the rest */
  if (!kk_api_upload_end(u))
    call->hang_up = true;
  return ret;
}

static int h_image_load(struct kk_controller *ctl, struct kk_api_call *call, const void *msg, struct reply *out,
                        kk_err_t *err) {
  const Kukeonv1__ImageLoadRequest *req = msg;
  int fd = -1;
  struct kk_image_load_result res = {0};
  cleanup_free char *ns = NULL;
  struct kk_ctl_image_load l = {req->realm, req->name, req->platform, kk_empty(req->source) ? "-" : req->source,
                                call->cancel_fd};
  int ret;
  if (call->remote && req->streamed)
    ret = load_streamed(ctl, call, &l, &res, &ns, err);
  else if ((ret = load_fd(call, &fd, err)) == 0)
    ret = kk_ctl_image_load(ctl, call->policy, &l, fd, &res, &ns, err);
  if (ret == 0) {
    Kukeonv1__ImageLoadResponse resp = KUKEONV1__IMAGE_LOAD_RESPONSE__INIT;
    resp.namespace_ = ns;
    resp.refs = res.refs.v;
    resp.n_refs = res.refs.n;
    resp.skipped = res.skipped.v;
    resp.n_skipped = res.skipped.n;
    out->payload = kk_pb_pack(&resp.base, &out->len);
  }
  kk_image_load_result_free(&res);
  return ret;
}

static int h_image_pull(struct kk_controller *ctl, struct kk_api_call *call, const void *msg, struct reply *out,
                        kk_err_t *err) {
  const Kukeonv1__ImagePullRequest *req = msg;
  /* The progress bar only in-process: the daemon writes nothing a peer
   * could leave unread while a pull holds its thread. */
  struct kk_ctl_image_pull pr = {.ref = req->ref, .realm = req->realm, .username = req->username,
                                 .password = req->password, .platform = req->platform, .insecure = req->insecure,
                                 .progress_fd = !call->remote && call->n_in_fds == 1 ? call->in_fds[0] : -1};
  struct kk_image_info info = {0};
  cleanup_free char *ns = NULL;
  int ret = kk_ctl_image_pull(ctl, call->policy, &pr, &info, &ns, err);
  if (ret == 0) {
    struct kk_pb_image pb;
    kk_image_to_pb(&info, &pb);
    Kukeonv1__ImagePullResponse resp = KUKEONV1__IMAGE_PULL_RESPONSE__INIT;
    resp.namespace_ = ns;
    resp.image = &pb.img;
    out->payload = kk_pb_pack(&resp.base, &out->len);
    kk_pb_image_free(&pb);
  }
  kk_image_info_free(&info);
  return ret;
}

static int h_image_delete(struct kk_controller *ctl, struct kk_api_call *call, const void *msg, struct reply *out,
                          kk_err_t *err) {
  const Kukeonv1__ImageDeleteRequest *req = msg;
  cleanup_free char *name = NULL, *ns = NULL;
  int ret = kk_ctl_image_delete(ctl, call->policy, req->realm, req->ref, &name, &ns, err);
  if (ret == 0) {
    Kukeonv1__ImageDeleteResponse resp = KUKEONV1__IMAGE_DELETE_RESPONSE__INIT;
    resp.namespace_ = ns;
    resp.name = name;
    out->payload = kk_pb_pack(&resp.base, &out->len);
  }
  return ret;
}

static int h_image_prune(struct kk_controller *ctl, struct kk_api_call *call, const void *msg, struct reply *out,
                         kk_err_t *err) {
  const Kukeonv1__ImagePruneRequest *req = msg;
  struct kk_image_prune_result pr = {0};
  cleanup_free char *ns = NULL;
  int ret = kk_ctl_image_prune(ctl, req->realm, &pr, &ns, err);
  if (ret == 0) {
    Kukeonv1__ImagePruneResponse resp = KUKEONV1__IMAGE_PRUNE_RESPONSE__INIT;
    resp.namespace_ = ns;
    resp.blobs_removed = pr.blobs_removed;
    resp.snapshots_removed = pr.snapshots_removed;
    resp.snapshots_retained = pr.snapshots_retained;
    resp.leases = pr.leases;
    resp.bytes_freed = pr.bytes_freed;
    out->payload = kk_pb_pack(&resp.base, &out->len);
  }
  return ret;
}

static int h_purge(struct kk_controller *ctl, struct kk_api_call *call, const void *msg, struct reply *out,
                   kk_err_t *err) {
  const Kukeonv1__DeleteRequest *req = msg;
  struct kk_ref ref;
  struct kk_report rep = {0};
  size_t failed = 0;
  int ret = kk_ref_from_pb(req->ref, &ref, err);
  if (ret == 0)
    ret = kk_policy_check_realm(call->policy, ref_realm(&ref), "purge", err);
  if (ret == 0)
    ret = kk_ctl_purge(ctl, &ref, req->cascade, req->force, &rep, &failed, err);
  if (ret == 0) {
    Kukeonv1__Report pb;
    report_to_pb(&rep, &pb);
    Kukeonv1__PurgeResponse resp = KUKEONV1__PURGE_RESPONSE__INIT;
    resp.report = &pb;
    resp.failed = (uint32_t)failed;
    out->payload = kk_pb_pack(&resp.base, &out->len);
  }
  kk_report_free(&rep);
  return ret;
}

/* ------------------------------------------------------------- dispatch */

/* A handler gets its request unpacked (msg points to the method's request
 * message) and fills *out or *err. */
typedef int (*handler_fn)(struct kk_controller *, struct kk_api_call *, const void *msg, struct reply *,
                          kk_err_t *);

/* One API method.  Peer policy is not a property of a method: the handlers
 * hand call->policy to the controller, which judges the request itself. */
struct method {
  Kukeonv1__Method id;
  const char *name; /* one word, for the log */
  const char *what; /* for "malformed <what> request" */
  const ProtobufCMessageDescriptor *request;
  handler_fn handle;
};

#define METHOD(ID, NAME, WHAT, REQ, FN) \
  {KUKEONV1__METHOD__##ID, NAME, WHAT, &kukeonv1__##REQ##__descriptor, FN}

static const struct method methods[] = {
    METHOD(PING, "ping", "ping", ping_request, h_ping),
    METHOD(INIT, "init", "init", init_request, h_init),
    METHOD(CREATE, "create", "create", create_request, h_create),
    METHOD(GET, "get", "get", get_request, h_get),
    METHOD(LIST, "list", "list", list_request, h_list),
    METHOD(DELETE, "delete", "delete", delete_request, h_delete),
    METHOD(PURGE, "purge", "purge", delete_request, h_purge),
    METHOD(APPLY, "apply", "apply", apply_request, h_apply),
    METHOD(CELL_OP, "cell_op", "cell operation", cell_op_request, h_cell_op),
    METHOD(LOG, "log", "log", log_request, h_log),
    METHOD(ATTACH, "attach", "attach", attach_request, h_attach),
    METHOD(EXEC, "exec", "exec", exec_request, h_exec),
    METHOD(IMAGE_LIST, "image_list", "image list", image_list_request, h_image_list),
    METHOD(IMAGE_LOAD, "image_load", "image load", image_load_request, h_image_load),
    METHOD(IMAGE_PULL, "image_pull", "image pull", image_pull_request, h_image_pull),
    METHOD(IMAGE_DELETE, "image_delete", "image delete", image_delete_request, h_image_delete),
    METHOD(IMAGE_PRUNE, "image_prune", "image prune", image_prune_request, h_image_prune),
    METHOD(REFRESH, "refresh", "refresh", refresh_request, h_refresh),
};

static const struct method *method_for(Kukeonv1__Method id) {
  for (size_t i = 0; i < KK_ARRAY_SIZE(methods); i++)
    if (methods[i].id == id)
      return &methods[i];
  return NULL;
}

/* Unpack the method's request, run its handler, free the request: the one
 * place requests are unpacked and freed. */
static int call_method(const struct method *m, struct kk_controller *ctl, struct kk_api_call *call,
                       const ProtobufCBinaryData *payload, struct reply *out, kk_err_t *err) {
  ProtobufCMessage *msg = protobuf_c_message_unpack(m->request, NULL, payload->len, payload->data);
  if (msg == NULL)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "malformed %s request", m->what);
  int ret = m->handle(ctl, call, msg, out, err);
  protobuf_c_message_free_unpacked(msg, NULL);
  return ret;
}

/* Decode the envelope and run the method it names; *name is the method's
 * (or what stood in for it) for the log. */
static void dispatch_request(struct kk_controller *ctl, struct kk_api_call *call, const uint8_t *req,
                             size_t req_len, struct reply *out, const char **name, kk_err_t *err) {
  Kukeonv1__Request *r = kukeonv1__request__unpack(NULL, req_len, req);
  if (r == NULL) {
    *name = "malformed";
    kk_error_kind(err, KK_ERR_INVALID, 0, "malformed request frame");
    return;
  }
  const struct method *m = method_for(r->method);
  if (m == NULL) {
    *name = "unknown";
    kk_error_kind(err, KK_ERR_INVALID, 0, "unknown method %d", (int)r->method);
  } else {
    *name = m->name;
    call_method(m, ctl, call, &r->payload, out, err);
  }
  kukeonv1__request__free_unpacked(r, NULL);
}

static double monotonic_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* One debug line per request: who, what, how it ended, how long it took. */
static void log_request(const struct kk_api_call *call, const char *method, const struct kk_error *err,
                        double started_ms) {
  if (!kk_log_enabled(KK_LOG_DEBUG))
    return;
  char uid[KK_LOG_NUM_MAX], pid[KK_LOG_NUM_MAX], took[32];
  snprintf(took, sizeof(took), "%.3f", monotonic_ms() - started_ms);
  kk_log_kv(KK_LOG_DEBUG, "request", "method", method, "uid", kk_log_num(uid, (long long)call->uid), "pid",
            call->remote ? kk_log_num(pid, call->pid) : NULL, "outcome", err ? "error" : "ok", "kind",
            err ? kk_err_kind_name(err->kind) : NULL, "error", err ? err->msg : NULL, "duration_ms", took, NULL);
}

void kk_api_dispatch(struct kk_controller *ctl, struct kk_api_call *call, const uint8_t *req, size_t req_len,
                     uint8_t **resp, size_t *resp_len) {
  double started_ms = monotonic_ms();
  kk_err_t err = NULL;
  struct reply out = {0};
  const char *name = NULL;
  dispatch_request(ctl, call, req, req_len, &out, &name, &err);
  log_request(call, name, err, started_ms);
  Kukeonv1__Response pb = KUKEONV1__RESPONSE__INIT;
  if (err != NULL) {
    pb.error_kind = kk_err_kind_to_pb(err->kind);
    pb.error_message = err->msg;
  } else {
    pb.payload.data = out.payload;
    pb.payload.len = out.len;
  }
  *resp = kk_pb_pack(&pb.base, resp_len);
  free(out.payload);
  kk_error_free(&err);
}

void kk_api_error_response(enum kk_err_kind kind, const char *msg, uint8_t **resp, size_t *resp_len) {
  Kukeonv1__Response pb = KUKEONV1__RESPONSE__INIT;
  pb.error_kind = kk_err_kind_to_pb(kind);
  pb.error_message = (char *)msg;
  *resp = kk_pb_pack(&pb.base, resp_len);
}

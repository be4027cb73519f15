/* Summary rows (ListResponse.rows): what the daemon packs from its docs is
 * what kuke rebuilds, and a malformed reply from a kukeond (a fake one on a
 * temp socket here) is one error line, never a crash. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "api/api.h"
#include "api/convert.h"
#include "lib/fs.h"
#include "unit.h"

static struct kk_doc *container_doc(void) {
  struct kk_doc *d = kk_doc_new(KK_KIND_CONTAINER);
  struct kk_container *c = &d->u.container;
  c->metadata.name = kk_xstrdup("web");
  kk_map_set(&c->metadata.labels, "tier", "front");
  kk_map_set(&c->metadata.labels, "app", "shop");
  c->spec.realm_id = kk_xstrdup("r");
  c->spec.space_id = kk_xstrdup("s");
  c->spec.stack_id = kk_xstrdup("t");
  c->spec.cell_id = kk_xstrdup("c");
  c->spec.image = kk_xstrdup("busybox"); /* not a row's: left behind */
  c->status.state = KK_CTR_EXITED;
  c->status.created_at = 1700000000;
  c->status.restart_count = 7;
  return d;
}

static struct kk_doc *cell_doc(const char *name) {
  struct kk_doc *d = kk_doc_new(KK_KIND_CELL);
  struct kk_cell *c = &d->u.cell;
  c->metadata.name = kk_xstrdup(name);
  c->spec.realm_id = kk_xstrdup("r");
  c->spec.space_id = kk_xstrdup("s");
  c->spec.stack_id = kk_xstrdup("t");
  c->status.base.state = KK_CELL_DEGRADED;
  c->status.base.created_at = 1600000000;
  return d;
}

/* docs -> rows -> bytes -> rows -> docs, as between kukeond and kuke. */
static Kukeonv1__ListResponse *through_wire(struct kk_doc **docs, size_t n) {
  struct kk_pb_rows rows;
  kk_rows_to_pb(docs, n, &rows);
  Kukeonv1__ListResponse resp = KUKEONV1__LIST_RESPONSE__INIT;
  resp.rows = rows.row_ptrs;
  resp.n_rows = n;
  size_t len;
  uint8_t *buf = kk_pb_pack(&resp.base, &len);
  kk_pb_rows_free(&rows);
  Kukeonv1__ListResponse *back = kukeonv1__list_response__unpack(NULL, len, buf);
  free(buf);
  ck_assert_ptr_nonnull(back);
  return back;
}

START_TEST(container_row_round_trip) {
  struct kk_doc *docs[] = {container_doc()};
  Kukeonv1__ListResponse *resp = through_wire(docs, 1);
  ck_assert_uint_eq(resp->n_rows, 1);
  struct kk_doc *d = NULL;
  kk_err_t err = NULL;
  ck_assert_int_eq(kk_doc_from_row(resp->rows[0], KK_KIND_CONTAINER, &d, &err), 0);
  struct kk_ref r = kk_ref_of(d), want = kk_ref_of(docs[0]);
  ck_assert_str_eq(r.name, want.name);
  ck_assert_str_eq(r.realm, "r");
  ck_assert_str_eq(r.space, "s");
  ck_assert_str_eq(r.stack, "t");
  ck_assert_str_eq(r.cell, "c");
  ck_assert_int_eq(d->u.container.status.state, KK_CTR_EXITED);
  ck_assert_int_eq(d->u.container.status.created_at, 1700000000);
  ck_assert_int_eq(d->u.container.status.restart_count, 7);
  ck_assert(kk_map_equal(&d->u.container.metadata.labels, &docs[0]->u.container.metadata.labels));
  ck_assert_ptr_null(d->u.container.spec.image);
  kk_doc_free(d);
  kk_doc_free(docs[0]);
  kukeonv1__list_response__free_unpacked(resp, NULL);
}
END_TEST

START_TEST(every_kind_round_trips) {
  struct kk_doc *docs[KK_KIND_COUNT];
  for (int k = 0; k < KK_KIND_COUNT; k++) {
    docs[k] = k == KK_KIND_CONTAINER ? container_doc() : kk_doc_new((enum kk_kind)k);
    if (k == KK_KIND_CONTAINER)
      continue;
    kk_doc_metadata(docs[k])->name = kk_xstrdup("x");
    kk_doc_status_base(docs[k])->state = 1;
    kk_doc_status_base(docs[k])->created_at = 1234 + k;
  }
  docs[KK_KIND_SPACE]->u.space.spec.realm_id = kk_xstrdup("r");
  docs[KK_KIND_STACK]->u.stack.spec.realm_id = kk_xstrdup("r");
  docs[KK_KIND_STACK]->u.stack.spec.space_id = kk_xstrdup("s");
  Kukeonv1__ListResponse *resp = through_wire(docs, KK_KIND_COUNT);
  for (int k = 0; k < KK_KIND_COUNT; k++) {
    struct kk_doc *d = NULL;
    kk_err_t err = NULL;
    ck_assert_int_eq(kk_doc_from_row(resp->rows[k], (enum kk_kind)k, &d, &err), 0);
    struct kk_ref a = kk_ref_of(d), b = kk_ref_of(docs[k]);
    ck_assert_int_eq(a.kind, b.kind);
    ck_assert_str_eq(a.name, b.name);
    ck_assert_str_eq(a.realm ? a.realm : "", b.realm ? b.realm : "");
    ck_assert_str_eq(a.space ? a.space : "", b.space ? b.space : "");
    if (k != KK_KIND_CONTAINER) {
      ck_assert_int_eq(kk_doc_status_base(d)->state, 1);
      ck_assert_int_eq(kk_doc_status_base(d)->created_at, 1234 + k);
    }
    kk_doc_free(d);
    kk_doc_free(docs[k]);
  }
  kukeonv1__list_response__free_unpacked(resp, NULL);
}
END_TEST

/* ------------------------------------------- a fake kukeond, one reply */

struct fake {
  int listen_fd;
  uint8_t *reply; /* a packed Response */
  size_t reply_len;
  bool asked_rows; /* the request it read */
};

static void *fake_serve(void *p) {
  struct fake *f = p;
  int c = accept4(f->listen_fd, NULL, NULL, SOCK_CLOEXEC);
  if (c < 0)
    return NULL;
  uint8_t *req_buf = NULL;
  size_t req_len = 0;
  kk_err_t err = NULL;
  if (kk_frame_read(c, &req_buf, &req_len, &err) > 0) {
    Kukeonv1__Request *req = kukeonv1__request__unpack(NULL, req_len, req_buf);
    Kukeonv1__ListRequest *lr = req ? kukeonv1__list_request__unpack(NULL, req->payload.len, req->payload.data) : NULL;
    f->asked_rows = lr && lr->rows && lr->summary;
    if (lr)
      kukeonv1__list_request__free_unpacked(lr, NULL);
    if (req)
      kukeonv1__request__free_unpacked(req, NULL);
    kk_frame_write(c, f->reply, f->reply_len, &err);
  }
  kk_error_free(&err);
  free(req_buf);
  close(c);
  return NULL;
}

/* A Response carrying resp, served once on a temp socket; the list
 * kuke gets from it (summary or not). */
static int list_from_fake(Kukeonv1__ListResponse *resp, bool summary, struct kk_doc_list *out, bool *asked_rows,
                          kk_err_t *err) {
  char dir[] = "/tmp/kk-rows-XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(dir));
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/sock", dir);
  struct fake f = {.listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)};
  ck_assert_int_eq(bind(f.listen_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
  ck_assert_int_eq(listen(f.listen_fd, 1), 0);
  Kukeonv1__Response r = KUKEONV1__RESPONSE__INIT;
  r.payload.data = kk_pb_pack(&resp->base, &r.payload.len);
  f.reply = kk_pb_pack(&r.base, &f.reply_len);
  pthread_t th;
  ck_assert_int_eq(pthread_create(&th, NULL, fake_serve, &f), 0);
  struct kk_api *api = NULL;
  int ret = kk_api_open_remote(sa.sun_path, &api, err);
  if (ret == 0)
    ret = (summary ? kk_api_list_summary : kk_api_list)(api, KK_KIND_CELL, NULL, out, NULL, err);
  kk_api_close(api);
  pthread_join(th, NULL);
  close(f.listen_fd);
  unlink(sa.sun_path);
  rmdir(dir);
  free(r.payload.data);
  free(f.reply);
  *asked_rows = f.asked_rows;
  return ret;
}

START_TEST(client_reads_rows) {
  struct kk_doc *docs[] = {cell_doc("a"), cell_doc("b")};
  kk_map_set(&docs[1]->u.cell.metadata.labels, "tier", "back");
  struct kk_pb_rows rows;
  kk_rows_to_pb(docs, 2, &rows);
  Kukeonv1__ListResponse resp = KUKEONV1__LIST_RESPONSE__INIT;
  resp.rows = rows.row_ptrs;
  resp.n_rows = 2;
  struct kk_doc_list l = {0};
  bool asked = false;
  kk_err_t err = NULL;
  ck_assert_int_eq(list_from_fake(&resp, true, &l, &asked, &err), 0);
  ck_assert(asked);
  ck_assert_uint_eq(l.n, 2);
  ck_assert_str_eq(kk_doc_name(l.docs[1]), "b");
  ck_assert_str_eq(kk_map_get(&l.docs[1]->u.cell.metadata.labels, "tier"), "back");
  ck_assert_int_eq(l.docs[0]->u.cell.status.base.state, KK_CELL_DEGRADED);
  ck_assert_int_eq(l.docs[0]->u.cell.status.base.created_at, 1600000000);
  ck_assert_str_eq(l.docs[0]->u.cell.spec.stack_id, "t");
  kk_doc_list_free(&l);
  kk_pb_rows_free(&rows);
  kk_doc_free(docs[0]);
  kk_doc_free(docs[1]);
}
END_TEST

/* A kukeond from before rows answers a summary with documents. */
START_TEST(client_reads_documents_of_an_older_daemon) {
  static const char yaml[] = "apiVersion: v1beta1\nkind: Cell\nmetadata:\n  name: old\nspec:\n  realmId: r\n"
                             "  spaceId: s\n  stackId: t\n";
  ProtobufCBinaryData doc = {strlen(yaml), (uint8_t *)yaml};
  Kukeonv1__ListResponse resp = KUKEONV1__LIST_RESPONSE__INIT;
  resp.documents = &doc;
  resp.n_documents = 1;
  struct kk_doc_list l = {0};
  bool asked = false;
  kk_err_t err = NULL;
  ck_assert_int_eq(list_from_fake(&resp, true, &l, &asked, &err), 0);
  ck_assert_uint_eq(l.n, 1);
  ck_assert_str_eq(kk_doc_name(l.docs[0]), "old");
  kk_doc_list_free(&l);
}
END_TEST

/* One malformed reply: the call fails with one line and leaves nothing. */
static void refused(Kukeonv1__ListResponse *resp, bool summary, const char *want) {
  struct kk_doc_list l = {0};
  bool asked = false;
  kk_err_t err = NULL;
  ck_assert_int_eq(list_from_fake(resp, summary, &l, &asked, &err), -1);
  ck_assert_ptr_nonnull(err);
  ck_assert_msg(strstr(err->msg, want) != NULL, "message: %s", err->msg);
  ck_assert_ptr_null(strchr(err->msg, '\n'));
  kk_doc_list_free(&l);
  kk_error_free(&err);
}

START_TEST(client_refuses_malformed_rows) {
  Kukeonv1__Ref good = KUKEONV1__REF__INIT, other = KUKEONV1__REF__INIT, noname = KUKEONV1__REF__INIT,
                junk = KUKEONV1__REF__INIT;
  good.kind = "cell", good.name = "ok";
  other.kind = "container", other.name = "web";
  noname.kind = "cell";
  junk.kind = "pods", junk.name = "p";
  Kukeonv1__SummaryRow rows[2];
  Kukeonv1__SummaryRow *ptrs[] = {&rows[0], &rows[1]};
  Kukeonv1__ListResponse resp = KUKEONV1__LIST_RESPONSE__INIT;
  resp.rows = ptrs;
  resp.n_rows = 2;
  kukeonv1__summary_row__init(&rows[0]);
  rows[0].ref = &good;
  const Kukeonv1__Ref *bad[] = {NULL, &other, &noname, &junk};
  const char *why[] = {"a row that is not a cell", "a row that is not a cell", "a cell row without a name",
                       "a row that is not a cell"};
  for (size_t i = 0; i < 4; i++) {
    kukeonv1__summary_row__init(&rows[1]);
    rows[1].ref = (Kukeonv1__Ref *)bad[i];
    refused(&resp, true, why[i]);
  }
  /* Rows where documents were asked for. */
  resp.n_rows = 1;
  refused(&resp, false, "rows where documents were asked for");
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("api_rows");
  TCase *tc = tcase_create("rows");
  tcase_add_test(tc, container_row_round_trip);
  tcase_add_test(tc, every_kind_round_trips);
  tcase_add_test(tc, client_reads_rows);
  tcase_add_test(tc, client_reads_documents_of_an_older_daemon);
  tcase_add_test(tc, client_refuses_malformed_rows);
  suite_add_tcase(s, tc);
  return s;
}

KK_UNIT_MAIN(suite)

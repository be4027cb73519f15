/* libFuzzer target for the manifest parser (model/).
 *
 * For every input: kk_docs_parse; then for each document, raw and after
 * kk_doc_normalize/kk_doc_validate (and, for a valid cell without a root,
 * after kk_cell_add_pause_root): emit YAML and JSON, check the JSON is JSON,
 * re-parse the YAML and require the same document back (spec-equal and the
 * same YAML text, status included).  Everything is freed, so LeakSanitizer
 * sees leaks in model/.  A broken invariant aborts with a KK_FUZZ_FAIL line. */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"

#define FAIL(...)                                                                                  \
  do {                                                                                             \
    fprintf(stderr, "KK_FUZZ_FAIL: " __VA_ARGS__);                                                 \
    fputc('\n', stderr);                                                                           \
    abort();                                                                                       \
  } while (0)

/* kk_doc_spec_equal compares a cell's containers by id (first match), so it
 * is not reflexive when ids repeat -- validation rejects that; the YAML text
 * comparison below still covers such documents. */
static bool unique_container_ids(const struct kk_doc *doc) {
  if (doc->kind != KK_KIND_CELL)
    return true;
  const struct kk_cell *c = &doc->u.cell;
  for (size_t i = 0; i < c->spec.n_containers; i++)
    for (size_t j = 0; j < i; j++)
      if (kk_streq(c->spec.containers[i].id ? c->spec.containers[i].id : "",
                   c->spec.containers[j].id ? c->spec.containers[j].id : ""))
        return false;
  return true;
}

static void check_round_trip(const struct kk_doc *doc, const char *stage) {
  bool comparable = unique_container_ids(doc);
  char *yaml = kk_doc_to_yaml(doc);
  char *json = kk_doc_to_json(doc);
  if (yaml == NULL || json == NULL)
    FAIL("%s: emit returned NULL", stage);

  json_error_t jerr;
  json_t *j = json_loads(json, JSON_REJECT_DUPLICATES, &jerr);
  if (j == NULL)
    FAIL("%s: kk_doc_to_json is not JSON: %s\n%s", stage, jerr.text, json);
  if (!json_is_object(j) || !json_is_string(json_object_get(j, "kind")) ||
      !json_is_object(json_object_get(j, "metadata")) || !json_is_object(json_object_get(j, "spec")))
    FAIL("%s: JSON lacks kind/metadata/spec:\n%s", stage, json);
  json_decref(j);

  struct kk_doc *back = NULL;
  kk_err_t err = NULL;
  if (kk_doc_parse_one(yaml, strlen(yaml), "emitted", doc->kind, &back, &err) < 0)
    FAIL("%s: emitted YAML does not parse: %s\n%s", stage, err->msg, yaml);
  if (comparable && (!kk_doc_spec_equal(doc, back) || !kk_doc_spec_equal(back, doc))) {
    struct kk_strv diff = {0};
    kk_doc_spec_diff(doc, back, &diff);
    FAIL("%s: re-parsed document differs at %s\n%s", stage, diff.n ? diff.v[0] : "?", yaml);
  }
  char *yaml2 = kk_doc_to_yaml(back);
  if (strcmp(yaml, yaml2) != 0)
    FAIL("%s: re-emitted YAML differs (status?)\n--- first\n%s--- second\n%s", stage, yaml, yaml2);
  char *json2 = kk_doc_to_json(back);
  if (strcmp(json, json2) != 0)
    FAIL("%s: re-emitted JSON differs", stage);
  /* Clones behave the same. */
  struct kk_doc *clone = kk_doc_clone(doc);
  char *yaml3 = kk_doc_to_yaml(clone);
  if ((comparable && !kk_doc_spec_equal(doc, clone)) || strcmp(yaml, yaml3) != 0)
    FAIL("%s: clone differs", stage);
  free(yaml3);
  kk_doc_free(clone);
  free(json2);
  free(yaml2);
  kk_doc_free(back);
  free(json);
  free(yaml);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct kk_doc_list l = {0};
  kk_err_t err = NULL;
  if (kk_docs_parse((const char *)data, size, "fuzz.yaml", &l, &err) < 0) {
    if (err == NULL || err->msg == NULL || strncmp(err->msg, "fuzz.yaml", 9) != 0)
      FAIL("parse error does not name the file: %s", err && err->msg ? err->msg : "(none)");
    if (l.n != 0)
      FAIL("documents handed out on error");
    kk_error_free(&err);
    return 0;
  }
  for (size_t i = 0; i < l.n; i++) {
    struct kk_doc *doc = l.docs[i];
    check_round_trip(doc, "parsed");

    struct kk_doc *norm = kk_doc_clone(doc);
    int ok = kk_doc_normalize(norm, NULL, &err) == 0;
    if (ok)
      ok = kk_doc_validate(norm, &err) == 0;
    if (!ok) {
      if (err == NULL || err->msg == NULL || err->kind != KK_ERR_INVALID)
        FAIL("validation failed without an invalid-input error");
      kk_error_free(&err);
    }
    check_round_trip(norm, ok ? "validated" : "normalized");
    if (ok && norm->kind == KK_KIND_CELL && kk_cell_root(&norm->u.cell) == NULL) {
      /* (Not re-validated: the root's derived ID can exceed 76 characters
       * when the user's containers' IDs do not -- a known, reported bug.) */
      kk_cell_add_pause_root(&norm->u.cell);
      check_round_trip(norm, "pause-root");
    }
    if (ok && norm->kind == KK_KIND_CELL) {
      for (size_t c = 0; c < norm->u.cell.spec.n_containers; c++) {
        struct kk_doc *cd = kk_container_doc_from_cell(&norm->u.cell, c);
        check_round_trip(cd, "container-of-cell");
        kk_doc_free(cd);
      }
    }
    kk_doc_free(norm);
  }
  kk_doc_list_free(&l);
  return 0;
}

/* libFuzzer target: OCI / Docker image documents (runtime/image.h).
 * Every input goes through the kind detector and the index, manifest and
 * config parsers.  Invariants on success: digests are valid sha256, sizes
 * non-negative, platform selection returns an element of the index.
 * Everything is freed, so LeakSanitizer sees leaks. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image/image.h"

#define FAIL(msg)                                                                                                      \
  do {                                                                                                                 \
    fprintf(stderr, "KK_FUZZ_FAIL: %s\n", msg);                                                                        \
    abort();                                                                                                           \
  } while (0)

static void check_desc(const struct kk_descriptor *d) {
  if (!kk_image_digest_valid(d->digest))
    FAIL("descriptor with an invalid digest accepted");
  if (d->size < 0)
    FAIL("descriptor with a negative size accepted");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *buf = (const char *)data;
  kk_err_t err = NULL;
  enum kk_manifest_kind kind;
  static const char *types[] = {NULL, KK_MT_OCI_INDEX, KK_MT_DOCKER_MANIFEST, "application/json; charset=utf-8",
                                "application/vnd.docker.distribution.manifest.v1+prettyjws"};
  for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
    if (kk_image_manifest_kind_of(types[i], buf, size, &kind, &err) == 0) {
      if (kind != KK_MANIFEST_INDEX && kind != KK_MANIFEST_IMAGE)
        FAIL("unknown kind returned");
    } else {
      if (err == NULL || err->msg == NULL)
        FAIL("error without a message");
      kk_error_free(&err);
    }
  }
  struct kk_image_index x;
  if (kk_image_index_parse(buf, size, &x, &err) == 0) {
    for (size_t i = 0; i < x.n_manifests; i++)
      check_desc(&x.manifests[i]);
    struct kk_platform host;
    kk_image_platform_host(&host);
    const struct kk_descriptor *d = kk_image_index_select(&x, &host);
    if (d && (d < x.manifests || d >= x.manifests + x.n_manifests))
      FAIL("selected descriptor outside the index");
    kk_image_platform_free(&host);
    kk_image_index_free(&x);
  } else {
    kk_error_free(&err);
  }
  struct kk_image_manifest m;
  if (kk_image_manifest_parse(buf, size, &m, &err) == 0) {
    check_desc(&m.config);
    for (size_t i = 0; i < m.n_layers; i++)
      check_desc(&m.layers[i]);
    kk_image_manifest_free(&m);
  } else {
    kk_error_free(&err);
  }
  struct kk_image_config c;
  if (kk_image_config_parse(buf, size, &c, &err) == 0) {
    for (size_t i = 0; i < c.diff_ids.n; i++)
      if (!kk_image_digest_valid(c.diff_ids.v[i]))
        FAIL("invalid diff ID accepted");
    struct kk_strv chain;
    kk_image_chain_ids_of(&c.diff_ids, &chain);
    if (chain.n != c.diff_ids.n)
      FAIL("chain length differs");
    kk_strv_free(&chain);
    kk_image_config_free(&c);
  } else {
    kk_error_free(&err);
  }
  return 0;
}

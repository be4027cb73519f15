/* libFuzzer target: image reference normalization.  Invariants: a parsed
 * reference prints as something that parses to the same string (the
 * normal form is a fixed point), has a domain and a path, and a tag or a
 * digest; a digest is a valid sha256. */
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 2048)
    return 0;
  char *s = malloc(size + 1);
  memcpy(s, data, size);
  s[size] = '\0';
  kk_err_t err = NULL;
  struct kk_image_ref r;
  if (kk_image_ref_parse(s, &r, &err) == 0) {
    if (r.domain == NULL || r.path == NULL || (r.tag == NULL && r.digest == NULL))
      FAIL("incomplete reference");
    if (r.digest && !kk_image_digest_valid(r.digest))
      FAIL("invalid digest accepted");
    char *n1 = kk_image_ref_string(&r);
    char *n2 = kk_image_ref_normalize(n1, &err);
    if (n2 == NULL) {
      fprintf(stderr, "KK_FUZZ_FAIL: normal form \"%s\" does not parse: %s\n", n1, err ? err->msg : "");
      abort();
    }
    if (strcmp(n1, n2) != 0) {
      fprintf(stderr, "KK_FUZZ_FAIL: \"%s\" normalizes to \"%s\"\n", n1, n2);
      abort();
    }
    free(n1);
    free(n2);
    kk_image_ref_free(&r);
  } else {
    kk_error_free(&err);
  }
  struct kk_platform p;
  if (kk_image_platform_parse(s, &p, &err) == 0)
    kk_image_platform_free(&p);
  else
    kk_error_free(&err);
  free(s);
  return 0;
}

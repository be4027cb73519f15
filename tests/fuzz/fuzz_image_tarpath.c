/* libFuzzer target: tar entry name cleaning (kk_image_unpack_clean_path), the
 * first gate of the unpacker.  Invariants on success: relative, no empty,
 * "." or ".." component, no component over 255 bytes, shorter than 4096,
 * and cleaning is idempotent. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image/image.h"

#define FAIL(...)                                                                                                      \
  do {                                                                                                                 \
    fprintf(stderr, "KK_FUZZ_FAIL: " __VA_ARGS__);                                                                     \
    fputc('\n', stderr);                                                                                               \
    abort();                                                                                                           \
  } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 8192)
    return 0;
  char *s = malloc(size + 1);
  memcpy(s, data, size);
  s[size] = '\0';
  char *out = NULL;
  kk_err_t err = NULL;
  if (kk_image_unpack_clean_path(s, &out, &err) == 0) {
    size_t n = strlen(out);
    if (n >= 4096)
      FAIL("clean path too long");
    if (out[0] == '/')
      FAIL("absolute clean path \"%s\"", out);
    if (n > 0 && out[n - 1] == '/')
      FAIL("trailing slash in \"%s\"", out);
    const char *p = out;
    while (n > 0) {
      const char *e = strchr(p, '/');
      size_t len = e ? (size_t)(e - p) : strlen(p);
      if (len == 0 || len > 255 || (len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
        FAIL("bad component in \"%s\"", out);
      if (!e)
        break;
      p = e + 1;
    }
    char *again = NULL;
    if (n > 0) {
      if (kk_image_unpack_clean_path(out, &again, &err) != 0 || strcmp(again, out) != 0)
        FAIL("cleaning \"%s\" is not idempotent", out);
    }
    free(again);
    free(out);
  } else {
    if (out != NULL)
      FAIL("output on error");
    kk_error_free(&err);
  }
  free(s);
  return 0;
}

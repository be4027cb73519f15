/* Fuzz the daemon's input path: frame splitting, then request dispatch
 * against a controller on a throwaway run path. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api.h"

static struct kk_controller *ctl; /* fuzzer process lifetime */

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  char tmpl[] = "/tmp/kk-fuzz-api.XXXXXX";
  char *dir = mkdtemp(tmpl);
  if (dir == NULL)
    abort();
  struct kk_controller_config cfg = {.run_path = dir};
  kk_err_t err = NULL;
  if (kk_controller_open(&cfg, &ctl, &err) < 0)
    abort();
  struct kk_report rep = {0};
  if (kk_ctl_init(ctl, NULL, NULL, &rep, &err) < 0)
    abort();
  kk_report_free(&rep);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const uint8_t *payload = NULL;
  size_t plen = 0;
  long n = kk_frame_split(data, size, &payload, &plen);
  if (n < 0)
    return 0;
  if (n == 0) { /* not a whole frame: dispatch the raw bytes instead */
    payload = data;
    plen = size;
  }
  uint8_t *resp = NULL;
  size_t resp_len = 0;
  kk_api_dispatch(ctl, payload, plen, &resp, &resp_len);
  if (resp == NULL || resp_len > KK_API_MAX_FRAME)
    abort();
  free(resp);
  return 0;
}

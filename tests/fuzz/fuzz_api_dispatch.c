/* Fuzz the daemon's input path: frame splitting, then request dispatch
 * against a controller on a throwaway run path. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api.h"
#include "lib/fs.h"

static struct kk_controller *ctl; /* fuzzer process lifetime */
static char run_dir[64];

/* Never the host's /kukeon or /run/kukeon: a cgroup root and runtime dir of
 * the fuzzer's own, removed at exit; runc is /bin/false, so no request can
 * start a container. */
static void fuzz_cleanup(void) {
  static const char *realms[] = {"default", "kuke-system"};
  for (size_t i = 0; ctl && i < 2; i++) {
    struct kk_ref ref = {.kind = KK_KIND_REALM, .realm = realms[i], .name = realms[i]};
    struct kk_report rep = {0};
    kk_err_t e = NULL;
    kk_ctl_delete(ctl, &ref, true, true, &rep, &e);
    kk_error_free(&e);
    kk_report_free(&rep);
  }
  kk_err_t e = NULL;
  kk_rm_rf_at(AT_FDCWD, run_dir, &e);
  kk_error_free(&e);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  snprintf(run_dir, sizeof(run_dir), "/tmp/kk-fuzz-api.XXXXXX");
  if (mkdtemp(run_dir) == NULL)
    abort();
  char cgroot[64], rt[96];
  snprintf(cgroot, sizeof(cgroot), "/kukeon-fuzz-%d", (int)getpid());
  snprintf(rt, sizeof(rt), "%s/rt", run_dir);
  struct kk_controller_config cfg = {.run_path = run_dir, .cgroup_root = cgroot, .runtime_dir = rt,
                                     .runc = "/bin/false", .pause_binary = "/nonexistent"};
  atexit(fuzz_cleanup);
  kk_err_t err = NULL;
  if (kk_controller_open(&cfg, &ctl, &err) < 0)
    abort();
  struct kk_report rep = {0};
  if (kk_ctl_init(ctl, NULL, NULL, false, &rep, &err) < 0)
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
  /* A peer that is not root, under the restricted policy. */
  static const struct kk_policy restricted = {KK_PEER_RESTRICTED, {0}};
  struct kk_api_call call = {.uid = 1000, .policy = &restricted, .remote = true, .cancel_fd = -1};
  kk_api_dispatch(ctl, &call, payload, plen, &resp, &resp_len);
  for (size_t i = 0; i < call.n_out_fds; i++)
    close(call.out_fds[i]);
  if (resp == NULL || resp_len > KK_API_MAX_FRAME)
    abort();
  free(resp);
  return 0;
}

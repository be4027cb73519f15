/* Test/bench driver for runtime/image.h:
 *   kk-image-tool [--run-path P] [--ns NS] [opts] load FILE|DIR|- [--name REF]
 *   kk-image-tool ... prepare REF
 *   kk-image-tool ... mount REF TARGET [UPPER WORK]     (--copy forces the copy fallback)
 *   kk-image-tool ... unmount TARGET
 *   kk-image-tool ... mode TARGET
 *   kk-image-tool ... config REF
 *   kk-image-tool ... unpack-layer BLOB DIR [LOWER...]  (one layer into an empty DIR)
 *   kk-image-tool ... prune
 * opts: --devices auto|create|skip|refuse, --max-entries N, --max-bytes N,
 *       --sync (syncfs before publishing snapshots).  Errors: "Error: <message>" on stderr, exit 1. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "image/image.h"

static int fail(kk_err_t *err) {
  fprintf(stderr, "Error: %s\n", (*err)->msg);
  kk_error_free(err);
  return 1;
}

int main(int argc, char **argv) {
  const char *run = getenv("KUKEON_RUN_PATH");
  const char *ns = "default.kukeon.io";
  const char *name = NULL;
  struct kk_unpack_opts uo = {0};
  struct kk_rootfs_opts ro = {.unpack = &uo};
  int i = 1;
  for (; i < argc && argv[i][0] == '-' && argv[i][1] == '-'; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--run-path") && v) {
      run = v;
      i++;
    } else if (!strcmp(a, "--ns") && v) {
      ns = v;
      i++;
    } else if (!strcmp(a, "--name") && v) {
      name = v;
      i++;
    } else if (!strcmp(a, "--copy")) {
      ro.force_copy = true;
    } else if (!strcmp(a, "--sync")) {
      uo.sync = true;
    } else if (!strcmp(a, "--max-entries") && v) {
      uo.max_entries = strtoull(v, NULL, 10);
      i++;
    } else if (!strcmp(a, "--max-bytes") && v) {
      uo.max_bytes = strtoull(v, NULL, 10);
      i++;
    } else if (!strcmp(a, "--devices") && v) {
      uo.devices = !strcmp(v, "create") ? KK_UNPACK_DEVICES_CREATE
                   : !strcmp(v, "skip") ? KK_UNPACK_DEVICES_SKIP
                   : !strcmp(v, "refuse") ? KK_UNPACK_DEVICES_REFUSE
                                          : KK_UNPACK_DEVICES_AUTO;
      i++;
    } else {
      fprintf(stderr, "unknown option %s\n", a);
      return 2;
    }
  }
  if (i >= argc) {
    fprintf(stderr, "usage: kk-image-tool [opts] load|prepare|mount|unmount|mode|config|unpack-layer|prune ...\n");
    return 2;
  }
  const char *cmd = argv[i++];
  kk_err_t err = NULL;
  if (!strcmp(cmd, "unpack-layer")) {
    if (argc - i < 2)
      return 2;
    int fd = open(argv[i], O_RDONLY | O_CLOEXEC);
    int root = open(argv[i + 1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || root < 0) {
      perror("open");
      return 1;
    }
    int lowers[64];
    size_t n = 0;
    /* LOWER... given bottom first; the unpacker wants top first. */
    for (int k = argc - 1; k >= i + 2 && n < 64; k--)
      lowers[n++] = open(argv[k], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    struct kk_unpack_stats st;
    if (kk_image_unpack_layer(root, lowers, n, fd, NULL, NULL, &uo, &st, &err) < 0)
      return fail(&err);
    printf("entries %llu bytes %llu\n", (unsigned long long)st.entries, (unsigned long long)st.bytes);
    return 0;
  }
  if (run == NULL) {
    fprintf(stderr, "--run-path or KUKEON_RUN_PATH is required\n");
    return 2;
  }
  struct kk_image_store *s = NULL;
  if (kk_image_store_open(run, &s, &err) < 0)
    return fail(&err);
  int rc = 0;
  if (!strcmp(cmd, "load") && i < argc) {
    struct kk_image_load_opts lo = {.name = name};
    struct kk_image_load_result r;
    if (kk_image_load(s, ns, argv[i], &lo, &r, &err) < 0) {
      rc = fail(&err);
    } else {
      for (size_t k = 0; k < r.refs.n; k++)
        printf("%s\n", r.refs.v[k]);
      for (size_t k = 0; k < r.skipped.n; k++)
        fprintf(stderr, "skipped: %s\n", r.skipped.v[k]);
      kk_image_load_result_free(&r);
    }
  } else if (!strcmp(cmd, "prepare") && i < argc) {
    struct kk_strv chain;
    if (kk_image_prepare(s, ns, argv[i], &uo, &chain, &err) < 0) {
      rc = fail(&err);
    } else {
      for (size_t k = 0; k < chain.n; k++)
        printf("%s\n", chain.v[k]);
      kk_strv_free(&chain);
    }
  } else if (!strcmp(cmd, "mount") && argc - i >= 2) {
    const char *upper = argc - i >= 4 ? argv[i + 2] : NULL;
    const char *work = argc - i >= 4 ? argv[i + 3] : NULL;
    if (kk_image_rootfs_mount(s, ns, argv[i], argv[i + 1], upper, work, &ro, &err) < 0)
      rc = fail(&err);
    else {
      char *m = kk_image_rootfs_mode(s, argv[i + 1]);
      printf("%s\n", m ? m : "?");
      free(m);
    }
  } else if (!strcmp(cmd, "unmount") && i < argc) {
    if (kk_image_rootfs_unmount(s, argv[i], &err) < 0)
      rc = fail(&err);
  } else if (!strcmp(cmd, "mode") && i < argc) {
    char *m = kk_image_rootfs_mode(s, argv[i]);
    printf("%s\n", m ? m : "none");
    free(m);
  } else if (!strcmp(cmd, "config") && i < argc) {
    struct kk_image_config c;
    if (kk_image_config_get(s, ns, argv[i], &c, &err) < 0) {
      rc = fail(&err);
    } else {
      char *p = kk_image_platform_string(&c.platform);
      char *ep = kk_strv_join(&c.entrypoint, " "), *cmdv = kk_strv_join(&c.cmd, " "), *env = kk_strv_join(&c.env, " ");
      printf("platform %s\nentrypoint %s\ncmd %s\nenv %s\nworkdir %s\nuser %s\nlayers %zu\n", p, ep, cmdv, env,
             c.working_dir ? c.working_dir : "", c.user ? c.user : "", c.diff_ids.n);
      free(p);
      free(ep);
      free(cmdv);
      free(env);
      kk_image_config_free(&c);
    }
  } else if (!strcmp(cmd, "prune")) {
    struct kk_image_prune_result r;
    if (kk_image_prune(s, &r, &err) < 0)
      rc = fail(&err);
    else
      printf("blobs %zu snapshots %zu retained %zu leases %zu bytes %lld\n", r.blobs_removed, r.snapshots_removed,
             r.snapshots_retained, r.leases, (long long)r.bytes_freed);
  } else {
    fprintf(stderr, "bad command %s\n", cmd);
    rc = 2;
  }
  kk_image_store_close(s);
  return rc;
}

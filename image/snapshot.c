/* Snapshots: each layer unpacked once, keyed by its chain ID, published by
 * rename; a container rootfs is an overlay of them (or a copy). */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/fs.h"
#include "lib/log.h"
#include "image/internal.h"


static void boot_id(char out[40]) {
  strcpy(out, "unknown");
  cleanup_free char *buf = NULL;
  size_t len = 0;
  kk_err_t e = NULL;
  if (kk_read_file_at(AT_FDCWD, "/proc/sys/kernel/random/boot_id", 64, &buf, &len, &e) < 0) {
    kk_error_free(&e);
    return;
  }
  size_t n = strcspn(buf, "\n");
  if (n > 0 && n < 40) {
    memcpy(out, buf, n);
    out[n] = '\0';
  }
}

/* A published snapshot is usable when it was synced, or when it was made
 * during this boot (then the page cache holds whatever did not reach the
 * disk yet).  One from an earlier boot that was never synced may have been
 * torn by a crash: it is moved aside (prune removes it) and rebuilt. */
static bool snapshot_ready(struct kk_image_store *s, const char *hex) {
  cleanup_free char *meta = kk_asprintf("%s/meta.json", hex);
  cleanup_free char *buf = NULL;
  size_t len = 0;
  kk_err_t e = NULL;
  if (kk_read_file_at(s->snapfd, meta, 1 << 16, &buf, &len, &e) < 0) {
    kk_error_free(&e);
    return false;
  }
  cleanup_json json_t *j = json_loadb(buf, len, 0, NULL);
  char boot[40];
  boot_id(boot);
  const char *made = j ? json_string_value(json_object_get(j, "bootID")) : NULL;
  if (j && (json_is_true(json_object_get(j, "synced")) || kk_streq(made, boot)))
    return true;
  cleanup_free char *aside = kk_asprintf(".stale-%.12s-%d-%08x", hex, (int)getpid(), (unsigned)random());
  if (renameat(s->snapfd, hex, s->snapfd, aside) == 0)
    kk_debug("snapshot %.12s was not synced before a reboot; rebuilding it", hex);
  return false;
}

static int open_snapshot_rootfs(struct kk_image_store *s, const char *hex, kk_err_t *err) {
  cleanup_free char *p = kk_asprintf("%s/rootfs", hex);
  int fd = openat(s->snapfd, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return kk_error(err, errno, "open snapshot %.12s", hex);
  return fd;
}

/* Unpack one layer into snapshots/.tmp-*; *tmp_out names it (unpublished). */
static int unpack_snapshot(struct kk_image_store *s, const struct kk_descriptor *layer, const char *diff_id,
                           const char *chain, const char *parent, const int *lowers_bottom_first, size_t n_lowers,
                           const struct kk_unpack_opts *opts, char **tmp_out, kk_err_t *err) {
  const char *hex = kk_image_digest_hex(chain);
  if (!kk_image_layer_media_type_ok(layer->media_type))
    return kk_error_kind(err, KK_ERR_INVALID, 0, "layer %s: unsupported media type \"%s\"", layer->digest,
                         layer->media_type ? layer->media_type : "");
  cleanup_free char *tmp = NULL;
  for (int attempt = 0; attempt < 100; attempt++) {
    free(tmp);
    tmp = kk_asprintf(".tmp-%.12s-%d-%08x", hex, (int)getpid(), (unsigned)random());
    if (mkdirat(s->snapfd, tmp, 0700) == 0)
      break;
    if (errno != EEXIST)
      return kk_error(err, errno, "create snapshot directory");
  }
  cleanup_close int tmpfd = kk_open_dir_at(s->snapfd, tmp, err);
  if (tmpfd < 0)
    return -1;
  int rc = -1;
  int *lowers = kk_xmalloc((n_lowers + 1) * sizeof(int));
  for (size_t i = 0; i < n_lowers; i++)
    lowers[i] = lowers_bottom_first[n_lowers - 1 - i];
  struct kk_unpack_stats st = {0};
  cleanup_close int rootfd = -1;
  cleanup_close int blobfd = -1;
  if (mkdirat(tmpfd, "rootfs", 0755) < 0) {
    kk_error(err, errno, "create snapshot rootfs");
    goto out;
  }
  if ((rootfd = kk_open_dir_at(tmpfd, "rootfs", err)) < 0)
    goto out;
  if ((blobfd = kk_image_blob_open(s, layer->digest, err)) < 0)
    goto out;
  if (kk_image_unpack_layer(rootfd, lowers, n_lowers, blobfd, layer->digest, diff_id, opts, &st, err) < 0)
    goto out;
  {
    json_t *m = json_object();
    json_object_set_new(m, "chainID", json_string(chain));
    json_object_set_new(m, "diffID", json_string(diff_id));
    json_object_set_new(m, "parent", parent ? json_string(parent) : json_null());
    json_object_set_new(m, "layerDigest", json_string(layer->digest));
    json_object_set_new(m, "mediaType", json_string(layer->media_type));
    json_object_set_new(m, "entries", json_integer((json_int_t)st.entries));
    json_object_set_new(m, "bytes", json_integer((json_int_t)st.bytes));
    char now[32];
    kk_time_format(kk_now(), now);
    json_object_set_new(m, "created", json_string(now));
    char boot[40];
    boot_id(boot);
    json_object_set_new(m, "bootID", json_string(boot));
    json_object_set_new(m, "synced", json_boolean(opts->sync));
    cleanup_free char *text = json_dumps(m, JSON_INDENT(2));
    json_decref(m);
    /* No fsync of its own: the directory is published by rename, and the
     * syncfs (when asked for) covers it. */
    cleanup_close int mfd = openat(tmpfd, "meta.json", O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (mfd < 0 || kk_write_all(mfd, text, strlen(text)) < 0) {
      kk_error(err, errno, "write snapshot metadata");
      goto out;
    }
  }
  rc = 0;
  *tmp_out = kk_steal(&tmp);
out:
  if (rc < 0) {
    kk_err_t e2 = NULL;
    kk_rm_rf_at(s->snapfd, tmp, &e2);
    kk_error_free(&e2);
  }
  free(lowers);
  return rc;
}


/* Publish unpacked snapshots, bottom first, by rename (a crash leaves only
 * .tmp-* dirs, which prune removes); with opts->sync one syncfs first. */
static int publish(struct kk_image_store *s, struct kk_strv *tmps, struct kk_strv *hexes, const struct kk_unpack_opts *opts,
                   kk_err_t *err) {
  if (tmps->n == 0)
    return 0;
  if (opts->sync && syncfs(s->snapfd) < 0)
    return kk_error(err, errno, "sync snapshots");
  for (size_t i = 0; i < tmps->n; i++) {
    if (renameat(s->snapfd, tmps->v[i], s->snapfd, hexes->v[i]) == 0)
      continue;
    if (errno != EEXIST && errno != ENOTEMPTY)
      return kk_error(err, errno, "publish snapshot %.12s", hexes->v[i]);
    /* Someone else published the same chain first: theirs is as good. */
    kk_err_t e2 = NULL;
    kk_rm_rf_at(s->snapfd, tmps->v[i], &e2);
    kk_error_free(&e2);
  }
  return opts->sync ? kk_fsync_dir(s->snapfd, err) : 0;
}

static void discard(struct kk_image_store *s, struct kk_strv *tmps) {
  for (size_t i = 0; i < tmps->n; i++) {
    kk_err_t e2 = NULL;
    kk_rm_rf_at(s->snapfd, tmps->v[i], &e2);
    kk_error_free(&e2);
  }
}

/* Prepare with the gc lock held; fds of the rootfs dirs (bottom first) in
 * *fds_out when asked. */
static int prepare_locked(struct kk_image_store *s, const char *ns, const char *ref, const struct kk_unpack_opts *opts,
                          struct kk_strv *chain_out, int **fds_out, kk_err_t *err) {
  struct kk_unpack_opts defaults = {0};
  if (opts == NULL)
    opts = &defaults;
  struct kk_image_manifest m;
  struct kk_image_config c;
  if (kk_image_resolve(s, ns, ref, NULL, &m, &c, err) < 0)
    return -1;
  int rc = 0;
  struct kk_strv chain = {0};
  int *fds = kk_xmalloc((m.n_layers + 1) * sizeof(int));
  size_t n_fds = 0;
  struct kk_strv tmps = {0}, hexes = {0};
  kk_err_t perr = NULL;
  if (c.diff_ids.n != m.n_layers) {
    rc = kk_error_kind(err, KK_ERR_INVALID, 0, "image %s: config lists %zu diff IDs for %zu layers", ref,
                       c.diff_ids.n, m.n_layers);
    goto out;
  }
  if ((rc = kk_image_chain_ids(&c.diff_ids, &chain, err)) < 0)
    goto out;
  for (size_t i = 0; i < m.n_layers && rc == 0; i++) {
    const char *hex = kk_image_digest_hex(chain.v[i]);
    int fd;
    if (snapshot_ready(s, hex)) {
      fd = open_snapshot_rootfs(s, hex, err);
    } else {
      kk_debug("unpacking layer %zu/%zu %s", i + 1, m.n_layers, m.layers[i].digest);
      char *tmp = NULL;
      rc = unpack_snapshot(s, &m.layers[i], c.diff_ids.v[i], chain.v[i], i ? chain.v[i - 1] : NULL, fds, n_fds, opts,
                           &tmp, err);
      if (rc < 0) {
        kk_error_wrap(err, "image %s: layer %zu (%s)", ref, i + 1, m.layers[i].digest);
        break;
      }
      kk_strv_push_owned(&tmps, tmp);
      kk_strv_push(&hexes, hex);
      cleanup_free char *p = kk_asprintf("%s/rootfs", tmp);
      fd = openat(s->snapfd, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (fd < 0)
        kk_error(err, errno, "open snapshot %.12s", hex);
    }
    if (fd < 0) {
      rc = -1;
      break;
    }
    fds[n_fds++] = fd;
  }
  /* What unpacked well is published even when a later layer failed. */
  if (publish(s, &tmps, &hexes, opts, &perr) < 0) {
    discard(s, &tmps);
    if (rc == 0) {
      *err = perr;
      rc = -1;
    } else {
      kk_error_free(&perr);
    }
  }
  kk_strv_free(&tmps);
  kk_strv_free(&hexes);
out:
  if (rc == 0 && chain_out)
    kk_strv_copy(chain_out, &chain);
  if (rc == 0 && fds_out) {
    *fds_out = fds;
  } else {
    for (size_t i = 0; i < n_fds; i++)
      close(fds[i]);
    free(fds);
  }
  kk_strv_free(&chain);
  kk_image_manifest_free(&m);
  kk_image_config_free(&c);
  return rc;
}

int kk_image_prepare(struct kk_image_store *s, const char *ns, const char *ref, const struct kk_unpack_opts *opts,
                     struct kk_strv *chain_ids, kk_err_t *err) {
  if (chain_ids)
    memset(chain_ids, 0, sizeof(*chain_ids));
  cleanup_close int lock = kk_image_gc_lock(s, false, err);
  if (lock < 0)
    return -1;
  return prepare_locked(s, ns, ref, opts, chain_ids, NULL, err);
}

/* ----------------------------------------------------------------- leases */

static int lease_name(const char *target, char **out, kk_err_t *err) {
  cleanup_free char *d = NULL;
  if (kk_image_digest(target, strlen(target), &d, err) < 0)
    return -1;
  *out = kk_asprintf("%.32s.json", kk_image_digest_hex(d));
  return 0;
}

/* The canonical target path (the lease key). */
static char *canonical(const char *path) {
  char buf[PATH_MAX];
  if (realpath(path, buf))
    return kk_xstrdup(buf);
  cleanup_free char *copy = kk_xstrdup(path);
  size_t n = strlen(copy);
  while (n > 1 && copy[n - 1] == '/')
    copy[--n] = '\0';
  return kk_steal(&copy);
}

static int lease_write(struct kk_image_store *s, const char *target, const char *mode, const char *ns, const char *ref,
                       const struct kk_strv *chain, kk_err_t *err) {
  json_t *j = json_object();
  json_object_set_new(j, "target", json_string(target));
  json_object_set_new(j, "mode", json_string(mode));
  json_object_set_new(j, "namespace", json_string(ns));
  json_object_set_new(j, "ref", json_string(ref));
  json_t *a = json_array();
  for (size_t i = 0; i < chain->n; i++)
    json_array_append_new(a, json_string(kk_image_digest_hex(chain->v[i])));
  json_object_set_new(j, "chain", a);
  cleanup_free char *text = json_dumps(j, JSON_INDENT(2));
  json_decref(j);
  cleanup_free char *name = NULL;
  if (lease_name(target, &name, err) < 0)
    return -1;
  /* A lease names a mount, and no mount outlives a reboot. */
  return kk_write_file_volatile(s->leasefd, name, text, strlen(text), 0600, err);
}

/* *out = the lease of target, NULL when there is none (or it is unreadable). */
static int lease_read(struct kk_image_store *s, const char *target, json_t **out, kk_err_t *err) {
  *out = NULL;
  cleanup_free char *name = NULL;
  if (lease_name(target, &name, err) < 0)
    return -1;
  cleanup_free char *buf = NULL;
  size_t len = 0;
  kk_err_t e = NULL;
  if (kk_read_file_at(s->leasefd, name, 1 << 20, &buf, &len, &e) < 0) {
    kk_error_free(&e);
    return 0;
  }
  *out = json_loadb(buf, len, 0, NULL);
  return 0;
}

static bool dir_empty(int fd);

/* Is the rootfs a lease names still there?  The lease is on disk and
 * outlives a reboot; the overlay mount (and a copy in the runtime dir) do
 * not. */
static bool lease_holds(const char *t, const json_t *lease) {
  const char *mode = json_string_value(json_object_get(lease, "mode"));
  if (kk_streq(mode, "overlay")) {
    struct statx stx;
    if (statx(AT_FDCWD, t, AT_SYMLINK_NOFOLLOW, 0, &stx) < 0)
      return false;
    if (stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT)
      return (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT) != 0;
    cleanup_free char *parent = kk_asprintf("%s/..", t);
    struct stat self, up;
    return stat(t, &self) == 0 && stat(parent, &up) == 0 && self.st_dev != up.st_dev;
  }
  cleanup_close int tfd = open(t, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  return tfd >= 0 && !dir_empty(tfd);
}

/* The lease of target, NULL without one; a lease whose rootfs is gone is
 * dropped on the way. */
static json_t *live_lease(struct kk_image_store *s, const char *t) {
  json_t *j = NULL;
  kk_err_t e = NULL;
  if (lease_read(s, t, &j, &e) < 0) { /* no libcrypto: no lease was ever written */
    kk_error_free(&e);
    return NULL;
  }
  if (j == NULL || lease_holds(t, j))
    return j;
  json_decref(j);
  cleanup_free char *name = NULL;
  if (lease_name(t, &name, &e) == 0 && unlinkat(s->leasefd, name, 0) == 0)
    kk_debug("rootfs lease of %s dropped: nothing is mounted there any more", t);
  kk_error_free(&e);
  return NULL;
}

char *kk_image_rootfs_mode(struct kk_image_store *s, const char *target) {
  cleanup_free char *t = canonical(target);
  cleanup_json json_t *j = live_lease(s, t);
  return j ? kk_xstrdup(json_string_value(json_object_get(j, "mode"))) : NULL;
}

/* ----------------------------------------------------------------- mounts */

static int overlay_mount_new_api(const char *const *lowers, size_t n, const char *upper, const char *work,
                                 const char *target, kk_err_t *err) {
  int fs = fsopen("overlay", FSOPEN_CLOEXEC);
  if (fs < 0)
    return kk_error(err, errno, "fsopen overlay");
  int rc = 0;
  if (fsconfig(fs, FSCONFIG_SET_STRING, "source", "kukeon", 0) < 0)
    rc = -1;
  for (size_t i = 0; rc == 0 && i < n; i++)
    if (fsconfig(fs, FSCONFIG_SET_STRING, "lowerdir+", lowers[i], 0) < 0)
      rc = -1;
  if (rc == 0 && (fsconfig(fs, FSCONFIG_SET_STRING, "upperdir", upper, 0) < 0 ||
                  fsconfig(fs, FSCONFIG_SET_STRING, "workdir", work, 0) < 0 ||
                  fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0))
    rc = -1;
  if (rc < 0) {
    int e = errno;
    char msg[512] = "";
    ssize_t r = read(fs, msg, sizeof(msg) - 1);
    msg[r > 0 ? r : 0] = '\0';
    close(fs);
    errno = e;
    return kk_error(err, e, "mount overlay%s%s", *msg ? ": " : "", msg);
  }
  int mfd = fsmount(fs, FSMOUNT_CLOEXEC, 0);
  int e = errno;
  close(fs);
  if (mfd < 0)
    return kk_error(err, e, "fsmount overlay");
  rc = move_mount(mfd, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH);
  e = errno;
  close(mfd);
  if (rc < 0)
    return kk_error(err, e, "attach overlay on %s", target);
  return 0;
}

static int overlay_mount_legacy(const char *const *lowers, size_t n, const char *upper, const char *work,
                                const char *target, kk_err_t *err) {
  struct kk_strv parts = {0};
  for (size_t i = 0; i < n; i++)
    kk_strv_push(&parts, lowers[i]);
  cleanup_free char *lower = kk_strv_join(&parts, ":");
  kk_strv_free(&parts);
  cleanup_free char *data = kk_asprintf("lowerdir=%s,upperdir=%s,workdir=%s", lower, upper, work);
  if (strlen(data) >= (size_t)sysconf(_SC_PAGESIZE))
    return kk_error_kind(err, KK_ERR_UNAVAILABLE, E2BIG, "overlay options longer than a page (%zu layers)", n);
  if (mount("kukeon", target, "overlay", 0, data) < 0)
    return kk_error(err, errno, "mount overlay on %s", target);
  return 0;
}

static int overlay_mount(const char *const *lowers, size_t n, const char *upper, const char *work, const char *target,
                         kk_err_t *err) {
  kk_err_t e1 = NULL;
  if (overlay_mount_new_api(lowers, n, upper, work, target, &e1) == 0)
    return 0;
  /* Kernels before 6.8 have no "lowerdir+": the one-string form. */
  int r = overlay_mount_legacy(lowers, n, upper, work, target, err);
  if (r < 0)
    kk_debug("overlay (new mount API): %s", e1->msg);
  kk_error_free(&e1);
  return r;
}

static bool dir_empty(int fd) {
  kk_err_t e = NULL;
  DIR *d = kk_dir_open_at(fd, NULL, &e);
  kk_error_free(&e);
  if (d == NULL)
    return false;
  struct dirent *de;
  bool empty = true;
  while (empty && (de = readdir(d)) != NULL)
    if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
      empty = false;
  closedir(d);
  return empty;
}

int kk_image_rootfs_mount(struct kk_image_store *s, const char *ns, const char *ref, const char *target,
                          const char *upper, const char *work, const struct kk_rootfs_opts *opts, kk_err_t *err) {
  struct kk_rootfs_opts defaults = {0};
  if (opts == NULL)
    opts = &defaults;
  if (kk_empty(target) || target[0] != '/')
    return kk_error_kind(err, KK_ERR_INVALID, 0, "rootfs target must be an absolute path");
  cleanup_close int lock = kk_image_gc_lock(s, false, err);
  if (lock < 0)
    return -1;
  struct kk_strv chain = {0};
  int *fds = NULL;
  if (prepare_locked(s, ns, ref, opts->unpack, &chain, &fds, err) < 0)
    return -1;
  int rc = -1;
  const char *mode = NULL;
  cleanup_free char *t = NULL;
  cleanup_close int tfd = -1;
  const char **lowers = kk_xzalloc((chain.n + 1) * sizeof(char *));
  if (kk_mkdir_p(target, 0755, err) < 0)
    goto out;
  t = canonical(target);
  {
    cleanup_json json_t *old = live_lease(s, t);
    if (old) {
      kk_error_kind(err, KK_ERR_EXISTS, 0, "a rootfs is already mounted on %s", t);
      goto out;
    }
  }
  tfd = kk_open_dir_at(AT_FDCWD, t, err);
  if (tfd < 0)
    goto out;
  if (!opts->force_copy && chain.n > 0 && !kk_empty(upper) && !kk_empty(work)) {
    if (kk_mkdir_p(upper, 0755, err) < 0 || kk_mkdir_p(work, 0700, err) < 0)
      goto out;
    for (size_t i = 0; i < chain.n; i++)
      lowers[i] = kk_asprintf("%s/%s/rootfs", s->snap_path, kk_image_digest_hex(chain.v[chain.n - 1 - i]));
    kk_err_t e1 = NULL;
    if (overlay_mount(lowers, chain.n, upper, work, t, &e1) == 0) {
      mode = "overlay";
    } else {
      kk_warn("overlay unavailable for %s (%s); copying the image instead", t, e1->msg);
      kk_error_free(&e1);
    }
  }
  if (mode == NULL) {
    if (!dir_empty(tfd)) {
      kk_error_kind(err, KK_ERR_CONFLICT, 0, "rootfs target %s is not empty", t);
      goto out;
    }
    if (kk_image_copy_layers(tfd, fds, chain.n, err) < 0) {
      kk_err_t e2 = NULL;
      kk_rm_rf_children(tfd, &e2);
      kk_error_free(&e2);
      kk_error_wrap(err, "copy image %s into %s", ref, t);
      goto out;
    }
    mode = "copy";
  }
  rc = lease_write(s, t, mode, ns, ref, &chain, err);
  if (rc < 0) {
    kk_err_t e2 = NULL;
    if (strcmp(mode, "overlay") == 0)
      umount2(t, MNT_DETACH);
    else
      kk_rm_rf_children(tfd, &e2);
    kk_error_free(&e2);
  }
out:
  for (size_t i = 0; i < chain.n; i++) {
    close(fds[i]);
    free((char *)lowers[i]);
  }
  free(lowers);
  free(fds);
  kk_strv_free(&chain);
  return rc;
}

int kk_image_rootfs_unmount(struct kk_image_store *s, const char *target, kk_err_t *err) {
  cleanup_free char *t = canonical(target);
  cleanup_json json_t *j = NULL;
  if (lease_read(s, t, &j, err) < 0)
    return -1;
  if (j == NULL)
    return 0;
  const char *mode = json_string_value(json_object_get(j, "mode"));
  if (kk_streq(mode, "overlay")) {
    if (umount2(t, UMOUNT_NOFOLLOW) < 0 && errno != EINVAL && errno != ENOENT) {
      if (errno != EBUSY || umount2(t, MNT_DETACH | UMOUNT_NOFOLLOW) < 0)
        return kk_error(err, errno, "unmount rootfs %s", t);
    }
  } else {
    cleanup_close int tfd = open(t, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (tfd >= 0 && kk_rm_rf_children(tfd, err) < 0)
      return kk_error_wrap(err, "remove rootfs copy %s", t);
  }
  cleanup_free char *name = NULL;
  if (lease_name(t, &name, err) < 0)
    return -1;
  if (unlinkat(s->leasefd, name, 0) < 0 && errno != ENOENT)
    return kk_error(err, errno, "drop rootfs lease");
  return 0; /* leases are volatile (lease_write) */
}

/* kuke status's storage rows: what the image store holds, per namespace
 * and in all, counted without changing anything. */
#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image/internal.h"
#include "image/libs.h"
#include "lib/cleanup.h"
#include "lib/fs.h"
#include "lib/util.h"

/* Sorted, each once; "sha256:<hex>" becomes "<hex>", the name on disk. */
static void as_dir_names(struct kk_strv *sv) {
  for (size_t i = 0; i < sv->n; i++)
    if (kk_has_prefix(sv->v[i], "sha256:"))
      memmove(sv->v[i], sv->v[i] + 7, strlen(sv->v[i] + 7) + 1);
  kk_strv_sort(sv);
  size_t w = 0;
  for (size_t i = 0; i < sv->n; i++) {
    if (w > 0 && strcmp(sv->v[w - 1], sv->v[i]) == 0) {
      free(sv->v[i]);
      continue;
    }
    sv->v[w++] = sv->v[i];
  }
  sv->n = w;
}

/* The names of one namespace's blobs and snapshots that are present. */
static void count_present(struct kk_image_store *s, const struct kk_strv *blobs, const struct kk_strv *chains,
                          struct kk_image_usage *out) {
  struct stat st;
  for (size_t i = 0; i < blobs->n; i++)
    if (fstatat(s->blobsfd, blobs->v[i], &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode)) {
      out->blobs++;
      out->blob_bytes += st.st_size;
    }
  for (size_t i = 0; i < chains->n; i++)
    if (fstatat(s->snapfd, chains->v[i], &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode))
      out->snapshots++;
}

/* Every entry of dirfd (hidden ones aside): how many, their bytes (files),
 * and how many `used` does not name. */
static int count_dir(int dirfd, const char *what, const struct kk_strv *used, size_t *n, int64_t *bytes,
                     size_t *unused, kk_err_t *err) {
  cleanup_dir DIR *d = kk_dir_open_at(dirfd, NULL, err);
  if (d == NULL)
    return kk_error_wrap(err, "%s", what);
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    if (de->d_name[0] == '.')
      continue;
    struct stat st;
    if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
      continue;
    (*n)++;
    if (bytes && S_ISREG(st.st_mode))
      *bytes += st.st_size;
    if (!kk_strv_contains(used, de->d_name))
      (*unused)++;
  }
  return 0;
}

static int usage_all(struct kk_image_store *s, struct kk_image_usage *out, kk_err_t *err) {
  cleanup_strv struct kk_strv nss = {0}, blobs = {0}, chains = {0};
  if (kk_image_namespaces(s, &nss, err) < 0)
    return -1;
  for (size_t k = 0; k < nss.n; k++)
    if (kk_image_collect_refs_ns(s, nss.v[k], &out->images, &blobs, &chains, err) < 0)
      return -1;
  if (kk_image_collect_leases(s, &chains, &out->leases, err) < 0)
    return -1;
  as_dir_names(&blobs);
  as_dir_names(&chains);
  if (count_dir(s->blobsfd, "blobs", &blobs, &out->blobs, &out->blob_bytes, &out->unreferenced_blobs, err) < 0)
    return -1;
  return count_dir(s->snapfd, "snapshots", &chains, &out->snapshots, NULL, &out->unreferenced_snapshots, err);
}

int kk_image_usage(struct kk_image_store *s, const char *ns, struct kk_image_usage *out, kk_err_t *err) {
  memset(out, 0, sizeof(*out));
  /* Reading a manifest verifies its digest, which needs libcrypto. */
  if (kk_image_libcrypto(err) == NULL)
    return -1;
  cleanup_close int lock = kk_image_gc_lock(s, false, err);
  if (lock < 0)
    return -1;
  if (ns == NULL)
    return usage_all(s, out, err) < 0 ? kk_error_wrap(err, "image store usage") : 0;
  cleanup_strv struct kk_strv blobs = {0}, chains = {0};
  if (kk_image_collect_refs_ns(s, ns, &out->images, &blobs, &chains, err) < 0)
    return kk_error_wrap(err, "image store usage of %s", ns);
  as_dir_names(&blobs);
  as_dir_names(&chains);
  count_present(s, &blobs, &chains, out);
  return 0;
}

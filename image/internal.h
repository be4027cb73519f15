/* Private to runtime/image*.c, registry*.c, unpack*.c, snapshot*.c: the
 * store's internals shared between those files.  Not an API. */
#ifndef KK_RUNTIME_IMAGE_INT_H
#define KK_RUNTIME_IMAGE_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "image/image.h"

struct kk_image_store {
  char *run_path;
  char *images_path; /* <run>/images */
  char *snap_path;   /* <run>/snapshots */
  int imagesfd;      /* <run>/images */
  int blobsfd;       /* <run>/images/blobs/sha256 */
  int ingestfd;      /* <run>/images/ingest */
  int snapfd;        /* <run>/snapshots */
  int leasefd;       /* <run>/snapshots/.leases */
};

/* Streaming SHA-256 (OpenSSL EVP; libcrypto is loaded by the first init,
 * which fails with a clear error when it cannot be). */
struct kk_crypto_api;
struct kk_sha256 {
  void *ctx; /* EVP_MD_CTX */
  const struct kk_crypto_api *api;
};
int kk_image_sha256_init(struct kk_sha256 *h, kk_err_t *err);
void kk_image_sha256_update(struct kk_sha256 *h, const void *p, size_t n);
/* "sha256:<hex>"; the context is reset for reuse. */
char *kk_image_sha256_final(struct kk_sha256 *h);
void kk_image_sha256_free(struct kk_sha256 *h);
/* Fallible kk_image_digest_of / kk_image_chain_ids_of. */
int kk_image_digest(const void *buf, size_t len, char **out, kk_err_t *err);
int kk_image_chain_ids(const struct kk_strv *diff_ids, struct kk_strv *out, kk_err_t *err);
/* The 64 hex characters of a valid digest. */
static inline const char *kk_image_digest_hex(const char *digest) { return digest + 7; }

/* Streaming ingest of one blob: temp file in images/ingest, hashed while
 * written, size enforced, renamed into blobs/ only when the digest is right.
 * With an expected digest the temp is "<hex>.partial", kept on failure so a
 * later pull resumes it (offset() tells where); it is locked while open. */
struct kk_blob_writer;
int kk_image_writer_open(struct kk_image_store *s, const char *expected, int64_t expected_size,
                       struct kk_blob_writer **out, kk_err_t *err);
int64_t kk_image_writer_offset(const struct kk_blob_writer *w);
/* Start over (server ignored our Range). */
int kk_image_writer_reset(struct kk_blob_writer *w, kk_err_t *err);
int kk_image_writer_write(struct kk_blob_writer *w, const void *buf, size_t len, kk_err_t *err);
/* Verify and publish; *digest_out / *size_out may be NULL. */
int kk_image_writer_commit(struct kk_blob_writer *w, char **digest_out, int64_t *size_out, kk_err_t *err);
/* Close; an uncommitted writer keeps its .partial only when keep_partial. */
void kk_image_writer_free(struct kk_blob_writer *w, bool keep_partial);
/* True when the blob was already stored when the writer was opened. */
bool kk_image_writer_present(const struct kk_blob_writer *w);

/* Locks (flock; the fd holds the lock). */
int kk_image_gc_lock(struct kk_image_store *s, bool exclusive, kk_err_t *err);
int kk_image_index_lock(struct kk_image_store *s, kk_err_t *err);

/* Read + parse the manifest / config stored for ref in ns. */
int kk_image_resolve(struct kk_image_store *s, const char *ns, const char *ref, char **manifest_digest,
                   struct kk_image_manifest *m, struct kk_image_config *c, kk_err_t *err);

/* What the index of ns references: its entries (*n_images, may be NULL,
 * counts them), the blobs (digests, duplicates kept) and the snapshots
 * (chain ID hex) they lead to.  libcrypto must be loaded. */
int kk_image_collect_refs_ns(struct kk_image_store *s, const char *ns, size_t *n_images, struct kk_strv *blobs,
                             struct kk_strv *chains, kk_err_t *err);

/* The snapshots (chain ID hex) rootfs leases pin; *n_leases counts the leases. */
int kk_image_collect_leases(struct kk_image_store *s, struct kk_strv *chains, size_t *n_leases, kk_err_t *err);

/* Check a manifest's blobs are all present (config + layers). */
int kk_image_manifest_complete(struct kk_image_store *s, const struct kk_image_manifest *m, kk_err_t *err);

/* JSON helper: parse strictly (size cap, no duplicate keys). */
struct json_t;
int kk_image_json_load(const char *buf, size_t len, const char *what, struct json_t **out, kk_err_t *err);

/* Overlay-form helpers shared by unpack and the copy fallback. */
bool kk_image_is_whiteout_stat(const void *st /* struct stat * */);
#define KK_OVERLAY_OPAQUE_XATTR "trusted.overlay.opaque"
/* Give a copied node st's owner, mode, extended attributes (not overlay's,
 * read from src_name under src_dir) and, when times, st's times.  The
 * destination is dst_fd when >= 0, else dst_name under dst_parent. */
struct stat;
/* A new symlink dst_name under dst_dir with src_name's target. */
int kk_image_copy_symlink(int src_dir, const char *src_name, int dst_dir, const char *dst_name, kk_err_t *err);
int kk_image_copy_meta(int src_dir, const char *src_name, int dst_fd, int dst_parent, const char *dst_name,
                       const struct stat *st, bool times, kk_err_t *err);

/* Copy the merged view of snapshot rootfs dirs (bottom first) into the
 * directory targetfd (fallback when overlay is unavailable). */
int kk_image_copy_layers(int targetfd, const int *layerfds, size_t n, kk_err_t *err);

#endif

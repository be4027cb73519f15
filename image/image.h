/* kukeon images: kukeon's own OCI image store, archive loads, registry
 * pulls, secure layer unpacking into chain-ID snapshots, container rootfs.
 *
 * On disk, under the run path:
 *   images/blobs/sha256/<hex>          content, shared by all namespaces;
 *                                      a blob exists only once its digest
 *                                      and size were verified
 *   images/ingest/                     partial downloads (resumable), temps
 *   images/<namespace>/oci-layout      one OCI image layout per namespace:
 *   images/<namespace>/index.json      manifests annotated with
 *                                      org.opencontainers.image.ref.name =
 *                                      the full normalized reference
 *   images/<namespace>/blobs -> ../blobs
 *   snapshots/<chain-id hex>/rootfs/   one unpacked layer (overlay diff form:
 *                                      whiteouts are 0:0 character devices,
 *                                      opaque dirs carry trusted.overlay.opaque)
 *   snapshots/<chain-id hex>/meta.json
 *   snapshots/.leases/<id>.json        rootfs mounts that pin snapshots
 * so `skopeo inspect oci:<run>/images/<ns>:<ref>` and umoci read the store.
 *
 * Concurrency: every writer holds a shared lock on images/.gc.lock; prune
 * holds it exclusively.  index.json updates serialize on images/.index.lock.
 */
#ifndef KK_RUNTIME_IMAGE_H
#define KK_RUNTIME_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/error.h"
#include "lib/util.h"

/* ------------------------------------------------------------ media types */
#define KK_MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define KK_MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define KK_MT_OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define KK_MT_OCI_LAYER "application/vnd.oci.image.layer.v1.tar"
#define KK_MT_OCI_LAYER_GZIP "application/vnd.oci.image.layer.v1.tar+gzip"
#define KK_MT_OCI_LAYER_ZSTD "application/vnd.oci.image.layer.v1.tar+zstd"
#define KK_MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define KK_MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define KK_MT_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"
#define KK_MT_DOCKER_LAYER_GZIP "application/vnd.docker.image.rootfs.diff.tar.gzip"

#define KK_ANNOTATION_REF_NAME "org.opencontainers.image.ref.name"

/* Bound on every JSON document read (manifest, index, config). */
#define KK_IMAGE_JSON_MAX (8u << 20)

/* ------------------------------------------------------------- references */
/* A normalized image reference: docker.io/library/busybox:latest.
 * `busybox` -> docker.io/library/busybox:latest; index.docker.io ->
 * docker.io; a digest keeps the tag only when one was given. */
struct kk_image_ref {
  char *domain; /* docker.io, ghcr.io, 127.0.0.1:5000 */
  char *path;   /* library/busybox */
  char *tag;    /* "latest" when neither tag nor digest was given; may be NULL */
  char *digest; /* sha256:<64 hex> or NULL */
};
int kk_image_ref_parse(const char *s, struct kk_image_ref *out, kk_err_t *err);
void kk_image_ref_free(struct kk_image_ref *r);
char *kk_image_ref_string(const struct kk_image_ref *r);
/* Parse + string in one step; NULL and *err on error. */
char *kk_image_ref_normalize(const char *s, kk_err_t *err);

/* --------------------------------------------------------------- digests */
/* "sha256:" + 64 lowercase hex; the only algorithm the store accepts. */
bool kk_image_digest_valid(const char *digest);
/* sha256:<hex> of buf.  These two load libcrypto.so.3 on first use and
 * abort with a message if it is missing; the store's own code uses
 * fallible internal versions and reports that as an error instead. */
char *kk_image_digest_of(const void *buf, size_t len);
/* ChainID(L0) = DiffID(L0); ChainID(L0..n) = sha256(ChainID(n-1) + " " + DiffID(n)).
 * Fills out (n entries, owned). */
void kk_image_chain_ids_of(const struct kk_strv *diff_ids, struct kk_strv *out);

/* ------------------------------------------------------ OCI documents */
struct kk_platform {
  char *os;           /* linux */
  char *architecture; /* amd64, arm64, ... (GOARCH) */
  char *variant;      /* v7, v8, or NULL */
  char *os_version;
};
void kk_image_platform_free(struct kk_platform *p);
#define cleanup_image_platform KK_CLEANUP(kk_image_platform_free)
/* The host: os "linux", GOARCH of uname(2)'s machine (+ variant for arm). */
void kk_image_platform_host(struct kk_platform *out);
/* "linux/arm64/v8" or "linux/amd64" -> platform; NULL and *err on error. */
int kk_image_platform_parse(const char *s, struct kk_platform *out, kk_err_t *err);
char *kk_image_platform_string(const struct kk_platform *p);
/* want's os and architecture must equal; a variant in want must equal
 * (arm64 without a variant matches v8). */
bool kk_image_platform_match(const struct kk_platform *want, const struct kk_platform *have);

struct kk_descriptor {
  char *media_type;
  char *digest;
  int64_t size;
  bool has_platform;
  struct kk_platform platform;
  struct kk_map annotations;
  size_t n_urls; /* non-distributable layers carry urls; we never follow them */
};
void kk_image_descriptor_free(struct kk_descriptor *d);

struct kk_image_index {
  char *media_type;
  struct kk_descriptor *manifests;
  size_t n_manifests;
};
struct kk_image_manifest {
  char *media_type;
  struct kk_descriptor config;
  struct kk_descriptor *layers;
  size_t n_layers;
};
/* The parts of an image config a container needs, plus the rootfs. */
struct kk_image_config {
  struct kk_platform platform;
  int64_t created; /* unix seconds; 0 when absent */
  char *user, *working_dir, *stop_signal;
  struct kk_strv env, entrypoint, cmd;
  struct kk_strv exposed_ports, volumes;
  struct kk_map labels;
  struct kk_strv diff_ids;
};

enum kk_manifest_kind { KK_MANIFEST_INDEX = 1, KK_MANIFEST_IMAGE = 2 };
/* Decide from the Content-Type (may be NULL) and the document's mediaType /
 * shape.  Docker schema 1 and unknown types are refused. */
int kk_image_manifest_kind_of(const char *content_type, const char *buf, size_t len, enum kk_manifest_kind *out,
                        kk_err_t *err);
/* Strict parsers: bounded size, duplicate keys refused, digests and sizes
 * validated.  Unknown media types inside an index are kept, not errors. */
int kk_image_index_parse(const char *buf, size_t len, struct kk_image_index *out, kk_err_t *err);
int kk_image_manifest_parse(const char *buf, size_t len, struct kk_image_manifest *out, kk_err_t *err);
int kk_image_config_parse(const char *buf, size_t len, struct kk_image_config *out, kk_err_t *err);
void kk_image_index_free(struct kk_image_index *x);
void kk_image_manifest_free(struct kk_image_manifest *m);
void kk_image_config_free(struct kk_image_config *c);
/* First manifest of the index matching the platform, or NULL. */
const struct kk_descriptor *kk_image_index_select(const struct kk_image_index *x, const struct kk_platform *want);
/* Layer media types we can unpack (OCI tar, +gzip, +zstd, Docker gzip). */
bool kk_image_layer_media_type_ok(const char *mt);

/* ----------------------------------------------------------------- store */
struct kk_image_store;
int kk_image_store_open(const char *run_path, struct kk_image_store **out, kk_err_t *err);
void kk_image_store_close(struct kk_image_store *s);
static inline void kk_image_store_closep(struct kk_image_store **s) {
  if (*s)
    kk_image_store_close(*s);
}
#define cleanup_image_store KK_CLEANUP(kk_image_store_closep)

/* Namespace names: [A-Za-z0-9]+ joined by single . _ -, at most 76
 * characters, not "blobs"/"ingest". */
int kk_image_namespace_validate(const char *ns, kk_err_t *err);
/* Namespaces that have an index (sorted). */
int kk_image_namespaces(struct kk_image_store *s, struct kk_strv *out, kk_err_t *err);

bool kk_image_blob_exists(struct kk_image_store *s, const char *digest);
/* Open a stored blob read-only (fd, O_CLOEXEC). */
int kk_image_blob_open(struct kk_image_store *s, const char *digest, kk_err_t *err);
/* Read a stored blob (at most max bytes) and re-verify its digest. */
int kk_image_blob_read(struct kk_image_store *s, const char *digest, size_t max, char **out, size_t *len,
                       kk_err_t *err);
/* Store bytes; expected may be NULL (then *digest_out tells the digest). */
int kk_image_blob_put(struct kk_image_store *s, const char *expected, const void *buf, size_t len,
                      char **digest_out, kk_err_t *err);

/* One image of a namespace. */
struct kk_image_info {
  char *name;            /* docker.io/library/busybox:latest */
  char *namespace_name;  /* default.kukeon.io */
  char *digest;          /* what the reference resolved to (the index when pulled through one) */
  char *manifest_digest; /* the platform manifest */
  char *media_type;      /* of the manifest */
  char *config_digest;
  char *chain_id;        /* ChainID of the top layer ("" for no layers) */
  int64_t size;          /* manifest + config + layers, as stored (compressed) */
  int64_t created;       /* when it was stored (unix seconds) */
  struct kk_platform platform;
  struct kk_map labels;  /* config labels */
};
void kk_image_info_free(struct kk_image_info *i);
#define cleanup_image_info KK_CLEANUP(kk_image_info_free)
void kk_image_infos_free(struct kk_image_info *v, size_t n);

/* Images of one namespace (ns != NULL) or of all, sorted by namespace, name. */
int kk_image_list(struct kk_image_store *s, const char *ns, struct kk_image_info **out, size_t *n, kk_err_t *err);
/* One image; KK_ERR_NOT_FOUND: `image "<ref>" not found`. */
int kk_image_get(struct kk_image_store *s, const char *ns, const char *ref, struct kk_image_info *out, kk_err_t *err);
int kk_image_config_get(struct kk_image_store *s, const char *ns, const char *ref, struct kk_image_config *out,
                        kk_err_t *err);
/* Point ref at a stored manifest (all its blobs must be present and
 * verified).  index_digest: the index it was chosen from, or NULL. */
int kk_image_tag(struct kk_image_store *s, const char *ns, const char *ref, const char *manifest_digest,
                 const char *index_digest, kk_err_t *err);
/* Remove ref from the namespace, then collect what nothing references. */
int kk_image_delete(struct kk_image_store *s, const char *ns, const char *ref, kk_err_t *err);

struct kk_image_prune_result {
  size_t blobs_removed;
  size_t snapshots_removed;
  size_t snapshots_retained; /* in use by an image or a mounted rootfs */
  size_t leases;             /* rootfs mounts holding snapshots */
  int64_t bytes_freed;
};
/* Remove blobs no namespace references, snapshots no image or rootfs lease
 * uses, and leftovers of interrupted pulls/unpacks. */
int kk_image_prune(struct kk_image_store *s, struct kk_image_prune_result *out, kk_err_t *err);

/* What the store holds (kuke status).  For one namespace: its images and
 * the blobs and unpacked layers (snapshots) they reference that are
 * present, each counted once, blob bytes as stored.  For the whole store
 * (ns NULL): every blob and snapshot on disk, the rootfs leases, and how
 * many blobs and snapshots nothing references (what prune would remove).
 * Read-only; holds the store's gc lock shared while it counts. */
struct kk_image_usage {
  size_t images;
  size_t blobs;
  int64_t blob_bytes;
  size_t snapshots;
  size_t leases;                 /* whole store only */
  size_t unreferenced_blobs;     /* whole store only */
  size_t unreferenced_snapshots; /* whole store only */
};
int kk_image_usage(struct kk_image_store *s, const char *ns, struct kk_image_usage *out, kk_err_t *err);

/* ------------------------------------------------------------------ load */
struct kk_image_load_opts {
  /* Name for manifests the archive leaves unnamed; when the archive names
   * only a tag (umoci's "latest"), the tag goes on this repository.  Without
   * it, such a manifest is skipped, and a load that names nothing else is
   * refused (KK_ERR_INVALID) instead of guessing a name. */
  const char *name;
  const struct kk_platform *platform; /* NULL = host */
  /* Streams (kk_image_load_fd): when *cancel_fd is readable, hung up or in
   * error (the connection of a client that left), reading stops with an
   * error.  NULL: read until the stream ends. */
  const int *cancel_fd;
};
struct kk_image_load_result {
  struct kk_strv refs;    /* loaded, normalized */
  struct kk_strv skipped; /* "<what>: <why>" */
  char *bare_tag;         /* the first ref that was only a tag, loaded without a name */
};
void kk_image_load_result_free(struct kk_image_load_result *r);
#define cleanup_image_load_result KK_CLEANUP(kk_image_load_result_free)
/* OCI archives (tar, optionally gzip/zstd), OCI layout directories and
 * docker-archive tarballs (`docker save`, `podman save`).  path "-" = stdin. */
int kk_image_load(struct kk_image_store *s, const char *ns, const char *path, const struct kk_image_load_opts *opts,
                  struct kk_image_load_result *out, kk_err_t *err);
int kk_image_load_fd(struct kk_image_store *s, const char *ns, int fd, const struct kk_image_load_opts *opts,
                     struct kk_image_load_result *out, kk_err_t *err);
/* An OCI layout directory already open (dfd); what names it in messages. */
int kk_image_load_dirfd(struct kk_image_store *s, const char *ns, int dfd, const char *what,
                        const struct kk_image_load_opts *opts, struct kk_image_load_result *out, kk_err_t *err);

/* ------------------------------------------------------------------ pull */
struct kk_registry_cred {
  const char *username, *password;
  const char *server; /* registry host ("ghcr.io"); NULL/"" = any */
};
struct kk_pull_progress {
  const char *ref;
  int64_t done, total; /* bytes of blobs */
  size_t blobs_done, blobs_total;
};
/* Called from the pulling threads, one call at a time. */
typedef void (*kk_pull_progress_fn)(void *arg, const struct kk_pull_progress *p);
struct kk_pull_opts {
  const struct kk_registry_cred *creds;
  size_t n_creds;
  bool insecure;                      /* TLS without verification, then plain HTTP */
  const struct kk_platform *platform; /* NULL = host */
  int max_retries;                    /* per request; 0 = 4, <0 = none */
  int retry_delay_ms;                 /* first backoff; 0 = 200 */
  int parallel;                       /* concurrent blob downloads; 0 = 4 */
  const char *ca_file;                /* extra CA bundle, optional */
  kk_pull_progress_fn progress;
  void *progress_arg;
};
/* Registry v2 pull into the namespace; *out (may be NULL) describes it. */
int kk_image_pull(struct kk_image_store *s, const char *ns, const char *ref, const struct kk_pull_opts *opts,
                  struct kk_image_info *out, kk_err_t *err);
/* Present, or pulled now (refs under kukeon.internal/ are never pulled). */
int kk_image_ensure(struct kk_image_store *s, const char *ns, const char *ref, const struct kk_pull_opts *opts,
                    kk_err_t *err);

/* ---------------------------------------------------------------- unpack */
enum kk_unpack_devices {
  KK_UNPACK_DEVICES_AUTO = 0, /* create when running as root, refuse otherwise */
  KK_UNPACK_DEVICES_CREATE,
  KK_UNPACK_DEVICES_SKIP,
  KK_UNPACK_DEVICES_REFUSE,
};
struct kk_unpack_opts {
  enum kk_unpack_devices devices;
  uint64_t max_entries; /* 0 = 1 Mi entries per layer */
  uint64_t max_bytes;   /* expanded bytes per layer; 0 = 64 GiB */
  /* syncfs before snapshots are published.  Off by default: snapshots are
   * derived from verified blobs, so one that was never synced and comes
   * from an earlier boot (a crash may have torn it) is rebuilt instead. */
  bool sync;
};
struct kk_unpack_stats {
  uint64_t entries, bytes;
  uint64_t devices_skipped;
};
/* Apply one layer read from fd (tar, gzip or zstd by magic) into the empty
 * directory rootfd in overlay diff form.  lowerfds are the snapshots below,
 * topmost first: implicit parent directories take their attributes from
 * there, hardlinks into them are copied up, and a path through a symlink
 * anywhere is refused.  digest / diff_id (may be NULL) are checked against
 * the compressed and uncompressed streams.  Nothing is ever created outside
 * rootfd; on error the caller discards the directory. */
int kk_image_unpack_layer(int rootfd, const int *lowerfds, size_t n_lowers, int fd, const char *digest,
                    const char *diff_id, const struct kk_unpack_opts *opts, struct kk_unpack_stats *stats,
                    kk_err_t *err);
/* A tar entry name as a clean relative path ("" for the root): "./" and
 * "//" dropped; absolute paths, ".." components, empty or over-long names
 * refused. */
int kk_image_unpack_clean_path(const char *name, char **out, kk_err_t *err);

/* ------------------------------------------------------ snapshots, rootfs */
/* Unpack every layer of ref that has no snapshot yet (each once, keyed by
 * chain ID, published atomically).  chain_ids (may be NULL) gets the
 * chain, bottom first. */
int kk_image_prepare(struct kk_image_store *s, const char *ns, const char *ref, const struct kk_unpack_opts *opts,
                     struct kk_strv *chain_ids, kk_err_t *err);
struct kk_rootfs_opts {
  bool force_copy; /* skip overlay; copy the snapshots into target */
  const struct kk_unpack_opts *unpack;
};
/* Mount ref's rootfs on target: overlay of the snapshots (top layer first
 * in lowerdir) with upper/work as the container's writable layer, or, when
 * overlay is unavailable, a copy of the merged snapshots into target.
 * Records a lease so prune keeps the snapshots. */
int kk_image_rootfs_mount(struct kk_image_store *s, const char *ns, const char *ref, const char *target,
                          const char *upper, const char *work, const struct kk_rootfs_opts *opts, kk_err_t *err);
/* Undo: unmount (or empty a copied target) and drop the lease.  A target
 * with no lease is left alone (not an error). */
int kk_image_rootfs_unmount(struct kk_image_store *s, const char *target, kk_err_t *err);
/* "overlay", "copy", or NULL when target has no lease. */
char *kk_image_rootfs_mode(struct kk_image_store *s, const char *target);

/* ---------------------------------------------------- realm pull settings */
/* What a realm says about pulls into its namespace.
 *   credentials: spec.registryCredentials.  An entry whose serverAddress
 *     names the image's registry wins; one with serverAddress "" matches
 *     the registry of any image.  Credentials already in opts (given on
 *     the command line) are kept and the realm's are not added.
 *   insecure: when the image's registry is in spec.insecureRegistries
 *     (kukeon extension; "host" matches any port, "host:port" that port),
 *     opts->insecure is set: plain HTTP and TLS without verification.
 *     Otherwise opts->insecure is left as it was.
 * The credential strings point into realm_doc and *creds (free() it) holds
 * the array opts now points at: both must outlive opts.  realm_doc NULL
 * (no such realm) changes nothing.  An insecureRegistries entry that is not
 * host[:port] is an error. */
struct kk_doc;
int kk_image_pull_opts_for_realm(const struct kk_doc *realm_doc, const char *ref, struct kk_pull_opts *opts,
                                 struct kk_registry_cred **creds, kk_err_t *err);
/* domain (as in a reference: "127.0.0.1:5000", "docker.io") is listed in
 * hosts (insecureRegistries entries); docker.io's aliases are one host. */
bool kk_image_registry_listed(const struct kk_strv *hosts, const char *domain);

#endif

/* Private to cgroupfs/: the helpers its .c files share.
 *
 * Calls go down this list, never up:
 *   file.c    read, write and parse interface files; sleep   (the leaf)
 *   detect.c  mode, mounts, the host handle, kk_cg_require_v2
 *   path.c    names and paths, the ownership marker, open
 *   procs.c   membership, freeze, kill
 *   tree.c    ensure, children, removal
 *   leaf.c    a process leaf below a cell in every hierarchy (v1 too)
 *   limits.c, stats.c   limits and their report; stats
 *   doctor.c  the `kuke doctor` report */
#ifndef KK_CGROUPFS_INTERNAL_H
#define KK_CGROUPFS_INTERNAL_H

#include "cgroupfs/cgroupfs.h"

/* Interface files are small; cgroup.procs of a big cgroup is not. */
#define KK_CG_FILE_MAX (64 * 1024)
#define KK_CG_PROCS_MAX (8 * 1024 * 1024)

/* ---- file.c */

/* Read an interface file of dirfd (NUL-terminated, trailing newline kept). */
int kk_cg_read_at(int dirfd, const char *file, size_t max, char **out, kk_err_t *err);
/* Read a keyed file ("populated 1\n...") of dirfd and the value of `key`. */
int kk_cg_read_keyed_at(int dirfd, const char *file, const char *key, int64_t *out,
                        kk_err_t *err);
/* Write one value in a single write(2) (what the kernel expects).  On error
 * errno is preserved in (*err)->errnum.  Fake trees create the file. */
int kk_cg_write_at(const struct kk_cg_host *h, int dirfd, const char *file, const char *value,
                   kk_err_t *err);
/* Sleep ms milliseconds. */
void kk_cg_sleep_ms(long ms);

/* ---- detect.c */

int kk_cg_require_v2(const struct kk_cg_host *h, kk_err_t *err);

/* ---- path.c */

/* Split a normalized root and a rel path into components (validated). */
int kk_cg_split_path(const char *root, const char *rel, struct kk_strv *root_parts,
                     struct kk_strv *rel_parts, char **norm_root, kk_err_t *err);
/* Depth of rel ("" -> 0, "a" -> 1, "a/b/c/d" -> 4). */
size_t kk_cg_rel_depth(const char *rel);

bool kk_cg_is_owned(const struct kk_cg_host *h, int dirfd);
int kk_cg_mark_owned(const struct kk_cg_host *h, int dirfd, kk_err_t *err);
/* The refusal for a cgroup kukeon did not create (KK_ERR_PERMISSION). */
int kk_cg_not_ours(const struct kk_cg_host *h, const char *root, const char *rel, kk_err_t *err);

/* openat a child cgroup directory (O_DIRECTORY|O_NOFOLLOW|O_CLOEXEC). */
int kk_cg_open_sub(int dirfd, const char *name);
/* Open root/rel (O_DIRECTORY|O_NOFOLLOW walk from the mount fd).  ENOENT ->
 * KK_ERR_NOT_FOUND.  Fails on legacy hosts. */
int kk_cg_open(const struct kk_cg_host *h, const char *root, const char *rel, kk_err_t *err);
/* Same, but require the kukeon marker on root/rel when its depth is <= 4. */
int kk_cg_open_owned(const struct kk_cg_host *h, const char *root, const char *rel, kk_err_t *err);

#endif

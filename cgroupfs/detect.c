/* cgroup mode detection: statfs magic like crun (src/libcrun/cgroup-utils.c),
 * the cgroup mounts from /proc/self/mountinfo, the host handle. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "cgroupfs/internal.h"
#include "lib/fs.h"
#include "lib/util.h"

const char *kk_cg_mode_name(enum kk_cg_mode mode) {
  switch (mode) {
  case KK_CG_MODE_UNIFIED:
    return "unified";
  case KK_CG_MODE_HYBRID:
    return "hybrid";
  case KK_CG_MODE_LEGACY:
    return "legacy";
  default:
    return "unknown";
  }
}

enum kk_cg_mode kk_cg_classify(unsigned long base_magic, bool unified_is_cgroup2) {
  if (base_magic == KK_CG_CGROUP2_MAGIC)
    return KK_CG_MODE_UNIFIED;
  if (base_magic != KK_CG_TMPFS_MAGIC)
    return KK_CG_MODE_UNKNOWN;
  return unified_is_cgroup2 ? KK_CG_MODE_HYBRID : KK_CG_MODE_LEGACY;
}

int kk_cg_require_v2(const struct kk_cg_host *h, kk_err_t *err) {
  if (h == NULL || h->mount_fd < 0)
    return kk_error_kind(err, KK_ERR_UNAVAILABLE, 0,
                         "no cgroup2 hierarchy on this host (mode %s): kukeon needs cgroup v2 "
                         "(unified, or hybrid with cgroup2 at /sys/fs/cgroup/unified)",
                         kk_cg_mode_name(h ? h->mode : KK_CG_MODE_UNKNOWN));
  return 0;
}

/* ---------------------------------------------------------------- mountinfo */

/* mountinfo escapes ' ', '\t', '\n' and '\\' as \ooo. */
static char *unescape_octal(const char *s, size_t n) {
  char *out = kk_xmalloc(n + 1), *o = out;
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '\\' && i + 3 < n && s[i + 1] >= '0' && s[i + 1] <= '3' && s[i + 2] >= '0' &&
        s[i + 2] <= '7' && s[i + 3] >= '0' && s[i + 3] <= '7') {
      *o++ = (char)(((s[i + 1] - '0') << 6) | ((s[i + 2] - '0') << 3) | (s[i + 3] - '0'));
      i += 3;
    } else {
      *o++ = s[i];
    }
  }
  *o = '\0';
  return out;
}

static const char *const v1_controllers[] = {
    "cpu",     "cpuacct", "cpuset", "memory", "devices", "freezer", "net_cls",
    "net_prio", "blkio",  "perf_event", "hugetlb", "pids", "rdma", "misc",
};

static void v1_controllers_of(const char *super_opts, struct kk_strv *out) {
  cleanup_free char *copy = kk_xstrdup(super_opts);
  char *save = NULL;
  for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    bool keep = kk_has_prefix(tok, "name=");
    for (size_t i = 0; !keep && i < KK_ARRAY_SIZE(v1_controllers); i++)
      keep = strcmp(tok, v1_controllers[i]) == 0;
    if (keep)
      kk_strv_push(out, tok);
  }
}

void kk_cg_mounts_free(struct kk_cg_mounts *m) {
  if (m == NULL)
    return;
  for (size_t i = 0; i < m->n; i++) {
    free(m->v[i].mountpoint);
    free(m->v[i].root);
    free(m->v[i].fstype);
    free(m->v[i].super_opts);
    kk_strv_free(&m->v[i].controllers);
  }
  free(m->v);
  m->v = NULL;
  m->n = 0;
}

/* Split one line into fields on single spaces (mountinfo has no runs). */
#define MI_MAX_FIELDS 64
static size_t split_fields(char *line, char **f, size_t max) {
  size_t n = 0;
  char *p = line;
  while (*p && n < max) {
    while (*p == ' ')
      p++;
    if (!*p)
      break;
    f[n++] = p;
    while (*p && *p != ' ')
      p++;
    if (*p)
      *p++ = '\0';
  }
  return n;
}

int kk_cg_parse_mountinfo(const char *text, struct kk_cg_mounts *out, kk_err_t *err) {
  struct kk_cg_mounts res = {0};
  cleanup_free char *copy = kk_xstrdup(text);
  size_t lineno = 0;
  /* Split lines by hand (strtok_r would hide empty lines from the count). */
  char *p = copy;
  while (p && *p) {
    char *nl = strchr(p, '\n');
    if (nl)
      *nl = '\0';
    lineno++;
    char *line = p;
    p = nl ? nl + 1 : NULL;
    if (*line == '\0')
      continue;
    char *f[MI_MAX_FIELDS];
    size_t nf = split_fields(line, f, MI_MAX_FIELDS);
    size_t sep = 0;
    for (size_t i = 6; i < nf; i++)
      if (strcmp(f[i], "-") == 0) {
        sep = i;
        break;
      }
    if (nf < 10 || sep == 0 || sep + 3 > nf) {
      kk_cg_mounts_free(&res);
      return kk_error_kind(err, KK_ERR_INVALID, 0, "mountinfo line %zu: malformed", lineno);
    }
    const char *fstype = f[sep + 1];
    if (strcmp(fstype, "cgroup2") != 0 && strcmp(fstype, "cgroup") != 0)
      continue;
    res.v = kk_xrealloc(res.v, (res.n + 1) * sizeof(*res.v));
    struct kk_cg_mount *m = &res.v[res.n++];
    memset(m, 0, sizeof(*m));
    m->root = unescape_octal(f[3], strlen(f[3]));
    m->mountpoint = unescape_octal(f[4], strlen(f[4]));
    m->fstype = kk_xstrdup(fstype);
    m->super_opts = kk_xstrdup(f[sep + 3]);
    if (strcmp(fstype, "cgroup") == 0)
      v1_controllers_of(m->super_opts, &m->controllers);
  }
  *out = res;
  return 0;
}

const struct kk_cg_mount *kk_cg_mounts_find_v1(const struct kk_cg_mounts *m, const char *controller) {
  for (size_t i = 0; i < m->n; i++)
    if (strcmp(m->v[i].fstype, "cgroup") == 0 && kk_strv_contains(&m->v[i].controllers, controller))
      return &m->v[i];
  return NULL;
}

const struct kk_cg_mount *kk_cg_mounts_find_v2(const struct kk_cg_mounts *m, const char *mountpoint) {
  for (size_t i = 0; i < m->n; i++)
    if (strcmp(m->v[i].fstype, "cgroup2") == 0 && strcmp(m->v[i].mountpoint, mountpoint) == 0)
      return &m->v[i];
  return NULL;
}

/* ---------------------------------------------------------------- host */

void kk_cg_host_free(struct kk_cg_host *h) {
  if (h == NULL)
    return;
  if (h->mount_fd >= 0)
    close(h->mount_fd);
  free(h->base);
  free(h->mountpoint);
  kk_strv_free(&h->controllers);
  kk_strv_free(&h->notes);
  kk_cg_mounts_free(&h->mounts);
  free(h);
}

static struct kk_cg_host *host_new(void) {
  struct kk_cg_host *h = kk_xzalloc(sizeof(*h));
  h->mount_fd = -1;
  h->xattr = "trusted.kukeon";
  return h;
}

static int read_root_controllers(struct kk_cg_host *h, kk_err_t *err) {
  cleanup_free char *text = NULL;
  if (kk_cg_read_at(h->mount_fd, "cgroup.controllers", KK_CG_FILE_MAX, &text, err) < 0)
    return kk_error_wrap(err, "cgroup2 mount %s", h->mountpoint);
  kk_cg_parse_controllers(text, &h->controllers);
  return 0;
}

int kk_cg_detect(const struct kk_cg_detect_opts *opts, struct kk_cg_host **out, kk_err_t *err) {
  const char *base = opts && opts->base ? opts->base : KK_CG_DEFAULT_BASE;
  const char *mi_path = opts && opts->mountinfo ? opts->mountinfo : "/proc/self/mountinfo";
  struct kk_cg_host *h cleanup_cg_host = host_new();
  h->base = kk_xstrdup(base);

  struct statfs st;
  if (statfs(base, &st) < 0)
    return kk_error_kind(err, KK_ERR_UNAVAILABLE, errno, "cgroup detection: statfs %s", base);
  unsigned long base_magic = (unsigned long)st.f_type;
  cleanup_free char *unified = kk_asprintf("%s/unified", base);
  bool unified_v2 = false;
  if (base_magic == KK_CG_TMPFS_MAGIC) {
    if (statfs(unified, &st) == 0)
      unified_v2 = (unsigned long)st.f_type == KK_CG_CGROUP2_MAGIC;
    else if (errno != ENOENT)
      return kk_error_kind(err, KK_ERR_UNAVAILABLE, errno, "cgroup detection: statfs %s", unified);
  }
  h->mode = kk_cg_classify(base_magic, unified_v2);
  if (h->mode == KK_CG_MODE_UNKNOWN)
    return kk_error_kind(err, KK_ERR_UNAVAILABLE, 0,
                         "cgroup detection: %s is neither cgroup2 nor a tmpfs of cgroup "
                         "hierarchies (f_type 0x%lx)",
                         base, base_magic);

  cleanup_free char *mi = NULL;
  if (kk_read_file_at(AT_FDCWD, mi_path, 16 * 1024 * 1024, &mi, NULL, err) < 0)
    return kk_error_wrap(err, "cgroup detection");
  if (kk_cg_parse_mountinfo(mi, &h->mounts, err) < 0)
    return kk_error_wrap(err, "cgroup detection: %s", mi_path);

  if (h->mode == KK_CG_MODE_LEGACY) {
    for (size_t i = 0; i < h->mounts.n; i++)
      if (strcmp(h->mounts.v[i].fstype, "cgroup2") == 0)
        kk_strv_push_owned(&h->notes,
                           kk_asprintf("a cgroup2 mount exists at %s, but not at %s or %s: "
                                       "kukeon uses only those two places",
                                       h->mounts.v[i].mountpoint, base, unified));
    *out = kk_steal(&h);
    return 0;
  }

  h->mountpoint = kk_xstrdup(h->mode == KK_CG_MODE_UNIFIED ? base : unified);
  const struct kk_cg_mount *m = kk_cg_mounts_find_v2(&h->mounts, h->mountpoint);
  if (m == NULL)
    kk_strv_push_owned(&h->notes, kk_asprintf("%s is cgroup2 by statfs but is not listed as a "
                                              "cgroup2 mount in %s",
                                              h->mountpoint, mi_path));
  else if (strcmp(m->root, "/") != 0)
    kk_strv_push_owned(&h->notes, kk_asprintf("the cgroup2 mount at %s shows the subtree %s "
                                              "(a cgroup namespace or bind mount)",
                                              h->mountpoint, m->root));

  h->mount_fd = open(h->mountpoint, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (h->mount_fd < 0)
    return kk_error_kind(err, KK_ERR_UNAVAILABLE, errno, "open cgroup2 mount %s", h->mountpoint);
  /* Check the fd we will use, not the path we looked at. */
  if (fstatfs(h->mount_fd, &st) < 0)
    return kk_error(err, errno, "fstatfs %s", h->mountpoint);
  if ((unsigned long)st.f_type != KK_CG_CGROUP2_MAGIC)
    return kk_error_kind(err, KK_ERR_UNAVAILABLE, 0, "%s is no longer a cgroup2 mount",
                         h->mountpoint);
  if (read_root_controllers(h, err) < 0)
    return -1;
  *out = kk_steal(&h);
  return 0;
}

int kk_cg_host_open_fake(const char *dir, enum kk_cg_mode mode, struct kk_cg_host **out,
                         kk_err_t *err) {
  struct kk_cg_host *h cleanup_cg_host = host_new();
  h->fake = true;
  h->xattr = "user.kukeon";
  h->mode = mode;
  h->base = kk_xstrdup(dir);
  if (mode == KK_CG_MODE_LEGACY) {
    *out = kk_steal(&h);
    return 0;
  }
  h->mountpoint = kk_xstrdup(dir);
  h->mount_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (h->mount_fd < 0)
    return kk_error(err, errno, "open fake cgroup tree %s", dir);
  if (kk_exists_at(h->mount_fd, "cgroup.controllers") && read_root_controllers(h, err) < 0)
    return -1;
  *out = kk_steal(&h);
  return 0;
}

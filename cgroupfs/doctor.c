/* `kuke doctor` cgroups report: mode, mount, controllers (available and
 * delegated), the kukeon root, what will and will not be enforced. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cgroupfs/internal.h"
#include "lib/fs.h"
#include "lib/util.h"

void kk_cg_checks_free(struct kk_cg_checks *c) {
  if (c == NULL)
    return;
  for (size_t i = 0; i < c->n; i++) {
    free(c->v[i].name);
    free(c->v[i].detail);
    free(c->v[i].hint);
  }
  free(c->v);
  c->v = NULL;
  c->n = 0;
}

/* Takes ownership of detail and hint. */
static void add(struct kk_cg_checks *c, enum kk_cg_check_status st, const char *name, char *detail,
                char *hint) {
  c->v = kk_xrealloc(c->v, (c->n + 1) * sizeof(*c->v));
  c->v[c->n++] = (struct kk_cg_check){st, kk_xstrdup(name), detail, hint};
}

/* What each controller enforces, by level. */
static const struct {
  const char *ctrl, *v1, *levels, *containers;
} enforce[] = {
    {"cpu", "cpu", "cpuWeight, cpuMaxQuotaMicros/cpuMaxPeriodMicros", "cpuShares"},
    {"memory", "memory", "memoryMaxBytes, memoryHighBytes", "memoryLimitBytes"},
    {"io", "blkio", "ioWeight", NULL},
    {"pids", "pids", "pidsMax", "pidsLimit"},
};

/* The cgroups from the mount root down to the kukeon root that exist. */
struct link {
  int fd;
  char *path;  /* host path */
  bool owned;
  bool is_mount_root;
};
struct chain {
  struct link v[64];
  size_t n;
  bool root_exists;
};

static void chain_free(struct chain *c) {
  for (size_t i = 0; i < c->n; i++) {
    close(c->v[i].fd);
    free(c->v[i].path);
  }
  c->n = 0;
}

static void chain_build(const struct kk_cg_host *h, const struct kk_strv *rp, struct chain *c) {
  memset(c, 0, sizeof(*c));
  int fd = fcntl(h->mount_fd, F_DUPFD_CLOEXEC, 0);
  if (fd < 0)
    return;
  c->v[c->n++] = (struct link){fd, kk_xstrdup(h->mountpoint), false, true};
  for (size_t i = 0; i < rp->n && c->n < KK_ARRAY_SIZE(c->v); i++) {
    int next = openat(c->v[c->n - 1].fd, rp->v[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (next < 0)
      return;
    char *path = kk_asprintf("%s/%s", c->v[c->n - 1].path, rp->v[i]);
    c->v[c->n++] = (struct link){next, path, kk_cg_is_owned(h, next), false};
  }
  c->root_exists = c->n == rp->n + 1;
}

static bool file_has(int fd, const char *file, const char *ctrl) {
  cleanup_free char *text = NULL;
  kk_err_t e = NULL;
  if (kk_cg_read_at(fd, file, KK_CG_FILE_MAX, &text, &e) < 0) {
    kk_error_free(&e);
    return false;
  }
  struct kk_strv sv = {0};
  kk_cg_parse_controllers(text, &sv);
  bool has = kk_strv_contains(&sv, ctrl);
  kk_strv_free(&sv);
  return has;
}

static char *file_words(int fd, const char *file) {
  cleanup_free char *text = NULL;
  kk_err_t e = NULL;
  if (kk_cg_read_at(fd, file, KK_CG_FILE_MAX, &text, &e) < 0) {
    kk_error_free(&e);
    return kk_xstrdup("(unreadable)");
  }
  struct kk_strv sv = {0};
  kk_cg_parse_controllers(text, &sv);
  char *s = sv.n ? kk_strv_join(&sv, " ") : kk_xstrdup("(none)");
  kk_strv_free(&sv);
  return s;
}

static const char *probe_class(int errnum) {
  switch (errnum) {
  case EBUSY:
    return "internal-process: the cgroup holds processes itself (no-internal-process rule)";
  case EOPNOTSUPP:
    return "not-delegated: threaded subtree or a cgroup-namespace boundary";
  case ENOENT:
    return "kernel-missing: the parent does not offer it";
  case EACCES:
  case EPERM:
  case EROFS:
    return "permission denied (not root, or a read-only cgroup mount)";
  default:
    return "the kernel refused it";
  }
}

/* One wanted controller on a host whose cgroup2 hierarchy offers it. */
static void check_v2_controller(const struct kk_cg_host *h, struct chain *ch, const char *ctrl,
                                const char *what, bool probe, struct kk_cg_checks *out,
                                bool *enforced) {
  cleanup_free char *name = kk_asprintf("cgroups/controller/%s", ctrl);
  size_t first_missing = ch->n;
  for (size_t i = 0; i < ch->n; i++)
    if (!file_has(ch->v[i].fd, "cgroup.subtree_control", ctrl)) {
      first_missing = i;
      break;
    }
  if (first_missing == ch->n) {
    *enforced = true;
    add(out, KK_CG_PASS, name,
        kk_asprintf("enabled: delegated down to %s (%s)", ch->v[ch->n - 1].path, what), NULL);
    return;
  }
  struct link *x = &ch->v[first_missing];
  if (!probe) {
    /* kukeon adds it itself where it may: the mount root (exempt from the
     * no-internal-process rule) and its own cgroups. */
    bool self_fixable = true;
    for (size_t i = first_missing; i < ch->n; i++)
      if (!ch->v[i].is_mount_root && !ch->v[i].owned)
        self_fixable = false;
    if (self_fixable) {
      *enforced = true;
      add(out, KK_CG_PASS, name,
          kk_asprintf("available: kukeon enables it in %s/cgroup.subtree_control when it creates "
                      "its tree (%s)",
                      x->path, what),
          NULL);
      return;
    }
    add(out, KK_CG_WARN, name,
        kk_asprintf("needs-delegation: %s/cgroup.subtree_control lacks %s; kukeon will try to add "
                    "it, which fails if that cgroup holds processes (%s)",
                    x->path, ctrl, what),
        kk_asprintf("echo +%s | sudo tee %s/cgroup.subtree_control", ctrl, x->path));
    return;
  }
  for (size_t i = first_missing; i < ch->n; i++) {
    cleanup_free char *plus = kk_asprintf("+%s", ctrl);
    kk_err_t e = NULL;
    if (file_has(ch->v[i].fd, "cgroup.subtree_control", ctrl))
      continue;
    if (kk_cg_write_at(h, ch->v[i].fd, "cgroup.subtree_control", plus, &e) < 0) {
      int errnum = e->errnum;
      kk_error_free(&e);
      add(out, KK_CG_FAIL, name,
          kk_asprintf("%s: cannot enable it in %s/cgroup.subtree_control: %s — %s not enforced",
                      probe_class(errnum), ch->v[i].path, strerror(errnum), what),
          errnum == EBUSY
              ? kk_asprintf("move the processes of %s into a child cgroup, then echo +%s > "
                            "%s/cgroup.subtree_control",
                            ch->v[i].path, ctrl, ch->v[i].path)
              : kk_asprintf("delegate %s to %s (echo +%s > %s/cgroup.subtree_control)", ctrl,
                            ch->v[i].path, ctrl, ch->v[i].path));
      return;
    }
  }
  *enforced = true;
  add(out, KK_CG_PASS, name,
      kk_asprintf("enabled by the probe from %s down (%s)", x->path, what), NULL);
}

static void check_membership(const struct kk_cg_host *h, struct chain *ch, bool probe,
                             struct kk_cg_checks *out) {
  /* cgroup.kill / cgroup.freeze exist only in non-root cgroups. */
  int fd = -1;
  cleanup_free char *tmpname = NULL;
  int tmp_parent = -1;
  if (ch->n > 1)
    fd = ch->v[ch->n - 1].fd;
  else if (probe && !h->fake) {
    tmp_parent = ch->v[0].fd;
    tmpname = kk_asprintf("kukeon-doctor-%d", (int)getpid());
    if (mkdirat(tmp_parent, tmpname, 0755) == 0)
      fd = openat(tmp_parent, tmpname, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  }
  if (fd < 0) {
    add(out, KK_CG_PASS, "cgroups/membership",
        kk_xstrdup("cgroup.procs in the cgroup2 hierarchy (kill/freeze support is checked once "
                   "the kukeon root exists, or with --probe)"),
        NULL);
  } else {
    bool kill = kk_exists_at(fd, "cgroup.kill"), freeze = kk_exists_at(fd, "cgroup.freeze"),
         events = kk_exists_at(fd, "cgroup.events");
    if (kill && freeze && events)
      add(out, KK_CG_PASS, "cgroups/membership",
          kk_xstrdup("cgroup.procs, cgroup.kill, cgroup.freeze and cgroup.events available"), NULL);
    else
      add(out, KK_CG_WARN, "cgroups/membership",
          kk_asprintf("missing:%s%s%s (kernel older than 5.14?)", kill ? "" : " cgroup.kill",
                      freeze ? "" : " cgroup.freeze", events ? "" : " cgroup.events"),
          kk_xstrdup(kill ? "pause/kill fall back to per-process signals"
                          : "kill falls back to freeze + per-process SIGKILL"));
  }
  if (tmpname != NULL) {
    if (fd >= 0)
      close(fd);
    unlinkat(tmp_parent, tmpname, AT_REMOVEDIR);
  }
}

static void lim_add(char *buf, size_t size, size_t *o, const char *label, int64_t v) {
  if (v == KK_CG_UNSET || *o >= size)
    return;
  if (v == KK_CG_MAX)
    *o += (size_t)snprintf(buf + *o, size - *o, " %s=max", label);
  else
    *o += (size_t)snprintf(buf + *o, size - *o, " %s=%" PRId64, label, v);
}

int kk_cg_doctor_run(const struct kk_cg_doctor_opts *opts, struct kk_cg_checks *out, kk_err_t *err) {
  struct kk_cg_doctor_opts dflt = {0};
  if (opts == NULL)
    opts = &dflt;
  memset(out, 0, sizeof(*out));
  struct kk_cg_host *owned_host cleanup_cg_host = NULL;
  const struct kk_cg_host *h = opts->host;
  if (h == NULL) {
    kk_err_t e = NULL;
    if (kk_cg_detect(&opts->detect, &owned_host, &e) < 0) {
      add(out, KK_CG_FAIL, "cgroups/mode", kk_xstrdup(e->msg),
          kk_xstrdup("kukeon needs cgroup2: unified at /sys/fs/cgroup, or hybrid with cgroup2 "
                     "at /sys/fs/cgroup/unified"));
      kk_error_free(&e);
      return 0;
    }
    h = owned_host;
  }

  /* Mode and mount. */
  switch (h->mode) {
  case KK_CG_MODE_UNIFIED:
    add(out, KK_CG_PASS, "cgroups/mode", kk_asprintf("unified (cgroup v2 at %s)", h->mountpoint),
        NULL);
    break;
  case KK_CG_MODE_HYBRID:
    add(out, KK_CG_WARN, "cgroups/mode",
        kk_asprintf("hybrid (cgroup v1 controllers under %s, cgroup2 at %s): the kukeon tree "
                    "lives in cgroup2 for membership, kill, freeze and events; limits on realms, "
                    "spaces, stacks and cells are not enforced; container limits are, by runc "
                    "through cgroup v1",
                    h->base, h->mountpoint),
        kk_xstrdup("for limits at every level boot with systemd.unified_cgroup_hierarchy=1 "
                   "(a unified cgroup v2 host)"));
    break;
  default:
    add(out, KK_CG_FAIL, "cgroups/mode",
        kk_asprintf("%s: no cgroup2 hierarchy at %s or %s/unified", kk_cg_mode_name(h->mode),
                    h->base, h->base),
        kk_xstrdup("kukeon needs cgroup2: boot with systemd.unified_cgroup_hierarchy=1, or mount "
                   "cgroup2 at /sys/fs/cgroup/unified"));
    for (size_t i = 0; i < h->notes.n; i++)
      add(out, KK_CG_WARN, "cgroups/mount", kk_xstrdup(h->notes.v[i]), NULL);
    return 0;
  }
  const struct kk_cg_mount *m = kk_cg_mounts_find_v2(&h->mounts, h->mountpoint);
  if (m)
    add(out, KK_CG_PASS, "cgroups/mount",
        kk_asprintf("cgroup2 mounted at %s (%s, subtree %s)", h->mountpoint, m->super_opts, m->root),
        NULL);
  else
    add(out, KK_CG_PASS, "cgroups/mount", kk_asprintf("cgroup2 at %s (statfs)", h->mountpoint),
        NULL);
  for (size_t i = 0; i < h->notes.n; i++)
    add(out, KK_CG_WARN, "cgroups/mount", kk_xstrdup(h->notes.v[i]), NULL);

  /* Available controllers. */
  {
    cleanup_free char *v2 = h->controllers.n ? kk_strv_join(&h->controllers, " ") : kk_xstrdup("(none)");
    struct kk_strv v1 = {0};
    for (size_t i = 0; i < h->mounts.n; i++)
      if (strcmp(h->mounts.v[i].fstype, "cgroup") == 0)
        for (size_t j = 0; j < h->mounts.v[i].controllers.n; j++)
          if (!kk_has_prefix(h->mounts.v[i].controllers.v[j], "name="))
            kk_strv_push(&v1, h->mounts.v[i].controllers.v[j]);
    kk_strv_sort(&v1);
    if (v1.n) {
      cleanup_free char *v1s = kk_strv_join(&v1, " ");
      add(out, KK_CG_PASS, "cgroups/controllers",
          kk_asprintf("cgroup2: %s; cgroup v1 hierarchies: %s", v2, v1s), NULL);
    } else {
      add(out, KK_CG_PASS, "cgroups/controllers", kk_asprintf("cgroup2: %s", v2), NULL);
    }
    kk_strv_free(&v1);
  }

  /* The kukeon root. */
  const char *root = opts->root ? opts->root : KK_CG_DEFAULT_ROOT;
  struct kk_strv rp = {0};
  cleanup_free char *nr = NULL;
  kk_err_t e = NULL;
  if (kk_cg_split_path(root, NULL, &rp, NULL, &nr, &e) < 0) {
    add(out, KK_CG_FAIL, "cgroups/root", kk_xstrdup(e->msg), kk_xstrdup("fix --cgroup-root"));
    kk_error_free(&e);
    kk_strv_free(&rp);
    return 0;
  }
  struct chain ch;
  chain_build(h, &rp, &ch);
  cleanup_free char *root_path = kk_asprintf("%s%s", h->mountpoint, nr);
  bool root_ok = true;
  if (ch.root_exists && !ch.v[ch.n - 1].owned) {
    root_ok = false;
    add(out, KK_CG_FAIL, "cgroups/root",
        kk_asprintf("%s exists but was not created by kukeon (no %s marker): kukeon will not use it",
                    root_path, h->xattr),
        kk_asprintf("remove it (rmdir %s) or choose another --cgroup-root", root_path));
  } else if (ch.root_exists) {
    struct kk_strv realms = {0};
    kk_cg_children(h, nr, "", &realms, &e);
    kk_error_free(&e);
    cleanup_free char *deleg = file_words(ch.v[ch.n - 1].fd, "cgroup.subtree_control");
    add(out, KK_CG_PASS, "cgroups/root",
        kk_asprintf("%s (kukeon's): %zu realm cgroup(s); delegated to children: %s", root_path,
                    realms.n, deleg),
        NULL);
    kk_strv_free(&realms);
  } else {
    add(out, KK_CG_PASS, "cgroups/root",
        kk_asprintf("%s does not exist yet: kukeon creates it (kuke init, or the first create)",
                    root_path),
        NULL);
  }

  /* Controllers kukeon wants, and what they enforce. */
  struct kk_strv enforced = {0}, not_enforced = {0};
  for (size_t i = 0; i < KK_ARRAY_SIZE(enforce); i++) {
    const char *c = enforce[i].ctrl;
    cleanup_free char *name = kk_asprintf("cgroups/controller/%s", c);
    cleanup_free char *what =
        enforce[i].containers
            ? kk_asprintf("levels: %s; containers: %s", enforce[i].levels, enforce[i].containers)
            : kk_asprintf("levels: %s", enforce[i].levels);
    bool lv = false, ct = false;
    if (kk_strv_contains(&h->controllers, c)) {
      if (root_ok) {
        check_v2_controller(h, &ch, c, what, opts->probe, out, &lv);
      } else {
        add(out, KK_CG_FAIL, name, kk_asprintf("available, but the kukeon root is unusable"), NULL);
      }
      ct = lv;
    } else if (h->mode == KK_CG_MODE_HYBRID && kk_cg_mounts_find_v1(&h->mounts, enforce[i].v1)) {
      const struct kk_cg_mount *v1 = kk_cg_mounts_find_v1(&h->mounts, enforce[i].v1);
      ct = enforce[i].containers != NULL;
      add(out, KK_CG_WARN, name,
          ct ? kk_asprintf("cgroup v1 (%s): containers' %s enforced by runc; %s on realms, "
                           "spaces, stacks and cells NOT enforced",
                           v1->mountpoint, enforce[i].containers, enforce[i].levels)
             : kk_asprintf("cgroup v1 (%s): %s on realms, spaces, stacks and cells NOT enforced",
                           v1->mountpoint, enforce[i].levels),
          kk_xstrdup("needs a unified cgroup v2 host to be enforced at every level"));
    } else {
      add(out, KK_CG_FAIL, name,
          kk_asprintf("kernel-missing: %s is in neither the cgroup2 hierarchy (%s/cgroup.controllers)"
                      "%s — %s NOT enforced",
                      c, h->mountpoint, h->mode == KK_CG_MODE_HYBRID ? " nor a cgroup v1 mount" : "",
                      what),
          kk_asprintf("a kernel with the %s controller (and not bound to cgroup v1)", c));
    }
    kk_strv_push(lv ? &enforced : &not_enforced, enforce[i].levels);
    if (enforce[i].containers)
      kk_strv_push_owned(ct ? &enforced : &not_enforced,
                         kk_asprintf("container %s", enforce[i].containers));
  }
  if (enforced.n) {
    cleanup_free char *s = kk_strv_join(&enforced, "; ");
    add(out, KK_CG_PASS, "cgroups/enforced", kk_asprintf("%s", s), NULL);
  }
  if (not_enforced.n) {
    cleanup_free char *s = kk_strv_join(&not_enforced, "; ");
    add(out, KK_CG_WARN, "cgroups/not-enforced",
        kk_asprintf("%s (kukeon warns when a manifest sets them)", s), NULL);
  }
  kk_strv_free(&enforced);
  kk_strv_free(&not_enforced);

  check_membership(h, &ch, opts->probe, out);

  /* A realm/space/stack/cell the user asked about. */
  if (opts->scope) {
    cleanup_free char *sp = kk_cg_status_path(nr, opts->scope);
    bool exists = false, owned = false;
    if (kk_cg_exists(h, nr, opts->scope, &exists, &owned, &e) < 0) {
      add(out, KK_CG_FAIL, "cgroups/scope", kk_asprintf("%s: %s", sp, e->msg), NULL);
      kk_error_free(&e);
    } else if (!exists) {
      add(out, KK_CG_FAIL, "cgroups/scope", kk_asprintf("%s does not exist", sp),
          kk_xstrdup("kukeon re-creates missing cgroups on the next reconcile (or kuke apply)"));
    } else if (!owned && kk_cg_rel_depth(opts->scope) <= KK_CG_CELL_DEPTH) {
      add(out, KK_CG_FAIL, "cgroups/scope", kk_asprintf("%s was not created by kukeon", sp), NULL);
    } else {
      cleanup_close int fd = kk_cg_open(h, nr, opts->scope, &e);
      kk_error_free(&e);
      cleanup_free char *have = fd >= 0 ? file_words(fd, "cgroup.controllers") : kk_xstrdup("?");
      cleanup_free char *deleg = fd >= 0 ? file_words(fd, "cgroup.subtree_control") : kk_xstrdup("?");
      struct kk_cg_limits l;
      char lim[256] = "";
      if (kk_cg_read_limits(h, nr, opts->scope, &l, &e) == 0) {
        size_t o = 0;
        lim_add(lim, sizeof(lim), &o, "memory.max", l.memory_max);
        lim_add(lim, sizeof(lim), &o, "memory.high", l.memory_high);
        lim_add(lim, sizeof(lim), &o, "cpu.weight", l.cpu_weight);
        lim_add(lim, sizeof(lim), &o, "cpu.max.quota", l.cpu_max_quota_us);
        lim_add(lim, sizeof(lim), &o, "pids.max", l.pids_max);
        lim_add(lim, sizeof(lim), &o, "io.weight", l.io_weight);
      }
      kk_error_free(&e);
      add(out, KK_CG_PASS, "cgroups/scope",
          kk_asprintf("%s: controllers %s; delegated to children %s; limits:%s", sp, have, deleg,
                      lim[0] ? lim : " (none readable)"),
          NULL);
    }
  }
  chain_free(&ch);
  kk_strv_free(&rp);
  return 0;
}

void kk_cg_checks_print(const struct kk_cg_checks *c, FILE *out) {
  static const char *const label[] = {"PASS", "WARN", "FAIL"};
  size_t w = 0;
  for (size_t i = 0; i < c->n; i++)
    if (strlen(c->v[i].name) > w)
      w = strlen(c->v[i].name);
  for (size_t i = 0; i < c->n; i++) {
    fprintf(out, "%s  %-*s  %s\n", label[c->v[i].status], (int)w, c->v[i].name, c->v[i].detail);
    if (c->v[i].hint && c->v[i].status != KK_CG_PASS)
      fprintf(out, "      \u21b3 %s\n", c->v[i].hint);
  }
}

int kk_cg_doctor(const struct kk_cg_doctor_opts *opts, FILE *out, size_t *n_fail, kk_err_t *err) {
  struct kk_cg_checks c = {0};
  if (kk_cg_doctor_run(opts, &c, err) < 0)
    return -1;
  kk_cg_checks_print(&c, out);
  size_t fails = 0;
  for (size_t i = 0; i < c.n; i++)
    fails += c.v[i].status == KK_CG_FAIL;
  if (n_fail)
    *n_fail = fails;
  kk_cg_checks_free(&c);
  return 0;
}

/* kuke status [--json] [--verbose]: one health report.  DAEMON (the
 * socket answers, its version), HOST (cgroups as kuke doctor sees them,
 * runc, the CNI plugins, iptables, overlay), STATE (the run path, what the
 * runtime dir and the run path hold that no resource names, unreadable
 * state files), STORAGE (the image store per realm namespace) and PARITY
 * (kukeond lists what an in-process kuke on the same run path lists).
 * Every check is bounded: the daemon by a reply deadline, helper programs
 * by kk_spawn_output's. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#include "api/api.h"
#include "cgroupfs/cgroupfs.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "lib/fs.h"
#include "lib/spawn.h"
#include "store/store.h"

#define DAEMON_REPLY_MS 3000 /* a daemon slower than this to answer a ping is not healthy */
#define HELPER_MS 3000       /* runc --version, iptables --version */
#define SHOWN_MAX 3          /* names quoted in one row's detail */

enum row_status { ROW_OK, ROW_WARN, ROW_FAIL };
static const char *const row_status_names[] = {"OK", "WARN", "FAIL"};

struct row {
  enum row_status st;
  const char *section; /* static: "daemon", "host", ... */
  char *name;          /* "daemon/socket", ... */
  char *detail;
  char *hint;          /* may be NULL */
  bool extra;          /* a --verbose detail row */
  bool has_usage;
  struct kk_image_usage usage;
};

struct status {
  struct kk_cli *cli;
  bool verbose;
  struct row *v;
  size_t n;
  struct kk_api *remote; /* NULL: the daemon did not answer */
  struct kk_api *local;  /* NULL: no in-process view (local_why says why) */
  struct kk_controller *ctl;
  char *local_why;
  char *runtime_dir;
};

static void status_free(struct status *s) {
  for (size_t i = 0; i < s->n; i++) {
    free(s->v[i].name);
    free(s->v[i].detail);
    free(s->v[i].hint);
  }
  free(s->v);
  kk_api_close(s->remote);
  kk_api_close(s->local);
  kk_controller_close(s->ctl);
  free(s->local_why);
  free(s->runtime_dir);
}

static struct row *add(struct status *s, const char *section, enum row_status st, const char *name, const char *fmt,
                       ...) __attribute__((format(printf, 5, 6)));
static struct row *add(struct status *s, const char *section, enum row_status st, const char *name, const char *fmt,
                       ...) {
  va_list ap;
  va_start(ap, fmt);
  char *detail = NULL;
  if (vasprintf(&detail, fmt, ap) < 0)
    abort();
  va_end(ap);
  s->v = kk_xrealloc(s->v, (s->n + 1) * sizeof(*s->v));
  struct row *r = &s->v[s->n++];
  *r = (struct row){.st = st, .section = section, .name = kk_xstrdup(name), .detail = detail};
  return r;
}

static void hint(struct row *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void hint(struct row *r, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  free(r->hint);
  if (vasprintf(&r->hint, fmt, ap) < 0)
    abort();
  va_end(ap);
}

/* ------------------------------------------------------------- daemon */

static void check_daemon(struct status *s) {
  const char *sock = NULL;
  cleanup_error kk_err_t e = NULL;
  if (kk_cli_socket_path(s->cli, &sock, &e) < 0) {
    hint(add(s, "daemon", ROW_FAIL, "daemon/socket", "%s", e->msg), "set --host or KUKEON_HOST to unix:///<path>");
    return;
  }
  int64_t t0 = kk_monotonic_ms();
  cleanup_free char *version = NULL;
  if (kk_api_open_remote(sock, &s->remote, &e) == 0) {
    kk_api_set_reply_deadline(s->remote, DAEMON_REPLY_MS);
    if (kk_api_ping(s->remote, &version, &e) < 0) {
      kk_api_close(s->remote);
      s->remote = NULL;
    }
  }
  if (s->remote == NULL) {
    struct row *r = add(s, "daemon", ROW_FAIL, "daemon/socket", "%s", e->msg);
    if (e->kind == KK_ERR_PERMISSION)
      hint(r, "add yourself to the socket's group (sudo usermod -aG kukeon $USER), or run as root");
    else
      hint(r, "start the daemon: `sudo kuke init` brings it up (or `kukeond serve`); a daemon elsewhere: --host");
    return;
  }
  int64_t rtt = kk_monotonic_ms() - t0;
  if (strcmp(version, KUKEON_VERSION) != 0) {
    hint(add(s, "daemon", ROW_WARN, "daemon/socket", "unix://%s answered in %lld ms, version %s (client %s)", sock,
             (long long)rtt, version, KUKEON_VERSION),
         "the daemon runs another build than this kuke: restart it with the installed binary");
    return;
  }
  add(s, "daemon", ROW_OK, "daemon/socket", "unix://%s answered in %lld ms, version %s", sock, (long long)rtt,
      version);
}

/* --------------------------------------------------------------- host */

/* kuke doctor's cgroup checks: one row, the worst of them; each with
 * --verbose. */
static void check_cgroups(struct status *s) {
  struct kk_cg_doctor_opts o = {.root = s->cli->cgroup_root, .probe = false};
  struct kk_cg_checks c = {0};
  cleanup_error kk_err_t e = NULL;
  if (kk_cg_doctor_run(&o, &c, &e) < 0) {
    hint(add(s, "host", ROW_FAIL, "host/cgroups", "%s", e->msg), "see `kuke doctor`");
    return;
  }
  enum row_status worst = ROW_OK;
  const char *mode = "unknown", *root = "";
  for (size_t i = 0; i < c.n; i++) {
    enum row_status st = c.v[i].status == KK_CG_FAIL ? ROW_FAIL : c.v[i].status == KK_CG_WARN ? ROW_WARN : ROW_OK;
    worst = st > worst ? st : worst;
    if (strcmp(c.v[i].name, "cgroups/mode") == 0)
      mode = c.v[i].detail;
    if (strcmp(c.v[i].name, "cgroups/root") == 0)
      root = c.v[i].detail;
  }
  /* Hybrid hosts WARN (limits above containers are not enforced): that is
   * how this host is, not something status can fix. */
  int mode_len = (int)strcspn(mode, " (");
  struct row *r = add(s, "host", worst, "host/cgroups", "%.*s; %s", mode_len, mode, root);
  if (worst != ROW_OK)
    hint(r, "`kuke doctor` explains each cgroup check");
  for (size_t i = 0; s->verbose && i < c.n; i++) {
    enum row_status st = c.v[i].status == KK_CG_FAIL ? ROW_FAIL : c.v[i].status == KK_CG_WARN ? ROW_WARN : ROW_OK;
    cleanup_free char *name = kk_asprintf("host/%s", c.v[i].name);
    struct row *d = add(s, "host", st, name, "%s", c.v[i].detail);
    d->extra = true;
    if (c.v[i].hint)
      hint(d, "%s", c.v[i].hint);
  }
  kk_cg_checks_free(&c);
}

/* The first line of `<bin> --version`, or NULL (and *why). */
static char *tool_version(const char *bin, char **why) {
  const char *argv[] = {bin, "--version", NULL};
  cleanup_free char *out = NULL;
  int st = 0;
  cleanup_error kk_err_t e = NULL;
  if (kk_spawn_output(argv, HELPER_MS, &out, &st, &e) < 0) {
    *why = kk_xstrdup(e->msg);
    return NULL;
  }
  if (st != 0) {
    *why = kk_asprintf("%s --version exited with %d", bin, st);
    return NULL;
  }
  out[strcspn(out, "\n")] = '\0';
  return kk_steal(&out);
}

static void check_tool(struct status *s, const char *name, const char *bin, enum row_status missing,
                       const char *fix) {
  cleanup_free char *path = kk_which(bin);
  cleanup_free char *why = NULL;
  cleanup_free char *version = path ? tool_version(path, &why) : NULL;
  if (version) {
    add(s, "host", ROW_OK, name, "%s (%s)", version, path);
    return;
  }
  if (path == NULL)
    why = kk_asprintf("%s not found in PATH", bin);
  hint(add(s, "host", missing, name, "%s", why), "%s", fix);
}

/* bridge, host-local, loopback and portmap: what a space's conflist runs. */
static void check_cni(struct status *s) {
  static const char *const plugins[] = {"bridge", "host-local", "loopback", "portmap"};
  const char *search = !kk_empty(s->cli->cni_path) ? s->cli->cni_path : "/opt/cni/bin:/usr/lib/cni";
  struct kk_strv missing = {0};
  for (size_t i = 0; i < KK_ARRAY_SIZE(plugins); i++) {
    bool found = false;
    cleanup_free char *dirs = kk_xstrdup(search);
    char *save = NULL;
    for (char *d = strtok_r(dirs, ":", &save); d && !found; d = strtok_r(NULL, ":", &save)) {
      cleanup_free char *p = kk_asprintf("%s/%s", d, plugins[i]);
      found = access(p, X_OK) == 0;
    }
    if (!found)
      kk_strv_push(&missing, plugins[i]);
  }
  if (missing.n == 0) {
    add(s, "host", ROW_OK, "host/cni-plugins", "bridge, host-local, loopback, portmap in %s", search);
    return;
  }
  cleanup_free char *names = kk_strv_join(&missing, ", ");
  kk_strv_free(&missing);
  hint(add(s, "host", ROW_WARN, "host/cni-plugins", "not found in %s: %s", search, names),
       "cells on a space network need them: install containernetworking-plugins, or set cniPath / KUKEON_CNI_PATH");
}

static void check_overlay(struct status *s) {
  cleanup_free char *fs = NULL;
  size_t len = 0;
  cleanup_error kk_err_t e = NULL;
  bool have = kk_read_file_at(AT_FDCWD, "/proc/filesystems", 1 << 20, &fs, &len, &e) == 0 &&
              strstr(fs, "\toverlay\n") != NULL;
  if (have) {
    add(s, "host", ROW_OK, "host/overlay", "overlay filesystem available");
    return;
  }
  hint(add(s, "host", ROW_WARN, "host/overlay", "no overlay in /proc/filesystems: root filesystems are copied"),
       "load it (modprobe overlay) for overlay mounts: faster starts, shared layers");
}

static void check_host(struct status *s) {
  check_cgroups(s);
  const char *runc = getenv("KUKEON_RUNC");
  check_tool(s, "host/runc", !kk_empty(runc) ? runc : "runc", ROW_FAIL,
             "containers need runc: install it (apt install runc), or point KUKEON_RUNC at it");
  check_cni(s);
  check_tool(s, "host/iptables", "iptables", ROW_WARN,
             "published ports and space egress need iptables: install it (apt install iptables)");
  check_overlay(s);
}

/* -------------------------------------------------------------- state */

/* The in-process side: a controller on the run path (it would create a
 * missing one, so that is looked at first). */
static bool open_local(struct status *s) {
  const char *rp = s->cli->run_path;
  cleanup_error kk_err_t e = NULL;
  if (kk_cli_require_root("status", &e) < 0) {
    s->local_why = kk_xstrdup("needs root");
    hint(add(s, "state", ROW_WARN, "state/run-path", "%s: not checked (in-process checks need root)", rp),
         "run `sudo kuke status` for the state, storage and parity checks");
    return false;
  }
  if (access(rp, F_OK) < 0) {
    s->local_why = kk_asprintf("run path %s does not exist", rp);
    hint(add(s, "state", ROW_FAIL, "state/run-path", "%s does not exist", rp),
         "initialise the host: sudo kuke init (or name the right one: --run-path / KUKEON_RUN_PATH)");
    return false;
  }
  s->runtime_dir = kk_cli_runtime_dir(s->cli);
  struct kk_controller_config cfg = kk_cli_controller_config(s->cli, s->runtime_dir);
  if (kk_controller_open(&cfg, &s->ctl, &e) < 0 || kk_api_open_local(&cfg, &s->local, &e) < 0) {
    s->local_why = kk_xstrdup(e->msg);
    hint(add(s, "state", ROW_FAIL, "state/run-path", "%s: %s", rp, e->msg), "see `kuke doctor`");
    return false;
  }
  add(s, "state", ROW_OK, "state/run-path", "%s (runtime dir %s)", rp,
      kk_controller_config(s->ctl)->runtime_dir);
  return true;
}

static void check_orphans(struct status *s) {
  cleanup_ctl_orphans struct kk_ctl_orphans o = {0};
  cleanup_error kk_err_t e = NULL;
  if (kk_ctl_orphans(s->ctl, &o, &e) < 0) {
    hint(add(s, "state", ROW_FAIL, "state/orphans", "%s", e->msg), "see `kuke doctor`");
    return;
  }
  if (o.n == 0) {
    add(s, "state", ROW_OK, "state/orphans", "none: every bundle, runc record, layer and directory has its resource");
    return;
  }
  struct kk_strv shown = {0};
  for (size_t i = 0; i < o.n && i < SHOWN_MAX; i++)
    kk_strv_push_owned(&shown, kk_asprintf("%s %s", o.v[i].what, o.v[i].path));
  cleanup_free char *list = kk_strv_join(&shown, ", ");
  kk_strv_free(&shown);
  hint(add(s, "state", ROW_WARN, "state/orphans", "%zu left without a resource: %s%s", o.n, list,
           o.n > SHOWN_MAX ? ", ..." : ""),
       "left by a crash or an interrupted delete: `kuke purge` the resource they belonged to, or remove them "
       "(stop a live monitor first)");
  for (size_t i = 0; s->verbose && i < o.n; i++)
    add(s, "state", ROW_WARN, "state/orphan", "%s %s", o.v[i].what, o.v[i].path)->extra = true;
}

/* kuke doctor's store check: files a listing leaves out. */
static void check_state_files(struct status *s) {
  cleanup_store struct kk_store *st = NULL;
  cleanup_store_problems struct kk_store_problems bad = {0};
  cleanup_error kk_err_t e = NULL;
  if (kk_store_open(s->cli->run_path, false, &st, &e) < 0 || kk_store_check(st, &bad, &e) < 0) {
    hint(add(s, "state", ROW_FAIL, "state/state-files", "%s", e->msg), "see `kuke doctor`");
    return;
  }
  if (bad.n == 0) {
    add(s, "state", ROW_OK, "state/state-files", "every state file reads");
    return;
  }
  hint(add(s, "state", ROW_WARN, "state/state-files", "%zu unreadable, first %s: %s", bad.n, bad.v[0].path,
           bad.v[0].reason),
       "such a resource is left out of listings: `kuke delete --force` removes it");
  for (size_t i = 0; s->verbose && i < bad.n; i++)
    add(s, "state", ROW_WARN, "state/state-file", "%s: %s", bad.v[i].path, bad.v[i].reason)->extra = true;
}

/* ------------------------------------------------------------ storage */

static void check_storage(struct status *s) {
  cleanup_ctl_storage struct kk_ctl_storage st = {0};
  cleanup_error kk_err_t e = NULL;
  if (kk_ctl_storage(s->ctl, &st, &e) < 0) {
    hint(add(s, "storage", ROW_FAIL, "storage/images", "%s", e->msg), "see `kuke image list --no-daemon`");
    return;
  }
  if (st.n == 0) {
    add(s, "storage", ROW_OK, "storage/images", "no image store yet");
    return;
  }
  for (size_t i = 0; i < st.n; i++) {
    const struct kk_image_usage *u = &st.v[i].usage;
    char size[32];
    kk_format_size(u->blob_bytes, size);
    struct row *r;
    if (st.v[i].ns) {
      cleanup_free char *name = kk_asprintf("storage/%s", st.v[i].ns);
      r = add(s, "storage", ROW_OK, name, "%zu images, %zu blobs (%s), %zu snapshots", u->images, u->blobs, size,
              u->snapshots);
    } else {
      r = add(s, "storage", ROW_OK, "storage/total",
              "%zu blobs (%s), %zu snapshots, %zu rootfs leases; unreferenced: %zu blobs, %zu snapshots", u->blobs,
              size, u->snapshots, u->leases, u->unreferenced_blobs, u->unreferenced_snapshots);
      if (u->unreferenced_blobs || u->unreferenced_snapshots)
        hint(r, "`kuke image prune` removes what nothing references");
    }
    r->has_usage = true;
    r->usage = *u;
  }
}

/* ------------------------------------------------------------- parity */

/* One line per resource: where it is, and its state. */
static int docs_lines(struct kk_api *api, enum kk_kind kind, struct kk_strv *out, kk_err_t *err) {
  cleanup_doc_list struct kk_doc_list l = {0};
  struct kk_ref all = {.kind = kind};
  if (kk_api_list(api, kind, &all, &l, NULL, err) < 0)
    return -1;
  for (size_t i = 0; i < l.n; i++) {
    struct kk_ref r = kk_ref_of(l.docs[i]);
    struct kk_status_base *b = kk_doc_status_base(l.docs[i]);
    cleanup_free char *where = kind == KK_KIND_REALM   ? kk_xstrdup(r.name)
                               : kind == KK_KIND_SPACE ? kk_asprintf("%s/%s", r.realm, r.name)
                               : kind == KK_KIND_STACK ? kk_asprintf("%s/%s/%s", r.realm, r.space, r.name)
                                                       : kk_asprintf("%s/%s/%s/%s", r.realm, r.space, r.stack, r.name);
    kk_strv_push_owned(out, kk_asprintf("%s %s", where, b ? kk_state_name(kind, b->state) : "-"));
  }
  return 0;
}

static int image_lines(struct kk_api *api, struct kk_strv *out, kk_err_t *err) {
  struct kk_image_info *v = NULL;
  size_t n = 0;
  if (kk_api_image_list(api, NULL, NULL, &v, &n, err) < 0)
    return -1;
  for (size_t i = 0; i < n; i++)
    kk_strv_push_owned(out, kk_asprintf("%s/%s %s", v[i].namespace_name, v[i].name, v[i].digest));
  kk_image_infos_free(v, n);
  return 0;
}

static int view_lines(struct kk_api *api, int kind, struct kk_strv *out, kk_err_t *err) {
  int rc = kind < 0 ? image_lines(api, out, err) : docs_lines(api, (enum kk_kind)kind, out, err);
  kk_strv_sort(out);
  return rc;
}

/* "only in the daemon: a, b; only in-process: c" (NULL when alike). */
static char *views_differ(const struct kk_strv *d, const struct kk_strv *l) {
  struct kk_strv only_d = {0}, only_l = {0};
  for (size_t i = 0; i < d->n; i++)
    if (!kk_strv_contains(l, d->v[i]) && only_d.n < SHOWN_MAX)
      kk_strv_push(&only_d, d->v[i]);
  for (size_t i = 0; i < l->n; i++)
    if (!kk_strv_contains(d, l->v[i]) && only_l.n < SHOWN_MAX)
      kk_strv_push(&only_l, l->v[i]);
  char *msg = NULL;
  if (only_d.n || only_l.n) {
    cleanup_free char *a = kk_strv_join(&only_d, ", "), *b = kk_strv_join(&only_l, ", ");
    msg = kk_asprintf("%zu from kukeond, %zu in-process; only from kukeond: %s; only in-process: %s", d->n, l->n,
                      only_d.n ? a : "-", only_l.n ? b : "-");
  }
  kk_strv_free(&only_d);
  kk_strv_free(&only_l);
  return msg;
}

/* Both views of one kind; a state caught mid-change gets one more look. */
static void check_parity_kind(struct status *s, int kind, const char *name) {
  cleanup_free char *diff = NULL;
  size_t n = 0;
  for (int attempt = 0; attempt < 2; attempt++) {
    if (attempt)
      usleep(300 * 1000);
    cleanup_strv struct kk_strv d = {0}, l = {0};
    cleanup_error kk_err_t e = NULL;
    bool remote_failed = view_lines(s->remote, kind, &d, &e) < 0;
    if (remote_failed || view_lines(s->local, kind, &l, &e) < 0) {
      hint(add(s, "parity", ROW_FAIL, name, "%s", e->msg), "compare `kuke get` with `kuke get --no-daemon`");
      if (remote_failed && e->kind == KK_ERR_UNAVAILABLE) { /* one deadline, not one per kind */
        kk_api_close(s->remote);
        s->remote = NULL;
      }
      return;
    }
    free(diff);
    diff = views_differ(&d, &l);
    n = l.n;
    if (diff == NULL)
      break;
  }
  if (diff == NULL) {
    add(s, "parity", ROW_OK, name, "kukeond and in-process list the same %zu", n);
    return;
  }
  hint(add(s, "parity", ROW_FAIL, name, "%s", diff),
       "kukeond serves another run path than %s, or changed the store behind its back: restart it with "
       "--run-path %s (kuke daemon restart)",
       s->cli->run_path, s->cli->run_path);
}

static void check_parity(struct status *s) {
  static const struct {
    int kind; /* -1: images */
    const char *name;
  } kinds[] = {{KK_KIND_REALM, "parity/realms"}, {KK_KIND_SPACE, "parity/spaces"}, {KK_KIND_STACK, "parity/stacks"},
               {KK_KIND_CELL, "parity/cells"},   {-1, "parity/images"}};
  for (size_t i = 0; i < KK_ARRAY_SIZE(kinds); i++) {
    if (s->remote && s->local) {
      check_parity_kind(s, kinds[i].kind, kinds[i].name);
      continue;
    }
    struct row *r = add(s, "parity", ROW_WARN, kinds[i].name, "not compared: %s",
                        s->remote == NULL ? "kukeond did not answer" : s->local_why);
    hint(r, "%s", s->remote == NULL ? "see daemon/socket" : "see state/run-path");
  }
}

/* ------------------------------------------------------------- output */

static void print_text(const struct status *s, FILE *f) {
  const char *section = NULL;
  for (size_t i = 0; i < s->n; i++) {
    const struct row *r = &s->v[i];
    if (section == NULL || strcmp(section, r->section) != 0) {
      section = r->section;
      for (const char *c = section; *c; c++)
        fputc(*c >= 'a' && *c <= 'z' ? *c - 'a' + 'A' : *c, f);
      fputc('\n', f);
    }
    fprintf(f, "%-5s %s%-22s %s\n", row_status_names[r->st], r->extra ? "  " : "", r->name, r->detail);
    if (r->hint && (r->st != ROW_OK || s->verbose))
      fprintf(f, "      \xe2\x86\xb3 %s\n", r->hint);
  }
}

static json_t *usage_json(const struct kk_image_usage *u) {
  return json_pack("{s:I,s:I,s:I,s:I,s:I}", "images", (json_int_t)u->images, "blobs", (json_int_t)u->blobs,
                   "blobsBytes", (json_int_t)u->blob_bytes, "snapshots", (json_int_t)u->snapshots, "leases",
                   (json_int_t)u->leases);
}

static void print_json(const struct status *s, bool ok, FILE *f) {
  cleanup_json json_t *checks = json_array();
  for (size_t i = 0; i < s->n; i++) {
    const struct row *r = &s->v[i];
    json_t *c = json_pack("{s:s,s:s,s:s,s:s}", "section", r->section, "name", r->name, "status",
                          row_status_names[r->st], "detail", r->detail);
    if (r->hint)
      json_object_set_new(c, "remediation", json_string(r->hint));
    if (r->has_usage)
      json_object_set_new(c, "storage", usage_json(&r->usage));
    json_array_append_new(checks, c);
  }
  cleanup_json json_t *root = json_pack("{s:b,s:O}", "ok", ok, "checks", checks);
  json_dumpf(root, f, JSON_INDENT(2));
  fputc('\n', f);
}

static int status_run(void *ctx, const struct kk_cmdline *cl, int *status, kk_err_t *err) {
  /* --verbose is the global flag (it also turns logging on, to stderr). */
  struct status s = {.cli = KK_CLI(ctx), .verbose = KK_CLI(ctx)->verbose};
  check_daemon(&s);
  check_host(&s);
  if (open_local(&s)) {
    check_orphans(&s);
    check_state_files(&s);
    check_storage(&s);
  }
  check_parity(&s);
  bool ok = true;
  for (size_t i = 0; i < s.n; i++)
    ok &= s.v[i].st != ROW_FAIL;
  if (kk_cmdline_bool(cl, "json"))
    print_json(&s, ok, s.cli->out);
  else {
    print_text(&s, s.cli->out);
    fprintf(s.cli->out, "Status: %s\n", ok ? "OK" : "FAIL");
  }
  status_free(&s);
  *status = ok ? 0 : 1;
  return 0;
}

static const struct kk_flag status_flags[] = {
    {"json", 0, KK_FLAG_BOOL, NULL, "print the report as one JSON object", false},
};

const struct kk_cmd kk_cli_cmd_status = {
    .name = "status",
    .flags = status_flags,
    .n_flags = KK_ARRAY_SIZE(status_flags),
    .summary = "Check the daemon, the host, the state and the image store",
    .details = "One row per check, OK, WARN or FAIL, with a hint under each that is not OK, grouped in sections: "
               "DAEMON (the socket answers a ping in time, its version), HOST (cgroups, runc, CNI plugins, "
               "iptables, overlay), STATE (the run path, bundles, runc records, monitors, layers and directories "
               "that no resource names, unreadable state files), STORAGE (images, blobs, bytes and snapshots per "
               "realm namespace) and PARITY (kukeond lists the same realms, spaces, stacks, cells and images as an "
               "in-process kuke on the same run path). The last line is Status: OK or FAIL; the exit status is 1 "
               "when any check failed. The global --verbose adds detail rows (each cgroup check, each orphan, each "
               "unreadable state file) and the hints of OK rows. The STATE, STORAGE and PARITY checks need root.",
    .run = status_run,
};

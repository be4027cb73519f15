#include "store/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/fs.h"
#include "lib/log.h"
#include "lib/util.h"
#include "store/doc_cache.h"
#include "store/watch.h"

#define STORE_DIR_MODE 0750
#define STORE_FILE_MODE 0640

struct kk_store {
  char *path;
  int fd;
  struct kk_atomic_hook hook;
  bool has_hook;
  struct kk_doc_cache *parsed; /* what files' bytes parsed to (doc_cache.h) */
  struct kk_store_watch *watch; /* kk_store_watch_changes: NULL, or the directories read (watch.h) */
};

#define EPHEMERAL_MARK ".ephemeral"

static const char *const kind_files[KK_KIND_COUNT] = {"realm.yaml", "space.yaml", "stack.yaml", "cell.yaml", NULL};

int kk_store_open(const char *run_path, bool create, struct kk_store **out, kk_err_t *err) {
  if (kk_empty(run_path) || run_path[0] != '/')
    return kk_error_kind(err, KK_ERR_INVALID, 0, "run path \"%s\" must be an absolute path", run_path ? run_path : "");
  if (create) {
    if (kk_mkdir_p(run_path, STORE_DIR_MODE, err) < 0)
      return kk_error_wrap(err, "create run path %s", run_path);
  }
  int fd = open(run_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return kk_error(err, errno, "open run path %s", run_path);
  if (create && mkdirat(fd, "run", STORE_DIR_MODE) < 0 && errno != EEXIST) {
    int saved = errno;
    close(fd);
    return kk_error(err, saved, "create %s/run", run_path);
  }
  struct kk_store *s = kk_xzalloc(sizeof(*s));
  s->path = kk_xstrdup(run_path);
  s->fd = fd;
  s->parsed = kk_doc_cache_new();
  *out = s;
  return 0;
}

void kk_store_close(struct kk_store *s) {
  if (s == NULL)
    return;
  close(s->fd);
  kk_doc_cache_free(s->parsed);
  kk_store_watch_free(s->watch);
  free(s->path);
  free(s);
}

void kk_store_closep(struct kk_store **s) {
  kk_store_close(*s);
  *s = NULL;
}

const char *kk_store_path(const struct kk_store *s) { return s->path; }
int kk_store_fd(const struct kk_store *s) { return s->fd; }

void kk_store_set_write_hook(struct kk_store *s, const struct kk_atomic_hook *hook) {
  s->has_hook = hook != NULL;
  if (hook)
    s->hook = *hook;
}

struct kk_ref kk_ref_of(const struct kk_doc *doc) {
  struct kk_ref r = {.kind = doc->kind, .name = kk_doc_name(doc)};
  switch (doc->kind) {
  case KK_KIND_REALM:
    r.realm = r.name;
    break;
  case KK_KIND_SPACE:
    r.realm = doc->u.space.spec.realm_id;
    break;
  case KK_KIND_STACK:
    r.realm = doc->u.stack.spec.realm_id;
    r.space = doc->u.stack.spec.space_id;
    break;
  case KK_KIND_CELL:
    r.realm = doc->u.cell.spec.realm_id;
    r.space = doc->u.cell.spec.space_id;
    r.stack = doc->u.cell.spec.stack_id;
    break;
  case KK_KIND_CONTAINER:
    r.realm = doc->u.container.spec.realm_id;
    r.space = doc->u.container.spec.space_id;
    r.stack = doc->u.container.spec.stack_id;
    r.cell = doc->u.container.spec.cell_id;
    break;
  default:
    break;
  }
  return r;
}

char *kk_ref_describe(const struct kk_ref *ref) {
  switch (ref->kind) {
  case KK_KIND_REALM:
    return kk_asprintf("realm \"%s\"", ref->name);
  case KK_KIND_SPACE:
    return kk_asprintf("space \"%s\" in realm \"%s\"", ref->name, ref->realm);
  case KK_KIND_STACK:
    return kk_asprintf("stack \"%s\" in realm \"%s\", space \"%s\"", ref->name, ref->realm, ref->space);
  case KK_KIND_CELL:
    return kk_asprintf("cell \"%s\" in realm \"%s\", space \"%s\", stack \"%s\"", ref->name, ref->realm, ref->space,
                       ref->stack);
  case KK_KIND_CONTAINER:
    return kk_asprintf("container \"%s\" in cell \"%s\" (realm \"%s\", space \"%s\", stack \"%s\")", ref->name,
                       ref->cell, ref->realm, ref->space, ref->stack);
  default:
    return kk_xstrdup("resource");
  }
}

/* Not-found messages in the shape users know:
 * cell "c" not found in realm "r", space "s", stack "t". */
int kk_store_not_found(const struct kk_ref *ref, kk_err_t *err) {
  const char *k = kk_kind_lower(ref->kind);
  switch (ref->kind) {
  case KK_KIND_REALM:
    return kk_error_kind(err, KK_ERR_NOT_FOUND, 0, "realm \"%s\" not found", ref->name);
  case KK_KIND_SPACE:
    return kk_error_kind(err, KK_ERR_NOT_FOUND, 0, "space \"%s\" not found in realm \"%s\"", ref->name, ref->realm);
  case KK_KIND_STACK:
    return kk_error_kind(err, KK_ERR_NOT_FOUND, 0, "stack \"%s\" not found in realm \"%s\", space \"%s\"", ref->name,
                         ref->realm, ref->space);
  case KK_KIND_CELL:
    return kk_error_kind(err, KK_ERR_NOT_FOUND, 0, "cell \"%s\" not found in realm \"%s\", space \"%s\", stack \"%s\"",
                         ref->name, ref->realm, ref->space, ref->stack);
  default:
    return kk_error_kind(err, KK_ERR_NOT_FOUND, 0, "%s \"%s\" not found in cell \"%s\" (realm \"%s\", space \"%s\", stack \"%s\")",
                         k, ref->name, ref->cell, ref->realm, ref->space, ref->stack);
  }
}

/* A ref's parts must be plain names: they become path components. */
static int check_ref(const struct kk_ref *ref, kk_err_t *err) {
  const char *parents[4] = {ref->realm, ref->space, ref->stack, ref->cell};
  for (int i = 0; i < (int)ref->kind && i < 4; i++)
    if (kk_validate_name((enum kk_kind)i, parents[i], err) < 0)
      return -1;
  return kk_validate_name(ref->kind, ref->name, err);
}

/* Directory holding the resource's own file (for a container: the cell's). */
char *kk_store_rel_dir(const struct kk_ref *ref) {
  switch (ref->kind) {
  case KK_KIND_REALM:
    return kk_xstrdup(ref->name);
  case KK_KIND_SPACE:
    return kk_asprintf("%s/%s", ref->realm, ref->name);
  case KK_KIND_STACK:
    return kk_asprintf("%s/%s/%s", ref->realm, ref->space, ref->name);
  case KK_KIND_CELL:
    return kk_asprintf("%s/%s/%s/%s", ref->realm, ref->space, ref->stack, ref->name);
  case KK_KIND_CONTAINER:
    return kk_asprintf("%s/%s/%s/%s", ref->realm, ref->space, ref->stack, ref->cell);
  default:
    return kk_xstrdup(".");
  }
}

/* The ref of the parent resource (for realm: none). */
static bool parent_ref(const struct kk_ref *ref, struct kk_ref *out) {
  memset(out, 0, sizeof(*out));
  switch (ref->kind) {
  case KK_KIND_SPACE:
    *out = (struct kk_ref){.kind = KK_KIND_REALM, .realm = ref->realm, .name = ref->realm};
    return true;
  case KK_KIND_STACK:
    *out = (struct kk_ref){.kind = KK_KIND_SPACE, .realm = ref->realm, .name = ref->space};
    return true;
  case KK_KIND_CELL:
    *out = (struct kk_ref){.kind = KK_KIND_STACK, .realm = ref->realm, .space = ref->space, .name = ref->stack};
    return true;
  case KK_KIND_CONTAINER:
    *out = (struct kk_ref){
        .kind = KK_KIND_CELL, .realm = ref->realm, .space = ref->space, .stack = ref->stack, .name = ref->cell};
    return true;
  default:
    return false;
  }
}

int kk_store_lock(struct kk_store *s, bool exclusive, kk_err_t *err) {
  return kk_lock_at(s->fd, ".lock", exclusive, err);
}

/* --------------------------------------------------------------- read */

static void version_of(const struct stat *st, struct kk_file_version *v) {
  *v = (struct kk_file_version){.dev = st->st_dev,
                                .ino = st->st_ino,
                                .size = st->st_size,
                                .mtime_ns = st->st_mtim.tv_sec * 1000000000LL + st->st_mtim.tv_nsec,
                                .ctime_ns = st->st_ctim.tv_sec * 1000000000LL + st->st_ctim.tv_nsec};
}

static bool same_version(const struct kk_file_version *a, const struct kk_file_version *b) {
  return a->dev == b->dev && a->ino == b->ino && a->size == b->size && a->mtime_ns == b->mtime_ns &&
         a->ctime_ns == b->ctime_ns;
}

/* A file changed less than RACY_NS before it was read could change again
 * within its timestamps' granularity (a kernel tick) and keep every field
 * of its version; such a read is not kept as a snapshot (git's "racy"
 * files).  A second is far above any tick and any clock slew. */
#define RACY_NS 1000000000LL

static bool racy(const struct kk_snap_files *f, int64_t read_at_ns) {
  for (size_t i = 0; i < f->n; i++)
    if (f->v[i].mtime_ns > read_at_ns - RACY_NS || f->v[i].ctime_ns > read_at_ns - RACY_NS)
      return true;
  return false;
}

static int64_t realtime_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Every directory of the snapshot is watched: its marks say it all. */
static bool watched(const struct kk_snap_files *f) { return f->n_marks > 0 && !f->unwatched; }

struct fresh_ctx {
  struct kk_store *s;
  int at_fd;
  const char *rel;
};

/* Every file still the version it was read from: its directories
 * unchanged since (watched), else a stat a file. */
static bool files_fresh(const struct kk_snap_files *f, void *arg) {
  const struct fresh_ctx *x = arg;
  if (watched(f) && x->s->watch)
    return kk_store_watch_unchanged(x->s->watch, f->marks, f->n_marks);
  for (size_t i = 0; i < f->n; i++) {
    char path[PATH_MAX];
    struct stat st;
    struct kk_file_version now;
    if (snprintf(path, sizeof(path), "%s/%s", x->rel, f->names[i]) >= (int)sizeof(path) ||
        fstatat(x->at_fd, path, &st, AT_SYMLINK_NOFOLLOW) < 0)
      return false;
    version_of(&st, &now);
    if (!same_version(&now, &f->v[i]))
      return false;
  }
  return true;
}

/* The resource at rel (from at_fd) as last read whole, when every one of
 * its files is still the version it was read from: no lock, no read.
 * Whoever rewrites one of them (under the resource's lock, a file at a
 * time) changes its version; a reader that meets a file not rewritten yet
 * and none rewritten already answers with the state before that write. */
static struct kk_doc *snapshot_of(struct kk_store *s, const char *key, int at_fd, const char *rel) {
  struct fresh_ctx x = {s, at_fd, rel};
  return kk_doc_cache_snap_get(s->parsed, key, files_fresh, &x);
}

/* The directory open at dfd watched, its mark kept with the snapshot's
 * files (none when it cannot be watched: its files are stat'ed then). */
static void watch_dir(struct kk_store *s, int dfd, struct kk_snap_files *files) {
  if (s->watch == NULL || files->unwatched)
    return;
  if (files->n_marks < KK_ARRAY_SIZE(files->marks) && kk_store_watch_dir(s->watch, dfd, &files->marks[files->n_marks]))
    files->n_marks++;
  else
    files->unwatched = true;
}

void kk_store_watch_changes(struct kk_store *s) {
  if (s->watch == NULL)
    s->watch = kk_store_watch_new();
}

static void sync_changes(struct kk_store *s) {
  if (s->watch)
    kk_store_watch_sync(s->watch);
}

static int corrupt(const char *rel, char *why, char **bad, kk_err_t *err) {
  kk_error_kind(err, KK_ERR_INTERNAL, 0, "%s: %s", rel, why);
  free(why);
  if (bad)
    *bad = kk_xstrdup(rel);
  return -1;
}

/* A state file, or KK_ERR_INTERNAL "<path relative to the run path>[:<line>]:
 * <why>" when it cannot be read (too big, not a file, not one valid
 * document of its kind) and *bad = that path.  ENOENT stays ENOENT. */
static int read_doc_at(struct kk_store *s, int dirfd, const char *rel_dir, const char *file, enum kk_kind kind,
                       const char *name, struct kk_doc **out, struct kk_file_version *version, char **bad,
                       kk_err_t *err) {
  cleanup_free char *rel = kk_asprintf("%s/%s", rel_dir, file);
  cleanup_close int fd = openat(dirfd, file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    if (errno == ENOENT)
      return kk_error(err, errno, "open %s", rel);
    return corrupt(rel, kk_asprintf("cannot open: %s", strerror(errno)), bad, err);
  }
  struct stat st;
  if (fstat(fd, &st) < 0)
    return kk_error(err, errno, "stat %s", rel);
  if (!S_ISREG(st.st_mode))
    return corrupt(rel, kk_xstrdup("not a regular file"), bad, err);
  if (st.st_size > (off_t)KK_MAX_DOC_BYTES)
    return corrupt(rel, kk_asprintf("larger than %u bytes", KK_MAX_DOC_BYTES), bad, err);
  version_of(&st, version);
  cleanup_free char *buf = NULL;
  size_t len = 0;
  if (kk_read_fd(fd, KK_MAX_DOC_BYTES, rel, &buf, &len, err) < 0) {
    if ((*err)->kind != KK_ERR_INVALID)
      return -1;
    kk_error_free(err);
    return corrupt(rel, kk_asprintf("larger than %u bytes", KK_MAX_DOC_BYTES), bad, err);
  }
  *out = kk_doc_cache_get(s->parsed, rel, buf, len);
  bool parsed = *out == NULL;
  if (parsed && kk_doc_parse_one(buf, len, rel, kind, out, err) < 0) {
    /* Never a crash: the message names the file already. */
    (*err)->kind = KK_ERR_INTERNAL;
    (*err)->errnum = 0;
    if (bad)
      *bad = kk_steal(&rel);
    return -1;
  }
  /* A file cut short can still parse: it must at least be the resource
   * its place says it is. */
  if (!kk_streq(kk_doc_name(*out), name)) {
    char *why = kk_asprintf("holds %s \"%s\", not \"%s\"", kk_kind_lower(kind), kk_doc_name(*out), name);
    kk_doc_free(*out);
    *out = NULL;
    return corrupt(rel, why, bad, err);
  }
  if (parsed)
    kk_doc_cache_put(s->parsed, rel, buf, len, *out);
  return 0;
}

static int container_order(const void *a, const void *b) {
  const struct kk_doc *x = *(struct kk_doc *const *)a, *y = *(struct kk_doc *const *)b;
  if (x->u.container.spec.root != y->u.container.spec.root)
    return x->u.container.spec.root ? -1 : 1;
  return strcmp(kk_doc_name(x), kk_doc_name(y));
}

/* The cell's container documents, and into files the version of the
 * directory and of each (left empty when there is no directory: a cell
 * with none is not kept as a snapshot). */
static int read_containers(struct kk_store *s, int cell_fd, const char *rel_dir, struct kk_doc_list *out,
                           struct kk_snap_files *files, char **bad, kk_err_t *err) {
  cleanup_dir DIR *d = kk_dir_open_at(cell_fd, "containers", err);
  if (d == NULL) {
    if ((*err)->errnum == ENOENT) {
      kk_error_free(err);
      kk_snap_files_free(files);
      return 0;
    }
    return kk_error_wrap(err, "%s/%s", s->path, rel_dir);
  }
  struct stat st;
  struct kk_file_version v;
  if (fstat(dirfd(d), &st) < 0)
    return kk_error(err, errno, "stat %s/%s/containers", s->path, rel_dir);
  version_of(&st, &v);
  kk_snap_files_add(files, "containers", &v);
  watch_dir(s, dirfd(d), files);
  cleanup_free char *sub = kk_asprintf("%s/containers", rel_dir);
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    if (de->d_name[0] == '.' || !kk_has_suffix(de->d_name, ".yaml"))
      continue;
    struct kk_doc *doc = NULL;
    cleanup_free char *id = kk_xstrndup(de->d_name, strlen(de->d_name) - strlen(".yaml"));
    if (read_doc_at(s, dirfd(d), sub, de->d_name, KK_KIND_CONTAINER, id, &doc, &v, bad, err) < 0) {
      if (*err && (*err)->errnum == ENOENT) { /* removed under us */
        kk_error_free(err);
        continue;
      }
      return -1;
    }
    cleanup_free char *name = kk_asprintf("containers/%s", de->d_name);
    kk_snap_files_add(files, name, &v);
    kk_doc_list_push(out, doc);
  }
  if (out->n > 1)
    qsort(out->docs, out->n, sizeof(*out->docs), container_order);
  return 0;
}

/* Fold container documents into a cell: every spec, and the statuses that
 * were written (a container with no status yet adds no entry). */
static void cell_take_containers(struct kk_cell *cell, struct kk_doc_list *ctrs) {
  cell->spec.containers = ctrs->n ? kk_xzalloc(ctrs->n * sizeof(*cell->spec.containers)) : NULL;
  cell->status.containers = ctrs->n ? kk_xzalloc(ctrs->n * sizeof(*cell->status.containers)) : NULL;
  size_t ns = 0;
  for (size_t i = 0; i < ctrs->n; i++) {
    struct kk_container *c = &ctrs->docs[i]->u.container;
    cell->spec.containers[i] = c->spec;
    memset(&c->spec, 0, sizeof(c->spec));
    if (!kk_empty(c->status.name)) {
      cell->status.containers[ns++] = c->status;
      memset(&c->status, 0, sizeof(c->status));
    }
  }
  cell->spec.n_containers = ctrs->n;
  cell->status.n_containers = ns;
}

/* Where a resource's snapshot is kept: under its directory, beside no file. */
static char *snapshot_key(const struct kk_ref *ref, const char *rel) {
  return ref->kind == KK_KIND_CONTAINER ? kk_asprintf("%s/@container/%s", rel, ref->name) : kk_asprintf("%s/@", rel);
}

/* The resource's files under its shared lock; files gets the version of
 * each (left empty when it should not be kept). */
static int read_locked(struct kk_store *s, const struct kk_ref *ref, const char *rel, int dfd, struct kk_doc **out,
                       struct kk_snap_files *files, char **bad, kk_err_t *err) {
  struct kk_file_version v;
  if (ref->kind == KK_KIND_CONTAINER) { /* its directory is containers/: stat'ed, not watched */
    cleanup_free char *file = kk_asprintf("containers/%s.yaml", ref->name);
    if (read_doc_at(s, dfd, rel, file, KK_KIND_CONTAINER, ref->name, out, &v, bad, err) < 0)
      return -1;
    kk_snap_files_add(files, file, &v);
    return 0;
  }
  watch_dir(s, dfd, files);
  if (read_doc_at(s, dfd, rel, kind_files[ref->kind], ref->kind, ref->name, out, &v, bad, err) < 0)
    return -1;
  kk_snap_files_add(files, kind_files[ref->kind], &v);
  if (ref->kind != KK_KIND_CELL)
    return 0;
  struct kk_doc_list ctrs = {0};
  if (read_containers(s, dfd, rel, &ctrs, files, bad, err) < 0) {
    kk_doc_list_free(&ctrs);
    kk_doc_free(*out);
    *out = NULL;
    return -1;
  }
  cell_take_containers(&(*out)->u.cell, &ctrs);
  kk_doc_list_free(&ctrs);
  return 0;
}

/* A resource's directory as a path from an open directory: a list has its
 * parent open, and a stat of "<name>/<file>" walks two names, not six. */
struct kk_store_at {
  int fd;
  const char *rel;
};

/* The file that makes a resource's directory one (for a container, its own). */
static char *main_file(const struct kk_ref *ref) {
  return ref->kind == KK_KIND_CONTAINER ? kk_asprintf("containers/%s.yaml", ref->name) : kk_xstrdup(kind_files[ref->kind]);
}

/* bad: the unreadable file's path when the error is KK_ERR_INTERNAL.  at:
 * where the resource's directory is, for its snapshot's stats (NULL: from
 * the run path). */
static int get_locked(struct kk_store *s, const struct kk_ref *ref, const struct kk_store_at *at, struct kk_doc **out,
                      char **bad, kk_err_t *err) {
  cleanup_free char *rel = kk_store_rel_dir(ref);
  cleanup_free char *key = snapshot_key(ref, rel);
  if ((*out = snapshot_of(s, key, at ? at->fd : s->fd, at ? at->rel : rel)) != NULL)
    return 0;
  int64_t read_at = realtime_ns();
  cleanup_free char *file = main_file(ref);
  cleanup_close int dfd = openat(s->fd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
  /* A directory without its file is no resource: no lock made in it. */
  if (dfd < 0 || (faccessat(dfd, file, F_OK, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT)) {
    if (dfd >= 0 || errno == ENOENT || errno == ENOTDIR)
      return kk_store_not_found(ref, err);
    return kk_error(err, errno, "open %s/%s", s->path, rel);
  }
  cleanup_close int lock = kk_lock_at(dfd, ".lock", false, err);
  if (lock < 0)
    return -1;
  struct kk_snap_files files = {0};
  int ret = read_locked(s, ref, rel, dfd, out, &files, bad, err);
  if (ret == 0 && (watched(&files) || !racy(&files, read_at)))
    kk_doc_cache_snap_put(s->parsed, key, &files, *out);
  kk_snap_files_free(&files);
  if (ret == 0)
    return 0;
  if (*err && (*err)->errnum == ENOENT) {
    kk_error_free(err);
    return kk_store_not_found(ref, err);
  }
  /* An ephemeral cell torn by a power cut is gone (kk_store_sweep_torn). */
  if (ref->kind >= KK_KIND_CELL && kk_exists_at(dfd, EPHEMERAL_MARK)) {
    kk_debug("%s/%s: torn ephemeral cell (%s)", s->path, rel, (*err)->msg);
    kk_error_free(err);
    if (bad) {
      free(*bad);
      *bad = NULL;
    }
    return kk_store_not_found(ref, err);
  }
  return -1;
}

int kk_store_get(struct kk_store *s, const struct kk_ref *ref, struct kk_doc **out, kk_err_t *err) {
  if (check_ref(ref, err) < 0)
    return -1;
  sync_changes(s);
  if (get_locked(s, ref, NULL, out, NULL, err) < 0) {
    if ((*err)->kind == KK_ERR_INTERNAL && (*err)->errnum == 0) {
      char *msg = kk_asprintf("corrupt state file: %s/%s", s->path, (*err)->msg);
      free((*err)->msg);
      (*err)->msg = msg;
    }
    return -1;
  }
  return 0;
}

bool kk_store_is_corrupt(const kk_err_t e) {
  return e != NULL && e->kind == KK_ERR_INTERNAL && e->errnum == 0 && kk_has_prefix(e->msg, "corrupt state file: ");
}

bool kk_store_exists(struct kk_store *s, const struct kk_ref *ref) {
  cleanup_error kk_err_t e = NULL;
  if (check_ref(ref, &e) < 0)
    return false;
  cleanup_free char *rel = kk_store_rel_dir(ref);
  cleanup_free char *file = ref->kind == KK_KIND_CONTAINER ? kk_asprintf("%s/containers/%s.yaml", rel, ref->name)
                                                           : kk_asprintf("%s/%s", rel, kind_files[ref->kind]);
  return kk_exists_at(s->fd, file);
}

/* -------------------------------------------------------------- write */

static int write_doc(struct kk_store *s, int dirfd, const char *name, const struct kk_doc *doc, bool durable,
                     kk_err_t *err) {
  cleanup_free char *yaml = kk_doc_to_yaml(doc);
  if (!durable)
    return kk_write_file_volatile(dirfd, name, yaml, strlen(yaml), STORE_FILE_MODE, err);
  return kk_write_file_atomic(dirfd, name, yaml, strlen(yaml), STORE_FILE_MODE, s->has_hook ? &s->hook : NULL,
                              err);
}

static int put_cell(struct kk_store *s, int dfd, const struct kk_doc *doc, bool durable, kk_err_t *err) {
  const struct kk_cell *cell = &doc->u.cell;
  if (mkdirat(dfd, "containers", STORE_DIR_MODE) < 0 && errno != EEXIST)
    return kk_error(err, errno, "create containers directory");
  cleanup_close int cfd = kk_open_dir_at(dfd, "containers", err);
  if (cfd < 0)
    return -1;
  kk_sweep_stale_temps(cfd);
  for (size_t i = 0; i < cell->spec.n_containers; i++) {
    cleanup_doc struct kk_doc *cdoc = kk_container_doc_from_cell(cell, i);
    cleanup_free char *file = kk_asprintf("%s.yaml", kk_doc_name(cdoc));
    if (write_doc(s, cfd, file, cdoc, durable, err) < 0)
      return -1;
  }
  /* cell.yaml carries the cell without its containers: they live beside it. */
  cleanup_doc struct kk_doc *bare = kk_doc_clone(doc);
  kk_cell_drop_containers(&bare->u.cell);
  if (write_doc(s, dfd, "cell.yaml", bare, durable, err) < 0)
    return -1;
  /* Containers no longer in the cell. */
  cleanup_dir DIR *d = kk_dir_open_at(cfd, NULL, err);
  if (d == NULL)
    return kk_error_wrap(err, "containers of the cell");
  struct dirent *de;
  bool removed = false;
  while ((de = readdir(d)) != NULL) {
    if (de->d_name[0] == '.' || !kk_has_suffix(de->d_name, ".yaml"))
      continue;
    cleanup_free char *id = kk_xstrndup(de->d_name, strlen(de->d_name) - 5);
    bool keep = false;
    for (size_t i = 0; i < cell->spec.n_containers && !keep; i++)
      keep = kk_streq(cell->spec.containers[i].id, id);
    if (keep)
      continue;
    if (unlinkat(cfd, de->d_name, 0) < 0 && errno != ENOENT)
      return kk_error(err, errno, "remove stale container file %s", de->d_name);
    removed = true;
  }
  /* Each write above synced the directory after its rename already. */
  return durable && removed ? kk_fsync_dir(cfd, err) : 0;
}

static int put(struct kk_store *s, const struct kk_doc *doc, bool create, bool durable, kk_err_t *err) {
  struct kk_ref ref = kk_ref_of(doc);
  bool ephemeral = ref.kind == KK_KIND_CELL && doc->u.cell.spec.auto_delete;
  if (ephemeral)
    durable = false;
  if (check_ref(&ref, err) < 0)
    return -1;
  /* Never write what could not be read back (a cell: with its containers,
   * more than any one of its files). */
  if (kk_doc_check_size(doc, err) < 0)
    return -1;
  struct kk_ref parent;
  if (parent_ref(&ref, &parent) && !kk_store_exists(s, &parent))
    return kk_store_not_found(&parent, err);
  if (create && kk_store_exists(s, &ref)) {
    cleanup_free char *what = kk_ref_describe(&ref);
    return kk_error_kind(err, KK_ERR_EXISTS, 0, "%s already exists", what);
  }
  cleanup_free char *rel = kk_store_rel_dir(&ref);
  if (ref.kind != KK_KIND_CONTAINER && mkdirat(s->fd, rel, STORE_DIR_MODE) < 0 && errno != EEXIST)
    return kk_error(err, errno, "create %s/%s", s->path, rel);
  cleanup_close int dfd = openat(s->fd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
  if (dfd < 0)
    return kk_error(err, errno, "open %s/%s", s->path, rel);
  cleanup_close int lock = kk_lock_at(dfd, ".lock", true, err);
  if (lock < 0)
    return -1;
  /* What a writer killed here before left (one readdir: cheap enough for
   * every write, and no command needs a walk of the tree). */
  kk_sweep_stale_temps(dfd);
  int ret;
  if (ref.kind == KK_KIND_CELL) {
    if (ephemeral) {
      /* First, so that whatever of the cell reached the disk carries it. */
      int mark = openat(dfd, EPHEMERAL_MARK, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, STORE_FILE_MODE);
      if (mark < 0)
        return kk_error(err, errno, "mark %s/%s ephemeral", s->path, rel);
      close(mark);
    }
    ret = put_cell(s, dfd, doc, durable, err);
    /* No longer ephemeral: durable from now on, and a file that cannot be
     * read is an error again, not a power cut's leftover. */
    if (ret == 0 && durable && unlinkat(dfd, EPHEMERAL_MARK, 0) == 0)
      ret = kk_fsync_dir(dfd, err);
  } else if (ref.kind == KK_KIND_CONTAINER) {
    if (mkdirat(dfd, "containers", STORE_DIR_MODE) < 0 && errno != EEXIST)
      return kk_error(err, errno, "create containers directory");
    cleanup_close int cfd = kk_open_dir_at(dfd, "containers", err);
    if (cfd < 0)
      return -1;
    cleanup_free char *file = kk_asprintf("%s.yaml", ref.name);
    ret = write_doc(s, cfd, file, doc, durable, err);
  } else {
    ret = write_doc(s, dfd, kind_files[ref.kind], doc, durable, err);
  }
  if (ret < 0)
    return kk_error_wrap(err, "write %s/%s", s->path, rel);
  return 0;
}

int kk_store_put(struct kk_store *s, const struct kk_doc *doc, bool create, kk_err_t *err) {
  return put(s, doc, create, true, err);
}

int kk_store_put_status(struct kk_store *s, const struct kk_doc *doc, kk_err_t *err) {
  return put(s, doc, false, false, err);
}

/* --------------------------------------------------------------- list */

static int ref_order(const void *a, const void *b) {
  const struct kk_doc *x = *(struct kk_doc *const *)a, *y = *(struct kk_doc *const *)b;
  struct kk_ref rx = kk_ref_of(x), ry = kk_ref_of(y);
  const char *px[] = {rx.realm, rx.space, rx.stack, rx.cell, rx.name};
  const char *py[] = {ry.realm, ry.space, ry.stack, ry.cell, ry.name};
  for (int i = 0; i < 5; i++) {
    int c = strcmp(px[i] ? px[i] : "", py[i] ? py[i] : "");
    if (c != 0)
      return c;
  }
  return 0;
}

/* Names of child directories of rel that hold `file` (file NULL: every
 * entry that may be a directory; the caller's get tells). */
static int child_dirs(struct kk_store *s, const char *rel, const char *file, struct kk_strv *out, kk_err_t *err) {
  cleanup_dir DIR *d = kk_dir_open_at(s->fd, rel, err);
  if (d == NULL) {
    if ((*err)->errnum == ENOENT || (*err)->errnum == ENOTDIR) {
      kk_error_free(err);
      return 0;
    }
    return kk_error_wrap(err, "%s", s->path);
  }
  int fd = dirfd(d);
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    if (de->d_name[0] == '.')
      continue;
    if (file == NULL) {
      if (de->d_type == DT_DIR || de->d_type == DT_UNKNOWN)
        kk_strv_push(out, de->d_name);
      continue;
    }
    cleanup_free char *f = kk_asprintf("%s/%s", de->d_name, file);
    struct stat st;
    if (fstatat(fd, f, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
      kk_strv_push(out, de->d_name);
  }
  kk_strv_sort(out);
  return 0;
}

static bool wild(const char *s) { return kk_empty(s); }

void kk_store_problems_free(struct kk_store_problems *p) {
  for (size_t i = 0; i < p->n; i++) {
    for (int k = 0; k < 5; k++)
      free(p->v[i].names[k]);
    free(p->v[i].path);
    free(p->v[i].reason);
  }
  free(p->v);
  p->v = NULL;
  p->n = 0;
}

struct kk_ref kk_store_problem_ref(const struct kk_store_problem *p) {
  return (struct kk_ref){.kind = p->kind, .realm = p->names[0], .space = p->names[1], .stack = p->names[2],
                         .cell = p->names[3], .name = p->names[4]};
}

/* "<bad>:<line>: why" -> "line <line>: why"; "<bad>: why" -> "why". */
static char *problem_reason(const char *msg, const char *bad) {
  if (kk_has_prefix(msg, bad))
    msg += strlen(bad);
  if (msg[0] == ':' && msg[1] >= '0' && msg[1] <= '9')
    return kk_asprintf("line %s", msg + 1);
  if (msg[0] == ':')
    msg++;
  return kk_xstrdup(msg + strspn(msg, " "));
}

/* err (KK_ERR_INTERNAL naming the file `bad`) becomes a problem of ref. */
static void add_problem(struct kk_store *s, struct kk_store_problems *out, const struct kk_ref *ref, char *bad,
                        kk_err_t *err) {
  char *why = problem_reason((*err)->msg, bad);
  if (out == NULL) {
    kk_warn("%s/%s: %s (skipped)", s->path, bad, why);
    free(why);
  } else {
    out->v = kk_xrealloc(out->v, (out->n + 1) * sizeof(*out->v));
    struct kk_store_problem *p = &out->v[out->n++];
    const char *names[5] = {ref->realm, ref->space, ref->stack, ref->cell, ref->name};
    p->kind = ref->kind;
    for (int k = 0; k < 5; k++)
      p->names[k] = names[k] ? kk_xstrdup(names[k]) : NULL;
    p->path = kk_xstrdup(bad);
    p->reason = why;
  }
  free(bad);
  kk_error_free(err);
}

/* One resource for a list: pushed, gone (deleted meanwhile), unreadable
 * (a problem, the others go on) or an error. */
static int list_one(struct kk_store *s, const struct kk_ref *ref, const struct kk_store_at *at, struct kk_doc **doc,
                    struct kk_store_problems *problems, kk_err_t *err) {
  char *bad = NULL;
  if (get_locked(s, ref, at, doc, &bad, err) == 0)
    return 0;
  if ((*err)->kind == KK_ERR_NOT_FOUND) {
    kk_error_free(err);
    free(bad);
    return 1;
  }
  if ((*err)->kind == KK_ERR_INTERNAL && bad != NULL) {
    add_problem(s, problems, ref, bad, err);
    return 1;
  }
  free(bad);
  return -1;
}

/* The directory a list's resources sit in, kept open while consecutive
 * paths share it (they come sorted, a stack's cells together). */
struct parent_dir {
  char *rel;
  int fd;
};

static void parent_dir_close(struct parent_dir *p) {
  if (p->fd >= 0)
    close(p->fd);
  free(p->rel);
}

/* Where path ("./realm/.../name") is, from its parent's open directory;
 * NULL when that cannot be opened (the get then walks from the run path). */
static const struct kk_store_at *at_parent(struct kk_store *s, struct parent_dir *p, const char *path,
                                           struct kk_store_at *at) {
  const char *slash = strrchr(path, '/');
  size_t n = (size_t)(slash - path);
  if (p->rel == NULL || strlen(p->rel) != n || strncmp(p->rel, path, n) != 0) {
    parent_dir_close(p);
    p->rel = kk_xstrndup(path, n);
    p->fd = openat(s->fd, p->rel, O_PATH | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
  }
  if (p->fd < 0)
    return NULL;
  *at = (struct kk_store_at){p->fd, slash + 1};
  return at;
}

int kk_store_list_report(struct kk_store *s, enum kk_kind kind, const struct kk_ref *scope, struct kk_doc_list *out,
                         struct kk_store_problems *problems, kk_err_t *err) {
  sync_changes(s);
  /* Walk level by level, expanding wildcards. Each path is a strv of names. */
  const char *want[4] = {scope ? scope->realm : NULL, scope ? scope->space : NULL, scope ? scope->stack : NULL,
                         scope ? scope->cell : NULL};
  int depth = kind == KK_KIND_CONTAINER ? 4 : (int)kind + 1; /* levels of directories to walk */
  struct kk_strv paths = {0};
  kk_strv_push(&paths, ".");
  int ret = 0;
  for (int level = 0; level < depth && ret == 0; level++) {
    struct kk_strv next = {0};
    for (size_t i = 0; i < paths.n && ret == 0; i++) {
      const char *file = kind_files[level];
      if (!wild(want[level])) {
        cleanup_free char *f = kk_asprintf("%s/%s/%s", paths.v[i], want[level], file);
        cleanup_error kk_err_t e = NULL;
        if (kk_validate_name((enum kk_kind)level, want[level], &e) == 0 && kk_exists_at(s->fd, f))
          kk_strv_push_owned(&next, kk_asprintf("%s/%s", paths.v[i], want[level]));
        continue;
      }
      struct kk_strv kids = {0};
      /* The last level's files are looked at by the get of each. */
      ret = child_dirs(s, paths.v[i], level == depth - 1 ? NULL : file, &kids, err);
      for (size_t k = 0; k < kids.n; k++)
        kk_strv_push_owned(&next, kk_asprintf("%s/%s", paths.v[i], kids.v[k]));
      kk_strv_free(&kids);
    }
    kk_strv_free(&paths);
    paths = next;
  }
  struct kk_doc_list got = {0};
  struct parent_dir parent = {NULL, -1};
  for (size_t i = 0; i < paths.n && ret == 0; i++) {
    struct kk_store_at where;
    const struct kk_store_at *at = at_parent(s, &parent, paths.v[i], &where);
    /* paths.v[i] is "./realm/space/..." down to the resource (or the cell). */
    char *parts[5] = {0};
    cleanup_free char *copy = kk_xstrdup(paths.v[i] + 2);
    int n = 0;
    char *save = NULL;
    for (char *p = strtok_r(copy, "/", &save); p && n < 5; p = strtok_r(NULL, "/", &save))
      parts[n++] = p;
    struct kk_ref ref = {.kind = kind, .realm = parts[0], .space = parts[1], .stack = parts[2], .cell = parts[3]};
    if (kind == KK_KIND_CONTAINER) {
      cleanup_doc struct kk_doc *cell = NULL;
      struct kk_ref cref = {.kind = KK_KIND_CELL, .realm = parts[0], .space = parts[1], .stack = parts[2],
                            .name = parts[3]};
      int r = list_one(s, &cref, at, &cell, problems, err);
      if (r != 0) {
        ret = r < 0 ? -1 : 0;
        continue;
      }
      for (size_t c = 0; c < cell->u.cell.spec.n_containers; c++) {
        const char *cname = cell->u.cell.spec.containers[c].id;
        if (!wild(scope ? scope->name : NULL) && !kk_streq(cname, scope->name))
          continue;
        kk_doc_list_push(&got, kk_container_doc_from_cell(&cell->u.cell, c));
      }
      continue;
    }
    ref.name = parts[n - 1];
    struct kk_doc *doc = NULL;
    int r = list_one(s, &ref, at, &doc, problems, err);
    if (r < 0)
      ret = -1;
    else if (r == 0)
      kk_doc_list_push(&got, doc);
  }
  parent_dir_close(&parent);
  kk_strv_free(&paths);
  if (ret < 0) {
    kk_doc_list_free(&got);
    return -1;
  }
  if (got.n > 1 && kind != KK_KIND_CONTAINER)
    qsort(got.docs, got.n, sizeof(*got.docs), ref_order);
  for (size_t i = 0; i < got.n; i++)
    kk_doc_list_push(out, got.docs[i]);
  free(got.docs);
  return 0;
}

int kk_store_list(struct kk_store *s, enum kk_kind kind, const struct kk_ref *scope, struct kk_doc_list *out,
                  kk_err_t *err) {
  return kk_store_list_report(s, kind, scope, out, NULL, err);
}

int kk_store_check(struct kk_store *s, struct kk_store_problems *problems, kk_err_t *err) {
  /* Each level reads only its own files (a cell: cell.yaml and its
   * containers), so every file is looked at once. */
  for (int kind = KK_KIND_REALM; kind <= KK_KIND_CELL; kind++) {
    cleanup_doc_list struct kk_doc_list docs = {0};
    if (kk_store_list_report(s, (enum kk_kind)kind, NULL, &docs, problems, err) < 0)
      return -1;
  }
  return 0;
}

/* ------------------------------------------------------------- delete */

static int delete_ref(struct kk_store *s, const struct kk_ref *ref, bool durable, kk_err_t *err) {
  if (check_ref(ref, err) < 0)
    return -1;
  if (!kk_store_exists(s, ref)) 
      return kk_store_not_found(ref, err);
  cleanup_free char *rel = kk_store_rel_dir(ref);
  if (ref->kind == KK_KIND_CONTAINER) {
    cleanup_close int dfd = kk_open_dir_at(s->fd, rel, err);
    if (dfd < 0)
      return -1;
    cleanup_close int lock = kk_lock_at(dfd, ".lock", true, err);
    if (lock < 0)
      return -1;
    cleanup_free char *file = kk_asprintf("containers/%s.yaml", ref->name);
    if (unlinkat(dfd, file, 0) < 0 && errno != ENOENT)
      return kk_error(err, errno, "remove %s/%s/%s", s->path, rel, file);
    return 0;
  }
  /* Remove the resource file first: from then on the resource is gone even
   * if the rest of the directory removal is interrupted. */
  {
    cleanup_close int dfd = kk_open_dir_at(s->fd, rel, err);
    if (dfd < 0)
      return -1;
    cleanup_close int lock = kk_lock_at(dfd, ".lock", true, err);
    if (lock < 0)
      return -1;
    if (unlinkat(dfd, kind_files[ref->kind], 0) < 0 && errno != ENOENT)
      return kk_error(err, errno, "remove %s/%s/%s", s->path, rel, kind_files[ref->kind]);
    if (durable && kk_fsync_dir(dfd, err) < 0)
      return -1;
  }
  kk_doc_cache_drop_under(s->parsed, rel);
  if (kk_rm_rf_at(s->fd, rel, err) < 0)
    return kk_error_wrap(err, "remove %s/%s", s->path, rel);
  return 0;
}

int kk_store_delete(struct kk_store *s, const struct kk_ref *ref, kk_err_t *err) {
  return delete_ref(s, ref, true, err);
}

int kk_store_delete_volatile(struct kk_store *s, const struct kk_ref *ref, kk_err_t *err) {
  return delete_ref(s, ref, false, err);
}

/* ------------------------------------------------------------ sweep */

/* fn(ctx, cell) for every cell directory holding the file `marker`. */
static int each_marked_cell(struct kk_store *s, const char *marker, kk_store_cell_fn fn, void *ctx, kk_err_t *err) {
  cleanup_doc_list struct kk_doc_list stacks = {0};
  if (kk_store_list(s, KK_KIND_STACK, NULL, &stacks, err) < 0)
    return -1;
  for (size_t i = 0; i < stacks.n; i++) {
    struct kk_ref st = kk_ref_of(stacks.docs[i]);
    struct kk_ref stack_ref = {.kind = KK_KIND_STACK, .realm = st.realm, .space = st.space, .name = st.name};
    cleanup_free char *rel = kk_store_rel_dir(&stack_ref);
    struct kk_strv cells = {0};
    if (child_dirs(s, rel, marker, &cells, err) < 0)
      return -1;
    int r = 0;
    for (size_t k = 0; k < cells.n && r == 0; k++) {
      struct kk_ref ref = {.kind = KK_KIND_CELL, .realm = st.realm, .space = st.space, .stack = st.name,
                           .name = cells.v[k]};
      r = fn(ctx, &ref, err);
    }
    kk_strv_free(&cells);
    if (r < 0)
      return -1;
  }
  return 0;
}

struct torn_sweep {
  struct kk_store *s;
  kk_store_torn_fn fn;
  void *ctx;
  int removed;
};

static int remove_if_torn(void *arg, const struct kk_ref *ref, kk_err_t *err) {
  struct torn_sweep *t = arg;
  cleanup_doc struct kk_doc *doc = NULL;
  kk_err_t e = NULL;
  if (get_locked(t->s, ref, NULL, &doc, NULL, &e) == 0 || e->kind != KK_ERR_NOT_FOUND) {
    kk_error_free(&e);
    return 0;
  }
  kk_error_free(&e);
  if (t->fn)
    t->fn(t->ctx, ref);
  cleanup_free char *crel = kk_store_rel_dir(ref);
  if (kk_rm_rf_at(t->s->fd, crel, err) < 0)
    return kk_error_wrap(err, "remove torn cell %s/%s", t->s->path, crel);
  t->removed++;
  return 0;
}

int kk_store_sweep_torn(struct kk_store *s, kk_store_torn_fn fn, void *ctx, kk_err_t *err) {
  struct torn_sweep t = {s, fn, ctx, 0};
  if (each_marked_cell(s, EPHEMERAL_MARK, remove_if_torn, &t, err) < 0)
    return -1;
  return t.removed;
}

/* ------------------------------------------------------------ intents */

#define INTENT_FILE ".intent.yaml"

static int open_cell_dir(struct kk_store *s, const struct kk_ref *cell, int *dfd, kk_err_t *err) {
  if (check_ref(cell, err) < 0)
    return -1;
  cleanup_free char *rel = kk_store_rel_dir(cell);
  *dfd = openat(s->fd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
  if (*dfd < 0 && (errno == ENOENT || errno == ENOTDIR))
    return kk_store_not_found(cell, err);
  if (*dfd < 0)
    return kk_error(err, errno, "open %s/%s", s->path, rel);
  return 0;
}

int kk_store_intent_put(struct kk_store *s, const struct kk_doc *cell, kk_err_t *err) {
  struct kk_ref ref = kk_ref_of(cell);
  if (kk_doc_check_size(cell, err) < 0)
    return -1;
  cleanup_close int dfd = -1;
  if (open_cell_dir(s, &ref, &dfd, err) < 0)
    return -1;
  cleanup_free char *yaml = kk_doc_to_yaml(cell);
  if (kk_write_file_atomic(dfd, INTENT_FILE, yaml, strlen(yaml), STORE_FILE_MODE, NULL, err) < 0)
    return kk_error_wrap(err, "write the intent record of cell %s", ref.name);
  return 0;
}

int kk_store_intent_get(struct kk_store *s, const struct kk_ref *cell, struct kk_doc **out, kk_err_t *err) {
  cleanup_close int dfd = -1;
  if (open_cell_dir(s, cell, &dfd, err) < 0) {
    if ((*err)->kind != KK_ERR_NOT_FOUND)
      return -1;
    kk_error_free(err);
    return 1;
  }
  cleanup_free char *rel = kk_store_rel_dir(cell);
  struct kk_file_version v;
  if (read_doc_at(s, dfd, rel, INTENT_FILE, KK_KIND_CELL, cell->name, out, &v, NULL, err) == 0)
    return 0;
  if ((*err)->errnum != ENOENT) {
    kk_warn("%s/%s: %s (removed)", s->path, rel, (*err)->msg);
    unlinkat(dfd, INTENT_FILE, 0);
  }
  kk_error_free(err);
  return 1;
}

int kk_store_intent_clear(struct kk_store *s, const struct kk_ref *cell, kk_err_t *err) {
  cleanup_close int dfd = -1;
  if (open_cell_dir(s, cell, &dfd, err) < 0)
    return -1;
  if (unlinkat(dfd, INTENT_FILE, 0) < 0 && errno != ENOENT)
    return kk_error(err, errno, "remove the intent record of cell %s", cell->name);
  return 0;
}

int kk_store_each_intent(struct kk_store *s, kk_store_cell_fn fn, void *ctx, kk_err_t *err) {
  return each_marked_cell(s, INTENT_FILE, fn, ctx, err);
}

/* Depth 0 is the run path, 1..4 realm, space, stack and cell directories
 * (only those holding their resource file: the run path also holds
 * images/, snapshots/ and containers/, whose files are not the store's). */
static int sweep_temps_below(struct kk_store *s, const char *rel, int depth) {
  cleanup_close int fd = openat(s->fd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0)
    return 0;
  int removed = kk_sweep_stale_temps(fd);
  if (depth == KK_KIND_CELL + 1) {
    cleanup_close int cfd = openat(fd, "containers", O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    return removed + (cfd >= 0 ? kk_sweep_stale_temps(cfd) : 0);
  }
  struct kk_strv kids = {0};
  kk_err_t e = NULL;
  if (child_dirs(s, rel, kind_files[depth], &kids, &e) < 0)
    kk_error_free(&e);
  for (size_t i = 0; i < kids.n; i++) {
    cleanup_free char *sub = kk_asprintf("%s/%s", rel, kids.v[i]);
    removed += sweep_temps_below(s, sub, depth + 1);
  }
  kk_strv_free(&kids);
  return removed;
}

int kk_store_sweep_temps(struct kk_store *s) { return sweep_temps_below(s, ".", 0); }

/* Only what put or delete_ref worked in: they lock the directory's .lock
 * before they write or unlink anything (a create killed before that left
 * an empty directory).  Not a directory someone else keeps there. */
static bool made_by_store(struct kk_store *s, const char *rel) {
  cleanup_free char *lock = kk_asprintf("%s/.lock", rel);
  if (kk_exists_at(s->fd, lock))
    return true;
  kk_err_t e = NULL;
  cleanup_dir DIR *d = kk_dir_open_at(s->fd, rel, &e);
  kk_error_free(&e);
  struct dirent *de;
  while (d && (de = readdir(d)) != NULL)
    if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
      return false;
  return d != NULL;
}

/* names[0..depth-1] are the realm, space, ... of the directory rel. */
static int sweep_unborn_below(struct kk_store *s, const char *rel, const char **names, int depth,
                              kk_store_unborn_fn fn, void *ctx) {
  kk_err_t e = NULL;
  cleanup_dir DIR *d = kk_dir_open_at(s->fd, rel, &e);
  kk_error_free(&e);
  int removed = 0;
  struct dirent *de;
  while (d && (de = readdir(d)) != NULL) {
    const char *name = de->d_name;
    struct stat st;
    if (name[0] == '.' || fstatat(dirfd(d), name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
      continue;
    if (depth == 0 && kk_validate_name(KK_KIND_REALM, name, &e) < 0) {
      kk_error_free(&e); /* images/, snapshots/, containers/, ...: not a realm */
      continue;
    }
    cleanup_free char *sub = kk_asprintf("%s/%s", rel, name);
    cleanup_free char *file = kk_asprintf("%s/%s", sub, kind_files[depth]);
    names[depth] = name;
    if (fstatat(s->fd, file, &st, AT_SYMLINK_NOFOLLOW) == 0) {
      if (depth < KK_KIND_CELL)
        removed += sweep_unborn_below(s, sub, names, depth + 1, fn, ctx);
      continue;
    }
    if (!made_by_store(s, sub))
      continue;
    struct kk_ref ref = {.kind = (enum kk_kind)depth, .realm = names[0], .space = depth >= 2 ? names[1] : NULL,
                         .stack = depth >= 3 ? names[2] : NULL, .name = name};
    if (fn && fn(ctx, &ref) < 0)
      continue;
    if (kk_rm_rf_at(s->fd, sub, &e) < 0) {
      kk_warn("remove %s/%s: %s", s->path, sub, e->msg);
      kk_error_free(&e);
      continue;
    }
    removed++;
  }
  return removed;
}

int kk_store_sweep_unborn(struct kk_store *s, kk_store_unborn_fn fn, void *ctx) {
  const char *names[KK_KIND_CELL + 1] = {0};
  return sweep_unborn_below(s, ".", names, 0, fn, ctx);
}

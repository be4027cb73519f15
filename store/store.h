/* The on-disk state tree under --run-path (the seeds' layout):
 *
 *   <run>/<realm>/realm.yaml
 *   <run>/<realm>/<space>/space.yaml
 *   <run>/<realm>/<space>/network.conflist      (written by netns/)
 *   <run>/<realm>/<space>/<stack>/stack.yaml
 *   <run>/<realm>/<space>/<stack>/<cell>/cell.yaml
 *   <run>/<realm>/<space>/<stack>/<cell>/containers/<container>.yaml
 *   <run>/<realm>/<space>/<stack>/<cell>/.intent.yaml   (an update under way)
 *   <run>/run/
 *
 * Every file is one YAML document (spec + status), written atomically.
 * A resource exists iff its own file exists: a directory left by a crash
 * before the file was written is invisible and reused by the next create.
 * Locking: `.lock` sidecars, flock(2) shared for reads and exclusive for
 * writes, plus a tree lock that the controller holds across a
 * read-modify-write so two processes never interleave. */
#ifndef KK_STORE_H
#define KK_STORE_H

#include <stdbool.h>

#include "lib/error.h"
#include "lib/fs.h"
#include "model/model.h"

struct kk_store;

/* Opens (and with create, makes) the run path. */
int kk_store_open(const char *run_path, bool create, struct kk_store **out, kk_err_t *err);
void kk_store_close(struct kk_store *s);
void kk_store_closep(struct kk_store **s);
#define cleanup_store KK_CLEANUP(kk_store_closep)
const char *kk_store_path(const struct kk_store *s);
int kk_store_fd(const struct kk_store *s); /* dirfd of the run path */
/* For a long-lived reader (kukeond): the directories of what it read are
 * watched (inotify), so that a get or list of unchanged resources reads
 * and stats nothing.  Without it (or past the user's inotify limits) each
 * file is stat'ed instead; the answers are the same. */
void kk_store_watch_changes(struct kk_store *s);

/* Which resource: realm/space/stack/cell name the parents, `name` the
 * resource itself (for a realm, realm == name).  NULL or "" in a list scope
 * is a wildcard. */
struct kk_ref {
  enum kk_kind kind;
  const char *realm;
  const char *space;
  const char *stack;
  const char *cell;
  const char *name;
};
/* The ref of a document, from its metadata and spec parent ids. */
struct kk_ref kk_ref_of(const struct kk_doc *doc);
/* "realm \"a\"", "space \"b\" in realm \"a\"", ... for messages. */
char *kk_ref_describe(const struct kk_ref *ref);
/* Fill a KK_ERR_NOT_FOUND error: cell "c" not found in realm "r", ... */
int kk_store_not_found(const struct kk_ref *ref, kk_err_t *err);

/* Tree lock held by the controller across read-modify-write sequences.
 * Returns an fd to close (cleanup_close) to release it. */
int kk_store_lock(struct kk_store *s, bool exclusive, kk_err_t *err);

/* Read one resource.  KK_ERR_NOT_FOUND when it does not exist; a corrupt
 * file is KK_ERR_INTERNAL naming the file.  A cell comes back with its
 * containers (root first, then by id) and their statuses. */
int kk_store_get(struct kk_store *s, const struct kk_ref *ref, struct kk_doc **out, kk_err_t *err);
bool kk_store_exists(struct kk_store *s, const struct kk_ref *ref);
/* The error of kk_store_get for a file that exists but cannot be read. */
bool kk_store_is_corrupt(const kk_err_t e);

/* Write a resource (spec + status).  The parent must exist
 * (KK_ERR_NOT_FOUND naming it).  With `create`, an existing resource is
 * KK_ERR_EXISTS.  Cells: containers/<id>.yaml for each container, then
 * cell.yaml, then stale container files are removed.  Durable (fsync'd)
 * except for an ephemeral cell (kk_store_sweep_torn). */
int kk_store_put(struct kk_store *s, const struct kk_doc *doc, bool create, kk_err_t *err);
/* The same for a resource whose spec is on disk already and whose status
 * changed: replaced atomically but not fsynced.  After a power cut the file
 * holds this status or an earlier one, which observation corrects (a
 * cell's containers are read from their monitors). */
int kk_store_put_status(struct kk_store *s, const struct kk_doc *doc, kk_err_t *err);

/* A state file that cannot be read (too big, cut short, not YAML, not one
 * document of its kind).  It never stops a listing: the resource is left
 * out and reported. */
struct kk_store_problem {
  enum kk_kind kind; /* of the resource the file belongs to (a container file: its cell) */
  char *names[5];    /* realm, space, stack, cell, name (kk_store_problem_ref) */
  char *path;        /* relative to the run path: "r/s/t/c/cell.yaml" */
  char *reason;      /* "larger than 4194304 bytes", "3: invalid YAML: ..." */
};
struct kk_store_problems {
  struct kk_store_problem *v;
  size_t n;
};
void kk_store_problems_free(struct kk_store_problems *p);
#define cleanup_store_problems KK_CLEANUP(kk_store_problems_free)
struct kk_ref kk_store_problem_ref(const struct kk_store_problem *p);

/* Every resource of `kind` under `scope` (wildcards allowed), sorted by
 * realm, space, stack, cell, name.  Unreadable resources are skipped and
 * added to `problems` (NULL: logged as warnings). */
int kk_store_list_report(struct kk_store *s, enum kk_kind kind, const struct kk_ref *scope, struct kk_doc_list *out,
                         struct kk_store_problems *problems, kk_err_t *err);
int kk_store_list(struct kk_store *s, enum kk_kind kind, const struct kk_ref *scope, struct kk_doc_list *out,
                  kk_err_t *err);
/* Every unreadable state file under the run path (kuke doctor). */
int kk_store_check(struct kk_store *s, struct kk_store_problems *problems, kk_err_t *err);

/* Remove a resource and everything under it (its directory). */
int kk_store_delete(struct kk_store *s, const struct kk_ref *ref, kk_err_t *err);
/* The same without the fsync, for a resource whose return after a power
 * cut is harmless: an auto-delete cell comes back with its containers
 * ended, and is deleted again. */
int kk_store_delete_volatile(struct kk_store *s, const struct kk_ref *ref, kk_err_t *err);

/* A cell with spec.autoDelete is ephemeral: a power cut ends its
 * containers and it would be deleted anyway, so its metadata is written
 * without fsync (create, updates and delete), behind an empty ".ephemeral"
 * file made first in its directory.  After a power cut such a cell may be
 * torn (cell.yaml or a container file missing, empty or cut short): it then
 * reads as not found, and this removes it, calling fn(ctx, cell) first so
 * that the caller can remove what its containers left on the host.  The
 * caller holds the tree lock (kk_store_lock).  How many it removed. */
typedef void (*kk_store_torn_fn)(void *ctx, const struct kk_ref *cell);
int kk_store_sweep_torn(struct kk_store *s, kk_store_torn_fn fn, void *ctx, kk_err_t *err);

/* An intent record: the whole cell (spec, status, containers) that an
 * operation writing several of its files (and changing its containers on
 * the host) brings it to, written durably as .intent.yaml in the cell's
 * directory before the first change and removed after the last.  A SIGKILL
 * in between leaves it, and the controller completes the operation from
 * it.  It goes with the cell's directory (delete, unborn sweep).  The
 * caller holds the tree lock. */
int kk_store_intent_put(struct kk_store *s, const struct kk_doc *cell, kk_err_t *err);
/* The cell's pending intent: 0 and *out, or 1 when it has none.  A record
 * that cannot be read (a power cut can leave one only on a filesystem that
 * breaks rename's promise) is removed, with a warning, and counts as none. */
int kk_store_intent_get(struct kk_store *s, const struct kk_ref *cell, struct kk_doc **out, kk_err_t *err);
/* Not synced: a record a power cut brings back is completed again, which
 * changes nothing. */
int kk_store_intent_clear(struct kk_store *s, const struct kk_ref *cell, kk_err_t *err);
/* fn(ctx, cell) for every cell with a pending intent (one readdir per
 * stack).  fn < 0 stops the walk with its error. */
typedef int (*kk_store_cell_fn)(void *ctx, const struct kk_ref *cell, kk_err_t *err);
int kk_store_each_intent(struct kk_store *s, kk_store_cell_fn fn, void *ctx, kk_err_t *err);

/* Temp files of writers that died mid-write (kk_sweep_stale_temps) in the
 * run path itself and in every realm, space, stack and cell directory and
 * a cell's containers/ (a directory whose resource file was never written
 * is swept when a create reuses it).  put sweeps the directories it writes
 * in; this sweeps the whole tree.  The caller holds the tree lock.  How
 * many it removed. */
int kk_store_sweep_temps(struct kk_store *s);

/* A realm, space, stack or cell directory without its resource file is
 * unborn: a create killed after it made the directory (and the caller its
 * cgroup) but before the file was written, or a delete killed after it
 * unlinked the file.  Nothing reads it; this removes every such directory
 * (with what is below it), calling fn(ctx, ref) first so that the caller
 * can remove what it made on the host for it; fn < 0 keeps the directory
 * (tried again next time).  Top-level directories count as realms only
 * when their name is a valid realm name (not images/, snapshots/, ...).
 * The caller holds the tree lock.  How many it removed. */
typedef int (*kk_store_unborn_fn)(void *ctx, const struct kk_ref *ref);
int kk_store_sweep_unborn(struct kk_store *s, kk_store_unborn_fn fn, void *ctx);

/* Directory of a resource relative to the run path ("default/default"). */
char *kk_store_rel_dir(const struct kk_ref *ref);

/* Test hook: interrupt atomic writes at a step (see lib/fs.h). */
void kk_store_set_write_hook(struct kk_store *s, const struct kk_atomic_hook *hook);

#endif

/* The runc command line: start, kill, delete, state, list.  (`runc create`
 * runs inside the monitor, which must be the container's parent.)  runc is
 * exec'd with posix_spawn, safe from the daemon's threads; its stderr is
 * kept for the error message. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/spawn.h"
#include "lib/fs.h"
#include "lib/util.h"
#include "runtime/runtime.h"


#define RUNC_OUTPUT_MAX (4u << 20)

/* runc's text errors look like `time="..." level=error msg="why"`; keep
 * the msg when there is one, else the last non-empty line. */
static char *runc_message(const char *out) {
  const char *m = strstr(out, "msg=\"");
  if (m) {
    m += 5;
    char *s = kk_xstrdup(m);
    char *w = s;
    for (const char *r = m; *r && *r != '"'; r++) {
      if (*r == '\\' && r[1])
        r++;
      *w++ = *r;
    }
    *w = '\0';
    return s;
  }
  cleanup_free char *copy = kk_xstrdup(out);
  size_t n = strlen(copy);
  while (n > 0 && (copy[n - 1] == '\n' || copy[n - 1] == ' '))
    copy[--n] = '\0';
  char *nl = strrchr(copy, '\n');
  return kk_xstrdup(nl ? nl + 1 : copy);
}

/* Run `runc --root R <args...>`; stdout in *out (may be NULL), exit status
 * in *status.  The error (when runc could not be run at all) is ours. */
static int runc_exec(const struct kk_runc *r, const char *const *args, char **out, char **errout, int *status,
                     kk_err_t *err) {
  const char *argv[16];
  size_t n = 0;
  const char *bin = r->bin ? r->bin : "runc";
  argv[n++] = bin;
  argv[n++] = "--root";
  argv[n++] = r->root;
  for (size_t i = 0; args[i] && n < KK_ARRAY_SIZE(argv) - 1; i++)
    argv[n++] = args[i];
  argv[n] = NULL;
  int po[2], pe[2];
  if (pipe2(po, O_CLOEXEC) < 0)
    return kk_error(err, errno, "pipe");
  if (pipe2(pe, O_CLOEXEC) < 0) {
    int e = errno;
    close(po[0]);
    close(po[1]);
    return kk_error(err, e, "pipe");
  }
  struct kk_spawn s = {.path = bin, .argv = (char *const *)argv, .search = true, .in = -1, .out = po[1], .err = pe[1]};
  pid_t pid;
  int rc = kk_spawn(&s, &pid);
  close(po[1]);
  close(pe[1]);
  if (rc != 0) {
    close(po[0]);
    close(pe[0]);
    return kk_error_kind(err, KK_ERR_UNAVAILABLE, rc, "cannot run %s", bin);
  }
  /* runc's output is small; read both pipes to the end (stderr after
   * stdout would deadlock only past the 64 KiB pipe buffer, which state and
   * list never reach on stderr). */
  cleanup_free char *o = NULL, *e = NULL;
  size_t ol = 0, el = 0;
  kk_err_t rerr = NULL;
  if (kk_read_fd(po[0], RUNC_OUTPUT_MAX, "runc output", &o, &ol, &rerr) < 0)
    kk_error_free(&rerr);
  if (kk_read_fd(pe[0], RUNC_OUTPUT_MAX, "runc errors", &e, &el, &rerr) < 0)
    kk_error_free(&rerr);
  close(po[0]);
  close(pe[0]);
  int st = 0;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
    ;
  *status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  if (out)
    *out = o ? kk_steal(&o) : kk_xstrdup("");
  if (errout)
    *errout = e ? runc_message(e) : kk_xstrdup("");
  return 0;
}

static int runc_simple(const struct kk_runc *r, const char *const *args, const char *what, const char *id,
                       kk_err_t *err) {
  cleanup_free char *msg = NULL;
  int st;
  if (runc_exec(r, args, NULL, &msg, &st, err) < 0)
    return -1;
  if (st != 0) {
    enum kk_err_kind kind = strstr(msg, "does not exist") || strstr(msg, "not exist") ? KK_ERR_NOT_FOUND
                                                                                      : KK_ERR_INTERNAL;
    return kk_error_kind(err, kind, 0, "runc %s %s: %s", what, id, *msg ? msg : "failed");
  }
  return 0;
}

int kk_runc_kill(const struct kk_runc *r, const char *id, int sig, bool all, kk_err_t *err) {
  char num[16];
  snprintf(num, sizeof(num), "%d", sig);
  const char *args[] = {"kill", all ? "--all" : id, all ? id : num, all ? num : NULL, NULL};
  return runc_simple(r, args, "kill", id, err);
}

int kk_runc_delete(const struct kk_runc *r, const char *id, bool force, kk_err_t *err) {
  /* No state directory: nothing to delete (cheaper than exec'ing runc). */
  cleanup_free char *dir = kk_asprintf("%s/%s", r->root, id);
  if (access(dir, F_OK) < 0 && errno == ENOENT)
    return 0;
  const char *args[] = {"delete", force ? "--force" : id, force ? id : NULL, NULL};
  if (runc_simple(r, args, "delete", id, err) < 0) {
    if ((*err)->kind == KK_ERR_NOT_FOUND) {
      kk_error_free(err);
      return 0; /* already gone is what delete wants */
    }
    return -1;
  }
  return 0;
}

/* runc's record of a container that was started is <root>/<id>/state.json
 * alone (exec.fifo goes at the start); whether that is all there is. */
static bool only_state_json(int dfd) {
  kk_err_t e = NULL;
  cleanup_dir DIR *d = kk_dir_open_at(dfd, NULL, &e);
  if (d == NULL) {
    kk_error_free(&e);
    return false;
  }
  bool only = true;
  struct dirent *de;
  while (only && (de = readdir(d)) != NULL)
    only = strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 || strcmp(de->d_name, "state.json") == 0;
  return only;
}

int kk_runc_forget_stopped(const struct kk_runc *r, const char *id, kk_err_t *err) {
  cleanup_free char *dir = kk_asprintf("%s/%s", r->root, id);
  cleanup_close int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dfd < 0) {
    if (errno == ENOENT)
      return 0;
    return kk_error(err, errno, "open %s", dir);
  }
  if (only_state_json(dfd) && (unlinkat(dfd, "state.json", 0) == 0 || errno == ENOENT) &&
      (rmdir(dir) == 0 || errno == ENOENT))
    return 0;
  /* Not the record we know: runc judges it. */
  return kk_runc_delete(r, id, true, err);
}

static enum kk_runc_status status_of(const char *s) {
  static const struct {
    const char *name;
    enum kk_runc_status st;
  } map[] = {{"created", KK_RUNC_CREATED}, {"running", KK_RUNC_RUNNING}, {"stopped", KK_RUNC_STOPPED},
             {"paused", KK_RUNC_PAUSED}, {"creating", KK_RUNC_CREATED}};
  for (size_t i = 0; s && i < KK_ARRAY_SIZE(map); i++)
    if (strcmp(s, map[i].name) == 0)
      return map[i].st;
  return KK_RUNC_UNKNOWN;
}

int kk_runc_state(const struct kk_runc *r, const char *id, enum kk_runc_status *st, pid_t *pid, kk_err_t *err) {
  /* No state directory: runc has no record (cheaper than exec'ing runc). */
  cleanup_free char *dir = kk_asprintf("%s/%s", r->root, id);
  if (access(dir, F_OK) < 0 && errno == ENOENT) {
    *st = KK_RUNC_ABSENT;
    if (pid)
      *pid = 0;
    return 0;
  }
  const char *args[] = {"state", id, NULL};
  cleanup_free char *out = NULL, *msg = NULL;
  int status;
  if (runc_exec(r, args, &out, &msg, &status, err) < 0)
    return -1;
  if (status != 0) {
    if (strstr(msg, "does not exist")) {
      *st = KK_RUNC_ABSENT;
      if (pid)
        *pid = 0;
      return 0;
    }
    return kk_error_kind(err, KK_ERR_INTERNAL, 0, "runc state %s: %s", id, msg);
  }
  json_t *j = json_loads(out, 0, NULL);
  if (j == NULL)
    return kk_error_kind(err, KK_ERR_INTERNAL, 0, "runc state %s: unreadable output", id);
  *st = status_of(json_string_value(json_object_get(j, "status")));
  if (pid)
    *pid = (pid_t)json_integer_value(json_object_get(j, "pid"));
  json_decref(j);
  return 0;
}

int kk_runc_list(const struct kk_runc *r, struct kk_strv *ids, kk_err_t *err) {
  if (access(r->root, F_OK) < 0 && errno == ENOENT)
    return 0;
  const char *args[] = {"list", "--quiet", NULL};
  cleanup_free char *out = NULL, *msg = NULL;
  int status;
  if (runc_exec(r, args, &out, &msg, &status, err) < 0)
    return -1;
  if (status != 0)
    return kk_error_kind(err, KK_ERR_INTERNAL, 0, "runc list: %s", msg);
  for (char *save = NULL, *line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
    if (*line)
      kk_strv_push(ids, line);
  return 0;
}

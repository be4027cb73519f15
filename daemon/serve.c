/* kukeond serve: the socket, the pid file, signals, one thread per client
 * connection, and the supervisor thread (reconcile passes, exits). */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/resource.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "api/api.h"
#include "daemon/daemon.h"
#include "lib/fs.h"
#include "lib/log.h"
#include "lib/util.h"

/* Connection limits (kukeond(8), LIMITS).  The table holds at most
 * MAX_CONNECTIONS and never more than the fd limit minus FD_RESERVE, so
 * connections cannot take the fds the store, runc's pipes and the monitors
 * need.  A non-root uid holds at most 1/UID_SHARE of the table; root always
 * gets a slot: when the table is full it evicts the oldest idle connection
 * of the uid that holds the most. */
#define MAX_CONNECTIONS 1024
#define FD_RESERVE 256
#define UID_SHARE 4
#define IDLE_TIMEOUT_MS 10000 /* a connection that has not started a request */
#define EVICT_WAIT_MS 500
#define ACCEPT_BACKOFF_MS 100 /* after EMFILE/ENFILE: the listen fd rests this long */
#define LOG_INTERVAL_MS 10000 /* one line per kind of trouble per interval */
#define DRAIN_TIMEOUT_SEC 30
#define THREAD_STACK (512u << 10)

struct conn_slot {
  int fd;             /* -1 = free */
  uid_t uid;          /* the peer's */
  bool busy;          /* a request is being served */
  bool evicted;       /* shut down for root; its thread is on its way out */
  uint64_t idle_seq;  /* when it last became idle: smaller is older */
};

/* One line per interval; the lines in between are counted, not printed. */
struct log_limit {
  int64_t last_ms;
  unsigned suppressed;
};

/* The daemon's top-level state: shared by the accept loop and the
 * connection threads, guarded by `mu` (the log limits and the accept pause
 * belong to the accept loop alone: evict_one runs there too). */
struct server {
  const struct kk_daemon_config *cfg;
  struct kk_controller *ctl;
  pthread_mutex_t mu;
  pthread_cond_t idle;
  struct conn_slot *slots;
  int capacity; /* slots in the table */
  int per_uid;  /* slots one non-root uid may hold */
  int active;
  uint64_t seq;
  bool stopping;
  int64_t accept_paused_until; /* monotonic ms; 0 = accepting */
  struct log_limit accept_log, refuse_log, evict_log;
};

struct conn_arg {
  struct server *srv;
  int slot;
  int fd;
  uid_t uid;
  pid_t pid;
};

/* True when a line may be printed now; then `held` is the log field value
 * saying how many were held back since the last one (NULL when none: the
 * field is left out). */
static bool log_allowed(struct log_limit *l, char held[static KK_LOG_NUM_MAX], const char **held_field) {
  int64_t now = kk_monotonic_ms();
  if (l->last_ms != 0 && now - l->last_ms < LOG_INTERVAL_MS) {
    l->suppressed++;
    return false;
  }
  *held_field = l->suppressed > 0 ? kk_log_num(held, l->suppressed) : NULL;
  l->suppressed = 0;
  l->last_ms = now;
  return true;
}

/* ----------------------------------------------------------- limits */

/* The soft fd limit up to the hard one; returns the limit in force. */
static long raise_fd_limit(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
    return 1024;
  rlim_t want = rl.rlim_max == RLIM_INFINITY ? (rlim_t)1 << 20 : rl.rlim_max;
  if (rl.rlim_cur < want) {
    struct rlimit up = {want, rl.rlim_max};
    if (setrlimit(RLIMIT_NOFILE, &up) == 0)
      rl.rlim_cur = want;
    else {
      char from[KK_LOG_NUM_MAX], to[KK_LOG_NUM_MAX];
      kk_log_kv(KK_LOG_WARN, "cannot raise the open file limit", "from", kk_log_num(from, (long long)rl.rlim_cur),
                "to", kk_log_num(to, (long long)want), "error", strerror(errno), NULL);
    }
  }
  return rl.rlim_cur > (rlim_t)1 << 30 ? 1L << 30 : (long)rl.rlim_cur;
}

/* Connection slots that fit in the fd limit with FD_RESERVE to spare. */
static int connection_capacity(long nofile) {
  long cap = nofile - FD_RESERVE;
  if (cap < nofile / 2)
    cap = nofile / 2; /* a tiny limit: share it */
  if (cap > MAX_CONNECTIONS)
    cap = MAX_CONNECTIONS;
  return cap < 1 ? 1 : (int)cap;
}

/* ----------------------------------------------------------- peers */

/* Root, or a member (primary or supplementary) of the socket's group. */
static bool peer_allowed(const struct kk_daemon_config *cfg, int fd, uid_t *uid_out, pid_t *pid_out) {
  struct ucred cred;
  socklen_t len = sizeof(cred);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
    return false;
  *uid_out = cred.uid;
  *pid_out = cred.pid;
  if (cred.uid == 0)
    return true;
  if (cfg->socket_gid <= 0)
    return false;
  if ((long)cred.gid == cfg->socket_gid)
    return true;
  gid_t groups[256];
  socklen_t glen = sizeof(groups);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &glen) == 0) {
    for (size_t i = 0; i < glen / sizeof(gid_t); i++)
      if ((long)groups[i] == cfg->socket_gid)
        return true;
  }
  return false;
}

/* An error reply within timeout_ms (0: only if it fits in the socket's
 * buffer right now, for peers that must not hold anyone up). */
static void reply_error(int fd, enum kk_err_kind kind, const char *msg, int timeout_ms) {
  uint8_t *resp = NULL;
  size_t len = 0;
  kk_api_error_response(kind, msg, &resp, &len);
  kk_err_t e = NULL;
  kk_frame_write_timeout(fd, resp, len, timeout_ms, &e);
  kk_error_free(&e);
  free(resp);
}

/* Tell a peer why, without waiting for it, and hang up. */
static void refuse(struct server *srv, int fd, uid_t uid, pid_t pid, enum kk_err_kind kind, const char *msg) {
  char held[KK_LOG_NUM_MAX], u[KK_LOG_NUM_MAX], p[KK_LOG_NUM_MAX];
  const char *held_field = NULL;
  if (log_allowed(&srv->refuse_log, held, &held_field))
    kk_log_kv(KK_LOG_INFO, "refused a connection", "uid", kk_log_num(u, (long long)uid), "pid",
              kk_log_num(p, pid), "reason", msg, "held_back", held_field, NULL);
  reply_error(fd, kind, msg, 0);
  close(fd);
}

/* ------------------------------------------------------ connections */

static void set_busy(struct server *srv, int slot, bool busy) {
  pthread_mutex_lock(&srv->mu);
  srv->slots[slot].busy = busy;
  if (!busy)
    srv->slots[slot].idle_seq = srv->seq++;
  pthread_mutex_unlock(&srv->mu);
}

static void release_slot(struct server *srv, int slot) {
  pthread_mutex_lock(&srv->mu);
  close(srv->slots[slot].fd);
  srv->slots[slot] = (struct conn_slot){.fd = -1};
  srv->active--;
  pthread_cond_broadcast(&srv->idle);
  pthread_mutex_unlock(&srv->mu);
}

static void log_conn_error(int fd, const char *what, const struct kk_error *err) {
  char conn[KK_LOG_NUM_MAX];
  kk_log_kv(KK_LOG_DEBUG, what, "conn", kk_log_num(conn, fd), "error", err->msg, NULL);
}

/* Read one request and what came with it: 1 got it, 0 the connection is done. */
static int read_request(int fd, struct kk_api_call *call, uint8_t **req, size_t *len) {
  kk_err_t err = NULL;
  int r = kk_frame_read_fds(fd, IDLE_TIMEOUT_MS, req, len, call->in_fds, &call->n_in_fds, &err);
  if (r < 0) {
    log_conn_error(fd, "request not read", err);
    if (err->kind == KK_ERR_INVALID || err->kind == KK_ERR_UNAVAILABLE)
      reply_error(fd, err->kind, err->msg, 0);
    kk_error_free(&err);
  }
  return r > 0;
}

/* One request: what came with it is closed before the reply goes out, so
 * a client reading pipes it passed sees their end first. */
static int serve_request(struct server *srv, int fd, struct kk_api_call *call, const uint8_t *req, size_t len,
                         kk_err_t *err) {
  uint8_t *resp = NULL;
  size_t resp_len = 0;
  kk_api_dispatch(srv->ctl, call, req, len, &resp, &resp_len);
  kk_close_fds(call->in_fds, &call->n_in_fds);
  int w = kk_frame_write_fds(fd, resp, resp_len, call->out_fds, call->n_out_fds, KK_API_FRAME_DEADLINE_MS, err);
  kk_close_fds(call->out_fds, &call->n_out_fds);
  free(resp);
  return w;
}

static void *serve_conn(void *p) {
  struct conn_arg a = *(struct conn_arg *)p;
  free(p);
  struct server *srv = a.srv;
  /* Root is never restricted; everyone else by the daemon's policy. */
  struct kk_api_call call = {.uid = a.uid, .pid = a.pid, .policy = a.uid == 0 ? NULL : srv->cfg->policy, .remote = true,
                             .cancel_fd = a.fd};
  uint8_t *req = NULL;
  size_t len = 0;
  while (read_request(a.fd, &call, &req, &len)) {
    kk_err_t err = NULL;
    set_busy(srv, a.slot, true);
    int w = serve_request(srv, a.fd, &call, req, len, &err);
    free(req);
    if (w == 0 && call.stream != NULL)
      kk_api_stream_run(&call, a.fd); /* log, attach: the connection's last use */
    bool streamed = call.stream != NULL || call.hang_up;
    kk_api_stream_free(&call.stream);
    call.hang_up = false;
    set_busy(srv, a.slot, false);
    if (w < 0) {
      log_conn_error(a.fd, "reply not written", err);
      kk_error_free(&err);
      break;
    }
    if (streamed)
      break;
  }
  release_slot(srv, a.slot);
  return NULL;
}

static int compare_uid(const void *a, const void *b) {
  uid_t x = *(const uid_t *)a, y = *(const uid_t *)b;
  return x < y ? -1 : x > y;
}

/* The uid holding the most live slots (mu held); -1 when none. */
static long busiest_uid(struct server *srv) {
  cleanup_free uid_t *uids = kk_xmalloc((size_t)srv->capacity * sizeof(uid_t));
  int n = 0;
  for (int i = 0; i < srv->capacity; i++)
    if (srv->slots[i].fd >= 0 && !srv->slots[i].evicted)
      uids[n++] = srv->slots[i].uid;
  qsort(uids, (size_t)n, sizeof(uid_t), compare_uid);
  long best = -1;
  for (int i = 0, run = 0, best_run = 0; i < n; i++) {
    run = i > 0 && uids[i] == uids[i - 1] ? run + 1 : 1;
    if (run > best_run) {
      best_run = run;
      best = (long)uids[i];
    }
  }
  return best;
}

/* Shut down the oldest idle connection of the busiest uid (mu held):
 * its thread sees EOF and frees the slot.  False when all are busy. */
static bool evict_one(struct server *srv) {
  long uid = busiest_uid(srv);
  int victim = -1;
  for (int i = 0; i < srv->capacity; i++) {
    const struct conn_slot *c = &srv->slots[i];
    if (c->fd >= 0 && !c->evicted && !c->busy && (long)c->uid == uid &&
        (victim < 0 || c->idle_seq < srv->slots[victim].idle_seq))
      victim = i;
  }
  if (victim < 0)
    return false;
  char held[KK_LOG_NUM_MAX], u[KK_LOG_NUM_MAX];
  const char *held_field = NULL;
  if (log_allowed(&srv->evict_log, held, &held_field))
    kk_log_kv(KK_LOG_INFO, "connection table full: closed an idle connection to make room for root", "uid",
              kk_log_num(u, uid), "held_back", held_field, NULL);
  srv->slots[victim].evicted = true;
  shutdown(srv->slots[victim].fd, SHUT_RDWR);
  return true;
}

static int free_slot(struct server *srv) {
  for (int i = 0; i < srv->capacity; i++)
    if (srv->slots[i].fd < 0)
      return i;
  return -1;
}

static int uid_slots(struct server *srv, uid_t uid) {
  int n = 0;
  for (int i = 0; i < srv->capacity; i++)
    n += srv->slots[i].fd >= 0 && srv->slots[i].uid == uid;
  return n;
}

/* Root waits (briefly) for an evicted connection's thread to let go. */
static int root_slot(struct server *srv) {
  if (!evict_one(srv))
    return -1;
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_nsec += EVICT_WAIT_MS * 1000000L;
  until.tv_sec += until.tv_nsec / 1000000000L;
  until.tv_nsec %= 1000000000L;
  int slot;
  while ((slot = free_slot(srv)) < 0)
    if (pthread_cond_timedwait(&srv->idle, &srv->mu, &until) == ETIMEDOUT)
      return free_slot(srv);
  return slot;
}

/* A slot for this peer, or -1 with *why (malloc'd). */
static int claim_slot(struct server *srv, int fd, uid_t uid, char **why) {
  pthread_mutex_lock(&srv->mu);
  int slot = -1;
  if (uid != 0 && uid_slots(srv, uid) >= srv->per_uid)
    *why = kk_asprintf("kukeond is at its connection limit for uid %u (%d connections); retry", (unsigned)uid,
                       srv->per_uid);
  else if ((slot = free_slot(srv)) < 0 && uid == 0)
    slot = root_slot(srv);
  if (slot < 0 && *why == NULL)
    *why = kk_asprintf("kukeond is at its connection limit (%d connections); retry", srv->capacity);
  if (slot >= 0) {
    srv->slots[slot] = (struct conn_slot){.fd = fd, .uid = uid, .idle_seq = srv->seq++};
    srv->active++;
  }
  pthread_mutex_unlock(&srv->mu);
  return slot;
}

static void start_conn_thread(struct server *srv, int slot, int fd, uid_t uid, pid_t pid) {
  struct conn_arg *a = kk_xmalloc(sizeof(*a));
  *a = (struct conn_arg){srv, slot, fd, uid, pid};
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, THREAD_STACK);
  pthread_t t;
  int r = pthread_create(&t, &attr, serve_conn, a);
  pthread_attr_destroy(&attr);
  if (r != 0) {
    kk_log_kv(KK_LOG_WARN, "cannot start a connection thread", "error", strerror(r), NULL);
    free(a);
    release_slot(srv, slot);
  }
}

/* Out of fds (or memory) for a moment: rest the listen fd instead of
 * spinning on it, and say so once per interval. */
static void accept_failed(struct server *srv, int e) {
  if (e == EAGAIN || e == EINTR || e == ECONNABORTED)
    return;
  bool pause = e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM;
  if (pause)
    srv->accept_paused_until = kk_monotonic_ms() + ACCEPT_BACKOFF_MS;
  char held[KK_LOG_NUM_MAX], ms[KK_LOG_NUM_MAX];
  const char *held_field = NULL;
  if (log_allowed(&srv->accept_log, held, &held_field)) {
    cleanup_free char *msg = kk_asprintf("accept: %s", strerror(e));
    kk_log_kv(KK_LOG_WARN, msg, "paused_ms", pause ? kk_log_num(ms, ACCEPT_BACKOFF_MS) : NULL, "held_back",
              held_field, NULL);
  }
}

/* Never reads from the peer: whatever it sends is the connection thread's
 * business, under that thread's deadlines. */
static void accept_one(struct server *srv, int lfd) {
  int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
  if (fd < 0) {
    accept_failed(srv, errno);
    return;
  }
  uid_t uid = (uid_t)-1;
  pid_t pid = 0;
  if (!peer_allowed(srv->cfg, fd, &uid, &pid)) {
    refuse(srv, fd, uid, pid, KK_ERR_PERMISSION,
           "permission denied: kukeond serves root and members of the socket's group only");
    return;
  }
  cleanup_free char *why = NULL;
  int slot = claim_slot(srv, fd, uid, &why);
  if (slot < 0) {
    refuse(srv, fd, uid, pid, KK_ERR_UNAVAILABLE, why);
    return;
  }
  start_conn_thread(srv, slot, fd, uid, pid);
}

/* Stop reading new requests on every connection; busy ones finish the
 * request in flight and then see EOF. */
static bool drain(struct server *srv) {
  pthread_mutex_lock(&srv->mu);
  srv->stopping = true;
  for (int i = 0; i < srv->capacity; i++)
    if (srv->slots[i].fd >= 0)
      shutdown(srv->slots[i].fd, SHUT_RD);
  struct timespec deadline;
  clock_gettime(CLOCK_REALTIME, &deadline);
  deadline.tv_sec += DRAIN_TIMEOUT_SEC;
  while (srv->active > 0) {
    if (pthread_cond_timedwait(&srv->idle, &srv->mu, &deadline) == ETIMEDOUT) {
      char busy[KK_LOG_NUM_MAX], waited[KK_LOG_NUM_MAX];
      kk_log_kv(KK_LOG_WARN, "connections still busy; exiting anyway", "busy", kk_log_num(busy, srv->active),
                "waited_s", kk_log_num(waited, DRAIN_TIMEOUT_SEC), NULL);
      pthread_mutex_unlock(&srv->mu);
      return false;
    }
  }
  pthread_mutex_unlock(&srv->mu);
  return true;
}

/* ----------------------------------------------------- socket, pid */

static char *pid_path_for(const char *socket) {
  cleanup_free char *copy = kk_xstrdup(socket);
  return kk_asprintf("%s/kukeond.pid", dirname(copy));
}

/* Whether the pid file names a live process (no file: assume so). */
static bool pid_file_alive(const char *pid_path, char **pid) {
  kk_err_t e = NULL;
  if (kk_read_file_at(AT_FDCWD, pid_path, 64, pid, NULL, &e) < 0) {
    kk_error_free(&e);
    *pid = kk_xstrdup("unknown");
    return true;
  }
  (*pid)[strcspn(*pid, "\n")] = '\0';
  char *end = NULL;
  long n = strtol(*pid, &end, 10);
  if (end == *pid || *end != '\0' || n <= 0 || n > INT32_MAX)
    return true;
  return kill((pid_t)n, 0) == 0 || errno != ESRCH;
}

/* Whether a daemon answers a ping on the socket within a second. */
static bool answers(const char *path) {
  cleanup_api struct kk_api *api = NULL;
  kk_err_t e = NULL;
  cleanup_free char *version = NULL;
  bool ok = kk_api_open_remote(path, &api, &e) == 0;
  if (ok) {
    kk_api_set_reply_deadline(api, 1000);
    ok = kk_api_ping(api, &version, &e) == 0;
  }
  kk_error_free(&e);
  return ok;
}

/* A live daemon answers on the socket; a dead one left a file behind.  A
 * socket that takes connections but answers nothing while the process its
 * pid file names is gone is held by one that inherited it (a child of the
 * killed daemon caught between fork and exec): stale all the same. */
static int claim_socket(const char *path, const char *pid_path, kk_err_t *err) {
  struct stat st;
  if (lstat(path, &st) < 0)
    return 0;
  if (!S_ISSOCK(st.st_mode))
    return kk_error_kind(err, KK_ERR_CONFLICT, 0, "%s exists and is not a socket; refusing to replace it", path);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  strcpy(sa.sun_path, path);
  cleanup_close int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  cleanup_free char *pid = NULL;
  if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
      (pid_file_alive(pid_path, &pid) || answers(path)))
    return kk_error_kind(err, KK_ERR_CONFLICT, 0, "kukeond is already serving %s (pid %s)", path, pid);
  kk_log_kv(KK_LOG_INFO, "removing the stale socket and pid file of a daemon that is gone", "socket", path,
            "pid_file", pid_path, NULL);
  if (unlink(path) < 0 && errno != ENOENT)
    return kk_error(err, errno, "remove stale socket %s", path);
  unlink(pid_path);
  return 0;
}

static int listen_socket(const struct kk_daemon_config *cfg, kk_err_t *err) {
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  if (strlen(cfg->socket) >= sizeof(sa.sun_path))
    return kk_error_kind(err, KK_ERR_INVALID, 0, "socket path %s is longer than %zu bytes", cfg->socket,
                         sizeof(sa.sun_path) - 1);
  strcpy(sa.sun_path, cfg->socket);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0)
    return kk_error(err, errno, "socket");
  mode_t old = umask(0177); /* born 0600: nobody else gets in before the chmod */
  int r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
  umask(old);
  if (r < 0) {
    int e = errno;
    close(fd);
    return kk_error(err, e, "bind %s", cfg->socket);
  }
  if (cfg->socket_gid > 0 && (chown(cfg->socket, 0, (gid_t)cfg->socket_gid) < 0 || chmod(cfg->socket, 0660) < 0)) {
    int e = errno;
    close(fd);
    unlink(cfg->socket);
    return kk_error(err, e, "give %s to group %ld", cfg->socket, cfg->socket_gid);
  }
  if (listen(fd, 128) < 0) {
    int e = errno;
    close(fd);
    unlink(cfg->socket);
    return kk_error(err, e, "listen on %s", cfg->socket);
  }
  return fd;
}

static int write_pid_file(const char *pid_path, kk_err_t *err) {
  cleanup_free char *copy = kk_xstrdup(pid_path);
  cleanup_close int dfd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    return kk_error(err, errno, "open directory of %s", pid_path);
  cleanup_free char *body = kk_asprintf("%d\n", (int)getpid());
  return kk_write_file_atomic(dfd, "kukeond.pid", body, strlen(body), 0644, NULL, err);
}

/* ------------------------------------------------------------ serve */

static struct server *server_new(const struct kk_daemon_config *cfg, struct kk_controller *ctl) {
  struct server *srv = kk_xzalloc(sizeof(*srv));
  srv->cfg = cfg;
  srv->ctl = ctl;
  pthread_mutex_init(&srv->mu, NULL);
  pthread_cond_init(&srv->idle, NULL);
  long nofile = raise_fd_limit();
  srv->capacity = connection_capacity(nofile);
  srv->per_uid = srv->capacity / UID_SHARE > 0 ? srv->capacity / UID_SHARE : 1;
  srv->slots = kk_xmalloc((size_t)srv->capacity * sizeof(*srv->slots));
  for (int i = 0; i < srv->capacity; i++)
    srv->slots[i] = (struct conn_slot){.fd = -1};
  char nf[KK_LOG_NUM_MAX], cap[KK_LOG_NUM_MAX], per[KK_LOG_NUM_MAX];
  kk_log_kv(KK_LOG_INFO, "connection limits", "open_files", kk_log_num(nf, nofile), "connections",
            kk_log_num(cap, srv->capacity), "per_uid", kk_log_num(per, srv->per_uid), NULL);
  return srv;
}

static void server_free(struct server *srv) {
  pthread_mutex_destroy(&srv->mu);
  pthread_cond_destroy(&srv->idle);
  free(srv->slots);
  free(srv);
}

/* ------------------------------------------------------- supervisor */

/* The reconcile loop in a thread of its own, so that neither a pass nor a
 * restart holds up accepting connections (the controller takes the tree
 * lock cell by cell): a pass at start (adopting what ran while no daemon
 * did) and every interval after the end of the last; between passes,
 * exits acted on when their monitors record them (inotify on the exit
 * notices' folder) and restarts or reaps owed once a backoff or grace
 * ends (kk_ctl_react). */
struct supervisor {
  struct kk_controller *ctl;
  int64_t interval_ms;
  int stop_fd;  /* eventfd: the main thread says stop */
  int watch_fd; /* inotify; -1: passes only */
  char *notices;
  pthread_t thread;
};

static void supervisor_pass(struct supervisor *s) {
  kk_err_t e = NULL;
  if (kk_ctl_reconcile(s->ctl, &e) < 0) {
    kk_log_kv(KK_LOG_WARN, "reconcile: pass failed", "error", e->msg, NULL);
    kk_error_free(&e);
  }
}

/* Read what inotify has (its content does not matter: the folder is read
 * by kk_ctl_react); the watch is set again if the folder went away (its
 * runtime dir removed under a running daemon). */
static void drain_watch(struct supervisor *s) {
  char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
  bool lost = false;
  ssize_t n;
  while ((n = read(s->watch_fd, buf, sizeof(buf))) > 0)
    for (char *p = buf; p < buf + n; p += sizeof(struct inotify_event) + ((struct inotify_event *)p)->len)
      lost |= (((struct inotify_event *)p)->mask & IN_IGNORED) != 0;
  kk_err_t e = NULL;
  cleanup_free char *dir = NULL;
  if (lost && (kk_ctl_exit_notices_dir(s->ctl, &dir, &e) < 0 ||
               inotify_add_watch(s->watch_fd, dir, IN_CREATE | IN_MOVED_TO | IN_ONLYDIR) < 0)) {
    kk_log_kv(KK_LOG_WARN, "exit notices: watch lost; exits wait for the next pass", "error", e ? e->msg : strerror(errno),
              NULL);
    kk_error_free(&e);
  }
}

/* ms until the earlier of the next pass (monotonic) and the next due time
 * (wall clock), never negative. */
static int wait_ms(int64_t next_pass, int64_t next_due) {
  int64_t ms = next_pass - kk_monotonic_ms();
  if (next_due > 0 && next_due - kk_now_ms() < ms)
    ms = next_due - kk_now_ms();
  return ms < 0 ? 0 : ms > INT32_MAX ? INT32_MAX : (int)ms;
}

static void *supervisor_run(void *p) {
  struct supervisor *s = p;
  int64_t next_pass = kk_monotonic_ms(), next_due = 0;
  for (;;) {
    if (kk_monotonic_ms() >= next_pass) {
      supervisor_pass(s);
      next_pass = kk_monotonic_ms() + s->interval_ms;
    }
    next_due = kk_ctl_react(s->ctl);
    struct pollfd pfd[2] = {{s->stop_fd, POLLIN, 0}, {s->watch_fd, POLLIN, 0}};
    if (poll(pfd, 2, wait_ms(next_pass, next_due)) < 0 && errno != EINTR) {
      kk_log_kv(KK_LOG_WARN, "supervisor: poll failed", "error", strerror(errno), NULL);
      poll(NULL, 0, 1000);
    }
    if (pfd[0].revents & POLLIN)
      return NULL;
    if (pfd[1].revents & POLLIN)
      drain_watch(s);
  }
}

/* The exit notices' folder watched (a warning and passes alone when it
 * cannot be), and the thread started. */
static int supervisor_start(struct supervisor *s, struct kk_controller *ctl, int64_t interval_ms, kk_err_t *err) {
  *s = (struct supervisor){.ctl = ctl, .interval_ms = interval_ms, .stop_fd = -1, .watch_fd = -1};
  s->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (s->stop_fd < 0)
    return kk_error(err, errno, "eventfd");
  kk_err_t e = NULL;
  s->watch_fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
  if (s->watch_fd < 0 || kk_ctl_exit_notices_dir(ctl, &s->notices, &e) < 0 ||
      inotify_add_watch(s->watch_fd, s->notices, IN_CREATE | IN_MOVED_TO | IN_ONLYDIR) < 0) {
    kk_log_kv(KK_LOG_WARN, "exit notices not watched: exits wait for the next reconcile pass", "error",
              e ? e->msg : strerror(errno), NULL);
    kk_error_free(&e);
    if (s->watch_fd >= 0)
      close(s->watch_fd);
    s->watch_fd = -1;
  }
  int r = pthread_create(&s->thread, NULL, supervisor_run, s);
  if (r != 0) {
    close(s->stop_fd);
    if (s->watch_fd >= 0)
      close(s->watch_fd);
    free(s->notices);
    return kk_error(err, r, "start the supervisor thread");
  }
  return 0;
}

/* Waits for what it is doing (one cell at most) to end. */
static void supervisor_stop(struct supervisor *s) {
  uint64_t one = 1;
  if (write(s->stop_fd, &one, sizeof(one)) < 0)
    kk_log_kv(KK_LOG_WARN, "supervisor: cannot signal a stop", "error", strerror(errno), NULL);
  pthread_join(s->thread, NULL);
  close(s->stop_fd);
  if (s->watch_fd >= 0)
    close(s->watch_fd);
  free(s->notices);
}

/* The listen fd while accepting, -1 (ignored by poll) while resting;
 * *timeout_ms: when to look again. */
static int listen_fd_now(struct server *srv, int lfd, int *timeout_ms) {
  *timeout_ms = -1;
  if (srv->accept_paused_until == 0)
    return lfd;
  int64_t left = srv->accept_paused_until - kk_monotonic_ms();
  if (left <= 0) {
    srv->accept_paused_until = 0;
    return lfd;
  }
  *timeout_ms = (int)left;
  return -1;
}

/* Until SIGINT/SIGTERM: accept. */
static void serve_loop(struct server *srv, int lfd, int sfd) {
  for (;;) {
    int timeout_ms;
    struct pollfd pfd[2] = {{listen_fd_now(srv, lfd, &timeout_ms), POLLIN, 0}, {sfd, POLLIN, 0}};
    int n = poll(pfd, 2, timeout_ms);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      kk_log_kv(KK_LOG_WARN, "poll failed", "error", strerror(errno), NULL);
      return;
    }
    if (pfd[1].revents & POLLIN) {
      struct signalfd_siginfo si;
      if (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        kk_log_kv(KK_LOG_INFO, "shutting down", "signal", si.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM", NULL);
        return;
      }
    }
    if (pfd[0].revents & POLLIN)
      accept_one(srv, lfd);
  }
}

int kk_daemon_serve(const struct kk_daemon_config *cfg, kk_err_t *err) {
  /* One malloc arena for all connection threads: requests are small and
   * short, and per-thread arenas would keep megabytes for nothing. */
  mallopt(M_ARENA_MAX, 1);
  struct kk_controller_config ccfg = {cfg->run_path, cfg->ns_suffix, cfg->cgroup_root, cfg->pod_subnet,
                                      cfg->runtime_dir, cfg->runc, NULL, cfg->cni_path,
                                      cfg->cni_cache_dir, cfg->cni_lease_dir, cfg->disk_warn_pct,
                                      cfg->disk_block_pct, cfg->default_memory_limit_bytes, true};
  cleanup_controller struct kk_controller *ctl = NULL;
  if (kk_controller_open(&ccfg, &ctl, err) < 0)
    return -1;
  cleanup_free char *sock_dir_copy = kk_xstrdup(cfg->socket);
  if (kk_mkdir_p(dirname(sock_dir_copy), 0750, err) < 0)
    return -1;
  cleanup_free char *pid_path = pid_path_for(cfg->socket);
  if (claim_socket(cfg->socket, pid_path, err) < 0)
    return -1;

  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &mask, NULL); /* threads inherit: only signalfd sees them */
  signal(SIGPIPE, SIG_IGN);
  cleanup_close int sfd = signalfd(-1, &mask, SFD_CLOEXEC);
  if (sfd < 0)
    return kk_error(err, errno, "signalfd");
  cleanup_close int lfd = listen_socket(cfg, err);
  if (lfd < 0)
    return -1;
  if (write_pid_file(pid_path, err) < 0) {
    unlink(cfg->socket);
    return -1;
  }
  struct server *srv = server_new(cfg, ctl);
  char pid[KK_LOG_NUM_MAX];
  kk_log_kv(KK_LOG_INFO, "kukeond serving", "version", KUKEON_VERSION, "socket", cfg->socket, "run_path",
            cfg->run_path, "pid", kk_log_num(pid, getpid()), NULL);
  /* 0 disables the loop: no passes, and no exit acted on either. */
  struct supervisor sup;
  bool supervising = cfg->reconcile_ms > 0;
  if (supervising && supervisor_start(&sup, ctl, cfg->reconcile_ms, err) < 0) {
    unlink(cfg->socket);
    unlink(pid_path);
    server_free(srv);
    return -1;
  }
  serve_loop(srv, lfd, sfd);
  if (supervising)
    supervisor_stop(&sup);
  /* Stop accepting first, so nobody connects to a daemon on its way out. */
  close(lfd);
  lfd = -1;
  unlink(cfg->socket);
  bool drained = drain(srv);
  unlink(pid_path);
  if (!drained) {
    /* Threads still hold srv and the controller: leave them to exit(). */
    kk_steal(&ctl);
    return 0;
  }
  server_free(srv);
  kk_log_kv(KK_LOG_INFO, "kukeond stopped", NULL);
  return 0;
}

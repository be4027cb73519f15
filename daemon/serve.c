/* kukeond serve: the socket, the pid file, signals, the reconcile timer and
 * one thread per client connection. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "api/api.h"
#include "daemon/daemon.h"
#include "lib/fs.h"
#include "lib/log.h"
#include "lib/util.h"

#define MAX_CONNECTIONS 1024
#define IDLE_TIMEOUT_SEC 300
#define DRAIN_TIMEOUT_SEC 30
#define THREAD_STACK (512u << 10)

/* The daemon's top-level state: shared by the accept loop and the
 * connection threads, guarded by `mu`. */
struct server {
  const struct kk_daemon_config *cfg;
  struct kk_controller *ctl;
  pthread_mutex_t mu;
  pthread_cond_t idle;
  int conns[MAX_CONNECTIONS]; /* -1 = free slot */
  bool busy[MAX_CONNECTIONS]; /* a request is being served */
  int active;
  bool stopping;
};

struct conn_arg {
  struct server *srv;
  int slot;
  int fd;
  uid_t uid;
};

/* ----------------------------------------------------------- peers */

/* Root, or a member (primary or supplementary) of the socket's group. */
static bool peer_allowed(const struct kk_daemon_config *cfg, int fd, uid_t *uid_out) {
  struct ucred cred;
  socklen_t len = sizeof(cred);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
    return false;
  *uid_out = cred.uid;
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

static void reply_error(int fd, enum kk_err_kind kind, const char *msg) {
  uint8_t *resp = NULL;
  size_t len = 0;
  kk_api_error_response(kind, msg, &resp, &len);
  kk_err_t e = NULL;
  kk_frame_write(fd, resp, len, &e);
  kk_error_free(&e);
  free(resp);
}

/* ------------------------------------------------------ connections */

static void set_busy(struct server *srv, int slot, bool busy) {
  pthread_mutex_lock(&srv->mu);
  srv->busy[slot] = busy;
  pthread_mutex_unlock(&srv->mu);
}

static void close_fds(int *fds, size_t *n) {
  for (size_t i = 0; i < *n; i++)
    close(fds[i]);
  *n = 0;
}

/* One request: what came with it is closed before the reply goes out, so
 * a client reading pipes it passed sees their end first. */
static int serve_request(struct server *srv, const struct conn_arg *a, struct kk_api_call *call, const uint8_t *req,
                         size_t len, kk_err_t *err) {
  uint8_t *resp = NULL;
  size_t resp_len = 0;
  kk_api_dispatch(srv->ctl, call, req, len, &resp, &resp_len);
  close_fds(call->in_fds, &call->n_in_fds);
  int w = kk_frame_write_fds(a->fd, resp, resp_len, call->out_fds, call->n_out_fds, err);
  close_fds(call->out_fds, &call->n_out_fds);
  free(resp);
  return w;
}

static void *serve_conn(void *p) {
  struct conn_arg a = *(struct conn_arg *)p;
  free(p);
  struct server *srv = a.srv;
  for (;;) {
    uint8_t *req = NULL;
    size_t len = 0;
    kk_err_t err = NULL;
    struct kk_api_call call = {.uid = a.uid, .policy = a.uid == 0 ? NULL : srv->cfg->policy, .remote = true,
                               .cancel_fd = a.fd};
    int r = kk_frame_read_fds(a.fd, &req, &len, call.in_fds, &call.n_in_fds, &err);
    if (r <= 0) {
      if (r < 0) {
        kk_debug("connection %d: %s", a.fd, err->msg);
        if (err->kind == KK_ERR_INVALID)
          reply_error(a.fd, KK_ERR_INVALID, err->msg);
      }
      kk_error_free(&err);
      break;
    }
    set_busy(srv, a.slot, true);
    int w = serve_request(srv, &a, &call, req, len, &err);
    free(req);
    set_busy(srv, a.slot, false);
    if (w < 0) {
      kk_debug("connection %d: %s", a.fd, err->msg);
      kk_error_free(&err);
      break;
    }
  }
  pthread_mutex_lock(&srv->mu);
  close(a.fd);
  srv->conns[a.slot] = -1;
  srv->busy[a.slot] = false;
  srv->active--;
  pthread_cond_broadcast(&srv->idle);
  pthread_mutex_unlock(&srv->mu);
  return NULL;
}

static void accept_one(struct server *srv, int lfd) {
  int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
  if (fd < 0) {
    if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
      kk_warn("accept: %s", strerror(errno));
    return;
  }
  uid_t uid = (uid_t)-1;
  if (!peer_allowed(srv->cfg, fd, &uid)) {
    kk_info("refused uid %u: not root and not in the socket's group", (unsigned)uid);
    /* Read the request first so the reply is not lost in a reset. */
    struct timeval tv = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    uint8_t *req = NULL;
    size_t len = 0;
    kk_err_t e = NULL;
    if (kk_frame_read(fd, &req, &len, &e) > 0)
      reply_error(fd, KK_ERR_PERMISSION,
                  "permission denied: kukeond serves root and members of the socket's group only");
    free(req);
    kk_error_free(&e);
    close(fd);
    return;
  }
  struct timeval tv = {IDLE_TIMEOUT_SEC, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  pthread_mutex_lock(&srv->mu);
  int slot = -1;
  for (int i = 0; i < MAX_CONNECTIONS && slot < 0; i++)
    if (srv->conns[i] < 0)
      slot = i;
  if (slot >= 0) {
    srv->conns[slot] = fd;
    srv->active++;
  }
  pthread_mutex_unlock(&srv->mu);
  if (slot < 0) {
    reply_error(fd, KK_ERR_UNAVAILABLE, "kukeond is at its connection limit; retry");
    close(fd);
    return;
  }
  struct conn_arg *a = kk_xmalloc(sizeof(*a));
  *a = (struct conn_arg){srv, slot, fd, uid};
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, THREAD_STACK);
  pthread_t t;
  int r = pthread_create(&t, &attr, serve_conn, a);
  pthread_attr_destroy(&attr);
  if (r != 0) {
    kk_warn("cannot start a connection thread: %s", strerror(r));
    free(a);
    pthread_mutex_lock(&srv->mu);
    close(fd);
    srv->conns[slot] = -1;
    srv->active--;
    pthread_mutex_unlock(&srv->mu);
  }
}

/* Stop reading new requests on every connection; busy ones finish the
 * request in flight and then see EOF. */
static bool drain(struct server *srv) {
  pthread_mutex_lock(&srv->mu);
  srv->stopping = true;
  for (int i = 0; i < MAX_CONNECTIONS; i++)
    if (srv->conns[i] >= 0)
      shutdown(srv->conns[i], SHUT_RD);
  struct timespec deadline;
  clock_gettime(CLOCK_REALTIME, &deadline);
  deadline.tv_sec += DRAIN_TIMEOUT_SEC;
  while (srv->active > 0) {
    if (pthread_cond_timedwait(&srv->idle, &srv->mu, &deadline) == ETIMEDOUT) {
      kk_warn("%d connection(s) still busy after %d s; exiting anyway", srv->active, DRAIN_TIMEOUT_SEC);
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

/* A live daemon answers on the socket; a dead one left a file behind. */
static int claim_socket(const char *path, const char *pid_path, kk_err_t *err) {
  struct stat st;
  if (lstat(path, &st) < 0)
    return 0;
  if (!S_ISSOCK(st.st_mode))
    return kk_error_kind(err, KK_ERR_CONFLICT, 0, "%s exists and is not a socket; refusing to replace it", path);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  strcpy(sa.sun_path, path);
  cleanup_close int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
    cleanup_free char *pid = NULL;
    if (kk_read_file_at(AT_FDCWD, pid_path, 64, &pid, NULL, err) < 0) {
      kk_error_free(err);
      pid = kk_xstrdup("unknown\n");
    }
    pid[strcspn(pid, "\n")] = '\0';
    return kk_error_kind(err, KK_ERR_CONFLICT, 0, "kukeond is already serving %s (pid %s)", path, pid);
  }
  kk_info("removing stale socket %s and pid file %s left by a daemon that is gone", path, pid_path);
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

int kk_daemon_serve(const struct kk_daemon_config *cfg, kk_err_t *err) {
  /* One malloc arena for all connection threads: requests are small and
   * short, and per-thread arenas would keep megabytes for nothing. */
  mallopt(M_ARENA_MAX, 1);
  struct kk_controller_config ccfg = {cfg->run_path, cfg->ns_suffix, cfg->cgroup_root, cfg->pod_subnet,
                                      cfg->runtime_dir, cfg->runc, NULL};
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
  cleanup_close int tfd = -1;
  if (cfg->reconcile_ms > 0) {
    tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    if (tfd < 0)
      return kk_error(err, errno, "timerfd");
    struct itimerspec its = {
        .it_interval = {cfg->reconcile_ms / 1000, (cfg->reconcile_ms % 1000) * 1000000},
        .it_value = {0, 1}, /* one pass right away: adopt what ran while we were down */
    };
    timerfd_settime(tfd, 0, &its, NULL);
  }
  cleanup_close int lfd = listen_socket(cfg, err);
  if (lfd < 0)
    return -1;
  if (write_pid_file(pid_path, err) < 0) {
    unlink(cfg->socket);
    return -1;
  }
  struct server *srv = kk_xzalloc(sizeof(*srv));
  srv->cfg = cfg;
  srv->ctl = ctl;
  pthread_mutex_init(&srv->mu, NULL);
  pthread_cond_init(&srv->idle, NULL);
  for (int i = 0; i < MAX_CONNECTIONS; i++)
    srv->conns[i] = -1;
  kk_info("kukeond %s serving %s (run path %s, pid %d)", KUKEON_VERSION, cfg->socket, cfg->run_path, (int)getpid());

  for (;;) {
    struct pollfd pfd[3] = {{lfd, POLLIN, 0}, {sfd, POLLIN, 0}, {tfd, POLLIN, 0}};
    int n = poll(pfd, tfd >= 0 ? 3 : 2, -1);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      kk_warn("poll: %s", strerror(errno));
      break;
    }
    if (pfd[1].revents & POLLIN) {
      struct signalfd_siginfo si;
      if (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        kk_info("received %s: shutting down", si.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM");
        break;
      }
    }
    if (tfd >= 0 && (pfd[2].revents & POLLIN)) {
      uint64_t ticks;
      if (read(tfd, &ticks, sizeof(ticks)) == (ssize_t)sizeof(ticks)) {
        kk_err_t e = NULL;
        if (kk_ctl_reconcile(ctl, &e) < 0) {
          kk_warn("reconcile: %s", e->msg);
          kk_error_free(&e);
        }
      }
    }
    if (pfd[0].revents & POLLIN)
      accept_one(srv, lfd);
  }
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
  pthread_mutex_destroy(&srv->mu);
  pthread_cond_destroy(&srv->idle);
  free(srv);
  kk_info("kukeond stopped");
  return 0;
}

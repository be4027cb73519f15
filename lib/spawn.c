#include "lib/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/util.h"

extern char **environ;

int kk_spawn(const struct kk_spawn *s, pid_t *pid) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  if (s->ctty != NULL) {
    /* After POSIX_SPAWN_SETSID: a session leader's first terminal opened
     * without O_NOCTTY becomes its controlling terminal. */
    posix_spawn_file_actions_addopen(&fa, 0, s->ctty, O_RDWR, 0);
    posix_spawn_file_actions_adddup2(&fa, 0, 1);
    posix_spawn_file_actions_adddup2(&fa, 0, 2);
  } else {
    if (s->in >= 0)
      posix_spawn_file_actions_adddup2(&fa, s->in, 0);
    else
      posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, s->out, 1);
    posix_spawn_file_actions_adddup2(&fa, s->err, 2);
  }
  posix_spawnattr_t sa;
  posix_spawnattr_init(&sa);
  sigset_t none, dfl;
  sigemptyset(&none);
  sigemptyset(&dfl);
  static const int defaults[] = {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGCHLD, SIGUSR1, SIGUSR2};
  for (size_t i = 0; i < KK_ARRAY_SIZE(defaults); i++)
    sigaddset(&dfl, defaults[i]);
  posix_spawnattr_setsigmask(&sa, &none);
  posix_spawnattr_setsigdefault(&sa, &dfl);
  short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
  if (s->ctty != NULL)
    flags |= POSIX_SPAWN_SETSID;
  else if (s->own_process_group) {
    posix_spawnattr_setpgroup(&sa, 0);
    flags |= POSIX_SPAWN_SETPGROUP;
  }
  posix_spawnattr_setflags(&sa, flags);
  char *const just_path[] = {(char *)s->path, NULL};
  char *const *argv = s->argv ? s->argv : just_path;
  char *const *envp = s->envp ? s->envp : environ;
  int rc = s->search ? posix_spawnp(pid, s->path, &fa, &sa, argv, envp) : posix_spawn(pid, s->path, &fa, &sa, argv, envp);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&sa);
  return rc;
}

#define SPAWN_OUTPUT_MAX (64u << 10)

/* Read fd until EOF or the deadline; false when the deadline came first. */
static bool read_until(int fd, int64_t deadline, char *buf, size_t *len) {
  for (;;) {
    int64_t left = deadline - kk_monotonic_ms();
    if (left <= 0)
      return false;
    struct pollfd p = {fd, POLLIN, 0};
    int r = poll(&p, 1, (int)left);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      return r == 0 ? false : true;
    char tmp[4096];
    ssize_t n = read(fd, tmp, sizeof(tmp));
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return true;
    size_t room = SPAWN_OUTPUT_MAX - *len, keep = (size_t)n < room ? (size_t)n : room;
    memcpy(buf + *len, tmp, keep);
    *len += keep;
  }
}

int kk_spawn_output(const char *const *argv, int timeout_ms, char **out, int *status, kk_err_t *err) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) < 0)
    return kk_error(err, errno, "pipe");
  struct kk_spawn s = {.path = argv[0], .argv = (char *const *)argv, .search = true, .own_process_group = true,
                       .in = -1, .out = p[1], .err = p[1]};
  pid_t pid;
  int rc = kk_spawn(&s, &pid);
  close(p[1]);
  if (rc != 0) {
    close(p[0]);
    return kk_error_kind(err, KK_ERR_UNAVAILABLE, rc, "cannot run %s", argv[0]);
  }
  char *buf = kk_xmalloc(SPAWN_OUTPUT_MAX + 1);
  size_t len = 0;
  bool done = read_until(p[0], kk_monotonic_ms() + timeout_ms, buf, &len);
  close(p[0]);
  if (!done)
    kill(-pid, SIGKILL);
  int st = 0;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
    ;
  buf[len] = '\0';
  if (!done) {
    free(buf);
    return kk_error_kind(err, KK_ERR_UNAVAILABLE, 0, "%s did not finish within %d ms", argv[0], timeout_ms);
  }
  *out = buf;
  *status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  return 0;
}

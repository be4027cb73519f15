#include "lib/spawn.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>

#include "lib/util.h"

extern char **environ;

int kk_spawn(const struct kk_spawn *s, pid_t *pid) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  if (s->in >= 0)
    posix_spawn_file_actions_adddup2(&fa, s->in, 0);
  else
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, s->out, 1);
  posix_spawn_file_actions_adddup2(&fa, s->err, 2);
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
  if (s->own_process_group) {
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

/* Drives the per-container monitor for tests:
 *   kk-monitor spawn MONITOR RUNC-ROOT BUNDLE ID DIR [LOG-MAX] [--stdin]
 *       spawn the monitor program MONITOR (build/kukeon-monitor; it runs
 *       `runc run --detach`), print the container pid; a terminal when the
 *       bundle's config.json has process.terminal
 *   kk-monitor attach DIR [--tty]
 *       kk_attach on stdin/stdout/stderr; says ended|detached|signaled on stderr
 *   kk-monitor log DIR [-f] [-t] [--tail N]
 *       kk_log_read to stdout/stderr
 *   kk-monitor exit DIR
 *       print "<exitCode> <signal>" from the exit record (nothing if none)
 *   kk-monitor ttytest DIR SEND EXPECT [SEND EXPECT]...
 *       run `attach --tty` on a fresh pty (window 33x101) as a user would:
 *       type each SEND ("\n" = newline), wait for EXPECT in the output, then
 *       type Ctrl-] Ctrl-]; succeed when attach said "detached" and left the
 *       terminal's settings as they were. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "lib/fs.h"
#include "lib/util.h"
#include "runtime/runtime.h"

static int usage(void) {
  fprintf(stderr, "usage: kk-monitor spawn|attach|log|exit|ttytest ... (see tests/helpers/kk-monitor.c)\n");
  return 2;
}

static int fail(kk_err_t *err) {
  fprintf(stderr, "Error: %s\n", (*err)->msg);
  kk_error_free(err);
  return 1;
}

static int cmd_spawn(int argc, char **argv) {
  bool open_stdin = false;
  char *pos[8];
  int n = 0;
  for (int i = 0; i < argc; i++) {
    if (strcmp(argv[i], "--stdin") == 0)
      open_stdin = true;
    else if (n < 8)
      pos[n++] = argv[i];
  }
  if (n < 5)
    return usage();
  char config[4096];
  snprintf(config, sizeof(config), "%s/config.json", pos[2]);
  json_t *j = json_load_file(config, 0, NULL);
  bool tty = json_is_true(json_object_get(json_object_get(j, "process"), "terminal"));
  json_decref(j);
  struct kk_monitor_opts o = {.exe = pos[0], .runc_root = pos[1], .bundle = pos[2], .id = pos[3], .dir = pos[4],
                              .log_max = n > 5 ? atoll(pos[5]) : 0, .open_stdin = open_stdin, .tty = tty};
  pid_t pid = 0;
  kk_err_t err = NULL;
  if (kk_monitor_spawn(&o, &pid, &err) < 0)
    return fail(&err);
  printf("%d\n", (int)pid);
  return 0;
}

static const char *outcome(int r) {
  return r == KK_ATTACH_ENDED ? "ended" : r == KK_ATTACH_DETACHED ? "detached" : r == KK_ATTACH_SIGNALED ? "signaled" : "?";
}

/* kuke attach without the API: the monitor's directory is at hand here. */
static int attach_dir(const char *dir, bool tty, kk_err_t *err) {
  int sock = kk_attach_open(dir, err);
  if (sock < 0)
    return -1;
  int r = kk_attach_session(sock, 0, 1, 2, &(struct kk_attach_opts){.tty = tty}, NULL, err);
  close(sock);
  cleanup_close int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (r == KK_ATTACH_ENDED && (dfd < 0 || !kk_exists_at(dfd, "exit")))
    return kk_error_kind(err, KK_ERR_UNAVAILABLE, 0, "the attach session ended before the container did");
  return r;
}

static int cmd_attach(int argc, char **argv) {
  if (argc < 1)
    return usage();
  bool tty = argc > 1 && strcmp(argv[1], "--tty") == 0;
  kk_err_t err = NULL;
  int r = attach_dir(argv[0], tty, &err);
  if (r < 0)
    return fail(&err);
  fprintf(stderr, "attach: %s\n", outcome(r));
  return 0;
}

static int cmd_log(int argc, char **argv) {
  if (argc < 1)
    return usage();
  struct kk_log_opts o = {.tail = -1};
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "-f") == 0)
      o.follow = true;
    else if (strcmp(argv[i], "-t") == 0)
      o.timestamps = true;
    else if (strcmp(argv[i], "--tail") == 0 && i + 1 < argc)
      o.tail = atol(argv[++i]);
    else
      return usage();
  }
  kk_err_t err = NULL;
  if (kk_log_read(argv[0], &o, 1, 2, &err) < 0)
    return fail(&err);
  return 0;
}

static int cmd_exit(int argc, char **argv) {
  if (argc < 1)
    return usage();
  cleanup_close int dirfd = open(argv[0], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  struct kk_exit_record rec;
  kk_err_t err = NULL;
  if (dirfd < 0 || kk_monitor_read_exit(dirfd, &rec, &err) < 0) {
    if (err)
      return fail(&err);
    perror(argv[0]);
    return 1;
  }
  if (rec.exited)
    printf("%d %s\n", rec.exit_code, rec.signal);
  return 0;
}

static long ms_since(const struct timespec *t0) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

/* Read the master until want shows up in everything read so far. */
static bool expect(int master, char *seen, size_t cap, size_t *len, const char *want) {
  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  while (ms_since(&t0) < 10000) {
    seen[*len] = '\0';
    if (strstr(seen, want))
      return true;
    struct pollfd p = {master, POLLIN, 0};
    if (poll(&p, 1, 200) <= 0)
      continue;
    ssize_t r = read(master, seen + *len, cap - 1 - *len);
    if (r <= 0)
      return false;
    *len += (size_t)r;
  }
  return false;
}

static char *unescape(const char *s) {
  char *o = kk_xmalloc(strlen(s) + 1), *p = o;
  for (; *s; s++) {
    if (s[0] == '\\' && s[1] == 'n') {
      *p++ = '\n';
      s++;
    } else {
      *p++ = *s;
    }
  }
  *p = '\0';
  return o;
}

static int cmd_ttytest(int argc, char **argv) {
  if (argc < 3 || (argc - 1) % 2 != 0)
    return usage();
  int master, slave;
  struct winsize ws = {.ws_row = 33, .ws_col = 101};
  if (openpty(&master, &slave, NULL, NULL, &ws) < 0) {
    perror("openpty");
    return 1;
  }
  struct termios before;
  tcgetattr(slave, &before);
  pid_t child = fork();
  if (child == 0) {
    close(master);
    setsid();
    ioctl(slave, TIOCSCTTY, 0);
    dup2(slave, 0);
    dup2(slave, 1);
    int log = open("/dev/null", O_WRONLY);
    dup2(log, 2);
    kk_err_t err = NULL;
    int r = attach_dir(argv[0], true, &err);
    _exit(r < 0 ? 100 : r);
  }
  char seen[65536];
  size_t len = 0;
  int ok = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    cleanup_free char *send = unescape(argv[i]);
    usleep(100000);
    if (write(master, send, strlen(send)) < 0 || !expect(master, seen, sizeof(seen), &len, argv[i + 1])) {
      fprintf(stderr, "ttytest: \"%s\" not seen after sending \"%s\"; output was:\n%s\n", argv[i + 1], argv[i], seen);
      ok = 0;
      break;
    }
  }
  if (write(master, "\x1d\x1d", 2) < 0)
    ok = 0;
  int st = 0;
  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (;;) {
    pid_t w = waitpid(child, &st, WNOHANG);
    if (w == child)
      break;
    if (ms_since(&t0) > 10000) {
      kill(child, SIGKILL);
      waitpid(child, &st, 0);
      fprintf(stderr, "ttytest: attach did not detach\n");
      ok = 0;
      break;
    }
    char buf[4096];
    struct pollfd p = {master, POLLIN, 0};
    if (poll(&p, 1, 50) > 0 && read(master, buf, sizeof(buf)) <= 0)
      usleep(50000);
  }
  if (ok && !(WIFEXITED(st) && WEXITSTATUS(st) == KK_ATTACH_DETACHED)) {
    fprintf(stderr, "ttytest: attach ended with status %#x, not detached\n", st);
    ok = 0;
  }
  struct termios after;
  tcgetattr(slave, &after);
  if (ok && (before.c_lflag != after.c_lflag || before.c_iflag != after.c_iflag || before.c_oflag != after.c_oflag)) {
    fprintf(stderr, "ttytest: terminal settings not restored\n");
    ok = 0;
  }
  if (ok)
    printf("detached\n");
  return ok ? 0 : 1;
}

int main(int argc, char **argv) {
  if (argc < 2)
    return usage();
  const char *cmd = argv[1];
  if (strcmp(cmd, "spawn") == 0)
    return cmd_spawn(argc - 2, argv + 2);
  if (strcmp(cmd, "attach") == 0)
    return cmd_attach(argc - 2, argv + 2);
  if (strcmp(cmd, "log") == 0)
    return cmd_log(argc - 2, argv + 2);
  if (strcmp(cmd, "exit") == 0)
    return cmd_exit(argc - 2, argv + 2);
  if (strcmp(cmd, "ttytest") == 0)
    return cmd_ttytest(argc - 2, argv + 2);
  return usage();
}

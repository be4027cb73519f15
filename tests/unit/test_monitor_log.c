/* runtime/logread.c: a monitor's CRI log back to the container's bytes
 * (partial lines joined, streams split, --tail, --timestamps, follow across
 * rotation), on hand-written log files: no runc, no root. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/fs.h"
#include "lib/util.h"
#include "runtime/runtime.h"
#include "tests/unit/unit.h"

static char *mktmp(void) {
  const char *base = getenv("TMPDIR");
  char *t = kk_asprintf("%s/kk-unit-monlog.XXXXXX", base && *base ? base : "/tmp");
  ck_assert_ptr_nonnull(mkdtemp(t));
  return t;
}

static void rmtree(char *path) {
  kk_err_t err = NULL;
  kk_rm_rf_at(AT_FDCWD, path, &err);
  kk_error_free(&err);
  free(path);
}

static void put(const char *dir, const char *name, const char *text) {
  cleanup_free char *p = kk_asprintf("%s/%s", dir, name);
  FILE *f = fopen(p, "w");
  ck_assert_ptr_nonnull(f);
  fputs(text, f);
  fclose(f);
}

static char *slurp(int fd) {
  lseek(fd, 0, SEEK_SET);
  char *buf = NULL;
  size_t len = 0;
  kk_err_t err = NULL;
  ck_assert_int_eq(kk_read_fd(fd, 64 << 20, "out", &buf, &len, &err), 0);
  return buf;
}

/* Run kk_log_read; *out and *errs get what went to each fd (same_fd: both
 * to one). */
static int read_log(const char *dir, const struct kk_log_opts *o, bool same_fd, char **out, char **errs) {
  int fo = memfd_create("out", MFD_CLOEXEC), fe = same_fd ? -1 : memfd_create("err", MFD_CLOEXEC);
  ck_assert_int_ge(fo, 0);
  kk_err_t err = NULL;
  int r = kk_log_read(dir, o, fo, fe, &err);
  if (r < 0) {
    fprintf(stderr, "kk_log_read: %s\n", err->msg);
    kk_error_free(&err);
  }
  *out = slurp(fo);
  if (errs)
    *errs = fe >= 0 ? slurp(fe) : kk_xstrdup("");
  close(fo);
  if (fe >= 0)
    close(fe);
  return r;
}

#define LOG1 "T1 stdout P hel\nT2 stdout F lo\nT3 stderr F err1\n"
#define LOG "T4 stdout P wor\nT5 stderr F err2\nT6 stdout F ld\nT7 stdout F \nT8 stdout P no-newline"

START_TEST(joins_and_splits) {
  char *d = mktmp();
  put(d, "log.1", LOG1);
  put(d, "log", LOG "\n");
  cleanup_free char *out = NULL, *errs = NULL;
  ck_assert_int_eq(read_log(d, NULL, false, &out, &errs), 0);
  ck_assert_str_eq(out, "hello\nworld\n\nno-newline");
  ck_assert_str_eq(errs, "err1\nerr2\n");
  rmtree(d);
}
END_TEST

START_TEST(timestamps_of_first_piece) {
  char *d = mktmp();
  put(d, "log.1", LOG1);
  put(d, "log", LOG "\n");
  struct kk_log_opts o = {.timestamps = true, .tail = -1};
  cleanup_free char *out = NULL;
  ck_assert_int_eq(read_log(d, &o, true, &out, NULL), 0);
  ck_assert_str_eq(out, "T1 hello\nT3 err1\nT5 err2\nT4 world\nT7 \nT8 no-newline");
  rmtree(d);
}
END_TEST

START_TEST(tail_counts_logical_lines) {
  char *d = mktmp();
  put(d, "log.1", LOG1);
  put(d, "log", LOG "\n");
  struct kk_log_opts o = {.tail = 3};
  cleanup_free char *out = NULL;
  ck_assert_int_eq(read_log(d, &o, true, &out, NULL), 0);
  ck_assert_str_eq(out, "world\n\nno-newline");
  free(out);
  o.tail = 0;
  ck_assert_int_eq(read_log(d, &o, true, &out, NULL), 0);
  ck_assert_str_eq(out, "");
  free(out);
  o.tail = 100;
  ck_assert_int_eq(read_log(d, &o, true, &out, NULL), 0);
  ck_assert_str_eq(out, "hello\nerr1\nerr2\nworld\n\nno-newline");
  rmtree(d);
}
END_TEST

START_TEST(missing_and_odd) {
  char *d = mktmp();
  cleanup_free char *out = NULL, *out2 = NULL;
  ck_assert_int_eq(read_log(d, NULL, true, &out, NULL), 0); /* no log yet */
  ck_assert_str_eq(out, "");
  put(d, "log", "not a cri line\nT1 stdout F ok\nT2 stdzzz F x\n");
  ck_assert_int_eq(read_log(d, NULL, true, &out2, NULL), 0);
  ck_assert_str_eq(out2, "not a cri line\nok\nT2 stdzzz F x\n");
  cleanup_free char *gone = kk_asprintf("%s/nope", d);
  kk_err_t err = NULL;
  ck_assert_int_lt(kk_log_read(gone, NULL, 1, 2, &err), 0);
  ck_assert_int_eq(err->kind, KK_ERR_NOT_FOUND);
  kk_error_free(&err);
  rmtree(d);
}
END_TEST

START_TEST(follow_stops_at_exit_or_dead_monitor) {
  char *d = mktmp();
  put(d, "log", "T1 stdout F a\nT2 stdout P b");
  put(d, "exit", "{\"exitCode\":0}");
  struct kk_log_opts o = {.follow = true, .tail = -1};
  cleanup_free char *out = NULL, *out2 = NULL;
  ck_assert_int_eq(read_log(d, &o, true, &out, NULL), 0);
  ck_assert_str_eq(out, "a\nb");
  /* No exit record, and the monitor named in monitor.pid is gone. */
  cleanup_free char *ex = kk_asprintf("%s/exit", d);
  unlink(ex);
  pid_t dead = fork();
  if (dead == 0)
    _exit(0);
  waitpid(dead, NULL, 0);
  char pid[32];
  snprintf(pid, sizeof(pid), "%d\n", (int)dead);
  put(d, "monitor.pid", pid);
  ck_assert_int_eq(read_log(d, &o, true, &out2, NULL), 0);
  ck_assert_str_eq(out2, "a\nb");
  rmtree(d);
}
END_TEST

/* A monitor directory with an empty log, for a child that stands in for
 * the monitor: it carries the monitor's name (kk_monitor_alive checks it),
 * set here before the fork, so there is no window. */
static int monitor_dir(char **d) {
  *d = mktmp();
  put(*d, "log", "");
  int dirfd = open(*d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  ck_assert_int_ge(dirfd, 0);
  prctl(PR_SET_NAME, "kukeon-monitor");
  return dirfd;
}

/* The monitor does not wait for readers (a reader slower than two
 * rotations loses what was between them, as documented); this writer does,
 * up to a second, so that a loaded machine cannot fail the test: it rotates,
 * then waits until someone besides itself has opened the fresh log. */
static int rotate(int dirfd, int fd) {
  int in = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
  char path[64];
  snprintf(path, sizeof(path), "/proc/self/fd/%d", dirfd);
  bool watching = in >= 0 && inotify_add_watch(in, path, IN_OPEN) >= 0;
  renameat(dirfd, "log", dirfd, "log.1");
  close(fd);
  fd = openat(dirfd, "log", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  int opens = 0;
  for (int64_t end = kk_monotonic_ms() + 1000; watching && opens < 2 && kk_monotonic_ms() < end;) {
    struct pollfd p = {in, POLLIN, 0};
    poll(&p, 1, 50);
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    ssize_t n = read(in, buf, sizeof(buf));
    for (char *e = buf; n > 0 && e < buf + n; e += sizeof(struct inotify_event) + ((struct inotify_event *)e)->len) {
      struct inotify_event *ev = (struct inotify_event *)e;
      opens += ev->len > 0 && strcmp(ev->name, "log") == 0;
    }
  }
  if (in >= 0)
    close(in);
  return fd;
}

/* A writer that rotates like the monitor (log -> log.1, fresh log) every
 * 50 lines, with a follower reading along: every line arrives once. */
START_TEST(follow_across_rotation) {
  char *d;
  int dirfd = monitor_dir(&d);
  pid_t w = fork();
  if (w == 0) {
    int fd = openat(dirfd, "log", O_WRONLY | O_APPEND | O_CLOEXEC);
    for (int i = 1; i <= 1000; i++) {
      char line[64];
      /* every line in two pieces: a P then its F */
      int n = snprintf(line, sizeof(line), "T stdout P %d-\nT stdout F x\n", i);
      if (write(fd, line, (size_t)n) != n)
        _exit(1);
      if (i % 50 == 0) {
        fd = rotate(dirfd, fd);
      } else if (i % 7 == 0) {
        usleep(1000);
      }
    }
    close(fd);
    kk_err_t err = NULL;
    kk_write_file_atomic(dirfd, "exit", "{}", 2, 0640, NULL, &err);
    _exit(0);
  }
  char pid[32];
  snprintf(pid, sizeof(pid), "%d\n", (int)w);
  put(d, "monitor.pid", pid);
  struct kk_log_opts o = {.follow = true, .tail = -1};
  cleanup_free char *out = NULL;
  ck_assert_int_eq(read_log(d, &o, true, &out, NULL), 0);
  int st;
  waitpid(w, &st, 0);
  ck_assert_int_eq(st, 0);
  size_t cap = 16, len = 0;
  char *want = kk_xmalloc(cap);
  for (int i = 1; i <= 1000; i++) {
    char line[32];
    int n = snprintf(line, sizeof(line), "%d-x\n", i);
    while (len + (size_t)n + 1 > cap)
      want = kk_xrealloc(want, cap *= 2);
    memcpy(want + len, line, (size_t)n + 1);
    len += (size_t)n;
  }
  ck_assert_str_eq(out, want);
  free(want);
  close(dirfd);
  rmtree(d);
}
END_TEST

/* A stand-in monitor with an attach socket, the way the real one behaves:
 * it logs before it sends to clients, writes "exit" before it hangs up.
 * serve = false: it takes the client and drops it at once (no slot left),
 * and the follower has to fall back to watching the directory. */
static void fake_monitor(int dirfd, bool serve) {
  int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/attach", dirfd);
  if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(l, 4) < 0)
    _exit(2);
  char pid[32];
  int n = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
  kk_err_t err = NULL;
  if (kk_write_file_atomic(dirfd, "monitor.pid", pid, (size_t)n, 0640, NULL, &err) < 0)
    _exit(3);
  int c = accept4(l, NULL, NULL, SOCK_CLOEXEC);
  if (!serve) {
    close(c);
    c = -1;
  }
  int fd = openat(dirfd, "log", O_WRONLY | O_APPEND | O_CLOEXEC);
  for (int i = 1; i <= 20; i++) {
    char line[64];
    n = snprintf(line, sizeof(line), "T stdout F line %d\n", i);
    if (write(fd, line, (size_t)n) != n)
      _exit(4);
    if (c >= 0 && send(c, "\1\0\0\0\1x", 6, MSG_NOSIGNAL) != 6)
      _exit(5);
    usleep(5000);
  }
  close(fd);
  kk_write_file_atomic(dirfd, "exit", "{}", 2, 0640, NULL, &err);
  unlinkat(dirfd, "attach", 0);
  _exit(0);
}

/* A monitor directory *d with the stand-in running in it (up once it has
 * written monitor.pid). */
static pid_t run_fake_monitor(char **d, int *dirfd, bool serve) {
  *dirfd = monitor_dir(d);
  pid_t m = fork();
  if (m == 0)
    fake_monitor(*dirfd, serve);
  cleanup_free char *mp = kk_asprintf("%s/monitor.pid", *d);
  for (int i = 0; i < 1000 && access(mp, F_OK) < 0; i++)
    usleep(1000);
  return m;
}

static void follow_with_attach(bool serve) {
  char *d;
  int dirfd;
  pid_t m = run_fake_monitor(&d, &dirfd, serve);
  cleanup_free char *exitp = kk_asprintf("%s/exit", d);
  struct kk_log_opts o = {.follow = true, .tail = -1};
  cleanup_free char *out = NULL;
  ck_assert_int_eq(read_log(d, &o, true, &out, NULL), 0);
  int st;
  waitpid(m, &st, 0);
  ck_assert_int_eq(st, 0);
  ck_assert_int_eq(access(exitp, F_OK), 0); /* it returned at the end, not before */
  char want[512] = "";
  for (int i = 1; i <= 20; i++)
    snprintf(want + strlen(want), sizeof(want) - strlen(want), "line %d\n", i);
  ck_assert_str_eq(out, want);
  close(dirfd);
  rmtree(d);
}

START_TEST(follow_woken_by_attach_socket) { follow_with_attach(true); }
END_TEST

/* A stop waits for the exit record through the same socket: it returns
 * once the stand-in wrote it, served or refused, and a monitor that never
 * ends runs the wait out. */
static void wait_exit_with_attach(bool serve) {
  char *d;
  int dirfd;
  pid_t m = run_fake_monitor(&d, &dirfd, serve);
  ck_assert(kk_monitor_wait_exit(dirfd, 10000));
  ck_assert(kk_exists_at(dirfd, "exit"));
  waitpid(m, NULL, 0);
  close(dirfd);
  rmtree(d);
}

START_TEST(wait_exit_woken_by_attach_socket) { wait_exit_with_attach(true); }
END_TEST

START_TEST(wait_exit_falls_back_when_refused) { wait_exit_with_attach(false); }
END_TEST

/* A stand-in monitor that does nothing until killed, named in
 * <d>/monitor.pid (it carries the name monitor_dir gave this process). */
static pid_t idle_monitor(const char *d) {
  pid_t m = fork();
  if (m == 0) {
    pause();
    _exit(0);
  }
  char pid[32];
  snprintf(pid, sizeof(pid), "%d\n", (int)m);
  put(d, "monitor.pid", pid);
  return m;
}

START_TEST(wait_exit_times_out) {
  char *d;
  int dirfd = monitor_dir(&d);
  pid_t m = idle_monitor(d);
  ck_assert(!kk_monitor_wait_exit(dirfd, 50));
  kill(m, SIGKILL);
  waitpid(m, NULL, 0);
  ck_assert(kk_monitor_wait_exit(dirfd, 50)); /* gone: no exit file will come */
  close(dirfd);
  rmtree(d);
}
END_TEST

START_TEST(follow_falls_back_when_refused) { follow_with_attach(false); }
END_TEST

/* A monitor that died is not alive, even before anyone reaped it. */
START_TEST(zombie_monitor_is_not_alive) {
  char *d = NULL;
  int dirfd = monitor_dir(&d);
  ck_assert(!kk_monitor_alive(dirfd)); /* no monitor.pid */
  pid_t mon = idle_monitor(d);
  ck_assert(kk_monitor_alive(dirfd));
  kill(mon, SIGKILL);
  siginfo_t si;
  waitid(P_PID, (id_t)mon, &si, WEXITED | WNOWAIT); /* dead, not reaped */
  ck_assert(!kk_monitor_alive(dirfd));
  ck_assert(kk_monitor_wait_gone(dirfd, 50));
  waitpid(mon, NULL, 0);
  close(dirfd);
  rmtree(d);
}
END_TEST

/* runc's record of a stopped container (state.json alone) goes without
 * running runc; anything else there is left to `runc delete`. */
START_TEST(forget_stopped_record) {
  char *root = mktmp();
  kk_err_t err = NULL;
  struct kk_runc never = {"/nonexistent/runc", root}; /* an exec would fail */
  ck_assert_int_eq(kk_runc_forget_stopped(&never, "absent", &err), 0);
  cleanup_free char *c1 = kk_asprintf("%s/c1", root), *c2 = kk_asprintf("%s/c2", root);
  ck_assert_int_eq(mkdir(c1, 0700), 0);
  ck_assert_int_eq(mkdir(c2, 0700), 0);
  put(root, "c1/state.json", "{}");
  ck_assert_int_eq(kk_runc_forget_stopped(&never, "c1", &err), 0);
  ck_assert(access(c1, F_OK) < 0 && errno == ENOENT);
  /* Created, never started (exec.fifo): runc's to judge. */
  put(root, "c2/state.json", "{}");
  put(root, "c2/exec.fifo", "");
  ck_assert_int_eq(kk_runc_forget_stopped(&never, "c2", &err), -1);
  ck_assert_int_eq(err->kind, KK_ERR_UNAVAILABLE);
  kk_error_free(&err);
  struct kk_runc runc_true = {"/bin/true", root};
  ck_assert_int_eq(kk_runc_forget_stopped(&runc_true, "c2", &err), 0);
  cleanup_free char *fifo = kk_asprintf("%s/c2/exec.fifo", root);
  ck_assert(access(fifo, F_OK) == 0); /* untouched by us */
  rmtree(root);
}
END_TEST

/* The monitor program kukeon carries is written out once, rewritten when
 * the file differs, and runs. */
START_TEST(stage_monitor) {
  char *run = mktmp();
  cleanup_free char *exe = NULL, *exe2 = NULL;
  kk_err_t err = NULL;
  ck_assert_int_eq(kk_monitor_stage(run, &exe, &err), 0);
  struct stat st;
  ck_assert_int_eq(stat(exe, &st), 0);
  ck_assert(S_ISREG(st.st_mode) && (st.st_mode & 0111) != 0);
  ino_t ino = st.st_ino;
  ck_assert_int_eq(kk_monitor_stage(run, &exe2, &err), 0); /* same content: untouched */
  ck_assert_int_eq(stat(exe2, &st), 0);
  ck_assert_int_eq(st.st_ino, ino);
  put(run, "bin/kukeon-monitor", "#!/bin/sh\n");
  free(exe2);
  exe2 = NULL;
  ck_assert_int_eq(kk_monitor_stage(run, &exe2, &err), 0);
  struct stat st2;
  ck_assert_int_eq(stat(exe2, &st2), 0);
  ck_assert(st2.st_size > 4096);
  pid_t p = fork();
  if (p == 0) {
    int null = open("/dev/null", O_RDWR);
    dup2(null, 1);
    dup2(null, 2);
    execl(exe2, "kukeon-monitor", (char *)NULL);
    _exit(127);
  }
  int ws;
  waitpid(p, &ws, 0);
  ck_assert(WIFEXITED(ws) && WEXITSTATUS(ws) == 2); /* usage: --id, --bundle... required */
  rmtree(run);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("monitor_log");
  TCase *tc = tcase_create("logread");
  tcase_set_timeout(tc, 30);
  tcase_add_test(tc, joins_and_splits);
  tcase_add_test(tc, timestamps_of_first_piece);
  tcase_add_test(tc, tail_counts_logical_lines);
  tcase_add_test(tc, missing_and_odd);
  tcase_add_test(tc, follow_stops_at_exit_or_dead_monitor);
  tcase_add_test(tc, follow_across_rotation);
  tcase_add_test(tc, follow_woken_by_attach_socket);
  tcase_add_test(tc, follow_falls_back_when_refused);
  tcase_add_test(tc, wait_exit_woken_by_attach_socket);
  tcase_add_test(tc, wait_exit_falls_back_when_refused);
  tcase_add_test(tc, wait_exit_times_out);
  suite_add_tcase(s, tc);
  TCase *stage = tcase_create("stage");
  tcase_add_test(stage, stage_monitor);
  tcase_add_test(stage, zombie_monitor_is_not_alive);
  tcase_add_test(stage, forget_stopped_record);
  suite_add_tcase(s, stage);
  return s;
}

KK_UNIT_MAIN(suite)

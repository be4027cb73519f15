/* Runs inside a container (tests/integration/t_seccomp.sh) and says what
 * the kernel let it do.  Built static (kk-probe) and dynamic (kk-probe-dyn)
 * from this file, without libkukeon.
 *   kk-probe [escapes]  one line per attempt, "NAME: ok" or "NAME: ERRNO-NAME",
 *                       then /proc/self/status's NoNewPrivs and Seccomp lines
 *   kk-probe threads    start and join 8 threads: "threads: ok 8" */
#include <errno.h>
#include <linux/bpf.h>
#include <linux/keyctl.h>
#include <linux/sched.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void report(const char *name, long r) {
  if (r >= 0)
    printf("%s: ok\n", name);
  else
    printf("%s: %s\n", name, strerrorname_np(errno) ? strerrorname_np(errno) : "?");
}

/* A child that did get created leaves at once. */
static long reap(long pid) {
  if (pid == 0)
    _exit(0);
  if (pid > 0)
    waitpid((pid_t)pid, NULL, 0);
  return pid;
}

static void escapes(void) {
  /* In a child: a namespace it gets must not change the later attempts. */
  fflush(stdout);
  pid_t child = fork();
  if (child == 0) {
    report("unshare(CLONE_NEWUSER)", unshare(CLONE_NEWUSER));
    _exit(0);
  }
  if (child < 0)
    report("unshare(CLONE_NEWUSER) (fork)", -1);
  else
    waitpid(child, NULL, 0);
  report("clone(CLONE_NEWUSER)", reap(syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0)));
  report("clone(CLONE_NEWNS)", reap(syscall(SYS_clone, CLONE_NEWNS | SIGCHLD, 0, 0, 0, 0)));
  struct clone_args ca;
  memset(&ca, 0, sizeof(ca));
  ca.flags = CLONE_NEWUSER;
  ca.exit_signal = SIGCHLD;
  report("clone3(CLONE_NEWUSER)", reap(syscall(SYS_clone3, &ca, sizeof(ca))));
  /* On a directory of its own: run by mistake on a host as root, the
   * probe must not cover anything. */
  char dir[] = "/tmp/kk-probe-mnt.XXXXXX";
  if (mkdtemp(dir) == NULL) {
    report("mount(tmpfs) (mkdtemp)", -1);
  } else {
    long r = mount("none", dir, "tmpfs", 0, NULL);
    report("mount(tmpfs)", r);
    if (r == 0)
      umount2(dir, MNT_DETACH);
    rmdir(dir);
  }
  report("keyctl(GET_KEYRING_ID)", syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0));
  union bpf_attr attr;
  memset(&attr, 0, sizeof(attr));
  attr.map_type = BPF_MAP_TYPE_ARRAY;
  attr.key_size = 4;
  attr.value_size = 4;
  attr.max_entries = 1;
  long fd = syscall(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof(attr));
  report("bpf(MAP_CREATE)", fd);
  if (fd >= 0)
    close((int)fd);
  /* A plain fork still works (clone without namespace flags). */
  report("fork", reap(fork()));
  FILE *f = fopen("/proc/self/status", "re");
  char line[256];
  while (f && fgets(line, sizeof(line), f))
    if (strncmp(line, "NoNewPrivs:", 11) == 0 || strncmp(line, "Seccomp:", 8) == 0)
      fputs(line, stdout);
  if (f)
    fclose(f);
}

static void *work(void *arg) {
  uintptr_t n = (uintptr_t)arg, sum = 0;
  for (uintptr_t i = 0; i < 100000; i++)
    sum += i * n;
  return (void *)(uintptr_t)(sum != 0);
}

static int threads(void) {
  pthread_t t[8];
  int ok = 0;
  for (uintptr_t i = 0; i < 8; i++) {
    int e = pthread_create(&t[i], NULL, work, (void *)(i + 1));
    if (e != 0) {
      printf("threads: pthread_create: %s\n", strerrorname_np(e));
      return 1;
    }
  }
  for (int i = 0; i < 8; i++) {
    void *r = NULL;
    if (pthread_join(t[i], &r) == 0 && r)
      ok++;
  }
  printf("threads: ok %d\n", ok);
  return ok == 8 ? 0 : 1;
}

/* getpid through the i386 entry (int 0x80): the kernel and seccomp see an
 * x86 syscall.  A filter that does not name x86 kills the process. */
static int int80(void) {
#if defined(__x86_64__)
  long ret;
  __asm__ volatile("int $0x80" : "=a"(ret) : "a"(20L) : "memory");
  printf("int80 getpid: %s\n", ret == getpid() ? "ok" : "wrong");
  return 0;
#else
  printf("int80: not x86_64\n");
  return 2;
#endif
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc > 1 && strcmp(argv[1], "threads") == 0)
    return threads();
  if (argc > 1 && strcmp(argv[1], "int80") == 0)
    return int80();
  escapes();
  return 0;
}

/* Seccomp for runc's config.json.
 *
 * The default profile is an allow-list in the manner of moby's default:
 * what is not listed fails with EPERM.  clone may not create namespaces and
 * clone3 fails with ENOSYS (its flags are in memory a filter cannot read;
 * libc then falls back to clone), unless the container has CAP_SYS_ADMIN.
 * Syscalls that a capability guards are allowed only to a container that
 * has it.  Every name goes through libseccomp: one this libseccomp, or this
 * host's architectures, do not know is left out instead of failing the
 * start.
 *
 * securityOpts seccomp=<path> names a docker-format JSON profile instead:
 * checked at apply (kk_security_opts_check) and converted here, when the
 * bundle is written, for the container's capabilities and this host. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <seccomp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>

#include "lib/fs.h"
#include "lib/util.h"
#include "runtime/bundle_int.h"
#include "runtime/runtime.h"

/* A profile is a few KiB (moby's default is 12 KiB). */
#define PROFILE_MAX (1024 * 1024)
#define MAX_ERRNO_RET 4095
/* The namespace flags clone(2) may not carry without CAP_SYS_ADMIN. */
#define CLONE_NS_FLAGS                                                                                        \
  (CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWCGROUP)

/* ----------------------------------------------------------- architectures */

struct arch {
  uint32_t token;    /* libseccomp's */
  const char *oci;   /* config.json and docker's "architectures" */
  const char *name;  /* docker's includes/excludes "arches" */
  bool runc;         /* runc 1.1 accepts it in config.json */
};

static const struct arch arch_table[] = {
    {SCMP_ARCH_X86, "SCMP_ARCH_X86", "x86", true},
    {SCMP_ARCH_X86_64, "SCMP_ARCH_X86_64", "amd64", true},
    {SCMP_ARCH_X32, "SCMP_ARCH_X32", "x32", true},
    {SCMP_ARCH_ARM, "SCMP_ARCH_ARM", "arm", true},
    {SCMP_ARCH_AARCH64, "SCMP_ARCH_AARCH64", "arm64", true},
    {SCMP_ARCH_MIPS, "SCMP_ARCH_MIPS", "mips", true},
    {SCMP_ARCH_MIPS64, "SCMP_ARCH_MIPS64", "mips64", true},
    {SCMP_ARCH_MIPS64N32, "SCMP_ARCH_MIPS64N32", "mips64n32", true},
    {SCMP_ARCH_MIPSEL, "SCMP_ARCH_MIPSEL", "mipsel", true},
    {SCMP_ARCH_MIPSEL64, "SCMP_ARCH_MIPSEL64", "mipsel64", true},
    {SCMP_ARCH_MIPSEL64N32, "SCMP_ARCH_MIPSEL64N32", "mipsel64n32", true},
    {SCMP_ARCH_PPC, "SCMP_ARCH_PPC", "ppc", true},
    {SCMP_ARCH_PPC64, "SCMP_ARCH_PPC64", "ppc64", true},
    {SCMP_ARCH_PPC64LE, "SCMP_ARCH_PPC64LE", "ppc64le", true},
    {SCMP_ARCH_S390, "SCMP_ARCH_S390", "s390", true},
    {SCMP_ARCH_S390X, "SCMP_ARCH_S390X", "s390x", true},
#ifdef SCMP_ARCH_RISCV64
    {SCMP_ARCH_RISCV64, "SCMP_ARCH_RISCV64", "riscv64", false},
#endif
};

/* The compat modes a 64-bit kernel also runs.  A filter that does not name
 * one kills a process that enters the kernel through it (runc leaves
 * libseccomp's bad-arch action, SIGSYS): nobody walks around the profile
 * that way.  Naming them costs runc about 14 ms per container start here
 * (libseccomp builds the x86 filter, socketcall and all), so the default
 * profile names one only for an image built for it. */
static const struct {
  uint32_t native;
  uint32_t sub[2];
  const char *image_arch; /* GOARCH of an image that runs in sub[0] */
} arch_families[] = {
    {SCMP_ARCH_X86_64, {SCMP_ARCH_X86, SCMP_ARCH_X32}, "386"},
    {SCMP_ARCH_AARCH64, {SCMP_ARCH_ARM, 0}, "arm"},
    {SCMP_ARCH_MIPS64, {SCMP_ARCH_MIPS, SCMP_ARCH_MIPS64N32}, "mips"},
    {SCMP_ARCH_MIPS64N32, {SCMP_ARCH_MIPS, SCMP_ARCH_MIPS64}, "mips"},
    {SCMP_ARCH_MIPSEL64, {SCMP_ARCH_MIPSEL, SCMP_ARCH_MIPSEL64N32}, "mipsle"},
    {SCMP_ARCH_MIPSEL64N32, {SCMP_ARCH_MIPSEL, SCMP_ARCH_MIPSEL64}, "mipsle"},
    {SCMP_ARCH_S390X, {SCMP_ARCH_S390, 0}, "s390"},
};

static const struct arch *arch_by_token(uint32_t token) {
  for (size_t i = 0; i < KK_ARRAY_SIZE(arch_table); i++)
    if (arch_table[i].token == token)
      return &arch_table[i];
  return NULL;
}

static const struct arch *arch_by_oci(const char *oci) {
  for (size_t i = 0; i < KK_ARRAY_SIZE(arch_table); i++)
    if (strcmp(arch_table[i].oci, oci) == 0)
      return &arch_table[i];
  return NULL;
}

static const struct arch *arch_by_name(const char *name) {
  for (size_t i = 0; i < KK_ARRAY_SIZE(arch_table); i++)
    if (strcmp(arch_table[i].name, name) == 0)
      return &arch_table[i];
  return NULL;
}

/* The architectures a profile covers; the native one is always first. */
struct arch_set {
  const struct arch *v[KK_ARRAY_SIZE(arch_table) + 1];
  size_t n;
};

static void arch_set_add(struct arch_set *s, const struct arch *a) {
  if (a == NULL)
    return;
  for (size_t i = 0; i < s->n; i++)
    if (s->v[i] == a)
      return;
  if (s->n < KK_ARRAY_SIZE(s->v))
    s->v[s->n++] = a;
}

static const struct arch *arch_native(void) { return arch_by_token(seccomp_arch_native()); }

/* The native ABI, and the compat one an image of that architecture needs. */
static void arch_set_for_image(struct arch_set *s, const char *image_arch) {
  const struct arch *native = arch_native();
  arch_set_add(s, native);
  for (size_t i = 0; native && image_arch && i < KK_ARRAY_SIZE(arch_families); i++)
    if (arch_families[i].native == native->token && strcmp(arch_families[i].image_arch, image_arch) == 0)
      arch_set_add(s, arch_by_token(arch_families[i].sub[0]));
}

static json_t *arch_set_json(const struct arch_set *s) {
  json_t *a = json_array();
  for (size_t i = 0; i < s->n; i++)
    json_array_append_new(a, json_string(s->v[i]->oci));
  return a;
}

bool kk_seccomp_name_usable(const char *name, const uint32_t *arches, size_t n_arches) {
  for (size_t i = 0; i < n_arches; i++)
    if (seccomp_syscall_resolve_name_arch(arches[i], name) >= 0)
      return true;
  return false;
}

static bool usable_on(const struct arch_set *s, const char *name) {
  uint32_t tokens[KK_ARRAY_SIZE(s->v)];
  for (size_t i = 0; i < s->n; i++)
    tokens[i] = s->v[i]->token;
  if (s->n == 0) /* no table entry for this host: libseccomp's native */
    return seccomp_syscall_resolve_name(name) >= 0;
  return kk_seccomp_name_usable(name, tokens, s->n);
}

/* Append name unless it is there already or none of the profile's
 * architectures has it. */
static void names_add(json_t *names, const char *name, const struct arch_set *s) {
  size_t i;
  json_t *v;
  json_array_foreach(names, i, v) {
    if (strcmp(json_string_value(v), name) == 0)
      return;
  }
  if (usable_on(s, name))
    json_array_append_new(names, json_string(name));
}

/* ------------------------------------------------------------------ kernel */

/* "6.1.0-13-amd64" -> 6, 1, 0; -1 when it does not start with a number. */
static int parse_release(const char *s, int v[3]) {
  v[0] = v[1] = v[2] = 0;
  for (int i = 0; i < 3; i++) {
    char *end = NULL;
    if (*s < '0' || *s > '9')
      return i == 0 ? -1 : 0;
    long n = strtol(s, &end, 10);
    v[i] = n > 65535 ? 65535 : (int)n;
    if (*end != '.')
      return 0;
    s = end + 1;
  }
  return 0;
}

static bool kernel_at_least(const int want[3]) {
  struct utsname u;
  int have[3];
  if (uname(&u) < 0 || parse_release(u.release, have) < 0)
    return false;
  for (int i = 0; i < 3; i++)
    if (have[i] != want[i])
      return have[i] > want[i];
  return true;
}

/* --------------------------------------------------------- default profile */

/* Allowed to every container (moby's default list; socket, personality,
 * clone and clone3 have rules of their own below). */
static const char *const allowed_always[] = {
    "accept", "accept4", "access", "adjtimex", "alarm", "bind", "brk", "capget", "capset", "chdir", "chmod",
    "chown", "chown32", "clock_adjtime", "clock_adjtime64", "clock_getres", "clock_getres_time64",
    "clock_gettime", "clock_gettime64", "clock_nanosleep", "clock_nanosleep_time64", "close", "close_range",
    "connect", "copy_file_range", "creat", "dup", "dup2", "dup3", "epoll_create", "epoll_create1", "epoll_ctl",
    "epoll_ctl_old", "epoll_pwait", "epoll_pwait2", "epoll_wait", "epoll_wait_old", "eventfd", "eventfd2",
    "execve", "execveat", "exit", "exit_group", "faccessat", "faccessat2", "fadvise64", "fadvise64_64",
    "fallocate", "fanotify_mark", "fchdir", "fchmod", "fchmodat", "fchown", "fchown32", "fchownat", "fcntl",
    "fcntl64", "fdatasync", "fgetxattr", "flistxattr", "flock", "fork", "fremovexattr", "fsetxattr", "fstat",
    "fstat64", "fstatat64", "fstatfs", "fstatfs64", "fsync", "ftruncate", "ftruncate64", "futex",
    "futex_time64", "futex_waitv", "futimesat", "getcpu", "getcwd", "getdents", "getdents64", "getegid",
    "getegid32", "geteuid", "geteuid32", "getgid", "getgid32", "getgroups", "getgroups32", "getitimer",
    "getpeername", "getpgid", "getpgrp", "getpid", "getppid", "getpriority", "getrandom", "getresgid",
    "getresgid32", "getresuid", "getresuid32", "getrlimit", "get_robust_list", "getrusage", "getsid",
    "getsockname", "getsockopt", "get_thread_area", "gettid", "gettimeofday", "getuid", "getuid32", "getxattr",
    "inotify_add_watch", "inotify_init", "inotify_init1", "inotify_rm_watch", "io_cancel", "ioctl",
    "io_destroy", "io_getevents", "io_pgetevents", "io_pgetevents_time64", "ioprio_get", "ioprio_set",
    "io_setup", "io_submit", "io_uring_enter", "io_uring_register", "io_uring_setup", "ipc", "kill",
    "landlock_add_rule", "landlock_create_ruleset", "landlock_restrict_self", "lchown", "lchown32",
    "lgetxattr", "link", "linkat", "listen", "listxattr", "llistxattr", "_llseek", "lremovexattr", "lseek",
    "lsetxattr", "lstat", "lstat64", "madvise", "membarrier", "memfd_create", "memfd_secret", "mincore",
    "mkdir", "mkdirat", "mknod", "mknodat", "mlock", "mlock2", "mlockall", "mmap", "mmap2", "mprotect",
    "mq_getsetattr", "mq_notify", "mq_open", "mq_timedreceive", "mq_timedreceive_time64", "mq_timedsend",
    "mq_timedsend_time64", "mq_unlink", "mremap", "msgctl", "msgget", "msgrcv", "msgsnd", "msync", "munlock",
    "munlockall", "munmap", "name_to_handle_at", "nanosleep", "newfstatat", "_newselect", "open", "openat",
    "openat2", "pause", "pidfd_open", "pidfd_send_signal", "pipe", "pipe2", "pkey_alloc", "pkey_free",
    "pkey_mprotect", "poll", "ppoll", "ppoll_time64", "prctl", "pread64", "preadv", "preadv2", "prlimit64",
    "process_mrelease", "pselect6", "pselect6_time64", "pwrite64", "pwritev", "pwritev2", "read", "readahead",
    "readlink", "readlinkat", "readv", "recv", "recvfrom", "recvmmsg", "recvmmsg_time64", "recvmsg",
    "remap_file_pages", "removexattr", "rename", "renameat", "renameat2", "restart_syscall", "rmdir", "rseq",
    "rt_sigaction", "rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo", "rt_sigreturn", "rt_sigsuspend",
    "rt_sigtimedwait", "rt_sigtimedwait_time64", "rt_tgsigqueueinfo", "sched_getaffinity", "sched_getattr",
    "sched_getparam", "sched_get_priority_max", "sched_get_priority_min", "sched_getscheduler",
    "sched_rr_get_interval", "sched_rr_get_interval_time64", "sched_setaffinity", "sched_setattr",
    "sched_setparam", "sched_setscheduler", "sched_yield", "seccomp", "select", "semctl", "semget", "semop",
    "semtimedop", "semtimedop_time64", "send", "sendfile", "sendfile64", "sendmmsg", "sendmsg", "sendto",
    "setfsgid", "setfsgid32", "setfsuid", "setfsuid32", "setgid", "setgid32", "setgroups", "setgroups32",
    "setitimer", "setpgid", "setpriority", "setregid", "setregid32", "setresgid", "setresgid32", "setresuid",
    "setresuid32", "setreuid", "setreuid32", "setrlimit", "set_robust_list", "setsid", "setsockopt",
    "set_thread_area", "set_tid_address", "setuid", "setuid32", "setxattr", "shmat", "shmctl", "shmdt",
    "shmget", "shutdown", "sigaltstack", "signalfd", "signalfd4", "sigprocmask", "sigreturn", "socketcall",
    "socketpair", "splice", "stat", "stat64", "statfs", "statfs64", "statx", "symlink", "symlinkat", "sync",
    "sync_file_range", "syncfs", "sysinfo", "tee", "tgkill", "time", "timer_create", "timer_delete",
    "timer_getoverrun", "timer_gettime", "timer_gettime64", "timer_settime", "timer_settime64",
    "timerfd_create", "timerfd_gettime", "timerfd_gettime64", "timerfd_settime", "timerfd_settime64", "times",
    "tkill", "truncate", "truncate64", "ugetrlimit", "umask", "uname", "unlink", "unlinkat", "utime",
    "utimensat", "utimensat_time64", "utimes", "vfork", "vmsplice", "wait4", "waitid", "waitpid", "write",
    "writev",
};

/* Before 4.8 a ptraced process could leave its seccomp filter behind. */
static const char *const allowed_since_4_8[] = {"process_vm_readv", "process_vm_writev", "ptrace"};
static const int kernel_4_8[3] = {4, 8, 0};

/* What a capability lets its holder do anyway, so the filter allows it. */
static const struct {
  int cap;
  const char *names[24];
} allowed_with_cap[] = {
    {CAP_DAC_READ_SEARCH, {"open_by_handle_at"}},
    {CAP_SYS_ADMIN, {"bpf", "clone", "clone3", "fanotify_init", "fsconfig", "fsmount", "fsopen", "fspick",
                     "lookup_dcookie", "mount", "mount_setattr", "move_mount", "open_tree", "perf_event_open",
                     "quotactl", "quotactl_fd", "setdomainname", "sethostname", "setns", "syslog", "umount",
                     "umount2", "unshare"}},
    {CAP_SYS_BOOT, {"reboot"}},
    {CAP_SYS_CHROOT, {"chroot"}},
    {CAP_SYS_MODULE, {"delete_module", "init_module", "finit_module"}},
    {CAP_SYS_PACCT, {"acct"}},
    {CAP_SYS_PTRACE, {"kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv", "process_vm_writev", "ptrace"}},
    {CAP_SYS_RAWIO, {"iopl", "ioperm"}},
    {CAP_SYS_TIME, {"settimeofday", "stime", "clock_settime", "clock_settime64"}},
    {CAP_SYS_TTY_CONFIG, {"vhangup"}},
    {CAP_SYS_NICE, {"get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node"}},
    {CAP_SYSLOG, {"syslog"}},
    {CAP_BPF, {"bpf"}},
    {CAP_PERFMON, {"perf_event_open"}},
};

/* Syscalls of one architecture family only (docker's arch names). */
static const struct {
  const char *arches[3];
  const char *names[8];
} allowed_on_arch[] = {
    {{"amd64", "x32"}, {"arch_prctl"}},
    {{"amd64", "x32", "x86"}, {"modify_ldt"}},
    {{"arm", "arm64"},
     {"arm_fadvise64_64", "arm_sync_file_range", "sync_file_range2", "breakpoint", "cacheflush", "set_tls"}},
    {{"ppc64le"}, {"sync_file_range2", "swapcontext"}},
    {{"s390", "s390x"}, {"s390_pci_mmio_read", "s390_pci_mmio_write", "s390_runtime_instr"}},
    {{"riscv64"}, {"riscv_flush_icache"}},
};

/* personality(2) values a program may set: the default, PER_LINUX32,
 * UNAME26 with each, and the query (0xffffffff). */
static const json_int_t allowed_personality[] = {0x0, 0x8, 0x20000, 0x20008, 0xffffffff};

static bool has_cap(unsigned long long caps, int cap) { return cap >= 0 && cap < 64 && (caps >> cap) & 1; }

static json_t *arg(int index, json_int_t value, json_int_t value_two, const char *op) {
  return json_pack("{s:i, s:I, s:I, s:s}", "index", index, "value", value, "valueTwo", value_two, "op", op);
}

/* One rule for one syscall with one argument condition; NULL when the
 * architectures do not have the syscall. */
static json_t *arg_rule(const struct arch_set *s, const char *name, const char *action, json_t *a) {
  if (!usable_on(s, name)) {
    json_decref(a);
    return NULL;
  }
  return json_pack("{s:[s], s:s, s:[o]}", "names", name, "action", action, "args", a);
}

static void append_rule(json_t *rules, json_t *r) {
  if (r)
    json_array_append_new(rules, r);
}

static json_t *default_profile(unsigned long long caps, const char *image_arch) {
  struct arch_set as = {0};
  arch_set_for_image(&as, image_arch);
  const struct arch *native = arch_native();
  json_t *allow = json_array();
  for (size_t i = 0; i < KK_ARRAY_SIZE(allowed_always); i++)
    names_add(allow, allowed_always[i], &as);
  if (kernel_at_least(kernel_4_8))
    for (size_t i = 0; i < KK_ARRAY_SIZE(allowed_since_4_8); i++)
      names_add(allow, allowed_since_4_8[i], &as);
  for (size_t i = 0; i < KK_ARRAY_SIZE(allowed_with_cap); i++)
    for (size_t j = 0; has_cap(caps, allowed_with_cap[i].cap) && allowed_with_cap[i].names[j]; j++)
      names_add(allow, allowed_with_cap[i].names[j], &as);
  for (size_t i = 0; native && i < KK_ARRAY_SIZE(allowed_on_arch); i++) {
    bool here = false;
    for (size_t j = 0; j < 3 && allowed_on_arch[i].arches[j]; j++)
      here |= strcmp(allowed_on_arch[i].arches[j], native->name) == 0;
    for (size_t j = 0; here && allowed_on_arch[i].names[j]; j++)
      names_add(allow, allowed_on_arch[i].names[j], &as);
  }
  json_t *rules = json_array();
  json_array_append_new(rules, json_pack("{s:o, s:s}", "names", allow, "action", "SCMP_ACT_ALLOW"));
  /* vsock reaches the hypervisor, outside the container's network. */
  append_rule(rules, arg_rule(&as, "socket", "SCMP_ACT_ALLOW", arg(0, AF_VSOCK, 0, "SCMP_CMP_NE")));
  for (size_t i = 0; i < KK_ARRAY_SIZE(allowed_personality); i++)
    append_rule(rules, arg_rule(&as, "personality", "SCMP_ACT_ALLOW", arg(0, allowed_personality[i], 0, "SCMP_CMP_EQ")));
  if (!has_cap(caps, CAP_SYS_ADMIN)) {
    /* s390 passes clone's flags second. */
    bool s390 = native && (native->token == SCMP_ARCH_S390 || native->token == SCMP_ARCH_S390X);
    append_rule(rules, arg_rule(&as, "clone", "SCMP_ACT_ALLOW", arg(s390 ? 1 : 0, CLONE_NS_FLAGS, 0, "SCMP_CMP_MASKED_EQ")));
    if (usable_on(&as, "clone3"))
      json_array_append_new(rules, json_pack("{s:[s], s:s, s:i}", "names", "clone3", "action", "SCMP_ACT_ERRNO",
                                             "errnoRet", ENOSYS));
  }
  json_t *p = json_pack("{s:s, s:i, s:o}", "defaultAction", "SCMP_ACT_ERRNO", "defaultErrnoRet", EPERM, "syscalls", rules);
  if (as.n > 0)
    json_object_set_new(p, "architectures", arch_set_json(&as));
  return p;
}

/* ------------------------------------------------ docker-format profiles */

struct pctx {
  const char *path;
  unsigned long long caps; /* the container's; 0 when only checking */
  const struct arch *native;
  kk_err_t *err;
};

static int bad(const struct pctx *p, const char *field, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int bad(const struct pctx *p, const char *field, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  return kk_error_kind(p->err, KK_ERR_INVALID, 0, "seccomp profile %s: %s: %s", p->path, field, msg);
}

static bool in_list(const char *const *list, const char *s) {
  for (size_t i = 0; list[i]; i++)
    if (strcmp(list[i], s) == 0)
      return true;
  return false;
}

static int only_keys(const struct pctx *p, json_t *obj, const char *where, const char *const *keys) {
  const char *k;
  json_t *v;
  json_object_foreach(obj, k, v) {
    if (in_list(keys, k))
      continue;
    char field[160];
    snprintf(field, sizeof(field), "%s%s%s", where, *where ? "." : "", k);
    if (strcmp(k, "listenerPath") == 0 || strcmp(k, "listenerMetadata") == 0)
      return bad(p, field, "not supported (kukeon runs no seccomp agent)");
    return bad(p, field, "unknown field");
  }
  return 0;
}

static const char *const actions[] = {"SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD",
                                      "SCMP_ACT_TRAP", "SCMP_ACT_ERRNO",        "SCMP_ACT_TRACE",
                                      "SCMP_ACT_ALLOW", "SCMP_ACT_LOG",         NULL};
static const char *const operators[] = {"SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE",        "SCMP_CMP_EQ",
                                        "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ", NULL};

static int get_action(const struct pctx *p, json_t *v, const char *field, const char **out) {
  if (v == NULL)
    return bad(p, field, "missing");
  if (!json_is_string(v))
    return bad(p, field, "must be a string");
  const char *s = json_string_value(v);
  if (strcmp(s, "SCMP_ACT_NOTIFY") == 0)
    return bad(p, field, "SCMP_ACT_NOTIFY is not supported (kukeon runs no seccomp agent)");
  if (!in_list(actions, s))
    return bad(p, field, "unknown action \"%s\"", s);
  *out = s;
  return 0;
}

static int get_errno_ret(const struct pctx *p, json_t *v, const char *field) {
  if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > MAX_ERRNO_RET)
    return bad(p, field, "must be an errno number from 0 to %d", MAX_ERRNO_RET);
  return 0;
}

static int get_strings(const struct pctx *p, json_t *v, const char *field) {
  if (!json_is_array(v))
    return bad(p, field, "must be a list of strings");
  size_t i;
  json_t *s;
  json_array_foreach(v, i, s) {
    if (!json_is_string(s))
      return bad(p, field, "must be a list of strings");
  }
  return 0;
}

/* "4.8" or "5.10.3". */
static int get_kernel(const struct pctx *p, json_t *v, const char *field, int out[3]) {
  const char *s = json_string_value(v);
  bool ok = s && *s >= '0' && *s <= '9' && strspn(s, "0123456789.") == strlen(s) && strstr(s, "..") == NULL &&
            s[strlen(s) - 1] != '.';
  if (!ok || parse_release(s, out) < 0)
    return bad(p, field, "must be a kernel version such as \"4.8\"");
  return 0;
}

static bool any_cap(json_t *caps, unsigned long long have, bool want_all) {
  size_t i;
  json_t *c;
  json_array_foreach(caps, i, c) {
    bool held = has_cap(have, kk_cap_number(json_string_value(c)));
    if (want_all && !held)
      return false;
    if (!want_all && held)
      return true;
  }
  return want_all;
}

static bool names_arch(json_t *arches, const struct arch *native) {
  size_t i;
  json_t *a;
  json_array_foreach(arches, i, a) {
    if (native && strcmp(json_string_value(a), native->name) == 0)
      return true;
  }
  return false;
}

/* includes/excludes: {caps, arches, minKernel}.  *match: whether this
 * host and container meet every condition given (includes) or any of
 * them (excludes), as docker reads them. */
static int get_filter(const struct pctx *p, json_t *f, const char *field, bool includes, bool *match) {
  *match = includes;
  if (f == NULL || json_is_null(f))
    return 0;
  if (!json_is_object(f))
    return bad(p, field, "must be an object");
  static const char *const keys[] = {"caps", "arches", "minKernel", NULL};
  if (only_keys(p, f, field, keys) < 0)
    return -1;
  char sub[160];
  json_t *caps = json_object_get(f, "caps"), *arches = json_object_get(f, "arches"),
         *kernel = json_object_get(f, "minKernel");
  bool cap_hit = false, arch_hit = false, kernel_hit = false;
  if (caps && !json_is_null(caps)) {
    snprintf(sub, sizeof(sub), "%s.caps", field);
    if (get_strings(p, caps, sub) < 0)
      return -1;
    size_t i;
    json_t *c;
    json_array_foreach(caps, i, c) {
      const char *n = json_string_value(c);
      if (!kk_has_prefix(n, "CAP_") || kk_cap_number(n) < 0)
        return bad(p, sub, "unknown capability \"%s\"", n);
    }
    cap_hit = json_array_size(caps) > 0 && any_cap(caps, p->caps, includes);
    if (includes && json_array_size(caps) > 0 && !cap_hit)
      *match = false;
  }
  if (arches && !json_is_null(arches)) {
    snprintf(sub, sizeof(sub), "%s.arches", field);
    if (get_strings(p, arches, sub) < 0)
      return -1;
    size_t i;
    json_t *a;
    json_array_foreach(arches, i, a) {
      if (arch_by_name(json_string_value(a)) == NULL)
        return bad(p, sub, "unknown architecture \"%s\"", json_string_value(a));
    }
    arch_hit = names_arch(arches, p->native);
    if (includes && json_array_size(arches) > 0 && !arch_hit)
      *match = false;
  }
  if (kernel && !json_is_null(kernel)) {
    int want[3];
    snprintf(sub, sizeof(sub), "%s.minKernel", field);
    if (get_kernel(p, kernel, sub, want) < 0)
      return -1;
    kernel_hit = kernel_at_least(want);
    if (includes && !kernel_hit)
      *match = false;
  }
  if (!includes)
    *match = cap_hit || arch_hit || kernel_hit;
  return 0;
}

static int get_args(const struct pctx *p, json_t *args, const char *field) {
  if (!json_is_array(args))
    return bad(p, field, "must be a list");
  size_t i;
  json_t *a;
  json_array_foreach(args, i, a) {
    char sub[160];
    snprintf(sub, sizeof(sub), "%s[%zu]", field, i);
    static const char *const keys[] = {"index", "value", "valueTwo", "op", NULL};
    if (!json_is_object(a))
      return bad(p, sub, "must be an object");
    if (only_keys(p, a, sub, keys) < 0)
      return -1;
    json_t *index = json_object_get(a, "index"), *value = json_object_get(a, "value"),
           *two = json_object_get(a, "valueTwo"), *op = json_object_get(a, "op");
    if (!json_is_integer(index) || json_integer_value(index) < 0 || json_integer_value(index) > 5)
      return bad(p, sub, "index must be an argument number from 0 to 5");
    if (!json_is_integer(value) || json_integer_value(value) < 0)
      return bad(p, sub, "value must be a non-negative integer");
    if (two && (!json_is_integer(two) || json_integer_value(two) < 0))
      return bad(p, sub, "valueTwo must be a non-negative integer");
    if (!json_is_string(op) || !in_list(operators, json_string_value(op)))
      return bad(p, sub, "op must be one of SCMP_CMP_NE, _LT, _LE, _EQ, _GE, _GT, _MASKED_EQ");
  }
  return 0;
}

/* One entry of "syscalls": checked whole; appended to rules (converted
 * for runc) when its includes/excludes select it here. */
static int get_syscall(const struct pctx *p, json_t *e, size_t idx, const struct arch_set *as, json_t *rules) {
  char field[96], sub[160];
  snprintf(field, sizeof(field), "syscalls[%zu]", idx);
  if (!json_is_object(e))
    return bad(p, field, "must be an object");
  static const char *const keys[] = {"names", "name", "action", "errnoRet", "args", "comment", "includes", "excludes", NULL};
  if (only_keys(p, e, field, keys) < 0)
    return -1;
  json_t *names = json_object_get(e, "names"), *name = json_object_get(e, "name");
  if (names && name)
    return bad(p, field, "has both name and names; use one");
  if (name) {
    snprintf(sub, sizeof(sub), "%s.name", field);
    if (!json_is_string(name))
      return bad(p, sub, "must be a string");
  } else {
    snprintf(sub, sizeof(sub), "%s.names", field);
    if (!json_is_array(names) || json_array_size(names) == 0)
      return bad(p, sub, "must be a non-empty list of syscall names");
    if (get_strings(p, names, sub) < 0)
      return -1;
  }
  json_t *list = name ? json_pack("[O]", name) : json_incref(names);
  json_t *out_names = json_array();
  size_t i;
  json_t *n;
  int ret = 0;
  json_array_foreach(list, i, n) {
    const char *s = json_string_value(n);
    if (seccomp_syscall_resolve_name(s) == __NR_SCMP_ERROR) {
      if (name)
        snprintf(sub, sizeof(sub), "%s.name", field);
      else
        snprintf(sub, sizeof(sub), "%s.names[%zu]", field, i);
      ret = bad(p, sub, "unknown syscall \"%s\" (this host's libseccomp does not know it)", s);
      break;
    }
    names_add(out_names, s, as);
  }
  json_decref(list);
  const char *action = NULL;
  json_t *errno_ret = json_object_get(e, "errnoRet"), *args = json_object_get(e, "args");
  bool inc = true, exc = false;
  snprintf(sub, sizeof(sub), "%s.action", field);
  if (ret == 0 && get_action(p, json_object_get(e, "action"), sub, &action) < 0)
    ret = -1;
  snprintf(sub, sizeof(sub), "%s.errnoRet", field);
  if (ret == 0 && errno_ret && get_errno_ret(p, errno_ret, sub) < 0)
    ret = -1;
  if (ret == 0 && errno_ret && strcmp(action, "SCMP_ACT_ERRNO") != 0 && strcmp(action, "SCMP_ACT_TRACE") != 0)
    ret = bad(p, sub, "only SCMP_ACT_ERRNO and SCMP_ACT_TRACE take an errnoRet");
  snprintf(sub, sizeof(sub), "%s.args", field);
  if (ret == 0 && args && !json_is_null(args) && get_args(p, args, sub) < 0)
    ret = -1;
  snprintf(sub, sizeof(sub), "%s.comment", field);
  if (ret == 0 && json_object_get(e, "comment") && !json_is_string(json_object_get(e, "comment")))
    ret = bad(p, sub, "must be a string");
  snprintf(sub, sizeof(sub), "%s.includes", field);
  if (ret == 0 && get_filter(p, json_object_get(e, "includes"), sub, true, &inc) < 0)
    ret = -1;
  snprintf(sub, sizeof(sub), "%s.excludes", field);
  if (ret == 0 && get_filter(p, json_object_get(e, "excludes"), sub, false, &exc) < 0)
    ret = -1;
  if (ret < 0 || !inc || exc || json_array_size(out_names) == 0) {
    json_decref(out_names);
    return ret;
  }
  json_t *r = json_pack("{s:o, s:s}", "names", out_names, "action", action);
  if (errno_ret)
    json_object_set(r, "errnoRet", errno_ret);
  if (args && json_array_size(args) > 0)
    json_object_set(r, "args", args);
  json_array_append_new(rules, r);
  return 0;
}

/* "architectures" or docker's "archMap" (the entry of this host's
 * architecture, with its sub-architectures). */
static int get_arches(const struct pctx *p, json_t *doc, struct arch_set *as) {
  json_t *list = json_object_get(doc, "architectures"), *map = json_object_get(doc, "archMap");
  bool has_list = list && !json_is_null(list), has_map = map && !json_is_null(map);
  if (has_list && has_map)
    return bad(p, "archMap", "architectures and archMap are both given; use one");
  json_t *chosen = NULL; /* the list of names that applies here */
  if (has_list) {
    if (get_strings(p, list, "architectures") < 0)
      return -1;
    chosen = list;
  }
  json_t *entry_arches = NULL;
  if (has_map) {
    if (!json_is_array(map))
      return bad(p, "archMap", "must be a list");
    size_t i;
    json_t *e;
    json_array_foreach(map, i, e) {
      char field[64], sub[96];
      snprintf(field, sizeof(field), "archMap[%zu]", i);
      static const char *const keys[] = {"architecture", "subArchitectures", NULL};
      if (!json_is_object(e))
        return bad(p, field, "must be an object");
      if (only_keys(p, e, field, keys) < 0)
        return -1;
      json_t *a = json_object_get(e, "architecture"), *subs = json_object_get(e, "subArchitectures");
      snprintf(sub, sizeof(sub), "%s.architecture", field);
      if (!json_is_string(a))
        return bad(p, sub, "must be a string");
      if (arch_by_oci(json_string_value(a)) == NULL)
        return bad(p, sub, "unknown architecture \"%s\"", json_string_value(a));
      snprintf(sub, sizeof(sub), "%s.subArchitectures", field);
      if (subs && !json_is_null(subs) && get_strings(p, subs, sub) < 0)
        return -1;
      size_t j;
      json_t *s;
      json_array_foreach(subs, j, s) {
        if (arch_by_oci(json_string_value(s)) == NULL)
          return bad(p, sub, "unknown architecture \"%s\"", json_string_value(s));
      }
      if (p->native && arch_by_oci(json_string_value(a)) == p->native && entry_arches == NULL) {
        entry_arches = json_array();
        json_array_append(entry_arches, a);
        if (subs && json_is_array(subs))
          json_array_extend(entry_arches, subs);
      }
    }
    chosen = entry_arches;
  }
  int ret = 0;
  size_t i;
  json_t *a;
  arch_set_add(as, p->native);
  json_array_foreach(chosen, i, a) {
    const struct arch *ar = arch_by_oci(json_string_value(a));
    if (ar == NULL || !ar->runc) {
      char field[64] = "archMap";
      if (has_list)
        snprintf(field, sizeof(field), "architectures[%zu]", i);
      ret = bad(p, field, "%s architecture \"%s\"", ar ? "runc 1.1 does not support" : "unknown", json_string_value(a));
      break;
    }
    arch_set_add(as, ar);
  }
  json_decref(entry_arches);
  return ret;
}

static int profile_read(const char *path, json_t **out, kk_err_t *err) {
  cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0)
    return kk_error_kind(err, KK_ERR_INVALID, errno, "seccomp profile %s", path);
  struct stat st;
  if (fstat(fd, &st) < 0)
    return kk_error(err, errno, "seccomp profile %s", path);
  if (!S_ISREG(st.st_mode))
    return kk_error_kind(err, KK_ERR_INVALID, 0, "seccomp profile %s: not a regular file", path);
  if (st.st_size > PROFILE_MAX)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "seccomp profile %s: larger than %d bytes", path, PROFILE_MAX);
  cleanup_free char *buf = NULL;
  size_t len = 0;
  if (kk_read_fd(fd, PROFILE_MAX, path, &buf, &len, err) < 0)
    return kk_error_wrap(err, "seccomp profile");
  json_error_t je;
  json_t *doc = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
  if (doc == NULL)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "seccomp profile %s: line %d column %d: %s", path, je.line,
                         je.column, je.text);
  if (!json_is_object(doc)) {
    json_decref(doc);
    return kk_error_kind(err, KK_ERR_INVALID, 0, "seccomp profile %s: not a JSON object", path);
  }
  *out = doc;
  return 0;
}

/* The file at path as runc's linux.seccomp for a container with caps. */
static int profile_load(const char *path, unsigned long long caps, json_t **out, kk_err_t *err) {
  json_t *doc = NULL;
  if (profile_read(path, &doc, err) < 0)
    return -1;
  struct pctx p = {.path = path, .caps = caps, .native = arch_native(), .err = err};
  static const char *const keys[] = {"defaultAction", "defaultErrnoRet", "architectures", "archMap",
                                     "syscalls",      "flags",           NULL};
  struct arch_set as = {0};
  const char *def = NULL;
  json_t *der = json_object_get(doc, "defaultErrnoRet"), *flags = json_object_get(doc, "flags"),
         *calls = json_object_get(doc, "syscalls");
  json_t *rules = json_array();
  int ret = 0;
  if (only_keys(&p, doc, "", keys) < 0 || get_action(&p, json_object_get(doc, "defaultAction"), "defaultAction", &def) < 0 ||
      (der && !json_is_null(der) && get_errno_ret(&p, der, "defaultErrnoRet") < 0) || get_arches(&p, doc, &as) < 0)
    ret = -1;
  else if (flags && !json_is_null(flags) && (!json_is_array(flags) || json_array_size(flags) > 0))
    ret = bad(&p, "flags", "seccomp flags are not supported (runc 1.1 refuses them)");
  else if (calls && !json_is_null(calls) && !json_is_array(calls))
    ret = bad(&p, "syscalls", "must be a list");
  size_t i;
  json_t *e;
  json_array_foreach(ret == 0 ? calls : NULL, i, e) {
    if ((ret = get_syscall(&p, e, i, &as, rules)) < 0)
      break;
  }
  if (ret == 0) {
    json_t *sc = json_pack("{s:s, s:o}", "defaultAction", def, "syscalls", rules);
    rules = NULL;
    if (der && !json_is_null(der))
      json_object_set(sc, "defaultErrnoRet", der);
    if (as.n > 0)
      json_object_set_new(sc, "architectures", arch_set_json(&as));
    *out = sc;
  }
  json_decref(rules);
  json_decref(doc);
  return ret;
}

/* ------------------------------------------------------------------ API */

/* What the container's securityOpts say: seccomp off, a profile file, or
 * (both NULL/false) the default.  The last seccomp= option wins. */
static void seccomp_opt(const struct kk_strv *opts, bool *unconfined, const char **path) {
  *unconfined = false;
  *path = NULL;
  for (size_t i = 0; i < opts->n; i++) {
    const char *o = opts->v[i];
    if (strcmp(o, "seccomp=unconfined") == 0) {
      *unconfined = true;
      *path = NULL;
    } else if (kk_has_prefix(o, "seccomp=")) {
      *unconfined = false;
      *path = o + strlen("seccomp=");
    }
  }
}

int kk_seccomp_build(const struct kk_container_spec *c, unsigned long long caps, const char *image_arch, json_t **out,
                     kk_err_t *err) {
  *out = NULL;
  if (c->privileged)
    return 0;
  bool unconfined;
  const char *path;
  seccomp_opt(&c->security_opts, &unconfined, &path);
  if (unconfined)
    return 0;
  if (path)
    return profile_load(path, caps, out, err);
  *out = default_profile(caps, image_arch);
  return 0;
}

int kk_security_opts_check(const struct kk_strv *security_opts, kk_err_t *err) {
  for (size_t i = 0; i < security_opts->n; i++) {
    const char *o = security_opts->v[i];
    if (!kk_has_prefix(o, "seccomp=") || strcmp(o, "seccomp=unconfined") == 0)
      continue;
    json_t *sc = NULL;
    if (profile_load(o + strlen("seccomp="), 0, &sc, err) < 0)
      return -1;
    json_decref(sc);
  }
  return 0;
}

int kk_security_check(const struct kk_doc *doc, kk_err_t *err) {
  switch (doc->kind) {
  case KK_KIND_CELL:
    for (size_t i = 0; i < doc->u.cell.spec.n_containers; i++) {
      const struct kk_container_spec *c = &doc->u.cell.spec.containers[i];
      if (kk_security_opts_check(&c->security_opts, err) < 0)
        return kk_error_wrap(err, "container \"%s\": securityOpts", c->id);
    }
    return 0;
  case KK_KIND_CONTAINER:
    if (kk_security_opts_check(&doc->u.container.spec.security_opts, err) < 0)
      return kk_error_wrap(err, "container \"%s\": securityOpts", doc->u.container.spec.id);
    return 0;
  case KK_KIND_SPACE:
    if (kk_security_opts_check(&doc->u.space.spec.defaults.container.security_opts, err) < 0)
      return kk_error_wrap(err, "spec.defaults.container.securityOpts");
    return 0;
  default:
    return 0;
  }
}

/* runtime/seccomp.c through config.json: the default allow-list (default
 * action, architectures, the clone and clone3 rules, capability groups,
 * names the architecture lacks), the opt-outs, no-new-privileges, the
 * masked paths, docker-format profiles and the errors apply reports for
 * them. */
#include <errno.h>
#include <jansson.h>
#include <sched.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/bundle_int.h"
#include "runtime/runtime.h"
#include "tests/unit/unit.h"

#define NS_FLAGS                                                                                              \
  (CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWCGROUP)

static void strv_set(struct kk_strv *sv, const char *const *v) {
  for (size_t i = 0; v && v[i]; i++)
    kk_strv_push(sv, v[i]);
}

/* config.json of one container "a" (command /bin/true) with these
 * securityOpts and added/dropped capabilities, on a host whose bounding
 * set has capabilities 0..40. */
static json_t *config_image(const char *image_arch, bool privileged, const char *const *opts, const char *const *add,
                            const char *const *drop) {
  struct kk_container_spec c;
  memset(&c, 0, sizeof(c));
  c.id = "a";
  c.command = "/bin/true";
  c.privileged = privileged;
  strv_set(&c.security_opts, opts);
  strv_set(&c.capabilities.add, add);
  strv_set(&c.capabilities.drop, drop);
  struct kk_host_limits host = {.nofile_hard = 1024, .nproc_hard = 4096, .cap_bound = (1ull << 41) - 1, .cap_last = 40};
  struct kk_image_run_config img = {.architecture = image_arch};
  struct kk_bundle_spec b = {.id = "s_t_c_a", .rootfs = "/rootfs", .ctr = &c, .image = image_arch ? &img : NULL,
                             .realm = "r", .space = "s", .stack = "t", .cell = "c", .cell_cgroup = "/kk/r/s/t/c"};
  char *json = NULL;
  kk_err_t err = NULL;
  int r = kk_bundle_config(&b, &host, &json, &err);
  ck_assert_msg(r == 0, "kk_bundle_config: %s", err ? err->msg : "?");
  json_t *doc = json_loads(json, 0, NULL);
  ck_assert_ptr_nonnull(doc);
  free(json);
  kk_strv_free(&c.security_opts);
  kk_strv_free(&c.capabilities.add);
  kk_strv_free(&c.capabilities.drop);
  return doc;
}

static json_t *config(bool privileged, const char *const *opts, const char *const *add, const char *const *drop) {
  return config_image(NULL, privileged, opts, add, drop);
}

static json_t *seccomp_of(json_t *doc) { return json_object_get(json_object_get(doc, "linux"), "seccomp"); }

static bool list_has(json_t *list, const char *s) {
  size_t i;
  json_t *v;
  json_array_foreach(list, i, v) {
    if (json_is_string(v) && strcmp(json_string_value(v), s) == 0)
      return true;
  }
  return false;
}

/* Allowed without conditions. */
static bool allowed(json_t *sc, const char *name) {
  size_t i;
  json_t *r;
  json_array_foreach(json_object_get(sc, "syscalls"), i, r) {
    if (strcmp(json_string_value(json_object_get(r, "action")), "SCMP_ACT_ALLOW") == 0 &&
        json_object_get(r, "args") == NULL && list_has(json_object_get(r, "names"), name))
      return true;
  }
  return false;
}

/* The rules naming the syscall that have conditions or an errno. */
static size_t special_rules(json_t *sc, const char *name, json_t **first) {
  size_t i, n = 0;
  json_t *r;
  *first = NULL;
  json_array_foreach(json_object_get(sc, "syscalls"), i, r) {
    if ((json_object_get(r, "args") || json_object_get(r, "errnoRet")) && list_has(json_object_get(r, "names"), name)) {
      if (n++ == 0)
        *first = r;
    }
  }
  return n;
}

static bool on_x86_64(void) { return seccomp_arch_native() == SCMP_ARCH_X86_64; }

START_TEST(default_profile_denies) {
  json_t *doc = config(false, NULL, NULL, NULL);
  json_t *sc = seccomp_of(doc);
  ck_assert_ptr_nonnull(sc);
  ck_assert_str_eq(json_string_value(json_object_get(sc, "defaultAction")), "SCMP_ACT_ERRNO");
  ck_assert_int_eq(json_integer_value(json_object_get(sc, "defaultErrnoRet")), EPERM);
  static const char *const ok[] = {"read", "write", "execve", "futex", "exit_group", "rt_sigreturn", "wait4", "chroot"};
  for (size_t i = 0; i < KK_ARRAY_SIZE(ok); i++)
    ck_assert_msg(allowed(sc, ok[i]), "%s not allowed", ok[i]);
  static const char *const no[] = {"clone", "clone3", "unshare", "setns", "mount", "umount2", "keyctl", "add_key",
                                   "request_key", "bpf", "perf_event_open", "init_module", "reboot", "kexec_load",
                                   "open_by_handle_at", "settimeofday", "iopl", "acct", "syslog", "socket",
                                   "personality", "userfaultfd", "fsopen", "move_mount", "sethostname"};
  for (size_t i = 0; i < KK_ARRAY_SIZE(no); i++)
    ck_assert_msg(!allowed(sc, no[i]), "%s allowed plainly", no[i]);
  json_decref(doc);
}
END_TEST

START_TEST(default_profile_clone_rules) {
  json_t *doc = config(false, NULL, NULL, NULL);
  json_t *sc = seccomp_of(doc), *r = NULL;
  /* clone: only without namespace flags. */
  ck_assert_uint_eq(special_rules(sc, "clone", &r), 1);
  ck_assert_str_eq(json_string_value(json_object_get(r, "action")), "SCMP_ACT_ALLOW");
  json_t *a = json_array_get(json_object_get(r, "args"), 0);
  ck_assert_uint_eq(json_array_size(json_object_get(r, "args")), 1);
  ck_assert_int_eq(json_integer_value(json_object_get(a, "index")), 0);
  ck_assert_int_eq(json_integer_value(json_object_get(a, "value")), NS_FLAGS);
  ck_assert_int_eq(json_integer_value(json_object_get(a, "valueTwo")), 0);
  ck_assert_str_eq(json_string_value(json_object_get(a, "op")), "SCMP_CMP_MASKED_EQ");
  /* clone3: ENOSYS, so libc falls back to clone. */
  ck_assert_uint_eq(special_rules(sc, "clone3", &r), 1);
  ck_assert_str_eq(json_string_value(json_object_get(r, "action")), "SCMP_ACT_ERRNO");
  ck_assert_int_eq(json_integer_value(json_object_get(r, "errnoRet")), ENOSYS);
  ck_assert_ptr_null(json_object_get(r, "args"));
  /* socket: anything but AF_VSOCK; personality: five values. */
  ck_assert_uint_eq(special_rules(sc, "socket", &r), 1);
  a = json_array_get(json_object_get(r, "args"), 0);
  ck_assert_int_eq(json_integer_value(json_object_get(a, "value")), 40);
  ck_assert_str_eq(json_string_value(json_object_get(a, "op")), "SCMP_CMP_NE");
  ck_assert_uint_eq(special_rules(sc, "personality", &r), 5);
  json_decref(doc);
}
END_TEST

/* The native ABI only: a syscall through another one kills the process.
 * An image built for the compat ABI (386 on x86_64, arm on aarch64) gets
 * it named too; x32 never. */
START_TEST(default_profile_architectures) {
  json_t *doc = config(false, NULL, NULL, NULL);
  json_t *amd = config_image("amd64", false, NULL, NULL, NULL);
  json_t *i386 = config_image("386", false, NULL, NULL, NULL);
  json_t *arm = config_image("arm", false, NULL, NULL, NULL);
  json_t *arches = json_object_get(seccomp_of(doc), "architectures");
  if (on_x86_64()) {
    ck_assert_uint_eq(json_array_size(arches), 1);
    ck_assert_str_eq(json_string_value(json_array_get(arches, 0)), "SCMP_ARCH_X86_64");
    ck_assert_uint_eq(json_array_size(json_object_get(seccomp_of(amd), "architectures")), 1);
    ck_assert_uint_eq(json_array_size(json_object_get(seccomp_of(arm), "architectures")), 1);
    json_t *a386 = json_object_get(seccomp_of(i386), "architectures");
    ck_assert_uint_eq(json_array_size(a386), 2);
    ck_assert_str_eq(json_string_value(json_array_get(a386, 1)), "SCMP_ARCH_X86");
    json_t *sc = seccomp_of(doc);
    ck_assert(allowed(sc, "arch_prctl") && allowed(sc, "modify_ldt"));
    ck_assert(!allowed(sc, "chown32")); /* x86's: not named without x86 */
    ck_assert(allowed(seccomp_of(i386), "chown32"));
    ck_assert(!allowed(sc, "arm_fadvise64_64") && !allowed(sc, "riscv_flush_icache"));
  } else if (seccomp_arch_native() == SCMP_ARCH_AARCH64) {
    ck_assert_uint_eq(json_array_size(arches), 1);
    ck_assert_str_eq(json_string_value(json_array_get(arches, 0)), "SCMP_ARCH_AARCH64");
    ck_assert_uint_eq(json_array_size(json_object_get(seccomp_of(arm), "architectures")), 2);
  }
  json_decref(doc);
  json_decref(amd);
  json_decref(i386);
  json_decref(arm);
}
END_TEST

START_TEST(unknown_names_left_out) {
  uint32_t native = seccomp_arch_native();
  ck_assert(kk_seccomp_name_usable("read", &native, 1));
  ck_assert(!kk_seccomp_name_usable("kk_no_such_syscall", &native, 1));
  ck_assert(!kk_seccomp_name_usable("read", &native, 0));
  if (on_x86_64()) {
    uint32_t both[] = {SCMP_ARCH_X86_64, SCMP_ARCH_X86};
    ck_assert(!kk_seccomp_name_usable("chown32", both, 1));
    ck_assert(kk_seccomp_name_usable("chown32", both, 2));
    ck_assert(!kk_seccomp_name_usable("arm_fadvise64_64", both, 2));
  }
}
END_TEST

START_TEST(capability_groups) {
  static const char *const admin[] = {"CAP_SYS_ADMIN", NULL};
  json_t *doc = config(false, NULL, admin, NULL);
  json_t *sc = seccomp_of(doc), *r = NULL;
  static const char *const ok[] = {"clone", "clone3", "unshare", "setns", "mount", "umount2", "bpf",
                                   "perf_event_open", "sethostname", "fsopen"};
  for (size_t i = 0; i < KK_ARRAY_SIZE(ok); i++)
    ck_assert_msg(allowed(sc, ok[i]), "%s not allowed with CAP_SYS_ADMIN", ok[i]);
  ck_assert_uint_eq(special_rules(sc, "clone", &r), 0);
  ck_assert_uint_eq(special_rules(sc, "clone3", &r), 0);
  ck_assert(!allowed(sc, "keyctl") && !allowed(sc, "init_module") && !allowed(sc, "reboot"));
  json_decref(doc);

  static const char *const more[] = {"CAP_SYS_PTRACE", "CAP_SYS_TIME", "CAP_SYS_MODULE", "CAP_SYS_BOOT",
                                     "CAP_SYS_NICE", "CAP_SYS_RAWIO", "CAP_SYS_PACCT", "CAP_SYSLOG",
                                     "CAP_DAC_READ_SEARCH", "CAP_SYS_TTY_CONFIG", NULL};
  doc = config(false, NULL, more, NULL);
  sc = seccomp_of(doc);
  static const char *const ok2[] = {"kcmp", "pidfd_getfd", "process_madvise", "settimeofday", "clock_settime",
                                    "init_module", "finit_module", "delete_module", "reboot", "mbind",
                                    "set_mempolicy", "iopl", "ioperm", "acct", "syslog", "open_by_handle_at",
                                    "vhangup"};
  for (size_t i = 0; i < KK_ARRAY_SIZE(ok2); i++)
    ck_assert_msg(allowed(sc, ok2[i]), "%s not allowed with its capability", ok2[i]);
  ck_assert(!allowed(sc, "mount") && !allowed(sc, "bpf") && !allowed(sc, "unshare"));
  json_decref(doc);

  static const char *const bpf_perf[] = {"CAP_BPF", "CAP_PERFMON", NULL};
  doc = config(false, NULL, bpf_perf, NULL);
  sc = seccomp_of(doc);
  ck_assert(allowed(sc, "bpf") && allowed(sc, "perf_event_open"));
  ck_assert(!allowed(sc, "mount") && !allowed(sc, "clone"));
  json_decref(doc);

  /* Dropping a capability takes its syscalls away. */
  static const char *const no_chroot[] = {"CAP_SYS_CHROOT", NULL};
  doc = config(false, NULL, NULL, no_chroot);
  ck_assert(!allowed(seccomp_of(doc), "chroot"));
  json_decref(doc);
}
END_TEST

START_TEST(opt_outs_and_no_new_privileges) {
  json_t *doc = config(false, NULL, NULL, NULL);
  json_t *proc = json_object_get(doc, "process"), *lin = json_object_get(doc, "linux");
  ck_assert(json_is_true(json_object_get(proc, "noNewPrivileges")));
  json_t *masked = json_object_get(lin, "maskedPaths"), *ro = json_object_get(lin, "readonlyPaths");
  static const char *const want_masked[] = {"/proc/acpi",        "/proc/asound",     "/proc/kcore",
                                            "/proc/keys",        "/proc/latency_stats", "/proc/timer_list",
                                            "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
                                            "/proc/scsi"};
  for (size_t i = 0; i < KK_ARRAY_SIZE(want_masked); i++)
    ck_assert_msg(list_has(masked, want_masked[i]), "%s not masked", want_masked[i]);
  static const char *const want_ro[] = {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"};
  ck_assert_uint_eq(json_array_size(ro), KK_ARRAY_SIZE(want_ro));
  for (size_t i = 0; i < KK_ARRAY_SIZE(want_ro); i++)
    ck_assert_msg(list_has(ro, want_ro[i]), "%s not read-only", want_ro[i]);
  json_decref(doc);

  doc = config(true, NULL, NULL, NULL);
  ck_assert_ptr_null(seccomp_of(doc));
  ck_assert(json_is_false(json_object_get(json_object_get(doc, "process"), "noNewPrivileges")));
  ck_assert_ptr_null(json_object_get(json_object_get(doc, "linux"), "maskedPaths"));
  json_decref(doc);

  static const char *const priv_nnp[] = {"no-new-privileges", NULL};
  doc = config(true, priv_nnp, NULL, NULL);
  ck_assert(json_is_true(json_object_get(json_object_get(doc, "process"), "noNewPrivileges")));
  json_decref(doc);

  static const char *const off[] = {"seccomp=unconfined", "no-new-privileges=false", NULL};
  doc = config(false, off, NULL, NULL);
  ck_assert_ptr_null(seccomp_of(doc));
  ck_assert(json_is_false(json_object_get(json_object_get(doc, "process"), "noNewPrivileges")));
  ck_assert_ptr_nonnull(json_object_get(json_object_get(doc, "linux"), "maskedPaths"));
  json_decref(doc);
}
END_TEST

/* ------------------------------------------------------ profile files */

static char *write_profile(const char *text) {
  const char *base = getenv("TMPDIR");
  char *path = kk_asprintf("%s/kk-unit-seccomp.XXXXXX", base && *base ? base : "/tmp");
  int fd = mkstemp(path);
  ck_assert_int_ge(fd, 0);
  ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
  close(fd);
  return path;
}

static json_t *config_with_profile(const char *path, const char *const *add) {
  char *opt = kk_asprintf("seccomp=%s", path);
  const char *const opts[] = {opt, NULL};
  json_t *doc = config(false, opts, add, NULL);
  free(opt);
  return doc;
}

START_TEST(docker_profile_converted) {
  char *path = write_profile(
      "{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"defaultErrnoRet\": 1,\n"
      " \"archMap\": [{\"architecture\": \"SCMP_ARCH_X86_64\", \"subArchitectures\": [\"SCMP_ARCH_X86\", \"SCMP_ARCH_X32\"]},\n"
      "             {\"architecture\": \"SCMP_ARCH_AARCH64\", \"subArchitectures\": [\"SCMP_ARCH_ARM\"]},\n"
      "             {\"architecture\": \"SCMP_ARCH_RISCV64\", \"subArchitectures\": null}],\n"
      " \"syscalls\": [\n"
      "  {\"names\": [\"read\", \"write\", \"arm_fadvise64_64\"], \"action\": \"SCMP_ACT_ALLOW\"},\n"
      "  {\"name\": \"close\", \"action\": \"SCMP_ACT_ALLOW\", \"comment\": \"old style\"},\n"
      "  {\"names\": [\"clone\"], \"action\": \"SCMP_ACT_ALLOW\", \"args\": [{\"index\": 0, \"value\": 2114060288, "
      "\"op\": \"SCMP_CMP_MASKED_EQ\"}], \"excludes\": {\"caps\": [\"CAP_SYS_ADMIN\"]}},\n"
      "  {\"names\": [\"clone3\"], \"action\": \"SCMP_ACT_ERRNO\", \"errnoRet\": 38, \"excludes\": {\"caps\": [\"CAP_SYS_ADMIN\"]}},\n"
      "  {\"names\": [\"mount\"], \"action\": \"SCMP_ACT_ALLOW\", \"includes\": {\"caps\": [\"CAP_SYS_ADMIN\"]}},\n"
      "  {\"names\": [\"arch_prctl\"], \"action\": \"SCMP_ACT_ALLOW\", \"includes\": {\"arches\": [\"amd64\", \"x32\"]}},\n"
      "  {\"names\": [\"ptrace\"], \"action\": \"SCMP_ACT_ALLOW\", \"includes\": {\"minKernel\": \"4.8\"}},\n"
      "  {\"names\": [\"kexec_load\"], \"action\": \"SCMP_ACT_ALLOW\", \"includes\": {\"minKernel\": \"999.1\"}},\n"
      "  {\"names\": [\"keyctl\"], \"action\": \"SCMP_ACT_KILL_PROCESS\", \"excludes\": {\"arches\": [\"s390x\"]}}\n"
      " ]}\n");
  json_t *doc = config_with_profile(path, NULL);
  json_t *sc = seccomp_of(doc), *r = NULL;
  ck_assert_ptr_nonnull(sc);
  ck_assert_str_eq(json_string_value(json_object_get(sc, "defaultAction")), "SCMP_ACT_ERRNO");
  ck_assert_int_eq(json_integer_value(json_object_get(sc, "defaultErrnoRet")), 1);
  ck_assert(allowed(sc, "read") && allowed(sc, "write") && allowed(sc, "close") && allowed(sc, "ptrace"));
  ck_assert(!allowed(sc, "mount") && !allowed(sc, "kexec_load"));
  ck_assert_uint_eq(special_rules(sc, "clone", &r), 1);
  ck_assert_uint_eq(special_rules(sc, "clone3", &r), 1);
  ck_assert_int_eq(json_integer_value(json_object_get(r, "errnoRet")), ENOSYS);
  if (on_x86_64()) {
    json_t *arches = json_object_get(sc, "architectures");
    ck_assert_uint_eq(json_array_size(arches), 3);
    ck_assert_str_eq(json_string_value(json_array_get(arches, 1)), "SCMP_ARCH_X86");
    ck_assert(allowed(sc, "arch_prctl"));
    ck_assert(!allowed(sc, "arm_fadvise64_64")); /* no such syscall here: left out */
  }
  size_t i;
  bool kill = false;
  json_array_foreach(json_object_get(sc, "syscalls"), i, r) {
    kill |= strcmp(json_string_value(json_object_get(r, "action")), "SCMP_ACT_KILL_PROCESS") == 0 &&
            list_has(json_object_get(r, "names"), "keyctl");
  }
  ck_assert(kill);
  json_decref(doc);

  /* With CAP_SYS_ADMIN the includes/excludes turn the other way. */
  static const char *const admin[] = {"CAP_SYS_ADMIN", NULL};
  doc = config_with_profile(path, admin);
  sc = seccomp_of(doc);
  ck_assert(allowed(sc, "mount"));
  ck_assert_uint_eq(special_rules(sc, "clone", &r), 0);
  ck_assert_uint_eq(special_rules(sc, "clone3", &r), 0);
  json_decref(doc);
  unlink(path);
  free(path);
}
END_TEST

/* kk_security_opts_check on a profile with this text: the error message. */
static char *check_error(const char *text) {
  char *path = write_profile(text);
  char *opt = kk_asprintf("seccomp=%s", path);
  struct kk_strv opts = {0};
  kk_strv_push(&opts, "no-new-privileges");
  kk_strv_push(&opts, opt);
  kk_err_t err = NULL;
  int r = kk_security_opts_check(&opts, &err);
  ck_assert_msg(r < 0, "accepted: %s", text);
  ck_assert_int_eq(err->kind, KK_ERR_INVALID);
  ck_assert_msg(strstr(err->msg, path) != NULL, "file not named: %s", err->msg);
  ck_assert_msg(strchr(err->msg, '\n') == NULL, "more than one line: %s", err->msg);
  char *msg = kk_xstrdup(err->msg + strlen("seccomp profile ") + strlen(path) + 2);
  kk_error_free(&err);
  kk_strv_free(&opts);
  unlink(path);
  free(path);
  free(opt);
  return msg;
}

START_TEST(docker_profile_errors) {
  static const struct {
    const char *text, *want;
  } cases[] = {
      {"{\"defaultAction\": ", "line 1 column"},
      {"[]", "not a JSON object"},
      {"{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"defaultAction\": \"SCMP_ACT_ALLOW\"}", "duplicate"},
      {"{}", "defaultAction: missing"},
      {"{\"defaultAction\": \"SCMP_ACT_NOPE\"}", "defaultAction: unknown action \"SCMP_ACT_NOPE\""},
      {"{\"defaultAction\": \"SCMP_ACT_NOTIFY\"}", "defaultAction: SCMP_ACT_NOTIFY is not supported"},
      {"{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"defaultErrnoRet\": 5000}", "defaultErrnoRet: must be an errno"},
      {"{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"listenerPath\": \"/run/agent.sock\"}", "listenerPath: not supported"},
      {"{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"flags\": [\"SECCOMP_FILTER_FLAG_LOG\"]}", "flags: seccomp flags are not supported"},
      {"{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"defaultaction\": 1}", "defaultaction: unknown field"},
      {"{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"architectures\": [\"SCMP_ARCH_VAX\"]}",
       "architectures[0]: unknown architecture \"SCMP_ARCH_VAX\""},
      {"{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"architectures\": [\"SCMP_ARCH_X86\"], \"archMap\": []}",
       "archMap: architectures and archMap are both given"},
      {"{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"archMap\": [{\"architecture\": \"SCMP_ARCH_X86_64\", "
       "\"subArchitectures\": [\"SCMP_ARCH_Z80\"]}]}",
       "archMap[0].subArchitectures: unknown architecture \"SCMP_ARCH_Z80\""},
      {"{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": {}}", "syscalls: must be a list"},
      {"{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": [{\"action\": \"SCMP_ACT_ALLOW\"}]}",
       "syscalls[0].names: must be a non-empty list"},
      {"{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": [{\"names\": [\"read\"], \"name\": \"write\", "
       "\"action\": \"SCMP_ACT_ALLOW\"}]}",
       "syscalls[0]: has both name and names"},
      {"{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": [{\"names\": [\"read\", \"kk_nope\"], "
       "\"action\": \"SCMP_ACT_ALLOW\"}]}",
       "syscalls[0].names[1]: unknown syscall \"kk_nope\""},
      {"{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": [{\"names\": [\"read\"]}]}", "syscalls[0].action: missing"},
      {"{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": [{\"names\": \"read\", \"action\": \"SCMP_ACT_ALLOW\"}]}",
       "syscalls[0].names: must be a non-empty list"},
      {"{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": [{\"names\": [1], \"action\": \"SCMP_ACT_ALLOW\"}]}",
       "syscalls[0].names: must be a list of strings"},
      {"{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": [{\"names\": [\"read\"], \"action\": \"SCMP_ACT_ALLOW\", "
       "\"args\": {}}]}",
       "syscalls[0].args: must be a list"},
      {"{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"architectures\": \"SCMP_ARCH_X86\"}", "architectures: must be a list of strings"},
      {"{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": [7]}", "syscalls[0]: must be an object"},
      {"{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": [{\"names\": [\"read\"], \"action\": \"SCMP_ACT_ALLOW\", "
       "\"errnoRet\": 1}]}",
       "syscalls[0].errnoRet: only SCMP_ACT_ERRNO and SCMP_ACT_TRACE take an errnoRet"},
      {"{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": [{\"names\": [\"read\"], \"action\": \"SCMP_ACT_ALLOW\", "
       "\"args\": [{\"index\": 6, \"value\": 1, \"op\": \"SCMP_CMP_EQ\"}]}]}",
       "syscalls[0].args[0]: index must be"},
      {"{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": [{\"names\": [\"read\"], \"action\": \"SCMP_ACT_ALLOW\", "
       "\"args\": [{\"index\": 0, \"value\": -1, \"op\": \"SCMP_CMP_EQ\"}]}]}",
       "syscalls[0].args[0]: value must be"},
      {"{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": [{\"names\": [\"read\"], \"action\": \"SCMP_ACT_ALLOW\", "
       "\"args\": [{\"index\": 0, \"value\": 1, \"op\": \"SCMP_CMP_XX\"}]}]}",
       "syscalls[0].args[0]: op must be"},
      {"{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": [{\"names\": [\"read\"], \"action\": \"SCMP_ACT_ALLOW\", "
       "\"includes\": {\"caps\": [\"CAP_NOPE\"]}}]}",
       "syscalls[0].includes.caps: unknown capability \"CAP_NOPE\""},
      {"{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": [{\"names\": [\"read\"], \"action\": \"SCMP_ACT_ALLOW\", "
       "\"excludes\": {\"arches\": [\"vax\"]}}]}",
       "syscalls[0].excludes.arches: unknown architecture \"vax\""},
      {"{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": [{\"names\": [\"read\"], \"action\": \"SCMP_ACT_ALLOW\", "
       "\"includes\": {\"minKernel\": \"four\"}}]}",
       "syscalls[0].includes.minKernel: must be a kernel version"},
      {"{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": [{\"names\": [\"read\"], \"action\": \"SCMP_ACT_ALLOW\", "
       "\"includes\": {\"kernel\": \"4.8\"}}]}",
       "syscalls[0].includes.kernel: unknown field"},
  };
  for (size_t i = 0; i < KK_ARRAY_SIZE(cases); i++) {
    char *msg = check_error(cases[i].text);
    ck_assert_msg(strstr(msg, cases[i].want) != NULL, "%s: got \"%s\", want \"%s\"", cases[i].text, msg, cases[i].want);
    free(msg);
  }
}
END_TEST

START_TEST(profile_file_errors) {
  struct kk_strv opts = {0};
  kk_err_t err = NULL;
  kk_strv_push(&opts, "seccomp=/nonexistent/kk-profile.json");
  ck_assert_int_eq(kk_security_opts_check(&opts, &err), -1);
  ck_assert_str_eq(err->msg, "seccomp profile /nonexistent/kk-profile.json: No such file or directory");
  kk_error_free(&err);
  kk_strv_free(&opts);

  kk_strv_push(&opts, "seccomp=/");
  ck_assert_int_eq(kk_security_opts_check(&opts, &err), -1);
  ck_assert_str_eq(err->msg, "seccomp profile /: not a regular file");
  kk_error_free(&err);
  kk_strv_free(&opts);

  /* Bounded: a profile over 1 MiB is refused before it is parsed. */
  size_t big = (1u << 20) + 2;
  char *text = kk_xmalloc(big + 1);
  memset(text, ' ', big);
  text[0] = '{';
  text[big - 1] = '}';
  text[big] = '\0';
  char *path = write_profile(text);
  free(text);
  char *opt = kk_asprintf("seccomp=%s", path);
  kk_strv_push(&opts, opt);
  ck_assert_int_eq(kk_security_opts_check(&opts, &err), -1);
  ck_assert_msg(strstr(err->msg, "larger than 1048576 bytes") != NULL, "%s", err->msg);
  kk_error_free(&err);
  kk_strv_free(&opts);
  unlink(path);
  free(path);
  free(opt);

  /* unconfined and the other options need no file. */
  kk_strv_push(&opts, "seccomp=unconfined");
  kk_strv_push(&opts, "no-new-privileges=false");
  ck_assert_int_eq(kk_security_opts_check(&opts, &err), 0);
  kk_strv_free(&opts);
}
END_TEST

START_TEST(check_names_the_container) {
  cleanup_doc struct kk_doc *doc = kk_doc_new(KK_KIND_CELL);
  struct kk_cell *cell = &doc->u.cell;
  cell->spec.containers = kk_xzalloc(2 * sizeof(*cell->spec.containers));
  cell->spec.n_containers = 2;
  cell->spec.containers[0].id = kk_xstrdup("fine");
  cell->spec.containers[1].id = kk_xstrdup("web");
  kk_strv_push(&cell->spec.containers[1].security_opts, "seccomp=/nonexistent/p.json");
  kk_err_t err = NULL;
  ck_assert_int_eq(kk_security_check(doc, &err), -1);
  ck_assert_str_eq(err->msg,
                   "container \"web\": securityOpts: seccomp profile /nonexistent/p.json: No such file or directory");
  kk_error_free(&err);
}
END_TEST

static Suite *seccomp_suite(void) {
  Suite *s = suite_create("seccomp");
  TCase *d = tcase_create("default");
  tcase_add_test(d, default_profile_denies);
  tcase_add_test(d, default_profile_clone_rules);
  tcase_add_test(d, default_profile_architectures);
  tcase_add_test(d, unknown_names_left_out);
  tcase_add_test(d, capability_groups);
  tcase_add_test(d, opt_outs_and_no_new_privileges);
  suite_add_tcase(s, d);
  TCase *p = tcase_create("profile");
  tcase_add_test(p, docker_profile_converted);
  tcase_add_test(p, docker_profile_errors);
  tcase_add_test(p, profile_file_errors);
  tcase_add_test(p, check_names_the_container);
  suite_add_tcase(s, p);
  return s;
}

KK_UNIT_MAIN(seccomp_suite)

/* The container runtime: OCI bundles for runc.  (Images have their own
 * header, runtime/image.h.) */
#ifndef KK_RUNTIME_H
#define KK_RUNTIME_H

#include <stdbool.h>
#include <sys/types.h>

#include "lib/error.h"
#include "model/model.h"

/* What the image says about how to run it (OCI image config). */
struct kk_image_run_config {
  struct kk_strv env;
  struct kk_strv entrypoint;
  struct kk_strv cmd;
  const char *working_dir;
  const char *user;
};

/* Everything one container's config.json is built from. */
struct kk_bundle_spec {
  const char *id;          /* runtime id: <space>_<stack>_<cell>_<container> */
  const char *rootfs;      /* absolute path of the prepared root filesystem */
  const struct kk_container_spec *ctr;
  const struct kk_image_run_config *image; /* may be NULL */
  const char *realm, *space, *stack, *cell;
  const char *cell_cgroup; /* cgroup path of the cell: /kukeon/r/s/t/c */
  /* Namespaces: the root container owns the cell's net/ipc/uts (a netns
   * path to enter, or NULL for a fresh one); the others join the root's. */
  pid_t root_pid;          /* > 0: join /proc/<pid>/ns/{net,ipc,uts} */
  const char *netns_path;  /* root only: existing netns (CNI), or NULL */
  /* Files bind-mounted read-only at /etc/hosts, /etc/hostname, /etc/resolv.conf. */
  const char *hosts_file, *hostname_file, *resolv_file;
  bool tty;
};

/* Host limits a bundle must respect (runc fails above them). */
struct kk_host_limits {
  unsigned long long nofile_hard;
  unsigned long long nproc_hard;
  unsigned long long cap_bound; /* bit i = capability i in the bounding set */
  int cap_last;                 /* highest capability number the kernel knows */
};
/* Read this process's: getrlimit, the bounding set via libcap. */
void kk_host_limits_read(struct kk_host_limits *out);

/* The OCI runtime-spec config.json for a container (pretty-printed JSON).
 * Validation that needs the host happens here: capabilities outside the
 * bounding set, syscall names unknown to libseccomp, missing devices. */
int kk_bundle_config(const struct kk_bundle_spec *b, const struct kk_host_limits *host, char **json,
                     kk_err_t *err);

/* ------------------------------------------------------------ monitor */

struct kk_monitor_opts {
  const char *exe;       /* the kukeon binary (default /proc/self/exe) */
  const char *runc;      /* default "runc" */
  const char *runc_root; /* runc --root: <runtime-dir>/runc/<namespace> */
  const char *bundle;    /* <runtime-dir>/bundles/<namespace>/<id> */
  const char *id;
  const char *dir;       /* the monitor's directory: log, exit, attach, pid */
  long long log_max;     /* log bytes before rotation (default 10 MiB) */
};

/* Start a monitor that runs `runc create`; returns once the container is
 * created (its init waits for `runc start`), with the init's pid.  The
 * monitor is detached from the caller and outlives it. */
int kk_monitor_spawn(const struct kk_monitor_opts *o, pid_t *ctr_pid, kk_err_t *err);
/* The monitor process itself (argv[0] "kukeon-monitor"). */
int kk_monitor_main(int argc, char **argv);

struct kk_exit_record {
  bool exited;
  int exit_code; /* 128 + signal when killed */
  char signal[16];
  int64_t finished_at;
};
/* From <dir>/exit; exited == false when there is none yet. */
int kk_monitor_read_exit(int dirfd, struct kk_exit_record *out, kk_err_t *err);

/* The syscalls the default seccomp profile refuses with EPERM. */
extern const char *const kk_seccomp_denied[];

#endif

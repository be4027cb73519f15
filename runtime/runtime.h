/* The container runtime: OCI bundles for runc.  (Images have their own
 * header, runtime/image.h.) */
#ifndef KK_RUNTIME_H
#define KK_RUNTIME_H

#include <stdbool.h>
#include <stdint.h>
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
  const char *architecture; /* GOARCH of the image: 386 asks for the x86 ABI */
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
  /* rootfsPropagation rshared: mounts made inside under a shared bind (the
   * kukeond cell's runtime dir) show on the host. */
  bool shared_mounts;
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
 * bounding set, the seccomp profile (runtime/seccomp.c), missing devices. */
int kk_bundle_config(const struct kk_bundle_spec *b, const struct kk_host_limits *host, char **json,
                     kk_err_t *err);

/* "name[:group]" or "uid[:gid]" -> "uid[:gid]" from the rootfs's
 * /etc/passwd and /etc/group (read inside the root).  NULL/"" -> *out NULL. */
int kk_rootfs_resolve_user(const char *rootfs, const char *user, char **out, kk_err_t *err);

/* ------------------------------------------------------------ monitor */

struct kk_monitor_opts {
  const char *exe;       /* the monitor program (kk_monitor_stage) */
  const char *runc;      /* default "runc" */
  const char *runc_root; /* runc --root: <runtime-dir>/runc/<namespace> */
  const char *bundle;    /* <runtime-dir>/bundles/<namespace>/<id> */
  const char *id;
  const char *dir;       /* the monitor's directory: log, exit, attach, pid */
  long long log_max;     /* log bytes before rotation (default 10 MiB); one
                            generation (log.1) is kept besides the live log */
  bool open_stdin;       /* without a terminal: the container's stdin is a pipe
                            the monitor holds open and attach clients write to
                            (closed on a client's EOF frame); otherwise
                            /dev/null.  A terminal container's stdin is always
                            its pty. */
  bool tty;              /* the bundle's process.terminal */
  bool delete_on_exit;   /* run `runc delete` once the init has died: for a
                            container without a pid namespace of its own,
                            whose leftover processes runc then kills */
  const struct kk_strv *cgroups; /* cgroup directories (one per hierarchy)
                            the monitor moves itself into before it runs
                            runc, so that it and runc leave the caller's
                            cgroups (and a kill of those); NULL: stays */
  const char *exit_notice; /* a file the monitor makes once the exit is
                            recorded and it is done (kukeond watches its
                            folder to act on exits at once); NULL: none */
};

/* Start a monitor that runs `runc run --detach`; returns once the container
 * runs, with its init's pid.  The monitor is detached from the caller (a
 * session of its own, re-parented away, in o->cgroups) and outlives it;
 * when the init dies it writes the exit file and exits (after
 * `runc delete`, with delete_on_exit).  Otherwise runc's record stays, its
 * status "stopped", until kukeon drops it (kk_runc_forget_stopped). */
int kk_monitor_spawn(const struct kk_monitor_opts *o, pid_t *ctr_pid, kk_err_t *err);
/* The monitor process itself: main() of build/kukeon-monitor. */
int kk_monitor_main(int argc, char **argv);
/* Write the monitor program kukeon carries to <run_path>/bin/kukeon-monitor
 * unless that file already holds it; *exe = its path. */
int kk_monitor_stage(const char *run_path, char **exe, kk_err_t *err);

struct kk_exit_record {
  bool exited;
  int exit_code; /* 128 + signal when killed */
  char signal[16];
  int64_t finished_at;
};
/* The monitor named in <dir>/monitor.pid is running (a live process that
 * is a kukeon-monitor, not a recycled pid). */
bool kk_monitor_alive(int dirfd);
/* A monitor by its pid and start time (clock ticks since boot): no later
 * process with that pid shares both. */
struct kk_monitor_id {
  pid_t pid;
  uint64_t start;
  int pidfd; /* -1, or held by kk_monitor_hold */
};
/* As kk_monitor_alive, and who that monitor is (pidfd -1). */
bool kk_monitor_identify(int dirfd, struct kk_monitor_id *out);
/* That very monitor still runs: a poll of its pidfd when held, else one
 * /proc read; no file of the bundle either way. */
bool kk_monitor_still_runs(const struct kk_monitor_id *id);
/* Open a pidfd on that very monitor (checked once it is open, so a pid
 * reused meanwhile is not taken for it); false when it cannot. */
bool kk_monitor_hold(struct kk_monitor_id *id);
void kk_monitor_release(struct kk_monitor_id *id);
/* Wait up to timeout_ms for that monitor to be gone (it exits once it wrote
 * the exit file); whether it is. */
bool kk_monitor_wait_gone(int dirfd, int timeout_ms);
/* Wait up to timeout_ms for the container's exit to be recorded (<dir>/exit)
 * or its monitor to be gone; whether one of them happened.  Woken by the
 * monitor itself (a client of its attach socket, hung up at the exit). */
bool kk_monitor_wait_exit(int dirfd, int timeout_ms);
/* From <dir>/exit; exited == false when there is none yet. */
int kk_monitor_read_exit(int dirfd, struct kk_exit_record *out, kk_err_t *err);

/* Attach to a running container: kk_attach_open connects to
 * <monitor_dir>/attach (the frame format is described at the top of
 * runtime/monitor.c); KK_ERR_UNAVAILABLE when no monitor listens (the
 * container ended or never ran).  The socket may be handed to another
 * process (kukeond passes it to its client).
 *
 * kk_attach_session relays in_fd to the container's stdin (in_fd < 0:
 * output only) and its stdout/stderr to out_fd/err_fd (err_fd < 0:
 * out_fd).  With tty (a terminal container) and in_fd a terminal: in_fd
 * goes raw for the session (restored on every way out), the window size is
 * sent at once and on SIGWINCH.  When in_fd is a terminal, Ctrl-] Ctrl-]
 * (0x1d 0x1d) detaches; nothing is printed.  EOF on in_fd closes the
 * container's stdin pipe (not a terminal's: send ^D).  SIGINT, SIGTERM and
 * SIGHUP are taken by the session while it runs when it has input or
 * forwards them (an output-only session, a log, dies of them as before).
 * sock may equally be a kukeonv1 connection whose answer said a stream
 * follows (api/stream.c).  Returns one of
 * KK_ATTACH_*.  KK_ATTACH_ENDED means the monitor closed the session: the
 * container ended (its exit is recorded), or the session was dropped (a
 * client more than 1 MiB behind the output; the log still has everything)
 * and the caller tells which by the exit record.  The caller closes sock. */
enum {
  KK_ATTACH_ENDED = 0,    /* the monitor closed the session */
  KK_ATTACH_DETACHED = 1, /* Ctrl-] Ctrl-]: the container keeps running */
  KK_ATTACH_SIGNALED = 2, /* SIGINT/SIGTERM/SIGHUP arrived; the container keeps running */
};
int kk_attach_open(const char *monitor_dir, kk_err_t *err);
struct kk_attach_opts {
  bool tty;             /* a terminal container */
  bool forward_signals; /* SIGINT/SIGTERM/SIGHUP go to the process (a signal
                           frame, kukeond's exec and run) instead of ending the
                           session */
};
/* What kukeond's last frame said (lib/stream.h KK_STREAM_EXIT). */
struct kk_attach_exit {
  bool got;   /* an exit frame came */
  bool ended; /* the process ended; code is its exit code */
  int code;
};
/* exit == NULL: the peer is a monitor, which sends no exit frame (one is
 * an error then, as is any frame over KK_STREAM_MAX_PAYLOAD). */
int kk_attach_session(int sock, int in_fd, int out_fd, int err_fd, const struct kk_attach_opts *o,
                      struct kk_attach_exit *exit, kk_err_t *err);

struct kk_log_opts {
  bool follow;     /* keep reading (across rotation) until the container ended */
  bool timestamps; /* prefix each line with its RFC 3339 timestamp and a space */
  long tail;       /* only the last N lines; < 0: all (0: none, then follow) */
  /* A follow also ends when one of these is hung up or in error: the
   * connection of a client that left, the write end of a pipe whose reader
   * closed.  Only that: a regular file always polls readable, and a
   * terminal does whenever a key is pressed. */
  int stop_fds[2];
  int n_stop_fds;
  /* out_fd is a client's connection: the lines go out as stream frames
   * (lib/stream.h), stdout and stderr told apart; err_fd is not used. */
  bool framed;
  /* kk_api_log: SIGINT, SIGTERM and SIGHUP of the client go to the
   * container while it is followed (kuke run, as docker's sig-proxy). */
  bool forward_signals;
};
/* Print a container's log (log.1 then log) without the CRI prefixes:
 * stdout lines to out_fd, stderr lines to err_fd (err_fd < 0: out_fd),
 * partial (P) lines joined.  o == NULL: everything, no follow.  With
 * follow it returns once the exit file exists and all is printed (or the
 * monitor is gone without one).  A missing log reads as empty. */
int kk_log_read(const char *monitor_dir, const struct kk_log_opts *o, int out_fd, int err_fd, kk_err_t *err);

/* What a container's securityOpts name on this host, checked as apply
 * does before anything is written: a seccomp=<path> profile must be a
 * regular file of at most 1 MiB holding a docker-format JSON profile whose
 * fields, actions, operators, architectures and syscall names this host's
 * libseccomp and runc know.  The error names the file and the field. */
int kk_security_opts_check(const struct kk_strv *security_opts, kk_err_t *err);
/* The same for every container of a Cell or Container document and for a
 * Space's container defaults; other kinds have none. */
int kk_security_check(const struct kk_doc *doc, kk_err_t *err);

/* --------------------------------------------------------------- exec */

/* kuke exec (runtime/exec.c): argv in running container id, through
 * `runc exec` in the foreground, from the process of its config.json.  Its
 * stdio travels as stream frames on conn (lib/stream.h): stdin, resize and
 * signal frames in; stdout and stderr (a terminal's output is all stdout)
 * out, then an exit frame with its exit status (128+N: killed by signal N).
 * A client that leaves hangs the process up (SIGHUP), and runc is killed
 * if it has not ended 5 s later.  0 once the exit frame is out. */
struct kk_runc;
struct kk_exec_spec {
  const struct kk_runc *runc;
  const char *id;
  const struct kk_strv *argv;
  const struct kk_strv *env; /* K=V added to the container's; may be NULL */
  const char *user;          /* "uid[:gid]" (kk_rootfs_resolve_user); NULL: the container's */
  const char *cwd;           /* NULL: the container's */
  bool tty;                  /* a pty; else pipes */
  bool interactive;          /* stdin from the client; else /dev/null (a pty always reads it) */
};
int kk_exec_session(const struct kk_exec_spec *s, int conn, kk_err_t *err);

/* --------------------------------------------------------------- runc */

/* One runc state root: <runtime-dir>/runc/<namespace>. */
struct kk_runc {
  const char *bin;  /* default "runc" */
  const char *root; /* runc --root */
};
enum kk_runc_status { KK_RUNC_ABSENT, KK_RUNC_CREATED, KK_RUNC_RUNNING, KK_RUNC_STOPPED, KK_RUNC_PAUSED, KK_RUNC_UNKNOWN };
/* all: signal every process of the container (runc kill --all). */
int kk_runc_kill(const struct kk_runc *r, const char *id, int sig, bool all, kk_err_t *err);
/* A container runc does not know is not an error. */
int kk_runc_delete(const struct kk_runc *r, const char *id, bool force, kk_err_t *err);
/* Drop runc's record of a container whose init has ended and was reaped,
 * that had a pid namespace of its own (so nothing of it runs any more) and
 * whose cgroup the caller removes: for such a container that record is all
 * `runc delete` removes besides the cgroup (kukeon's bundles have no
 * hooks), and removing it here spares a runc exec (a Go start, ~6 ms of
 * CPU).  A record holding more than runc's state.json is left to
 * `runc delete --force`.  No record is not an error. */
int kk_runc_forget_stopped(const struct kk_runc *r, const char *id, kk_err_t *err);
int kk_runc_state(const struct kk_runc *r, const char *id, enum kk_runc_status *st, pid_t *pid, kk_err_t *err);
int kk_runc_list(const struct kk_runc *r, struct kk_strv *ids, kk_err_t *err);

#endif

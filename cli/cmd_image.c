/* kuke image load|pull|list|delete|prune through the kukeonv1 API: kukeond
 * does the work, or the same handlers run in-process (controller/images.c).
 * What this side opens (an archive, stdin, `docker save`) travels as an fd,
 * so a member of the socket group loads only what it can read itself. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "api/api.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "lib/fs.h"
#include "model/model.h"
#include "image/image.h"
#include "store/store.h"

extern char **environ;

/* ------------------------------------------------------------- helpers */

/* default.kukeon.io -> default; a namespace of another suffix stays whole. */
static char *realm_of(struct kk_cli *cli, const char *ns) {
  cleanup_free char *suffix = kk_asprintf(".%s", cli->ns_suffix ? cli->ns_suffix : KK_DEFAULT_NS_SUFFIX);
  size_t n = strlen(ns), s = strlen(suffix);
  if (n > s && strcmp(ns + n - s, suffix) == 0)
    return kk_xstrndup(ns, n - s);
  return kk_xstrdup(ns);
}

static void human_size(int64_t n, char buf[32]) { kk_format_size(n, buf); }

static int connect_api(struct kk_cli *cli, const char *sub, bool no_daemon, struct kk_api **api, kk_err_t *err) {
  return kk_cli_connect(cli, sub, false, no_daemon, api, err);
}


/* ----------------------------------------------------------------- load */

/* The one line for a host without a usable docker (kukeon hosts run none). */
static int no_docker(kk_err_t *err, const char *ref, const char *why) {
  return kk_error_kind(err, KK_ERR_UNAVAILABLE, 0,
                       "%s%s--from-docker needs the docker CLI and a running engine; use `docker save %s | kuke image "
                       "load -`",
                       why ? why : "", why ? "; " : "", ref);
}

/* The last non-empty line of what fd (a memfd) holds, at most 1 KiB. */
static char *last_line(int fd) {
  char buf[4096];
  ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
  if (n <= 0)
    return NULL;
  buf[n] = '\0';
  char *end = buf + n;
  while (end > buf && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' '))
    *--end = '\0';
  char *start = end;
  while (start > buf && start[-1] != '\n')
    start--;
  if (*start == '\0')
    return NULL;
  for (char *p = start; *p; p++)
    if ((unsigned char)*p < 0x20)
      *p = ' ';
  return kk_xstrndup(start, 1024);
}

/* `docker save REF` writing into a pipe: *fd is its read end. */
static int docker_save(const char *ref, int *fd, int efd, pid_t *pid, kk_err_t *err) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) < 0)
    return kk_error(err, errno, "pipe");
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, p[1], STDOUT_FILENO);
  if (efd >= 0)
    posix_spawn_file_actions_adddup2(&fa, efd, STDERR_FILENO);
  posix_spawnattr_t sa;
  posix_spawnattr_init(&sa);
  sigset_t def;
  sigemptyset(&def);
  sigaddset(&def, SIGPIPE);
  posix_spawnattr_setsigdefault(&sa, &def);
  posix_spawnattr_setflags(&sa, POSIX_SPAWN_SETSIGDEF);
  const char *argv[] = {"docker", "save", ref, NULL};
  int rc = posix_spawnp(pid, "docker", &fa, &sa, (char *const *)argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&sa);
  close(p[1]);
  if (rc != 0) {
    close(p[0]);
    if (rc == ENOENT)
      return no_docker(err, ref, NULL);
    return kk_error(err, rc, "run docker save %s", ref);
  }
  *fd = p[0];
  return 0;
}

/* `docker save REF` piped into the loader (kukeond or in-process). */
static int load_from_docker(struct kk_api *api, const struct kk_ctl_image_load *l, const char *ref,
                            struct kk_image_load_result *res, char **ns, kk_err_t *err) {
  cleanup_close int efd = memfd_create("docker-save-stderr", MFD_CLOEXEC);
  int fd = -1;
  pid_t pid;
  if (docker_save(ref, &fd, efd, &pid, err) < 0)
    return -1;
  kk_err_t lerr = NULL;
  int lr = kk_api_image_load(api, l, fd, res, ns, &lerr);
  if (lr == 0) {
    /* What the archive reader left unread (tar padding): let docker finish. */
    char sink[8192];
    for (;;) {
      ssize_t n = read(fd, sink, sizeof(sink));
      if (n == 0 || (n < 0 && errno != EINTR))
        break;
    }
  }
  close(fd);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  bool pipe_closed_by_us = lr < 0 && WIFSIGNALED(status) && WTERMSIG(status) == SIGPIPE;
  if (!pipe_closed_by_us && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
    kk_error_free(&lerr);
    kk_image_load_result_free(res);
    cleanup_free char *line = efd >= 0 ? last_line(efd) : NULL;
    cleanup_free char *why =
        WIFEXITED(status) ? kk_asprintf("docker save %s failed (exit %d)%s%s", ref, WEXITSTATUS(status),
                                        line ? ": " : "", line ? line : "")
                          : kk_asprintf("docker save %s was killed by signal %d", ref, WTERMSIG(status));
    return no_docker(err, ref, why);
  }
  if (lr < 0) {
    *err = lerr;
    return -1;
  }
  return 0;
}

/* The input as this user may read it: kukeond never opens a path a client
 * names.  "-" is stdin (not to be closed: *owned stays -1). */
static int open_input(const char *input, int *fd, int *owned, kk_err_t *err) {
  *owned = -1;
  if (strcmp(input, "-") == 0) {
    *fd = STDIN_FILENO;
    return 0;
  }
  *fd = *owned = open(input, O_RDONLY | O_CLOEXEC);
  if (*fd < 0)
    return kk_error_kind(err, errno == ENOENT ? KK_ERR_NOT_FOUND : errno == EACCES ? KK_ERR_PERMISSION : KK_ERR_INTERNAL,
                         errno, "load %s", input);
  return 0;
}

static int load_run(struct kk_cli *cli, const char *input, const char *docker_ref, const struct kk_ctl_image_load *l,
                    bool no_daemon, kk_err_t *err) {
  cleanup_api struct kk_api *api = NULL;
  if (connect_api(cli, "image load", no_daemon, &api, err) < 0)
    return -1;
  cleanup_free char *ns = NULL;
  cleanup_image_load_result struct kk_image_load_result res = {0};
  if (docker_ref) {
    if (load_from_docker(api, l, docker_ref, &res, &ns, err) < 0)
      return -1;
  } else {
    int fd;
    cleanup_close int owned = -1;
    if (open_input(input, &fd, &owned, err) < 0 || kk_api_image_load(api, l, fd, &res, &ns, err) < 0)
      return -1;
  }
  for (size_t i = 0; i < res.skipped.n; i++)
    fprintf(cli->errout, "skipped %s\n", res.skipped.v[i]);
  if (res.refs.n == 0) {
    fprintf(cli->out, "loaded 0 images into realm \"%s\" (namespace \"%s\")\n", l->realm, ns);
    return 0;
  }
  fprintf(cli->out, "loaded %zu image(s) into realm \"%s\" (namespace \"%s\"):\n", res.refs.n, l->realm, ns);
  for (size_t i = 0; i < res.refs.n; i++)
    fprintf(cli->out, "  - %s\n", res.refs.v[i]);
  return 0;
}

static int load_cmd(void *ctx, const struct kk_cmdline *cl, int *status, kk_err_t *err) {
  const char *input = kk_cmdline_str(cl, "input"), *docker_ref = kk_cmdline_str(cl, "from-docker");
  if (cl->args.n == 1 && input)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "image load takes one input: -i FILE, FILE or -");
  if (cl->args.n == 1)
    input = cl->args.v[0];
  if (docker_ref && input)
    return kk_error_kind(err, KK_ERR_INVALID, 0, "--from-docker and an archive (%s) are mutually exclusive", input);
  if (docker_ref && (kk_empty(docker_ref) || docker_ref[0] == '-'))
    return kk_error_kind(err, KK_ERR_INVALID, 0, "--from-docker needs an image reference");
  if (input == NULL && docker_ref == NULL) {
    if (isatty(STDIN_FILENO))
      return kk_error_kind(err, KK_ERR_INVALID, 0, "no input: give an archive (-i FILE) or - to read stdin");
    input = "-";
  }
  const char *realm = kk_cmdline_str(cl, "realm");
  struct kk_ctl_image_load l = {.realm = realm ? realm : "default", .name = kk_cmdline_str(cl, "name"),
                                .platform = kk_cmdline_str(cl, "platform"),
                                .what = docker_ref ? docker_ref : input, .cancel_fd = -1};
  return load_run(KK_CLI(ctx), input, docker_ref, &l, kk_cmdline_bool(cl, "no-daemon"), err);
}

static const struct kk_flag load_flags[] = {
    {"input", 'i', KK_FLAG_STRING, NULL, "archive or OCI layout directory to read (- for stdin)", false},
    {"from-docker", 0, KK_FLAG_STRING, NULL,
     "load REF from a docker engine (runs `docker save REF`; needs the docker CLI and a running engine)", false},
    {"realm", 0, KK_FLAG_STRING, NULL, "realm to load into (default \"default\")", false},
    {"name", 0, KK_FLAG_STRING, NULL, "name for images the archive leaves unnamed (or only tags)", false},
    {"platform", 0, KK_FLAG_STRING, NULL, "os/arch[/variant] to load from multi-platform archives (default: this host)", false},
    KK_NO_DAEMON_FLAG,
};

static const struct kk_cmd image_load = {
    .name = "load",
    .flags = load_flags,
    .n_flags = KK_ARRAY_SIZE(load_flags),
    .args = "[FILE|-]",
    .max_args = 1,
    .usage = "image load [-i FILE|-|--from-docker REF] [flags]",
    .summary = "Load images from an OCI archive or layout, a docker-archive, or a docker engine",
    .details = "FILE may also be given as the argument; with neither, stdin is read when it is not a terminal.\n"
               "kuke opens the input as the user who runs it and hands kukeond the open file or pipe. An OCI layout "
               "directory is loaded in-process only; through kukeond stream it: tar -C DIR -c . | kuke image load -i -\n"
               "--from-docker REF pipes `docker save REF` into the loader; it needs the docker CLI and a running "
               "engine, which kukeon hosts normally lack: then run `docker save REF | kuke image load -` with the "
               "archive from a machine that has one.",
    .run = load_cmd,
};

/* ----------------------------------------------------------------- pull */

struct pull_args {
  const char *ref, *realm, *username, *platform;
  bool insecure, password_stdin, quiet, no_daemon;
};

static int pull_run(struct kk_cli *cli, const struct pull_args *a, kk_err_t *err) {
  cleanup_free char *password = NULL;
  if (a->password_stdin) {
    size_t len = 0;
    if (a->username == NULL)
      return kk_error_kind(err, KK_ERR_INVALID, 0, "--password-stdin needs --username");
    if (kk_read_fd(STDIN_FILENO, 4096, "password", &password, &len, err) < 0)
      return -1;
    while (len > 0 && (password[len - 1] == '\n' || password[len - 1] == '\r'))
      password[--len] = '\0';
  }
  cleanup_api struct kk_api *api = NULL;
  if (connect_api(cli, "image pull", a->no_daemon, &api, err) < 0)
    return -1;
  /* The bar is drawn in-process only (kk_api_image_pull). */
  struct kk_ctl_image_pull p = {
      .ref = a->ref, .realm = a->realm, .username = a->username, .password = password, .platform = a->platform,
      .insecure = a->insecure,
      .progress_fd = !a->quiet && isatty(fileno(cli->errout)) ? fileno(cli->errout) : -1};
  fflush(cli->errout);
  cleanup_image_info struct kk_image_info info = {0};
  cleanup_free char *ns = NULL;
  if (kk_api_image_pull(api, &p, &info, &ns, err) < 0)
    return -1;
  fprintf(cli->out, "pulled image \"%s\" (%s) into realm \"%s\" (namespace \"%s\")\n", info.name, info.digest, a->realm,
          ns);
  return 0;
}

static int pull_cmd(void *ctx, const struct kk_cmdline *cl, int *status, kk_err_t *err) {
  const char *realm = kk_cmdline_str(cl, "realm");
  struct pull_args a = {
      .ref = cl->args.v[0],
      .realm = realm ? realm : "default",
      .username = kk_cmdline_str(cl, "username"),
      .platform = kk_cmdline_str(cl, "platform"),
      .insecure = kk_cmdline_bool(cl, "insecure"),
      .password_stdin = kk_cmdline_bool(cl, "password-stdin"),
      .quiet = kk_cmdline_bool(cl, "quiet"),
      .no_daemon = kk_cmdline_bool(cl, "no-daemon"),
  };
  return pull_run(KK_CLI(ctx), &a, err);
}

static const struct kk_flag pull_flags[] = {
    {"realm", 0, KK_FLAG_STRING, NULL, "realm to pull into (default \"default\")", false},
    {"insecure", 0, KK_FLAG_BOOL, NULL, "allow plain HTTP and unverified TLS for this registry", false},
    {"username", 'u', KK_FLAG_STRING, NULL, "registry user name", false},
    {"password-stdin", 0, KK_FLAG_BOOL, NULL, "read the registry password from stdin", false},
    {"platform", 0, KK_FLAG_STRING, NULL, "os/arch[/variant] (default: this host)", false},
    {"quiet", 'q', KK_FLAG_BOOL, NULL, "no progress bar (kukeond draws none)", false},
    KK_NO_DAEMON_FLAG,
};

static const struct kk_cmd image_pull = {
    .name = "pull",
    .flags = pull_flags,
    .n_flags = KK_ARRAY_SIZE(pull_flags),
    .args = "REF",
    .min_args = 1,
    .max_args = 1,
    .summary = "Pull an image from a registry (v2) into a realm, with the realm's registry credentials",
    .details = "REF is normalized: busybox is docker.io/library/busybox:latest.\n"
               "When the realm exists, its spec.registryCredentials are used (an entry whose serverAddress is REF's "
               "registry, else one with an empty serverAddress) unless --username is given, and a registry listed in "
               "its spec.insecureRegistries (host or host:port) may answer over plain HTTP or unverified TLS, as with "
               "--insecure. Any other registry must speak verified HTTPS.",
    .run = pull_cmd,
};

/* ----------------------------------------------------------------- list */

static json_t *info_json(struct kk_cli *cli, const struct kk_image_info *i) {
  cleanup_free char *realm = realm_of(cli, i->namespace_name);
  char created[32];
  kk_time_format(i->created, created);
  json_t *o = json_object();
  json_object_set_new(o, "name", json_string(i->name));
  json_object_set_new(o, "realm", json_string(realm));
  json_object_set_new(o, "namespace", json_string(i->namespace_name));
  json_object_set_new(o, "size", json_integer(i->size));
  json_object_set_new(o, "createdAt", json_string(created));
  json_object_set_new(o, "digest", json_string(i->digest));
  json_object_set_new(o, "manifestDigest", json_string(i->manifest_digest));
  json_object_set_new(o, "mediaType", json_string(i->media_type ? i->media_type : ""));
  cleanup_free char *plat = i->platform.os ? kk_image_platform_string(&i->platform) : kk_xstrdup("");
  json_object_set_new(o, "platform", json_string(plat));
  json_object_set_new(o, "chainID", json_string(i->chain_id ? i->chain_id : ""));
  json_t *l = json_object();
  for (size_t k = 0; k < i->labels.n; k++)
    json_object_set_new(l, i->labels.keys[k], json_string(i->labels.vals[k]));
  json_object_set_new(o, "labels", l);
  return o;
}

/* YAML scalars: quoted when they could be read as something else. */
static void yaml_str(FILE *f, const char *s) {
  bool plain = *s && strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789./_-+@") == strlen(s) &&
               strchr("-.", s[0]) == NULL && strcmp(s, "true") && strcmp(s, "false") && strcmp(s, "null") &&
               strspn(s, "0123456789.") != strlen(s);
  if (plain) {
    fputs(s, f);
    return;
  }
  json_t *j = json_string(s);
  char *text = json_dumps(j, JSON_ENCODE_ANY);
  json_decref(j);
  fputs(text ? text : "\"\"", f);
  free(text);
}

static void yaml_doc(FILE *f, json_t *o, const char *first, const char *rest) {
  const char *k;
  json_t *v;
  bool firstline = true;
  json_object_foreach(o, k, v) {
    fputs(firstline ? first : rest, f);
    firstline = false;
    fprintf(f, "%s:", k);
    if (json_is_object(v)) {
      if (json_object_size(v) == 0) {
        fputs(" {}\n", f);
        continue;
      }
      fputc('\n', f);
      const char *k2;
      json_t *v2;
      json_object_foreach(v, k2, v2) {
        fprintf(f, "%s  ", rest);
        yaml_str(f, k2);
        fputs(": ", f);
        yaml_str(f, json_string_value(v2));
        fputc('\n', f);
      }
    } else if (json_is_integer(v)) {
      fprintf(f, " %lld\n", (long long)json_integer_value(v));
    } else {
      fputc(' ', f);
      yaml_str(f, json_string_value(v));
      fputc('\n', f);
    }
  }
}

/* How image list prints what it found. */
struct image_view {
  enum kk_output fmt;
  bool headers;
};

static void print_infos(struct kk_cli *cli, const struct kk_image_info *v, size_t n, bool single,
                        struct image_view view) {
  enum kk_output fmt = view.fmt;
  if (fmt == KK_OUT_NAME) {
    for (size_t i = 0; i < n; i++)
      fprintf(cli->out, "%s\n", v[i].name);
    return;
  }
  if (fmt == KK_OUT_JSON || fmt == KK_OUT_YAML) {
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
      json_array_append_new(arr, info_json(cli, &v[i]));
    if (fmt == KK_OUT_JSON) {
      char *text = json_dumps(single ? json_array_get(arr, 0) : arr, JSON_INDENT(2));
      fprintf(cli->out, "%s\n", text);
      free(text);
    } else if (single) {
      yaml_doc(cli->out, json_array_get(arr, 0), "", "");
    } else if (n == 0) {
      fputs("[]\n", cli->out);
    } else {
      for (size_t i = 0; i < n; i++)
        yaml_doc(cli->out, json_array_get(arr, i), "- ", "  ");
    }
    json_decref(arr);
    return;
  }
  if (n == 0) {
    fputs("No images found.\n", cli->out);
    return;
  }
  bool wide = fmt == KK_OUT_WIDE;
  static const char *const hdr[] = {"NAME", "REALM", "SIZE", "AGE", "CREATED", "DIGEST"};
  struct kk_table t;
  kk_table_init(&t, hdr, wide ? 6 : 4);
  int64_t now = kk_now();
  for (size_t i = 0; i < n; i++) {
    cleanup_free char *rl = realm_of(cli, v[i].namespace_name);
    char size[32], age[32], created[32];
    human_size(v[i].size, size);
    kk_format_age(v[i].created, now, age);
    if (v[i].created > 0)
      kk_time_format(v[i].created, created);
    else
      strcpy(created, "-");
    const char *row[] = {v[i].name, rl, size, age, created, v[i].digest};
    kk_table_add(&t, row);
  }
  kk_table_print(cli->out, &t, view.headers);
  kk_table_free(&t);
}

static int list_run(struct kk_cli *cli, const char *ref, const char *realm, struct image_view view, bool no_daemon,
                    kk_err_t *err) {
  cleanup_api struct kk_api *api = NULL;
  struct kk_image_info *v = NULL;
  size_t n = 0;
  if (connect_api(cli, "image list", no_daemon, &api, err) < 0 || kk_api_image_list(api, realm, ref, &v, &n, err) < 0)
    return -1;
  print_infos(cli, v, n, ref != NULL, view);
  kk_image_infos_free(v, n);
  return 0;
}

static int list_cmd(void *ctx, const struct kk_cmdline *cl, int *status, kk_err_t *err) {
  struct image_view v = {.headers = !kk_cmdline_bool(cl, "no-headers")};
  if (kk_output_parse(kk_cmdline_str(cl, "output"), &v.fmt, err) < 0)
    return -1;
  return list_run(KK_CLI(ctx), cl->args.n ? cl->args.v[0] : NULL, kk_cmdline_str(cl, "realm"), v,
                  kk_cmdline_bool(cl, "no-daemon"), err);
}

static const struct kk_flag list_flags[] = {
    {"realm", 0, KK_FLAG_STRING, NULL, "only this realm (default: all realms; \"default\" for a named image)", false},
    {"output", 'o', KK_FLAG_STRING, NULL, "table, wide, yaml, json or name (one image name per line)", false},
    {"no-headers", 0, KK_FLAG_BOOL, NULL, "table and wide: leave out the header line", false},
    KK_NO_DAEMON_FLAG,
};

#define IMAGE_LIST(word, alias1, alias2)                                                                              \
  {.name = word, .aliases = {alias1, alias2}, .flags = list_flags, .n_flags = KK_ARRAY_SIZE(list_flags),             \
   .args = "[REF]", .max_args = 1, .summary = "List images; all realms unless --realm is given",                     \
   .details = "Columns: NAME REALM SIZE AGE; -o wide adds CREATED DIGEST.", .run = list_cmd}
static const struct kk_cmd image_list = IMAGE_LIST("list", "ls", "get");
const struct kk_cmd kk_cli_cmd_get_images = IMAGE_LIST("image", "images", "img");

/* ----------------------------------------------------------- delete, prune */

static int delete_run(struct kk_cli *cli, const char *ref, const char *realm, bool no_daemon, kk_err_t *err) {
  cleanup_api struct kk_api *api = NULL;
  cleanup_free char *name = NULL, *ns = NULL;
  if (connect_api(cli, "image delete", no_daemon, &api, err) < 0 ||
      kk_api_image_delete(api, realm, ref, &name, &ns, err) < 0)
    return -1;
  fprintf(cli->out, "deleted image \"%s\" from realm \"%s\" (namespace \"%s\")\n", name, realm, ns);
  return 0;
}

static int delete_cmd(void *ctx, const struct kk_cmdline *cl, int *status, kk_err_t *err) {
  const char *realm = kk_cmdline_str(cl, "realm");
  return delete_run(KK_CLI(ctx), cl->args.v[0], realm ? realm : "default", kk_cmdline_bool(cl, "no-daemon"), err);
}

static const struct kk_flag delete_flags[] = {
    {"realm", 0, KK_FLAG_STRING, NULL, "realm (default \"default\")", false},
    KK_NO_DAEMON_FLAG,
};

static const struct kk_cmd image_delete = {
    .name = "delete",
    .aliases = {"rm", "remove"},
    .flags = delete_flags,
    .n_flags = KK_ARRAY_SIZE(delete_flags),
    .args = "REF",
    .min_args = 1,
    .max_args = 1,
    .summary = "Delete an image from a realm",
    .details = "Content nothing else uses is removed at once; a running container keeps its layers.",
    .run = delete_cmd,
};

static int prune_run(struct kk_cli *cli, const char *realm, bool no_daemon, kk_err_t *err) {
  cleanup_api struct kk_api *api = NULL;
  cleanup_free char *ns = NULL;
  struct kk_image_prune_result pr;
  if (connect_api(cli, "image prune", no_daemon, &api, err) < 0 || kk_api_image_prune(api, realm, &pr, &ns, err) < 0)
    return -1;
  char freed[32];
  human_size(pr.bytes_freed, freed);
  fprintf(cli->out,
          "pruned realm \"%s\" (namespace \"%s\"): removed %zu blob(s) (%s) and %zu snapshot(s); retained %zu "
          "snapshot(s), %zu rootfs lease(s)\n",
          realm, ns, pr.blobs_removed, freed, pr.snapshots_removed, pr.snapshots_retained, pr.leases);
  return 0;
}

static int prune_cmd(void *ctx, const struct kk_cmdline *cl, int *status, kk_err_t *err) {
  const char *realm = kk_cmdline_str(cl, "realm");
  return prune_run(KK_CLI(ctx), realm ? realm : "default", kk_cmdline_bool(cl, "no-daemon"), err);
}

static const struct kk_flag prune_flags[] = {
    {"realm", 0, KK_FLAG_STRING, NULL, "realm named in the report (default \"default\")", false},
    KK_NO_DAEMON_FLAG,
};

static const struct kk_cmd image_prune = {
    .name = "prune",
    .flags = prune_flags,
    .n_flags = KK_ARRAY_SIZE(prune_flags),
    .summary = "Remove blobs and snapshots no image or container uses",
    .details = "Blobs and snapshots are shared by all realms: only what no realm's image and no mounted rootfs "
               "references goes.",
    .run = prune_cmd,
};

static const struct kk_cmd *const image_subs[] = {&image_load, &image_pull, &image_list, &image_delete, &image_prune};

const struct kk_cmd kk_cli_cmd_image = {
    .name = "image",
    .aliases = {"img"},
    .subs = image_subs,
    .n_subs = KK_ARRAY_SIZE(image_subs),
    .summary = "Load, pull, list, delete and prune images",
    .details = "Manage the images of a realm.",
};

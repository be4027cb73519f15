/* Holds N connections to a unix socket open, sending nothing (or one byte
 * every T ms on each), until killed: a peer that tries to starve kukeond.
 *   kk-sockhog SOCKET N [-u UID] [-g GID] [-G GROUP] [-t MS]
 * -u/-g/-G: become that uid/gid (with GROUP as the only supplementary
 * group) before connecting, so the daemon sees those credentials.
 * Prints "connected=<n>" once it has tried all N (for at most 20 s) and
 * then holds them. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define CONNECT_FOR_MS 20000

struct opts {
  const char *sock;
  int n;
  long uid, gid, group;
  int trickle_ms;
};

static long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int parse(int argc, char **argv, struct opts *o) {
  *o = (struct opts){.uid = -1, .gid = -1, .group = -1};
  int c;
  while ((c = getopt(argc, argv, "u:g:G:t:")) != -1) {
    if (c == 'u')
      o->uid = atol(optarg);
    else if (c == 'g')
      o->gid = atol(optarg);
    else if (c == 'G')
      o->group = atol(optarg);
    else if (c == 't')
      o->trickle_ms = atoi(optarg);
    else
      return -1;
  }
  if (argc - optind != 2)
    return -1;
  o->sock = argv[optind];
  o->n = atoi(argv[optind + 1]);
  return o->n > 0 ? 0 : -1;
}

/* Room for N fds, then the credentials the daemon is to see. */
static int become(const struct opts *o) {
  struct rlimit rl = {(rlim_t)o->n + 64, (rlim_t)o->n + 64};
  if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
    perror("setrlimit");
  if (o->group >= 0) {
    gid_t g = (gid_t)o->group;
    if (setgroups(1, &g) < 0)
      return perror("setgroups"), -1;
  } else if (o->uid >= 0 && setgroups(0, NULL) < 0) {
    return perror("setgroups"), -1;
  }
  if (o->gid >= 0 && setgid((gid_t)o->gid) < 0)
    return perror("setgid"), -1;
  if (o->uid >= 0 && setuid((uid_t)o->uid) < 0)
    return perror("setuid"), -1;
  return 0;
}

/* A connection, retried while the backlog is full; -1 when out of time. */
static int dial(const char *path, long until) {
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
  while (now_ms() < until) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
      return -1;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
      return fd;
    int e = errno;
    close(fd);
    if (e != EAGAIN)
      return -1;
    usleep(10000);
  }
  return -1;
}

/* A frame header announcing 16 MiB - 1, then 'x' forever: never complete. */
static void trickle(const int *fds, int n, int ms) {
  static const unsigned char hdr[4] = {0x00, 0xff, 0xff, 0xff};
  for (unsigned long i = 0;; i++) {
    unsigned char b = i < 4 ? hdr[i] : 'x';
    for (int k = 0; k < n; k++)
      send(fds[k], &b, 1, MSG_NOSIGNAL | MSG_DONTWAIT);
    usleep((useconds_t)ms * 1000);
  }
}

int main(int argc, char **argv) {
  struct opts o;
  if (parse(argc, argv, &o) < 0) {
    fprintf(stderr, "usage: kk-sockhog SOCKET N [-u UID] [-g GID] [-G GROUP] [-t MS]\n");
    return 2;
  }
  if (become(&o) < 0)
    return 1;
  int *fds = calloc((size_t)o.n, sizeof(int));
  int got = 0;
  long until = now_ms() + CONNECT_FOR_MS;
  while (got < o.n) {
    int fd = dial(o.sock, until);
    if (fd < 0)
      break;
    fds[got++] = fd;
  }
  printf("connected=%d\n", got);
  fflush(stdout);
  if (o.trickle_ms > 0)
    trickle(fds, got, o.trickle_ms);
  for (;;)
    pause();
}

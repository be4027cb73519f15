/* Load generator for kukeond: N client processes, each one connection
 * sending M requests (ping, list realms, get realm default in turn).
 * Prints "requests=<n> failures=<n>" and exits 1 on any failure.
 *   kk-apiload SOCKET CLIENTS REQUESTS [PAUSE_MS]
 * PAUSE_MS: each client sleeps that long between its requests. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "api/api.h"

static int client(const char *sock, int requests, int pause_ms) {
  struct kk_api *api = NULL;
  kk_err_t err = NULL;
  if (kk_api_open_remote(sock, &api, &err) < 0) {
    fprintf(stderr, "connect: %s\n", err->msg);
    kk_error_free(&err);
    return requests;
  }
  int failures = 0;
  for (int i = 0; i < requests; i++) {
    if (i > 0 && pause_ms > 0)
      usleep((useconds_t)pause_ms * 1000);
    int r;
    if (i % 3 == 0) {
      char *v = NULL;
      r = kk_api_ping(api, &v, &err);
      free(v);
    } else if (i % 3 == 1) {
      struct kk_doc_list l = {0};
      r = kk_api_list(api, KK_KIND_REALM, NULL, &l, NULL, &err);
      kk_doc_list_free(&l);
    } else {
      struct kk_ref ref = {.kind = KK_KIND_REALM, .realm = "default", .name = "default"};
      struct kk_doc *d = NULL;
      r = kk_api_get(api, &ref, &d, &err);
      kk_doc_free(d);
    }
    if (r < 0) {
      fprintf(stderr, "request %d: %s\n", i, err->msg);
      kk_error_free(&err);
      failures++;
    }
  }
  kk_api_close(api);
  return failures;
}

int main(int argc, char **argv) {
  if (argc != 4 && argc != 5) {
    fprintf(stderr, "usage: kk-apiload SOCKET CLIENTS REQUESTS [PAUSE_MS]\n");
    return 2;
  }
  int clients = atoi(argv[2]), requests = atoi(argv[3]), pause_ms = argc == 5 ? atoi(argv[4]) : 0;
  pid_t *pids = calloc((size_t)clients, sizeof(pid_t));
  for (int c = 0; c < clients; c++) {
    pids[c] = fork();
    if (pids[c] == 0) {
      int f = client(argv[1], requests, pause_ms);
      _exit(f > 255 ? 255 : f);
    }
  }
  int failures = 0;
  for (int c = 0; c < clients; c++) {
    int st = 0;
    waitpid(pids[c], &st, 0);
    failures += WIFEXITED(st) ? WEXITSTATUS(st) : requests;
  }
  free(pids);
  printf("requests=%d failures=%d\n", clients * requests, failures);
  return failures == 0 ? 0 : 1;
}

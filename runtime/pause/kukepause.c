/* kukepause: PID 1 of a synthesized cell root.  It owns the cell's
 * namespaces, reaps whatever gets reparented to it, and exits 0 on
 * SIGTERM/SIGINT.  Static and dependency-free on purpose. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGCHLD);
  sigprocmask(SIG_BLOCK, &set, NULL);
  for (;;) {
    int sig = 0;
    if (sigwait(&set, &sig) != 0)
      continue;
    if (sig == SIGTERM || sig == SIGINT)
      return 0;
    while (waitpid(-1, NULL, WNOHANG) > 0)
      ;
  }
}

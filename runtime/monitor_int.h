/* Private to runtime/: the client end of a monitor's attach socket
 * (attach.c, logread.c, monitor_ctl.c).  Not an API. */
#ifndef KK_RUNTIME_MONITOR_INT_H
#define KK_RUNTIME_MONITOR_INT_H

#include <stdbool.h>

#include "lib/error.h"

/* A connection to <monitor dir>/attach (reached through the directory's
 * fd, so a long path still fits sun_path), set non-blocking once made; -1
 * with errno set. */
int kk_attach_socket(int dirfd);
/* Wait up to timeout_ms on such a connection, as a wake-up only: what the
 * monitor sent is read and dropped.  When it hung up (the exit file is
 * written) or refused us (no client slot), *sock is closed and set to -1.
 * Whether anything happened. */
bool kk_attach_wake(int *sock, int timeout_ms);

#endif

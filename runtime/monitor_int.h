/* Private to runtime/attach.c and runtime/logread.c: the client end of a
 * monitor's attach socket.  Not an API. */
#ifndef KK_RUNTIME_MONITOR_INT_H
#define KK_RUNTIME_MONITOR_INT_H

/* A connection to <monitor dir>/attach (reached through the directory's
 * fd, so a long path still fits sun_path), set non-blocking once made; -1
 * with errno set. */
int kk_attach_socket(int dirfd);

#endif

/* kukeond: the daemon. */
#ifndef KK_DAEMON_H
#define KK_DAEMON_H

int kk_daemon_main(int argc, char **argv);

#endif

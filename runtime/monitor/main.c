/* build/kukeon-monitor: the per-container monitor as a program of its own,
 * linked static from runtime/monitor.c and lib/ (see monitor_ctl.c). */
#include "runtime/runtime.h"

int main(int argc, char **argv) { return kk_monitor_main(argc, argv); }

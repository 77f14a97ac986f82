/* mt_signal.h - SIGINT and SIGTERM ask a program to stop, nothing more.
 *
 * The handler only sets a flag (no work in a signal handler); main loops
 * check it at least every ~100 ms. No SA_RESTART, so a blocked read()
 * returns at once with EINTR. `docker stop` sends SIGTERM, Ctrl-C SIGINT. */
#ifndef MT_SIGNAL_H
#define MT_SIGNAL_H

#include <signal.h>

/* Non-zero once SIGINT or SIGTERM arrived. */
extern volatile sig_atomic_t mt_stop_requested;

/* Installs the handler for SIGINT and SIGTERM, and ignores SIGPIPE. */
void mt_signal_install(void);

#endif

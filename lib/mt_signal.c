/* mt_signal.c - stop flag set by SIGINT/SIGTERM (see mt_signal.h). */
#define _POSIX_C_SOURCE 200809L
#include "mt_signal.h"

#include <stddef.h>

volatile sig_atomic_t mt_stop_requested;

static void on_signal(int sig) {
    (void)sig;
    mt_stop_requested = 1;
}

void mt_signal_install(void) {
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    /* A closed pipe (mt-producer ... | head) is a write error to report,
     * not a reason to die in the middle of a job. */
    signal(SIGPIPE, SIG_IGN);
}

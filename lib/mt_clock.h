/* mt_clock.h - the two clocks microtask reads.
 *
 * Deadlines and intervals use the monotonic clock, which never jumps; times
 * stored for people (a job's created_ms, finished_ms) use the wall clock. */
#ifndef MT_CLOCK_H
#define MT_CLOCK_H

#include <time.h>

/* Milliseconds on the monotonic clock (for waits and deadlines). */
static inline long long mt_clock_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Milliseconds since the Unix epoch (for timestamps people read). */
static inline long long mt_wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif

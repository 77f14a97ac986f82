/* worker.h - the engine of mt-consumer: poll, run tasks on threads, produce
 * results, commit only what is finished.
 *
 * The poll loop never waits for a task, so a task of any length cannot get
 * the worker thrown out of the group: when enough work is queued the
 * partitions are paused (still polling, still in the group) and resumed as
 * it drains. Per partition, the offset stored for commit never passes the
 * lowest task whose result Kafka has not acknowledged. */
#ifndef MT_CONSUMER_WORKER_H
#define MT_CONSUMER_WORKER_H

#include <signal.h>
#include <stddef.h>

#include "mt_config.h"

typedef struct worker_opts {
    int threads;               /* tasks mapped at once */
    int prefetch;              /* tasks queued before partitions pause */
    size_t max_bytes;          /* task bytes held before partitions pause */
    int revoke_wait_ms;        /* on rebalance: wait for running tasks */
    int stop_wait_ms;          /* on shutdown: wait for running tasks */
    int retries;               /* times a failed task is run again */
    int retry_backoff_ms;      /* pause before the first retry; doubles */
    int heartbeat_ms;          /* the worker's record in Redis is renewed */
} worker_opts_t;

typedef struct worker worker_t;

/* Creates the worker: producer, topics, consumer (joins the group).
 * Returns NULL with a message in err. cfg must outlive the worker. */
worker_t *worker_new(const mt_config_t *cfg, const worker_opts_t *opts,
                     char *err, size_t errsize);

/* Runs until *stop becomes non-zero, then finishes or hands back in-flight
 * tasks, commits and leaves the group (each wait bounded). Returns 0, or -1
 * when the results producer failed for good (it has then stopped too). */
int worker_run(worker_t *w, volatile sig_atomic_t *stop);

/* Frees the worker; NULL is accepted. Call after worker_run, then exit: when
 * a task still runs past the stop wait, its thread is left running and the
 * worker is not freed. */
void worker_destroy(worker_t *w);

#endif

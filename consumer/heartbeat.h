/* heartbeat.h - a worker's presence in Redis, and what it learns there.
 *
 * A thread of its own renews the worker's record every interval (so
 * `mtctl workers` lists live workers, and a dead one drops out when its
 * record expires) and reads which jobs were cancelled, so the worker can
 * skip their tasks. Redis being away never stops the worker: the thread
 * says so once and keeps trying. */
#ifndef MT_CONSUMER_HEARTBEAT_H
#define MT_CONSUMER_HEARTBEAT_H

#include <stddef.h>

#include <jansson.h>

#include "mt_config.h"

typedef struct heartbeat heartbeat_t;

/* Called on the heartbeat thread before each beat: adds the fields to
 * record (host, pid and seen_ms are added by the heartbeat). */
typedef void (*heartbeat_fill_fn)(void *opaque, json_t *fields);

/* Starts beating every interval_ms as worker_id; the record outlives a
 * missed beat or two (ttl 5 intervals). Returns NULL with a message in err
 * (a malformed Redis address, or no thread). */
heartbeat_t *heartbeat_start(const mt_config_t *cfg, const char *worker_id,
                             int interval_ms, heartbeat_fill_fn fill, void *opaque,
                             char *err, size_t errsize);

/* 1 when the job was cancelled (as of the last beat); any thread. */
int heartbeat_cancelled(heartbeat_t *hb, const char *job);

/* Stops the thread and removes the worker's record. NULL is accepted. */
void heartbeat_stop(heartbeat_t *hb);

#endif

/* mt_kafka.h - Kafka clients with microtask's defaults.
 *
 * One place decides how producers and consumers are configured (idempotent
 * producer, manual offset store, eager assignment, group timeouts), how
 * topics are created (Admin API, never auto-creation) and how a consumer
 * leaves its group with a bounded wait. Users' -X properties are applied
 * last, so they can override any default. */
#ifndef MT_KAFKA_H
#define MT_KAFKA_H

#include <stddef.h>

#include <librdkafka/rdkafka.h>

#include "mt_config.h"

/* Receives each delivery report, from rd_kafka_poll() or rd_kafka_flush();
 * opaque is the one given to mt_kafka_producer_new(). */
typedef void (*mt_kafka_dr_fn)(rd_kafka_t *rk, const rd_kafka_message_t *msg,
                               void *opaque);

/* ---- clients ---- */

/* Returns a producer with acks=all, or NULL with a message in err.
 * idempotent turns on the idempotent producer (no duplicates on retry, but
 * a fatal error ends the instance); without it, a retry may duplicate a
 * message, which is harmless where duplicates are ignored downstream.
 * dr (may be NULL) receives every delivery report; opaque is its argument. */
rd_kafka_t *mt_kafka_producer_new(const mt_config_t *cfg, int idempotent,
                                  mt_kafka_dr_fn dr, void *opaque, char *err,
                                  size_t errsize);

/* Told of each rebalance: assigned != 0 for new partitions (called before
 * they are assigned), 0 for partitions being revoked (called before the
 * final commit of their stored offsets, so it may still store some). */
typedef struct mt_kafka_rebalance {
    void (*fn)(rd_kafka_t *rk, int assigned,
               const rd_kafka_topic_partition_list_t *parts, void *opaque);
    void *opaque;
} mt_kafka_rebalance_t;

/* Returns a consumer in cfg->group subscribed to the given topics, or NULL
 * with a message in err. rb (may be NULL; must outlive the consumer) is told
 * of rebalances. It reads from the earliest offset when the group
 * has none, and commits only offsets the program stored with
 * rd_kafka_offsets_store() (automatically every second, on rebalance and on
 * close). Assignment is eager (roundrobin): librdkafka 2.0.2 can lose an
 * assignment when committing during a cooperative rebalance. */
rd_kafka_t *mt_kafka_consumer_new(const mt_config_t *cfg,
                                  const char *const *topics, size_t ntopics,
                                  mt_kafka_rebalance_t *rb, char *err,
                                  size_t errsize);

/* Commits stored offsets, leaves the group and destroys the consumer,
 * waiting about timeout_ms at most (a broker may be unreachable). Returns 0
 * when the group was left, -1 when the wait ran out. librdkafka 2.0.2 can
 * block in destroy (for ever while a commit waits for an unreachable
 * coordinator, or while messages are still held), so the destroy may still
 * be running on a thread of its own: the caller should exit soon (the
 * broker drops a member that did not leave after session.timeout.ms). */
int mt_kafka_consumer_close(rd_kafka_t *rk, int timeout_ms);

/* Waits until every queued message is delivered or failed, at most
 * timeout_ms. Returns the number of messages still queued. */
int mt_kafka_flush(rd_kafka_t *rk, int timeout_ms);

/* ---- topics ---- */

/* Creates the topics that do not exist (cfg->partitions partitions,
 * cfg->replication replicas) and waits until all have leaders. Returns 0,
 * or -1 with a message in err. */
int mt_kafka_ensure_topics(rd_kafka_t *rk, const mt_config_t *cfg,
                           const char *const *topics, size_t ntopics,
                           int timeout_ms, char *err, size_t errsize);

/* Reads every message of a topic that is there when the call starts, from
 * the oldest kept, partition by partition, without joining a group, and
 * calls fn for each (non-zero from fn stops the scan). Returns 0, or -1
 * with a message (no progress for timeout_ms counts as an error). */
typedef int (*mt_kafka_scan_fn)(void *opaque, const rd_kafka_message_t *m);
int mt_kafka_scan(const mt_config_t *cfg, const char *topic, mt_kafka_scan_fn fn,
                  void *opaque, int timeout_ms, char *err, size_t errsize);

/* Returns the topic's partition count, or -1 with a message in err. */
int mt_kafka_partition_count(rd_kafka_t *rk, const char *topic,
                             int timeout_ms, char *err, size_t errsize);

#endif

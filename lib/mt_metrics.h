/* mt_metrics.h - a program's counters, served to Prometheus over HTTP.
 *
 * One registry per process, like the default registry of Prometheus's client
 * libraries: a program registers its metrics once at start, updates them from
 * any thread, and (with --metrics-port) libmicrohttpd serves them in the text
 * exposition format at /metrics. librdkafka's statistics (queue depths,
 * consumer lag per partition, broker round trips) are folded in from its
 * stats callback, so one scrape shows both. */
#ifndef MT_METRICS_H
#define MT_METRICS_H

#include <stddef.h>

#include "mt_buf.h"

typedef struct mt_metric mt_metric_t;

/* ---- registration (at start, before serving) ---- */

/* Register a counter (only goes up), a gauge (set to any value) or a
 * histogram of durations in seconds (fixed buckets from 0.5 ms to 10 s).
 * name must be a valid Prometheus metric name; for a counter, end it in
 * "_total". Returns a handle that lives until mt_metrics_reset(), or NULL
 * when out of memory; every update function accepts NULL and does nothing. */
mt_metric_t *mt_metric_counter(const char *name, const char *help);
mt_metric_t *mt_metric_gauge(const char *name, const char *help);
mt_metric_t *mt_metric_histogram(const char *name, const char *help);

/* ---- updates (any thread) ---- */

void mt_metric_add(mt_metric_t *m, double by);      /* counter or gauge */
void mt_metric_set(mt_metric_t *m, double value);   /* gauge */
void mt_metric_observe(mt_metric_t *m, double seconds); /* histogram */

/* The current value of a counter or gauge (for heartbeats and tests). */
double mt_metric_value(const mt_metric_t *m);

/* Takes one librdkafka statistics document (the stats_cb argument) and
 * keeps what it says about that client in place of what the client's
 * previous document said. Returns 0, or -1 when json is not a statistics
 * document (nothing changes). */
int mt_metrics_kafka_stats(const char *json, size_t len);

/* ---- output ---- */

/* Appends every metric in the Prometheus text format (version 0.0.4).
 * Returns 0, or -1 when out of memory. */
int mt_metrics_render(mt_buf_t *out);

/* Starts serving GET /metrics on addr: "PORT" (every interface) or
 * "HOST:PORT" (a numeric IPv4 address); port 0 picks a free one. Returns
 * the port bound, or -1 with a message in err. At most one server runs. */
int mt_metrics_serve(const char *addr, char *err, size_t errsize);

/* Returns 1 once mt_metrics_serve() has succeeded: Kafka clients created
 * after that send their statistics here. */
int mt_metrics_serving(void);

/* Stops the server, if any, and forgets every metric (handles become
 * invalid). */
void mt_metrics_reset(void);

#endif

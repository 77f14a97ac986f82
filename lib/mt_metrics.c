/* mt_metrics.c - the process's metrics registry and its HTTP endpoint (see
 * mt_metrics.h).
 *
 * One mutex guards everything: updates are a few per task, far below where
 * a lock would show, and a scrape renders a consistent picture. librdkafka's
 * statistics are kept as parsed samples per client (not as text) so that a
 * metric family shared by a consumer and a producer is written once, as the
 * exposition format requires. */
#define _GNU_SOURCE
#include "mt_metrics.h"

#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <microhttpd.h>

#include "mt_clock.h"
#include "mt_config.h"

enum kind { COUNTER, GAUGE, HISTOGRAM };

/* Fine below 100 ms, where task latencies live, so that quantiles read
 * from the buckets say something about a 20 ms target. */
static const double bucket_bounds[] = {0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01,
                                       0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.25, 0.5,
                                       1, 2.5, 5, 10};
#define NBUCKETS (sizeof bucket_bounds / sizeof bucket_bounds[0])

struct mt_metric {
    enum kind kind;
    char *name, *help;
    double value;                  /* counter, gauge; histogram: sum */
    unsigned long long count;      /* histogram: observations */
    unsigned long long buckets[NBUCKETS]; /* histogram: per bucket, not cumulative */
    mt_metric_t *next;
};

/* ---- librdkafka's statistics ---- */

enum kafka_family {
    KF_QUEUED, KF_TX_MSGS, KF_RX_MSGS, KF_TX_BYTES, KF_RX_BYTES, KF_ERRORS,
    KF_RTT_AVG, KF_RTT_P99, KF_LAG, KF_ASSIGNED, KF_REBALANCES, KF_COUNT
};

static const struct {
    const char *name, *type, *help;
} kafka_families[KF_COUNT] = {
    [KF_QUEUED] = {"mt_kafka_queued_messages", "gauge",
                   "messages waiting in the client's queues (librdkafka msg_cnt)"},
    [KF_TX_MSGS] = {"mt_kafka_sent_messages_total", "counter",
                    "messages the client has sent to brokers"},
    [KF_RX_MSGS] = {"mt_kafka_received_messages_total", "counter",
                    "messages the client has received from brokers"},
    [KF_TX_BYTES] = {"mt_kafka_sent_bytes_total", "counter",
                     "message bytes the client has sent to brokers"},
    [KF_RX_BYTES] = {"mt_kafka_received_bytes_total", "counter",
                     "message bytes the client has received from brokers"},
    [KF_ERRORS] = {"mt_kafka_request_errors_total", "counter",
                   "failed requests to brokers, sent or received"},
    [KF_RTT_AVG] = {"mt_kafka_broker_rtt_avg_seconds", "gauge",
                    "average round trip to the broker over the last interval"},
    [KF_RTT_P99] = {"mt_kafka_broker_rtt_p99_seconds", "gauge",
                    "99th percentile round trip to the broker over the last interval"},
    [KF_LAG] = {"mt_kafka_consumer_lag", "gauge",
                "messages between the partition's end and this consumer's committed offset"},
    [KF_ASSIGNED] = {"mt_kafka_assigned_partitions", "gauge",
                     "partitions assigned to this consumer"},
    [KF_REBALANCES] = {"mt_kafka_rebalances_total", "counter",
                       "rebalances this consumer has been through"},
};

typedef struct sample {
    enum kafka_family family;
    char labels[384]; /* rendered, without braces, after client="..." */
    double value;
} sample_t;

typedef struct kafka_client {
    char name[128];
    long long updated_ms; /* a client silent for long is gone */
    sample_t *samples;
    size_t nsamples;
    struct kafka_client *next;
} kafka_client_t;

/* A client is forgotten when it has sent nothing for this long: it was
 * destroyed (librdkafka says nothing then), or it was short-lived. */
#define KAFKA_CLIENT_STALE_MS 60000

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static mt_metric_t *metrics, **metrics_tail = &metrics;
static kafka_client_t *clients;
static struct MHD_Daemon *daemon_handle;
static int serving;

/* ---- registration and updates ---- */

static mt_metric_t *add(enum kind kind, const char *name, const char *help) {
    mt_metric_t *m = calloc(1, sizeof *m);
    if (!m || !(m->name = strdup(name)) || !(m->help = strdup(help))) {
        if (m) free(m->name);
        free(m);
        return NULL;
    }
    m->kind = kind;
    pthread_mutex_lock(&lock);
    *metrics_tail = m;
    metrics_tail = &m->next;
    pthread_mutex_unlock(&lock);
    return m;
}

mt_metric_t *mt_metric_counter(const char *name, const char *help) {
    return add(COUNTER, name, help);
}
mt_metric_t *mt_metric_gauge(const char *name, const char *help) {
    return add(GAUGE, name, help);
}
mt_metric_t *mt_metric_histogram(const char *name, const char *help) {
    return add(HISTOGRAM, name, help);
}

void mt_metric_add(mt_metric_t *m, double by) {
    if (!m) return;
    pthread_mutex_lock(&lock);
    m->value += by;
    pthread_mutex_unlock(&lock);
}

void mt_metric_set(mt_metric_t *m, double value) {
    if (!m) return;
    pthread_mutex_lock(&lock);
    m->value = value;
    pthread_mutex_unlock(&lock);
}

void mt_metric_observe(mt_metric_t *m, double seconds) {
    if (!m || !(seconds >= 0)) return;
    pthread_mutex_lock(&lock);
    m->value += seconds;
    m->count++;
    for (size_t k = 0; k < NBUCKETS; k++)
        if (seconds <= bucket_bounds[k]) {
            m->buckets[k]++;
            break;
        }
    pthread_mutex_unlock(&lock);
}

double mt_metric_value(const mt_metric_t *m) {
    if (!m) return 0;
    pthread_mutex_lock(&lock);
    double v = m->value;
    pthread_mutex_unlock(&lock);
    return v;
}

/* ---- librdkafka statistics ---- */

/* Label values may hold anything: escape as the format asks. */
static void escape_label(char *out, size_t size, const char *s) {
    size_t n = 0;
    for (; *s && n + 3 < size; s++) {
        if (*s == '\\' || *s == '"') out[n++] = '\\', out[n++] = *s;
        else if (*s == '\n') out[n++] = '\\', out[n++] = 'n';
        else out[n++] = *s;
    }
    out[n] = '\0';
}

typedef struct {
    sample_t *v;
    size_t n, cap;
    int oom;
} samples_t;

static void push(samples_t *s, enum kafka_family f, double value, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void push(samples_t *s, enum kafka_family f, double value, const char *fmt, ...) {
    if (s->oom) return;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 32;
        sample_t *v = realloc(s->v, cap * sizeof *v);
        if (!v) {
            s->oom = 1;
            return;
        }
        s->v = v;
        s->cap = cap;
    }
    sample_t *smp = &s->v[s->n++];
    smp->family = f;
    smp->value = value;
    smp->labels[0] = '\0';
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(smp->labels, sizeof smp->labels, fmt, ap);
        va_end(ap);
    }
}

static double num(json_t *obj, const char *key, int *found) {
    json_t *v = json_object_get(obj, key);
    if (found) *found = json_is_number(v);
    return json_is_number(v) ? json_number_value(v) : 0;
}

static void broker_samples(samples_t *s, json_t *brokers) {
    const char *key;
    json_t *b;
    double errors = 0;
    json_object_foreach(brokers, key, b) {
        errors += num(b, "txerrs", NULL) + num(b, "rxerrs", NULL);
        /* bootstrap and logical brokers have no node id */
        if (num(b, "nodeid", NULL) < 0) continue;
        json_t *rtt = json_object_get(b, "rtt");
        if (!rtt || num(rtt, "cnt", NULL) <= 0) continue;
        char name[128];
        escape_label(name, sizeof name, key);
        push(s, KF_RTT_AVG, num(rtt, "avg", NULL) / 1e6, "broker=\"%s\"", name);
        push(s, KF_RTT_P99, num(rtt, "p99", NULL) / 1e6, "broker=\"%s\"", name);
    }
    push(s, KF_ERRORS, errors, NULL);
}

static void lag_samples(samples_t *s, json_t *topics) {
    const char *tname, *pname;
    json_t *t, *p;
    json_object_foreach(topics, tname, t) {
        char topic[256];
        escape_label(topic, sizeof topic, tname);
        json_object_foreach(json_object_get(t, "partitions"), pname, p) {
            int found;
            double lag = num(p, "consumer_lag", &found);
            /* -1: the internal unassigned partition, or no offsets yet */
            if (num(p, "partition", NULL) < 0 || !found || lag < 0) continue;
            if (!json_is_true(json_object_get(p, "desired"))) continue;
            push(s, KF_LAG, lag, "topic=\"%s\",partition=\"%s\"", topic, pname);
        }
    }
}

int mt_metrics_kafka_stats(const char *json, size_t len) {
    json_t *root = json_loadb(json, len, 0, NULL);
    json_t *name = json_object_get(root, "name");
    if (!json_is_string(name)) {
        json_decref(root);
        return -1;
    }
    samples_t s = {0};
    push(&s, KF_QUEUED, num(root, "msg_cnt", NULL), NULL);
    push(&s, KF_TX_MSGS, num(root, "txmsgs", NULL), NULL);
    push(&s, KF_RX_MSGS, num(root, "rxmsgs", NULL), NULL);
    push(&s, KF_TX_BYTES, num(root, "txmsg_bytes", NULL), NULL);
    push(&s, KF_RX_BYTES, num(root, "rxmsg_bytes", NULL), NULL);
    broker_samples(&s, json_object_get(root, "brokers"));
    json_t *cgrp = json_object_get(root, "cgrp");
    if (cgrp) {
        push(&s, KF_ASSIGNED, num(cgrp, "assignment_size", NULL), NULL);
        push(&s, KF_REBALANCES, num(cgrp, "rebalance_cnt", NULL), NULL);
        lag_samples(&s, json_object_get(root, "topics"));
    }
    if (s.oom) {
        free(s.v);
        json_decref(root);
        return -1;
    }

    pthread_mutex_lock(&lock);
    kafka_client_t *c = clients;
    while (c && strcmp(c->name, json_string_value(name)) != 0) c = c->next;
    if (!c && (c = calloc(1, sizeof *c))) {
        escape_label(c->name, sizeof c->name, json_string_value(name));
        c->next = clients;
        clients = c;
    }
    if (c) {
        free(c->samples);
        c->samples = s.v;
        c->nsamples = s.n;
        c->updated_ms = mt_clock_ms();
        s.v = NULL;
    }
    pthread_mutex_unlock(&lock);
    free(s.v);
    json_decref(root);
    return 0;
}

/* ---- rendering ---- */

static int appendf(mt_buf_t *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int appendf(mt_buf_t *out, const char *fmt, ...) {
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0) return -1;
    return mt_buf_append(out, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

static int render_metric(mt_buf_t *out, const mt_metric_t *m) {
    static const char *types[] = {"counter", "gauge", "histogram"};
    int rc = appendf(out, "# HELP %s %s\n# TYPE %s %s\n", m->name, m->help, m->name,
                     types[m->kind]);
    if (m->kind != HISTOGRAM) return rc | appendf(out, "%s %.17g\n", m->name, m->value);
    unsigned long long cumulative = 0;
    for (size_t k = 0; k < NBUCKETS; k++) {
        cumulative += m->buckets[k];
        rc |= appendf(out, "%s_bucket{le=\"%g\"} %llu\n", m->name, bucket_bounds[k],
                      cumulative);
    }
    rc |= appendf(out, "%s_bucket{le=\"+Inf\"} %llu\n", m->name, m->count);
    rc |= appendf(out, "%s_sum %.17g\n%s_count %llu\n", m->name, m->value, m->name, m->count);
    return rc;
}

static void forget_stale_clients(void) {
    long long now = mt_clock_ms();
    for (kafka_client_t **pc = &clients; *pc;) {
        kafka_client_t *c = *pc;
        if (now - c->updated_ms > KAFKA_CLIENT_STALE_MS) {
            *pc = c->next;
            free(c->samples);
            free(c);
        } else {
            pc = &c->next;
        }
    }
}

int mt_metrics_render(mt_buf_t *out) {
    int rc = 0;
    pthread_mutex_lock(&lock);
    for (const mt_metric_t *m = metrics; m; m = m->next) rc |= render_metric(out, m);
    forget_stale_clients();
    for (int f = 0; f < KF_COUNT; f++) {
        int header = 0;
        for (const kafka_client_t *c = clients; c; c = c->next)
            for (size_t k = 0; k < c->nsamples; k++) {
                const sample_t *smp = &c->samples[k];
                if (smp->family != (enum kafka_family)f) continue;
                if (!header++)
                    rc |= appendf(out, "# HELP %s %s\n# TYPE %s %s\n", kafka_families[f].name,
                                  kafka_families[f].help, kafka_families[f].name,
                                  kafka_families[f].type);
                rc |= appendf(out, "%s{client=\"%s\"%s%s} %.17g\n", kafka_families[f].name,
                              c->name, smp->labels[0] ? "," : "", smp->labels, smp->value);
            }
    }
    pthread_mutex_unlock(&lock);
    return rc ? -1 : 0;
}

/* ---- the HTTP endpoint ---- */

static enum MHD_Result answer(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version,
                              const char *upload, size_t *upload_size, void **state) {
    (void)cls, (void)version, (void)upload, (void)upload_size, (void)state;
    unsigned status = MHD_HTTP_OK;
    const char *type = "text/plain; version=0.0.4; charset=utf-8";
    mt_buf_t body = MT_BUF_INIT;
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        status = MHD_HTTP_METHOD_NOT_ALLOWED;
        mt_buf_append(&body, "only GET\n", 9);
    } else if (strcmp(url, "/metrics") == 0) {
        if (mt_metrics_render(&body) != 0) status = MHD_HTTP_INTERNAL_SERVER_ERROR;
    } else if (strcmp(url, "/") == 0) {
        static const char text[] = "microtask: metrics at /metrics\n";
        mt_buf_append(&body, text, sizeof text - 1);
    } else {
        status = MHD_HTTP_NOT_FOUND;
        mt_buf_append(&body, "not found; metrics are at /metrics\n", 35);
    }
    /* the response takes the buffer and frees it with free() */
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(body.len, body.data ? body.data : (char *)"",
                                        body.data ? MHD_RESPMEM_MUST_FREE
                                                  : MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        mt_buf_free(&body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    enum MHD_Result ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

int mt_metrics_serve(const char *addr, char *err, size_t errsize) {
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_ANY)};
    const char *colon = strrchr(addr, ':');
    long port;
    if (mt_parse_long(colon ? colon + 1 : addr, 0, 65535, &port) != 0) {
        snprintf(err, errsize, "metrics address \"%s\": expected PORT or HOST:PORT", addr);
        return -1;
    }
    if (colon) {
        char host[64];
        size_t n = (size_t)(colon - addr);
        if (n == 0 || n >= sizeof host) {
            snprintf(err, errsize, "metrics address \"%s\": bad host", addr);
            return -1;
        }
        memcpy(host, addr, n);
        host[n] = '\0';
        if (strcmp(host, "localhost") == 0) strcpy(host, "127.0.0.1");
        if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
            snprintf(err, errsize, "metrics address \"%s\": host must be an IPv4 address",
                     addr);
            return -1;
        }
    }
    sa.sin_port = htons((uint16_t)port);
    if (daemon_handle) {
        snprintf(err, errsize, "metrics are already served");
        return -1;
    }
    daemon_handle = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL,
                                     (uint16_t)port, NULL, NULL, answer, NULL,
                                     MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                                     MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10,
                                     MHD_OPTION_END);
    if (!daemon_handle) {
        snprintf(err, errsize, "cannot serve metrics on %s (port in use?)", addr);
        return -1;
    }
    serving = 1;
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(daemon_handle, MHD_DAEMON_INFO_BIND_PORT);
    return info ? info->port : (int)port;
}

int mt_metrics_serving(void) { return serving; }

void mt_metrics_reset(void) {
    if (daemon_handle) MHD_stop_daemon(daemon_handle);
    daemon_handle = NULL;
    serving = 0;
    pthread_mutex_lock(&lock);
    while (metrics) {
        mt_metric_t *m = metrics;
        metrics = m->next;
        free(m->name);
        free(m->help);
        free(m);
    }
    metrics_tail = &metrics;
    while (clients) {
        kafka_client_t *c = clients;
        clients = c->next;
        free(c->samples);
        free(c);
    }
    pthread_mutex_unlock(&lock);
}

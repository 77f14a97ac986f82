/* mt-aggregator - merges partial results into Redis, each task exactly once.
 *
 * Polls a batch from the results topic, groups it by job, asks Redis which
 * tasks are not merged yet, combines their partial results and merges them
 * with one atomic script that also sets their "merged" bits. Offsets are
 * stored only after Redis holds the merge; on any Redis failure it retries
 * with backoff and stores nothing, so a crash or outage redelivers, and the
 * bits make redelivery harmless. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mt_clock.h"
#include "mt_config.h"
#include "mt_delta.h"
#include "mt_kafka.h"
#include "mt_log.h"
#include "mt_metrics.h"
#include "mt_op.h"
#include "mt_plugins.h"
#include "mt_signal.h"
#include "mt_store.h"
#include "mt_task.h"

#define DEFAULT_BATCH 2000
#define MERGE_CHUNK 256  /* tasks per Redis script call: bounds its run time */
#define CLOSE_TIMEOUT_MS 10000

typedef struct job_batch {
    char job[MT_JOB_ID_MAX + 1];
    char run[MT_RUN_ID_MAX + 1];
    int *msgs;     /* indexes into the batch, of RESULT and FAILED messages */
    size_t n, cap;
    int64_t total; /* from an END message, or -1 */
} job_batch_t;

typedef struct aggregator {
    mt_config_t cfg;
    int batch_max;
    rd_kafka_t *consumer, *producer;
    mt_redis_t *redis;
    rd_kafka_message_t **msgs;
    mt_task_t *tasks;
    int nmsgs;
    job_batch_t *jobs;
    size_t njobs, jobs_cap;
    mt_delta_t *scratch;  /* one decoded result, before it joins the batch */
    unsigned long long merged, duplicates, completed, stale, dead_letters;
    struct { /* the counters above, as metrics, and what batches take */
        mt_metric_t *merged, *duplicates, *completed, *stale, *dead_letters,
            *redis_errors, *batch_seconds, *latency, *task_latency;
        unsigned long long merged_seen, duplicates_seen, completed_seen, stale_seen,
            dead_letters_seen;
    } m;
} aggregator_t;

static _Noreturn void usage(const char *reason) {
    FILE *out = reason ? stderr : stdout;
    if (reason) { /* the error alone: the full text is one --help away */
        if (*reason) fprintf(stderr, "mt-aggregator: %s\n", reason); /* "": getopt said it */
        fprintf(stderr, "Try 'mt-aggregator --help' for more information.\n");
        exit(1);
    }
    fprintf(out,
        "Usage: mt-aggregator [options]\n"
        "Merges partial results from the results topic into Redis, each task once,\n"
        "and marks jobs complete (published on the Redis channel " MT_STORE_DONE_CHANNEL ").\n\n"
        "  -g, --group NAME        consumer group (MT_AGGREGATOR_GROUP; mt-aggregators)\n"
        "      --batch N           results taken per poll (%d)\n"
        MT_SERVICE_HELP "\n%s",
        DEFAULT_BATCH, MT_CONFIG_HELP);
    exit(reason ? 1 : 0);
}

/* Sleeps before retry number *attempt (100 ms doubling to 5 s). Returns -1
 * when a stop was requested meanwhile. */
static int backoff(int *attempt) {
    int ms = 100 << (*attempt < 6 ? *attempt : 6);
    if (ms > 5000) ms = 5000;
    (*attempt)++;
    for (int waited = 0; waited < ms; waited += 50) {
        if (mt_stop_requested) return -1;
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return mt_stop_requested ? -1 : 0;
}

/* The batch's group for one submission of a job. */
static job_batch_t *job_for(aggregator_t *a, const char *job, const char *run) {
    for (size_t k = 0; k < a->njobs; k++)
        if (strcmp(a->jobs[k].job, job) == 0 && strcmp(a->jobs[k].run, run) == 0)
            return &a->jobs[k];
    if (a->njobs == a->jobs_cap) {
        size_t cap = a->jobs_cap ? a->jobs_cap * 2 : 16;
        job_batch_t *j = realloc(a->jobs, cap * sizeof *j);
        if (!j) return NULL;
        memset(j + a->jobs_cap, 0, (cap - a->jobs_cap) * sizeof *j);
        a->jobs = j;
        a->jobs_cap = cap;
    }
    job_batch_t *j = &a->jobs[a->njobs++];
    snprintf(j->job, sizeof j->job, "%s", job);
    snprintf(j->run, sizeof j->run, "%s", run);
    j->n = 0;
    j->total = -1;
    return j;
}

static void dead_letter(aggregator_t *a, const rd_kafka_message_t *m,
                        const char *why) {
    rd_kafka_headers_t *h = mt_task_dead_letter_headers(m, why);
    a->dead_letters++;
    mt_warn("dead-lettering %s/%d/%lld: %s", rd_kafka_topic_name(m->rkt),
            (int)m->partition, (long long)m->offset, why);
    rd_kafka_resp_err_t e = rd_kafka_producev(
        a->producer, RD_KAFKA_V_TOPIC(a->cfg.dlq_topic),
        RD_KAFKA_V_KEY(m->key, m->key_len), RD_KAFKA_V_VALUE(m->payload, m->len),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(h),
        RD_KAFKA_V_END);
    if (e) {
        rd_kafka_headers_destroy(h);
        mt_err("cannot dead-letter it: %s", rd_kafka_err2str(e));
    }
}

/* Polls up to batch_max messages and sorts them into per-job groups. */
static void poll_batch(aggregator_t *a) {
    int wait = 100;
    a->nmsgs = 0;
    a->njobs = 0;
    while (a->nmsgs < a->batch_max && !mt_stop_requested) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(a->consumer, wait);
        if (!m) break;
        wait = 0;
        int idx = a->nmsgs++;
        a->msgs[idx] = m;
        mt_task_t *t = &a->tasks[idx];
        mt_task_init(t, MT_MSG_TASK); /* "task" here means: nothing to merge */
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                mt_warn("consumer: %s", rd_kafka_message_errstr(m));
            continue;
        }
        rd_kafka_headers_t *hdrs = NULL;
        char err[256], why[300];
        rd_kafka_message_headers(m, &hdrs);
        if (mt_task_decode(hdrs, t, err, sizeof err) != 0 || t->type == MT_MSG_TASK) {
            snprintf(why, sizeof why, "malformed result: %s",
                     t->type == MT_MSG_TASK ? "a task on the results topic" : err);
            t->type = MT_MSG_TASK;
            dead_letter(a, m, why);
            continue;
        }
        job_batch_t *j = job_for(a, t->job, t->run);
        if (!j) {
            mt_err("out of memory");
            mt_stop_requested = 1;
            break;
        }
        if (t->type == MT_MSG_END) {
            j->total = t->total;
            continue;
        }
        if (j->n == j->cap) {
            size_t cap = j->cap ? j->cap * 2 : 64;
            int *p = realloc(j->msgs, cap * sizeof *p);
            if (!p) {
                mt_err("out of memory");
                mt_stop_requested = 1;
                break;
            }
            j->msgs = p;
            j->cap = cap;
        }
        j->msgs[j->n++] = idx;
    }
}

static void job_completed(aggregator_t *a, const char *job) {
    a->completed++;
    mt_info("job %s complete", job);
}

/* Counts one task as failed for its job, with the reason. Returns 0, or -1
 * when Redis failed. */
static int count_failed(aggregator_t *a, job_batch_t *j, const mt_task_t *t,
                        const rd_kafka_message_t *m, const char *reason,
                        size_t reason_len, char *err, size_t errsize) {
    int completed;
    int rc = mt_store_merge_failed(a->redis, j->job, j->run, t->seq, reason,
                                   reason_len, &completed, err, errsize);
    if (rc == MT_STORE_ERROR) return -1;
    if (rc == MT_STORE_REFUSED) dead_letter(a, m, err); /* e.g. beyond the end */
    if (rc == MT_STORE_STALE) a->stale++;
    if (rc == MT_STORE_OK && completed) job_completed(a, j->job);
    return 0;
}

/* Merges up to MERGE_CHUNK results of one submission. Returns 0, or -1 when
 * Redis failed (what was not merged is merged again later). */
static int merge_chunk(aggregator_t *a, job_batch_t *j, const int *idx,
                       size_t n, mt_delta_t *delta, char *err, size_t errsize) {
    int64_t seqs[MERGE_CHUNK], fresh[MERGE_CHUNK];
    int fresh_idx[MERGE_CHUNK], alone[MERGE_CHUNK];
    size_t nalone = 0;
    unsigned char is_new[MERGE_CHUNK];
    int completed;
    for (size_t k = 0; k < n; k++) seqs[k] = a->tasks[idx[k]].seq;
    for (int attempt = 0;; attempt++) {
        if (mt_store_unmerged(a->redis, j->job, seqs, n, is_new, err, errsize))
            return -1;
        size_t nfresh = 0;
        nalone = 0;
        mt_delta_clear(delta);
        for (size_t k = 0; k < n; k++) {
            const mt_task_t *t = &a->tasks[idx[k]];
            const rd_kafka_message_t *m = a->msgs[idx[k]];
            /* a task may appear twice in one batch: count it once */
            for (size_t q = 0; is_new[k] && q < k; q++)
                if (seqs[q] == seqs[k]) is_new[k] = 0;
            if (!is_new[k]) {
                a->duplicates++;
                continue;
            }
            char why[300];
            if (t->type == MT_MSG_FAILED) {
                mt_warn("job %s task %lld failed: %.*s", j->job, (long long)t->seq,
                        (int)t->error_len, t->error ? t->error : "");
                if (count_failed(a, j, t, m, t->error ? t->error : "failed",
                                 t->error ? t->error_len : 6, err, errsize))
                    return -1;
                continue;
            }
            mt_delta_clear(a->scratch);
            if (mt_delta_decode(a->scratch, m->payload, m->len, why, sizeof why) != 0) {
                /* A result we cannot read: the task counts as failed. */
                char reason[400];
                if (!mt_op_find(t->op))
                    snprintf(reason, sizeof reason, "op \"%s\" is not known to the "
                             "aggregator (a plugin? start it with --plugin, then run "
                             "mtctl retry %s)", t->op, j->job);
                else
                    snprintf(reason, sizeof reason, "unreadable result: %s", why);
                dead_letter(a, m, reason);
                if (count_failed(a, j, t, m, reason, strlen(reason), err, errsize))
                    return -1;
                continue;
            }
            if (mt_delta_merge(delta, a->scratch, why, sizeof why) != 0) {
                /* Fine alone, but not with the others (an overflowing sum):
                 * it is merged on its own below, where Redis judges it. */
                alone[nalone++] = idx[k];
                continue;
            }
            fresh_idx[nfresh] = idx[k];
            fresh[nfresh++] = t->seq;
        }
        int rc = nfresh == 0 ? MT_STORE_OK
                             : mt_store_merge(a->redis, j->job, j->run, fresh, nfresh,
                                              delta, &completed, err, errsize);
        switch (rc) {
        case MT_STORE_OK:
            a->merged += nfresh;
            if (nfresh && completed) job_completed(a, j->job);
            for (size_t k = 0; k < nalone; k++)
                if (merge_chunk(a, j, &alone[k], 1, delta, err, errsize)) return -1;
            return 0;
        case MT_STORE_STALE:
            /* a deleted job's leftovers, or a job never claimed */
            a->stale += nfresh + nalone;
            mt_debug("job %s: %zu result(s) of another submission dropped", j->job, nfresh);
            return 0;
        case MT_STORE_REFUSED:
            if (nfresh > 1 || nalone) { /* find the culprit: one task at a time */
                for (size_t k = 0; k < nfresh; k++)
                    if (merge_chunk(a, j, &fresh_idx[k], 1, delta, err, errsize))
                        return -1;
                for (size_t k = 0; k < nalone; k++)
                    if (merge_chunk(a, j, &alone[k], 1, delta, err, errsize))
                        return -1;
                return 0;
            } else {
                char reason[400];
                snprintf(reason, sizeof reason, "cannot merge: %s", err);
                dead_letter(a, a->msgs[fresh_idx[0]], reason);
                return count_failed(a, j, &a->tasks[fresh_idx[0]],
                                    a->msgs[fresh_idx[0]], reason, strlen(reason),
                                    err, errsize);
            }
        case MT_STORE_CONFLICT:
            /* another aggregator merged one of them meanwhile: look again */
            mt_debug("job %s: merge raced (attempt %d), filtering again", j->job, attempt);
            continue;
        default:
            return -1;
        }
    }
}

/* A plugin job's partial states of one chunk, merged in memory first. */
typedef struct state_merge {
    const mt_op_t *op;
    char *args;       /* the job's arguments, carried by its results */
    mt_buf_t batch;
} state_merge_t;

static int combine_state(void *opaque, const void *cur, size_t len, mt_buf_t *out,
                         char *err, size_t errsize) {
    state_merge_t *sm = opaque;
    if (!cur) return mt_buf_append(out, sm->batch.data ? sm->batch.data : "",
                                   sm->batch.len);
    return mt_plugin_merge(sm->op, sm->args, cur, len, sm->batch.data ? sm->batch.data : "",
                           sm->batch.len, out, err, errsize);
}

/* merge_chunk for an op loaded from a plugin: the tasks' states are merged
 * by the plugin, then into the job's state in Redis (mt_store_merge_state).
 * A state the plugin cannot merge fails its task. */
static int merge_chunk_state(aggregator_t *a, job_batch_t *j, const mt_op_t *op,
                             const int *idx, size_t n, char *err, size_t errsize) {
    int64_t seqs[MERGE_CHUNK], fresh[MERGE_CHUNK];
    unsigned char is_new[MERGE_CHUNK];
    state_merge_t sm = {op, NULL, MT_BUF_INIT};
    mt_buf_t tmp = MT_BUF_INIT;
    int rc = -1, completed;
    for (size_t k = 0; k < n; k++) {
        const mt_task_t *t = &a->tasks[idx[k]];
        seqs[k] = t->seq;
        if (!sm.args && t->args && !(sm.args = strndup(t->args, t->args_len))) goto oom;
    }
    for (;;) {
        if (mt_store_unmerged(a->redis, j->job, seqs, n, is_new, err, errsize)) break;
        size_t nfresh = 0;
        int have = 0;
        mt_buf_reset(&sm.batch);
        for (size_t k = 0; k < n; k++) {
            const mt_task_t *t = &a->tasks[idx[k]];
            const rd_kafka_message_t *m = a->msgs[idx[k]];
            for (size_t q = 0; is_new[k] && q < k; q++)
                if (seqs[q] == seqs[k]) is_new[k] = 0;
            if (!is_new[k]) {
                a->duplicates++;
                continue;
            }
            char why[300];
            if (t->type == MT_MSG_FAILED || strcmp(t->op, op->name) != 0) {
                const char *reason = t->type == MT_MSG_FAILED && t->error ? t->error
                                     : t->type == MT_MSG_FAILED ? "failed"
                                     : "a result of another op in a plugin job";
                size_t rlen = t->type == MT_MSG_FAILED && t->error ? t->error_len
                                                                   : strlen(reason);
                if (count_failed(a, j, t, m, reason, rlen, err, errsize)) goto out;
                continue;
            }
            mt_buf_reset(&tmp);
            if (!have) {
                if (mt_buf_append(&sm.batch, m->payload, m->len) != 0) goto oom;
            } else if (mt_plugin_merge(op, sm.args, sm.batch.data, sm.batch.len, m->payload,
                                       m->len, &tmp, why, sizeof why) != 0) {
                char reason[400];
                snprintf(reason, sizeof reason, "cannot merge: %s", why);
                dead_letter(a, m, reason);
                if (count_failed(a, j, t, m, reason, strlen(reason), err, errsize))
                    goto out;
                continue;
            } else {
                mt_buf_t swap = sm.batch;
                sm.batch = tmp;
                tmp = swap;
            }
            have = 1;
            fresh[nfresh++] = t->seq;
        }
        int src = nfresh == 0 ? MT_STORE_OK
                              : mt_store_merge_state(a->redis, j->job, j->run, fresh,
                                                     nfresh, combine_state, &sm,
                                                     &completed, err, errsize);
        if (src == MT_STORE_CONFLICT) continue;
        if (src == MT_STORE_ERROR) goto out;
        if (src == MT_STORE_OK) {
            a->merged += nfresh;
            if (nfresh && completed) job_completed(a, j->job);
        } else if (src == MT_STORE_STALE) {
            a->stale += nfresh;
        } else { /* the plugin could not merge into the job's state */
            mt_err("job %s: %s; its %zu task(s) count as failed", j->job, err, nfresh);
            char reason[600];
            snprintf(reason, sizeof reason, "cannot merge into the job's state: %s", err);
            for (size_t k = 0; k < n; k++)
                for (size_t q = 0; q < nfresh; q++)
                    if (a->tasks[idx[k]].seq == fresh[q] &&
                        count_failed(a, j, &a->tasks[idx[k]], a->msgs[idx[k]], reason,
                                     strlen(reason), err, errsize))
                        goto out;
        }
        rc = 0;
        break;
    }
    goto out;
oom:
    snprintf(err, errsize, "out of memory");
out:
    free(sm.args);
    mt_buf_free(&sm.batch);
    mt_buf_free(&tmp);
    return rc;
}

/* Applies one job's part of the batch. Returns 0, or -1 on a Redis error. */
static int apply_job(aggregator_t *a, job_batch_t *j, mt_delta_t *delta,
                     char *err, size_t errsize) {
    /* a plugin job is known by its op; built-in ops merge as deltas */
    const mt_op_t *op = j->n ? mt_op_find(a->tasks[j->msgs[0]].op) : NULL;
    for (size_t off = 0; off < j->n; off += MERGE_CHUNK) {
        size_t n = j->n - off < MERGE_CHUNK ? j->n - off : MERGE_CHUNK;
        int rc = op && op->plugin
                     ? merge_chunk_state(a, j, op, j->msgs + off, n, err, errsize)
                     : merge_chunk(a, j, j->msgs + off, n, delta, err, errsize);
        if (rc != 0) return -1;
    }
    if (j->total >= 0) {
        int completed;
        int rc = mt_store_end(a->redis, j->job, j->run, j->total, &completed, err,
                              errsize);
        if (rc == MT_STORE_ERROR) return -1;
        if (rc == MT_STORE_OK && completed) job_completed(a, j->job);
        if (rc == MT_STORE_STALE) a->stale++;
    }
    return 0;
}

/* Stores the offset after every message of the batch. */
static void store_offsets(aggregator_t *a) {
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(8);
    for (int k = 0; k < a->nmsgs; k++) {
        rd_kafka_message_t *m = a->msgs[k];
        if (m->err) continue;
        const char *topic = rd_kafka_topic_name(m->rkt);
        rd_kafka_topic_partition_t *p =
            rd_kafka_topic_partition_list_find(l, topic, m->partition);
        if (!p) p = rd_kafka_topic_partition_list_add(l, topic, m->partition);
        if (m->offset + 1 > p->offset) p->offset = m->offset + 1;
    }
    if (l->cnt) {
        rd_kafka_resp_err_t e = rd_kafka_offsets_store(a->consumer, l);
        if (e) mt_debug("offsets not stored: %s", rd_kafka_err2str(e));
    }
    rd_kafka_topic_partition_list_destroy(l);
}

static void register_metrics(aggregator_t *a) {
    a->m.merged = mt_metric_counter("mt_results_merged_total",
                                    "task results merged into their job in Redis");
    a->m.duplicates = mt_metric_counter("mt_results_duplicate_total",
                                        "redelivered results ignored: already merged");
    a->m.completed = mt_metric_counter("mt_jobs_completed_total", "jobs this aggregator completed");
    a->m.stale = mt_metric_counter("mt_results_dropped_total",
                                   "results of deleted, cancelled or unknown jobs dropped");
    a->m.dead_letters = mt_metric_counter("mt_dead_letters_total",
                                          "messages written to the dead-letter topic");
    a->m.redis_errors = mt_metric_counter("mt_redis_errors_total",
                                          "Redis calls that failed and were retried");
    a->m.batch_seconds = mt_metric_histogram("mt_merge_batch_seconds",
                                             "time to merge one polled batch into Redis");
    a->m.latency = mt_metric_histogram("mt_result_latency_seconds",
                                       "from a result's production to its merge in Redis");
    a->m.task_latency = mt_metric_histogram(
        "mt_task_latency_seconds", "from a task's submission to its result's merge in Redis");
}

/* Adds what the batch changed to the metrics. */
static void count_batch(aggregator_t *a, double seconds) {
#define PUBLISH(field)                                                         \
    mt_metric_add(a->m.field, (double)(a->field - a->m.field##_seen)),         \
        a->m.field##_seen = a->field
    PUBLISH(merged);
    PUBLISH(duplicates);
    PUBLISH(completed);
    PUBLISH(stale);
    PUBLISH(dead_letters);
#undef PUBLISH
    mt_metric_observe(a->m.batch_seconds, seconds);
    long long now = mt_wall_ms();
    for (int k = 0; k < a->nmsgs; k++) {
        rd_kafka_timestamp_type_t type;
        int64_t ts = rd_kafka_message_timestamp(a->msgs[k], &type);
        if (ts > 0 && type == RD_KAFKA_TIMESTAMP_CREATE_TIME && now >= ts)
            mt_metric_observe(a->m.latency, (double)(now - ts) / 1000);
        int64_t submitted = a->tasks[k].submitted_ms;
        if (submitted > 0 && now >= submitted && a->tasks[k].type != MT_MSG_TASK)
            mt_metric_observe(a->m.task_latency, (double)(now - submitted) / 1000);
    }
}

/* Merges the whole batch, retrying Redis failures with backoff. Returns 0
 * when Redis holds all of it, -1 when stopped first. */
static int apply_batch(aggregator_t *a, mt_delta_t *delta) {
    char err[512];
    for (size_t k = 0; k < a->njobs; k++) {
        int attempt = 0;
        while (apply_job(a, &a->jobs[k], delta, err, sizeof err) != 0) {
            mt_warn("%s; retrying", err);
            mt_metric_add(a->m.redis_errors, 1);
            if (backoff(&attempt) != 0) return -1;
        }
    }
    return 0;
}

int main(int argc, char **argv) {
    static const struct option longopts[] = {
        MT_CONFIG_LONGOPTS,
        MT_SERVICE_LONGOPTS,
        {"group", required_argument, NULL, 'g'},
        {"batch", required_argument, NULL, 'n'},
        {NULL, 0, NULL, 0},
    };
    aggregator_t a = {0};
    mt_delta_t *delta = NULL;
    char err[512];
    long v;
    int opt, rc, status = 1;

    mt_log_init("mt-aggregator");
    if (mt_config_init(&a.cfg, "MT_AGGREGATOR_GROUP", "mt-aggregators", err,
                       sizeof err))
        usage(err);
    a.batch_max = DEFAULT_BATCH;
    while ((opt = getopt_long(argc, argv, MT_CONFIG_SHORTOPTS "g:", longopts,
                              NULL)) != -1) {
        switch (opt) {
        case 'n':
            if (mt_parse_long(optarg, 1, 100000, &v) != 0) usage("--batch must be 1 to 100000");
            a.batch_max = (int)v;
            break;
        case MT_OPT_HELP: usage(NULL);
        case MT_OPT_VERSION:
            mt_config_print_version(stdout, "mt-aggregator");
            return 0;
        case '?': usage("");
        default:
            rc = mt_config_option(&a.cfg, opt, optarg, err, sizeof err);
            if (rc == 2) return 0;
            if (rc != 1) usage(rc < 0 ? err : "unknown option");
        }
    }
    if (optind < argc) usage("unexpected argument");
    if (mt_config_load_plugins(&a.cfg, err, sizeof err) != 0) goto out;

    mt_signal_install();
    register_metrics(&a);
    /* before the Kafka clients exist, so they report their statistics */
    if (a.cfg.metrics_addr) {
        int port = mt_metrics_serve(a.cfg.metrics_addr, err, sizeof err);
        if (port < 0) goto out;
        mt_info("metrics on port %d at /metrics", port);
    }

    a.msgs = calloc((size_t)a.batch_max, sizeof *a.msgs);
    a.tasks = calloc((size_t)a.batch_max, sizeof *a.tasks);
    delta = mt_delta_new();
    a.scratch = mt_delta_new();
    if (!a.msgs || !a.tasks || !delta || !a.scratch) {
        snprintf(err, sizeof err, "out of memory");
        goto out;
    }
    if (!(a.redis = mt_redis_new(a.cfg.redis, 5000, err, sizeof err))) goto out;
    if (!(a.producer = mt_kafka_producer_new(&a.cfg, 0, NULL, NULL, err, sizeof err)))
        goto out;
    const char *topics[] = {a.cfg.results_topic, a.cfg.dlq_topic};
    if (mt_kafka_ensure_topics(a.producer, &a.cfg, topics, 2, 30000, err, sizeof err))
        goto out;
    if (!(a.consumer = mt_kafka_consumer_new(&a.cfg, topics, 1, NULL, err, sizeof err)))
        goto out;
    mt_info("aggregating %s into Redis %s (group %s)", a.cfg.results_topic,
            mt_redis_describe(a.redis), a.cfg.group);

    while (!mt_stop_requested) {
        poll_batch(&a);
        long long t0 = mt_clock_ms();
        if (a.nmsgs > 0 && apply_batch(&a, delta) == 0) {
            store_offsets(&a);
            count_batch(&a, (double)(mt_clock_ms() - t0) / 1000);
        }
        for (int k = 0; k < a.nmsgs; k++) rd_kafka_message_destroy(a.msgs[k]);
        a.nmsgs = 0;
        rd_kafka_poll(a.producer, 0);
    }
    mt_info("stopping: %llu task(s) merged, %llu duplicate(s) ignored, %llu job(s) "
            "completed, %llu message(s) of unknown submissions dropped",
            a.merged, a.duplicates, a.completed, a.stale);
    status = 0;
out:
    if (status != 0 && mt_stop_requested && !a.consumer) {
        /* SIGTERM before it could start: nothing was taken, nothing lost */
        mt_info("stopped before joining the group (%s)", err);
        status = 0;
    }
    if (status != 0) mt_err("%s", err);
    int unclean = a.consumer && mt_kafka_consumer_close(a.consumer, CLOSE_TIMEOUT_MS) != 0;
    if (unclean)
        mt_warn("could not leave the group cleanly (broker unreachable?); "
                "exiting anyway, the group drops this member after its session timeout");
    if (a.producer) {
        if (mt_kafka_flush(a.producer, unclean ? 1000 : 5000) > 0) {
            mt_warn("dead letters not delivered");
            rd_kafka_purge(a.producer, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        }
        rd_kafka_destroy(a.producer);
    }
    for (size_t k = 0; k < a.jobs_cap; k++) free(a.jobs[k].msgs);
    free(a.jobs);
    free(a.msgs);
    free(a.tasks);
    mt_delta_destroy(delta);
    mt_delta_destroy(a.scratch);
    mt_redis_destroy(a.redis);
    mt_metrics_reset();
    mt_config_free(&a.cfg);
    return status;
}

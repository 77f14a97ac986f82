/* worker.c - mt-consumer's engine (see worker.h).
 *
 * Threads: the main thread polls the consumer, produces outputs and serves
 * delivery reports; `threads` map threads run ops. They share only the work
 * queue and the finished list, both under one mutex. An item (one polled
 * message) is freed by the main thread alone, once nothing holds it: not
 * the pool (queued or running), not the producer (outputs in flight), and
 * no longer the head of its partition's list (or abandoned on revoke). */
#define _GNU_SOURCE
#include "worker.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "heartbeat.h"
#include "mt_kafka.h"
#include "mt_clock.h"
#include "mt_exec.h"
#include "mt_log.h"
#include "mt_metrics.h"
#include "mt_op.h"
#include "mt_plugins.h"
#include "mt_task.h"

#define CLOSE_TIMEOUT_MS 10000
#define NORMAL_SHARE 4 /* see worker.queue_head */

typedef struct part part_t;

typedef struct item {
    rd_kafka_message_t *msg;
    part_t *part;            /* NULL once abandoned */
    struct item *next_in_part;
    struct item *next;       /* in the work queue or the finished list */
    mt_task_t task;
    int runnable;            /* decoded as a task: map it */
    int high;                /* from the priority topic */
    int map_attempts;        /* times it was mapped */
    int final;               /* its failure is not worth a retry */
    long long remap_at;      /* failed: map again at this time (ms), or 0 */
    int report_failed;       /* not runnable, but names its job: tell it */
    int cancelled;           /* its job was cancelled: skipped, no output */
    int dlq_given_up;        /* its dead letter was refused for good */
    int attempts;            /* times its outputs were produced */
    char error[512];         /* why it cannot run, if it cannot */
    mt_buf_t result;
    int in_pool;             /* queued or running on a map thread */
    int outputs;             /* produced messages not yet acknowledged */
    int delivery_failed;     /* an output failed: produce again ... */
    long long retry_at;      /* ... not before this time (ms) */
    int done;                /* every output acknowledged */
} item_t;

struct part {
    char topic[256];
    int32_t partition;
    item_t *head, *tail;     /* polled and unfinished, in offset order */
    int revoking;            /* being taken away by a rebalance */
    part_t *next;
};

struct worker {
    const mt_config_t *cfg;
    worker_opts_t opts;
    rd_kafka_t *consumer, *producer;
    mt_kafka_rebalance_t rebalance;
    pthread_t *tids;
    int nthreads;
    part_t *parts;
    /* shared with the map threads, under lock */
    pthread_mutex_t lock;
    pthread_cond_t work_ready;
    /* Two queues: high-priority tasks are taken first, but every
     * NORMAL_SHARE-th pick goes to the normal queue when both hold work,
     * so a steady stream of urgent jobs cannot starve the others. */
    item_t *queue_head[2], *queue_tail[2];
    int picks;
    item_t *finished;
    int quit;
    int unstarted;           /* items queued but not running */
    int unstarted_by[2];     /* ... of each queue */
    int running;             /* items being mapped right now */
    /* main thread only */
    size_t held_bytes;       /* payload bytes of all live items */
    size_t held_by[2];       /* ... of each priority */
    int paused[2];           /* 1 paused, 0 fetching, -1 not known */
    int stopping;            /* shutdown has already waited for tasks */
    unsigned long long tasks_done, tasks_failed, dead_letters;
    /* the heartbeat thread reads these, under lock */
    char assignment[2048];   /* "topic[0,3] topic[1]" */
    heartbeat_t *heartbeat;
    double beat_done;        /* heartbeat thread only: tasks done ... */
    long long beat_ms;       /* ... at the last beat */
    struct {
        mt_metric_t *done, *failed, *dead_letters, *cancelled, *retries, *running,
            *queued, *seconds;
    } m;
};

/* ---- mapping (map threads) ---- */

/* Maps one task into it->result, or sets it->error (and it->final when no
 * retry can help). */
static void map_item(item_t *it) {
    const mt_op_t *op = mt_op_find(it->task.op);
    json_t *args = NULL;
    char *args_text = NULL;
    mt_delta_t *delta = NULL;
    it->error[0] = '\0';
    mt_buf_reset(&it->result);
    if (it->task.deadline_ms > 0 && mt_wall_ms() > it->task.deadline_ms) {
        snprintf(it->error, sizeof it->error,
                 "expired: its job's deadline passed %lld ms before it could run",
                 mt_wall_ms() - it->task.deadline_ms);
        it->final = 1;
        return;
    }
    if (!op) {
        snprintf(it->error, sizeof it->error, "unknown op \"%s\"", it->task.op);
        it->final = 1;
        return;
    }
    if (it->task.args) {
        json_error_t jerr;
        args = json_loadb(it->task.args, it->task.args_len, 0, &jerr);
        if (!args || !json_is_object(args)) {
            snprintf(it->error, sizeof it->error, "bad op arguments: %s",
                     args ? "not a JSON object" : jerr.text);
            it->final = 1;
            goto out;
        }
    }
    mt_map_ctx_t ctx = {args, it->task.seq, it->task.first_line, it->task.offset};
    if (op->plugin) {
        if (it->task.args && !(args_text = strndup(it->task.args, it->task.args_len)))
            snprintf(it->error, sizeof it->error, "out of memory");
        else
            mt_plugin_map(op, &ctx, args_text, it->msg->payload, it->msg->len,
                          &it->result, it->error, sizeof it->error);
        goto out;
    }
    if (!(delta = mt_delta_new())) {
        snprintf(it->error, sizeof it->error, "out of memory");
        goto out;
    }
    if (op->map(&ctx, it->msg->payload, it->msg->len, delta, it->error,
                sizeof it->error) == 0 &&
        mt_delta_encode(delta, &it->result) != 0)
        snprintf(it->error, sizeof it->error, "out of memory");
out:
    json_decref(args);
    free(args_text);
    mt_delta_destroy(delta);
}

/* Takes the next item to map (the lock is held). */
static item_t *next_queued(worker_t *w) {
    int q = w->queue_head[1] ? 1 : 0;
    if (q && w->queue_head[0] && ++w->picks % NORMAL_SHARE == 0) q = 0;
    item_t *it = w->queue_head[q];
    if (!it) return NULL;
    w->queue_head[q] = it->next;
    if (!w->queue_head[q]) w->queue_tail[q] = NULL;
    w->unstarted--;
    w->unstarted_by[q]--;
    return it;
}

/* Appends an item to its queue (the lock is held). */
static void enqueue(worker_t *w, item_t *it) {
    int q = it->high;
    it->in_pool = 1;
    it->next = NULL;
    if (w->queue_tail[q]) w->queue_tail[q]->next = it;
    else w->queue_head[q] = it;
    w->queue_tail[q] = it;
    w->unstarted++;
    w->unstarted_by[q]++;
    pthread_cond_signal(&w->work_ready);
}

static void *map_thread(void *arg) {
    worker_t *w = arg;
    pthread_mutex_lock(&w->lock);
    for (;;) {
        item_t *it;
        while (!(it = w->quit ? NULL : next_queued(w)) && !w->quit)
            pthread_cond_wait(&w->work_ready, &w->lock);
        if (w->quit) break;
        w->running++;
        int skip = it->part == NULL; /* abandoned while queued */
        pthread_mutex_unlock(&w->lock);
        if (!skip && heartbeat_cancelled(w->heartbeat, it->task.job)) it->cancelled = 1;
        if (!skip && !it->cancelled) {
            long long t0 = mt_clock_ms();
            map_item(it);
            mt_metric_observe(w->m.seconds, (double)(mt_clock_ms() - t0) / 1000);
        }
        pthread_mutex_lock(&w->lock);
        w->running--;
        it->next = w->finished;
        w->finished = it;
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

/* ---- items and partitions (main thread) ---- */

static part_t *find_part(worker_t *w, const char *topic, int32_t partition) {
    for (part_t *p = w->parts; p; p = p->next)
        if (p->partition == partition && strcmp(p->topic, topic) == 0) return p;
    return NULL;
}

static void free_item(worker_t *w, item_t *it) {
    w->held_bytes -= it->msg->len;
    w->held_by[it->high] -= it->msg->len;
    rd_kafka_message_destroy(it->msg);
    mt_buf_free(&it->result);
    free(it);
}

/* Frees an abandoned item once nothing holds it any more. */
static void release_if_orphan(worker_t *w, item_t *it) {
    if (!it->part && !it->in_pool && it->outputs == 0) free_item(w, it);
}

/* Errors that no retry can fix: the message itself is refused. */
static int is_permanent(rd_kafka_resp_err_t err) {
    return err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE ||
           err == RD_KAFKA_RESP_ERR_INVALID_MSG ||
           err == RD_KAFKA_RESP_ERR_INVALID_RECORD ||
           err == RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE ||
           err == RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE ||
           err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED;
}

/* A result Kafka refuses for good turns its task into a failed one: the
 * failure report and the dead letter are small. */
static void refuse_result(item_t *it, rd_kafka_resp_err_t err) {
    if (err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE)
        snprintf(it->error, sizeof it->error,
                 "its result (%zu bytes) is larger than Kafka's message size "
                 "limit (message.max.bytes)", it->result.len);
    else
        snprintf(it->error, sizeof it->error,
                 "its result (%zu bytes) was refused by Kafka: %s",
                 it->result.len, rd_kafka_err2str(err));
    it->retry_at = 0;
}

/* A dead letter Kafka refuses for good is given up, loudly, so that it
 * cannot block its partition for ever. */
static void give_up_dead_letter(item_t *it, rd_kafka_resp_err_t err) {
    mt_err("dead letter for %s/%d/%lld refused by Kafka (%s); giving it up",
           rd_kafka_topic_name(it->msg->rkt), (int)it->msg->partition,
           (long long)it->msg->offset, rd_kafka_err2str(err));
    it->dlq_given_up = 1;
    it->retry_at = 0;
}

/* Sorts a permanent delivery failure by the topic it was meant for. */
static void note_permanent(worker_t *w, item_t *it, const rd_kafka_message_t *m) {
    const char *topic = m->rkt ? rd_kafka_topic_name(m->rkt) : "?";
    if (strcmp(topic, w->cfg->results_topic) == 0 && it->runnable && !it->error[0])
        refuse_result(it, m->err);
    else if (strcmp(topic, w->cfg->dlq_topic) == 0)
        give_up_dead_letter(it, m->err);
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m,
                        void *opaque) {
    (void)rk;
    worker_t *w = opaque;
    item_t *it = m->_private;
    if (m->err) {
        mt_warn("output for job %s task %lld not delivered: %s", it->task.job,
                (long long)it->task.seq, rd_kafka_err2str(m->err));
        it->delivery_failed = 1;
        it->retry_at = mt_clock_ms() + 1000;
        if (is_permanent(m->err)) note_permanent(w, it, m);
    }
    if (--it->outputs == 0) {
        if (!it->part) release_if_orphan(w, it);
        else if (!it->delivery_failed) it->done = 1;
    }
}

/* Produces one output of an item. Returns 0, or the error (the headers are
 * freed then). */
static int produce(worker_t *w, item_t *it, const char *topic,
                   rd_kafka_headers_t *hdrs, const void *key, size_t keylen,
                   const void *val, size_t len) {
    if (!hdrs) return -1;
    for (;;) {
        rd_kafka_resp_err_t err = rd_kafka_producev(
            w->producer, RD_KAFKA_V_TOPIC(topic),
            RD_KAFKA_V_KEY((void *)key, keylen),
            RD_KAFKA_V_VALUE((void *)val, len),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_OPAQUE(it), RD_KAFKA_V_END);
        if (!err) {
            it->outputs++;
            return 0;
        }
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            rd_kafka_headers_destroy(hdrs);
            mt_warn("cannot produce to %s: %s", topic, rd_kafka_err2str(err));
            return err;
        }
        rd_kafka_poll(w->producer, 100);
    }
}

/* The original message plus why it failed and where it came from. */
static int produce_dead_letter(worker_t *w, item_t *it, int first) {
    if (first) {
        mt_warn("dead-lettering %s/%d/%lld: %s", rd_kafka_topic_name(it->msg->rkt),
                (int)it->msg->partition, (long long)it->msg->offset, it->error);
        w->dead_letters++;
        mt_metric_add(w->m.dead_letters, 1);
    }
    return produce(w, it, w->cfg->dlq_topic,
                   mt_task_dead_letter_headers(it->msg, it->error), it->msg->key,
                   it->msg->key_len, it->msg->payload, it->msg->len);
}

/* Produces what a mapped item yields: its result; or, when it cannot run, a
 * "failed" report for its job (so the job still ends) and a dead letter. */
static void produce_outputs(worker_t *w, item_t *it) {
    mt_task_t out = it->task;
    int rc = 0, first = it->attempts++ == 0;
    rd_kafka_timestamp_type_t ts_type;
    int64_t ts = rd_kafka_message_timestamp(it->msg, &ts_type);
    out.submitted_ms = ts_type == RD_KAFKA_TIMESTAMP_CREATE_TIME && ts > 0 ? ts : 0;
    if (it->cancelled) { /* nobody waits for it: no result, no dead letter */
        mt_metric_add(w->m.cancelled, 1);
        it->done = 1;
        return;
    }
    /* a plugin's merge needs the job's arguments; built-in merges do not */
    const mt_op_t *op = mt_op_find(out.op);
    if (!op || !op->plugin) out.args = NULL;
    it->delivery_failed = 0;
    if (it->runnable && !it->error[0]) {
        out.type = MT_MSG_RESULT;
        rc = produce(w, it, w->cfg->results_topic, mt_task_headers(&out), out.job,
                     strlen(out.job), it->result.data, it->result.len);
        if (is_permanent(rc)) {
            refuse_result(it, rc);
            produce_outputs(w, it); /* as a failed task instead */
            return;
        }
        w->tasks_done += first;
        mt_metric_add(w->m.done, first);
    } else {
        if (it->runnable || it->report_failed) {
            out.type = MT_MSG_FAILED;
            out.error = it->error;
            out.error_len = strlen(it->error);
            if (!out.op[0]) snprintf(out.op, sizeof out.op, "?");
            rc = produce(w, it, w->cfg->results_topic, mt_task_headers(&out),
                         out.job, strlen(out.job), NULL, 0);
            w->tasks_failed += first;
            mt_metric_add(w->m.failed, first);
        }
        if (!it->dlq_given_up) {
            int drc = produce_dead_letter(w, it, first);
            if (is_permanent(drc)) give_up_dead_letter(it, drc);
            else rc |= drc;
        }
    }
    if (rc != 0) { /* retried by advance() */
        it->delivery_failed = 1;
        it->retry_at = mt_clock_ms() + 1000;
    } else if (it->outputs == 0) {
        it->done = 1;
    }
}

/* A task whose map failed runs again after a growing pause, up to
 * opts.retries times, unless its failure is final. Returns 1 when it was
 * scheduled again. */
static int retry_later(worker_t *w, item_t *it) {
    it->map_attempts++;
    if (!it->runnable || !it->error[0]) return 0;
    if (it->final || it->map_attempts > w->opts.retries) {
        if (!it->final && it->map_attempts > 1) {
            size_t n = strlen(it->error);
            snprintf(it->error + n, sizeof it->error - n, " (after %d attempts)",
                     it->map_attempts);
        }
        return 0;
    }
    long long pause = (long long)w->opts.retry_backoff_ms << (it->map_attempts - 1);
    mt_warn("job %s task %lld failed (%s); retrying in %lld ms", it->task.job,
            (long long)it->task.seq, it->error, pause);
    it->remap_at = mt_clock_ms() + pause;
    mt_metric_add(w->m.retries, 1);
    return 1;
}

/* Takes the items the map threads finished and produces their outputs. */
static void collect_finished(worker_t *w) {
    pthread_mutex_lock(&w->lock);
    item_t *list = w->finished;
    w->finished = NULL;
    for (item_t *it = list; it; it = it->next) it->in_pool = 0;
    pthread_mutex_unlock(&w->lock);
    while (list) {
        item_t *it = list;
        list = it->next;
        if (!it->part) release_if_orphan(w, it);
        else if (!retry_later(w, it)) produce_outputs(w, it);
    }
}

/* Stores offsets past every finished task at the head of each partition,
 * and produces again the outputs whose delivery failed. */
static void advance(worker_t *w) {
    rd_kafka_topic_partition_list_t *store = rd_kafka_topic_partition_list_new(4);
    for (part_t *p = w->parts; p; p = p->next) {
        int64_t next = -1;
        while (p->head && p->head->done) {
            item_t *it = p->head;
            next = it->msg->offset + 1;
            p->head = it->next_in_part;
            if (!p->head) p->tail = NULL;
            free_item(w, it);
        }
        if (next >= 0)
            rd_kafka_topic_partition_list_add(store, p->topic, p->partition)->offset = next;
        long long now = mt_clock_ms();
        for (item_t *it = p->head; it; it = it->next_in_part) {
            if (it->delivery_failed && it->outputs == 0 && !it->in_pool &&
                now >= it->retry_at)
                produce_outputs(w, it);
            if (it->remap_at && now >= it->remap_at && !p->revoking) {
                it->remap_at = 0;
                pthread_mutex_lock(&w->lock);
                enqueue(w, it);
                pthread_mutex_unlock(&w->lock);
            }
        }
    }
    if (store->cnt) {
        rd_kafka_resp_err_t e = rd_kafka_offsets_store(w->consumer, store);
        if (e) mt_debug("offsets not stored: %s", rd_kafka_err2str(e));
    }
    rd_kafka_topic_partition_list_destroy(store);
}

/* Lets go of a partition's unfinished items: queued ones are skipped by the
 * map threads, the others are freed when they come back. The next owner
 * runs them again; the aggregator counts each task once. */
static void abandon_part(worker_t *w, part_t *p) {
    pthread_mutex_lock(&w->lock);
    for (item_t *it = p->head, *next; it; it = next) {
        next = it->next_in_part;
        it->part = NULL;
        if (it->in_pool) continue; /* its thread hands it back */
        pthread_mutex_unlock(&w->lock);
        release_if_orphan(w, it);
        pthread_mutex_lock(&w->lock);
    }
    pthread_mutex_unlock(&w->lock);
    p->head = p->tail = NULL;
}

/* Skips queued (not yet running) tasks of the partitions being revoked, or
 * of all when all is set, so that only running ones remain to wait for. */
static void drop_queued(worker_t *w, int all) {
    pthread_mutex_lock(&w->lock);
    for (int q = 0; q < 2; q++) {
        item_t **link = &w->queue_head[q], *last = NULL;
        while (*link) {
            item_t *it = *link;
            if (all || (it->part && it->part->revoking)) {
                *link = it->next;
                it->in_pool = 0;
                it->next = NULL;
                w->unstarted--;
                w->unstarted_by[q]--;
                it->runnable = 2; /* dropped: never run here; its offset is
                                   * not stored, so the next owner runs it */
                continue;
            }
            last = it;
            link = &it->next;
        }
        w->queue_tail[q] = last;
    }
    pthread_mutex_unlock(&w->lock);
    /* tasks waiting to be retried are handed back too */
    for (part_t *p = w->parts; p; p = p->next)
        for (item_t *it = p->head; it && (all || p->revoking); it = it->next_in_part)
            if (it->remap_at) {
                it->remap_at = 0;
                it->runnable = 2;
            }
}

/* Waits until no task of the revoked partitions (or of all, when all is
 * set) is running or awaiting delivery, or the time is up; serves
 * deliveries and stores offsets meanwhile. */
static void settle(worker_t *w, int all, int timeout_ms) {
    long long deadline = mt_clock_ms() + timeout_ms;
    for (;;) {
        collect_finished(w);
        rd_kafka_poll(w->producer, 10);
        advance(w);
        int busy = 0;
        for (part_t *q = w->parts; q; q = q->next)
            for (item_t *it = q->head; it && (all || q->revoking); it = it->next_in_part)
                busy += it->runnable != 2 && !it->done;
        if (!busy) return;
        if (mt_clock_ms() >= deadline) {
            mt_warn("%d task(s) unfinished after %d ms; handing them back",
                    busy, timeout_ms);
            return;
        }
    }
}

static void remove_part(worker_t *w, part_t *p) {
    for (part_t **link = &w->parts; *link; link = &(*link)->next)
        if (*link == p) {
            *link = p->next;
            break;
        }
    abandon_part(w, p);
    free(p);
}

static int compare_partitions(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* Writes the partitions held now for the heartbeat, topic by topic, runs
 * of partitions as ranges: "mt.tasks[0-3,6] mt.tasks.high[1]". */
static void describe_assignment(worker_t *w) {
    char text[sizeof w->assignment] = "";
    size_t n = 0, count = 0;
    for (part_t *p = w->parts; p; p = p->next) count++;
    int32_t *ids = count ? malloc(count * sizeof *ids) : NULL;
    const char *topics[] = {w->cfg->tasks_topic, w->cfg->priority_topic};
    for (int t = 0; t < 2 && (ids || !count); t++) {
        size_t k = 0;
        for (part_t *p = w->parts; p; p = p->next)
            if (!p->revoking && strcmp(p->topic, topics[t]) == 0) ids[k++] = p->partition;
        if (k == 0) continue;
        qsort(ids, k, sizeof *ids, compare_partitions);
        n += (size_t)snprintf(text + n, n < sizeof text ? sizeof text - n : 0, "%s%s[",
                              n ? " " : "", topics[t]);
        for (size_t i = 0; i < k && n < sizeof text; i++) {
            size_t j = i;
            while (j + 1 < k && ids[j + 1] == ids[j] + 1) j++;
            if (j > i)
                n += (size_t)snprintf(text + n, sizeof text - n, "%s%d-%d", i ? "," : "",
                                      (int)ids[i], (int)ids[j]);
            else
                n += (size_t)snprintf(text + n, sizeof text - n, "%s%d", i ? "," : "",
                                      (int)ids[i]);
            i = j;
        }
        if (n < sizeof text) n += (size_t)snprintf(text + n, sizeof text - n, "]");
    }
    free(ids);
    pthread_mutex_lock(&w->lock);
    memcpy(w->assignment, text, sizeof text);
    pthread_mutex_unlock(&w->lock);
}

static void on_rebalance(rd_kafka_t *rk, int assigned,
                         const rd_kafka_topic_partition_list_t *parts,
                         void *opaque) {
    (void)rk;
    worker_t *w = opaque;
    int revoking = 0;
    for (int k = 0; k < parts->cnt; k++) {
        const rd_kafka_topic_partition_t *tp = &parts->elems[k];
        part_t *p = find_part(w, tp->topic, tp->partition);
        if (assigned && !p && (p = calloc(1, sizeof *p))) {
            snprintf(p->topic, sizeof p->topic, "%s", tp->topic);
            p->partition = tp->partition;
            p->next = w->parts;
            w->parts = p;
        } else if (!assigned && p) {
            p->revoking = revoking = 1;
        }
    }
    if (assigned) {
        /* librdkafka keeps a partition's pause across revoke and re-assign:
         * let flow_control() set every partition's state afresh. */
        w->paused[0] = w->paused[1] = -1;
        describe_assignment(w);
        return;
    }
    if (!revoking) return;
    /* One wait for all revoked partitions; none at shutdown, which has
     * waited already. Offsets stored here are committed right after. */
    drop_queued(w, 0);
    settle(w, 0, w->stopping ? 0 : w->opts.revoke_wait_ms);
    for (part_t *p = w->parts, *next; p; p = next) {
        next = p->next;
        if (p->revoking) remove_part(w, p);
    }
    describe_assignment(w);
}

/* Pauses fetching while enough work is queued; resumes when it drains.
 * Each priority has its own limits, so a full normal queue never keeps
 * urgent tasks from being fetched. */
static void flow_control(worker_t *w) {
    for (int q = 0; q < 2; q++) {
        pthread_mutex_lock(&w->lock);
        int unstarted = w->unstarted_by[q];
        pthread_mutex_unlock(&w->lock);
        size_t held = w->held_by[q];
        int full = unstarted >= w->opts.prefetch || held >= w->opts.max_bytes;
        int low = unstarted <= w->opts.prefetch / 2 && held <= w->opts.max_bytes / 2;
        if (w->paused[q] == full || (w->paused[q] == 1 && !low)) continue;
        rd_kafka_topic_partition_list_t *a = NULL, *mine;
        if (rd_kafka_assignment(w->consumer, &a) != 0 || !a) return;
        const char *topic = q ? w->cfg->priority_topic : w->cfg->tasks_topic;
        mine = rd_kafka_topic_partition_list_new(a->cnt ? a->cnt : 1);
        for (int k = 0; k < a->cnt; k++)
            if (strcmp(a->elems[k].topic, topic) == 0)
                rd_kafka_topic_partition_list_add(mine, topic, a->elems[k].partition);
        if (full) rd_kafka_pause_partitions(w->consumer, mine);
        else rd_kafka_resume_partitions(w->consumer, mine);
        mt_debug("%s fetching %s (%d queued, %zu bytes held)",
                 full ? "paused" : "resumed", topic, unstarted, held);
        w->paused[q] = full;
        rd_kafka_topic_partition_list_destroy(mine);
        rd_kafka_topic_partition_list_destroy(a);
    }
}

/* Turns a polled message into an item on its partition and the queue. */
static void accept_message(worker_t *w, rd_kafka_message_t *m) {
    if (m->err) {
        if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
            mt_warn("consumer: %s", rd_kafka_message_errstr(m));
        rd_kafka_message_destroy(m);
        return;
    }
    part_t *p = find_part(w, rd_kafka_topic_name(m->rkt), m->partition);
    item_t *it = calloc(1, sizeof *it);
    if (!p || !it) { /* not ours (any more), or no memory: it will come again */
        free(it);
        rd_kafka_message_destroy(m);
        return;
    }
    it->msg = m;
    it->part = p;
    it->high = strcmp(p->topic, w->cfg->priority_topic) == 0;
    w->held_bytes += m->len;
    w->held_by[it->high] += m->len;
    if (p->tail) p->tail->next_in_part = it;
    else p->head = it;
    p->tail = it;

    rd_kafka_headers_t *hdrs = NULL;
    char err[256];
    rd_kafka_message_headers(m, &hdrs);
    if (mt_task_decode(hdrs, &it->task, err, sizeof err) != 0) {
        snprintf(it->error, sizeof it->error, "malformed task: %s", err);
        /* still tell its job, if it says which, so the job can finish */
        it->report_failed = it->task.type == MT_MSG_TASK && mt_task_identified(&it->task);
    } else if (it->task.type != MT_MSG_TASK) {
        snprintf(it->error, sizeof it->error, "not a task but a %s message",
                 mt_msg_type_name(it->task.type));
    } else {
        it->runnable = 1;
    }
    if (!it->runnable) {
        produce_outputs(w, it);
        return;
    }
    pthread_mutex_lock(&w->lock);
    enqueue(w, it);
    pthread_mutex_unlock(&w->lock);
}

/* ---- heartbeat and metrics ---- */

/* On the heartbeat thread: what `mtctl workers` shows of this worker. */
static void fill_heartbeat(void *opaque, json_t *f) {
    worker_t *w = opaque;
    pthread_mutex_lock(&w->lock);
    int running = w->running, queued = w->unstarted;
    json_object_set_new(f, "partitions", json_string(w->assignment));
    pthread_mutex_unlock(&w->lock);
    mt_metric_set(w->m.running, running);
    mt_metric_set(w->m.queued, queued);
    double done = mt_metric_value(w->m.done);
    long long now = mt_clock_ms();
    double rate = w->beat_ms && now > w->beat_ms
                      ? (done - w->beat_done) * 1000 / (double)(now - w->beat_ms)
                      : 0;
    w->beat_done = done;
    w->beat_ms = now;
    char rate_text[32];
    snprintf(rate_text, sizeof rate_text, "%.1f", rate);
    json_object_set_new(f, "group", json_string(w->cfg->group));
    json_object_set_new(f, "threads", json_integer(w->opts.threads));
    json_object_set_new(f, "running", json_integer(running));
    json_object_set_new(f, "queued", json_integer(queued));
    json_object_set_new(f, "tasks_done", json_integer((json_int_t)done));
    json_object_set_new(f, "tasks_failed", json_integer((json_int_t)mt_metric_value(w->m.failed)));
    json_object_set_new(f, "rate", json_string(rate_text));
}

static void register_metrics(worker_t *w) {
    w->m.done = mt_metric_counter("mt_tasks_done_total",
                                  "tasks run whose result was handed to Kafka");
    w->m.failed = mt_metric_counter("mt_tasks_failed_total",
                                    "tasks that failed for good and were reported to their job");
    w->m.dead_letters = mt_metric_counter("mt_dead_letters_total",
                                          "messages written to the dead-letter topic");
    w->m.cancelled = mt_metric_counter("mt_tasks_cancelled_total",
                                       "tasks skipped because their job was cancelled");
    w->m.retries = mt_metric_counter("mt_task_retries_total",
                                     "failed task runs scheduled to run again");
    w->m.running = mt_metric_gauge("mt_tasks_running", "tasks being run right now");
    w->m.queued = mt_metric_gauge("mt_tasks_queued", "tasks fetched and waiting for a thread");
    w->m.seconds = mt_metric_histogram("mt_task_seconds", "time to run one task's op");
}

worker_t *worker_new(const mt_config_t *cfg, const worker_opts_t *opts,
                     char *err, size_t errsize) {
    worker_t *w = calloc(1, sizeof *w);
    if (!w) {
        snprintf(err, errsize, "out of memory");
        return NULL;
    }
    w->cfg = cfg;
    w->opts = *opts;
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->work_ready, NULL);
    w->rebalance.fn = on_rebalance;
    w->rebalance.opaque = w;
    register_metrics(w);
    char id[256], host[128] = "";
    gethostname(host, sizeof host - 1);
    snprintf(id, sizeof id, "%s-%d", host[0] ? host : "worker", (int)getpid());
    if (!(w->heartbeat = heartbeat_start(cfg, id, opts->heartbeat_ms, fill_heartbeat, w,
                                         err, errsize)))
        goto fail;
    if (!(w->producer = mt_kafka_producer_new(cfg, 0, on_delivery, w, err, errsize)))
        goto fail;
    /* the priority topic first: subscribed ahead of the normal one */
    const char *topics[] = {cfg->priority_topic, cfg->tasks_topic, cfg->results_topic,
                            cfg->dlq_topic};
    if (mt_kafka_ensure_topics(w->producer, cfg, topics, 4, 30000, err, errsize))
        goto fail;
    if (!(w->tids = calloc((size_t)opts->threads, sizeof *w->tids))) goto fail;
    for (; w->nthreads < opts->threads; w->nthreads++)
        if (pthread_create(&w->tids[w->nthreads], NULL, map_thread, w) != 0) {
            snprintf(err, errsize, "cannot start map threads");
            goto fail;
        }
    if (!(w->consumer = mt_kafka_consumer_new(cfg, topics, 2, &w->rebalance, err,
                                              errsize)))
        goto fail;
    return w;
fail:
    worker_destroy(w);
    return NULL;
}

int worker_run(worker_t *w, volatile sig_atomic_t *stop) {
    int status = 0;
    mt_info("worker in group %s on %s and %s, %d thread(s)", w->cfg->group,
            w->cfg->priority_topic, w->cfg->tasks_topic, w->opts.threads);
    while (!*stop) {
        /* Block in poll only when no task is in flight; otherwise come
         * back quickly to produce what the map threads finish. */
        int busy = w->held_bytes > 0 || rd_kafka_outq_len(w->producer) > 0;
        rd_kafka_message_t *m = rd_kafka_consumer_poll(w->consumer, busy ? 2 : 100);
        if (m) accept_message(w, m);
        for (int k = 0; k < 1000 && (m = rd_kafka_consumer_poll(w->consumer, 0)); k++)
            accept_message(w, m);
        collect_finished(w);
        rd_kafka_poll(w->producer, 0);
        advance(w);
        flow_control(w);
        char fatal[256];
        if (rd_kafka_fatal_error(w->producer, fatal, sizeof fatal)) {
            mt_err("producer failed for good (%s); handing back all tasks", fatal);
            status = -1;
            break;
        }
    }
    /* Shutdown: hand back what has not started, finish what runs. */
    drop_queued(w, 1);
    settle(w, 1, w->opts.stop_wait_ms);
    w->stopping = 1;
    mt_info("stopping: %llu task(s) done, %llu failed, %llu dead letter(s)",
            w->tasks_done, w->tasks_failed, w->dead_letters);
    return status;
}

void worker_destroy(worker_t *w) {
    if (!w) return;
    heartbeat_stop(w->heartbeat); /* first: the thread reads the worker */
    w->heartbeat = NULL;
    int unclean = w->consumer && mt_kafka_consumer_close(w->consumer, CLOSE_TIMEOUT_MS) != 0;
    if (unclean)
        mt_warn("could not leave the group cleanly (broker unreachable?); "
                "exiting anyway, the group drops this member after its session timeout");
    w->consumer = NULL;
    pthread_mutex_lock(&w->lock);
    w->quit = 1;
    pthread_cond_broadcast(&w->work_ready);
    int running = w->running;
    pthread_mutex_unlock(&w->lock);
    if (running > 0) {
        /* Tasks that outlived --stop-wait were handed back; their threads
         * cannot be interrupted, so the process ends without them. */
        mt_warn("%d task(s) still running; exiting without waiting for them", running);
        mt_exec_kill_all(); /* their programs, if any, go with us */
        if (w->producer) mt_kafka_flush(w->producer, 2000);
        return;
    }
    for (int k = 0; k < w->nthreads; k++) pthread_join(w->tids[k], NULL);
    free(w->tids);
    if (w->producer) {
        int left = mt_kafka_flush(w->producer, unclean ? 0 : 5000);
        if (left) {
            mt_warn("%d output(s) not delivered; their tasks will run again", left);
            rd_kafka_purge(w->producer, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
            rd_kafka_poll(w->producer, 0); /* purged deliveries release items */
        }
    }
    /* What is left was handed back: free it without producing. */
    while (w->parts) {
        part_t *p = w->parts;
        w->parts = p->next;
        abandon_part(w, p);
        free(p);
    }
    pthread_mutex_lock(&w->lock);
    item_t *list = w->finished;
    w->finished = NULL;
    pthread_mutex_unlock(&w->lock);
    while (list) {
        item_t *it = list;
        list = it->next;
        it->in_pool = 0;
        it->outputs = 0;
        release_if_orphan(w, it);
    }
    if (w->producer) rd_kafka_destroy(w->producer);
    pthread_mutex_destroy(&w->lock);
    pthread_cond_destroy(&w->work_ready);
    free(w);
}

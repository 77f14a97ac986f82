/* mt-consumer - a worker in the consumer group that runs micro-tasks.
 *
 * Polls a batch of tasks, maps them (on --threads threads), produces each
 * partial result to the results topic keyed by job, and stores a task's
 * offset only once Kafka has acknowledged its result, so a crash at any
 * point redelivers rather than loses work. Tasks that cannot run go to the
 * dead-letter topic with the reason, and count as failed for their job. */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mt_config.h"
#include "mt_kafka.h"
#include "mt_log.h"
#include "mt_op.h"
#include "mt_task.h"

#define DEFAULT_BATCH 256
#define CLOSE_TIMEOUT_MS 10000
#define STOP_DELIVERY_WAIT_MS 10000

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig) {
    (void)sig;
    stop_requested = 1;
}

/* What became of one polled message. */
typedef enum { SLOT_SKIP, SLOT_PENDING, SLOT_DONE, SLOT_FAILED } slot_state_t;

typedef struct slot {
    rd_kafka_message_t *msg;
    mt_task_t task;          /* valid when decode_ok */
    int decode_ok;
    char error[512];         /* why the task cannot run, if it cannot */
    mt_buf_t result;         /* encoded partial result */
    int outputs;             /* messages produced for it, not yet acked */
    slot_state_t state;
} slot_t;

typedef struct worker {
    mt_config_t cfg;
    int threads;
    int batch_max;
    rd_kafka_t *consumer, *producer;
    slot_t *slots;
    int nslots;
    atomic_int next;         /* next slot to map, shared by map threads */
    unsigned long long tasks_done, tasks_failed, dead_letters;
} worker_t;

static _Noreturn void usage(const char *reason) {
    FILE *out = reason ? stderr : stdout;
    if (reason) fprintf(stderr, "mt-consumer: %s\n\n", reason);
    fprintf(out,
        "Usage: mt-consumer [options]\n"
        "Joins the consumer group and runs micro-tasks from the tasks topic until\n"
        "SIGINT or SIGTERM, then hands back unfinished work and leaves the group.\n\n"
        "  -g, --group NAME        consumer group (MT_GROUP; mt-workers)\n"
        "  -t, --threads N         tasks mapped at once (MT_THREADS; 1)\n"
        "      --batch N           tasks taken per poll (%d)\n"
        "%s",
        DEFAULT_BATCH, MT_CONFIG_HELP);
    exit(reason ? 1 : 0);
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m,
                        void *opaque) {
    (void)rk;
    (void)opaque;
    slot_t *s = m->_private;
    if (!s) return;
    if (m->err) {
        mt_warn("result for job %s task %lld not delivered: %s", s->task.job,
                (long long)s->task.seq, rd_kafka_err2str(m->err));
        s->state = SLOT_FAILED;
    }
    if (--s->outputs == 0 && s->state == SLOT_PENDING) s->state = SLOT_DONE;
}

/* Maps one decoded task into s->result, or sets s->error. */
static void map_slot(slot_t *s) {
    const mt_op_t *op = mt_op_find(s->task.op);
    json_t *args = NULL;
    mt_delta_t *delta = NULL;
    if (!op) {
        snprintf(s->error, sizeof s->error, "unknown op \"%s\"", s->task.op);
        return;
    }
    if (s->task.args) {
        json_error_t jerr;
        args = json_loadb(s->task.args, s->task.args_len, 0, &jerr);
        if (!args || !json_is_object(args)) {
            snprintf(s->error, sizeof s->error, "bad op arguments: %s",
                     args ? "not a JSON object" : jerr.text);
            goto out;
        }
    }
    if (!(delta = mt_delta_new())) {
        snprintf(s->error, sizeof s->error, "out of memory");
        goto out;
    }
    if (op->map(args, s->msg->payload, s->msg->len, delta, s->error,
                sizeof s->error) != 0)
        goto out;
    if (mt_delta_encode(delta, &s->result) != 0)
        snprintf(s->error, sizeof s->error, "out of memory");
out:
    json_decref(args);
    mt_delta_destroy(delta);
}

static void *map_thread(void *arg) {
    worker_t *w = arg;
    int k;
    while ((k = atomic_fetch_add(&w->next, 1)) < w->nslots) {
        slot_t *s = &w->slots[k];
        if (s->state == SLOT_PENDING && s->decode_ok && !s->error[0])
            map_slot(s);
    }
    return NULL;
}

/* Maps every runnable slot, on up to w->threads threads. */
static void map_batch(worker_t *w) {
    pthread_t tids[64];
    int started = 0;
    atomic_store(&w->next, 0);
    for (int t = 1; t < w->threads && t < 64; t++)
        if (pthread_create(&tids[started], NULL, map_thread, w) == 0) started++;
    map_thread(w);
    for (int t = 0; t < started; t++) pthread_join(tids[t], NULL);
}

static int produce(worker_t *w, slot_t *s, const char *topic,
                   rd_kafka_headers_t *hdrs, const void *key, size_t keylen,
                   const void *val, size_t len) {
    if (!hdrs) return -1;
    for (;;) {
        rd_kafka_resp_err_t err = rd_kafka_producev(
            w->producer, RD_KAFKA_V_TOPIC(topic),
            RD_KAFKA_V_KEY((void *)key, keylen),
            RD_KAFKA_V_VALUE((void *)val, len),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_OPAQUE(s), RD_KAFKA_V_END);
        if (!err) {
            s->outputs++;
            return 0;
        }
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            rd_kafka_headers_destroy(hdrs);
            mt_warn("cannot produce to %s: %s", topic, rd_kafka_err2str(err));
            return -1;
        }
        rd_kafka_poll(w->producer, 100);
    }
}

/* The original message, with why it failed and where it came from. */
static int dead_letter(worker_t *w, slot_t *s) {
    rd_kafka_headers_t *orig = NULL, *h;
    rd_kafka_message_headers(s->msg, &orig);
    h = orig ? rd_kafka_headers_copy(orig) : rd_kafka_headers_new(4);
    char where[300];
    snprintf(where, sizeof where, "%s/%d/%lld", rd_kafka_topic_name(s->msg->rkt),
             (int)s->msg->partition, (long long)s->msg->offset);
    rd_kafka_header_add(h, "mt-error", -1, s->error, -1);
    rd_kafka_header_add(h, "mt-source", -1, where, -1);
    mt_warn("dead-lettering %s: %s", where, s->error);
    w->dead_letters++;
    return produce(w, s, w->cfg.dlq_topic, h, s->msg->key, s->msg->key_len,
                   s->msg->payload, s->msg->len);
}

/* Produces what each slot yields: a result, or a failure report plus the
 * dead letter. */
static void produce_batch(worker_t *w) {
    for (int k = 0; k < w->nslots; k++) {
        slot_t *s = &w->slots[k];
        if (s->state != SLOT_PENDING) continue;
        int rc = 0;
        mt_task_t out = s->task;
        out.args = NULL;
        if (s->decode_ok && !s->error[0]) {
            out.type = MT_MSG_RESULT;
            rc = produce(w, s, w->cfg.results_topic, mt_task_headers(&out),
                         out.job, strlen(out.job), s->result.data,
                         s->result.len);
            w->tasks_done++;
        } else {
            if (s->decode_ok) { /* the job must hear of it, or it never ends */
                out.type = MT_MSG_FAILED;
                out.error = s->error;
                out.error_len = strlen(s->error);
                rc = produce(w, s, w->cfg.results_topic, mt_task_headers(&out),
                             out.job, strlen(out.job), NULL, 0);
                w->tasks_failed++;
            }
            rc |= dead_letter(w, s);
        }
        if (rc != 0) s->state = SLOT_FAILED;
        else if (s->outputs == 0) s->state = SLOT_DONE;
    }
}

/* Takes up to batch_max messages; waits up to 100 ms for the first. */
static void poll_batch(worker_t *w) {
    w->nslots = 0;
    int wait = 100;
    while (w->nslots < w->batch_max && !stop_requested) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(w->consumer, wait);
        if (!m) break;
        wait = 0;
        slot_t *s = &w->slots[w->nslots++];
        mt_buf_t keep = s->result;
        memset(s, 0, sizeof *s);
        s->result = keep;
        mt_buf_reset(&s->result);
        s->msg = m;
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                mt_warn("consumer: %s", rd_kafka_message_errstr(m));
            s->state = SLOT_SKIP;
            continue;
        }
        s->state = SLOT_PENDING;
        rd_kafka_headers_t *hdrs = NULL;
        rd_kafka_message_headers(m, &hdrs);
        char err[256];
        if (mt_task_decode(hdrs, &s->task, err, sizeof err) != 0) {
            snprintf(s->error, sizeof s->error, "malformed task: %s", err);
        } else if (s->task.type != MT_MSG_TASK) {
            snprintf(s->error, sizeof s->error, "not a task but a %s message",
                     mt_msg_type_name(s->task.type));
        } else {
            s->decode_ok = 1;
        }
    }
}

/* Waits until every output of the batch is acknowledged or failed. On
 * shutdown the wait is bounded: what is not acknowledged is handed back. */
static void await_batch(worker_t *w) {
    int waited = 0;
    for (;;) {
        int pending = 0;
        for (int k = 0; k < w->nslots; k++)
            pending += w->slots[k].state == SLOT_PENDING;
        if (!pending) return;
        if (stop_requested && waited >= STOP_DELIVERY_WAIT_MS) {
            mt_warn("%d task(s) not acknowledged; handing them back", pending);
            for (int k = 0; k < w->nslots; k++)
                if (w->slots[k].state == SLOT_PENDING)
                    w->slots[k].state = SLOT_FAILED;
            return;
        }
        rd_kafka_poll(w->producer, 100);
        waited += 100;
    }
}

/* Stores, per partition, the offset after the last message of an unbroken
 * run of finished ones; rewinds to the first one that did not finish so it
 * is polled again. */
static void commit_batch(worker_t *w) {
    rd_kafka_topic_partition_list_t *store = rd_kafka_topic_partition_list_new(8);
    rd_kafka_topic_partition_list_t *rewind = rd_kafka_topic_partition_list_new(2);
    for (int k = 0; k < w->nslots; k++) {
        rd_kafka_message_t *m = w->slots[k].msg;
        if (w->slots[k].state == SLOT_SKIP && m->err) continue;
        const char *topic = rd_kafka_topic_name(m->rkt);
        if (rd_kafka_topic_partition_list_find(rewind, topic, m->partition))
            continue;
        if (w->slots[k].state == SLOT_FAILED) {
            rd_kafka_topic_partition_list_add(rewind, topic, m->partition)
                ->offset = m->offset;
            continue;
        }
        rd_kafka_topic_partition_t *p =
            rd_kafka_topic_partition_list_find(store, topic, m->partition);
        if (!p) p = rd_kafka_topic_partition_list_add(store, topic, m->partition);
        p->offset = m->offset + 1;
    }
    if (store->cnt) {
        rd_kafka_resp_err_t e = rd_kafka_offsets_store(w->consumer, store);
        if (e) mt_debug("offsets not stored: %s", rd_kafka_err2str(e));
    }
    if (rewind->cnt && !stop_requested) {
        rd_kafka_error_t *e = rd_kafka_seek_partitions(w->consumer, rewind, 5000);
        if (e) {
            mt_warn("cannot rewind: %s", rd_kafka_error_string(e));
            rd_kafka_error_destroy(e);
        }
    }
    rd_kafka_topic_partition_list_destroy(store);
    rd_kafka_topic_partition_list_destroy(rewind);
    for (int k = 0; k < w->nslots; k++) {
        rd_kafka_message_destroy(w->slots[k].msg);
        w->slots[k].msg = NULL;
    }
}

int main(int argc, char **argv) {
    static const struct option longopts[] = {
        MT_CONFIG_LONGOPTS,
        {"group", required_argument, NULL, 'g'},
        {"threads", required_argument, NULL, 't'},
        {"batch", required_argument, NULL, 'n'},
        {NULL, 0, NULL, 0},
    };
    worker_t w = {0};
    char err[512];
    long v;
    int opt, rc, status = 1;

    mt_log_init("mt-consumer");
    if (mt_config_init(&w.cfg, "MT_GROUP", "mt-workers", err, sizeof err))
        usage(err);
    w.threads = 1;
    w.batch_max = DEFAULT_BATCH;
    const char *env = getenv("MT_THREADS");
    if (env && *env) {
        if (mt_parse_long(env, 1, 64, &v) != 0) usage("MT_THREADS must be 1 to 64");
        w.threads = (int)v;
    }
    while ((opt = getopt_long(argc, argv, MT_CONFIG_SHORTOPTS "g:t:", longopts,
                              NULL)) != -1) {
        switch (opt) {
        case 't':
            if (mt_parse_long(optarg, 1, 64, &v) != 0) usage("--threads must be 1 to 64");
            w.threads = (int)v;
            break;
        case 'n':
            if (mt_parse_long(optarg, 1, 100000, &v) != 0) usage("--batch must be 1 to 100000");
            w.batch_max = (int)v;
            break;
        case MT_OPT_HELP: usage(NULL);
        case MT_OPT_VERSION:
            mt_config_print_version(stdout, "mt-consumer");
            return 0;
        case '?': usage("unknown option");
        default:
            rc = mt_config_option(&w.cfg, opt, optarg, err, sizeof err);
            if (rc == 2) return 0;
            if (rc != 1) usage(rc < 0 ? err : "unknown option");
        }
    }
    if (optind < argc) usage("unexpected argument");

    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    w.slots = calloc((size_t)w.batch_max, sizeof *w.slots);
    if (!w.slots) goto out;
    if (!(w.producer = mt_kafka_producer_new(&w.cfg, on_delivery, &w, err, sizeof err)))
        goto out;
    const char *topics[] = {w.cfg.tasks_topic, w.cfg.results_topic, w.cfg.dlq_topic};
    if (mt_kafka_ensure_topics(w.producer, &w.cfg, topics, 3, 30000, err, sizeof err))
        goto out;
    if (!(w.consumer = mt_kafka_consumer_new(&w.cfg, topics, 1, err, sizeof err)))
        goto out;
    mt_info("worker in group %s on %s, %d thread(s)", w.cfg.group,
            w.cfg.tasks_topic, w.threads);

    while (!stop_requested) {
        poll_batch(&w);
        if (w.nslots == 0) continue;
        map_batch(&w);
        produce_batch(&w);
        await_batch(&w);
        commit_batch(&w);
    }
    mt_info("stopping: %llu task(s) done, %llu failed, %llu dead letter(s)",
            w.tasks_done, w.tasks_failed, w.dead_letters);
    status = 0;
out:
    if (status != 0) mt_err("%s", err);
    if (w.consumer && mt_kafka_consumer_close(w.consumer, CLOSE_TIMEOUT_MS) != 0)
        mt_warn("left the group without a clean close");
    if (w.producer) {
        int left = mt_kafka_flush(w.producer, 5000);
        if (left) mt_warn("%d result(s) not delivered; their tasks will be redone", left);
        rd_kafka_destroy(w.producer);
    }
    for (int k = 0; w.slots && k < w.batch_max; k++) mt_buf_free(&w.slots[k].result);
    free(w.slots);
    mt_config_free(&w.cfg);
    return status;
}

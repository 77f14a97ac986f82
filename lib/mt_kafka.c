/* mt_kafka.c - Kafka clients, topics and shutdown (see mt_kafka.h). */
#define _GNU_SOURCE
#include "mt_kafka.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mt_clock.h"
#include "mt_log.h"
#include "mt_signal.h"
#include "mt_metrics.h"

/* librdkafka's own log lines join ours, at a matching level. */
static void log_cb(const rd_kafka_t *rk, int level, const char *fac,
                   const char *buf) {
    int lvl = level <= 3 ? MT_LOG_ERROR
              : level <= 5 ? MT_LOG_WARN
              : level == 6 ? MT_LOG_INFO
                           : MT_LOG_DEBUG;
    /* Transient states librdkafka retries by itself (a broker just started
     * loading its coordinators) are not worth a warning. */
    if (lvl == MT_LOG_WARN && strstr(buf, "retrying")) lvl = MT_LOG_DEBUG;
    mt_log(lvl, "kafka %s: %s: %s", rd_kafka_name(rk), fac, buf);
}

/* Client errors are mostly transient (a broker restarting) and librdkafka
 * retries on its own; its log line already tells of each, so only fatal
 * errors and "all brokers down" are repeated here. */
static void error_cb(rd_kafka_t *rk, int err, const char *reason,
                     void *opaque) {
    (void)opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char buf[512];
        rd_kafka_fatal_error(rk, buf, sizeof buf);
        mt_err("kafka fatal error: %s", buf);
    } else if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
        mt_warn("kafka: %s", reason);
    } else {
        mt_debug("kafka: %s", reason);
    }
}

static int set(rd_kafka_conf_t *conf, const char *k, const char *v, char *err,
               size_t errsize) {
    char e[256];
    if (rd_kafka_conf_set(conf, k, v, e, sizeof e) != RD_KAFKA_CONF_OK) {
        snprintf(err, errsize, "%s", e);
        return -1;
    }
    return 0;
}

/* librdkafka's statistics feed the metrics endpoint; the document is ours
 * only for the call (returning 0 lets librdkafka free it). */
static int stats_cb(rd_kafka_t *rk, char *json, size_t len, void *opaque) {
    (void)rk, (void)opaque;
    mt_metrics_kafka_stats(json, len);
    return 0;
}

/* A configuration with the given defaults, then the user's -X properties
 * (so a user may change statistics.interval.ms too). */
static rd_kafka_conf_t *make_conf(const mt_config_t *cfg,
                                  const char *const *defaults, char *err,
                                  size_t errsize) {
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (set(conf, "bootstrap.servers", cfg->brokers, err, errsize)) goto fail;
    for (size_t k = 0; defaults[k]; k += 2)
        if (set(conf, defaults[k], defaults[k + 1], err, errsize)) goto fail;
    if (mt_metrics_serving()) {
        if (set(conf, "statistics.interval.ms", "5000", err, errsize)) goto fail;
        rd_kafka_conf_set_stats_cb(conf, stats_cb);
    }
    for (size_t k = 0; k < cfg->nprops; k++) {
        char key[256];
        const char *eq = strchr(cfg->props[k], '=');
        size_t klen = (size_t)(eq - cfg->props[k]);
        if (klen >= sizeof key) klen = sizeof key - 1;
        memcpy(key, cfg->props[k], klen);
        key[klen] = '\0';
        if (set(conf, key, eq + 1, err, errsize)) goto fail;
    }
    rd_kafka_conf_set_log_cb(conf, log_cb);
    rd_kafka_conf_set_error_cb(conf, error_cb);
    return conf;
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

rd_kafka_t *mt_kafka_producer_new(const mt_config_t *cfg, int idempotent,
                                  mt_kafka_dr_fn dr, void *opaque, char *err,
                                  size_t errsize) {
    const char *const defaults[] = {
        "client.id", "microtask",
        "enable.idempotence", idempotent ? "true" : "false",
        "acks", "all",
        /* A task crosses two producers (tasks, then results): 1 ms each
         * keeps the end-to-end p99 under 20 ms at 1,000 tasks/s, and at
         * high rates batches fill before the linger ends anyway (measured:
         * no loss of tasks/s against 5 ms). */
        "linger.ms", "1",
        "compression.codec", "lz4",
        /* A delivery gives up after 2 minutes, so a worker waiting for its
         * results stays well inside max.poll.interval.ms (5 minutes). */
        "message.timeout.ms", "120000",
        NULL,
    };
    rd_kafka_conf_t *conf = make_conf(cfg, defaults, err, errsize);
    if (!conf) return NULL;
    if (dr) rd_kafka_conf_set_dr_msg_cb(conf, dr);
    rd_kafka_conf_set_opaque(conf, opaque);
    char e[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, e, sizeof e);
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        snprintf(err, errsize, "cannot create producer: %s", e);
        return NULL;
    }
    return rk; /* conf now belongs to rk */
}

/* Writes "topic[0,3,6]" for a partition list (one topic is the usual case;
 * further topics follow, separated by spaces). */
static void describe_parts(const rd_kafka_topic_partition_list_t *parts,
                           char *out, size_t size) {
    size_t n = 0;
    out[0] = '\0';
    for (int k = 0; k < parts->cnt && n + 16 < size; k++) {
        const rd_kafka_topic_partition_t *p = &parts->elems[k];
        int same = k > 0 && strcmp(parts->elems[k - 1].topic, p->topic) == 0;
        int w = same ? snprintf(out + n - 1, size - n + 1, ",%d]", (int)p->partition) - 1
                     : snprintf(out + n, size - n, "%s%s[%d]", k ? " " : "", p->topic,
                                (int)p->partition);
        if (w < 0 || (size_t)w >= size - n) break;
        n += (size_t)w;
    }
}

/* Eager rebalancing: on revoke, commit what was stored (results that are
 * safely in Kafka or Redis) before the partitions go, so the next owner
 * starts right after them. */
static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts,
                         void *opaque) {
    mt_kafka_rebalance_t *rb = opaque;
    int assigned = err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS;
    if (rb && rb->fn) rb->fn(rk, assigned, parts, rb->opaque);
    char list[512];
    describe_parts(parts, list, sizeof list);
    if (assigned) {
        mt_info("assigned %d partition(s): %s", parts->cnt, list);
        rd_kafka_assign(rk, parts);
        return;
    }
    mt_info("revoked %d partition(s): %s", parts->cnt, list);
    rd_kafka_resp_err_t cerr = rd_kafka_commit(rk, NULL, 0);
    if (cerr && cerr != RD_KAFKA_RESP_ERR__NO_OFFSET)
        mt_warn("commit on revoke failed: %s", rd_kafka_err2str(cerr));
    rd_kafka_assign(rk, NULL);
}

rd_kafka_t *mt_kafka_consumer_new(const mt_config_t *cfg,
                                  const char *const *topics, size_t ntopics,
                                  mt_kafka_rebalance_t *rb, char *err,
                                  size_t errsize) {
    static const char *const defaults[] = {
        "client.id", "microtask",
        "auto.offset.reset", "earliest",
        "enable.auto.commit", "true",
        "enable.auto.offset.store", "false",
        "auto.commit.interval.ms", "1000",
        "partition.assignment.strategy", "roundrobin",
        "session.timeout.ms", "6000",
        "heartbeat.interval.ms", "1000",
        NULL,
    };
    if (!cfg->group || !*cfg->group) {
        snprintf(err, errsize, "no consumer group given");
        return NULL;
    }
    rd_kafka_conf_t *conf = make_conf(cfg, defaults, err, errsize);
    if (!conf) return NULL;
    char e[512];
    if (rd_kafka_conf_set(conf, "group.id", cfg->group, e, sizeof e)) {
        /* cannot fail for a string, but keep the contract */
        rd_kafka_conf_destroy(conf);
        snprintf(err, errsize, "%s", e);
        return NULL;
    }
    rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
    rd_kafka_conf_set_opaque(conf, rb);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, e, sizeof e);
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        snprintf(err, errsize, "cannot create consumer: %s", e);
        return NULL;
    }
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *sub =
        rd_kafka_topic_partition_list_new((int)ntopics);
    for (size_t k = 0; k < ntopics; k++)
        rd_kafka_topic_partition_list_add(sub, topics[k], RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t serr = rd_kafka_subscribe(rk, sub);
    rd_kafka_topic_partition_list_destroy(sub);
    if (serr) {
        snprintf(err, errsize, "cannot subscribe: %s", rd_kafka_err2str(serr));
        rd_kafka_destroy(rk);
        return NULL;
    }
    return rk;
}

static void *destroy_thread(void *arg) {
    rd_kafka_destroy_flags(arg, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    return NULL;
}

int mt_kafka_consumer_close(rd_kafka_t *rk, int timeout_ms) {
    if (!rk) return 0;
    long long deadline = mt_clock_ms() + timeout_ms;
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_error_t *e = rd_kafka_consumer_close_queue(rk, q);
    int clean = 1;
    if (e) {
        mt_warn("closing consumer: %s", rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
        clean = 0;
    } else {
        /* The final revoke arrives as an event on q; serve it as the
         * callback would (final commit). Other events are dropped: a
         * callback-serving poll would abort on them. */
        while (!rd_kafka_consumer_closed(rk)) {
            if (mt_clock_ms() >= deadline) {
                mt_warn("consumer did not close within %d ms; leaving anyway",
                        timeout_ms);
                clean = 0;
                break;
            }
            rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 100);
            if (!ev) continue;
            if (rd_kafka_event_type(ev) == RD_KAFKA_EVENT_REBALANCE)
                rebalance_cb(rk, rd_kafka_event_error(ev),
                             rd_kafka_event_topic_partition_list(ev),
                             rd_kafka_opaque(rk));
            rd_kafka_event_destroy(ev);
        }
    }
    rd_kafka_queue_destroy(q);
    /* Even a closed consumer can block in destroy: for ever while a commit
     * waits for an unreachable coordinator, or while the program still
     * holds messages. Destroy it on a thread and stop waiting when the time
     * is up; the group was left (or not) already. */
    pthread_t tid;
    long long left = deadline - mt_clock_ms();
    if (pthread_create(&tid, NULL, destroy_thread, rk) != 0) return -1;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += (clean ? 2000 : left > 1000 ? left : 1000) / 1000;
    if (pthread_timedjoin_np(tid, NULL, &until) != 0) {
        pthread_detach(tid);
        mt_debug("consumer not destroyed yet; leaving it behind");
    }
    return clean ? 0 : -1;
}

int mt_kafka_flush(rd_kafka_t *rk, int timeout_ms) {
    long long deadline = mt_clock_ms() + timeout_ms;
    while (rd_kafka_outq_len(rk) > 0 && mt_clock_ms() < deadline)
        rd_kafka_flush(rk, 100);
    return rd_kafka_outq_len(rk);
}

/* Metadata for one topic. Returns the partition count, 0 when the topic
 * does not exist, -1 on error; *leaderless tells whether any partition has
 * no leader yet. */
static int topic_state(rd_kafka_t *rk, const char *topic, int timeout_ms,
                       int *leaderless, char *err, size_t errsize) {
    const struct rd_kafka_metadata *md;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, rkt, &md, timeout_ms);
    rd_kafka_topic_destroy(rkt);
    if (e) {
        snprintf(err, errsize, "cannot read metadata of %s: %s", topic,
                 rd_kafka_err2str(e));
        return -1;
    }
    int n = 0;
    *leaderless = 0;
    if (md->topic_cnt == 1 && !md->topics[0].err) {
        n = md->topics[0].partition_cnt;
        for (int p = 0; p < n; p++)
            if (md->topics[0].partitions[p].leader < 0) *leaderless = 1;
    } else if (md->topic_cnt == 1 &&
               md->topics[0].err != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART &&
               md->topics[0].err != RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE) {
        snprintf(err, errsize, "topic %s: %s", topic,
                 rd_kafka_err2str(md->topics[0].err));
        n = -1;
    }
    rd_kafka_metadata_destroy(md);
    return n;
}

/* topic_state, asked again each second until deadline (the broker may be
 * starting), and given up at once when a signal asks the program to stop,
 * so SIGTERM during start-up is not held up by a broker that is down. */
static int topic_state_by(rd_kafka_t *rk, const char *topic, long long deadline,
                          int *leaderless, char *err, size_t errsize) {
    for (;;) {
        long long left = deadline - mt_clock_ms();
        int n = topic_state(rk, topic, left < 1000 ? (left > 0 ? (int)left : 1) : 1000,
                            leaderless, err, errsize);
        if (n >= 0) return n;
        if (mt_stop_requested) {
            snprintf(err, errsize, "stopped while waiting for the broker");
            return -1;
        }
        if (mt_clock_ms() >= deadline) return -1;
    }
}

int mt_kafka_partition_count(rd_kafka_t *rk, const char *topic,
                             int timeout_ms, char *err, size_t errsize) {
    int leaderless;
    int n = topic_state(rk, topic, timeout_ms, &leaderless, err, errsize);
    if (n == 0) snprintf(err, errsize, "topic %s does not exist", topic);
    return n > 0 ? n : -1;
}

/* Sends one CreateTopics request for the given topics. "Already exists" is
 * success: another program may have won the race. */
static int create_topics(rd_kafka_t *rk, const mt_config_t *cfg,
                         const char *const *topics, size_t n, int timeout_ms,
                         char *err, size_t errsize) {
    rd_kafka_NewTopic_t **nt = calloc(n, sizeof *nt);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *opts =
        rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    char e[512];
    int rc = -1;
    if (!nt) goto out;
    rd_kafka_AdminOptions_set_operation_timeout(opts, timeout_ms, e, sizeof e);
    for (size_t k = 0; k < n; k++) {
        nt[k] = rd_kafka_NewTopic_new(topics[k], cfg->partitions,
                                      cfg->replication, e, sizeof e);
        if (!nt[k]) {
            snprintf(err, errsize, "topic %s: %s", topics[k], e);
            goto out;
        }
    }
    rd_kafka_CreateTopics(rk, nt, n, opts, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, timeout_ms + 2000);
    if (!ev) {
        snprintf(err, errsize, "no answer to CreateTopics within %d ms",
                 timeout_ms);
        goto out;
    }
    if (rd_kafka_event_error(ev)) {
        snprintf(err, errsize, "cannot create topics: %s",
                 rd_kafka_event_error_string(ev));
        rd_kafka_event_destroy(ev);
        goto out;
    }
    size_t cnt;
    const rd_kafka_topic_result_t **res =
        rd_kafka_CreateTopics_result_topics(
            rd_kafka_event_CreateTopics_result(ev), &cnt);
    rc = 0;
    for (size_t k = 0; k < cnt; k++) {
        rd_kafka_resp_err_t te = rd_kafka_topic_result_error(res[k]);
        if (te == RD_KAFKA_RESP_ERR_NO_ERROR) {
            mt_info("created topic %s (%d partitions)",
                    rd_kafka_topic_result_name(res[k]), cfg->partitions);
        } else if (te != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
            snprintf(err, errsize, "cannot create topic %s: %s",
                     rd_kafka_topic_result_name(res[k]),
                     rd_kafka_topic_result_error_string(res[k]));
            rc = -1;
        }
    }
    rd_kafka_event_destroy(ev);
out:
    if (nt) {
        rd_kafka_NewTopic_destroy_array(nt, n);
        free(nt);
    }
    rd_kafka_AdminOptions_destroy(opts);
    rd_kafka_queue_destroy(q);
    return rc;
}

int mt_kafka_ensure_topics(rd_kafka_t *rk, const mt_config_t *cfg,
                           const char *const *topics, size_t ntopics,
                           int timeout_ms, char *err, size_t errsize) {
    long long deadline = mt_clock_ms() + timeout_ms;
    const char *missing[16];
    size_t nmissing = 0;
    int leaderless;
    if (ntopics > 16) ntopics = 16;
    for (size_t k = 0; k < ntopics; k++) {
        int n = topic_state_by(rk, topics[k], deadline, &leaderless, err, errsize);
        if (n < 0) return -1;
        if (n == 0) missing[nmissing++] = topics[k];
    }
    if (nmissing && create_topics(rk, cfg, missing, nmissing, timeout_ms, err,
                                  errsize) != 0)
        return -1;
    /* A new topic takes a moment to get leaders everywhere. */
    for (size_t k = 0; k < nmissing; k++) {
        for (;;) {
            int n = topic_state_by(rk, missing[k], deadline, &leaderless, err, errsize);
            if (n < 0) return -1;
            if (n > 0 && !leaderless) break;
            if (mt_clock_ms() >= deadline) {
                snprintf(err, errsize, "topic %s has no leader after %d ms",
                         missing[k], timeout_ms);
                return -1;
            }
            struct timespec ts = {0, 100 * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    return 0;
}

int mt_kafka_scan(const mt_config_t *cfg, const char *topic, mt_kafka_scan_fn fn,
                  void *opaque, int timeout_ms, char *err, size_t errsize) {
    /* No group: partitions are assigned by hand and nothing is committed,
     * so reading never disturbs the programs that consume the topic. */
    const char *const defaults[] = {
        "client.id", "microtask-scan",
        "group.id", "microtask-scan", /* never joined: needed by assign() */
        "enable.auto.commit", "false",
        "enable.partition.eof", "true",
        NULL,
    };
    rd_kafka_conf_t *conf = make_conf(cfg, defaults, err, errsize);
    if (!conf) return -1;
    char e[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, e, sizeof e);
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        snprintf(err, errsize, "cannot create consumer: %s", e);
        return -1;
    }
    int rc = -1, nparts = mt_kafka_partition_count(rk, topic, timeout_ms, err, errsize);
    rd_kafka_topic_partition_list_t *assign = NULL;
    int64_t *end = NULL;
    if (nparts < 0) goto out;
    assign = rd_kafka_topic_partition_list_new(nparts);
    end = calloc((size_t)nparts, sizeof *end);
    if (!end) {
        snprintf(err, errsize, "out of memory");
        goto out;
    }
    int left = 0; /* partitions with messages still to read */
    for (int p = 0; p < nparts; p++) {
        int64_t lo, hi;
        rd_kafka_resp_err_t qe = rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi,
                                                                  timeout_ms);
        if (qe) {
            snprintf(err, errsize, "%s[%d]: %s", topic, p, rd_kafka_err2str(qe));
            goto out;
        }
        end[p] = hi;
        if (hi > lo) {
            rd_kafka_topic_partition_list_add(assign, topic, p)->offset = lo;
            left++;
        }
    }
    if (left == 0) {
        rc = 0;
        goto out;
    }
    rd_kafka_resp_err_t ae = rd_kafka_assign(rk, assign);
    if (ae) {
        snprintf(err, errsize, "cannot read %s: %s", topic, rd_kafka_err2str(ae));
        goto out;
    }
    long long give_up = mt_clock_ms() + timeout_ms;
    while (left > 0) {
        if (mt_clock_ms() > give_up) {
            snprintf(err, errsize, "timed out reading %s", topic);
            goto out;
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
        if (!m) continue;
        int p = m->partition;
        if (m->err && m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            snprintf(err, errsize, "reading %s: %s", topic, rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            goto out;
        }
        if (!m->err) {
            give_up = mt_clock_ms() + timeout_ms;
            if (m->offset < end[p] && fn(opaque, m) != 0) {
                rd_kafka_message_destroy(m);
                rc = 0;
                goto out;
            }
        }
        /* done with a partition at its end as it was when we started */
        int64_t next = m->err ? m->offset : m->offset + 1; /* EOF: the next offset */
        if (p >= 0 && p < nparts && end[p] >= 0 && next >= end[p]) {
            end[p] = -1;
            left--;
        }
        rd_kafka_message_destroy(m);
    }
    rc = 0;
out:
    if (assign) rd_kafka_topic_partition_list_destroy(assign);
    free(end);
    rd_kafka_destroy(rk);
    return rc;
}

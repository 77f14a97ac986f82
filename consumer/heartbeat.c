/* heartbeat.c - the worker's record in Redis and the cancelled jobs (see
 * heartbeat.h).
 *
 * The thread owns its Redis connection; the only state shared with the
 * worker is the sorted list of cancelled job ids, under a mutex. */
#define _GNU_SOURCE
#include "heartbeat.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mt_clock.h"
#include "mt_log.h"
#include "mt_redis.h"
#include "mt_store.h"

/* Tasks of a job cancelled longer ago than Kafka keeps messages by default
 * cannot still be waiting in the topic. */
#define CANCELLED_HORIZON_MS (7LL * 24 * 3600 * 1000)

struct heartbeat {
    mt_redis_t *redis;
    char id[256];
    char host[128];
    long long started_ms;
    int interval_ms;
    heartbeat_fill_fn fill;
    void *opaque;
    pthread_t tid;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int quit;        /* under lock */
    char **cancelled; /* under lock: sorted */
    size_t ncancelled;
    int failing;     /* thread only: the last beat failed */
};

static int compare_ids(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_ids(char **ids, size_t n) {
    for (size_t k = 0; k < n; k++) free(ids[k]);
    free(ids);
}

/* Replaces the cancelled list with what Redis holds now. */
static int refresh_cancelled(heartbeat_t *hb, char *err, size_t errsize) {
    json_t *a = mt_store_cancelled(hb->redis, mt_wall_ms() - CANCELLED_HORIZON_MS, err,
                                   errsize);
    if (!a) return -1;
    size_t n = json_array_size(a);
    char **ids = n ? calloc(n, sizeof *ids) : NULL;
    size_t got = 0;
    for (size_t k = 0; ids && k < n; k++)
        if ((ids[got] = strdup(json_string_value(json_array_get(a, k))))) got++;
    json_decref(a);
    if (got) qsort(ids, got, sizeof *ids, compare_ids);
    pthread_mutex_lock(&hb->lock);
    char **old = hb->cancelled;
    size_t nold = hb->ncancelled;
    hb->cancelled = ids;
    hb->ncancelled = got;
    pthread_mutex_unlock(&hb->lock);
    free_ids(old, nold);
    return 0;
}

static int beat(heartbeat_t *hb, char *err, size_t errsize) {
    json_t *fields = json_object();
    if (!fields) {
        snprintf(err, errsize, "out of memory");
        return -1;
    }
    json_object_set_new(fields, "host", json_string(hb->host));
    json_object_set_new(fields, "pid", json_integer(getpid()));
    json_object_set_new(fields, "started_ms", json_integer(hb->started_ms));
    json_object_set_new(fields, "seen_ms", json_integer(mt_wall_ms()));
    if (hb->fill) hb->fill(hb->opaque, fields);
    int rc = mt_store_heartbeat(hb->redis, hb->id, fields, 5LL * hb->interval_ms, err,
                                errsize);
    json_decref(fields);
    return rc != 0 ? -1 : refresh_cancelled(hb, err, errsize);
}

static void *heartbeat_thread(void *arg) {
    heartbeat_t *hb = arg;
    pthread_mutex_lock(&hb->lock);
    while (!hb->quit) {
        pthread_mutex_unlock(&hb->lock);
        char err[256];
        if (beat(hb, err, sizeof err) != 0) {
            if (!hb->failing) mt_warn("heartbeat to Redis failed (%s); still working", err);
            hb->failing = 1;
        } else if (hb->failing) {
            mt_info("heartbeat to Redis works again");
            hb->failing = 0;
        }
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += hb->interval_ms / 1000;
        until.tv_nsec += (long)(hb->interval_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) until.tv_sec++, until.tv_nsec -= 1000000000L;
        pthread_mutex_lock(&hb->lock);
        while (!hb->quit && pthread_cond_timedwait(&hb->wake, &hb->lock, &until) == 0) {
        }
    }
    pthread_mutex_unlock(&hb->lock);
    return NULL;
}

heartbeat_t *heartbeat_start(const mt_config_t *cfg, const char *worker_id,
                             int interval_ms, heartbeat_fill_fn fill, void *opaque,
                             char *err, size_t errsize) {
    heartbeat_t *hb = calloc(1, sizeof *hb);
    if (!hb) {
        snprintf(err, errsize, "out of memory");
        return NULL;
    }
    /* a frozen Redis holds up a beat, never the worker */
    if (!(hb->redis = mt_redis_new(cfg->redis, interval_ms, err, errsize))) {
        free(hb);
        return NULL;
    }
    snprintf(hb->id, sizeof hb->id, "%s", worker_id);
    if (gethostname(hb->host, sizeof hb->host) != 0) snprintf(hb->host, sizeof hb->host, "?");
    hb->host[sizeof hb->host - 1] = '\0';
    hb->started_ms = mt_wall_ms();
    hb->interval_ms = interval_ms;
    hb->fill = fill;
    hb->opaque = opaque;
    pthread_mutex_init(&hb->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&hb->wake, &attr);
    pthread_condattr_destroy(&attr);
    if (pthread_create(&hb->tid, NULL, heartbeat_thread, hb) != 0) {
        snprintf(err, errsize, "cannot start the heartbeat thread");
        pthread_cond_destroy(&hb->wake);
        pthread_mutex_destroy(&hb->lock);
        mt_redis_destroy(hb->redis);
        free(hb);
        return NULL;
    }
    return hb;
}

int heartbeat_cancelled(heartbeat_t *hb, const char *job) {
    if (!hb) return 0;
    pthread_mutex_lock(&hb->lock);
    int found = hb->ncancelled &&
                bsearch(&job, hb->cancelled, hb->ncancelled, sizeof *hb->cancelled,
                        compare_ids) != NULL;
    pthread_mutex_unlock(&hb->lock);
    return found;
}

void heartbeat_stop(heartbeat_t *hb) {
    if (!hb) return;
    pthread_mutex_lock(&hb->lock);
    hb->quit = 1;
    pthread_cond_signal(&hb->wake);
    pthread_mutex_unlock(&hb->lock);
    pthread_join(hb->tid, NULL);
    char err[256];
    if (!hb->failing && mt_store_worker_gone(hb->redis, hb->id, err, sizeof err) != 0)
        mt_debug("cannot remove the worker's record: %s", err);
    free_ids(hb->cancelled, hb->ncancelled);
    pthread_cond_destroy(&hb->wake);
    pthread_mutex_destroy(&hb->lock);
    mt_redis_destroy(hb->redis);
    free(hb);
}

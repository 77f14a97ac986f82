/* mt_task.c - message headers in and out (see mt_task.h). */
#define _DEFAULT_SOURCE
#include "mt_task.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

static const char *const type_names[] = {"task", "result", "failed", "end"};

const char *mt_msg_type_name(mt_msg_type_t type) {
    return (unsigned)type < 4 ? type_names[type] : "?";
}

int mt_job_id_check(const char *id, char *err, size_t errsize) {
    size_t n = strlen(id);
    if (n == 0 || n > MT_JOB_ID_MAX) {
        snprintf(err, errsize, "job id must be 1 to %d characters",
                 MT_JOB_ID_MAX);
        return -1;
    }
    if (id[0] == '-') {
        snprintf(err, errsize, "job id must not start with '-'");
        return -1;
    }
    for (size_t k = 0; k < n; k++) {
        char c = id[k];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-')) {
            /* no ':', so "mt:job:ID:..." keys of two jobs never meet */
            snprintf(err, errsize,
                     "job id may only hold letters, digits and . _ -");
            return -1;
        }
    }
    return 0;
}

void mt_job_id_generate(char *out, size_t size) {
    unsigned char rnd[4] = {0};
    char stamp[32];
    time_t now = time(NULL);
    struct tm tm;
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) {
        /* No entropy source: the clock and pid still make ids distinct. */
        unsigned v = (unsigned)getpid() ^ (unsigned)clock();
        memcpy(rnd, &v, sizeof rnd);
    }
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
    snprintf(out, size, "%s-%02x%02x%02x%02x", stamp, rnd[0], rnd[1], rnd[2],
             rnd[3]);
}

void mt_run_id_generate(char *out, size_t size) {
    unsigned char rnd[8] = {0};
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) {
        unsigned long long v = (unsigned long long)time(NULL) * 2654435761u ^
                               (unsigned long long)getpid() ^ (unsigned long long)clock();
        memcpy(rnd, &v, sizeof rnd);
    }
    snprintf(out, size, "%02x%02x%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2],
             rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
}

int mt_task_identified(const mt_task_t *t) {
    return t->job[0] && t->run[0] && t->seq >= 0;
}

void mt_task_init(mt_task_t *t, mt_msg_type_t type) {
    memset(t, 0, sizeof *t);
    t->type = type;
    t->seq = -1;
    t->total = -1;
}

static int add_int(rd_kafka_headers_t *h, const char *name, int64_t v) {
    char tmp[24];
    int n = snprintf(tmp, sizeof tmp, "%lld", (long long)v);
    return rd_kafka_header_add(h, name, -1, tmp, n) != RD_KAFKA_RESP_ERR_NO_ERROR;
}

rd_kafka_headers_t *mt_task_headers(const mt_task_t *t) {
    rd_kafka_headers_t *h = rd_kafka_headers_new(8);
    int bad = 0;
    bad |= rd_kafka_header_add(h, "mt-version", -1, MT_FORMAT_VERSION, -1) != 0;
    bad |= rd_kafka_header_add(h, "mt-type", -1, mt_msg_type_name(t->type), -1) != 0;
    bad |= rd_kafka_header_add(h, "mt-job", -1, t->job, -1) != 0;
    bad |= rd_kafka_header_add(h, "mt-run", -1, t->run, -1) != 0;
    if (t->type != MT_MSG_END) {
        bad |= rd_kafka_header_add(h, "mt-op", -1, t->op, -1) != 0;
        bad |= add_int(h, "mt-seq", t->seq);
    } else {
        bad |= add_int(h, "mt-total", t->total);
    }
    if (t->type == MT_MSG_TASK) {
        bad |= add_int(h, "mt-offset", (int64_t)t->offset);
        bad |= add_int(h, "mt-line", (int64_t)t->first_line);
        if (t->deadline_ms > 0) bad |= add_int(h, "mt-deadline", t->deadline_ms);
    }
    if ((t->type == MT_MSG_RESULT || t->type == MT_MSG_FAILED) && t->submitted_ms > 0)
        bad |= add_int(h, "mt-submitted", t->submitted_ms);
    if (t->args)
        bad |= rd_kafka_header_add(h, "mt-args", -1, t->args,
                                   (ssize_t)t->args_len) != 0;
    if (t->error)
        bad |= rd_kafka_header_add(h, "mt-error", -1, t->error,
                                   (ssize_t)t->error_len) != 0;
    if (bad) {
        rd_kafka_headers_destroy(h);
        return NULL;
    }
    return h;
}

rd_kafka_headers_t *mt_task_dead_letter_headers(const rd_kafka_message_t *m,
                                                const char *why) {
    rd_kafka_headers_t *orig = NULL;
    /* rd_kafka_message_headers() wants a mutable message only to parse the
     * headers lazily; it does not change the message's content. */
    rd_kafka_message_headers((rd_kafka_message_t *)m, &orig);
    rd_kafka_headers_t *h = orig ? rd_kafka_headers_copy(orig) : rd_kafka_headers_new(2);
    char where[320];
    snprintf(where, sizeof where, "%s/%d/%lld", rd_kafka_topic_name(m->rkt),
             (int)m->partition, (long long)m->offset);
    rd_kafka_header_add(h, "mt-error", -1, why, -1);
    rd_kafka_header_add(h, "mt-source", -1, where, -1);
    return h;
}

/* Finds a header. Returns 1 with its value, 0 when absent. */
static int get(const rd_kafka_headers_t *hdrs, const char *name,
               const char **val, size_t *len) {
    const void *v;
    if (!hdrs || rd_kafka_header_get_last(hdrs, name, &v, len) != 0) return 0;
    *val = v ? v : "";
    if (!v) *len = 0;
    return 1;
}

/* Copies a required string header into out (size bytes). */
static int get_str(const rd_kafka_headers_t *hdrs, const char *name, char *out,
                   size_t size, char *err, size_t errsize) {
    const char *v;
    size_t len;
    if (!get(hdrs, name, &v, &len)) {
        snprintf(err, errsize, "missing header %s", name);
        return -1;
    }
    if (len == 0 || len >= size || memchr(v, '\0', len)) {
        snprintf(err, errsize, "malformed header %s", name);
        return -1;
    }
    memcpy(out, v, len);
    out[len] = '\0';
    return 0;
}

/* Reads a required decimal header in [min, max]. */
static int get_int(const rd_kafka_headers_t *hdrs, const char *name,
                   int64_t min, int64_t max, int64_t *out, char *err,
                   size_t errsize) {
    char tmp[24], *end;
    if (get_str(hdrs, name, tmp, sizeof tmp, err, errsize) != 0) return -1;
    errno = 0;
    long long v = strtoll(tmp, &end, 10);
    if (errno || *end || tmp[0] < '0' || tmp[0] > '9' || v < min || v > max) {
        snprintf(err, errsize, "malformed header %s", name);
        return -1;
    }
    *out = v;
    return 0;
}

int mt_task_decode(const rd_kafka_headers_t *hdrs, mt_task_t *t, char *err,
                   size_t errsize) {
    char tmp[16];
    int64_t v;
    mt_task_init(t, MT_MSG_TASK);
    if (get_str(hdrs, "mt-version", tmp, sizeof tmp, err, errsize) != 0)
        return -1;
    if (strcmp(tmp, MT_FORMAT_VERSION) != 0) {
        snprintf(err, errsize, "unsupported format version %s", tmp);
        return -1;
    }
    if (get_str(hdrs, "mt-type", tmp, sizeof tmp, err, errsize) != 0)
        return -1;
    for (v = 0; v < 4 && strcmp(tmp, type_names[v]) != 0; v++)
        ;
    if (v == 4) {
        snprintf(err, errsize, "unknown message type %s", tmp);
        return -1;
    }
    t->type = (mt_msg_type_t)v;
    if (get_str(hdrs, "mt-job", t->job, sizeof t->job, err, errsize) != 0 ||
        mt_job_id_check(t->job, err, errsize) != 0) {
        t->job[0] = '\0';
        return -1;
    }
    if (get_str(hdrs, "mt-run", t->run, sizeof t->run, err, errsize) != 0 ||
        strspn(t->run, "0123456789abcdef") != strlen(t->run)) {
        if (t->run[0]) snprintf(err, errsize, "malformed header mt-run");
        t->run[0] = '\0';
        return -1;
    }
    if (t->type == MT_MSG_END)
        return get_int(hdrs, "mt-total", 0, MT_SEQ_MAX + 1, &t->total, err,
                       errsize);
    /* The task number before the rest, so a task with other bad headers
     * can still be reported as failed to its job. */
    if (get_int(hdrs, "mt-seq", 0, MT_SEQ_MAX, &t->seq, err, errsize) != 0) {
        t->seq = -1;
        return -1;
    }
    if (get_str(hdrs, "mt-op", t->op, sizeof t->op, err, errsize) != 0)
        return -1;
    if (t->type == MT_MSG_TASK) {
        if (get_int(hdrs, "mt-offset", 0, INT64_MAX, &v, err, errsize) != 0)
            return -1;
        t->offset = (uint64_t)v;
        if (get_int(hdrs, "mt-line", 1, INT64_MAX, &v, err, errsize) != 0)
            return -1;
        t->first_line = (uint64_t)v;
        const char *d;
        size_t dlen;
        if (get(hdrs, "mt-deadline", &d, &dlen) &&
            get_int(hdrs, "mt-deadline", 1, INT64_MAX, &t->deadline_ms, err, errsize))
            return -1;
    }
    if (t->type != MT_MSG_TASK) {
        /* optional, and only for latency: a bad value is ignored, not fatal */
        char e[8];
        if (get_int(hdrs, "mt-submitted", 1, INT64_MAX, &t->submitted_ms, e, sizeof e) != 0)
            t->submitted_ms = 0;
    }
    if (!get(hdrs, "mt-args", &t->args, &t->args_len)) t->args = NULL;
    if (!get(hdrs, "mt-error", &t->error, &t->error_len)) t->error = NULL;
    return 0;
}

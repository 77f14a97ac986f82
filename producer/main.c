/* mt-producer - cuts input into micro-tasks on the tasks topic.
 *
 * Reads files or stdin, splits them where the op allows (never inside a
 * word or line), produces each task with the idempotent producer, and once
 * every task is acknowledged tells the aggregator how many there are (an
 * "end" message on the results topic). Prints the job id on stdout. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "mt_clock.h"
#include "mt_config.h"
#include "mt_kafka.h"
#include "mt_log.h"
#include "mt_metrics.h"
#include "mt_redis.h"
#include "mt_signal.h"
#include "mt_op.h"
#include "mt_source.h"
#include "mt_split.h"
#include "mt_store.h"
#include "mt_task.h"

#define READ_SIZE (1 << 20)
#define DEFAULT_TASK_BYTES 65536
#define DEFAULT_MAX_TASK_BYTES 900000
#define FLUSH_TIMEOUT_MS (150 * 1000) /* past message.timeout.ms (120 s) */

typedef struct producer {
    mt_config_t cfg;
    const mt_op_t *op;
    char job[MT_JOB_ID_MAX + 1];
    char run[MT_RUN_ID_MAX + 1];  /* this submission (see mt_task.h) */
    char *args;                /* op arguments as JSON text, or NULL */
    const char *topic;         /* tasks topic, or the priority topic */
    int64_t deadline_ms;       /* tasks expire after this, 0: never */
    rd_kafka_t *rk;
    int partitions;
    uint64_t produced, delivered, failed;
    char delivery_error[512];
    char produce_error[512];   /* why a task could not be queued */
    mt_redis_t *redis;
    long long checked_ms;      /* when the job's state was last read */
    /* the progress bar (a terminal only) */
    int show_progress;
    unsigned long long bytes_read, bytes_total; /* total 0: not known (stdin) */
    long long started_ms, drawn_ms;
    int drawn;                 /* the bar is on screen */
    int cancelled;             /* mtctl cancel stopped the submission */
    int deleted;               /* ... or mtctl delete */
    struct {
        mt_metric_t *tasks, *bytes, *unacked, *windows, *pending, *paused;
    } m;
} producer_t;

static _Noreturn void usage(const char *reason) {
    FILE *out = reason ? stderr : stdout;
    if (reason) { /* the error alone: the full text is one --help away */
        if (*reason) fprintf(stderr, "mt-producer: %s\n", reason); /* "": getopt said it */
        fprintf(stderr, "Try 'mt-producer --help' for more information.\n");
        exit(1);
    }
    fprintf(out,
        "Usage: mt-producer --op OP [options] [FILE... | -]\n"
        "       mt-producer --op exec [options] [FILE... | -] -- PROGRAM [ARG...]\n"
        "Splits the input (the files in order, or stdin) into micro-tasks on the\n"
        "tasks topic and prints the job id. Words and lines are not cut unless\n"
        "longer than --max-task-bytes.\n\n"
        "  -o, --op OP             the op to run (see below)\n"
        "  -j, --job ID            job id (default: generated); refused if it exists\n"
        "      --priority P        normal or high: high-priority jobs go to their own\n"
        "                          topic, which workers drain first\n"
        "  -f, --follow            the input (one FILE, or -) never ends: follow it\n"
        "                          like tail -F (from its start, across rotation\n"
        "                          and truncation)\n"
        "      --listen HOST:PORT  take lines from TCP clients (any number)\n"
        "      --stream NAME       with --follow/--listen: a job per time window,\n"
        "                          NAME.START_MS (mtctl windows NAME)\n"
        "      --window DUR        window length by arrival time (10s)\n"
        "      --flush-ms MS       cut a task MS ms after its first line (200), or\n"
        "                          at --lines lines (1000), whichever comes first\n"
        "      --ttl DUR           a window's result expires DUR after it completes (1h)\n"
        "      --max-pending N     pause reading while N tasks (10000) are sent but\n"
        "                          not merged: the workers are behind\n"
        "      --deadline WHEN     tasks not started by then are dead-lettered as\n"
        "                          expired: a duration from now (500ms, 30s, 10m, 2h)\n"
        "                          or a UTC time (2026-12-03T18:00:00Z)\n"
        "  -l, --lines N           N lines per task\n"
        "  -B, --bytes N           about N bytes per task, cut at the next separator\n"
        "                          (default %d)\n"
        "      --max-task-bytes N  hard limit on a task (default %d; keep it below\n"
        "                          the broker's message size limit)\n"
        "      --args JSON         arguments for the op, a JSON object; the options\n"
        "                          of each op below set its keys\n"
        MT_SERVICE_HELP
        "stats:\n"
        "      --column K          read field K (from 1) of delimited lines\n"
        "      --delimiter C       the field delimiter (default ,)\n"
        "grep:\n"
        "      --pattern RE        POSIX extended regular expression (required)\n"
        "  -i, --ignore-case       match without regard to case\n"
        "      --max-matches N     matching lines kept in the result (100)\n"
        "exec (the program and its arguments follow --):\n"
        "      --shell             run the one argument after -- with /bin/sh -c\n"
        "      --timeout MS        kill a task's program after MS ms (60000)\n"
        "      --max-output N      most bytes a task's program may print (524288)\n"
        "      --merge M           concat (outputs in task order), sum (JSON numbers\n"
        "                          added by key) or json (JSON values merged)\n"
        "\n%s\nOps (with those of plugins given before --help):\n",
        DEFAULT_TASK_BYTES, DEFAULT_MAX_TASK_BYTES, MT_CONFIG_HELP);
    for (const mt_op_t *const *op = mt_op_all(); *op; op++)
        fprintf(out, "  %-12s %s\n", (*op)->name, (*op)->summary);
    exit(reason ? 1 : 0);
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m,
                        void *opaque) {
    (void)rk;
    producer_t *p = opaque;
    if (m->err) {
        if (p->failed++ == 0)
            snprintf(p->delivery_error, sizeof p->delivery_error,
                     "delivery to %s failed: %s",
                     rd_kafka_topic_name(m->rkt), rd_kafka_err2str(m->err));
    } else {
        p->delivered++;
    }
}

/* Produces one message, waiting while the local queue is full. */
static int produce(producer_t *p, const char *topic, int32_t partition,
                   const mt_task_t *t, const void *data, size_t len) {
    rd_kafka_headers_t *hdrs = mt_task_headers(t);
    if (!hdrs) {
        snprintf(p->produce_error, sizeof p->produce_error, "out of memory");
        return -1;
    }
    for (;;) {
        rd_kafka_resp_err_t err = rd_kafka_producev(
            p->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
            RD_KAFKA_V_KEY(p->job, strlen(p->job)),
            RD_KAFKA_V_VALUE((void *)data, len),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_END);
        if (!err) break;
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            rd_kafka_headers_destroy(hdrs); /* not taken on failure */
            char fatal[256];
            if (rd_kafka_fatal_error(p->rk, fatal, sizeof fatal))
                snprintf(p->produce_error, sizeof p->produce_error,
                         "cannot produce to %s: %s", topic, fatal);
            else
                snprintf(p->produce_error, sizeof p->produce_error,
                         "cannot produce to %s: %s", topic, rd_kafka_err2str(err));
            return -1;
        }
        rd_kafka_poll(p->rk, 100); /* backpressure: let deliveries drain */
    }
    p->produced++;
    mt_metric_add(p->m.tasks, 1);
    rd_kafka_poll(p->rk, 0);
    return 0;
}

/* --deadline: a duration from now (ms, s, m, h) or a UTC time
 * YYYY-MM-DDTHH:MM:SSZ, to wall-clock ms. */
static int parse_deadline(const char *s, int64_t *out) {
    struct tm tm = {0};
    const char *end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (end && !*end) {
        struct tm check = tm, back;
        time_t t = timegm(&check);
        /* timegm quietly turns February 30 into March 2: refuse that */
        if (t == (time_t)-1 || !gmtime_r(&t, &back) || back.tm_mday != tm.tm_mday ||
            back.tm_mon != tm.tm_mon)
            return -1;
        *out = (int64_t)t * 1000;
        return 0;
    }
    char *unit;
    errno = 0;
    double v = strtod(s, &unit);
    if (errno || unit == s || !(v > 0) || v > 1e7) return -1;
    double ms = !strcmp(unit, "ms") ? v : !strcmp(unit, "s") ? v * 1e3
              : !strcmp(unit, "m") ? v * 6e4 : !strcmp(unit, "h") ? v * 3.6e6 : -1;
    if (ms < 0) return -1;
    *out = mt_wall_ms() + (int64_t)ms;
    return 0;
}

static int emit_task(void *opaque, const mt_chunk_t *chunk) {
    producer_t *p = opaque;
    mt_task_t t;
    mt_task_init(&t, MT_MSG_TASK);
    snprintf(t.job, sizeof t.job, "%s", p->job);
    snprintf(t.run, sizeof t.run, "%s", p->run);
    snprintf(t.op, sizeof t.op, "%s", p->op->name);
    t.seq = (int64_t)p->produced;
    if (t.seq > MT_SEQ_MAX) {
        snprintf(p->produce_error, sizeof p->produce_error,
                 "a job can have at most %lld tasks; use larger tasks",
                 MT_SEQ_MAX + 1);
        return -1;
    }
    t.offset = chunk->offset;
    t.first_line = chunk->first_line;
    t.deadline_ms = p->deadline_ms;
    if (p->args) {
        t.args = p->args;
        t.args_len = strlen(p->args);
    }
    return produce(p, p->topic, (int32_t)(t.seq % p->partitions), &t,
                   chunk->data, chunk->len);
}

/* The progress bar on stderr: shown only on a terminal, and only once a
 * submission has taken more than half a second (small inputs never see
 * it); redrawn at most five times a second. */
static void draw_progress(producer_t *p, int last) {
    if (!p->show_progress) return;
    long long now = mt_clock_ms();
    if (last) {
        if (p->drawn) fputs("\r\033[K", stderr);
        p->drawn = 0;
        return;
    }
    if (now - p->started_ms < 500 || now - p->drawn_ms < 200) return;
    double mb = (double)p->bytes_read / 1e6, secs = (double)(now - p->started_ms) / 1000;
    double rate = secs > 0 ? mb / secs : 0;
    if (p->bytes_total) {
        enum { WIDTH = 30 };
        double frac = (double)p->bytes_read / (double)p->bytes_total;
        if (frac > 1) frac = 1;
        char cells[WIDTH + 1];
        for (int k = 0; k < WIDTH; k++) cells[k] = k < (int)(frac * WIDTH) ? '#' : '.';
        cells[WIDTH] = '\0';
        double eta = rate > 0 ? ((double)p->bytes_total / 1e6 - mb) / rate : 0;
        fprintf(stderr, "\r%3.0f%% [%s] %.1f/%.1f MB  %.1f MB/s  ETA %.0fs  %llu tasks\033[K",
                100 * frac, cells, mb, (double)p->bytes_total / 1e6, rate, eta,
                (unsigned long long)p->produced);
    } else {
        fprintf(stderr, "\r%.1f MB  %.1f MB/s  %llu tasks\033[K", mb, rate,
                (unsigned long long)p->produced);
    }
    p->drawn = 1;
    p->drawn_ms = now;
}

/* Once a second: has the job been cancelled (mtctl cancel) or deleted
 * (mtctl delete)? Then reading stops; what was sent is skipped by the
 * workers, or dropped by the aggregator. */
static int job_cancelled(producer_t *p) {
    long long now = mt_clock_ms();
    if (!p->redis || now - p->checked_ms < 1000) return 0;
    p->checked_ms = now;
    json_t *job = NULL;
    char err[256];
    int cancelled = 0, found = mt_store_job(p->redis, p->job, &job, err, sizeof err);
    if (found > 0) {
        const char *state = json_string_value(json_object_get(job, "state"));
        cancelled = state && strcmp(state, "cancelled") == 0;
    } else if (found == 0) {
        cancelled = p->deleted = 1;
    }
    json_decref(job);
    p->cancelled |= cancelled;
    return cancelled;
}

static int stopped_by_cancel(producer_t *p, char *err, size_t errsize) {
    snprintf(p->produce_error, sizeof p->produce_error,
             "job %s was %s; stopped after %llu task(s)", p->job,
             p->deleted ? "deleted" : "cancelled", (unsigned long long)p->produced);
    snprintf(err, errsize, "%s", p->produce_error);
    return -1;
}

/* Feeds one input to the splitter. Returns 0, or -1 with a message in err. */
static int read_input(producer_t *p, mt_split_t *split, const char *path,
                      char *buf, char *err, size_t errsize) {
    int fd = strcmp(path, "-") == 0 ? STDIN_FILENO : open(path, O_RDONLY);
    if (fd < 0) {
        snprintf(err, errsize, "%s: %s", path, strerror(errno));
        return -1;
    }
    int rc = 0;
    while (!mt_stop_requested) {
        if (job_cancelled(p)) { /* it asks Redis at most once a second */
            rc = stopped_by_cancel(p, err, errsize);
            break;
        }
        /* A quiet pipe must not hide a cancel: wait for bytes a second at a
         * time (a regular file is always ready). */
        struct pollfd ready = {.fd = fd, .events = POLLIN};
        int waited = poll(&ready, 1, 1000);
        if (waited < 0 && errno == EINTR) continue;
        if (waited == 0) continue;
        ssize_t n = read(fd, buf, READ_SIZE);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            snprintf(err, errsize, "%s: %s", path, strerror(errno));
            rc = -1;
            break;
        }
        if (n == 0) break;
        if (mt_split_feed(split, buf, (size_t)n, err, errsize) != 0) {
            rc = -1;
            break;
        }
        p->bytes_read += (unsigned long long)n;
        mt_metric_add(p->m.bytes, (double)n);
        draw_progress(p, 0);
    }
    /* A file's end is always a task boundary: words never join across files. */
    if (rc == 0 && mt_split_flush(split, err, errsize) != 0) rc = -1;
    if (rc != 0 && p->produce_error[0]) /* the emit callback stopped it */
        snprintf(err, errsize, "%s", p->produce_error);
    if (fd != STDIN_FILENO) close(fd);
    return rc;
}

/* Waits for every task to be acknowledged, then sends the job's end marker.
 * Returns 0 when all of it is in Kafka. */
static int finish_job(producer_t *p, char *err, size_t errsize) {
    if (mt_kafka_flush(p->rk, FLUSH_TIMEOUT_MS) > 0 || p->failed) {
        snprintf(err, errsize, "%s",
                 p->failed ? p->delivery_error
                           : "timed out waiting for Kafka to acknowledge tasks");
        return -1;
    }
    mt_task_t end;
    mt_task_init(&end, MT_MSG_END);
    snprintf(end.job, sizeof end.job, "%s", p->job);
    snprintf(end.run, sizeof end.run, "%s", p->run);
    end.total = (int64_t)p->produced;
    p->produced--; /* the end marker is not a task */
    if (produce(p, p->cfg.results_topic, RD_KAFKA_PARTITION_UA, &end, NULL, 0) ||
        mt_kafka_flush(p->rk, FLUSH_TIMEOUT_MS) > 0 || p->failed) {
        snprintf(err, errsize, "%s",
                 p->failed ? p->delivery_error
                 : p->produce_error[0] ? p->produce_error : "cannot send the end marker");
        return -1;
    }
    return 0;
}

/* ---- streams: --follow and --listen ---- */

typedef struct stream_opts {
    const char *name;     /* --stream: windows are jobs NAME.START_MS */
    long long window_ms;  /* --window */
    long long flush_ms;   /* --flush-ms: a task is cut this long after its
                           * first line arrived, full or not */
    long lines;           /* --lines: ... or at this many lines */
    long max_bytes;       /* --max-task-bytes */
    long long ttl_ms;     /* --ttl: window results live this long */
    long max_pending;     /* --max-pending: tasks sent but not yet merged
                           * beyond which reading pauses */
    int resumable;        /* a followed file: keep a cursor in Redis */
} stream_opts_t;

/* A window whose tasks are not all merged yet, for backpressure. */
typedef struct unmerged {
    char job[MT_JOB_ID_MAX + 1];
    long long sent;
} unmerged_t;

#define MAX_UNMERGED 256

typedef struct stream {
    producer_t *p;
    mt_redis_t *redis;
    const stream_opts_t *o;
    long long window;     /* start of the open window (ms), -1: none open */
    mt_buf_t task;        /* lines of the task being filled */
    long task_lines;
    long long task_since; /* when its first line came (ms) */
    uint64_t offset, line; /* of the task's first byte in the whole stream */
    unmerged_t behind[MAX_UNMERGED]; /* windows not all merged, oldest first */
    int nbehind;
    long long checked_ms; /* when Redis was last asked */
    long long pending;    /* tasks sent, not merged, as of then */
    int paused;
    mt_source_t *src;
    mt_cursor_t cursor;   /* o->resumable: where a restart resumes */
    size_t unassigned;    /* bytes read but not yet in any window */
} stream_t;

/* Records where a restart would resume: after the last closed window, and
 * which window is open (a restart deletes it and reads its lines again). */
static int save_cursor(stream_t *st, int closed, char *err, size_t errsize) {
    if (!st->o->resumable) return 0;
    if (closed) {
        long long off;
        if (mt_source_position(st->src, &st->cursor.dev, &st->cursor.ino, &off) != 0)
            return 0;
        st->cursor.off = off - (long long)st->unassigned;
        st->cursor.open[0] = '\0';
    } else {
        snprintf(st->cursor.open, sizeof st->cursor.open, "%s", st->p->job);
    }
    return mt_store_cursor_set(st->redis, st->o->name, &st->cursor, err, errsize);
}

/* A restarted producer following a file: the window open when the last one
 * stopped is deleted (its tasks' results are then dropped as stale) and its
 * lines are read again from the cursor, so none is lost or counted twice. */
static void resume_stream(stream_t *st) {
    char err[512];
    mt_cursor_t c;
    int rc = mt_store_cursor_get(st->redis, st->o->name, &c, err, sizeof err);
    if (rc < 0) mt_warn("stream %s: cannot read its cursor: %s", st->o->name, err);
    if (rc <= 0) return;
    if (c.open[0]) {
        json_t *job = NULL;
        if (mt_store_job(st->redis, c.open, &job, err, sizeof err) > 0) {
            const char *state = json_string_value(json_object_get(job, "state"));
            if (state && (!strcmp(state, "submitting") || !strcmp(state, "running"))) {
                mt_warn("stream %s: window %s was open when the producer stopped; "
                        "it is dropped and its lines are read again", st->o->name, c.open);
                mt_store_delete(st->redis, c.open, err, sizeof err);
            }
            json_decref(job);
        }
    }
    if (mt_source_resume(st->src, c.dev, c.ino, c.off))
        mt_info("stream %s: resuming at byte %lld of the file", st->o->name, c.off);
    else
        mt_info("stream %s: the file is not the one of the last run: reading it from the start",
                st->o->name);
    st->cursor = c;
    st->cursor.open[0] = '\0';
}

/* Tasks sent but not merged yet, over the windows still open or unmerged
 * (asked of Redis at most every 100 ms; windows found complete are
 * forgotten). Returns -1 with a message when Redis fails. */
static long long stream_pending(stream_t *st, char *err, size_t errsize) {
    long long now = mt_clock_ms();
    if (now - st->checked_ms < 100) return st->pending;
    long long pending = 0;
    int keep = 0;
    for (int k = 0; k < st->nbehind; k++) {
        unmerged_t *u = &st->behind[k];
        if (st->window >= 0 && strcmp(u->job, st->p->job) == 0)
            u->sent = (long long)st->p->produced;
        long long counted = mt_store_counted(st->redis, u->job, err, errsize);
        if (counted < 0) return -1;
        int open = st->window >= 0 && strcmp(u->job, st->p->job) == 0;
        if (counted < u->sent || open) {
            pending += u->sent - counted > 0 ? u->sent - counted : 0;
            st->behind[keep++] = *u;
        }
    }
    st->nbehind = keep;
    st->checked_ms = now;
    st->pending = pending;
    mt_metric_set(st->p->m.pending, (double)pending);
    return pending;
}

/* Sends the task being filled (if any) to the open window. */
static int stream_cut(stream_t *st, char *err, size_t errsize) {
    if (!st->task.len) return 0;
    mt_chunk_t chunk = {st->task.data, st->task.len, st->offset, st->line};
    if (emit_task(st->p, &chunk) != 0) {
        snprintf(err, errsize, "%s", st->p->produce_error);
        return -1;
    }
    st->offset += st->task.len;
    st->line += (uint64_t)st->task_lines;
    mt_buf_reset(&st->task);
    st->task_lines = 0;
    return 0;
}

/* Cuts the last task of the open window and sends its end marker: the
 * window completes when its tasks are merged. */
static int stream_close(stream_t *st, char *err, size_t errsize) {
    if (st->window < 0) return 0;
    if (stream_cut(st, err, errsize) != 0 || finish_job(st->p, err, errsize) != 0) return -1;
    for (int k = 0; k < st->nbehind; k++) /* its final count, for backpressure */
        if (strcmp(st->behind[k].job, st->p->job) == 0)
            st->behind[k].sent = (long long)st->p->produced;
    mt_metric_add(st->p->m.windows, 1);
    mt_info("window %s closed: %llu task(s)", st->p->job,
            (unsigned long long)st->p->produced);
    st->window = -1;
    return save_cursor(st, 1, err, errsize);
}

/* Opens the window starting at start: claims its job. A window claimed
 * already (by a producer before a restart) goes on as NAME.START.2, .3 ... */
static int stream_open(stream_t *st, long long start, char *err, size_t errsize) {
    producer_t *p = st->p;
    for (int k = 1; k < 100; k++) {
        if (k == 1) snprintf(p->job, sizeof p->job, "%s.%lld", st->o->name, start);
        else snprintf(p->job, sizeof p->job, "%s.%lld.%d", st->o->name, start, k);
        mt_run_id_generate(p->run, sizeof p->run);
        int rc = mt_store_claim_window(st->redis, p->job, p->run, p->op->name, p->args,
                                       st->o->name, start, start + st->o->window_ms,
                                       st->o->ttl_ms, err, errsize);
        if (rc < 0) return -1;
        if (rc == 1) {
            p->produced = 0;
            st->window = start;
            if (st->nbehind == MAX_UNMERGED) { /* forget the oldest */
                memmove(st->behind, st->behind + 1, sizeof st->behind[0] * (MAX_UNMERGED - 1));
                st->nbehind--;
            }
            snprintf(st->behind[st->nbehind].job, sizeof st->behind[0].job, "%s", p->job);
            st->behind[st->nbehind++].sent = 0;
            return save_cursor(st, 0, err, errsize);
        }
    }
    snprintf(err, errsize, "window %s.%lld: too many submissions", st->o->name, start);
    return -1;
}

/* Reads the source until it ends or a stop is requested, cutting tasks
 * every o->lines lines or o->flush_ms ms, into windows of o->window_ms by
 * arrival time. Returns 0, or -1 with a message. */
static int run_stream(producer_t *p, mt_redis_t *redis, mt_source_t *src,
                      const stream_opts_t *o, char *err, size_t errsize) {
    static stream_t st; /* large: not on the stack */
    memset(&st, 0, sizeof st);
    st.p = p;
    st.redis = redis;
    st.o = o;
    st.window = -1;
    st.line = 1;
    st.src = src;
    if (o->resumable) resume_stream(&st);
    mt_buf_t lines = MT_BUF_INIT;
    int ended = 0, rc = 0;
    while (!ended && !mt_stop_requested && rc == 0) {
        /* Backpressure: while the workers are behind, stop reading. The
         * input waits where it is (a file, or the pipe or socket buffers,
         * which then slow the writer down); nothing is dropped and memory
         * stays flat. Windows still close on time meanwhile. */
        long long pending = stream_pending(&st, err, errsize);
        if (pending < 0) {
            rc = -1;
            break;
        }
        if (pending >= o->max_pending) {
            if (!st.paused) mt_warn("stream %s: %lld task(s) not merged yet; reading paused",
                                    o->name, pending);
            st.paused = 1;
            mt_metric_set(p->m.paused, 1);
            long long now = mt_wall_ms();
            if (st.task.len && now - st.task_since >= o->flush_ms)
                rc = stream_cut(&st, err, errsize);
            if (rc == 0 && st.window >= 0 && now >= st.window + o->window_ms)
                rc = stream_close(&st, err, errsize);
            rd_kafka_poll(p->rk, 50);
            continue;
        }
        if (st.paused) mt_info("stream %s: workers caught up; reading again", o->name);
        st.paused = 0;
        mt_metric_set(p->m.paused, 0);
        long long now = mt_wall_ms(), wait = 200;
        if (st.task.len) wait = st.task_since + o->flush_ms - now;
        if (st.window >= 0 && st.window + o->window_ms - now < wait)
            wait = st.window + o->window_ms - now;
        mt_buf_reset(&lines);
        int n = mt_source_read(src, &lines, wait > 0 ? (int)wait : 0, &ended, err, errsize);
        if (n < 0) {
            rc = -1;
            break;
        }
        if (lines.len) mt_metric_add(p->m.bytes, (double)lines.len);
        now = mt_wall_ms();
        long long window = now - now % o->window_ms;
        st.unassigned = lines.len; /* read after the window ended: the next one's */
        if (st.window >= 0 && now >= st.window + o->window_ms) rc = stream_close(&st, err, errsize);
        st.unassigned = 0;
        if (rc == 0 && n > 0 && st.window < 0) rc = stream_open(&st, window, err, errsize);
        for (size_t at = 0; rc == 0 && at < lines.len;) {
            const char *nl = memchr(lines.data + at, '\n', lines.len - at);
            size_t len = (size_t)(nl - (lines.data + at)) + 1;
            if (st.task.len + len > (size_t)o->max_bytes) rc = stream_cut(&st, err, errsize);
            if (rc) break;
            if (!st.task.len) st.task_since = now;
            if (mt_buf_append(&st.task, lines.data + at, len) != 0) {
                snprintf(err, errsize, "out of memory");
                rc = -1;
                break;
            }
            at += len;
            if (++st.task_lines >= o->lines) rc = stream_cut(&st, err, errsize);
        }
        if (rc == 0 && st.task.len && now - st.task_since >= o->flush_ms)
            rc = stream_cut(&st, err, errsize);
        rd_kafka_poll(p->rk, 0);
    }
    /* the input ended or we were asked to stop: the open window ends now */
    if (rc == 0) rc = stream_close(&st, err, errsize);
    mt_buf_free(&lines);
    mt_buf_free(&st.task);
    return rc;
}

/* "10s", "500ms", "2m", "1h" to ms; -1 when malformed. */
static long long parse_duration(const char *s) {
    char *unit;
    errno = 0;
    double v = strtod(s, &unit);
    if (errno || unit == s || !(v > 0) || v > 1e9) return -1;
    double ms = !strcmp(unit, "ms") ? v : !strcmp(unit, "s") ? v * 1e3
              : !strcmp(unit, "m") ? v * 6e4 : !strcmp(unit, "h") ? v * 3.6e6
              : !strcmp(unit, "d") ? v * 8.64e7 : -1;
    return ms >= 1 ? (long long)ms : -1;
}

int main(int argc, char **argv) {
    static const struct option longopts[] = {
        MT_CONFIG_LONGOPTS,
        MT_SERVICE_LONGOPTS,
        {"op", required_argument, NULL, 'o'},
        {"job", required_argument, NULL, 'j'},
        {"lines", required_argument, NULL, 'l'},
        {"bytes", required_argument, NULL, 'B'},
        {"max-task-bytes", required_argument, NULL, 'M'},
        {"args", required_argument, NULL, 'A'},
        {"priority", required_argument, NULL, 'p'},
        {"deadline", required_argument, NULL, 'D'},
        {"column", required_argument, NULL, 1 + 'c' * 256},
        {"delimiter", required_argument, NULL, 1 + 'd' * 256},
        {"pattern", required_argument, NULL, 1 + 'p' * 256},
        {"ignore-case", no_argument, NULL, 'i'},
        {"max-matches", required_argument, NULL, 1 + 'm' * 256},
        {"shell", no_argument, NULL, 1 + 's' * 256},
        {"timeout", required_argument, NULL, 1 + 't' * 256},
        {"max-output", required_argument, NULL, 1 + 'o' * 256},
        {"merge", required_argument, NULL, 1 + 'M' * 256},
        {"follow", no_argument, NULL, 'f'},
        {"listen", required_argument, NULL, 1 + 'L' * 256},
        {"stream", required_argument, NULL, 1 + 'S' * 256},
        {"window", required_argument, NULL, 1 + 'W' * 256},
        {"flush-ms", required_argument, NULL, 1 + 'F' * 256},
        {"ttl", required_argument, NULL, 1 + 'T' * 256},
        {"max-pending", required_argument, NULL, 1 + 'P' * 256},
        {NULL, 0, NULL, 0},
    };
    /* op options become keys of the op's arguments (see --args) */
    json_t *opt_args = json_object();
    const char *priority = "normal";
    int follow = 0, job_given = 0;
    const char *listen_on = NULL;
    stream_opts_t so_stream = {NULL, 10000, 200, 1000, 0, 3600000, 10000, 0};
    producer_t p = {0};
    char err[1024] = "";
    const char *op_name = NULL;
    long size = DEFAULT_TASK_BYTES, max_bytes = DEFAULT_MAX_TASK_BYTES;
    int by_lines = 0, size_given = 0, opt, rc;
    const char *args_text = NULL;

    mt_log_init("mt-producer");
    if (mt_config_init(&p.cfg, NULL, NULL, err, sizeof err) != 0) usage(err);
    /* exec: what follows the first "--" is the program to run */
    int prog_at = 0, full_argc = argc;
    for (int k = 1; k < argc; k++)
        if (strcmp(argv[k], "--") == 0) {
            prog_at = k + 1;
            argc = k;
            break;
        }
    while ((opt = getopt_long(argc, argv, MT_CONFIG_SHORTOPTS "o:j:l:B:if",
                              longopts, NULL)) != -1) {
        long n;
        switch (opt) {
        case 'p':
            if (strcmp(optarg, "normal") && strcmp(optarg, "high"))
                usage("--priority is normal or high");
            priority = optarg;
            break;
        case 'D':
            if (parse_deadline(optarg, &p.deadline_ms) != 0)
                usage("--deadline takes a duration (500ms, 30s, 10m, 2h) or a UTC "
                      "time (2026-12-03T18:00:00Z)");
            if (p.deadline_ms <= mt_wall_ms())
                usage("--deadline is in the past: every task would expire");
            break;
        case 1 + 'c' * 256:
            if (mt_parse_long(optarg, 1, 1000000, &n) != 0)
                usage("--column takes a field number from 1");
            json_object_set_new(opt_args, "column", json_integer(n));
            break;
        case 1 + 'd' * 256:
            if (strlen(optarg) != 1) usage("--delimiter takes one character");
            json_object_set_new(opt_args, "delimiter", json_string(optarg));
            break;
        case 1 + 'p' * 256:
            json_object_set_new(opt_args, "pattern", json_string(optarg));
            break;
        case 'i': json_object_set_new(opt_args, "ignore_case", json_true()); break;
        case 1 + 'm' * 256:
            if (mt_parse_long(optarg, 0, 100000, &n) != 0)
                usage("--max-matches takes 0 to 100000");
            json_object_set_new(opt_args, "max_matches", json_integer(n));
            break;
        case 1 + 's' * 256: json_object_set_new(opt_args, "shell", json_true()); break;
        case 1 + 't' * 256:
            if (mt_parse_long(optarg, 1, 86400000, &n) != 0)
                usage("--timeout takes milliseconds");
            json_object_set_new(opt_args, "timeout_ms", json_integer(n));
            break;
        case 1 + 'o' * 256:
            if (mt_parse_long(optarg, 1, 64L << 20, &n) != 0)
                usage("--max-output takes 1 to 67108864 bytes");
            json_object_set_new(opt_args, "max_output", json_integer(n));
            break;
        case 1 + 'M' * 256:
            json_object_set_new(opt_args, "merge", json_string(optarg));
            break;
        case 'f': follow = 1; break;
        case 1 + 'L' * 256: listen_on = optarg; break;
        case 1 + 'S' * 256:
            if (mt_job_id_check(optarg, err, sizeof err) != 0 || strlen(optarg) > 100)
                usage("--stream takes a name of up to 100 of A-Z a-z 0-9 . _ -");
            so_stream.name = optarg;
            break;
        case 1 + 'W' * 256:
            if ((so_stream.window_ms = parse_duration(optarg)) < 10)
                usage("--window takes a duration of 10ms or more (500ms, 10s, 1m, 1h)");
            break;
        case 1 + 'F' * 256:
            if (mt_parse_long(optarg, 1, 3600000, &n) != 0)
                usage("--flush-ms takes milliseconds");
            so_stream.flush_ms = n;
            break;
        case 1 + 'P' * 256:
            if (mt_parse_long(optarg, 1, 100000000, &n) != 0)
                usage("--max-pending takes a number of tasks");
            so_stream.max_pending = n;
            break;
        case 1 + 'T' * 256:
            if ((so_stream.ttl_ms = parse_duration(optarg)) < 0)
                usage("--ttl takes a duration (10m, 1h, 7d)");
            break;
        case 'o': op_name = optarg; break;
        case 'j':
            if (mt_job_id_check(optarg, err, sizeof err) != 0) usage(err);
            snprintf(p.job, sizeof p.job, "%s", optarg);
            job_given = 1;
            break;
        case 'A': args_text = optarg; break;
        case 'l':
        case 'B':
            by_lines = opt == 'l';
            size_given = 1;
            if (mt_parse_long(optarg, 1, 1L << 40, &size) != 0)
                usage("--lines and --bytes take a positive whole number");
            break;
        case 'M':
            if (mt_parse_long(optarg, 1, 1L << 30, &max_bytes) != 0)
                usage("--max-task-bytes takes a positive whole number");
            break;
        case MT_OPT_HELP: /* list the ops of the plugins given so far too */
            mt_config_load_plugins(&p.cfg, err, sizeof err);
            usage(NULL);
            break;
        case MT_OPT_VERSION:
            mt_config_print_version(stdout, "mt-producer");
            return 0;
        case '?': usage("");
        default:
            rc = mt_config_option(&p.cfg, opt, optarg, err, sizeof err);
            if (rc == 2) return 0;
            if (rc != 1) usage(rc < 0 ? err : "unknown option");
        }
    }
    if (mt_config_load_plugins(&p.cfg, err, sizeof err) != 0) usage(err);
    if (!op_name) usage("--op is required");
    if (!(p.op = mt_op_find(op_name))) {
        snprintf(err, sizeof err, "unknown op \"%s\"", op_name);
        usage(err);
    }
    if (!p.job[0]) mt_job_id_generate(p.job, sizeof p.job);
    if (mt_job_id_check(p.job, err, sizeof err) != 0) usage(err);
    if (prog_at && strcmp(p.op->name, "exec") == 0) {
        json_t *list = json_array();
        for (char **a = argv + prog_at; *a; a++) json_array_append_new(list, json_string(*a));
        json_object_set_new(opt_args, "argv", list);
    } else if (prog_at) { /* for other ops, "--" only ends the options */
        memmove(argv + argc, argv + prog_at, (size_t)(full_argc - prog_at + 1) * sizeof *argv);
        argc = full_argc - 1;
    }
    {
        json_error_t jerr;
        json_t *a = args_text ? json_loads(args_text, 0, &jerr) : json_object();
        if (!a || !json_is_object(a)) usage("--args must be a JSON object");
        json_object_update(a, opt_args);
        if (p.op->check_args && p.op->check_args(a, err, sizeof err) != 0) usage(err);
        if (json_object_size(a) > 0 &&
            !(p.args = json_dumps(a, JSON_COMPACT | JSON_SORT_KEYS)))
            usage("out of memory");
        json_decref(a);
        json_decref(opt_args);
    }
    p.topic = strcmp(priority, "high") == 0 ? p.cfg.priority_topic : p.cfg.tasks_topic;
    int streaming = follow || listen_on;
    if (streaming) {
        if (!so_stream.name) usage("--follow and --listen need --stream NAME");
        if (job_given) usage("a stream's jobs are its windows: --job does not apply");
        if (follow && listen_on) usage("--follow and --listen do not go together");
        if ((follow && argc - optind != 1) || (listen_on && argc != optind))
            usage("--follow reads one FILE (or - for stdin); --listen reads no file");
        if (size_given && !by_lines) usage("in a stream tasks are cut by --lines and --flush-ms");
        so_stream.lines = size_given ? size : 1000;
        so_stream.max_bytes = max_bytes;
    } else if (so_stream.name) {
        usage("--stream needs --follow or --listen");
    }
    if (!by_lines && size > max_bytes) {
        if (size_given) usage("--bytes must not exceed --max-task-bytes");
        size = max_bytes;
    }
    /* Fail on unreadable files before anything is sent. */
    for (int k = optind; k < argc && !streaming; k++) {
        struct stat st;
        if (strcmp(argv[k], "-") == 0) continue;
        if (access(argv[k], R_OK) != 0 || stat(argv[k], &st) != 0) {
            fprintf(stderr, "mt-producer: %s: %s\n", argv[k], strerror(errno));
            return 1;
        }
        if (S_ISDIR(st.st_mode)) {
            fprintf(stderr, "mt-producer: %s: is a directory\n", argv[k]);
            return 1;
        }
    }
    /* the progress bar knows the total when every input is a regular file */
    int sizes_known = optind < argc;
    for (int k = optind; k < argc && !streaming; k++) {
        struct stat st;
        if (strcmp(argv[k], "-") == 0 || stat(argv[k], &st) != 0 || !S_ISREG(st.st_mode))
            sizes_known = 0;
        else
            p.bytes_total += (unsigned long long)st.st_size;
    }
    if (!sizes_known) p.bytes_total = 0;
    p.show_progress = !streaming && isatty(STDERR_FILENO) && mt_log_level >= MT_LOG_INFO;
    p.started_ms = mt_clock_ms();

    p.m.tasks = mt_metric_counter("mt_tasks_submitted_total", "tasks produced to Kafka");
    p.m.bytes = mt_metric_counter("mt_input_bytes_total", "input bytes read");
    if (streaming) {
        p.m.windows = mt_metric_counter("mt_stream_windows_total", "windows closed");
        p.m.pending = mt_metric_gauge("mt_stream_pending_tasks",
                                      "tasks sent but not merged yet (backpressure)");
        p.m.paused = mt_metric_gauge("mt_stream_paused",
                                     "1 while reading is paused because workers are behind");
    }
    /* before the Kafka client exists, so it reports its statistics */
    if (p.cfg.metrics_addr) {
        int port = mt_metrics_serve(p.cfg.metrics_addr, err, sizeof err);
        if (port < 0) {
            fprintf(stderr, "mt-producer: %s\n", err);
            return 1;
        }
        mt_info("metrics on port %d at /metrics", port);
    }

    mt_signal_install();

    mt_redis_t *redis = mt_redis_new(p.cfg.redis, 5000, err, sizeof err);
    mt_split_t *split = NULL;
    char *buf = malloc(READ_SIZE);
    int status = 1, claimed = 0;
    if (!redis || !buf) goto out;
    p.redis = redis;
    if (!(p.rk = mt_kafka_producer_new(&p.cfg, 1, on_delivery, &p, err, sizeof err)))
        goto out;
    const char *topics[] = {p.topic, p.cfg.results_topic};
    if (mt_kafka_ensure_topics(p.rk, &p.cfg, topics, 2, 30000, err, sizeof err) ||
        (p.partitions = mt_kafka_partition_count(p.rk, p.topic, 10000,
                                                 err, sizeof err)) < 0)
        goto out;
    if (streaming) {
        mt_source_t *src = listen_on ? mt_source_listen(listen_on, err, sizeof err)
                           : strcmp(argv[optind], "-") == 0 ? mt_source_stdin(err, sizeof err)
                           : mt_source_file(argv[optind], err, sizeof err);
        if (!src) goto out;
        if (listen_on) mt_info("stream %s: listening on port %d", so_stream.name,
                               mt_source_port(src));
        mt_info("stream %s: %s tasks to %s in windows of %lld ms", so_stream.name,
                p.op->name, p.topic, so_stream.window_ms);
        so_stream.resumable = follow && strcmp(argv[optind], "-") != 0;
        rc = run_stream(&p, redis, src, &so_stream, err, sizeof err);
        mt_source_destroy(src);
        if (rc != 0) {
            if (p.job[0]) {
                char e2[512];
                if (mt_store_fail(redis, p.job, err, e2, sizeof e2) != 0)
                    mt_err("could not record the failure: %s", e2);
            }
            goto out;
        }
        printf("%s\n", so_stream.name);
        fflush(stdout);
        status = 0;
        goto out;
    }
    mt_run_id_generate(p.run, sizeof p.run);
    rc = mt_store_claim(redis, p.job, p.run, p.op->name, p.args, err, sizeof err);
    if (rc < 0) goto out;
    if (rc == 0) {
        snprintf(err, sizeof err,
                 "job \"%s\" already exists; choose another --job (or drop "
                 "it with: mtctl delete %s)", p.job, p.job);
        goto out;
    }
    claimed = 1;
    if (p.topic != p.cfg.tasks_topic || p.deadline_ms) {
        char when[24];
        snprintf(when, sizeof when, "%lld", (long long)p.deadline_ms);
        if (mt_store_set_meta(redis, p.job, priority, p.deadline_ms ? when : NULL, err,
                              sizeof err) != 0)
            goto fail_job;
    }
    mt_info("job %s: submitting %s tasks to %s (%d partitions)", p.job,
            p.op->name, p.topic, p.partitions);

    mt_split_opts_t so = {by_lines, (size_t)size, (size_t)max_bytes,
                          p.op->boundary, p.op->unit};
    if (!(split = mt_split_new(&so, emit_task, &p, err, sizeof err))) goto fail_job;
    if (optind == argc) {
        if (isatty(STDIN_FILENO)) mt_info("reading tasks from the terminal");
        if (read_input(&p, split, "-", buf, err, sizeof err) != 0) goto fail_job;
    }
    for (int k = optind; k < argc && !mt_stop_requested; k++)
        if (read_input(&p, split, argv[k], buf, err, sizeof err) != 0) goto fail_job;
    if (mt_stop_requested) {
        /* Keep what was read: the job completes over the input so far. */
        char note[128];
        snprintf(note, sizeof note, "interrupted: only %llu task(s) submitted",
                 (unsigned long long)p.produced);
        mt_warn("job %s: %s", p.job, note);
        if (mt_store_note(redis, p.job, note, err, sizeof err) != 0)
            mt_warn("%s", err);
    }
    if (finish_job(&p, err, sizeof err) != 0) goto fail_job;
    draw_progress(&p, 1);
    mt_info("job %s: %llu task(s) submitted", p.job,
            (unsigned long long)p.produced);
    printf("%s\n", p.job);
    fflush(stdout);
    status = 0;
    goto out;

fail_job:
    draw_progress(&p, 1);
    if (p.cancelled) {
        mt_warn("%s", err);
        err[0] = '\0';
        goto out;
    }
    mt_err("job %s failed: %s", p.job, err);
    {
        char e2[512];
        if (mt_store_fail(redis, p.job, err, e2, sizeof e2) != 0)
            mt_err("could not record the failure: %s", e2);
    }
    err[0] = '\0';
out:
    if (status != 0 && mt_stop_requested && !claimed) {
        /* SIGTERM before any job existed: nothing was submitted */
        mt_info("stopped before submitting (%s)", err);
        status = 0;
        err[0] = '\0';
    }
    if (status != 0 && err[0]) mt_err("%s", err);
    if (p.rk) {
        int left = mt_kafka_flush(p.rk, status == 0 ? 1000 : 10000);
        if (left > 0) mt_err("%d message(s) were not delivered", left);
        rd_kafka_destroy(p.rk);
    }
    mt_split_destroy(split);
    mt_redis_destroy(redis);
    free(buf);
    mt_metrics_reset();
    mt_config_free(&p.cfg);
    free(p.args);
    return status;
}

/* mtctl - look at jobs: status, progress, results.
 *
 * Reads Redis (see README.md, "Redis key layout"), so it works from
 * anywhere Redis is reachable and everything it shows can also be read with
 * redis-cli; only dlq and retry talk to Kafka, to read the dead-letter
 * topic. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mt_clock.h"
#include "mt_config.h"
#include "mt_kafka.h"
#include "mt_log.h"
#include "mt_op.h"
#include "mt_plugins.h"
#include "mt_signal.h"
#include "mt_store.h"
#include "mt_task.h"
#include "mt_utf8.h"

/* Exit codes of `mtctl wait`, documented in --help. */
enum { EXIT_DONE = 0, EXIT_ERROR = 1, EXIT_TIMEOUT = 2, EXIT_FAILED = 3 };

static _Noreturn void usage(const char *reason) {
    FILE *out = reason ? stderr : stdout;
    if (reason) { /* the error alone: the full text is one --help away */
        if (*reason) fprintf(stderr, "mtctl: %s\n", reason); /* "": getopt said it */
        fprintf(stderr, "Try 'mtctl --help' for more information.\n");
        exit(EXIT_ERROR);
    }
    fprintf(out,
        "Usage: mtctl [options] COMMAND [ARGS]\n"
        "Commands:\n"
        "  jobs [N]                 the N (20) newest jobs: a table\n"
        "  status JOB               state, tasks done/total, failed\n"
        "  wait JOB [--timeout SEC] wait until the job is complete; exit 0 when done,\n"
        "                           2 on timeout, 3 when done with errors, failed or\n"
        "                           cancelled\n"
        "  watch JOB [--timeout SEC]\n"
        "                           like wait, showing progress, rate and ETA: a live\n"
        "                           bar on a terminal, a line a second otherwise\n"
        "  result JOB [--format F]  the result as json (wordcount: \"counts\"), with\n"
        "                           the failed tasks and why, or as tsv: a row per\n"
        "                           value, PATH<TAB>VALUE (wordcount: WORD<TAB>COUNT)\n"
        "  result JOB --raw         exec's output bytes as the program wrote them,\n"
        "                           in task order\n"
        "  cancel JOB               stop a job: workers skip its tasks, results that\n"
        "                           arrive later are dropped; its state: cancelled\n"
        "  workers                  live workers: partitions, tasks, rate, last beat\n"
        "  top JOB [N]              wordcount: the N (20) most frequent words\n"
        "  delete JOB               remove the job and its result from Redis\n"
        "  dlq [JOB]                list dead letters (of one job): where from, why\n"
        "  windows STREAM [N]       the N (10) latest windows of a stream, results\n"
        "  follow STREAM            print each window's result as it completes\n"
        "  retry JOB                submit the job's dead-lettered tasks (and results\n"
        "                           the aggregator could not merge) again\n"
        "Options:\n"
        "  -r, --redis ADDR         Redis (MT_REDIS; " MT_DEFAULT_REDIS ")\n"
        "  -b, --brokers LIST       Kafka, for dlq and retry (MT_BROKERS; " MT_DEFAULT_BROKERS ")\n"
        "      --dlq-topic T        (MT_DLQ_TOPIC; " MT_DEFAULT_DLQ_TOPIC ")\n"
        "      --tasks-topic T, --priority-topic T   where retry submits tasks\n"
        "      --results-topic T    where retry submits results the aggregator could\n"
        "                           not merge (MT_RESULTS_TOPIC; " MT_DEFAULT_RESULTS_TOPIC ")\n"
        "      --partitions N, --replication N   for topics retry creates\n"
        "      --plugin PATH        load an op from a plugin (MT_PLUGINS), to show its\n"
        "                           jobs' results\n"
        "  -X key=value             a librdkafka property (security settings)\n"
        "  -F, --kafka-config FILE  librdkafka properties from a file (MT_KAFKA_CONFIG)\n"
        "      --timeout SEC        for wait (default: no limit)\n"
        "      --progress           for wait: print progress on stderr\n"
        "      --format F           result: json (default) or tsv; jobs, workers:\n"
        "                           json instead of a table\n"
        "  -v, --verbose            more log output; -q, --quiet: errors only\n"
        "  -h, --help               this help\n"
        "      --version            versions\n");
    exit(reason ? EXIT_ERROR : 0);
}

static double now_s(void) { return (double)mt_clock_ms() / 1000.0; }

static json_int_t field_int(const json_t *job, const char *name) {
    return json_integer_value(json_object_get(job, name));
}

static const char *field_str(const json_t *job, const char *name) {
    const char *s = json_string_value(json_object_get(job, name));
    return s ? s : "";
}

/* Reads a job; prints the error and returns NULL when it cannot. */
static json_t *load_job(mt_redis_t *r, const char *id) {
    char err[512];
    json_t *job = NULL;
    int rc = mt_store_job(r, id, &job, err, sizeof err);
    if (rc < 0) fprintf(stderr, "mtctl: %s\n", err);
    if (rc == 0) fprintf(stderr, "mtctl: no job \"%s\"\n", id);
    return rc > 0 ? job : NULL;
}

static int is_final(const char *state) {
    return !strcmp(state, "done") || !strcmp(state, "done_with_errors") ||
           !strcmp(state, "failed") || !strcmp(state, "cancelled");
}

static int cmd_status(mt_redis_t *r, const char *id) {
    json_t *job = load_job(r, id);
    if (!job) return EXIT_ERROR;
    const char *state = field_str(job, "state");
    json_int_t total = field_int(job, "total"), done = field_int(job, "done"),
               failed = field_int(job, "failed");
    printf("job:      %s\nop:       %s\nstate:    %s\n", id, field_str(job, "op"),
           state);
    if (json_object_get(job, "total"))
        printf("tasks:    %lld/%lld done, %lld failed\n", (long long)done,
               (long long)total, (long long)failed);
    else
        printf("tasks:    %lld done, %lld failed (%s)\n", (long long)done, (long long)failed,
               is_final(state) ? "the submission did not finish" : "total not known yet");
    json_int_t created = field_int(job, "created_ms"),
               finished = field_int(job, "finished_ms");
    if (created && finished)
        printf("elapsed:  %.3f s\n", (double)(finished - created) / 1000.0);
    if (*field_str(job, "error")) printf("error:    %s\n", field_str(job, "error"));
    if (*field_str(job, "note")) printf("note:     %s\n", field_str(job, "note"));
    json_decref(job);
    return 0;
}


/* How wait shows progress: not at all, a line a second on stderr
 * (--progress), or watch's display on stdout. */
enum show { SHOW_NONE, SHOW_PROGRESS, SHOW_WATCH };

/* Tasks counted over the last seconds, for a rate that follows changes
 * instead of averaging over the whole job. */
#define RATE_SAMPLES 10
typedef struct rate {
    double t[RATE_SAMPLES];
    long long n[RATE_SAMPLES];
    int count, next;
} rate_t;

static double rate_update(rate_t *r, double t, long long n) {
    int oldest = r->count < RATE_SAMPLES ? 0 : r->next;
    double rate = 0;
    if (r->count > 0 && t > r->t[oldest])
        rate = (double)(n - r->n[oldest]) / (t - r->t[oldest]);
    r->t[r->next] = t;
    r->n[r->next] = n;
    r->next = (r->next + 1) % RATE_SAMPLES;
    if (r->count < RATE_SAMPLES) r->count++;
    return rate > 0 ? rate : 0;
}

/* "42s", "3m05s", "2h10m"; "?" when not known. */
static void eta_text(double seconds, char *out, size_t size) {
    if (!(seconds >= 0) || seconds > 360000) snprintf(out, size, "?");
    else if (seconds < 60) snprintf(out, size, "%.0fs", seconds);
    else if (seconds < 3600) snprintf(out, size, "%dm%02ds", (int)seconds / 60, (int)seconds % 60);
    else snprintf(out, size, "%dh%02dm", (int)seconds / 3600, (int)seconds % 3600 / 60);
}

/* One progress report: a bar redrawn in place on a terminal, else a line. */
static void show_progress(FILE *out, int bar, const char *id, const json_t *job,
                          double elapsed, double rate) {
    const char *state = field_str(job, "state");
    int known = json_object_get(job, "total") != NULL;
    long long total = field_int(job, "total"), failed = field_int(job, "failed");
    long long n = field_int(job, "done") + failed;
    double frac = known ? (total ? (double)n / (double)total : 1) : 0;
    char eta[16], fails[32] = "";
    eta_text(known && rate > 0 ? (double)(total - n) / rate : is_final(state) ? 0 : -1, eta,
             sizeof eta);
    if (failed) snprintf(fails, sizeof fails, ", %lld failed", failed);
    if (bar) {
        enum { WIDTH = 30 };
        char cells[WIDTH + 1];
        int full = (int)(frac * WIDTH);
        for (int k = 0; k < WIDTH; k++) cells[k] = k < full ? '#' : '.';
        cells[WIDTH] = '\0';
        if (known)
            fprintf(out, "\r%s [%s] %3.0f%% %lld/%lld%s  %.1f tasks/s  ETA %s  %s\033[K", id,
                    cells, 100 * frac, n, total, fails, rate, eta, state);
        else
            fprintf(out, "\r%s [%s] %lld/?%s  %.1f tasks/s  %s\033[K", id, cells, n, fails,
                    rate, state);
        if (is_final(state)) fputc('\n', out);
    } else if (known) {
        fprintf(out, "%s: %s %lld/%lld tasks (%.0f%%)%s, %.1f tasks/s, ETA %s, %.1f s\n", id,
                state, n, total, 100 * frac, fails, rate, eta, elapsed);
    } else {
        fprintf(out, "%s: %s %lld tasks so far%s, %.1f tasks/s, %.1f s\n", id, state, n,
                fails, rate, elapsed);
    }
    fflush(out);
}

static int cmd_wait(mt_redis_t *r, const char *id, double timeout, enum show show) {
    double start = now_s(), last_print = -1;
    FILE *out = show == SHOW_WATCH ? stdout : stderr;
    int bar = show == SHOW_WATCH && isatty(fileno(out));
    double every = bar ? 0.25 : 1.0;
    rate_t rate = {0};
    double last_rate = 0, last_sample = -1;
    for (;;) {
        char err[512];
        json_t *job = NULL;
        int rc = mt_store_job(r, id, &job, err, sizeof err);
        if (rc == 0) {
            if (bar) fputc('\n', out);
            fprintf(stderr, "mtctl: no job \"%s\"\n", id);
            return EXIT_ERROR;
        }
        if (rc > 0) {
            const char *state = field_str(job, "state");
            double now = now_s();
            long long n = field_int(job, "done") + field_int(job, "failed");
            if (now - last_sample >= 1.0) { /* rate from one sample a second */
                last_rate = rate_update(&rate, now, n);
                last_sample = now;
            }
            /* Before two samples, and once it has ended: the job's own average
             * since it was created, so a short job does not show 0 tasks/s. */
            long long created = field_int(job, "created_ms"), end = field_int(job, "finished_ms");
            if (!is_final(state) || !end) end = mt_wall_ms();
            if ((rate.count < 2 || is_final(state)) && created && end > created)
                last_rate = (double)n * 1000.0 / (double)(end - created);
            if (show != SHOW_NONE && (now - last_print >= every || is_final(state))) {
                show_progress(out, bar, id, job, now - start, last_rate);
                last_print = now;
            }
            if (is_final(state)) {
                int code = strcmp(state, "done") == 0 ? EXIT_DONE : EXIT_FAILED;
                json_decref(job);
                return code;
            }
            json_decref(job);
        } else {
            fprintf(stderr, "mtctl: %s (retrying)\n", err);
        }
        if (mt_stop_requested) {
            if (bar) fputc('\n', out);
            return EXIT_TIMEOUT;
        }
        if (timeout > 0 && now_s() - start >= timeout) {
            if (bar) fputc('\n', out);
            fprintf(stderr, "mtctl: job %s not complete after %.0f s\n", id, timeout);
            return EXIT_TIMEOUT;
        }
        usleep(100 * 1000);
    }
}

/* The job record plus the op's finished result, as one JSON object. */
static json_t *build_result(mt_redis_t *r, const char *id, int quiet) {
    char err[512];
    json_t *job = load_job(r, id), *out = NULL, *part = NULL;
    mt_store_result_t *res = NULL;
    if (!job) return NULL;
    const mt_op_t *op = mt_op_find(field_str(job, "op"));
    if (!op) {
        fprintf(stderr, "mtctl: job %s has unknown op \"%s\" (a plugin? load it with "
                "--plugin)\n", id, field_str(job, "op"));
        goto out;
    }
    if (strcmp(field_str(job, "state"), "done") != 0 && !quiet)
        fprintf(stderr, "mtctl: warning: job %s is %s; the result is partial\n", id,
                field_str(job, "state"));
    if (mt_store_result(r, id, &res, err, sizeof err) != 0) {
        fprintf(stderr, "mtctl: %s\n", err);
        goto out;
    }
    if (op->plugin) {
        mt_buf_t state = MT_BUF_INIT;
        if (mt_store_state(r, id, &state, err, sizeof err) < 0) {
            fprintf(stderr, "mtctl: %s\n", err);
            goto out;
        }
        const char *args_text = *field_str(job, "args") ? field_str(job, "args") : NULL;
        part = state.len || field_int(job, "done") > 0
                   ? mt_plugin_finish(op, args_text, state.data ? state.data : "",
                                      state.len, err, sizeof err)
                   : json_object(); /* nothing merged yet */
        mt_buf_free(&state);
    } else {
        size_t n;
        const mt_field_t *fields = mt_store_result_fields(res, &n);
        json_error_t jerr;
        json_t *args = *field_str(job, "args") ? json_loads(field_str(job, "args"), 0, &jerr)
                                               : NULL;
        part = op->finish(args, fields, n, err, sizeof err);
        json_decref(args);
    }
    if (!part) {
        fprintf(stderr, "mtctl: %s\n", err);
        goto out;
    }
    out = json_object();
    json_object_set_new(out, "job", json_string(id));
    json_object_set(out, "op", json_object_get(job, "op"));
    json_object_set(out, "state", json_object_get(job, "state"));
    if (json_object_get(job, "window_start_ms")) { /* a stream's window */
        json_object_set(out, "stream", json_object_get(job, "stream"));
        json_object_set(out, "window_start_ms", json_object_get(job, "window_start_ms"));
        json_object_set(out, "window_end_ms", json_object_get(job, "window_end_ms"));
    }
    static const char *const copied[] = {"total", "done", "failed", "error", "note", NULL};
    for (size_t k = 0; copied[k]; k++)
        if (json_object_get(job, copied[k]))
            json_object_set(out, copied[k], json_object_get(job, copied[k]));
    json_object_update(out, part);
    if (field_int(job, "failed") > 0) {
        json_t *failures = mt_store_failures(r, id, err, sizeof err);
        if (failures) json_object_set_new(out, "failed_tasks", failures);
    }
out:
    json_decref(part);
    json_decref(job);
    mt_store_result_destroy(res);
    return out;
}

static int cmd_result(mt_redis_t *r, const char *id) {
    json_t *out = build_result(r, id, 0);
    if (!out) return EXIT_ERROR;
    int rc = json_dumpf(out, stdout, JSON_COMPACT);
    fputc('\n', stdout);
    json_decref(out);
    return rc == 0 && fflush(stdout) == 0 ? 0 : EXIT_ERROR;
}

/* A JSON string's text in a TSV cell: tab, newline and CR written as \\t,
 * \\n, \\r. Backslashes stay as they are: the result's strings already
 * show a backslash as \\\\ and a byte that is not UTF-8 as \\xNN, so a
 * backslash always starts an escape. */
static void tsv_text(FILE *out, const char *s) {
    for (; *s; s++) {
        if (*s == '\t') fputs("\\t", out);
        else if (*s == '\n') fputs("\\n", out);
        else if (*s == '\r') fputs("\\r", out);
        else fputc(*s, out);
    }
}

static void tsv_scalar(FILE *out, const json_t *v) {
    if (json_is_string(v)) tsv_text(out, json_string_value(v));
    else if (json_is_integer(v)) fprintf(out, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v)) fprintf(out, "%.17g", json_real_value(v));
    else if (json_is_true(v)) fputs("true", out);
    else if (json_is_false(v)) fputs("false", out);
    /* null: an empty cell */
}

/* A row per scalar: its path (keys and array indexes joined by '.'), a
 * tab, its value. */
static void tsv_flatten(FILE *out, const json_t *v, mt_buf_t *path) {
    size_t at = path->len;
    if (json_is_object(v) || json_is_array(v)) {
        const char *k;
        json_t *child;
        size_t i;
        char index[24];
        if (json_is_object(v)) {
            json_object_foreach((json_t *)v, k, child) {
                if (at) mt_buf_append(path, ".", 1);
                mt_buf_append(path, k, strlen(k));
                tsv_flatten(out, child, path);
                path->len = at;
            }
        } else {
            json_array_foreach(v, i, child) {
                int n = snprintf(index, sizeof index, "%s%zu", at ? "." : "", i);
                mt_buf_append(path, index, (size_t)n);
                tsv_flatten(out, child, path);
                path->len = at;
            }
        }
        return;
    }
    mt_buf_append(path, "", 1); /* a terminator, not kept */
    tsv_text(out, path->data);
    path->len = at;
    fputc('\t', out);
    tsv_scalar(out, v);
    fputc('\n', out);
}

/* The op's result as TSV: wordcount as WORD<TAB>COUNT rows, most frequent
 * first (ready for sort, join, awk); any other op a row per value. The
 * job's record (state, totals) is left to `mtctl status`, but failed
 * tasks are rows too. */
static int cmd_result_tsv(mt_redis_t *r, const char *id) {
    json_t *res = build_result(r, id, 0);
    if (!res) return EXIT_ERROR;
    json_t *counts = json_object_get(res, "counts");
    if (!strcmp(field_str(res, "op"), "wordcount") && json_is_object(counts)) {
        const char *word;
        json_t *v;
        json_object_foreach(counts, word, v) {
            tsv_text(stdout, word);
            fputc('\t', stdout);
            tsv_scalar(stdout, v);
            fputc('\n', stdout);
        }
        json_object_del(res, "counts");
    }
    static const char *const record[] = {"job", "op", "state", "total", "done", "failed",
                                         "stream", "window_start_ms", "window_end_ms", NULL};
    for (size_t k = 0; record[k]; k++) json_object_del(res, record[k]);
    mt_buf_t path = MT_BUF_INIT;
    const char *key;
    json_t *v;
    json_object_foreach(res, key, v) {
        path.len = 0;
        mt_buf_append(&path, key, strlen(key));
        tsv_flatten(stdout, v, &path);
    }
    mt_buf_free(&path);
    json_decref(res);
    return fflush(stdout) == 0 ? 0 : EXIT_ERROR;
}

static int cmd_cancel(mt_redis_t *r, const char *id) {
    char err[512];
    int rc = mt_store_cancel(r, id, err, sizeof err);
    if (rc < 0) {
        fprintf(stderr, "mtctl: %s%s%s\n", !strcmp(err, "no such job") ? id : "",
                !strcmp(err, "no such job") ? ": " : "", err);
        return EXIT_ERROR;
    }
    if (rc == 0) {
        json_t *job = load_job(r, id);
        fprintf(stderr, "mtctl: job %s has already ended (%s); nothing to cancel\n", id,
                job ? field_str(job, "state") : "?");
        json_decref(job);
        return EXIT_ERROR;
    }
    printf("job %s cancelled\n", id);
    return 0;
}

/* "3s", "5m", "2h", "4d" ago. */
static void age_text(long long ms, char *out, size_t size) {
    long long s = ms > 0 ? ms / 1000 : 0;
    if (s < 120) snprintf(out, size, "%llds", s);
    else if (s < 7200) snprintf(out, size, "%lldm", s / 60);
    else if (s < 172800) snprintf(out, size, "%lldh", s / 3600);
    else snprintf(out, size, "%lldd", s / 86400);
}

/* A listing as one JSON array, for scripts. */
static int print_json(json_t *v) {
    int rc = json_dumpf(v, stdout, JSON_COMPACT | JSON_REAL_PRECISION(6));
    fputc('\n', stdout);
    json_decref(v);
    return rc == 0 && fflush(stdout) == 0 ? 0 : EXIT_ERROR;
}

static int cmd_workers(mt_redis_t *r, int as_json) {
    char err[512];
    json_t *list = mt_store_workers(r, err, sizeof err);
    if (!list) {
        fprintf(stderr, "mtctl: %s\n", err);
        return EXIT_ERROR;
    }
    if (as_json) return print_json(list);
    if (json_array_size(list) == 0) {
        fprintf(stderr, "mtctl: no live workers\n");
        json_decref(list);
        return 0;
    }
    printf("%-28s %-16s %7s %7s %6s %9s %7s %8s %5s %s\n", "WORKER", "GROUP", "THREADS",
           "RUNNING", "QUEUED", "DONE", "FAILED", "TASKS/S", "SEEN", "PARTITIONS");
    long long now = mt_wall_ms();
    size_t i;
    json_t *w;
    json_array_foreach(list, i, w) {
        char seen[16], rate[24];
        age_text(now - field_int(w, "seen_ms"), seen, sizeof seen);
        snprintf(rate, sizeof rate, "%.1f", json_number_value(json_object_get(w, "rate")));
        printf("%-28s %-16s %7lld %7lld %6lld %9lld %7lld %8s %5s %s\n", field_str(w, "id"),
               field_str(w, "group"), (long long)field_int(w, "threads"),
               (long long)field_int(w, "running"), (long long)field_int(w, "queued"),
               (long long)field_int(w, "tasks_done"), (long long)field_int(w, "tasks_failed"),
               rate, seen, field_str(w, "partitions"));
    }
    json_decref(list);
    return fflush(stdout) == 0 ? 0 : EXIT_ERROR;
}

/* exec's concatenated output, byte for byte. */
static int cmd_result_raw(mt_redis_t *r, const char *id) {
    char err[512];
    json_t *job = load_job(r, id);
    if (!job) return EXIT_ERROR;
    json_error_t jerr;
    json_t *args = json_loads(field_str(job, "args"), 0, &jerr);
    const char *merge = json_string_value(json_object_get(args, "merge"));
    int ok = !strcmp(field_str(job, "op"), "exec") && (!merge || !strcmp(merge, "concat"));
    json_decref(args);
    if (!ok) {
        fprintf(stderr, "mtctl: --raw is for exec jobs with --merge concat\n");
        json_decref(job);
        return EXIT_ERROR;
    }
    if (strcmp(field_str(job, "state"), "done") != 0)
        fprintf(stderr, "mtctl: warning: job %s is %s; the output is partial\n", id,
                field_str(job, "state"));
    json_decref(job);
    mt_store_result_t *res;
    if (mt_store_result(r, id, &res, err, sizeof err) != 0) {
        fprintf(stderr, "mtctl: %s\n", err);
        return EXIT_ERROR;
    }
    size_t n;
    const mt_field_t *f = mt_store_result_fields(res, &n);
    int rc = 0;
    for (size_t k = 0; k < n && rc == 0; k++)
        if (f[k].piece && fwrite(f[k].name, 1, f[k].name_len, stdout) != f[k].name_len)
            rc = EXIT_ERROR;
    mt_store_result_destroy(res);
    return fflush(stdout) == 0 ? rc : EXIT_ERROR;
}

/* ---- dead letters ---- */

typedef struct dead_letter {
    int64_t seq;
    int is_result;               /* a result the aggregator could not merge */
    void *value;
    size_t len;
    rd_kafka_headers_t *headers; /* the task's own, to submit it again */
} dead_letter_t;

typedef struct dlq_scan {
    const char *job;        /* only this job's (NULL: all) */
    const char *run;        /* retry: only this submission's tasks */
    int print;
    size_t count;
    dead_letter_t *tasks;   /* retry: collected, one per task number */
    size_t ntasks, cap;
    int oom;
} dlq_scan_t;

/* A header's value as text for one line of output. */
static void header_text(rd_kafka_headers_t *h, const char *name, mt_buf_t *out) {
    const void *v;
    size_t len;
    mt_buf_reset(out);
    if (h && rd_kafka_header_get_last(h, name, &v, &len) == 0 && v)
        mt_utf8_escape(v, len, out);
    else
        mt_buf_append(out, "-", 1);
    for (size_t k = 0; k < out->len; k++) /* keep it one line */
        if (out->data[k] == '\n' || out->data[k] == '\t') out->data[k] = ' ';
    mt_buf_append(out, "", 1);
}

static int on_dead_letter(void *opaque, const rd_kafka_message_t *m) {
    dlq_scan_t *scan = opaque;
    rd_kafka_headers_t *h = NULL;
    rd_kafka_message_headers((rd_kafka_message_t *)m, &h);
    mt_task_t t;
    char err[256];
    int decoded = mt_task_decode(h, &t, err, sizeof err) == 0;
    if (scan->job && strcmp(t.job, scan->job) != 0) return 0;
    scan->count++;
    if (scan->print) {
        mt_buf_t src = MT_BUF_INIT, job = MT_BUF_INIT, seq = MT_BUF_INIT, why = MT_BUF_INIT;
        header_text(h, "mt-source", &src);
        header_text(h, "mt-job", &job);
        header_text(h, "mt-seq", &seq);
        header_text(h, "mt-error", &why);
        printf("%-24s %-32s %-8s %s\n", src.data, job.data, seq.data, why.data);
        mt_buf_free(&src);
        mt_buf_free(&job);
        mt_buf_free(&seq);
        mt_buf_free(&why);
    }
    /* tasks that failed, and results that could not be merged: both can be
     * sent again */
    if (!scan->run || !decoded || (t.type != MT_MSG_TASK && t.type != MT_MSG_RESULT) ||
        strcmp(t.run, scan->run) != 0)
        return 0;
    for (size_t k = 0; k < scan->ntasks; k++)
        if (scan->tasks[k].seq == t.seq) return 0; /* dead-lettered twice */
    if (scan->ntasks == scan->cap) {
        size_t cap = scan->cap ? scan->cap * 2 : 64;
        dead_letter_t *d = realloc(scan->tasks, cap * sizeof *d);
        if (!d) return scan->oom = 1;
        scan->tasks = d;
        scan->cap = cap;
    }
    dead_letter_t *d = &scan->tasks[scan->ntasks];
    d->seq = t.seq;
    d->is_result = t.type == MT_MSG_RESULT;
    d->len = m->len;
    d->value = malloc(m->len ? m->len : 1);
    d->headers = rd_kafka_headers_copy(h);
    if (!d->value || !d->headers) {
        free(d->value);
        if (d->headers) rd_kafka_headers_destroy(d->headers);
        return scan->oom = 1;
    }
    if (m->len) memcpy(d->value, m->payload, m->len);
    /* the retried task is a task again: no reason, no origin, no deadline */
    rd_kafka_header_remove(d->headers, "mt-error");
    rd_kafka_header_remove(d->headers, "mt-source");
    rd_kafka_header_remove(d->headers, "mt-deadline");
    scan->ntasks++;
    return 0;
}

static void free_scan(dlq_scan_t *scan) {
    for (size_t k = 0; k < scan->ntasks; k++) {
        free(scan->tasks[k].value);
        if (scan->tasks[k].headers) rd_kafka_headers_destroy(scan->tasks[k].headers);
    }
    free(scan->tasks);
}

static int cmd_dlq(const mt_config_t *cfg, const char *id) {
    char err[512];
    dlq_scan_t scan = {id, NULL, 1, 0, NULL, 0, 0, 0};
    printf("%-24s %-32s %-8s %s\n", "SOURCE", "JOB", "TASK", "ERROR");
    if (mt_kafka_scan(cfg, cfg->dlq_topic, on_dead_letter, &scan, 10000, err,
                      sizeof err) != 0) {
        fprintf(stderr, "mtctl: %s\n", err);
        return EXIT_ERROR;
    }
    fprintf(stderr, "mtctl: %zu dead letter(s)%s%s\n", scan.count, id ? " of job " : "",
            id ? id : "");
    return 0;
}

static int cmd_retry(mt_redis_t *r, const mt_config_t *cfg, const char *id) {
    char err[512] = "";
    json_t *job = load_job(r, id);
    if (!job) return EXIT_ERROR;
    char run[MT_RUN_ID_MAX + 1];
    snprintf(run, sizeof run, "%s", field_str(job, "run"));
    const char *topic = !strcmp(field_str(job, "priority"), "high") ? cfg->priority_topic
                                                                    : cfg->tasks_topic;
    json_decref(job);
    dlq_scan_t scan = {id, run, 0, 0, NULL, 0, 0, 0};
    int64_t *seqs = NULL;
    unsigned char *reopened = NULL;
    rd_kafka_t *rk = NULL;
    int rc = EXIT_ERROR, n = 0;
    if (mt_kafka_scan(cfg, cfg->dlq_topic, on_dead_letter, &scan, 10000, err,
                      sizeof err) != 0)
        goto fail;
    if (scan.oom) {
        snprintf(err, sizeof err, "out of memory");
        goto fail;
    }
    if (scan.ntasks == 0) {
        fprintf(stderr, "mtctl: job %s has no dead-lettered tasks to retry\n", id);
        rc = 0;
        goto out;
    }
    seqs = malloc(scan.ntasks * sizeof *seqs);
    reopened = malloc(scan.ntasks);
    if (!seqs || !reopened) {
        snprintf(err, sizeof err, "out of memory");
        goto fail;
    }
    for (size_t k = 0; k < scan.ntasks; k++) seqs[k] = scan.tasks[k].seq;
    if (!(rk = mt_kafka_producer_new(cfg, 1, NULL, NULL, err, sizeof err))) goto fail;
    /* Reopen first, then submit: a result arriving for a task still
     * counted as failed would be dropped as a duplicate. */
    if ((n = mt_store_reopen(r, id, run, seqs, scan.ntasks, reopened, err, sizeof err)) < 0)
        goto fail;
    if (n == 0) {
        fprintf(stderr, "mtctl: job %s has no failed tasks left to retry (its %zu "
                "dead-lettered task(s) were retried already)\n", id, scan.ntasks);
        rc = 0;
        goto out;
    }
    int sent = 0;
    for (size_t k = 0; k < scan.ntasks; k++) {
        if (!reopened[k]) continue;
        dead_letter_t *d = &scan.tasks[k];
        rd_kafka_resp_err_t e = rd_kafka_producev(
            rk, RD_KAFKA_V_TOPIC(d->is_result ? cfg->results_topic : topic),
            RD_KAFKA_V_KEY(id, strlen(id)),
            RD_KAFKA_V_VALUE(d->value, d->len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_HEADERS(d->headers), RD_KAFKA_V_END);
        if (e) {
            snprintf(err, sizeof err, "cannot submit task %lld: %s", (long long)d->seq,
                     rd_kafka_err2str(e));
            break;
        }
        d->headers = NULL; /* taken by producev */
        sent++;
    }
    if (mt_kafka_flush(rk, 30000) > 0 && !err[0])
        snprintf(err, sizeof err, "Kafka did not acknowledge every task");
    if (sent < n || err[0]) {
        /* what was reopened counts as failed again, with the reason */
        char why[600], e2[256];
        snprintf(why, sizeof why, "retry not submitted: %s", err);
        for (size_t k = 0; k < scan.ntasks; k++) {
            int completed;
            if (reopened[k] && mt_store_merge_failed(r, id, run, seqs[k], why, strlen(why),
                                                     &completed, e2, sizeof e2) < 0)
                fprintf(stderr, "mtctl: %s\n", e2);
        }
        goto fail;
    }
    int results = 0;
    for (size_t k = 0; k < scan.ntasks; k++) results += reopened[k] && scan.tasks[k].is_result;
    if (results)
        printf("%d task(s) of job %s submitted again: %d to %s, %d result(s) to %s\n", n, id,
               n - results, topic, results, cfg->results_topic);
    else
        printf("%d task(s) of job %s submitted again to %s\n", n, id, topic);
    rc = 0;
    goto out;
fail:
    fprintf(stderr, "mtctl: %s\n", err);
out:
    if (rk) rd_kafka_destroy(rk);
    free_scan(&scan);
    free(seqs);
    free(reopened);
    return rc;
}

static int cmd_top(mt_redis_t *r, const char *id, long n) {
    json_t *out = build_result(r, id, 0);
    if (!out) return EXIT_ERROR;
    json_t *counts = json_object_get(out, "counts");
    if (!json_is_object(counts)) {
        fprintf(stderr, "mtctl: top needs a wordcount job\n");
        json_decref(out);
        return EXIT_ERROR;
    }
    const char *word;
    json_t *v;
    long k = 0;
    /* finish() inserts words most frequent first */
    json_object_foreach(counts, word, v) {
        if (k++ >= n) break;
        printf("%10lld  %s\n", (long long)json_integer_value(v), word);
    }
    json_decref(out);
    return 0;
}

/* ---- streams ---- */

/* "2026-12-03T18:00:10.500Z" for a time in ms. */
static void utc_text(long long ms, char *out, size_t size) {
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    char base[32];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, size, "%s.%03lldZ", base, ms % 1000);
}

/* The op's part of a window's result: the result minus the job's record. */
static char *op_part(json_t *res) {
    static const char *const record[] = {"job", "op", "state", "total", "done", "failed",
                                         "stream", "window_start_ms", "window_end_ms", NULL};
    json_t *copy = json_copy(res);
    for (size_t k = 0; record[k]; k++) json_object_del(copy, record[k]);
    char *text = json_dumps(copy, JSON_COMPACT);
    json_decref(copy);
    return text;
}

static int cmd_windows(mt_redis_t *r, const char *stream, long n) {
    char err[512];
    json_t *ids = mt_store_windows(r, stream, (size_t)n, err, sizeof err);
    if (!ids) {
        fprintf(stderr, "mtctl: %s\n", err);
        return EXIT_ERROR;
    }
    if (json_array_size(ids) == 0) fprintf(stderr, "mtctl: no windows of stream %s\n", stream);
    else printf("%-24s %-17s %-9s %s\n", "WINDOW (UTC)", "STATE", "TASKS", "RESULT");
    size_t i;
    json_t *idv;
    json_array_foreach(ids, i, idv) {
        json_t *res = build_result(r, json_string_value(idv), 1);
        if (!res) continue; /* expired meanwhile */
        char when[40], tasks[48];
        utc_text(json_integer_value(json_object_get(res, "window_start_ms")), when, sizeof when);
        if (json_object_get(res, "total"))
            snprintf(tasks, sizeof tasks, "%lld/%lld",
                     (long long)field_int(res, "done"), (long long)field_int(res, "total"));
        else
            snprintf(tasks, sizeof tasks, "%lld/?", (long long)field_int(res, "done"));
        char *part = op_part(res);
        printf("%-24s %-17s %-9s %s\n", when, field_str(res, "state"), tasks, part ? part : "");
        free(part);
        json_decref(res);
    }
    json_decref(ids);
    return fflush(stdout) == 0 ? 0 : EXIT_ERROR;
}

/* Prints each window's result (one JSON line) once it completes, oldest
 * first, until interrupted. Windows complete already when it starts are
 * not printed. */
static int cmd_follow(mt_redis_t *r, const char *stream) {
    enum { SEEN = 512 };
    char seen[SEEN][MT_JOB_ID_MAX + 1];
    size_t nseen = 0, next = 0;
    int first = 1;
    while (!mt_stop_requested) {
        char err[512];
        json_t *ids = mt_store_windows(r, stream, 64, err, sizeof err);
        if (!ids) {
            fprintf(stderr, "mtctl: %s; trying again\n", err);
            sleep(1);
            continue;
        }
        for (size_t i = json_array_size(ids); i-- > 0;) { /* oldest first */
            const char *id = json_string_value(json_array_get(ids, i));
            int known = 0;
            for (size_t k = 0; k < nseen && !known; k++) known = !strcmp(seen[k], id);
            if (known) continue;
            json_t *job = NULL;
            if (mt_store_job(r, id, &job, err, sizeof err) <= 0) continue;
            int final = is_final(field_str(job, "state"));
            json_decref(job);
            if (!final) continue;
            snprintf(seen[next], sizeof seen[next], "%s", id);
            next = (next + 1) % SEEN;
            if (nseen < SEEN) nseen++;
            if (first) continue;
            json_t *res = build_result(r, id, 1);
            if (!res) continue;
            json_dumpf(res, stdout, JSON_COMPACT);
            fputc('\n', stdout);
            fflush(stdout);
            json_decref(res);
        }
        json_decref(ids);
        first = 0;
        usleep(100 * 1000);
    }
    return 0;
}

static int cmd_jobs(mt_redis_t *r, long limit, int as_json) {
    char err[512];
    json_t *ids = mt_store_jobs(r, (size_t)limit, err, sizeof err);
    if (!ids) {
        fprintf(stderr, "mtctl: %s\n", err);
        return EXIT_ERROR;
    }
    if (as_json) { /* each job's record, with its id */
        json_t *list = json_array();
        size_t i;
        json_t *idv;
        json_array_foreach(ids, i, idv) {
            json_t *job = NULL;
            if (mt_store_job(r, json_string_value(idv), &job, err, sizeof err) <= 0) continue;
            json_object_set(job, "job", idv);
            json_array_append_new(list, job);
        }
        json_decref(ids);
        return print_json(list);
    }
    if (json_array_size(ids) == 0) {
        fprintf(stderr, "mtctl: no jobs\n");
        json_decref(ids);
        return 0;
    }
    size_t i;
    json_t *idv;
    long long now = mt_wall_ms();
    printf("%-40s %-10s %-16s %13s %6s %5s %4s %9s\n", "JOB", "OP", "STATE", "TASKS", "FAILED",
           "DONE%", "AGE", "ELAPSED");
    json_array_foreach(ids, i, idv) {
        json_t *job = NULL;
        if (mt_store_job(r, json_string_value(idv), &job, err, sizeof err) <= 0) continue;
        long long done = field_int(job, "done"), failed = field_int(job, "failed"),
                  total = field_int(job, "total");
        int known = json_object_get(job, "total") != NULL;
        char tasks[48], pct[8] = "-", age[16], elapsed[24] = "-";
        if (known) {
            snprintf(tasks, sizeof tasks, "%lld/%lld", done + failed, total);
            snprintf(pct, sizeof pct, "%.0f",
                     total ? 100.0 * (double)(done + failed) / (double)total : 100.0);
        } else {
            snprintf(tasks, sizeof tasks, "%lld/?", done + failed);
        }
        long long created = field_int(job, "created_ms"), finished = field_int(job, "finished_ms");
        age_text(now - created, age, sizeof age);
        if (created)
            snprintf(elapsed, sizeof elapsed, "%.1fs",
                     (double)((finished ? finished : now) - created) / 1000.0);
        printf("%-40s %-10s %-16s %13s %6lld %5s %4s %9s\n", json_string_value(idv),
               field_str(job, "op"), field_str(job, "state"), tasks, failed, pct, age, elapsed);
        json_decref(job);
    }
    json_decref(ids);
    return fflush(stdout) == 0 ? 0 : EXIT_ERROR;
}

int main(int argc, char **argv) {
    static const struct option longopts[] = {
        MT_CONFIG_LONGOPTS,
        {"timeout", required_argument, NULL, 'T'},
        {"progress", no_argument, NULL, 'P'},
        {"raw", no_argument, NULL, 'W'},
        {"format", required_argument, NULL, 'O'},
        {NULL, 0, NULL, 0},
    };
    mt_config_t cfg;
    char err[512];
    double timeout = 0;
    int progress = 0, raw = 0, tsv = 0, format_given = 0, opt, rc;

    mt_log_init("mtctl");
    if (mt_config_init(&cfg, NULL, NULL, err, sizeof err) != 0) usage(err);
    while ((opt = getopt_long(argc, argv, MT_CONFIG_SHORTOPTS, longopts, NULL)) != -1) {
        switch (opt) {
        case 'T': {
            char *end;
            timeout = strtod(optarg, &end);
            if (*end || timeout < 0) usage("--timeout takes seconds");
            break;
        }
        case 'P': progress = 1; break;
        case 'W': raw = 1; break;
        case 'O':
            if (strcmp(optarg, "json") && strcmp(optarg, "tsv"))
                usage("--format is json or tsv");
            tsv = !strcmp(optarg, "tsv");
            format_given = 1;
            break;
        case MT_OPT_HELP: usage(NULL);
        case MT_OPT_VERSION: mt_config_print_version(stdout, "mtctl"); return 0;
        case '?': usage("");
        default:
            rc = mt_config_option(&cfg, opt, optarg, err, sizeof err);
            if (rc == 2) return 0;
            if (rc != 1) usage(rc < 0 ? err : "unknown option");
        }
    }
    if (optind >= argc) usage("no command given");
    /* a plugin that does not load only matters for its own jobs' results */
    if (mt_config_load_plugins(&cfg, err, sizeof err) != 0)
        fprintf(stderr, "mtctl: warning: %s\n", err);
    const char *cmd = argv[optind];
    static const char *const commands[] = {
        "jobs", "status", "wait", "watch", "result", "cancel", "workers", "top",
        "delete", "dlq", "windows", "follow", "retry", NULL};
    size_t known = 0;
    while (commands[known] && strcmp(commands[known], cmd) != 0) known++;
    if (!commands[known]) {
        snprintf(err, sizeof err, "unknown command \"%s\"", cmd);
        usage(err);
    }
    /* COMMAND [JOB] (top and windows: and a count): a word more is a mistake */
    int most = !strcmp(cmd, "top") || !strcmp(cmd, "windows") ? 2 : 1;
    if (optind + 1 + most < argc) {
        snprintf(err, sizeof err, "%s takes at most %d argument(s); \"%s\" is one too many",
                 cmd, most, argv[optind + 1 + most]);
        usage(err);
    }
    const char *id = optind + 1 < argc ? argv[optind + 1] : NULL;
    int is_stream_cmd = !strcmp(cmd, "windows") || !strcmp(cmd, "follow");
    int needs_job = strcmp(cmd, "jobs") != 0 && strcmp(cmd, "dlq") != 0 &&
                    strcmp(cmd, "workers") != 0;
    if (!strcmp(cmd, "jobs")) id = NULL; /* its argument is a count */
    if (needs_job && !id) usage("this command needs a job id");
    if (id && mt_job_id_check(id, err, sizeof err) != 0) usage(err);

    mt_redis_t *r = strcmp(cmd, "dlq") ? mt_redis_new(cfg.redis, 5000, err, sizeof err) : NULL;
    rc = EXIT_ERROR;
    if (!strcmp(cmd, "dlq")) {
        rc = cmd_dlq(&cfg, id);
    } else if (!r) {
        fprintf(stderr, "mtctl: %s\n", err);
    } else if (!strcmp(cmd, "jobs")) {
        long n = 20;
        if (optind + 1 < argc && mt_parse_long(argv[optind + 1], 1, 100000, &n))
            usage("jobs takes a count");
        if (tsv) usage("jobs prints a table, or --format json");
        rc = cmd_jobs(r, n, format_given);
    } else if (!strcmp(cmd, "workers")) {
        if (tsv) usage("workers prints a table, or --format json");
        rc = cmd_workers(r, format_given);
    } else if (!strcmp(cmd, "cancel")) {
        rc = cmd_cancel(r, id);
    } else if (!strcmp(cmd, "status")) {
        rc = cmd_status(r, id);
    } else if (!strcmp(cmd, "wait")) {
        rc = cmd_wait(r, id, timeout, progress ? SHOW_PROGRESS : SHOW_NONE);
    } else if (!strcmp(cmd, "watch")) {
        mt_signal_install();
        rc = cmd_wait(r, id, timeout, SHOW_WATCH);
    } else if (!strcmp(cmd, "result")) {
        if (raw && tsv) usage("--raw and --format do not go together");
        rc = raw ? cmd_result_raw(r, id) : tsv ? cmd_result_tsv(r, id) : cmd_result(r, id);
    } else if (is_stream_cmd) {
        long n = 10;
        if (optind + 2 < argc && mt_parse_long(argv[optind + 2], 1, 100000, &n))
            usage("windows takes a count");
        if (!strcmp(cmd, "follow")) mt_signal_install();
        rc = !strcmp(cmd, "windows") ? cmd_windows(r, id, n) : cmd_follow(r, id);
    } else if (!strcmp(cmd, "retry")) {
        rc = cmd_retry(r, &cfg, id);
    } else if (!strcmp(cmd, "top")) {
        long n = 20;
        if (optind + 2 < argc && mt_parse_long(argv[optind + 2], 1, 1000000, &n))
            usage("top takes a count");
        rc = cmd_top(r, id, n);
    } else if (!strcmp(cmd, "delete")) {
        int d = mt_store_delete(r, id, err, sizeof err);
        if (d < 0) fprintf(stderr, "mtctl: %s\n", err);
        else if (d == 0) fprintf(stderr, "mtctl: no job \"%s\"\n", id);
        rc = d > 0 ? 0 : EXIT_ERROR;
    } /* an unknown command was refused above */
    mt_redis_destroy(r);
    mt_config_free(&cfg);
    return rc;
}

/* mtctl - look at jobs: status, progress, results.
 *
 * Reads only Redis (see README.md, "Redis key layout"), so it works from
 * anywhere Redis is reachable; everything it shows can also be read with
 * redis-cli. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mt_clock.h"
#include "mt_config.h"
#include "mt_log.h"
#include "mt_op.h"
#include "mt_store.h"
#include "mt_task.h"
#include "mt_utf8.h"

/* Exit codes of `mtctl wait`, documented in --help. */
enum { EXIT_DONE = 0, EXIT_ERROR = 1, EXIT_TIMEOUT = 2, EXIT_FAILED = 3 };

static _Noreturn void usage(const char *reason) {
    FILE *out = reason ? stderr : stdout;
    if (reason) fprintf(stderr, "mtctl: %s\n\n", reason);
    fprintf(out,
        "Usage: mtctl [options] COMMAND [ARGS]\n"
        "Commands:\n"
        "  jobs                     list jobs, newest first\n"
        "  status JOB               state, tasks done/total, failed\n"
        "  wait JOB [--timeout SEC] wait until the job is complete; exit 0 when done,\n"
        "                           2 on timeout, 3 when done with errors or failed\n"
        "  result JOB               the result as JSON (wordcount: \"counts\")\n"
        "  top JOB [N]              wordcount: the N (20) most frequent words\n"
        "  delete JOB               remove the job and its result from Redis\n"
        "Options:\n"
        "  -r, --redis ADDR         Redis (MT_REDIS; " MT_DEFAULT_REDIS ")\n"
        "      --timeout SEC        for wait (default: no limit)\n"
        "      --progress           for wait: print progress on stderr\n"
        "  -q, --quiet              errors only\n"
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
        printf("tasks:    %lld done, %lld failed (total not known yet)\n",
               (long long)done, (long long)failed);
    json_int_t created = field_int(job, "created_ms"),
               finished = field_int(job, "finished_ms");
    if (created && finished)
        printf("elapsed:  %.3f s\n", (double)(finished - created) / 1000.0);
    if (*field_str(job, "error")) printf("error:    %s\n", field_str(job, "error"));
    if (*field_str(job, "note")) printf("note:     %s\n", field_str(job, "note"));
    json_decref(job);
    return 0;
}

static int is_final(const char *state) {
    return !strcmp(state, "done") || !strcmp(state, "done_with_errors") ||
           !strcmp(state, "failed");
}

static int cmd_wait(mt_redis_t *r, const char *id, double timeout, int progress) {
    double start = now_s(), last_print = 0;
    for (;;) {
        char err[512];
        json_t *job = NULL;
        int rc = mt_store_job(r, id, &job, err, sizeof err);
        if (rc == 0) {
            fprintf(stderr, "mtctl: no job \"%s\"\n", id);
            return EXIT_ERROR;
        }
        if (rc > 0) {
            const char *state = field_str(job, "state");
            if (progress && (now_s() - last_print >= 1.0 || is_final(state))) {
                json_int_t total = field_int(job, "total");
                json_int_t n = field_int(job, "done") + field_int(job, "failed");
                if (json_object_get(job, "total"))
                    fprintf(stderr, "%s: %s %lld/%lld tasks (%.0f%%), %.1f s\n", id,
                            state, (long long)n, (long long)total,
                            total ? 100.0 * (double)n / (double)total : 100.0,
                            now_s() - start);
                else
                    fprintf(stderr, "%s: %s %lld tasks so far, %.1f s\n", id, state,
                            (long long)n, now_s() - start);
                last_print = now_s();
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
        if (timeout > 0 && now_s() - start >= timeout) {
            fprintf(stderr, "mtctl: job %s not complete after %.0f s\n", id, timeout);
            return EXIT_TIMEOUT;
        }
        usleep(100 * 1000);
    }
}

/* The job record plus the op's finished result, as one JSON object. */
static json_t *build_result(mt_redis_t *r, const char *id) {
    char err[512];
    json_t *job = load_job(r, id), *out = NULL, *part = NULL;
    mt_store_result_t *res = NULL;
    if (!job) return NULL;
    const mt_op_t *op = mt_op_find(field_str(job, "op"));
    if (!op) {
        fprintf(stderr, "mtctl: job %s has unknown op \"%s\"\n", id, field_str(job, "op"));
        goto out;
    }
    if (strcmp(field_str(job, "state"), "done") != 0)
        fprintf(stderr, "mtctl: warning: job %s is %s; the result is partial\n", id,
                field_str(job, "state"));
    if (mt_store_result(r, id, &res, err, sizeof err) != 0) {
        fprintf(stderr, "mtctl: %s\n", err);
        goto out;
    }
    size_t n;
    const mt_field_t *fields = mt_store_result_fields(res, &n);
    json_error_t jerr;
    json_t *args = *field_str(job, "args") ? json_loads(field_str(job, "args"), 0, &jerr) : NULL;
    part = op->finish(args, fields, n, err, sizeof err);
    json_decref(args);
    if (!part) {
        fprintf(stderr, "mtctl: %s\n", err);
        goto out;
    }
    out = json_object();
    json_object_set_new(out, "job", json_string(id));
    json_object_set(out, "op", json_object_get(job, "op"));
    json_object_set(out, "state", json_object_get(job, "state"));
    static const char *const copied[] = {"total", "done", "failed", NULL};
    for (size_t k = 0; copied[k]; k++)
        if (json_object_get(job, copied[k]))
            json_object_set(out, copied[k], json_object_get(job, copied[k]));
    json_object_update(out, part);
out:
    json_decref(part);
    json_decref(job);
    mt_store_result_destroy(res);
    return out;
}

static int cmd_result(mt_redis_t *r, const char *id) {
    json_t *out = build_result(r, id);
    if (!out) return EXIT_ERROR;
    int rc = json_dumpf(out, stdout, JSON_COMPACT);
    fputc('\n', stdout);
    json_decref(out);
    return rc == 0 && fflush(stdout) == 0 ? 0 : EXIT_ERROR;
}

static int cmd_top(mt_redis_t *r, const char *id, long n) {
    json_t *out = build_result(r, id);
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

static int cmd_jobs(mt_redis_t *r) {
    char err[512];
    json_t *ids = mt_store_jobs(r, 100, err, sizeof err);
    if (!ids) {
        fprintf(stderr, "mtctl: %s\n", err);
        return EXIT_ERROR;
    }
    size_t i;
    json_t *idv;
    printf("%-34s %-12s %-17s %s\n", "JOB", "OP", "STATE", "TASKS");
    json_array_foreach(ids, i, idv) {
        json_t *job = NULL;
        if (mt_store_job(r, json_string_value(idv), &job, err, sizeof err) <= 0) continue;
        char tasks[64];
        if (json_object_get(job, "total"))
            snprintf(tasks, sizeof tasks, "%lld/%lld", (long long)field_int(job, "done"),
                     (long long)field_int(job, "total"));
        else
            snprintf(tasks, sizeof tasks, "%lld/?", (long long)field_int(job, "done"));
        printf("%-34s %-12s %-17s %s\n", json_string_value(idv), field_str(job, "op"),
               field_str(job, "state"), tasks);
        json_decref(job);
    }
    json_decref(ids);
    return 0;
}

int main(int argc, char **argv) {
    static const struct option longopts[] = {
        {"redis", required_argument, NULL, 'r'},
        {"timeout", required_argument, NULL, 'T'},
        {"progress", no_argument, NULL, 'P'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    mt_config_t cfg;
    char err[512];
    double timeout = 0;
    int progress = 0, opt;

    mt_log_init("mtctl");
    if (mt_config_init(&cfg, NULL, NULL, err, sizeof err) != 0) usage(err);
    while ((opt = getopt_long(argc, argv, "r:qh", longopts, NULL)) != -1) {
        switch (opt) {
        case 'r':
            free(cfg.redis);
            cfg.redis = strdup(optarg);
            break;
        case 'T': {
            char *end;
            timeout = strtod(optarg, &end);
            if (*end || timeout < 0) usage("--timeout takes seconds");
            break;
        }
        case 'P': progress = 1; break;
        case 'q': mt_log_level = MT_LOG_ERROR; break;
        case 'h': usage(NULL);
        case 'V': mt_config_print_version(stdout, "mtctl"); return 0;
        default: usage("unknown option");
        }
    }
    if (optind >= argc) usage("no command given");
    const char *cmd = argv[optind];
    const char *id = optind + 1 < argc ? argv[optind + 1] : NULL;
    int needs_job = strcmp(cmd, "jobs") != 0;
    if (needs_job && !id) usage("this command needs a job id");
    if (id && mt_job_id_check(id, err, sizeof err) != 0) usage(err);

    mt_redis_t *r = mt_redis_new(cfg.redis, 5000, err, sizeof err);
    int rc = EXIT_ERROR;
    if (!r) {
        fprintf(stderr, "mtctl: %s\n", err);
    } else if (!strcmp(cmd, "jobs")) {
        rc = cmd_jobs(r);
    } else if (!strcmp(cmd, "status")) {
        rc = cmd_status(r, id);
    } else if (!strcmp(cmd, "wait")) {
        rc = cmd_wait(r, id, timeout, progress);
    } else if (!strcmp(cmd, "result")) {
        rc = cmd_result(r, id);
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
    } else {
        usage("unknown command");
    }
    mt_redis_destroy(r);
    mt_config_free(&cfg);
    return rc;
}

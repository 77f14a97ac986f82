/* mt_op_sleep.c - the sleep op: counts lines and bytes, after sleeping.
 *
 * A synthetic load for failure and latency tests and for benchmarks: each
 * task takes args.ms milliseconds (default 0) however small it is, and its
 * result (tasks, lines, bytes) is exact and easy to check, so a task lost or
 * counted twice shows at once. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mt_op.h"


static int sleep_map(const mt_map_ctx_t *ctx, const void *data, size_t len,
                     mt_delta_t *out, char *err, size_t errsize) {
    json_t *ms = ctx->args ? json_object_get(ctx->args, "ms") : NULL;
    if (ms && (!json_is_integer(ms) || json_integer_value(ms) < 0 ||
               json_integer_value(ms) > 86400000)) {
        snprintf(err, errsize, "sleep: \"ms\" must be a whole number of milliseconds");
        return -1;
    }
    if (ms) {
        long long v = json_integer_value(ms);
        struct timespec ts = {(time_t)(v / 1000), (long)(v % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
            ;
    }
    int64_t lines = 0;
    for (const char *p = data, *end = p + len;
         (p = memchr(p, '\n', (size_t)(end - p))) != NULL; p++)
        lines++;
    if (mt_delta_add_int(out, "tasks", 5, 1) || mt_delta_add_int(out, "lines", 5, lines) ||
        mt_delta_add_int(out, "bytes", 5, (int64_t)len)) {
        snprintf(err, errsize, "out of memory");
        return -1;
    }
    return 0;
}

static json_t *sleep_finish(const json_t *args, const mt_field_t *fields,
                            size_t n, char *err, size_t errsize) {
    (void)args;
    (void)err;
    (void)errsize;
    json_t *res = json_pack("{s:i,s:i,s:i}", "tasks", 0, "lines", 0, "bytes", 0);
    for (size_t k = 0; res && k < n; k++) {
        char name[8];
        if (fields[k].name_len >= sizeof name) continue;
        memcpy(name, fields[k].name, fields[k].name_len);
        name[fields[k].name_len] = '\0';
        if (json_object_get(res, name))
            json_object_set_new(res, name, json_integer(strtoll(fields[k].value, NULL, 10)));
    }
    return res;
}

static int sleep_check_args(const json_t *args, char *err, size_t errsize) {
    static const char *const known[] = {"ms", NULL};
    return mt_op_known_keys("sleep", args, known, err, errsize);
}

const mt_op_t mt_op_sleep = {
    .name = "sleep",
    .summary = "count tasks, lines and bytes after sleeping args.ms per task (tests)",
    .unit = "line",
    .boundary = mt_op_newline,
    .check_args = sleep_check_args,
    .map = sleep_map,
    .finish = sleep_finish,
};

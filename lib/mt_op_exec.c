/* mt_op_exec.c - the exec op: any program as a micro-task.
 *
 * Each task's bytes go to the program's stdin; its stdout is the partial
 * result (mt_exec.h runs it: argv without a shell unless asked, a timeout,
 * an output limit). How outputs combine is args.merge:
 *   concat  outputs concatenated in task order: each is a piece at its task
 *           number (MT_DELTA_PIECE), so order does not depend on which
 *           task finishes first;
 *   sum     each output is a JSON number or an object of numbers (nested
 *           objects allowed): summed key by key inside Redis as tasks
 *           finish (MT_DELTA_FSUM, one field per path: each key preceded
 *           by a NUL, which JSON keys cannot hold; a bare number is the
 *           empty path). Tasks whose outputs disagree in shape (a number
 *           here, an object there) make the result an error, not a guess;
 *   json    each output is any JSON value, kept per task, then merged in
 *           task order when read: objects key by key, numbers added,
 *           arrays concatenated, anything else replaced by the later task.
 * A failure (non-zero exit, a signal, a timeout, too much output, output
 * that is not the JSON asked for) fails the map, so the worker retries the
 * task and at last dead-letters it with the reason. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mt_exec.h"
#include "mt_op.h"
#include "mt_utf8.h"

#define EXEC_DEFAULT_TIMEOUT_MS 60000
#define EXEC_DEFAULT_MAX_OUTPUT (512 * 1024)
/* An output travels as one result message: keep it under Kafka's default
 * message size limit (1 MB). */
#define EXEC_MAX_OUTPUT 1000000
#define EXEC_MAX_ARGS 256

typedef enum { MERGE_CONCAT, MERGE_SUM, MERGE_JSON } merge_mode_t;

typedef struct exec_args {
    const char *argv[EXEC_MAX_ARGS + 1];
    int shell;
    long long timeout_ms;
    long long max_output;
    merge_mode_t merge;
} exec_args_t;

static int read_args(const json_t *args, exec_args_t *a, char *err,
                     size_t errsize) {
    json_t *argv = args ? json_object_get(args, "argv") : NULL;
    json_t *shell = args ? json_object_get(args, "shell") : NULL;
    json_t *timeout = args ? json_object_get(args, "timeout_ms") : NULL;
    json_t *max = args ? json_object_get(args, "max_output") : NULL;
    json_t *merge = args ? json_object_get(args, "merge") : NULL;
    size_t n = json_array_size(argv);
    if (!json_is_array(argv) || n == 0 || n > EXEC_MAX_ARGS) {
        snprintf(err, errsize, "exec: no program to run: give it after --, as in "
                 "mt-producer --op exec FILE -- wc -l (or \"argv\", a list of 1 to "
                 "%d strings, in --args)", EXEC_MAX_ARGS);
        return -1;
    }
    for (size_t k = 0; k < n; k++) {
        json_t *s = json_array_get(argv, k);
        if (!json_is_string(s) || strlen(json_string_value(s)) != json_string_length(s)) {
            snprintf(err, errsize, "exec: argument %zu is not a string without NULs", k);
            return -1;
        }
        a->argv[k] = json_string_value(s);
    }
    a->argv[n] = NULL;
    if (shell && !json_is_boolean(shell)) {
        snprintf(err, errsize, "exec: \"shell\" must be true or false");
        return -1;
    }
    a->shell = shell && json_is_true(shell);
    if (a->shell && n != 1) {
        snprintf(err, errsize, "exec: with \"shell\", \"argv\" is one command line");
        return -1;
    }
    if (timeout && (!json_is_integer(timeout) || json_integer_value(timeout) < 1)) {
        snprintf(err, errsize, "exec: \"timeout_ms\" must be a positive whole number");
        return -1;
    }
    if (max && (!json_is_integer(max) || json_integer_value(max) < 1 ||
                json_integer_value(max) > EXEC_MAX_OUTPUT)) {
        snprintf(err, errsize, "exec: \"max_output\" must be 1 to %d bytes",
                 EXEC_MAX_OUTPUT);
        return -1;
    }
    a->timeout_ms = timeout ? json_integer_value(timeout) : EXEC_DEFAULT_TIMEOUT_MS;
    a->max_output = max ? json_integer_value(max) : EXEC_DEFAULT_MAX_OUTPUT;
    const char *m = merge ? json_string_value(merge) : "concat";
    if (m && !strcmp(m, "concat")) a->merge = MERGE_CONCAT;
    else if (m && !strcmp(m, "sum")) a->merge = MERGE_SUM;
    else if (m && !strcmp(m, "json")) a->merge = MERGE_JSON;
    else {
        snprintf(err, errsize, "exec: \"merge\" must be concat, sum or json");
        return -1;
    }
    return 0;
}

static int exec_check_args(const json_t *args, char *err, size_t errsize) {
    static const char *const known[] = {"argv", "shell", "timeout_ms", "max_output",
                                        "merge", NULL};
    exec_args_t a;
    return read_args(args, &a, err, errsize) ||
                   mt_op_known_keys("exec", args, known, err, errsize)
               ? -1
               : 0;
}

/* Adds every number of v under path (keys joined with NUL) as a sum. */
static int add_sums(mt_delta_t *out, const json_t *v, mt_buf_t *path,
                    char *err, size_t errsize) {
    if (json_is_number(v)) {
        double x = json_number_value(v);
        return mt_delta_add(out, MT_DELTA_FSUM, path->data ? path->data : "",
                            path->len, 0, x, err, errsize);
    }
    if (!json_is_object(v)) {
        snprintf(err, errsize, "exec: with merge \"sum\" the output must hold "
                 "only numbers and objects of numbers");
        return -1;
    }
    const char *k;
    json_t *child;
    size_t keep = path->len;
    json_object_foreach((json_t *)v, k, child) {
        if (mt_buf_append(path, "", 1) != 0 || mt_buf_append(path, k, strlen(k)) != 0) {
            snprintf(err, errsize, "out of memory");
            return -1;
        }
        int rc = add_sums(out, child, path, err, errsize);
        path->len = keep;
        if (rc != 0) return -1;
    }
    return 0;
}

static int exec_map(const mt_map_ctx_t *ctx, const void *data, size_t len,
                    mt_delta_t *out, char *err, size_t errsize) {
    exec_args_t a;
    if (read_args(ctx->args, &a, err, errsize) != 0) return -1;
    mt_exec_spec_t spec = {a.argv, a.shell, a.timeout_ms, (size_t)a.max_output};
    mt_buf_t output = MT_BUF_INIT, path = MT_BUF_INIT;
    int rc = -1;
    if (mt_exec_run(&spec, data, len, &output, err, errsize) != 0) goto out;
    if (a.merge == MERGE_CONCAT) {
        rc = mt_delta_add_piece(out, ctx->seq, 0, output.data ? output.data : "",
                                output.len, err, errsize);
        goto out;
    }
    json_error_t jerr;
    json_t *v = json_loadb(output.data ? output.data : "", output.len,
                           JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
    if (!v) {
        snprintf(err, errsize, "exec: the output is not JSON: %s (line %d)",
                 jerr.text, jerr.line);
        goto out;
    }
    if (a.merge == MERGE_SUM) {
        rc = add_sums(out, v, &path, err, errsize);
    } else {
        char *compact = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        if (!compact) snprintf(err, errsize, "out of memory");
        else rc = mt_delta_add_piece(out, ctx->seq, 0, compact, strlen(compact),
                                     err, errsize);
        free(compact);
    }
    json_decref(v);
out:
    mt_buf_free(&output);
    mt_buf_free(&path);
    return rc;
}

/* Merges b into *a (both owned by the caller; *a may be replaced).
 * Returns 0, or -1 when numbers added overflow the double range. */
static int merge_json(json_t **a, json_t *b) {
    if (json_is_object(*a) && json_is_object(b)) {
        const char *k;
        json_t *v;
        json_object_foreach(b, k, v) {
            json_t *cur = json_object_get(*a, k);
            if (!cur) {
                json_object_set(*a, k, v);
                continue;
            }
            json_incref(cur);
            int rc = merge_json(&cur, v);
            json_object_set_new(*a, k, cur);
            if (rc != 0) return -1;
        }
        return 0;
    }
    json_t *next;
    json_int_t isum;
    if (json_is_array(*a) && json_is_array(b)) {
        json_array_extend(*a, b);
        return 0;
    } else if (json_is_integer(*a) && json_is_integer(b) &&
               !__builtin_add_overflow(json_integer_value(*a), json_integer_value(b),
                                       &isum)) {
        next = json_integer(isum);
    } else if (json_is_number(*a) && json_is_number(b)) {
        double sum = json_number_value(*a) + json_number_value(b);
        if (!isfinite(sum)) return -1;
        next = json_real(sum);
    } else {
        next = json_incref(b);
    }
    json_decref(*a);
    *a = next;
    return 0;
}

/* A summed value: an integer when it is one (exactly, below 2^53), else a
 * real. NULL when it is not a finite number. */
static json_t *sum_value(const mt_field_t *f) {
    char *end;
    double x = strtod(f->value, &end);
    if (end == f->value || *end || !isfinite(x)) return NULL;
    if (x == floor(x) && fabs(x) < 9007199254740992.0) return json_integer((json_int_t)x);
    return json_real(x);
}

/* Puts v (taken over) at path (each key preceded by a NUL) in *root, making
 * objects on the way; the empty path is a bare number, the root itself.
 * Returns 0, or -1 when the path runs into a number or ends on an object
 * (the tasks' outputs disagree in shape). */
static int set_path(json_t **root, const char *path, size_t len, json_t *v) {
    if (len == 0) {
        if (*root) {
            json_decref(v);
            return -1;
        }
        *root = v;
        return 0;
    }
    if (!*root) *root = json_object();
    json_t *node = *root;
    const char *p = path + 1, *end = path + len;
    for (;;) {
        if (!json_is_object(node)) break;
        const char *sep = memchr(p, '\0', (size_t)(end - p));
        size_t klen = (size_t)((sep ? sep : end) - p);
        json_t *next = json_object_getn(node, p, klen);
        if (!sep) {
            if (next) break;
            return json_object_setn_new(node, p, klen, v) ? -1 : 0;
        }
        if (!next) {
            next = json_object();
            json_object_setn_new(node, p, klen, next);
        }
        node = next;
        p = sep + 1;
    }
    json_decref(v);
    return -1;
}

/* {"output": ...}: the concatenated text (\xNN for bytes that are not
 * UTF-8), the summed numbers, or the merged JSON. */
static json_t *exec_finish(const json_t *args, const mt_field_t *fields,
                           size_t n, char *err, size_t errsize) {
    exec_args_t a;
    if (read_args(args, &a, err, errsize) != 0) return NULL;
    json_t *output = NULL;
    if (a.merge == MERGE_CONCAT) {
        mt_buf_t text = MT_BUF_INIT;
        for (size_t k = 0; k < n; k++)
            if (fields[k].piece && mt_utf8_escape(fields[k].name, fields[k].name_len, &text))
                break;
        output = json_stringn(text.data ? text.data : "", text.len);
        mt_buf_free(&text);
    } else if (a.merge == MERGE_SUM) {
        for (size_t k = 0; k < n; k++) {
            if (fields[k].piece) continue;
            json_t *v = sum_value(&fields[k]);
            if (!v || set_path(&output, fields[k].name, fields[k].name_len, v) != 0) {
                snprintf(err, errsize, "exec: %s", v ? "the tasks' outputs disagree in "
                         "shape (a number in one, an object in another)"
                         : "a stored sum is not a finite number");
                json_decref(output);
                return NULL;
            }
        }
        if (!output) output = json_object();
    } else {
        for (size_t k = 0; k < n; k++) {
            if (!fields[k].piece) continue;
            json_error_t jerr;
            json_t *v = json_loadb(fields[k].name, fields[k].name_len, JSON_DECODE_ANY, &jerr);
            if (!v) {
                snprintf(err, errsize, "exec: stored output of task %lld is not JSON",
                         (long long)fields[k].position);
                json_decref(output);
                return NULL;
            }
            if (!output) output = v;
            else {
                int rc = merge_json(&output, v);
                json_decref(v);
                if (rc != 0) {
                    snprintf(err, errsize, "exec: numbers added across tasks overflow "
                             "the double range");
                    json_decref(output);
                    return NULL;
                }
            }
        }
        if (!output) output = json_null();
    }
    json_t *res = output ? json_pack("{s:o}", "output", output) : NULL;
    if (!res) snprintf(err, errsize, "out of memory");
    return res;
}

const mt_op_t mt_op_exec = {
    .name = "exec",
    .summary = "run args.argv on each task (stdin: its bytes, stdout: its "
               "result)",
    .unit = "line",
    .boundary = mt_op_newline,
    .check_args = exec_check_args,
    .map = exec_map,
    .finish = exec_finish,
};

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
 *           finish (MT_DELTA_FSUM; a path's keys are joined with NUL,
 *           which JSON keys cannot hold);
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
        snprintf(err, errsize, "exec: \"argv\" must be a list of 1 to %d strings",
                 EXEC_MAX_ARGS);
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
                json_integer_value(max) > 64 * 1024 * 1024)) {
        snprintf(err, errsize, "exec: \"max_output\" must be 1 to 67108864 bytes");
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
    exec_args_t a;
    return read_args(args, &a, err, errsize);
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
        if ((keep && mt_buf_append(path, "", 1) != 0) ||
            mt_buf_append(path, k, strlen(k)) != 0) {
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

/* Merges b into *a (both owned by the caller; *a may be replaced). */
static void merge_json(json_t **a, json_t *b) {
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
            merge_json(&cur, v);
            json_object_set_new(*a, k, cur);
        }
    } else if (json_is_array(*a) && json_is_array(b)) {
        json_array_extend(*a, b);
    } else if (json_is_integer(*a) && json_is_integer(b) &&
               !__builtin_add_overflow(json_integer_value(*a), json_integer_value(b),
                                       &(json_int_t){0})) {
        json_t *sum = json_integer(json_integer_value(*a) + json_integer_value(b));
        json_decref(*a);
        *a = sum;
    } else if (json_is_number(*a) && json_is_number(b)) {
        json_t *sum = json_real(json_number_value(*a) + json_number_value(b));
        json_decref(*a);
        *a = sum;
    } else {
        json_decref(*a);
        *a = json_incref(b);
    }
}

/* A summed value: an integer when Redis stored one, else a real. */
static json_t *sum_value(const mt_field_t *f) {
    char *end;
    long long i = strtoll(f->value, &end, 10);
    if (*end == '\0' && end != f->value) return json_integer(i);
    return json_real(strtod(f->value, NULL));
}

/* Puts v at path (keys joined with NUL) in *root, making objects on the
 * way. A path of no keys is a bare number: it becomes the root. */
static int set_path(json_t **root, const char *path, size_t len, json_t *v) {
    if (len == 0) {
        json_decref(*root);
        *root = v;
        return 0;
    }
    if (!json_is_object(*root)) {
        json_decref(*root);
        *root = json_object();
    }
    json_t *node = *root;
    const char *p = path, *end = path + len;
    for (;;) {
        const char *sep = memchr(p, '\0', (size_t)(end - p));
        if (!sep) return json_object_setn_new(node, p, (size_t)(end - p), v);
        json_t *next = json_object_getn(node, p, (size_t)(sep - p));
        if (!json_is_object(next)) {
            next = json_object();
            json_object_setn_new(node, p, (size_t)(sep - p), next);
        }
        node = next;
        p = sep + 1;
    }
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
        output = json_object();
        for (size_t k = 0; output && k < n; k++)
            if (!fields[k].piece &&
                set_path(&output, fields[k].name, fields[k].name_len, sum_value(&fields[k])))
                break;
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
                merge_json(&output, v);
                json_decref(v);
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

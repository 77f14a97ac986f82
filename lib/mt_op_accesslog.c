/* mt_op_accesslog.c - the accesslog op: requests by status code and the
 * most requested paths, from web server access logs.
 *
 * Reads the Common and Combined Log Formats (Apache, nginx):
 *   HOST IDENT USER [TIME] "METHOD PATH PROTOCOL" STATUS BYTES ...
 * Each line adds to requests, bytes, one status code and one path (the
 * query string is dropped, so /search?q=a and /search?q=b count together).
 * A line that does not parse counts as invalid. Fields are kept per status
 * ("status" NUL code) and per path ("path" NUL path), so they merge by sum
 * like everything else; finish keeps the args.top (10) most requested. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mt_op.h"
#include "mt_utf8.h"

#define DEFAULT_TOP 10
#define MAX_PATH_KEPT 1024 /* longer paths are counted under their first 1 KiB */

static int read_top(const json_t *args, long long *top, char *err, size_t errsize) {
    json_t *t = args ? json_object_get(args, "top") : NULL;
    if (t && (!json_is_integer(t) || json_integer_value(t) < 1 ||
              json_integer_value(t) > 100000)) {
        snprintf(err, errsize, "accesslog: \"top\" must be 1 to 100000");
        return -1;
    }
    *top = t ? json_integer_value(t) : DEFAULT_TOP;
    return 0;
}

static int accesslog_check_args(const json_t *args, char *err, size_t errsize) {
    static const char *const known[] = {"top", NULL};
    long long top;
    return read_top(args, &top, err, errsize) ||
                   mt_op_known_keys("accesslog", args, known, err, errsize)
               ? -1
               : 0;
}

/* Parses one line; on success sets the path span, the status (3 digits)
 * and the byte count ("-" is 0). */
static int parse_line(const char *p, const char *end, const char **path, size_t *path_len,
                      const char **status, long long *bytes) {
    const char *q = memchr(p, '[', (size_t)(end - p));
    if (!q || !(q = memchr(q, ']', (size_t)(end - q)))) return -1;
    q++;
    while (q < end && *q == ' ') q++;
    if (q >= end || *q != '"') return -1;
    const char *req = ++q, *req_end = memchr(q, '"', (size_t)(end - q));
    if (!req_end) return -1;
    const char *sp = memchr(req, ' ', (size_t)(req_end - req)); /* after METHOD */
    if (!sp) return -1;
    const char *path_start = sp + 1;
    const char *path_end = memchr(path_start, ' ', (size_t)(req_end - path_start));
    if (!path_end) path_end = req_end; /* HTTP/0.9: no protocol */
    const char *qs = memchr(path_start, '?', (size_t)(path_end - path_start));
    if (qs) path_end = qs;
    if (path_end == path_start) return -1;
    q = req_end + 1;
    while (q < end && *q == ' ') q++;
    if (end - q < 3 || q[0] < '1' || q[0] > '5' || q[1] < '0' || q[1] > '9' || q[2] < '0' ||
        q[2] > '9' || (end - q > 3 && q[3] != ' '))
        return -1;
    *status = q;
    q += 3;
    while (q < end && *q == ' ') q++;
    long long b = 0;
    if (q < end && *q == '-') {
        q++;
    } else {
        const char *digits = q;
        while (q < end && *q >= '0' && *q <= '9' && q - digits < 18) b = b * 10 + (*q++ - '0');
        if (q == digits) return -1;
    }
    if (q < end && *q != ' ' && *q != '\r') return -1;
    *path = path_start;
    *path_len = (size_t)(path_end - path_start);
    if (*path_len > MAX_PATH_KEPT) *path_len = MAX_PATH_KEPT;
    *bytes = b;
    return 0;
}

static int accesslog_map(const mt_map_ctx_t *ctx, const void *data, size_t len,
                         mt_delta_t *out, char *err, size_t errsize) {
    (void)ctx;
    int64_t requests = 0, invalid = 0, bytes = 0;
    char key[8 + MAX_PATH_KEPT] = "status";
    const char *p = data, *end = p + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = nl ? nl : end;
        const char *path, *status;
        size_t path_len;
        long long b;
        if (line_end > p && line_end[-1] == '\r') line_end--;
        if (line_end == p) {
            /* blank: nothing */
        } else if (parse_line(p, line_end, &path, &path_len, &status, &b) != 0) {
            invalid++;
        } else {
            requests++;
            bytes += b;
            memcpy(key, "status", 7); /* with its NUL */
            memcpy(key + 7, status, 3);
            if (mt_delta_add_int(out, key, 10, 1) != 0) goto oom;
            memcpy(key, "path", 5);
            memcpy(key + 5, path, path_len);
            if (mt_delta_add_int(out, key, 5 + path_len, 1) != 0) goto oom;
        }
        p = nl ? nl + 1 : end;
    }
    if (mt_delta_add_int(out, "requests", 8, requests) ||
        mt_delta_add_int(out, "invalid", 7, invalid) || mt_delta_add_int(out, "bytes", 5, bytes))
        goto oom;
    return 0;
oom:
    snprintf(err, errsize, "out of memory");
    return -1;
}

typedef struct path_count {
    const mt_field_t *f;
    long long n;
} path_count_t;

static int by_count(const void *a, const void *b) {
    const path_count_t *x = a, *y = b;
    if (x->n != y->n) return x->n > y->n ? -1 : 1;
    size_t n = x->f->name_len < y->f->name_len ? x->f->name_len : y->f->name_len;
    int c = memcmp(x->f->name, y->f->name, n);
    return c ? c : (x->f->name_len > y->f->name_len) - (x->f->name_len < y->f->name_len);
}

/* {"requests", "bytes", "invalid", "status": {"200": n, ...},
 *  "top_paths": [{"path": p, "count": n}, ...]} (most requested first,
 * ties by path). */
static json_t *accesslog_finish(const json_t *args, const mt_field_t *fields, size_t n,
                                char *err, size_t errsize) {
    long long top;
    if (read_top(args, &top, err, errsize) != 0) return NULL;
    json_t *res = json_pack("{s:I,s:I,s:I,s:{}}", "requests", (json_int_t)0, "bytes",
                            (json_int_t)0, "invalid", (json_int_t)0, "status");
    path_count_t *paths = malloc((n ? n : 1) * sizeof *paths);
    size_t npaths = 0;
    mt_buf_t text = MT_BUF_INIT;
    if (!res || !paths) goto oom;
    for (size_t k = 0; k < n; k++) {
        const mt_field_t *f = &fields[k];
        if (f->piece) continue;
        long long v = strtoll(f->value, NULL, 10);
        if (f->name_len == 10 && !memcmp(f->name, "status", 7)) {
            char code[4] = {f->name[7], f->name[8], f->name[9], 0};
            json_object_set_new(json_object_get(res, "status"), code, json_integer(v));
        } else if (f->name_len > 5 && !memcmp(f->name, "path", 5)) {
            paths[npaths].f = f;
            paths[npaths++].n = v;
        } else if (f->name_len < 9) {
            char name[9];
            memcpy(name, f->name, f->name_len);
            name[f->name_len] = '\0';
            if (json_object_get(res, name) && strcmp(name, "status"))
                json_object_set_new(res, name, json_integer(v));
        }
    }
    qsort(paths, npaths, sizeof *paths, by_count);
    json_t *list = json_array();
    for (size_t k = 0; list && k < npaths && (long long)k < top; k++) {
        mt_buf_reset(&text);
        if (mt_utf8_escape(paths[k].f->name + 5, paths[k].f->name_len - 5, &text) != 0) goto oom;
        json_array_append_new(list, json_pack("{s:s#,s:I}", "path", text.data ? text.data : "",
                                              text.len, "count", (json_int_t)paths[k].n));
    }
    if (!list || json_object_set_new(res, "top_paths", list) != 0) goto oom;
    free(paths);
    mt_buf_free(&text);
    return res;
oom:
    snprintf(err, errsize, "out of memory");
    json_decref(res);
    free(paths);
    mt_buf_free(&text);
    return NULL;
}

const mt_op_t mt_op_accesslog = {
    .name = "accesslog",
    .summary = "requests by status code and the args.top (10) most requested paths "
               "of an access log",
    .unit = "line",
    .boundary = mt_op_newline,
    .check_args = accesslog_check_args,
    .map = accesslog_map,
    .finish = accesslog_finish,
};

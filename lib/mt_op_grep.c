/* mt_op_grep.c - the grep op: lines matching a POSIX extended regular
 * expression.
 *
 * The result is the number of matching lines and the first max_matches of
 * them in input order, each with its line number in the whole input. A task
 * knows the line number of its first byte (mt-line), so each match is kept
 * as a piece at its line number (MT_DELTA_PIECE): Redis keeps only the
 * lowest max_matches of them per job, whatever order the tasks finish in.
 * Lines are matched as bytes (REG_STARTEND), so a NUL or invalid UTF-8 in
 * a line does not cut it short. */
#define _GNU_SOURCE /* REG_STARTEND */
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mt_op.h"
#include "mt_utf8.h"

#define GREP_DEFAULT_MATCHES 100
#define GREP_MAX_MATCHES 100000
/* A matching line longer than this is kept cut to this many bytes, so that
 * a few huge lines cannot swell a result past Kafka's message size. */
#define GREP_MAX_LINE 16384

typedef struct grep_args {
    const char *pattern;
    int ignore_case;
    long long max_matches;
} grep_args_t;

static int read_args(const json_t *args, grep_args_t *a, char *err,
                     size_t errsize) {
    json_t *pat = args ? json_object_get(args, "pattern") : NULL;
    json_t *icase = args ? json_object_get(args, "ignore_case") : NULL;
    json_t *max = args ? json_object_get(args, "max_matches") : NULL;
    if (!json_is_string(pat)) {
        snprintf(err, errsize, "grep: a \"pattern\" (string) is required");
        return -1;
    }
    if (icase && !json_is_boolean(icase)) {
        snprintf(err, errsize, "grep: \"ignore_case\" must be true or false");
        return -1;
    }
    if (max && (!json_is_integer(max) || json_integer_value(max) < 0 ||
                json_integer_value(max) > GREP_MAX_MATCHES)) {
        snprintf(err, errsize, "grep: \"max_matches\" must be 0 to %d",
                 GREP_MAX_MATCHES);
        return -1;
    }
    a->pattern = json_string_value(pat);
    a->ignore_case = icase && json_is_true(icase);
    a->max_matches = max ? json_integer_value(max) : GREP_DEFAULT_MATCHES;
    return 0;
}

/* Back-references (\1 ... \9) are a GNU extension to extended regular
 * expressions, and matching them can take exponential time: one such
 * pattern would hold a worker's threads for good. Outside a bracket
 * expression, where a backslash is literal. */
static int has_backreference(const char *p) {
    for (int in_bracket = 0; *p; p++) {
        if (in_bracket) {
            if (*p == ']' && in_bracket > 1) in_bracket = 0;
            else in_bracket++;
        } else if (*p == '[') {
            in_bracket = 1; /* a ']' right after '[' (or '[^') is literal */
            if (p[1] == '^') p++;
        } else if (*p == '\\' && p[1]) {
            if (p[1] >= '1' && p[1] <= '9') return 1;
            p++;
        }
    }
    return 0;
}

static int compile(const grep_args_t *a, regex_t *re, char *err,
                   size_t errsize) {
    if (has_backreference(a->pattern)) {
        snprintf(err, errsize, "grep: back-references (\\1 to \\9) are not part of POSIX "
                 "extended regular expressions and can take exponential time");
        return -1;
    }
    int flags = REG_EXTENDED | REG_NOSUB | (a->ignore_case ? REG_ICASE : 0);
    int rc = regcomp(re, a->pattern, flags);
    if (rc != 0) {
        char why[200];
        regerror(rc, re, why, sizeof why);
        snprintf(err, errsize, "grep: bad pattern: %s", why);
        return -1;
    }
    return 0;
}

static int grep_check_args(const json_t *args, char *err, size_t errsize) {
    grep_args_t a;
    regex_t re;
    static const char *const known[] = {"pattern", "ignore_case", "max_matches", NULL};
    if (read_args(args, &a, err, errsize) != 0 ||
        mt_op_known_keys("grep", args, known, err, errsize) != 0 ||
        compile(&a, &re, err, errsize))
        return -1;
    regfree(&re);
    return 0;
}

static int grep_map(const mt_map_ctx_t *ctx, const void *data, size_t len,
                    mt_delta_t *out, char *err, size_t errsize) {
    grep_args_t a;
    regex_t re;
    /* One compiled pattern per task: glibc serialises regexec calls on a
     * shared regex_t, which would leave the map threads taking turns. */
    if (read_args(ctx->args, &a, err, errsize) != 0 || compile(&a, &re, err, errsize))
        return -1;
    int64_t matches = 0, line = (int64_t)ctx->first_line;
    const char *p = data, *end = p + len;
    int rc = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = nl ? nl : end;
        regmatch_t span = {0, (regoff_t)(line_end - p)};
        if (regexec(&re, p, 1, &span, REG_STARTEND) == 0) {
            matches++;
            size_t keep = (size_t)(line_end - p);
            if (keep > GREP_MAX_LINE) keep = GREP_MAX_LINE;
            if (matches <= a.max_matches &&
                mt_delta_add_piece(out, line, a.max_matches, p, keep, err, errsize)) {
                rc = -1;
                break;
            }
        }
        line++;
        p = line_end + (nl != NULL);
    }
    regfree(&re);
    if (rc == 0 && mt_delta_add(out, MT_DELTA_SUM, "count", 5, matches, 0, err, errsize))
        rc = -1;
    return rc;
}

/* {"count": n, "matches": [{"line": l, "text": t}, ...]}; bytes that are not
 * UTF-8 are shown as \xNN. */
static json_t *grep_finish(const json_t *args, const mt_field_t *fields,
                           size_t n, char *err, size_t errsize) {
    grep_args_t a;
    if (read_args(args, &a, err, errsize) != 0) return NULL;
    json_t *res = json_object(), *list = json_array();
    mt_buf_t text = MT_BUF_INIT;
    long long count = 0;
    if (!res || !list) goto oom;
    for (size_t k = 0; k < n; k++) {
        const mt_field_t *f = &fields[k];
        if (!f->piece) {
            if (f->name_len == 5 && memcmp(f->name, "count", 5) == 0)
                count = strtoll(f->value, NULL, 10);
            continue;
        }
        if ((long long)json_array_size(list) >= a.max_matches) continue;
        mt_buf_reset(&text);
        if (mt_utf8_escape(f->name, f->name_len, &text) != 0) goto oom;
        json_t *m = json_pack("{s:I,s:s#}", "line", (json_int_t)f->position, "text",
                              text.data ? text.data : "", text.len);
        if (!m || json_array_append_new(list, m) != 0) goto oom;
    }
    if (json_object_set_new(res, "count", json_integer(count)) ||
        json_object_set_new(res, "matches", list)) {
        list = NULL;
        goto oom;
    }
    mt_buf_free(&text);
    return res;
oom:
    snprintf(err, errsize, "out of memory");
    mt_buf_free(&text);
    json_decref(list);
    json_decref(res);
    return NULL;
}

const mt_op_t mt_op_grep = {
    .name = "grep",
    .summary = "count lines matching args.pattern (POSIX ERE), keep the first "
               "max_matches",
    .unit = "line",
    .boundary = mt_op_newline,
    .check_args = grep_check_args,
    .map = grep_map,
    .finish = grep_finish,
};

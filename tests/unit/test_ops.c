/* test_ops.c - the stats, grep and exec ops and the plugin loader: map on
 * chosen inputs, results checked against values computed here another way
 * (compensated two-pass statistics, a plain line scan), and finish on
 * fields as Redis would hand them back. */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mt_op.h"
#include "mt_plugins.h"
#include "suites.h"

/* Maps data with op into a new delta (NULL when map failed; its reason is
 * left in err). */
static mt_delta_t *map_op(const char *op_name, const char *args_json, int64_t seq,
                          uint64_t first_line, const void *data, size_t len,
                          char *err, size_t errsize) {
    const mt_op_t *op = mt_op_find(op_name);
    json_error_t jerr;
    json_t *args = args_json ? json_loads(args_json, 0, &jerr) : NULL;
    mt_delta_t *d = mt_delta_new();
    mt_map_ctx_t ctx = {args, seq, first_line, 0};
    if (!op || !d || op->map(&ctx, data, len, d, err, errsize) != 0) {
        mt_delta_destroy(d);
        d = NULL;
    }
    json_decref(args);
    return d;
}

/* Turns a delta into the fields Redis would hold after merging it: numbers
 * as text with 17 significant digits, pieces in position order. The
 * strings live in *arena until the caller frees it. */
static mt_field_t *as_stored(const mt_delta_t *d, size_t *n, char ***arena) {
    size_t count = mt_delta_size(d);
    mt_field_t *f = calloc(count ? count : 1, sizeof *f);
    *arena = calloc(count + 1, sizeof **arena);
    for (size_t k = 0; k < count; k++) {
        mt_delta_entry_t e;
        mt_delta_get(d, k, &e);
        char *v = malloc(80);
        (*arena)[k] = v;
        f[k].name = e.field;
        f[k].name_len = e.field_len;
        if (e.kind == MT_DELTA_PIECE) {
            const char *tab = memchr(e.field, '\t', e.field_len);
            f[k].piece = 1;
            f[k].position = e.i;
            f[k].name = tab + 1;
            f[k].name_len = e.field_len - (size_t)(tab + 1 - e.field);
            continue;
        }
        if (e.kind == MT_DELTA_SUM) snprintf(v, 80, "%lld", (long long)e.i);
        else if (e.kind == MT_DELTA_MOMENTS)
            snprintf(v, 80, "%lld %.17g %.17g", (long long)e.i, e.f, e.m2);
        else snprintf(v, 80, "%.17g", e.f);
        f[k].value = v;
        f[k].value_len = strlen(v);
    }
    /* pieces after the other fields, in position order (insertion sort) */
    for (size_t a = 1; a < count; a++)
        for (size_t b = a; b > 0; b--) {
            mt_field_t *x = &f[b - 1], *y = &f[b];
            int swap = (x->piece && !y->piece) ||
                       (x->piece && y->piece && x->position > y->position);
            if (!swap) break;
            mt_field_t t = *x;
            *x = *y;
            *y = t;
        }
    *n = count;
    return f;
}

static void free_arena(char **arena) {
    for (size_t k = 0; arena && arena[k]; k++) free(arena[k]);
    free(arena);
}

/* The op's finished result for a delta. */
static json_t *finish_op(const char *op_name, const char *args_json, const mt_delta_t *d,
                         char *err, size_t errsize) {
    size_t n;
    char **arena;
    mt_field_t *f = as_stored(d, &n, &arena);
    json_error_t jerr;
    json_t *args = args_json ? json_loads(args_json, 0, &jerr) : NULL;
    json_t *res = mt_op_find(op_name)->finish(args, f, n, err, errsize);
    json_decref(args);
    free(f);
    free_arena(arena);
    return res;
}

/* ---- stats ---- */

static double num(const json_t *res, const char *key) {
    return json_number_value(json_object_get(res, key));
}

/* Which lines count, and which are invalid. */
static void test_stats_parsing(void) {
    static const char input[] =
        "1\n"
        "  2.5  \n"
        "\n"
        "   \n"
        "-3e2\n"
        "+.5\n"
        "1e309\n"     /* out of range */
        "nan\n"
        "inf\n"
        "0x10\n"      /* hex is not decimal notation */
        "1e\n"
        ".\n"
        "abc\n"
        "1 2\n"
        "7\r\n"       /* CR counts as white space */
        "1e-400\n"    /* underflow: a value, read as 0 */
        "4";          /* no final newline */
    char err[256];
    mt_delta_t *d = map_op("stats", NULL, 0, 1, input, sizeof input - 1, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    json_t *res = finish_op("stats", NULL, d, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(res);
    const double xs[] = {1, 2.5, -300, 0.5, 7, 0, 4};
    double s = unit_sum(xs, 7, 0, 0), mean = s / 7, q = unit_sum(xs, 7, mean, 1);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(res, "count")), 7);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(res, "invalid")), 8);
    CU_ASSERT_DOUBLE_EQUAL(num(res, "sum"), s, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(num(res, "min"), -300, 0);
    CU_ASSERT_DOUBLE_EQUAL(num(res, "max"), 7, 0);
    CU_ASSERT_DOUBLE_EQUAL(num(res, "mean"), mean, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(num(res, "stddev"), sqrt(q / 7), 1e-12);
    json_decref(res);
    mt_delta_destroy(d);
}

static void test_stats_columns(void) {
    static const char input[] = "a,1,x\nb,2.5\nc\nd,,y\n\ne, 4 ,z\nf,nope\n";
    char err[256];
    mt_delta_t *d = map_op("stats", "{\"column\":2}", 0, 1, input, sizeof input - 1, err,
                           sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    json_t *res = finish_op("stats", "{\"column\":2}", d, err, sizeof err);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(res, "count")), 3);
    /* "c" has no field 2, "d,,y" an empty one, "f,nope" no number */
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(res, "invalid")), 3);
    CU_ASSERT_DOUBLE_EQUAL(num(res, "sum"), 7.5, 0);
    json_decref(res);
    mt_delta_destroy(d);
    static const char tabs[] = "1\t10\n2\t20\n";
    d = map_op("stats", "{\"column\":2,\"delimiter\":\"\\t\"}", 0, 1, tabs, sizeof tabs - 1,
               err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    res = finish_op("stats", NULL, d, err, sizeof err);
    CU_ASSERT_DOUBLE_EQUAL(num(res, "mean"), 15, 0);
    json_decref(res);
    mt_delta_destroy(d);
    const mt_op_t *op = mt_op_find("stats");
    const char *bad[] = {"{\"column\":0}", "{\"column\":\"2\"}", "{\"delimiter\":\"ab\"}",
                         "{\"pattern\":\"x\"}"};
    for (size_t k = 0; k < 4; k++) {
        json_error_t jerr;
        json_t *a = json_loads(bad[k], 0, &jerr);
        CHECKF(op->check_args(a, err, sizeof err) == -1, "%s accepted", bad[k]);
        json_decref(a);
    }
}

/* Tasks mapped apart and merged give the statistics of the whole input,
 * within 1e-9 relative of a compensated two-pass computation,
 * also for values with a large mean and a small spread. */
static void test_stats_merged_tasks(void) {
    enum { N = 20000, TASKS = 7 };
    static double xs[N];
    unsigned long long seed = 7;
    mt_buf_t text[TASKS] = {MT_BUF_INIT};
    for (size_t k = 0; k < N; k++) {
        xs[k] = 123456789.0 + (double)(unit_rand(&seed) % 1000000) / 1e5;
        char line[64];
        int n = snprintf(line, sizeof line, "%.17g\n", xs[k]);
        mt_buf_append(&text[k * TASKS / N], line, (size_t)n);
    }
    mt_delta_t *all = mt_delta_new();
    char err[256];
    for (size_t t = 0; t < TASKS; t++) {
        mt_delta_t *d = map_op("stats", NULL, (int64_t)t, 1, text[t].data, text[t].len, err,
                               sizeof err);
        CU_ASSERT_PTR_NOT_NULL_FATAL(d);
        CU_ASSERT_EQUAL(mt_delta_merge(all, d, err, sizeof err), 0);
        mt_delta_destroy(d);
        mt_buf_free(&text[t]);
    }
    json_t *res = finish_op("stats", NULL, all, err, sizeof err);
    double s = unit_sum(xs, N, 0, 0), mean = s / N, q = unit_sum(xs, N, mean, 1);
    double sd = sqrt(q / N);
    CHECKF(fabs(num(res, "sum") - s) <= 1e-9 * fabs(s), "sum %.17g want %.17g",
           num(res, "sum"), s);
    CHECKF(fabs(num(res, "mean") - mean) <= 1e-9 * fabs(mean),
           "mean %.17g want %.17g", num(res, "mean"), mean);
    CHECKF(fabs(num(res, "stddev") - sd) <= 1e-6 * sd, "stddev %.17g want %.17g",
           num(res, "stddev"), sd);
    /* reals are written so that they read back as the same doubles */
    char *text_out = json_dumps(res, JSON_COMPACT);
    json_error_t jerr;
    json_t *back = json_loads(text_out, 0, &jerr);
    CU_ASSERT(back && num(back, "sum") == num(res, "sum") &&
              num(back, "stddev") == num(res, "stddev"));
    free(text_out);
    json_decref(back);
    json_decref(res);
    mt_delta_destroy(all);
}

static void test_stats_empty(void) {
    char err[256];
    mt_delta_t *d = map_op("stats", NULL, 0, 1, "\n\nx\n", 4, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    json_t *res = finish_op("stats", NULL, d, err, sizeof err);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(res, "count")), 0);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(res, "invalid")), 1);
    CU_ASSERT(json_is_null(json_object_get(res, "mean")));
    CU_ASSERT(json_is_null(json_object_get(res, "stddev")));
    json_decref(res);
    mt_delta_destroy(d);
}

/* Values whose spread overflows a double's variance fail the task with a
 * reason rather than store an infinity nobody can read back. */
static void test_stats_overflow(void) {
    char err[256];
    static const char input[] = "1e200\n-1e200\n";
    CU_ASSERT_PTR_NULL(map_op("stats", NULL, 0, 1, input, sizeof input - 1, err, sizeof err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "variance overflows"));
    static const char big[] = "1e300\n1e300\n";
    mt_delta_t *d = map_op("stats", NULL, 0, 1, big, sizeof big - 1, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL(d); /* equal huge values: no spread, fine */
    mt_delta_destroy(d);
}

/* ---- grep ---- */

static void test_grep(void) {
    /* line 3 holds a NUL and an invalid byte; line 5 has no newline */
    static const char input[] = "apple\nBanana\nan\0\xff pear\ncherry\nbanana split";
    const char *args = "{\"pattern\":\"an|pear\",\"max_matches\":2}";
    char err[256];
    mt_delta_t *d = map_op("grep", args, 3, 10, input, sizeof input - 1, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    json_t *res = finish_op("grep", args, d, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(res);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(res, "count")), 3);
    json_t *m = json_object_get(res, "matches");
    CU_ASSERT_EQUAL(json_array_size(m), 2);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(json_array_get(m, 0), "line")), 11);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_array_get(m, 0), "text")),
                           "Banana");
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(json_array_get(m, 1), "line")), 12);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_array_get(m, 1), "text")),
                           "an\\x00\\xff pear");
    json_decref(res);
    mt_delta_destroy(d);
    /* -i, and a pattern matching the empty string matches every line */
    d = map_op("grep", "{\"pattern\":\"^b\",\"ignore_case\":true}", 0, 1, input,
               sizeof input - 1, err, sizeof err);
    mt_delta_entry_t e;
    CU_ASSERT(d && mt_delta_find(d, "count", 5, &e) && e.i == 2);
    mt_delta_destroy(d);
    d = map_op("grep", "{\"pattern\":\"x*\",\"max_matches\":0}", 0, 1, input,
               sizeof input - 1, err, sizeof err);
    CU_ASSERT(d && mt_delta_find(d, "count", 5, &e) && e.i == 5 && mt_delta_size(d) == 1);
    mt_delta_destroy(d);
    const mt_op_t *op = mt_op_find("grep");
    json_error_t jerr;
    json_t *bad = json_loads("{\"pattern\":\"(unclosed\"}", 0, &jerr);
    CU_ASSERT_EQUAL(op->check_args(bad, err, sizeof err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "bad pattern"));
    json_decref(bad);
    CU_ASSERT_EQUAL(op->check_args(NULL, err, sizeof err), -1);
    /* back-references could run for ever: refused; a backslash-digit inside
     * brackets is two literal characters, and \\1 a backslash then 1 */
    static const struct {
        const char *args;
        int rc;
    } refs[] = {
        {"{\"pattern\":\"(a|a)*\\\\1b\"}", -1},
        {"{\"pattern\":\"(.*)\\\\9\"}", -1},
        {"{\"pattern\":\"[\\\\1]x\"}", 0},
        {"{\"pattern\":\"[]\\\\1]x\"}", 0},
        {"{\"pattern\":\"a\\\\\\\\1\"}", 0},
    };
    for (size_t k = 0; k < sizeof refs / sizeof refs[0]; k++) {
        json_t *a = json_loads(refs[k].args, 0, &jerr);
        CU_ASSERT_PTR_NOT_NULL_FATAL(a);
        err[0] = '\0';
        int rc = op->check_args(a, err, sizeof err);
        CHECKF(rc == refs[k].rc && (rc == 0 || strstr(err, "back-references")),
               "%s: rc %d (%s)", refs[k].args, rc, err);
        json_decref(a);
    }
}

/* ---- exec ---- */

static void test_exec_concat_in_task_order(void) {
    const char *args = "{\"argv\":[\"tr\",\"a-z\",\"A-Z\"]}";
    mt_delta_t *all = mt_delta_new();
    char err[256];
    const char *inputs[] = {"one\n", "two\n", "three\n"};
    for (int t = 2; t >= 0; t--) { /* finished last to first */
        mt_delta_t *d = map_op("exec", args, t, 1, inputs[t], strlen(inputs[t]), err,
                               sizeof err);
        CHECKF(d != NULL, "map: %s", err);
        if (d) mt_delta_merge(all, d, err, sizeof err);
        mt_delta_destroy(d);
    }
    json_t *res = finish_op("exec", args, all, err, sizeof err);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(res, "output")),
                           "ONE\nTWO\nTHREE\n");
    json_decref(res);
    mt_delta_destroy(all);
}

static void test_exec_merge_sum_and_json(void) {
    char err[256];
    const char *sum = "{\"argv\":[\"cat\"],\"merge\":\"sum\"}";
    const char *outs[] = {"{\"a\": 1, \"b\": {\"c\": 2.5}}", "{\"a\": 2, \"b\": {\"c\": 0.5, \"d\": 1}}"};
    mt_delta_t *all = mt_delta_new();
    for (int t = 0; t < 2; t++) {
        mt_delta_t *d = map_op("exec", sum, t, 1, outs[t], strlen(outs[t]), err, sizeof err);
        CHECKF(d != NULL, "map: %s", err);
        if (d) mt_delta_merge(all, d, err, sizeof err);
        mt_delta_destroy(d);
    }
    json_t *res = finish_op("exec", sum, all, err, sizeof err);
    json_error_t jerr;
    json_t *want = json_loads("{\"a\": 3, \"b\": {\"c\": 3.0, \"d\": 1}}", 0, &jerr);
    json_t *got = json_object_get(res, "output");
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(got, "a")), 3);
    CU_ASSERT_DOUBLE_EQUAL(json_number_value(json_object_get(json_object_get(got, "b"), "c")),
                           3.0, 0);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(json_object_get(got, "b"), "d")), 1);
    json_decref(want);
    json_decref(res);
    mt_delta_destroy(all);
    /* not JSON, or not numbers: the map fails with the reason */
    CU_ASSERT_PTR_NULL(map_op("exec", sum, 0, 1, "12 apples", 9, err, sizeof err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "not JSON"));
    CU_ASSERT_PTR_NULL(map_op("exec", sum, 0, 1, "{\"a\":\"x\"}", 9, err, sizeof err));
    /* json: merged in task order whatever order tasks finish in */
    const char *js = "{\"argv\":[\"cat\"],\"merge\":\"json\"}";
    const char *parts[] = {"{\"n\": 1, \"l\": [1], \"s\": \"first\"}",
                           "{\"n\": 2, \"l\": [2, 3], \"s\": \"second\", \"o\": {\"x\": 1}}"};
    all = mt_delta_new();
    for (int t = 1; t >= 0; t--) {
        mt_delta_t *d = map_op("exec", js, t, 1, parts[t], strlen(parts[t]), err, sizeof err);
        CHECKF(d != NULL, "map: %s", err);
        if (d) mt_delta_merge(all, d, err, sizeof err);
        mt_delta_destroy(d);
    }
    res = finish_op("exec", js, all, err, sizeof err);
    char *text = json_dumps(json_object_get(res, "output"), JSON_COMPACT | JSON_SORT_KEYS);
    CU_ASSERT_STRING_EQUAL(text, "{\"l\":[1,2,3],\"n\":3,\"o\":{\"x\":1},\"s\":\"second\"}");
    free(text);
    json_decref(res);
    mt_delta_destroy(all);
}

/* finish on fields as Redis stores them for --merge sum. */
static json_t *sum_finish(const mt_field_t *f, size_t n, char *err, size_t errsize) {
    json_error_t jerr;
    json_t *args = json_loads("{\"argv\":[\"x\"],\"merge\":\"sum\"}", 0, &jerr);
    json_t *res = mt_op_find("exec")->finish(args, f, n, err, errsize);
    json_decref(args);
    return res;
}

static void test_exec_sum_edges(void) {
    char err[256];
    /* big and tiny sums come back as they were stored */
    mt_field_t big[] = {{"\0a", 2, "2.0000000000000001e+20", 22, 0, 0},
                        {"\0b", 2, "5.3000000000000002e-19", 22, 0, 0},
                        {"\0c", 2, "9007199254740993", 16, 0, 0}};
    json_t *res = sum_finish(big, 3, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(res);
    json_t *out = json_object_get(res, "output");
    CU_ASSERT_DOUBLE_EQUAL(json_number_value(json_object_get(out, "a")), 2e20, 1e5);
    CU_ASSERT(json_is_real(json_object_get(out, "a")));
    CU_ASSERT_DOUBLE_EQUAL(json_number_value(json_object_get(out, "b")), 5.3e-19, 1e-33);
    json_decref(res);
    /* a bare number and the key "" are different paths */
    mt_field_t both[] = {{"", 0, "5", 1, 0, 0}, {"\0", 1, "1", 1, 0, 0}};
    CU_ASSERT_PTR_NULL(sum_finish(both, 2, err, sizeof err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "disagree in shape"));
    /* a number in one task, an object in another: an error, in any order */
    mt_field_t shape[] = {{"\0a", 2, "1", 1, 0, 0}, {"\0a\0b", 4, "2", 1, 0, 0}};
    mt_field_t shape2[] = {{"\0a\0b", 4, "2", 1, 0, 0}, {"\0a", 2, "1", 1, 0, 0}};
    CU_ASSERT_PTR_NULL(sum_finish(shape, 2, err, sizeof err));
    CU_ASSERT_PTR_NULL(sum_finish(shape2, 2, err, sizeof err));
    mt_field_t ok[] = {{"\0", 1, "1", 1, 0, 0}, {"\0a\0b", 4, "2", 1, 0, 0}};
    res = sum_finish(ok, 2, err, sizeof err);
    char *text = json_dumps(json_object_get(res, "output"), JSON_COMPACT | JSON_SORT_KEYS);
    CU_ASSERT_STRING_EQUAL(text, "{\"\":1,\"a\":{\"b\":2}}");
    free(text);
    json_decref(res);
    /* json: numbers that overflow when added are an error, not null */
    const char *js = "{\"argv\":[\"cat\"],\"merge\":\"json\"}";
    mt_delta_t *all = mt_delta_new();
    for (int t = 0; t < 2; t++) {
        mt_delta_t *d = map_op("exec", js, t, 1, "1e308", 5, err, sizeof err);
        CU_ASSERT_PTR_NOT_NULL_FATAL(d);
        mt_delta_merge(all, d, err, sizeof err);
        mt_delta_destroy(d);
    }
    CU_ASSERT_PTR_NULL(finish_op("exec", js, all, err, sizeof err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "overflow"));
    mt_delta_destroy(all);
}

static void test_exec_failures(void) {
    char err[256];
    CU_ASSERT_PTR_NULL(map_op("exec", "{\"argv\":[\"sh\",\"-c\",\"echo no >&2; exit 3\"]}", 0,
                              1, "", 0, err, sizeof err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "status 3"));
    CU_ASSERT_PTR_NULL(map_op("exec", "{\"argv\":[\"sleep\",\"5\"],\"timeout_ms\":100}", 0, 1,
                              "", 0, err, sizeof err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "timed out"));
    const mt_op_t *op = mt_op_find("exec");
    const char *bad[] = {"{}", "{\"argv\":[]}", "{\"argv\":[1]}", "{\"argv\":[\"a\",\"b\"],\"shell\":true}",
                         "{\"argv\":[\"a\"],\"merge\":\"avg\"}", "{\"argv\":[\"a\"],\"timeout_ms\":0}"};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        json_error_t jerr;
        json_t *a = json_loads(bad[k], 0, &jerr);
        CHECKF(op->check_args(a, err, sizeof err) == -1, "%s accepted", bad[k]);
        json_decref(a);
    }
}

/* ---- plugins ---- */

/* The example plugin, loaded as the programs load it: map two tasks,
 * merge their states both ways, finish. */
static void test_plugin_longest(void) {
    char err[256];
    const mt_op_t *op = mt_op_find("longest");
    if (!op) {
        CHECKF(mt_plugin_load(MT_TEST_PLUGIN_DIR "/longest.so", err, sizeof err) == 0,
               "load: %s", err);
        op = mt_op_find("longest");
    }
    CU_ASSERT_PTR_NOT_NULL_FATAL(op);
    CU_ASSERT_PTR_NOT_NULL(op->plugin);
    CU_ASSERT_EQUAL(mt_plugin_load(MT_TEST_PLUGIN_DIR "/longest.so", err, sizeof err), -1);
    CU_ASSERT_EQUAL(mt_plugin_load("/nonexistent/x.so", err, sizeof err), -1);
    const char *args = "{\"k\": 2}";
    mt_map_ctx_t a = {NULL, 0, 1, 0}, b = {NULL, 1, 4, 0};
    mt_buf_t sa = MT_BUF_INIT, sb = MT_BUF_INIT, ab = MT_BUF_INIT, ba = MT_BUF_INIT;
    CU_ASSERT_EQUAL(mt_plugin_map(op, &a, args, "ccc\na\nbbbbb\n", 12, &sa, err, sizeof err), 0);
    CU_ASSERT_EQUAL(mt_plugin_map(op, &b, args, "dd\neeeee\n\"q\"\n", 13, &sb, err, sizeof err), 0);
    CU_ASSERT_EQUAL(mt_plugin_merge(op, args, sa.data, sa.len, sb.data, sb.len, &ab, err,
                                    sizeof err), 0);
    CU_ASSERT_EQUAL(mt_plugin_merge(op, args, sb.data, sb.len, sa.data, sa.len, &ba, err,
                                    sizeof err), 0);
    CU_ASSERT(ab.len == ba.len && memcmp(ab.data, ba.data, ab.len) == 0);
    json_t *res = mt_plugin_finish(op, args, ab.data, ab.len, err, sizeof err);
    char *text = json_dumps(res, JSON_COMPACT);
    /* two lines of 5 bytes: the earlier (line 3) first */
    CU_ASSERT_STRING_EQUAL(text, "{\"longest\":[{\"line\":3,\"length\":5,\"text\":\"bbbbb\"},"
                                 "{\"line\":5,\"length\":5,\"text\":\"eeeee\"}]}");
    free(text);
    json_decref(res);
    CU_ASSERT_EQUAL(mt_plugin_merge(op, args, "junk", 4, sa.data, sa.len, &ab, err, sizeof err), -1);
    mt_buf_free(&sa);
    mt_buf_free(&sb);
    mt_buf_free(&ab);
    mt_buf_free(&ba);
}

int register_ops_suite(void) {
    static const unit_test_t tests[] = {
        {"stats: what is a number", test_stats_parsing},
        {"stats: columns", test_stats_columns},
        {"stats: tasks merged match an exact computation", test_stats_merged_tasks},
        {"stats: no numbers", test_stats_empty},
        {"stats: a variance beyond doubles", test_stats_overflow},
        {"grep: matches, line numbers, limit, bytes", test_grep},
        {"exec: outputs concatenated in task order", test_exec_concat_in_task_order},
        {"exec: merge sum and json", test_exec_merge_sum_and_json},
        {"exec: failures and bad arguments", test_exec_failures},
        {"exec: sums big and tiny, shapes, overflow", test_exec_sum_edges},
        {"plugin: the example, loaded", test_plugin_longest},
        {NULL, NULL},
    };
    return unit_add_suite("ops", tests);
}

/* mt_op_stats.c - the stats op: count, sum, min, max, mean and standard
 * deviation of numbers, one per line (or one column of delimited lines).
 *
 * Accuracy is the point of this op. Within a task the sum is compensated
 * (Neumaier) and the mean and squared deviations are updated with Welford's
 * method; across tasks the moments merge with Chan's pairwise formula
 * (MT_DELTA_MOMENTS), in the aggregator and inside Redis. So a column of
 * values near 1e9 with a spread of 1 gets its stddev right to about 1e-9
 * relative (the means' own rounding is the limit), where a sum of squares
 * would cancel it away entirely. A line that is not a finite number of double
 * range counts as invalid; blank lines are skipped. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mt_op.h"

typedef struct stats_args {
    long column;     /* 1-based field; 0: the whole line */
    char delimiter;
} stats_args_t;

static int read_args(const json_t *args, stats_args_t *a, char *err,
                     size_t errsize) {
    a->column = 0;
    a->delimiter = ',';
    if (!args) return 0;
    json_t *col = json_object_get(args, "column");
    json_t *del = json_object_get(args, "delimiter");
    if (col && (!json_is_integer(col) || json_integer_value(col) < 1 ||
                json_integer_value(col) > 1000000)) {
        snprintf(err, errsize, "stats: \"column\" must be a field number from 1");
        return -1;
    }
    if (del && (!json_is_string(del) || json_string_length(del) != 1)) {
        snprintf(err, errsize, "stats: \"delimiter\" must be one character");
        return -1;
    }
    if (col) a->column = (long)json_integer_value(col);
    if (del) a->delimiter = json_string_value(del)[0];
    return 0;
}

static int stats_check_args(const json_t *args, char *err, size_t errsize) {
    static const char *const known[] = {"column", "delimiter", NULL};
    stats_args_t a;
    return read_args(args, &a, err, errsize) ||
                   mt_op_known_keys("stats", args, known, err, errsize)
               ? -1
               : 0;
}

static int is_space(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* Parses [p, end) as one number, spaces around it allowed. Returns 1 with
 * *x set, 0 for a blank field, -1 when it is not a finite number. strtod
 * alone would also take hex floats, "nan" and "inf", which are not the
 * decimal or scientific notation this op reads, so the text is checked
 * first. */
static int parse_number(const char *p, const char *end, double *x) {
    while (p < end && is_space(*p)) p++;
    while (end > p && is_space(end[-1])) end--;
    if (p == end) return 0;
    const char *q = p;
    if (*q == '+' || *q == '-') q++;
    size_t digits = 0;
    while (q < end && *q >= '0' && *q <= '9') q++, digits++;
    if (q < end && *q == '.') {
        q++;
        while (q < end && *q >= '0' && *q <= '9') q++, digits++;
    }
    if (!digits) return -1;
    if (q < end && (*q == 'e' || *q == 'E')) {
        q++;
        if (q < end && (*q == '+' || *q == '-')) q++;
        size_t exp_digits = 0;
        while (q < end && *q >= '0' && *q <= '9') q++, exp_digits++;
        if (!exp_digits) return -1;
    }
    if (q != end) return -1;
    char small[64], *text = small;
    size_t len = (size_t)(end - p);
    if (len >= sizeof small && !(text = malloc(len + 1))) return -1;
    memcpy(text, p, len);
    text[len] = '\0';
    errno = 0;
    *x = strtod(text, NULL);
    /* ERANGE with a tiny result is underflow to (nearly) zero: a value. */
    int ok = isfinite(*x) && !(errno == ERANGE && fabs(*x) > 1.0);
    if (text != small) free(text);
    return ok ? 1 : -1;
}

/* The column'th field of a line, or NULL when the line has fewer. */
static const char *field_of(const char *p, const char *end, long column,
                            char delimiter, const char **field_end) {
    for (long k = 1; k < column; k++) {
        const char *d = memchr(p, delimiter, (size_t)(end - p));
        if (!d) return NULL;
        p = d + 1;
    }
    const char *d = memchr(p, delimiter, (size_t)(end - p));
    *field_end = d ? d : end;
    return p;
}

static int stats_map(const mt_map_ctx_t *ctx, const void *data, size_t len,
                     mt_delta_t *out, char *err, size_t errsize) {
    stats_args_t a;
    if (read_args(ctx->args, &a, err, errsize) != 0) return -1;
    int64_t count = 0, invalid = 0;
    /* Welford runs on x - shift (the task's first value): deviations of
     * values like 1e9 +- 1 are then computed from small exact differences */
    double sum = 0, comp = 0, shift = 0, mean = 0, m2 = 0, lo = 0, hi = 0;
    const char *p = data, *end = p + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = nl ? nl : end, *f_end = line_end;
        double x;
        int r = parse_number(p, line_end, &x);
        if (a.column && r != 0) { /* not a blank line: read its field */
            const char *f = field_of(p, line_end, a.column, a.delimiter, &f_end);
            r = f ? parse_number(f, f_end, &x) : -1;
            if (r == 0) r = -1; /* an empty field is no number either */
        }
        if (r < 0) {
            invalid++;
        } else if (r > 0) {
            count++;
            double t = sum + x; /* Neumaier's compensated sum */
            comp += fabs(sum) >= fabs(x) ? (sum - t) + x : (x - t) + sum;
            sum = t;
            if (count == 1) shift = x;
            double y = x - shift, d = y - mean; /* Welford */
            mean += d / (double)count;
            m2 += d * (y - mean);
            if (count == 1 || x < lo) lo = x;
            if (count == 1 || x > hi) hi = x;
        }
        p = line_end + (nl != NULL);
    }
    mt_delta_entry_t mom = {MT_DELTA_MOMENTS, "moments", 7, count, shift + mean, m2, 0};
    if (mt_delta_add(out, MT_DELTA_SUM, "count", 5, count, 0, err, errsize) ||
        mt_delta_add(out, MT_DELTA_SUM, "invalid", 7, invalid, 0, err, errsize))
        return -1;
    if (count == 0) return 0;
    double total = sum + comp;
    if (!isfinite(total)) {
        snprintf(err, errsize, "stats: the sum overflows the double range");
        return -1;
    }
    if (!isfinite(m2) || !isfinite(mom.f)) {
        snprintf(err, errsize, "stats: the variance overflows the double range "
                 "(values spread by more than about 1e150)");
        return -1;
    }
    if (mt_delta_add(out, MT_DELTA_FSUM, "sum", 3, 0, total, err, errsize) ||
        mt_delta_add(out, MT_DELTA_MIN, "min", 3, 0, lo, err, errsize) ||
        mt_delta_add(out, MT_DELTA_MAX, "max", 3, 0, hi, err, errsize) ||
        mt_delta_add_entry(out, &mom, err, errsize))
        return -1;
    return 0;
}

static int field_is(const mt_field_t *f, const char *name) {
    return !f->piece && f->name_len == strlen(name) &&
           memcmp(f->name, name, f->name_len) == 0;
}

/* {"count", "invalid", "sum", "min", "max", "mean", "stddev"}; the last
 * five are null when no value was read. Reals are written with 17
 * significant digits, so they read back as the same doubles. */
static json_t *stats_finish(const json_t *args, const mt_field_t *fields,
                            size_t n, char *err, size_t errsize) {
    (void)args;
    long long count = 0, invalid = 0, mcount = 0;
    double sum = 0, lo = 0, hi = 0, mean = 0, m2 = 0;
    int have_min = 0, have_max = 0, have_mom = 0;
    for (size_t k = 0; k < n; k++) {
        const mt_field_t *f = &fields[k];
        if (field_is(f, "count")) count = strtoll(f->value, NULL, 10);
        else if (field_is(f, "invalid")) invalid = strtoll(f->value, NULL, 10);
        else if (field_is(f, "sum")) sum = strtod(f->value, NULL);
        else if (field_is(f, "min")) lo = strtod(f->value, NULL), have_min = 1;
        else if (field_is(f, "max")) hi = strtod(f->value, NULL), have_max = 1;
        else if (field_is(f, "moments"))
            have_mom = sscanf(f->value, "%lld %lf %lf", &mcount, &mean, &m2) == 3;
    }
    if (count > 0 && (!have_min || !have_max || !have_mom || mcount != count)) {
        snprintf(err, errsize, "stats: the stored result is incomplete");
        return NULL;
    }
    json_t *res = json_pack("{s:I,s:I}", "count", (json_int_t)count, "invalid",
                            (json_int_t)invalid);
    if (!res) goto oom;
    if (count == 0) {
        const char *nulls[] = {"sum", "min", "max", "mean", "stddev"};
        for (size_t k = 0; k < 5; k++) json_object_set_new(res, nulls[k], json_null());
        return res;
    }
    double stddev = sqrt((m2 > 0 ? m2 : 0) / (double)count);
    if (!isfinite(sum) || !isfinite(lo) || !isfinite(hi) || !isfinite(mean) ||
        !isfinite(stddev)) {
        json_decref(res);
        snprintf(err, errsize, "stats: the stored result is not finite");
        return NULL;
    }
    if (json_object_set_new(res, "sum", json_real(sum)) ||
        json_object_set_new(res, "min", json_real(lo)) ||
        json_object_set_new(res, "max", json_real(hi)) ||
        json_object_set_new(res, "mean", json_real(mean)) ||
        json_object_set_new(res, "stddev", json_real(stddev))) {
        json_decref(res);
        goto oom;
    }
    return res;
oom:
    snprintf(err, errsize, "out of memory");
    return NULL;
}

const mt_op_t mt_op_stats = {
    .name = "stats",
    .summary = "count, sum, min, max, mean, stddev of one number per line "
               "(or of a column)",
    .unit = "line",
    .boundary = mt_op_newline,
    .check_args = stats_check_args,
    .map = stats_map,
    .finish = stats_finish,
};

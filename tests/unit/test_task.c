/* test_task.c - mt_task: job ids and the message headers (encode with
 * mt_task_headers, decode with mt_task_decode). rd_kafka_headers_t works
 * without a broker. */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "mt_task.h"
#include "suites.h"

/* ---- job ids ---- */

static void test_job_id_check(void) {
    char max_id[MT_JOB_ID_MAX + 2];
    memset(max_id, 'a', MT_JOB_ID_MAX);
    max_id[MT_JOB_ID_MAX] = '\0';
    char too_long[MT_JOB_ID_MAX + 2];
    memset(too_long, 'a', MT_JOB_ID_MAX + 1);
    too_long[MT_JOB_ID_MAX + 1] = '\0';
    static const char *const valid[] = {
        "a", "Z", "0", "job1", "20261203T161500Z-3f9a2c41", "a-b", "a_b",
        "a.b", "x-", ".", "_", "..", "ABCxyz019", "a--b",
    };
    static const char *const invalid[] = {
        "", "-", "-a", "--x", "a b", " a", "a ", "a/b", "a\\b", "a\tb",
        "a\nb", "a+b", "a@b", "a,b", "a;b", "a*b", "a\"b", "a'b",
        "caf\xc3\xa9", "\xff", "a{b}", "a#b", "a%b", "a~b", "a=b",
    };
    char err[256];
    for (size_t k = 0; k < sizeof valid / sizeof valid[0]; k++) {
        err[0] = '\0';
        int rc = mt_job_id_check(valid[k], err, sizeof err);
        CHECKF(rc == 0, "job id \"%s\" refused: %s", valid[k], err);
    }
    CHECKF(mt_job_id_check(max_id, err, sizeof err) == 0,
           "a job id of %d characters refused", MT_JOB_ID_MAX);
    for (size_t k = 0; k < sizeof invalid / sizeof invalid[0]; k++) {
        err[0] = '\0';
        int rc = mt_job_id_check(invalid[k], err, sizeof err);
        CHECKF(rc == -1 && err[0] != '\0', "job id \"%s\" accepted", invalid[k]);
    }
    err[0] = '\0';
    CHECKF(mt_job_id_check(too_long, err, sizeof err) == -1 && err[0] != '\0',
           "a job id of %d characters accepted", MT_JOB_ID_MAX + 1);
    /* Every single byte, against the rule written out here. */
    for (int c = 1; c < 256; c++) {
        char id[3] = {'x', (char)c, '\0'};
        int want = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                   (c >= '0' && c <= '9') || c == '.' || c == '_' ||
                   c == '-';
        int rc = mt_job_id_check(id, err, sizeof err);
        CHECKF(rc == (want ? 0 : -1), "byte 0x%02x in a job id: rc %d", c, rc);
        id[0] = (char)c;
        id[1] = '\0';
        rc = mt_job_id_check(id, err, sizeof err);
        CHECKF(rc == (want && c != '-' ? 0 : -1),
               "job id of the single byte 0x%02x: rc %d", c, rc);
    }
}

/* 20261203T161500Z-3f9a2c41: date, 'T', time, 'Z', '-', 8 hex digits. */
static int looks_generated(const char *id) {
    if (strlen(id) != 25) return 0;
    for (int k = 0; k < 25; k++) {
        unsigned char c = (unsigned char)id[k];
        int ok = k < 8 || (k > 8 && k < 15) ? isdigit(c)
               : k == 8 ? c == 'T'
               : k == 15 ? c == 'Z'
               : k == 16 ? c == '-'
               : isxdigit(c) != 0;
        if (!ok) return 0;
    }
    return 1;
}

static void test_job_id_generate(void) {
    enum { N = 200 };
    static char ids[N][64];
    char err[256];
    size_t bad = 0, dup = 0;
    for (int k = 0; k < N; k++) {
        memset(ids[k], 'Q', sizeof ids[k]);
        mt_job_id_generate(ids[k], 32);
        if (!memchr(ids[k], '\0', 32) || !looks_generated(ids[k]) ||
            mt_job_id_check(ids[k], err, sizeof err) != 0) {
            if (!bad++)
                CHECKF(0, "generated id \"%.40s\" is not valid", ids[k]);
        }
        for (int j = 0; j < k; j++) dup += strcmp(ids[j], ids[k]) == 0;
    }
    CU_ASSERT_EQUAL(bad, 0);
    CHECKF(dup == 0, "%zu duplicate ids among %d", dup, N);
}

/* ---- headers ---- */

static void test_type_names(void) {
    static const struct {
        mt_msg_type_t type;
        const char *name;
    } cases[] = {
        {MT_MSG_TASK, "task"},
        {MT_MSG_RESULT, "result"},
        {MT_MSG_FAILED, "failed"},
        {MT_MSG_END, "end"},
    };
    for (size_t k = 0; k < 4; k++)
        CHECKF(strcmp(mt_msg_type_name(cases[k].type), cases[k].name) == 0,
               "type %d is \"%s\"", (int)cases[k].type,
               mt_msg_type_name(cases[k].type));
    CU_ASSERT_PTR_NOT_NULL(mt_msg_type_name((mt_msg_type_t)4));
    CU_ASSERT_PTR_NOT_NULL(mt_msg_type_name((mt_msg_type_t)-1));
}

static void test_init(void) {
    mt_task_t t;
    memset(&t, 0x5a, sizeof t);
    mt_task_init(&t, MT_MSG_RESULT);
    CU_ASSERT_EQUAL(t.type, MT_MSG_RESULT);
    CU_ASSERT_EQUAL(t.job[0], '\0');
    CU_ASSERT_EQUAL(t.op[0], '\0');
    CU_ASSERT_EQUAL(t.seq, -1);
    CU_ASSERT_EQUAL(t.total, -1);
    CU_ASSERT_PTR_NULL(t.args);
    CU_ASSERT_PTR_NULL(t.error);
}

/* The value of the last header with that name, as a string (NULL when
 * absent). */
static const char *header(const rd_kafka_headers_t *h, const char *name,
                          char *buf, size_t size) {
    const void *v;
    size_t len;
    if (rd_kafka_header_get_last(h, name, &v, &len) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return NULL;
    if (len >= size) len = size - 1;
    memcpy(buf, v ? v : "", len);
    buf[len] = '\0';
    return buf;
}

static int str_is(const char *a, const char *b) { return a && strcmp(a, b) == 0; }

/* The headers mt_task_headers writes, by hand: names and decimal values. */
static void test_headers_content(void) {
    char buf[256];
    mt_task_t t;
    mt_task_init(&t, MT_MSG_TASK);
    strcpy(t.job, "job-1");
    strcpy(t.run, "0123456789abcdef");
    strcpy(t.op, "wordcount");
    t.seq = 42;
    t.offset = 1234567890123ULL;
    t.first_line = 77;
    rd_kafka_headers_t *h = mt_task_headers(&t);
    CU_ASSERT_PTR_NOT_NULL_FATAL(h);
    CU_ASSERT_TRUE(str_is(header(h, "mt-version", buf, sizeof buf), "1"));
    CU_ASSERT_TRUE(str_is(header(h, "mt-type", buf, sizeof buf), "task"));
    CU_ASSERT_TRUE(str_is(header(h, "mt-job", buf, sizeof buf), "job-1"));
    CU_ASSERT_TRUE(str_is(header(h, "mt-run", buf, sizeof buf), "0123456789abcdef"));
    CU_ASSERT_TRUE(str_is(header(h, "mt-op", buf, sizeof buf), "wordcount"));
    CU_ASSERT_TRUE(str_is(header(h, "mt-seq", buf, sizeof buf), "42"));
    CU_ASSERT_TRUE(str_is(header(h, "mt-offset", buf, sizeof buf), "1234567890123"));
    CU_ASSERT_TRUE(str_is(header(h, "mt-line", buf, sizeof buf), "77"));
    CU_ASSERT_PTR_NULL(header(h, "mt-total", buf, sizeof buf));
    CU_ASSERT_PTR_NULL(header(h, "mt-args", buf, sizeof buf));
    CU_ASSERT_PTR_NULL(header(h, "mt-error", buf, sizeof buf));
    rd_kafka_headers_destroy(h);

    mt_task_init(&t, MT_MSG_END);
    strcpy(t.job, "j");
    strcpy(t.run, "f00d");
    t.total = 9;
    h = mt_task_headers(&t);
    CU_ASSERT_PTR_NOT_NULL_FATAL(h);
    CU_ASSERT_TRUE(str_is(header(h, "mt-type", buf, sizeof buf), "end"));
    CU_ASSERT_TRUE(str_is(header(h, "mt-total", buf, sizeof buf), "9"));
    CU_ASSERT_PTR_NULL(header(h, "mt-seq", buf, sizeof buf));
    CU_ASSERT_PTR_NULL(header(h, "mt-offset", buf, sizeof buf));
    rd_kafka_headers_destroy(h);
}

/* Builds headers for t, decodes them, and compares field by field. */
static void round_trip(const mt_task_t *t, const char *label) {
    rd_kafka_headers_t *h = mt_task_headers(t);
    CHECKF(h != NULL, "%s: mt_task_headers failed", label);
    if (!h) return;
    mt_task_t d;
    char err[256] = "";
    int rc = mt_task_decode(h, &d, err, sizeof err);
    CHECKF(rc == 0, "%s: decode failed: %s", label, err);
    if (rc == 0) {
        int is_end = t->type == MT_MSG_END, is_task = t->type == MT_MSG_TASK;
        CHECKF(d.type == t->type, "%s: type %d", label, (int)d.type);
        CHECKF(strcmp(d.job, t->job) == 0, "%s: job \"%s\"", label, d.job);
        CHECKF(strcmp(d.run, t->run) == 0, "%s: run \"%s\"", label, d.run);
        CHECKF(strcmp(d.op, is_end ? "" : t->op) == 0, "%s: op \"%s\"", label, d.op);
        CHECKF(d.seq == (is_end ? -1 : t->seq), "%s: seq %lld", label,
               (long long)d.seq);
        CHECKF(d.total == (is_end ? t->total : -1), "%s: total %lld", label,
               (long long)d.total);
        CHECKF(d.offset == (is_task ? t->offset : 0), "%s: offset %llu", label,
               (unsigned long long)d.offset);
        CHECKF(d.first_line == (is_task ? t->first_line : 0),
               "%s: first_line %llu", label, (unsigned long long)d.first_line);
        CHECKF((d.args == NULL) == (t->args == NULL) &&
                   (!d.args || (d.args_len == t->args_len &&
                                memcmp(d.args, t->args, t->args_len) == 0)),
               "%s: args", label);
        CHECKF((d.error == NULL) == (t->error == NULL) &&
                   (!d.error || (d.error_len == t->error_len &&
                                 memcmp(d.error, t->error, t->error_len) == 0)),
               "%s: error", label);
        int carries = t->type == MT_MSG_RESULT || t->type == MT_MSG_FAILED;
        CHECKF(d.submitted_ms == (carries ? t->submitted_ms : 0), "%s: submitted_ms %lld",
               label, (long long)d.submitted_ms);
    }
    rd_kafka_headers_destroy(h);
}

static void test_round_trip_every_type(void) {
    char longjob[MT_JOB_ID_MAX + 1], longop[MT_OP_NAME_MAX + 1];
    memset(longjob, 'J', MT_JOB_ID_MAX);
    longjob[MT_JOB_ID_MAX] = '\0';
    memset(longop, 'o', MT_OP_NAME_MAX);
    longop[MT_OP_NAME_MAX] = '\0';
    static const char args[] = "{\"min\": 2, \"name\": \"x\"}";
    static const char error[] = "map failed:\0 bytes \xff after a NUL";
    static const struct {
        mt_msg_type_t type;
        const char *job, *op;
        int64_t seq, total;
        uint64_t offset, first_line;
        const char *args;
        size_t args_len;
        const char *error;
        size_t error_len;
    } cases[] = {
        {MT_MSG_TASK, "j1", "wordcount", 0, -1, 0, 1, NULL, 0, NULL, 0},
        {MT_MSG_TASK, "j1", "wordcount", 17, -1, 4096, 88, args, sizeof args - 1, NULL, 0},
        {MT_MSG_TASK, "a.b.c_d-e", "op", MT_SEQ_MAX, -1, (uint64_t)INT64_MAX,
         (uint64_t)INT64_MAX, "", 0, NULL, 0},
        {MT_MSG_RESULT, "j2", "wordcount", 3, -1, 0, 0, NULL, 0, NULL, 0},
        {MT_MSG_RESULT, "j2", "wordcount", MT_SEQ_MAX, -1, 0, 0, args, sizeof args - 1, NULL, 0},
        {MT_MSG_FAILED, "j3", "wordcount", 5, -1, 0, 0, NULL, 0, error, sizeof error - 1},
        {MT_MSG_FAILED, "j3", "wordcount", 0, -1, 0, 0, args, sizeof args - 1, "", 0},
        {MT_MSG_END, "j4", "", -1, 0, 0, 0, NULL, 0, NULL, 0},
        {MT_MSG_END, "j4", "", -1, 12345, 0, 0, NULL, 0, NULL, 0},
        {MT_MSG_END, "j4", "", -1, MT_SEQ_MAX + 1, 0, 0, NULL, 0, NULL, 0},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        mt_task_t t;
        mt_task_init(&t, cases[k].type);
        strcpy(t.job, cases[k].job);
        snprintf(t.run, sizeof t.run, "%x", (unsigned)(k * 2654435761u));
        strcpy(t.op, cases[k].op);
        t.seq = cases[k].seq;
        t.total = cases[k].total;
        t.offset = cases[k].offset;
        t.first_line = cases[k].first_line;
        t.args = cases[k].args;
        t.args_len = cases[k].args_len;
        t.error = cases[k].error;
        t.error_len = cases[k].error_len;
        t.submitted_ms = k % 2 ? 1796364956114LL + (int64_t)k : 0;
        char label[64];
        snprintf(label, sizeof label, "round trip %zu (%s)", k,
                 mt_msg_type_name(cases[k].type));
        round_trip(&t, label);
    }
    /* The longest job id and op name. */
    mt_task_t t;
    mt_task_init(&t, MT_MSG_TASK);
    strcpy(t.job, longjob);
    memset(t.run, 'a', MT_RUN_ID_MAX);
    t.run[MT_RUN_ID_MAX] = '\0';
    strcpy(t.op, longop);
    t.seq = 1;
    t.first_line = 1;
    round_trip(&t, "longest job id and op name");

    /* mt-submitted is only for latency: a bad one is ignored, never fatal */
    static const char *const bad_ts[] = {"", "-5", "0", "12x", "99999999999999999999"};
    for (size_t k = 0; k < sizeof bad_ts / sizeof bad_ts[0]; k++) {
        mt_task_init(&t, MT_MSG_RESULT);
        strcpy(t.job, "j");
        strcpy(t.run, "7e57");
        strcpy(t.op, "stats");
        t.seq = 2;
        rd_kafka_headers_t *h = mt_task_headers(&t);
        rd_kafka_header_add(h, "mt-submitted", -1, bad_ts[k], -1);
        mt_task_t d;
        char err[128];
        int rc = mt_task_decode(h, &d, err, sizeof err);
        CHECKF(rc == 0 && d.submitted_ms == 0, "mt-submitted \"%s\": rc %d (%s), %lld",
               bad_ts[k], rc, rc ? err : "", (long long)d.submitted_ms);
        rd_kafka_headers_destroy(h);
    }
}

/* ---- decoding hand-built headers ---- */

/* One header: name and value (value NULL: a header without a value; len
 * SIZE_MAX: strlen(value)). */
typedef struct hdr {
    const char *name;
    const char *value;
    size_t len;
} hdr_t;

static rd_kafka_headers_t *build(const hdr_t *hs, size_t n) {
    rd_kafka_headers_t *h = rd_kafka_headers_new(n ? n : 1);
    for (size_t k = 0; k < n; k++) {
        size_t len = hs[k].len == SIZE_MAX && hs[k].value ? strlen(hs[k].value)
                                                          : hs[k].len;
        rd_kafka_header_add(h, hs[k].name, -1, hs[k].value,
                            hs[k].value ? (ssize_t)len : 0);
    }
    return h;
}

#define V(s) (s), SIZE_MAX

/* A valid task message's headers; tests change one at a time. */
static const hdr_t good_task[] = {
    {"mt-version", V("1")},  {"mt-type", V("task")},  {"mt-job", V("job-7")}, {"mt-run", V("7e57")},
    {"mt-op", V("wordcount")}, {"mt-seq", V("3")},    {"mt-offset", V("100")},
    {"mt-line", V("5")},
};
enum { NGOOD = sizeof good_task / sizeof good_task[0] };

static const hdr_t good_end[] = {
    {"mt-version", V("1")}, {"mt-type", V("end")}, {"mt-job", V("job-7")}, {"mt-run", V("7e57")},
    {"mt-total", V("10")},
};

/* Decodes good_task with header `name` replaced by value (or removed when
 * remove is set). Returns mt_task_decode's result; err receives the
 * message. */
static int decode_variant(const hdr_t *base, size_t nbase, const char *name,
                          const char *value, size_t len, int remove,
                          mt_task_t *t, char *err, size_t errsize) {
    hdr_t hs[16];
    size_t n = 0;
    for (size_t k = 0; k < nbase; k++) {
        if (strcmp(base[k].name, name) == 0) {
            if (remove) continue;
            hs[n++] = (hdr_t){name, value, len};
        } else {
            hs[n++] = base[k];
        }
    }
    rd_kafka_headers_t *h = build(hs, n);
    err[0] = '\0';
    int rc = mt_task_decode(h, t, err, errsize);
    rd_kafka_headers_destroy(h);
    return rc;
}

static void test_decode_hand_built(void) {
    mt_task_t t;
    char err[256];
    rd_kafka_headers_t *h = build(good_task, NGOOD);
    CU_ASSERT_EQUAL_FATAL(mt_task_decode(h, &t, err, sizeof err), 0);
    CU_ASSERT_EQUAL(t.type, MT_MSG_TASK);
    CU_ASSERT_STRING_EQUAL(t.job, "job-7");
    CU_ASSERT_STRING_EQUAL(t.op, "wordcount");
    CU_ASSERT_EQUAL(t.seq, 3);
    CU_ASSERT_EQUAL(t.offset, 100);
    CU_ASSERT_EQUAL(t.first_line, 5);
    CU_ASSERT_PTR_NULL(t.args);
    CU_ASSERT_PTR_NULL(t.error);
    rd_kafka_headers_destroy(h);

    h = build(good_end, 5);
    CU_ASSERT_EQUAL_FATAL(mt_task_decode(h, &t, err, sizeof err), 0);
    CU_ASSERT_EQUAL(t.type, MT_MSG_END);
    CU_ASSERT_EQUAL(t.total, 10);
    CU_ASSERT_EQUAL(t.seq, -1);
    CU_ASSERT_STRING_EQUAL(t.op, "");
    rd_kafka_headers_destroy(h);

    /* Extra unknown headers are ignored; the header order does not matter. */
    hdr_t shuffled[NGOOD + 2];
    for (size_t k = 0; k < NGOOD; k++) shuffled[k] = good_task[NGOOD - 1 - k];
    shuffled[NGOOD] = (hdr_t){"x-trace", V("abc")};
    shuffled[NGOOD + 1] = (hdr_t){"mt-future", NULL, 0};
    h = build(shuffled, NGOOD + 2);
    CU_ASSERT_EQUAL(mt_task_decode(h, &t, err, sizeof err), 0);
    CU_ASSERT_EQUAL(t.seq, 3);
    rd_kafka_headers_destroy(h);

}

static void test_decode_missing(void) {
    mt_task_t t;
    char err[256];
    /* Every required header of a task, and of an end marker. */
    for (size_t k = 0; k < NGOOD; k++) {
        int rc = decode_variant(good_task, NGOOD, good_task[k].name, NULL, 0, 1,
                                &t, err, sizeof err);
        CHECKF(rc == -1 && strstr(err, good_task[k].name),
               "task without %s: rc %d, err \"%s\"", good_task[k].name, rc, err);
    }
    for (size_t k = 0; k < 5; k++) {
        int rc = decode_variant(good_end, 5, good_end[k].name, NULL, 0, 1, &t,
                                err, sizeof err);
        CHECKF(rc == -1 && strstr(err, good_end[k].name),
               "end without %s: rc %d, err \"%s\"", good_end[k].name, rc, err);
    }
    /* A result and a failed message need no offset and line... */
    static const hdr_t result[] = {
        {"mt-version", V("1")}, {"mt-type", V("result")}, {"mt-job", V("j")}, {"mt-run", V("1")},
        {"mt-op", V("wordcount")}, {"mt-seq", V("0")},
    };
    rd_kafka_headers_t *h = build(result, 6);
    CU_ASSERT_EQUAL(mt_task_decode(h, &t, err, sizeof err), 0);
    CU_ASSERT_EQUAL(t.type, MT_MSG_RESULT);
    rd_kafka_headers_destroy(h);
    /* ... but a run, a seq and an op. */
    for (size_t k = 3; k < 6; k++) {
        int rc = decode_variant(result, 6, result[k].name, NULL, 0, 1, &t, err,
                                sizeof err);
        CHECKF(rc == -1, "result without %s: rc %d", result[k].name, rc);
    }
    /* A task with a bad header after its number still says whose it is. */
    CU_ASSERT_EQUAL(decode_variant(good_task, NGOOD, "mt-offset", V("x"), 0, &t,
                                   err, sizeof err), -1);
    CU_ASSERT_TRUE(mt_task_identified(&t));
    CU_ASSERT_STRING_EQUAL(t.job, "job-7");
    CU_ASSERT_STRING_EQUAL(t.run, "7e57");
    CU_ASSERT_EQUAL(t.seq, 3);
    /* ... but not one whose run or number is bad. */
    CU_ASSERT_EQUAL(decode_variant(good_task, NGOOD, "mt-run", V("XYZ"), 0, &t,
                                   err, sizeof err), -1);
    CU_ASSERT_FALSE(mt_task_identified(&t));
    CU_ASSERT_EQUAL(decode_variant(good_task, NGOOD, "mt-seq", V("-3"), 0, &t,
                                   err, sizeof err), -1);
    CU_ASSERT_FALSE(mt_task_identified(&t));
    /* No headers at all. */
    h = rd_kafka_headers_new(1);
    err[0] = '\0';
    CU_ASSERT_EQUAL(mt_task_decode(h, &t, err, sizeof err), -1);
    CU_ASSERT_TRUE(err[0] != '\0');
    rd_kafka_headers_destroy(h);
    err[0] = '\0';
    CU_ASSERT_EQUAL(mt_task_decode(NULL, &t, err, sizeof err), -1);
    CU_ASSERT_TRUE(err[0] != '\0');
}

/* value[0..len) with non-printable bytes as \xNN, for messages. */
static const char *show(const char *value, size_t len, char *buf, size_t size) {
    size_t o = 0;
    if (!value) return "(no value)";
    if (len == SIZE_MAX) len = strlen(value);
    for (size_t j = 0; j < len && o + 5 < size; j++) {
        unsigned char c = (unsigned char)value[j];
        o += (size_t)snprintf(buf + o, size - o,
                              c >= 0x20 && c < 0x7f ? "%c" : "\\x%02x", c);
    }
    buf[o] = '\0';
    return buf;
}

typedef struct bad_value {
    const char *name;
    const char *value;
    size_t len;
} bad_value_t;

static void test_decode_malformed(void) {
    char long_job[MT_JOB_ID_MAX + 2], long_op[MT_OP_NAME_MAX + 2];
    memset(long_job, 'j', MT_JOB_ID_MAX + 1);
    long_job[MT_JOB_ID_MAX + 1] = '\0';
    memset(long_op, 'o', MT_OP_NAME_MAX + 1);
    long_op[MT_OP_NAME_MAX + 1] = '\0';
    const bad_value_t bad[] = {
        /* version */
        {"mt-version", V("2")}, {"mt-version", V("0")}, {"mt-version", V("")},
        {"mt-version", V("11")}, {"mt-version", V("1 ")}, {"mt-version", V(" 1")},
        {"mt-version", V("1.0")}, {"mt-version", "1\0", 2},
        {"mt-version", NULL, 0},
        {"mt-version", V("1111111111111111111111111111111111111111")},
        /* type */
        {"mt-type", V("bogus")}, {"mt-type", V("TASK")}, {"mt-type", V("tasks")},
        {"mt-type", V("tas")}, {"mt-type", V("")}, {"mt-type", V("task ")},
        {"mt-type", "task\0", 5}, {"mt-type", V("?")}, {"mt-type", NULL, 0},
        {"mt-type", V("resultresultresultresult")},
        /* job */
        {"mt-job", V("")}, {"mt-job", V("-x")}, {"mt-job", V("a b")},
        {"mt-job", V("a/b")}, {"mt-job", "a\0b", 3}, {"mt-job", V(long_job)},
        {"mt-job", NULL, 0}, {"mt-job", V("caf\xc3\xa9")},
        /* op */
        {"mt-op", V("")}, {"mt-op", V(long_op)}, {"mt-op", "w\0c", 3},
        /* seq: range, non-numeric, sign, spaces */
        {"mt-seq", V("-1")}, {"mt-seq", V("134217727")},
        {"mt-seq", V("9223372036854775807")}, {"mt-seq", V("9223372036854775808")},
        {"mt-seq", V("99999999999999999999")}, {"mt-seq", V("")},
        {"mt-seq", V("abc")}, {"mt-seq", V("1x")}, {"mt-seq", V("x1")},
        {"mt-seq", V("0x10")}, {"mt-seq", V("1e3")}, {"mt-seq", V("1.0")},
        {"mt-seq", V("+1")}, {"mt-seq", V("-0")}, {"mt-seq", V("+0")},
        {"mt-seq", V(" 1")}, {"mt-seq", V("1 ")}, {"mt-seq", V(" ")},
        {"mt-seq", V("\t1")}, {"mt-seq", V("\n1")}, {"mt-seq", V("1\n")},
        {"mt-seq", V("\r1")}, {"mt-seq", V("\v1")}, {"mt-seq", V("\f1")},
        {"mt-seq", "1\0", 2}, {"mt-seq", NULL, 0}, {"mt-seq", V("- 1")},
        /* offset and line */
        {"mt-offset", V("-1")}, {"mt-offset", V("9223372036854775808")},
        {"mt-offset", V("x")}, {"mt-offset", V("+5")}, {"mt-offset", V(" 5")},
        {"mt-offset", V("-0")},
        {"mt-line", V("0")}, {"mt-line", V("-1")}, {"mt-line", V("")},
        {"mt-line", V("+1")}, {"mt-line", V("\t1")},
    };
    mt_task_t t;
    char err[256];
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        int rc = decode_variant(good_task, NGOOD, bad[k].name, bad[k].value,
                                bad[k].len, 0, &t, err, sizeof err);
        char shown[64];
        CHECKF(rc == -1 && err[0] != '\0', "%s: \"%s\" accepted", bad[k].name,
               show(bad[k].value, bad[k].len, shown, sizeof shown));
    }

    /* The same for mt-total of an end marker. */
    static const struct {
        const char *value;
        int ok;
        int64_t total;
    } totals[] = {
        {"0", 1, 0},           {"134217727", 1, 134217727LL},
        {"134217728", 0, 0},   {"-1", 0, 0}, {"", 0, 0}, {"+3", 0, 0},
        {" 3", 0, 0},          {"3 ", 0, 0}, {"-0", 0, 0}, {"\t3", 0, 0},
        {"three", 0, 0},
    };
    char shown[64];
    for (size_t k = 0; k < sizeof totals / sizeof totals[0]; k++) {
        int rc = decode_variant(good_end, 5, "mt-total", V(totals[k].value), 0,
                                &t, err, sizeof err);
        if (totals[k].ok)
            CHECKF(rc == 0 && t.total == totals[k].total, "mt-total \"%s\": rc %d",
                   totals[k].value, rc);
        else
            CHECKF(rc == -1, "mt-total \"%s\" accepted",
                   show(totals[k].value, SIZE_MAX, shown, sizeof shown));
    }

    /* Bounds that are valid. */
    static const bad_value_t good[] = {
        {"mt-seq", V("0")}, {"mt-seq", V("134217726")}, {"mt-line", V("1")},
        {"mt-offset", V("0")}, {"mt-offset", V("9223372036854775807")},
        {"mt-line", V("9223372036854775807")},
        {"mt-job", V("Job.1.a_b-c")},
    };
    for (size_t k = 0; k < sizeof good / sizeof good[0]; k++) {
        int rc = decode_variant(good_task, NGOOD, good[k].name, good[k].value,
                                good[k].len, 0, &t, err, sizeof err);
        CHECKF(rc == 0, "%s: \"%s\" refused: %s", good[k].name, good[k].value, err);
    }
    CU_ASSERT_EQUAL(decode_variant(good_task, NGOOD, "mt-seq", V("134217726"), 0,
                                   &t, err, sizeof err), 0);
    CU_ASSERT_EQUAL(t.seq, MT_SEQ_MAX);
}

int register_task_suite(void) {
    static const unit_test_t tests[] = {
        {"job id check", test_job_id_check},
        {"generated job ids are valid", test_job_id_generate},
        {"message type names", test_type_names},
        {"mt_task_init", test_init},
        {"headers written", test_headers_content},
        {"round trip of every message type", test_round_trip_every_type},
        {"decode hand-built headers", test_decode_hand_built},
        {"decode: missing headers", test_decode_missing},
        {"decode: malformed values", test_decode_malformed},
        {NULL, NULL},
    };
    return unit_add_suite("task", tests);
}

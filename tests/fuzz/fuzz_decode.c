/* fuzz_decode.c - libFuzzer target for the decoders of bytes that come from
 * outside: mt_delta_decode (a partial result's value) and mt_task_decode (a
 * message's Kafka headers).
 *
 * Input: all of it is decoded as a partial result. Then the first byte
 * picks a split position: the bytes before it (after the first byte) are
 * decoded as a partial result again, and the bytes from it on become a
 * header list, one header per line, "name=value" (a line without '=' is a
 * header without a value; values may hold any byte but a newline).
 *
 * Beyond "no crash, no sanitizer report", it checks:
 *   - a decoded delta re-encodes to bytes that decode to the same delta;
 *   - a failed decode leaves the target delta unchanged and sets err;
 *   - a decoded message satisfies mt_task.h's ranges and survives
 *     mt_task_headers + mt_task_decode unchanged. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "mt_buf.h"
#include "mt_delta.h"
#include "mt_task.h"

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__,   \
                    #cond);                                                    \
            abort();                                                           \
        }                                                                      \
    } while (0)

static void encode(const mt_delta_t *d, mt_buf_t *out) {
    mt_buf_reset(out);
    CHECK(mt_delta_encode(d, out) == 0);
}

static int same_bytes(const mt_buf_t *a, const mt_buf_t *b) {
    return a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

static void fuzz_delta(const uint8_t *data, size_t size) {
    char err[256] = "";
    mt_buf_t a = MT_BUF_INIT, b = MT_BUF_INIT;

    /* Into an empty delta. */
    mt_delta_t *d = mt_delta_new();
    CHECK(d);
    if (mt_delta_decode(d, data, size, err, sizeof err) == 0) {
        for (size_t k = 0; k < mt_delta_size(d); k++) {
            mt_delta_entry_t e, f;
            mt_delta_get(d, k, &e);
            CHECK(e.kind == MT_DELTA_SUM || e.kind == MT_DELTA_FSUM ||
                  e.kind == MT_DELTA_MIN || e.kind == MT_DELTA_MAX ||
                  e.kind == MT_DELTA_MOMENTS || e.kind == MT_DELTA_PIECE);
            CHECK(e.field_len <= MT_DELTA_MAX_FIELD);
            CHECK(e.kind == MT_DELTA_SUM || e.kind == MT_DELTA_PIECE ||
                  (e.f - e.f == 0)); /* finite */
            if (e.kind == MT_DELTA_MOMENTS)
                CHECK(e.i >= 0 && e.m2 >= 0 && e.m2 - e.m2 == 0);
            if (e.kind == MT_DELTA_PIECE) {
                /* the name starts with the position and a tab */
                char pos[24];
                int n = snprintf(pos, sizeof pos, "%lld\t", (long long)e.i);
                CHECK(e.i >= 0 && e.i <= MT_DELTA_MAX_POSITION && e.limit >= 0);
                CHECK(e.field_len >= (size_t)n && memcmp(e.field, pos, (size_t)n) == 0);
            }
            CHECK(mt_delta_find(d, e.field, e.field_len, &f) == 1);
            CHECK(f.kind == e.kind && f.i == e.i);
        }
        encode(d, &a);
        mt_delta_t *d2 = mt_delta_new();
        CHECK(d2);
        CHECK(mt_delta_decode(d2, a.data, a.len, err, sizeof err) == 0);
        CHECK(mt_delta_size(d2) == mt_delta_size(d));
        encode(d2, &b);
        CHECK(same_bytes(&a, &b));
        mt_delta_destroy(d2);
    } else {
        CHECK(err[0] != '\0');
        CHECK(mt_delta_size(d) == 0);
    }
    mt_delta_destroy(d);

    /* Into a delta that already holds fields short names can hit. */
    d = mt_delta_new();
    CHECK(d);
    CHECK(mt_delta_add(d, MT_DELTA_SUM, "a", 1, 1, 0, err, sizeof err) == 0);
    CHECK(mt_delta_add(d, MT_DELTA_SUM, "", 0, INT64_MAX - 1, 0, err, sizeof err) == 0);
    CHECK(mt_delta_add(d, MT_DELTA_MIN, "b", 1, 0, 0.5, err, sizeof err) == 0);
    CHECK(mt_delta_add(d, MT_DELTA_FSUM, "c", 1, 0, 1e308, err, sizeof err) == 0);
    CHECK(mt_delta_add(d, MT_DELTA_MAX, "\0", 1, 0, -1.0, err, sizeof err) == 0);
    encode(d, &a);
    err[0] = '\0';
    if (mt_delta_decode(d, data, size, err, sizeof err) != 0) {
        CHECK(err[0] != '\0');
        encode(d, &b);
        CHECK(same_bytes(&a, &b)); /* all or nothing */
    }
    mt_delta_destroy(d);
    mt_buf_free(&a);
    mt_buf_free(&b);
}

/* Builds a header list from "name=value" lines. */
static rd_kafka_headers_t *headers_from(const uint8_t *p, size_t size) {
    rd_kafka_headers_t *h = rd_kafka_headers_new(8);
    const uint8_t *end = p + size;
    CHECK(h);
    while (p < end) {
        const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
        const uint8_t *line_end = nl ? nl : end;
        const uint8_t *eq = memchr(p, '=', (size_t)(line_end - p));
        const uint8_t *name_end = eq ? eq : line_end;
        if (eq)
            rd_kafka_header_add(h, (const char *)p, (ssize_t)(name_end - p),
                                eq + 1, (ssize_t)(line_end - eq - 1));
        else
            rd_kafka_header_add(h, (const char *)p, (ssize_t)(name_end - p),
                                NULL, 0);
        p = nl ? nl + 1 : end;
    }
    return h;
}

static int same_opt_bytes(const char *a, size_t alen, const char *b,
                          size_t blen) {
    if (!a || !b) return a == b;
    return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

static void fuzz_headers(const uint8_t *data, size_t size) {
    rd_kafka_headers_t *h = headers_from(data, size);
    mt_task_t t;
    char err[256] = "";
    if (mt_task_decode(h, &t, err, sizeof err) == 0) {
        CHECK((unsigned)t.type <= MT_MSG_END);
        CHECK(mt_job_id_check(t.job, err, sizeof err) == 0);
        if (t.type == MT_MSG_END) {
            CHECK(t.seq == -1 && t.op[0] == '\0');
            CHECK(t.total >= 0 && t.total <= MT_SEQ_MAX + 1);
        } else {
            CHECK(t.op[0] != '\0' && strlen(t.op) <= MT_OP_NAME_MAX);
            CHECK(t.seq >= 0 && t.seq <= MT_SEQ_MAX && t.total == -1);
        }
        if (t.type == MT_MSG_TASK) CHECK(t.first_line >= 1);
        else CHECK(t.offset == 0 && t.first_line == 0);

        rd_kafka_headers_t *h2 = mt_task_headers(&t);
        mt_task_t u;
        CHECK(h2);
        CHECK(mt_task_decode(h2, &u, err, sizeof err) == 0);
        CHECK(u.type == t.type && strcmp(u.job, t.job) == 0 &&
              strcmp(u.op, t.op) == 0 && u.seq == t.seq &&
              u.total == t.total && u.offset == t.offset &&
              u.first_line == t.first_line);
        CHECK(same_opt_bytes(u.args, u.args_len, t.args, t.args_len));
        CHECK(same_opt_bytes(u.error, u.error_len, t.error, t.error_len));
        rd_kafka_headers_destroy(h2);
    } else {
        CHECK(err[0] != '\0');
    }
    rd_kafka_headers_destroy(h);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_delta(data, size);
    if (size == 0) return 0;
    size_t split = 1 + (size_t)data[0] % size; /* 1 .. size */
    fuzz_delta(data + 1, split - 1);
    fuzz_headers(data + split, size - split);
    return 0;
}

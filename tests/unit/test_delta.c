/* test_delta.c - mt_delta: merge rules, all-or-nothing errors, a large
 * index, and the wire encoding (round trip and malformed input). */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mt_delta.h"
#include "suites.h"

/* ---- helpers ---- */

/* The field's entry, or an entry of kind 0 when absent. */
static mt_delta_entry_t get_field(const mt_delta_t *d, const void *name,
                                  size_t len) {
    mt_delta_entry_t e;
    memset(&e, 0, sizeof e);
    if (!mt_delta_find(d, name, len, &e)) memset(&e, 0, sizeof e);
    return e;
}
#define FIELD(d, s) get_field((d), (s), sizeof(s) - 1)

static int same_double(double a, double b) {
    return memcmp(&a, &b, sizeof a) == 0;
}

/* 1 when a and b hold the same fields, kinds and values (bit for bit), in
 * the same insertion order. */
static int same_delta(const mt_delta_t *a, const mt_delta_t *b) {
    if (mt_delta_size(a) != mt_delta_size(b)) return 0;
    for (size_t k = 0; k < mt_delta_size(a); k++) {
        mt_delta_entry_t x, y;
        mt_delta_get(a, k, &x);
        mt_delta_get(b, k, &y);
        if (x.kind != y.kind || x.field_len != y.field_len ||
            memcmp(x.field, y.field, x.field_len) != 0)
            return 0;
        if (x.i != y.i || !same_double(x.f, y.f) || !same_double(x.m2, y.m2) ||
            x.limit != y.limit)
            return 0;
    }
    return 1;
}

static void add_ok(mt_delta_t *d, mt_delta_kind_t kind, const char *name,
                   size_t len, int64_t i, double f) {
    char err[256];
    int rc = mt_delta_add(d, kind, name, len, i, f, err, sizeof err);
    CHECKF(rc == 0, "mt_delta_add('%c', \"%.*s\") failed: %s", (char)kind,
           (int)len, name, err);
}

/* A big-endian 32-bit and 64-bit writer, for encodings built by hand. */
static size_t put32(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
    return 4;
}
static size_t put64(unsigned char *p, uint64_t v) {
    put32(p, (uint32_t)(v >> 32));
    put32(p + 4, (uint32_t)v);
    return 8;
}
/* Appends one encoded field: kind, u32 name length, name, 8 value bytes. */
static size_t put_field(unsigned char *p, int kind, const char *name,
                        size_t len, uint64_t bits) {
    size_t n = 0;
    p[n++] = (unsigned char)kind;
    n += put32(p + n, (uint32_t)len);
    memcpy(p + n, name, len);
    n += len;
    n += put64(p + n, bits);
    return n;
}
static uint64_t dbits(double f) {
    uint64_t b;
    memcpy(&b, &f, 8);
    return b;
}

/* ---- building ---- */

static void test_empty(void) {
    mt_delta_t *d = mt_delta_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    CU_ASSERT_EQUAL(mt_delta_size(d), 0);
    mt_delta_entry_t e;
    CU_ASSERT_EQUAL(mt_delta_find(d, "x", 1, &e), 0);
    CU_ASSERT_EQUAL(mt_delta_find(d, "", 0, &e), 0);
    mt_delta_destroy(d);
    mt_delta_destroy(NULL);
}

/* Each kind's rule, from a table of values added in order. */
static void test_rules(void) {
    static const struct {
        mt_delta_kind_t kind;
        int n;
        int64_t i[5];
        double f[5];
        int64_t want_i;
        double want_f;
    } cases[] = {
        {MT_DELTA_SUM, 1, {5}, {0}, 5, 0},
        {MT_DELTA_SUM, 3, {5, -7, 100}, {0}, 98, 0},
        {MT_DELTA_SUM, 2, {INT64_MAX, 0}, {0}, INT64_MAX, 0},
        {MT_DELTA_SUM, 2, {INT64_MAX, INT64_MIN}, {0}, -1, 0},
        {MT_DELTA_SUM, 2, {INT64_MIN, 0}, {0}, INT64_MIN, 0},
        {MT_DELTA_SUM, 3, {INT64_MAX - 2, 1, 1}, {0}, INT64_MAX, 0},
        {MT_DELTA_FSUM, 1, {0}, {1.5}, 0, 1.5},
        {MT_DELTA_FSUM, 3, {0}, {1.5, 2.25, -0.75}, 0, 3.0},
        {MT_DELTA_FSUM, 2, {0}, {DBL_MAX, -DBL_MAX}, 0, 0.0},
        {MT_DELTA_MIN, 1, {0}, {4.0}, 0, 4.0},
        {MT_DELTA_MIN, 4, {0}, {5.0, 3.0, 7.0, 3.5}, 0, 3.0},
        {MT_DELTA_MIN, 3, {0}, {-1.0, -DBL_MAX, 2.0}, 0, -DBL_MAX},
        {MT_DELTA_MIN, 2, {0}, {0.5, 0.25}, 0, 0.25},
        {MT_DELTA_MAX, 1, {0}, {-4.0}, 0, -4.0},
        {MT_DELTA_MAX, 4, {0}, {5.0, 3.0, 7.0, 6.5}, 0, 7.0},
        {MT_DELTA_MAX, 3, {0}, {-1.0, DBL_MAX, 2.0}, 0, DBL_MAX},
        {MT_DELTA_MAX, 3, {0}, {-3.0, -2.0, -5.0}, 0, -2.0},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        mt_delta_t *d = mt_delta_new();
        CU_ASSERT_PTR_NOT_NULL_FATAL(d);
        for (int j = 0; j < cases[k].n; j++)
            add_ok(d, cases[k].kind, "v", 1, cases[k].i[j], cases[k].f[j]);
        mt_delta_entry_t e = FIELD(d, "v");
        CHECKF(mt_delta_size(d) == 1 && e.kind == cases[k].kind,
               "case %zu: size %zu kind %d", k, mt_delta_size(d), (int)e.kind);
        if (cases[k].kind == MT_DELTA_SUM)
            CHECKF(e.i == cases[k].want_i, "case %zu: sum %lld, want %lld", k,
                   (long long)e.i, (long long)cases[k].want_i);
        else
            CHECKF(e.f == cases[k].want_f, "case %zu ('%c'): %.17g, want %.17g",
                   k, (char)cases[k].kind, e.f, cases[k].want_f);
        mt_delta_destroy(d);
    }
}

static void test_add_int_and_order(void) {
    mt_delta_t *d = mt_delta_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    CU_ASSERT_EQUAL(mt_delta_add_int(d, "b", 1, 2), 0);
    CU_ASSERT_EQUAL(mt_delta_add_int(d, "a", 1, 1), 0);
    CU_ASSERT_EQUAL(mt_delta_add_int(d, "b", 1, 3), 0);
    CU_ASSERT_EQUAL(mt_delta_add_int(d, "", 0, 4), 0); /* empty name */
    CU_ASSERT_EQUAL(mt_delta_add_int(d, "a\0b", 3, 5), 0);
    CU_ASSERT_EQUAL(mt_delta_add_int(d, "a\0c", 3, 6), 0);
    CU_ASSERT_EQUAL(mt_delta_add_int(d, "a\0", 2, 7), 0);
    CU_ASSERT_EQUAL_FATAL(mt_delta_size(d), 6);
    static const struct {
        const char *name;
        size_t len;
        int64_t v;
    } want[] = {{"b", 1, 5}, {"a", 1, 1}, {"", 0, 4},
                {"a\0b", 3, 5}, {"a\0c", 3, 6}, {"a\0", 2, 7}};
    for (size_t k = 0; k < 6; k++) {
        mt_delta_entry_t e;
        mt_delta_get(d, k, &e);
        CHECKF(e.kind == MT_DELTA_SUM && e.field_len == want[k].len &&
                   memcmp(e.field, want[k].name, want[k].len) == 0 &&
                   e.i == want[k].v,
               "entry %zu: len %zu value %lld", k, e.field_len, (long long)e.i);
        mt_delta_entry_t f = get_field(d, want[k].name, want[k].len);
        CHECKF(f.kind == MT_DELTA_SUM && f.i == want[k].v, "find %zu", k);
    }
    CU_ASSERT_EQUAL(get_field(d, "a\0d", 3).kind, 0);
    mt_delta_destroy(d);
}

static void test_clear(void) {
    mt_delta_t *d = mt_delta_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    char name[16];
    for (int k = 0; k < 1000; k++) {
        int n = snprintf(name, sizeof name, "w%d", k);
        CU_ASSERT_EQUAL(mt_delta_add_int(d, name, (size_t)n, k), 0);
    }
    mt_delta_clear(d);
    CU_ASSERT_EQUAL(mt_delta_size(d), 0);
    CU_ASSERT_EQUAL(FIELD(d, "w5").kind, 0);
    add_ok(d, MT_DELTA_MIN, "w5", 2, 0, 2.5); /* any kind after a clear */
    CU_ASSERT_EQUAL(mt_delta_size(d), 1);
    CU_ASSERT_EQUAL(FIELD(d, "w5").kind, MT_DELTA_MIN);
    CU_ASSERT_EQUAL(FIELD(d, "w5").f, 2.5);
    mt_delta_destroy(d);
}

/* ---- errors leave the delta unchanged ---- */

static void test_add_errors(void) {
    static const struct {
        const char *what;
        mt_delta_kind_t first_kind;
        int64_t first_i;
        double first_f;
        mt_delta_kind_t kind;
        int64_t i;
        double f;
    } cases[] = {
        {"sum overflow", MT_DELTA_SUM, INT64_MAX, 0, MT_DELTA_SUM, 1, 0},
        {"sum underflow", MT_DELTA_SUM, INT64_MIN, 0, MT_DELTA_SUM, -1, 0},
        {"sum overflow by max", MT_DELTA_SUM, 1, 0, MT_DELTA_SUM, INT64_MAX, 0},
        {"fsum overflow", MT_DELTA_FSUM, 0, DBL_MAX, MT_DELTA_FSUM, 0, DBL_MAX},
        {"fsum -overflow", MT_DELTA_FSUM, 0, -DBL_MAX, MT_DELTA_FSUM, 0, -DBL_MAX},
        {"fsum nan", MT_DELTA_FSUM, 0, 1.0, MT_DELTA_FSUM, 0, NAN},
        {"fsum inf", MT_DELTA_FSUM, 0, 1.0, MT_DELTA_FSUM, 0, INFINITY},
        {"min -inf", MT_DELTA_MIN, 0, 1.0, MT_DELTA_MIN, 0, -INFINITY},
        {"min nan", MT_DELTA_MIN, 0, 1.0, MT_DELTA_MIN, 0, NAN},
        {"max inf", MT_DELTA_MAX, 0, 1.0, MT_DELTA_MAX, 0, INFINITY},
        {"max nan", MT_DELTA_MAX, 0, 1.0, MT_DELTA_MAX, 0, NAN},
        {"sum then fsum", MT_DELTA_SUM, 1, 0, MT_DELTA_FSUM, 0, 1.0},
        {"sum then min", MT_DELTA_SUM, 1, 0, MT_DELTA_MIN, 0, 1.0},
        {"fsum then sum", MT_DELTA_FSUM, 0, 1.0, MT_DELTA_SUM, 1, 0},
        {"min then max", MT_DELTA_MIN, 0, 1.0, MT_DELTA_MAX, 0, 1.0},
        {"max then min", MT_DELTA_MAX, 0, 1.0, MT_DELTA_MIN, 0, 1.0},
        {"unknown kind", MT_DELTA_SUM, 1, 0, (mt_delta_kind_t)'x', 1, 1.0},
        {"unknown kind 0", MT_DELTA_SUM, 1, 0, (mt_delta_kind_t)0, 1, 1.0},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        mt_delta_t *d = mt_delta_new(), *copy = mt_delta_new();
        CU_ASSERT_PTR_NOT_NULL_FATAL(d);
        CU_ASSERT_PTR_NOT_NULL_FATAL(copy);
        add_ok(d, MT_DELTA_SUM, "other", 5, 9, 0);
        add_ok(d, cases[k].first_kind, "f", 1, cases[k].first_i,
               cases[k].first_f);
        add_ok(copy, MT_DELTA_SUM, "other", 5, 9, 0);
        add_ok(copy, cases[k].first_kind, "f", 1, cases[k].first_i,
               cases[k].first_f);
        char err[256] = "";
        int rc = mt_delta_add(d, cases[k].kind, "f", 1, cases[k].i, cases[k].f,
                              err, sizeof err);
        CHECKF(rc == -1 && err[0] != '\0', "%s: rc %d", cases[k].what, rc);
        CHECKF(same_delta(d, copy), "%s: the delta changed", cases[k].what);
        /* The same bad value on a new field: only non-finite values and
         * unknown kinds are refused there. */
        err[0] = '\0';
        rc = mt_delta_add(d, cases[k].kind, "new", 3, cases[k].i, cases[k].f,
                          err, sizeof err);
        int bad_value = (cases[k].kind != MT_DELTA_SUM &&
                         !isfinite(cases[k].f)) ||
                        (cases[k].kind != MT_DELTA_SUM &&
                         cases[k].kind != MT_DELTA_FSUM &&
                         cases[k].kind != MT_DELTA_MIN &&
                         cases[k].kind != MT_DELTA_MAX);
        if (bad_value) {
            CHECKF(rc == -1 && same_delta(d, copy),
                   "%s on a new field: rc %d, size %zu", cases[k].what, rc,
                   mt_delta_size(d));
        } else {
            CHECKF(rc == 0 && mt_delta_size(d) == 3,
                   "%s on a new field: rc %d (%s)", cases[k].what, rc, err);
        }
        mt_delta_destroy(d);
        mt_delta_destroy(copy);
    }
}

/* A SUM ignores its f argument, even when it is not finite. */
static void test_sum_ignores_f(void) {
    mt_delta_t *d = mt_delta_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    char err[128];
    CU_ASSERT_EQUAL(mt_delta_add(d, MT_DELTA_SUM, "n", 1, 2, NAN, err, sizeof err), 0);
    CU_ASSERT_EQUAL(mt_delta_add(d, MT_DELTA_SUM, "n", 1, 3, INFINITY, err, sizeof err), 0);
    CU_ASSERT_EQUAL(FIELD(d, "n").i, 5);
    mt_delta_destroy(d);
}

static void test_field_length_limit(void) {
    char *name = malloc(MT_DELTA_MAX_FIELD + 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(name);
    memset(name, 'z', MT_DELTA_MAX_FIELD + 1);
    mt_delta_t *d = mt_delta_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    char err[256] = "";
    CU_ASSERT_EQUAL(mt_delta_add(d, MT_DELTA_SUM, name, MT_DELTA_MAX_FIELD + 1,
                                 1, 0, err, sizeof err), -1);
    CU_ASSERT_TRUE(err[0] != '\0');
    CU_ASSERT_EQUAL(mt_delta_size(d), 0);
    CU_ASSERT_EQUAL(mt_delta_add(d, MT_DELTA_SUM, name, MT_DELTA_MAX_FIELD, 1,
                                 0, err, sizeof err), 0);
    CU_ASSERT_EQUAL(mt_delta_add_int(d, name, MT_DELTA_MAX_FIELD, 2), 0);
    CU_ASSERT_EQUAL(mt_delta_size(d), 1);
    CU_ASSERT_EQUAL(get_field(d, name, MT_DELTA_MAX_FIELD).i, 3);
    /* It encodes and decodes. */
    mt_buf_t enc = MT_BUF_INIT;
    CU_ASSERT_EQUAL_FATAL(mt_delta_encode(d, &enc), 0);
    CU_ASSERT_EQUAL(enc.len, 4 + 5 + MT_DELTA_MAX_FIELD + 8);
    mt_delta_t *back = mt_delta_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(back);
    CU_ASSERT_EQUAL(mt_delta_decode(back, enc.data, enc.len, err, sizeof err), 0);
    CU_ASSERT_TRUE(same_delta(d, back));
    mt_buf_free(&enc);
    mt_delta_destroy(back);
    mt_delta_destroy(d);
    free(name);
}

/* ---- merge ---- */

static void test_merge(void) {
    mt_delta_t *dst = mt_delta_new(), *src = mt_delta_new(), *src_copy = mt_delta_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(dst);
    CU_ASSERT_PTR_NOT_NULL_FATAL(src);
    CU_ASSERT_PTR_NOT_NULL_FATAL(src_copy);
    add_ok(dst, MT_DELTA_SUM, "a", 1, 1, 0);
    add_ok(dst, MT_DELTA_MIN, "lo", 2, 0, 5.0);
    add_ok(dst, MT_DELTA_MAX, "hi", 2, 0, 5.0);
    add_ok(dst, MT_DELTA_FSUM, "f", 1, 0, 1.5);
    add_ok(dst, MT_DELTA_SUM, "only-dst", 8, 42, 0);
    mt_delta_t *parts[2] = {src, src_copy};
    for (int p = 0; p < 2; p++) {
        add_ok(parts[p], MT_DELTA_SUM, "new1", 4, 7, 0);
        add_ok(parts[p], MT_DELTA_SUM, "a", 1, 2, 0);
        add_ok(parts[p], MT_DELTA_MIN, "lo", 2, 0, 3.0);
        add_ok(parts[p], MT_DELTA_MAX, "hi", 2, 0, 9.0);
        add_ok(parts[p], MT_DELTA_FSUM, "f", 1, 0, 0.25);
        add_ok(parts[p], MT_DELTA_MAX, "new2", 4, 0, -1.0);
    }
    char err[256];
    CU_ASSERT_EQUAL_FATAL(mt_delta_merge(dst, src, err, sizeof err), 0);
    CU_ASSERT_TRUE(same_delta(src, src_copy)); /* src untouched */
    CU_ASSERT_EQUAL_FATAL(mt_delta_size(dst), 7);
    static const char *const order[] = {"a",        "lo",   "hi", "f",
                                        "only-dst", "new1", "new2"};
    for (size_t k = 0; k < 7; k++) {
        mt_delta_entry_t e;
        mt_delta_get(dst, k, &e);
        CHECKF(e.field_len == strlen(order[k]) &&
                   memcmp(e.field, order[k], e.field_len) == 0,
               "merged entry %zu is \"%.*s\", want \"%s\"", k, (int)e.field_len,
               e.field, order[k]);
    }
    CU_ASSERT_EQUAL(FIELD(dst, "a").i, 3);
    CU_ASSERT_EQUAL(FIELD(dst, "lo").f, 3.0);
    CU_ASSERT_EQUAL(FIELD(dst, "hi").f, 9.0);
    CU_ASSERT_EQUAL(FIELD(dst, "f").f, 1.75);
    CU_ASSERT_EQUAL(FIELD(dst, "only-dst").i, 42);
    CU_ASSERT_EQUAL(FIELD(dst, "new1").i, 7);
    CU_ASSERT_EQUAL(FIELD(dst, "new2").kind, MT_DELTA_MAX);
    CU_ASSERT_EQUAL(FIELD(dst, "new2").f, -1.0);

    /* Merging an empty delta changes nothing; merging into an empty delta
     * copies. */
    mt_delta_t *empty = mt_delta_new(), *before = mt_delta_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(empty);
    CU_ASSERT_PTR_NOT_NULL_FATAL(before);
    CU_ASSERT_EQUAL(mt_delta_merge(before, dst, err, sizeof err), 0);
    CU_ASSERT_EQUAL(mt_delta_merge(dst, empty, err, sizeof err), 0);
    CU_ASSERT_TRUE(same_delta(dst, before));
    CU_ASSERT_EQUAL(mt_delta_merge(empty, src, err, sizeof err), 0);
    CU_ASSERT_TRUE(same_delta(empty, src));
    mt_delta_destroy(empty);
    mt_delta_destroy(before);
    mt_delta_destroy(dst);
    mt_delta_destroy(src);
    mt_delta_destroy(src_copy);
}

/* A merge that fails anywhere changes nothing, even when the bad field
 * comes after new and mergeable ones. */
static void test_merge_all_or_nothing(void) {
    static const struct {
        const char *what;
        mt_delta_kind_t kind;
        int64_t i;
        double f;
    } bad[] = {
        {"sum overflow", MT_DELTA_SUM, 1, 0},       /* onto INT64_MAX */
        {"kind conflict", MT_DELTA_MIN, 0, 1.0},    /* onto a SUM */
        {"fsum overflow", MT_DELTA_FSUM, 0, DBL_MAX},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        mt_delta_t *dst = mt_delta_new(), *copy = mt_delta_new(),
                   *src = mt_delta_new();
        CU_ASSERT_PTR_NOT_NULL_FATAL(dst && copy && src);
        mt_delta_t *both[2] = {dst, copy};
        for (int j = 0; j < 2; j++) {
            add_ok(both[j], MT_DELTA_SUM, "a", 1, 1, 0);
            add_ok(both[j], MT_DELTA_SUM, "big", 3, INT64_MAX, 0);
            add_ok(both[j], MT_DELTA_FSUM, "fl", 2, 0, DBL_MAX);
            add_ok(both[j], MT_DELTA_SUM, "s", 1, 1, 0);
        }
        /* Enough new fields that a partial merge would grow dst's index. */
        char name[16];
        for (int j = 0; j < 300; j++) {
            int n = snprintf(name, sizeof name, "n%d", j);
            add_ok(src, MT_DELTA_SUM, name, (size_t)n, j, 0);
        }
        add_ok(src, MT_DELTA_SUM, "a", 1, 5, 0);
        if (k == 0) add_ok(src, MT_DELTA_SUM, "big", 3, bad[k].i, 0);
        if (k == 1) add_ok(src, bad[k].kind, "s", 1, 0, bad[k].f);
        if (k == 2) add_ok(src, MT_DELTA_FSUM, "fl", 2, 0, bad[k].f);
        char err[256] = "";
        int rc = mt_delta_merge(dst, src, err, sizeof err);
        CHECKF(rc == -1 && err[0] != '\0', "%s: merge rc %d", bad[k].what, rc);
        CHECKF(same_delta(dst, copy), "%s: dst changed (size %zu, a=%lld)",
               bad[k].what, mt_delta_size(dst), (long long)FIELD(dst, "a").i);
        CHECKF(FIELD(dst, "n0").kind == 0, "%s: a new field leaked in",
               bad[k].what);
        /* dst still works normally afterwards. */
        CU_ASSERT_EQUAL(mt_delta_add_int(dst, "a", 1, 1), 0);
        CU_ASSERT_EQUAL(FIELD(dst, "a").i, 2);
        mt_delta_destroy(dst);
        mt_delta_destroy(copy);
        mt_delta_destroy(src);
    }
}

/* ---- many fields ---- */

enum { MANY = 200000 };

static size_t many_name(char *buf, size_t k) {
    /* Varied lengths and bytes, including NUL and high bytes. */
    size_t n = (size_t)snprintf(buf, 32, "f%zu", k);
    if (k % 3 == 1) buf[n++] = '\0';
    if (k % 5 == 2) buf[n++] = (char)(0x80 + k % 100);
    if (k % 7 == 3)
        for (int j = 0; j < 9; j++) buf[n++] = (char)('a' + j);
    return n;
}

static void test_many_fields(void) {
    int64_t *expect = calloc(MANY, sizeof *expect);
    CU_ASSERT_PTR_NOT_NULL_FATAL(expect);
    mt_delta_t *d = mt_delta_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    char name[48];
    size_t failures = 0;
    /* First pass inserts every field, later passes add to some. */
    for (size_t k = 0; k < MANY; k++) {
        size_t n = many_name(name, k);
        failures += mt_delta_add_int(d, name, n, (int64_t)(k % 13) + 1) != 0;
        expect[k] += (int64_t)(k % 13) + 1;
    }
    unsigned long long seed = 0x1234567u;
    for (size_t r = 0; r < MANY; r++) {
        size_t k = (size_t)(unit_rand(&seed) % MANY);
        size_t n = many_name(name, k);
        failures += mt_delta_add_int(d, name, n, 3) != 0;
        expect[k] += 3;
    }
    CU_ASSERT_EQUAL(failures, 0);
    CU_ASSERT_EQUAL_FATAL(mt_delta_size(d), MANY);

    size_t bad_find = 0, bad_order = 0, first_bad = (size_t)-1;
    for (size_t k = 0; k < MANY; k++) {
        size_t n = many_name(name, k);
        mt_delta_entry_t e;
        if (!mt_delta_find(d, name, n, &e) || e.kind != MT_DELTA_SUM ||
            e.i != expect[k]) {
            bad_find++;
            if (first_bad == (size_t)-1) first_bad = k;
        }
        mt_delta_get(d, k, &e); /* insertion order */
        if (e.field_len != n || memcmp(e.field, name, n) != 0 ||
            e.i != expect[k])
            bad_order++;
    }
    CHECKF(bad_find == 0, "%zu fields wrong through find, first f%zu",
           bad_find, first_bad);
    CHECKF(bad_order == 0, "%zu fields wrong through get", bad_order);
    CU_ASSERT_EQUAL(mt_delta_find(d, "f200000", 7, &(mt_delta_entry_t){0}), 0);

    /* Merge into a delta holding every other field, then check again. */
    mt_delta_t *half = mt_delta_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(half);
    for (size_t k = 0; k < MANY; k += 2) {
        size_t n = many_name(name, k);
        failures += mt_delta_add_int(half, name, n, 1000) != 0;
    }
    char err[256];
    CU_ASSERT_EQUAL_FATAL(mt_delta_merge(half, d, err, sizeof err), 0);
    CU_ASSERT_EQUAL(mt_delta_size(half), MANY);
    bad_find = 0;
    for (size_t k = 0; k < MANY; k++) {
        size_t n = many_name(name, k);
        mt_delta_entry_t e;
        int64_t want = expect[k] + (k % 2 == 0 ? 1000 : 0);
        if (!mt_delta_find(half, name, n, &e) || e.i != want) bad_find++;
    }
    CHECKF(bad_find == 0, "%zu fields wrong after the merge", bad_find);

    /* And through the encoding. */
    mt_buf_t enc = MT_BUF_INIT;
    CU_ASSERT_EQUAL_FATAL(mt_delta_encode(d, &enc), 0);
    mt_delta_t *back = mt_delta_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(back);
    CU_ASSERT_EQUAL(mt_delta_decode(back, enc.data, enc.len, err, sizeof err), 0);
    CU_ASSERT_TRUE(same_delta(d, back));
    mt_buf_free(&enc);
    mt_delta_destroy(back);
    mt_delta_destroy(half);
    mt_delta_destroy(d);
    free(expect);
}

/* ---- encoding ---- */

/* The exact bytes of a small encoding, built by hand: "MTD1", then per
 * field its kind, a big-endian u32 name length, the name and 8 big-endian
 * value bytes (two's complement for SUM, IEEE 754 bits otherwise). */
static void test_encode_bytes(void) {
    mt_delta_t *d = mt_delta_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    add_ok(d, MT_DELTA_SUM, "ab", 2, 258, 0);
    add_ok(d, MT_DELTA_SUM, "", 0, -1, 0);
    add_ok(d, MT_DELTA_MAX, "m", 1, 0, 1.0);
    static const unsigned char want[] = {
        'M', 'T', 'D', '1',
        'i', 0, 0, 0, 2, 'a', 'b', 0, 0, 0, 0, 0, 0, 1, 2,
        'i', 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        '>', 0, 0, 0, 1, 'm', 0x3f, 0xf0, 0, 0, 0, 0, 0, 0,
    };
    mt_buf_t enc = MT_BUF_INIT;
    CU_ASSERT_EQUAL(mt_buf_append(&enc, "xy", 2), 0); /* encode appends */
    CU_ASSERT_EQUAL_FATAL(mt_delta_encode(d, &enc), 0);
    CU_ASSERT_EQUAL_FATAL(enc.len, 2 + sizeof want);
    CU_ASSERT_EQUAL(memcmp(enc.data, "xy", 2), 0);
    CU_ASSERT_EQUAL(memcmp(enc.data + 2, want, sizeof want), 0);
    mt_buf_free(&enc);

    mt_delta_t *empty = mt_delta_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(empty);
    CU_ASSERT_EQUAL(mt_delta_encode(empty, &enc), 0);
    CU_ASSERT_EQUAL(enc.len, 4);
    CU_ASSERT_EQUAL(memcmp(enc.data, "MTD1", 4), 0);
    mt_buf_free(&enc);
    mt_delta_destroy(empty);
    mt_delta_destroy(d);
}

static void test_round_trip(void) {
    mt_delta_t *d = mt_delta_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    add_ok(d, MT_DELTA_SUM, "zero", 4, 0, 0);
    add_ok(d, MT_DELTA_SUM, "max", 3, INT64_MAX, 0);
    add_ok(d, MT_DELTA_SUM, "min", 3, INT64_MIN, 0);
    add_ok(d, MT_DELTA_SUM, "", 0, 17, 0);
    add_ok(d, MT_DELTA_SUM, "\0\xff\r\n", 4, -5, 0);
    add_ok(d, MT_DELTA_FSUM, "pi", 2, 0, 3.141592653589793);
    add_ok(d, MT_DELTA_FSUM, "tiny", 4, 0, 4.9406564584124654e-324);
    add_ok(d, MT_DELTA_FSUM, "negzero", 7, 0, -0.0);
    add_ok(d, MT_DELTA_MIN, "lo", 2, 0, -DBL_MAX);
    add_ok(d, MT_DELTA_MAX, "hi", 2, 0, DBL_MAX);
    add_ok(d, MT_DELTA_MAX, "third", 5, 0, 1.0 / 3.0);
    mt_buf_t enc = MT_BUF_INIT;
    CU_ASSERT_EQUAL_FATAL(mt_delta_encode(d, &enc), 0);
    mt_delta_t *back = mt_delta_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(back);
    char err[256];
    CU_ASSERT_EQUAL_FATAL(mt_delta_decode(back, enc.data, enc.len, err, sizeof err), 0);
    CU_ASSERT_TRUE(same_delta(d, back));
    /* Encoding the decoded delta gives the same bytes. */
    mt_buf_t enc2 = MT_BUF_INIT;
    CU_ASSERT_EQUAL(mt_delta_encode(back, &enc2), 0);
    CU_ASSERT_TRUE(enc.len == enc2.len && memcmp(enc.data, enc2.data, enc.len) == 0);

    /* Decoding into a non-empty delta merges by the rules. */
    mt_delta_t *small = mt_delta_new(), *acc = mt_delta_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(small && acc);
    add_ok(small, MT_DELTA_SUM, "", 0, 17, 0);
    add_ok(small, MT_DELTA_SUM, "\0\xff\r\n", 4, -5, 0);
    add_ok(small, MT_DELTA_FSUM, "pi", 2, 0, 3.141592653589793);
    add_ok(small, MT_DELTA_MIN, "lo", 2, 0, -1.5);
    add_ok(small, MT_DELTA_MAX, "hi", 2, 0, -1.5);
    mt_buf_t senc = MT_BUF_INIT;
    CU_ASSERT_EQUAL_FATAL(mt_delta_encode(small, &senc), 0);
    add_ok(acc, MT_DELTA_MIN, "lo", 2, 0, 0.5);
    add_ok(acc, MT_DELTA_MAX, "hi", 2, 0, 0.5);
    CU_ASSERT_EQUAL(mt_delta_decode(acc, senc.data, senc.len, err, sizeof err), 0);
    CU_ASSERT_EQUAL(mt_delta_decode(acc, senc.data, senc.len, err, sizeof err), 0);
    CU_ASSERT_EQUAL(mt_delta_size(acc), 5);
    CU_ASSERT_EQUAL(get_field(acc, "", 0).i, 34);
    CU_ASSERT_EQUAL(FIELD(acc, "\0\xff\r\n").i, -10);
    CU_ASSERT_EQUAL(FIELD(acc, "pi").f, 2 * 3.141592653589793);
    CU_ASSERT_EQUAL(FIELD(acc, "lo").f, -1.5);
    CU_ASSERT_EQUAL(FIELD(acc, "hi").f, 0.5);
    mt_buf_free(&senc);
    mt_delta_destroy(small);
    mt_delta_destroy(acc);

    /* A decode that would overflow the target is refused, leaving it
     * unchanged: back already holds "max" = INT64_MAX. */
    mt_delta_t *snapshot = mt_delta_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(snapshot);
    CU_ASSERT_EQUAL(mt_delta_merge(snapshot, back, err, sizeof err), 0);
    CU_ASSERT_EQUAL(mt_delta_decode(back, enc.data, enc.len, err, sizeof err), -1);
    CU_ASSERT_TRUE(same_delta(back, snapshot));
    mt_delta_destroy(snapshot);

    /* The encoding of an empty delta decodes to nothing. */
    CU_ASSERT_EQUAL(mt_delta_decode(d, "MTD1", 4, err, sizeof err), 0);
    CU_ASSERT_EQUAL(mt_delta_size(d), 11);
    mt_buf_free(&enc);
    mt_buf_free(&enc2);
    mt_delta_destroy(back);
    mt_delta_destroy(d);
}

/* A delta that every decode test starts from: decodes must leave it as is. */
static mt_delta_t *decode_target(void) {
    mt_delta_t *d = mt_delta_new();
    if (!d) return NULL;
    char err[64];
    mt_delta_add(d, MT_DELTA_SUM, "w", 1, 10, 0, err, sizeof err);
    mt_delta_add(d, MT_DELTA_MIN, "lo", 2, 0, 2.0, err, sizeof err);
    return d;
}

/* Decodes len bytes into a copy of decode_target() and checks it fails and
 * leaves the delta as it was. */
static void expect_decode_fails(const void *buf, size_t len, const char *what) {
    mt_delta_t *d = decode_target(), *copy = decode_target();
    CU_ASSERT_PTR_NOT_NULL_FATAL(d && copy);
    char err[256] = "";
    int rc = mt_delta_decode(d, buf, len, err, sizeof err);
    CHECKF(rc == -1 && err[0] != '\0', "%s: decode rc %d", what, rc);
    CHECKF(same_delta(d, copy), "%s: decode changed the delta", what);
    mt_delta_destroy(d);
    mt_delta_destroy(copy);
}

static void test_decode_bad_magic(void) {
    static const struct {
        const char *bytes;
        size_t len;
    } cases[] = {
        {"", 0},      {"M", 1},         {"MTD", 3},       {"MTD2", 4},
        {"XTD1", 4},  {"mtd1", 4},      {"MTD0", 4},      {"1DTM", 4},
        {"\0\0\0\0", 4}, {"MTD2i\0\0\0\0\0\0\0\0\0\0\0\1", 17},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char what[64];
        snprintf(what, sizeof what, "bad magic case %zu", k);
        expect_decode_fails(cases[k].bytes, cases[k].len, what);
    }
}

/* Every prefix of a valid encoding is refused, except the prefixes that end
 * exactly between fields (those are valid encodings of fewer fields). */
static void test_decode_truncations(void) {
    unsigned char enc[256];
    size_t n = 0, ends[8], nends = 0;
    memcpy(enc, "MTD1", 4);
    n = 4;
    ends[nends++] = n;
    /* The fields merge into decode_target()'s fields, so any partial merge
     * would show. */
    n += put_field(enc + n, 'i', "w", 1, 5);
    ends[nends++] = n;
    n += put_field(enc + n, '<', "lo", 2, dbits(1.0));
    ends[nends++] = n;
    n += put_field(enc + n, 'f', "longer name", 11, dbits(2.5));
    ends[nends++] = n;
    n += put_field(enc + n, 'i', "w", 1, 7);
    ends[nends++] = n;
    CU_ASSERT_EQUAL_FATAL(n, 4 + 14 + 15 + 24 + 14);

    for (size_t len = 0; len <= n; len++) {
        int is_end = 0;
        for (size_t j = 0; j < nends; j++) is_end |= ends[j] == len;
        if (!is_end) {
            char what[64];
            snprintf(what, sizeof what, "prefix of %zu of %zu bytes", len, n);
            expect_decode_fails(enc, len, what);
            continue;
        }
        mt_delta_t *d = decode_target();
        CU_ASSERT_PTR_NOT_NULL_FATAL(d);
        char err[256] = "";
        int rc = mt_delta_decode(d, enc, len, err, sizeof err);
        CHECKF(rc == 0, "prefix of %zu bytes (whole fields): %s", len, err);
        /* Expected values by hand, per number of whole fields. */
        int64_t w = 10 + (len >= ends[1] ? 5 : 0) + (len >= ends[4] ? 7 : 0);
        double lo = len >= ends[2] ? 1.0 : 2.0;
        CHECKF(FIELD(d, "w").i == w && FIELD(d, "lo").f == lo,
               "prefix of %zu bytes: w=%lld lo=%g", len,
               (long long)FIELD(d, "w").i, FIELD(d, "lo").f);
        CHECKF(FIELD(d, "longer name").kind == (len >= ends[3] ? MT_DELTA_FSUM : 0),
               "prefix of %zu bytes: \"longer name\"", len);
        mt_delta_destroy(d);
    }
}

static void test_decode_malformed_fields(void) {
    unsigned char buf[128];
    size_t n;
    struct {
        const char *what;
        int kind;
        uint32_t len_field;   /* name length written in the header */
        size_t name_bytes;    /* name bytes actually present */
        uint64_t bits;
    } cases[] = {
        {"unknown kind x", 'x', 1, 1, 1},
        {"unknown kind 0", 0, 1, 1, 1},
        {"unknown kind I", 'I', 1, 1, 1},
        {"unknown kind 0xff", 0xff, 1, 1, 1},
        {"fsum NaN", 'f', 1, 1, 0x7ff8000000000000ULL},
        {"fsum +inf", 'f', 1, 1, 0x7ff0000000000000ULL},
        {"fsum -inf", 'f', 1, 1, 0xfff0000000000000ULL},
        {"min -inf", '<', 1, 1, 0xfff0000000000000ULL},
        {"min NaN", '<', 1, 1, 0x7ff0000000000001ULL},
        {"max +inf", '>', 1, 1, 0x7ff0000000000000ULL},
        {"max negative NaN", '>', 1, 1, 0xfff8000000000000ULL},
        {"name length past the end", 'i', 40, 1, 1},
        {"name length MAX+1", 'i', MT_DELTA_MAX_FIELD + 1, 1, 1},
        {"name length 2^31", 'i', 0x80000000u, 1, 1},
        {"name length 2^32-1", 'i', 0xffffffffu, 1, 1},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        /* A good field first, then the bad one: nothing may be merged. */
        memcpy(buf, "MTD1", 4);
        n = 4;
        n += put_field(buf + n, 'i', "w", 1, 1);
        n += put_field(buf + n, 'i', "new", 3, 1);
        buf[n++] = (unsigned char)cases[k].kind;
        n += put32(buf + n, cases[k].len_field);
        memset(buf + n, 'q', cases[k].name_bytes);
        n += cases[k].name_bytes;
        n += put64(buf + n, cases[k].bits);
        expect_decode_fails(buf, n, cases[k].what);
    }

    /* A name longer than the limit, with all its bytes present. */
    size_t big = 4 + 5 + MT_DELTA_MAX_FIELD + 1 + 8;
    unsigned char *p = calloc(1, big);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    memcpy(p, "MTD1", 4);
    p[4] = 'i';
    put32(p + 5, MT_DELTA_MAX_FIELD + 1);
    expect_decode_fails(p, big, "name of MAX+1 bytes, all present");
    /* The same at exactly the limit is fine. */
    put32(p + 5, MT_DELTA_MAX_FIELD);
    mt_delta_t *d = mt_delta_new();
    char err[256] = "";
    CU_ASSERT_EQUAL(mt_delta_decode(d, p, big - 1, err, sizeof err), 0);
    CU_ASSERT_EQUAL(mt_delta_size(d), 1);
    mt_delta_destroy(d);
    free(p);
}

/* Encodings that are well formed field by field but do not merge. */
static void test_decode_conflicts(void) {
    unsigned char buf[128];
    size_t n;
    /* The same field twice with two kinds. */
    memcpy(buf, "MTD1", 4);
    n = 4;
    n += put_field(buf + n, 'i', "new", 3, 1);
    n += put_field(buf + n, '<', "new", 3, dbits(1.0));
    expect_decode_fails(buf, n, "one field with two kinds");
    /* The same field twice, overflowing. */
    n = 4;
    n += put_field(buf + n, 'i', "new", 3, (uint64_t)INT64_MAX);
    n += put_field(buf + n, 'i', "new", 3, 1);
    expect_decode_fails(buf, n, "one field overflowing");
    /* A field whose kind differs from the target's. */
    n = 4;
    n += put_field(buf + n, 'i', "new", 3, 1);
    n += put_field(buf + n, '>', "w", 1, dbits(1.0));
    expect_decode_fails(buf, n, "kind differs from the target's");
    /* A sum that overflows the target's value. */
    n = 4;
    n += put_field(buf + n, 'i', "new", 3, 1);
    n += put_field(buf + n, 'i', "w", 1, (uint64_t)INT64_MAX);
    expect_decode_fails(buf, n, "overflows the target's value");
    /* Bytes after the last whole field. */
    n = 4;
    n += put_field(buf + n, 'i', "new", 3, 1);
    buf[n++] = 'i';
    expect_decode_fails(buf, n, "trailing byte");
    /* But the same field twice with one kind merges inside the encoding. */
    n = 4;
    n += put_field(buf + n, 'i', "w", 1, 2);
    n += put_field(buf + n, 'i', "w", 1, 3);
    mt_delta_t *d = decode_target();
    char err[256] = "";
    CU_ASSERT_EQUAL(mt_delta_decode(d, buf, n, err, sizeof err), 0);
    CU_ASSERT_EQUAL(FIELD(d, "w").i, 15);
    mt_delta_destroy(d);
}

/* ---- moments and pieces ---- */

/* Reference: mean and squared deviations of xs[0..n), two passes of
 * compensated sums. */
static void reference_moments(const double *xs, size_t n, double *mean, double *m2) {
    *mean = unit_sum(xs, n, 0, 0) / (double)n;
    *m2 = unit_sum(xs, n, *mean, 1);
}

static mt_delta_entry_t moments_of(const double *xs, size_t n) {
    mt_delta_entry_t e = {MT_DELTA_MOMENTS, "m", 1, (int64_t)n, 0, 0, 0};
    if (n) reference_moments(xs, n, &e.f, &e.m2);
    return e;
}

/* Samples split into uneven parts and merged in different orders give the
 * moments of the whole, also where a sum of squares would cancel: values
 * near 1e9 with a spread of about 1. */
static void test_moments_merge(void) {
    static double xs[3000];
    unsigned long long seed = 42;
    for (size_t k = 0; k < 3000; k++)
        xs[k] = 1e9 + (double)(unit_rand(&seed) % 2000001) / 1e6 - 1.0;
    double mean, m2;
    reference_moments(xs, 3000, &mean, &m2);
    static const size_t cuts[][4] = {{0, 1, 2, 3000}, {0, 1000, 2000, 3000},
                                     {0, 2999, 3000, 3000}, {0, 0, 1500, 3000}};
    for (size_t c = 0; c < 4; c++) {
        mt_delta_t *fwd = mt_delta_new(), *back = mt_delta_new();
        char err[256];
        for (size_t p = 0; p < 3; p++) {
            mt_delta_entry_t e = moments_of(xs + cuts[c][p], cuts[c][p + 1] - cuts[c][p]);
            CHECKF(mt_delta_add_entry(fwd, &e, err, sizeof err) == 0, "add: %s", err);
            mt_delta_entry_t r = moments_of(xs + cuts[c][2 - p], cuts[c][3 - p] - cuts[c][2 - p]);
            CHECKF(mt_delta_add_entry(back, &r, err, sizeof err) == 0, "add: %s", err);
        }
        mt_delta_entry_t a = FIELD(fwd, "m"), b = FIELD(back, "m");
        CHECKF(a.kind == MT_DELTA_MOMENTS && a.i == 3000 && b.i == 3000, "cut %zu: count", c);
        CHECKF(fabs(a.f - mean) <= 1e-15 * mean && fabs(b.f - mean) <= 1e-15 * mean,
               "cut %zu: mean %.17g %.17g, want %.17g", c, a.f, b.f, mean);
        /* m2 of values near 1e9 spread by 1 cannot be better than about
         * 1e-9 relative in doubles (a sum of squares is off by 1e2) */
        CHECKF(fabs(a.m2 - m2) <= 1e-8 * m2 && fabs(b.m2 - m2) <= 1e-8 * m2,
               "cut %zu: m2 %.17g %.17g, want %.17g", c, a.m2, b.m2, m2);
        mt_delta_destroy(fwd);
        mt_delta_destroy(back);
    }
}

static void test_moments_invalid(void) {
    mt_delta_t *d = mt_delta_new();
    char err[256];
    const mt_delta_entry_t bad[] = {
        {MT_DELTA_MOMENTS, "m", 1, -1, 0, 0, 0},
        {MT_DELTA_MOMENTS, "m", 1, 2, NAN, 0, 0},
        {MT_DELTA_MOMENTS, "m", 1, 2, 1, -1, 0},
        {MT_DELTA_MOMENTS, "m", 1, 2, 1, INFINITY, 0},
        {MT_DELTA_PIECE, "5\tx", 3, 4, 0, 0, 0},   /* position not in the name */
        {MT_DELTA_PIECE, "x", 1, 0, 0, 0, 0},
        {MT_DELTA_PIECE, "-1\tx", 4, -1, 0, 0, 0},
        {MT_DELTA_PIECE, "1\tx", 3, 1, 0, 0, -1},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++)
        CHECKF(mt_delta_add_entry(d, &bad[k], err, sizeof err) == -1, "case %zu accepted", k);
    CU_ASSERT_EQUAL(mt_delta_size(d), 0);
    /* an empty sample merges as nothing */
    mt_delta_entry_t e = {MT_DELTA_MOMENTS, "m", 1, 2, 3.0, 2.0, 0};
    mt_delta_entry_t none = {MT_DELTA_MOMENTS, "m", 1, 0, 0, 0, 0};
    CU_ASSERT_EQUAL(mt_delta_add_entry(d, &none, err, sizeof err), 0);
    CU_ASSERT_EQUAL(mt_delta_add_entry(d, &e, err, sizeof err), 0);
    CU_ASSERT_EQUAL(mt_delta_add_entry(d, &none, err, sizeof err), 0);
    mt_delta_entry_t got = FIELD(d, "m");
    CU_ASSERT(got.i == 2 && got.f == 3.0 && got.m2 == 2.0);
    mt_delta_destroy(d);
}

/* Pieces: the name carries the position, the same piece twice is one, and
 * they survive the wire encoding with position and limit. */
static void test_pieces(void) {
    mt_delta_t *d = mt_delta_new(), *back = mt_delta_new();
    mt_buf_t wire = MT_BUF_INIT;
    char err[256];
    CU_ASSERT_EQUAL(mt_delta_add_piece(d, 7, 3, "same\0line", 9, err, sizeof err), 0);
    CU_ASSERT_EQUAL(mt_delta_add_piece(d, 2, 3, "same\0line", 9, err, sizeof err), 0);
    CU_ASSERT_EQUAL(mt_delta_add_piece(d, 7, 3, "same\0line", 9, err, sizeof err), 0);
    CU_ASSERT_EQUAL(mt_delta_add_piece(d, 0, 0, "", 0, err, sizeof err), 0);
    CU_ASSERT_EQUAL(mt_delta_size(d), 3);
    mt_delta_entry_t e = get_field(d, "7\tsame\0line", 11);
    CU_ASSERT(e.kind == MT_DELTA_PIECE && e.i == 7 && e.limit == 3);
    CU_ASSERT_EQUAL(mt_delta_add_piece(d, MT_DELTA_MAX_POSITION + 1, 0, "x", 1, err,
                                       sizeof err), -1);
    CU_ASSERT_EQUAL(mt_delta_encode(d, &wire), 0);
    CU_ASSERT_EQUAL(mt_delta_decode(back, wire.data, wire.len, err, sizeof err), 0);
    CU_ASSERT(same_delta(d, back));
    /* a piece and a number under one name do not merge */
    CU_ASSERT_EQUAL(mt_delta_add(back, MT_DELTA_SUM, "0\t", 2, 1, 0, err, sizeof err), -1);
    mt_buf_free(&wire);
    mt_delta_destroy(d);
    mt_delta_destroy(back);
}

static void test_moments_round_trip(void) {
    mt_delta_t *d = mt_delta_new(), *back = mt_delta_new();
    mt_buf_t wire = MT_BUF_INIT;
    char err[256];
    mt_delta_entry_t e = {MT_DELTA_MOMENTS, "stats", 5, 123456789, 0.1 + 0.2, 1e-300, 0};
    CU_ASSERT_EQUAL(mt_delta_add_entry(d, &e, err, sizeof err), 0);
    CU_ASSERT_EQUAL(mt_delta_encode(d, &wire), 0);
    CU_ASSERT_EQUAL(wire.len, 4 + 5 + 5 + 24);
    CU_ASSERT_EQUAL(mt_delta_decode(back, wire.data, wire.len, err, sizeof err), 0);
    CU_ASSERT(same_delta(d, back));
    /* every truncation of it is refused */
    for (size_t n = 5; n < wire.len; n++) {
        mt_delta_t *t = mt_delta_new();
        CHECKF(mt_delta_decode(t, wire.data, n, err, sizeof err) == -1, "len %zu", n);
        mt_delta_destroy(t);
    }
    mt_buf_free(&wire);
    mt_delta_destroy(d);
    mt_delta_destroy(back);
}

int register_delta_suite(void) {
    static const unit_test_t tests[] = {
        {"empty delta", test_empty},
        {"merge rules of each kind", test_rules},
        {"add_int, binary names, insertion order", test_add_int_and_order},
        {"clear", test_clear},
        {"add errors leave the delta unchanged", test_add_errors},
        {"SUM ignores its float argument", test_sum_ignores_f},
        {"field name length limit", test_field_length_limit},
        {"merge", test_merge},
        {"merge is all or nothing", test_merge_all_or_nothing},
        {"200000 distinct fields", test_many_fields},
        {"encoding bytes", test_encode_bytes},
        {"encode/decode round trip", test_round_trip},
        {"decode: bad magic", test_decode_bad_magic},
        {"decode: every truncation", test_decode_truncations},
        {"decode: malformed fields", test_decode_malformed_fields},
        {"decode: fields that do not merge", test_decode_conflicts},
        {"moments merge exactly in any split and order", test_moments_merge},
        {"moments and pieces: invalid values", test_moments_invalid},
        {"pieces", test_pieces},
        {"moments round trip", test_moments_round_trip},
        {NULL, NULL},
    };
    return unit_add_suite("delta", tests);
}

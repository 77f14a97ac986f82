/* test_buf.c - mt_buf: the growable byte buffer. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mt_buf.h"
#include "suites.h"

static void test_init_is_empty(void) {
    mt_buf_t b = MT_BUF_INIT;
    CU_ASSERT_PTR_NULL(b.data);
    CU_ASSERT_EQUAL(b.len, 0);
    CU_ASSERT_EQUAL(b.cap, 0);
    mt_buf_free(&b); /* freeing a never-used buffer is fine */
    CU_ASSERT_PTR_NULL(b.data);
}

static void test_append_and_terminate(void) {
    mt_buf_t b = MT_BUF_INIT;
    CU_ASSERT_EQUAL_FATAL(mt_buf_append(&b, "abc", 3), 0);
    CU_ASSERT_EQUAL(b.len, 3);
    CU_ASSERT_TRUE(b.cap >= 4);
    CU_ASSERT_EQUAL(memcmp(b.data, "abc", 4), 0); /* NUL-terminated */
    CU_ASSERT_EQUAL_FATAL(mt_buf_append(&b, "de", 2), 0);
    CU_ASSERT_EQUAL(b.len, 5);
    CU_ASSERT_STRING_EQUAL(b.data, "abcde");
    mt_buf_free(&b);
}

static void test_append_binary(void) {
    static const char bytes[] = {'a', '\0', 'b', '\0', (char)0xff, '\r', '\n'};
    mt_buf_t b = MT_BUF_INIT;
    CU_ASSERT_EQUAL_FATAL(mt_buf_append(&b, bytes, sizeof bytes), 0);
    CU_ASSERT_EQUAL(b.len, sizeof bytes);
    CU_ASSERT_EQUAL(memcmp(b.data, bytes, sizeof bytes), 0);
    CU_ASSERT_EQUAL(b.data[b.len], '\0');
    mt_buf_free(&b);
}

static void test_append_nothing(void) {
    mt_buf_t b = MT_BUF_INIT;
    CU_ASSERT_EQUAL(mt_buf_append(&b, "", 0), 0);
    CU_ASSERT_EQUAL(b.len, 0);
    if (b.data) CU_ASSERT_EQUAL(b.data[0], '\0');
    CU_ASSERT_EQUAL(mt_buf_append(&b, "x", 1), 0);
    CU_ASSERT_EQUAL(mt_buf_append(&b, "y", 0), 0);
    CU_ASSERT_EQUAL(b.len, 1);
    CU_ASSERT_STRING_EQUAL(b.data, "x");
    mt_buf_free(&b);
}

/* Grows to a few MiB through appends of varying sizes, against an
 * independently filled reference array. */
static void test_grow_many_appends(void) {
    enum { TOTAL = 3 * 1024 * 1024 + 17 };
    unsigned char *ref = malloc(TOTAL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ref);
    for (size_t k = 0; k < TOTAL; k++) ref[k] = (unsigned char)(k * 31 + 7);
    mt_buf_t b = MT_BUF_INIT;
    size_t done = 0, step = 1;
    int rc = 0;
    while (done < TOTAL && rc == 0) {
        size_t n = step < TOTAL - done ? step : TOTAL - done;
        rc = mt_buf_append(&b, ref + done, n);
        done += n;
        step = step * 3 % 10007 + 1;
        if (rc == 0 && (b.len != done || b.cap <= b.len || b.data[b.len] != 0))
            rc = -2;
    }
    CHECKF(rc == 0, "append failed or broke the invariants (rc %d) at %zu",
           rc, done);
    CU_ASSERT_EQUAL(b.len, TOTAL);
    CU_ASSERT_EQUAL(memcmp(b.data, ref, TOTAL), 0);
    mt_buf_free(&b);
    free(ref);
}

static void test_reserve(void) {
    mt_buf_t b = MT_BUF_INIT;
    CU_ASSERT_EQUAL_FATAL(mt_buf_reserve(&b, 1000), 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b.data);
    CU_ASSERT_EQUAL(b.len, 0);
    CU_ASSERT_TRUE(b.cap >= 1001); /* room for the bytes and the NUL */
    char *before = b.data;
    char chunk[1000];
    memset(chunk, 'q', sizeof chunk);
    /* Appending what was reserved needs no reallocation. */
    CU_ASSERT_EQUAL(mt_buf_append(&b, chunk, 600), 0);
    CU_ASSERT_EQUAL(mt_buf_append(&b, chunk, 400), 0);
    CU_ASSERT_PTR_EQUAL(b.data, before);
    CU_ASSERT_EQUAL(b.len, 1000);
    CU_ASSERT_EQUAL(mt_buf_reserve(&b, 0), 0);
    CU_ASSERT_EQUAL(b.len, 1000);
    CU_ASSERT_EQUAL(b.data[1000], '\0');
    mt_buf_free(&b);
}

/* A request that cannot possibly be met must fail, not wrap around: after
 * it the buffer is unchanged. (No allocation is attempted for these sizes
 * by a correct implementation, so this is safe under ASan and valgrind.) */
static void test_reserve_impossible_size(void) {
    mt_buf_t b = MT_BUF_INIT;
    CU_ASSERT_EQUAL_FATAL(mt_buf_append(&b, "0123456789", 10), 0);
    char *data = b.data;
    size_t cap = b.cap;
    /* len + extra + 1 does not fit in a size_t. */
    CHECKF(mt_buf_reserve(&b, SIZE_MAX - b.len) == -1,
           "mt_buf_reserve(len 10, extra SIZE_MAX-10) claimed success");
    CHECKF(mt_buf_reserve(&b, SIZE_MAX) == -1,
           "mt_buf_reserve(len 10, extra SIZE_MAX) claimed success");
    CU_ASSERT_PTR_EQUAL(b.data, data);
    CU_ASSERT_EQUAL(b.cap, cap);
    CU_ASSERT_EQUAL(b.len, 10);
    mt_buf_free(&b);

    mt_buf_t e = MT_BUF_INIT;
    CHECKF(mt_buf_reserve(&e, SIZE_MAX) == -1,
           "mt_buf_reserve(empty, SIZE_MAX) claimed success");
    mt_buf_free(&e);
}

static void test_consume(void) {
    static const struct {
        const char *in;
        size_t n;
        const char *out;
    } cases[] = {
        {"abcdef", 0, "abcdef"}, {"abcdef", 1, "bcdef"}, {"abcdef", 2, "cdef"},
        {"abcdef", 5, "f"},      {"abcdef", 6, ""},      {"a", 1, ""},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        mt_buf_t b = MT_BUF_INIT;
        CU_ASSERT_EQUAL_FATAL(
            mt_buf_append(&b, cases[k].in, strlen(cases[k].in)), 0);
        mt_buf_consume(&b, cases[k].n);
        CHECKF(b.len == strlen(cases[k].out) &&
                   memcmp(b.data, cases[k].out, b.len + 1) == 0,
               "consume(\"%s\", %zu): got len %zu", cases[k].in, cases[k].n,
               b.len);
        mt_buf_free(&b);
    }
    /* Binary contents survive a consume; the buffer keeps working. */
    mt_buf_t b = MT_BUF_INIT;
    CU_ASSERT_EQUAL(mt_buf_append(&b, "x\0y\0z", 5), 0);
    mt_buf_consume(&b, 1);
    CU_ASSERT_EQUAL(b.len, 4);
    CU_ASSERT_EQUAL(memcmp(b.data, "\0y\0z", 5), 0);
    CU_ASSERT_EQUAL(mt_buf_append(&b, "!", 1), 0);
    CU_ASSERT_EQUAL(memcmp(b.data, "\0y\0z!", 6), 0);
    mt_buf_free(&b);
}

static void test_reset_keeps_memory(void) {
    mt_buf_t b = MT_BUF_INIT;
    CU_ASSERT_EQUAL_FATAL(mt_buf_append(&b, "hello", 5), 0);
    char *data = b.data;
    size_t cap = b.cap;
    mt_buf_reset(&b);
    CU_ASSERT_EQUAL(b.len, 0);
    CU_ASSERT_PTR_EQUAL(b.data, data);
    CU_ASSERT_EQUAL(b.cap, cap);
    CU_ASSERT_EQUAL(b.data[0], '\0');
    CU_ASSERT_EQUAL(mt_buf_append(&b, "hi", 2), 0);
    CU_ASSERT_STRING_EQUAL(b.data, "hi");
    mt_buf_free(&b);

    mt_buf_t e = MT_BUF_INIT; /* reset of a never-used buffer */
    mt_buf_reset(&e);
    CU_ASSERT_EQUAL(e.len, 0);
    mt_buf_free(&e);
}

static void test_free_then_reuse(void) {
    mt_buf_t b = MT_BUF_INIT;
    CU_ASSERT_EQUAL(mt_buf_append(&b, "abc", 3), 0);
    mt_buf_free(&b);
    CU_ASSERT_PTR_NULL(b.data);
    CU_ASSERT_EQUAL(b.len, 0);
    CU_ASSERT_EQUAL(b.cap, 0);
    CU_ASSERT_EQUAL(mt_buf_append(&b, "xyz", 3), 0);
    CU_ASSERT_STRING_EQUAL(b.data, "xyz");
    mt_buf_free(&b);
    mt_buf_free(&b); /* twice is harmless */
    CU_ASSERT_PTR_NULL(b.data);
}

int register_buf_suite(void) {
    static const unit_test_t tests[] = {
        {"init is empty", test_init_is_empty},
        {"append keeps bytes NUL-terminated", test_append_and_terminate},
        {"append binary bytes", test_append_binary},
        {"append of zero bytes", test_append_nothing},
        {"grow through many appends", test_grow_many_appends},
        {"reserve makes room", test_reserve},
        {"reserve of an impossible size fails", test_reserve_impossible_size},
        {"consume removes a prefix", test_consume},
        {"reset keeps the memory", test_reset_keeps_memory},
        {"free then reuse", test_free_then_reuse},
        {NULL, NULL},
    };
    return unit_add_suite("buf", tests);
}

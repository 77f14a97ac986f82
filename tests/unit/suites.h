/* suites.h - the unit test suites and a few helpers shared by them.
 *
 * Each test file registers one CUnit suite through its register_*_suite()
 * function, which returns 0 or -1 (CUnit's error is then set). */
#ifndef MT_UNIT_SUITES_H
#define MT_UNIT_SUITES_H

#include <stdio.h>

#include <CUnit/CUnit.h>

int register_buf_suite(void);
int register_config_suite(void);
int register_delta_suite(void);
int register_exec_suite(void);
int register_ops_suite(void);
int register_source_suite(void);
int register_split_suite(void);
int register_task_suite(void);
int register_wordcount_suite(void);

/* A test of a suite: name and function. */
typedef struct unit_test {
    const char *name;
    void (*fn)(void);
} unit_test_t;

/* Adds a suite with the given tests (ending with {NULL, NULL}). */
int unit_add_suite(const char *name, const unit_test_t *tests);

/* An assertion whose failure message is formatted, for table-driven and
 * looping tests: the message says which case failed. */
#define CHECKF(cond, ...)                                                      \
    do {                                                                       \
        if (cond) {                                                            \
            CU_PASS(#cond);                                                    \
        } else {                                                               \
            char unit_msg_[600];                                               \
            snprintf(unit_msg_, sizeof unit_msg_, __VA_ARGS__);                \
            CU_assertImplementation(CU_FALSE, __LINE__, unit_msg_, __FILE__,   \
                                    "", CU_FALSE);                             \
        }                                                                      \
    } while (0)

/* A small deterministic generator (xorshift64*), so randomized tests are
 * reproducible. */
static inline unsigned long long unit_rand(unsigned long long *state) {
    unsigned long long x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* Sum of (xs[k] - shift), or of its square, with Neumaier's compensation:
 * an exact-enough reference that, unlike long double, means the same under
 * valgrind (which computes long doubles as doubles). */
static inline double unit_sum(const double *xs, size_t n, double shift, int square) {
    double s = 0, c = 0;
    for (size_t k = 0; k < n; k++) {
        double x = xs[k] - shift;
        if (square) x *= x;
        double t = s + x;
        c += (s >= x || s <= -x) ? (s - t) + x : (x - t) + s;
        s = t;
    }
    return s + c;
}

#endif

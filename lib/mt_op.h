/* mt_op.h - what an op is, and the table of built-in ops.
 *
 * An op is the kind of work a job does. It has three steps:
 *   map    - a task's bytes to a partial result (an mt_delta_t);
 *   merge  - partial results combine field by field by the rule each field
 *            carries (sum, min, max: see mt_delta.h), in any order, in the
 *            aggregator and inside Redis;
 *   finish - the merged fields, as stored in Redis, to the result JSON.
 * Adding an op is one file (mt_op_NAME.c) and one line in mt_op.c's table,
 * the way Redis adds a command. */
#ifndef MT_OP_H
#define MT_OP_H

#include <stddef.h>

#include <jansson.h>

#include "mt_delta.h"

/* A field of a job's merged result as read back from Redis. name may hold
 * any bytes; value is the decimal text Redis stores, NUL-terminated. */
typedef struct mt_field {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
} mt_field_t;

typedef struct mt_op {
    const char *name;     /* as given to --op and carried in each task */
    const char *summary;  /* one line for --help */
    const char *unit;     /* what a task must never cut: "word", "line" */
    /* boundary[b] != 0 when a task may end right after byte b. */
    const unsigned char *boundary;

    /* Maps one task. args is the job's argument object (may be NULL).
     * Merges into out; returns 0, or -1 with a message in err. Must be
     * thread-safe: several tasks are mapped at once. */
    int (*map)(const json_t *args, const void *data, size_t len,
               mt_delta_t *out, char *err, size_t errsize);

    /* Builds the op's part of the result: a new JSON object whose keys are
     * added to the job's result (for wordcount, "counts"). Returns NULL with
     * a message in err on failure. */
    json_t *(*finish)(const json_t *args, const mt_field_t *fields, size_t n,
                      char *err, size_t errsize);
} mt_op_t;

/* The op with this name, or NULL. */
const mt_op_t *mt_op_find(const char *name);

/* The built-in ops, ending with NULL. */
const mt_op_t *const *mt_op_all(void);

/* ---- built-in ops (one file each) ---- */
extern const mt_op_t mt_op_wordcount;
extern const mt_op_t mt_op_sleep;

/* Word separators of wordcount: ASCII control bytes, space, punctuation.
 * Exposed for tests and for ops that split on words. */
extern const unsigned char mt_wordcount_separator[256];

#endif

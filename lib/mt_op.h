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
 * any bytes; value is the text Redis stores, NUL-terminated: a decimal
 * number, or "count mean m2" for MT_DELTA_MOMENTS. A piece (MT_DELTA_PIECE)
 * has piece set, its bytes in name and its position in position; value is
 * NULL. Pieces come after the other fields, in position order. */
typedef struct mt_field {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
    int piece;
    int64_t position;
} mt_field_t;

/* What a map function knows about its task besides the bytes. */
typedef struct mt_map_ctx {
    const json_t *args;   /* the job's op arguments (an object), or NULL */
    int64_t seq;          /* task number, from 0 */
    uint64_t first_line;  /* 1-based input line number of its first byte */
    uint64_t offset;      /* input byte offset of its first byte */
} mt_map_ctx_t;

struct mt_plugin;

typedef struct mt_op {
    const char *name;     /* as given to --op and carried in each task */
    const char *summary;  /* one line for --help */
    const char *unit;     /* what a task must never cut: "word", "line" */
    /* boundary[b] != 0 when a task may end right after byte b. */
    const unsigned char *boundary;

    /* Checks the job's arguments (may be NULL) once, before any task is
     * produced, so that a bad pattern or command fails the submission and
     * not every task. Returns 0, or -1 with a message. NULL: no check. */
    int (*check_args)(const json_t *args, char *err, size_t errsize);

    /* Maps one task into out. Returns 0, or -1 with a message in err (the
     * task is retried, then dead-lettered). Must be thread-safe: several
     * tasks are mapped at once. */
    int (*map)(const mt_map_ctx_t *ctx, const void *data, size_t len,
               mt_delta_t *out, char *err, size_t errsize);

    /* Builds the op's part of the result: a new JSON object whose keys are
     * added to the job's result (for wordcount, "counts"). Returns NULL with
     * a message in err on failure. */
    json_t *(*finish)(const json_t *args, const mt_field_t *fields, size_t n,
                      char *err, size_t errsize);

    /* Set for an op loaded from a plugin (mt_plugin.h): it has its own
     * map, merge and finish on opaque bytes, and map and finish above are
     * NULL. */
    const struct mt_plugin *plugin;
} mt_op_t;

/* The op with this name, or NULL. */
const mt_op_t *mt_op_find(const char *name);

/* The ops, built-in then loaded, ending with NULL. */
const mt_op_t *const *mt_op_all(void);

/* For check_args: -1 with a message naming the first key of args (an
 * object, or NULL) that is not in the NULL-terminated list known, so that a
 * misspelt option or one meant for another op is not silently ignored. */
int mt_op_known_keys(const char *op, const json_t *args, const char *const *known,
                     char *err, size_t errsize);

/* Adds an op (from a plugin) for the life of the process. Start-up code
 * only: the table is not locked. Returns 0, or -1 with a message when the
 * name is taken or the table is full. */
int mt_op_register(const mt_op_t *op, char *err, size_t errsize);

/* ---- built-in ops (one file each) ---- */
extern const mt_op_t mt_op_wordcount;
extern const mt_op_t mt_op_stats;
extern const mt_op_t mt_op_grep;
extern const mt_op_t mt_op_exec;
extern const mt_op_t mt_op_accesslog;
extern const mt_op_t mt_op_sleep;

/* Task boundaries of line-based ops: after each newline. */
extern const unsigned char mt_op_newline[256];

/* Word separators of wordcount: ASCII control bytes, space, punctuation.
 * Exposed for tests and for ops that split on words. */
extern const unsigned char mt_wordcount_separator[256];

#endif

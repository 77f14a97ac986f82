/* mt_split.h - cuts a byte stream into micro-tasks.
 *
 * The splitter only cuts just after a boundary byte chosen by the op (any
 * separator for wordcount, a newline for line-based ops) -- or, for a word
 * or line of exactly max_bytes, just before the boundary that ends it -- so
 * no word or line is ever cut in two and an op's result never depends on
 * the task size.
 * Input arrives in pieces of any size; a task is emitted as soon as its end
 * is known. */
#ifndef MT_SPLIT_H
#define MT_SPLIT_H

#include <stddef.h>
#include <stdint.h>

typedef struct mt_split_opts {
    int by_lines;       /* 1: `size` lines per task; 0: about `size` bytes */
    size_t size;        /* lines or bytes per task, at least 1 */
    size_t max_bytes;   /* hard limit on a task's size, at least 1 */
    /* boundary[b] is non-zero when a task may end just after byte b. */
    const unsigned char *boundary;
    const char *unit;   /* what cannot be cut, for errors: "word", "line" */
} mt_split_opts_t;

/* One task, handed to the emit callback. data is valid only during the call. */
typedef struct mt_chunk {
    const char *data;
    size_t len;
    uint64_t offset;      /* of the first byte, in the whole input */
    uint64_t first_line;  /* 1-based line number of the first byte */
} mt_chunk_t;

/* Receives each task in input order. Returns 0, or non-zero to stop the
 * splitter (mt_split_feed/flush then return that value). */
typedef int (*mt_split_emit_fn)(void *opaque, const mt_chunk_t *chunk);

typedef struct mt_split mt_split_t;

/* Returns a splitter, or NULL with a message in err for invalid options or
 * when out of memory. The options (and the boundary table) are copied. */
mt_split_t *mt_split_new(const mt_split_opts_t *opts, mt_split_emit_fn emit,
                         void *opaque, char *err, size_t errsize);

/* Frees s; NULL is accepted. Unflushed input is discarded. */
void mt_split_destroy(mt_split_t *s);

/* Adds input and emits every task that is now complete. Returns 0; -1 with a
 * message in err when a word or line is longer than max_bytes (nothing of it
 * was emitted) or memory runs out; or the callback's non-zero value. */
int mt_split_feed(mt_split_t *s, const void *data, size_t len, char *err,
                  size_t errsize);

/* Ends the current input (a file's end is always a cut) and emits what is
 * left. Returns as mt_split_feed. The splitter can then take more input,
 * whose offsets and line numbers continue. */
int mt_split_flush(mt_split_t *s, char *err, size_t errsize);

/* Number of tasks emitted so far. */
uint64_t mt_split_count(const mt_split_t *s);

#endif

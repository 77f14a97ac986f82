/* mt_plugin.h - the interface for ops written as plugins (shared objects).
 *
 * This is the one header a plugin includes; it depends on nothing else of
 * microtask, so a plugin builds with just `cc -shared -fPIC`. A plugin
 * exports one function,
 *
 *     const mt_plugin_t *mt_plugin_init(void);
 *
 * returning a description of its op. Load it with `--plugin path.so` (or
 * MT_PLUGINS=path.so:other.so) in every program that meets the op: the
 * producer (to split input at the op's boundaries), the consumer (map), the
 * aggregator (merge) and mtctl (finish).
 *
 * The three functions work on opaque bytes of the plugin's own format:
 *   map     one task's input -> a partial state;
 *   merge   two states -> one. It must be associative and commutative:
 *           states merge in whatever order tasks finish, and in batches;
 *   finish  the merged state of the whole job -> the result, a JSON object
 *           whose keys are added to the job's result.
 * The aggregator keeps the job's state in Redis (mt:job:ID:state) and
 * counts each task exactly once, as for built-in ops. map runs on several
 * threads at once: it must be thread-safe. Each function writes its output
 * with out->write() and returns 0, or returns -1 with a one-line reason in
 * err: a failed map is retried, then the task is dead-lettered with that
 * reason. See plugins/longest.c for a complete example. */
#ifndef MT_PLUGIN_H
#define MT_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

/* Bumped whenever this interface changes incompatibly. */
#define MT_PLUGIN_ABI 1

/* Where a function writes its output. */
typedef struct mt_plugin_out {
    /* Appends len bytes; returns 0, or -1 when out of memory. */
    int (*write)(struct mt_plugin_out *out, const void *data, size_t len);
    void *opaque; /* the host's */
} mt_plugin_out_t;

/* What map knows about its task. */
typedef struct mt_plugin_task {
    const char *args;     /* the job's --args, JSON text ("{}" if none) */
    int64_t seq;          /* task number, from 0 */
    uint64_t first_line;  /* 1-based input line number of its first byte */
    uint64_t offset;      /* input byte offset of its first byte */
} mt_plugin_task_t;

typedef struct mt_plugin {
    int abi;             /* MT_PLUGIN_ABI, as the plugin was built with */
    const char *name;    /* the op's name, for --op: [a-z0-9_-], unique */
    const char *summary; /* one line for --help */
    /* Where a task may end: "line" (after a newline) or "word" (after a
     * space or punctuation, as wordcount). */
    const char *unit;

    int (*map)(const mt_plugin_task_t *task, const void *data, size_t len,
               mt_plugin_out_t *out, char *err, size_t errsize);
    int (*merge)(const char *args, const void *a, size_t alen, const void *b,
                 size_t blen, mt_plugin_out_t *out, char *err, size_t errsize);
    /* Writes a JSON object (text). */
    int (*finish)(const char *args, const void *state, size_t len,
                  mt_plugin_out_t *out, char *err, size_t errsize);
} mt_plugin_t;

#endif

/* mt_store.h - jobs, progress and results in Redis.
 *
 * The Redis key layout (README.md, "Redis key layout") lives here and only
 * here. Every change to a job is one Lua script, so it is atomic: a task's
 * partial result and the bit that says "task N is merged" are written
 * together or not at all, which is what makes merging exactly-once across
 * crashes, redelivery and two aggregators. */
#ifndef MT_STORE_H
#define MT_STORE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "mt_delta.h"
#include "mt_op.h"
#include "mt_redis.h"

/* The pub/sub channel on which each completed job's id is published once. */
#define MT_STORE_DONE_CHANNEL "mt:done"

/* Longest job id (as MT_JOB_ID_MAX in mt_task.h). */
#define MT_STORE_JOB_MAX 128

/* ---- producer side ---- */

/* Registers a new job in state "submitting", for the submission run_id
 * (see mt_task.h). Returns 1 when claimed, 0 when a job with that id
 * already exists, -1 with a message in err. */
int mt_store_claim(mt_redis_t *r, const char *job, const char *run_id,
                   const char *op, const char *args_json, char *err,
                   size_t errsize);

/* Like mt_store_claim for the window [start_ms, end_ms) of a stream: job
 * is "STREAM.START_MS", listed in the stream's index instead of mt:jobs,
 * and all its keys expire ttl_ms after it completes. */
int mt_store_claim_window(mt_redis_t *r, const char *job, const char *run_id,
                          const char *op, const char *args_json, const char *stream,
                          long long start_ms, long long end_ms, long long ttl_ms,
                          char *err, size_t errsize);

/* Marks a job still being submitted as "failed" with a reason. Returns 0 or
 * -1 with a message. */
int mt_store_fail(mt_redis_t *r, const char *job, const char *reason,
                  char *err, size_t errsize);

/* Records the job's priority ("normal" or "high") and, unless NULL, its
 * deadline (ms since the epoch, decimal). Returns 0 or -1 with a message. */
int mt_store_set_meta(mt_redis_t *r, const char *job, const char *priority,
                      const char *deadline_ms, char *err, size_t errsize);

/* Records a note on the job (field "note"), e.g. that input was cut short. */
int mt_store_note(mt_redis_t *r, const char *job, const char *note, char *err,
                  size_t errsize);

/* ---- aggregator side ---- */

/* For each of n task numbers, sets is_new[k] to 1 when it has not been
 * merged yet. Returns 0, or -1 with a message. */
int mt_store_unmerged(mt_redis_t *r, const char *job, const int64_t *seqs,
                      size_t n, unsigned char *is_new, char *err,
                      size_t errsize);

/* What the merging calls return. Nothing is changed unless MT_STORE_OK. */
enum {
    MT_STORE_ERROR = -1,   /* Redis failed (err says why): retry later */
    MT_STORE_OK = 0,       /* merged; *completed tells if the job is now done */
    MT_STORE_CONFLICT = 1, /* a task was merged meanwhile: filter and retry */
    MT_STORE_STALE = 2,    /* of another submission (or no such job): drop */
    MT_STORE_REFUSED = 3,  /* cannot be merged (err says why): count it as
                            * failed or dead-letter it */
};

/* Atomically marks the n (distinct) tasks of submission run_id merged and
 * merges delta, the combined partial result of exactly those tasks, into
 * the job's result. A task number beyond the job's known total, a field
 * whose sum would overflow, or keys of the wrong type refuse the whole
 * batch before anything is written. Returns an MT_STORE_ value. */
int mt_store_merge(mt_redis_t *r, const char *job, const char *run_id,
                   const int64_t *seqs, size_t n, const mt_delta_t *delta,
                   int *completed, char *err, size_t errsize);

/* Merges into a state of opaque bytes (a plugin op's): combine(opaque,
 * cur, len, out) writes to out the merge of the job's current state (cur is
 * NULL when there is none yet) with the partial state of the n tasks; it
 * may be called more than once when another aggregator merges at the same
 * time, and returns 0 or -1 with a message (then MT_STORE_REFUSED). Marks
 * the tasks merged in the same step. Returns an MT_STORE_ value. */
typedef int (*mt_store_combine_fn)(void *opaque, const void *cur, size_t len,
                                   mt_buf_t *out, char *err, size_t errsize);
int mt_store_merge_state(mt_redis_t *r, const char *job, const char *run_id,
                         const int64_t *seqs, size_t n, mt_store_combine_fn combine,
                         void *opaque, int *completed, char *err, size_t errsize);

/* Appends a plugin job's merged state to out. Returns 1, 0 when there is
 * none yet, or -1 with a message. */
int mt_store_state(mt_redis_t *r, const char *job, mt_buf_t *out, char *err,
                   size_t errsize);

/* Like mt_store_merge for one task that failed: counts it as failed and
 * records the reason (MT_STORE_OK also when it was counted already). */
int mt_store_merge_failed(mt_redis_t *r, const char *job, const char *run_id,
                          int64_t seq, const char *reason, size_t reason_len,
                          int *completed, char *err, size_t errsize);

/* Records that the job has total tasks in all (idempotent). Returns
 * MT_STORE_OK with *completed set, MT_STORE_STALE, or MT_STORE_ERROR. */
int mt_store_end(mt_redis_t *r, const char *job, const char *run_id,
                 int64_t total, int *completed, char *err, size_t errsize);

/* ---- retrying ---- */

/* Of the n task numbers, those that failed in submission run_id count as
 * not done again (reopened[k] = 1), and a job "done_with_errors" is
 * "running" again, so the tasks can be submitted once more. Returns how
 * many were reopened, or -1 with a message. */
int mt_store_reopen(mt_redis_t *r, const char *job, const char *run_id,
                    const int64_t *seqs, size_t n, unsigned char *reopened,
                    char *err, size_t errsize);

/* ---- readers ---- */

/* The job's failed tasks, [{"task": n, "error": why}, ...] in task order;
 * NULL with a message. */
json_t *mt_store_failures(mt_redis_t *r, const char *job, char *err,
                          size_t errsize);

/* Reads the job's record into a new JSON object of its fields (numbers as
 * integers). Returns 1 with *out set, 0 when there is no such job, -1 with
 * a message. */
int mt_store_job(mt_redis_t *r, const char *job, json_t **out, char *err,
                 size_t errsize);

/* The job's merged result fields, read with HSCAN so a huge result never
 * blocks Redis. */
typedef struct mt_store_result mt_store_result_t;

/* Returns 0 with *out set, or -1 with a message. */
int mt_store_result(mt_redis_t *r, const char *job, mt_store_result_t **out,
                    char *err, size_t errsize);
const mt_field_t *mt_store_result_fields(const mt_store_result_t *res,
                                         size_t *n);
void mt_store_result_destroy(mt_store_result_t *res);

/* Lists job ids, newest first, at most limit. Returns a new JSON array, or
 * NULL with a message. */
json_t *mt_store_jobs(mt_redis_t *r, size_t limit, char *err, size_t errsize);

/* Tasks of the job counted so far (done + failed), or -1 with a message
 * (0 for a job that is gone: expired windows are long finished). */
long long mt_store_counted(mt_redis_t *r, const char *job, char *err, size_t errsize);

/* Where a followed file's stream stands (mt:stream:NAME:cursor): the file
 * (dev, ino), the offset just past the lines of its last closed window,
 * and the window open now ("" when none). */
typedef struct mt_cursor {
    unsigned long long dev, ino;
    long long off;
    char open[MT_STORE_JOB_MAX + 1];
} mt_cursor_t;

/* Returns 1 with *c filled, 0 when the stream has no cursor, -1 with a
 * message. */
int mt_store_cursor_get(mt_redis_t *r, const char *stream, mt_cursor_t *c, char *err,
                        size_t errsize);
int mt_store_cursor_set(mt_redis_t *r, const char *stream, const mt_cursor_t *c,
                        char *err, size_t errsize);

/* A stream's window job ids, newest first, at most limit. Returns a new
 * JSON array, or NULL with a message. */
json_t *mt_store_windows(mt_redis_t *r, const char *stream, size_t limit, char *err,
                         size_t errsize);

/* Deletes everything stored for a job. Returns 1 when it existed, 0 when
 * not, -1 with a message. */
int mt_store_delete(mt_redis_t *r, const char *job, char *err, size_t errsize);

/* ---- cancelling ---- */

/* Cancels a job that is being submitted or running: its state becomes
 * "cancelled", results that arrive later are dropped, and workers skip its
 * tasks. Returns 1 when cancelled, 0 when it had already ended (nothing
 * changes), -1 with a message (also when there is no such job). */
int mt_store_cancel(mt_redis_t *r, const char *job, char *err, size_t errsize);

/* Ids of the jobs cancelled at or after since_ms (wall clock). Returns a new
 * JSON array, or NULL with a message. */
json_t *mt_store_cancelled(mt_redis_t *r, long long since_ms, char *err, size_t errsize);

/* ---- workers ---- */

/* Records a worker's heartbeat: fields (a JSON object; strings stored as
 * they are, other values as JSON) replace its record, which expires after
 * ttl_ms unless renewed. Returns 0, or -1 with a message. */
int mt_store_heartbeat(mt_redis_t *r, const char *worker, json_t *fields, long long ttl_ms,
                       char *err, size_t errsize);

/* Removes a worker's record as it leaves. Returns 0, or -1 with a message. */
int mt_store_worker_gone(mt_redis_t *r, const char *worker, char *err, size_t errsize);

/* The live workers, most recent heartbeat first: a new JSON array of
 * objects holding "id" and the fields of each heartbeat (as strings), or
 * NULL with a message. */
json_t *mt_store_workers(mt_redis_t *r, char *err, size_t errsize);

#endif

/* mt_task.h - the message format: tasks, partial results and job markers.
 *
 * Every microtask message carries its metadata in Kafka headers (mt-type,
 * mt-job, mt-seq, ...) and its data as the raw message value, so any bytes
 * travel untouched and `kcat -f '%h %s'` shows everything. README.md
 * ("Message format") is the reference; this module is the only code that
 * reads or writes those headers. */
#ifndef MT_TASK_H
#define MT_TASK_H

#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#define MT_FORMAT_VERSION "1"
#define MT_JOB_ID_MAX 128
#define MT_OP_NAME_MAX 64
#define MT_RUN_ID_MAX 32
/* Task numbers index a Redis bitmap: 2^27 tasks per job (a 16 MiB bitmap
 * at most, whatever a malformed message claims). */
#define MT_SEQ_MAX 134217726LL

typedef enum mt_msg_type {
    MT_MSG_TASK = 0, /* tasks topic: a micro-task, value = its input bytes */
    MT_MSG_RESULT,   /* results topic: value = encoded partial (mt_delta) */
    MT_MSG_FAILED,   /* results topic: the task failed, mt-error says why */
    MT_MSG_END,      /* results topic: the job has mt-total tasks in all */
} mt_msg_type_t;

typedef struct mt_task {
    mt_msg_type_t type;
    char job[MT_JOB_ID_MAX + 1];
    /* The submission this message belongs to: a random id the producer
     * registers with the job, so that messages of a deleted job whose id
     * was used again are told apart and ignored. */
    char run[MT_RUN_ID_MAX + 1];
    char op[MT_OP_NAME_MAX + 1];  /* empty for MT_MSG_END */
    int64_t seq;                  /* 0-based task number; -1 for MT_MSG_END */
    int64_t total;                /* MT_MSG_END: number of tasks; else -1 */
    uint64_t offset;              /* MT_MSG_TASK: input offset of its bytes */
    uint64_t first_line;          /* MT_MSG_TASK: line number of its start */
    int64_t deadline_ms;          /* MT_MSG_TASK: not run after this wall
                                   * time (ms since the epoch); 0: none */
    const char *args;             /* op arguments as JSON text, or NULL */
    size_t args_len;
    const char *error;            /* MT_MSG_FAILED: the reason, or NULL */
    size_t error_len;
    int64_t submitted_ms;         /* MT_MSG_RESULT, MT_MSG_FAILED: when the
                                   * task was produced (its Kafka timestamp,
                                   * ms since the epoch), for latency; 0:
                                   * not known */
} mt_task_t;

/* ---- job ids ---- */

/* Returns 0 when id is a valid job id: 1 to MT_JOB_ID_MAX characters of
 * A-Z a-z 0-9 . _ - not starting with '-'. Else -1 with a message. */
int mt_job_id_check(const char *id, char *err, size_t errsize);

/* Writes a new, practically unique job id (time stamp and random suffix,
 * e.g. 20261203T161500Z-3f9a2c41) into out (at least 32 bytes). */
void mt_job_id_generate(char *out, size_t size);

/* ---- encoding and decoding ---- */

/* Initialises t as an empty message of the given type. */
void mt_task_init(mt_task_t *t, mt_msg_type_t type);

/* Returns a new header list describing t (the caller owns it; producev
 * with RD_KAFKA_V_HEADERS takes it over), or NULL when out of memory. */
rd_kafka_headers_t *mt_task_headers(const mt_task_t *t);

/* Writes a new random run id (hex) into out (MT_RUN_ID_MAX + 1 bytes). */
void mt_run_id_generate(char *out, size_t size);

/* Reads a message's headers into t. String fields point into hdrs and live
 * as long as it. Returns 0, or -1 with a message in err when a header is
 * missing or malformed or the format version is not ours. Even then, t
 * says which job, run and task it was when mt_task_identified(t). */
int mt_task_decode(const rd_kafka_headers_t *hdrs, mt_task_t *t, char *err,
                   size_t errsize);

/* Headers for the dead letter of message m: a copy of m's headers plus
 * mt-error (why) and mt-source ("topic/partition/offset"). The caller owns
 * the result (producev with RD_KAFKA_V_HEADERS takes it over). */
rd_kafka_headers_t *mt_task_dead_letter_headers(const rd_kafka_message_t *m,
                                                const char *why);

/* Non-zero when t names its job, run and task number, so a failure can be
 * reported to that job even if other headers were bad. */
int mt_task_identified(const mt_task_t *t);

/* The name of a message type ("task", "result", ...). */
const char *mt_msg_type_name(mt_msg_type_t type);

#endif

/* mt_delta.h - partial results: a set of named fields, each merged by a rule.
 *
 * Every op maps a task's bytes to a delta; deltas merge field by field with
 * associative, commutative rules (sum, min, max), so the order in which
 * partial results arrive never changes the answer. The same rules are applied
 * inside Redis by the aggregator, which is what makes "merge once" possible.
 * Field names are arbitrary bytes. The wire encoding is described in
 * README.md ("Message format"). */
#ifndef MT_DELTA_H
#define MT_DELTA_H

#include <stddef.h>
#include <stdint.h>

#include "mt_buf.h"

typedef enum mt_delta_kind {
    MT_DELTA_SUM = 'i',  /* 64-bit integer sum (overflow is an error) */
    MT_DELTA_FSUM = 'f', /* floating-point sum */
    MT_DELTA_MIN = '<',  /* smallest value wins */
    MT_DELTA_MAX = '>',  /* largest value wins */
    /* count, mean and sum of squared deviations of a sample, merged with
     * Chan et al.'s pairwise formula: a variance that stays accurate when
     * the mean is large next to the spread, where a sum of squares would
     * cancel catastrophically. */
    MT_DELTA_MOMENTS = 'm',
    /* a piece of output with a position (task or line number): kept
     * apart, read back in position order, at most `limit` of the lowest
     * positions kept per job (0: all). The field name is the position in
     * decimal, a tab, then the piece's bytes: see mt_delta_add_piece(). */
    MT_DELTA_PIECE = 'o',
} mt_delta_kind_t;

/* A field as seen through mt_delta_get(). field points into the delta and
 * stays valid until the delta is next changed. */
typedef struct mt_delta_entry {
    mt_delta_kind_t kind;
    const char *field;
    size_t field_len;
    int64_t i;     /* SUM: the value; MOMENTS: the count; PIECE: position */
    double f;      /* FSUM, MIN, MAX: the value; MOMENTS: the mean */
    double m2;     /* MOMENTS: sum of squared deviations from the mean */
    int64_t limit; /* PIECE: pieces kept per job, 0 for all */
} mt_delta_entry_t;

/* Largest position of a piece: positions are exact as Redis scores. */
#define MT_DELTA_MAX_POSITION ((int64_t)1 << 53)

/* Largest field name accepted, in bytes. */
#define MT_DELTA_MAX_FIELD (1024 * 1024)

typedef struct mt_delta mt_delta_t;

/* ---- life cycle ---- */

/* Returns an empty delta, or NULL when out of memory. */
mt_delta_t *mt_delta_new(void);
/* Frees d; NULL is accepted. */
void mt_delta_destroy(mt_delta_t *d);
/* Removes every field, keeping the memory for reuse. */
void mt_delta_clear(mt_delta_t *d);

/* ---- building and merging ---- */

/* Merges one value into the field. Returns 0, or -1 with a message in err:
 * out of memory, integer overflow, a non-finite float, a field name longer
 * than MT_DELTA_MAX_FIELD, or the field already held with another kind.
 * On error d is unchanged. */
int mt_delta_add(mt_delta_t *d, mt_delta_kind_t kind, const void *field,
                 size_t field_len, int64_t i, double f, char *err,
                 size_t errsize);

/* Merges a field of any kind, with every value e holds (e->field names
 * it). Same contract as mt_delta_add; moments need a count >= 0 and a
 * finite mean and m2 >= 0, pieces a position in [0, MT_DELTA_MAX_POSITION]
 * and a limit >= 0. */
int mt_delta_add_entry(mt_delta_t *d, const mt_delta_entry_t *e, char *err,
                       size_t errsize);

/* Adds the MT_DELTA_PIECE at position pos holding len bytes, named as
 * described above. Returns 0 or -1 with a message. */
int mt_delta_add_piece(mt_delta_t *d, int64_t pos, int64_t limit,
                       const void *bytes, size_t len, char *err,
                       size_t errsize);

/* Shorthand for an MT_DELTA_SUM of n; the hot path of counting ops. */
int mt_delta_add_int(mt_delta_t *d, const void *field, size_t field_len,
                     int64_t n);

/* Merges every field of src into dst. All or nothing: on error (see
 * mt_delta_add) dst is unchanged and -1 is returned. */
int mt_delta_merge(mt_delta_t *dst, const mt_delta_t *src, char *err,
                   size_t errsize);

/* ---- reading ---- */

/* Number of fields. */
size_t mt_delta_size(const mt_delta_t *d);
/* Fills *e with field number idx (0 <= idx < size), in insertion order. */
void mt_delta_get(const mt_delta_t *d, size_t idx, mt_delta_entry_t *e);
/* Finds a field. Returns 1 and fills *e, or 0 when absent. */
int mt_delta_find(const mt_delta_t *d, const void *field, size_t field_len,
                  mt_delta_entry_t *e);

/* ---- wire encoding ---- */

/* Appends the encoding of d to out. Returns 0, or -1 when out of memory. */
int mt_delta_encode(const mt_delta_t *d, mt_buf_t *out);

/* Decodes buf and merges it into d, all or nothing. Returns 0, or -1 with a
 * message in err when the bytes are not a valid encoding or do not merge. */
int mt_delta_decode(mt_delta_t *d, const void *buf, size_t len, char *err,
                    size_t errsize);

#endif

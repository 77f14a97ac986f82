/* mt_split.c - cutting input into tasks at op-chosen boundaries (mt_split.h).
 *
 * Pending input sits in one buffer read from `start`; the buffer is compacted
 * only when the consumed prefix outgrows the rest, so each byte is copied a
 * bounded number of times. */
#include "mt_split.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mt_buf.h"

struct mt_split {
    mt_split_opts_t opts;
    unsigned char boundary[256];
    mt_split_emit_fn emit;
    void *opaque;
    mt_buf_t buf;
    size_t start;         /* first pending byte in buf */
    size_t scanned;       /* lines mode: bytes after start already scanned */
    size_t lines_seen;    /* lines mode: newlines among the scanned bytes */
    uint64_t offset;      /* input offset of buf[start] */
    uint64_t line;        /* line number of buf[start] */
    int mid_line;         /* the last task emitted did not end a line */
    uint64_t count;
};

mt_split_t *mt_split_new(const mt_split_opts_t *opts, mt_split_emit_fn emit,
                         void *opaque, char *err, size_t errsize) {
    if (opts->size < 1 || opts->max_bytes < 1 || !opts->boundary) {
        snprintf(err, errsize, "task size and limit must be at least 1");
        return NULL;
    }
    if (!opts->by_lines && opts->size > opts->max_bytes) {
        snprintf(err, errsize,
                 "task size of %zu bytes is above the limit of %zu bytes",
                 opts->size, opts->max_bytes);
        return NULL;
    }
    mt_split_t *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errsize, "out of memory");
        return NULL;
    }
    s->opts = *opts;
    memcpy(s->boundary, opts->boundary, 256);
    s->opts.boundary = s->boundary;
    if (!s->opts.unit) s->opts.unit = "word";
    s->emit = emit;
    s->opaque = opaque;
    s->line = 1;
    return s;
}

void mt_split_destroy(mt_split_t *s) {
    if (!s) return;
    mt_buf_free(&s->buf);
    free(s);
}

uint64_t mt_split_count(const mt_split_t *s) { return s->count; }

/* The last cut position in (0, limit] of p, or 0 if there is none. With
 * newline_first, a cut after a newline is preferred to any other. */
static size_t last_cut(const mt_split_t *s, const unsigned char *p,
                       size_t limit, int newline_first) {
    if (newline_first && s->boundary['\n']) {
        for (size_t c = limit; c > 0; c--)
            if (p[c - 1] == '\n') return c;
    }
    for (size_t c = limit; c > 0; c--)
        if (s->boundary[p[c - 1]]) return c;
    return 0;
}

/* Where the next task ends: its length, 0 if more input is needed, or
 * (size_t)-1 when nothing can be cut within max_bytes. */
static size_t next_cut(mt_split_t *s, int at_end) {
    const unsigned char *p = (const unsigned char *)s->buf.data + s->start;
    size_t avail = s->buf.len - s->start, max = s->opts.max_bytes;

    if (avail == 0) return 0;
    if (s->opts.by_lines) {
        size_t lim = avail < max ? avail : max;
        while (s->scanned < lim) {
            const unsigned char *nl =
                memchr(p + s->scanned, '\n', lim - s->scanned);
            if (!nl) {
                s->scanned = lim;
                break;
            }
            s->scanned = (size_t)(nl - p) + 1;
            if (++s->lines_seen == s->opts.size) return s->scanned;
        }
    } else if (avail >= s->opts.size) {
        size_t lim = avail < max ? avail : max;
        for (size_t c = s->opts.size; c <= lim; c++)
            if (s->boundary[p[c - 1]]) return c;
    }
    if (avail < max) return at_end ? avail : 0;
    /* A full task's worth of bytes has no regular cut: take the last
     * boundary that fits. */
    size_t c = last_cut(s, p, max, s->opts.by_lines);
    if (c) return c;
    /* A word or line of exactly max_bytes, followed by a boundary: cut just
     * before that boundary, which then starts the next task. */
    if (avail > max && s->boundary[p[max]]) return max;
    /* A word of exactly max_bytes is fine if the input ends right there. */
    if (avail == max) return at_end ? avail : 0;
    return (size_t)-1;
}

static int emit_upto(mt_split_t *s, int at_end, char *err, size_t errsize) {
    for (;;) {
        size_t c = next_cut(s, at_end);
        if (c == 0) break;
        if (c == (size_t)-1) {
            snprintf(err, errsize,
                     "a %s at input offset %llu is longer than the task size "
                     "limit of %zu bytes and cannot be split",
                     s->opts.unit, (unsigned long long)s->offset,
                     s->opts.max_bytes);
            return -1;
        }
        mt_chunk_t chunk = {s->buf.data + s->start, c, s->offset, s->line};
        int rc = s->emit(s->opaque, &chunk);
        if (rc != 0) return rc;
        for (const char *q = chunk.data, *e = q + c;
             (q = memchr(q, '\n', (size_t)(e - q))) != NULL; q++)
            s->line++;
        s->mid_line = chunk.data[c - 1] != '\n';
        s->start += c;
        s->offset += c;
        s->scanned = 0;
        s->lines_seen = 0;
        s->count++;
    }
    if (s->start > 0 && s->start >= s->buf.len - s->start) {
        mt_buf_consume(&s->buf, s->start);
        s->start = 0;
    }
    return 0;
}

int mt_split_feed(mt_split_t *s, const void *data, size_t len, char *err,
                  size_t errsize) {
    if (mt_buf_append(&s->buf, data, len) != 0) {
        snprintf(err, errsize, "out of memory");
        return -1;
    }
    return emit_upto(s, 0, err, errsize);
}

int mt_split_flush(mt_split_t *s, char *err, size_t errsize) {
    int rc = emit_upto(s, 1, err, errsize);
    /* An input's last line without a newline still was a line: the next
     * input starts on the next one. */
    if (rc == 0 && s->mid_line) {
        s->line++;
        s->mid_line = 0;
    }
    return rc;
}

/* test_split.c - mt_split: cutting a stream into tasks.
 *
 * The central property, checked for every task size and many ways of
 * feeding the same input: the chunks put back together are the input; no
 * chunk is longer than max_bytes; every cut is right after a boundary byte
 * or at a flush; lines mode gives exactly `size` newlines per chunk except
 * where the max_bytes fallback applies; offsets and line numbers are right;
 * a run of non-boundary bytes that cannot fit gives -1 naming the unit.
 *
 * Besides these properties, chunks are compared with ref_split(), a simple
 * reference written here from the rules:
 *   - bytes mode: a task ends at the first boundary byte at or after `size`
 *     bytes; lines mode: right after its `size`-th newline;
 *   - when that end is not within max_bytes, the task ends at the last
 *     boundary within max_bytes (in lines mode a newline is preferred, as
 *     mt_split.c documents); when there is none but the byte right after
 *     max_bytes is a boundary, the task is exactly max_bytes (the run fits
 *     just); otherwise the run cannot be split: an error, unless the input
 *     ends there (a flush), in which case the whole rest, at most
 *     max_bytes, is one task;
 *   - the end of input (each flush) always ends a task. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mt_buf.h"
#include "mt_op.h"
#include "mt_split.h"
#include "suites.h"

/* ---- boundary tables ---- */

static unsigned char newline_only[256];
static unsigned char random_table[256];

static void init_tables(void) {
    memset(newline_only, 0, sizeof newline_only);
    newline_only['\n'] = 1;
}

/* ---- collecting the chunks ---- */

typedef struct chunk_rec {
    size_t pos; /* where its bytes start in collect_t.data */
    size_t len;
    uint64_t offset, first_line;
} chunk_rec_t;

typedef struct collect {
    mt_buf_t data;
    chunk_rec_t *recs;
    size_t n, cap;
    size_t stop_at; /* return stop_rc at chunk number stop_at (1-based) */
    int stop_rc;
    int oom;
} collect_t;

static int collect_emit(void *opaque, const mt_chunk_t *c) {
    collect_t *col = opaque;
    if (col->stop_at && col->n + 1 == col->stop_at) return col->stop_rc;
    if (col->n == col->cap) {
        size_t cap = col->cap ? col->cap * 2 : 64;
        chunk_rec_t *r = realloc(col->recs, cap * sizeof *r);
        if (!r) {
            col->oom = 1;
            return -99;
        }
        col->recs = r;
        col->cap = cap;
    }
    chunk_rec_t *r = &col->recs[col->n++];
    r->pos = col->data.len;
    r->len = c->len;
    r->offset = c->offset;
    r->first_line = c->first_line;
    if (mt_buf_append(&col->data, c->data, c->len) != 0) {
        col->oom = 1;
        return -99;
    }
    return 0;
}

static void collect_free(collect_t *col) {
    mt_buf_free(&col->data);
    free(col->recs);
    memset(col, 0, sizeof *col);
}

/* ---- feeding ---- */

/* How input is fed: fixed pieces of `piece` bytes (0 = everything at once),
 * or random piece sizes 1..random_max from seed. */
typedef struct feed {
    size_t piece;
    size_t random_max;
    unsigned long long seed;
} feed_t;

typedef struct run {
    int rc;            /* 0, or the first non-zero result */
    char err[512];
    collect_t col;
    uint64_t count;    /* mt_split_count at the end */
} run_t;

/* Feeds in[0..len), flushing at each ends[k] (sorted, the last == len). */
static void run_split(const mt_split_opts_t *o, const unsigned char *in,
                      size_t len, const size_t *ends, size_t nends,
                      feed_t feed, run_t *run) {
    memset(run, 0, sizeof *run);
    (void)len; /* ends[nends - 1] */
    mt_split_t *s =
        mt_split_new(o, collect_emit, &run->col, run->err, sizeof run->err);
    if (!s) {
        run->rc = -100;
        return;
    }
    size_t pos = 0;
    for (size_t e = 0; e < nends && run->rc == 0; e++) {
        while (pos < ends[e] && run->rc == 0) {
            size_t n = feed.piece ? feed.piece : ends[e] - pos;
            if (feed.random_max)
                n = 1 + (size_t)(unit_rand(&feed.seed) % feed.random_max);
            if (n > ends[e] - pos) n = ends[e] - pos;
            run->rc = mt_split_feed(s, in + pos, n, run->err, sizeof run->err);
            pos += n;
        }
        if (run->rc == 0) run->rc = mt_split_flush(s, run->err, sizeof run->err);
    }
    run->count = mt_split_count(s);
    mt_split_destroy(s);
}

/* ---- the reference ---- */

/* Expected chunk lengths into lens (room for len entries); returns their
 * number. *err_at is the offset of a run that cannot be split, or SIZE_MAX
 * when the whole input is cut. */
static size_t ref_split(const mt_split_opts_t *o, const unsigned char *in,
                        size_t len, const size_t *ends, size_t nends,
                        size_t *lens, size_t *err_at) {
    const unsigned char *b = o->boundary;
    size_t pos = 0, n = 0, e = 0, M = o->max_bytes, S = o->size;
    *err_at = SIZE_MAX;
    while (pos < len) {
        while (e < nends && ends[e] <= pos) e++;
        size_t R = ends[e] - pos, lim = R < M ? R : M, cut = 0;
        if (o->by_lines) {
            size_t lines = 0;
            for (size_t c = 1; c <= lim && !cut; c++)
                if (in[pos + c - 1] == '\n' && ++lines == S) cut = c;
        } else if (R >= S) {
            for (size_t c = S; c <= lim && !cut; c++)
                if (b[in[pos + c - 1]]) cut = c;
        }
        if (!cut && R < M) cut = R; /* the input ends first */
        if (!cut && o->by_lines && b['\n'])
            for (size_t c = M; c > 0 && !cut; c--)
                if (in[pos + c - 1] == '\n') cut = c;
        for (size_t c = M; c > 0 && !cut; c--)
            if (b[in[pos + c - 1]]) cut = c;
        if (!cut && R == M) cut = R; /* fits exactly, then the input ends */
        if (!cut && R > M && b[in[pos + M]]) cut = M; /* fits exactly */
        if (!cut) {
            *err_at = pos;
            break;
        }
        lens[n++] = cut;
        pos += cut;
    }
    return n;
}

/* ---- the properties ---- */

static size_t count_nl(const unsigned char *p, size_t n) {
    size_t k = 0;
    for (size_t j = 0; j < n; j++) k += p[j] == '\n';
    return k;
}

/* Checks the chunks of a run against the input. complete: the run went
 * through the whole input. Returns a description of the first violation,
 * or NULL. */
static const char *check_props(const mt_split_opts_t *o,
                               const unsigned char *in, size_t len,
                               const size_t *ends, size_t nends,
                               const collect_t *col, int complete,
                               size_t *bad_chunk) {
    static char why[200];
    const unsigned char *b = o->boundary;
    size_t pos = 0, line = 1, e = 0, M = o->max_bytes, S = o->size;
    *bad_chunk = SIZE_MAX;
    if (col->data.len > len ||
        (col->data.len && memcmp(col->data.data, in, col->data.len) != 0))
        return "the chunks put together are not the input";
    if (complete && col->data.len != len)
        return "the chunks put together are shorter than the input";
    for (size_t k = 0; k < col->n; k++) {
        const chunk_rec_t *r = &col->recs[k];
        const unsigned char *p = in + pos;
        *bad_chunk = k;
        while (e < nends && ends[e] <= pos) e++;
        size_t seg_end = e < nends ? ends[e] : len;
        if (r->len == 0) return "an empty chunk";
        if (r->len > M) return "a chunk longer than max_bytes";
        if (r->offset != pos) return "wrong offset";
        if (r->first_line != line) return "wrong first_line";
        if (pos + r->len > seg_end) return "a chunk spans a flush";
        int at_end = pos + r->len == seg_end;
        /* after a boundary byte, or (a run of exactly max_bytes) just
         * before one */
        if (!at_end && !b[p[r->len - 1]] && !(r->len == M && b[p[r->len]]))
            return "a cut that is not after a boundary byte";
        if (o->by_lines) {
            size_t nl = count_nl(p, r->len);
            if (nl > S) return "more newlines than the task size";
            if (nl == S && p[r->len - 1] != '\n')
                return "a chunk goes on after its last newline";
            if (nl < S && !at_end) {
                /* Only the fallback may cut early: the size-th newline is
                 * not within max_bytes. */
                if (seg_end - pos < M ||
                    count_nl(p, M) >= S) {
                    snprintf(why, sizeof why,
                             "%zu newlines, not %zu, with no need to fall back",
                             nl, S);
                    return why;
                }
            }
        } else {
            for (size_t c = S; c < r->len; c++)
                if (b[p[c - 1]]) return "a later cut than the first after size bytes";
            if (r->len < S && !at_end) {
                if (seg_end - pos < M) return "a short chunk with no need to fall back";
                for (size_t c = S; c <= M; c++)
                    if (b[p[c - 1]]) return "fell back although a regular cut fits";
            }
        }
        line += count_nl(p, r->len);
        pos += r->len;
        /* an input ending inside a line: the next starts a new line */
        if (at_end && p[r->len - 1] != '\n') line++;
    }
    *bad_chunk = SIZE_MAX;
    return NULL;
}

/* Runs one configuration and checks everything. Returns 1 when all is
 * well; on failure records one CUnit failure describing the case. */
static int check_case(const char *label, const mt_split_opts_t *o,
                      const unsigned char *in, size_t len, const size_t *ends,
                      size_t nends, feed_t feed) {
    run_t run;
    size_t *lens = malloc((len + 1) * sizeof *lens), err_at, bad;
    if (!lens) {
        CU_FAIL("out of memory");
        return 0;
    }
    size_t n = ref_split(o, in, len, ends, nends, lens, &err_at);
    run_split(o, in, len, ends, nends, feed, &run);
    char what[300] = "";
    const char *why = NULL;
    if (run.col.oom) {
        why = "out of memory in the test";
    } else if (run.rc != 0 && run.rc != -1) {
        snprintf(what, sizeof what, "unexpected result %d (%.200s)", run.rc, run.err);
        why = what;
    } else if ((why = check_props(o, in, len, ends, nends, &run.col,
                                  run.rc == 0, &bad)) != NULL) {
        snprintf(what, sizeof what, "%s (chunk %zu)", why, bad);
        why = what;
    } else if (err_at == SIZE_MAX && run.rc != 0) {
        snprintf(what, sizeof what, "failed: %.200s", run.err);
        why = what;
    } else if (err_at != SIZE_MAX && run.rc == 0) {
        snprintf(what, sizeof what,
                 "succeeded, but the run at offset %zu cannot be split", err_at);
        why = what;
    } else if (err_at != SIZE_MAX && !strstr(run.err, o->unit)) {
        snprintf(what, sizeof what, "error \"%.200s\" does not name the %s",
                 run.err, o->unit);
        why = what;
    } else if (run.col.n != n) {
        snprintf(what, sizeof what, "%zu chunks, the reference has %zu",
                 run.col.n, n);
        why = what;
    } else if (run.count != n) {
        snprintf(what, sizeof what, "mt_split_count %llu, want %zu",
                 (unsigned long long)run.count, n);
        why = what;
    } else {
        for (size_t k = 0; k < n && !why; k++)
            if (run.col.recs[k].len != lens[k]) {
                snprintf(what, sizeof what,
                         "chunk %zu (offset %llu) has %zu bytes, the reference "
                         "%zu", k, (unsigned long long)run.col.recs[k].offset,
                         run.col.recs[k].len, lens[k]);
                why = what;
            }
    }
    if (why) {
        char msg[600];
        snprintf(msg, sizeof msg,
                 "%s: %s mode, size %zu, max_bytes %zu, %zu bytes, piece %zu%s: %s",
                 label, o->by_lines ? "lines" : "bytes", o->size, o->max_bytes,
                 len, feed.piece, feed.random_max ? " (random)" : "", why);
        CU_assertImplementation(CU_FALSE, __LINE__, msg, __FILE__, "", CU_FALSE);
    }
    collect_free(&run.col);
    free(lens);
    return why == NULL;
}

/* s with control bytes as \xNN, for messages (a static buffer). */
static const char *show(const char *s) {
    static char buf[200];
    size_t o = 0;
    for (; *s && o + 5 < sizeof buf; s++) {
        unsigned char c = (unsigned char)*s;
        o += (size_t)snprintf(buf + o, sizeof buf - o,
                              c >= 0x20 && c < 0x7f ? "%c" : "\\x%02x", c);
    }
    buf[o] = '\0';
    return buf;
}

/* ---- hand-made cases ---- */

typedef struct hand_case {
    int by_lines;
    size_t size, max_bytes;
    int newline_table; /* 1: newline only; 0: wordcount separators */
    const char *input;
    const char *chunks[8]; /* expected, in order */
    const char *error_unit; /* expected error naming this unit, or NULL */
} hand_case_t;

static void test_hand_cases(void) {
    static const hand_case_t cases[] = {
        {0, 1, 100, 0, "ab cd", {"ab ", "cd"}, NULL},
        {0, 3, 100, 0, "ab cd", {"ab ", "cd"}, NULL},
        {0, 4, 100, 0, "ab cd ef", {"ab cd ", "ef"}, NULL},
        {0, 1, 100, 0, "a,b.c", {"a,", "b.", "c"}, NULL},
        {0, 2, 100, 0, "  x", {"  ", "x"}, NULL},
        {0, 1, 100, 0, "x\r\ny", {"x\r", "\n", "y"}, NULL},
        {0, 2, 100, 0, "x\r\ny", {"x\r", "\ny"}, NULL},
        {0, 1, 100, 0, "", {NULL}, NULL},
        {0, 5, 5, 0, "a b cdef", {"a b ", "cdef"}, NULL},     /* fallback */
        {0, 3, 3, 0, "abc d", {"abc", " d", NULL}, NULL},     /* run of 3 + sep */
        {0, 1, 3, 0, "ab cdef gh", {"ab "}, "word"},
        {0, 2, 100, 1, "ab\ncd\n", {"ab\n", "cd\n"}, NULL},
        {0, 4, 100, 1, "ab\ncd\nef", {"ab\ncd\n", "ef"}, NULL},
        {1, 1, 100, 1, "a\nb\n", {"a\n", "b\n"}, NULL},
        {1, 2, 100, 1, "a\nb\nc\nd", {"a\nb\n", "c\nd"}, NULL},
        {1, 2, 100, 1, "a\r\nb\r\nc\r\n", {"a\r\nb\r\n", "c\r\n"}, NULL},
        {1, 3, 100, 1, "\n\n\n\n", {"\n\n\n", "\n"}, NULL},
        {1, 1, 4, 1, "abc\nde\n", {"abc\n", "de\n"}, NULL},
        {1, 5, 4, 1, "a\nb\nc\nd\n", {"a\nb\n", "c\nd\n"}, NULL}, /* max first */
        {1, 1, 4, 0, "ab cd\n", {"ab ", "cd\n"}, NULL},           /* word fallback */
        {1, 2, 6, 0, "a b\nc d e f\n", {"a b\n", "c d e ", "f\n"}, NULL},
        {1, 1, 3, 1, "ab\nabcd\n", {"ab\n"}, "line"},
        {1, 1, 4, 0, "abcde f\n", {NULL}, "word"},
        {0, 1, 100, 1, "no newline at all", {"no newline at all"}, NULL},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const hand_case_t *c = &cases[k];
        mt_split_opts_t o = {c->by_lines, c->size, c->max_bytes,
                             c->newline_table ? newline_only
                                              : mt_wordcount_separator,
                             c->newline_table ? "line" : "word"};
        size_t len = strlen(c->input), end = len;
        static const size_t pieces[] = {0, 1, 2, 3};
        for (size_t p = 0; p < sizeof pieces / sizeof pieces[0]; p++) {
            run_t run;
            feed_t feed = {pieces[p], 0, 0};
            run_split(&o, (const unsigned char *)c->input, len, &end, 1, feed,
                      &run);
            size_t n = 0;
            while (n < 8 && c->chunks[n]) n++;
            int ok = run.col.n == n && !run.col.oom;
            size_t off = 0;
            for (size_t j = 0; ok && j < n; j++) {
                const chunk_rec_t *r = &run.col.recs[j];
                ok = r->len == strlen(c->chunks[j]) &&
                     memcmp(run.col.data.data + r->pos, c->chunks[j], r->len) == 0 &&
                     r->offset == off;
                off += r->len;
            }
            if (c->error_unit)
                ok = ok && run.rc == -1 && strstr(run.err, c->error_unit);
            else
                ok = ok && run.rc == 0;
            CHECKF(ok, "hand case %zu (\"%s\", piece %zu): rc %d, %zu chunks "
                       "(want %zu), err \"%s\"",
                   k, show(c->input), pieces[p], run.rc, run.col.n, n, run.err);
            collect_free(&run.col);
        }
    }
}

/* ---- the corpus: text with words, punctuation, CRLF, tabs, NUL, UTF-8 ---- */

static unsigned char *make_corpus(size_t *len) {
    static const char *const words[] = {
        "the", "Quick", "brown", "fox", "jumps", "over", "lazy", "dog",
        "caf\xc3\xa9", "na\xc3\xafve", "x", "I", "don't", "e-mail",
        "1234567", "snake_case", "a.b.c", "\xff\xfe", "CamelCase", "well,",
    };
    size_t cap = 8192, n = 0;
    unsigned char *p = malloc(cap);
    unsigned long long seed = 42;
    if (!p) return NULL;
    for (int line = 0; line < 90; line++) {
        int nwords = (int)(unit_rand(&seed) % 17);
        if (line == 10) nwords = 0;           /* an empty line */
        if (line == 20) nwords = 30;          /* a long line */
        for (int w = 0; w < nwords; w++) {
            const char *word = words[unit_rand(&seed) % 20];
            if (n + 64 > cap) break; /* room for a word and the tail */
            if (w) p[n++] = (unit_rand(&seed) % 9 == 0) ? '\t' : ' ';
            memcpy(p + n, word, strlen(word));
            n += strlen(word);
            if (unit_rand(&seed) % 23 == 0) p[n++] = '\0';
        }
        if (n + 64 > cap) break;
        if (line % 7 == 3) p[n++] = '\r';
        p[n++] = '\n';
    }
    memcpy(p + n, "last words, no newline", 22);
    n += 22;
    *len = n;
    return p;
}

/* Runs the corpus through every task size 1..max_size of one mode, both
 * boundary tables, four limits each (from limits(size)) and every feed. */
static void every_size(int by_lines, size_t max_size,
                       void (*limits)(size_t size, size_t out[4]),
                       const feed_t *feeds, size_t nfeeds) {
    size_t len;
    unsigned char *in = make_corpus(&len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(in);
    size_t failed = 0;
    for (int t = 0; t < 2; t++) {
        const unsigned char *table = t ? newline_only : mt_wordcount_separator;
        for (size_t size = 1; size <= max_size; size++) {
            size_t maxes[4];
            limits(size, maxes);
            for (size_t m = 0; m < 4; m++) {
                mt_split_opts_t o = {by_lines, size, maxes[m], table,
                                     t ? "line" : "word"};
                for (size_t f = 0; f < nfeeds; f++)
                    if (!check_case("corpus", &o, in, len, &len, 1, feeds[f]) &&
                        ++failed > 5)
                        goto out;
            }
        }
    }
out:
    CHECKF(failed == 0, "%zu configurations failed (stopped after 5)", failed);
    free(in);
}

static void bytes_limits(size_t size, size_t out[4]) {
    out[0] = size;
    out[1] = size + 7;
    out[2] = size + 150;
    out[3] = 4096;
}

static void lines_limits(size_t size, size_t out[4]) {
    (void)size;
    out[0] = 40;
    out[1] = 64;
    out[2] = 300;
    out[3] = 1 << 20;
}

static void test_every_size_bytes_mode(void) {
    static const feed_t feeds[] = {
        {1, 0, 0}, {3, 0, 0}, {4096, 0, 0}, {0, 0, 0}, {0, 50, 7},
    };
    every_size(0, 64, bytes_limits, feeds, sizeof feeds / sizeof feeds[0]);
}

static void test_every_size_lines_mode(void) {
    static const feed_t feeds[] = {
        {1, 0, 0}, {3, 0, 0}, {4096, 0, 0}, {0, 0, 0}, {0, 50, 9},
    };
    every_size(1, 40, lines_limits, feeds, sizeof feeds / sizeof feeds[0]);
}

/* Flushes in the middle: each is a cut, offsets and lines continue. */
static void test_flush_points(void) {
    size_t len;
    unsigned char *in = make_corpus(&len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(in);
    size_t ends[] = {0, 1, 17, 17, 400, 401, 1000, 2345, len};
    size_t failed = 0;
    for (int by_lines = 0; by_lines < 2; by_lines++)
        for (size_t size = 1; size <= 30; size += 3) {
            mt_split_opts_t o = {by_lines, size, 512, mt_wordcount_separator,
                                 "word"};
            feed_t feeds[] = {{1, 0, 0}, {0, 0, 0}, {0, 100, size}};
            for (size_t f = 0; f < 3; f++)
                failed += !check_case("flushes", &o, in, len, ends,
                                      sizeof ends / sizeof ends[0], feeds[f]);
        }
    CU_ASSERT_EQUAL(failed, 0);
    free(in);

    /* By hand: "ab" flush "cd\nef" flush, one line per task: "ab" was a
     * whole line (its input ended), so "cd" is line 2. */
    mt_split_opts_t o = {1, 1, 100, newline_only, "line"};
    const unsigned char *txt = (const unsigned char *)"abcd\nef";
    size_t hend[] = {2, 7};
    run_t run;
    run_split(&o, txt, 7, hend, 2, (feed_t){0, 0, 0}, &run);
    CU_ASSERT_EQUAL(run.rc, 0);
    CU_ASSERT_EQUAL_FATAL(run.col.n, 3);
    static const struct {
        size_t len;
        uint64_t offset, line;
    } want[] = {{2, 0, 1}, {3, 2, 2}, {2, 5, 3}};
    for (size_t k = 0; k < 3; k++)
        CHECKF(run.col.recs[k].len == want[k].len &&
                   run.col.recs[k].offset == want[k].offset &&
                   run.col.recs[k].first_line == want[k].line,
               "chunk %zu: len %zu offset %llu line %llu", k,
               run.col.recs[k].len, (unsigned long long)run.col.recs[k].offset,
               (unsigned long long)run.col.recs[k].first_line);
    CU_ASSERT_EQUAL(run.count, 3);
    collect_free(&run.col);
}

/* A task is emitted as soon as its end is known, before any flush; the
 * rest waits for more input or the flush. */
static void test_emits_early(void) {
    collect_t col;
    memset(&col, 0, sizeof col);
    char err[256];
    mt_split_opts_t o = {0, 1, 100, mt_wordcount_separator, "word"};
    mt_split_t *s = mt_split_new(&o, collect_emit, &col, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_EQUAL(mt_split_feed(s, "ab cd", 5, err, sizeof err), 0);
    CU_ASSERT_EQUAL(col.n, 1);
    CU_ASSERT_EQUAL(mt_split_count(s), 1);
    CU_ASSERT_EQUAL(mt_split_feed(s, "ef", 2, err, sizeof err), 0);
    CU_ASSERT_EQUAL(col.n, 1); /* "cdef" may continue */
    CU_ASSERT_EQUAL(mt_split_feed(s, "", 0, err, sizeof err), 0);
    CU_ASSERT_EQUAL(col.n, 1);
    CU_ASSERT_EQUAL(mt_split_flush(s, err, sizeof err), 0);
    CU_ASSERT_EQUAL_FATAL(col.n, 2);
    CU_ASSERT_EQUAL(col.recs[1].len, 4);
    CU_ASSERT_EQUAL(memcmp(col.data.data + col.recs[1].pos, "cdef", 4), 0);
    CU_ASSERT_EQUAL(mt_split_flush(s, err, sizeof err), 0); /* nothing left */
    CU_ASSERT_EQUAL(col.n, 2);
    CU_ASSERT_EQUAL(mt_split_count(s), 2);
    mt_split_destroy(s);
    collect_free(&col);
    mt_split_destroy(NULL);
}

/* The callback's non-zero value stops the splitter and is returned. */
static void test_emit_stops(void) {
    collect_t col;
    memset(&col, 0, sizeof col);
    col.stop_at = 2;
    col.stop_rc = 7;
    char err[256];
    mt_split_opts_t o = {1, 1, 100, newline_only, "line"};
    mt_split_t *s = mt_split_new(&o, collect_emit, &col, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_EQUAL(mt_split_feed(s, "a\nb\nc\n", 6, err, sizeof err), 7);
    CU_ASSERT_EQUAL(col.n, 1);
    mt_split_destroy(s);
    collect_free(&col);

    memset(&col, 0, sizeof col);
    col.stop_at = 1;
    col.stop_rc = -5;
    s = mt_split_new(&o, collect_emit, &col, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_EQUAL(mt_split_feed(s, "no newline", 10, err, sizeof err), 0);
    CU_ASSERT_EQUAL(mt_split_flush(s, err, sizeof err), -5);
    mt_split_destroy(s); /* unflushed input is discarded */
    collect_free(&col);
}

static void test_bad_options(void) {
    static const struct {
        int by_lines;
        size_t size, max;
        int table;
    } bad[] = {
        {0, 0, 10, 1}, {1, 0, 10, 1}, {0, 1, 0, 1}, {1, 1, 0, 1},
        {0, 11, 10, 1}, {0, 1, 10, 0}, {1, 1, 10, 0},
    };
    char err[256];
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        mt_split_opts_t o = {bad[k].by_lines, bad[k].size, bad[k].max,
                             bad[k].table ? newline_only : NULL, "line"};
        err[0] = '\0';
        mt_split_t *s = mt_split_new(&o, collect_emit, NULL, err, sizeof err);
        CHECKF(s == NULL && err[0] != '\0', "bad options %zu accepted", k);
        mt_split_destroy(s);
    }
    /* Lines mode may ask for more lines than max_bytes. */
    mt_split_opts_t o = {1, 50, 10, newline_only, "line"};
    mt_split_t *s = mt_split_new(&o, collect_emit, NULL, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL(s);
    mt_split_destroy(s);
    /* size == max_bytes in bytes mode is fine. */
    mt_split_opts_t o2 = {0, 10, 10, newline_only, "line"};
    s = mt_split_new(&o2, collect_emit, NULL, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL(s);
    mt_split_destroy(s);
}

/* The options and the table are copied: changing them afterwards changes
 * nothing. */
static void test_options_copied(void) {
    unsigned char table[256] = {0};
    table[','] = 1;
    collect_t col;
    memset(&col, 0, sizeof col);
    char err[256];
    mt_split_opts_t o = {0, 1, 100, table, "word"};
    mt_split_t *s = mt_split_new(&o, collect_emit, &col, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    table[','] = 0;
    table['x'] = 1;
    o.size = 50;
    CU_ASSERT_EQUAL(mt_split_feed(s, "ax,b", 4, err, sizeof err), 0);
    CU_ASSERT_EQUAL(mt_split_flush(s, err, sizeof err), 0);
    CU_ASSERT_EQUAL_FATAL(col.n, 2);
    CU_ASSERT_EQUAL(col.recs[0].len, 3);
    mt_split_destroy(s);
    collect_free(&col);
}

/* Runs too long to split: -1 naming the unit, everything before the run
 * emitted, nothing of the run. */
static void test_unsplittable_runs(void) {
    static const struct {
        int by_lines, newline_table;
        size_t size, max;
        const char *input;
        size_t run_at;
        const char *unit;
    } cases[] = {
        {0, 0, 1, 4, "abcde", 0, "word"},
        {0, 0, 1, 4, "ab cd efghij kl", 6, "word"},
        {0, 0, 3, 8, "ab cd 123456789", 6, "word"},
        {0, 0, 2, 4, "a\x80\x81\x82\x83\x84 b", 0, "word"},
        {1, 1, 1, 5, "abc\nabcdefgh\n", 4, "line"},
        {1, 1, 2, 5, "a\nb\nc\r\r\r\r\r\r\n", 4, "line"},
        {0, 1, 1, 6, "ab\nabcdefgh", 3, "line"},
        {1, 0, 1, 3, "a b\nabcd", 4, "word"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        mt_split_opts_t o = {cases[k].by_lines, cases[k].size, cases[k].max,
                             cases[k].newline_table ? newline_only
                                                    : mt_wordcount_separator,
                             cases[k].unit};
        size_t len = strlen(cases[k].input);
        for (size_t piece = 0; piece <= 2; piece++) {
            run_t run;
            run_split(&o, (const unsigned char *)cases[k].input, len, &len, 1,
                      (feed_t){piece, 0, 0}, &run);
            CHECKF(run.rc == -1 && strstr(run.err, cases[k].unit) &&
                       run.col.data.len == cases[k].run_at &&
                       memcmp(run.col.data.data ? run.col.data.data : "",
                              cases[k].input, cases[k].run_at) == 0,
                   "case %zu piece %zu: rc %d, %zu bytes emitted (want %zu), "
                   "err \"%s\"",
                   k, piece, run.rc, run.col.data.len, cases[k].run_at, run.err);
            collect_free(&run.col);
        }
    }
}

/* A final word (or line without newline) of exactly max_bytes fits in one
 * task: the end of input is a cut, and the task is not longer than the
 * limit, so this is not an error. */
static void test_final_run_of_exactly_max_bytes(void) {
    static const struct {
        int by_lines, newline_table;
        size_t size, max;
        const char *input;
        const char *chunks[3];
    } cases[] = {
        {0, 0, 1, 4, "abcd", {"abcd"}},
        {0, 0, 4, 4, "abcd", {"abcd"}},
        {0, 0, 1, 4, "xy abcd", {"xy ", "abcd"}},
        {1, 1, 1, 4, "abcd", {"abcd"}},
        {1, 1, 1, 4, "ab\nabcd", {"ab\n", "abcd"}},
        {1, 0, 2, 4, "ab\nabcd", {"ab\n", "abcd"}},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        mt_split_opts_t o = {cases[k].by_lines, cases[k].size, cases[k].max,
                             cases[k].newline_table ? newline_only
                                                    : mt_wordcount_separator,
                             cases[k].newline_table ? "line" : "word"};
        size_t len = strlen(cases[k].input);
        for (size_t piece = 0; piece <= 1; piece++) {
            run_t run;
            run_split(&o, (const unsigned char *)cases[k].input, len, &len, 1,
                      (feed_t){piece, 0, 0}, &run);
            size_t n = 0;
            while (n < 3 && cases[k].chunks[n]) n++;
            int ok = run.rc == 0 && run.col.n == n;
            for (size_t j = 0; ok && j < n; j++)
                ok = run.col.recs[j].len == strlen(cases[k].chunks[j]);
            CHECKF(ok, "\"%s\" (%s mode, size %zu, max_bytes %zu, %s table, "
                       "piece %zu): rc %d \"%.200s\", %zu chunks, want %zu",
                   show(cases[k].input), cases[k].by_lines ? "lines" : "bytes",
                   cases[k].size, cases[k].max,
                   cases[k].newline_table ? "newline" : "wordcount", piece,
                   run.rc, run.err, run.col.n, n);
            collect_free(&run.col);
        }
    }
}

/* Random byte strings (NUL, CR, bytes >= 0x80 included), random options,
 * tables, flush points and piece sizes, from a fixed seed. */
static void test_randomized(void) {
    unsigned long long seed = 0x5eed5eedULL;
    enum { ITER = 1500, MAXLEN = 1500 };
    unsigned char *in = malloc(MAXLEN);
    CU_ASSERT_PTR_NOT_NULL_FATAL(in);
    size_t failed = 0;
    for (int it = 0; it < ITER && failed < 5; it++) {
        size_t len = (size_t)(unit_rand(&seed) % MAXLEN);
        int style = (int)(unit_rand(&seed) % 3);
        for (size_t k = 0; k < len; k++) {
            unsigned r = (unsigned)(unit_rand(&seed) % 100);
            if (style == 0) {
                in[k] = (unsigned char)unit_rand(&seed); /* any byte */
            } else if (style == 1) { /* text-like */
                in[k] = r < 60 ? (unsigned char)('a' + r % 26)
                      : r < 75 ? ' '
                      : r < 81 ? '\n'
                      : r < 84 ? '\r'
                      : r < 87 ? '\0'
                      : r < 93 ? (unsigned char)(0x80 + r)
                               : (unsigned char)"!,.;:-_'\"?()[]"[r % 14];
            } else { /* long runs: few boundaries */
                in[k] = r < 2 ? '\n' : r < 4 ? ' ' : (unsigned char)('A' + r % 26);
            }
        }
        mt_split_opts_t o;
        memset(&o, 0, sizeof o);
        o.by_lines = (int)(unit_rand(&seed) % 2);
        o.size = 1 + (size_t)(unit_rand(&seed) % 40);
        if (o.by_lines)
            o.max_bytes = 1 + (size_t)(unit_rand(&seed) % 300);
        else
            o.max_bytes = o.size + (size_t)(unit_rand(&seed) % 200);
        int t = (int)(unit_rand(&seed) % 3);
        if (t == 2) {
            for (int b = 0; b < 256; b++)
                random_table[b] = unit_rand(&seed) % 10 == 0;
            /* Lines mode cuts after newlines: a newline must be a
             * boundary there (as for every line-based op). */
            if (o.by_lines) random_table['\n'] = 1;
        }
        o.boundary = t == 0 ? mt_wordcount_separator
                   : t == 1 ? newline_only : random_table;
        o.unit = t == 1 ? "line" : "word";
        size_t ends[5], nends = (size_t)(unit_rand(&seed) % 4);
        for (size_t k = 0; k < nends; k++)
            ends[k] = len ? (size_t)(unit_rand(&seed) % len) : 0;
        for (size_t a = 0; a < nends; a++) /* sort */
            for (size_t b = a + 1; b < nends; b++)
                if (ends[b] < ends[a]) {
                    size_t x = ends[a];
                    ends[a] = ends[b];
                    ends[b] = x;
                }
        ends[nends++] = len;
        feed_t feed = {0, 0, 0};
        switch (unit_rand(&seed) % 4) {
        case 0: feed.piece = 1; break;
        case 1: feed.piece = 1 + (size_t)(unit_rand(&seed) % 20); break;
        case 2: feed.random_max = 1 + (size_t)(unit_rand(&seed) % 600);
                feed.seed = seed; break;
        default: break; /* all at once */
        }
        char label[32];
        snprintf(label, sizeof label, "iteration %d", it);
        failed += !check_case(label, &o, in, len, ends, nends, feed);
    }
    CHECKF(failed == 0, "%zu random cases failed", failed);
    free(in);
}

/* A large input in large pieces: the properties hold and the splitter does
 * not copy quadratically (this would take minutes if it did). */
static void test_large_input(void) {
    enum { LEN = 4 << 20 };
    unsigned char *in = malloc(LEN);
    CU_ASSERT_PTR_NOT_NULL_FATAL(in);
    unsigned long long seed = 99;
    for (size_t k = 0; k < LEN; k++) {
        unsigned r = (unsigned)(unit_rand(&seed) % 64);
        in[k] = r == 0 ? '\n' : r < 8 ? ' ' : (unsigned char)('a' + r % 26);
    }
    mt_split_opts_t o = {0, 65536, 1 << 20, mt_wordcount_separator, "word"};
    size_t len = LEN;
    CU_ASSERT_TRUE(check_case("large", &o, in, len, &len, 1,
                              (feed_t){1 << 16, 0, 0}));
    mt_split_opts_t ol = {1, 1000, 1 << 20, newline_only, "line"};
    CU_ASSERT_TRUE(check_case("large", &ol, in, len, &len, 1,
                              (feed_t){0, 100000, 3}));
    free(in);
}

int register_split_suite(void) {
    static const unit_test_t tests[] = {
        {"hand-made cases", test_hand_cases},
        {"every size, bytes mode, many feeds", test_every_size_bytes_mode},
        {"every size, lines mode, many feeds", test_every_size_lines_mode},
        {"flush points", test_flush_points},
        {"tasks are emitted early", test_emits_early},
        {"callback stops the splitter", test_emit_stops},
        {"invalid options", test_bad_options},
        {"options are copied", test_options_copied},
        {"unsplittable runs", test_unsplittable_runs},
        {"final run of exactly max_bytes", test_final_run_of_exactly_max_bytes},
        {"randomized", test_randomized},
        {"large input", test_large_input},
        {NULL, NULL},
    };
    init_tables();
    return unit_add_suite("split", tests);
}

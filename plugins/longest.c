/* longest.c - an example plugin op: the K longest lines of the input.
 *
 * Shows the whole plugin interface (lib/mt_plugin.h) on a job a sum cannot
 * express: the state is a short list of lines, merged by keeping the K
 * longest (ties: the earlier line), which is associative and commutative as
 * the interface requires. Build and use:
 *
 *   make plugins        # bin/plugins/longest.so
 *   mt-consumer --plugin bin/plugins/longest.so     (and the aggregator,
 *   mt-producer --plugin bin/plugins/longest.so --op longest --args '{"k":3}' FILE
 *   mtctl --plugin bin/plugins/longest.so result JOB
 *
 * State format: records of [line number: 8 bytes][length: 4 bytes][text
 * length: 4 bytes][text], big-endian, longest first. Only the first
 * TEXT_MAX bytes of a line are kept as text; its length is exact. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mt_plugin.h"

#define DEFAULT_K 5
#define MAX_K 1000
#define TEXT_MAX 1000

typedef struct line {
    uint64_t number;
    uint32_t length;
    uint32_t text_len;
    const unsigned char *text;
} line_t;

typedef struct top {
    line_t *lines; /* longest first */
    size_t n, k;
} top_t;

/* "k" from the job's arguments, by hand: a plugin needs no JSON library.
 * Returns 0 when it is there but not a whole number from 1 to MAX_K. */
static size_t read_k(const char *args) {
    const char *p = args ? strstr(args, "\"k\"") : NULL;
    if (!p) return DEFAULT_K;
    p = strchr(p + 3, ':');
    char *end;
    long k = p ? strtol(p + 1, &end, 10) : 0;
    if (!p || end == p + 1 || (*end != ',' && *end != '}' && *end != ' ')) return 0;
    return k >= 1 && k <= MAX_K ? (size_t)k : 0;
}

static int bad_k(char *err, size_t errsize) {
    snprintf(err, errsize, "longest: \"k\" must be a whole number from 1 to %d", MAX_K);
    return -1;
}

static int longer(const line_t *a, const line_t *b) {
    return a->length != b->length ? a->length > b->length : a->number < b->number;
}

/* Keeps l if it is among the k longest. */
static void offer(top_t *t, const line_t *l) {
    if (t->n == t->k && !longer(l, &t->lines[t->n - 1])) return;
    size_t at = t->n < t->k ? t->n++ : t->n - 1;
    while (at > 0 && longer(l, &t->lines[at - 1])) {
        t->lines[at] = t->lines[at - 1];
        at--;
    }
    t->lines[at] = *l;
}

static void put32(unsigned char *p, uint32_t v) {
    for (int k = 3; k >= 0; k--, v >>= 8) p[k] = (unsigned char)v;
}

static uint64_t get(const unsigned char *p, int n) {
    uint64_t v = 0;
    for (int k = 0; k < n; k++) v = v << 8 | p[k];
    return v;
}

static int write_state(const top_t *t, mt_plugin_out_t *out) {
    for (size_t k = 0; k < t->n; k++) {
        unsigned char head[16];
        put32(head, (uint32_t)(t->lines[k].number >> 32));
        put32(head + 4, (uint32_t)t->lines[k].number);
        put32(head + 8, t->lines[k].length);
        put32(head + 12, t->lines[k].text_len);
        if (out->write(out, head, 16) || out->write(out, t->lines[k].text, t->lines[k].text_len))
            return -1;
    }
    return 0;
}

/* Offers every record of a state. Returns -1 when it is malformed. */
static int read_state(top_t *t, const unsigned char *p, size_t len) {
    while (len > 0) {
        if (len < 16) return -1;
        line_t l = {get(p, 8), (uint32_t)get(p + 8, 4), (uint32_t)get(p + 12, 4), p + 16};
        if (l.text_len > TEXT_MAX || len - 16 < l.text_len) return -1;
        offer(t, &l);
        p += 16 + l.text_len;
        len -= 16 + l.text_len;
    }
    return 0;
}

static int longest_map(const mt_plugin_task_t *task, const void *data, size_t len,
                       mt_plugin_out_t *out, char *err, size_t errsize) {
    top_t t = {NULL, 0, read_k(task->args)};
    if (!t.k) return bad_k(err, errsize);
    if (!(t.lines = malloc(t.k * sizeof *t.lines))) {
        snprintf(err, errsize, "out of memory");
        return -1;
    }
    const unsigned char *p = data, *end = p + len;
    for (uint64_t number = task->first_line; p < end; number++) {
        const unsigned char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = (size_t)((nl ? nl : end) - p);
        line_t l = {number, (uint32_t)n, (uint32_t)(n < TEXT_MAX ? n : TEXT_MAX), p};
        offer(&t, &l);
        p += n + (nl != NULL);
    }
    int rc = write_state(&t, out);
    if (rc) snprintf(err, errsize, "out of memory");
    free(t.lines);
    return rc;
}

static int longest_merge(const char *args, const void *a, size_t alen, const void *b,
                         size_t blen, mt_plugin_out_t *out, char *err, size_t errsize) {
    top_t t = {NULL, 0, read_k(args)};
    if (!t.k) return bad_k(err, errsize);
    int rc = -1;
    if (!(t.lines = malloc(t.k * sizeof *t.lines))) {
        snprintf(err, errsize, "out of memory");
        return -1;
    }
    if (read_state(&t, a, alen) || read_state(&t, b, blen))
        snprintf(err, errsize, "longest: malformed state");
    else if ((rc = write_state(&t, out)) != 0)
        snprintf(err, errsize, "out of memory");
    free(t.lines);
    return rc;
}

/* {"longest": [{"line": n, "length": bytes, "text": "..."}, ...]}. Text
 * bytes of 0x80 and above are written as \u0080..\u00ff (read as Latin-1),
 * which keeps any input valid JSON. */
static int longest_finish(const char *args, const void *state, size_t len,
                          mt_plugin_out_t *out, char *err, size_t errsize) {
    top_t t = {NULL, 0, read_k(args)};
    if (!t.k) return bad_k(err, errsize);
    if (!(t.lines = malloc(t.k * sizeof *t.lines))) {
        snprintf(err, errsize, "out of memory");
        return -1;
    }
    int rc = read_state(&t, state, len);
    if (rc) snprintf(err, errsize, "longest: malformed state");
    rc |= out->write(out, "{\"longest\":[", 12);
    for (size_t k = 0; rc == 0 && k < t.n; k++) {
        char head[80];
        int n = snprintf(head, sizeof head, "%s{\"line\":%llu,\"length\":%u,\"text\":\"",
                         k ? "," : "", (unsigned long long)t.lines[k].number,
                         (unsigned)t.lines[k].length);
        rc |= out->write(out, head, (size_t)n);
        for (uint32_t i = 0; rc == 0 && i < t.lines[k].text_len; i++) {
            unsigned char c = t.lines[k].text[i];
            char esc[8];
            if (c == '"' || c == '\\') n = snprintf(esc, sizeof esc, "\\%c", c);
            else if (c < 0x20 || c >= 0x7f) n = snprintf(esc, sizeof esc, "\\u%04x", c);
            else n = snprintf(esc, sizeof esc, "%c", c);
            rc |= out->write(out, esc, (size_t)n);
        }
        rc |= out->write(out, "\"}", 2);
    }
    rc |= out->write(out, "]}", 2);
    if (rc && !err[0]) snprintf(err, errsize, "out of memory");
    free(t.lines);
    return rc ? -1 : 0;
}

static const mt_plugin_t longest = {
    .abi = MT_PLUGIN_ABI,
    .name = "longest",
    .summary = "the args.k (5) longest lines, with their line numbers",
    .unit = "line",
    .map = longest_map,
    .merge = longest_merge,
    .finish = longest_finish,
};

const mt_plugin_t *mt_plugin_init(void);

const mt_plugin_t *mt_plugin_init(void) { return &longest; }

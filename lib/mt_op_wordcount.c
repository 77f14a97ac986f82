/* mt_op_wordcount.c - the wordcount op: how often each word occurs.
 *
 * A word is a maximal run of bytes that are not separators. Separators are
 * the ASCII control bytes (0x00-0x1f, 0x7f), space and ASCII punctuation.
 * ASCII letters are lower-cased; bytes >= 0x80 are kept as they are, so any
 * encoding (or none) counts consistently. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mt_buf.h"
#include "mt_op.h"
#include "mt_utf8.h"

#define CTRL_0_1F                                                              \
    [0x00] = 1, [0x01] = 1, [0x02] = 1, [0x03] = 1, [0x04] = 1, [0x05] = 1,   \
    [0x06] = 1, [0x07] = 1, [0x08] = 1, [0x09] = 1, [0x0a] = 1, [0x0b] = 1,   \
    [0x0c] = 1, [0x0d] = 1, [0x0e] = 1, [0x0f] = 1, [0x10] = 1, [0x11] = 1,   \
    [0x12] = 1, [0x13] = 1, [0x14] = 1, [0x15] = 1, [0x16] = 1, [0x17] = 1,   \
    [0x18] = 1, [0x19] = 1, [0x1a] = 1, [0x1b] = 1, [0x1c] = 1, [0x1d] = 1,   \
    [0x1e] = 1, [0x1f] = 1

const unsigned char mt_wordcount_separator[256] = {
    CTRL_0_1F, [0x7f] = 1, [' '] = 1,
    ['!'] = 1, ['"'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1,
    ['\''] = 1, ['('] = 1, [')'] = 1, ['*'] = 1, ['+'] = 1, [','] = 1,
    ['-'] = 1, ['.'] = 1, ['/'] = 1, [':'] = 1, [';'] = 1, ['<'] = 1,
    ['='] = 1, ['>'] = 1, ['?'] = 1, ['@'] = 1, ['['] = 1, ['\\'] = 1,
    [']'] = 1, ['^'] = 1, ['_'] = 1, ['`'] = 1, ['{'] = 1, ['|'] = 1,
    ['}'] = 1, ['~'] = 1,
};

static int wordcount_map(const mt_map_ctx_t *ctx, const void *data, size_t len,
                         mt_delta_t *out, char *err, size_t errsize) {
    (void)ctx;
    const unsigned char *p = data, *end = p + len;
    /* Words are lower-cased into a scratch copy, then counted as slices. */
    unsigned char *low = malloc(len ? len : 1);
    if (!low) {
        snprintf(err, errsize, "out of memory");
        return -1;
    }
    for (size_t k = 0; k < len; k++) {
        unsigned char c = p[k];
        low[k] = (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
    }
    const unsigned char *q = low, *qend = low + (end - p);
    while (q < qend) {
        while (q < qend && mt_wordcount_separator[*q]) q++;
        const unsigned char *w = q;
        while (q < qend && !mt_wordcount_separator[*q]) q++;
        if (q > w && mt_delta_add_int(out, w, (size_t)(q - w), 1) != 0) {
            free(low);
            snprintf(err, errsize, "out of memory");
            return -1;
        }
    }
    free(low);
    return 0;
}

/* Parses a Redis integer reply value. Returns 0, or -1 if it is not one. */
static int parse_count(const char *s, size_t len, json_int_t *out) {
    char tmp[32], *end;
    if (len == 0 || len >= sizeof tmp) return -1;
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    long long v = strtoll(tmp, &end, 10);
    if (*end != '\0') return -1;
    *out = (json_int_t)v;
    return 0;
}

static int by_count_then_word(const void *a, const void *b) {
    const mt_field_t *x = *(const mt_field_t *const *)a;
    const mt_field_t *y = *(const mt_field_t *const *)b;
    long long cx = strtoll(x->value, NULL, 10), cy = strtoll(y->value, NULL, 10);
    if (cx != cy) return cx > cy ? -1 : 1;
    size_t n = x->name_len < y->name_len ? x->name_len : y->name_len;
    int c = memcmp(x->name, y->name, n);
    if (c) return c;
    return x->name_len < y->name_len ? -1 : x->name_len > y->name_len;
}

/* {"counts": {word: n, ...}}, most frequent first. Words that are not valid
 * UTF-8 are shown with \xNN escapes (see mt_utf8.h); a word never holds a
 * backslash, so the escaped form cannot collide with a real word. */
static json_t *wordcount_finish(const json_t *args, const mt_field_t *fields,
                                size_t n, char *err, size_t errsize) {
    (void)args;
    const mt_field_t **order = malloc((n ? n : 1) * sizeof *order);
    json_t *counts = json_object(), *res = json_object();
    mt_buf_t key = MT_BUF_INIT;
    if (!order || !counts || !res) goto oom;
    for (size_t k = 0; k < n; k++) order[k] = &fields[k];
    qsort(order, n, sizeof *order, by_count_then_word);
    for (size_t k = 0; k < n; k++) {
        json_int_t v;
        if (parse_count(order[k]->value, order[k]->value_len, &v) != 0) {
            snprintf(err, errsize, "stored count is not an integer");
            goto fail;
        }
        mt_buf_reset(&key);
        if (mt_utf8_escape(order[k]->name, order[k]->name_len, &key) != 0 ||
            json_object_setn_new_nocheck(counts, key.data ? key.data : "",
                                         key.len, json_integer(v)) != 0)
            goto oom;
    }
    if (json_object_set_new(res, "counts", counts) != 0) {
        counts = NULL;
        goto oom;
    }
    free(order);
    mt_buf_free(&key);
    return res;
oom:
    snprintf(err, errsize, "out of memory");
fail:
    free(order);
    mt_buf_free(&key);
    json_decref(counts);
    json_decref(res);
    return NULL;
}

static int wordcount_check_args(const json_t *args, char *err, size_t errsize) {
    static const char *const known[] = {NULL};
    return mt_op_known_keys("wordcount", args, known, err, errsize);
}

const mt_op_t mt_op_wordcount = {
    .name = "wordcount",
    .summary = "count each word (ASCII case-folded, any bytes)",
    .unit = "word",
    .boundary = mt_wordcount_separator,
    .check_args = wordcount_check_args,
    .map = wordcount_map,
    .finish = wordcount_finish,
};

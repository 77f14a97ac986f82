/* mt_buf.c - growable byte buffer (see mt_buf.h). */
#include "mt_buf.h"

#include <stdlib.h>
#include <string.h>

int mt_buf_reserve(mt_buf_t *b, size_t extra) {
    if (extra > (size_t)-1 - b->len - 1) return -1;
    if (b->len + extra + 1 <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1) {
        if (cap > (size_t)-1 / 2) return -1;
        cap *= 2;
    }
    char *p = realloc(b->data, cap);
    if (!p) return -1;
    b->data = p;
    b->cap = cap;
    return 0;
}

int mt_buf_append(mt_buf_t *b, const void *p, size_t len) {
    if (mt_buf_reserve(b, len) != 0) return -1;
    if (len) memcpy(b->data + b->len, p, len);
    b->len += len;
    b->data[b->len] = '\0';
    return 0;
}

void mt_buf_consume(mt_buf_t *b, size_t n) {
    if (n >= b->len) {
        mt_buf_reset(b);
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
    b->data[b->len] = '\0';
}

void mt_buf_reset(mt_buf_t *b) {
    b->len = 0;
    if (b->data) b->data[0] = '\0';
}

void mt_buf_free(mt_buf_t *b) {
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

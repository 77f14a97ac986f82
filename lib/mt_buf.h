/* mt_buf.h - a growable byte buffer.
 *
 * Used wherever bytes are assembled before they leave the process (encoded
 * partial results, input being split). Like git's strbuf, the struct is
 * public so it can live on the stack; the bytes are always NUL-terminated
 * for convenience but may contain NULs. */
#ifndef MT_BUF_H
#define MT_BUF_H

#include <stddef.h>

typedef struct mt_buf {
    char *data;  /* NULL until the first append */
    size_t len;
    size_t cap;
} mt_buf_t;

#define MT_BUF_INIT {NULL, 0, 0}

/* Makes room for at least extra more bytes. Returns 0, or -1 when out of memory. */
int mt_buf_reserve(mt_buf_t *b, size_t extra);

/* Appends len bytes. Returns 0, or -1 when out of memory (b is unchanged). */
int mt_buf_append(mt_buf_t *b, const void *p, size_t len);

/* Removes the first n bytes (n <= len), keeping the rest. */
void mt_buf_consume(mt_buf_t *b, size_t n);

/* Empties the buffer but keeps its memory. */
void mt_buf_reset(mt_buf_t *b);

/* Frees the memory; the buffer is empty and reusable afterwards. */
void mt_buf_free(mt_buf_t *b);

#endif

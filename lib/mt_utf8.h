/* mt_utf8.h - showing arbitrary bytes as valid UTF-8 text.
 *
 * Input may hold any bytes, but JSON strings must be valid UTF-8. Valid
 * sequences are kept as they are; each byte that is not part of one is
 * written as the four characters \xNN (backslash, 'x', two hex digits),
 * and a backslash as two backslashes, so the escaped text always tells
 * which bytes it stood for. */
#ifndef MT_UTF8_H
#define MT_UTF8_H

#include <stddef.h>

#include "mt_buf.h"

/* Length of the valid UTF-8 sequence at p (1 to 4), or 0 if p does not start
 * one (bad lead byte, truncated, overlong, surrogate, above U+10FFFF). NUL
 * counts as invalid so that the result never holds one. */
size_t mt_utf8_seq_len(const unsigned char *p, size_t avail);

/* Appends the escaped form of len bytes to out. Returns 0, or -1 when out of
 * memory. */
int mt_utf8_escape(const void *data, size_t len, mt_buf_t *out);

#endif

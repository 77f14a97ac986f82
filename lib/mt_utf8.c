/* mt_utf8.c - UTF-8 validation and \xNN escaping (see mt_utf8.h). */
#include "mt_utf8.h"

size_t mt_utf8_seq_len(const unsigned char *p, size_t avail) {
    unsigned c = avail ? p[0] : 0;
    size_t n;
    unsigned min, cp;

    if (avail == 0 || c == 0) return 0;
    if (c < 0x80) return 1;
    if (c >= 0xc2 && c <= 0xdf) n = 2, min = 0x80, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef) n = 3, min = 0x800, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4) n = 4, min = 0x10000, cp = c & 0x07;
    else return 0;
    if (avail < n) return 0;
    for (size_t k = 1; k < n; k++) {
        if ((p[k] & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (p[k] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return n;
}

int mt_utf8_escape(const void *data, size_t len, mt_buf_t *out) {
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = data, *end = p + len;
    if (mt_buf_reserve(out, len) != 0) return -1;
    while (p < end) {
        size_t n = mt_utf8_seq_len(p, (size_t)(end - p));
        if (*p == '\\') { /* doubled, so a real "\\x41" never reads as 'A' */
            if (mt_buf_append(out, "\\\\", 2) != 0) return -1;
            p++;
        } else if (n > 0) {
            if (mt_buf_append(out, p, n) != 0) return -1;
            p += n;
        } else {
            char esc[4] = {'\\', 'x', hex[*p >> 4], hex[*p & 15]};
            if (mt_buf_append(out, esc, 4) != 0) return -1;
            p++;
        }
    }
    return 0;
}

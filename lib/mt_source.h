/* mt_source.h - unbounded line input: stdin, a growing file, TCP clients.
 *
 * mt-producer --follow reads a stream that never ends. A source hands out
 * whole lines only, each ending in '\n', as they arrive: a partial line
 * waits for its end (so a task never holds half a line), except that a line
 * longer than MT_SOURCE_MAX_LINE is handed out in pieces of that size, so
 * memory stays bounded whatever the input. A followed file is read like
 * `tail -F`: from its start, surviving rotation (the path names a new file:
 * the old one is read to its end first) and truncation (read again from
 * the start). A listener takes line-based feeds from any number of
 * clients at once; each client's lines stay whole. */
#ifndef MT_SOURCE_H
#define MT_SOURCE_H

#include <stddef.h>

#include "mt_buf.h"

#define MT_SOURCE_MAX_LINE (512 * 1024)

typedef struct mt_source mt_source_t;

/* Standard input. */
mt_source_t *mt_source_stdin(char *err, size_t errsize);
/* The file at path, followed; it need not exist yet. */
mt_source_t *mt_source_file(const char *path, char *err, size_t errsize);
/* A TCP listener on "HOST:PORT" (HOST may be empty for all addresses;
 * PORT 0 picks a free one, see mt_source_port). */
mt_source_t *mt_source_listen(const char *hostport, char *err, size_t errsize);

/* The port a listener is bound to (0 for other sources). */
int mt_source_port(const mt_source_t *s);

/* Waits up to timeout_ms for input and appends the whole lines that came to
 * out. Returns the number of lines appended (0 when none came in time), or
 * -1 with a message in err. Sets *ended when the input ended for good
 * (stdin closed: its last line, even without a newline, was handed out). */
int mt_source_read(mt_source_t *s, mt_buf_t *out, int timeout_ms, int *ended,
                   char *err, size_t errsize);

/* Where a followed file stands: the file (device, inode) and the offset of
 * the first byte not yet handed out. Returns 0, or -1 for other sources or
 * before the file was opened. */
int mt_source_position(const mt_source_t *s, unsigned long long *dev,
                       unsigned long long *ino, long long *off);

/* Resumes a followed file at off, if path still names the file (dev, ino)
 * and it is at least that long; otherwise it is read from its start.
 * Returns 1 when resumed, 0 when not. Call before the first read. */
int mt_source_resume(mt_source_t *s, unsigned long long dev, unsigned long long ino,
                     long long off);

/* Closes the source; NULL is accepted. */
void mt_source_destroy(mt_source_t *s);

#endif

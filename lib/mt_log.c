/* mt_log.c - timestamped, levelled log lines on stderr (see mt_log.h). */
#define _POSIX_C_SOURCE 200809L
#include "mt_log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "mt_utf8.h"

int mt_log_level = MT_LOG_INFO;
static const char *log_progname = "microtask";
static int log_json;

int mt_log_set_format(const char *format) {
    if (strcmp(format, "text") == 0) log_json = 0;
    else if (strcmp(format, "json") == 0) log_json = 1;
    else return -1;
    return 0;
}

/* The message as a JSON string body: quotes, backslashes and control bytes
 * escaped, and each byte that is not valid UTF-8 (a message may quote
 * input) written as \\xNN, as mt_utf8 shows such bytes everywhere else. */
static void json_escape(char *out, size_t size, const char *s) {
    const unsigned char *p = (const unsigned char *)s;
    size_t n = 0, left = strlen(s);
    while (left && n + 8 < size) {
        size_t len = *p >= 0x80 ? mt_utf8_seq_len(p, left) : 1;
        if (len == 0) {
            n += (size_t)snprintf(out + n, size - n, "\\\\x%02x", *p);
            len = 1;
        } else if (*p == '"' || *p == '\\') {
            out[n++] = '\\';
            out[n++] = (char)*p;
        } else if (*p < 0x20) {
            n += (size_t)snprintf(out + n, size - n, "\\u%04x", *p);
        } else {
            if (n + len + 1 >= size) break;
            memcpy(out + n, p, len);
            n += len;
        }
        p += len;
        left -= len;
    }
    out[n] = '\0';
}

void mt_log_init(const char *progname) {
    if (progname) log_progname = progname;
    /* Started with stdin, stdout or stderr closed (`prog <&-`), the first
     * pipe or socket opened would take that number and be read as input
     * or written to as output. /dev/null holds the place instead. */
    for (int fd = 0; fd <= 2; fd++) {
        if (fcntl(fd, F_GETFD) != -1 || errno != EBADF) continue;
        int null = open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);
        if (null >= 0 && null != fd) close(null); /* fd was not the lowest free */
    }
}

void mt_log_write(int level, const char *fmt, ...) {
    static const char *names[] = {"ERROR", "WARN", "INFO", "DEBUG"};
    char stamp[32], line[4096];
    struct timeval tv;
    struct tm tm;
    va_list ap;

    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (level < 0) level = 0;
    if (level > MT_LOG_DEBUG) level = MT_LOG_DEBUG;
    /* One fprintf per line so lines of concurrent threads do not interleave. */
    if (log_json) {
        static const char *lower[] = {"error", "warn", "info", "debug"};
        char msg[sizeof line * 4 + 8];
        json_escape(msg, sizeof msg, line);
        fprintf(stderr,
                "{\"ts\":\"%s.%03dZ\",\"program\":\"%s\",\"pid\":%d,\"level\":\"%s\","
                "\"msg\":\"%s\"}\n",
                stamp, (int)(tv.tv_usec / 1000), log_progname, (int)getpid(), lower[level],
                msg);
        return;
    }
    fprintf(stderr, "%s.%03dZ %s[%d] %s %s\n", stamp, (int)(tv.tv_usec / 1000),
            log_progname, (int)getpid(), names[level], line);
}

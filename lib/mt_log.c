/* mt_log.c - timestamped, levelled log lines on stderr (see mt_log.h). */
#define _POSIX_C_SOURCE 200809L
#include "mt_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

int mt_log_level = MT_LOG_INFO;
static const char *log_progname = "microtask";

void mt_log_init(const char *progname) {
    if (progname) log_progname = progname;
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
    fprintf(stderr, "%s.%03dZ %s[%d] %s %s\n", stamp, (int)(tv.tv_usec / 1000),
            log_progname, (int)getpid(), names[level], line);
}

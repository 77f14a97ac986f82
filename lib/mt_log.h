/* mt_log.h - one logging stream for every microtask program.
 *
 * Diagnostics go to stderr with a timestamp, the program name and a level;
 * stdout stays free for data (job ids, results). The level is checked before
 * the arguments are evaluated, as Redis's serverLog does. */
#ifndef MT_LOG_H
#define MT_LOG_H

enum { MT_LOG_ERROR = 0, MT_LOG_WARN = 1, MT_LOG_INFO = 2, MT_LOG_DEBUG = 3 };

/* The current verbosity: messages above it are dropped. Default MT_LOG_INFO. */
extern int mt_log_level;

/* Sets the program name shown in every line (the pointer is kept), and
 * opens /dev/null on stdin, stdout or stderr if the program was started
 * with one of them closed. */
void mt_log_init(const char *progname);

/* Chooses the line format: "text" (the default: time, program[pid],
 * level, message) or "json" (one object per line with ts, program, pid,
 * level and msg, for log collectors). Returns 0, or -1 for another name. */
int mt_log_set_format(const char *format);

/* Writes one line; use the mt_log() macro instead. */
void mt_log_write(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define mt_log(level, ...)                                                     \
    do {                                                                       \
        if ((level) <= mt_log_level) mt_log_write((level), __VA_ARGS__);       \
    } while (0)

#define mt_err(...)   mt_log(MT_LOG_ERROR, __VA_ARGS__)
#define mt_warn(...)  mt_log(MT_LOG_WARN, __VA_ARGS__)
#define mt_info(...)  mt_log(MT_LOG_INFO, __VA_ARGS__)
#define mt_debug(...) mt_log(MT_LOG_DEBUG, __VA_ARGS__)

#endif

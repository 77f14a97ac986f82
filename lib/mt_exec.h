/* mt_exec.h - runs a user's program for one micro-task.
 *
 * The task's bytes go to the program's stdin and its stdout is the task's
 * result; stderr only explains a failure. A program is untrusted and may
 * misbehave in every way (never read its input, flood its output, hang,
 * leave background processes behind), so every run is bounded in time and
 * memory, and leaves no descriptor and no process of its group behind. */
#ifndef MT_EXEC_H
#define MT_EXEC_H

#include <stddef.h>

#include "mt_buf.h"

typedef struct mt_exec_spec {
    /* Program and arguments, NULL-terminated; argv[0] is looked up in PATH
     * unless it holds a '/'. */
    const char *const *argv;
    int shell;             /* 1: argv[0] is a command line run by
                            * /bin/sh -c; argv[1..] are ignored */
    long long timeout_ms;  /* after this long, SIGKILL to the program's
                            * whole process group; <= 0: no limit */
    size_t max_output;     /* more stdout than this is an error (the program
                            * is killed); 0: no limit */
} mt_exec_spec_t;

/* Runs the program with the len bytes at input on its stdin and collects its
 * stdout into out (appended). Returns 0 when it exited with status 0 within
 * the limits; otherwise -1 with a one-line reason in err:
 *   program exited with status 3: <tail of stderr>
 *   program killed by signal 11 (Segmentation fault): <tail of stderr>
 *   program timed out after 2000 ms
 *   program wrote more than 1048576 bytes to stdout
 *   cannot run "nosuchprog": No such file or directory
 * The tail of stderr is its last line(s), up to about 200 bytes, with
 * control characters, backslashes and invalid UTF-8 escaped. On failure out
 * may hold part of the output (with a limit, at most max_output + 1 bytes).
 *
 * The program runs in a process group of its own. The run ends when the
 * program itself exits: what is left of its group (background processes it
 * started) is killed at once, then the pipes are read to their end -- for at
 * most a second (not past the deadline, but for 100 ms at least), in case a
 * process that left the group holds them. So `sh -c 'sleep 10 & echo hi'`
 * succeeds at once with "hi\n", and the sleep is gone. A program that does
 * not read all of its input is not an error by itself (its exit status
 * decides); SIGPIPE never reaches the caller, ignored or not.
 *
 * Thread-safe: runs may go on at once in several threads. The caller must
 * not set SIGCHLD to SIG_IGN, nor reap children with waitpid(-1, ...). */
int mt_exec_run(const mt_exec_spec_t *spec, const void *input, size_t len,
                mt_buf_t *out, char *err, size_t errsize);

/* Kills (SIGKILL) the process groups of every program running now: for a
 * process about to exit with tasks still running, so that their programs
 * do not outlive it. (Each program also gets SIGKILL should the process
 * die; processes that left their group with setsid are beyond reach.) */
void mt_exec_kill_all(void);

#endif

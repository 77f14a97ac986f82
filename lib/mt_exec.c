/* mt_exec.c - running a task's program (see mt_exec.h).
 *
 * fork + execve with three pipes, all driven by one poll() loop in the
 * parent, so no order of reads and writes by the program can deadlock.
 * Everything that needs memory (argv, the PATH candidates) is prepared
 * before fork: in the child of a multi-threaded process only
 * async-signal-safe calls are allowed until it execs. Exec failures come
 * back as an errno through a close-on-exec pipe, which reads as EOF once the
 * exec succeeded. */
#define _GNU_SOURCE
#include "mt_exec.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mt_buf.h"
#include "mt_clock.h"
#include "mt_utf8.h"

extern char **environ;

enum {
    CHUNK = 65536,       /* bytes per read or write: a pipe's capacity */
    ERR_KEEP = 4096,     /* the end of stderr that is always kept */
    ERR_SHOW = 200,      /* how much of it a message shows */
    DRAIN_MS = 1000,     /* reading pipes after the program exited... */
    DRAIN_MIN_MS = 100,  /* ...and at least this long, even past the deadline */
    TICK_MAX_MS = 50,    /* longest poll before looking for the exit again */
};

/* What the child will exec, built before fork. */
typedef struct plan {
    const char *name;  /* argv[0] as given, or /bin/sh: for messages */
    char **paths;      /* candidates to execve, NULL-terminated */
    char **argv;
    char **sh_argv;    /* for a script without #!: /bin/sh, the script's
                        * path (set in the child), the arguments */
} plan_t;

/* One run in the parent. */
typedef struct run {
    pid_t pid;
    int in, out, err;  /* parent's pipe ends, -1 once closed */
    const unsigned char *input;
    size_t len, off;   /* input and how much of it was written */
    mt_buf_t *buf;
    size_t base;       /* buf->len when the run started */
    size_t max;        /* max_output */
    int epipe;         /* a write failed with EPIPE (SIGPIPE is pending) */
    int tail_cut;      /* stderr had more than tail holds */
    size_t tail_len;
    char tail[3 * ERR_KEEP];  /* the end of stderr */
} run_t;

static const char *errstr(int e, char *buf, size_t size) {
    return strerror_r(e, buf, size); /* the GNU one: thread-safe */
}

static void close_fd(int *fd) {
    if (*fd >= 0) close(*fd);
    *fd = -1;
}

static void plan_free(plan_t *p) {
    free(p->paths);
    free(p->argv);
    free(p->sh_argv);
}

/* The PATH search of execvp, done here because the child may not malloc:
 * every "dir/name" (an empty dir is the current one), or name alone when it
 * holds a '/'. */
static char **path_candidates(const char *name) {
    const char *path = "";
    if (!strchr(name, '/')) {
        path = getenv("PATH");
        if (!path) path = "/bin:/usr/bin"; /* what glibc's execvp uses */
    }
    size_t n = 1, namelen = strlen(name);
    for (const char *c = path; *c; c++) n += *c == ':';
    char **v = malloc((n + 1) * sizeof *v + strlen(path) + n * (namelen + 2));
    if (!v) return NULL;
    char *s = (char *)(v + n + 1);
    const char *dir = path;
    for (size_t k = 0; k < n; k++) {
        size_t dl = strcspn(dir, ":");
        v[k] = s;
        memcpy(s, dir, dl);
        s += dl;
        if (dl) *s++ = '/';
        memcpy(s, name, namelen + 1);
        s += namelen + 1;
        dir += dl + (dir[dl] == ':');
    }
    v[n] = NULL;
    return v;
}

static int plan_build(plan_t *p, const mt_exec_spec_t *spec, char *err,
                      size_t errsize) {
    memset(p, 0, sizeof *p);
    const char *const *argv = spec ? spec->argv : NULL;
    if (!argv || !argv[0] || !argv[0][0]) {
        snprintf(err, errsize, "no program to run");
        return -1;
    }
    p->name = spec->shell ? "/bin/sh" : argv[0];
    size_t argc = 0;
    if (spec->shell) {
        p->argv = calloc(4, sizeof *p->argv);
        p->paths = path_candidates("/bin/sh");
        if (p->argv) {
            p->argv[0] = "sh";
            p->argv[1] = "-c";
            p->argv[2] = (char *)argv[0];
        }
    } else {
        while (argv[argc]) argc++;
        p->argv = calloc(argc + 1, sizeof *p->argv);
        p->sh_argv = calloc(argc + 2, sizeof *p->sh_argv);
        p->paths = path_candidates(argv[0]);
        if (p->argv && p->sh_argv) {
            /* execve's argv is char *const[], yet never written to. */
            for (size_t k = 0; k < argc; k++) p->argv[k] = (char *)argv[k];
            p->sh_argv[0] = "/bin/sh";
            for (size_t k = 1; k < argc; k++) p->sh_argv[k + 1] = p->argv[k];
        }
    }
    if (!p->argv || !p->paths || (!spec->shell && !p->sh_argv)) {
        plan_free(p);
        snprintf(err, errsize, "out of memory");
        return -1;
    }
    return 0;
}

/* In the child, between fork and exec: async-signal-safe calls only. Never
 * returns; a failure is reported as an errno on report. */
_Noreturn static void child_exec(plan_t *p, const int fd[3], int report) {
    int e = 0;
    setpgid(0, 0); /* the parent does it too; whoever is first wins */
    /* if the worker dies (even SIGKILL), so does the program */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    /* Below the worker's own priority: programs that spin (or flood their
     * output) on every core must not starve the worker's poll loop and
     * librdkafka's heartbeats, or the group would drop it and hand the
     * task on, again and again. */
    if (nice(10) == -1) { /* at the lowest priority already: fine */
    }
    /* The pipe ends are all above 2, so no dup2 clobbers another; the
     * copies lose close-on-exec, the originals keep it. */
    for (int k = 0; k < 3 && !e; k++)
        if (dup2(fd[k], k) < 0) e = errno;
    if (!e) {
        /* The caller may ignore SIGPIPE, and mt_exec_run blocked it in this
         * thread: the program gets the defaults, as from a shell (else
         * `yes | head` would never end). Exec itself resets caught
         * signals. */
        struct sigaction sa = {0};
        sa.sa_handler = SIG_DFL;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGPIPE, &sa, NULL);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);

        /* execvp's rules: go on past a candidate that does not exist or is
         * not executable, stop at any other error; EACCES if some candidate
         * existed but was not executable. */
        int eacces = 0;
        e = ENOENT;
        for (char **c = p->paths; *c; c++) {
            execve(*c, p->argv, environ);
            e = errno;
            if (e == ENOEXEC && p->sh_argv) { /* a script without #! */
                p->sh_argv[1] = *c;
                execve(p->sh_argv[0], p->sh_argv, environ);
                e = errno;
                eacces = 0;
                break;
            }
            if (e == EACCES) {
                eacces = 1;
            } else if (e != ENOENT && e != ENOTDIR && e != ESTALE &&
                       e != ENODEV && e != ETIMEDOUT) {
                eacces = 0;
                break;
            }
        }
        if (eacces) e = EACCES;
    }
    ssize_t n = write(report, &e, sizeof e);
    (void)n; /* nothing more can be done about it */
    _exit(127);
}

/* A close-on-exec pipe whose ends are both above 2, so that the child's
 * dup2 onto 0, 1 and 2 cannot overwrite one with another even when the
 * caller has closed its standard descriptors. */
static int pipe_high(int fd[2]) {
    if (pipe2(fd, O_CLOEXEC) != 0) return -1;
    for (int k = 0; k < 2; k++) {
        if (fd[k] > 2) continue;
        int moved = fcntl(fd[k], F_DUPFD_CLOEXEC, 3);
        int e = errno;
        close(fd[k]);
        fd[k] = moved;
        if (moved < 0) {
            close_fd(&fd[1 - k]);
            errno = e;
            return -1;
        }
    }
    return 0;
}

/* Waits for the child, retrying on EINTR. Returns 0 or -1 (errno set). */
static int reap(pid_t pid, int *status) {
    while (waitpid(pid, status, 0) < 0)
        if (errno != EINTR) return -1;
    return 0;
}

/* Kills the child's whole group and reaps the child. Only for a child not
 * yet reaped: until then its pid, and so its group id, cannot be reused. */
/* Process groups of the programs running now, for mt_exec_kill_all(). */
#define MAX_LIVE 1024
static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;
static pid_t live[MAX_LIVE];

static void live_set(pid_t old, pid_t now) {
    pthread_mutex_lock(&live_lock);
    for (size_t k = 0; k < MAX_LIVE; k++)
        if (live[k] == old) {
            live[k] = now;
            break;
        }
    pthread_mutex_unlock(&live_lock);
}

void mt_exec_kill_all(void) {
    pthread_mutex_lock(&live_lock);
    for (size_t k = 0; k < MAX_LIVE; k++)
        if (live[k] > 0) kill(-live[k], SIGKILL);
    pthread_mutex_unlock(&live_lock);
}

static void kill_and_reap(pid_t pid) {
    int status;
    if (kill(-pid, SIGKILL) != 0) kill(pid, SIGKILL);
    reap(pid, &status);
}

/* Starts the program: r->pid and the parent's pipe ends on success;
 * otherwise -1 with err set and nothing left behind. */
static int spawn(run_t *r, plan_t *p, char *err, size_t errsize) {
    int in[2] = {-1, -1}, out[2] = {-1, -1}, er[2] = {-1, -1};
    int rep[2] = {-1, -1};
    char ebuf[128];
    if (pipe_high(in) || pipe_high(out) || pipe_high(er) || pipe_high(rep)) {
        snprintf(err, errsize, "cannot create a pipe: %s",
                 errstr(errno, ebuf, sizeof ebuf));
        goto fail;
    }
    pid_t pid = fork();
    if (pid == 0) child_exec(p, (const int[3]){in[0], out[1], er[1]}, rep[1]);
    int fork_errno = errno;
    close_fd(&in[0]);
    close_fd(&out[1]);
    close_fd(&er[1]);
    close_fd(&rep[1]);
    if (pid < 0) {
        snprintf(err, errsize, "cannot start \"%s\": %s", p->name,
                 errstr(fork_errno, ebuf, sizeof ebuf));
        goto fail;
    }
    /* Also here, so that the group exists before any kill(-pid). It fails
     * with EACCES once the child has exec'd, by which time it did it. */
    setpgid(pid, pid);

    /* Blocks only until the child execs or gives up. */
    int e = 0;
    ssize_t n;
    do n = read(rep[0], &e, sizeof e);
    while (n < 0 && errno == EINTR);
    close_fd(&rep[0]);
    if (n == (ssize_t)sizeof e) {
        int status;
        reap(pid, &status);
        snprintf(err, errsize, "cannot run \"%s\": %s", p->name,
                 errstr(e, ebuf, sizeof ebuf));
        goto fail;
    }

    r->pid = pid;
    r->in = in[1];
    r->out = out[0];
    r->err = er[0];
    int fds[3] = {r->in, r->out, r->err};
    for (int k = 0; k < 3; k++)
        fcntl(fds[k], F_SETFL, fcntl(fds[k], F_GETFL) | O_NONBLOCK);
    return 0;

fail:
    close_fd(&in[0]);
    close_fd(&in[1]);
    close_fd(&out[0]);
    close_fd(&out[1]);
    close_fd(&er[0]);
    close_fd(&er[1]);
    close_fd(&rep[0]);
    close_fd(&rep[1]);
    return -1;
}

/* Writes the next piece of input. Returns 0, or -1 on an error (errno). */
static int feed(run_t *r) {
    size_t n = r->len - r->off < CHUNK ? r->len - r->off : CHUNK;
    ssize_t w = write(r->in, r->input + r->off, n);
    if (w < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return 0;
        if (errno != EPIPE) return -1;
        /* The program stopped reading: not an error by itself, its exit
         * status decides. */
        r->epipe = 1;
        close_fd(&r->in);
        return 0;
    }
    r->off += (size_t)w;
    if (r->off == r->len) close_fd(&r->in); /* EOF for the program */
    return 0;
}

enum { READ_OK = 0, READ_ERRNO = -1, READ_NOMEM = -2, READ_TOO_MUCH = -3 };

/* Reads from stdout into the caller's buffer, never more than one byte
 * past the limit, so a flood costs no memory. */
static int drain_out(run_t *r) {
    size_t want = CHUNK, got = r->buf->len - r->base;
    if (r->max && r->max - got < want - 1) want = r->max - got + 1;
    if (mt_buf_reserve(r->buf, want) != 0) return READ_NOMEM;
    ssize_t n = read(r->out, r->buf->data + r->buf->len, want);
    if (n < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR
                   ? READ_OK
                   : READ_ERRNO;
    if (n == 0) {
        close_fd(&r->out);
        return READ_OK;
    }
    r->buf->len += (size_t)n;
    r->buf->data[r->buf->len] = '\0';
    if (r->max && r->buf->len - r->base > r->max) return READ_TOO_MUCH;
    return READ_OK;
}

/* Reads from stderr into tail, first dropping all but its last ERR_KEEP
 * bytes when less than that is free: memory stays fixed, reads stay big. */
static int drain_err(run_t *r) {
    if (sizeof r->tail - r->tail_len < ERR_KEEP) {
        memmove(r->tail, r->tail + r->tail_len - ERR_KEEP, ERR_KEEP);
        r->tail_len = ERR_KEEP;
        r->tail_cut = 1;
    }
    ssize_t n = read(r->err, r->tail + r->tail_len,
                     sizeof r->tail - r->tail_len);
    if (n < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR
                   ? READ_OK
                   : READ_ERRNO;
    if (n == 0) close_fd(&r->err);
    r->tail_len += (size_t)n;
    return READ_OK;
}

/* Returns 1 once the child has exited: then the rest of its group is
 * killed and the child reaped (status set). 0 while it runs; -1 when it
 * cannot be waited for (errno). The exit is seen with WNOWAIT first, so
 * that the zombie still holds the group id while the group is killed. */
static int check_exit(pid_t pid, int *status) {
    siginfo_t si;
    memset(&si, 0, sizeof si);
    if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) != 0)
        return errno == EINTR ? 0 : -1;
    if (si.si_pid != pid) return 0;
    kill(-pid, SIGKILL); /* background processes it left behind */
    return reap(pid, status) == 0 ? 1 : -1;
}

/* The poll loop. Returns 0 once the program exited (status set) and its
 * pipes were read; otherwise -1 with err set and the program killed and
 * reaped. */
static int pump(run_t *r, long long timeout_ms, int *status, char *err,
                size_t errsize) {
    long long now = mt_clock_ms();
    long long deadline =
        timeout_ms > 0 && timeout_ms < LLONG_MAX - now ? now + timeout_ms : 0;
    long long drain_until = 0;
    int exited = 0, tick = 1;
    char ebuf[128];

    if (r->len == 0) close_fd(&r->in);
    for (;;) {
        /* Only waitpid tells that the program exited: a background process
         * may hold its pipes open long after. So look each round; the polls
         * in between are short (tick) while nothing happens. */
        if (!exited) {
            int x = check_exit(r->pid, status);
            if (x < 0) {
                snprintf(err, errsize, "cannot wait for the program: %s",
                         errstr(errno, ebuf, sizeof ebuf));
                return -1;
            }
            if (x > 0) {
                exited = 1;
                close_fd(&r->in);
                now = mt_clock_ms();
                drain_until = now + DRAIN_MS;
                if (deadline && deadline < drain_until)
                    drain_until = deadline > now + DRAIN_MIN_MS
                                      ? deadline
                                      : now + DRAIN_MIN_MS;
            }
        }
        if (exited && r->out < 0 && r->err < 0) return 0;
        now = mt_clock_ms();
        if (!exited && deadline && now >= deadline) {
            kill_and_reap(r->pid);
            snprintf(err, errsize, "program timed out after %lld ms",
                     timeout_ms);
            return -1;
        }
        /* A process that left the group still holds a pipe: what the
         * program itself wrote has all been read by now. */
        if (exited && now >= drain_until) return 0;

        struct pollfd pf[3];
        int n = 0, in_at = -1, out_at = -1, err_at = -1;
        if (r->in >= 0) pf[in_at = n++] = (struct pollfd){r->in, POLLOUT, 0};
        if (r->out >= 0) pf[out_at = n++] = (struct pollfd){r->out, POLLIN, 0};
        if (r->err >= 0) pf[err_at = n++] = (struct pollfd){r->err, POLLIN, 0};
        long long wait = exited ? drain_until - now : tick;
        if (!exited && deadline && deadline - now < wait) wait = deadline - now;
        int rc = poll(n ? pf : NULL, (nfds_t)n, (int)wait);
        if (rc < 0 && errno != EINTR) {
            snprintf(err, errsize, "cannot wait for the program's output: %s",
                     errstr(errno, ebuf, sizeof ebuf));
            goto fail;
        }
        if (rc <= 0) {
            tick = tick * 2 < TICK_MAX_MS ? tick * 2 : TICK_MAX_MS;
            continue;
        }
        int open_before = (r->in >= 0) + (r->out >= 0) + (r->err >= 0);
        /* POLLERR and POLLHUP too: the read or write then says what it is
         * (EOF, EPIPE). */
        if (in_at >= 0 && pf[in_at].revents && feed(r) != 0) {
            snprintf(err, errsize, "cannot write to the program's stdin: %s",
                     errstr(errno, ebuf, sizeof ebuf));
            goto fail;
        }
        int got = READ_OK;
        if (out_at >= 0 && pf[out_at].revents) got = drain_out(r);
        if (got == READ_OK && err_at >= 0 && pf[err_at].revents)
            got = drain_err(r);
        if (got == READ_TOO_MUCH) {
            snprintf(err, errsize,
                     "program wrote more than %zu bytes to stdout", r->max);
            goto fail;
        }
        if (got == READ_NOMEM) {
            snprintf(err, errsize, "out of memory");
            goto fail;
        }
        if (got == READ_ERRNO) {
            snprintf(err, errsize, "cannot read the program's output: %s",
                     errstr(errno, ebuf, sizeof ebuf));
            goto fail;
        }
        /* A pipe closing is the usual sign of an exit: look again soon. */
        if ((r->in >= 0) + (r->out >= 0) + (r->err >= 0) < open_before)
            tick = 1;
    }

fail:
    if (!exited) kill_and_reap(r->pid); /* else the group is dead already */
    return -1;
}

static const struct {
    int sig;
    const char *what;
} signal_names[] = {
    {SIGHUP, "Hangup"},
    {SIGINT, "Interrupt"},
    {SIGQUIT, "Quit"},
    {SIGILL, "Illegal instruction"},
    {SIGTRAP, "Trace/breakpoint trap"},
    {SIGABRT, "Aborted"},
    {SIGBUS, "Bus error"},
    {SIGFPE, "Floating point exception"},
    {SIGKILL, "Killed"},
    {SIGUSR1, "User defined signal 1"},
    {SIGSEGV, "Segmentation fault"},
    {SIGUSR2, "User defined signal 2"},
    {SIGPIPE, "Broken pipe"},
    {SIGALRM, "Alarm clock"},
    {SIGTERM, "Terminated"},
    {SIGXCPU, "CPU time limit exceeded"},
    {SIGXFSZ, "File size limit exceeded"},
    {SIGSYS, "Bad system call"},
};

/* strsignal() is not thread-safe; these are its words for the signals a
 * program dies of. NULL for the others. */
static const char *signal_name(int sig) {
    for (size_t k = 0; k < sizeof signal_names / sizeof signal_names[0]; k++)
        if (signal_names[k].sig == sig) return signal_names[k].what;
    return NULL;
}

static int is_space(unsigned char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
           c == '\f';
}

/* The end of stderr for a message, on one line: its last line(s) within
 * ERR_SHOW bytes, whole lines when one starts there, else "..." and the end
 * of the last line. Control characters, backslashes and invalid UTF-8 are
 * escaped. dst is "" when stderr had nothing to show. */
static void stderr_tail(const run_t *r, char *dst, size_t dstsize) {
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)r->tail;
    size_t end = r->tail_len, o = 0;
    while (end > 0 && is_space(s[end - 1])) end--;
    size_t start = end > ERR_SHOW ? end - ERR_SHOW : 0;
    int cut = start > 0 || r->tail_cut;
    if (cut) {
        const unsigned char *nl = memchr(s + start, '\n', end - start);
        if (nl) {
            start = (size_t)(nl + 1 - s);
            cut = 0;
        } else {
            while (start < end && (s[start] & 0xc0) == 0x80) start++;
        }
    }
    if (dstsize == 0) return;
    dst[0] = '\0';
    if (start == end) return;
    if (cut && dstsize > 3) {
        memcpy(dst, "...", 3);
        o = 3;
    }
    for (size_t k = start; k < end;) {
        char esc[4];
        const char *piece = esc;
        size_t n = mt_utf8_seq_len(s + k, end - k), plen;
        if (n > 1 || (n == 1 && s[k] >= 0x20 && s[k] != 0x7f && s[k] != '\\')) {
            piece = (const char *)s + k;
            plen = n;
        } else {
            unsigned char c = s[k];
            n = 1;
            esc[0] = '\\';
            plen = 2;
            if (c == '\n') esc[1] = 'n';
            else if (c == '\t') esc[1] = 't';
            else if (c == '\r') esc[1] = 'r';
            else if (c == '\\') esc[1] = '\\';
            else {
                esc[1] = 'x';
                esc[2] = hex[c >> 4];
                esc[3] = hex[c & 15];
                plen = 4;
            }
        }
        if (o + plen >= dstsize) break; /* never half an escape */
        memcpy(dst + o, piece, plen);
        o += plen;
        k += n;
    }
    dst[o] = '\0';
}

/* 0 for an exit with status 0; otherwise -1 and why in err. */
static int judge(const run_t *r, int status, char *err, size_t errsize) {
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return 0;
    char tail[ERR_SHOW * 4 + 8];
    stderr_tail(r, tail, sizeof tail);
    const char *sep = tail[0] ? ": " : "";
    if (WIFEXITED(status)) {
        snprintf(err, errsize, "program exited with status %d%s%s",
                 WEXITSTATUS(status), sep, tail);
    } else if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        const char *what = signal_name(sig);
        if (what)
            snprintf(err, errsize, "program killed by signal %d (%s)%s%s", sig,
                     what, sep, tail);
        else
            snprintf(err, errsize, "program killed by signal %d%s%s", sig, sep,
                     tail);
    } else {
        snprintf(err, errsize, "program ended with wait status %#x%s%s",
                 (unsigned)status, sep, tail);
    }
    return -1;
}

int mt_exec_run(const mt_exec_spec_t *spec, const void *input, size_t len,
                mt_buf_t *out, char *err, size_t errsize) {
    plan_t plan;
    if (plan_build(&plan, spec, err, errsize) != 0) return -1;
    /* On the stack (about 12 KiB): nothing to allocate, and a child whose
     * exec fails leaves through _exit with no heap block lost, which
     * valgrind would otherwise report for it. */
    run_t run = {0}, *r = &run;
    r->in = r->out = r->err = -1;
    r->input = input;
    r->len = input ? len : 0;
    r->buf = out;
    r->base = out->len;
    r->max = spec->max_output;

    /* Writing to a program that stopped reading raises SIGPIPE, which
     * would kill the whole process unless it is ignored. Blocked in this
     * thread, it stays pending instead and is taken back below -- unless
     * one was pending already, which is not ours to take. */
    sigset_t pipe_set, old_mask, pending;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    sigemptyset(&pending);
    sigpending(&pending);
    int was_pending = sigismember(&pending, SIGPIPE) == 1;
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old_mask);

    int status = 0, rc = spawn(r, &plan, err, errsize);
    if (rc == 0) live_set(0, r->pid);
    if (rc == 0) rc = pump(r, spec->timeout_ms, &status, err, errsize);
    if (r->pid > 0) live_set(r->pid, 0);
    if (rc == 0) rc = judge(r, status, err, errsize);
    close_fd(&r->in);
    close_fd(&r->out);
    close_fd(&r->err);

    if (r->epipe && !was_pending) {
        const struct timespec zero = {0, 0};
        while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR) {
        }
    }
    pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
    plan_free(&plan);
    return rc;
}

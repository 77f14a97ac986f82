/* test_exec.c - mt_exec: running a program on a task's bytes.
 *
 * Real programs (sh, cat, head, sleep...) are run, as a task would. Every
 * test also checks that nothing is left behind: no child, zombie or not,
 * and no file descriptor. SIGPIPE is left at its default here on purpose:
 * mt_exec_run must not need the caller to ignore it. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mt_buf.h"
#include "mt_clock.h"
#include "mt_exec.h"
#include "suites.h"

static int count_fds(void) {
    int n = 0;
    for (int fd = 0; fd < 1024; fd++) n += fcntl(fd, F_GETFD) != -1;
    return n;
}

/* No child of ours is left, zombie or running, and no descriptor leaked. */
static void check_clean(int fds_before) {
    errno = 0;
    pid_t w = waitpid(-1, NULL, WNOHANG);
    CHECKF(w == -1 && errno == ECHILD, "a child was left behind (waitpid %d)",
           (int)w);
    int fds = count_fds();
    CHECKF(fds == fds_before, "%d descriptors open, %d before", fds,
           fds_before);
}

static int run(const char *const *argv, int shell, long long timeout_ms,
               size_t max_output, const void *input, size_t len,
               mt_buf_t *out, char *err, size_t errsize) {
    mt_exec_spec_t spec = {argv, shell, timeout_ms, max_output};
    err[0] = '\0';
    return mt_exec_run(&spec, input, len, out, err, errsize);
}

static unsigned char *random_bytes(size_t n, unsigned long long seed) {
    unsigned char *p = malloc(n ? n : 1);
    unsigned long long state = seed * 2654435761ULL + 1;
    for (size_t k = 0; p && k < n; k++) p[k] = (unsigned char)unit_rand(&state);
    return p;
}

/* True once pid is gone or a zombie (nobody may reap it in a container),
 * waiting up to a second for the kill to land. */
static int pid_dead(pid_t pid) {
    for (int k = 0; k < 100; k++) {
        if (kill(pid, 0) != 0 && errno == ESRCH) return 1;
        char path[64], state = '?';
        snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
        FILE *f = fopen(path, "r");
        if (f) {
            /* pid (comm) state ...: the state follows the last ')'. */
            char line[512];
            size_t n = fread(line, 1, sizeof line - 1, f);
            fclose(f);
            line[n] = '\0';
            char *paren = strrchr(line, ')');
            if (paren && paren[1] == ' ') state = paren[2];
        }
        if (state == 'Z' || state == 'X') return 1;
        usleep(10000);
    }
    return 0;
}

static void test_cat_5mb(void) {
    int fds = count_fds();
    enum { N = 5 * 1024 * 1024 };
    unsigned char *in = random_bytes(N, 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(in);
    const char *const argv[] = {"cat", NULL};
    mt_buf_t out = MT_BUF_INIT;
    char err[512];
    int rc = run(argv, 0, 20000, 0, in, N, &out, err, sizeof err);
    CHECKF(rc == 0, "cat failed: %s", err);
    CHECKF(out.len == N && memcmp(out.data, in, N) == 0,
           "cat gave back %zu bytes, not the %d given", out.len, N);
    mt_buf_free(&out);
    free(in);
    check_clean(fds);
}

/* 3 MB to stderr, then 3 MB to stdout, before reading 3 MB of input:
 * every pipe fills up, which only a loop serving all three survives. */
static void test_floods_before_reading(void) {
    int fds = count_fds();
    enum { N = 3000000 };
    unsigned char *in = random_bytes(N, 2);
    CU_ASSERT_PTR_NOT_NULL_FATAL(in);
    const char *const argv[] = {
        "sh", "-c",
        "head -c 3000000 /dev/zero | tr '\\0' e >&2;"
        "head -c 3000000 /dev/zero | tr '\\0' o; cat",
        NULL};
    mt_buf_t out = MT_BUF_INIT;
    char err[512];
    int rc = run(argv, 0, 30000, 0, in, N, &out, err, sizeof err);
    CHECKF(rc == 0, "failed: %s", err);
    int exact = out.len == 2 * (size_t)N && memcmp(out.data + N, in, N) == 0;
    for (size_t k = 0; exact && k < N; k++) exact = out.data[k] == 'o';
    CHECKF(exact, "stdout is not 3 MB of 'o' then the input (%zu bytes)",
           out.len);
    mt_buf_free(&out);
    free(in);
    check_clean(fds);
}

static void expect_failure(const char *const *argv, int shell,
                           const char *want) {
    mt_buf_t out = MT_BUF_INIT;
    char err[1024];
    int rc = run(argv, shell, 10000, 0, NULL, 0, &out, err, sizeof err);
    CHECKF(rc == -1 && strcmp(err, want) == 0,
           "%.100s: rc %d, err \"%.200s\", wanted \"%.200s\"", argv[0], rc,
           err, want);
    mt_buf_free(&out);
}

static void test_exit_status(void) {
    int fds = count_fds();
    const char *const status3[] = {
        "sh", "-c",
        "echo 'first line' >&2;"
        "printf 'bad\\tthing\\001 \\\\ happened\\n\\n' >&2; exit 3",
        NULL};
    expect_failure(status3, 0,
                   "program exited with status 3: first line\\nbad\\tthing"
                   "\\x01 \\\\ happened");
    const char *const silent[] = {"sh", "-c", "exit 5", NULL};
    expect_failure(silent, 0, "program exited with status 5");
    /* Valid UTF-8 is kept, an invalid byte escaped. */
    const char *const utf8[] = {
        "sh", "-c", "printf 'caf\\303\\251 \\377\\n' >&2; exit 1", NULL};
    expect_failure(utf8, 0, "program exited with status 1: caf\xc3\xa9 \\xff");
    /* Long stderr: whole last lines within ~200 bytes. */
    const char *const noisy[] = {
        "sh", "-c",
        "i=0; while [ $i -lt 500 ]; do echo \"noise line $i\"; i=$((i+1));"
        "done >&2; exit 1",
        NULL};
    mt_buf_t out = MT_BUF_INIT;
    char err[1024];
    int rc = run(noisy, 0, 10000, 0, NULL, 0, &out, err, sizeof err);
    const char *head = "program exited with status 1: noise line ";
    const char *end = "\\nnoise line 499";
    size_t n = strlen(err);
    CHECKF(rc == -1 && strncmp(err, head, strlen(head)) == 0 &&
               n > strlen(end) && strcmp(err + n - strlen(end), end) == 0 &&
               n < 300,
           "long stderr gave \"%.200s\"", err);
    /* One long line: its end, marked as cut. */
    const char *const wide[] = {
        "sh", "-c", "head -c 100000 /dev/zero | tr '\\0' a >&2; exit 2", NULL};
    rc = run(wide, 0, 10000, 0, NULL, 0, &out, err, sizeof err);
    char want[300] = "program exited with status 2: ...";
    memset(want + strlen(want), 'a', 200);
    CHECKF(rc == -1 && strcmp(err, want) == 0, "long line gave \"%.200s\"",
           err);
    /* A small err buffer is filled, not overrun. */
    char small[16];
    memset(small, 'x', sizeof small);
    rc = run(status3, 0, 10000, 0, NULL, 0, &out, small, 12);
    CHECKF(rc == -1 && strcmp(small, "program exi") == 0 && small[12] == 'x',
           "small buffer got \"%.12s\"", small);
    mt_buf_free(&out);
    check_clean(fds);
}

static void test_killed_by_signal(void) {
    int fds = count_fds();
    const char *const segv[] = {"sh", "-c", "echo dying >&2; kill -SEGV $$",
                                NULL};
    expect_failure(segv, 0,
                   "program killed by signal 11 (Segmentation fault): dying");
    const char *const term[] = {"sh", "-c", "kill -TERM $$", NULL};
    expect_failure(term, 0, "program killed by signal 15 (Terminated)");
    check_clean(fds);
}

static void test_timeout(void) {
    int fds = count_fds();
    const char *const argv[] = {"sleep", "5", NULL};
    mt_buf_t out = MT_BUF_INIT;
    char err[512];
    long long t0 = mt_clock_ms();
    int rc = run(argv, 0, 200, 0, NULL, 0, &out, err, sizeof err);
    long long took = mt_clock_ms() - t0;
    CHECKF(rc == -1 && strcmp(err, "program timed out after 200 ms") == 0,
           "rc %d, err \"%.200s\"", rc, err);
    CHECKF(took >= 200 && took < 4000, "took %lld ms", took); /* not sleep's 5 s */

    /* The whole group dies, a background process of the shell included. */
    const char *const group[] = {"sleep 30 & echo $!; wait", NULL};
    t0 = mt_clock_ms();
    rc = run(group, 1, 300, 0, NULL, 0, &out, err, sizeof err);
    took = mt_clock_ms() - t0;
    CHECKF(rc == -1 && strcmp(err, "program timed out after 300 ms") == 0,
           "rc %d, err \"%.200s\"", rc, err);
    CHECKF(took < 5000, "took %lld ms", took); /* not the background's 30 s */
    int pid = out.len ? atoi(out.data) : 0;
    CHECKF(pid > 0 && pid_dead(pid), "background sleep \"%.200s\" still alive",
           out.data ? out.data : "");
    mt_buf_free(&out);
    check_clean(fds);
}

static void test_shell_pipeline(void) {
    int fds = count_fds();
    const char *const argv[] = {"printf 'b\\na\\nc\\n' | sort | tr a-z A-Z",
                                "ignored", NULL};
    mt_buf_t out = MT_BUF_INIT;
    char err[512];
    int rc = run(argv, 1, 10000, 0, NULL, 0, &out, err, sizeof err);
    CHECKF(rc == 0 && out.len == 6 && strcmp(out.data, "A\nB\nC\n") == 0,
           "rc %d, out \"%.200s\", err \"%.200s\"", rc,
           out.data ? out.data : "", err);
    mt_buf_reset(&out);
    const char *const filter[] = {"tr a-z A-Z | sort -r", NULL};
    rc = run(filter, 1, 10000, 0, "x\ny\nz\n", 6, &out, err, sizeof err);
    CHECKF(rc == 0 && strcmp(out.data ? out.data : "", "Z\nY\nX\n") == 0,
           "rc %d, out \"%.200s\", err \"%.200s\"", rc,
           out.data ? out.data : "", err);
    const char *const status[] = {"echo oops >&2; exit 7", NULL};
    expect_failure(status, 1, "program exited with status 7: oops");
    const char *const missing[] = {"mt-exec-no-such-command", NULL};
    rc = run(missing, 1, 10000, 0, NULL, 0, &out, err, sizeof err);
    CHECKF(rc == -1 && strncmp(err, "program exited with status 127: ",
                               32) == 0,
           "a command sh cannot find gave \"%.200s\"", err);
    mt_buf_free(&out);
    check_clean(fds);
}

static void test_output_limit(void) {
    int fds = count_fds();
    const char *const big[] = {"head", "-c", "2000000", "/dev/zero", NULL};
    mt_buf_t out = MT_BUF_INIT;
    char err[512];
    int rc = run(big, 0, 10000, 1048576, NULL, 0, &out, err, sizeof err);
    CHECKF(rc == -1 &&
               strcmp(err, "program wrote more than 1048576 bytes to stdout") ==
                   0,
           "rc %d, err \"%.200s\"", rc, err);
    CHECKF(out.len <= 1048577, "kept %zu bytes", out.len);

    /* Endless output ends at the limit, not at the timeout. */
    const char *const endless[] = {"yes", NULL};
    mt_buf_reset(&out);
    long long t0 = mt_clock_ms();
    rc = run(endless, 0, 20000, 100000, NULL, 0, &out, err, sizeof err);
    long long took = mt_clock_ms() - t0;
    CHECKF(rc == -1 &&
               strcmp(err, "program wrote more than 100000 bytes to stdout") ==
                   0 &&
               took < 5000,
           "rc %d, err \"%.200s\", %lld ms", rc, err, took);

    /* Exactly the limit is fine; bytes already in out do not count. */
    mt_buf_reset(&out);
    CU_ASSERT_EQUAL_FATAL(mt_buf_append(&out, "prefix:", 7), 0);
    const char *const exact[] = {"head", "-c", "1000", "/dev/zero", NULL};
    rc = run(exact, 0, 10000, 1000, NULL, 0, &out, err, sizeof err);
    CHECKF(rc == 0 && out.len == 1007 && memcmp(out.data, "prefix:", 7) == 0,
           "rc %d, len %zu, err \"%.200s\"", rc, out.len, err);
    mt_buf_free(&out);
    check_clean(fds);
}

static void test_cannot_run(void) {
    int fds = count_fds();
    const char *const nosuch[] = {"mt-exec-no-such-program", NULL};
    expect_failure(nosuch, 0,
                   "cannot run \"mt-exec-no-such-program\": No such file or "
                   "directory");
    const char *const nodir[] = {"/nonexistent/dir/prog", "x", NULL};
    expect_failure(nodir, 0,
                   "cannot run \"/nonexistent/dir/prog\": No such file or "
                   "directory");
    const char *const notexec[] = {"/etc/passwd", NULL};
    expect_failure(notexec, 0, "cannot run \"/etc/passwd\": Permission denied");
    const char *const dir[] = {"/tmp", NULL};
    expect_failure(dir, 0, "cannot run \"/tmp\": Permission denied");

    const char *const empty[] = {"", NULL};
    expect_failure(empty, 0, "no program to run");
    const char *const none[] = {NULL};
    mt_buf_t out = MT_BUF_INIT;
    char err[256];
    CHECKF(run(none, 0, 0, 0, NULL, 0, &out, err, sizeof err) == -1 &&
               strcmp(err, "no program to run") == 0,
           "empty argv gave \"%.200s\"", err);
    mt_exec_spec_t spec = {NULL, 0, 0, 0};
    CHECKF(mt_exec_run(&spec, NULL, 0, &out, err, sizeof err) == -1 &&
               strcmp(err, "no program to run") == 0,
           "NULL argv gave \"%.200s\"", err);

    /* A script without #! runs under /bin/sh, as with execvp. */
    char path[] = "/tmp/mt_exec_test_XXXXXX";
    int fd = mkstemp(path);
    CU_ASSERT_FATAL(fd >= 0);
    const char script[] = "echo \"fallback $1\"\n";
    CU_ASSERT_EQUAL(write(fd, script, sizeof script - 1),
                    (ssize_t)(sizeof script - 1));
    CU_ASSERT_EQUAL(fchmod(fd, 0755), 0);
    close(fd);
    const char *const noshebang[] = {path, "arg", NULL};
    int rc = run(noshebang, 0, 10000, 0, NULL, 0, &out, err, sizeof err);
    CHECKF(rc == 0 && strcmp(out.data ? out.data : "", "fallback arg\n") == 0,
           "script without #!: rc %d, err \"%.200s\"", rc, err);
    unlink(path);
    mt_buf_free(&out);
    check_clean(fds);
}

/* Programs that leave their input unread must not kill us with SIGPIPE. */
static void test_input_ignored(void) {
    int fds = count_fds();
    enum { N = 10 * 1024 * 1024 };
    unsigned char *in = random_bytes(N, 3);
    CU_ASSERT_PTR_NOT_NULL_FATAL(in);
    mt_buf_t out = MT_BUF_INIT;
    char err[512];
    const char *const t[] = {"true", NULL};
    int rc = run(t, 0, 20000, 0, in, N, &out, err, sizeof err);
    CHECKF(rc == 0 && out.len == 0, "true: rc %d, err \"%.200s\"", rc, err);
    const char *const head[] = {"head", "-c", "10", NULL};
    rc = run(head, 0, 20000, 0, in, N, &out, err, sizeof err);
    CHECKF(rc == 0 && out.len == 10 && memcmp(out.data, in, 10) == 0,
           "head -c 10: rc %d, len %zu, err \"%.200s\"", rc, out.len, err);
    const char *const closes[] = {"sh", "-c", "exec 0<&-; echo closed", NULL};
    mt_buf_reset(&out);
    rc = run(closes, 0, 20000, 0, in, N, &out, err, sizeof err);
    CHECKF(rc == 0 && strcmp(out.data ? out.data : "", "closed\n") == 0,
           "closing stdin: rc %d, err \"%.200s\"", rc, err);
    /* The SIGPIPEs raised were taken back, and the mask restored. */
    sigset_t pending, mask;
    sigpending(&pending);
    pthread_sigmask(SIG_BLOCK, NULL, &mask);
    CU_ASSERT_FALSE(sigismember(&pending, SIGPIPE));
    CU_ASSERT_FALSE(sigismember(&mask, SIGPIPE));
    mt_buf_free(&out);
    free(in);
    check_clean(fds);
}

/* Decision under test: when the program exits, what is left of its group
 * is killed and the run succeeds at once with what the program wrote. */
static void test_background_process(void) {
    int fds = count_fds();
    const char *const argv[] = {"sh", "-c", "sleep 10 & echo hi", NULL};
    mt_buf_t out = MT_BUF_INIT;
    char err[512];
    long long timeouts[] = {500, 0};
    for (int k = 0; k < 2; k++) {
        mt_buf_reset(&out);
        long long t0 = mt_clock_ms();
        int rc = run(argv, 0, timeouts[k], 0, NULL, 0, &out, err, sizeof err);
        long long took = mt_clock_ms() - t0;
        CHECKF(rc == 0 && strcmp(out.data ? out.data : "", "hi\n") == 0,
               "timeout %lld: rc %d, err \"%.200s\"", timeouts[k], rc, err);
        CHECKF(took < 5000, "timeout %lld: took %lld ms", timeouts[k], took); /* not 10 s */
    }
    const char *const pid[] = {"sh", "-c", "sleep 30 & echo $!", NULL};
    mt_buf_reset(&out);
    int rc = run(pid, 0, 5000, 0, NULL, 0, &out, err, sizeof err);
    int bg = rc == 0 && out.len ? atoi(out.data) : 0;
    CHECKF(bg > 0 && pid_dead(bg), "background sleep \"%.200s\" still alive",
           out.data ? out.data : "");
    mt_buf_free(&out);
    check_clean(fds);
}

/* A program that closes all its pipes is still waited for, within the
 * timeout. */
static void test_closes_pipes_then_runs(void) {
    int fds = count_fds();
    const char *const argv[] = {"sh", "-c",
                                "exec 0<&- 1>&- 2>&-; sleep 0.3; exit 4", NULL};
    mt_buf_t out = MT_BUF_INIT;
    char err[512];
    long long t0 = mt_clock_ms();
    int rc = run(argv, 0, 5000, 0, "x", 1, &out, err, sizeof err);
    long long took = mt_clock_ms() - t0;
    CHECKF(rc == -1 && strcmp(err, "program exited with status 4") == 0,
           "rc %d, err \"%.200s\"", rc, err);
    /* waited for its exit, not its pipes' closing; the status proves it
     * was not the 5 s timeout that ended it, whatever the machine's load */
    CHECKF(took >= 300, "took %lld ms", took);
    rc = run(argv, 0, 100, 0, NULL, 0, &out, err, sizeof err);
    CHECKF(rc == -1 && strcmp(err, "program timed out after 100 ms") == 0,
           "rc %d, err \"%.200s\"", rc, err);
    mt_buf_free(&out);
    check_clean(fds);
}

static void test_empty_and_append(void) {
    int fds = count_fds();
    mt_buf_t out = MT_BUF_INIT;
    char err[512];
    const char *const cat[] = {"cat", NULL};
    int rc = run(cat, 0, 5000, 0, NULL, 0, &out, err, sizeof err);
    CHECKF(rc == 0 && out.len == 0, "cat of nothing: rc %d, err \"%.200s\"", rc,
           err);
    CU_ASSERT_EQUAL_FATAL(mt_buf_append(&out, "keep:", 5), 0);
    rc = run(cat, 0, 5000, 0, "a\0b", 3, &out, err, sizeof err);
    CHECKF(rc == 0 && out.len == 8 && memcmp(out.data, "keep:a\0b", 9) == 0,
           "append: rc %d, len %zu, err \"%.200s\"", rc, out.len, err);
    mt_buf_free(&out);
    check_clean(fds);
}

enum { THREADS = 8, RUNS = 4 };

typedef struct job {
    int index;
    int failures;
    char err[256];
} job_t;

static void *cat_thread(void *arg) {
    job_t *j = arg;
    const char *const argv[] = {"cat", NULL};
    for (int k = 0; k < RUNS; k++) {
        size_t n = 100000 + 7919 * (size_t)j->index + 131 * (size_t)k;
        unsigned char *in = random_bytes(n, 100 + 10 * j->index + k);
        mt_buf_t out = MT_BUF_INIT;
        char err[256];
        int rc = in ? run(argv, 0, 30000, 0, in, n, &out, err, sizeof err) : -1;
        if (rc != 0 || out.len != n || memcmp(out.data, in, n) != 0) {
            j->failures++;
            snprintf(j->err, sizeof j->err,
                     "run %d: rc %d, %zu of %zu bytes, %.150s", k, rc, out.len,
                     n, rc ? err : "output differs");
        }
        mt_buf_free(&out);
        free(in);
    }
    return NULL;
}

/* Runs at once from several threads: a pipe end leaking into another
 * thread's child would hold an EOF back and hang or mix outputs. */
static void test_threads(void) {
    int fds = count_fds();
    pthread_t tid[THREADS];
    job_t jobs[THREADS];
    int started = 0;
    for (int k = 0; k < THREADS; k++) {
        jobs[k] = (job_t){k, 0, ""};
        if (pthread_create(&tid[k], NULL, cat_thread, &jobs[k]) != 0) break;
        started++;
    }
    CU_ASSERT_EQUAL(started, THREADS);
    for (int k = 0; k < started; k++) {
        pthread_join(tid[k], NULL);
        CHECKF(jobs[k].failures == 0, "thread %d: %.250s", k, jobs[k].err);
    }
    check_clean(fds);
}

int register_exec_suite(void) {
    static const unit_test_t tests[] = {
        {"cat gives back 5 MB exactly", test_cat_5mb},
        {"floods of stdout and stderr before reading stdin",
         test_floods_before_reading},
        {"exit status with the end of stderr", test_exit_status},
        {"killed by a signal", test_killed_by_signal},
        {"timeout kills the whole group", test_timeout},
        {"shell mode and pipelines", test_shell_pipeline},
        {"output limit", test_output_limit},
        {"programs that cannot run", test_cannot_run},
        {"input left unread", test_input_ignored},
        {"background process holding stdout", test_background_process},
        {"program that closes its pipes", test_closes_pipes_then_runs},
        {"empty input, output appended", test_empty_and_append},
        {"8 threads at once", test_threads},
        {NULL, NULL},
    };
    return unit_add_suite("exec", tests);
}

/* test_source.c - mt_source: a followed file (growing, rotated, truncated,
 * created late), whole lines only with long ones cut, and a TCP listener
 * keeping each client's lines whole. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mt_source.h"
#include "suites.h"

static char dir[64];

static void path_of(char *out, size_t size, const char *name) {
    snprintf(out, size, "%s/%s", dir, name);
}

static void append(const char *name, const char *text) {
    char p[128];
    path_of(p, sizeof p, name);
    FILE *f = fopen(p, "ab");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs(text, f);
    fclose(f);
}

/* Reads until want bytes came or 2 s passed; returns what came. */
static void read_until(mt_source_t *s, mt_buf_t *out, size_t want) {
    char err[256];
    for (int k = 0; k < 40 && out->len < want; k++) {
        int ended;
        CHECKF(mt_source_read(s, out, 50, &ended, err, sizeof err) >= 0, "read: %s", err);
    }
}

static int setup(void) {
    snprintf(dir, sizeof dir, "/tmp/mt_source_test_XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_followed_file(void) {
    char err[256], p[128], p1[128];
    path_of(p, sizeof p, "f.log");
    path_of(p1, sizeof p1, "f.log.1");
    mt_source_t *s = mt_source_file(p, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    mt_buf_t got = MT_BUF_INIT;
    read_until(s, &got, 1); /* not there yet: nothing, no error */
    CU_ASSERT_EQUAL(got.len, 0);
    append("f.log", "one\ntw");
    read_until(s, &got, 4);
    CU_ASSERT(got.len == 4 && memcmp(got.data, "one\n", 4) == 0); /* "tw" waits */
    append("f.log", "o\n");
    read_until(s, &got, 8);
    CU_ASSERT(got.len == 8 && memcmp(got.data + 4, "two\n", 4) == 0);
    /* rotated: the old file's last words end their line */
    CU_ASSERT_EQUAL(rename(p, p1), 0);
    append("f.log.1", "late\nhalf");
    append("f.log", "new\n");
    read_until(s, &got, 22);
    CU_ASSERT(got.len == 22 && memcmp(got.data + 8, "late\nhalf\nnew\n", 14) == 0);
    /* truncated in place: read again from the start */
    int fd = open(p, O_WRONLY | O_TRUNC);
    close(fd);
    mt_buf_t none = MT_BUF_INIT;
    read_until(s, &none, 1);
    append("f.log", "x\n");
    read_until(s, &none, 2);
    CU_ASSERT(none.len == 2 && memcmp(none.data, "x\n", 2) == 0);
    mt_buf_free(&none);
    mt_buf_free(&got);
    mt_source_destroy(s);
}

static void test_long_lines_cut(void) {
    char err[256], p[128];
    path_of(p, sizeof p, "long.log");
    size_t n = MT_SOURCE_MAX_LINE * 2 + 10;
    char *big = malloc(n + 2);
    memset(big, 'a', n);
    big[n] = '\n';
    big[n + 1] = '\0';
    append("long.log", big);
    mt_source_t *s = mt_source_file(p, err, sizeof err);
    mt_buf_t got = MT_BUF_INIT;
    read_until(s, &got, n + 3); /* two cut pieces get a newline each */
    CU_ASSERT_EQUAL(got.len, n + 3);
    size_t lines = 0;
    for (size_t k = 0; k < got.len; k++) lines += got.data[k] == '\n';
    CU_ASSERT_EQUAL(lines, 3);
    free(big);
    mt_buf_free(&got);
    mt_source_destroy(s);
}

static void test_listener(void) {
    char err[256];
    mt_source_t *s = mt_source_listen("127.0.0.1:0", err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    int port = mt_source_port(s);
    CU_ASSERT(port > 0);
    int c[2];
    for (int k = 0; k < 2; k++) {
        struct sockaddr_in a = {0};
        a.sin_family = AF_INET;
        a.sin_port = htons((uint16_t)port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        c[k] = socket(AF_INET, SOCK_STREAM, 0);
        CU_ASSERT_EQUAL(connect(c[k], (struct sockaddr *)&a, sizeof a), 0);
    }
    mt_buf_t got = MT_BUF_INIT;
    read_until(s, &got, 1); /* accept both */
    CU_ASSERT(write(c[0], "first ha", 8) == 8);
    CU_ASSERT(write(c[1], "second\n", 7) == 7);
    read_until(s, &got, 7);
    CU_ASSERT(got.len == 7 && memcmp(got.data, "second\n", 7) == 0);
    CU_ASSERT(write(c[0], "lf\nno newline", 13) == 13);
    close(c[0]); /* its last line ends with the connection */
    read_until(s, &got, 7 + 22);
    CU_ASSERT(got.len == 29 && memcmp(got.data + 7, "first half\nno newline\n", 22) == 0);
    close(c[1]);
    CU_ASSERT_PTR_NULL(mt_source_listen("no-port-here", err, sizeof err));
    mt_buf_free(&got);
    mt_source_destroy(s);
}

int register_source_suite(void) {
    static const unit_test_t tests[] = {
        {"a followed file: late, growing, rotated, truncated", test_followed_file},
        {"lines longer than the limit are cut", test_long_lines_cut},
        {"a listener keeps each client's lines whole", test_listener},
        {NULL, NULL},
    };
    CU_pSuite suite = CU_add_suite("source", setup, teardown);
    if (!suite) return -1;
    for (const unit_test_t *t = tests; t->name; t++)
        if (!CU_add_test(suite, t->name, t->fn)) return -1;
    return 0;
}

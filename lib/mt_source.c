/* mt_source.c - unbounded line input (see mt_source.h). */
#define _GNU_SOURCE
#include "mt_source.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mt_clock.h"

/* Clients served at once; more wait in the listen backlog (not refused,
 * so nothing they send is lost) until one of these leaves. */
#define MAX_CLIENTS 1024
#define READ_CHUNK 65536
#define FILE_POLL_MS 50 /* how often an idle followed file is looked at */

typedef enum { SRC_STDIN, SRC_FILE, SRC_LISTEN } kind_t;

/* One input stream and its partial last line. */
typedef struct feed {
    int fd;
    mt_buf_t partial;
} feed_t;

struct mt_source {
    kind_t kind;
    feed_t main;          /* stdin, or the followed file */
    char *path;           /* SRC_FILE */
    dev_t dev;            /* ... the file open now */
    ino_t ino;
    off_t off;
    int listen_fd;        /* SRC_LISTEN */
    int port;
    feed_t clients[MAX_CLIENTS];
    int nclients;
    int out_of_fds;       /* accept failed for want of descriptors: wait for
                           * a client to leave before accepting again */
};

static mt_source_t *alloc(kind_t kind) {
    mt_source_t *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->kind = kind;
    s->main.fd = -1;
    s->listen_fd = -1;
    return s;
}

/* Moves the whole lines of f's partial buffer to out (and, at_end, what is
 * left as one more line). Returns the number of lines moved, -1 when out of
 * memory. */
static int take_lines(feed_t *f, mt_buf_t *out, int at_end) {
    int n = 0;
    size_t start = 0;
    for (;;) {
        char *p = f->partial.data, *nl;
        size_t left = f->partial.len - start;
        if (!left) break;
        nl = memchr(p + start, '\n', left);
        size_t len;
        if (nl) len = (size_t)(nl - (p + start)) + 1;
        else if (left >= MT_SOURCE_MAX_LINE) len = MT_SOURCE_MAX_LINE;
        else if (at_end) len = left;
        else break;
        if (mt_buf_append(out, p + start, len) != 0) return -1;
        if (!nl && out->data[out->len - 1] != '\n' && mt_buf_append(out, "\n", 1) != 0)
            return -1;
        start += len;
        n++;
    }
    mt_buf_consume(&f->partial, start);
    return n;
}

/* Reads what fd has now into f. Returns bytes read, 0 at end of file, -1
 * with errno (EAGAIN: nothing now). */
static ssize_t fill(feed_t *f) {
    if (mt_buf_reserve(&f->partial, READ_CHUNK) != 0) {
        errno = ENOMEM;
        return -1;
    }
    ssize_t n;
    do n = read(f->fd, f->partial.data + f->partial.len, READ_CHUNK);
    while (n < 0 && errno == EINTR);
    if (n > 0) {
        f->partial.len += (size_t)n;
        f->partial.data[f->partial.len] = '\0';
    }
    return n;
}

mt_source_t *mt_source_stdin(char *err, size_t errsize) {
    mt_source_t *s = alloc(SRC_STDIN);
    if (!s) {
        snprintf(err, errsize, "out of memory");
        return NULL;
    }
    s->main.fd = STDIN_FILENO;
    return s;
}

mt_source_t *mt_source_file(const char *path, char *err, size_t errsize) {
    mt_source_t *s = alloc(SRC_FILE);
    if (!s || !(s->path = strdup(path))) {
        free(s);
        snprintf(err, errsize, "out of memory");
        return NULL;
    }
    return s;
}

/* Opens the followed path when it names a file we do not have open. */
static void reopen_if_new(mt_source_t *s) {
    struct stat st;
    if (stat(s->path, &st) != 0) return; /* not there (yet): keep what we have */
    if (s->main.fd >= 0 && st.st_dev == s->dev && st.st_ino == s->ino) {
        if (st.st_size < s->off) { /* truncated in place: start again */
            lseek(s->main.fd, 0, SEEK_SET);
            s->off = 0;
        }
        return;
    }
    int fd = open(s->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return;
    if (s->main.fd >= 0) close(s->main.fd); /* read to its end already */
    s->main.fd = fd;
    s->dev = st.st_dev;
    s->ino = st.st_ino;
    s->off = 0;
}

mt_source_t *mt_source_listen(const char *hostport, char *err, size_t errsize) {
    const char *colon = strrchr(hostport, ':');
    if (!colon) {
        snprintf(err, errsize, "--listen wants HOST:PORT, got \"%s\"", hostport);
        return NULL;
    }
    char host[256];
    snprintf(host, sizeof host, "%.*s", (int)(colon - hostport), hostport);
    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    int rc = getaddrinfo(host[0] ? host : NULL, colon + 1, &hints, &ai);
    if (rc != 0) {
        snprintf(err, errsize, "--listen %s: %s", hostport, gai_strerror(rc));
        return NULL;
    }
    /* Room for MAX_CLIENTS sockets: the soft limit (often 1024) up to the
     * hard one, as servers do. Short of it, clients wait (out_of_fds). */
    struct rlimit fds;
    if (getrlimit(RLIMIT_NOFILE, &fds) == 0 && fds.rlim_cur < MAX_CLIENTS + 256) {
        fds.rlim_cur = fds.rlim_max < MAX_CLIENTS + 256 ? fds.rlim_max : MAX_CLIENTS + 256;
        setrlimit(RLIMIT_NOFILE, &fds);
    }
    mt_source_t *s = alloc(SRC_LISTEN);
    int fd = -1;
    for (struct addrinfo *a = ai; a && s; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) continue;
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, a->ai_addr, a->ai_addrlen) == 0 && listen(fd, SOMAXCONN) == 0) break;
        close(fd);
        fd = -1;
    }
    if (!s || fd < 0) {
        snprintf(err, errsize, "--listen %s: %s", hostport, s ? strerror(errno) : "out of memory");
        freeaddrinfo(ai);
        free(s);
        return NULL;
    }
    freeaddrinfo(ai);
    struct sockaddr_storage addr;
    socklen_t len = sizeof addr;
    if (getsockname(fd, (struct sockaddr *)&addr, &len) == 0)
        s->port = ntohs(addr.ss_family == AF_INET6
                            ? ((struct sockaddr_in6 *)&addr)->sin6_port
                            : ((struct sockaddr_in *)&addr)->sin_port);
    s->listen_fd = fd;
    return s;
}

int mt_source_port(const mt_source_t *s) { return s->port; }

static void drop_client(mt_source_t *s, int k, mt_buf_t *out, int *lines) {
    int n = take_lines(&s->clients[k], out, 1); /* its last line, newline or not */
    if (n > 0) *lines += n;
    close(s->clients[k].fd);
    mt_buf_free(&s->clients[k].partial);
    s->clients[k] = s->clients[--s->nclients];
    s->out_of_fds = 0;
    memset(&s->clients[s->nclients], 0, sizeof s->clients[0]);
}

static int read_listen(mt_source_t *s, mt_buf_t *out, int timeout_ms, char *err,
                       size_t errsize) {
    struct pollfd pfd[MAX_CLIENTS + 1];
    pfd[0].fd = s->listen_fd;
    /* full: leave the rest queued in the backlog, to be served later */
    pfd[0].events = s->nclients < MAX_CLIENTS && !s->out_of_fds ? POLLIN : 0;
    for (int k = 0; k < s->nclients; k++) {
        pfd[k + 1].fd = s->clients[k].fd;
        pfd[k + 1].events = POLLIN;
    }
    int n = poll(pfd, (nfds_t)s->nclients + 1, timeout_ms);
    if (n < 0) return errno == EINTR ? 0 : (snprintf(err, errsize, "poll: %s", strerror(errno)), -1);
    int lines = 0, had = s->nclients;
    /* clients first, from the last, so that dropping one moves only ones
     * already served */
    for (int k = had - 1; k >= 0; k--) {
        if (!(pfd[k + 1].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        ssize_t r = fill(&s->clients[k]);
        if (r == 0 || (r < 0 && errno != EAGAIN)) {
            drop_client(s, k, out, &lines);
            continue;
        }
        int t = take_lines(&s->clients[k], out, 0);
        if (t < 0) {
            snprintf(err, errsize, "out of memory");
            return -1;
        }
        lines += t;
    }
    if (pfd[0].revents & POLLIN) {
        int c;
        while (s->nclients < MAX_CLIENTS &&
               (c = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK)) >= 0) {
            s->clients[s->nclients].fd = c;
            s->nclients++;
        }
        if (s->nclients < MAX_CLIENTS && (errno == EMFILE || errno == ENFILE))
            s->out_of_fds = 1;
    }
    return lines;
}

int mt_source_read(mt_source_t *s, mt_buf_t *out, int timeout_ms, int *ended,
                   char *err, size_t errsize) {
    *ended = 0;
    if (s->kind == SRC_LISTEN) return read_listen(s, out, timeout_ms, err, errsize);
    long long give_up = mt_clock_ms() + timeout_ms;
    for (;;) {
        if (s->kind == SRC_FILE && s->main.fd < 0) reopen_if_new(s);
        ssize_t r = 0;
        if (s->main.fd >= 0) {
            if (s->kind == SRC_STDIN) {
                struct pollfd p = {s->main.fd, POLLIN, 0};
                long long wait = give_up - mt_clock_ms();
                if (poll(&p, 1, wait > 0 ? (int)wait : 0) <= 0) return 0;
            }
            r = fill(&s->main);
            if (r < 0 && errno != EAGAIN) {
                snprintf(err, errsize, "%s: %s", s->path ? s->path : "stdin", strerror(errno));
                return -1;
            }
            if (r > 0) s->off += r;
        }
        if (r == 0 && s->kind == SRC_STDIN) { /* closed: the end */
            *ended = 1;
            int n = take_lines(&s->main, out, 1);
            return n < 0 ? (snprintf(err, errsize, "out of memory"), -1) : n;
        }
        int n = take_lines(&s->main, out, 0);
        if (n < 0) {
            snprintf(err, errsize, "out of memory");
            return -1;
        }
        if (n > 0) return n;
        if (r <= 0 && s->kind == SRC_FILE) {
            /* at the end of the file open now: a new file, or a shorter one? */
            dev_t dev = s->dev;
            ino_t ino = s->ino;
            reopen_if_new(s);
            if (s->dev != dev || s->ino != ino) {
                /* rotated: the old file's last line ended with it */
                n = take_lines(&s->main, out, 1);
                if (n != 0) return n;
                continue;
            }
            long long wait = give_up - mt_clock_ms();
            if (wait <= 0) return 0;
            struct timespec ts = {0, (wait < FILE_POLL_MS ? wait : FILE_POLL_MS) * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
}

int mt_source_position(const mt_source_t *s, unsigned long long *dev,
                       unsigned long long *ino, long long *off) {
    if (s->kind != SRC_FILE || s->main.fd < 0) return -1;
    *dev = (unsigned long long)s->dev;
    *ino = (unsigned long long)s->ino;
    *off = (long long)s->off - (long long)s->main.partial.len;
    return 0;
}

int mt_source_resume(mt_source_t *s, unsigned long long dev, unsigned long long ino,
                     long long off) {
    if (s->kind != SRC_FILE) return 0;
    reopen_if_new(s);
    struct stat st;
    if (s->main.fd < 0 || (unsigned long long)s->dev != dev ||
        (unsigned long long)s->ino != ino || fstat(s->main.fd, &st) != 0 || st.st_size < off ||
        lseek(s->main.fd, off, SEEK_SET) != off)
        return 0;
    s->off = off;
    return 1;
}

void mt_source_destroy(mt_source_t *s) {
    if (!s) return;
    if (s->kind == SRC_FILE && s->main.fd >= 0) close(s->main.fd);
    if (s->listen_fd >= 0) close(s->listen_fd);
    for (int k = 0; k < s->nclients; k++) {
        close(s->clients[k].fd);
        mt_buf_free(&s->clients[k].partial);
    }
    mt_buf_free(&s->main.partial);
    free(s->path);
    free(s);
}

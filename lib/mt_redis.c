/* mt_redis.c - resilient hiredis connection and script runner (mt_redis.h). */
#define _POSIX_C_SOURCE 200809L
#include "mt_redis.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mt_config.h"

#define MAX_SCRIPTS 8

struct mt_redis {
    char host[256];
    int port;
    int db;
    char user[128];     /* a Redis 6 ACL user, or empty: the default user */
    char password[256];
    char shown[512];    /* host, port, db and user: room for all of them */
    int timeout_ms;
    redisContext *c;
    struct {
        const char *script; /* identity: scripts are static strings */
        char sha[41];
    } scripts[MAX_SCRIPTS];
    int nscripts;
};

static int parse_addr(mt_redis_t *r, const char *addr, char *err,
                      size_t errsize) {
    const char *p = addr;
    long v;
    r->port = 6379;
    if (strncmp(p, "redis://", 8) == 0) {
        p += 8;
        const char *at = strrchr(p, '@');
        if (at) {
            const char *colon = memchr(p, ':', (size_t)(at - p));
            const char *pw = colon ? colon + 1 : p; /* redis://PASSWORD@ too */
            if (colon) {
                size_t u = (size_t)(colon - p);
                if (u >= sizeof r->user) goto bad;
                memcpy(r->user, p, u);
                r->user[u] = '\0';
            }
            size_t n = (size_t)(at - pw);
            if (n >= sizeof r->password) goto bad;
            memcpy(r->password, pw, n);
            r->password[n] = '\0';
            p = at + 1;
        }
    }
    const char *end = p + strcspn(p, "/");
    const char *colon = NULL;
    if (*p == '[') { /* [v6]:port */
        const char *rb = memchr(p, ']', (size_t)(end - p));
        if (!rb) goto bad;
        if ((size_t)(rb - p - 1) >= sizeof r->host) goto bad;
        memcpy(r->host, p + 1, (size_t)(rb - p - 1));
        r->host[rb - p - 1] = '\0';
        if (rb + 1 < end) {
            if (rb[1] != ':') goto bad;
            colon = rb + 1;
        }
    } else {
        colon = memchr(p, ':', (size_t)(end - p));
        const char *hend = colon ? colon : end;
        if (hend == p || (size_t)(hend - p) >= sizeof r->host) goto bad;
        memcpy(r->host, p, (size_t)(hend - p));
        r->host[hend - p] = '\0';
    }
    if (colon) {
        char port[8];
        size_t n = (size_t)(end - colon - 1);
        if (n == 0 || n >= sizeof port) goto bad;
        memcpy(port, colon + 1, n);
        port[n] = '\0';
        if (mt_parse_long(port, 1, 65535, &v) != 0) goto bad;
        r->port = (int)v;
    }
    if (*end == '/') {
        if (end[1] && mt_parse_long(end + 1, 0, 100000, &v) != 0) goto bad;
        r->db = end[1] ? (int)v : 0;
    }
    int v6 = strchr(r->host, ':') != NULL;
    char who[sizeof r->user + 32] = "";
    if (r->user[0]) snprintf(who, sizeof who, " (user %s, with password)", r->user);
    else if (r->password[0]) snprintf(who, sizeof who, " (with password)");
    snprintf(r->shown, sizeof r->shown, "%s%s%s:%d/%d%s", v6 ? "[" : "", r->host,
             v6 ? "]" : "", r->port, r->db, who);
    return 0;
bad:
    snprintf(err, errsize,
             "bad Redis address \"%s\": want host:port[/db] or "
             "redis://[[user]:password@]host[:port][/db]",
             addr);
    return -1;
}

mt_redis_t *mt_redis_new(const char *addr, int timeout_ms, char *err,
                         size_t errsize) {
    mt_redis_t *r = calloc(1, sizeof *r);
    if (!r) {
        snprintf(err, errsize, "out of memory");
        return NULL;
    }
    r->timeout_ms = timeout_ms > 0 ? timeout_ms : 5000;
    if (parse_addr(r, addr, err, errsize) != 0) {
        free(r);
        return NULL;
    }
    return r;
}

static void drop(mt_redis_t *r) {
    if (r->c) redisFree(r->c);
    r->c = NULL;
}

void mt_redis_destroy(mt_redis_t *r) {
    if (!r) return;
    drop(r);
    free(r);
}

const char *mt_redis_describe(const mt_redis_t *r) { return r->shown; }

/* Turns a reply into the contract of mt_redis_argv: NULL on failure. */
static redisReply *check(mt_redis_t *r, redisReply *reply, char *err,
                         size_t errsize) {
    if (!reply) {
        snprintf(err, errsize, "Redis %s: %s", r->shown,
                 r->c && r->c->errstr[0] ? r->c->errstr : "connection lost");
        drop(r); /* hiredis contexts cannot be reused after an error */
        return NULL;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        snprintf(err, errsize, "Redis: %.*s", (int)reply->len, reply->str);
        freeReplyObject(reply);
        return NULL;
    }
    return reply;
}

static int connect_now(mt_redis_t *r, char *err, size_t errsize) {
    struct timeval tv = {r->timeout_ms / 1000, (r->timeout_ms % 1000) * 1000};
    r->c = redisConnectWithTimeout(r->host, r->port, tv);
    if (!r->c || r->c->err) {
        snprintf(err, errsize, "cannot connect to Redis %s: %s", r->shown,
                 r->c ? r->c->errstr : "out of memory");
        drop(r);
        return -1;
    }
    redisSetTimeout(r->c, tv);
    redisEnableKeepAlive(r->c);
    redisReply *rep;
    if (r->password[0]) {
        rep = check(r, r->user[0] ? redisCommand(r->c, "AUTH %s %s", r->user, r->password)
                                  : redisCommand(r->c, "AUTH %s", r->password),
                    err, errsize);
        if (!rep) goto fail;
        freeReplyObject(rep);
    }
    if (r->db) {
        rep = check(r, redisCommand(r->c, "SELECT %d", r->db), err, errsize);
        if (!rep) goto fail;
        freeReplyObject(rep);
    }
    return 0;
fail:
    drop(r);
    return -1;
}

redisReply *mt_redis_argv(mt_redis_t *r, int argc, const char **argv,
                          const size_t *argvlen, char *err, size_t errsize) {
    if (!r->c && connect_now(r, err, errsize) != 0) return NULL;
    return check(r, redisCommandArgv(r->c, argc, argv, argvlen), err, errsize);
}

redisReply *mt_redis_cmd(mt_redis_t *r, char *err, size_t errsize,
                         const char *fmt, ...) {
    if (!r->c && connect_now(r, err, errsize) != 0) return NULL;
    va_list ap;
    va_start(ap, fmt);
    redisReply *rep = redisvCommand(r->c, fmt, ap);
    va_end(ap);
    return check(r, rep, err, errsize);
}

int mt_redis_ping(mt_redis_t *r, char *err, size_t errsize) {
    redisReply *rep = mt_redis_cmd(r, err, errsize, "PING");
    if (!rep) return -1;
    freeReplyObject(rep);
    return 0;
}

/* The SHA of a script, loading it into the server when load is set. */
static const char *script_sha(mt_redis_t *r, const char *script, int load,
                              char *err, size_t errsize) {
    int k;
    for (k = 0; k < r->nscripts && r->scripts[k].script != script; k++)
        ;
    if (k < r->nscripts && !load) return r->scripts[k].sha;
    if (k == MAX_SCRIPTS) {
        snprintf(err, errsize, "too many scripts");
        return NULL;
    }
    redisReply *rep = mt_redis_cmd(r, err, errsize, "SCRIPT LOAD %s", script);
    if (!rep) return NULL;
    if (rep->type != REDIS_REPLY_STRING || rep->len != 40) {
        freeReplyObject(rep);
        snprintf(err, errsize, "unexpected reply to SCRIPT LOAD");
        return NULL;
    }
    r->scripts[k].script = script;
    memcpy(r->scripts[k].sha, rep->str, 41);
    if (k == r->nscripts) r->nscripts++;
    freeReplyObject(rep);
    return r->scripts[k].sha;
}

redisReply *mt_redis_script(mt_redis_t *r, const char *script, int nkeys,
                            int argc, const char **argv, const size_t *argvlen,
                            char *err, size_t errsize) {
    const char **av = malloc((size_t)(argc + 3) * sizeof *av);
    size_t *al = malloc((size_t)(argc + 3) * sizeof *al);
    char nk[16];
    redisReply *rep = NULL;
    if (!av || !al) {
        snprintf(err, errsize, "out of memory");
        goto out;
    }
    snprintf(nk, sizeof nk, "%d", nkeys);
    av[0] = "EVALSHA";
    av[2] = nk;
    for (int k = 0; k < argc; k++) {
        av[k + 3] = argv[k];
        al[k + 3] = argvlen ? argvlen[k] : strlen(argv[k]);
    }
    al[0] = 7;
    al[2] = strlen(nk);
    for (int attempt = 0; attempt < 2; attempt++) {
        const char *sha = script_sha(r, script, attempt > 0, err, errsize);
        if (!sha) goto out;
        av[1] = sha;
        al[1] = 40;
        rep = mt_redis_argv(r, argc + 3, av, al, err, errsize);
        if (rep || strncmp(err, "Redis: NOSCRIPT", 15) != 0) break;
    }
out:
    free(av);
    free(al);
    return rep;
}

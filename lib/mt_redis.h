/* mt_redis.h - a Redis connection that survives Redis going away.
 *
 * Wraps one hiredis context with an address parsed once, a timeout on every
 * call (a frozen server cannot block us forever), lazy reconnection after
 * any failure (hiredis contexts are unusable after an error), and Lua
 * scripts run by SHA and reloaded when the server has forgotten them. */
#ifndef MT_REDIS_H
#define MT_REDIS_H

#include <stddef.h>

#include <hiredis/hiredis.h>

typedef struct mt_redis mt_redis_t;

/* Parses addr ("host:port[/db]" or "redis://[[user]:password@]host[:port][/db]")
 * and returns a handle; no connection is made yet. timeout_ms bounds the
 * connect and every command. Returns NULL with a message in err on a
 * malformed address. */
mt_redis_t *mt_redis_new(const char *addr, int timeout_ms, char *err,
                         size_t errsize);

/* Frees r and its connection; NULL is accepted. */
void mt_redis_destroy(mt_redis_t *r);

/* Runs one command given as argv (binary-safe). Connects first if needed.
 * Returns the reply (free with freeReplyObject), or NULL with a message in
 * err on a connection failure, a timeout, or an error reply. After a
 * connection failure the next call reconnects. */
redisReply *mt_redis_argv(mt_redis_t *r, int argc, const char **argv,
                          const size_t *argvlen, char *err, size_t errsize);

/* Like mt_redis_argv with a hiredis format string (%s, %b, %lld ...). */
redisReply *mt_redis_cmd(mt_redis_t *r, char *err, size_t errsize,
                         const char *fmt, ...);

/* Runs a Lua script by its SHA, loading it the first time and again if the
 * server lost it (a restart). argv holds the keys then the arguments.
 * Returns as mt_redis_argv. */
redisReply *mt_redis_script(mt_redis_t *r, const char *script, int nkeys,
                            int argc, const char **argv, const size_t *argvlen,
                            char *err, size_t errsize);

/* Returns 0 when the server answers PING, else -1 with a message. */
int mt_redis_ping(mt_redis_t *r, char *err, size_t errsize);

/* The address as given, for messages (password hidden). */
const char *mt_redis_describe(const mt_redis_t *r);

#endif

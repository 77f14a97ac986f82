/* mt_store.c - job records and exactly-once merging in Redis (mt_store.h).
 *
 * Keys, for a job ID:
 *   mt:jobs             sorted set of job ids, scored by creation time (ms)
 *   mt:job:ID           hash: state, op, args, total, done, failed,
 *                       created_ms, finished_ms, error, note
 *   mt:job:ID:merged    bitmap: bit N set once task N is counted
 *   mt:job:ID:result    hash: the merged result fields (wordcount: word->n)
 *   mt:job:ID:failed    hash: task number -> why it failed
 *   mt:job:ID:pieces    sorted set: pieces of output (grep's matching lines,
 *                       exec's outputs) scored by position, each member
 *                       "position<TAB>bytes"
 *   mt:job:ID:state     string: a plugin op's merged state (opaque bytes)
 *   mt:stream:NAME      sorted set: a stream's window jobs (ids NAME.START)
 *                       scored by window start (ms); a window's keys expire
 *                       ttl_ms after it completes
 *   mt:cancelled        sorted set: cancelled job ids, scored by when (ms)
 *   mt:workers          sorted set: worker ids, scored by last heartbeat (ms)
 *   mt:worker:ID        hash: what a worker last said of itself; expires
 *                       when its heartbeats stop
 * A job's state goes submitting -> running (total known) -> done or
 * done_with_errors; or submitting -> failed when submission failed; or,
 * from submitting or running, -> cancelled (results arriving later are
 * dropped). */
#define _POSIX_C_SOURCE 200809L
#include "mt_store.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mt_clock.h"
#include "mt_utf8.h"

/* Shared by the scripts that can finish a job: exactly one of them sees
 * done + failed reach total while the state is still "running". */
#define LUA_COMPLETE                                                           \
    "local function complete(job, id, now)\n"                                  \
    "  local s = redis.call('HMGET', job, 'state', 'total', 'done', 'failed')\n" \
    "  if s[1] ~= 'running' then return 0 end\n"                               \
    "  local total = tonumber(s[2])\n"                                         \
    "  local failed = tonumber(s[4]) or 0\n"                                   \
    "  if not total or (tonumber(s[3]) or 0) + failed < total then return 0 end\n" \
    /* the counters can run ahead (a forged or corrupt task number beyond  \
     * the total, counted before the total was known): complete only when  \
     * every task below the total has its bit */                           \
    "  local bits, full = job .. ':merged', math.floor(total / 8)\n"          \
    "  local n = full > 0 and redis.call('BITCOUNT', bits, 0, full - 1) or 0\n" \
    "  for i = full * 8, total - 1 do n = n + redis.call('GETBIT', bits, i) end\n" \
    "  if n < total then return 0 end\n"                                       \
    "  local state = 'done'\n"                                                 \
    /* failed tasks, or a submission interrupted before the input's end */ \
    "  if failed > 0 or redis.call('HEXISTS', job, 'note') == 1 then\n"       \
    "    state = 'done_with_errors'\n"                                         \
    "  end\n"                                                                 \
    "  redis.call('HSET', job, 'state', state, 'finished_ms', now)\n"          \
    "  redis.call('PUBLISH', '" MT_STORE_DONE_CHANNEL "', id)\n"               \
    /* a stream's window lives for its ttl once complete */                    \
    "  local ttl = tonumber(redis.call('HGET', job, 'ttl_ms'))\n"              \
    "  if ttl then\n"                                                         \
    "    for _, k in ipairs({'', ':merged', ':result', ':failed', ':pieces',\n" \
    "                        ':state'}) do\n"                                  \
    "      redis.call('PEXPIRE', job .. k, ttl)\n"                             \
    "    end\n"                                                               \
    "  end\n"                                                                 \
    "  return 1\n"                                                             \
    "end\n"

/* Shared by the merging scripts: refuses a message of another submission
 * (a deleted job whose id was used again) or of a cancelled job, and checks key types, so that a
 * script never fails half way (Redis does not roll a script back). */
#define LUA_CHECKS                                                             \
    "local function stale(job, run)\n"                                         \
    "  local s = redis.call('HMGET', job, 'run', 'state')\n"                   \
    "  return s[1] ~= run or s[2] == 'cancelled'\n"                            \
    "end\n"                                                                    \
    "local function wrong_type(key, want)\n"                                   \
    "  local t = redis.call('TYPE', key).ok\n"                                 \
    "  return t ~= 'none' and t ~= want\n"                                     \
    "end\n"                                                                    \
    "local function beyond(job, seq)\n"                                        \
    "  local total = tonumber(redis.call('HGET', job, 'total'))\n"             \
    "  return total ~= nil and tonumber(seq) >= total\n"                       \
    "end\n"

/* KEYS: job, merged, result, pieces. ARGV: id, now, run, n, seq x n,
 * (kind field value)*. Returns {n, completed}; {-1, seq} when a task is
 * merged already (nothing changed: filter and retry); {-2} for a message of
 * another submission; {-3, why} when the batch cannot be merged.
 * Values: 'i' '<' '>' 'f' a number; 'm' "count mean m2"; 'o' "pos limit".
 * Moments merge as in mt_delta.c; numbers are written with 17 significant
 * digits, so they read back as the same doubles. */
static const char merge_script[] =
    LUA_COMPLETE LUA_CHECKS
    "local job, bits, res, pieces = KEYS[1], KEYS[2], KEYS[3], KEYS[4]\n"
    "if stale(job, ARGV[3]) then return {-2, 'stale'} end\n"
    "if wrong_type(bits, 'string') or wrong_type(res, 'hash') or\n"
    "   wrong_type(pieces, 'zset') then\n"
    "  return {-3, 'the job\\'s keys in Redis have the wrong type'}\n"
    "end\n"
    "local function moments(s)\n"
    "  local n, m, q = string.match(s, '^(%S+) (%S+) (%S+)$')\n"
    "  return tonumber(n), tonumber(m), tonumber(q)\n"
    "end\n"
    "local function finite(x) return x == x and math.abs(x) ~= math.huge end\n"
    "local function merge_moments(cur, v)\n"
    "  local na, ma, qa = moments(cur)\n"
    "  local nb, mb, qb = moments(v)\n"
    "  if nb == 0 then return cur end\n"
    "  if na == 0 then return v end\n"
    "  local nn = na + nb\n"
    "  local d = mb - ma\n"
    "  local m, q = ma + d * (nb / nn), qa + qb + d * d * (na / nn) * nb\n"
    "  if not finite(m) or not finite(q) then return nil end\n"
    "  return string.format('%.17g %.17g %.17g', nn, m, q)\n"
    "end\n"
    "local n = tonumber(ARGV[4])\n"
    "for i = 5, n + 4 do\n"
    "  if beyond(job, ARGV[i]) then\n"
    "    return {-3, 'task ' .. ARGV[i] .. ' is beyond the job\\'s last task'}\n"
    "  end\n"
    "  if redis.call('GETBIT', bits, ARGV[i]) == 1 then return {-1, ARGV[i]} end\n"
    "end\n"
    /* the fields' current values, read a thousand at a time: a wordcount
     * merge has tens of thousands of fields, and one call per field is
     * what the script spent its time on */
    "local reads, curs = {}, {}\n"
    "for i = n + 5, #ARGV, 3 do\n"
    "  if ARGV[i] ~= 'o' then reads[#reads + 1] = i end\n"
    "end\n"
    "for s = 1, #reads, 1000 do\n"
    "  local names = {}\n"
    "  for j = s, math.min(s + 999, #reads) do names[#names + 1] = ARGV[reads[j] + 1] end\n"
    "  local got = redis.call('HMGET', res, unpack(names))\n"
    "  for j = 1, #names do curs[reads[s + j - 1]] = got[j] end\n"
    "end\n"
    "for i = n + 5, #ARGV, 3 do\n"
    "  local kind, f, v = ARGV[i], ARGV[i + 1], ARGV[i + 2]\n"
    "  local cur = kind ~= 'o' and curs[i]\n"
    "  if cur then\n"
    "    if kind == 'm' then\n"
    "      if not moments(cur) then return {-3, 'a field holds no moments'} end\n"
    "      if not merge_moments(cur, v) then\n"
    "        return {-3, 'the variance would overflow'}\n"
    "      end\n"
    "    else\n"
    "      local c = tonumber(cur)\n"
    "      if c == nil then return {-3, 'a field holds a non-number'} end\n"
    /* the pattern only where HINCRBY will read the text: it is costly */
    "      if kind == 'i' and (c ~= math.floor(c) or\n"
    "          (math.abs(c) >= 2^53 and not string.match(cur, '^-?%d+$'))) then\n"
    "        return {-3, 'a field holds integers and non-integers'}\n"
    "      end\n"
    "      if kind == 'i' and math.abs(c + tonumber(v)) >= 9.2e18 then\n"
    "        return {-3, 'an integer sum would overflow'}\n"
    "      end\n"
    "      if kind == 'f' and not finite(c + tonumber(v)) then\n"
    "        return {-3, 'a floating-point sum would overflow'}\n"
    "      end\n"
    "    end\n"
    "  end\n"
    "end\n"
    "for i = 5, n + 4 do redis.call('SETBIT', bits, ARGV[i], 1) end\n"
    "local sets = {}\n"
    "for i = n + 5, #ARGV, 3 do\n"
    "  local kind, f, v = ARGV[i], ARGV[i + 1], ARGV[i + 2]\n"
    "  if kind == 'i' then\n"
    /* sums that doubles hold exactly are added here and written in bulk;
     * larger ones go through HINCRBY, exact to 2^63 */
    "    local c, x = tonumber(curs[i]) or 0, tonumber(v)\n"
    "    if math.abs(c) < 2^53 and math.abs(x) < 2^53 and math.abs(c + x) < 2^53 then\n"
    "      sets[#sets + 1] = f\n"
    "      sets[#sets + 1] = string.format('%.0f', c + x)\n"
    "    else\n"
    "      redis.call('HINCRBY', res, f, v)\n"
    "    end\n"
    /* not HINCRBYFLOAT: it prints 17 digits after the point, so 1e-19
     * would sum to 0; %.17g keeps every double as it is */
    "  elseif kind == 'f' then\n"
    "    local cur = tonumber(redis.call('HGET', res, f)) or 0\n"
    "    redis.call('HSET', res, f, string.format('%.17g', cur + tonumber(v)))\n"
    "  elseif kind == 'm' then\n"
    "    local cur = redis.call('HGET', res, f)\n"
    "    if cur then v = merge_moments(cur, v) end\n"
    "    redis.call('HSET', res, f, v)\n"
    "  elseif kind == 'o' then\n"
    "    local pos, limit = string.match(v, '^(%S+) (%S+)$')\n"
    "    redis.call('ZADD', pieces, pos, f)\n"
    "    if tonumber(limit) > 0 then\n"
    "      redis.call('ZREMRANGEBYRANK', pieces, limit, -1)\n"
    "    end\n"
    "  else\n"
    "    local cur = tonumber(redis.call('HGET', res, f))\n"
    "    local x = tonumber(v)\n"
    "    if cur == nil or (kind == '<' and x < cur) or (kind == '>' and x > cur) then\n"
    "      redis.call('HSET', res, f, v)\n"
    "    end\n"
    "  end\n"
    "end\n"
    "for s = 1, #sets, 1000 do\n"
    "  redis.call('HSET', res, unpack(sets, s, math.min(s + 999, #sets)))\n"
    "end\n"
    "redis.call('HINCRBY', job, 'done', n)\n"
    "return {n, complete(job, ARGV[1], ARGV[2])}\n";

/* KEYS: job, state. Returns {version, state or false}: read together, so
 * the version says which state was read. */
static const char state_read_script[] =
    "local v = redis.call('HGET', KEYS[1], 'state_version') or '0'\n"
    "return {v, redis.call('GET', KEYS[2])}\n";

/* KEYS: job, merged, state. ARGV: id, now, run, version, n, seq x n, new
 * state. Like merge_script, for a plugin op whose state is opaque bytes
 * merged by the plugin: the new state is written only if no other merge
 * came in since version was read ({-4} otherwise: read, merge, try again). */
static const char state_merge_script[] =
    LUA_COMPLETE LUA_CHECKS
    "local job, bits, st = KEYS[1], KEYS[2], KEYS[3]\n"
    "if stale(job, ARGV[3]) then return {-2, 'stale'} end\n"
    "if wrong_type(bits, 'string') or wrong_type(st, 'string') then\n"
    "  return {-3, 'the job\\'s keys in Redis have the wrong type'}\n"
    "end\n"
    "local n = tonumber(ARGV[5])\n"
    "for i = 6, n + 5 do\n"
    "  if beyond(job, ARGV[i]) then\n"
    "    return {-3, 'task ' .. ARGV[i] .. ' is beyond the job\\'s last task'}\n"
    "  end\n"
    "  if redis.call('GETBIT', bits, ARGV[i]) == 1 then return {-1, ARGV[i]} end\n"
    "end\n"
    "if (redis.call('HGET', job, 'state_version') or '0') ~= ARGV[4] then\n"
    "  return {-4}\n"
    "end\n"
    "for i = 6, n + 5 do redis.call('SETBIT', bits, ARGV[i], 1) end\n"
    "redis.call('SET', st, ARGV[n + 6])\n"
    "redis.call('HINCRBY', job, 'state_version', 1)\n"
    "redis.call('HINCRBY', job, 'done', n)\n"
    "return {n, complete(job, ARGV[1], ARGV[2])}\n";

/* KEYS: job, merged, failed. ARGV: run, seq x n. Counts the listed failed
 * tasks as not done again, so they can run once more; returns the task
 * numbers reopened ({-2} for another submission). */
static const char reopen_script[] =
    "if redis.call('HGET', KEYS[1], 'run') ~= ARGV[1] then return {-2} end\n"
    "local out = {}\n"
    "for i = 2, #ARGV do\n"
    "  if redis.call('HDEL', KEYS[3], ARGV[i]) == 1 then\n"
    "    redis.call('SETBIT', KEYS[2], ARGV[i], 0)\n"
    "    redis.call('HINCRBY', KEYS[1], 'failed', -1)\n"
    "    out[#out + 1] = tonumber(ARGV[i])\n"
    "  end\n"
    "end\n"
    "if #out > 0 and redis.call('HGET', KEYS[1], 'state') == 'done_with_errors' then\n"
    "  redis.call('HSET', KEYS[1], 'state', 'running')\n"
    "  redis.call('HDEL', KEYS[1], 'finished_ms')\n"
    "end\n"
    "return out\n";

/* KEYS: job, merged, failed. ARGV: id, now, run, seq, reason. Returns as
 * merge_script ({0, 0} when the task was counted already). */
static const char failed_script[] =
    LUA_COMPLETE LUA_CHECKS
    "if stale(KEYS[1], ARGV[3]) then return {-2, 'stale'} end\n"
    "if wrong_type(KEYS[2], 'string') or wrong_type(KEYS[3], 'hash') then\n"
    "  return {-3, 'the job\\'s keys in Redis have the wrong type'}\n"
    "end\n"
    "if beyond(KEYS[1], ARGV[4]) then\n"
    "  return {-3, 'task ' .. ARGV[4] .. ' is beyond the job\\'s last task'}\n"
    "end\n"
    "if redis.call('GETBIT', KEYS[2], ARGV[4]) == 1 then return {0, 0} end\n"
    "redis.call('SETBIT', KEYS[2], ARGV[4], 1)\n"
    "redis.call('HSET', KEYS[3], ARGV[4], ARGV[5])\n"
    "redis.call('HINCRBY', KEYS[1], 'failed', 1)\n"
    "return {1, complete(KEYS[1], ARGV[1], ARGV[2])}\n";

/* KEYS: job. ARGV: id, now, run, total. Returns {-2} for another
 * submission's end marker, else {completed}. */
static const char end_script[] =
    LUA_COMPLETE LUA_CHECKS
    "if stale(KEYS[1], ARGV[3]) then return {-2} end\n"
    "if redis.call('HGET', KEYS[1], 'state') == 'submitting' then\n"
    "  redis.call('HSET', KEYS[1], 'state', 'running', 'total', ARGV[4])\n"
    "end\n"
    "return {complete(KEYS[1], ARGV[1], ARGV[2])}\n";

/* KEYS: merged. ARGV: seqs. */
static const char unmerged_script[] =
    "local r = {}\n"
    "for i = 1, #ARGV do r[i] = redis.call('GETBIT', KEYS[1], ARGV[i]) end\n"
    "return r\n";

/* KEYS: job, index (mt:jobs, or a stream's mt:stream:NAME). ARGV: id, op,
 * args, now, run, and for a window: stream, start_ms, end_ms, ttl_ms. A
 * window is listed in its stream's index (scored by its start), not in
 * mt:jobs, and the index forgets windows whose ttl is over. */
static const char claim_script[] =
    "if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end\n"
    "redis.call('HSET', KEYS[1], 'state', 'submitting', 'op', ARGV[2],\n"
    "           'args', ARGV[3], 'created_ms', ARGV[4], 'done', 0, 'failed', 0,\n"
    "           'run', ARGV[5])\n"
    "if ARGV[6] then\n"
    "  redis.call('HSET', KEYS[1], 'stream', ARGV[6], 'window_start_ms', ARGV[7],\n"
    "             'window_end_ms', ARGV[8], 'ttl_ms', ARGV[9])\n"
    "  redis.call('ZADD', KEYS[2], ARGV[7], ARGV[1])\n"
    "  local gone = tonumber(ARGV[4]) - tonumber(ARGV[9]) -\n"
    "               (tonumber(ARGV[8]) - tonumber(ARGV[7])) * 2\n"
    "  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. gone)\n"
    "else\n"
    "  redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])\n"
    "end\n"
    "return 1\n";

/* KEYS: job. ARGV: reason, now. */
static const char fail_script[] =
    "if redis.call('HGET', KEYS[1], 'state') ~= 'submitting' then return 0 end\n"
    "redis.call('HSET', KEYS[1], 'state', 'failed', 'error', ARGV[1],\n"
    "           'finished_ms', ARGV[2])\n"
    "return 1\n";

struct mt_store_result {
    redisReply **replies;
    size_t nreplies;
    mt_field_t *fields;
    size_t n;
};

static void key(char *out, size_t size, const char *job, const char *suffix) {
    snprintf(out, size, "mt:job:%s%s", job, suffix);
}

/* Runs a script whose arguments are all NUL-terminated strings. */
static redisReply *run(mt_redis_t *r, const char *script, int nkeys, int argc,
                       const char **argv, char *err, size_t errsize) {
    return mt_redis_script(r, script, nkeys, argc, argv, NULL, err, errsize);
}

/* The integer in a reply (or in element idx of an array reply). */
static long long reply_int(const redisReply *rep, int idx) {
    if (idx >= 0) {
        if (rep->type != REDIS_REPLY_ARRAY || (size_t)idx >= rep->elements)
            return -1;
        rep = rep->element[idx];
    }
    if (rep->type == REDIS_REPLY_INTEGER) return rep->integer;
    if (rep->type == REDIS_REPLY_STRING) return strtoll(rep->str, NULL, 10);
    return -1;
}

int mt_store_claim(mt_redis_t *r, const char *job, const char *run_id,
                   const char *op, const char *args_json, char *err,
                   size_t errsize) {
    char k[200], now[24];
    key(k, sizeof k, job, "");
    snprintf(now, sizeof now, "%lld", mt_wall_ms());
    const char *argv[] = {k, "mt:jobs", job, op, args_json ? args_json : "", now,
                          run_id};
    redisReply *rep = run(r, claim_script, 2, 7, argv, err, errsize);
    if (!rep) return -1;
    int rc = (int)reply_int(rep, -1);
    freeReplyObject(rep);
    return rc;
}

int mt_store_claim_window(mt_redis_t *r, const char *job, const char *run_id,
                          const char *op, const char *args_json, const char *stream,
                          long long start_ms, long long end_ms, long long ttl_ms,
                          char *err, size_t errsize) {
    char k[200], index[200], now[24], start[24], end[24], ttl[24];
    key(k, sizeof k, job, "");
    snprintf(index, sizeof index, "mt:stream:%s", stream);
    snprintf(now, sizeof now, "%lld", mt_wall_ms());
    snprintf(start, sizeof start, "%lld", start_ms);
    snprintf(end, sizeof end, "%lld", end_ms);
    snprintf(ttl, sizeof ttl, "%lld", ttl_ms);
    const char *argv[] = {k, index, job, op, args_json ? args_json : "", now,
                          run_id, stream, start, end, ttl};
    redisReply *rep = run(r, claim_script, 2, 11, argv, err, errsize);
    if (!rep) return -1;
    int rc = (int)reply_int(rep, -1);
    freeReplyObject(rep);
    return rc;
}

int mt_store_fail(mt_redis_t *r, const char *job, const char *reason,
                  char *err, size_t errsize) {
    char k[200], now[24];
    key(k, sizeof k, job, "");
    snprintf(now, sizeof now, "%lld", mt_wall_ms());
    const char *argv[] = {k, reason, now};
    redisReply *rep = run(r, fail_script, 1, 3, argv, err, errsize);
    if (!rep) return -1;
    freeReplyObject(rep);
    return 0;
}

int mt_store_set_meta(mt_redis_t *r, const char *job, const char *priority,
                      const char *deadline_ms, char *err, size_t errsize) {
    char k[200];
    key(k, sizeof k, job, "");
    redisReply *rep = deadline_ms
        ? mt_redis_cmd(r, err, errsize, "HSET %s priority %s deadline_ms %s", k,
                       priority, deadline_ms)
        : mt_redis_cmd(r, err, errsize, "HSET %s priority %s", k, priority);
    if (!rep) return -1;
    freeReplyObject(rep);
    return 0;
}

int mt_store_note(mt_redis_t *r, const char *job, const char *note, char *err,
                  size_t errsize) {
    char k[200];
    key(k, sizeof k, job, "");
    redisReply *rep = mt_redis_cmd(r, err, errsize, "HSET %s note %s", k, note);
    if (!rep) return -1;
    freeReplyObject(rep);
    return 0;
}

int mt_store_unmerged(mt_redis_t *r, const char *job, const int64_t *seqs,
                      size_t n, unsigned char *is_new, char *err,
                      size_t errsize) {
    char k[200];
    const char **argv = malloc((n + 1) * sizeof *argv);
    char (*num)[24] = malloc((n ? n : 1) * sizeof *num);
    int rc = -1;
    if (!argv || !num) {
        snprintf(err, errsize, "out of memory");
        goto out;
    }
    key(k, sizeof k, job, ":merged");
    argv[0] = k;
    for (size_t i = 0; i < n; i++) {
        snprintf(num[i], sizeof num[i], "%lld", (long long)seqs[i]);
        argv[i + 1] = num[i];
    }
    redisReply *rep = run(r, unmerged_script, 1, (int)n + 1, argv, err, errsize);
    if (!rep) goto out;
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != n) {
        snprintf(err, errsize, "unexpected reply from Redis");
    } else {
        for (size_t i = 0; i < n; i++) is_new[i] = reply_int(rep, (int)i) == 0;
        rc = 0;
    }
    freeReplyObject(rep);
out:
    free(argv);
    free(num);
    return rc;
}

/* The outcome of a merging script's reply {code, detail}, per mt_store.h;
 * the reason of a refusal goes to err. */
static int outcome(const redisReply *rep, int *completed, char *err,
                   size_t errsize) {
    long long code = reply_int(rep, 0);
    *completed = 0;
    if (code == -1) return MT_STORE_CONFLICT;
    if (code == -2) return MT_STORE_STALE;
    if (code == -3) {
        const redisReply *why = rep->element[1];
        snprintf(err, errsize, "%.*s", why->type == REDIS_REPLY_STRING ? (int)why->len : 7,
                 why->type == REDIS_REPLY_STRING ? why->str : "refused");
        return MT_STORE_REFUSED;
    }
    *completed = reply_int(rep, rep->elements > 1 ? 1 : 0) == 1;
    return MT_STORE_OK;
}

int mt_store_merge(mt_redis_t *r, const char *job, const char *run_id,
                   const int64_t *seqs, size_t n, const mt_delta_t *delta,
                   int *completed, char *err, size_t errsize) {
    size_t nf = mt_delta_size(delta), argc = 8 + n + 3 * nf;
    const char **argv = malloc(argc * sizeof *argv);
    size_t *argvlen = malloc(argc * sizeof *argvlen);
    /* seq numbers, then one formatted value per field */
    char (*num)[80] = malloc((n + nf + 1) * sizeof *num);
    char kjob[200], kbits[200], kres[200], kpieces[200], now[24], cnt[24];
    int rc = -1;
    *completed = 0;
    if (!argv || !argvlen || !num) {
        snprintf(err, errsize, "out of memory");
        goto out;
    }
    key(kjob, sizeof kjob, job, "");
    key(kbits, sizeof kbits, job, ":merged");
    key(kres, sizeof kres, job, ":result");
    key(kpieces, sizeof kpieces, job, ":pieces");
    snprintf(now, sizeof now, "%lld", mt_wall_ms());
    snprintf(cnt, sizeof cnt, "%zu", n);
    const char *fixed[] = {kjob, kbits, kres, kpieces, job, now, run_id, cnt};
    size_t a = 0;
    for (; a < 8; a++) {
        argv[a] = fixed[a];
        argvlen[a] = strlen(fixed[a]);
    }
    for (size_t i = 0; i < n; i++, a++) {
        argvlen[a] = (size_t)snprintf(num[i], sizeof num[i], "%lld",
                                      (long long)seqs[i]);
        argv[a] = num[i];
    }
    static const char kinds[] = "if<>mo";
    for (size_t i = 0; i < nf; i++) {
        mt_delta_entry_t e;
        mt_delta_get(delta, i, &e);
        char *v = num[n + i];
        argv[a] = &kinds[strchr(kinds, (int)e.kind) - kinds];
        argvlen[a++] = 1;
        argv[a] = e.field;
        argvlen[a++] = e.field_len;
        if (e.kind == MT_DELTA_SUM)
            argvlen[a] = (size_t)snprintf(v, 80, "%lld", (long long)e.i);
        else if (e.kind == MT_DELTA_MOMENTS)
            argvlen[a] = (size_t)snprintf(v, 80, "%lld %.17g %.17g", (long long)e.i,
                                          e.f, e.m2);
        else if (e.kind == MT_DELTA_PIECE)
            argvlen[a] = (size_t)snprintf(v, 80, "%lld %lld", (long long)e.i,
                                          (long long)e.limit);
        else
            argvlen[a] = (size_t)snprintf(v, 80, "%.17g", e.f);
        argv[a++] = v;
    }
    redisReply *rep = mt_redis_script(r, merge_script, 4, (int)argc, argv,
                                      argvlen, err, errsize);
    if (!rep) goto out;
    rc = outcome(rep, completed, err, errsize);
    freeReplyObject(rep);
out:
    free(argv);
    free(argvlen);
    free(num);
    return rc;
}

int mt_store_merge_state(mt_redis_t *r, const char *job, const char *run_id,
                         const int64_t *seqs, size_t n, mt_store_combine_fn combine,
                         void *opaque, int *completed, char *err, size_t errsize) {
    size_t argc = 9 + n;
    const char **argv = malloc(argc * sizeof *argv);
    size_t *argvlen = malloc(argc * sizeof *argvlen);
    char (*num)[24] = malloc((n ? n : 1) * sizeof *num);
    char kjob[200], kbits[200], kstate[200], now[24], cnt[24], version[32];
    mt_buf_t merged = MT_BUF_INIT;
    int rc = MT_STORE_ERROR;
    *completed = 0;
    if (!argv || !argvlen || !num) {
        snprintf(err, errsize, "out of memory");
        goto out;
    }
    key(kjob, sizeof kjob, job, "");
    key(kbits, sizeof kbits, job, ":merged");
    key(kstate, sizeof kstate, job, ":state");
    snprintf(cnt, sizeof cnt, "%zu", n);
    for (size_t i = 0; i < n; i++) {
        argvlen[9 + i - 1] = (size_t)snprintf(num[i], sizeof num[i], "%lld",
                                              (long long)seqs[i]);
        argv[9 + i - 1] = num[i];
    }
    /* Optimistic: read the state and its version, merge outside Redis,
     * write only if nobody wrote in between. Two aggregators merging into
     * one job take turns; each turn is short. */
    for (int attempt = 0; attempt < 1000; attempt++) {
        const char *rargv[] = {kjob, kstate};
        redisReply *rep = mt_redis_script(r, state_read_script, 2, 2, rargv, NULL,
                                          err, errsize);
        if (!rep) goto out;
        if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
            rep->element[0]->type != REDIS_REPLY_STRING) {
            freeReplyObject(rep);
            snprintf(err, errsize, "unexpected reply from Redis");
            goto out;
        }
        snprintf(version, sizeof version, "%s", rep->element[0]->str);
        const redisReply *cur = rep->element[1];
        int have = cur->type == REDIS_REPLY_STRING;
        mt_buf_reset(&merged);
        int crc = combine(opaque, have ? cur->str : NULL, have ? cur->len : 0, &merged,
                          err, errsize);
        freeReplyObject(rep);
        if (crc != 0) {
            rc = MT_STORE_REFUSED;
            goto out;
        }
        snprintf(now, sizeof now, "%lld", mt_wall_ms());
        const char *fixed[] = {kjob, kbits, kstate, job, now, run_id, version, cnt};
        for (size_t a = 0; a < 8; a++) {
            argv[a] = fixed[a];
            argvlen[a] = strlen(fixed[a]);
        }
        argv[8 + n] = merged.data ? merged.data : "";
        argvlen[8 + n] = merged.len;
        rep = mt_redis_script(r, state_merge_script, 3, (int)argc, argv, argvlen, err,
                              errsize);
        if (!rep) goto out;
        int raced = reply_int(rep, 0) == -4;
        if (!raced) rc = outcome(rep, completed, err, errsize);
        freeReplyObject(rep);
        if (!raced) goto out;
    }
    snprintf(err, errsize, "state kept changing under us; trying later");
out:
    free(argv);
    free(argvlen);
    free(num);
    mt_buf_free(&merged);
    return rc;
}

int mt_store_state(mt_redis_t *r, const char *job, mt_buf_t *out, char *err,
                   size_t errsize) {
    char k[200];
    key(k, sizeof k, job, ":state");
    redisReply *rep = mt_redis_cmd(r, err, errsize, "GET %s", k);
    if (!rep) return -1;
    int rc = 0;
    if (rep->type == REDIS_REPLY_STRING) {
        if (mt_buf_append(out, rep->str, rep->len) != 0) {
            snprintf(err, errsize, "out of memory");
            rc = -1;
        } else {
            rc = 1;
        }
    }
    freeReplyObject(rep);
    return rc;
}

int mt_store_merge_failed(mt_redis_t *r, const char *job, const char *run_id,
                          int64_t seq, const char *reason, size_t reason_len,
                          int *completed, char *err, size_t errsize) {
    char kjob[200], kbits[200], kfail[200], now[24], s[24];
    key(kjob, sizeof kjob, job, "");
    key(kbits, sizeof kbits, job, ":merged");
    key(kfail, sizeof kfail, job, ":failed");
    snprintf(now, sizeof now, "%lld", mt_wall_ms());
    snprintf(s, sizeof s, "%lld", (long long)seq);
    const char *argv[] = {kjob, kbits, kfail, job, now, run_id, s, reason};
    size_t argvlen[] = {strlen(kjob), strlen(kbits), strlen(kfail), strlen(job),
                        strlen(now), strlen(run_id), strlen(s), reason_len};
    redisReply *rep = mt_redis_script(r, failed_script, 3, 8, argv, argvlen,
                                      err, errsize);
    if (!rep) return -1;
    int rc = outcome(rep, completed, err, errsize);
    freeReplyObject(rep);
    return rc;
}

int mt_store_end(mt_redis_t *r, const char *job, const char *run_id,
                 int64_t total, int *completed, char *err, size_t errsize) {
    char k[200], now[24], t[24];
    key(k, sizeof k, job, "");
    snprintf(now, sizeof now, "%lld", mt_wall_ms());
    snprintf(t, sizeof t, "%lld", (long long)total);
    const char *argv[] = {k, job, now, run_id, t};
    redisReply *rep = run(r, end_script, 1, 5, argv, err, errsize);
    if (!rep) return -1;
    int rc = outcome(rep, completed, err, errsize);
    freeReplyObject(rep);
    return rc;
}

int mt_store_reopen(mt_redis_t *r, const char *job, const char *run_id,
                    const int64_t *seqs, size_t n, unsigned char *reopened, char *err,
                    size_t errsize) {
    char kjob[200], kbits[200], kfail[200];
    const char **argv = malloc((n + 4) * sizeof *argv);
    char (*num)[24] = malloc((n ? n : 1) * sizeof *num);
    int rc = -1;
    if (!argv || !num) {
        snprintf(err, errsize, "out of memory");
        goto out;
    }
    key(kjob, sizeof kjob, job, "");
    key(kbits, sizeof kbits, job, ":merged");
    key(kfail, sizeof kfail, job, ":failed");
    argv[0] = kjob;
    argv[1] = kbits;
    argv[2] = kfail;
    argv[3] = run_id;
    for (size_t i = 0; i < n; i++) {
        snprintf(num[i], sizeof num[i], "%lld", (long long)seqs[i]);
        argv[4 + i] = num[i];
        reopened[i] = 0;
    }
    redisReply *rep = run(r, reopen_script, 3, (int)n + 4, argv, err, errsize);
    if (!rep) goto out;
    if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 1 && reply_int(rep, 0) == -2) {
        snprintf(err, errsize, "the job was submitted again meanwhile");
    } else if (rep->type != REDIS_REPLY_ARRAY) {
        snprintf(err, errsize, "unexpected reply from Redis");
    } else {
        rc = 0;
        for (size_t k = 0; k < rep->elements; k++) {
            long long s = reply_int(rep, (int)k);
            for (size_t i = 0; i < n; i++)
                if (seqs[i] == s) reopened[i] = 1, rc++;
        }
    }
    freeReplyObject(rep);
out:
    free(argv);
    free(num);
    return rc;
}

json_t *mt_store_failures(mt_redis_t *r, const char *job, char *err,
                          size_t errsize) {
    char k[200];
    key(k, sizeof k, job, ":failed");
    redisReply *rep = mt_redis_cmd(r, err, errsize, "HGETALL %s", k);
    if (!rep) return NULL;
    json_t *list = json_array();
    for (size_t i = 0; rep->type == REDIS_REPLY_ARRAY && i + 1 < rep->elements; i += 2) {
        mt_buf_t why = MT_BUF_INIT;
        const redisReply *v = rep->element[i + 1];
        mt_utf8_escape(v->str, v->len, &why);
        json_array_append_new(list, json_pack("{s:I,s:s#}", "task",
                                              (json_int_t)strtoll(rep->element[i]->str, NULL, 10),
                                              "error", why.data ? why.data : "", why.len));
        mt_buf_free(&why);
    }
    freeReplyObject(rep);
    /* in task order */
    size_t n = json_array_size(list);
    for (size_t a = 1; a < n; a++)
        for (size_t b = a; b > 0; b--) {
            json_t *x = json_array_get(list, b - 1), *y = json_array_get(list, b);
            if (json_integer_value(json_object_get(x, "task")) <=
                json_integer_value(json_object_get(y, "task")))
                break;
            json_incref(x);
            json_array_set(list, b - 1, y);
            json_array_set_new(list, b, x);
        }
    return list;
}

int mt_store_job(mt_redis_t *r, const char *job, json_t **out, char *err,
                 size_t errsize) {
    static const char *const numeric[] = {"total", "done", "failed", "created_ms",
                                          "finished_ms", "deadline_ms",
                                          "state_version", "window_start_ms",
                                          "window_end_ms", "ttl_ms", NULL};
    char k[200];
    key(k, sizeof k, job, "");
    redisReply *rep = mt_redis_cmd(r, err, errsize, "HGETALL %s", k);
    if (!rep) return -1;
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements == 0) {
        freeReplyObject(rep);
        return 0;
    }
    json_t *o = json_object();
    json_object_set_new(o, "job", json_string(job));
    for (size_t i = 0; i + 1 < rep->elements; i += 2) {
        const char *name = rep->element[i]->str;
        const redisReply *v = rep->element[i + 1];
        int is_num = 0;
        for (size_t n = 0; numeric[n]; n++) is_num |= !strcmp(name, numeric[n]);
        if (is_num)
            json_object_set_new(o, name, json_integer(strtoll(v->str, NULL, 10)));
        else
            json_object_set_new(o, name, json_stringn(v->str, v->len));
    }
    freeReplyObject(rep);
    *out = o;
    return 1;
}

/* Appends the job's pieces, in position order, a page at a time. */
static int read_pieces(mt_redis_t *r, const char *job, mt_store_result_t *res,
                       size_t *cap, char *err, size_t errsize) {
    char k[200];
    key(k, sizeof k, job, ":pieces");
    for (long long start = 0;; start += 1000) {
        redisReply *rep = mt_redis_cmd(r, err, errsize, "ZRANGE %s %lld %lld",
                                       k, start, start + 999);
        if (!rep) return -1;
        redisReply **rs = realloc(res->replies, (res->nreplies + 1) * sizeof *rs);
        if (!rs) {
            freeReplyObject(rep);
            snprintf(err, errsize, "out of memory");
            return -1;
        }
        res->replies = rs;
        rs[res->nreplies++] = rep;
        if (rep->type != REDIS_REPLY_ARRAY) {
            snprintf(err, errsize, "unexpected ZRANGE reply");
            return -1;
        }
        if (res->n + rep->elements > *cap) {
            *cap = (res->n + rep->elements) * 2;
            mt_field_t *f = realloc(res->fields, *cap * sizeof *f);
            if (!f) {
                snprintf(err, errsize, "out of memory");
                return -1;
            }
            res->fields = f;
        }
        for (size_t i = 0; i < rep->elements; i++) {
            /* a member is "position<TAB>bytes" */
            const redisReply *m = rep->element[i];
            const char *tab = m->type == REDIS_REPLY_STRING ? memchr(m->str, '\t', m->len) : NULL;
            if (!tab) continue;
            mt_field_t *f = &res->fields[res->n++];
            f->name = tab + 1;
            f->name_len = m->len - (size_t)(tab + 1 - m->str);
            f->value = NULL;
            f->value_len = 0;
            f->piece = 1;
            f->position = strtoll(m->str, NULL, 10);
        }
        if (rep->elements < 1000) return 0;
    }
}

int mt_store_result(mt_redis_t *r, const char *job, mt_store_result_t **out,
                    char *err, size_t errsize) {
    char k[200], cursor[32] = "0";
    mt_store_result_t *res = calloc(1, sizeof *res);
    size_t cap = 0;
    if (!res) goto oom;
    key(k, sizeof k, job, ":result");
    do {
        redisReply *rep = mt_redis_cmd(r, err, errsize, "HSCAN %s %s COUNT 1000",
                                       k, cursor);
        if (!rep) goto fail;
        redisReply **rs = realloc(res->replies, (res->nreplies + 1) * sizeof *rs);
        if (!rs) {
            freeReplyObject(rep);
            goto oom;
        }
        res->replies = rs;
        rs[res->nreplies++] = rep;
        if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2) {
            snprintf(err, errsize, "unexpected HSCAN reply");
            goto fail;
        }
        snprintf(cursor, sizeof cursor, "%s", rep->element[0]->str);
        const redisReply *items = rep->element[1];
        if (res->n + items->elements / 2 > cap) {
            cap = (res->n + items->elements / 2) * 2;
            mt_field_t *f = realloc(res->fields, cap * sizeof *f);
            if (!f) goto oom;
            res->fields = f;
        }
        for (size_t i = 0; i + 1 < items->elements; i += 2) {
            mt_field_t *f = &res->fields[res->n++];
            f->name = items->element[i]->str;
            f->name_len = items->element[i]->len;
            f->value = items->element[i + 1]->str;
            f->value_len = items->element[i + 1]->len;
            f->piece = 0;
            f->position = 0;
        }
    } while (strcmp(cursor, "0") != 0);
    /* While a job is still running HSCAN may return a field twice; readers
     * keep the last value seen. A finished job's hash no longer changes. */
    if (read_pieces(r, job, res, &cap, err, errsize) != 0) goto fail;
    *out = res;
    return 0;
oom:
    snprintf(err, errsize, "out of memory");
fail:
    mt_store_result_destroy(res);
    return -1;
}

const mt_field_t *mt_store_result_fields(const mt_store_result_t *res,
                                         size_t *n) {
    *n = res->n;
    return res->fields;
}

void mt_store_result_destroy(mt_store_result_t *res) {
    if (!res) return;
    for (size_t i = 0; i < res->nreplies; i++) freeReplyObject(res->replies[i]);
    free(res->replies);
    free(res->fields);
    free(res);
}

int mt_store_cursor_get(mt_redis_t *r, const char *stream, mt_cursor_t *c, char *err,
                        size_t errsize) {
    redisReply *rep = mt_redis_cmd(r, err, errsize,
                                   "HMGET mt:stream:%s:cursor dev ino off open", stream);
    if (!rep) return -1;
    int rc = 0;
    if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 4 &&
        rep->element[0]->type == REDIS_REPLY_STRING) {
        memset(c, 0, sizeof *c);
        c->dev = strtoull(rep->element[0]->str, NULL, 10);
        if (rep->element[1]->type == REDIS_REPLY_STRING)
            c->ino = strtoull(rep->element[1]->str, NULL, 10);
        if (rep->element[2]->type == REDIS_REPLY_STRING)
            c->off = strtoll(rep->element[2]->str, NULL, 10);
        if (rep->element[3]->type == REDIS_REPLY_STRING)
            snprintf(c->open, sizeof c->open, "%s", rep->element[3]->str);
        rc = 1;
    }
    freeReplyObject(rep);
    return rc;
}

int mt_store_cursor_set(mt_redis_t *r, const char *stream, const mt_cursor_t *c,
                        char *err, size_t errsize) {
    redisReply *rep = mt_redis_cmd(r, err, errsize,
                                   "HSET mt:stream:%s:cursor dev %llu ino %llu off %lld open %s",
                                   stream, c->dev, c->ino, c->off, c->open);
    if (!rep) return -1;
    freeReplyObject(rep);
    return 0;
}

long long mt_store_counted(mt_redis_t *r, const char *job, char *err, size_t errsize) {
    char k[200];
    key(k, sizeof k, job, "");
    redisReply *rep = mt_redis_cmd(r, err, errsize, "HMGET %s done failed", k);
    if (!rep) return -1;
    long long n = 0;
    for (size_t i = 0; rep->type == REDIS_REPLY_ARRAY && i < rep->elements; i++)
        if (rep->element[i]->type == REDIS_REPLY_STRING)
            n += strtoll(rep->element[i]->str, NULL, 10);
    freeReplyObject(rep);
    return n;
}

/* KEYS: a stream's index. ARGV: limit. The newest windows whose job still
 * exists; those expired (their ttl is over) leave the index. */
static const char windows_script[] =
    "local out = {}\n"
    "local ids = redis.call('ZREVRANGE', KEYS[1], 0, -1)\n"
    "for _, id in ipairs(ids) do\n"
    "  if redis.call('EXISTS', 'mt:job:' .. id) == 0 then\n"
    "    redis.call('ZREM', KEYS[1], id)\n"
    "  elseif #out < tonumber(ARGV[1]) then\n"
    "    out[#out + 1] = id\n"
    "  end\n"
    "end\n"
    "return out\n";

json_t *mt_store_windows(mt_redis_t *r, const char *stream, size_t limit, char *err,
                         size_t errsize) {
    char index[200], lim[24];
    snprintf(index, sizeof index, "mt:stream:%s", stream);
    snprintf(lim, sizeof lim, "%zu", limit);
    const char *argv[] = {index, lim};
    redisReply *rep = run(r, windows_script, 1, 2, argv, err, errsize);
    if (!rep) return NULL;
    json_t *a = json_array();
    for (size_t i = 0; rep->type == REDIS_REPLY_ARRAY && i < rep->elements; i++)
        json_array_append_new(a, json_stringn(rep->element[i]->str,
                                              rep->element[i]->len));
    freeReplyObject(rep);
    return a;
}

json_t *mt_store_jobs(mt_redis_t *r, size_t limit, char *err, size_t errsize) {
    redisReply *rep = mt_redis_cmd(r, err, errsize, "ZREVRANGE mt:jobs 0 %lld",
                                   (long long)limit - 1);
    if (!rep) return NULL;
    json_t *a = json_array();
    for (size_t i = 0; rep->type == REDIS_REPLY_ARRAY && i < rep->elements; i++)
        json_array_append_new(a, json_stringn(rep->element[i]->str,
                                              rep->element[i]->len));
    freeReplyObject(rep);
    return a;
}

int mt_store_delete(mt_redis_t *r, const char *job, char *err, size_t errsize) {
    char k1[200], k2[200], k3[200], k4[200], k5[200], k6[200];
    key(k1, sizeof k1, job, "");
    key(k2, sizeof k2, job, ":merged");
    key(k3, sizeof k3, job, ":result");
    key(k4, sizeof k4, job, ":failed");
    key(k5, sizeof k5, job, ":pieces");
    key(k6, sizeof k6, job, ":state");
    redisReply *rep = mt_redis_cmd(r, err, errsize, "DEL %s %s %s %s %s %s", k1,
                                   k2, k3, k4, k5, k6);
    if (!rep) return -1;
    int existed = rep->integer > 0;
    freeReplyObject(rep);
    rep = mt_redis_cmd(r, err, errsize, "ZREM mt:jobs %s", job);
    if (!rep) return -1;
    existed |= rep->integer > 0;
    freeReplyObject(rep);
    return existed;
}

/* ---- cancelling ---- */

/* KEYS: job, mt:cancelled. ARGV: id, now. Returns 1 when cancelled, 0 when
 * the job had already ended (its state is left alone), -1 when unknown. */
static const char cancel_script[] =
    "local state = redis.call('HGET', KEYS[1], 'state')\n"
    "if not state then return -1 end\n"
    "if state ~= 'submitting' and state ~= 'running' then return 0 end\n"
    "redis.call('HSET', KEYS[1], 'state', 'cancelled', 'finished_ms', ARGV[2])\n"
    "redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])\n"
    "redis.call('PUBLISH', '" MT_STORE_DONE_CHANNEL "', ARGV[1])\n"
    "return 1\n";

int mt_store_cancel(mt_redis_t *r, const char *job, char *err, size_t errsize) {
    char k[200], now[24];
    key(k, sizeof k, job, "");
    snprintf(now, sizeof now, "%lld", mt_wall_ms());
    const char *argv[] = {k, "mt:cancelled", job, now};
    redisReply *rep = run(r, cancel_script, 2, 4, argv, err, errsize);
    if (!rep) return -1;
    long long rc = reply_int(rep, -1);
    freeReplyObject(rep);
    if (rc < 0) snprintf(err, errsize, "no such job");
    return (int)rc;
}

json_t *mt_store_cancelled(mt_redis_t *r, long long since_ms, char *err, size_t errsize) {
    redisReply *rep = mt_redis_cmd(r, err, errsize, "ZRANGEBYSCORE mt:cancelled %lld +inf",
                                   since_ms);
    if (!rep) return NULL;
    json_t *a = json_array();
    for (size_t i = 0; rep->type == REDIS_REPLY_ARRAY && i < rep->elements; i++)
        json_array_append_new(a, json_stringn(rep->element[i]->str, rep->element[i]->len));
    freeReplyObject(rep);
    return a;
}

/* ---- workers ---- */

/* KEYS: mt:worker:ID, mt:workers. ARGV: id, now, ttl, (field value)*. The
 * record is replaced whole; ids silent for a day leave the index. */
static const char heartbeat_script[] =
    "redis.call('DEL', KEYS[1])\n"
    "redis.call('HSET', KEYS[1], unpack(ARGV, 4))\n"
    "redis.call('PEXPIRE', KEYS[1], ARGV[3])\n"
    "redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])\n"
    "redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[2] - 86400000)\n"
    "return 1\n";

int mt_store_heartbeat(mt_redis_t *r, const char *worker, json_t *fields, long long ttl_ms,
                       char *err, size_t errsize) {
    size_t n = json_object_size(fields);
    const char **argv = calloc(5 + 2 * n, sizeof *argv);
    char **owned = calloc(n + 1, sizeof *owned);
    char k[200], now[24], ttl[24];
    int rc = -1;
    if (!argv || !owned || n == 0) {
        snprintf(err, errsize, n ? "out of memory" : "a heartbeat needs fields");
        goto out;
    }
    snprintf(k, sizeof k, "mt:worker:%s", worker);
    snprintf(now, sizeof now, "%lld", mt_wall_ms());
    snprintf(ttl, sizeof ttl, "%lld", ttl_ms);
    int argc = 0;
    argv[argc++] = k, argv[argc++] = "mt:workers";
    argv[argc++] = worker, argv[argc++] = now, argv[argc++] = ttl;
    const char *field;
    json_t *v;
    size_t i = 0;
    json_object_foreach(fields, field, v) {
        argv[argc++] = field;
        if (json_is_string(v)) {
            argv[argc++] = json_string_value(v);
        } else {
            owned[i] = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
            argv[argc++] = owned[i] ? owned[i] : "";
            i++;
        }
    }
    redisReply *rep = run(r, heartbeat_script, 2, argc, argv, err, errsize);
    if (rep) {
        freeReplyObject(rep);
        rc = 0;
    }
out:
    for (size_t j = 0; owned && j < n; j++) free(owned[j]);
    free(owned);
    free(argv);
    return rc;
}

int mt_store_worker_gone(mt_redis_t *r, const char *worker, char *err, size_t errsize) {
    redisReply *rep = mt_redis_cmd(r, err, errsize, "DEL mt:worker:%s", worker);
    if (!rep) return -1;
    freeReplyObject(rep);
    if (!(rep = mt_redis_cmd(r, err, errsize, "ZREM mt:workers %s", worker))) return -1;
    freeReplyObject(rep);
    return 0;
}

/* KEYS: mt:workers. Returns {id, field, value, ...} per live worker, newest
 * heartbeat first; ids whose record expired (the worker died) leave the
 * index. */
static const char workers_script[] =
    "local out = {}\n"
    "for _, id in ipairs(redis.call('ZREVRANGE', KEYS[1], 0, -1)) do\n"
    "  local h = redis.call('HGETALL', 'mt:worker:' .. id)\n"
    "  if #h == 0 then\n"
    "    redis.call('ZREM', KEYS[1], id)\n"
    "  else\n"
    "    table.insert(h, 1, id)\n"
    "    out[#out + 1] = h\n"
    "  end\n"
    "end\n"
    "return out\n";

/* Fields a heartbeat writes as numbers come back as numbers. */
static json_t *heartbeat_value(const char *field, const char *v, size_t len) {
    static const char *const numeric[] = {"pid", "started_ms", "seen_ms", "threads", "running",
                                          "queued", "tasks_done", "tasks_failed", "rate", NULL};
    for (size_t k = 0; numeric[k]; k++) {
        if (strcmp(field, numeric[k]) != 0) continue;
        char *end;
        errno = 0;
        long long i = strtoll(v, &end, 10);
        if (!errno && end != v && !*end) return json_integer(i);
        double d = strtod(v, &end);
        if (end != v && !*end && isfinite(d)) return json_real(d);
    }
    return json_stringn(v, len);
}

json_t *mt_store_workers(mt_redis_t *r, char *err, size_t errsize) {
    const char *argv[] = {"mt:workers"};
    redisReply *rep = run(r, workers_script, 1, 1, argv, err, errsize);
    if (!rep) return NULL;
    json_t *a = json_array();
    for (size_t i = 0; rep->type == REDIS_REPLY_ARRAY && i < rep->elements; i++) {
        const redisReply *w = rep->element[i];
        if (w->type != REDIS_REPLY_ARRAY || w->elements < 1) continue;
        json_t *o = json_object();
        json_object_set_new(o, "id", json_stringn(w->element[0]->str, w->element[0]->len));
        for (size_t f = 1; f + 1 < w->elements; f += 2)
            json_object_set_new(o, w->element[f]->str,
                                heartbeat_value(w->element[f]->str, w->element[f + 1]->str,
                                                w->element[f + 1]->len));
        json_array_append_new(a, o);
    }
    freeReplyObject(rep);
    return a;
}

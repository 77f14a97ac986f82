/* test_config.c - mt_config (defaults, environment, shared flags, -X),
 * mt_parse_long, and the Redis address parser seen through mt_redis_new and
 * mt_redis_describe (no connection is made, so no server is needed). */
#define _POSIX_C_SOURCE 200809L
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mt_config.h"
#include "mt_log.h"
#include "mt_redis.h"
#include "suites.h"

static const char *const env_names[] = {
    "MT_BROKERS",       "MT_REDIS",      "MT_TASKS_TOPIC",
    "MT_RESULTS_TOPIC", "MT_DLQ_TOPIC",  "MT_PARTITIONS",
    "MT_REPLICATION",   "MT_UNIT_GROUP", "MT_KAFKA_CONFIG",
};

static void clear_env(void) {
    for (size_t k = 0; k < sizeof env_names / sizeof env_names[0]; k++)
        unsetenv(env_names[k]);
}

static int str_eq(const char *a, const char *b) {
    return a && b && strcmp(a, b) == 0;
}

/* ---- mt_config_init ---- */

static void test_defaults(void) {
    mt_config_t cfg;
    char err[256] = "";
    clear_env();
    CU_ASSERT_EQUAL_FATAL(mt_config_init(&cfg, NULL, NULL, err, sizeof err), 0);
    CU_ASSERT_TRUE(str_eq(cfg.brokers, "127.0.0.1:9092"));
    CU_ASSERT_TRUE(str_eq(cfg.redis, "127.0.0.1:6379"));
    CU_ASSERT_TRUE(str_eq(cfg.tasks_topic, "mt.tasks"));
    CU_ASSERT_TRUE(str_eq(cfg.results_topic, "mt.results"));
    CU_ASSERT_TRUE(str_eq(cfg.dlq_topic, "mt.dlq"));
    CU_ASSERT_PTR_NULL(cfg.group);
    CU_ASSERT_EQUAL(cfg.partitions, 12);
    CU_ASSERT_EQUAL(cfg.replication, -1);
    CU_ASSERT_EQUAL(cfg.nprops, 0);
    mt_config_free(&cfg);

    /* The default group applies when its variable is unset or empty. */
    CU_ASSERT_EQUAL_FATAL(
        mt_config_init(&cfg, "MT_UNIT_GROUP", "workers", err, sizeof err), 0);
    CU_ASSERT_TRUE(str_eq(cfg.group, "workers"));
    mt_config_free(&cfg);
    setenv("MT_UNIT_GROUP", "", 1);
    CU_ASSERT_EQUAL_FATAL(
        mt_config_init(&cfg, "MT_UNIT_GROUP", "workers", err, sizeof err), 0);
    CU_ASSERT_TRUE(str_eq(cfg.group, "workers"));
    mt_config_free(&cfg);
    /* No variable and no default: no group. */
    CU_ASSERT_EQUAL_FATAL(
        mt_config_init(&cfg, "MT_UNIT_GROUP", NULL, err, sizeof err), 0);
    CU_ASSERT_PTR_NULL(cfg.group);
    mt_config_free(&cfg);
    clear_env();
}

static void test_env_overrides(void) {
    mt_config_t cfg;
    char err[256] = "";
    clear_env();
    setenv("MT_BROKERS", "k1:9092,k2:9093", 1);
    setenv("MT_REDIS", "redis://:pw@r1:6380/2", 1);
    setenv("MT_TASKS_TOPIC", "t.in", 1);
    setenv("MT_RESULTS_TOPIC", "t.out", 1);
    setenv("MT_DLQ_TOPIC", "t.dead", 1);
    setenv("MT_PARTITIONS", "3", 1);
    setenv("MT_REPLICATION", "2", 1);
    setenv("MT_UNIT_GROUP", "g-env", 1);
    CU_ASSERT_EQUAL_FATAL(
        mt_config_init(&cfg, "MT_UNIT_GROUP", "g-default", err, sizeof err),
        0);
    CU_ASSERT_TRUE(str_eq(cfg.brokers, "k1:9092,k2:9093"));
    CU_ASSERT_TRUE(str_eq(cfg.redis, "redis://:pw@r1:6380/2"));
    CU_ASSERT_TRUE(str_eq(cfg.tasks_topic, "t.in"));
    CU_ASSERT_TRUE(str_eq(cfg.results_topic, "t.out"));
    CU_ASSERT_TRUE(str_eq(cfg.dlq_topic, "t.dead"));
    CU_ASSERT_TRUE(str_eq(cfg.group, "g-env"));
    CU_ASSERT_EQUAL(cfg.partitions, 3);
    CU_ASSERT_EQUAL(cfg.replication, 2);
    mt_config_free(&cfg);

    /* Empty variables mean "not set". */
    setenv("MT_BROKERS", "", 1);
    setenv("MT_PARTITIONS", "", 1);
    setenv("MT_REPLICATION", "", 1);
    CU_ASSERT_EQUAL_FATAL(mt_config_init(&cfg, NULL, NULL, err, sizeof err), 0);
    CU_ASSERT_TRUE(str_eq(cfg.brokers, "127.0.0.1:9092"));
    CU_ASSERT_EQUAL(cfg.partitions, 12);
    CU_ASSERT_EQUAL(cfg.replication, -1);
    CU_ASSERT_PTR_NULL(cfg.group); /* group_env NULL: no group variable */
    mt_config_free(&cfg);

    /* Bounds of the numeric variables. */
    static const struct {
        const char *name, *value;
        int ok, expect;
    } nums[] = {
        {"MT_PARTITIONS", "1", 1, 1},         {"MT_PARTITIONS", "100000", 1, 100000},
        {"MT_PARTITIONS", "0", 0, 0},         {"MT_PARTITIONS", "100001", 0, 0},
        {"MT_PARTITIONS", "-3", 0, 0},        {"MT_PARTITIONS", "abc", 0, 0},
        {"MT_PARTITIONS", "12x", 0, 0},       {"MT_PARTITIONS", "1.5", 0, 0},
        {"MT_PARTITIONS", "99999999999999999999", 0, 0},
        {"MT_REPLICATION", "-1", 1, -1},      {"MT_REPLICATION", "0", 1, 0},
        {"MT_REPLICATION", "1000", 1, 1000},  {"MT_REPLICATION", "-2", 0, 0},
        {"MT_REPLICATION", "1001", 0, 0},     {"MT_REPLICATION", "three", 0, 0},
    };
    for (size_t k = 0; k < sizeof nums / sizeof nums[0]; k++) {
        clear_env();
        setenv(nums[k].name, nums[k].value, 1);
        err[0] = '\0';
        int rc = mt_config_init(&cfg, NULL, NULL, err, sizeof err);
        if (nums[k].ok) {
            int got = strcmp(nums[k].name, "MT_PARTITIONS") == 0
                          ? cfg.partitions : cfg.replication;
            CHECKF(rc == 0 && got == nums[k].expect, "%s=%s: rc %d value %d",
                   nums[k].name, nums[k].value, rc, got);
        } else {
            CHECKF(rc == -1 && strstr(err, nums[k].name) != NULL,
                   "%s=%s: rc %d err \"%s\" (want -1 naming the variable)",
                   nums[k].name, nums[k].value, rc, err);
        }
        mt_config_free(&cfg); /* safe after a failed init too */
    }
    clear_env();
}

/* ---- mt_config_option ---- */

static void test_flags(void) {
    mt_config_t cfg;
    char err[256] = "";
    clear_env();
    setenv("MT_BROKERS", "from-env:9092", 1);
    CU_ASSERT_EQUAL_FATAL(
        mt_config_init(&cfg, "MT_UNIT_GROUP", "g0", err, sizeof err), 0);
    /* A flag beats the environment. */
    CU_ASSERT_EQUAL(mt_config_option(&cfg, MT_OPT_BROKERS, "flag:1", err, sizeof err), 1);
    CU_ASSERT_TRUE(str_eq(cfg.brokers, "flag:1"));
    CU_ASSERT_EQUAL(mt_config_option(&cfg, MT_OPT_REDIS, "r:2/3", err, sizeof err), 1);
    CU_ASSERT_TRUE(str_eq(cfg.redis, "r:2/3"));
    CU_ASSERT_EQUAL(mt_config_option(&cfg, MT_OPT_GROUP, "g1", err, sizeof err), 1);
    CU_ASSERT_TRUE(str_eq(cfg.group, "g1"));
    CU_ASSERT_EQUAL(mt_config_option(&cfg, MT_OPT_TASKS_TOPIC, "a", err, sizeof err), 1);
    CU_ASSERT_EQUAL(mt_config_option(&cfg, MT_OPT_RESULTS_TOPIC, "b", err, sizeof err), 1);
    CU_ASSERT_EQUAL(mt_config_option(&cfg, MT_OPT_DLQ_TOPIC, "c", err, sizeof err), 1);
    CU_ASSERT_TRUE(str_eq(cfg.tasks_topic, "a"));
    CU_ASSERT_TRUE(str_eq(cfg.results_topic, "b"));
    CU_ASSERT_TRUE(str_eq(cfg.dlq_topic, "c"));
    /* The last flag wins. */
    CU_ASSERT_EQUAL(mt_config_option(&cfg, MT_OPT_BROKERS, "flag:2", err, sizeof err), 1);
    CU_ASSERT_TRUE(str_eq(cfg.brokers, "flag:2"));
    /* Empty values are refused and change nothing. */
    err[0] = '\0';
    CU_ASSERT_EQUAL(mt_config_option(&cfg, MT_OPT_BROKERS, "", err, sizeof err), -1);
    CU_ASSERT_TRUE(err[0] != '\0');
    CU_ASSERT_TRUE(str_eq(cfg.brokers, "flag:2"));
    CU_ASSERT_EQUAL(mt_config_option(&cfg, MT_OPT_TASKS_TOPIC, "", err, sizeof err), -1);
    CU_ASSERT_TRUE(str_eq(cfg.tasks_topic, "a"));
    /* Not a shared option. */
    CU_ASSERT_EQUAL(mt_config_option(&cfg, 'z', "x", err, sizeof err), 0);
    CU_ASSERT_EQUAL(mt_config_option(&cfg, 5000, "x", err, sizeof err), 0);

    static const struct {
        int opt;
        const char *arg;
        int rc, expect;
    } nums[] = {
        {MT_OPT_PARTITIONS, "1", 1, 1},       {MT_OPT_PARTITIONS, "100000", 1, 100000},
        {MT_OPT_PARTITIONS, "7", 1, 7},       {MT_OPT_PARTITIONS, "0", -1, 7},
        {MT_OPT_PARTITIONS, "100001", -1, 7}, {MT_OPT_PARTITIONS, "x", -1, 7},
        {MT_OPT_PARTITIONS, "", -1, 7},       {MT_OPT_PARTITIONS, "5k", -1, 7},
        {MT_OPT_REPLICATION, "-1", 1, -1},    {MT_OPT_REPLICATION, "3", 1, 3},
        {MT_OPT_REPLICATION, "1000", 1, 1000}, {MT_OPT_REPLICATION, "-2", -1, 1000},
        {MT_OPT_REPLICATION, "1001", -1, 1000},
    };
    for (size_t k = 0; k < sizeof nums / sizeof nums[0]; k++) {
        err[0] = '\0';
        int rc = mt_config_option(&cfg, nums[k].opt, nums[k].arg, err, sizeof err);
        int got = nums[k].opt == MT_OPT_PARTITIONS ? cfg.partitions : cfg.replication;
        CHECKF(rc == nums[k].rc && got == nums[k].expect &&
                   (rc != -1 || err[0] != '\0'),
               "option %d \"%s\": rc %d value %d, want rc %d value %d",
               nums[k].opt, nums[k].arg, rc, got, nums[k].rc, nums[k].expect);
    }
    mt_config_free(&cfg);
    clear_env();
}

static void test_verbose_quiet(void) {
    mt_config_t cfg;
    char err[256];
    int saved = mt_log_level;
    clear_env();
    CU_ASSERT_EQUAL_FATAL(mt_config_init(&cfg, NULL, NULL, err, sizeof err), 0);
    mt_log_level = MT_LOG_INFO;
    CU_ASSERT_EQUAL(mt_config_option(&cfg, MT_OPT_VERBOSE, NULL, err, sizeof err), 1);
    CU_ASSERT_EQUAL(mt_log_level, MT_LOG_DEBUG);
    CU_ASSERT_EQUAL(mt_config_option(&cfg, MT_OPT_VERBOSE, NULL, err, sizeof err), 1);
    CU_ASSERT_EQUAL(mt_log_level, MT_LOG_DEBUG); /* stays at the top */
    CU_ASSERT_EQUAL(mt_config_option(&cfg, MT_OPT_QUIET, NULL, err, sizeof err), 1);
    CU_ASSERT_EQUAL(mt_log_level, MT_LOG_ERROR);
    CU_ASSERT_EQUAL(mt_config_option(&cfg, MT_OPT_VERBOSE, NULL, err, sizeof err), 1);
    CU_ASSERT_EQUAL(mt_log_level, MT_LOG_WARN);
    mt_log_level = saved;
    mt_config_free(&cfg);
}

/* ---- -X key=value ---- */

static void test_props(void) {
    mt_config_t cfg;
    char err[256];
    clear_env();
    CU_ASSERT_EQUAL_FATAL(mt_config_init(&cfg, NULL, NULL, err, sizeof err), 0);
    static const struct {
        const char *kv;
        int rc;
    } cases[] = {
        {"linger.ms=5", 1},
        {"acks=all", 1},
        {"client.id=", 1},        /* empty value */
        {"sasl.password=a=b", 1}, /* '=' inside the value */
        {"nokey", -1},
        {"=value", -1},
        {"=", -1},
        {"", -1},
        {"linger.ms=7", 1}, /* repeated keys are kept in order */
    };
    size_t expect_n = 0;
    const char *expect[16];
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        err[0] = '\0';
        int rc = mt_config_option(&cfg, MT_OPT_PROP, cases[k].kv, err, sizeof err);
        CHECKF(rc == cases[k].rc && (rc != -1 || err[0] != '\0'),
               "-X \"%s\": rc %d, want %d", cases[k].kv, rc, cases[k].rc);
        if (cases[k].rc == 1) expect[expect_n++] = cases[k].kv;
    }
    CU_ASSERT_EQUAL_FATAL(cfg.nprops, expect_n);
    for (size_t k = 0; k < expect_n; k++)
        CHECKF(str_eq(cfg.props[k], expect[k]), "props[%zu] = \"%s\", want \"%s\"",
               k, cfg.props[k] ? cfg.props[k] : "(null)", expect[k]);
    /* mt_config_add_prop directly, same rules. */
    CU_ASSERT_EQUAL(mt_config_add_prop(&cfg, "k=v", err, sizeof err), 0);
    CU_ASSERT_EQUAL(mt_config_add_prop(&cfg, "kv", err, sizeof err), -1);
    CU_ASSERT_EQUAL(cfg.nprops, expect_n + 1);
    CU_ASSERT_TRUE(str_eq(cfg.props[expect_n], "k=v"));
    mt_config_free(&cfg);
    CU_ASSERT_EQUAL(cfg.nprops, 0);
    CU_ASSERT_PTR_NULL(cfg.props);
}

/* -F FILE and MT_KAFKA_CONFIG: kcat's properties file format. */
static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs(text, f);
    fclose(f);
}

static void test_props_file(void) {
    mt_config_t cfg;
    char err[256], path[] = "/tmp/mt-props-XXXXXX";
    int fd = mkstemp(path);
    CU_ASSERT_FATAL(fd >= 0);
    close(fd);
    write_file(path, "# a comment\n\n  security.protocol = SASL_SSL \r\n"
                     "sasl.password=p=w # kept\n\t# indented comment\nlinger.ms=7");
    clear_env();
    setenv("MT_KAFKA_CONFIG", path, 1);
    CU_ASSERT_EQUAL_FATAL(mt_config_init(&cfg, NULL, NULL, err, sizeof err), 0);
    const char *want[] = {"security.protocol=SASL_SSL", "sasl.password=p=w # kept",
                          "linger.ms=7", "linger.ms=9", "security.protocol=SASL_SSL"};
    CU_ASSERT_EQUAL(mt_config_option(&cfg, MT_OPT_PROP, "linger.ms=9", err, sizeof err), 1);
    write_file(path, "security.protocol=SASL_SSL\n");
    CU_ASSERT_EQUAL(mt_config_option(&cfg, MT_OPT_PROPS_FILE, path, err, sizeof err), 1);
    CU_ASSERT_EQUAL_FATAL(cfg.nprops, 5);
    for (size_t k = 0; k < 5; k++)
        CHECKF(str_eq(cfg.props[k], want[k]), "props[%zu] = \"%s\", want \"%s\"", k,
               cfg.props[k], want[k]);
    /* a line without '=' names the file and line; the lines before it stay */
    write_file(path, "a=1\n\nbroken line\nb=2\n");
    CU_ASSERT_EQUAL(mt_config_option(&cfg, MT_OPT_PROPS_FILE, path, err, sizeof err), -1);
    char where[64];
    snprintf(where, sizeof where, "%s:3:", path);
    CHECKF(strstr(err, where) != NULL, "error \"%s\" does not say %s", err, where);
    CU_ASSERT_EQUAL(cfg.nprops, 6);
    mt_config_free(&cfg);
    unlink(path);
    /* a missing file, given in the environment, stops the program */
    CU_ASSERT_EQUAL(mt_config_init(&cfg, NULL, NULL, err, sizeof err), -1);
    CHECKF(strstr(err, path) && strstr(err, "No such file"), "error \"%s\"", err);
    mt_config_free(&cfg);
    clear_env();
}

/* -X list prints librdkafka's property table to stdout and asks the program
 * to exit 0. stdout goes to /dev/null meanwhile. */
static void test_prop_list(void) {
    mt_config_t cfg;
    char err[256];
    clear_env();
    CU_ASSERT_EQUAL_FATAL(mt_config_init(&cfg, NULL, NULL, err, sizeof err), 0);
    fflush(stdout);
    int saved = dup(STDOUT_FILENO);
    FILE *null = fopen("/dev/null", "w");
    CU_ASSERT_FATAL(saved >= 0 && null != NULL);
    dup2(fileno(null), STDOUT_FILENO);
    int rc = mt_config_option(&cfg, MT_OPT_PROP, "list", err, sizeof err);
    fflush(stdout);
    dup2(saved, STDOUT_FILENO);
    close(saved);
    fclose(null);
    CU_ASSERT_EQUAL(rc, 2);
    CU_ASSERT_EQUAL(cfg.nprops, 0);
    mt_config_free(&cfg);
}

static void test_config_free_reinit(void) {
    mt_config_t cfg;
    char err[256];
    clear_env();
    CU_ASSERT_EQUAL_FATAL(mt_config_init(&cfg, NULL, "g", err, sizeof err), 0);
    CU_ASSERT_EQUAL(mt_config_add_prop(&cfg, "a=b", err, sizeof err), 0);
    mt_config_free(&cfg);
    CU_ASSERT_PTR_NULL(cfg.brokers);
    CU_ASSERT_PTR_NULL(cfg.group);
    CU_ASSERT_EQUAL_FATAL(mt_config_init(&cfg, NULL, NULL, err, sizeof err), 0);
    CU_ASSERT_TRUE(str_eq(cfg.brokers, "127.0.0.1:9092"));
    CU_ASSERT_EQUAL(cfg.nprops, 0);
    mt_config_free(&cfg);
}

/* ---- mt_parse_long ---- */

static void test_parse_long(void) {
    static const struct {
        const char *s;
        long min, max;
        int rc;
        long v;
    } cases[] = {
        {"0", 0, 10, 0, 0},
        {"10", 0, 10, 0, 10},
        {"11", 0, 10, -1, 0},
        {"-1", 0, 10, -1, 0},
        {"-1", -1, 10, 0, -1},
        {"-5", -10, -1, 0, -5},
        {"0", -10, -1, -1, 0},
        {"42", 42, 42, 0, 42},
        {"41", 42, 42, -1, 0},
        {"43", 42, 42, -1, 0},
        {"9223372036854775807", LONG_MIN, LONG_MAX, 0, LONG_MAX},
        {"-9223372036854775808", LONG_MIN, LONG_MAX, 0, LONG_MIN},
        {"9223372036854775808", LONG_MIN, LONG_MAX, -1, 0},   /* overflow */
        {"-9223372036854775809", LONG_MIN, LONG_MAX, -1, 0},  /* underflow */
        {"99999999999999999999999", 0, LONG_MAX, -1, 0},
        {"", 0, 10, -1, 0},
        {"abc", 0, 10, -1, 0},
        {"5x", 0, 10, -1, 0},
        {"5 ", 0, 10, -1, 0},
        {"1.0", 0, 10, -1, 0},
        {"0x5", 0, 10, -1, 0},
        {"-", 0, 10, -1, 0},
        {"007", 0, 10, 0, 7},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        long v = 12345;
        int rc = mt_parse_long(cases[k].s, cases[k].min, cases[k].max, &v);
        CHECKF(rc == cases[k].rc && (rc != 0 || v == cases[k].v),
               "mt_parse_long(\"%s\", %ld, %ld): rc %d value %ld, want rc %d "
               "value %ld",
               cases[k].s, cases[k].min, cases[k].max, rc, v, cases[k].rc,
               cases[k].v);
        if (rc != 0)
            CHECKF(v == 12345, "mt_parse_long(\"%s\") wrote *out on failure",
                   cases[k].s);
    }
    long v;
    CU_ASSERT_EQUAL(mt_parse_long(NULL, 0, 10, &v), -1);
}

/* ---- Redis addresses ---- */

static void test_redis_addresses(void) {
    static const struct {
        const char *addr, *shown;
    } good[] = {
        {"127.0.0.1:6379", "127.0.0.1:6379/0"},
        {"localhost:6380", "localhost:6380/0"},
        {"redis.example.com:1", "redis.example.com:1/0"},
        {"h:65535", "h:65535/0"},
        {"h:6379/0", "h:6379/0"},
        {"h:6379/5", "h:6379/5"},
        {"h:6379/15", "h:6379/15"},
        {"h:6379/100000", "h:6379/100000"},
        {"redis://h:6379", "h:6379/0"},
        {"redis://h", "h:6379/0"},
        {"redis://h/4", "h:6379/4"},
        {"redis://h:7000/2", "h:7000/2"},
        {"redis://:s3cret@h:6379/3", "h:6379/3 (with password)"},
        {"redis://user:s3cret@h:6390", "h:6390/0 (user user, with password)"},
        {"redis://:p@ss@h:1/1", "h:1/1 (with password)"},
    };
    char err[512];
    for (size_t k = 0; k < sizeof good / sizeof good[0]; k++) {
        err[0] = '\0';
        mt_redis_t *r = mt_redis_new(good[k].addr, 1000, err, sizeof err);
        CHECKF(r != NULL, "mt_redis_new(\"%s\") failed: %s", good[k].addr, err);
        if (!r) continue;
        const char *shown = mt_redis_describe(r);
        CHECKF(str_eq(shown, good[k].shown), "describe(\"%s\") = \"%s\", want \"%s\"",
               good[k].addr, shown ? shown : "(null)", good[k].shown);
        CHECKF(!strstr(shown, "s3cret") && !strstr(shown, "p@ss"),
               "describe(\"%s\") shows the password", good[k].addr);
        mt_redis_destroy(r);
    }
    mt_redis_destroy(NULL);
}

/* An IPv6 literal in brackets: the host is ::1. How it is shown may keep
 * the brackets or not; the port and database must be right. */
static void test_redis_ipv6(void) {
    static const struct {
        const char *addr, *host_port_db[2];
    } cases[] = {
        {"[::1]:6379", {"[::1]:6379/0", "::1:6379/0"}},
        {"[::1]", {"[::1]:6379/0", "::1:6379/0"}},
        {"[fe80::1]:7000/3", {"[fe80::1]:7000/3", "fe80::1:7000/3"}},
        {"redis://:pw@[::1]:6380/1",
         {"[::1]:6380/1 (with password)", "::1:6380/1 (with password)"}},
    };
    char err[512];
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        err[0] = '\0';
        mt_redis_t *r = mt_redis_new(cases[k].addr, 1000, err, sizeof err);
        CHECKF(r != NULL, "mt_redis_new(\"%s\") failed: %s", cases[k].addr, err);
        if (!r) continue;
        const char *shown = mt_redis_describe(r);
        CHECKF(str_eq(shown, cases[k].host_port_db[0]) ||
                   str_eq(shown, cases[k].host_port_db[1]),
               "describe(\"%s\") = \"%s\", want \"%s\"", cases[k].addr, shown,
               cases[k].host_port_db[0]);
        mt_redis_destroy(r);
    }
}

static void test_redis_bad_addresses(void) {
    char longhost[400];
    memset(longhost, 'h', 300);
    strcpy(longhost + 300, ":6379");
    const char *bad[] = {
        "",
        ":6379",
        "h:",
        "h:0",
        "h:65536",
        "h:-1",
        "h:abc",
        "h:6379x",
        "h:1234567",
        "h:6379/x",
        "h:6379/-1",
        "h:6379/100001",
        "h:6379/1/2",
        "/3",
        "redis://",
        "redis://:6379",
        "redis://:pw@",
        "redis://:pw@:6379",
        "redis://h:",
        "redis://h:99999",
        "[::1",
        "[::1]x",
        "[::1]:",
        "[::1]:0",
        "[::1]:65536",
        "[::1]6379",
        longhost,
    };
    char err[512];
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        err[0] = '\0';
        mt_redis_t *r = mt_redis_new(bad[k], 1000, err, sizeof err);
        CHECKF(r == NULL && err[0] != '\0',
               "mt_redis_new(\"%.60s\") accepted a malformed address as \"%s\"",
               bad[k], r ? mt_redis_describe(r) : "");
        mt_redis_destroy(r);
    }
}

int register_config_suite(void) {
    static const unit_test_t tests[] = {
        {"defaults", test_defaults},
        {"environment overrides", test_env_overrides},
        {"shared flags", test_flags},
        {"verbose and quiet", test_verbose_quiet},
        {"-X key=value", test_props},
        {"-X list", test_prop_list},
        {"-F properties file", test_props_file},
        {"free then init again", test_config_free_reinit},
        {"mt_parse_long bounds", test_parse_long},
        {"Redis addresses", test_redis_addresses},
        {"Redis IPv6 addresses", test_redis_ipv6},
        {"malformed Redis addresses", test_redis_bad_addresses},
        {NULL, NULL},
    };
    return unit_add_suite("config", tests);
}

/* mt_config.h - settings shared by every program, and where they come from.
 *
 * Precedence, as in kcat: command-line flag > environment variable >
 * built-in default. Defaults talk to a local broker and Redis, so the
 * programs work with no flags at all against `make up`. */
#ifndef MT_CONFIG_H
#define MT_CONFIG_H

#include <getopt.h>
#include <stddef.h>
#include <stdio.h>

#define MT_VERSION "0.1.0"

#define MT_DEFAULT_BROKERS "127.0.0.1:9092"
#define MT_DEFAULT_REDIS "127.0.0.1:6379"
#define MT_DEFAULT_TASKS_TOPIC "mt.tasks"
#define MT_DEFAULT_RESULTS_TOPIC "mt.results"
#define MT_DEFAULT_DLQ_TOPIC "mt.dlq"
#define MT_DEFAULT_PRIORITY_TOPIC "mt.tasks.high"
#define MT_DEFAULT_PARTITIONS 12

typedef struct mt_config {
    char *brokers;        /* MT_BROKERS, -b/--brokers */
    char *redis;          /* MT_REDIS, -r/--redis: host:port[/db] or URL */
    char *tasks_topic;    /* MT_TASKS_TOPIC, --tasks-topic */
    char *results_topic;  /* MT_RESULTS_TOPIC, --results-topic */
    char *dlq_topic;      /* MT_DLQ_TOPIC, --dlq-topic */
    char *priority_topic; /* MT_PRIORITY_TOPIC, --priority-topic */
    char *group;          /* -g/--group: consumer group (see mt_config_init) */
    int partitions;       /* MT_PARTITIONS, --partitions: for new topics */
    int replication;      /* MT_REPLICATION, --replication: -1 = broker's */
    char **props;         /* -X key=value, in order given */
    size_t nprops;
    char **plugins;       /* MT_PLUGINS (colon-separated), --plugin: .so paths */
    size_t nplugins;
    char *metrics_addr;   /* MT_METRICS_PORT, --metrics-port: [HOST:]PORT or NULL */
} mt_config_t;

/* Codes of the shared long options, above any single-character option. */
enum {
    MT_OPT_BROKERS = 'b',
    MT_OPT_REDIS = 'r',
    MT_OPT_PROP = 'X',
    MT_OPT_PROPS_FILE = 'F',
    MT_OPT_GROUP = 'g',
    MT_OPT_VERBOSE = 'v',
    MT_OPT_QUIET = 'q',
    MT_OPT_HELP = 'h',
    MT_OPT_TASKS_TOPIC = 1000,
    MT_OPT_RESULTS_TOPIC,
    MT_OPT_DLQ_TOPIC,
    MT_OPT_PARTITIONS,
    MT_OPT_REPLICATION,
    MT_OPT_VERSION,
    MT_OPT_PRIORITY_TOPIC,
    MT_OPT_PLUGIN,
    MT_OPT_METRICS_PORT,
    MT_OPT_LOG_FORMAT,
};

/* The shared options for a getopt_long table, and their short letters. */
#define MT_CONFIG_LONGOPTS                                                     \
    {"brokers", required_argument, NULL, MT_OPT_BROKERS},                      \
    {"redis", required_argument, NULL, MT_OPT_REDIS},                          \
    {"tasks-topic", required_argument, NULL, MT_OPT_TASKS_TOPIC},              \
    {"results-topic", required_argument, NULL, MT_OPT_RESULTS_TOPIC},          \
    {"dlq-topic", required_argument, NULL, MT_OPT_DLQ_TOPIC},                  \
    {"priority-topic", required_argument, NULL, MT_OPT_PRIORITY_TOPIC},        \
    {"plugin", required_argument, NULL, MT_OPT_PLUGIN},                        \
    {"kafka-config", required_argument, NULL, MT_OPT_PROPS_FILE},              \
    {"partitions", required_argument, NULL, MT_OPT_PARTITIONS},                \
    {"replication", required_argument, NULL, MT_OPT_REPLICATION},              \
    {"verbose", no_argument, NULL, MT_OPT_VERBOSE},                            \
    {"quiet", no_argument, NULL, MT_OPT_QUIET},                                \
    {"help", no_argument, NULL, MT_OPT_HELP},                                  \
    {"version", no_argument, NULL, MT_OPT_VERSION}
#define MT_CONFIG_SHORTOPTS "b:r:X:F:vqh"

/* Options of the long-running programs (producer, consumer, aggregator). */
#define MT_SERVICE_LONGOPTS                                                    \
    {"metrics-port", required_argument, NULL, MT_OPT_METRICS_PORT},            \
    {"log-format", required_argument, NULL, MT_OPT_LOG_FORMAT}
#define MT_SERVICE_HELP                                                        \
    "      --metrics-port [HOST:]PORT\n"                                      \
    "                          serve Prometheus metrics at http://HOST:PORT/metrics\n" \
    "                          (MT_METRICS_PORT; off)\n"                     \
    "      --log-format FMT    log lines as text or json (MT_LOG_FORMAT; text)\n"

/* Help text for the shared options, for each program's usage(). */
#define MT_CONFIG_HELP                                                         \
    "  -b, --brokers LIST      Kafka bootstrap servers (MT_BROKERS; " MT_DEFAULT_BROKERS ")\n" \
    "  -r, --redis ADDR        Redis: host:port[/db], or\n"                  \
    "                          redis://[[user]:password@]host[:port][/db]\n" \
    "                          (MT_REDIS; " MT_DEFAULT_REDIS ")\n"           \
    "  -X key=value            set a librdkafka property; -X list shows them all\n" \
    "  -F, --kafka-config FILE librdkafka properties from a file, key=value per\n" \
    "                          line, # comments (as kcat -F; MT_KAFKA_CONFIG)\n" \
    "      --tasks-topic T     tasks topic (MT_TASKS_TOPIC; " MT_DEFAULT_TASKS_TOPIC ")\n" \
    "      --results-topic T   results topic (MT_RESULTS_TOPIC; " MT_DEFAULT_RESULTS_TOPIC ")\n" \
    "      --dlq-topic T       dead-letter topic (MT_DLQ_TOPIC; " MT_DEFAULT_DLQ_TOPIC ")\n" \
    "      --priority-topic T  tasks topic of high-priority jobs\n"          \
    "                          (MT_PRIORITY_TOPIC; " MT_DEFAULT_PRIORITY_TOPIC ")\n" \
    "      --plugin PATH       load an op from a shared object (repeatable;\n" \
    "                          MT_PLUGINS: paths separated by ':')\n"      \
    "      --partitions N      partitions of topics created (MT_PARTITIONS; 12)\n" \
    "      --replication N     replication factor of topics created\n"       \
    "                          (MT_REPLICATION; broker default)\n"          \
    "  -v, --verbose           more log output (repeat for debug)\n"         \
    "  -q, --quiet             errors only\n"                                \
    "  -h, --help              this help\n"                                  \
    "      --version           versions of microtask and its libraries\n"

/* Fills cfg with defaults overridden by the environment. The consumer group
 * comes from the variable group_env, else default_group (both may be NULL).
 * Returns 0, or -1 with a message in err (a malformed variable, or out of
 * memory). */
int mt_config_init(mt_config_t *cfg, const char *group_env,
                   const char *default_group, char *err, size_t errsize);

/* Frees what cfg holds; cfg can be initialised again. */
void mt_config_free(mt_config_t *cfg);

/* Applies one shared option. Returns 1 when handled, 0 when opt is not a
 * shared option (--help and --version are left to the program), 2 when the
 * program should exit 0 (-X list: the text was printed to stdout), or -1
 * with a message in err. */
int mt_config_option(mt_config_t *cfg, int opt, const char *arg, char *err,
                     size_t errsize);

/* Loads every plugin of cfg->plugins (see mt_plugin.h). Returns 0, or -1
 * with a message naming the plugin that failed. */
int mt_config_load_plugins(const mt_config_t *cfg, char *err, size_t errsize);

/* Adds a librdkafka property given as "key=value". Returns 0 or -1. */
int mt_config_add_prop(mt_config_t *cfg, const char *kv, char *err,
                       size_t errsize);

/* Adds the properties of a kcat-style file (key=value lines, '#'
 * comments): -F and MT_KAFKA_CONFIG. Returns 0, or -1 with the file and
 * line in err. */
int mt_config_load_props(mt_config_t *cfg, const char *path, char *err, size_t errsize);

/* Prints the versions of microtask and its libraries. */
void mt_config_print_version(FILE *out, const char *progname);

/* Parses a whole decimal number in [min, max]: digits with an optional
 * leading '-', nothing else. Returns 0, or -1. */
int mt_parse_long(const char *s, long min, long max, long *out);

#endif

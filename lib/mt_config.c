/* mt_config.c - defaults, environment and shared flags (see mt_config.h). */
#define _POSIX_C_SOURCE 200809L
#include "mt_config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>

#include "mt_log.h"

int mt_parse_long(const char *s, long min, long max, long *out) {
    char *end;
    if (!s || !((*s >= '0' && *s <= '9') || (*s == '-' && s[1] >= '0' && s[1] <= '9')))
        return -1;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < min || v > max) return -1;
    *out = v;
    return 0;
}

/* Replaces *slot with a copy of value. */
static int set_str(char **slot, const char *value) {
    char *copy = strdup(value);
    if (!copy) return -1;
    free(*slot);
    *slot = copy;
    return 0;
}

static int set_int(int *slot, const char *value, long min, long max,
                   const char *what, char *err, size_t errsize) {
    long v;
    if (mt_parse_long(value, min, max, &v) != 0) {
        snprintf(err, errsize, "%s must be a whole number from %ld to %ld",
                 what, min, max);
        return -1;
    }
    *slot = (int)v;
    return 0;
}

/* Takes over path. */
static int add_plugin(mt_config_t *cfg, char *path) {
    char **list = realloc(cfg->plugins, (cfg->nplugins + 1) * sizeof *list);
    if (!list) return -1;
    cfg->plugins = list;
    list[cfg->nplugins++] = path;
    return 0;
}

int mt_config_init(mt_config_t *cfg, const char *group_env,
                   const char *default_group, char *err, size_t errsize) {
    static const struct {
        const char *env;
        size_t field;
        const char *def;
    } strings[] = {
        {"MT_BROKERS", offsetof(mt_config_t, brokers), MT_DEFAULT_BROKERS},
        {"MT_REDIS", offsetof(mt_config_t, redis), MT_DEFAULT_REDIS},
        {"MT_TASKS_TOPIC", offsetof(mt_config_t, tasks_topic), MT_DEFAULT_TASKS_TOPIC},
        {"MT_RESULTS_TOPIC", offsetof(mt_config_t, results_topic), MT_DEFAULT_RESULTS_TOPIC},
        {"MT_DLQ_TOPIC", offsetof(mt_config_t, dlq_topic), MT_DEFAULT_DLQ_TOPIC},
        {"MT_PRIORITY_TOPIC", offsetof(mt_config_t, priority_topic),
         MT_DEFAULT_PRIORITY_TOPIC},
    };
    memset(cfg, 0, sizeof *cfg);
    cfg->partitions = MT_DEFAULT_PARTITIONS;
    cfg->replication = -1;
    for (size_t k = 0; k < sizeof strings / sizeof strings[0]; k++) {
        char **slot = (char **)((char *)cfg + strings[k].field);
        const char *v = getenv(strings[k].env);
        if (!v || !*v) v = strings[k].def;
        if (set_str(slot, v) != 0) goto oom;
    }
    const char *p = group_env ? getenv(group_env) : NULL;
    if ((p && *p) || default_group)
        if (set_str(&cfg->group, p && *p ? p : default_group) != 0) goto oom;
    /* MT_PLUGINS: paths separated by ':', like PATH */
    for (p = getenv("MT_PLUGINS"); p && *p;) {
        const char *colon = strchr(p, ':');
        size_t len = colon ? (size_t)(colon - p) : strlen(p);
        if (len) {
            char *path = strndup(p, len);
            if (!path || add_plugin(cfg, path) != 0) {
                free(path);
                goto oom;
            }
        }
        p = colon ? colon + 1 : p + len;
    }
    p = getenv("MT_KAFKA_CONFIG");
    if (p && *p && mt_config_load_props(cfg, p, err, errsize) != 0) return -1;
    p = getenv("MT_METRICS_PORT");
    if (p && *p && set_str(&cfg->metrics_addr, p) != 0) goto oom;
    p = getenv("MT_LOG_FORMAT");
    if (p && *p && mt_log_set_format(p) != 0) {
        snprintf(err, errsize, "MT_LOG_FORMAT must be text or json");
        return -1;
    }
    p = getenv("MT_PARTITIONS");
    if (p && *p &&
        set_int(&cfg->partitions, p, 1, 100000, "MT_PARTITIONS", err, errsize))
        return -1;
    p = getenv("MT_REPLICATION");
    if (p && *p &&
        set_int(&cfg->replication, p, -1, 1000, "MT_REPLICATION", err, errsize))
        return -1;
    return 0;
oom:
    snprintf(err, errsize, "out of memory");
    return -1;
}

void mt_config_free(mt_config_t *cfg) {
    free(cfg->brokers);
    free(cfg->redis);
    free(cfg->tasks_topic);
    free(cfg->results_topic);
    free(cfg->dlq_topic);
    free(cfg->priority_topic);
    free(cfg->group);
    free(cfg->metrics_addr);
    for (size_t k = 0; k < cfg->nplugins; k++) free(cfg->plugins[k]);
    free(cfg->plugins);
    for (size_t k = 0; k < cfg->nprops; k++) free(cfg->props[k]);
    free(cfg->props);
    memset(cfg, 0, sizeof *cfg);
}

int mt_config_add_prop(mt_config_t *cfg, const char *kv, char *err,
                       size_t errsize) {
    const char *eq = strchr(kv, '=');
    if (!eq || eq == kv) {
        snprintf(err, errsize, "-X wants key=value, got \"%s\"", kv);
        return -1;
    }
    char **props = realloc(cfg->props, (cfg->nprops + 1) * sizeof *props);
    if (!props) goto oom;
    cfg->props = props;
    if (!(props[cfg->nprops] = strdup(kv))) goto oom;
    cfg->nprops++;
    return 0;
oom:
    snprintf(err, errsize, "out of memory");
    return -1;
}

/* A properties file as kcat -F reads it: key=value per line, blank lines
 * and lines starting with '#' skipped, spaces around key and value
 * trimmed. Passwords belong in such a file (mode 0600, or a container
 * secret), not on a command line that ps shows everyone. */
int mt_config_load_props(mt_config_t *cfg, const char *path, char *err, size_t errsize) {
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errsize, "Kafka properties file %s: %s", path, strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int lineno = 0, rc = 0;
    while (rc == 0 && (len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        char *s = line, *end = line + len;
        while (s < end && isspace((unsigned char)*s)) s++;
        while (end > s && isspace((unsigned char)end[-1])) end--;
        *end = '\0';
        if (!*s || *s == '#') continue;
        char *eq = strchr(s, '=');
        if (!eq || eq == s) {
            snprintf(err, errsize, "%s:%d: wants key=value", path, lineno);
            rc = -1;
            break;
        }
        char *key_end = eq, *value = eq + 1;
        while (key_end > s && isspace((unsigned char)key_end[-1])) key_end--;
        while (isspace((unsigned char)*value)) value++;
        *key_end = '\0';
        size_t klen = strlen(s), vlen = strlen(value);
        char *kv = malloc(klen + vlen + 2);
        if (!kv) {
            snprintf(err, errsize, "out of memory");
            rc = -1;
            break;
        }
        memcpy(kv, s, klen);
        kv[klen] = '=';
        memcpy(kv + klen + 1, value, vlen + 1);
        rc = mt_config_add_prop(cfg, kv, err, errsize);
        free(kv);
    }
    if (rc == 0 && ferror(f)) {
        snprintf(err, errsize, "%s: %s", path, strerror(errno));
        rc = -1;
    }
    free(line);
    fclose(f);
    return rc;
}

void mt_config_print_version(FILE *out, const char *progname) {
    fprintf(out, "%s (microtask) %s\nlibrdkafka %s, hiredis %d.%d.%d, jansson %s\n",
            progname, MT_VERSION, rd_kafka_version_str(), HIREDIS_MAJOR,
            HIREDIS_MINOR, HIREDIS_PATCH, JANSSON_VERSION);
}

int mt_config_option(mt_config_t *cfg, int opt, const char *arg, char *err,
                     size_t errsize) {
    char **slot = NULL;
    switch (opt) {
    case MT_OPT_BROKERS: slot = &cfg->brokers; break;
    case MT_OPT_REDIS: slot = &cfg->redis; break;
    case MT_OPT_GROUP: slot = &cfg->group; break;
    case MT_OPT_TASKS_TOPIC: slot = &cfg->tasks_topic; break;
    case MT_OPT_RESULTS_TOPIC: slot = &cfg->results_topic; break;
    case MT_OPT_DLQ_TOPIC: slot = &cfg->dlq_topic; break;
    case MT_OPT_PRIORITY_TOPIC: slot = &cfg->priority_topic; break;
    case MT_OPT_METRICS_PORT: slot = &cfg->metrics_addr; break;
    case MT_OPT_LOG_FORMAT:
        if (mt_log_set_format(arg) == 0) return 1;
        snprintf(err, errsize, "--log-format must be text or json");
        return -1;
    case MT_OPT_PLUGIN: {
        char *path = strdup(arg);
        if (!path || add_plugin(cfg, path) != 0) {
            free(path);
            snprintf(err, errsize, "out of memory");
            return -1;
        }
        return 1;
    }
    case MT_OPT_PARTITIONS:
        return set_int(&cfg->partitions, arg, 1, 100000, "--partitions", err,
                       errsize) ? -1 : 1;
    case MT_OPT_REPLICATION:
        return set_int(&cfg->replication, arg, -1, 1000, "--replication", err,
                       errsize) ? -1 : 1;
    case MT_OPT_PROPS_FILE:
        return mt_config_load_props(cfg, arg, err, errsize) ? -1 : 1;
    case MT_OPT_PROP:
        if (strcmp(arg, "list") == 0) {
            rd_kafka_conf_properties_show(stdout);
            return 2;
        }
        return mt_config_add_prop(cfg, arg, err, errsize) ? -1 : 1;
    case MT_OPT_VERBOSE:
        mt_log_level = mt_log_level < MT_LOG_DEBUG ? mt_log_level + 1 : MT_LOG_DEBUG;
        return 1;
    case MT_OPT_QUIET:
        mt_log_level = MT_LOG_ERROR;
        return 1;
    default:
        return 0;
    }
    if (!*arg) {
        snprintf(err, errsize, "an empty value is not allowed here");
        return -1;
    }
    if (set_str(slot, arg) != 0) {
        snprintf(err, errsize, "out of memory");
        return -1;
    }
    return 1;
}

/* mt-consumer - a worker in the consumer group that runs micro-tasks.
 *
 * Options and signals only; the engine (poll, map threads, results,
 * offsets, rebalances) is worker.c. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "mt_config.h"
#include "mt_log.h"
#include "mt_metrics.h"
#include "mt_signal.h"
#include "worker.h"

static _Noreturn void usage(const char *reason) {
    FILE *out = reason ? stderr : stdout;
    if (reason) { /* the error alone: the full text is one --help away */
        if (*reason) fprintf(stderr, "mt-consumer: %s\n", reason); /* "": getopt said it */
        fprintf(stderr, "Try 'mt-consumer --help' for more information.\n");
        exit(1);
    }
    fprintf(out,
        "Usage: mt-consumer [options]\n"
        "Joins the consumer group and runs micro-tasks from the tasks topic until\n"
        "SIGINT or SIGTERM, then finishes running tasks (or hands them back),\n"
        "commits and leaves the group.\n\n"
        "  -g, --group NAME        consumer group (MT_GROUP; mt-workers)\n"
        "  -t, --threads N         tasks run at once (MT_THREADS; number of CPUs)\n"
        "      --prefetch N        tasks queued before fetching pauses (10000)\n"
        "      --revoke-wait MS    on rebalance, wait this long for running tasks (5000)\n"
        "      --stop-wait MS      on shutdown, wait this long for running tasks (10000)\n"
        "      --retries N         run a failed task again up to N times (2), then\n"
        "                          dead-letter it and count it as failed\n"
        "      --retry-backoff MS  pause before the first retry, doubled each time (200)\n"
        "      --heartbeat MS      renew this worker's record in Redis (mtctl workers)\n"
        "                          this often (2000); it expires after 5 missed beats\n"
        MT_SERVICE_HELP "\n%s",
        MT_CONFIG_HELP);
    exit(reason ? 1 : 0);
}

static int number(const char *s, long min, long max, const char *what) {
    long v;
    if (mt_parse_long(s, min, max, &v) != 0) {
        char msg[128];
        snprintf(msg, sizeof msg, "%s must be a whole number from %ld to %ld", what, min, max);
        usage(msg);
    }
    return (int)v;
}

int main(int argc, char **argv) {
    static const struct option longopts[] = {
        MT_CONFIG_LONGOPTS,
        MT_SERVICE_LONGOPTS,
        {"heartbeat", required_argument, NULL, 'H'},
        {"group", required_argument, NULL, 'g'},
        {"threads", required_argument, NULL, 't'},
        {"prefetch", required_argument, NULL, 'P'},
        {"revoke-wait", required_argument, NULL, 'R'},
        {"stop-wait", required_argument, NULL, 'S'},
        {"retries", required_argument, NULL, 'T'},
        {"retry-backoff", required_argument, NULL, 'B'},
        {NULL, 0, NULL, 0},
    };
    mt_config_t cfg;
    worker_opts_t opts = {0};
    char err[512];
    int opt, rc;

    mt_log_init("mt-consumer");
    if (mt_config_init(&cfg, "MT_GROUP", "mt-workers", err, sizeof err)) usage(err);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    opts.threads = cpus > 0 && cpus < 64 ? (int)cpus : 2;
    opts.prefetch = 10000;
    opts.max_bytes = 64u << 20;
    opts.revoke_wait_ms = 5000;
    opts.stop_wait_ms = 10000;
    opts.retries = 2;
    opts.retry_backoff_ms = 200;
    opts.heartbeat_ms = 2000;
    const char *env = getenv("MT_THREADS");
    if (env && *env) opts.threads = number(env, 1, 256, "MT_THREADS");
    while ((opt = getopt_long(argc, argv, MT_CONFIG_SHORTOPTS "g:t:", longopts,
                              NULL)) != -1) {
        switch (opt) {
        case 't': opts.threads = number(optarg, 1, 256, "--threads"); break;
        case 'P': opts.prefetch = number(optarg, 1, 1000000, "--prefetch"); break;
        case 'R': opts.revoke_wait_ms = number(optarg, 0, 3600000, "--revoke-wait"); break;
        case 'S': opts.stop_wait_ms = number(optarg, 0, 3600000, "--stop-wait"); break;
        case 'T': opts.retries = number(optarg, 0, 20, "--retries"); break;
        case 'H': opts.heartbeat_ms = number(optarg, 100, 600000, "--heartbeat"); break;
        case 'B': opts.retry_backoff_ms = number(optarg, 0, 600000, "--retry-backoff"); break;
        case MT_OPT_HELP: usage(NULL);
        case MT_OPT_VERSION: mt_config_print_version(stdout, "mt-consumer"); return 0;
        case '?': usage("");
        default:
            rc = mt_config_option(&cfg, opt, optarg, err, sizeof err);
            if (rc == 2) return 0;
            if (rc != 1) usage(rc < 0 ? err : "unknown option");
        }
    }
    if (optind < argc) usage("unexpected argument");

    if (mt_config_load_plugins(&cfg, err, sizeof err) != 0) {
        mt_err("%s", err);
        mt_config_free(&cfg);
        return 1;
    }
    mt_signal_install();
    /* before the Kafka clients exist, so they report their statistics */
    if (cfg.metrics_addr) {
        int port = mt_metrics_serve(cfg.metrics_addr, err, sizeof err);
        if (port < 0) {
            mt_err("%s", err);
            mt_config_free(&cfg);
            return 1;
        }
        mt_info("metrics on port %d at /metrics", port);
    }

    worker_t *w = worker_new(&cfg, &opts, err, sizeof err);
    if (!w) {
        /* SIGTERM before it could start: nothing was taken, nothing lost */
        if (mt_stop_requested) mt_info("stopped before joining the group (%s)", err);
        else mt_err("%s", err);
        mt_metrics_reset();
        mt_config_free(&cfg);
        return mt_stop_requested ? 0 : 1;
    }
    int status = worker_run(w, &mt_stop_requested) == 0 ? 0 : 1;
    worker_destroy(w);
    mt_metrics_reset();
    mt_config_free(&cfg);
    return status;
}

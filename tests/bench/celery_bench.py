"""The Celery side of the tiny-task benchmark: the same work as microtask's
stats op (count, sum, min, max, mean and variance of 100 numbers a task),
merged by a chord callback with the same pairwise (Chan et al.) rule, on
Celery 5 with Redis as both broker and result backend.

    python celery_bench.py worker            # a prefork worker, 2 processes
    python celery_bench.py run NUMBERS N     # submit N tasks, wait, print JSON

MT_BENCH_CELERY_REDIS picks the Redis database (a bench one by default)."""
import json
import math
import os
import sys
import time

from celery import Celery, chord

REDIS = os.environ.get("MT_BENCH_CELERY_REDIS", "redis://127.0.0.1:6379/12")
app = Celery("celery_bench", broker=REDIS, backend=REDIS)
app.conf.update(
    task_serializer="json", result_serializer="json", accept_content=["json"],
    # what a user tuning for many small tasks would set
    worker_prefetch_multiplier=64, task_acks_late=False, result_expires=3600,
    broker_connection_retry_on_startup=True, worker_hijack_root_logger=False,
)


@app.task(name="bench.stats")
def stats(text):
    n, mean, m2, total = 0, 0.0, 0.0, 0.0
    lo, hi = math.inf, -math.inf
    for line in text.splitlines():
        if not line.strip():
            continue
        x = float(line)
        n += 1
        total += x
        d = x - mean
        mean += d / n
        m2 += d * (x - mean)
        lo, hi = min(lo, x), max(hi, x)
    return [n, total, lo, hi, mean, m2]


@app.task(name="bench.merge")
def merge(parts):
    n, total, lo, hi, mean, m2 = 0, 0.0, math.inf, -math.inf, 0.0, 0.0
    for pn, ptotal, plo, phi, pmean, pm2 in parts:
        if not pn:
            continue
        d = pmean - mean
        both = n + pn
        mean += d * pn / both
        m2 += pm2 + d * d * n * pn / both
        n, total, lo, hi = both, total + ptotal, min(lo, plo), max(hi, phi)
    return {"count": n, "sum": total, "min": lo, "max": hi, "mean": mean,
            "stddev": math.sqrt(m2 / n) if n else 0.0}


def run(path, ntasks):
    with open(path) as f:
        lines = f.read().splitlines()
    per = len(lines) // ntasks
    chunks = ["\n".join(lines[k * per:(k + 1) * per]) for k in range(ntasks)]
    start = time.time()
    result = chord(stats.s(c) for c in chunks)(merge.s())
    submitted = time.time()
    # Not result.get(): the Redis backend has subscribed this client to every
    # header task's channel, and get() drains all 100,000 notifications first,
    # for minutes after the callback is done. The callback's own record says
    # when the job is complete; reading it is what a dashboard would do.
    key = app.backend.get_key_for_task(result.id)
    while True:
        raw = app.backend.get(key)
        meta = json.loads(raw) if raw else {}
        if meta.get("status") in ("SUCCESS", "FAILURE"):
            break
        time.sleep(0.02)
    end = time.time()
    if meta["status"] != "SUCCESS":
        sys.exit(f"the chord failed: {meta.get('result')}")
    out = meta["result"]
    out.update(tasks=ntasks, seconds=end - start, submit_seconds=submitted - start)
    print(json.dumps(out))


if __name__ == "__main__":
    if sys.argv[1] == "worker":
        app.worker_main(["worker", "--pool", "prefork", "--concurrency",
                         os.environ.get("MT_BENCH_CELERY_PROCS", "2"), "--loglevel",
                         "WARNING", "--without-gossip", "--without-mingle",
                         "--without-heartbeat"])
    else:
        run(sys.argv[2], int(sys.argv[3]))

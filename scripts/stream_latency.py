#!/usr/bin/env python3
"""Latency of a stream at a steady rate: how long after a window closes its
result is complete in Redis (finished_ms - window_end_ms, per window), with
the producer's memory over the run. Expects workers and an aggregator
running against the configured Kafka and Redis (MT_BROKERS, MT_REDIS).

  scripts/stream_latency.py --rate 10000 --seconds 60 --window 1s
"""
import argparse
import json
import os
import subprocess
import time
import uuid

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rate", type=float, default=10000)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--window", default="1s")
    a = ap.parse_args()
    stream = "latency-" + uuid.uuid4().hex[:8]
    gen = subprocess.Popen([os.path.join(ROOT, "scripts", "accesslog.py"), "--rate",
                            str(a.rate), "--seconds", str(a.seconds), "--count"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    prod = subprocess.Popen([os.path.join(ROOT, "bin", "mt-producer"), "-q", "--op", "accesslog",
                             "--follow", "-", "--stream", stream, "--window", a.window,
                             "--ttl", "1h"], stdin=gen.stdout, stdout=subprocess.DEVNULL)
    gen.stdout.close()
    rss = []
    while prod.poll() is None:
        try:
            with open(f"/proc/{prod.pid}/status") as f:
                rss += [int(l.split()[1]) for l in f
                        if l.startswith("VmRSS") and int(l.split()[1]) > 1000]
        except OSError:
            pass
        time.sleep(1)
    time.sleep(3)
    out = subprocess.run([os.path.join(ROOT, "bin", "mtctl"), "windows", stream, "100000"],
                         capture_output=True, check=True).stdout.decode().splitlines()[1:]
    lat, lines = [], 0
    for row in out:
        fields = row.split(None, 3)
        res = json.loads(fields[3])
        lines += res["requests"] + res["invalid"]
    ids = [l.split()[0] for l in out]
    for r in subprocess.run(["redis-cli", *redis_args(), "ZRANGE", f"mt:stream:{stream}", "0", "-1"],
                            capture_output=True, check=True).stdout.decode().split():
        h = subprocess.run(["redis-cli", *redis_args(), "HMGET", f"mt:job:{r}", "finished_ms",
                            "window_end_ms", "state"], capture_output=True,
                           check=True).stdout.decode().split()
        if len(h) == 3 and h[2] == "done":
            lat.append(int(h[0]) - int(h[1]))
    lat.sort()
    full = lat[1:-1] if len(lat) > 2 else lat  # the first and last windows are partial

    def pct(p):
        return full[min(len(full) - 1, int(p / 100 * len(full)))]
    sent = gen.stderr.read().decode().strip()
    print(f"stream {stream}: sent {sent}; counted {lines} lines in {len(ids)} windows of "
          f"{a.window} at {a.rate:.0f} lines/s")
    print(f"window result complete after its close: p50 {pct(50)} ms, p99 {pct(99)} ms, "
          f"max {full[-1]} ms")
    if rss:
        print(f"producer RSS: first {rss[0]} kB, max {max(rss)} kB, last {rss[-1]} kB "
              f"({len(rss)} samples, one a second)")
        step = max(1, len(rss) // 10)
        print("producer RSS over the run (kB): " + " ".join(str(x) for x in rss[::step]))


def redis_args():
    addr = os.environ.get("MT_REDIS", "127.0.0.1:6379")
    host, _, rest = addr.replace("redis://", "").rpartition("@")[-1].partition(":")
    port, _, db = rest.partition("/")
    return ["-h", host, "-p", port or "6379", "-n", db or "0"]


if __name__ == "__main__":
    main()

"""Messages and jobs that must not break anything: a result Redis cannot
merge, a result too large for Kafka, a malformed task that names its job,
and a deleted job whose id is used again while its old tasks are still in
Kafka. Each job must still end, with every task counted once."""
import itertools
import struct
import subprocess

from conftest import REDIS, Cluster, wait_until
from wordcount import as_json_keys, count_words


def redis_cli(*args):
    host, rest = REDIS.rsplit(":", 1)
    port, _, db = rest.partition("/")
    return subprocess.run(["redis-cli", "-h", host, "-p", port, "-n", db or "0",
                           "--raw"] + list(args),
                          capture_output=True, check=True).stdout.decode().strip()


def kcat_produce(c, topic, headers, value, key):
    f = c.tmp / f"msg-{len(list(c.tmp.iterdir()))}"
    f.write_bytes(value)
    args = ["kcat", "-P", "-b", c.env["MT_BROKERS"], "-t", topic, "-k", key]
    for k, v in headers.items():
        args += ["-H", f"{k}={v}"]
    subprocess.run(args + [str(f)], check=True, timeout=30)


def dead_letters(c):
    r = subprocess.run(["kcat", "-C", "-b", c.env["MT_BROKERS"], "-t",
                        c.env["MT_DLQ_TOPIC"], "-e", "-q", "-f", "%h\n"],
                       capture_output=True, timeout=30)
    return r.stdout.decode(errors="replace")


def delta(*fields):
    """Encodes a partial result as README.md describes (MTD1)."""
    out = b"MTD1"
    for kind, name, value in fields:
        out += kind + struct.pack(">I", len(name)) + name + struct.pack(">q", value)
    return out


def test_unmergeable_result_fails_its_task_only(tmp_path):
    c = Cluster(tmp_path)
    try:
        c.aggregator()
        c.wait_ready()
        path = tmp_path / "two"
        path.write_bytes(b"one\ntwo\n")
        job = c.submit(str(path), args=["--lines", "1"])  # no workers: we answer
        run = redis_cli("HGET", f"mt:job:{job}", "run")
        for seq, value in ((0, 2**63 - 1), (1, 1)):
            kcat_produce(c, c.env["MT_RESULTS_TOPIC"],
                         {"mt-version": "1", "mt-type": "result", "mt-job": job,
                          "mt-run": run, "mt-op": "wordcount", "mt-seq": str(seq)},
                         delta((b"i", b"a", value)), job)
        r = c.ctl("wait", job, "--timeout", "60")
        assert r.returncode == 3, r.stderr  # done with errors
        res = c.result(job)
        assert (res["state"], res["done"], res["failed"]) == ("done_with_errors", 1, 1)
        assert res["counts"] == {"a": 2**63 - 1}
        assert "cannot merge: an integer sum would overflow" in \
            redis_cli("HGET", f"mt:job:{job}:failed", "1")
        assert wait_until(lambda: "cannot merge" in dead_letters(c), 30, step=1)
    finally:
        c.close()


def test_result_too_large_for_kafka_fails_its_task(tmp_path):
    c = Cluster(tmp_path)
    try:
        c.consumer()
        c.aggregator()
        c.wait_ready()
        words = (bytes(w) for w in itertools.product(b"abcdefghijklmnopqrstuvwxyz", repeat=4))
        big = b" ".join(itertools.islice(words, 170000)) + b"\n"  # ~850 KB
        path = tmp_path / "distinct"
        path.write_bytes(big + b"small task\n")
        job = c.submit(str(path), args=["--lines", "1"])
        r = c.ctl("wait", job, "--timeout", "120")
        assert r.returncode == 3, r.stderr
        res = c.result(job)
        assert (res["total"], res["done"], res["failed"]) == (2, 1, 1)
        assert res["counts"] == {"small": 1, "task": 1}
        assert "larger than Kafka's message size limit" in \
            redis_cli("HGET", f"mt:job:{job}:failed", "0")
    finally:
        c.close()


def test_malformed_task_that_names_its_job_is_counted_failed(tmp_path):
    c = Cluster(tmp_path)
    try:
        c.aggregator()
        c.wait_ready()
        path = tmp_path / "one"
        path.write_bytes(b"hello world\n")
        job = c.submit(str(path))
        run = redis_cli("HGET", f"mt:job:{job}", "run")
        # a second copy of task 0 with a bad mt-offset, before any worker runs
        kcat_produce(c, c.env["MT_TASKS_TOPIC"],
                     {"mt-version": "1", "mt-type": "task", "mt-job": job, "mt-run": run,
                      "mt-op": "wordcount", "mt-seq": "0", "mt-offset": "x",
                      "mt-line": "1"}, b"hello world\n", job)
        c.consumer()
        # task 0 is counted once, by whichever copy comes first: done, or
        # done with errors (exit 3)
        assert c.ctl("wait", job, "--timeout", "60").returncode in (0, 3)
        res = c.result(job)
        assert (res["total"], res["done"] + res["failed"]) == (1, 1)
        assert wait_until(lambda: "malformed header mt-offset" in dead_letters(c), 30, step=1)
    finally:
        c.close()


def test_deleted_job_id_used_again(tmp_path):
    c = Cluster(tmp_path)
    try:
        old = b"".join(b"old%d\n" % i for i in range(10))
        new = b"".join(b"new%d\n" % i for i in range(5))
        (tmp_path / "old").write_bytes(old)
        (tmp_path / "new").write_bytes(new)
        job = c.submit(str(tmp_path / "old"), args=["--lines", "1"])
        assert c.ctl("delete", job).returncode == 0
        # the old tasks are still in Kafka when the id is used again
        c.submit(str(tmp_path / "new"), args=["--lines", "1"], job=job)
        c.consumer()
        c.aggregator()
        c.wait(job)
        res = c.result(job)
        assert (res["total"], res["done"], res["failed"]) == (5, 5, 0)
        assert res["counts"] == as_json_keys(count_words(new))
    finally:
        c.close()


def test_every_kind_of_malformed_task_is_dead_lettered(tmp_path):
    """Not our format, random bytes, an unknown op, missing or bad headers,
    on either tasks topic: each lands in the dead-letter topic with its
    reason (listed by mtctl dlq), a job it names still ends, and the worker
    goes on to finish a real job exactly."""
    import os
    c = Cluster(tmp_path)
    try:
        c.consumer()
        c.aggregator()
        c.wait_ready()
        job = c.job_id("bad")
        run = "abc123"
        redis_cli("HSET", f"mt:job:{job}", "state", "running", "op", "wordcount",
                  "run", run, "total", "2", "done", "0", "failed", "0")
        base = {"mt-version": "1", "mt-type": "task", "mt-job": job, "mt-run": run,
                "mt-offset": "0", "mt-line": "1"}
        bad = [
            ({}, os.urandom(200), "missing header mt-version"),
            ({"mt-version": "7"}, b"x", "unsupported format version 7"),
            (dict(base, **{"mt-seq": "0", "mt-op": "no-such-op"}), b"hello", 'unknown op "no-such-op"'),
            (dict(base, **{"mt-seq": "1"}), b"hello", "missing header mt-op"),
            ({"mt-version": "1", "mt-type": "result", "mt-job": job, "mt-run": run,
              "mt-op": "wordcount", "mt-seq": "5"}, b"MTD1", "not a task but a result"),
        ]
        for k, (headers, value, _) in enumerate(bad):
            topic = c.env["MT_PRIORITY_TOPIC"] if k % 2 else c.env["MT_TASKS_TOPIC"]
            kcat_produce(c, topic, headers, value, "k")
        # the two that name the job and a task count as failed: it ends
        r = c.ctl("wait", job, "--timeout", "60")
        assert r.returncode == 3, c.ctl("status", job).stdout
        assert redis_cli("HGET", f"mt:job:{job}", "failed") == "2"
        assert wait_until(lambda: all(why in dead_letters(c) for _, _, why in bad), 30), \
            dead_letters(c)
        listed = c.ctl("dlq").stdout.decode()
        assert listed.count("\n") == len(bad) + 1  # a header line, then one per letter
        good = c.submit(stdin=b"still working fine\n")
        c.wait(good)
        assert c.result(good)["counts"] == as_json_keys(count_words(b"still working fine\n"))
    finally:
        c.close()

"""Failures: workers killed or stopped, aggregator killed, broker and Redis
restarted or frozen, slow tasks. Every job must still finish with the exact
result: the sleep op's result counts tasks, lines and bytes, so a task lost
or counted twice shows at once."""
import os
import signal
import subprocess
import time

import pytest

from conftest import (BIN, Cluster, assignments, log_events, progress, services,
                      wait_until)


def lines_file(tmp_path, n, name="lines"):
    data = b"".join(b"line %d\n" % i for i in range(n))
    p = tmp_path / name
    p.write_bytes(data)
    return str(p), data


def submit_sleep(c, path, ms, extra=()):
    job = c.job_id("sleep")
    r = c.produce(["--op", "sleep", "--args", '{"ms": %d}' % ms, "--lines", "1",
                   "--job", job, *extra, path])
    assert r.stdout.decode().strip() == job
    return job


def check_exact(c, job, data, timeout=240):
    c.wait(job, timeout)
    res = c.result(job)
    n = data.count(b"\n")
    assert res["state"] == "done"
    assert res["total"] == n and res["done"] == n and res["failed"] == 0
    # each merged partial adds 1 to "tasks": a task counted twice shows here
    assert res["tasks"] == n, f"{res['tasks'] - n} task(s) counted twice"
    assert res["lines"] == n and res["bytes"] == len(data)
    return res


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path)
    yield c
    c.close()


def test_worker_killed_mid_job(cluster, tmp_path):
    workers = [cluster.consumer("--threads", "2") for _ in range(3)]
    cluster.aggregator()
    cluster.wait_ready()
    path, data = lines_file(tmp_path, 1500)
    job = submit_sleep(cluster, path, 10)
    assert wait_until(lambda: progress(cluster, job) >= 200, 60)
    victim = workers[0]
    killed_at = time.time()
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    cluster.procs.remove(victim)
    check_exact(cluster, job, data)
    # the survivors took over every partition the dead worker held
    held = assignments(victim.log_path)[-1][1]
    assert held
    taken = {}
    for p in workers[1:]:
        for t, parts in assignments(p.log_path):
            for n in parts & held:
                if t > killed_at and n not in taken:
                    taken[n] = t
    assert set(taken) == held, f"partitions {held - set(taken)} never moved"
    recovery = max(taken.values()) - killed_at
    print(f"\nworker SIGKILL -> its partitions {sorted(held)} resumed on the "
          f"survivors after {recovery:.1f} s")
    assert recovery < 15


def test_sigterm_leaves_group_at_once(cluster, tmp_path):
    a = cluster.consumer("--threads", "2")
    b = cluster.consumer("--threads", "2")
    cluster.aggregator()
    cluster.wait_ready()
    path, data = lines_file(tmp_path, 600)
    job = submit_sleep(cluster, path, 20)
    assert wait_until(lambda: progress(cluster, job) >= 50, 60)
    t0 = time.time()
    assert cluster.stop(a) == 0
    stopped = time.time() - t0
    cluster.procs.remove(a)
    assert wait_until(lambda: any(t > t0 for t in log_events(b.log_path, b"assigned 24")), 5), \
        "the survivor did not get all partitions within 5 s (no LeaveGroup?)"
    took = max(t for t in log_events(b.log_path, b"assigned 24")) - t0
    print(f"\nSIGTERM: exited 0 in {stopped:.1f} s, survivor had all partitions after {took:.1f} s")
    check_exact(cluster, job, data)


def test_scale_up_and_idle_extra_consumers(tmp_path):
    c = Cluster(tmp_path, partitions=4)
    try:
        c.consumer()
        c.aggregator()
        c.wait_ready()
        path, data = lines_file(tmp_path, 800)
        job = submit_sleep(c, path, 10)
        assert wait_until(lambda: progress(c, job) >= 50, 60)
        extra = [c.consumer() for _ in range(5)]  # 6 workers, 4 partitions
        check_exact(c, job, data)
        for p in extra:
            log = open(p.log_path, "rb").read()
            assert b"ERROR" not in log
    finally:
        c.close()


def test_sigterm_with_broker_down_exits_in_bounded_time(cluster, tmp_path):
    w = cluster.consumer()
    cluster.aggregator()
    cluster.wait_ready()
    path, data = lines_file(tmp_path, 300)
    job = submit_sleep(cluster, path, 30)
    assert wait_until(lambda: progress(cluster, job) >= 10, 60)
    services("kafka-stop")
    try:
        t0 = time.time()
        assert cluster.stop(w, timeout=60) == 0
        took = time.time() - t0
        print(f"\nSIGTERM with the broker down: exited 0 after {took:.1f} s")
        assert took < 40
        cluster.procs.remove(w)
    finally:
        services("kafka-start")
    cluster.consumer()
    check_exact(cluster, job, data)


def test_aggregator_killed_and_two_aggregators(cluster, tmp_path):
    for _ in range(2):
        cluster.consumer("--threads", "2")
    first = cluster.aggregator()
    cluster.aggregator()
    cluster.wait_ready()
    path, data = lines_file(tmp_path, 3000)
    jobs = [submit_sleep(cluster, path, 2) for _ in range(4)]
    assert wait_until(lambda: progress(cluster, jobs[0]) >= 300, 60)
    first.send_signal(signal.SIGKILL)
    first.wait()
    cluster.procs.remove(first)
    time.sleep(1)
    cluster.aggregator()  # a new one joins while the survivor owns everything
    for job in jobs:
        check_exact(cluster, job, data)


def test_broker_restart_mid_job(cluster, tmp_path):
    # a small prefetch keeps partitions pausing and resuming across the
    # rebalances the restart causes
    for _ in range(2):
        cluster.consumer("--threads", "2", "--prefetch", "20")
    cluster.aggregator()
    cluster.wait_ready()
    # the producer is still reading (a slow stdin) while the broker restarts
    data = b"".join(b"line %d\n" % i for i in range(2000))
    job = cluster.job_id("restart")
    prod = subprocess.Popen([os.path.join(BIN, "mt-producer"),
                             "--op", "sleep", "--args", '{"ms": 5}', "--lines", "1",
                             "--job", job, "-"],
                            env=cluster.env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    half = len(data) // 2
    prod.stdin.write(data[:half])
    prod.stdin.flush()
    assert wait_until(lambda: progress(cluster, job) >= 100, 60)
    services("kafka-stop")
    time.sleep(3)
    services("kafka-start")
    prod.stdin.write(data[half:])
    prod.stdin.close()
    assert prod.wait(180) == 0, prod.stderr.read().decode(errors="replace")
    assert prod.stdout.read().decode().strip() == job
    check_exact(cluster, job, data)


@pytest.mark.parametrize("outage", ["stop", "freeze"])
def test_redis_outage_mid_job(cluster, tmp_path, outage):
    for _ in range(2):
        cluster.consumer("--threads", "2")
    agg = cluster.aggregator()
    cluster.wait_ready()
    path, data = lines_file(tmp_path, 2000)
    job = submit_sleep(cluster, path, 3)
    assert wait_until(lambda: progress(cluster, job) >= 200, 60)
    if outage == "stop":
        services("redis-stop")
        time.sleep(6)
        services("redis-start")
    else:
        pid = int(open(os.path.join(os.path.dirname(__file__), "..", "..", ".run",
                                    "redis.pid")).read())
        os.kill(pid, signal.SIGSTOP)
        try:
            time.sleep(30)  # far longer than the aggregator's 5 s Redis timeout
        finally:
            os.kill(pid, signal.SIGCONT)
    check_exact(cluster, job, data)
    assert agg.poll() is None, "the aggregator died during the outage"
    assert b"retrying" in open(agg.log_path, "rb").read()


def test_slow_tasks_longer_than_max_poll_interval(cluster, tmp_path):
    # tasks of 9 s against a max.poll.interval.ms of 7 s: the worker must keep
    # polling (and its group membership) while they run, and run each once
    w = cluster.consumer("--threads", "2", "-X", "max.poll.interval.ms=7000")
    cluster.aggregator()
    cluster.wait_ready()
    path, data = lines_file(tmp_path, 4)
    job = submit_sleep(cluster, path, 9000)
    check_exact(cluster, job, data, timeout=120)
    log = open(w.log_path, "rb").read()
    assert b"revoked" not in log and b"exceeded" not in log, log.decode(errors="replace")

"""Edges found by trying to break microtask: signals while the broker is
unreachable, an interrupted producer, a producer started with stdin closed,
a forged task number counted before a job's total is known, a grep pattern
that could run for ever, more TCP clients than are served at once."""
import os
import signal
import subprocess
import time

from conftest import BIN, BROKERS, free_port, job_state, progress, wait_until


def test_sigterm_while_the_broker_is_unreachable(cluster):
    """Started while Kafka is down, every program still stops at once on
    SIGTERM, with exit 0: it had taken no work."""
    env = dict(cluster.env, MT_BROKERS=f"127.0.0.1:{free_port()}")
    procs = [subprocess.Popen([os.path.join(BIN, prog)], env=env, stdin=subprocess.PIPE,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
             for prog in ("mt-consumer", "mt-aggregator")]
    procs.append(subprocess.Popen([os.path.join(BIN, "mt-producer"), "--op", "wordcount", "-"],
                                  env=env, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE))
    time.sleep(3)
    for p in procs:
        assert p.poll() is None, "gave up before the signal"
        p.send_signal(signal.SIGTERM)
    start = time.time()
    for p in procs:
        assert p.wait(10) == 0, p.stderr.read().decode()[-2000:]
        p.stdin.close()
        p.stderr.close()
    assert time.time() - start < 5


def test_interrupted_producer_ends_its_job_with_errors(cluster):
    cluster.consumer()
    cluster.aggregator()
    cluster.wait_ready()
    job = cluster.job_id("cut")
    prod = subprocess.Popen([os.path.join(BIN, "mt-producer"), "--op", "sleep", "--lines", "1",
                             "--job", job, "-"], env=cluster.env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    prod.stdin.write(b"a\nb\nc\nd\ne\n")
    prod.stdin.flush()
    assert wait_until(lambda: progress(cluster, job) == 5, 30)
    prod.send_signal(signal.SIGTERM)
    assert prod.wait(20) == 0
    assert prod.stdout.read().decode().strip() == job
    prod.stdin.close()
    assert cluster.ctl("wait", job, "--timeout", "30").returncode == 3
    state = job_state(cluster, job)
    assert state["state"] == "done_with_errors"
    assert state["note"] == "interrupted: only 5 task(s) submitted"
    res = cluster.result(job)
    assert res["total"] == 5 and res["done"] == 5 and res["failed"] == 0
    assert res["note"] == state["note"]


def test_producer_with_stdin_closed(cluster):
    cluster.consumer()
    cluster.aggregator()
    cluster.wait_ready()
    job = cluster.job_id("closed")
    r = subprocess.run(["sh", "-c", f'exec "{BIN}/mt-producer" --op wordcount --job {job} - <&-'],
                       env=cluster.env, capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().strip() == job
    cluster.wait(job, 30)
    res = cluster.result(job)
    assert res["total"] == 0 and res["counts"] == {}


def test_forged_task_number_does_not_complete_a_job_early(cluster):
    """Failures counted for task numbers the job turns out not to have (a
    forged or corrupt message, before the total was known) must not make
    it complete while its real tasks are still running."""
    cluster.consumer("--threads", "2")
    cluster.aggregator()
    cluster.wait_ready()
    job = cluster.job_id("forged")
    prod = subprocess.Popen([os.path.join(BIN, "mt-producer"), "--op", "sleep", "--args",
                             '{"ms": 2500}', "--lines", "1", "--job", job, "-"],
                            env=cluster.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
    prod.stdin.write(b"first\n")
    prod.stdin.flush()
    assert wait_until(lambda: job_state(cluster, job).get("state") == "submitting", 30)
    run = subprocess.run(["redis-cli", "-h", cluster.env["MT_REDIS"].split(":")[0], "-p",
                          cluster.env["MT_REDIS"].split(":")[1].split("/")[0], "-n",
                          cluster.env["MT_REDIS"].split("/")[1], "HGET", f"mt:job:{job}", "run"],
                         capture_output=True, check=True).stdout.decode().strip()
    for seq in (2, 500):  # task 2 of 3 and one far beyond: both fail (unknown op)
        subprocess.run(["kcat", "-P", "-b", BROKERS, "-t", cluster.env["MT_TASKS_TOPIC"], "-p",
                        "0", "-H", "mt-version=1", "-H", "mt-type=task", "-H", f"mt-job={job}",
                        "-H", f"mt-run={run}", "-H", "mt-op=nosuchop", "-H", f"mt-seq={seq}",
                        "-H", "mt-offset=0", "-H", "mt-line=1"], input=b"forged",
                       check=True, timeout=30)
    assert wait_until(lambda: int(job_state(cluster, job).get("tasks", "0 done, 0 failed")
                                  .split(",")[1].split()[0]) == 2, 30)
    prod.stdin.write(b"second\nthird\n")
    prod.stdin.close()
    assert prod.wait(30) == 0
    # done 1 + failed 2 reach the total of 3, but task 1 is still running
    r = cluster.ctl("wait", job, "--timeout", "60")
    res = cluster.result(job)
    assert res["done"] == 2, f"completed before task 1 was merged: {res}"
    assert res["state"] == "done_with_errors" and r.returncode == 3
    prod.stdout.close()


def test_grep_back_references_are_refused(cluster):
    r = cluster.produce(["--op", "grep", "--pattern", "(a|a)*\\1b", "-"], stdin=b"aaaa\n",
                        check=False)
    assert r.returncode == 1
    assert b"back-references" in r.stderr

"""Operating microtask: the compose topology run natively (workers scaled
from 1 to 4 and back during a job), the Prometheus metrics, mtctl's commands
for people (workers, watch, cancel, result --format tsv), JSON logs, a Redis
password in MT_REDIS, make install and the --help texts."""
import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import BIN, Cluster, free_port, job_state, progress, wait_until
from test_failures import check_exact, lines_file, submit_sleep
from wordcount import ROOT, count_words


def partition_set(text):
    """{(topic, partition)} from a heartbeat's "mt.tasks[0-3,6] t2[1]"."""
    out = set()
    for topic, ranges in re.findall(r"(\S+)\[([0-9,-]*)\]", text):
        for r in filter(None, ranges.split(",")):
            lo, _, hi = r.partition("-")
            out.update((topic, n) for n in range(int(lo), int(hi or lo) + 1))
    return out


def live_workers(c):
    r = c.ctl("workers", "--format", "json")
    assert r.returncode == 0, r.stderr.decode()
    return [w for w in json.loads(r.stdout) if w["group"] == c.env["MT_GROUP"]]


def tasks_partitions(c, workers):
    """Each worker's partitions of the tasks topic, when they split the
    topic's partitions between them exactly; else None."""
    topic = c.env["MT_TASKS_TOPIC"]
    held = [{p for t, p in partition_set(w["partitions"]) if t == topic} for w in workers]
    everything = set().union(*held) if held else set()
    if sum(map(len, held)) != len(everything) or everything != set(range(12)):
        return None
    return held


def test_scale_from_one_to_four_workers_and_back_during_a_job(cluster, tmp_path):
    """docker compose up --scale consumer=4, then =1, natively: the job's
    result stays exact, the extra workers leave cleanly, and mtctl workers
    shows who holds what."""
    cluster.aggregator()
    first = cluster.consumer("--threads", "2", "--heartbeat", "300")
    cluster.wait_ready()
    path, data = lines_file(tmp_path, 3000)
    job = submit_sleep(cluster, path, 20)
    assert wait_until(lambda: progress(cluster, job) >= 150, 60)

    extra = [cluster.consumer("--threads", "2", "--heartbeat", "300") for _ in range(3)]
    assert wait_until(lambda: len(live_workers(cluster)) == 4
                      and tasks_partitions(cluster, live_workers(cluster))
                      and all(tasks_partitions(cluster, live_workers(cluster))), 60), \
        f"4 workers never split the 12 partitions: {live_workers(cluster)}"
    at_four = progress(cluster, job)
    assert wait_until(lambda: all(w["tasks_done"] > 0 for w in live_workers(cluster)), 60), \
        "a new worker never ran a task"
    assert progress(cluster, job) < 2000, "the job ran out before scaling down"

    for p in extra:
        assert cluster.stop(p) == 0
        cluster.procs.remove(p)
    ids = {w["id"] for w in live_workers(cluster)}
    assert ids == {f"{socket.gethostname()}-{first.pid}"}, \
        f"stopped workers still listed: {ids}"
    assert wait_until(lambda: tasks_partitions(cluster, live_workers(cluster)) is not None,
                      60), "the last worker never took back every partition"
    left = progress(cluster, job)
    assert left < len(data.splitlines()), "the job finished before the scale-down"
    check_exact(cluster, job, data)
    print(f"\nscaled 1 -> 4 at {at_four} tasks done, 4 -> 1 at {left}, exact result")


def metrics_port(proc):
    found = []
    def logged():
        m = re.search(rb"metrics on port (\d+)", open(proc.log_path, "rb").read())
        found[:] = [int(m.group(1))] if m else []
        return bool(found)
    assert wait_until(logged, 30), "no metrics port in the log"
    return found[0]


def scrape(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/plain")
        text = r.read().decode()
    samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples.setdefault(s.name, []).append((s.labels, s.value))
    return samples


def total(samples, name):
    return sum(v for _, v in samples.get(name, []))


def test_metrics_are_served_and_add_up(cluster, tmp_path):
    stats = ("-X", "statistics.interval.ms=500")
    workers = [cluster.consumer("--metrics-port", "127.0.0.1:0", *stats) for _ in range(2)]
    agg = cluster.aggregator("--metrics-port", "127.0.0.1:0", *stats)
    cluster.wait_ready()
    text = b"".join(b"word%d and more words %d\n" % (i % 50, i) for i in range(20000))
    src = tmp_path / "in.txt"
    src.write_bytes(text)
    job = cluster.submit(str(src), args=["--bytes", "4096"])
    cluster.wait(job)
    n = cluster.result(job)["total"]
    assert n > 50

    ports = [metrics_port(p) for p in workers]
    topic = cluster.env["MT_TASKS_TOPIC"]

    def lags(samples):
        return {l["partition"]: v for l, v in samples.get("mt_kafka_consumer_lag", [])
                if l.get("topic") == topic}

    def settled():  # every partition reported by someone, all caught up
        got = [lags(scrape(p)) for p in ports]
        every = {k: v for lag in got for k, v in lag.items()}
        return every == {str(i): 0 for i in range(12)}
    assert wait_until(settled, 30, step=0.5), [lags(scrape(p)) for p in ports]
    done = 0
    for p in ports:
        s = scrape(p)
        done += total(s, "mt_tasks_done_total")
        assert total(s, "mt_tasks_failed_total") == 0
        assert total(s, "mt_task_seconds_count") == total(s, "mt_tasks_done_total")
        assert total(s, "mt_kafka_assigned_partitions") > 0
        assert total(s, "mt_kafka_received_messages_total") > 0

    ap = metrics_port(agg)
    assert wait_until(lambda: total(scrape(ap), "mt_results_merged_total") == n, 20)
    a = scrape(ap)
    assert total(a, "mt_jobs_completed_total") == 1
    # a task run twice (redelivered in a rebalance) is merged once
    assert done == n + total(a, "mt_results_duplicate_total")
    assert total(a, "mt_redis_errors_total") == 0
    assert total(a, "mt_merge_batch_seconds_count") > 0

    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(f"http://127.0.0.1:{ap}/nothing", timeout=5)
    assert e.value.code == 404
    req = urllib.request.Request(f"http://127.0.0.1:{ap}/metrics", data=b"x", method="POST")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=5)
    assert e.value.code == 405


def test_metrics_port_taken_is_a_clear_error(cluster):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = subprocess.run([os.path.join(BIN, "mt-consumer"), "--metrics-port",
                            f"127.0.0.1:{port}"], env=cluster.env, capture_output=True,
                           timeout=30)
    assert r.returncode != 0
    assert f"{port}".encode() in r.stderr and b"metrics" in r.stderr, r.stderr


def test_cancel_stops_a_job_and_its_producer(cluster, tmp_path):
    cluster.consumer("--threads", "2", "--heartbeat", "300")
    cluster.aggregator()
    cluster.wait_ready()
    path, data = lines_file(tmp_path, 2000)
    job = submit_sleep(cluster, path, 20)
    assert wait_until(lambda: progress(cluster, job) >= 50, 60)
    r = cluster.ctl("cancel", job)
    assert r.returncode == 0, r.stderr
    assert cluster.ctl("wait", job, "--timeout", "10").returncode == 3
    assert job_state(cluster, job)["state"] == "cancelled"
    frozen = progress(cluster, job)
    time.sleep(2)  # tasks that were running finish; their results are dropped
    assert progress(cluster, job) == frozen
    assert frozen < 2000
    again = cluster.ctl("cancel", job)
    assert again.returncode == 1 and b"cancelled" in again.stderr

    # the workers skip the rest quickly: a later job is not stuck behind it
    path2, data2 = lines_file(tmp_path, 100, "after")
    later = submit_sleep(cluster, path2, 1)
    check_exact(cluster, later, data2, timeout=60)

    # a producer reading a pipe that has gone quiet stops too
    pjob = cluster.job_id("piped")
    prod = subprocess.Popen([os.path.join(BIN, "mt-producer"), "--op", "sleep", "--lines",
                             "1", "--job", pjob, "-"], env=cluster.env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        prod.stdin.write(b"a\nb\nc\n")
        prod.stdin.flush()
        assert wait_until(lambda: progress(cluster, pjob) == 3, 30)
        assert cluster.ctl("cancel", pjob).returncode == 0
        rc = prod.wait(10)
        assert rc == 1
        assert b"cancelled" in prod.stderr.read()
    finally:
        if prod.poll() is None:
            prod.kill()
        prod.stdin.close()
    assert cluster.ctl("cancel", "no-such-job").returncode == 1


def test_watch_prints_plain_lines_when_not_a_terminal(cluster, tmp_path):
    cluster.consumer("--threads", "2")
    cluster.aggregator()
    cluster.wait_ready()
    path, data = lines_file(tmp_path, 300)
    job = submit_sleep(cluster, path, 20)
    r = cluster.ctl("watch", job, "--timeout", "120")
    assert r.returncode == 0, r.stderr
    out = r.stdout.decode()
    assert "\r" not in out and "\033" not in out
    lines = out.splitlines()
    assert len(lines) >= 2, out
    shape = re.compile(re.escape(job) + r": (\w+) (\d+)(?:/(\d+))? tasks.*, [0-9.]+ tasks/s")
    parsed = [shape.match(l) for l in lines]
    assert all(parsed), out
    done = [int(m.group(2)) for m in parsed]
    assert done == sorted(done)
    assert parsed[-1].group(1) == "done" and parsed[-1].group(2) == parsed[-1].group(3) == "300"
    assert cluster.ctl("watch", "no-such-job").returncode != 0


def test_result_as_tsv(shared_cluster, tmp_path):
    c = shared_cluster
    text = "Ünïcode words\tand\ttabs, the THE the\n" * 300 + "last word\n"
    src = tmp_path / "text.txt"
    src.write_text(text)
    job = c.submit(str(src), args=["--bytes", "1000"])
    c.wait(job)
    r = c.ctl("result", job, "--format", "tsv")
    assert r.returncode == 0, r.stderr
    rows = [line.split("\t") for line in r.stdout.decode().splitlines()]
    assert all(len(row) == 2 for row in rows)
    got = {w.encode(): int(n) for w, n in rows}
    assert got == count_words(text.encode())
    counts = [int(n) for _, n in rows]
    assert counts == sorted(counts, reverse=True)

    # other ops: one row per value, nested keys joined with '.'
    nums = "".join(f"{i * 0.5}\n" for i in range(1, 1001)) + "oops\n"
    job2 = c.job_id("stats")
    c.produce(["--op", "stats", "--job", job2, "-"], stdin=nums.encode())
    c.wait(job2)
    rows = dict(line.split("\t") for line in
                c.ctl("result", job2, "--format", "tsv").stdout.decode().splitlines())
    assert int(rows["count"]) == 1000 and int(rows["invalid"]) == 1
    assert float(rows["sum"]) == sum(i * 0.5 for i in range(1, 1001))
    assert float(rows["max"]) == 500.0
    bad = c.ctl("result", job2, "--format", "xml")
    assert bad.returncode != 0 and b"format" in bad.stderr


def test_json_logs(cluster, tmp_path):
    w = cluster.consumer("--log-format", "json", "-v")
    cluster.aggregator()
    cluster.wait_ready()
    path, data = lines_file(tmp_path, 20)
    job = submit_sleep(cluster, path, 1)
    check_exact(cluster, job, data)
    assert cluster.stop(w) == 0
    cluster.procs.remove(w)
    records = [json.loads(line) for line in open(w.log_path, "rb")]
    assert len(records) > 3
    for rec in records:
        assert {"ts", "level", "program", "pid", "msg"} <= rec.keys(), rec
        assert rec["program"] == "mt-consumer" and rec["pid"] == w.pid
    assert any("assigned" in rec["msg"] for rec in records)
    r = subprocess.run([os.path.join(BIN, "mt-consumer"), "--log-format", "xml"],
                       env=cluster.env, capture_output=True, timeout=10)
    assert r.returncode == 1 and b"log-format" in r.stderr


@pytest.fixture
def redis_with_password(tmp_path):
    server = shutil.which("redis-server")
    if not server:
        pytest.fail("redis-server is not installed")
    port = free_port()
    p = subprocess.Popen([server, "--port", str(port), "--bind", "127.0.0.1",
                          "--requirepass", "s3cret:pw", "--save", "", "--appendonly", "no",
                          "--dir", str(tmp_path)], stdout=subprocess.DEVNULL)
    assert wait_until(lambda: subprocess.run(
        ["redis-cli", "-p", str(port), "--no-auth-warning", "-a", "s3cret:pw", "ping"],
        capture_output=True).stdout.strip() == b"PONG", 20)
    # a Redis 6 ACL user as well
    r = subprocess.run(["redis-cli", "-p", str(port), "--no-auth-warning", "-a", "s3cret:pw",
                        "ACL", "SETUSER", "mtuser", "on", ">user-pw", "~*", "&*", "+@all"],
                       capture_output=True)
    assert r.stdout.strip() == b"OK", r
    yield port
    p.terminate()
    p.wait(10)


def test_redis_password_in_the_url(tmp_path, redis_with_password):
    port = redis_with_password
    c = Cluster(tmp_path)
    c.env["MT_REDIS"] = f"redis://:s3cret:pw@127.0.0.1:{port}/2"
    try:
        c.consumer()
        c.aggregator()
        c.wait_ready()
        path, data = lines_file(tmp_path, 50)
        job = submit_sleep(c, path, 1)
        check_exact(c, job, data)
        # the job is in database 2 of the password-protected server
        r = subprocess.run(["redis-cli", "-p", str(port), "--no-auth-warning", "-a",
                            "s3cret:pw", "-n", "2", "HGET", f"mt:job:{job}", "state"],
                           capture_output=True)
        assert r.stdout.strip() == b"done"
    finally:
        c.close()
    ok = subprocess.run([os.path.join(BIN, "mtctl"), "-r",
                         f"redis://mtuser:user-pw@127.0.0.1:{port}/2", "status", job],
                        capture_output=True, timeout=30)
    assert ok.returncode == 0 and b"done" in ok.stdout, ok.stderr
    for url in (f"redis://:wrong@127.0.0.1:{port}", f"127.0.0.1:{port}",
                f"redis://mtuser:wrong@127.0.0.1:{port}"):
        r = subprocess.run([os.path.join(BIN, "mtctl"), "-r", url, "jobs"],
                           capture_output=True, timeout=30)
        assert r.returncode != 0
        msg = r.stderr.decode()
        assert "NOAUTH" in msg or "WRONGPASS" in msg or "password" in msg, msg
        assert "wrong" not in msg, "the password must not be printed"


def test_make_install_and_a_plugin_built_against_the_installed_header(tmp_path):
    dest = tmp_path / "root"
    r = subprocess.run(["make", "-C", ROOT, "install", f"DESTDIR={dest}", "PREFIX=/opt/mt"],
                       capture_output=True, timeout=300)
    assert r.returncode == 0, r.stderr.decode()
    base = dest / "opt/mt"
    for prog in ("mt-producer", "mt-consumer", "mt-aggregator", "mtctl"):
        exe = base / "bin" / prog
        assert os.access(exe, os.X_OK), exe
        v = subprocess.run([str(exe), "--version"], capture_output=True, timeout=10)
        assert v.returncode == 0 and b"librdkafka" in v.stdout + v.stderr
    assert (base / "lib/microtask/plugins/longest.so").exists()
    header = base / "include/microtask/mt_plugin.h"
    assert header.exists()
    so = tmp_path / "longest.so"
    cc = subprocess.run(["cc", "-std=c11", "-Wall", "-Wextra", "-Werror", "-shared", "-fPIC",
                         f"-I{header.parent}", "-o", str(so),
                         os.path.join(ROOT, "plugins", "longest.c")], capture_output=True)
    assert cc.returncode == 0, cc.stderr.decode()
    r = subprocess.run(["make", "-C", ROOT, "uninstall", f"DESTDIR={dest}", "PREFIX=/opt/mt"],
                       capture_output=True, timeout=60)
    assert r.returncode == 0
    assert not any(f for _, _, files in os.walk(base) for f in files)


def long_options(source, with_config, with_service):
    text = open(os.path.join(ROOT, source)).read()
    config = open(os.path.join(ROOT, "lib", "mt_config.h")).read()
    blocks = dict(re.findall(r"#define (MT_\w+_LONGOPTS)((?:.*\\\n)*.*)", config))
    if with_config:
        text += blocks["MT_CONFIG_LONGOPTS"]
    if with_service:
        text += blocks["MT_SERVICE_LONGOPTS"]
    return set(re.findall(r'\{"([a-z][a-z0-9-]*)",\s*(?:no|required|optional)_argument',
                          text))


@pytest.mark.parametrize("prog,source", [
    ("mt-producer", "producer/main.c"), ("mt-consumer", "consumer/main.c"),
    ("mt-aggregator", "aggregator/main.c"), ("mtctl", "mtctl/main.c")])
def test_help_lists_every_option(prog, source):
    src = open(os.path.join(ROOT, source)).read()
    opts = long_options(source, "MT_CONFIG_LONGOPTS" in src, "MT_SERVICE_LONGOPTS" in src)
    assert len(opts) > 5
    r = subprocess.run([os.path.join(BIN, prog), "--help"], capture_output=True, timeout=10)
    assert r.returncode == 0
    text = r.stdout.decode()
    missing = sorted(o for o in opts if f"--{o}" not in text)
    assert not missing, f"{prog} --help does not mention {missing}"
    bad = subprocess.run([os.path.join(BIN, prog), "--no-such-option"], capture_output=True,
                         timeout=10)
    assert bad.returncode == 1 and b"--help" in bad.stderr


SASL_BROKERS = os.environ.get("MT_TEST_SASL_BROKERS", "127.0.0.1:9094")


def test_kafka_over_sasl_with_a_properties_file(tmp_path):
    """scripts/services.sh gives the broker a SASL/PLAIN listener: the whole
    pipeline runs over it, settings from a kcat-style file (-F and
    MT_KAFKA_CONFIG), and a wrong password is a clear error."""
    props = tmp_path / "kafka.properties"
    props.write_text("# SASL/PLAIN, as services.sh sets up\n"
                     "security.protocol = SASL_PLAINTEXT\n"
                     "sasl.mechanisms=PLAIN\n\n"
                     "sasl.username=microtask\n"
                     "sasl.password=microtask-secret\n")
    c = Cluster(tmp_path)
    c.env["MT_BROKERS"] = SASL_BROKERS
    try:
        c.consumer("-F", str(props))
        c.env["MT_KAFKA_CONFIG"] = str(props)
        c.aggregator()
        c.wait_ready()
        path, data = lines_file(tmp_path, 40)
        job = submit_sleep(c, path, 1)
        check_exact(c, job, data)
    finally:
        c.close()
    bad = tmp_path / "bad.properties"
    bad.write_text(props.read_text().replace("microtask-secret", "not-it"))
    r = subprocess.run([os.path.join(BIN, "mt-producer"), "-F", str(bad), "--op", "sleep",
                        "-"], env=c.env, input=b"x\n", capture_output=True, timeout=120)
    assert r.returncode == 1
    assert b"SASL authentication error" in r.stderr, r.stderr[-2000:]
    assert b"not-it" not in r.stderr
    (tmp_path / "broken.properties").write_text("security.protocol\n")
    r = subprocess.run([os.path.join(BIN, "mt-consumer"), "-F",
                        str(tmp_path / "broken.properties")], env=c.env,
                       capture_output=True, timeout=10)
    assert r.returncode == 1 and b"broken.properties:1: wants key=value" in r.stderr

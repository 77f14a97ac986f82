"""Fixtures for the integration tests: a real Kafka broker and Redis server.

Each test cluster runs the real programs (bin/) as processes with topics and
consumer groups of its own, and uses Redis database 9, so the tests never
touch a user's jobs. Services come from `scripts/services.sh up`; the tests
refuse to run without them rather than pass vacuously.
"""
import os
import signal
import socket
import subprocess
import time
import uuid

import pytest

from wordcount import ROOT

BIN = os.path.join(ROOT, "bin")
BROKERS = os.environ.get("MT_TEST_BROKERS", "127.0.0.1:9092")
REDIS = os.environ.get("MT_TEST_REDIS", "127.0.0.1:6379/9")


def _answers(host, port):
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session", autouse=True)
def services_up():
    for name, addr in (("Kafka", BROKERS), ("Redis", REDIS.split("/")[0])):
        host, port = addr.rsplit(":", 1)
        if not _answers(host, int(port)):
            pytest.exit(f"{name} is not answering on {addr}: run `make up` first", 2)
    for prog in ("mt-producer", "mt-consumer", "mt-aggregator", "mtctl"):
        if not os.access(os.path.join(BIN, prog), os.X_OK):
            pytest.exit(f"bin/{prog} is missing: run `make` first", 2)
    yield
    # Each test made topics of its own: thousands of partitions, which a
    # small local broker should not keep carrying into the next run.
    if BROKERS == "127.0.0.1:9092":
        subprocess.run([os.path.join(ROOT, "scripts", "services.sh"), "topics", "--delete",
                        "--topic", r"test\..*"], capture_output=True, timeout=300)


class Cluster:
    """Workers and an aggregator on topics of their own."""

    def __init__(self, tmp_path, partitions=12, bin_dir=None):
        self.bin = bin_dir or BIN
        self.run = "t" + uuid.uuid4().hex[:10]
        self.tmp = tmp_path
        self.env = dict(os.environ)
        self.env.update({
            "MT_BROKERS": BROKERS,
            "MT_REDIS": REDIS,
            "MT_TASKS_TOPIC": f"test.{self.run}.tasks",
            "MT_RESULTS_TOPIC": f"test.{self.run}.results",
            "MT_DLQ_TOPIC": f"test.{self.run}.dlq",
            "MT_PRIORITY_TOPIC": f"test.{self.run}.tasks.high",
            "MT_GROUP": f"test.{self.run}.workers",
            "MT_AGGREGATOR_GROUP": f"test.{self.run}.aggregators",
            "MT_PARTITIONS": str(partitions),
        })
        self.procs = []
        self.seq = 0

    def _start(self, name, args):
        self.seq += 1
        log = open(self.tmp / f"{name}-{self.seq}.log", "wb")
        p = subprocess.Popen([os.path.join(self.bin, name)] + args, env=self.env,
                             stdout=log, stderr=subprocess.STDOUT)
        p.log_path = log.name
        log.close()
        self.procs.append(p)
        return p

    def consumer(self, *args):
        return self._start("mt-consumer", list(args))

    def aggregator(self, *args):
        return self._start("mt-aggregator", list(args))

    def wait_ready(self, timeout=60):
        """Waits until every worker and aggregator holds partitions, so the
        group has settled before a test starts."""
        def settled():
            return all(b"assigned" in open(p.log_path, "rb").read()
                       for p in self.procs)
        assert wait_until(settled, timeout), "the consumer group did not settle"

    def job_id(self, name="job"):
        return f"{self.run}-{name}-{uuid.uuid4().hex[:6]}"

    def produce(self, args, stdin=None, check=True, timeout=300):
        """Runs mt-producer; returns the CompletedProcess (stdout = job id)."""
        r = subprocess.run([os.path.join(self.bin, "mt-producer")] + args,
                           env=self.env, input=stdin, capture_output=True,
                           timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError(f"mt-producer failed ({r.returncode}): "
                                 f"{r.stderr.decode(errors='replace')}")
        return r

    def submit(self, *files, args=(), job=None, stdin=None):
        job = job or self.job_id()
        r = self.produce(["--op", "wordcount", "--job", job, *args, *files],
                         stdin=stdin)
        assert r.stdout.decode().strip() == job
        return job

    def ctl(self, *args, timeout=600):
        return subprocess.run([os.path.join(self.bin, "mtctl")] + list(args),
                              env=self.env, capture_output=True, timeout=timeout)

    def wait(self, job, timeout=180):
        r = self.ctl("wait", job, "--timeout", str(timeout))
        assert r.returncode == 0, (
            f"job {job} not done: {r.stderr.decode(errors='replace')}\n"
            + self.ctl("status", job).stdout.decode())

    def result(self, job):
        import json
        r = self.ctl("result", job)
        assert r.returncode == 0, r.stderr.decode(errors="replace")
        return json.loads(r.stdout)

    def stop(self, proc, timeout=30):
        """SIGTERMs a process and returns its exit code (it must exit)."""
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise AssertionError(f"{proc.args[0]} ignored SIGTERM for {timeout} s")

    def close(self):
        """Stops everything; every program must exit 0 on SIGTERM."""
        codes = [(p, self.stop(p)) for p in self.procs]
        bad = [(p.args[0], c, p.log_path) for p, c in codes if c != 0]
        assert not bad, f"programs did not exit 0 on SIGTERM: {bad}"


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path)
    yield c
    c.close()


@pytest.fixture(scope="module")
def shared_cluster(tmp_path_factory):
    """Three workers and one aggregator, shared by the tests of a module."""
    c = Cluster(tmp_path_factory.mktemp("cluster"))
    for _ in range(3):
        c.consumer()
    c.aggregator()
    c.wait_ready()
    yield c
    c.close()


def free_port():
    """A loopback TCP port nothing listens on (just now)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(cond, timeout, step=0.1):
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return True
        time.sleep(step)
    return False


def services(cmd):
    """Runs scripts/services.sh CMD (kafka-stop, kafka-start, redis-stop, ...)."""
    subprocess.run([os.path.join(ROOT, "scripts", "services.sh"), cmd],
                   check=True, capture_output=True, timeout=180)


def log_events(path, needle):
    """Times (seconds since the epoch) of the log lines containing needle."""
    import datetime
    out = []
    with open(path, "rb") as f:
        for line in f:
            if needle in line:
                stamp = line.split(b" ", 1)[0].decode()
                t = datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ")
                out.append(t.replace(tzinfo=datetime.timezone.utc).timestamp())
    return out


def assignments(path):
    """(time, set of (topic, partition)) for each "assigned" line of a log."""
    import re
    out = []
    times = log_events(path, b"INFO assigned")
    lines = [l for l in open(path, "rb") if b"INFO assigned" in l]
    for t, line in zip(times, lines):
        parts = set()
        listed = line.split(b"partition(s):", 1)[-1]  # not the [pid] prefix
        for topic, group in re.findall(rb"(\S+)\[([0-9,]*)\]", listed):
            parts.update((topic.decode(), int(x)) for x in group.split(b",") if x)
        out.append((t, parts))
    return out


def job_state(cluster, job):
    """The job's record from Redis, as mtctl status prints it, parsed."""
    out = {}
    for line in cluster.ctl("status", job).stdout.decode().splitlines():
        k, _, v = line.partition(":")
        out[k.strip()] = v.strip()
    return out


def progress(cluster, job):
    """Tasks done so far."""
    tasks = job_state(cluster, job).get("tasks", "0")
    return int(tasks.split("/")[0].split()[0])

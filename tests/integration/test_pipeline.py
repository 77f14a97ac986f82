"""The whole pipeline against the real broker and Redis: producer -> tasks
topic -> consumer group -> results topic -> aggregator -> Redis -> mtctl,
checked against an independent count for every awkward kind of input."""
import glob
import gzip
import os
import socket
import subprocess
import threading
import time

import pytest

from conftest import REDIS, Cluster, wait_until
from wordcount import as_json_keys, count_words


def real_text(limit):
    """Real English text from the machine's licence files and changelogs."""
    parts, size = [], 0
    paths = sorted(glob.glob("/usr/share/common-licenses/*")) + \
        sorted(glob.glob("/usr/share/doc/*/changelog*.gz"))
    for path in paths:
        if not os.path.isfile(path):
            continue
        opener = gzip.open if path.endswith(".gz") else open
        try:
            with opener(path, "rb") as f:
                data = f.read()
        except OSError:
            continue
        parts.append(data)
        size += len(data)
        if size >= limit:
            break
    text = b"".join(parts)[:limit]
    assert len(text) > 1000, "no real text found on this machine"
    return text


SAMPLE = real_text(3000)

AWKWARD = {
    "nul-bytes": b"\0".join(SAMPLE[i:i + 37] for i in range(0, len(SAMPLE), 37)),
    "crlf": SAMPLE.replace(b"\n", b"\r\n"),
    "invalid-utf8": SAMPLE[:1000] + b" caf\xc3\xa9 \xff\xfe na\xefve \xe2\x82 x"
    b"\xc0\xaf \xed\xa0\x80 \xf4\x90\x80\x80 \xe2\x82\xac\xe2\x82 "
    + bytes(range(256)) + b" \x80abc\x80 " + SAMPLE[1000:],
    "no-trailing-newline": SAMPLE.rstrip(b"\n") + b"\nlast WORD without newline",
    "empty": b"",
    "only-separators": b" \r\n\t.,;!?\0\x7f" * 50,
}
SIZES = [[], ["--bytes", "1"], ["--bytes", "7"], ["--bytes", "4096"],
         ["--lines", "1"], ["--lines", "3"]]


def check(cluster, job, *inputs):
    cluster.wait(job)
    res = cluster.result(job)
    assert res["state"] == "done"
    assert res["done"] == res["total"]
    assert res["failed"] == 0
    assert res["counts"] == as_json_keys(count_words(*inputs))
    return res


def write(tmp_path, name, data):
    p = tmp_path / name
    p.write_bytes(data)
    return str(p)


def test_real_text_with_three_consumers(shared_cluster, tmp_path):
    text = real_text(4 << 20)
    path = write(tmp_path, "corpus.txt", text)
    job = shared_cluster.submit(path, args=["--bytes", "16384"])
    res = check(shared_cluster, job, text)
    assert res["total"] >= len(text) // 16384


def test_awkward_inputs_at_every_task_size(shared_cluster, tmp_path):
    jobs = []
    for name, data in AWKWARD.items():
        path = write(tmp_path, name, data)
        for size in SIZES:
            jobs.append((shared_cluster.submit(path, args=size), data))
    for job, data in jobs:
        check(shared_cluster, job, data)


def test_line_larger_than_kafka_message_limit(shared_cluster, tmp_path):
    words = SAMPLE.split()
    line = b" ".join(words[i % len(words)] for i in range(600000))
    assert len(line) > 2_000_000 and b"\n" not in line
    path = write(tmp_path, "long-line", line + b"\nnext line\n")
    jobs = [shared_cluster.submit(path, args=a)
            for a in ([], ["--lines", "1"], ["--bytes", "300000"])]
    for job in jobs:
        res = check(shared_cluster, job, line + b"\nnext line\n")
        assert res["total"] >= 3  # the line was cut in several tasks


@pytest.mark.parametrize("limit,word_len", [(1000, 1001), (900000, 1200000)])
def test_word_larger_than_limit_is_an_error(shared_cluster, tmp_path, limit,
                                            word_len):
    path = write(tmp_path, "big-word", b"before " + b"w" * word_len + b" after\n")
    job = shared_cluster.job_id("bigword")
    r = shared_cluster.produce(["--op", "wordcount", "--job", job,
                                "--max-task-bytes", str(limit), path], check=False)
    assert r.returncode != 0
    assert b"longer than the task size limit" in r.stderr
    st = shared_cluster.ctl("status", job).stdout.decode()
    assert "state:    failed" in st


def test_files_stdin_and_word_boundaries(shared_cluster, tmp_path):
    a = write(tmp_path, "a", b"alpha beta gam")      # no newline at the end
    b = write(tmp_path, "b", b"ma delta\n")
    job = shared_cluster.submit(a, b)
    res = check(shared_cluster, job, b"alpha beta gam", b"ma delta\n")
    assert res["counts"] == {"alpha": 1, "beta": 1, "gam": 1, "ma": 1, "delta": 1}
    job = shared_cluster.submit("-", stdin=SAMPLE)
    check(shared_cluster, job, SAMPLE)


def test_job_id_reuse_is_refused(shared_cluster, tmp_path):
    path = write(tmp_path, "x", b"one two two\n")
    job = shared_cluster.submit(path)
    r = shared_cluster.produce(["--op", "wordcount", "--job", job, path],
                               check=False)
    assert r.returncode != 0 and b"already exists" in r.stderr
    check(shared_cluster, job, b"one two two\n")


def test_two_jobs_at_once(shared_cluster, tmp_path):
    texts = [real_text(1 << 20), SAMPLE * 200]
    paths = [write(tmp_path, f"in{i}", t) for i, t in enumerate(texts)]
    jobs = [None, None]

    def run(i):
        jobs[i] = shared_cluster.submit(paths[i], args=["--bytes", "2000"])
    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for job, text in zip(jobs, texts):
        check(shared_cluster, job, text)


def test_tasks_sent_before_any_consumer(tmp_path):
    c = Cluster(tmp_path)
    try:
        text = real_text(1 << 20)
        job = c.submit(write(tmp_path, "early", text), args=["--bytes", "8192"])
        st = c.ctl("status", job).stdout.decode()
        assert "state:    submitting" in st  # nothing has run it yet
        c.consumer()
        c.consumer()
        c.aggregator()
        check(c, job, text)
    finally:
        c.close()


def test_malformed_task_goes_to_dead_letter_topic(shared_cluster, tmp_path):
    env = shared_cluster.env
    garbage = os.urandom(64)
    subprocess.run(["kcat", "-P", "-b", env["MT_BROKERS"], "-t",
                    env["MT_TASKS_TOPIC"], "-p", "0"], input=garbage, check=True)
    # the workers carry on: a real job still completes
    job = shared_cluster.submit(write(tmp_path, "after", SAMPLE))
    check(shared_cluster, job, SAMPLE)

    def dead_letter_seen():
        r = subprocess.run(["kcat", "-C", "-b", env["MT_BROKERS"], "-t",
                            env["MT_DLQ_TOPIC"], "-e", "-q", "-f", "%h\n"],
                           capture_output=True, timeout=30)
        return b"mt-error=malformed task: missing header mt-version" in r.stdout
    assert wait_until(dead_letter_seen, 30, step=1)


def test_completion_is_published_once(shared_cluster, tmp_path):
    """A subscriber to mt:done hears each finished job exactly once, even
    when results are delivered twice."""
    host, port = REDIS.split("/")[0].rsplit(":", 1)
    sub = socket.create_connection((host, int(port)), timeout=30)
    sub.sendall(b"*2\r\n$9\r\nSUBSCRIBE\r\n$7\r\nmt:done\r\n")
    received = b""
    while received.count(b"\r\n") < 6:  # the subscribe confirmation
        received += sub.recv(4096)
    path = write(tmp_path, "pub", SAMPLE)
    job = shared_cluster.submit(path, args=["--bytes", "64"])
    check(shared_cluster, job, SAMPLE)
    # deliver some results of the job, and its end marker, a second time
    env = shared_cluster.env
    kcat = ["kcat", "-b", env["MT_BROKERS"], "-t", env["MT_RESULTS_TOPIC"]]
    dump = subprocess.run(kcat + ["-C", "-e", "-q", "-f", "%p %o %k %h\n"],
                          capture_output=True, timeout=60).stdout.decode()
    mine = [l.split(" ", 3) for l in dump.splitlines() if l.split(" ")[2] == job]
    assert len(mine) > 3
    for part, offset, _, headers in mine[:3] + mine[-1:]:
        value = subprocess.run(kcat + ["-C", "-p", part, "-o", offset, "-c", "1",
                                       "-e", "-q", "-f", "%s"],
                               capture_output=True, timeout=30).stdout
        f = tmp_path / f"dup-{offset}"
        f.write_bytes(value)
        hdr_args = [a for h in headers.split(",") for a in ("-H", h)]
        subprocess.run(kcat + ["-P", "-p", part, "-k", job] + hdr_args + [str(f)],
                       check=True, timeout=30)
    end = time.time() + 3
    sub.settimeout(0.5)
    while time.time() < end:
        try:
            received += sub.recv(65536)
        except socket.timeout:
            pass
    sub.close()
    assert received.count(b"\r\n" + job.encode() + b"\r\n") == 1
    res = check(shared_cluster, job, SAMPLE)  # the duplicates changed nothing
    assert res["done"] == len(mine) - 1

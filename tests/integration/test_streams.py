"""Streams: mt-producer --follow / --listen with --stream, windows by
arrival time, each window's result checked against an independent count of
exactly the lines sent into it."""
import json
import os
import resource
import socket
import subprocess
import threading
import time

import pytest

from conftest import REDIS, Cluster, free_port, wait_until
from wordcount import as_json_keys, count_words

WINDOW_MS = 1000


@pytest.fixture
def stream_cluster(tmp_path):
    c = Cluster(tmp_path)
    c.consumer()
    c.aggregator()
    c.wait_ready()
    yield c
    c.close()


def start_producer(c, args, stdin=None):
    log = open(c.tmp / f"stream-producer-{time.time_ns()}.log", "wb")
    p = subprocess.Popen([os.path.join(c.bin, "mt-producer"), *args], env=c.env,
                         stdin=stdin, stdout=subprocess.PIPE, stderr=log)
    p.log_path = log.name
    log.close()
    return p


def sleep_until_ms_of_window(at_ms):
    """Sleeps until at_ms past the start of the next window."""
    now = time.time() * 1000
    start = now - now % WINDOW_MS + WINDOW_MS
    time.sleep((start + at_ms - now) / 1000)
    return int(start)


def windows(c, stream):
    r = c.ctl("windows", stream, "100")
    assert r.returncode == 0, r.stderr
    ids = subprocess.run(["redis-cli", "-h", REDIS.split(":")[0], "-p",
                          REDIS.split(":")[1].split("/")[0], "-n", REDIS.split("/")[1],
                          "ZRANGE", f"mt:stream:{stream}", "0", "-1"],
                         capture_output=True, check=True).stdout.decode().split()
    out = {}
    for i in ids:
        r = c.ctl("result", i)
        if r.returncode == 0:  # else it expired just now
            out[int(i.split(".")[-1])] = json.loads(r.stdout)
    return out


def test_fixed_rate_stream_over_windows(stream_cluster):
    """Lines at a fixed rate (500/s, 0.4 s per window), each window's batch sent well inside
    it: every window's count equals the count of exactly its lines."""
    c = stream_cluster
    stream = f"{c.run}-rate"
    p = start_producer(c, ["--op", "wordcount", "--follow", "-", "--stream", stream,
                           "--window", "1s", "--lines", "50", "--flush-ms", "100"],
                       stdin=subprocess.PIPE)
    sent = {}
    for k in range(5):
        start = sleep_until_ms_of_window(200)
        batch = [b"batch%d word%d Common\n" % (k, i % 37) for i in range(200)]
        for line in batch:  # 200 lines over 0.4 s, from 0.2 s into the window
            p.stdin.write(line)
            p.stdin.flush()
            time.sleep(0.002)
        sent[start] = b"".join(batch)
    p.stdin.close()
    assert p.wait(60) == 0, open(p.log_path).read()
    assert p.stdout.read().decode().strip() == stream
    got = {}
    assert wait_until(lambda: len(got.update(windows(c, stream)) or got) == 5 and
                      all(r["state"] == "done" for r in got.values()), 60), got
    assert sorted(got) == sorted(sent)
    for start, data in sent.items():
        assert got[start]["counts"] == as_json_keys(count_words(data)), start
        assert got[start]["window_end_ms"] == start + WINDOW_MS


def test_followed_file_rotated_and_truncated(stream_cluster, tmp_path):
    c = stream_cluster
    stream = f"{c.run}-file"
    log = tmp_path / "app.log"
    p = start_producer(c, ["--op", "wordcount", "--follow", str(log), "--stream", stream,
                           "--window", "1s", "--flush-ms", "50"])
    written = []

    def write(path, data):
        with open(path, "ab") as f:
            f.write(data)
        written.append(data)

    time.sleep(0.3)  # the file does not exist yet: it is waited for
    write(log, b"".join(b"first %d\n" % i for i in range(100)))
    time.sleep(0.5)
    os.rename(log, tmp_path / "app.log.1")  # rotated, as logrotate does
    write(tmp_path / "app.log.1", b"late write to the old file\nno newline")
    write(log, b"".join(b"second %d\n" % i for i in range(100)))
    time.sleep(0.5)
    with open(log, "wb"):
        pass  # truncated in place (copytruncate)
    time.sleep(0.3)
    write(log, b"third line\n" * 10)
    time.sleep(1.5)
    p.terminate()
    assert p.wait(30) == 0, open(p.log_path).read()
    total = {}
    assert wait_until(lambda: (total.clear() or total.update(
        {w: r for w, r in windows(c, stream).items()})) is None and total and
        all(r["state"] == "done" for r in total.values()), 60)
    merged = {}
    for r in total.values():
        for word, n in r["counts"].items():
            merged[word] = merged.get(word, 0) + n
    # the old file's unterminated last line ends with the rotation
    assert merged == as_json_keys(count_words(*written))


def merged_word_counts(c, stream):
    """Once every window of a wordcount stream is done: their counts added."""
    got = {}
    assert wait_until(lambda: (got.clear() or got.update(windows(c, stream))) is None and
                      got and all(r["state"] == "done" for r in got.values()), 60)
    merged = {}
    for r in got.values():
        for word, n in r["counts"].items():
            merged[word] = merged.get(word, 0) + n
    return merged


def test_listen_many_clients_lines_whole(stream_cluster):
    c = stream_cluster
    stream = f"{c.run}-tcp"
    port = free_port()
    p = start_producer(c, ["--op", "wordcount", "--listen", f"127.0.0.1:{port}",
                           "--stream", stream, "--window", "1s", "--ttl", "8s"])
    assert wait_until(lambda: b"listening" in open(p.log_path, "rb").read(), 30)

    def client(name):
        conn = socket.create_connection(("127.0.0.1", port))
        for i in range(400):
            conn.sendall(b"%s-" % name)  # a line in two writes stays whole
            conn.sendall(b"w%d\n" % (i % 10))
        conn.close()

    names = [b"alpha", b"bravo", b"charlie", b"delta"]
    threads = [threading.Thread(target=client, args=(n,)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    time.sleep(1.5)
    p.terminate()
    assert p.wait(30) == 0
    merged = merged_word_counts(c, stream)
    want = count_words(b"".join(b"%s-w%d\n" % (n, i % 10) for n in names for i in range(400)))
    assert merged == as_json_keys(want)
    # window results expire after their ttl
    assert wait_until(lambda: not windows(c, stream), 20), "windows did not expire"


def test_listen_more_clients_than_served_at_once(stream_cluster):
    """1,200 clients connected at once (more than the 1,024 served): those
    beyond wait to be accepted, none is dropped, every line counts."""
    c = stream_cluster
    stream = f"{c.run}-crowd"
    port = free_port()
    p = start_producer(c, ["--op", "wordcount", "--listen", f"127.0.0.1:{port}",
                           "--stream", stream, "--window", "1h"])
    assert wait_until(lambda: b"listening" in open(p.log_path, "rb").read(), 30)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 1500:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
    conns = [socket.create_connection(("127.0.0.1", port)) for _ in range(1200)]
    for k, conn in enumerate(conns):
        conn.sendall(b"client%d\n" % (k % 7))
    for conn in conns:
        conn.close()
    want = count_words(b"".join(b"client%d\n" % (k % 7) for k in range(1200)))
    time.sleep(2)
    p.terminate()
    assert p.wait(30) == 0
    merged = merged_word_counts(c, stream)
    assert merged == as_json_keys(want)


def test_backpressure_pauses_reading(tmp_path):
    """Workers slower than the input: the producer stops reading while
    --max-pending tasks wait, never drops a line, and its memory stays flat."""
    c = Cluster(tmp_path)
    try:
        c.consumer("--threads", "1")
        c.aggregator()
        c.wait_ready()
        stream = f"{c.run}-slow"
        log = tmp_path / "fast.log"
        log.write_bytes(b"".join(b"event %d\n" % i for i in range(3000)))
        p = start_producer(c, ["--op", "sleep", "--args", '{"ms": 20}', "--follow", str(log),
                               "--stream", stream, "--window", "1s", "--lines", "10",
                               "--max-pending", "30"])
        rss = []

        def done_lines():
            got = windows(c, stream)
            return sum(r.get("lines", 0) for r in got.values())

        def sample():
            with open(f"/proc/{p.pid}/status") as f:
                rss.extend(int(l.split()[1]) for l in f if l.startswith("VmRSS"))
            return done_lines() >= 3000
        assert wait_until(sample, 120, step=0.5), done_lines()
        p.terminate()
        assert p.wait(30) == 0
        assert b"reading paused" in open(p.log_path, "rb").read()
        got = windows(c, stream)
        assert sum(r["lines"] for r in got.values()) == 3000
        assert all(r["state"] == "done" for r in got.values())
        # flat: the second half of the run uses no more memory than the first
        half = len(rss) // 2
        assert max(rss[half:]) <= max(rss[:half]) * 1.2, rss
    finally:
        c.close()


def test_producer_restart_mid_stream_loses_no_line(stream_cluster, tmp_path):
    """A producer following a file is killed (SIGKILL) mid-stream and started
    again: the window it had open is dropped and its lines are read again
    from the stream's cursor, so every line is counted exactly once."""
    import signal
    c = stream_cluster
    stream = f"{c.run}-restart"
    log = tmp_path / "events.log"
    args = ["--op", "wordcount", "--follow", str(log), "--stream", stream,
            "--window", "1s", "--flush-ms", "50", "--lines", "20"]
    written = []

    def write(n0, n1):
        data = b"".join(b"event%d\n" % i for i in range(n0, n1))
        with open(log, "ab") as f:
            f.write(data)
        written.append(data)

    p = start_producer(c, args)
    for k in range(6):  # 3 s of input, then a kill in the middle of a window
        write(k * 100, k * 100 + 100)
        time.sleep(0.5)
    time.sleep(0.3)
    p.send_signal(signal.SIGKILL)
    p.wait(10)
    write(600, 700)  # written while no producer runs
    p = start_producer(c, args)
    write(700, 800)
    time.sleep(2.5)
    p.terminate()
    assert p.wait(30) == 0, open(p.log_path).read()
    assert b"resuming at byte" in open(p.log_path, "rb").read()
    got = {}
    assert wait_until(lambda: (got.clear() or got.update(windows(c, stream))) is None and
                      got and all(r["state"] == "done" for r in got.values()), 60), got
    merged = {}
    for r in got.values():
        for word, n in r["counts"].items():
            merged[word] = merged.get(word, 0) + n
    assert merged == as_json_keys(count_words(b"".join(written)))

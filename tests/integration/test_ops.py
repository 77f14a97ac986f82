"""The stats, grep and exec ops and the example plugin, end to end on the
real broker and Redis, each checked against an independent computation
(Python's exact statistics, GNU grep, the input itself)."""
import json
import math
import os
import random
import statistics
import subprocess

import pytest

from conftest import ROOT, Cluster
from test_pipeline import real_text

PLUGIN = os.path.join(ROOT, "bin", "plugins", "longest.so")


@pytest.fixture(scope="module")
def ops_cluster(tmp_path_factory):
    """Two workers (which also know the example plugin) and one aggregator."""
    c = Cluster(tmp_path_factory.mktemp("ops"))
    c.env["MT_PLUGINS"] = PLUGIN
    c.consumer("--retries", "1", "--retry-backoff", "50")
    c.consumer("--retries", "1", "--retry-backoff", "50")
    c.aggregator()
    c.wait_ready()
    yield c
    c.close()


def submit(cluster, op, files=(), args=(), stdin=None, prog=()):
    job = cluster.job_id(op)
    cmd = ["--op", op, "--job", job, *args, *files]
    if prog:
        cmd += ["--", *prog]
    r = cluster.produce(cmd, stdin=stdin)
    assert r.stdout.decode().strip() == job
    return job


def stats_reference(lines, column=None, delimiter=","):
    """count, invalid and the exact statistics, from the rules in README.md."""
    xs, invalid = [], 0
    for raw in lines:
        line = raw.decode("latin-1")
        if not line.strip(" \t\r\v\f"):
            continue
        field = line
        if column is not None:
            parts = line.split(delimiter)
            field = parts[column - 1] if len(parts) >= column else ""
        text = field.strip(" \t\r\v\f")
        ok = bool(text) and all(ch in "0123456789+-.eE" for ch in text) \
            and not text.lower().startswith(("0x", "-0x", "+0x"))
        try:
            x = float(text) if ok else None
        except ValueError:
            x = None
        if x is None or not math.isfinite(x):
            invalid += 1
        else:
            xs.append(x)
    return xs, invalid


def check_stats(res, xs, invalid):
    assert res["state"] == "done" and res["failed"] == 0
    assert res["count"] == len(xs) and res["invalid"] == invalid
    exact_sum = math.fsum(xs)
    assert math.isclose(res["sum"], exact_sum, rel_tol=1e-9)
    assert res["min"] == min(xs) and res["max"] == max(xs)
    assert math.isclose(res["mean"], exact_sum / len(xs), rel_tol=1e-9)
    assert math.isclose(res["stddev"], statistics.pstdev(xs), rel_tol=1e-9)


def test_stats_against_exact_statistics(ops_cluster, tmp_path):
    rnd = random.Random(4)
    lines = []
    for i in range(120000):
        r = rnd.random()
        if r < 0.01:
            lines.append(rnd.choice([b"abc", b"nan", b"inf", b"-inf", b"1e309", b"0x1f",
                                     b"1e", b".", b"1 2", b"--1", b"\xff\x00"]))
        elif r < 0.02:
            lines.append(rnd.choice([b"", b"   ", b"\t"]))
        elif r < 0.5:
            # a large mean and a small spread: where sums of squares fail
            lines.append(b"  %r \r" % (1e9 + rnd.gauss(0, 1)))
        else:
            lines.append(b"%.6e" % rnd.uniform(-1e6, 1e6))
    data = b"\n".join(lines)  # no final newline
    path = tmp_path / "numbers.txt"
    path.write_bytes(data)
    job = submit(ops_cluster, "stats", [str(path)], ["--lines", "5000"])
    ops_cluster.wait(job)
    xs, invalid = stats_reference(data.split(b"\n"))
    check_stats(ops_cluster.result(job), xs, invalid)


def test_stats_column(ops_cluster):
    rnd = random.Random(5)
    rows = [b"id;value;note"]  # a header is one invalid line
    for i in range(30000):
        v = b"" if i % 997 == 0 else b"%.3f" % rnd.uniform(0, 100)
        rows.append(b"%d;%s;x" % (i, v))
    rows.append(b"short")
    data = b"\n".join(rows) + b"\n"
    job = submit(ops_cluster, "stats", args=["--column", "2", "--delimiter", ";",
                                             "--bytes", "20000"], stdin=data)
    ops_cluster.wait(job)
    xs, invalid = stats_reference(data.split(b"\n"), column=2, delimiter=";")
    check_stats(ops_cluster.result(job), xs, invalid)


def grep_reference(path, pattern, ignore_case):
    """GNU grep -n in the C locale: (count, [(line, text)])."""
    flags = ["-a", "-n", "-E"] + (["-i"] if ignore_case else [])
    out = subprocess.run(["grep", *flags, "--", pattern, str(path)], capture_output=True,
                         env=dict(os.environ, LC_ALL="C")).stdout
    matches = []
    for line in out.split(b"\n")[:-1]:
        n, _, text = line.partition(b":")
        matches.append((int(n), text))
    return len(matches), matches


def unescape(text):
    """Bytes from mtctl's text (\\xNN escapes for bytes that are not UTF-8,
    two backslashes for one)."""
    out, i, raw = bytearray(), 0, text.encode()
    while i < len(raw):
        if raw[i:i + 2] == b"\\\\":
            out.append(0x5c)
            i += 2
        elif raw[i:i + 2] == b"\\x":
            out.append(int(raw[i + 2:i + 4], 16))
            i += 4
        else:
            out.append(raw[i])
            i += 1
    return bytes(out)


@pytest.mark.parametrize("pattern,icase,limit", [
    (r"licen[cs]e|GNU", False, 50),
    (r"^the .* (software|program)", True, 7),
    (r"z{3}|no such words here", False, 10),
    (r"", False, 5),  # the empty pattern matches every line
])
def test_grep_against_gnu_grep(ops_cluster, tmp_path, pattern, icase, limit):
    data = real_text(2_000_000) + b"\nodd bytes \xff\x00 GNU \\xff\n"
    path = tmp_path / "text.txt"
    path.write_bytes(data)
    args = ["--pattern", pattern, "--max-matches", str(limit), "--lines", "700"]
    if icase:
        args.append("-i")
    job = submit(ops_cluster, "grep", [str(path)], args)
    ops_cluster.wait(job)
    res = ops_cluster.result(job)
    count, matches = grep_reference(path, pattern, icase)
    assert res["count"] == count
    got = [(m["line"], unescape(m["text"])) for m in res["matches"]]
    assert got == matches[:limit]


def test_exec_concat_in_task_order(ops_cluster):
    data = bytes(range(256)) * 4000 + b"\n".join(b"line %d" % i for i in range(20000))
    job = submit(ops_cluster, "exec", args=["--bytes", "3000"], stdin=data,
                 prog=["tr", "a-z", "A-Z"])
    ops_cluster.wait(job)
    raw = ops_cluster.ctl("result", job, "--raw")
    assert raw.returncode == 0, raw.stderr
    assert raw.stdout == data.translate(bytes.maketrans(b"abcdefghijklmnopqrstuvwxyz",
                                                        b"ABCDEFGHIJKLMNOPQRSTUVWXYZ"))


def test_exec_merge_sum_and_json(ops_cluster):
    data = b"".join(b"%d\n" % i for i in range(1, 10001))
    script = ("python3 -c 'import sys, json; xs = [int(l) for l in sys.stdin]; "
              "print(json.dumps({\"n\": len(xs), \"s\": {\"sum\": sum(xs), \"half\": sum(xs) / 2}}))'")
    job = submit(ops_cluster, "exec", args=["--shell", "--merge", "sum", "--lines", "700"],
                 stdin=data, prog=[script])
    ops_cluster.wait(job)
    out = ops_cluster.result(job)["output"]
    assert out == {"n": 10000, "s": {"sum": 50005000, "half": 25002500.0}}
    # json: lists concatenate in task order, numbers add
    script = ("python3 -c 'import sys; xs = [int(l) for l in sys.stdin]; "
              "print({\"first\": [xs[0]], \"count\": len(xs)}.__repr__().replace(\"\\x27\", \"\\x22\"))'")
    job = submit(ops_cluster, "exec", args=["--shell", "--merge", "json", "--lines", "1000"],
                 stdin=data, prog=[script])
    ops_cluster.wait(job)
    out = ops_cluster.result(job)["output"]
    assert out == {"first": list(range(1, 10001, 1000)), "count": 10000}


def test_exec_failures_are_retried_then_dead_lettered(ops_cluster, tmp_path):
    """Tasks whose program fails end in the dead-letter topic with the
    reason, the job finishes with errors listing exactly them; once the
    cause is gone, mtctl retry completes the job with the exact result."""
    broken = tmp_path / "broken"
    broken.write_text("")
    lines = [b"%d" % i for i in range(3000)]
    for i in (5, 1234, 2999):
        lines[i] = b"BAD"
    data = b"\n".join(lines) + b"\n"
    script = (f"in=$(cat); if [ -e {broken} ] && echo \"$in\" | grep -q BAD; then "
              "echo 'cannot parse BAD' >&2; exit 7; fi; echo \"$in\" | wc -l")
    job = submit(ops_cluster, "exec", args=["--shell", "--merge", "sum", "--lines", "100"],
                 stdin=data, prog=[script])
    r = ops_cluster.ctl("wait", job, "--timeout", "120")
    assert r.returncode == 3  # done with errors
    res = ops_cluster.result(job)
    assert res["state"] == "done_with_errors"
    assert [f["task"] for f in res["failed_tasks"]] == [0, 12, 29]
    for f in res["failed_tasks"]:
        assert f["error"] == "program exited with status 7: cannot parse BAD (after 2 attempts)"
    assert res["output"] == 2700  # the other 27 tasks
    dlq = ops_cluster.ctl("dlq", job)
    assert dlq.returncode == 0
    rows = dlq.stdout.decode().splitlines()[1:]
    assert sorted(int(r.split()[2]) for r in rows) == [0, 12, 29]
    assert all("status 7" in r for r in rows)
    broken.unlink()
    r = ops_cluster.ctl("retry", job)
    assert r.returncode == 0 and b"3 task(s)" in r.stdout, r.stderr
    ops_cluster.wait(job)
    res = ops_cluster.result(job)
    assert res["state"] == "done" and res["failed"] == 0 and res["output"] == 3000
    assert "failed_tasks" not in res
    # nothing left to retry
    r = ops_cluster.ctl("retry", job)
    assert r.returncode == 0 and b"no failed tasks left" in r.stderr


@pytest.mark.parametrize("prog,reason", [
    (["sleep 5"], "timed out after 300 ms"),
    (["kill -SEGV $$"], "killed by signal 11"),
    (["cat; exit 0", "--max-output"], "more than 100 bytes"),
    (["no-such-program-here"], "status 127"),
])
def test_exec_failure_reasons(ops_cluster, prog, reason):
    args = ["--shell", "--timeout", "300", "--max-output", "100", "--lines", "1000"]
    job = submit(ops_cluster, "exec", args=args, stdin=b"x" * 500 + b"\n",
                 prog=prog[:1])
    r = ops_cluster.ctl("wait", job, "--timeout", "60")
    assert r.returncode == 3
    res = ops_cluster.result(job)
    assert res["failed"] == 1 and reason in res["failed_tasks"][0]["error"]


def test_expired_tasks_are_dead_lettered(tmp_path):
    """Tasks submitted with a deadline while no worker runs expire; with a
    deadline in the future nothing changes."""
    import time
    c = Cluster(tmp_path)
    try:
        data = b"".join(b"%d\n" % i for i in range(1000))
        job = submit(c, "stats", args=["--deadline", "1s", "--lines", "100"], stdin=data)
        time.sleep(1.5)
        c.consumer()
        c.aggregator()
        r = c.ctl("wait", job, "--timeout", "60")
        assert r.returncode == 3
        res = c.result(job)
        assert res["failed"] == 10 and res["count"] == 0
        assert all(f["error"].startswith("expired") for f in res["failed_tasks"])
        job = submit(c, "stats", args=["--deadline", "10m", "--lines", "100"], stdin=data)
        c.wait(job)
        res = c.result(job)
        assert res["count"] == 1000 and res["sum"] == 499500
        for bad in ("soon", "2026-02-30T00:00:00Z", "2001-01-01T00:00:00Z"):
            r = c.produce(["--op", "stats", "--deadline", bad], stdin=b"", check=False)
            assert r.returncode != 0 and b"--deadline" in r.stderr
    finally:
        c.close()


def test_plugin_with_two_aggregators(tmp_path):
    """The example plugin merges its own state; two aggregators compete to
    merge it (compare-and-set in Redis) and the result is exact."""
    c = Cluster(tmp_path)
    c.env["MT_PLUGINS"] = PLUGIN
    try:
        c.consumer()
        c.aggregator("--batch", "3")
        c.aggregator("--batch", "3")
        c.wait_ready()
        data = real_text(1_500_000)
        job = submit(c, "longest", args=["--args", '{"k": 7}', "--lines", "200"], stdin=data)
        c.wait(job)
        res = c.result(job)
        lines = data.split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()
        best = sorted(range(len(lines)), key=lambda i: (-len(lines[i]), i))[:7]
        want = [{"line": i + 1, "length": len(lines[i]),
                 "text": lines[i][:1000].decode("latin-1")} for i in best]
        assert res["longest"] == want
        assert res["done"] == res["total"] and res["failed"] == 0
        # without the plugin, mtctl says what is missing
        env = dict(c.env)
        del env["MT_PLUGINS"]
        r = subprocess.run([os.path.join(c.bin, "mtctl"), "result", job], env=env,
                           capture_output=True)
        assert r.returncode != 0 and b"--plugin" in r.stderr
    finally:
        c.close()


def test_high_priority_first_without_starving(tmp_path):
    """One worker, one thread, a backlog of normal tasks: a high-priority job
    submitted later finishes first, and the normal job still moves while it
    runs."""
    c = Cluster(tmp_path)
    try:
        c.consumer("--threads", "1")
        c.aggregator()
        c.wait_ready()
        normal = submit(c, "sleep", args=["--args", '{"ms": 40}', "--lines", "1"],
                        stdin=b"x\n" * 150)
        from conftest import progress, wait_until
        assert wait_until(lambda: progress(c, normal) >= 10, 60)
        high = submit(c, "sleep", args=["--priority", "high", "--args", '{"ms": 40}',
                                        "--lines", "1"], stdin=b"y\n" * 30)
        before = progress(c, normal)
        c.wait(high, timeout=60)
        during = progress(c, normal) - before
        assert c.result(high)["tasks"] == 30
        assert json.loads(c.ctl("result", normal).stdout)["state"] != "done"
        # about one normal task in four while high-priority work waits
        assert 3 <= during <= 20, during
        c.wait(normal, timeout=60)
        assert c.result(normal)["tasks"] == 150
    finally:
        c.close()


def test_sums_big_and_tiny_through_redis(ops_cluster):
    """Float sums kept at full precision in Redis, at both ends of the range."""
    job = submit(ops_cluster, "stats", args=["--lines", "1"], stdin=b"1e-19\n1e-19\n3.3e-19\n")
    ops_cluster.wait(job)
    res = ops_cluster.result(job)
    assert math.isclose(res["sum"], math.fsum([1e-19, 1e-19, 3.3e-19]), rel_tol=1e-15)
    job = submit(ops_cluster, "stats", args=["--lines", "1"], stdin=b"1.234567890123e-12\n")
    ops_cluster.wait(job)
    assert ops_cluster.result(job)["sum"] == 1.234567890123e-12
    job = submit(ops_cluster, "exec", args=["--shell", "--merge", "sum", "--lines", "1"],
                 stdin=b"a\nb\n", prog=["echo 1e20"])
    ops_cluster.wait(job)
    assert ops_cluster.result(job)["output"] == 2e20
    # a variance beyond doubles fails its task with the reason
    job = submit(ops_cluster, "stats", stdin=b"1e200\n-1e200\n")
    assert ops_cluster.ctl("wait", job, "--timeout", "60").returncode == 3
    assert "variance overflows" in ops_cluster.result(job)["failed_tasks"][0]["error"]


def test_line_numbers_across_files(ops_cluster, tmp_path):
    """A file without a final newline still ends its last line: the next
    file's lines are numbered after it."""
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_bytes(b"a\nb")
    b.write_bytes(b"c\nb\n")
    job = submit(ops_cluster, "grep", [str(a), str(b)], ["--pattern", "b|c"])
    ops_cluster.wait(job)
    res = ops_cluster.result(job)
    assert res["count"] == 3
    assert [(m["line"], m["text"]) for m in res["matches"]] == [(2, "b"), (3, "c"), (4, "b")]


def test_plugin_missing_in_aggregator_then_retried(tmp_path):
    """Results the aggregator cannot read (its plugin was not loaded) are
    dead-lettered with a reason that says what to do; after a restart with
    the plugin, mtctl retry completes the job exactly."""
    c = Cluster(tmp_path)
    try:
        c.consumer("--plugin", PLUGIN)
        agg = c.aggregator()
        c.wait_ready()
        data = b"".join(b"%s\n" % (b"x" * (i % 97)) for i in range(2000))
        job = submit(c, "longest", args=["--plugin", PLUGIN, "--args", '{"k": 2}',
                                         "--lines", "500"], stdin=data)
        assert c.ctl("wait", job, "--timeout", "60").returncode == 3
        res = c.ctl("--plugin", PLUGIN, "result", job)
        failed = json.loads(res.stdout)["failed_tasks"]
        assert len(failed) == 4 and all("--plugin" in f["error"] for f in failed)
        assert c.stop(agg) == 0
        c.procs.remove(agg)
        c.aggregator("--plugin", PLUGIN)
        r = c.ctl("retry", job)
        assert r.returncode == 0 and b"4 result(s)" in r.stdout, r.stdout + r.stderr
        c.wait(job)
        out = json.loads(c.ctl("--plugin", PLUGIN, "result", job).stdout)
        assert out["state"] == "done"
        assert [m["line"] for m in out["longest"]] == [97, 194]
    finally:
        c.close()


def test_programs_do_not_outlive_their_worker(tmp_path):
    """A worker stopped while its tasks' programs run kills them as it
    exits (they run again elsewhere)."""
    c = Cluster(tmp_path)
    try:
        w = c.consumer("--stop-wait", "300")
        c.aggregator()
        c.wait_ready()
        marker = f"sleep 60.{random.randrange(10**8, 10**9)}"  # unique to this test
        submit(c, "exec", args=["--shell", "--lines", "1"], stdin=b"1\n2\n", prog=[marker])
        from conftest import wait_until

        def running():
            return subprocess.run(["pgrep", "-f", marker], capture_output=True).returncode == 0
        assert wait_until(running, 30)
        assert c.stop(w) == 0
        c.procs.remove(w)
        assert wait_until(lambda: not running(), 5), "the task's program outlived the worker"
    finally:
        c.close()


def accesslog_reference(data, top):
    import re
    line_re = re.compile(rb'^\S+ \S+ \S+ \[[^\]]*\] "\S+ ([^ "?]+)[^"]*" ([1-5]\d\d) (\d+|-)(?: |$)')
    status, paths, requests, nbytes, invalid = {}, {}, 0, 0, 0
    for line in data.split(b"\n"):
        line = line.rstrip(b"\r")
        if not line:
            continue
        m = line_re.match(line)
        if not m:
            invalid += 1
            continue
        requests += 1
        nbytes += 0 if m.group(3) == b"-" else int(m.group(3))
        code = m.group(2).decode()
        status[code] = status.get(code, 0) + 1
        p = m.group(1)
        paths[p] = paths.get(p, 0) + 1
    best = sorted(paths.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    return {"requests": requests, "bytes": nbytes, "invalid": invalid, "status": status,
            "top_paths": [{"path": p.decode(), "count": n} for p, n in best]}


def test_accesslog_against_a_parser(ops_cluster):
    gen = subprocess.run([os.path.join(ROOT, "scripts", "accesslog.py"), "--rate", "200000",
                          "--seconds", "0.2", "--seed", "9"], capture_output=True, check=True)
    data = gen.stdout + (b'bad line\n1.2.3.4 - - [x] "GET /a HTTP/1.1" 999 10\n'
                         b'1.2.3.4 - - [x] "GET /a?b=c HTTP/1.0" 200 -\r\n\n'
                         b'1.2.3.4 - - [x] "GET /b" 404 12\n')
    assert data.count(b"\n") > 5000
    job = submit(ops_cluster, "accesslog", args=["--args", '{"top": 7}', "--lines", "500"],
                 stdin=data)
    ops_cluster.wait(job)
    res = ops_cluster.result(job)
    want = accesslog_reference(data, 7)
    for k, v in want.items():
        assert res[k] == v, k

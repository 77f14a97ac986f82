"""Chaos: a job of 24,000 micro-tasks while workers are killed (SIGKILL) and
restarted every few seconds, the aggregator is killed once, the broker is
restarted once, and the number of workers churns 1 -> 4 -> 2 -> 4. The result
must be exact: no task lost, none counted twice."""
import random
import signal
import time

from conftest import Cluster, assignments, progress, services
from test_failures import check_exact, lines_file, submit_sleep

TASKS = 24000


def test_chaos(tmp_path):
    rng = random.Random(20261203)
    c = Cluster(tmp_path)
    workers, everyone, kills, recoveries, stopped = [], [], [], [], []

    def start_worker():
        workers.append(c.consumer("--threads", "2", "--prefetch", "200"))
        everyone.append(workers[-1])

    def kill_worker():
        victim = workers.pop(rng.randrange(len(workers)))
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        c.procs.remove(victim)
        kills.append((time.time(), victim))
        start_worker()

    def scale_to(n):
        while len(workers) < n:
            start_worker()
        while len(workers) > n:
            p = workers.pop(rng.randrange(len(workers)))
            stopped.append(c.stop(p))
            c.procs.remove(p)

    try:
        for _ in range(3):
            start_worker()
        aggregator = c.aggregator()
        c.wait_ready()
        path, data = lines_file(tmp_path, TASKS)
        t0 = time.time()
        job = submit_sleep(c, path, 10)
        plan = [(0.08, "scale", 1), (0.18, "kill-aggregator", None),
                (0.28, "scale", 4), (0.45, "restart-broker", None),
                (0.60, "scale", 2), (0.75, "scale", 4)]
        last_kill = time.time()
        while True:
            done = progress(c, job)
            if done >= TASKS:
                break
            assert time.time() - t0 < 600, f"chaos job stuck at {done}/{TASKS}"
            if plan and done >= plan[0][0] * TASKS:
                _, what, arg = plan.pop(0)
                if what == "scale":
                    scale_to(arg)
                elif what == "kill-aggregator":
                    aggregator.send_signal(signal.SIGKILL)
                    aggregator.wait()
                    c.procs.remove(aggregator)
                    aggregator = c.aggregator()
                elif what == "restart-broker":
                    services("kafka-stop")
                    services("kafka-start")
            elif (time.time() - last_kill >= 5 and len(workers) >= 2
                  and done < 0.95 * TASKS):
                # a survivor is always left: with one worker, each restart
                # would wait for the dead member's session to expire
                kill_worker()
                last_kill = time.time()
            time.sleep(0.2)
        res = check_exact(c, job, data, timeout=120)
        elapsed = time.time() - t0
    finally:
        c.close()
    assert all(code == 0 for code in stopped), f"a worker stopped with {stopped}"
    # recovery: from a kill until every partition the victim held was
    # assigned to another worker
    for killed_at, victim in kills:
        held = [parts for t, parts in assignments(victim.log_path) if t < killed_at]
        if not held or not held[-1]:
            continue  # killed before it had any partition
        taken = {}
        for p in everyone:
            if p is victim:
                continue
            for t, parts in assignments(p.log_path):
                for n in parts & held[-1]:
                    if t > killed_at:
                        taken[n] = min(t, taken.get(n, t))
        if set(taken) == held[-1]:
            recoveries.append(max(taken.values()) - killed_at)
    lost = TASKS - res["done"]
    twice = res["tasks"] - TASKS
    print(f"\nchaos: {TASKS} tasks in {elapsed:.0f} s; {len(kills)} worker kills "
          f"(SIGKILL), 1 aggregator kill, 1 broker restart, {len(stopped)} "
          f"graceful stops; kill -> the victim's partitions resumed elsewhere (s): "
          f"{', '.join(f'{r:.1f}' for r in recoveries)}; "
          f"tasks lost: {lost}; tasks counted twice: {twice}")
    assert lost == 0 and twice == 0
    assert len(kills) >= 3

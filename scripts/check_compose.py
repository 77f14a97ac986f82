#!/usr/bin/env python3
"""Checks compose/ without a Docker engine (`make check-compose`, part of make test).

1. `docker-compose config -q` accepts compose/docker-compose.yml.
2. The consumer service can be scaled: no container_name, no host ports.
3. microtask's services run their program in exec form under an init, so
   SIGTERM from `docker compose stop` reaches the program.
4. Every MT_* variable the file sets is one the programs read: the names
   the C sources look up with getenv (whole string literals "MT_...").
5. The Dockerfile's build stage has what it needs: the paths it COPYs, and
   nothing else, build and install the programs here (`make all install`).
Exits 1 with one line per problem.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COMPOSE = os.path.join(ROOT, "compose", "docker-compose.yml")
DOCKERFILE = os.path.join(ROOT, "compose", "Dockerfile")
SOURCES = ["lib", "producer", "consumer", "aggregator", "mtctl"]
OURS = ("mt-producer", "mt-consumer", "mt-aggregator", "mtctl")


def variables_read():
    names = set()
    for d in SOURCES:
        for name in os.listdir(os.path.join(ROOT, d)):
            if name.endswith(".c"):
                text = open(os.path.join(ROOT, d, name), encoding="utf-8").read()
                names.update(re.findall(r'"(MT_[A-Z0-9_]+)"', text))
    return names


def program_of(svc):
    """The program a service runs (its entrypoint, else its command), or None."""
    for key in ("entrypoint", "command"):
        v = svc.get(key)
        if isinstance(v, list) and v and v[0] in OURS:
            return v[0]
        if isinstance(v, str) and v.split()[:1] and v.split()[0] in OURS:
            return v.split()[0]
    return None


def check_services(problems):
    r = subprocess.run(["docker-compose", "-f", COMPOSE, "config", "-q"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        problems.append(f"docker-compose config -q: {r.stderr.strip()}")
        return
    # The normalised form, with anchors and merges resolved.
    full = subprocess.run(["docker-compose", "-f", COMPOSE, "config"],
                          capture_output=True, text=True, check=True).stdout
    services = yaml.safe_load(full)["services"]
    for need in ("kafka", "redis", "aggregator", "consumer", "producer"):
        if need not in services:
            problems.append(f"no {need} service")
    for name in ("kafka", "redis"):
        if name in services and "healthcheck" not in services[name]:
            problems.append(f"{name}: no healthcheck")
    consumer = services.get("consumer", {})
    if "container_name" in consumer:
        problems.append("consumer: container_name stops --scale")
    if consumer.get("ports"):
        problems.append("consumer: host ports stop --scale (use expose)")
    known = variables_read()
    for name, svc in services.items():
        prog = program_of(svc)
        if not prog:
            continue
        for key in ("entrypoint", "command"):
            if isinstance(svc.get(key), str):
                problems.append(f"{name}: {key} in shell form: SIGTERM would go to a shell")
        if not svc.get("init"):
            problems.append(f"{name}: no init: true (signals, reaping exec's programs)")
        env = svc.get("environment") or {}
        if isinstance(env, list):
            env = dict(e.split("=", 1) if "=" in e else (e, "") for e in env)
        for var in env:
            if var.startswith("MT_") and var not in known:
                problems.append(f"{name}: sets {var}, which no program reads")
    return services


def check_dockerfile(problems):
    copies = []
    for line in open(DOCKERFILE, encoding="utf-8"):
        m = re.match(r"\s*COPY\s+(?!--from)(\S+)\s+(\S+)\s*$", line)
        if m:
            copies.append(m.group(1))
    if not copies:
        problems.append("Dockerfile: no COPY of the sources")
        return
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "src")
        os.mkdir(src)
        for path in copies:
            origin = os.path.join(ROOT, path)
            if os.path.isdir(origin):
                shutil.copytree(origin, os.path.join(src, path))
            elif os.path.exists(origin):
                shutil.copy(origin, os.path.join(src, path))
            else:
                problems.append(f"Dockerfile: COPY {path}: no such path")
                return
        r = subprocess.run(["make", "-j2", "all", "install", "PREFIX=/opt/microtask",
                            f"DESTDIR={tmp}/root"], cwd=src, capture_output=True, text=True)
        if r.returncode != 0:
            tail = "\n".join(r.stderr.strip().splitlines()[-5:])
            problems.append(f"Dockerfile: the COPYed sources do not build:\n{tail}")
            return
        for prog in OURS:
            if not os.access(os.path.join(tmp, "root/opt/microtask/bin", prog), os.X_OK):
                problems.append(f"Dockerfile: make install did not install {prog}")


def main():
    problems = []
    services = check_services(problems)
    check_dockerfile(problems)
    for p in problems:
        print(f"check-compose: {p}", file=sys.stderr)
    if problems:
        return 1
    print(f"check-compose: ok ({len(services)} services; consumer scalable; "
          f"every MT_* variable read; the image's sources build)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

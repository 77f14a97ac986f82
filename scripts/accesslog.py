#!/usr/bin/env python3
"""Writes a web server access log (Combined Log Format) to stdout at a fixed
rate, as a live server would: either lines generated with realistic shapes
(a few hot pages, a long tail, mostly 200s, some 304/404/500s, bots), or the
lines of a real log file replayed. For trying streams:

  scripts/accesslog.py --rate 2000 --seconds 60 | \\
      bin/mt-producer --op accesslog --follow - --stream web --window 10s
  scripts/accesslog.py --replay /var/log/nginx/access.log --rate 500 | ...
"""
import argparse
import random
import sys
import time

PAGES = ["/", "/index.html", "/products", "/products/42", "/cart", "/checkout",
         "/login", "/api/v1/items", "/api/v1/items/7", "/static/app.js",
         "/static/style.css", "/images/logo.png", "/search", "/about", "/blog",
         "/blog/2026/12/streams", "/favicon.ico", "/robots.txt"]
AGENTS = ["Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0",
          "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_1) AppleWebKit/605.1.15 Safari/605.1.15",
          "curl/7.88.1", "Googlebot/2.1 (+http://www.google.com/bot.html)"]


def generated(rnd):
    while True:
        # a Zipf-like choice: the first pages are hot, the rest a long tail
        page = PAGES[min(int(rnd.paretovariate(1.2)) - 1, len(PAGES) - 1)]
        if page == "/search":
            page += "?q=" + rnd.choice(["kafka", "redis", "micro+tasks", "c"])
        if rnd.random() < 0.02:
            page = "/missing/%d" % rnd.randrange(1000)
        status = rnd.choices([200, 304, 404, 500, 301], [85, 8, 4, 1, 2])[0]
        if page.startswith("/missing"):
            status = 404
        method = "POST" if page in ("/checkout", "/login") else "GET"
        size = 0 if status == 304 else rnd.randrange(200, 50000)
        stamp = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime())
        yield (f'10.{rnd.randrange(256)}.{rnd.randrange(256)}.{rnd.randrange(1, 255)} - - '
               f'[{stamp}] "{method} {page} HTTP/1.1" {status} {size} '
               f'"-" "{rnd.choice(AGENTS)}"\n').encode()


def replayed(path):
    while True:
        with open(path, "rb") as f:
            for line in f:
                yield line if line.endswith(b"\n") else line + b"\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rate", type=float, default=1000, help="lines per second (1000)")
    ap.add_argument("--seconds", type=float, default=0, help="stop after this long (never)")
    ap.add_argument("--replay", help="replay this log file (in a loop) instead")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--count", action="store_true", help="say on stderr how many lines went out")
    a = ap.parse_args()
    lines = replayed(a.replay) if a.replay else generated(random.Random(a.seed))
    out = sys.stdout.buffer
    start = time.monotonic()
    sent = 0
    total = round(a.rate * a.seconds) if a.seconds else None  # exactly rate x seconds
    try:
        while total is None or sent < total:
            # as many lines as the rate allows by now, then a short sleep
            due = int((time.monotonic() - start) * a.rate) + 1
            if total is not None:
                due = min(due, total)
            while sent < due:
                out.write(next(lines))
                sent += 1
            out.flush()
            time.sleep(min(0.01, 1 / a.rate))
    except (BrokenPipeError, KeyboardInterrupt):
        pass
    if a.count:
        print(f"{sent} lines in {time.monotonic() - start:.1f} s", file=sys.stderr)


if __name__ == "__main__":
    main()

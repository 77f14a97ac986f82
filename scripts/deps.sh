#!/usr/bin/env bash
# Installs the Debian packages microtask needs to build, test and run its local services.
# Does nothing (and prints nothing) when all are present; safe to run any number of times.
set -eu

PACKAGES="build-essential pkg-config librdkafka-dev libhiredis-dev libjansson-dev
  libmicrohttpd-dev libcunit1-dev redis-server kcat valgrind clang libclang-rt-14-dev python3 maven
  default-jre-headless docker-compose"

missing=""
for p in $PACKAGES; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    [ "$status" = "install ok installed" ] || missing="$missing $p"
done
# The tests are driven by pytest, from PyPI when the Python in PATH lacks it.
need_pytest() { ! python3 -c 'import pytest' >/dev/null 2>&1; }
if [ -z "$missing" ]; then
    if need_pytest; then
        echo "deps: installing pytest" >&2
        python3 -m pip install --quiet pytest >&2
    fi
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "deps: missing packages:$missing" >&2
    echo "deps: install them with:" >&2
    echo "  sudo apt-get install -y$missing" >&2
    exit 1
fi

echo "deps: installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086  # word splitting of the package list is intended
apt-get install -y -qq --no-install-recommends -o Dpkg::Use-Pty=0 $missing >&2
if need_pytest; then
    echo "deps: installing pytest" >&2
    python3 -m pip install --quiet pytest >&2 || apt-get install -y -qq python3-pytest >&2
fi

#!/usr/bin/env bash
# Installs the Debian packages microtask needs to build, test and run its local services.
# Does nothing (and prints nothing) when all are present; safe to run any number of times.
set -eu

PACKAGES="build-essential pkg-config librdkafka-dev libhiredis-dev libjansson-dev
  libmicrohttpd-dev libcunit1-dev redis-server kcat valgrind clang libclang-rt-14-dev python3 python3-venv maven
  default-jre-headless docker-compose"

missing=""
for p in $PACKAGES; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    [ "$status" = "install ok installed" ] || missing="$missing $p"
done
# The tests are driven by pytest, read compose files with PyYAML and parse
# metrics with Prometheus's own client library: from PyPI for the Python in
# PATH when it lacks them (it may not be Debian's).
python_missing() {
    local mods=""
    python3 -c 'import pytest' >/dev/null 2>&1 || mods="$mods pytest"
    python3 -c 'import yaml' >/dev/null 2>&1 || mods="$mods pyyaml"
    python3 -c 'import prometheus_client' >/dev/null 2>&1 || mods="$mods prometheus-client"
    echo "$mods"
}
install_python() {
    local mods
    mods=$(python_missing)
    [ -z "$mods" ] && return 0
    echo "deps: installing Python modules:$mods" >&2
    # shellcheck disable=SC2086  # one word per module
    PIP_ROOT_USER_ACTION=ignore python3 -m pip install --quiet $mods >&2 && return 0
    # Debian's own Python refuses pip (externally managed): take its packages
    echo "deps: pip failed; installing Debian's python3 packages instead" >&2
    apt-get install -y -qq --no-install-recommends python3-pytest python3-yaml \
        python3-prometheus-client >&2
}
if [ -z "$missing" ]; then
    install_python
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
install_python

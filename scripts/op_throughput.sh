#!/usr/bin/env bash
# Throughput of each op on one large input: submit, wait until done, print
# tasks/s and MB/s (submit to complete, wall time). Expects the programs
# built, services up and workers plus an aggregator running (with the
# example plugin loaded for "longest").
#   scripts/op_throughput.sh TEXT_FILE NUMBERS_FILE
set -eu
BIN=$(cd "$(dirname "$0")/.." && pwd)/bin
text=$1 nums=$2
run() { # name file producer-args...
    local name=$1 file=$2; shift 2
    local bytes start job end tasks
    bytes=$(stat -c %s "$file")
    start=$(date +%s.%N)
    job=$("$BIN/mt-producer" -q "$file" "$@")
    "$BIN/mtctl" -q wait "$job" >/dev/null || { echo "$name: job $job did not finish cleanly" >&2; return 1; }
    end=$(date +%s.%N)
    tasks=$("$BIN/mtctl" status "$job" | awk '/^tasks:/ {split($2, a, "/"); print a[2]}')
    awk -v n="$name" -v b="$bytes" -v t="$tasks" -v s="$start" -v e="$end" 'BEGIN {
        d = e - s; printf "%-10s %7.1f MB %6d tasks %6.2f s %8.0f tasks/s %7.1f MB/s\n",
        n, b / 1048576, t, d, t / d, b / 1048576 / d }'
    "$BIN/mtctl" delete "$job" >/dev/null
}
run wordcount "$text" --op wordcount
run stats "$nums" --op stats
run grep "$text" --op grep --pattern 'licen[cs]e|copyright' -i
run exec "$text" --op exec --merge sum -- wc -l
run longest "$text" --plugin "$BIN/plugins/longest.so" --op longest --args '{"k": 10}'

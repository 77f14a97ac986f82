#!/usr/bin/env bash
# The demo behind `make demo`: a word count over tens of MB of real text (the
# machine's Debian changelogs, copyright and licence files), run by 3 workers
# and 1 aggregator, read back from Redis and checked against an independent
# count. Expects the programs built and Kafka and Redis up (make does both).
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=$ROOT/bin
DEMO=$ROOT/.run/demo
CORPUS=$DEMO/corpus.txt
LIMIT_MB=${MT_DEMO_MB:-60}
mkdir -p "$DEMO"

say() { printf '\n== %s\n' "$*"; }

# 1. Real input: decompressed changelogs, copyright files and licences.
if [ ! -s "$CORPUS" ]; then
    say "collecting real text from /usr/share/doc and /usr/share/common-licenses"
    find /usr/share/common-licenses /usr/share/doc -type f \
        \( -name 'changelog*' -o -name 'NEWS*' -o -name 'copyright' \
           -o -name 'README*' -o -path '/usr/share/common-licenses/*' \) \
        -print0 | sort -z | xargs -0 zcat -f -- 2>/dev/null |
        head -c "$((LIMIT_MB * 1024 * 1024))" >"$CORPUS.tmp" || true
    mv "$CORPUS.tmp" "$CORPUS"
fi
bytes=$(stat -c %s "$CORPUS")
calc() { awk "BEGIN { print $* }"; }
printf 'input: %s (%.1f MB)\n' "$CORPUS" "$(calc "$bytes / 1048576")"

# 2. Three workers and an aggregator, stopped (SIGTERM) when the demo ends.
pids=()
stop_all() {
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" || echo "process $pid exited with $?" >&2; done
}
trap stop_all EXIT
say "starting 3 consumers and 1 aggregator (logs in .run/demo/)"
for n in 1 2 3; do
    "$BIN/mt-consumer" >"$DEMO/consumer-$n.log" 2>&1 &
    pids+=($!)
done
"$BIN/mt-aggregator" >"$DEMO/aggregator.log" 2>&1 &
pids+=($!)
# Let the group settle so all three share the partitions from the start.
for _ in $(seq 100); do
    n=$(grep -l "assigned" "$DEMO"/consumer-*.log 2>/dev/null | wc -l)
    [ "$n" -eq 3 ] && break
    sleep 0.1
done

# 3. Submit, wait, read back.
say "submitting a wordcount job"
start=$(date +%s.%N)
JOB=$("$BIN/mt-producer" --op wordcount "$CORPUS")
echo "job: $JOB"
"$BIN/mtctl" wait "$JOB" --progress --timeout 600
end=$(date +%s.%N)
say "status"
"$BIN/mtctl" status "$JOB"
say "top 20 words, read back from Redis"
"$BIN/mtctl" top "$JOB" 20

# 4. Check the whole result against an independent count.
say "checking every count against an independent word count"
"$BIN/mtctl" result "$JOB" >"$DEMO/result.json"
python3 "$ROOT/scripts/check_wordcount.py" "$CORPUS" "$DEMO/result.json"

tasks=$(redis-cli --raw HGET "mt:job:$JOB" total)
wall=$(calc "$end - $start")
say "summary"
printf 'input %.1f MB, %d tasks, wall time %.2f s (submit to complete), %.0f tasks/s, %.1f MB/s\n' \
    "$(calc "$bytes / 1048576")" "$tasks" "$wall" \
    "$(calc "$tasks / $wall")" "$(calc "$bytes / 1048576 / $wall")"
echo "results stay in Redis: redis-cli HGETALL mt:job:$JOB ; redis-cli HGET mt:job:$JOB:result the"

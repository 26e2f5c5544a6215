#!/usr/bin/env bash
# Reads of keys the cache lacks, beside a write load.
#
# Loads random keys ten times respite's cache (1,000-byte values, a 16 MB
# storage.cache_max_bytes), then GETs random keys from 20 clients at -P 1 while 20 others
# SET random keys at -P 16 (WRITERS=0: no writes beside), and prints each server's GET
# throughput and latency, and the SETs' rate meanwhile. Most GETs miss respite's cache and
# read SQLite, while the row writer applies rows and merges commit on its thread: a read
# that waits for either shows in the max. redis-server (no persistence, everything in
# memory) runs the same load in the same run, for scale.
#
#   bench/cold_reads.sh
#   WRITERS=0 bench/cold_reads.sh      # reads alone
#   RESPITE_BIN=path bench/cold_reads.sh
set -euo pipefail

KEYS=${KEYS:-160000}
SIZE=${SIZE:-1000}
CACHE=${CACHE:-16mb}
READS=${READS:-40000}
WRITERS=${WRITERS:-20}

root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh" cold_reads
need_tools redis-server redis-cli redis-benchmark
respite_release

value=$(changing_value "$SIZE")
printf '[storage]\ncache_max_bytes = "%s"\n' "$CACHE" >"$WORK/respite.toml"
start_both "$WORK/respite.toml"

# Commands processed by the server on port $1 so far.
processed() {
    redis-cli -p "$1" INFO stats | tr -d '\r' | awk -F: '/^total_commands_processed/ { print $2 }'
}

echo "$KEYS keys of $SIZE bytes (respite's cache $CACHE); $READS GETs of random keys (-c 20 -P 1)"
echo "beside $WRITERS clients SETting random keys (-P 16)"
echo
echo "| server | GET rps | p50 ms | p99 ms | max ms | SETs/s beside |"
echo "| --- | ---: | ---: | ---: | ---: | ---: |"
for name in redis respite; do
    port=$RPORT
    [ "$name" = respite ] && port=$SPORT
    redis-benchmark -p "$port" -n $((KEYS * 5 / 2)) -r "$KEYS" -c 50 -P 16 \
        SET 'key:__rand_int__' "$value" >/dev/null 2>&1
    sleep 2
    writer=
    if [ "$WRITERS" -gt 0 ]; then
        redis-benchmark -p "$port" -n 1000000000 -r "$KEYS" -c "$WRITERS" -P 16 \
            SET 'key:__rand_int__' "$value" >/dev/null 2>&1 &
        writer=$!
        sleep 1
    fi
    before=$(processed "$port")
    started=$(date +%s.%N)
    read -r rps p50 p99 max < <(redis-benchmark -p "$port" -n "$READS" -r "$KEYS" -c 20 -P 1 \
        GET 'key:__rand_int__' 2>/dev/null | latency_summary)
    elapsed=$(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')
    sets=0
    if [ -n "$writer" ]; then
        kill "$writer" 2>/dev/null || true
        wait "$writer" 2>/dev/null || true
        sets=$(awk -v n="$(processed "$port")" -v b="$before" -v r="$READS" -v t="$elapsed" \
            'BEGIN { printf "%d", (n - b - r) / t }')
    fi
    echo "| $name | $rps | $p50 | $p99 | $max | $sets |"
done

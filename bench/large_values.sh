#!/usr/bin/env bash
# Random SETs of large values over a data set larger than respite's caches: throughput,
# latency and how respite's merges went, with redis-server (no persistence) in the same run.
#
# Each server is filled with KEYS random SETs twice over (-r KEYS: most keys written, many
# updated), then measured with REQUESTS more random SETs. respite keeps values over 512 bytes
# apart from their keys (storage/values.rs), so each update rewrites a page of its own.
#
#   bench/large_values.sh                    # 400,000 keys of 1,000 bytes, 1 GB cache
#   SIZE=100 bench/large_values.sh           # values kept in the key rows, for comparison
#   KEYS=1000000 CACHE=64mb bench/large_values.sh
#   RESPITE_BIN=path bench/large_values.sh   # this binary instead of a release build
set -euo pipefail

KEYS=${KEYS:-400000}
SIZE=${SIZE:-1000}
CACHE=${CACHE:-1gb}
REQUESTS=${REQUESTS:-200000}
CLIENTS=${CLIENTS:-50}
PIPELINE=${PIPELINE:-16}

root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh" large_values
need_tools redis-server redis-cli redis-benchmark
respite_release

# Each value starts with a random number, so that a rewrite changes it, as most rewrites do.
value=$(changing_value "$SIZE")

# One redis-benchmark run of random SETs: port, requests; prints "rps p50 p99 max" (ms).
sets() {
    redis-benchmark -p "$1" -c "$CLIENTS" -P "$PIPELINE" -n "$2" -r "$KEYS" \
        SET key:__rand_int__ "$value" 2>/dev/null | latency_summary
}

info() { redis-cli -p "$1" INFO persistence | tr -d '\r' | sed -n "s/^$2://p"; }

printf '[storage]\ncache_max_bytes = "%s"\n' "$CACHE" >"$WORK/respite.toml"
start_both "$WORK/respite.toml"
rport=$RPORT sport=$SPORT

echo "$KEYS keys of $SIZE bytes, respite's cache_max_bytes $CACHE, -c $CLIENTS -P $PIPELINE"
echo "| server | phase | rps | p50 ms | p99 ms | max ms | merges (at the journal's limit) |"
echo "| --- | --- | ---: | ---: | ---: | ---: | --- |"
for port in "$rport" "$sport"; do
    name=redis
    [ "$port" = "$sport" ] && name=respite
    for phase in fill measure; do
        n=$REQUESTS
        [ "$phase" = fill ] && n=$((KEYS * 2))
        before=0 limit_before=0
        [ "$name" = respite ] && before=$(info "$port" respite_journal_merges) &&
            limit_before=$(info "$port" respite_journal_backpressure_merges)
        read -r rps p50 p99 max < <(sets "$port" "$n")
        merges=-
        if [ "$name" = respite ]; then
            merges="$(($(info "$port" respite_journal_merges) - before)) ($(($(info "$port" respite_journal_backpressure_merges) - limit_before)))"
        fi
        echo "| $name | $phase | $rps | $p50 | $p99 | $max | $merges |"
    done
done
echo "respite's file: $(du -m "$WORK/respite.db" | cut -f1) MB"

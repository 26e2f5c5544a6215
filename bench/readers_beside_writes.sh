#!/usr/bin/env bash
# Do clients that only read wait for a write load heavier than respite's row writer?
#
# Random SETs of large, changing values (heavier than the row writer, so that back-pressure
# applies), and beside them a few clients reading one cached key at -P 1: the readers'
# throughput and latency, and the writers'. respite holds commands that write back while its
# writer is behind and serves the others (storage/rows.rs); redis-server (no persistence)
# runs the same load in the same run, for scale.
#
#   bench/readers_beside_writes.sh                 # 100,000 keys of 1,000 bytes, 5 readers
#   SIZE=100 bench/readers_beside_writes.sh        # short values: the writer keeps up
#   RESPITE_BIN=path bench/readers_beside_writes.sh
set -euo pipefail

KEYS=${KEYS:-100000}
SIZE=${SIZE:-1000}
WRITES=${WRITES:-300000}
READS=${READS:-20000}
READERS=${READERS:-5}

root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh" readers_beside_writes
need_tools redis-server redis-cli redis-benchmark
respite_release

value=$(changing_value "$SIZE")

# Prints "rps p50 p99 max" (ms) of a redis-benchmark run: port, then its arguments.
summary() {
    local port=$1
    shift
    redis-benchmark -p "$port" "$@" 2>/dev/null | latency_summary
}

printf '[storage]\ncache_max_bytes = "1gb"\n' >"$WORK/respite.toml"
start_both "$WORK/respite.toml"
rport=$RPORT sport=$SPORT

echo "$KEYS keys of $SIZE bytes: $WRITES SETs (-c 50 -P 16) beside $READERS clients GETting a cached key (-P 1)"
echo "| server | GET rps | GET p99 ms | GET max ms | SET rps | SET p99 ms | SET max ms |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
for port in "$rport" "$sport"; do
    name=redis
    [ "$port" = "$sport" ] && name=respite
    redis-cli -p "$port" SET hot x >/dev/null
    redis-benchmark -p "$port" -c 50 -P 16 -n $((KEYS * 2)) -r "$KEYS" \
        SET key:__rand_int__ "$value" >/dev/null 2>&1
    summary "$port" -c 50 -P 16 -n "$WRITES" -r "$KEYS" SET key:__rand_int__ "$value" \
        >"$WORK/sets.txt" &
    writers=$!
    sleep 0.5
    read -r grps _ gp99 gmax < <(summary "$port" -c "$READERS" -P 1 -n "$READS" GET hot)
    wait "$writers"
    read -r srps _ sp99 smax <"$WORK/sets.txt"
    echo "| $name | $grps | $gp99 | $gmax | $srps | $sp99 | $smax |"
done
echo "respite: $(redis-cli -p "$sport" INFO persistence | tr -d '\r' |
    grep -E '^respite_rows_(backlogs|backpressure_waits):' | tr '\n' ' ')"

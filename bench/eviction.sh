#!/usr/bin/env bash
# Eviction under a write load: redis-benchmark SET over a million random keys against
# redis-server and a release build of respite with the same `maxmemory` and policy, in the
# same run. Prints a markdown table: requests per second, the ratio, keys evicted, and the
# size each server reports against its limit (Redis: used_memory; Respite: the logical data
# size, respite_data_bytes, which is what its maxmemory limits).
#
#   bench/eviction.sh                          # 8mb, allkeys-lru, -n 300000 -c 50, -P 1 and 16
#   MAXMEMORY=64mb POLICY=allkeys-lfu bench/eviction.sh
#   RESPITE_BIN=path bench/eviction.sh         # another respite binary
#
# Figures are noisy on a shared machine, and more so while something else compiles.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
source "$ROOT/bench/lib.sh" eviction

REQUESTS=${REQUESTS:-300000}
CLIENTS=${CLIENTS:-50}
PIPELINES=${PIPELINES:-"1 16"}
MAXMEMORY=${MAXMEMORY:-8mb}
POLICY=${POLICY:-allkeys-lru}
SIZE=${SIZE:-100}
if [ -z "${RESPITE_BIN:-}" ]; then
    (cd "$ROOT" && cargo build --release -q -p respite)
    RESPITE_BIN=$ROOT/target/release/respite
fi

field() { redis-cli -p "$1" INFO everything | tr -d '\r' | awk -F: -v f="$2" '$1 == f { print $2 }'; }

# One row: a fresh server of each kind per pipeline depth, so both start empty.
run() {
    local pipeline=$1 redis_port respite_port redis_rps respite_rps
    redis_port=$(free_port)
    redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no \
        --dir "$WORK" --maxmemory "$MAXMEMORY" --maxmemory-policy "$POLICY" >/dev/null 2>&1 &
    local redis_pid=$!
    PIDS+=("$redis_pid")
    respite_port=$(free_port)
    rm -f "$WORK"/respite.db*
    printf '[redis]\nmaxmemory = "%s"\nmaxmemory-policy = "%s"\n' "$MAXMEMORY" "$POLICY" \
        > "$WORK/respite.toml"
    "$RESPITE_BIN" --config "$WORK/respite.toml" --bind 127.0.0.1 --port "$respite_port" \
        --db "$WORK/respite.db" >/dev/null 2>&1 &
    local respite_pid=$!
    PIDS+=("$respite_pid")
    wait_ping "$redis_port"
    wait_ping "$respite_port"
    redis_rps=$(REQUESTS=$REQUESTS quick_rps "$redis_port" set "$pipeline" -d "$SIZE" -r 1000000)
    respite_rps=$(REQUESTS=$REQUESTS quick_rps "$respite_port" set "$pipeline" -d "$SIZE" -r 1000000)
    echo "| SET -d $SIZE -r 1000000 | $pipeline | $POLICY | $redis_rps | $respite_rps |" \
        "$(awk -v a="$respite_rps" -v b="$redis_rps" 'BEGIN { printf "%.2f", a / b }') |" \
        "$(field "$redis_port" evicted_keys) | $(field "$respite_port" evicted_keys) |" \
        "$(field "$redis_port" used_memory) / $(field "$redis_port" maxmemory) |" \
        "$(field "$respite_port" respite_data_bytes) / $(field "$respite_port" maxmemory) |"
    kill "$redis_pid" "$respite_pid" 2>/dev/null || true
    wait "$redis_pid" "$respite_pid" 2>/dev/null || true
}

echo "maxmemory $MAXMEMORY, $POLICY, $REQUESTS requests, $CLIENTS clients;" \
    "respite $(cd "$ROOT" && git rev-parse --short HEAD), $(redis-server --version | awk '{print $3}')"
echo
echo "| test | pipeline | policy | redis rps | respite rps | respite/redis | redis evicted | respite evicted | redis used/max | respite data/max |"
echo "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
for pipeline in $PIPELINES; do
    run "$pipeline"
done

#!/usr/bin/env bash
# Memory with a data set larger than the cache: loads the same keys into redis-server and
# into respite (with a small storage.cache_max_bytes), then reads them back at random, and
# prints each server's resident memory (VmRSS) after loading and after reading.
#
#   bench/memory.sh                    # 1,000,000 keys of 500 bytes, respite cache 64mb
#   KEYS=200000 SIZE=1000 CACHE=32mb bench/memory.sh
#   RESPITE_BIN=path bench/memory.sh   # this binary instead of building target/release/respite
#
# Both servers run on ephemeral loopback ports in a temporary directory and are killed on
# exit. Memory is not timing: the figures are steady on a shared machine.
set -euo pipefail

KEYS=${KEYS:-1000000}
SIZE=${SIZE:-500}
CACHE=${CACHE:-64mb}

for tool in redis-server redis-benchmark redis-cli cargo; do
    command -v "$tool" >/dev/null 2>&1 || { echo "memory.sh: $tool is missing" >&2; exit 1; }
done

cd "$(dirname "$0")/.."
WORK=$(mktemp -d "${TMPDIR:-/tmp}/respite-mem.XXXXXX")
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

if [ -z "${RESPITE_BIN:-}" ]; then
    cargo build --release --quiet
    RESPITE_BIN=$(pwd)/target/release/respite
fi

rss_mb() { awk '/VmRSS/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status"; }

port=$((20000 + RANDOM % 40000))
redis-server --save '' --appendonly no --bind 127.0.0.1 --port "$port" --dir "$WORK" \
    --logfile "$WORK/redis.log" &
PIDS+=($!)
REDIS_PID=$!
REDIS_PORT=$port

printf '[storage]\ncache_max_bytes = "%s"\n' "$CACHE" >"$WORK/respite.toml"
"$RESPITE_BIN" --config "$WORK/respite.toml" --bind 127.0.0.1 --port 0 --db "$WORK/respite.db" \
    2>"$WORK/respite.log" &
PIDS+=($!)
RESPITE_PID=$!
for _ in $(seq 600); do
    RESPITE_PORT=$(sed -n 's/.*Ready to accept connections on 127\.0\.0\.1:\([0-9]\{1,5\}\).*/\1/p' \
        "$WORK/respite.log" | head -n 1)
    [ -n "$RESPITE_PORT" ] && break
    sleep 0.05
done
for _ in $(seq 100); do redis-cli -p "$REDIS_PORT" PING >/dev/null 2>&1 && break; sleep 0.05; done

# -r KEYS with KEYS*2 requests touches nearly every key of the range.
load() { redis-benchmark -p "$1" -c 50 -P 16 -n $((KEYS * 2)) -r "$KEYS" -d "$SIZE" -t set -q >/dev/null; }
read_back() { redis-benchmark -p "$1" -c 50 -P 16 -n "$KEYS" -r "$KEYS" -t get -q >/dev/null; }

echo "$KEYS keys of $SIZE bytes; respite cache_max_bytes = $CACHE"
echo
echo "| server | keys | RSS after load (MB) | RSS after random reads (MB) |"
echo "| --- | ---: | ---: | ---: |"
for server in redis respite; do
    if [ "$server" = redis ]; then p=$REDIS_PORT; pid=$REDIS_PID; else p=$RESPITE_PORT; pid=$RESPITE_PID; fi
    load "$p"
    after_load=$(rss_mb "$pid")
    read_back "$p"
    after_read=$(rss_mb "$pid")
    echo "| $server | $(redis-cli -p "$p" DBSIZE) | $after_load | $after_read |"
done
echo
echo "respite file: $(du -m "$WORK/respite.db" | cut -f1) MB (+ WAL $(du -m "$WORK/respite.db-wal" 2>/dev/null | cut -f1 || echo 0) MB)"

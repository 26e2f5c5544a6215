#!/usr/bin/env bash
# Memory with a data set larger than the cache: loads the same keys into redis-server and
# into respite (with a small storage.cache_max_bytes), then reads them back at random, and
# prints each server's resident memory (VmRSS): its highest value sampled during the load
# and during the reads, and its value after each. Issue 14's bound for respite is
# cache_max_bytes + 64 MiB, during the load and after it.
#
#   bench/memory.sh                    # 1,000,000 keys of 500 bytes, respite cache 64mb
#   KEYS=200000 SIZE=1000 CACHE=32mb bench/memory.sh
#   SERVERS=respite bench/memory.sh    # respite alone (redis needs ~550 MB for the default)
#   RESPITE_BIN=path bench/memory.sh   # this binary instead of building target/release/respite
#   RESPITE_CONF=file bench/memory.sh  # extra TOML lines for respite's configuration
#
# Both servers run on ephemeral loopback ports in a temporary directory and are killed on
# exit. After the reads it prints respite's own account of its memory (INFO memory and
# MEMORY STATS), which says where the bytes beyond the cache go. Memory is not timing: the
# figures are steady on a shared machine.
set -euo pipefail

KEYS=${KEYS:-1000000}
SIZE=${SIZE:-500}
CACHE=${CACHE:-64mb}
SERVERS=${SERVERS:-redis respite}
# Seconds between two RSS samples during a phase.
SAMPLE=${SAMPLE:-0.1}

for tool in redis-server redis-benchmark redis-cli cargo; do
    command -v "$tool" >/dev/null 2>&1 || { echo "memory.sh: $tool is missing" >&2; exit 1; }
done

cd "$(dirname "$0")/.."
source bench/lib.sh memory

respite_release

rss_mb() { awk '/VmRSS/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status"; }

# Runs a command while sampling the RSS of pid $1; prints the highest sample (MB).
peak_during() {
    local pid=$1 peak=0 now
    shift
    "$@" &
    local job=$!
    while kill -0 "$job" 2>/dev/null; do
        now=$(rss_mb "$pid")
        [ "$now" -gt "$peak" ] && peak=$now
        sleep "$SAMPLE"
    done
    wait "$job"
    now=$(rss_mb "$pid")
    [ "$now" -gt "$peak" ] && peak=$now
    echo "$peak"
}

start_respite() {
    printf '[storage]\ncache_max_bytes = "%s"\n' "$CACHE" >"$WORK/respite.toml"
    if [ -n "${RESPITE_CONF:-}" ]; then cat "$RESPITE_CONF" >>"$WORK/respite.toml"; fi
    start_server respite --config "$WORK/respite.toml"
}

# -r KEYS with KEYS*2 requests touches nearly every key of the range.
load() { redis-benchmark -p "$1" -c 50 -P 16 -n $((KEYS * 2)) -r "$KEYS" -d "$SIZE" -t set -q >/dev/null; }
read_back() { redis-benchmark -p "$1" -c 50 -P 16 -n "$KEYS" -r "$KEYS" -t get -q >/dev/null; }

echo "$KEYS keys of $SIZE bytes; respite cache_max_bytes = $CACHE"
echo
echo "| server | keys | RSS peak during load (MB) | RSS after load (MB) | RSS peak during reads (MB) | RSS after reads (MB) |"
echo "| --- | ---: | ---: | ---: | ---: | ---: |"
for server in $SERVERS; do
    case $server in
        redis) start_server redis ;;
        respite) start_respite; RESPITE_PORT=$SERVER_PORT ;;
        *) echo "memory.sh: unknown server $server" >&2; exit 1 ;;
    esac
    p=$SERVER_PORT
    pid=$SERVER_PID
    load_peak=$(peak_during "$pid" load "$p")
    after_load=$(rss_mb "$pid")
    read_peak=$(peak_during "$pid" read_back "$p")
    after_read=$(rss_mb "$pid")
    echo "| $server | $(redis-cli -p "$p" DBSIZE) | $load_peak | $after_load | $read_peak | $after_read |"
done

if [[ " $SERVERS " == *" respite "* ]]; then
    echo
    echo "respite file: $(du -m "$WORK/respite.db" | cut -f1) MB (+ WAL $(du -m "$WORK/respite.db-wal" 2>/dev/null | cut -f1 || echo 0) MB)"
    echo
    echo "respite after the reads:"
    redis-cli -p "$RESPITE_PORT" INFO memory | tr -d '\r' | grep -E \
        '^(used_memory|used_memory_rss|allocator_[a-z_]*|rss_overhead_bytes|respite_[a-z_]*):' || true
    redis-cli -p "$RESPITE_PORT" INFO persistence | tr -d '\r' | grep -E '^respite_(journal_bytes|rows_queued):' || true
    # jemalloc's arenas and their dirty, muzzy and retained pages.
    redis-cli -p "$RESPITE_PORT" MEMORY MALLOC-STATS | tr -d '\r' | grep -E \
        '^(Allocated|Background threads|Arenas|opt\.(narenas|dirty_decay_ms|muzzy_decay_ms|background_thread))|^ *(dirty|muzzy|retained|resident):' | head -20 || true
fi

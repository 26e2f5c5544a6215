#!/usr/bin/env bash
# Restart time: how long respite takes to answer PING after a start, (1) after kill -9 with its
# redo journal at (or near) its size limit, so the start replays the whole journal, and (2) on
# a large data file after a clean shutdown. Also prints how long the key filter takes to get
# ready in the background (lookups use SQLite until then; the server answers meanwhile).
#
#   bench/restart.sh                          # 16 MB journal; 2,000,000 keys of 500 bytes
#   KEYS=10000000 SIZE=1000 bench/restart.sh  # a 10 GB file (about ten minutes to fill)
#   JOURNAL=64mb bench/restart.sh            # another journal_max_bytes
#   RESPITE_BIN=path bench/restart.sh         # this binary instead of target/release/respite
set -euo pipefail

KEYS=${KEYS:-2000000}
SIZE=${SIZE:-500}
JOURNAL=${JOURNAL:-16mb}

for tool in redis-benchmark redis-cli cargo; do
    command -v "$tool" >/dev/null 2>&1 || { echo "restart.sh: $tool is missing" >&2; exit 1; }
done

cd "$(dirname "$0")/.."
WORK=$(mktemp -d "${TMPDIR:-/tmp}/respite-restart.XXXXXX")
PID=
cleanup() {
    [ -n "$PID" ] && { kill -9 "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; }
    rm -rf "$WORK"
}
trap cleanup EXIT

if [ -z "${RESPITE_BIN:-}" ]; then
    cargo build --release --quiet
    RESPITE_BIN=$(pwd)/target/release/respite
fi

PORT=$((20000 + RANDOM % 40000))
now_ms() { date +%s%3N; }

# Starts respite on the work directory's file; START_MS = milliseconds until PING answers.
start() {
    local t0
    t0=$(now_ms)
    "$RESPITE_BIN" --config "$WORK/respite.toml" --bind 127.0.0.1 --port "$PORT" \
        --db "$WORK/respite.db" >/dev/null 2>>"$WORK/respite.log" &
    PID=$!
    until redis-cli -p "$PORT" PING >/dev/null 2>&1; do sleep 0.005; done
    START_MS=$(($(now_ms) - t0))
}

info() { redis-cli -p "$PORT" INFO "$1" | tr -d '\r' | sed -n "s/^$2://p"; }

# Milliseconds from now until the key filter reports ready.
filter_ready_ms() {
    local t0
    t0=$(now_ms)
    until [ "$(info memory respite_key_filter)" = ready ]; do sleep 0.05; done
    echo $(($(now_ms) - t0))
}

echo "| case | data file (MB) | journal (MB) | records replayed | start to PING (ms) | key filter ready after (ms) |"
echo "| --- | ---: | ---: | ---: | ---: | ---: |"

# 1. The journal at its limit: merges only when it is full, then kill -9 before one.
printf '[storage]\nmerge_interval_ms = 3600000\njournal_max_bytes = "%s"\n' "$JOURNAL" \
    >"$WORK/respite.toml"
start
# Fill it to just under the limit: each SET of SIZE bytes journals about SIZE + 26 bytes.
limit=$(numfmt --from=iec "$(echo "${JOURNAL^^}" | sed 's/B$//')")
redis-benchmark -p "$PORT" -c 50 -P 16 -n $((limit * 9 / 10 / (SIZE + 26))) -r 1000000 \
    -d "$SIZE" -t set -q >/dev/null
journal=$(info persistence respite_journal_bytes)
kill -9 "$PID"; wait "$PID" 2>/dev/null || true
start
ms=$START_MS
replayed=$(info persistence respite_journal_replayed_records)
ready=$(filter_ready_ms)
echo "| kill -9 with a full journal | $(du -m "$WORK/respite.db" | cut -f1) | $((journal / 1048576)) | $replayed | $ms | $ready |"
redis-cli -p "$PORT" SHUTDOWN >/dev/null 2>&1 || true
wait "$PID" 2>/dev/null || true
rm -f "$WORK"/respite.db*

# 2. A large file: KEYS keys of SIZE bytes (DEBUG POPULATE, which commits as it goes: a
# 10 GB file in minutes, where redis-benchmark's random SETs took half an hour), a clean
# shutdown, a start.
printf '[redis]\nenable-debug-command = "yes"\n' >"$WORK/respite.toml"
start
redis-cli -p "$PORT" DEBUG POPULATE "$KEYS" key "$SIZE" >/dev/null
keys=$(redis-cli -p "$PORT" DBSIZE)
redis-cli -p "$PORT" SHUTDOWN >/dev/null 2>&1 || true
wait "$PID" 2>/dev/null || true
start
ms=$START_MS
ready=$(filter_ready_ms)
echo "| clean restart, $keys keys | $(du -m "$WORK/respite.db" | cut -f1) | 0 | 0 | $ms | $ready |"

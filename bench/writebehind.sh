#!/usr/bin/env bash
# WB.INCR, WB.UPDATE and WB.INSERT throughput (redis-benchmark, 50 clients, pipeline 1 and
# 16), each against redis-server's INCR / HSET / RPUSH as the reference of the same run, and
# what the flushes wrote to the application table: flushes, rows written, rows per flush
# (from WB.STATS). The application database is a SQLite file (or PostgreSQL with PG_URL).
# Rows are drawn from 1,000 ids (-r): counters and updates coalesce per row between flushes.
#
#   bench/writebehind.sh              # defaults below
#   bench/writebehind.sh -n 200000    # more requests per test
#
# Options (or the environment variables in brackets):
#   -n N      requests per test [REQUESTS, default 100000]
#   -i MS     flush_interval_ms [INTERVAL, default 100]
#   PG_URL=postgres://user@host:port/db   flush to this PostgreSQL (its tables posts and
#             events are dropped and made again) instead of a SQLite file
#   RESPITE_BIN=path   benchmark this binary instead of building target/release/respite
set -euo pipefail

REQUESTS=${REQUESTS:-100000}
INTERVAL=${INTERVAL:-100}
ROWS=1000
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }
while getopts "n:i:h" opt; do
    case "$opt" in
        n) REQUESTS=$OPTARG ;;
        i) INTERVAL=$OPTARG ;;
        h) usage; exit 0 ;;
        *) usage >&2; exit 2 ;;
    esac
done

for tool in redis-server redis-cli redis-benchmark sqlite3 cargo; do
    command -v "$tool" >/dev/null 2>&1 || { echo "writebehind.sh: $tool is missing" >&2; exit 1; }
done
if [ -n "${PG_URL:-}" ]; then
    command -v psql >/dev/null 2>&1 || { echo "writebehind.sh: psql is missing" >&2; exit 1; }
fi

cd "$(dirname "$0")/.."
if [ -z "${RESPITE_BIN:-}" ]; then
    cargo build --release --quiet --bin respite
    RESPITE_BIN=target/release/respite
fi

# shellcheck source=bench/lib.sh
source bench/lib.sh writebehind

SCHEMA="CREATE TABLE posts (id INTEGER PRIMARY KEY, views INTEGER NOT NULL DEFAULT 0, title TEXT);
CREATE TABLE events (kind TEXT NOT NULL, n INTEGER);"
SEED="INSERT INTO posts (id) SELECT g FROM generate_series(0, $((ROWS - 1))) AS g;"
if [ -n "${PG_URL:-}" ]; then
    psql -q "$PG_URL" -c "DROP TABLE IF EXISTS posts, events, respite_wb_flushes" -c "$SCHEMA" -c "$SEED"
    URL=$PG_URL
    count_events() { psql -qAt "$PG_URL" -c "SELECT COUNT(*) FROM events"; }
    TARGET="PostgreSQL"
else
    sqlite3 "$WORK/app.db" "$SCHEMA
        WITH RECURSIVE g(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM g WHERE i < $((ROWS - 1)))
        INSERT INTO posts (id) SELECT i FROM g;"
    URL="sqlite:$WORK/app.db"
    count_events() { sqlite3 "$WORK/app.db" "SELECT COUNT(*) FROM events"; }
    TARGET="SQLite"
fi

REDIS=$(free_port)
redis-server --port "$REDIS" --bind 127.0.0.1 --save '' --appendonly no >"$WORK/redis.log" 2>&1 &
PIDS+=($!)
wait_ping "$REDIS"

PORT=$(free_port)
printf '[plugins]\nenabled = ["writebehind"]\n[plugins.writebehind]\nflush_interval_ms = %s\n[plugins.writebehind.connections.app]\nurl = "%s"\n' \
    "$INTERVAL" "$URL" >"$WORK/respite.toml"
"$RESPITE_BIN" --config "$WORK/respite.toml" --bind 127.0.0.1 --port "$PORT" \
    --db "$WORK/respite.db" >"$WORK/respite.log" 2>&1 &
PIDS+=($!)
wait_ping "$PORT"

# rps PORT PIPELINE COMMAND...: requests per second of one redis-benchmark run.
rps() {
    local port=$1 pipeline=$2
    shift 2
    redis-benchmark -p "$port" -c 50 -n "$REQUESTS" -P "$pipeline" -r "$ROWS" --csv "$@" 2>/dev/null \
        | awk -F',' 'NR == 2 { v = $(NF - 6); gsub(/"/, "", v); print int(v) }'
}

# stat TABLE FIELD: a field of WB.STATS for app.TABLE.
stat() {
    redis-cli -p "$PORT" --no-raw WB.STATS | tr -d '"' | awk -v t="$1" -v f="$2" '
        { sub(/^ *[0-9]+\) */, ""); sub(/^ *[0-9]+\) */, "") }
        prev == "table" { cur = $0 }
        cur == t && prev == f { print $0; exit }
        { prev = $0 }' | sed 's/(integer) //'
}

echo "Respite $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(nproc) cores, $(redis-server --version | awk '{print $3}'), target: $TARGET, flush_interval_ms = $INTERVAL, $REQUESTS requests per test, rows drawn from $ROWS"
echo
echo "| command | pipeline | respite rps | redis reference | redis rps |"
echo "|---|---:|---:|---|---:|"
for p in 1 16; do
    echo "| WB.INCR | $p | $(rps "$PORT" "$p" WB.INCR app posts __rand_int__ views 1) | INCR | $(rps "$REDIS" "$p" INCR key:__rand_int__) |"
    echo "| WB.UPDATE | $p | $(rps "$PORT" "$p" WB.UPDATE app posts __rand_int__ title t__rand_int__) | HSET | $(rps "$REDIS" "$p" HSET h:__rand_int__ title t__rand_int__) |"
    echo "| WB.INSERT | $p | $(rps "$PORT" "$p" WB.INSERT app events '{"kind":"v__rand_int__","n":1}') | RPUSH | $(rps "$REDIS" "$p" RPUSH list '{"kind":"v__rand_int__","n":1}') |"
done
redis-cli -p "$PORT" WB.FLUSH >/dev/null

echo
echo "| table | flushes | rows written | rows per flush | failures |"
echo "|---|---:|---:|---:|---:|"
for t in posts events; do
    f=$(stat "$t" flushes)
    w=$(stat "$t" rows_written)
    echo "| $t | $f | $w | $(( f > 0 ? w / f : 0 )) | $(stat "$t" failures) |"
done
echo
# redis-benchmark may send a few more requests than -n when pipelining: the RPUSH runs had the
# same settings, and the list's length says how many they sent.
echo "rows in events: $(count_events); RPUSHes that the same redis-benchmark settings sent: $(redis-cli -p "$REDIS" LLEN list)"
echo "WB.GET of a counter agrees with the table after the flush: $(redis-cli -p "$PORT" WB.GET app posts 7 views) = $(
    if [ -n "${PG_URL:-}" ]; then psql -qAt "$PG_URL" -c "SELECT views FROM posts WHERE id = 7"
    else sqlite3 "$WORK/app.db" "SELECT views FROM posts WHERE id = 7"; fi)"

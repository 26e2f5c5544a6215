#!/usr/bin/env bash
# Bulk import rate of the migrate plugin from a local redis-server: keys/s and MB/s for
# small strings, large strings and small hashes, lists, sets, sorted sets and streams. Each
# data set is copied with MIGRATION.START ... NO-TRACK (the bulk copy alone) into a fresh
# database, timed from START until MIGRATION.STATUS says completed.
#
#   bench/migrate.sh                   # 200,000 small keys and the rest
#   SMALL=50000 bench/migrate.sh
#   RESPITE_BIN=path bench/migrate.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SMALL=${SMALL:-200000}
LARGE=${LARGE:-1000}
TYPED=${TYPED:-50000}
OPTS=${OPTS:-"MAX-CONCURRENCY 8 BATCH-KEYS 500 SCAN-COUNT 1000"}
if [ -z "${RESPITE_BIN:-}" ]; then
    cargo build --release --quiet --bin respite
    RESPITE_BIN=target/release/respite
fi
dir=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$dir"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rport=$(free_port); sport=$(free_port)
redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" \
    --enable-debug-command yes >/dev/null &
pids+=($!)
printf '[plugins]\nenabled = ["blocking", "migrate"]\n' > "$dir/respite.toml"
"$RESPITE_BIN" --config "$dir/respite.toml" --bind 127.0.0.1 --port "$sport" --db "$dir/data.db" >/dev/null 2>&1 &
pids+=($!)
for port in "$rport" "$sport"; do
    until redis-cli -p "$port" ping >/dev/null 2>&1; do sleep 0.1; done
done
src() { redis-cli -p "$rport" "$@" >/dev/null; }
field() { redis-cli -p "$sport" MIGRATION.STATUS "$1" | awk -v f="$2" 'prev==f {print; exit} {prev=$0}'; }
run=0
measure() { # name
    run=$((run + 1))
    local db=$((run % 14 + 1)) keys start end status bytes secs
    keys=$(redis-cli -p "$rport" DBSIZE)
    start=$(date +%s.%N)
    # shellcheck disable=SC2086
    redis-cli -p "$sport" -n "$db" MIGRATION.START FROM "redis://127.0.0.1:$rport" RUN-ID "bench$run" NO-TRACK $OPTS >/dev/null
    while :; do
        status=$(field "bench$run" status)
        [ "$status" = completed ] || [ "$status" = failed ] && break
        sleep 0.05
    done
    end=$(date +%s.%N)
    bytes=$(field "bench$run" migrated_bytes)
    secs=$(echo "$end - $start" | bc -l)
    printf '| %s | %d | %.2f | %.0f | %.1f | %s |\n' "$1" "$keys" "$secs" \
        "$(echo "$keys / $secs" | bc -l)" "$(echo "$bytes / $secs / 1000000" | bc -l)" "$status"
    src FLUSHALL
}
echo "| data set | keys | seconds | keys/s | MB/s (DUMP payloads) | status |"
echo "| --- | ---: | ---: | ---: | ---: | --- |"
src DEBUG POPULATE "$SMALL" small 16
measure "strings, 16 bytes"
# Random bytes: DUMP compresses DEBUG POPULATE's zero padding to nothing.
src EVAL "local t = {} for j = 1, 100000 do t[j] = string.char(math.random(0, 255)) end
local blob = table.concat(t)
for i = 1, tonumber(ARGV[1]) do redis.call('SET', 'large' .. i, blob) end" 0 "$LARGE"
measure "strings, 100 KB random"
src EVAL "for i=1,tonumber(ARGV[1]) do redis.call('HSET','h'..i,'a',i,'b','value-'..i,'c','x') end" 0 "$TYPED"
measure "hashes, 3 fields"
src EVAL "for i=1,tonumber(ARGV[1]) do redis.call('RPUSH','l'..i,'a','b',i) end" 0 "$TYPED"
measure "lists, 3 items"
src EVAL "for i=1,tonumber(ARGV[1]) do redis.call('SADD','s'..i,'a','b',i) end" 0 "$TYPED"
measure "sets, 3 members"
src EVAL "for i=1,tonumber(ARGV[1]) do redis.call('ZADD','z'..i,1,'a',2,'b',3,i) end" 0 "$TYPED"
measure "sorted sets, 3 members"
src EVAL "for i=1,tonumber(ARGV[1]) do redis.call('XADD','x'..i,'*','f',i) end" 0 "$((TYPED / 5))"
measure "streams, 1 entry (XRANGE path)"
src EVAL "for i=1,100 do for j=1,10000 do redis.call('HSET','big'..i,'f'..j,j) end end" 0
measure "hashes, 10,000 fields"

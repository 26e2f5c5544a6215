#!/usr/bin/env bash
# Streams at a million entries against a small one, respite and redis-server side by side:
# XADD, XRANGE / XREVRANGE of 100 from either end, and XREADGROUP of 10 new entries, on a
# stream of 1,000 entries and on one of 1,000,000; plus respite's RSS before and after the
# fill. Prints requests per second and the big/small ratio per server.
#
#   bench/streams.sh                 # 1,000,000 entries
#   ENTRIES=200000 bench/streams.sh
#   RESPITE_BIN=path bench/streams.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ENTRIES=${ENTRIES:-1000000}
REQUESTS=${REQUESTS:-100000}
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
redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" >/dev/null &
pids+=($!)
: > "$dir/respite.toml"
"$RESPITE_BIN" --config "$dir/respite.toml" --bind 127.0.0.1 --port "$sport" --db "$dir/data.db" >/dev/null 2>&1 &
spid=$!
pids+=($spid)
for port in "$rport" "$sport"; do
    until redis-cli -p "$port" ping >/dev/null 2>&1; do sleep 0.1; done
done
rss() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
rps() { redis-benchmark -p "$1" -c 50 -n "$2" -P 16 --csv "${@:3}" | tail -1 | cut -d, -f2 | tr -d '"'; }
rss_before=$(rss "$spid")
for port in "$rport" "$sport"; do
    redis-benchmark -p "$port" -c 50 -n "$ENTRIES" -P 64 -q XADD big '*' field value >/dev/null
    redis-benchmark -p "$port" -c 50 -n 1000 -P 16 -q XADD small '*' field value >/dev/null
    redis-cli -p "$port" XGROUP CREATE big g 0 >/dev/null
    redis-cli -p "$port" XGROUP CREATE small g 0 >/dev/null
done
rss_after=$(rss "$spid")
printf '| server | test | small stream rps | big stream rps | big/small |\n| --- | --- | ---: | ---: | ---: |\n'
for name in redis respite; do
    port=$rport; [ "$name" = respite ] && port=$sport
    for test in XADD XRANGE XREVRANGE XREADGROUP; do
        case $test in
            XADD) small=$(rps "$port" "$REQUESTS" XADD small '*' f v); big=$(rps "$port" "$REQUESTS" XADD big '*' f v) ;;
            XRANGE) small=$(rps "$port" "$REQUESTS" XRANGE small - + COUNT 100); big=$(rps "$port" "$REQUESTS" XRANGE big - + COUNT 100) ;;
            XREVRANGE) small=$(rps "$port" "$REQUESTS" XREVRANGE small + - COUNT 100); big=$(rps "$port" "$REQUESTS" XREVRANGE big + - COUNT 100) ;;
            # The small stream's group runs dry after its entries: read as many as it has.
            XREADGROUP) small=$(rps "$port" 100 XREADGROUP GROUP g c COUNT 10 STREAMS small '>'); big=$(rps "$port" 50000 XREADGROUP GROUP g c COUNT 10 STREAMS big '>') ;;
        esac
        ratio=$(python3 -c "print(f'{float($big)/float($small):.2f}')")
        printf '| %s | %s | %s | %s | %s |\n' "$name" "$test" "$small" "$big" "$ratio"
    done
done
echo
echo "respite RSS: ${rss_before} kB before the fill, ${rss_after} kB after $ENTRIES entries, $(rss "$spid") kB at the end"

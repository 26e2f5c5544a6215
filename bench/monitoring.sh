#!/usr/bin/env bash
# Does a monitor polling INFO cost a write load?
#
# Random SETs over a small key set (which respite's row writer coalesces in its window, so
# that each key is written to SQLite about once per merge), once alone and once with `INFO`
# every half second beside them: respite's throughput, the CPU of its executor and row writer
# threads, and how many rows it wrote. A count that applied the row queue (DBSIZE and INFO
# used to) turns the window off for a second and writes every SET's row.
#
#   bench/monitoring.sh                  # 5,000 keys, 1,500,000 SETs at -P 16
#   KEYS=50000 POLL=0.2 bench/monitoring.sh
#   RESPITE_BIN=path bench/monitoring.sh
set -euo pipefail

KEYS=${KEYS:-5000}
REQUESTS=${REQUESTS:-1500000}
POLL=${POLL:-0.5}

root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh" monitoring
need_tools redis-cli redis-benchmark
respite_release

# CPU ticks (1/100 s) of the respite process's threads whose name starts with $2.
ticks() {
    local total=0 t
    for t in /proc/"$1"/task/*; do
        if [[ $(cat "$t/comm") == "$2"* ]]; then
            total=$((total + $(awk '{ print $14 + $15 }' "$t/stat")))
        fi
    done
    echo "$total"
}

echo "respite, SETs over $KEYS keys (-c 50 -P 16, $REQUESTS), INFO every ${POLL}s or not"
echo "| INFO polled | rps | executor ticks | row writer ticks | rows written | rows coalesced |"
echo "| --- | ---: | ---: | ---: | ---: | ---: |"
for polled in no yes; do
    port=$(free_port)
    rm -f "$WORK"/respite.db*
    "$RESPITE_BIN" --port "$port" --db "$WORK/respite.db" >/dev/null 2>"$WORK/respite.log" &
    pid=$!
    PIDS+=("$pid")
    wait_ping "$port"
    redis-benchmark -p "$port" -t set -P 16 -n 100000 -r "$KEYS" -q >/dev/null 2>&1
    io=$(ticks "$pid" respite-io)
    rows=$(ticks "$pid" respite-rows)
    redis-benchmark -p "$port" -c 50 -t set -P 16 -n "$REQUESTS" -r "$KEYS" -q \
        >"$WORK/out" 2>&1 &
    load=$!
    if [ "$polled" = yes ]; then
        while kill -0 "$load" 2>/dev/null; do
            redis-cli -p "$port" INFO >/dev/null
            sleep "$POLL"
        done
    fi
    wait "$load"
    rps=$(tr '\r' '\n' <"$WORK/out" | awk '/requests per second/ { for (i = 1; i <= NF; i++) if ($(i+1) == "requests") r = $i } END { print r }')
    info=$(redis-cli -p "$port" INFO persistence | tr -d '\r')
    field() { sed -n "s/^$1://p" <<<"$info"; }
    written=$(($(field respite_rows_applied_background) + $(field respite_rows_applied_inline)))
    echo "| $polled | $rps | $(($(ticks "$pid" respite-io) - io)) | $(($(ticks "$pid" respite-rows) - rows)) | $written | $(field respite_rows_coalesced) |"
    redis-cli -p "$port" SHUTDOWN NOSAVE >/dev/null 2>&1 || true
    wait "$pid" 2>/dev/null || true
done

#!/usr/bin/env bash
# What 10,000 blocked clients cost the commands that do not concern them, and how close to
# its deadline a blocking command times out; respite and redis-server side by side.
#
#   bench/blocking.sh              # defaults below
#   bench/blocking.sh -n 500000    # more requests per run
#
# For each server: redis-benchmark LPUSH and RPUSH (keys nobody waits on) with no client
# blocked, then with 10,000 clients parked in BLPOP blk:<i> 0 on 10,000 distinct keys
# (bench/blocking.py park), the servers taking turns for -R rounds; the table shows the
# medians and the ratio parked/idle of requests per second and of server CPU time. Then
# bench/blocking.py lateness runs 400 BLPOPs with a 50 ms timeout (20 at a time) and prints
# how late they returned (p50, p99, max, in ms).
#
# Options (or the environment variables in brackets):
#   -n N      requests per redis-benchmark run [REQUESTS, default 200000]
#   -c N      redis-benchmark clients [CLIENTS, default 50]
#   -P N      pipeline depth [PIPELINE, default 16]
#   -R N      rounds [ROUNDS, default 3]
#   -b N      clients to park [PARKED, default 10000]
#   RESPITE_BIN=path   benchmark this binary instead of building target/release/respite
set -euo pipefail

REQUESTS=${REQUESTS:-200000}
CLIENTS=${CLIENTS:-50}
PIPELINE=${PIPELINE:-16}
ROUNDS=${ROUNDS:-3}
PARKED=${PARKED:-10000}

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }
while getopts "n:c:P:R:b:h" opt; do
    case "$opt" in
        n) REQUESTS=$OPTARG ;;
        c) CLIENTS=$OPTARG ;;
        P) PIPELINE=$OPTARG ;;
        R) ROUNDS=$OPTARG ;;
        b) PARKED=$OPTARG ;;
        h) usage; exit 0 ;;
        *) usage >&2; exit 2 ;;
    esac
done

for tool in redis-server redis-benchmark redis-cli python3 cargo; do
    command -v "$tool" >/dev/null 2>&1 || { echo "blocking.sh: $tool is missing" >&2; exit 1; }
done
# Each server, and each parking process, holds one socket per parked client.
NEED=$((PARKED + 1000))
HARD=$(ulimit -Hn)
if [ "$HARD" != unlimited ] && [ "$HARD" -lt "$NEED" ]; then
    echo "blocking.sh: ulimit -Hn is $HARD, $NEED file descriptors are needed" >&2
    exit 1
fi
ulimit -n "$NEED"

cd "$(dirname "$0")/.."
if [ -z "${RESPITE_BIN:-}" ]; then
    cargo build --release --quiet
    RESPITE_BIN=target/release/respite
fi

# shellcheck source=bench/lib.sh
source bench/lib.sh blocking

REDIS_PORT=$(free_port)
redis-server --save '' --appendonly no --bind 127.0.0.1 --port "$REDIS_PORT" \
    --maxclients "$((PARKED + 1000))" --dir "$WORK" --logfile "$WORK/redis.log" --daemonize no &
REDIS_PID=$!
PIDS+=("$REDIS_PID")
RESPITE_PORT=$(free_port)
printf '[server]\nmaxclients = %d\n' "$((PARKED + 1000))" >"$WORK/respite.toml"
"$RESPITE_BIN" --config "$WORK/respite.toml" --bind 127.0.0.1 --port "$RESPITE_PORT" \
    --db "$WORK/respite.db" 2>"$WORK/respite.log" &
RESPITE_PID=$!
PIDS+=("$RESPITE_PID")
wait_ping "$REDIS_PORT"
wait_ping "$RESPITE_PORT"

cpu_ms() {
    awk -v hz="$(getconf CLK_TCK)" '{ printf "%d\n", ($14 + $15) * 1000 / hz }' "/proc/$1/stat"
}

# Appends "server<TAB>state<TAB>test<TAB>rps<TAB>cpu_ms" lines to $WORK/runs.
run() {
    local name=$1 port=$2 pid=$3 state=$4 test before after out
    for test in LPUSH RPUSH; do
        before=$(cpu_ms "$pid")
        out=$(redis-benchmark -h 127.0.0.1 -p "$port" -c "$CLIENTS" -n "$REQUESTS" \
            -P "$PIPELINE" -t "$test" --csv | tail -n 1)
        after=$(cpu_ms "$pid")
        printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$state" "$test" \
            "$(echo "$out" | cut -d, -f2 | tr -d '"')" "$((after - before))" >>"$WORK/runs"
    done
}

rounds() {
    local state=$1 r
    for r in $(seq "$ROUNDS"); do
        run redis "$REDIS_PORT" "$REDIS_PID" "$state"
        run respite "$RESPITE_PORT" "$RESPITE_PID" "$state"
    done
}

echo "blocking.sh: $ROUNDS rounds with no client blocked" >&2
rounds idle
for port in "$REDIS_PORT" "$RESPITE_PORT"; do
    python3 bench/blocking.py park "$port" "$PARKED" "$WORK/ready.$port" &
    PIDS+=($!)
done
for port in "$REDIS_PORT" "$RESPITE_PORT"; do
    for _ in $(seq 1200); do [ -f "$WORK/ready.$port" ] && break; sleep 0.1; done
    [ -f "$WORK/ready.$port" ] || { echo "blocking.sh: parking on $port did not finish" >&2; exit 1; }
done
echo "blocking.sh: $ROUNDS rounds with $PARKED clients blocked" >&2
rounds parked
echo "blocking.sh: timeout lateness" >&2
REDIS_LATE=$(python3 bench/blocking.py lateness "$REDIS_PORT" 400 0.05)
RESPITE_LATE=$(python3 bench/blocking.py lateness "$RESPITE_PORT" 400 0.05)

echo
echo "| server | test | idle rps | parked rps | parked/idle rps | idle CPU ms | parked CPU ms | parked/idle CPU |"
echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"
python3 - "$WORK/runs" <<'PY'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    name, state, test, rps, cpu = line.rstrip("\n").split("\t")
    runs.setdefault((name, test, state), []).append((float(rps), float(cpu)))
for name in ("redis", "respite"):
    for test in ("LPUSH", "RPUSH"):
        idle = runs[(name, test, "idle")]
        parked = runs[(name, test, "parked")]
        ir = statistics.median(r for r, _ in idle)
        pr = statistics.median(r for r, _ in parked)
        ic = statistics.median(c for _, c in idle)
        pc = statistics.median(c for _, c in parked)
        print(f"| {name} | {test} | {ir:.0f} | {pr:.0f} | {pr / ir:.2f} | {ic:.0f} | {pc:.0f} | {pc / max(ic, 1):.2f} |")
PY
echo
echo "Timeout lateness, 400 BLPOPs with a 50 ms timeout (p50 / p99 / max ms late):"
echo "- redis-server: $(echo "$REDIS_LATE" | awk '{ print $1 " / " $2 " / " $3 }')"
echo "- respite: $(echo "$RESPITE_LATE" | awk '{ print $1 " / " $2 " / " $3 }')"

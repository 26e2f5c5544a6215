#!/usr/bin/env bash
# Runs redis-benchmark against redis-server and a release build of respite, side by side in
# the same run, and prints a markdown table of requests per second and of the CPU time each
# server spent on them.
#
#   bench/compare.sh                 # defaults below
#   bench/compare.sh -n 1000000      # more requests per test
#   TESTS=SET,GET bench/compare.sh   # a subset of the tests
#   TESTS=PUBLISH1,PUBLISH100,MULTI10 bench/compare.sh -P 1
#
# Besides redis-benchmark's own tests: PUBLISH1 and PUBLISH100 run `PUBLISH ch hello` with 1 or
# 100 `redis-cli SUBSCRIBE ch` readers attached; MULTI10 runs MULTI, ten INCRs and EXEC per
# request with bench/multi_exec.rs (rps = transactions per second; it ignores -P). EVALSHA
# and FCALL run a small Lua script (an INCR through redis.call) loaded beforehand with SCRIPT
# LOAD and FUNCTION LOAD.
#
# Options (or the environment variables in brackets):
#   -n N          requests per test and pipeline setting [REQUESTS, default 100000]
#   -c N          parallel clients [CLIENTS, default 50]
#   -P "1 16"     pipeline depths to run, space-separated [PIPELINES, default "1 16"]
#   -t LIST       redis-benchmark tests, comma-separated [TESTS, default below]; names
#                 redis-benchmark lacks (HGET, HINCRBY) run the commands in CUSTOM below
#   -R N          rounds, the servers taking turns; medians are shown [ROUNDS, default 3]
#   -r N          random keyspace size (-r of redis-benchmark: keys, fields and members drawn
#                 from N) [KEYSPACE, default 100000]; -r 0 is one hot key, redis-benchmark's
#                 own default, which hides the cost of writes to many distinct keys
#   RESPITE_BIN=path   benchmark this respite binary instead of building target/release/respite
#   RESPITE_CONFIG=text   respite's config file, e.g. $'[storage]\ndurability = "write-behind"'
#   REDIS_ARGS="..."  more redis-server arguments, e.g. "--appendonly yes --appendfsync always"
#                 to compare with Redis's own durable mode (respite: synchronous = "full")
#
# Both servers run on ephemeral loopback ports; redis-server without persistence, respite
# with its SQLite file in a temporary directory. Both are killed on exit.
set -euo pipefail

# The commands respite implements so far; later issues append to this list.
TESTS=${TESTS:-PING_INLINE,PING_MBULK,SET,GET,INCR,MSET,HSET,HGET,HINCRBY,LPUSH,RPUSH,LPOP,RPOP,LRANGE_100,SADD,SPOP,ZADD,ZPOPMIN,PUBLISH1,PUBLISH100,MULTI10,EVALSHA,FCALL}

# The Lua code EVALSHA and FCALL run, loaded into both servers before the tests.
BENCH_SCRIPT="return redis.call('INCR', KEYS[1])"
BENCH_SHA=$(printf '%s' "$BENCH_SCRIPT" | sha1sum | cut -d' ' -f1)
BENCH_LIBRARY="#!lua name=respite_bench
redis.register_function('bench_incr', function(keys) return redis.call('INCR', keys[1]) end)"

# Tests redis-benchmark has no name for, as the command each one runs. With -r, HGET's
# __rand_int__ picks among the fields the HSET test wrote (whose values are not numbers, so
# HINCRBY counts in a hash of its own).
declare -A CUSTOM=(
    [HGET]="HGET myhash element:__rand_int__"
    [HINCRBY]="HINCRBY counters field:__rand_int__ 1"
    [EVALSHA]="EVALSHA $BENCH_SHA 1 counter:__rand_int__"
    [FCALL]="FCALL bench_incr 1 counter:__rand_int__"
    [SETBIT]="SETBIT bits:__rand_int__ 77 1"
    [BITCOUNT]="BITCOUNT bits:__rand_int__"
    [PFADD]="PFADD hll element:__rand_int__"
    [PFCOUNT]="PFCOUNT hll"
)
REQUESTS=${REQUESTS:-100000}
CLIENTS=${CLIENTS:-50}
PIPELINES=${PIPELINES:-"1 16"}
KEYSPACE=${KEYSPACE:-100000}
ROUNDS=${ROUNDS:-3}

# The comment block at the top of this file.
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }

while getopts "n:c:P:t:r:R:h" opt; do
    case "$opt" in
        n) REQUESTS=$OPTARG ;;
        c) CLIENTS=$OPTARG ;;
        P) PIPELINES=$OPTARG ;;
        t) TESTS=$OPTARG ;;
        r) KEYSPACE=$OPTARG ;;
        R) ROUNDS=$OPTARG ;;
        h) usage; exit 0 ;;
        *) usage >&2; exit 2 ;;
    esac
done

for tool in redis-server redis-benchmark redis-cli cargo; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "compare.sh: $tool is missing (apt-get install redis-server redis-tools, or bash .ci/run)" >&2
        exit 1
    fi
done

cd "$(dirname "$0")/.."
ROOT=$(pwd)

WORK=$(mktemp -d "${TMPDIR:-/tmp}/respite-bench.XXXXXX")
REDIS_PID=""
RESPITE_PID=""
SUBSCRIBER_PIDS=()

stop_subscribers() {
    local pid
    for pid in "${SUBSCRIBER_PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${SUBSCRIBER_PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    SUBSCRIBER_PIDS=()
}

cleanup() {
    local pid
    stop_subscribers
    for pid in "$REDIS_PID" "$RESPITE_PID"; do
        if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
            kill "$pid" 2>/dev/null || true
            # Give it a moment to stop gracefully, then insist.
            for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            kill -9 "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        fi
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log() { echo "compare.sh: $*" >&2; }

# A loopback port nobody listens on right now (redis-server cannot pick one itself).
free_port() {
    local port
    for _ in $(seq 100); do
        port=$((20000 + RANDOM % 40000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return 0
        fi
    done
    return 1
}

start_redis() {
    local port
    for _ in $(seq 10); do
        port=$(free_port)
        # shellcheck disable=SC2086 # REDIS_ARGS is a list of arguments
        redis-server --save '' --appendonly no --bind 127.0.0.1 --port "$port" \
            --dir "$WORK" --logfile "$WORK/redis.log" --daemonize no ${REDIS_ARGS:-} &
        REDIS_PID=$!
        for _ in $(seq 100); do
            if redis-cli -h 127.0.0.1 -p "$port" PING >/dev/null 2>&1; then
                REDIS_PORT=$port
                return 0
            fi
            kill -0 "$REDIS_PID" 2>/dev/null || break
            sleep 0.05
        done
        # Lost a race for the port, or failed: try another one.
        kill "$REDIS_PID" 2>/dev/null || true
        wait "$REDIS_PID" 2>/dev/null || true
        REDIS_PID=""
    done
    log "redis-server did not start; its log:"
    cat "$WORK/redis.log" >&2 || true
    return 1
}

start_respite() {
    printf '%s\n' "${RESPITE_CONFIG:-}" >"$WORK/respite.toml"
    "$RESPITE_BIN" --config "$WORK/respite.toml" --bind 127.0.0.1 --port 0 \
        --db "$WORK/respite.db" 2>"$WORK/respite.log" &
    RESPITE_PID=$!
    for _ in $(seq 600); do
        RESPITE_PORT=$(sed -n 's/.*Ready to accept connections on 127\.0\.0\.1:\([0-9]\{1,5\}\).*/\1/p' \
            "$WORK/respite.log" | head -n 1)
        if [ -n "$RESPITE_PORT" ]; then
            return 0
        fi
        if ! kill -0 "$RESPITE_PID" 2>/dev/null; then
            break
        fi
        sleep 0.05
    done
    log "respite did not become ready; its log:"
    cat "$WORK/respite.log" >&2
    return 1
}

# CPU time (user + system, in milliseconds) the process has used so far.
cpu_ms() {
    awk -v hz="$(getconf CLK_TCK)" '{ printf "%d\n", ($14 + $15) * 1000 / hz }' "/proc/$1/stat"
}

# Waits (at most 10 s) until the server's CPU time stops growing: the work a test leaves
# behind (respite's row writer and merge after a write test) is charged to that test, and
# does not slow the next one (GET -P 16 right after SET ran up to a third slower). Respite's
# row writer leaves a window of rows waiting for the next merge (up to a second away) with
# no CPU spent meanwhile: on a server that reports queued rows, those are waited for first
# (at most 10 s), or the next test paid for the last merge of this one's rows.
settle() {
    local pid=$1 port=$2 last now queued
    for _ in $(seq 200); do
        queued=$(redis-cli -h 127.0.0.1 -p "$port" INFO persistence | tr -d '\r' |
            awk -F: '$1 == "respite_rows_queued" { print $2 }')
        [ -z "$queued" ] || [ "$queued" = 0 ] && break
        sleep 0.05
    done
    last=$(cpu_ms "$pid")
    for _ in $(seq 50); do
        sleep 0.2
        now=$(cpu_ms "$pid")
        # One clock tick (10 ms) in 200 ms is an idle server's cron.
        [ "$now" -le "$((last + 10))" ] && return 0
        last=$now
    done
}

# Prints "TEST<TAB>RPS<TAB>CPU_MS" lines for one server and one pipeline depth: throughput, and
# the CPU the server spent on the test's requests, the work they left behind included. CPU
# per request is the steadier figure on shared machines, where throughput swings with the
# neighbours' load.
bench() {
    local port=$1 pid=$2 pipeline=$3 out before after test
    local random=()
    if [ "$KEYSPACE" != 0 ]; then
        random=(-r "$KEYSPACE")
    fi
    for test in ${TESTS//,/ }; do
        case "$test" in
            PUBLISH*)
                # N subscribers reading into /dev/null; wait until all are subscribed.
                local subs=${test#PUBLISH} i
                for i in $(seq "$subs"); do
                    redis-cli -h 127.0.0.1 -p "$port" SUBSCRIBE ch >/dev/null 2>&1 &
                    SUBSCRIBER_PIDS+=($!)
                done
                for _ in $(seq 200); do
                    [ "$(redis-cli -h 127.0.0.1 -p "$port" PUBSUB NUMSUB ch | tail -n 1)" = "$subs" ] && break
                    sleep 0.05
                done
                before=$(cpu_ms "$pid")
                out=$(redis-benchmark -h 127.0.0.1 -p "$port" -c "$CLIENTS" -n "$REQUESTS" \
                    -P "$pipeline" --csv PUBLISH ch hello | sed "s/\"PUBLISH ch hello\"/\"$test\"/")
                settle "$pid" "$port"
                after=$(cpu_ms "$pid")
                stop_subscribers
                ;;
            MULTI10)
                before=$(cpu_ms "$pid")
                out=$(printf '"test","rps"\n"MULTI10","%s"\n' \
                    "$("$MULTI_BIN" "127.0.0.1:$port" "$CLIENTS" "$((REQUESTS / 10))")")
                settle "$pid" "$port"
                after=$(cpu_ms "$pid")
                ;;
            *)
                local what=(-t "$test")
                if [ -n "${CUSTOM[$test]:-}" ]; then
                    read -r -a what <<<"${CUSTOM[$test]}"
                fi
                before=$(cpu_ms "$pid")
                out=$(redis-benchmark -h 127.0.0.1 -p "$port" -c "$CLIENTS" -n "$REQUESTS" \
                    "${random[@]}" -P "$pipeline" --csv "${what[@]}")
                settle "$pid" "$port"
                after=$(cpu_ms "$pid")
                ;;
        esac
        # "test","rps",...: skip the header, keep the first two columns. Names like
        # "MSET (10 keys)" keep their first word. (--csv comes before a custom command, whose
        # words are the rest of the line.)
        printf '%s\n' "$out" | tr -d '\r' | awk -F'","' -v cpu=$((after - before)) 'NR > 1 && NF >= 2 {
            gsub(/"/, "", $1); gsub(/"/, "", $2); split($1, name, " "); print name[1] "\t" $2 "\t" cpu }'
    done
}

if [ -z "${RESPITE_BIN:-}" ]; then
    log "building respite (release)"
    cargo build --release --quiet
    RESPITE_BIN=$ROOT/target/release/respite
fi
if [[ ",$TESTS," == *,MULTI10,* ]]; then
    cargo build --release --quiet --example multi_exec_bench
    MULTI_BIN=$ROOT/target/release/examples/multi_exec_bench
fi

start_redis
start_respite
log "redis-server on port $REDIS_PORT (pid $REDIS_PID), respite on port $RESPITE_PORT (pid $RESPITE_PID)"
for port in "$REDIS_PORT" "$RESPITE_PORT"; do
    if [ "$(redis-cli -h 127.0.0.1 -p "$port" SCRIPT LOAD "$BENCH_SCRIPT")" != "$BENCH_SHA" ] ||
        [ "$(redis-cli -h 127.0.0.1 -p "$port" FUNCTION LOAD REPLACE "$BENCH_LIBRARY")" != "respite_bench" ]; then
        log "cannot load the benchmark's Lua script and function on port $port"
        exit 1
    fi
done

declare -A REDIS_RPS RESPITE_RPS REDIS_CPU RESPITE_CPU SEEN
ROWS=()
add_row() {
    if [ -z "${SEEN["$1"]:-}" ]; then
        SEEN["$1"]=1
        ROWS+=("$1")
    fi
}
# The machines are shared and noisy: the two servers take turns, ROUNDS times, and the table
# shows each one's median, so a burst of load elsewhere hits both alike.
# Runs one server's tests and appends its figures to the arrays named by $1 (rps) and $2 (CPU).
record() {
    local -n rps_of=$1 cpu_of=$2
    local port=$3 pid=$4 pipeline=$5 test rps cpu
    while IFS=$'\t' read -r test rps cpu; do
        rps_of["$test/$pipeline"]+="$rps "
        cpu_of["$test/$pipeline"]+="$cpu "
        add_row "$test/$pipeline"
    done < <(bench "$port" "$pid" "$pipeline")
}
for round in $(seq "$ROUNDS"); do
    for pipeline in $PIPELINES; do
        log "round $round, pipeline $pipeline: redis-server"
        record REDIS_RPS REDIS_CPU "$REDIS_PORT" "$REDIS_PID" "$pipeline"
        log "round $round, pipeline $pipeline: respite"
        record RESPITE_RPS RESPITE_CPU "$RESPITE_PORT" "$RESPITE_PID" "$pipeline"
    done
done

# Median of space-separated numbers (empty when there are none).
median() {
    printf '%s\n' $1 | sort -g | awk '{ v[NR] = $1 } END {
        if (NR == 0) exit; if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

if ! kill -0 "$RESPITE_PID" 2>/dev/null; then
    log "respite died during the run; its log:"
    cat "$WORK/respite.log" >&2
    exit 1
fi

echo
echo "redis-benchmark -c $CLIENTS -n $REQUESTS$([ "$KEYSPACE" != 0 ] && echo " -r $KEYSPACE"), median of $ROUNDS rounds, $(nproc) cores," \
    "$(redis-server --version | awk '{print $3}' | tr -d 'v='), respite $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
echo
echo "| test | pipeline | redis rps | respite rps | respite/redis rps | redis CPU ms | respite CPU ms | respite/redis CPU |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "n/a"; else printf "%.2f", a / b }'
}
for row in "${ROWS[@]}"; do
    test=${row%/*}
    pipeline=${row##*/}
    redis=$(median "${REDIS_RPS["$row"]:-}")
    respite=$(median "${RESPITE_RPS["$row"]:-}")
    redis_cpu=$(median "${REDIS_CPU["$row"]:-}")
    respite_cpu=$(median "${RESPITE_CPU["$row"]:-}")
    echo "| $test | $pipeline | ${redis:-n/a} | ${respite:-n/a} | $(ratio "$respite" "$redis") |" \
        "${redis_cpu:-n/a} | ${respite_cpu:-n/a} | $(ratio "$respite_cpu" "$redis_cpu") |"
done

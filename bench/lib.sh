# Shared by the bench scripts: `source bench/lib.sh NAME` makes a work directory ($WORK),
# kills the processes whose pids are added to PIDS on exit, and gives need_tools, free_port
# and wait_ping. NAME labels the work directory and the error messages.
BENCH_NAME=${1:-bench}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/respite-bench-$BENCH_NAME.XXXXXX")
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Exits unless every tool named is on the PATH.
need_tools() {
    local tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null 2>&1 || {
            echo "$BENCH_NAME.sh: $tool not found (apt-get install redis-server redis-tools)" >&2
            exit 1
        }
    done
}

# A loopback port nothing listens on.
free_port() {
    local port
    for _ in $(seq 100); do
        port=$((20000 + RANDOM % 40000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "$port"; return 0; fi
    done
    return 1
}

# Waits until a server answers PING on port $1 (30 s at most).
wait_ping() {
    for _ in $(seq 600); do
        redis-cli -p "$1" PING >/dev/null 2>&1 && return 0
        sleep 0.05
    done
    echo "$BENCH_NAME.sh: server on port $1 did not start" >&2
    return 1
}

# Requests per second of one `redis-benchmark -q` run with random keys: port, test,
# pipeline, then more redis-benchmark options; uses $REQUESTS and $CLIENTS.
quick_rps() {
    local port=$1 test=$2 pipeline=$3
    shift 3
    redis-benchmark -p "$port" -t "$test" -n "$REQUESTS" -c "$CLIENTS" -P "$pipeline" \
        -r 100000 -q "$@" 2>/dev/null | tr -d '\r' | awk -F'[: ]+' '/requests per second/ {
            for (i = 1; i <= NF; i++) if ($(i + 1) == "requests") { print $i; exit } }'
}

# The median of the numbers on standard input, one a line.
median_of() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

# Sets RESPITE_BIN to a release build of respite, building it first, unless it is set already
# (a binary to measure instead).
respite_release() {
    if [[ -z "${RESPITE_BIN:-}" ]]; then
        local root
        root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
        (cd "$root" && cargo build --release --quiet --bin respite)
        RESPITE_BIN="$root/target/release/respite"
    fi
}

# Starts `redis` (redis-server without persistence) or `respite` ($RESPITE_BIN on
# $WORK/respite.db) on a free loopback port, its log in $WORK/NAME.log; the other arguments
# go to the server. Once it answers PING, SERVER_PORT and SERVER_PID say where it is (the pid
# is also in PIDS, so it is stopped on exit).
start_server() {
    local name=$1
    shift
    SERVER_PORT=$(free_port)
    case $name in
        redis) redis-server --bind 127.0.0.1 --port "$SERVER_PORT" --save '' --appendonly no \
            --dir "$WORK" --daemonize no "$@" >"$WORK/redis.log" 2>&1 & ;;
        respite) "$RESPITE_BIN" --bind 127.0.0.1 --port "$SERVER_PORT" --db "$WORK/respite.db" \
            "$@" >"$WORK/respite.log" 2>&1 & ;;
        *) echo "$BENCH_NAME.sh: unknown server $name" >&2; return 1 ;;
    esac
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
    wait_ping "$SERVER_PORT" || { tail -5 "$WORK/$name.log" >&2; return 1; }
}

# Stops the server start_server started last, and waits for it to exit.
stop_server() {
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
}

# A value of $1 bytes that changes at every write: redis-benchmark puts a random number in
# place of __rand_int__. Its own -d values never change, and SQLite leaves a page that an
# UPDATE would change to the same bytes untouched, which made respite's figure about twice
# what changing values get.
changing_value() {
    local filler=$(($1 > 12 ? $1 - 12 : 0))
    echo "__rand_int__$(head -c "$filler" /dev/zero | tr '\0' v)"
}

# Reads redis-benchmark's output (without -q) and prints "rps p50 p99 max" (ms).
latency_summary() {
    tr '\r' '\n' | awk '
        /throughput summary/ { rps = $3 }
        /latency summary/ { getline; getline; p50 = $3; p99 = $5; max = $6 }
        END { print rps, p50, p99, max }'
}

# Starts redis-server (no persistence) and respite (with the config file $1) side by side,
# each on a free port of its own, and waits for both: sets RPORT and SPORT.
start_both() {
    RPORT=$(free_port)
    redis-server --port "$RPORT" --save '' --appendonly no --dir "$WORK" >/dev/null &
    PIDS+=($!)
    SPORT=$(free_port)
    "$RESPITE_BIN" --config "$1" --port "$SPORT" --db "$WORK/respite.db" \
        >/dev/null 2>"$WORK/respite.log" &
    PIDS+=($!)
    wait_ping "$RPORT"
    wait_ping "$SPORT"
}

# Shared by the bench scripts: `source bench/lib.sh NAME` makes a work directory ($WORK),
# kills the processes whose pids are added to PIDS on exit, and gives free_port and
# wait_ping. NAME labels the work directory and the error messages.
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

#!/usr/bin/env bash
# SYNC.SET end to end: from the writer's send to each subscriber's receipt of the envelope,
# with 1 and 100 subscribers, over the in-process transport (writer and subscribers on one
# server) and over NATS (writer on server A, subscribers on server B, a local nats-server
# between them). Prints a markdown table: latency p50/p99 of one write at a time, and
# SYNC.SETs and deliveries per second of a pipelined stream of writes.
#
#   bench/sync.sh              # defaults below
#   bench/sync.sh -n 20000     # more writes per phase
#
# Options (or the environment variables in brackets):
#   -n N      writes per phase [WRITES, default 5000]
#   RESPITE_BIN=path   benchmark this binary instead of building target/release/respite
set -euo pipefail

WRITES=${WRITES:-5000}
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }
while getopts "n:h" opt; do
    case "$opt" in
        n) WRITES=$OPTARG ;;
        h) usage; exit 0 ;;
        *) usage >&2; exit 2 ;;
    esac
done

for tool in nats-server redis-cli cargo; do
    command -v "$tool" >/dev/null 2>&1 || { echo "sync.sh: $tool is missing" >&2; exit 1; }
done

cd "$(dirname "$0")/.."
if [ -z "${RESPITE_BIN:-}" ]; then
    cargo build --release --quiet --bin respite
    RESPITE_BIN=target/release/respite
fi
cargo build --release --quiet --example sync_bench
BENCH=target/release/examples/sync_bench

# shellcheck source=bench/lib.sh
source bench/lib.sh sync

NATS_PORT=$(free_port)
nats-server -a 127.0.0.1 -p "$NATS_PORT" >"$WORK/nats.log" 2>&1 &
PIDS+=($!)

# start_respite NAME TRANSPORT: starts a server (in this shell, so that cleanup stops it)
# and sets PORT to its port.
start_respite() {
    local name=$1 transport=$2
    PORT=$(free_port)
    printf '[plugins]\nenabled = ["sync"]\n[plugins.sync]\ntransport = "%s"\nnats_url = "nats://127.0.0.1:%s"\n' \
        "$transport" "$NATS_PORT" >"$WORK/$name.toml"
    "$RESPITE_BIN" --config "$WORK/$name.toml" --bind 127.0.0.1 --port "$PORT" \
        --db "$WORK/$name.db" >"$WORK/$name.log" 2>&1 &
    PIDS+=($!)
    wait_ping "$PORT"
}

start_respite local in-process
LOCAL=$PORT
start_respite a nats
A=$PORT
start_respite b nats
B=$PORT

echo "| transport | subscribers | latency p50 (µs) | latency p99 (µs) | SYNC.SET/s | deliveries/s |"
echo "|---|---:|---:|---:|---:|---:|"
for subs in 1 100; do
    read -r p50 p99 sets deliveries < <("$BENCH" "127.0.0.1:$LOCAL" "127.0.0.1:$LOCAL" "$subs" "$WRITES")
    echo "| in-process | $subs | $p50 | $p99 | $sets | $deliveries |"
    read -r p50 p99 sets deliveries < <("$BENCH" "127.0.0.1:$A" "127.0.0.1:$B" "$subs" "$WRITES")
    echo "| nats (A -> B) | $subs | $p50 | $p99 | $sets | $deliveries |"
done

#!/usr/bin/env bash
# GEOADD and GEOSEARCH on a sorted set of a million points, redis-server and a release build
# of respite side by side in the same run.
#
# Loads the same random points into both (GEOADD of 1000 points per call, one call at a time,
# timed), then runs redis-benchmark GEOSEARCH with a small and a large radius and prints the
# requests per second and the respite/redis ratio. A search reads only the score ranges of the
# cells around its centre, so its cost follows the points it finds, not the set's size.
#
#   bench/geo.sh                  # 1,000,000 points, -n 20000 -c 10
# Options (environment): POINTS [1000000], REQUESTS [20000], CLIENTS [10],
#   RESPITE_BIN=path   benchmark this respite binary instead of building target/release/respite
set -euo pipefail

POINTS=${POINTS:-1000000}
REQUESTS=${REQUESTS:-20000}
CLIENTS=${CLIENTS:-10}

root=$(cd "$(dirname "$0")/.." && pwd)
for tool in redis-server redis-cli redis-benchmark python3; do
    command -v "$tool" >/dev/null || { echo "$tool not found" >&2; exit 1; }
done
if [[ -z "${RESPITE_BIN:-}" ]]; then
    (cd "$root" && cargo build --release --quiet)
    RESPITE_BIN="$root/target/release/respite"
fi

work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

python3 - "$POINTS" >"$work/load.txt" <<'PY'
import random, sys
random.seed(1)
n = int(sys.argv[1])
for c in range(0, n, 1000):
    parts = ['GEOADD', 'geo']
    for j in range(c, min(n, c + 1000)):
        parts += ['%.6f' % random.uniform(-180, 180), '%.6f' % random.uniform(-85, 85), 'm%d' % j]
    print(' '.join(parts))
PY

declare -A port
for server in redis respite; do
    port[$server]=$(free_port)
    if [[ $server == redis ]]; then
        redis-server --port "${port[$server]}" --save '' --appendonly no >"$work/redis.log" 2>&1 &
    else
        "$RESPITE_BIN" --port "${port[$server]}" --db "$work/respite.db" >"$work/respite.log" 2>&1 &
    fi
    pids+=($!)
    until redis-cli -p "${port[$server]}" ping >/dev/null 2>&1; do sleep 0.1; done
done

declare -A result
for server in redis respite; do
    start=$(date +%s.%N)
    redis-cli -p "${port[$server]}" <"$work/load.txt" >/dev/null
    end=$(date +%s.%N)
    result[$server,load]=$(python3 -c "print(round($POINTS / ($end - $start)))")
    for radius in 100 1000; do
        rps=$(redis-benchmark -p "${port[$server]}" -n "$REQUESTS" -c "$CLIENTS" --csv \
            GEOSEARCH geo FROMLONLAT 15 37 BYRADIUS "$radius" km ASC | tail -1 | cut -d, -f2 | tr -d '"')
        result[$server,$radius]=$rps
    done
    found=$(redis-cli -p "${port[$server]}" geosearch geo fromlonlat 15 37 byradius 1000 km | wc -l)
    echo "$server: $found points within 1000 km" >&2
done

ratio() { python3 -c "print(f'{$2 / $1:.2f}')"; }
echo "| operation | redis | respite | respite/redis |"
echo "| --- | ---: | ---: | ---: |"
echo "| GEOADD points/s (1000 per call, $POINTS points) | ${result[redis,load]} | ${result[respite,load]} | $(ratio "${result[redis,load]}" "${result[respite,load]}") |"
for radius in 100 1000; do
    echo "| GEOSEARCH BYRADIUS $radius km ASC rps | ${result[redis,$radius]} | ${result[respite,$radius]} | $(ratio "${result[redis,$radius]}" "${result[respite,$radius]}") |"
done

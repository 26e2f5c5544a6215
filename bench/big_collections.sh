#!/usr/bin/env bash
# Does a collection of a million elements cost more per operation than a small one?
#
# For redis-server and a release build of respite, side by side in the same run: fills a list,
# a set and a sorted set of about a million elements each (random members, as redis-benchmark
# makes them), then runs the same redis-benchmark command once against the big key and once
# against a fresh key, and prints requests per second and the big/fresh ratio of each server.
# A fresh key grows while its add test runs (up to -n elements; past the inline encoding after
# 128 adds), and the read and pop tests after it use it, so the ratio isolates the size. LRANGE
# compares with a 100-item list.
#
#   bench/big_collections.sh             # -n 50000, pipelines 1 and 16
#   bench/big_collections.sh -n 100000 -P 16
#
# Options (or the environment variables in brackets):
#   -n N          requests per test [REQUESTS, default 50000]
#   -c N          parallel clients [CLIENTS, default 50]
#   -P "1 16"     pipeline depths [PIPELINES, default "1 16"]
#   -e N          elements in each big collection [ELEMENTS, default 1000000]
#   SETTLE=s      seconds to wait after the fill and after each round's clean-up [default 20]
#   RESPITE_BIN=path   benchmark this respite binary instead of building target/release/respite
set -euo pipefail

REQUESTS=${REQUESTS:-50000}
CLIENTS=${CLIENTS:-50}
PIPELINES=${PIPELINES:-"1 16"}
ELEMENTS=${ELEMENTS:-1000000}

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }
while getopts "n:c:P:e:h" opt; do
    case "$opt" in
        n) REQUESTS=$OPTARG ;;
        c) CLIENTS=$OPTARG ;;
        P) PIPELINES=$OPTARG ;;
        e) ELEMENTS=$OPTARG ;;
        h) usage; exit 0 ;;
        *) usage >&2; exit 2 ;;
    esac
done

root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh" big_collections
need_tools redis-server redis-cli redis-benchmark
respite_release

# The fill: RESP commands of 1000 elements each, members "element:<12 digits>" as
# redis-benchmark's __rand_int__ makes them, so later random adds mostly add.
awk -v n="$ELEMENTS" 'BEGIN {
    srand(7)
    batch = 1000
    for (kind = 0; kind < 3; kind++) {
        for (done = 0; done < n; done += batch) {
            if (kind == 0) { printf "*%d\r\n$5\r\nRPUSH\r\n$7\r\nbiglist\r\n", batch + 2 }
            if (kind == 1) { printf "*%d\r\n$4\r\nSADD\r\n$6\r\nbigset\r\n", batch + 2 }
            if (kind == 2) { printf "*%d\r\n$4\r\nZADD\r\n$7\r\nbigzset\r\n", 2 * batch + 2 }
            for (i = 0; i < batch; i++) {
                m = sprintf("element:%012d", int(rand() * 100000000))
                if (kind == 2) { s = sprintf("%d", int(rand() * 100000000)); printf "$%d\r\n%s\r\n", length(s), s }
                printf "$%d\r\n%s\r\n", length(m), m
            }
        }
    }
}' > "$WORK/fill.resp"

# name: command on the big key | command on a fresh (or small) key. In this order: the adds
# fill the fresh keys that the reads and pops after them use.
TESTS=(
    "LPUSH|LPUSH biglist element:__rand_int__|LPUSH freshlist element:__rand_int__"
    "RPOP|RPOP biglist|RPOP freshlist"
    "LRANGE 0 99|LRANGE biglist 0 99|LRANGE smalllist 0 99"
    "SADD|SADD bigset element:__rand_int__|SADD freshset element:__rand_int__"
    "SISMEMBER|SISMEMBER bigset element:__rand_int__|SISMEMBER freshset element:__rand_int__"
    "ZADD|ZADD bigzset __rand_int__ element:__rand_int__|ZADD freshzset __rand_int__ element:__rand_int__"
    "ZSCORE|ZSCORE bigzset element:__rand_int__|ZSCORE freshzset element:__rand_int__"
    "ZRANGE 0 9|ZRANGE bigzset 0 9|ZRANGE freshzset 0 9"
    "ZPOPMIN|ZPOPMIN bigzset|ZPOPMIN freshzset"
)

rps() { # port pipeline command...
    local port=$1 p=$2; shift 2
    redis-benchmark -p "$port" -c "$CLIENTS" -n "$REQUESTS" -P "$p" -r 100000000 -q "$@" 2>/dev/null |
        tr '\r' '\n' | awk '/requests per second/ { for (i = 1; i <= NF; i++) if ($(i+1) == "requests") { print $i; exit } }'
}

declare -A result
for server in redis respite; do
    start_server "$server"
    port=$SERVER_PORT
    redis-cli -p "$port" --pipe <"$WORK/fill.resp" >/dev/null
    redis-cli -p "$port" rpush smalllist $(seq 100) >/dev/null
    # Respite's background checkpointer is still copying the fill's WAL (a few hundred MB of
    # random pages) into the file; measured during that, the first tests would pay for it.
    sleep "${SETTLE:-20}"
    echo "$server: filled, $(redis-cli -p "$port" llen biglist) / $(redis-cli -p "$port" scard bigset) / $(redis-cli -p "$port" zcard bigzset) elements" >&2
    for p in $PIPELINES; do
        redis-cli -p "$port" del freshlist freshset freshzset >/dev/null
        # Deleting the previous round's 50k-element keys leaves a WAL to copy, too.
        sleep "${SETTLE:-20}"
        for t in "${TESTS[@]}"; do
            IFS='|' read -r name big fresh <<<"$t"
            # shellcheck disable=SC2086
            result[$server,$p,$name,fresh]=$(rps "$port" "$p" $fresh)
            # shellcheck disable=SC2086
            result[$server,$p,$name,big]=$(rps "$port" "$p" $big)
        done
    done
    stop_server
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
echo
echo "redis-benchmark -c $CLIENTS -n $REQUESTS, $ELEMENTS-element collections, $(redis-server --version | awk '{print $3}')"
echo
echo "| operation | -P | redis fresh | redis big | redis big/fresh | respite fresh | respite big | respite big/fresh |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
for p in $PIPELINES; do
    for t in "${TESTS[@]}"; do
        IFS='|' read -r name _ _ <<<"$t"
        rf=${result[redis,$p,$name,fresh]:-0} rb=${result[redis,$p,$name,big]:-0}
        sf=${result[respite,$p,$name,fresh]:-0} sb=${result[respite,$p,$name,big]:-0}
        echo "| $name | $p | $rf | $rb | $(ratio "$rb" "$rf") | $sf | $sb | $(ratio "$sb" "$sf") |"
    done
done

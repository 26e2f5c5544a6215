#!/usr/bin/env bash
# SPOP and SRANDMEMBER on a large set, every pop a real one.
#
# compare.sh's SPOP test pops `myset` after its SADD test has put about 95,000 members in
# it, so two thirds of its 300,000 SPOPs find the set empty and measure nothing but the
# command's overhead. Here, for redis-server and a release build of respite in turn: SADD
# of N random members (`element:__rand_int__`, -r 100000), SETTLE seconds, then
# SRANDMEMBER myset (REQUESTS of them) and SPOP myset (POPS, fewer than the members); per
# test the requests per second, the server's CPU time in ms, and respite/redis.
#
#   bench/random_picks.sh
#   bench/random_picks.sh -P 1
#
# Options (or the environment variables in brackets):
#   -P n          pipeline [PIPELINE, default 16]
#   -n N          SADDs of the fill [FILL, default 300000]
#   REQUESTS=n    SRANDMEMBERs [default 100000]; POPS=n SPOPs [default 80000]
#   SETTLE=s      seconds between the fill and the tests [default 2]
#   RESPITE_BIN=path   benchmark this respite binary instead of building target/release/respite
set -euo pipefail

PIPELINE=${PIPELINE:-16}
FILL=${FILL:-300000}
REQUESTS=${REQUESTS:-100000}
POPS=${POPS:-80000}
while getopts "P:n:h" opt; do
    case "$opt" in
        P) PIPELINE=$OPTARG ;;
        n) FILL=$OPTARG ;;
        h) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
        *) exit 2 ;;
    esac
done

root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh" random_picks
need_tools redis-server redis-benchmark redis-cli
respite_release

ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)

# One test: name, requests, then the command; prints "rps cpu_ms".
run_test() {
    local n=$1 before after rps
    shift
    before=$(ticks "$SERVER_PID")
    rps=$(redis-benchmark -p "$SERVER_PORT" -c 50 -n "$n" -P "$PIPELINE" --csv "$@" 2>/dev/null |
        tail -1 | cut -d, -f2 | tr -d '"')
    after=$(ticks "$SERVER_PID")
    echo "$rps $(((after - before) * 1000 / hz))"
}

declare -A result
for server in redis respite; do
    start_server "$server"
    redis-benchmark -p "$SERVER_PORT" -c 50 -n "$FILL" -P 16 -r 100000 -t sadd -q >/dev/null 2>&1
    members=$(redis-cli -p "$SERVER_PORT" SCARD myset)
    sleep "${SETTLE:-2}"
    result[$server:srandmember]=$(run_test "$REQUESTS" srandmember myset)
    result[$server:spop]=$(run_test "$POPS" spop myset)
    left=$(redis-cli -p "$SERVER_PORT" SCARD myset)
    echo "$server: $members members, $left after the pops"
    stop_server
done

echo
echo "| test | pipeline | redis rps | respite rps | respite/redis | redis CPU ms | respite CPU ms |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
for t in srandmember spop; do
    read -r rr rc <<<"${result[redis:$t]}"
    read -r sr sc <<<"${result[respite:$t]}"
    ratio=$(awk -v a="$sr" -v b="$rr" 'BEGIN { printf "%.2f", a / b }')
    echo "| ${t^^} | $PIPELINE | $rr | $sr | $ratio | $rc | $sc |"
done

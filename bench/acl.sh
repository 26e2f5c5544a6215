#!/usr/bin/env bash
# The cost of ACL checks: GET and SET with redis-benchmark as the `default` user (allowed
# everything: the check is skipped) and as a restricted user among ten (commands, keys and
# channels checked on every command), against redis-server and a release build of respite
# with the same users, in the same run. Prints a markdown table of requests per second.
#
#   bench/acl.sh                       # -n 200000 -c 50, pipelines 1 and 16, 3 rounds
#   REQUESTS=500000 ROUNDS=5 bench/acl.sh
#   RESPITE_BIN=path bench/acl.sh      # another respite binary
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
source "$ROOT/bench/lib.sh" acl

REQUESTS=${REQUESTS:-200000}
CLIENTS=${CLIENTS:-50}
PIPELINES=${PIPELINES:-"1 16"}
ROUNDS=${ROUNDS:-3}
if [ -z "${RESPITE_BIN:-}" ]; then
    (cd "$ROOT" && cargo build --release -q -p respite)
    RESPITE_BIN=$ROOT/target/release/respite
fi

# Ten users; `bench` may run the data commands on keys under key: and nothing else.
USERS=()
for i in $(seq 1 9); do
    USERS+=("user u$i on >pw$i ~app$i:* &app$i:* -@all +@read +@write -@dangerous")
done
USERS+=("user bench on >pw ~key:* resetchannels -@all +@read +@write +@connection -@dangerous")

redis_port=$(free_port)
redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no \
    --dir "$WORK" >/dev/null 2>&1 &
PIDS+=($!)
printf '%s\n' "${USERS[@]}" > "$WORK/users.acl"
respite_port=$(free_port)
printf '[redis]\naclfile = "%s"\n' "$WORK/users.acl" > "$WORK/respite.toml"
"$RESPITE_BIN" --config "$WORK/respite.toml" --bind 127.0.0.1 --port "$respite_port" \
    --db "$WORK/respite.db" >/dev/null 2>&1 &
PIDS+=($!)
wait_ping "$redis_port"
wait_ping "$respite_port"
for u in "${USERS[@]}"; do
    # shellcheck disable=SC2086
    redis-cli -p "$redis_port" ACL SETUSER ${u#user } >/dev/null
done


echo "| test | pipeline | user | redis rps | respite rps | respite/redis |"
echo "| --- | ---: | --- | ---: | ---: | ---: |"
for test in get set; do
    for p in $PIPELINES; do
        for who in default bench; do
            auth=()
            [ "$who" = bench ] && auth=(--user bench -a pw)
            r=(); s=()
            for _ in $(seq "$ROUNDS"); do
                r+=("$(quick_rps "$redis_port" "$test" "$p" "${auth[@]}")")
                s+=("$(quick_rps "$respite_port" "$test" "$p" "${auth[@]}")")
            done
            rm=$(printf '%s\n' "${r[@]}" | median_of)
            sm=$(printf '%s\n' "${s[@]}" | median_of)
            ratio=$(awk -v a="$sm" -v b="$rm" 'BEGIN { printf "%.2f", a / b }')
            echo "| ${test^^} | $p | $who | $rm | $sm | $ratio |"
        done
    done
done

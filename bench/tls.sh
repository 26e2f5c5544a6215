#!/usr/bin/env bash
# The cost of TLS: GET and SET with redis-benchmark over plain TCP and over TLS, against
# redis-server and a release build of respite with the same certificate, in the same run.
# Prints a markdown table of requests per second and the ratios.
#
#   bench/tls.sh                       # -n 200000 -c 50, pipelines 1 and 16, 3 rounds
#   REQUESTS=500000 ROUNDS=5 bench/tls.sh
#   RESPITE_BIN=path bench/tls.sh      # another respite binary
#
# Needs openssl (to make a CA and a server certificate) and redis-server / redis-benchmark
# built with TLS (Debian's are).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
source "$ROOT/bench/lib.sh" tls

REQUESTS=${REQUESTS:-200000}
CLIENTS=${CLIENTS:-50}
PIPELINES=${PIPELINES:-"1 16"}
ROUNDS=${ROUNDS:-3}
if [ -z "${RESPITE_BIN:-}" ]; then
    (cd "$ROOT" && cargo build --release -q -p respite)
    RESPITE_BIN=$ROOT/target/release/respite
fi

# A CA and a server certificate for 127.0.0.1; clients are not asked for certificates.
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=bench CA" \
    -keyout "$WORK/ca.key" -out "$WORK/ca.crt" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
    -keyout "$WORK/server.key" -out "$WORK/server.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\n' > "$WORK/san.ext"
openssl x509 -req -in "$WORK/server.csr" -CA "$WORK/ca.crt" -CAkey "$WORK/ca.key" \
    -CAcreateserial -days 2 -extfile "$WORK/san.ext" -out "$WORK/server.crt" 2>/dev/null

redis_port=$(free_port)
redis_tls=$(free_port)
redis-server --port "$redis_port" --tls-port "$redis_tls" --bind 127.0.0.1 --save '' \
    --appendonly no --dir "$WORK" --tls-cert-file "$WORK/server.crt" \
    --tls-key-file "$WORK/server.key" --tls-ca-cert-file "$WORK/ca.crt" \
    --tls-auth-clients no >/dev/null 2>&1 &
PIDS+=($!)
respite_port=$(free_port)
respite_tls=$(free_port)
cat > "$WORK/respite.toml" <<TOML
[tls]
port = $respite_tls
cert_file = "$WORK/server.crt"
key_file = "$WORK/server.key"
ca_cert_file = "$WORK/ca.crt"
auth_clients = "no"
TOML
"$RESPITE_BIN" --config "$WORK/respite.toml" --bind 127.0.0.1 --port "$respite_port" \
    --db "$WORK/respite.db" >/dev/null 2>&1 &
PIDS+=($!)
wait_ping "$redis_port"
wait_ping "$respite_port"


echo "| test | pipeline | transport | redis rps | respite rps | respite/redis |"
echo "| --- | ---: | --- | ---: | ---: | ---: |"
for test in get set; do
    for p in $PIPELINES; do
        for how in plain tls; do
            r=(); s=()
            for _ in $(seq "$ROUNDS"); do
                if [ "$how" = tls ]; then
                    r+=("$(quick_rps "$redis_tls" "$test" "$p" --tls --cacert "$WORK/ca.crt")")
                    s+=("$(quick_rps "$respite_tls" "$test" "$p" --tls --cacert "$WORK/ca.crt")")
                else
                    r+=("$(quick_rps "$redis_port" "$test" "$p")")
                    s+=("$(quick_rps "$respite_port" "$test" "$p")")
                fi
            done
            rm=$(printf '%s\n' "${r[@]}" | median_of)
            sm=$(printf '%s\n' "${s[@]}" | median_of)
            ratio=$(awk -v a="$sm" -v b="$rm" 'BEGIN { printf "%.2f", a / b }')
            echo "| ${test^^} | $p | $how | $rm | $sm | $ratio |"
        done
    done
done

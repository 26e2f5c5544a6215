#!/usr/bin/env bash
# SETBIT, GETBIT and BITCOUNT on a 64 MB bitmap, redis-server and a release build of respite
# side by side in the same run (issue 19: long strings are kept in chunks of 960 bytes, so a
# SETBIT reads and writes one chunk, not the whole value).
#
# Fills a 64 MB string with random bytes on both servers (SETRANGE of 1 MB at a time), then
# times, with a small client (below): SETBIT and GETBIT at random offsets of the whole bitmap
# (pipeline 1 and 16), BITCOUNT of a 1 KB range and of the whole string, and SET of another key
# while the bitmap exists. Prints requests per second and the respite/redis ratio.
#
#   bench/bits.sh
# Options (environment): REQUESTS [20000], CLIENTS [10], WHOLE [50] (whole-string BITCOUNTs),
#   RESPITE_BIN=path   benchmark this respite binary instead of building target/release/respite
set -euo pipefail

REQUESTS=${REQUESTS:-20000}
CLIENTS=${CLIENTS:-10}
WHOLE=${WHOLE:-50}
MB=64

root=$(cd "$(dirname "$0")/.." && pwd)
for tool in redis-server redis-cli python3; do
    command -v "$tool" >/dev/null || { echo "$tool not found" >&2; exit 1; }
done
if [[ -z "${RESPITE_BIN:-}" ]]; then
    (cd "$root" && cargo build --release --quiet)
    RESPITE_BIN="$root/target/release/respite"
fi
# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh" bits

head -c $((1024 * 1024)) /dev/urandom >"$WORK/piece"

declare -A port
for server in redis respite; do
    port[$server]=$(free_port)
    if [[ $server == redis ]]; then
        redis-server --port "${port[$server]}" --save '' --appendonly no \
            >"$WORK/redis.log" 2>&1 &
    else
        "$RESPITE_BIN" --port "${port[$server]}" --db "$WORK/respite.db" \
            >"$WORK/respite.log" 2>&1 &
    fi
    PIDS+=($!)
    wait_ping "${port[$server]}"
    for i in $(seq 0 $((MB - 1))); do
        redis-cli -p "${port[$server]}" -x SETRANGE big $((i * 1024 * 1024)) \
            <"$WORK/piece" >/dev/null
    done
    len=$(redis-cli -p "${port[$server]}" STRLEN big)
    [[ $len == $((MB * 1024 * 1024)) ]] || { echo "$server: STRLEN big = $len" >&2; exit 1; }
done

# redis-benchmark writes __rand_int__ with leading zeros, which SETBIT refuses as an offset
# (in Redis as here), so a small client drives the commands: CLIENTS connections, each
# sending N/CLIENTS commands PIPELINE at a time, random offsets from a fixed seed.
cat >"$WORK/drive.py" <<'PY'
import random, socket, sys, threading, time
port, n, clients, pipeline, template = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5:]
bits = 64 * 8 * 1024 * 1024
def encode(args):
    out = b'*%d\r\n' % len(args)
    for a in args:
        a = a.encode()
        out += b'$%d\r\n%s\r\n' % (len(a), a)
    return out
def replies(sock, buf, count):
    # Counts `count` replies (integers, simple strings, bulk strings, errors are fatal).
    while count:
        while b'\r\n' not in buf:
            buf += sock.recv(65536)
        line, buf = buf.split(b'\r\n', 1)
        if line[:1] == b'-':
            sys.exit('error reply: %r' % line)
        if line[:1] == b'$' and int(line[1:]) >= 0:
            need = int(line[1:]) + 2
            while len(buf) < need:
                buf += sock.recv(65536)
            buf = buf[need:]
        count -= 1
    return buf
def client(seed, count):
    rng = random.Random(seed)
    sock = socket.create_connection(('127.0.0.1', port))
    buf = b''
    while count > 0:
        k = min(pipeline, count)
        batch = b''.join(encode([rng.randrange(bits).__str__() if a == 'RAND' else a for a in template]) for _ in range(k))
        sock.sendall(batch)
        buf = replies(sock, buf, k)
        count -= k
start = time.time()
threads = [threading.Thread(target=client, args=(i, n // clients)) for i in range(clients)]
for t in threads: t.start()
for t in threads: t.join()
print(round(n // clients * clients / (time.time() - start)))
PY

declare -A result
names=()
run() {
    local name=$1 n=$2 pipeline=$3
    shift 3
    names+=("$name|$pipeline")
    for server in redis respite; do
        result[$server,$name,$pipeline]=$(python3 "$WORK/drive.py" "${port[$server]}" "$n" \
            "$CLIENTS" "$pipeline" "$@")
    done
}
for p in 1 16; do
    run "SETBIT big <random bit> 1" "$REQUESTS" "$p" SETBIT big RAND 1
    run "GETBIT big <random bit>" "$REQUESTS" "$p" GETBIT big RAND
    run "BITCOUNT big (1 KB range)" "$REQUESTS" "$p" BITCOUNT big 33554432 33555455
done
run "BITCOUNT big (64 MB)" "$WHOLE" 1 BITCOUNT big
run "SET other key (bitmap present)" "$REQUESTS" 1 SET other x

for server in redis respite; do
    echo "$server: BITCOUNT big = $(redis-cli -p "${port[$server]}" BITCOUNT big)" >&2
done
echo "| command | pipeline | redis rps | respite rps | respite/redis |"
echo "| --- | ---: | ---: | ---: | ---: |"
for entry in "${names[@]}"; do
    name=${entry%|*}
    p=${entry#*|}
    r=${result[redis,$name,$p]}
    s=${result[respite,$name,$p]}
    echo "| $name | $p | $r | $s | $(awk -v a="$r" -v b="$s" 'BEGIN { printf "%.2f", b / a }') |"
done

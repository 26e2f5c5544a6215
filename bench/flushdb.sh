#!/usr/bin/env bash
# Does FLUSHDB of a big database stall the other clients while other databases hold keys?
#
# For redis-server and a release build of respite, side by side in the same run: fills db 0
# with N string keys and db 1 with 1000, then runs FLUSHDB on db 0 from one client while
# another sends PING after PING, and prints the FLUSHDB reply's time, the slowest PING during
# the flush and the lazy free that follows it, and how long until lazyfree_pending_objects is 0.
#
#   bench/flushdb.sh                 # 1,000,000 keys
#   bench/flushdb.sh -k 200000
#
# Options (or the environment variables in brackets):
#   -k N          keys in db 0 [KEYS, default 1000000]
#   -a            FLUSHDB ASYNC instead of FLUSHDB [ASYNC=1]
#   SETTLE=s      seconds to wait after the fill [default 20]
#   RESPITE_BIN=path   benchmark this respite binary instead of building target/release/respite
set -euo pipefail

KEYS=${KEYS:-1000000}
ASYNC=${ASYNC:-}
while getopts "k:ah" opt; do
    case "$opt" in
        k) KEYS=$OPTARG ;;
        a) ASYNC=1 ;;
        h) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
        *) exit 2 ;;
    esac
done

root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh" flushdb
respite_release

# MSETs of 1000 keys each: db 0's keys, then db 1's.
awk -v n="$KEYS" 'BEGIN {
    for (done = 0; done < n; done += 1000) {
        printf "*2001\r\n$4\r\nMSET\r\n"
        for (i = done; i < done + 1000; i++) { k = sprintf("key:%012d", i); printf "$16\r\n%s\r\n$16\r\nvalue:%010d\r\n", k, i }
    }
    printf "*2\r\n$6\r\nSELECT\r\n$1\r\n1\r\n*2001\r\n$4\r\nMSET\r\n"
    for (i = 0; i < 1000; i++) { k = sprintf("key:%012d", i); printf "$16\r\n%s\r\n$16\r\nvalue:%010d\r\n", k, i }
}' >"$WORK/fill.resp"

# Port, then the FLUSHDB arguments: one line of results.
measure() {
    python3 - "$@" <<'PY'
import socket, sys, threading, time
port, args = int(sys.argv[1]), sys.argv[2:]
def conn():
    s = socket.create_connection(("127.0.0.1", port)); s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1); return s
def call(s, *words):
    s.sendall(b"".join([b"*%d\r\n" % len(words)] + [b"$%d\r\n%s\r\n" % (len(w), w.encode()) for w in words]))
    data = b""
    while True:
        data += s.recv(1 << 16)
        if data.startswith((b"+", b"-", b":")) and data.endswith(b"\r\n"): return data
        if data.startswith(b"$") and data.count(b"\r\n") >= 2 and len(data) >= data.index(b"\r\n") + 2 + int(data[1:data.index(b"\r\n")]) + 2: return data
def pending(s):
    info = call(s, "INFO", "memory").decode()
    return int(info.split("lazyfree_pending_objects:")[1].split("\r\n")[0])
pinger, flusher = conn(), conn()
stop, worst, count = False, [0.0], [0]
def ping():
    while not stop:
        t = time.perf_counter(); call(pinger, "PING"); d = time.perf_counter() - t
        worst[0] = max(worst[0], d); count[0] += 1
th = threading.Thread(target=ping); th.start()
time.sleep(0.2)
t0 = time.perf_counter()
reply = call(flusher, "FLUSHDB", *args)
flush_ms = (time.perf_counter() - t0) * 1000
while pending(flusher) > 0: time.sleep(0.05)
free_s = time.perf_counter() - t0
stop = True; th.join()
call(flusher, "SELECT", "1"); db1 = call(flusher, "DBSIZE").decode().strip()
print(f"FLUSHDB {flush_ms:.1f} ms ({reply.decode().strip()}), slowest PING {worst[0]*1000:.1f} ms of {count[0]}, freed in {free_s:.1f} s, db1 {db1[1:]} keys")
PY
}

for server in redis respite; do
    start_server "$server"
    port=$SERVER_PORT
    redis-cli -p "$port" --pipe <"$WORK/fill.resp" >/dev/null
    sleep "${SETTLE:-20}"
    echo "$server: db0 $(redis-cli -p "$port" dbsize) keys; $(measure "$port" ${ASYNC:+ASYNC})"
    stop_server
done
